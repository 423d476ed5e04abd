//! Scores of a round (or of several rounds taken together, for a period) from the
//! store: respondents → communities → streets, plus street × question item scores.

use std::collections::BTreeMap;

use super::tally::*;
use crate::error::{Error, Result};
use crate::estimators::{self, CommunityEstimate, CommunityInput, StreetEstimate};
use crate::frame::Frame;
use crate::round::RoundId;
use crate::rules::{Decision, Rules};
use crate::store::Store;
use crate::workspace::Workspace;

#[derive(Debug, Clone)]
pub struct CommunityRow {
    pub street_code: String,
    pub street_name: String,
    pub community_code: String,
    pub community_name: String,
    pub households: Option<u64>,
    /// Rounds in which the community was sampled.
    pub rounds: Vec<String>,
    pub n_valid: usize,
    /// Present only for a scored community (status ok).
    pub est: Option<CommunityEstimate>,
    pub satisfaction_rate: Option<f64>,
    pub below_point: Option<bool>,
    pub below_ci: Option<bool>,
    /// Below the threshold by the rules' decision (point estimate or CI upper bound).
    pub below_threshold: Option<bool>,
    /// ok | insufficient | no-data
    pub status: &'static str,
    /// P(true score < threshold) = F_t((threshold − score)/se; df); None without se.
    pub p_below: Option<f64>,
    /// Valid questionnaires left out by the office's decisions (exclude).
    pub n_excluded: usize,
}

/// Flags of a round no one has decided on yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Undecided {
    pub round: String,
    pub interviewers: usize,
    pub questionnaires: usize,
}

