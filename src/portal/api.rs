//! The JSON API (`/api/v1/…`): the evaluators' path for scripts, with the same
//! permissions as the pages. Errors are `{"code": …, "error": …}` with a stable code.

use axum::Json;
use axum::extract::{Path as UrlPath, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::State;
use super::respond::Caller;
use super::respond::Refusal;
use super::respond::who;

fn refused(r: Refusal) -> Response {
    super::respond::refuse(true, r.status, r.code, &r.message)
}

pub async fn rounds(AxState(state): AxState<State>, caller: Caller) -> Response {
    let a = who!(caller);
    match super::access::visible_rounds(&state, &a) {
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
    let (r, scope) = match super::access::visible_round(&state, &a, &round) {
        Ok(x) => x,
        Err(e) => return refused(e),
    };
    match crate::lifecycle::coverage(&state.ws, &r, scope.as_ref()) {
        Ok(c) => Json(c).into_response(),
        Err(e) => refused(Refusal::from_error(e)),
    }
}

/// `GET /api/v1/rounds/{round}/callbacks` (office and admin): the round's callbacks
/// per interviewer, as `manyi callbacks --round R --json` (no phone numbers).
pub async fn callbacks(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(round): UrlPath<String>,
) -> Response {
    let a = who!(caller);
    let (r, _) = match super::access::visible_round(&state, &a, &round) {
        Ok(x) => x,
        Err(e) => return refused(e),
    };
    let ws = state.ws.clone();
    match super::respond::blocking(move || crate::callbacks::round(&ws, &r)).await {
        Ok(c) => Json(c).into_response(),
        Err(e) => refused(e),
    }
}

pub async fn deliveries(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(round): UrlPath<String>,
) -> Response {
    let a = who!(caller);
    let (r, _) = match super::access::visible_round(&state, &a, &round) {
        Ok(x) => x,
        Err(e) => return refused(e),
    };
    match super::access::visible_deliveries(&state, &a, Some(&r), true) {
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
    body: axum::body::Body,
) -> Response {
    let a = who!(caller);
    let r = match super::access::visible_round(&state, &a, &round) {
        Ok((r, _)) => r,
        Err(e) => return refused(e),
    };
    if let Err(e) = super::upload::check_length(&state, &headers) {
        return refused(e);
    }
    let got = match super::upload::receive(&state, &headers, body).await {
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
            let json = match serde_json::to_value(&u.outcome.receipt) {
                Ok(v) => v,
                Err(e) => return refused(Refusal::internal(&e.to_string())),
            };
            match super::access::receipt_for(&state, &a, &r.to_string(), json) {
                Ok(v) => (status, Json(v)).into_response(),
                Err(e) => refused(e),
            }
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
    let d = match super::access::visible_delivery(&state, &a, &id) {
        Ok(d) => d,
        Err(e) => return refused(e),
    };
    let p = crate::store::Store::new(&state.ws).path(&d.receipt);
    let receipt: serde_json::Value = match crate::fsutil::read_text(&p)
        .map_err(Refusal::from_error)
        .and_then(|t| serde_json::from_str(&t).map_err(|e| Refusal::internal(&e.to_string())))
    {
        Ok(v) => v,
        Err(e) => return refused(e),
    };
    let receipt = match super::access::receipt_for(&state, &a, &d.round, receipt) {
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
    let d = match super::access::visible_delivery(&state, &a, &id) {
        Ok(d) => d,
        Err(e) => return refused(e),
    };
    let p = crate::store::Store::new(&state.ws).path(&d.rejects);
    super::respond::stream_file(
        p,
        "text/csv; charset=utf-8",
        &super::parts::rejects_name(&d),
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
            if let Err(r) = super::access::visible_delivery(&state, &a, &id) {
                return refused(r);
            }
            return refused(Refusal::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "reason-required",
                format!("body must be JSON {{\"reason\": \"…\"}}: {e}"),
            ));
        }
    };
    match super::upload::withdraw_delivery(&state, &a, &id, &b.reason).await {
        Ok(d) => Json(serde_json::json!({
            "id": d.sha256,
            "status": d.status.code(),
            "status_change": d.status_change,
        }))
        .into_response(),
        Err(e) => refused(e),
    }
}

// ---------------------------------------------------------------- the office's jobs

fn queue(state: &State, a: &crate::accounts::Account, task: crate::jobs::Task) -> Response {
    match state.jobs.submit(task, &a.name) {
        Ok(id) => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({"job": id, "status": "queued"})),
        )
            .into_response(),
        Err(e) => refused(Refusal::from_error(e)),
    }
}

fn task(kind: &str, label: &str) -> Result<crate::jobs::Task, Response> {
    crate::jobs::Task::parse(kind, label).map_err(|_| refused(Refusal::not_found()))
}

/// Queues the job `kind` on `label` for the caller: 202 `{"job": ID}`; a label that is
/// not a round or period of that job answers 404.
async fn submit(state: State, caller: Caller, kind: &str, label: &str) -> Response {
    let a = who!(caller);
    match task(kind, label) {
        Ok(t) => queue(&state, &a, t),
        Err(r) => r,
    }
}

/// `POST /api/v1/rounds/{round}/score`.
pub async fn score(
    st: AxState<State>,
    caller: Caller,
    UrlPath(round): UrlPath<String>,
) -> Response {
    submit(st.0, caller, "score", &round).await
}

/// `POST /api/v1/periods/{period}/evaluate`.
pub async fn evaluate(st: AxState<State>, caller: Caller, UrlPath(p): UrlPath<String>) -> Response {
    submit(st.0, caller, "evaluate", &p).await
}

/// `POST /api/v1/periods/{period}/report` (a period or a round).
pub async fn report(st: AxState<State>, caller: Caller, UrlPath(p): UrlPath<String>) -> Response {
    submit(st.0, caller, "report", &p).await
}

pub async fn jobs(AxState(state): AxState<State>, caller: Caller) -> Response {
    let _ = who!(caller); // ok: the page needs a signed-in account, not which one
    Json(state.jobs.list()).into_response()
}

pub async fn job(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let _ = who!(caller); // ok: the page needs a signed-in account, not which one
    match id.parse().ok().and_then(|id| state.jobs.get(id)) {
        Some(j) => Json(j).into_response(),
        None => refused(Refusal::not_found()),
    }
}

/// `POST /api/v1/periods/{period}/publish` (a period or a round): 200 with the
/// publication.
pub async fn publish(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(period): UrlPath<String>,
) -> Response {
    let a = who!(caller);
    let Ok(s) = crate::publish::parse_subject(&period) else {
        return refused(Refusal::not_found());
    };
    let _turn = match super::respond::write_turn(&state).await {
        Ok(t) => t,
        Err(e) => return refused(e),
    };
    let ws = state.ws.clone();
    match super::respond::blocking(move || {
        crate::publish::publish(&ws, &s, &a.name)?;
        crate::publish::publication(&ws, &s)
    })
    .await
    {
        Ok(p) => Json(p).into_response(),
        Err(e) => refused(e),
    }
}

#[derive(serde::Deserialize)]
pub struct PeriodQuery {
    period: Option<String>,
}

/// `GET /api/v1/streets/{code}/scores?period=…`: a street account its own street's
/// published rows; the office any street's rows as they are now.
pub async fn street_scores(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(code): UrlPath<String>,
    axum::extract::Query(q): axum::extract::Query<PeriodQuery>,
) -> Response {
    let a = who!(caller);
    let street_account = a.role == crate::accounts::Role::Street;
    if street_account && a.street.as_deref() != Some(code.as_str()) {
        return refused(Refusal::not_found());
    }
    let Some(period) = q.period else {
        return refused(Refusal::new(
            StatusCode::BAD_REQUEST,
            "period-required",
            "give ?period=2018 (or 2018H1, 2018Q2, 2018-R1)",
        ));
    };
    let Ok(s) = crate::publish::parse_subject(&period) else {
        return refused(Refusal::not_found());
    };
    let ws = state.ws.clone();
    match super::respond::blocking(move || {
        crate::publish::street_rows(&ws, &s, &code, street_account)
    })
    .await
    {
        Ok(Some(v)) => Json(v).into_response(),
        Ok(None) => refused(Refusal::not_found()),
        Err(e) => refused(e),
    }
}
