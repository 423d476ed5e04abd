//! Ingest: read an evaluator's delivery (encodings, CSV, XLSX) → normalise → validate →
//! store every accepted questionnaire (Parquet) and account for every rejected row in a
//! receipt. accepted + rejected = rows read, always.

pub mod normalise;
pub mod quality;
pub mod read;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read as _;
use std::path::Path;

use polars::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::round::RoundId;
use crate::rules::Rules;
use crate::store::{DeliveryEntry, Store, now_utc, write_parquet};
use crate::workspace::Workspace;
use normalise::{Codebook, Col, Communities, Found, HeaderMap, clean, parse_date};

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// XLSX sheet to read (default: the first).
    pub sheet: Option<String>,
}

/// Per community: what this delivery brought and what the round now holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CommunityReceipt {
    pub street_code: String,
    pub street_name: String,
    pub community_code: String,
    pub community_name: String,
    pub accepted: u64,
    pub valid: u64,
    /// Valid questionnaires stored for the round, this delivery included.
    pub round_valid: u64,
    /// Fewer valid questionnaires in the round than the rules' minimum.
    pub insufficient: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct QualitySummary {
    pub speeders: u64,
    pub straightliners: u64,
    pub duplicate_patterns: u64,
    pub too_few_answers: u64,
    pub flagged_interviewers: Vec<quality::InterviewerFlag>,
}

/// The receipt of one delivery (also written as JSON beside the stored data).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Receipt {
    pub file: String,
    pub sha256: String,
    pub round: String,
    /// `stored`, or `already-ingested` when the same bytes were stored before.
    pub status: String,
    pub format: String,
    pub encoding: String,
    pub delimiter: String,
    pub rows_read: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub valid: u64,
    pub invalid: u64,
    pub blank_lines_skipped: u64,
    /// canonical column → header as delivered.
    pub columns: BTreeMap<String, String>,
    pub ignored_columns: Vec<String>,
    /// Columns identifying a person, stored only as salted hashes.
    pub hashed_columns: Vec<String>,
    pub rejects_by_reason: BTreeMap<String, u64>,
    pub communities: Vec<CommunityReceipt>,
    pub quality: QualitySummary,
    /// Paths (relative to the workspace) of the stored receipt and rejects list.
    pub receipt_file: String,
    pub rejects_file: String,
    pub ingested_at: String,
}

/// What `ingest` returns: the receipt and the rejected rows (empty when the delivery
/// was already stored: they are in its rejects file).
pub struct Outcome {
    pub receipt: Receipt,
    pub rejects: Vec<Reject>,
}

/// A rejected row.
#[derive(Debug, Clone)]
pub struct Reject {
    pub line: u64,
    pub column: String,
    pub code: &'static str,
    pub reason: String,
    pub raw: Vec<String>,
}

/// Accepted questionnaires, column by column.
#[derive(Default)]
struct Accepted {
    line: Vec<u64>,
    respondent_id: Vec<String>,
    street_code: Vec<String>,
    community_code: Vec<String>,
    community_idx: Vec<u32>,
    date: Vec<Option<String>>,
    interviewer: Vec<Option<u32>>,
    mode: Vec<Option<String>>,
    duration: Vec<Option<f64>>,
    items: Vec<Vec<Option<u8>>>,
    answered: Vec<u8>,
    score: Vec<Option<f64>>,
    phone_hash: Vec<Option<String>>,
    name_hash: Vec<Option<String>>,
}

/// Everything the row check needs, set up once per delivery.
struct Context<'a> {
    rules: &'a Rules,
    round: RoundId,
    codebook: Codebook,
    communities: Communities<'a>,
    sample: HashSet<String>,
    stored_ids: HashSet<String>,
    salt: Option<String>,
    summary: HashSet<String>,
    item_scores: Vec<f64>,
}

struct State {
    header: Option<HeaderMap>,
    rows_read: u64,
    blank: u64,
    acc: Accepted,
    rejects: Vec<Reject>,
    seen: HashMap<String, u64>,
    interviewers: HashMap<String, u32>,
    interviewer_names: Vec<String>,
    community_index: HashMap<String, u32>,
}

