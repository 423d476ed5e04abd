//! The row checks: every data row is accepted (into a batch's columns) or rejected
//! with file, line, column and reason. Runs on many threads, one batch at a time.

use crate::round::RoundId;
use crate::rules::Rules;

use super::accepted::{Accepted, Dict, IdSet, NA_ITEM, NONE, id_hash};
use super::normalise::{Codebook, Col, Communities, Found, HeaderMap, clean, parse_date};
use super::read;
use super::receipt::{Reject, RowFault};
use crate::frame::Community;
use crate::messages::Fault;

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
    /// The scale's labels and codes, as a bad answer's message lists them.
    pub(crate) scale_labels: String,
    pub(crate) scale_codes: String,
    /// The uploader's organisation and its streets for the round, when assigned.
    pub(crate) assigned: Option<super::Assigned>,
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
            scale_labels: join_answers(rules, |a| &a.label),
            scale_codes: join_answers(rules, |a| &a.code),
            assigned: None,
        }
    }
}

/// One field of every answer of the scale, joined by `/` (as a bad answer's message
/// lists them).
fn join_answers(rules: &Rules, f: impl Fn(&crate::rules::Answer) -> &String) -> String {
    rules
        .scale
        .answers
        .iter()
        .map(|a| f(a).as_str())
        .collect::<Vec<_>>()
        .join("/")
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
                faults: vec![RowFault {
                    column: String::new(),
                    value: String::new(),
                    fault: Fault::LineTooLong {
                        bytes: batch.overlong[r],
                        limit: read::MAX_RECORD_BYTES as u64,
                    },
                }],
                raw: Vec::new(),
                id: None,
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

/// Checks one data row: accepted into `st.acc`, or rejected into `st.rejects` with
/// every fault it has (a row with three faults lists three), so that one correction
/// fixes it. A summary row and a row of the wrong length are one fault each (their
/// cells mean nothing column by column).
pub(crate) fn check_row(
    ctx: &Context<'_>,
    h: &HeaderMap,
    st: &mut Part,
    rec: u32,
    line: u64,
    cells: &[&str],
) {
    let colname = |c: Col| {
        h.position(c)
            .map(|i| h.names[i].clone())
            .unwrap_or_default()
    };
    // A short row (a trailing `合计,20`) has fewer cells than the header: a column past
    // its end reads as empty, and the row is rejected for its field count below.
    let get = |c: Col| h.position(c).and_then(|i| cells.get(i)).map(|s| clean(s));
    let mut faults: Vec<RowFault> = Vec::new();
    fn fault(faults: &mut Vec<RowFault>, column: String, value: String, fault: Fault) {
        faults.push(RowFault {
            column,
            value,
            fault,
        })
    }
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
    let mut width = cells.len();
    while width > h.width && cells[width - 1].trim().is_empty() {
        width -= 1;
    }
    // Borrowed from the row unless it had to be cleaned; owned only for a reject.
    let id = get(Col::RespondentId).unwrap_or_default(); // ok: empty = the MissingId fault below
    if is_summary {
        fault(
            &mut faults,
            String::new(),
            String::new(),
            Fault::SummaryRow {
                label: first.into_owned(),
            },
        );
    } else if width != h.width {
        fault(
            &mut faults,
            String::new(),
            String::new(),
            Fault::FieldCount {
                found: width,
                expected: h.width,
            },
        );
    }
    if !faults.is_empty() {
        return reject(
            st,
            line,
            faults,
            cells,
            (!id.is_empty()).then(|| id.into_owned()),
        );
    }

    if id.is_empty() {
        fault(
            &mut faults,
            colname(Col::RespondentId),
            String::new(),
            Fault::MissingId,
        );
    }
    if let Some(r) = get(Col::Round)
        && !r.is_empty()
        && r != ctx.round_s
    {
        fault(
            &mut faults,
            colname(Col::Round),
            r.to_string(),
            Fault::WrongRound {
                found: r.into_owned(),
                round: ctx.round_s.clone(),
            },
        );
    }
    let street = get(Col::Street);
    let code = get(Col::CommunityCode).filter(|c| !c.is_empty());
    let name = get(Col::CommunityName).filter(|c| !c.is_empty());
    let community: Option<(u32, &Community)> = match (&code, &name) {
        (Some(code), _) => match ctx.communities.by_code(code) {
            Some(c) => Some(c),
            None => {
                fault(
                    &mut faults,
                    colname(Col::CommunityCode),
                    code.to_string(),
                    Fault::UnknownCommunityCode {
                        code: code.to_string(),
                    },
                );
                None
            }
        },
        (None, Some(name)) => match ctx.communities.by_name(name, street.as_deref()) {
            Found::One(i, c) => Some((i, c)),
            Found::Ambiguous(cs) => {
                fault(
                    &mut faults,
                    colname(Col::CommunityName),
                    name.to_string(),
                    Fault::AmbiguousCommunity {
                        name: name.to_string(),
                        candidates: cs
                            .iter()
                            .map(|c| format!("{} {} ({})", c.code, c.name, c.street_name))
                            .collect(),
                    },
                );
                None
            }
            Found::None => {
                fault(
                    &mut faults,
                    colname(Col::CommunityName),
                    name.to_string(),
                    Fault::UnknownCommunityName {
                        name: name.to_string(),
                    },
                );
                None
            }
        },
        (None, None) => {
            fault(
                &mut faults,
                colname(Col::CommunityCode),
                String::new(),
                Fault::NoCommunity,
            );
            None
        }
    };
    if let Some((_, community)) = community {
        if let (Some(_), Some(name)) = (&code, &name)
            && ctx.communities.core(name) != ctx.communities.core(&clean(&community.name))
        {
            fault(
                &mut faults,
                colname(Col::CommunityName),
                name.to_string(),
                Fault::CommunityMismatch {
                    name: name.to_string(),
                    code: community.code.clone(),
                    frame_name: community.name.clone(),
                },
            );
        }
        if let Some(s) = street.as_deref().filter(|s| !s.is_empty())
            && s != community.street_name
            && !community.street_name.starts_with(s)
        {
            fault(
                &mut faults,
                colname(Col::Street),
                s.to_string(),
                Fault::StreetMismatch {
                    street: s.to_string(),
                    community: community.name.clone(),
                    actual: community.street_name.clone(),
                },
            );
        }
        if !ctx.sample.contains(&community.code) {
            let (col, value) = match (&code, &name) {
                (Some(c), _) => (Col::CommunityCode, c.to_string()),
                (None, n) => (Col::CommunityName, n.as_deref().unwrap_or("").to_string()),
            };
            fault(
                &mut faults,
                colname(col),
                value,
                Fault::NotInSample {
                    code: community.code.clone(),
                    name: community.name.clone(),
                    round: ctx.round_s.clone(),
                },
            );
        }
        if let Some(a) = &ctx.assigned
            && !a.streets.contains(&community.street_code)
        {
            fault(
                &mut faults,
                colname(Col::CommunityCode),
                community.code.clone(),
                Fault::StreetNotAssigned {
                    street: community.street_name.clone(),
                    org: a.org.clone(),
                    round: ctx.round_s.clone(),
                },
            );
        }
    }
    let mut answers = [None; crate::rules::MAX_QUESTIONS];
    let n_items = ctx.rules.questions.len();
    for (k, (q, &i)) in ctx.rules.questions.iter().zip(h.items()).enumerate() {
        match ctx.codebook.lookup(cells[i]) {
            Ok(a) => answers[k] = a,
            Err(()) => fault(
                &mut faults,
                h.names[i].clone(),
                cells[i].to_string(),
                Fault::BadAnswer {
                    value: clean(cells[i]).into_owned(),
                    question: q.id.clone(),
                    labels: ctx.scale_labels.clone(),
                    codes: ctx.scale_codes.clone(),
                },
            ),
        }
    }
    let date = match get(Col::Date).filter(|d| !d.is_empty()) {
        None => None,
        Some(d) => match parse_date(&d) {
            Err(problem) => {
                fault(
                    &mut faults,
                    colname(Col::Date),
                    d.to_string(),
                    Fault::BadDate {
                        value: d.into_owned(),
                        problem,
                    },
                );
                None
            }
            Ok((y, _, _)) if y != ctx.round.year => {
                fault(
                    &mut faults,
                    colname(Col::Date),
                    d.to_string(),
                    Fault::DateOutsideYear {
                        value: d.into_owned(),
                        year: ctx.round.year,
                    },
                );
                None
            }
            Ok((y, m, dd)) => Some((y, m, dd)),
        },
    };
    let duration = match get(Col::Duration).filter(|d| !d.is_empty()) {
        None => None,
        Some(d) => match d.parse::<f64>() {
            Ok(x) if x.is_finite() && x >= 0.0 => Some(x),
            _ => {
                fault(
                    &mut faults,
                    colname(Col::Duration),
                    d.to_string(),
                    Fault::BadDuration {
                        value: d.into_owned(),
                    },
                );
                None
            }
        },
    };
    let hash = id_hash(&id);
    if !id.is_empty() && ctx.stored_ids.contains(hash, &id) {
        fault(
            &mut faults,
            colname(Col::RespondentId),
            id.to_string(),
            Fault::DuplicateStored {
                id: id.to_string(),
                round: ctx.round_s.clone(),
            },
        );
    }
    let (Some((community_index, _)), true) = (community, faults.is_empty()) else {
        return reject(
            st,
            line,
            faults,
            cells,
            (!id.is_empty()).then(|| id.into_owned()),
        );
    };

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

/// Rejects a row with its faults (and its id, for the repeated-id check in `merge`).
fn reject(st: &mut Part, line: u64, faults: Vec<RowFault>, cells: &[&str], id: Option<String>) {
    st.order.push(st.rejects.len() as u32);
    st.rejects.push(Reject {
        line,
        faults,
        raw: cells.iter().map(|c| c.to_string()).collect(),
        id,
    });
}
