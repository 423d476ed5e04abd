//! Scores of a round (or of several rounds taken together, for a period) from the
//! store: respondents → communities → streets, plus street × question item scores.

use std::collections::BTreeMap;

use polars::prelude::*;

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

/// What the scores need of each sampled community's valid respondents, gathered in one
/// pass over the stored columns (no copies, no group-by).
struct CommunityTally {
    /// Respondent scores in store order.
    ys: Vec<f64>,
    /// Per item, per answer of the scale: how many gave it (exact, so item means,
    /// satisfied and answered counts do not depend on the order rows are read in).
    counts: Vec<u64>,
}

impl CommunityTally {
    /// (Satisfied answers, answered items) over all items.
    fn satisfied_answered(&self, tables: &Tables) -> (u64, u64) {
        let n_scale = tables.scale_scores.len();
        let (mut s, mut a) = (0, 0);
        for (i, c) in self.counts.iter().enumerate() {
            s += c * tables.satisfied[i % n_scale];
            a += c;
        }
        (s, a)
    }

    /// Item k's mean item score and its number of answers (NaN mean when none).
    fn item(&self, k: usize, tables: &Tables) -> (f64, usize) {
        let n_scale = tables.scale_scores.len();
        let c = &self.counts[k * n_scale..(k + 1) * n_scale];
        let n: u64 = c.iter().sum();
        let sum: f64 = c
            .iter()
            .zip(&tables.scale_scores)
            .map(|(&c, s)| c as f64 * s)
            .sum();
        (if n > 0 { sum / n as f64 } else { f64::NAN }, n as usize)
    }
}

struct Tally<'a> {
    index: rustc_hash::FxHashMap<&'a str, usize>,
    communities: Vec<CommunityTally>,
    tables: Tables,
}

/// Per stored answer byte (u8::MAX and codes outside the scale: not answered), what
/// it adds; 0 for not answered, so the sums need no branches.
struct Tables {
    /// Per item: [w_k · s(a), w_k].
    pair: Vec<[[f64; 2]; 256]>,
    /// s(a) of each answer of the scale.
    scale_scores: Vec<f64>,
    /// 1 for each answer of the scale that counts as satisfied, else 0.
    satisfied: Vec<u64>,
}

impl Tables {
    fn new(rules: &Rules) -> Tables {
        let answers = &rules.scale.answers;
        let per_item = |f: &dyn Fn(f64, f64) -> f64| -> Vec<[f64; 256]> {
            rules
                .questions
                .iter()
                .map(|q| {
                    let mut t = [0.0; 256];
                    for (a, ans) in answers.iter().enumerate().take(255) {
                        t[a] = f(q.weight, ans.score);
                    }
                    t
                })
                .collect()
        };
        let (wscore, weight) = (per_item(&|w, s| w * s), per_item(&|w, _| w));
        Tables {
            pair: wscore
                .iter()
                .zip(&weight)
                .map(|(x, y)| std::array::from_fn(|a| [x[a], y[a]]))
                .collect(),
            scale_scores: answers.iter().take(255).map(|a| a.score).collect(),
            satisfied: answers
                .iter()
                .take(255)
                .map(|a| rules.scale.satisfied.contains(&a.label) as u64)
                .collect(),
        }
    }
}

