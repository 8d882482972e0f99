//! Who may do what, and what of the caller each reader may see.
//!
//! Pure rules over the authenticated [`Principal`]; the API layer calls them
//! before touching storage.

use super::{error::DomainError, ids::UnitId, person::Caller, text_enum::TextEnum, ticket::Ticket};
use crate::text_enum;

text_enum! {
    /// Roles carried in the token's `roles` claim.
    pub enum Role {
        /// Call-centre agent: intake, callback, lookup.
        Agent => "agent",
        /// A handling unit's user: sign, reply.
        UnitHandler => "unit_handler",
        /// Auditor, scoped to a region prefix.
        Supervisor => "supervisor",
        /// Configures the directory and the system.
        Admin => "admin",
        /// Reads the PII access log (who saw callers unmasked), and
        /// nothing else: an auditor sees no ticket.
        Auditor => "auditor",
    }
}

/// The authenticated caller of an RPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Token subject (user id).
    pub subject: String,
    /// Roles, in the order the token lists them.
    pub roles: Vec<Role>,
    /// The unit a `unit_handler` works for.
    pub unit: Option<UnitId>,
    /// Region prefix a `supervisor` is limited to.
    pub region: Option<String>,
}

/// Operations checked against roles (ticket-row scope is checked separately).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Create, correct and dispose of tickets at intake; callbacks; caller lookup.
    Intake,
    /// Dispatch and close tickets: the centre's decisions.
    CentreDecision,
    /// Sign for and reply to tickets as their lead unit.
    UnitHandling,
    /// Read tickets and their trails.
    ReadTickets,
    /// Change the directory of units and regions.
    ManageDirectory,
    /// Read the directory.
    ReadDirectory,
    /// Add a progress note (units in scope and centre staff).
    AddNote,
    /// Edit, publish and roll back the dispatch catalogue.
    ManageRouting,
    /// Dry-run routing decisions.
    ExplainRouting,
    /// Freeze a month's scorecards.
    FreezeMetrics,
    /// Read the PII access log.
    AuditPiiAccess,
    /// Register webhook subscriptions (which may receive caller data),
    /// read their deliveries and redeliver.
    ManageWebhooks,
    /// Upload a file to a ticket in scope.
    UploadAttachment,
    /// Delete a ticket's file: the centre's decision.
    DeleteAttachment,
    /// Draft, update and submit knowledge articles (a unit: its own).
    DraftArticles,
    /// Approve, reject (publish) and retire knowledge articles: the
    /// centre's review; never a unit's, which would publish its own text.
    ReviewArticles,
    /// Read and search the knowledge base.
    ReadArticles,
    /// List, read and watch hotspots (a unit: those of its area).
    ReadHotspots,
    /// Confirm, dismiss and merge hotspots: the centre's supervision.
    DecideHotspots,
}

impl Operation {
    fn roles(self) -> &'static [Role] {
        use Role::*;
        match self {
            Self::Intake => &[Agent, Admin],
            Self::CentreDecision => &[Agent, Supervisor, Admin],
            Self::UnitHandling => &[UnitHandler],
            Self::ReadTickets | Self::ReadDirectory => &[Agent, UnitHandler, Supervisor, Admin],
            Self::ManageDirectory
            | Self::ManageRouting
            | Self::FreezeMetrics
            | Self::ManageWebhooks => &[Admin],
            Self::AddNote => &[Agent, UnitHandler, Supervisor, Admin],
            Self::ExplainRouting => &[Agent, Supervisor, Admin],
            Self::AuditPiiAccess => &[Auditor, Admin],
            Self::UploadAttachment => &[Agent, UnitHandler, Supervisor, Admin],
            Self::DeleteAttachment => &[Agent, Supervisor, Admin],
            Self::DraftArticles => &[UnitHandler, Admin],
            Self::ReviewArticles => &[Supervisor, Admin],
            Self::ReadArticles => &[Agent, UnitHandler, Supervisor, Admin],
            Self::ReadHotspots => &[Agent, UnitHandler, Supervisor, Admin],
            Self::DecideHotspots => &[Supervisor, Admin],
        }
    }
}

impl Principal {
    /// The role recorded on events: the first role of the token.
    pub fn acting_role(&self) -> Role {
        self.roles.first().copied().unwrap_or(Role::Agent)
    }

    /// The server itself (sweeper, automatic orders): no roles, so no RPC
    /// authorizes it; it acts only through code paths that call the domain
    /// directly, and its events say `system`.
    pub fn system(name: &str) -> Self {
        Self {
            subject: format!("system:{name}"),
            roles: Vec::new(),
            unit: None,
            region: None,
        }
    }

