//! Quality flags on accepted questionnaires (flag, never drop): speeders,
//! straight-lining, duplicate answer patterns, too few answers, and interviewers whose
//! scores or timings stand out from their peers in the same communities (造假).

use serde::{Deserialize, Serialize};

use crate::estimators::median;
use crate::rules::Rules;

pub mod cells;
mod comparison;
mod near;
mod null;
pub use cells::Table;
pub use comparison::flags_of_table;
use comparison::interviewer_flags;
pub use near::Near;
use near::near_duplicates;

/// What the flags are computed from: one entry per accepted questionnaire.
pub struct Input<'a> {
    pub community: &'a [u32],
    /// Index into `interviewer_names`, or u32::MAX when not given.
    pub interviewer: &'a [u32],
    pub interviewer_names: &'a [String],
    /// Seconds, NaN when not given.
    pub duration: &'a [f64],
    /// Respondent scores, NaN when not scored.
    pub score: &'a [f64],
    /// `n_items` answers per row; u8::MAX = not answered.
    pub items: &'a [u8],
    pub n_items: usize,
    pub answered: &'a [u8],
    /// yyyymmdd, 0 when not given.
    pub date: &'a [u32],
}

impl Input<'_> {
    fn interviewer(&self, i: usize) -> Option<u32> {
        Some(self.interviewer[i]).filter(|v| *v != u32::MAX)
    }
    fn duration(&self, i: usize) -> Option<f64> {
        Some(self.duration[i]).filter(|d| !d.is_nan())
    }
    fn answers(&self, i: usize) -> &[u8] {
        &self.items[i * self.n_items..(i + 1) * self.n_items]
    }
}

#[derive(Debug, Default)]
pub struct Flags {
    pub speeder: Vec<bool>,
    pub straightline: Vec<bool>,
    pub duplicate_pattern: Vec<bool>,
    pub few_answers: Vec<bool>,
    /// Shorter than the rules' `validity.min_interview_s`: invalid by rule.
    pub too_short: Vec<bool>,
    pub interviewer: Vec<bool>,
    /// Has a near-duplicate (at most two answers differ) among the file's
    /// questionnaires of its community: kept in the delivery's summary so that a round
    /// recomputes it only for communities other deliveries share. Empty when the
    /// questionnaire has too few items to tell.
    pub near_duplicate: Vec<bool>,
    /// The file's cells (what its summary keeps for the round's comparison).
    pub table: Table,
}

/// An interviewer who stands out, with the evidence.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InterviewerFlag {
    pub interviewer_id: String,
    pub questionnaires: usize,
    /// Mean respondent score minus peers' in the same communities.
    pub score_difference: f64,
    pub score_z: f64,
    /// Ratio of the interviewer's geometric mean duration to peers' (1 = same).
    pub duration_ratio: Option<f64>,
    pub duration_z: Option<f64>,
    pub straightline_share: f64,
    /// Why, in English (machine JSON); people read `InterviewerFlag::reasons_text`.
    pub reasons: Vec<String>,
    /// The combined p-value (absent in receipts made before it was computed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    /// Every indicator against the peers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indicators: Vec<IndicatorEvidence>,
    /// Which indicators stood out (codes of INDICATORS; older receipts: `score`,
    /// `duration`).
    #[serde(default)]
    pub reason_codes: Vec<String>,
}

impl InterviewerFlag {
    /// Why the interviewer was flagged, for people (from the flag's numbers), in the
    /// current language.
    pub fn reasons_text(&self) -> String {
        self.reasons_text_in(crate::messages::lang())
    }