impl<'a> Tally<'a> {
    fn new(rules: &Rules, codes: &[&'a str]) -> Tally<'a> {
        let n_items = rules.questions.len();
        Tally {
            index: codes.iter().enumerate().map(|(i, c)| (*c, i)).collect(),
            communities: codes
                .iter()
                .map(|_| CommunityTally {
                    ys: Vec::new(),
                    counts: vec![0; n_items * rules.scale.answers.len().min(255)],
                })
                .collect(),
            tables: Tables::new(rules),
        }
    }

    /// Adds the valid respondents of one stored delivery (columns community_code,
    /// valid and the items). Its chunks (row groups) are tallied on all cores, then
    /// merged in store order, so the result does not depend on the number of threads.
    fn add(&mut self, df: &DataFrame, qids: &[&str]) -> PolarsResult<()> {
        use polars_arrow::array::{BooleanArray, PrimitiveArray, Utf8ViewArray};
        let mut df = df.clone();
        df.align_chunks_par();
        let codes: Vec<&Utf8ViewArray> = df
            .column("community_code")?
            .str()?
            .downcast_iter()
            .collect();
        let valid: Vec<&BooleanArray> = df.column("valid")?.bool()?.downcast_iter().collect();
        let mut items: Vec<Vec<&PrimitiveArray<u8>>> = vec![Vec::new(); codes.len()];
        for q in qids {
            for (c, arr) in df.column(q)?.u8()?.downcast_iter().enumerate() {
                items[c].push(arr);
            }
        }
        let n = codes.len();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let outs: std::sync::Mutex<Vec<Option<ChunkTally>>> =
            std::sync::Mutex::new((0..n).map(|_| None).collect());
        let threads = std::thread::available_parallelism()
            .map_or(2, |t| t.get())
            .clamp(1, 8)
            .min(n.max(1));
        let (index, tables) = (&self.index, &self.tables);
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    loop {
                        let c = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if c >= n {
                            return;
                        }
                        let out = tally_chunk(index, tables, codes[c], valid[c], &items[c]);
                        outs.lock().unwrap_or_else(|e| e.into_inner())[c] = Some(out);
                    }
                });
            }
        });
        for out in outs
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .into_iter()
            .flatten()
        {
            let mut y = 0;
            let width = out.width;
            for (r, run) in out.runs.iter().enumerate() {
                let t = &mut self.communities[run.community as usize];
                t.ys.extend_from_slice(&out.ys[y..y + run.len]);
                y += run.len;
                for (c, add) in t
                    .counts
                    .iter_mut()
                    .zip(&out.counts[r * width..(r + 1) * width])
                {
                    *c += add;
                }
            }
        }
        Ok(())
    }
}

/// Rows of one community in a row, within a chunk.
struct Run {
    community: u32,
    len: usize,
}

/// One chunk's valid respondents of sampled communities, as runs (store order).
struct ChunkTally {
    runs: Vec<Run>,
    /// Respondent scores, run after run.
    ys: Vec<f64>,
    /// Per run, per item, per answer of the scale: how many gave it.
    counts: Vec<u64>,
    /// Counts per run (items × answers of the scale).
    width: usize,
}

/// Adds to `counts[a]` how many of `answers` are a (u8::MAX and codes past the counts
/// are counted nowhere).
fn count_answers(answers: &[u8], counts: &mut [u64]) {
    for part in answers.chunks(255) {
        for (a, c) in counts.iter_mut().enumerate() {
            let a = a as u8;
            // Byte counters (at most 255 rows a part): compiled to vector compares.
            *c += part
                .iter()
                .fold(0u8, |n, &x| n.wrapping_add((x == a) as u8)) as u64;
        }
    }
}

/// Rows scored at a time (their sums stay in the cache).
const BLOCK: usize = 4096;

