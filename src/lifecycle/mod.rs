//! The lifecycle of what is stored: deliveries withdrawn or replaced, flags decided,
//! and the journal that records who did what (`crate::journal`), checked by
//! `verify_store`. The CLI and the portal call these; they only render the results.

pub mod recorded;
pub mod review;
pub mod verify;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::journal::{Draft, Writer};
use crate::round::RoundId;
use crate::store::{DecisionEntry, DeliveryStatus, StatusChange, Store};
use crate::workspace::Workspace;

fn require_reason(reason: &str) -> Result<String> {
    let r = reason.trim();
    if r.is_empty() {
        return Err(Error::Invalid(
            crate::messages::t(
                "须写明理由：理由记入日志，供日后查询",
                "a reason is required (--reason TEXT): it is kept in the journal for whoever asks later",
            )
            .into(),
        ));
    }
    Ok(r.to_string())
}

/// `manyi withdraw`: the delivery stops counting (scores, quality comparisons, the
/// duplicate-id check); its files stay in the store. Returns the delivery as it is now.
pub fn withdraw(
    ws: &Workspace,
    id: &str,
    reason: &str,
    actor: &str,
) -> Result<crate::store::DeliveryEntry> {
    let reason = require_reason(reason)?;
    let w = Writer::begin(Store::new(ws), actor)?;
    let d = w.index.resolve(id)?.clone();
    if d.status != DeliveryStatus::Active {
        let (short, name, status) = (
            crate::ingest::short(&d.sha256),
            &d.file_name,
            d.status.text(),
        );
        return Err(Error::Invalid(crate::messages::tr!(
            "交付 {short}（{name}）已是“{status}”状态",
            "delivery {short} ({name}) is {status} already"
        )));
    }
    change_status(w, &d, DeliveryStatus::Withdrawn, "withdraw", reason)
}

/// Sets delivery `d`'s status with who, when and why, and journals it as `action`.
fn change_status(
    mut w: Writer,
    d: &crate::store::DeliveryEntry,
    status: DeliveryStatus,
    action: &str,
    reason: String,
) -> Result<crate::store::DeliveryEntry> {
    let now = crate::store::now_utc();
    let actor = w.actor.clone();
    let e = w
        .index
        .deliveries
        .iter_mut()
        .find(|x| x.sha256 == d.sha256)
        .ok_or_else(|| Error::Internal("the delivery left the index".into()))?;
    e.status = status;
    e.status_change = Some(StatusChange {
        at: now,
        actor,
        reason: reason.clone(),
        by: None,
    });
    let out = e.clone();
    w.commit(
        Draft::new(action)
            .round(&d.round)
            .id(d.sha256.clone())
            .reason(reason)
            .detail("file_name", d.file_name.clone())
            .detail("accepted", d.accepted),
    )?;
    Ok(out)
}

/// The respondent ids of a stored delivery, in file order.
fn respondent_ids(store: &Store, d: &crate::store::DeliveryEntry) -> Result<Vec<String>> {
    let path = store.dir.join(&d.data);
    let df = crate::store::read_parquet(&path, Some(&["respondent_id"]))?;
    let col = df
        .column("respondent_id")
        .and_then(|c| c.str())
        .map_err(|e| Error::Polars {
            path: path.clone(),
            source: e,
        })?;
    Ok(col.iter().map(|v| v.unwrap_or("").to_string()).collect())
}

