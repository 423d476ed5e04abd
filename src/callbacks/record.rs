//! Recording the callers' results: a CSV (UTF-8 or GBK) or XLSX with one row per call,
//! checked row by row as ingest checks a delivery; each accepted row is stored, each
//! rejected one named with its line and reason. The same file twice changes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

use super::{Outcome, Recorded, Result1, batches, recorded, round_dir};
use crate::error::{Error, Result};
use crate::journal::{Draft, Writer};
use crate::round::RoundId;
use crate::store::Store;
use crate::workspace::Workspace;

/// A row of a results file that was not recorded, and why.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RecordReject {
    pub line: u64,
    pub respondent_id: String,
    pub column: String,
    pub value: String,
    /// What is wrong, in Chinese.
    pub reason: String,
}

/// What `manyi callbacks record` did.
#[derive(Debug, Clone, Serialize)]
pub struct RecordOutcome {
    pub file: String,
    pub sha256: String,
    /// recorded | already-recorded | nothing-new
    pub status: String,
    /// Rows read (blank rows not counted).
    pub rows: u64,
    /// Results stored now.
    pub accepted: u64,
    /// Rows the same as the result already recorded for that respondent.
    pub unchanged: u64,
    /// Rows without an outcome (not called yet): left for a later file.
    pub not_called: u64,
    pub rejected: u64,
    pub rejects: Vec<RecordReject>,
    /// The stored results file (relative to the workspace), when something was stored.
    pub stored: Option<String>,
}

const ID_NAMES: [&str; 4] = ["respondent_id", "受访者编号", "问卷编号", "编号"];
const OUTCOME_NAMES: [&str; 3] = ["outcome", "回访结果", "结果"];
const CALLER_NAMES: [&str; 2] = ["caller", "回访员"];
const CALLED_AT_NAMES: [&str; 2] = ["called_at", "回访时间"];
const NOTE_NAMES: [&str; 2] = ["note", "备注"];

/// The stored answers (answer index, None = not answered) of `ids` in the round's
/// deliveries `deliveries` (sha256), by respondent id, in question order.
pub fn stored_answers(
    ws: &Workspace,
    deliveries: &BTreeSet<String>,
    ids: &BTreeSet<String>,
) -> Result<BTreeMap<String, Vec<Option<u8>>>> {
    let rules = ws.rules()?;
    let store = Store::new(ws);
    let index = store.read_index()?;
    let mut out = BTreeMap::new();
    let mut cols: Vec<&str> = vec!["respondent_id"];
    cols.extend(rules.questions.iter().map(|q| q.id.as_str()));
    for d in index
        .deliveries
        .iter()
        .filter(|d| deliveries.contains(&d.sha256))
    {
        let path = store.path(&d.data);
        let df = crate::store::read_parquet(&path, Some(&cols))?;
        let pe = |e| Error::Polars {
            path: path.clone(),
            source: e,
        };
        let idc = df
            .column("respondent_id")
            .and_then(|c| c.str())
            .map_err(pe)?;
        let items = rules
            .questions
            .iter()
            .map(|q| df.column(&q.id).and_then(|c| c.u8()).map_err(pe))
            .collect::<Result<Vec<_>>>()?;
        for i in 0..df.height() {
            if let Some(id) = idc.get(i)
                && ids.contains(id)
            {
                out.insert(id.to_string(), items.iter().map(|c| c.get(i)).collect());
            }
        }
    }
    Ok(out)
}

