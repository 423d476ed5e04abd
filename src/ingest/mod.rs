//! Ingest: read an evaluator's delivery (encodings, CSV, XLSX) → normalise → validate →
//! store every accepted questionnaire (Parquet) and account for every rejected row in a
//! receipt. accepted + rejected = rows read, always.

pub mod normalise;
pub mod quality;
pub mod read;

use std::collections::{BTreeMap, HashMap};
use std::io::Read as _;
use std::path::Path;

use polars::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::round::RoundId;
use crate::rules::Rules;
use crate::store::{DeliveryEntry, Store, now_utc};
use crate::workspace::Workspace;
use normalise::{Codebook, Col, Communities, Found, HeaderMap, clean, parse_date};

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// XLSX sheet to read (default: the first).
    pub sheet: Option<String>,
    /// Check the delivery and return its receipt, storing nothing.
    pub dry_run: bool,
    /// Show a progress bar on stderr while reading (when stderr is a terminal).
    pub progress: bool,
    /// Records handed to a checker thread at a time (None: 4096). The result never
    /// depends on it; tests set small values to cross many batch boundaries.
    pub batch_records: Option<usize>,
}

/// Per community: what this delivery brought and what the round now holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CommunityReceipt {
    pub street_code: String,
    pub street_name: String,
    pub community_code: String,
    pub community_name: String,
    pub accepted: u64,
    pub valid: u64,
    /// Valid questionnaires stored for the round, this delivery included.
    pub round_valid: u64,
    /// Fewer valid questionnaires in the round than the rules' minimum.
    pub insufficient: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct QualitySummary {
    pub speeders: u64,
    pub straightliners: u64,
    pub duplicate_patterns: u64,
    pub too_few_answers: u64,
    pub flagged_interviewers: Vec<quality::InterviewerFlag>,
}

/// The receipt of one delivery (also written as JSON beside the stored data).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Receipt {
    pub file: String,
    pub sha256: String,
    pub round: String,
    /// `stored`, or `already-ingested` when the same bytes were stored before.
    pub status: String,
    pub format: String,
    pub encoding: String,
    pub delimiter: String,
    pub rows_read: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub valid: u64,
    pub invalid: u64,
    pub blank_lines_skipped: u64,
    /// canonical column → header as delivered.
    pub columns: BTreeMap<String, String>,
    pub ignored_columns: Vec<String>,
    /// Columns identifying a person, stored only as salted hashes.
    pub hashed_columns: Vec<String>,
    pub rejects_by_reason: BTreeMap<String, u64>,
    pub communities: Vec<CommunityReceipt>,
    pub quality: QualitySummary,
    /// Paths (relative to the workspace) of the stored receipt and rejects list.
    pub receipt_file: String,
    pub rejects_file: String,
    pub ingested_at: String,
}

/// What `ingest` returns: the receipt and the rejected rows (empty when the delivery
/// was already stored: they are in its rejects file).
pub struct Outcome {
    pub receipt: Receipt,
    pub rejects: Vec<Reject>,
}

/// A rejected row.
#[derive(Debug, Clone)]
pub struct Reject {
    pub line: u64,
    pub column: String,
    pub code: &'static str,
    pub reason: String,
    pub raw: Vec<String>,
}

/// Marks "not answered" in `Accepted::items`, and "none" in the u32 index columns.
const NA_ITEM: u8 = u8::MAX;
const NONE: u32 = u32::MAX;

/// Accepted questionnaires, column by column, compactly (≈ 70 bytes a row): strings
/// that repeat are indices into dictionaries, respondent ids share one buffer, and
/// missing numbers are NaN. Parquet is written from this in chunks.
#[derive(Default)]
struct Accepted {
    n_items: usize,
    line: Vec<u64>,
    id_buf: String,
    id_end: Vec<usize>,
    /// Index into `State::communities` (in a `Part`: into the frame's communities).
    community: Vec<u32>,
    /// yyyymmdd, 0 = no date.
    date: Vec<u32>,
    /// Index into the interviewer dictionary, or NONE.
    interviewer: Vec<u32>,
    /// Index into the mode dictionary, or NONE.
    mode: Vec<u32>,
    /// Seconds, NaN = not given.
    duration: Vec<f64>,
    /// n_items answers per row (position in the scale), NA_ITEM = not answered.
    items: Vec<u8>,
    answered: Vec<u8>,
    /// Respondent score, NaN when nothing was answered.
    score: Vec<f64>,
    /// Present only when the delivery has such a column.
    phone_hash: Vec<Option<String>>,
    name_hash: Vec<Option<String>>,
}

impl Accepted {
    fn len(&self) -> usize {
        self.line.len()
    }

    fn id(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.id_end[i - 1] };
        &self.id_buf[start..self.id_end[i]]
    }

    fn reserve(&mut self, rows: usize) {
        self.line.reserve(rows);
        self.id_end.reserve(rows);
        self.id_buf.reserve(rows * 8);
        self.community.reserve(rows);
        self.date.reserve(rows);
        self.interviewer.reserve(rows);
        self.mode.reserve(rows);
        self.duration.reserve(rows);
        self.items.reserve(rows * self.n_items);
        self.answered.reserve(rows);
        self.score.reserve(rows);
    }
}

/// The hash of a respondent id in the id tables (the tables compare the ids
/// themselves, so a hash collision never makes two different ids equal).
fn id_hash(s: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(s.as_bytes())
}

/// A set of respondent ids in one buffer, exact (compares ids, not only hashes).
#[derive(Default)]
struct IdSet {
    buf: String,
    end: Vec<usize>,
    table: hashbrown::HashTable<u32>,
}

impl IdSet {
    fn get(&self, i: u32) -> &str {
        let i = i as usize;
        let start = if i == 0 { 0 } else { self.end[i - 1] };
        &self.buf[start..self.end[i]]
    }

    fn insert(&mut self, id: &str) {
        let h = id_hash(id);
        if self.contains(h, id) {
            return;
        }
        let i = self.end.len() as u32;
        self.buf.push_str(id);
        self.end.push(self.buf.len());
        let (buf, end) = (&self.buf, &self.end);
        let get = |i: u32| {
            let i = i as usize;
            &buf[if i == 0 { 0 } else { end[i - 1] }..end[i]]
        };
        self.table.insert_unique(h, i, |&j| id_hash(get(j)));
    }

    fn contains(&self, hash: u64, id: &str) -> bool {
        self.table.find(hash, |&j| self.get(j) == id).is_some()
    }
}

/// Repeated strings (interviewers, modes) by index.
#[derive(Default)]
struct Dict {
    index: rustc_hash::FxHashMap<String, u32>,
    names: Vec<String>,
}

impl Dict {
    /// The index of `s`, adding it when new.
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(i) = self.index.get(s) {
            return *i;
        }
        let i = self.names.len() as u32;
        self.index.insert(s.to_string(), i);
        self.names.push(s.to_string());
        i
    }
}

/// Rejected rows go straight to a temporary CSV (renamed into place at the commit);
/// only the first few stay in memory for the terminal.
struct RejectSink {
    writer: csv::Writer<std::io::BufWriter<tempfile::NamedTempFile>>,
    file: String,
    first: Vec<Reject>,
    by_reason: BTreeMap<String, u64>,
    total: u64,
}

