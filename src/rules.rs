//! The scheme (考核方案): questionnaire, answer scale and codebook, sampling, thresholds,
//! evaluation weights and indicators. Loaded from `scoring-rules/<scheme>.toml` and
//! validated; nothing in here is a constant in code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Questions a questionnaire may have (answers are counted in a byte).
pub const MAX_QUESTIONS: usize = 200;
/// Answers are stored as their position on the scale in one byte, and 255 marks "not
/// answered": a scale has at most 254 answers.
pub const MAX_ANSWERS: usize = 254;

/// The shipped schemes, embedded so `init` works from any directory.
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "panlong-2017",
        include_str!("../scoring-rules/panlong-2017.toml"),
    ),
    (
        "panlong-2018",
        include_str!("../scoring-rules/panlong-2018.toml"),
    ),
];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    pub scheme: String,
    #[serde(default)]
    pub district: String,
    #[serde(default)]
    pub description: String,
    pub questions: Vec<Question>,
    pub scale: Scale,
    pub validity: Validity,
    pub sampling: Sampling,
    pub threshold: Threshold,
    pub evaluation: Evaluation,
    #[serde(default)]
    pub ingest: IngestRules,
    #[serde(default)]
    pub quality: Quality,
    #[serde(default)]
    pub reliability: Reliability,
    #[serde(default)]
    pub publication: PublicationRules,
    #[serde(default)]
    pub callbacks: CallbackRules,
    #[serde(default)]
    pub appeals: AppealRules,
}

/// Appeals (申诉复核): how long after publication a street may appeal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AppealRules {
    /// Working days (Monday to Friday, Beijing dates) after the day a period is first
    /// published; the window closes at the end of the last (default 5). Public
    /// holidays are not known to the engine and count as working days.
    pub window_days: u32,
}

impl Default for AppealRules {
    fn default() -> Self {
        AppealRules { window_days: 5 }
    }
}

/// What the streets see of a publication (`manyi serve`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PublicationRules {
    /// Whether a street sees the district ranking (every street's total and rank) beside
    /// its own rows (default yes). Its own rank is shown either way.
    pub show_ranking: bool,
}

impl Default for PublicationRules {
    fn default() -> Self {
        PublicationRules { show_ranking: true }
    }
}

/// Callbacks (回访, docs/callbacks.md): how many of a round's questionnaires the office
/// may call back, and what the draw is sized for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallbackRules {
    /// At most this share of a round's questionnaires is drawn over all its batches
    /// (default 0.15).
    pub budget_share: f64,
    /// The share of an honest interviewer's verified callbacks that fail anyway (a
    /// respondent who forgot, a mistyped number), assumed until the round shows more
    /// (default 0.05).
    pub honest_failure: f64,
    /// The share of an interviewer's questionnaires fabricated that the draw is sized
    /// to find (default 0.5).
    pub fabricated_share: f64,
    /// The chance of finding such an interviewer (default 0.9).
    pub power: f64,
    /// The chance of flagging an honest interviewer (default 0.01).
    pub alpha: f64,
    /// The share of calls that reach someone who answers, assumed before any result
    /// of the round is recorded (default 0.7).
    pub reach_rate: f64,
    /// Items re-asked on each call (default 2).
    pub reask_items: usize,
}

impl Default for CallbackRules {
    fn default() -> Self {
        CallbackRules {
            budget_share: 0.15,
            honest_failure: 0.05,
            fabricated_share: 0.5,
            power: 0.9,
            alpha: 0.01,
            reach_rate: 0.7,
            reask_items: 2,
        }
    }
}

/// Decision reliability (BRIEF.md): the defaults of `manyi plan`, and the SDs assumed
/// before any round is measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Reliability {
    /// One-sided error rate of the community interval (default 0.10).
    pub alpha: f64,
    /// Largest acceptable community half-width, points (default 3).
    pub delta: f64,
    /// Largest acceptable street CI half-width, points (default 5).
    pub delta_street: f64,
    /// Respondents' SD within a community when no round is measured (default 15).
    pub sd: f64,
    /// SD of community scores within a street when no round is measured (default 8).
    pub between_sd: f64,
}