/// `manyi reinstate`: a withdrawn delivery counts again. Refused when one of its
/// respondent ids is now in another active delivery of the round (that delivery and
/// the first ids are named), and for a superseded one (its correction counts).
/// Journalled with the reason. Returns the delivery as it is now.
pub fn reinstate(
    ws: &Workspace,
    id: &str,
    reason: &str,
    actor: &str,
) -> Result<crate::store::DeliveryEntry> {
    use crate::messages::lang;
    let reason = require_reason(reason)?;
    let w = Writer::begin(Store::new(ws), actor)?;
    let d = w.index.resolve(id)?.clone();
    let short = crate::ingest::short(&d.sha256);
    if d.status != DeliveryStatus::Withdrawn {
        return Err(Error::Invalid(match lang() {
            crate::messages::Lang::Zh => format!(
                "交付 {short}（{}）{}，只有已撤回的交付可以恢复",
                d.file_name,
                d.status.text()
            ),
            crate::messages::Lang::En => format!(
                "delivery {short} ({}) is {}: only a withdrawn delivery can be reinstated",
                d.file_name,
                d.status.text()
            ),
        }));
    }
    let round: RoundId = d.round.parse()?;
    let mine: std::collections::HashSet<String> =
        respondent_ids(&w.store, &d)?.into_iter().collect();
    for other in w.store.deliveries(&w.index, &round) {
        let clash: Vec<String> = respondent_ids(&w.store, other)?
            .into_iter()
            .filter(|r| mine.contains(r))
            .collect();
        if let Some(first) = clash.first() {
            let n = clash.len();
            let example = clash.iter().take(3).cloned().collect::<Vec<_>>().join("、");
            let (other_short, other_file) = (crate::ingest::short(&other.sha256), &other.file_name);
            return Err(Error::Invalid(match lang() {
                crate::messages::Lang::Zh => format!(
                    "不能恢复交付 {short}（{}）：其中 {n} 份问卷的编号（如 {example}）已在有效交付 {other_short}（{other_file}）中；请先撤回那次交付，或让测评机构更正后重新交付",
                    d.file_name
                ),
                crate::messages::Lang::En => format!(
                    "cannot reinstate delivery {short} ({}): {n} of its respondent ids (first {first}) are in active delivery {other_short} ({other_file}); withdraw that one first, or have the evaluator deliver a correction",
                    d.file_name
                ),
            }));
        }
    }
    change_status(w, &d, DeliveryStatus::Active, "reinstate", reason)
}

/// What a decision is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Interviewer,
    Respondent,
}

impl Subject {
    pub fn code(self) -> &'static str {
        match self {
            Subject::Interviewer => "interviewer",
            Subject::Respondent => "respondent",
        }
    }
}

/// The outcome of `decide`: the decision, the one it superseded, and how many of the
/// round's questionnaires it covers.
#[derive(Debug, Clone, Serialize)]
pub struct Decided {
    pub decision: DecisionEntry,
    pub superseded: Option<DecisionEntry>,
    pub questionnaires: usize,
    /// Whether the subject is flagged in the round now.
    pub flagged: bool,
}

/// `manyi decide`: records exclude or keep, with a reason, on an interviewer or one
/// questionnaire of a round (the subject must have questionnaires in its active
/// deliveries). A later decision on the same subject supersedes this one.
pub fn decide(
    ws: &Workspace,
    round: &RoundId,
    subject: Subject,
    id: &str,
    exclude: bool,
    reason: &str,
    actor: &str,
) -> Result<Decided> {
    let reason = require_reason(reason)?;
    let id = id.trim().to_string();
    let rules = ws.rules()?;
    let mut w = Writer::begin(Store::new(ws), actor)?;
    let data = crate::flags::RoundData::load_ids(&w.store, &w.index, round)?;
    let matching = (0..data.len())
        .filter(|&i| match subject {
            Subject::Interviewer => {
                data.interviewer_names.get(data.interviewer[i] as usize) == Some(&id)
            }
            Subject::Respondent => data.respondent(i) == id,
        })
        .count();
    if matching == 0 {
        let what = match subject {
            Subject::Interviewer => crate::messages::t("访问员", "interviewer"),
            Subject::Respondent => crate::messages::t("受访者编号", "respondent id"),
        };
        return Err(Error::Invalid(crate::messages::tr!(
            "第 {round} 轮的有效交付中没有{what} {id:?} 的问卷（见本轮标记）",
            "no questionnaire of round {round}'s active deliveries has {what} {id:?} (see `manyi flags --round {round}`)"
        )));
    }
    let flagged = match subject {
        Subject::Interviewer => crate::flags::cached(ws, &w.store, &w.index, round, &rules)?
            .interviewers
            .iter()
            .any(|r| r.interviewer_id == id),
        Subject::Respondent => crate::flags::Flagged::read(&w.store, &w.index, round)?.has(&id),
    };
    let round_s = round.to_string();
    let superseded = w
        .index
        .decisions_in_force(&round_s)
        .into_iter()
        .find(|d| d.subject == subject.code() && d.id == id)
        .cloned();
    let action = if exclude { "exclude" } else { "keep" };
    let decision = DecisionEntry {
        round: round_s.clone(),
        subject: subject.code().to_string(),
        id: id.clone(),
        action: action.to_string(),
        reason: reason.clone(),
        actor: w.actor.clone(),
        at: crate::store::now_utc(),
        seq: w.index.journal_entries + 1,
    };
    w.index.decisions.push(decision.clone());
    let mut draft = Draft::new("decide")
        .round(&round_s)
        .id(format!("{}:{id}", subject.code()))
        .reason(reason)
        .detail("decision", action)
        .detail("questionnaires", matching)
        .detail("flagged", flagged);
    if let Some(s) = &superseded {
        draft = draft.detail("supersedes", s.seq);
    }
    w.commit(draft)?;
    Ok(Decided {
        decision,
        superseded,
        questionnaires: matching,
        flagged,
    })
}

