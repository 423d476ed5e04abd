//! `manyi evaluate`: periods, indicators, NA re-weighting, deductions; the shipped
//! examples against tests/data/evaluate_reference.py (evaluate-2018H1-expected.json).

mod common;

use std::collections::BTreeMap;

use common::{Workspace, data, example_workspace};

type Rows = Vec<BTreeMap<String, String>>;

fn read_csv(path: std::path::PathBuf) -> Rows {
    let mut r = csv::Reader::from_path(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let h = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            h.iter()
                .zip(rec.unwrap().iter())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn f(s: &str) -> f64 {
    s.parse()
        .unwrap_or_else(|_| panic!("{s:?} is not a number"))
}

fn street<'a>(rows: &'a Rows, code: &str) -> &'a BTreeMap<String, String> {
    rows.iter()
        .find(|r| r["street_code"] == code && r.get("row_type").is_none_or(|t| t == "street"))
        .unwrap()
}

/// The example workspace with the three deliveries of 2018-R1 ingested.
fn ingested() -> Workspace {
    let ws = example_workspace();
    for f in [
        "evaluator-a-template-utf8.csv",
        "evaluator-b-excel-gbk.csv",
        "evaluator-c-names-bom.csv",
    ] {
        ws.ok(&["ingest", data(f).to_str().unwrap(), "--round", "2018-R1"]);
    }
    ws
}

#[test]
fn half_year_on_the_examples_matches_the_independent_reference() {
    let ws = ingested();
    ws.write(
        "surveys/indicators/2018H1.csv",
        std::fs::read(data("indicators-2018H1.csv")).unwrap(),
    );
    ws.ok(&["score", "--round", "2018-R1"]);
    let out = ws.ok(&["evaluate", "--period", "2018H1"]);
    assert!(
        out.contains("松华街道") && out.contains("deductions"),
        "{out}"
    );
    let exp: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(data("evaluate-2018H1-expected.json")).unwrap(),
    )
    .unwrap();
    let close = |got: &str, want: &serde_json::Value, what: &str| {
        let (g, w) = (f(got), want.as_f64().unwrap());
        assert!((g - w).abs() < 1e-9, "{what}: got {g}, expected {w}");
    };
    for c in read_csv(ws.file("reports/2018-R1/community_scores.csv")) {
        let e = &exp["communities"][&c["community_code"]];
        if e.is_null() {
            assert_eq!(c["status"], "insufficient", "{c:?}");
            continue;
        }
        for k in ["score", "se", "ci_low", "ci_high"] {
            close(&c[k], &e[k], &format!("{} {k}", c["community_code"]));
        }
        close(&c["satisfaction_rate"], &e["rate"], &c["community_code"]);
    }
    let streets = read_csv(ws.file("reports/2018-R1/street_scores.csv"));
    let ev = read_csv(ws.file("reports/2018H1/street_evaluation.csv"));
    let ded = read_csv(ws.file("reports/2018H1/deductions.csv"));
    assert_eq!(ev.len(), 12);
    for (code, e) in exp["evaluation"].as_object().unwrap() {
        let s = street(&streets, code);
        for k in ["score", "se", "ci_low", "ci_high"] {
            close(
                &s[k],
                &exp["streets"][code][k],
                &format!("street {code} {k}"),
            );
        }
        let r = street(&ev, code);
        for k in ["satisfaction_points", "task_points", "total"] {
            close(&r[k], &e[k], &format!("street {code} {k}"));
        }
        assert_eq!(r["rank"], e["rank"].to_string(), "rank of {code}");
        close(
            &street(&ded, code)["total"],
            &e["deduction"],
            &format!("deduction {code}"),
        );
        let mut below: Vec<&str> = ded
            .iter()
            .filter(|d| {
                d["row_type"] == "community" && &d["street_code"] == code && d["counted"] == "true"
            })
            .map(|d| d["community_code"].as_str())
            .collect();
        below.sort();
        let want: Vec<&str> = e["below"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(below, want, "below-threshold communities of {code}");
    }
    // 鼓楼 did not report t5: it scores 0 and is listed; t8 is NA outside 涉农 streets.
    let gulou = street(&ev, "530103002");
    assert_eq!(gulou["missing_indicators"], "t5");
    assert_eq!(gulou["t8_value"], "NA");
    assert_eq!(gulou["t8_points"], "");
    // The street evaluation says which communities and respondents stand behind it:
    // the valid respondents of the scored communities, counted by the reference.
    let h1_streets = read_csv(ws.file("reports/2018H1/street_scores.csv"));
    for (code, s) in exp["streets"].as_object().unwrap() {
        assert_eq!(
            street(&h1_streets, code)["n_respondents"],
            s["n_respondents"].to_string(),
            "respondents behind street {code}"
        );
    }
}

