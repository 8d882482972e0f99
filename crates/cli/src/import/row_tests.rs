use chrono::TimeZone;

use super::*;

const MAPPING: &str = r#"
source = "12315"
time_formats = ["%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M"]

[columns]
number = "编号"
created = "登记时间"
dispatched = "派单时间"
caller_phone = "电话"
text = "内容"
category = "分类"
unit = "单位"
state = "状态"
reply = "答复"
replied = "答复时间"
rating = "满意度"

[categories]
"食品安全" = "05.01"

[units]
"市场监管局" = "market-bureau"

[states]
"处理中" = "in_progress"
"已办结" = "closed"

[ratings]
"满意" = "satisfied"
"#;

const HEADER: [&str; 10] = [
    "编号",
    "登记时间",
    "派单时间",
    "电话",
    "内容",
    "分类",
    "单位",
    "状态",
    "答复",
    "答复时间",
];

fn mapping() -> Mapping {
    Mapping::parse(MAPPING).expect("mapping")
}

fn checker(mapping: &Mapping) -> RowChecker<'_> {
    let mut header: Vec<String> = HEADER.iter().map(|s| s.to_string()).collect();
    header.push("满意度".into());
    RowChecker {
        mapping,
        layout: Layout::resolve(mapping, &header).expect("layout"),
        offset: FixedOffset::east_opt(8 * 3600).expect("offset"),
        now: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
    }
}

fn raw(cells: [&str; 11]) -> RawRow {
    RawRow {
        line: 7,
        cells: cells.iter().map(|s| s.to_string()).collect(),
    }
}

fn closed() -> [&'static str; 11] {
    [
        "A-001",
        "2025-03-03 09:00:00",
        "2025/03/03 10:30",
        "13800138000",
        "超市出售过期食品",
        "食品安全",
        "市场监管局",
        "已办结",
        "已查处",
        "2025-03-05 16:00:00",
        "满意",
    ]
}

#[test]
fn a_closed_row_maps_every_field_in_local_time() {
    let m = mapping();
    let row = checker(&m).check(&raw(closed())).expect("valid");
    assert_eq!(row.number, "A-001");
    assert_eq!(
        row.created,
        Utc.with_ymd_and_hms(2025, 3, 3, 1, 0, 0).unwrap()
    );
    assert_eq!(
        row.dispatched,
        Utc.with_ymd_and_hms(2025, 3, 3, 2, 30, 0).unwrap()
    );
    assert_eq!(row.state, ImportState::Closed);
    assert_eq!(row.unit.as_str(), "market-bureau");
    assert_eq!(row.subject.as_ref().map(SubjectCode::as_str), Some("05.01"));
    assert_eq!(row.rating, Some(Satisfaction::Satisfied));
    assert_eq!(row.title, "超市出售过期食品");
    let (reply, at) = row.reply.expect("reply");
    assert_eq!(reply, "已查处");
    assert_eq!(at, Utc.with_ymd_and_hms(2025, 3, 5, 8, 0, 0).unwrap());
    assert!(!row.caller.anonymous);
}

#[test]
fn without_a_phone_the_caller_is_anonymous_and_without_dispatch_time_it_is_the_creation() {
    let m = mapping();
    let mut cells = closed();
    cells[3] = "";
    cells[2] = "";
    let row = checker(&m).check(&raw(cells)).expect("valid");
    assert!(row.caller.anonymous);
    assert_eq!(row.dispatched, row.created);
}

#[test]
fn every_problem_of_a_row_is_reported_with_row_and_column() {
    let m = mapping();
    let mut cells = closed();
    cells[1] = "03/03/2025";
    cells[4] = "";
    cells[6] = "区城管局";
    cells[10] = "还行";
    let problems = checker(&m).check(&raw(cells)).expect_err("bad");
    let columns: Vec<&str> = problems.iter().map(|p| p.column.as_str()).collect();
    assert_eq!(
        columns,
        ["登记时间", "内容", "单位", "满意度"],
        "{problems:?}"
    );
    assert!(problems.iter().all(|p| p.line == 7));
    assert_eq!(problems[2].unmapped, Some(("units", "区城管局".to_owned())));
    assert_eq!(
        problems[0].to_string(),
        "row 7, column 登记时间: \"03/03/2025\" is not a time (%Y-%m-%d %H:%M:%S or %Y/%m/%d %H:%M)"
    );
}

