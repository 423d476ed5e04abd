//! `manyi plan`: how many respondents make each deduction decision reliable.

use std::process::ExitCode;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use super::stdout_line;
use crate::error::{Error, Result};
use crate::messages::t as tr;
use crate::round::RoundId;
use crate::workspace::Workspace;

/// Plan sample sizes for reliable decisions: per community the valid respondents m
/// whose one-sided t interval is within ±delta points (BRIEF.md, "Decision
/// reliability"), per street the communities per round that keep its CI within
/// ±delta-street; with --scheme-check, the same for the scheme as configured.
///
/// Writes reports/<round>/plan.csv, plan_streets.csv and oc.svg/png (the operating
/// characteristic). Example: manyi plan --round 2018-R1
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, required_unless_present = "scheme_check")]
    round: Option<String>,
    /// One-sided error rate (default: the rules' reliability.alpha, 0.10).
    #[arg(long)]
    alpha: Option<f64>,
    /// Community half-width in points (default: reliability.delta, 3).
    #[arg(long)]
    delta: Option<f64>,
    /// Street CI half-width in points (default: reliability.delta_street, 5).
    #[arg(long)]
    delta_street: Option<f64>,
    /// Check the scheme as configured (SDs from the rules; no round needed).
    #[arg(long, conflicts_with = "round")]
    scheme_check: bool,
}

pub fn run(ws: &Workspace, a: Args) -> Result<ExitCode> {
    let rules = ws.rules()?;
    let mut opts = crate::plan::Options::from_rules(&rules);
    opts.alpha = a.alpha.unwrap_or(opts.alpha);
    opts.delta = a.delta.unwrap_or(opts.delta);
    opts.delta_street = a.delta_street.unwrap_or(opts.delta_street);
    if !(opts.alpha > 0.0 && opts.alpha < 0.5 && opts.delta > 0.0 && opts.delta_street > 0.0) {
        return Err(Error::Invalid(
            "--alpha must be within (0, 0.5) and --delta, --delta-street positive".into(),
        ));
    }
    if a.scheme_check {
        let c = crate::plan::scheme_check(ws, opts)?;
        stdout_line(&match crate::messages::lang() {
            crate::messages::Lang::Zh => format!(
                "方案 {}:组内标准差 {} 时,每个社区需要 {} 份有效问卷(单侧 α = {},半宽 ≤ {} 分)",
                c.scheme, rules.reliability.sd, c.m_needed, opts.alpha, opts.delta
            ),
            crate::messages::Lang::En => format!(
                "scheme {}: at a within-community SD of {}, a community needs {} valid questionnaires (one-sided α = {}, half-width ≤ {})",
                c.scheme, rules.reliability.sd, c.m_needed, opts.alpha, opts.delta
            ),
        })?;
        let mut t = Table::new();
        t.load_style(UTF8_FULL_CONDENSED);
        t.set_header([
            tr("街道", "street"),
            tr("社区数", "communities"),
            tr("每轮抽取", "per round"),
            tr("最小自由度", "smallest df"),
            tr("每轮需要", "needed per round"),
            tr("说明", "note"),
        ]);
        for s in &c.streets {
            let unstable = s.min_df.is_none_or(|d| d <= 2);
            t.add_row([
                s.street_name.clone(),
                s.population.to_string(),
                s.per_round
                    .iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join("/"),
                s.min_df
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "—".into()),
                s.communities_needed.to_string(),
                if unstable {
                    tr(
                        "不稳定:置信区间过宽,应增加每轮抽取的社区",
                        "unreliable: the CI is too wide; sample more communities per round",
                    )
                    .to_string()
                } else {
                    String::new()
                },
            ]);
        }
        stdout_line(&t.to_string())?;
        return Ok(ExitCode::SUCCESS);
    }
    let round: RoundId = a.round.unwrap_or_default().parse()?; // ok: clap requires --round here
    let plan = crate::plan::plan_round(ws, &round, opts)?;
    let files = plan.write(ws)?;
    let short: Vec<&crate::plan::CommunityPlan> = plan
        .communities
        .iter()
        .filter(|c| c.sd_source == crate::plan::SdSource::Own && c.n_valid < c.m_needed)
        .collect();
    stdout_line(&match crate::messages::lang() {
        crate::messages::Lang::Zh => format!(
            "{round}:典型社区需要 {} 份有效问卷;本轮 {} 个社区未达到(单侧 α = {},半宽 ≤ {} 分)",
            plan.typical_m(),
            short.len(),
            opts.alpha,
            opts.delta
        ),
        crate::messages::Lang::En => format!(
            "{round}: a typical community needs {} valid questionnaires; {} communities of the round have fewer (one-sided α = {}, half-width ≤ {})",
            plan.typical_m(),
            short.len(),
            opts.alpha,
            opts.delta
        ),
    })?;
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header([
        tr("街道", "street"),
        tr("社区数", "communities"),
        tr("本轮测评", "measured"),
        tr("社区间标准差", "between SD"),
        tr("每轮需要社区", "communities needed"),
    ]);
    for s in &plan.streets {
        t.add_row([
            s.street_name.clone(),
            s.population.to_string(),
            s.measured.to_string(),
            format!("{:.1}", s.between_sd),
            s.communities_needed.to_string(),
        ]);
    }
    stdout_line(&t.to_string())?;
    for f in files {
        stdout_line(&format!("{} {}", tr("已写入", "wrote"), f.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}
