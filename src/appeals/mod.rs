//! Appeals (申诉复核): a street contests one of its own deduction lines of a published
//! period, within the rules' window, with a reason and attachments; the office rules
//! upheld or rejected, with a reason and (upheld) a remedy: waive the line, exclude an
//! interviewer (the existing decision), or order a re-survey of the community in the
//! next round. A ruling that changes the result re-evaluates the period, renders its
//! report again and republishes it, and the appeal says what changed. Every step is
//! journalled with the files it wrote (attachments by their hash).
//!
//! Kept in `surveys/appeals/`: `book.json` (the appeals and the rectification ledger's
//! states), `waivers.json` (the upheld waivers, read by `evaluate`), `files/<sha256>`
//! (attachments, write-once). The ledger is in `ledger.rs`.

pub mod ledger;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::journal::Draft;
use crate::report::Subject;
use crate::round::Period;
use crate::rows::{DeductionRow, Waiver};
use crate::workspace::Workspace;

/// A text a person writes (a reason, measures, a report): trimmed; refused when longer
/// than `max` characters or holding control characters other than line breaks and
/// tabs (they cannot be written into the review pack's PDF and workbook).
pub fn person_text(what: &str, text: &str, max: usize) -> Result<String> {
    let t = text.trim().replace("\r\n", "\n").replace('\r', "\n");
    if t.chars().count() > max {
        return Err(Error::Invalid(format!("{what}太长：最多 {max} 字")));
    }
    if t.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(Error::Invalid(format!(
            "{what}含有不可见的控制字符，请删去后再提交"
        )));
    }
    Ok(t)
}

/// The longest reason of an appeal or a ruling, in characters.
pub const MAX_REASON: usize = 2000;

/// At most this many attachments to an appeal, each at most `MAX_ATTACHMENT` bytes.
pub const MAX_ATTACHMENTS: usize = 5;
pub const MAX_ATTACHMENT: usize = 10 << 20;

/// A file attached to an appeal or a rectification report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Attachment {
    pub name: String,
    pub sha256: String,
    pub size: u64,
    /// pdf | png | jpeg | xlsx
    pub kind: String,
}

/// The office's ruling on an appeal.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Ruling {
    /// upheld | rejected
    pub decision: String,
    /// waive | exclude | resurvey | none
    pub remedy: String,
    pub reason: String,
    pub actor: String,
    /// UTC.
    pub at: String,
    /// The interviewer excluded (remedy exclude) and the round of the decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interviewer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<String>,
    /// What changed in the published result, in words (empty: nothing changed).
    #[serde(default)]
    pub changed: String,
    /// The journal entry of the new publication the ruling made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub republished: Option<u64>,
}

/// One appeal.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Appeal {
    /// A1, A2, … in order of submission.
    pub id: String,
    pub period: String,
    pub street_code: String,
    pub street_name: String,
    /// The community's line, or `None` for the street-level line.
    pub community_code: Option<String>,
    pub community_name: Option<String>,
    /// The line's points when the appeal was made.
    pub points: f64,
    pub reason: String,
    pub attachments: Vec<Attachment>,
    pub submitted_by: String,
    /// UTC.
    pub submitted_at: String,
    /// The window's end (UTC): the office rules after it, the street appeals before.
    pub deadline: String,
    /// submitted | upheld | rejected
    pub status: String,
    pub ruling: Option<Ruling>,
}

impl Appeal {
    /// The line appealed, for people: the community's name or 街道层面扣分.
    pub fn line_text(&self) -> String {
        match (&self.community_name, &self.community_code) {
            (Some(n), _) if !n.is_empty() => n.clone(),
            (_, Some(c)) => c.clone(),
            _ => "街道层面扣分".into(),
        }
    }

    pub fn status_text(&self) -> &'static str {
        status_text(&self.status)
    }
}

/// An appeal's status, for people.
pub fn status_text(code: &str) -> &'static str {
    crate::messages::appeal_status_text(code)
}

/// A remedy, for people.
pub fn remedy_text(code: &str) -> &'static str {
    crate::messages::remedy_text(code)
}

/// What `book.json` holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Book {
    #[serde(default)]
    pub appeals: Vec<Appeal>,
    /// The ledger's rows as the street and the office left them, by row id.
    #[serde(default)]
    pub ledger: BTreeMap<String, ledger::State>,
}

