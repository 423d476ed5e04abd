//! The interviewer comparison over a round's (or a file's) cells: z per indicator,
//! τ², the combined p-value against the null, one interviewer at a time.

use super::cells::{self, Cells, compare};
use super::null::{MaskNull, NullS, quantile_sorted, term, top_sum};
use super::{Dir, Flags, INDICATORS, IndicatorEvidence, Input, InterviewerFlag, Table};
use crate::rules::Rules;

/// The normal score with the same tail probability as Student t `t` with n − 1 df.
pub(super) fn t_as_normal(t: f64, n: usize) -> f64 {
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
pub(super) fn s_of(z: &[Vec<Option<f64>>], iv: usize, top: usize) -> (f64, f64) {
    let mut terms: Vec<f64> = INDICATORS
        .iter()
        .enumerate()
        .filter_map(|(k, (_, dir))| z[k][iv].map(|zk| term(*dir, zk)))
        .collect();
    (terms.iter().sum(), top_sum(&mut terms, top))
}

pub(super) fn median_of(mut v: Vec<f64>) -> Option<f64> {
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
pub(super) fn interviewer_flags(
    input: &Input<'_>,
    flags: &Flags,
    rules: &Rules,
    near_duplicate: super::Near,
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
