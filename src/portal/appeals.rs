//! Appeals and the rectification ledger in the portal: the street appeals a deduction
//! line (a form with attachments) and keeps its ledger; the office rules (asked first
//! when the ruling changes a published result) and verifies; the API for both. The
//! work is `appeals`'s; the handlers read forms and render.

use axum::Json;
use axum::extract::{Path as UrlPath, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::State;
use super::respond::{
    Caller, Refusal, blocking, fmt1, page, refused, see_other, tryr, who, write_turn,
};
use crate::accounts::{Account, Role};
use crate::appeals::{self, Appeal, Line, RulingInput, Submission, ledger};
use crate::round::Period;

fn csrf_field(c: &Caller) -> Markup {
    html! { input type="hidden" name="csrf" value=(c.csrf); }
}

/// An API request's JSON body, or the 400 that says what is wrong with it.
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| {
        api_refused(Refusal::new(
            StatusCode::BAD_REQUEST,
            "bad-json",
            format!("JSON 不对：{e}"),
        ))
    })
}

/// The caller's street when it is a street account; `None` for staff.
fn street_of(a: &Account) -> Option<String> {
    (a.role == Role::Street).then(|| a.street.clone().unwrap_or_default())
}

fn period_of(label: &str) -> Result<Period, Refusal> {
    label
        .trim()
        .to_ascii_uppercase()
        .parse()
        .map_err(|_| Refusal::not_found())
}

fn bj(t: &str) -> String {
    crate::store::beijing_time(t)
}

fn appeal_status(a: &Appeal) -> Markup {
    html! {
        @match a.status.as_str() {
            "submitted" => { strong.short { (a.status_text()) } }
            "upheld" => { strong.ok { (a.status_text()) } }
            _ => { strong { (a.status_text()) } }
        }
    }
}

fn attachments(a: &Appeal) -> Markup {
    html! {
        @if !a.attachments.is_empty() {
            ul.files {
                @for f in &a.attachments {
                    li { a href={ "/appeals/" (a.id) "/files/" (f.sha256) } { (f.name) } " （" (f.size / 1024 + 1) " KB）" }
                }
            }
        }
    }
}

fn ruling_text(a: &Appeal) -> Markup {
    html! {
        @if let Some(r) = &a.ruling {
            p { "复核结论：" (appeal_status(a)) "；" (appeals::remedy_text(&r.remedy)) "。理由：" (r.reason) }
            @if !r.changed.is_empty() {
                @if r.republished.is_some() {
                    p.notice { "结果已更正并重新发布：" (r.changed) }
                } @else {
                    p.error { "结论将改变结果（" (r.changed) "），但尚未重新发布：考核办须重新生成报告并发布。" }
                }
            }
            p.hint { (r.actor) " · " (bj(&r.at)) }
        }
    }
}

// ------------------------------------------------------------------ street pages

#[derive(serde::Deserialize, Default)]
pub struct LineQuery {
    /// The community's line; without it, the street-level line (`?street_level=1`).
    #[serde(default)]
    community: Option<String>,
}

