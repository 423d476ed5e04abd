//! `manyi callbacks`: draw a callback batch, record the callers' results, and show
//! what the round's callbacks say per interviewer.

use std::path::PathBuf;
use std::process::ExitCode;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use super::stdout_line;
use crate::error::{Error, Result};
use crate::round::RoundId;
use crate::workspace::Workspace;

/// Callbacks (回访): the office phones some of each interviewer's respondents to verify
/// the interview. Without a subcommand: the round's callbacks per interviewer.
///
/// Examples:
///   manyi callbacks draw --round 2018-R2 --seed "2018-R2 回访 公开抽签"
///   manyi callbacks record 回访结果.xlsx --round 2018-R2
///   manyi callbacks --round 2018-R2
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    /// The round (without a subcommand).
    #[arg(long)]
    round: Option<String>,
    /// JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Draw the round's next batch: every interviewer gets some calls, those the
    /// comparison flags more; a later batch follows up where the results leave doubt,
    /// and draws nothing when nobody needs more. Writes the call list
    /// (reports/<round>/callbacks/<batch>.csv and .xlsx, with phone numbers: private).
    Draw {
        #[arg(long)]
        round: String,
        /// The seed (recorded; default: a fresh random one).
        #[arg(long)]
        seed: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Record the callers' results: the call list filled in (CSV or XLSX), or any table
    /// with respondent_id and outcome (confirmed, denied, unreachable, refused,
    /// wrong-number, or 已核实 / 否认受访 / 无法接通 / 拒访 / 空号错号), optional caller,
    /// called_at, note and re-asked items (q1…).
    Record {
        file: PathBuf,
        #[arg(long)]
        round: String,
        #[arg(long)]
        json: bool,
    },
}

fn json_line<T: serde::Serialize>(v: &T) -> Result<()> {
    stdout_line(&serde_json::to_string_pretty(v).map_err(|e| Error::Internal(e.to_string()))?)
}

pub fn run(ws: &Workspace, a: Args) -> Result<ExitCode> {
    match a.action {
        Some(Action::Draw { round, seed, json }) => {
            let round: RoundId = round.parse()?;
            let d = crate::lifecycle::draw_callbacks(ws, &round, seed.as_deref(), &super::actor())?;
            if json {
                json_line(&serde_json::json!({
                    "batch": d.batch,
                    "list": d.list,
                    "xlsx": d.xlsx,
                    "drawn": d.drawn,
                    "interviewers": d.interviewers,
                    "needing": d.needing,
                    "short": d.short,
                    "budget": d.budget,
                    "used_before": d.used_before,
                    "seed": d.seed,
                }))?;
                return Ok(ExitCode::SUCCESS);
            }
            match &d.batch {
                None => stdout_line(&format!(
                    "{round} 轮：没有访问员需要更多回访，本次未抽取（已用 {} / 预算 {} 份）",
                    d.used_before, d.budget
                ))?,
                Some(b) => {
                    stdout_line(&format!(
                        "{round} 轮回访批次 {b}：抽取 {} 份问卷，涉及 {} 名访问员（种子 {:?}）；预算 {} 份，此前已用 {} 份",
                        d.drawn, d.interviewers, d.seed, d.budget, d.used_before
                    ))?;
                    if d.short > 0 {
                        stdout_line(&format!(
                            "注意：预算不足，按设计还差 {} 份未能抽取（优先给了有统计异常和已有核实失败的访问员）",
                            d.short
                        ))?;
                    }
                    stdout_line(&format!(
                        "回访名单：{}（Excel 版：{}）。名单含受访者电话，仅限回访使用。",
                        d.list.as_deref().unwrap_or(""),
                        d.xlsx.as_deref().unwrap_or("")
                    ))?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Action::Record { file, round, json }) => {
            let round: RoundId = round.parse()?;
            let r = crate::callbacks::record(
                ws,
                &round,
                &file,
                &file.display().to_string(),
                &super::actor(),
            )?;
            if json {
                json_line(&r)?;
                return Ok(if r.rejected > 0 {
                    ExitCode::from(2)
                } else {
                    ExitCode::SUCCESS
                });
            }
            stdout_line(&match r.status.as_str() {
                "already-recorded" => format!("{}：此文件已导入过，未作任何更改", r.file),
                _ => format!(
                    "{}：{} 行，导入 {} 条结果，{} 条与已记录相同，{} 行尚未拨打（回访结果为空），{} 行被拒",
                    r.file, r.rows, r.accepted, r.unchanged, r.not_called, r.rejected
                ),
            })?;
            for j in &r.rejects {
                stdout_line(&format!(
                    "  第 {} 行 {}：{}（{} = {:?}）",
                    j.line, j.respondent_id, j.reason, j.column, j.value
                ))?;
            }
            Ok(if r.rejected > 0 {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
        None => {
            let round: RoundId = a
                .round
                .as_deref()
                .ok_or_else(|| {
                    Error::Invalid("请用 --round 指定轮次，例如 --round 2018-R2".into())
                })?
                .parse()?;
            let c = crate::callbacks::round(ws, &round)?;
            if a.json {
                json_line(&c)?;
                return Ok(ExitCode::SUCCESS);
            }
            if c.batches.is_empty() {
                stdout_line(&format!(
                    "{round} 轮尚未抽取回访（manyi callbacks draw --round {round}）"
                ))?;
                return Ok(ExitCode::SUCCESS);
            }
            stdout_line(&format!(
                "{round} 轮回访：{} 个批次，抽取 {} 份（预算 {} 份，全轮问卷 {} 份），已回访 {} 份，接通核实 {} 份",
                c.batches.len(),
                c.drawn,
                c.budget,
                c.round_questionnaires,
                c.called,
                c.reached
            ))?;
            if let Some(d) = &c.design {
                stdout_line(&format!(
                    "设计：如实访问的访问员核实失败约 {:.1}%，接通率约 {:.0}%；核实 {} 份中失败 {} 份及以上即标记（检验水平 {}），连续确认 {} 份即通过",
                    d.honest_failure * 100.0,
                    d.reach_rate * 100.0,
                    d.verified_needed,
                    d.failures_to_flag,
                    d.alpha,
                    d.confirmations_to_clear
                ))?;
            }
            let mut t = Table::new();
            t.load_style(UTF8_FULL_CONDENSED);
            t.set_header(vec![
                "访问员",
                "抽取",
                "已回访",
                "接通核实",
                "确认",
                "否认",
                "空号错号",
                "失败比例 (95% 区间)",
                "复问一致",
                "结论",
            ]);
            for e in &c.interviewers {
                t.add_row(vec![
                    e.interviewer_id.clone(),
                    e.drawn.to_string(),
                    e.called.to_string(),
                    e.reached.to_string(),
                    e.confirmed.to_string(),
                    e.denied.to_string(),
                    e.wrong_numbers.to_string(),
                    match (e.failure_share, e.interval) {
                        (Some(s), Some((lo, hi))) => {
                            format!("{:.0}% ({:.0}–{:.0}%)", s * 100.0, lo * 100.0, hi * 100.0)
                        }
                        _ => "—".into(),
                    },
                    if e.reasked > 0 {
                        format!("{}/{}", e.agreed, e.reasked)
                    } else {
                        "—".into()
                    },
                    e.standing.map_or("", |s| s.text_zh()).to_string(),
                ]);
            }
            stdout_line(&t.to_string())?;
            for e in c.interviewers.iter().filter(|e| e.flagged()) {
                stdout_line(&format!("{}：{}", e.interviewer_id, e.words))?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
