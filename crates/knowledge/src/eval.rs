//! Recall on real data (issue 17, part 4): each official reply to a
//! citizen's message is an article, the citizen's message text the query;
//! a query is answered when its own reply ranks in the top k.
//!
//! Replies usually open by restating the citizen's title ("针对您反映…的问题"),
//! which would make matching trivial, so [`strip_restated_title`] removes
//! every clause that quotes the title or holds most of its characters in
//! its order. The rule errs on removing too much (a content clause naming
//! the same place and matter goes too): the figures are a floor.

use std::io::Read;

use chrono::NaiveDate;

use crate::{IndexedArticle, KnowledgeIndex, SearchQuery, query::Tuning};

/// Share of the title's letters and digits a clause must hold, in order, to
/// count as restating it ("most of its characters").
pub const RESTATED_SHARE: f64 = 0.6;

/// One row of `replies-train.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// 留言编号.
    pub id: String,
    /// 留言主题: the citizen's title.
    pub title: String,
    /// 留言详情: the citizen's message text.
    pub message: String,
    /// 答复意见: the official reply.
    pub reply: String,
}

#[derive(Debug, serde::Deserialize)]
struct Row {
    #[serde(rename = "留言编号")]
    id: String,
    #[serde(rename = "留言主题")]
    title: String,
    #[serde(rename = "留言详情")]
    message: String,
    #[serde(rename = "答复意见")]
    reply: String,
}

/// Reads the replies CSV (header row, the columns of the Teddy Cup data;
/// other columns ignored).
pub fn load_replies(csv: impl Read) -> anyhow::Result<Vec<Reply>> {
    csv::Reader::from_reader(csv)
        .deserialize::<Row>()
        .map(|row| {
            let row = row?;
            Ok(Reply {
                id: row.id.trim().to_owned(),
                title: row.title.trim().to_owned(),
                message: row.message.trim().to_owned(),
                reply: row.reply.trim().to_owned(),
            })
        })
        .collect()
}

/// Clauses of `text`, each with its closing mark: split after 。！？；： (and
/// their ASCII forms) and line breaks, where a reply's preamble ends.
pub fn clauses(text: &str) -> impl Iterator<Item = &str> {
    text.split_inclusive(['。', '！', '？', '；', '：', '!', '?', ';', ':', '\n'])
        .filter(|c| !c.trim().is_empty())
}

fn letters(text: &str) -> impl Iterator<Item = char> + '_ {
    text.chars().filter(|c| c.is_alphanumeric())
}

/// Length of the longest common subsequence of `a` and `b` (two rows of
/// the textbook table: titles and clauses are short).
fn common_subsequence(a: &[char], b: &[char]) -> usize {
    let mut previous = vec![0; b.len() + 1];
    let mut current = vec![0; b.len() + 1];
    for x in a {
        for (j, y) in b.iter().enumerate() {
            current[j + 1] = if x == y {
                previous[j] + 1
            } else {
                previous[j + 1].max(current[j])
            };
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// Whether `clause` restates `title`: it contains the title (without its
/// closing punctuation), or at least [`RESTATED_SHARE`] of the title's
/// letters and digits in the title's order (a quotation with a word changed,
/// 老师 → 教师, or a name inserted still counts; the same characters
/// scattered over a content sentence do not).
pub fn restates(clause: &str, title: &str) -> bool {
    let bare = title.trim_end_matches(|c: char| !c.is_alphanumeric());
    if !bare.is_empty() && clause.contains(bare) {
        return true;
    }
    let wanted: Vec<char> = letters(title).collect();
    if wanted.is_empty() {
        return false;
    }
    let said: Vec<char> = letters(clause).collect();
    common_subsequence(&wanted, &said) as f64 >= RESTATED_SHARE * wanted.len() as f64
}

/// `reply` without the clauses that restate `title`.
pub fn strip_restated_title(reply: &str, title: &str) -> String {
    clauses(reply).filter(|c| !restates(c, title)).collect()
}

/// The article a reply becomes: id the message's, no title (a reply has
/// none of its own, and the citizen's would give the answer away), the
/// stripped reply as body, no filters.
pub fn article_of(reply: &Reply) -> IndexedArticle {
    IndexedArticle {
        id: reply.id.clone(),
        version: 1,
        title: String::new(),
        body: strip_restated_title(&reply.reply, &reply.title),
        subjects: vec![],
        regions: vec![],
        tags: vec![],
        effective_from: None,
        expires_on: None,
    }
}

/// Letters and digits a stripped reply needs to count as carrying an
/// answer: below it are replies that are only a date, "transferred to the
/// department concerned" or "already answered", which no search can match.
pub const MIN_ANSWER_LETTERS: usize = 40;

/// Whether `reply`, once stripped, has at least [`MIN_ANSWER_LETTERS`].
pub fn carries_answer(reply: &Reply) -> bool {
    letters(&strip_restated_title(&reply.reply, &reply.title)).count() >= MIN_ANSWER_LETTERS
}

/// Which messages are asked (every reply is indexed either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queries {
    /// All of them.
    All,
    /// Those whose reply [`carries_answer`].
    WithAnswer,
}

/// What a query is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryText {
    /// 留言详情 alone, as the issue asks.
    Message,
    /// 留言主题 and 留言详情, as an agent types both at intake.
    TitleAndMessage,
}

impl QueryText {
    /// The query text of `reply`'s message.
    pub fn of(self, reply: &Reply) -> String {
        match self {
            Self::Message => reply.message.clone(),
            Self::TitleAndMessage => format!("{}\n{}", reply.title, reply.message),
        }
    }
}

/// Share of queries whose own article ranked in the top 1, 3 and 5.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recall {
    /// Recall@1.
    pub at1: f64,
    /// Recall@3.
    pub at3: f64,
    /// Recall@5.
    pub at5: f64,
    /// Number of queries.
    pub queries: usize,
}

