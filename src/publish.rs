//! Publishing a round's or a period's results to the streets, and what a street sees of
//! them.
//!
//! `publish` copies the files of `reports/<label>/` as they are at that moment into
//! `surveys/store/published/<label>/` (the store's folder, readable by the service
//! only) and journals each file's hash; a street account reads only that copy, so a
//! later re-run of `score`/`evaluate` changes nothing a street sees until the office
//! publishes again. `unpublish` removes the copy, with a reason. Both are journalled,
//! and the journal decides what is published (the last of the two for a label).
//!
//! `street_view` is the one street's part of a publication: its own rows of every
//! table, and the district ranking when the rules show it (`[publication]
//! show_ranking`, default yes). Nothing else of another street leaves this module.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::journal::Draft;
use crate::report::Subject;
use crate::rows::{CommunityScoreRow, DeductionRow, EvaluationRow, ItemScoreRow, StreetScoreRow};
use crate::workspace::Workspace;

/// The files a publication copies (what exists of them): the tables, the charts and
/// the review pack. Charts are re-drawn per street from the tables; the district
/// charts and packs are for the office's own downloads.
const PUBLISHED_FILES: &[&str] = &[
    "street_evaluation.csv",
    "deductions.csv",
    "community_scores.csv",
    "street_scores.csv",
    "item_scores.csv",
    "exclusions.csv",
    "undecided_flags.csv",
];

/// The folder of a publication's copy.
pub fn published_dir(ws: &Workspace, subject: &Subject) -> PathBuf {
    ws.store_dir().join("published").join(subject.label())
}

/// A label as the portal and the API take it: a round (`2018-R1`) or a period
/// (`2018Q2`, `2018H1`, `2018`).
pub fn parse_subject(label: &str) -> Result<Subject> {
    if label.contains("-R") || label.contains("-r") {
        Ok(Subject::Round(label.parse()?))
    } else {
        Ok(Subject::Period(label.parse()?))
    }
}

/// One publication in force.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Publication {
    pub label: String,
    /// UTC, RFC 3339 (the journal's time).
    pub time: String,
    pub actor: String,
    /// The journal entry that published it.
    pub seq: u64,
    /// 1 for the first publication of the label, 2 for the next… (a republication
    /// after an appeal's ruling is a new version).
    pub version: usize,
    /// Why this version was made (an appeal's ruling), when it says.
    pub note: Option<String>,
}

/// What is published now, by the journal: for each label the last of `publish` and
/// `unpublish` decides. Sorted by label.
pub fn publications(ws: &Workspace) -> Result<Vec<Publication>> {
    use std::sync::{Mutex, OnceLock};
    // Every page of the portal asks; the journal only grows. The answer is kept per
    // store and journal head (the hash of its last committed entry, which vouches for
    // all before it).
    type Memo = std::collections::HashMap<PathBuf, (Option<String>, u64, Vec<Publication>)>;
    static MEMO: OnceLock<Mutex<Memo>> = OnceLock::new();
    let store = crate::store::Store::new(ws);
    let index = store.read_index()?;
    let key = (index.journal_head.clone(), index.journal_entries);
    let memo = MEMO.get_or_init(Default::default);
    let poisoned = |_| Error::Internal("publications memo".into());
    if let Some((head, n, list)) = memo.lock().map_err(poisoned)?.get(&store.dir)
        && (head, n) == (&key.0, &key.1)
    {
        return Ok(list.clone());
    }
    let list = publications_in(crate::journal::entries(&store, &index)?);
    memo.lock()
        .map_err(poisoned)?
        .insert(store.dir.clone(), (key.0, key.1, list.clone()));
    Ok(list)
}