pub fn dir(ws: &Workspace) -> PathBuf {
    ws.root.join("surveys").join("appeals")
}

pub fn book_path(ws: &Workspace) -> PathBuf {
    dir(ws).join("book.json")
}

pub fn file_path(ws: &Workspace, sha256: &str) -> PathBuf {
    dir(ws).join("files").join(sha256)
}

/// The book as it is now (empty before the first appeal).
pub fn read_book(ws: &Workspace) -> Result<Book> {
    let p = book_path(ws);
    if !p.is_file() {
        return Ok(Book::default());
    }
    serde_json::from_slice(&crate::fsutil::read(&p)?)
        .map_err(|e| Error::file(ws.rel(&p), e.to_string()))
}

fn write_book(ws: &Workspace, book: &Book) -> Result<PathBuf> {
    let p = book_path(ws);
    crate::fsutil::create_dirs(&dir(ws))?;
    let bytes = serde_json::to_vec_pretty(book).map_err(|e| Error::Internal(e.to_string()))?;
    crate::fsutil::write_private_atomic(&p, &bytes)?;
    Ok(p)
}

/// The waivers of every upheld appeal whose remedy is `waive`.
fn write_waivers(ws: &Workspace, book: &Book) -> Result<PathBuf> {
    let w: Vec<Waiver> = book
        .appeals
        .iter()
        .filter(|a| a.status == "upheld" && a.ruling.as_ref().is_some_and(|r| r.remedy == "waive"))
        .map(|a| Waiver {
            period: a.period.clone(),
            street_code: a.street_code.clone(),
            community_code: a.community_code.clone(),
            appeal: a.id.clone(),
        })
        .collect();
    let p = crate::evaluate::waivers_path(ws);
    crate::fsutil::create_dirs(&dir(ws))?;
    let bytes = serde_json::to_vec_pretty(&w).map_err(|e| Error::Internal(e.to_string()))?;
    crate::fsutil::write_private_atomic(&p, &bytes)?;
    Ok(p)
}

/// Writes a period's appeals and ledger as `reports/<period>/appeals.csv` and
/// `rectifications.csv` (machine CSVs the review pack reads), as they stand now.
/// Called inside each journalled change of the book; returns the files written.
pub fn write_record(ws: &Workspace, period: &str) -> Result<Vec<PathBuf>> {
    let dir = ws.reports_dir().join(period);
    crate::fsutil::create_dirs(&dir)?;
    let appeals: Vec<crate::rows::AppealRow> = read_book(ws)?
        .appeals
        .into_iter()
        .filter(|a| a.period == period)
        // ok: the CSV's empty cells are the street-level line (no community) and a
        // ruling not made yet.
        .map(|a| crate::rows::AppealRow {
            id: a.id,
            period: a.period,
            street_code: a.street_code,
            street_name: a.street_name,
            community_code: a.community_code.unwrap_or_default(),
            community_name: a.community_name.unwrap_or_default(),
            points: Some(a.points),
            status: a.status,
            remedy: a
                .ruling
                .as_ref()
                .map(|r| r.remedy.clone())
                .unwrap_or_default(),
            reason: a.reason,
            ruling_reason: a
                .ruling
                .as_ref()
                .map(|r| r.reason.clone())
                .unwrap_or_default(),
            changed: a.ruling.map(|r| r.changed).unwrap_or_default(),
        })
        .collect();
    let ledger: Vec<crate::rows::RectificationRow> = ledger::rows(ws, Some(period), None)?
        .into_iter()
        .map(|r| crate::rows::RectificationRow {
            id: r.id,
            period: r.period,
            street_code: r.street_code,
            street_name: r.street_name,
            community_code: r.community_code,
            community_name: r.community_name,
            score: r.score,
            points: r.points,
            status: r.status,
            measures: r.measures,
            responsible: r.responsible,
            deadline: r.deadline,
            next_round: r.next_round.unwrap_or_default(),
            next_score: r.next_score,
        })
        .collect();
    let a = dir.join("appeals.csv");
    crate::fsutil::write_atomic(
        &a,
        &crate::fsutil::rows_csv_bytes(&crate::rows::AppealRow::default(), &appeals, false)?,
    )?;
    let l = dir.join("rectifications.csv");
    crate::fsutil::write_atomic(
        &l,
        &crate::fsutil::rows_csv_bytes(&crate::rows::RectificationRow::default(), &ledger, false)?,
    )?;
    Ok(vec![a, l])
}

