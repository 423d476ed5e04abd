//! The rows of the CSV tables the engine writes (score, evaluate) and reads back
//! (report, publish, the portal), as types: each column's name is written once, here,
//! and the writer and every reader go through the same struct, so a renamed column is
//! renamed everywhere, and a column missing from an old file is an error naming the
//! file and line, not an empty cell. Columns a row type does not name are ignored when
//! reading (the evaluation's per-indicator columns, spliced in by its writer, are read
//! only as a table).
//!
//! In a CSV numbers are written as Rust prints them (`81.5`, `3`, full precision, never
//! an exponent), an undefined value as an empty cell; in JSON they stay numbers (see
//! `fsutil::cell`).

use serde::{Deserialize, Serialize};

use crate::fsutil::cell;

/// A row of `community_scores.csv` (written by `score`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct CommunityScoreRow {
    pub round: String,
    pub street_code: String,
    pub street_name: String,
    pub community_code: String,
    pub community_name: String,
    pub n_valid: u64,
    #[serde(serialize_with = "cell::num")]
    pub score: Option<f64>,
    #[serde(serialize_with = "cell::num")]
    pub se: Option<f64>,
    #[serde(serialize_with = "cell::num")]
    pub ci_low: Option<f64>,
    #[serde(serialize_with = "cell::num")]
    pub ci_high: Option<f64>,
    #[serde(serialize_with = "cell::num")]
    pub df: Option<f64>,
    #[serde(serialize_with = "cell::num")]
    pub satisfaction_rate: Option<f64>,
    pub below_threshold: Option<bool>,
    pub status: String,
    /// Absent in score files written before it was added.
    #[serde(default)]
    #[serde(serialize_with = "cell::num")]
    pub p_below: Option<f64>,
    /// Absent in score files written before decisions existed.
    #[serde(default)]
    pub n_excluded: Option<u64>,
}

/// A row of `exclusions.csv` (written by `score`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct ExclusionRow {
    pub round: String,
    pub subject: String,
    pub id: String,
    pub questionnaires: u64,
    pub reason: String,
}

/// A row of `undecided_flags.csv` (written by `score`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct UndecidedRow {
    pub round: String,
    pub interviewers: u64,
    pub questionnaires: u64,
}

/// A row of `street_scores.csv` (written by `score`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct StreetScoreRow {
    pub round: String,
    pub street_code: String,
    pub street_name: String,
    pub n_sampled: u64,
    pub n_communities: u64,
    pub n_respondents: u64,
    #[serde(serialize_with = "cell::num")]
    pub score: Option<f64>,
    #[serde(serialize_with = "cell::num")]
    pub se: Option<f64>,
    #[serde(serialize_with = "cell::num")]
    pub ci_low: Option<f64>,
    #[serde(serialize_with = "cell::num")]
    pub ci_high: Option<f64>,
    #[serde(serialize_with = "cell::num")]
    pub df: Option<f64>,
    #[serde(serialize_with = "cell::num")]
    pub satisfaction_rate: Option<f64>,
    pub communities_below: u64,
    pub note: String,
    #[serde(default)]
    #[serde(serialize_with = "cell::num")]
    pub p_below: Option<f64>,
}

/// A deduction line waived by an upheld appeal (`surveys/appeals/waivers.json`,
/// written by `appeals`, read by `evaluate`): the street's community line, or with no
/// community its street-level line, of a period.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct Waiver {
    pub period: String,
    pub street_code: String,
    #[serde(default)]
    pub community_code: Option<String>,
    pub appeal: String,
}

/// A row of `appeals.csv` in a period's results (written by `appeals` whenever an
/// appeal of the period is made or ruled; read by `report` for the review pack).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct AppealRow {
    pub id: String,
    pub period: String,
    pub street_code: String,
    pub street_name: String,
    /// Empty for the street-level line.
    pub community_code: String,
    pub community_name: String,
    #[serde(serialize_with = "cell::num")]
    pub points: Option<f64>,
    /// submitted | upheld | rejected
    pub status: String,
    /// waive | exclude | resurvey | none; empty before the ruling.
    pub remedy: String,
    pub reason: String,
    pub ruling_reason: String,
    /// What the ruling changed in the published result, in words.
    pub changed: String,
}

