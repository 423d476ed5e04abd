//! `manyi init`, `manyi sample` and `manyi verify-sample`.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::Workspace;
use manyi::frame::Frame;
use manyi::round::RoundId;
use manyi::rules::Rules;
use manyi::sample::{community_key, draw};

const FRAME: &str = include_str!("../surveys/frame.csv");

fn frame() -> Frame {
    Frame::parse(FRAME.as_bytes(), "frame.csv").unwrap()
}

fn rules(scheme: &str) -> Rules {
    Rules::parse(Rules::shipped(scheme).unwrap(), scheme).unwrap()
}

fn round(s: &str) -> RoundId {
    s.parse().unwrap()
}

fn sizes(d: &manyi::sample::Draw) -> Vec<usize> {
    d.strata.iter().map(|s| s.sampled).collect()
}

#[test]
fn panlong_2017_draws_ceil_30_percent_of_every_street() {
    let d = draw(
        &frame(),
        &rules("panlong-2017"),
        &round("2017-R1"),
        "abc",
        &BTreeSet::new(),
    )
    .unwrap();
    assert_eq!(sizes(&d), vec![2, 2, 3, 4, 3, 3, 3, 3, 2, 3, 6, 5]);
    assert_eq!(d.total(), 39);
    for s in &d.strata {
        assert!(s.sampled as f64 >= 0.3 * s.population as f64);
        assert_eq!(s.selected.len(), s.sampled);
        assert!(s.selected.iter().all(|c| c.street_code == s.street_code));
    }
}

#[test]
fn ceil_rate_is_not_fooled_by_floating_point() {
    // 0.3 × 10 = 3.0000000000000004 in binary64; the size must be 3, not 4.
    assert_eq!(manyi::sample::ceil_rate(0.3, 10), 3);
    assert_eq!(manyi::sample::ceil_rate(0.3, 20), 6);
    assert_eq!(manyi::sample::ceil_rate(0.3, 4), 2);
    assert_eq!(manyi::sample::ceil_rate(0.3, 1), 1);
}

#[test]
fn panlong_2018_rotation_covers_every_community_exactly_once() {
    let f = frame();
    let r = rules("panlong-2018");
    let mut surveyed = BTreeSet::new();
    let mut per_round = Vec::new();
    for n in 1..=3 {
        let d = draw(
            &f,
            &r,
            &RoundId {
                year: 2018,
                number: n,
            },
            &format!("seed-{n}"),
            &surveyed,
        )
        .unwrap();
        for s in &d.strata {
            for c in &s.selected {
                assert!(surveyed.insert(c.code.clone()), "{} surveyed twice", c.code);
            }
        }
        per_round.push(sizes(&d));
    }
    assert_eq!(surveyed.len(), 105);
    assert_eq!(per_round[0], vec![2, 2, 3, 4, 3, 3, 3, 3, 2, 3, 6, 5]);
    assert_eq!(per_round[1], vec![2, 2, 2, 4, 3, 3, 3, 2, 1, 2, 6, 5]);
    assert_eq!(per_round[2], vec![1, 1, 2, 3, 3, 3, 3, 2, 1, 2, 6, 4]);
}

#[test]
fn worked_example_of_docs_sampling_md() {
    // Keys computed independently by tests/data/sampling_reference.py.
    let r = round("2017-R1");
    assert_eq!(
        community_key("abc", &r, "530103009", "530103009001"),
        "05220672b105404a810b86a7f35dc30dbe6ec44b070f3f9e970d44bb2481e3f9"
    );
    assert_eq!(
        community_key("abc", &r, "530103009", "530103009004"),
        "313d83067ed66300259d7a9281b0bd3386e3293ad01c2f417a319aa767864a09"
    );
    let d = draw(
        &frame(),
        &rules("panlong-2017"),
        &r,
        "abc",
        &BTreeSet::new(),
    )
    .unwrap();
    let shuanglong = d
        .strata
        .iter()
        .find(|s| s.street_code == "530103009")
        .unwrap();
    let codes: Vec<_> = shuanglong
        .selected
        .iter()
        .map(|c| c.code.as_str())
        .collect();
    assert_eq!(codes, ["530103009001", "530103009004"]);
    let doc = include_str!("../docs/sampling.md");
    assert!(doc.contains("05220672b105404a810b86a7f35dc30dbe6ec44b070f3f9e970d44bb2481e3f9"));
    // The golden draw of the whole frame, from the Python reference implementation.
    let all: Vec<_> = d
        .strata
        .iter()
        .flat_map(|s| s.selected.iter().map(|c| c.code.clone()))
        .collect();
    let golden = include_str!("data/sample-2017-R1-abc.txt");
    assert_eq!(all, golden.lines().collect::<Vec<_>>());
}

