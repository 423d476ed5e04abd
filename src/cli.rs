//! The command line: one subcommand per pipeline verb. Exit codes: 0 done, 1 input
//! refused (or a check failed), 2 usage error (clap).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use crate::error::{Error, Result};
use crate::round::RoundId;
use crate::workspace::Workspace;

#[derive(Debug, Parser)]
#[command(
    name = "manyi",
    version,
    about = "满意 — resident-satisfaction survey and street assessment engine"
)]
pub struct Cli {
    /// Workspace directory (holds manyi.toml).
    #[arg(short = 'w', long = "workspace", global = true, default_value = ".")]
    pub workspace: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a workspace with the shipped Panlong frame and a scheme's rules.
    ///
    /// Example: manyi init /tmp/w --scheme panlong-2018
    Init {
        dir: PathBuf,
        /// panlong-2017 (one 30% round) or panlong-2018 (three rounds, full coverage).
        #[arg(long)]
        scheme: String,
        /// Use this frame CSV instead of the shipped Panlong frame.
        #[arg(long)]
        frame: Option<PathBuf>,
    },
    /// Draw a round's stratified random sample of communities.
    ///
    /// Example: manyi -w /tmp/w sample --round 2018-R1 --seed 20180401-lottery
    Sample {
        /// Round id, YEAR-Rn (2018-R2).
        #[arg(long)]
        round: String,
        /// The round's seed (any text, drawn publicly just before the round).
        #[arg(long)]
        seed: String,
    },
    /// Re-draw a round from its manifest and check the sample file against it.
    ///
    /// Example: manyi -w /tmp/w verify-sample --round 2018-R1
    VerifySample {
        #[arg(long)]
        round: String,
    },
    /// Ingest evaluators' deliveries (CSV in UTF-8/GBK, or XLSX) for a round.
    ///
    /// Every row is accepted or rejected with file, line, column and reason; a receipt
    /// and a rejects list are stored. Exit 0 when every file was read (even with
    /// rejected rows), 1 when a file was refused whole.
    ///
    /// Example: manyi ingest evaluator-b.csv evaluator-c.xlsx --round 2018-R1
    Ingest {
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
        /// Check the delivery and print what is wrong, storing nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Score a round from the store: community, street and item scores with SEs and CIs.
    ///
    /// Writes reports/<round>/community_scores.csv, street_scores.csv, item_scores.csv.
    /// Example: manyi score --round 2018-R1
    Score {
        #[arg(long)]
        round: String,
    },
    /// Evaluate streets for a quarter, half-year or year: satisfaction points from the
    /// period's rounds, task indicators from surveys/indicators/<period>.csv, and the
    /// deduction table. Writes reports/<period>/street_evaluation.csv and deductions.csv.
    ///
    /// Example: manyi evaluate --period 2018H1
    Evaluate {
        /// 2018Q2, 2018H1 or 2018.
        #[arg(long)]
        period: String,
    },
    /// Write a realistic simulated delivery for a round's sample (dry runs, load tests).
    ///
    /// Example: manyi simulate --round 2018-R1 --format gbk --out b.csv --fabricator
    Simulate {
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
        /// Add an interviewer who fabricates questionnaires.
        #[arg(long)]
        fabricator: bool,
        #[arg(long, default_value = "simulate")]
        seed: String,
    },
    /// Review tables (XLSX, CSV for Excel, Markdown), charts (PNG, SVG) and the PDF
    /// review pack for a period (after `evaluate`) or a round (after `score`).
    ///
    /// Example: manyi report --period 2018
    Report {
        #[arg(long, conflicts_with = "round", required_unless_present = "round")]
        period: Option<String>,
        #[arg(long)]
        round: Option<String>,
    },
    /// Build the full 2018 demo workspace (default: the current directory, which in the
    /// repository is the shipped demo workspace) and run the whole pipeline on it.
    ///
    /// Example: manyi demo /tmp/demo
    Demo { dir: Option<PathBuf> },
}

fn stdout_line(s: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{s}").map_err(|e| Error::io("<stdout>", e))
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Init { dir, scheme, frame } => {
            let ws = Workspace::init(&dir, &scheme, frame.as_deref())?;
            let frame = ws.frame()?;
            stdout_line(&format!(
                "created workspace {} (scheme {}, frame: {} streets, {} communities)",
                dir.display(),
                scheme,
                frame.streets.len(),
                frame.len()
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sample { round, seed } => {
            let ws = Workspace::open(&cli.workspace)?;
            let round: RoundId = round.parse()?;
            let (draw, manifest) = crate::sample::run_sample(&ws, &round, &seed)?;
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
        Command::Ingest {
            files,
            round,
            sheet,
            json,
            dry_run,
        } => {
            let ws = Workspace::open(&cli.workspace)?;
            let round: RoundId = round.parse()?;
            let opts = crate::ingest::Options {
                sheet,
                dry_run,
                progress: !json,
                ..Default::default()
            };
            let mut receipts = Vec::new();
            let mut refused = 0;
            for f in &files {
                match crate::ingest::ingest(&ws, &round, f, &opts) {
                    Ok(out) => {
                        if !json {
                            print_receipt(&out)?;
                        }
                        receipts.push(out.receipt);
                    }
                    Err(e) => {
                        refused += 1;
                        eprintln!("manyi: error: {} REFUSED, nothing stored: {e}", f.display());
                    }
                }
            }
            if json {
                let v = if files.len() == 1 {
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
        Command::Score { round } => {
            let ws = Workspace::open(&cli.workspace)?;
            let round: RoundId = round.parse()?;
            let rules = ws.rules()?;
            let frame = ws.frame()?;
            let scores = crate::score::rounds::score_rounds(
                &ws,
                &rules,
                &frame,
                &[round],
                &round.to_string(),
            )?;
            let files = scores.write(&ws)?;
            print_street_scores(&scores, rules.threshold.community_score)?;
            for f in files {
                stdout_line(&format!("wrote {}", f.display()))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Evaluate { period } => {
            let ws = Workspace::open(&cli.workspace)?;
            let period: crate::round::Period = period.parse()?;
            let ev = crate::evaluate::evaluate(&ws, &period)?;
            let files = ev.write(&ws)?;
            print_evaluation(&ev)?;
            for f in files {
                stdout_line(&format!("wrote {}", f.display()))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Simulate {
            round,
            format,
            out,
            streets,
            per_community,
            fabricator,
            seed,
        } => {
            let ws = Workspace::open(&cli.workspace)?;
            let round: RoundId = round.parse()?;
            let out = out.unwrap_or_else(|| {
                ws.root.join(format!(
                    "surveys/deliveries/{round}-{}.{}",
                    format.name(),
                    format.extension()
                ))
            });
            let opts = crate::simulate::Options {
                format,
                streets,
                per_community,
                fabricator,
                seed,
                id_prefix: format
                    .name()
                    .chars()
                    .next()
                    .unwrap_or('x')
                    .to_ascii_uppercase()
                    .to_string(),
            };
            let n = crate::simulate::simulate(&ws, &round, &out, &opts)?;
            stdout_line(&format!("wrote {} questionnaires to {}", n, out.display()))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { period, round } => {
            let ws = Workspace::open(&cli.workspace)?;
            let subject = match (period, round) {
                (Some(p), _) => crate::report::Subject::Period(p.parse()?),
                (None, Some(r)) => crate::report::Subject::Round(r.parse()?),
                (None, None) => return Err(Error::Invalid("give --period or --round".into())),
            };
            let files = crate::report::report(&ws, &subject)?;
            for f in &files {
                stdout_line(&format!("wrote {}", f.display()))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { dir } => {
            let dir = dir.unwrap_or(cli.workspace);
            let log = crate::demo::run(&dir)?;
            for l in &log.lines {
                stdout_line(l)?;
            }
            stdout_line(&format!(
                "demo workspace: {}; the year's reports are in {}",
                dir.display(),
                log.reports.display()
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::VerifySample { round } => {
            let ws = Workspace::open(&cli.workspace)?;
            let round: RoundId = round.parse()?;
            let v = crate::sample::verify(&ws, &round)?;
            for n in &v.notes {
                stdout_line(&format!("NOTE {n}"))?;
            }
            if v.ok() {
                stdout_line(&format!(
                    "sample {round} verified: {} rows match the re-draw from the manifest",
                    v.rows
                ))?;
                Ok(ExitCode::SUCCESS)
            } else {
                for d in &v.differences {
                    stdout_line(&format!("MISMATCH {d}"))?;
                }
                stdout_line(&format!(
                    "sample {round} does NOT match its manifest ({} difference(s))",
                    v.differences.len()
                ))?;
                Ok(ExitCode::from(1))
            }
        }
    }
}

/// Shown rejected rows at most; the rejects file has them all.
const SHOWN_REJECTS: usize = 30;

fn print_receipt(out: &crate::ingest::Outcome) -> Result<()> {
    let r = &out.receipt;
    if r.status == crate::ingest::ReceiptStatus::AlreadyIngested {
        return stdout_line(&format!(
            "{}: already ingested for round {} (same content, sha256 {}): nothing to do; receipt {}",
            r.file,
            r.round,
            r.sha256.get(..16).unwrap_or(&r.sha256),
            r.receipt_file
        ));
    }
    stdout_line(&format!(
        "{} ({}{}{}): {} rows read, {} accepted ({} valid, {} invalid), {} rejected",
        r.file,
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
        r.rows_read,
        r.accepted,
        r.valid,
        r.invalid,
        r.rejected
    ))?;
    for rej in out.rejects.iter().take(SHOWN_REJECTS) {
        stdout_line(&format!(
            "  REJECTED {}, line {}{}: {} [{}]",
            r.file,
            rej.line,
            if rej.column.is_empty() {
                String::new()
            } else {
                format!(", column {}", rej.column)
            },
            rej.reason,
            rej.code
        ))?;
    }
    if out.rejects.len() > SHOWN_REJECTS {
        stdout_line(&format!(
            "  … and {} more",
            out.rejects.len() - SHOWN_REJECTS
        ))?;
    }
    if !r.ignored_columns.is_empty() {
        stdout_line(&format!(
            "  ignored columns: {}",
            r.ignored_columns.join(", ")
        ))?;
    }
    if !r.hashed_columns.is_empty() {
        stdout_line(&format!(
            "  personal data stored only as salted hashes: {}",
            r.hashed_columns.join(", ")
        ))?;
    }
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header([
        "街道",
        "社区",
        "代码",
        "本次接收",
        "本次有效",
        "本轮有效",
        "样本",
    ]);
    for c in &r.communities {
        t.add_row([
            c.street_name.clone(),
            c.community_name.clone(),
            c.community_code.clone(),
            c.accepted.to_string(),
            c.valid.to_string(),
            c.round_valid.to_string(),
            if c.insufficient {
                "不足 insufficient".into()
            } else {
                "ok".to_string()
            },
        ]);
    }
    stdout_line(&t.to_string())?;
    let q = &r.quality;
    stdout_line(&format!(
        "  quality flags: {} speeders, {} straight-lined, {} duplicate patterns, {} with too few answers",
        q.speeders, q.straightliners, q.duplicate_patterns, q.too_few_answers
    ))?;
    for f in &q.flagged_interviewers {
        stdout_line(&format!(
            "  INTERVIEWER {} ({} questionnaires): {}",
            f.interviewer_id,
            f.questionnaires,
            f.reasons.join("; ")
        ))?;
    }
    stdout_line(&format!(
        "  receipt {}; rejects {}",
        r.receipt_file, r.rejects_file
    ))
}

fn fmt1(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.1}")).unwrap_or_else(|| "—".into())
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
        "街道",
        "得分",
        "95% CI",
        "社区(测/抽/总)",
        "有效问卷",
        "满意率",
        format!("低于{threshold}").as_str(),
        "说明",
    ]);
    for s in rows {
        let e = s.est.as_ref();
        t.add_row([
            s.street_name.clone(),
            fmt1(e.map(|e| e.mean)),
            e.and_then(|e| e.ci)
                .map(|(l, h)| format!("{l:.1}–{h:.1}"))
                .unwrap_or_else(|| "—".into()),
            format!("{}/{}/{}", s.n_communities, s.n_sampled, s.population),
            s.n_respondents.to_string(),
            s.satisfaction_rate
                .map(|r| format!("{:.1}%", r * 100.0))
                .unwrap_or_else(|| "—".into()),
            s.communities_below.to_string(),
            s.note.clone(),
        ]);
    }
    stdout_line(&format!(
        "scores {} (rounds {}), {} valid questionnaires",
        scores.label,
        scores.rounds.join(", "),
        scores.respondents_valid
    ))?;
    stdout_line(&t.to_string())
}

pub fn print_evaluation(ev: &crate::evaluate::Evaluation) -> Result<()> {
    stdout_line(&format!(
        "evaluation {}: satisfaction from {} ({}); indicators: {}",
        ev.period,
        if ev.rounds.is_empty() {
            "no round".to_string()
        } else {
            ev.rounds.join(", ")
        },
        ev.satisfaction_basis,
        ev.indicators_source
    ))?;
    let mut rows: Vec<_> = ev.streets.iter().collect();
    rows.sort_by_key(|s| (s.rank.unwrap_or(usize::MAX), s.street_code.clone()));
    let ded: std::collections::BTreeMap<&str, &crate::evaluate::StreetDeduction> = ev
        .deductions
        .iter()
        .map(|d| (d.street_code.as_str(), d))
        .collect();
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    let year = matches!(ev.period, crate::round::Period::Year(_));
    if year {
        t.set_header([
            "名次",
            "街道",
            "满意度",
            "上半年",
            "下半年",
            "总分",
            "扣分",
            "说明",
        ]);
    } else {
        t.set_header([
            "名次",
            "街道",
            "满意度",
            "满意度得分",
            "任务得分",
            "总分",
            "扣分",
            "说明",
        ]);
    }
    for s in rows {
        let d = ded
            .get(s.street_code.as_str())
            .map(|d| format!("{:.1}", d.total))
            .unwrap_or_default();
        let (c3, c4) = if year {
            let (a, b) = s.halves.unwrap_or((None, None));
            (fmt1(a), fmt1(b))
        } else {
            (fmt1(s.satisfaction_points), fmt1(s.task_points))
        };
        let mut note = s.note.clone();
        if !s.missing.is_empty() {
            if !note.is_empty() {
                note.push_str("; ");
            }
            note.push_str(&format!("未报送 missing: {}", s.missing.join(" ")));
        }
        t.add_row([
            s.rank.map(|r| r.to_string()).unwrap_or_else(|| "—".into()),
            s.street_name.clone(),
            fmt1(s.satisfaction_score),
            c3,
            c4,
            fmt1(s.total),
            d,
            note,
        ]);
    }
    stdout_line(&t.to_string())?;
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header([
        "街道",
        "低于阈值的社区 (得分, 95% CI)",
        "社区扣分",
        "街道得分",
        "街道扣分",
        "合计",
    ]);
    for d in &ev.deductions {
        let list: Vec<String> = d
            .communities
            .iter()
            .map(|c| {
                format!(
                    "{}{} {:.1} ({}){}",
                    if c.counted { "" } else { "(" },
                    c.community_name,
                    c.score,
                    c.ci.map(|(l, h)| format!("{l:.1}–{h:.1}"))
                        .unwrap_or_else(|| "—".into()),
                    if c.counted { "" } else { ", not counted)" }
                )
            })
            .collect();
        t.add_row([
            d.street_name.clone(),
            list.join("; "),
            format!("{:.1} (cap {:.1})", d.community_points, d.cap),
            fmt1(d.street_score),
            format!("{:.1}", d.street_points),
            format!("{:.1}", d.total),
        ]);
    }
    if !ev.deductions.is_empty() {
        stdout_line("扣分 deductions (annual comprehensive target assessment):")?;
        stdout_line(&t.to_string())?;
    }
    Ok(())
}