/// Rejected rows kept in memory for the terminal (all are in the rejects file).
const KEPT_REJECTS: usize = 100;

impl RejectSink {
    fn new(dir: &Path, file: &str) -> Result<RejectSink> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let tmp = tempfile::Builder::new()
            .prefix(".manyi-tmp-")
            .tempfile_in(dir)
            .map_err(|e| Error::io(dir, e))?;
        let mut buf = std::io::BufWriter::new(tmp);
        std::io::Write::write_all(&mut buf, b"\xEF\xBB\xBF").map_err(|e| Error::io(dir, e))?;
        let mut writer = csv::Writer::from_writer(buf);
        writer
            .write_record(["file", "line", "column", "reason_code", "reason", "raw"])
            .map_err(|e| Error::Invalid(e.to_string()))?;
        Ok(RejectSink {
            writer,
            file: file.to_string(),
            first: Vec::new(),
            by_reason: BTreeMap::new(),
            total: 0,
        })
    }

    fn push(&mut self, r: Reject) -> Result<()> {
        // The raw row, as one CSV line (flexible: a rejected row may have any length).
        let mut raw = csv::WriterBuilder::new()
            .flexible(true)
            .from_writer(Vec::new());
        raw.write_record(r.raw.iter().map(|c| c.as_str()))
            .map_err(|e| Error::Invalid(format!("writing the rejects list: {e}")))?;
        let raw = raw
            .into_inner()
            .map_err(|e| Error::Invalid(format!("writing the rejects list: {}", e.error())))?;
        let raw = String::from_utf8_lossy(&raw);
        self.writer
            .write_record([
                self.file.as_str(),
                &r.line.to_string(),
                &r.column,
                r.code,
                &crate::fsutil::neutralise_cell(&r.reason),
                &crate::fsutil::neutralise_cell(raw.trim_end()),
            ])
            .map_err(|e| Error::Invalid(format!("writing the rejects list: {e}")))?;
        *self.by_reason.entry(r.code.to_string()).or_default() += 1;
        self.total += 1;
        if self.first.len() < KEPT_REJECTS {
            self.first.push(r);
        }
        Ok(())
    }

    /// Flushes and moves the list to `path`.
    fn persist(self, path: &Path) -> Result<()> {
        let buf = self
            .writer
            .into_inner()
            .map_err(|e| Error::Invalid(format!("writing the rejects list: {e}")))?;
        let tmp = buf
            .into_inner()
            .map_err(|e| Error::io(path, e.into_error()))?;
        crate::fsutil::persist(tmp, path)
    }
}

/// Everything the row check needs, set up once per delivery (shared by the checkers).
struct Context<'a> {
    rules: &'a Rules,
    round: RoundId,
    round_s: String,
    codebook: Codebook,
    communities: Communities<'a>,
    sample: rustc_hash::FxHashSet<String>,
    /// Respondent ids stored for the round by earlier deliveries.
    stored_ids: IdSet,
    /// Set when the header has a phone or name column.
    salt: std::sync::OnceLock<String>,
    summary: rustc_hash::FxHashSet<String>,
    /// Length in bytes of the longest summary label.
    summary_max_len: usize,
    item_scores: Vec<f64>,
}

/// Marks an accepted row in `Part::order`.
const ACCEPTED: u32 = u32::MAX;

/// One batch of records after the row checks (done in parallel): rejected rows, and
/// accepted ones with their dictionaries local to the batch. Merged into `State` in
/// file order, where the duplicate ids within the file are found.
struct Part {
    batch: read::Batch,
    rows_read: u64,
    blank: u64,
    /// Per data row, in order: ACCEPTED, or an index into `rejects`.
    order: Vec<u32>,
    rejects: Vec<Reject>,
    /// Record in `batch` of each accepted row.
    rec: Vec<u32>,
    id_hash: Vec<u64>,
    acc: Accepted,
    interviewers: Dict,
    modes: Dict,
}

/// What a checker hands the merger, in file order by sequence number.
enum Checked {
    Part(Box<Part>),
    Fail(Error),
    End { trailing_blank: u64 },
}

struct State {
    header: Option<HeaderMap>,
    rows_read: u64,
    blank: u64,
    acc: Accepted,
    rejects: RejectSink,
    /// Accepted rows by respondent id (indices into `acc`), for repeats within the file.
    seen: hashbrown::HashTable<u32>,
    interviewers: Dict,
    modes: Dict,
    /// Frame community index → index into `communities`, or NONE.
    community_local: Vec<u32>,
    /// (street code, community code) by index.
    communities: Vec<(String, String)>,
}

