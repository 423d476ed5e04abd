//! Score, evaluate and report as background jobs: the queue, one job's progress.

use axum::extract::{Path as UrlPath, State as AxState};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use crate::portal::State;
use crate::portal::respond::Caller;
use crate::portal::respond::Refusal;
use crate::portal::respond::{page, refused, see_other};
use crate::portal::respond::{tryr, who};

pub(super) fn job_rows(jobs: &[crate::jobs::Job]) -> Markup {
    html! {
        table.data #jobs {
            thead { tr { th { "编号" } th { "任务" } th { "状态" } th { "进度" } th { "提交人" } th { "提交时间" } } }
            tbody {
                @for j in jobs {
                    tr class=(match j.status { crate::jobs::Status::Failed => "short", crate::jobs::Status::Done => "ok", _ => "" }) {
                        td { a href={ "/jobs/" (j.id) } { (j.id) } }
                        td { (j.title) }
                        td {
                            (j.status.text())
                            @if let Some(p) = j.position { "(第 " (p) " 位)" }
                        }
                        td { (format!("{:.0}%", j.progress * 100.0)) " " (j.step) }
                        td { (j.actor) }
                        td { (crate::store::beijing_time(&j.submitted)) }
                    }
                }
            }
        }
    }
}

pub async fn jobs(AxState(state): AxState<State>, caller: Caller) -> Response {
    let _ = who!(caller); // ok: the page needs a signed-in account, not which one
    let list = state.jobs.list();
    page(
        "任务",
        Some(&caller),
        html! {
            h1 { "任务" }
            p.hint { "计算得分、考核评价与生成报告在后台依次运行（同一时间只运行一个，其余排队）。" }
            @if list.is_empty() { p { "还没有任务。" } } @else { (job_rows(&list)) }
        },
    )
    .into_response()
}

#[derive(serde::Deserialize)]
pub struct JobForm {
    kind: String,
    label: String,
}

pub async fn submit_job(
    AxState(state): AxState<State>,
    caller: Caller,
    axum::Form(f): axum::Form<JobForm>,
) -> Response {
    let a = who!(caller);
    let task = tryr!(crate::jobs::Task::parse(&f.kind, &f.label).map_err(Refusal::from_error));
    let id = tryr!(
        state
            .jobs
            .submit(task, &a.name)
            .map_err(Refusal::from_error)
    );
    see_other(&format!("/jobs/{id}"))
}

pub async fn job(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let _ = who!(caller); // ok: the page needs a signed-in account, not which one
    let Some(j) = id.parse().ok().and_then(|id| state.jobs.get(id)) else {
        return refused(Refusal::not_found());
    };
    let running = matches!(
        j.status,
        crate::jobs::Status::Queued | crate::jobs::Status::Running
    );
    let mut r = page(
        &format!("任务 {}", j.id),
        Some(&caller),
        html! {
            h1 { "任务 " (j.id) ":" (j.title) }
            p.summary {
                "状态：" strong { (j.status.text()) }
                @if let Some(p) = j.position { "(排在第 " (p) " 位)" }
                " · " (j.step)
            }
            progress max="100" value=(format!("{:.0}", j.progress * 100.0)) {}
            @if running { p.hint { "本页每 2 秒自动刷新。" } }
            @if let Some(e) = &j.error { p.error role="alert" { (e) } }
            @if j.status == crate::jobs::Status::Done {
                p { a href={ "/results/" (j.label) } { "查看结果" } }
                details { summary { "写入的文件(" (j.files.len()) ")" } ul { @for f in &j.files { li { code { (f) } } } } }
            }
            p { a href="/jobs" { "全部任务" } " · " a href="/desk" { "返回工作台" } }
        },
    )
    .into_response();
    if running {
        r.headers_mut()
            .insert("refresh", HeaderValue::from_static("2"));
    }
    r
}