fn publications_in(entries: Vec<crate::journal::Entry>) -> Vec<Publication> {
    let mut last: std::collections::BTreeMap<String, Option<Publication>> = Default::default();
    let mut versions: std::collections::BTreeMap<String, usize> = Default::default();
    for e in entries {
        let Some(label) = e.round.clone() else {
            continue;
        };
        match e.action.as_str() {
            "publish" => {
                let version = *versions
                    .entry(label.clone())
                    .and_modify(|v| *v += 1)
                    .or_insert(1);
                last.insert(
                    label.clone(),
                    Some(Publication {
                        label,
                        time: e.time,
                        actor: e.actor,
                        seq: e.seq,
                        version,
                        note: e.reason,
                    }),
                );
            }
            "unpublish" => {
                last.insert(label, None);
            }
            _ => {}
        }
    }
    last.into_values().flatten().collect()
}

/// The publication of `subject`, if it is in force.
pub fn publication(ws: &Workspace, subject: &Subject) -> Result<Option<Publication>> {
    let label = subject.label();
    Ok(publications(ws)?.into_iter().find(|p| p.label == label))
}

/// What publishing `subject` would do, for the confirmation a person gives first.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Preview {
    pub label: String,
    /// Streets that will see it (each its own part).
    pub streets: usize,
    /// Per round of the subject: interviewers whose flags nobody has decided on yet.
    pub undecided: Vec<(String, usize)>,
    /// A publication of it is there already (it will be replaced).
    pub republish: bool,
}

impl Preview {
    /// In Chinese, for the office.
    pub fn text(&self) -> String {
        let title = crate::messages::period_title(&self.label);
        let mut s = format!(
            "将向 {} 个街道发布{title}的结果，各街道只看到自己的部分。",
            self.streets
        );
        let waiting: usize = self.undecided.iter().map(|(_, n)| n).sum();
        if waiting > 0 {
            let per: Vec<String> = self
                .undecided
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(r, n)| format!("{} {n} 名", crate::messages::period_title(r)))
                .collect();
            s.push_str(&format!(
                "仍有 {waiting} 名访问员的质量标记未决定（{}），其问卷照常计入得分。",
                per.join("、")
            ));
        } else {
            s.push_str("质量标记均已决定。");
        }
        s.push_str("发布后可以撤回（须写明理由）。");
        if self.republish {
            s.push_str("已发布的版本将被替换，日志保留两次发布的记录。");
        }
        s
    }
}

/// What publishing `subject` would do (see [`Preview`]).
pub fn preview(ws: &Workspace, subject: &Subject) -> Result<Preview> {
    let rounds: Vec<String> = crate::report::read_inputs(ws, subject)?
        .round_streets
        .into_iter()
        .map(|(round, _)| round)
        .collect();
    let mut undecided = Vec::new();
    for r in rounds {
        let round: crate::round::RoundId = r.parse()?;
        let (iv, _) = crate::lifecycle::undecided(ws, &round)?;
        undecided.push((r, iv));
    }
    Ok(Preview {
        label: subject.label(),
        streets: ws.frame()?.streets.len(),
        undecided,
        republish: published_dir(ws, subject).is_dir(),
    })
}

/// Publishes `subject`: its report files as they are now become what the streets see.
/// The subject must have been scored (a round) or evaluated (a period).
pub fn publish(ws: &Workspace, subject: &Subject, actor: &str) -> Result<crate::journal::Entry> {
    publish_noted(ws, subject, actor, "")
}

