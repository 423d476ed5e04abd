//! `manyi simulate`: realistic evaluator deliveries for a drawn sample, for dry runs,
//! load tests and the demo. Deterministic: the same round, seed and options give the
//! same bytes (ChaCha8 seeded from SHA-256 of the inputs).

use std::collections::BTreeSet;
use std::path::Path;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::round::RoundId;
use crate::rules::Rules;
use crate::workspace::Workspace;

/// The export styles evaluators use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The office's template: UTF-8, English headers, answers as labels.
    Csv,
    /// Saved from Excel on Chinese Windows: GBK, CRLF, Chinese headers, codes, 2018/4/12.
    Gbk,
    /// UTF-8 with BOM, no community code, short names, labels with aliases.
    Names,
    /// An XLSX workbook: Chinese headers, labels, Excel dates.
    Xlsx,
}

impl Format {
    pub fn extension(&self) -> &'static str {
        match self {
            Format::Xlsx => "xlsx",
            _ => "csv",
        }
    }
    pub fn name(&self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Gbk => "gbk",
            Format::Names => "names",
            Format::Xlsx => "xlsx",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub format: Format,
    /// Only these street codes (all when empty).
    pub streets: Vec<String>,
    /// Questionnaires per community (before the fabricators').
    pub per_community: usize,
    /// One fabricating interviewer per entry, of that kind.
    pub fabricators: Vec<Fabricator>,
    pub seed: String,
    /// Respondent ids start with this prefix (unique per delivery).
    pub id_prefix: String,
    /// Write each respondent's phone number (a last column, as evaluators deliver it):
    /// callbacks need them. Answers and ids are the same either way.
    pub phones: bool,
}

/// How a fabricating interviewer (造假) works; docs/fabrication.md describes each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Fabricator {
    /// All 非常满意, about a minute each, in every community of the delivery.
    Crude,
    /// Plausible answers a little kinder than the community's (about +6 points), few
    /// 不了解, answers within a questionnaire alike, normal but steady interview times.
    Kind,
    /// Copies real respondents' questionnaires of the same community, changing one or
    /// two items by one step; steady interview times, on a few days.
    Copier,
    /// Plausible answers at the community's own level, but too regular: every item
    /// near the respondent's level, no 不了解, the same pace every time, two days.
    Steady,
    /// Works like an honest interviewer, in every community, but about half of his
    /// questionnaires were never asked: answers and pace as an honest interviewer's,
    /// so no statistic sees him; only callbacks do.
    Partial,
}

impl Fabricator {
    pub fn name(self) -> &'static str {
        match self {
            Fabricator::Crude => "crude",
            Fabricator::Kind => "kind",
            Fabricator::Copier => "copier",
            Fabricator::Steady => "steady",
            Fabricator::Partial => "partial",
        }
    }
}

/// An honest interviewer's own way: how respondents tend to answer them (a shift on
/// the latent scale: sd 0.075, about 1.5 points) and their pace (a factor on the
/// duration: log sd 0.15). Fixed per interviewer name.
fn interviewer_style(name: &str, seed: &str) -> (f64, f64) {
    let mut g = Gen::new(&["interviewer-style", seed, name]);
    (0.075 * g.normal(), (0.15 * g.normal()).exp())
}

struct Gen(ChaCha8Rng);

impl Gen {
    fn new(parts: &[&str]) -> Gen {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p.as_bytes());
            h.update(b"\n");
        }
        Gen(ChaCha8Rng::from_seed(h.finalize().into()))
    }
    fn uniform(&mut self) -> f64 {
        self.0.random::<f64>()
    }
    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-12);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
    fn below(&mut self, n: usize) -> usize {
        self.0.random_range(0..n.max(1))
    }
}

/// One simulated questionnaire.
struct Questionnaire {
    id: String,
    street_name: String,
    community_code: String,
    community_name: String,
    date: (i32, u32, u32),
    interviewer: String,
    mode: &'static str,
    duration: u32,
    /// Answer index into the scale, or None for 不了解.
    answers: Vec<Option<usize>>,
    /// Never asked (the truth a simulated caller finds).
    fabricated: bool,
}

