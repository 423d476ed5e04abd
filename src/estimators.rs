//! Estimators as pure functions on slices; each doc comment gives its formula. Used
//! by scoring (`score`) and by ingest's quality flags.

/// Respondent score = Σ w_k x_k / Σ w_k over the answered items k.
/// `answers[k]` is the item's score x_k (None = not answered). Returns None when no
/// item was answered.
pub fn respondent_score(answers: impl Iterator<Item = (f64, Option<f64>)>) -> Option<f64> {
    let (mut num, mut den) = (0.0, 0.0);
    for (w, x) in answers {
        if let Some(x) = x {
            num += w * x;
            den += w;
        }
    }
    (den > 0.0).then(|| num / den)
}

/// Arithmetic mean; None for an empty slice.
pub fn mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

/// Sample variance s² = Σ (x − x̄)² / (n − 1); None when n < 2.
pub fn sample_variance(xs: &[f64]) -> Option<f64> {
    if xs.len() < 2 {
        return None;
    }
    let m = mean(xs)?;
    Some(xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() - 1) as f64)
}

/// Median (mean of the two middle values for an even count); None when empty.
pub fn median(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p_below_matches_hand_values() {
        // df = 1 is the Cauchy distribution: F(x) = 1/2 + atan(x)/π exactly.
        let p = p_below(78.0, Some(2.0), Some(1.0), 80.0).unwrap();
        assert!(
            (p - (0.5 + 1f64.atan() / std::f64::consts::PI)).abs() < 1e-12,
            "{p}"
        );
        // t table: F_t(2; 10) = 0.96330598 (two-sided p 0.07339).
        let p = p_below(78.0, Some(1.0), Some(10.0), 80.0).unwrap();
        assert!((p - 0.963_305_98).abs() < 1e-7, "{p}");
        // Above the threshold by the same amount: the complement.
        let q = p_below(82.0, Some(1.0), Some(10.0), 80.0).unwrap();
        assert!((p + q - 1.0).abs() < 1e-12);
        // Exactly at the threshold: one half.
        assert!((p_below(80.0, Some(3.0), Some(4.0), 80.0).unwrap() - 0.5).abs() < 1e-12);
        // Empty se or df: empty.
        assert_eq!(p_below(70.0, None, Some(5.0), 80.0), None);
        assert_eq!(p_below(70.0, Some(1.0), None, 80.0), None);
        // se = 0: certain.
        assert_eq!(p_below(79.9, Some(0.0), Some(5.0), 80.0), Some(1.0));
        assert_eq!(p_below(80.0, Some(0.0), Some(5.0), 80.0), Some(0.0));
    }

    /// m_needed against a plain search from m = 2 upwards (no bisection), and closed
    /// cases: s = 0, a census, a community small enough that the FPC decides.
    #[test]
    fn m_needed_matches_a_direct_search_and_closed_cases() {
        let direct = |s: f64, big_m: Option<u64>, alpha: f64, delta: f64| {
            let cap = big_m.map_or(100_000, |b| b as usize);
            (2..=cap)
                .find(|&m| {
                    m == cap
                        || t_one_sided(alpha, (m - 1) as f64)
                            * ((1.0 - big_m.map_or(0.0, |b| m as f64 / b as f64)) * s * s
                                / m as f64)
                                .sqrt()
                            <= delta
                })
                .unwrap()
        };
        for (s, big_m) in [
            (10.0, None),
            (15.0, None),
            (15.0, Some(3000)),
            (20.0, Some(60)),
            (8.0, Some(5)),
        ] {
            assert_eq!(
                m_needed(s, big_m, 0.10, 3.0),
                direct(s, big_m, 0.10, 3.0),
                "s {s} M {big_m:?}"
            );
        }
        assert_eq!(m_needed(0.0, Some(3000), 0.10, 3.0), 2);
        // M = 5: m = 5 is a census (half-width 0); m = 4 leaves sqrt(s²/20)·t(0.9; 3).
        assert_eq!(m_needed(30.0, Some(5), 0.10, 3.0), 5);
        // Large M, s = 10: the normal approximation (1.2816 · 10 / 3)² = 18.2 and the t
        // quantile's heavier tail give a little more.
        let m = m_needed(10.0, None, 0.10, 3.0);
        assert!((19..=21).contains(&m), "{m}");
        assert!(
            half_width(m, 10.0, None, 0.10) <= 3.0 && half_width(m - 1, 10.0, None, 0.10) > 3.0
        );
    }

    /// The operating characteristic against a simulation: communities 2 points below
    /// the threshold, m = m_needed respondents from a normal population; the share of
    /// rounds judged below lies in the binomial 99% interval around the prediction.
    #[test]
    fn the_operating_characteristic_matches_a_simulation() {
        use rand::RngExt;
        use rand::SeedableRng;
        let (s, thr, mu) = (15.0, 80.0, 78.0);
        let m = m_needed(s, None, 0.10, 3.0);
        let predicted = p_judged_below(mu, m, s, None, thr);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(15);
        let rounds = 600;
        let mut below = 0;
        for _ in 0..rounds {
            let mut sum = 0.0;
            for _ in 0..m {
                // Box–Muller: a normal draw from two uniforms.
                let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-300), rng.random());
                let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
                sum += mu + s * z;
            }
            below += (sum / (m as f64) < thr) as usize;
        }
        let share = below as f64 / rounds as f64;
        let sd = (predicted * (1.0 - predicted) / rounds as f64).sqrt();
        assert!(
            (share - predicted).abs() < 2.576 * sd,
            "share {share}, predicted {predicted} (m {m})"
        );
    }

    #[test]
    fn respondent_score_reweights_over_answered_items() {
        // Weights 0.1, 0.2, 0.7; the third not answered: (0.1·100 + 0.2·60) / 0.3.
        let s = respondent_score([(0.1, Some(100.0)), (0.2, Some(60.0)), (0.7, None)].into_iter())
            .unwrap();
        assert!((s - 22.0 / 0.3).abs() < 1e-12);
        assert_eq!(respondent_score([(1.0, None)].into_iter()), None);
    }

    #[test]
    fn variance_and_median_match_hand_values() {
        assert_eq!(
            sample_variance(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]),
            Some(32.0 / 7.0)
        );
        assert_eq!(sample_variance(&[1.0]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }
}

