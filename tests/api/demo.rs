//! The seeded demo city routes real-looking tickets end to end.

use hotline::{demo, domain::Clock, proto::v1 as pb, store::testing::TestBackend};

use crate::helpers::{complaint, spawn_app_on_store};

fn in_a1_dongan(title: &str, description: &str) -> pb::Ticket {
    let mut t = complaint();
    t.region_code = "430102001".into();
    t.title = title.into();
    t.description = description.into();
    t.subject_code = String::new();
    t
}

#[tokio::test]
async fn the_demo_catalogue_routes_by_hotline_street_and_district() {
    let store = TestBackend::from_env().fresh_store().await;
    let city = demo::load().unwrap();
    let clock = hotline::domain::SystemClock;
    hotline::seed::seed_demo(&*store, &city, clock.now())
        .await
        .unwrap();
    let app = spawn_app_on_store(store).await;
    let mut agent = app.agent();

    let mut via_12333 = in_a1_dongan("咨询", "来电人询问相关政策");
    via_12333.legacy_hotline = "12333".into();
    let t = agent.create(via_12333).await;
    assert_eq!(
        (t.lead_unit.as_str(), t.routing_rule.as_str()),
        ("units/human-resources", "rules/hotline-12333")
    );

    let t = agent
        .create(in_a1_dongan("楼上邻居群租", "楼道堆满杂物，群租房人员混杂"))
        .await;
    assert_eq!(
        t.lead_unit, "units/a1-dongan",
        "territorial rule → the street of the region"
    );

    let t = agent
        .create(in_a1_dongan("其他", "来电人反映一般情况"))
        .await;
    assert_eq!(
        t.lead_unit, "units/a1-district",
        "no rule → the district (兜底)"
    );
    assert_eq!(t.routing_source, pb::RoutingSource::DistrictFallback as i32);
}
