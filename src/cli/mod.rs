//! The command line: one subcommand per pipeline verb, one file per command (its usage
//! text, the call into the library, and its printing). Exit codes: 0 done, 1 input
//! refused (or a check failed), 2 usage error (clap).

mod appeals;
mod assign;
mod callbacks;
mod decide;
mod deliveries;
mod demo;
mod evaluate;
mod flags;
mod ingest;
mod init;
mod journal;
mod pii;
mod plan;
mod publish;
mod reinstate;
mod report;
mod sample;
mod score;
mod serve;
mod simulate;
mod user;
mod verify_sample;
mod verify_store;
mod withdraw;

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

    /// Who runs the command, for the journal (default: the OS user).
    #[arg(long, global = true)]
    pub actor: Option<String>,

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
    Deliveries(deliveries::Args),
    Withdraw(withdraw::Args),
    Reinstate(reinstate::Args),
    Publish(publish::Args),
    Flags(flags::Args),
    Callbacks(callbacks::Args),
    Appeals(appeals::ListArgs),
    Appeal(appeals::AppealArgs),
    Ledger(appeals::LedgerArgs),
    Pii(pii::Args),
    Decide(decide::Args),
    Journal(journal::Args),
    VerifyStore(verify_store::Args),
    Serve(serve::Args),
    User(user::Args),
    Assign(assign::Args),
}

static ACTOR: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The journal's actor for this run: `--actor`, else the OS user.
pub fn actor() -> String {
    ACTOR
        .get()
        .cloned()
        .unwrap_or_else(crate::journal::default_actor)
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    crate::messages::set_lang(cli.lang.unwrap_or_else(crate::messages::Lang::from_env));
    if let Some(a) = cli
        .actor
        .as_ref()
        .map(|a| a.trim())
        .filter(|a| !a.is_empty())
    {
        let _ = ACTOR.set(a.to_string()); // ok: set once, before any command runs
    }
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
        Command::Deliveries(a) => deliveries::run(&open()?, a),
        Command::Withdraw(a) => withdraw::run(&open()?, a),
        Command::Reinstate(a) => reinstate::run(&open()?, a),
        Command::Publish(a) => publish::run(&open()?, a),
        Command::Flags(a) => flags::run(&open()?, a),
        Command::Callbacks(a) => callbacks::run(&open()?, a),
        Command::Appeals(a) => appeals::list(&open()?, a),
        Command::Appeal(a) => appeals::appeal(&open()?, a),
        Command::Ledger(a) => appeals::ledger(&open()?, a),
        Command::Pii(a) => pii::run(&open()?, a),
        Command::Decide(a) => decide::run(&open()?, a),
        Command::Journal(a) => journal::run(&open()?, a),
        Command::VerifyStore(a) => verify_store::run(&open()?, a),
        Command::Serve(a) => serve::run(&open()?, a),
        Command::User(a) => user::run(&open()?, a),
        Command::Assign(a) => assign::run(&open()?, a),
    }
}

/// A bar on stderr for a long step (0–100, with what is being done); hidden when
/// stderr is not a terminal.
fn progress_bar() -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(100);
    bar.set_style(
        indicatif::ProgressStyle::with_template("[{bar:30}] {pos}% {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

fn stdout_line(s: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{s}").map_err(|e| Error::io("<stdout>", e))
}

fn fmt1(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.1}")).unwrap_or_else(|| "—".into())
}
