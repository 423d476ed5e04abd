//! `manyi journal`: who did what, when, and why.

use std::process::ExitCode;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use super::stdout_line;
use crate::error::{Error, Result};
use crate::messages::t;
use crate::workspace::Workspace;

/// Show the journal: every change of state with time (UTC), actor, action, ids and
/// reason. --json prints the entries in full (with the files' hashes).
///
/// Example: manyi journal --round 2018-R2
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only entries about this round or period.
    #[arg(long)]
    round: Option<String>,
    #[arg(long)]
    json: bool,
}

pub fn run(ws: &Workspace, a: Args) -> Result<ExitCode> {
    // Account events a running portal recorded but has not appended yet (it appends
    // them when the store is free): appended now, so the listing is complete.
    crate::journal::flush(&crate::store::Store::new(ws), &super::actor())?;
    let entries = crate::lifecycle::journal(ws, a.round.as_deref())?;
    if a.json {
        stdout_line(
            &serde_json::to_string_pretty(&entries).map_err(|e| Error::Invalid(e.to_string()))?,
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut tb = Table::new();
    tb.load_style(UTF8_FULL_CONDENSED);
    tb.set_header([
        "#",
        t("时间 (UTC)", "time (UTC)"),
        t("操作人", "actor"),
        t("操作", "action"),
        t("轮次/期间", "round"),
        t("对象", "ids"),
        t("理由", "reason"),
    ]);
    for e in &entries {
        let mut ids: Vec<String> = e
            .ids
            .iter()
            .map(|i| {
                if i.len() == 64 && i.bytes().all(|b| b.is_ascii_hexdigit()) {
                    crate::ingest::short(i).to_string()
                } else {
                    i.clone()
                }
            })
            .collect();
        if let Some(f) = e.details.get("file_name").and_then(|v| v.as_str()) {
            ids.push(f.to_string());
        }
        if let Some(d) = e.details.get("decision").and_then(|v| v.as_str()) {
            ids.push(crate::messages::decision_action_text(d).to_string());
        }
        tb.add_row([
            e.seq.to_string(),
            e.time.clone(),
            e.actor.clone(),
            e.action.clone(),
            e.round.clone().unwrap_or_default(),
            ids.join("\n"),
            e.reason.clone().unwrap_or_default(),
        ]);
    }
    stdout_line(&tb.to_string())?;
    stdout_line(&format!("{} {}", entries.len(), t("条记录", "entries")))?;
    Ok(ExitCode::SUCCESS)
}
