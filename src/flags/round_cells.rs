//! What a round's flags are computed from ([`RoundCells`]): the cells of its
//! communities × interviewers, from the rows or from the deliveries' summaries, and
//! the interviewer comparison, the sensitivity and the counts made over them.

use std::collections::{BTreeMap, HashMap};

use super::data::{Interned, RoundData, intern};
use super::{Computed, InterviewerRow, Sensitivity};
use crate::error::Result;
use crate::ingest::quality;
use crate::round::RoundId;
use crate::rules::Rules;
use crate::store::{Index, Store};

/// What a round's flags are computed from: the cells of its communities ×
/// interviewers, which interviewer delivered in which delivery, and the flagged
/// questionnaires. Made from the rows ([`RoundCells::of_rows`]) or from the
/// deliveries' summaries ([`RoundCells::of_summaries`]): the same, bit for bit.
pub(super) struct RoundCells {
    pub(super) deliveries: Vec<(String, String)>,
    pub(super) community_codes: Vec<String>,
    /// The street of each community code.
    pub(super) streets: HashMap<String, String>,
    pub(super) interviewer_names: Vec<String>,
    pub(super) table: quality::Table,
    /// Per interviewer index: the deliveries (indices) their questionnaires came in.
    pub(super) iv_deliveries: Vec<std::collections::BTreeSet<u32>>,
    pub(super) questionnaires_read: usize,
}

impl RoundCells {
    /// The round's cells now: from the summaries, else (a store from before their
    /// cells) from the rows.
    pub(super) fn now(
        store: &Store,
        index: &Index,
        round: &RoundId,
        rules: &Rules,
    ) -> Result<RoundCells> {
        Ok(match Self::of_summaries(store, index, round, rules)? {
            Some(rc) => rc,
            None => Self::of_rows(&RoundData::load(store, index, round, rules)?, rules),
        })
    }

    /// An interviewer index's name; "" for u32::MAX, the questionnaires without one
    /// (the only index that names no one).
    pub(super) fn name_of(&self, iv: u32) -> &str {
        self.interviewer_names
            .get(iv as usize)
            .map_or("", String::as_str)
    }

    fn of_rows(data: &RoundData, rules: &Rules) -> RoundCells {
        let input = input_of(data);
        let straight: Vec<bool> = data.qflags.iter().map(|q| q & 2 != 0).collect();
        // (Made again from the answers: the stored marks do not say whose partners
        // they are.)
        let near = quality::near_duplicates_where(&input, &|_| true);
        let table = quality::cells::of_rows(
            &input,
            &straight,
            &data.qflags,
            Some(&data.valid),
            &near,
            rules.scale.answers.len(),
            &|_| true,
        );
        let mut iv_deliveries =
            vec![std::collections::BTreeSet::new(); data.interviewer_names.len()];
        for i in 0..data.len() {
            if let Some(s) = iv_deliveries.get_mut(data.interviewer[i] as usize) {
                s.insert(data.delivery[i]);
            }
        }
        RoundCells {
            deliveries: data.deliveries.clone(),
            community_codes: data.community_codes.clone(),
            streets: data.streets.clone(),
            interviewer_names: data.interviewer_names.clone(),
            table,
            iv_deliveries,
            questionnaires_read: data.len(),
        }
    }

