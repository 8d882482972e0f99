//! The knowledge base's local search index and its limits
//! (docs/knowledge.md).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Invalid;

/// Where each replica keeps its search index and how it follows the
/// database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KnowledgeSettings {
    /// Directory of this replica's search index (created if missing;
    /// rebuilt from the database when missing, broken or behind). Local
    /// disk: each replica has its own.
    pub index_dir: PathBuf,
    /// How often the index looks for articles published, revised or
    /// retired (on any replica) since it last looked.
    pub follow_interval_ms: u64,
    /// The most suggestions SuggestArticles returns (larger `k` is
    /// coerced down).
    pub suggest_limit: u32,
}

impl Default for KnowledgeSettings {
    /// Beside the default SQLite file; a second's delay before a
    /// publication is searchable everywhere, which agents will not notice;
    /// ten suggestions, more than an agent reads during a call.
    fn default() -> Self {
        Self {
            index_dir: PathBuf::from("data/knowledge-index"),
            follow_interval_ms: 1000,
            suggest_limit: 10,
        }
    }
}

impl KnowledgeSettings {
    pub(super) fn check(&self) -> Result<(), Invalid> {
        if self.index_dir.as_os_str().is_empty() {
            return Err(Invalid::new("knowledge.index_dir", "must not be empty"));
        }
        if !(50..=3_600_000).contains(&self.follow_interval_ms) {
            return Err(Invalid::new(
                "knowledge.follow_interval_ms",
                "must be between 50 and 3600000",
            ));
        }
        if !(1..=50).contains(&self.suggest_limit) {
            return Err(Invalid::new(
                "knowledge.suggest_limit",
                "must be between 1 and 50",
            ));
        }
        Ok(())
    }
}
