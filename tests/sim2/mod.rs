//! `sim2`: an independent simulator of one evaluator's survey delivery (a CSV), with
//! honest interviewers and, optionally, fabricating ones, for a held-out benchmark of
//! fabrication detection.
//!
//! Written from a plain description of how honest and fabricating interviewers behave,
//! not from the crate's detector or its own simulator. Use it from an integration test:
//!
//! ```ignore
//! #[path = "sim2/mod.rs"]
//! mod sim2;
//! let comms = sim2::example_communities(30);
//! let mut p = sim2::Params::new(7, "2018-R1", (2018, 4, 1), (2018, 4, 30));
//! p.fabricators = vec![sim2::Kind::AllTop, sim2::Kind::Copier];
//! let d = sim2::delivery(&comms, &p);
//! // d.csv: the delivery; d.interviewers: every interviewer in it with its kind.
//! ```
//!
//! # Output
//!
//! UTF-8 CSV, LF line ends, header
//! `respondent_id,community_code,community_name,round,interview_date,interviewer_id,mode,duration_s,q1,…,q10`.
//! Rows are ordered by community (in the order given), then by interview date, ties in
//! random order (the order an evaluator's data entry produces); respondent ids are `R`
//! plus six digits, numbered in that order. Interviewer ids are `I` plus three digits
//! (more when needed), a random permutation, so a fabricator's id looks like any other
//! and is not the last one. Fabricators are not marked in the CSV; `Delivery::interviewers`
//! gives the ground truth (every questionnaire of a fabricator is fabricated; honest
//! interviewers fabricate nothing). Same `Params` (and communities) → byte-identical CSV
//! (one ChaCha8 stream seeded from `seed`, no hash-map iteration).
//!
//! # The honest model
//!
//! Answers are codes 0..=4 (非常满意 … 非常不满意) and 5 (不了解). Each item j of a
//! respondent gets a latent satisfaction
//!
//! `y = M + level_c + item_cj + beta_j + shift_i + 0.08·phone + spread_i·(eta_r + g_r,half(j) + s_r·e_rj)`
//!
//! cut at thresholds 1.55 / 0.55 / −0.35 / −1.25 (≥1.55 非常满意, …, <−1.25 非常不满意), M = 0.95.
//!
//! - Community: `level_c ~ N(0, 0.35)` (communities differ in overall satisfaction by
//!   several tenths of a category) and `item_cj ~ N(0, 0.18)` (local problems, e.g. one
//!   community's sanitation).
//! - Item: fixed `beta_j` (security and convenience rated higher, environment, parking and
//!   complaint handling lower), range about ±0.3.
//! - Respondent: a general attitude `eta_r` from a mixture: 12% always-positive (mean +1.6,
//!   small item noise 0.35: mostly 非常满意, some straight-lining, as real data has),
//!   12% critical (mean −1.1), 76% ordinary (`N(0, 0.55)`, item noise 0.55); two group
//!   factors `g ~ N(0, 0.3)` for q1–q5 (services) and q6–q10 (environment) give the
//!   items a realistic block correlation on top of the general one.
//! - 不了解: item base rates 1%–8% (q8 and q4 highest, q1 lowest; mean ≈ 3.4%), times a
//!   respondent propensity (55% ×0.3, 35% ×1.2, 10% ×4: most respondents answer
//!   everything, a few don't know several items), times the interviewer's tolerance
//!   `exp(N(0, 0.35))`, times 1.3 by phone; capped at 0.7. About 3% of cells overall.
//! - Honest interviewer i (real interviewer effects, deliberately not tiny):
//!   `shift_i ~ N(0, 0.15)` (intra-interviewer correlation ≈ 0.02–0.03, typical of
//!   face-to-face surveys), `spread_i = exp(N(0, 0.15))` (some elicit more spread,
//!   some less), the 不了解 tolerance above, a phone share (35% none, 45% 10–35%,
//!   20% 50–90%), a pace (median duration `exp(N(ln 580 s, 0.20))`, i.e. most between
//!   6.5 and 14 minutes) and per-questionnaire log-sd `exp(N(ln 0.22, 0.25))` (about
//!   0.13–0.37). A questionnaire's duration is pace × 0.82 by phone × (1 + 0.04 per
//!   negative answer − 0.025 per 不了解) × log-normal noise, 3% interrupted (×1.4–2.2),
//!   at least 150 s, rounded to whole seconds.
//! - Work pattern: 30% "burst" (2–4 active days), 30% "sporadic" (4–8 days), 40%
//!   "steady" (40–80% of the window's days); days drawn with weekends ×1.4, each day an
//!   intensity `exp(N(0, 0.5))`. In each community an interviewer does his home
//!   interviews on 1–2 of his active days (burst), 2–4 (sporadic) or 30–60% of them,
//!   at least 3 (steady), each with its own intensity; phone interviews fall on any
//!   active day.
//! - Assignment: each community is served by `interviewers_per_community` honest
//!   interviewers from a pool of `max(ipc, round(communities × ipc / 2))` (ipc =
//!   `interviewers_per_community`), so an interviewer works about two communities on
//!   average (loads from 1 to 5–7, log-normal capacities; neighbouring communities in
//!   the given order, as streets are). A community's honest
//!   questionnaires are split among its interviewers by random weights `exp(N(0, 0.4))`,
//!   each at least one when there are enough.
//!
//! # Fabricators
//!
//! Each fabricator is one extra interviewer working a contiguous run of 2–4 communities
//! (1 when there are only two communities, the only one when there is one; never all
//! when there are at least two). In each he replaces 25–45% of the community's
//! questionnaires (at least one), leaving at least 40% honest (at least one) when
//! `per_community ≥ 2`; with `per_community = 1` he may replace the only one. Each
//! community keeps `per_community` rows in total. Phone share as honest ones.
//!
//! - `AllTop`: every item 非常满意 (3% of questionnaires have one item 满意); pace median
//!   75–110 s, log-sd 0.25, at least 35 s; 1–2 active days, ~85% of the work on the
//!   first: many questionnaires on the same day, all communities on the same days.
//! - `Kinder`: the honest model of the community, with his own (honest-like) interviewer
//!   shift and spread, plus +0.95 on the latent scale (about one category kinder: his
//!   mean code typically 0.3–0.9 lower than the honest ones' there, less where they
//!   are already very satisfied) and 不了解 ×0.3 of the honest base (no personal
//!   tolerance factor); an honest-like pace, duration spread and work pattern
//!   (sporadic or steady).
//! - `Copier`: each questionnaire copies the answers of a random honest questionnaire
//!   of the same community in this delivery (with replacement), then changes one or two
//!   (50/50) distinct items by one category (不了解 becomes 满意 or 基本满意); the
//!   source pool falls back to all honest rows, then to model answers, when empty. Pace
//!   median `exp(N(ln 540, 0.12))` with per-questionnaire log-sd 0.035 (very steady, no
//!   mode or content effect; at least 60 s); 2–3 active days, all communities on the
//!   same days.
#![allow(dead_code)]

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The header row, exactly.
pub const HEADER: &str = "respondent_id,community_code,community_name,round,interview_date,interviewer_id,mode,duration_s,q1,q2,q3,q4,q5,q6,q7,q8,q9,q10";
/// Answer labels by code: 0 非常满意 … 4 非常不满意, 5 不了解.
pub const LABELS: [&str; 6] = [
    "非常满意",
    "满意",
    "基本满意",
    "不满意",
    "非常不满意",
    "不了解",
];
/// Mode labels: 0 in-home, 1 phone.
pub const MODES: [&str; 2] = ["入户", "电话"];
/// Code of 不了解.
pub const DK: u8 = 5;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Community {
    pub code: String,
    pub name: String,
}

