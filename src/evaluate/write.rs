//! The evaluation's tables: `street_evaluation.csv` and `deductions.csv`, through the
//! row types of `crate::rows`.

use std::path::PathBuf;

use super::{Evaluation, Value};
use crate::error::Result;
use crate::round::Period;
use crate::rows::{DeductionRow, EvaluationRow};
use crate::workspace::Workspace;

impl Evaluation {
    /// The rows of `street_evaluation.csv`, without the per-indicator columns, and
    /// the row whose columns are the table's (see [`EvaluationRow`]).
    pub fn evaluation_rows(&self) -> (EvaluationRow, Vec<EvaluationRow>) {
        let year = matches!(self.period, Period::Year(_));
        let layout = |r: EvaluationRow| {
            if year {
                EvaluationRow {
                    h1_total: Some(r.h1_total.flatten()),
                    h2_total: Some(r.h2_total.flatten()),
                    satisfaction_points: None,
                    task_points: None,
                    indicators_source: None,
                    missing_indicators: None,
                    ..r
                }
            } else {
                EvaluationRow {
                    satisfaction_points: Some(r.satisfaction_points.flatten()),
                    task_points: Some(r.task_points.flatten()),
                    // ok: a quarter's table has these columns; an empty cell when unknown.
                    indicators_source: Some(r.indicators_source.unwrap_or_default()),
                    missing_indicators: Some(r.missing_indicators.unwrap_or_default()),
                    h1_total: None,
                    h2_total: None,
                    ..r
                }
            }
        };
        let rows = self
            .streets
            .iter()
            .map(|s| {
                let (h1, h2) = s.halves.unwrap_or((None, None));
                layout(EvaluationRow {
                    period: self.period.to_string(),
                    street_code: s.street_code.clone(),
                    street_name: s.street_name.clone(),
                    rounds: self.rounds.join(" "),
                    satisfaction_score: s.satisfaction_score,
                    satisfaction_points: Some(s.satisfaction_points),
                    h1_total: Some(h1),
                    h2_total: Some(h2),
                    task_points: Some(s.task_points),
                    total: s.total,
                    rank: s.rank,
                    indicators_source: Some(self.indicators_source.clone()),
                    missing_indicators: Some(s.missing.join(" ")),
                    note: s.note.clone(),
                })
            })
            .collect();
        (layout(EvaluationRow::default()), rows)
    }

    /// The rows of `deductions.csv`: each street's communities below the threshold,
    /// then the street's own row.
    pub fn deduction_rows(&self) -> Vec<DeductionRow> {
        let period = self.period.to_string();
        let mut rows = Vec::new();
        for d in &self.deductions {
            for c in &d.communities {
                rows.push(DeductionRow {
                    period: period.clone(),
                    row_type: "community".into(),
                    street_code: d.street_code.clone(),
                    street_name: d.street_name.clone(),
                    community_code: c.community_code.clone(),
                    community_name: c.community_name.clone(),
                    score: Some(c.score),
                    ci_low: c.ci.map(|x| x.0),
                    ci_high: c.ci.map(|x| x.1),
                    below_point: Some(c.below_point),
                    below_ci: Some(c.below_ci),
                    counted: c.counted.to_string(),
                    points: Some(if c.counted && c.waived.is_none() {
                        d.points_per_community
                    } else {
                        0.0
                    }),
                    p_below: c.p_below,
                    waived: c.waived.clone().unwrap_or_default(),
                    ..DeductionRow::default()
                });
            }
            rows.push(DeductionRow {
                period: period.clone(),
                row_type: "street".into(),
                street_code: d.street_code.clone(),
                street_name: d.street_name.clone(),
                counted: d
                    .communities
                    .iter()
                    .filter(|c| c.counted)
                    .count()
                    .to_string(),
                points: Some(d.community_points),
                cap: Some(d.cap),
                street_score: d.street_score,
                street_below: Some(d.street_below),
                street_points: Some(d.street_points),
                total: Some(d.total),
                waived: d.street_waived.clone().unwrap_or_default(),
                ..DeductionRow::default()
            });
        }
        rows
    }

    /// Writes street_evaluation.csv, deductions.csv and the period's score CSVs under
    /// `reports/<period>/`.
    pub fn write(&self, ws: &Workspace) -> Result<Vec<PathBuf>> {
        let dir = ws.reports_dir().join(self.period.to_string());
        let mut files = Vec::new();
        if let Some(s) = &self.scores {
            files.extend(s.write(ws)?);
        }
        let p = dir.join("street_evaluation.csv");
        let (template, rows) = self.evaluation_rows();
        let (mut header, mut cells) = crate::fsutil::table_cells(&template, &rows)?;
        if let Some(at) = header
            .iter()
            .position(|h| h == EvaluationRow::INDICATORS_AFTER)
        {
            // Three columns per indicator after the satisfaction points: value (NA
            // for not applicable, empty when missing), target, points.
            let mut extra = Vec::new();
            if let Some(s) = self.streets.first() {
                for i in &s.indicators {
                    for suffix in ["value", "target", "points"] {
                        extra.push(format!("{}_{suffix}", i.id));
                    }
                }
            }
            header.splice(at + 1..at + 1, extra);
            for (row, s) in cells.iter_mut().zip(&self.streets) {
                let mut extra = Vec::new();
                for i in &s.indicators {
                    extra.push(match i.value {
                        Value::Number(v) => v.to_string(),
                        Value::NotApplicable => "NA".into(),
                        Value::Missing => String::new(),
                    });
                    extra.push(i.target.to_string());
                    // ok: undefined points are an empty cell, as every number here.
                    extra.push(i.points.map(|v| v.to_string()).unwrap_or_default());
                }
                row.splice(at + 1..at + 1, extra);
            }
        }
        crate::fsutil::write_atomic(&p, &crate::fsutil::csv_bytes(header, cells, false)?)?;
        files.push(p);
        let p = dir.join("deductions.csv");
        crate::fsutil::write_atomic(
            &p,
            &crate::fsutil::rows_csv_bytes(
                &DeductionRow::default(),
                &self.deduction_rows(),
                false,
            )?,
        )?;
        files.push(p);
        Ok(files)
    }
}
