//! The per-delivery summaries written at ingest give the same coverage as the rows:
//! after every step of a round (deliveries of two organisations, a withdrawal, a
//! correction, decisions on an interviewer and on single questionnaires), the coverage
//! the office and each organisation see is compared with one counted here from the
//! stored rows, and again with the summaries' files gone (a store made before them).

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{Workspace, example_workspace};
use manyi::round::RoundId;

const ROUND: &str = "2018-R1";
const STREETS_A: &str = "530103001,530103002,530103003,530103004,530103005,530103006";
const STREETS_B: &str = "530103007,530103008,530103009,530103010,530103011,530103012";

/// Coverage counted from the rows: valid questionnaires of active deliveries per
/// sampled community (of the organisation, with a scope), less those the decisions in
/// force exclude (a decision on a questionnaire before its interviewer's).
fn from_rows(ws: &Workspace, org: Option<&str>) -> BTreeMap<String, (u64, u64)> {
    let w = manyi::workspace::Workspace::open(ws.path()).unwrap();
    let round: RoundId = ROUND.parse().unwrap();
    let store = manyi::store::Store::new(&w);
    let index = store.read_index().unwrap();
    let data = manyi::flags::RoundData::load_ids(&store, &index, &round).unwrap();
    let force = manyi::flags::InForce::new(&index, ROUND);
    let (codes, _) = manyi::sample::load_sample_codes(&w, &round).unwrap();
    let frame = w.frame().unwrap();
    let streets: Option<BTreeSet<&str>> = org.map(|o| {
        (if o == "A" { STREETS_A } else { STREETS_B })
            .split(',')
            .collect()
    });
    let org_name = org.map(|o| format!("测评机构{o}"));
    let mut out: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for c in &codes {
        let street = &frame.community(c).unwrap().street_code;
        if streets.as_ref().is_none_or(|s| s.contains(street.as_str())) {
            out.insert(c.clone(), (0, 0));
        }
    }
    let mut i = 0;
    for (k, n) in data.rows.iter().enumerate() {
        let sha = &data.deliveries[k].0;
        let d = index.deliveries.iter().find(|d| &d.sha256 == sha).unwrap();
        let in_scope = org_name.is_none() || d.evaluator == org_name;
        for _ in 0..*n {
            let code = &data.community_codes[data.community[i] as usize];
            if in_scope
                && data.valid[i]
                && let Some(e) = out.get_mut(code)
            {
                let iv = data.interviewer_names.get(data.interviewer[i] as usize);
                if force
                    .excludes(data.respondent(i), iv.map(String::as_str))
                    .is_some()
                {
                    e.1 += 1;
                } else {
                    e.0 += 1;
                }
            }
            i += 1;
        }
    }
    out
}

fn from_summaries(ws: &Workspace, org: Option<&str>) -> BTreeMap<String, (u64, u64)> {
    let w = manyi::workspace::Workspace::open(ws.path()).unwrap();
    let scope = org.map(|o| manyi::accounts::Assigned {
        org: format!("测评机构{o}"),
        streets: (if o == "A" { STREETS_A } else { STREETS_B })
            .split(',')
            .map(String::from)
            .collect(),
    });
    let c = manyi::lifecycle::coverage(&w, &ROUND.parse().unwrap(), scope.as_ref()).unwrap();
    c.communities
        .into_iter()
        .map(|r| (r.community_code, (r.valid, r.excluded)))
        .collect()
}

fn same(ws: &Workspace, step: &str) -> (u64, u64) {
    let (with, rows) = flags_both_ways(ws);
    if with != rows {
        let at = with
            .lines()
            .zip(rows.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "flags at step {step} differ from line {at}: {:?} against {:?} from the rows",
            with.lines().nth(at),
            rows.lines().nth(at)
        );
    }
    // The undecided counts from the cached flags (per interviewer, rows read only
    // with a decision on a single questionnaire) against the whole list's.
    let w = manyi::workspace::Workspace::open(ws.path()).unwrap();
    let round: RoundId = ROUND.parse().unwrap();
    let listed = manyi::lifecycle::flags(&w, &round).unwrap();
    assert_eq!(
        manyi::lifecycle::undecided(&w, &round).unwrap(),
        (
            listed.undecided_interviewers,
            listed.undecided_questionnaires
        ),
        "undecided flags at step {step}"
    );
    let mut total = (0, 0);
    for org in [None, Some("A"), Some("B")] {
        let want = from_rows(ws, org);
        assert!(
            org.is_some() || want.values().any(|v| v.0 > 0) || step == "nothing stored",
            "{step}: the oracle counts nothing"
        );
        assert_eq!(from_summaries(ws, org), want, "{step}, scope {org:?}");
        if org.is_none() {
            total = want.values().fold((0, 0), |t, v| (t.0 + v.0, t.1 + v.1));
        }
    }
    total
}

