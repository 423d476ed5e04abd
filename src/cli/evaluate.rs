//! `manyi evaluate`: street evaluations and deductions of a quarter, half-year or year.

use std::process::ExitCode;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use super::{fmt1, stdout_line};
use crate::error::Result;
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
    let ev = crate::evaluate::evaluate(ws, &period)?;
    let files = ev.write(ws)?;
    print_evaluation(&ev)?;
    for f in files {
        stdout_line(&format!("wrote {}", f.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn print_evaluation(ev: &crate::evaluate::Evaluation) -> Result<()> {
    stdout_line(&format!(
        "evaluation {}: satisfaction from {} ({}); indicators: {}",
        ev.period,
        if ev.rounds.is_empty() {
            "no round".to_string()
        } else {
            ev.rounds.join(", ")
        },
        ev.satisfaction_basis,
        ev.indicators_source
    ))?;
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
    if year {
        t.set_header([
            "名次",
            "街道",
            "满意度",
            "上半年",
            "下半年",
            "总分",
            "扣分",
            "说明",
        ]);
    } else {
        t.set_header([
            "名次",
            "街道",
            "满意度",
            "满意度得分",
            "任务得分",
            "总分",
            "扣分",
            "说明",
        ]);
    }
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
            note.push_str(&format!("未报送 missing: {}", s.missing.join(" ")));
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
        "街道",
        "低于阈值的社区 (得分, 95% CI)",
        "社区扣分",
        "街道得分",
        "街道扣分",
        "合计",
    ]);
    for d in &ev.deductions {
        let list: Vec<String> = d
            .communities
            .iter()
            .map(|c| {
                format!(
                    "{}{} {:.1} ({}){}",
                    if c.counted { "" } else { "(" },
                    c.community_name,
                    c.score,
                    c.ci.map(|(l, h)| format!("{l:.1}–{h:.1}"))
                        .unwrap_or_else(|| "—".into()),
                    if c.counted { "" } else { ", not counted)" }
                )
            })
            .collect();
        t.add_row([
            d.street_name.clone(),
            list.join("; "),
            format!("{:.1} (cap {:.1})", d.community_points, d.cap),
            fmt1(d.street_score),
            format!("{:.1}", d.street_points),
            format!("{:.1}", d.total),
        ]);
    }
    if !ev.deductions.is_empty() {
        stdout_line("扣分 deductions (annual comprehensive target assessment):")?;
        stdout_line(&t.to_string())?;
    }
    Ok(())
}
