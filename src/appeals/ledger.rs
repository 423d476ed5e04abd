//! The rectification ledger (整改台账): a row for each community counted (and not
//! waived) in a published period's deductions, owned by its street. The street writes
//! its measures, the person responsible, a deadline and, when done, its report; the
//! office verifies. Each row shows the community's score in its next surveyed round
//! beside the one that caused it.

use serde::{Deserialize, Serialize};

use super::{Attachment, read_book, write_book};
use crate::error::{Error, Result};
use crate::journal::Draft;
use crate::round::{Period, RoundId};
use crate::workspace::Workspace;

/// What the street and the office have written on a row (kept in `book.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct State {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub measures: String,
    #[serde(default)]
    pub responsible: String,
    /// YYYY-MM-DD
    #[serde(default)]
    pub deadline: String,
    #[serde(default)]
    pub report: String,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    #[serde(default)]
    pub updated_by: String,
    #[serde(default)]
    pub updated_at: String,
    #[serde(default)]
    pub verified_by: String,
    #[serde(default)]
    pub verified_at: String,
    #[serde(default)]
    pub verify_note: String,
}

/// One row of the ledger as people and programs read it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Row {
    /// `<period>-<community_code>`
    pub id: String,
    pub period: String,
    pub street_code: String,
    pub street_name: String,
    pub community_code: String,
    pub community_name: String,
    /// The score that caused the deduction, and its points.
    pub score: Option<f64>,
    pub points: Option<f64>,
    /// open | planned | done | verified
    pub status: String,
    pub measures: String,
    pub responsible: String,
    pub deadline: String,
    pub report: String,
    pub attachments: Vec<Attachment>,
    pub updated_at: String,
    pub verified_by: String,
    pub verified_at: String,
    pub verify_note: String,
    /// The community's next surveyed round after the period, and its score there.
    pub next_round: Option<String>,
    pub next_score: Option<f64>,
}

/// A status, for people.
pub fn status_text(code: &str) -> &'static str {
    crate::messages::rectification_status_text(code)
}

/// The ledger: every published period's (or `period`'s) counted communities, every
/// street's (or `street`'s), by period then street then community.
pub fn rows(ws: &Workspace, period: Option<&str>, street: Option<&str>) -> Result<Vec<Row>> {
    let book = read_book(ws)?;
    let rules = ws.rules()?;
    let rounds = crate::lifecycle::rounds(ws)?;
    let mut out = Vec::new();
    // Each later round's community scores, read once.
    let mut scored: Scored = Default::default();
    for p in crate::publish::publications(ws)? {
        let Ok(per) = p.label.parse::<Period>() else {
            continue;
        };
        if period.is_some_and(|x| !x.eq_ignore_ascii_case(&p.label)) {
            continue;
        }
        let Some(lines) = super::published_lines(ws, &per)? else {
            continue;
        };
        // The rounds after the period, in order: where the next score is looked for.
        let last_q = per.quarters().last().copied().unwrap_or(4);
        let later: Vec<RoundId> = rounds
            .iter()
            .filter(|r| {
                let q = rules
                    .sampling
                    .calendar
                    .get(r.number as usize - 1)
                    .copied()
                    .unwrap_or(4);
                (r.year, q) > (per.year(), last_q)
            })
            .copied()
            .collect();
        for d in lines {
            if !d.counts() || !d.waived.is_empty() || street.is_some_and(|s| s != d.street_code) {
                continue;
            }
            let id = format!("{}-{}", p.label, d.community_code);
            // ok: a row nobody has written on yet is open, with nothing filled in.
            let st = book.ledger.get(&id).cloned().unwrap_or_default();
            let (next_round, next_score) = next_score(ws, &later, &d.community_code, &mut scored)?;
            out.push(Row {
                id,
                period: p.label.clone(),
                street_code: d.street_code,
                street_name: d.street_name,
                community_code: d.community_code,
                community_name: d.community_name,
                score: d.score,
                points: d.points,
                status: if st.status.is_empty() {
                    "open".into()
                } else {
                    st.status
                },
                measures: st.measures,
                responsible: st.responsible,
                deadline: st.deadline,
                report: st.report,
                attachments: st.attachments,
                updated_at: st.updated_at,
                verified_by: st.verified_by,
                verified_at: st.verified_at,
                verify_note: st.verify_note,
                next_round,
                next_score,
            });
        }
    }
    Ok(out)
}

