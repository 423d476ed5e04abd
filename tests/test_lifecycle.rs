//! The lifecycle: corrected deliveries (--replaces), withdrawals, flags compared over
//! the round's deliveries, decisions (exclude, keep) in the scores and reports, the
//! journal and `verify-store`, and workspaces made before the journal.

mod common;

use std::collections::BTreeMap;

use common::{Gen, HEADER, LABELS, Workspace, example_workspace, honest_row};

const C1: (&str, &str) = ("530103001003", "白塔社区居委会");
const C2: (&str, &str) = ("530103001005", "状元楼社区居委会");

/// Item weights of panlong-2018 as RULES.md gives them (q1..q10), and the scale.
const WEIGHTS: [f64; 10] = [0.10, 0.10, 0.10, 0.08, 0.10, 0.07, 0.08, 0.07, 0.10, 0.20];
fn label_score(l: &str) -> Option<f64> {
    match l {
        "非常满意" => Some(100.0),
        "满意" => Some(80.0),
        "基本满意" => Some(60.0),
        "不满意" => Some(30.0),
        "非常不满意" => Some(0.0),
        _ => None,
    }
}

/// Respondent scores per community of template rows, computed here from the
/// definition (valid: at least 6 answered items), skipping interviewers in `leave_out`.
fn expected_means(rows: &[String], leave_out: &[&str]) -> BTreeMap<String, f64> {
    let mut acc: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for r in rows {
        let f: Vec<&str> = r.split(',').collect();
        if leave_out.contains(&f[5]) {
            continue;
        }
        let (mut num, mut den, mut n) = (0.0, 0.0, 0);
        for (k, a) in f[8..18].iter().enumerate() {
            if let Some(x) = label_score(a) {
                num += WEIGHTS[k] * x;
                den += WEIGHTS[k];
                n += 1;
            }
        }
        if n >= 6 {
            let e = acc.entry(f[1].to_string()).or_default();
            e.0 += num / den;
            e.1 += 1;
        }
    }
    acc.into_iter()
        .map(|(c, (s, n))| (c, s / n as f64))
        .collect()
}

fn scores(ws: &Workspace) -> BTreeMap<String, (f64, u64)> {
    let text = ws.read("reports/2018-R1/community_scores.csv");
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| head.iter().position(|h| *h == n).unwrap();
    let (c, s, x) = (col("community_code"), col("score"), col("n_excluded"));
    lines
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            f[s].parse::<f64>()
                .ok()
                .map(|v| (f[c].to_string(), (v, f[x].parse().unwrap())))
        })
        .collect()
}

fn write_rows(ws: &Workspace, name: &str, rows: &[String]) -> std::path::PathBuf {
    let f = ws.file(name);
    let mut text = format!("{HEADER}\n");
    text.push_str(&rows.join("\n"));
    text.push('\n');
    std::fs::write(&f, text).unwrap();
    f
}

/// `n` honest rows per community, interviewers `prefix`1..=k, ids from `id0`.
fn honest(g: &mut Gen, prefix: &str, id0: usize, n: usize, level: f64) -> Vec<String> {
    let mut rows = Vec::new();
    for (ci, (code, name)) in [C1, C2].iter().enumerate() {
        for k in 0..n {
            rows.push(honest_row(
                g,
                &format!("R{:06}", id0 + ci * n + k),
                code,
                name,
                &format!("{prefix}{}", k % 4 + 1),
                level,
            ));
        }
    }
    rows
}

