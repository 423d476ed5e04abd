//! The journal: `surveys/store/journal.jsonl`, one JSON line per change of state
//! (sample drawn or imported, delivery stored, replaced or withdrawn, decision, score,
//! evaluation, report), each carrying the SHA-256 of the line before it. The store
//! index records the head (the hash of the last committed line), so:
//!
//! - editing or deleting a line breaks the chain (or the head) and `verify-store`
//!   names it;
//! - a change is committed when the index naming its line is in place: the line is
//!   appended (and synced) first, the index replaced second. A process killed between
//!   the two leaves a line past the head, which the next writer removes (it was never
//!   committed) and readers ignore.
//!
//! Events that must not wait for the store lock (logins, account changes, downloads
//! in the portal, while an ingest holds the store for seconds) are deferred: `defer`
//! writes each as a file of its own in `journal.pending/` without the lock, and the
//! next writer (`Writer::begin`, or `flush` from the portal's journal thread) appends
//! them, with the time they happened, before its own change. The index names the
//! files it appended until they are removed, so none is appended twice.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsutil::sha256_hex;
use crate::store::{Index, Store, StoreLock};

/// The hash `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A file read or written by a change, by its path relative to the workspace.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileHash {
    pub path: String,
    pub sha256: String,
}

/// One journal line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    /// 1, 2, 3… in order.
    pub seq: u64,
    /// UTC, RFC 3339.
    pub time: String,
    pub actor: String,
    /// sample, sample-import, ingest, replace, withdraw, decide, score, evaluate,
    /// report, start (the first entry of a workspace made before the journal).
    pub action: String,
    /// The round or period the change is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<String>,
    /// The objects' ids (delivery sha256, `interviewer:ID`, `respondent:ID`…).
    #[serde(default)]
    pub ids: Vec<String>,
    #[serde(default)]
    pub read: Vec<FileHash>,
    #[serde(default)]
    pub written: Vec<FileHash>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What else a reader needs (counts, the decision, what a delivery replaced).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub details: serde_json::Map<String, serde_json::Value>,
    /// SHA-256 of the previous line (its bytes without the line break).
    pub prev: String,
}

/// What a change says about itself; `Writer::commit` adds seq, time, actor and prev.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    pub action: String,
    pub round: Option<String>,
    pub ids: Vec<String>,
    pub read: Vec<FileHash>,
    pub written: Vec<FileHash>,
    pub reason: Option<String>,
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl Draft {
    pub fn new(action: &str) -> Draft {
        Draft {
            action: action.to_string(),
            ..Default::default()
        }
    }
    pub fn round(mut self, r: impl ToString) -> Draft {
        self.round = Some(r.to_string());
        self
    }
    pub fn id(mut self, id: impl Into<String>) -> Draft {
        self.ids.push(id.into());
        self
    }
    pub fn reason(mut self, r: impl Into<String>) -> Draft {
        self.reason = Some(r.into());
        self
    }
    pub fn detail(mut self, k: &str, v: impl Into<serde_json::Value>) -> Draft {
        self.details.insert(k.to_string(), v.into());
        self
    }
}

/// The user a command runs as when `--actor` is not given: the OS user.
pub fn default_actor() -> String {
    ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()))
        .or_else(user_from_passwd)
        .unwrap_or_else(|| "unknown".to_string())
}

/// The name of this process's user from /etc/passwd (no USER in the environment:
/// cron, containers).
fn user_from_passwd() -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let uid = std::fs::metadata("/proc/self").ok()?.uid();
        let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
        passwd.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_string())
        })
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// One line of the journal file as read: its bytes' hash and the parsed entry (None
/// when the line is not an entry).
#[derive(Debug, Clone)]
pub struct Line {
    /// 1-based line number.
    pub number: u64,
    pub hash: String,
    pub entry: Option<Entry>,
    /// Byte offset just past this line's line break.
    pub end: u64,
}

pub fn journal_path(store: &Store) -> PathBuf {
    store.dir.join("journal.jsonl")
}

/// Reads every line of the journal (an absent journal has none).
pub fn read_lines(path: &Path) -> Result<Vec<Line>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let mut out = Vec::new();
    let mut start = 0usize;
    let mut number = 0;
    while start < bytes.len() {
        let nl = memchr::memchr(b'\n', &bytes[start..]).map(|i| start + i);
        let stop = nl.unwrap_or(bytes.len());
        let line = &bytes[start..stop];
        number += 1;
        out.push(Line {
            number,
            hash: sha256_hex(line),
            entry: serde_json::from_slice(line).ok(),
            end: nl.map_or(bytes.len(), |i| i + 1) as u64,
        });
        start = stop + 1;
    }
    Ok(out)
}

