//! The catalogue as if its author had not seen one fold of the messages.
//!
//! The demo catalogue's keywords were written while reading the very
//! messages the evaluation scores it on, so "rules alone" is measured on
//! its own training data. This module simulates an author who had seen
//! only the other folds: every keyword that no message outside the
//! held-out fold contains is one only the held-out messages could have
//! taught, and it is dropped.
//!
//! - `keywords_any`: the keywords no seen message contains are dropped; a
//!   rule left with none is dropped whole (an empty list would mean "any
//!   text", a broader rule than the author ever wrote).
//! - `keywords_all`: the rule is kept only when one seen message contains
//!   every keyword (in its title or description), the combination its
//!   author must have seen.
//! - `keywords_none`: an exclusion no seen message contains was written
//!   for a held-out message and is dropped (the rule gets broader, as it
//!   would have been).
//! - Criteria other than keywords (subject, region, hotline, type,
//!   urgency) are not learnt from message text and stay.
//!
//! Keywords are matched as the router matches them: trimmed and
//! ASCII-lowercased, as a substring of the ASCII-lowercased title or
//! description (never across the two). See docs/dispatch-model.md for
//! what this simulates and what it cannot.

use hotline::domain::routing::RuleSpec;

/// The texts an author could have learnt keywords from: the title and the
/// description of each seen message, ASCII-lowercased as the router reads
/// them.
#[derive(Debug, Clone, Default)]
pub struct SeenMessages {
    /// `(title, description)` per message.
    texts: Vec<(String, String)>,
}

impl SeenMessages {
    /// From `(title, description)` pairs.
    pub fn new<'a>(messages: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self {
            texts: messages
                .into_iter()
                .map(|(t, d)| (t.to_ascii_lowercase(), d.to_ascii_lowercase()))
                .collect(),
        }
    }

    /// Whether one message contains every keyword (each in its title or
    /// its description); a blank keyword is in every text.
    pub fn any_contains_all(&self, keywords: &[String]) -> bool {
        let keys: Vec<String> = keywords.iter().map(|k| normalized(k)).collect();
        self.texts.iter().any(|(title, description)| {
            keys.iter()
                .all(|k| title.contains(k.as_str()) || description.contains(k.as_str()))
        })
    }

    /// Whether some message contains `keyword`.
    pub fn any_contains(&self, keyword: &str) -> bool {
        self.any_contains_all(std::slice::from_ref(&keyword.to_owned()))
    }
}

/// A keyword as the router compiles it.
fn normalized(keyword: &str) -> String {
    keyword.trim().to_ascii_lowercase()
}

/// What the reduction took out of a catalogue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reduction {
    /// The catalogue the author would have written.
    pub rules: Vec<RuleSpec>,
    /// Keywords of `keywords_any` and `keywords_none` no seen message
    /// contains, whether their rule was kept or dropped whole (so fewer
    /// seen messages never drop fewer).
    pub keywords_dropped: usize,
    /// Ids of the rules dropped whole.
    pub rules_dropped: Vec<String>,
}

