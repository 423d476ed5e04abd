//! The delivery format guide for evaluators: which columns a delivery has (with the
//! header names the rules accept), the items, the answers (labels, codes, aliases),
//! what "not answered" is written as, and a template to fill in. Made from the rules,
//! so the guide is always the checks' own.

use serde::Serialize;

use crate::error::Result;
use crate::rules::Rules;

/// One column of a delivery.
#[derive(Debug, Clone, Serialize)]
pub struct GuideColumn {
    /// The canonical name (the template's header).
    pub name: String,
    /// Its meaning, in Chinese.
    pub meaning: &'static str,
    /// required | either (one of community_code, community_name) | optional
    pub need: &'static str,
    /// Other header names accepted (from the rules).
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GuideAnswer {
    pub label: String,
    pub code: String,
    pub aliases: Vec<String>,
}

/// The guide.
#[derive(Debug, Clone, Serialize)]
pub struct FormatGuide {
    pub scheme: String,
    pub columns: Vec<GuideColumn>,
    /// (id, question text).
    pub items: Vec<(String, String)>,
    pub answers: Vec<GuideAnswer>,
    pub not_answered: Vec<String>,
    pub min_answered_items: usize,
    pub min_interview_s: Option<f64>,
}

const MEANINGS: [(&str, &str, &str); 11] = [
    ("respondent_id", "问卷编号：本轮内唯一", "required"),
    ("street", "街道名称（可选，用于核对社区名称）", "optional"),
    ("community_code", "社区代码（12 位，与样本一致）", "either"),
    ("community_name", "社区名称（无代码时按名称匹配）", "either"),
    ("round", "调查轮次，如 2018-R1（可选）", "optional"),
    (
        "interview_date",
        "访问日期，如 2018-04-12 或 2018/4/12",
        "optional",
    ),
    ("interviewer_id", "访问员编号", "optional"),
    ("mode", "访问方式，如 入户、电话", "optional"),
    ("duration_s", "访问用时（秒）", "optional"),
    ("phone", "受访者电话（仅用于回访，入库时加密）", "optional"),
    ("name", "受访者姓名（仅用于回访，入库时加密）", "optional"),
];

pub fn guide(rules: &Rules) -> FormatGuide {
    let columns = MEANINGS
        .iter()
        .map(|(name, meaning, need)| GuideColumn {
            name: name.to_string(),
            meaning,
            need,
            aliases: rules.ingest.columns.get(*name).cloned().unwrap_or_default(),
        })
        .collect();
    FormatGuide {
        scheme: rules.scheme.clone(),
        columns,
        items: rules
            .questions
            .iter()
            .map(|q| (q.id.clone(), q.text.clone()))
            .collect(),
        answers: rules
            .scale
            .answers
            .iter()
            .map(|a| GuideAnswer {
                label: a.label.clone(),
                code: a.code.clone(),
                aliases: a.aliases.clone(),
            })
            .collect(),
        not_answered: rules.scale.not_answered.clone(),
        min_answered_items: rules.validity.min_answered_items,
        min_interview_s: rules.validity.min_interview_s,
    }
}

/// The template: the header (every column, then the items by id) and one example row
/// (UTF-8 with BOM, for Excel).
pub fn template_csv(rules: &Rules) -> Result<Vec<u8>> {
    let mut header: Vec<String> = MEANINGS.iter().map(|(n, _, _)| n.to_string()).collect();
    header.extend(rules.questions.iter().map(|q| q.id.clone()));
    let label = |i: usize| {
        rules
            .scale
            .answers
            .get(i)
            .map(|a| a.label.clone())
            .unwrap_or_default()
    };
    let mut example: Vec<String> = [
        "A000001",
        "",
        "530103001001",
        "",
        "2018-R1",
        "2018-04-12",
        "I01",
        "入户",
        "540",
        "",
        "",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    example.extend((0..rules.questions.len()).map(|k| label(k % 3)));
    crate::fsutil::csv_bytes(header, [example], true)
}