/// A respondent's phone number as delivered (a mobile number, 11 digits), the same
/// for the same seed and id: a fabricated questionnaire's is as plausible.
fn phone(seed: &str, id: &str) -> String {
    let mut g = Gen::new(&["phone", seed, id]);
    let second = [3, 5, 7, 8, 9][g.below(5)];
    let mut s = format!("1{second}");
    for _ in 0..9 {
        s.push(char::from(b'0' + g.below(10) as u8));
    }
    s
}

/// A community's typical satisfaction on the latent 0 (非常满意) … 4 scale: stable
/// across rounds (it depends on the community, not the round), with round noise.
fn community_level(code: &str, round: &RoundId, seed: &str) -> f64 {
    let base = Gen::new(&["level", code]).normal();
    let noise = Gen::new(&["round-level", seed, &round.to_string(), code]).normal();
    1.05 + 0.45 * base + 0.12 * noise
}

fn generate(
    frame: &Frame,
    rules: &Rules,
    round: &RoundId,
    sample: &[String],
    opts: &Options,
    emit: &mut dyn FnMut(usize, Questionnaire) -> Result<()>,
) -> Result<usize> {
    let mut g = Gen::new(&[
        "simulate",
        &opts.seed,
        &round.to_string(),
        opts.format.name(),
        &opts.id_prefix,
    ]);
    let n_items = rules.questions.len();
    let n_levels = rules.scale.answers.len();
    let item_bias: Vec<f64> = (0..n_items)
        .map(|k| Gen::new(&["item", &k.to_string()]).normal() * 0.25)
        .collect();
    let quarter = rules
        .sampling
        .calendar
        .get(round.number as usize - 1)
        .copied()
        .unwrap_or(2);
    let month0 = 3 * (quarter - 1) + 1;
    let mut k = 0;
    for code in sample {
        let Some(c) = frame.community(code) else {
            continue;
        };
        if !opts.streets.is_empty() && !opts.streets.contains(&c.street_code) {
            continue;
        }
        let level = community_level(code, round, &opts.seed);
        let interviewers: Vec<String> = (0..3)
            .map(|i| format!("{}I{:02}", opts.id_prefix, (g.below(40) + i * 40) % 100))
            .collect();
        // The honest questionnaires of this community so far (a copier's source).
        let mut honest: Vec<Vec<Option<usize>>> = Vec::new();
        let mut push = |g: &mut Gen, fab: Option<Fabricator>, interviewer: &str| {
            k += 1;
            let (shift, pace) = interviewer_style(interviewer, &opts.seed);
            let clamp = |x: f64| x.round().clamp(0.0, (n_levels - 1) as f64) as usize;
            let answers: Vec<Option<usize>> = match fab {
                None | Some(Fabricator::Partial) => {
                    let person = level + shift + 0.55 * g.normal();
                    (0..n_items)
                        .map(|i| {
                            if g.uniform() < 0.05 {
                                return None;
                            }
                            Some(clamp(person + item_bias[i] + 0.55 * g.normal()))
                        })
                        .collect()
                }
                Some(Fabricator::Crude) => vec![Some(0); n_items],
                Some(Fabricator::Kind) => {
                    let person = level - 0.3 + 0.4 * g.normal();
                    (0..n_items)
                        .map(|i| {
                            if g.uniform() < 0.01 {
                                return None;
                            }
                            Some(clamp(person + item_bias[i] + 0.3 * g.normal()))
                        })
                        .collect()
                }
                Some(Fabricator::Copier) => {
                    if honest.is_empty() {
                        vec![Some(1); n_items]
                    } else {
                        let mut a = honest[g.below(honest.len())].clone();
                        for _ in 0..1 + g.below(2) {
                            let i = g.below(n_items);
                            a[i] = Some(match a[i] {
                                None => 1,
                                Some(x) if x == 0 => 1,
                                Some(x) if x + 1 >= n_levels => x - 1,
                                Some(x) => {
                                    if g.uniform() < 0.5 {
                                        x - 1
                                    } else {
                                        x + 1
                                    }
                                }
                            });
                        }
                        a
                    }
                }
                Some(Fabricator::Steady) => {
                    let person = level + 0.35 * g.normal();
                    (0..n_items)
                        .map(|i| Some(clamp(person + item_bias[i] + 0.2 * g.normal())))
                        .collect()
                }
            };
            if fab.is_none() {
                honest.push(answers.clone());
            }
            let duration = match fab {
                None | Some(Fabricator::Partial) => {
                    (500.0 * pace * (0.3 * g.normal()).exp()).round().max(90.0) as u32
                }
                Some(Fabricator::Crude) => 50 + g.below(40) as u32,
                Some(Fabricator::Kind) => (480.0 * (0.08 * g.normal()).exp()).round() as u32,
                Some(Fabricator::Copier) => 450 + g.below(60) as u32,
                Some(Fabricator::Steady) => 500 + g.below(30) as u32,
            };
            // A desk fabricator fills questionnaires in on a few days.
            let date = match fab {
                Some(Fabricator::Copier) | Some(Fabricator::Steady) => {
                    (round.year, month0 + 1, 10 + g.below(2) as u32)
                }
                _ => (
                    round.year,
                    month0 + g.below(3) as u32,
                    1 + g.below(28) as u32,
                ),
            };
            let id = format!("{}{:06}", opts.id_prefix, k);
            let fabricated = match fab {
                None => false,
                Some(Fabricator::Partial) => {
                    Gen::new(&["partial", &opts.seed, &id]).uniform() < 0.5
                }
                Some(_) => true,
            };
            emit(
                k - 1,
                Questionnaire {
                    fabricated,
                    id,
                    street_name: c.street_name.clone(),
                    community_code: c.code.clone(),
                    community_name: c.name.clone(),
                    date,
                    interviewer: interviewer.to_string(),
                    mode: if g.uniform() < 0.7 {
                        "入户"
                    } else {
                        "电话"
                    },
                    duration,
                    answers,
                },
            )
        };
        for _ in 0..opts.per_community {
            let iv = interviewers[g.below(3)].clone();
            push(&mut g, None, &iv)?;
        }
        for (f, kind) in opts.fabricators.iter().enumerate() {
            let name = format!(
                "{}FAB{}",
                opts.id_prefix,
                if f == 0 {
                    String::new()
                } else {
                    (f + 1).to_string()
                }
            );
            // The crude kind works everywhere; the others in about
            // communities, one in seven (a fabricator is one interviewer among several).
            let here = matches!(*kind, Fabricator::Crude | Fabricator::Partial)
                || Gen::new(&["fabricator-here", &opts.seed, &name, code]).uniform() < 0.15;
            if here {
                for _ in 0..12 {
                    push(&mut g, Some(*kind), &name)?;
                }
            }
        }
    }
    Ok(k)
}