const Q: &str = "period,street_code,street_name,indicator,value\n";

fn quarter_file(period: &str, values: &[(&str, &str)]) -> String {
    let mut s = Q.to_string();
    for street in [
        "530103001",
        "530103002",
        "530103003",
        "530103004",
        "530103005",
        "530103006",
        "530103007",
        "530103008",
        "530103009",
        "530103010",
        "530103011",
        "530103012",
    ] {
        for (ind, v) in values {
            s.push_str(&format!("{period},{street},,{ind},{v}\n"));
        }
    }
    s
}

#[test]
fn quarters_halve_half_year_targets_and_half_years_derive_from_quarters() {
    let ws = ingested();
    let q = [
        ("t1", "1"),
        ("t2", "0.5"),
        ("t3", "15"),
        ("t4", "100"),
        ("t5", "95"),
        ("t6", "1"),
        ("t7", "1"),
        ("t8", "NA"),
    ];
    ws.write("surveys/indicators/2018Q1.csv", quarter_file("2018Q1", &q));
    ws.write("surveys/indicators/2018Q2.csv", quarter_file("2018Q2", &q));
    // Q1: no round held yet: the satisfaction part is missing and said so, not zero.
    let out = ws.ok(&["evaluate", "--period", "2018Q1"]);
    assert!(out.contains("no round held so far this year"), "{out}");
    let q1 = read_csv(ws.file("reports/2018Q1/street_evaluation.csv"));
    let s = street(&q1, "530103001");
    assert_eq!(
        (s["satisfaction_points"].as_str(), s["total"].as_str()),
        ("", "")
    );
    // Quarter targets: t1 1 → 0.5, t6 2 → 1; per-month and level targets unchanged.
    assert_eq!(
        (
            s["t1_target"].as_str(),
            s["t6_target"].as_str(),
            s["t2_target"].as_str()
        ),
        ("0.5", "1", "1")
    );
    assert_eq!(
        (
            s["t1_points"].as_str(),
            s["t6_points"].as_str(),
            s["t2_points"].as_str()
        ),
        ("6", "6", "3")
    );
    // Penalty: 6 − 2 × 1; NA t8 leaves 54 points scaled to 60.
    assert_eq!(s["t7_points"], "4");
    assert!(
        (f(&s["task_points"]) - (6.0 + 3.0 + 10.0 + 10.0 + 10.0 + 6.0 + 4.0) * 60.0 / 54.0).abs()
            < 1e-9
    );
    // Q2 has round R1.
    ws.ok(&["evaluate", "--period", "2018Q2"]);
    let q2 = read_csv(ws.file("reports/2018Q2/street_evaluation.csv"));
    assert_eq!(street(&q2, "530103001")["rounds"], "2018-R1");
    assert_ne!(street(&q2, "530103001")["total"], "");
    // H1 without its own file: counts add up (t1 2, t6 2, t7 2), ratios average.
    ws.ok(&["evaluate", "--period", "2018H1"]);
    let h1 = read_csv(ws.file("reports/2018H1/street_evaluation.csv"));
    let s = street(&h1, "530103001");
    assert_eq!(
        (
            s["t1_value"].as_str(),
            s["t6_value"].as_str(),
            s["t7_value"].as_str(),
            s["t2_value"].as_str()
        ),
        ("2", "2", "2", "0.5")
    );
    assert!(
        s["indicators_source"].starts_with(
            "derived from surveys/indicators/2018Q1.csv and surveys/indicators/2018Q2.csv"
        ),
        "{s:?}"
    );
}

#[test]
fn a_half_year_without_a_round_carries_the_latest_and_the_year_weights_the_halves() {
    let ws = ingested();
    ws.write(
        "surveys/indicators/2018H1.csv",
        std::fs::read(data("indicators-2018H1.csv")).unwrap(),
    );
    let h2 = String::from_utf8(std::fs::read(data("indicators-2018H1.csv")).unwrap())
        .unwrap()
        .replace("2018H1", "2018H2");
    ws.write("surveys/indicators/2018H2.csv", h2);
    let out = ws.ok(&["evaluate", "--period", "2018H2"]);
    assert!(out.contains("carries 2018-R1"), "{out}");
    ws.ok(&["evaluate", "--period", "2018H1"]);
    ws.ok(&["evaluate", "--period", "2018"]);
    let h1 = read_csv(ws.file("reports/2018H1/street_evaluation.csv"));
    let h2 = read_csv(ws.file("reports/2018H2/street_evaluation.csv"));
    let y = read_csv(ws.file("reports/2018/street_evaluation.csv"));
    for code in ["530103001", "530103011"] {
        let want = 0.5 * f(&street(&h1, code)["total"]) + 0.5 * f(&street(&h2, code)["total"]);
        assert!((f(&street(&y, code)["total"]) - want).abs() < 1e-9);
    }
    assert!(ws.file("reports/2018/deductions.csv").is_file());
}

