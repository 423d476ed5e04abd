//! A round's flags over all its active deliveries, and the decisions in force on them.
//!
//! Questionnaire flags (speeder, straight-lined, duplicate pattern, too few answers)
//! are those stored at ingest. Interviewer flags are computed here, over every active
//! delivery of the round: an interviewer is compared with the peers who interviewed
//! in the same communities, whichever file they came in.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ingest::quality;
use crate::round::RoundId;
use crate::rules::Rules;
use crate::store::{DecisionEntry, Index, Store};

mod data;
mod round_cells;

pub use data::RoundData;
use data::{Interned, intern};
use round_cells::{RoundCells, finish};

/// The questionnaire flags stored per row, in this order.
pub const QUESTIONNAIRE_FLAGS: [(&str, &str); 4] = [
    ("flag_speeder", "speeder"),
    ("flag_straightline", "straightline"),
    ("flag_duplicate_pattern", "duplicate_pattern"),
    ("flag_too_few_answers", "too_few_answers"),
];

/// The decision in force on a subject, for people and programs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DecisionView {
    /// exclude | keep
    pub action: String,
    pub reason: String,
    pub actor: String,
    pub at: String,
    /// interviewer | respondent: what the decision was made on.
    pub on: String,
}

impl From<&DecisionEntry> for DecisionView {
    fn from(d: &DecisionEntry) -> Self {
        DecisionView {
            action: d.action.clone(),
            reason: d.reason.clone(),
            actor: d.actor.clone(),
            at: d.at.clone(),
            on: d.subject.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InterviewerRow {
    pub interviewer_id: String,
    pub questionnaires: usize,
    pub communities: usize,
    /// File names of the deliveries the interviewer's questionnaires came in.
    pub deliveries: Vec<String>,
    pub score_difference: f64,
    pub score_z: f64,
    pub duration_ratio: Option<f64>,
    pub duration_z: Option<f64>,
    pub straightline_share: f64,
    /// The indicators that stand out (codes of `quality::INDICATORS`).
    pub reason_codes: Vec<String>,
    /// The combined p-value.
    #[serde(default)]
    pub p_value: Option<f64>,
    /// Every indicator against the peers.
    #[serde(default)]
    pub indicators: Vec<quality::IndicatorEvidence>,
    /// What excluding them would do: per community they worked in, its mean score with
    /// and without them; per street, the change of the mean of its communities.
    #[serde(default)]
    pub sensitivity: Sensitivity,
    /// Their questionnaires' own signals (evidence on the interviewer, no decision
    /// each).
    #[serde(default)]
    pub signals: Signals,
    /// What callbacks found on them (`callbacks::round`), when any was drawn.
    #[serde(default)]
    pub callbacks: Option<crate::callbacks::InterviewerCallbacks>,
    pub decision: Option<DecisionView>,
}

/// Counts of an interviewer's questionnaires with each questionnaire signal.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Signals {
    /// Any questionnaire flag.
    pub flagged: u64,
    pub speeders: u64,
    pub straightlined: u64,
    /// Invalid by rule (too few answers).
    pub invalid: u64,
}

impl InterviewerRow {
    /// The flag as the ingest receipt carries it (for the texts of `messages`).
    pub fn as_flag(&self) -> quality::InterviewerFlag {
        quality::InterviewerFlag {
            interviewer_id: self.interviewer_id.clone(),
            questionnaires: self.questionnaires,
            score_difference: self.score_difference,
            score_z: self.score_z,
            duration_ratio: self.duration_ratio,
            duration_z: self.duration_z,
            straightline_share: self.straightline_share,
            reasons: Vec::new(),
            reason_codes: self.reason_codes.clone(),
            p_value: self.p_value,
            indicators: self.indicators.clone(),
        }
    }
}

impl Sensitivity {
    /// For people: each street's change, then each community's score with → without,
    /// named from `frame` (codes where it does not know them).
    pub fn text(&self, l: crate::messages::Lang, frame: &crate::frame::Frame) -> String {
        let zh = l == crate::messages::Lang::Zh;
        let street = |s: &str| {
            frame
                .streets
                .get(s)
                .map_or(s.to_string(), |x| x.name.clone())
        };
        let community = |c: &str| frame.community(c).map_or(c.to_string(), |x| x.name.clone());
        let mut parts: Vec<String> = self
            .streets
            .iter()
            .map(|(s, d)| {
                if zh {
                    format!("{} {d:+.2} 分", street(s))
                } else {
                    format!("{} {d:+.2}", street(s))
                }
            })
            .collect();
        for (c, with, without) in &self.communities {
            parts.push(match without {
                Some(w) => format!("{} {with:.1}→{w:.1}", community(c)),
                None => format!("{} {with:.1}→—", community(c)),
            });
        }
        parts.join(if zh { ";" } else { "; " })
    }
}

/// How much excluding an interviewer would move the scores (valid questionnaires).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Sensitivity {
    /// (community code, mean score with, mean score without: None when nothing is left).
    pub communities: Vec<(String, f64, Option<f64>)>,
    /// (street code, change of the street's mean of community means).
    pub streets: Vec<(String, f64)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QuestionnaireRow {
    pub respondent_id: String,
    pub interviewer_id: Option<String>,
    pub community_code: String,
    pub delivery: String,
    pub file_name: String,
    pub line: u64,
    pub flags: Vec<String>,
    pub valid: bool,
    pub decision: Option<DecisionView>,
}

/// A round's flags with the decisions in force, undecided first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoundFlags {
    pub round: String,
    pub questionnaires_read: usize,
    pub interviewers: Vec<InterviewerRow>,
    pub questionnaires: Vec<QuestionnaireRow>,
    pub undecided_interviewers: usize,
    pub undecided_questionnaires: usize,
}

impl RoundFlags {
    pub fn undecided(&self) -> usize {
        self.undecided_interviewers + self.undecided_questionnaires
    }
}

/// The decisions of a round in force, by subject.
pub struct InForce<'a> {
    pub interviewers: BTreeMap<&'a str, &'a DecisionEntry>,
    pub respondents: BTreeMap<&'a str, &'a DecisionEntry>,
}