type Scored = std::collections::HashMap<RoundId, std::collections::HashMap<String, f64>>;

/// The community's score in the first of `later` rounds that scored it.
fn next_score(
    ws: &Workspace,
    later: &[RoundId],
    community: &str,
    scored: &mut Scored,
) -> Result<(Option<String>, Option<f64>)> {
    for r in later {
        if !scored.contains_key(r) {
            let p = ws
                .reports_dir()
                .join(r.to_string())
                .join("community_scores.csv");
            let m = if p.is_file() {
                crate::report::Csv::<crate::rows::CommunityScoreRow>::read(&p)?
                    .rows
                    .into_iter()
                    .filter_map(|c| Some((c.community_code, c.score?)))
                    .collect()
            } else {
                Default::default()
            };
            scored.insert(*r, m);
        }
        if let Some(s) = scored.get(r).and_then(|m| m.get(community)) {
            return Ok((Some(r.to_string()), Some(*s)));
        }
    }
    Ok((None, None))
}

/// What a street writes on one of its rows.
#[derive(Debug, Clone, Default)]
pub struct Update {
    pub status: String,
    pub measures: String,
    pub responsible: String,
    pub deadline: String,
    pub report: String,
    pub attachments: Vec<(String, Vec<u8>)>,
}

fn find(ws: &Workspace, id: &str, street: Option<&str>) -> Result<Row> {
    rows(ws, None, street)?
        .into_iter()
        .find(|r| r.id == id.trim())
        .ok_or_else(|| Error::NotFound(format!("整改台账中没有 {id}")))
}

/// A calendar date written YYYY-MM-DD (digits only; 2019-02-31 is not one).
fn valid_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    if !b
        .iter()
        .enumerate()
        .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
    {
        return false;
    }
    let (Ok(y), Ok(m), Ok(d)) = (
        s[..4].parse::<u32>(),
        s[5..7].parse::<u32>(),
        s[8..].parse::<u32>(),
    ) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    y >= 1900 && (1..=days).contains(&d)
}

/// A street writes its row `id` (its own: another street's is `NotFound`). `planned`
/// needs measures, a person responsible and a deadline; `done` also a report. A
/// verified row is closed.
pub fn update(ws: &Workspace, id: &str, street: &str, u: &Update, actor: &str) -> Result<Row> {
    let row = find(ws, id, Some(street))?;
    if row.status == "verified" {
        return Err(Error::Invalid("这一项已经核验，不能再修改".into()));
    }
    let status = u.status.trim();
    if !matches!(status, "open" | "planned" | "done") {
        return Err(Error::Invalid(
            "状态只能是 待制定措施、整改中 或 已完成（核验由考核办进行）".into(),
        ));
    }
    let measures = super::person_text("整改措施", &u.measures, 4000)?;
    let responsible = super::person_text("责任人", &u.responsible, 100)?;
    let report = super::person_text("整改情况报告", &u.report, 4000)?;
    let (measures, responsible, deadline, report) = (
        measures.as_str(),
        responsible.as_str(),
        u.deadline.trim(),
        report.as_str(),
    );
    if !deadline.is_empty() && !valid_date(deadline) {
        return Err(Error::Invalid(format!(
            "完成期限“{deadline}”不是日期（如 2019-03-31）"
        )));
    }
    if status != "open" && (measures.is_empty() || responsible.is_empty() || deadline.is_empty()) {
        return Err(Error::Invalid("请填写整改措施、责任人和完成期限".into()));
    }
    if status == "done" && report.is_empty() {
        return Err(Error::Invalid("标记已完成前，请填写整改情况报告".into()));
    }
    crate::journal::record(ws, actor, || {
        let (files, mut written) = super::store_attachments(ws, &u.attachments)?;
        let mut book = read_book(ws)?;
        let st = book.ledger.entry(row.id.clone()).or_default();
        st.status = status.into();
        st.measures = measures.into();
        st.responsible = responsible.into();
        st.deadline = deadline.into();
        st.report = report.into();
        st.attachments.extend(files);
        st.updated_by = actor.into();
        st.updated_at = crate::store::now_utc();
        written.push(write_book(ws, &book)?);
        written.extend(super::write_record(ws, &row.period)?);
        Ok((
            Draft::new("rectification-update")
                .round(&row.period)
                .id(format!("rectification:{}", row.id))
                .id(format!("street:{street}"))
                .detail("status", status),
            Vec::new(),
            written,
        ))
    })?;
    find(ws, id, Some(street))
}