#[test]
fn bad_indicator_values_and_empty_periods_are_refused_with_a_clear_message() {
    let ws = ingested();
    let text = String::from_utf8(std::fs::read(data("indicators-2018H1.csv")).unwrap())
        .unwrap()
        .replace(
            "2018H1,530103001,拓东街道,t2,0.8",
            "2018H1,530103001,拓东街道,t2,about one",
        );
    ws.write("surveys/indicators/2018H1.csv", text);
    let err = ws.fails(&["evaluate", "--period", "2018H1"], 1);
    assert!(
        err.contains("line 3, column value: \"about one\" is not a number"),
        "{err}"
    );
    let err = ws.fails(&["evaluate", "--period", "2019H1"], 1);
    assert!(err.contains("period 2019H1 has no data"), "{err}");
    ws.fails(&["evaluate", "--period", "2018H3"], 1);
}

#[test]
fn the_ci_upper_rule_counts_only_communities_wholly_below_and_shows_both() {
    let ws = ingested();
    ws.write(
        "surveys/indicators/2018H1.csv",
        std::fs::read(data("indicators-2018H1.csv")).unwrap(),
    );
    let rules = ws.read("scoring-rules/panlong-2018.toml");
    ws.write(
        "scoring-rules/panlong-2018.toml",
        rules.replace("decision = \"point\"", "decision = \"ci_upper\""),
    );
    ws.ok(&["evaluate", "--period", "2018H1"]);
    let ded = read_csv(ws.file("reports/2018H1/deductions.csv"));
    let bt = ded
        .iter()
        .find(|d| d["community_code"] == "530103001003")
        .unwrap();
    // 白塔: 78.0 with CI 74.6–81.4: below by the point estimate, not by the CI.
    assert_eq!(
        (
            bt["below_point"].as_str(),
            bt["below_ci"].as_str(),
            bt["counted"].as_str(),
            bt["points"].as_str()
        ),
        ("true", "false", "false", "0")
    );
    let zyl = ded
        .iter()
        .find(|d| d["community_code"] == "530103001005")
        .unwrap();
    assert_eq!(zyl["counted"], "true");
    assert_eq!(street(&ded, "530103001")["points"], "0.5");
}

#[test]
fn a_malformed_half_year_file_stops_the_year_naming_file_line_and_column() {
    let ws = ingested();
    let text = String::from_utf8(std::fs::read(data("indicators-2018H1.csv")).unwrap())
        .unwrap()
        .replace(
            "2018H1,530103001,拓东街道,t2,0.8",
            "2018H1,530103001,拓东街道,t2,about one",
        );
    ws.write("surveys/indicators/2018H1.csv", text);
    let err = ws.fails(&["evaluate", "--period", "2018"], 1);
    assert!(
        err.contains("2018H1.csv")
            && err.contains("line 3, column value: \"about one\" is not a number"),
        "{err}"
    );
    assert!(!ws.file("reports/2018/street_evaluation.csv").exists());
}

#[test]
fn evaluate_without_indicators_names_the_files_it_looked_for_and_the_template() {
    let ws = ingested();
    // init made the folder and a template with every street and indicator.
    let template = ws.read("surveys/indicators/TEMPLATE.csv");
    assert!(template.starts_with("\u{feff}period,street_code,street_name,indicator,value"));
    assert_eq!(template.lines().count(), 1 + 12 * 8);
    assert!(
        template.contains(",530103001,拓东街道,t8,NA"),
        "t8 applies to 涉农 streets only"
    );
    let out = ws.ok(&["evaluate", "--period", "2018H1"]);
    for f in [
        "surveys/indicators/2018H1.csv",
        "surveys/indicators/2018Q1.csv",
        "surveys/indicators/2018Q2.csv",
    ] {
        assert!(out.contains(f), "{f} not named: {out}");
    }
    assert!(out.contains("TEMPLATE.csv"), "{out}");
    let zh = ws.ok(&["--lang", "zh", "evaluate", "--period", "2018H1"]);
    assert!(zh.contains("没有找到本期的任务指标文件"), "{zh}");
    assert!(zh.contains("总分(不含扣分)"), "{zh}");
}

