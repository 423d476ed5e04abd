//! The pipeline of one delivery: a reader thread splits the file into batches,
//! checker threads (one per core) run the row checks, and the merger puts their results
//! together in file order (repeated ids, dictionaries, the rejects file, progress).

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};

use super::Options;
use super::accepted::{Accepted, Dict, NONE, id_hash};
use super::check::{ACCEPTED, Context, Part, check_batch};
use super::normalise::{Col, HeaderMap};
use super::read;
use super::receipt::{Reject, RejectSink, RowFault};
use crate::messages::Fault;
use crate::store::Store;

/// What a checker hands the merger, in file order by sequence number.
pub(crate) enum Checked {
    Part(Box<Part>),
    Fail(Error),
    End { trailing_blank: u64 },
}

pub(crate) struct State {
    pub(crate) header: Option<HeaderMap>,
    pub(crate) rows_read: u64,
    pub(crate) blank: u64,
    pub(crate) acc: Accepted,
    pub(crate) rejects: RejectSink,
    /// Rows by respondent id, for repeats within the file: an index into `acc`, or
    /// REJECTED | an index into `rejected_ids`.
    pub(crate) seen: hashbrown::HashTable<u32>,
    pub(crate) interviewers: Dict,
    pub(crate) modes: Dict,
    /// Frame community index → index into `communities`, or NONE.
    pub(crate) community_local: Vec<u32>,
    /// (street code, community code) by index.
    pub(crate) communities: Vec<(String, String)>,
    /// Ids and lines of rejected rows that had an id (first occurrences only).
    pub(crate) rejected_ids: Vec<(String, u64)>,
}

/// Marks an entry of `State::seen` that is a rejected row.
const REJECTED: u32 = 1 << 31;

/// The id of a `State::seen` entry (every hash of the table goes through here).
fn seen_id<'a>(acc: &'a Accepted, rejected: &'a [(String, u64)], e: u32) -> &'a str {
    if e & REJECTED != 0 {
        &rejected[(e & !REJECTED) as usize].0
    } else {
        acc.id(e as usize)
    }
}

/// Sets `stop` when dropped: a merger that returns or panics releases the reader and
/// the checkers (which would otherwise wait for permits or sends forever).
struct StopOnDrop<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl State {
    /// The line of the first row with `id`, or None (and `id` is recorded as `v`).
    fn first_seen(&mut self, id: &str, v: u32) -> Option<u64> {
        let hash = id_hash(id);
        let found = self
            .seen
            .find(hash, |&e| seen_id(&self.acc, &self.rejected_ids, e) == id)
            .copied();
        match found {
            Some(e) if e & REJECTED != 0 => Some(self.rejected_ids[(e & !REJECTED) as usize].1),
            Some(e) => Some(self.acc.line[e as usize]),
            None => {
                let (acc, rej) = (&self.acc, &self.rejected_ids);
                self.seen
                    .insert_unique(hash, v, |&e| id_hash(seen_id(acc, rej, e)));
                None
            }
        }
    }

    /// What the quality flags are computed from.
    pub(crate) fn quality_input(&self) -> super::quality::Input<'_> {
        let acc = &self.acc;
        super::quality::Input {
            community: &acc.community,
            interviewer: &acc.interviewer,
            interviewer_names: &self.interviewers.names,
            duration: &acc.duration,
            score: &acc.score,
            items: &acc.items,
            n_items: acc.n_items,
            answered: &acc.answered,
            date: &acc.date,
        }
    }
}

impl State {
    pub(crate) fn new(n_items: usize, frame_len: usize, rejects: RejectSink) -> State {
        State {
            header: None,
            rows_read: 0,
            blank: 0,
            acc: Accepted {
                n_items,
                ..Default::default()
            },
            rejects,
            seen: Default::default(),
            interviewers: Dict::default(),
            modes: Dict::default(),
            community_local: vec![NONE; frame_len],
            communities: Vec::new(),
            rejected_ids: Vec::new(),
        }
    }
}

