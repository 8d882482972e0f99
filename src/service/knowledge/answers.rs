//! What agents ask the knowledge base: search, suggestions for a ticket
//! being taken, and the check of the articles a resolution at intake
//! cites.

use std::{future::Future, time::Instant};

use hotline_knowledge::{SearchHit, SearchQuery};

use super::Knowledge;
use crate::{
    domain::{Principal, RegionCode, SubjectCode, access::Operation, knowledge::ArticleId},
    service::{
        ServiceError, Workflow,
        instruments::{QueryInstruments, QueryOutcome},
    },
};

/// Longest search query, in characters: a sentence or two; a longer text
/// is a ticket, for SuggestArticles.
pub const MAX_QUERY_CHARS: usize = 2_000;
/// Longest title plus description a suggestion reads, in characters.
pub const MAX_SUGGEST_CHARS: usize = 10_000;
/// Deepest hit a search pages to: as many as the index answers at once.
pub const MAX_SEARCH_DEPTH: usize = hotline_knowledge::query::MAX_LIMIT;
/// Suggestions when the client asks for none in particular.
pub const DEFAULT_SUGGESTIONS: u32 = 5;

/// A page of search hits.
#[derive(Debug, Clone)]
pub struct SearchPage {
    /// The hits of the page, best first.
    pub hits: Vec<SearchHit>,
    /// Whether more follow.
    pub more: bool,
}

fn optional_subject(code: &str, field: &str) -> Result<Option<String>, ServiceError> {
    match code.trim() {
        "" => Ok(None),
        code => SubjectCode::parse(code)
            .map(|c| Some(c.as_str().to_owned()))
            .map_err(|e| ServiceError::from(e.within(field))),
    }
}

fn optional_region(code: &str, field: &str) -> Result<Option<String>, ServiceError> {
    match code.trim() {
        "" => Ok(None),
        code => RegionCode::parse_prefix(code)
            .map(Some)
            .map_err(|e| ServiceError::from(e.within(field))),
    }
}

fn bounded(text: &str, field: &str, max: usize) -> Result<(), ServiceError> {
    if text.chars().count() > max {
        return Err(ServiceError::invalid(
            field,
            format!("at most {max} characters"),
        ));
    }
    Ok(())
}

/// What became of a query that found `found` articles, or failed.
fn outcome<T>(result: &Result<T, ServiceError>, found: impl FnOnce(&T) -> usize) -> QueryOutcome {
    match result {
        Ok(answer) if found(answer) == 0 => QueryOutcome::Empty,
        Ok(_) => QueryOutcome::Hits,
        Err(ServiceError::InvalidField { .. }) => QueryOutcome::Invalid,
        Err(_) => QueryOutcome::Error,
    }
}

/// Runs `query`, then counts it by outcome and times it in `instruments`.
async fn measured<T>(
    instruments: &QueryInstruments,
    found: impl FnOnce(&T) -> usize,
    query: impl Future<Output = Result<T, ServiceError>>,
) -> Result<T, ServiceError> {
    let started = Instant::now();
    let result = query.await;
    instruments.record(outcome(&result, found), started.elapsed());
    result
}

/// Renames the index's query fields to the request's.
fn in_request(err: ServiceError, text_field: &str) -> ServiceError {
    match err {
        ServiceError::InvalidField { field, message } => ServiceError::InvalidField {
            field: match field.as_str() {
                "text" => text_field.to_owned(),
                "subject" => "subject_code".to_owned(),
                "region" => "region_code".to_owned(),
                _ => field,
            },
            message,
        },
        other => other,
    }
}

