//! An upload, from the request to its receipt: the multipart body streamed to a file
//! of ours (never whole in memory, refused past the size limit), its type decided by
//! its content (`ingest::screen`), then the library's ingest, one at a time, with the
//! account as actor and its organisation as evaluator. Whatever happens, the received
//! file is removed: the store keeps its own copy of an accepted original.

use std::io::Write as _;
use std::path::PathBuf;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};

use super::State;
use super::access::visible_delivery;
use super::multipart::Part;
use super::respond::Refusal;
use super::respond::too_large;
use crate::accounts::Account;
use crate::ingest::Outcome;
use crate::round::RoundId;
use crate::store::DeliveryEntry;

/// The received file, removed when dropped.
pub struct Received {
    pub path: PathBuf,
    /// The name the uploader gave it (its last path component, cleaned).
    pub name: String,
    pub bytes: u64,
    pub replaces: Option<String>,
}

impl Drop for Received {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            // ok: nothing else to do from a destructor; the next start of the server
            // clears what is left in the uploads folder.
            eprintln!("manyi serve: cannot remove {}: {e}", self.path.display());
        }
    }
}

/// A file name from outside, reduced to its last component without control
/// characters (shown on pages and in the store's receipt names; stored under ours).
pub fn clean_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let s: String = last.chars().filter(|c| !c.is_control()).take(120).collect();
    let s = s.trim().trim_start_matches('.').to_string();
    if s.is_empty() { "upload".into() } else { s }
}

/// Refuses at once a body whose declared length is over the limit (multipart framing
/// adds a little: 1 MiB is allowed for it).
pub fn check_length(state: &State, h: &HeaderMap) -> Result<(), Refusal> {
    let len = h
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = len
        && n > state.cfg.max_upload + (1 << 20)
    {
        return Err(too_large(state.cfg.max_upload));
    }
    Ok(())
}

/// Streams the multipart body's `file` field to the uploads folder (the field
/// `replaces` is read as text; others, such as the CSRF token or a button, are read
/// and dropped).
pub async fn receive(state: &State, headers: &HeaderMap, body: Body) -> Result<Received, Refusal> {
    let dir = super::uploads_dir(&state.ws);
    crate::fsutil::make_private_dir(&dir).map_err(Refusal::from_error)?;
    let max = state.cfg.max_upload;
    /// The part being read.
    enum Into {
        File(std::io::BufWriter<std::fs::File>),
        Replaces(Vec<u8>),
        Nothing,
    }
    let mut got: Option<Received> = None;
    let mut replaces: Option<String> = None;
    let mut into = Into::Nothing;
    let mut sink = |part: Part<'_>| -> Result<(), Refusal> {
        match part {
            Part::Start { name, filename } => {
                into = match name.as_str() {
                    "file" if got.is_none() => {
                        let name = clean_name(filename.as_deref().unwrap_or(""));
                        let id = crate::accounts::random_hex(16).map_err(Refusal::from_error)?;
                        let path = dir.join(format!("upload-{id}"));
                        let file = std::fs::OpenOptions::new()
                            .write(true)
                            .create_new(true)
                            .open(&path)
                            .map_err(|e| Refusal::from_error(crate::error::Error::io(&path, e)))?;
                        got = Some(Received {
                            path,
                            name,
                            bytes: 0,
                            replaces: None,
                        });
                        Into::File(std::io::BufWriter::with_capacity(4 << 20, file))
                    }
                    "replaces" => Into::Replaces(Vec::new()),
                    _ => Into::Nothing,
                };
            }
            Part::Data(d) => match &mut into {
                Into::File(out) => {
                    // `got` is the file this part writes (set at its start).
                    let Some(r) = got.as_mut() else {
                        return Err(Refusal::internal("an upload's file part without its file"));
                    };
                    r.bytes += d.len() as u64;
                    if r.bytes > max {
                        return Err(too_large(max));
                    }
                    // Writes to the page cache: short enough for the request's thread.
                    out.write_all(d)
                        .map_err(|e| Refusal::from_error(crate::error::Error::io(&r.path, e)))?;
                }
                Into::Replaces(t) => {
                    if t.len() + d.len() > 4096 {
                        return Err(Refusal::new(
                            StatusCode::BAD_REQUEST,
                            "bad-request",
                            "字段 replaces 太长",
                        ));
                    }
                    t.extend_from_slice(d);
                }
                Into::Nothing => {}
            },
            Part::End => match std::mem::replace(&mut into, Into::Nothing) {
                Into::File(mut out) => {
                    if let Some(r) = got.as_ref() {
                        out.flush().map_err(|e| {
                            Refusal::from_error(crate::error::Error::io(&r.path, e))
                        })?;
                    }
                }
                Into::Replaces(t) => {
                    let t = String::from_utf8_lossy(&t).trim().to_string();
                    if !t.is_empty() {
                        replaces = Some(t);
                    }
                }
                Into::Nothing => {}
            },
        }
        Ok(())
    };
    // The body may be the file's size plus framing (1 MiB allowed for it).
    let res =
        super::multipart::read(headers, body, max + (1 << 20), || too_large(max), &mut sink).await;
    drop(sink);
    // On a refusal `got` (if any) is dropped here, and its file with it.
    res?;
    let mut r = got.ok_or_else(|| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "no-file",
            "请选择要上传的文件（字段 file）",
        )
    })?;
    if r.bytes == 0 {
        return Err(Refusal::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty",
            format!("{}：文件是空的", r.name),
        ));
    }
    r.replaces = replaces;
    Ok(r)
}