fn json(ws: &Workspace, args: &[&str]) -> serde_json::Value {
    let out = ws.ok(args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn deliveries(ws: &Workspace) -> Vec<serde_json::Value> {
    json(ws, &["deliveries", "--json"])
        .as_array()
        .unwrap()
        .clone()
}

fn ingest(ws: &Workspace, f: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "ingest",
        f.to_str().unwrap(),
        "--round",
        "2018-R1",
        "--json",
    ];
    args.extend_from_slice(extra);
    json(ws, &args)
}

#[test]
fn a_correction_replaces_its_delivery_with_no_duplicates_and_scores_as_the_correction_alone() {
    let ws = example_workspace();
    let mut g = Gen(7);
    // The wrong file: five rows with an answer no scale has, and levels that are off.
    let mut wrong = honest(&mut g, "W", 0, 40, 1.0);
    for r in wrong.iter_mut().take(5) {
        *r = r
            .replacen(",非常满意,", ",满易,", 1)
            .replacen(",满意,", ",满易,", 1);
    }
    let fixed = honest(&mut g, "W", 0, 40, 1.6);
    let a = write_rows(&ws, "evaluator-a.csv", &wrong);
    let b = write_rows(&ws, "evaluator-a-corrected.csv", &fixed);
    let r = ingest(&ws, &a, &["--evaluator", "甲公司"]);
    assert!(r["rejected"].as_u64().unwrap() > 0, "{r}");
    let id = deliveries(&ws)[0]["id"].as_str().unwrap().to_string();
    let f = json(&ws, &["flags", "--round", "2018-R1", "--json"]);
    assert_eq!(f["questionnaires_read"], r["accepted"]);
    // Without --replaces every corrected row the wrong file had stored is a duplicate …
    let dry = ingest(&ws, &b, &["--dry-run"]);
    let stored = r["accepted"].as_u64().unwrap();
    assert_eq!(dry["rejected"].as_u64(), Some(stored), "{dry}");
    assert_eq!(
        dry["rejects_by_reason"]["duplicate-stored"].as_u64(),
        Some(stored)
    );
    // … with it, none is, and the wrong file stops counting in the same commit.
    let short = &id[..10];
    let r2 = ingest(&ws, &b, &["--replaces", short, "--evaluator", "甲公司"]);
    assert_eq!(
        (r2["accepted"].as_u64(), r2["rejected"].as_u64()),
        (Some(80), Some(0)),
        "{r2}"
    );
    let ds = deliveries(&ws);
    assert_eq!(ds.len(), 2);
    let (old, new) = (&ds[0], &ds[1]);
    assert_eq!(old["status"], "superseded");
    assert_eq!(old["superseded_by"], new["id"]);
    assert_eq!(new["status"], "active");
    assert_eq!(new["replaces"], old["id"]);
    assert_eq!(new["evaluator"], "甲公司");
    // The files of the replaced delivery stay in the store.
    let index: serde_json::Value =
        serde_json::from_str(&ws.read("surveys/store/index.json")).unwrap();
    for k in ["data", "original", "receipt", "rejects"] {
        let p = index["deliveries"][0][k].as_str().unwrap();
        assert!(ws.file("surveys/store").join(p).is_file(), "{k} gone");
    }
    // The round's flags are those of the correction (not a cache of the wrong file's).
    let f = json(&ws, &["flags", "--round", "2018-R1", "--json"]);
    assert_eq!(f["questionnaires_read"], 80);
    ws.ok(&["score", "--round", "2018-R1"]);
    let got = scores(&ws);
    let want = expected_means(&fixed, &[]);
    assert_eq!(got.len(), 2, "{got:?}");
    for (c, w) in &want {
        let (s, x) = got[c];
        assert!((s - w).abs() < 1e-9, "{c}: {s} vs {w}");
        assert_eq!(x, 0);
    }
    // The journal says who replaced what.
    let j = json(&ws, &["journal", "--json"]);
    let last = j
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["action"] == "replace")
        .unwrap();
    assert_eq!(last["ids"][1], serde_json::json!(id));
    // The same file again as its own correction: refused, nothing changes.
    let err = ws.fails(
        &[
            "ingest",
            b.to_str().unwrap(),
            "--round",
            "2018-R1",
            "--replaces",
            &new["id"].as_str().unwrap()[..8],
        ],
        1,
    );
    assert!(err.contains("same file"), "{err}");
    // A too-short or unknown id is refused with the way to find one.
    let err = ws.fails(&["withdraw", "abc", "--reason", "x"], 1);
    assert!(err.contains("8 or more"), "{err}");
    let err = ws.fails(&["withdraw", "00000000", "--reason", "x"], 1);
    assert!(err.contains("manyi deliveries"), "{err}");
}

