//! `manyi assign`: which streets an evaluating organisation surveys in a round.

use std::process::ExitCode;

use super::stdout_line;
use crate::accounts::Accounts;
use crate::error::Result;
use crate::round::RoundId;
use crate::workspace::Workspace;

/// Assign streets of a round to an evaluating organisation (replacing what it had in
/// that round). Uploads of its evaluators, and `ingest --evaluator ORG`, reject rows of
/// any other street. Without --streets, lists the assignments.
///
/// Example: manyi assign --round 2018-R1 --org 测评机构A --streets 530103001,530103002
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    round: Option<String>,
    #[arg(long)]
    org: Option<String>,
    /// Street codes, comma-separated (see surveys/frame.csv).
    #[arg(long, value_delimiter = ',')]
    streets: Vec<String>,
}

pub fn run(ws: &Workspace, a: Args) -> Result<ExitCode> {
    let mut db = Accounts::open(ws)?;
    match (&a.round, &a.org) {
        (Some(r), Some(org)) if !a.streets.is_empty() => {
            let round: RoundId = r.parse()?;
            let list = db.assign(&super::actor(), &round, org, &a.streets)?;
            stdout_line(&format!(
                "{round} 轮:{org} 负责 {} 个街道({})",
                list.len(),
                list.join(", ")
            ))?;
        }
        (None, None) if a.streets.is_empty() => {
            let frame = ws.frame()?;
            for (round, org, street) in db.assignments()? {
                let name = frame
                    .streets
                    .get(&street)
                    .map(|s| s.name.as_str())
                    .unwrap_or("?");
                stdout_line(&format!("{round}\t{org}\t{street}\t{name}"))?;
            }
        }
        _ => {
            return Err(crate::error::Error::Invalid(
                "give --round, --org and --streets to assign, or none of them to list".into(),
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}
