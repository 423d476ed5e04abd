//! A round's flags over all its active deliveries, and the decisions in force on them.
//!
//! Questionnaire flags (speeder, straight-lined, duplicate pattern, too few answers)
//! are those stored at ingest. Interviewer flags are computed here, over every active
//! delivery of the round: an interviewer is compared with the peers who interviewed
//! in the same communities, whichever file they came in.

use std::collections::{BTreeMap, HashMap};

use polars::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::ingest::quality;
use crate::round::RoundId;
use crate::rules::Rules;
use crate::store::{DecisionEntry, Index, Store};

/// The questionnaire flags stored per row, in this order.
pub const QUESTIONNAIRE_FLAGS: [(&str, &str); 4] = [
    ("flag_speeder", "speeder"),
    ("flag_straightline", "straightline"),
    ("flag_duplicate_pattern", "duplicate_pattern"),
    ("flag_too_few_answers", "too_few_answers"),
];

/// Every questionnaire of a round's active deliveries, as the flags and the
/// exclusions need them (store order: delivery by delivery, rows in file order).
#[derive(Debug, Default)]
pub struct RoundData {
    /// (sha256, file name) per active delivery.
    pub deliveries: Vec<(String, String)>,
    /// Rows per delivery.
    pub rows: Vec<usize>,
    pub delivery: Vec<u32>,
    pub line: Vec<u64>,
    id_buf: String,
    id_end: Vec<usize>,
    pub community: Vec<u32>,
    pub community_codes: Vec<String>,
    pub interviewer: Vec<u32>,
    pub interviewer_names: Vec<String>,
    pub duration: Vec<f64>,
    pub score: Vec<f64>,
    pub items: Vec<u8>,
    pub n_items: usize,
    pub answered: Vec<u8>,
    pub valid: Vec<bool>,
    /// Bit k: QUESTIONNAIRE_FLAGS[k].
    pub qflags: Vec<u8>,
}

impl RoundData {
    pub fn len(&self) -> usize {
        self.line.len()
    }
    pub fn is_empty(&self) -> bool {
        self.line.is_empty()
    }
    pub fn respondent(&self, i: usize) -> &str {
        let a = if i == 0 { 0 } else { self.id_end[i - 1] };
        &self.id_buf[a..self.id_end[i]]
    }
    fn interviewer_name(&self, i: usize) -> Option<&str> {
        self.interviewer_names
            .get(self.interviewer[i] as usize)
            .map(String::as_str)
    }