#[test]
fn a_refused_replacement_leaves_the_old_delivery_active() {
    let ws = example_workspace();
    let mut g = Gen(11);
    let rows = honest(&mut g, "W", 0, 35, 1.5);
    let a = write_rows(&ws, "a.csv", &rows);
    ingest(&ws, &a, &[]);
    let id = deliveries(&ws)[0]["id"].as_str().unwrap().to_string();
    let index_before = ws.read("surveys/store/index.json");
    let journal_before = ws.read("surveys/store/journal.jsonl");
    // A correction whose header lacks q7: refused whole.
    let bad = ws.file("bad.csv");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&a)
            .unwrap()
            .replacen(",q7,", ",qq7,", 1),
    )
    .unwrap();
    let err = ws.fails(
        &[
            "ingest",
            bad.to_str().unwrap(),
            "--round",
            "2018-R1",
            "--replaces",
            &id[..8],
        ],
        1,
    );
    assert!(err.contains("q7"), "{err}");
    // A correction of which no row is accepted: refused too.
    let junk = write_rows(
        &ws,
        "junk.csv",
        &rows
            .iter()
            .map(|r| r.replace("2018-R1", "2017-R1"))
            .collect::<Vec<_>>(),
    );
    let err = ws.fails(
        &[
            "ingest",
            junk.to_str().unwrap(),
            "--round",
            "2018-R1",
            "--replaces",
            &id[..8],
        ],
        1,
    );
    assert!(err.contains("stays active"), "{err}");
    assert_eq!(ws.read("surveys/store/index.json"), index_before);
    assert_eq!(ws.read("surveys/store/journal.jsonl"), journal_before);
    assert_eq!(deliveries(&ws)[0]["status"], "active");
}

#[test]
fn a_withdrawn_delivery_counts_nowhere_and_is_not_revived() {
    let ws = example_workspace();
    let mut g = Gen(13);
    let rows = honest(&mut g, "W", 0, 35, 1.5);
    let a = write_rows(&ws, "a.csv", &rows);
    ingest(&ws, &a, &[]);
    let id = deliveries(&ws)[0]["id"].as_str().unwrap().to_string();
    let err = ws.fails(&["withdraw", &id[..12], "--reason", "  "], 1);
    assert!(err.contains("reason"), "{err}");
    let out = ws.ok(&["withdraw", &id[..12], "--reason", "wrong street's file"]);
    assert!(out.contains("withdrew"), "{out}");
    assert_eq!(deliveries(&ws)[0]["status"], "withdrawn");
    assert_eq!(deliveries(&ws)[0]["status_reason"], "wrong street's file");
    // Scores: nothing left to count.
    let err = ws.fails(&["score", "--round", "2018-R1"], 1);
    assert!(err.contains("no valid questionnaire"), "{err}");
    // The same bytes again: refused, naming the withdrawal.
    let err = ws.fails(&["ingest", a.to_str().unwrap(), "--round", "2018-R1"], 1);
    assert!(
        err.contains("withdrawn") && err.contains("not revived"),
        "{err}"
    );
    // Its respondent ids no longer make duplicates: a new file with them is accepted.
    let mut rows2 = honest(&mut g, "V", 0, 35, 1.5);
    rows2.truncate(60);
    let b = write_rows(&ws, "b.csv", &rows2);
    let r = ingest(&ws, &b, &[]);
    assert_eq!(
        (r["accepted"].as_u64(), r["rejected"].as_u64()),
        (Some(60), Some(0)),
        "{r}"
    );
    // Withdrawing it twice is refused.
    let err = ws.fails(&["withdraw", &id, "--reason", "again"], 1);
    assert!(err.contains("withdrawn already"), "{err}");
    let out = ws.ok(&["verify-store"]);
    assert!(out.contains("store verified"), "{out}");
}

/// Rows by a fabricator: all 非常满意 in about a minute.
fn fabricated(ids: std::ops::Range<usize>, community: (&str, &str)) -> Vec<String> {
    ids.map(|k| {
        format!(
            "F{k:05},{},{},2018-R1,2018-04-10,FAB,入户,60,{}",
            community.0,
            community.1,
            [LABELS[0]; 10].join(",")
        )
    })
    .collect()
}

