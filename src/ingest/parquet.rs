//! The stored form of accepted questionnaires: one Parquet file per delivery, written
//! in row groups built, encoded and compressed on all cores.

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::*;

use crate::error::{Error, Result};
use crate::rules::Rules;

use super::accepted::{Accepted, NA_ITEM, NONE};
use super::quality::Flags;

/// String columns for the store, built as Arrow string views directly: a repeated
/// value's bytes are stored once, and no string is hashed or copied per row.
pub(crate) mod columns {
    use polars::prelude::*;
    use polars_arrow::array::{Utf8ViewArray, View};
    use polars_arrow::bitmap::Bitmap;
    use polars_arrow::datatypes::ArrowDataType;

    pub(crate) fn column(
        name: &str,
        views: Vec<View>,
        buf: Vec<u8>,
        validity: Option<Bitmap>,
    ) -> PolarsResult<Column> {
        let arr = Utf8ViewArray::try_new(
            ArrowDataType::Utf8View,
            views.into(),
            vec![buf.into()].into(),
            validity,
        )?;
        Ok(StringChunked::with_chunk(name.into(), arr).into_column())
    }

    /// `values[index[i]]` per row; null where the index is u32::MAX.
    pub fn dict(name: &str, values: &[&str], index: &[u32]) -> PolarsResult<Column> {
        let mut buf: Vec<u8> = Vec::new();
        let views: Vec<View> = values
            .iter()
            .map(|v| {
                let view = View::new_from_bytes(v.as_bytes(), 0, buf.len() as u32);
                if v.len() > View::MAX_INLINE_SIZE as usize {
                    buf.extend_from_slice(v.as_bytes());
                }
                view
            })
            .collect();
        let null = View::new_inline(b"");
        let rows: Vec<View> = index
            .iter()
            .map(|&i| views.get(i as usize).copied().unwrap_or(null))
            .collect();
        let validity = index
            .iter()
            .any(|&i| i == u32::MAX)
            .then(|| index.iter().map(|&i| i != u32::MAX).collect());
        column(name, rows, buf, validity)
    }

    /// Row i's text is `text[ends[i-1]..ends[i]]`, for the rows in `range`.
    pub fn ids(
        name: &str,
        text: &str,
        ends: &[usize],
        range: std::ops::Range<usize>,
    ) -> PolarsResult<Column> {
        let start = |i: usize| if i == 0 { 0 } else { ends[i - 1] };
        let base = start(range.start);
        let last = if range.is_empty() {
            base
        } else {
            ends[range.end - 1]
        };
        let bytes = &text.as_bytes()[base..last];
        let views: Vec<View> = range
            .map(|i| {
                let (a, b) = (start(i) - base, ends[i] - base);
                View::new_from_bytes(&bytes[a..b], 0, a as u32)
            })
            .collect();
        column(name, views, bytes.to_vec(), None)
    }
}

/// Rows written to Parquet per row group (bounds the memory of the write; several
/// groups let one be built while the one before is encoded).
pub(crate) const CHUNK: usize = 1 << 18;