fn tally_chunk(
    index: &rustc_hash::FxHashMap<&str, usize>,
    tables: &Tables,
    codes: &polars_arrow::array::Utf8ViewArray,
    valid: &polars_arrow::array::BooleanArray,
    items: &[&polars_arrow::array::PrimitiveArray<u8>],
) -> ChunkTally {
    use polars_arrow::array::Array as _;
    const NONE: u32 = u32::MAX;
    let len = codes.len();
    let n_items = items.len();
    // Each row's community (NONE: invalid, or not a sampled community). The row
    // before's community is found by its 16-byte view: equal views are equal strings
    // (the same bytes inline, or the same place in a buffer).
    let mut comm = vec![NONE; len];
    let views = codes.views();
    let vals = valid.values();
    let mut last: Option<(u128, u32)> = None;
    for (i, c) in comm.iter_mut().enumerate() {
        if !vals.get_bit(i) || !valid.is_valid(i) {
            continue;
        }
        let view = views[i].as_u128();
        *c = match last {
            Some((l, ci)) if l == view => ci,
            _ => {
                let ci = if codes.is_valid(i) {
                    index.get(codes.value(i)).map_or(NONE, |&x| x as u32)
                } else {
                    NONE
                };
                last = Some((view, ci));
                ci
            }
        };
    }
    let n_scale = tables.scale_scores.len();
    let width = n_items * n_scale;
    let mut out = ChunkTally {
        runs: Vec::new(),
        ys: Vec::with_capacity(len),
        counts: Vec::new(),
        width,
    };
    let mut cols = vec![vec![0u8; BLOCK]; n_items];
    let (mut num, mut den) = (vec![0.0f64; BLOCK], vec![0.0f64; BLOCK]);

    let mut start = 0;
    while start < len {
        let end = (start + BLOCK).min(len);
        let bl = end - start;
        // Answers as bytes, u8::MAX = not answered (null, or a code outside the scale).
        for (k, arr) in items.iter().enumerate() {
            let col = &mut cols[k][..bl];
            for (d, &a) in col.iter_mut().zip(&arr.values()[start..end]) {
                *d = a;
            }
            if let Some(bits) = arr.validity()
                && bits.unset_bits() > 0
            {
                let (bytes, offset, _) = bits.as_slice();
                let first = offset + start;
                if first % 8 == 0 {
                    // Eight rows per validity byte: a byte mask sets the nulls to u8::MAX.
                    let bytes = &bytes[first / 8..];
                    for (c8, &b) in col.chunks_mut(8).zip(bytes) {
                        for (j, d) in c8.iter_mut().enumerate() {
                            // bit 1 → |= 0; bit 0 → |= 0xFF (no branch).
                            *d |= ((b >> j) & 1).wrapping_sub(1);
                        }
                    }
                } else {
                    for (r, d) in col.iter_mut().enumerate() {
                        if !bits.get_bit(start + r) {
                            *d = u8::MAX;
                        }
                    }
                }
            }
        }
        // Respondent scores: Σ w_k s(a_k) / Σ w_k over answered items, in item order.
        num[..bl].fill(0.0);
        den[..bl].fill(0.0);
        // Two items a pass (the sums still add item after item).
        let mut k = 0;
        while k + 1 < n_items {
            let (t1, t2) = (&tables.pair[k], &tables.pair[k + 1]);
            let (c1, c2) = (&cols[k][..bl], &cols[k + 1][..bl]);
            for (((n, d), &a1), &a2) in num[..bl]
                .iter_mut()
                .zip(den[..bl].iter_mut())
                .zip(c1)
                .zip(c2)
            {
                let ([x1, y1], [x2, y2]) = (t1[a1 as usize], t2[a2 as usize]);
                *n = *n + x1 + x2;
                *d = *d + y1 + y2;
            }
            k += 2;
        }
        if k < n_items {
            let t = &tables.pair[k];
            for ((n, d), &a) in num[..bl]
                .iter_mut()
                .zip(den[..bl].iter_mut())
                .zip(&cols[k][..bl])
            {
                let [x, y] = t[a as usize];
                *n += x;
                *d += y;
            }
        }
        // Runs of one community (a run may go on from the block before).
        let mut r = 0;
        while r < bl {
            let ci = comm[start + r];
            let mut e = r + 1;
            while e < bl && comm[start + e] == ci {
                e += 1;
            }
            if ci != NONE {
                let continues = start > 0
                    && r == 0
                    && comm[start - 1] == ci
                    && out.runs.last().is_some_and(|l| l.community == ci);
                if !continues {
                    out.runs.push(Run {
                        community: ci,
                        len: 0,
                    });
                    out.counts.extend(std::iter::repeat_n(0, width));
                }
                let ri = out.runs.len() - 1;
                out.runs[ri].len += e - r;
                out.ys.extend((r..e).map(|x| num[x] / den[x]));
                let counts = &mut out.counts[ri * width..(ri + 1) * width];
                for (k, col) in cols.iter().enumerate() {
                    count_answers(&col[r..e], &mut counts[k * n_scale..(k + 1) * n_scale]);
                }
            }
            r = e;
        }
        start = end;
    }
    out
}

/// Rows read from a stored delivery at a time: the next slice is decoded while the
/// one before is tallied.
const SLICE_ROWS: usize = 1 << 20;