impl AppealRow {
    /// The line appealed, for people: the community's name or 街道层面扣分.
    pub fn line_text(&self) -> String {
        if self.community_code.is_empty() {
            "街道层面扣分".into()
        } else {
            self.community_name.clone()
        }
    }
}

/// A row of `rectifications.csv` in a period's results (the ledger as `appeals` last
/// wrote it; read by `report` for the review pack).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct RectificationRow {
    pub id: String,
    pub period: String,
    pub street_code: String,
    pub street_name: String,
    pub community_code: String,
    pub community_name: String,
    #[serde(serialize_with = "cell::num")]
    pub score: Option<f64>,
    #[serde(serialize_with = "cell::num")]
    pub points: Option<f64>,
    /// open | planned | done | verified
    pub status: String,
    pub measures: String,
    pub responsible: String,
    pub deadline: String,
    pub next_round: String,
    #[serde(serialize_with = "cell::num")]
    pub next_score: Option<f64>,
}

/// A row of `item_scores.csv` (written by `score`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct ItemScoreRow {
    pub round: String,
    pub street_code: String,
    pub street_name: String,
    pub question: String,
    pub text: String,
    #[serde(serialize_with = "cell::num")]
    pub score: Option<f64>,
    pub n_answers: u64,
}

/// A row of `deductions.csv` (written by `evaluate`): a community below the
/// threshold, or a street's total.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct DeductionRow {
    pub period: String,
    /// `community` or `street`.
    pub row_type: String,
    pub street_code: String,
    pub street_name: String,
    pub community_code: String,
    pub community_name: String,
    #[serde(serialize_with = "cell::num")]
    pub score: Option<f64>,
    #[serde(serialize_with = "cell::num")]
    pub ci_low: Option<f64>,
    #[serde(serialize_with = "cell::num")]
    pub ci_high: Option<f64>,
    pub below_point: Option<bool>,
    pub below_ci: Option<bool>,
    /// A community row: `true` or `false` (counted under the rules in force); a
    /// street row: how many of its communities counted.
    pub counted: String,
    #[serde(serialize_with = "cell::num")]
    pub points: Option<f64>,
    #[serde(serialize_with = "cell::num")]
    pub cap: Option<f64>,
    #[serde(serialize_with = "cell::num")]
    pub street_score: Option<f64>,
    pub street_below: Option<bool>,
    #[serde(serialize_with = "cell::num")]
    pub street_points: Option<f64>,
    #[serde(serialize_with = "cell::num")]
    pub total: Option<f64>,
    #[serde(default)]
    #[serde(serialize_with = "cell::num")]
    pub p_below: Option<f64>,
    /// The appeal whose upheld ruling waived this line (a community's points, or on a
    /// street row its street-level points); empty when none did.
    #[serde(default)]
    pub waived: String,
}

/// A row of `street_evaluation.csv` (written by `evaluate`). Two layouts: a quarter or
/// half-year has satisfaction and task points (and, spliced in by the writer after
/// `satisfaction_points`, three columns per indicator, read only as a table); a year
/// has its halves' totals. A column of the other layout is `None` (absent), an empty
/// cell `Some(None)`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct EvaluationRow {
    pub period: String,
    pub street_code: String,
    pub street_name: String,
    /// The rounds the period's satisfaction comes from, space-separated.
    #[serde(default)]
    pub rounds: String,
    #[serde(serialize_with = "cell::num")]
    pub satisfaction_score: Option<f64>,
    #[serde(default, skip_serializing_if = "cell::absent")]
    #[serde(serialize_with = "cell::num_in_layout")]
    pub satisfaction_points: Option<Option<f64>>,
    #[serde(default, skip_serializing_if = "cell::absent")]
    #[serde(serialize_with = "cell::num_in_layout")]
    pub h1_total: Option<Option<f64>>,
    #[serde(default, skip_serializing_if = "cell::absent")]
    #[serde(serialize_with = "cell::num_in_layout")]
    pub h2_total: Option<Option<f64>>,
    #[serde(default, skip_serializing_if = "cell::absent")]
    #[serde(serialize_with = "cell::num_in_layout")]
    pub task_points: Option<Option<f64>>,
    #[serde(serialize_with = "cell::num")]
    pub total: Option<f64>,
    pub rank: Option<usize>,
    #[serde(default, skip_serializing_if = "cell::absent")]
    pub indicators_source: Option<String>,
    #[serde(default, skip_serializing_if = "cell::absent")]
    pub missing_indicators: Option<String>,
    pub note: String,
}

