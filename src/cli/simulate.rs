//! `manyi simulate`: a realistic simulated delivery for a round's sample.

use std::path::PathBuf;
use std::process::ExitCode;

use super::stdout_line;
use crate::error::Result;
use crate::round::RoundId;
use crate::workspace::Workspace;

/// Write a realistic simulated delivery for a round's sample (dry runs, load tests).
///
/// Example: manyi simulate --round 2018-R1 --format gbk --out b.csv --fabricator copier
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    round: String,
    #[arg(long, value_enum, default_value = "csv")]
    format: crate::simulate::Format,
    /// Output file (default: surveys/deliveries/<round>-<format>.<ext>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Only these street codes (comma-separated).
    #[arg(long, value_delimiter = ',')]
    streets: Vec<String>,
    /// Questionnaires per community.
    #[arg(long, default_value_t = 40)]
    per_community: usize,
    /// Add an interviewer who fabricates questionnaires, of this kind (crude, kind,
    /// copier, steady; default crude). Repeat for several.
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "crude")]
    fabricator: Vec<crate::simulate::Fabricator>,
    #[arg(long, default_value = "simulate")]
    seed: String,
    /// Write respondents' phone numbers (a last column), for callbacks.
    #[arg(long)]
    phones: bool,
}

pub fn run(ws: &Workspace, a: Args) -> Result<ExitCode> {
    let round: RoundId = a.round.parse()?;
    let format = a.format;
    let out = a.out.unwrap_or_else(|| {
        ws.root.join(format!(
            "surveys/deliveries/{round}-{}.{}",
            format.name(),
            format.extension()
        ))
    });
    let opts = crate::simulate::Options {
        format,
        streets: a.streets,
        per_community: a.per_community,
        fabricators: a.fabricator,
        seed: a.seed,
        phones: a.phones,
        id_prefix: format
            .name()
            .chars()
            .next()
            .unwrap_or('x')
            .to_ascii_uppercase()
            .to_string(),
    };
    let n = crate::simulate::simulate(ws, &round, &out, &opts)?;
    stdout_line(&match crate::messages::lang() {
        crate::messages::Lang::Zh => format!("已生成 {} 份问卷：{}", n, out.display()),
        crate::messages::Lang::En => format!("wrote {} questionnaires to {}", n, out.display()),
    })?;
    Ok(ExitCode::SUCCESS)
}
