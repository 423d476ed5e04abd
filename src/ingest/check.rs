//! The row checks: every data row is accepted (into a batch's columns) or rejected
//! with file, line, column and reason. Runs on many threads, one batch at a time.

use crate::round::RoundId;
use crate::rules::Rules;

use super::accepted::{Accepted, Dict, IdSet, NA_ITEM, NONE, id_hash};
use super::normalise::{Codebook, Col, Communities, Found, HeaderMap, clean, parse_date};
use super::read;
use super::receipt::Reject;

/// Everything the row check needs, set up once per delivery (shared by the checkers).
pub(crate) struct Context<'a> {
    pub(crate) rules: &'a Rules,
    pub(crate) round: RoundId,
    pub(crate) round_s: String,
    pub(crate) codebook: Codebook,
    pub(crate) communities: Communities<'a>,
    pub(crate) sample: rustc_hash::FxHashSet<String>,
    /// Respondent ids stored for the round by earlier deliveries.
    pub(crate) stored_ids: IdSet,
    /// Set when the header has a phone or name column.
    pub(crate) salt: std::sync::OnceLock<String>,
    pub(crate) summary: rustc_hash::FxHashSet<String>,
    /// Length in bytes of the longest summary label.
    pub(crate) summary_max_len: usize,
    pub(crate) item_scores: Vec<f64>,
}

impl<'a> Context<'a> {
    pub(crate) fn new(
        rules: &'a Rules,
        frame: &'a crate::frame::Frame,
        round: &RoundId,
        sample: rustc_hash::FxHashSet<String>,
        stored_ids: IdSet,
    ) -> Context<'a> {
        let summary: rustc_hash::FxHashSet<String> = rules
            .ingest
            .summary_labels
            .iter()
            .map(|s| clean(s).to_lowercase())
            .collect();
        Context {
            rules,
            round: *round,
            round_s: round.to_string(),
            codebook: Codebook::new(rules),
            communities: Communities::new(frame, rules),
            sample,
            stored_ids,
            salt: std::sync::OnceLock::new(),
            summary_max_len: summary.iter().map(String::len).max().unwrap_or(0),
            summary,
            item_scores: rules.scale.answers.iter().map(|a| a.score).collect(),
        }
    }
}

/// Marks an accepted row in `Part::order`.
pub(crate) const ACCEPTED: u32 = u32::MAX;

/// One batch of records after the row checks (done in parallel): rejected rows, and
/// accepted ones with their dictionaries local to the batch. Merged into `State` in
/// file order, where the duplicate ids within the file are found.
pub(crate) struct Part {
    pub(crate) batch: read::Batch,
    pub(crate) rows_read: u64,
    pub(crate) blank: u64,
    /// Per data row, in order: ACCEPTED, or an index into `rejects`.
    pub(crate) order: Vec<u32>,
    pub(crate) rejects: Vec<Reject>,
    /// Record in `batch` of each accepted row.
    pub(crate) rec: Vec<u32>,
    pub(crate) id_hash: Vec<u64>,
    pub(crate) acc: Accepted,
    pub(crate) interviewers: Dict,
    pub(crate) modes: Dict,
}

pub(crate) fn hash_personal(salt: &str, v: &str) -> String {
    crate::fsutil::sha256_hex(format!("{salt}:{v}").as_bytes())
}

/// The row checks of one batch (no shared state is written: this runs in parallel).
pub(crate) fn check_batch(ctx: &Context<'_>, h: &HeaderMap, batch: read::Batch) -> Part {
    let mut p = Part {
        batch: read::Batch::default(),
        rows_read: 0,
        blank: 0,
        order: Vec::with_capacity(batch.len()),
        rejects: Vec::new(),
        rec: Vec::with_capacity(batch.len()),
        id_hash: Vec::with_capacity(batch.len()),
        acc: Accepted {
            n_items: ctx.rules.questions.len(),
            ..Default::default()
        },
        interviewers: Dict::default(),
        modes: Dict::default(),
    };
    p.acc.reserve(batch.len());
    let mut cells: Vec<&str> = Vec::with_capacity(h.width + 4);
    for r in 0..batch.len() {
        p.blank += batch.blank_before[r];
        if batch.overlong[r] > 0 {
            p.rows_read += 1;
            p.order.push(p.rejects.len() as u32);
            p.rejects.push(Reject {
                line: batch.lines[r],
                column: String::new(),
                code: "line-too-long",
                reason: format!(
                    "a record of {} bytes (at most {} are read): a line without line breaks, or a quote that is never closed",
                    batch.overlong[r],
                    read::MAX_RECORD_BYTES
                ),
                raw: Vec::new(),
            });
            continue;
        }
        batch.fields_into(r, &mut cells);
        if cells.iter().all(|c| c.trim().is_empty()) {
            p.blank += 1;
            continue;
        }
        p.rows_read += 1;
        check_row(ctx, h, &mut p, r as u32, batch.lines[r], &cells);
    }
    drop(cells);
    p.batch = batch;
    p
}