/// What an accepted upload came to.
pub struct Uploaded {
    pub id: String,
    pub outcome: Outcome,
}

/// The library's ingest of a received file for `who` (an evaluator) in `round`.
pub async fn ingest(
    state: &State,
    who: &Account,
    round: &RoundId,
    r: Received,
) -> Result<Uploaded, Refusal> {
    let org = who.org.clone().ok_or_else(|| {
        Refusal::new(StatusCode::FORBIDDEN, "forbidden", "账户不属于任何测评机构")
    })?;
    let assigned = state
        .db()
        .and_then(|db| db.assigned(round, &org))
        .map_err(Refusal::from_error)?
        .ok_or_else(Refusal::not_found)?;
    if let Some(id) = &r.replaces {
        let d = super::access::visible_delivery(state, who, id)?;
        if d.round != round.to_string() {
            return Err(Refusal::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "wrong-round",
                format!("要更正的交付属于 {} 轮，不是 {round} 轮", d.round),
            ));
        }
    }
    let bounds = state.cfg.zip;
    let ws = state.ws.clone();
    state
        .queued
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let permit = super::respond::write_turn(state).await;
    state
        .queued
        .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    let _permit = permit?;
    let opts = crate::ingest::Options {
        evaluator: Some(org),
        actor: Some(who.name.clone()),
        display_name: Some(r.name.clone()),
        assigned: Some(assigned),
        replaces: r.replaces.clone(),
        ..Default::default()
    };
    let round = *round;
    let res = super::respond::blocking(move || {
        let r = r; // moved in: removed when the ingest is done, whatever its outcome
        crate::ingest::screen(&r.path, &r.name, &bounds).map_err(|e| {
            Refusal::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unsupported-type",
                e.to_string(),
            )
        })?;
        let outcome =
            crate::ingest::ingest(&ws, &round, &r.path, &opts).map_err(Refusal::from_error)?;
        Ok::<_, Refusal>(outcome)
    })
    .await?;
    Ok(Uploaded {
        id: res.receipt.sha256.clone(),
        outcome: res,
    })
}

/// Withdraws a delivery the caller may see (the library checks it is active and
/// journals it with the reason).
pub async fn withdraw_delivery(
    state: &State,
    who: &Account,
    id: &str,
    reason: &str,
) -> Result<DeliveryEntry, Refusal> {
    let d = visible_delivery(state, who, id)?;
    if reason.trim().is_empty() {
        return Err(Refusal::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "reason-required",
            "请填写撤回原因",
        ));
    }
    let _permit = super::respond::write_turn(state).await?;
    let (ws, actor, reason) = (state.ws.clone(), who.name.clone(), reason.to_string());
    super::respond::blocking(move || crate::lifecycle::withdraw(&ws, &d.sha256, &reason, &actor))
        .await
}

/// A small form read whole: its first `file` part (name cleaned, `default_name` when
/// it has none) and its text fields (the last value of each name).
pub struct SmallForm {
    pub file: Option<(String, Vec<u8>)>,
    /// Every non-empty `file` part, in order (an appeal's attachments); `file` is the first.
    pub files: Vec<(String, Vec<u8>)>,
    pub fields: std::collections::BTreeMap<String, String>,
}

/// Reads a multipart form of at most `limit` bytes (indicator files, callback
/// results: a few lines a street or a call) into memory.
pub async fn small_form(
    headers: &HeaderMap,
    body: Body,
    limit: u64,
    default_name: &str,
) -> Result<SmallForm, Refusal> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut fields: std::collections::BTreeMap<String, String> = Default::default();
    // The part being read: the file, a text field (its name and bytes), or neither.
    enum Into {
        File,
        Field(String, Vec<u8>),
        None,
    }
    let mut into = Into::None;
    let mut sink = |part: Part<'_>| -> Result<(), Refusal> {
        match part {
            Part::Start { name, filename } => {
                into = if name == "file" {
                    let n = filename
                        .as_deref()
                        .map(clean_name)
                        .unwrap_or_else(|| default_name.to_string());
                    files.push((n, Vec::new()));
                    Into::File
                } else if filename.is_none() {
                    Into::Field(name, Vec::new())
                } else {
                    Into::None
                };
            }
            Part::Data(d) => match &mut into {
                Into::File => {
                    if let Some((_, f)) = files.last_mut() {
                        f.extend_from_slice(d);
                    }
                }
                Into::Field(_, v) => v.extend_from_slice(d),
                Into::None => {}
            },
            Part::End => {
                if let Into::Field(name, v) = std::mem::replace(&mut into, Into::None) {
                    fields.insert(name, String::from_utf8_lossy(&v).trim().to_string());
                }
            }
        }
        Ok(())
    };
    let too_large = || {
        Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "文件超过上传上限",
        )
    };
    super::multipart::read(headers, body, limit, too_large, &mut sink).await?;
    // A browser sends an empty part for a file input left empty (after the first, as
    // before: the first part is kept even empty, its reader says what is wrong).
    let first = files.first().cloned();
    files.retain(|(_, b)| !b.is_empty());
    Ok(SmallForm {
        file: first,
        files,
        fields,
    })
}
