use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;

use super::*;

const STREET: &str = "430102001";
const OTHER_STREET: &str = "430102002";
const DISTRICT: &str = "430102";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

/// Paraphrases of one matter: a burst pipe on one road.
const PIPE: [(&str, &str); 6] = [
    (
        "文三路水管爆裂",
        "文三路90号门口水管爆了，水漫到马路上，车都过不去",
    ),
    (
        "文三路爆管漫水",
        "文三路90号附近自来水管爆裂，路面全是水，车辆无法通行",
    ),
    (
        "水管爆了",
        "文三路90号门口的水管爆裂了，马路上都是水，请尽快抢修",
    ),
    (
        "文三路自来水管破裂",
        "文三路90号这边水管爆裂了，水一直往马路上流，车过不去",
    ),
    ("文三路水管爆裂漫水", "90号门口水管爆裂，水漫马路，车过不去"),
    (
        "反映文三路水管爆了",
        "文三路90号门口水管爆裂，路上全是水，请自来水公司处理",
    ),
];

/// Unrelated requests of the same street.
const OTHERS: [(&str, &str); 6] = [
    ("路灯不亮", "小区门口的路灯坏了一周，晚上很黑"),
    (
        "工地夜间施工噪音",
        "每天晚上十一点以后还在打桩，严重影响休息",
    ),
    ("公交站牌被撞坏", "32路公交站牌被车撞歪了，存在安全隐患"),
    ("物业乱收停车费", "物业公司擅自上调停车费，业主不同意"),
    ("垃圾清运不及时", "小区垃圾桶满了三天没人清理，气味很大"),
    ("咨询社保转移", "从外地调来工作，想问社保关系怎么转过来"),
];

fn sighting<'a>(
    id: u32,
    at: DateTime<Utc>,
    street: &'a str,
    caller: &'a str,
    text: (&'a str, &'a str),
) -> Sighting<'a, u32> {
    Sighting {
        id,
        at,
        street: Some(street),
        district: DISTRICT,
        subject: "01",
        caller,
        title: text.0,
        description: text.1,
    }
}

const CALLERS: [&str; 6] = ["c0", "c1", "c2", "c3", "c4", "c5"];

#[test]
fn paraphrases_of_one_matter_in_one_street_become_a_hotspot() {
    let mut d = Detector::new(HotspotConfig::default());
    for (i, text) in OTHERS.iter().enumerate() {
        let o = d.observe(&sighting(100 + i as u32, t0(), STREET, "x", *text));
        assert!(!o.joined, "{text:?} is no paraphrase of another");
    }
    let mut became = None;
    for (i, text) in PIPE.iter().enumerate() {
        let at = t0() + Duration::minutes(10 * i as i64);
        let o = d.observe(&sighting(i as u32, at, STREET, CALLERS[i], *text));
        assert_eq!(o.joined, i > 0, "ticket {i}");
        if let Some(heat) = o.became_hotspot {
            became.get_or_insert((i, heat));
        }
    }
    let (at_ticket, heat) = became.expect("a hotspot");
    assert_eq!(at_ticket, 3, "min_count 4 against a quiet street");
    assert_eq!(heat.count, 4);
    assert_eq!(heat.callers, 4);
    assert_eq!(heat.examples, vec![0, 1, 2]);
    assert_eq!(heat.areas, vec![STREET.to_owned()]);
    assert!(heat.top_words.contains(&"水管".to_owned()), "{heat:?}");
    let hot = d.hotspots(t0() + Duration::minutes(60));
    assert_eq!(hot.len(), 1);
    assert_eq!(hot[0].1.count, 6);
    assert!(hot[0].1.growth > 0, "{:?}", hot[0].1);
}

#[test]
fn heat_of_reports_hotspots_only_and_follows_growth() {
    let mut d = Detector::new(HotspotConfig::default());
    let first = d.observe(&sighting(0, t0(), STREET, CALLERS[0], PIPE[0]));
    assert_eq!(
        d.heat_of(first.cluster, t0()),
        None,
        "one ticket is no hotspot"
    );
    for (i, text) in PIPE.iter().enumerate().skip(1) {
        let at = t0() + Duration::minutes(i as i64);
        d.observe(&sighting(i as u32, at, STREET, CALLERS[i], *text));
    }
    let at = t0() + Duration::minutes(5);
    let heat = d.heat_of(first.cluster, at).expect("hot");
    assert_eq!((heat.count, heat.examples.first()), (6, Some(&0)));
    assert_eq!(
        Some(heat),
        d.hotspots(at).into_iter().next().map(|(_, h)| h)
    );
    assert_eq!(d.now(), Some(at));
    assert_eq!(d.heat_of(first.cluster + 1000, at), None, "unknown cluster");
}

#[test]
fn one_caller_repeating_is_no_hotspot() {
    let mut d = Detector::new(HotspotConfig::default());
    for (i, text) in PIPE.iter().enumerate() {
        let at = t0() + Duration::minutes(i as i64);
        let o = d.observe(&sighting(i as u32, at, STREET, "same", *text));
        assert_eq!(o.became_hotspot, None);
    }
    assert!(d.hotspots(t0()).is_empty());
}