/// Now, as the appeals' clock reads it: the system's UTC time, moved by
/// `MANYI_TEST_CLOCK_DAYS` days when that test hook is set (tests of the window).
pub fn now() -> String {
    let now = crate::store::now_utc();
    match std::env::var("MANYI_TEST_CLOCK_DAYS")
        .ok()
        .and_then(|d| d.parse::<i64>().ok())
    {
        Some(days) => crate::store::utc_secs(&now)
            .map(|s| crate::store::utc_text(s + days * 86400))
            .unwrap_or(now),
        None => now,
    }
}

/// A period's appeal window: from its first publication to the end of the rules'
/// working days after it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Window {
    pub period: String,
    /// UTC of the first publication (a republication after a ruling does not reopen it).
    pub opened: String,
    /// UTC.
    pub deadline: String,
}

impl Window {
    pub fn open_at(&self, now: &str) -> bool {
        now <= self.deadline.as_str()
    }
}

/// The window of `period`; `None` when it is not published now.
pub fn window(ws: &Workspace, period: &Period) -> Result<Option<Window>> {
    let subject = Subject::Period(*period);
    if crate::publish::publication(ws, &subject)?.is_none() {
        return Ok(None);
    }
    let label = subject.label();
    let store = crate::store::Store::new(ws);
    let index = store.read_index()?;
    let first = crate::journal::entries(&store, &index)?
        .into_iter()
        .find(|e| e.action == "publish" && e.round.as_deref() == Some(label.as_str()));
    let Some(first) = first else {
        return Ok(None);
    };
    let days = ws.rules()?.appeals.window_days;
    let deadline = crate::store::working_days_after(&first.time, days)
        .ok_or_else(|| Error::Internal(format!("journal time {:?}", first.time)))?;
    Ok(Some(Window {
        period: label,
        opened: first.time,
        deadline,
    }))
}

/// The deduction lines of a published period (its published `deductions.csv`), or
/// `None` when it is not published.
pub fn published_lines(ws: &Workspace, period: &Period) -> Result<Option<Vec<DeductionRow>>> {
    let subject = Subject::Period(*period);
    if crate::publish::publication(ws, &subject)?.is_none() {
        return Ok(None);
    }
    let p = crate::publish::published_dir(ws, &subject).join("deductions.csv");
    if !p.is_file() {
        return Ok(Some(Vec::new()));
    }
    Ok(Some(crate::report::Csv::<DeductionRow>::read(&p)?.rows))
}

/// Which line an appeal is about.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    Community(String),
    Street,
}

/// What a street sends.
#[derive(Debug, Clone)]
pub struct Submission {
    pub period: Period,
    pub street_code: String,
    pub line: Line,
    pub reason: String,
    /// (file name, bytes)
    pub attachments: Vec<(String, Vec<u8>)>,
}

/// What kind of file an attachment is, by its first bytes (PDF, PNG, JPEG or XLSX);
/// anything else is refused.
pub fn attachment_kind(name: &str, bytes: &[u8]) -> Result<&'static str> {
    let kind = if bytes.starts_with(b"%PDF-") {
        "pdf"
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        "png"
    } else if bytes.starts_with(b"\xff\xd8\xff") {
        "jpeg"
    } else if bytes.starts_with(b"PK\x03\x04") && name.to_ascii_lowercase().ends_with(".xlsx") {
        "xlsx"
    } else {
        return Err(Error::Invalid(format!(
            "附件“{name}”不是 PDF、图片（PNG、JPEG）或 Excel（XLSX）文件；请转换后再上传"
        )));
    };
    Ok(kind)
}

