//! A round's flags over all its active deliveries, and the decisions in force on them.
//!
//! Questionnaire flags (speeder, straight-lined, duplicate pattern, too few answers)
//! are those stored at ingest. Interviewer flags are computed here, over every active
//! delivery of the round: an interviewer is compared with the peers who interviewed
//! in the same communities, whichever file they came in.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use polars::prelude::DataFrame;

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

/// The codes seen so far across a round's deliveries, each with its index.
#[derive(Default)]
struct Interned {
    communities: rustc_hash::FxHashMap<String, u32>,
    interviewers: rustc_hash::FxHashMap<String, u32>,
}

/// Interns a code: a lookup by &str, allocating only for a new one.
fn intern(ix: &mut rustc_hash::FxHashMap<String, u32>, names: &mut Vec<String>, v: &str) -> u32 {
    if let Some(k) = ix.get(v) {
        return *k;
    }
    let k = names.len() as u32;
    ix.insert(v.to_string(), k);
    names.push(v.to_string());
    k
}

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
    /// yyyymmdd, 0 when not given.
    pub date: Vec<u32>,
    /// The street of each community code seen.
    pub streets: HashMap<String, String>,
    pub valid: Vec<bool>,
    /// Bit k: QUESTIONNAIRE_FLAGS[k].
    pub qflags: Vec<u8>,
    /// Per delivery, its questionnaires' near-duplicate marks among its own (from its
    /// summary; None when not known).
    pub near_known: Vec<Option<Vec<bool>>>,
}

