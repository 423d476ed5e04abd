//! sim3: an independent simulator of one survey firm's delivery for one round of a
//! district's resident-satisfaction survey (社区满意度调查), with honest interviewers and,
//! optionally, fabricating ones. The ground truth (who is what) is returned beside the CSV,
//! never in it.
//!
//! Written from a verbal description only (a held-out benchmark for the fabrication
//! detector): nothing here is taken from the detector or from the other simulators.
//!
//! # Output
//!
//! `delivery` returns a UTF-8 CSV with LF line ends, the header [`HEADER`], and exactly
//! `per_community` rows per community (honest and fabricated together), plus the list of
//! every interviewer id that occurs in the CSV (sorted by id) with its [`Kind`].
//!
//! * `respondent_id`: `R` + 6 digits, consecutive in row order from a random base.
//! * `community_code`, `community_name`: as given; `round`: `Params::round` as is.
//! * `interview_date`: `YYYY-MM-DD`, within `[start, end]` (both inclusive).
//! * `interviewer_id`: `I` + 3 digits (more digits only past ~300 interviewers), distinct
//!   numbers drawn at random from 100..=999 and dealt to the interviewers in a shuffled
//!   order, so a fabricator's id says nothing about its kind (not the last, not a block).
//! * `mode`: 入户 or 电话; `duration_s`: whole seconds; q1..q10: labels of [`LABELS`]
//!   (code 0 非常满意 … 4 非常不满意, 5 不了解).
//! * Row order: by community (the order of the slice), then by interview date, ties in a
//!   random order; so a fabricator's rows are interleaved with honest ones by date.
//!
//! Deterministic: all randomness comes from ChaCha8Rng streams seeded from
//! `(seed, purpose, index)` (32-byte seeds, no collisions), and no hash-map order is
//! used. Separate streams mean that the communities' characteristics and the honest
//! interviewers' assignment and styles do not change when fabricators are added (their
//! honest row counts and therefore their rows do change in the communities a fabricator
//! works in). `Kind::Honest` entries in `fabricators` are dropped first, so they change
//! nothing at all (byte-identical CSV).
//!
//! # The questionnaire
//!
//! | item | topic            | latent mean | base 不了解 | cluster     |
//! |------|------------------|-------------|-------------|-------------|
//! | q1   | 社会治安 security | +0.35       | 1 %         | governance  |
//! | q2   | 环境卫生 sanitation | +0.15     | 1 %         | environment |
//! | q3   | 道路交通 roads/traffic | 0.00   | 1.5 %       | environment |
//! | q4   | 停车管理 parking  | −0.45       | 5 %         | environment |
//! | q5   | 绿化美化 greenery | +0.20       | 1.5 %       | environment |
//! | q6   | 养老服务 elderly services | +0.05 | 10 %    | services    |
//! | q7   | 便民服务 service centre | +0.25 | 6 %        | services    |
//! | q8   | 物业管理 property management | −0.20 | 4 % (odds ×3 in old compounds) | governance |
//! | q9   | 文体活动 culture & sport | +0.10 | 9 %       | services    |
//! | q10  | 诉求处理 complaint handling | −0.15 | 13 %   | services    |
//!
//! # Honest answers: an ordered-probit (latent satisfaction) model
//!
//! For respondent r of community c interviewed by interviewer i, item j:
//!
//! `y = mu_j + C_c + C_cj + B_i + B_ij + G_r + K_r,cluster(j) + e_rj (+0.10 by phone)`
//!
//! and the label is cut from `y` at 0.52 / −0.52 / −1.25 / −2.0 (非常满意 above 0.52,
//! 满意, 基本满意, 不满意, 非常不满意 below −2.0). Over a delivery this gives about 32 %
//! 非常满意, 29 % 满意, 16 % 基本满意, 9 % 不满意, 4–5 % 非常不满意 and 8 % 不了解 of all
//! answers, a typical shape for Chinese government satisfaction surveys.
//!
//! * Community `C_c ~ N(0, 0.30²)`, community × item `C_cj ~ N(0, 0.15²)`; each community
//!   has 0/1/2 local problems (prob. 0.3/0.5/0.2) on items drawn with weights favouring
//!   parking, property management, sanitation, roads (shift −0.5…−1.1), with prob. 0.3
//!   one local strength (+0.3…+0.6); 30 % are old compounds (property management −0.3
//!   and its 不了解 odds ×3: many have no property company).
//! * Interviewer `B_i ~ N(0, 0.26²)` and `B_ij ~ N(0, 0.08²)`: intra-interviewer
//!   correlation ≈ 0.06 on the latent scale of one item (total latent variance ≈ 1.1),
//!   within the 0.01–0.10 usually reported for attitude items in face-to-face surveys.
//!   Since each community has only a few interviewers, an interviewer ICC estimated
//!   after removing community means is lower and noisy (≈ 0.01–0.08 on the row mean).
//! * Respondent types: ordinary 78 % (`G ~ N(0, 0.6²)`, clusters `K ~ N(0, 0.35²)`,
//!   residual `e ~ N(0, 0.65²)`; with the type mixture below, label codes of two
//!   items correlate ≈ 0.45–0.7, mean ≈ 0.55, α ≈ 0.9); very satisfied
//!   10 % (`G = 1.7 + N(0, 0.3²)`, small residual 0.35: near straight-lining on
//!   非常满意); critical 8 % (`G = −1.2 + N(0, 0.45²)`, residual 0.75); acquiescent
//!   straight-liners 4 % (one modal label, usually 满意, for each item with prob. 0.85,
//!   the ordinary model otherwise).
//! * 不了解: `logit p = logit(base_j) + D_i + D_r (+0.25 by phone)`, interviewer tolerance
//!   `D_i ~ N(0, 0.65²)` (probing interviewers vs. ones who accept "don't know"),
//!   respondent `D_r ~ N(0, 0.7²)` with 10 % uninformed respondents +1.6 (very satisfied
//!   −0.8, critical −0.5). Overall ≈ 8 % of answers, per interviewer ≈ 2–20 %.
//!
//! # Honest interviewers
//!
//! * Assignment: each community is served by exactly `interviewers_per_community` honest
//!   interviewers (at least 1). Interviewers are created one by one; each wants 1/2/3/4
//!   communities (prob. 0.4/0.3/0.2/0.1) and takes neighbouring communities (in slice
//!   order, same street) that still need an interviewer.
//! * Workload: productivity ~ lognormal(σ 0.45); an interviewer's weight in a community is
//!   productivity / m^0.6 (m = its number of communities) × lognormal(σ 0.3). The honest
//!   rows of a community are apportioned by these weights, each interviewer at least one.
//! * Mode: 60 % of interviewers only visit homes, 30 % phone 5–40 % of their respondents,
//!   10 % phone 60–95 %.
//! * Schedule: burst 35 % (2–4 days, more when needed to stay below ~14 a day, within a
//!   short stretch), spread 45 % (each day with prob. 0.3–0.6, weekends ×1.4), weekend
//!   workers 20 % (Saturdays and Sundays with prob. 0.85, weekdays 0.1). Interviews are
//!   dealt to the work days with random day weights (lognormal σ 0.5), communities
//!   visited in a random order, so a day mostly covers one community.
//! * Durations: the interviewer's median home interview ~ lognormal(560 s, σ 0.22),
//!   clamped to 330–1000 s (≈ 5.5–16 min); own variability σ_i ~ U(0.15, 0.32); phone
//!   ×0.72; respondent type (very satisfied ×0.85, critical ×1.25, straight-liner ×0.8);
//!   −2 % per 不了解; learning: ×1.08 at the first interview down to ×0.95 at the last;
//!   interrupted/talkative ×U(1.7, 3.5) with the interviewer's prob. U(1 %, 5 %), rushed
//!   ×U(0.45, 0.65) with prob. U(0, 2 %); at least 90 s (home) / 60 s (phone).
//!
//! # Fabricators
//!
//! Each non-honest entry of `Params::fabricators` is one extra interviewer. It works in
//! 2/3/4 neighbouring communities (prob. 0.4/0.35/0.25; 1 when there is one community),
//! in each taking about its own share U(15 %, 30 %) of `per_community` (× lognormal
//! σ 0.2, at least 1), i.e. an ordinary interviewer's workload, beside the honest
//! interviewers; at least max(1, ⌈0.4 · per_community⌉) rows of every community stay
//! honest (later fabricators get less when a community is full; a fabricator with no room
//! anywhere gets no rows and is then absent from the CSV and from `interviewers`). All its
//! rows are fabricated.
//!
//! * `AllTop`: each item 非常满意 with the fabricator's prob. U(0.90, 0.98), else 满意
//!   (85 %) or 基本满意; 不了解 0.3 %. Very fast: median U(150, 240) s, σ U(0.10, 0.18),
//!   phone ×0.8, at least 60 s, no interruptions. Mode like an honest interviewer's.
//!   Dates: desk work before the deadline, max(2–4, ⌈n/12⌉) days in the last 40 % of the
//!   fieldwork window.
//! * `Kinder`: the honest model of the same community (its real community effects and
//!   local problems) with the latent satisfaction shifted +0.9 (a label is ~0.65–1.0
//!   latent units wide; its mean code is ≈ 0.75 lower than the honest rows of its
//!   communities, 0.3–1.3 across seeds as both sides' interviewer effects add), a mild
//!   own interviewer effect N(0, 0.12²), fewer critical imagined respondents (3 %, very
//!   satisfied 12 %, straight-liners 5 %), slightly fewer 不了解 (tolerance −0.4 +
//!   N(0, 0.4²)). Pace, variability, interruptions, mode and work schedule are drawn
//!   exactly like an honest interviewer's.
//! * `Copier`: each row copies a real honest questionnaire of this delivery in the same
//!   community (sources drawn without replacement, cycling when exhausted) and changes 1
//!   (65 %) or 2 (35 %) items: a 不了解 becomes 满意 or 基本满意, another label moves one
//!   step (0 ↔ 1, 4 → 3, else ±1). Very steady pace: median U(420, 560) s, σ U(0.03,
//!   0.06), no interruptions, no learning; claims home visits only. Dates: 2–4 (or
//!   ⌈n/16⌉) near-consecutive days in the last 60 % of the window (it needs honest
//!   questionnaires to copy first).
#![allow(dead_code, clippy::too_many_arguments, clippy::needless_range_loop)]

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub const HEADER: &str = "respondent_id,community_code,community_name,round,interview_date,interviewer_id,mode,duration_s,q1,q2,q3,q4,q5,q6,q7,q8,q9,q10";
pub const LABELS: [&str; 6] = [
    "非常满意",
    "满意",
    "基本满意",
    "不满意",
    "非常不满意",
    "不了解",
];
pub const MODES: [&str; 2] = ["入户", "电话"];

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
    pub round: String,
    pub start: (i32, u32, u32),
    pub end: (i32, u32, u32),
    pub per_community: usize,
    pub interviewers_per_community: usize,
    pub fabricators: Vec<Kind>,
}

