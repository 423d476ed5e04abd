//! `manyi ingest`: read evaluators' deliveries into the store, with a receipt each.

use std::path::PathBuf;
use std::process::ExitCode;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use super::stdout_line;
use crate::error::{Error, Result};
use crate::messages::t;
use crate::round::RoundId;
use crate::workspace::Workspace;

/// Ingest evaluators' deliveries (CSV in UTF-8/GBK, or XLSX) for a round.
///
/// Every row is accepted or rejected with file, line, column and reason; a receipt
/// and a rejects list are stored. Exit 0 when every file was read (even with
/// rejected rows), 1 when a file was refused whole.
///
/// Example: manyi ingest evaluator-b.csv evaluator-c.xlsx --round 2018-R1
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[arg(long)]
    round: String,
    /// XLSX sheet to read (default: the first).
    #[arg(long)]
    sheet: Option<String>,
    /// Print the receipt(s) as JSON on stdout and nothing else there.
    #[arg(long)]
    json: bool,
    /// Check the delivery and print what is wrong, storing nothing in the workspace;
    /// the rejects list goes to --rejects-out (default: <delivery>.rejects.csv).
    #[arg(long)]
    dry_run: bool,
    /// Where a dry run writes its rejects list.
    #[arg(long, requires = "dry_run")]
    rejects_out: Option<PathBuf>,
    /// The evaluator's organisation (recorded on the delivery).
    #[arg(long)]
    evaluator: Option<String>,
    /// A stored delivery this file corrects (its id, or 8+ first hex digits; see
    /// `manyi deliveries`): withdrawn and replaced in one commit, or neither.
    #[arg(long)]
    replaces: Option<String>,
}

