//! Fuzzes the delivery reader: arbitrary bytes in (as a CSV, GBK or XLSX delivery),
//! a receipt or a clean refusal out, never a panic. What the store then holds is
//! checked, not only what ingest returns: the stored receipt says accepted + rejected
//! = rows read, its rejects file has one line per fault (at least one per rejected
//! row) and its Parquet file one
//! row per accepted questionnaire. An internal error (the engine's own accounting
//! check failing) is a failure, not a refusal.
//! Run: see docs/performance.md ("Fuzzing").
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use manyi::Error;
use manyi::ingest::{Options, Receipt, ingest};
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
    let opts = Options { batch_records: Some(3), ..Options::default() };
    match ingest(&f.ws, &round, &path, &opts) {
        Err(e @ Error::Internal(_)) => panic!("{e}"),
        Err(_) => {} // refused whole: a clean refusal
        Ok(out) => {
            let root = &f.ws.root;
            let text = std::fs::read_to_string(root.join(&out.receipt.receipt_file)).expect("stored receipt");
            let r: Receipt = serde_json::from_str(&text).expect("receipt JSON");
            assert_eq!(r.accepted + r.rejected, r.rows_read, "stored receipt");
            let rejects = std::fs::read(root.join(&r.rejects_file)).expect("rejects file");
            let rejects = rejects.strip_prefix(b"\xEF\xBB\xBF").expect("rejects file starts with a BOM");
            let mut rdr = csv::Reader::from_reader(rejects);
            // One line per fault; a rejected row has one fault or more.
            assert_eq!(rdr.records().count() as u64, r.faults, "lines in the rejects file");
            assert!(r.faults >= r.rejected, "fewer faults than rejected rows");
            let store = manyi::store::Store::new(&f.ws);
            let index = store.read_index().expect("index");
            let d = index.deliveries.iter().find(|d| d.sha256 == r.sha256).expect("indexed");
            let df = manyi::store::read_parquet(&store.path(&d.data), None).expect("parquet");
            assert_eq!(df.height() as u64, r.accepted, "rows in the Parquet file");
        }
    }
});