/// Of a delivered CSV: the first row's interviewer, the respondent of that
/// interviewer's second questionnaire, and the respondent of the last row.
fn ids(path: &std::path::Path) -> (String, String, String) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (iv, rid) = (col("interviewer_id"), col("respondent_id"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let first = rows[0][iv].to_string();
    let second = rows
        .iter()
        .skip(1)
        .find(|r| r[iv] == first)
        .expect("an interviewer with two questionnaires")[rid]
        .to_string();
    (first, second, rows[rows.len() - 1][rid].to_string())
}

/// Copies a folder (the workspace, for a second opinion that must not touch it).
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

/// Makes the store one from before summaries: their files and the index's paths gone,
/// and the flags cache with them. Returns how many were removed.
fn strip_summaries(root: &std::path::Path) -> usize {
    let index_path = root.join("surveys/store/index.json");
    let mut index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&index_path).unwrap()).unwrap();
    let mut removed = 0;
    for d in index["deliveries"].as_array_mut().unwrap() {
        if let Some(rel) = d["summary"].as_str() {
            std::fs::remove_file(root.join("surveys/store").join(rel)).unwrap();
            d.as_object_mut().unwrap().remove("summary");
            removed += 1;
        }
    }
    std::fs::write(&index_path, serde_json::to_vec_pretty(&index).unwrap()).unwrap();
    let cache = root.join("surveys/store/cache");
    if cache.exists() {
        std::fs::remove_dir_all(cache).unwrap();
    }
    removed
}

