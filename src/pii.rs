//! `manyi pii purge`: once a round is final (published, itself or in a period), its
//! respondents' phone numbers and names leave the workspace: each kept original is
//! replaced by a redacted copy (phone and name cells emptied, new hash journalled),
//! the rows its rejects list shows whole (as delivered) are blanked, and the round's
//! call lists are deleted. The store's Parquet holds only salted hashes already.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::journal::{Draft, Writer};
use crate::round::RoundId;
use crate::store::Store;
use crate::workspace::Workspace;

/// What a purge did.
#[derive(Debug, Clone, Serialize)]
pub struct Purged {
    pub round: String,
    /// Originals replaced by a redacted copy, and those already without personal data.
    pub originals: u64,
    pub unchanged: u64,
    /// Rejects lists whose whole-row values were blanked.
    pub rejects: u64,
    /// Call lists deleted (relative to the workspace).
    pub lists_removed: Vec<String>,
}

/// What a rejects list shows in place of a row it printed whole.
pub const REMOVED: &str = "（个人信息已删除）";

/// Whether the round is final: a publication in force is the round itself or a period
/// of its year whose quarters include the round's.
pub fn is_final(ws: &Workspace, round: &RoundId) -> Result<bool> {
    let rules = ws.rules()?;
    let quarter = rules
        .sampling
        .calendar
        .get(round.number as usize - 1)
        .copied();
    Ok(crate::publish::publications(ws)?.iter().any(|p| {
        match crate::publish::parse_subject(&p.label) {
            Ok(crate::report::Subject::Round(r)) => r == *round,
            Ok(crate::report::Subject::Period(per)) => {
                per.year() == round.year && quarter.is_some_and(|q| per.quarters().contains(&q))
            }
            Err(_) => false,
        }
    }))
}

pub fn purge(ws: &Workspace, round: &RoundId, reason: &str, actor: &str) -> Result<Purged> {
    if reason.trim().is_empty() {
        return Err(Error::Invalid(
            "请用 --reason 写明删除个人信息的理由".into(),
        ));
    }
    if !is_final(ws, round)? {
        return Err(Error::Invalid(format!(
            "{round} 轮尚未定稿（该轮及包含它的期间都未发布）：发布后才能删除受访者的电话和姓名，回访可能还需要它们"
        )));
    }
    let rules = ws.rules()?;
    let store = Store::new(ws);
    let mut w = Writer::begin(store.clone(), actor)?;
    let index = w.index.clone();
    let round_s = round.to_string();
    let mut out = Purged {
        round: round_s.clone(),
        originals: 0,
        unchanged: 0,
        rejects: 0,
        lists_removed: Vec::new(),
    };
    let mut written = Vec::new();
    for d in index.deliveries.iter().filter(|d| d.round == round_s) {
        let orig = store.path(&d.original);
        if orig.is_file() {
            match crate::ingest::personal::redact(&orig, &d.file_name, &rules)? {
                Some(bytes) if bytes != crate::fsutil::read(&orig)? => {
                    crate::fsutil::write_private_atomic(&orig, &bytes)?;
                    written.push(orig.clone());
                    out.originals += 1;
                }
                _ => out.unchanged += 1,
            }
        }
        let rej = store.path(&d.rejects);
        if rej.is_file() {
            let text = crate::fsutil::read(&rej)?;
            let mut r = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(text.as_slice());
            let mut wtr = csv::WriterBuilder::new()
                .flexible(true)
                .from_writer(b"\xEF\xBB\xBF".to_vec());
            let mut changed = false;
            for (k, rec) in r.records().enumerate() {
                let rec = rec.map_err(|e| Error::file(rej.display().to_string(), e.to_string()))?;
                let mut cells: Vec<String> = rec.iter().map(str::to_string).collect();
                if k > 0 && cells.len() > 3 && cells[2].is_empty() && cells[3] != REMOVED {
                    cells[3] = REMOVED.to_string();
                    changed = true;
                }
                if k == 0
                    && let Some(c) = cells.first_mut()
                {
                    *c = c.trim_start_matches('\u{feff}').to_string();
                }
                wtr.write_record(&cells)
                    .map_err(|e| Error::Invalid(format!("writing the rejects list: {e}")))?;
            }
            if changed {
                let bytes = wtr
                    .into_inner()
                    .map_err(|e| Error::Invalid(format!("writing the rejects list: {e}")))?;
                crate::fsutil::write_private_atomic(&rej, &bytes)?;
                written.push(rej.clone());
                out.rejects += 1;
            }
        }
    }
    let lists = crate::callbacks::lists_dir(ws, round);
    if let Ok(rd) = std::fs::read_dir(&lists) {
        let mut files: Vec<std::path::PathBuf> = Vec::new();
        for e in rd {
            files.push(e.map_err(|e| Error::io(&lists, e))?.path());
        }
        files.sort();
        for p in files.into_iter().filter(|p| p.is_file()) {
            std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
            out.lists_removed
                .push(crate::journal::ws_relative(&store, &p));
        }
        crate::fsutil::sync_parent(&lists.join("x"))?;
    }
    if out.originals == 0 && out.rejects == 0 && out.lists_removed.is_empty() {
        return Ok(out);
    }
    let mut draft = Draft::new("pii-purge")
        .round(&round_s)
        .id(format!("pii:{round_s}"))
        .reason(reason.trim())
        .detail("originals", out.originals)
        .detail("rejects", out.rejects)
        .detail("removed", out.lists_removed.clone());
    for p in &written {
        draft.written.push(w.file_hash(p)?);
    }
    w.commit(draft)?;
    Ok(out)
}
