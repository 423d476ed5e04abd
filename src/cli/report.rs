//! `manyi report`: review tables, charts and the PDF review pack.

use std::process::ExitCode;

use super::stdout_line;
use crate::error::{Error, Result};
use crate::workspace::Workspace;

/// Review tables (XLSX, CSV for Excel, Markdown), charts (PNG, SVG) and the PDF
/// review pack for a period (after `evaluate`) or a round (after `score`).
///
/// Example: manyi report --period 2018
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, conflicts_with = "round", required_unless_present = "round")]
    period: Option<String>,
    #[arg(long)]
    round: Option<String>,
}

pub fn run(ws: &Workspace, a: Args) -> Result<ExitCode> {
    let subject = match (a.period, a.round) {
        (Some(p), _) => crate::report::Subject::Period(p.parse()?),
        (None, Some(r)) => crate::report::Subject::Round(r.parse()?),
        (None, None) => return Err(Error::Invalid("give --period or --round".into())),
    };
    let files = crate::report::report_recorded(ws, &subject, &super::actor())?;
    for f in &files {
        stdout_line(&format!("wrote {}", f.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}