impl Params {
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
    pub interviewers: Vec<(String, Kind)>,
}

impl Delivery {
    pub fn ids_of(&self, kind: Kind) -> Vec<String> {
        self.interviewers
            .iter()
            .filter(|(_, k)| *k == kind)
            .map(|(id, _)| id.clone())
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// Synthetic communities
// ---------------------------------------------------------------------------------------

const NAME_STEMS: [&str; 40] = [
    "金碧",
    "翠湖",
    "春城",
    "龙泉",
    "青云",
    "华山",
    "桃源",
    "东风",
    "西坝",
    "南屏",
    "北门",
    "银河",
    "明珠",
    "锦华",
    "彩云",
    "滇池",
    "文林",
    "丰宁",
    "莲花",
    "圆通",
    "正义",
    "螺峰",
    "大观",
    "篆塘",
    "白塔",
    "拓东",
    "小菜园",
    "双龙",
    "大树营",
    "金马",
    "园山",
    "佴家湾",
    "鸣凤",
    "新迎",
    "江岸",
    "书林",
    "永昌",
    "季宜",
    "西园",
    "和平",
];
const NAME_VARIANTS: [&str; 9] = ["", "东", "西", "南", "北", "新村", "中", "花园", "第二"];

/// `n` synthetic communities of one district (行政区划 530103): streets of 4–8
/// communities, codes `530103` + 3-digit street + 3-digit community, unique names
/// ending 社区居委会. Deterministic (no seed).
pub fn example_communities(n: usize) -> Vec<Community> {
    const STREET_SIZES: [usize; 6] = [5, 7, 4, 6, 8, 5];
    let mut out = Vec::with_capacity(n);
    let (mut street, mut in_street, mut size_ix) = (1usize, 0usize, 0usize);
    for i in 0..n {
        if in_street == STREET_SIZES[size_ix % STREET_SIZES.len()] {
            street += 1;
            in_street = 0;
            size_ix += 1;
        }
        in_street += 1;
        let code = format!("530103{:03}{:03}", street, in_street);
        let stem = NAME_STEMS[i % NAME_STEMS.len()];
        let round = i / NAME_STEMS.len();
        let variant = if round < NAME_VARIANTS.len() {
            NAME_VARIANTS[round].to_string()
        } else {
            format!("第{}", round + 1)
        };
        out.push(Community::new(&code, &format!("{stem}{variant}社区居委会")));
    }
    out
}

// ---------------------------------------------------------------------------------------
// Random helpers (own implementations: only rand + rand_chacha)
// ---------------------------------------------------------------------------------------

fn stream(seed: u64, purpose: u64, index: u64) -> ChaCha8Rng {
    let mut s = [0u8; 32];
    s[0..8].copy_from_slice(&seed.to_le_bytes());
    s[8..16].copy_from_slice(&purpose.to_le_bytes());
    s[16..24].copy_from_slice(&index.to_le_bytes());
    s[24..32].copy_from_slice(b"sim3-v1\0");
    ChaCha8Rng::from_seed(s)
}

const S_COMMUNITY: u64 = 1;
const S_HONEST_POOL: u64 = 2;
const S_FAB_PLAN: u64 = 3;
const S_ALLOCATE: u64 = 4;
const S_FAB_ROWS: u64 = 5;
const S_IDS: u64 = 6;
const S_HONEST_ROWS: u64 = 7;

fn unif(rng: &mut ChaCha8Rng, a: f64, b: f64) -> f64 {
    a + (b - a) * rng.random::<f64>()
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1 = 1.0 - rng.random::<f64>(); // (0, 1]
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    rng.random::<f64>() < p
}

fn weighted(rng: &mut ChaCha8Rng, w: &[f64]) -> usize {
    let total: f64 = w.iter().sum();
    let mut x = rng.random::<f64>() * total;
    for (i, &wi) in w.iter().enumerate() {
        if x < wi {
            return i;
        }
        x -= wi;
    }
    w.len() - 1
}

fn shuffle<T>(rng: &mut ChaCha8Rng, v: &mut [T]) {
    for i in (1..v.len()).rev() {
        let j = rng.random_range(0..=i);
        v.swap(i, j);
    }
}

fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Largest-remainder apportionment of `total` by `w` (ties by index: deterministic).
fn apportion(total: usize, w: &[f64]) -> Vec<usize> {
    if w.is_empty() {
        return Vec::new();
    }
    let s: f64 = w.iter().sum();
    let q: Vec<f64> = w.iter().map(|x| total as f64 * x / s).collect();
    let mut out: Vec<usize> = q.iter().map(|x| x.floor() as usize).collect();
    let mut rest = total - out.iter().sum::<usize>();
    let mut order: Vec<usize> = (0..w.len()).collect();
    order.sort_by(|&a, &b| {
        let fa = q[a] - q[a].floor();
        let fb = q[b] - q[b].floor();
        fb.partial_cmp(&fa).unwrap().then(a.cmp(&b))
    });
    for &i in order.iter().cycle() {
        if rest == 0 {
            break;
        }
        out[i] += 1;
        rest -= 1;
    }
    out
}

/// `k` distinct days in `[lo, hi]`, sorted.
fn distinct_days(rng: &mut ChaCha8Rng, lo: i64, hi: i64, k: usize) -> Vec<i64> {
    let mut all: Vec<i64> = (lo..=hi).collect();
    let k = k.min(all.len());
    for i in 0..k {
        let j = rng.random_range(i..all.len());
        all.swap(i, j);
    }
    let mut out = all[..k].to_vec();
    out.sort();
    out
}

// ---------------------------------------------------------------------------------------
// Calendar (proleptic Gregorian, days since 1970-01-01)
// ---------------------------------------------------------------------------------------

fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y as i64 - 1 } else { y as i64 };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let (m, d) = (m as i64, d as i64);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    ((if m <= 2 { y + 1 } else { y }) as i32, m as u32, d as u32)
}