    /// The role text recorded on events: the acting role, or `system`.
    pub fn role_label(&self) -> &'static str {
        if self.roles.is_empty() {
            "system"
        } else {
            self.acting_role().code()
        }
    }

    /// Whether the principal holds `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Checks the role for an operation.
    pub fn authorize(&self, op: Operation) -> Result<(), DomainError> {
        if op.roles().iter().any(|r| self.has(*r)) {
            Ok(())
        } else {
            let needed: Vec<&str> = op.roles().iter().map(|r| r.code()).collect();
            Err(DomainError::PermissionDenied(format!(
                "requires one of the roles {}",
                needed.join(", ")
            )))
        }
    }

    /// Whether the ticket is within the principal's row scope: centre agents
    /// and admins see every ticket, a supervisor those in its region, a unit
    /// user those its unit leads or co-handles.
    pub fn can_see(&self, ticket: &Ticket) -> bool {
        self.roles.iter().any(|role| match role {
            Role::Agent | Role::Admin => true,
            Role::Supervisor => self
                .region
                .as_deref()
                .is_some_and(|scope| ticket.intake.region_code.within(scope)),
            Role::UnitHandler => self.unit.as_ref().is_some_and(|unit| {
                ticket.lead_unit.as_ref() == Some(unit) || ticket.co_units.contains(unit)
            }),
            Role::Auditor => false,
        })
    }

    /// Whether the principal works for the ticket's lead unit.
    pub fn is_lead_unit_of(&self, ticket: &Ticket) -> bool {
        self.has(Role::UnitHandler) && self.unit.is_some() && self.unit == ticket.lead_unit
    }

    /// True for the centre's own staff, who may see callers unmasked.
    pub fn is_centre_staff(&self) -> bool {
        self.has(Role::Agent) || self.has(Role::Supervisor) || self.has(Role::Admin)
    }

    /// The row-scope filter for lists: what a list query must restrict to.
    pub fn list_scope(&self) -> ListScope {
        if self.has(Role::Agent) || self.has(Role::Admin) {
            return ListScope::All;
        }
        ListScope::Limited {
            region_prefix: self
                .has(Role::Supervisor)
                .then(|| self.region.clone())
                .flatten(),
            unit: self
                .has(Role::UnitHandler)
                .then(|| self.unit.clone())
                .flatten(),
        }
    }
}

/// Row scope of a list query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListScope {
    /// No restriction.
    All,
    /// Rows matching either the region prefix or the lead unit; neither means none.
    Limited {
        /// Supervisor's region prefix.
        region_prefix: Option<String>,
        /// Unit user's unit.
        unit: Option<UnitId>,
    },
}

/// How much of the caller a reader sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerVisibility {
    /// Everything (centre staff reading one ticket; audited).
    Full,
    /// Masked name and phone.
    Masked,
    /// Nothing: a confidential ticket seen by a unit.
    Withheld,
}

/// The caller as shown to a reader.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallerView {
    /// Name, possibly masked.
    pub name: String,
    /// Phone, possibly masked.
    pub phone: String,
    /// The caller is anonymous.
    pub anonymous: bool,
}

/// Decides the caller visibility: staff see the full identity when reading a
/// single ticket (`single` = true) and masked in lists; handling units see it
/// masked, and never for confidential tickets.
pub fn caller_visibility(reader: &Principal, ticket: &Ticket, single: bool) -> CallerVisibility {
    let handles_it = reader.has(Role::UnitHandler)
        && reader.unit.as_ref().is_some_and(|unit| {
            ticket.lead_unit.as_ref() == Some(unit) || ticket.co_units.contains(unit)
        });
    if ticket.intake.confidential && handles_it {
        // A unit never learns who reported it, whatever other roles its
        // user also holds.
        return CallerVisibility::Withheld;
    }
    if reader.is_centre_staff() {
        if single {
            CallerVisibility::Full
        } else {
            CallerVisibility::Masked
        }
    } else if ticket.intake.confidential {
        CallerVisibility::Withheld
    } else {
        CallerVisibility::Masked
    }
}

/// How a reader sees the caller of a duplicate merged into the ticket it
/// reads (GetTicket's merged tickets): as on a single read of the duplicate
/// when the duplicate is in the reader's scope, and as in a list when it is
/// not. A merge may join tickets of different regions, and a supervisor
/// reading a primary of its region must not see in full a caller whose own
/// ticket it could not read.
pub fn merged_caller_visibility(reader: &Principal, duplicate: &Ticket) -> CallerVisibility {
    caller_visibility(reader, duplicate, reader.can_see(duplicate))
}

/// Renders the caller for a visibility level.
pub fn view_caller(caller: &Caller, visibility: CallerVisibility) -> CallerView {
    let anonymous = caller.anonymous;
    match visibility {
        CallerVisibility::Full => CallerView {
            name: caller
                .name
                .as_ref()
                .map(|n| n.expose().to_owned())
                .unwrap_or_default(),
            phone: caller
                .phone
                .as_ref()
                .map(|p| p.expose().to_owned())
                .unwrap_or_default(),
            anonymous,
        },
        CallerVisibility::Masked => CallerView {
            name: caller.name.as_ref().map(|n| n.masked()).unwrap_or_default(),
            phone: caller
                .phone
                .as_ref()
                .map(|p| p.masked())
                .unwrap_or_default(),
            anonymous,
        },
        CallerVisibility::Withheld => CallerView {
            anonymous,
            ..CallerView::default()
        },
    }
}

#[cfg(test)]
mod tests;
