//! `manyi score`: community and street estimates against the independent reference in
//! tests/data/score/score_reference.py (expected.json), to 1e-9.

mod common;

use common::{Workspace, data};

fn workspace() -> Workspace {
    let dir = tempfile::tempdir().unwrap();
    let out = common::run_in(
        dir.path(),
        &[
            "init",
            dir.path().to_str().unwrap(),
            "--scheme",
            "panlong-2018",
            "--frame",
            data("score/frame.csv").to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ws = Workspace { dir };
    let rules = std::fs::read_to_string(ws.file("scoring-rules/panlong-2018.toml")).unwrap();
    std::fs::write(
        ws.file("scoring-rules/panlong-2018.toml"),
        rules.replace(
            "min_valid_per_community = 30",
            "min_valid_per_community = 1",
        ),
    )
    .unwrap();
    ws.ok(&[
        "sample",
        "--round",
        "2018-R1",
        "--import",
        data("score/sample.csv").to_str().unwrap(),
        "--reason",
        "the reference data's own sample",
    ]);
    ws
}

fn read_csv(path: std::path::PathBuf) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
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

fn close(got: &str, want: &serde_json::Value, what: &str) {
    if want.is_null() {
        assert_eq!(got, "", "{what}: expected empty, got {got}");
    } else {
        let g: f64 = got
            .parse()
            .unwrap_or_else(|_| panic!("{what}: {got:?} is not a number"));
        let w = want.as_f64().unwrap();
        assert!((g - w).abs() < 1e-9, "{what}: got {g}, expected {w}");
    }
}

#[test]
fn scores_match_the_independent_reference() {
    let ws = workspace();
    ws.ok(&[
        "ingest",
        data("score/delivery.csv").to_str().unwrap(),
        "--round",
        "2018-R1",
    ]);
    let out = ws.ok(&["score", "--round", "2018-R1"]);
    assert!(out.contains("丙街道"), "{out}");
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data("score/expected.json")).unwrap())
            .unwrap();
    let comms = read_csv(ws.file("reports/2018-R1/community_scores.csv"));
    assert_eq!(comms.len(), 8);
    for c in &comms {
        let e = &expected["communities"][&c["community_code"]];
        let what = format!("community {}", c["community_code"]);
        assert_eq!(c["n_valid"], e["n_valid"].to_string(), "{what}");
        for k in [
            "score",
            "se",
            "ci_low",
            "ci_high",
            "df",
            "satisfaction_rate",
        ] {
            close(&c[k], &e[k], &format!("{what} {k}"));
        }
        assert_eq!(c["status"], "ok");
        assert!(!c[&"score".to_string()].contains("NaN"));
    }
    let streets = read_csv(ws.file("reports/2018-R1/street_scores.csv"));
    assert_eq!(streets.len(), 4);
    for s in &streets {
        let e = &expected["streets"][&s["street_code"]];
        let what = format!("street {}", s["street_code"]);
        assert_eq!(s["n_communities"], e["n_communities"].to_string(), "{what}");
        assert_eq!(s["n_respondents"], e["n_respondents"].to_string(), "{what}");
        for k in [
            "score",
            "se",
            "ci_low",
            "ci_high",
            "df",
            "satisfaction_rate",
        ] {
            close(&s[k], &e[k], &format!("{what} {k}"));
        }
    }
    let by = |code: &str| streets.iter().find(|s| s["street_code"] == code).unwrap();
    // A street of 3 with 1 measured: the score stands, SE and CI are empty, and it says why.
    assert!(
        by("S3")["note"].contains("only 1 of 3 communities"),
        "{:?}",
        by("S3")
    );
    // Census street: df = Σ m_i − n_h.
    assert_eq!(by("S2")["df"], "14");
    // A community with one valid respondent: no SE, and the street says so.
    let c42 = comms.iter().find(|c| c["community_code"] == "C42").unwrap();
    assert_eq!((c42["n_valid"].as_str(), c42["se"].as_str()), ("1", ""));
    assert!(
        by("S4")["note"].contains("single respondent"),
        "{:?}",
        by("S4")
    );
}

#[test]
fn all_not_answered_and_too_few_items_are_stored_but_not_scored() {
    let ws = workspace();
    let out = ws.ok(&[
        "ingest",
        data("score/delivery.csv").to_str().unwrap(),
        "--round",
        "2018-R1",
    ]);
    assert!(out.contains("2 invalid"), "{out}");
    ws.ok(&["score", "--round", "2018-R1"]);
    let comms = read_csv(ws.file("reports/2018-R1/community_scores.csv"));
    let c42 = comms.iter().find(|c| c["community_code"] == "C42").unwrap();
    assert_eq!(c42["n_valid"], "1");
}