/// Checks and stores attachments (write-once by hash); returns them and their paths.
fn store_attachments(
    ws: &Workspace,
    files: &[(String, Vec<u8>)],
) -> Result<(Vec<Attachment>, Vec<PathBuf>)> {
    if files.len() > MAX_ATTACHMENTS {
        return Err(Error::Invalid(format!("附件最多 {MAX_ATTACHMENTS} 个")));
    }
    let mut out = Vec::new();
    let mut paths = Vec::new();
    for (name, bytes) in files {
        if bytes.len() > MAX_ATTACHMENT {
            return Err(Error::Invalid(format!(
                "附件“{name}”超过 {} MB",
                MAX_ATTACHMENT >> 20
            )));
        }
        let kind = attachment_kind(name, bytes)?;
        let name = attachment_name(name, kind);
        let sha = crate::fsutil::sha256_hex(bytes);
        let p = file_path(ws, &sha);
        crate::fsutil::make_private_dir(&dir(ws))?;
        crate::fsutil::make_private_dir(p.parent().unwrap_or(&dir(ws)))?;
        if !p.is_file() {
            crate::fsutil::write_private_atomic(&p, bytes)?;
        }
        out.push(Attachment {
            name,
            sha256: sha,
            size: bytes.len() as u64,
            kind: kind.into(),
        });
        paths.push(p);
    }
    Ok((out, paths))
}

/// An attachment's name as kept: without control, format and direction characters
/// (a right-to-left mark can make `x.html` read as `x.pdf`), at most 100 characters,
/// and ending in the extension of the kind its bytes are.
fn attachment_name(name: &str, kind: &str) -> String {
    let clean: String = name
        .chars()
        .filter(|c| {
            !c.is_control()
                && !matches!(*c as u32, 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2069 | 0xFEFF | 0xFFF9..=0xFFFB)
        })
        .collect();
    let ext = match kind {
        "jpeg" => "jpg",
        k => k,
    };
    let stem = match clean.rsplit_once('.') {
        Some((stem, e))
            if e.eq_ignore_ascii_case(ext)
                || (kind == "jpeg" && e.eq_ignore_ascii_case("jpeg")) =>
        {
            stem.to_string()
        }
        _ => clean.clone(),
    };
    let stem: String = stem.trim().chars().take(100).collect();
    format!("{}.{ext}", if stem.is_empty() { "附件" } else { &stem })
}

/// A street appeals one of its own deduction lines. `Error::NotFound` when the period
/// is not published or the line is not the street's (nothing about other streets is
/// told); `Error::Invalid` outside the window, without a reason, for a line that
/// carries no points, or while an appeal on the same line awaits its ruling.
pub fn submit(ws: &Workspace, s: &Submission, actor: &str, now: &str) -> Result<Appeal> {
    let label = s.period.to_string();
    let not_found = || Error::NotFound(format!("{label} 尚未发布，或其中没有这一扣分项"));
    let lines = published_lines(ws, &s.period)?.ok_or_else(not_found)?;
    let window = window(ws, &s.period)?.ok_or_else(not_found)?;
    let (row, points) = match &s.line {
        Line::Community(code) => {
            let row = lines
                .iter()
                .find(|r| {
                    r.row_type == "community"
                        && r.street_code == s.street_code
                        && &r.community_code == code
                })
                .ok_or_else(not_found)?;
            (
                row,
                if row.counts() {
                    row.points.unwrap_or(0.0)
                } else {
                    0.0
                },
            )
        }
        Line::Street => {
            let row = lines
                .iter()
                .find(|r| r.row_type == "street" && r.street_code == s.street_code)
                .ok_or_else(not_found)?;
            (row, row.street_points.unwrap_or(0.0))
        }
    };
    let reason = person_text("申诉理由", &s.reason, MAX_REASON)?;
    let reason = reason.as_str();
    if reason.is_empty() {
        return Err(Error::Invalid("请写明申诉理由".into()));
    }
    if !window.open_at(now) {
        return Err(Error::Invalid(format!(
            "{} 的申诉期已于 {}（北京时间）截止",
            crate::messages::period_title(&label),
            crate::store::beijing_time(&window.deadline)
        )));
    }
    if points <= 0.0 {
        return Err(Error::Invalid(
            "这一项没有扣分（未计入或已免扣），无需申诉".into(),
        ));
    }
    let community = match &s.line {
        Line::Community(c) => Some(c.clone()),
        Line::Street => None,
    };
    let mut made = None;
    crate::journal::record(ws, actor, || {
        let mut book = read_book(ws)?;
        let same_line = |a: &&Appeal| {
            a.period == label && a.street_code == s.street_code && a.community_code == community
        };
        if let Some(a) = book.appeals.iter().find(same_line) {
            return Err(Error::Invalid(if a.status == "submitted" {
                "这一项已有申诉在复核中，请等待结论".to_string()
            } else {
                format!(
                    "这一项已申诉过（{}，{}），每个扣分项只能申诉一次",
                    a.id,
                    a.status_text()
                )
            }));
        }
        let (attachments, mut written) = store_attachments(ws, &s.attachments)?;
        let id = format!("A{}", book.appeals.len() + 1);
        let a = Appeal {
            id: id.clone(),
            period: label.clone(),
            street_code: s.street_code.clone(),
            street_name: row.street_name.clone(),
            community_code: community.clone(),
            community_name: community.as_ref().map(|_| row.community_name.clone()),
            points,
            reason: reason.to_string(),
            attachments,
            submitted_by: actor.to_string(),
            submitted_at: now.to_string(),
            deadline: window.deadline.clone(),
            status: "submitted".into(),
            ruling: None,
        };
        book.appeals.push(a.clone());
        written.push(write_book(ws, &book)?);
        written.extend(write_record(ws, &label)?);
        made = Some(a);
        Ok((
            Draft::new("appeal-submit")
                .round(&label)
                .id(format!("appeal:{id}"))
                .id(format!("street:{}", s.street_code))
                .reason(reason)
                .detail("line", community.clone().unwrap_or_else(|| "street".into()))
                .detail("points", points),
            Vec::new(),
            written,
        ))
    })?;
    made.ok_or_else(|| Error::Internal("appeal not made".into()))
}