    /// From the active deliveries' summaries; the communities that several deliveries
    /// share are made again from those deliveries' rows (their near-duplicates and
    /// the interviewers' own means span deliveries). None when a summary has no cells
    /// of this comparison (a store from before them): then the rows decide.
    fn of_summaries(
        store: &Store,
        index: &Index,
        round: &RoundId,
        rules: &Rules,
    ) -> Result<Option<RoundCells>> {
        let dels = store.deliveries(index, round);
        let mut sums = Vec::with_capacity(dels.len());
        for d in &dels {
            if d.summary.is_none() {
                return Ok(None);
            }
            match store.summary(d)?.cells {
                Some(c) if c.algorithm == quality::ALGORITHM => sums.push(c),
                _ => return Ok(None),
            }
        }
        let mut ix = Interned::default();
        let mut rc = RoundCells {
            deliveries: dels
                .iter()
                .map(|d| (d.sha256.clone(), d.file_name.clone()))
                .collect(),
            community_codes: Vec::new(),
            streets: HashMap::new(),
            interviewer_names: Vec::new(),
            table: quality::Table::default(),
            iv_deliveries: Vec::new(),
            questionnaires_read: 0,
        };
        // Global numbers in store order of first appearance, as the rows give them.
        let mut maps: Vec<(Vec<u32>, Vec<u32>)> = Vec::with_capacity(sums.len());
        let mut seen_in: Vec<u32> = Vec::new();
        let mut shared: Vec<bool> = Vec::new();
        for (k, c) in sums.iter().enumerate() {
            let cm: Vec<u32> = c
                .communities
                .iter()
                .zip(&c.streets)
                .map(|(code, street)| {
                    let g = intern(&mut ix.communities, &mut rc.community_codes, code);
                    rc.streets
                        .entry(code.clone())
                        .or_insert_with(|| street.clone());
                    if seen_in.len() <= g as usize {
                        seen_in.resize(g as usize + 1, u32::MAX);
                        shared.resize(g as usize + 1, false);
                    }
                    if seen_in[g as usize] == u32::MAX {
                        seen_in[g as usize] = k as u32;
                    } else if seen_in[g as usize] != k as u32 {
                        shared[g as usize] = true;
                    }
                    g
                })
                .collect();
            let im: Vec<u32> = c
                .interviewers
                .iter()
                .map(|name| intern(&mut ix.interviewers, &mut rc.interviewer_names, name))
                .collect();
            maps.push((cm, im));
        }
        rc.iv_deliveries = vec![Default::default(); rc.interviewer_names.len()];
        let iv_of = |im: &[u32], iv: u32| {
            if iv == u32::MAX {
                u32::MAX
            } else {
                im[iv as usize]
            }
        };
        for (k, (c, (cm, im))) in sums.iter().zip(&maps).enumerate() {
            rc.questionnaires_read += c.cells.iter().map(|e| e.2.rows as usize).sum::<usize>();
            for (lc, liv, s) in &c.cells {
                let (g, giv) = (cm[*lc as usize], iv_of(im, *liv));
                if giv != u32::MAX && s.rows > 0 {
                    rc.iv_deliveries[giv as usize].insert(k as u32);
                }
                if !shared[g as usize] {
                    rc.table.add(g, giv, &s.renumbered(|i| iv_of(im, i)));
                }
            }
        }
        // The shared communities, from the rows of the deliveries that have them.
        if shared.iter().any(|s| *s) {
            let which: Vec<usize> = sums
                .iter()
                .zip(&maps)
                .enumerate()
                .filter(|(_, (_, (cm, _)))| cm.iter().any(|g| shared[*g as usize]))
                .map(|(k, _)| k)
                .collect();
            let data = RoundData::load_some(store, index, round, rules, Some(&which))?;
            let input = input_of(&data);
            let keep_code: Vec<bool> = data
                .community_codes
                .iter()
                .map(|code| {
                    ix.communities
                        .get(code)
                        .is_some_and(|g| shared[*g as usize])
                })
                .collect();
            let straight: Vec<bool> = data.qflags.iter().map(|q| q & 2 != 0).collect();
            // (NaN marks for all with fewer than three items.)
            let near = quality::near_duplicates_where(&input, &|c| keep_code[c as usize]);
            let part = quality::cells::of_rows(
                &input,
                &straight,
                &data.qflags,
                Some(&data.valid),
                &near,
                rules.scale.answers.len(),
                &|c| keep_code[c as usize],
            );
            for (lc, cells) in part.communities.iter().enumerate() {
                if cells.is_empty() {
                    continue;
                }
                let g = ix.communities[&data.community_codes[lc]];
                let global = |liv: u32| {
                    if liv == u32::MAX {
                        u32::MAX
                    } else {
                        ix.interviewers[&data.interviewer_names[liv as usize]]
                    }
                };
                for (liv, s) in cells {
                    rc.table.add(g, global(*liv), &s.renumbered(global));
                }
            }
        }
        Ok(Some(rc))
    }
}

pub(super) fn input_of(data: &RoundData) -> quality::Input<'_> {
    quality::Input {
        community: &data.community,
        interviewer: &data.interviewer,
        interviewer_names: &data.interviewer_names,
        duration: &data.duration,
        score: &data.score,
        items: &data.items,
        n_items: data.n_items,
        answered: &data.answered,
        date: &data.date,
    }
}