impl Default for Reliability {
    fn default() -> Self {
        Reliability {
            alpha: 0.10,
            delta: 3.0,
            delta_street: 5.0,
            sd: 15.0,
            between_sd: 8.0,
        }
    }
}

/// One questionnaire item (问卷题目).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub id: String,
    pub text: String,
    #[serde(default)]
    pub dimension: String,
    pub weight: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scale {
    /// Values meaning "not answered" besides a blank cell (不了解, code 9).
    pub not_answered: Vec<String>,
    /// Labels counted as satisfied for the satisfaction rate (满意率).
    pub satisfied: Vec<String>,
    pub answers: Vec<Answer>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    pub label: String,
    pub score: f64,
    pub code: String,
    #[serde(default)]
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Validity {
    /// A questionnaire with fewer answered items (不了解 and blanks are not answers:
    /// this is also the rule on too many 不了解) is invalid.
    pub min_answered_items: usize,
    pub min_valid_per_community: usize,
    /// A questionnaire whose interview took less than this many seconds is invalid
    /// by rule (none when absent; a questionnaire without a time is not judged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_interview_s: Option<f64>,
}

impl Validity {
    /// Whether a questionnaire with `answered` items answered and an interview of
    /// `duration_s` seconds (NaN: not given) is valid under these rules.
    pub fn valid(&self, answered: u8, duration_s: f64) -> bool {
        (answered as usize) >= self.min_answered_items && !self.too_short(duration_s)
    }

    /// Whether an interview of `duration_s` seconds is shorter than the rules allow.
    pub fn too_short(&self, duration_s: f64) -> bool {
        self.min_interview_s
            .is_some_and(|m| !duration_s.is_nan() && duration_s < m)
    }
}

/// How a street's sample size is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SamplingMethod {
    /// n_h = ceil(rate × N_h) in every street.
    CeilRate,
    /// Total ceil(rate × N) split proportionally by largest remainder, at least 1 each.
    Proportional,
    /// Full coverage over the year's rounds: round r of R takes ceil(left_h / (R − r + 1)).
    Rotation,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sampling {
    pub method: SamplingMethod,
    pub rate: f64,
    pub rounds_per_year: u32,
    pub full_coverage: bool,
    /// Quarter (1..4) of each round, by round number.
    pub calendar: Vec<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The point estimate below the threshold decides.
    Point,
    /// Only a confidence interval wholly below the threshold decides.
    CiUpper,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    pub community_score: f64,
    pub decision: Decision,
    pub confidence: f64,
    pub points_per_community: f64,
    pub cap_per_street: f64,
    pub street_score_below: f64,
    pub street_points: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evaluation {
    pub satisfaction_points: f64,
    pub task_points: f64,
    pub half_year_weights: Vec<f64>,
    #[serde(default = "yes")]
    pub carry_latest_round: bool,
    pub indicators: Vec<Indicator>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Full points when value ≥ target, else 0.
    PassFail,
    /// points × min(value / target, 1).
    RatioCapped,
    /// points − penalty × value, floor 0.
    Penalty,
}

/// What a target counts; `half_year` targets are halved for a quarter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Per {
    HalfYear,
    Month,
    Level,
    Count,
}

/// A task indicator (考核指标) reported by streets.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Indicator {
    pub id: String,
    pub name: String,
    pub target: f64,
    pub method: Method,
    pub points: f64,
    #[serde(default)]
    pub penalty: f64,
    pub per: Per,
    /// Street codes with their own target (e.g. the pilot street).
    #[serde(default)]
    pub target_by_street: BTreeMap<String, f64>,
    /// When non-empty, only these street codes are assessed on it.
    #[serde(default)]
    pub applies_to: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestRules {
    /// Canonical column → accepted aliases (the canonical name is always accepted).
    #[serde(default)]
    pub columns: BTreeMap<String, Vec<String>>,
    /// Suffixes stripped when matching communities by name.
    #[serde(default)]
    pub community_suffixes: Vec<String>,
    /// First-cell values that mark a summary row (合计).
    #[serde(default)]
    pub summary_labels: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quality {
    pub speeder_ratio: f64,
    pub min_duration_s: f64,
    pub interviewer_min_questionnaires: usize,
    /// An indicator is listed as evidence from this |z| (against peers, their own
    /// spread allowed for).
    pub interviewer_z: f64,
    /// The share of honest interviewers that may be flagged (each interviewer's
    /// combined p-value is compared with it): 0.01 = at most one in a hundred.
    #[serde(default = "default_interviewer_alpha")]
    pub interviewer_alpha: f64,
    /// Beside the sum over all indicators, the sum of the interviewer's this many
    /// largest (a few strong signs are not averaged away by the rest); the smaller
    /// of the two p-values is calibrated against the same null. 0 = the sum only.
    #[serde(default = "default_interviewer_top")]
    pub interviewer_top: usize,
}

fn default_interviewer_alpha() -> f64 {
    0.01
}

/// How many indicators the interviewer comparison has.
pub const INTERVIEWER_INDICATORS: usize = 9;

fn default_interviewer_top() -> usize {
    3
}

impl Default for Quality {
    fn default() -> Self {
        Quality {
            speeder_ratio: 0.4,
            min_duration_s: 120.0,
            interviewer_min_questionnaires: 10,
            interviewer_z: 2.5,
            interviewer_alpha: 0.01,
            interviewer_top: default_interviewer_top(),
        }
    }
}

impl Rules {
    /// Loads and validates a rules file.
    pub fn load(path: &Path) -> Result<Rules> {
        let text = crate::fsutil::read_text(path)?;
        Rules::parse(&text, &path.display().to_string())
    }

    /// Parses and validates rules text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Rules> {
        let rules: Rules = toml::from_str(text).map_err(|e| {
            let key = e
                .span()
                .map(|s| {
                    let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                    format!("line {line}")
                })
                .unwrap_or_else(|| "?".into());
            Error::rules(file, key, e.message().to_string())
        })?;
        rules.validate(file)?;
        Ok(rules)
    }

    /// The shipped rules text of a scheme.
    pub fn shipped(scheme: &str) -> Option<&'static str> {
        SHIPPED.iter().find(|(s, _)| *s == scheme).map(|(_, t)| *t)
    }

    fn validate(&self, file: &str) -> Result<()> {
        let err = |key: &str, msg: String| Err(Error::rules(file, key, msg));
        if self.scheme.trim().is_empty() {
            return err("scheme", "must not be empty".into());
        }
        if self.questions.is_empty() {
            return err("questions", "at least one question is needed".into());
        }
        if self.questions.len() > MAX_QUESTIONS {
            return err(
                "questions",
                format!(
                    "at most {MAX_QUESTIONS} questions, got {}",
                    self.questions.len()
                ),
            );
        }
        let mut ids = BTreeSet::new();
        for (i, q) in self.questions.iter().enumerate() {
            let key = format!("questions[{i}].id");
            if q.id.trim().is_empty() {
                return err(&key, "must not be empty".into());
            }
            if !ids.insert(q.id.to_lowercase()) {
                return err(&key, format!("duplicate question id {:?}", q.id));
            }
            if !(q.weight.is_finite() && q.weight > 0.0) {
                return err(
                    &format!("questions[{i}].weight"),
                    format!("must be a positive number, got {}", q.weight),
                );
            }
        }
        let total: f64 = self.questions.iter().map(|q| q.weight).sum();
        if (total - 1.0).abs() > 1e-9 {
            return err(
                "questions.weight",
                format!("question weights must sum to 1, they sum to {total}"),
            );
        }
        if self.scale.answers.is_empty() {
            return err("scale.answers", "at least one answer is needed".into());
        }
        if self.scale.answers.len() > MAX_ANSWERS {
            return err(
                "scale.answers",
                format!(
                    "at most {MAX_ANSWERS} answers on the scale, got {}",
                    self.scale.answers.len()
                ),
            );
        }
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for na in &self.scale.not_answered {
            seen.insert(na.clone(), "scale.not_answered".into());
        }
        for (i, a) in self.scale.answers.iter().enumerate() {
            if !(a.score.is_finite() && (0.0..=100.0).contains(&a.score)) {
                return err(
                    &format!("scale.answers[{i}].score"),
                    format!("must be within 0..100, got {}", a.score),
                );
            }
            for v in std::iter::once(&a.label)
                .chain(std::iter::once(&a.code))
                .chain(a.aliases.iter())
            {
                let key = format!("scale.answers[{i}]");
                if v.trim().is_empty() {
                    return err(&key, "labels, codes and aliases must not be empty".into());
                }
                if let Some(prev) = seen.insert(v.clone(), key.clone()) {
                    return err(&key, format!("value {v:?} is already used by {prev}"));
                }
            }
        }
        for s in &self.scale.satisfied {
            if !self.scale.answers.iter().any(|a| &a.label == s) {
                return err(
                    "scale.satisfied",
                    format!("{s:?} is not one of the answer labels"),
                );
            }
        }
        if self.validity.min_answered_items == 0
            || self.validity.min_answered_items > self.questions.len()
        {
            return err(
                "validity.min_answered_items",
                format!(
                    "must be within 1..{}, got {}",
                    self.questions.len(),
                    self.validity.min_answered_items
                ),
            );
        }
        if let Some(m) = self.validity.min_interview_s
            && !(m.is_finite() && m > 0.0)
        {
            return err(
                "validity.min_interview_s",
                format!("must be a positive number of seconds, got {m}"),
            );
        }
        if self.validity.min_valid_per_community == 0 {
            return err(
                "validity.min_valid_per_community",
                "must be at least 1".into(),
            );
        }
        let s = &self.sampling;
        if !(s.rate.is_finite() && s.rate > 0.0 && s.rate <= 1.0) {
            return err(
                "sampling.rate",
                format!("must be within (0, 1], got {}", s.rate),
            );
        }
        if s.rounds_per_year == 0 || s.rounds_per_year > 12 {
            return err(
                "sampling.rounds_per_year",
                format!("must be within 1..12, got {}", s.rounds_per_year),
            );
        }
        if s.calendar.len() != s.rounds_per_year as usize {
            return err(
                "sampling.calendar",
                format!(
                    "needs one quarter per round ({} rounds), got {}",
                    s.rounds_per_year,
                    s.calendar.len()
                ),
            );
        }
        if let Some(q) = s.calendar.iter().find(|q| !(1..=4).contains(*q)) {
            return err(
                "sampling.calendar",
                format!("quarter {q} is not within 1..4"),
            );
        }
        if s.calendar.windows(2).any(|w| w[0] > w[1]) {
            return err("sampling.calendar", "quarters must not decrease".into());
        }
        if (s.method == SamplingMethod::Rotation) != s.full_coverage {
            return err(
                "sampling.full_coverage",
                "full coverage goes with method = \"rotation\" and only with it".into(),
            );
        }
        let t = &self.threshold;
        for (key, v) in [
            ("threshold.community_score", t.community_score),
            ("threshold.street_score_below", t.street_score_below),
        ] {
            if !(v.is_finite() && (0.0..=100.0).contains(&v)) {
                return err(key, format!("must be within 0..100, got {v}"));
            }
        }
        if !(t.confidence > 0.5 && t.confidence < 1.0) {
            return err(
                "threshold.confidence",
                format!("must be within (0.5, 1), got {}", t.confidence),
            );
        }
        for (key, v) in [
            ("threshold.points_per_community", t.points_per_community),
            ("threshold.cap_per_street", t.cap_per_street),
            ("threshold.street_points", t.street_points),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return err(key, format!("must be a number ≥ 0, got {v}"));
            }
        }
        let e = &self.evaluation;
        if (e.satisfaction_points + e.task_points - 100.0).abs() > 1e-9
            || e.satisfaction_points < 0.0
            || e.task_points < 0.0
        {
            return err(
                "evaluation.satisfaction_points",
                format!(
                    "satisfaction_points + task_points must be 100, got {} + {}",
                    e.satisfaction_points, e.task_points
                ),
            );
        }
        if e.half_year_weights.len() != 2
            || (e.half_year_weights.iter().sum::<f64>() - 1.0).abs() > 1e-9
            || e.half_year_weights.iter().any(|w| *w < 0.0)
        {
            return err(
                "evaluation.half_year_weights",
                format!(
                    "needs two weights ≥ 0 summing to 1, got {:?}",
                    e.half_year_weights
                ),
            );
        }
        let mut ids = BTreeSet::new();
        let mut points = 0.0;
        for (i, ind) in e.indicators.iter().enumerate() {
            if !ids.insert(ind.id.clone()) {
                return err(
                    &format!("evaluation.indicators[{i}].id"),
                    format!("duplicate indicator id {:?}", ind.id),
                );
            }
            if !(ind.points.is_finite() && ind.points > 0.0) {
                return err(
                    &format!("evaluation.indicators[{i}].points"),
                    format!("must be positive, got {}", ind.points),
                );
            }
            if ind.method != Method::Penalty && !(ind.target.is_finite() && ind.target > 0.0) {
                return err(
                    &format!("evaluation.indicators[{i}].target"),
                    format!(
                        "must be positive for method {:?}, got {}",
                        ind.method, ind.target
                    ),
                );
            }
            if ind.method == Method::Penalty && !(ind.penalty > 0.0) {
                return err(
                    &format!("evaluation.indicators[{i}].penalty"),
                    "a penalty indicator needs penalty > 0".into(),
                );
            }
            points += ind.points;
        }
        if !e.indicators.is_empty() && (points - e.task_points).abs() > 1e-9 {
            return err(
                "evaluation.indicators.points",
                format!(
                    "indicator points must add up to task_points ({}), they add up to {points}",
                    e.task_points
                ),
            );
        }
        let q = &self.quality;
        if !(q.speeder_ratio > 0.0 && q.speeder_ratio < 1.0) {
            return err(
                "quality.speeder_ratio",
                format!("must be within (0, 1), got {}", q.speeder_ratio),
            );
        }
        // Nine: the interviewer comparison's indicators (`quality::INDICATORS`, a
        // layer above; a test there holds the two equal).
        if q.interviewer_top > INTERVIEWER_INDICATORS {
            return err(
                "quality.interviewer_top",
                format!(
                    "must be at most {INTERVIEWER_INDICATORS} (the indicators), got {}",
                    q.interviewer_top
                ),
            );
        }
        if !(q.interviewer_alpha > 0.0 && q.interviewer_alpha < 0.5) {
            return err(
                "quality.interviewer_alpha",
                format!("must be within (0, 0.5), got {}", q.interviewer_alpha),
            );
        }
        let c = &self.callbacks;
        // (key, value, upper bound, whether the bound itself is allowed); each > 0.
        for (key, v, hi, hi_ok) in [
            ("callbacks.budget_share", c.budget_share, 1.0, true),
            ("callbacks.honest_failure", c.honest_failure, 0.5, false),
            ("callbacks.fabricated_share", c.fabricated_share, 1.0, true),
            ("callbacks.power", c.power, 1.0, false),
            ("callbacks.alpha", c.alpha, 0.5, false),
            ("callbacks.reach_rate", c.reach_rate, 1.0, true),
        ] {
            let ok = v > 0.0 && (v < hi || (hi_ok && v == hi));
            if !ok {
                let close = if hi_ok { "]" } else { ")" };
                return err(key, format!("must be within (0, {hi}{close}, got {v}"));
            }
        }
        if c.reask_items > self.questions.len() {
            return err(
                "callbacks.reask_items",
                format!(
                    "must be at most the questionnaire's {} items, got {}",
                    self.questions.len(),
                    c.reask_items
                ),
            );
        }
        Ok(())
    }
}

/// The template of an indicator file: every street and indicator of the scheme, the
/// period and the values to fill in (`NA` = not applicable, empty = not reported).
pub fn indicator_template(rules: &Rules, frame: &crate::frame::Frame) -> Result<Vec<u8>> {
    let mut rows = Vec::new();
    for (code, st) in &frame.streets {
        for ind in &rules.evaluation.indicators {
            let na = !ind.applies_to.is_empty() && !ind.applies_to.contains(code);
            rows.push([
                String::new(),
                code.clone(),
                st.name.clone(),
                ind.id.clone(),
                if na { "NA".into() } else { String::new() },
            ]);
        }
    }
    crate::fsutil::csv_bytes(
        ["period", "street_code", "street_name", "indicator", "value"],
        rows,
        true,
    )
}
