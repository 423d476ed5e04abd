//! `manyi decide`: the office's decision on a flagged interviewer or questionnaire.

use std::process::ExitCode;

use super::stdout_line;
use crate::error::Result;
use crate::lifecycle::Subject;
use crate::messages::t;
use crate::round::RoundId;
use crate::workspace::Workspace;

/// Record a decision on an interviewer or one questionnaire of a round: --exclude (their
/// questionnaires stop counting in scores) or --keep, always with a reason. A later
/// decision on the same subject supersedes this one; all stay in the journal.
///
/// Example: manyi decide --round 2018-R2 --interviewer B2-F01 --exclude --reason "回访核实:未入户"
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("subject").required(true).args(["interviewer", "respondent"])))]
#[command(group(clap::ArgGroup::new("action").required(true).args(["exclude", "keep"])))]
pub struct Args {
    #[arg(long)]
    round: String,
    /// An interviewer id (all their questionnaires in the round).
    #[arg(long)]
    interviewer: Option<String>,
    /// One questionnaire's respondent id.
    #[arg(long)]
    respondent: Option<String>,
    #[arg(long)]
    exclude: bool,
    #[arg(long)]
    keep: bool,
    #[arg(long)]
    reason: String,
}

pub fn run(ws: &Workspace, a: Args) -> Result<ExitCode> {
    let round: RoundId = a.round.parse()?;
    let (subject, id) = match (&a.interviewer, &a.respondent) {
        (Some(i), _) => (Subject::Interviewer, i.as_str()),
        (None, Some(r)) => (Subject::Respondent, r.as_str()),
        (None, None) => unreachable!("clap requires one of them"), // ok: the ArgGroup is required
    };
    let d = crate::lifecycle::decide(
        ws,
        &round,
        subject,
        id,
        a.exclude,
        &a.reason,
        &super::actor(),
    )?;
    stdout_line(&format!(
        "{} {round}: {} {} {} ({} {}){}",
        t("已记录决定", "decision recorded"),
        crate::messages::decision_action_text(&d.decision.action),
        match subject {
            Subject::Interviewer => t("访问员", "interviewer"),
            Subject::Respondent => t("问卷", "questionnaire"),
        },
        d.decision.id,
        d.questionnaires,
        t("份问卷", "questionnaires"),
        if d.flagged {
            String::new()
        } else {
            t(";注意:该对象目前没有标记", "; note: not flagged now").to_string()
        }
    ))?;
    if let Some(s) = &d.superseded {
        stdout_line(&format!(
            "{} {} ({}, {} {})",
            t("取代此前的决定:", "supersedes the earlier decision:"),
            crate::messages::decision_action_text(&s.action),
            s.reason,
            s.actor,
            s.at
        ))?;
    }
    stdout_line(t(
        "重新计分后生效:manyi score --round …",
        "takes effect in the next score: manyi score --round …",
    ))?;
    Ok(ExitCode::SUCCESS)
}