/// As `publish`, with a note on why this version was made (an appeal's ruling); the
/// streets read it beside the result, the journal keeps it as the entry's reason.
pub fn publish_noted(
    ws: &Workspace,
    subject: &Subject,
    actor: &str,
    note: &str,
) -> Result<crate::journal::Entry> {
    let src = ws.reports_dir().join(subject.label());
    let required: &[&str] = match subject {
        Subject::Round(_) => &["street_scores.csv", "community_scores.csv"],
        Subject::Period(_) => &["street_evaluation.csv", "deductions.csv"],
    };
    for f in required {
        if !src.join(f).is_file() {
            let (label, what) = (
                subject.label(),
                match subject {
                    Subject::Round(_) => crate::lang::t("计算本轮得分", "score the round"),
                    Subject::Period(_) => crate::lang::t("完成考核评价", "evaluate the period"),
                },
            );
            return Err(Error::Invalid(crate::lang::tr!(
                "{label}：{f} 尚未生成，请先{what}",
                "{label}: {f} is not there yet; {what} first"
            )));
        }
    }
    let dest = published_dir(ws, subject);
    // The rounds the trend runs over, read before the store is locked (reading the
    // report's inputs can take long on a large round; the lock is for the copy).
    let trend_rounds: Vec<String> = crate::report::read_inputs(ws, subject)?
        .round_streets
        .into_iter()
        .map(|(round, _)| round)
        .collect();
    crate::journal::record(ws, actor, || {
        // A fresh copy: the old one (an earlier publication) goes first, so no file of
        // it survives that the new reports no longer have; the journal says so.
        let removed = files_under(ws, &dest)?;
        remove_dir_if_any(&dest)?;
        crate::fsutil::create_dirs(&dest)?;
        let mut written = Vec::new();
        for f in PUBLISHED_FILES {
            let from = src.join(f);
            if from.is_file() {
                let to = dest.join(f);
                crate::fsutil::copy_private_atomic(&from, &to)?;
                written.push(to);
            }
        }
        // The trend: the street scores of the rounds the report's trend runs over.
        let trend = dest.join("trend");
        for round in &trend_rounds {
            crate::fsutil::create_dirs(&trend)?;
            let to = trend.join(format!("{round}.csv"));
            crate::fsutil::copy_private_atomic(
                &ws.reports_dir().join(&round).join("street_scores.csv"),
                &to,
            )?;
            written.push(to);
        }
        let mut d = Draft::new("publish")
            .round(subject.label())
            .detail("removed", removed);
        if !note.trim().is_empty() {
            d = d.reason(note.trim());
        }
        Ok((d, Vec::new(), written))
    })
}

/// Withdraws a publication (the streets no longer see it). A reason is required.
pub fn unpublish(
    ws: &Workspace,
    subject: &Subject,
    reason: &str,
    actor: &str,
) -> Result<crate::journal::Entry> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::Invalid("撤回发布须填写理由".into()));
    }
    if publication(ws, subject)?.is_none() {
        return Err(Error::Invalid(format!("{} 未发布", subject.label())));
    }
    let dest = published_dir(ws, subject);
    crate::journal::record(ws, actor, || {
        let removed = files_under(ws, &dest)?;
        remove_dir_if_any(&dest)?;
        Ok((
            Draft::new("unpublish")
                .round(subject.label())
                .reason(reason)
                .detail("removed", removed),
            Vec::new(),
            Vec::new(),
        ))
    })
}

/// Every file below `dir` (none when it does not exist), relative to the workspace as
/// the journal names files (`details.removed` of an entry: `verify-store` expects them
/// gone).
fn files_under(ws: &Workspace, dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(|e| Error::io(&d, e))? {
            let p = e.map_err(|e| Error::io(&d, e))?.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(&ws.root).unwrap_or(&p).display().to_string());
            }
        }
    }
    out.sort();
    Ok(out)
}

fn remove_dir_if_any(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(dir, e)),
    }
}

fn read_rows<T: serde::de::DeserializeOwned>(p: &Path) -> Result<Vec<T>> {
    if p.is_file() {
        Ok(crate::report::Csv::<T>::read(p)?.rows)
    } else {
        Ok(Vec::new())
    }
}

/// One line of the district ranking as a street sees it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RankLine {
    pub rank: usize,
    pub street_name: String,
    /// The total (a period) or the satisfaction score (a round).
    pub value: Option<f64>,
    pub own: bool,
}

/// One task indicator of a street in a quarter or half-year.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IndicatorLine {
    pub id: String,
    pub name: String,
    pub value: String,
    pub target: String,
    pub points: String,
}