#[test]
fn insufficient_and_unmeasured_communities_are_listed_not_scored() {
    let ws = workspace();
    let rules = std::fs::read_to_string(ws.file("scoring-rules/panlong-2018.toml")).unwrap();
    std::fs::write(
        ws.file("scoring-rules/panlong-2018.toml"),
        rules.replace("min_valid_per_community = 1", "min_valid_per_community = 6"),
    )
    .unwrap();
    // Only part of the delivery: C11..C22 rows.
    let text = std::fs::read_to_string(data("score/delivery.csv")).unwrap();
    let part: Vec<&str> = text
        .lines()
        .filter(|l| !l.contains(",C23,") && !l.contains(",C31,"))
        .collect();
    std::fs::write(ws.file("part.csv"), part.join("\n")).unwrap();
    ws.ok(&[
        "ingest",
        ws.file("part.csv").to_str().unwrap(),
        "--round",
        "2018-R1",
    ]);
    ws.ok(&["score", "--round", "2018-R1"]);
    let comms = read_csv(ws.file("reports/2018-R1/community_scores.csv"));
    let get = |code: &str| {
        comms
            .iter()
            .find(|c| c["community_code"] == code)
            .unwrap()
            .clone()
    };
    assert_eq!(get("C12")["status"], "insufficient");
    assert_eq!(get("C12")["score"], "");
    assert_eq!(get("C23")["status"], "no-data");
    assert_eq!(get("C11")["status"], "ok");
    let streets = read_csv(ws.file("reports/2018-R1/street_scores.csv"));
    let s1 = streets.iter().find(|s| s["street_code"] == "S1").unwrap();
    assert_eq!(s1["n_sampled"], "2");
    assert_eq!(s1["n_communities"], "1");
    assert!(
        s1["note"].contains("甲二社区居委会 (insufficient sample)"),
        "{s1:?}"
    );
    let s3 = streets.iter().find(|s| s["street_code"] == "S3").unwrap();
    assert_eq!(s3["score"], "");
    assert!(
        s3["note"].contains("no community could be scored"),
        "{s3:?}"
    );
}

#[test]
fn score_of_a_round_without_valid_questionnaires_is_an_error_naming_what_it_looked_at() {
    let ws = common::example_workspace();
    let err = ws.fails(&["score", "--round", "2018-R1"], 1);
    assert!(err.contains("no delivery is stored"), "{err}");
    // A delivery whose only questionnaire answers too few items (invalid).
    let f = ws.file("thin.csv");
    std::fs::write(
        &f,
        format!(
            "{}\nT1,530103001003,白塔社区居委会,2018-R1,2018-04-01,I1,入户,400,满意,,,,,,,,,\n",
            common::HEADER
        ),
    )
    .unwrap();
    ws.ok(&["ingest", f.to_str().unwrap(), "--round", "2018-R1"]);
    let err = ws.fails(&["score", "--round", "2018-R1"], 1);
    assert!(err.contains("thin.csv (1 accepted)"), "{err}");
    assert!(!ws.file("reports/2018-R1/street_scores.csv").exists());
}

/// Every folder and file under `dir` with its permission bits (unix).
#[cfg(unix)]
fn modes_under(dir: &std::path::Path, out: &mut Vec<(std::path::PathBuf, u32)>) {
    use std::os::unix::fs::PermissionsExt;
    out.push((
        dir.to_path_buf(),
        std::fs::metadata(dir).unwrap().permissions().mode() & 0o777,
    ));
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            modes_under(&p, out);
        } else {
            out.push((
                p.clone(),
                std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            ));
        }
    }
}

#[cfg(unix)]
#[test]
fn reports_are_readable_by_the_services_user_only() {
    use std::os::unix::fs::PermissionsExt;
    // Reports name respondents, interviewers and exclusion reasons (issue 21).
    let ws = workspace();
    ws.ok(&[
        "ingest",
        data("score/delivery.csv").to_str().unwrap(),
        "--round",
        "2018-R1",
    ]);
    ws.ok(&["score", "--round", "2018-R1"]);
    let mut modes = Vec::new();
    modes_under(&ws.file("reports"), &mut modes);
    assert!(modes.len() > 3, "{modes:?}");
    for (p, m) in &modes {
        let want = if p.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(*m, want, "{} is {m:o}", p.display());
    }
    // A workspace whose reports were opened to others before (an older version, a
    // copy) is closed again by the next command.
    std::fs::set_permissions(ws.file("reports"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let f = ws.file("reports/2018-R1/community_scores.csv");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    ws.ok(&["deliveries", "--round", "2018-R1"]);
    let mut modes = Vec::new();
    modes_under(&ws.file("reports"), &mut modes);
    for (p, m) in &modes {
        assert_eq!(m & 0o077, 0, "{} is {m:o}", p.display());
    }
}