#[test]
fn a_fabricator_split_over_two_deliveries_is_caught_across_them_and_decisions_change_the_scores() {
    let ws = example_workspace();
    let mut g = Gen(17);
    // Each file has 8 of the fabricator's questionnaires: fewer than the 10 an
    // interviewer needs to be compared within one file; 16 across the round.
    let mut x = honest(&mut g, "H", 0, 36, 1.6);
    x.extend(fabricated(0..8, C1));
    let mut y = honest(&mut g, "K", 1000, 36, 1.6);
    y.extend(fabricated(100..108, C2));
    let fx = write_rows(&ws, "x.csv", &x);
    let fy = write_rows(&ws, "y.csv", &y);
    let rx = ingest(&ws, &fx, &["--evaluator", "甲公司"]);
    // With one file the fabricator has too few questionnaires to compare (and the
    // round's flags are cached for these deliveries) …
    let f = json(&ws, &["flags", "--round", "2018-R1", "--json"]);
    assert_eq!(f["interviewers"], serde_json::json!([]), "{f}");
    assert!(ws.file("surveys/store/cache/flags-2018-R1.json").is_file());
    // … the second delivery makes a new round: the cache is not reused.
    let ry = ingest(&ws, &fy, &["--evaluator", "乙公司"]);
    for r in [&rx, &ry] {
        assert_eq!(
            r["quality"]["flagged_interviewers"],
            serde_json::json!([]),
            "{r}"
        );
    }
    let f = json(&ws, &["flags", "--round", "2018-R1", "--json"]);
    let ivs = f["interviewers"].as_array().unwrap();
    assert_eq!(ivs.len(), 1, "{f}");
    assert_eq!(ivs[0]["interviewer_id"], "FAB");
    assert_eq!(ivs[0]["questionnaires"], 16);
    assert_eq!(ivs[0]["deliveries"], serde_json::json!(["x.csv", "y.csv"]));
    assert!(ivs[0]["decision"].is_null());
    assert_eq!(f["undecided_interviewers"], 1);
    // Flagged questionnaires carry their file and line.
    let q = f["questionnaires"].as_array().unwrap();
    let one = q.iter().find(|r| r["respondent_id"] == "F00103").unwrap();
    assert_eq!(
        (one["file_name"].as_str(), one["line"].as_u64()),
        (Some("y.csv"), Some(2 + 72 + 3))
    );
    // No decision yet: the fabricator counts.
    ws.ok(&["score", "--round", "2018-R1"]);
    let all: Vec<String> = x.iter().chain(&y).cloned().collect();
    let with = expected_means(&all, &[]);
    let without = expected_means(&all, &["FAB"]);
    for (c, w) in &with {
        assert!((scores(&ws)[c].0 - w).abs() < 1e-9);
    }
    assert!(
        ws.read("reports/2018-R1/undecided_flags.csv")
            .contains("2018-R1,1,")
    );
    // Exclude: out of the scores, counted per community, listed with the reason.
    ws.ok(&[
        "decide",
        "--round",
        "2018-R1",
        "--interviewer",
        "FAB",
        "--exclude",
        "--reason",
        "回访:受访户未接受访问",
    ]);
    ws.ok(&["score", "--round", "2018-R1"]);
    let s = scores(&ws);
    for (c, w) in &without {
        assert!((s[c].0 - w).abs() < 1e-9, "{c}");
        assert_eq!(s[c].1, 8, "{c}");
    }
    let ex = ws.read("reports/2018-R1/exclusions.csv");
    assert!(
        ex.contains("2018-R1,interviewer,FAB,16,回访:受访户未接受访问"),
        "{ex}"
    );
    assert!(
        ws.read("reports/2018-R1/undecided_flags.csv")
            .contains("2018-R1,0,")
    );
    // Keep: a later decision supersedes; the fabricator counts again.
    let out = ws.ok(&[
        "decide",
        "--round",
        "2018-R1",
        "--interviewer",
        "FAB",
        "--keep",
        "--reason",
        "复核后认定为真实访问",
    ]);
    assert!(out.contains("supersedes"), "{out}");
    ws.ok(&["score", "--round", "2018-R1"]);
    let s = scores(&ws);
    for (c, w) in &with {
        assert!((s[c].0 - w).abs() < 1e-9, "{c}");
        assert_eq!(s[c].1, 0);
    }
    assert_eq!(ws.read("reports/2018-R1/exclusions.csv").lines().count(), 1);
    let f = json(&ws, &["flags", "--round", "2018-R1", "--json"]);
    assert_eq!(f["interviewers"][0]["decision"]["action"], "keep");
    // Both decisions stay in the journal, with the actor.
    let j = json(&ws, &["--actor", "审核员", "journal", "--json"]);
    let decides: Vec<&serde_json::Value> = j
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "decide")
        .collect();
    assert_eq!(decides.len(), 2);
    assert_eq!(decides[1]["details"]["supersedes"], decides[0]["seq"]);
    // A decision on a subject the round does not have is refused.
    let err = ws.fails(
        &[
            "decide",
            "--round",
            "2018-R1",
            "--interviewer",
            "NOBODY",
            "--exclude",
            "--reason",
            "x",
        ],
        1,
    );
    assert!(err.contains("NOBODY"), "{err}");
    // One questionnaire excluded by itself, with the flags file written as CSV.
    ws.ok(&[
        "--actor",
        "审核员",
        "decide",
        "--round",
        "2018-R1",
        "--respondent",
        "F00000",
        "--exclude",
        "--reason",
        "重复录入",
    ]);
    let out = ws.file("flags.csv");
    ws.ok(&[
        "flags",
        "--round",
        "2018-R1",
        "--out",
        out.to_str().unwrap(),
    ]);
    let csv = std::fs::read_to_string(&out).unwrap();
    assert!(
        csv.lines()
            .any(|l| l.contains("F00000") && l.contains("重复录入")),
        "{csv}"
    );
    let xlsx = ws.file("flags.xlsx");
    ws.ok(&[
        "flags",
        "--round",
        "2018-R1",
        "--out",
        xlsx.to_str().unwrap(),
    ]);
    {
        use calamine::{Reader, Xlsx, open_workbook};
        let mut wb: Xlsx<_> = open_workbook(&xlsx).unwrap();
        assert_eq!(wb.sheet_names(), ["异常访问员", "问卷信号"]);
        let iv = wb.worksheet_range("异常访问员").unwrap();
        let row: Vec<String> = iv
            .rows()
            .nth(1)
            .unwrap()
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert!(
            row.contains(&"FAB".to_string()) && row.contains(&"保留".to_string()),
            "{row:?}"
        );
    }
    let err = ws.fails(&["flags", "--round", "2018-R1", "--out", "flags.txt"], 1);
    assert!(err.contains(".csv or .xlsx"), "{err}");
    let j = json(&ws, &["journal", "--json"]);
    assert_eq!(j.as_array().unwrap().last().unwrap()["actor"], "审核员");
    ws.ok(&["score", "--round", "2018-R1"]);
    assert_eq!(scores(&ws)[C1.0].1, 1);
}

