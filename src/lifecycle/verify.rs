//! `manyi verify-store`: the journal's chain is whole, the index's head is its last
//! committed line, every file a committed entry wrote still has the hash journalled
//! last for it, every stored delivery's files are journalled, and row counts agree
//! (Parquet rows = accepted in the index = accepted in the receipt; read = accepted +
//! rejected).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::journal::{self, GENESIS};
use crate::store::Store;
use crate::workspace::Workspace;

/// Something that does not hold, with where.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Problem {
    /// chain, entry, head, missing, changed, unjournalled, rows, decision
    pub code: String,
    /// Journal line (1-based), when the problem is in the journal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// File (relative to the workspace), when the problem is a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StoreCheck {
    pub entries: usize,
    /// Lines past the head: a killed process's uncommitted entry (the next change
    /// removes it); not a problem.
    pub uncommitted_lines: usize,
    pub files_checked: usize,
    pub deliveries: usize,
    pub problems: Vec<Problem>,
}

impl StoreCheck {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

fn problem(code: &str, line: Option<u64>, path: Option<String>, message: String) -> Problem {
    Problem {
        code: code.into(),
        line,
        path,
        message,
    }
}

/// Checks the store of `ws` (a store made before the journal gets its first entry).
pub fn verify_store(ws: &Workspace, actor: &str) -> Result<StoreCheck> {
    let store = Store::new(ws);
    {
        let index = store.read_index()?;
        if index.journal_head.is_none() && !index.deliveries.is_empty() {
            journal::Writer::begin(store.clone(), actor)?;
        }
    }
    let _lock = store.lock()?;
    let index = store.read_index()?;
    let lines = journal::read_lines(&journal::journal_path(&store))?;
    let mut problems = Vec::new();
    let mut prev = GENESIS.to_string();
    for (k, l) in lines.iter().enumerate() {
        match &l.entry {
            None => problems.push(problem(
                "entry",
                Some(l.number),
                None,
                format!(
                    "journal line {} is not a journal entry (it was edited)",
                    l.number
                ),
            )),
            Some(e) => {
                if e.prev != prev {
                    problems.push(problem(
                        "chain",
                        Some(l.number),
                        None,
                        if k == 0 {
                            "journal line 1 does not start the chain: entries before it were deleted".to_string()
                        } else {
                            format!(
                                "journal line {} does not follow line {}: line {} was edited, or an entry between them was deleted",
                                l.number,
                                l.number - 1,
                                l.number - 1
                            )
                        },
                    ));
                }
                if e.seq != l.number {
                    problems.push(problem(
                        "chain",
                        Some(l.number),
                        None,
                        format!(
                            "journal line {} holds entry {}: entries were deleted or added before it",
                            l.number, e.seq
                        ),
                    ));
                }
            }
        }
        prev = l.hash.clone();
    }
    let committed = match &index.journal_head {
        None if lines.is_empty() => 0,
        None => {
            problems.push(problem(
                "head",
                None,
                None,
                "the store index names no journal head, but a journal exists".into(),
            ));
            lines.len()
        }
        Some(h) => match lines.iter().position(|l| &l.hash == h) {
            Some(p) => p + 1,
            None => {
                problems.push(problem(
                    "head",
                    lines.last().map(|l| l.number),
                    None,
                    format!(
                        "the store index's last journal entry ({}) is not in the journal: the last entry was edited or deleted",
                        &h[..h.len().min(16)]
                    ),
                ));
                lines.len()
            }
        },
    };
    if index.journal_head.is_some() && committed as u64 != index.journal_entries {
        problems.push(problem(
            "head",
            None,
            None,
            format!(
                "the store index counts {} journal entries, the journal has {committed} up to its head",
                index.journal_entries
            ),
        ));
    }
    // The hash each file was last journalled with.
    let mut last: BTreeMap<String, (String, u64)> = BTreeMap::new();
    for l in &lines[..committed] {
        if let Some(e) = &l.entry {
            // Files an entry removed on purpose (an unpublished copy) are no longer
            // expected; what it wrote after that is.
            if let Some(removed) = e.details.get("removed").and_then(|v| v.as_array()) {
                for r in removed.iter().filter_map(|v| v.as_str()) {
                    last.remove(r);
                }
            }
            for f in &e.written {
                last.insert(f.path.clone(), (f.sha256.clone(), e.seq));
            }
        }
    }
    let root = ws.root.clone();
    let mut files_checked = 0;
    for (path, (sha, seq)) in &last {
        let p = root.join(path);
        if !p.is_file() {
            problems.push(problem(
                "missing",
                None,
                Some(path.clone()),
                format!("{path} is gone (journalled in entry {seq})"),
            ));
            continue;
        }
        files_checked += 1;
        let now = crate::fsutil::sha256_file(&p)?;
        if &now != sha {
            problems.push(problem(
                "changed",
                None,
                Some(path.clone()),
                format!(
                    "{path} changed since entry {seq}: sha256 {} now, {} journalled",
                    &now[..16],
                    &sha[..sha.len().min(16)]
                ),
            ));
        }
    }
    for d in &index.deliveries {
        for rel in [&d.data, &d.original, &d.receipt, &d.rejects] {
            let path = journal::ws_relative(&store, &store.path(rel));
            if !last.contains_key(&path) {
                problems.push(problem(
                    "unjournalled",
                    None,
                    Some(path.clone()),
                    format!(
                        "{path} of delivery {} ({}) was never journalled",
                        crate::ingest::short(&d.sha256),
                        d.file_name
                    ),
                ));
            }
        }
        let data = store.path(&d.data);
        if data.is_file() {
            let f = std::fs::File::open(&data).map_err(|e| Error::io(&data, e))?;
            use polars::prelude::SerReader;
            let rows = polars::prelude::ParquetReader::new(f)
                .num_rows()
                .map_err(|e| Error::Polars {
                    path: data.clone(),
                    source: e,
                })?;
            if rows as u64 != d.accepted {
                problems.push(problem(
                    "rows",
                    None,
                    Some(journal::ws_relative(&store, &data)),
                    format!(
                        "delivery {} ({}): {rows} rows stored, {} accepted in the index",
                        crate::ingest::short(&d.sha256),
                        d.file_name,
                        d.accepted
                    ),
                ));
            }
        }
        let receipt = store.path(&d.receipt);
        if receipt.is_file() {
            let text = crate::fsutil::read_text(&receipt)?;
            // ok: a receipt that does not parse has no counts, reported just below.
            let r: Option<crate::ingest::Receipt> = serde_json::from_str(&text).ok();
            let counts = r.map(|r| (r.rows_read, r.accepted, r.rejected));
            if counts != Some((d.rows_read, d.accepted, d.rejected))
                || d.rows_read != d.accepted + d.rejected
            {
                problems.push(problem(
                    "rows",
                    None,
                    Some(journal::ws_relative(&store, &receipt)),
                    format!(
                        "delivery {} ({}): the receipt's counts (read, accepted, rejected) {:?} disagree with the index's ({}, {}, {})",
                        crate::ingest::short(&d.sha256),
                        d.file_name,
                        counts,
                        d.rows_read,
                        d.accepted,
                        d.rejected
                    ),
                ));
            }
        }
    }
    let by_seq: BTreeMap<u64, &journal::Entry> = lines[..committed]
        .iter()
        .filter_map(|l| l.entry.as_ref())
        .map(|e| (e.seq, e))
        .collect();
    for d in &index.decisions {
        let ok = by_seq.get(&d.seq).is_some_and(|e| {
            e.action == "decide" && e.ids.first() == Some(&format!("{}:{}", d.subject, d.id))
        });
        if !ok {
            problems.push(problem(
                "decision",
                Some(d.seq),
                None,
                format!(
                    "the decision to {} {} {} in {} is not the journal's entry {}",
                    d.action, d.subject, d.id, d.round, d.seq
                ),
            ));
        }
    }
    Ok(StoreCheck {
        entries: committed,
        uncommitted_lines: lines.len() - committed,
        files_checked,
        deliveries: index.deliveries.len(),
        problems,
    })
}