/// The desk offers 评价 only for a period that evaluating can give a result for:
/// `has_data` agrees with `manyi evaluate` itself, for every period of the year, on an
/// empty workspace, after a round's deliveries, and after a later half-year's file.
#[test]
fn has_data_agrees_with_evaluate_for_every_period_of_the_year() {
    let ws = example_workspace();
    let periods: Vec<manyi::round::Period> = [
        "2018Q1", "2018Q2", "2018Q3", "2018Q4", "2018H1", "2018H2", "2018",
    ]
    .iter()
    .map(|p| p.parse().unwrap())
    .collect();
    let check = |ws: &Workspace, stage: &str| -> Vec<bool> {
        let mws = manyi::workspace::Workspace::open(ws.path()).unwrap();
        let has = manyi::evaluate::has_data(&mws, &periods).unwrap();
        for (p, h) in periods.iter().zip(&has) {
            let out = ws.run(&["evaluate", "--period", &p.to_string()]);
            assert_eq!(
                *h,
                out.status.success(),
                "{stage}: {p}: has_data {h} but evaluate said {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        has
    };
    assert_eq!(check(&ws, "empty"), [false; 7]);
    for f in ["evaluator-a-template-utf8.csv", "evaluator-b-excel-gbk.csv"] {
        ws.ok(&["ingest", data(f).to_str().unwrap(), "--round", "2018-R1"]);
    }
    // The scheme holds 2018-R1 in Q2 (`calendar = [2, 3, 4]`): Q1 has nothing; Q2–Q4
    // count the rounds held so far, H1 has it, H2 carries it, the year has it.
    assert_eq!(
        check(&ws, "after 2018-R1"),
        [false, true, true, true, true, true, true]
    );
    // A quarter's own indicator file makes it evaluable without a round.
    let q1 = String::from_utf8(std::fs::read(data("indicators-2018H1.csv")).unwrap())
        .unwrap()
        .replace("2018H1", "2018Q1");
    ws.write("surveys/indicators/2018Q1.csv", q1);
    assert_eq!(check(&ws, "with 2018Q1's indicators"), [true; 7]);
}

/// An upheld waiver lowers a street's total by the line's points only within the cap:
/// with the cap at 0.3 (below the 0.5 a community costs), the community part is 0.3,
/// so waiving the street's one counted community lowers its total by 0.3, not 0.5
/// (hand: 0.3 + 1 street-level = 1.3 → 1.0). The CLI's appeal path end to end.
#[test]
fn a_waiver_lowers_the_total_within_the_cap() {
    let ws = example_workspace();
    ws.ok(&[
        "ingest",
        data("evaluator-a-messy.csv").to_str().unwrap(),
        "--round",
        "2018-R1",
    ]);
    let rules = ws.read("scoring-rules/panlong-2018.toml");
    assert!(rules.contains("cap_per_street = 3.0"));
    ws.write(
        "scoring-rules/panlong-2018.toml",
        rules.replace("cap_per_street = 3.0", "cap_per_street = 0.3"),
    );
    ws.ok(&["score", "--round", "2018-R1"]);
    ws.ok(&["evaluate", "--period", "2018H1"]);
    ws.ok(&["publish", "2018H1"]);
    let total = |path: &str| -> f64 {
        let rows = read_csv(ws.file(path));
        let r = rows
            .iter()
            .find(|r| r["row_type"] == "street" && r["street_code"] == "530103001")
            .unwrap();
        f(&r["total"])
    };
    assert!((total("reports/2018H1/deductions.csv") - 1.3).abs() < 1e-9);
    let out = ws.ok(&[
        "appeal",
        "submit",
        "--period",
        "2018H1",
        "--street",
        "530103001",
        "--community",
        "530103001003",
        "--reason",
        "测评期间道路施工",
        "--json",
    ]);
    let id = serde_json::from_str::<serde_json::Value>(&out).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    ws.ok(&[
        "appeal",
        "rule",
        &id,
        "--uphold",
        "--waive",
        "--reason",
        "施工影响属实",
    ]);
    for p in [
        "reports/2018H1/deductions.csv",
        "surveys/store/published/2018H1/deductions.csv",
    ] {
        assert!((total(p) - 1.0).abs() < 1e-9, "{p}: {}", total(p));
    }
    let listed = ws.ok(&["appeals", "--json"]);
    assert!(listed.contains("\"upheld\""), "{listed}");
    // The ledger no longer owes a rectification for the waived community.
    let ledger = ws.ok(&["ledger", "--period", "2018H1", "--json"]);
    assert!(!ledger.contains("530103001003"), "{ledger}");
}
