//! `manyi sample`: draw a round's stratified random sample of communities.

use std::process::ExitCode;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use super::stdout_line;
use crate::error::Result;
use crate::round::RoundId;
use crate::workspace::Workspace;

/// Draw a round's stratified random sample of communities.
///
/// Example: manyi -w /tmp/w sample --round 2018-R1 --seed 20180401-lottery
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Round id, YEAR-Rn (2018-R2).
    #[arg(long)]
    round: String,
    /// The round's seed (any text, drawn publicly just before the round; hashed
    /// exactly as typed).
    #[arg(long, required_unless_present = "import", conflicts_with = "import")]
    seed: Option<String>,
    /// Take a sample drawn outside manyi (CSV with round, street_code,
    /// community_code) instead of drawing one.
    #[arg(long, requires = "reason")]
    import: Option<std::path::PathBuf>,
    /// Why the sample was drawn outside manyi (kept in the manifest and the journal).
    #[arg(long)]
    reason: Option<String>,
}

pub fn run(ws: &Workspace, a: Args) -> Result<ExitCode> {
    let round: RoundId = a.round.parse()?;
    if let Some(file) = &a.import {
        let m = crate::sample::import_sample(
            ws,
            &round,
            file,
            a.reason.as_deref().unwrap_or(""),
            &super::actor(),
        )?;
        for w in m.imported.iter().flat_map(|i| &i.warnings) {
            eprintln!("manyi: {}: {w}", crate::messages::t("警告", "warning"));
        }
        stdout_line(&format!(
            "{} {round}: {} {}; {} {} {}",
            crate::messages::t("已导入样本", "imported the sample of"),
            m.total_sampled,
            crate::messages::t("个社区", "communities"),
            crate::messages::t("已写入", "wrote"),
            ws.sample_path(&round).display(),
            ws.manifest_path(&round).display()
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    // ok: clap requires --seed unless --import, handled above.
    let seed = a.seed.unwrap_or_default();
    let (draw, manifest) = crate::sample::run_sample(ws, &round, &seed, &super::actor())?;
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header(["街道代码", "街道", "N_h", "可抽", "n_h", "抽中社区"]);
    for s in &draw.strata {
        let names: Vec<_> = s.selected.iter().map(|c| c.name.as_str()).collect();
        t.add_row([
            s.street_code.clone(),
            s.street_name.clone(),
            s.population.to_string(),
            s.eligible.to_string(),
            s.sampled.to_string(),
            names.join("、"),
        ]);
    }
    stdout_line(&format!(
        "round {round}, seed {seed:?}, algorithm {}",
        manifest.algorithm
    ))?;
    stdout_line(&t.to_string())?;
    stdout_line(&format!(
        "{} of {} communities sampled; wrote {} and {}",
        draw.total(),
        draw.strata.iter().map(|s| s.population).sum::<usize>(),
        ws.sample_path(&round).display(),
        ws.manifest_path(&round).display()
    ))?;
    Ok(ExitCode::SUCCESS)
}
