//! Reports for review meetings: tables (CSV with BOM, XLSX, Markdown), charts (SVG and
//! PNG) and a PDF review pack. Reads what `score` and `evaluate` wrote under
//! `reports/<period>/`; never the store's internals.

pub mod charts;
pub mod pdf;
pub mod tables;

use crate::rows::{CommunityScoreRow, DeductionRow, EvaluationRow, ItemScoreRow, StreetScoreRow};

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::round::Period;
use crate::workspace::Workspace;

/// A table the engine wrote, read back twice over: as a table (for the sheets and
/// CSV copies, which show every column) and as typed rows (for charts and text).
#[derive(Debug, Clone)]
pub struct Csv<T> {
    pub table: Table,
    pub rows: Vec<T>,
}

impl<T: serde::de::DeserializeOwned> Csv<T> {
    pub fn read(path: &Path) -> Result<Csv<T>> {
        let csv = crate::fsutil::CsvRecords::read(path)?;
        let header = csv::StringRecord::from(csv.headers.clone());
        let rows = csv
            .rows
            .iter()
            .map(|(line, rec)| {
                rec.deserialize(Some(&header))
                    .map_err(|e| Error::input(&csv.file, *line, None, e.to_string()))
            })
            .collect::<Result<Vec<T>>>()?;
        Ok(Csv {
            table: Table::from_records(csv)?,
            rows,
        })
    }
}

/// A CSV table as read back: headers in file order, rows of cells.
#[derive(Debug, Clone)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn read(path: &Path) -> Result<Table> {
        Table::from_records(crate::fsutil::CsvRecords::read(path)?)
    }

    fn from_records(csv: crate::fsutil::CsvRecords) -> Result<Table> {
        let width = csv.headers.len();
        let mut rows = Vec::with_capacity(csv.rows.len());
        for (line, rec) in csv.rows {
            if rec.len() != width {
                return Err(Error::input(
                    &csv.file,
                    line,
                    None,
                    format!("has {} fields, the header has {width}", rec.len()),
                ));
            }
            rows.push(rec.iter().map(String::from).collect());
        }
        Ok(Table {
            headers: csv.headers,
            rows,
        })
    }

    pub fn col(&self, name: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == name)
    }
}

/// The inputs of a report, read from `reports/<period>/` and the rounds' folders.
pub struct Inputs {
    /// The period or round id the report is for.
    pub label: String,
    /// The year (for the trend over the year's rounds).
    pub year: i32,
    pub district: String,
    pub scheme: String,
    /// Absent for a round report.
    pub evaluation: Option<Csv<EvaluationRow>>,
    pub deductions: Option<Csv<DeductionRow>>,
    pub communities: Option<Csv<CommunityScoreRow>>,
    pub streets: Option<Csv<StreetScoreRow>>,
    pub items: Option<Csv<ItemScoreRow>>,
    /// Questionnaires and quality flags per round and interviewer, from the store.
    pub interviewers: Table,
    /// (round id, street_scores.csv) of each round of the year with scores.
    pub round_streets: Vec<(String, Vec<StreetScoreRow>)>,
    /// (file, sha256) of every input the report rests on.
    pub sources: Vec<(String, String)>,
    /// The reliability plans (`manyi plan`) of the subject's rounds, for the appendix.
    pub plans: Vec<PlanInput>,
    /// The office's exclusions in force in the subject's rounds.
    pub exclusions: Vec<crate::rows::ExclusionRow>,
    /// Per round: flags no one has decided on.
    pub undecided: Vec<crate::rows::UndecidedRow>,
    /// The period's appeals and its rectification ledger, as `appeals` last wrote
    /// them (empty before the period was published). The ledger is cut to the lines
    /// the deductions still count.
    pub appeals: Vec<crate::rows::AppealRow>,
    pub rectifications: Vec<crate::rows::RectificationRow>,
}

/// A round's plan as the review pack shows it.
pub struct PlanInput {
    pub round: String,
    pub streets: Table,
    pub oc_svg: String,
    pub typical_m: usize,
    pub delta: f64,
    pub delta_street: f64,
}

/// What a report is for: an evaluation period, or a single round's scores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Subject {
    Period(Period),
    Round(crate::round::RoundId),
}

impl Subject {
    pub fn label(&self) -> String {
        match self {
            Subject::Period(p) => p.to_string(),
            Subject::Round(r) => r.to_string(),
        }
    }
    fn year(&self) -> i32 {
        match self {
            Subject::Period(p) => p.year(),
            Subject::Round(r) => r.year,
        }
    }
}

