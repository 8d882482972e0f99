//! The index: open or rebuild, write, commit with a stamp, search.
//!
//! On disk it lives in the `tantivy` subdirectory of the directory it is
//! given, which it owns entirely: an unreadable or other-version index there
//! is wiped and rebuilt from the caller's articles, never a reason not to
//! start. The commit payload carries the schema version and the caller's
//! stamp, atomically with the documents; the caller decides whether an
//! index committed with a stamp is kept (and brought up to date by the
//! caller, as a follower would) or rebuilt.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError, RwLock},
};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, TantivyError, Term};

use crate::{
    IndexedArticle,
    query::Tuning,
    schema::{self, Fields, SCHEMA_VERSION},
    tokenizer,
};

/// Subdirectory of the caller's directory holding the tantivy files.
const INDEX_SUBDIR: &str = "tantivy";

/// Indexing memory per writer thread (tantivy's minimum is 15 MB).
const WRITER_BYTES_PER_THREAD: usize = 32_000_000;

/// What a commit records besides the documents.
#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    schema: u32,
    stamp: String,
}

/// The knowledge base's search index; cheap to clone (one shared index, one
/// writer behind a lock, searches in parallel on the last commit).
#[derive(Clone)]
pub struct KnowledgeIndex {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    index: Index,
    pub(crate) fields: Fields,
    pub(crate) reader: IndexReader,
    writer: Mutex<IndexWriter<TantivyDocument>>,
    stamp: RwLock<Option<String>>,
    pub(crate) tuning: Tuning,
    /// Where the files are; `None` in memory.
    path: Option<PathBuf>,
}

impl std::fmt::Debug for KnowledgeIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnowledgeIndex")
            .field("path", &self.inner.path)
            .field("stamp", &self.stamp())
            .finish_non_exhaustive()
    }
}

/// Why an index was built from every article rather than kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rebuild {
    /// There was none.
    Missing,
    /// Its files could not be read.
    Broken,
    /// It has other fields, analysis or schema version.
    OtherSchema,
    /// The caller would not keep its stamp (none, ahead of the source, or
    /// of another source).
    Stale,
    /// Another process holds the directory: built in memory, theirs left
    /// alone.
    HeldElsewhere,
    /// The directory cannot be written: built in memory.
    Unwritable,
}

impl Rebuild {
    /// Every reason, for metrics registered up front.
    pub const ALL: [Self; 6] = [
        Self::Missing,
        Self::Broken,
        Self::OtherSchema,
        Self::Stale,
        Self::HeldElsewhere,
        Self::Unwritable,
    ];

    /// A stable name (a metric label, a log field).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Broken => "broken",
            Self::OtherSchema => "other_schema",
            Self::Stale => "stale",
            Self::HeldElsewhere => "held_elsewhere",
            Self::Unwritable => "unwritable",
        }
    }
}

/// How [`KnowledgeIndex::open_or_rebuild`] came by its index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// The index on disk, as committed with this stamp: the caller brings
    /// it up to date.
    Kept(String),
    /// Built from every article, for this reason.
    Rebuilt(Rebuild),
}

/// Why there is no index to reuse in the directory.
enum Unusable {
    /// Nothing there yet.
    Missing,
    /// An index of another schema (fields or analysis changed).
    OtherSchema,
    /// Held by another writer (another process or instance on the same
    /// directory): a configuration error, never a reason to wipe it.
    Busy(TantivyError),
    /// Anything else: broken files, unreadable directory.
    Broken(anyhow::Error),
}

/// A lock failure is [`Unusable::Busy`], any other error
/// [`Unusable::Broken`].
fn unusable(error: anyhow::Error) -> Unusable {
    match error.downcast::<TantivyError>() {
        Ok(e @ TantivyError::LockFailure(..)) => Unusable::Busy(e),
        Ok(e) => Unusable::Broken(e.into()),
        Err(e) => Unusable::Broken(e),
    }
}

