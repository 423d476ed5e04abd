//! Tests of the interviewer comparison: the null's maths, the comparison over cells
//! against the row-by-row one, near-duplicates.

use super::cells::{Cells, compare};
use super::comparison::*;
use super::near::*;
use super::null::*;
use super::*;

/// P(S ≥ s) when each of `one` one-sided terms is max(0, z)² and each of `two`
/// two-sided terms z², for independent standard normal z: a binomial mixture of χ².
fn null_p(s: f64, one: usize, two: usize) -> f64 {
    if s <= 0.0 {
        return 1.0;
    }
    let mut p = 0.0;
    let mut c = 1.0; // C(one, j)
    for j in 0..=one {
        let df = (j + two) as f64;
        let tail = if df == 0.0 {
            0.0
        } else {
            statrs::function::gamma::gamma_ur(df / 2.0, s / 2.0)
        };
        p += c * tail;
        c = c * (one - j) as f64 / (j + 1) as f64;
    }
    p / 2f64.powi(one as i32)
}

/// The median of S under the null (for the calibration factor λ).
fn null_median(one: usize, two: usize) -> f64 {
    let (mut lo, mut hi) = (0.0, 100.0);
    for _ in 0..60 {
        let mid = (lo + hi) / 2.0;
        if null_p(mid, one, two) > 0.5 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

/// The near-duplicate comparison from its definition, interviewer by interviewer: a
/// near-duplicate whose partners are all one other interviewer's (`solely`) counts as
/// 0 when that interviewer is set aside, and as 0 among the peers of that interviewer
/// when it is compared; the pooled variance is that of the marks as they are.
fn compare_rows_near(
    input: &Input<'_>,
    groups: &Groups,
    mark: &[f64],
    solely: &[u32],
    excluded: &[bool],
) -> Vec<Option<(f64, f64)>> {
    let n_iv = excluded.len();
    let out_of = |i: usize| input.interviewer(i).is_some_and(|iv| excluded[iv as usize]);
    let (mut ss, mut dof) = (0.0, 0usize);
    for rows in groups.iter() {
        let v: Vec<f64> = rows
            .iter()
            .map(|&i| i as usize)
            .filter(|&i| !out_of(i) && !mark[i].is_nan())
            .map(|i| mark[i])
            .collect();
        if let Some(m) = crate::estimators::mean(&v) {
            ss += v.iter().map(|x| (x - m).powi(2)).sum::<f64>();
            dof += v.len().saturating_sub(1);
        }
    }
    if dof == 0 || ss <= 0.0 {
        return vec![None; n_iv];
    }
    let s2 = ss / dof as f64;
    (0..n_iv)
        .map(|me| {
            if excluded[me] {
                // (The cells give no comparison for an interviewer set aside either.)
                return None;
            }
            let (mut wd, mut nn, mut kk) = (0.0, 0.0, 0.0);
            for rows in groups.iter() {
                let value = |i: usize, peer: bool| -> f64 {
                    let s = solely[i];
                    if s != u32::MAX && (excluded[s as usize] || (peer && s as usize == me)) {
                        0.0
                    } else {
                        mark[i]
                    }
                };
                let (mut own, mut n, mut peers, mut m) = (0.0, 0usize, 0.0, 0usize);
                for &i in rows {
                    let i = i as usize;
                    if mark[i].is_nan() || out_of(i) {
                        continue;
                    }
                    match input.interviewer(i) {
                        Some(iv) if iv as usize == me => {
                            own += value(i, false);
                            n += 1;
                        }
                        Some(_) => {
                            peers += value(i, true);
                            m += 1;
                        }
                        None => {}
                    }
                }
                if n == 0 || m < 2 {
                    continue;
                }
                let diff = own / n as f64 - peers / m as f64;
                wd += n as f64 * diff;
                nn += n as f64;
                kk += (n * n) as f64 / m as f64;
            }
            (nn > 0.0).then(|| (wd / nn, (s2 * (1.0 / nn + kk / (nn * nn))).sqrt()))
        })
        .collect()
}

/// The comparison as it was, row by row (the reference for [`compare`]).
fn compare_rows(
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
        if let Some(m) = crate::estimators::mean(&v) {
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
                (d, se)
            })
        })
        .collect()
}