#[test]
fn a_streets_draw_ignores_changes_in_other_streets() {
    let r = rules("panlong-2017");
    let rid = round("2017-R1");
    let base = draw(&frame(), &r, &rid, "independence", &BTreeSet::new()).unwrap();
    // Add a community to 联盟 and drop one from 滇源.
    let mut edited: String = FRAME
        .lines()
        .filter(|l| !l.contains("530103011001"))
        .map(|l| format!("{l}\n"))
        .collect();
    edited.push_str("530103004,联盟街道,530103004099,新建社区居委会,社区,111,3000\n");
    let f2 = Frame::parse(edited.as_bytes(), "edited.csv").unwrap();
    let after = draw(&f2, &r, &rid, "independence", &BTreeSet::new()).unwrap();
    for (a, b) in base.strata.iter().zip(after.strata.iter()) {
        if a.street_code == "530103004" || a.street_code == "530103011" {
            continue;
        }
        assert_eq!(a.selected, b.selected, "street {} changed", a.street_code);
    }
}

#[test]
fn inclusion_frequencies_are_fair_over_thousands_of_seeds() {
    use statrs::distribution::{ChiSquared, ContinuousCDF};
    let f = frame();
    for scheme in ["panlong-2017", "panlong-2018"] {
        let r = rules(scheme);
        let year = if scheme.ends_with("2017") { 2017 } else { 2018 };
        let seeds = 3000;
        let mut count: BTreeMap<String, usize> = BTreeMap::new();
        let mut n_h: BTreeMap<String, usize> = BTreeMap::new();
        for i in 0..seeds {
            let d = draw(
                &f,
                &r,
                &RoundId { year, number: 1 },
                &format!("fair-{i}"),
                &BTreeSet::new(),
            )
            .unwrap();
            for s in &d.strata {
                n_h.insert(s.street_code.clone(), s.sampled);
                for c in &s.selected {
                    *count.entry(c.code.clone()).or_default() += 1;
                }
            }
        }
        for (code, st) in &f.streets {
            let big_n = st.communities.len() as f64;
            let expected = seeds as f64 * n_h[code] as f64 / big_n;
            let chi2: f64 = st
                .communities
                .iter()
                .map(|c| {
                    let o = *count.get(&c.code).unwrap_or(&0) as f64;
                    (o - expected).powi(2) / expected
                })
                .sum();
            // Under SRS the statistic is about (1 − n/N)·χ²(N − 1): the plain χ²
            // bound at 0.999 is conservative.
            let bound = ChiSquared::new(big_n - 1.0).unwrap().inverse_cdf(0.999);
            assert!(
                chi2 < bound,
                "{scheme} street {code}: chi2 {chi2:.2} ≥ {bound:.2}"
            );
        }
    }
}

#[test]
fn proportional_allocation_preserves_the_total_and_gives_every_street_one() {
    let text = Rules::shipped("panlong-2017")
        .unwrap()
        .replace("method = \"ceil-rate\"", "method = \"proportional\"");
    let r = Rules::parse(&text, "prop.toml").unwrap();
    let d = draw(&frame(), &r, &round("2017-R1"), "p", &BTreeSet::new()).unwrap();
    // n = ceil(0.3 × 105) = 32; quotas 32·N_h/105.
    assert_eq!(d.total(), 32);
    assert!(d.strata.iter().all(|s| s.sampled >= 1));
    assert_eq!(sizes(&d), vec![2, 2, 2, 3, 3, 3, 3, 2, 1, 2, 5, 4]);
}

