//! A round's callbacks for the office: draw a batch (asked first), download the call
//! lists (journalled: they hold phone numbers), upload the callers' results, and the
//! per-interviewer table with what it means.

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
use crate::portal::respond::{page, refused, stream_file};
use crate::portal::respond::{tryr, who};
use crate::round::RoundId;

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// The page, with `message` on top (a notice or an error).
async fn callbacks_page(
    state: &State,
    caller: &Caller,
    r: RoundId,
    message: Option<Markup>,
    status: StatusCode,
) -> Response {
    let ws = state.ws.clone();
    let c = tryr!(blocking(move || crate::callbacks::round(&ws, &r)).await);
    let draw_action = format!("/rounds/{r}/callbacks/draw");
    let upload_action = format!("/rounds/{r}/callbacks/results?csrf={}", caller.csrf);
    let mut resp = page(
        &format!("{r} 轮回访"),
        Some(caller),
        html! {
            p.crumbs { a href=(format!("/rounds/{r}")) { "← " (r) " 轮" } " · " a href=(format!("/rounds/{r}/flags")) { "质量标记" } }
            h1 { (r) " 轮回访核实" }
            @if let Some(m) = message { (m) }
            p.hint { "抽取部分受访者电话回访，核实访问是否真实发生，并复问一两道题。每名访问员都会抽到；统计上异常的访问员多抽；核实失败的再追加。回访名单含受访者电话，只供回访使用，每次下载都记入日志。" }
            @if c.batches.is_empty() {
                p { "本轮尚未抽取回访。" }
            } @else {
                p {
                    "共 " (c.batches.len()) " 个批次，抽取 " (c.drawn) " 份（预算 " (c.budget) " 份，占全轮 "
                    (c.round_questionnaires) " 份问卷的 " (pct(if c.round_questionnaires > 0 { c.budget as f64 / c.round_questionnaires as f64 } else { 0.0 })) "）；已有结果 "
                    (c.called) " 份，接通核实 " (c.reached) " 份。"
                }
                h2 { "回访名单" }
                table.data {
                    thead { tr { th { "批次" } th { "抽取时间" } th { "份数" } th { "名单" } } }
                    tbody {
                        @for b in &c.batches {
                            tr {
                                td { (b.batch) }
                                td { (crate::store::beijing_time(&b.drawn_at)) }
                                td.num { (b.drawn) }
                                td {
                                    a href=(format!("/rounds/{r}/callbacks/{}.xlsx", b.batch)) { "Excel 名单" }
                                    " · "
                                    a href=(format!("/rounds/{r}/callbacks/{}.csv", b.batch)) { "CSV 名单" }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "抽取回访批次" }
            form method="post" action=(draw_action) {
                (csrf_field(caller))
                label { "随机种子（可留空，系统随机生成并记录；公开抽签时填写抽签结果）" input type="text" name="seed"; }
                button type="submit" { "抽取下一批" }
            }
            h2 { "导入回访结果" }
            form.upload method="post" action=(upload_action) enctype="multipart/form-data" {
                p.hint { "上传填好的回访名单（Excel 或 CSV）：每行填写“回访结果”（已核实、否认受访、无法接通、拒访、空号错号），以及复问题目的回答。未拨打的行留空即可，以后再导入。" }
                input type="file" name="file" accept=".csv,.txt,.xlsx" required;
                button type="submit" { "导入结果" }
            }
            @if !c.interviewers.is_empty() {
                h2 { "各访问员的回访" }
                div.scroll {
                table.data {
                    thead { tr {
                        th { "访问员" } th { "抽取" } th { "已回访" } th { "接通核实" } th { "确认" } th { "否认" } th { "空号错号" }
                        th { "核实失败比例（95% 区间）" } th { "复问一致" } th { "结论" }
                    } }
                    tbody {
                        @for e in &c.interviewers {
                            tr {
                                td { (e.interviewer_id) }
                                td.num { (e.drawn) }
                                td.num { (e.called) }
                                td.num { (e.reached) }
                                td.num { (e.confirmed) }
                                td.num { (e.denied) }
                                td.num { (e.wrong_numbers) }
                                td { @match (e.failure_share, e.interval) {
                                    (Some(s), Some((lo, hi))) => { (pct(s)) "（" (pct(lo)) "–" (pct(hi)) "）" }
                                    _ => { "—" }
                                } }
                                td { @if e.reasked > 0 { (e.agreed) " / " (e.reasked) } @else { "—" } }
                                td { @if e.flagged() { strong { (e.standing.map_or("", |s| s.text_zh())) } } @else { (e.standing.map_or("", |s| s.text_zh())) } }
                            }
                        }
                    }
                }
                }
                @for e in c.interviewers.iter().filter(|e| e.flagged()) {
                    p.evidence { strong { (e.interviewer_id) "：" } (e.words) "。请在" a href=(format!("/rounds/{r}/flags")) { "质量标记" } "页作出决定。" }
                }
            }
        },
    )
    .into_response();
    *resp.status_mut() = status;
    resp
}

pub async fn callbacks(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(round): UrlPath<String>,
) -> Response {
    let a = who!(caller);
    let r = tryr!(staff_round(&state, &a, &round));
    callbacks_page(&state, &caller, r, None, StatusCode::OK).await
}

#[derive(serde::Deserialize, Default)]
pub struct DrawForm {
    #[serde(default)]
    seed: Option<String>,
    #[serde(default)]
    confirm: Option<String>,
}

/// Drawing asks first (it cannot be undone: the batch is journalled and its list
/// written); `confirm=yes` draws.
pub async fn draw_callbacks(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(round): UrlPath<String>,
    axum::Form(f): axum::Form<DrawForm>,
) -> Response {
    let a = who!(caller);
    let r = tryr!(staff_round(&state, &a, &round));
    let seed = f.seed.clone().filter(|s| !s.trim().is_empty());
    if f.confirm.as_deref() != Some("yes") {
        return page(
            "确认抽取回访",
            Some(&caller),
            html! {
                h1 { "确认抽取 " (r) " 轮的回访批次" }
                p { "将按回访设计为每名需要回访的访问员抽取问卷，写出含受访者电话的回访名单，并记入日志。抽取后不能撤销；已核实完毕的访问员不会再抽。" }
                p { "随机种子：" @if let Some(s) = &seed { code { (s) } } @else { "由系统随机生成并记录" } }
                form method="post" action=(format!("/rounds/{r}/callbacks/draw")) {
                    (csrf_field(&caller))
                    input type="hidden" name="seed" value=(seed.clone().unwrap_or_default());
                    input type="hidden" name="confirm" value="yes";
                    button type="submit" { "确认抽取" }
                    " "
                    a.button.secondary href=(format!("/rounds/{r}/callbacks")) { "取消" }
                }
            },
        )
        .into_response();
    }
    let _turn = tryr!(write_turn(&state).await);
    let ws = state.ws.clone();
    let res =
        blocking(move || crate::lifecycle::draw_callbacks(&ws, &r, seed.as_deref(), &a.name)).await;
    let msg = match res {
        Ok(d) => match &d.batch {
            None => html! { p.notice role="status" { "没有访问员需要更多回访，本次未抽取。" } },
            Some(b) => html! { p.notice role="status" {
                "已抽取批次 " (b) "：" (d.drawn) " 份问卷，涉及 " (d.interviewers) " 名访问员。"
                @if d.short > 0 { "预算不足，按设计还差 " (d.short) " 份未抽取。" }
            } },
        },
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            html! { p.error role="alert" { (e.message) } }
        }
        Err(e) => return refused(e),
    };
    callbacks_page(&state, &caller, r, Some(msg), StatusCode::OK).await
}

/// A call list, journalled before the first byte leaves (it holds phone numbers).
pub async fn list(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath((round, name)): UrlPath<(String, String)>,
) -> Response {
    let a = who!(caller);
    let r = tryr!(staff_round(&state, &a, &round));
    let Some((batch, ext)) = name.rsplit_once('.') else {
        return refused(Refusal::not_found());
    };
    let ok_batch =
        batch.len() > 1 && batch.starts_with('C') && batch[1..].bytes().all(|b| b.is_ascii_digit());
    if !ok_batch || !matches!(ext, "csv" | "xlsx") {
        return refused(Refusal::not_found());
    }
    let path = crate::callbacks::list_path(&state.ws, &r, batch, ext);
    if !path.is_file() {
        return refused(Refusal::not_found());
    }
    let st = state.clone();
    let (who, round_s, file) = (a.name.clone(), r.to_string(), name.clone());
    let logged = blocking(move || st.db()?.journal_callback_list(&who, &round_s, &file)).await;
    if let Err(e) = logged {
        return refused(e);
    }
    let download = format!("{r}-回访名单-{name}");
    stream_file(path, content_type(&name), &download).await
}

/// The callers' results, uploaded.
pub async fn upload_results(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(round): UrlPath<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Response {
    let a = who!(caller);
    let r = tryr!(staff_round(&state, &a, &round));
    /// Most a results file may be (a row per call).
    const LIMIT: u64 = 8 << 20;
    let file = match crate::portal::upload::small_form(&headers, body, LIMIT, "回访结果.csv").await
    {
        Ok(f) => f.file,
        Err(e) => return refused(e),
    };
    let Some((name, bytes)) = file else {
        let m = html! { p.error role="alert" { "请选择文件" } };
        return callbacks_page(
            &state,
            &caller,
            r,
            Some(m),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let _turn = tryr!(write_turn(&state).await);
    let ws = state.ws.clone();
    let dir = crate::portal::uploads_dir(&ws);
    let shown = name.clone();
    let res = blocking(move || {
        let tmp = tempfile::Builder::new()
            .prefix("upload-")
            .tempfile_in(&dir)
            .map_err(|e| crate::error::Error::io(&dir, e))?;
        std::fs::write(tmp.path(), &bytes).map_err(|e| crate::error::Error::io(tmp.path(), e))?;
        crate::callbacks::record(&ws, &r, tmp.path(), &name, &a.name)
    })
    .await;
    let (msg, status) = match res {
        Ok(o) if o.status == "already-recorded" => (
            html! { p.notice role="status" { (shown) " 已导入过，未作任何更改。" } },
            StatusCode::OK,
        ),
        Ok(o) => (
            html! {
                @if o.rejected == 0 {
                    p.notice role="status" { (shown) "：导入 " (o.accepted) " 条结果，" (o.unchanged) " 条与已记录相同，" (o.not_called) " 行尚未拨打。" }
                } @else {
                    div.error role="alert" {
                        p { (shown) "：导入 " (o.accepted) " 条结果，" (o.rejected) " 行未导入，请改正后重新上传这些行：" }
                        ul { @for j in &o.rejects { li { "第 " (j.line) " 行 " (j.respondent_id) "：" (j.reason) @if !j.value.is_empty() { "（" (j.column) "：" (j.value) "）" } } } }
                    }
                }
            },
            if o.rejected == 0 {
                StatusCode::OK
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            },
        ),
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => (
            html! { p.error role="alert" { (e.message) } },
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(e) => return refused(e),
    };
    callbacks_page(&state, &caller, r, Some(msg), status).await
}
