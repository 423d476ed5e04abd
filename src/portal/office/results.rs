//! Results of a round or period: tables, charts, downloads; publishing to the streets.

use axum::extract::{Path as UrlPath, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{PreEscaped, html};

use super::common::*;
use crate::portal::State;
use crate::portal::respond::Caller;
use crate::portal::respond::Refusal;
use crate::portal::respond::blocking;
use crate::portal::respond::write_turn;
use crate::portal::respond::{fmt1, page, refused, see_other};
use crate::portal::respond::{tryr, who};
use crate::publish::{Results, parse_subject};
use crate::report::Subject;

pub(super) fn visible_subject(label: &str) -> Result<Subject, Refusal> {
    parse_subject(label).map_err(|_| Refusal::not_found())
}

pub async fn results(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(label): UrlPath<String>,
) -> Response {
    let _ = who!(caller); // ok: the page needs a signed-in account, not which one
    let s = tryr!(visible_subject(&label));
    let ws = state.ws.clone();
    let res = tryr!(blocking(move || crate::publish::results(&ws, &s)).await);
    if res.files.is_empty() {
        return refused(Refusal::not_found());
    }
    render_results(&caller, &s, &res, None)
}

/// An interval as every page shows it: cut at 0 and 100 with `*`, 不稳定 with few
/// degrees of freedom (`messages::ci_text`).
pub(super) fn ci(lo: Option<f64>, hi: Option<f64>, df: Option<f64>) -> String {
    crate::messages::ci_text(lo.zip(hi), df)
}

pub(super) fn p_text(p: Option<f64>) -> String {
    match p {
        Some(p) if p < 0.001 => "<0.001".into(),
        Some(p) => format!("{p:.3}"),
        None => "—".into(),
    }
}

pub(super) fn render_results(
    caller: &Caller,
    s: &Subject,
    res: &Results,
    message: Option<&str>,
) -> Response {
    let label = s.label();
    let title = crate::messages::period_title(&label);
    let mut streets = res.streets.clone();
    streets.sort_by(|a, b| {
        b.score
            .unwrap_or(f64::NEG_INFINITY)
            .total_cmp(&a.score.unwrap_or(f64::NEG_INFINITY))
    });
    let mut evaluation = res.evaluation.clone();
    evaluation.sort_by_key(|e| e.rank.unwrap_or(usize::MAX));
    page(
        &format!("{title} 结果"),
        Some(caller),
        html! {
            h1 { (title) " 结果" }
            @if let Some(m) = message { p.error role="alert" { (m) } }
            section.publish {
                @match &res.publication {
                    Some(p) => {
                        p.summary {
                            strong.ok { "已发布" } " · " (p.actor) " · " (crate::store::beijing_time(&p.time))
                            @if res.changed_since_publication { " · " strong.short { "结果在发布后已重新计算，街道看到的仍是发布时的版本" } }
                        }
                        form.row method="post" action={ "/results/" (label) "/unpublish" } {
                            (csrf_field(caller))
                            input type="text" name="reason" placeholder="撤回理由（必填）" required;
                            button.small type="submit" { "撤回发布" }
                        }
                    }
                    None => { p.summary { "未发布：街道尚看不到本期结果。" } }
                }
                form.inline method="post" action={ "/results/" (label) "/publish" } {
                    (csrf_field(caller))
                    button type="submit" { @if res.publication.is_some() { "重新发布当前结果" } @else { "发布给各街道" } }
                }
                " "
                (job_button(caller, "report", &label, "重新生成报告"))
            }
            @if !evaluation.is_empty() {
                h2 { "考核排名" }
                table.data #ranking {
                    thead { tr { th.num { "名次" } th { "街道" } th.num { "满意度" } th.num { "满意度得分" } th.num { "任务指标" } th.num { "上半年" } th.num { "下半年" } th.num { "合计" } th { "说明" } } }
                    tbody {
                        @for e in &evaluation {
                            tr {
                                td.num { (e.rank.map_or("—".into(), |r| r.to_string())) }
                                td { (e.street_name) }
                                td.num { (fmt1(e.satisfaction_score)) }
                                td.num { (fmt1(e.satisfaction_points.flatten())) }
                                td.num { (fmt1(e.task_points.flatten())) }
                                td.num { (fmt1(e.h1_total.flatten())) }
                                td.num { (fmt1(e.h2_total.flatten())) }
                                td.num { strong { (fmt1(e.total)) } }
                                td { (e.note) }
                            }
                        }
                    }
                }
            }
            @if !streets.is_empty() {
                h2 { "街道满意度" }
                table.data #streets {
                    thead { tr { th { "街道" } th.num { "得分" } th { "95% 置信区间" } th.num { "受访者" } th.num { "社区（测/抽）" } th.num { "低于阈值的社区" } th.num { "P（低于阈值）" } } }
                    tbody {
                        @for t in &streets {
                            tr {
                                td { (t.street_name) }
                                td.num { (fmt1(t.score)) }
                                td { (ci(t.ci_low, t.ci_high, t.df)) }
                                td.num { (t.n_respondents) }
                                td.num { (t.n_communities) "/" (t.n_sampled) }
                                td.num { (t.communities_below) }
                                td.num { (p_text(t.p_below)) }
                            }
                        }
                    }
                }
            }
            @if !res.deductions.is_empty() {
                h2 { "扣分表" }
                p.hint { "置信区间超出 0–100 的部分截断并标 *；自由度很小的区间标“不稳定”。" }
                table.data #deductions {
                    thead { tr { th { "街道" } th { "社区" } th.num { "得分" } th { "95% 置信区间" } th.num { "P（低于阈值）" } th { "计入" } th.num { "扣分" } } }
                    tbody {
                        @for d in &res.deductions {
                            @if d.row_type == "street" {
                                tr.total { td { (d.street_name) } td { "合计(计入 " (d.counted) " 个)" } td.num { (fmt1(d.street_score)) } td {} td.num {} td {} td.num { strong { (fmt1(d.total)) } } }
                            } @else {
                                tr class=(if d.counts() { "short" } else { "" }) {
                                    td { (d.street_name) }
                                    td { (d.community_name) }
                                    td.num { (fmt1(d.score)) }
                                    td { (ci(d.ci_low, d.ci_high, None)) }
                                    td.num { (p_text(d.p_below)) }
                                    td { @if d.counts() { "计入" } @else { "不计入" } }
                                    td.num { (fmt1(d.points)) }
                                }
                            }
                        }
                    }
                }
            }
            @if !res.charts.is_empty() {
                h2 { "图表" }
                // The engine's own SVG (plotters escapes every text it draws), inline so
                // that the page's embedded font draws its Chinese.
                @for (name, svg) in &res.charts {
                    figure {
                        (PreEscaped(svg))
                        figcaption { a href={ "/results/" (label) "/files/" (name) } download { (crate::publish::file_label(name).0) } }
                    }
                }
            }
            h2 { "下载" }
            @let labelled: Vec<(String, &String, bool)> = res.files.iter().map(|f| { let (l, p) = crate::publish::file_label(f); (l, f, p) }).collect();
            p { "给人看的：" }
            ul.files {
                @for (l, f, _) in labelled.iter().filter(|x| x.2) {
                    li { a href={ "/results/" (label) "/files/" (f) } download { (l) } }
                }
            }
            p { "给程序用的数据：" }
            ul.files {
                @for (l, f, _) in labelled.iter().filter(|x| !x.2) {
                    li { a href={ "/results/" (label) "/files/" (f) } download { (l) } }
                }
            }
        },
    )
    .into_response()
}