/// One community's deduction line with why it counted or did not.
#[derive(Debug, Clone, Serialize)]
pub struct DeductionLine {
    #[serde(flatten)]
    pub row: DeductionRow,
    pub why: String,
}

/// What one street sees of a publication.
#[derive(Debug, Clone, Serialize)]
pub struct StreetView {
    pub label: String,
    pub street_code: String,
    pub street_name: String,
    /// The publication the view is of (`None`: the office's view of the reports now).
    pub published: Option<Publication>,
    /// The street's satisfaction score of the round(s) with its CI and respondents.
    pub score: Option<StreetScoreRow>,
    /// A period: the street's evaluation row (points, total, rank).
    pub evaluation: Option<EvaluationRow>,
    /// A period: the street's deduction total line.
    pub deduction_total: Option<DeductionRow>,
    pub deductions: Vec<DeductionLine>,
    pub communities: Vec<CommunityScoreRow>,
    pub items: Vec<ItemScoreRow>,
    pub indicators: Vec<IndicatorLine>,
    /// The district ranking, when the rules show it.
    pub ranking: Option<Vec<RankLine>>,
    /// Its rank and the number of streets ranked (even when the ranking is not shown).
    pub rank: Option<(usize, usize)>,
}

/// The street's part of the publication of `subject`; `None` when the subject is not
/// published or the street has no row in it (both answer as "not found").
pub fn street_view(ws: &Workspace, subject: &Subject, street: &str) -> Result<Option<StreetView>> {
    let Some(published) = publication(ws, subject)? else {
        return Ok(None);
    };
    street_view_in(
        ws,
        subject,
        street,
        &published_dir(ws, subject),
        Some(published),
    )
}

fn street_view_in(
    ws: &Workspace,
    subject: &Subject,
    street: &str,
    dir: &Path,
    published: Option<Publication>,
) -> Result<Option<StreetView>> {
    let rules = ws.rules()?;
    let streets: Vec<StreetScoreRow> = read_rows(&dir.join("street_scores.csv"))?;
    let evaluations: Vec<EvaluationRow> = read_rows(&dir.join("street_evaluation.csv"))?;
    let deductions: Vec<DeductionRow> = read_rows(&dir.join("deductions.csv"))?;
    let communities: Vec<CommunityScoreRow> = read_rows(&dir.join("community_scores.csv"))?;
    let items: Vec<ItemScoreRow> = read_rows(&dir.join("item_scores.csv"))?;
    let score = streets.iter().find(|r| r.street_code == street).cloned();
    let evaluation = evaluations
        .iter()
        .find(|r| r.street_code == street)
        .cloned();
    let Some(street_name) = evaluation
        .as_ref()
        .map(|e| e.street_name.clone())
        .or_else(|| score.as_ref().map(|s| s.street_name.clone()))
    else {
        return Ok(None);
    };
    // The ranking: a period's rank column (the evaluation's own), a round's by score.
    let mut ranking: Vec<RankLine> = if !evaluations.is_empty() {
        evaluations
            .iter()
            .filter_map(|e| {
                Some(RankLine {
                    rank: e.rank?,
                    street_name: e.street_name.clone(),
                    value: e.total,
                    own: e.street_code == street,
                })
            })
            .collect()
    } else {
        let mut scored: Vec<&StreetScoreRow> =
            streets.iter().filter(|s| s.score.is_some()).collect();
        scored.sort_by(|a, b| {
            b.score
                .unwrap_or(f64::NAN)
                .total_cmp(&a.score.unwrap_or(f64::NAN))
                .then_with(|| a.street_code.cmp(&b.street_code))
        });
        scored
            .iter()
            .enumerate()
            .map(|(i, s)| RankLine {
                rank: i + 1,
                street_name: s.street_name.clone(),
                value: s.score,
                own: s.street_code == street,
            })
            .collect()
    };
    ranking.sort_by(|a, b| a.rank.cmp(&b.rank).then(a.street_name.cmp(&b.street_name)));
    let rank = ranking
        .iter()
        .find(|r| r.own)
        .map(|r| (r.rank, ranking.len()));
    let t = &rules.threshold;
    let deduction_lines = deductions
        .iter()
        .filter(|d| d.street_code == street && d.row_type == "community")
        .map(|d| DeductionLine {
            why: deduction_why(d, t),
            row: d.clone(),
        })
        .collect();
    let deduction_total = deductions
        .iter()
        .find(|d| d.street_code == street && d.row_type == "street")
        .cloned();
    let indicators = indicator_lines(&dir.join("street_evaluation.csv"), street, &rules)?;
    Ok(Some(StreetView {
        label: subject.label(),
        street_code: street.to_string(),
        street_name,
        published,
        score,
        evaluation,
        deduction_total,
        deductions: deduction_lines,
        communities: communities
            .into_iter()
            .filter(|c| c.street_code == street)
            .collect(),
        items: items
            .into_iter()
            .filter(|c| c.street_code == street)
            .collect(),
        indicators,
        ranking: rules.publication.show_ranking.then_some(ranking),
        rank,
    }))
}

