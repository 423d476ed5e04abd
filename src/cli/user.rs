//! `manyi user`: the portal's accounts.

use std::process::ExitCode;

use super::stdout_line;
use crate::accounts::{Accounts, Role};
use crate::error::Result;
use crate::workspace::Workspace;

/// Portal accounts: add, list, disable, reset a password, make an API token.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, clap::Subcommand)]
enum Cmd {
    /// Add an account; prints its one-time password (changed at the first login).
    ///
    /// Example: manyi user add chen --role evaluator --org 测评机构A
    Add {
        name: String,
        #[arg(long, value_enum)]
        role: Role,
        /// The evaluator's organisation.
        #[arg(long)]
        org: Option<String>,
        /// The street account's street code (see surveys/frame.csv).
        #[arg(long)]
        street: Option<String>,
    },
    /// List the accounts.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Disable an account: its sessions end and its tokens stop working.
    Disable { name: String },
    /// Enable a disabled account again (its old tokens stay revoked).
    Enable { name: String },
    /// Give an account a new one-time password: its sessions end and its API tokens
    /// are revoked; a disabled account stays disabled (`user enable` enables it).
    Passwd { name: String },
    /// Print a new API token for an account as the last word on stdout (shown once,
    /// stored hashed). With --revoke, revoke all its tokens instead.
    Token {
        name: String,
        #[arg(long)]
        revoke: bool,
    },
}

pub fn run(ws: &Workspace, a: Args) -> Result<ExitCode> {
    let db = Accounts::open(ws)?;
    let actor = super::actor();
    match a.cmd {
        Cmd::Add {
            name,
            role,
            org,
            street,
        } => {
            let (acc, pw) = db.add(&actor, &name, role, org.as_deref(), street.as_deref())?;
            stdout_line(&format!(
                "已添加账户 {}({}{}{})。一次性密码(首次登录后须修改,只显示这一次): {pw}",
                acc.name,
                acc.role.zh(),
                acc.org
                    .as_deref()
                    .map(|o| format!(",{o}"))
                    .unwrap_or_default(),
                acc.street
                    .as_deref()
                    .map(|s| format!(",街道 {s}"))
                    .unwrap_or_default(),
            ))?;
        }
        Cmd::List { json } => {
            let list = db.list()?;
            if json {
                stdout_line(
                    &serde_json::to_string_pretty(&list)
                        .map_err(|e| crate::error::Error::Internal(e.to_string()))?,
                )?;
            } else {
                let mut t = comfy_table::Table::new();
                t.set_header(["账户", "角色", "机构", "街道", "状态", "创建时间(北京时间)"]);
                for u in &list {
                    t.add_row([
                        u.name.clone(),
                        u.role.zh().to_string(),
                        u.org.clone().unwrap_or_default(),
                        u.street.clone().unwrap_or_default(),
                        if u.disabled {
                            "已停用"
                        } else if u.must_change {
                            "待改密码"
                        } else {
                            "正常"
                        }
                        .to_string(),
                        crate::store::beijing_time(&u.created_at),
                    ]);
                }
                stdout_line(&t.to_string())?;
            }
        }
        Cmd::Disable { name } => {
            db.disable(&actor, &name)?;
            stdout_line(&format!("已停用账户 {name}:会话已结束,令牌已失效"))?;
        }
        Cmd::Enable { name } => {
            db.enable(&actor, &name)?;
            stdout_line(&format!(
                "已启用账户 {name}(原有令牌仍失效,需要时请用 user token 重新生成)"
            ))?;
        }
        Cmd::Passwd { name } => {
            let r = db.reset_password(&actor, &name)?;
            stdout_line(&format!(
                "账户 {name} 的新一次性密码(首次登录后须修改,只显示这一次): {}",
                r.password
            ))?;
            if r.tokens_revoked > 0 {
                stdout_line(&format!(
                    "已撤销该账户的 {} 个 API 令牌(需要时请用 user token 重新生成)",
                    r.tokens_revoked
                ))?;
            }
            if r.disabled {
                stdout_line(&format!(
                    "注意:账户 {name} 仍处于停用状态,不能登录;如需启用请运行 manyi user enable {name}"
                ))?;
            }
        }
        Cmd::Token { name, revoke } => {
            if revoke {
                let n = db.revoke_tokens(&actor, &name)?;
                stdout_line(&format!("已撤销账户 {name} 的 {n} 个令牌"))?;
            } else {
                let t = db.new_token(&actor, &name)?;
                stdout_line(&format!(
                    "账户 {name} 的新 API 令牌(只显示这一次,请妥善保存): {t}"
                ))?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
