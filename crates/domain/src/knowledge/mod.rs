//! Knowledge-base articles (知识库): policy answers that handling units
//! write and the centre reviews, so agents can answer enquiries at intake
//! (直接答复) and cite what they answered from.
//!
//! **Workflow.** `draft → in_review → published → retired`, plus
//! `in_review → draft` when the centre rejects (with a reason). Every
//! content change makes a new version; the history stays readable.
//!
//! **Revising a published article.** An update of a published article
//! makes a new draft version while the published version stays served
//! ([`Article::published_version`]): agents keep answering from the
//! reviewed text until the revision is approved, and a rejected revision
//! never reaches them. Retiring withdraws the served version.
//!
//! **Who.** A handling unit drafts, updates and submits its own unit's
//! articles; the centre (supervisor, admin) approves, rejects, publishes
//! and retires; agents read and search. The role check is
//! [`crate::access::Operation`]; the ownership check is
//! [`Article::check_editor`].

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::{
    access::{Operation, Principal, Role},
    error::DomainError,
    ids::{RegionCode, SubjectCode, UnitId, uuid_v7_at},
    text_enum,
    ticket::reject_nul,
};

/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest body, in characters (a long policy with its annexes).
pub const MAX_BODY_CHARS: usize = 50_000;
/// Most subject codes, regions or tags on one article.
pub const MAX_LABELS: usize = 20;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 32;
/// Longest rejection reason, in characters.
pub const MAX_REASON_CHARS: usize = 2_000;

text_enum! {
    /// Where an article's latest version stands.
    pub enum ArticleState {
        /// Being written (new, rejected, or a revision of a published one).
        Draft => "draft",
        /// Submitted; waiting for the centre's review.
        InReview => "in_review",
        /// Approved and served (its latest version is the served one).
        Published => "published",
        /// Withdrawn: never served again.
        Retired => "retired",
    }
}

text_enum! {
    /// What happened to an article: its audit events' kinds.
    pub enum ArticleEventKind {
        /// Drafted.
        Created => "created",
        /// A new version written.
        Updated => "updated",
        /// Sent for review.
        Submitted => "submitted",
        /// Approved and published.
        Approved => "approved",
        /// Sent back to draft, with a reason.
        Rejected => "rejected",
        /// Withdrawn.
        Retired => "retired",
        /// Brought in by an import.
        Imported => "imported",
    }
}

/// An article's identifier: a UUIDv7, so ids sort by creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ArticleId(Uuid);

impl ArticleId {
    /// A fresh id for an article created at `now`.
    pub fn generate(now: DateTime<Utc>) -> Self {
        Self(uuid_v7_at(now))
    }

    /// Parses a bare id.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Uuid::parse_str(s)
            .map(Self)
            .map_err(|_| DomainError::invalid("", "not an article id (UUID)"))
    }

    /// Parses the resource name `articles/{id}`.
    pub fn from_name(name: &str) -> Result<Self, DomainError> {
        name.strip_prefix("articles/")
            .and_then(|id| Self::parse(id).ok())
            .ok_or_else(|| DomainError::invalid("", "must look like articles/{id}"))
    }

    /// The resource name `articles/{id}`.
    pub fn name(&self) -> String {
        format!("articles/{}", self.0)
    }
}

impl std::fmt::Display for ArticleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What one version of an article says and where it applies.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ArticleContent {
    /// Title (the question it answers, usually).
    pub title: String,
    /// Body, Markdown.
    pub body: String,
    /// Subject codes of the taxonomy it answers for.
    pub subjects: Vec<String>,
    /// Region codes it applies to (a district covers its streets); empty:
    /// the whole city.
    pub regions: Vec<String>,
    /// Free tags.
    pub tags: Vec<String>,
    /// First day it applies; none: from publication.
    pub effective_from: Option<NaiveDate>,
    /// Last day it applies; none: until retired.
    pub expires_on: Option<NaiveDate>,
}

fn check_chars(field: &str, text: &str, max: usize) -> Result<(), DomainError> {
    if text.trim().is_empty() {
        return Err(DomainError::invalid(field, "required"));
    }
    reject_nul(text).map_err(|e| e.within(field))?;
    if text.chars().count() > max {
        return Err(DomainError::invalid(
            field,
            format!("at most {max} characters"),
        ));
    }
    Ok(())
}