/// The flags of a round now (`manyi flags`).
pub fn flags(ws: &Workspace, round: &RoundId) -> Result<crate::flags::RoundFlags> {
    let rules = ws.rules()?;
    let store = Store::new(ws);
    let index = store.read_index()?;
    let flagged = crate::flags::Flagged::read(&store, &index, round)?;
    Ok(crate::flags::cached(ws, &store, &index, round, &rules)?.expand(&index, flagged))
}

/// Draws the round's next callback batch (`callbacks::draw`), giving the interviewers
/// the comparison flags (statistical evidence, whatever callbacks said) their full
/// share at once.
pub fn draw_callbacks(
    ws: &Workspace,
    round: &RoundId,
    seed: Option<&str>,
    actor: &str,
) -> Result<crate::callbacks::DrawOutcome> {
    let rules = ws.rules()?;
    let store = Store::new(ws);
    let index = store.read_index()?;
    let flagged: std::collections::BTreeSet<String> =
        crate::flags::cached(ws, &store, &index, round, &rules)?
            .interviewers
            .iter()
            .filter(|r| r.reason_codes.iter().any(|c| c != "callbacks") || r.p_value.is_some())
            .map(|r| r.interviewer_id.clone())
            .collect();
    crate::callbacks::draw(ws, round, seed, &flagged, actor)
}

/// (undecided interviewers, undecided questionnaires) of a round now.
pub fn undecided(ws: &Workspace, round: &RoundId) -> Result<(usize, usize)> {
    let rules = ws.rules()?;
    let store = Store::new(ws);
    let index = store.read_index()?;
    crate::flags::undecided(ws, &store, &index, round, &rules)
}

/// A search of the deliveries list (the office's and evaluators' 交付记录): words
/// that must all occur in the file's name, id, organisation, uploader, round or reason
/// (case-insensitive), and optionally a round and a status.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliverySearch {
    pub text: String,
    pub round: Option<String>,
    /// active | withdrawn | superseded
    pub status: Option<String>,
}

impl DeliverySearch {
    pub fn is_empty(&self) -> bool {
        self.text.trim().is_empty() && self.round.is_none() && self.status.is_none()
    }

    pub fn matches(&self, d: &DeliveryRow) -> bool {
        if self
            .round
            .as_ref()
            .is_some_and(|r| !r.eq_ignore_ascii_case(&d.round))
        {
            return false;
        }
        if self.status.as_ref().is_some_and(|s| s != &d.status) {
            return false;
        }
        let hay = [
            d.file_name.as_str(),
            d.id.as_str(),
            d.round.as_str(),
            d.evaluator.as_deref().unwrap_or(""),
            d.actor.as_deref().unwrap_or(""),
            d.status_reason.as_deref().unwrap_or(""),
            crate::store::DeliveryStatus::from_code(&d.status)
                .map_or("", |s| s.text_in(crate::messages::Lang::Zh)),
        ]
        .join("\n")
        .to_lowercase();
        self.text
            .split_whitespace()
            .all(|w| hay.contains(&w.to_lowercase()))
    }
}

/// One row of `manyi deliveries`.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRow {
    pub id: String,
    pub round: String,
    pub file_name: String,
    pub evaluator: Option<String>,
    /// active | withdrawn | superseded
    pub status: String,
    /// For a superseded delivery: the one that replaced it; for a correction: the one
    /// it replaced.
    pub superseded_by: Option<String>,
    pub replaces: Option<String>,
    pub status_reason: Option<String>,
    pub rows_read: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// Questionnaires with at least one questionnaire flag.
    pub flagged: u64,
    pub ingested_at: String,
    pub actor: Option<String>,
}

