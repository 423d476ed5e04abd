//! The interviewer comparison's statistics per community × interviewer ("cells"):
//! built from rows (a delivery at its ingest, or the communities several deliveries
//! share) or added up from the deliveries' summaries. Every sum is a
//! [`Moments`] (exact integers), so a round's cells are the same whichever way they
//! were made, and the comparison over them gives the same flags bit for bit.

use rustc_hash::FxHashMap;

use super::{Groups, INDICATORS, Input, NONE};
use crate::estimators::Moments;
use crate::store::CellStats;

/// Indicators kept per cell (all but same_day, the last, which is round-wide).
pub const KEPT: usize = INDICATORS.len() - 1;

/// A round's (or a file's) cells: per community index, its interviewers' statistics
/// sorted by interviewer index (`NONE`, questionnaires without one, last).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Table {
    pub communities: Vec<Vec<(u32, CellStats)>>,
}

fn empty_stats() -> CellStats {
    CellStats {
        indicators: vec![Moments::default(); KEPT],
        ..Default::default()
    }
}

impl Table {
    /// The cell of (community, interviewer), made when missing.
    pub fn cell(&mut self, c: u32, iv: u32) -> &mut CellStats {
        let c = c as usize;
        if self.communities.len() <= c {
            self.communities.resize_with(c + 1, Vec::new);
        }
        let cells = &mut self.communities[c];
        let k = match cells.binary_search_by_key(&iv, |e| e.0) {
            Ok(k) => k,
            Err(k) => {
                cells.insert(k, (iv, empty_stats()));
                k
            }
        };
        &mut cells[k].1
    }

    /// Adds `s` to the cell of (community, interviewer).
    pub fn add(&mut self, c: u32, iv: u32, s: &CellStats) {
        let t = self.cell(c, iv);
        t.rows += s.rows;
        t.straight += s.straight;
        t.flagged += s.flagged;
        t.valid += s.valid;
        t.speeders += s.speeders;
        t.valid_scores.add(&s.valid_scores);
        for (a, b) in t.indicators.iter_mut().zip(&s.indicators) {
            a.add(b);
        }
        for &(d, n) in &s.dates {
            match t.dates.binary_search_by_key(&d, |e| e.0) {
                Ok(k) => t.dates[k].1 += n,
                Err(k) => t.dates.insert(k, (d, n)),
            }
        }
        for &(i, n) in &s.near_only_with {
            t.add_near_only_with(i, n);
        }
    }

    /// Questionnaires and straight-lined ones per interviewer index (`n_iv` of them).
    pub fn counts(&self, n_iv: usize) -> Vec<(usize, usize)> {
        let mut out = vec![(0, 0); n_iv];
        for cells in &self.communities {
            for (iv, s) in cells {
                if let Some(e) = out.get_mut(*iv as usize) {
                    e.0 += s.rows as usize;
                    e.1 += s.straight as usize;
                }
            }
        }
        out
    }

    /// Each cell's same_day statistics: a questionnaire's value is how many its
    /// interviewer did on its date, against what they would have on one day if they
    /// spread their dated questionnaires over the round's days at random:
    /// count(iv, date) / (1 + (n_iv − 1) / days). Round-wide, so made here from the
    /// cells' dates, never stored.
    pub fn same_day(&self) -> Vec<Vec<Moments>> {
        let mut per_day: FxHashMap<(u32, u32), u64> = Default::default();
        let mut per_iv: FxHashMap<u32, u64> = Default::default();
        let mut days: Vec<u32> = Vec::new();
        for cells in &self.communities {
            for (iv, s) in cells {
                for &(d, n) in &s.dates {
                    days.push(d);
                    if *iv != NONE {
                        *per_day.entry((*iv, d)).or_default() += n;
                        *per_iv.entry(*iv).or_default() += n;
                    }
                }
            }
        }
        days.sort_unstable();
        days.dedup();
        let days = days.len().max(1) as f64;
        self.communities
            .iter()
            .map(|cells| {
                cells
                    .iter()
                    .map(|(iv, s)| {
                        let mut m = Moments::default();
                        if *iv != NONE {
                            for &(d, n) in &s.dates {
                                let v = per_day[&(*iv, d)] as f64
                                    / (1.0 + (per_iv[iv] as f64 - 1.0) / days);
                                m.push_n(v, n);
                            }
                        }
                        m
                    })
                    .collect()
            })
            .collect()
    }
}

