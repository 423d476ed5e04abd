//! The CSVs of a round's scores (`reports/<round>/community_scores.csv`,
//! `street_scores.csv`, `item_scores.csv`, `exclusions.csv`, `undecided_flags.csv`):
//! full precision, an undefined value an empty cell.

use crate::error::Result;
use crate::workspace::Workspace;

use super::rounds::Scores;

fn num(x: Option<f64>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

/// score, se, ci_low, ci_high, df: full precision, empty where undefined.
fn estimate_cells(e: Option<(f64, Option<f64>, Option<(f64, f64)>, Option<f64>)>) -> [String; 5] {
    let (mean, se, ci, df) = match e {
        Some((m, se, ci, df)) => (Some(m), se, ci, df),
        None => (None, None, None, None),
    };
    [
        num(mean),
        num(se),
        num(ci.map(|c| c.0)),
        num(ci.map(|c| c.1)),
        num(df),
    ]
}

fn flag(x: Option<bool>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

fn csv_bytes(header: &[&str], rows: Vec<Vec<String>>) -> Result<Vec<u8>> {
    crate::fsutil::csv_bytes(header, rows, false)
}

impl Scores {
    pub fn community_csv(&self) -> Result<Vec<u8>> {
        let rows = self
            .communities
            .iter()
            .map(|c| {
                let e = c.est.as_ref();
                vec![
                    self.label.clone(),
                    c.street_code.clone(),
                    c.street_name.clone(),
                    c.community_code.clone(),
                    c.community_name.clone(),
                    c.n_valid.to_string(),
                ]
                .into_iter()
                .chain(estimate_cells(e.map(|e| (e.mean, e.se, e.ci, e.df))))
                .chain([
                    num(c.satisfaction_rate),
                    flag(c.below_threshold),
                    c.status.to_string(),
                    num(c.p_below),
                    c.n_excluded.to_string(),
                ])
                .collect()
            })
            .collect();
        csv_bytes(
            &[
                "round",
                "street_code",
                "street_name",
                "community_code",
                "community_name",
                "n_valid",
                "score",
                "se",
                "ci_low",
                "ci_high",
                "df",
                "satisfaction_rate",
                "below_threshold",
                "status",
                "p_below",
                "n_excluded",
            ],
            rows,
        )
    }

    /// `exclusions.csv`: each exclusion in force, with the valid questionnaires it took
    /// out of these scores and why.
    pub fn exclusions_csv(&self) -> Result<Vec<u8>> {
        let rows = self
            .exclusions
            .iter()
            .map(|e| {
                vec![
                    e.round.clone(),
                    e.subject.clone(),
                    e.id.clone(),
                    e.questionnaires.to_string(),
                    e.reason.clone(),
                ]
            })
            .collect();
        // Who decided and when is in the journal (`manyi journal`); the score files
        // depend only on the data and the decisions, so they are the same every run.
        csv_bytes(
            &["round", "subject", "id", "questionnaires", "reason"],
            rows,
        )
    }

    /// `undecided_flags.csv`: per round, the flags no one has decided on.
    pub fn undecided_csv(&self) -> Result<Vec<u8>> {
        let rows = self
            .undecided
            .iter()
            .map(|u| {
                vec![
                    u.round.clone(),
                    u.interviewers.to_string(),
                    u.questionnaires.to_string(),
                ]
            })
            .collect();
        csv_bytes(&["round", "interviewers", "questionnaires"], rows)
    }

    pub fn street_csv(&self) -> Result<Vec<u8>> {
        let rows = self
            .streets
            .iter()
            .map(|s| {
                let e = s.est.as_ref();
                vec![
                    self.label.clone(),
                    s.street_code.clone(),
                    s.street_name.clone(),
                    s.n_sampled.to_string(),
                    s.n_communities.to_string(),
                    s.n_respondents.to_string(),
                ]
                .into_iter()
                .chain(estimate_cells(e.map(|e| (e.mean, e.se, e.ci, e.df))))
                .chain([
                    num(s.satisfaction_rate),
                    s.communities_below.to_string(),
                    s.note.clone(),
                    num(s.p_below),
                ])
                .collect()
            })
            .collect();
        csv_bytes(
            &[
                "round",
                "street_code",
                "street_name",
                "n_sampled",
                "n_communities",
                "n_respondents",
                "score",
                "se",
                "ci_low",
                "ci_high",
                "df",
                "satisfaction_rate",
                "communities_below",
                "note",
                "p_below",
            ],
            rows,
        )
    }

    pub fn item_csv(&self) -> Result<Vec<u8>> {
        let rows = self
            .items
            .iter()
            .map(|i| {
                vec![
                    self.label.clone(),
                    i.street_code.clone(),
                    i.street_name.clone(),
                    i.question.clone(),
                    i.text.clone(),
                    num(i.score),
                    i.n_answers.to_string(),
                ]
            })
            .collect();
        csv_bytes(
            &[
                "round",
                "street_code",
                "street_name",
                "question",
                "text",
                "score",
                "n_answers",
            ],
            rows,
        )
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