impl RoundData {
    pub fn len(&self) -> usize {
        self.id_end.len()
    }
    pub fn is_empty(&self) -> bool {
        self.id_end.is_empty()
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

    /// Reads only what decisions need (respondent and interviewer ids, validity,
    /// community) of the round's active deliveries.
    pub fn load_ids(store: &Store, index: &Index, round: &RoundId) -> Result<RoundData> {
        let cols = ["respondent_id", "interviewer_id", "valid", "community_code"];
        let mut d = RoundData::default();
        let mut ix = Interned::default();
        for (k, del) in store.deliveries(index, round).into_iter().enumerate() {
            let path = store.dir.join(&del.data);
            let df = crate::store::read_parquet(&path, Some(&cols))?;
            d.push_ids(&df, k, del, &mut ix, &path)?;
        }
        Ok(d)
    }

    /// Appends one delivery's respondent ids, communities, interviewers and validity.
    fn push_ids(
        &mut self,
        df: &DataFrame,
        k: usize,
        del: &crate::store::DeliveryEntry,
        ix: &mut Interned,
        path: &std::path::Path,
    ) -> Result<()> {
        let pe = |e| Error::Polars {
            path: path.to_path_buf(),
            source: e,
        };
        let str_col = |name: &str| df.column(name).and_then(|c| c.str()).map_err(pe);
        let n = df.height();
        self.deliveries
            .push((del.sha256.clone(), del.file_name.clone()));
        self.rows.push(n);
        self.delivery.extend(std::iter::repeat_n(k as u32, n));
        for id in str_col("respondent_id")?.iter() {
            self.id_buf.push_str(id.unwrap_or(""));
            self.id_end.push(self.id_buf.len());
        }
        // Rows of a community come together: the last code is looked up once.
        let mut last: Option<(String, u32)> = None;
        for c in str_col("community_code")?.iter() {
            let c = c.unwrap_or("");
            let i = match &last {
                Some((v, i)) if v == c => *i,
                _ => {
                    let i = intern(&mut ix.communities, &mut self.community_codes, c);
                    last = Some((c.to_string(), i));
                    i
                }
            };
            self.community.push(i);
        }
        for iv in str_col("interviewer_id")?.iter() {
            self.interviewer.push(match iv {
                None | Some("") => u32::MAX,
                Some(v) => intern(&mut ix.interviewers, &mut self.interviewer_names, v),
            });
        }
        let valid = df.column("valid").and_then(|c| c.bool()).map_err(pe)?;
        self.valid.extend(valid.iter().map(|v| v.unwrap_or(false)));
        Ok(())
    }

    /// Reads the round's active deliveries from the store.
    pub fn load(store: &Store, index: &Index, round: &RoundId, rules: &Rules) -> Result<RoundData> {
        Self::load_some(store, index, round, rules, None)
    }

    /// Reads the round's active deliveries at positions `which` (in store order; None:
    /// all of them).
    pub fn load_some(
        store: &Store,
        index: &Index,
        round: &RoundId,
        rules: &Rules,
        which: Option<&[usize]>,
    ) -> Result<RoundData> {
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
            "interview_date",
            "street_code",
        ];
        cols.extend(QUESTIONNAIRE_FLAGS.iter().map(|f| f.0));
        cols.extend(qids.iter().copied());
        let mut d = RoundData {
            n_items: qids.len(),
            ..Default::default()
        };
        let mut ix = Interned::default();
        let dels: Vec<_> = store
            .deliveries(index, round)
            .into_iter()
            .enumerate()
            .filter(|(k, _)| which.is_none_or(|w| w.contains(k)))
            .map(|(_, d)| d)
            .collect();
        for (k, del) in dels.into_iter().enumerate() {
            let path = store.dir.join(&del.data);
            let mut clock = crate::timings::Phases::new();
            let mut df = crate::store::read_parquet(&path, Some(&cols))?;
            df.rechunk_mut();
            clock.lap("parquet");
            let pe = |e| Error::Polars {
                path: path.clone(),
                source: e,
            };
            let n = df.height();
            d.push_ids(&df, k, del, &mut ix, &path)?;
            // A store made before summaries has no marks (nothing to read for them).
            d.near_known.push(match del.summary {
                Some(_) => store
                    .summary(del)?
                    .near_duplicate
                    .and_then(|h| crate::store::hex_to_bits(&h, n)),
                None => None,
            });
            let line = df.column("line").and_then(|c| c.u64()).map_err(pe)?;
            d.line.extend(line.into_no_null_iter());
            let dur = df.column("duration_s").and_then(|c| c.f64()).map_err(pe)?;
            d.duration.extend(dur.iter().map(|v| v.unwrap_or(f64::NAN)));
            let ans = df.column("answered").and_then(|c| c.u8()).map_err(pe)?;
            d.answered.extend(ans.iter().map(|v| v.unwrap_or(0)));
            let sc = df.column("street_code").and_then(|c| c.str()).map_err(pe)?;
            let cc = df
                .column("community_code")
                .and_then(|c| c.str())
                .map_err(pe)?;
            let mut last_c: Option<String> = None;
            for (s, c) in sc.iter().zip(cc.iter()) {
                let c = c.unwrap_or("");
                if last_c.as_deref() != Some(c) {
                    d.streets
                        .entry(c.to_string())
                        .or_insert_with(|| s.unwrap_or("").to_string());
                    last_c = Some(c.to_string());
                }
            }
            let dates = df
                .column("interview_date")
                .and_then(|c| c.str())
                .map_err(pe)?;
            let mut last: Option<(String, u32)> = None;
            for v in dates.iter() {
                let v = v.unwrap_or("");
                let x = match &last {
                    Some((t, x)) if t == v => *x,
                    _ => {
                        // Stored as YYYY-MM-DD (ingest writes them so).
                        let x = v.replace('-', "").parse::<u32>().unwrap_or(0);
                        last = Some((v.to_string(), x));
                        x
                    }
                };
                d.date.push(x);
            }
            let mut q = vec![0u8; n];
            for (b, (name, _)) in QUESTIONNAIRE_FLAGS.iter().enumerate() {
                let c = df.column(name).and_then(|c| c.bool()).map_err(pe)?;
                for (i, v) in c.iter().enumerate() {
                    q[i] |= (v.unwrap_or(false) as u8) << b;
                }
            }
            d.qflags.extend(q);
            clock.lap("ids, codes, flags");
            let base = d.items.len();
            d.items.resize(base + n * d.n_items, u8::MAX);
            for (k, id) in qids.iter().enumerate() {
                let col = df.column(id).and_then(|c| c.u8()).map_err(pe)?;
                let mut i = 0;
                for arr in col.downcast_iter() {
                    use polars_arrow::array::Array as _;
                    let vals = arr.values();
                    for (j, v) in vals.iter().enumerate() {
                        if arr.is_valid(j) {
                            d.items[base + (i + j) * d.n_items + k] = *v;
                        }
                    }
                    i += vals.len();
                }
            }
            let weights: Vec<f64> = rules.questions.iter().map(|q| q.weight).collect();
            for row in d.items[base..].chunks_exact(d.n_items.max(1)).take(n) {
                // u8::MAX (not answered) is past the scale (at most 254 answers).
                d.score.push(
                    crate::estimators::respondent_score(
                        weights
                            .iter()
                            .zip(row)
                            .map(|(w, a)| (*w, item_scores.get(*a as usize).copied())),
                    )
                    .unwrap_or(f64::NAN),
                );
            }
            clock.lap("items and scores");
            clock.report("round data");
        }
        Ok(d)
    }
}

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
    pub decision: Option<DecisionView>,
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
    /// For people: each street's change, then each community's score with → without.
    pub fn text(&self, l: crate::messages::Lang) -> String {
        let zh = l == crate::messages::Lang::Zh;
        let mut parts: Vec<String> = self
            .streets
            .iter()
            .map(|(s, d)| {
                if zh {
                    format!("街道 {s} {d:+.2} 分")
                } else {
                    format!("street {s} {d:+.2}")
                }
            })
            .collect();
        for (c, with, without) in &self.communities {
            parts.push(match without {
                Some(w) => format!("{c} {with:.1}→{w:.1}"),
                None => format!("{c} {with:.1}→—"),
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
    rf.undecided_questionnaires = rf
        .questionnaires
        .iter()
        .filter(|r| r.decision.is_none())
        .count();
}

/// What a round's flags are computed from: the cells of its communities ×
/// interviewers, which interviewer delivered in which delivery, and the flagged
/// questionnaires. Made from the rows ([`RoundCells::of_rows`]) or from the
/// deliveries' summaries ([`RoundCells::of_summaries`]): the same, bit for bit.
struct RoundCells {
    deliveries: Vec<(String, String)>,
    community_codes: Vec<String>,
    /// The street of each community code.
    streets: HashMap<String, String>,
    interviewer_names: Vec<String>,
    table: quality::Table,
    /// Per interviewer index: the deliveries (indices) their questionnaires came in.
    iv_deliveries: Vec<std::collections::BTreeSet<u32>>,
    questionnaires_read: usize,
}

impl RoundCells {
    fn of_rows(data: &RoundData, rules: &Rules) -> RoundCells {
        let input = input_of(data);
        let straight: Vec<bool> = data.qflags.iter().map(|q| q & 2 != 0).collect();
        let near = near_duplicates(data, &input)
            .unwrap_or_else(|| quality::near_duplicates_where(&input, &|_| true));
        let table = quality::cells::of_rows(
            &input,
            &straight,
            &data.qflags,
            Some(&data.valid),
            &near,
            rules.scale.answers.len(),
            &|_| true,
        );
        let mut iv_deliveries =
            vec![std::collections::BTreeSet::new(); data.interviewer_names.len()];
        for i in 0..data.len() {
            if let Some(s) = iv_deliveries.get_mut(data.interviewer[i] as usize) {
                s.insert(data.delivery[i]);
            }
        }
        RoundCells {
            deliveries: data.deliveries.clone(),
            community_codes: data.community_codes.clone(),
            streets: data.streets.clone(),
            interviewer_names: data.interviewer_names.clone(),
            table,
            iv_deliveries,
            questionnaires_read: data.len(),
        }
    }

    /// From the active deliveries' summaries; the communities that several deliveries
    /// share are made again from those deliveries' rows (their near-duplicates and
    /// the interviewers' own means span deliveries). None when a summary has no cells
    /// of this comparison (a store from before them): then the rows decide.
    fn of_summaries(
        store: &Store,
        index: &Index,
        round: &RoundId,
        rules: &Rules,
    ) -> Result<Option<RoundCells>> {
        let dels = store.deliveries(index, round);
        let mut sums = Vec::with_capacity(dels.len());
        for d in &dels {
            if d.summary.is_none() {
                return Ok(None);
            }
            match store.summary(d)?.cells {
                Some(c) if c.algorithm == quality::ALGORITHM => sums.push(c),
                _ => return Ok(None),
            }
        }
        let mut ix = Interned::default();
        let mut rc = RoundCells {
            deliveries: dels
                .iter()
                .map(|d| (d.sha256.clone(), d.file_name.clone()))
                .collect(),
            community_codes: Vec::new(),
            streets: HashMap::new(),
            interviewer_names: Vec::new(),
            table: quality::Table::default(),
            iv_deliveries: Vec::new(),
            questionnaires_read: 0,
        };
        // Global numbers in store order of first appearance, as the rows give them.
        let mut maps: Vec<(Vec<u32>, Vec<u32>)> = Vec::with_capacity(sums.len());
        let mut seen_in: Vec<u32> = Vec::new();
        let mut shared: Vec<bool> = Vec::new();
        for (k, c) in sums.iter().enumerate() {
            let cm: Vec<u32> = c
                .communities
                .iter()
                .zip(&c.streets)
                .map(|(code, street)| {
                    let g = intern(&mut ix.communities, &mut rc.community_codes, code);
                    rc.streets
                        .entry(code.clone())
                        .or_insert_with(|| street.clone());
                    if seen_in.len() <= g as usize {
                        seen_in.resize(g as usize + 1, u32::MAX);
                        shared.resize(g as usize + 1, false);
                    }
                    if seen_in[g as usize] == u32::MAX {
                        seen_in[g as usize] = k as u32;
                    } else if seen_in[g as usize] != k as u32 {
                        shared[g as usize] = true;
                    }
                    g
                })
                .collect();
            let im: Vec<u32> = c
                .interviewers
                .iter()
                .map(|name| intern(&mut ix.interviewers, &mut rc.interviewer_names, name))
                .collect();
            maps.push((cm, im));
        }
        rc.iv_deliveries = vec![Default::default(); rc.interviewer_names.len()];
        let iv_of = |im: &[u32], iv: u32| {
            if iv == u32::MAX {
                u32::MAX
            } else {
                im[iv as usize]
            }
        };
        for (k, (c, (cm, im))) in sums.iter().zip(&maps).enumerate() {
            rc.questionnaires_read += c.cells.iter().map(|e| e.2.rows as usize).sum::<usize>();
            for (lc, liv, s) in &c.cells {
                let (g, giv) = (cm[*lc as usize], iv_of(im, *liv));
                if giv != u32::MAX && s.rows > 0 {
                    rc.iv_deliveries[giv as usize].insert(k as u32);
                }
                if !shared[g as usize] {
                    rc.table.add(g, giv, s);
                }
            }
        }
        // The shared communities, from the rows of the deliveries that have them.
        if shared.iter().any(|s| *s) {
            let which: Vec<usize> = sums
                .iter()
                .zip(&maps)
                .enumerate()
                .filter(|(_, (_, (cm, _)))| cm.iter().any(|g| shared[*g as usize]))
                .map(|(k, _)| k)
                .collect();
            let data = RoundData::load_some(store, index, round, rules, Some(&which))?;
            let input = input_of(&data);
            let keep_code: Vec<bool> = data
                .community_codes
                .iter()
                .map(|code| {
                    ix.communities
                        .get(code)
                        .is_some_and(|g| shared[*g as usize])
                })
                .collect();
            let straight: Vec<bool> = data.qflags.iter().map(|q| q & 2 != 0).collect();
            let near = if data.n_items >= 3 {
                quality::near_duplicates_where(&input, &|c| keep_code[c as usize])
            } else {
                vec![f64::NAN; data.len()]
            };
            let part = quality::cells::of_rows(
                &input,
                &straight,
                &data.qflags,
                Some(&data.valid),
                &near,
                rules.scale.answers.len(),
                &|c| keep_code[c as usize],
            );
            for (lc, cells) in part.communities.iter().enumerate() {
                if cells.is_empty() {
                    continue;
                }
                let g = ix.communities[&data.community_codes[lc]];
                for (liv, s) in cells {
                    let giv = if *liv == u32::MAX {
                        u32::MAX
                    } else {
                        ix.interviewers[&data.interviewer_names[*liv as usize]]
                    };
                    rc.table.add(g, giv, s);
                }
            }
        }
        Ok(Some(rc))
    }
}

fn input_of(data: &RoundData) -> quality::Input<'_> {
    quality::Input {
        community: &data.community,
        interviewer: &data.interviewer,
        interviewer_names: &data.interviewer_names,
        duration: &data.duration,
        score: &data.score,
        items: &data.items,
        n_items: data.n_items,
        answered: &data.answered,
        date: &data.date,
    }
}

/// The interviewer comparison and the flags list over a round's cells.
fn finish(rc: RoundCells, round: &str, rules: &Rules) -> Computed {
    let flagged = quality::flags_of_table(&rc.table, &rc.interviewer_names, rules);
    let iv_index: HashMap<&str, u32> = rc
        .interviewer_names
        .iter()
        .enumerate()
        .map(|(k, n)| (n.as_str(), k as u32))
        .collect();
    let interviewers: Vec<InterviewerRow> = flagged
        .into_iter()
        .map(|f| {
            let iv = iv_index.get(f.interviewer_id.as_str()).copied();
            let communities = iv.map_or(0, |iv| {
                rc.table
                    .communities
                    .iter()
                    .filter(|cells| cells.iter().any(|(v, s)| *v == iv && s.rows > 0))
                    .count()
            });
            let dels = iv
                .and_then(|iv| rc.iv_deliveries.get(iv as usize))
                .cloned()
                .unwrap_or_default();
            InterviewerRow {
                decision: None,
                communities,
                deliveries: dels
                    .iter()
                    .map(|k| rc.deliveries[*k as usize].1.clone())
                    .collect(),
                sensitivity: sensitivity(&rc, iv),
                interviewer_id: f.interviewer_id,
                questionnaires: f.questionnaires,
                score_difference: f.score_difference,
                score_z: f.score_z,
                duration_ratio: f.duration_ratio,
                duration_z: f.duration_z,
                straightline_share: f.straightline_share,
                reason_codes: f.reason_codes,
                p_value: f.p_value,
                indicators: f.indicators,
            }
        })
        .collect();
    let mut flagged_by_interviewer: BTreeMap<String, u64> = BTreeMap::new();
    for cells in &rc.table.communities {
        for (iv, s) in cells {
            if s.flagged > 0 {
                let name = rc
                    .interviewer_names
                    .get(*iv as usize)
                    .cloned()
                    .unwrap_or_default();
                *flagged_by_interviewer.entry(name).or_default() += s.flagged;
            }
        }
    }
    Computed {
        round: round.to_string(),
        questionnaires_read: rc.questionnaires_read,
        interviewers,
        flagged_by_interviewer,
    }
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
    /// `flagged` gives the flagged questionnaires; it is called only when a decision on
    /// a single questionnaire is in force (else the counts per interviewer suffice).
    pub fn undecided(
        &self,
        index: &Index,
        flagged: impl FnOnce() -> Result<Flagged>,
    ) -> Result<(usize, usize)> {
        let force = InForce::new(index, &self.round);
        let iv = self
            .interviewers
            .iter()
            .filter(|r| !force.interviewers.contains_key(r.interviewer_id.as_str()))
            .count();
        let q = if force.respondents.is_empty() {
            self.flagged_by_interviewer
                .iter()
                .filter(|(name, _)| {
                    name.is_empty() || !force.interviewers.contains_key(name.as_str())
                })
                .map(|(_, n)| *n as usize)
                .sum()
        } else {
            let f = flagged()?;
            (0..f.respondent.len())
                .filter(|&i| {
                    force
                        .on_questionnaire(&f.respondent[i], f.interviewer_name(i))
                        .is_none()
                })
                .count()
        };
        Ok((iv, q))
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
    let rc = match RoundCells::of_summaries(store, index, round, rules)? {
        Some(rc) => rc,
        None => RoundCells::of_rows(&RoundData::load(store, index, round, rules)?, rules),
    };
    let mut out: BTreeMap<String, [u64; 4]> = BTreeMap::new();
    for cells in &rc.table.communities {
        for (iv, s) in cells {
            let name = rc
                .interviewer_names
                .get(*iv as usize)
                .cloned()
                .unwrap_or_default();
            let e = out.entry(name).or_default();
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
/// questionnaires), from the flags cache (the rows are read only when a decision on a
/// single questionnaire is in force).
pub fn undecided(
    ws: &crate::workspace::Workspace,
    store: &Store,
    index: &Index,
    round: &RoundId,
    rules: &Rules,
) -> Result<(usize, usize)> {
    cached(ws, store, index, round, rules)?.undecided(index, || Flagged::read(store, index, round))
}

/// Each questionnaire's near-duplicate indicator over the round: a community that only
/// one delivery has keeps that delivery's marks (the same questionnaires, the same
/// pairs); communities that several deliveries share, or a delivery without marks,
/// are compared again over all their questionnaires. None: compute it all.
fn near_duplicates(data: &RoundData, input: &quality::Input<'_>) -> Option<Vec<f64>> {
    if data.n_items < 3 || data.near_known.len() != data.rows.len() {
        return None;
    }
    let nc = data.community_codes.len();
    let mut first = vec![u32::MAX; nc];
    let mut again = vec![false; nc];
    for i in 0..data.len() {
        let (c, k) = (data.community[i] as usize, data.delivery[i]);
        if first[c] == u32::MAX {
            first[c] = k;
        } else if first[c] != k {
            again[c] = true;
        }
        if data.near_known[k as usize].is_none() {
            again[c] = true;
        }
    }
    let mut out = quality::near_duplicates_where(input, &|c| again[c as usize]);
    let mut base = 0;
    for (k, n) in data.rows.iter().enumerate() {
        if let Some(marks) = &data.near_known[k] {
            for (j, m) in marks.iter().enumerate() {
                let i = base + j;
                if !again[data.community[i] as usize] {
                    out[i] = if *m { 1.0 } else { 0.0 };
                }
            }
        }
        base += n;
    }
    Some(out)
}

/// Community means of valid questionnaires' scores with and without interviewer `iv`,
/// and for each street the change of the mean over its communities in the round.
fn sensitivity(rc: &RoundCells, iv: Option<u32>) -> Sensitivity {
    let Some(iv) = iv else {
        return Sensitivity::default();
    };
    let street_of = |code: &str| rc.streets.get(code).cloned().unwrap_or_default();
    let mut out = Sensitivity::default();
    // Per street: (sum with, count with, sum without, count without) of community means.
    let mut streets: BTreeMap<String, (f64, usize, f64, usize)> = BTreeMap::new();
    for (c, cells) in rc.table.communities.iter().enumerate() {
        let mut all = crate::estimators::Moments::default();
        let mut theirs = crate::estimators::Moments::default();
        for (v, s) in cells {
            all.add(&s.valid_scores);
            if *v == iv {
                theirs = s.valid_scores;
            }
        }
        if all.n == 0 {
            continue;
        }
        let with = all.mean();
        let mut rest = all;
        rest.sub(&theirs);
        let without = (rest.n > 0).then(|| rest.mean());
        let code = &rc.community_codes[c];
        let e = streets.entry(street_of(code)).or_default();
        e.0 += with;
        e.1 += 1;
        if let Some(w) = without {
            e.2 += w;
            e.3 += 1;
        }
        if theirs.n > 0 {
            out.communities.push((code.clone(), with, without));
        }
    }
    let touched: std::collections::BTreeSet<String> =
        out.communities.iter().map(|c| street_of(&c.0)).collect();
    for s in touched {
        let (a, na, b, nb) = streets[&s];
        if na > 0 && nb > 0 {
            out.streets.push((s, b / nb as f64 - a / na as f64));
        }
    }
    out
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
    let key = cache_key(store, index, round, &rules_sha);
    let path = store.dir.join("cache").join(format!("flags-{round}.json"));
    let hit = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Cached>(&b).ok())
        .filter(|c| c.key == key);
    Ok(match hit {
        Some(c) => c.flags,
        None => {
            let mut clock = crate::timings::Phases::new();
            let rc = match RoundCells::of_summaries(store, index, round, rules)? {
                Some(rc) => rc,
                None => RoundCells::of_rows(&RoundData::load(store, index, round, rules)?, rules),
            };
            clock.lap("round cells");
            let rf = finish(rc, &round.to_string(), rules);
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