/// The cells of the rows of the communities `keep` accepts. `straight`: each row's
/// straight-line flag; `qflags`: each row's questionnaire flags (empty: none known);
/// `valid`: each row's validity (None: all count as valid); `near_duplicate`: each
/// row's near-duplicate indicator (1, 0, NaN) and partner.
#[allow(clippy::too_many_arguments)] // ok: each is a column of the rows
pub fn of_rows(
    input: &Input<'_>,
    straight: &[bool],
    qflags: &[u8],
    valid: Option<&[bool]>,
    near: &super::Near,
    n_levels: usize,
    keep: &dyn Fn(u32) -> bool,
) -> Table {
    let groups = Groups::new(input.community);
    let k = input.n_items.max(1);
    let top = (n_levels.max(1) - 1) as u8;
    let mut table = Table::default();
    let mut local: Vec<(u32, CellStats)> = Vec::new();
    for rows in groups.iter() {
        let c = input.community[rows[0] as usize];
        if !keep(c) {
            continue;
        }
        local.clear();
        let cell_of = |local: &mut Vec<(u32, CellStats)>, iv: u32| -> usize {
            match local.iter().position(|e| e.0 == iv) {
                Some(p) => p,
                None => {
                    local.push((iv, empty_stats()));
                    local.len() - 1
                }
            }
        };
        let log_dur = |i: usize| match input.duration(i) {
            Some(d) if d > 0.0 => d.ln(),
            _ => f64::NAN,
        };
        for &i in rows {
            let i = i as usize;
            let iv = input.interviewer(i).unwrap_or(NONE);
            let p = cell_of(&mut local, iv);
            let s = &mut local[p].1;
            s.rows += 1;
            s.straight += straight.get(i).copied().unwrap_or(false) as u64;
            s.flagged += qflags.get(i).is_some_and(|q| *q != 0) as u64;
            // Bit 0: speeder (`flags::QUESTIONNAIRE_FLAGS`).
            s.speeders += qflags.get(i).is_some_and(|q| q & 1 != 0) as u64;
            s.valid += valid.is_none_or(|v| v[i]) as u64;
            let score = input.score[i];
            if !score.is_nan() {
                s.indicators[0].push(score);
                if valid.is_none_or(|v| v[i]) {
                    s.valid_scores.push(score);
                }
            }
            let (mut cnt, mut sum, mut sq, mut ext) = (0usize, 0.0, 0.0, 0usize);
            for &x in input.answers(i) {
                if x != u8::MAX {
                    let v = x as f64;
                    cnt += 1;
                    sum += v;
                    sq += v * v;
                    ext += (x == 0 || x == top) as usize;
                }
            }
            if cnt >= 2 {
                let m = sum / cnt as f64;
                s.indicators[2].push((sq / cnt as f64 - m * m).max(0.0).sqrt());
            }
            s.indicators[3].push((k - cnt) as f64 / k as f64);
            if cnt > 0 {
                s.indicators[4].push(ext as f64 / cnt as f64);
            }
            let ld = log_dur(i);
            if !ld.is_nan() {
                s.indicators[5].push(ld);
            }
            if let Some(v) = near.mark.get(i)
                && !v.is_nan()
            {
                s.indicators[7].push(*v);
                if let Some(&with) = near.solely.get(i)
                    && *v == 1.0
                    && with != NONE
                {
                    s.add_near_only_with(with, 1);
                }
            }
            let d = input.date[i];
            if d > 0 {
                match s.dates.binary_search_by_key(&d, |e| e.0) {
                    Ok(k) => s.dates[k].1 += 1,
                    Err(k) => s.dates.insert(k, (d, 1)),
                }
            }
        }
        // The spreads: squared deviation from the interviewer's own mean in the
        // community (defined from two values up; not for rows without interviewer).
        let means: Vec<(u32, Option<f64>, Option<f64>)> = local
            .iter()
            .map(|(iv, s)| {
                let own = |m: &Moments| (m.n >= 2).then(|| m.mean());
                (*iv, own(&s.indicators[0]), own(&s.indicators[5]))
            })
            .collect();
        for &i in rows {
            let i = i as usize;
            let Some(iv) = input.interviewer(i) else {
                continue;
            };
            let p = cell_of(&mut local, iv);
            let (_, ms, md) = means[p];
            let score = input.score[i];
            if let (Some(m), false) = (ms, score.is_nan()) {
                local[p].1.indicators[1].push((score - m).powi(2));
            }
            let ld = log_dur(i);
            if let (Some(m), false) = (md, ld.is_nan()) {
                local[p].1.indicators[6].push((ld - m).powi(2));
            }
        }
        for (iv, s) in local.drain(..) {
            table.add(c, iv, &s);
        }
    }
    table
}