impl State {
    fn new(n_items: usize, frame_len: usize, rejects: RejectSink) -> State {
        State {
            header: None,
            rows_read: 0,
            blank: 0,
            acc: Accepted {
                n_items,
                ..Default::default()
            },
            rejects,
            seen: Default::default(),
            interviewers: Dict::default(),
            modes: Dict::default(),
            community_local: vec![NONE; frame_len],
            communities: Vec::new(),
        }
    }
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

fn hash_personal(salt: &str, v: &str) -> String {
    crate::fsutil::sha256_hex(format!("{salt}:{v}").as_bytes())
}

/// Ingests one delivery for `round`. Returns its receipt; `Err` when the delivery is
/// refused whole (nothing is stored then).
pub fn ingest(ws: &Workspace, round: &RoundId, path: &Path, opts: &Options) -> Result<Outcome> {
    let file = path.display().to_string();
    if !path.is_file() {
        return Err(Error::file(&file, "no such file"));
    }
    let mut clock = crate::timings::Phases::new();
    let size = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    let mut det = read::detect(path, &file)?;
    let store = Store::new(ws);
    // A dry run writes nothing in the workspace (no lock file, no clean-up, no salt):
    // it reads the index, which is only ever replaced whole.
    let _lock = if opts.dry_run {
        None
    } else {
        Some(store.lock()?)
    };
    crate::fsutil::test_marker("ingest-locked");
    let mut index = store.read_index()?;
    if !opts.dry_run {
        store.remove_orphans(&index)?;
    }
    // A stored delivery with these bytes has their size: only then is the file hashed
    // before it is read (to answer "already ingested" at once). Otherwise the hash is
    // taken while the file is parsed, in the same pass.
    let maybe_stored = det.format == read::Format::Xlsx
        || index
            .deliveries
            .iter()
            .any(|d| d.bytes.is_none_or(|b| b == size));
    let known_sha = if maybe_stored {
        let sha = sha256_file(path)?;
        if let Some(d) = index.deliveries.iter().find(|d| d.sha256 == sha) {
            let text = crate::fsutil::read_text(&store.path(&d.receipt))?;
            let mut r: Receipt = serde_json::from_str(&text)
                .map_err(|e| Error::file(d.receipt.clone(), e.to_string()))?;
            r.status = "already-ingested".into();
            r.file = file;
            return Ok(Outcome {
                receipt: r,
                rejects: Vec::new(),
            });
        }
        Some(sha)
    } else {
        None
    };
    clock.lap("sha256 (when the size matches a stored delivery)");
    // The file is hashed (unless it was above) and the original copied and synced,
    // on a thread of its own beside the parsing.
    let side = SidePass::start(
        path,
        (!opts.dry_run).then(|| store.path("originals")),
        known_sha.is_none(),
    );
    let rules = ws.rules()?;
    let frame = ws.frame()?;
    let sample: rustc_hash::FxHashSet<String> = crate::sample::load_sample_codes(ws, round)?
        .0
        .into_iter()
        .collect();

    let stored = store.load_round(
        &index,
        round,
        Some(&["respondent_id", "community_code", "valid"]),
    )?;
    let mut stored_ids = IdSet::default();
    let mut stored_valid: HashMap<String, u64> = HashMap::new();
    if let Some(df) = &stored {
        let ids = str_col(df, "respondent_id")?;
        let comm = str_col(df, "community_code")?;
        let valid = df
            .column("valid")
            .and_then(|c| c.bool().cloned())
            .map_err(|e| Error::Polars {
                path: store.dir.clone(),
                source: e,
            })?;
        for ((id, c), v) in ids.iter().zip(comm.iter()).zip(valid.iter()) {
            if let Some(id) = id {
                stored_ids.insert(id);
            }
            if let (Some(c), Some(true)) = (c, v) {
                *stored_valid.entry(c.to_string()).or_default() += 1;
            }
        }
    }

    let summary: rustc_hash::FxHashSet<String> = rules
        .ingest
        .summary_labels
        .iter()
        .map(|s| clean(s).to_lowercase())
        .collect();
    let ctx = Context {
        rules: &rules,
        round: *round,
        round_s: round.to_string(),
        codebook: Codebook::new(&rules),
        communities: Communities::new(&frame, &rules),
        sample,
        stored_ids,
        salt: std::sync::OnceLock::new(),
        summary_max_len: summary.iter().map(String::len).max().unwrap_or(0),
        summary,
        item_scores: rules.scale.answers.iter().map(|a| a.score).collect(),
    };
    clock.lap("store ids and frame");
    let state = match read_all(path, &file, &det, opts, &ctx, &store, size) {
        Err(e) if read::is_not_utf8(&e) && det.encoding == read::Encoding::Utf8 => {
            det.encoding = read::Encoding::Gb18030;
            read_all(path, &file, &det, opts, &ctx, &store, size).map_err(|e| {
                Error::file(
                    &file,
                    format!("the file is neither UTF-8 nor GBK/GB18030 throughout: {e}"),
                )
            })?
        }
        Err(e) => return Err(e),
        Ok(s) => s,
    };
    clock.lap("read and check");
    let (side_sha, copy) = side.finish()?;
    let sha = match (known_sha, side_sha) {
        (Some(s), _) | (None, Some(s)) => s,
        (None, None) => sha256_file(path)?,
    };
    let header = state
        .header
        .as_ref()
        .ok_or_else(|| Error::file(&file, "the file has no header row (it is empty or blank)"))?;

    // Quality flags, then the stored frame.
    let acc = &state.acc;
    let input = quality::Input {
        community: &acc.community,
        interviewer: &acc.interviewer,
        interviewer_names: &state.interviewers.names,
        duration: &acc.duration,
        score: &acc.score,
        items: &acc.items,
        n_items: acc.n_items,
        answered: &acc.answered,
    };
    let (flags, flagged_interviewers) = quality::compute(&input, &rules);
    clock.lap("quality flags");
    let valid: Vec<bool> = acc
        .answered
        .iter()
        .map(|a| (*a as usize) >= rules.validity.min_answered_items)
        .collect();
    let n = acc.len();
    let round_s = round.to_string();
    let data_rel = format!("responses/{round}/{sha}.parquet");
    // Dates as text, once per distinct date; each row's date as an index into them.
    let mut dates: Vec<u32> = acc.date.iter().copied().filter(|d| *d > 0).collect();
    dates.sort_unstable();
    dates.dedup();
    let date_text: Vec<String> = dates
        .iter()
        .map(|d| format!("{:04}-{:02}-{:02}", d / 10000, d / 100 % 100, d % 100))
        .collect();
    let date_index: rustc_hash::FxHashMap<u32, u32> = dates
        .iter()
        .enumerate()
        .map(|(i, d)| (*d, i as u32))
        .collect();
    let date_of: Vec<u32> = acc
        .date
        .iter()
        .map(|d| date_index.get(d).copied().unwrap_or(NONE))
        .collect();
    let street_codes: Vec<&str> = state.communities.iter().map(|c| c.0.as_str()).collect();
    let community_codes: Vec<&str> = state.communities.iter().map(|c| c.1.as_str()).collect();
    fn as_strs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    let (date_strs, iv_strs, mode_strs) = (
        as_strs(&date_text),
        as_strs(&state.interviewers.names),
        as_strs(&state.modes.names),
    );
    let frame_of = |range: std::ops::Range<usize>| -> Result<DataFrame> {
        let len = range.len();
        let r = range.clone();
        let pe = |e| Error::Polars {
            path: store.path(&data_rel),
            source: e,
        };
        let mut cols: Vec<Column> = vec![
            StringChunked::full("round".into(), round_s.as_str(), len).into_column(),
            StringChunked::full("delivery".into(), sha.as_str(), len).into_column(),
            Column::new("line".into(), &acc.line[r.clone()]),
            columns::ids("respondent_id", &acc.id_buf, &acc.id_end, r.clone()).map_err(pe)?,
            columns::dict("street_code", &street_codes, &acc.community[r.clone()]).map_err(pe)?,
            columns::dict(
                "community_code",
                &community_codes,
                &acc.community[r.clone()],
            )
            .map_err(pe)?,
            columns::dict("interview_date", &date_strs, &date_of[r.clone()]).map_err(pe)?,
            columns::dict("interviewer_id", &iv_strs, &acc.interviewer[r.clone()]).map_err(pe)?,
            columns::dict("mode", &mode_strs, &acc.mode[r.clone()]).map_err(pe)?,
            Float64Chunked::from_vec_validity(
                "duration_s".into(),
                acc.duration[r.clone()].to_vec(),
                Some(
                    acc.duration[r.clone()]
                        .iter()
                        .map(|x| !x.is_nan())
                        .collect(),
                ),
            )
            .into_column(),
        ];
        for (k, q) in rules.questions.iter().enumerate() {
            let v: Vec<u8> = r.clone().map(|i| acc.items[i * acc.n_items + k]).collect();
            let ok: polars_arrow::bitmap::Bitmap = v.iter().map(|a| *a != NA_ITEM).collect();
            cols.push(
                UInt8Chunked::from_vec_validity(q.id.as_str().into(), v, Some(ok)).into_column(),
            );
        }
        let opt_strings = |name: &str, v: &Vec<Option<String>>| -> Column {
            if v.is_empty() {
                StringChunked::full_null(name.into(), len).into_column()
            } else {
                Column::new(
                    name.into(),
                    v[r.clone()]
                        .iter()
                        .map(|x| x.as_deref())
                        .collect::<Vec<_>>(),
                )
            }
        };
        cols.extend([
            Column::new("answered".into(), &acc.answered[r.clone()]),
            Column::new("valid".into(), &valid[r.clone()]),
            Column::new("flag_speeder".into(), &flags.speeder[r.clone()]),
            Column::new("flag_straightline".into(), &flags.straightline[r.clone()]),
            Column::new(
                "flag_duplicate_pattern".into(),
                &flags.duplicate_pattern[r.clone()],
            ),
            Column::new("flag_too_few_answers".into(), &flags.few_answers[r.clone()]),
            Column::new("flag_interviewer".into(), &flags.interviewer[r.clone()]),
            opt_strings("phone_hash", &acc.phone_hash),
            opt_strings("name_hash", &acc.name_hash),
        ]);
        DataFrame::new(len, cols).map_err(|e| Error::Polars {
            path: store.path(&data_rel),
            source: e,
        })
    };

    // Receipt.
    let mut by_local = vec![(0u64, 0u64); state.communities.len()];
    for (c, v) in acc.community.iter().zip(valid.iter()) {
        let e = &mut by_local[*c as usize];
        e.0 += 1;
        e.1 += *v as u64;
    }
    let per_comm: BTreeMap<String, (u64, u64)> = state
        .communities
        .iter()
        .zip(by_local)
        .map(|((_, code), n)| (code.clone(), n))
        .collect();
    let communities = per_comm
        .iter()
        .map(|(code, (a, v))| {
            let com = frame.community(code);
            let round_valid = v + stored_valid.get(code).copied().unwrap_or(0);
            CommunityReceipt {
                street_code: com.map(|c| c.street_code.clone()).unwrap_or_default(),
                street_name: com.map(|c| c.street_name.clone()).unwrap_or_default(),
                community_code: code.clone(),
                community_name: com.map(|c| c.name.clone()).unwrap_or_default(),
                accepted: *a,
                valid: *v,
                round_valid,
                insufficient: (round_valid as usize) < rules.validity.min_valid_per_community,
            }
        })
        .collect();
    let rejects_by_reason = state.rejects.by_reason.clone();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| format!(".{}", e.to_lowercase()))
        .unwrap_or_default();
    let original_rel = format!("originals/{sha}{ext}");
    let receipt_rel = format!("receipts/{sha}.json");
    let rejects_rel = format!("receipts/{sha}.rejects.csv");
    let ws_rel = |r: &str| {
        let p = store.path(r);
        p.strip_prefix(&ws.root).unwrap_or(&p).display().to_string()
    };
    let mut columns = BTreeMap::new();
    let mut hashed_columns = Vec::new();
    for (c, name) in header.cols.iter().zip(header.names.iter()) {
        if let Some(c) = c {
            columns.insert(c.canonical(&rules), name.clone());
            if matches!(c, Col::Phone | Col::Name) {
                hashed_columns.push(name.clone());
            }
        }
    }
    let count = |v: &[bool]| v.iter().filter(|b| **b).count() as u64;
    let accepted = n as u64;
    let rejected = state.rejects.total;
    let receipt = Receipt {
        file: file.clone(),
        sha256: sha.clone(),
        round: round_s.clone(),
        status: "stored".into(),
        format: match det.format {
            read::Format::Csv => "csv".into(),
            read::Format::Xlsx => "xlsx".into(),
        },
        encoding: serde_json::to_value(det.encoding)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default(),
        delimiter: if det.format == read::Format::Xlsx {
            String::new()
        } else if det.delimiter == b'\t' {
            "tab".into()
        } else {
            "comma".into()
        },
        rows_read: state.rows_read,
        accepted,
        rejected,
        valid: count(&valid),
        invalid: accepted - count(&valid),
        blank_lines_skipped: state.blank,
        columns,
        ignored_columns: header.ignored.clone(),
        hashed_columns,
        rejects_by_reason,
        communities,
        quality: QualitySummary {
            speeders: count(&flags.speeder),
            straightliners: count(&flags.straightline),
            duplicate_patterns: count(&flags.duplicate_pattern),
            too_few_answers: count(&flags.few_answers),
            flagged_interviewers,
        },
        receipt_file: ws_rel(&receipt_rel),
        rejects_file: ws_rel(&rejects_rel),
        ingested_at: now_utc(),
    };
    if receipt.accepted + receipt.rejected != receipt.rows_read {
        return Err(Error::Internal(format!(
            "accounting error on {file}: {} accepted + {} rejected ≠ {} rows read; nothing stored",
            receipt.accepted, receipt.rejected, receipt.rows_read
        )));
    }

