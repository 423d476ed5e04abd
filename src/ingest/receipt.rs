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
    /// Invalid by the rule `validity.min_interview_s` (absent from older receipts).
    #[serde(default)]
    pub too_short: u64,
    /// The rule, when the scheme has one: the shortest valid interview in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_interview_s: Option<f64>,
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
    /// Faults listed in the rejects file (a rejected row has one or more).
    #[serde(default)]
    pub faults: u64,
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

/// A rejected row: every fault it has, in column order.
#[derive(Debug, Clone)]
pub struct Reject {
    pub line: u64,
    pub faults: Vec<RowFault>,
    /// The row's cells as delivered.
    pub raw: Vec<String>,
    /// The respondent id, when the row has one (repeats are found across all rows).
    pub id: Option<String>,
}

/// One fault of a rejected row: the column (empty for the whole row), the cell as
/// delivered, and what is wrong.
#[derive(Debug, Clone)]
pub struct RowFault {
    pub column: String,
    pub value: String,
    pub fault: crate::messages::Fault,
}

/// Rejected rows go straight to a temporary CSV (renamed into place at the commit);
/// only the first few stay in memory for the terminal.
pub(crate) struct RejectSink {
    pub(crate) writer: csv::Writer<std::io::BufWriter<tempfile::NamedTempFile>>,
    pub(crate) file: String,
    pub(crate) first: Vec<Reject>,
    /// Rows rejected for each code (a row with two codes counts under both).
    pub(crate) by_reason: BTreeMap<String, u64>,
    /// Rows rejected.
    pub(crate) total: u64,
    /// Faults listed (lines of the rejects file).
    pub(crate) faults: u64,
}

/// Rejected rows kept in memory for the terminal (all are in the rejects file).
pub(crate) const KEPT_REJECTS: usize = 100;

impl RejectSink {
    pub(crate) fn new(dir: &Path, file: &str) -> Result<RejectSink> {
        crate::fsutil::create_dirs(dir)?;
        let tmp = tempfile::Builder::new()
            .prefix(".manyi-tmp-")
            .tempfile_in(dir)
            .map_err(|e| Error::io(dir, e))?;
        let mut buf = std::io::BufWriter::new(tmp);
        std::io::Write::write_all(&mut buf, b"\xEF\xBB\xBF").map_err(|e| Error::io(dir, e))?;
        let mut writer = csv::Writer::from_writer(buf);
        // For the evaluator: headers in the language in force; the last column is the
        // stable code (for their scripts).
        let header = match crate::messages::lang() {
            crate::messages::Lang::Zh => ["文件", "行", "列", "原值", "问题", "如何改正", "代码"],
            crate::messages::Lang::En => [
                "file",
                "line",
                "column",
                "value",
                "problem",
                "how_to_fix",
                "code",
            ],
        };
        writer
            .write_record(header)
            .map_err(|e| Error::Invalid(e.to_string()))?;
        Ok(RejectSink {
            writer,
            file: file.to_string(),
            first: Vec::new(),
            by_reason: BTreeMap::new(),
            total: 0,
            faults: 0,
        })
    }

    /// Adds a rejected row: one line of the list per fault.
    pub(crate) fn push(&mut self, r: Reject) -> Result<()> {
        let werr = |e: csv::Error| Error::Invalid(format!("writing the rejects list: {e}"));
        let mut whole_row: Option<String> = None;
        let mut codes: Vec<&'static str> = Vec::with_capacity(r.faults.len());
        for f in &r.faults {
            // A fault of the whole row shows the row as delivered.
            let value = if f.column.is_empty() {
                whole_row.get_or_insert_with(|| raw_line(&r.raw)).as_str()
            } else {
                f.value.as_str()
            };
            self.writer
                .write_record([
                    crate::fsutil::neutralise_cell(&self.file).as_ref(),
                    &r.line.to_string(),
                    &crate::fsutil::neutralise_cell(&f.column),
                    &crate::fsutil::neutralise_cell(value),
                    &crate::fsutil::neutralise_cell(&f.fault.text()),
                    f.fault.fix(),
                    f.fault.code(),
                ])
                .map_err(werr)?;
            self.faults += 1;
            if !codes.contains(&f.fault.code()) {
                codes.push(f.fault.code());
            }
        }
        for c in codes {
            *self.by_reason.entry(c.to_string()).or_default() += 1;
        }
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
        crate::fsutil::persist_mode(tmp, path, 0o600)
    }
}

