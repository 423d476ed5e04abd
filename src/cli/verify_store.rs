//! `manyi verify-store`: the journal's chain and every stored file's hash.

use std::process::ExitCode;

use super::stdout_line;
use crate::error::{Error, Result};
use crate::messages::t;
use crate::workspace::Workspace;

/// Check the store: the journal's chain of hashes, its head against the store index,
/// every journalled file's hash, and that row counts agree with the receipts.
/// Exit 0 when all hold, 1 naming each entry or file that does not.
///
/// Example: manyi verify-store
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    json: bool,
}

pub fn run(ws: &Workspace, a: Args) -> Result<ExitCode> {
    let c = crate::lifecycle::verify::verify_store(ws, &super::actor())?;
    if a.json {
        stdout_line(&serde_json::to_string_pretty(&c).map_err(|e| Error::Invalid(e.to_string()))?)?;
    } else {
        for p in &c.problems {
            stdout_line(&format!("{} {}", t("不符", "FAIL"), p.message))?;
        }
        if c.uncommitted_lines > 0 {
            stdout_line(&format!(
                "{} {}",
                c.uncommitted_lines,
                t(
                    "条日志记录未提交(进程被中止),下次写入时删除",
                    "uncommitted journal line(s) from a killed process; the next change removes them"
                )
            ))?;
        }
        stdout_line(&match crate::messages::lang() {
            crate::messages::Lang::Zh => format!(
                "{}:日志 {} 条,核对文件 {} 个,交付 {} 份,问题 {} 个",
                if c.ok() {
                    "存储完好"
                } else {
                    "存储有问题"
                },
                c.entries,
                c.files_checked,
                c.deliveries,
                c.problems.len()
            ),
            crate::messages::Lang::En => format!(
                "{}: {} journal entries, {} files checked, {} deliveries, {} problem(s)",
                if c.ok() {
                    "store verified"
                } else {
                    "store does NOT verify"
                },
                c.entries,
                c.files_checked,
                c.deliveries,
                c.problems.len()
            ),
        })?;
    }
    Ok(if c.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