impl<'a> InForce<'a> {
    pub fn new(index: &'a Index, round: &str) -> InForce<'a> {
        let mut f = InForce {
            interviewers: BTreeMap::new(),
            respondents: BTreeMap::new(),
        };
        for d in index.decisions_in_force(round) {
            match d.subject.as_str() {
                "interviewer" => f.interviewers.insert(d.id.as_str(), d),
                _ => f.respondents.insert(d.id.as_str(), d),
            };
        }
        f
    }
    /// The decision on a questionnaire: on itself if any, else on its interviewer.
    pub fn on_questionnaire(
        &self,
        respondent: &str,
        interviewer: Option<&str>,
    ) -> Option<&'a DecisionEntry> {
        self.respondents
            .get(respondent)
            .or_else(|| interviewer.and_then(|iv| self.interviewers.get(iv)))
            .copied()
    }
    pub fn excludes(
        &self,
        respondent: &str,
        interviewer: Option<&str>,
    ) -> Option<&'a DecisionEntry> {
        self.on_questionnaire(respondent, interviewer)
            .filter(|d| d.action == "exclude")
    }
}

/// Sets each flag's decision in force and orders them: undecided first, then
/// interviewers by id and questionnaires in store order (the order `compute` gives).
pub fn apply_decisions(rf: &mut RoundFlags, index: &Index) {
    let force = InForce::new(index, &rf.round);
    for r in &mut rf.interviewers {
        r.decision = force
            .interviewers
            .get(r.interviewer_id.as_str())
            .map(|d| DecisionView::from(*d));
    }
    for q in &mut rf.questionnaires {
        q.decision = force
            .on_questionnaire(&q.respondent_id, q.interviewer_id.as_deref())
            .map(DecisionView::from);
    }
    rf.interviewers.sort_by(|a, b| {
        a.decision
            .is_some()
            .cmp(&b.decision.is_some())
            .then_with(|| a.interviewer_id.cmp(&b.interviewer_id))
    });
    rf.questionnaires.sort_by_key(|q| q.decision.is_some());
    rf.undecided_interviewers = rf
        .interviewers
        .iter()
        .filter(|r| r.decision.is_none())
        .count();
    // Questionnaire signals await no decision (see `Computed::undecided`).
    rf.undecided_questionnaires = 0;
}