/// Every stored delivery (of one round, or all), in the order stored.
pub fn deliveries(ws: &Workspace, round: Option<&RoundId>) -> Result<Vec<DeliveryRow>> {
    delivery_rows(ws, round, true)
}

/// `deliveries`; without `count_flagged` the rows' `flagged` is 0 and no stored data is
/// read (the index alone: what pages listing many deliveries need).
pub fn delivery_rows(
    ws: &Workspace,
    round: Option<&RoundId>,
    count_flagged: bool,
) -> Result<Vec<DeliveryRow>> {
    let store = Store::new(ws);
    let index = store.read_index()?;
    let mut out = Vec::new();
    for d in &index.deliveries {
        if round.is_some_and(|r| r.to_string() != d.round) {
            continue;
        }
        let path = store.dir.join(&d.data);
        let cols: Vec<&str> = if count_flagged {
            crate::flags::QUESTIONNAIRE_FLAGS
                .iter()
                .map(|f| f.0)
                .collect()
        } else {
            Vec::new()
        };
        let df = if count_flagged {
            crate::store::read_parquet(&path, Some(&cols))?
        } else {
            polars::prelude::DataFrame::empty()
        };
        let mut any = vec![false; df.height()];
        for c in &cols {
            let col = df
                .column(c)
                .and_then(|c| c.bool())
                .map_err(|e| Error::Polars {
                    path: path.clone(),
                    source: e,
                })?;
            for (a, v) in any.iter_mut().zip(col.iter()) {
                *a |= v.unwrap_or(false);
            }
        }
        out.push(DeliveryRow {
            id: d.sha256.clone(),
            round: d.round.clone(),
            file_name: d.file_name.clone(),
            evaluator: d.evaluator.clone(),
            status: d.status.code().to_string(),
            superseded_by: d.status_change.as_ref().and_then(|c| c.by.clone()),
            replaces: d.replaces.clone(),
            status_reason: d.status_change.as_ref().map(|c| c.reason.clone()),
            rows_read: d.rows_read,
            accepted: d.accepted,
            rejected: d.rejected,
            flagged: any.iter().filter(|a| **a).count() as u64,
            ingested_at: d.ingested_at.clone(),
            actor: d.actor.clone(),
        });
    }
    Ok(out)
}

/// The committed journal, of one round (entries with that round or period) or all.
pub fn journal(ws: &Workspace, round: Option<&str>) -> Result<Vec<crate::journal::Entry>> {
    let store = Store::new(ws);
    let index = store.read_index()?;
    let mut e = crate::journal::entries(&store, &index)?;
    if let Some(r) = round {
        e.retain(|x| x.round.as_deref() == Some(r));
    }
    Ok(e)
}

/// What a round's coverage, flags and decisions depend on, as one string: the stored
/// deliveries with their status, the decisions, and the rules, by hash. Equal keys,
/// equal flags and coverage (the journal's own entries, a login for one, leave it).
pub fn flags_key(ws: &Workspace) -> Result<String> {
    let index = Store::new(ws).read_index()?;
    let mut h = String::new();
    for d in &index.deliveries {
        h.push_str(&d.sha256);
        h.push_str(d.status.text());
        h.push('\n');
    }
    let decisions =
        serde_json::to_string(&index.decisions).map_err(|e| Error::Internal(e.to_string()))?;
    h.push_str(&decisions);
    h.push_str(&crate::fsutil::sha256_hex(&crate::fsutil::read(
        &ws.rules_path(),
    )?));
    h.push_str(&crate::callbacks::digest_all(ws)?);
    Ok(crate::fsutil::sha256_hex(h.as_bytes()))
}

