//! `hotline.v1.AttachmentService`: uploads and downloads of ticket files
//! as gRPC streams, and their metadata. The checks are the use cases'
//! (`crate::service::attachments`).

use std::sync::Arc;

use futures_util::StreamExt;
use tonic::{Request, Response, Status, Streaming};

use super::{
    paging::{self, PageSize},
    streams::ServerStream,
};
use crate::{
    auth::principal,
    domain::attachment::{Attachment, AttachmentId, AttachmentName, UploadDeclaration},
    proto::{
        convert::{at, ticket_id, to_timestamp},
        v1::{
            self as pb, attachment_service_server::AttachmentService, download_attachment_response,
            upload_attachment_request,
        },
    },
    service::{
        ServiceError,
        attachments::{Attachments, NewUpload},
    },
};

/// Page sizes of `ListAttachments`.
const ATTACHMENT_PAGE: PageSize = PageSize {
    default: 50,
    max: 200,
};

/// Implements `AttachmentService`.
#[derive(Debug, Clone)]
pub(crate) struct AttachmentApi {
    attachments: Arc<Attachments>,
}

impl AttachmentApi {
    /// A service over the attachment use cases.
    pub(crate) fn new(attachments: Arc<Attachments>) -> Self {
        Self { attachments }
    }
}

fn to_proto(a: &Attachment) -> pb::Attachment {
    pb::Attachment {
        name: a.name(),
        file_name: a.file_name.clone(),
        content_type: a.content_type.clone(),
        size_bytes: a.size_bytes,
        sha256: a.sha256.clone(),
        shared_with_units: a.shared_with_units,
        uploader: a.uploader.clone(),
        create_time: Some(to_timestamp(a.create_time)),
    }
}

fn attachment_name(name: &str) -> Result<AttachmentName, ServiceError> {
    at(AttachmentName::parse(name), "name")
}

/// The upload's first message, as the use case takes it.
fn new_upload(first: Option<pb::UploadAttachmentRequest>) -> Result<NewUpload, ServiceError> {
    let Some(upload_attachment_request::Payload::Metadata(meta)) = first.and_then(|m| m.payload)
    else {
        return Err(ServiceError::invalid(
            "metadata",
            "the first message of an upload must carry the metadata",
        ));
    };
    Ok(NewUpload {
        ticket: ticket_id(&meta.parent, "metadata.parent")?,
        declaration: UploadDeclaration {
            file_name: meta.file_name,
            content_type: meta.content_type,
            size_bytes: meta.size_bytes,
            sha256: meta.sha256,
        },
        shared_with_units: meta.shared_with_units,
    })
}

#[tonic::async_trait]
impl AttachmentService for AttachmentApi {
    async fn upload_attachment(
        &self,
        request: Request<Streaming<pb::UploadAttachmentRequest>>,
    ) -> Result<Response<pb::UploadAttachmentResponse>, Status> {
        // Authorized by the use case (units upload too).
        let principal = principal(&request)?;
        let mut messages = request.into_inner();
        let new = new_upload(messages.message().await?)?;
        let mut upload = self.attachments.begin_upload(&principal, new).await?;
        loop {
            let failure = match messages.message().await {
                Ok(None) => break,
                Ok(Some(pb::UploadAttachmentRequest {
                    payload: Some(upload_attachment_request::Payload::Chunk(chunk)),
                })) => match upload.write(chunk.into()).await {
                    Ok(()) => continue,
                    Err(e) => Status::from(e),
                },
                Ok(Some(_)) => Status::from(ServiceError::invalid(
                    "chunk",
                    "after the metadata, every message must carry a chunk",
                )),
                // The client went away or sent garbage: nothing is kept.
                Err(status) => status,
            };
            upload.abort().await;
            return Err(failure);
        }
        let attachment = upload.finish().await?;
        Ok(Response::new(pb::UploadAttachmentResponse {
            attachment: Some(to_proto(&attachment)),
        }))
    }

    type DownloadAttachmentStream = ServerStream<pb::DownloadAttachmentResponse>;

    async fn download_attachment(
        &self,
        request: Request<pb::DownloadAttachmentRequest>,
    ) -> Result<Response<Self::DownloadAttachmentStream>, Status> {
        let principal = principal(&request)?;
        let name = attachment_name(&request.get_ref().name)?;
        let (attachment, chunks) = self.attachments.download(&principal, name).await?;
        let first = pb::DownloadAttachmentResponse {
            payload: Some(download_attachment_response::Payload::Attachment(to_proto(
                &attachment,
            ))),
        };
        let chunks = chunks.map(|chunk| {
            chunk
                .map(|bytes| pb::DownloadAttachmentResponse {
                    payload: Some(download_attachment_response::Payload::Chunk(bytes.to_vec())),
                })
                .map_err(Status::from)
        });
        let stream = futures_util::stream::once(async move { Ok(first) }).chain(chunks);
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_attachment(
        &self,
        request: Request<pb::GetAttachmentRequest>,
    ) -> Result<Response<pb::GetAttachmentResponse>, Status> {
        let principal = principal(&request)?;
        let name = attachment_name(&request.get_ref().name)?;
        let attachment = self.attachments.get(&principal, name).await?;
        Ok(Response::new(pb::GetAttachmentResponse {
            attachment: Some(to_proto(&attachment)),
        }))
    }

    async fn list_attachments(
        &self,
        request: Request<pb::ListAttachmentsRequest>,
    ) -> Result<Response<pb::ListAttachmentsResponse>, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let ticket = ticket_id(&req.parent, "parent")?;
        let limit = ATTACHMENT_PAGE.resolve(req.page_size)?;
        let fp = paging::fingerprint(&req);
        let after = match paging::decode::<String>(&req.page_token, &fp)? {
            Some(id) => Some(AttachmentId::parse(&id).map_err(|_| {
                ServiceError::invalid("page_token", "malformed or expired page token")
            })?),
            None => None,
        };
        let (attachments, next) = self
            .attachments
            .list(&principal, ticket, after, limit)
            .await?;
        Ok(Response::new(pb::ListAttachmentsResponse {
            attachments: attachments.iter().map(to_proto).collect(),
            next_page_token: next
                .map(|id| paging::encode(&id.to_string(), &fp))
                .unwrap_or_default(),
        }))
    }

    async fn delete_attachment(
        &self,
        request: Request<pb::DeleteAttachmentRequest>,
    ) -> Result<Response<pb::DeleteAttachmentResponse>, Status> {
        let principal = principal(&request)?;
        let name = attachment_name(&request.get_ref().name)?;
        self.attachments.delete(&principal, name).await?;
        Ok(Response::new(pb::DeleteAttachmentResponse {}))
    }
}
