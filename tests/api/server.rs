//! Server behaviour around the services: shutdown draining and grpc-web.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::helpers::{TestAppParts, assert_stopped_promptly, spawn_app_configured};

/// A health Watch open at shutdown hears NOT_SERVING, then its stream
/// ends, so it does not hold the drain: the server stops long before its
/// 30 s grace period.
#[tokio::test]
async fn shutdown_reports_not_serving_then_ends_health_watches() {
    let app = spawn_app_configured(|s| s.server.shutdown_grace_secs = 30).await;
    let mut health = HealthClient::new(app.channel.clone());
    let mut watch = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::Serving as i32);
    let TestAppParts { shutdown, server } = app.into_parts();
    let asked = tokio::time::Instant::now();
    shutdown.send(()).unwrap();
    let next = tokio::time::timeout(Duration::from_secs(5), watch.message())
        .await
        .unwrap();
    match next {
        Ok(Some(msg)) => assert_eq!(msg.status, ServingStatus::NotServing as i32),
        other => panic!("expected NOT_SERVING before the stream ends, got {other:?}"),
    }
    let end = tokio::time::timeout(Duration::from_secs(5), watch.message())
        .await
        .expect("the watch ended at shutdown");
    assert!(matches!(end, Ok(None)), "a clean end of stream: {end:?}");
    assert_stopped_promptly(
        server,
        asked,
        "the server stopped without waiting out its grace",
    )
    .await;
}

#[tokio::test]
async fn grpc_web_and_cors_when_enabled() {
    let app = spawn_app_configured(|s| s.server.grpc_web = true).await;
    let mut stream = tokio::net::TcpStream::connect(app.local_addr)
        .await
        .unwrap();
    let preflight = "OPTIONS /hotline.v1.TicketService/GetTicket HTTP/1.1\r\nHost: x\r\n\
        Origin: https://console.example\r\nAccess-Control-Request-Method: POST\r\n\
        Access-Control-Request-Headers: content-type,x-grpc-web,authorization\r\nConnection: close\r\n\r\n";
    stream.write_all(preflight.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let lower = response.to_lowercase();
    assert!(lower.starts_with("http/1.1 200"), "{response}");
    assert!(
        lower.contains("access-control-allow-origin: https://console.example"),
        "{response}"
    );

    // A grpc-web call without a token: HTTP 200 with grpc-status 16 (UNAUTHENTICATED).
    let mut stream = tokio::net::TcpStream::connect(app.local_addr)
        .await
        .unwrap();
    let body = [0u8, 0, 0, 0, 0];
    let request = format!(
        "POST /hotline.v1.TicketService/GetTicket HTTP/1.1\r\nHost: x\r\nContent-Type: application/grpc-web+proto\r\n\
         X-Grpc-Web: 1\r\nOrigin: https://console.example\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.write_all(&body).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).to_lowercase();
    assert!(text.starts_with("http/1.1 200"), "{text}");
    assert!(text.contains("grpc-status: 16"), "{text}");
    assert!(text.contains("access-control-expose-headers"), "{text}");
}