/// Records the results file at `path` (`file`: the name it is known by) for `round`.
pub fn record(
    ws: &Workspace,
    round: &RoundId,
    path: &Path,
    file: &str,
    actor: &str,
) -> Result<RecordOutcome> {
    let rules = ws.rules()?;
    let sha256 = crate::fsutil::sha256_file(path)?;
    let csv = crate::fsutil::CsvRecords::parse(&crate::ingest::table_bytes(path, file)?, file)?;
    let find = |names: &[&str]| {
        csv.headers.iter().position(|h| {
            let h = crate::ingest::normalise::clean(h);
            names.iter().any(|n| h.eq_ignore_ascii_case(n))
        })
    };
    let id_col = find(&ID_NAMES).ok_or_else(|| {
        Error::file(
            file,
            format!(
                "缺少受访者编号列（respondent_id 或 受访者编号）；表头为：{}",
                csv.headers.join("、")
            ),
        )
    })?;
    let outcome_col = find(&OUTCOME_NAMES).ok_or_else(|| {
        Error::file(
            file,
            format!(
                "缺少回访结果列（outcome 或 回访结果）；表头为：{}",
                csv.headers.join("、")
            ),
        )
    })?;
    let (caller_col, at_col, note_col) = (
        find(&CALLER_NAMES),
        find(&CALLED_AT_NAMES),
        find(&NOTE_NAMES),
    );
    // Re-asked items: a header that is an item's id, or starts with it and a space.
    let item_cols: Vec<(usize, usize)> = csv
        .headers
        .iter()
        .enumerate()
        .filter_map(|(c, h)| {
            let first = h.split_whitespace().next().unwrap_or("");
            rules
                .questions
                .iter()
                .position(|q| q.id.eq_ignore_ascii_case(first))
                .map(|k| (c, k))
        })
        .collect();
    let codebook = crate::ingest::normalise::Codebook::new(&rules);
    let store = Store::new(ws);
    let mut w = Writer::begin(store, actor)?;
    let all_batches = batches(ws, round)?;
    let earlier = recorded(ws, round)?;
    let mut out = RecordOutcome {
        file: file.to_string(),
        sha256: sha256.clone(),
        status: "recorded".into(),
        rows: 0,
        accepted: 0,
        unchanged: 0,
        not_called: 0,
        rejected: 0,
        rejects: Vec::new(),
        stored: None,
    };
    if earlier.iter().any(|r| r.sha256 == sha256) {
        out.status = "already-recorded".into();
        return Ok(out);
    }
    let drawn: BTreeMap<&str, (&str, &super::Drawn)> = all_batches
        .iter()
        .flat_map(|b| {
            b.drawn
                .iter()
                .map(move |d| (d.respondent_id.as_str(), (b.batch.as_str(), d)))
        })
        .collect();
    let reask_of: BTreeMap<&str, &Vec<String>> = all_batches
        .iter()
        .map(|b| (b.batch.as_str(), &b.reask))
        .collect();
    let last: BTreeMap<&str, &Result1> = super::latest(&earlier);
    let mut seen: BTreeSet<String> = BTreeSet::new();
    // (row, the answers given: item index → answer index)
    let mut rows: Vec<(Result1, Vec<(usize, u8)>)> = Vec::new();
    let cell = |rec: &csv::StringRecord, c: Option<usize>| {
        c.map(|c| crate::ingest::normalise::clean(crate::fsutil::cell(rec, c)).into_owned())
            .unwrap_or_default()
    };
    for (line, rec) in &csv.rows {
        if rec.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        out.rows += 1;
        let id = cell(rec, Some(id_col));
        let outcome_text = cell(rec, Some(outcome_col));
        let reject = |column: &str, value: &str, reason: String| RecordReject {
            line: *line,
            respondent_id: id.clone(),
            column: column.to_string(),
            value: value.to_string(),
            reason,
        };
        if id.is_empty() {
            out.rejects
                .push(reject(&csv.headers[id_col], "", "缺少受访者编号".into()));
            continue;
        }
        let Some((batch, _)) = drawn.get(id.as_str()) else {
            out.rejects.push(reject(
                &csv.headers[id_col],
                &id,
                format!("该问卷未被抽中回访（{round} 轮的回访批次中没有它）"),
            ));
            continue;
        };
        if outcome_text.is_empty() {
            out.not_called += 1;
            continue;
        }
        let Some(outcome) = Outcome::parse(&outcome_text) else {
            out.rejects.push(reject(
                &csv.headers[outcome_col],
                &outcome_text,
                format!(
                    "回访结果无法识别：应为 {}（或 {}）之一",
                    Outcome::ALL.map(|o| o.text_zh()).join("、"),
                    Outcome::ALL.map(|o| o.code()).join(", ")
                ),
            ));
            continue;
        };
        if !seen.insert(id.clone()) {
            out.rejects.push(reject(
                &csv.headers[id_col],
                &id,
                "同一文件中该受访者出现不止一次".into(),
            ));
            continue;
        }
        let mut answers = Vec::new();
        let mut bad = None;
        for &(c, k) in &item_cols {
            let v = cell(rec, Some(c));
            match codebook.lookup(&v) {
                Ok(Some(a)) => answers.push((k, a)),
                Ok(None) => {}
                Err(()) => {
                    bad = Some((c, v));
                    break;
                }
            }
        }
        if let Some((c, v)) = bad {
            out.rejects.push(reject(
                &csv.headers[c],
                &v,
                format!(
                    "复问答案无法识别：应为 {} 之一，或留空",
                    rules
                        .scale
                        .answers
                        .iter()
                        .map(|a| a.label.as_str())
                        .chain(rules.scale.not_answered.first().map(|s| s.as_str()))
                        .collect::<Vec<_>>()
                        .join("、")
                ),
            ));
            continue;
        }
        // Only a reached respondent's answers mean anything.
        if !outcome.verified() || outcome.failed() {
            answers.clear();
        }
        // Answers to items the batch did not ask are kept out of the agreement.
        let asked: BTreeSet<usize> = reask_of
            .get(batch)
            .map(|v| {
                v.iter()
                    .filter_map(|id| rules.questions.iter().position(|q| &q.id == id))
                    .collect()
            })
            .unwrap_or_default();
        answers.retain(|(k, _)| asked.contains(k));
        rows.push((
            Result1 {
                respondent_id: id.clone(),
                batch: batch.to_string(),
                outcome,
                caller: cell(rec, caller_col),
                called_at: cell(rec, at_col),
                note: cell(rec, note_col),
                reasked: 0,
                agreed: 0,
            },
            answers,
        ));
    }
    // Agreement with the stored answers.
    let want: BTreeSet<String> = rows
        .iter()
        .filter(|(_, a)| !a.is_empty())
        .map(|(r, _)| r.respondent_id.clone())
        .collect();
    let dels: BTreeSet<String> = want
        .iter()
        .filter_map(|id| drawn.get(id.as_str()).map(|(_, d)| d.delivery.clone()))
        .collect();
    let stored = if want.is_empty() {
        BTreeMap::new()
    } else {
        stored_answers(ws, &dels, &want)?
    };
    let mut keep: Vec<Result1> = Vec::new();
    for (mut r, answers) in rows {
        if let Some(s) = stored.get(&r.respondent_id) {
            for (k, a) in &answers {
                if let Some(Some(orig)) = s.get(*k) {
                    r.reasked += 1;
                    r.agreed += (orig == a) as u64;
                }
            }
        }
        if last.get(r.respondent_id.as_str()) == Some(&&r) {
            out.unchanged += 1;
        } else {
            keep.push(r);
        }
    }
    out.rejected = out.rejects.len() as u64;
    out.accepted = keep.len() as u64;
    if keep.is_empty() {
        out.status = "nothing-new".into();
        return Ok(out);
    }
    let dir = round_dir(ws, round).join("results");
    crate::fsutil::create_dirs(&dir)?;
    let target = dir.join(format!("{:04}-{}.json", earlier.len() + 1, &sha256[..16]));
    let rec = Recorded {
        version: 1,
        round: round.to_string(),
        file_name: file.to_string(),
        sha256: sha256.clone(),
        recorded_at: crate::store::now_utc(),
        actor: w.actor.clone(),
        rows: keep,
    };
    let bytes = serde_json::to_vec_pretty(&rec).map_err(|e| Error::Internal(e.to_string()))?;
    crate::fsutil::write_new_atomic(&target, &bytes)?;
    let mut draft = Draft::new("callbacks-record")
        .round(round.to_string())
        .id(format!("callbacks-results:{}", &sha256[..16]))
        .detail("file", file.to_string())
        .detail("sha256", sha256)
        .detail("accepted", out.accepted)
        .detail("unchanged", out.unchanged)
        .detail("not_called", out.not_called)
        .detail("rejected", out.rejected);
    draft.written.push(w.file_hash(&target)?);
    w.commit(draft)?;
    out.stored = Some(
        target
            .strip_prefix(&ws.root)
            .unwrap_or(&target)
            .display()
            .to_string(),
    );
    Ok(out)
}
