//! A street's own view (街道): its published rounds and periods, and in each its score
//! with CI and rank, its communities, its deductions with why each counted, its
//! indicators and points, and its charts. Everything comes from
//! `publish::street_view`/`street_charts`, which hold only the street's own rows (and
//! the district ranking when the rules show it); an unpublished period, another
//! street's code or a name that is not a chart answers as missing.

use axum::extract::{Path as UrlPath, State as AxState};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use maud::{PreEscaped, html};

use super::State;
use super::respond::Caller;
use super::respond::Refusal;
use super::respond::blocking;
use super::respond::tryr;
use super::respond::who;
use super::respond::{fmt1, page, refused};
use crate::accounts::{Account, Role};

fn own_street(a: &Account) -> Result<String, Refusal> {
    match (&a.role, &a.street) {
        (Role::Street, Some(s)) => Ok(s.clone()),
        _ => Err(Refusal::not_found()),
    }
}

/// The street's home page: its published rounds and periods, newest first.
pub async fn home(state: State, caller: Caller) -> Response {
    let a = who!(caller);
    let street = tryr!(own_street(&a));
    let ws = state.ws.clone();
    let code = street.clone();
    let (name, list, todo) = tryr!(
        blocking(move || {
            let frame = ws.frame()?;
            let name = frame
                .streets
                .get(&code)
                .map(|s| s.name.clone())
                .unwrap_or_else(|| code.clone());
            let mut list = crate::publish::publications(&ws)?;
            list.sort_by(|a, b| b.label.cmp(&a.label));
            let todo = crate::appeals::todo(&ws, Some(&code), &crate::appeals::now())?;
            Ok::<_, crate::error::Error>((name, list, todo))
        })
        .await
    );
    page(
        "本街道结果",
        Some(&caller),
        html! {
            h1 { (name) " · 测评与考核结果" }
            @if !todo.open_windows.is_empty() || !todo.to_rectify.is_empty() {
                section #todo {
                    h2 { "待办" }
                    ul {
                        @for w in &todo.open_windows {
                            li { a href={ "/street/" (w.period) "#deductions" } { (crate::messages::period_title(&w.period)) } " 的扣分可申诉，截止 " (crate::store::beijing_time(&w.deadline)) }
                        }
                        @for r in &todo.to_rectify {
                            li { a href={ "/street/" (r.period) "/ledger#row-" (r.id) } { (r.community_name) } "（" (crate::messages::period_title(&r.period)) "）整改："
                                (crate::appeals::ledger::status_text(&r.status)) @if !r.deadline.is_empty() { "，期限 " (r.deadline) } }
                        }
                    }
                }
            }
            @if list.is_empty() {
                p { "考核办发布测评结果后，本街道的得分、社区得分、扣分及其计算依据将显示在这里。" }
                p.hint { "目前还没有已发布的结果。" }
            } @else {
                table.data #published {
                    thead { tr { th { "期间" } th { "发布时间" } } }
                    tbody {
                        @for p in &list {
                            tr {
                                td { a href={ "/street/" (p.label) } { (crate::messages::period_title(&p.label)) } }
                                td { (crate::store::beijing_time(&p.time)) }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}

fn subject(label: &str) -> Result<crate::report::Subject, Refusal> {
    crate::publish::parse_subject(label).map_err(|_| Refusal::not_found())
}

/// The caller's own street and the round or period in the URL (anything else: 404).
fn street_and_subject(
    caller: &Caller,
    label: &str,
) -> Result<(String, crate::report::Subject), Response> {
    let a = caller.who()?;
    let street = own_street(a).map_err(refused)?;
    let s = subject(label).map_err(refused)?;
    Ok((street, s))
}

pub async fn period(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(label): UrlPath<String>,
) -> Response {
    let (street, s) = match street_and_subject(&caller, &label) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let ws = state.ws.clone();
    let (view, charts, appeals, window) = tryr!(
        blocking(move || {
            let v = crate::publish::street_view(&ws, &s, &street)?;
            let c = match &v {
                Some(_) => crate::publish::street_charts(&ws, &s, &street)?.unwrap_or_default(),
                None => Vec::new(),
            };
            let (appeals, window) = match (&v, s) {
                (Some(_), crate::report::Subject::Period(p)) => (
                    crate::appeals::list(&ws, Some(&p.to_string()), Some(&street))?,
                    crate::appeals::window(&ws, &p)?,
                ),
                _ => (Vec::new(), None),
            };
            Ok::<_, crate::error::Error>((v, c, appeals, window))
        })
        .await
    );
    let now = crate::appeals::now();
    let open = window.as_ref().is_some_and(|w| w.open_at(&now));
    let Some(v) = view else {
        return refused(Refusal::not_found());
    };
    let title = crate::messages::period_title(&v.label);
    let rules = match state.ws.rules() {
        Ok(r) => r,
        Err(e) => return refused(Refusal::from_error(e)),
    };
    let thr = rules.threshold.community_score;
    page(
        &format!("{} {title}", v.street_name),
        Some(&caller),
        html! {
            h1 { (v.street_name) " · " (title) }
            @if let Some(p) = &v.published {
                p.hint { "考核办于 " (crate::store::beijing_time(&p.time)) " 发布" @if p.version > 1 { "（第 " (p.version) " 版）" } "。" }
                @if let Some(n) = &p.note { p.notice role="status" { "本版更正：" (n) } }
            }
            @if window.is_some() {
                nav.tabs { a href="#deductions" { "扣分及依据" } " · " a href="#appeals" { "申诉" } " · " a href={ "/street/" (v.label) "/ledger" } { "整改台账" } }
            }
            dl.facts #summary {
                @if let Some(s) = &v.score {
                    dt { "满意度得分" } dd { strong { (fmt1(s.score)) } }
                    dt { "95% 置信区间" } dd { (crate::messages::ci_text(s.ci_low.zip(s.ci_high), s.df)) }
                    dt { "受访者" } dd { (s.n_respondents) " 人（测评社区 " (s.n_communities) " 个，抽中 " (s.n_sampled) " 个）" }
                }
                @if let Some(e) = &v.evaluation {
                    @if e.satisfaction_points.flatten().is_some() { dt { "满意度得分（折算）" } dd { (fmt1(e.satisfaction_points.flatten())) } }
                    @if e.task_points.flatten().is_some() { dt { "任务指标得分" } dd { (fmt1(e.task_points.flatten())) } }
                    @if e.h1_total.flatten().is_some() || e.h2_total.flatten().is_some() { dt { "上半年 / 下半年" } dd { (fmt1(e.h1_total.flatten())) " / " (fmt1(e.h2_total.flatten())) } }
                    dt { "合计" } dd { strong { (fmt1(e.total)) } }
                    @if !e.note.is_empty() { dt { "说明" } dd { (e.note) } }
                }
                @if let Some(d) = &v.deduction_total { dt { "扣分合计" } dd { strong.short { (fmt1(d.total)) } } }
                @if let Some((r, n)) = v.rank { dt { "名次" } dd { "第 " strong { (r) } " 名(共 " (n) " 个街道)" } }
            }
            @if !v.deductions.is_empty() {
                h2 { "扣分及依据" }
                p.hint { "社区满意度阈值 " (thr) " 分；判定方法：" (crate::messages::decision_text_in(rules.threshold.decision, crate::messages::Lang::Zh)) "。" }
                table.data #deductions {
                    thead { tr { th { "社区" } th.num { "得分" } th { "95% 置信区间" } th.num { "P（低于阈值）" } th.num { "扣分" } th { "依据" } @if window.is_some() { th { "申诉" } } } }
                    tbody {
                        @for d in &v.deductions {
                            tr class=(if d.row.counts() { "short" } else { "" }) {
                                td { (d.row.community_name) }
                                td.num { (fmt1(d.row.score)) }
                                td { (crate::messages::ci_text(d.row.ci_low.zip(d.row.ci_high), None)) }
                                td.num { @match d.row.p_below { Some(p) => { (format!("{p:.3}")) } None => { "—" } } }
                                td.num { @if d.row.counts() { (fmt1(d.row.points)) } @else { "0" } }
                                td { (d.why) }
                                @if window.is_some() {
                                    td { (super::appeals::line_action(&v.label, Some(&d.row.community_code), d.row.points.filter(|_| d.row.counts()).unwrap_or(0.0), &appeals, open)) }
                                }
                            }
                        }
                        @if let Some(t) = &v.deduction_total {
                            tr.total {
                                td { "街道合计" }
                                td.num { (fmt1(t.street_score)) }
                                td {} td.num {}
                                td.num { strong { (fmt1(t.total)) } }
                                td { "计入 " (t.counted) " 个社区，每个 " (rules.threshold.points_per_community) " 分，上限 " (rules.threshold.cap_per_street) " 分"
                                     @if t.street_below == Some(true) {
                                         "；街道得分低于 " (rules.threshold.street_score_below) "，"
                                         @if t.waived.is_empty() { "另扣 " (fmt1(t.street_points)) " 分" } @else { "经申诉 " (t.waived) " 复核维持，免扣街道层面扣分" }
                                     } }
                                @if window.is_some() {
                                    td { @if t.street_below == Some(true) { (super::appeals::line_action(&v.label, None, t.street_points.unwrap_or(0.0), &appeals, open)) } }
                                }
                            }
                        }
                    }
                }
            }
            @if window.is_some() { (super::appeals::street_appeals_section(&v.label, &appeals, window.as_ref(), &now)) }
            @if !v.communities.is_empty() {
                h2 { "各社区得分" }
                table.data #communities {
                    thead { tr { th { "轮次" } th { "社区" } th.num { "有效问卷" } th.num { "得分" } th { "95% 置信区间" } th.num { "满意率" } th { "状态" } } }
                    tbody {
                        @for c in &v.communities {
                            tr class=(if c.below_threshold == Some(true) { "short" } else { "" }) {
                                td { (c.round) }
                                td { (c.community_name) }
                                td.num { (c.n_valid) }
                                td.num { (fmt1(c.score)) }
                                td { (crate::messages::ci_text(c.ci_low.zip(c.ci_high), c.df)) }
                                td.num { @match c.satisfaction_rate { Some(r) => { (format!("{:.1}%", r * 100.0)) } None => { "—" } } }
                                td { (crate::messages::status_text_in(&c.status, crate::messages::Lang::Zh).unwrap_or(&c.status)) }
                            }
                        }
                    }
                }
            }
            @if !v.indicators.is_empty() {
                h2 { "任务指标" }
                table.data #indicators {
                    thead { tr { th { "指标" } th.num { "完成值" } th.num { "目标" } th.num { "得分" } } }
                    tbody {
                        @for i in &v.indicators {
                            tr { td { (i.name) } td.num { (crate::messages::cell_text(&i.value)) } td.num { (crate::messages::cell_text(&i.target)) } td.num { (crate::messages::cell_text(&i.points)) } }
                        }
                    }
                }
            }
            @if let Some(r) = &v.ranking {
                h2 { "全区排名" }
                table.data #ranking {
                    thead { tr { th.num { "名次" } th { "街道" } th.num { @if v.evaluation.is_some() { "合计" } @else { "满意度得分" } } } }
                    tbody {
                        @for l in r {
                            tr class=(if l.own { "own" } else { "" }) { td.num { (l.rank) } td { (l.street_name) } td.num { (fmt1(l.value)) } }
                        }
                    }
                }
            }
            @if !charts.is_empty() {
                h2 { "图表" }
                @for c in &charts {
                    figure {
                        (PreEscaped(&c.svg))
                        figcaption { a href={ "/street/" (v.label) "/charts/" (c.name) ".svg" } download { (c.name) ".svg" } }
                    }
                }
            }
            h2 { "下载" }
            ul.files {
                li { a href={ "/street/" (v.label) "/tables/communities.csv" } { "本街道社区得分（CSV）" } }
                @if !v.deductions.is_empty() { li { a href={ "/street/" (v.label) "/tables/deductions.csv" } { "本街道扣分表（CSV）" } } }
            }
        },
    )
    .into_response()
}

pub async fn chart(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath((label, name)): UrlPath<(String, String)>,
) -> Response {
    let (street, s) = match street_and_subject(&caller, &label) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(stem) = name.strip_suffix(".svg").map(str::to_string) else {
        return refused(Refusal::not_found());
    };
    let ws = state.ws.clone();
    let charts = tryr!(blocking(move || crate::publish::street_charts(&ws, &s, &street)).await);
    let Some(c) = charts.into_iter().flatten().find(|c| c.name == stem) else {
        return refused(Refusal::not_found());
    };
    let mut r = c.svg.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml"),
    );
    r
}

pub async fn table(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath((label, name)): UrlPath<(String, String)>,
) -> Response {
    let (street, s) = match street_and_subject(&caller, &label) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let ws = state.ws.clone();
    let n = name.clone();
    let bytes = tryr!(blocking(move || crate::publish::street_csv(&ws, &s, &street, &n)).await);
    let Some(bytes) = bytes else {
        return refused(Refusal::not_found());
    };
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{label}-{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}