/// The indicator columns (`<id>_value`, `<id>_target`, `<id>_points`) of the street's
/// evaluation row, named from the rules.
fn indicator_lines(
    path: &Path,
    street: &str,
    rules: &crate::rules::Rules,
) -> Result<Vec<IndicatorLine>> {
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let t = crate::report::Table::read(path)?;
    let Some(code) = t.col("street_code") else {
        return Ok(Vec::new());
    };
    let Some(row) = t
        .rows
        .iter()
        .find(|r| r.get(code).map(String::as_str) == Some(street))
    else {
        return Ok(Vec::new());
    };
    let cell = |name: &str| -> Option<String> {
        t.col(name).and_then(|i| row.get(i)).map(|s| s.to_string())
    };
    let mut out = Vec::new();
    for ind in &rules.evaluation.indicators {
        let Some(points) = cell(&format!("{}_points", ind.id)) else {
            continue;
        };
        out.push(IndicatorLine {
            id: ind.id.clone(),
            name: ind.name.clone(),
            value: cell(&format!("{}_value", ind.id)).unwrap_or_default(),
            target: cell(&format!("{}_target", ind.id)).unwrap_or_default(),
            points,
        });
    }
    Ok(out)
}

/// Why a community's line of the deduction table counted or not, in the rules' terms.
pub fn deduction_why(d: &DeductionRow, t: &crate::rules::Threshold) -> String {
    let thr = t.community_score;
    let score = d.score.map_or("—".to_string(), |s| format!("{s:.1}"));
    let ci = match (d.ci_low, d.ci_high) {
        (Some(l), Some(h)) => format!("95% 置信区间 {l:.1}–{h:.1}"),
        _ => "无置信区间".to_string(),
    };
    let rule = crate::messages::decision_text_in(t.decision, crate::messages::Lang::Zh);
    let point = d.below_point == Some(true);
    let whole = d.below_ci == Some(true);
    let position = match (point, whole) {
        (true, true) => format!("得分 {score} 低于 {thr}，{ci} 整体在 {thr} 以下"),
        (true, false) => format!("得分 {score} 低于 {thr}，但 {ci} 跨过 {thr}"),
        (false, _) => format!("得分 {score} 不低于 {thr}（{ci}）"),
    };
    if d.counts() && !d.waived.is_empty() {
        format!(
            "{position}；{rule}，本应计入扣分，经申诉 {} 复核维持，免扣",
            d.waived
        )
    } else if d.counts() {
        format!(
            "{position}；{rule}，计入扣分 {} 分",
            d.points.map_or("—".into(), |p| format!("{p:.1}"))
        )
    } else {
        format!("{position}；{rule}，不计入扣分")
    }
}