/// `GET /street/{label}/appeal?community=CODE` (or `?street_level=1`): the form.
pub async fn appeal_form(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(label): UrlPath<String>,
    Query(q): Query<LineQuery>,
) -> Response {
    let a = who!(caller);
    let Some(street) = street_of(&a) else {
        return refused(Refusal::not_found());
    };
    let period = tryr!(period_of(&label));
    let ws = state.ws.clone();
    let community = q.community.clone();
    let (lines, window) = tryr!(
        blocking(move || Ok::<_, crate::error::Error>((
            appeals::published_lines(&ws, &period)?,
            appeals::window(&ws, &period)?
        )))
        .await
    );
    let (Some(lines), Some(window)) = (lines, window) else {
        return refused(Refusal::not_found());
    };
    let row = match &community {
        Some(c) => lines.iter().find(|r| {
            r.row_type == "community" && r.street_code == street && &r.community_code == c
        }),
        None => lines
            .iter()
            .find(|r| r.row_type == "street" && r.street_code == street),
    };
    let Some(row) = row else {
        return refused(Refusal::not_found());
    };
    let what = match &community {
        Some(_) => format!("{}（扣 {} 分）", row.community_name, fmt1(row.points)),
        None => format!("街道层面扣分（{} 分）", fmt1(row.street_points)),
    };
    let title = crate::messages::period_title(&window.period);
    let points = match &community {
        Some(_) if row.counts() && row.waived.is_empty() => row.points.unwrap_or(0.0),
        Some(_) => 0.0,
        None => row.street_points.unwrap_or(0.0),
    };
    if points <= 0.0 {
        return page(
            "提出申诉",
            Some(&caller),
            html! {
                h1 { "对" (title) "扣分提出申诉" }
                p.notice role="status" { "这一项没有扣分（未计入扣分或已免扣），无需申诉。" }
                p { a href={ "/street/" (window.period) } { "返回本期结果" } }
            },
        )
        .into_response();
    }
    page(
        "提出申诉",
        Some(&caller),
        html! {
            h1 { "对" (title) "扣分提出申诉" }
            p { "扣分项：" strong { (what) } }
            p.hint { "申诉截止：" (bj(&window.deadline)) "（北京时间）。考核办将逐项复核并书面答复；复核结论和结果的更正都会显示在本街道的结果页上。" }
            form method="post" action={ "/street/" (window.period) "/appeals?csrf=" (caller.csrf) } enctype="multipart/form-data" {
                (csrf_field(&caller))
                @match &community {
                    Some(c) => { input type="hidden" name="community" value=(c); }
                    None => { input type="hidden" name="street_level" value="1"; }
                }
                label { "申诉理由（必填）" textarea name="reason" rows="5" required {} }
                label { "附件（PDF、图片或 Excel，最多 " (appeals::MAX_ATTACHMENTS) " 个，每个不超过 " (appeals::MAX_ATTACHMENT >> 20) " MB）"
                    input type="file" name="file" multiple accept=".pdf,.png,.jpg,.jpeg,.xlsx"; }
                button type="submit" { "提交申诉" }
            }
            p { a href={ "/street/" (window.period) } { "返回" } }
        },
    )
    .into_response()
}

/// `POST /street/{label}/appeals` (multipart): the street's appeal.
pub async fn appeal_submit(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(label): UrlPath<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let a = who!(caller);
    let Some(street) = street_of(&a) else {
        return refused(Refusal::not_found());
    };
    let period = tryr!(period_of(&label));
    let limit = (appeals::MAX_ATTACHMENTS * appeals::MAX_ATTACHMENT + (1 << 20)) as u64;
    let form = match super::upload::small_form(&headers, body, limit, "附件").await {
        Ok(f) => f,
        Err(e) => return refused(e),
    };
    let line = match form.fields.get("community").filter(|c| !c.is_empty()) {
        Some(c) => Line::Community(c.clone()),
        None => Line::Street,
    };
    let s = Submission {
        period,
        street_code: street,
        line,
        reason: form.fields.get("reason").cloned().unwrap_or_default(),
        attachments: form.files,
    };
    let _turn = tryr!(write_turn(&state).await);
    let ws = state.ws.clone();
    let made = tryr!(blocking(move || appeals::submit(&ws, &s, &a.name, &appeals::now())).await);
    see_other(&format!("/street/{}?appealed={}#appeals", period, made.id))
}

/// The street period page's appeals part: each of its appeals of the period.
pub(super) fn street_appeals_section(
    label: &str,
    list: &[Appeal],
    window: Option<&appeals::Window>,
    now: &str,
) -> Markup {
    html! {
        h2 #appeals { "申诉" }
        @match window {
            Some(w) if w.open_at(now) => { p.hint { "对扣分有异议的，可在 " (bj(&w.deadline)) "（北京时间）前点击扣分表中的“申诉”。" } }
            Some(w) => { p.hint { "申诉期已于 " (bj(&w.deadline)) " 截止。" } }
            None => {}
        }
        @if list.is_empty() {
            p.hint { "本期没有提出申诉。" }
        }
        @for a in list {
            section.flag id={ "appeal-" (a.id) } {
                h3 { "申诉 " (a.id) " · " (a.line_text()) " · " (appeal_status(a)) }
                p { "理由：" (a.reason) }
                (attachments(a))
                p.hint { "提交于 " (bj(&a.submitted_at)) " · 扣分 " (format!("{:.1}", a.points)) " 分" }
                (ruling_text(a))
            }
        }
        p { a href={ "/street/" (label) "/ledger" } { "本期整改台账" } }
    }
}