/// Journal entries as a CSV for people (UTF-8 with BOM, Chinese headers, oldest
/// first): the time in Beijing time and in UTC as stored, the action in Chinese and
/// its code, the round or period, the objects, the reason, and the files written.
pub fn journal_csv(entries: &[crate::journal::Entry]) -> Result<Vec<u8>> {
    let rows = entries.iter().map(|e| {
        vec![
            e.seq.to_string(),
            crate::store::beijing_time(&e.time),
            e.time.clone(),
            e.actor.clone(),
            crate::messages::journal_action_text(&e.action).to_string(),
            e.action.clone(),
            e.round.clone().unwrap_or_default(),
            e.ids.join(" "),
            e.reason.clone().unwrap_or_default(),
            e.written
                .iter()
                .map(|f| f.path.clone())
                .collect::<Vec<_>>()
                .join(" "),
        ]
    });
    crate::fsutil::csv_bytes(
        [
            "序号",
            "时间（北京时间）",
            "时间（UTC）",
            "操作人",
            "操作",
            "操作代码",
            "轮次或期间",
            "对象",
            "理由",
            "写入的文件",
        ],
        rows,
        true,
    )
}

/// Which journal entries to show (each field, when given, must match exactly).
#[derive(Debug, Clone, Default)]
pub struct JournalFilter {
    pub round: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
}

/// The journal's entries that match `f`, oldest first.
pub fn journal_filtered(ws: &Workspace, f: &JournalFilter) -> Result<Vec<crate::journal::Entry>> {
    let mut e = journal(ws, f.round.as_deref())?;
    e.retain(|x| {
        f.actor.as_deref().is_none_or(|a| x.actor == a)
            && f.action.as_deref().is_none_or(|a| x.action == a)
    });
    Ok(e)
}

/// The indicator files an evaluation of `period` may have read (those that exist).
pub fn evaluation_inputs(ws: &Workspace, period: &crate::round::Period) -> Vec<std::path::PathBuf> {
    use crate::round::Period;
    let periods = match *period {
        Period::Year(y) => vec![Period::Half(y, 1), Period::Half(y, 2)],
        p => vec![p],
    };
    periods
        .iter()
        .flat_map(|p| crate::evaluate::indicator_files(ws, p))
        .map(|f| ws.root.join(f))
        .chain([crate::evaluate::waivers_path(ws)])
        .filter(|p| p.is_file())
        .collect()
}

/// One sampled community's coverage: valid questionnaires stored so far (by active
/// deliveries) against the rules' minimum.
#[derive(Debug, Clone, Serialize)]
pub struct CoverageRow {
    pub street_code: String,
    pub street_name: String,
    pub community_code: String,
    pub community_name: String,
    /// Valid questionnaires that count: those of active deliveries, less the ones the
    /// office excluded by a decision.
    pub valid: u64,
    /// Valid questionnaires excluded by the office's decisions (not in `valid`).
    pub excluded: u64,
    pub minimum: u64,
    /// Valid questionnaires still missing (0 when the minimum is reached).
    pub missing: u64,
}

/// A round's coverage (`GET /api/v1/rounds/{round}/coverage`, the evaluator's round
/// page): the sampled communities in order of the frame.
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    pub round: String,
    /// False before the round's sample is drawn (no community to survey yet).
    pub sample_drawn: bool,
    pub minimum: u64,
    pub communities: Vec<CoverageRow>,
    /// Communities below the minimum.
    pub short: usize,
}

/// A round's sampled communities as an evaluator's list (XLSX: 街道代码, 街道, 社区代码,
/// 社区名称, 至少需有效问卷, 已有有效问卷, 还差; every code a text cell, so Excel keeps
/// all twelve digits).
pub fn sample_list_xlsx(cov: &Coverage) -> Result<Vec<u8>> {
    use crate::fsutil::XCell::{Num, Text};
    let rows: Vec<Vec<crate::fsutil::XCell>> = cov
        .communities
        .iter()
        .map(|row| {
            vec![
                Text(row.street_code.clone()),
                Text(row.street_name.clone()),
                Text(row.community_code.clone()),
                Text(row.community_name.clone()),
                Num(row.minimum as f64),
                Num(row.valid as f64),
                Num(row.missing as f64),
            ]
        })
        .collect();
    crate::fsutil::xlsx_table(
        "样本社区",
        &[
            "街道代码",
            "街道",
            "社区代码",
            "社区名称",
            "至少需有效问卷",
            "已有有效问卷",
            "还差",
        ],
        &[14.0, 14.0, 14.0, 24.0, 14.0, 14.0, 14.0],
        &rows,
    )
}