    if opts.dry_run {
        let first_rejects = state.rejects.first.clone();
        let mut receipt = receipt;
        receipt.status = "checked (dry run, nothing stored)".into();
        receipt.receipt_file = String::new();
        receipt.rejects_file = String::new();
        return Ok(Outcome {
            receipt,
            rejects: first_rejects,
        });
    }
    // Write everything under its final content-addressed name, then commit the index.
    write_parquet_chunks(&store.path(&data_rel), n, CHUNK, &frame_of)?;
    clock.lap("parquet");
    let original = store.path(&original_rel);
    if !original.exists() {
        match copy {
            Some(tmp) => crate::fsutil::persist(tmp, &original)?,
            None => crate::fsutil::copy_atomic(path, &original)?,
        }
    }
    let State { rejects, .. } = state;
    let first_rejects = rejects.first.clone();
    rejects.persist(&store.path(&rejects_rel))?;
    let json = serde_json::to_vec_pretty(&receipt).map_err(|e| Error::Invalid(e.to_string()))?;
    crate::fsutil::write_atomic(&store.path(&receipt_rel), &json)?;
    index.deliveries.push(DeliveryEntry {
        sha256: sha,
        file_name: path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        round: round_s,
        rows_read: receipt.rows_read,
        accepted,
        rejected,
        data: data_rel,
        original: original_rel,
        receipt: receipt_rel,
        rejects: rejects_rel,
        scale: rules
            .scale
            .answers
            .iter()
            .map(|a| a.label.clone())
            .collect(),
        ingested_at: receipt.ingested_at.clone(),
        bytes: Some(size),
    });
    // Test hook: widens the window in which a kill lands before the commit.
    crate::fsutil::test_pause("MANYI_TEST_PAUSE_BEFORE_COMMIT_MS");
    store.write_index(&index)?;
    crate::fsutil::test_marker("ingest-committed");
    clock.lap("original, receipt and commit");
    clock.report(&file);
    Ok(Outcome {
        receipt,
        rejects: first_rejects,
    })
}