impl State {
    fn new(n_items: usize) -> State {
        State {
            header: None,
            rows_read: 0,
            blank: 0,
            acc: Accepted {
                items: vec![Vec::new(); n_items],
                ..Default::default()
            },
            rejects: Vec::new(),
            seen: HashMap::new(),
            interviewers: HashMap::new(),
            interviewer_names: Vec::new(),
            community_index: HashMap::new(),
        }
    }
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

fn hash_personal(salt: &str, v: &str) -> String {
    crate::fsutil::sha256_hex(format!("{salt}:{v}").as_bytes())
}

/// Ingests one delivery for `round`. Returns its receipt; `Err` when the delivery is
/// refused whole (nothing is stored then).
pub fn ingest(ws: &Workspace, round: &RoundId, path: &Path, opts: &Options) -> Result<Outcome> {
    let file = path.display().to_string();
    if !path.is_file() {
        return Err(Error::file(&file, "no such file"));
    }
    let sha = sha256_file(path)?;
    let store = Store::new(ws);
    let _lock = store.lock()?;
    let mut index = store.read_index()?;
    store.remove_orphans(&index)?;
    if let Some(d) = index.deliveries.iter().find(|d| d.sha256 == sha) {
        let text = crate::fsutil::read_text(&store.path(&d.receipt))?;
        let mut r: Receipt = serde_json::from_str(&text)
            .map_err(|e| Error::file(d.receipt.clone(), e.to_string()))?;
        r.status = "already-ingested".into();
        r.file = file;
        return Ok(Outcome {
            receipt: r,
            rejects: Vec::new(),
        });
    }
    let rules = ws.rules()?;
    let frame = ws.frame()?;
    let sample: HashSet<String> = crate::sample::load_sample_codes(ws, round)?
        .0
        .into_iter()
        .collect();

    let stored = store.load_round(
        &index,
        round,
        Some(&["respondent_id", "community_code", "valid"]),
    )?;
    let mut stored_ids = HashSet::new();
    let mut stored_valid: HashMap<String, u64> = HashMap::new();
    if let Some(df) = &stored {
        let ids = str_col(df, "respondent_id")?;
        let comm = str_col(df, "community_code")?;
        let valid = df
            .column("valid")
            .and_then(|c| c.bool().cloned())
            .map_err(|e| Error::Polars {
                path: store.dir.clone(),
                source: e,
            })?;
        for ((id, c), v) in ids.iter().zip(comm.iter()).zip(valid.iter()) {
            if let Some(id) = id {
                stored_ids.insert(id.to_string());
            }
            if let (Some(c), Some(true)) = (c, v) {
                *stored_valid.entry(c.to_string()).or_default() += 1;
            }
        }
    }

    let ctx = Context {
        rules: &rules,
        round: *round,
        codebook: Codebook::new(&rules),
        communities: Communities::new(&frame, &rules),
        sample,
        stored_ids,
        salt: None,
        summary: rules
            .ingest
            .summary_labels
            .iter()
            .map(|s| clean(s).to_lowercase())
            .collect(),
        item_scores: rules.scale.answers.iter().map(|a| a.score).collect(),
    };
    let mut det = read::detect(path, &file)?;
    let mut ctx = ctx;
    let state = match read_all(path, &file, &det, opts, &mut ctx, &store) {
        Err(e) if read::is_not_utf8(&e) && det.encoding == read::Encoding::Utf8 => {
            det.encoding = read::Encoding::Gb18030;
            read_all(path, &file, &det, opts, &mut ctx, &store).map_err(|e| {
                Error::file(
                    &file,
                    format!("the file is neither UTF-8 nor GBK/GB18030 throughout: {e}"),
                )
            })?
        }
        Err(e) => return Err(e),
        Ok(s) => s,
    };
    let header = state
        .header
        .as_ref()
        .ok_or_else(|| Error::file(&file, "the file has no header row (it is empty or blank)"))?;

    // Quality flags and the stored frame.
    let acc = &state.acc;
    let input = quality::Input {
        community: &acc.community_idx,
        interviewer: &acc.interviewer,
        interviewer_names: &state.interviewer_names,
        duration: &acc.duration,
        score: &acc.score,
        items: &acc.items,
        answered: &acc.answered,
    };
    let (flags, flagged_interviewers) = quality::compute(&input, &rules);
    let valid: Vec<bool> = acc
        .answered
        .iter()
        .map(|a| (*a as usize) >= rules.validity.min_answered_items)
        .collect();
    let n = acc.line.len();
    let round_s = round.to_string();
    let mut cols: Vec<Column> = vec![
        Column::new("round".into(), vec![round_s.as_str(); n]),
        Column::new("delivery".into(), vec![sha.as_str(); n]),
        Column::new("line".into(), &acc.line),
        Column::new("respondent_id".into(), &acc.respondent_id),
        Column::new("street_code".into(), &acc.street_code),
        Column::new("community_code".into(), &acc.community_code),
        Column::new("interview_date".into(), &acc.date),
        Column::new(
            "interviewer_id".into(),
            acc.interviewer
                .iter()
                .map(|i| i.map(|i| state.interviewer_names[i as usize].as_str()))
                .collect::<Vec<_>>(),
        ),
        Column::new("mode".into(), &acc.mode),
        Column::new("duration_s".into(), &acc.duration),
    ];
    for (q, items) in rules.questions.iter().zip(acc.items.iter()) {
        cols.push(Column::new(q.id.as_str().into(), items));
    }
    cols.extend([
        Column::new("answered".into(), &acc.answered),
        Column::new("valid".into(), &valid),
        Column::new("flag_speeder".into(), &flags.speeder),
        Column::new("flag_straightline".into(), &flags.straightline),
        Column::new("flag_duplicate_pattern".into(), &flags.duplicate_pattern),
        Column::new("flag_too_few_answers".into(), &flags.few_answers),
        Column::new("flag_interviewer".into(), &flags.interviewer),
        Column::new("phone_hash".into(), &acc.phone_hash),
        Column::new("name_hash".into(), &acc.name_hash),
    ]);
    let data_rel = format!("responses/{round}/{sha}.parquet");
    let mut df = DataFrame::new(n, cols).map_err(|e| Error::Polars {
        path: store.path(&data_rel),
        source: e,
    })?;

    // Receipt.
    let mut per_comm: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (c, v) in acc.community_code.iter().zip(valid.iter()) {
        let e = per_comm.entry(c.clone()).or_default();
        e.0 += 1;
        e.1 += *v as u64;
    }
    let communities = per_comm
        .iter()
        .map(|(code, (a, v))| {
            let com = frame.community(code);
            let round_valid = v + stored_valid.get(code).copied().unwrap_or(0);
            CommunityReceipt {
                street_code: com.map(|c| c.street_code.clone()).unwrap_or_default(),
                street_name: com.map(|c| c.street_name.clone()).unwrap_or_default(),
                community_code: code.clone(),
                community_name: com.map(|c| c.name.clone()).unwrap_or_default(),
                accepted: *a,
                valid: *v,
                round_valid,
                insufficient: (round_valid as usize) < rules.validity.min_valid_per_community,
            }
        })
        .collect();
    let mut rejects_by_reason = BTreeMap::new();
    for r in &state.rejects {
        *rejects_by_reason.entry(r.code.to_string()).or_default() += 1;
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| format!(".{}", e.to_lowercase()))
        .unwrap_or_default();
    let original_rel = format!("originals/{sha}{ext}");
    let receipt_rel = format!("receipts/{sha}.json");
    let rejects_rel = format!("receipts/{sha}.rejects.csv");
    let ws_rel = |r: &str| {
        let p = store.path(r);
        p.strip_prefix(&ws.root).unwrap_or(&p).display().to_string()
    };
    let mut columns = BTreeMap::new();
    let mut hashed_columns = Vec::new();
    for (c, name) in header.cols.iter().zip(header.names.iter()) {
        if let Some(c) = c {
            columns.insert(c.canonical(&rules), name.clone());
            if matches!(c, Col::Phone | Col::Name) {
                hashed_columns.push(name.clone());
            }
        }
    }
    let count = |v: &[bool]| v.iter().filter(|b| **b).count() as u64;
    let accepted = n as u64;
    let rejected = state.rejects.len() as u64;
    let receipt = Receipt {
        file: file.clone(),
        sha256: sha.clone(),
        round: round_s.clone(),
        status: "stored".into(),
        format: match det.format {
            read::Format::Csv => "csv".into(),
            read::Format::Xlsx => "xlsx".into(),
        },
        encoding: serde_json::to_value(det.encoding)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default(),
        delimiter: if det.format == read::Format::Xlsx {
            String::new()
        } else if det.delimiter == b'\t' {
            "tab".into()
        } else {
            "comma".into()
        },
        rows_read: state.rows_read,
        accepted,
        rejected,
        valid: count(&valid),
        invalid: accepted - count(&valid),
        blank_lines_skipped: state.blank,
        columns,
        ignored_columns: header.ignored.clone(),
        hashed_columns,
        rejects_by_reason,
        communities,
        quality: QualitySummary {
            speeders: count(&flags.speeder),
            straightliners: count(&flags.straightline),
            duplicate_patterns: count(&flags.duplicate_pattern),
            too_few_answers: count(&flags.few_answers),
            flagged_interviewers,
        },
        receipt_file: ws_rel(&receipt_rel),
        rejects_file: ws_rel(&rejects_rel),
        ingested_at: now_utc(),
    };
    if receipt.accepted + receipt.rejected != receipt.rows_read {
        return Err(Error::Invalid(format!(
            "internal accounting error on {file}: {} accepted + {} rejected ≠ {} rows read; nothing stored",
            receipt.accepted, receipt.rejected, receipt.rows_read
        )));
    }

    // Write everything under its final content-addressed name, then commit the index.
    write_parquet(&store.path(&data_rel), &mut df)?;
    let original = store.path(&original_rel);
    if !original.exists() {
        crate::fsutil::write_atomic(&original, &crate::fsutil::read(path)?)?;
    }
    crate::fsutil::write_atomic(
        &store.path(&rejects_rel),
        &rejects_csv(&file, &state.rejects),
    )?;
    let json = serde_json::to_vec_pretty(&receipt).map_err(|e| Error::Invalid(e.to_string()))?;
    crate::fsutil::write_atomic(&store.path(&receipt_rel), &json)?;
    index.deliveries.push(DeliveryEntry {
        sha256: sha,
        file_name: path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        round: round_s,
        rows_read: receipt.rows_read,
        accepted,
        rejected,
        data: data_rel,
        original: original_rel,
        receipt: receipt_rel,
        rejects: rejects_rel,
        scale: rules
            .scale
            .answers
            .iter()
            .map(|a| a.label.clone())
            .collect(),
        ingested_at: receipt.ingested_at.clone(),
    });
    if let Ok(ms) = std::env::var("MANYI_TEST_PAUSE_BEFORE_COMMIT_MS")
        && let Ok(ms) = ms.parse::<u64>()
    {
        // Test hook: widens the window in which a kill lands before the commit.
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    store.write_index(&index)?;
    Ok(Outcome {
        receipt,
        rejects: state.rejects,
    })
}

fn str_col<'a>(df: &'a DataFrame, name: &str) -> Result<&'a StringChunked> {
    df.column(name)
        .and_then(|c| c.str())
        .map_err(|e| Error::Polars {
            path: name.into(),
            source: e,
        })
}

