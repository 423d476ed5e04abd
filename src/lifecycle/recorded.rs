//! Scores and evaluations written and journalled (the CLI's `score` and `evaluate`,
//! the portal's jobs, and an appeal's ruling all do them this one way).

use std::path::PathBuf;

use crate::error::Result;
use crate::round::{Period, RoundId};
use crate::workspace::Workspace;

/// `manyi score`: scores of `round` written to `reports/<round>/` and journalled.
pub fn score_recorded(
    ws: &Workspace,
    round: &RoundId,
    actor: &str,
) -> Result<(crate::score::rounds::Scores, Vec<PathBuf>)> {
    score_recorded_with(ws, round, actor, &|_, _| {})
}

pub fn score_recorded_with(
    ws: &Workspace,
    round: &RoundId,
    actor: &str,
    progress: &dyn Fn(f64, &str),
) -> Result<(crate::score::rounds::Scores, Vec<PathBuf>)> {
    progress(0.05, "读取问卷并计算得分");
    let rules = ws.rules()?;
    let frame = ws.frame()?;
    let scores = crate::score::rounds::score_round(ws, &rules, &frame, round)?;
    progress(0.8, "写入得分文件");
    let files = crate::journal::write_recorded(
        ws,
        actor,
        "score",
        &round.to_string(),
        &[*round],
        &[],
        || scores.write(ws),
    )?;
    Ok((scores, files))
}

/// `manyi evaluate`: the evaluation of `period` written to `reports/<period>/` and
/// journalled.
pub fn evaluate_recorded(
    ws: &Workspace,
    period: &Period,
    actor: &str,
) -> Result<(crate::evaluate::Evaluation, Vec<PathBuf>)> {
    evaluate_recorded_with(ws, period, actor, &|_, _| {})
}

pub fn evaluate_recorded_with(
    ws: &Workspace,
    period: &Period,
    actor: &str,
    progress: &dyn Fn(f64, &str),
) -> Result<(crate::evaluate::Evaluation, Vec<PathBuf>)> {
    progress(0.05, "计算满意度、任务指标与扣分");
    let ev = crate::evaluate::evaluate(ws, period)?;
    progress(0.8, "写入评价文件");
    let rounds = ev
        .rounds
        .iter()
        .map(|r| r.parse())
        .collect::<Result<Vec<RoundId>>>()?;
    let files = crate::journal::write_recorded(
        ws,
        actor,
        "evaluate",
        &period.to_string(),
        &rounds,
        &crate::lifecycle::evaluation_inputs(ws, period),
        || ev.write(ws),
    )?;
    Ok((ev, files))
}
