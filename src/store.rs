//! The response store: one Parquet file of accepted questionnaires per delivery, the
//! original bytes (content-addressed), receipts and rejects, and `index.json`, the
//! delivery index. A delivery exists in the store once it is in the index: the index
//! is replaced atomically last, so a crash leaves the store as before or as after.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::round::RoundId;
use crate::workspace::Workspace;

/// One stored delivery.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeliveryEntry {
    pub sha256: String,
    /// The file name as delivered.
    pub file_name: String,
    pub round: String,
    pub rows_read: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// Paths relative to the store directory.
    pub data: String,
    pub original: String,
    pub receipt: String,
    pub rejects: String,
    /// Answer labels in the order the stored item codes index them.
    pub scale: Vec<String>,
    pub ingested_at: String,
    /// Size of the original in bytes (absent in stores made before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// The evaluator's organisation (absent when not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluator: Option<String>,
    /// active, withdrawn or superseded (stores made before the lifecycle: active).
    #[serde(default)]
    pub status: DeliveryStatus,
    /// When, by whom and why it stopped counting; for a superseded delivery, by what.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_change: Option<StatusChange>,
    /// The delivery this one corrected (its sha256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
    /// Who stored it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// SHA-256 of the stored Parquet file (as journalled when it was written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_sha256: Option<String>,
    /// The delivery's summary beside its Parquet ([`DeliverySummary`], relative to
    /// the store; journalled with its hash). Absent in stores made before summaries:
    /// [`Store::summary`] then computes it from the Parquet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// What a stored delivery contributes to a round's views that need no single row:
/// its valid questionnaires per community, and per interviewer (so that excluding an
/// interviewer is a subtraction). Fixed when the delivery is stored; a round's view
/// adds up the summaries of its active deliveries.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DeliverySummary {
    /// The layout of this file (1).
    pub version: u32,
    /// Questionnaires stored (valid or not).
    pub rows: u64,
    /// Community code → valid questionnaires.
    pub valid: BTreeMap<String, u64>,
    /// Interviewer id → community code → valid questionnaires.
    pub valid_by_interviewer: BTreeMap<String, BTreeMap<String, u64>>,
    /// Which questionnaires (in stored order, one bit each, lowest bit first, as hex)
    /// have a near-duplicate among the delivery's own questionnaires of their
    /// community, for the record: the round's comparison reads the cells (which also
    /// say whose partners a near-duplicate has) and, compared from rows, makes the
    /// marks again. Absent when not known (a summary computed from the Parquet, fewer
    /// than three items).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub near_duplicate: Option<String>,
    /// What the round's interviewer comparison and flags need of this delivery, per
    /// community × interviewer; absent in a summary written before it (the round is
    /// then compared from the rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cells: Option<DeliveryCells>,
}

/// The counts of a [`DeliverySummary`] (read without its cells).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct DeliveryCounts {
    pub version: u32,
    pub rows: u64,
    pub valid: BTreeMap<String, u64>,
    pub valid_by_interviewer: BTreeMap<String, BTreeMap<String, u64>>,
}

impl From<DeliverySummary> for DeliveryCounts {
    fn from(s: DeliverySummary) -> Self {
        DeliveryCounts {
            version: s.version,
            rows: s.rows,
            valid: s.valid,
            valid_by_interviewer: s.valid_by_interviewer,
        }
    }
}

/// One community × interviewer of a delivery (or of a round): the sufficient
/// statistics of the interviewer comparison (`ingest::quality`), exact sums that add
/// up across deliveries in any order.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CellStats {
    /// Questionnaires, of them straight-lined, and of them with any questionnaire flag
    /// (`flags::QUESTIONNAIRE_FLAGS`).
    pub rows: u64,
    pub straight: u64,
    pub flagged: u64,
    /// Valid questionnaires, and speeders (the review pack's interviewer table).
    pub valid: u64,
    pub speeders: u64,
    /// Scores of the valid questionnaires (what excluding the interviewer would move).
    pub valid_scores: crate::estimators::Moments,
    /// Per indicator of `quality::INDICATORS` but the last (same_day, which is
    /// round-wide: from `dates`), its defined values.
    pub indicators: Vec<crate::estimators::Moments>,
    /// (yyyymmdd, questionnaires) for the dated ones, by date.
    pub dates: Vec<(u32, u64)>,
    /// (interviewer, questionnaires): this cell's near-duplicates whose partners are
    /// all that one other interviewer's (`quality::Near::solely`), by interviewer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub near_only_with: Vec<(u32, u64)>,
}