impl Knowledge {
    /// The served articles effective today matching `text`, skipping the
    /// first `offset` hits. Counted and timed by outcome.
    pub async fn search(
        &self,
        who: &Principal,
        text: &str,
        subject: &str,
        region: &str,
        offset: usize,
        page_size: usize,
    ) -> Result<SearchPage, ServiceError> {
        who.authorize(Operation::ReadArticles)?;
        let page = async {
            if text.trim().is_empty() {
                return Err(ServiceError::invalid("query", "required"));
            }
            bounded(text, "query", MAX_QUERY_CHARS)?;
            if offset >= MAX_SEARCH_DEPTH {
                return Err(ServiceError::invalid(
                    "page_token",
                    format!("only the best {MAX_SEARCH_DEPTH} hits are paged"),
                ));
            }
            let page_size = page_size.min(MAX_SEARCH_DEPTH - offset);
            // One more than the page, to tell whether another follows.
            let wanted = (offset + page_size + 1).min(MAX_SEARCH_DEPTH);
            let query = SearchQuery {
                text: text.to_owned(),
                subject: optional_subject(subject, "subject_code")?,
                region: optional_region(region, "region_code")?,
                on: self.today(),
                limit: wanted,
            };
            let mut hits = self
                .index
                .search(query)
                .await
                .map_err(|e| in_request(e, "query"))?;
            let more = hits.len() > offset + page_size;
            hits.truncate(offset + page_size);
            let hits = hits.split_off(offset.min(hits.len()));
            Ok(SearchPage { hits, more })
        };
        let instruments = &self.index.instruments().search;
        measured(instruments, |p: &SearchPage| p.hits.len(), page).await
    }

    /// The `k` served articles effective today that best answer a ticket
    /// with this title and description. Counted and timed by outcome.
    pub async fn suggest(
        &self,
        who: &Principal,
        title: &str,
        description: &str,
        region: &str,
        subject: &str,
        k: u32,
    ) -> Result<Vec<SearchHit>, ServiceError> {
        who.authorize(Operation::ReadArticles)?;
        let hits = async {
            let text = format!("{}\n{}", title.trim(), description.trim());
            if text.trim().is_empty() {
                return Err(ServiceError::invalid(
                    "description",
                    "title or description required",
                ));
            }
            bounded(&text, "description", MAX_SUGGEST_CHARS)?;
            let k = match k {
                0 => DEFAULT_SUGGESTIONS,
                k => k,
            }
            .min(self.settings.suggest_limit);
            let query = SearchQuery {
                text,
                subject: optional_subject(subject, "subject_code")?,
                region: optional_region(region, "region_code")?,
                on: self.today(),
                limit: usize::try_from(k).unwrap_or(1),
            };
            self.index
                .search(query)
                .await
                .map_err(|e| in_request(e, "description"))
        };
        measured(&self.index.instruments().suggest, Vec::len, hits).await
    }

    /// The centre's today: the day articles must apply on.
    fn today(&self) -> chrono::NaiveDate {
        self.workflow.local_day(self.workflow.clock().now())
    }
}

impl Workflow {
    /// Checks the articles a resolution at intake cites (`articles/{id}`
    /// or bare ids): each must exist and be served. Returns their bare ids,
    /// deduplicated in order. A citation is checked when made; an article
    /// retired a moment later keeps the citation, as the answer was given
    /// from it.
    pub async fn check_citations(&self, cited: &[String]) -> Result<Vec<String>, ServiceError> {
        const FIELD: &str = "article_ids";
        const MAX_CITED: usize = 20;
        if cited.len() > MAX_CITED {
            return Err(ServiceError::invalid(
                FIELD,
                format!("at most {MAX_CITED} articles"),
            ));
        }
        let mut ids: Vec<(usize, ArticleId)> = Vec::with_capacity(cited.len());
        for (i, name) in cited.iter().enumerate() {
            let id = ArticleId::from_name(name)
                .or_else(|_| ArticleId::parse(name))
                .map_err(|_| {
                    ServiceError::invalid(format!("{FIELD}[{i}]"), "must look like articles/{id}")
                })?;
            if !ids.iter().any(|(_, seen)| *seen == id) {
                ids.push((i, id));
            }
        }
        let wanted: Vec<ArticleId> = ids.iter().map(|(_, id)| *id).collect();
        let served = self.store().served_versions(&wanted).await?;
        for (i, id) in &ids {
            if !served.iter().any(|v| v.article == *id) {
                return Err(ServiceError::invalid(
                    format!("{FIELD}[{i}]"),
                    format!("{} is not a published article", id.name()),
                ));
            }
        }
        Ok(wanted.iter().map(ToString::to_string).collect())
    }
}