/// The flagged questionnaires of a round, column by column, read from the rows when
/// they are listed (`Computed::expand`) or counted against decisions on single
/// questionnaires.
#[derive(Debug, Clone, Default)]
pub struct Flagged {
    deliveries: Vec<(String, String)>,
    communities: Vec<String>,
    interviewers: Vec<String>,
    respondent: Vec<String>,
    /// Index into `interviewers`, u32::MAX when none.
    interviewer: Vec<u32>,
    community: Vec<u32>,
    delivery: Vec<u32>,
    line: Vec<u64>,
    /// Bit k: QUESTIONNAIRE_FLAGS[k].
    flags: Vec<u8>,
    valid: Vec<bool>,
}

impl Flagged {
    fn interviewer_name(&self, i: usize) -> Option<&str> {
        self.interviewers
            .get(self.interviewer[i] as usize)
            .map(String::as_str)
    }

    /// The flagged questionnaires of the round's active deliveries, in store order
    /// (a delivery's other columns are read only when it has any).
    pub fn read(store: &Store, index: &Index, round: &RoundId) -> Result<Flagged> {
        let mut f = Flagged::default();
        let mut ix = Interned::default();
        let flag_cols: Vec<&str> = QUESTIONNAIRE_FLAGS.iter().map(|f| f.0).collect();
        for (k, del) in store.deliveries(index, round).into_iter().enumerate() {
            f.deliveries
                .push((del.sha256.clone(), del.file_name.clone()));
            let path = store.dir.join(&del.data);
            let pe = |e| Error::Polars {
                path: path.clone(),
                source: e,
            };
            let df = crate::store::read_parquet(&path, Some(&flag_cols))?;
            let mut q = vec![0u8; df.height()];
            for (b, name) in flag_cols.iter().enumerate() {
                let c = df.column(name).and_then(|c| c.bool()).map_err(pe)?;
                for (i, v) in c.iter().enumerate() {
                    q[i] |= (v.unwrap_or(false) as u8) << b;
                }
            }
            if q.iter().all(|b| *b == 0) {
                continue;
            }
            let cols = [
                "respondent_id",
                "interviewer_id",
                "community_code",
                "line",
                "valid",
            ];
            let df = crate::store::read_parquet(&path, Some(&cols))?;
            let str_col = |name: &str| df.column(name).and_then(|c| c.str()).map_err(pe);
            let (rid, iv, cc) = (
                str_col("respondent_id")?,
                str_col("interviewer_id")?,
                str_col("community_code")?,
            );
            let line = df.column("line").and_then(|c| c.u64()).map_err(pe)?;
            let valid = df.column("valid").and_then(|c| c.bool()).map_err(pe)?;
            for (i, qi) in q.iter().enumerate() {
                if *qi == 0 {
                    continue;
                }
                f.respondent.push(rid.get(i).unwrap_or("").to_string());
                f.interviewer.push(match iv.get(i) {
                    None | Some("") => u32::MAX,
                    Some(v) => intern(&mut ix.interviewers, &mut f.interviewers, v),
                });
                f.community.push(intern(
                    &mut ix.communities,
                    &mut f.communities,
                    cc.get(i).unwrap_or(""),
                ));
                f.delivery.push(k as u32);
                f.line.push(line.get(i).unwrap_or(0));
                f.flags.push(*qi);
                f.valid.push(valid.get(i).unwrap_or(false));
            }
        }
        Ok(f)
    }

    /// Whether `respondent` is among them.
    pub fn has(&self, respondent: &str) -> bool {
        self.respondent.iter().any(|r| r == respondent)
    }
}

/// A round's flags before decisions: the interviewers (store-independent order) and
/// how many questionnaires carry a questionnaire flag, per interviewer ("" for those
/// without one).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Computed {
    pub round: String,
    pub questionnaires_read: usize,
    pub interviewers: Vec<InterviewerRow>,
    pub flagged_by_interviewer: BTreeMap<String, u64>,
}

impl Computed {
    /// (undecided interviewers, undecided questionnaires) under the decisions in force.
    /// Questionnaire signals (speeder, straight-lined, duplicate pattern) are evidence
    /// on their interviewer and await no decision of their own, and questionnaires
    /// with too few answers (or too short, when the rules say so) are invalid by rule:
    /// the second count is 0, kept for programs that read it.
    pub fn undecided(&self, index: &Index) -> (usize, usize) {
        let force = InForce::new(index, &self.round);
        let iv = self
            .interviewers
            .iter()
            .filter(|r| !force.interviewers.contains_key(r.interviewer_id.as_str()))
            .count();
        (iv, 0)
    }