/// Coverage of `round`. With `scope`, only the organisation's streets and the
/// questionnaires of its own active deliveries count (an evaluator never learns from
/// another organisation's data).
pub fn coverage(
    ws: &Workspace,
    round: &RoundId,
    scope: Option<&crate::accounts::Assigned>,
) -> Result<Coverage> {
    let rules = ws.rules()?;
    let minimum = rules.validity.min_valid_per_community as u64;
    let mut out = Coverage {
        round: round.to_string(),
        sample_drawn: false,
        minimum,
        communities: Vec::new(),
        short: 0,
    };
    if !ws.sample_path(round).is_file() {
        return Ok(out);
    }
    let (codes, _) = crate::sample::load_sample_codes(ws, round)?;
    out.sample_drawn = true;
    let store = Store::new(ws);
    let index = store.read_index()?;
    // Each active delivery's summary (written at ingest): no row is read unless a
    // single questionnaire is excluded.
    let mut valid: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    let mut excluded: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    let round_s = round.to_string();
    let force = crate::flags::InForce::new(&index, &round_s);
    // A decision on a single questionnaire overrides its interviewer's (a kept one
    // stays in), so with any of them the exclusions are counted row by row.
    let by_rows = !force.respondents.is_empty();
    for d in store.deliveries(&index, round) {
        if let Some(s) = scope
            && d.evaluator.as_deref() != Some(s.org.as_str())
        {
            continue;
        }
        let summary = store.counts(d)?;
        for (c, n) in &summary.valid {
            *valid.entry(c.clone()).or_default() += n;
        }
        if !by_rows {
            for (iv, per) in &summary.valid_by_interviewer {
                if !iv.is_empty() && force.excludes("", Some(iv)).is_some() {
                    for (c, n) in per {
                        *excluded.entry(c.clone()).or_default() += n;
                    }
                }
            }
        }
    }
    // What the office excluded questionnaire by questionnaire needs the rows (an
    // evaluator's scope: of its own deliveries only).
    if by_rows {
        let data = crate::flags::RoundData::load_ids(&store, &index, round)?;
        let ex = crate::flags::excluded(&data, &index, &round_s);
        let mut i = 0;
        for (k, mask) in ex.masks.iter().enumerate() {
            let sha = &data.deliveries[k].0;
            let in_scope = scope.is_none_or(|s| {
                index
                    .deliveries
                    .iter()
                    .any(|d| &d.sha256 == sha && d.evaluator.as_deref() == Some(s.org.as_str()))
            });
            for m in mask {
                if in_scope && *m && data.valid[i] {
                    let code = &data.community_codes[data.community[i] as usize];
                    *excluded.entry(code.clone()).or_default() += 1;
                }
                i += 1;
            }
        }
    }
    let frame = ws.frame()?;
    for street in frame.streets.values() {
        if scope.is_some_and(|s| !s.streets.contains(&street.code)) {
            continue;
        }
        for c in &street.communities {
            if !codes.contains(&c.code) {
                continue;
            }
            let x = excluded.get(&c.code).copied().unwrap_or(0);
            let v = valid.get(&c.code).copied().unwrap_or(0).saturating_sub(x);
            out.communities.push(CoverageRow {
                street_code: street.code.clone(),
                street_name: street.name.clone(),
                community_code: c.code.clone(),
                community_name: c.name.clone(),
                valid: v,
                excluded: x,
                minimum,
                missing: minimum.saturating_sub(v),
            });
        }
    }
    out.short = out.communities.iter().filter(|c| c.missing > 0).count();
    Ok(out)
}

/// The rounds the workspace knows: those with a sample drawn or a delivery stored,
/// newest first.
pub fn rounds(ws: &Workspace) -> Result<Vec<RoundId>> {
    let mut set = std::collections::BTreeSet::new();
    let dir = ws.samples_dir();
    if dir.is_dir() {
        for e in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            let e = e.map_err(|e| Error::io(&dir, e))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(r) = name
                .strip_suffix(".csv")
                .and_then(|s| s.parse::<RoundId>().ok())
            {
                set.insert(r);
            }
        }
    }
    for d in Store::new(ws).read_index()?.deliveries {
        if let Ok(r) = d.round.parse::<RoundId>() {
            set.insert(r);
        }
    }
    Ok(set.into_iter().rev().collect())
}