impl Community {
    pub fn new(code: &str, name: &str) -> Community {
        Community {
            code: code.to_string(),
            name: name.to_string(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Honest,
    AllTop,
    Kinder,
    Copier,
}

#[derive(Clone, Debug)]
pub struct Params {
    pub seed: u64,
    /// Written as is in the `round` column, e.g. "2018-R1".
    pub round: String,
    /// First and last fieldwork day (inclusive), (year, month, day). Swapped if reversed.
    pub start: (i32, u32, u32),
    pub end: (i32, u32, u32),
    /// Questionnaires per community (honest + fabricated).
    pub per_community: usize,
    /// Honest interviewers serving each community (0 is taken as 1).
    pub interviewers_per_community: usize,
    /// One extra interviewer per entry, of that kind (`Honest` entries add nothing).
    pub fabricators: Vec<Kind>,
}

impl Params {
    /// 40 questionnaires per community, 3 interviewers each, no fabricator.
    pub fn new(seed: u64, round: &str, start: (i32, u32, u32), end: (i32, u32, u32)) -> Params {
        Params {
            seed,
            round: round.to_string(),
            start,
            end,
            per_community: 40,
            interviewers_per_community: 3,
            fabricators: Vec::new(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Delivery {
    pub csv: String,
    /// Every interviewer that appears in the CSV, sorted by id, with its kind.
    pub interviewers: Vec<(String, Kind)>,
}

impl Delivery {
    /// Ids of the interviewers of the given kind.
    pub fn ids_of(&self, kind: Kind) -> Vec<String> {
        self.interviewers
            .iter()
            .filter(|(_, k)| *k == kind)
            .map(|(id, _)| id.clone())
            .collect()
    }
}

/// `n` synthetic communities (codes like 530103001003, names like 白塔社区居委会), ten
/// per street, for tests.
pub fn example_communities(n: usize) -> Vec<Community> {
    const A: [&str; 16] = [
        "白", "青", "金", "龙", "东", "西", "南", "北", "新", "和", "平", "安", "云", "华", "福",
        "兴",
    ];
    const B: [&str; 12] = [
        "塔", "山", "河", "园", "桥", "苑", "湖", "泉", "林", "坝", "村", "街",
    ];
    (0..n)
        .map(|k| {
            let code = format!("530103{:03}{:03}", k / 10 + 1, k % 10 + 1);
            let name = format!(
                "{}{}{}社区居委会",
                A[k % 16],
                B[(k / 16) % 12],
                if k >= 192 {
                    format!("{}", k / 192)
                } else {
                    String::new()
                }
            );
            Community { code, name }
        })
        .collect()
}

// ---------------------------------------------------------------------------------
// Constants of the model.

const M: f64 = 0.95;
const THRESH: [f64; 4] = [1.55, 0.55, -0.35, -1.25];
/// Item effects (q1..q10).
const BETA: [f64; 10] = [
    0.25, 0.10, 0.15, -0.20, 0.05, 0.30, -0.05, -0.30, 0.00, -0.25,
];
/// 不了解 base rates (q1..q10).
const DK_BASE: [f64; 10] = [
    0.010, 0.020, 0.015, 0.060, 0.030, 0.015, 0.045, 0.080, 0.025, 0.040,
];
const PHONE_DURATION: f64 = 0.82;

// ---------------------------------------------------------------------------------
// Random helpers (never panic).

type R = ChaCha8Rng;

fn uni(rng: &mut R) -> f64 {
    rng.random::<f64>()
}

fn range(rng: &mut R, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * uni(rng)
}

/// Uniform in 0..n (0 when n is 0).
fn below(rng: &mut R, n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    ((uni(rng) * n as f64) as usize).min(n - 1)
}

/// Uniform in lo..=hi.
fn int_in(rng: &mut R, lo: usize, hi: usize) -> usize {
    if hi <= lo {
        lo
    } else {
        lo + below(rng, hi - lo + 1)
    }
}

fn normal(rng: &mut R) -> f64 {
    let u1 = uni(rng).max(1e-300);
    let u2 = uni(rng);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn lognormal(rng: &mut R, median: f64, sd: f64) -> f64 {
    median * (sd * normal(rng)).exp()
}

/// Index drawn with probability proportional to `w` (0 when empty or all zero).
fn pick(rng: &mut R, w: &[f64]) -> usize {
    let total: f64 = w.iter().sum();
    if w.is_empty() || total.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return below(rng, w.len());
    }
    let mut x = uni(rng) * total;
    for (k, &v) in w.iter().enumerate() {
        if x < v {
            return k;
        }
        x -= v;
    }
    w.len() - 1
}

/// `k` distinct indices drawn with weights, without replacement.
fn pick_distinct(rng: &mut R, w: &[f64], k: usize) -> Vec<usize> {
    let mut w = w.to_vec();
    let mut out = Vec::new();
    for _ in 0..k.min(w.len()) {
        let i = pick(rng, &w);
        out.push(i);
        w[i] = 0.0;
        if w.iter().all(|&v| v <= 0.0) {
            // The remaining have weight zero: take them uniformly.
            for (j, v) in w.iter_mut().enumerate() {
                if !out.contains(&j) {
                    *v = 1.0;
                }
            }
        }
    }
    out
}

fn shuffle<T>(rng: &mut R, v: &mut [T]) {
    for i in (1..v.len()).rev() {
        let j = below(rng, i + 1);
        v.swap(i, j);
    }
}

// ---------------------------------------------------------------------------------
// Dates (days since 1970-01-01, proleptic Gregorian).

pub fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let m = m.clamp(1, 12) as i64;
    let d = d.clamp(1, 31) as i64;
    let y = y as i64 - if m <= 2 { 1 } else { 0 };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

pub fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    ((y + if m <= 2 { 1 } else { 0 }) as i32, m as u32, d as u32)
}

fn is_weekend(day: i64) -> bool {
    // 1970-01-01 was a Thursday; 0 = Monday.
    (day + 3).rem_euclid(7) >= 5
}

// ---------------------------------------------------------------------------------
// The model's pieces.

struct CommModel {
    level: f64,
    items: [f64; 10],
}

struct Worker {
    kind: Kind,
    shift: f64,
    spread: f64,
    dk: f64,
    phone_share: f64,
    pace: f64,
    pace_sd: f64,
    /// Active days (day number, intensity).
    days: Vec<(i64, f64)>,
    /// Work style: 0 burst, 1 sporadic, 2 steady.
    style: u8,
}

struct Row {
    comm: usize,
    worker: usize,
    day: i64,
    phone: bool,
    duration: u32,
    answers: [u8; 10],
    key: u64,
}

fn code_of(y: f64) -> u8 {
    THRESH.iter().position(|&t| y >= t).unwrap_or(4) as u8
}

/// One respondent's answers under the honest model (`extra` shifts the latent scale,
/// `dk_mult` scales 不了解).
fn respond(
    rng: &mut R,
    c: &CommModel,
    w: &Worker,
    phone: bool,
    extra: f64,
    dk_mult: f64,
) -> [u8; 10] {
    let u = uni(rng);
    let (eta, noise) = if u < 0.12 {
        (1.6 + 0.3 * normal(rng), 0.35)
    } else if u < 0.24 {
        (-1.1 + 0.4 * normal(rng), 0.5)
    } else {
        (0.55 * normal(rng), 0.55)
    };
    let g = [0.3 * normal(rng), 0.3 * normal(rng)];
    let v = uni(rng);
    let lambda = if v < 0.55 {
        0.3
    } else if v < 0.90 {
        1.2
    } else {
        4.0
    };
    let base = M + c.level + w.shift + extra + if phone { 0.08 } else { 0.0 };
    let dk_factor = lambda * w.dk * dk_mult * if phone { 1.3 } else { 1.0 };
    let mut a = [0u8; 10];
    for j in 0..10 {
        let y = base + c.items[j] + BETA[j] + w.spread * (eta + g[j / 5] + noise * normal(rng));
        let p_dk = (DK_BASE[j] * dk_factor).min(0.7);
        a[j] = if uni(rng) < p_dk { DK } else { code_of(y) };
    }
    a
}

/// An honest-like duration (also the Kinder's).
fn natural_duration(rng: &mut R, w: &Worker, phone: bool, a: &[u8; 10]) -> u32 {
    let neg = a.iter().filter(|&&x| x == 3 || x == 4).count() as f64;
    let dk = a.iter().filter(|&&x| x == DK).count() as f64;
    let mut t = w.pace * if phone { PHONE_DURATION } else { 1.0 };
    t *= (1.0 + 0.04 * neg - 0.025 * dk).max(0.5);
    t *= (w.pace_sd * normal(rng)).exp();
    if uni(rng) < 0.03 {
        t *= range(rng, 1.4, 2.2);
    }
    t.max(150.0).round() as u32
}

fn honest_like_worker(rng: &mut R, kind: Kind) -> Worker {
    let shift = 0.15 * normal(rng);
    let spread = (0.15 * normal(rng)).exp();
    let dk = (0.35 * normal(rng)).exp();
    let u = uni(rng);
    let phone_share = if u < 0.35 {
        0.0
    } else if u < 0.80 {
        range(rng, 0.10, 0.35)
    } else {
        range(rng, 0.50, 0.90)
    };
    let pace = lognormal(rng, 580.0, 0.20);
    let pace_sd = lognormal(rng, 0.22, 0.25);
    Worker {
        kind,
        shift,
        spread,
        dk,
        phone_share,
        pace,
        pace_sd,
        days: Vec::new(),
        style: 1,
    }
}

/// `k` active days in the window, weekends ×1.4, intensities log-normal(0, `sd`).
fn active_days(rng: &mut R, d0: i64, nd: usize, k: usize, sd: f64) -> Vec<(i64, f64)> {
    let w: Vec<f64> = (0..nd)
        .map(|i| if is_weekend(d0 + i as i64) { 1.4 } else { 1.0 })
        .collect();
    let mut picked = pick_distinct(rng, &w, k.clamp(1, nd));
    picked.sort_unstable();
    picked
        .into_iter()
        .map(|i| (d0 + i as i64, (sd * normal(rng)).exp()))
        .collect()
}

fn day_from(rng: &mut R, days: &[(i64, f64)]) -> i64 {
    let w: Vec<f64> = days.iter().map(|d| d.1).collect();
    days.get(pick(rng, &w)).map_or(0, |d| d.0)
}

/// Honest-like active days and style (burst / sporadic / steady).
fn work_pattern(rng: &mut R, d0: i64, nd: usize, allow_burst: bool) -> (Vec<(i64, f64)>, u8) {
    let u = uni(rng);
    if allow_burst && u < 0.30 {
        let k = int_in(rng, 2, 4);
        (active_days(rng, d0, nd, k, 0.3), 0)
    } else if u < 0.60 {
        let k = int_in(rng, 4, 8);
        (active_days(rng, d0, nd, k, 0.5), 1)
    } else {
        let k = ((nd as f64) * range(rng, 0.4, 0.8)).round() as usize;
        (active_days(rng, d0, nd, k, 0.5), 2)
    }
}

/// The days an honest-like interviewer does home interviews in one community: 1–2 of
/// his active days (burst), 2–4 (sporadic), or 30–60% of them, at least 3 (steady),
/// each with its own intensity.
fn visit_days(rng: &mut R, w: &Worker) -> Vec<(i64, f64)> {
    let k = match w.style {
        0 => int_in(rng, 1, 2),
        1 => int_in(rng, 2, 4),
        _ => ((w.days.len() as f64 * range(rng, 0.3, 0.6)).round() as usize).max(3),
    };
    let ws: Vec<f64> = w.days.iter().map(|d| d.1).collect();
    pick_distinct(rng, &ws, k)
        .into_iter()
        .map(|i| (w.days[i].0, lognormal(rng, 1.0, 0.5)))
        .collect()
}

/// Changes one item of a copied pattern by one category.
fn perturb(rng: &mut R, a: &mut [u8; 10], j: usize) {
    let x = a[j];
    a[j] = if x == DK {
        if uni(rng) < 0.5 { 1 } else { 2 }
    } else if x == 0 {
        1
    } else if x == 4 {
        3
    } else if uni(rng) < 0.5 {
        x - 1
    } else {
        x + 1
    };
}

fn csv_field(out: &mut String, s: &str) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

// ---------------------------------------------------------------------------------

/// Simulates one delivery. See the module documentation for the model.
pub fn delivery(communities: &[Community], p: &Params) -> Delivery {
    let mut rng = R::seed_from_u64(p.seed ^ 0x5157_2d32_6d61_6e79);
    let rng = &mut rng;
    let n = communities.len();
    let pc = p.per_community;
    let ipc = p.interviewers_per_community.max(1);

    let mut d0 = days_from_civil(p.start.0, p.start.1, p.start.2);
    let mut d1 = days_from_civil(p.end.0, p.end.1, p.end.2);
    if d1 < d0 {
        std::mem::swap(&mut d0, &mut d1);
    }
    let nd = (d1 - d0 + 1) as usize;

    // Communities.
    let comms: Vec<CommModel> = (0..n)
        .map(|_| {
            let level = 0.35 * normal(rng);
            let mut items = [0.0; 10];
            for x in items.iter_mut() {
                *x = 0.18 * normal(rng);
            }
            CommModel { level, items }
        })
        .collect();

    // Fabricators' plans: (kind, [(community, count)]).
    let fab_kinds: Vec<Kind> = p
        .fabricators
        .iter()
        .copied()
        .filter(|k| *k != Kind::Honest)
        .collect();
    let min_honest = if pc >= 2 {
        ((pc as f64 * 0.4).ceil() as usize).max(1)
    } else {
        0
    };
    let mut fab_in = vec![0usize; n];
    let mut plans: Vec<Vec<(usize, usize)>> = Vec::new();
    for _ in &fab_kinds {
        let mut plan = Vec::new();
        if n > 0 && pc > 0 {
            let k = if n == 1 {
                1
            } else {
                int_in(rng, 2, 4).min(n - 1)
            };
            let first = below(rng, n - k + 1);
            for c in first..first + k {
                let want = ((pc as f64) * range(rng, 0.25, 0.45)).round().max(1.0) as usize;
                let room = pc.saturating_sub(min_honest).saturating_sub(fab_in[c]);
                let take = want.min(room);
                if take > 0 {
                    fab_in[c] += take;
                    plan.push((c, take));
                }
            }
        }
        plans.push(plan);
    }

    // Honest pool, loads and assignment to communities.
    let h = if n == 0 {
        0
    } else {
        ipc.max(((n * ipc) as f64 / 2.0).round() as usize)
    };
    let slots = n * ipc;
    let mut load = vec![1usize; h];
    if h > 0 {
        let cap: Vec<f64> = (0..h).map(|_| lognormal(rng, 1.0, 0.6)).collect();
        let mut extra = slots.saturating_sub(h);
        while extra > 0 {
            let w: Vec<f64> = (0..h)
                .map(|i| if load[i] < n { cap[i] } else { 0.0 })
                .collect();
            if w.iter().all(|&x| x <= 0.0) {
                break;
            }
            let i = pick(rng, &w);
            load[i] += 1;
            extra -= 1;
        }
    }
    let mut order: Vec<usize> = (0..h).collect();
    shuffle(rng, &mut order);
    let mut tokens: Vec<usize> = Vec::new();
    for &i in &order {
        tokens.extend(std::iter::repeat_n(i, load[i]));
    }
    let mut serving: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut t = 0;
    for _k in 0..ipc {
        for c in 0..n {
            // Next token whose interviewer is not yet in c; else anyone not in c.
            let found = (t..tokens.len()).find(|&j| !serving[c].contains(&tokens[j]));
            let who = match found {
                Some(j) => {
                    tokens.swap(t, j);
                    t += 1;
                    tokens[t - 1]
                }
                None => match (0..h).find(|i| !serving[c].contains(i)) {
                    Some(i) => i,
                    None => continue,
                },
            };
            serving[c].push(who);
        }
    }

    // Workers: honest 0..h, then fabricators.
    let mut workers: Vec<Worker> = Vec::new();
    for _ in 0..h {
        let mut w = honest_like_worker(rng, Kind::Honest);
        (w.days, w.style) = work_pattern(rng, d0, nd, true);
        workers.push(w);
    }
    for &kind in &fab_kinds {
        let mut w = honest_like_worker(rng, kind);
        match kind {
            Kind::AllTop => {
                w.pace = range(rng, 75.0, 110.0);
                w.pace_sd = 0.25;
                let k = int_in(rng, 1, 2);
                w.days = active_days(rng, d0, nd, k, 0.0);
                if let Some(first) = w.days.first_mut() {
                    first.1 = 0.85;
                }
                for d in w.days.iter_mut().skip(1) {
                    d.1 = 0.15;
                }
            }
            Kind::Kinder => {
                // He invents the 不了解 too: no personal tolerance, only fewer.
                w.dk = 1.0;
                (w.days, w.style) = work_pattern(rng, d0, nd, false);
            }
            Kind::Copier => {
                w.pace = lognormal(rng, 540.0, 0.12);
                w.pace_sd = 0.035;
                let k = int_in(rng, 2, 3);
                w.days = active_days(rng, d0, nd, k, 0.3);
            }
            Kind::Honest => {}
        }
        workers.push(w);
    }

    let mut rows: Vec<Row> = Vec::new();

    // Honest questionnaires.
    for c in 0..n {
        let count = pc - fab_in[c].min(pc);
        let team = &serving[c];
        if count == 0 || team.is_empty() {
            continue;
        }
        let weights: Vec<f64> = team.iter().map(|_| lognormal(rng, 1.0, 0.4)).collect();
        let mut per = vec![0usize; team.len()];
        let mut left = count;
        if count >= team.len() {
            per.iter_mut().for_each(|x| *x = 1);
            left -= team.len();
        }
        for _ in 0..left {
            per[pick(rng, &weights)] += 1;
        }
        for (slot, &wi) in team.iter().enumerate() {
            if per[slot] == 0 {
                continue;
            }
            let visit_days = visit_days(rng, &workers[wi]);
            for _ in 0..per[slot] {
                let w = &workers[wi];
                let phone = uni(rng) < w.phone_share;
                let day = if phone {
                    day_from(rng, &w.days)
                } else {
                    day_from(rng, &visit_days)
                };
                let answers = respond(rng, &comms[c], w, phone, 0.0, 1.0);
                let duration = natural_duration(rng, w, phone, &answers);
                let key = rng.random::<u64>();
                rows.push(Row {
                    comm: c,
                    worker: wi,
                    day,
                    phone,
                    duration,
                    answers,
                    key,
                });
            }
        }
    }
    let honest_rows = rows.len();

    // Fabricated questionnaires.
    for (f, plan) in plans.iter().enumerate() {
        let wi = h + f;
        let kind = fab_kinds[f];
        for &(c, count) in plan {
            let visit_days: Vec<(i64, f64)> = if kind == Kind::Kinder {
                visit_days(rng, &workers[wi])
            } else {
                workers[wi].days.clone()
            };
            let pool: Vec<[u8; 10]> = if kind == Kind::Copier {
                let here: Vec<[u8; 10]> = rows[..honest_rows]
                    .iter()
                    .filter(|r| r.comm == c)
                    .map(|r| r.answers)
                    .collect();
                if !here.is_empty() {
                    here
                } else {
                    rows[..honest_rows].iter().map(|r| r.answers).collect()
                }
            } else {
                Vec::new()
            };
            for _ in 0..count {
                let w = &workers[wi];
                let phone = uni(rng) < w.phone_share;
                let (answers, day, duration) = match kind {
                    Kind::AllTop => {
                        let mut a = [0u8; 10];
                        if uni(rng) < 0.03 {
                            a[below(rng, 10)] = 1;
                        }
                        let d = lognormal(rng, w.pace, w.pace_sd).max(35.0).round() as u32;
                        (a, day_from(rng, &w.days), d)
                    }
                    Kind::Kinder => {
                        let a = respond(rng, &comms[c], w, phone, 0.95, 0.3);
                        let day = if phone {
                            day_from(rng, &w.days)
                        } else {
                            day_from(rng, &visit_days)
                        };
                        let d = natural_duration(rng, w, phone, &a);
                        (a, day, d)
                    }
                    _ => {
                        let mut a = if pool.is_empty() {
                            respond(rng, &comms[c], w, phone, 0.0, 1.0)
                        } else {
                            pool[below(rng, pool.len())]
                        };
                        let changes = if uni(rng) < 0.5 { 1 } else { 2 };
                        for j in pick_distinct(rng, &[1.0; 10], changes) {
                            perturb(rng, &mut a, j);
                        }
                        let d = lognormal(rng, w.pace, w.pace_sd).max(60.0).round() as u32;
                        (a, day_from(rng, &w.days), d)
                    }
                };
                let key = rng.random::<u64>();
                rows.push(Row {
                    comm: c,
                    worker: wi,
                    day,
                    phone,
                    duration,
                    answers,
                    key,
                });
            }
        }
    }

    // Interviewer ids: a random permutation of 1..=W.
    let total = workers.len();
    let width = 3.max(total.to_string().len());
    let mut nums: Vec<usize> = (1..=total).collect();
    shuffle(rng, &mut nums);
    let ids: Vec<String> = nums.iter().map(|k| format!("I{k:0width$}")).collect();

    rows.sort_by(|a, b| (a.comm, a.day, a.key).cmp(&(b.comm, b.day, b.key)));

    let mut csv = String::with_capacity(HEADER.len() + 1 + rows.len() * 160);
    csv.push_str(HEADER);
    csv.push('\n');
    let mut seen = vec![false; total];
    for (k, r) in rows.iter().enumerate() {
        seen[r.worker] = true;
        let comm = &communities[r.comm];
        let (y, m, d) = civil_from_days(r.day);
        csv.push_str(&format!("R{:06},", k + 1));
        csv_field(&mut csv, &comm.code);
        csv.push(',');
        csv_field(&mut csv, &comm.name);
        csv.push(',');
        csv_field(&mut csv, &p.round);
        csv.push_str(&format!(
            ",{y:04}-{m:02}-{d:02},{},{},{}",
            ids[r.worker], MODES[r.phone as usize], r.duration
        ));
        for &a in &r.answers {
            csv.push(',');
            csv.push_str(LABELS[a as usize]);
        }
        csv.push('\n');
    }

    let mut interviewers: Vec<(String, Kind)> = (0..total)
        .filter(|&i| seen[i])
        .map(|i| (ids[i].clone(), workers[i].kind))
        .collect();
    interviewers.sort();
    Delivery { csv, interviewers }
}