/// Appeals, a period's or all, a street's or every street's: those awaiting a ruling
/// first (the nearest deadline first), then the ruled, newest first.
pub fn list(ws: &Workspace, period: Option<&str>, street: Option<&str>) -> Result<Vec<Appeal>> {
    let mut out: Vec<Appeal> = read_book(ws)?
        .appeals
        .into_iter()
        .filter(|a| period.is_none_or(|p| a.period.eq_ignore_ascii_case(p)))
        .filter(|a| street.is_none_or(|s| a.street_code == s))
        .collect();
    let num = |a: &Appeal| a.id.trim_start_matches('A').parse::<u64>().unwrap_or(0);
    out.sort_by(|a, b| {
        let open = |x: &Appeal| x.status != "submitted";
        open(a).cmp(&open(b)).then_with(|| {
            if open(a) {
                num(b).cmp(&num(a))
            } else {
                a.deadline.cmp(&b.deadline).then(num(a).cmp(&num(b)))
            }
        })
    });
    Ok(out)
}

/// One appeal; `None` when there is none with that id, or (with `street`) it is
/// another street's.
pub fn get(ws: &Workspace, id: &str, street: Option<&str>) -> Result<Option<Appeal>> {
    Ok(read_book(ws)?.appeals.into_iter().find(|a| {
        a.id.eq_ignore_ascii_case(id.trim()) && street.is_none_or(|s| a.street_code == s)
    }))
}

/// What the office decides.
#[derive(Debug, Clone, Default)]
pub struct RulingInput {
    pub upheld: bool,
    /// waive | exclude | resurvey | none
    pub remedy: String,
    pub reason: String,
    /// For `exclude`: the interviewer and the round of their questionnaires.
    pub interviewer: Option<String>,
    pub round: Option<String>,
}