/// The rejects list: UTF-8 with BOM so Excel opens it right; raw cells neutralised.
fn rejects_csv(file: &str, rejects: &[Reject]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    let _ = w.write_record(["file", "line", "column", "reason_code", "reason", "raw"]);
    for r in rejects {
        let mut raw = csv::WriterBuilder::new().from_writer(Vec::new());
        let _ = raw.write_record(r.raw.iter().map(|c| c.as_str()));
        let raw = String::from_utf8(raw.into_inner().unwrap_or_default()).unwrap_or_default();
        let _ = w.write_record([
            file,
            &r.line.to_string(),
            &r.column,
            r.code,
            &crate::fsutil::neutralise_cell(&r.reason),
            &crate::fsutil::neutralise_cell(raw.trim_end()),
        ]);
    }
    w.into_inner().unwrap_or_default()
}

fn read_all(
    path: &Path,
    file: &str,
    det: &read::Detected,
    opts: &Options,
    ctx: &mut Context<'_>,
    store: &Store,
) -> Result<State> {
    let mut st = State::new(ctx.rules.questions.len());
    let mut header: Option<HeaderMap> = None;
    let trailing = read::for_each_record(path, file, det, opts.sheet.as_deref(), &mut |row| {
        if header.is_some() {
            st.blank += row.blank_before;
        }
        if row.cells.iter().all(|c| c.trim().is_empty()) {
            if header.is_some() {
                st.blank += 1;
            }
            return Ok(());
        }
        match &header {
            None => {
                let h = HeaderMap::new(row.cells, ctx.rules, file)?;
                if (h.position(Col::Phone).is_some() || h.position(Col::Name).is_some())
                    && ctx.salt.is_none()
                {
                    ctx.salt = Some(store.salt()?);
                }
                header = Some(h);
                Ok(())
            }
            Some(h) => {
                st.rows_read += 1;
                check_row(ctx, h, &mut st, row.line, row.cells);
                Ok(())
            }
        }
    })?;
    if header.is_some() {
        st.blank += trailing;
    }
    st.header = header;
    Ok(st)
}

