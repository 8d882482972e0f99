//! Removing the restated title from a reply (issue 17, part 4: "remove
//! from it the sentence that restates the citizen's title, so matching is
//! not trivial").
//!
//! A reply is cut into clauses (after 。！？；： and line breaks) and each
//! clause into phrases (after ，、 outside quotations). A clause restates the
//! title when it quotes it whole, or when one phrase both refers to the
//! citizen's message ([`REFERRALS`]) and holds most of the title's
//! characters in order. Content sentences that name the same place or
//! matter without referring to the message are the answer and stay.

/// Share of the title's letters and digits a sentence must hold, in order,
/// to count as repeating it ("most of its characters").
pub const RESTATED_SHARE: f64 = 0.6;

/// Words an official reply uses to refer to the citizen's message: what
/// makes a sentence that holds the title a restatement of it ("您反映的…",
/// "…的来信已收悉", "接到…的举报后") rather than a content sentence that
/// names the same place ("该养猪场位于…"). The vocabulary of replies to
/// citizens in general (信访, 12345, 问政 boards), not of this sample.
pub const REFERRALS: &[&str] = &[
    "反映", "反应", "来信", "来电", "留言", "投诉", "举报", "咨询", "帖", "信件", "诉求", "收悉",
    "问政",
];

/// How the restated title is removed from a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stripping {
    /// The sentences that restate the title ([`restates`]): the issue's
    /// rule, the default.
    #[default]
    RestatingSentences,
    /// Every clause holding the title or [`RESTATED_SHARE`] of it in order,
    /// content clauses naming the same place included (the first version;
    /// it removes too much).
    EveryTitleClause,
}

impl Stripping {
    /// `reply` without what this stripping removes for `title`.
    pub fn strip(self, reply: &str, title: &str) -> String {
        let remove: fn(&str, &str) -> bool = match self {
            Self::RestatingSentences => restates,
            Self::EveryTitleClause => holds_title,
        };
        clauses(reply).filter(|c| !remove(c, title)).collect()
    }
}

/// Marks that end a clause.
pub(super) const CLAUSE_ENDS: [char; 10] = ['。', '！', '？', '；', '：', '!', '?', ';', ':', '\n'];

/// Clauses of `text`, each with its closing mark: split after 。！？；： (and
/// their ASCII forms) and line breaks, where a reply's preamble ends.
pub fn clauses(text: &str) -> impl Iterator<Item = &str> {
    text.split_inclusive(CLAUSE_ENDS)
        .filter(|c| !c.trim().is_empty())
}

pub(super) fn letters(text: &str) -> impl Iterator<Item = char> + '_ {
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

/// The title without its closing punctuation ("…修好？" → "…修好").
fn bare_title(title: &str) -> &str {
    title.trim_end_matches(|c: char| !c.is_alphanumeric())
}

/// Share of `title`'s letters and digits that `text` holds in the title's
/// order (a quotation with a word changed, 老师 → 教师, or a name inserted
/// keeps most of it; the same characters scattered do not make a
/// subsequence). 0 for a title without letters.
pub fn title_share(text: &str, title: &str) -> f64 {
    let wanted: Vec<char> = letters(title).collect();
    if wanted.is_empty() {
        return 0.0;
    }
    let said: Vec<char> = letters(text).collect();
    common_subsequence(&wanted, &said) as f64 / wanted.len() as f64
}

/// Whether `clause` contains the title or [`RESTATED_SHARE`] of it in
/// order, whatever else it says.
pub fn holds_title(clause: &str, title: &str) -> bool {
    let bare = bare_title(title);
    (!bare.is_empty() && clause.contains(bare)) || title_share(clause, title) >= RESTATED_SHARE
}

/// Phrases of a clause: split after ，,、 outside quotations (“…”, 《…》,
/// brackets), so a quoted title with a comma stays one phrase.
pub fn phrases(clause: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (at, c) in clause.char_indices() {
        match c {
            '“' | '《' | '「' | '(' | '（' => depth += 1,
            '”' | '》' | '」' | ')' | '）' => depth = depth.saturating_sub(1),
            '，' | ',' | '、' if depth == 0 => {
                out.push(&clause[start..at]);
                start = at + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&clause[start..]);
    out.retain(|p| !p.trim().is_empty());
    out
}

/// Whether `phrase` refers to the citizen's message: a [`REFERRALS`] word,
/// or the "关于…问题" that names the matter raised.
fn refers_to_message(phrase: &str) -> bool {
    REFERRALS.iter().any(|w| phrase.contains(w))
        || phrase
            .find("关于")
            .is_some_and(|at| phrase[at..].contains("问题"))
}

/// Whether `clause` is a sentence restating `title`: it quotes the title
/// whole, or one of its [`phrases`] refers to the citizen's message and
/// holds [`RESTATED_SHARE`] of the title in order ("针对您反映A3区…修好的问题",
/// "您反映的“请加快提高民营幼儿园教师的待遇”的来信已收悉"). A content sentence that
/// names the same place or matter without referring to the message stays
/// ("临G5县…田家组养猪场，现有猪舍一栋"): it is the answer.
pub fn restates(clause: &str, title: &str) -> bool {
    let bare = bare_title(title);
    if !bare.is_empty() && clause.contains(bare) {
        return true;
    }
    phrases(clause)
        .into_iter()
        .any(|p| refers_to_message(p) && title_share(p, title) >= RESTATED_SHARE)
}

/// `reply` without the sentences that restate `title` (the default
/// [`Stripping`]).
pub fn strip_restated_title(reply: &str, title: &str) -> String {
    Stripping::RestatingSentences.strip(reply, title)
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
        assert!(!holds_title(
            scattered,
            "能否在上下班高峰期增开B市63路公交车班次"
        ));
    }

    #[test]
    fn a_content_sentence_naming_the_same_place_stays() {
        let title = "临G5县田家坪养猪场污染环境";
        let opening = "您反映的临G5县四新岗镇珠日桥村田家组养猪场环境污染问题，我局高度重视，\
                       具体情况如下：";
        let content = "临G5县四新岗镇珠日桥村田家组养猪场，现有猪舍一栋。";
        assert!(restates(opening, title));
        assert!(!restates(content, title), "no reference to the message");
        assert!(holds_title(content, title), "yet most of the title");
        let reply = format!("网友：您好！{opening}{content}");
        assert_eq!(
            Stripping::RestatingSentences.strip(&reply, title),
            format!("网友：您好！{content}")
        );
        assert_eq!(
            Stripping::EveryTitleClause.strip(&reply, title),
            "网友：您好！"
        );
    }

    #[test]
    fn the_reference_and_the_title_must_meet_in_one_phrase() {
        let title = "C2区裕丰国际前坪啤酒广场的宵夜摊很扰民";
        let sentence =
            "接到投诉后，我局立即派人调查，裕丰国际前坪啤酒广场的十几家门面都在经营夜宵。";
        assert!(!restates(sentence, title));
        assert!(restates(
            "关于“C2区裕丰国际前坪啤酒广场宵夜摊扰民”的问题，现答复如下：",
            title
        ));
        assert!(restates(
            "您举报C2区裕丰国际前坪啤酒广场的宵夜摊很扰民不实。",
            title
        ));
    }

    #[test]
    fn phrases_split_outside_quotations() {
        assert_eq!(
            phrases("您反映的“车辆乱停，占用人行道”问题，已收悉、正在办理"),
            ["您反映的“车辆乱停，占用人行道”问题", "已收悉", "正在办理"]
        );
        assert_eq!(phrases("，，"), Vec::<&str>::new());
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
}