/// Runs verify-store: (exit code, output).
fn verify(ws: &Workspace) -> (i32, String) {
    let out = ws.run(&["verify-store"]);
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn verify_store_finds_an_edited_byte_a_deleted_line_and_a_changed_parquet_file() {
    let ws = example_workspace();
    let mut g = Gen(19);
    let a = write_rows(&ws, "a.csv", &honest(&mut g, "W", 0, 35, 1.5));
    let b = write_rows(&ws, "b.csv", &honest(&mut g, "V", 5000, 35, 1.5));
    ingest(&ws, &a, &[]);
    ingest(&ws, &b, &[]);
    ws.ok(&[
        "decide",
        "--round",
        "2018-R1",
        "--interviewer",
        "W1",
        "--keep",
        "--reason",
        "ok",
    ]);
    ws.ok(&["score", "--round", "2018-R1"]);
    let (code, out) = verify(&ws);
    assert_eq!(code, 0, "{out}");
    let jp = ws.file("surveys/store/journal.jsonl");
    let journal = std::fs::read_to_string(&jp).unwrap();
    let lines: Vec<&str> = journal.lines().collect();
    assert!(lines.len() >= 5, "{journal}");
    // One edited byte in line 3 (its actor's first letter): line 4 no longer follows.
    let mut edited = lines.clone();
    let l3 = lines[2].replacen("\"actor\":\"", "\"actor\":\"X", 1);
    edited[2] = &l3;
    std::fs::write(&jp, edited.join("\n") + "\n").unwrap();
    let (code, out) = verify(&ws);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("journal line 4 does not follow line 3"),
        "{out}"
    );
    // Refused as a base for any new change.
    let err = ws.fails(&["withdraw", "00000000", "--reason", "x"], 1);
    assert!(err.contains("verify-store"), "{err}");
    // One deleted line (the second).
    let mut deleted = lines.clone();
    deleted.remove(1);
    std::fs::write(&jp, deleted.join("\n") + "\n").unwrap();
    let (code, out) = verify(&ws);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("journal line 2"), "{out}");
    // The last line deleted: the index's head names an entry the journal lacks.
    std::fs::write(&jp, lines[..lines.len() - 1].join("\n") + "\n").unwrap();
    let (code, out) = verify(&ws);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("last entry was edited or deleted"), "{out}");
    std::fs::write(&jp, &journal).unwrap();
    assert_eq!(verify(&ws).0, 0);
    // A changed Parquet file (one byte flipped in the middle).
    let index: serde_json::Value =
        serde_json::from_str(&ws.read("surveys/store/index.json")).unwrap();
    let rel = index["deliveries"][1]["data"].as_str().unwrap();
    let pq = ws.file("surveys/store").join(rel);
    let original = std::fs::read(&pq).unwrap();
    let mut bytes = original.clone();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&pq, &bytes).unwrap();
    let (code, out) = verify(&ws);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(rel) && out.contains("changed since entry"),
        "{out}"
    );
    std::fs::write(&pq, &original).unwrap();
    // A report edited by hand.
    let cs = ws.file("reports/2018-R1/community_scores.csv");
    let text = std::fs::read_to_string(&cs).unwrap();
    std::fs::write(&cs, text.replacen("2018-R1", "2018-R9", 1)).unwrap();
    let (code, out) = verify(&ws);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("reports/2018-R1/community_scores.csv"),
        "{out}"
    );
    std::fs::write(&cs, text).unwrap();
    // Counts: the index says one more accepted row than the Parquet file has.
    let ip = ws.file("surveys/store/index.json");
    let itext = std::fs::read_to_string(&ip).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&itext).unwrap();
    let n = v["deliveries"][0]["accepted"].as_u64().unwrap();
    v["deliveries"][0]["accepted"] = (n + 1).into();
    std::fs::write(&ip, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let (code, out) = verify(&ws);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("{n} rows stored, {} accepted", n + 1)),
        "{out}"
    );
    std::fs::write(&ip, itext).unwrap();
    assert_eq!(verify(&ws).0, 0);
}