pub fn read_inputs(ws: &Workspace, subject: &Subject) -> Result<Inputs> {
    let label = subject.label();
    let dir = ws.reports_dir().join(&label);
    let rules = ws.rules()?;
    let mut sources = Vec::new();
    let mut add = |p: &Path| -> Result<()> {
        sources.push((
            ws.rel(p),
            crate::fsutil::sha256_hex(&crate::fsutil::read(p)?),
        ));
        Ok(())
    };
    add(&ws.rules_path())?;
    add(&ws.frame_path())?;
    let missing = |p: &Path| {
        Error::Invalid(format!(
            "{} is missing: run `manyi {}` first",
            ws.rel(p),
            match subject {
                Subject::Period(p) => format!("evaluate --period {p}"),
                Subject::Round(r) => format!("score --round {r}"),
            }
        ))
    };
    fn read<T: serde::de::DeserializeOwned>(
        p: &Path,
        required: bool,
        add: &mut dyn FnMut(&Path) -> Result<()>,
        missing: &dyn Fn(&Path) -> Error,
    ) -> Result<Option<Csv<T>>> {
        if p.is_file() {
            add(p)?;
            Ok(Some(Csv::read(p)?))
        } else if required {
            Err(missing(p))
        } else {
            Ok(None)
        }
    }
    let is_period = matches!(subject, Subject::Period(_));
    let evaluation = read(
        &dir.join("street_evaluation.csv"),
        is_period,
        &mut add,
        &missing,
    )?;
    let deductions: Option<Csv<DeductionRow>> =
        read(&dir.join("deductions.csv"), is_period, &mut add, &missing)?;
    let communities = read(
        &dir.join("community_scores.csv"),
        !is_period,
        &mut add,
        &missing,
    )?;
    let streets = read(
        &dir.join("street_scores.csv"),
        !is_period,
        &mut add,
        &missing,
    )?;
    let items = read(&dir.join("item_scores.csv"), false, &mut add, &missing)?;
    let mut round_streets = Vec::new();
    // The trend runs over the year's rounds up to the end of the subject: a round
    // report up to that round, a quarter or half-year up to its last quarter.
    let last_quarter = match subject {
        Subject::Period(Period::Quarter(_, q)) => *q,
        Subject::Period(Period::Half(_, h)) => 2 * h,
        Subject::Period(Period::Year(_)) => 4,
        Subject::Round(r) => rules
            .sampling
            .calendar
            .get((r.number as usize).saturating_sub(1))
            .copied()
            .unwrap_or(4),
    };
    // Every input the report rests on: each round's sample and manifest, and the
    // indicator files of the period (its own, or its quarters'; a year's halves').
    // The rounds the subject rests on: a round itself; a period's rounds up to its
    // last quarter (the trend shows the same).
    let in_view = |n: u32| -> bool {
        let held_in = rules
            .sampling
            .calendar
            .get((n as usize).saturating_sub(1))
            .copied()
            .unwrap_or(4);
        match subject {
            Subject::Round(x) => x.number == n,
            Subject::Period(_) => held_in <= last_quarter,
        }
    };
    for n in (1..=rules.sampling.rounds_per_year).filter(|n| in_view(*n)) {
        let r = crate::round::RoundId {
            year: subject.year(),
            number: n,
        };
        for p in [ws.sample_path(&r), ws.manifest_path(&r)] {
            if p.is_file() {
                add(&p)?;
            }
        }
    }
    if let Subject::Period(period) = subject {
        let periods = match period {
            Period::Year(y) => vec![Period::Half(*y, 1), Period::Half(*y, 2)],
            p => vec![*p],
        };
        for p in periods {
            for f in crate::evaluate::indicator_files(ws, &p) {
                let path = ws.root.join(&f);
                if path.is_file() {
                    add(&path)?;
                }
            }
        }
    }
    for n in 1..=rules.sampling.rounds_per_year {
        let r = crate::round::RoundId {
            year: subject.year(),
            number: n,
        };
        // A round report's trend runs up to that round.
        let shown = match subject {
            Subject::Round(x) => n <= x.number,
            Subject::Period(_) => in_view(n),
        };
        if !shown {
            continue;
        }
        let p = ws
            .reports_dir()
            .join(r.to_string())
            .join("street_scores.csv");
        if p.is_file() {
            add(&p)?;
            round_streets.push((r.to_string(), Csv::<StreetScoreRow>::read(&p)?.rows));
        }
    }
    let mut plans = Vec::new();
    for n in (1..=rules.sampling.rounds_per_year).filter(|n| in_view(*n)) {
        let r = crate::round::RoundId {
            year: subject.year(),
            number: n,
        };
        let d = ws.reports_dir().join(r.to_string());
        let (streets_csv, oc, plan_csv) = (
            d.join("plan_streets.csv"),
            d.join("oc.svg"),
            d.join("plan.csv"),
        );
        if !(streets_csv.is_file() && oc.is_file() && plan_csv.is_file()) {
            continue;
        }
        add(&streets_csv)?;
        add(&plan_csv)?;
        let plan = Table::read(&plan_csv)?;
        let mut ms: Vec<usize> = plan
            .rows
            .iter()
            .filter_map(|row| {
                plan.col("m_needed")
                    .and_then(|i| row.get(i))
                    .and_then(|v| v.parse().ok())
            })
            .collect();
        ms.sort_unstable();
        plans.push(PlanInput {
            round: r.to_string(),
            streets: Table::read(&streets_csv)?,
            oc_svg: crate::fsutil::read_text(&oc)?,
            typical_m: ms.get(ms.len() / 2).copied().unwrap_or(0),
            delta: rules.reliability.delta,
            delta_street: rules.reliability.delta_street,
        });
    }
    let store = crate::store::Store::new(ws);
    let rounds: Vec<crate::round::RoundId> = match subject {
        Subject::Round(r) => vec![*r],
        Subject::Period(_) => (1..=rules.sampling.rounds_per_year)
            .map(|n| crate::round::RoundId {
                year: subject.year(),
                number: n,
            })
            .collect(),
    };
    let interviewers = interviewer_table(ws, &store, &rounds)?;
    // The office's exclusions and the flags still undecided (files written by score
    // and evaluate; absent in outputs made before decisions existed).
    let exclusions = match dir.join("exclusions.csv") {
        p if p.is_file() => {
            add(&p)?;
            Csv::<crate::rows::ExclusionRow>::read(&p)?.rows
        }
        _ => Vec::new(),
    };
    let undecided = match dir.join("undecided_flags.csv") {
        p if p.is_file() => {
            add(&p)?;
            Csv::<crate::rows::UndecidedRow>::read(&p)?.rows
        }
        _ => Vec::new(),
    };
    let appeals = match dir.join("appeals.csv") {
        p if p.is_file() && is_period => {
            add(&p)?;
            Csv::<crate::rows::AppealRow>::read(&p)?.rows
        }
        _ => Vec::new(),
    };
    let rectifications = match dir.join("rectifications.csv") {
        p if p.is_file() && is_period => {
            add(&p)?;
            let counted: std::collections::BTreeSet<&str> = deductions
                .iter()
                .flat_map(|d| d.rows.iter())
                .filter(|d| d.counts() && d.waived.is_empty())
                .map(|d| d.community_code.as_str())
                .collect();
            Csv::<crate::rows::RectificationRow>::read(&p)?
                .rows
                .into_iter()
                .filter(|r| counted.contains(r.community_code.as_str()))
                .collect()
        }
        _ => Vec::new(),
    };
    let shown_rounds: Vec<String> = (1..=rules.sampling.rounds_per_year)
        .filter(|n| in_view(*n))
        .map(|n| {
            crate::round::RoundId {
                year: subject.year(),
                number: n,
            }
            .to_string()
        })
        .collect();
    for d in store.read_index()?.deliveries.iter().filter(|d| {
        shown_rounds.contains(&d.round) && d.status == crate::store::DeliveryStatus::Active
    }) {
        sources.push((
            format!("delivery {} ({})", d.file_name, d.round),
            d.sha256.clone(),
        ));
    }
    Ok(Inputs {
        label,
        year: subject.year(),
        district: rules.district.clone(),
        scheme: rules.scheme.clone(),
        evaluation,
        deductions,
        communities,
        streets,
        items,
        interviewers,
        round_streets,
        sources,
        plans,
        exclusions,
        undecided,
        appeals,
        rectifications,
    })
}

