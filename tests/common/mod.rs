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
        let out = run_in(Path::new("."), &["init", dir.path().to_str().unwrap(), "--scheme", scheme]);
        assert!(out.status.success(), "init failed: {}", String::from_utf8_lossy(&out.stderr));
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

pub fn run_in(dir: &Path, args: &[&str]) -> Output {
    assert_cmd::cargo::cargo_bin_cmd!("manyi")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

/// Path of a file in tests/data.
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}