/// Trims, drops empties and duplicates (keeping order), and checks each
/// label with `check` and the count.
fn labels(
    field: &str,
    values: Vec<String>,
    check: impl Fn(&str) -> Result<(), DomainError>,
) -> Result<Vec<String>, DomainError> {
    // The count is checked as values are kept, so a request of a million
    // labels is refused after the first MAX_LABELS + 1 distinct ones, and
    // the duplicate check stays a scan of at most MAX_LABELS values.
    let mut out: Vec<String> = Vec::with_capacity(MAX_LABELS);
    for value in values {
        let value = value.trim();
        if value.is_empty() || out.iter().any(|kept| kept == value) {
            continue;
        }
        if out.len() == MAX_LABELS {
            return Err(DomainError::invalid(
                field,
                format!("at most {MAX_LABELS} values"),
            ));
        }
        check(value).map_err(|e| e.within(field))?;
        out.push(value.to_owned());
    }
    Ok(out)
}

impl ArticleContent {
    /// The content checked and normalised: title and body required and
    /// bounded; subject and region codes valid; labels trimmed and
    /// deduplicated; the dates in order. Field paths are relative to the
    /// article message.
    pub fn validated(self) -> Result<Self, DomainError> {
        let title = self.title.trim().to_owned();
        check_chars("title", &title, MAX_TITLE_CHARS)?;
        check_chars("body", &self.body, MAX_BODY_CHARS)?;
        let subjects = labels("subject_codes", self.subjects, |s| {
            SubjectCode::parse(s).map(|_| ())
        })?;
        let regions = labels("region_codes", self.regions, |r| {
            RegionCode::parse_prefix(r).map(|_| ())
        })?;
        let tags = labels("tags", self.tags, |t| {
            if t.chars().any(char::is_control) {
                Err(DomainError::invalid(
                    "",
                    "a tag must not contain control characters",
                ))
            } else if t.chars().count() > MAX_TAG_CHARS {
                Err(DomainError::invalid(
                    "",
                    format!("a tag has at most {MAX_TAG_CHARS} characters"),
                ))
            } else {
                Ok(())
            }
        })?;
        if let (Some(from), Some(until)) = (self.effective_from, self.expires_on)
            && until < from
        {
            return Err(DomainError::invalid(
                "expire_date",
                "must not be before effective_date",
            ));
        }
        Ok(Self {
            title,
            body: self.body,
            subjects,
            regions,
            tags,
            effective_from: self.effective_from,
            expires_on: self.expires_on,
        })
    }
}

/// One stored version of an article.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleVersion {
    /// The article.
    pub article: ArticleId,
    /// 1, 2, … in order of writing.
    pub version: i64,
    /// What it says.
    pub content: ArticleContent,
    /// Who wrote it.
    pub author: String,
    /// When.
    pub create_time: DateTime<Utc>,
}

/// An article: its workflow state, owner and latest version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Article {
    /// Its id.
    pub id: ArticleId,
    /// The handling unit that owns (writes) it.
    pub owner_unit: UnitId,
    /// Where its latest version stands.
    pub state: ArticleState,
    /// The latest version.
    pub latest: ArticleVersion,
    /// The version agents are served, if any (the latest once approved; an
    /// older one while a revision is drafted or reviewed).
    pub published_version: Option<i64>,
    /// Why the centre last rejected it (cleared when it is resubmitted).
    pub reject_reason: Option<String>,
    /// Who created it.
    pub creator: String,
    /// When.
    pub create_time: DateTime<Utc>,
    /// Last change.
    pub update_time: DateTime<Utc>,
    /// Position of its last change in the store's change sequence (every
    /// change of any article takes the next number): the etag, and what
    /// search indexes follow.
    pub change_seq: i64,
}

/// Something a person does to an article.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArticleAction {
    /// Write a new version.
    Update(ArticleContent),
    /// Send the latest version for review.
    Submit,
    /// Approve and publish the version in review.
    Approve,
    /// Send the version in review back to draft.
    Reject {
        /// Why, for the writer.
        reason: String,
    },
    /// Withdraw for good.
    Retire,
}

impl ArticleAction {
    /// The verb, for messages.
    pub fn verb(&self) -> &'static str {
        match self {
            Self::Update(_) => "update",
            Self::Submit => "submit",
            Self::Approve => "approve",
            Self::Reject { .. } => "reject",
            Self::Retire => "retire",
        }
    }

    /// The event it records.
    pub fn event_kind(&self) -> ArticleEventKind {
        match self {
            Self::Update(_) => ArticleEventKind::Updated,
            Self::Submit => ArticleEventKind::Submitted,
            Self::Approve => ArticleEventKind::Approved,
            Self::Reject { .. } => ArticleEventKind::Rejected,
            Self::Retire => ArticleEventKind::Retired,
        }
    }

    /// The role-level operation it needs.
    pub fn operation(&self) -> Operation {
        match self {
            Self::Update(_) | Self::Submit => Operation::DraftArticles,
            Self::Approve | Self::Reject { .. } | Self::Retire => Operation::ReviewArticles,
        }
    }
}