    /// The rows people read, with the decisions in force, undecided first.
    pub fn expand(self, index: &Index, f: Flagged) -> RoundFlags {
        let questionnaires = (0..f.respondent.len())
            .map(|i| {
                let q = f.flags[i];
                let (sha, file) = &f.deliveries[f.delivery[i] as usize];
                QuestionnaireRow {
                    respondent_id: f.respondent[i].clone(),
                    interviewer_id: f.interviewer_name(i).map(str::to_string),
                    community_code: f.communities[f.community[i] as usize].clone(),
                    delivery: sha.clone(),
                    file_name: file.clone(),
                    line: f.line[i],
                    flags: QUESTIONNAIRE_FLAGS
                        .iter()
                        .enumerate()
                        .filter(|(b, _)| q & (1 << b) != 0)
                        .map(|(_, f)| f.1.to_string())
                        .collect(),
                    valid: f.valid[i],
                    decision: None,
                }
            })
            .collect();
        let mut rf = RoundFlags {
            round: self.round,
            questionnaires_read: self.questionnaires_read,
            interviewers: self.interviewers,
            questionnaires,
            undecided_interviewers: 0,
            undecided_questionnaires: 0,
        };
        apply_decisions(&mut rf, index);
        rf
    }
}

/// Per interviewer ("" for questionnaires without one) of a round's active deliveries:
/// [questionnaires, valid, speeders, straight-lined], from the summaries (the rows of
/// a store without them).
pub fn interviewer_counts(
    store: &Store,
    index: &Index,
    round: &RoundId,
    rules: &Rules,
) -> Result<BTreeMap<String, [u64; 4]>> {
    let rc = RoundCells::now(store, index, round, rules)?;
    let mut out: BTreeMap<String, [u64; 4]> = BTreeMap::new();
    for cells in &rc.table.communities {
        for (iv, s) in cells {
            let e = out.entry(rc.name_of(*iv).to_string()).or_default();
            e[0] += s.rows;
            e[1] += s.valid;
            e[2] += s.speeders;
            e[3] += s.straight;
        }
    }
    Ok(out)
}

/// A round's flagged interviewers with the decisions in force, undecided first.
pub fn interviewers_now(
    ws: &crate::workspace::Workspace,
    store: &Store,
    index: &Index,
    round: &RoundId,
    rules: &Rules,
) -> Result<Vec<InterviewerRow>> {
    Ok(cached(ws, store, index, round, rules)?
        .expand(index, Flagged::default())
        .interviewers)
}

/// A round's flags and decisions counted: (undecided interviewers, undecided
/// questionnaires: 0, see `Computed::undecided`), from the flags cache.
pub fn undecided(
    ws: &crate::workspace::Workspace,
    store: &Store,
    index: &Index,
    round: &RoundId,
    rules: &Rules,
) -> Result<(usize, usize)> {
    Ok(cached(ws, store, index, round, rules)?.undecided(index))
}

/// What the cached flags of a round were computed from: the engine, the rules file
/// and the round's active deliveries (their ids and stored data, in store order).
fn cache_key(store: &Store, index: &Index, round: &RoundId, rules_sha: &str) -> String {
    let mut key = format!(
        "manyi {} flags {}\nrules {rules_sha}\n",
        env!("CARGO_PKG_VERSION"),
        quality::ALGORITHM
    );
    for d in store.deliveries(index, round) {
        key.push_str(&format!(
            "{} {}\n",
            d.sha256,
            d.data_sha256.as_deref().unwrap_or("-")
        ));
    }
    crate::fsutil::sha256_hex(key.as_bytes())
}

#[derive(Serialize, Deserialize)]
struct Cached {
    key: String,
    flags: Computed,
}