/// Where a dry run writes its rejects list: `--rejects-out`, else beside the delivery
/// (`x.csv` → `x.rejects.csv`), never in the workspace.
pub(crate) fn dry_run_rejects_path(delivery: &Path, opts: &Options) -> std::path::PathBuf {
    if let Some(p) = &opts.rejects_out {
        return p.clone();
    }
    let stem = delivery
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "delivery".into());
    delivery.with_file_name(format!("{stem}.rejects.csv"))
}

/// Reads and checks the delivery; a file that looked like UTF-8 in its first block but
/// is not is read again from the start as GB18030 (`det` then says so).
pub(crate) fn read_checked(
    path: &Path,
    file: &str,
    det: &mut read::Detected,
    opts: &Options,
    ctx: &Context<'_>,
    store: &Store,
    size: u64,
) -> Result<State> {
    match read_all(path, file, det, opts, ctx, store, size) {
        Err(e) if read::is_not_utf8(&e) && det.encoding == read::Encoding::Utf8 => {
            det.encoding = read::Encoding::Gb18030;
            read_all(path, file, det, opts, ctx, store, size).map_err(|e| {
                Error::file(
                    file,
                    format!("the file is neither UTF-8 nor GBK/GB18030 throughout: {e}"),
                )
            })
        }
        res => res,
    }
}

