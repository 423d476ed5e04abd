//! Scores of a round (or of several rounds taken together, for a period) from the
//! store: respondents → communities → streets, plus street × question item scores.

use std::collections::BTreeMap;

use polars::prelude::*;

use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::round::RoundId;
use crate::rules::{Decision, Rules};
use crate::score::estimators::{self, CommunityEstimate, CommunityInput, StreetEstimate};
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
}

fn pe(path: &std::path::Path) -> impl Fn(PolarsError) -> Error + '_ {
    move |e| Error::Polars {
        path: path.to_path_buf(),
        source: e,
    }
}

/// Scores `rounds` taken together: their samples' union is the set of communities
/// (each counts once; under full coverage a year's rounds are a census of communities).
pub fn score_rounds(
    ws: &Workspace,
    rules: &Rules,
    frame: &Frame,
    rounds: &[RoundId],
    label: &str,
) -> Result<Scores> {
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
    let mut df: Option<DataFrame> = None;
    for r in rounds {
        for d in store.deliveries(&index, r) {
            let labels: Vec<&str> = rules
                .scale
                .answers
                .iter()
                .map(|a| a.label.as_str())
                .collect();
            if d.scale != labels {
                return Err(Error::Invalid(format!(
                    "delivery {} was stored with the scale {:?}, the rules now have {:?}; re-ingest it",
                    d.file_name, d.scale, labels
                )));
            }
        }
        if let Some(part) = store.load_round(&index, r, Some(&cols))? {
            df = Some(match df {
                None => part,
                Some(mut acc) => {
                    acc.vstack_mut(&part).map_err(pe(&store.dir))?;
                    acc
                }
            });
        }
    }
    let df = match df {
        Some(d) => d,
        None => DataFrame::empty(),
    };
    let path = store.dir.clone();
    // Per valid respondent: score, satisfied and answered item counts, and the item
    // answers (u8::MAX = not answered); then respondents grouped by community with a
    // polars group-by on the stored column.
    let n_items = qids.len();
    let item_score: Vec<f64> = rules.scale.answers.iter().map(|a| a.score).collect();
    let mut scores: Vec<f64> = Vec::new();
    let mut sat: Vec<u32> = Vec::new();
    let mut answered: Vec<u32> = Vec::new();
    let mut items: Vec<Vec<u8>> = Vec::new();
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    if df.height() > 0 {
        let valid = df
            .column("valid")
            .map_err(pe(&path))?
            .bool()
            .map_err(pe(&path))?
            .clone();
        let df = df.filter(&valid).map_err(pe(&path))?;
        let n = df.height();
        let weights: Vec<f64> = rules.questions.iter().map(|q| q.weight).collect();
        let satisfied: Vec<bool> = rules
            .scale
            .answers
            .iter()
            .map(|a| rules.scale.satisfied.contains(&a.label))
            .collect();
        for q in &qids {
            // Nulls become u8::MAX; the values are copied a chunk at a time.
            let col = df
                .column(q)
                .map_err(pe(&path))?
                .u8()
                .map_err(pe(&path))?
                .fill_null_with_values(u8::MAX)
                .map_err(pe(&path))?;
            let mut v: Vec<u8> = Vec::with_capacity(n);
            for arr in col.downcast_iter() {
                v.extend_from_slice(arr.values());
            }
            for a in v.iter_mut() {
                if (*a as usize) >= item_score.len() {
                    *a = u8::MAX;
                }
            }
            items.push(v);
        }
        // One row-major pass: each respondent's sums stay in registers.
        scores = Vec::with_capacity(n);
        sat = Vec::with_capacity(n);
        answered = Vec::with_capacity(n);
        for i in 0..n {
            let (mut num, mut den, mut s, mut a_n) = (0.0, 0.0, 0u32, 0u32);
            for (k, col) in items.iter().enumerate() {
                let a = col[i];
                if a != u8::MAX {
                    let a = a as usize;
                    num += weights[k] * item_score[a];
                    den += weights[k];
                    s += satisfied[a] as u32;
                    a_n += 1;
                }
            }
            scores.push(num / den);
            sat.push(s);
            answered.push(a_n);
        }
        let codes = df
            .column("community_code")
            .map_err(pe(&path))?
            .str()
            .map_err(pe(&path))?
            .clone();
        let gb = df.group_by(["community_code"]).map_err(pe(&path))?;
        for g in gb.get_groups().iter() {
            let idx: Vec<usize> = match g {
                GroupsIndicator::Idx((_, all)) => all.iter().map(|i| *i as usize).collect(),
                GroupsIndicator::Slice([first, len]) => {
                    (first as usize..(first + len) as usize).collect()
                }
            };
            if let Some(code) = idx.first().and_then(|&i0| codes.get(i0)) {
                groups.insert(code.to_string(), idx);
            }
        }
    }
    let thr = &rules.threshold;
    let min_valid = rules.validity.min_valid_per_community;
    let mut communities = Vec::new();
    let mut comm_items: BTreeMap<String, Vec<(f64, usize)>> = BTreeMap::new();
    let mut respondents_valid = 0;
    for (code, in_rounds) in &sampled {
        let Some(c) = frame.community(code) else {
            return Err(Error::Invalid(format!(
                "sampled community {code} is not in the frame"
            )));
        };
        let idx = groups.get(code).cloned().unwrap_or_default();
        let ys: Vec<f64> = idx.iter().map(|&i| scores[i]).collect();
        respondents_valid += ys.len();
        let status = if ys.is_empty() {
            "no-data"
        } else if ys.len() < min_valid {
            "insufficient"
        } else {
            "ok"
        };
        let est = if status == "ok" {
            estimators::community(&ys, c.households, thr.confidence)
        } else {
            None
        };
        let (s, a): (u64, u64) = idx.iter().fold((0, 0), |acc, &i| {
            (acc.0 + sat[i] as u64, acc.1 + answered[i] as u64)
        });
        let satisfaction_rate = (status == "ok" && a > 0).then(|| s as f64 / a as f64);
        let below_point = est.as_ref().map(|e| e.mean < thr.community_score);
        let below_ci = est
            .as_ref()
            .map(|e| e.ci.map(|ci| ci.1 < thr.community_score).unwrap_or(false));
        let below_threshold = match thr.decision {
            Decision::Point => below_point,
            Decision::CiUpper => below_ci,
        };
        if status == "ok" {
            let per_item: Vec<(f64, usize)> = (0..n_items)
                .map(|k| {
                    let (sum, cnt) = idx.iter().fold((0.0, 0usize), |acc, &i| match items[k][i] {
                        u8::MAX => acc,
                        a => (acc.0 + item_score[a as usize], acc.1 + 1),
                    });
                    (if cnt > 0 { sum / cnt as f64 } else { f64::NAN }, cnt)
                })
                .collect();
            comm_items.insert(code.clone(), per_item);
        }
        communities.push(CommunityRow {
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
        });
    }
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
                let e = c.est.as_ref().expect("filtered on est");
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
        streets.push(StreetRow {
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
    Ok(Scores {
        label: label.to_string(),
        rounds: rounds.iter().map(|r| r.to_string()).collect(),
        communities,
        streets,
        items,
        respondents_valid,
    })
}

fn num(x: Option<f64>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

/// score, se, ci_low, ci_high, df: full precision, empty where undefined.
fn estimate_cells(e: Option<(f64, Option<f64>, Option<(f64, f64)>, Option<f64>)>) -> [String; 5] {
    let (mean, se, ci, df) = match e {
        Some((m, se, ci, df)) => (Some(m), se, ci, df),
        None => (None, None, None, None),
    };
    [
        num(mean),
        num(se),
        num(ci.map(|c| c.0)),
        num(ci.map(|c| c.1)),
        num(df),
    ]
}

fn flag(x: Option<bool>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

fn csv_bytes(header: &[&str], rows: Vec<Vec<String>>) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(header);
    for r in rows {
        let _ = w.write_record(
            r.iter()
                .map(|c| crate::fsutil::neutralise_cell(c).into_owned()),
        );
    }
    w.into_inner().unwrap_or_default()
}

impl Scores {
    pub fn community_csv(&self) -> Vec<u8> {
        let rows = self
            .communities
            .iter()
            .map(|c| {
                let e = c.est.as_ref();
                vec![
                    self.label.clone(),
                    c.street_code.clone(),
                    c.street_name.clone(),
                    c.community_code.clone(),
                    c.community_name.clone(),
                    c.n_valid.to_string(),
                ]
                .into_iter()
                .chain(estimate_cells(e.map(|e| (e.mean, e.se, e.ci, e.df))))
                .chain([
                    num(c.satisfaction_rate),
                    flag(c.below_threshold),
                    c.status.to_string(),
                ])
                .collect()
            })
            .collect();
        csv_bytes(
            &[
                "round",
                "street_code",
                "street_name",
                "community_code",
                "community_name",
                "n_valid",
                "score",
                "se",
                "ci_low",
                "ci_high",
                "df",
                "satisfaction_rate",
                "below_threshold",
                "status",
            ],
            rows,
        )
    }

    pub fn street_csv(&self) -> Vec<u8> {
        let rows = self
            .streets
            .iter()
            .map(|s| {
                let e = s.est.as_ref();
                vec![
                    self.label.clone(),
                    s.street_code.clone(),
                    s.street_name.clone(),
                    s.n_sampled.to_string(),
                    s.n_communities.to_string(),
                    s.n_respondents.to_string(),
                ]
                .into_iter()
                .chain(estimate_cells(e.map(|e| (e.mean, e.se, e.ci, e.df))))
                .chain([
                    num(s.satisfaction_rate),
                    s.communities_below.to_string(),
                    s.note.clone(),
                ])
                .collect()
            })
            .collect();
        csv_bytes(
            &[
                "round",
                "street_code",
                "street_name",
                "n_sampled",
                "n_communities",
                "n_respondents",
                "score",
                "se",
                "ci_low",
                "ci_high",
                "df",
                "satisfaction_rate",
                "communities_below",
                "note",
            ],
            rows,
        )
    }

    pub fn item_csv(&self) -> Vec<u8> {
        let rows = self
            .items
            .iter()
            .map(|i| {
                vec![
                    self.label.clone(),
                    i.street_code.clone(),
                    i.street_name.clone(),
                    i.question.clone(),
                    i.text.clone(),
                    num(i.score),
                    i.n_answers.to_string(),
                ]
            })
            .collect();
        csv_bytes(
            &[
                "round",
                "street_code",
                "street_name",
                "question",
                "text",
                "score",
                "n_answers",
            ],
            rows,
        )
    }

    /// Writes the three CSVs under `reports/<label>/`.
    pub fn write(&self, ws: &Workspace) -> Result<Vec<std::path::PathBuf>> {
        let dir = ws.reports_dir().join(&self.label);
        let files = [
            ("community_scores.csv", self.community_csv()),
            ("street_scores.csv", self.street_csv()),
            ("item_scores.csv", self.item_csv()),
        ];
        let mut out = Vec::new();
        for (name, bytes) in files {
            let p = dir.join(name);
            crate::fsutil::write_atomic(&p, &bytes)?;
            out.push(p);
        }
        Ok(out)
    }
}