    /// Reads the round's active deliveries from the store.
    pub fn load(store: &Store, index: &Index, round: &RoundId, rules: &Rules) -> Result<RoundData> {
        let qids: Vec<&str> = rules.questions.iter().map(|q| q.id.as_str()).collect();
        let item_scores: Vec<f64> = rules.scale.answers.iter().map(|a| a.score).collect();
        let mut cols: Vec<&str> = vec![
            "line",
            "respondent_id",
            "community_code",
            "interviewer_id",
            "duration_s",
            "answered",
            "valid",
        ];
        cols.extend(QUESTIONNAIRE_FLAGS.iter().map(|f| f.0));
        cols.extend(qids.iter().copied());
        let mut d = RoundData {
            n_items: qids.len(),
            ..Default::default()
        };
        let mut comm_ix: HashMap<String, u32> = HashMap::new();
        let mut iv_ix: HashMap<String, u32> = HashMap::new();
        for (k, del) in store.deliveries(index, round).into_iter().enumerate() {
            let path = store.dir.join(&del.data);
            let df = crate::store::read_parquet(&path, Some(&cols))?;
            let pe = |e| Error::Polars {
                path: path.clone(),
                source: e,
            };
            let n = df.height();
            d.deliveries
                .push((del.sha256.clone(), del.file_name.clone()));
            d.rows.push(n);
            d.delivery.extend(std::iter::repeat_n(k as u32, n));
            let line = df.column("line").and_then(|c| c.u64()).map_err(pe)?;
            d.line.extend(line.iter().map(|v| v.unwrap_or(0)));
            for id in df
                .column("respondent_id")
                .and_then(|c| c.str())
                .map_err(pe)?
                .iter()
            {
                d.id_buf.push_str(id.unwrap_or(""));
                d.id_end.push(d.id_buf.len());
            }
            for c in df
                .column("community_code")
                .and_then(|c| c.str())
                .map_err(pe)?
                .iter()
            {
                let c = c.unwrap_or("");
                let next = comm_ix.len() as u32;
                let ix = *comm_ix.entry(c.to_string()).or_insert_with(|| {
                    d.community_codes.push(c.to_string());
                    next
                });
                d.community.push(ix);
            }
            for iv in df
                .column("interviewer_id")
                .and_then(|c| c.str())
                .map_err(pe)?
                .iter()
            {
                d.interviewer.push(match iv {
                    None | Some("") => u32::MAX,
                    Some(v) => {
                        let next = iv_ix.len() as u32;
                        *iv_ix.entry(v.to_string()).or_insert_with(|| {
                            d.interviewer_names.push(v.to_string());
                            next
                        })
                    }
                });
            }
            let dur = df.column("duration_s").and_then(|c| c.f64()).map_err(pe)?;
            d.duration.extend(dur.iter().map(|v| v.unwrap_or(f64::NAN)));
            let ans = df.column("answered").and_then(|c| c.u8()).map_err(pe)?;
            d.answered.extend(ans.iter().map(|v| v.unwrap_or(0)));
            let valid = df.column("valid").and_then(|c| c.bool()).map_err(pe)?;
            d.valid.extend(valid.iter().map(|v| v.unwrap_or(false)));
            let mut q = vec![0u8; n];
            for (b, (name, _)) in QUESTIONNAIRE_FLAGS.iter().enumerate() {
                let c = df.column(name).and_then(|c| c.bool()).map_err(pe)?;
                for (i, v) in c.iter().enumerate() {
                    q[i] |= (v.unwrap_or(false) as u8) << b;
                }
            }
            d.qflags.extend(q);
            let item_cols: Vec<&UInt8Chunked> = qids
                .iter()
                .map(|id| df.column(id).and_then(|c| c.u8()))
                .collect::<PolarsResult<_>>()
                .map_err(pe)?;
            let iters: Vec<Vec<Option<u8>>> =
                item_cols.iter().map(|c| c.iter().collect()).collect();
            let base = d.items.len();
            d.items.resize(base + n * d.n_items, u8::MAX);
            for (k, col) in iters.iter().enumerate() {
                for (i, a) in col.iter().enumerate() {
                    d.items[base + i * d.n_items + k] = a.unwrap_or(u8::MAX);
                }
            }
            for i in 0..n {
                let row = &d.items[base + i * d.n_items..base + (i + 1) * d.n_items];
                d.score.push(
                    crate::estimators::respondent_score(rules.questions.iter().zip(row).map(
                        |(q, a)| {
                            (
                                q.weight,
                                (*a != u8::MAX)
                                    .then(|| item_scores.get(*a as usize).copied())
                                    .flatten(),
                            )
                        },
                    ))
                    .unwrap_or(f64::NAN),
                );
            }
        }
        Ok(d)
    }
}

/// The decision in force on a subject, for people and programs.
#[derive(Debug, Clone, Serialize, PartialEq)]
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

#[derive(Debug, Clone, Serialize)]
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
    /// score, duration
    pub reason_codes: Vec<String>,
    pub decision: Option<DecisionView>,
}

