//! `manyi deliveries`: every stored delivery with its status.

use std::process::ExitCode;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use super::stdout_line;
use crate::error::{Error, Result};
use crate::messages::t;
use crate::round::RoundId;
use crate::workspace::Workspace;

/// List stored deliveries: id, file, evaluator, status (active / withdrawn /
/// superseded, and by what), rows read, accepted, rejected, flagged, time.
///
/// Example: manyi deliveries --round 2018-R1
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    round: Option<String>,
    /// JSON on stdout (ids in full).
    #[arg(long)]
    json: bool,
}

pub fn run(ws: &Workspace, a: Args) -> Result<ExitCode> {
    let round: Option<RoundId> = a.round.as_deref().map(str::parse).transpose()?;
    let rows = crate::lifecycle::deliveries(ws, round.as_ref())?;
    if a.json {
        return stdout_line(
            &serde_json::to_string_pretty(&rows).map_err(|e| Error::Invalid(e.to_string()))?,
        )
        .map(|_| ExitCode::SUCCESS);
    }
    let mut tb = Table::new();
    tb.load_style(UTF8_FULL_CONDENSED);
    tb.set_header([
        t("编号", "id"),
        t("轮次", "round"),
        t("文件", "file"),
        t("测评机构", "evaluator"),
        t("状态", "status"),
        t("读入行", "rows read"),
        t("接收", "accepted"),
        t("拒收", "rejected"),
        t("有标记", "flagged"),
        t("时间 (UTC)", "time (UTC)"),
    ]);
    for r in &rows {
        let status = match r.status.as_str() {
            "active" => crate::store::DeliveryStatus::Active,
            "withdrawn" => crate::store::DeliveryStatus::Withdrawn,
            _ => crate::store::DeliveryStatus::Superseded,
        };
        let mut st = status.text().to_string();
        if let Some(by) = &r.superseded_by {
            st.push_str(&format!(" → {}", crate::ingest::short(by)));
        } else if let Some(why) = &r.status_reason {
            st.push_str(&format!(": {why}"));
        }
        if let Some(old) = &r.replaces {
            st.push_str(&format!(
                " ({} {})",
                t("更正了", "corrects"),
                crate::ingest::short(old)
            ));
        }
        tb.add_row([
            crate::ingest::short(&r.id).to_string(),
            r.round.clone(),
            r.file_name.clone(),
            r.evaluator.clone().unwrap_or_else(|| "—".into()),
            st,
            r.rows_read.to_string(),
            r.accepted.to_string(),
            r.rejected.to_string(),
            r.flagged.to_string(),
            r.ingested_at.clone(),
        ]);
    }
    stdout_line(&tb.to_string())?;
    stdout_line(&format!("{} {}", rows.len(), t("份交付", "deliveries")))?;
    Ok(ExitCode::SUCCESS)
}