impl EvaluationRow {
    /// The column after which the writer puts the per-indicator columns.
    pub const INDICATORS_AFTER: &str = "satisfaction_points";

    /// The indicators missing for this street ("" when none, or in a year's table).
    pub fn missing(&self) -> &str {
        self.missing_indicators.as_deref().unwrap_or("")
    }
}

impl DeductionRow {
    /// A community row that counts under the rules in force.
    pub fn counts(&self) -> bool {
        self.row_type == "community" && self.counted == "true"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_back<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Vec<T> {
        csv::Reader::from_reader(bytes)
            .deserialize()
            .collect::<std::result::Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn numbers_are_written_as_rust_prints_them_and_read_back_equal() {
        let row = CommunityScoreRow {
            round: "2018-R1".into(),
            community_code: "530103001001".into(),
            n_valid: 3,
            score: Some(81.0),
            se: Some(0.0000001),
            ci_low: None,
            satisfaction_rate: Some(2.0 / 3.0),
            below_threshold: Some(false),
            status: "ok".into(),
            n_excluded: Some(0),
            ..Default::default()
        };
        let bytes =
            crate::fsutil::rows_csv_bytes(&CommunityScoreRow::default(), &[row.clone()], false)
                .unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap(),
            "round,street_code,street_name,community_code,community_name,n_valid,score,se,ci_low,ci_high,df,satisfaction_rate,below_threshold,status,p_below,n_excluded"
        );
        assert_eq!(
            lines.next().unwrap(),
            "2018-R1,,,530103001001,,3,81,0.0000001,,,,0.6666666666666666,false,ok,,0"
        );
        assert_eq!(read_back::<CommunityScoreRow>(&bytes), vec![row]);
    }

    #[test]
    fn an_empty_table_still_has_its_header() {
        let bytes = crate::fsutil::rows_csv_bytes(&ExclusionRow::default(), &[], false).unwrap();
        assert_eq!(bytes, b"round,subject,id,questionnaires,reason\n");
    }

    #[test]
    fn the_evaluation_has_two_layouts_and_reads_both() {
        let quarter = EvaluationRow {
            period: "2018Q1".into(),
            satisfaction_points: Some(Some(52.5)),
            task_points: Some(None),
            indicators_source: Some("x.csv".into()),
            missing_indicators: Some(String::new()),
            total: Some(52.5),
            ..Default::default()
        };
        let year = EvaluationRow {
            period: "2018".into(),
            h1_total: Some(Some(90.0)),
            h2_total: Some(Some(80.25)),
            ..Default::default()
        };
        for (row, header) in [
            (
                quarter,
                "period,street_code,street_name,rounds,satisfaction_score,satisfaction_points,task_points,total,rank,indicators_source,missing_indicators,note",
            ),
            (
                year,
                "period,street_code,street_name,rounds,satisfaction_score,h1_total,h2_total,total,rank,note",
            ),
        ] {
            let bytes = crate::fsutil::rows_csv_bytes(&row.clone(), &[row.clone()], false).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&bytes).lines().next().unwrap(),
                header
            );
            let back = read_back::<EvaluationRow>(&bytes).remove(0);
            // An empty cell reads as an absent column: the same for every reader.
            assert_eq!(
                back.satisfaction_points.flatten(),
                row.satisfaction_points.flatten()
            );
            assert_eq!(back.task_points.flatten(), row.task_points.flatten());
            assert_eq!(back.h1_total.flatten(), row.h1_total.flatten());
            assert_eq!(back.h2_total.flatten(), row.h2_total.flatten());
            assert_eq!(back.missing(), "");
            assert_eq!(back.total, row.total);
        }
    }
}

#[cfg(test)]
mod json_tests {
    use super::*;

    #[test]
    fn in_json_numbers_stay_numbers() {
        let row = StreetScoreRow {
            score: Some(70.5),
            se: None,
            ..Default::default()
        };
        let v = serde_json::to_value(&row).unwrap();
        assert_eq!(v["score"], serde_json::json!(70.5));
        assert!(v["se"].is_null());
        let year = EvaluationRow {
            h1_total: Some(Some(3.0)),
            ..Default::default()
        };
        let v = serde_json::to_value(&year).unwrap();
        assert_eq!(v["h1_total"], serde_json::json!(3.0));
    }
}