#[test]
fn sample_command_prints_summary_writes_files_and_verifies() {
    let ws = Workspace::init("panlong-2017");
    let out = ws.ok(&["sample", "--round", "2017-R1", "--seed", "abc"]);
    assert!(out.contains("双龙街道"), "{out}");
    assert!(out.contains("39 of 105"), "{out}");
    let csv = ws.read("surveys/samples/2017-R1.csv");
    assert!(csv.starts_with(
        "round,street_code,street_name,community_code,community_name,selection_prob,weight\n"
    ));
    assert_eq!(csv.lines().count(), 40);
    assert!(csv.contains("2017-R1,530103009,双龙街道,530103009001,乌龙社区居委会,0.5,2\n"));
    let manifest: serde_json::Value =
        serde_json::from_str(&ws.read("surveys/samples/2017-R1.manifest.json")).unwrap();
    assert_eq!(manifest["seed"], "abc");
    assert_eq!(manifest["algorithm"], "manyi-sha256-order-v1");
    assert_eq!(manifest["total_sampled"], 39);
    assert_eq!(manifest["strata"].as_array().unwrap().len(), 12);
    assert_eq!(manifest["frame_sha256"].as_str().unwrap().len(), 64);
    assert!(
        ws.ok(&["verify-sample", "--round", "2017-R1"])
            .contains("verified")
    );
    // Refuses to overwrite the round.
    let err = ws.fails(&["sample", "--round", "2017-R1", "--seed", "other"], 1);
    assert!(err.contains("refusing to overwrite"), "{err}");
    assert_eq!(ws.read("surveys/samples/2017-R1.csv"), csv);
}

#[test]
fn same_inputs_give_byte_identical_files() {
    let a = Workspace::init("panlong-2018");
    let b = Workspace::init("panlong-2018");
    for ws in [&a, &b] {
        ws.ok(&["sample", "--round", "2018-R1", "--seed", "s1"]);
        ws.ok(&["sample", "--round", "2018-R2", "--seed", "s2"]);
    }
    for f in [
        "2018-R1.csv",
        "2018-R1.manifest.json",
        "2018-R2.csv",
        "2018-R2.manifest.json",
    ] {
        let p = format!("surveys/samples/{f}");
        assert_eq!(a.read(&p), b.read(&p), "{f} differs");
    }
}

#[test]
fn verify_names_an_edited_community_code() {
    let ws = Workspace::init("panlong-2017");
    ws.ok(&["sample", "--round", "2017-R1", "--seed", "abc"]);
    let csv = ws.read("surveys/samples/2017-R1.csv");
    ws.write(
        "surveys/samples/2017-R1.csv",
        csv.replace("530103009001,乌龙", "530103009002,乌龙"),
    );
    let line = 1 + csv
        .lines()
        .position(|l| l.contains("530103009001,乌龙"))
        .unwrap();
    let out = ws.fails(&["verify-sample", "--round", "2017-R1"], 1);
    assert!(
        out.contains(&format!(
            "line {line}: community 530103009002 乌龙社区居委会 is not in the re-draw"
        )),
        "{out}"
    );
    assert!(
        out.contains("community 530103009001 乌龙社区居委会 (双龙街道) is missing"),
        "{out}"
    );
    assert!(out.contains("does NOT match"), "{out}");
}

#[test]
fn verify_names_a_deleted_row_once_and_only_its_community() {
    let ws = Workspace::init("panlong-2017");
    ws.ok(&["sample", "--round", "2017-R1", "--seed", "abc"]);
    let csv = ws.read("surveys/samples/2017-R1.csv");
    let deleted = csv.lines().nth(5).unwrap().to_string();
    let code = deleted.split(',').nth(3).unwrap().to_string();
    ws.write(
        "surveys/samples/2017-R1.csv",
        csv.replace(&format!("{deleted}\n"), ""),
    );
    let out = ws.fails(&["verify-sample", "--round", "2017-R1"], 1);
    let mismatches: Vec<&str> = out.lines().filter(|l| l.starts_with("MISMATCH")).collect();
    // The changed file's hash, and the one missing community: nothing else.
    assert_eq!(mismatches.len(), 2, "{out}");
    assert!(
        mismatches
            .iter()
            .any(|l| l.contains(&format!("community {code} ")) && l.contains("is missing")),
        "{out}"
    );
    assert!(
        mismatches
            .iter()
            .any(|l| l.contains("sample file") && l.contains("changed")),
        "{out}"
    );
}