/// The round's flags (`manyi flags --json`) as the workspace gives them, and as a copy
/// of it without summaries computes them from the rows alone.
fn flags_both_ways(ws: &Workspace) -> (String, String) {
    let with = ws.ok(&["flags", "--round", ROUND, "--json"]);
    let copy = tempfile::tempdir().unwrap();
    copy_dir(ws.path(), copy.path());
    strip_summaries(copy.path());
    let out = common::run_in(copy.path(), &["flags", "--round", ROUND, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (with, String::from_utf8(out.stdout).unwrap())
}

fn simulate(ws: &Workspace, name: &str, seed: &str, streets: &str) -> std::path::PathBuf {
    simulate_with(ws, name, seed, streets, &[])
}

fn simulate_with(
    ws: &Workspace,
    name: &str,
    seed: &str,
    streets: &str,
    extra: &[&str],
) -> std::path::PathBuf {
    let out = ws.file(name);
    let mut args = vec![
        "simulate",
        "--round",
        ROUND,
        "--format",
        "csv",
        "--per-community",
        "12",
        "--streets",
        streets,
        "--seed",
        seed,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    ws.ok(&args);
    out
}

fn ingest(ws: &Workspace, path: &std::path::Path, org: &str, replaces: Option<&str>) -> String {
    let mut args = vec![
        "ingest",
        path.to_str().unwrap(),
        "--round",
        ROUND,
        "--evaluator",
        org,
        "--json",
    ];
    if let Some(r) = replaces {
        args.extend(["--replaces", r]);
    }
    let out = ws.ok(&args);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["sha256"]
        .as_str()
        .or_else(|| v[0]["sha256"].as_str())
        .unwrap()
        .to_string()
}

#[test]
fn summaries_give_the_coverage_the_rows_give_at_every_step() {
    let ws = example_workspace();
    for (org, streets) in [("测评机构A", STREETS_A), ("测评机构B", STREETS_B)] {
        ws.ok(&[
            "assign",
            "--round",
            ROUND,
            "--org",
            org,
            "--streets",
            streets,
        ]);
    }
    same(&ws, "nothing stored");
    let a1 = simulate(&ws, "a1.csv", "a1", STREETS_A);
    ingest(&ws, &a1, "测评机构A", None);
    same(&ws, "one delivery");
    let b1 = simulate_with(&ws, "b1.csv", "b1", STREETS_B, &["--fabricator"]);
    let b1_sha = ingest(&ws, &b1, "测评机构B", None);
    // A second delivery of A: a1's questionnaires under new respondent ids.
    let a2 = ws.file("a2.csv");
    let text = std::fs::read_to_string(&a1).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let rid = header
        .split(',')
        .position(|h| h == "respondent_id")
        .unwrap();
    let mut out = vec![header.to_string()];
    for l in lines {
        let mut cells: Vec<String> = l.split(',').map(String::from).collect();
        cells[rid].push_str("-2");
        out.push(cells.join(","));
    }
    std::fs::write(&a2, out.join("\n") + "\n").unwrap();
    let a2_sha = ingest(&ws, &a2, "测评机构A", None);
    let three = same(&ws, "three deliveries");
    ws.ok(&["withdraw", &a2_sha[..12], "--reason", "测试撤回"]);
    let after_withdrawal = same(&ws, "a withdrawal");
    assert!(
        after_withdrawal.0 < three.0,
        "{three:?} {after_withdrawal:?}"
    );
    // A correction of b1: the same file less its last 40 rows.
    let text = std::fs::read_to_string(&b1).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let b1c = ws.file("b1-corrected.csv");
    std::fs::write(&b1c, lines[..lines.len() - 40].join("\n") + "\n").unwrap();
    ingest(&ws, &b1c, "测评机构B", Some(&b1_sha[..12]));
    same(&ws, "a correction");
    // Keep the interviewer of a flagged questionnaire: their flagged questionnaires are
    // decided with them.
    let w = manyi::workspace::Workspace::open(ws.path()).unwrap();
    let round: RoundId = ROUND.parse().unwrap();
    let before = manyi::lifecycle::flags(&w, &round).unwrap();
    let flagged_iv = before
        .questionnaires
        .iter()
        .find_map(|q| q.interviewer_id.clone())
        .expect("a flagged questionnaire with an interviewer");
    ws.ok(&[
        "decide",
        "--round",
        ROUND,
        "--interviewer",
        &flagged_iv,
        "--keep",
        "--reason",
        "核实无误",
    ]);
    same(&ws, "a flagged questionnaire's interviewer kept");
    // Questionnaire signals await no decision; the interviewer's carry theirs.
    let after = manyi::lifecycle::flags(&w, &round).unwrap();
    assert_eq!(
        (
            before.undecided_questionnaires,
            after.undecided_questionnaires
        ),
        (0, 0)
    );
    let theirs: Vec<_> = after
        .questionnaires
        .iter()
        .filter(|q| q.interviewer_id.as_deref() == Some(flagged_iv.as_str()))
        .collect();
    assert!(!theirs.is_empty());
    assert!(
        theirs.iter().all(|q| q
            .decision
            .as_ref()
            .is_some_and(|d| d.on == "interviewer" && d.action == "keep")),
        "{theirs:?}"
    );
    let (iv, kept, _) = ids(&a1);
    ws.ok(&[
        "decide",
        "--round",
        ROUND,
        "--interviewer",
        &iv,
        "--exclude",
        "--reason",
        "回访核实",
    ]);
    let ex_iv = same(&ws, "an interviewer excluded");
    assert!(ex_iv.1 > 1, "{ex_iv:?}");
    ws.ok(&[
        "decide",
        "--round",
        ROUND,
        "--respondent",
        &kept,
        "--keep",
        "--reason",
        "核实属实",
    ]);
    let kept_one = same(&ws, "one of the interviewer's questionnaires kept");
    assert_eq!(kept_one.1 + 1, ex_iv.1, "{ex_iv:?} {kept_one:?}");
    let (_, _, other) = ids(&b1c);
    ws.ok(&[
        "decide",
        "--round",
        ROUND,
        "--respondent",
        &other,
        "--exclude",
        "--reason",
        "重复",
    ]);
    let ex_one = same(&ws, "a questionnaire excluded");
    assert_eq!(ex_one.1, kept_one.1 + 1, "{kept_one:?} {ex_one:?}");
    // A store made before summaries.
    assert_eq!(strip_summaries(ws.path()), 4);
    same(&ws, "no summaries (an old store)");
}

#[test]
fn a_summary_is_journalled_and_checked_by_verify_store() {
    let ws = example_workspace();
    ws.ok(&[
        "assign",
        "--round",
        ROUND,
        "--org",
        "测评机构A",
        "--streets",
        STREETS_A,
    ]);
    let a1 = simulate(&ws, "a1.csv", "a1", STREETS_A);
    let sha = ingest(&ws, &a1, "测评机构A", None);
    let journal = ws.ok(&["journal", "--json"]);
    assert!(
        journal.contains(&format!("{sha}.summary.json")),
        "{journal}"
    );
    ws.ok(&["verify-store"]);
    let p = ws.file(&format!(
        "surveys/store/responses/{ROUND}/{sha}.summary.json"
    ));
    let mut s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    let first = s["valid"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    s["valid"][&first] = serde_json::json!(999);
    std::fs::write(&p, serde_json::to_vec(&s).unwrap()).unwrap();
    let out = ws.run(&["verify-store"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("summary.json")
            || String::from_utf8_lossy(&out.stderr).contains("summary.json")
    );
}

/// A summary made by another comparison (an older definition of a near-duplicate):
/// its cells and its near-duplicate marks are not reused; the flags are those the
/// rows give.
#[test]
fn a_summary_from_another_comparison_is_not_reused() {
    let ws = example_workspace();
    ws.ok(&[
        "assign",
        "--round",
        ROUND,
        "--org",
        "测评机构A",
        "--streets",
        STREETS_A,
    ]);
    let a1 = simulate_with(&ws, "a1.csv", "a1", STREETS_A, &["--fabricator", "copier"]);
    let sha = ingest(&ws, &a1, "测评机构A", None);
    let fresh = ws.ok(&["flags", "--round", ROUND, "--json"]);
    // Old marks: every questionnaire a near-duplicate, under another algorithm's name.
    let p = ws.file(&format!(
        "surveys/store/responses/{ROUND}/{sha}.summary.json"
    ));
    let mut s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    let marks = s["near_duplicate"].as_str().unwrap().to_string();
    s["near_duplicate"] = serde_json::json!("f".repeat(marks.len()));
    s["cells"]["algorithm"] = serde_json::json!("an-older-comparison");
    std::fs::write(&p, serde_json::to_vec(&s).unwrap()).unwrap();
    std::fs::remove_dir_all(ws.file("surveys/store/cache")).unwrap();
    assert_eq!(ws.ok(&["flags", "--round", ROUND, "--json"]), fresh);
}