/// A second pass over the delivery on its own thread, beside the parsing: its SHA-256
/// (when not known yet) and a copy of the original, synced, under a temporary name in
/// the store (renamed to its content-addressed name at the commit). Dropped unfinished,
/// it stops and removes the copy.
struct SidePass {
    handle: Option<std::thread::JoinHandle<Result<SideResult>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

type SideResult = (Option<String>, Option<tempfile::NamedTempFile>);

impl SidePass {
    fn start(from: &Path, copy_to_dir: Option<std::path::PathBuf>, hash: bool) -> SidePass {
        let from = from.to_path_buf();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let handle = std::thread::spawn(move || -> Result<SideResult> {
            let tmp = match &copy_to_dir {
                Some(d) => Some(crate::fsutil::temp_beside(&d.join("incoming"))?),
                None => None,
            };
            let mut sha = hash.then(Sha256::new);
            if tmp.is_none() && sha.is_none() {
                return Ok((None, None));
            }
            // The copy in the kernel (copy_file_range: no pass through this process), 64 MiB
            // at a time so that a refused delivery does not wait for the whole copy.
            if let Some(t) = &tmp {
                let src = std::fs::File::open(&from).map_err(|e| Error::io(&from, e))?;
                let mut dst = t.as_file();
                loop {
                    if stopped.load(std::sync::atomic::Ordering::Relaxed) {
                        return Err(Error::Invalid("stopped".into()));
                    }
                    let n = std::io::copy(&mut (&src).take(64 << 20), &mut dst)
                        .map_err(|e| Error::io(t.path(), e))?;
                    if n == 0 {
                        break;
                    }
                }
                t.as_file().sync_all().map_err(|e| Error::io(t.path(), e))?;
            }
            if let Some(h) = &mut sha {
                let mut f = std::fs::File::open(&from).map_err(|e| Error::io(&from, e))?;
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    if stopped.load(std::sync::atomic::Ordering::Relaxed) {
                        return Err(Error::Invalid("stopped".into()));
                    }
                    let n = f.read(&mut buf).map_err(|e| Error::io(&from, e))?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                }
            }
            Ok((sha.map(|h| hex::encode(h.finalize())), tmp))
        });
        SidePass {
            handle: Some(handle),
            stop,
        }
    }

    /// The hash (if asked for) and the synced copy (if asked for).
    fn finish(mut self) -> Result<SideResult> {
        let Some(h) = self.handle.take() else {
            return Ok((None, None));
        };
        h.join().map_err(|_| {
            Error::Invalid("the pass hashing and copying the original stopped".into())
        })?
    }
}

impl Drop for SidePass {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
            // ok: dropped unfinished means the ingest failed already; that error is
            // the one reported, and the stopped pass removes its own copy.
            let _ = h.join();
        }
    }
}

/// String columns for the store, built as Arrow string views directly: a repeated
/// value's bytes are stored once, and no string is hashed or copied per row.
mod columns {
    use polars::prelude::*;
    use polars_arrow::array::{Utf8ViewArray, View};
    use polars_arrow::bitmap::Bitmap;
    use polars_arrow::datatypes::ArrowDataType;

    fn column(
        name: &str,
        views: Vec<View>,
        buf: Vec<u8>,
        validity: Option<Bitmap>,
    ) -> PolarsResult<Column> {
        let arr = Utf8ViewArray::try_new(
            ArrowDataType::Utf8View,
            views.into(),
            vec![buf.into()].into(),
            validity,
        )?;
        Ok(StringChunked::with_chunk(name.into(), arr).into_column())
    }

    /// `values[index[i]]` per row; null where the index is u32::MAX.
    pub fn dict(name: &str, values: &[&str], index: &[u32]) -> PolarsResult<Column> {
        let mut buf: Vec<u8> = Vec::new();
        let views: Vec<View> = values
            .iter()
            .map(|v| {
                let view = View::new_from_bytes(v.as_bytes(), 0, buf.len() as u32);
                if v.len() > View::MAX_INLINE_SIZE as usize {
                    buf.extend_from_slice(v.as_bytes());
                }
                view
            })
            .collect();
        let null = View::new_inline(b"");
        let rows: Vec<View> = index
            .iter()
            .map(|&i| views.get(i as usize).copied().unwrap_or(null))
            .collect();
        let validity = index
            .iter()
            .any(|&i| i == u32::MAX)
            .then(|| index.iter().map(|&i| i != u32::MAX).collect());
        column(name, rows, buf, validity)
    }

    /// Row i's text is `text[ends[i-1]..ends[i]]`, for the rows in `range`.
    pub fn ids(
        name: &str,
        text: &str,
        ends: &[usize],
        range: std::ops::Range<usize>,
    ) -> PolarsResult<Column> {
        let start = |i: usize| if i == 0 { 0 } else { ends[i - 1] };
        let base = start(range.start);
        let last = if range.is_empty() {
            base
        } else {
            ends[range.end - 1]
        };
        let bytes = &text.as_bytes()[base..last];
        let views: Vec<View> = range
            .map(|i| {
                let (a, b) = (start(i) - base, ends[i] - base);
                View::new_from_bytes(&bytes[a..b], 0, a as u32)
            })
            .collect();
        column(name, views, bytes.to_vec(), None)
    }
}

/// Rows written to Parquet per row group (bounds the memory of the write; several
/// groups let one be built while the one before is encoded).
const CHUNK: usize = 1 << 18;

