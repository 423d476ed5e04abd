//! `manyi reinstate`: a withdrawn delivery counts again.

use std::process::ExitCode;

use super::stdout_line;
use crate::error::Result;
use crate::messages::t;
use crate::workspace::Workspace;

/// Reinstate a withdrawn delivery: its questionnaires count again in scores, quality
/// comparisons and the duplicate-id check. Refused when one of its respondent ids is
/// now in another active delivery of the round (which is named). Journalled with the
/// reason.
///
/// Example: manyi reinstate 3f2a9c1e --reason "撤回有误:这是正确的街道文件"
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The delivery's id (sha256, or its first 8 or more hex digits).
    delivery: String,
    #[arg(long)]
    reason: String,
}

pub fn run(ws: &Workspace, a: Args) -> Result<ExitCode> {
    let d = crate::lifecycle::reinstate(ws, &a.delivery, &a.reason, &super::actor())?;
    stdout_line(&format!(
        "{} {} ({}, {} {}): {}",
        t("已恢复交付", "reinstated delivery"),
        crate::ingest::short(&d.sha256),
        d.file_name,
        d.accepted,
        t("份问卷重新计入", "questionnaires count again"),
        a.reason.trim()
    ))?;
    Ok(ExitCode::SUCCESS)
}
