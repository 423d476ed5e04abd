//! The streets' task indicators (考核指标): reading a period's file, deriving a
//! quarter from its half-year, and importing a delivered file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::round::Period;
use crate::rules::{Per, Rules};
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
    let f = |p: &Period| ws.rel(&ws.indicators_dir().join(format!("{p}.csv")));
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
            source: ws.rel(&own),
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
            ws.rel(&path(&qa)),
            ws.rel(&path(&qb))
        ),
    }))
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
    let csv = crate::ingest::table_bytes(path, file_name)?;
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
                "{file_name} 第 {line} 行{}：{message}",
                column.map(|c| format!("，列 {c}")).unwrap_or_default()
            )),
            Error::File { message, .. } => Error::Invalid(format!("{file_name}：{message}")),
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
        path: ws.rel(&dest),
        values,
        replaced,
    })
}