#[test]
fn the_comparison_over_cells_is_the_comparison_over_rows() {
    // Random rounds: communities of 2–30 questionnaires, interviewers shared
    // between communities, some questionnaires without one, some values undefined.
    let mut seed = 0x2545F4914F6CDD1Du64;
    let mut rnd = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for round in 0..200 {
        let n_comm = 1 + rnd(12) as u32;
        let n_iv = 1 + rnd(9) as usize;
        let n_items = 5;
        let (mut community, mut interviewer, mut score, mut duration) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut items, mut answered, mut date, mut near) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for c in 0..n_comm {
            for _ in 0..2 + rnd(29) {
                community.push(c);
                interviewer.push(if rnd(10) == 0 {
                    u32::MAX
                } else {
                    rnd(n_iv as u64) as u32
                });
                score.push(match rnd(12) {
                    0 => f64::NAN,
                    1 => 60.0,
                    _ => rnd(1000) as f64 / 10.0,
                });
                duration.push(match rnd(8) {
                    0 => f64::NAN,
                    1 => 0.0,
                    _ => 60.0 + rnd(900) as f64,
                });
                let mut a = 0u8;
                for _ in 0..n_items {
                    let x = if rnd(6) == 0 { u8::MAX } else { rnd(5) as u8 };
                    a += (x != u8::MAX) as u8;
                    items.push(x);
                }
                answered.push(a);
                date.push(if rnd(9) == 0 {
                    0
                } else {
                    20180301 + rnd(4) as u32
                });
                near.push(rnd(3) as f64 % 2.0);
            }
        }
        // Partners: a marked questionnaire's one other interviewer now and then.
        let solely: Vec<u32> = (0..community.len())
            .map(|i| {
                let other = rnd(n_iv as u64) as u32;
                if near[i] == 1.0
                    && interviewer[i] != u32::MAX
                    && other != interviewer[i]
                    && rnd(2) == 0
                {
                    other
                } else {
                    u32::MAX
                }
            })
            .collect();
        let near_marks = Near {
            mark: near.clone(),
            solely: solely.clone(),
        };
        let n = community.len();
        let straight: Vec<bool> = (0..n).map(|_| rnd(7) == 0).collect();
        let names: Vec<String> = (0..n_iv).map(|k| format!("I{k}")).collect();
        let input = Input {
            community: &community,
            interviewer: &interviewer,
            interviewer_names: &names,
            duration: &duration,
            score: &score,
            items: &items,
            n_items,
            answered: &answered,
            date: &date,
        };
        let groups = Groups::new(&community);
        let table = cells::of_rows(&input, &straight, &[], None, &near_marks, 5, &|_| true);
        // The counts per interviewer, against a count of the rows.
        let counts = table.counts(n_iv);
        for (iv, (q, sl)) in counts.iter().enumerate() {
            let rows = (0..n).filter(|&i| interviewer[i] == iv as u32);
            assert_eq!(*q, rows.clone().count(), "round {round}");
            assert_eq!(*sl, rows.filter(|&i| straight[i]).count(), "round {round}");
        }
        let same_day = table.same_day();
        let values = indicator_values_rows(&input, &groups, 5, near.clone());
        for (k, y) in values.iter().enumerate() {
            let cells = Cells::of_table(&table, k, &same_day);
            for mask in 0..4u32 {
                let excluded: Vec<bool> = (0..n_iv)
                    .map(|k| (mask >> (k % 2)) & 1 == 1 && k < 2)
                    .collect();
                let a = compare(&cells, &excluded);
                let b = if INDICATORS[k].0 == "near_duplicate" {
                    compare_rows_near(&input, &groups, &near, &solely, &excluded)
                } else {
                    compare_rows(&input, &groups, y, &excluded)
                };
                assert_eq!(a.len(), b.len());
                for (iv, (x, w)) in a.iter().zip(&b).enumerate() {
                    match (x, w) {
                        (None, None) => {}
                        // No spread at all: exact in the cells (no comparison), a
                        // rounding residue row by row.
                        (None, Some((dw, sew))) if dw.abs() < 1e-12 && *sew < 1e-12 => {}
                        (Some((d, se)), Some((dw, sew))) => {
                            // The cells round each value to 2⁻³² (and the spreads'
                            // own means with it).
                            let close = |p: f64, q: f64| (p - q).abs() <= 1e-7 * (1.0 + q.abs());
                            assert!(
                                close(*d, *dw) && close(*se, *sew),
                                "round {round}, indicator {k}, interviewer {iv}: {x:?} against {w:?}"
                            );
                        }
                        _ => panic!(
                            "round {round}, indicator {k}, interviewer {iv}: {x:?} against {w:?}"
                        ),
                    }
                }
            }
        }
    }
}

