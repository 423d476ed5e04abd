//! A round's questionnaires read back from the store ([`RoundData`]): what the flags
//! computed from rows, the exclusions and the decisions need.

use std::collections::HashMap;

use polars::prelude::DataFrame;

use super::QUESTIONNAIRE_FLAGS;
use crate::error::{Error, Result};
use crate::round::RoundId;
use crate::rules::Rules;
use crate::store::{Index, Store};

/// The codes seen so far across a round's deliveries, each with its index.
#[derive(Default)]
pub(super) struct Interned {
    pub(super) communities: rustc_hash::FxHashMap<String, u32>,
    pub(super) interviewers: rustc_hash::FxHashMap<String, u32>,
}

/// Interns a code: a lookup by &str, allocating only for a new one.
pub(super) fn intern(
    ix: &mut rustc_hash::FxHashMap<String, u32>,
    names: &mut Vec<String>,
    v: &str,
) -> u32 {
    if let Some(k) = ix.get(v) {
        return *k;
    }
    let k = names.len() as u32;
    ix.insert(v.to_string(), k);
    names.push(v.to_string());
    k
}

/// Every questionnaire of a round's active deliveries, as the flags and the
/// exclusions need them (store order: delivery by delivery, rows in file order).
#[derive(Debug, Default)]
pub struct RoundData {
    /// (sha256, file name) per active delivery.
    pub deliveries: Vec<(String, String)>,
    /// Rows per delivery.
    pub rows: Vec<usize>,
    pub delivery: Vec<u32>,
    pub line: Vec<u64>,
    id_buf: String,
    id_end: Vec<usize>,
    pub community: Vec<u32>,
    pub community_codes: Vec<String>,
    pub interviewer: Vec<u32>,
    pub interviewer_names: Vec<String>,
    pub duration: Vec<f64>,
    pub score: Vec<f64>,
    pub items: Vec<u8>,
    pub n_items: usize,
    pub answered: Vec<u8>,
    /// yyyymmdd, 0 when not given.
    pub date: Vec<u32>,
    /// The street of each community code seen.
    pub streets: HashMap<String, String>,
    pub valid: Vec<bool>,
    /// Bit k: QUESTIONNAIRE_FLAGS[k].
    pub qflags: Vec<u8>,
}

impl RoundData {
    pub fn len(&self) -> usize {
        self.id_end.len()
    }
    pub fn is_empty(&self) -> bool {
        self.id_end.is_empty()
    }
    pub fn respondent(&self, i: usize) -> &str {
        let a = if i == 0 { 0 } else { self.id_end[i - 1] };
        &self.id_buf[a..self.id_end[i]]
    }
    pub(super) fn interviewer_name(&self, i: usize) -> Option<&str> {
        self.interviewer_names
            .get(self.interviewer[i] as usize)
            .map(String::as_str)
    }

    /// Reads only what decisions need (respondent and interviewer ids, validity,
    /// community) of the round's active deliveries.
    pub fn load_ids(store: &Store, index: &Index, round: &RoundId) -> Result<RoundData> {
        let cols = ["respondent_id", "interviewer_id", "valid", "community_code"];
        let mut d = RoundData::default();
        let mut ix = Interned::default();
        for (k, del) in store.deliveries(index, round).into_iter().enumerate() {
            let path = store.dir.join(&del.data);
            let df = crate::store::read_parquet(&path, Some(&cols))?;
            d.push_ids(&df, k, del, &mut ix, &path)?;
        }
        Ok(d)
    }

    /// Appends one delivery's respondent ids, communities, interviewers and validity.
    fn push_ids(
        &mut self,
        df: &DataFrame,
        k: usize,
        del: &crate::store::DeliveryEntry,
        ix: &mut Interned,
        path: &std::path::Path,
    ) -> Result<()> {
        let pe = |e| Error::Polars {
            path: path.to_path_buf(),
            source: e,
        };
        let str_col = |name: &str| df.column(name).and_then(|c| c.str()).map_err(pe);
        let n = df.height();
        self.deliveries
            .push((del.sha256.clone(), del.file_name.clone()));
        self.rows.push(n);
        self.delivery.extend(std::iter::repeat_n(k as u32, n));
        for id in str_col("respondent_id")?.iter() {
            self.id_buf.push_str(id.unwrap_or(""));
            self.id_end.push(self.id_buf.len());
        }
        // Rows of a community come together: the last code is looked up once.
        let mut last: Option<(String, u32)> = None;
        for c in str_col("community_code")?.iter() {
            let c = c.unwrap_or("");
            let i = match &last {
                Some((v, i)) if v == c => *i,
                _ => {
                    let i = intern(&mut ix.communities, &mut self.community_codes, c);
                    last = Some((c.to_string(), i));
                    i
                }
            };
            self.community.push(i);
        }
        for iv in str_col("interviewer_id")?.iter() {
            self.interviewer.push(match iv {
                None | Some("") => u32::MAX,
                Some(v) => intern(&mut ix.interviewers, &mut self.interviewer_names, v),
            });
        }
        let valid = df.column("valid").and_then(|c| c.bool()).map_err(pe)?;
        self.valid.extend(valid.iter().map(|v| v.unwrap_or(false)));
        Ok(())
    }

