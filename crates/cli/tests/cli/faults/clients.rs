//! The clients of the fault test: loaders creating tickets with retries,
//! and watchers following `WatchTickets` with resume tokens.

use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use hotline::proto::v1::{self as pb, ticket_service_client::TicketServiceClient};
use tokio_stream::StreamExt;
use tonic::{Code, transport::Channel};

/// The region every ticket names (the demo city's district A1区).
const REGION: &str = "430102";

/// The replicas' addresses; clients pick among the live ones.
#[derive(Default)]
pub(super) struct Replicas {
    pub(super) addrs: Mutex<Vec<SocketAddr>>,
    next: AtomicUsize,
}

impl Replicas {
    fn pick(&self) -> SocketAddr {
        let addrs = self.addrs.lock().unwrap();
        addrs[self.next.fetch_add(1, Ordering::Relaxed) % addrs.len()]
    }

    pub(super) fn replace(&self, old: SocketAddr, new: Option<SocketAddr>) {
        let mut addrs = self.addrs.lock().unwrap();
        addrs.retain(|a| *a != old);
        addrs.extend(new);
    }
}

async fn client(addr: SocketAddr) -> Option<TicketServiceClient<Channel>> {
    let endpoint = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(10));
    endpoint.connect().await.ok().map(TicketServiceClient::new)
}

fn authed<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

/// What the clients saw.
#[derive(Default)]
pub(super) struct Tally {
    /// Requests begun (one `request_id` each).
    pub(super) sent: usize,
    /// `request_id` → the ticket its OK answer named.
    pub(super) acked: HashMap<String, String>,
    /// Answers by code, retries included; `connect` for no connection.
    pub(super) codes: BTreeMap<String, usize>,
    /// Requests given up after every retry failed.
    pub(super) abandoned: usize,
    /// The first INTERNAL answers' messages.
    pub(super) internal: Vec<String>,
}

/// Creates tickets until `stop`, retrying each with its `request_id` on
/// any failure a client would retry (and on INTERNAL, to count it).
pub(super) async fn load(
    replicas: Arc<Replicas>,
    token: String,
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
) {
    while !stop.load(Ordering::Relaxed) {
        let request_id = uuid::Uuid::now_v7().to_string();
        tally.lock().unwrap().sent += 1;
        let mut done = false;
        for _ in 0..200 {
            let Some(mut client) = client(replicas.pick()).await else {
                *tally
                    .lock()
                    .unwrap()
                    .codes
                    .entry("connect".into())
                    .or_default() += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let ticket = pb::Ticket {
                channel: pb::Channel::Phone as i32,
                caller: Some(pb::Caller {
                    name: "故障测试".into(),
                    phone: "13800131234".into(),
                    anonymous: false,
                }),
                request_type: pb::RequestType::Complaint as i32,
                urgency: pb::Urgency::Normal as i32,
                region_code: REGION.into(),
                address: "A1区人民路 1 号".into(),
                title: "施工噪音扰民".into(),
                description: "夜间施工噪音很大。".into(),
                ..Default::default()
            };
            let answer = client
                .create_ticket(authed(
                    &token,
                    pb::CreateTicketRequest {
                        ticket: Some(ticket),
                        request_id: request_id.clone(),
                    },
                ))
                .await;
            let code = match &answer {
                Ok(_) => Code::Ok,
                Err(status) => status.code(),
            };
            {
                let mut t = tally.lock().unwrap();
                *t.codes.entry(format!("{code:?}")).or_default() += 1;
                if let Err(status) = &answer
                    && status.code() == Code::Internal
                    && t.internal.len() < 5
                {
                    t.internal.push(status.message().to_owned());
                }
                match answer {
                    Ok(created) => {
                        t.acked.insert(
                            request_id.clone(),
                            created
                                .into_inner()
                                .ticket
                                .map(|t| t.name)
                                .unwrap_or_default(),
                        );
                        done = true;
                    }
                    Err(status)
                        if matches!(
                            status.code(),
                            Code::InvalidArgument | Code::PermissionDenied | Code::Unauthenticated
                        ) =>
                    {
                        panic!("a request the server should accept: {status:?}");
                    }
                    Err(_) => {}
                }
            }
            if done {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !done {
            tally.lock().unwrap().abandoned += 1;
        }
    }
}

/// What a watcher received: (ticket, sequence) in order, and how its
/// streams ended.
#[derive(Default)]
pub(super) struct Watched {
    pub(super) events: Vec<(String, i64)>,
    pub(super) ends: BTreeMap<String, usize>,
}

/// Follows `WatchTickets` until `stop`, starting on `start` and
/// reconnecting after any end with the last resume token it received: to
/// `fixed` if given, else to any live replica.
pub(super) async fn watch(
    replicas: Arc<Replicas>,
    start: SocketAddr,
    fixed: Option<SocketAddr>,
    token: String,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Watched>>,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    let mut resume = String::new();
    let mut next_addr = Some(start);
    while !stop.load(Ordering::Relaxed) {
        let addr = next_addr
            .take()
            .or(fixed)
            .unwrap_or_else(|| replicas.pick());
        let Some(mut client) = client(addr).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let started = client
            .watch_tickets(authed(
                &token,
                pb::WatchTicketsRequest {
                    kinds: Vec::new(),
                    resume_token: resume.clone(),
                },
            ))
            .await;
        let mut stream = match started {
            Ok(stream) => stream.into_inner(),
            Err(status) => {
                *seen
                    .lock()
                    .unwrap()
                    .ends
                    .entry(format!("{:?}", status.code()))
                    .or_default() += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        if let Some(ready) = ready.take() {
            let _ = ready.send(());
        }
        loop {
            let next = tokio::select! {
                next = stream.next() => next,
                () = tokio::time::sleep(Duration::from_millis(200)) => {
                    if stop.load(Ordering::Relaxed) { return; }
                    continue;
                }
            };
            match next {
                Some(Ok(event)) => {
                    resume = event.resume_token.clone();
                    seen.lock()
                        .unwrap()
                        .events
                        .push((event.ticket, event.sequence));
                }
                Some(Err(status)) => {
                    *seen
                        .lock()
                        .unwrap()
                        .ends
                        .entry(format!("{:?}", status.code()))
                        .or_default() += 1;
                    break;
                }
                None => {
                    *seen
                        .lock()
                        .unwrap()
                        .ends
                        .entry("closed".into())
                        .or_default() += 1;
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
