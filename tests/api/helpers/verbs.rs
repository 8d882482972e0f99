//! The ticket verbs of [`As`] the tests call: each one RPC through the
//! real client, with the principal's token.

use super::*;

impl As {
    pub(crate) async fn return_ticket(&mut self, name: &str) -> Result<pb::Ticket, tonic::Status> {
        self.dispatch
            .return_ticket(authed(
                &self.token,
                pb::ReturnTicketRequest {
                    name: name.into(),
                    reason: "不属于本单位职责".into(),
                    legal_basis: "《派单目录》第 12 条".into(),
                    ..Default::default()
                },
            ))
            .await
            .map(|r| r.into_inner().ticket.unwrap())
    }
    pub(crate) async fn arbitrate(
        &mut self,
        name: &str,
        approve: bool,
        to: &str,
    ) -> Result<pb::Ticket, tonic::Status> {
        self.dispatch
            .arbitrate_return(authed(
                &self.token,
                pb::ArbitrateReturnRequest {
                    name: name.into(),
                    approve,
                    redispatch_unit: if to.is_empty() {
                        String::new()
                    } else {
                        format!("units/{to}")
                    },
                    note: "中心裁定".into(),
                    ..Default::default()
                },
            ))
            .await
            .map(|r| r.into_inner().ticket.unwrap())
    }
    /// Closes a ticket (after its callback) with the default reason.
    pub(crate) async fn close(&mut self, name: &str) -> pb::Ticket {
        self.dispatch
            .close_ticket(authed(
                &self.token,
                pb::CloseTicketRequest {
                    name: name.into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .ticket
            .unwrap()
    }

    /// Adds a unit answering for `region` to the directory (admins).
    pub(crate) async fn add_unit(
        &mut self,
        id: &str,
        name: &str,
        kind: pb::UnitKind,
        region: &str,
    ) {
        self.directory
            .create_unit(authed(
                &self.token,
                pb::CreateUnitRequest {
                    unit_id: id.into(),
                    unit: Some(pb::Unit {
                        display_name: name.into(),
                        kind: kind as i32,
                        region_code: region.into(),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                },
            ))
            .await
            .unwrap();
    }

    pub(crate) async fn rate(
        &mut self,
        name: &str,
        satisfaction: pb::Satisfaction,
        resolved: bool,
    ) -> pb::Ticket {
        self.dispatch
            .record_callback(authed(
                &self.token,
                pb::RecordCallbackRequest {
                    name: name.into(),
                    satisfaction: satisfaction as i32,
                    resolved,
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .ticket
            .unwrap()
    }

    /// The connection, for clients of further services.
    pub(crate) fn channel(&self) -> Channel {
        self.channel.clone()
    }

    pub(crate) async fn create(&mut self, ticket: pb::Ticket) -> pb::Ticket {
        self.create_with_id(ticket, "").await
    }

    pub(crate) async fn create_with_id(
        &mut self,
        ticket: pb::Ticket,
        request_id: &str,
    ) -> pb::Ticket {
        self.try_create(ticket, request_id).await.unwrap()
    }

    /// CreateTicket, its status kept for the test to judge.
    pub(crate) async fn try_create(
        &mut self,
        ticket: pb::Ticket,
        request_id: &str,
    ) -> Result<pb::Ticket, tonic::Status> {
        self.tickets
            .create_ticket(authed(
                &self.token,
                pb::CreateTicketRequest {
                    ticket: Some(ticket),
                    request_id: request_id.into(),
                },
            ))
            .await
            .map(|r| r.into_inner().ticket.unwrap())
    }

    pub(crate) async fn get(&mut self, name: &str) -> Result<pb::Ticket, tonic::Status> {
        self.tickets
            .get_ticket(authed(
                &self.token,
                pb::GetTicketRequest { name: name.into() },
            ))
            .await
            .map(|r| r.into_inner().ticket.unwrap())
    }

    /// Answers `name` at intake (直接办结) with `answer`.
    pub(crate) async fn resolve_at_intake(&mut self, name: &str, answer: &str) -> pb::Ticket {
        self.tickets
            .resolve_at_intake(authed(
                &self.token,
                pb::ResolveAtIntakeRequest {
                    name: name.into(),
                    answer: answer.into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .ticket
            .unwrap()
    }

    pub(crate) async fn dispatch_to(
        &mut self,
        name: &str,
        unit: &str,
    ) -> Result<pb::Ticket, tonic::Status> {
        self.dispatch_with(name, unit, &[]).await
    }

    /// Dispatches to `lead` with co-handling units `co` (unit ids).
    pub(crate) async fn dispatch_with(
        &mut self,
        name: &str,
        lead: &str,
        co: &[&str],
    ) -> Result<pb::Ticket, tonic::Status> {
        self.dispatch
            .dispatch_ticket(authed(
                &self.token,
                pb::DispatchTicketRequest {
                    name: name.into(),
                    lead_unit: format!("units/{lead}"),
                    co_units: co.iter().map(|u| format!("units/{u}")).collect(),
                    note: "按责转办".into(),
                    ..Default::default()
                },
            ))
            .await
            .map(|r| r.into_inner().ticket.unwrap())
    }

    pub(crate) async fn sign(&mut self, name: &str) -> Result<pb::Ticket, tonic::Status> {
        self.dispatch
            .sign_ticket(authed(
                &self.token,
                pb::SignTicketRequest {
                    name: name.into(),
                    ..Default::default()
                },
            ))
            .await
            .map(|r| r.into_inner().ticket.unwrap())
    }

    pub(crate) async fn reply(
        &mut self,
        name: &str,
        text: &str,
    ) -> Result<pb::Ticket, tonic::Status> {
        self.dispatch
            .reply_ticket(authed(
                &self.token,
                pb::ReplyTicketRequest {
                    name: name.into(),
                    reply: text.into(),
                    contacted_citizen: true,
                    ..Default::default()
                },
            ))
            .await
            .map(|r| r.into_inner().ticket.unwrap())
    }

    pub(crate) async fn events(&mut self, name: &str) -> Vec<pb::TicketEvent> {
        self.tickets
            .list_ticket_events(authed(
                &self.token,
                pb::ListTicketEventsRequest {
                    parent: name.into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .events
    }
}
