//! `grpc.health.v1.Health`: tonic-health's service, whose Watch streams end
//! at shutdown like ours do.
//!
//! tonic-health's Watch streams last as long as its reporter, so an open
//! Watch (a load balancer, a sidecar) would hold the graceful shutdown for
//! the whole grace period. Here each Watch ends when the server shuts
//! down ([`streams::end_at_shutdown`]), after telling the watcher the
//! status the drain published (NOT_SERVING for the readiness names), so
//! the watcher learns why and the drain waits only for unary calls.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use tonic_health::{
    pb::{HealthCheckRequest, HealthCheckResponse, health_server::Health},
    server::{HealthReporter, HealthService},
};

use crate::{
    api::streams::{self, ServerStream},
    service::feed::TicketFeed,
};

/// The health service of one server, its Watch streams bounded by the
/// server's life.
pub(crate) struct DrainingHealth {
    inner: Arc<HealthService>,
    /// Closed when the server shuts down.
    feed: TicketFeed,
}

impl DrainingHealth {
    /// Serves the statuses `reporter` publishes; Watch streams end when
    /// `feed` closes.
    pub(crate) fn new(reporter: HealthReporter, feed: TicketFeed) -> Self {
        Self {
            inner: Arc::new(HealthService::from_health_reporter(reporter)),
            feed,
        }
    }
}

#[tonic::async_trait]
impl Health for DrainingHealth {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        self.inner.check(request).await
    }

    type WatchStream = ServerStream<HealthCheckResponse>;

    /// The status now and at each change (repeats dropped), until
    /// shutdown; then the status
    /// the shutdown left, unless the watcher has just been sent it, and
    /// the end of the stream (OK: the watch did its job; the client's
    /// next call finds the server gone or another replica).
    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let service = request.get_ref().service.clone();
        let updates = self.inner.watch(request).await?.into_inner();
        let sent = Arc::new(std::sync::Mutex::new(None::<i32>));
        // tonic-health sends on every publish, changed or not (readiness
        // publishes every name at once); the protocol sends a status when
        // it changes, so repeats are dropped.
        let updates = tokio_stream::StreamExt::filter_map(updates, {
            let sent = sent.clone();
            move |update| match &update {
                Ok(response) => {
                    let mut sent = sent.lock().unwrap_or_else(|e| e.into_inner());
                    (sent.replace(response.status) != Some(response.status)).then_some(update)
                }
                Err(_) => Some(update),
            }
        });
        let inner = self.inner.clone();
        let stream = streams::end_at_shutdown(&self.feed, updates, move || async move {
            let now = inner
                .check(Request::new(HealthCheckRequest { service }))
                .await
                .ok()?
                .into_inner();
            let last = *sent.lock().unwrap_or_else(|e| e.into_inner());
            (last != Some(now.status)).then_some(Ok(now))
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

#[cfg(test)]
mod tests {
    use tokio_stream::StreamExt;
    use tonic_health::ServingStatus;

    use super::*;

    async fn watch(health: &DrainingHealth, service: &str) -> ServerStream<HealthCheckResponse> {
        health
            .watch(Request::new(HealthCheckRequest {
                service: service.to_owned(),
            }))
            .await
            .unwrap()
            .into_inner()
    }

    async fn next(stream: &mut ServerStream<HealthCheckResponse>) -> Option<i32> {
        tokio::time::timeout(std::time::Duration::from_secs(5), stream.next())
            .await
            .expect("an item or the end within 5 s")
            .map(|r| r.unwrap().status)
    }

    #[tokio::test]
    async fn a_watch_hears_changes_once_and_ends_at_shutdown_on_the_status_left() {
        let reporter = HealthReporter::new();
        let feed = TicketFeed::default();
        let health = DrainingHealth::new(reporter.clone(), feed.clone());
        let mut server = watch(&health, "").await;
        assert_eq!(next(&mut server).await, Some(ServingStatus::Serving as i32));
        // Published again unchanged, then changed: one message.
        reporter
            .set_service_status("", ServingStatus::Serving)
            .await;
        reporter
            .set_service_status("", ServingStatus::NotServing)
            .await;
        assert_eq!(
            next(&mut server).await,
            Some(ServingStatus::NotServing as i32)
        );

        reporter
            .set_service_status("", ServingStatus::Serving)
            .await;
        assert_eq!(next(&mut server).await, Some(ServingStatus::Serving as i32));
        // The drain publishes NOT_SERVING, then closes; a watcher that had
        // not read the change yet still hears it before the end.
        reporter
            .set_service_status("", ServingStatus::NotServing)
            .await;
        feed.close();
        assert_eq!(
            next(&mut server).await,
            Some(ServingStatus::NotServing as i32)
        );
        assert_eq!(next(&mut server).await, None);

        // A watch opened after the close: the status, then the end.
        let mut late = watch(&health, "").await;
        assert_eq!(
            next(&mut late).await,
            Some(ServingStatus::NotServing as i32)
        );
        assert_eq!(next(&mut late).await, None);
    }
}
