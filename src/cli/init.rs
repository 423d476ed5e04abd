//! `manyi init`: a new workspace with the shipped frame and a scheme's rules.

use std::path::PathBuf;
use std::process::ExitCode;

use super::stdout_line;
use crate::error::Result;
use crate::workspace::Workspace;

/// Create a workspace with the shipped Panlong frame and a scheme's rules.
///
/// Example: manyi init /tmp/w --scheme panlong-2018
#[derive(Debug, clap::Args)]
pub struct Args {
    dir: PathBuf,
    /// panlong-2017 (one 30% round) or panlong-2018 (three rounds, full coverage).
    #[arg(long)]
    scheme: String,
    /// Use this frame CSV instead of the shipped Panlong frame.
    #[arg(long)]
    frame: Option<PathBuf>,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let ws = Workspace::init(&a.dir, &a.scheme, a.frame.as_deref())?;
    let frame = ws.frame()?;
    stdout_line(&format!(
        "created workspace {} (scheme {}, frame: {} streets, {} communities)",
        a.dir.display(),
        a.scheme,
        frame.streets.len(),
        frame.len()
    ))?;
    Ok(ExitCode::SUCCESS)
}
