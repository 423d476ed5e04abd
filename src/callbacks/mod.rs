//! Callbacks (回访): the office phones some of each interviewer's respondents to
//! verify that the interview took place, and what it hears becomes evidence on the
//! interviewer (docs/callbacks.md).
//!
//! `draw` draws a batch (seeded, risk-based, within the round's budget) and writes
//! its call list; `record` stores the callers' results; `round` adds them up per
//! interviewer with the test of `design`. The store keeps, per round, under
//! `surveys/callbacks/<round>/`: `batches/<batch>.json` (the manifest: seed, design,
//! who was drawn and why; no phone numbers) and `results/<n>-<sha>.json` (each
//! recorded file's accepted rows). Phone numbers in clear are only in the call lists,
//! `reports/<round>/callbacks/<batch>.csv|xlsx`, private to the office.

pub mod design;
mod draw;
mod record;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::round::RoundId;
use crate::workspace::Workspace;
pub use design::{Design, Standing};
pub use draw::{DrawOutcome, Need, allocate, draw, key};
pub use record::{RecordOutcome, RecordReject, record, stored_answers};

/// What a callback found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The respondent confirms the interview (已核实).
    Confirmed,
    /// The person says no interview took place (否认受访).
    Denied,
    /// Nobody answers (无法接通).
    Unreachable,
    /// The person will not talk (拒访).
    Refused,
    /// No such number, or not the respondent's (空号错号).
    WrongNumber,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Confirmed,
        Outcome::Denied,
        Outcome::Unreachable,
        Outcome::Refused,
        Outcome::WrongNumber,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Outcome::Confirmed => "confirmed",
            Outcome::Denied => "denied",
            Outcome::Unreachable => "unreachable",
            Outcome::Refused => "refused",
            Outcome::WrongNumber => "wrong-number",
        }
    }

    pub fn text_zh(self) -> &'static str {
        match self {
            Outcome::Confirmed => "已核实",
            Outcome::Denied => "否认受访",
            Outcome::Unreachable => "无法接通",
            Outcome::Refused => "拒访",
            Outcome::WrongNumber => "空号错号",
        }
    }

    /// Reads an outcome as callers write it (the code, the Chinese name, a few
    /// common variants).
    pub fn parse(s: &str) -> Option<Outcome> {
        let s = crate::ingest::normalise::clean(s);
        let l = s.to_ascii_lowercase().replace('_', "-");
        Some(match l.as_str() {
            "confirmed" | "已核实" | "核实" | "属实" | "确认" => Outcome::Confirmed,
            "denied" | "否认受访" | "否认" | "未受访" => Outcome::Denied,
            "unreachable" | "无法接通" | "未接通" | "无人接听" | "关机" => {
                Outcome::Unreachable
            }
            "refused" | "拒访" | "拒绝" | "拒接" => Outcome::Refused,
            "wrong-number" | "wrong number" | "空号错号" | "空号" | "错号" | "号码错误" => {
                Outcome::WrongNumber
            }
            _ => return None,
        })
    }

    /// Verified: reached someone who says whether the interview took place.
    pub fn verified(self) -> bool {
        matches!(
            self,
            Outcome::Confirmed | Outcome::Denied | Outcome::WrongNumber
        )
    }

    /// A failed verification.
    pub fn failed(self) -> bool {
        matches!(self, Outcome::Denied | Outcome::WrongNumber)
    }
}

/// One drawn questionnaire, as its batch's manifest keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Drawn {
    pub respondent_id: String,
    pub interviewer_id: String,
    pub community_code: String,
    pub interview_date: String,
    /// The delivery (sha256) it was stored from.
    pub delivery: String,
    /// SHA-256 of "seed\nround\nbatch\nrespondent_id": the order within an
    /// interviewer's questionnaires (the smallest keys are drawn).
    pub key: String,
}

