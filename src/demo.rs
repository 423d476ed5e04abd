//! `manyi demo`: builds the complete 2018 Panlong demo from what the repository ships,
//! running every pipeline stage in order. Seeds are recorded here (and end up in each
//! round's manifest), so the demo gives the same files on every machine.

use std::path::Path;

use crate::error::Result;
use crate::round::RoundId;
use crate::workspace::Workspace;

/// The demo's scheme and year.
pub const SCHEME: &str = "panlong-2018";
pub const YEAR: i32 = 2018;

/// The recorded seed of each demo round (in a real year: drawn in public before the round).
pub fn seed(round: &RoundId) -> String {
    format!("panlong-demo-{round}")
}

/// Log of what the demo did, for the terminal.
pub struct DemoLog {
    pub lines: Vec<String>,
}

/// Runs the demo in `dir` (creating the workspace when there is none).
pub fn run(dir: &Path) -> Result<DemoLog> {
    let mut lines = Vec::new();
    let ws = if dir.join("manyi.toml").exists() {
        Workspace::open(dir)?
    } else {
        lines.push(format!("init {} --scheme {SCHEME}", dir.display()));
        Workspace::init(dir, SCHEME, None)?
    };
    let rules = ws.rules()?;
    for number in 1..=rules.sampling.rounds_per_year {
        let round = RoundId { year: YEAR, number };
        if ws.sample_path(&round).exists() {
            let v = crate::sample::verify(&ws, &round)?;
            if !v.ok() {
                return Err(crate::Error::Invalid(format!(
                    "the existing sample of {round} does not match its manifest: {}",
                    v.differences.join("; ")
                )));
            }
            lines.push(format!(
                "sample {round}: present, verified ({} communities)",
                v.rows
            ));
        } else {
            let (d, _) = crate::sample::run_sample(&ws, &round, &seed(&round))?;
            lines.push(format!(
                "sample {round}: drew {} communities with seed {:?}",
                d.total(),
                seed(&round)
            ));
        }
    }
    Ok(DemoLog { lines })
}