/// Checks one data row: accepted into `st.acc`, or rejected into `st.rejects`.
pub(crate) fn check_row(
    ctx: &Context<'_>,
    h: &HeaderMap,
    st: &mut Part,
    rec: u32,
    line: u64,
    cells: &[&str],
) {
    let reject = |st: &mut Part, column: &str, code: &'static str, reason: String| {
        st.order.push(st.rejects.len() as u32);
        st.rejects.push(Reject {
            line,
            column: column.to_string(),
            code,
            reason,
            raw: cells.iter().map(|c| c.to_string()).collect(),
        });
    };
    let first = cells
        .iter()
        .map(|c| clean(c))
        .find(|c| !c.is_empty())
        .unwrap_or_default();
    // Summary labels are compared without case (合计, Total, TOTAL).
    let is_summary = first.len() <= ctx.summary_max_len
        && if first.is_ascii() {
            ctx.summary.iter().any(|l| l.eq_ignore_ascii_case(&first))
        } else {
            ctx.summary.contains(first.as_ref())
        };
    if is_summary {
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
        && r != ctx.round_s
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
    let (community_index, community) = match (&code, &name) {
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
            Found::One(i, c) => (i, c),
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
    let mut answers = [None; crate::rules::MAX_QUESTIONS];
    let n_items = ctx.rules.questions.len();
    for (k, (q, &i)) in ctx.rules.questions.iter().zip(h.items()).enumerate() {
        match ctx.codebook.lookup(cells[i]) {
            Ok(a) => answers[k] = a,
            Err(()) => {
                return reject(
                    st,
                    &h.names[i],
                    "bad-answer",
                    format!(
                        "{:?} is not an answer of the scale for {} (labels {}, codes {}; 不了解 or blank = not answered)",
                        clean(cells[i]),
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
            Ok((y, m, dd)) => Some((y, m, dd)),
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
    let hash = id_hash(&id);
    if ctx.stored_ids.contains(hash, &id) {
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

    // Accepted here; a repeat of an earlier row's id is found in `merge`.
    st.order.push(ACCEPTED);
    st.rec.push(rec);
    st.id_hash.push(hash);
    let acc = &mut st.acc;
    acc.line.push(line);
    acc.id_buf.push_str(&id);
    acc.id_end.push(acc.id_buf.len());
    acc.community.push(community_index);
    acc.date.push(
        date.map(|(y, m, d)| y as u32 * 10000 + m * 100 + d)
            .unwrap_or(0),
    );
    let iv = get(Col::Interviewer)
        .filter(|s| !s.is_empty())
        .map_or(NONE, |s| st.interviewers.intern(&s));
    acc.interviewer.push(iv);
    let mode = get(Col::Mode)
        .filter(|s| !s.is_empty())
        .map_or(NONE, |s| st.modes.intern(&s));
    acc.mode.push(mode);
    acc.duration.push(duration.unwrap_or(f64::NAN));
    let answers = &answers[..n_items];
    let mut answered = 0u8;
    for a in answers {
        acc.items.push(a.unwrap_or(NA_ITEM));
        answered += a.is_some() as u8;
    }
    acc.answered.push(answered);
    acc.score.push(
        crate::estimators::respondent_score(
            ctx.rules
                .questions
                .iter()
                .zip(answers.iter())
                .map(|(q, a)| (q.weight, a.map(|i| ctx.item_scores[i as usize]))),
        )
        .unwrap_or(f64::NAN),
    );
    let personal = |c: Col| {
        get(c)
            .filter(|v| !v.is_empty())
            .and_then(|v| ctx.salt.get().map(|s| hash_personal(s, &v)))
    };
    if h.position(Col::Phone).is_some() {
        acc.phone_hash.push(personal(Col::Phone));
    }
    if h.position(Col::Name).is_some() {
        acc.name_hash.push(personal(Col::Name));
    }
}
