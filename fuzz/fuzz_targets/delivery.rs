//! Fuzzes the delivery reader: arbitrary bytes in (as a CSV, GBK or XLSX delivery),
//! a receipt or a clean refusal out, never a panic; accepted + rejected = rows read.
//! Run: see docs/performance.md ("Fuzzing").
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use manyi::ingest::{Options, ingest};
use manyi::round::RoundId;
use manyi::workspace::Workspace;

struct Fixture {
    dir: tempfile::TempDir,
    ws: Workspace,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let ws = Workspace::init(&dir.path().join("ws"), "panlong-2018", None).expect("workspace");
        std::fs::write(ws.sample_path(&"2018-R1".parse().expect("round")), include_bytes!("../../tests/data/2018-R1-sample.csv")).expect("sample");
        Fixture { dir, ws }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let path = f.dir.path().join("delivery");
    std::fs::write(&path, data).expect("write input");
    let round: RoundId = "2018-R1".parse().expect("round");
    // Small batches: many batch boundaries in every input (the result must not depend on them).
    let opts = Options { dry_run: true, batch_records: Some(3), ..Options::default() };
    if let Ok(out) = ingest(&f.ws, &round, &path, &opts) {
        let r = out.receipt;
        assert_eq!(r.accepted + r.rejected, r.rows_read);
    }
});
