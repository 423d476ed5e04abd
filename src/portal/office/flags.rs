//! Flags with their evidence, what excluding would change, and the decision form.

use axum::extract::{Path as UrlPath, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::common::*;
use crate::lifecycle::review::{Filter, Review, Sort, Status};
use crate::portal::State;
use crate::portal::respond::Caller;
use crate::portal::respond::Refusal;
use crate::portal::respond::blocking;
use crate::portal::respond::write_turn;
use crate::portal::respond::{page, refused, see_other};
use crate::portal::respond::{tryr, who};
use crate::round::RoundId;
use axum::extract::Query;

/// The flags page's query: the review's filter and, after a decision, what it was on
/// (`interviewer:ID` or `respondent:ID`).
#[derive(serde::Deserialize, Default)]
pub struct FlagsQuery {
    #[serde(default)]
    status: Option<Status>,
    #[serde(default)]
    street: Option<String>,
    #[serde(default)]
    evaluator: Option<String>,
    #[serde(default)]
    sort: Option<Sort>,
    #[serde(default)]
    changed: Option<String>,
}

impl FlagsQuery {
    fn filter(&self) -> Filter {
        Filter {
            // ok: a field left out of the query is its default (all, by evidence).
            status: self.status.unwrap_or_default(),
            street: self.street.clone().filter(|s| !s.is_empty()),
            evaluator: self.evaluator.clone().filter(|s| !s.is_empty()),
            sort: self.sort.unwrap_or_default(),
        }
    }
}

/// What a decision just did, shown at the top and where it was made.
pub(super) struct Notice {
    subject: String,
    id: String,
    text: String,
}

impl Notice {
    fn on(&self, subject: &str, id: &str) -> bool {
        self.subject == subject && self.id == id
    }
}

/// Questionnaires with signals listed on the page (the rest: `manyi flags`).
const SHOWN: usize = 200;

pub async fn flags(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(round): UrlPath<String>,
    Query(q): Query<FlagsQuery>,
) -> Response {
    let a = who!(caller);
    let r = tryr!(staff_round(&state, &a, &round));
    let ws = state.ws.clone();
    let filter = q.filter();
    let fl = filter.clone();
    let rv = tryr!(blocking(move || crate::lifecycle::review::review(&ws, &r, &fl, SHOWN)).await);
    let notice = q.changed.as_deref().and_then(|c| {
        let (subject, id) = c.split_once(':')?;
        let text = crate::lifecycle::review::change_notice(&rv, subject, id)?;
        Some(Notice {
            subject: subject.to_string(),
            id: id.to_string(),
            text,
        })
    });
    render_flags(&caller, &r, &rv, &filter, notice.as_ref(), None)
}

/// The flagged interviewers under the page's filter as a workbook (`review_xlsx`).
pub async fn flags_xlsx(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(round): UrlPath<String>,
    Query(q): Query<FlagsQuery>,
) -> Response {
    let a = who!(caller);
    let r = tryr!(staff_round(&state, &a, &round));
    let ws = state.ws.clone();
    let filter = q.filter();
    let bytes = tryr!(
        blocking(move || {
            let rv = crate::lifecycle::review::review(&ws, &r, &filter, 0)?;
            crate::lifecycle::review::review_xlsx(&rv)
        })
        .await
    );
    crate::portal::respond::bytes_download(
        bytes,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        &format!("{round}-质量标记.xlsx"),
    )
}

/// `s` percent-encoded for a URL's query or fragment (unreserved characters kept).
pub(super) fn url_part(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The flags page's address with `filter` (and `extra` pairs), then `#fragment`.
fn flags_url(
    r: &RoundId,
    filter: &Filter,
    extra: &[(&str, &str)],
    fragment: Option<&str>,
) -> String {
    let mut pairs: Vec<String> = filter
        .pairs()
        .iter()
        .map(|(k, v)| format!("{k}={}", url_part(v)))
        .collect();
    pairs.extend(extra.iter().map(|(k, v)| format!("{k}={}", url_part(v))));
    let mut u = format!("/rounds/{r}/flags");
    if !pairs.is_empty() {
        u.push('?');
        u.push_str(&pairs.join("&"));
    }
    if let Some(f) = fragment {
        u.push('#');
        u.push_str(&url_part(f));
    }
    u
}

/// The element id of an interviewer's section.
fn anchor(id: &str) -> String {
    format!("interviewer-{id}")
}

/// The decision form; after deciding, the page comes back with `filter` at the
/// subject's place.
fn decision_form_in(c: &Caller, r: &RoundId, subject: &str, id: &str, filter: &Filter) -> Markup {
    html! {
        form.decide method="post" action={ "/rounds/" (r) "/decisions" } {
            (csrf_field(c))
            @for (k, v) in filter.pairs() { input type="hidden" name=(k) value=(v); }
            input type="hidden" name="subject" value=(subject);
            input type="hidden" name="id" value=(id);
            label.radio { input type="radio" name="action" value="exclude" required; "剔除" }
            label.radio { input type="radio" name="action" value="keep"; "保留" }
            input type="text" name="reason" placeholder="理由（必填，记入日志）" required;
            button.small type="submit" { "决定" }
        }
    }
}

pub(super) fn decision_text(d: &Option<crate::flags::DecisionView>) -> Markup {
    html! {
        @match d {
            Some(d) => {
                strong class=(if d.action == "exclude" { "short" } else { "ok" }) { (crate::messages::decision_action_text(&d.action)) }
                "　理由：" (d.reason) "　决定人：" (d.actor) "　时间：" (crate::store::beijing_time(&d.at))
            }
            None => { span.short { "待决定" } }
        }
    }
}

pub(super) fn render_flags(
    caller: &Caller,
    r: &RoundId,
    rv: &Review,
    filter: &Filter,
    notice: Option<&Notice>,
    message: Option<&str>,
) -> Response {
    let sel = |on: bool| if on { Some("selected") } else { None };
    page(
        &format!("{r} 质量标记"),
        Some(caller),
        html! {
            h1 { (r) " 轮质量标记" }
            p.summary.sticky {
                "待决定：访问员 " strong.short { (rv.undecided_interviewers) } " 名（共标记 " (rv.flagged_interviewers) " 名）"
                " · 本轮有效交付中的问卷 " (rv.questionnaires_read) " 份 · " a href={ "/rounds/" (r) "/callbacks" } { "回访核实" } " · " a href={ "/rounds/" (r) } { "返回本轮" }
            }
            @if let Some(n) = notice { p.notice role="status" { (n.text) } }
            @if let Some(m) = message { p.error role="alert" { (m) } }
            p { "被标记的访问员与同社区其他访问员相比，多项指标反常。一个决定覆盖该访问员在本轮的全部问卷；个别问卷可在下方单独决定（例外）。尚未决定时，该访问员的问卷照常计分；决定剔除后，其问卷在重新计算得分时不再计入。每个决定须写明理由，记入日志。" }
            form.row method="get" action={ "/rounds/" (r) "/flags" } {
                label { "显示 "
                    select name="status" {
                        option value="all" selected=[sel(filter.status == Status::All)] { "全部" }
                        option value="undecided" selected=[sel(filter.status == Status::Undecided)] { "待决定" }
                        option value="decided" selected=[sel(filter.status == Status::Decided)] { "已决定" }
                    }
                }
                label { "街道 "
                    select name="street" {
                        option value="" { "全部街道" }
                        @for (code, name) in &rv.streets {
                            option value=(code) selected=[sel(filter.street.as_deref() == Some(code.as_str()))] { (name) }
                        }
                    }
                }
                label { "测评机构 "
                    select name="evaluator" {
                        option value="" { "全部机构" }
                        @for e in &rv.evaluators {
                            option value=(e) selected=[sel(filter.evaluator.as_deref() == Some(e.as_str()))] { (e) }
                        }
                    }
                }
                label { "排序 "
                    select name="sort" {
                        option value="evidence" selected=[sel(filter.sort == Sort::Evidence)] { "反常程度由高到低" }
                        option value="questionnaires" selected=[sel(filter.sort == Sort::Questionnaires)] { "问卷由多到少" }
                        option value="interviewer" selected=[sel(filter.sort == Sort::Interviewer)] { "访问员编号" }
                    }
                }
                button type="submit" { "筛选" }
            }
            p { a href=(flags_url(r, filter, &[], None).replacen("/flags", "/flags.xlsx", 1)) { "下载本筛选结果（Excel）" } }
            h2 { "访问员" }
            @if rv.flagged_interviewers == 0 { p { "没有被标记的访问员。" } }
            @else if rv.rows.is_empty() { p { "没有符合筛选条件的访问员。" } }
            @for i in &rv.rows {
                section.flag id=(anchor(&i.interviewer_id)) {
                    h3 { "访问员 " (i.interviewer_id) " · 问卷 " (i.questionnaires) " 份 · " (i.communities.len()) " 个社区"
                        @if !i.evaluators.is_empty() { " · " (i.evaluators.join("、")) } }
                    p.evidence { strong { (i.evidence) } }
                    @if !i.signs.is_empty() { p.evidence { "反常之处：" (i.signs.join("；")) } }
                    @if !i.signals.is_empty() { p.evidence { "可疑问卷：" (i.signals) } }
                    @if !i.callbacks.is_empty() { p.evidence.callbacks { strong { "回访：" } (i.callbacks) } }
                    p.evidence { "街道：" (i.streets.iter().map(|s| s.1.as_str()).collect::<Vec<_>>().join("、")) }
                    @if !i.impact.is_empty() { details.evidence { summary { "剔除的影响（各街道、各社区得分变化）" } @if !i.street_impact.is_empty() { p { (i.street_impact) } } p { (i.impact.join("；")) } } }
                    details.evidence {
                        summary { "统计明细（供核查）" }
                        table.data {
                            thead { tr { th { "指标" } th.num { "与同社区其他访问员之差" } th.num { "z" } } }
                            tbody {
                                @for (name, d, z) in &i.numbers { tr { td { (name) } td.num { (format!("{d:+.3}")) } td.num { (format!("{z:.1}")) } } }
                            }
                        }
                        @if let Some(p) = i.p_value { p { "合计 p = " (format!("{p:.1e}")) "（" (i.evidence) "）" } }
                        p { "交付文件：" (i.deliveries.join("、")) }
                    }
                    @if let Some(n) = notice.filter(|n| n.on("interviewer", &i.interviewer_id)) { p.notice { (n.text) } }
                    p { "决定：" (decision_text(&i.decision)) }
                    @if i.decision.is_some() {
                        details { summary { "更改决定" } (decision_form_in(caller, r, "interviewer", &i.interviewer_id, filter)) }
                    } @else {
                        (decision_form_in(caller, r, "interviewer", &i.interviewer_id, filter))
                    }
                }
            }
            h2 { "可疑问卷" }
            p.hint { "用时过短、所有题答案相同、与同社区其他问卷高度相同的问卷，是其访问员的证据，不需逐份决定；答题过少的问卷按规则无效。需要时可对个别问卷单独决定（例外）。" }
            @if rv.questionnaires_total == 0 { p { "没有带信号的问卷。" } }
            @if rv.questionnaires_total > rv.questionnaires.len() { p.hint { "共 " (rv.questionnaires_total) " 份，此处列出前 " (rv.questionnaires.len()) " 份。" } }
            @if !rv.questionnaires.is_empty() {
                table.data #questionnaires {
                    thead { tr { th { "受访者" } th { "访问员" } th { "社区" } th { "来源文件（行号）" } th { "可疑之处" } th { "决定" } } }
                    tbody {
                        @for (q, community) in rv.questionnaires.iter().zip(&rv.questionnaire_communities) {
                            tr id={ "q-" (q.respondent_id) } {
                                td { code { (q.respondent_id) } }
                                td { (q.interviewer_id.as_deref().unwrap_or("—")) }
                                td { (community) }
                                td { (q.file_name) "（第 " (q.line) " 行）" }
                                td { (q.flags.iter().map(|c| crate::messages::questionnaire_flag_text(c)).collect::<Vec<_>>().join("、")) }
                                td {
                                    @if let Some(n) = notice.filter(|n| n.on("respondent", &q.respondent_id)) { p.notice { (n.text) } }
                                    @if q.decision.is_some() { (decision_text(&q.decision)) }
                                    details { summary { "单独决定" } (decision_form_in(caller, r, "respondent", &q.respondent_id, filter)) }
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

#[derive(serde::Deserialize)]
pub struct DecideForm {
    subject: String,
    id: String,
    action: String,
    reason: String,
    // The page's filter, to come back to it.
    #[serde(default)]
    status: Option<Status>,
    #[serde(default)]
    street: Option<String>,
    #[serde(default)]
    evaluator: Option<String>,
    #[serde(default)]
    sort: Option<Sort>,
}

pub async fn decide(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(round): UrlPath<String>,
    axum::Form(f): axum::Form<DecideForm>,
) -> Response {
    let a = who!(caller);
    let r = tryr!(staff_round(&state, &a, &round));
    let subject = match f.subject.as_str() {
        "interviewer" => crate::lifecycle::Subject::Interviewer,
        "respondent" => crate::lifecycle::Subject::Respondent,
        _ => return refused(Refusal::not_found()),
    };
    let exclude = match f.action.as_str() {
        "exclude" => true,
        "keep" => false,
        _ => {
            return refused(Refusal::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "refused",
                "请选择剔除或保留",
            ));
        }
    };
    let filter = FlagsQuery {
        status: f.status,
        street: f.street.clone(),
        evaluator: f.evaluator.clone(),
        sort: f.sort,
        changed: None,
    }
    .filter();
    let (subject_code, id) = (f.subject.clone(), f.id.trim().to_string());
    let _turn = tryr!(write_turn(&state).await);
    let ws = state.ws.clone();
    let res = blocking(move || {
        crate::lifecycle::decide(&ws, &r, subject, &f.id, exclude, &f.reason, &a.name)
    })
    .await;
    match res {
        Ok(_) => {
            // The header's count: recounted now (shown as before until it is done).
            let counted = match store_key(&state).await {
                Ok(key) => undecided(&state, &key, r, true).await.map(|_| ()),
                Err(e) => Err(e),
            };
            if let Err(e) = counted {
                eprintln!("manyi serve: counting flags of {r}: {}", e.message);
            }
            let changed = format!("{subject_code}:{id}");
            let at = if subject_code == "interviewer" {
                anchor(&id)
            } else {
                format!("q-{id}")
            };
            see_other(&flags_url(&r, &filter, &[("changed", &changed)], Some(&at)))
        }
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let ws = state.ws.clone();
            let fl = filter.clone();
            let rv = tryr!(
                blocking(move || crate::lifecycle::review::review(&ws, &r, &fl, SHOWN)).await
            );
            let mut resp = render_flags(&caller, &r, &rv, &filter, None, Some(&e.message));
            *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            resp
        }
        Err(e) => refused(e),
    }
}
