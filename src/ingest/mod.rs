//! Ingest: read an evaluator's delivery (encodings, CSV, XLSX) → normalise → validate →
//! store every accepted questionnaire (Parquet) and account for every rejected row in a
//! receipt. accepted + rejected = rows read, always.
//!
//! The stages, one module each: `read` (detect the format and encoding, decode, split
//! into records and batches), `check` (the row checks, on many threads), `merge`
//! (the pipeline: reader → checkers → merger in file order, repeated ids), `quality`
//! (flags), `parquet` (the stored columns), `receipt` (the receipt and the rejects
//! list), `side` (hash and copy of the original beside the parsing). `ingest` below
//! only puts them in order and commits.

mod accepted;
mod batch;
mod check;
mod detect;
pub mod guide;
mod merge;
pub mod normalise;
mod parquet;
pub mod personal;
pub mod quality;
pub mod read;
mod receipt;
mod side;
mod split;
mod xlsx;
pub use xlsx::{ZipBounds, check_zip_bounds, xlsx_to_csv};

pub use receipt::for_evaluator as receipt_for_evaluator;
pub use receipt::{
    CommunityReceipt, Outcome, QualitySummary, Receipt, ReceiptStatus, Reject, RejectLine,
    read_rejects, reason_name,
};

use std::collections::HashMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::fsutil::sha256_file;
use crate::round::RoundId;
use crate::store::{DeliveryEntry, Index, Store};
use crate::workspace::Workspace;
use accepted::IdSet;
use side::SidePass;

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// XLSX sheet to read (default: the first).
    pub sheet: Option<String>,
    /// Check the delivery and return its receipt, storing nothing in the workspace
    /// (the rejects list goes to `rejects_out`, or beside the delivery).
    pub dry_run: bool,
    /// Where a dry run writes its rejects list (default: `<delivery>.rejects.csv`).
    pub rejects_out: Option<std::path::PathBuf>,
    /// Show a progress bar on stderr while reading (when stderr is a terminal).
    pub progress: bool,
    /// Records handed to a checker thread at a time (None: 4096). The result never
    /// depends on it; tests set small values to cross many batch boundaries.
    pub batch_records: Option<usize>,
    /// The evaluator's organisation, recorded on the delivery.
    pub evaluator: Option<String>,
    /// A delivery (sha256 or a unique prefix of 8+ hex digits) this file corrects: it
    /// is withdrawn and this file stored in one commit, or neither.
    pub replaces: Option<String>,
    /// Who runs the ingest (the journal's actor; default: the OS user).
    pub actor: Option<String>,
    /// The name the delivery is known by (receipt, rejects list, messages) when the
    /// file at `path` is not under it: an upload the portal saved under a name of its
    /// own. Default: the path as given.
    pub display_name: Option<String>,
    /// The streets the evaluator's organisation is assigned for the round: a row of
    /// any other street is rejected with that reason. None: no assignment applies.
    pub assigned: Option<Assigned>,
}

pub use crate::accounts::Assigned;

/// A small table a person delivers (an indicator file, callback results) as UTF-8 CSV
/// bytes: CSV in UTF-8 (with or without BOM) or GBK, or the first sheet of an XLSX
/// workbook. `file` names it in errors.
pub fn table_bytes(path: &Path, file: &str) -> Result<Vec<u8>> {
    let raw = crate::fsutil::read(path)?;
    if raw.starts_with(b"PK\x03\x04") {
        return xlsx_to_csv(path, file);
    }
    let body = raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&raw);
    match std::str::from_utf8(body) {
        Ok(s) => Ok(s.as_bytes().to_vec()),
        Err(_) => {
            let (text, _, bad) = encoding_rs::GB18030.decode(body);
            if bad {
                return Err(Error::file(
                    file,
                    "neither UTF-8 nor GBK text: save it as CSV (UTF-8) or XLSX",
                ));
            }
            Ok(text.into_owned().into_bytes())
        }
    }
}

/// Decides what an uploaded file is by its content (CSV text in UTF-8, GBK or
/// GB18030, or an XLSX zip within `bounds`), whatever its name or declared type says.
/// `file` is the name it is known by in messages.
pub fn screen(path: &Path, file: &str, bounds: &ZipBounds) -> Result<read::Format> {
    let det = read::detect(path, file)?;
    if det.format == read::Format::Xlsx {
        check_zip_bounds(path, file, bounds)?;
    }
    Ok(det.format)
}