/// Writes rows 0..n, made by `frame_of(range)`, to one Parquet file in row groups,
/// under a temporary name renamed into place. Row groups are built, encoded and
/// compressed on all cores, and written in order.
pub(crate) fn write_parquet_chunks(
    path: &Path,
    n: usize,
    chunk: usize,
    frame_of: &(dyn Fn(std::ops::Range<usize>) -> Result<DataFrame> + Sync),
) -> Result<String> {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    let pe = |e| Error::Polars {
        path: path.to_path_buf(),
        source: e,
    };
    let tmp = crate::fsutil::temp_beside(path)?;
    let f = tmp.as_file().try_clone().map_err(|e| Error::io(path, e))?;
    let schema = frame_of(0..0)?.schema().clone();
    let hasher = std::sync::Arc::new(std::sync::Mutex::new(<sha2::Sha256 as sha2::Digest>::new()));
    // Snappy: several times faster to write than zstd here, files about twice as
    // large, and every Parquet reader has it.
    let w = ParquetWriter::new(std::io::BufWriter::new(HashingWriter {
        inner: f,
        hasher: hasher.clone(),
    }))
    .with_compression(ParquetCompression::Snappy)
    .batched(&schema)
    .map_err(pe)?;
    let groups = n.div_ceil(chunk.max(1));
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism()
        .map_or(2, |t| t.get())
        .clamp(1, 8)
        .min(groups.max(1));
    std::thread::scope(|s| -> Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel(threads + 2);
        for _ in 0..threads {
            let tx = tx.clone();
            let (w, next) = (&w, &next);
            s.spawn(move || {
                loop {
                    let g = next.fetch_add(1, Relaxed);
                    if g >= groups {
                        return;
                    }
                    let range = g * chunk..((g + 1) * chunk).min(n);
                    let encoded = frame_of(range).and_then(|df| {
                        w.encode_and_compress(&df)
                            .collect::<PolarsResult<Vec<_>>>()
                            .map_err(pe)
                    });
                    if tx.send((g, encoded)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut pending = BTreeMap::new();
        let mut next_write = 0;
        for (g, encoded) in rx {
            pending.insert(g, encoded);
            while let Some(encoded) = pending.remove(&next_write) {
                w.write_row_groups(encoded?).map_err(pe)?;
                next_write += 1;
            }
        }
        Ok(())
    })?;
    w.finish().map_err(pe)?;
    drop(w);
    crate::fsutil::persist(tmp, path)?;
    let h = std::mem::replace(
        &mut *hasher.lock().unwrap_or_else(|e| e.into_inner()),
        <sha2::Sha256 as sha2::Digest>::new(),
    );
    Ok(hex::encode(sha2::Digest::finalize(h)))
}

/// Writes through to the file and hashes what it writes (the stored file's SHA-256
/// for the journal, without reading it back).
struct HashingWriter {
    inner: std::fs::File,
    hasher: std::sync::Arc<std::sync::Mutex<sha2::Sha256>>,
}

impl std::io::Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        sha2::Digest::update(
            &mut *self.hasher.lock().unwrap_or_else(|e| e.into_inner()),
            &buf[..n],
        );
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// What the stored file of a delivery is made from.
pub(crate) struct Delivery<'a> {
    pub(crate) rules: &'a Rules,
    pub(crate) round: &'a str,
    pub(crate) sha256: &'a str,
    pub(crate) acc: &'a Accepted,
    /// (street code, community code) of each index in `acc.community`.
    pub(crate) communities: &'a [(String, String)],
    pub(crate) interviewers: &'a [String],
    pub(crate) modes: &'a [String],
    pub(crate) valid: &'a [bool],
    pub(crate) flags: &'a Flags,
}

/// Writes the accepted questionnaires of a delivery to `path` (one Parquet file, in
/// row groups of CHUNK rows).
pub(crate) fn write_delivery(path: &Path, d: &Delivery<'_>) -> Result<String> {
    let acc = d.acc;
    // Dates as text, once per distinct date; each row's date as an index into them.
    let mut dates: Vec<u32> = acc.date.iter().copied().filter(|d| *d > 0).collect();
    dates.sort_unstable();
    dates.dedup();
    let date_text: Vec<String> = dates
        .iter()
        .map(|d| format!("{:04}-{:02}-{:02}", d / 10000, d / 100 % 100, d % 100))
        .collect();
    let date_index: rustc_hash::FxHashMap<u32, u32> = dates
        .iter()
        .enumerate()
        .map(|(i, d)| (*d, i as u32))
        .collect();
    let date_of: Vec<u32> = acc
        .date
        .iter()
        .map(|d| date_index.get(d).copied().unwrap_or(NONE))
        .collect();
    let street_codes: Vec<&str> = d.communities.iter().map(|c| c.0.as_str()).collect();
    let community_codes: Vec<&str> = d.communities.iter().map(|c| c.1.as_str()).collect();
    fn as_strs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    let (date_strs, iv_strs, mode_strs) = (
        as_strs(&date_text),
        as_strs(d.interviewers),
        as_strs(d.modes),
    );
    let (valid, flags) = (d.valid, d.flags);
    let frame_of = |range: std::ops::Range<usize>| -> Result<DataFrame> {
        let len = range.len();
        let r = range.clone();
        let pe = |e| Error::Polars {
            path: path.to_path_buf(),
            source: e,
        };
        let mut cols: Vec<Column> = vec![
            StringChunked::full("round".into(), d.round, len).into_column(),
            StringChunked::full("delivery".into(), d.sha256, len).into_column(),
            Column::new("line".into(), &acc.line[r.clone()]),
            columns::ids("respondent_id", &acc.id_buf, &acc.id_end, r.clone()).map_err(pe)?,
            columns::dict("street_code", &street_codes, &acc.community[r.clone()]).map_err(pe)?,
            columns::dict(
                "community_code",
                &community_codes,
                &acc.community[r.clone()],
            )
            .map_err(pe)?,
            columns::dict("interview_date", &date_strs, &date_of[r.clone()]).map_err(pe)?,
            columns::dict("interviewer_id", &iv_strs, &acc.interviewer[r.clone()]).map_err(pe)?,
            columns::dict("mode", &mode_strs, &acc.mode[r.clone()]).map_err(pe)?,
            Float64Chunked::from_vec_validity(
                "duration_s".into(),
                acc.duration[r.clone()].to_vec(),
                Some(
                    acc.duration[r.clone()]
                        .iter()
                        .map(|x| !x.is_nan())
                        .collect(),
                ),
            )
            .into_column(),
        ];
        for (k, q) in d.rules.questions.iter().enumerate() {
            let v: Vec<u8> = r.clone().map(|i| acc.items[i * acc.n_items + k]).collect();
            let ok: polars_arrow::bitmap::Bitmap = v.iter().map(|a| *a != NA_ITEM).collect();
            cols.push(
                UInt8Chunked::from_vec_validity(q.id.as_str().into(), v, Some(ok)).into_column(),
            );
        }
        let opt_strings = |name: &str, v: &Vec<Option<String>>| -> Column {
            if v.is_empty() {
                StringChunked::full_null(name.into(), len).into_column()
            } else {
                Column::new(
                    name.into(),
                    v[r.clone()]
                        .iter()
                        .map(|x| x.as_deref())
                        .collect::<Vec<_>>(),
                )
            }
        };
        cols.extend([
            Column::new("answered".into(), &acc.answered[r.clone()]),
            Column::new("valid".into(), &valid[r.clone()]),
            Column::new("flag_speeder".into(), &flags.speeder[r.clone()]),
            Column::new("flag_straightline".into(), &flags.straightline[r.clone()]),
            Column::new(
                "flag_duplicate_pattern".into(),
                &flags.duplicate_pattern[r.clone()],
            ),
            Column::new("flag_too_few_answers".into(), &flags.few_answers[r.clone()]),
            Column::new("flag_interviewer".into(), &flags.interviewer[r.clone()]),
            opt_strings("phone_hash", &acc.phone_hash),
            opt_strings("name_hash", &acc.name_hash),
        ]);
        DataFrame::new(len, cols).map_err(|e| Error::Polars {
            path: path.to_path_buf(),
            source: e,
        })
    };
    write_parquet_chunks(path, acc.len(), CHUNK, &frame_of)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parquet_written_in_row_groups_reads_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.parquet");
        let frame_of = |r: std::ops::Range<usize>| -> Result<DataFrame> {
            let v: Vec<u64> = r.clone().map(|i| i as u64).collect();
            let s: Vec<String> = r.map(|i| format!("id{i}")).collect();
            Ok(DataFrame::new(
                v.len(),
                vec![Column::new("n".into(), v), Column::new("id".into(), s)],
            )
            .unwrap())
        };
        write_parquet_chunks(&path, 10, 3, &frame_of).unwrap();
        let df = crate::store::read_parquet(&path, None).unwrap();
        assert_eq!(df.height(), 10);
        let n: Vec<u64> = df
            .column("n")
            .unwrap()
            .u64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(n, (0..10).collect::<Vec<u64>>());
        assert_eq!(df.column("id").unwrap().str().unwrap().get(9), Some("id9"));
    }
}
