//! `manyi score`: community, street and item scores of a round.

use std::process::ExitCode;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use super::{fmt1, stdout_line};
use crate::error::Result;
use crate::messages::t;
use crate::messages::t as tr;
use crate::round::RoundId;
use crate::workspace::Workspace;

/// Score a round from the store: community, street and item scores with SEs and CIs.
///
/// Writes reports/<round>/community_scores.csv, street_scores.csv, item_scores.csv.
/// Example: manyi score --round 2018-R1
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    round: String,
}

pub fn run(ws: &Workspace, a: Args) -> Result<ExitCode> {
    let round: RoundId = a.round.parse()?;
    let rules = ws.rules()?;
    let (scores, files) = crate::jobs::score_recorded(ws, &round, &super::actor())?;
    print_street_scores(&scores, rules.threshold.community_score)?;
    print_decisions(&scores)?;
    for f in files {
        stdout_line(&format!("{} {}", t("已写入", "wrote"), f.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn print_street_scores(scores: &crate::score::rounds::Scores, threshold: f64) -> Result<()> {
    let mut rows: Vec<_> = scores.streets.iter().collect();
    rows.sort_by(|a, b| {
        let (x, y) = (
            a.est.as_ref().map(|e| e.mean),
            b.est.as_ref().map(|e| e.mean),
        );
        y.partial_cmp(&x)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.street_code.cmp(&b.street_code))
    });
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header([
        tr("街道", "street"),
        tr("得分", "score"),
        tr("95% 置信区间", "95% CI"),
        tr("社区(测/抽/总)", "communities (scored/sampled/all)"),
        tr("有效问卷", "valid questionnaires"),
        tr("满意率", "satisfaction rate"),
        format!("{}{threshold}", tr("低于", "below ")).as_str(),
        tr("说明", "note"),
    ]);
    for s in rows {
        let e = s.est.as_ref();
        t.add_row([
            s.street_name.clone(),
            fmt1(e.map(|e| e.mean)),
            crate::messages::ci_text(e.and_then(|e| e.ci), e.and_then(|e| e.df)),
            format!("{}/{}/{}", s.n_communities, s.n_sampled, s.population),
            s.n_respondents.to_string(),
            s.satisfaction_rate
                .map(|r| format!("{:.1}%", r * 100.0))
                .unwrap_or_else(|| "—".into()),
            s.communities_below.to_string(),
            s.note.clone(),
        ]);
    }
    stdout_line(&match crate::messages::lang() {
        crate::messages::Lang::Zh => format!(
            "{} 得分(测评轮次 {}),有效问卷 {} 份",
            scores.label,
            scores.rounds.join("、"),
            scores.respondents_valid
        ),
        crate::messages::Lang::En => format!(
            "scores {} (rounds {}), {} valid questionnaires",
            scores.label,
            scores.rounds.join(", "),
            scores.respondents_valid
        ),
    })?;
    stdout_line(&t.to_string())
}

/// The exclusions in force and the flags still undecided, under the scores.
pub fn print_decisions(scores: &crate::score::rounds::Scores) -> Result<()> {
    for e in &scores.exclusions {
        stdout_line(&format!(
            "{} {} {} {}: {} {} ({})",
            t("剔除", "excluded"),
            e.round,
            match e.subject.as_str() {
                "interviewer" => t("访问员", "interviewer"),
                _ => t("问卷", "questionnaire"),
            },
            e.id,
            e.questionnaires,
            t("份有效问卷", "valid questionnaires"),
            e.reason
        ))?;
    }
    for u in &scores.undecided {
        if u.interviewers + u.questionnaires > 0 {
            stdout_line(&match crate::messages::lang() {
                crate::messages::Lang::Zh => format!(
                    "{} 轮尚未决定的质量标记:访问员 {} 名,问卷 {} 份(仍计入得分;见 manyi flags --round {})",
                    u.round, u.interviewers, u.questionnaires, u.round
                ),
                crate::messages::Lang::En => format!(
                    "{}: undecided flags, {} interviewers and {} questionnaires (they still count; see manyi flags --round {})",
                    u.round, u.interviewers, u.questionnaires, u.round
                ),
            })?;
        }
    }
    Ok(())
}
