//! Near-duplicate questionnaires within a community (the `near_duplicate` indicator).

use super::{Groups, Input, NONE};

/// Each questionnaire's near-duplicate indicator, and for a near-duplicate whose
/// partners (the questionnaires it is within two items of) are all one other
/// interviewer's, that interviewer: the near-duplicate says nothing about anyone else
/// (a copier's copies make their sources near-duplicates too), so when that interviewer
/// is compared with peers, or set aside, it is not counted against the peers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Near {
    /// 1, 0, or NaN for all when there are fewer than three items.
    pub mark: Vec<f64>,
    /// The one other interviewer all of a near-duplicate's partners belong to; `NONE`
    /// when not a near-duplicate, when partners belong to several interviewers or to
    /// its own, or to questionnaires without one.
    pub solely: Vec<u32>,
}

/// Who a set of questionnaires belongs to, as far as the comparison needs it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    Nobody,
    One(u32),
    Many,
}

fn join(a: Who, b: Who) -> Who {
    match (a, b) {
        (Who::Nobody, x) | (x, Who::Nobody) => x,
        (Who::One(x), Who::One(y)) if x == y => a,
        _ => Who::Many,
    }
}

/// 1 for a questionnaire that differs from another of the same community in at most
/// two items (a percent-match of 80% or more with 10 items, Kuriakose & Robbins), else
/// 0. Exact, by the pigeonhole principle: cut the items into three bands; two patterns
/// with at most two differences agree on a whole band, so only questionnaires that
/// share some band are compared, item by item.
pub(super) fn near_duplicates(
    input: &Input<'_>,
    groups: &Groups,
    keep: &(dyn Fn(u32) -> bool + Sync),
) -> Near {
    let n = input.community.len();
    let k = input.n_items;
    if k < 3 {
        return Near {
            mark: vec![f64::NAN; n],
            solely: vec![NONE; n],
        };
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
    let iv_of = |i: u32| input.interviewer(i as usize).unwrap_or(NONE);
    let community = |rows: &[u32], keyed: &mut Vec<(u64, u32)>, found: &mut Vec<(u32, u32)>| {
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
        // Informative patterns only: at least three different answers. Simple patterns
        // (all 满意 but one) match by chance among honest respondents; a match of
        // two varied patterns does not.
        let informative: Vec<bool> = first
            .iter()
            .map(|&i| {
                let mut seen = 0u32;
                for a in input.answers(i as usize) {
                    if *a != u8::MAX && *a < 32 {
                        seen |= 1 << a;
                    }
                }
                seen.count_ones() >= MIN_DISTINCT_ANSWERS
            })
            .collect();
        let mut marked: Vec<bool> = count
            .iter()
            .zip(&informative)
            .map(|(c, inf)| *c > 1 && *inf)
            .collect();
        // Whose questionnaires have each pattern, and whose are its partner patterns.
        let mut owners = vec![Who::Nobody; first.len()];
        for (&i, &p) in rows.iter().zip(&pid_of) {
            owners[p as usize] = join(owners[p as usize], Who::One(iv_of(i)));
        }
        let mut partners = vec![Who::Nobody; first.len()];
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
                    if !informative[p as usize] {
                        continue;
                    }
                    let ap = input.answers(first[p as usize] as usize);
                    for &(_, q) in run.iter().skip(x + 1) {
                        if !informative[q as usize] {
                            continue;
                        }
                        let (pu, qu) = (p as usize, q as usize);
                        // Pairs whose two patterns are both known near-duplicates of
                        // several interviewers' teach nothing more.
                        if marked[pu]
                            && marked[qu]
                            && partners[pu] == Who::Many
                            && partners[qu] == Who::Many
                        {
                            continue;
                        }
                        if within_two(ap, input.answers(first[qu] as usize)) {
                            marked[pu] = true;
                            marked[qu] = true;
                            partners[pu] = join(partners[pu], owners[qu]);
                            partners[qu] = join(partners[qu], owners[pu]);
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
                .map(|(&i, &p)| {
                    let p = p as usize;
                    // The others with the same pattern (its owners, when more than
                    // this one has it), then the partner patterns' owners.
                    let same = if count[p] > 1 { owners[p] } else { Who::Nobody };
                    let own = iv_of(i);
                    let solely = match join(same, partners[p]) {
                        Who::One(x) if x != own && x != NONE && own != NONE => x,
                        _ => NONE,
                    };
                    (i, solely)
                }),
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
    let found: Vec<(u32, u32)> = std::thread::scope(|sc| {
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
    let mut out = Near {
        mark: vec![0.0; n],
        solely: vec![NONE; n],
    };
    for (i, solely) in found {
        out.mark[i as usize] = 1.0;
        out.solely[i as usize] = solely;
    }
    out
}

/// How many different answers a questionnaire's pattern needs for its near-duplicates
/// to count (see `near_duplicates`).
pub(super) const MIN_DISTINCT_ANSWERS: u32 = 3;
