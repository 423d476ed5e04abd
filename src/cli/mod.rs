//! The command line: one subcommand per pipeline verb, one file per command (its usage
//! text, the call into the library, and its printing). Exit codes: 0 done, 1 input
//! refused (or a check failed), 2 usage error (clap).

mod demo;
mod evaluate;
mod ingest;
mod init;
mod plan;
mod report;
mod sample;
mod score;
mod simulate;
mod verify_sample;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::{Error, Result};
use crate::workspace::Workspace;

#[derive(Debug, Parser)]
#[command(
    name = "manyi",
    version,
    about = "满意 — resident-satisfaction survey and street assessment engine"
)]
pub struct Cli {
    /// Workspace directory (holds manyi.toml).
    #[arg(short = 'w', long = "workspace", global = true, default_value = ".")]
    pub workspace: PathBuf,

    /// Language of messages and reports for people (zh, en); default: MANYI_LANG, else zh.
    /// Codes, CSV column names and JSON keys are English either way.
    #[arg(long, global = true, value_enum)]
    pub lang: Option<crate::messages::Lang>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Init(init::Args),
    Sample(sample::Args),
    VerifySample(verify_sample::Args),
    Ingest(ingest::Args),
    Score(score::Args),
    Evaluate(evaluate::Args),
    Simulate(simulate::Args),
    Report(report::Args),
    Plan(plan::Args),
    Demo(demo::Args),
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    crate::messages::set_lang(cli.lang.unwrap_or_else(crate::messages::Lang::from_env));
    let open = || Workspace::open(&cli.workspace);
    match cli.command {
        Command::Init(a) => init::run(a),
        Command::Sample(a) => sample::run(&open()?, a),
        Command::VerifySample(a) => verify_sample::run(&open()?, a),
        Command::Ingest(a) => ingest::run(&open()?, a),
        Command::Score(a) => score::run(&open()?, a),
        Command::Evaluate(a) => evaluate::run(&open()?, a),
        Command::Simulate(a) => simulate::run(&open()?, a),
        Command::Report(a) => report::run(&open()?, a),
        Command::Plan(a) => plan::run(&open()?, a),
        Command::Demo(a) => demo::run(&cli.workspace, a),
    }
}

fn stdout_line(s: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{s}").map_err(|e| Error::io("<stdout>", e))
}

fn fmt1(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.1}")).unwrap_or_else(|| "—".into())
}