/// What an action does to an article, for the store to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleOutcome {
    /// The state after it.
    pub state: ArticleState,
    /// A new version's content, if it writes one (its number is the
    /// latest + 1).
    pub new_content: Option<ArticleContent>,
    /// The served version after it.
    pub published_version: Option<i64>,
    /// The rejection reason after it.
    pub reject_reason: Option<String>,
    /// Its audit event.
    pub event: ArticleEventKind,
    /// The event's note (a rejection's reason).
    pub note: Option<String>,
}

fn illegal(action: &ArticleAction, state: ArticleState) -> DomainError {
    DomainError::PreconditionFailed {
        kind: "ARTICLE_STATE",
        message: format!("cannot {} an article in state {state}", action.verb()),
    }
}

impl Article {
    /// A new draft: version 1 of `content`, written by `author` for
    /// `owner` at `now`, not yet stored (change number 0).
    pub fn drafted(
        id: ArticleId,
        owner: UnitId,
        content: ArticleContent,
        author: &str,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            owner_unit: owner,
            state: ArticleState::Draft,
            latest: ArticleVersion {
                article: id,
                version: 1,
                content,
                author: author.to_owned(),
                create_time: now,
            },
            published_version: None,
            reject_reason: None,
            creator: author.to_owned(),
            create_time: now,
            update_time: now,
            change_seq: 0,
        }
    }

    /// Checks that `who` may write this article's content or submit it:
    /// the role, and for a unit user, that the article is its unit's.
    pub fn check_editor(&self, who: &Principal) -> Result<(), DomainError> {
        who.authorize(Operation::DraftArticles)?;
        check_owner(who, &self.owner_unit)
    }

    /// Applies `action` by `who`: the permission checks, then the state
    /// rule. The only way an article's state changes.
    pub fn decide(
        &self,
        who: &Principal,
        action: ArticleAction,
    ) -> Result<ArticleOutcome, DomainError> {
        match action.operation() {
            Operation::DraftArticles => self.check_editor(who)?,
            op => who.authorize(op)?,
        }
        self.transition(action)
    }

    /// The state rule alone (permissions already checked).
    pub fn transition(&self, action: ArticleAction) -> Result<ArticleOutcome, DomainError> {
        use ArticleState::*;
        let keep = |state| ArticleOutcome {
            state,
            new_content: None,
            published_version: self.published_version,
            reject_reason: self.reject_reason.clone(),
            event: action.event_kind(),
            note: None,
        };
        match (&action, self.state) {
            (ArticleAction::Update(content), Draft | Published) => Ok(ArticleOutcome {
                new_content: Some(
                    content
                        .clone()
                        .validated()
                        .map_err(|e| e.within("article"))?,
                ),
                ..keep(Draft)
            }),
            (ArticleAction::Submit, Draft) => Ok(ArticleOutcome {
                reject_reason: None,
                ..keep(InReview)
            }),
            (ArticleAction::Approve, InReview) => Ok(ArticleOutcome {
                published_version: Some(self.latest.version),
                ..keep(Published)
            }),
            (ArticleAction::Reject { reason }, InReview) => {
                let reason = reason.trim().to_owned();
                check_chars("reason", &reason, MAX_REASON_CHARS)?;
                Ok(ArticleOutcome {
                    reject_reason: Some(reason.clone()),
                    note: Some(reason),
                    ..keep(Draft)
                })
            }
            (ArticleAction::Retire, Draft | InReview | Published) => Ok(ArticleOutcome {
                published_version: None,
                ..keep(Retired)
            }),
            (_, state) => Err(illegal(&action, state)),
        }
    }

    /// Whether agents are served a version of it at all.
    pub fn is_served(&self) -> bool {
        self.state != ArticleState::Retired && self.published_version.is_some()
    }
}

/// A unit user may act only on its own unit's articles; centre staff
/// (supervisor, admin) on any.
fn check_owner(who: &Principal, owner: &UnitId) -> Result<(), DomainError> {
    if who.has(Role::Admin) || who.has(Role::Supervisor) {
        return Ok(());
    }
    if who.unit.as_ref() == Some(owner) {
        Ok(())
    } else {
        Err(DomainError::PermissionDenied(format!(
            "only users of {owner} may edit its articles"
        )))
    }
}

/// Checks that `who` may create an article owned by `owner`.
pub fn check_create(who: &Principal, owner: &UnitId) -> Result<(), DomainError> {
    who.authorize(Operation::DraftArticles)?;
    check_owner(who, owner)
}

/// An article's audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleEvent {
    /// The article.
    pub article: ArticleId,
    /// The version it concerned.
    pub version: i64,
    /// What happened.
    pub kind: ArticleEventKind,
    /// Who (token subject).
    pub actor: String,
    /// In which role.
    pub actor_role: String,
    /// Why (a rejection's reason).
    pub note: Option<String>,
    /// When.
    pub time: DateTime<Utc>,
}

#[cfg(test)]
mod tests;
