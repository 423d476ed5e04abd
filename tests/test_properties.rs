//! Invariants over generated inputs (proptest): sample sizes and coverage for arbitrary
//! frames and rounds; scores within 0..100 and independent of row order; ingest of a
//! delivery with its columns in any order and rows cut anywhere never panics and
//! accounts for every row.

mod common;

use std::collections::BTreeSet;

use manyi::frame::Frame;
use manyi::round::RoundId;
use manyi::rules::Rules;
use manyi::sample::{ceil_rate, draw};
use manyi::score::estimators::{CommunityInput, community, respondent_score, street};
use proptest::prelude::*;

fn frame_of(sizes: &[usize]) -> Frame {
    let mut text =
        String::from("street_code,street_name,community_code,community_name,households\n");
    for (s, n) in sizes.iter().enumerate() {
        for c in 0..*n {
            text.push_str(&format!(
                "S{s:02},街道{s},S{s:02}C{c:03},社区{s}-{c},{}\n",
                100 + c * 7
            ));
        }
    }
    Frame::parse(text.as_bytes(), "generated").unwrap()
}

fn rules(scheme: &str) -> Rules {
    Rules::parse(Rules::shipped(scheme).unwrap(), scheme).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn ceil_rate_sizes_hold_for_any_frame(sizes in proptest::collection::vec(1usize..40, 1..15), seed in "[a-z0-9]{1,12}") {
        let f = frame_of(&sizes);
        let d = draw(&f, &rules("panlong-2017"), &RoundId { year: 2017, number: 1 }, &seed, &BTreeSet::new()).unwrap();
        for (s, n) in d.strata.iter().zip(&sizes) {
            prop_assert_eq!(s.population, *n);
            prop_assert_eq!(s.sampled, ceil_rate(0.3, *n));
            prop_assert!(s.sampled as f64 >= 0.3 * *n as f64 - 1e-9);
            prop_assert_eq!(s.selected.len(), s.sampled);
            let codes: BTreeSet<_> = s.selected.iter().map(|c| c.code.clone()).collect();
            prop_assert_eq!(codes.len(), s.sampled, "a community drawn twice");
        }
    }

    #[test]
    fn rotation_covers_any_frame_exactly_once(sizes in proptest::collection::vec(1usize..40, 1..12), seeds in proptest::array::uniform3("[a-z]{1,8}")) {
        let f = frame_of(&sizes);
        let r = rules("panlong-2018");
        let mut surveyed = BTreeSet::new();
        for (i, seed) in seeds.iter().enumerate() {
            let round = RoundId { year: 2018, number: i as u32 + 1 };
            let d = draw(&f, &r, &round, seed, &surveyed).unwrap();
            for s in &d.strata {
                // Round r of 3 takes ceil(left / (3 − r + 1)).
                prop_assert_eq!(s.sampled, s.eligible.div_ceil(3 - i));
                for c in &s.selected {
                    prop_assert!(surveyed.insert(c.code.clone()), "{} twice", c.code);
                }
            }
        }
        prop_assert_eq!(surveyed.len(), sizes.iter().sum::<usize>());
    }

    #[test]
    fn respondent_scores_stay_within_the_scale(answers in proptest::collection::vec(proptest::option::of(0usize..5), 10)) {
        let r = rules("panlong-2018");
        let s = respondent_score(r.questions.iter().zip(&answers).map(|(q, a)| (q.weight, a.map(|i| r.scale.answers[i].score))));
        match s {
            None => prop_assert!(answers.iter().all(|a| a.is_none())),
            Some(s) => prop_assert!((0.0..=100.0).contains(&s), "{s}"),
        }
    }

    #[test]
    fn community_and_street_estimates_ignore_row_order(
        scores in proptest::collection::vec(0.0f64..=100.0, 2..60),
        households in proptest::option::of(60u64..5000),
        rotate in 0usize..60,
    ) {
        let a = community(&scores, households, 0.95).unwrap();
        let mut shuffled = scores.clone();
        let k = rotate % shuffled.len();
        shuffled.rotate_left(k);
        shuffled.reverse();
        let b = community(&shuffled, households, 0.95).unwrap();
        // The estimator against the definition computed here (BRIEF.md: mean of the
        // respondents; SE = sqrt((1 - m/M) s²/m)).
        let m = scores.len() as f64;
        let mean = scores.iter().sum::<f64>() / m;
        let s2 = scores.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / (m - 1.0);
        let f = households.map_or(1.0, |big_m| 1.0 - m / big_m as f64);
        prop_assert!((a.mean - mean).abs() < 1e-9, "{} vs {mean}", a.mean);
        prop_assert!((a.se.unwrap() - (f * s2 / m).sqrt()).abs() < 1e-9);
        prop_assert!((a.mean - b.mean).abs() < 1e-9);
        prop_assert!((a.se.unwrap() - b.se.unwrap()).abs() < 1e-9);
        // Streets: the same communities in another order.
        let comms: Vec<CommunityInput> = scores
            .chunks(2)
            .map(|c| CommunityInput { mean: c[0], m: 30, variance: Some(c.get(1).copied().unwrap_or(10.0)), households })
            .collect();
        let mut other = comms.clone();
        other.reverse();
        let big_n = comms.len() + 3;
        let x = street(&comms, big_n, 0.95).unwrap();
        let y = street(&other, big_n, 0.95).unwrap();
        // A street's score is the mean of its community scores, each counted once.
        let plain = comms.iter().map(|c| c.mean).sum::<f64>() / comms.len() as f64;
        prop_assert!((x.mean - plain).abs() < 1e-9, "{} vs {plain}", x.mean);
        prop_assert!((x.mean - y.mean).abs() < 1e-9);
        match (x.se, y.se) {
            (Some(p), Some(q)) => prop_assert!((p - q).abs() < 1e-9),
            (None, None) => prop_assert_eq!(comms.len(), 1),
            _ => prop_assert!(false, "se present in one order only"),
        }
    }
}