#[derive(Debug, Clone)]
pub struct StreetRow {
    pub street_code: String,
    pub street_name: String,
    /// N_h of the frame.
    pub population: usize,
    pub n_sampled: usize,
    pub n_communities: usize,
    pub n_respondents: usize,
    pub est: Option<StreetEstimate>,
    pub satisfaction_rate: Option<f64>,
    pub communities_below: usize,
    pub note: String,
    /// P(true street score < the street threshold), as for communities.
    pub p_below: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct ItemRow {
    pub street_code: String,
    pub street_name: String,
    pub question: String,
    pub text: String,
    /// Mean over the street's scored communities of the community item means.
    pub score: Option<f64>,
    pub n_answers: usize,
}

/// Scores of one round or of a set of rounds (label: the round or period id).
#[derive(Debug, Clone)]
pub struct Scores {
    pub label: String,
    pub rounds: Vec<String>,
    pub communities: Vec<CommunityRow>,
    pub streets: Vec<StreetRow>,
    pub items: Vec<ItemRow>,
    pub respondents_valid: usize,
    /// The exclusions in force in these rounds, with the questionnaires each took out.
    pub exclusions: Vec<crate::flags::Exclusion>,
    /// Per round: flags still undecided.
    pub undecided: Vec<Undecided>,
}

/// Scores `rounds` taken together: their samples' union is the set of communities
/// (each counts once; under full coverage a year's rounds are a census of communities).
/// `manyi score --round R`: the round's scores; an error naming the deliveries looked
/// at when not one valid questionnaire is stored for the round.
pub fn score_round(
    ws: &Workspace,
    rules: &Rules,
    frame: &Frame,
    round: &RoundId,
) -> Result<Scores> {
    let scores = score_rounds(ws, rules, frame, &[*round], &round.to_string())?;
    if scores.respondents_valid == 0 {
        let store = Store::new(ws);
        let index = store.read_index()?;
        let looked: Vec<String> = store
            .deliveries(&index, round)
            .iter()
            .map(|d| format!("{} ({} accepted)", d.file_name, d.accepted))
            .collect();
        return Err(Error::Invalid(if looked.is_empty() {
            format!(
                "round {round} has no valid questionnaire: no delivery is stored for it; ingest the evaluators' files first (`manyi ingest FILE --round {round}`)"
            )
        } else {
            format!(
                "round {round} has no valid questionnaire in its deliveries: {}",
                looked.join(", ")
            )
        }));
    }
    Ok(scores)
}

pub fn score_rounds(
    ws: &Workspace,
    rules: &Rules,
    frame: &Frame,
    rounds: &[RoundId],
    label: &str,
) -> Result<Scores> {
    let mut clock = crate::timings::Phases::new();
    let store = Store::new(ws);
    let index = store.read_index()?;
    let mut sampled: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in rounds {
        for code in crate::sample::load_sample_codes(ws, r)?.0 {
            sampled.entry(code).or_default().push(r.to_string());
        }
    }
    let qids: Vec<&str> = rules.questions.iter().map(|q| q.id.as_str()).collect();
    let mut cols = vec!["community_code", "valid"];
    cols.extend(qids.iter().copied());
    let labels: Vec<&str> = rules
        .scale
        .answers
        .iter()
        .map(|a| a.label.as_str())
        .collect();
    let codes: Vec<&str> = sampled.keys().map(String::as_str).collect();
    let mut tally = Tally::new(rules, &codes);
    clock.lap("samples and index");
    let read = read_rounds(
        ws, &store, &index, rules, rounds, &labels, &cols, &qids, &mut tally,
    )?;
    clock.lap("parquet read and tally");
    let (communities, comm_items, respondents_valid) =
        community_rows(rules, frame, &sampled, &tally, &read.n_excluded)?;
    let (streets, items) = street_rows(rules, frame, &communities, &comm_items);
    clock.lap("estimates");
    clock.report(&format!("score {label}"));
    Ok(Scores {
        label: label.to_string(),
        rounds: rounds.iter().map(|r| r.to_string()).collect(),
        communities,
        streets,
        items,
        respondents_valid,
        exclusions: read.exclusions,
        undecided: read.undecided,
    })
}

/// What reading a set of rounds gave besides the tally: the exclusions in force, the
/// undecided flags per round, and the valid questionnaires excluded per community.
struct Read {
    exclusions: Vec<crate::flags::Exclusion>,
    undecided: Vec<Undecided>,
    n_excluded: BTreeMap<String, usize>,
}

/// Reads the rounds' active deliveries into `tally` (the exclusions in force masked out).
#[allow(clippy::too_many_arguments)] // ok: the pieces of one pass, each used once
fn read_rounds(
    ws: &Workspace,
    store: &Store,
    index: &crate::store::Index,
    rules: &Rules,
    rounds: &[RoundId],
    labels: &[&str],
    cols: &[&str],
    qids: &[&str],
    tally: &mut Tally,
) -> Result<Read> {
    let mut exclusions = Vec::new();
    let mut undecided = Vec::new();
    let mut n_excluded: BTreeMap<String, usize> = BTreeMap::new();
    for r in rounds {
        // The round's flags over its active deliveries, and the office's exclusions.
        let (interviewers, questionnaires) = crate::flags::undecided(ws, store, index, r, rules)?;
        undecided.push(Undecided {
            round: r.to_string(),
            interviewers,
            questionnaires,
        });
        let data = if crate::flags::any_exclusion(index, &r.to_string()) {
            crate::flags::RoundData::load_ids(store, index, r)?
        } else {
            Default::default()
        };
        let ex = crate::flags::excluded(&data, index, &r.to_string());
        drop(data);
        for (c, n) in &ex.per_community {
            *n_excluded.entry(c.clone()).or_default() += n;
        }
        let any_excluded = !ex.exclusions.is_empty();
        exclusions.extend(ex.exclusions);
        for (k, d) in store.deliveries(index, r).into_iter().enumerate() {
            if d.scale != labels {
                return Err(Error::Invalid(format!(
                    "delivery {} was stored with the scale {:?}, the rules now have {:?}; re-ingest it",
                    d.file_name, d.scale, labels
                )));
            }
            let path = store.dir.join(&d.data);
            let mask = ex.masks.get(k).filter(|_| any_excluded).map(Vec::as_slice);
            read_tallied(&path, cols, tally, qids, SLICE_ROWS, mask)?;
        }
    }
    Ok(Read {
        exclusions,
        undecided,
        n_excluded,
    })
}

/// The community rows of the sampled communities from the tally, with each scored
/// community's item means (question order) and the number of valid questionnaires.
#[allow(clippy::type_complexity)] // ok: three results of one pass, named at the call
fn community_rows(
    rules: &Rules,
    frame: &Frame,
    sampled: &BTreeMap<String, Vec<String>>,
    tally: &Tally,
    n_excluded: &BTreeMap<String, usize>,
) -> Result<(
    Vec<CommunityRow>,
    BTreeMap<String, Vec<(f64, usize)>>,
    usize,
)> {
    let n_items = rules.questions.len();
    let thr = &rules.threshold;
    let min_valid = rules.validity.min_valid_per_community;
    let mut communities = Vec::new();
    let mut comm_items: BTreeMap<String, Vec<(f64, usize)>> = BTreeMap::new();
    let mut respondents_valid = 0;
    for (code, in_rounds) in sampled {
        let Some(c) = frame.community(code) else {
            return Err(Error::Invalid(format!(
                "sampled community {code} is not in the frame"
            )));
        };
        let t = &tally.communities[tally.index[code.as_str()]];
        let ys = &t.ys;
        respondents_valid += ys.len();
        let status = if ys.is_empty() {
            "no-data"
        } else if ys.len() < min_valid {
            "insufficient"
        } else {
            "ok"
        };
        let est = if status == "ok" {
            estimators::community(ys, c.households, thr.confidence)
        } else {
            None
        };
        let (s, a) = t.satisfied_answered(&tally.tables);
        let satisfaction_rate = (status == "ok" && a > 0).then(|| s as f64 / a as f64);
        let below_point = est.as_ref().map(|e| e.mean < thr.community_score);
        let p_below = est
            .as_ref()
            .and_then(|e| estimators::p_below(e.mean, e.se, e.df, thr.community_score));
        let below_ci = est
            .as_ref()
            .map(|e| e.ci.map(|ci| ci.1 < thr.community_score).unwrap_or(false));
        let below_threshold = match thr.decision {
            Decision::Point => below_point,
            Decision::CiUpper => below_ci,
        };
        if status == "ok" {
            let per_item: Vec<(f64, usize)> =
                (0..n_items).map(|k| t.item(k, &tally.tables)).collect();
            comm_items.insert(code.clone(), per_item);
        }
        communities.push(CommunityRow {
            n_excluded: n_excluded.get(code).copied().unwrap_or(0),
            street_code: c.street_code.clone(),
            street_name: c.street_name.clone(),
            community_code: code.clone(),
            community_name: c.name.clone(),
            households: c.households,
            rounds: in_rounds.clone(),
            n_valid: ys.len(),
            est,
            satisfaction_rate,
            below_point,
            below_ci,
            below_threshold,
            status,
            p_below,
        });
    }
    Ok((communities, comm_items, respondents_valid))
}

/// The street rows (the stratified estimate over each street's scored communities) and
/// the street × question item rows.
fn street_rows(
    rules: &Rules,
    frame: &Frame,
    communities: &[CommunityRow],
    comm_items: &BTreeMap<String, Vec<(f64, usize)>>,
) -> (Vec<StreetRow>, Vec<ItemRow>) {
    let thr = &rules.threshold;
    let mut streets = Vec::new();
    let mut items = Vec::new();
    for (scode, st) in &frame.streets {
        let rows: Vec<&CommunityRow> = communities
            .iter()
            .filter(|c| &c.street_code == scode)
            .collect();
        if rows.is_empty() {
            continue;
        }
        let used: Vec<&CommunityRow> = rows.iter().copied().filter(|c| c.est.is_some()).collect();
        let inputs: Vec<CommunityInput> = used
            .iter()
            .map(|c| {
                let e = c.est.as_ref().expect("filtered on est"); // ok: `used` keeps rows with an estimate
                CommunityInput {
                    mean: e.mean,
                    m: e.n,
                    variance: e.variance,
                    households: c.households,
                }
            })
            .collect();
        let est = estimators::street(&inputs, st.communities.len(), thr.confidence);
        let rates: Vec<f64> = used.iter().filter_map(|c| c.satisfaction_rate).collect();
        let mut note = est.as_ref().map(|e| e.note.clone()).unwrap_or_default();
        let left_out: Vec<String> = rows
            .iter()
            .filter(|c| c.est.is_none())
            .map(|c| {
                format!(
                    "{} ({})",
                    c.community_name,
                    if c.status == "no-data" {
                        "no data"
                    } else {
                        "insufficient sample"
                    }
                )
            })
            .collect();
        if !left_out.is_empty() {
            if !note.is_empty() {
                note.push_str("; ");
            }
            note.push_str(&format!("left out: {}", left_out.join(", ")));
        }
        if est.is_none() {
            note = format!("no community could be scored; {note}");
        }
        let p_below = est
            .as_ref()
            .and_then(|e| estimators::p_below(e.mean, e.se, e.df, thr.street_score_below));
        streets.push(StreetRow {
            p_below,
            street_code: scode.clone(),
            street_name: st.name.clone(),
            population: st.communities.len(),
            n_sampled: rows.len(),
            n_communities: used.len(),
            n_respondents: used.iter().map(|c| c.n_valid).sum(),
            est,
            satisfaction_rate: estimators::mean(&rates),
            communities_below: used
                .iter()
                .filter(|c| c.below_threshold == Some(true))
                .count(),
            note,
        });
        for (k, q) in rules.questions.iter().enumerate() {
            let per: Vec<(f64, usize)> = used
                .iter()
                .filter_map(|c| comm_items.get(&c.community_code))
                .map(|v| v[k])
                .filter(|(m, _)| m.is_finite())
                .collect();
            let means: Vec<f64> = per.iter().map(|p| p.0).collect();
            items.push(ItemRow {
                street_code: scode.clone(),
                street_name: st.name.clone(),
                question: q.id.clone(),
                text: q.text.clone(),
                score: estimators::mean(&means),
                n_answers: per.iter().map(|p| p.1).sum(),
            });
        }
    }
    (streets, items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    fn rules() -> Rules {
        Rules::parse(Rules::shipped("panlong-2018").unwrap(), "panlong-2018.toml").unwrap()
    }

    #[test]
    fn answers_are_counted_exactly_for_small_and_large_scales() {
        let mut x = 12345u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for n_scale in [1usize, 5, 8, 9, 12] {
            for len in [0usize, 1, 254, 255, 256, 1000] {
                let answers: Vec<u8> = (0..len)
                    .map(|_| match next() % 10 {
                        0 => u8::MAX,
                        1 => 200,
                        v => (v % 13) as u8,
                    })
                    .collect();
                let mut counts = vec![7u64; n_scale];
                count_answers(&answers, &mut counts);
                for (a, c) in counts.iter().enumerate() {
                    let plain = answers.iter().filter(|&&x| x as usize == a).count() as u64;
                    assert_eq!(*c, 7 + plain, "scale {n_scale}, {len} rows, answer {a}");
                }
            }
        }
    }

    /// The tally reads the arrays directly (validity bitmaps at any offset, chunks of
    /// any size, several threads): the same rows in other chunks give the same tally.
    #[test]
    fn the_tally_does_not_depend_on_chunks_or_offsets() {
        let rules = rules();
        let qids: Vec<&str> = rules.questions.iter().map(|q| q.id.as_str()).collect();
        let n = 3001;
        let codes = ["A", "B", "C", "Z"];
        let mut cols = vec![
            Column::new(
                "community_code".into(),
                (0..n).map(|i| codes[(i / 97) % 4]).collect::<Vec<_>>(),
            ),
            Column::new(
                "valid".into(),
                (0..n).map(|i| i % 31 != 0).collect::<Vec<_>>(),
            ),
        ];
        for (k, q) in qids.iter().enumerate() {
            let v: Vec<Option<u8>> = (0..n)
                .map(|i| match (i * 7 + k * 3) % 23 {
                    0 => None,
                    1 => Some(9), // outside the scale: not answered
                    r => Some((r % 5) as u8),
                })
                .collect();
            cols.push(Column::new((*q).into(), v));
        }
        let whole = DataFrame::new(n, cols).unwrap();
        let mut pieces = whole.slice(0, 5);
        for (start, len) in [(5, 1000), (1005, 3), (1008, 1993)] {
            pieces.vstack_mut(&whole.slice(start as i64, len)).unwrap();
        }
        assert!(pieces.first_col_n_chunks() > 1);
        let sampled = ["A", "B", "C"];
        let mut a = Tally::new(&rules, &sampled);
        a.add(&whole, &qids).unwrap();
        let mut b = Tally::new(&rules, &sampled);
        b.add(&pieces, &qids).unwrap();
        // And read back from Parquet (row groups of 500) in slices of 7 rows.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.parquet");
        let mut df = whole.clone();
        ParquetWriter::new(std::fs::File::create(&path).unwrap())
            .with_row_group_size(Some(500))
            .finish(&mut df)
            .unwrap();
        let mut c = Tally::new(&rules, &sampled);
        let mut cols = vec!["community_code", "valid"];
        cols.extend(qids.iter().copied());
        read_tallied(&path, &cols, &mut c, &qids, 7, None).unwrap();
        for ((ta, tb), tc) in a.communities.iter().zip(&b.communities).zip(&c.communities) {
            assert!(!ta.ys.is_empty());
            assert_eq!(ta.ys, tb.ys);
            assert_eq!(ta.counts, tb.counts);
            assert_eq!(ta.ys, tc.ys);
            assert_eq!(ta.counts, tc.counts);
        }
        // And by hand for one respondent: row 1 is A, valid.
        let row = 1;
        let (mut num, mut den) = (0.0, 0.0);
        for (k, q) in rules.questions.iter().enumerate() {
            let r = (row * 7 + k * 3) % 23;
            if r >= 2 {
                num += q.weight * rules.scale.answers[r % 5].score;
                den += q.weight;
            }
        }
        assert_eq!(a.communities[0].ys[0], num / den);
        let total: usize = a.communities.iter().map(|t| t.ys.len()).sum();
        let expect = (0..n).filter(|i| i % 31 != 0 && (i / 97) % 4 != 3).count();
        assert_eq!(total, expect);
    }
}