/// Indexes every reply and queries with the messages of `queries`.
pub fn evaluate(
    replies: &[Reply],
    queries: Queries,
    text: QueryText,
    tuning: &Tuning,
) -> anyhow::Result<Recall> {
    let index = KnowledgeIndex::open_in_memory(replies.iter().map(article_of).collect())?;
    let on = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap_or_default();
    let mut found = [0usize; 3];
    let asked: Vec<&Reply> = replies
        .iter()
        .filter(|r| queries == Queries::All || carries_answer(r))
        .collect();
    for reply in &asked {
        let query = SearchQuery {
            text: text.of(reply),
            subject: None,
            region: None,
            on,
            limit: 5,
        };
        let hits = index.search_tuned(&query, tuning)?;
        let rank = hits.iter().position(|h| h.id == reply.id);
        for (slot, k) in found.iter_mut().zip([1, 3, 5]) {
            if rank.is_some_and(|r| r < k) {
                *slot += 1;
            }
        }
    }
    let share = |n: usize| n as f64 / asked.len().max(1) as f64;
    Ok(Recall {
        at1: share(found[0]),
        at3: share(found[1]),
        at5: share(found[2]),
        queries: asked.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_and_paraphrased_titles_go_content_stays() {
        let title = "A3区潇楚南路洋湖段怎么还没修好？";
        let reply = "网友“A00023583”：您好！针对您反映A3区潇楚南路洋湖段怎么还没修好的问题,\
                     A3区洋湖街道高度重视，现回复如下：该项目目前正在进行土方及排水施工。";
        assert_eq!(
            strip_restated_title(reply, title),
            "网友“A00023583”：您好！该项目目前正在进行土方及排水施工。"
        );
        let edited = "您反映的“请加快提高民营幼儿园教师的待遇”的来信已收悉。";
        assert!(restates(edited, "请加快提高A市民营幼儿园老师的待遇"));
        assert!(!restates(
            "感谢您的来信。",
            "请加快提高A市民营幼儿园老师的待遇"
        ));
        let scattered = "我司目前t63在早晚高峰期发车间隔为10分钟左右一趟，但由于上下班时段\
                         道路交通拥堵，致使公交车运速慢。";
        assert!(!restates(
            scattered,
            "能否在上下班高峰期增开B市63路公交车班次"
        ));
    }

    #[test]
    fn clauses_keep_their_marks_and_cover_the_text() {
        let text = "您好！现回复如下：一是…；二是…。谢谢\n再见";
        assert_eq!(clauses(text).collect::<String>(), text);
        assert_eq!(clauses(text).count(), 6);
    }

    #[test]
    fn common_subsequences() {
        let chars = |s: &str| s.chars().collect::<Vec<_>>();
        assert_eq!(common_subsequence(&chars("abcde"), &chars("xaxcxe")), 3);
        assert_eq!(common_subsequence(&chars(""), &chars("abc")), 0);
        assert_eq!(
            common_subsequence(&chars("老师待遇"), &chars("教师的待遇")),
            3
        );
    }

    #[test]
    fn a_title_without_letters_restates_nothing() {
        assert!(!restates("任何内容。", "？？"));
    }

    #[test]
    fn loads_the_columns_by_name() {
        let csv = "留言编号,留言用户,留言主题,留言时间,留言详情,答复意见,答复时间\n\
                   7,u,标题,t, 详情 ,答复,t\n";
        let rows = load_replies(csv.as_bytes()).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(
            rows,
            [Reply {
                id: "7".into(),
                title: "标题".into(),
                message: "详情".into(),
                reply: "答复".into()
            }]
        );
    }
}