/// Reads `cols` of one stored delivery in slices and tallies them in store order.
fn read_tallied(
    path: &std::path::Path,
    cols: &[&str],
    tally: &mut Tally<'_>,
    qids: &[&str],
    slice_rows: usize,
    excluded: Option<&[bool]>,
) -> Result<()> {
    let slice_rows = slice_rows.max(1);
    let open = || std::fs::File::open(path).map_err(|e| Error::io(path, e));
    let rows = ParquetReader::new(open()?).num_rows().map_err(pe(path))?;
    let columns: Vec<String> = cols.iter().map(|c| c.to_string()).collect();
    std::thread::scope(|s| -> Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<DataFrame>>(1);
        let columns = &columns;
        s.spawn(move || {
            let mut offset = 0;
            loop {
                let len = slice_rows.min(rows - offset);
                let df = open().and_then(|f| {
                    ParquetReader::new(f)
                        .with_columns(Some(columns.clone()))
                        .with_slice(Some((offset, len)))
                        .finish()
                        .map_err(pe(path))
                });
                offset += len;
                if tx.send(df).is_err() || offset >= rows {
                    return;
                }
            }
        });
        let mut at = 0usize;
        for df in rx {
            let mut df = df?;
            let len = df.height();
            if let Some(mask) = excluded {
                // The office's exclusions: those rows count as not valid.
                let keep = mask.get(at..at + len).ok_or_else(|| {
                    Error::Internal(format!(
                        "{}: the exclusion mask has {} rows, the file more",
                        path.display(),
                        mask.len()
                    ))
                })?;
                let valid = df
                    .column("valid")
                    .and_then(|c| c.bool())
                    .map_err(pe(path))?;
                let now: BooleanChunked = valid
                    .iter()
                    .zip(keep)
                    .map(|(v, x)| v.map(|v| v && !*x))
                    .collect();
                df.with_column(now.with_name("valid".into()).into_column())
                    .map_err(pe(path))?;
            }
            at += len;
            tally.add(&df, qids).map_err(pe(path))?;
        }
        Ok(())
    })
}

fn pe(path: &std::path::Path) -> impl Fn(PolarsError) -> Error + '_ {
    move |e| Error::Polars {
        path: path.to_path_buf(),
        source: e,
    }
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
    let mut exclusions = Vec::new();
    let mut undecided = Vec::new();
    let mut n_excluded: BTreeMap<String, usize> = BTreeMap::new();
    for r in rounds {
        // The round's flags over its active deliveries, and the office's exclusions.
        let (interviewers, questionnaires) =
            crate::flags::cached(ws, &store, &index, r, rules)?.undecided(&index);
        undecided.push(Undecided {
            round: r.to_string(),
            interviewers,
            questionnaires,
        });
        let data = if crate::flags::any_exclusion(&index, &r.to_string()) {
            crate::flags::RoundData::load_ids(&store, &index, r)?
        } else {
            Default::default()
        };
        let ex = crate::flags::excluded(&data, &index, &r.to_string());
        drop(data);
        for (c, n) in &ex.per_community {
            *n_excluded.entry(c.clone()).or_default() += n;
        }
        let any_excluded = !ex.exclusions.is_empty();
        exclusions.extend(ex.exclusions);
        for (k, d) in store.deliveries(&index, r).into_iter().enumerate() {
            if d.scale != labels {
                return Err(Error::Invalid(format!(
                    "delivery {} was stored with the scale {:?}, the rules now have {:?}; re-ingest it",
                    d.file_name, d.scale, labels
                )));
            }
            let path = store.dir.join(&d.data);
            let mask = ex.masks.get(k).filter(|_| any_excluded).map(Vec::as_slice);
            read_tallied(&path, &cols, &mut tally, &qids, SLICE_ROWS, mask)?;
        }
    }
    clock.lap("parquet read and tally");
    let n_items = qids.len();
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
    clock.lap("estimates");
    clock.report(&format!("score {label}"));
    Ok(Scores {
        label: label.to_string(),
        rounds: rounds.iter().map(|r| r.to_string()).collect(),
        communities,
        streets,
        items,
        respondents_valid,
        exclusions,
        undecided,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
