//! The null of the interviewer comparison: draws of z ~ N(0, R) with the round's
//! correlation R, and the statistics S and T of each draw (their p-values and the
//! min-p combination's own null).

use super::{Dir, INDICATORS};

pub(super) fn term(dir: Dir, z: f64) -> f64 {
    match dir {
        Dir::Both => z * z,
        Dir::Higher => z.max(0.0).powi(2),
        Dir::Lower => (-z).max(0.0).powi(2),
    }
}

/// Draws of z ~ N(0, R) (a fixed seed: the same data give the same flags).
pub(super) struct NullS {
    pub(super) draws: Vec<Vec<f64>>,
}

/// Draws of the null: enough for p-values down to 1/20,000.
pub(super) const NULL_DRAWS: usize = 20_000;

impl NullS {
    /// Independent standard normal draws, NULL_DRAWS × INDICATORS (made once a run).
    pub(super) fn standard() -> Vec<Vec<f64>> {
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

    pub(super) fn new(z: &[Vec<Option<f64>>], eligible: &[usize], standard: &[Vec<f64>]) -> NullS {
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
    pub(super) fn of_mask(&self, mask: u32, top: usize) -> MaskNull {
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
pub(super) struct MaskNull {
    pub(super) s: Vec<f64>,
    pub(super) t: Vec<f64>,
    /// Empty when T is not used (`interviewer_top` = 0).
    pub(super) minp: Vec<f64>,
}

impl MaskNull {
    /// The p-value of an interviewer's S and T (each already divided by its λ): S's
    /// upper tail alone, or the smaller of S's and T's, calibrated by the null of
    /// that minimum.
    pub(super) fn p(&self, s: f64, t: f64) -> f64 {
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
pub(super) fn upper_p(sorted: &[f64], x: f64) -> f64 {
    let above = sorted.len() - sorted.partition_point(|v| *v < x);
    (1 + above) as f64 / (1 + sorted.len()) as f64
}

/// The sum of the `top` largest of `terms` (all of them when there are fewer).
pub(super) fn top_sum(terms: &mut [f64], top: usize) -> f64 {
    if top == 0 {
        return 0.0;
    }
    terms.sort_by(|a, b| b.total_cmp(a));
    terms.iter().take(top).sum()
}

/// The Cholesky factor of a correlation matrix, with a ridge added until it is
/// positive definite (an estimated R can be slightly indefinite).
pub(super) fn cholesky_ridged(r: &[Vec<f64>]) -> Vec<Vec<f64>> {
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

pub(super) fn quantile_sorted(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v[((v.len() - 1) as f64 * q).round() as usize]
}
