//! Reads of tickets in the reader's scope; views of caller data are logged.

use super::Workflow;
use crate::{
    domain::{PhoneNumber, Principal, TicketEvent, TicketId, ticket::Ticket},
    service::{ServiceError, privacy::purpose},
    store::{TicketCursor, TicketQuery},
};

impl Workflow {
    /// A page of tickets matching `query`, narrowed to what the principal
    /// may see (the scope is the principal's, whatever the query held).
    pub async fn list_tickets(
        &self,
        principal: &Principal,
        mut query: TicketQuery,
    ) -> Result<Vec<Ticket>, ServiceError> {
        query.scope = principal.list_scope();
        Ok(self.store().list_tickets(&query).await?)
    }

    /// A page of a visible ticket's audit trail, after sequence `after`.
    pub async fn ticket_events(
        &self,
        principal: &Principal,
        id: TicketId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<TicketEvent>, ServiceError> {
        self.load_visible(principal, id).await?;
        Ok(self.store().list_events(id, after, limit).await?)
    }

    /// A caller's earlier tickets, newest first, for the agent on the line;
    /// the page shown is recorded in the PII access log as one row listing
    /// its tickets (a page with none showed no one).
    pub async fn lookup_caller(
        &self,
        principal: &Principal,
        phone: &PhoneNumber,
        after: Option<TicketCursor>,
        limit: u32,
    ) -> Result<Vec<Ticket>, ServiceError> {
        let mut query = TicketQuery::all(limit);
        query.caller_phone = Some(phone.expose().to_owned());
        query.after = after;
        let tickets = self.store().list_tickets(&query).await?;
        if !tickets.is_empty() {
            let shown: Vec<TicketId> = tickets.iter().map(|t| t.id).collect();
            self.record_pii_read(principal, &shown, "LookupCaller", purpose::CALLER_LOOKUP)
                .await?;
        }
        Ok(tickets)
    }
}