/// The round's flags, from `surveys/store/cache/flags-<round>.json` when it was
/// computed from the same deliveries and rules, else computed (and cached: derived
/// data, replaced whole, never journalled). Decisions are applied by the caller
/// (`Computed::expand`, `Computed::undecided`), so they are always those in force.
pub fn cached(
    ws: &crate::workspace::Workspace,
    store: &Store,
    index: &Index,
    round: &RoundId,
    rules: &Rules,
) -> Result<Computed> {
    let rules_sha = crate::fsutil::sha256_hex(&crate::fsutil::read(&ws.rules_path())?);
    let cb_digest = crate::callbacks::digest(ws, round)?;
    let key = crate::fsutil::sha256_hex(
        format!(
            "{}\ncallbacks {cb_digest}\n",
            cache_key(store, index, round, &rules_sha)
        )
        .as_bytes(),
    );
    let path = store.dir.join("cache").join(format!("flags-{round}.json"));
    let hit = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Cached>(&b).ok())
        .filter(|c| c.key == key);
    Ok(match hit {
        Some(c) => c.flags,
        None => {
            let mut clock = crate::timings::Phases::new();
            let rc = RoundCells::now(store, index, round, rules)?;
            clock.lap("round cells");
            let cb = if cb_digest.is_empty() {
                None
            } else {
                Some(crate::callbacks::round(ws, round)?)
            };
            let rf = finish(rc, &round.to_string(), rules, cb.as_ref());
            clock.lap("comparison, sensitivity, flagged list");
            let bytes = serde_json::to_vec(&Cached { key, flags: rf })
                .map_err(|e| Error::Internal(e.to_string()))?;
            // A cache that cannot be written only costs time next run; the flags are
            // computed either way, so the failure is said, not fatal.
            if let Err(e) = crate::fsutil::write_atomic(&path, &bytes) {
                eprintln!("manyi: note: could not cache the flags ({e})");
            }
            let flags = serde_json::from_slice::<Cached>(&bytes)
                .map_err(|e| Error::Internal(e.to_string()))?
                .flags;
            clock.lap("cache");
            clock.report(&format!("flags {round}"));
            flags
        }
    })
}

/// One exclusion in force, with what it took out (valid questionnaires that would
/// otherwise count).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Exclusion {
    pub round: String,
    /// interviewer | respondent
    pub subject: String,
    pub id: String,
    pub questionnaires: usize,
    pub reason: String,
    pub actor: String,
    pub at: String,
}

/// Which of a round's questionnaires the decisions in force exclude: a mask per
/// delivery (store order), the exclusions with their counts, and the count of
/// excluded valid questionnaires per community code.
pub struct Excluded {
    pub masks: Vec<Vec<bool>>,
    pub exclusions: Vec<Exclusion>,
    pub per_community: HashMap<String, usize>,
}

/// Whether any decision in force in the round excludes something.
pub fn any_exclusion(index: &Index, round: &str) -> bool {
    index
        .decisions_in_force(round)
        .iter()
        .any(|d| d.action == "exclude")
}

pub fn excluded(data: &RoundData, index: &Index, round: &str) -> Excluded {
    let force = InForce::new(index, round);
    let mut masks: Vec<Vec<bool>> = data.rows.iter().map(|n| vec![false; *n]).collect();
    let mut counts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut per_community: HashMap<String, usize> = HashMap::new();
    let (mut k, mut base) = (0usize, 0usize);
    if !force.interviewers.values().any(|d| d.action == "exclude")
        && !force.respondents.values().any(|d| d.action == "exclude")
    {
        // Nothing excluded: the masks stay all false.
    } else {
        for i in 0..data.len() {
            while i >= base + data.rows[k] {
                base += data.rows[k];
                k += 1;
            }
            if let Some(d) = force.excludes(data.respondent(i), data.interviewer_name(i)) {
                masks[k][i - base] = true;
                let c = counts
                    .entry((d.subject.as_str(), d.id.as_str()))
                    .or_default();
                if data.valid[i] {
                    *c += 1;
                    *per_community
                        .entry(data.community_codes[data.community[i] as usize].clone())
                        .or_default() += 1;
                }
            }
        }
    }
    let mut exclusions = Vec::new();
    for d in force
        .interviewers
        .values()
        .chain(force.respondents.values())
    {
        if d.action != "exclude" {
            continue;
        }
        exclusions.push(Exclusion {
            round: round.to_string(),
            subject: d.subject.clone(),
            id: d.id.clone(),
            questionnaires: counts
                .get(&(d.subject.as_str(), d.id.as_str()))
                .copied()
                .unwrap_or(0),
            reason: d.reason.clone(),
            actor: d.actor.clone(),
            at: d.at.clone(),
        });
    }
    Excluded {
        masks,
        exclusions,
        per_community,
    }
}