#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
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

    /// The flags as tables (machine column names; codes in English): interviewers,
    /// then questionnaires. Numbers at full precision.
    pub fn tables(&self) -> (crate::report::Table, crate::report::Table) {
        let num = |x: Option<f64>| x.map(|v| v.to_string()).unwrap_or_default();
        let dec = |d: &Option<DecisionView>| -> [String; 4] {
            match d {
                None => [
                    "undecided".into(),
                    String::new(),
                    String::new(),
                    String::new(),
                ],
                Some(d) => [
                    d.action.clone(),
                    d.reason.clone(),
                    d.actor.clone(),
                    d.at.clone(),
                ],
            }
        };
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let interviewers = crate::report::Table {
            headers: s(&[
                "round",
                "interviewer_id",
                "questionnaires",
                "communities",
                "file",
                "evidence",
                "score_difference",
                "score_z",
                "duration_ratio",
                "duration_z",
                "straightline_share",
                "decision",
                "reason",
                "actor",
                "at",
            ]),
            rows: self
                .interviewers
                .iter()
                .map(|r| {
                    let mut row = vec![
                        self.round.clone(),
                        r.interviewer_id.clone(),
                        r.questionnaires.to_string(),
                        r.communities.to_string(),
                        r.deliveries.join(" "),
                        r.reason_codes.join(" "),
                        r.score_difference.to_string(),
                        r.score_z.to_string(),
                        num(r.duration_ratio),
                        num(r.duration_z),
                        r.straightline_share.to_string(),
                    ];
                    row.extend(dec(&r.decision));
                    row
                })
                .collect(),
        };
        let questionnaires = crate::report::Table {
            headers: s(&[
                "round",
                "id",
                "interviewer_id",
                "community_code",
                "file",
                "line",
                "flags",
                "valid",
                "decision",
                "reason",
                "actor",
                "at",
            ]),
            rows: self
                .questionnaires
                .iter()
                .map(|r| {
                    let mut row = vec![
                        self.round.clone(),
                        r.respondent_id.clone(),
                        r.interviewer_id.clone().unwrap_or_default(),
                        r.community_code.clone(),
                        r.file_name.clone(),
                        r.line.to_string(),
                        r.flags.join(" "),
                        r.valid.to_string(),
                    ];
                    row.extend(dec(&r.decision));
                    row
                })
                .collect(),
        };
        (interviewers, questionnaires)
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

/// The flags of a round (`manyi flags`).
pub fn round_flags(data: &RoundData, index: &Index, round: &str, rules: &Rules) -> RoundFlags {
    let input = quality::Input {
        community: &data.community,
        interviewer: &data.interviewer,
        interviewer_names: &data.interviewer_names,
        duration: &data.duration,
        score: &data.score,
        items: &data.items,
        n_items: data.n_items,
        answered: &data.answered,
    };
    let straight: Vec<bool> = data.qflags.iter().map(|q| q & 2 != 0).collect();
    let flagged = quality::interviewers(&input, &straight, rules);
    let force = InForce::new(index, round);
    let mut per_iv: HashMap<
        u32,
        (
            std::collections::BTreeSet<u32>,
            std::collections::BTreeSet<u32>,
        ),
    > = HashMap::new();
    for i in 0..data.len() {
        let e = per_iv.entry(data.interviewer[i]).or_default();
        e.0.insert(data.community[i]);
        e.1.insert(data.delivery[i]);
    }
    let iv_index: HashMap<&str, u32> = data
        .interviewer_names
        .iter()
        .enumerate()
        .map(|(k, n)| (n.as_str(), k as u32))
        .collect();
    let mut interviewers: Vec<InterviewerRow> = flagged
        .into_iter()
        .map(|f| {
            let (comms, dels) = iv_index
                .get(f.interviewer_id.as_str())
                .and_then(|k| per_iv.get(k))
                .cloned()
                .unwrap_or_default();
            InterviewerRow {
                decision: force
                    .interviewers
                    .get(f.interviewer_id.as_str())
                    .map(|d| DecisionView::from(*d)),
                communities: comms.len(),
                deliveries: dels
                    .iter()
                    .map(|k| data.deliveries[*k as usize].1.clone())
                    .collect(),
                interviewer_id: f.interviewer_id,
                questionnaires: f.questionnaires,
                score_difference: f.score_difference,
                score_z: f.score_z,
                duration_ratio: f.duration_ratio,
                duration_z: f.duration_z,
                straightline_share: f.straightline_share,
                reason_codes: f.reason_codes,
            }
        })
        .collect();
    interviewers.sort_by(|a, b| {
        a.decision
            .is_some()
            .cmp(&b.decision.is_some())
            .then_with(|| a.interviewer_id.cmp(&b.interviewer_id))
    });
    let mut questionnaires = Vec::new();
    for i in 0..data.len() {
        let q = data.qflags[i];
        if q == 0 {
            continue;
        }
        let iv = data.interviewer_name(i);
        let resp = data.respondent(i);
        questionnaires.push(QuestionnaireRow {
            respondent_id: resp.to_string(),
            interviewer_id: iv.map(str::to_string),
            community_code: data.community_codes[data.community[i] as usize].clone(),
            delivery: data.deliveries[data.delivery[i] as usize].0.clone(),
            file_name: data.deliveries[data.delivery[i] as usize].1.clone(),
            line: data.line[i],
            flags: QUESTIONNAIRE_FLAGS
                .iter()
                .enumerate()
                .filter(|(b, _)| q & (1 << b) != 0)
                .map(|(_, f)| f.1.to_string())
                .collect(),
            valid: data.valid[i],
            decision: force.on_questionnaire(resp, iv).map(DecisionView::from),
        });
    }
    // Undecided first; then in file order (stable: store order is delivery, line).
    questionnaires.sort_by_key(|q| q.decision.is_some());
    RoundFlags {
        round: round.to_string(),
        questionnaires_read: data.len(),
        undecided_interviewers: interviewers.iter().filter(|r| r.decision.is_none()).count(),
        undecided_questionnaires: questionnaires
            .iter()
            .filter(|r| r.decision.is_none())
            .count(),
        interviewers,
        questionnaires,
    }
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