impl KnowledgeIndex {
    /// Opens the index in `dir` and keeps it if it was committed with a
    /// stamp `keep` accepts (the caller then applies what changed after
    /// it); if it is missing, unreadable, of another schema or schema
    /// version, or `keep` refuses its stamp, rebuilds it from `all()` and
    /// commits it with `stamp`. A directory that cannot be written at all
    /// leaves an in-memory index (logged as an error): search keeps working
    /// until the directory is fixed. So does a directory another process
    /// holds (a second replica given the same directory): that process's
    /// index is left alone, never wiped, and this one searches from memory
    /// (logged as a warning).
    pub fn open_or_rebuild(
        dir: &Path,
        stamp: &str,
        keep: impl FnOnce(&str) -> bool,
        all: impl FnOnce() -> anyhow::Result<Vec<IndexedArticle>>,
    ) -> anyhow::Result<(Self, Opened)> {
        let path = dir.join(INDEX_SUBDIR);
        let shown = path.display();
        let (reusable, mut why) = match Self::open_existing(&path) {
            Ok(index) => match index.stamp() {
                Some(had) if keep(&had) => return Ok((index, Opened::Kept(had))),
                had => {
                    tracing::info!(path = %shown, ?had, want = stamp, "knowledge index stale or of another version, rebuilding it");
                    (Some(index), Rebuild::Stale)
                }
            },
            Err(Unusable::Busy(e)) => {
                tracing::warn!(path = %shown, error = %format!("{e:#}"), "knowledge index held by another process (a second replica with the same directory?); searching from memory");
                (None, Rebuild::HeldElsewhere)
            }
            Err(Unusable::Missing) => {
                tracing::info!(path = %shown, "knowledge index missing, building it");
                (None, Rebuild::Missing)
            }
            Err(Unusable::OtherSchema) => {
                tracing::info!(path = %shown, "knowledge index of another schema, rebuilding it");
                (None, Rebuild::OtherSchema)
            }
            Err(Unusable::Broken(e)) => {
                tracing::warn!(path = %shown, error = %format!("{e:#}"), "knowledge index unreadable, rebuilding it");
                (None, Rebuild::Broken)
            }
        };
        let articles = all().context("reading the articles to index")?;
        let index = match reusable {
            Some(index) => {
                index.writer().delete_all_documents()?;
                index
            }
            None if why == Rebuild::HeldElsewhere => {
                Self::from_index(Index::create_in_ram(schema::build().0), None)?
            }
            None => match Self::rebuild_in(&path) {
                Ok(index) => index,
                Err(e) => {
                    tracing::error!(path = %shown, error = %format!("{e:#}"), "cannot write the knowledge index; searching from memory");
                    why = Rebuild::Unwritable;
                    Self::from_index(Index::create_in_ram(schema::build().0), None)?
                }
            },
        };
        index.add_all(&articles)?;
        index.commit(stamp)?;
        Ok((index, Opened::Rebuilt(why)))
    }

    /// An index in memory holding `articles` (committed, with no stamp):
    /// tests, the benchmark, and the fallback of an unwritable directory.
    pub fn open_in_memory(articles: Vec<IndexedArticle>) -> anyhow::Result<Self> {
        let (schema, _) = schema::build();
        let index = Self::from_index(Index::create_in_ram(schema), None)?;
        index.add_all(&articles)?;
        index.commit_payload(None)?;
        Ok(index)
    }

    /// The index in `path` with its writer (so nobody else holds it), and
    /// the stamp of its payload when that is of this schema version.
    fn open_existing(path: &Path) -> Result<Self, Unusable> {
        if !path.join("meta.json").exists() {
            return Err(Unusable::Missing);
        }
        let opened = Index::open_in_dir(path).map_err(|e| Unusable::Broken(e.into()))?;
        if opened.schema() != schema::build().0 {
            // Only wiped if nobody writes it.
            let probe = opened.writer_with_num_threads::<TantivyDocument>(1, 15_000_000);
            return Err(probe.map_or_else(|e| unusable(e.into()), |_| Unusable::OtherSchema));
        }
        let payload = opened
            .load_metas()
            .map_err(|e| Unusable::Broken(e.into()))?
            .payload
            .and_then(|p| serde_json::from_str::<Payload>(&p).ok());
        // Taking the writer first: an index another process holds is
        // reported busy, whatever its version, and never wiped.
        let index = Self::from_index(opened, Some(path.to_owned())).map_err(unusable)?;
        // Bytes changed under the index (a failing disk, a partial copy)
        // can leave every file openable: each file's footer carries a
        // checksum of it, checked here once at start by reading the files
        // whole (a fraction of a second at 100 k articles).
        let damaged = index
            .tantivy()
            .validate_checksum()
            .map_err(|e| Unusable::Broken(e.into()))?;
        if !damaged.is_empty() {
            let mut files: Vec<_> = damaged.iter().map(|p| p.display().to_string()).collect();
            files.sort();
            return Err(Unusable::Broken(anyhow::anyhow!(
                "files failing their checksum: {}",
                files.join(", ")
            )));
        }
        if payload.as_ref().is_some_and(|p| p.schema != SCHEMA_VERSION) {
            return Err(Unusable::OtherSchema);
        }
        *index
            .inner
            .stamp
            .write()
            .unwrap_or_else(PoisonError::into_inner) = payload.map(|p| p.stamp);
        Ok(index)
    }

