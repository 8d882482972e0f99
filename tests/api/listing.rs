//! ListTickets filters and keyset paging through the API.

use chrono::TimeDelta;
use hotline::proto::v1 as pb;

use crate::helpers::{authed, complaint, spawn_app};

#[tokio::test]
async fn list_filters_combine_and_pages_cover_everything_once() {
    let app = spawn_app().await;
    app.seed_directory().await;
    app.add_regions(&["440305"]).await;
    let mut agent = app.agent();
    let mut names = Vec::new();
    for i in 0..7 {
        let mut t = complaint();
        if i % 2 == 1 {
            t.request_type = pb::RequestType::Enquiry as i32;
        }
        if i == 6 {
            t.region_code = "440305".into();
        }
        names.push(agent.create(t).await.name);
        app.clock.advance(TimeDelta::minutes(5));
    }
    agent
        .dispatch_to(&names[0], "market-regulation")
        .await
        .unwrap();
    let start_of_third = app.clock_time_of(&mut agent, &names[2]).await;

    let list = |req: pb::ListTicketsRequest| {
        let mut agent = agent.clone();
        async move {
            agent
                .tickets
                .list_tickets(authed(&agent.token, req))
                .await
                .unwrap()
                .into_inner()
        }
    };
    let by_type = list(pb::ListTicketsRequest {
        request_type: pb::RequestType::Enquiry as i32,
        ..Default::default()
    })
    .await;
    assert_eq!(by_type.tickets.len(), 3);
    let dispatched = list(pb::ListTicketsRequest {
        states: vec![pb::TicketState::Dispatched as i32],
        lead_unit: "units/market-regulation".into(),
        ..Default::default()
    })
    .await;
    let got: Vec<&str> = dispatched.tickets.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(got, [names[0].as_str()]);
    let region = list(pb::ListTicketsRequest {
        region_prefix: "4403".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(region.tickets.len(), 1);
    let recent = list(pb::ListTicketsRequest {
        create_time_from: Some(start_of_third),
        request_type: pb::RequestType::Complaint as i32,
        ..Default::default()
    })
    .await;
    let got: Vec<&str> = recent.tickets.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        got,
        [names[6].as_str(), names[4].as_str(), names[2].as_str()],
        "newest first"
    );

    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = list(pb::ListTicketsRequest {
            page_size: 3,
            page_token: token.clone(),
            ..Default::default()
        })
        .await;
        seen.extend(page.tickets.into_iter().map(|t| t.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut expected = names.clone();
    expected.reverse();
    assert_eq!(seen, expected);

    let err = agent
        .tickets
        .list_tickets(authed(
            &agent.token,
            pb::ListTicketsRequest {
                page_size: 3,
                page_token: list(pb::ListTicketsRequest {
                    page_size: 3,
                    ..Default::default()
                })
                .await
                .next_page_token,
                request_type: pb::RequestType::Enquiry as i32,
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        tonic::Code::InvalidArgument,
        "filters must not change between pages"
    );
}