/// Per round and interviewer: questionnaires, valid ones, speeders, straight-lined,
/// and whether the interviewer was flagged as standing out from peers.
fn interviewer_table(
    ws: &Workspace,
    store: &crate::store::Store,
    rounds: &[crate::round::RoundId],
) -> Result<Table> {
    use std::collections::BTreeMap;
    let index = store.read_index()?;
    let mut agg: BTreeMap<(String, String), [u64; 5]> = BTreeMap::new();
    // Per flagged (round, interviewer): p-value, evidence, what excluding them would
    // move, and the decision in force.
    let mut evidence: BTreeMap<(String, String), [String; 4]> = BTreeMap::new();
    let rules = ws.rules()?;
    let frame = ws.frame()?;
    for r in rounds {
        if store.deliveries(&index, r).is_empty() {
            continue;
        }
        // Flagged as compared with peers over all the round's active deliveries.
        let interviewers = crate::flags::interviewers_now(ws, store, &index, r, &rules)?;
        for f in &interviewers {
            let zh = crate::messages::Lang::Zh;
            evidence.insert(
                (r.to_string(), f.interviewer_id.clone()),
                [
                    // ok: no p-value (a comparison without one) is an empty cell.
                    f.p_value.map(|p| format!("{p:.2e}")).unwrap_or_default(),
                    f.as_flag().reasons_text_in(zh),
                    f.sensitivity.text(zh, &frame),
                    f.decision
                        .as_ref()
                        .map(|d| d.action.clone())
                        .unwrap_or_else(|| "undecided".into()),
                ],
            );
        }
        for (iv, c) in crate::flags::interviewer_counts(store, &index, r, &rules)? {
            let flagged = interviewers.iter().any(|f| f.interviewer_id == iv);
            agg.insert(
                (r.to_string(), iv),
                [c[0], c[1], c[2], c[3], flagged as u64],
            );
        }
    }
    Ok(Table {
        headers: [
            "round",
            "interviewer_id",
            "questionnaires",
            "n_valid",
            "speeders",
            "straightlined",
            "flagged",
            "p_value",
            "evidence",
            "if_excluded",
            "decision",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        rows: agg
            .into_iter()
            .map(|((r, iv), e)| {
                let ev = evidence
                    .remove(&(r.clone(), iv.clone()))
                    .unwrap_or_default();
                let mut row = vec![
                    r,
                    iv,
                    e[0].to_string(),
                    e[1].to_string(),
                    e[2].to_string(),
                    e[3].to_string(),
                    (e[4] > 0).to_string(),
                ];
                row.extend(ev);
                row
            })
            .collect(),
    })
}

/// `manyi report --period P | --round ID`: tables, charts and the PDF pack under
/// `reports/<P>/`. Returns the files written; text the font cannot draw is reported
/// on stderr.
pub fn report(ws: &Workspace, subject: &Subject) -> Result<Vec<PathBuf>> {
    let inputs = read_inputs(ws, subject)?;
    report_from(ws, subject, &inputs, &|_, _| {})
}

/// `report`, journalled: the files written with their hashes, and the inputs it rests
/// on (the same list as the pack's sources page).
pub fn report_recorded(ws: &Workspace, subject: &Subject, actor: &str) -> Result<Vec<PathBuf>> {
    report_recorded_with(ws, subject, actor, &|_, _| {})
}

/// `report_recorded`, telling `progress` (share done, step) as it goes: the inputs, the
/// tables, each chart, the PDF.
pub fn report_recorded_with(
    ws: &Workspace,
    subject: &Subject,
    actor: &str,
    progress: &dyn Fn(f64, &str),
) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    crate::journal::record(ws, actor, || {
        progress(0.05, "读取输入");
        let inputs = read_inputs(ws, subject)?;
        files = report_from(ws, subject, &inputs, progress)?;
        let mut d = crate::journal::Draft::new("report").round(subject.label());
        d.read = inputs
            .sources
            .iter()
            .map(|(path, sha256)| crate::journal::FileHash {
                path: path.clone(),
                sha256: sha256.clone(),
            })
            .collect();
        Ok((d, Vec::new(), files.clone()))
    })?;
    Ok(files)
}

