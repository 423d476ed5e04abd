//! `manyi demo`: builds the complete 2018 Panlong demo from what the repository ships,
//! running every pipeline stage in order: samples (recorded seeds) → simulated
//! deliveries in the evaluators' four formats → ingest → score → indicators →
//! evaluate (quarters, halves, year) → report. Deterministic: the same files every run.

use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};

use crate::error::{Error, Result};
use crate::round::{Period, RoundId};
use crate::simulate::Format;
use crate::workspace::Workspace;

/// The demo's scheme and year.
pub const SCHEME: &str = "panlong-2018";
pub const YEAR: i32 = 2018;

/// The recorded seed of each demo round (in a real year: drawn in public before the round).
pub fn seed(round: &RoundId) -> String {
    format!("panlong-demo-{round}")
}

/// Which evaluator delivers which streets, in which format (four evaluators, three
/// streets each, by street code order).
const EVALUATORS: [Format; 4] = [Format::Csv, Format::Gbk, Format::Names, Format::Xlsx];

/// The evaluator (organisation) of the e-th group of streets.
pub fn evaluator(e: usize) -> String {
    format!("测评机构{}", (b'A' + e as u8) as char)
}

/// Why the demo's office excludes a flagged interviewer when no callback speaks of
/// him (the reason otherwise cites the callbacks: `exclusion_reason`).
pub const EXCLUSION_REASON: &str = "经核查确认该访问员的问卷不可信（演示）";

/// The round whose callbacks the demo draws and records (its evaluator B has a
/// fabricating interviewer).
pub const CALLBACK_ROUND: u32 = 2;

/// The recorded seed of the demo's callback batch.
pub fn callback_seed(round: &RoundId) -> String {
    format!("panlong-demo-{round}-回访")
}

/// The office's reason for excluding an interviewer: what the callbacks found, when
/// they found him out.
pub fn exclusion_reason(cb: Option<&crate::callbacks::InterviewerCallbacks>) -> String {
    match cb {
        Some(e) if e.flagged() => format!(
            "回访核实（批次 {}）：{}（演示）",
            e.batches.join("、"),
            e.words
        ),
        _ => EXCLUSION_REASON.to_string(),
    }
}

/// A line for the terminal in the language in force (Chinese unless asked otherwise).
fn say(zh: String, en: String) -> String {
    match crate::messages::lang() {
        crate::messages::Lang::Zh => zh,
        crate::messages::Lang::En => en,
    }
}

/// What the demo did, for the terminal.
pub struct DemoLog {
    pub lines: Vec<String>,
    pub reports: PathBuf,
}

fn bar(len: u64) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb
}

/// A deterministic number in [0, 1] for a street's indicator in a quarter (any id,
/// however short: the rules file may name indicators as it likes).
fn indicator_draw(street: &str, quarter: u32, id: &str) -> f64 {
    let k = id.len() as u32 * 7 + id.bytes().nth(1).unwrap_or(0) as u32;
    let s = crate::fsutil::sha256_hex(format!("demo-indicator {street} {quarter} {k}").as_bytes());
    let head = s.get(..8).unwrap_or("0");
    u64::from_str_radix(head, 16).unwrap_or(0) as f64 / u32::MAX as f64
}