fn is_weekend(day: i64) -> bool {
    let wd = (day + 4).rem_euclid(7); // 0 = Sunday (1970-01-01 was a Thursday)
    wd == 0 || wd == 6
}

fn checked_day(date: (i32, u32, u32), what: &str) -> i64 {
    let d = days_from_civil(date.0, date.1, date.2);
    assert!(
        civil_from_days(d) == date,
        "sim3: invalid {what} date {date:?}"
    );
    d
}

// ---------------------------------------------------------------------------------------
// The answer model
// ---------------------------------------------------------------------------------------

const MU: [f64; 10] = [0.35, 0.15, 0.0, -0.45, 0.2, 0.05, 0.25, -0.2, 0.1, -0.15];
const BASE_DK: [f64; 10] = [0.01, 0.01, 0.015, 0.05, 0.015, 0.10, 0.06, 0.04, 0.09, 0.13];
/// 0 environment, 1 services, 2 governance.
const CLUSTER: [usize; 10] = [2, 0, 0, 0, 0, 1, 1, 2, 1, 1];
const PROBLEM_WEIGHTS: [f64; 10] = [0.6, 1.2, 1.0, 1.6, 0.6, 0.8, 0.4, 1.4, 0.4, 0.8];
const PROPERTY: usize = 7;
const DK: u8 = 5;