    /// As `reasons_text`, in language `l` (the review pack is Chinese).
    pub fn reasons_text_in(&self, l: crate::messages::Lang) -> String {
        use crate::messages::{Lang, indicator_text_in, pick};
        let f = self;
        let t = |zh: &'static str, en: &'static str| pick(l, zh, en);
        let indicator_text = |c: &str, d: f64, z: f64| indicator_text_in(c, d, z, l);
        let mut out = Vec::new();
        for code in &f.reason_codes {
            if let Some(e) = f.indicators.iter().find(|e| &e.code == code) {
                out.push(indicator_text(code, e.difference, e.z));
                continue;
            }
            // Receipts made before the indicators: score and duration only.
            match code.as_str() {
                "score" => out.push(indicator_text("score", f.score_difference, f.score_z)),
                "callbacks" => out.push(
                    t(
                        "回访核实失败明显多于如实访问的访问员",
                        "callbacks failed significantly more often than an honest interviewer's",
                    )
                    .to_string(),
                ),
                "duration" => out.push(indicator_text(
                    "log_duration",
                    f.duration_ratio.unwrap_or(1.0).ln(),
                    f.duration_z.unwrap_or(0.0),
                )),
                _ => {}
            }
        }
        if out.is_empty() {
            if let Some(p) = f.p_value {
                return match l {
                    Lang::Zh => format!("多项指标合计偏离同社区其他访问员 (p = {p:.1e})"),
                    Lang::En => {
                        format!("several indicators together differ from peers (p = {p:.1e})")
                    }
                };
            }
            // A receipt from before reason codes were kept: its English reasons.
            return f.reasons.join("; ");
        }
        let mut s = out.join(t(";", "; "));
        if let Some(p) = f.p_value {
            s.push_str(&format!("{}p = {p:.1e}", t(";合计 ", "; combined ")));
        }
        s
    }
}

/// Rows grouped by community (communities in index order, rows in file order).
struct Groups {
    order: Vec<u32>,
    starts: Vec<usize>,
}

impl Groups {
    fn new(community: &[u32]) -> Groups {
        let n_comm = community.iter().map(|c| *c as usize + 1).max().unwrap_or(0);
        let mut starts = vec![0usize; n_comm + 1];
        for &c in community {
            starts[c as usize + 1] += 1;
        }
        for k in 0..n_comm {
            starts[k + 1] += starts[k];
        }
        let mut next = starts.clone();
        let mut order = vec![0u32; community.len()];
        for (i, &c) in community.iter().enumerate() {
            order[next[c as usize]] = i as u32;
            next[c as usize] += 1;
        }
        Groups { order, starts }
    }

    fn iter(&self) -> impl Iterator<Item = &[u32]> {
        self.starts
            .windows(2)
            .map(|w| &self.order[w[0]..w[1]])
            .filter(|g| !g.is_empty())
    }
}

/// The interviewer comparison alone, over questionnaires whose straight-line flags are
/// known (a round's active deliveries, read back from the store).
/// `near_duplicate`, when given, is each questionnaire's near-duplicate indicator and
/// partner (see [`near_duplicates_where`]); else it is computed here.
pub fn interviewers(
    input: &Input<'_>,
    straightline: &[bool],
    near_duplicate: Option<&Near>,
    rules: &Rules,
) -> Vec<InterviewerFlag> {
    let groups = Groups::new(input.community);
    let flags = Flags {
        straightline: straightline.to_vec(),
        ..Default::default()
    };
    let nd = match near_duplicate {
        Some(v) => v.clone(),
        None => near_duplicates(input, &groups, &|_| true),
    };
    interviewer_flags(input, &flags, rules, nd)
}

/// The near-duplicate indicator of the questionnaires of the communities `keep`
/// accepts (1 or 0; NaN for all when there are fewer than three items); 0 elsewhere.
pub fn near_duplicates_where(input: &Input<'_>, keep: &(dyn Fn(u32) -> bool + Sync)) -> Near {
    near_duplicates(input, &Groups::new(input.community), keep)
}

