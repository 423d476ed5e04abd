//! `manyi verify-sample`: re-draw a round from its manifest and compare.

use std::process::ExitCode;

use super::stdout_line;
use crate::error::Result;
use crate::round::RoundId;
use crate::workspace::Workspace;

/// Re-draw a round from its manifest and check the sample file against it,
/// community by community.
///
/// Example: manyi -w /tmp/w verify-sample --round 2018-R1
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    round: String,
}

pub fn run(ws: &Workspace, a: Args) -> Result<ExitCode> {
    let round: RoundId = a.round.parse()?;
    let v = crate::sample::verify(ws, &round)?;
    for n in &v.notes {
        stdout_line(&format!("NOTE {n}"))?;
    }
    if v.ok() {
        stdout_line(&if v.imported {
            format!(
                "sample {round} verified: imported, {} rows, the file still has the hash recorded at its import",
                v.rows
            )
        } else {
            format!(
                "sample {round} verified: {} rows match the re-draw from the manifest",
                v.rows
            )
        })?;
        Ok(ExitCode::SUCCESS)
    } else {
        for d in &v.differences {
            stdout_line(&format!("MISMATCH {d}"))?;
        }
        stdout_line(&format!(
            "sample {round} does NOT match its manifest ({} difference(s))",
            v.differences.len()
        ))?;
        Ok(ExitCode::from(1))
    }
}