#[test]
fn a_busy_area_needs_more_similar_tickets() {
    let cfg = HotspotConfig::default();
    let mut quiet = Detector::new(cfg.clone());
    let mut busy = Detector::new(cfg);
    // A day of 40 tickets an hour of the same subject in the busy street.
    for i in 0..(24 * 40) {
        let at = t0() - Duration::hours(24) + Duration::seconds(90 * i64::from(i));
        let text = OTHERS[i as usize % OTHERS.len()];
        busy.observe(&sighting(10_000 + i, at, STREET, "bg", text));
    }
    let first_hot = |d: &mut Detector<u32>| {
        PIPE.iter().enumerate().find_map(|(i, text)| {
            let at = t0() + Duration::minutes(5 * i as i64);
            d.observe(&sighting(i as u32, at, STREET, CALLERS[i], *text))
                .became_hotspot
                .map(|_| i)
        })
    };
    let (q, b) = (first_hot(&mut quiet), first_hot(&mut busy));
    assert_eq!(q, Some(3));
    assert!(b.is_none_or(|b| b > 3), "{b:?}");
}

#[test]
fn a_hot_matter_is_followed_into_the_next_street_but_not_beyond_its_district() {
    let mut d = Detector::new(HotspotConfig::default());
    let a = d.observe(&sighting(0, t0(), STREET, "c0", PIPE[0]));
    let b = d.observe(&sighting(1, t0(), OTHER_STREET, "c1", PIPE[2]));
    assert_ne!(a.cluster, b.cluster, "not hot yet: streets stay apart");
    let c = d.observe(&sighting(2, t0(), STREET, "c2", PIPE[2]));
    let c2 = d.observe(&sighting(6, t0(), STREET, "c6", PIPE[4]));
    let hot = d.observe(&sighting(3, t0(), STREET, "c3", PIPE[5]));
    assert_eq!([c.cluster, c2.cluster, hot.cluster], [a.cluster; 3]);
    assert!(d.hotspots(t0()).iter().any(|(id, _)| *id == a.cluster));
    let third_street = "430102003";
    let next = d.observe(&sighting(4, t0(), third_street, "c4", PIPE[0]));
    assert_eq!(next.cluster, a.cluster, "a hotspot spans the district");
    let (_, heat) = &d.hotspots(t0())[0];
    assert_eq!(heat.areas, vec![STREET.to_owned(), third_street.to_owned()]);
    let mut elsewhere = sighting(5, t0(), "430103001", "c5", PIPE[0]);
    elsewhere.district = "430103";
    assert_ne!(d.observe(&elsewhere).cluster, a.cluster);
}

#[test]
fn idle_clusters_and_rates_are_forgotten() {
    let cfg = HotspotConfig::default();
    let mut d = Detector::new(cfg.clone());
    for (i, text) in OTHERS.iter().enumerate() {
        d.observe(&sighting(i as u32, t0(), STREET, "x", *text));
    }
    assert_eq!(d.stats().clusters, OTHERS.len());
    let later = t0() + Duration::hours(i64::from(cfg.baseline_idle_hours) + 1);
    d.observe(&sighting(99, later, OTHER_STREET, "y", PIPE[0]));
    let stats = d.stats();
    assert_eq!((stats.clusters, stats.rates, stats.sketches), (1, 1, 2));
}

#[test]
fn the_cluster_cap_holds() {
    let cfg = HotspotConfig {
        max_clusters: 50,
        max_baselines: 20,
        ..HotspotConfig::default()
    };
    let mut d = Detector::new(cfg);
    for i in 0..500_u32 {
        let title = format!("第{i}号事项");
        let street = format!("430102{:03}", i % 37);
        let s = Sighting {
            street: Some(&street),
            ..sighting(i, t0(), STREET, "x", (&title, "内容各不相同"))
        };
        d.observe(&s);
        let stats = d.stats();
        assert!(stats.clusters <= 50 && stats.rates <= 20, "{stats:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Replaying the same tickets in the same order gives the same
    /// clusters and hotspots: what rebuilding state after a restart needs.
    #[test]
    fn replay_is_deterministic(
        picks in prop::collection::vec((0_usize..12, 0_usize..3, 0_u8..6, 0_i64..30), 1..80)
    ) {
        let texts: Vec<(&str, &str)> = PIPE.iter().chain(OTHERS.iter()).copied().collect();
        let streets = [STREET, OTHER_STREET, "430102003"];
        let run = || {
            let mut d = Detector::new(HotspotConfig::default());
            let mut at = t0();
            let mut seen = Vec::new();
            for (i, (text, street, caller, gap)) in picks.iter().enumerate() {
                at += Duration::minutes(*gap);
                let caller = format!("c{caller}");
                let o = d.observe(&sighting(i as u32, at, streets[*street], &caller, texts[*text]));
                seen.push(o);
            }
            (seen, d.hotspots(at), d.stats())
        };
        let (a, b) = (run(), run());
        prop_assert_eq!(&a.0, &b.0);
        prop_assert_eq!(&a.1, &b.1);
        prop_assert_eq!(a.2, b.2);
        for (_, heat) in &a.1 {
            prop_assert!(heat.recent <= heat.count);
            prop_assert!(heat.callers >= 1 && heat.first <= heat.last);
        }
    }
}