/// The committed part of the journal: the lines up to the one the index names as head.
/// Err when the head is not in the journal (a line was edited or deleted).
pub fn committed(lines: &[Line], index: &Index) -> Result<usize> {
    match &index.journal_head {
        None if lines.is_empty() => Ok(0),
        None => Err(Error::Invalid(
            crate::messages::t(
                "库索引没有记下日志的最后一条，但日志里已有记录：索引被替换或改动过；请管理员在日志页“核对存储与日志”",
                "the store index names no journal entry but the journal has entries: the index was replaced or edited; run `manyi verify-store`",
            )
            .into(),
        )),
        Some(head) => lines
            .iter()
            .position(|l| &l.hash == head)
            .map(|p| p + 1)
            .ok_or_else(|| {
                Error::Invalid(crate::messages::tr!(
                    "日志中找不到库索引记下的最后一条（{head}）：有记录被改动或删除；请管理员在日志页“核对存储与日志”",
                    "the journal does not contain the entry the store index names as its last ({head}): an entry was edited or deleted; run `manyi verify-store`"
                ))
            }),
    }
}

/// The committed entries (for `manyi journal`, the decisions' history, verify).
pub fn entries(store: &Store, index: &Index) -> Result<Vec<Entry>> {
    let lines = read_lines(&journal_path(store))?;
    let n = committed(&lines, index)?;
    lines[..n]
        .iter()
        .map(|l| {
            l.entry.clone().ok_or_else(|| {
                let line = l.number;
                Error::Invalid(crate::messages::tr!(
                    "日志第 {line} 行不是一条记录；请管理员在日志页“核对存储与日志”",
                    "journal line {line} is not an entry; run `manyi verify-store`"
                ))
            })
        })
        .collect()
}

/// The store, locked for a change: the index as committed, the journal recovered.
pub struct Writer {
    pub store: Store,
    pub index: Index,
    pub actor: String,
    _lock: StoreLock,
}