/// Ingests one delivery for `round`. Returns its receipt; `Err` when the delivery is
/// refused whole (nothing is stored then).
pub fn ingest(ws: &Workspace, round: &RoundId, path: &Path, opts: &Options) -> Result<Outcome> {
    let file = opts
        .display_name
        .clone()
        .unwrap_or_else(|| path.display().to_string());
    let named = Path::new(&file);
    if !path.is_file() {
        return Err(Error::file(&file, "no such file"));
    }
    let mut clock = crate::timings::Phases::new();
    let size = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    let mut det = read::detect(path, &file)?;
    let store = Store::new(ws);
    // A dry run writes nothing in the workspace (no lock file, no clean-up, no salt):
    // it reads the index, which is only ever replaced whole.
    let mut writer = if opts.dry_run {
        None
    } else {
        let actor = opts
            .actor
            .clone()
            .unwrap_or_else(crate::journal::default_actor);
        Some(crate::journal::Writer::begin(store.clone(), &actor)?)
    };
    crate::fsutil::test_marker("ingest-locked");
    let index = match &writer {
        Some(w) => w.index.clone(),
        None => store.read_index()?,
    };
    if !opts.dry_run {
        store.remove_orphans(&index)?;
    }
    let replaces = match &opts.replaces {
        None => None,
        Some(id) => {
            let old = index.resolve(id)?;
            if old.status != crate::store::DeliveryStatus::Active {
                return Err(Error::Invalid(format!(
                    "delivery {} ({}) is {} already; only an active delivery can be replaced",
                    short(&old.sha256),
                    old.file_name,
                    old.status.text()
                )));
            }
            if old.round != round.to_string() {
                return Err(Error::Invalid(format!(
                    "delivery {} ({}) belongs to round {}, not {round}; a correction is ingested for the round of the delivery it replaces",
                    short(&old.sha256),
                    old.file_name,
                    old.round
                )));
            }
            Some(old.clone())
        }
    };
    let known_sha = match stored_before(&store, &index, path, &det, size, &file, round, opts)? {
        Before::Stored(outcome) => {
            if let Some(old) = &replaces
                && outcome.receipt.sha256 == old.sha256
            {
                return Err(Error::file(
                    &file,
                    format!(
                        "this is the same file as delivery {} ({}), which it is meant to replace; nothing changed",
                        short(&old.sha256),
                        old.file_name
                    ),
                ));
            }
            return Ok(*outcome);
        }
        Before::New(sha) => sha,
    };
    clock.lap("sha256 (when the size matches a stored delivery)");
    // The file is hashed (unless it was above) and the original copied and synced,
    // on a thread of its own beside the parsing.
    let side = SidePass::start(
        path,
        (!opts.dry_run).then(|| store.path("originals")),
        known_sha.is_none(),
    );
    let rules = ws.rules()?;
    let frame = ws.frame()?;
    let sample = crate::sample::load_sample_codes(ws, round)?
        .0
        .into_iter()
        .collect();
    let (stored_ids, stored_valid) = round_so_far(
        &store,
        &index,
        round,
        replaces.as_ref().map(|d| d.sha256.as_str()),
    )?;
    let mut ctx = check::Context::new(&rules, &frame, round, sample, stored_ids);
    ctx.assigned = opts.assigned.clone();
    clock.lap("store ids and frame");
    let state = merge::read_checked(path, &file, &mut det, opts, &ctx, &store, size)?;
    clock.lap("read and check");
    let (side_sha, copy) = side.finish()?;
    let sha = match (known_sha, side_sha) {
        (Some(s), _) | (None, Some(s)) => s,
        (None, None) => sha256_file(path)?,
    };
    let header = state
        .header
        .as_ref()
        .ok_or_else(|| Error::file(&file, "the file has no header row (it is empty or blank)"))?;
    let (flags, flagged_interviewers) = quality::compute(&state.quality_input(), &rules);
    clock.lap("quality flags");
    let valid = state.acc.valid(&rules.validity);

    let paths = StoredPaths::new(round, &sha, named);
    let ws_rel = |r: &str| {
        let p = store.path(r);
        p.strip_prefix(&ws.root).unwrap_or(&p).display().to_string()
    };
    let round_s = round.to_string();
    let mut receipt = receipt::build(receipt::Facts {
        rules: &rules,
        frame: &frame,
        file: &file,
        sha256: &sha,
        round: &round_s,
        det: &det,
        header,
        rows_read: state.rows_read,
        blank: state.blank,
        rejected: state.rejects.total,
        rejects_by_reason: &state.rejects.by_reason,
        faults: state.rejects.faults,
        community: &state.acc.community,
        communities: &state.communities,
        valid: &valid,
        flags: &flags,
        flagged_interviewers,
        stored_valid: &stored_valid,
        receipt_file: ws_rel(&paths.receipt),
        rejects_file: ws_rel(&paths.rejects),
    })?;
    if let Some(old) = &replaces
        && receipt.accepted == 0
    {
        return Err(Error::file(
            &file,
            format!(
                "not one row of the correction was accepted (see the reasons with `manyi ingest --dry-run`); delivery {} ({}) stays active",
                short(&old.sha256),
                old.file_name
            ),
        ));
    }
    if opts.dry_run {
        let out = merge::dry_run_rejects_path(path, opts);
        receipt.status = ReceiptStatus::DryRun;
        receipt.receipt_file = String::new();
        receipt.rejects_file = out.display().to_string();
        let first = state.rejects.first.clone();
        state.rejects.persist(&out)?;
        return Ok(Outcome {
            receipt,
            rejects: first,
        });
    }

    let Some(w) = writer.as_mut() else {
        return Err(Error::Internal(
            "a stored ingest without the store lock".into(),
        ));
    };
    // Write everything under its final content-addressed name, then commit the index.
    let data_sha = parquet::write_delivery(
        &store.path(&paths.data),
        &parquet::Delivery {
            rules: &rules,
            round: &round_s,
            sha256: &sha,
            acc: &state.acc,
            communities: &state.communities,
            interviewers: &state.interviewers.names,
            modes: &state.modes.names,
            valid: &valid,
            flags: &flags,
        },
    )?;
    clock.lap("parquet");
    // The summary the round's views add up (coverage): from the stored Parquet, so it
    // is by construction what the rows say.
    let mut summary = crate::store::DeliverySummary::of_parquet(&store.path(&paths.data))?;
    if !flags.near_duplicate.is_empty() && flags.near_duplicate.len() as u64 == summary.rows {
        summary.near_duplicate = Some(crate::store::bits_to_hex(&flags.near_duplicate));
    }
    summary.cells = Some(delivery_cells(&state, &flags));
    let summary_json = serde_json::to_vec(&summary).map_err(|e| Error::Internal(e.to_string()))?;
    crate::fsutil::write_private_atomic(&store.path(&paths.summary), &summary_json)?;
    clock.lap("summary");
    let original = store.path(&paths.original);
    if !original.exists() {
        match copy {
            // Originals keep respondents' names and phone numbers in clear: readable
            // by the service's own user only (PIPL).
            Some(tmp) => crate::fsutil::persist_mode(tmp, &original, 0o600)?,
            None => crate::fsutil::copy_private_atomic(path, &original)?,
        }
    }
    let merge::State { rejects, .. } = state;
    let first_rejects = rejects.first.clone();
    rejects.persist(&store.path(&paths.rejects))?;
    let json = serde_json::to_vec_pretty(&receipt).map_err(|e| Error::Invalid(e.to_string()))?;
    crate::fsutil::write_private_atomic(&store.path(&paths.receipt), &json)?;
    let now = receipt.ingested_at.clone();
    let mut draft = crate::journal::Draft::new(if replaces.is_some() {
        "replace"
    } else {
        "ingest"
    })
    .round(round)
    .id(sha.clone())
    .detail("file_name", receipt_file_name(named))
    .detail("rows_read", receipt.rows_read)
    .detail("accepted", receipt.accepted)
    .detail("rejected", receipt.rejected);
    if let Some(e) = &opts.evaluator {
        draft = draft.detail("evaluator", e.clone());
    }
    draft.read.push(crate::journal::FileHash {
        path: file.clone(),
        sha256: sha.clone(),
    });
    // The rules that judged validity (min answered items, min interview time): the
    // questionnaires they made invalid are counted in the receipt, and this hash says
    // which rules those were.
    draft.read.push(crate::journal::FileHash {
        path: crate::journal::ws_relative(&store, &ws.rules_path()),
        sha256: crate::fsutil::sha256_file(&ws.rules_path())?,
    });
    draft = draft
        .detail("valid", receipt.valid)
        .detail("invalid_by_rule", receipt.invalid);
    let rel = |r: &str| crate::journal::ws_relative(&store, &store.path(r));
    draft.written = vec![
        crate::journal::FileHash {
            path: rel(&paths.data),
            sha256: data_sha.clone(),
        },
        crate::journal::FileHash {
            path: rel(&paths.original),
            sha256: sha.clone(),
        },
        w.file_hash(&store.path(&paths.receipt))?,
        w.file_hash(&store.path(&paths.rejects))?,
        w.file_hash(&store.path(&paths.summary))?,
    ];
    if let Some(old) = &replaces {
        draft = draft
            .id(old.sha256.clone())
            .detail("replaces", old.sha256.clone())
            .reason(format!("corrected file for {}", old.file_name));
        let d = w
            .index
            .deliveries
            .iter_mut()
            .find(|d| d.sha256 == old.sha256)
            .ok_or_else(|| Error::Internal("the replaced delivery left the index".into()))?;
        d.status = crate::store::DeliveryStatus::Superseded;
        d.status_change = Some(crate::store::StatusChange {
            at: now.clone(),
            actor: w.actor.clone(),
            reason: format!("replaced by {}", receipt_file_name(named)),
            by: Some(sha.clone()),
        });
    }
    let actor = w.actor.clone();
    w.index.deliveries.push(DeliveryEntry {
        sha256: sha,
        file_name: receipt_file_name(named),
        round: round_s,
        rows_read: receipt.rows_read,
        accepted: receipt.accepted,
        rejected: receipt.rejected,
        data: paths.data,
        original: paths.original,
        receipt: paths.receipt,
        rejects: paths.rejects,
        scale: rules
            .scale
            .answers
            .iter()
            .map(|a| a.label.clone())
            .collect(),
        ingested_at: now,
        bytes: Some(size),
        evaluator: opts.evaluator.clone(),
        status: crate::store::DeliveryStatus::Active,
        status_change: None,
        replaces: replaces.as_ref().map(|d| d.sha256.clone()),
        actor: Some(actor),
        data_sha256: Some(data_sha),
        summary: Some(paths.summary),
    });
    // Test hook: widens the window in which a kill lands before the commit.
    crate::fsutil::test_pause("MANYI_TEST_PAUSE_BEFORE_COMMIT_MS");
    w.commit(draft)?;
    crate::fsutil::test_marker("ingest-committed");
    clock.lap("original, receipt and commit");
    clock.report(&file);
    Ok(Outcome {
        receipt,
        rejects: first_rejects,
    })
}