#[test]
fn the_simulated_null_agrees_with_the_chi_square_mixture_when_indicators_are_independent() {
    // No interviewer with every indicator: R is the identity, and S is a sum of
    // independent terms whose tail is a binomial mixture of χ² (null_p).
    let z: Vec<Vec<Option<f64>>> = vec![vec![None; 3]; INDICATORS.len()];
    let null = NullS::new(&z, &[0, 1, 2], &NullS::standard());
    let all = (1u32 << INDICATORS.len()) - 1;
    let sorted = null.of_mask(all, 0).s;
    let one = INDICATORS.iter().filter(|(_, d)| *d != Dir::Both).count();
    let two = INDICATORS.len() - one;
    for s in [2.0, 6.0, 12.0, 20.0] {
        let mc = (sorted.len() - sorted.partition_point(|x| *x < s)) as f64 / sorted.len() as f64;
        let exact = null_p(s, one, two);
        let se = (exact * (1.0 - exact) / sorted.len() as f64).sqrt();
        assert!(
            (mc - exact).abs() < 4.0 * se + 1e-4,
            "S ≥ {s}: {mc} vs {exact}"
        );
    }
    let med = null_median(one, two);
    assert!((null_p(med, one, two) - 0.5).abs() < 1e-6);
}

#[test]
fn the_largest_term_follows_its_exact_null_and_the_combined_p_is_calibrated() {
    use statrs::distribution::{ContinuousCDF, Normal};
    let phi = |x: f64| Normal::new(0.0, 1.0).unwrap().cdf(x);
    // Independent indicators (R = I): T with top = 1 is the largest term, whose tail is
    // 1 − Π P(term_k < x): two-sided P(z² < x) = 2Φ(√x) − 1, one-sided Φ(√x).
    let z: Vec<Vec<Option<f64>>> = vec![vec![None; 3]; INDICATORS.len()];
    let null = NullS::new(&z, &[0, 1, 2], &NullS::standard());
    let all = (1u32 << INDICATORS.len()) - 1;
    let m = null.of_mask(all, 1);
    for x in [2.0f64, 5.0, 9.0, 12.0] {
        let below: f64 = INDICATORS
            .iter()
            .map(|(_, d)| match d {
                Dir::Both => 2.0 * phi(x.sqrt()) - 1.0,
                _ => phi(x.sqrt()),
            })
            .product();
        let exact = 1.0 - below;
        let mc = (m.t.len() - m.t.partition_point(|v| *v < x)) as f64 / m.t.len() as f64;
        let se = (exact * (1.0 - exact) / m.t.len() as f64).sqrt();
        assert!(
            (mc - exact).abs() < 4.0 * se + 1e-4,
            "T ≥ {x}: {mc} vs {exact}"
        );
    }
    // The min-p combination on fresh null draws (another seed, another correlation)
    // falls below α as often as α: its own null is the right one.
    use rand::{RngExt, SeedableRng};
    let mut g = rand_chacha::ChaCha8Rng::seed_from_u64(99);
    let mut normal = || {
        let u1: f64 = g.random::<f64>().max(1e-300);
        let u2: f64 = g.random::<f64>();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    };
    let mut z: Vec<Vec<Option<f64>>> = vec![Vec::new(); INDICATORS.len()];
    let n = 2_000;
    for _ in 0..n {
        let common = normal();
        for zk in z.iter_mut() {
            zk.push(Some(0.6 * common + 0.8 * normal()));
        }
    }
    let eligible: Vec<usize> = (0..n).collect();
    let null = NullS::new(&z, &eligible, &NullS::standard());
    let mn = null.of_mask(all, 3);
    let fresh = 200_000;
    let mut below = [0usize; 2];
    for _ in 0..fresh {
        let common = normal();
        let d: Vec<Option<f64>> = (0..INDICATORS.len())
            .map(|_| Some(0.6 * common + 0.8 * normal()))
            .collect();
        let col: Vec<Vec<Option<f64>>> = d.iter().map(|v| vec![*v]).collect();
        let (s, t) = s_of(&col, 0, 3);
        let p = mn.p(s, t);
        below[0] += (p < 0.01) as usize;
        below[1] += (p < 0.05) as usize;
    }
    for (k, alpha) in [0.01, 0.05].iter().enumerate() {
        let share = below[k] as f64 / fresh as f64;
        let se = (alpha * (1.0 - alpha) / fresh as f64).sqrt();
        // The estimated R (2,000 interviewers) and the finite draws add a little; the
        // uncalibrated minimum of the two p-values would give 1.2 α.
        assert!(
            (share - alpha).abs() < 4.0 * se + 0.04 * alpha,
            "P(p < {alpha}) = {share}"
        );
    }
}