impl Receipt {
    /// One paragraph on the delivery that can be sent to the evaluator as it is (in the
    /// language in force).
    pub fn summary(&self, min_valid: usize) -> String {
        use crate::messages::{Lang, lang};
        let zh = lang() == Lang::Zh;
        let mut s = if zh {
            format!(
                "{}({} 轮)共读取 {} 行:接收 {} 行(有效问卷 {} 份,无效 {} 份),拒收 {} 行",
                self.file,
                self.round,
                self.rows_read,
                self.accepted,
                self.valid,
                self.invalid,
                self.rejected
            )
        } else {
            format!(
                "{} (round {}): {} rows read, {} accepted ({} valid questionnaires, {} invalid), {} rejected",
                self.file,
                self.round,
                self.rows_read,
                self.accepted,
                self.valid,
                self.invalid,
                self.rejected
            )
        };
        if self.rejected > 0 {
            let mut by: Vec<(&String, &u64)> = self.rejects_by_reason.iter().collect();
            by.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let top: Vec<String> = by
                .iter()
                .take(4)
                .map(|(code, n)| format!("{} {n}", reason_name(code)))
                .collect();
            if zh {
                s.push_str(&format!(
                    ",共 {} 处问题(按行计:{})。拒收清单 {} 每处问题一行,注明行号、列、原值、问题和改正方法;请改正后重新交付被拒收的行。",
                    self.faults,
                    top.join("、"),
                    self.rejects_file
                ));
            } else {
                s.push_str(&format!(
                    ", with {} faults (rows: {}). The rejects list {} has one line per fault with its line, column, value, problem and how to fix it; please correct and deliver the rejected rows again.",
                    self.faults,
                    top.join(", "),
                    self.rejects_file
                ));
            }
        } else {
            s.push_str(if zh {
                ",全部接收。"
            } else {
                "; every row was accepted."
            });
        }
        let short: Vec<String> = self
            .communities
            .iter()
            .filter(|c| c.insufficient)
            .map(|c| format!("{}({})", c.community_name, c.round_valid))
            .collect();
        if !short.is_empty() {
            if zh {
                s.push_str(&format!(
                    "以下社区本轮有效问卷仍不足 {min_valid} 份:{}。",
                    short.join("、")
                ));
            } else {
                s.push_str(&format!(
                    " Communities still short of {min_valid} valid questionnaires this round: {}.",
                    short.join(", ")
                ));
            }
        }
        s
    }
}

/// A reason code's short name, for people.
pub fn reason_name(code: &str) -> &str {
    use crate::messages::t;
    match code {
        "line-too-long" => t("超长行", "line too long"),
        "summary-row" => t("合计行", "summary row"),
        "field-count" => t("列数不符", "wrong number of fields"),
        "missing-id" => t("缺问卷编号", "no respondent id"),
        "wrong-round" => t("轮次不符", "wrong round"),
        "unknown-community" => t("社区不在名录", "unknown community"),
        "ambiguous-community" => t("社区名称有歧义", "ambiguous community"),
        "community-mismatch" => t("社区代码与名称不符", "community code and name differ"),
        "street-mismatch" => t("街道与社区不符", "street and community differ"),
        "not-in-sample" => t("社区未被抽中", "community not in the sample"),
        "street-not-assigned" => t("街道不归本机构", "street not assigned to the organisation"),
        "bad-answer" => t("答案无法识别", "unknown answer"),
        "bad-date" => t("日期错误", "bad date"),
        "date-outside-year" => t("日期不在本年", "date outside the year"),
        "bad-duration" => t("时长错误", "bad duration"),
        "duplicate-stored" => t("编号已入库", "id already stored"),
        "duplicate-in-file" => t("编号重复", "id repeated in the file"),
        other => other,
    }
}

