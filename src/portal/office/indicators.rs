//! The streets' task indicators: upload a period's file, checked like `evaluate`.

use axum::extract::State as AxState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use crate::portal::State;
use crate::portal::respond::Caller;
use crate::portal::respond::Refusal;
use crate::portal::respond::blocking;
use crate::portal::respond::write_turn;
use crate::portal::respond::{page, refused};
use crate::portal::respond::{tryr, who};

pub(super) fn indicator_page(state: &State, caller: &Caller, message: Option<Markup>) -> Response {
    let files = match crate::evaluate::indicator_file_names(&state.ws) {
        Ok(f) => f,
        Err(e) => return refused(Refusal::from_error(e)),
    };
    let action = format!("/indicators?csrf={}", caller.csrf);
    page(
        "任务指标",
        Some(caller),
        html! {
            h1 { "任务指标" }
            @if let Some(m) = message { (m) }
            p.hint { "各街道每季度（或半年）的任务指标文件：CSV（UTF-8 或 GBK）或 XLSX，列为 period, street_code, street_name, indicator, value。上传时按与命令行相同的规则检查，有错误的文件不会保存。" }
            form.upload method="post" action=(action) enctype="multipart/form-data" {
                label { "期间（如 2018Q1、2018H1）" input type="text" name="period" required; }
                input type="file" name="file" accept=".csv,.txt,.xlsx" required;
                button type="submit" { "上传指标" }
            }
            h2 { "已有的指标文件" }
            @if files.is_empty() { p { "还没有。" } }
            ul { @for f in &files { li { code { (f) } } } }
        },
    )
    .into_response()
}

pub async fn indicators(AxState(state): AxState<State>, caller: Caller) -> Response {
    let _ = who!(caller); // ok: the page needs a signed-in account, not which one
    indicator_page(&state, &caller, None)
}

pub async fn upload_indicators(
    AxState(state): AxState<State>,
    caller: Caller,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Response {
    let a = who!(caller);
    /// Most an indicators file may be (a few lines per street).
    const LIMIT: u64 = 2 << 20;
    let form =
        match crate::portal::upload::small_form(&headers, body, LIMIT, "indicators.csv").await {
            Ok(f) => f,
            Err(e) => return refused(e),
        };
    let period = form.fields.get("period").cloned();
    let file = form.file;
    let fail = |m: String| {
        let mut r = indicator_page(
            &state,
            &caller,
            Some(html! { p.error role="alert" { (m) } }),
        );
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        r
    };
    let Some(period) = period else {
        return fail("请填写期间".into());
    };
    let period: crate::round::Period = match period.parse() {
        Ok(p) => p,
        Err(e) => return fail(e.to_string()),
    };
    let Some((name, bytes)) = file else {
        return fail("请选择文件".into());
    };
    let _turn = tryr!(write_turn(&state).await);
    let ws = state.ws.clone();
    let dir = crate::portal::uploads_dir(&ws);
    let res = blocking(move || {
        let tmp = tempfile::Builder::new()
            .prefix("upload-")
            .tempfile_in(&dir)
            .map_err(|e| crate::error::Error::io(&dir, e))?;
        std::fs::write(tmp.path(), &bytes).map_err(|e| crate::error::Error::io(tmp.path(), e))?;
        crate::evaluate::import_indicators(&ws, &period, tmp.path(), &name, &a.name)
    })
    .await;
    match res {
        Ok(i) => indicator_page(
            &state,
            &caller,
            Some(
                html! { p.notice role="status" { "已保存 " code { (i.path) } ":" (i.values) " 个指标值" @if i.replaced { "（替换了原有文件）" } "。重新评价 " (i.period) " 后生效。" } },
            ),
        ),
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => fail(e.message),
        Err(e) => refused(e),
    }
}
