//! The engine's searches through the server: `SuggestArticles` over gRPC
//! on an in-process server (SQLite temp file, telemetry off) whose
//! database holds the run's articles as published ones, its index rebuilt
//! from them at start as a replica's is. Same articles, same queries, same
//! number of closed-loop workers as the engine's window, so the difference
//! is what the RPC adds: HTTP/2 and protobuf, authentication, validation,
//! the hop to a blocking thread and back, the response.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use clap::Parser;
use tonic::transport::Channel;

use super::Measured;
use crate::{
    options::RunOptions,
    scenarios::{authed, bearer},
    stats::Recorder,
    target::Target,
};
use hotline::{
    domain::{
        Role, UnitId,
        knowledge::{Article, ArticleContent, ArticleEventKind, ArticleId, ArticleState},
    },
    proto::v1::{self as pb, knowledge_service_client::KnowledgeServiceClient},
    store::{NewArticle, Store},
};
use hotline_knowledge::{IndexedArticle, SearchQuery};

/// The report's name of the gRPC window.
pub const OP: &str = "SuggestArticles (gRPC)";

/// Articles stored per transaction.
const ARTICLES_PER_WRITE: usize = 1_000;

/// Longest wait for the server's index to answer.
const INDEX_READY: Duration = Duration::from_secs(600);

/// The in-process server's options: what `hotline bench` would take with
/// `--backend sqlite --telemetry off`, parsed so the defaults stay those of
/// the command line.
#[derive(Debug, Parser)]
struct ServerOptions {
    #[command(flatten)]
    run: RunOptions,
}

/// Stores `articles`, starts the server over them, waits for its index,
/// then runs `workers` closed-loop callers for `warmup` and `window`.
pub async fn measure(
    articles: Vec<IndexedArticle>,
    queries: &[SearchQuery],
    workers: usize,
    warmup: Duration,
    window: Duration,
) -> anyhow::Result<Measured> {
    let workers = workers.max(1).to_string();
    let run = ServerOptions::try_parse_from([
        "bench",
        "--backend",
        "sqlite",
        "--telemetry",
        "off",
        "--concurrency",
        &workers,
    ])?
    .run;
    eprintln!(
        "{OP}: storing {} articles, starting a server ...",
        articles.len()
    );
    let target = Target::open_prepared(&run, |store| store_published(store, articles)).await?;
    let result = async {
        let token = bearer(
            &target
                .tokens
                .token("bench-agent", Role::Agent, None, None)?,
        )?;
        let channels: Vec<Channel> = (0..run.workers()).map(|i| target.channel(i)).collect();
        let ready = Instant::now();
        wait_for_index(&channels[0], &token, &queries[0]).await?;
        eprintln!(
            "{OP}: index ready after {:.1} s; {} s warm-up, {} s measured ...",
            ready.elapsed().as_secs_f64(),
            warmup.as_secs_f64(),
            window.as_secs_f64()
        );
        closed_loop(&channels, &token, queries, warmup).await;
        let (recorder, hits) = closed_loop(&channels, &token, queries, window).await;
        let summary = recorder.summary(window);
        Ok(Measured {
            op: OP,
            mean_hits: hits as f64 / summary.ok.max(1) as f64,
            summary,
        })
    }
    .await;
    target.close();
    result
}

/// Writes the articles as published version 1, owned by the first unit
/// of the seeded city.
async fn store_published(
    store: Arc<dyn Store>,
    articles: Vec<IndexedArticle>,
) -> anyhow::Result<()> {
    let owner = store
        .list_units(None, None, None, 1)
        .await?
        .into_iter()
        .next()
        .context("the seeded city has no unit to own the articles")?
        .id;
    let now = hotline::domain::Clock::now(&hotline::domain::SystemClock);
    for chunk in articles.chunks(ARTICLES_PER_WRITE) {
        let new: Vec<NewArticle> = chunk.iter().map(|a| published(a, &owner, now)).collect();
        store.create_articles(&new, None).await?;
    }
    Ok(())
}