fn report_from(
    ws: &Workspace,
    subject: &Subject,
    inputs: &Inputs,
    progress: &dyn Fn(f64, &str),
) -> Result<Vec<PathBuf>> {
    let inputs = inputs;
    let rules = ws.rules()?;
    let dir = ws.reports_dir().join(subject.label());
    progress(0.15, "表格(XLSX、CSV)");
    let mut files = tables::write(&dir, &inputs, &rules)?;
    progress(0.3, "绘制图表");
    let charts = charts::render(&inputs, &rules)?;
    for (i, c) in charts.iter().enumerate() {
        progress(
            0.35 + 0.35 * i as f64 / charts.len().max(1) as f64,
            &format!("图表 {}", c.name),
        );
        let svg = dir.join(format!("{}.svg", c.name));
        crate::fsutil::write_atomic(&svg, c.svg.as_bytes())?;
        let png = dir.join(format!("{}.png", c.name));
        crate::fsutil::write_atomic(&png, &charts::png(&c.svg)?)?;
        files.push(svg);
        files.push(png);
    }
    let mut all_text = String::new();
    for t in [
        inputs.evaluation.as_ref().map(|c| &c.table),
        inputs.deductions.as_ref().map(|c| &c.table),
        inputs.communities.as_ref().map(|c| &c.table),
        inputs.streets.as_ref().map(|c| &c.table),
    ]
    .into_iter()
    .flatten()
    {
        for r in &t.rows {
            for c in r {
                all_text.push_str(c);
            }
        }
    }
    let missing = charts::missing_glyphs(&all_text);
    if !missing.is_empty() {
        eprintln!(
            "manyi: warning: the shipped font has no glyph for {} character(s), drawn as blank boxes in charts and the PDF: {}",
            missing.len(),
            missing.iter().collect::<String>()
        );
    }
    progress(0.75, "审阅材料 PDF");
    let pdf = dir.join("review.pdf");
    crate::fsutil::write_atomic(&pdf, &pdf::review_pack(&inputs, &rules, &charts)?)?;
    files.push(pdf);
    Ok(files)
}