/// The charts one street sees of a publication (SVG), its own street highlighted;
/// `None` when the street has no part in it.
pub fn street_charts(
    ws: &Workspace,
    subject: &Subject,
    street: &str,
) -> Result<Option<Vec<crate::report::charts::Chart>>> {
    if publication(ws, subject)?.is_none() {
        return Ok(None);
    }
    let dir = published_dir(ws, subject);
    let rules = ws.rules()?;
    let own = |code: &str| code == street;
    fn read<T: serde::de::DeserializeOwned>(
        p: &Path,
        keep: &dyn Fn(&T) -> bool,
    ) -> Result<Option<crate::report::Csv<T>>> {
        if !p.is_file() {
            return Ok(None);
        }
        let mut c = crate::report::Csv::<T>::read(p)?;
        c.rows.retain(|r| keep(r));
        Ok(Some(c))
    }
    let streets = read::<StreetScoreRow>(&dir.join("street_scores.csv"), &|_| true)?;
    let evaluation =
        read::<EvaluationRow>(&dir.join("street_evaluation.csv"), &|r| own(&r.street_code))?;
    let known = streets
        .as_ref()
        .is_some_and(|s| s.rows.iter().any(|r| own(&r.street_code)))
        || evaluation.as_ref().is_some_and(|e| !e.rows.is_empty());
    if !known {
        return Ok(None);
    }
    let mut round_streets = Vec::new();
    let trend = dir.join("trend");
    if trend.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&trend)
            .map_err(|e| Error::io(&trend, e))?
            .map(|e| e.map(|e| e.path()).map_err(|e| Error::io(&trend, e)))
            .collect::<Result<_>>()?;
        files.sort();
        for f in files {
            let round = f
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            let mut rows = crate::report::Csv::<StreetScoreRow>::read(&f)?.rows;
            rows.retain(|r| own(&r.street_code));
            round_streets.push((round, rows));
        }
    }
    let inputs = crate::report::Inputs {
        label: subject.label(),
        year: match subject {
            Subject::Period(p) => p.year(),
            Subject::Round(r) => r.year,
        },
        district: rules.district.clone(),
        scheme: rules.scheme.clone(),
        evaluation,
        deductions: read::<DeductionRow>(&dir.join("deductions.csv"), &|r| own(&r.street_code))?,
        communities: read::<CommunityScoreRow>(&dir.join("community_scores.csv"), &|r| {
            own(&r.street_code)
        })?,
        streets,
        items: read::<ItemScoreRow>(&dir.join("item_scores.csv"), &|r| own(&r.street_code))?,
        interviewers: crate::report::Table {
            headers: Vec::new(),
            rows: Vec::new(),
        },
        round_streets,
        sources: Vec::new(),
        plans: Vec::new(),
        exclusions: Vec::new(),
        undecided: Vec::new(),
        appeals: Vec::new(),
        rectifications: Vec::new(),
    };
    Ok(Some(crate::report::charts::render_for_street(
        &inputs,
        &rules,
        street,
        rules.publication.show_ranking,
    )?))
}

/// What the office's results page shows of `reports/<label>/`.
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    pub label: String,
    pub evaluation: Vec<EvaluationRow>,
    pub deductions: Vec<DeductionRow>,
    pub streets: Vec<StreetScoreRow>,
    /// The files of the folder a person may download (tables, charts, the pack), sorted.
    pub files: Vec<String>,
    /// The charts in the order of the review pack: (SVG file name, its text).
    pub charts: Vec<(String, String)>,
    pub publication: Option<Publication>,
    /// The published copy differs from the reports now (re-run since publishing).
    pub changed_since_publication: bool,
}

/// The chart files a report writes, in the pack's order.
const CHARTS: &[&str] = &["ranking", "communities", "trend", "items", "oc"];

