//! The golden files in tests/data come from independent reference scripts (Python,
//! written from BRIEF.md and docs/sampling.md, not from the Rust code). Each test here
//! names the command that regenerates its file.
//!
//! The default run checks the engine against the committed files (in this file for the
//! sampling goldens; in test_score.rs and test_evaluate.rs for the scores). The
//! `--ignored` test re-runs every script and checks that it reproduces its committed
//! file byte for byte; it needs python3 with scipy, which the default run (Rust only)
//! does not have: `cargo test --test test_references -- --ignored`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use manyi::frame::Frame;
use manyi::rules::Rules;
use manyi::sample::draw;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn lines(rel: &str) -> Vec<String> {
    std::fs::read_to_string(repo().join(rel))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn codes_of(d: &manyi::sample::Draw) -> Vec<String> {
    d.strata
        .iter()
        .flat_map(|s| s.selected.iter().map(|c| c.code.clone()))
        .collect()
}

/// Regenerate (from the repository root):
/// `python3 tests/data/sampling_reference.py surveys/frame.csv abc 2018-R1 --rotation 3 > tests/data/sample-2018-R1-abc.txt`
/// `python3 tests/data/sampling_reference.py surveys/frame.csv abc 2018-R2 --rotation 3 --surveyed tests/data/sample-2018-R1-abc.txt > tests/data/sample-2018-R2-abc.txt`
#[test]
fn rotation_rounds_match_the_reference_draws() {
    let frame = Frame::parse(
        &std::fs::read(repo().join("surveys/frame.csv")).unwrap(),
        "frame.csv",
    )
    .unwrap();
    let rules = Rules::parse(Rules::shipped("panlong-2018").unwrap(), "panlong-2018").unwrap();
    let r1 = draw(
        &frame,
        &rules,
        &"2018-R1".parse().unwrap(),
        "abc",
        &BTreeSet::new(),
    )
    .unwrap();
    let golden1 = lines("tests/data/sample-2018-R1-abc.txt");
    assert_eq!(
        codes_of(&r1),
        golden1,
        "2018-R1 differs from tests/data/sample-2018-R1-abc.txt (see this test's doc comment to regenerate it)"
    );
    let surveyed: BTreeSet<String> = golden1.into_iter().collect();
    let r2 = draw(
        &frame,
        &rules,
        &"2018-R2".parse().unwrap(),
        "abc",
        &surveyed,
    )
    .unwrap();
    assert_eq!(
        codes_of(&r2),
        lines("tests/data/sample-2018-R2-abc.txt"),
        "2018-R2 differs from tests/data/sample-2018-R2-abc.txt"
    );
    assert!(
        r2.strata
            .iter()
            .all(|s| s.selected.iter().all(|c| !surveyed.contains(&c.code)))
    );
}

fn run_python(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new("python3")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("python3 is needed for this test (it re-runs the reference scripts)");
    assert!(
        out.status.success(),
        "python3 {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// Every reference script, run afresh, writes exactly the committed golden file.
#[test]
#[ignore = "needs python3 with scipy; run by hand after changing a reference script"]
fn reference_scripts_reproduce_their_committed_files() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    copy_dir(&repo().join("tests/data"), &root.join("tests/data"));
    std::fs::create_dir_all(root.join("surveys")).unwrap();
    std::fs::copy(
        repo().join("surveys/frame.csv"),
        root.join("surveys/frame.csv"),
    )
    .unwrap();
    let same = |rel: &str, got: &[u8]| {
        let want = std::fs::read(repo().join(rel)).unwrap();
        assert!(
            got == want.as_slice(),
            "{rel} is not what its reference script writes now"
        );
    };
    // Sampling: the golden draws are the script's standard output.
    let out = run_python(
        root,
        &[
            "tests/data/sampling_reference.py",
            "surveys/frame.csv",
            "abc",
            "2017-R1",
            "--rate",
            "0.3",
        ],
    );
    same("tests/data/sample-2017-R1-abc.txt", &out);
    let out = run_python(
        root,
        &[
            "tests/data/sampling_reference.py",
            "surveys/frame.csv",
            "abc",
            "2018-R1",
            "--rotation",
            "3",
        ],
    );
    same("tests/data/sample-2018-R1-abc.txt", &out);
    let out = run_python(
        root,
        &[
            "tests/data/sampling_reference.py",
            "surveys/frame.csv",
            "abc",
            "2018-R2",
            "--rotation",
            "3",
            "--surveyed",
            "tests/data/sample-2018-R1-abc.txt",
        ],
    );
    same("tests/data/sample-2018-R2-abc.txt", &out);
    // Scores: `cd tests/data/score && python3 score_reference.py` writes delivery.csv
    // and expected.json.
    run_python(&root.join("tests/data/score"), &["score_reference.py"]);
    for f in ["delivery.csv", "expected.json"] {
        same(
            &format!("tests/data/score/{f}"),
            &std::fs::read(root.join("tests/data/score").join(f)).unwrap(),
        );
    }
    // Evaluation: `cd tests/data && python3 evaluate_reference.py` writes
    // evaluate-2018H1-expected.json.
    run_python(&root.join("tests/data"), &["evaluate_reference.py"]);
    same(
        "tests/data/evaluate-2018H1-expected.json",
        &std::fs::read(root.join("tests/data/evaluate-2018H1-expected.json")).unwrap(),
    );
}
