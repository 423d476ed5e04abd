//! Evaluations of streets (街道考核) for a quarter, half-year or year: the satisfaction
//! part from the period's round scores, task indicators (考核指标) reported by streets,
//! and the deductions (扣分) for the annual comprehensive target assessment.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::round::{Period, RoundId};
use crate::rules::{Indicator, Method, Per, Rules};
use crate::score::rounds::{Scores, score_rounds};
use crate::store::Store;
use crate::workspace::Workspace;

mod indicators;
mod write;

pub use indicators::*;

/// The target of an indicator for a street in a period (half-year counts halved for a quarter).
pub fn target(ind: &Indicator, street: &str, period: &Period) -> f64 {
    let t = ind
        .target_by_street
        .get(street)
        .copied()
        .unwrap_or(ind.target);
    match (period, ind.per) {
        (Period::Quarter(..), Per::HalfYear) => t / 2.0,
        _ => t,
    }
}

/// Points earned on one indicator (never above its full points).
pub fn points(ind: &Indicator, value: f64, target: f64) -> f64 {
    let p = match ind.method {
        Method::PassFail => {
            if value >= target {
                ind.points
            } else {
                0.0
            }
        }
        Method::RatioCapped => ind.points * (value / target).clamp(0.0, 1.0),
        Method::Penalty => (ind.points - ind.penalty * value.max(0.0)).max(0.0),
    };
    p.clamp(0.0, ind.points)
}