/// Why an interviewer got the calls he got in a batch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Allocation {
    pub interviewer_id: String,
    /// Statistical evidence on him when drawn (a flag of the interviewer comparison).
    pub flagged: bool,
    /// Verified callbacks and failures before this batch.
    pub verified_before: u64,
    pub failed_before: u64,
    /// Drawn earlier and not yet recorded.
    pub pending: u64,
    /// The verified callbacks the design asked for, and the calls that means.
    pub verified_wanted: u64,
    pub calls_wanted: u64,
    /// Questionnaires drawn in this batch (less than wanted when he has no more, or
    /// the budget ran out).
    pub drawn: u64,
}

/// A batch's manifest: enough to check every drawn questionnaire from the seed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Batch {
    /// The layout of this file (1).
    pub version: u32,
    pub round: String,
    /// C1, C2… in order.
    pub batch: String,
    pub seed: String,
    pub drawn_at: String,
    pub actor: String,
    pub design: Design,
    /// Questionnaires of the round's active deliveries when drawn.
    pub round_questionnaires: u64,
    /// The round's budget (calls over all batches) and what earlier batches used.
    pub budget: u64,
    pub used_before: u64,
    /// The round's active deliveries (sha256) the draw read.
    pub deliveries: Vec<String>,
    /// Items to re-ask (question ids), the same for the whole batch.
    pub reask: Vec<String>,
    pub allocation: Vec<Allocation>,
    pub drawn: Vec<Drawn>,
}

/// One callback's result as recorded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Result1 {
    pub respondent_id: String,
    pub batch: String,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub caller: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub called_at: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
    /// Items re-asked with an answer, and how many agree with the stored answer.
    #[serde(default)]
    pub reasked: u64,
    #[serde(default)]
    pub agreed: u64,
}

/// One recorded results file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Recorded {
    pub version: u32,
    pub round: String,
    pub file_name: String,
    pub sha256: String,
    pub recorded_at: String,
    pub actor: String,
    pub rows: Vec<Result1>,
}

/// An interviewer's callbacks so far.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct InterviewerCallbacks {
    pub interviewer_id: String,
    pub drawn: u64,
    /// Drawn questionnaires with a recorded result.
    pub called: u64,
    /// Verified (confirmed, denied or wrong number).
    pub reached: u64,
    pub confirmed: u64,
    pub denied: u64,
    pub wrong_numbers: u64,
    pub unreachable: u64,
    pub refused: u64,
    /// Failed verifications (denied + wrong numbers) and their share of the reached,
    /// with its exact 95% interval (Clopper–Pearson).
    pub failed: u64,
    #[serde(default)]
    pub failure_share: Option<f64>,
    #[serde(default)]
    pub interval: Option<(f64, f64)>,
    /// The honest baseline he is tested against, and how often an honest interviewer
    /// fails this often (exact binomial).
    pub baseline: f64,
    #[serde(default)]
    pub p_value: Option<f64>,
    /// Re-asked items answered, and how many agree with the stored answers.
    pub reasked: u64,
    pub agreed: u64,
    pub standing: Option<Standing>,
    /// What it means, in words (Chinese).
    pub words: String,
    /// The batches his callbacks were drawn in.
    pub batches: Vec<String>,
}

impl InterviewerCallbacks {
    pub fn flagged(&self) -> bool {
        self.standing == Some(Standing::Flagged)
    }
}

/// A round's callbacks added up.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RoundCallbacks {
    pub round: String,
    pub batches: Vec<BatchInfo>,
    pub drawn: u64,
    /// Drawn questionnaires with a recorded result, and how many were verified.
    pub called: u64,
    pub reached: u64,
    /// The round's questionnaires and its budget of calls.
    pub round_questionnaires: u64,
    pub budget: u64,
    /// The design now (the baseline and reach rate seen so far).
    pub design: Option<Design>,
    pub interviewers: Vec<InterviewerCallbacks>,
}

/// A batch in a round's overview.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BatchInfo {
    pub batch: String,
    pub seed: String,
    pub drawn_at: String,
    pub actor: String,
    pub drawn: u64,
    /// The call lists (relative to the workspace).
    pub list: String,
    pub xlsx: String,
}