/// The name an evaluator writes without the code: 白塔社区居委会 → 白塔社区, 甸尾村委会 → 甸尾村.
fn short_name(name: &str) -> String {
    if let Some(s) = name.strip_suffix("居委会") {
        s.to_string()
    } else if let Some(s) = name.strip_suffix("村委会") {
        format!("{s}村")
    } else {
        name.to_string()
    }
}

/// Writes a delivery for `round` (whose sample must exist) to `out`; returns the number
/// of questionnaires.
pub fn simulate(ws: &Workspace, round: &RoundId, out: &Path, opts: &Options) -> Result<usize> {
    Ok(simulate_with_truth(ws, round, out, opts)?.0)
}

/// As [`simulate`], and the ids of the questionnaires that were never asked (the
/// truth simulated callers find).
pub fn simulate_with_truth(
    ws: &Workspace,
    round: &RoundId,
    out: &Path,
    opts: &Options,
) -> Result<(usize, BTreeSet<String>)> {
    let mut truth = BTreeSet::new();
    let rules = ws.rules()?;
    let frame = ws.frame()?;
    let sample: Vec<String> = crate::sample::load_sample_codes(ws, round)?
        .0
        .into_iter()
        .collect();
    let labels: Vec<&str> = rules
        .scale
        .answers
        .iter()
        .map(|a| a.label.as_str())
        .collect();
    let alias = |i: usize| {
        rules.scale.answers[i]
            .aliases
            .first()
            .map(|s| s.as_str())
            .unwrap_or(labels[i])
    };
    let not_answered = rules
        .scale
        .not_answered
        .first()
        .map(|s| s.as_str())
        .unwrap_or("");
    let qheads: Vec<String> = rules
        .questions
        .iter()
        .map(|q| q.id.to_uppercase())
        .collect();
    let none = || {
        Error::Invalid(format!(
            "round {round}: no sampled community in the chosen streets"
        ))
    };
    if opts.format == Format::Xlsx {
        let mut qs = Vec::new();
        generate(&frame, &rules, round, &sample, opts, &mut |_, q| {
            if q.fabricated {
                truth.insert(q.id.clone());
            }
            qs.push(q);
            Ok(())
        })?;
        if qs.is_empty() {
            return Err(none());
        }
        let phones = opts.phones.then_some(opts.seed.as_str());
        crate::fsutil::write_atomic(
            out,
            &xlsx(&qs, round, &qheads, &labels, not_answered, phones)?,
        )?;
        return Ok((qs.len(), truth));
    }
    // CSV formats are streamed to a temporary file, renamed into place at the end.
    let tmp = crate::fsutil::temp_beside(out)?;
    let mut file = std::io::BufWriter::with_capacity(1 << 20, tmp);
    use std::io::Write;
    let io = |e: std::io::Error| Error::io(out, e);
    if opts.format == Format::Names {
        file.write_all(b"\xEF\xBB\xBF").map_err(io)?;
    }
    let n = {
        let terminator = if opts.format == Format::Gbk {
            csv::Terminator::CRLF
        } else {
            csv::Terminator::Any(b'\n')
        };
        // Each record goes through a small buffer, is encoded (GBK) if need be, and is
        // appended to the file.
        let mut buf: Vec<u8> = Vec::new();
        let mut put = |rec: &[String],
                       file: &mut std::io::BufWriter<tempfile::NamedTempFile>|
         -> Result<()> {
            let mut w = csv::WriterBuilder::new()
                .terminator(terminator)
                .from_writer(std::mem::take(&mut buf));
            w.write_record(rec)
                .map_err(|e| Error::Invalid(e.to_string()))?;
            buf = w.into_inner().map_err(|e| Error::Invalid(e.to_string()))?;
            if opts.format == Format::Gbk {
                let s = std::str::from_utf8(&buf).map_err(|e| Error::Invalid(e.to_string()))?;
                let (enc, _, bad) = encoding_rs::GBK.encode(s);
                if bad {
                    return Err(Error::Invalid("a name cannot be written in GBK".into()));
                }
                file.write_all(&enc).map_err(io)?;
            } else {
                file.write_all(&buf).map_err(io)?;
            }
            buf.clear();
            Ok(())
        };
        let header: Vec<String> = match opts.format {
            Format::Csv => [
                "respondent_id",
                "community_code",
                "community_name",
                "round",
                "interview_date",
                "interviewer_id",
                "mode",
                "duration_s",
            ]
            .iter()
            .map(|s| s.to_string())
            .chain(rules.questions.iter().map(|q| q.id.clone()))
            .collect(),
            Format::Gbk => [
                "问卷编号",
                "街道",
                "社区代码",
                "社区名称",
                "调查轮次",
                "访问日期",
                "访问员",
                "访问方式",
                "用时（秒）",
            ]
            .iter()
            .map(|s| s.to_string())
            .chain(qheads.iter().cloned())
            .collect(),
            _ => [
                "问卷编号",
                "社区名称",
                "调查轮次",
                "访问日期",
                "访问员",
                "访问方式",
                "用时（秒）",
            ]
            .iter()
            .map(|s| s.to_string())
            .chain(qheads.iter().cloned())
            .collect(),
        };
        let mut header = header;
        if opts.phones {
            header.push(
                match opts.format {
                    Format::Csv => "phone",
                    Format::Names => "联系电话",
                    _ => "电话",
                }
                .to_string(),
            );
        }
        put(&header, &mut file)?;
        generate(&frame, &rules, round, &sample, opts, &mut |n, q| {
            if q.fabricated {
                truth.insert(q.id.clone());
            }
            let (y, m, d) = q.date;
            let mut rec: Vec<String> = match opts.format {
                Format::Csv => vec![
                    q.id.clone(),
                    q.community_code.clone(),
                    q.community_name.clone(),
                    round.to_string(),
                    format!("{y}-{m:02}-{d:02}"),
                    q.interviewer.clone(),
                    q.mode.into(),
                    q.duration.to_string(),
                ],
                Format::Gbk => vec![
                    q.id.clone(),
                    q.street_name.clone(),
                    q.community_code.clone(),
                    q.community_name.clone(),
                    round.to_string(),
                    format!("{y}/{m}/{d}"),
                    q.interviewer.clone(),
                    q.mode.into(),
                    q.duration.to_string(),
                ],
                _ => vec![
                    q.id.clone(),
                    short_name(&q.community_name),
                    round.to_string(),
                    format!("{y}-{m:02}-{d:02}"),
                    q.interviewer.clone(),
                    q.mode.into(),
                    q.duration.to_string(),
                ],
            };
            for a in &q.answers {
                rec.push(match (opts.format, a) {
                    (Format::Gbk, Some(i)) => rules.scale.answers[*i].code.clone(),
                    (Format::Gbk, None) => rules
                        .scale
                        .not_answered
                        .iter()
                        .find(|v| v.parse::<u32>().is_ok())
                        .cloned()
                        .unwrap_or_default(),
                    // Evaluator C writes every third questionnaire with aliases.
                    (Format::Names, Some(i)) if n % 3 == 0 => alias(*i).to_string(),
                    (_, Some(i)) => labels[*i].to_string(),
                    (_, None) => not_answered.to_string(),
                });
            }
            if opts.phones {
                rec.push(phone(&opts.seed, &q.id));
            }
            put(&rec, &mut file)
        })?
    };
    if n == 0 {
        return Err(none());
    }
    let tmp = file.into_inner().map_err(|e| io(e.into_error()))?;
    crate::fsutil::persist(tmp, out)?;
    Ok((n, truth))
}