impl CellStats {
    /// The same statistics with the interviewers `near_only_with` names renumbered.
    pub fn renumbered(&self, iv: impl Fn(u32) -> u32) -> CellStats {
        let mut s = self.clone();
        s.near_only_with = Vec::new();
        for &(i, n) in &self.near_only_with {
            s.add_near_only_with(iv(i), n);
        }
        s
    }

    /// Counts `n` more near-duplicates explained by interviewer `iv` alone.
    pub fn add_near_only_with(&mut self, iv: u32, n: u64) {
        match self.near_only_with.binary_search_by_key(&iv, |e| e.0) {
            Ok(k) => self.near_only_with[k].1 += n,
            Err(k) => self.near_only_with.insert(k, (iv, n)),
        }
    }
}

/// A delivery's cells: its communities and interviewers in the order they first
/// appear in the stored rows, each cell naming them by position.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DeliveryCells {
    /// The comparison these were computed for (`quality::ALGORITHM`).
    pub algorithm: String,
    pub communities: Vec<String>,
    /// The street of each community.
    pub streets: Vec<String>,
    pub interviewers: Vec<String>,
    /// (community, interviewer or u32::MAX for none, its statistics), by community
    /// then interviewer.
    pub cells: Vec<(u32, u32, CellStats)>,
}

/// Bits (lowest first in each byte) as hex.
pub fn bits_to_hex(bits: &[bool]) -> String {
    let bytes: Vec<u8> = bits
        .chunks(8)
        .map(|c| {
            c.iter()
                .enumerate()
                .fold(0u8, |b, (k, v)| b | ((*v as u8) << k))
        })
        .collect();
    hex::encode(bytes)
}

impl DeliverySummary {
    pub const VERSION: u32 = 1;

    /// The summary of a stored delivery's Parquet (the one definition: ingest writes
    /// it, and a store without summaries computes it the same way).
    pub fn of_parquet(path: &Path) -> Result<DeliverySummary> {
        let df = read_parquet(path, Some(&["community_code", "interviewer_id", "valid"]))?;
        let pe = |e| Error::Polars {
            path: path.to_path_buf(),
            source: e,
        };
        let comm = df
            .column("community_code")
            .and_then(|c| c.str())
            .map_err(pe)?;
        let iv = df
            .column("interviewer_id")
            .and_then(|c| c.str())
            .map_err(pe)?;
        let ok = df.column("valid").and_then(|c| c.bool()).map_err(pe)?;
        let mut out = DeliverySummary {
            version: Self::VERSION,
            rows: df.height() as u64,
            ..Default::default()
        };
        // Counted by (interviewer, community) first: few distinct pairs, many rows.
        let mut pairs: rustc_hash::FxHashMap<(&str, &str), u64> = Default::default();
        for ((c, i), v) in comm.iter().zip(iv.iter()).zip(ok.iter()) {
            if let (Some(c), Some(true)) = (c, v) {
                *pairs.entry((i.unwrap_or(""), c)).or_default() += 1;
            }
        }
        for ((i, c), n) in pairs {
            *out.valid.entry(c.to_string()).or_default() += n;
            *out.valid_by_interviewer
                .entry(i.to_string())
                .or_default()
                .entry(c.to_string())
                .or_default() += n;
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    #[default]
    Active,
    Withdrawn,
    Superseded,
}

impl DeliveryStatus {
    /// The status, for people (in the current language).
    pub fn text(self) -> &'static str {
        self.text_in(crate::messages::lang())
    }

    /// The status, for people, in `l`.
    pub fn text_in(self, l: crate::messages::Lang) -> &'static str {
        match self {
            DeliveryStatus::Active => crate::messages::pick(l, "有效", "active"),
            DeliveryStatus::Withdrawn => crate::messages::pick(l, "已撤回", "withdrawn"),
            DeliveryStatus::Superseded => crate::messages::pick(l, "已被更正替换", "superseded"),
        }
    }
}

