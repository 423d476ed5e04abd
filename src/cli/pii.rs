//! `manyi pii`: respondents' personal data once a round is final.

use std::process::ExitCode;

use super::stdout_line;
use crate::error::{Error, Result};
use crate::round::RoundId;
use crate::workspace::Workspace;

/// Personal data (PIPL): phone numbers and names are kept only as long as callbacks
/// may need them.
///
/// Example: manyi pii purge --round 2018-R2 --reason "本轮考核已发布，回访结束"
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Once the round is published (itself or in a period): replace its kept
    /// originals by copies without phone numbers and names (new hashes journalled;
    /// verify-store accepts them), blank the rows its rejects lists show whole, and
    /// delete its call lists. Journalled with the reason.
    Purge {
        #[arg(long)]
        round: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(ws: &Workspace, a: Args) -> Result<ExitCode> {
    match a.action {
        Action::Purge {
            round,
            reason,
            json,
        } => {
            let round: RoundId = round.parse()?;
            let p = crate::pii::purge(ws, &round, &reason, &super::actor())?;
            if json {
                stdout_line(
                    &serde_json::to_string_pretty(&p)
                        .map_err(|e| Error::Internal(e.to_string()))?,
                )?;
            } else {
                stdout_line(&format!(
                    "{round} 轮：{} 份原始文件已去除电话和姓名（{} 份本无个人信息或已去除），{} 份拒收清单已遮盖整行内容，删除回访名单 {} 份",
                    p.originals,
                    p.unchanged,
                    p.rejects,
                    p.lists_removed.len()
                ))?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
