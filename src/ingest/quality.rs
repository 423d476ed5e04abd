//! Quality flags on accepted questionnaires (flag, never drop): speeders,
//! straight-lining, duplicate answer patterns, too few answers, and interviewers whose
//! scores or timings stand out from their peers in the same communities (造假).

use serde::{Deserialize, Serialize};

use crate::estimators::{mean, median};
use crate::rules::Rules;

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
    pub interviewer: Vec<bool>,
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
    /// Why, in English (machine JSON); people read `messages::interviewer_reasons`.
    pub reasons: Vec<String>,
    /// Which comparisons stood out: `score`, `duration`.
    #[serde(default)]
    pub reason_codes: Vec<String>,
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
pub fn interviewers(
    input: &Input<'_>,
    straightline: &[bool],
    rules: &Rules,
) -> Vec<InterviewerFlag> {
    let groups = Groups::new(input.community);
    let flags = Flags {
        straightline: straightline.to_vec(),
        ..Default::default()
    };
    interviewer_flags(input, &flags, &groups, rules)
}

pub fn compute(input: &Input<'_>, rules: &Rules) -> (Flags, Vec<InterviewerFlag>) {
    let n = input.community.len();
    let q = &rules.quality;
    let mut flags = Flags {
        speeder: vec![false; n],
        straightline: vec![false; n],
        duplicate_pattern: vec![false; n],
        few_answers: vec![false; n],
        interviewer: vec![false; n],
    };
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
    let flagged = interviewer_flags(input, &flags, &groups, rules);
    let names: std::collections::HashSet<&str> =
        flagged.iter().map(|f| f.interviewer_id.as_str()).collect();
    for i in 0..n {
        if let Some(iv) = input.interviewer(i) {
            flags.interviewer[i] = names.contains(input.interviewer_names[iv as usize].as_str());
        }
    }
    (flags, flagged)
}

/// z of an interviewer's mean within-community difference from peers:
/// D = Σ_c n_c (ȳ_ic − ȳ_peers,c) / Σ n_c, SE = s · sqrt(1/N + Σ n_c² / (N² m_peers,c)),
/// s the pooled within-community standard deviation.
fn interviewer_flags(
    input: &Input<'_>,
    flags: &Flags,
    groups: &Groups,
    rules: &Rules,
) -> Vec<InterviewerFlag> {
    let q = &rules.quality;
    let log_dur: Vec<f64> = input
        .duration
        .iter()
        .map(|d| if *d > 0.0 { d.ln() } else { f64::NAN })
        .collect();
    let n_iv = input.interviewer_names.len();
    let mut counts: Vec<(usize, usize)> = vec![(0, 0); n_iv];
    for i in 0..input.community.len() {
        if let Some(iv) = input.interviewer(i) {
            let e = &mut counts[iv as usize];
            e.0 += 1;
            e.1 += flags.straightline[i] as usize;
        }
    }
    // One at a time, most extreme first: a fabricator distorts the peer means of the
    // honest interviewers beside them, so once flagged they leave the comparison.
    let mut out: Vec<InterviewerFlag> = Vec::new();
    let mut excluded = vec![false; n_iv];
    loop {
        let score_cmp = compare(input, groups, input.score, &excluded);
        let dur_cmp = compare(input, groups, &log_dur, &excluded);
        let mut worst: Option<(f64, u32)> = None;
        for (iv, &(n, _)) in counts.iter().enumerate() {
            let iv = iv as u32;
            if n < q.interviewer_min_questionnaires || excluded[iv as usize] {
                continue;
            }
            let sz = score_cmp[iv as usize].map(|c| c.1.abs()).unwrap_or(0.0);
            let dz = dur_cmp[iv as usize].map(|c| -c.1).unwrap_or(0.0);
            let m = sz.max(dz);
            let name = &input.interviewer_names[iv as usize];
            let better = match worst {
                None => true,
                Some((w, wiv)) => {
                    m > w || (m == w && *name < input.interviewer_names[wiv as usize])
                }
            };
            if m > q.interviewer_z && better {
                worst = Some((m, iv));
            }
        }
        let Some((_, iv)) = worst else { break };
        excluded[iv as usize] = true;
        let (n, sl) = counts[iv as usize];
        let sc = score_cmp[iv as usize];
        let dc = dur_cmp[iv as usize];
        let mut reasons = Vec::new();
        let mut reason_codes = Vec::new();
        if let Some((sd, sz)) = sc
            && sz.abs() > q.interviewer_z
        {
            reason_codes.push("score".to_string());
            reasons.push(format!(
                "mean score {}{:.1} points from other interviewers in the same communities (z = {:.1})",
                if sd >= 0.0 { "+" } else { "" },
                sd,
                sz
            ));
        }
        if let Some((dd, dz)) = dc
            && dz < -q.interviewer_z
        {
            reason_codes.push("duration".to_string());
            reasons.push(format!(
                "interviews {:.0}% shorter than other interviewers' in the same communities (z = {:.1})",
                (1.0 - dd.exp()) * 100.0,
                dz
            ));
        }
        out.push(InterviewerFlag {
            interviewer_id: input.interviewer_names[iv as usize].clone(),
            questionnaires: n,
            score_difference: sc.map(|c| c.0).unwrap_or(0.0),
            score_z: sc.map(|c| c.1).unwrap_or(0.0),
            duration_ratio: dc.map(|(d, _)| d.exp()),
            duration_z: dc.map(|(_, z)| z),
            straightline_share: sl as f64 / n as f64,
            reasons,
            reason_codes,
        });
    }
    out.sort_by(|a, b| a.interviewer_id.cmp(&b.interviewer_id));
    out
}

