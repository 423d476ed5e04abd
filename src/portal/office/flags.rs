//! Flags with their evidence, what excluding would change, and the decision form.

use axum::extract::{Path as UrlPath, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::common::*;
use crate::portal::State;
use crate::portal::respond::Caller;
use crate::portal::respond::Refusal;
use crate::portal::respond::blocking;
use crate::portal::respond::write_turn;
use crate::portal::respond::{page, refused, see_other};
use crate::portal::respond::{tryr, who};
use crate::round::RoundId;

pub async fn flags(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(round): UrlPath<String>,
) -> Response {
    let a = who!(caller);
    let r = tryr!(staff_round(&state, &a, &round));
    let ws = state.ws.clone();
    let f = tryr!(blocking(move || crate::lifecycle::flags(&ws, &r)).await);
    render_flags(&caller, &r, &f, None)
}

pub(super) fn decision_form(c: &Caller, r: &RoundId, subject: &str, id: &str) -> Markup {
    html! {
        form.decide method="post" action={ "/rounds/" (r) "/decisions" } {
            (csrf_field(c))
            input type="hidden" name="subject" value=(subject);
            input type="hidden" name="id" value=(id);
            label.radio { input type="radio" name="action" value="exclude" required; "剔除" }
            label.radio { input type="radio" name="action" value="keep"; "保留" }
            input type="text" name="reason" placeholder="理由(必填,记入日志)" required;
            button.small type="submit" { "决定" }
        }
    }
}

pub(super) fn decision_text(d: &Option<crate::flags::DecisionView>) -> Markup {
    html! {
        @match d {
            Some(d) => {
                strong class=(if d.action == "exclude" { "short" } else { "ok" }) { (crate::messages::decision_action_text(&d.action)) }
                " · " (d.reason) " · " (d.actor) " · " (crate::store::beijing_time(&d.at))
            }
            None => { span.short { "待决定" } }
        }
    }
}

pub(super) fn render_flags(
    caller: &Caller,
    r: &RoundId,
    f: &crate::flags::RoundFlags,
    message: Option<&str>,
) -> Response {
    let zh = crate::messages::Lang::Zh;
    let shown = 200;
    page(
        &format!("{r} 质量标记"),
        Some(caller),
        html! {
            h1 { (r) " 轮质量标记" }
            p.summary.sticky {
                "待决定:访问员 " strong.short { (f.undecided_interviewers) } " 名,问卷 " strong.short { (f.undecided_questionnaires) } " 份"
                " · 读入问卷 " (f.questionnaires_read) " 份 · " a href={ "/rounds/" (r) } { "返回本轮" }
            }
            @if let Some(m) = message { p.error role="alert" { (m) } }
            p.hint { "未决定的标记不影响得分;剔除后,其问卷不计入下次计算的得分。每个决定须写明理由,记入日志。" }
            h2 { "访问员" }
            @if f.interviewers.is_empty() { p { "没有被标记的访问员。" } }
            @for i in &f.interviewers {
                section.flag #{ "interviewer-" (i.interviewer_id) } {
                    h3 { "访问员 " (i.interviewer_id) " · 问卷 " (i.questionnaires) " 份 · " (i.communities) " 个社区" }
                    p.evidence { (i.as_flag().reasons_text_in(zh)) }
                    @let sens = i.sensitivity.text(zh);
                    @if !sens.is_empty() { details.evidence { summary { "剔除的影响(各街道、各社区得分变化)" } p { (sens) } } }
                    p { "交付文件:" (i.deliveries.join("、")) }
                    p { "决定:" (decision_text(&i.decision)) }
                    (decision_form(caller, r, "interviewer", &i.interviewer_id))
                }
            }
            h2 { "问卷" }
            @if f.questionnaires.is_empty() { p { "没有被标记的问卷。" } }
            @if f.questionnaires.len() > shown { p.hint { "共 " (f.questionnaires.len()) " 份,此处列出前 " (shown) " 份(未决定的在前);全部见 manyi flags --round " (r) "。" } }
            @if !f.questionnaires.is_empty() {
                table.data #questionnaires {
                    thead { tr { th { "受访者" } th { "访问员" } th { "社区" } th { "文件 · 行" } th { "标记" } th { "决定" } th { "操作" } } }
                    tbody {
                        @for q in f.questionnaires.iter().take(shown) {
                            tr {
                                td { code { (q.respondent_id) } }
                                td { (q.interviewer_id.as_deref().unwrap_or("—")) }
                                td { (q.community_code) }
                                td { (q.file_name) " · " (q.line) }
                                td { (q.flags.iter().map(|c| crate::messages::questionnaire_flag_text(c)).collect::<Vec<_>>().join("、")) }
                                td { (decision_text(&q.decision)) }
                                td { (decision_form(caller, r, "respondent", &q.respondent_id)) }
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
            see_other(&format!("/rounds/{r}/flags"))
        }
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let ws = state.ws.clone();
            let fl = tryr!(blocking(move || crate::lifecycle::flags(&ws, &r)).await);
            let mut resp = render_flags(&caller, &r, &fl, Some(&e.message));
            *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            resp
        }
        Err(e) => refused(e),
    }
}
