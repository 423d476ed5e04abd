//! `manyi appeals`, `manyi appeal submit|rule`, `manyi ledger`: streets' appeals of
//! their deduction lines, the office's rulings, and the rectification ledger.

use std::path::PathBuf;
use std::process::ExitCode;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use super::stdout_line;
use crate::appeals::{self, Line, RulingInput, Submission};
use crate::error::{Error, Result};
use crate::lang::t;
use crate::workspace::Workspace;

/// The appeals (申诉), those awaiting a ruling first (nearest deadline first).
///
/// Examples:
///   manyi appeals
///   manyi appeals --period 2018H1 --json
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[arg(long)]
    period: Option<String>,
    /// Only this street's (its code).
    #[arg(long)]
    street: Option<String>,
    #[arg(long)]
    json: bool,
}

/// One appeal: submit it for a street (as the portal does), or rule on it.
///
/// Examples:
///   manyi appeal submit --period 2018H1 --street 530103001 --community 530103001003 --reason "测评期间道路施工"
///   manyi appeal rule A1 --uphold --waive --reason "施工影响属实"
///   manyi appeal rule A2 --reject --reason "理由不成立"
#[derive(Debug, clap::Args)]
pub struct AppealArgs {
    #[command(subcommand)]
    action: AppealAction,
}

