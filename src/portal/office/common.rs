//! What several office pages share: the forms' hidden fields and job buttons, the
//! memoised counts (undecided flags, coverage) and the key they are kept under, a
//! round the office may see, a download's type.

use maud::{Markup, html};

use crate::accounts::Account;
use crate::portal::State;
use crate::portal::respond::Caller;
use crate::portal::respond::Refusal;
use crate::portal::respond::blocking;
use crate::round::RoundId;

pub(super) fn csrf_field(c: &Caller) -> Markup {
    html! { input type="hidden" name="csrf" value=(c.csrf); }
}

pub(super) fn job_button(c: &Caller, kind: &str, label: &str, text: &str) -> Markup {
    html! {
        form.inline method="post" action="/jobs" {
            (csrf_field(c))
            input type="hidden" name="kind" value=(kind);
            input type="hidden" name="label" value=(label);
            button.small type="submit" { (text) }
        }
    }
}

/// The undecided flags of `round` (`None` without active deliveries), counted once per
/// state of the store and shared by every page that shows it. When the store changed
/// since the last count, the last count is shown (marked as being updated) while one
/// new count runs in the background: readers never queue behind it.
pub async fn undecided(
    state: &State,
    key: &str,
    round: RoundId,
    active: bool,
) -> Result<Option<Undecided>, Refusal> {
    if !active {
        return Ok(None);
    }
    let key = key.to_string();
    let name = round.to_string();
    {
        let mut memo = state.undecided.lock().await;
        match memo.get_mut(&name) {
            Some(m) if m.key == key => {
                return Ok(Some(Undecided {
                    n: m.n,
                    stale: false,
                }));
            }
            Some(m) => {
                if !m.refreshing {
                    m.refreshing = true;
                    let st = state.clone();
                    tokio::spawn(async move {
                        let ws = st.ws.clone();
                        let n = blocking(move || {
                            crate::lifecycle::undecided(&ws, &round).map(|(i, q)| i + q)
                        })
                        .await;
                        let mut memo = st.undecided.lock().await;
                        if let Some(m) = memo.get_mut(&round.to_string()) {
                            m.refreshing = false;
                            match n {
                                Ok(n) => {
                                    m.n = n;
                                    m.key = key;
                                }
                                // The next page view tries again; the error is shown
                                // by the flags page itself.
                                Err(e) => eprintln!(
                                    "manyi serve: counting flags of {round}: {}",
                                    e.message
                                ),
                            }
                        }
                    });
                }
                return Ok(Some(Undecided {
                    n: m.n,
                    stale: true,
                }));
            }
            None => {}
        }
    }
    // The first count of the round: wait for it.
    let ws = state.ws.clone();
    let n = blocking(move || crate::lifecycle::undecided(&ws, &round).map(|(i, q)| i + q)).await?;
    state.undecided.lock().await.insert(
        name,
        crate::portal::FlagCount {
            key,
            n,
            refreshing: false,
        },
    );
    Ok(Some(Undecided { n, stale: false }))
}

/// What the memoised counts of a page depend on (`lifecycle::flags_key`), read once per
/// request.
pub async fn store_key(state: &State) -> Result<String, Refusal> {
    let ws = state.ws.clone();
    blocking(move || crate::lifecycle::flags_key(&ws)).await
}

/// A round's coverage over every organisation (the office's view), counted once per
/// state of the store; concurrent views wait for one count.
pub async fn coverage(
    state: &State,
    key: &str,
    round: RoundId,
) -> Result<std::sync::Arc<crate::lifecycle::Coverage>, Refusal> {
    if let Some((k, c)) = state.coverage.lock().await.get(&round.to_string())
        && k == key
    {
        return Ok(c.clone());
    }
    // Counted without holding the memo: a burst of views after a change may count twice,
    // but no view waits behind another's count.
    let ws = state.ws.clone();
    let c =
        std::sync::Arc::new(blocking(move || crate::lifecycle::coverage(&ws, &round, None)).await?);
    state
        .coverage
        .lock()
        .await
        .insert(round.to_string(), (key.to_string(), c.clone()));
    Ok(c)
}

/// A count of undecided flags as a page shows it.
#[derive(Debug, Clone, Copy)]
pub struct Undecided {
    pub n: usize,
    /// The store changed since it was counted; a new count is running.
    pub stale: bool,
}

pub(super) fn undecided_text(u: Undecided) -> Markup {
    html! { (u.n) @if u.stale { "（更新中）" } }
}

pub(super) fn staff_round(state: &State, who: &Account, round: &str) -> Result<RoundId, Refusal> {
    crate::portal::access::visible_round(state, who, round).map(|(r, _)| r)
}

/// A file download's type (for the results' files).
pub fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "csv" => "text/csv; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "pdf" => "application/pdf",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "md" => "text/markdown; charset=utf-8",
        _ => "application/octet-stream",
    }
}
