//! `manyi flags`: a round's flagged interviewers and questionnaires, with evidence and
//! the decision in force, undecided first.

use std::path::PathBuf;
use std::process::ExitCode;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use super::stdout_line;
use crate::error::{Error, Result};
use crate::messages::t;
use crate::round::RoundId;
use crate::workspace::Workspace;

/// Questionnaires listed in the terminal (all of them go to --out and --json).
const SHOWN: usize = 40;

/// Show a round's flags over all its active deliveries: interviewers who stand out
/// from their peers in the same communities (with z values and ratios), and flagged
/// questionnaires with their delivery file and line; each with the decision in force.
///
/// Example: manyi flags --round 2018-R2 --out flags-2018-R2.xlsx
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    round: String,
    /// JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Write every flag to FILE.csv (one table, a `kind` column) or FILE.xlsx (two sheets).
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(ws: &Workspace, a: Args) -> Result<ExitCode> {
    let round: RoundId = a.round.parse()?;
    let f = crate::lifecycle::flags(ws, &round)?;
    let frame = ws.frame()?;
    if let Some(out) = &a.out {
        write_out(ws, &f, out)?;
    }
    if a.json {
        stdout_line(&serde_json::to_string_pretty(&f).map_err(|e| Error::Invalid(e.to_string()))?)?;
        return Ok(ExitCode::SUCCESS);
    }
    stdout_line(&match crate::messages::lang() {
        crate::messages::Lang::Zh => format!(
            "{} 轮:{} 份问卷(全部有效交付);异常访问员 {} 名(未决定 {});带信号的问卷 {} 份(是其访问员的证据,无需逐份决定)",
            f.round,
            f.questionnaires_read,
            f.interviewers.len(),
            f.undecided_interviewers,
            f.questionnaires.len(),
        ),
        crate::messages::Lang::En => format!(
            "round {}: {} questionnaires (all active deliveries); {} flagged interviewers ({} undecided); {} questionnaires with signals (evidence on their interviewer, no decision each)",
            f.round,
            f.questionnaires_read,
            f.interviewers.len(),
            f.undecided_interviewers,
            f.questionnaires.len(),
        ),
    })?;
    let decision = |d: &Option<crate::flags::DecisionView>, none: &str| match d {
        None => none.to_string(),
        Some(d) => format!(
            "{}{}: {} ({} {})",
            crate::messages::decision_action_text(&d.action),
            if d.on == "interviewer" {
                t("(按访问员)", " (by interviewer)")
            } else {
                ""
            },
            d.reason,
            d.actor,
            d.at
        ),
    };
    if !f.interviewers.is_empty() {
        let mut tb = Table::new();
        tb.load_style(UTF8_FULL_CONDENSED);
        tb.set_header([
            t("访问员", "interviewer"),
            t("问卷", "questionnaires"),
            t("社区", "communities"),
            t("交付文件", "files"),
            t("依据", "evidence"),
            t("处理决定", "decision"),
        ]);
        for r in &f.interviewers {
            let flag = r.as_flag();
            tb.add_row([
                r.interviewer_id.clone(),
                r.questionnaires.to_string(),
                r.communities.to_string(),
                r.deliveries.join("\n"),
                format!(
                    "{}\n{}; {} {:.0}%\n{}{} {}",
                    // ok: a flag without a p-value (an old receipt's, or one only the
                    // callbacks raised) has no words.
                    r.p_value
                        .map(|p| crate::messages::evidence_words(p, crate::messages::lang()))
                        .unwrap_or_default(),
                    &flag.reasons_text(),
                    t("直线作答", "straight-lined"),
                    r.straightline_share * 100.0,
                    r.callbacks
                        .as_ref()
                        .map(|c| format!("{} {}\n", t("回访:", "callbacks:"), c.words))
                        .unwrap_or_default(),
                    t("剔除后:", "if excluded:"),
                    r.sensitivity.text(crate::messages::lang(), &frame)
                ),
                decision(&r.decision, t("未决定", "UNDECIDED")),
            ]);
        }
        stdout_line(&tb.to_string())?;
    }
    if !f.questionnaires.is_empty() {
        let mut tb = Table::new();
        tb.load_style(UTF8_FULL_CONDENSED);
        tb.set_header([
            t("问卷编号", "respondent"),
            t("访问员", "interviewer"),
            t("社区代码", "community"),
            t("文件:行", "file:line"),
            t("信号", "signals"),
            t("处理决定(例外)", "decision (exception)"),
        ]);
        for r in f.questionnaires.iter().take(SHOWN) {
            tb.add_row([
                r.respondent_id.clone(),
                r.interviewer_id.clone().unwrap_or_default(),
                r.community_code.clone(),
                format!("{}:{}", r.file_name, r.line),
                r.flags
                    .iter()
                    .map(|c| crate::messages::questionnaire_flag_text(c))
                    .collect::<Vec<_>>()
                    .join("、"),
                decision(&r.decision, "—"),
            ]);
        }
        stdout_line(&tb.to_string())?;
        if f.questionnaires.len() > SHOWN {
            stdout_line(&format!(
                "{} {} {}",
                t("……另有", "… and"),
                f.questionnaires.len() - SHOWN,
                t(
                    "份带信号的问卷,全部见 --out 文件或 --json",
                    "more questionnaires with signals: all of them with --out FILE or --json"
                )
            ))?;
        }
    }
    if f.undecided() > 0 {
        stdout_line(&format!(
            "{} `manyi decide --round {} --interviewer ID --exclude --reason TEXT` ({} --keep; --respondent ID for an exception)",
            t("处理:", "decide with"),
            f.round,
            t("或", "or")
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn write_out(ws: &Workspace, f: &crate::flags::RoundFlags, out: &std::path::Path) -> Result<()> {
    let (iv, q) = tables(f);
    let ext = out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let bytes = match ext.as_deref() {
        Some("xlsx") => {
            crate::report::tables::workbook(&[("异常访问员", &iv), ("问卷信号", &q)], &ws.rules()?)?
        }
        Some("csv") => {
            // One table: interviewer rows, then questionnaire rows, told apart by `kind`.
            let mut headers = vec!["kind".to_string()];
            let mut cols: Vec<String> = iv.headers.clone();
            for h in &q.headers {
                if !cols.contains(h) {
                    cols.push(h.clone());
                }
            }
            headers.extend(cols.iter().cloned());
            let row = |kind: &str, t: &crate::report::Table, r: &Vec<String>| {
                let mut v = vec![kind.to_string()];
                v.extend(cols.iter().map(|c| {
                    t.headers
                        .iter()
                        .position(|h| h == c)
                        .map(|i| r[i].clone())
                        .unwrap_or_default()
                }));
                v
            };
            let rows: Vec<Vec<String>> = iv
                .rows
                .iter()
                .map(|r| row("interviewer", &iv, r))
                .chain(q.rows.iter().map(|r| row("questionnaire", &q, r)))
                .collect();
            crate::fsutil::csv_bytes(headers, rows, true)?
        }
        _ => {
            return Err(Error::Invalid(format!(
                "{}: --out takes a .csv or .xlsx file",
                out.display()
            )));
        }
    };
    crate::fsutil::write_atomic(out, &bytes)?;
    eprintln!("manyi: {} {}", t("已写入", "wrote"), out.display());
    Ok(())
}

/// The flags as tables (machine column names; codes in English): interviewers,
/// then questionnaires. Numbers at full precision.
fn tables(f: &crate::flags::RoundFlags) -> (crate::report::Table, crate::report::Table) {
    let num = |x: Option<f64>| x.map(|v| v.to_string()).unwrap_or_default();
    // `none`: what a subject without a decision reads (an interviewer's flag awaits
    // one; a questionnaire's signals do not).
    let dec = |d: &Option<crate::flags::DecisionView>, none: &str| -> [String; 4] {
        match d {
            None => [none.into(), String::new(), String::new(), String::new()],
            Some(d) => [
                d.action.clone(),
                d.reason.clone(),
                d.actor.clone(),
                d.at.clone(),
            ],
        }
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let interviewers = crate::report::Table {
        headers: s(&[
            "round",
            "interviewer_id",
            "questionnaires",
            "communities",
            "file",
            "evidence",
            "score_difference",
            "score_z",
            "duration_ratio",
            "duration_z",
            "straightline_share",
            "decision",
            "reason",
            "actor",
            "at",
        ]),
        rows: f
            .interviewers
            .iter()
            .map(|r| {
                let mut row = vec![
                    f.round.clone(),
                    r.interviewer_id.clone(),
                    r.questionnaires.to_string(),
                    r.communities.to_string(),
                    r.deliveries.join(" "),
                    r.reason_codes.join(" "),
                    r.score_difference.to_string(),
                    r.score_z.to_string(),
                    num(r.duration_ratio),
                    num(r.duration_z),
                    r.straightline_share.to_string(),
                ];
                row.extend(dec(&r.decision, "undecided"));
                row
            })
            .collect(),
    };
    let questionnaires = crate::report::Table {
        headers: s(&[
            "round",
            "id",
            "interviewer_id",
            "community_code",
            "file",
            "line",
            "flags",
            "valid",
            "decision",
            "reason",
            "actor",
            "at",
        ]),
        rows: f
            .questionnaires
            .iter()
            .map(|r| {
                let mut row = vec![
                    f.round.clone(),
                    r.respondent_id.clone(),
                    r.interviewer_id.clone().unwrap_or_default(),
                    r.community_code.clone(),
                    r.file_name.clone(),
                    r.line.to_string(),
                    r.flags.join(" "),
                    r.valid.to_string(),
                ];
                row.extend(dec(&r.decision, ""));
                row
            })
            .collect(),
    };
    (interviewers, questionnaires)
}
