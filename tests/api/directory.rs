//! Units and regions.

use hotline::proto::v1 as pb;
use tonic::Code;

use crate::helpers::{authed, error_reason, spawn_app};

fn unit(name: &str, kind: pb::UnitKind, region: &str, parent: &str) -> pb::Unit {
    pb::Unit {
        display_name: name.into(),
        kind: kind as i32,
        region_code: region.into(),
        parent: parent.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn units_and_regions_are_created_read_and_paged() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut admin = app.admin();
    let created = admin
        .directory
        .create_unit(authed(
            &admin.token,
            pb::CreateUnitRequest {
                unit_id: "xihu-district".into(),
                unit: Some(unit("西湖区人民政府", pb::UnitKind::District, "330106", "")),
                request_id: "unit-1".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .unit
        .unwrap();
    assert_eq!(created.name, "units/xihu-district");
    let replay = admin
        .directory
        .create_unit(authed(
            &admin.token,
            pb::CreateUnitRequest {
                unit_id: "xihu-district".into(),
                unit: Some(unit("西湖区人民政府", pb::UnitKind::District, "330106", "")),
                request_id: "unit-1".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .unit
        .unwrap();
    assert_eq!(replay, created, "same request_id replays");
    let dup = admin
        .directory
        .create_unit(authed(
            &admin.token,
            pb::CreateUnitRequest {
                unit_id: "xihu-district".into(),
                unit: Some(unit("重复", pb::UnitKind::District, "330106", "")),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists);

    let child = admin
        .directory
        .create_unit(authed(
            &admin.token,
            pb::CreateUnitRequest {
                unit_id: "lingyin-street".into(),
                unit: Some(unit(
                    "灵隐街道",
                    pb::UnitKind::Street,
                    "330106004",
                    "units/xihu-district",
                )),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .unit
        .unwrap();
    assert_eq!(child.parent, "units/xihu-district");
    let orphan = admin
        .directory
        .create_unit(authed(
            &admin.token,
            pb::CreateUnitRequest {
                unit_id: "orphan".into(),
                unit: Some(unit("孤儿", pb::UnitKind::Street, "330106", "units/nobody")),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (orphan.code(), error_reason(&orphan).1),
        (Code::InvalidArgument, vec!["unit.parent".to_owned()])
    );

    let mut agent = app.agent();
    let got = agent
        .directory
        .get_unit(authed(
            &agent.token,
            pb::GetUnitRequest {
                name: "units/lingyin-street".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .unit
        .unwrap();
    assert_eq!(got, child);
    let missing = agent
        .directory
        .get_unit(authed(
            &agent.token,
            pb::GetUnitRequest {
                name: "units/nobody".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = agent
            .directory
            .list_units(authed(
                &agent.token,
                pb::ListUnitsRequest {
                    page_size: 2,
                    page_token: token.clone(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.units.into_iter().map(|u| u.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(
        seen,
        [
            "units/lingyin-street",
            "units/market-regulation",
            "units/xihu-district",
            "units/xihu-street"
        ]
    );
    let streets = agent
        .directory
        .list_units(authed(
            &agent.token,
            pb::ListUnitsRequest {
                kind: pb::UnitKind::Street as i32,
                region_prefix: "330106".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .units;
    assert_eq!(streets.len(), 2);

    let region = agent
        .directory
        .get_region(authed(
            &agent.token,
            pb::GetRegionRequest {
                name: "regions/330106".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .region
        .unwrap();
    assert_eq!(
        (region.display_name.as_str(), region.parent.as_str()),
        ("西湖区", "regions/330100")
    );
    let regions = agent
        .directory
        .list_regions(authed(
            &agent.token,
            pb::ListRegionsRequest {
                code_prefix: "3301".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .regions;
    assert_eq!(regions.len(), 2);
    let dup_region = admin
        .directory
        .create_region(authed(
            &admin.token,
            pb::CreateRegionRequest {
                region: Some(pb::Region {
                    code: "330106".into(),
                    display_name: "dup".into(),
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(dup_region.code(), Code::AlreadyExists);
}