/// A row's cells as one CSV line (flexible: a rejected row may have any length).
fn raw_line(cells: &[String]) -> String {
    let mut w = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(Vec::new());
    let _ = w.write_record(cells); // ok: to memory, flexible: it cannot fail
    let bytes = w.into_inner().unwrap_or_default(); // ok: as above, nothing can fail
    String::from_utf8_lossy(&bytes).trim_end().to_string()
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
    pub(crate) faults: u64,
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
        faults: f.faults,
        communities,
        quality: QualitySummary {
            speeders: count(&flags.speeder),
            straightliners: count(&flags.straightline),
            duplicate_patterns: count(&flags.duplicate_pattern),
            too_few_answers: count(&flags.few_answers),
            too_short: count(&flags.too_short),
            min_interview_s: f.rules.validity.min_interview_s,
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

/// One line of a stored rejects list, as people read it.
#[derive(Debug, Clone, Serialize)]
pub struct RejectLine {
    pub line: u64,
    pub column: String,
    pub value: String,
    pub problem: String,
    pub how_to_fix: String,
    pub code: String,
}

/// The first `limit` lines of a stored rejects list (`receipt.rejects_file`) and how
/// many it has in all. The file's columns are positional (its header is in the
/// language of the ingest): file, line, column, value, problem, how to fix, code.
pub fn read_rejects(path: &Path, limit: usize) -> Result<(Vec<RejectLine>, u64)> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(std::io::BufReader::new(f));
    let mut out = Vec::new();
    let mut total = 0u64;
    for rec in r.records() {
        let rec = rec.map_err(|e| Error::file(path.display().to_string(), e.to_string()))?;
        total += 1;
        if out.len() < limit {
            let c = |i: usize| rec.get(i).unwrap_or("").to_string();
            out.push(RejectLine {
                line: rec.get(1).and_then(|s| s.parse().ok()).unwrap_or(0),
                column: c(2),
                value: c(3),
                problem: c(4),
                how_to_fix: c(5),
                code: c(6),
            });
        }
    }
    Ok((out, total))
}

/// A stored receipt (its JSON) as an evaluating organisation sees it: outcomes, not
/// evidence. Each interviewer the comparison singled out keeps only its id and
/// questionnaires, with `status` `under_review` until the office decides, then
/// `excluded` or `kept` with the office's reason; the indicators, differences, z and
/// p values are the office's alone (an organisation whose interviewer fabricated
/// would learn from them exactly what to change).
pub fn for_evaluator(
    mut receipt: serde_json::Value,
    decisions: &[&crate::store::DecisionEntry],
) -> serde_json::Value {
    use serde_json::{Value, json};
    let Some(list) = receipt
        .get_mut("quality")
        .and_then(|q| q.get_mut("flagged_interviewers"))
        .and_then(Value::as_array_mut)
    else {
        return receipt;
    };
    for f in list.iter_mut() {
        let id = f.get("interviewer_id").cloned().unwrap_or(Value::Null);
        let n = f.get("questionnaires").cloned().unwrap_or(Value::Null);
        let decided = decisions
            .iter()
            .find(|d| d.subject == "interviewer" && Some(d.id.as_str()) == id.as_str());
        *f = match decided {
            None => json!({
                "interviewer_id": id,
                "questionnaires": n,
                "status": "under_review",
            }),
            Some(d) => json!({
                "interviewer_id": id,
                "questionnaires": n,
                "status": if d.action == "exclude" { "excluded" } else { "kept" },
                "reason": d.reason,
                "decided_at": d.at,
            }),
        };
    }
    receipt
}