impl DeliveryStatus {
    /// The status of a code (`active`, `withdrawn`, `superseded`).
    pub fn from_code(code: &str) -> Option<DeliveryStatus> {
        [
            DeliveryStatus::Active,
            DeliveryStatus::Withdrawn,
            DeliveryStatus::Superseded,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }

    pub fn code(self) -> &'static str {
        match self {
            DeliveryStatus::Active => "active",
            DeliveryStatus::Withdrawn => "withdrawn",
            DeliveryStatus::Superseded => "superseded",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StatusChange {
    pub at: String,
    pub actor: String,
    pub reason: String,
    /// The delivery that superseded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// The office's decision on a flagged interviewer or questionnaire.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DecisionEntry {
    pub round: String,
    /// interviewer | respondent
    pub subject: String,
    pub id: String,
    /// exclude | keep
    pub action: String,
    pub reason: String,
    pub actor: String,
    pub at: String,
    /// The journal entry that recorded it.
    pub seq: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Index {
    pub deliveries: Vec<DeliveryEntry>,
    /// Every decision ever made, in order (the last on a subject is in force).
    #[serde(default)]
    pub decisions: Vec<DecisionEntry>,
    /// SHA-256 of the journal's last committed line (None: no journal yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal_head: Option<String>,
    #[serde(default)]
    pub journal_entries: u64,
    /// Deferred journal events (`journal::defer`) already appended but whose files
    /// may not yet be removed: a writer killed between the two does not append them
    /// twice. Empty once the files are gone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub journal_drained: Vec<String>,
}

impl Index {
    /// The delivery named by its sha256 or a unique prefix of at least 8 hex digits.
    pub fn resolve(&self, id: &str) -> Result<&DeliveryEntry> {
        let id = id.trim().to_ascii_lowercase();
        if id.len() < 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::Invalid(crate::messages::tr!(
                "{id:?} 不是交付编号：请给出完整的 SHA-256 或其前 8 位以上的十六进制数字（见交付列表）",
                "{id:?} is not a delivery id: give its sha256 or the first 8 or more of its hex digits (see `manyi deliveries`)"
            )));
        }
        let hits: Vec<&DeliveryEntry> = self
            .deliveries
            .iter()
            .filter(|d| d.sha256.starts_with(&id))
            .collect();
        match hits.as_slice() {
            [d] => Ok(d),
            [] => Err(Error::Invalid(crate::messages::tr!(
                "没有编号以 {id} 开头的交付（见交付列表）",
                "no stored delivery has an id starting with {id} (see `manyi deliveries`)"
            ))),
            many => {
                let n = many.len();
                let which = many
                    .iter()
                    .map(|d| format!("{} {}", &d.sha256[..16.min(d.sha256.len())], d.file_name))
                    .collect::<Vec<_>>()
                    .join(crate::messages::t("、", ", "));
                Err(Error::Invalid(crate::messages::tr!(
                    "{id} 是 {n} 个交付编号的开头（{which}），请多给几位",
                    "{id} is the start of {n} deliveries' ids ({which}); give more digits"
                )))
            }
        }
    }

    /// The decisions in force for a round: the last one per (subject, id).
    pub fn decisions_in_force(&self, round: &str) -> Vec<&DecisionEntry> {
        let mut last: std::collections::BTreeMap<(&str, &str), &DecisionEntry> = Default::default();
        for d in self.decisions.iter().filter(|d| d.round == round) {
            last.insert((d.subject.as_str(), d.id.as_str()), d);
        }
        last.into_values().collect()
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    pub dir: PathBuf,
}

/// Holds the workspace's store lock; released on drop.
pub struct StoreLock {
    _file: File,
}

impl Store {
    pub fn new(ws: &Workspace) -> Store {
        Store {
            dir: ws.store_dir(),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// A delivery's summary: its stored file when it has one, else computed from its
    /// Parquet (stores made before summaries; the same definition either way).
    pub fn summary(&self, d: &DeliveryEntry) -> Result<DeliverySummary> {
        if let Some(rel) = &d.summary {
            let p = self.path(rel);
            let bytes = crate::fsutil::read(&p)?;
            let s: DeliverySummary = serde_json::from_slice(&bytes)
                .map_err(|e| Error::Invalid(format!("{}: {e}", p.display())))?;
            if s.version == DeliverySummary::VERSION {
                return Ok(s);
            }
        }
        DeliverySummary::of_parquet(&self.path(&d.data))
    }

    /// A delivery's valid questionnaires per community and per interviewer × community
    /// (its summary without the cells: what coverage adds up). Summaries are written
    /// once under their delivery's hash, so a parsed one is kept for the process (its
    /// file's length and time checked at each use).
    pub fn counts(&self, d: &DeliveryEntry) -> Result<std::sync::Arc<DeliveryCounts>> {
        use std::sync::{Arc, Mutex, OnceLock};
        type Memo = std::collections::HashMap<
            PathBuf,
            (u64, Option<std::time::SystemTime>, Arc<DeliveryCounts>),
        >;
        static MEMO: OnceLock<Mutex<Memo>> = OnceLock::new();
        let Some(rel) = &d.summary else {
            return Ok(Arc::new(DeliveryCounts::from(self.summary(d)?)));
        };
        let p = self.path(rel);
        let meta = std::fs::metadata(&p).map_err(|e| Error::io(&p, e))?;
        let stamp = (meta.len(), meta.modified().ok());
        let memo = MEMO.get_or_init(Default::default);
        if let Some((len, t, c)) = memo
            .lock()
            .map_err(|_| Error::Internal("summary memo".into()))?
            .get(&p)
            && (*len, *t) == stamp
        {
            return Ok(c.clone());
        }
        let bytes = crate::fsutil::read(&p)?;
        let c: DeliveryCounts = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Invalid(format!("{}: {e}", p.display())))?;
        let c = if c.version == DeliverySummary::VERSION {
            Arc::new(c)
        } else {
            Arc::new(DeliveryCounts::from(DeliverySummary::of_parquet(
                &self.path(&d.data),
            )?))
        };
        let mut m = memo
            .lock()
            .map_err(|_| Error::Internal("summary memo".into()))?;
        if m.len() > 20_000 {
            m.clear();
        }
        m.insert(p, (stamp.0, stamp.1, c.clone()));
        Ok(c)
    }

    /// Takes the store lock, waiting (and saying so on stderr) while another process
    /// holds it.
    pub fn lock(&self) -> Result<StoreLock> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        // The store holds delivered originals with names and phone numbers in clear:
        // only the service's own user may enter it (PIPL; stores made before this
        // version are closed at their next write).
        crate::fsutil::make_private_dir(&self.dir)?;
        let p = self.dir.join(".lock");
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(|e| Error::io(&p, e))?;
        match f.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                eprintln!(
                    "manyi: another manyi process is writing to this workspace's store; waiting for it to finish…"
                );
                f.lock().map_err(|e| Error::io(&p, e))?;
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&p, e)),
        }
        Ok(StoreLock { _file: f })
    }

