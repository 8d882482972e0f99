//! The request size limit, enforced on the gRPC length prefix: a message
//! larger than `server.max_message_bytes` is answered RESOURCE_EXHAUSTED
//! naming the limit as soon as its 5-byte frame header arrives, without
//! reading (or buffering) the rest.
//!
//! Why a layer rather than tonic's own limit: tonic reads the message,
//! then answers OUT_OF_RANGE "decoded message length too large", a code
//! that tells a client its argument is out of range rather than that it
//! hit a limit it can stay under. Tonic's limit stays set to the same
//! value (see `app.rs`) as a backstop.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use http::{Request, Response};
use http_body::Frame;
use http_body_util::BodyExt;
use hyper::body::{Buf, Bytes};
use tonic::{Code, Status, body::Body};
use tonic_types::{ErrorDetails, StatusExt};
use tower::{Layer, Service};

use super::error::ERROR_DOMAIN;

/// Bytes of a gRPC frame header: a compression flag and a big-endian u32
/// length.
const HEADER: usize = 5;

/// Adds [`MessageLimit`] to a service.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MessageLimitLayer {
    max: usize,
}

impl MessageLimitLayer {
    /// Refuses messages longer than `max` bytes.
    pub(crate) fn new(max: usize) -> Self {
        Self { max }
    }
}

impl<S> Layer<S> for MessageLimitLayer {
    type Service = MessageLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MessageLimit {
            inner,
            max: self.max,
        }
    }
}

/// Checks the first message's length prefix before the request reaches
/// the service (every RPC here takes one request message).
#[derive(Debug, Clone)]
pub(crate) struct MessageLimit<S> {
    inner: S,
    max: usize,
}

impl<S> Service<Request<Body>> for MessageLimit<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // The clone that was made ready serves this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let max = self.max;
        Box::pin(async move {
            let (parts, mut body) = request.into_parts();
            let head = match read_header(&mut body).await {
                Ok(head) => head,
                // The client's stream broke; the service reports it.
                Err(_) => Bytes::new(),
            };
            if let Some(length) = message_length(&head)
                && length > max
            {
                return Ok(too_large(length, max));
            }
            let body = Body::new(Prefixed {
                head: (!head.is_empty()).then_some(head),
                rest: body,
            });
            inner.call(Request::from_parts(parts, body)).await
        })
    }
}

/// Reads data frames until a frame header's worth has arrived (or the
/// body ends); returns what was read, to be passed on.
async fn read_header(body: &mut Body) -> Result<Bytes, tonic::Status> {
    let mut head = Vec::with_capacity(HEADER);
    while head.len() < HEADER {
        match body.frame().await {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(mut data) => {
                    while data.has_remaining() {
                        let chunk = data.chunk();
                        head.extend_from_slice(chunk);
                        let n = chunk.len();
                        data.advance(n);
                    }
                }
                // Trailers before any data: nothing more to read.
                Err(_) => break,
            },
            Some(Err(e)) => return Err(e),
            None => break,
        }
    }
    Ok(Bytes::from(head))
}

/// The length a gRPC frame header announces, if `head` holds one.
fn message_length(head: &[u8]) -> Option<usize> {
    let bytes: [u8; 4] = head.get(1..HEADER)?.try_into().ok()?;
    usize::try_from(u32::from_be_bytes(bytes)).ok()
}

fn too_large(length: usize, max: usize) -> Response<Body> {
    let mut details = ErrorDetails::new();
    details.add_quota_failure_violation(
        "request message size",
        format!("at most {max} bytes (server.max_message_bytes)"),
    );
    details.set_error_info(
        "MESSAGE_TOO_LARGE",
        ERROR_DOMAIN,
        [
            ("limit_bytes".to_owned(), max.to_string()),
            ("message_bytes".to_owned(), length.to_string()),
        ],
    );
    Status::with_error_details(
        Code::ResourceExhausted,
        format!("request message of {length} bytes exceeds the limit of {max} bytes"),
        details,
    )
    .into_http()
}

/// A body whose first bytes were read already: `head`, then the rest.
struct Prefixed {
    head: Option<Bytes>,
    rest: Body,
}

impl http_body::Body for Prefixed {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Some(head) = self.head.take() {
            return Poll::Ready(Some(Ok(Frame::data(head))));
        }
        Pin::new(&mut self.rest).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.head.is_none() && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let mut hint = self.rest.size_hint();
        let head = self.head.as_ref().map_or(0, |h| h.len() as u64);
        hint.set_lower(hint.lower() + head);
        if let Some(upper) = hint.upper() {
            hint.set_upper(upper + head);
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_length_is_read_from_a_whole_header_only() {
        assert_eq!(message_length(&[0, 0, 0, 1, 0]), Some(256));
        assert_eq!(message_length(&[1, 0, 0xa0, 0, 0, 9, 9]), Some(0xa0_0000));
        assert_eq!(message_length(&[0, 0, 0, 1]), None);
        assert_eq!(message_length(&[]), None);
    }

    #[test]
    fn the_refusal_names_the_limit() {
        let response = too_large(10_000_000, 4_194_304);
        let status = Status::from_header_map(response.headers()).expect("a status");
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert!(status.message().contains("4194304"), "{}", status.message());
    }
}