fn cut(y: f64) -> u8 {
    if y > 0.52 {
        0
    } else if y > -0.52 {
        1
    } else if y > -1.25 {
        2
    } else if y > -2.0 {
        3
    } else {
        4
    }
}

struct CommunityModel {
    general: f64,
    item: [f64; 10],
    old: bool,
}

fn community_model(seed: u64, index: usize) -> CommunityModel {
    let rng = &mut stream(seed, S_COMMUNITY, index as u64);
    let general = 0.30 * normal(rng);
    let mut item = [0.0; 10];
    for x in item.iter_mut() {
        *x = 0.15 * normal(rng);
    }
    let old = chance(rng, 0.3);
    let problems = weighted(rng, &[0.3, 0.5, 0.2]);
    for _ in 0..problems {
        let j = weighted(rng, &PROBLEM_WEIGHTS);
        item[j] -= unif(rng, 0.5, 1.1);
    }
    if chance(rng, 0.3) {
        let j = rng.random_range(0..10);
        item[j] += unif(rng, 0.3, 0.6);
    }
    if old {
        item[PROPERTY] -= 0.3;
    }
    CommunityModel { general, item, old }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RType {
    Ordinary,
    Enthusiast,
    Critical,
    StraightLiner,
}

const HONEST_TYPES: [f64; 4] = [0.78, 0.10, 0.08, 0.04];
const KINDER_TYPES: [f64; 4] = [0.80, 0.12, 0.03, 0.05];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sched {
    Burst,
    Spread,
    Weekend,
}

/// What an interviewer brings to its questionnaires (honest or honest-like).
#[derive(Clone)]
struct Style {
    b: f64,
    b_item: [f64; 10],
    dk: f64,
    pace: f64,
    sigma: f64,
    p_long: f64,
    p_short: f64,
    phone_share: f64,
    sched: Sched,
}

fn phone_share(rng: &mut ChaCha8Rng) -> f64 {
    match weighted(rng, &[0.6, 0.3, 0.1]) {
        0 => 0.0,
        1 => unif(rng, 0.05, 0.40),
        _ => unif(rng, 0.60, 0.95),
    }
}

fn honest_style(rng: &mut ChaCha8Rng) -> Style {
    let b = 0.26 * normal(rng);
    let mut b_item = [0.0; 10];
    for x in b_item.iter_mut() {
        *x = 0.08 * normal(rng);
    }
    let dk = 0.65 * normal(rng);
    let pace = (560f64.ln() + 0.22 * normal(rng))
        .exp()
        .clamp(330.0, 1000.0);
    let sigma = unif(rng, 0.15, 0.32);
    let p_long = unif(rng, 0.01, 0.05);
    let p_short = unif(rng, 0.0, 0.02);
    let phone_share = phone_share(rng);
    let sched = match weighted(rng, &[0.35, 0.45, 0.20]) {
        0 => Sched::Burst,
        1 => Sched::Spread,
        _ => Sched::Weekend,
    };
    Style {
        b,
        b_item,
        dk,
        pace,
        sigma,
        p_long,
        p_short,
        phone_share,
        sched,
    }
}

/// One respondent's answers under the latent model; `shift` moves satisfaction up (a
/// kinder fabricator's imagination), `types` are the respondent-type probabilities.
fn respondent(
    rng: &mut ChaCha8Rng,
    cm: &CommunityModel,
    st: &Style,
    phone: bool,
    shift: f64,
    types: &[f64; 4],
) -> ([u8; 10], RType) {
    let rtype = match weighted(rng, types) {
        0 => RType::Ordinary,
        1 => RType::Enthusiast,
        2 => RType::Critical,
        _ => RType::StraightLiner,
    };
    let (g, cl_sd, resid) = match rtype {
        RType::Ordinary | RType::StraightLiner => (0.6 * normal(rng), 0.35, 0.65),
        RType::Enthusiast => (1.7 + 0.3 * normal(rng), 0.15, 0.35),
        RType::Critical => (-1.2 + 0.45 * normal(rng), 0.40, 0.75),
    };
    let clusters = [
        cl_sd * normal(rng),
        cl_sd * normal(rng),
        cl_sd * normal(rng),
    ];
    let resp_dk = match rtype {
        RType::Ordinary | RType::StraightLiner => {
            0.7 * normal(rng) + if chance(rng, 0.10) { 1.6 } else { 0.0 }
        }
        RType::Enthusiast => -0.8 + 0.5 * normal(rng),
        RType::Critical => -0.5 + 0.5 * normal(rng),
    };
    let mode_shift = if phone { 0.10 } else { 0.0 };
    let modal = cut(0.1 + cm.general + st.b + g + shift + mode_shift).min(2);
    let mut ans = [0u8; 10];
    for j in 0..10 {
        let mut base = logit(BASE_DK[j]);
        if j == PROPERTY && cm.old {
            base += 3f64.ln();
        }
        let p_dk = logistic(base + st.dk + resp_dk + if phone { 0.25 } else { 0.0 });
        if chance(rng, p_dk) {
            ans[j] = DK;
            continue;
        }
        let y = MU[j]
            + cm.general
            + cm.item[j]
            + st.b
            + st.b_item[j]
            + g
            + clusters[CLUSTER[j]]
            + resid * normal(rng)
            + shift
            + mode_shift;
        ans[j] = if rtype == RType::StraightLiner && chance(rng, 0.85) {
            modal
        } else {
            cut(y)
        };
    }
    (ans, rtype)
}

fn honest_duration(
    rng: &mut ChaCha8Rng,
    st: &Style,
    phone: bool,
    rtype: RType,
    n_dk: usize,
    progress: f64,
) -> u32 {
    let mut d = st.pace * if phone { 0.72 } else { 1.0 };
    d *= match rtype {
        RType::Ordinary => 1.0,
        RType::Enthusiast => 0.85,
        RType::Critical => 1.25,
        RType::StraightLiner => 0.8,
    };
    d *= 1.0 - 0.02 * n_dk as f64;
    d *= 1.08 - 0.13 * progress;
    d *= (st.sigma * normal(rng)).exp();
    if chance(rng, st.p_long) {
        d *= unif(rng, 1.7, 3.5);
    } else if chance(rng, st.p_short) {
        d *= unif(rng, 0.45, 0.65);
    }
    let floor = if phone { 60.0 } else { 90.0 };
    d.round().max(floor) as u32
}

// ---------------------------------------------------------------------------------------
// Schedules
// ---------------------------------------------------------------------------------------

fn work_days(rng: &mut ChaCha8Rng, sched: Sched, lo: i64, hi: i64, n: usize) -> Vec<i64> {
    let span = (hi - lo + 1) as usize;
    let needed = n.div_ceil(12).max(2).min(span);
    let mut days: Vec<i64> = match sched {
        Sched::Burst => {
            let k = rng.random_range(2..=4usize).max(n.div_ceil(14)).min(span);
            let len = (k + rng.random_range(0..=4usize)).min(span);
            let s = lo + rng.random_range(0..=(span - len)) as i64;
            distinct_days(rng, s, s + len as i64 - 1, k)
        }
        Sched::Spread => {
            let p = unif(rng, 0.3, 0.6);
            (lo..=hi)
                .filter(|&d| chance(rng, (p * if is_weekend(d) { 1.4 } else { 1.0 }).min(0.95)))
                .collect()
        }
        Sched::Weekend => (lo..=hi)
            .filter(|&d| chance(rng, if is_weekend(d) { 0.85 } else { 0.1 }))
            .collect(),
    };
    if sched != Sched::Burst {
        while days.len() < needed {
            let d = lo + rng.random_range(0..span) as i64;
            if !days.contains(&d) {
                days.push(d);
            }
        }
        days.sort();
    }
    days
}

/// Fabricator's claimed days: `k` days in the last `frac` of the window; `clustered`
/// keeps them within a short stretch.
fn desk_days(
    rng: &mut ChaCha8Rng,
    lo: i64,
    hi: i64,
    k: usize,
    frac: f64,
    clustered: bool,
) -> Vec<i64> {
    let span = hi - lo + 1;
    let k = k.min(span as usize).max(1);
    let mut wlo = hi - ((span as f64 * frac).ceil() as i64 - 1).max(0);
    wlo = wlo.min(hi - k as i64 + 1).max(lo);
    if clustered {
        let len = (k as i64 + rng.random_range(0..=2i64)).min(hi - wlo + 1);
        let s = wlo + rng.random_range(0..=(hi - wlo + 1 - len));
        distinct_days(rng, s, s + len - 1, k)
    } else {
        distinct_days(rng, wlo, hi, k)
    }
}

/// Deals the interviews (communities in visit order) to the days, chronologically.
fn fill_days(rng: &mut ChaCha8Rng, days: &[i64], visits: &[usize]) -> Vec<(usize, i64)> {
    let w: Vec<f64> = days.iter().map(|_| (0.5 * normal(rng)).exp()).collect();
    let per_day = apportion(visits.len(), &w);
    let mut out = Vec::with_capacity(visits.len());
    let mut it = visits.iter();
    for (d, &k) in days.iter().zip(&per_day) {
        for _ in 0..k {
            out.push((*it.next().unwrap(), *d));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Interviewers and rows
// ---------------------------------------------------------------------------------------

struct Worker {
    kind: Kind,
    style: Style,
    prod: f64,
    comms: Vec<usize>,
    counts: Vec<usize>,
    /// AllTop: prob. of 非常满意 per item; Copier: nothing.
    p_top: f64,
}

impl Worker {
    fn total(&self) -> usize {
        self.counts.iter().sum()
    }
    fn visits(&self, rng: &mut ChaCha8Rng) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.comms.len()).collect();
        shuffle(rng, &mut order);
        let mut v = Vec::with_capacity(self.total());
        for i in order {
            v.extend(std::iter::repeat_n(self.comms[i], self.counts[i]));
        }
        v
    }
}

struct Row {
    comm: usize,
    day: i64,
    worker: usize,
    phone: bool,
    dur: u32,
    ans: [u8; 10],
}

fn honest_pool(seed: u64, n: usize, ipc: usize) -> Vec<Worker> {
    let rng = &mut stream(seed, S_HONEST_POOL, 0);
    let mut open = vec![ipc; n];
    let mut pool = Vec::new();
    while let Some(start) = open.iter().position(|&o| o > 0) {
        let m = 1 + weighted(rng, &[0.4, 0.3, 0.2, 0.1]);
        let mut comms = Vec::new();
        let mut k = start;
        while comms.len() < m && k < n && k <= start + m + 3 {
            if open[k] > 0 {
                comms.push(k);
                open[k] -= 1;
            }
            k += 1;
        }
        let style = honest_style(rng);
        let prod = (0.45 * normal(rng)).exp();
        let counts = vec![0; comms.len()];
        pool.push(Worker {
            kind: Kind::Honest,
            style,
            prod,
            comms,
            counts,
            p_top: 0.0,
        });
    }
    pool
}

fn fabricator_plan(seed: u64, kinds: &[Kind], n: usize, pc: usize) -> (Vec<Worker>, Vec<usize>) {
    let honest_min = ((pc as f64 * 0.4).ceil() as usize).max(1);
    let mut used = vec![0usize; n];
    let mut out = Vec::new();
    for (f, &kind) in kinds.iter().enumerate() {
        let rng = &mut stream(seed, S_FAB_PLAN, f as u64);
        let m = if n <= 1 {
            1
        } else {
            (2 + weighted(rng, &[0.4, 0.35, 0.25])).min(n)
        };
        let s0 = rng.random_range(0..=(n - m));
        let share = unif(rng, 0.15, 0.30);
        let (mut comms, mut counts) = (Vec::new(), Vec::new());
        for c in s0..s0 + m {
            let want = ((pc as f64 * share * (0.2 * normal(rng)).exp()).round() as usize).max(1);
            let cap = pc.saturating_sub(honest_min + used[c]);
            let take = want.min(cap);
            if take > 0 {
                comms.push(c);
                counts.push(take);
                used[c] += take;
            }
        }
        if comms.is_empty()
            && let Some(c) = (0..n)
                .map(|i| (s0 + i) % n)
                .find(|&c| pc > honest_min + used[c])
        {
            comms.push(c);
            counts.push(1);
            used[c] += 1;
        }
        let mut style = honest_style(rng);
        let mut p_top = 0.0;
        match kind {
            Kind::AllTop => {
                p_top = unif(rng, 0.90, 0.98);
                style.pace = unif(rng, 150.0, 240.0);
                style.sigma = unif(rng, 0.10, 0.18);
            }
            Kind::Kinder => {
                style.b = 0.12 * normal(rng);
                style.dk = -0.4 + 0.4 * normal(rng);
            }
            Kind::Copier => {
                style.pace = unif(rng, 420.0, 560.0);
                style.sigma = unif(rng, 0.03, 0.06);
                style.phone_share = 0.0;
            }
            Kind::Honest => unreachable!(),
        }
        out.push(Worker {
            kind,
            style,
            prod: 1.0,
            comms,
            counts,
            p_top,
        });
    }
    (out, used)
}

/// Honest rows of one community apportioned to its interviewers (each at least one when
/// there are enough rows).
fn allocate(rng: &mut ChaCha8Rng, total: usize, w: &[f64]) -> Vec<usize> {
    let k = w.len();
    if total >= k {
        let mut v = apportion(total - k, w);
        v.iter_mut().for_each(|x| *x += 1);
        v
    } else {
        let mut v = vec![0; k];
        let mut ww = w.to_vec();
        for _ in 0..total {
            let i = weighted(rng, &ww);
            v[i] = 1;
            ww[i] = 0.0;
        }
        v
    }
}

fn fabricated_rows(
    seed: u64,
    f: usize,
    worker_ix: usize,
    w: &Worker,
    cms: &[CommunityModel],
    rows: &[Row],
    honest_by_comm: &[Vec<usize>],
    lo: i64,
    hi: i64,
) -> Vec<Row> {
    let rng = &mut stream(seed, S_FAB_ROWS, f as u64);
    let n = w.total();
    if n == 0 {
        return Vec::new();
    }
    let days = match w.kind {
        Kind::AllTop => {
            let k = rng.random_range(2..=4usize).max(n.div_ceil(12));
            desk_days(rng, lo, hi, k, 0.4, false)
        }
        Kind::Copier => {
            let k = rng.random_range(2..=4usize).max(n.div_ceil(16));
            desk_days(rng, lo, hi, k, 0.6, true)
        }
        _ => work_days(rng, w.style.sched, lo, hi, n),
    };
    let visits = w.visits(rng);
    let slots = fill_days(rng, &days, &visits);
    // Copier: a shuffled deck of honest sources per community.
    let mut decks: Vec<(usize, Vec<usize>, usize)> = Vec::new();
    if w.kind == Kind::Copier {
        for &c in &w.comms {
            let mut deck = honest_by_comm[c].clone();
            shuffle(rng, &mut deck);
            decks.push((c, deck, 0));
        }
    }
    let mut out = Vec::with_capacity(n);
    for (k, (c, day)) in slots.into_iter().enumerate() {
        let phone = chance(rng, w.style.phone_share);
        let (ans, dur) = match w.kind {
            Kind::AllTop => {
                let mut ans = [0u8; 10];
                for a in ans.iter_mut() {
                    *a = if chance(rng, 0.003) {
                        DK
                    } else if chance(rng, w.p_top) {
                        0
                    } else if chance(rng, 0.85) {
                        1
                    } else {
                        2
                    };
                }
                let d = w.style.pace
                    * if phone { 0.8 } else { 1.0 }
                    * (w.style.sigma * normal(rng)).exp();
                (ans, d.round().max(60.0) as u32)
            }
            Kind::Kinder => {
                let (ans, rtype) = respondent(rng, &cms[c], &w.style, phone, 0.9, &KINDER_TYPES);
                let n_dk = ans.iter().filter(|&&a| a == DK).count();
                let progress = if n > 1 {
                    k as f64 / (n - 1) as f64
                } else {
                    0.5
                };
                (
                    ans,
                    honest_duration(rng, &w.style, phone, rtype, n_dk, progress),
                )
            }
            Kind::Copier => {
                let deck = decks.iter_mut().find(|d| d.0 == c).unwrap();
                let src = deck.1[deck.2 % deck.1.len()];
                deck.2 += 1;
                let mut ans = rows[src].ans;
                let n_change = if chance(rng, 0.65) { 1 } else { 2 };
                let mut items: Vec<usize> = (0..10).collect();
                shuffle(rng, &mut items);
                for &j in &items[..n_change] {
                    ans[j] = match ans[j] {
                        DK => 1 + rng.random_range(0..2u8),
                        0 => 1,
                        4 => 3,
                        a => {
                            if chance(rng, 0.5) {
                                a - 1
                            } else {
                                a + 1
                            }
                        }
                    };
                }
                let d = w.style.pace
                    * if phone { 0.72 } else { 1.0 }
                    * (w.style.sigma * normal(rng)).exp();
                (ans, d.round().max(60.0) as u32)
            }
            Kind::Honest => unreachable!(),
        };
        out.push(Row {
            comm: c,
            day,
            worker: worker_ix,
            phone,
            dur,
            ans,
        });
    }
    out
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

/// One firm's delivery for one round (see the module documentation for the model).
pub fn delivery(communities: &[Community], p: &Params) -> Delivery {
    let lo = checked_day(p.start, "start");
    let hi = checked_day(p.end, "end");
    assert!(lo <= hi, "sim3: start after end");
    let n = communities.len();
    let pc = p.per_community;
    let seed = p.seed;
    let cms: Vec<CommunityModel> = (0..n).map(|i| community_model(seed, i)).collect();

    let mut workers = honest_pool(seed, n, p.interviewers_per_community.max(1));
    let n_honest = workers.len();
    let kinds: Vec<Kind> = p
        .fabricators
        .iter()
        .copied()
        .filter(|&k| k != Kind::Honest)
        .collect();
    let (fabs, fab_used) = fabricator_plan(seed, &kinds, n, pc);

    // Honest rows per community, apportioned to its honest interviewers.
    for c in 0..n {
        let rng = &mut stream(seed, S_ALLOCATE, c as u64);
        let members: Vec<(usize, usize)> = workers
            .iter()
            .enumerate()
            .filter_map(|(wi, w)| w.comms.iter().position(|&x| x == c).map(|pos| (wi, pos)))
            .collect();
        let weights: Vec<f64> = members
            .iter()
            .map(|&(wi, _)| {
                let w = &workers[wi];
                w.prod / (w.comms.len() as f64).powf(0.6) * (0.3 * normal(rng)).exp()
            })
            .collect();
        let counts = allocate(rng, pc - fab_used[c], &weights);
        for (&(wi, pos), &k) in members.iter().zip(&counts) {
            workers[wi].counts[pos] = k;
        }
    }

    // Honest rows.
    let mut rows: Vec<Row> = Vec::new();
    for (wi, w) in workers.iter().enumerate() {
        let nw = w.total();
        if nw == 0 {
            continue;
        }
        let rng = &mut stream(seed, S_HONEST_ROWS, wi as u64);
        let days = work_days(rng, w.style.sched, lo, hi, nw);
        let visits = w.visits(rng);
        let slots = fill_days(rng, &days, &visits);
        for (k, (c, day)) in slots.into_iter().enumerate() {
            let phone = chance(rng, w.style.phone_share);
            let (ans, rtype) = respondent(rng, &cms[c], &w.style, phone, 0.0, &HONEST_TYPES);
            let n_dk = ans.iter().filter(|&&a| a == DK).count();
            let progress = if nw > 1 {
                k as f64 / (nw - 1) as f64
            } else {
                0.5
            };
            let dur = honest_duration(rng, &w.style, phone, rtype, n_dk, progress);
            rows.push(Row {
                comm: c,
                day,
                worker: wi,
                phone,
                dur,
                ans,
            });
        }
    }
    let mut honest_by_comm: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, r) in rows.iter().enumerate() {
        honest_by_comm[r.comm].push(i);
    }

    // Fabricated rows.
    workers.extend(fabs);
    for f in 0..kinds.len() {
        let wi = n_honest + f;
        let new = fabricated_rows(
            seed,
            f,
            wi,
            &workers[wi],
            &cms,
            &rows,
            &honest_by_comm,
            lo,
            hi,
        );
        rows.extend(new);
    }

    // Ids and order.
    let rng = &mut stream(seed, S_IDS, 0);
    let mut present: Vec<usize> = (0..workers.len())
        .filter(|&wi| workers[wi].total() > 0)
        .collect();
    shuffle(rng, &mut present);
    let range = 900.max(3 * present.len()) as i64;
    let numbers = distinct_days(rng, 100, 100 + range - 1, present.len());
    let mut id_of: Vec<String> = vec![String::new(); workers.len()];
    for (&wi, &num) in present.iter().zip(&numbers) {
        id_of[wi] = format!("I{num:03}");
    }
    let mut keyed: Vec<(usize, i64, u64, usize)> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (r.comm, r.day, rng.random::<u64>(), i))
        .collect();
    keyed.sort();
    let base = rng.random_range(100_000..=(999_999usize.saturating_sub(keyed.len()).max(100_000)));

    let mut csv = String::with_capacity(HEADER.len() + 1 + rows.len() * 160);
    csv.push_str(HEADER);
    csv.push('\n');
    for (seq, &(_, _, _, i)) in keyed.iter().enumerate() {
        let r = &rows[i];
        let (y, m, d) = civil_from_days(r.day);
        let com = &communities[r.comm];
        csv.push_str(&format!("R{:06},", base + seq));
        csv_field(&mut csv, &com.code);
        csv.push(',');
        csv_field(&mut csv, &com.name);
        csv.push(',');
        csv_field(&mut csv, &p.round);
        csv.push_str(&format!(
            ",{y:04}-{m:02}-{d:02},{},{},{}",
            id_of[r.worker], MODES[r.phone as usize], r.dur
        ));
        for &a in &r.ans {
            csv.push(',');
            csv.push_str(LABELS[a as usize]);
        }
        csv.push('\n');
    }

    let mut interviewers: Vec<(String, Kind)> = present
        .iter()
        .map(|&wi| (id_of[wi].clone(), workers[wi].kind))
        .collect();
    interviewers.sort();
    Delivery { csv, interviewers }
}
