//! The office's review of a round's flags: interviewers flagged, filtered and sorted,
//! with the evidence in words and names, what a decision changed, and the
//! questionnaire signals (no decision each). The portal's flags page renders it.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::flags::{DecisionView, QuestionnaireRow, RoundFlags};
use crate::messages::{Lang, evidence_words, indicator_words_in};
use crate::round::RoundId;
use crate::workspace::Workspace;

/// Which flagged interviewers to show.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    All,
    Undecided,
    Decided,
}

/// The order of the flagged interviewers (undecided first, always).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    /// The strongest evidence first (smallest p).
    #[default]
    Evidence,
    /// The most questionnaires first.
    Questionnaires,
    /// By interviewer id.
    Interviewer,
}

/// What the reader asked to see.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    #[serde(default)]
    pub status: Status,
    /// A street code: interviewers who worked there.
    #[serde(default)]
    pub street: Option<String>,
    /// An evaluating organisation: interviewers whose questionnaires it delivered.
    #[serde(default)]
    pub evaluator: Option<String>,
    #[serde(default)]
    pub sort: Sort,
}

impl Filter {
    /// The filter's fields as (name, value) pairs, defaults left out (for links).
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.status != Status::All {
            let v = if self.status == Status::Undecided {
                "undecided"
            } else {
                "decided"
            };
            out.push(("status", v.to_string()));
        }
        if let Some(s) = self.street.as_deref().filter(|s| !s.is_empty()) {
            out.push(("street", s.to_string()));
        }
        if let Some(e) = self.evaluator.as_deref().filter(|s| !s.is_empty()) {
            out.push(("evaluator", e.to_string()));
        }
        if self.sort != Sort::Evidence {
            let v = if self.sort == Sort::Questionnaires {
                "questionnaires"
            } else {
                "interviewer"
            };
            out.push(("sort", v.to_string()));
        }
        out
    }
}

/// One flagged interviewer as the office reads it.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewRow {
    pub interviewer_id: String,
    pub questionnaires: usize,
    /// Evaluating organisations whose deliveries hold their questionnaires.
    pub evaluators: Vec<String>,
    pub deliveries: Vec<String>,
    /// (code, name) of the streets and communities they worked in.
    pub streets: Vec<(String, String)>,
    pub communities: Vec<(String, String)>,
    /// How often an honest interviewer would look this unusual, in words.
    pub evidence: String,
    /// What stands out, in words (no statistics).
    pub signs: Vec<String>,
    /// The numbers behind it: (indicator in words, difference, z), and p.
    pub numbers: Vec<(String, f64, f64)>,
    pub p_value: Option<f64>,
    /// What excluding them would do, with names: per street the change, per community
    /// the score with → without.
    pub impact: Vec<String>,
    /// The streets' changes if excluded, the largest first, in one sentence (the
    /// changes under 0.5 points summed up as "the other N streets").
    pub street_impact: String,
    /// Their questionnaires' signals in words (empty when none).
    pub signals: String,
    /// What callbacks found on them, in words (empty when none was drawn), and
    /// whether the callbacks flag them.
    pub callbacks: String,
    pub callbacks_flagged: bool,
    pub decision: Option<DecisionView>,
}

/// The review of a round's flags (see the module's doc).
#[derive(Debug, Clone, Serialize)]
pub struct Review {
    pub round: String,
    pub questionnaires_read: usize,
    pub flagged_interviewers: usize,
    pub undecided_interviewers: usize,
    /// The rows the filter keeps, in its order.
    pub rows: Vec<ReviewRow>,
    /// The streets and evaluators of the flagged interviewers (the filter's choices).
    pub streets: Vec<(String, String)>,
    pub evaluators: Vec<String>,
    /// Questionnaires with a signal: the first `shown`, and how many in all.
    pub questionnaires: Vec<QuestionnaireRow>,
    /// The name of each listed questionnaire's community (same order).
    pub questionnaire_communities: Vec<String>,
    pub questionnaires_total: usize,
}

/// The review of round `round`'s flags, `filter` applied, at most `shown`
/// questionnaires with signals listed.
pub fn review(ws: &Workspace, round: &RoundId, filter: &Filter, shown: usize) -> Result<Review> {
    let f = super::flags(ws, round)?;
    let frame = ws.frame()?;
    let store = crate::store::Store::new(ws);
    let index = store.read_index()?;
    let evaluator_of: std::collections::HashMap<&str, &str> = store
        .deliveries(&index, round)
        .into_iter()
        .map(|d| (d.file_name.as_str(), d.evaluator.as_deref().unwrap_or("")))
        .collect();
    Ok(build(
        &f,
        &frame,
        &|file| evaluator_of.get(file).map(|e| e.to_string()),
        filter,
        shown,
    ))
}