/// What the street page's deduction table shows in its 申诉 column for a line.
pub(super) fn line_action(
    label: &str,
    community: Option<&str>,
    points: f64,
    list: &[Appeal],
    open: bool,
) -> Markup {
    let mine = list
        .iter()
        .rev()
        .find(|a| a.community_code.as_deref() == community);
    html! {
        @if let Some(a) = mine {
            a href={ "#appeal-" (a.id) } { (a.status_text()) }
        } @else if open && points > 0.0 {
            @match community {
                Some(c) => { a.button href={ "/street/" (label) "/appeal?community=" (c) } { "申诉" } }
                None => { a.button href={ "/street/" (label) "/appeal?street_level=1" } { "申诉" } }
            }
        } @else {
            "—"
        }
    }
}

#[derive(serde::Deserialize, Default)]
pub struct LedgerForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    measures: String,
    #[serde(default)]
    responsible: String,
    #[serde(default)]
    deadline: String,
    #[serde(default)]
    report: String,
}

fn ledger_table(rows: &[ledger::Row], caller: &Caller, street_view: bool) -> Markup {
    html! {
        @if rows.is_empty() {
            p.hint { "没有需要整改的社区。" }
        }
        @for r in rows {
            section.flag id={ "row-" (r.id) } {
                h3 { (crate::messages::period_title(&r.period)) " · " (r.street_name) " · " (r.community_name) " · " (ledger::status_text(&r.status)) }
                p { "得分 " (fmt1(r.score)) "，扣 " (fmt1(r.points)) " 分；"
                    @match (&r.next_round, r.next_score) {
                        (Some(round), s) => { "下一次测评（" (round) "）得分 " strong { (fmt1(s)) } }
                        _ => { "下一次测评尚未进行" }
                    }
                }
                @if street_view && r.status != "verified" {
                    form.stack method="post" action={ "/rectifications/" (r.id) } {
                        (csrf_field(caller))
                        label { "整改措施" textarea name="measures" rows="3" { (r.measures) } }
                        label { "责任人" input type="text" name="responsible" value=(r.responsible); }
                        label { "完成期限" input type="date" name="deadline" value=(r.deadline); }
                        label { "整改情况报告（完成时填写）" textarea name="report" rows="3" { (r.report) } }
                        label { "状态"
                            select name="status" {
                                @for s in ["open", "planned", "done"] {
                                    option value=(s) selected[r.status == s] { (ledger::status_text(s)) }
                                }
                            }
                        }
                        button type="submit" { "保存" }
                    }
                } @else {
                    dl.facts {
                        dt { "整改措施" } dd { @if r.measures.is_empty() { "—" } @else { (r.measures) } }
                        dt { "责任人" } dd { @if r.responsible.is_empty() { "—" } @else { (r.responsible) } }
                        dt { "完成期限" } dd { @if r.deadline.is_empty() { "—" } @else { (r.deadline) } }
                        dt { "整改情况" } dd { @if r.report.is_empty() { "—" } @else { (r.report) } }
                        @if !r.verified_at.is_empty() { dt { "核验" } dd { (r.verified_by) " · " (bj(&r.verified_at)) @if !r.verify_note.is_empty() { "：" (r.verify_note) } } }
                    }
                    @if !street_view && r.status == "done" {
                        form.row method="post" action={ "/ledger/" (r.id) "/verify" } {
                            (csrf_field(caller))
                            label { "核验意见" input type="text" name="note"; }
                            button type="submit" { "核验通过" }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /street/{label}/ledger`: the street's ledger rows of the period, to fill in.
pub async fn street_ledger(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(label): UrlPath<String>,
) -> Response {
    let a = who!(caller);
    let Some(street) = street_of(&a) else {
        return refused(Refusal::not_found());
    };
    let period = tryr!(period_of(&label));
    let ws = state.ws.clone();
    let p = period.to_string();
    let (published, rows) = tryr!(
        blocking(move || {
            let published =
                crate::publish::publication(&ws, &crate::report::Subject::Period(period))?
                    .is_some();
            Ok::<_, crate::error::Error>((published, ledger::rows(&ws, Some(&p), Some(&street))?))
        })
        .await
    );
    if !published {
        return refused(Refusal::not_found());
    }
    let title = crate::messages::period_title(&period.to_string());
    page(
        "整改台账",
        Some(&caller),
        html! {
            h1 { (title) " 整改台账" }
            p.hint { "每个计入扣分的社区一行：请填写整改措施、责任人和完成期限（状态改为“整改中”），完成后填写整改情况报告并改为“已完成”，由考核办核验。下一次测评的得分会显示在旁边。" }
            p { a href={ "/street/" (period) } { "返回本期结果" } " · " a href="/rectifications.xlsx" { "下载本街道整改台账（Excel）" } }
            (ledger_table(&rows, &caller, true))
        },
    )
    .into_response()
}

/// `POST /rectifications/{id}`: the street saves its row.
pub async fn street_ledger_save(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
    axum::Form(f): axum::Form<LedgerForm>,
) -> Response {
    let a = who!(caller);
    let Some(street) = street_of(&a) else {
        return refused(Refusal::not_found());
    };
    let u = ledger::Update {
        status: f.status,
        measures: f.measures,
        responsible: f.responsible,
        deadline: f.deadline,
        report: f.report,
        attachments: Vec::new(),
    };
    let _turn = tryr!(write_turn(&state).await);
    let ws = state.ws.clone();
    let row = tryr!(blocking(move || ledger::update(&ws, &id, &street, &u, &a.name)).await);
    see_other(&format!("/street/{}/ledger#row-{}", row.period, row.id))
}

/// `GET /rectifications.xlsx`: the caller's ledger as a workbook (a street its own rows,
/// the office the district's).
pub async fn ledger_xlsx(AxState(state): AxState<State>, caller: Caller) -> Response {
    let a = who!(caller);
    let street = street_of(&a);
    let ws = state.ws.clone();
    let bytes =
        tryr!(blocking(move || ledger::xlsx(&ledger::rows(&ws, None, street.as_deref())?)).await);
    super::respond::bytes_download(
        bytes,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "整改台账.xlsx",
    )
}

/// `GET /appeals/{id}/files/{sha}`: an attachment, to the office or its own street.
pub async fn attachment(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath((id, sha)): UrlPath<(String, String)>,
) -> Response {
    let a = who!(caller);
    let street = street_of(&a);
    let ws = state.ws.clone();
    let found = tryr!(blocking(move || appeals::get(&ws, &id, street.as_deref())).await);
    let Some(f) = found.and_then(|ap| ap.attachments.into_iter().find(|f| f.sha256 == sha)) else {
        return refused(Refusal::not_found());
    };
    let ct: &'static str = match f.kind.as_str() {
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpeg" => "image/jpeg",
        _ => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    };
    super::respond::stream_file(appeals::file_path(&state.ws, &f.sha256), ct, &f.name).await
}

// ------------------------------------------------------------------ office pages

/// `GET /appeals`: the queue (awaiting a ruling first, nearest deadline first).
pub async fn queue(AxState(state): AxState<State>, caller: Caller) -> Response {
    let _ = who!(caller); // ok: the route admits staff; which one does not matter
    let ws = state.ws.clone();
    let list = tryr!(blocking(move || appeals::list(&ws, None, None)).await);
    let waiting = list.iter().filter(|a| a.status == "submitted").count();
    page(
        "申诉复核",
        Some(&caller),
        html! {
            h1 { "申诉复核" }
            p.summary { "待复核 " strong class=(if waiting > 0 { "short" } else { "ok" }) { (waiting) } " 件，共 " (list.len()) " 件。" a href="/ledger" { "整改台账" } }
            @if list.is_empty() { p.hint { "还没有街道提出申诉。" } }
            @else {
                div.scroll {
                table.data #appeals {
                    thead { tr { th { "编号" } th { "考核期" } th { "街道" } th { "扣分项" } th.num { "扣分" } th { "状态" } th { "截止（北京时间）" } } }
                    tbody {
                        @for a in &list {
                            tr class=(if a.status == "submitted" { "short" } else { "" }) {
                                td { a href={ "/appeals/" (a.id) } { (a.id) } }
                                td { (crate::messages::period_title(&a.period)) }
                                td { (a.street_name) }
                                td { (a.line_text()) }
                                td.num { (format!("{:.1}", a.points)) }
                                td { (appeal_status(a)) }
                                td { (bj(&a.deadline)) }
                            }
                        }
                    }
                }
                }
            }
        },
    )
    .into_response()
}

fn appeal_page(caller: &Caller, a: &Appeal, notice: Option<Markup>) -> Response {
    page(
        &format!("申诉 {}", a.id),
        Some(caller),
        html! {
            h1 { "申诉 " (a.id) " · " (a.street_name) " · " (a.line_text()) }
            @if let Some(n) = notice { (n) }
            dl.facts {
                dt { "考核期" } dd { (crate::messages::period_title(&a.period)) }
                dt { "扣分" } dd { (format!("{:.1}", a.points)) " 分" }
                dt { "状态" } dd { (appeal_status(a)) }
                dt { "提交" } dd { (a.submitted_by) " · " (bj(&a.submitted_at)) }
                dt { "申诉截止" } dd { (bj(&a.deadline)) }
            }
            h2 { "理由" }
            p { (a.reason) }
            (attachments(a))
            @if a.status == "submitted" {
                h2 { "复核结论" }
                form.stack method="post" action={ "/appeals/" (a.id) "/ruling" } {
                    (csrf_field(caller))
                    label { "结论"
                        select name="decision" {
                            option value="rejected" { "驳回" }
                            option value="upheld" { "维持申诉" }
                        }
                    }
                    label { "补救方式（维持申诉时）"
                        select name="remedy" {
                            option value="none" { "无（驳回）" }
                            option value="waive" { (appeals::remedy_text("waive")) }
                            option value="exclude" { (appeals::remedy_text("exclude")) }
                            @if a.community_code.is_some() { option value="resurvey" { (appeals::remedy_text("resurvey")) } }
                        }
                    }
                    label { "访问员编号（剔除问卷时）" input type="text" name="interviewer"; }
                    label { "轮次（剔除问卷时，如 2018-R1）" input type="text" name="round"; }
                    label { "理由（必填，街道可见）" textarea name="reason" rows="4" required {} }
                    button type="submit" { "提交结论" }
                }
            } @else {
                h2 { "复核结论" }
                (ruling_text(a))
            }
            p { a href="/appeals" { "返回申诉列表" } }
        },
    )
    .into_response()
}

/// `GET /appeals/{id}`: the appeal, to the office (with the ruling form) or its street.
pub async fn appeal(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let _ = who!(caller); // ok: the route admits staff; which one does not matter
    let ws = state.ws.clone();
    let found = tryr!(blocking(move || appeals::get(&ws, &id, None)).await);
    let Some(a) = found else {
        return refused(Refusal::not_found());
    };
    appeal_page(&caller, &a, None)
}

#[derive(serde::Deserialize, Default)]
pub struct RulingForm {
    #[serde(default)]
    decision: String,
    #[serde(default)]
    remedy: String,
    #[serde(default)]
    interviewer: String,
    #[serde(default)]
    round: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    confirm: Option<String>,
}

/// `POST /appeals/{id}/ruling`: asks first when the ruling changes a published result.
pub async fn rule(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
    axum::Form(f): axum::Form<RulingForm>,
) -> Response {
    let a = who!(caller);
    let ws = state.ws.clone();
    let idc = id.clone();
    let found = tryr!(blocking(move || appeals::get(&ws, &idc, None)).await);
    let Some(ap) = found else {
        return refused(Refusal::not_found());
    };
    let upheld = f.decision == "upheld";
    let changes = upheld && matches!(f.remedy.as_str(), "waive" | "exclude");
    if changes && f.confirm.as_deref() != Some("yes") && !f.reason.trim().is_empty() {
        let what = if f.remedy == "waive" {
            format!("免除{}的扣分 {:.1} 分", ap.line_text(), ap.points)
        } else {
            format!(
                "剔除访问员 {} 在 {} 的问卷",
                f.interviewer.trim(),
                f.round.trim()
            )
        };
        return page(
            "确认复核结论",
            Some(&caller),
            html! {
                h1 { "确认：维持申诉 " (ap.id) }
                p.notice role="status" { "将" (what) "，重新评价" (crate::messages::period_title(&ap.period)) "、重新生成报告并向各街道重新发布；" (ap.street_name) "将看到更正后的结果和本结论。此操作记入日志，不能撤销。" }
                form method="post" action={ "/appeals/" (ap.id) "/ruling" } {
                    (csrf_field(&caller))
                    input type="hidden" name="decision" value=(f.decision);
                    input type="hidden" name="remedy" value=(f.remedy);
                    input type="hidden" name="interviewer" value=(f.interviewer);
                    input type="hidden" name="round" value=(f.round);
                    input type="hidden" name="reason" value=(f.reason);
                    input type="hidden" name="confirm" value="yes";
                    button type="submit" { "确认并重新发布" }
                }
                p { a href={ "/appeals/" (ap.id) } { "取消" } }
            },
        )
        .into_response();
    }
    let input = RulingInput {
        upheld,
        remedy: if upheld { f.remedy } else { "none".into() },
        reason: f.reason,
        interviewer: Some(f.interviewer),
        round: Some(f.round),
    };
    let _turn = tryr!(write_turn(&state).await);
    let ws = state.ws.clone();
    let done = blocking(move || appeals::rule(&ws, &id, &input, &a.name, &|_, _| {})).await;
    match done {
        Ok(ruled) => appeal_page(
            &caller,
            &ruled,
            Some(
                html! { p.notice role="status" { "已记录对申诉 " (ruled.id) " 的结论。" @if let Some(r) = &ruled.ruling { @if !r.changed.is_empty() { (r.changed) "；已重新发布。" } } } },
            ),
        ),
        Err(e) => {
            let mut r = appeal_page(
                &caller,
                &ap,
                Some(html! { p.error role="alert" { (e.message) } }),
            );
            *r.status_mut() = e.status;
            r
        }
    }
}

#[derive(serde::Deserialize, Default)]
pub struct LedgerQuery {
    #[serde(default)]
    period: String,
    #[serde(default)]
    status: String,
}

/// `GET /ledger`: the district ledger (by period and status).
pub async fn district_ledger(
    AxState(state): AxState<State>,
    caller: Caller,
    Query(q): Query<LedgerQuery>,
) -> Response {
    let _ = who!(caller); // ok: the route admits staff; which one does not matter
    let ws = state.ws.clone();
    let period = q.period.trim().to_string();
    let rows = tryr!(
        blocking(move || ledger::rows(&ws, Some(period.as_str()).filter(|p| !p.is_empty()), None))
            .await
    );
    let mut periods: Vec<String> = rows.iter().map(|r| r.period.clone()).collect();
    periods.dedup();
    let shown: Vec<ledger::Row> = rows
        .iter()
        .filter(|r| q.status.is_empty() || r.status == q.status)
        .cloned()
        .collect();
    let count = |s: &str| rows.iter().filter(|r| r.status == s).count();
    page(
        "整改台账",
        Some(&caller),
        html! {
            h1 { "全区整改台账" }
            p.summary {
                "共 " strong { (rows.len()) } " 项：待制定措施 " (count("open")) "，整改中 " (count("planned"))
                "，待核验 " strong.short { (count("done")) } "，已核验 " (count("verified")) "。"
            }
            form.row method="get" action="/ledger" {
                label { "考核期" input type="text" name="period" value=(q.period) placeholder="如 2018H1"; }
                label { "状态"
                    select name="status" {
                        option value="" { "全部" }
                        @for s in ["open", "planned", "done", "verified"] { option value=(s) selected[q.status == s] { (ledger::status_text(s)) } }
                    }
                }
                button type="submit" { "筛选" }
            }
            p { a href="/rectifications.xlsx" { "下载全区整改台账（Excel）" } " · " a href="/appeals" { "申诉复核" } }
            (ledger_table(&shown, &caller, false))
        },
    )
    .into_response()
}

#[derive(serde::Deserialize, Default)]
pub struct VerifyForm {
    #[serde(default)]
    note: String,
}

/// `POST /ledger/{id}/verify`.
pub async fn verify(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
    axum::Form(f): axum::Form<VerifyForm>,
) -> Response {
    let a = who!(caller);
    let _turn = tryr!(write_turn(&state).await);
    let ws = state.ws.clone();
    let row = tryr!(blocking(move || ledger::verify(&ws, &id, &f.note, &a.name)).await);
    see_other(&format!("/ledger?period={}#row-{}", row.period, row.id))
}

// ------------------------------------------------------------------ API

fn api_refused(r: Refusal) -> Response {
    super::respond::refuse(true, r.status, r.code, &r.message)
}

/// `tryr!` for the API: the value, or the refusal as JSON.
macro_rules! api_try {
    ($e:expr) => {
        match $e {
            Ok(x) => x,
            Err(e) => return api_refused(e.into()),
        }
    };
}

#[derive(serde::Deserialize, Default)]
pub struct AppealBody {
    #[serde(default)]
    community_code: Option<String>,
    #[serde(default)]
    street_level: bool,
    #[serde(default)]
    reason: String,
}

/// `POST /api/v1/periods/{p}/appeals` (street): 201 `{"id"}`.
pub async fn api_submit(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(p): UrlPath<String>,
    body: axum::body::Bytes,
) -> Response {
    let a = who!(caller);
    let Some(street) = street_of(&a) else {
        return api_refused(Refusal::not_found());
    };
    let period = api_try!(period_of(&p));
    let b: AppealBody = match json_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let line = match (
        b.community_code.filter(|c| !c.trim().is_empty()),
        b.street_level,
    ) {
        (Some(c), false) => Line::Community(c.trim().to_string()),
        (None, true) => Line::Street,
        _ => {
            return api_refused(Refusal::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "refused",
                "请给出 community_code 或 \"street_level\": true 之一",
            ));
        }
    };
    let s = Submission {
        period,
        street_code: street,
        line,
        reason: b.reason,
        attachments: Vec::new(),
    };
    let _turn = api_try!(write_turn(&state).await);
    let ws = state.ws.clone();
    match blocking(move || appeals::submit(&ws, &s, &a.name, &appeals::now())).await {
        Ok(made) => (
            StatusCode::CREATED,
            Json(serde_json::json!({ "id": made.id, "deadline": made.deadline })),
        )
            .into_response(),
        Err(e) => api_refused(e),
    }
}

#[derive(serde::Deserialize, Default)]
pub struct PeriodFilter {
    #[serde(default)]
    period: Option<String>,
}

/// `GET /api/v1/appeals[?period=]`: a street its own, the office all.
pub async fn api_list(
    AxState(state): AxState<State>,
    caller: Caller,
    Query(q): Query<PeriodFilter>,
) -> Response {
    let a = who!(caller);
    let street = street_of(&a);
    let ws = state.ws.clone();
    match blocking(move || appeals::list(&ws, q.period.as_deref(), street.as_deref())).await {
        Ok(list) => Json(appeals::rows_json(&list)).into_response(),
        Err(e) => api_refused(e),
    }
}

/// `GET /api/v1/appeals/{id}` (404 when not the caller's).
pub async fn api_get(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let a = who!(caller);
    let street = street_of(&a);
    let ws = state.ws.clone();
    match blocking(move || appeals::get(&ws, &id, street.as_deref())).await {
        Ok(Some(ap)) => Json(ap).into_response(),
        Ok(None) => api_refused(Refusal::not_found()),
        Err(e) => api_refused(e),
    }
}

#[derive(serde::Deserialize, Default)]
pub struct RulingBody {
    #[serde(default)]
    decision: String,
    #[serde(default)]
    remedy: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    interviewer: Option<String>,
    #[serde(default)]
    round: Option<String>,
}

/// `POST /api/v1/appeals/{id}/ruling` (office): acts at once (no confirmation).
pub async fn api_rule(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
    body: axum::body::Bytes,
) -> Response {
    let a = who!(caller);
    let b: RulingBody = match json_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let upheld = match b.decision.as_str() {
        "upheld" => true,
        "rejected" => false,
        _ => {
            return api_refused(Refusal::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "refused",
                "decision 须为 upheld 或 rejected",
            ));
        }
    };
    let input = RulingInput {
        upheld,
        remedy: if b.remedy.is_empty() {
            "none".into()
        } else {
            b.remedy
        },
        reason: b.reason,
        interviewer: b.interviewer,
        round: b.round,
    };
    let _turn = api_try!(write_turn(&state).await);
    let ws = state.ws.clone();
    match blocking(move || appeals::rule(&ws, &id, &input, &a.name, &|_, _| {})).await {
        Ok(ap) => Json(ap).into_response(),
        Err(e) => api_refused(e),
    }
}

/// `GET /api/v1/periods/{p}/rectifications`: a street its own rows, the office all.
pub async fn api_ledger(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(p): UrlPath<String>,
) -> Response {
    let a = who!(caller);
    let street = street_of(&a);
    let period = match period_of(&p) {
        Ok(p) => p.to_string(),
        Err(e) => return api_refused(e),
    };
    let ws = state.ws.clone();
    match blocking(move || {
        if crate::publish::publication(&ws, &crate::report::Subject::Period(period.parse()?))?
            .is_none()
        {
            return Err(crate::error::Error::NotFound(format!("{period} 未发布")));
        }
        ledger::rows(&ws, Some(&period), street.as_deref())
    })
    .await
    {
        Ok(rows) => Json(serde_json::json!({ "rows": rows })).into_response(),
        Err(e) => api_refused(e),
    }
}

#[derive(serde::Deserialize, Default)]
pub struct RectificationBody {
    #[serde(default)]
    status: String,
    #[serde(default)]
    measures: String,
    #[serde(default)]
    responsible: String,
    #[serde(default)]
    deadline: String,
    #[serde(default)]
    report: String,
}

/// `POST /api/v1/rectifications/{id}` (street, its own rows).
pub async fn api_rectify(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
    body: axum::body::Bytes,
) -> Response {
    let a = who!(caller);
    let Some(street) = street_of(&a) else {
        return api_refused(Refusal::not_found());
    };
    let b: RectificationBody = match json_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let u = ledger::Update {
        status: b.status,
        measures: b.measures,
        responsible: b.responsible,
        deadline: b.deadline,
        report: b.report,
        attachments: Vec::new(),
    };
    let _turn = api_try!(write_turn(&state).await);
    let ws = state.ws.clone();
    match blocking(move || ledger::update(&ws, &id, &street, &u, &a.name)).await {
        Ok(r) => Json(r).into_response(),
        Err(e) => api_refused(e),
    }
}

/// `POST /api/v1/rectifications/{id}/verify` (office).
pub async fn api_verify(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
    body: axum::body::Bytes,
) -> Response {
    let a = who!(caller);
    let note = serde_json::from_slice::<serde_json::Value>(&body)
        .ok() // ok: the body is optional; a note is read when there is one
        .and_then(|v| v.get("note").and_then(|n| n.as_str()).map(str::to_string))
        .unwrap_or_default();
    let _turn = api_try!(write_turn(&state).await);
    let ws = state.ws.clone();
    match blocking(move || ledger::verify(&ws, &id, &note, &a.name)).await {
        Ok(r) => Json(r).into_response(),
        Err(e) => api_refused(e),
    }
}
