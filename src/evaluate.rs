//! Evaluations of streets (街道考核) for a quarter, half-year or year: the satisfaction
//! part from the period's round scores, task indicators (考核指标) reported by streets,
//! and the deductions (扣分) for the annual comprehensive target assessment.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::round::{Period, RoundId};
use crate::rules::{Indicator, Method, Per, Rules};
use crate::score::rounds::{Scores, score_rounds};
use crate::store::Store;
use crate::workspace::Workspace;

/// A reported indicator value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Number(f64),
    /// Not applicable (NA): left out, the other task points scaled up.
    NotApplicable,
    /// Not reported: scores 0 and is listed.
    Missing,
}

/// Indicator values of a period: (street code, indicator id) → value.
#[derive(Debug, Clone)]
pub struct Indicators {
    pub values: BTreeMap<(String, String), Value>,
    /// Where they came from, for the output: the file, or "derived from …".
    pub source: String,
}

/// Reads `surveys/indicators/<period>.csv` (period, street_code, street_name, indicator,
/// value). A value that is not a number, NA or empty is an error naming line and column.
pub fn read_indicators(
    path: &Path,
    period: &Period,
    rules: &Rules,
    frame: &Frame,
) -> Result<BTreeMap<(String, String), Value>> {
    let file = path.display().to_string();
    let csv = crate::fsutil::CsvRecords::read(path)?;
    let need = |n: &str| csv.require(n, "column");
    let (ci_street, ci_ind, ci_val) = (need("street_code")?, need("indicator")?, need("value")?);
    let ci_period = csv.column("period");
    let mut out = BTreeMap::new();
    let mut first_line: BTreeMap<(String, String), u64> = BTreeMap::new();
    for (line, rec) in &csv.rows {
        let line = *line;
        if rec.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let get = |i: usize| rec.get(i).unwrap_or("").trim().to_string();
        if let Some(i) = ci_period {
            let p = get(i);
            if !p.is_empty() && p.to_uppercase() != period.to_string() {
                return Err(Error::input(
                    &file,
                    line,
                    Some("period"),
                    format!("period {p:?} in a file for {period}"),
                ));
            }
        }
        let street = get(ci_street);
        if !frame.streets.contains_key(&street) {
            return Err(Error::input(
                &file,
                line,
                Some("street_code"),
                format!("street code {street:?} is not in the frame"),
            ));
        }
        let ind = get(ci_ind);
        if !rules.evaluation.indicators.iter().any(|i| i.id == ind) {
            return Err(Error::input(
                &file,
                line,
                Some("indicator"),
                format!(
                    "indicator {ind:?} is not in the rules ({})",
                    rules
                        .evaluation
                        .indicators
                        .iter()
                        .map(|i| i.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let raw = get(ci_val);
        let value = if raw.is_empty() {
            Value::Missing
        } else if raw.eq_ignore_ascii_case("NA")
            || raw.eq_ignore_ascii_case("N/A")
            || raw == "不适用"
        {
            Value::NotApplicable
        } else {
            match crate::ingest::normalise::clean(&raw)
                .trim_end_matches('%')
                .parse::<f64>()
            {
                Ok(v) if v.is_finite() => Value::Number(v),
                _ => {
                    return Err(Error::input(
                        &file,
                        line,
                        Some("value"),
                        format!(
                            "{raw:?} is not a number (NA = not applicable, empty = not reported)"
                        ),
                    ));
                }
            }
        };
        let key = (street, ind);
        if let Some(first) = first_line.insert(key.clone(), line) {
            return Err(Error::input(
                &file,
                line,
                None,
                format!("street {} indicator {} repeats line {first}", key.0, key.1),
            ));
        }
        out.insert(key, value);
    }
    Ok(out)
}

/// Indicators of a quarter or half-year: the period's own file, or for a half-year the
/// two quarters' files combined (counts add up, ratios and percentages are averaged).
/// The indicator files a period can rest on: its own, or for a half-year its two
/// quarters' (relative to the workspace).
pub fn indicator_files(ws: &Workspace, period: &Period) -> Vec<String> {
    let f = |p: &Period| rel(ws, &ws.indicators_dir().join(format!("{p}.csv")));
    match *period {
        Period::Half(y, h) => vec![
            f(period),
            f(&Period::Quarter(y, 2 * h - 1)),
            f(&Period::Quarter(y, 2 * h)),
        ],
        _ => vec![f(period)],
    }
}

pub fn indicators_for(
    ws: &Workspace,
    period: &Period,
    rules: &Rules,
    frame: &Frame,
) -> Result<Option<Indicators>> {
    let path = |p: &Period| ws.indicators_dir().join(format!("{p}.csv"));
    let own = path(period);
    if own.is_file() {
        return Ok(Some(Indicators {
            values: read_indicators(&own, period, rules, frame)?,
            source: rel(ws, &own),
        }));
    }
    let Period::Half(y, h) = *period else {
        return Ok(None);
    };
    let (qa, qb) = (Period::Quarter(y, 2 * h - 1), Period::Quarter(y, 2 * h));
    if !(path(&qa).is_file() && path(&qb).is_file()) {
        return Ok(None);
    }
    let a = read_indicators(&path(&qa), &qa, rules, frame)?;
    let b = read_indicators(&path(&qb), &qb, rules, frame)?;
    let mut values = BTreeMap::new();
    for key in a.keys().chain(b.keys()).collect::<BTreeSet<_>>() {
        let ind = rules
            .evaluation
            .indicators
            .iter()
            .find(|i| i.id == key.1)
            .expect("checked on read"); // ok: read_indicators refuses unknown ids
        let (va, vb) = (
            a.get(key).copied().unwrap_or(Value::Missing),
            b.get(key).copied().unwrap_or(Value::Missing),
        );
        let adds = matches!(ind.per, Per::HalfYear | Per::Count);
        let v = match (va, vb) {
            (Value::Number(x), Value::Number(z)) => {
                Value::Number(if adds { x + z } else { (x + z) / 2.0 })
            }
            (Value::NotApplicable, Value::NotApplicable) => Value::NotApplicable,
            (Value::Number(x), Value::NotApplicable) | (Value::NotApplicable, Value::Number(x)) => {
                Value::Number(x)
            }
            _ => Value::Missing,
        };
        values.insert(key.clone(), v);
    }
    Ok(Some(Indicators {
        values,
        source: format!(
            "derived from {} and {} (counts added, ratios averaged)",
            rel(ws, &path(&qa)),
            rel(ws, &path(&qb))
        ),
    }))
}

fn rel(ws: &Workspace, p: &Path) -> String {
    p.strip_prefix(&ws.root).unwrap_or(p).display().to_string()
}

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
                "no round held so far this year".into()
            } else {
                "rounds held so far this year".into()
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
                return (rs, "rounds of the half-year".into());
            }
            if rules.evaluation.carry_latest_round
                && let Some((r, _)) = held.iter().filter(|(_, q)| *q <= last_q).last()
            {
                return (
                    vec![*r],
                    format!("no round in the half-year: carries {r}, the latest round of the year"),
                );
            }
            (vec![], "no round in the half-year".into())
        }
        Period::Year(..) => {
            let rs: Vec<RoundId> = held.iter().map(|(r, _)| *r).collect();
            let basis = if rs.is_empty() {
                "no round this year".into()
            } else {
                "all rounds of the year".into()
            };
            (rs, basis)
        }
    }
}

fn deductions(scores: &Scores, rules: &Rules) -> Vec<StreetDeduction> {
    let t = &rules.threshold;
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
                    }
                })
                .collect();
            let counted = communities.iter().filter(|c| c.counted).count();
            let community_points = (counted as f64 * t.points_per_community).min(t.cap_per_street);
            let street_score = s.est.as_ref().map(|e| e.mean);
            let street_below = street_score
                .map(|x| x < t.street_score_below)
                .unwrap_or(false);
            let street_points = if street_below { t.street_points } else { 0.0 };
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
    Error::Invalid(format!(
        "period {period} has no data: no round with stored questionnaires and no indicators \
         (looked for {})",
        rel(ws, &ws.indicators_dir().join(format!("{period}.csv")))
    ))
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
            note.push(format!("no satisfaction score ({basis})"));
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
            note.push("no indicators reported for the period".into());
            None
        } else if applicable > 0.0 {
            Some(earned * ev.task_points / applicable)
        } else {
            note.push("every indicator is not applicable".into());
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
            note: note.join("; "),
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
            .unwrap_or_else(|| "none".into()),
        deductions: scores
            .as_ref()
            .map(|s| deductions(s, rules))
            .unwrap_or_default(),
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
                return Err(Error::Invalid(format!(
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
                for (name, e, v) in [("H1", &h1, a), ("H2", &h2, b)] {
                    if v.is_none() {
                        note.push(match e {
                            None => format!("{name}: no data"),
                            Some(_) => format!("{name}: no total"),
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
                    note: note.join("; "),
                });
            }
            rank(&mut streets);
            Ok(Evaluation {
                period: *period,
                rounds: rounds.iter().map(|r| r.to_string()).collect(),
                satisfaction_basis: basis,
                indicators_source: "half-year evaluations".into(),
                indicators_missing: Vec::new(),
                deductions: scores
                    .as_ref()
                    .map(|s| deductions(s, &rules))
                    .unwrap_or_default(),
                streets,
                scores,
            })
        }
    }
}

fn num(x: Option<f64>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

fn write_csv(path: &Path, header: Vec<String>, rows: Vec<Vec<String>>) -> Result<()> {
    crate::fsutil::write_atomic(path, &crate::fsutil::csv_bytes(header, rows, false)?)
}

impl Evaluation {
    /// Writes street_evaluation.csv, deductions.csv and the period's score CSVs under
    /// `reports/<period>/`.
    pub fn write(&self, ws: &Workspace) -> Result<Vec<PathBuf>> {
        let dir = ws.reports_dir().join(self.period.to_string());
        let mut files = Vec::new();
        if let Some(s) = &self.scores {
            files.extend(s.write(ws)?);
        }
        let p = dir.join("street_evaluation.csv");
        let period = self.period.to_string();
        let rounds = self.rounds.join(" ");
        if let Period::Year(_) = self.period {
            let header = [
                "period",
                "street_code",
                "street_name",
                "rounds",
                "satisfaction_score",
                "h1_total",
                "h2_total",
                "total",
                "rank",
                "note",
            ];
            let rows = self
                .streets
                .iter()
                .map(|s| {
                    let (a, b) = s.halves.unwrap_or((None, None));
                    vec![
                        period.clone(),
                        s.street_code.clone(),
                        s.street_name.clone(),
                        rounds.clone(),
                        num(s.satisfaction_score),
                        num(a),
                        num(b),
                        num(s.total),
                        s.rank.map(|r| r.to_string()).unwrap_or_default(),
                        s.note.clone(),
                    ]
                })
                .collect();
            write_csv(&p, header.iter().map(|h| h.to_string()).collect(), rows)?;
        } else {
            let mut header: Vec<String> = [
                "period",
                "street_code",
                "street_name",
                "rounds",
                "satisfaction_score",
                "satisfaction_points",
            ]
            .iter()
            .map(|h| h.to_string())
            .collect();
            if let Some(s) = self.streets.first() {
                for i in &s.indicators {
                    for suffix in ["value", "target", "points"] {
                        header.push(format!("{}_{suffix}", i.id));
                    }
                }
            }
            for h in [
                "task_points",
                "total",
                "rank",
                "indicators_source",
                "missing_indicators",
                "note",
            ] {
                header.push(h.to_string());
            }
            let rows = self
                .streets
                .iter()
                .map(|s| {
                    let mut r = vec![
                        period.clone(),
                        s.street_code.clone(),
                        s.street_name.clone(),
                        rounds.clone(),
                        num(s.satisfaction_score),
                        num(s.satisfaction_points),
                    ];
                    for i in &s.indicators {
                        r.push(match i.value {
                            Value::Number(v) => v.to_string(),
                            Value::NotApplicable => "NA".into(),
                            Value::Missing => String::new(),
                        });
                        r.push(i.target.to_string());
                        r.push(num(i.points));
                    }
                    r.extend([
                        num(s.task_points),
                        num(s.total),
                        s.rank.map(|r| r.to_string()).unwrap_or_default(),
                        self.indicators_source.clone(),
                        s.missing.join(" "),
                        s.note.clone(),
                    ]);
                    r
                })
                .collect();
            write_csv(&p, header, rows)?;
        }
        files.push(p);
        let p = dir.join("deductions.csv");
        let header = [
            "period",
            "row_type",
            "street_code",
            "street_name",
            "community_code",
            "community_name",
            "score",
            "ci_low",
            "ci_high",
            "below_point",
            "below_ci",
            "counted",
            "points",
            "cap",
            "street_score",
            "street_below",
            "street_points",
            "total",
            "p_below",
        ];
        let mut rows = Vec::new();
        for d in &self.deductions {
            for c in &d.communities {
                rows.push(vec![
                    period.clone(),
                    "community".into(),
                    d.street_code.clone(),
                    d.street_name.clone(),
                    c.community_code.clone(),
                    c.community_name.clone(),
                    c.score.to_string(),
                    num(c.ci.map(|x| x.0)),
                    num(c.ci.map(|x| x.1)),
                    c.below_point.to_string(),
                    c.below_ci.to_string(),
                    c.counted.to_string(),
                    if c.counted {
                        d.points_per_community.to_string()
                    } else {
                        "0".into()
                    },
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                    num(c.p_below),
                ]);
            }
            rows.push(vec![
                period.clone(),
                "street".into(),
                d.street_code.clone(),
                d.street_name.clone(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                d.communities
                    .iter()
                    .filter(|c| c.counted)
                    .count()
                    .to_string(),
                d.community_points.to_string(),
                d.cap.to_string(),
                num(d.street_score),
                d.street_below.to_string(),
                d.street_points.to_string(),
                d.total.to_string(),
                String::new(),
            ]);
        }
        write_csv(&p, header.iter().map(|h| h.to_string()).collect(), rows)?;
        files.push(p);
        Ok(files)
    }
}

/// The indicator files of the workspace (`surveys/indicators/*.csv`), sorted; none when
/// the folder does not exist.
pub fn indicator_file_names(ws: &Workspace) -> Result<Vec<String>> {
    let dir = ws.indicators_dir();
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files = Vec::new();
    for e in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
        let name = e
            .map_err(|e| Error::io(&dir, e))?
            .file_name()
            .to_string_lossy()
            .to_string();
        if name.ends_with(".csv") && !name.starts_with('.') {
            files.push(name);
        }
    }
    files.sort();
    Ok(files)
}

/// What `import_indicators` stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImportedIndicators {
    pub period: String,
    /// Relative to the workspace.
    pub path: String,
    /// (street, indicator) values read.
    pub values: usize,
    /// Whether an earlier file of the period was replaced.
    pub replaced: bool,
}

/// Stores a period's indicator file delivered by the streets (CSV in UTF-8 or GBK, or
/// the first sheet of an XLSX workbook) as `surveys/indicators/<period>.csv`, after the
/// same checks `evaluate` makes (a bad value is an error naming its line and column;
/// nothing is stored then). Journalled as `indicators`.
pub fn import_indicators(
    ws: &Workspace,
    period: &Period,
    path: &Path,
    file_name: &str,
    actor: &str,
) -> Result<ImportedIndicators> {
    let raw = crate::fsutil::read(path)?;
    let csv = if raw.starts_with(b"PK\x03\x04") {
        crate::ingest::xlsx_to_csv(path, file_name)?
    } else {
        let body = raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&raw);
        match std::str::from_utf8(body) {
            Ok(s) => s.as_bytes().to_vec(),
            Err(_) => {
                let (text, _, bad) = encoding_rs::GB18030.decode(body);
                if bad {
                    return Err(Error::file(
                        file_name,
                        "neither UTF-8 nor GBK text: save it as CSV (UTF-8) or XLSX",
                    ));
                }
                text.into_owned().into_bytes()
            }
        }
    };
    let rules = ws.rules()?;
    let frame = ws.frame()?;
    let dir = ws.indicators_dir();
    crate::fsutil::create_dirs(&dir)?;
    let dest = dir.join(format!("{period}.csv"));
    let replaced = dest.is_file();
    let mut values = 0;
    crate::journal::record(ws, actor, || {
        // Checked under the file's own name (the errors name it), from a file beside
        // the destination; only a file that passes is moved into place.
        let tmp = crate::fsutil::temp_beside(&dest)?;
        std::fs::write(tmp.path(), [&b"\xEF\xBB\xBF"[..], &csv].concat())
            .map_err(|e| Error::io(tmp.path(), e))?;
        // The place of a fault in the delivered file's own name, for the office's page.
        let checked = read_indicators(tmp.path(), period, &rules, &frame).map_err(|e| match e {
            Error::Input {
                line,
                column,
                message,
                ..
            } => Error::Invalid(format!(
                "{file_name} 第 {line} 行{}:{message}",
                column.map(|c| format!(",列 {c}")).unwrap_or_default()
            )),
            Error::File { message, .. } => Error::Invalid(format!("{file_name}:{message}")),
            other => other,
        })?;
        values = checked.len();
        crate::fsutil::persist(tmp, &dest)?;
        Ok((
            crate::journal::Draft::new("indicators")
                .round(period.to_string())
                .detail("file_name", file_name.to_string())
                .detail("values", values),
            Vec::new(),
            vec![dest.clone()],
        ))
    })?;
    Ok(ImportedIndicators {
        period: period.to_string(),
        path: rel(ws, &dest),
        values,
        replaced,
    })
}
