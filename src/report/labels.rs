//! Human names for the codes a report shows: request types, channels,
//! first-level subjects and rates. Codes stay in the CSV for machines; the
//! names are for the readers of a published report.

use crate::domain::ticket::{Channel, RequestType};

/// 诉求类型 names (DOMAIN.md §2).
pub fn request_type(t: RequestType) -> &'static str {
    match t {
        RequestType::Enquiry => "咨询",
        RequestType::Help => "求助",
        RequestType::Complaint => "投诉",
        RequestType::Report => "举报",
        RequestType::Suggestion => "建议",
        RequestType::Praise => "表扬",
        RequestType::Other => "其他",
    }
}

/// Intake channel names.
pub fn channel(c: Channel) -> &'static str {
    match c {
        Channel::Phone => "电话",
        Channel::Web => "网站",
        Channel::App => "移动应用",
        Channel::Wechat => "微信",
        Channel::Sms => "短信",
        Channel::Letter => "来信来访",
        Channel::Transfer110 => "110 转接",
    }
}

/// First-level subjects of the default taxonomy (`tests/data/taxonomy.csv`),
/// numbered in file order as `deploy/demo/city.toml` documents. The store
/// keeps no taxonomy table yet, so the numbering lives here; a code outside
/// it is shown as the bare code.
const FIRST_LEVEL_SUBJECTS: [(&str, &str); 15] = [
    ("01", "城乡建设"),
    ("02", "党务政务"),
    ("03", "国土资源"),
    ("04", "环境保护"),
    ("05", "纪检监察"),
    ("06", "交通运输"),
    ("07", "经济管理"),
    ("08", "科技与信息产业"),
    ("09", "民政"),
    ("10", "农村农业"),
    ("11", "商贸旅游"),
    ("12", "卫生计生"),
    ("13", "政法"),
    ("14", "教育文体"),
    ("15", "劳动和社会保障"),
];

/// The label of a first-level subject code (`None`: not classified).
pub fn subject(code: Option<&str>) -> String {
    match code {
        None => "未分类".to_owned(),
        Some(code) => FIRST_LEVEL_SUBJECTS
            .iter()
            .find(|(c, _)| *c == code)
            .map_or_else(|| code.to_owned(), |(_, name)| format!("{code} {name}")),
    }
}

/// The Chinese name of a scorecard rate (DOMAIN.md §6); the code otherwise.
pub fn rate(name: &str) -> &str {
    match name {
        "timely_sign_for" => "签收及时率",
        "on_time_completion" => "按时办结率",
        "completion" => "办结率",
        "return_rate" => "退单率",
        "rehandling_rate" => "重办率",
        "satisfaction" => "满意率",
        "resolution" => "解决率",
        "response" => "响应率",
        "resolved_at_intake" => "直办率",
        "reply_rate" => "办复率",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_name_the_first_level_or_fall_back_to_the_code() {
        assert_eq!(subject(Some("06")), "06 交通运输");
        assert_eq!(subject(Some("15")), "15 劳动和社会保障");
        assert_eq!(subject(Some("99")), "99");
        assert_eq!(subject(None), "未分类");
    }
}
