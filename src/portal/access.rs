//! Who may see which round and delivery: an evaluator its organisation's own, staff
//! everything, a street nothing here. Anything not the caller's answers as missing
//! (404), so ids cannot be probed.

use super::State;
use super::respond::Refusal;
use crate::accounts::{Account, Role};
use crate::round::RoundId;
use crate::store::DeliveryEntry;

/// The round in a URL, if the caller may see it: an evaluator only the rounds its
/// organisation is assigned (with that scope), staff every round the workspace knows.
/// Anything else answers as missing.
pub fn visible_round(
    state: &State,
    who: &Account,
    round: &str,
) -> Result<(RoundId, Option<crate::accounts::Assigned>), Refusal> {
    let r: RoundId = round.parse().map_err(|_| Refusal::not_found())?;
    if who.role == Role::Evaluator {
        let org = who.org.as_deref().ok_or_else(Refusal::not_found)?;
        let a = state
            .db()
            .and_then(|db| db.assigned(&r, org))
            .map_err(Refusal::from_error)?
            .ok_or_else(Refusal::not_found)?;
        return Ok((r, Some(a)));
    }
    if !who.role.is_staff() {
        return Err(Refusal::not_found());
    }
    let known = crate::lifecycle::rounds(&state.ws).map_err(Refusal::from_error)?;
    if !known.contains(&r) {
        return Err(Refusal::not_found());
    }
    Ok((r, None))
}

/// The delivery with this full id, if the caller may see it (its organisation's own, or
/// any for staff); anything else answers as missing.
pub fn visible_delivery(state: &State, who: &Account, id: &str) -> Result<DeliveryEntry, Refusal> {
    if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Refusal::not_found());
    }
    let id = id.to_ascii_lowercase();
    let index = crate::store::Store::new(&state.ws)
        .read_index()
        .map_err(Refusal::from_error)?;
    let d = index
        .deliveries
        .into_iter()
        .find(|d| d.sha256 == id)
        .ok_or_else(Refusal::not_found)?;
    let mine = match who.role {
        Role::Admin | Role::Office => true,
        Role::Evaluator => who.org.is_some() && d.evaluator == who.org,
        Role::Street => false,
    };
    if !mine {
        return Err(Refusal::not_found());
    }
    Ok(d)
}

/// The rounds the caller may see, newest first.
pub fn visible_rounds(state: &State, who: &Account) -> Result<Vec<RoundId>, Refusal> {
    match who.role {
        Role::Evaluator => match &who.org {
            Some(o) => state
                .db()
                .and_then(|db| db.rounds_of(o))
                .map_err(Refusal::from_error),
            None => Ok(Vec::new()),
        },
        Role::Admin | Role::Office => {
            crate::lifecycle::rounds(&state.ws).map_err(Refusal::from_error)
        }
        Role::Street => Ok(Vec::new()),
    }
}

/// The deliveries of `round` (or all) the caller may see.
/// With `count_flagged`, each row's flagged questionnaires are counted (the API's
/// answer; it reads every delivery's data), else left 0 (pages, which do not show it).
pub fn visible_deliveries(
    state: &State,
    who: &Account,
    round: Option<&RoundId>,
    count_flagged: bool,
) -> Result<Vec<crate::lifecycle::DeliveryRow>, Refusal> {
    let all = crate::lifecycle::delivery_rows(&state.ws, round, count_flagged)
        .map_err(Refusal::from_error)?;
    Ok(all
        .into_iter()
        .filter(|d| match who.role {
            Role::Admin | Role::Office => true,
            Role::Evaluator => who.org.is_some() && d.evaluator == who.org,
            Role::Street => false,
        })
        .collect())
}

/// A receipt's JSON as `who` may read it: an evaluator sees outcomes, not the
/// comparison's evidence (`ingest::receipt_for_evaluator`); staff see it whole.
pub fn receipt_for(
    state: &State,
    who: &Account,
    round: &str,
    receipt: serde_json::Value,
) -> Result<serde_json::Value, Refusal> {
    if who.role != Role::Evaluator {
        return Ok(receipt);
    }
    let index = crate::store::Store::new(&state.ws)
        .read_index()
        .map_err(Refusal::from_error)?;
    Ok(crate::ingest::receipt_for_evaluator(
        receipt,
        &index.decisions_in_force(round),
    ))
}
