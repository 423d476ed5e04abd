//! The JSON API (`/api/v1/…`): the evaluators' path for scripts, with the same
//! permissions as the pages. Errors are `{"code": …, "error": …}` with a stable code.

use axum::Json;
use axum::extract::{Multipart, Path as UrlPath, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::upload::Refusal;
use super::{Caller, State};

fn refused(r: Refusal) -> Response {
    super::guard::refuse(true, r.status, r.code, &r.message)
}

macro_rules! who {
    ($caller:expr) => {
        match $caller.who() {
            Ok(a) => a.clone(),
            Err(r) => return r,
        }
    };
}

pub async fn rounds(AxState(state): AxState<State>, caller: Caller) -> Response {
    let a = who!(caller);
    match super::pages::visible_rounds(&state, &a) {
        Ok(r) => Json(
            r.iter()
                .map(|r| {
                    serde_json::json!({
                        "round": r.to_string(),
                        "sample_drawn": state.ws.sample_path(r).is_file(),
                    })
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => refused(e),
    }
}

pub async fn coverage(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(round): UrlPath<String>,
) -> Response {
    let a = who!(caller);
    let (r, scope) = match super::pages::visible_round(&state, &a, &round) {
        Ok(x) => x,
        Err(e) => return refused(e),
    };
    match crate::lifecycle::coverage(&state.ws, &r, scope.as_ref()) {
        Ok(c) => Json(c).into_response(),
        Err(e) => refused(Refusal::from_error(e)),
    }
}

pub async fn deliveries(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(round): UrlPath<String>,
) -> Response {
    let a = who!(caller);
    let (r, _) = match super::pages::visible_round(&state, &a, &round) {
        Ok(x) => x,
        Err(e) => return refused(e),
    };
    match super::pages::visible_deliveries(&state, &a, Some(&r)) {
        Ok(d) => Json(d).into_response(),
        Err(e) => refused(e),
    }
}

/// 201 with the receipt (the JSON of `manyi ingest --json`); 200 when the same file
/// was stored before (its receipt, status `already-ingested`).
pub async fn upload(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(round): UrlPath<String>,
    headers: HeaderMap,
    mp: Multipart,
) -> Response {
    let a = who!(caller);
    let r = match super::pages::visible_round(&state, &a, &round) {
        Ok((r, _)) => r,
        Err(e) => return refused(e),
    };
    if let Err(e) = super::upload::check_length(&state, &headers) {
        return refused(e);
    }
    let got = match super::upload::receive(&state, mp).await {
        Ok(g) => g,
        Err(e) => return refused(e),
    };
    match super::upload::ingest(&state, &a, &r, got).await {
        Ok(u) => {
            let status = if u.outcome.receipt.status == crate::ingest::ReceiptStatus::Stored {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            (status, Json(u.outcome.receipt)).into_response()
        }
        Err(e) => refused(e),
    }
}

pub async fn delivery(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let a = who!(caller);
    let d = match super::pages::visible_delivery(&state, &a, &id) {
        Ok(d) => d,
        Err(e) => return refused(e),
    };
    let p = crate::store::Store::new(&state.ws).path(&d.receipt);
    let receipt: serde_json::Value = match crate::fsutil::read_text(&p)
        .map_err(Refusal::from_error)
        .and_then(|t| {
            serde_json::from_str(&t).map_err(|e| {
                Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
            })
        }) {
        Ok(v) => v,
        Err(e) => return refused(e),
    };
    Json(serde_json::json!({
        "id": d.sha256,
        "round": d.round,
        "file_name": d.file_name,
        "evaluator": d.evaluator,
        "status": d.status.code(),
        "status_change": d.status_change,
        "replaces": d.replaces,
        "receipt": receipt,
    }))
    .into_response()
}

pub async fn rejects(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let a = who!(caller);
    let d = match super::pages::visible_delivery(&state, &a, &id) {
        Ok(d) => d,
        Err(e) => return refused(e),
    };
    let p = crate::store::Store::new(&state.ws).path(&d.rejects);
    super::pages::stream_file(
        p,
        "text/csv; charset=utf-8",
        &super::pages::rejects_name(&d),
    )
    .await
}

#[derive(serde::Deserialize)]
pub struct WithdrawBody {
    reason: String,
}

pub async fn withdraw(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
    body: axum::body::Bytes,
) -> Response {
    let a = who!(caller);
    let b: WithdrawBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            // An unknown id answers 404 before the body is looked at.
            if let Err(r) = super::pages::visible_delivery(&state, &a, &id) {
                return refused(r);
            }
            return refused(Refusal::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "reason-required",
                format!("body must be JSON {{\"reason\": \"…\"}}: {e}"),
            ));
        }
    };
    match super::pages::withdraw_delivery(&state, &a, &id, &b.reason).await {
        Ok(d) => Json(serde_json::json!({
            "id": d.sha256,
            "status": d.status.code(),
            "status_change": d.status_change,
        }))
        .into_response(),
        Err(e) => refused(e),
    }
}