#[test]
fn verify_names_a_changed_frame_or_rules_file() {
    let ws = Workspace::init("panlong-2017");
    ws.ok(&["sample", "--round", "2017-R1", "--seed", "abc"]);
    let frame = ws.read("surveys/frame.csv");
    // Households only, or the order of the rows: the draw is the same, and verify
    // says so instead of "does NOT match".
    let mut lines: Vec<&str> = frame.lines().collect();
    lines[1..].reverse();
    for edited in [frame.replace(",3629", ",3630"), lines.join("\n") + "\n"] {
        ws.write("surveys/frame.csv", edited);
        let out = ws.ok(&["verify-sample", "--round", "2017-R1"]);
        assert!(
            out.contains("frame file surveys/frame.csv changed"),
            "{out}"
        );
        assert!(out.contains("re-draw from it is identical"), "{out}");
        assert!(!out.contains("does NOT match"), "{out}");
    }
    // A community moved to another street changes the draw: named as the cause.
    ws.write(
        "surveys/frame.csv",
        frame.replace(
            "530103009,双龙街道,530103009002",
            "530103010,松华街道,530103009002",
        ),
    );
    let out = ws.fails(&["verify-sample", "--round", "2017-R1"], 1);
    assert!(
        out.contains("frame file surveys/frame.csv changed"),
        "{out}"
    );
    assert!(out.contains("does NOT match"), "{out}");
    ws.write("surveys/frame.csv", frame);
    let rules = ws.read("scoring-rules/panlong-2017.toml");
    ws.write(
        "scoring-rules/panlong-2017.toml",
        rules.replace("rate = 0.30", "rate = 0.40"),
    );
    let out = ws.fails(&["verify-sample", "--round", "2017-R1"], 1);
    assert!(
        out.contains("rules file scoring-rules/panlong-2017.toml changed"),
        "{out}"
    );
}

#[test]
fn rotation_needs_earlier_rounds_and_verify_detects_a_changed_earlier_round() {
    let ws = Workspace::init("panlong-2018");
    let err = ws.fails(&["sample", "--round", "2018-R2", "--seed", "x"], 1);
    assert!(err.contains("2018-R1 has no sample"), "{err}");
    ws.ok(&["sample", "--round", "2018-R1", "--seed", "a"]);
    ws.ok(&["sample", "--round", "2018-R2", "--seed", "b"]);
    ws.ok(&["sample", "--round", "2018-R3", "--seed", "c"]);
    let mut all = BTreeSet::new();
    for r in 1..=3 {
        for line in ws
            .read(&format!("surveys/samples/2018-R{r}.csv"))
            .lines()
            .skip(1)
        {
            assert!(all.insert(line.split(',').nth(3).unwrap().to_string()));
        }
    }
    assert_eq!(all.len(), 105);
    let err = ws.fails(&["sample", "--round", "2018-R4", "--seed", "d"], 1);
    assert!(err.contains("3 round(s) a year"), "{err}");
    let r1 = ws.read("surveys/samples/2018-R1.csv");
    ws.write("surveys/samples/2018-R1.csv", format!("{r1}\n"));
    let out = ws.fails(&["verify-sample", "--round", "2018-R2"], 1);
    assert!(
        out.contains("earlier round 2018-R1 sample changed"),
        "{out}"
    );
}