/// The interviewer comparison and the flags list over a round's cells.
pub(super) fn finish(
    rc: RoundCells,
    round: &str,
    rules: &Rules,
    callbacks: Option<&crate::callbacks::RoundCallbacks>,
) -> Computed {
    let mut flagged = quality::flags_of_table(&rc.table, &rc.interviewer_names, rules);
    // Callback evidence joins the flags: an interviewer whose verifications fail
    // significantly is flagged whatever the indicators say.
    let by_callbacks: BTreeMap<&str, &crate::callbacks::InterviewerCallbacks> = callbacks
        .map(|c| {
            c.interviewers
                .iter()
                .map(|e| (e.interviewer_id.as_str(), e))
                .collect()
        })
        .unwrap_or_default();
    for e in by_callbacks.values().filter(|e| e.flagged()) {
        match flagged
            .iter_mut()
            .find(|f| f.interviewer_id == e.interviewer_id)
        {
            Some(f) => f.reason_codes.push("callbacks".into()),
            None => {
                let questionnaires = rc
                    .interviewer_names
                    .iter()
                    .position(|n| n == &e.interviewer_id)
                    .map_or(0, |iv| {
                        rc.table
                            .communities
                            .iter()
                            .flat_map(|cells| cells.iter())
                            .filter(|(v, _)| *v as usize == iv)
                            .map(|(_, s)| s.rows as usize)
                            .sum()
                    });
                flagged.push(quality::InterviewerFlag {
                    interviewer_id: e.interviewer_id.clone(),
                    questionnaires,
                    score_difference: 0.0,
                    score_z: 0.0,
                    duration_ratio: None,
                    duration_z: None,
                    straightline_share: 0.0,
                    reasons: Vec::new(),
                    reason_codes: vec!["callbacks".into()],
                    p_value: None,
                    indicators: Vec::new(),
                })
            }
        }
    }
    let iv_index: HashMap<&str, u32> = rc
        .interviewer_names
        .iter()
        .enumerate()
        .map(|(k, n)| (n.as_str(), k as u32))
        .collect();
    let interviewers: Vec<InterviewerRow> = flagged
        .into_iter()
        .map(|f| {
            let iv = iv_index.get(f.interviewer_id.as_str()).copied();
            let communities = iv.map_or(0, |iv| {
                rc.table
                    .communities
                    .iter()
                    .filter(|cells| cells.iter().any(|(v, s)| *v == iv && s.rows > 0))
                    .count()
            });
            // ok: a flagged interviewer always has an index; none, no deliveries to name.
            let dels = iv
                .and_then(|iv| rc.iv_deliveries.get(iv as usize))
                .cloned()
                .unwrap_or_default();
            let mut signals = super::Signals::default();
            for cells in &rc.table.communities {
                for (v, st) in cells {
                    if Some(*v) == iv {
                        signals.flagged += st.flagged;
                        signals.speeders += st.speeders;
                        signals.straightlined += st.straight;
                        signals.invalid += st.rows.saturating_sub(st.valid);
                    }
                }
            }
            InterviewerRow {
                decision: None,
                callbacks: by_callbacks
                    .get(f.interviewer_id.as_str())
                    .map(|e| (*e).clone()),
                signals,
                communities,
                deliveries: dels
                    .iter()
                    .map(|k| rc.deliveries[*k as usize].1.clone())
                    .collect(),
                sensitivity: sensitivity(&rc, iv),
                interviewer_id: f.interviewer_id,
                questionnaires: f.questionnaires,
                score_difference: f.score_difference,
                score_z: f.score_z,
                duration_ratio: f.duration_ratio,
                duration_z: f.duration_z,
                straightline_share: f.straightline_share,
                reason_codes: f.reason_codes,
                p_value: f.p_value,
                indicators: f.indicators,
            }
        })
        .collect();
    let mut flagged_by_interviewer: BTreeMap<String, u64> = BTreeMap::new();
    for cells in &rc.table.communities {
        for (iv, s) in cells {
            if s.flagged > 0 {
                *flagged_by_interviewer
                    .entry(rc.name_of(*iv).to_string())
                    .or_default() += s.flagged;
            }
        }
    }
    Computed {
        round: round.to_string(),
        questionnaires_read: rc.questionnaires_read,
        interviewers,
        flagged_by_interviewer,
    }
}

/// Community means of valid questionnaires' scores with and without interviewer `iv`,
/// and for each street the change of the mean over its communities in the round.
fn sensitivity(rc: &RoundCells, iv: Option<u32>) -> Sensitivity {
    let Some(iv) = iv else {
        return Sensitivity::default();
    };
    // ok: every community of the cells has its street (from its delivery); "" only
    // groups a community whose street was not stored, as the rows did.
    let street_of = |code: &str| rc.streets.get(code).cloned().unwrap_or_default();
    let mut out = Sensitivity::default();
    // Per street: (sum with, count with, sum without, count without) of community means.
    let mut streets: BTreeMap<String, (f64, usize, f64, usize)> = BTreeMap::new();
    for (c, cells) in rc.table.communities.iter().enumerate() {
        let mut all = crate::estimators::Moments::default();
        let mut theirs = crate::estimators::Moments::default();
        for (v, s) in cells {
            all.add(&s.valid_scores);
            if *v == iv {
                theirs = s.valid_scores;
            }
        }
        if all.n == 0 {
            continue;
        }
        let with = all.mean();
        let mut rest = all;
        rest.sub(&theirs);
        let without = (rest.n > 0).then(|| rest.mean());
        let code = &rc.community_codes[c];
        let e = streets.entry(street_of(code)).or_default();
        e.0 += with;
        e.1 += 1;
        if let Some(w) = without {
            e.2 += w;
            e.3 += 1;
        }
        if theirs.n > 0 {
            out.communities.push((code.clone(), with, without));
        }
    }
    let touched: std::collections::BTreeSet<String> =
        out.communities.iter().map(|c| street_of(&c.0)).collect();
    for s in touched {
        let (a, na, b, nb) = streets[&s];
        if na > 0 && nb > 0 {
            out.streets.push((s, b / nb as f64 - a / na as f64));
        }
    }
    out
}