pub async fn result_file(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath((label, name)): UrlPath<(String, String)>,
) -> Response {
    let _ = who!(caller); // ok: the page needs a signed-in account, not which one
    let s = tryr!(visible_subject(&label));
    if !crate::publish::downloadable(&name) {
        return refused(Refusal::not_found());
    }
    let path = state.ws.reports_dir().join(s.label()).join(&name);
    if !path.is_file() {
        return refused(Refusal::not_found());
    }
    crate::portal::respond::stream_file(path, content_type(&name), &name).await
}

/// Publishing asks first: without `confirm=yes` the answer is a page saying what
/// will happen (streets, undecided flags, a publication replaced) with the button
/// that does it.
#[derive(serde::Deserialize, Default)]
pub struct ConfirmForm {
    #[serde(default)]
    confirm: Option<String>,
}

pub async fn publish(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(label): UrlPath<String>,
    axum::Form(form): axum::Form<ConfirmForm>,
) -> Response {
    let a = who!(caller);
    let s = tryr!(visible_subject(&label));
    if form.confirm.as_deref() != Some("yes") {
        let ws = state.ws.clone();
        let pv = match blocking(move || crate::publish::preview(&ws, &s)).await {
            Ok(p) => p,
            Err(e) => return results_with_message(&state, &caller, &s, e).await,
        };
        return page(
            &format!("确认发布 {label}"),
            Some(&caller),
            html! {
                h1 { "确认发布" }
                p.summary { (pv.text()) }
                form.inline method="post" action={ "/results/" (label) "/publish" } {
                    (csrf_field(&caller))
                    input type="hidden" name="confirm" value="yes";
                    button type="submit" { "确认发布" }
                }
                " "
                a.button.secondary href={ "/results/" (label) } { "取消" }
            },
        )
        .into_response();
    }
    let _turn = tryr!(write_turn(&state).await);
    let ws = state.ws.clone();
    match blocking(move || crate::publish::publish(&ws, &s, &a.name)).await {
        Ok(_) => see_other(&format!("/results/{}", s.label())),
        Err(e) => results_with_message(&state, &caller, &s, e).await,
    }
}

#[derive(serde::Deserialize)]
pub struct ReasonForm {
    reason: String,
}

pub async fn unpublish(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(label): UrlPath<String>,
    axum::Form(f): axum::Form<ReasonForm>,
) -> Response {
    let a = who!(caller);
    let s = tryr!(visible_subject(&label));
    let _turn = tryr!(write_turn(&state).await);
    let ws = state.ws.clone();
    match blocking(move || crate::publish::unpublish(&ws, &s, &f.reason, &a.name)).await {
        Ok(_) => see_other(&format!("/results/{}", s.label())),
        Err(e) => results_with_message(&state, &caller, &s, e).await,
    }
}

pub(super) async fn results_with_message(
    state: &State,
    caller: &Caller,
    s: &Subject,
    e: Refusal,
) -> Response {
    if e.status != StatusCode::UNPROCESSABLE_ENTITY {
        return refused(e);
    }
    let ws = state.ws.clone();
    let s2 = *s;
    let res = tryr!(blocking(move || crate::publish::results(&ws, &s2)).await);
    let mut r = render_results(caller, s, &res, Some(&e.message));
    *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    r
}