/// Writes rows 0..n, made by `frame_of(range)`, to one Parquet file in row groups,
/// under a temporary name renamed into place. Row groups are built, encoded and
/// compressed on all cores, and written in order.
fn write_parquet_chunks(
    path: &Path,
    n: usize,
    chunk: usize,
    frame_of: &(dyn Fn(std::ops::Range<usize>) -> Result<DataFrame> + Sync),
) -> Result<()> {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    let pe = |e| Error::Polars {
        path: path.to_path_buf(),
        source: e,
    };
    let tmp = crate::fsutil::temp_beside(path)?;
    let f = tmp.as_file().try_clone().map_err(|e| Error::io(path, e))?;
    let schema = frame_of(0..0)?.schema().clone();
    // Snappy: several times faster to write than zstd here, files about twice as
    // large, and every Parquet reader has it.
    let w = ParquetWriter::new(std::io::BufWriter::new(f))
        .with_compression(ParquetCompression::Snappy)
        .batched(&schema)
        .map_err(pe)?;
    let groups = n.div_ceil(chunk.max(1));
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism()
        .map_or(2, |t| t.get())
        .clamp(1, 8)
        .min(groups.max(1));
    std::thread::scope(|s| -> Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel(threads + 2);
        for _ in 0..threads {
            let tx = tx.clone();
            let (w, next) = (&w, &next);
            s.spawn(move || {
                loop {
                    let g = next.fetch_add(1, Relaxed);
                    if g >= groups {
                        return;
                    }
                    let range = g * chunk..((g + 1) * chunk).min(n);
                    let encoded = frame_of(range).and_then(|df| {
                        w.encode_and_compress(&df)
                            .collect::<PolarsResult<Vec<_>>>()
                            .map_err(pe)
                    });
                    if tx.send((g, encoded)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut pending = BTreeMap::new();
        let mut next_write = 0;
        for (g, encoded) in rx {
            pending.insert(g, encoded);
            while let Some(encoded) = pending.remove(&next_write) {
                w.write_row_groups(encoded?).map_err(pe)?;
                next_write += 1;
            }
        }
        Ok(())
    })?;
    w.finish().map_err(pe)?;
    drop(w);
    crate::fsutil::persist(tmp, path)
}

fn str_col<'a>(df: &'a DataFrame, name: &str) -> Result<&'a StringChunked> {
    df.column(name)
        .and_then(|c| c.str())
        .map_err(|e| Error::Polars {
            path: name.into(),
            source: e,
        })
}

/// Reads and checks the delivery on several threads: one reads and parses the file into
/// batches of records, checkers (one per core) run the row checks on whole batches,
/// and this thread merges their results in file order (duplicate ids, dictionaries,
/// the rejects file) and shows the progress.
fn read_all(
    path: &Path,
    file: &str,
    det: &read::Detected,
    opts: &Options,
    ctx: &Context<'_>,
    store: &Store,
    size: u64,
) -> Result<State> {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
    let mut st = State::new(
        ctx.rules.questions.len(),
        ctx.communities.len(),
        RejectSink::new(
            &if opts.dry_run {
                std::env::temp_dir()
            } else {
                store.path("receipts")
            },
            file,
        )?,
    );
    let progress = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let header: std::sync::OnceLock<HeaderMap> = std::sync::OnceLock::new();
    let (tx, rx) = std::sync::mpsc::sync_channel::<read::Msg>(4);
    // The receiver with the sequence number of the next message.
    let rx = std::sync::Mutex::new((rx, 0u64));
    let recv = || {
        let mut g = rx.lock().unwrap_or_else(|e| e.into_inner());
        let m = g.0.recv().ok()?;
        let seq = g.1;
        g.1 += 1;
        Some((seq, m))
    };
    let checkers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 8);
    // Batches between the reader and the merger at most: a slow merger (or one checker
    // held up while the others run ahead) stops the reader instead of piling batches up.
    let permits = Permits::new(2 * checkers + 4);
    let bar = if opts.progress && det.format == read::Format::Csv {
        let pb = indicatif::ProgressBar::new(size);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} reading [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        pb
    } else {
        indicatif::ProgressBar::hidden()
    };
    let result = std::thread::scope(|s| -> Result<()> {
        let (stop, progress, header, recv, permits) = (&stop, &progress, &header, &recv, &permits);
        s.spawn(move || {
            let batch = opts.batch_records.unwrap_or(read::BATCH_RECORDS).max(1);
            read::read_batches(
                path,
                file,
                det,
                opts.sheet.as_deref(),
                batch,
                progress,
                &mut |m| {
                    if matches!(m, read::Msg::Batch(_)) && !permits.acquire(stop) {
                        return false;
                    }
                    !stop.load(Relaxed) && tx.send(m).is_ok()
                },
            );
        });
        let mut run = || -> Result<()> {
            match recv().map(|(_, m)| m) {
                Some(read::Msg::Header { cells, .. }) => {
                    let h = HeaderMap::new(&cells, ctx.rules, file)?;
                    if h.position(Col::Phone).is_some() || h.position(Col::Name).is_some() {
                        // A dry run stores no hash, so it needs no lasting salt.
                        let salt = if opts.dry_run {
                            crate::store::fresh_salt()
                        } else {
                            store.salt()?
                        };
                        // ok: this thread is the only one to set it, once.
                        let _ = ctx.salt.set(salt);
                    }
                    // ok: set once, here, before any checker starts.
                    let _ = header.set(h);
                }
                Some(read::Msg::Fail(e)) => return Err(e),
                // No header: an empty or blank file (said by the caller).
                Some(read::Msg::End { .. }) => return Ok(()),
                Some(read::Msg::Batch(_)) | None => {
                    return Err(Error::file(file, "the reader stopped before the header"));
                }
            }
            let Some(h) = header.get() else {
                return Err(Error::file(file, "the file has no header row"));
            };
            let (ctx_tx, res_rx) = std::sync::mpsc::channel::<(u64, Checked)>();
            for _ in 0..checkers {
                let ctx_tx = ctx_tx.clone();
                s.spawn(move || {
                    while let Some((seq, m)) = recv() {
                        if stop.load(Relaxed) {
                            continue; // drain, so the reader is never left blocked
                        }
                        let out = match m {
                            read::Msg::Batch(mut b) => match b.decode(file) {
                                Ok(()) => Checked::Part(Box::new(check_batch(ctx, h, b))),
                                Err((_, e)) => Checked::Fail(e),
                            },
                            read::Msg::Fail(e) => Checked::Fail(e),
                            read::Msg::End { trailing_blank } => Checked::End { trailing_blank },
                            read::Msg::Header { .. } => {
                                Checked::Fail(Error::file(file, "a second header from the reader"))
                            }
                        };
                        if ctx_tx.send((seq, out)).is_err() {
                            stop.store(true, Relaxed);
                        }
                    }
                });
            }
            drop(ctx_tx);
            let mut pending: BTreeMap<u64, Checked> = BTreeMap::new();
            let mut next = 1u64; // 0 was the header
            let mut ended = false;
            for (seq, out) in res_rx.iter() {
                pending.insert(seq, out);
                while let Some(out) = pending.remove(&next) {
                    next += 1;
                    match out {
                        Checked::Part(p) => {
                            merge(ctx, h, &mut st, *p, size)?;
                            permits.release();
                        }
                        Checked::Fail(e) => return Err(e),
                        Checked::End { trailing_blank } => {
                            st.blank += trailing_blank;
                            ended = true;
                        }
                    }
                }
                bar.set_position(progress.load(Relaxed));
            }
            if !ended {
                return Err(Error::file(
                    file,
                    "reading stopped before the end of the file",
                ));
            }
            Ok(())
        };
        let res = run();
        stop.store(true, Relaxed);
        while recv().is_some() {}
        res
    });
    bar.finish_and_clear();
    result?;
    st.header = header.into_inner();
    Ok(st)
}

/// A counting semaphore bounding the batches in flight between reader and merger.
struct Permits {
    free: std::sync::Mutex<usize>,
    freed: std::sync::Condvar,
}

impl Permits {
    fn new(n: usize) -> Permits {
        Permits {
            free: std::sync::Mutex::new(n),
            freed: std::sync::Condvar::new(),
        }
    }

    /// Takes a permit, waiting for one; false when `stop` is set meanwhile.
    fn acquire(&self, stop: &std::sync::atomic::AtomicBool) -> bool {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                return false;
            }
            free = self
                .freed
                .wait_timeout(free, std::time::Duration::from_millis(20))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *free -= 1;
        true
    }

    fn release(&self) {
        *self.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.freed.notify_one();
    }
}

/// The row checks of one batch (no shared state is written: this runs in parallel).
fn check_batch(ctx: &Context<'_>, h: &HeaderMap, batch: read::Batch) -> Part {
    let mut p = Part {
        batch: read::Batch::default(),
        rows_read: 0,
        blank: 0,
        order: Vec::with_capacity(batch.len()),
        rejects: Vec::new(),
        rec: Vec::with_capacity(batch.len()),
        id_hash: Vec::with_capacity(batch.len()),
        acc: Accepted {
            n_items: ctx.rules.questions.len(),
            ..Default::default()
        },
        interviewers: Dict::default(),
        modes: Dict::default(),
    };
    p.acc.reserve(batch.len());
    let mut cells: Vec<&str> = Vec::with_capacity(h.width + 4);
    for r in 0..batch.len() {
        p.blank += batch.blank_before[r];
        if batch.overlong[r] > 0 {
            p.rows_read += 1;
            p.order.push(p.rejects.len() as u32);
            p.rejects.push(Reject {
                line: batch.lines[r],
                column: String::new(),
                code: "line-too-long",
                reason: format!(
                    "a record of {} bytes (at most {} are read): a line without line breaks, or a quote that is never closed",
                    batch.overlong[r],
                    read::MAX_RECORD_BYTES
                ),
                raw: Vec::new(),
            });
            continue;
        }
        batch.fields_into(r, &mut cells);
        if cells.iter().all(|c| c.trim().is_empty()) {
            p.blank += 1;
            continue;
        }
        p.rows_read += 1;
        check_row(ctx, h, &mut p, r as u32, batch.lines[r], &cells);
    }
    drop(cells);
    p.batch = batch;
    p
}

