//! A webhook receiver for the tests: a real HTTP/1 server on 127.0.0.1
//! that records every request and answers as scripted (ok, 500, slow).
//! It fails the test, never skips it, when it cannot start.

use std::{
    collections::VecDeque,
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, body::Bytes, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;

/// How the receiver answers one request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reply {
    /// 200.
    Ok,
    /// This status, with a short body.
    Status(u16),
    /// 200, after this long (past the worker's timeout, it gives up).
    Slow(Duration),
}

/// One request received.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) signature: String,
    pub(crate) event_id: String,
    pub(crate) body: Vec<u8>,
}

impl Received {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Debug)]
struct State {
    script: VecDeque<Reply>,
    default: Reply,
    received: Vec<Received>,
}

/// A running receiver.
#[derive(Debug, Clone)]
pub(crate) struct Receiver {
    pub(crate) addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl Receiver {
    /// Starts a receiver answering `script` in order, then `default`.
    pub(crate) async fn start(script: &[Reply], default: Reply) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the webhook receiver could not bind 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            script: script.iter().copied().collect(),
            default,
            received: Vec::new(),
        }));
        let shared = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(state.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, state }
    }

    /// The URL to subscribe.
    pub(crate) fn url(&self) -> String {
        format!("http://{}/hooks", self.addr)
    }

    /// Everything received so far.
    pub(crate) fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Waits (10 s at most) until `n` requests arrived; returns them.
    pub(crate) async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.received();
            if got.len() >= n || tokio::time::Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn handle(
    state: Arc<Mutex<State>>,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let signature = header("x-hotline-signature");
    let event_id = header("x-hotline-event-id");
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let reply = {
        let mut s = state.lock().unwrap();
        s.received.push(Received {
            signature,
            event_id,
            body,
        });
        let default = s.default;
        s.script.pop_front().unwrap_or(default)
    };
    let (status, text) = match reply {
        Reply::Ok => (200, "ok"),
        Reply::Status(code) => (code, "receiver says no"),
        Reply::Slow(wait) => {
            tokio::time::sleep(wait).await;
            (200, "late")
        }
    };
    Ok(Response::builder()
        .status(status)
        .body(Full::new(Bytes::from_static(text.as_bytes())))
        .unwrap())
}