pub fn compute(input: &Input<'_>, rules: &Rules) -> (Flags, Vec<InterviewerFlag>) {
    let n = input.community.len();
    let q = &rules.quality;
    let mut flags = Flags {
        speeder: vec![false; n],
        straightline: vec![false; n],
        duplicate_pattern: vec![false; n],
        few_answers: vec![false; n],
        too_short: (0..n)
            .map(|i| rules.validity.too_short(input.duration[i]))
            .collect(),
        interviewer: vec![false; n],
        near_duplicate: Vec::new(),
        table: Table::default(),
    };
    let mut clock = crate::timings::Phases::new();
    let groups = Groups::new(input.community);
    let mut durs: Vec<f64> = Vec::new();
    let mut patterns: rustc_hash::FxHashMap<&[u8], u32> = Default::default();
    for rows in groups.iter() {
        durs.clear();
        durs.extend(rows.iter().filter_map(|&i| input.duration(i as usize)));
        let med = median(&durs);
        patterns.clear();
        for &i in rows {
            let i = i as usize;
            if let Some(d) = input.duration(i) {
                let slow_enough = med.map(|m| d >= q.speeder_ratio * m).unwrap_or(true);
                flags.speeder[i] = !slow_enough || d < q.min_duration_s;
            }
            let answers = input.answers(i);
            let mut given = answers.iter().copied().filter(|a| *a != u8::MAX);
            let (count, same) = match given.next() {
                None => (0, true),
                Some(f) => given.fold((1, true), |(c, same), a| (c + 1, same && a == f)),
            };
            flags.straightline[i] = count >= 3 && same;
            flags.few_answers[i] = (input.answered[i] as usize) < rules.validity.min_answered_items;
            if !flags.straightline[i] && count >= 3 {
                *patterns.entry(answers).or_default() += 1;
            }
        }
        if patterns.values().any(|c| *c > 1) {
            for &i in rows {
                let i = i as usize;
                if !flags.straightline[i] && patterns.get(input.answers(i)).is_some_and(|c| *c > 1)
                {
                    flags.duplicate_pattern[i] = true;
                }
            }
        }
    }
    clock.lap("questionnaire flags");
    let nd = near_duplicates(input, &groups, &|_| true);
    if input.n_items >= 3 {
        flags.near_duplicate = nd.mark.iter().map(|v| *v == 1.0).collect();
    }
    clock.lap("near-duplicates");
    // Bits in the order of `flags::QUESTIONNAIRE_FLAGS` (the stored flag columns).
    let qflags: Vec<u8> = (0..n)
        .map(|i| {
            flags.speeder[i] as u8
                | (flags.straightline[i] as u8) << 1
                | (flags.duplicate_pattern[i] as u8) << 2
                | (flags.few_answers[i] as u8) << 3
        })
        .collect();
    let valid: Vec<bool> = input
        .answered
        .iter()
        .zip(input.duration)
        .map(|(a, d)| rules.validity.valid(*a, *d))
        .collect();
    flags.table = cells::of_rows(
        input,
        &flags.straightline,
        &qflags,
        Some(&valid),
        &nd,
        rules.scale.answers.len(),
        &|_| true,
    );
    let flagged = flags_of_table(&flags.table, input.interviewer_names, rules);
    clock.lap("interviewers");
    let names: std::collections::HashSet<&str> =
        flagged.iter().map(|f| f.interviewer_id.as_str()).collect();
    for i in 0..n {
        if let Some(iv) = input.interviewer(i) {
            flags.interviewer[i] = names.contains(input.interviewer_names[iv as usize].as_str());
        }
    }
    clock.report("quality");
    (flags, flagged)
}

/// Names the interviewer comparison (part of the flags cache's key: a cache made by
/// another comparison is not reused).
pub const ALGORITHM: &str =
    "nine-indicators-centred-tau-mvn-null-minp-top-varied-nd-solely-exact-cells-5";

/// The indicators an interviewer is compared on, each a value per questionnaire whose
/// interviewer mean is set against the peers' in the same communities, and the
/// direction in which fabrication moves it.
pub const INDICATORS: [(&str, Dir); 9] = [
    ("score", Dir::Both),
    ("score_spread", Dir::Lower),
    ("item_spread", Dir::Lower),
    ("not_answered", Dir::Lower),
    ("extreme", Dir::Both),
    ("log_duration", Dir::Both),
    ("duration_spread", Dir::Lower),
    ("near_duplicate", Dir::Higher),
    ("same_day", Dir::Higher),
];

/// Which way an indicator counts as evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    Higher,
    Lower,
    Both,
}

/// One indicator of a flagged interviewer against the peers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IndicatorEvidence {
    /// One of INDICATORS.
    pub code: String,
    /// The interviewer's mean minus the peers' in the same communities (natural units).
    pub difference: f64,
    /// difference / sqrt(se² + τ²): τ² is how much honest interviewers differ among
    /// themselves on it in this round.
    pub z: f64,
}

const NONE: u32 = u32::MAX;

#[cfg(test)]
mod tests;