/// Two-sided Student-t quantile t_{1 − α/2, df} for confidence level `conf`.
/// Remembered per (conf, df): a province has thousands of communities with the same
/// df, and the inverse CDF is a numeric search.
pub fn t_quantile(conf: f64, df: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    thread_local! {
        static MEMO: std::cell::RefCell<rustc_hash::FxHashMap<(u64, u64), f64>> =
            Default::default();
    }
    let key = (conf.to_bits(), df.to_bits());
    if let Some(t) = MEMO.with(|m| m.borrow().get(&key).copied()) {
        return t;
    }
    let t = StudentsT::new(0.0, 1.0, df)
        .map(|t| t.inverse_cdf(1.0 - (1.0 - conf) / 2.0))
        .unwrap_or(f64::NAN);
    MEMO.with(|m| m.borrow_mut().insert(key, t));
    t
}

/// Student-t distribution function F_t(x; df).
pub fn t_cdf(x: f64, df: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    StudentsT::new(0.0, 1.0, df)
        .map(|t| t.cdf(x))
        .unwrap_or(f64::NAN)
}

/// One-sided Student-t quantile t(1 − α; df).
pub fn t_one_sided(alpha: f64, df: f64) -> f64 {
    // t(1 − α) is the two-sided quantile of confidence 1 − 2α.
    t_quantile(1.0 - 2.0 * alpha, df)
}

/// p_below = P(true score < threshold) given the estimate, its SE and df (BRIEF.md,
/// "Decision reliability"): F_t((threshold − score)/se; df). None where se or df is
/// empty; with se = 0 (every respondent the same, or a census) the estimate is the
/// true score, so 1 below the threshold and 0 otherwise.
pub fn p_below(score: f64, se: Option<f64>, df: Option<f64>, threshold: f64) -> Option<f64> {
    let (se, df) = (se?, df?);
    if se == 0.0 {
        return Some(if score < threshold { 1.0 } else { 0.0 });
    }
    Some(t_cdf((threshold - score) / se, df))
}