impl Writer {
    /// Locks the store, drops journal lines a killed process left past the head, and
    /// starts the journal of a workspace made before it (one `start` entry listing its
    /// deliveries, all active).
    pub fn begin(store: Store, actor: &str) -> Result<Writer> {
        let lock = store.lock()?;
        let index = store.read_index()?;
        let path = journal_path(&store);
        let lines = read_lines(&path)?;
        let keep = committed(&lines, &index)?;
        // Nothing is added to a chain that is broken: the next entry would vouch for it.
        let mut prev = GENESIS;
        for l in &lines[..keep] {
            match &l.entry {
                Some(e) if e.prev == prev => {}
                _ => {
                    let line = l.number;
                    return Err(Error::Invalid(crate::messages::tr!(
                        "日志的哈希链在第 {line} 行断开（有记录被改动或删除），修复之前不再记录任何操作；请管理员在日志页“核对存储与日志”",
                        "the journal's chain of hashes is broken at line {line} (an entry was edited or deleted); nothing more is recorded until it is repaired: run `manyi verify-store`"
                    )));
                }
            }
            prev = &l.hash;
        }
        if keep < lines.len() {
            let len = if keep == 0 { 0 } else { lines[keep - 1].end };
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| Error::io(&path, e))?;
            f.set_len(len).map_err(|e| Error::io(&path, e))?;
            f.sync_all().map_err(|e| Error::io(&path, e))?;
        }
        let mut w = Writer {
            store,
            index,
            actor: actor.to_string(),
            _lock: lock,
        };
        w.drain_pending()?;
        if w.index.journal_head.is_none() && !w.index.deliveries.is_empty() {
            let mut d = Draft::new("start").reason(format!(
                "workspace made before the journal: its {} stored deliveries are active; history starts here",
                w.index.deliveries.len()
            ));
            let store_dir = w.store.dir.clone();
            for del in w.index.deliveries.clone() {
                d.ids.push(del.sha256.clone());
                for rel in [&del.data, &del.original, &del.receipt, &del.rejects] {
                    d.written.push(w.file_hash(&store_dir.join(rel))?);
                }
            }
            w.commit(d)?;
        }
        Ok(w)
    }

    /// A file's path relative to the workspace (the store's grandparent) and hash.
    pub fn file_hash(&self, p: &Path) -> Result<FileHash> {
        file_hash(&self.store, p)
    }

    /// Appends the entry, then commits the index with it as head (in that order: see
    /// the module's notes). The index is written even when only the head changes.
    pub fn commit(&mut self, d: Draft) -> Result<Entry> {
        let actor = self.actor.clone();
        let mut out = self.append(vec![(crate::store::now_utc(), actor, d)])?;
        out.pop()
            .ok_or_else(|| Error::Internal("a commit appended nothing".into()))
    }

    /// Appends entries (time, actor, what) in one write, then commits the index with
    /// the last as head.
    fn append(&mut self, drafts: Vec<(String, String, Draft)>) -> Result<Vec<Entry>> {
        let mut buf = Vec::new();
        let mut entries = Vec::with_capacity(drafts.len());
        let mut prev = self
            .index
            .journal_head
            .clone()
            .unwrap_or_else(|| GENESIS.to_string());
        let mut seq = self.index.journal_entries;
        for (time, actor, d) in drafts {
            seq += 1;
            let entry = Entry {
                seq,
                time,
                actor,
                action: d.action,
                round: d.round,
                ids: d.ids,
                read: d.read,
                written: d.written,
                reason: d.reason,
                details: d.details,
                prev,
            };
            let line = serde_json::to_vec(&entry).map_err(|e| Error::Internal(e.to_string()))?;
            prev = sha256_hex(&line);
            buf.extend_from_slice(&line);
            buf.push(b'\n');
            entries.push(entry);
        }
        if entries.is_empty() {
            return Ok(entries);
        }
        let path = journal_path(&self.store);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        f.write_all(&buf).map_err(|e| Error::io(&path, e))?;
        f.sync_all().map_err(|e| Error::io(&path, e))?;
        crate::fsutil::test_marker("journal-appended");
        crate::fsutil::test_pause("MANYI_TEST_PAUSE_AFTER_JOURNAL_MS");
        self.index.journal_head = Some(prev);
        self.index.journal_entries = seq;
        self.store.write_index(&self.index)?;
        Ok(entries)
    }

    /// Appends the deferred events waiting in `journal.pending/`, oldest first, with
    /// the times and actors they were recorded with; returns how many.
    fn drain_pending(&mut self) -> Result<usize> {
        let dir = pending_dir(&self.store);
        // A writer killed after appending them but before removing their files.
        if !self.index.journal_drained.is_empty() {
            for n in std::mem::take(&mut self.index.journal_drained) {
                remove_pending(&dir.join(n))?;
            }
            self.store.write_index(&self.index)?;
        }
        let names = pending_names(&dir)?;
        if names.is_empty() {
            return Ok(0);
        }
        let mut drafts = Vec::with_capacity(names.len());
        for n in &names {
            let p = dir.join(n);
            let text = crate::fsutil::read_text(&p)?;
            let mut ev: Deferred = serde_json::from_str(&text).map_err(|e| {
                let file = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                Error::Invalid(crate::messages::tr!(
                    "待记日志事件 {file} 已损坏（{e}）；请管理员把它移出 journal.pending 文件夹后继续",
                    "{file}: a deferred journal event is damaged ({e}); move it out of journal.pending to go on"
                ))
            })?;
            let time = std::mem::take(&mut ev.time);
            let actor = std::mem::take(&mut ev.actor);
            drafts.push((time, actor, ev.draft()));
        }
        self.index.journal_drained = names.clone();
        let n = drafts.len();
        self.append(drafts)?;
        for name in &names {
            remove_pending(&dir.join(name))?;
        }
        crate::fsutil::sync_parent(&dir.join(&names[0]))?;
        self.index.journal_drained.clear();
        self.store.write_index(&self.index)?;
        Ok(n)
    }
}

/// Where deferred events wait for the next writer.
pub fn pending_dir(store: &Store) -> PathBuf {
    store.dir.join("journal.pending")
}

/// A deferred event as written by `defer`.
#[derive(Debug, Serialize, Deserialize)]
struct Deferred {
    time: String,
    actor: String,
    action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    round: Option<String>,
    #[serde(default)]
    ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    details: serde_json::Map<String, serde_json::Value>,
}

impl Deferred {
    fn draft(self) -> Draft {
        Draft {
            action: self.action,
            round: self.round,
            ids: self.ids,
            read: Vec::new(),
            written: Vec::new(),
            reason: self.reason,
            details: self.details,
        }
    }
}