fn xlsx(
    qs: &[Questionnaire],
    round: &RoundId,
    qheads: &[String],
    labels: &[&str],
    not_answered: &str,
    phones: Option<&str>,
) -> Result<Vec<u8>> {
    use rust_xlsxwriter::{ExcelDateTime, Format as XFormat, Workbook};
    let err = |e: rust_xlsxwriter::XlsxError| Error::Invalid(format!("writing XLSX: {e}"));
    let mut wb = Workbook::new();
    // A fixed creation time: the same data gives the same bytes (and the same sha256).
    let created = rust_xlsxwriter::ExcelDateTime::from_ymd(2000, 1, 1)
        .map_err(|e| Error::Invalid(e.to_string()))?;
    wb.set_properties(&rust_xlsxwriter::DocProperties::new().set_creation_datetime(&created));
    let sheet = wb.add_worksheet().set_name("问卷数据").map_err(err)?;
    let header: Vec<String> = [
        "问卷编号",
        "社区代码",
        "社区名称",
        "调查轮次",
        "访问日期",
        "访问员",
        "访问方式",
        "用时（秒）",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(qheads.iter().cloned())
    .chain(phones.map(|_| "电话".to_string()))
    .collect();
    for (c, h) in header.iter().enumerate() {
        sheet.write(0, c as u16, h).map_err(err)?;
    }
    let date_fmt = XFormat::new().set_num_format("yyyy/m/d");
    for (r, q) in qs.iter().enumerate() {
        let row = r as u32 + 1;
        sheet.write(row, 0, &q.id).map_err(err)?;
        sheet.write(row, 1, &q.community_code).map_err(err)?;
        sheet.write(row, 2, &q.community_name).map_err(err)?;
        sheet.write(row, 3, round.to_string()).map_err(err)?;
        let (y, m, d) = q.date;
        let dt = ExcelDateTime::from_ymd(y as u16, m as u8, d as u8).map_err(err)?;
        sheet
            .write_datetime_with_format(row, 4, &dt, &date_fmt)
            .map_err(err)?;
        sheet.write(row, 5, &q.interviewer).map_err(err)?;
        sheet.write(row, 6, q.mode).map_err(err)?;
        sheet.write(row, 7, q.duration as f64).map_err(err)?;
        for (k, a) in q.answers.iter().enumerate() {
            sheet
                .write(
                    row,
                    8 + k as u16,
                    a.map(|i| labels[i]).unwrap_or(not_answered),
                )
                .map_err(err)?;
        }
        if let Some(seed) = phones {
            sheet
                .write(row, 8 + q.answers.len() as u16, phone(seed, &q.id))
                .map_err(err)?;
        }
    }
    wb.save_to_buffer().map_err(err)
}

/// Simulated callers: the call list at `list` (the CSV `callbacks draw` wrote) filled
/// in as callers would. An honest respondent mostly confirms (66%), or is not reached
/// (25% unreachable, 5% refused), and now and then denies or the number is mistyped
/// (2% each); a questionnaire that was never asked (`fabricated`) has a number that
/// is wrong (45%) or whose owner denies (35%), or nobody answers (15%) or talks (5%).
/// A confirming respondent gives the stored answer to a re-asked item 85% of the
/// time, else a neighbouring one. Returns the filled-in CSV (UTF-8 with BOM).
pub fn callers(
    ws: &Workspace,
    round: &RoundId,
    list: &Path,
    fabricated: &BTreeSet<String>,
    seed: &str,
) -> Result<Vec<u8>> {
    let rules = ws.rules()?;
    let csv = crate::fsutil::CsvRecords::read(list)?;
    let id_col = csv.require("respondent_id", "column")?;
    let outcome_col = csv.require("outcome", "column")?;
    let caller_col = csv.require("caller", "column")?;
    let at_col = csv.require("called_at", "column")?;
    let items: Vec<(usize, usize)> = csv
        .headers
        .iter()
        .enumerate()
        .filter_map(|(c, h)| {
            rules
                .questions
                .iter()
                .position(|q| &q.id == h)
                .map(|k| (c, k))
        })
        .collect();
    let ids: BTreeSet<String> = csv
        .rows
        .iter()
        .map(|(_, r)| crate::fsutil::cell(r, id_col).to_string())
        .collect();
    let store = crate::store::Store::new(ws);
    let index = store.read_index()?;
    let dels: BTreeSet<String> = store
        .deliveries(&index, round)
        .iter()
        .map(|d| d.sha256.clone())
        .collect();
    let stored = crate::callbacks::stored_answers(ws, &dels, &ids)?;
    let n_levels = rules.scale.answers.len();
    let mut rows = Vec::new();
    for (_, rec) in &csv.rows {
        let mut row: Vec<String> = rec.iter().map(str::to_string).collect();
        row.resize(csv.headers.len(), String::new());
        let id = crate::fsutil::cell(rec, id_col).to_string();
        let mut g = Gen::new(&["caller", seed, &round.to_string(), &id]);
        let u = g.uniform();
        let outcome = if fabricated.contains(&id) {
            match u {
                u if u < 0.45 => crate::callbacks::Outcome::WrongNumber,
                u if u < 0.80 => crate::callbacks::Outcome::Denied,
                u if u < 0.95 => crate::callbacks::Outcome::Unreachable,
                _ => crate::callbacks::Outcome::Refused,
            }
        } else {
            match u {
                u if u < 0.66 => crate::callbacks::Outcome::Confirmed,
                u if u < 0.91 => crate::callbacks::Outcome::Unreachable,
                u if u < 0.96 => crate::callbacks::Outcome::Refused,
                u if u < 0.98 => crate::callbacks::Outcome::Denied,
                _ => crate::callbacks::Outcome::WrongNumber,
            }
        };
        row[outcome_col] = outcome.text_zh().to_string();
        row[caller_col] = format!("回访员{}", 1 + g.below(3));
        row[at_col] = format!(
            "{}-{:02}-{:02}",
            round.year,
            3 * round.number.min(4),
            20 + g.below(8)
        );
        if outcome == crate::callbacks::Outcome::Confirmed {
            for &(c, k) in &items {
                if let Some(Some(a)) = stored.get(&id).and_then(|v| v.get(k)) {
                    let a = *a as usize;
                    let given = if g.uniform() < 0.85 {
                        a
                    } else if a + 1 < n_levels {
                        a + 1
                    } else {
                        a.saturating_sub(1)
                    };
                    row[c] = rules.scale.answers[given].label.clone();
                }
            }
        }
        rows.push(row);
    }
    crate::fsutil::csv_bytes(csv.headers.clone(), rows, true)
}