/// Reads and checks the delivery on several threads: one reads and parses the file into
/// batches of records, checkers (one per core) run the row checks on whole batches,
/// and this thread merges their results in file order (duplicate ids, dictionaries,
/// the rejects file) and shows the progress.
pub(crate) fn read_all(
    path: &Path,
    file: &str,
    det: &read::Detected,
    opts: &Options,
    ctx: &Context<'_>,
    store: &Store,
    size: u64,
) -> Result<State> {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
    let mut st = State::new(
        ctx.rules.questions.len(),
        ctx.communities.len(),
        RejectSink::new(
            &if opts.dry_run {
                dry_run_rejects_path(path, opts)
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_default()
            } else {
                store.path("receipts")
            },
            file,
        )?,
    );
    let progress = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let header: std::sync::OnceLock<HeaderMap> = std::sync::OnceLock::new();
    let (tx, rx) = std::sync::mpsc::sync_channel::<read::Msg>(4);
    // The receiver with the sequence number of the next message.
    let rx = std::sync::Mutex::new((rx, 0u64));
    let recv = || {
        let mut g = rx.lock().unwrap_or_else(|e| e.into_inner());
        let m = g.0.recv().ok()?;
        let seq = g.1;
        g.1 += 1;
        Some((seq, m))
    };
    let checkers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 8);
    // Batches between the reader and the merger at most: a slow merger (or one checker
    // held up while the others run ahead) stops the reader instead of piling batches up.
    let permits = Permits::new(2 * checkers + 4);
    let bar = if opts.progress && det.format == read::Format::Csv {
        let pb = indicatif::ProgressBar::new(size);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} reading [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        pb
    } else {
        indicatif::ProgressBar::hidden()
    };
    let result = std::thread::scope(|s| -> Result<()> {
        let (stop, progress, header, recv, permits) = (&stop, &progress, &header, &recv, &permits);
        s.spawn(move || {
            let batch = opts.batch_records.unwrap_or(read::BATCH_RECORDS).max(1);
            read::read_batches(
                path,
                file,
                det,
                opts.sheet.as_deref(),
                batch,
                progress,
                &mut |m| {
                    if matches!(m, read::Msg::Batch(_)) && !permits.acquire(stop) {
                        return false;
                    }
                    !stop.load(Relaxed) && tx.send(m).is_ok()
                },
            );
        });
        let mut run = || -> Result<()> {
            match recv().map(|(_, m)| m) {
                Some(read::Msg::Header { cells, .. }) => {
                    let h = HeaderMap::new(&cells, ctx.rules, file)?;
                    if h.position(Col::Phone).is_some() || h.position(Col::Name).is_some() {
                        // A dry run stores no hash, so it needs no lasting salt.
                        let salt = if opts.dry_run {
                            crate::store::fresh_salt()
                        } else {
                            store.salt()?
                        };
                        let _ = ctx.salt.set(salt); // ok: set once, by this thread only
                    }
                    let _ = header.set(h); // ok: set once, before any checker starts
                }
                Some(read::Msg::Fail(e)) => return Err(e),
                // No header: an empty or blank file (said by the caller).
                Some(read::Msg::End { .. }) => return Ok(()),
                Some(read::Msg::Batch(_)) | None => {
                    return Err(Error::file(file, "the reader stopped before the header"));
                }
            }
            let Some(h) = header.get() else {
                return Err(Error::file(file, "the file has no header row"));
            };
            let (ctx_tx, res_rx) = std::sync::mpsc::channel::<(u64, Checked)>();
            for _ in 0..checkers {
                let ctx_tx = ctx_tx.clone();
                s.spawn(move || {
                    while let Some((seq, m)) = recv() {
                        if stop.load(Relaxed) {
                            continue; // drain, so the reader is never left blocked
                        }
                        let out = match m {
                            read::Msg::Batch(mut b) => match b.decode(file) {
                                Ok(()) => Checked::Part(Box::new(check_batch(ctx, h, b))),
                                Err((_, e)) => Checked::Fail(e),
                            },
                            read::Msg::Fail(e) => Checked::Fail(e),
                            read::Msg::End { trailing_blank } => Checked::End { trailing_blank },
                            read::Msg::Header { .. } => {
                                Checked::Fail(Error::file(file, "a second header from the reader"))
                            }
                        };
                        if ctx_tx.send((seq, out)).is_err() {
                            stop.store(true, Relaxed);
                        }
                    }
                });
            }
            drop(ctx_tx);
            let mut pending: BTreeMap<u64, Checked> = BTreeMap::new();
            let mut next = 1u64; // 0 was the header
            let mut ended = false;
            for (seq, out) in res_rx.iter() {
                pending.insert(seq, out);
                while let Some(out) = pending.remove(&next) {
                    next += 1;
                    match out {
                        Checked::Part(p) => {
                            merge(ctx, h, &mut st, *p, size)?;
                            permits.release();
                        }
                        Checked::Fail(e) => return Err(e),
                        Checked::End { trailing_blank } => {
                            st.blank += trailing_blank;
                            ended = true;
                        }
                    }
                }
                bar.set_position(progress.load(Relaxed));
            }
            if !ended {
                return Err(Error::file(
                    file,
                    "reading stopped before the end of the file",
                ));
            }
            Ok(())
        };
        let res = {
            let _stop = StopOnDrop(stop);
            run()
        };
        while recv().is_some() {}
        res
    });
    bar.finish_and_clear();
    result?;
    st.header = header.into_inner();
    Ok(st)
}

/// A counting semaphore bounding the batches in flight between reader and merger.
pub(crate) struct Permits {
    pub(crate) free: std::sync::Mutex<usize>,
    pub(crate) freed: std::sync::Condvar,
}

impl Permits {
    pub(crate) fn new(n: usize) -> Permits {
        Permits {
            free: std::sync::Mutex::new(n),
            freed: std::sync::Condvar::new(),
        }
    }

    /// Takes a permit, waiting for one; false when `stop` is set meanwhile.
    pub(crate) fn acquire(&self, stop: &std::sync::atomic::AtomicBool) -> bool {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                return false;
            }
            free = self
                .freed
                .wait_timeout(free, std::time::Duration::from_millis(20))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *free -= 1;
        true
    }

    pub(crate) fn release(&self) {
        *self.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.freed.notify_one();
    }
}

