//! `manyi ingest`: read evaluators' deliveries into the store, with a receipt each.

use std::path::PathBuf;
use std::process::ExitCode;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use super::stdout_line;
use crate::error::{Error, Result};
use crate::round::RoundId;
use crate::workspace::Workspace;

/// Ingest evaluators' deliveries (CSV in UTF-8/GBK, or XLSX) for a round.
///
/// Every row is accepted or rejected with file, line, column and reason; a receipt
/// and a rejects list are stored. Exit 0 when every file was read (even with
/// rejected rows), 1 when a file was refused whole.
///
/// Example: manyi ingest evaluator-b.csv evaluator-c.xlsx --round 2018-R1
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[arg(long)]
    round: String,
    /// XLSX sheet to read (default: the first).
    #[arg(long)]
    sheet: Option<String>,
    /// Print the receipt(s) as JSON on stdout and nothing else there.
    #[arg(long)]
    json: bool,
    /// Check the delivery and print what is wrong, storing nothing.
    #[arg(long)]
    dry_run: bool,
}

pub fn run(ws: &Workspace, a: Args) -> Result<ExitCode> {
    let round: RoundId = a.round.parse()?;
    let opts = crate::ingest::Options {
        sheet: a.sheet,
        dry_run: a.dry_run,
        progress: !a.json,
        ..Default::default()
    };
    let mut receipts = Vec::new();
    let mut refused = 0;
    for f in &a.files {
        match crate::ingest::ingest(ws, &round, f, &opts) {
            Ok(out) => {
                if !a.json {
                    print_receipt(&out)?;
                }
                receipts.push(out.receipt);
            }
            Err(e) => {
                refused += 1;
                eprintln!("manyi: error: {} REFUSED, nothing stored: {e}", f.display());
            }
        }
    }
    if a.json {
        let v = if a.files.len() == 1 {
            serde_json::to_string_pretty(&receipts.first())
        } else {
            serde_json::to_string_pretty(&receipts)
        };
        stdout_line(&v.map_err(|e| Error::Invalid(e.to_string()))?)?;
    }
    Ok(if refused > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Shown rejected rows at most; the rejects file has them all.
const SHOWN_REJECTS: usize = 30;

fn print_receipt(out: &crate::ingest::Outcome) -> Result<()> {
    let r = &out.receipt;
    if r.status == crate::ingest::ReceiptStatus::AlreadyIngested {
        return stdout_line(&format!(
            "{}: already ingested for round {} (same content, sha256 {}): nothing to do; receipt {}",
            r.file,
            r.round,
            r.sha256.get(..16).unwrap_or(&r.sha256),
            r.receipt_file
        ));
    }
    stdout_line(&format!(
        "{} ({}{}{}): {} rows read, {} accepted ({} valid, {} invalid), {} rejected",
        r.file,
        r.format,
        if r.format == "xlsx" {
            String::new()
        } else {
            format!(" {}", r.encoding)
        },
        if r.delimiter.is_empty() {
            String::new()
        } else {
            format!(", {}", r.delimiter)
        },
        r.rows_read,
        r.accepted,
        r.valid,
        r.invalid,
        r.rejected
    ))?;
    for rej in out.rejects.iter().take(SHOWN_REJECTS) {
        stdout_line(&format!(
            "  REJECTED {}, line {}{}: {} [{}]",
            r.file,
            rej.line,
            if rej.column.is_empty() {
                String::new()
            } else {
                format!(", column {}", rej.column)
            },
            rej.reason,
            rej.code
        ))?;
    }
    if out.rejects.len() > SHOWN_REJECTS {
        stdout_line(&format!(
            "  … and {} more",
            out.rejects.len() - SHOWN_REJECTS
        ))?;
    }
    if !r.ignored_columns.is_empty() {
        stdout_line(&format!(
            "  ignored columns: {}",
            r.ignored_columns.join(", ")
        ))?;
    }
    if !r.hashed_columns.is_empty() {
        stdout_line(&format!(
            "  personal data stored only as salted hashes: {}",
            r.hashed_columns.join(", ")
        ))?;
    }
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header([
        "街道",
        "社区",
        "代码",
        "本次接收",
        "本次有效",
        "本轮有效",
        "样本",
    ]);
    for c in &r.communities {
        t.add_row([
            c.street_name.clone(),
            c.community_name.clone(),
            c.community_code.clone(),
            c.accepted.to_string(),
            c.valid.to_string(),
            c.round_valid.to_string(),
            if c.insufficient {
                "不足 insufficient".into()
            } else {
                "ok".to_string()
            },
        ]);
    }
    stdout_line(&t.to_string())?;
    let q = &r.quality;
    stdout_line(&format!(
        "  quality flags: {} speeders, {} straight-lined, {} duplicate patterns, {} with too few answers",
        q.speeders, q.straightliners, q.duplicate_patterns, q.too_few_answers
    ))?;
    for f in &q.flagged_interviewers {
        stdout_line(&format!(
            "  INTERVIEWER {} ({} questionnaires): {}",
            f.interviewer_id,
            f.questionnaires,
            f.reasons.join("; ")
        ))?;
    }
    stdout_line(&format!(
        "  receipt {}; rejects {}",
        r.receipt_file, r.rejects_file
    ))
}
