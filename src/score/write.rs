//! The CSVs of a round's scores (`reports/<round>/community_scores.csv`,
//! `street_scores.csv`, `item_scores.csv`, `exclusions.csv`, `undecided_flags.csv`):
//! full precision, an undefined value an empty cell.

use crate::error::Result;
use crate::fsutil::rows_csv_bytes;
use crate::rows::{CommunityScoreRow, ExclusionRow, ItemScoreRow, StreetScoreRow, UndecidedRow};
use crate::workspace::Workspace;

use super::rounds::Scores;

impl Scores {
    pub fn community_rows(&self) -> Vec<CommunityScoreRow> {
        self.communities
            .iter()
            .map(|c| {
                let e = c.est.as_ref();
                CommunityScoreRow {
                    round: self.label.clone(),
                    street_code: c.street_code.clone(),
                    street_name: c.street_name.clone(),
                    community_code: c.community_code.clone(),
                    community_name: c.community_name.clone(),
                    n_valid: c.n_valid as u64,
                    score: e.map(|e| e.mean),
                    se: e.and_then(|e| e.se),
                    ci_low: e.and_then(|e| e.ci.map(|c| c.0)),
                    ci_high: e.and_then(|e| e.ci.map(|c| c.1)),
                    df: e.and_then(|e| e.df),
                    satisfaction_rate: c.satisfaction_rate,
                    below_threshold: c.below_threshold,
                    status: c.status.to_string(),
                    p_below: c.p_below,
                    n_excluded: Some(c.n_excluded as u64),
                }
            })
            .collect()
    }

    pub fn community_csv(&self) -> Result<Vec<u8>> {
        rows_csv_bytes(&CommunityScoreRow::default(), &self.community_rows(), false)
    }

    /// `exclusions.csv`: each exclusion in force, with the valid questionnaires it took
    /// out of these scores and why.
    pub fn exclusions_csv(&self) -> Result<Vec<u8>> {
        let rows: Vec<ExclusionRow> = self
            .exclusions
            .iter()
            .map(|e| ExclusionRow {
                round: e.round.clone(),
                subject: e.subject.clone(),
                id: e.id.clone(),
                questionnaires: e.questionnaires as u64,
                reason: e.reason.clone(),
            })
            .collect();
        // Who decided and when is in the journal (`manyi journal`); the score files
        // depend only on the data and the decisions, so they are the same every run.
        rows_csv_bytes(&ExclusionRow::default(), &rows, false)
    }

    /// `undecided_flags.csv`: per round, the flags no one has decided on.
    pub fn undecided_csv(&self) -> Result<Vec<u8>> {
        let rows: Vec<UndecidedRow> = self
            .undecided
            .iter()
            .map(|u| UndecidedRow {
                round: u.round.clone(),
                interviewers: u.interviewers as u64,
                questionnaires: u.questionnaires as u64,
            })
            .collect();
        rows_csv_bytes(&UndecidedRow::default(), &rows, false)
    }

    pub fn street_rows(&self) -> Vec<StreetScoreRow> {
        self.streets
            .iter()
            .map(|s| {
                let e = s.est.as_ref();
                StreetScoreRow {
                    round: self.label.clone(),
                    street_code: s.street_code.clone(),
                    street_name: s.street_name.clone(),
                    n_sampled: s.n_sampled as u64,
                    n_communities: s.n_communities as u64,
                    n_respondents: s.n_respondents as u64,
                    score: e.map(|e| e.mean),
                    se: e.and_then(|e| e.se),
                    ci_low: e.and_then(|e| e.ci.map(|c| c.0)),
                    ci_high: e.and_then(|e| e.ci.map(|c| c.1)),
                    df: e.and_then(|e| e.df),
                    satisfaction_rate: s.satisfaction_rate,
                    communities_below: s.communities_below as u64,
                    note: s.note.clone(),
                    p_below: s.p_below,
                }
            })
            .collect()
    }

    pub fn street_csv(&self) -> Result<Vec<u8>> {
        rows_csv_bytes(&StreetScoreRow::default(), &self.street_rows(), false)
    }

    pub fn item_csv(&self) -> Result<Vec<u8>> {
        let rows: Vec<ItemScoreRow> = self
            .items
            .iter()
            .map(|i| ItemScoreRow {
                round: self.label.clone(),
                street_code: i.street_code.clone(),
                street_name: i.street_name.clone(),
                question: i.question.clone(),
                text: i.text.clone(),
                score: i.score,
                n_answers: i.n_answers as u64,
            })
            .collect();
        rows_csv_bytes(&ItemScoreRow::default(), &rows, false)
    }

    /// Writes the three CSVs under `reports/<label>/`.
    pub fn write(&self, ws: &Workspace) -> Result<Vec<std::path::PathBuf>> {
        let dir = ws.reports_dir().join(&self.label);
        let files = [
            ("community_scores.csv", self.community_csv()?),
            ("street_scores.csv", self.street_csv()?),
            ("item_scores.csv", self.item_csv()?),
            ("exclusions.csv", self.exclusions_csv()?),
            ("undecided_flags.csv", self.undecided_csv()?),
        ];
        let mut out = Vec::new();
        for (name, bytes) in files {
            let p = dir.join(name);
            crate::fsutil::write_atomic(&p, &bytes)?;
            out.push(p);
        }
        Ok(out)
    }
}