#[derive(Debug, Clone)]
pub struct IndicatorResult {
    pub id: String,
    pub value: Value,
    pub target: f64,
    /// None when not applicable.
    pub points: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct StreetEvaluation {
    pub street_code: String,
    pub street_name: String,
    pub satisfaction_score: Option<f64>,
    pub satisfaction_points: Option<f64>,
    pub indicators: Vec<IndicatorResult>,
    pub task_points: Option<f64>,
    /// Year only: the two half-years' totals.
    pub halves: Option<(Option<f64>, Option<f64>)>,
    pub total: Option<f64>,
    pub rank: Option<usize>,
    pub missing: Vec<String>,
    pub note: String,
}

/// One row of the deduction table.
#[derive(Debug, Clone)]
pub struct DeductionCommunity {
    pub community_code: String,
    pub community_name: String,
    pub score: f64,
    pub ci: Option<(f64, f64)>,
    pub below_point: bool,
    pub below_ci: bool,
    pub counted: bool,
    /// P(true score < threshold): how sure the deduction is.
    pub p_below: Option<f64>,
    /// The appeal that waived its points (counted, but no points).
    pub waived: Option<String>,
}

#[derive(Debug, Clone)]
pub struct StreetDeduction {
    pub street_code: String,
    pub street_name: String,
    pub communities: Vec<DeductionCommunity>,
    pub community_points: f64,
    pub points_per_community: f64,
    pub cap: f64,
    pub street_score: Option<f64>,
    pub street_below: bool,
    pub street_points: f64,
    /// The appeal that waived the street-level points.
    pub street_waived: Option<String>,
    pub total: f64,
}

#[derive(Debug, Clone)]
pub struct Evaluation {
    pub period: Period,
    pub rounds: Vec<String>,
    /// What the satisfaction part rests on (e.g. carried from an earlier round).
    pub satisfaction_basis: String,
    pub indicators_source: String,
    /// When the period has no indicators: the files looked for (relative to the
    /// workspace), so a person knows what to put where.
    pub indicators_missing: Vec<String>,
    pub streets: Vec<StreetEvaluation>,
    pub deductions: Vec<StreetDeduction>,
    pub scores: Option<Scores>,
}

/// Rounds of the year that hold stored questionnaires, with their quarter.
fn held_rounds(ws: &Workspace, rules: &Rules, year: i32) -> Result<Vec<(RoundId, u32)>> {
    let store = Store::new(ws);
    let index = store.read_index()?;
    let mut out = Vec::new();
    for (i, q) in rules.sampling.calendar.iter().enumerate() {
        let r = RoundId {
            year,
            number: i as u32 + 1,
        };
        if !store.deliveries(&index, &r).is_empty() {
            out.push((r, *q));
        }
    }
    Ok(out)
}

/// The rounds whose scores make the satisfaction part of `period`, and how they were chosen.
fn satisfaction_rounds(
    held: &[(RoundId, u32)],
    period: &Period,
    rules: &Rules,
) -> (Vec<RoundId>, String) {
    let last_q = *period.quarters().last().expect("a period has quarters"); // ok: by construction
    match period {
        Period::Quarter(..) => {
            let rs: Vec<RoundId> = held
                .iter()
                .filter(|(_, q)| *q <= last_q)
                .map(|(r, _)| *r)
                .collect();
            let basis = if rs.is_empty() {
                crate::lang::t("本年尚未进行调查", "no round held so far this year").into()
            } else {
                crate::lang::t("本年已进行的各轮调查", "rounds held so far this year").into()
            };
            (rs, basis)
        }
        Period::Half(..) => {
            let qs = period.quarters();
            let rs: Vec<RoundId> = held
                .iter()
                .filter(|(_, q)| qs.contains(q))
                .map(|(r, _)| *r)
                .collect();
            if !rs.is_empty() {
                return (
                    rs,
                    crate::lang::t("本半年的各轮调查", "rounds of the half-year").into(),
                );
            }
            if rules.evaluation.carry_latest_round
                && let Some((r, _)) = held.iter().filter(|(_, q)| *q <= last_q).last()
            {
                return (
                    vec![*r],
                    crate::lang::tr!(
                        "本半年没有调查：沿用本年最近一轮 {r}",
                        "no round in the half-year: carries {r}, the latest round of the year"
                    ),
                );
            }
            (
                vec![],
                crate::lang::t("本半年没有调查", "no round in the half-year").into(),
            )
        }
        Period::Year(..) => {
            let rs: Vec<RoundId> = held.iter().map(|(r, _)| *r).collect();
            let basis = if rs.is_empty() {
                crate::lang::t("本年没有调查", "no round this year").into()
            } else {
                crate::lang::t("本年全部各轮调查", "all rounds of the year").into()
            };
            (rs, basis)
        }
    }
}

/// The waivers of `period` (`surveys/appeals/waivers.json`; none when there is none).
pub fn waivers(ws: &Workspace, period: &Period) -> Result<Vec<crate::rows::Waiver>> {
    let p = waivers_path(ws);
    if !p.is_file() {
        return Ok(Vec::new());
    }
    let all: Vec<crate::rows::Waiver> = serde_json::from_slice(&crate::fsutil::read(&p)?)
        .map_err(|e| Error::file(ws.rel(&p), e.to_string()))?;
    let label = period.to_string();
    Ok(all.into_iter().filter(|w| w.period == label).collect())
}

/// Where the upheld appeals' waivers are kept.
pub fn waivers_path(ws: &Workspace) -> std::path::PathBuf {
    ws.root.join("surveys").join("appeals").join("waivers.json")
}

/// Each street's deduction lines: its communities below the threshold (counted as the
/// rules say; a waived one keeps its row, without points) and its street-level line.
/// Community points are capped after waivers: a waiver lowers the total by the line's
/// points only where the cap did not already absorb them.
fn deductions(
    scores: &Scores,
    rules: &Rules,
    waived: &[crate::rows::Waiver],
) -> Vec<StreetDeduction> {
    let t = &rules.threshold;
    let waiver = |street: &str, community: Option<&str>| {
        waived
            .iter()
            .find(|w| w.street_code == street && w.community_code.as_deref() == community)
            .map(|w| w.appeal.clone())
    };
    scores
        .streets
        .iter()
        .map(|s| {
            let communities: Vec<DeductionCommunity> = scores
                .communities
                .iter()
                .filter(|c| {
                    c.street_code == s.street_code
                        && (c.below_point == Some(true) || c.below_ci == Some(true))
                })
                .map(|c| {
                    let e = c
                        .est
                        .as_ref()
                        .expect("below flags only on scored communities"); // ok: below_* is set only with an estimate
                    DeductionCommunity {
                        community_code: c.community_code.clone(),
                        community_name: c.community_name.clone(),
                        score: e.mean,
                        ci: e.ci,
                        below_point: c.below_point == Some(true),
                        below_ci: c.below_ci == Some(true),
                        counted: c.below_threshold == Some(true),
                        p_below: c.p_below,
                        waived: waiver(&s.street_code, Some(&c.community_code)),
                    }
                })
                .collect();
            let charged = communities
                .iter()
                .filter(|c| c.counted && c.waived.is_none())
                .count();
            let community_points = (charged as f64 * t.points_per_community).min(t.cap_per_street);
            let street_score = s.est.as_ref().map(|e| e.mean);
            let street_below = street_score
                .map(|x| x < t.street_score_below)
                .unwrap_or(false);
            let street_waived = if street_below {
                waiver(&s.street_code, None)
            } else {
                None
            };
            let street_points = if street_below && street_waived.is_none() {
                t.street_points
            } else {
                0.0
            };
            StreetDeduction {
                street_code: s.street_code.clone(),
                street_name: s.street_name.clone(),
                communities,
                community_points,
                points_per_community: t.points_per_community,
                cap: t.cap_per_street,
                street_score,
                street_below,
                street_points,
                street_waived,
                total: community_points + street_points,
            }
        })
        .collect()
}

/// Competition ranking (1, 2, 2, 4) by total, highest first; streets without a total
/// are not ranked.
fn rank(streets: &mut [StreetEvaluation]) {
    let totals: Vec<Option<f64>> = streets.iter().map(|s| s.total).collect();
    for (i, s) in streets.iter_mut().enumerate() {
        s.rank = totals[i].map(|t| 1 + totals.iter().flatten().filter(|o| **o > t).count());
    }
}

/// Evaluates a quarter or half-year.
/// The error of a quarter or half-year with neither a round nor indicators.
fn no_data(ws: &Workspace, period: &Period) -> Error {
    let file = ws.rel(&ws.indicators_dir().join(format!("{period}.csv")));
    Error::Invalid(crate::messages::tr!(
        "{period} 没有可评价的数据：既没有已入库问卷的调查轮次，也没有报送的指标（{file}）；请等数据入库或指标报送后再评价",
        "period {period} has no data: no round with stored questionnaires and no indicators (looked for {file})"
    ))
}

/// For each of `periods`, whether evaluating it can give a result today: a round with
/// stored questionnaires counts for it, or one of its indicator files is there (a
/// malformed one counts: evaluating says what is wrong with it). The desk offers 评价
/// only then. Reads the rules and the store's index once per year, no indicator file.
pub fn has_data(ws: &Workspace, periods: &[Period]) -> Result<Vec<bool>> {
    let rules = ws.rules()?;
    let mut held: BTreeMap<i32, Vec<(RoundId, u32)>> = BTreeMap::new();
    let mut out = Vec::with_capacity(periods.len());
    for period in periods {
        let y = period.year();
        if !held.contains_key(&y) {
            held.insert(y, held_rounds(ws, &rules, y)?);
        }
        let held = &held[&y];
        let part = |p: &Period| -> bool {
            !satisfaction_rounds(held, p, &rules).0.is_empty()
                || indicator_files(ws, p)
                    .iter()
                    .any(|f| ws.root.join(f).is_file())
        };
        out.push(match period {
            Period::Year(y) => {
                !satisfaction_rounds(held, period, &rules).0.is_empty()
                    || part(&Period::Half(*y, 1))
                    || part(&Period::Half(*y, 2))
            }
            _ => part(period),
        });
    }
    Ok(out)
}

/// A quarter's or half-year's evaluation; `Ok(None)` when the period has neither a
/// round nor indicators (every other failure, a malformed indicator file above all,
/// is an error).
fn evaluate_part(
    ws: &Workspace,
    rules: &Rules,
    frame: &Frame,
    period: &Period,
    held: &[(RoundId, u32)],
) -> Result<Option<Evaluation>> {
    let (rounds, basis) = satisfaction_rounds(held, period, rules);
    let indicators = indicators_for(ws, period, rules, frame)?;
    if rounds.is_empty() && indicators.is_none() {
        return Ok(None);
    }
    let scores = if rounds.is_empty() {
        None
    } else {
        Some(score_rounds(
            ws,
            rules,
            frame,
            &rounds,
            &period.to_string(),
        )?)
    };
    let ev = &rules.evaluation;
    let mut streets = Vec::new();
    for (code, st) in &frame.streets {
        let sat = scores
            .as_ref()
            .and_then(|s| s.streets.iter().find(|x| &x.street_code == code))
            .and_then(|x| x.est.as_ref())
            .map(|e| e.mean);
        let mut note = Vec::new();
        if sat.is_none() {
            note.push(crate::lang::tr!(
                "没有满意度得分（{basis}）",
                "no satisfaction score ({basis})"
            ));
        }
        let mut results = Vec::new();
        let mut missing = Vec::new();
        let (mut earned, mut applicable) = (0.0, 0.0);
        for ind in &ev.indicators {
            let tgt = target(ind, code, period);
            let mut value = match &indicators {
                Some(i) => i
                    .values
                    .get(&(code.clone(), ind.id.clone()))
                    .copied()
                    .unwrap_or(Value::Missing),
                None => Value::Missing,
            };
            if !ind.applies_to.is_empty() && !ind.applies_to.contains(code) {
                value = Value::NotApplicable;
            }
            let pts = match value {
                Value::NotApplicable => None,
                Value::Missing => {
                    missing.push(ind.id.clone());
                    Some(0.0)
                }
                Value::Number(v) => Some(points(ind, v, tgt)),
            };
            if let Some(p) = pts {
                earned += p;
                applicable += ind.points;
            }
            results.push(IndicatorResult {
                id: ind.id.clone(),
                value,
                target: tgt,
                points: pts,
            });
        }
        let task_points = if indicators.is_none() {
            note.push(
                crate::lang::t("本期未报送指标", "no indicators reported for the period").into(),
            );
            None
        } else if applicable > 0.0 {
            Some(earned * ev.task_points / applicable)
        } else {
            note.push(
                crate::lang::t("各项指标均不适用", "every indicator is not applicable").into(),
            );
            None
        };
        let satisfaction_points = sat.map(|s| ev.satisfaction_points * s / 100.0);
        let total = match (satisfaction_points, task_points) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
        streets.push(StreetEvaluation {
            street_code: code.clone(),
            street_name: st.name.clone(),
            satisfaction_score: sat,
            satisfaction_points,
            indicators: results,
            task_points,
            halves: None,
            total,
            rank: None,
            missing,
            note: note.join(crate::lang::t("；", "; ")),
        });
    }
    rank(&mut streets);
    Ok(Some(Evaluation {
        period: *period,
        rounds: rounds.iter().map(|r| r.to_string()).collect(),
        satisfaction_basis: basis,
        indicators_missing: if indicators.is_none() {
            indicator_files(ws, period)
        } else {
            Vec::new()
        },
        indicators_source: indicators
            .map(|i| i.source)
            .unwrap_or_else(|| crate::lang::t("无", "none").into()),
        deductions: match &scores {
            Some(s) => deductions(s, rules, &waivers(ws, period)?),
            None => Vec::new(),
        },
        streets,
        scores,
    }))
}

/// `manyi evaluate --period P`.
pub fn evaluate(ws: &Workspace, period: &Period) -> Result<Evaluation> {
    let rules = ws.rules()?;
    let frame = ws.frame()?;
    let held = held_rounds(ws, &rules, period.year())?;
    match period {
        Period::Quarter(..) | Period::Half(..) => {
            evaluate_part(ws, &rules, &frame, period, &held)?.ok_or_else(|| no_data(ws, period))
        }
        Period::Year(y) => {
            let h1 = evaluate_part(ws, &rules, &frame, &Period::Half(*y, 1), &held)?;
            let h2 = evaluate_part(ws, &rules, &frame, &Period::Half(*y, 2), &held)?;
            let (rounds, basis) = satisfaction_rounds(&held, period, &rules);
            if rounds.is_empty() && h1.is_none() && h2.is_none() {
                return Err(Error::Invalid(crate::messages::tr!(
                    "{y} 年没有可评价的数据：既没有已入库问卷的调查轮次，也没有半年评价",
                    "year {y} has no data: no round with stored questionnaires and no half-year evaluation"
                )));
            }
            let scores = if rounds.is_empty() {
                None
            } else {
                Some(score_rounds(
                    ws,
                    &rules,
                    &frame,
                    &rounds,
                    &period.to_string(),
                )?)
            };
            let w = &rules.evaluation.half_year_weights;
            let total_of = |e: &Option<Evaluation>, code: &str| {
                e.as_ref()
                    .and_then(|e| e.streets.iter().find(|s| s.street_code == code))
                    .and_then(|s| s.total)
            };
            let mut streets = Vec::new();
            for (code, st) in &frame.streets {
                let (a, b) = (total_of(&h1, code), total_of(&h2, code));
                let total = match (a, b) {
                    (Some(a), Some(b)) => Some(w[0] * a + w[1] * b),
                    _ => None,
                };
                let mut note = Vec::new();
                for (name, e, v) in [
                    (crate::lang::t("上半年", "H1"), &h1, a),
                    (crate::lang::t("下半年", "H2"), &h2, b),
                ] {
                    if v.is_none() {
                        note.push(match e {
                            None => crate::lang::tr!("{name}没有数据", "{name}: no data"),
                            Some(_) => crate::lang::tr!("{name}没有总分", "{name}: no total"),
                        });
                    }
                }
                streets.push(StreetEvaluation {
                    street_code: code.clone(),
                    street_name: st.name.clone(),
                    satisfaction_score: scores
                        .as_ref()
                        .and_then(|s| s.streets.iter().find(|x| &x.street_code == code))
                        .and_then(|x| x.est.as_ref())
                        .map(|e| e.mean),
                    satisfaction_points: None,
                    indicators: Vec::new(),
                    task_points: None,
                    halves: Some((a, b)),
                    total,
                    rank: None,
                    missing: Vec::new(),
                    note: note.join(crate::lang::t("；", "; ")),
                });
            }
            rank(&mut streets);
            Ok(Evaluation {
                period: *period,
                rounds: rounds.iter().map(|r| r.to_string()).collect(),
                satisfaction_basis: basis,
                indicators_source: crate::lang::t("两个半年的评价", "half-year evaluations").into(),
                indicators_missing: Vec::new(),
                deductions: match &scores {
                    Some(s) => deductions(s, &rules, &waivers(ws, period)?),
                    None => Vec::new(),
                },
                streets,
                scores,
            })
        }
    }
}