/// Adds a checked batch to the state in file order: a repeated id is rejected here
/// (the first in the file is kept), accepted rows join the columns.
pub(crate) fn merge(
    ctx: &Context<'_>,
    h: &HeaderMap,
    st: &mut State,
    p: Part,
    size: u64,
) -> Result<()> {
    if st.acc.len() == 0 && p.acc.len() > 0 && p.batch.text_len() > 0 {
        // Room for the whole file, estimated from this batch (never more than 50M rows).
        let per_row = p.batch.text_len() as f64 / p.batch.len() as f64;
        let rows = ((size as f64 / per_row) * 1.02).min(5e7) as usize;
        st.acc.reserve(rows);
        let (acc, rej) = (&st.acc, &st.rejected_ids);
        st.seen.reserve(rows, |&e| id_hash(seen_id(acc, rej, e)));
    }
    let iv_map: Vec<u32> = p
        .interviewers
        .names
        .iter()
        .map(|n| st.interviewers.intern(n))
        .collect();
    let mode_map: Vec<u32> = p.modes.names.iter().map(|n| st.modes.intern(n)).collect();
    let id_column = h
        .position(Col::RespondentId)
        .map(|i| h.names[i].clone())
        .unwrap_or_default();
    let mut rejects = p.rejects.into_iter();
    let mut j = 0usize;
    let q = &p.acc;
    for &o in &p.order {
        if o != ACCEPTED {
            let Some(mut r) = rejects.next() else {
                continue;
            };
            // A rejected row's id counts too: a repeat is a fault of the later row
            // whatever became of the earlier one.
            if let Some(id) = r.id.clone() {
                let v = REJECTED | st.rejected_ids.len() as u32;
                if let Some(first_line) = st.first_seen(&id, v) {
                    r.faults.push(RowFault {
                        column: id_column.clone(),
                        value: id.clone(),
                        fault: Fault::DuplicateInFile { id, first_line },
                    });
                } else {
                    st.rejected_ids.push((id, r.line));
                }
            }
            st.rejects.push(r)?;
            continue;
        }
        let k = j;
        j += 1;
        let id = q.id(k);
        let row = st.acc.len() as u32;
        if let Some(first_line) = st.first_seen(id, row) {
            st.rejects.push(Reject {
                line: q.line[k],
                faults: vec![RowFault {
                    column: id_column.clone(),
                    value: id.to_string(),
                    fault: Fault::DuplicateInFile {
                        id: id.to_string(),
                        first_line,
                    },
                }],
                raw: p.batch.fields(p.rec[k] as usize),
                id: Some(id.to_string()),
            })?;
            continue;
        }
        let acc = &mut st.acc;
        acc.line.push(q.line[k]);
        acc.id_buf.push_str(id);
        acc.id_end.push(acc.id_buf.len());
        let fc = q.community[k] as usize;
        if st.community_local[fc] == NONE {
            let c = ctx.communities.get(fc as u32);
            st.community_local[fc] = st.communities.len() as u32;
            st.communities.push((c.street_code.clone(), c.code.clone()));
        }
        acc.community.push(st.community_local[fc]);
        acc.date.push(q.date[k]);
        let local = |map: &[u32], v: u32| if v == NONE { NONE } else { map[v as usize] };
        acc.interviewer.push(local(&iv_map, q.interviewer[k]));
        acc.mode.push(local(&mode_map, q.mode[k]));
        acc.duration.push(q.duration[k]);
        let n = q.n_items;
        acc.items.extend_from_slice(&q.items[k * n..(k + 1) * n]);
        acc.answered.push(q.answered[k]);
        acc.score.push(q.score[k]);
        if !q.phone_hash.is_empty() {
            acc.phone_hash.push(q.phone_hash[k].clone());
        }
        if !q.name_hash.is_empty() {
            acc.name_hash.push(q.name_hash[k].clone());
        }
    }
    st.rows_read += p.rows_read;
    st.blank += p.blank;
    Ok(())
}
