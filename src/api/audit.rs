//! `hotline.v1.AuditService`: the PII access log for auditors and the
//! centre admin.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::paging::{self, PageSize};
use crate::{
    auth::principal,
    domain::{TicketId, ticket::reject_nul},
    proto::{
        convert::{at, time_window, to_timestamp},
        v1::{self as pb, audit_service_server::AuditService},
    },
    service::{ServiceError, Workflow},
    store::{PiiAccessCursor, PiiAccessQuery, PiiAccessRecord},
};

/// Page sizes of `ListPiiAccess`.
const ACCESS_PAGE: PageSize = PageSize {
    default: 50,
    max: 500,
};

/// Implements `AuditService`.
#[derive(Debug, Clone)]
pub(crate) struct AuditApi {
    workflow: Arc<Workflow>,
}

impl AuditApi {
    /// A service over the shared workflow.
    pub(crate) fn new(workflow: Arc<Workflow>) -> Self {
        Self { workflow }
    }
}

/// The page token's cursor: the last row's time (µs) and id.
type Cursor = (i64, i64);

fn cursor_of(record: &PiiAccessRecord) -> Cursor {
    (record.time.timestamp_micros(), record.id)
}

fn to_proto(record: &PiiAccessRecord) -> pb::PiiAccess {
    pb::PiiAccess {
        reader: record.subject.clone(),
        role: record.role.clone(),
        purpose: record.purpose.clone(),
        rpc: record.rpc.clone(),
        time: Some(to_timestamp(record.time)),
        tickets: record.tickets.iter().map(TicketId::name).collect(),
    }
}

/// The request's filters as a store query (the cursor aside).
fn query_of(req: &pb::ListPiiAccessRequest, limit: u32) -> Result<PiiAccessQuery, ServiceError> {
    let (from, to) = time_window(
        req.start_time.as_ref(),
        req.end_time.as_ref(),
        ("start_time", "end_time"),
    )?;
    Ok(PiiAccessQuery {
        ticket: match req.ticket.as_str() {
            "" => None,
            name => Some(at(TicketId::from_name(name), "ticket")?),
        },
        subject: match req.reader.as_str() {
            "" => None,
            reader => {
                at(reject_nul(reader), "reader")?;
                Some(reader.to_owned())
            }
        },
        from,
        to,
        after: None,
        limit,
    })
}

#[tonic::async_trait]
impl AuditService for AuditApi {
    async fn list_pii_access(
        &self,
        request: Request<pb::ListPiiAccessRequest>,
    ) -> Result<Response<pb::ListPiiAccessResponse>, Status> {
        // Authorized by the use case, which records the read first.
        let principal = principal(&request)?;
        let req = request.into_inner();
        let limit = ACCESS_PAGE.resolve(req.page_size)?;
        let mut query = query_of(&req, limit)?;
        let fp = paging::fingerprint(&req);
        if let Some((time_us, id)) = paging::decode::<Cursor>(&req.page_token, &fp)? {
            let time = chrono::DateTime::from_timestamp_micros(time_us)
                .ok_or_else(|| ServiceError::invalid("page_token", "malformed page token"))?;
            query.after = Some(PiiAccessCursor { time, id });
        }
        let records = self.workflow.list_pii_access(&principal, &query).await?;
        Ok(Response::new(pb::ListPiiAccessResponse {
            next_page_token: paging::next_token(&records, limit, &fp, cursor_of),
            accesses: records.iter().map(to_proto).collect(),
        }))
    }
}