pub fn run(ws: &Workspace, a: Args) -> Result<ExitCode> {
    let round: RoundId = a.round.parse()?;
    let assigned = match &a.evaluator {
        Some(org) => crate::accounts::assigned_if_any(ws, &round, org)?,
        None => None,
    };
    let opts = crate::ingest::Options {
        assigned,
        sheet: a.sheet,
        dry_run: a.dry_run,
        rejects_out: a.rejects_out,
        progress: !a.json,
        evaluator: a.evaluator,
        replaces: a.replaces.clone(),
        actor: Some(super::actor()),
        ..Default::default()
    };
    if a.replaces.is_some() && a.files.len() != 1 {
        return Err(Error::Invalid("--replaces takes one corrected file".into()));
    }
    let mut receipts = Vec::new();
    let mut refused = 0;
    for f in &a.files {
        match crate::ingest::ingest(ws, &round, f, &opts) {
            Ok(out) => {
                if !a.json {
                    print_receipt(&out, ws.rules()?.validity.min_valid_per_community)?;
                }
                receipts.push(out.receipt);
            }
            Err(e) => {
                refused += 1;
                eprintln!(
                    "manyi: {}: {} {}: {e}",
                    t("错误", "error"),
                    f.display(),
                    t("整份拒收,未保存任何内容", "REFUSED, nothing stored")
                );
            }
        }
    }
    if a.json {
        let v = if a.files.len() == 1 {
            serde_json::to_string_pretty(&receipts.first())
        } else {
            serde_json::to_string_pretty(&receipts)
        };
        stdout_line(&v.map_err(|e| Error::Invalid(e.to_string()))?)?;
    }
    Ok(if refused > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Shown rejected rows at most; the rejects file has them all.
const SHOWN_REJECTS: usize = 30;

fn print_receipt(out: &crate::ingest::Outcome, min_valid: usize) -> Result<()> {
    let r = &out.receipt;
    if r.status == crate::ingest::ReceiptStatus::AlreadyIngested {
        return stdout_line(&match crate::messages::lang() {
            crate::messages::Lang::Zh => format!(
                "{}:内容相同的文件已于此前导入 {} 轮(sha256 {}),无需再次导入;回执 {}",
                r.file,
                r.round,
                r.sha256.get(..16).unwrap_or(&r.sha256),
                r.receipt_file
            ),
            crate::messages::Lang::En => format!(
                "{}: already ingested for round {} (same content, sha256 {}): nothing to do; receipt {}",
                r.file,
                r.round,
                r.sha256.get(..16).unwrap_or(&r.sha256),
                r.receipt_file
            ),
        });
    }
    stdout_line(&r.summary(min_valid))?;
    stdout_line(&format!(
        "  {}: {}{}{}",
        t("格式", "format"),
        r.format,
        if r.format == "xlsx" {
            String::new()
        } else {
            format!(" {}", r.encoding)
        },
        if r.delimiter.is_empty() {
            String::new()
        } else {
            format!(", {}", r.delimiter)
        },
    ))?;
    for rej in out.rejects.iter().take(SHOWN_REJECTS) {
        for f in &rej.faults {
            stdout_line(&format!(
                "  {} {}, {} {}{}: {} [{}]",
                t("拒收", "REJECTED"),
                r.file,
                t("第", "line"),
                rej.line,
                if f.column.is_empty() {
                    t(" 行", "").to_string()
                } else {
                    format!("{}{}", t(" 行,列 ", ", column "), f.column)
                },
                f.fault.text(),
                f.fault.code()
            ))?;
        }
    }
    if out.rejects.len() > SHOWN_REJECTS {
        stdout_line(&format!(
            "  {} {} {}",
            t("……另有", "… and"),
            out.rejects.len() - SHOWN_REJECTS,
            t(
                "行被拒收,见拒收清单",
                "more rejected rows, in the rejects list"
            )
        ))?;
    }
    if !r.ignored_columns.is_empty() {
        stdout_line(&format!(
            "  {}: {}",
            t("未使用的列", "ignored columns"),
            r.ignored_columns.join(", ")
        ))?;
    }
    if !r.hashed_columns.is_empty() {
        stdout_line(&format!(
            "  {}: {}",
            t(
                "个人信息只以加盐哈希保存",
                "personal data stored only as salted hashes"
            ),
            r.hashed_columns.join(", ")
        ))?;
    }
    let mut tb = Table::new();
    tb.load_style(UTF8_FULL_CONDENSED);
    tb.set_header([
        t("街道", "street"),
        t("社区", "community"),
        t("代码", "code"),
        t("本次接收", "accepted now"),
        t("本次有效", "valid now"),
        t("本轮有效", "valid in round"),
        t("样本", "sample"),
    ]);
    for c in &r.communities {
        tb.add_row([
            c.street_name.clone(),
            c.community_name.clone(),
            c.community_code.clone(),
            c.accepted.to_string(),
            c.valid.to_string(),
            c.round_valid.to_string(),
            if c.insufficient {
                format!("{} < {min_valid}", t("不足", "insufficient"))
            } else {
                t("足够", "enough").to_string()
            },
        ]);
    }
    stdout_line(&tb.to_string())?;
    let q = &r.quality;
    stdout_line(&match crate::messages::lang() {
        crate::messages::Lang::Zh => format!(
            "  质量标记:速答 {} 份,直线作答 {} 份,重复答案模式 {} 份,作答题数过少 {} 份",
            q.speeders, q.straightliners, q.duplicate_patterns, q.too_few_answers
        ),
        crate::messages::Lang::En => format!(
            "  quality flags: {} speeders, {} straight-lined, {} duplicate patterns, {} with too few answers",
            q.speeders, q.straightliners, q.duplicate_patterns, q.too_few_answers
        ),
    })?;
    if let Some(m) = q.min_interview_s {
        stdout_line(&match crate::messages::lang() {
            crate::messages::Lang::Zh => {
                format!(
                    "  按规则无效:访问时长不足 {m} 秒 {} 份(规则 validity.min_interview_s)",
                    q.too_short
                )
            }
            crate::messages::Lang::En => format!(
                "  invalid by rule: {} interviews shorter than {m} s (rule validity.min_interview_s)",
                q.too_short
            ),
        })?;
    }
    for f in &q.flagged_interviewers {
        stdout_line(&format!(
            "  {} {} ({} {}): {}",
            t("访问员", "INTERVIEWER"),
            f.interviewer_id,
            f.questionnaires,
            t("份问卷", "questionnaires"),
            f.reasons_text()
        ))?;
    }
    if !q.flagged_interviewers.is_empty() || q.straightliners + q.speeders > 0 {
        stdout_line(&format!(
            "  {} `manyi flags --round {}`",
            t(
                "以上为本文件内的比较;本轮全部交付的标记与处理决定见",
                "compared within this file; the round's flags over all its deliveries, and the decisions: "
            ),
            r.round
        ))?;
    }
    if r.receipt_file.is_empty() {
        stdout_line(&format!(
            "  {} {}",
            t("拒收清单", "rejects list"),
            r.rejects_file
        ))
    } else {
        stdout_line(&format!(
            "  {} {}",
            t("交付编号", "delivery id"),
            crate::ingest::short(&r.sha256)
        ))?;
        stdout_line(&format!(
            "  {} {}; {} {}",
            t("回执", "receipt"),
            r.receipt_file,
            t("拒收清单", "rejects list"),
            r.rejects_file
        ))
    }
}