/// The example delivery's first rows, its columns in `order`, row `i` cut to `cuts[i]`
/// cells when that is shorter than the header (a trailing summary like `合计,20` too).
fn permuted_delivery(order: &[usize], cuts: &[usize], summary: bool) -> (String, usize) {
    let text = std::fs::read_to_string(common::data("evaluator-a-template-utf8.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let width = header.len();
    let mut out = order
        .iter()
        .map(|&i| header[i])
        .collect::<Vec<_>>()
        .join(",");
    out.push('\n');
    let mut short = 0;
    for (line, &cut) in lines.zip(cuts) {
        let cells: Vec<&str> = line.split(',').collect();
        let moved: Vec<&str> = order.iter().map(|&i| cells[i]).collect();
        let keep = cut.clamp(1, width);
        if keep < width {
            short += 1;
        }
        out.push_str(&moved[..keep].join(","));
        out.push('\n');
    }
    if summary {
        out.push_str("合计,20\n");
        short += 1;
    }
    (out, short)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn ingest_of_permuted_columns_and_cut_rows_never_panics(
        order in Just((0..18usize).collect::<Vec<_>>()).prop_shuffle(),
        cuts in proptest::collection::vec(prop_oneof![3 => Just(18usize), 1 => 1usize..18], 1..25),
        summary in any::<bool>(),
    ) {
        let ws = WS.with(|w| w.path().to_path_buf());
        let ws = manyi::workspace::Workspace::open(&ws).unwrap();
        let (text, short) = permuted_delivery(&order, &cuts, summary);
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("permuted.csv");
        std::fs::write(&f, text).unwrap();
        let opts = manyi::ingest::Options {
            dry_run: true,
            rejects_out: Some(dir.path().join("rejects.csv")),
            ..Default::default()
        };
        let round = RoundId { year: 2018, number: 1 };
        let out = std::panic::catch_unwind(|| manyi::ingest::ingest(&ws, &round, &f, &opts));
        let out = match out {
            Ok(r) => r.unwrap(),
            Err(_) => return Err(TestCaseError::fail(format!("ingest panicked on column order {order:?}, cuts {cuts:?}"))),
        };
        let r = &out.receipt;
        prop_assert_eq!(r.accepted + r.rejected, r.rows_read);
        prop_assert_eq!(r.rows_read as usize, cuts.len() + usize::from(summary));
        // Every short row is rejected (a full row may be rejected for other reasons).
        prop_assert!(r.rejected as usize >= short, "{} rejected, {short} short", r.rejected);
    }
}

thread_local! {
    /// One example workspace for the cases (they only read it: dry runs).
    static WS: common::Workspace = common::example_workspace();
}
