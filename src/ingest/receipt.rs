//! The receipt of a delivery: what was read, accepted and rejected, per community and
//! per reason; and the rejects list, written as the rows are checked.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::rules::Rules;

use serde::{Deserialize, Serialize};

use super::normalise::{Col, HeaderMap};
use super::quality;
use super::read;
use crate::store::now_utc;

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

/// What became of a delivery (the receipt's `status` in JSON: stable English codes).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum ReceiptStatus {
    /// Read, checked and stored.
    #[serde(rename = "stored")]
    Stored,
    /// The same bytes were stored before: nothing was done.
    #[serde(rename = "already-ingested")]
    AlreadyIngested,
    /// `--dry-run`: read and checked, nothing stored.
    #[serde(rename = "checked (dry run, nothing stored)")]
    DryRun,
}

/// The receipt of one delivery (also written as JSON beside the stored data).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Receipt {
    pub file: String,
    pub sha256: String,
    pub round: String,
    pub status: ReceiptStatus,
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

/// Rejected rows go straight to a temporary CSV (renamed into place at the commit);
/// only the first few stay in memory for the terminal.
pub(crate) struct RejectSink {
    pub(crate) writer: csv::Writer<std::io::BufWriter<tempfile::NamedTempFile>>,
    pub(crate) file: String,
    pub(crate) first: Vec<Reject>,
    pub(crate) by_reason: BTreeMap<String, u64>,
    pub(crate) total: u64,
}

/// Rejected rows kept in memory for the terminal (all are in the rejects file).
pub(crate) const KEPT_REJECTS: usize = 100;

impl RejectSink {
    pub(crate) fn new(dir: &Path, file: &str) -> Result<RejectSink> {
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

    pub(crate) fn push(&mut self, r: Reject) -> Result<()> {
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
    pub(crate) fn persist(self, path: &Path) -> Result<()> {
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

/// What a receipt is made from, once the rows are checked and flagged.
pub(crate) struct Facts<'a> {
    pub(crate) rules: &'a Rules,
    pub(crate) frame: &'a Frame,
    pub(crate) file: &'a str,
    pub(crate) sha256: &'a str,
    pub(crate) round: &'a str,
    pub(crate) det: &'a read::Detected,
    pub(crate) header: &'a HeaderMap,
    pub(crate) rows_read: u64,
    pub(crate) blank: u64,
    pub(crate) rejected: u64,
    pub(crate) rejects_by_reason: &'a BTreeMap<String, u64>,
    /// Local community index of each accepted row, and (street, community) codes.
    pub(crate) community: &'a [u32],
    pub(crate) communities: &'a [(String, String)],
    pub(crate) valid: &'a [bool],
    pub(crate) flags: &'a quality::Flags,
    pub(crate) flagged_interviewers: Vec<quality::InterviewerFlag>,
    /// Valid questionnaires of the round stored before, by community code.
    pub(crate) stored_valid: &'a HashMap<String, u64>,
    /// Paths of the receipt and the rejects list, relative to the workspace.
    pub(crate) receipt_file: String,
    pub(crate) rejects_file: String,
}

/// The receipt of a stored (or dry-run) delivery; an `Internal` error when accepted +
/// rejected ≠ rows read (nothing is stored then).
pub(crate) fn build(f: Facts<'_>) -> Result<Receipt> {
    let rules = f.rules;
    let mut by_local = vec![(0u64, 0u64); f.communities.len()];
    for (c, v) in f.community.iter().zip(f.valid.iter()) {
        let e = &mut by_local[*c as usize];
        e.0 += 1;
        e.1 += *v as u64;
    }
    let per_comm: BTreeMap<String, (u64, u64)> = f
        .communities
        .iter()
        .zip(by_local)
        .map(|((_, code), n)| (code.clone(), n))
        .collect();
    let communities = per_comm
        .iter()
        .map(|(code, (a, v))| {
            let com = f.frame.community(code);
            let round_valid = v + f.stored_valid.get(code).copied().unwrap_or(0);
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
    let mut columns = BTreeMap::new();
    let mut hashed_columns = Vec::new();
    for (c, name) in f.header.cols.iter().zip(f.header.names.iter()) {
        if let Some(c) = c {
            columns.insert(c.canonical(rules), name.clone());
            if matches!(c, Col::Phone | Col::Name) {
                hashed_columns.push(name.clone());
            }
        }
    }
    let count = |v: &[bool]| v.iter().filter(|b| **b).count() as u64;
    let accepted = f.valid.len() as u64;
    let flags = f.flags;
    let det = f.det;
    let receipt = Receipt {
        file: f.file.to_string(),
        sha256: f.sha256.to_string(),
        round: f.round.to_string(),
        status: ReceiptStatus::Stored,
        format: match det.format {
            read::Format::Csv => "csv".into(),
            read::Format::Xlsx => "xlsx".into(),
        },
        encoding: det.encoding.name().to_string(),
        delimiter: if det.format == read::Format::Xlsx {
            String::new()
        } else if det.delimiter == b'\t' {
            "tab".into()
        } else {
            "comma".into()
        },
        rows_read: f.rows_read,
        accepted,
        rejected: f.rejected,
        valid: count(f.valid),
        invalid: accepted - count(f.valid),
        blank_lines_skipped: f.blank,
        columns,
        ignored_columns: f.header.ignored.clone(),
        hashed_columns,
        rejects_by_reason: f.rejects_by_reason.clone(),
        communities,
        quality: QualitySummary {
            speeders: count(&flags.speeder),
            straightliners: count(&flags.straightline),
            duplicate_patterns: count(&flags.duplicate_pattern),
            too_few_answers: count(&flags.few_answers),
            flagged_interviewers: f.flagged_interviewers,
        },
        receipt_file: f.receipt_file,
        rejects_file: f.rejects_file,
        ingested_at: now_utc(),
    };
    if receipt.accepted + receipt.rejected != receipt.rows_read {
        return Err(Error::Internal(format!(
            "accounting error on {}: {} accepted + {} rejected ≠ {} rows read; nothing stored",
            f.file, receipt.accepted, receipt.rejected, receipt.rows_read
        )));
    }
    Ok(receipt)
}