fn build(
    f: &RoundFlags,
    frame: &crate::frame::Frame,
    evaluator_of: &dyn Fn(&str) -> Option<String>,
    filter: &Filter,
    shown: usize,
) -> Review {
    let l = Lang::Zh;
    let street_name = |code: &str| {
        frame
            .streets
            .get(code)
            .map(|s| s.name.clone())
            .unwrap_or_else(|| code.to_string())
    };
    let community_name = |code: &str| {
        frame
            .community(code)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| code.to_string())
    };
    let all: Vec<ReviewRow> = f
        .interviewers
        .iter()
        .map(|i| {
            let mut evaluators: Vec<String> = i
                .deliveries
                .iter()
                .filter_map(|file| evaluator_of(file))
                .filter(|e| !e.is_empty())
                .collect();
            evaluators.sort();
            evaluators.dedup();
            let sens = &i.sensitivity;
            let mut impact: Vec<String> = sens
                .streets
                .iter()
                .map(|(s, d)| format!("{} {:+.2} 分", street_name(s), d))
                .collect();
            impact.extend(
                sens.communities
                    .iter()
                    .map(|(c, with, without)| match without {
                        Some(w) => format!("{} {with:.1} → {w:.1}", community_name(c)),
                        None => format!("{} {with:.1} → 无有效问卷", community_name(c)),
                    }),
            );
            let signs: Vec<String> = i
                .reason_codes
                .iter()
                .filter_map(|code| i.indicators.iter().find(|e| &e.code == code))
                .map(|e| indicator_words_in(&e.code, e.difference, l))
                .collect();
            let s = &i.signals;
            let mut sig = Vec::new();
            if s.speeders > 0 {
                sig.push(format!("用时过短 {} 份", s.speeders));
            }
            if s.straightlined > 0 {
                sig.push(format!("所有题答案相同 {} 份", s.straightlined));
            }
            if s.invalid > 0 {
                sig.push(format!("答题过少（按规则无效）{} 份", s.invalid));
            }
            let mut by_size: Vec<&(String, f64)> = sens.streets.iter().collect();
            by_size.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(&b.0)));
            let (big, small): (Vec<&(String, f64)>, Vec<&(String, f64)>) =
                by_size.into_iter().partition(|(_, d)| d.abs() >= 0.5);
            let mut street_impact = String::new();
            if !big.is_empty() {
                let parts: Vec<String> = big
                    .iter()
                    .map(|(s, d)| format!("{} {:+.2} 分", street_name(s), d))
                    .collect();
                street_impact = format!("各街道得分变化：{}", parts.join("，"));
                if !small.is_empty() {
                    street_impact
                        .push_str(&format!("；其余 {} 个街道变化不足 0.5 分", small.len()));
                }
                street_impact.push('。');
            } else if !small.is_empty() {
                street_impact = format!("{} 个街道的得分变化均不足 0.5 分。", small.len());
            }
            ReviewRow {
                street_impact,
                interviewer_id: i.interviewer_id.clone(),
                questionnaires: i.questionnaires,
                evaluators,
                deliveries: i.deliveries.clone(),
                streets: sens
                    .streets
                    .iter()
                    .map(|(c, _)| (c.clone(), street_name(c)))
                    .collect(),
                communities: sens
                    .communities
                    .iter()
                    .map(|(c, _, _)| (c.clone(), community_name(c)))
                    .collect(),
                evidence: match (i.p_value, &i.callbacks) {
                    (Some(p), _) => evidence_words(p, l),
                    (None, Some(c)) if c.flagged() => {
                        "回访核实失败明显多于如实访问的访问员".to_string()
                    }
                    // ok: no p-value (a comparison from before it), no words.
                    _ => String::new(),
                },
                signs,
                numbers: i
                    .indicators
                    .iter()
                    .map(|e| {
                        (
                            indicator_words_in(&e.code, e.difference, l),
                            e.difference,
                            e.z,
                        )
                    })
                    .collect(),
                p_value: i.p_value,
                impact,
                signals: sig.join("、"),
                callbacks: i
                    .callbacks
                    .as_ref()
                    .map(|c| c.words.clone())
                    .unwrap_or_default(),
                callbacks_flagged: i.callbacks.as_ref().is_some_and(|c| c.flagged()),
                decision: i.decision.clone(),
            }
        })
        .collect();
    let mut streets: Vec<(String, String)> = all.iter().flat_map(|r| r.streets.clone()).collect();
    streets.sort();
    streets.dedup();
    let mut evaluators: Vec<String> = all.iter().flat_map(|r| r.evaluators.clone()).collect();
    evaluators.sort();
    evaluators.dedup();
    let mut rows: Vec<ReviewRow> = all
        .into_iter()
        .filter(|r| match filter.status {
            Status::All => true,
            Status::Undecided => r.decision.is_none(),
            Status::Decided => r.decision.is_some(),
        })
        .filter(
            |r| match filter.street.as_deref().filter(|s| !s.is_empty()) {
                None => true,
                Some(s) => r.streets.iter().any(|(c, _)| c == s),
            },
        )
        .filter(
            |r| match filter.evaluator.as_deref().filter(|s| !s.is_empty()) {
                None => true,
                Some(e) => r.evaluators.iter().any(|x| x == e),
            },
        )
        .collect();
    rows.sort_by(|a, b| {
        a.decision
            .is_some()
            .cmp(&b.decision.is_some())
            .then_with(|| match filter.sort {
                Sort::Evidence => a
                    .p_value
                    .unwrap_or(1.0)
                    .total_cmp(&b.p_value.unwrap_or(1.0))
                    .then(b.questionnaires.cmp(&a.questionnaires)),
                Sort::Questionnaires => b.questionnaires.cmp(&a.questionnaires),
                Sort::Interviewer => std::cmp::Ordering::Equal,
            })
            .then_with(|| a.interviewer_id.cmp(&b.interviewer_id))
    });
    Review {
        round: f.round.clone(),
        questionnaires_read: f.questionnaires_read,
        flagged_interviewers: f.interviewers.len(),
        undecided_interviewers: f.undecided_interviewers,
        rows,
        streets,
        evaluators,
        questionnaires: f.questionnaires.iter().take(shown).cloned().collect(),
        questionnaire_communities: f
            .questionnaires
            .iter()
            .take(shown)
            .map(|q| community_name(&q.community_code))
            .collect(),
        questionnaires_total: f.questionnaires.len(),
    }
}