/// Deterministic quarterly indicators for every street (the streets' own reports in a
/// real year), with one street that does not report t5 in Q2.
fn indicators(ws: &Workspace, quarter: u32) -> Result<()> {
    let rules = ws.rules()?;
    let frame = ws.frame()?;
    let mut text = String::from("period,street_code,street_name,indicator,value\n");
    for (i, (code, st)) in frame.streets.iter().enumerate() {
        for ind in &rules.evaluation.indicators {
            let value = if !ind.applies_to.is_empty() && !ind.applies_to.contains(code) {
                "NA".to_string()
            } else if ind.id == "t5" && quarter == 2 && i == 1 {
                String::new()
            } else {
                let u = indicator_draw(code, quarter, &ind.id);
                let v = match ind.id.as_str() {
                    "t1" => (u < 0.8) as u32 as f64,
                    "t2" => 0.6 + 0.7 * u,
                    "t3" => (3.0 + 17.0 * u).round(),
                    "t4" => (40.0 + 60.0 * u).round(),
                    "t5" => 88.0 + (12.0 * u * 10.0).round() / 10.0,
                    "t6" => (u < 0.85) as u32 as f64,
                    "t7" => (u * 2.4).floor(),
                    "t8" => (20.0 + 40.0 * u).round(),
                    _ => (ind.target * (0.5 + u)).round(),
                };
                format!("{v}")
            };
            text.push_str(&format!(
                "{YEAR}Q{quarter},{code},{},{},{value}\n",
                st.name, ind.id
            ));
        }
    }
    crate::fsutil::write_atomic(
        &ws.indicators_dir().join(format!("{YEAR}Q{quarter}.csv")),
        text.as_bytes(),
    )
}