#[test]
fn bad_frames_are_refused_with_the_line_named() {
    let cases = [
        (
            "street_code,street_name,community_name\n1,A,X\n",
            "missing required column `community_code`",
        ),
        (
            "street_code,street_name,community_code,community_name\n1,A,11,X\n1,A,11,Y\n",
            "line 3, column community_code: duplicate community code 11 (first on line 2)",
        ),
        (
            "street_code,street_name,community_code,community_name\n,A,11,X\n",
            "line 2, column street_code: a community without a street",
        ),
        // CRLF and a blank line: the csv crate's own line count would say 2 here.
        (
            "street_code,street_name,community_code,community_name\r\n1,A,11,X\r\n\r\n1,A,11,Y\r\n",
            "line 4, column community_code: duplicate community code 11 (first on line 2)",
        ),
        (
            "street_code,street_name,community_code,community_name,households\n1,A,11,X,many\n",
            "line 2, column households",
        ),
        (
            "street_code,street_name,community_code,community_name\n1,A,11\n",
            "line 2: has 3 fields, the header has 4",
        ),
        (
            "street_code,street_name,community_code,community_name\n",
            "the frame has no communities",
        ),
    ];
    for (text, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("frame.csv");
        std::fs::write(&f, text).unwrap();
        let target = dir.path().join("ws");
        let out = common::run_in(
            dir.path(),
            &[
                "init",
                target.to_str().unwrap(),
                "--scheme",
                "panlong-2017",
                "--frame",
                f.to_str().unwrap(),
            ],
        );
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "expected {expected:?} in {err}");
        assert!(!target.join("manyi.toml").exists());
    }
}

#[test]
fn bad_rules_are_refused_naming_the_key() {
    let base = Rules::shipped("panlong-2018").unwrap();
    let cases = [
        (
            base.replacen("weight = 0.20", "weight = 0.25", 1),
            "questions.weight",
            "sum to",
        ),
        (
            base.replacen("id = \"q2\"", "id = \"q1\"", 1),
            "questions[1].id",
            "duplicate question id",
        ),
        (
            base.replacen("[validity]", "[validity]\nmin_items = 3", 1),
            "line",
            "unknown field `min_items`",
        ),
        (
            base.replacen("rate = 0.30", "rate = 1.5", 1),
            "sampling.rate",
            "within (0, 1]",
        ),
        (
            base.replacen("calendar = [2, 3, 4]", "calendar = [2, 3]", 1),
            "sampling.calendar",
            "one quarter per round",
        ),
        (
            base.replacen("min_answered_items = 6", "min_answered_items = 11", 1),
            "validity.min_answered_items",
            "within 1..10",
        ),
        (
            base.replacen("code = \"2\"", "code = \"1\"", 1),
            "scale.answers[1]",
            "already used",
        ),
        (
            base.to_string()
                + &(0..260)
                    .map(|i| {
                        format!(
                            "\n[[scale.answers]]\nlabel = \"a{i}\"\nscore = 50.0\ncode = \"c{i}\"\n"
                        )
                    })
                    .collect::<String>(),
            "scale.answers",
            "at most 254 answers",
        ),
        (
            base.replacen("community_score = 80.0", "community_score = 180.0", 1),
            "threshold.community_score",
            "within 0..100",
        ),
    ];
    for (text, key, msg) in cases {
        let err = Rules::parse(&text, "r.toml").unwrap_err().to_string();
        assert!(
            err.contains(key) && err.contains(msg),
            "expected {key:?}/{msg:?} in {err}"
        );
    }
    // Through the binary: a broken rules file stops `sample` with exit 1.
    let ws = Workspace::init("panlong-2018");
    ws.write(
        "scoring-rules/panlong-2018.toml",
        base.replacen("weight = 0.20", "weight = 0.25", 1),
    );
    let err = ws.fails(&["sample", "--round", "2018-R1", "--seed", "x"], 1);
    assert!(err.contains("questions.weight"), "{err}");
}