/// An indicator's statistics per community and interviewer, as the comparison reads
/// them: community k's cells are `cells[starts[k]..starts[k + 1]]`.
pub struct Cells {
    starts: Vec<usize>,
    cells: Vec<Cell>,
    /// For the near-duplicate indicator: each cell's `near_only_with` (else empty).
    only_with: Vec<Vec<(u32, u64)>>,
}

#[derive(Clone, Copy)]
pub struct Cell {
    pub iv: u32,
    pub m: Moments,
}

impl Cells {
    /// Indicator `k`'s cells of `table` (`same_day`: [`Table::same_day`], for the last).
    pub fn of_table(table: &Table, k: usize, same_day: &[Vec<Moments>]) -> Cells {
        let mut out = Cells {
            starts: vec![0],
            cells: Vec::new(),
            only_with: Vec::new(),
        };
        let near = INDICATORS[k].0 == "near_duplicate";
        for (c, cells) in table.communities.iter().enumerate() {
            for (j, (iv, s)) in cells.iter().enumerate() {
                let m = if k < KEPT {
                    s.indicators[k]
                } else {
                    same_day[c][j]
                };
                if m.n > 0 {
                    out.cells.push(Cell { iv: *iv, m });
                    if near {
                        out.only_with.push(s.near_only_with.clone());
                    }
                }
            }
            out.starts.push(out.cells.len());
        }
        out
    }

    pub fn communities(&self) -> impl Iterator<Item = &[Cell]> {
        self.starts.windows(2).map(|w| &self.cells[w[0]..w[1]])
    }

    /// Each community's cells with their `near_only_with` (empty lists for indicators
    /// other than near-duplicates).
    fn communities_with(&self) -> impl Iterator<Item = (&[Cell], &[Vec<(u32, u64)>])> {
        self.starts.windows(2).map(|w| {
            let only: &[Vec<(u32, u64)>] = if self.only_with.is_empty() {
                &[]
            } else {
                &self.only_with[w[0]..w[1]]
            };
            (&self.cells[w[0]..w[1]], only)
        })
    }
}