#[derive(Debug, clap::Subcommand)]
enum AppealAction {
    /// A street appeals one of its own deduction lines of a published period.
    Submit {
        #[arg(long)]
        period: String,
        #[arg(long)]
        street: String,
        /// The community's line (else --street-level).
        #[arg(long, conflicts_with = "street_level")]
        community: Option<String>,
        /// The street-level line.
        #[arg(long)]
        street_level: bool,
        #[arg(long)]
        reason: String,
        /// Attachments (PDF, PNG, JPEG, XLSX), repeatable.
        #[arg(long)]
        attach: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// The office rules: --uphold with one remedy (--waive, --resurvey, or
    /// --exclude-interviewer ID --round R), or --reject.
    Rule {
        id: String,
        #[arg(long, conflicts_with = "reject")]
        uphold: bool,
        #[arg(long)]
        reject: bool,
        #[arg(long)]
        waive: bool,
        #[arg(long)]
        resurvey: bool,
        #[arg(long)]
        exclude_interviewer: Option<String>,
        #[arg(long)]
        round: Option<String>,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        json: bool,
    },
}

/// The rectification ledger (整改台账): each community counted in a published period's
/// deductions, what its street does about it, and its next score.
///
/// Examples:
///   manyi ledger --period 2018H1
///   manyi ledger --xlsx 整改台账.xlsx
#[derive(Debug, clap::Args)]
pub struct LedgerArgs {
    #[arg(long)]
    period: Option<String>,
    #[arg(long)]
    street: Option<String>,
    /// Write the ledger as a workbook here.
    #[arg(long)]
    xlsx: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

fn print_appeals(list: &[appeals::Appeal]) -> Result<()> {
    if list.is_empty() {
        return stdout_line(t("没有申诉。", "No appeals."));
    }
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED);
    table.set_header(vec![
        t("编号", "id"),
        t("考核期", "period"),
        t("街道", "street"),
        t("扣分项", "line"),
        t("扣分", "points"),
        t("状态", "status"),
        t("截止（北京时间）", "deadline (Beijing)"),
        t("结论", "ruling"),
    ]);
    for a in list {
        let ruling = a.ruling.as_ref().map_or(String::new(), |r| {
            let mut s = format!("{}：{}", appeals::remedy_text(&r.remedy), r.reason);
            if !r.changed.is_empty() {
                s.push_str(&format!("；{}", r.changed));
            }
            s
        });
        table.add_row(vec![
            a.id.clone(),
            a.period.clone(),
            a.street_name.clone(),
            a.line_text(),
            format!("{:.1}", a.points),
            a.status_text().to_string(),
            crate::store::beijing_time(&a.deadline),
            ruling,
        ]);
    }
    stdout_line(&table.to_string())
}

pub fn list(ws: &Workspace, a: ListArgs) -> Result<ExitCode> {
    let list = appeals::list(ws, a.period.as_deref(), a.street.as_deref())?;
    if a.json {
        stdout_line(&appeals::rows_json(&list).to_string())?;
    } else {
        print_appeals(&list)?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn appeal(ws: &Workspace, a: AppealArgs) -> Result<ExitCode> {
    let (made, json) = match a.action {
        AppealAction::Submit {
            period,
            street,
            community,
            street_level,
            reason,
            attach,
            json,
        } => {
            let line = match (community, street_level) {
                (Some(c), false) => Line::Community(c),
                (None, true) => Line::Street,
                _ => {
                    return Err(Error::Invalid(
                        t(
                            "请用 --community CODE 或 --street-level 指明扣分项",
                            "name the line: --community CODE or --street-level",
                        )
                        .into(),
                    ));
                }
            };
            let mut attachments = Vec::new();
            for p in attach {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                attachments.push((name, crate::fsutil::read(&p)?));
            }
            let s = Submission {
                period: period.parse()?,
                street_code: street,
                line,
                reason,
                attachments,
            };
            (
                appeals::submit(ws, &s, &super::actor(), &appeals::now())?,
                json,
            )
        }
        AppealAction::Rule {
            id,
            uphold,
            reject,
            waive,
            resurvey,
            exclude_interviewer,
            round,
            reason,
            json,
        } => {
            if uphold == reject {
                return Err(Error::Invalid(
                    t(
                        "请用 --uphold 或 --reject 给出结论",
                        "give --uphold or --reject",
                    )
                    .into(),
                ));
            }
            let remedies = [waive, resurvey, exclude_interviewer.is_some()]
                .iter()
                .filter(|x| **x)
                .count();
            if uphold && remedies != 1 {
                return Err(Error::Invalid(
                    t(
                        "维持申诉须选一种补救：--waive、--resurvey 或 --exclude-interviewer",
                        "--uphold needs one remedy: --waive, --resurvey or --exclude-interviewer",
                    )
                    .into(),
                ));
            }
            let remedy = if !uphold {
                "none"
            } else if waive {
                "waive"
            } else if resurvey {
                "resurvey"
            } else {
                "exclude"
            };
            let input = RulingInput {
                upheld: uphold,
                remedy: remedy.into(),
                reason,
                interviewer: exclude_interviewer,
                round,
            };
            let bar = super::progress_bar();
            let a = appeals::rule(ws, &id, &input, &super::actor(), &|f, what| {
                bar.set_position((f * 100.0) as u64);
                bar.set_message(what.to_string());
            })?;
            bar.finish_and_clear();
            (a, json)
        }
    };
    if json {
        stdout_line(&serde_json::to_string(&made).map_err(|e| Error::Internal(e.to_string()))?)?;
    } else {
        print_appeals(std::slice::from_ref(&made))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn ledger(ws: &Workspace, a: LedgerArgs) -> Result<ExitCode> {
    let rows = appeals::ledger::rows(ws, a.period.as_deref(), a.street.as_deref())?;
    if let Some(p) = &a.xlsx {
        crate::fsutil::write_atomic(p, &appeals::ledger::xlsx(&rows)?)?;
    }
    if a.json {
        stdout_line(&serde_json::json!({ "rows": rows }).to_string())?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        stdout_line(t(
            "整改台账为空（已发布考核期中没有计入扣分的社区）。",
            "The ledger is empty.",
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED);
    table.set_header(vec![
        t("考核期", "period"),
        t("街道", "street"),
        t("社区", "community"),
        t("得分", "score"),
        t("状态", "status"),
        t("责任人", "responsible"),
        t("期限", "deadline"),
        t("下一轮得分", "next score"),
    ]);
    for r in &rows {
        table.add_row(vec![
            r.period.clone(),
            r.street_name.clone(),
            r.community_name.clone(),
            super::fmt1(r.score),
            appeals::ledger::status_text(&r.status).to_string(),
            r.responsible.clone(),
            r.deadline.clone(),
            match (&r.next_round, r.next_score) {
                (Some(round), s) => format!("{}（{round}）", super::fmt1(s)),
                _ => "—".into(),
            },
        ]);
    }
    stdout_line(&table.to_string())?;
    Ok(ExitCode::SUCCESS)
}
