//! `manyi evaluate`: street evaluations and deductions of a quarter, half-year or year.

use std::process::ExitCode;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use super::{fmt1, stdout_line};
use crate::error::Result;
use crate::messages::t as tr;
use crate::workspace::Workspace;

/// Evaluate streets for a quarter, half-year or year: satisfaction points from the
/// period's rounds, task indicators from surveys/indicators/<period>.csv, and the
/// deduction table. Writes reports/<period>/street_evaluation.csv and deductions.csv.
///
/// Example: manyi evaluate --period 2018H1
#[derive(Debug, clap::Args)]
pub struct Args {
    /// 2018Q2, 2018H1 or 2018.
    #[arg(long)]
    period: String,
}

pub fn run(ws: &Workspace, a: Args) -> Result<ExitCode> {
    let period: crate::round::Period = a.period.parse()?;
    let (ev, files) = crate::jobs::evaluate_recorded(ws, &period, &super::actor())?;
    print_evaluation(&ev)?;
    for f in files {
        stdout_line(&format!("{} {}", tr("已写入", "wrote"), f.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn print_evaluation(ev: &crate::evaluate::Evaluation) -> Result<()> {
    let rounds = if ev.rounds.is_empty() {
        tr("无测评轮次", "no round").to_string()
    } else {
        ev.rounds.join(", ")
    };
    stdout_line(&match crate::messages::lang() {
        crate::messages::Lang::Zh => format!(
            "{} 考核评价:满意度依据 {rounds}({});任务指标:{}",
            ev.period, ev.satisfaction_basis, ev.indicators_source
        ),
        crate::messages::Lang::En => format!(
            "evaluation {}: satisfaction from {rounds} ({}); indicators: {}",
            ev.period, ev.satisfaction_basis, ev.indicators_source
        ),
    })?;
    if !ev.indicators_missing.is_empty() {
        let files = ev.indicators_missing.join(tr("、", ", "));
        stdout_line(&match crate::messages::lang() {
            crate::messages::Lang::Zh => format!(
                "注意:没有找到本期的任务指标文件(查找了 {files}),任务得分和总分为空。请把各街道报送的指标按 surveys/indicators/TEMPLATE.csv 的格式(period, street_code, street_name, indicator, value;NA = 不适用,空白 = 未报送)存为 {},再运行一次。",
                ev.indicators_missing[0]
            ),
            crate::messages::Lang::En => format!(
                "NOTE: no task indicator file for this period (looked for {files}); task points and totals are empty. Put the streets' indicators in {} in the shape of surveys/indicators/TEMPLATE.csv (period, street_code, street_name, indicator, value; NA = not applicable, empty = not reported) and run again.",
                ev.indicators_missing[0]
            ),
        })?;
    }
    let mut rows: Vec<_> = ev.streets.iter().collect();
    rows.sort_by_key(|s| (s.rank.unwrap_or(usize::MAX), s.street_code.clone()));
    let ded: std::collections::BTreeMap<&str, &crate::evaluate::StreetDeduction> = ev
        .deductions
        .iter()
        .map(|d| (d.street_code.as_str(), d))
        .collect();
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    let year = matches!(ev.period, crate::round::Period::Year(_));
    t.set_header([
        tr("名次", "rank"),
        tr("街道", "street"),
        tr("满意度", "satisfaction"),
        if year {
            tr("上半年", "first half")
        } else {
            tr("满意度得分", "satisfaction points")
        },
        if year {
            tr("下半年", "second half")
        } else {
            tr("任务得分", "task points")
        },
        tr("总分(不含扣分)", "total (before deductions)"),
        tr("扣分(另计)", "deductions (separate)"),
        tr("说明", "note"),
    ]);
    for s in rows {
        let d = ded
            .get(s.street_code.as_str())
            .map(|d| format!("{:.1}", d.total))
            .unwrap_or_default();
        let (c3, c4) = if year {
            let (a, b) = s.halves.unwrap_or((None, None));
            (fmt1(a), fmt1(b))
        } else {
            (fmt1(s.satisfaction_points), fmt1(s.task_points))
        };
        let mut note = s.note.clone();
        if !s.missing.is_empty() {
            if !note.is_empty() {
                note.push_str("; ");
            }
            note.push_str(&format!(
                "{}: {}",
                tr("未报送", "not reported"),
                s.missing.join(" ")
            ));
        }
        t.add_row([
            s.rank.map(|r| r.to_string()).unwrap_or_else(|| "—".into()),
            s.street_name.clone(),
            fmt1(s.satisfaction_score),
            c3,
            c4,
            fmt1(s.total),
            d,
            note,
        ]);
    }
    stdout_line(&t.to_string())?;
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header([
        tr("街道", "street"),
        tr(
            "低于阈值的社区 (得分, 95% 置信区间)",
            "communities below the threshold (score, 95% CI)",
        ),
        tr("社区扣分", "community points"),
        tr("街道得分", "street score"),
        tr("街道扣分", "street points"),
        tr("合计", "total"),
    ]);
    for d in &ev.deductions {
        let list: Vec<String> = d
            .communities
            .iter()
            .map(|c| {
                format!(
                    "{}{} {:.1} ({}; p {}){}",
                    if c.counted { "" } else { "(" },
                    c.community_name,
                    c.score,
                    crate::messages::ci_text(c.ci, None),
                    c.p_below
                        .map(|p| format!("{p:.2}"))
                        .unwrap_or_else(|| "—".into()),
                    if c.counted {
                        ""
                    } else {
                        tr(",不计)", ", not counted)")
                    }
                )
            })
            .collect();
        t.add_row([
            d.street_name.clone(),
            list.join("; "),
            format!(
                "{:.1} ({} {:.1})",
                d.community_points,
                tr("上限", "cap"),
                d.cap
            ),
            fmt1(d.street_score),
            format!("{:.1}", d.street_points),
            format!("{:.1}", d.total),
        ]);
    }
    if !ev.deductions.is_empty() {
        stdout_line(tr(
            "扣分(计入年度综合目标考核,不从上表总分中减去):",
            "deductions (to the annual comprehensive target assessment; not subtracted from the totals above):",
        ))?;
        stdout_line(&t.to_string())?;
    }
    Ok(())
}