/// Per interviewer: (weighted mean difference from peers, z), or None.
fn compare(
    input: &Input<'_>,
    groups: &Groups,
    y: &[f64],
    excluded: &[bool],
) -> Vec<Option<(f64, f64)>> {
    let n_iv = excluded.len();
    let y = |i: usize| match input.interviewer(i) {
        Some(iv) if excluded[iv as usize] => None,
        _ => Some(y[i]).filter(|v| !v.is_nan()),
    };
    // Pooled within-community variance.
    let (mut ss, mut dof) = (0.0, 0usize);
    let mut v: Vec<f64> = Vec::new();
    for rows in groups.iter() {
        v.clear();
        v.extend(rows.iter().filter_map(|&i| y(i as usize)));
        if let Some(m) = mean(&v) {
            ss += v.iter().map(|x| (x - m).powi(2)).sum::<f64>();
            dof += v.len().saturating_sub(1);
        }
    }
    if dof == 0 || ss <= 0.0 {
        return vec![None; n_iv];
    }
    let s2 = ss / dof as f64;
    // Per interviewer: Σ n_c diff_c, N, Σ n_c² / m_peers.
    let mut acc: Vec<(f64, f64, f64)> = vec![(0.0, 0.0, 0.0); n_iv];
    let mut per: Vec<(f64, usize)> = vec![(0.0, 0); n_iv];
    let mut touched: Vec<u32> = Vec::new();
    for rows in groups.iter() {
        let (mut tot, mut cnt) = (0.0, 0usize);
        for &i in rows {
            let i = i as usize;
            if let (Some(iv), Some(v)) = (input.interviewer(i), y(i)) {
                let e = &mut per[iv as usize];
                if e.1 == 0 {
                    touched.push(iv);
                }
                e.0 += v;
                e.1 += 1;
                tot += v;
                cnt += 1;
            }
        }
        for &iv in &touched {
            let (sum, n) = std::mem::take(&mut per[iv as usize]);
            let m_peers = cnt - n;
            if m_peers < 2 {
                continue;
            }
            let diff = sum / n as f64 - (tot - sum) / m_peers as f64;
            let e = &mut acc[iv as usize];
            e.0 += n as f64 * diff;
            e.1 += n as f64;
            e.2 += (n as f64).powi(2) / m_peers as f64;
        }
        touched.clear();
    }
    acc.into_iter()
        .map(|(wd, n, k)| {
            (n > 0.0).then(|| {
                let d = wd / n;
                let se = (s2 * (1.0 / n + k / (n * n))).sqrt();
                (d, d / se)
            })
        })
        .collect()
}