/// Whether `name` is a file of a results folder a person may download: tables, charts
/// and the pack (no path, no hidden file).
/// What a results file is, for people: (label, for people rather than programs).
/// Files it does not know keep their name.
pub fn file_label(name: &str) -> (String, bool) {
    let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
    let kind = match ext {
        "png" => "图片",
        "svg" => "矢量图",
        "pdf" => "PDF",
        "xlsx" => "Excel 工作簿",
        "md" => "文本",
        _ => "CSV",
    };
    let (what, people) = match stem {
        "review" => ("评审材料（全部表格与图表）", true),
        "扣分表" | "社区得分表" | "考核评价表" | "街道得分表" => (stem, true),
        "ranking" => ("街道排名图", true),
        "communities" if ext != "csv" => ("社区得分图", true),
        "items" => ("题目×街道热力图", true),
        "trend" => ("各轮趋势图", true),
        "deductions" => ("扣分明细（程序用，英文列名）", false),
        "street_evaluation" => ("街道考核评价（程序用，英文列名）", false),
        "street_scores" => ("街道得分（程序用，英文列名）", false),
        "community_scores" => ("社区得分（程序用，英文列名）", false),
        "item_scores" => ("题目得分（程序用，英文列名）", false),
        "exclusions" => ("剔除的问卷（程序用，英文列名）", false),
        "undecided_flags" => ("未决定的质量标记（程序用，英文列名）", false),
        "appeals" => ("申诉复核（程序用，英文列名）", false),
        "rectifications" => ("整改台账（程序用，英文列名）", false),
        _ => return (name.to_string(), false),
    };
    (format!("{what} · {kind}"), people)
}

pub fn downloadable(name: &str) -> bool {
    !name.starts_with('.')
        && !name.contains(['/', '\\'])
        && [".csv", ".svg", ".png", ".pdf", ".xlsx", ".md"]
            .iter()
            .any(|e| name.ends_with(e))
}

/// The results of `subject` as they are in `reports/<label>/` now.
pub fn results(ws: &Workspace, subject: &Subject) -> Result<Results> {
    let dir = ws.reports_dir().join(subject.label());
    let mut files = Vec::new();
    if dir.is_dir() {
        for e in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            let e = e.map_err(|e| Error::io(&dir, e))?;
            let name = e.file_name().to_string_lossy().to_string();
            if e.path().is_file() && downloadable(&name) {
                files.push(name);
            }
        }
    }
    files.sort();
    let mut charts = Vec::new();
    for c in CHARTS {
        let name = format!("{c}.svg");
        if files.contains(&name) {
            let text = crate::fsutil::read_text(&dir.join(&name))?;
            charts.push((name, text));
        }
    }
    let publication = publication(ws, subject)?;
    let changed = match &publication {
        Some(_) => {
            let pd = published_dir(ws, subject);
            let mut changed = false;
            for f in PUBLISHED_FILES {
                let (a, b) = (dir.join(f), pd.join(f));
                let same = match (a.is_file(), b.is_file()) {
                    (true, true) => crate::fsutil::read(&a)? == crate::fsutil::read(&b)?,
                    (false, false) => true,
                    _ => false,
                };
                changed |= !same;
            }
            changed
        }
        None => false,
    };
    Ok(Results {
        label: subject.label(),
        evaluation: read_rows(&dir.join("street_evaluation.csv"))?,
        deductions: read_rows(&dir.join("deductions.csv"))?,
        streets: read_rows(&dir.join("street_scores.csv"))?,
        files,
        charts,
        publication,
        changed_since_publication: changed,
    })
}