/// The office rules on appeal `id`. Upheld with `waive` or `exclude`, the period is
/// evaluated again, its report rendered again and republished, and the appeal says
/// what changed in its street's deductions; `resurvey` is recorded for the next
/// round; rejected changes nothing. `progress` hears the steps.
pub fn rule(
    ws: &Workspace,
    id: &str,
    input: &RulingInput,
    actor: &str,
    progress: &dyn Fn(f64, &str),
) -> Result<Appeal> {
    let appeal = get(ws, id, None)?.ok_or_else(|| Error::NotFound(format!("没有申诉 {id}")))?;
    if appeal.status != "submitted" {
        return Err(Error::Invalid(format!(
            "申诉 {} 已有结论（{}）",
            appeal.id,
            appeal.status_text()
        )));
    }
    let reason = person_text("复核理由", &input.reason, MAX_REASON)?;
    let reason = reason.as_str();
    if reason.is_empty() {
        return Err(Error::Invalid("请写明复核结论的理由".into()));
    }
    let remedy = input.remedy.trim();
    match (input.upheld, remedy) {
        (true, "waive" | "exclude" | "resurvey") | (false, "none" | "") => {}
        (true, _) => {
            return Err(Error::Invalid(
                "维持申诉须选定补救方式：免除该项扣分、剔除访问员的问卷或下一轮补测".into(),
            ));
        }
        (false, _) => return Err(Error::Invalid("驳回的申诉没有补救方式".into())),
    }
    let period: Period = appeal.period.parse()?;
    // A ruling that changes the result republishes it: not for a period the office
    // has withdrawn meanwhile.
    if input.upheld
        && matches!(remedy, "waive" | "exclude")
        && crate::publish::publication(ws, &Subject::Period(period))?.is_none()
    {
        return Err(Error::Invalid(format!(
            "{}的结果已撤回发布：请先重新发布，再对申诉作出改变结果的结论",
            crate::messages::period_title(&appeal.period)
        )));
    }
    if remedy == "resurvey" && appeal.community_code.is_none() {
        return Err(Error::Invalid(
            "补测针对社区；街道层面扣分的申诉请选其他方式".into(),
        ));
    }
    // Exclusion is the existing decision on the interviewer, made first (its own
    // journal entry), then the round is scored again.
    let (mut interviewer, mut round) = (None, None);
    if input.upheld && remedy == "exclude" {
        let iv = input
            .interviewer
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let r = input
            .round
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let (Some(iv), Some(r)) = (iv, r) else {
            return Err(Error::Invalid("剔除问卷须写明访问员编号和轮次".into()));
        };
        let r: crate::round::RoundId = r.to_ascii_uppercase().parse()?;
        // Only a round the period rests on.
        let rules = ws.rules()?;
        let held_in = rules
            .sampling
            .calendar
            .get((r.number as usize).saturating_sub(1))
            .copied()
            .unwrap_or(0);
        if r.year != period.year() || !period.quarters().contains(&held_in) {
            return Err(Error::Invalid(format!(
                "{r} 不属于{}：只能剔除本期各轮的问卷",
                crate::messages::period_title(&appeal.period)
            )));
        }
        if !worked_in(ws, &r, iv, &appeal.street_code)? {
            return Err(Error::Invalid(format!(
                "访问员 {iv} 在 {r} 没有{}的有效问卷：只能剔除在申诉街道访问过的访问员",
                appeal.street_name
            )));
        }
        progress(0.1, "记录剔除决定");
        crate::lifecycle::decide(
            ws,
            &r,
            crate::lifecycle::Subject::Interviewer,
            iv,
            true,
            &format!("申诉 {} 复核：{reason}", appeal.id),
            actor,
        )?;
        progress(0.2, "重新计算该轮得分");
        crate::lifecycle::recorded::score_recorded(ws, &r, actor)?;
        interviewer = Some(iv.to_string());
        round = Some(r.to_string());
    }
    let before = street_total(ws, &period, &appeal.street_code)?;
    let ruling = Ruling {
        decision: if input.upheld { "upheld" } else { "rejected" }.into(),
        remedy: if input.upheld {
            remedy.to_string()
        } else {
            "none".into()
        },
        reason: reason.to_string(),
        actor: actor.to_string(),
        at: crate::store::now_utc(),
        interviewer,
        round,
        changed: String::new(),
        republished: None,
    };
    // The ruling itself (and, for a waiver, the waivers evaluate reads).
    crate::journal::record(ws, actor, || {
        let mut book = read_book(ws)?;
        let a = book
            .appeals
            .iter_mut()
            .find(|a| a.id == appeal.id)
            .ok_or_else(|| Error::Internal("appeal vanished".into()))?;
        if a.status != "submitted" {
            return Err(Error::Invalid(format!("申诉 {} 已有结论", appeal.id)));
        }
        a.status = ruling.decision.clone();
        a.ruling = Some(ruling.clone());
        let mut written = vec![write_book(ws, &book)?];
        if ruling.remedy == "waive" {
            written.push(write_waivers(ws, &book)?);
        }
        written.extend(write_record(ws, &appeal.period)?);
        Ok((
            Draft::new("appeal-rule")
                .round(&appeal.period)
                .id(format!("appeal:{}", appeal.id))
                .id(format!("street:{}", appeal.street_code))
                .reason(reason)
                .detail("decision", ruling.decision.clone())
                .detail("remedy", ruling.remedy.clone()),
            Vec::new(),
            written,
        ))
    })?;
    if !(input.upheld && matches!(remedy, "waive" | "exclude")) {
        return get(ws, &appeal.id, None)?.ok_or_else(|| Error::Internal("appeal vanished".into()));
    }
    // The result changes: evaluate, say what changed (so the pack rendered next says
    // it too), render and republish the period.
    progress(0.4, "重新评价");
    crate::lifecycle::recorded::evaluate_recorded(ws, &period, actor)?;
    let after = street_total_in(
        &ws.reports_dir()
            .join(period.to_string())
            .join("deductions.csv"),
        &appeal.street_code,
    )?;
    let changed = changed_text(&appeal, &ruling, before, after);
    crate::journal::record(ws, actor, || {
        let mut book = read_book(ws)?;
        if let Some(a) = book.appeals.iter_mut().find(|a| a.id == appeal.id)
            && let Some(r) = a.ruling.as_mut()
        {
            r.changed = changed.clone();
        }
        let mut w = vec![write_book(ws, &book)?];
        w.extend(write_record(ws, &appeal.period)?);
        Ok((
            Draft::new("appeal-changed")
                .round(&appeal.period)
                .id(format!("appeal:{}", appeal.id))
                .detail("changed", changed.clone()),
            Vec::new(),
            w,
        ))
    })?;
    // The ruling stands from here; what follows failing is said as such.
    let after_ruling = |e: Error| {
        Error::Invalid(format!(
            "对申诉 {} 的结论已记录，但重新生成或发布{}的结果时出错：{}。请修正后在结果页重新生成报告并发布",
            appeal.id,
            crate::messages::period_title(&appeal.period),
            e
        ))
    };
    progress(0.6, "重新生成报告");
    crate::report::report_recorded(ws, &Subject::Period(period), actor).map_err(after_ruling)?;
    progress(0.85, "重新发布");
    let entry = crate::publish::publish_noted(
        ws,
        &Subject::Period(period),
        actor,
        &format!("申诉 {} 复核维持：{changed}", appeal.id),
    )
    .map_err(after_ruling)?;
    crate::journal::record(ws, actor, || {
        let mut book = read_book(ws)?;
        if let Some(a) = book.appeals.iter_mut().find(|a| a.id == appeal.id)
            && let Some(r) = a.ruling.as_mut()
        {
            r.republished = Some(entry.seq);
        }
        Ok((
            Draft::new("appeal-republished")
                .round(&appeal.period)
                .id(format!("appeal:{}", appeal.id))
                .detail("publication", entry.seq),
            Vec::new(),
            {
                let mut w = vec![write_book(ws, &book)?];
                w.extend(write_record(ws, &appeal.period)?);
                w
            },
        ))
    })?;
    progress(1.0, "完成");
    get(ws, &appeal.id, None)?.ok_or_else(|| Error::Internal("appeal vanished".into()))
}

