//! The rows of the CSV tables the engine writes (score, evaluate) and the report reads
//! back, as types: a renamed or missing column is an error naming the file and line,
//! not an empty cell. Columns a row type does not name are ignored (the evaluation's
//! per-indicator columns, for instance, are read only as a table).

use serde::Deserialize;

/// A row of `community_scores.csv` (written by `score`).
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
pub struct CommunityScoreRow {
    pub round: String,
    pub street_code: String,
    pub street_name: String,
    pub community_code: String,
    pub community_name: String,
    pub n_valid: u64,
    pub score: Option<f64>,
    pub se: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub df: Option<f64>,
    pub satisfaction_rate: Option<f64>,
    pub below_threshold: Option<bool>,
    pub status: String,
    /// Absent in score files written before it was added.
    #[serde(default)]
    pub p_below: Option<f64>,
    /// Absent in score files written before decisions existed.
    #[serde(default)]
    pub n_excluded: Option<u64>,
}

/// A row of `exclusions.csv` (written by `score`).
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
pub struct ExclusionRow {
    pub round: String,
    pub subject: String,
    pub id: String,
    pub questionnaires: u64,
    pub reason: String,
}

/// A row of `undecided_flags.csv` (written by `score`).
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
pub struct UndecidedRow {
    pub round: String,
    pub interviewers: u64,
    pub questionnaires: u64,
}

/// A row of `street_scores.csv` (written by `score`).
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
pub struct StreetScoreRow {
    pub round: String,
    pub street_code: String,
    pub street_name: String,
    pub n_sampled: u64,
    pub n_communities: u64,
    pub n_respondents: u64,
    pub score: Option<f64>,
    pub se: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub df: Option<f64>,
    pub satisfaction_rate: Option<f64>,
    pub communities_below: u64,
    pub note: String,
    #[serde(default)]
    pub p_below: Option<f64>,
}

/// A row of `item_scores.csv` (written by `score`).
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
pub struct ItemScoreRow {
    pub round: String,
    pub street_code: String,
    pub street_name: String,
    pub question: String,
    pub text: String,
    pub score: Option<f64>,
    pub n_answers: u64,
}

/// A row of `deductions.csv` (written by `evaluate`): a community below the
/// threshold, or a street's total.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
pub struct DeductionRow {
    pub period: String,
    /// `community` or `street`.
    pub row_type: String,
    pub street_code: String,
    pub street_name: String,
    pub community_code: String,
    pub community_name: String,
    pub score: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub below_point: Option<bool>,
    pub below_ci: Option<bool>,
    /// A community row: `true` or `false` (counted under the rules in force); a
    /// street row: how many of its communities counted.
    pub counted: String,
    pub points: Option<f64>,
    pub cap: Option<f64>,
    pub street_score: Option<f64>,
    pub street_below: Option<bool>,
    pub street_points: Option<f64>,
    pub total: Option<f64>,
    #[serde(default)]
    pub p_below: Option<f64>,
}

/// The fixed columns of a row of `street_evaluation.csv` (written by `evaluate`; a
/// quarter or half-year has satisfaction and task points, a year its halves' totals).
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
pub struct EvaluationRow {
    pub period: String,
    pub street_code: String,
    pub street_name: String,
    pub satisfaction_score: Option<f64>,
    #[serde(default)]
    pub satisfaction_points: Option<f64>,
    #[serde(default)]
    pub task_points: Option<f64>,
    #[serde(default)]
    pub h1_total: Option<f64>,
    #[serde(default)]
    pub h2_total: Option<f64>,
    pub total: Option<f64>,
    pub rank: Option<usize>,
    #[serde(default)]
    pub missing_indicators: String,
    pub note: String,
}

impl DeductionRow {
    /// A community row that counts under the rules in force.
    pub fn counts(&self) -> bool {
        self.row_type == "community" && self.counted == "true"
    }
}