    /// Reads the round's active deliveries from the store.
    pub fn load(store: &Store, index: &Index, round: &RoundId, rules: &Rules) -> Result<RoundData> {
        Self::load_some(store, index, round, rules, None)
    }

    /// Reads the round's active deliveries at positions `which` (in store order; None:
    /// all of them).
    pub fn load_some(
        store: &Store,
        index: &Index,
        round: &RoundId,
        rules: &Rules,
        which: Option<&[usize]>,
    ) -> Result<RoundData> {
        let qids: Vec<&str> = rules.questions.iter().map(|q| q.id.as_str()).collect();
        let item_scores: Vec<f64> = rules.scale.answers.iter().map(|a| a.score).collect();
        let mut cols: Vec<&str> = vec![
            "line",
            "respondent_id",
            "community_code",
            "interviewer_id",
            "duration_s",
            "answered",
            "valid",
            "interview_date",
            "street_code",
        ];
        cols.extend(QUESTIONNAIRE_FLAGS.iter().map(|f| f.0));
        cols.extend(qids.iter().copied());
        let mut d = RoundData {
            n_items: qids.len(),
            ..Default::default()
        };
        let mut ix = Interned::default();
        let dels: Vec<_> = store
            .deliveries(index, round)
            .into_iter()
            .enumerate()
            .filter(|(k, _)| which.is_none_or(|w| w.contains(k)))
            .map(|(_, d)| d)
            .collect();
        for (k, del) in dels.into_iter().enumerate() {
            let path = store.dir.join(&del.data);
            let mut clock = crate::timings::Phases::new();
            let mut df = crate::store::read_parquet(&path, Some(&cols))?;
            df.rechunk_mut();
            clock.lap("parquet");
            let pe = |e| Error::Polars {
                path: path.clone(),
                source: e,
            };
            let n = df.height();
            d.push_ids(&df, k, del, &mut ix, &path)?;
            let line = df.column("line").and_then(|c| c.u64()).map_err(pe)?;
            d.line.extend(line.into_no_null_iter());
            let dur = df.column("duration_s").and_then(|c| c.f64()).map_err(pe)?;
            d.duration.extend(dur.iter().map(|v| v.unwrap_or(f64::NAN)));
            let ans = df.column("answered").and_then(|c| c.u8()).map_err(pe)?;
            d.answered.extend(ans.iter().map(|v| v.unwrap_or(0)));
            let sc = df.column("street_code").and_then(|c| c.str()).map_err(pe)?;
            let cc = df
                .column("community_code")
                .and_then(|c| c.str())
                .map_err(pe)?;
            let mut last_c: Option<String> = None;
            for (s, c) in sc.iter().zip(cc.iter()) {
                let c = c.unwrap_or("");
                if last_c.as_deref() != Some(c) {
                    d.streets
                        .entry(c.to_string())
                        .or_insert_with(|| s.unwrap_or("").to_string());
                    last_c = Some(c.to_string());
                }
            }
            let dates = df
                .column("interview_date")
                .and_then(|c| c.str())
                .map_err(pe)?;
            let mut last: Option<(String, u32)> = None;
            for v in dates.iter() {
                let v = v.unwrap_or("");
                let x = match &last {
                    Some((t, x)) if t == v => *x,
                    _ => {
                        // Stored as YYYY-MM-DD (ingest writes them so).
                        let x = v.replace('-', "").parse::<u32>().unwrap_or(0);
                        last = Some((v.to_string(), x));
                        x
                    }
                };
                d.date.push(x);
            }
            let mut q = vec![0u8; n];
            for (b, (name, _)) in QUESTIONNAIRE_FLAGS.iter().enumerate() {
                let c = df.column(name).and_then(|c| c.bool()).map_err(pe)?;
                for (i, v) in c.iter().enumerate() {
                    q[i] |= (v.unwrap_or(false) as u8) << b;
                }
            }
            d.qflags.extend(q);
            clock.lap("ids, codes, flags");
            let base = d.items.len();
            d.items.resize(base + n * d.n_items, u8::MAX);
            for (k, id) in qids.iter().enumerate() {
                let col = df.column(id).and_then(|c| c.u8()).map_err(pe)?;
                let mut i = 0;
                for arr in col.downcast_iter() {
                    use polars_arrow::array::Array as _;
                    let vals = arr.values();
                    for (j, v) in vals.iter().enumerate() {
                        if arr.is_valid(j) {
                            d.items[base + (i + j) * d.n_items + k] = *v;
                        }
                    }
                    i += vals.len();
                }
            }
            let weights: Vec<f64> = rules.questions.iter().map(|q| q.weight).collect();
            for row in d.items[base..].chunks_exact(d.n_items.max(1)).take(n) {
                // u8::MAX (not answered) is past the scale (at most 254 answers).
                d.score.push(
                    crate::estimators::respondent_score(
                        weights
                            .iter()
                            .zip(row)
                            .map(|(w, a)| (*w, item_scores.get(*a as usize).copied())),
                    )
                    .unwrap_or(f64::NAN),
                );
            }
            clock.lap("items and scores");
            clock.report("round data");
        }
        Ok(d)
    }
}