    pub fn index_path(&self) -> PathBuf {
        self.dir.join("index.json")
    }

    pub fn read_index(&self) -> Result<Index> {
        use std::os::unix::fs::MetadataExt as _;
        use std::sync::{Mutex, OnceLock};
        // A server reads the index on every request: the parsed one is kept while the
        // file is the same (it is replaced by a rename at each commit: a new inode).
        type Stamp = (u64, u64, u64, i64, i64, i64, i64);
        type Memo = std::collections::HashMap<PathBuf, (Stamp, std::sync::Arc<Index>)>;
        static MEMO: OnceLock<Mutex<Memo>> = OnceLock::new();
        let p = self.index_path();
        let meta = match std::fs::metadata(&p) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Index::default()),
            Err(e) => return Err(Error::io(&p, e)),
        };
        let stamp: Stamp = (
            meta.dev(),
            meta.ino(),
            meta.len(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ctime(),
            meta.ctime_nsec(),
        );
        let memo = MEMO.get_or_init(Default::default);
        let poisoned = |_| Error::Internal("index memo".into());
        // The copy is made after the lock is let go (many requests ask at once).
        let hit = memo
            .lock()
            .map_err(poisoned)?
            .get(&p)
            .filter(|(st, _)| *st == stamp)
            .map(|(_, index)| index.clone());
        if let Some(index) = hit {
            return Ok(Index::clone(&index));
        }
        let text = crate::fsutil::read_text(&p)?;
        let index: Index = serde_json::from_str(&text).map_err(|e| {
            Error::input(
                p.display().to_string(),
                e.line() as u64,
                None,
                format!("the delivery index is damaged: {e}"),
            )
        })?;
        let mut m = memo.lock().map_err(poisoned)?;
        if m.len() > 64 {
            m.clear();
        }
        m.insert(p, (stamp, std::sync::Arc::new(index.clone())));
        Ok(index)
    }

    /// Replaces the index atomically: this is the commit point of an ingest.
    pub fn write_index(&self, index: &Index) -> Result<()> {
        let json = serde_json::to_vec_pretty(index).map_err(|e| Error::Invalid(e.to_string()))?;
        crate::fsutil::write_atomic(&self.index_path(), &json)
    }

    /// Removes files a killed ingest left behind (not referenced by the index).
    pub fn remove_orphans(&self, index: &Index) -> Result<usize> {
        let mut keep: std::collections::BTreeSet<PathBuf> = index
            .deliveries
            .iter()
            .flat_map(|d| {
                [&d.data, &d.original, &d.receipt, &d.rejects]
                    .into_iter()
                    .chain(d.summary.as_ref())
            })
            .map(|r| self.dir.join(r))
            .collect();
        keep.insert(self.index_path());
        keep.insert(self.dir.join(".lock"));
        keep.insert(self.salt_path());
        let mut removed = 0;
        for sub in ["responses", "originals", "receipts", ""] {
            let d = self.dir.join(sub);
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    if sub == "responses" || sub == "receipts" {
                        for e2 in std::fs::read_dir(&p).into_iter().flatten().flatten() {
                            if !keep.contains(&e2.path()) {
                                removed += remove_leftover(&e2.path())?;
                            }
                        }
                    }
                    continue;
                }
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if (sub.is_empty() && name.starts_with(".manyi-tmp-"))
                    || (!sub.is_empty() && !keep.contains(&p))
                {
                    removed += remove_leftover(&p)?;
                }
            }
        }
        Ok(removed)
    }

    pub fn salt_path(&self) -> PathBuf {
        self.dir.join("salt")
    }

    /// The per-workspace secret salt for hashing personal data, made on first use
    /// (readable by this user only, from the moment it exists).
    pub fn salt(&self) -> Result<String> {
        let p = self.salt_path();
        if p.exists() {
            return crate::fsutil::read_text(&p).map(|s| s.trim().to_string());
        }
        let salt = fresh_salt();
        crate::fsutil::write_private_atomic(&p, salt.as_bytes())?;
        Ok(salt)
    }

    /// The active deliveries of a round (withdrawn and superseded ones count nowhere).
    pub fn deliveries<'a>(&self, index: &'a Index, round: &RoundId) -> Vec<&'a DeliveryEntry> {
        let r = round.to_string();
        index
            .deliveries
            .iter()
            .filter(|d| d.round == r && d.status == DeliveryStatus::Active)
            .collect()
    }

    /// Reads `columns` of every stored questionnaire of a round into one frame.
    pub fn load_round(
        &self,
        index: &Index,
        round: &RoundId,
        columns: Option<&[&str]>,
    ) -> Result<Option<DataFrame>> {
        let mut out: Option<DataFrame> = None;
        for d in self.deliveries(index, round) {
            let df = read_parquet(&self.dir.join(&d.data), columns)?;
            out = Some(match out {
                None => df,
                Some(mut acc) => {
                    acc.vstack_mut(&df).map_err(|e| Error::Polars {
                        path: self.dir.join(&d.data),
                        source: e,
                    })?;
                    acc
                }
            });
        }
        Ok(out)
    }
}