/// The rounds and periods a year of the workspace has results for, or may have: each
/// known round of the year, its quarters, halves and the year itself.
pub fn subjects_of_year(ws: &Workspace, year: i32) -> Result<Vec<Subject>> {
    let mut out: Vec<Subject> = crate::lifecycle::rounds(ws)?
        .into_iter()
        .filter(|r| r.year == year)
        .map(Subject::Round)
        .collect();
    out.sort_by_key(|s| s.label());
    for q in 1..=4 {
        out.push(Subject::Period(crate::round::Period::Quarter(year, q)));
    }
    for h in 1..=2 {
        out.push(Subject::Period(crate::round::Period::Half(year, h)));
    }
    out.push(Subject::Period(crate::round::Period::Year(year)));
    Ok(out)
}

/// The street's rows of `subject` for the API: from the publication for a street
/// account, from the reports as they are now for the office.
pub fn street_rows(
    ws: &Workspace,
    subject: &Subject,
    street: &str,
    published_only: bool,
) -> Result<Option<StreetView>> {
    if published_only {
        return street_view(ws, subject, street);
    }
    let dir = ws.reports_dir().join(subject.label());
    street_view_in(ws, subject, street, &dir, None)
}

/// A street's own rows of a publication as CSV (UTF-8 with BOM, for Excel):
/// `communities.csv` (its rows of `community_scores.csv`) or `deductions.csv` (its rows
/// of `deductions.csv` with a `why` column). The published files' own cells, so the
/// numbers are those of the period's CSVs. `None` when not published or no such table.
pub fn street_csv(
    ws: &Workspace,
    subject: &Subject,
    street: &str,
    name: &str,
) -> Result<Option<Vec<u8>>> {
    if publication(ws, subject)?.is_none() {
        return Ok(None);
    }
    let dir = published_dir(ws, subject);
    let (table, why): (crate::report::Table, Vec<String>) = match name {
        "communities.csv" => {
            let t = crate::report::Table::read(&dir.join("community_scores.csv"))?;
            let n = t.rows.len();
            (t, vec![String::new(); n])
        }
        "deductions.csv" if dir.join("deductions.csv").is_file() => {
            let rules = ws.rules()?;
            let c = crate::report::Csv::<DeductionRow>::read(&dir.join("deductions.csv"))?;
            let why = c
                .rows
                .iter()
                .map(|d| {
                    if d.row_type == "community" {
                        deduction_why(d, &rules.threshold)
                    } else {
                        String::new()
                    }
                })
                .collect();
            (c.table, why)
        }
        _ => return Ok(None),
    };
    let Some(col) = table.col("street_code") else {
        return Err(Error::Invalid(
            "a published table has no street_code column".into(),
        ));
    };
    let with_why = name == "deductions.csv";
    let mut header = table.headers.clone();
    if with_why {
        header.push("why".into());
    }
    let rows = table
        .rows
        .iter()
        .zip(why)
        .filter(|(r, _)| r.get(col).map(String::as_str) == Some(street))
        .map(|(r, w)| {
            let mut r = r.clone();
            if with_why {
                r.push(w);
            }
            r
        });
    Ok(Some(crate::fsutil::csv_bytes(header, rows, true)?))
}

#[cfg(test)]
mod tests {
    use super::Preview;

    #[test]
    fn the_confirmation_says_who_sees_it_what_is_undecided_and_what_is_replaced() {
        let p = Preview {
            label: "2018H1".into(),
            streets: 12,
            undecided: vec![("2018-R1".into(), 2), ("2018-R2".into(), 0)],
            republish: true,
        };
        assert_eq!(
            p.text(),
            "将向 12 个街道发布2018年上半年的结果，各街道只看到自己的部分。仍有 2 名访问员的质量标记未决定（2018年第1轮测评 2 名），其问卷照常计入得分。发布后可以撤回（须写明理由）。已发布的版本将被替换，日志保留两次发布的记录。"
        );
        let q = Preview {
            undecided: vec![("2018-R1".into(), 0)],
            republish: false,
            ..p
        };
        assert_eq!(
            q.text(),
            "将向 12 个街道发布2018年上半年的结果，各街道只看到自己的部分。质量标记均已决定。发布后可以撤回（须写明理由）。"
        );
    }
}