#[test]
fn usage_errors_exit_2_and_a_missing_workspace_exits_1() {
    let ws = Workspace::init("panlong-2017");
    ws.fails(&["sample", "--round", "2017-R1"], 2);
    ws.fails(&["no-such-command"], 2);
    let dir = tempfile::tempdir().unwrap();
    let out = common::run_in(dir.path(), &["sample", "--round", "2017-R1", "--seed", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no manyi.toml"));
    let out = common::run_in(dir.path(), &["init", "x", "--scheme", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("shipped schemes: panlong-2017, panlong-2018")
    );
}

#[cfg(unix)]
#[test]
fn two_draws_of_one_round_at_once_give_one_sample_with_its_own_manifest() {
    let ws = Workspace::init("panlong-2017");
    let bin = assert_cmd::cargo::cargo_bin!("manyi");
    // Each draw pauses after its check that the round has no sample: without the lock
    // both would pass the check and write, pairing one's sample with the other's
    // manifest.
    let spawn = |seed: &str| {
        std::process::Command::new(bin)
            .args([
                "-w",
                ws.path().to_str().unwrap(),
                "sample",
                "--round",
                "2017-R1",
                "--seed",
                seed,
            ])
            .env("MANYI_TEST_PAUSE_SAMPLE_MS", "700")
            .env("MANYI_LANG", "en")
            .output()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| spawn("first"));
        let b = s.spawn(|| spawn("second"));
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    assert_eq!(
        [a.status.success(), b.status.success()]
            .iter()
            .filter(|x| **x)
            .count(),
        1,
        "exactly one draw succeeds"
    );
    let loser = if a.status.success() { &b } else { &a };
    assert!(String::from_utf8_lossy(&loser.stderr).contains("refusing to overwrite"));
    ws.ok(&["verify-sample", "--round", "2017-R1"]);
}

#[test]
fn round_ids_normalise_case_and_leading_zeros_and_refuse_signs() {
    assert_eq!(round("2018-r1").to_string(), "2018-R1");
    assert_eq!(round("2018-R01").to_string(), "2018-R1");
    for bad in [
        "2018-R+1", "2018-R 1", "2018-R0", "+2018-R1", "2018-R", "18-R1x",
    ] {
        assert!(bad.parse::<RoundId>().is_err(), "{bad} accepted");
    }
}

#[test]
fn a_sample_drawn_elsewhere_is_imported_checked_by_hash_and_journalled() {
    let ws = Workspace::init("panlong-2018");
    let file = common::data("2018-R1-sample.csv");
    // Copied by hand: refused by ingest, score and verify-sample, each with the command.
    ws.write("surveys/samples/2018-R1.csv", std::fs::read(&file).unwrap());
    let delivery = common::data("evaluator-a-template-utf8.csv");
    for args in [
        vec!["ingest", delivery.to_str().unwrap(), "--round", "2018-R1"],
        vec!["score", "--round", "2018-R1"],
        vec!["verify-sample", "--round", "2018-R1"],
    ] {
        let err = ws.fails(&args, 1);
        assert!(
            err.contains("no manifest") && err.contains("--import FILE --reason"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("No such file"), "{err}");
    }
    std::fs::remove_file(ws.file("surveys/samples/2018-R1.csv")).unwrap();
    // A reason is required.
    ws.fails(
        &[
            "sample",
            "--round",
            "2018-R1",
            "--import",
            file.to_str().unwrap(),
        ],
        2,
    );
    // A community that is not in the frame: refused, naming the line.
    let text = std::fs::read_to_string(&file).unwrap();
    let bad = ws.file("bad-sample.csv");
    std::fs::write(&bad, text.replacen("530103001005", "530103001999", 1)).unwrap();
    let err = ws.fails(
        &[
            "sample",
            "--round",
            "2018-R1",
            "--import",
            bad.to_str().unwrap(),
            "--reason",
            "x",
        ],
        1,
    );
    assert!(
        err.contains("line 3") && err.contains("530103001999"),
        "{err}"
    );
    // A community listed twice, or in the wrong street: refused.
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&bad, format!("{}\n{}\n", text.trim_end(), lines[1])).unwrap();
    let err = ws.fails(
        &[
            "sample",
            "--round",
            "2018-R1",
            "--import",
            bad.to_str().unwrap(),
            "--reason",
            "x",
        ],
        1,
    );
    assert!(err.contains("listed twice"), "{err}");
    assert!(!ws.file("surveys/samples/2018-R1.csv").exists());
    // The good file: one warning per street whose count differs from the rules' size
    // (rotation, round 1 of 3: ceil(N_h / 3), from the frame here).
    let out = ws.run(&[
        "sample",
        "--round",
        "2018-R1",
        "--import",
        file.to_str().unwrap(),
        "--reason",
        "drawn at the district lottery before manyi was installed",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut n_h: BTreeMap<String, usize> = BTreeMap::new();
    for l in FRAME.lines().skip(1) {
        *n_h.entry(l.split(',').next().unwrap().to_string())
            .or_default() += 1;
    }
    let mut in_file: BTreeMap<String, usize> = BTreeMap::new();
    for l in text.lines().skip(1) {
        *in_file
            .entry(l.split(',').nth(1).unwrap().to_string())
            .or_default() += 1;
    }
    let differing: BTreeSet<String> = n_h
        .iter()
        .filter(|(s, n)| in_file.get(*s).copied().unwrap_or(0) != n.div_ceil(3))
        .map(|(s, _)| s.clone())
        .collect();
    let warned = |stderr: &str| -> BTreeSet<String> {
        stderr
            .lines()
            .filter(|l| l.contains("warning"))
            .map(|l| l.split("street ").nth(1).unwrap()[..9].to_string())
            .collect()
    };
    assert_eq!(warned(&stderr), differing, "{stderr}");
    // A file one community short in one street: exactly that street is warned about.
    let ws2 = Workspace::init("panlong-2018");
    let short = ws2.file("short.csv");
    let drop = lines
        .iter()
        .position(|l| l.contains(",530103009,"))
        .unwrap();
    let kept: Vec<&str> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != drop)
        .map(|(_, l)| *l)
        .collect();
    std::fs::write(&short, kept.join("\n") + "\n").unwrap();
    let out2 = ws2.run(&[
        "sample",
        "--round",
        "2018-R1",
        "--import",
        short.to_str().unwrap(),
        "--reason",
        "x",
    ]);
    assert!(out2.status.success());
    let stderr2 = String::from_utf8_lossy(&out2.stderr);
    let mut want = differing.clone();
    want.insert("530103009".to_string());
    assert_eq!(warned(&stderr2), want, "{stderr2}");
    assert!(
        stderr2.contains("1 communities in the file, the rules' size is 2"),
        "{stderr2}"
    );
    let m: serde_json::Value =
        serde_json::from_str(&ws.read("surveys/samples/2018-R1.manifest.json")).unwrap();
    assert_eq!(m["algorithm"], "imported");
    assert_eq!(
        m["sample_sha256"],
        manyi::fsutil::sha256_hex(&std::fs::read(&file).unwrap())
    );
    assert_eq!(ws.read("surveys/samples/2018-R1.csv"), text);
    let out = ws.ok(&["verify-sample", "--round", "2018-R1"]);
    assert!(
        out.contains("imported") && out.contains("drawn at the district lottery"),
        "{out}"
    );
    // Importing again is refused (the sample of a round is final).
    ws.fails(
        &[
            "sample",
            "--round",
            "2018-R1",
            "--import",
            file.to_str().unwrap(),
            "--reason",
            "x",
        ],
        1,
    );
    // An edited imported sample fails verification.
    ws.write(
        "surveys/samples/2018-R1.csv",
        text.replacen("530103001005", "530103001004", 1),
    );
    let out = ws.fails(&["verify-sample", "--round", "2018-R1"], 1);
    assert!(out.contains("changed"), "{out}");
    ws.write("surveys/samples/2018-R1.csv", &text);
    let j: serde_json::Value = serde_json::from_str(&ws.ok(&["journal", "--json"])).unwrap();
    let e = &j[0];
    assert_eq!(e["action"], "sample-import");
    assert_eq!(
        e["reason"],
        "drawn at the district lottery before manyi was installed"
    );
    assert_eq!(e["written"][1]["sha256"], m["sample_sha256"]);
    ws.ok(&["ingest", delivery.to_str().unwrap(), "--round", "2018-R1"]);
}