/// Whether interviewer `iv` has valid questionnaires in a community of `street` among
/// round `r`'s active deliveries (from their summaries; a delivery stored before
/// summaries is read for them).
fn worked_in(ws: &Workspace, r: &crate::round::RoundId, iv: &str, street: &str) -> Result<bool> {
    let store = crate::store::Store::new(ws);
    let index = store.read_index()?;
    let frame = ws.frame()?;
    for d in store.deliveries(&index, r) {
        let summary = store.summary(d)?;
        if let Some(by) = summary.valid_by_interviewer.get(iv)
            && by
                .iter()
                .any(|(c, n)| *n > 0 && frame.community(c).is_some_and(|x| x.street_code == street))
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The street's deduction total in the period's published copy.
fn street_total(ws: &Workspace, period: &Period, street: &str) -> Result<Option<f64>> {
    let p = crate::publish::published_dir(ws, &Subject::Period(*period)).join("deductions.csv");
    street_total_in(&p, street)
}

fn street_total_in(p: &std::path::Path, street: &str) -> Result<Option<f64>> {
    if !p.is_file() {
        return Ok(None);
    }
    Ok(crate::report::Csv::<DeductionRow>::read(p)?
        .rows
        .into_iter()
        .find(|r| r.row_type == "street" && r.street_code == street)
        .and_then(|r| r.total))
}

fn changed_text(a: &Appeal, r: &Ruling, before: Option<f64>, after: Option<f64>) -> String {
    let f = |x: Option<f64>| x.map_or("—".to_string(), |v| format!("{v:.1}"));
    let what = match r.remedy.as_str() {
        "waive" => format!("免除{}的扣分 {:.1} 分", a.line_text(), a.points),
        "exclude" => format!(
            "剔除访问员 {} 在 {} 的问卷后重新计算",
            r.interviewer.as_deref().unwrap_or("—"),
            r.round.as_deref().unwrap_or("—")
        ),
        _ => String::new(),
    };
    format!(
        "{}扣分合计 {} → {}（{what}）",
        a.street_name,
        f(before),
        f(after)
    )
}

/// Upheld appeals whose remedy is a re-survey, not yet done: what the next round owes.
pub fn resurveys(ws: &Workspace) -> Result<Vec<Appeal>> {
    Ok(read_book(ws)?
        .appeals
        .into_iter()
        .filter(|a| {
            a.status == "upheld" && a.ruling.as_ref().is_some_and(|r| r.remedy == "resurvey")
        })
        .collect())
}

/// What awaits someone: for the office (no street) the appeals to rule on and the
/// rectifications reported done; for a street its appeal windows still open and its
/// ledger rows not yet done.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Todo {
    pub appeals_to_rule: Vec<Appeal>,
    pub to_verify: Vec<ledger::Row>,
    /// (period, deadline UTC) of the published periods a street may still appeal.
    pub open_windows: Vec<Window>,
    pub to_rectify: Vec<ledger::Row>,
}

impl Todo {
    pub fn count(&self) -> usize {
        self.appeals_to_rule.len() + self.to_verify.len() + self.to_rectify.len()
    }
}

pub fn todo(ws: &Workspace, street: Option<&str>, now: &str) -> Result<Todo> {
    let mut t = Todo::default();
    let rows = ledger::rows(ws, None, street)?;
    match street {
        None => {
            t.appeals_to_rule = list(ws, None, None)?
                .into_iter()
                .filter(|a| a.status == "submitted")
                .collect();
            t.to_verify = rows.into_iter().filter(|r| r.status == "done").collect();
        }
        Some(_) => {
            for p in crate::publish::publications(ws)? {
                if let Ok(period) = p.label.parse::<Period>()
                    && let Some(w) = window(ws, &period)?
                    && w.open_at(now)
                {
                    t.open_windows.push(w);
                }
            }
            t.to_rectify = rows
                .into_iter()
                .filter(|r| matches!(r.status.as_str(), "open" | "planned"))
                .collect();
        }
    }
    Ok(t)
}

/// The appeals as a table for the terminal or a program.
pub fn rows_json(appeals: &[Appeal]) -> serde_json::Value {
    serde_json::json!({ "appeals": appeals })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_text_is_refused_when_too_long_or_holding_control_characters() {
        assert_eq!(
            person_text("理由", "  施工\r\n属实 ", 10).unwrap(),
            "施工\n属实"
        );
        assert!(person_text("理由", "施工\u{1}属实", 100).is_err());
        assert!(person_text("理由", "a\0b", 100).is_err());
        assert!(person_text("理由", &"长".repeat(11), 10).is_err());
        assert!(person_text("理由", &"长".repeat(10), 10).is_ok());
        assert!(person_text("理由", "表格\t换行\n可以", 100).is_ok());
    }

    #[test]
    fn an_attachment_is_named_for_what_its_bytes_are() {
        assert_eq!(attachment_name("照片.png", "png"), "照片.png");
        assert_eq!(attachment_name("evidence.html", "png"), "evidence.html.png");
        // A right-to-left override would show x\u{202e}fdp.html as "xlmth.pdf".
        assert_eq!(
            attachment_name("现场照片\u{202e}fdp.html", "pdf"),
            "现场照片fdp.html.pdf"
        );
        assert_eq!(attachment_name("scan.JPEG", "jpeg"), "scan.jpg");
        assert_eq!(attachment_name("\u{200b}", "xlsx"), "附件.xlsx");
        let long = format!("{}.pdf", "名".repeat(300));
        let kept = attachment_name(&long, "pdf");
        assert!(
            kept.ends_with(".pdf") && kept.chars().count() == 104,
            "{kept}"
        );
    }
}