#[test]
fn a_time_as_an_excel_date_cell_reads_whatever_the_formats() {
    let text = MAPPING.replace(
        r#"time_formats = ["%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M"]"#,
        r#"time_formats = ["%Y/%m/%d %H:%M"]"#,
    );
    let m = Mapping::parse(&text).expect("mapping");
    assert_eq!(m.time_formats, ["%Y/%m/%d %H:%M"]);
    let row = checker(&m).check(&raw(closed())).expect("valid");
    assert_eq!(
        row.created,
        Utc.with_ymd_and_hms(2025, 3, 3, 1, 0, 0).unwrap()
    );
}

#[test]
fn times_out_of_order_or_in_the_future_are_refused() {
    let m = mapping();
    let mut cells = closed();
    cells[2] = "2025-03-02 08:00:00";
    let problems = checker(&m)
        .check(&raw(cells))
        .expect_err("dispatch before creation");
    assert!(
        problems.iter().any(|p| p.column == "派单时间"),
        "{problems:?}"
    );
    let mut cells = closed();
    cells[9] = "2027-01-01 00:00:00";
    let problems = checker(&m)
        .check(&raw(cells))
        .expect_err("reply in the future");
    assert!(problems[0].reason.contains("future"), "{problems:?}");
}

#[test]
fn a_closed_row_needs_its_reply_and_an_open_one_does_not() {
    let m = mapping();
    let mut cells = closed();
    cells[8] = "";
    let problems = checker(&m).check(&raw(cells)).expect_err("no reply");
    assert_eq!(problems[0].column, "答复");
    let mut cells = closed();
    cells[7] = "处理中";
    cells[8] = "";
    cells[9] = "";
    let row = checker(&m).check(&raw(cells)).expect("open row");
    assert_eq!(row.state, ImportState::InProgress);
    assert_eq!(row.reply, None);
    assert_eq!(row.rating, None, "ratings count only on closed rows");
}

#[test]
fn an_unmapped_state_or_category_names_the_table() {
    let m = mapping();
    let mut cells = closed();
    cells[5] = "噪音";
    cells[7] = "已归档";
    let problems = checker(&m).check(&raw(cells)).expect_err("unmapped");
    let tables: Vec<_> = problems
        .iter()
        .filter_map(|p| p.unmapped.as_ref().map(|(t, _)| *t))
        .collect();
    assert_eq!(tables, ["categories", "states"]);
}

#[test]
fn a_mapped_column_missing_from_the_file_is_named() {
    let m = mapping();
    let header: Vec<String> = HEADER[..9].iter().map(|s| s.to_string()).collect();
    let err = Layout::resolve(&m, &header).expect_err("missing columns");
    let text = err.to_string();
    assert!(
        text.contains("答复时间") && text.contains("满意度"),
        "{text}"
    );
}

use proptest::prelude::Strategy as _;

proptest::proptest! {
    /// Whatever the cells hold, a row is either a ticket or a list of
    /// problems, each naming the row and a column of the file; never a panic.
    #[test]
    fn any_row_is_a_ticket_or_problems_naming_its_row_and_columns(
        cells in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::string::string_regex(".{0,12}").unwrap(),
                proptest::sample::select(closed().to_vec()).prop_map(str::to_owned),
            ],
            0..12,
        ),
        line in 2u64..1_000_000,
    ) {
        let m = mapping();
        let raw = RawRow { line, cells };
        match checker(&m).check(&raw) {
            Ok(row) => proptest::prop_assert_eq!(row.line, line),
            Err(problems) => {
                proptest::prop_assert!(!problems.is_empty());
                let mut columns: Vec<&str> = HEADER.to_vec();
                columns.push("满意度");
                for p in &problems {
                    proptest::prop_assert_eq!(p.line, line);
                    proptest::prop_assert!(columns.contains(&p.column.as_str()), "{}", p);
                }
            }
        }
    }
}
