//! `manyi publish`: a round's or period's results become what the streets see in the
//! portal; `--unpublish` withdraws them.

use std::process::ExitCode;

use super::stdout_line;
use crate::error::Result;
use crate::messages::t;
use crate::workspace::Workspace;

/// Publish a round's or period's results to the streets (the portal's street pages and
/// `GET /api/v1/streets/{code}/scores`): a copy of reports/<label>/ as it is now.
/// Re-publishing replaces the copy; --unpublish withdraws it (a reason is required).
///
/// Example: manyi publish 2018   ·   manyi publish 2018H1 --unpublish --reason "wrong indicators"
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A round (2018-R1) or a period (2018Q2, 2018H1, 2018).
    label: String,
    #[arg(long, requires = "reason")]
    unpublish: bool,
    #[arg(long)]
    reason: Option<String>,
}

pub fn run(ws: &Workspace, a: Args) -> Result<ExitCode> {
    let s = crate::publish::parse_subject(&a.label)?;
    if a.unpublish {
        crate::publish::unpublish(ws, &s, a.reason.as_deref().unwrap_or(""), &super::actor())?;
        stdout_line(&format!("{} {}", t("已撤回发布", "unpublished"), s.label()))?;
    } else {
        let e = crate::publish::publish(ws, &s, &super::actor())?;
        stdout_line(&format!(
            "{} {} ({} {})",
            t("已发布", "published"),
            s.label(),
            e.written.len(),
            t("个文件", "files")
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}