/// Runs the demo in `dir` (creating the workspace when there is none).
pub fn run(dir: &Path, actor: &str) -> Result<DemoLog> {
    let mut lines = Vec::new();
    let ws = if dir.join("manyi.toml").exists() {
        Workspace::open(dir)?
    } else {
        lines.push(say(
            format!("新建工作区 {}（方案 {SCHEME}）", dir.display()),
            format!("init {} --scheme {SCHEME}", dir.display()),
        ));
        Workspace::init(dir, SCHEME, None)?
    };
    let rules = ws.rules()?;
    let frame = ws.frame()?;
    let rounds: Vec<RoundId> = (1..=rules.sampling.rounds_per_year)
        .map(|number| RoundId { year: YEAR, number })
        .collect();
    let streets: Vec<String> = frame.streets.keys().cloned().collect();
    let per_evaluator = streets.len().div_ceil(EVALUATORS.len());
    let steps = rounds.len() as u64 * (2 + EVALUATORS.len() as u64 * 2) + 8;
    let pb = bar(steps);
    for round in &rounds {
        let mut fabricated = std::collections::BTreeSet::new();
        pb.set_message(format!("抽样 {round}"));
        if ws.sample_path(round).exists() {
            let v = crate::sample::verify(&ws, round)?;
            if !v.ok() {
                return Err(Error::Invalid(format!(
                    "the existing sample of {round} does not match its manifest: {}",
                    v.differences.join("; ")
                )));
            }
            lines.push(say(
                format!("抽样 {round}：已有样本，核对一致（{} 个社区）", v.rows),
                format!("sample {round}: present, verified ({} communities)", v.rows),
            ));
        } else {
            let (d, _) = crate::sample::run_sample(&ws, round, &seed(round), actor)?;
            lines.push(say(
                format!(
                    "抽样 {round}：用种子“{}”抽取 {} 个社区",
                    seed(round),
                    d.total()
                ),
                format!(
                    "sample {round}: drew {} communities with seed {:?}",
                    d.total(),
                    seed(round)
                ),
            ));
        }
        pb.inc(1);
        for (e, format) in EVALUATORS.iter().enumerate() {
            pb.set_message(format!("模拟交付 {round} {}", format.name()));
            let chunk: Vec<String> = streets
                .iter()
                .skip(e * per_evaluator)
                .take(per_evaluator)
                .cloned()
                .collect();
            let out = ws.root.join(format!(
                "surveys/deliveries/{round}-{}.{}",
                format.name(),
                format.extension()
            ));
            let opts = crate::simulate::Options {
                format: *format,
                streets: chunk,
                per_community: 40,
                // Evaluator B's second round has an interviewer who fabricates.
                fabricators: if *format == Format::Gbk && round.number == 2 {
                    vec![crate::simulate::Fabricator::Crude]
                } else {
                    Vec::new()
                },
                seed: "panlong-demo".into(),
                phones: true,
                id_prefix: format!("{}{}", (b'A' + e as u8) as char, round.number),
            };
            fabricated.extend(crate::simulate::simulate_with_truth(&ws, round, &out, &opts)?.1);
            pb.inc(1);
            pb.set_message(format!(
                "导入 {}",
                out.file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ));
            let opts = crate::ingest::Options {
                evaluator: Some(evaluator(e)),
                actor: Some(actor.to_string()),
                ..Default::default()
            };
            let r = crate::ingest::ingest(&ws, round, &out, &opts)?.receipt;
            let flagged: Vec<&str> = r
                .quality
                .flagged_interviewers
                .iter()
                .map(|f| f.interviewer_id.as_str())
                .collect();
            let again = r.status == crate::ingest::ReceiptStatus::AlreadyIngested;
            lines.push(say(
                format!(
                    "导入 {round} {:<6} {}：读入 {} 行，接收 {}，拒收 {}{}{}",
                    format.name(),
                    r.encoding,
                    r.rows_read,
                    r.accepted,
                    r.rejected,
                    if again { "（此前已导入）" } else { "" },
                    if flagged.is_empty() {
                        String::new()
                    } else {
                        format!("；异常访问员：{}", flagged.join("、"))
                    }
                ),
                format!(
                    "ingest {round} {:<6} {}: {} rows, {} accepted, {} rejected{}{}",
                    format.name(),
                    r.encoding,
                    r.rows_read,
                    r.accepted,
                    r.rejected,
                    if again { " (already ingested)" } else { "" },
                    if flagged.is_empty() {
                        String::new()
                    } else {
                        format!(", flagged interviewer(s): {}", flagged.join(", "))
                    }
                ),
            ));
            pb.inc(1);
        }
        // The office looks at the round's flags and decides: the planted fabricator is
        // excluded (in a real round, after calling back some of their respondents);
        // any other flag is left for a person to decide, as it should be.
        if round.number == CALLBACK_ROUND {
            lines.extend(callbacks(&ws, round, &fabricated, actor)?);
        }
        let flags = crate::lifecycle::flags(&ws, round)?;
        for f in flags
            .interviewers
            .iter()
            .filter(|f| f.decision.is_none() && f.interviewer_id.ends_with("FAB"))
        {
            let reason = exclusion_reason(f.callbacks.as_ref());
            let d = crate::lifecycle::decide(
                &ws,
                round,
                crate::lifecycle::Subject::Interviewer,
                &f.interviewer_id,
                true,
                &reason,
                actor,
            )?;
            lines.push(say(
                format!(
                    "决定 {round}：剔除访问员 {}（{} 份问卷）：{reason}",
                    f.interviewer_id, d.questionnaires
                ),
                format!(
                    "decide {round}: exclude interviewer {} ({} questionnaires): {reason}",
                    f.interviewer_id, d.questionnaires
                ),
            ));
        }
        pb.set_message(format!("计分 {round}"));
        let scores =
            crate::score::rounds::score_rounds(&ws, &rules, &frame, &[*round], &round.to_string())?;
        crate::journal::write_recorded(
            &ws,
            actor,
            "score",
            &round.to_string(),
            &[*round],
            &[],
            || scores.write(&ws),
        )?;
        lines.push(say(
            format!(
                "计分 {round}：{} 个社区，有效问卷 {} 份",
                scores.communities.len(),
                scores.respondents_valid
            ),
            format!(
                "score {round}: {} communities, {} valid questionnaires",
                scores.communities.len(),
                scores.respondents_valid
            ),
        ));
        let plan = crate::plan::plan_round(&ws, round, crate::plan::Options::from_rules(&rules))?;
        plan.write(&ws)?;
        lines.push(say(
            format!("样本量 {round}：一般社区需有效问卷 {} 份", plan.typical_m()),
            format!(
                "plan {round}: a typical community needs {} valid questionnaires",
                plan.typical_m()
            ),
        ));
        pb.inc(1);
    }
    for q in 1..=4 {
        indicators(&ws, q)?;
    }
    let periods: Vec<Period> = (1..=4)
        .map(|q| Period::Quarter(YEAR, q))
        .chain([
            Period::Half(YEAR, 1),
            Period::Half(YEAR, 2),
            Period::Year(YEAR),
        ])
        .collect();
    for p in &periods {
        pb.set_message(format!("评价 {p}"));
        let ev = crate::evaluate::evaluate(&ws, p)?;
        let rounds = ev
            .rounds
            .iter()
            .map(|r| r.parse())
            .collect::<Result<Vec<RoundId>>>()?;
        let inputs = crate::lifecycle::evaluation_inputs(&ws, p);
        crate::journal::write_recorded(
            &ws,
            actor,
            "evaluate",
            &p.to_string(),
            &rounds,
            &inputs,
            || ev.write(&ws),
        )?;
        let ded: f64 = ev.deductions.iter().map(|d| d.total).sum::<f64>() + 0.0;
        lines.push(say(
            format!("评价 {p}：共扣 {ded:.1} 分"),
            format!(
                "evaluate {p}: {} ({}), deductions {ded:.1} points in all",
                ev.satisfaction_basis, ev.indicators_source
            ),
        ));
        pb.inc(1);
    }
    lines.extend(appeal(&ws, actor)?);
    pb.set_message("报告");
    let files = crate::report::report_recorded(
        &ws,
        &crate::report::Subject::Period(Period::Year(YEAR)),
        actor,
    )?;
    lines.push(say(
        format!("报告 {YEAR}：{} 个文件", files.len()),
        format!("report {YEAR}: {} files", files.len()),
    ));
    let check = crate::lifecycle::verify::verify_store(&ws, actor)?;
    if !check.ok() {
        return Err(Error::Invalid(format!(
            "verify-store fails on the demo workspace: {}",
            check
                .problems
                .iter()
                .map(|p| p.message.clone())
                .collect::<Vec<_>>()
                .join("; ")
        )));
    }
    lines.push(say(
        format!(
            "核对存储：日志 {} 条，文件 {} 个，均一致",
            check.entries, check.files_checked
        ),
        format!(
            "verify-store: {} journal entries, {} files checked",
            check.entries, check.files_checked
        ),
    ));
    pb.inc(1);
    pb.finish_and_clear();
    Ok(DemoLog {
        lines,
        reports: ws.reports_dir().join(YEAR.to_string()),
    })
}

