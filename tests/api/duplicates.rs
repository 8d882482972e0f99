//! Duplicate candidates (ListDuplicateCandidates) through the gRPC client:
//! the same caller within N days, or open in the same place with similar
//! text, scored, with the reason. SQLite here, PostgreSQL in CI's leg.

use hotline::proto::v1 as pb;

use crate::{
    helpers::{As, authed, error_reason, spawn_app},
    merge::{NOISE, NOISE_AGAIN, call, pii_reads},
};

impl As {
    pub(crate) async fn candidates(
        &mut self,
        req: pb::ListDuplicateCandidatesRequest,
    ) -> Result<Vec<pb::DuplicateCandidate>, tonic::Status> {
        self.dispatch
            .list_duplicate_candidates(authed(&self.token, req))
            .await
            .map(|r| r.into_inner().candidates)
    }
}

#[tokio::test]
async fn candidates_are_the_same_caller_or_similar_text_nearby_with_the_reason() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let probe = agent.create(call("13800000001", NOISE.0, NOISE.1)).await;
    let similar = agent
        .create(call("13900000002", NOISE_AGAIN.0, NOISE_AGAIN.1))
        .await;
    let same_caller = agent
        .create(call(
            "13800000001",
            "小区停水",
            "天目山路小区从早上停水到现在",
        ))
        .await;
    let unrelated = agent
        .create(call(
            "13700000003",
            "垃圾未清运",
            "学院路口垃圾桶满了三天没人清运",
        ))
        .await;
    let mut elsewhere = call("13600000004", NOISE_AGAIN.0, NOISE_AGAIN.1);
    elsewhere.region_code = "330106".into();
    let elsewhere = agent.create(elsewhere).await;

    let reads = pii_reads(&app, &same_caller.name).await;
    let found = agent
        .candidates(pb::ListDuplicateCandidatesRequest {
            name: probe.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let names: Vec<&str> = found
        .iter()
        .map(|c| c.ticket.as_ref().unwrap().name.as_str())
        .collect();
    assert!(names.contains(&similar.name.as_str()), "{names:?}");
    assert!(names.contains(&same_caller.name.as_str()), "{names:?}");
    for absent in [&probe.name, &unrelated.name, &elsewhere.name] {
        assert!(!names.contains(&absent.as_str()), "{absent} in {names:?}");
    }
    let by_name = |n: &str| {
        found
            .iter()
            .find(|c| c.ticket.as_ref().unwrap().name == n)
            .unwrap()
    };
    let text = by_name(&similar.name);
    assert_eq!(
        text.reasons,
        [pb::DuplicateReason::SamePlaceSimilarText as i32]
    );
    assert!(text.text_similarity > 0.15 && text.score > 0.0);
    let caller = by_name(&same_caller.name);
    assert_eq!(caller.reasons, [pb::DuplicateReason::SameCaller as i32]);
    assert!(
        found.windows(2).all(|w| w[0].score >= w[1].score),
        "best first"
    );
    assert!(
        caller
            .ticket
            .as_ref()
            .unwrap()
            .caller
            .as_ref()
            .unwrap()
            .phone
            .contains('*'),
        "callers masked as in lists"
    );
    assert_eq!(
        pii_reads(&app, &same_caller.name).await,
        reads + 1,
        "showing the same caller is a recorded read"
    );

    // A draft at intake: the same caller with the same text comes first.
    let draft = call("13800000001", NOISE.0, NOISE.1);
    let found = agent
        .candidates(pb::ListDuplicateCandidatesRequest {
            draft: Some(draft),
            within_days: 3,
            page_size: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 2, "page_size bounds the list");
    let top = &found[0];
    assert_eq!(top.ticket.as_ref().unwrap().name, probe.name);
    assert_eq!(
        top.reasons,
        [
            pb::DuplicateReason::SameCaller as i32,
            pb::DuplicateReason::SamePlaceSimilarText as i32
        ]
    );

    // Bad requests.
    let err = agent
        .candidates(pb::ListDuplicateCandidatesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(error_reason(&err).1, vec!["name".to_owned()]);
    let err = agent
        .candidates(pb::ListDuplicateCandidatesRequest {
            name: probe.name.clone(),
            within_days: 365,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(error_reason(&err).1, vec!["within_days".to_owned()]);
    let err = agent
        .candidates(pb::ListDuplicateCandidatesRequest {
            draft: Some(pb::Ticket {
                region_code: "33".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(error_reason(&err).1, vec!["draft.region_code".to_owned()]);
}

/// The window and the states: a ticket of the same caller older than
/// `within_days` is not a candidate, nor is a similar ticket of the same
/// place that is no longer open (answered at intake), while the same
/// caller's ticket inside the window is, whatever its state.
#[tokio::test]
async fn candidates_keep_to_the_window_and_similar_text_to_open_tickets() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let old = agent
        .create(call("13800000001", "小区停水", "天目山路小区停水"))
        .await;
    app.clock.advance(chrono::TimeDelta::days(10));
    let answered = agent
        .create(call("13900000002", NOISE_AGAIN.0, NOISE_AGAIN.1))
        .await;
    agent
        .resolve_at_intake(&answered.name, "已告知施工许可时段。")
        .await;
    let recent = agent
        .create(call("13800000001", "路灯不亮", "学院路路灯坏了一周"))
        .await;

    let names = |found: Vec<pb::DuplicateCandidate>| -> Vec<String> {
        found.into_iter().map(|c| c.ticket.unwrap().name).collect()
    };
    let draft = |days| pb::ListDuplicateCandidatesRequest {
        draft: Some(call("13800000001", NOISE.0, NOISE.1)),
        within_days: days,
        ..Default::default()
    };
    let found = names(agent.candidates(draft(7)).await.unwrap());
    assert_eq!(found, vec![recent.name.clone()], "7 days back");
    let found = names(agent.candidates(draft(30)).await.unwrap());
    assert!(found.contains(&old.name), "30 days back: {found:?}");
    assert!(found.contains(&recent.name), "{found:?}");
    assert!(
        !found.contains(&answered.name),
        "a closed ticket of similar text is no candidate: {found:?}"
    );

    // The same caller's ticket is one whatever its state.
    let found = names(
        agent
            .candidates(pb::ListDuplicateCandidatesRequest {
                draft: Some(call("13900000002", "来电", "其他事项")),
                within_days: 7,
                ..Default::default()
            })
            .await
            .unwrap(),
    );
    assert_eq!(found, vec![answered.name.clone()]);
}

/// The names of the candidates for a draft of another caller with `text`.
async fn found_for(agent: &mut As, text: (&str, &str)) -> Vec<String> {
    let found = agent
        .candidates(pb::ListDuplicateCandidatesRequest {
            draft: Some(call("13500000009", text.0, text.1)),
            within_days: 3,
            ..Default::default()
        })
        .await
        .unwrap();
    found.into_iter().map(|c| c.ticket.unwrap().name).collect()
}

/// A ticket whose description is corrected is compared by its new text:
/// found for a request like the new text, no longer for one like the old.
#[tokio::test]
async fn a_corrected_description_is_found_by_its_new_text_not_its_old() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let water = ("小区停水", "天目山路小区从早上停水到现在，也没有通知");
    let ticket = agent.create(call("13900000002", "来电反映", water.1)).await;
    assert_eq!(
        found_for(&mut agent, water).await,
        vec![ticket.name.clone()]
    );
    assert!(found_for(&mut agent, NOISE_AGAIN).await.is_empty());

    let updated = agent
        .tickets
        .update_ticket(authed(
            &agent.token,
            pb::UpdateTicketRequest {
                ticket: Some(pb::Ticket {
                    name: ticket.name.clone(),
                    description: NOISE.1.into(),
                    etag: ticket.etag.clone(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["description".into()],
                }),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(updated.description, NOISE.1);
    assert_eq!(
        found_for(&mut agent, NOISE_AGAIN).await,
        vec![ticket.name.clone()],
        "the new text"
    );
    assert!(
        found_for(&mut agent, water).await.is_empty(),
        "not the old text"
    );
}
