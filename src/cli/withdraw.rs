//! `manyi withdraw`: a delivery stops counting; its files stay in the store.

use std::process::ExitCode;

use super::stdout_line;
use crate::error::Result;
use crate::messages::t;
use crate::workspace::Workspace;

/// Withdraw a stored delivery: its questionnaires stop counting in scores, quality
/// comparisons and the duplicate-id check; the original, receipt, rejects and rows stay
/// in the store, and the journal records who withdrew it and why.
///
/// Example: manyi withdraw 3f2a9c1e --reason "evaluator sent the wrong street's file"
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The delivery's id (sha256, or its first 8 or more hex digits).
    delivery: String,
    #[arg(long)]
    reason: String,
}

pub fn run(ws: &Workspace, a: Args) -> Result<ExitCode> {
    let d = crate::lifecycle::withdraw(ws, &a.delivery, &a.reason, &super::actor())?;
    stdout_line(&format!(
        "{} {} ({}, {} {}): {}",
        t("已撤回交付", "withdrew delivery"),
        crate::ingest::short(&d.sha256),
        d.file_name,
        d.accepted,
        t("份问卷不再计入", "questionnaires no longer count"),
        a.reason.trim()
    ))?;
    Ok(ExitCode::SUCCESS)
}