/// The demo's appeal: 2018H1 published; another street plans the rectification of its
/// first ledger row; 拓东街道 appeals its first counted community (road works during
/// the survey), the office upholds it and waives the line (the period is evaluated,
/// rendered and republished as version 2, its review pack showing both).
fn appeal(ws: &Workspace, actor: &str) -> Result<Vec<String>> {
    let h1 = Period::Half(YEAR, 1);
    // A second run on the same workspace keeps what the first published and filed.
    if crate::publish::publication(ws, &crate::report::Subject::Period(h1))?.is_some() {
        return Ok(vec![say(
            format!("发布 {h1}：已发布，保留已有的申诉与整改台账"),
            format!("publish {h1}: already published; its appeals and ledger kept"),
        )]);
    }
    crate::publish::publish(ws, &crate::report::Subject::Period(h1), actor)?;
    let mut lines = vec![say(format!("发布 {h1}"), format!("publish {h1}"))];
    if let Some(r) = crate::appeals::ledger::rows(ws, Some(&h1.to_string()), None)?
        .into_iter()
        .find(|r| r.street_code != "530103001")
    {
        crate::appeals::ledger::update(
            ws,
            &r.id,
            &r.street_code,
            &crate::appeals::ledger::Update {
                status: "planned".into(),
                measures: "逐户走访听取意见，整治背街小巷环境卫生，每月通报进展".into(),
                responsible: "社区党总支书记".into(),
                deadline: format!("{}-12-31", YEAR),
                ..Default::default()
            },
            &r.street_name,
        )?;
        lines.push(say(
            format!("整改台账 {h1}：{} 制定整改措施", r.community_name),
            format!("ledger {h1}: {} planned", r.community_code),
        ));
    }
    let street = "530103001";
    let Some(row) = crate::appeals::published_lines(ws, &h1)?
        .unwrap_or_default()
        .into_iter()
        .find(|r| r.street_code == street && r.counts())
    else {
        return Ok(lines);
    };
    let a = crate::appeals::submit(
        ws,
        &crate::appeals::Submission {
            period: h1,
            street_code: street.into(),
            line: crate::appeals::Line::Community(row.community_code.clone()),
            reason: "测评期间该社区主干道封闭施工，入户受阻，受访者集中在施工路段".into(),
            attachments: Vec::new(),
        },
        "拓东街道",
        &crate::appeals::now(),
    )?;
    let ruled = crate::appeals::rule(
        ws,
        &a.id,
        &crate::appeals::RulingInput {
            upheld: true,
            remedy: "waive".into(),
            reason: "经核实，测评期间该社区主干道封闭施工属实，免除该项扣分".into(),
            ..Default::default()
        },
        actor,
        &|_, _| {},
    )?;
    let changed = ruled.ruling.map(|r| r.changed).unwrap_or_default();
    lines.push(say(
        format!(
            "申诉 {}：{}，维持申诉并重新发布：{changed}",
            a.id, row.community_name
        ),
        format!(
            "appeal {}: {} upheld, waived and republished: {changed}",
            a.id, row.community_code
        ),
    ));
    Ok(lines)
}

