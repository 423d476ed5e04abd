//! Quality flags on accepted questionnaires (flag, never drop): speeders,
//! straight-lining, duplicate answer patterns, too few answers, and interviewers whose
//! scores or timings stand out from their peers in the same communities (造假).

use serde::{Deserialize, Serialize};

use crate::estimators::median;
use crate::rules::Rules;

pub mod cells;
pub use cells::Table;
use cells::{Cells, compare};

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
/// `near_duplicate`, when given, is each questionnaire's near-duplicate indicator (1
/// or 0; see [`near_duplicates_where`]); else it is computed here.
pub fn interviewers(
    input: &Input<'_>,
    straightline: &[bool],
    near_duplicate: Option<&[f64]>,
    rules: &Rules,
) -> Vec<InterviewerFlag> {
    let groups = Groups::new(input.community);
    let flags = Flags {
        straightline: straightline.to_vec(),
        ..Default::default()
    };
    let nd = match near_duplicate {
        Some(v) => v.to_vec(),
        None => near_duplicates(input, &groups, &|_| true),
    };
    interviewer_flags(input, &flags, rules, nd)
}

/// The near-duplicate indicator of the questionnaires of the communities `keep`
/// accepts (1 or 0; NaN for all when there are fewer than three items); 0 elsewhere.
pub fn near_duplicates_where(input: &Input<'_>, keep: &(dyn Fn(u32) -> bool + Sync)) -> Vec<f64> {
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
        flags.near_duplicate = nd.iter().map(|v| *v == 1.0).collect();
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
pub const ALGORITHM: &str = "nine-indicators-centred-tau-mvn-null-minp-top-exact-cells-3";

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

/// 1 for a questionnaire that differs from another of the same community in at most
/// two items (a percent-match of 80% or more with 10 items, Kuriakose & Robbins), else
/// 0. Exact, by the pigeonhole principle: cut the items into three bands; two patterns
/// with at most two differences agree on a whole band, so only questionnaires that
/// share some band are compared, item by item.
fn near_duplicates(
    input: &Input<'_>,
    groups: &Groups,
    keep: &(dyn Fn(u32) -> bool + Sync),
) -> Vec<f64> {
    let n = input.community.len();
    let k = input.n_items;
    if k < 3 {
        return vec![f64::NAN; n];
    }
    let bands: Vec<std::ops::Range<usize>> = (0..3).map(|b| b * k / 3..(b + 1) * k / 3).collect();
    let within_two = |x: &[u8], y: &[u8]| {
        let mut d = 0;
        for (a, b) in x.iter().zip(y) {
            d += (a != b) as u32;
            if d > 2 {
                return false;
            }
        }
        true
    };
    // The rows of one community that have a near-duplicate there. Rows with the same
    // answers are one pattern: two rows share a pattern (distance 0) or their
    // patterns are within two items, so only distinct patterns are compared.
    let community = |rows: &[u32], keyed: &mut Vec<(u64, u32)>, found: &mut Vec<u32>| {
        // Distinct patterns: (a row that has it, how many rows have it).
        let mut ids: rustc_hash::FxHashMap<&[u8], u32> = Default::default();
        let mut first: Vec<u32> = Vec::new();
        let mut count: Vec<u32> = Vec::new();
        let mut pid_of: Vec<u32> = Vec::with_capacity(rows.len());
        for &i in rows {
            let a = input.answers(i as usize);
            let next = first.len() as u32;
            let p = *ids.entry(a).or_insert(next);
            if p == next {
                first.push(i);
                count.push(0);
            }
            count[p as usize] += 1;
            pid_of.push(p);
        }
        let mut marked: Vec<bool> = count.iter().map(|c| *c > 1).collect();
        for band in &bands {
            keyed.clear();
            keyed.extend(first.iter().enumerate().map(|(p, &i)| {
                let part = &input.answers(i as usize)[band.clone()];
                // Up to 8 items: the bytes themselves (no collisions); more: a hash.
                let key = if part.len() <= 8 {
                    let mut b = [0u8; 8];
                    b[..part.len()].copy_from_slice(part);
                    u64::from_le_bytes(b)
                } else {
                    xxhash_rust::xxh3::xxh3_64(part)
                };
                (key, p as u32)
            }));
            keyed.sort_unstable();
            let mut start = 0;
            while start < keyed.len() {
                let mut end = start + 1;
                while end < keyed.len() && keyed[end].0 == keyed[start].0 {
                    end += 1;
                }
                let run = &keyed[start..end];
                for (x, &(_, p)) in run.iter().enumerate() {
                    let ap = input.answers(first[p as usize] as usize);
                    for &(_, q) in run.iter().skip(x + 1) {
                        // Pairs whose two patterns are both known near-duplicates
                        // teach nothing more.
                        if marked[p as usize] && marked[q as usize] {
                            continue;
                        }
                        if within_two(ap, input.answers(first[q as usize] as usize)) {
                            marked[p as usize] = true;
                            marked[q as usize] = true;
                        }
                    }
                }
                start = end;
            }
        }
        found.extend(
            rows.iter()
                .zip(&pid_of)
                .filter(|(_, p)| marked[**p as usize])
                .map(|(i, _)| *i),
        );
    };
    // Communities are independent: on all cores, each thread taking the next one.
    let all: Vec<&[u32]> = groups
        .iter()
        .filter(|g| g.len() >= 2 && keep(input.community[g[0] as usize]))
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let threads = std::thread::available_parallelism()
        .map_or(2, |t| t.get())
        .clamp(1, 8)
        .min(all.len().max(1));
    let found: Vec<u32> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                sc.spawn(|| {
                    let (mut keyed, mut found) = (Vec::new(), Vec::new());
                    loop {
                        let g = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(rows) = all.get(g) else {
                            return found;
                        };
                        community(rows, &mut keyed, &mut found);
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut out = vec![0.0; n];
    for i in found {
        out[i as usize] = 1.0;
    }
    out
}

/// The normal score with the same tail probability as Student t `t` with n − 1 df.
fn t_as_normal(t: f64, n: usize) -> f64 {
    use statrs::distribution::{ContinuousCDF, Normal, StudentsT};
    if n < 3 || !t.is_finite() {
        return t;
    }
    let Ok(st) = StudentsT::new(0.0, 1.0, (n - 1) as f64) else {
        return t;
    };
    let Ok(norm) = Normal::new(0.0, 1.0) else {
        return t;
    };
    // The smaller tail, for precision far out.
    let tail = st.cdf(-t.abs());
    if tail <= 0.0 {
        return t;
    }
    let z = -norm.inverse_cdf(tail);
    if t < 0.0 { -z } else { z }
}

/// S and T of interviewer `iv`: S sums z² over two-sided indicators and max(0, ±z)²
/// over one-sided ones; T sums the `top` largest of those terms.
fn s_of(z: &[Vec<Option<f64>>], iv: usize, top: usize) -> (f64, f64) {
    let mut terms: Vec<f64> = INDICATORS
        .iter()
        .enumerate()
        .filter_map(|(k, (_, dir))| z[k][iv].map(|zk| term(*dir, zk)))
        .collect();
    (terms.iter().sum(), top_sum(&mut terms, top))
}

fn term(dir: Dir, z: f64) -> f64 {
    match dir {
        Dir::Both => z * z,
        Dir::Higher => z.max(0.0).powi(2),
        Dir::Lower => (-z).max(0.0).powi(2),
    }
}

/// Draws of z ~ N(0, R) (a fixed seed: the same data give the same flags).
struct NullS {
    draws: Vec<Vec<f64>>,
}

/// Draws of the null: enough for p-values down to 1/20,000.
const NULL_DRAWS: usize = 20_000;

impl NullS {
    /// Independent standard normal draws, NULL_DRAWS × INDICATORS (made once a run).
    fn standard() -> Vec<Vec<f64>> {
        use rand::{RngExt, SeedableRng};
        let mut g = rand_chacha::ChaCha8Rng::seed_from_u64(0x6d616e7969);
        let mut normal = || {
            let u1: f64 = g.random::<f64>().max(1e-300);
            let u2: f64 = g.random::<f64>();
            (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        };
        (0..NULL_DRAWS)
            .map(|_| (0..INDICATORS.len()).map(|_| normal()).collect())
            .collect()
    }

    fn new(z: &[Vec<Option<f64>>], eligible: &[usize], standard: &[Vec<f64>]) -> NullS {
        let k = INDICATORS.len();
        let full: Vec<Vec<f64>> = eligible
            .iter()
            .filter_map(|&iv| {
                (0..k)
                    .map(|j| z[j][iv].map(|v| v.clamp(-4.0, 4.0)))
                    .collect::<Option<Vec<f64>>>()
            })
            .collect();
        let mut r = vec![vec![0.0; k]; k];
        for (a, row) in r.iter_mut().enumerate() {
            row[a] = 1.0;
        }
        if full.len() >= 10 {
            let n = full.len() as f64;
            let mean: Vec<f64> = (0..k)
                .map(|j| full.iter().map(|v| v[j]).sum::<f64>() / n)
                .collect();
            let sd: Vec<f64> = (0..k)
                .map(|j| (full.iter().map(|v| (v[j] - mean[j]).powi(2)).sum::<f64>() / n).sqrt())
                .collect();
            for a in 0..k {
                for b in 0..a {
                    if sd[a] > 0.0 && sd[b] > 0.0 {
                        let c = full
                            .iter()
                            .map(|v| (v[a] - mean[a]) * (v[b] - mean[b]))
                            .sum::<f64>()
                            / n
                            / (sd[a] * sd[b]);
                        r[a][b] = c;
                        r[b][a] = c;
                    }
                }
            }
        }
        let l = cholesky_ridged(&r);
        let draws = standard
            .iter()
            .map(|e| {
                (0..k)
                    .map(|a| (0..=a).map(|b| l[a][b] * e[b]).sum())
                    .collect()
            })
            .collect();
        NullS { draws }
    }

    /// The null of interviewers with the indicators in `mask`: S and T (the sum of
    /// the `top` largest terms) of every draw, sorted, and the smaller of each draw's
    /// two p-values, sorted (the min-p combination's own null).
    fn of_mask(&self, mask: u32, top: usize) -> MaskNull {
        let mut terms: Vec<f64> = Vec::with_capacity(INDICATORS.len());
        let (mut s, mut t): (Vec<f64>, Vec<f64>) = self
            .draws
            .iter()
            .map(|d| {
                terms.clear();
                terms.extend(
                    INDICATORS
                        .iter()
                        .enumerate()
                        .filter(|(k, _)| mask & (1 << k) != 0)
                        .map(|(k, (_, dir))| term(*dir, d[k])),
                );
                (terms.iter().sum::<f64>(), top_sum(&mut terms, top))
            })
            .unzip();
        let minp: Vec<f64> = if top == 0 {
            Vec::new()
        } else {
            let (ss, ts) = {
                let mut a = s.clone();
                a.sort_by(f64::total_cmp);
                let mut b = t.clone();
                b.sort_by(f64::total_cmp);
                (a, b)
            };
            let mut m: Vec<f64> = s
                .iter()
                .zip(&t)
                .map(|(x, y)| upper_p(&ss, *x).min(upper_p(&ts, *y)))
                .collect();
            m.sort_by(f64::total_cmp);
            m
        };
        s.sort_by(f64::total_cmp);
        t.sort_by(f64::total_cmp);
        MaskNull { s, t, minp }
    }
}

/// The null of one set of indicators (see [`NullS::of_mask`]).
struct MaskNull {
    s: Vec<f64>,
    t: Vec<f64>,
    /// Empty when T is not used (`interviewer_top` = 0).
    minp: Vec<f64>,
}

impl MaskNull {
    /// The p-value of an interviewer's S and T (each already divided by its λ): S's
    /// upper tail alone, or the smaller of S's and T's, calibrated by the null of
    /// that minimum.
    fn p(&self, s: f64, t: f64) -> f64 {
        let ps = upper_p(&self.s, s);
        if self.minp.is_empty() {
            return ps;
        }
        let m = ps.min(upper_p(&self.t, t));
        let at_most = self.minp.partition_point(|x| *x <= m);
        (1 + at_most) as f64 / (1 + self.minp.len()) as f64
    }
}

/// (1 + the draws at or above x) / (1 + the draws): an upper-tail p-value from sorted
/// null draws.
fn upper_p(sorted: &[f64], x: f64) -> f64 {
    let above = sorted.len() - sorted.partition_point(|v| *v < x);
    (1 + above) as f64 / (1 + sorted.len()) as f64
}

/// The sum of the `top` largest of `terms` (all of them when there are fewer).
fn top_sum(terms: &mut [f64], top: usize) -> f64 {
    if top == 0 {
        return 0.0;
    }
    terms.sort_by(|a, b| b.total_cmp(a));
    terms.iter().take(top).sum()
}

/// The Cholesky factor of a correlation matrix, with a ridge added until it is
/// positive definite (an estimated R can be slightly indefinite).
fn cholesky_ridged(r: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let k = r.len();
    let mut ridge = 0.0;
    loop {
        let mut l = vec![vec![0.0; k]; k];
        let mut ok = true;
        'outer: for i in 0..k {
            for j in 0..=i {
                let a = if i == j {
                    (r[i][j] + ridge) / (1.0 + ridge)
                } else {
                    r[i][j] / (1.0 + ridge)
                };
                let s: f64 = (0..j).map(|m| l[i][m] * l[j][m]).sum();
                if i == j {
                    let v = a - s;
                    if v <= 1e-9 {
                        ok = false;
                        break 'outer;
                    }
                    l[i][j] = v.sqrt();
                } else {
                    l[i][j] = (a - s) / l[j][j];
                }
            }
        }
        if ok {
            return l;
        }
        ridge = if ridge == 0.0 { 0.01 } else { ridge * 2.0 };
    }
}

fn quantile_sorted(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn median_of(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    })
}

/// Interviewers compared with their peers in the same communities on every indicator.
/// For indicator k and interviewer i: D = the weighted mean difference from peers,
/// se its sampling error, and τ_k² how much honest interviewers differ on it in this
/// round (robustly: (1.4826·MAD of D)² minus the median se², at least 0, from 8
/// interviewers up); z = D / sqrt(se² + τ²). The combined score S sums z² over
/// two-sided indicators and max(0, ±z)² over one-sided ones (the direction fabrication
/// moves them); its p-value is that of independent normal z, after dividing S by
/// λ = median(S) / its null median when λ > 1 (correlated indicators). An interviewer
/// is flagged when p < `interviewer_alpha`; one at a time, the most extreme first,
/// each leaving the peers of the next comparison (a fabricator distorts them).
fn interviewer_flags(
    input: &Input<'_>,
    flags: &Flags,
    rules: &Rules,
    near_duplicate: Vec<f64>,
) -> Vec<InterviewerFlag> {
    let table = cells::of_rows(
        input,
        &flags.straightline,
        &[],
        None,
        &near_duplicate,
        rules.scale.answers.len(),
        &|_| true,
    );
    flags_of_table(&table, input.interviewer_names, rules)
}

/// The interviewer comparison over a table of cells (see [`interviewer_flags`]);
/// `names` are the interviewers the table's indices name.
pub fn flags_of_table(table: &Table, names: &[String], rules: &Rules) -> Vec<InterviewerFlag> {
    let q = &rules.quality;
    let mut clock = crate::timings::Phases::new();
    // Each indicator's statistics per community and interviewer: every pass of the
    // one-at-a-time loop below works on these, not on rows.
    let same_day = table.same_day();
    let cells: Vec<Cells> = (0..INDICATORS.len())
        .map(|k| Cells::of_table(table, k, &same_day))
        .collect();
    clock.lap("indicators");
    let n_iv = names.len();
    let counts = table.counts(n_iv);
    let mut out: Vec<InterviewerFlag> = Vec::new();
    let mut excluded = vec![false; n_iv];
    let mut standard: Option<Vec<Vec<f64>>> = None;
    loop {
        let eligible: Vec<usize> = (0..n_iv)
            .filter(|&iv| counts[iv].0 >= q.interviewer_min_questionnaires && !excluded[iv])
            .collect();
        if eligible.is_empty() {
            break;
        }
        let cmps: Vec<Vec<Option<(f64, f64)>>> =
            cells.iter().map(|c| compare(c, &excluded)).collect();
        // z per indicator and interviewer, the peers' own spread allowed for.
        let mut z: Vec<Vec<Option<f64>>> = vec![vec![None; n_iv]; INDICATORS.len()];
        for (k, cmp) in cmps.iter().enumerate() {
            let pairs: Vec<(f64, f64)> = eligible.iter().filter_map(|&iv| cmp[iv]).collect();
            // The centre: the honest bulk's difference (0 unless a fabricator working
            // beside many of them shifts their peer means), the median of D.
            let centre = if pairs.len() >= 8 {
                median_of(pairs.iter().map(|p| p.0).collect()).unwrap_or(0.0)
            } else {
                0.0
            };
            // τ²: the smallest between-interviewer variance that makes the bulk of
            // the z values standard normal (1.4826 · median |z| ≤ 1; a robust
            // Paule–Mandel), from 8 interviewers up.
            let tau2 = if pairs.len() >= 8 {
                let spread = |t2: f64| {
                    let zs: Vec<f64> = pairs
                        .iter()
                        .map(|(d, se)| ((d - centre) / (se * se + t2).sqrt()).abs())
                        .filter(|v| v.is_finite())
                        .collect();
                    1.4826 * median_of(zs).unwrap_or(0.0)
                };
                if spread(0.0) <= 1.0 {
                    0.0
                } else {
                    let mut hi = pairs
                        .iter()
                        .map(|p| (p.0 - centre).powi(2))
                        .fold(0.0, f64::max)
                        .max(1e-12);
                    while spread(hi) > 1.0 {
                        hi *= 2.0;
                    }
                    let mut lo = 0.0;
                    for _ in 0..50 {
                        let mid = (lo + hi) / 2.0;
                        if spread(mid) > 1.0 {
                            lo = mid;
                        } else {
                            hi = mid;
                        }
                    }
                    hi
                }
            } else {
                0.0
            };
            for &iv in &eligible {
                if let Some((d, se)) = cmp[iv] {
                    let sd = (se * se + tau2).sqrt();
                    if sd > 0.0 {
                        // The standard error is estimated: read d / sd as a Student t
                        // with n − 1 degrees of freedom, given back as a normal score.
                        z[k][iv] = Some(t_as_normal((d - centre) / sd, counts[iv].0));
                    }
                }
            }
        }
        // The null of S: z ~ N(0, R), R the round's correlation between indicators
        // (winsorised at ±4, from the interviewers with every indicator).
        let standard = standard.get_or_insert_with(NullS::standard);
        let null = NullS::new(&z, &eligible, standard);
        let top = q.interviewer_top;
        let scored: Vec<(usize, (f64, f64), u32)> = eligible
            .iter()
            .filter_map(|&iv| {
                let mask = (0..INDICATORS.len())
                    .filter(|k| z[*k][iv].is_some())
                    .fold(0u32, |m, k| m | 1 << k);
                (mask != 0).then(|| (iv, s_of(&z, iv, top), mask))
            })
            .collect();
        let mut nulls: std::collections::HashMap<u32, MaskNull> = Default::default();
        for (_, _, mask) in &scored {
            nulls
                .entry(*mask)
                .or_insert_with(|| null.of_mask(*mask, top));
        }
        // λ: how much wider than the null the bulk of this round's values are, for S
        // and for T. (At the median, the upper quartile and the 90th percentile,
        // whichever is widest: the tails of real indicators are heavier than the
        // normal's.)
        let lambda = |of: &dyn Fn(&(f64, f64)) -> f64, null_of: &dyn Fn(&MaskNull) -> &[f64]| {
            if scored.len() < 8 {
                return 1.0;
            }
            let at = |q: f64| -> f64 {
                let mut ss: Vec<f64> = scored.iter().map(|x| of(&x.1)).collect();
                ss.sort_by(f64::total_cmp);
                let mut ns: Vec<f64> = scored
                    .iter()
                    .map(|(_, _, mask)| quantile_sorted(null_of(&nulls[mask]), q))
                    .collect();
                ns.sort_by(f64::total_cmp);
                quantile_sorted(&ss, q) / quantile_sorted(&ns, q).max(1e-9)
            };
            at(0.5).max(at(0.75)).max(at(0.9)).max(1.0)
        };
        let lambda_s = lambda(&|v| v.0, &|m| &m.s);
        let lambda_t = if top == 0 {
            1.0
        } else {
            lambda(&|v| v.1, &|m| &m.t)
        };
        let mut worst: Option<(f64, f64, usize)> = None;
        for &(iv, (s, t), mask) in &scored {
            let s = s / lambda_s;
            let p = nulls[&mask].p(s, t / lambda_t);
            let name = &names[iv];
            let better = match worst {
                None => true,
                Some((w, ws, wiv)) => {
                    p < w || (p == w && s > ws) || (p == w && s == ws && *name < names[wiv])
                }
            };
            if p < q.interviewer_alpha && better {
                worst = Some((p, s, iv));
            }
        }
        let worst = worst.map(|(p, _, iv)| (p, iv));
        let Some((p, iv)) = worst else { break };
        excluded[iv] = true;
        let (n, sl) = counts[iv];
        let mut evidence: Vec<IndicatorEvidence> = Vec::new();
        let mut reason_codes = Vec::new();
        let mut reasons = Vec::new();
        for (k, (code, dir)) in INDICATORS.iter().enumerate() {
            let (Some(zk), Some((d, _))) = (z[k][iv], cmps[k][iv]) else {
                continue;
            };
            evidence.push(IndicatorEvidence {
                code: code.to_string(),
                difference: d,
                z: zk,
            });
            let stands_out = match dir {
                Dir::Both => zk.abs() >= q.interviewer_z,
                Dir::Higher => zk >= q.interviewer_z,
                Dir::Lower => -zk >= q.interviewer_z,
            };
            if stands_out {
                reason_codes.push(code.to_string());
                reasons.push(format!("{code}: {d:+.3} against peers (z = {zk:.1})"));
            }
        }
        let sc = cmps[0][iv];
        let dc = cmps[5][iv];
        out.push(InterviewerFlag {
            interviewer_id: names[iv].clone(),
            questionnaires: n,
            score_difference: sc.map(|c| c.0).unwrap_or(0.0),
            score_z: z[0][iv].unwrap_or(0.0),
            duration_ratio: dc.map(|(d, _)| d.exp()),
            duration_z: z[5][iv],
            straightline_share: sl as f64 / n as f64,
            reasons,
            reason_codes,
            p_value: Some(p),
            indicators: evidence,
        });
    }
    clock.lap("comparisons");
    clock.report("interviewers");
    out.sort_by(|a, b| a.interviewer_id.cmp(&b.interviewer_id));
    out
}

const NONE: u32 = u32::MAX;

#[cfg(test)]
mod tests;
