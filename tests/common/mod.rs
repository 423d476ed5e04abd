//! Test helper: a temporary workspace and a way to run the `manyi` binary in it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    /// A fresh workspace made by `manyi init` with the given scheme.
    pub fn init(scheme: &str) -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        let out = run_in(
            Path::new("."),
            &["init", dir.path().to_str().unwrap(), "--scheme", scheme],
        );
        assert!(
            out.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Workspace { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.file(rel)).unwrap()
    }

    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) {
        let p = self.file(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
    }

    /// Deliveries in the store index (0 when there is no index).
    pub fn stored_deliveries(&self) -> usize {
        let p = self.file("surveys/store/index.json");
        if !p.exists() {
            return 0;
        }
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        v["deliveries"].as_array().map_or(0, |a| a.len())
    }

    /// Runs `manyi -w <this workspace> args...`.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut all = vec!["-w", self.dir.path().to_str().unwrap()];
        all.extend_from_slice(args);
        run_in(Path::new("."), &all)
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "manyi {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs and asserts exit code `code`; returns stdout + stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(code), "manyi {args:?}: {text}");
        text
    }
}

/// Runs the binary in `dir`. Messages are in English here (`MANYI_LANG=en`), so the
/// assertions on them read the same as the code; the Chinese texts are checked where a
/// test passes `--lang zh` (which wins over the environment).
pub fn run_in(dir: &Path, args: &[&str]) -> Output {
    assert_cmd::cargo::cargo_bin_cmd!("manyi")
        .env("MANYI_LANG", "en")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

/// Path of a file in tests/data.
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A 2018 workspace whose round 2018-R1 sample is the hand-drawn example sample that
/// the example deliveries were made for.
pub fn example_workspace() -> Workspace {
    let ws = Workspace::init("panlong-2018");
    let out = ws.run(&[
        "sample",
        "--round",
        "2018-R1",
        "--import",
        data("2018-R1-sample.csv").to_str().unwrap(),
        "--reason",
        "drawn by hand for the example deliveries",
    ]);
    assert!(
        out.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    ws
}

pub const HEADER: &str = "respondent_id,community_code,community_name,round,interview_date,interviewer_id,mode,duration_s,q1,q2,q3,q4,q5,q6,q7,q8,q9,q10";
pub const LABELS: [&str; 5] = ["非常满意", "满意", "基本满意", "不满意", "非常不满意"];

/// A deterministic pseudo-random generator for test data (xorshift).
pub struct Gen(pub u64);

impl Gen {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn normal(&mut self) -> f64 {
        // Sum of 12 uniforms − 6.
        (0..12)
            .map(|_| (self.next() % 1_000_000) as f64 / 1e6)
            .sum::<f64>()
            - 6.0
    }
}

/// A realistic questionnaire row (template format) with a community-level mean.
pub fn honest_row(
    g: &mut Gen,
    id: &str,
    community: &str,
    name: &str,
    interviewer: &str,
    level: f64,
) -> String {
    let person = level + 0.6 * g.normal();
    let answers: Vec<&str> = (0..10)
        .map(|_| {
            if g.below(20) == 0 {
                return "不了解";
            }
            let x = (person + 0.7 * g.normal()).round().clamp(0.0, 4.0) as usize;
            LABELS[x]
        })
        .collect();
    let dur = (480.0 * (0.3 * g.normal()).exp()).round();
    format!(
        "{id},{community},{name},2018-R1,2018-04-{:02},{interviewer},入户,{dur},{}",
        1 + g.below(28),
        answers.join(",")
    )
}
pub mod portal;

/// A period's indicator file for `ws`, made from the workspace's own template (every
/// street and indicator of its scheme): `NA` stays, every other value is a small
/// number that differs by row (the values matter to no test, their checks do).
pub fn indicators_from_template(ws: &Workspace, period: &str) -> String {
    let t = ws.read("surveys/indicators/TEMPLATE.csv");
    let mut out = String::new();
    for (i, line) in t.trim_start_matches('\u{feff}').lines().enumerate() {
        if i == 0 {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let mut cells: Vec<String> = line.split(',').map(String::from).collect();
        cells[0] = period.to_string();
        if cells[4] != "NA" {
            cells[4] = format!("{}", (i * 7) % 11 + 1);
        }
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}
