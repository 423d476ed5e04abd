//! `manyi demo`: the whole 2018 year on the shipped demo workspace.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::stdout_line;
use crate::error::Result;

/// Build the full 2018 demo workspace (default: the current directory, which in the
/// repository is the shipped demo workspace) and run the whole pipeline on it.
///
/// Example: manyi demo /tmp/demo
#[derive(Debug, clap::Args)]
pub struct Args {
    dir: Option<PathBuf>,
}

pub fn run(workspace: &Path, a: Args) -> Result<ExitCode> {
    let dir = a.dir.unwrap_or_else(|| workspace.to_path_buf());
    let log = crate::demo::run(&dir, &super::actor())?;
    for l in &log.lines {
        stdout_line(l)?;
    }
    stdout_line(&match crate::messages::lang() {
        crate::messages::Lang::Zh => format!(
            "演示工作区：{}；全年报告在 {}",
            dir.display(),
            log.reports.display()
        ),
        crate::messages::Lang::En => format!(
            "demo workspace: {}; the year's reports are in {}",
            dir.display(),
            log.reports.display()
        ),
    })?;
    Ok(ExitCode::SUCCESS)
}