/// Records a change that touches no file of the store (a login, an account change, a
/// download) without waiting for the store lock: the next writer appends it with
/// this time and actor. Durable when this returns (the file is synced and renamed).
pub fn defer(store: &Store, actor: &str, d: Draft) -> Result<()> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    if !d.read.is_empty() || !d.written.is_empty() {
        return Err(Error::Internal(format!(
            "a deferred journal event ({}) names files: it must be committed under the store lock",
            d.action
        )));
    }
    crate::fsutil::make_private_dir(&store.dir)?;
    let dir = pending_dir(store);
    crate::fsutil::make_private_dir(&dir)?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.as_nanos())
        .unwrap_or(0);
    let name = format!(
        "{nanos:024}-{:08}-{:010}.json",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let ev = Deferred {
        time: crate::store::now_utc(),
        actor: actor.to_string(),
        action: d.action,
        round: d.round,
        ids: d.ids,
        reason: d.reason,
        details: d.details,
    };
    let json = serde_json::to_vec(&ev).map_err(|e| Error::Internal(e.to_string()))?;
    crate::fsutil::write_private_atomic(&dir.join(name), &json)
}

/// Appends the deferred events now (waits for the store lock); returns how many.
pub fn flush(store: &Store, actor: &str) -> Result<usize> {
    if pending_names(&pending_dir(store))?.is_empty() {
        return Ok(0);
    }
    let w = Writer::begin(store.clone(), actor)?;
    // begin appended them; what is left arrived after it looked.
    drop(w);
    Ok(1)
}

/// Deferred events waiting, oldest first (their names sort by time).
pub fn pending_names(dir: &Path) -> Result<Vec<String>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut names = Vec::new();
    for e in rd {
        let e = e.map_err(|e| Error::io(dir, e))?;
        let n = e.file_name().to_string_lossy().into_owned();
        if n.ends_with(".json") && !n.starts_with('.') {
            names.push(n);
        }
    }
    names.sort();
    Ok(names)
}

fn remove_pending(p: &Path) -> Result<()> {
    match std::fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(p, e)),
    }
}

/// Records a change made outside the store's own files (a score, an evaluation, a
/// report): `write` runs under the store lock and returns what it read and wrote, so
/// the hashes journalled are those of the files it left.
pub fn record<F>(ws: &crate::workspace::Workspace, actor: &str, write: F) -> Result<Entry>
where
    F: FnOnce() -> Result<(Draft, Vec<std::path::PathBuf>, Vec<std::path::PathBuf>)>,
{
    let mut w = Writer::begin(Store::new(ws), actor)?;
    let (mut draft, read, written) = write()?;
    for p in &read {
        draft.read.push(w.file_hash(p)?);
    }
    for p in &written {
        draft.written.push(w.file_hash(p)?);
    }
    w.commit(draft)
}

/// What scores of `rounds` rest on, for the journal: each round's sample file and its
/// active deliveries' stored data (by the hash journalled when it was written; verify
/// checks the files still have it).
pub fn scores_read(
    ws: &crate::workspace::Workspace,
    rounds: &[crate::round::RoundId],
) -> Result<Vec<FileHash>> {
    let store = Store::new(ws);
    let index = store.read_index()?;
    let mut out = Vec::new();
    for r in rounds {
        let sp = ws.sample_path(r);
        if sp.is_file() {
            out.push(file_hash(&store, &sp)?);
        }
        for d in store.deliveries(&index, r) {
            let p = store.path(&d.data);
            out.push(match &d.data_sha256 {
                Some(h) => FileHash {
                    path: ws_relative(&store, &p),
                    sha256: h.clone(),
                },
                None => file_hash(&store, &p)?,
            });
        }
    }
    Ok(out)
}

/// Writes `files` (by `write`) under the store lock and journals them as `action` on
/// `label`, with what they were computed from.
pub fn write_recorded<F>(
    ws: &crate::workspace::Workspace,
    actor: &str,
    action: &str,
    label: &str,
    rounds: &[crate::round::RoundId],
    also_read: &[std::path::PathBuf],
    write: F,
) -> Result<Vec<std::path::PathBuf>>
where
    F: FnOnce() -> Result<Vec<std::path::PathBuf>>,
{
    let mut files = Vec::new();
    record(ws, actor, || {
        files = write()?;
        let mut d = Draft::new(action).round(label);
        d.read = scores_read(ws, rounds)?;
        let read = also_read.iter().filter(|p| p.is_file()).cloned().collect();
        Ok((d, read, files.clone()))
    })?;
    Ok(files)
}

/// A file's path relative to the workspace and its SHA-256 (read in full).
pub fn file_hash(store: &Store, p: &Path) -> Result<FileHash> {
    Ok(FileHash {
        path: ws_relative(store, p),
        sha256: crate::fsutil::sha256_file(p)?,
    })
}

/// `p` relative to the workspace that holds the store (`surveys/store` inside it).
pub fn ws_relative(store: &Store, p: &Path) -> String {
    let root = store
        .dir
        .parent()
        .and_then(|s| s.parent())
        .unwrap_or(&store.dir);
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}