/// Checks one data row: accepted into `st.acc`, or rejected into `st.rejects`.
fn check_row(ctx: &Context<'_>, h: &HeaderMap, st: &mut State, line: u64, cells: &[String]) {
    let reject = |st: &mut State, column: &str, code: &'static str, reason: String| {
        st.rejects.push(Reject {
            line,
            column: column.to_string(),
            code,
            reason,
            raw: cells.to_vec(),
        });
    };
    let first = cells
        .iter()
        .map(|c| clean(c))
        .find(|c| !c.is_empty())
        .unwrap_or_default();
    if ctx.summary.contains(&first.to_lowercase()) {
        return reject(
            st,
            "",
            "summary-row",
            format!("a summary row ({first}), not a questionnaire"),
        );
    }
    let mut width = cells.len();
    while width > h.width && cells[width - 1].trim().is_empty() {
        width -= 1;
    }
    if width != h.width {
        return reject(
            st,
            "",
            "field-count",
            format!("has {width} fields, the header has {}", h.width),
        );
    }
    let get = |c: Col| h.position(c).map(|i| clean(&cells[i]));
    let colname = |c: Col| {
        h.position(c)
            .map(|i| h.names[i].clone())
            .unwrap_or_default()
    };

    let id = get(Col::RespondentId).unwrap_or_default();
    if id.is_empty() {
        return reject(
            st,
            &colname(Col::RespondentId),
            "missing-id",
            "the respondent id is empty".into(),
        );
    }
    if let Some(r) = get(Col::Round)
        && !r.is_empty()
        && r != ctx.round.to_string()
    {
        return reject(
            st,
            &colname(Col::Round),
            "wrong-round",
            format!(
                "round {r:?} in the row, this delivery is ingested for {}",
                ctx.round
            ),
        );
    }
    let street = get(Col::Street);
    let code = get(Col::CommunityCode).filter(|c| !c.is_empty());
    let name = get(Col::CommunityName).filter(|c| !c.is_empty());
    let community = match (&code, &name) {
        (Some(code), _) => match ctx.communities.by_code(code) {
            Some(c) => c,
            None => {
                return reject(
                    st,
                    &colname(Col::CommunityCode),
                    "unknown-community",
                    format!("community code {code} is not in the frame"),
                );
            }
        },
        (None, Some(name)) => match ctx.communities.by_name(name, street.as_deref()) {
            Found::One(c) => c,
            Found::Ambiguous(cs) => {
                let list: Vec<_> = cs
                    .iter()
                    .map(|c| format!("{} {} ({})", c.code, c.name, c.street_name))
                    .collect();
                return reject(
                    st,
                    &colname(Col::CommunityName),
                    "ambiguous-community",
                    format!(
                        "community name {name:?} matches several communities: {}; deliver the community code",
                        list.join("; ")
                    ),
                );
            }
            Found::None => {
                return reject(
                    st,
                    &colname(Col::CommunityName),
                    "unknown-community",
                    format!("community name {name:?} is not in the frame"),
                );
            }
        },
        (None, None) => {
            return reject(
                st,
                &colname(Col::CommunityCode),
                "unknown-community",
                "no community code or name".into(),
            );
        }
    };
    if let (Some(_), Some(name)) = (&code, &name) {
        let core = ctx.communities.core(name);
        if core != ctx.communities.core(&clean(&community.name)) {
            return reject(
                st,
                &colname(Col::CommunityName),
                "community-mismatch",
                format!(
                    "community name {name:?} does not match code {} ({})",
                    community.code, community.name
                ),
            );
        }
    }
    if let Some(s) = street.as_deref().filter(|s| !s.is_empty())
        && s != community.street_name
        && !community.street_name.starts_with(s)
    {
        return reject(
            st,
            &colname(Col::Street),
            "street-mismatch",
            format!(
                "street {s:?} but community {} is in {}",
                community.name, community.street_name
            ),
        );
    }
    if !ctx.sample.contains(&community.code) {
        return reject(
            st,
            &colname(if code.is_some() {
                Col::CommunityCode
            } else {
                Col::CommunityName
            }),
            "not-in-sample",
            format!(
                "community {} {} is not in the sample of round {}",
                community.code, community.name, ctx.round
            ),
        );
    }
    let mut answers = Vec::with_capacity(ctx.rules.questions.len());
    for (k, q) in ctx.rules.questions.iter().enumerate() {
        let i = h
            .position(Col::Item(k))
            .expect("every item column is required");
        match ctx.codebook.lookup(&cells[i]) {
            Ok(a) => answers.push(a),
            Err(()) => {
                return reject(
                    st,
                    &h.names[i],
                    "bad-answer",
                    format!(
                        "{:?} is not an answer of the scale for {} (labels {}, codes {}; 不了解 or blank = not answered)",
                        clean(&cells[i]),
                        q.id,
                        ctx.rules
                            .scale
                            .answers
                            .iter()
                            .map(|a| a.label.as_str())
                            .collect::<Vec<_>>()
                            .join("/"),
                        ctx.rules
                            .scale
                            .answers
                            .iter()
                            .map(|a| a.code.as_str())
                            .collect::<Vec<_>>()
                            .join("/"),
                    ),
                );
            }
        }
    }
    let date = match get(Col::Date).filter(|d| !d.is_empty()) {
        None => None,
        Some(d) => match parse_date(&d) {
            Err(why) => return reject(st, &colname(Col::Date), "bad-date", why),
            Ok((y, _, _)) if y != ctx.round.year => {
                return reject(
                    st,
                    &colname(Col::Date),
                    "date-outside-year",
                    format!("{d:?} is outside the round's year {}", ctx.round.year),
                );
            }
            Ok((y, m, dd)) => Some(format!("{y:04}-{m:02}-{dd:02}")),
        },
    };
    let duration = match get(Col::Duration).filter(|d| !d.is_empty()) {
        None => None,
        Some(d) => match d.parse::<f64>() {
            Ok(x) if x.is_finite() && x >= 0.0 => Some(x),
            _ => {
                return reject(
                    st,
                    &colname(Col::Duration),
                    "bad-duration",
                    format!("duration {d:?} is not a number of seconds"),
                );
            }
        },
    };
    if let Some(first) = st.seen.get(id.as_ref()) {
        return reject(
            st,
            &colname(Col::RespondentId),
            "duplicate-in-file",
            format!("respondent id {id} repeats line {first} of this file (the first is kept)"),
        );
    }
    if ctx.stored_ids.contains(id.as_ref()) {
        return reject(
            st,
            &colname(Col::RespondentId),
            "duplicate-stored",
            format!(
                "respondent id {id} is already stored for round {} from an earlier delivery",
                ctx.round
            ),
        );
    }

    // Accepted.
    let id = id.into_owned();
    st.seen.insert(id.clone(), line);
    let acc = &mut st.acc;
    acc.line.push(line);
    acc.respondent_id.push(id);
    acc.street_code.push(community.street_code.clone());
    acc.community_code.push(community.code.clone());
    let next = st.community_index.len() as u32;
    acc.community_idx.push(
        *st.community_index
            .entry(community.code.clone())
            .or_insert(next),
    );
    acc.date.push(date);
    let iv = get(Col::Interviewer).filter(|s| !s.is_empty()).map(|s| {
        let next = st.interviewer_names.len() as u32;
        *st.interviewers.entry(s.to_string()).or_insert_with(|| {
            st.interviewer_names.push(s.into_owned());
            next
        })
    });
    acc.interviewer.push(iv);
    acc.mode.push(
        get(Col::Mode)
            .filter(|s| !s.is_empty())
            .map(|s| s.into_owned()),
    );
    acc.duration.push(duration);
    let mut answered = 0u8;
    for (k, a) in answers.iter().enumerate() {
        acc.items[k].push(*a);
        answered += a.is_some() as u8;
    }
    acc.answered.push(answered);
    acc.score.push(crate::score::estimators::respondent_score(
        ctx.rules
            .questions
            .iter()
            .zip(answers.iter())
            .map(|(q, a)| (q.weight, a.map(|i| ctx.item_scores[i as usize]))),
    ));
    let personal = |c: Col| {
        get(c)
            .filter(|v| !v.is_empty())
            .and_then(|v| ctx.salt.as_ref().map(|s| hash_personal(s, &v)))
    };
    acc.phone_hash.push(personal(Col::Phone));
    acc.name_hash.push(personal(Col::Name));
}