/// What the decision in force on `subject`:`id` did, for the reader after deciding:
/// "已剔除访问员 X 的 52 份问卷…", with the impact in names and what is left to decide.
pub fn change_notice(review: &Review, flags_subject: &str, id: &str) -> Option<String> {
    match flags_subject {
        "interviewer" => {
            let left = format!(
                "本轮尚待决定的访问员：{} 名。",
                review.undecided_interviewers
            );
            let Some(r) = review.rows.iter().find(|r| r.interviewer_id == id) else {
                // Not flagged (or filtered out): the decision is recorded all the same.
                return Some(format!("已记录对访问员 {id} 的决定。{left}"));
            };
            let d = r.decision.as_ref()?;
            Some(if d.action == "exclude" {
                format!(
                    "已剔除访问员 {id} 的 {} 份问卷：重新计算本轮得分（本轮页面的“计算得分”）后不再计入。{}{left}",
                    r.questionnaires, r.street_impact
                )
            } else {
                format!(
                    "已保留访问员 {id} 的 {} 份问卷，照常计入得分。{left}",
                    r.questionnaires
                )
            })
        }
        "respondent" => {
            let q = review.questionnaires.iter().find(|q| q.respondent_id == id);
            let d = q.and_then(|q| q.decision.as_ref());
            Some(match d.map(|d| d.action.as_str()) {
                Some("exclude") => {
                    format!("已剔除问卷 {id}（例外决定）：重新计算本轮得分后不再计入。")
                }
                Some(_) => format!("已保留问卷 {id}（例外决定），照常计入得分。"),
                None => format!("已记录对问卷 {id} 的决定。"),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::{InterviewerRow, Sensitivity, Signals};

    const FRAME: &str =
        "street_code,street_name,community_code,community_name,kind,urban_rural_code,households
530103001,拓东街道,530103001001,尚义社区居委会,社区,111,3567
530103002,鼓楼街道,530103002001,北门社区居委会,社区,111,4000
";

    fn row(
        id: &str,
        n: usize,
        p: f64,
        street: &str,
        community: &str,
        file: &str,
    ) -> InterviewerRow {
        InterviewerRow {
            callbacks: None,
            interviewer_id: id.into(),
            questionnaires: n,
            communities: 1,
            deliveries: vec![file.into()],
            score_difference: 0.0,
            score_z: 0.0,
            duration_ratio: None,
            duration_z: None,
            straightline_share: 0.0,
            reason_codes: vec!["score".into()],
            p_value: Some(p),
            indicators: vec![crate::ingest::quality::IndicatorEvidence {
                code: "score".into(),
                difference: 12.5,
                z: 4.2,
            }],
            sensitivity: Sensitivity {
                communities: vec![(community.into(), 80.0, Some(78.5))],
                streets: vec![(street.into(), -0.75)],
            },
            signals: Signals {
                flagged: 3,
                speeders: 2,
                straightlined: 1,
                invalid: 0,
            },
            decision: None,
        }
    }

    fn flags() -> RoundFlags {
        let mut a = row("A1", 40, 0.004, "530103001", "530103001001", "a.csv");
        let b = row("B7", 90, 0.0001, "530103002", "530103002001", "b.csv");
        let c = row("C3", 60, 0.00005, "530103001", "530103001001", "b.csv");
        a.decision = Some(DecisionView {
            action: "keep".into(),
            reason: "回访核实无误".into(),
            actor: "office".into(),
            at: "2018-06-01T00:00:00Z".into(),
            on: "interviewer".into(),
        });
        RoundFlags {
            round: "2018-R1".into(),
            questionnaires_read: 500,
            interviewers: vec![a, b, c],
            questionnaires: Vec::new(),
            undecided_interviewers: 2,
            undecided_questionnaires: 0,
        }
    }

    fn ids(f: &Filter) -> Vec<String> {
        let frame = crate::frame::Frame::parse(FRAME.as_bytes(), "frame.csv").unwrap();
        let org = |file: &str| {
            Some(
                if file == "a.csv" {
                    "甲公司"
                } else {
                    "乙公司"
                }
                .to_string(),
            )
        };
        build(&flags(), &frame, &org, f, 10)
            .rows
            .iter()
            .map(|r| r.interviewer_id.clone())
            .collect()
    }

    #[test]
    fn the_review_filters_and_sorts_with_the_undecided_first() {
        let f = |status, street: Option<&str>, evaluator: Option<&str>, sort| Filter {
            status,
            street: street.map(str::to_string),
            evaluator: evaluator.map(str::to_string),
            sort,
        };
        // Evidence: the smallest p first; the decided last whatever its evidence.
        assert_eq!(
            ids(&f(Status::All, None, None, Sort::Evidence)),
            ["C3", "B7", "A1"]
        );
        assert_eq!(
            ids(&f(Status::All, None, None, Sort::Questionnaires)),
            ["B7", "C3", "A1"]
        );
        assert_eq!(
            ids(&f(Status::All, None, None, Sort::Interviewer)),
            ["B7", "C3", "A1"]
        );
        assert_eq!(
            ids(&f(Status::Undecided, None, None, Sort::Interviewer)),
            ["B7", "C3"]
        );
        assert_eq!(ids(&f(Status::Decided, None, None, Sort::Evidence)), ["A1"]);
        assert_eq!(
            ids(&f(Status::All, Some("530103001"), None, Sort::Interviewer)),
            ["C3", "A1"]
        );
        assert_eq!(
            ids(&f(Status::All, None, Some("甲公司"), Sort::Evidence)),
            ["A1"]
        );
        assert_eq!(
            ids(&f(
                Status::Undecided,
                Some("530103001"),
                Some("乙公司"),
                Sort::Questionnaires
            )),
            ["C3"]
        );
        assert!(ids(&f(Status::All, Some("530103999"), None, Sort::Evidence)).is_empty());
    }

    #[test]
    fn the_review_speaks_in_names_and_words_and_says_what_a_decision_did() {
        let frame = crate::frame::Frame::parse(FRAME.as_bytes(), "frame.csv").unwrap();
        let org = |_: &str| Some("乙公司".to_string());
        let mut fl = flags();
        fl.interviewers[1].decision = Some(DecisionView {
            action: "exclude".into(),
            reason: "回访:未接受访问".into(),
            actor: "office".into(),
            at: "2018-06-01T00:00:00Z".into(),
            on: "interviewer".into(),
        });
        fl.undecided_interviewers = 1;
        fl.interviewers[1]
            .sensitivity
            .streets
            .push(("530103001".into(), 0.1));
        let rv = build(&fl, &frame, &org, &Filter::default(), 10);
        let b = rv.rows.iter().find(|r| r.interviewer_id == "B7").unwrap();
        assert_eq!(
            b.streets,
            [
                ("530103002".to_string(), "鼓楼街道".to_string()),
                ("530103001".to_string(), "拓东街道".to_string())
            ]
        );
        assert_eq!(
            b.impact,
            [
                "鼓楼街道 -0.75 分",
                "拓东街道 +0.10 分",
                "北门社区居委会 80.0 → 78.5"
            ]
        );
        assert_eq!(
            b.street_impact,
            "各街道得分变化：鼓楼街道 -0.75 分；其余 1 个街道变化不足 0.5 分。"
        );
        assert_eq!(
            b.evidence,
            "如实访问的访问员，约每 10,000 人中才有 1 人会这样反常"
        );
        assert_eq!(b.signs, ["平均得分比同社区其他访问员高 12.5 分"]);
        assert_eq!(b.signals, "用时过短 2 份、所有题答案相同 1 份");
        assert_eq!(rv.streets.len(), 2);
        assert_eq!(
            change_notice(&rv, "interviewer", "B7").unwrap(),
            "已剔除访问员 B7 的 90 份问卷：重新计算本轮得分（本轮页面的“计算得分”）后不再计入。各街道得分变化：鼓楼街道 -0.75 分；其余 1 个街道变化不足 0.5 分。本轮尚待决定的访问员：1 名。"
        );
        assert_eq!(
            change_notice(&rv, "interviewer", "A1").unwrap(),
            "已保留访问员 A1 的 40 份问卷，照常计入得分。本轮尚待决定的访问员：1 名。"
        );
        assert!(
            change_notice(&rv, "interviewer", "C3").is_none(),
            "no decision on C3"
        );
    }
}

/// The review's interviewers as a workbook for people (标记访问员): who, how many
/// questionnaires, where, the evidence in words and its p, what excluding them would
/// do, the decision with its reason, who made it and when (Beijing time). Codes as
/// text cells.
pub fn review_xlsx(review: &Review) -> Result<Vec<u8>> {
    use crate::fsutil::XCell::{self, Empty, Num, Text};
    let names = |v: &[(String, String)]| -> String {
        v.iter()
            .map(|(code, name)| {
                if name.is_empty() {
                    code.clone()
                } else {
                    format!("{name}（{code}）")
                }
            })
            .collect::<Vec<_>>()
            .join("、")
    };
    let rows: Vec<Vec<XCell>> = review
        .rows
        .iter()
        .map(|r| {
            let d = r.decision.as_ref();
            vec![
                Text(r.interviewer_id.clone()),
                Num(r.questionnaires as f64),
                Text(r.evaluators.join("、")),
                Text(names(&r.streets)),
                Text(names(&r.communities)),
                Text(r.evidence.clone()),
                Text(r.signs.join("；")),
                r.p_value.map(Num).unwrap_or(Empty),
                Text(r.signals.clone()),
                Text(r.callbacks.clone()),
                Text(r.street_impact.clone()),
                Text(
                    d.map(|d| crate::messages::decision_action_text(&d.action).to_string())
                        .unwrap_or_else(|| "待决定".into()),
                ),
                Text(d.map(|d| d.reason.clone()).unwrap_or_default()),
                Text(d.map(|d| d.actor.clone()).unwrap_or_default()),
                Text(
                    d.map(|d| crate::store::beijing_time(&d.at))
                        .unwrap_or_default(),
                ),
            ]
        })
        .collect();
    crate::fsutil::xlsx_table(
        "标记访问员",
        &[
            "访问员",
            "问卷数",
            "测评机构",
            "街道",
            "社区",
            "证据",
            "异常之处",
            "P值",
            "问卷信号",
            "回访",
            "排除后的影响",
            "决定",
            "理由",
            "决定人",
            "决定时间（北京时间）",
        ],
        &[
            12.0, 8.0, 14.0, 24.0, 30.0, 36.0, 36.0, 10.0, 24.0, 30.0, 36.0, 10.0, 24.0, 10.0, 20.0,
        ],
        &rows,
    )
}