#[test]
fn t_scores_become_normal_scores_with_the_same_tail() {
    // t = 2.145 is the 97.5% point of t with 14 df: its normal score is 1.96.
    assert!((t_as_normal(2.144787, 15) - 1.959964).abs() < 1e-4);
    assert!((t_as_normal(-2.144787, 15) + 1.959964).abs() < 1e-4);
    assert!((t_as_normal(1.5, 10_000) - 1.5).abs() < 1e-3);
}

#[test]
fn near_duplicates_are_within_two_items_of_another_in_the_same_community() {
    let items: Vec<u8> = [
        [0u8, 1, 1, 2, 2, 1, 0, 1, 1, 1], // 0
        [0, 1, 1, 2, 2, 1, 0, 3, 4, 1],   // 1: two items from 0
        [4, 4, 3, 3, 0, 0, 1, 2, 3, 4],   // 2: far from all
        [0, 1, 1, 2, 2, 1, 0, 1, 1, 1],   // 3: as 0, other community
        [2, 2, 2, 2, 2, 2, 2, 2, 2, 2],   // 4: alone
        [2, 2, 2, 2, 2, 2, 1, 1, 1, 2],   // 5: three items from 4
        [0, 1, 1, 2, 2, 1, 0, 1, 3, 4],   // 6: two items from 0, three from 1
    ]
    .concat();
    let community = [0, 0, 0, 1, 1, 1, 0];
    let n = community.len();
    let input = Input {
        community: &community,
        interviewer: &vec![u32::MAX; n],
        interviewer_names: &[],
        duration: &vec![f64::NAN; n],
        score: &vec![f64::NAN; n],
        items: &items,
        n_items: 10,
        answered: &vec![10; n],
        date: &vec![0; n],
    };
    let groups = Groups::new(&community);
    assert_eq!(
        near_duplicates(&input, &groups, &|_| true).mark,
        [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    );
    // Only community 1 compared: its rows as above, community 0's left at 0.
    assert_eq!(
        near_duplicates_where(&input, &|c| c == 1).mark,
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    );
    assert_eq!(
        near_duplicates_where(&input, &|c| c == 0).mark,
        [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    );
    // Whose partners: rows 0, 1 and 6 are near-duplicates of each other (0–1, 0–6).
    // With 0 and 1 by interviewer 0 and 6 by 1: row 6's partners are all 0's; row 0's
    // are 0's own (1) and 1's (6); row 1's only 0's own. Without interviewers: none.
    let iv = [0, 0, 2, 3, 4, 5, 1];
    let names: Vec<String> = (0..6).map(|k| format!("I{k}")).collect();
    let with = Input {
        interviewer: &iv,
        interviewer_names: &names,
        ..input
    };
    let none = u32::MAX;
    assert_eq!(
        near_duplicates(&input, &groups, &|_| true).solely,
        [none; 7]
    );
    assert_eq!(
        near_duplicates(&with, &groups, &|_| true).solely,
        [none, none, none, none, none, none, 0]
    );
    // A copier (interviewer 1) copying 0's row 2 twice with a change: 2's partners
    // are all 1's; each copy's partners are 0's and the other copy's (its own).
    let copies: Vec<u8> = [
        [0u8, 1, 1, 2, 2, 1, 0, 1, 1, 1],
        [0, 1, 1, 2, 2, 1, 0, 3, 4, 1],
        [4, 4, 3, 3, 0, 0, 1, 2, 3, 4],
        [4, 4, 3, 3, 0, 0, 1, 2, 3, 3],
        [4, 4, 3, 3, 0, 0, 1, 2, 2, 4],
    ]
    .concat();
    let community = [0u32; 5];
    let iv = [2, 2, 0, 1, 1];
    let groups = Groups::new(&community);
    let copy_input = Input {
        community: &community,
        interviewer: &iv,
        interviewer_names: &names,
        duration: &[f64::NAN; 5],
        score: &[f64::NAN; 5],
        items: &copies,
        n_items: 10,
        answered: &[10; 5],
        date: &[0; 5],
    };
    let got = near_duplicates(&copy_input, &groups, &|_| true);
    assert_eq!(got.mark, [1.0; 5]);
    assert_eq!(got.solely, [none, none, 1, none, none]);
}

#[test]
fn near_duplicates_agree_with_every_pair_compared() {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut rnd = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for round in 0..300 {
        let n_items = 3 + rnd(10) as usize;
        let levels = 2 + rnd(4);
        let (mut community, mut items) = (Vec::new(), Vec::new());
        for c in 0..1 + rnd(5) as u32 {
            // Some communities copy earlier patterns with a change or two.
            for _ in 0..rnd(60) {
                community.push(c);
                let start = items.len();
                if start >= n_items && rnd(3) == 0 {
                    let from = rnd((start / n_items) as u64) as usize * n_items;
                    let copy: Vec<u8> = items[from..from + n_items].to_vec();
                    items.extend(copy);
                    for _ in 0..rnd(4) {
                        let k = start + rnd(n_items as u64) as usize;
                        items[k] = rnd(levels) as u8;
                    }
                } else {
                    for _ in 0..n_items {
                        items.push(if rnd(9) == 0 {
                            u8::MAX
                        } else {
                            rnd(levels) as u8
                        });
                    }
                }
            }
        }
        let n = community.len();
        let input = Input {
            community: &community,
            interviewer: &vec![u32::MAX; n],
            interviewer_names: &[],
            duration: &vec![f64::NAN; n],
            score: &vec![f64::NAN; n],
            items: &items,
            n_items,
            answered: &vec![0; n],
            date: &vec![0; n],
        };
        // Informative: at least three different answers (not-answered is none).
        let varied = |a: &[u8]| {
            let mut v: Vec<u8> = a.iter().copied().filter(|x| *x != u8::MAX).collect();
            v.sort();
            v.dedup();
            v.len() >= 3
        };
        let want: Vec<f64> = (0..n)
            .map(|i| {
                let a = &items[i * n_items..(i + 1) * n_items];
                let near = varied(a)
                    && (0..n).any(|j| {
                        j != i
                            && community[j] == community[i]
                            && varied(&items[j * n_items..(j + 1) * n_items])
                            && a.iter()
                                .zip(&items[j * n_items..(j + 1) * n_items])
                                .filter(|(x, y)| x != y)
                                .count()
                                <= 2
                    });
                near as u8 as f64
            })
            .collect();
        let got = near_duplicates(&input, &Groups::new(&community), &|_| true).mark;
        assert_eq!(got, want, "round {round}: {n_items} items, {levels} levels");
    }
}

/// Per questionnaire, the value of each indicator (NaN: not defined), row by row as
/// the comparison was first written (the reference for the cells).
fn indicator_values_rows(
    input: &Input<'_>,
    groups: &Groups,
    n_levels: usize,
    near_duplicate: Vec<f64>,
) -> Vec<Vec<f64>> {
    let n = input.community.len();
    let k = input.n_items.max(1);
    let log_dur: Vec<f64> = (0..n)
        .map(|i| match input.duration(i) {
            Some(d) if d > 0.0 => d.ln(),
            _ => f64::NAN,
        })
        .collect();
    // Squared deviation from the interviewer's own mean in the community (a community
    // has a few interviewers: a short list, not a map).
    let own_spread = |y: &[f64]| -> Vec<f64> {
        let mut out = vec![f64::NAN; n];
        let mut acc: Vec<(u32, f64, usize)> = Vec::new();
        for rows in groups.iter() {
            acc.clear();
            for &i in rows {
                let i = i as usize;
                if let (Some(iv), false) = (input.interviewer(i), y[i].is_nan()) {
                    match acc.iter_mut().find(|e| e.0 == iv) {
                        Some(e) => {
                            e.1 += y[i];
                            e.2 += 1;
                        }
                        None => acc.push((iv, y[i], 1)),
                    }
                }
            }
            for &i in rows {
                let i = i as usize;
                if let (Some(iv), false) = (input.interviewer(i), y[i].is_nan())
                    && let Some(&(_, s, c)) = acc.iter().find(|e| e.0 == iv)
                    && c >= 2
                {
                    out[i] = (y[i] - s / c as f64).powi(2);
                }
            }
        }
        out
    };
    let mut item_spread = vec![f64::NAN; n];
    let mut not_answered = vec![f64::NAN; n];
    let mut extreme = vec![f64::NAN; n];
    let top = (n_levels.max(1) - 1) as u8;
    for i in 0..n {
        let (mut c, mut sum, mut sq, mut ext) = (0usize, 0.0, 0.0, 0usize);
        for &x in input.answers(i) {
            if x != u8::MAX {
                let v = x as f64;
                c += 1;
                sum += v;
                sq += v * v;
                ext += (x == 0 || x == top) as usize;
            }
        }
        not_answered[i] = (k - c) as f64 / k as f64;
        if c > 0 {
            extreme[i] = ext as f64 / c as f64;
        }
        if c >= 2 {
            let m = sum / c as f64;
            item_spread[i] = (sq / c as f64 - m * m).max(0.0).sqrt();
        }
    }
    // Questionnaires of one interviewer on one date (round-wide).
    let mut per_day: rustc_hash::FxHashMap<(u32, u32), u32> = Default::default();
    for i in 0..n {
        if let (Some(iv), d) = (input.interviewer(i), input.date[i])
            && d > 0
        {
            *per_day.entry((iv, d)).or_default() += 1;
        }
    }
    // … against what an interviewer with as many questionnaires would have on one day
    // if they spread them over the round's days at random: 1 + (n − 1)/days.
    let days = {
        let mut d: Vec<u32> = input.date.iter().copied().filter(|d| *d > 0).collect();
        d.sort_unstable();
        d.dedup();
        d.len().max(1) as f64
    };
    let mut per_iv: rustc_hash::FxHashMap<u32, u32> = Default::default();
    for ((iv, _), c) in &per_day {
        *per_iv.entry(*iv).or_default() += c;
    }
    let same_day: Vec<f64> = (0..n)
        .map(|i| match (input.interviewer(i), input.date[i]) {
            (Some(iv), d) if d > 0 => {
                per_day[&(iv, d)] as f64 / (1.0 + (per_iv[&iv] as f64 - 1.0) / days)
            }
            _ => f64::NAN,
        })
        .collect();
    vec![
        input.score.to_vec(),
        own_spread(input.score),
        item_spread,
        not_answered,
        extreme,
        log_dur.clone(),
        own_spread(&log_dur),
        near_duplicate,
        same_day,
    ]
}