/// Per interviewer: (weighted mean difference from peers, its standard error), or None.
/// The peers of an interviewer in a community are the other interviewers' defined
/// values there; the variance is pooled within communities over every questionnaire
/// not of an `excluded` interviewer.
pub fn compare(cells: &Cells, excluded: &[bool]) -> Vec<Option<(f64, f64)>> {
    const FIXED: f64 = 4_294_967_296.0;
    let n_iv = excluded.len();
    let counted = |c: &Cell| c.iv == NONE || !excluded[c.iv as usize];
    // Pooled within-community variance: each community's cells added up (exact).
    let (mut ss, mut dof) = (0.0, 0u64);
    for cs in cells.communities() {
        let mut m = Moments::default();
        for c in cs.iter().filter(|c| counted(c)) {
            m.add(&c.m);
        }
        if m.n > 0 {
            ss += m.m2();
            dof += m.n - 1;
        }
    }
    if dof == 0 || ss <= 0.0 {
        return vec![None; n_iv];
    }
    let s2 = ss / dof as f64;
    // Per interviewer: Σ n_c diff_c, N, Σ n_c² / m_peers.
    let mut acc: Vec<(f64, f64, f64)> = vec![(0.0, 0.0, 0.0); n_iv];
    // Near-duplicates explained by one interviewer alone (`Near::solely`): not counted
    // for their own interviewer when that one is set aside, nor for the peers of that
    // one when it is compared.
    let mut by: rustc_hash::FxHashMap<u32, i128> = Default::default();
    let one = FIXED as i128;
    for (cs, only) in cells.communities_with() {
        let mine = || {
            cs.iter()
                .enumerate()
                .filter(|(_, c)| c.iv != NONE && !excluded[c.iv as usize])
        };
        by.clear();
        let own_sum = |j: usize, c: &Cell| -> i128 {
            let gone: u64 = only
                .get(j)
                .map(|o| {
                    o.iter()
                        .filter(|(i, _)| excluded.get(*i as usize).copied().unwrap_or(false))
                        .map(|e| e.1)
                        .sum()
                })
                .unwrap_or(0);
            c.m.s1 - gone as i128 * one
        };
        for (j, _) in mine() {
            for &(i, n) in only.get(j).map_or(&[][..], |o| o.as_slice()) {
                if !excluded.get(i as usize).copied().unwrap_or(true) {
                    *by.entry(i).or_default() += n as i128 * one;
                }
            }
        }
        let (tot, cnt) = mine().fold((0i128, 0u64), |(t, k), (j, c)| {
            (t + own_sum(j, c), k + c.m.n)
        });
        for (j, c) in mine() {
            let m_peers = cnt - c.m.n;
            if m_peers < 2 {
                continue;
            }
            let n = c.m.n as f64;
            let own = own_sum(j, c);
            let peers = tot - own - by.get(&c.iv).copied().unwrap_or(0);
            let diff = own as f64 / n / FIXED - peers as f64 / m_peers as f64 / FIXED;
            let e = &mut acc[c.iv as usize];
            e.0 += n * diff;
            e.1 += n;
            e.2 += n * n / m_peers as f64;
        }
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

/// What a delivery's summary keeps of its rows for the round's comparison and flags
/// (see [`crate::store::DeliveryCells`]).
pub struct DeliveryRows<'a> {
    pub input: Input<'a>,
    /// The cells of its rows (`quality::compute`).
    pub table: &'a Table,
    /// Per community index of `input`: (street code, community code).
    pub communities: &'a [(String, String)],
}

/// A delivery's cells, its communities and interviewers numbered in the order they
/// first appear in its rows.
pub fn delivery_cells(d: &DeliveryRows<'_>) -> crate::store::DeliveryCells {
    let input = &d.input;
    let n = input.community.len();
    let mut out = crate::store::DeliveryCells {
        algorithm: super::ALGORITHM.to_string(),
        ..Default::default()
    };
    let mut cmap = vec![NONE; d.communities.len()];
    let mut ivmap = vec![NONE; input.interviewer_names.len()];
    for i in 0..n {
        let c = input.community[i] as usize;
        if cmap[c] == NONE {
            cmap[c] = out.communities.len() as u32;
            out.communities.push(d.communities[c].1.clone());
            out.streets.push(d.communities[c].0.clone());
        }
        // (The ingest never names an interviewer with an empty text.)
        if let Some(iv) = input.interviewer(i)
            && ivmap[iv as usize] == NONE
        {
            ivmap[iv as usize] = out.interviewers.len() as u32;
            out.interviewers
                .push(input.interviewer_names[iv as usize].clone());
        }
    }
    let iv_of = |iv: u32| if iv == NONE { NONE } else { ivmap[iv as usize] };
    for (c, cells) in d.table.communities.iter().enumerate() {
        for (iv, s) in cells {
            out.cells.push((cmap[c], iv_of(*iv), s.renumbered(iv_of)));
        }
    }
    out.cells.sort_by_key(|e| (e.0, e.1));
    out
}