/// The demo's callbacks in `round`: one batch drawn with the recorded seed, called by
/// simulated callers (who know which questionnaires were never asked), recorded.
fn callbacks(
    ws: &Workspace,
    round: &RoundId,
    fabricated: &std::collections::BTreeSet<String>,
    actor: &str,
) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    if !crate::callbacks::batches(ws, round)?.is_empty() {
        lines.push(say(
            format!("回访 {round}：已有"),
            format!("callbacks {round}: present"),
        ));
        return Ok(lines);
    }
    let d = crate::lifecycle::draw_callbacks(ws, round, Some(&callback_seed(round)), actor)?;
    let (Some(batch), Some(list)) = (&d.batch, &d.list) else {
        return Ok(lines);
    };
    lines.push(say(
        format!(
            "回访 {round}：批次 {batch} 抽取 {} 名访问员的 {} 份问卷（预算 {} 份，比设计少 {} 份）",
            d.interviewers, d.drawn, d.budget, d.short
        ),
        format!(
            "callbacks {round}: batch {batch} drew {} questionnaires of {} interviewers (budget {}, {} calls short of the design)",
            d.drawn, d.interviewers, d.budget, d.short
        ),
    ));
    let filled = crate::simulate::callers(
        ws,
        round,
        &ws.root.join(list),
        fabricated,
        &callback_seed(round),
    )?;
    let results = ws
        .root
        .join(format!("surveys/deliveries/{round}-回访结果-{batch}.csv"));
    crate::fsutil::write_private_atomic(&results, &filled)?;
    let r = crate::callbacks::record(
        ws,
        round,
        &results,
        &format!("{round}-回访结果-{batch}.csv"),
        actor,
    )?;
    let c = crate::callbacks::round(ws, round)?;
    let flagged: Vec<&str> = c
        .interviewers
        .iter()
        .filter(|e| e.flagged())
        .map(|e| e.interviewer_id.as_str())
        .collect();
    lines.push(say(
        format!(
            "回访 {round}：导入 {} 条结果（接通核实 {} 份）；回访核实未通过：{}",
            r.accepted,
            c.reached,
            flagged.join("、")
        ),
        format!(
            "callbacks {round}: recorded {} results ({} reached); flagged by callbacks: {}",
            r.accepted,
            c.reached,
            flagged.join(", ")
        ),
    ));
    Ok(lines)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_one_character_indicator_id_draws_a_value() {
        let u = super::indicator_draw("530103001", 2, "x");
        assert!((0.0..=1.0).contains(&u));
        // The shipped ids keep their draws (the demo's bytes do not change).
        assert_ne!(
            super::indicator_draw("530103001", 2, "t1"),
            super::indicator_draw("530103001", 2, "t2")
        );
    }
}
