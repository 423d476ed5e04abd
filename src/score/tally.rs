//! The one pass over a round's stored columns that scoring needs: per sampled
//! community its valid respondents' scores and, per item, the count of each answer
//! (exact, so nothing depends on the order rows are read in), on all cores.

use crate::error::{Error, Result};
use crate::rules::Rules;
use polars::prelude::*;

/// What the scores need of each sampled community's valid respondents, gathered in one
/// pass over the stored columns (no copies, no group-by).
pub(super) struct CommunityTally {
    /// Respondent scores in store order.
    pub(super) ys: Vec<f64>,
    /// Per item, per answer of the scale: how many gave it (exact, so item means,
    /// satisfied and answered counts do not depend on the order rows are read in).
    pub(super) counts: Vec<u64>,
}

impl CommunityTally {
    /// (Satisfied answers, answered items) over all items.
    pub(super) fn satisfied_answered(&self, tables: &Tables) -> (u64, u64) {
        let n_scale = tables.scale_scores.len();
        let (mut s, mut a) = (0, 0);
        for (i, c) in self.counts.iter().enumerate() {
            s += c * tables.satisfied[i % n_scale];
            a += c;
        }
        (s, a)
    }

    /// Item k's mean item score and its number of answers (NaN mean when none).
    pub(super) fn item(&self, k: usize, tables: &Tables) -> (f64, usize) {
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

pub(super) struct Tally<'a> {
    pub(super) index: rustc_hash::FxHashMap<&'a str, usize>,
    pub(super) communities: Vec<CommunityTally>,
    pub(super) tables: Tables,
}

/// Per stored answer byte (u8::MAX and codes outside the scale: not answered), what
/// it adds; 0 for not answered, so the sums need no branches.
pub(super) struct Tables {
    /// Per item: [w_k · s(a), w_k].
    pub(super) pair: Vec<[[f64; 2]; 256]>,
    /// s(a) of each answer of the scale.
    pub(super) scale_scores: Vec<f64>,
    /// 1 for each answer of the scale that counts as satisfied, else 0.
    pub(super) satisfied: Vec<u64>,
}

impl Tables {
    pub(super) fn new(rules: &Rules) -> Tables {
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
    pub(super) fn new(rules: &Rules, codes: &[&'a str]) -> Tally<'a> {
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
    pub(super) fn add(&mut self, df: &DataFrame, qids: &[&str]) -> PolarsResult<()> {
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
pub(super) struct Run {
    pub(super) community: u32,
    pub(super) len: usize,
}

/// One chunk's valid respondents of sampled communities, as runs (store order).
pub(super) struct ChunkTally {
    pub(super) runs: Vec<Run>,
    /// Respondent scores, run after run.
    pub(super) ys: Vec<f64>,
    /// Per run, per item, per answer of the scale: how many gave it.
    pub(super) counts: Vec<u64>,
    /// Counts per run (items × answers of the scale).
    pub(super) width: usize,
}

/// Adds to `counts[a]` how many of `answers` are a (u8::MAX and codes past the counts
/// are counted nowhere).
pub(super) fn count_answers(answers: &[u8], counts: &mut [u64]) {
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
pub(super) const BLOCK: usize = 4096;

pub(super) fn tally_chunk(
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
pub(super) const SLICE_ROWS: usize = 1 << 20;

/// Reads `cols` of one stored delivery in slices and tallies them in store order.
pub(super) fn read_tallied(
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

pub(super) fn pe(path: &std::path::Path) -> impl Fn(PolarsError) -> Error + '_ {
    move |e| Error::Polars {
        path: path.to_path_buf(),
        source: e,
    }
}