/// Adds a checked batch to the state in file order: a repeated id is rejected here
/// (the first in the file is kept), accepted rows join the columns.
fn merge(ctx: &Context<'_>, h: &HeaderMap, st: &mut State, p: Part, size: u64) -> Result<()> {
    if st.acc.len() == 0 && p.acc.len() > 0 && p.batch.text_len() > 0 {
        // Room for the whole file, estimated from this batch (never more than 50M rows).
        let per_row = p.batch.text_len() as f64 / p.batch.len() as f64;
        let rows = ((size as f64 / per_row) * 1.02).min(5e7) as usize;
        st.acc.reserve(rows);
        st.seen.reserve(rows, |&j| id_hash(st.acc.id(j as usize)));
    }
    let iv_map: Vec<u32> = p
        .interviewers
        .names
        .iter()
        .map(|n| st.interviewers.intern(n))
        .collect();
    let mode_map: Vec<u32> = p.modes.names.iter().map(|n| st.modes.intern(n)).collect();
    let mut rejects = p.rejects.into_iter();
    let mut j = 0usize;
    let q = &p.acc;
    for &o in &p.order {
        if o != ACCEPTED {
            if let Some(r) = rejects.next() {
                st.rejects.push(r)?;
            }
            continue;
        }
        let k = j;
        j += 1;
        let id = q.id(k);
        let hash = p.id_hash[k];
        let acc = &mut st.acc;
        let row = acc.len() as u32;
        let first = match st.seen.entry(
            hash,
            |&r| acc.id(r as usize) == id,
            |&r| id_hash(acc.id(r as usize)),
        ) {
            hashbrown::hash_table::Entry::Occupied(e) => Some(*e.get()),
            hashbrown::hash_table::Entry::Vacant(e) => {
                e.insert(row);
                None
            }
        };
        if let Some(first) = first {
            let first_line = acc.line[first as usize];
            let column = h
                .position(Col::RespondentId)
                .map(|i| h.names[i].clone())
                .unwrap_or_default();
            st.rejects.push(Reject {
                line: q.line[k],
                column,
                code: "duplicate-in-file",
                reason: format!(
                    "respondent id {id} repeats line {first_line} of this file (the first is kept)"
                ),
                raw: p.batch.fields(p.rec[k] as usize),
            })?;
            continue;
        }
        acc.line.push(q.line[k]);
        acc.id_buf.push_str(id);
        acc.id_end.push(acc.id_buf.len());
        let fc = q.community[k] as usize;
        if st.community_local[fc] == NONE {
            let c = ctx.communities.get(fc as u32);
            st.community_local[fc] = st.communities.len() as u32;
            st.communities.push((c.street_code.clone(), c.code.clone()));
        }
        acc.community.push(st.community_local[fc]);
        acc.date.push(q.date[k]);
        let local = |map: &[u32], v: u32| if v == NONE { NONE } else { map[v as usize] };
        acc.interviewer.push(local(&iv_map, q.interviewer[k]));
        acc.mode.push(local(&mode_map, q.mode[k]));
        acc.duration.push(q.duration[k]);
        let n = q.n_items;
        acc.items.extend_from_slice(&q.items[k * n..(k + 1) * n]);
        acc.answered.push(q.answered[k]);
        acc.score.push(q.score[k]);
        if !q.phone_hash.is_empty() {
            acc.phone_hash.push(q.phone_hash[k].clone());
        }
        if !q.name_hash.is_empty() {
            acc.name_hash.push(q.name_hash[k].clone());
        }
    }
    st.rows_read += p.rows_read;
    st.blank += p.blank;
    Ok(())
}