/// `surveys/callbacks/<round>/`.
pub fn round_dir(ws: &Workspace, round: &RoundId) -> PathBuf {
    ws.root.join("surveys/callbacks").join(round.to_string())
}

/// `reports/<round>/callbacks/`: the call lists.
pub fn lists_dir(ws: &Workspace, round: &RoundId) -> PathBuf {
    ws.reports_dir().join(round.to_string()).join("callbacks")
}

fn json_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    match std::fs::read_dir(dir) {
        Ok(rd) => {
            for e in rd {
                let p = e.map_err(|e| Error::io(dir, e))?.path();
                if p.extension().is_some_and(|x| x == "json") {
                    out.push(p);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(dir, e)),
    }
    out.sort();
    Ok(out)
}

fn read_json<T: serde::de::DeserializeOwned>(p: &Path) -> Result<T> {
    serde_json::from_slice(&crate::fsutil::read(p)?)
        .map_err(|e| Error::file(p.display().to_string(), format!("not readable: {e}")))
}

/// The round's batches, in order (C1, C2…).
pub fn batches(ws: &Workspace, round: &RoundId) -> Result<Vec<Batch>> {
    let mut v: Vec<Batch> = json_files(&round_dir(ws, round).join("batches"))?
        .iter()
        .map(|p| read_json(p))
        .collect::<Result<_>>()?;
    v.sort_by_key(|b| {
        b.batch
            .trim_start_matches('C')
            .parse::<u64>()
            .unwrap_or(u64::MAX)
    });
    Ok(v)
}

/// The round's recorded results files, in the order they were recorded.
pub fn recorded(ws: &Workspace, round: &RoundId) -> Result<Vec<Recorded>> {
    json_files(&round_dir(ws, round).join("results"))?
        .iter()
        .map(|p| read_json(p))
        .collect()
}

/// What the flags of a round depend on from its callbacks: SHA-256 over its files'
/// names and sizes ("" when the round has none). Both kinds are written once and never
/// changed (`write_new_atomic`; a results file is named by its source's hash), so the
/// names say what they hold: every staff page asks, and this reads no content.
pub fn digest(ws: &Workspace, round: &RoundId) -> Result<String> {
    let dir = round_dir(ws, round);
    let mut h = String::new();
    for sub in ["batches", "results"] {
        for p in json_files(&dir.join(sub))? {
            let size = std::fs::metadata(&p).map_err(|e| Error::io(&p, e))?.len();
            h.push_str(&format!(
                "{sub}/{} {size}\n",
                // ok: json_files lists files, which always have a name
                p.file_name()
                    .map(|f| f.to_string_lossy())
                    .unwrap_or_default(),
            ));
        }
    }
    Ok(if h.is_empty() {
        String::new()
    } else {
        crate::fsutil::sha256_hex(h.as_bytes())
    })
}

/// Every round's callbacks digest, for a key over the whole workspace.
pub fn digest_all(ws: &Workspace) -> Result<String> {
    let root = ws.root.join("surveys/callbacks");
    let mut h = String::new();
    let rd = match std::fs::read_dir(&root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(String::new()),
        Err(e) => return Err(Error::io(&root, e)),
    };
    let mut names: Vec<String> = Vec::new();
    for e in rd {
        names.push(
            e.map_err(|e| Error::io(&root, e))?
                .file_name()
                .to_string_lossy()
                .into_owned(),
        );
    }
    names.sort();
    for n in names {
        if let Ok(r) = n.parse::<RoundId>() {
            h.push_str(&format!("{n} {}\n", digest(ws, &r)?));
        }
    }
    Ok(crate::fsutil::sha256_hex(h.as_bytes()))
}

/// The latest recorded result of every drawn respondent, by respondent id.
fn latest(recorded: &[Recorded]) -> BTreeMap<&str, &Result1> {
    let mut out = BTreeMap::new();
    for f in recorded {
        for r in &f.rows {
            out.insert(r.respondent_id.as_str(), r);
        }
    }
    out
}

/// The design now for a round: the rules' honest failure share and reach rate until
/// the round's own results say more (from 30 verified callbacks and 20 calls).
pub fn design_now(
    rules: &crate::rules::Rules,
    batches: &[Batch],
    recorded: &[Recorded],
) -> (Design, BTreeMap<String, (u64, u64)>) {
    let c = &rules.callbacks;
    let drawn_by: BTreeMap<&str, &str> = batches
        .iter()
        .flat_map(|b| b.drawn.iter())
        .map(|d| (d.respondent_id.as_str(), d.interviewer_id.as_str()))
        .collect();
    let mut per: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let (mut calls, mut reached) = (0u64, 0u64);
    for r in latest(recorded).values() {
        let Some(iv) = drawn_by.get(r.respondent_id.as_str()) else {
            continue;
        };
        calls += 1;
        if r.outcome.verified() {
            reached += 1;
            let e = per.entry(iv.to_string()).or_default();
            e.0 += 1;
            e.1 += r.outcome.failed() as u64;
        }
    }
    let reach = if calls >= 20 {
        (reached as f64 / calls as f64).max(0.2)
    } else {
        c.reach_rate
    };
    let prior = Design::new(
        c.honest_failure,
        c.fabricated_share,
        c.alpha,
        c.power,
        reach,
    );
    // The round's honest baseline: failures among interviewers the prior does not flag.
    let (v, f) = per
        .values()
        .filter(|(v, f)| prior.standing(*v, *f) != Standing::Flagged)
        .fold((0, 0), |a, (v, f)| (a.0 + v, a.1 + f));
    let p0 = if v >= 30 {
        (f as f64 / v as f64).max(c.honest_failure)
    } else {
        c.honest_failure
    };
    (
        Design::new(p0, c.fabricated_share, c.alpha, c.power, reach),
        per,
    )
}

/// A round's callbacks per interviewer drawn, with the test against the round's
/// honest baseline.
pub fn round(ws: &Workspace, round: &RoundId) -> Result<RoundCallbacks> {
    let rules = ws.rules()?;
    let batches = batches(ws, round)?;
    let recorded = recorded(ws, round)?;
    let mut out = evaluate(&rules, round, &batches, &recorded);
    for b in &mut out.batches {
        b.list = ws.rel(&list_path(ws, round, &b.batch, "csv"));
        b.xlsx = ws.rel(&list_path(ws, round, &b.batch, "xlsx"));
    }
    Ok(out)
}

/// A round's callbacks added up from its batches and recorded results (the call
/// lists' paths left empty): what `round` answers, without the workspace.
pub fn evaluate(
    rules: &crate::rules::Rules,
    round: &RoundId,
    batches: &[Batch],
    recorded: &[Recorded],
) -> RoundCallbacks {
    let (design, _) = design_now(rules, batches, recorded);
    let last = latest(recorded);
    let mut per: BTreeMap<&str, InterviewerCallbacks> = BTreeMap::new();
    for b in batches {
        for d in &b.drawn {
            let e = per.entry(d.interviewer_id.as_str()).or_default();
            e.drawn += 1;
            if !e.batches.contains(&b.batch) {
                e.batches.push(b.batch.clone());
            }
            let Some(r) = last.get(d.respondent_id.as_str()) else {
                continue;
            };
            e.called += 1;
            e.reached += r.outcome.verified() as u64;
            match r.outcome {
                Outcome::Confirmed => e.confirmed += 1,
                Outcome::Denied => e.denied += 1,
                Outcome::Unreachable => e.unreachable += 1,
                Outcome::Refused => e.refused += 1,
                Outcome::WrongNumber => e.wrong_numbers += 1,
            }
            e.reasked += r.reasked;
            e.agreed += r.agreed;
        }
    }
    // Each interviewer against the baseline of the others (his own failures left out
    // of it), never below the rules' share.
    let c = &rules.callbacks;
    let prior = Design::new(
        c.honest_failure,
        c.fabricated_share,
        c.alpha,
        c.power,
        design.reach_rate,
    );
    let honest: Vec<(&str, u64, u64)> = per
        .iter()
        .map(|(k, e)| (*k, e.reached, e.denied + e.wrong_numbers))
        .filter(|(_, v, f)| prior.standing(*v, *f) != Standing::Flagged)
        .collect();
    let (tv, tf) = honest.iter().fold((0, 0), |a, x| (a.0 + x.1, a.1 + x.2));
    let mut interviewers = Vec::new();
    for (k, mut e) in per {
        e.interviewer_id = k.to_string();
        e.failed = e.denied + e.wrong_numbers;
        let (mut v, mut f) = (tv, tf);
        if let Some(own) = honest.iter().find(|x| x.0 == k) {
            v -= own.1;
            f -= own.2;
        }
        let p0 = if v >= 30 {
            (f as f64 / v as f64).max(c.honest_failure)
        } else {
            c.honest_failure
        };
        let d = Design::new(p0, c.fabricated_share, c.alpha, c.power, design.reach_rate);
        e.baseline = p0;
        if e.reached > 0 {
            e.failure_share = Some(e.failed as f64 / e.reached as f64);
            e.interval = crate::estimators::clopper_pearson(e.failed, e.reached, 0.95);
            e.p_value = Some(d.p_value(e.reached, e.failed));
        }
        e.standing = Some(d.standing(e.reached, e.failed));
        e.words = words(&e);
        interviewers.push(e);
    }
    let round_questionnaires = batches.last().map_or(0, |b| b.round_questionnaires);
    RoundCallbacks {
        round: round.to_string(),
        batches: batches
            .iter()
            .map(|b| BatchInfo {
                batch: b.batch.clone(),
                seed: b.seed.clone(),
                drawn_at: b.drawn_at.clone(),
                actor: b.actor.clone(),
                drawn: b.drawn.len() as u64,
                list: String::new(),
                xlsx: String::new(),
            })
            .collect(),
        drawn: interviewers.iter().map(|e| e.drawn).sum(),
        called: interviewers.iter().map(|e| e.called).sum(),
        reached: interviewers.iter().map(|e| e.reached).sum(),
        round_questionnaires,
        budget: batches.last().map_or(0, |b| b.budget),
        design: (!batches.is_empty()).then_some(design),
        interviewers,
    }
}

/// `reports/<round>/callbacks/<batch>.<ext>`.
pub fn list_path(ws: &Workspace, round: &RoundId, batch: &str, ext: &str) -> PathBuf {
    lists_dir(ws, round).join(format!("{batch}.{ext}"))
}

/// What an interviewer's callbacks mean, for the office (Chinese).
fn words(e: &InterviewerCallbacks) -> String {
    let pct = |x: f64| format!("{:.0}%", x * 100.0);
    let head = if e.called == 0 {
        format!("已抽取 {} 份问卷回访，尚无结果", e.drawn)
    } else {
        format!(
            "回访 {} 份，接通核实 {} 份：{} 份确认受访，{} 份否认受访，{} 份空号错号",
            e.called, e.reached, e.confirmed, e.denied, e.wrong_numbers
        )
    };
    let tail = match (e.standing, e.interval) {
        (Some(Standing::Flagged), Some((lo, hi))) => format!(
            "。核实失败比例 {}（95% 区间 {}–{}），明显高于如实访问的访问员（约 {}）",
            pct(e.failure_share.unwrap_or(0.0)),
            pct(lo),
            pct(hi),
            pct(e.baseline)
        ),
        (Some(Standing::Cleared), _) => "。核实结果与如实访问相符，无需继续回访".to_string(),
        (Some(Standing::Open), Some((lo, hi))) => format!(
            "。核实失败比例 {}（95% 区间 {}–{}），尚不能下结论：需继续回访",
            pct(e.failure_share.unwrap_or(0.0)),
            pct(lo),
            pct(hi)
        ),
        _ => String::new(),
    };
    let agree = if e.reasked > 0 {
        format!("；复问 {} 题次，{} 题次与原答案一致", e.reasked, e.agreed)
    } else {
        String::new()
    };
    format!("{head}{tail}{agree}")
}