    /// Wipes `path` (ours alone) and creates an empty index there.
    fn rebuild_in(path: &Path) -> anyhow::Result<Self> {
        if path.is_dir() {
            std::fs::remove_dir_all(path).context("removing the old index")?;
        } else if path.exists() {
            std::fs::remove_file(path).context("removing a file in the index's place")?;
        }
        std::fs::create_dir_all(path).context("creating the index directory")?;
        let (schema, _) = schema::build();
        let index = Index::create_in_dir(path, schema).context("creating the index")?;
        Self::from_index(index, Some(path.to_owned()))
    }

    fn from_index(index: Index, path: Option<PathBuf>) -> anyhow::Result<Self> {
        index
            .tokenizers()
            .register(tokenizer::WORDS, tokenizer::words_analyzer());
        index
            .tokenizers()
            .register(tokenizer::BIGRAMS, tokenizer::bigrams_analyzer());
        let (_, fields) = schema::build();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        let writer = index.writer_with_num_threads(threads, threads * WRITER_BYTES_PER_THREAD)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self {
            inner: Arc::new(Inner {
                index,
                fields,
                reader,
                writer: Mutex::new(writer),
                stamp: RwLock::new(None),
                tuning: Tuning::default(),
                path,
            }),
        })
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, IndexWriter<TantivyDocument>> {
        self.inner
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn add_all(&self, articles: &[IndexedArticle]) -> anyhow::Result<()> {
        let writer = self.writer();
        for article in articles {
            writer.delete_term(Term::from_field_text(self.inner.fields.id, &article.id));
            writer.add_document(schema::document(&self.inner.fields, article))?;
        }
        Ok(())
    }

    /// Adds `article`, replacing any article of the same id; visible to
    /// searches after the next [`Self::commit`].
    pub fn upsert(&self, article: IndexedArticle) -> anyhow::Result<()> {
        self.add_all(std::slice::from_ref(&article))
    }

    /// Removes the article `id` (retired, expired, unpublished); a no-op for
    /// an unknown id. Visible after the next [`Self::commit`].
    pub fn remove(&self, id: &str) -> anyhow::Result<()> {
        self.writer()
            .delete_term(Term::from_field_text(self.inner.fields.id, id));
        Ok(())
    }

    /// Makes the changes so far durable and visible to searches, recording
    /// `stamp` (how far the caller's source has been applied).
    pub fn commit(&self, stamp: &str) -> anyhow::Result<()> {
        self.commit_payload(Some(stamp))
    }

    fn commit_payload(&self, stamp: Option<&str>) -> anyhow::Result<()> {
        {
            let mut writer = self.writer();
            let mut prepared = writer.prepare_commit()?;
            if let Some(stamp) = stamp {
                let payload = Payload {
                    schema: SCHEMA_VERSION,
                    stamp: stamp.to_owned(),
                };
                prepared.set_payload(&serde_json::to_string(&payload)?);
            }
            prepared.commit()?;
        }
        self.inner.reader.reload()?;
        *self
            .inner
            .stamp
            .write()
            .unwrap_or_else(PoisonError::into_inner) = stamp.map(str::to_owned);
        Ok(())
    }

    /// The stamp of the last commit (`None` before any commit with one).
    pub fn stamp(&self) -> Option<String> {
        self.inner
            .stamp
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Number of articles searches see.
    pub fn len(&self) -> u64 {
        self.inner.reader.searcher().num_docs()
    }

    /// Whether searches see no article.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tantivy index (benchmark baselines).
    pub fn tantivy(&self) -> &Index {
        &self.inner.index
    }
}