/// Checks one data row: accepted into `st.acc`, or rejected into `st.rejects`.
fn check_row(ctx: &Context<'_>, h: &HeaderMap, st: &mut Part, rec: u32, line: u64, cells: &[&str]) {
    let reject = |st: &mut Part, column: &str, code: &'static str, reason: String| {
        st.order.push(st.rejects.len() as u32);
        st.rejects.push(Reject {
            line,
            column: column.to_string(),
            code,
            reason,
            raw: cells.iter().map(|c| c.to_string()).collect(),
        });
    };
    let first = cells
        .iter()
        .map(|c| clean(c))
        .find(|c| !c.is_empty())
        .unwrap_or_default();
    // Summary labels are compared without case (合计, Total, TOTAL).
    let is_summary = first.len() <= ctx.summary_max_len
        && if first.is_ascii() {
            ctx.summary.iter().any(|l| l.eq_ignore_ascii_case(&first))
        } else {
            ctx.summary.contains(first.as_ref())
        };
    if is_summary {
        return reject(
            st,
            "",
            "summary-row",
            format!("a summary row ({first}), not a questionnaire"),
        );
    }
    let mut width = cells.len();
    while width > h.width && cells[width - 1].trim().is_empty() {
        width -= 1;
    }
    if width != h.width {
        return reject(
            st,
            "",
            "field-count",
            format!("has {width} fields, the header has {}", h.width),
        );
    }
    let get = |c: Col| h.position(c).map(|i| clean(&cells[i]));
    let colname = |c: Col| {
        h.position(c)
            .map(|i| h.names[i].clone())
            .unwrap_or_default()
    };

    let id = get(Col::RespondentId).unwrap_or_default();
    if id.is_empty() {
        return reject(
            st,
            &colname(Col::RespondentId),
            "missing-id",
            "the respondent id is empty".into(),
        );
    }
    if let Some(r) = get(Col::Round)
        && !r.is_empty()
        && r != ctx.round_s
    {
        return reject(
            st,
            &colname(Col::Round),
            "wrong-round",
            format!(
                "round {r:?} in the row, this delivery is ingested for {}",
                ctx.round
            ),
        );
    }
    let street = get(Col::Street);
    let code = get(Col::CommunityCode).filter(|c| !c.is_empty());
    let name = get(Col::CommunityName).filter(|c| !c.is_empty());
    let (community_index, community) = match (&code, &name) {
        (Some(code), _) => match ctx.communities.by_code(code) {
            Some(c) => c,
            None => {
                return reject(
                    st,
                    &colname(Col::CommunityCode),
                    "unknown-community",
                    format!("community code {code} is not in the frame"),
                );
            }
        },
        (None, Some(name)) => match ctx.communities.by_name(name, street.as_deref()) {
            Found::One(i, c) => (i, c),
            Found::Ambiguous(cs) => {
                let list: Vec<_> = cs
                    .iter()
                    .map(|c| format!("{} {} ({})", c.code, c.name, c.street_name))
                    .collect();
                return reject(
                    st,
                    &colname(Col::CommunityName),
                    "ambiguous-community",
                    format!(
                        "community name {name:?} matches several communities: {}; deliver the community code",
                        list.join("; ")
                    ),
                );
            }
            Found::None => {
                return reject(
                    st,
                    &colname(Col::CommunityName),
                    "unknown-community",
                    format!("community name {name:?} is not in the frame"),
                );
            }
        },
        (None, None) => {
            return reject(
                st,
                &colname(Col::CommunityCode),
                "unknown-community",
                "no community code or name".into(),
            );
        }
    };
    if let (Some(_), Some(name)) = (&code, &name) {
        let core = ctx.communities.core(name);
        if core != ctx.communities.core(&clean(&community.name)) {
            return reject(
                st,
                &colname(Col::CommunityName),
                "community-mismatch",
                format!(
                    "community name {name:?} does not match code {} ({})",
                    community.code, community.name
                ),
            );
        }
    }
    if let Some(s) = street.as_deref().filter(|s| !s.is_empty())
        && s != community.street_name
        && !community.street_name.starts_with(s)
    {
        return reject(
            st,
            &colname(Col::Street),
            "street-mismatch",
            format!(
                "street {s:?} but community {} is in {}",
                community.name, community.street_name
            ),
        );
    }
    if !ctx.sample.contains(&community.code) {
        return reject(
            st,
            &colname(if code.is_some() {
                Col::CommunityCode
            } else {
                Col::CommunityName
            }),
            "not-in-sample",
            format!(
                "community {} {} is not in the sample of round {}",
                community.code, community.name, ctx.round
            ),
        );
    }
    let mut answers = [None; crate::rules::MAX_QUESTIONS];
    let n_items = ctx.rules.questions.len();
    for (k, (q, &i)) in ctx.rules.questions.iter().zip(h.items()).enumerate() {
        match ctx.codebook.lookup(cells[i]) {
            Ok(a) => answers[k] = a,
            Err(()) => {
                return reject(
                    st,
                    &h.names[i],
                    "bad-answer",
                    format!(
                        "{:?} is not an answer of the scale for {} (labels {}, codes {}; 不了解 or blank = not answered)",
                        clean(cells[i]),
                        q.id,
                        ctx.rules
                            .scale
                            .answers
                            .iter()
                            .map(|a| a.label.as_str())
                            .collect::<Vec<_>>()
                            .join("/"),
                        ctx.rules
                            .scale
                            .answers
                            .iter()
                            .map(|a| a.code.as_str())
                            .collect::<Vec<_>>()
                            .join("/"),
                    ),
                );
            }
        }
    }
    let date = match get(Col::Date).filter(|d| !d.is_empty()) {
        None => None,
        Some(d) => match parse_date(&d) {
            Err(why) => return reject(st, &colname(Col::Date), "bad-date", why),
            Ok((y, _, _)) if y != ctx.round.year => {
                return reject(
                    st,
                    &colname(Col::Date),
                    "date-outside-year",
                    format!("{d:?} is outside the round's year {}", ctx.round.year),
                );
            }
            Ok((y, m, dd)) => Some((y, m, dd)),
        },
    };
    let duration = match get(Col::Duration).filter(|d| !d.is_empty()) {
        None => None,
        Some(d) => match d.parse::<f64>() {
            Ok(x) if x.is_finite() && x >= 0.0 => Some(x),
            _ => {
                return reject(
                    st,
                    &colname(Col::Duration),
                    "bad-duration",
                    format!("duration {d:?} is not a number of seconds"),
                );
            }
        },
    };
    let hash = id_hash(&id);
    if ctx.stored_ids.contains(hash, &id) {
        return reject(
            st,
            &colname(Col::RespondentId),
            "duplicate-stored",
            format!(
                "respondent id {id} is already stored for round {} from an earlier delivery",
                ctx.round
            ),
        );
    }

    // Accepted here; a repeat of an earlier row's id is found in `merge`.
    st.order.push(ACCEPTED);
    st.rec.push(rec);
    st.id_hash.push(hash);
    let acc = &mut st.acc;
    acc.line.push(line);
    acc.id_buf.push_str(&id);
    acc.id_end.push(acc.id_buf.len());
    acc.community.push(community_index);
    acc.date.push(
        date.map(|(y, m, d)| y as u32 * 10000 + m * 100 + d)
            .unwrap_or(0),
    );
    let iv = get(Col::Interviewer)
        .filter(|s| !s.is_empty())
        .map_or(NONE, |s| st.interviewers.intern(&s));
    acc.interviewer.push(iv);
    let mode = get(Col::Mode)
        .filter(|s| !s.is_empty())
        .map_or(NONE, |s| st.modes.intern(&s));
    acc.mode.push(mode);
    acc.duration.push(duration.unwrap_or(f64::NAN));
    let answers = &answers[..n_items];
    let mut answered = 0u8;
    for a in answers {
        acc.items.push(a.unwrap_or(NA_ITEM));
        answered += a.is_some() as u8;
    }
    acc.answered.push(answered);
    acc.score.push(
        crate::score::estimators::respondent_score(
            ctx.rules
                .questions
                .iter()
                .zip(answers.iter())
                .map(|(q, a)| (q.weight, a.map(|i| ctx.item_scores[i as usize]))),
        )
        .unwrap_or(f64::NAN),
    );
    let personal = |c: Col| {
        get(c)
            .filter(|v| !v.is_empty())
            .and_then(|v| ctx.salt.get().map(|s| hash_personal(s, &v)))
    };
    if h.position(Col::Phone).is_some() {
        acc.phone_hash.push(personal(Col::Phone));
    }
    if h.position(Col::Name).is_some() {
        acc.name_hash.push(personal(Col::Name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parquet_written_in_row_groups_reads_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.parquet");
        let frame_of = |r: std::ops::Range<usize>| -> Result<DataFrame> {
            let v: Vec<u64> = r.clone().map(|i| i as u64).collect();
            let s: Vec<String> = r.map(|i| format!("id{i}")).collect();
            Ok(DataFrame::new(
                v.len(),
                vec![Column::new("n".into(), v), Column::new("id".into(), s)],
            )
            .unwrap())
        };
        write_parquet_chunks(&path, 10, 3, &frame_of).unwrap();
        let df = crate::store::read_parquet(&path, None).unwrap();
        assert_eq!(df.height(), 10);
        let n: Vec<u64> = df
            .column("n")
            .unwrap()
            .u64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(n, (0..10).collect::<Vec<u64>>());
        assert_eq!(df.column("id").unwrap().str().unwrap().get(9), Some("id9"));
    }

    #[test]
    fn id_set_compares_ids_not_only_hashes() {
        let mut set = IdSet::default();
        for i in 0..10_000 {
            set.insert(&format!("A{i:06}"));
        }
        set.insert("A000001");
        assert_eq!(set.end.len(), 10_000);
        assert!(set.contains(id_hash("A000001"), "A000001"));
        assert!(!set.contains(id_hash("A010000"), "A010000"));
        // A hash equal to a stored id's still needs the same text.
        assert!(!set.contains(id_hash("A000001"), "B000001"));
        assert!(!set.contains(id_hash(""), ""));
    }
}
