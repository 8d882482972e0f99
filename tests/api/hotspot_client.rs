//! The HotspotService client of the hotspot tests: one principal's calls,
//! surges of similar tickets made through CreateTicket, and waiting for the
//! detector (a background task) to record what it finds.

use std::time::{Duration, Instant};

use hotline::{
    config::Settings,
    proto::v1::{self as pb, hotspot_service_client::HotspotServiceClient},
};
use tonic::{Status, Streaming, transport::Channel};

use crate::helpers::{As, TestApp, authed, complaint};

/// Paraphrases of one matter: the water cut off in one housing estate.
pub(crate) const WATER: [(&str, &str); 6] = [
    (
        "翠苑小区停水",
        "翠苑小区从昨晚开始停水，到现在还没来水，家里做饭都成问题",
    ),
    (
        "翠苑小区突然停水",
        "翠苑小区昨晚突然停水了，现在还没有来水，没法做饭洗漱",
    ),
    (
        "小区停水没通知",
        "翠苑小区从昨天晚上停水到现在，事先没有任何通知，做饭都没水",
    ),
    (
        "翠苑小区一直停水",
        "翠苑小区昨晚开始停水，一直没来水，也没人通知，请尽快恢复供水",
    ),
    (
        "反映翠苑小区停水",
        "翠苑小区从昨晚停水至今，生活用水都没有，请自来水公司尽快处理",
    ),
    (
        "翠苑小区停水一天",
        "翠苑小区昨晚起停水，到现在还没来水，老人小孩都没水用",
    ),
];

/// Paraphrases of another matter: a bus line stopped.
pub(crate) const BUS: [(&str, &str); 4] = [
    (
        "32路公交停运",
        "今天早上开始32路公交车停运了，站台等了一个小时没有车",
    ),
    (
        "32路公交车停运",
        "32路公交车今天早上停运，没有任何通知，站台上很多人在等",
    ),
    (
        "公交32路停运没通知",
        "32路公交今天早上停运了，没有通知，等了一个小时",
    ),
    (
        "反映32路公交车停运",
        "32路公交车从今天早上停运，站台等车的人很多，请公交公司解释",
    ),
];

/// Unrelated requests of the same street.
pub(crate) const OTHERS: [(&str, &str); 2] = [
    ("路灯不亮", "小区门口的路灯坏了一周，晚上很黑"),
    ("物业乱收停车费", "物业公司擅自上调停车费，业主不同意"),
];

/// The test detector: reads every 50 ms, and three similar tickets from
/// three callers within two hours make a hotspot (the thresholds come from
/// configuration, as in production).
pub(crate) fn quick(s: &mut Settings) {
    s.hotspots.poll_interval_ms = 50;
    s.hotspots.watch_poll_ms = 50;
    s.hotspots.detector.min_count = 3;
    s.hotspots.detector.min_callers = 3;
}

/// A principal's hotspot calls.
#[derive(Clone)]
pub(crate) struct Hot {
    token: String,
    client: HotspotServiceClient<Channel>,
}

impl As {
    /// This principal's hotspot client.
    pub(crate) fn hot(&self) -> Hot {
        Hot {
            token: self.token.clone(),
            client: HotspotServiceClient::new(self.channel()),
        }
    }
}

/// Adds the streets of the surges to the directory (`seed_directory`
/// first).
pub(crate) async fn add_streets(app: &TestApp) {
    app.add_regions(&["330106001", "330106002"]).await;
}

/// Creates one ticket per text in `street`, each from its own caller
/// (phones from `first_phone` up), a second apart on the test clock;
/// returns their names in order.
pub(crate) async fn surge(
    app: &TestApp,
    street: &str,
    texts: &[(&str, &str)],
    first_phone: u32,
) -> Vec<String> {
    let mut agent = app.agent();
    let mut names = Vec::new();
    for (i, (title, description)) in texts.iter().enumerate() {
        let mut t = complaint();
        t.region_code = street.into();
        t.title = (*title).into();
        t.description = (*description).into();
        t.caller = Some(pb::Caller {
            name: "市民".into(),
            phone: format!("1390000{:04}", first_phone + u32::try_from(i).unwrap()),
            anonymous: false,
        });
        names.push(agent.create(t).await.name);
        app.clock.advance(chrono::TimeDelta::seconds(1));
    }
    names
}

impl Hot {
    pub(crate) async fn list(
        &mut self,
        req: pb::ListHotspotsRequest,
    ) -> Result<pb::ListHotspotsResponse, Status> {
        self.client
            .list_hotspots(authed(&self.token, req))
            .await
            .map(|r| r.into_inner())
    }

    /// Every hotspot in scope, newest first.
    pub(crate) async fn all(&mut self) -> Vec<pb::Hotspot> {
        self.list(pb::ListHotspotsRequest {
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .hotspots
    }

    /// Polls the list until `done` holds of it (at most 15 s).
    pub(crate) async fn wait_until(
        &mut self,
        what: &str,
        done: impl Fn(&[pb::Hotspot]) -> bool,
    ) -> Vec<pb::Hotspot> {
        let started = Instant::now();
        loop {
            let all = self.all().await;
            if done(&all) {
                return all;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "not within 15 s: {what}; hotspots: {all:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) async fn get(&mut self, name: &str) -> Result<pb::Hotspot, Status> {
        self.client
            .get_hotspot(authed(
                &self.token,
                pb::GetHotspotRequest { name: name.into() },
            ))
            .await
            .map(|r| r.into_inner().hotspot.unwrap())
    }

    pub(crate) async fn confirm(
        &mut self,
        req: pb::ConfirmHotspotRequest,
    ) -> Result<pb::Hotspot, Status> {
        self.client
            .confirm_hotspot(authed(&self.token, req))
            .await
            .map(|r| r.into_inner().hotspot.unwrap())
    }

    pub(crate) async fn dismiss(
        &mut self,
        name: &str,
        reason: &str,
    ) -> Result<pb::Hotspot, Status> {
        self.client
            .dismiss_hotspot(authed(
                &self.token,
                pb::DismissHotspotRequest {
                    name: name.into(),
                    reason: reason.into(),
                    ..Default::default()
                },
            ))
            .await
            .map(|r| r.into_inner().hotspot.unwrap())
    }

    pub(crate) async fn merge(
        &mut self,
        name: &str,
        target: &str,
    ) -> Result<pb::MergeHotspotsResponse, Status> {
        self.client
            .merge_hotspots(authed(
                &self.token,
                pb::MergeHotspotsRequest {
                    name: name.into(),
                    target: target.into(),
                    ..Default::default()
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    pub(crate) async fn watch(
        &mut self,
        resume_token: &str,
    ) -> Result<Streaming<pb::WatchHotspotsResponse>, Status> {
        self.client
            .watch_hotspots(authed(
                &self.token,
                pb::WatchHotspotsRequest {
                    resume_token: resume_token.into(),
                },
            ))
            .await
            .map(|r| r.into_inner())
    }
}

/// The confirmation of `name` with a note.
pub(crate) fn confirmation(name: &str) -> pb::ConfirmHotspotRequest {
    pb::ConfirmHotspotRequest {
        name: name.into(),
        note: "已通知自来水公司抢修".into(),
        ..Default::default()
    }
}