/// The catalogue `rules` without what only unseen messages could have
/// taught (see the module documentation).
pub fn without_unseen_keywords(rules: &[RuleSpec], seen: &SeenMessages) -> Reduction {
    let mut out = Reduction::default();
    for rule in rules {
        let taught = |list: &[String]| -> Vec<String> {
            list.iter()
                .filter(|k| seen.any_contains(k))
                .cloned()
                .collect()
        };
        let (any, none) = (taught(&rule.keywords_any), taught(&rule.keywords_none));
        out.keywords_dropped +=
            rule.keywords_any.len() - any.len() + rule.keywords_none.len() - none.len();
        let any_lost = !rule.keywords_any.is_empty() && any.is_empty();
        let all_lost = !rule.keywords_all.is_empty() && !seen.any_contains_all(&rule.keywords_all);
        if any_lost || all_lost {
            out.rules_dropped.push(rule.id.clone());
            continue;
        }
        out.rules.push(RuleSpec {
            keywords_any: any,
            keywords_none: none,
            ..rule.clone()
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str, any: &[&str], all: &[&str], none: &[&str]) -> RuleSpec {
        let list = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect();
        RuleSpec {
            id: id.to_owned(),
            name: String::new(),
            priority: 50,
            subject_prefixes: Vec::new(),
            request_types: Vec::new(),
            region_prefixes: Vec::new(),
            keywords_any: list(any),
            keywords_all: list(all),
            keywords_none: list(none),
            legacy_hotlines: Vec::new(),
            urgencies: Vec::new(),
            target_unit: Some("health".to_owned()),
            territorial: None,
            co_units: Vec::new(),
        }
    }

    fn seen() -> SeenMessages {
        SeenMessages::new([
            ("小区噪音扰民", "楼下KTV每晚营业到凌晨"),
            ("学校食堂卫生差", "孩子吃坏了肚子"),
        ])
    }

    #[test]
    fn keywords_no_seen_message_contains_are_dropped() {
        let r = without_unseen_keywords(
            &[rule("noise", &["噪音", "广场舞", "ktv"], &[], &[])],
            &seen(),
        );
        assert_eq!(r.rules.len(), 1);
        assert_eq!(r.rules[0].keywords_any, ["噪音", "ktv"]);
        assert_eq!(r.keywords_dropped, 1);
        assert!(r.rules_dropped.is_empty());
    }

    #[test]
    fn a_rule_left_without_keywords_is_dropped_not_broadened() {
        let r = without_unseen_keywords(&[rule("dance", &["广场舞", "麻将"], &[], &[])], &seen());
        assert!(r.rules.is_empty());
        assert_eq!(r.rules_dropped, ["dance"]);
        assert_eq!(r.keywords_dropped, 2);
    }

    #[test]
    fn keywords_all_must_occur_together_in_one_seen_message() {
        let rules = [
            rule("canteen", &[], &["学校", "食堂"], &[]),
            rule("split", &[], &["学校", "噪音"], &[]),
        ];
        let r = without_unseen_keywords(&rules, &seen());
        let kept: Vec<&str> = r.rules.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(kept, ["canteen"]);
        assert_eq!(r.rules_dropped, ["split"]);
    }

    #[test]
    fn exclusions_no_seen_message_called_for_are_dropped() {
        let r = without_unseen_keywords(
            &[rule("food", &["卫生"], &[], &["肚子", "退役军人"])],
            &seen(),
        );
        assert_eq!(r.rules[0].keywords_none, ["肚子"]);
        assert_eq!(r.keywords_dropped, 1);
    }

    #[test]
    fn matching_is_the_routers_trimmed_and_ascii_lowercased_within_one_field() {
        let s = seen();
        assert!(s.any_contains(" KTV "));
        // Title ends in 扰民, description starts with 楼下: never joined.
        assert!(!s.any_contains("扰民楼下"));
        assert!(s.any_contains(""));
    }

    #[test]
    fn rules_without_keywords_and_the_other_criteria_stay() {
        let mut hotline = rule("hotline-12320", &[], &[], &[]);
        hotline.legacy_hotlines = vec!["12320".to_owned()];
        let mut outage = rule("outage-gas", &["燃气", "噪音"], &[], &[]);
        outage.urgencies = vec![hotline::domain::ticket::Urgency::UtilityOutage];
        let r = without_unseen_keywords(&[hotline.clone(), outage.clone()], &seen());
        assert_eq!(r.rules[0], hotline);
        assert_eq!(r.rules[1].urgencies, outage.urgencies);
        assert_eq!(r.rules[1].keywords_any, ["噪音"]);
    }

    #[test]
    fn fewer_seen_messages_never_drop_less() {
        let rules = [
            rule("noise", &["噪音", "广场舞", "ktv"], &[], &[]),
            rule("dance", &["广场舞", "麻将"], &[], &[]),
            rule("canteen", &[], &["学校", "食堂"], &["肚子"]),
        ];
        let all = without_unseen_keywords(&rules, &seen());
        let fewer = without_unseen_keywords(&rules, &SeenMessages::new([("学校食堂卫生差", "")]));
        assert!(fewer.keywords_dropped >= all.keywords_dropped);
        assert!(
            all.rules_dropped
                .iter()
                .all(|id| fewer.rules_dropped.contains(id))
        );
        assert_eq!((all.keywords_dropped, fewer.keywords_dropped), (3, 6));
        assert_eq!(fewer.rules_dropped, ["noise", "dance"]);
    }

    #[test]
    fn with_every_message_seen_the_catalogue_is_unchanged() {
        let rules = [
            rule("noise", &["噪音", "KTV"], &[], &[]),
            rule("canteen", &[], &["学校", "食堂"], &["肚子"]),
        ];
        let r = without_unseen_keywords(&rules, &seen());
        assert_eq!(r.rules, rules);
        assert_eq!((r.keywords_dropped, r.rules_dropped.len()), (0, 0));
    }
}