/// `a` as a published article of `owner`.
fn published(a: &IndexedArticle, owner: &UnitId, now: chrono::DateTime<chrono::Utc>) -> NewArticle {
    let content = ArticleContent {
        title: a.title.clone(),
        body: a.body.clone(),
        subjects: a.subjects.clone(),
        regions: a.regions.clone(),
        tags: a.tags.clone(),
        effective_from: a.effective_from,
        expires_on: a.expires_on,
    };
    let mut article = Article::drafted(
        ArticleId::generate(now),
        owner.clone(),
        content,
        "bench",
        now,
    );
    article.state = ArticleState::Published;
    article.published_version = Some(1);
    NewArticle {
        article,
        event: ArticleEventKind::Created,
        actor_role: "admin".into(),
    }
}

/// The request an agent's console sends for `q`: the text as the
/// description (SuggestArticles joins title and description), the
/// filters, top k.
fn request(q: &SearchQuery) -> pb::SuggestArticlesRequest {
    pb::SuggestArticlesRequest {
        title: String::new(),
        description: q.text.clone(),
        region_code: q.region.clone().unwrap_or_default(),
        subject_code: q.subject.clone().unwrap_or_default(),
        k: i32::try_from(q.limit).unwrap_or(5),
    }
}

/// Asks until the server's index answers with hits (it is built at
/// start): an empty answer or UNAVAILABLE is waited out, any other error
/// ends the run.
async fn wait_for_index(
    channel: &Channel,
    token: &tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
    probe: &SearchQuery,
) -> anyhow::Result<()> {
    let mut client = KnowledgeServiceClient::new(channel.clone());
    let unfiltered = SearchQuery {
        subject: None,
        region: None,
        ..probe.clone()
    };
    let deadline = Instant::now() + INDEX_READY;
    loop {
        let call = client.suggest_articles(authed(token, request(&unfiltered)));
        let waiting = match call.await {
            Ok(r) if !r.get_ref().hits.is_empty() => return Ok(()),
            Ok(_) => "the server's index found nothing".to_owned(),
            Err(status) if status.code() == tonic::Code::Unavailable => status.to_string(),
            Err(status) => return Err(status).context("SuggestArticles refused the probe"),
        };
        anyhow::ensure!(Instant::now() < deadline, "{waiting} after {INDEX_READY:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One closed-loop caller per channel for `length`; recorders merged and
/// the hits counted.
async fn closed_loop(
    channels: &[Channel],
    token: &tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
    queries: &[SearchQuery],
    length: Duration,
) -> (Recorder, u64) {
    let deadline = Instant::now() + length;
    let requests: Arc<Vec<pb::SuggestArticlesRequest>> =
        Arc::new(queries.iter().map(request).collect());
    let tasks: Vec<_> = channels
        .iter()
        .enumerate()
        .map(|(worker, channel)| {
            let mut client = KnowledgeServiceClient::new(channel.clone());
            let (token, requests) = (token.clone(), requests.clone());
            let mut next = worker * requests.len() / channels.len();
            tokio::spawn(async move {
                let (mut recorder, mut hits) = (Recorder::new(), 0u64);
                while Instant::now() < deadline {
                    let req = requests[next % requests.len()].clone();
                    next += 1;
                    let started = Instant::now();
                    match client.suggest_articles(authed(&token, req)).await {
                        Ok(r) => {
                            recorder.ok(started.elapsed());
                            hits += r.get_ref().hits.len() as u64;
                        }
                        Err(status) => recorder.error(&format!("{:?}", status.code())),
                    }
                }
                (recorder, hits)
            })
        })
        .collect();
    let (mut all, mut hits) = (Recorder::new(), 0);
    for task in tasks {
        if let Ok((recorder, n)) = task.await {
            all.merge(&recorder);
            hits += n;
        }
    }
    (all, hits)
}