/// The half-width of the one-sided t interval a community of M households gets from
/// m valid respondents with SD s: t(1 − α; m − 1) · sqrt((1 − m/M) s²/m).
pub fn half_width(m: usize, s: f64, big_m: Option<u64>, alpha: f64) -> f64 {
    if m < 2 {
        return f64::INFINITY;
    }
    t_one_sided(alpha, (m - 1) as f64) * (fpc(m, big_m) * s * s / m as f64).sqrt()
}

/// The smallest number of valid respondents m ≥ 2 whose one-sided interval's
/// half-width is at most δ: t(1 − α; m − 1) · sqrt((1 − m/M) s²/m) ≤ δ. s = 0 gives 2;
/// m = M (a census) always meets δ; without M (no FPC) the search stops at 100,000.
pub fn m_needed(s: f64, big_m: Option<u64>, alpha: f64, delta: f64) -> usize {
    if s <= 0.0 {
        return 2;
    }
    let cap = big_m.map_or(100_000, |b| (b as usize).max(2));
    // The half-width falls as m grows: bisect on the first m that meets δ.
    let meets = |m: usize| m >= cap || half_width(m, s, big_m, alpha) <= delta;
    let (mut lo, mut hi) = (2usize, cap);
    if meets(lo) {
        return lo;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if meets(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

/// The probability that a community whose true score is `mu` is judged below the
/// threshold by its point estimate from m respondents with SD s (the operating
/// characteristic): P(ȳ < threshold) ≈ F_t((threshold − μ)/SE; m − 1), SE =
/// sqrt((1 − m/M) s²/m).
pub fn p_judged_below(mu: f64, m: usize, s: f64, big_m: Option<u64>, threshold: f64) -> f64 {
    let se = (fpc(m, big_m) * s * s / m as f64).sqrt();
    if se == 0.0 || m < 2 {
        return if mu < threshold { 1.0 } else { 0.0 };
    }
    t_cdf((threshold - mu) / se, (m - 1) as f64)
}

/// Finite-population correction 1 − m/M (1 when M is unknown; never below 0).
pub fn fpc(m: usize, big_m: Option<u64>) -> f64 {
    match big_m {
        Some(big_m) if big_m > 0 => (1.0 - m as f64 / big_m as f64).max(0.0),
        _ => 1.0,
    }
}

/// A community's score (社区得分) from its valid respondents' scores y_ij.
#[derive(Debug, Clone, PartialEq)]
pub struct CommunityEstimate {
    /// m_i, valid respondents.
    pub n: usize,
    /// ȳ_i = Σ_j y_ij / m_i.
    pub mean: f64,
    /// s_i² (None when m_i = 1).
    pub variance: Option<f64>,
    /// SE = sqrt((1 − m_i/M_i) s_i² / m_i).
    pub se: Option<f64>,
    /// ȳ_i ± t_{df} SE, df = m_i − 1.
    pub ci: Option<(f64, f64)>,
    pub df: Option<f64>,
}

/// ȳ_i, s_i², SE = sqrt((1 − m_i/M_i) s_i²/m_i) and a Student-t CI with df = m_i − 1.
/// None for no respondents.
pub fn community(scores: &[f64], households: Option<u64>, conf: f64) -> Option<CommunityEstimate> {
    let m = scores.len();
    let mean = mean(scores)?;
    let variance = sample_variance(scores);
    let se = variance.map(|s2| (fpc(m, households) * s2 / m as f64).sqrt());
    let df = (m >= 2).then(|| (m - 1) as f64);
    let ci = match (se, df) {
        (Some(se), Some(df)) => {
            let t = t_quantile(conf, df);
            Some((mean - t * se, mean + t * se))
        }
        _ => None,
    };
    Some(CommunityEstimate {
        n: m,
        mean,
        variance,
        se,
        ci,
        df,
    })
}

/// What the street estimator needs of each of its sampled communities.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CommunityInput {
    pub mean: f64,
    pub m: usize,
    pub variance: Option<f64>,
    pub households: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StreetEstimate {
    /// n_h, communities used.
    pub n: usize,
    /// ȳ_h = Σ_i ȳ_i / n_h.
    pub mean: f64,
    pub se: Option<f64>,
    pub ci: Option<(f64, f64)>,
    pub df: Option<f64>,
    /// Why se/CI are empty, or what was assumed.
    pub note: String,
}

/// Street score for a round: the mean of its n_h community scores, with the two-stage
/// variance v = (1 − n_h/N_h) s_b²/n_h + Σ_i (1 − m_i/M_i) s_i²/m_i / (n_h N_h),
/// s_b² the variance of the community scores. df = n_h − 1, or Σ m_i − n_h when
/// n_h = N_h (census of communities: the first term is 0). When n_h = 1 < N_h the
/// first stage cannot be estimated: se and CI are None and `note` says why.
pub fn street(comms: &[CommunityInput], big_n: usize, conf: f64) -> Option<StreetEstimate> {
    let n = comms.len();
    let means: Vec<f64> = comms.iter().map(|c| c.mean).collect();
    let mean = mean(&means)?;
    let census = n >= big_n;
    let mut note = String::new();
    let first = if census {
        0.0
    } else {
        match sample_variance(&means) {
            Some(sb2) => (1.0 - n as f64 / big_n as f64) * sb2 / n as f64,
            None => {
                return Some(StreetEstimate {
                    n,
                    mean,
                    se: None,
                    ci: None,
                    df: None,
                    note: format!(
                        "only 1 of {big_n} communities measured: the between-community variance cannot be estimated, so no SE or CI"
                    ),
                });
            }
        }
    };
    let mut second = 0.0;
    let mut missing = 0;
    for c in comms {
        match c.variance {
            Some(s2) => second += fpc(c.m, c.households) * s2 / c.m as f64,
            None => missing += 1,
        }
    }
    second /= n as f64 * big_n as f64;
    if missing > 0 {
        note = format!(
            "{missing} community(ies) with a single respondent add no second-stage variance"
        );
    }
    let v = first + second;
    let df = if census {
        let total: usize = comms.iter().map(|c| c.m).sum();
        (total > n).then(|| (total - n) as f64)
    } else {
        Some((n - 1) as f64)
    };
    let se = v.sqrt();
    let ci = df.map(|df| {
        let t = t_quantile(conf, df);
        (mean - t * se, mean + t * se)
    });
    Some(StreetEstimate {
        n,
        mean,
        se: Some(se),
        ci,
        df,
        note,
    })
}

/// The count, sum and sum of squares of values, each value rounded to a fixed point
/// of 2⁻³² first: the sums are exact integers, so they add up in any order to the same
/// totals (a round's statistics from its deliveries' summaries equal those from its
/// rows, bit for bit). Written as `[n, "s1", "s2"]` (the sums as decimal text: JSON
/// numbers are doubles to many readers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Moments {
    pub n: u64,
    pub s1: i128,
    pub s2: i128,
}

/// 2³²: the fixed point of [`Moments`].
const FIXED: f64 = 4_294_967_296.0;

impl Moments {
    /// A value's fixed-point representation (values beyond ±2³¹ saturate; the
    /// statistics here are scores, shares and logarithms).
    pub fn fixed(y: f64) -> i128 {
        (y * FIXED).round() as i64 as i128
    }

    pub fn push(&mut self, y: f64) {
        self.push_n(y, 1);
    }

    /// `count` values equal to `y`.
    pub fn push_n(&mut self, y: f64, count: u64) {
        let q = Self::fixed(y);
        let c = count as i128;
        self.n += count;
        self.s1 += c * q;
        self.s2 += c * q * q;
    }

    pub fn add(&mut self, o: &Moments) {
        self.n += o.n;
        self.s1 += o.s1;
        self.s2 += o.s2;
    }

    pub fn sub(&mut self, o: &Moments) {
        self.n -= o.n;
        self.s1 -= o.s1;
        self.s2 -= o.s2;
    }

    /// The sum of the values.
    pub fn sum(&self) -> f64 {
        self.s1 as f64 / FIXED
    }

    /// The mean; NaN with no values.
    pub fn mean(&self) -> f64 {
        self.s1 as f64 / self.n as f64 / FIXED
    }

    /// The sum of squared deviations from the mean (exact in integers where they fit,
    /// which is always for the counts of a round).
    pub fn m2(&self) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        let n = self.n as i128;
        match n
            .checked_mul(self.s2)
            .and_then(|a| self.s1.checked_mul(self.s1).and_then(|b| a.checked_sub(b)))
        {
            Some(num) => num as f64 / self.n as f64 / FIXED / FIXED,
            None => {
                let (s1, s2) = (self.s1 as f64 / FIXED, self.s2 as f64 / FIXED / FIXED);
                (s2 - s1 * s1 / self.n as f64).max(0.0)
            }
        }
    }
}

impl serde::Serialize for Moments {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.n, self.s1.to_string(), self.s2.to_string()).serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Moments {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Moments, D::Error> {
        let (n, s1, s2) = <(u64, String, String)>::deserialize(d)?;
        let p = |t: &str| t.parse::<i128>().map_err(serde::de::Error::custom);
        Ok(Moments {
            n,
            s1: p(&s1)?,
            s2: p(&s2)?,
        })
    }
}

/// P(X ≥ k) for X ~ Binomial(n, p), summed exactly term by term (n is a callback
/// count: tens, not millions).
pub fn binomial_at_least(n: u64, p: f64, k: u64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n {
        return 0.0;
    }
    if p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    // log C(n, j) p^j (1−p)^(n−j), built up from j = k.
    let ln_choose = |j: u64| -> f64 { (1..=j).map(|i| ((n - j + i) as f64 / i as f64).ln()).sum() };
    let mut sum = 0.0;
    for j in k..=n {
        sum += (ln_choose(j) + j as f64 * p.ln() + (n - j) as f64 * (1.0 - p).ln()).exp();
    }
    sum.min(1.0)
}

/// The exact (Clopper–Pearson) two-sided interval of confidence `conf` on a binomial
/// share with `k` of `n`: the Beta quantiles B(α/2; k, n−k+1) and B(1−α/2; k+1, n−k),
/// 0 and 1 at the ends. None when n = 0.
pub fn clopper_pearson(k: u64, n: u64, conf: f64) -> Option<(f64, f64)> {
    use statrs::distribution::{Beta, ContinuousCDF};
    if n == 0 || k > n {
        return None;
    }
    let a = (1.0 - conf) / 2.0;
    let lo = if k == 0 {
        0.0
    } else {
        Beta::new(k as f64, (n - k + 1) as f64)
            .map(|b| b.inverse_cdf(a))
            .unwrap_or(f64::NAN)
    };
    let hi = if k == n {
        1.0
    } else {
        Beta::new((k + 1) as f64, (n - k) as f64)
            .map(|b| b.inverse_cdf(1.0 - a))
            .unwrap_or(f64::NAN)
    };
    Some((lo, hi))
}

#[cfg(test)]
mod binomial_tests {
    use super::*;

    #[test]
    fn binomial_tail_by_hand() {
        // P(X ≥ 3 | n = 9, p = 0.05) = 1 − Σ_{j<3} C(9,j) .05^j .95^(9−j)
        let by_hand = 1.0
            - (0.95f64.powi(9) + 9.0 * 0.05 * 0.95f64.powi(8) + 36.0 * 0.0025 * 0.95f64.powi(7));
        assert!((binomial_at_least(9, 0.05, 3) - by_hand).abs() < 1e-12);
        assert_eq!(binomial_at_least(5, 0.3, 0), 1.0);
        assert_eq!(binomial_at_least(5, 0.3, 6), 0.0);
        assert!((binomial_at_least(4, 0.5, 4) - 0.0625).abs() < 1e-12);
    }

    #[test]
    fn clopper_pearson_matches_r() {
        // R: binom.test(2, 10)$conf.int = 0.02521073 0.55609546
        let (lo, hi) = clopper_pearson(2, 10, 0.95).unwrap();
        assert!((lo - 0.02521073).abs() < 1e-6, "{lo}");
        assert!((hi - 0.55609546).abs() < 1e-6, "{hi}");
        // binom.test(0, 8): 0 0.3694166
        let (lo, hi) = clopper_pearson(0, 8, 0.95).unwrap();
        assert_eq!(lo, 0.0);
        assert!((hi - 0.3694166).abs() < 1e-6, "{hi}");
        assert_eq!(clopper_pearson(0, 0, 0.95), None);
    }
}