#[test]
fn a_store_made_before_the_journal_opens_with_its_deliveries_active_and_one_start_entry() {
    let ws = example_workspace();
    let mut g = Gen(23);
    let a = write_rows(&ws, "a.csv", &honest(&mut g, "W", 0, 35, 1.5));
    ingest(&ws, &a, &[]);
    // Make it look like a store of the version before the lifecycle.
    std::fs::remove_file(ws.file("surveys/store/journal.jsonl")).unwrap();
    let ip = ws.file("surveys/store/index.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ip).unwrap()).unwrap();
    let o = v.as_object_mut().unwrap();
    o.remove("journal_head");
    o.remove("journal_entries");
    o.remove("decisions");
    for d in o["deliveries"].as_array_mut().unwrap() {
        for k in [
            "evaluator",
            "status",
            "status_change",
            "replaces",
            "actor",
            "data_sha256",
        ] {
            d.as_object_mut().unwrap().remove(k);
        }
    }
    std::fs::write(&ip, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    assert_eq!(deliveries(&ws)[0]["status"], "active");
    ws.ok(&["score", "--round", "2018-R1"]);
    let (code, out) = verify(&ws);
    assert_eq!(code, 0, "{out}");
    let j = json(&ws, &["journal", "--json"]);
    let e = j.as_array().unwrap();
    assert_eq!(e[0]["action"], "start");
    assert_eq!(e[0]["prev"], "0".repeat(64));
    assert_eq!(e[0]["ids"][0], deliveries(&ws)[0]["id"]);
    assert_eq!(e[1]["action"], "score");
}

#[test]
fn a_kill_after_the_journal_line_and_before_the_index_leaves_them_in_agreement() {
    let ws = example_workspace();
    let mut g = Gen(29);
    let a = write_rows(&ws, "a.csv", &honest(&mut g, "W", 0, 35, 1.5));
    ingest(&ws, &a, &[]);
    let id = deliveries(&ws)[0]["id"].as_str().unwrap().to_string();
    let b = write_rows(&ws, "b.csv", &honest(&mut g, "W", 0, 35, 1.7));
    let index_before = ws.read("surveys/store/index.json");
    let journal_before = ws.read("surveys/store/journal.jsonl");
    let bin = assert_cmd::cargo::cargo_bin!("manyi");
    let mut child = std::process::Command::new(bin)
        .args([
            "-w",
            ws.path().to_str().unwrap(),
            "ingest",
            b.to_str().unwrap(),
            "--round",
            "2018-R1",
            "--replaces",
            &id[..8],
        ])
        .env("MANYI_TEST_PAUSE_AFTER_JOURNAL_MS", "30000")
        .env("MANYI_TEST_MARKERS", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr).lines() {
            if line.unwrap().contains("journal-appended") {
                return true;
            }
        }
        false
    });
    assert!(reader.join().unwrap(), "no journal-appended marker");
    child.kill().unwrap();
    child.wait().unwrap();
    // The line is there, the index does not name it: uncommitted, the store as before.
    let journal_now = ws.read("surveys/store/journal.jsonl");
    assert!(journal_now.starts_with(&journal_before) && journal_now.len() > journal_before.len());
    assert_eq!(ws.read("surveys/store/index.json"), index_before);
    let (code, out) = verify(&ws);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("uncommitted"), "{out}");
    assert_eq!(deliveries(&ws)[0]["status"], "active");
    assert_eq!(
        json(&ws, &["journal", "--json"]).as_array().unwrap().len(),
        2
    );
    // The next change removes the stray line and commits its own.
    let r = ingest(&ws, &b, &["--replaces", &id[..8]]);
    assert_eq!(r["rejected"], 0);
    let (code, out) = verify(&ws);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("uncommitted"), "{out}");
    let j = json(&ws, &["journal", "--json"]);
    let actions: Vec<&str> = j
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["sample-import", "ingest", "replace"]);
}

