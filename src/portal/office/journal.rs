//! The journal: filtered by round, actor and action, in Beijing time; verify-store.

use axum::extract::{Query, State as AxState};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::common::*;
use crate::portal::State;
use crate::portal::respond::Caller;
use crate::portal::respond::blocking;
use crate::portal::respond::page;
use crate::portal::respond::{tryr, who};

#[derive(serde::Deserialize, Default)]
pub struct JournalQuery {
    round: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    /// 1-based page of `PER_PAGE` entries, the newest first.
    page: Option<usize>,
}

impl JournalQuery {
    /// The filter it asks for (blank fields: any).
    fn filter(&self) -> crate::lifecycle::JournalFilter {
        let nonempty = |s: &Option<String>| {
            s.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        crate::lifecycle::JournalFilter {
            round: nonempty(&self.round),
            actor: nonempty(&self.actor),
            action: nonempty(&self.action),
        }
    }
}

/// Journal entries a page shows.
const PER_PAGE: usize = 100;

pub(super) fn entry_link(e: &crate::journal::Entry) -> Markup {
    html! {
        @if let Some(r) = &e.round {
            @if matches!(e.action.as_str(), "score" | "evaluate" | "report" | "publish" | "unpublish") {
                a href={ "/results/" (r) } { (r) }
            } @else if r.contains("-R") {
                a href={ "/rounds/" (r) } { (r) }
            } @else { (r) }
        }
        @for id in &e.ids {
            " "
            @if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                a href={ "/deliveries/" (id) } { code { (crate::ingest::short(id)) } }
            } @else if let (Some(r), Some(rest)) = (&e.round, id.strip_prefix("interviewer:")) {
                a href={ "/rounds/" (r) "/flags#interviewer-" (rest) } { "访问员 " (rest) }
            } @else if let Some(rest) = id.strip_prefix("respondent:") {
                "问卷 " code { (rest) }
            } @else { code { (id) } }
        }
    }
}

pub async fn journal(
    AxState(state): AxState<State>,
    caller: Caller,
    Query(q): Query<JournalQuery>,
) -> Response {
    let _ = who!(caller); // ok: the page needs a signed-in account, not which one
    render_journal(&state, &caller, q, None).await
}

pub(super) async fn render_journal(
    state: &State,
    caller: &Caller,
    q: JournalQuery,
    check: Option<crate::lifecycle::verify::StoreCheck>,
) -> Response {
    let ws = state.ws.clone();
    let filter = q.filter();
    let (round, actor, action) = (
        filter.round.clone(),
        filter.actor.clone(),
        filter.action.clone(),
    );
    let entries = tryr!(blocking(move || crate::lifecycle::journal_filtered(&ws, &filter)).await);
    let pages = entries.len().div_ceil(PER_PAGE).max(1);
    let at = q.page.unwrap_or(1).clamp(1, pages);
    let link = |p: usize| {
        let mut u = format!("/journal?page={p}");
        for (k, v) in [("round", &round), ("actor", &actor), ("action", &action)] {
            if let Some(v) = v {
                u.push_str(&format!("&{k}={}", super::flags::url_part(v)));
            }
        }
        u
    };
    page(
        "日志",
        Some(caller),
        html! {
            h1 { "日志" }
            p.hint { "谁在何时做了什么：每次上传、撤回、决定、计算、发布、登录和账户变更。时间为北京时间。" }
            form.row method="get" action="/journal" {
                label { "轮次或期间" input type="text" name="round" value=(round.clone().unwrap_or_default()); }
                label { "操作人" input type="text" name="actor" value=(actor.clone().unwrap_or_default()); }
                label { "操作"
                    select name="action" {
                        option value="" { "全部操作" }
                        @for (code, text) in crate::messages::JOURNAL_ACTIONS {
                            option value=(code) selected=[(action.as_deref() == Some(code)).then_some("selected")] { (text) }
                        }
                    }
                }
                button type="submit" { "筛选" }
            }
            form.inline method="post" action="/journal/verify" {
                (csrf_field(caller))
                button type="submit" { "核对存储与日志" }
            }
            @if let Some(c) = &check {
                @if c.ok() {
                    p.notice #verify role="status" { "核对通过：日志 " (c.entries) " 条，文件 " (c.files_checked) " 个，交付 " (c.deliveries) " 个，均与记录一致。" }
                } @else {
                    div.error #verify role="alert" {
                        p { "核对发现 " (c.problems.len()) " 个问题：" }
                        ul { @for p in &c.problems { li { code { (p.code) } " " (p.message) } } }
                    }
                }
            }
            p { "共 " (entries.len()) " 条，第 " (at) " / " (pages) " 页（最新的在前）。"
                a href=(link(1).replacen("/journal?page=1", "/journal.csv?page=1", 1)) { "下载本筛选结果（CSV）" } }
            table.data #journal {
                thead { tr { th.num { "序号" } th { "时间（北京时间）" } th { "操作人" } th { "操作" } th { "对象" } th { "理由" } } }
                tbody {
                    @for e in entries.iter().rev().skip((at - 1) * PER_PAGE).take(PER_PAGE) {
                        tr {
                            td.num { (e.seq) }
                            td { (crate::store::beijing_time(&e.time)) }
                            td { (e.actor) }
                            td { (crate::messages::journal_action_text(&e.action)) }
                            td { (entry_link(e)) }
                            td { (e.reason.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
            @if pages > 1 {
                p.pages {
                    @if at > 1 { a href=(link(at - 1)) { "上一页" } " " }
                    @if at < pages { a href=(link(at + 1)) { "下一页" } }
                }
            }
        },
    )
    .into_response()
}

/// The journal's entries under the page's filter as a CSV download.
pub async fn journal_csv(
    AxState(state): AxState<State>,
    caller: Caller,
    Query(q): Query<JournalQuery>,
) -> Response {
    let _ = who!(caller); // ok: the route admits staff; which one does not matter
    let ws = state.ws.clone();
    let filter = q.filter();
    let bytes = tryr!(
        blocking(move || {
            let entries = crate::lifecycle::journal_filtered(&ws, &filter)?;
            crate::lifecycle::journal_csv(&entries)
        })
        .await
    );
    crate::portal::respond::bytes_download(bytes, "text/csv; charset=utf-8", "日志.csv")
}

pub async fn verify(AxState(state): AxState<State>, caller: Caller) -> Response {
    let a = who!(caller);
    let ws = state.ws.clone();
    let check = tryr!(blocking(move || crate::lifecycle::verify::verify_store(&ws, &a.name)).await);
    render_journal(&state, &caller, JournalQuery::default(), Some(check)).await
}