fn receipt_file_name(path: &Path) -> String {
    path.file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The first 12 hex digits of a delivery id (what people read; commands take 8+).
pub fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// Whether these bytes were stored before.
enum Before {
    /// Yes: the stored receipt, marked already ingested.
    Stored(Box<Outcome>),
    /// No; with the file's hash when it had to be taken to tell.
    New(Option<String>),
}

/// A stored delivery with these bytes has their size: only then is the file hashed
/// before it is read (to answer "already ingested" at once). Otherwise the hash is
/// taken while the file is parsed, in the same pass.
fn stored_before(
    store: &Store,
    index: &Index,
    path: &Path,
    det: &read::Detected,
    size: u64,
    file: &str,
    round: &RoundId,
    opts: &Options,
) -> Result<Before> {
    let maybe_stored = det.format == read::Format::Xlsx
        || index
            .deliveries
            .iter()
            .any(|d| d.bytes.is_none_or(|b| b == size));
    if !maybe_stored {
        return Ok(Before::New(None));
    }
    let sha = sha256_file(path)?;
    let Some(d) = index.deliveries.iter().find(|d| d.sha256 == sha) else {
        return Ok(Before::New(Some(sha)));
    };
    // The stored receipt is this delivery's answer only for the same round and the
    // same organisation: another organisation learns nothing of it (not its counts, its
    // communities or its flags), and another round is a mistake to name.
    if opts.evaluator.is_some() && d.evaluator != opts.evaluator {
        return Err(Error::file(
            file,
            crate::messages::t(
                "内容完全相同的文件此前已作为另一份交付入库,不重复入库;如确属本机构的数据,请联系考核办",
                "a file with exactly these bytes was stored before as another delivery; it is not stored again (ask the office if it is your organisation's)",
            ),
        ));
    }
    if d.round != round.to_string() {
        return Err(Error::file(
            file,
            format!(
                "{} {}{}",
                crate::messages::t(
                    "内容完全相同的文件此前已在另一轮入库:",
                    "a file with exactly these bytes was stored before for round",
                ),
                d.round,
                crate::messages::t(";请检查所选轮次", "; check the round you chose"),
            ),
        ));
    }
    if d.status != crate::store::DeliveryStatus::Active {
        let c = d.status_change.as_ref();
        return Err(Error::file(
            file,
            format!(
                "this file was stored before as delivery {} and {} on {} by {} ({}); it is not revived. If it should count again, ask the office; a corrected file is ingested with --replaces",
                short(&d.sha256),
                d.status.text(),
                c.map_or("?", |c| c.at.as_str()),
                c.map_or("?", |c| c.actor.as_str()),
                c.map_or("", |c| c.reason.as_str()),
            ),
        ));
    }
    let text = crate::fsutil::read_text(&store.path(&d.receipt))?;
    let mut r: Receipt =
        serde_json::from_str(&text).map_err(|e| Error::file(d.receipt.clone(), e.to_string()))?;
    r.status = ReceiptStatus::AlreadyIngested;
    r.file = file.to_string();
    Ok(Before::Stored(Box::new(Outcome {
        receipt: r,
        rejects: Vec::new(),
    })))
}

/// The respondent ids stored for the round by its active deliveries (but `except`,
/// the delivery a correction replaces), and their valid questionnaires per community.
fn round_so_far(
    store: &Store,
    index: &Index,
    round: &RoundId,
    except: Option<&str>,
) -> Result<(IdSet, HashMap<String, u64>)> {
    let mut ids = IdSet::default();
    let mut valid_by_community: HashMap<String, u64> = HashMap::new();
    let mut others = index.clone();
    others
        .deliveries
        .retain(|d| Some(d.sha256.as_str()) != except);
    let Some(df) = store.load_round(
        &others,
        round,
        Some(&["respondent_id", "community_code", "valid"]),
    )?
    else {
        return Ok((ids, valid_by_community));
    };
    let pe = |e| Error::Polars {
        path: store.dir.clone(),
        source: e,
    };
    let id_col = df
        .column("respondent_id")
        .and_then(|c| c.str())
        .map_err(pe)?;
    let comm = df
        .column("community_code")
        .and_then(|c| c.str())
        .map_err(pe)?;
    let valid = df.column("valid").and_then(|c| c.bool()).map_err(pe)?;
    for ((id, c), v) in id_col.iter().zip(comm.iter()).zip(valid.iter()) {
        if let Some(id) = id {
            ids.insert(id);
        }
        if let (Some(c), Some(true)) = (c, v) {
            *valid_by_community.entry(c.to_string()).or_default() += 1;
        }
    }
    Ok((ids, valid_by_community))
}

/// Where a delivery's files go in the store (relative to it), named by content.
struct StoredPaths {
    data: String,
    summary: String,
    original: String,
    receipt: String,
    rejects: String,
}

impl StoredPaths {
    /// The data and the original by content; the receipt and the rejects list by a
    /// name a person can find: `receipts/<round>/<file name>-<first 12 of sha256>`.
    fn new(round: &RoundId, sha: &str, delivered: &Path) -> StoredPaths {
        let ext = delivered
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| format!(".{}", e.to_lowercase()))
            .unwrap_or_default();
        let stem: String = delivered
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(60)
            .collect();
        let short = sha.get(..12).unwrap_or(sha);
        let name = if stem.is_empty() {
            short.to_string()
        } else {
            format!("{stem}-{short}")
        };
        StoredPaths {
            data: format!("responses/{round}/{sha}.parquet"),
            summary: format!("responses/{round}/{sha}.summary.json"),
            original: format!("originals/{sha}{ext}"),
            receipt: format!("receipts/{round}/{name}.json"),
            rejects: format!("receipts/{round}/{name}.rejects.csv"),
        }
    }
}

/// The delivery's cells for its summary (what the round's comparison needs of it),
/// from the accepted rows as stored.
fn delivery_cells(state: &merge::State, flags: &quality::Flags) -> crate::store::DeliveryCells {
    quality::cells::delivery_cells(&quality::cells::DeliveryRows {
        input: state.quality_input(),
        table: &flags.table,
        communities: &state.communities,
    })
}