#[test]
fn a_job_tells_its_steps_in_order_and_ends_with_the_files_it_wrote() {
    let ws = example_workspace();
    ingest(&ws, &common::data("evaluator-a-template-utf8.csv"), &[]);
    let lib = manyi::workspace::Workspace::open(ws.path()).unwrap();
    let steps = std::sync::Mutex::new(Vec::<(f64, String)>::new());
    let record = |p: f64, s: &str| steps.lock().unwrap().push((p, s.to_string()));
    let round: manyi::round::RoundId = "2018-R1".parse().unwrap();
    let files =
        manyi::jobs::run(&lib, &manyi::jobs::Task::Score(round), "tester", &record).unwrap();
    assert!(files.iter().any(|f| f.ends_with("street_scores.csv")));
    let files = manyi::jobs::run(
        &lib,
        &manyi::jobs::Task::Report(manyi::report::Subject::Round(round)),
        "tester",
        &record,
    )
    .unwrap();
    assert!(files.iter().any(|f| f.ends_with("review.pdf")));
    let steps = steps.into_inner().unwrap();
    let names: Vec<&str> = steps.iter().map(|(_, s)| s.as_str()).collect();
    // Score: reading, then writing; the report: inputs, tables, every chart, the PDF.
    let report: Vec<&(f64, String)> = steps.iter().skip_while(|(_, s)| s != "读取输入").collect();
    assert!(names.contains(&"写入得分文件"), "{names:?}");
    assert!(report.len() >= 5, "{names:?}");
    assert!(
        report.windows(2).all(|w| w[0].0 < w[1].0),
        "progress only grows: {report:?}"
    );
    assert_eq!(report.last().unwrap().1, "审阅材料 PDF");
    let charts = report
        .iter()
        .filter(|(_, s)| s.starts_with("图表 "))
        .count();
    let svgs = files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "svg"))
        .count();
    assert!(svgs >= 3, "{files:?}");
    assert_eq!(charts, svgs, "a step per chart drawn");
}

/// `[validity] min_interview_s`: a questionnaire shorter than it is invalid by rule —
/// counted in the receipt with the rule, out of the scores, journalled with the rules'
/// hash — and awaits no one's decision.
#[test]
fn the_rules_make_a_too_short_interview_invalid_counted_and_journalled() {
    let ws = example_workspace();
    let rules = ws.file("manyi.toml");
    let toml = std::fs::read_to_string(&rules).unwrap();
    let rules_rel = toml
        .lines()
        .find_map(|l| l.strip_prefix("rules = "))
        .map(|v| v.trim().trim_matches('"').to_string())
        .expect("the workspace names its rules file");
    let rules_path = ws.file(&rules_rel);
    let text = std::fs::read_to_string(&rules_path).unwrap();
    let text = text.replacen(
        "min_valid_per_community",
        "min_interview_s = 100\nmin_valid_per_community",
        1,
    );
    std::fs::write(&rules_path, &text).unwrap();
    let mut g = Gen(11);
    let mut rows = honest(&mut g, "V", 0, 40, 1.2);
    // Hand-made durations: rows 0..6 under 100 s (2 in C1, 4 in C2), one at exactly
    // 100 s (valid: the rule is "less than"), one without a time (not judged).
    let set_duration = |row: &str, d: &str| {
        let mut f: Vec<String> = row.split(',').map(str::to_string).collect();
        f[7] = d.to_string();
        f.join(",")
    };
    for (k, d) in [
        (0, "30"),
        (1, "99"),
        (40, "12"),
        (41, "45"),
        (42, "60"),
        (43, "99.5"),
        (2, "100"),
        (3, ""),
    ] {
        rows[k] = set_duration(&rows[k], d);
    }
    let f = write_rows(&ws, "short.csv", &rows);
    let r = ingest(&ws, &f, &["--evaluator", "甲公司"]);
    assert_eq!(r["quality"]["too_short"], 6, "{r}");
    assert_eq!(r["quality"]["min_interview_s"], 100.0, "{r}");
    // Every row here answers enough items unless 不了解 made it too few: the invalid
    // count is the short ones plus those.
    let few = r["quality"]["too_few_answers"].as_u64().unwrap();
    assert_eq!(r["invalid"].as_u64().unwrap(), 6 + few, "{r}");
    // The scores count only the valid: n_valid per community from the rows by hand.
    ws.ok(&["score", "--round", "2018-R1"]);
    let csv = ws.read("reports/2018-R1/community_scores.csv");
    let head: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |n: &str| head.iter().position(|h| *h == n).unwrap();
    for (code, short) in [(C1.0, 2u64), (C2.0, 4)] {
        let line = csv.lines().find(|l| l.contains(code)).unwrap();
        let f: Vec<&str> = line.split(',').collect();
        let answered_few = rows
            .iter()
            .enumerate()
            .filter(|(k, row)| {
                row.contains(code)
                    && ![0usize, 1, 40, 41, 42, 43].contains(k)
                    && row.split(',').skip(8).filter(|a| *a != "不了解").count() < 6
            })
            .count() as u64;
        assert_eq!(
            f[col("n_valid")].parse::<u64>().unwrap(),
            40 - short - answered_few,
            "{line}"
        );
    }
    // Journalled with the rules' hash.
    let journal = ws.read("surveys/store/journal.jsonl");
    let entry: serde_json::Value = journal
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["action"] == "ingest")
        .unwrap();
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(text.as_bytes()))
    };
    assert!(
        entry["read"].as_array().unwrap().iter().any(|f| f["path"]
            .as_str()
            .unwrap()
            .ends_with(&rules_rel)
            && f["sha256"] == sha.as_str()),
        "{entry}"
    );
    assert_eq!(entry["details"]["invalid_by_rule"], r["invalid"], "{entry}");
    // Nothing awaits a decision: no interviewer stands out, no questionnaire waits.
    let fl = json(&ws, &["flags", "--round", "2018-R1", "--json"]);
    assert_eq!(fl["undecided_questionnaires"], 0, "{fl}");
}