/// The office verifies a row the street reported done.
pub fn verify(ws: &Workspace, id: &str, note: &str, actor: &str) -> Result<Row> {
    let row = find(ws, id, None)?;
    let note = super::person_text("核验意见", note, 2000)?;
    let note = note.as_str();
    if row.status != "done" {
        return Err(Error::Invalid(format!(
            "只能核验已完成的整改（这一项：{}）",
            status_text(&row.status)
        )));
    }
    crate::journal::record(ws, actor, || {
        let mut book = read_book(ws)?;
        let st = book.ledger.entry(row.id.clone()).or_default();
        st.status = "verified".into();
        st.verified_by = actor.into();
        st.verified_at = crate::store::now_utc();
        st.verify_note = note.trim().into();
        Ok((
            Draft::new("rectification-verify")
                .round(&row.period)
                .id(format!("rectification:{}", row.id))
                .reason(note.trim()),
            Vec::new(),
            {
                let mut w = vec![write_book(ws, &book)?];
                w.extend(super::write_record(ws, &row.period)?);
                w
            },
        ))
    })?;
    find(ws, id, None)
}

/// The ledger as a workbook (整改台账): one row per community, codes as text.
pub fn xlsx(rows: &[Row]) -> Result<Vec<u8>> {
    use crate::fsutil::XCell::{self, Empty, Num, Text};
    let num = |x: Option<f64>| x.map(|v| Num((v * 10.0).round() / 10.0)).unwrap_or(Empty);
    let cells: Vec<Vec<XCell>> = rows
        .iter()
        .map(|r| {
            vec![
                Text(crate::messages::period_title(&r.period)),
                Text(r.street_name.clone()),
                Text(r.community_code.clone()),
                Text(r.community_name.clone()),
                num(r.score),
                num(r.points),
                Text(status_text(&r.status).into()),
                Text(r.measures.clone()),
                Text(r.responsible.clone()),
                Text(r.deadline.clone()),
                Text(r.report.clone()),
                Text(r.verified_by.clone()),
                Text(if r.verified_at.is_empty() {
                    String::new()
                } else {
                    crate::store::beijing_time(&r.verified_at)
                }),
                // ok: not surveyed again yet is an empty cell.
                Text(r.next_round.clone().unwrap_or_default()),
                num(r.next_score),
            ]
        })
        .collect();
    crate::fsutil::xlsx_table(
        "整改台账",
        &[
            "考核期",
            "街道",
            "社区代码",
            "社区",
            "得分",
            "扣分",
            "状态",
            "整改措施",
            "责任人",
            "完成期限",
            "整改情况",
            "核验人",
            "核验时间（北京时间）",
            "下一轮测评",
            "下一轮得分",
        ],
        &[
            14.0, 12.0, 14.0, 22.0, 8.0, 8.0, 14.0, 36.0, 10.0, 12.0, 36.0, 10.0, 20.0, 12.0, 10.0,
        ],
        &cells,
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_deadline_is_a_real_calendar_date() {
        for ok in ["2019-03-31", "2020-02-29", "2000-02-29", "2019-12-01"] {
            assert!(super::valid_date(ok), "{ok}");
        }
        for bad in [
            "2019-02-31",
            "2019-02-29",
            "1900-02-29",
            "+019-01-01",
            "2019-13-01",
            "2019-04-31",
            "2019-4-30",
            "2019/04/30",
            "0000-01-01",
        ] {
            assert!(!super::valid_date(bad), "{bad}");
        }
    }
}