/// Removes a file a killed run left behind: 1 when removed, 0 when it was gone
/// already; any other failure is an error (a leftover that stays would be counted).
fn remove_leftover(p: &Path) -> Result<usize> {
    match std::fs::remove_file(p) {
        Ok(()) => Ok(1),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(Error::io(p, e)),
    }
}

/// A new random salt (32 bytes from the operating system, hex; never for sampling).
pub fn fresh_salt() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    hex::encode(bytes)
}

pub fn read_parquet(path: &Path, columns: Option<&[&str]>) -> Result<DataFrame> {
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    ParquetReader::new(f)
        .with_columns(columns.map(|c| c.iter().map(|s| s.to_string()).collect()))
        .finish()
        .map_err(|e| Error::Polars {
            path: path.to_path_buf(),
            source: e,
        })
}

/// Now as an RFC 3339 UTC timestamp (for receipts and the index, never for compared files).
pub fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (y, m, d, h, mi, se) = civil(secs);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{se:02}Z")
}

/// Seconds since 1970 (UTC) → (year, month, day, hour, minute, second).
fn civil(secs: i64) -> (i64, i64, i64, i64, i64, i64) {
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 of a civil date (Hinnant's days_from_civil).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Seconds since 1970 of a stored UTC time (`2018-04-12T01:02:03Z`).
pub fn utc_secs(utc: &str) -> Option<i64> {
    let b = utc.as_bytes();
    if b.len() != 20 || b[10] != b'T' || b[19] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| utc.get(r).and_then(|s| s.parse::<i64>().ok());
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    Some(days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60 + se)
}

/// `secs` since 1970 as a stored UTC time.
pub fn utc_text(secs: i64) -> String {
    let (y, m, d, h, mi, se) = civil(secs);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{se:02}Z")
}

/// The end (23:59:59 Beijing time, as UTC) of the `n`-th working day (Monday to
/// Friday) after the Beijing date of `utc`; with `n` = 0, the end of that day itself.
pub fn working_days_after(utc: &str, n: u32) -> Option<String> {
    const BEIJING: i64 = 8 * 3600;
    let mut day = (utc_secs(utc)? + BEIJING).div_euclid(86400);
    // 1970-01-01 was a Thursday: (day + 3) % 7 is 0 on Mondays … 5, 6 on weekends.
    let weekend = |d: i64| (d + 3).rem_euclid(7) >= 5;
    for _ in 0..n {
        day += 1;
        while weekend(day) {
            day += 1;
        }
    }
    Some(utc_text((day + 1) * 86400 - BEIJING - 1))
}

/// A UTC time as stored (`2018-04-12T01:02:03Z`) in Beijing time for people
/// (`2018-04-12 09:02`); anything else is returned as it is.
pub fn beijing_time(utc: &str) -> String {
    let b = utc.as_bytes();
    let num = |r: std::ops::Range<usize>| utc.get(r).and_then(|s| s.parse::<i64>().ok());
    let parsed = (|| {
        if b.len() != 20 || b[10] != b'T' || b[19] != b'Z' {
            return None;
        }
        Some((
            num(0..4)?,
            num(5..7)?,
            num(8..10)?,
            num(11..13)?,
            num(14..16)?,
            num(17..19)?,
        ))
    })();
    let Some((y, m, d, h, mi, s)) = parsed else {
        return utc.to_string();
    };
    let secs = days_from_civil(y, m, d) * 86400 + h * 3600 + mi * 60 + s + 8 * 3600;
    let (y, m, d, h, mi, _) = civil(secs);
    format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}")
}

#[cfg(test)]
mod time_tests {
    #[test]
    fn beijing_is_utc_plus_eight_across_a_year_end() {
        assert_eq!(
            super::beijing_time("2018-12-31T20:30:00Z"),
            "2019-01-01 04:30"
        );
        assert_eq!(
            super::beijing_time("2020-02-28T16:00:00Z"),
            "2020-02-29 00:00"
        );
        assert_eq!(
            super::beijing_time("2018-04-12T01:02:03Z"),
            "2018-04-12 09:02"
        );
        assert_eq!(super::beijing_time("yesterday"), "yesterday");
    }
}

#[cfg(test)]
mod deadline_tests {
    use super::working_days_after;

    /// By hand, on a calendar: 2026-12-04 is a Friday.
    #[test]
    fn working_days_skip_weekends_in_beijing_dates() {
        // Friday 10:00 Beijing (02:00 UTC) + 5 working days = Friday 2026-12-11, whose
        // end is 15:59:59 UTC.
        assert_eq!(
            working_days_after("2026-12-04T02:00:00Z", 5).as_deref(),
            Some("2026-12-11T15:59:59Z")
        );
        // Friday 23:30 Beijing is still Friday there (15:30 UTC): the same answer.
        assert_eq!(
            working_days_after("2026-12-04T15:30:00Z", 5).as_deref(),
            Some("2026-12-11T15:59:59Z")
        );
        // Friday 16:30 UTC is Saturday 00:30 in Beijing: Monday is day 1 → Friday 12-11
        // is day 5 as well (Sat and Sun are skipped, not counted).
        assert_eq!(
            working_days_after("2026-12-04T16:30:00Z", 5).as_deref(),
            Some("2026-12-11T15:59:59Z")
        );
        // Monday + 1 = Tuesday; 0 = the end of the day itself.
        assert_eq!(
            working_days_after("2026-12-07T01:00:00Z", 1).as_deref(),
            Some("2026-12-08T15:59:59Z")
        );
        assert_eq!(
            working_days_after("2026-12-07T01:00:00Z", 0).as_deref(),
            Some("2026-12-07T15:59:59Z")
        );
        assert_eq!(working_days_after("not a time", 5), None);
    }
}

#[cfg(test)]
mod resolve_tests {
    use super::*;

    fn entry(sha: &str) -> DeliveryEntry {
        DeliveryEntry {
            sha256: sha.to_string(),
            file_name: format!("{sha}.csv"),
            round: "2018-R1".into(),
            rows_read: 0,
            accepted: 0,
            rejected: 0,
            data: String::new(),
            original: String::new(),
            receipt: String::new(),
            rejects: String::new(),
            scale: Vec::new(),
            ingested_at: String::new(),
            bytes: None,
            evaluator: None,
            status: DeliveryStatus::Active,
            status_change: None,
            replaces: None,
            actor: None,
            data_sha256: None,
            summary: None,
        }
    }

    #[test]
    fn a_delivery_is_named_by_a_unique_prefix_of_eight_or_more_hex_digits() {
        let index = Index {
            deliveries: vec![
                entry("abcdef0123aa"),
                entry("abcdef0123bb"),
                entry("12345678ff"),
            ],
            ..Default::default()
        };
        assert_eq!(index.resolve("12345678").unwrap().sha256, "12345678ff");
        assert_eq!(
            index.resolve("ABCDEF0123AA").unwrap().sha256,
            "abcdef0123aa"
        );
        let e = index.resolve("abcdef01").unwrap_err().to_string();
        assert!(
            e.contains("abcdef0123aa") && e.contains("abcdef0123bb") && !e.contains("12345678"),
            "{e}"
        );
        assert!(
            index
                .resolve("1234567")
                .unwrap_err()
                .to_string()
                .contains("8")
        );
        assert!(index.resolve("1234567g").is_err());
        assert!(
            index
                .resolve("99999999")
                .unwrap_err()
                .to_string()
                .contains("99999999")
        );
    }

    #[test]
    fn the_last_decision_on_a_subject_is_in_force() {
        let d = |id: &str, action: &str, seq: u64| DecisionEntry {
            round: "2018-R1".into(),
            subject: "interviewer".into(),
            id: id.into(),
            action: action.into(),
            reason: String::new(),
            actor: String::new(),
            at: String::new(),
            seq,
        };
        let index = Index {
            decisions: vec![
                d("A", "exclude", 1),
                d("B", "exclude", 2),
                d("A", "keep", 3),
            ],
            ..Default::default()
        };
        let f = index.decisions_in_force("2018-R1");
        let got: Vec<(&str, &str)> = f
            .iter()
            .map(|d| (d.id.as_str(), d.action.as_str()))
            .collect();
        assert_eq!(got, [("A", "keep"), ("B", "exclude")]);
        assert!(index.decisions_in_force("2018-R2").is_empty());
    }
}