/// `manyi reinstate`: a withdrawn delivery counts again (scores as before the
/// withdrawal, journalled); refused for an active one, and while another active
/// delivery holds its respondent ids (naming it).
#[test]
fn a_withdrawn_delivery_can_be_reinstated_unless_its_ids_are_taken() {
    let ws = example_workspace();
    let mut g = Gen(21);
    let rows = honest(&mut g, "W", 0, 40, 1.2);
    let a = write_rows(&ws, "a.csv", &rows);
    ingest(&ws, &a, &["--evaluator", "甲公司"]);
    ws.ok(&["score", "--round", "2018-R1"]);
    let before = ws.read("reports/2018-R1/community_scores.csv");
    let id = deliveries(&ws)[0]["id"].as_str().unwrap().to_string();
    // Active: nothing to reinstate.
    let err = ws.fails(&["--lang", "zh", "reinstate", &id, "--reason", "试试"], 1);
    assert!(err.contains("只有已撤回的交付可以恢复"), "{err}");
    ws.ok(&["withdraw", &id, "--reason", "误以为是错的街道"]);
    // The same respondents delivered again meanwhile (a second file, same ids).
    let again: Vec<String> = rows[..5].to_vec();
    let b = write_rows(&ws, "b.csv", &again);
    ingest(&ws, &b, &["--evaluator", "甲公司"]);
    let err = ws.fails(
        &["--lang", "zh", "reinstate", &id, "--reason", "撤回有误"],
        1,
    );
    assert!(
        err.contains("不能恢复") && err.contains("b.csv") && err.contains("5 份"),
        "{err}"
    );
    let b_id = deliveries(&ws)
        .iter()
        .find(|d| d["file_name"] == "b.csv")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    ws.ok(&["withdraw", &b_id, "--reason", "重复交付"]);
    // Now it can: and the scores are those before the withdrawal.
    let out = ws.ok(&["--lang", "zh", "reinstate", &id, "--reason", "撤回有误"]);
    assert!(out.contains("已恢复交付"), "{out}");
    let ds = deliveries(&ws);
    let d = ds.iter().find(|d| d["id"] == id.as_str()).unwrap();
    assert_eq!(d["status"], "active", "{d}");
    ws.ok(&["score", "--round", "2018-R1"]);
    assert_eq!(ws.read("reports/2018-R1/community_scores.csv"), before);
    let j = ws.ok(&["journal", "--json"]);
    assert!(j.contains("\"reinstate\"") && j.contains("撤回有误"), "{j}");
    ws.ok(&["verify-store"]);
}
