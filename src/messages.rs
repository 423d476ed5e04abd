//! The catalogue of what people read: every reject reason, how to fix it, statuses and
//! rule names, in Chinese (the default) and English (`--lang en` or `MANYI_LANG=en`).
//! Codes, column names of machine CSVs and JSON keys stay stable English and are not
//! here; everything a person reads is, so no message is written twice.

pub(crate) use crate::lang::tr;
pub use crate::lang::{Lang, lang, set_lang, t};

/// Why a date cell is not a date.
#[derive(Debug, Clone, PartialEq)]
pub enum DateProblem {
    NotADate,
    ImpossibleMonth(u32),
    ImpossibleDay(u32, u32),
}

/// One fault of a delivered row: the reason it is rejected. A row can have several.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    LineTooLong {
        bytes: u64,
        limit: u64,
    },
    SummaryRow {
        label: String,
    },
    FieldCount {
        found: usize,
        expected: usize,
    },
    MissingId,
    WrongRound {
        found: String,
        round: String,
    },
    UnknownCommunityCode {
        code: String,
    },
    UnknownCommunityName {
        name: String,
    },
    NoCommunity,
    AmbiguousCommunity {
        name: String,
        candidates: Vec<String>,
    },
    CommunityMismatch {
        name: String,
        code: String,
        frame_name: String,
    },
    StreetMismatch {
        street: String,
        community: String,
        actual: String,
    },
    NotInSample {
        code: String,
        name: String,
        round: String,
    },
    /// The community's street is not one the uploader's organisation is assigned.
    StreetNotAssigned {
        street: String,
        org: String,
        round: String,
    },
    BadAnswer {
        value: String,
        question: String,
        labels: String,
        codes: String,
    },
    BadDate {
        value: String,
        problem: DateProblem,
    },
    DateOutsideYear {
        value: String,
        year: i32,
    },
    BadDuration {
        value: String,
    },
    DuplicateStored {
        id: String,
        round: String,
    },
    DuplicateInFile {
        id: String,
        first_line: u64,
    },
}

impl Fault {
    /// The stable code (receipts' `rejects_by_reason`, the rejects file's last column).
    pub fn code(&self) -> &'static str {
        match self {
            Fault::LineTooLong { .. } => "line-too-long",
            Fault::SummaryRow { .. } => "summary-row",
            Fault::FieldCount { .. } => "field-count",
            Fault::MissingId => "missing-id",
            Fault::WrongRound { .. } => "wrong-round",
            Fault::UnknownCommunityCode { .. }
            | Fault::UnknownCommunityName { .. }
            | Fault::NoCommunity => "unknown-community",
            Fault::AmbiguousCommunity { .. } => "ambiguous-community",
            Fault::CommunityMismatch { .. } => "community-mismatch",
            Fault::StreetMismatch { .. } => "street-mismatch",
            Fault::NotInSample { .. } => "not-in-sample",
            Fault::StreetNotAssigned { .. } => "street-not-assigned",
            Fault::BadAnswer { .. } => "bad-answer",
            Fault::BadDate { .. } => "bad-date",
            Fault::DateOutsideYear { .. } => "date-outside-year",
            Fault::BadDuration { .. } => "bad-duration",
            Fault::DuplicateStored { .. } => "duplicate-stored",
            Fault::DuplicateInFile { .. } => "duplicate-in-file",
        }
    }

    /// What is wrong, in the language given.
    pub fn text_in(&self, l: Lang) -> String {
        let zh = l == Lang::Zh;
        match self {
            Fault::LineTooLong { bytes, limit } => {
                if zh {
                    format!(
                        "该记录长 {bytes} 字节(最多读取 {limit} 字节):一行没有换行,或引号没有闭合"
                    )
                } else {
                    format!(
                        "a record of {bytes} bytes (at most {limit} are read): a line without line breaks, or a quote that is never closed"
                    )
                }
            }
            Fault::SummaryRow { label } => {
                if zh {
                    format!("这是合计行({label}),不是问卷")
                } else {
                    format!("a summary row ({label}), not a questionnaire")
                }
            }
            Fault::FieldCount { found, expected } => {
                if zh {
                    format!("本行有 {found} 列,表头有 {expected} 列")
                } else {
                    format!("has {found} fields, the header has {expected}")
                }
            }
            Fault::MissingId => {
                if zh {
                    "问卷编号为空".into()
                } else {
                    "the respondent id is empty".into()
                }
            }
            Fault::WrongRound { found, round } => {
                if zh {
                    format!("本行轮次为 {found:?},本次导入的是 {round} 轮")
                } else {
                    format!("round {found:?} in the row, this delivery is ingested for {round}")
                }
            }
            Fault::UnknownCommunityCode { code } => {
                if zh {
                    format!("社区代码 {code} 不在社区名录中")
                } else {
                    format!("community code {code} is not in the frame")
                }
            }
            Fault::UnknownCommunityName { name } => {
                if zh {
                    format!("社区名称 {name:?} 不在社区名录中")
                } else {
                    format!("community name {name:?} is not in the frame")
                }
            }
            Fault::NoCommunity => {
                if zh {
                    "没有社区代码,也没有社区名称".into()
                } else {
                    "no community code or name".into()
                }
            }
            Fault::AmbiguousCommunity { name, candidates } => {
                if zh {
                    format!("社区名称 {name:?} 对应多个社区:{}", candidates.join(";"))
                } else {
                    format!(
                        "community name {name:?} matches several communities: {}",
                        candidates.join("; ")
                    )
                }
            }
            Fault::CommunityMismatch {
                name,
                code,
                frame_name,
            } => {
                if zh {
                    format!("社区名称 {name:?} 与社区代码 {code}({frame_name})不一致")
                } else {
                    format!("community name {name:?} does not match code {code} ({frame_name})")
                }
            }
            Fault::StreetMismatch {
                street,
                community,
                actual,
            } => {
                if zh {
                    format!("街道为 {street:?},但社区 {community} 属于 {actual}")
                } else {
                    format!("street {street:?} but community {community} is in {actual}")
                }
            }
            Fault::StreetNotAssigned { street, org, round } => {
                if zh {
                    format!("{street} 不在 {org} {round} 轮负责的街道中")
                } else {
                    format!("{street} is not among the streets {org} is assigned in round {round}")
                }
            }
            Fault::NotInSample { code, name, round } => {
                if zh {
                    format!("社区 {code} {name} 不在 {round} 轮的抽样名单中")
                } else {
                    format!("community {code} {name} is not in the sample of round {round}")
                }
            }
            Fault::BadAnswer {
                value,
                question,
                labels,
                codes,
            } => {
                if zh {
                    format!(
                        "{value:?} 不是 {question} 的有效答案(可用选项 {labels},或代码 {codes};不了解或空白 = 未回答)"
                    )
                } else {
                    format!(
                        "{value:?} is not an answer of the scale for {question} (labels {labels}, codes {codes}; 不了解 or blank = not answered)"
                    )
                }
            }
            Fault::BadDate { value, problem } => match (problem, zh) {
                (DateProblem::NotADate, true) => {
                    format!("{value:?} 不是日期(应为 2018-04-12、2018/4/12 或 2018年4月12日)")
                }
                (DateProblem::NotADate, false) => format!(
                    "{value:?} is not a date (expected 2018-04-12, 2018/4/12 or 2018年4月12日)"
                ),
                (DateProblem::ImpossibleMonth(m), true) => {
                    format!("{value:?} 是不存在的日期(月份 {m})")
                }
                (DateProblem::ImpossibleMonth(m), false) => {
                    format!("{value:?} is an impossible date (month {m})")
                }
                (DateProblem::ImpossibleDay(d, m), true) => {
                    format!("{value:?} 是不存在的日期({m} 月没有 {d} 日)")
                }
                (DateProblem::ImpossibleDay(d, m), false) => {
                    format!("{value:?} is an impossible date (day {d} of month {m})")
                }
            },
            Fault::DateOutsideYear { value, year } => {
                if zh {
                    format!("{value:?} 不在本轮所属的 {year} 年")
                } else {
                    format!("{value:?} is outside the round's year {year}")
                }
            }
            Fault::BadDuration { value } => {
                if zh {
                    format!("访问时长 {value:?} 不是秒数")
                } else {
                    format!("duration {value:?} is not a number of seconds")
                }
            }
            Fault::DuplicateStored { id, round } => {
                if zh {
                    format!("问卷编号 {id} 已在 {round} 轮此前的交付中入库")
                } else {
                    format!(
                        "respondent id {id} is already stored for round {round} from an earlier delivery"
                    )
                }
            }
            Fault::DuplicateInFile { id, first_line } => {
                if zh {
                    format!("问卷编号 {id} 与本文件第 {first_line} 行重复(保留最先出现的一行)")
                } else {
                    format!(
                        "respondent id {id} repeats line {first_line} of this file (the first is kept)"
                    )
                }
            }
        }
    }

    /// How to fix it, in the language given.
    pub fn fix_in(&self, l: Lang) -> &'static str {
        let (zh, en) = match self {
            Fault::LineTooLong { .. } => (
                "检查该行:补上换行符,或闭合引号;如从 Excel 导出,请另存为 CSV(逗号分隔)",
                "check the line: add the missing line breaks or close the quote; from Excel, save as CSV (comma delimited)",
            ),
            Fault::SummaryRow { .. } => (
                "删除合计、小计行,只保留问卷",
                "delete total and subtotal rows; deliver questionnaires only",
            ),
            Fault::FieldCount { .. } => (
                "检查该行是否缺少或多出单元格(多余的逗号、未加引号的逗号)",
                "check the row for missing or extra cells (a stray comma, a comma not in quotes)",
            ),
            Fault::MissingId => (
                "为每份问卷填写唯一的问卷编号",
                "give every questionnaire its own respondent id",
            ),
            Fault::WrongRound { .. } => (
                "改正轮次,或把其他轮次的问卷单独交付",
                "correct the round, or deliver other rounds' questionnaires separately",
            ),
            Fault::UnknownCommunityCode { .. }
            | Fault::UnknownCommunityName { .. }
            | Fault::NoCommunity => (
                "填写抽样名单中的社区代码(或完整社区名称)",
                "give the community code from the sample list (or the community's full name)",
            ),
            Fault::AmbiguousCommunity { .. } => (
                "填写社区代码以区分同名社区",
                "give the community code to tell communities of the same name apart",
            ),
            Fault::CommunityMismatch { .. } => (
                "核对社区代码与社区名称,改正其中错误的一个",
                "check the community code against the name and correct the wrong one",
            ),
            Fault::StreetMismatch { .. } => (
                "核对街道与社区,改正其中错误的一个",
                "check the street against the community and correct the wrong one",
            ),
            Fault::StreetNotAssigned { .. } => (
                "只交付本机构负责街道的问卷;分配有误请联系考核办",
                "deliver questionnaires of your organisation's streets only; if the assignment is wrong, ask the office",
            ),
            Fault::NotInSample { .. } => (
                "只交付本轮抽中社区的问卷;核对社区代码是否填错",
                "deliver questionnaires of this round's sampled communities only; check the code for a typo",
            ),
            Fault::BadAnswer { .. } => (
                "使用规定的选项文字或代码;不了解请填“不了解”或留空",
                "use the scale's labels or codes; for don't know write 不了解 or leave it blank",
            ),
            Fault::BadDate { .. } => (
                "填写真实的访问日期,如 2018-04-12",
                "give the real interview date, such as 2018-04-12",
            ),
            Fault::DateOutsideYear { .. } => {
                ("核对访问日期的年份", "check the year of the interview date")
            }
            Fault::BadDuration { .. } => (
                "访问时长填写秒数(如 480)",
                "give the interview's duration in seconds (such as 480)",
            ),
            Fault::DuplicateStored { .. } => (
                "问卷编号在一轮内必须唯一；如为更正，请在原交付的页面上传更正文件（替换原交付）",
                "respondent ids must be unique within a round; for a correction, replace the delivery",
            ),
            Fault::DuplicateInFile { .. } => (
                "删除重复的问卷,或改正其中一份的编号",
                "delete the repeated questionnaire or correct one of the ids",
            ),
        };
        match l {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    /// What is wrong, in the language in force.
    pub fn text(&self) -> String {
        self.text_in(lang())
    }

    /// How to fix it, in the language in force.
    pub fn fix(&self) -> &'static str {
        self.fix_in(lang())
    }

    /// One fault of every kind (for the catalogue's tests and the docs).
    pub fn examples() -> Vec<Fault> {
        let s = |x: &str| x.to_string();
        vec![
            Fault::LineTooLong {
                bytes: 3_000_000,
                limit: 1 << 20,
            },
            Fault::SummaryRow { label: s("合计") },
            Fault::FieldCount {
                found: 3,
                expected: 18,
            },
            Fault::MissingId,
            Fault::WrongRound {
                found: s("2018-R2"),
                round: s("2018-R1"),
            },
            Fault::UnknownCommunityCode { code: s("1") },
            Fault::UnknownCommunityName { name: s("x") },
            Fault::NoCommunity,
            Fault::AmbiguousCommunity {
                name: s("团结"),
                candidates: vec![s("a"), s("b")],
            },
            Fault::CommunityMismatch {
                name: s("a"),
                code: s("1"),
                frame_name: s("b"),
            },
            Fault::StreetMismatch {
                street: s("a"),
                community: s("b"),
                actual: s("c"),
            },
            Fault::NotInSample {
                code: s("1"),
                name: s("a"),
                round: s("2018-R1"),
            },
            Fault::StreetNotAssigned {
                street: s("鼓楼街道"),
                org: s("测评机构A"),
                round: s("2018-R1"),
            },
            Fault::BadAnswer {
                value: s("很好"),
                question: s("q2"),
                labels: s("非常满意/满意"),
                codes: s("1/2"),
            },
            Fault::BadDate {
                value: s("2017-13-45"),
                problem: DateProblem::ImpossibleMonth(13),
            },
            Fault::DateOutsideYear {
                value: s("2017-04-01"),
                year: 2018,
            },
            Fault::BadDuration { value: s("abc") },
            Fault::DuplicateStored {
                id: s("A1"),
                round: s("2018-R1"),
            },
            Fault::DuplicateInFile {
                id: s("A1"),
                first_line: 2,
            },
        ]
    }
}

/// One indicator against the peers in the same communities, for people.
pub fn indicator_text(code: &str, d: f64, z: f64) -> String {
    indicator_text_in(code, d, z, lang())
}

pub fn indicator_text_in(code: &str, d: f64, z: f64, l: Lang) -> String {
    format!("{} (z = {z:.1})", indicator_words_in(code, d, l))
}

/// How often an honest interviewer would look as unusual as one whose combined
/// p-value is `p`, in words a non-statistician reads ("about one in 2,500"). `p` at
/// the floor of the null's draws (1/20,001) reads "fewer than one in 20,000".
pub fn evidence_words(p: f64, l: Lang) -> String {
    let zh = l == Lang::Zh;
    if !(p > 0.0) || !p.is_finite() {
        return pick(l, "—", "—").to_string();
    }
    let n = 1.0 / p;
    if n >= 20_000.0 {
        return if zh {
            "如实访问的访问员，不到两万人中才有 1 人会这样反常".to_string()
        } else {
            "fewer than one honest interviewer in 20,000 would look this unusual".to_string()
        };
    }
    // Two significant digits: 1/0.0037 = 270.
    let digits = n.log10().floor() as i32;
    let unit = 10f64.powi((digits - 1).max(0));
    let rounded = ((n / unit).round() * unit) as u64;
    let grouped = group_thousands(rounded);
    if zh {
        format!("如实访问的访问员，约每 {grouped} 人中才有 1 人会这样反常")
    } else {
        format!("about one honest interviewer in {grouped} would look this unusual")
    }
}

/// 12345 → "12,345".
fn group_thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// What an indicator's difference from peers means, in words (no statistics).
pub fn indicator_words_in(code: &str, d: f64, l: Lang) -> String {
    let zh = l == Lang::Zh;
    let more = |up: &'static str, down: &'static str| if d >= 0.0 { up } else { down };
    let body = match code {
        "score" => {
            if zh {
                format!(
                    "平均得分比同社区其他访问员{} {:.1} 分",
                    more("高", "低"),
                    d.abs()
                )
            } else {
                format!("mean score {:+.1} points from peers", d)
            }
        }
        "score_spread" => {
            if zh {
                "问卷之间得分过于接近".to_string()
            } else {
                "scores too alike across questionnaires".to_string()
            }
        }
        "item_spread" => {
            if zh {
                "同一问卷内各题答案过于一致".to_string()
            } else {
                "answers within a questionnaire too alike".to_string()
            }
        }
        "not_answered" => {
            if zh {
                format!(
                    "“不了解”或未答比例{} {:.0} 个百分点",
                    more("高", "低"),
                    d.abs() * 100.0
                )
            } else {
                format!("{:+.0} points of 不了解 or skipped items", d * 100.0)
            }
        }
        "extreme" => {
            if zh {
                format!(
                    "极端答案比例{} {:.0} 个百分点",
                    more("高", "低"),
                    d.abs() * 100.0
                )
            } else {
                format!("{:+.0} points of extreme answers", d * 100.0)
            }
        }
        "log_duration" => {
            if zh {
                format!(
                    "访问时长{} {:.0}%",
                    more("长", "短"),
                    ((d.exp() - 1.0) * 100.0).abs()
                )
            } else {
                format!("interviews {:+.0}% long", (d.exp() - 1.0) * 100.0)
            }
        }
        "duration_spread" => {
            if zh {
                "访问时长过于稳定".to_string()
            } else {
                "interview times too steady".to_string()
            }
        }
        "near_duplicate" => {
            if zh {
                format!("与同社区问卷仅差一两题的比例高 {:.0} 个百分点", d * 100.0)
            } else {
                format!(
                    "{:+.0} points of questionnaires within two items of another",
                    d * 100.0
                )
            }
        }
        "same_day" => {
            if zh {
                format!("同一天完成的问卷多 {:.1} 份", d)
            } else {
                format!("{:+.1} questionnaires on the same day", d)
            }
        }
        other => other.to_string(),
    };
    body
}

/// A period or round id as people say it: `2018H1` → 2018年上半年, `2018Q2` →
/// 2018年第二季度, `2018` → 2018年, `2018-R1` → 2018年第1轮测评 (Chinese for charts and the
/// review pack, whatever the terminal's language: they are for the office's meetings).
pub fn period_title(label: &str) -> String {
    use crate::round::{Period, RoundId};
    if let Ok(p) = label.parse::<Period>() {
        const Q: [&str; 4] = ["一", "二", "三", "四"];
        return match p {
            Period::Year(y) => format!("{y}年"),
            Period::Half(y, 1) => format!("{y}年上半年"),
            Period::Half(y, _) => format!("{y}年下半年"),
            Period::Quarter(y, q) => {
                let n = (q as usize).checked_sub(1).and_then(|i| Q.get(i));
                format!("{y}年第{}季度", n.unwrap_or(&"?"))
            }
        };
    }
    if let Ok(r) = label.parse::<RoundId>() {
        return format!("{}年第{}轮测评", r.year, r.number);
    }
    label.to_string()
}

/// A cell of an indicator file as a page shows it: a number with at most two
/// decimals (trailing zeros dropped: 1.284086 → 1.28, 5.0 → 5), `NA` → 不适用, an
/// empty cell → —, any other text as it is.
pub fn cell_text(cell: &str) -> String {
    let c = cell.trim();
    if c.is_empty() {
        return "—".into();
    }
    if c.eq_ignore_ascii_case("NA") {
        return "不适用".into();
    }
    match c.parse::<f64>() {
        Ok(x) if x.is_finite() => {
            let s = format!("{x:.2}");
            let s = s.trim_end_matches('0').trim_end_matches('.');
            if s == "-0" { "0".into() } else { s.to_string() }
        }
        _ => c.to_string(),
    }
}

/// A confidence interval for people: bounds cut at the scale (0–100) and marked with
/// `*` where cut, and `不稳定` (unreliable) when df ≤ 2, with the df. Machine CSVs keep
/// the exact bounds.
pub fn ci_text(ci: Option<(f64, f64)>, df: Option<f64>) -> String {
    let Some((lo, hi)) = ci else {
        return "—".into();
    };
    let cut = |x: f64| {
        if x < 0.0 {
            "0.0*".to_string()
        } else if x > 100.0 {
            "100.0*".to_string()
        } else {
            format!("{x:.1}")
        }
    };
    let mut s = format!("{}–{}", cut(lo), cut(hi));
    if let Some(df) = df.filter(|d| *d <= 2.0) {
        s.push_str(&match lang() {
            Lang::Zh => format!(" 不稳定（自由度 {df}）"),
            Lang::En => format!(" unreliable (df {df})"),
        });
    }
    s
}

/// Picks the text of language `l`.
pub fn pick(l: Lang, zh: &'static str, en: &'static str) -> &'static str {
    match l {
        Lang::Zh => zh,
        Lang::En => en,
    }
}

/// A community's status in score CSVs (`ok`, `insufficient`, `no-data`), for people.
pub fn status_text_in(code: &str, l: Lang) -> Option<&'static str> {
    Some(match code {
        "ok" => pick(l, "已计分", "scored"),
        "insufficient" => pick(l, "样本不足", "insufficient sample"),
        "no-data" => pick(l, "无数据", "no data"),
        _ => return None,
    })
}

/// An indicator's scoring method, for people.
pub fn method_text_in(m: crate::rules::Method, l: Lang) -> &'static str {
    use crate::rules::Method;
    match m {
        Method::PassFail => pick(l, "达标制", "pass/fail"),
        Method::RatioCapped => pick(l, "按完成比例(封顶)", "ratio to target, capped"),
        Method::Penalty => pick(l, "按次扣分", "penalty per count"),
    }
}

/// The rules' decision for a community below the threshold, for people.
pub fn decision_text_in(d: crate::rules::Decision, l: Lang) -> &'static str {
    use crate::rules::Decision;
    match d {
        Decision::Point => pick(l, "按得分判定", "by the point estimate"),
        Decision::CiUpper => pick(
            l,
            "仅当置信区间上限也低于阈值时判定",
            "only when the CI's upper bound is below",
        ),
    }
}

/// The journal's actions (their codes, as stored) and what people read for each, in
/// the order the journal page's filter lists them.
pub const JOURNAL_ACTIONS: [(&str, &str); 37] = [
    ("sample", "抽样"),
    ("sample-import", "导入样本"),
    ("assign", "分配街道"),
    ("ingest", "上传交付"),
    ("replace", "更正交付"),
    ("withdraw", "撤回交付"),
    ("reinstate", "恢复交付"),
    ("decide", "质量标记决定"),
    ("callbacks-draw", "抽取回访"),
    ("callbacks-record", "导入回访结果"),
    ("pii-purge", "删除个人信息"),
    ("score", "计算得分"),
    ("indicators", "上传任务指标"),
    ("evaluate", "考核评价"),
    ("report", "生成报告"),
    ("publish", "发布"),
    ("unpublish", "撤回发布"),
    ("appeal-submit", "提交申诉"),
    ("appeal-rule", "申诉复核"),
    ("appeal-changed", "申诉改变结果"),
    ("appeal-republished", "申诉后重新发布"),
    ("rectification-update", "填写整改"),
    ("rectification-verify", "核验整改"),
    ("download-original", "下载原始文件"),
    ("download-callback-list", "下载回访名单"),
    ("login", "登录"),
    ("login-failed", "登录失败"),
    ("logout", "退出"),
    ("password-change", "修改密码"),
    ("password-change-failed", "修改密码失败"),
    ("user-add", "添加账户"),
    ("user-disable", "停用账户"),
    ("user-enable", "启用账户"),
    ("user-passwd", "重设密码"),
    ("token-add", "生成令牌"),
    ("token-revoke", "吊销令牌"),
    ("start", "启用日志"),
];

/// A journal action for people (the code itself when it is not in the catalogue).
pub fn journal_action_text(action: &str) -> &str {
    JOURNAL_ACTIONS
        .iter()
        .find(|(c, _)| *c == action)
        .map_or(action, |(_, t)| t)
}

/// A decision, for people.
pub fn decision_action_text(action: &str) -> &'static str {
    let l = lang();
    match action {
        "exclude" => pick(l, "剔除", "exclude"),
        "keep" => pick(l, "保留", "keep"),
        _ => pick(l, "未决定", "undecided"),
    }
}

/// A questionnaire flag's code, for people.
pub fn questionnaire_flag_text(code: &str) -> &'static str {
    let l = lang();
    match code {
        "speeder" => pick(l, "用时过短", "speeder"),
        "straightline" => pick(l, "答案全部相同", "straight-lined"),
        "duplicate_pattern" => pick(l, "与同社区问卷答案雷同", "duplicate answer pattern"),
        "too_few_answers" => pick(l, "作答题数不足", "too few answers"),
        _ => pick(l, "其他", "other"),
    }
}

/// An appeal's status, for people (`appeals`).
pub fn appeal_status_text(code: &str) -> &'static str {
    match code {
        "submitted" => "待复核",
        "upheld" => "维持申诉",
        "rejected" => "驳回",
        _ => "未知",
    }
}

/// An appeal's remedy, for people (`appeals`).
pub fn remedy_text(code: &str) -> &'static str {
    match code {
        "waive" => "免除该项扣分",
        "exclude" => "剔除访问员的问卷",
        "resurvey" => "下一轮补测该社区",
        _ => "无",
    }
}

/// A rectification's status, for people (the ledger of `appeals`).
pub fn rectification_status_text(code: &str) -> &'static str {
    match code {
        "open" => "待制定措施",
        "planned" => "整改中",
        "done" => "已完成，待核验",
        "verified" => "已核验",
        _ => "未知",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indicator_cells_read_with_two_decimals_at_most() {
        assert_eq!(cell_text("1.284086148250868"), "1.28");
        assert_eq!(cell_text("5.333333333333333"), "5.33");
        assert_eq!(cell_text("5.0"), "5");
        assert_eq!(cell_text("12"), "12");
        assert_eq!(cell_text("0.005"), "0.01");
        assert_eq!(cell_text("-0.001"), "0");
        assert_eq!(cell_text("NA"), "不适用");
        assert_eq!(cell_text(" "), "—");
        assert_eq!(cell_text("已完成"), "已完成");
    }

    #[test]
    fn evidence_reads_as_one_honest_interviewer_in_so_many() {
        // 1/0.0037 = 270.3 → 270; 1/0.0004 = 2,500; 1/0.01 = 100; the floor.
        let zh = |p| evidence_words(p, Lang::Zh);
        assert_eq!(
            zh(0.0037),
            "如实访问的访问员，约每 270 人中才有 1 人会这样反常"
        );
        assert_eq!(
            zh(0.0004),
            "如实访问的访问员，约每 2,500 人中才有 1 人会这样反常"
        );
        assert_eq!(
            zh(0.01),
            "如实访问的访问员，约每 100 人中才有 1 人会这样反常"
        );
        assert_eq!(
            zh(1.0 / 13_457.0),
            "如实访问的访问员，约每 13,000 人中才有 1 人会这样反常"
        );
        assert_eq!(
            zh(1.0 / 20_001.0),
            "如实访问的访问员，不到两万人中才有 1 人会这样反常"
        );
        assert_eq!(
            evidence_words(0.0004, Lang::En),
            "about one honest interviewer in 2,500 would look this unusual"
        );
        assert_eq!(zh(f64::NAN), "—");
    }

    fn has_cjk(s: &str) -> bool {
        s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
    }

    #[test]
    fn every_reason_code_has_a_chinese_and_an_english_text_and_fix() {
        let all = Fault::examples();
        let codes: std::collections::BTreeSet<&str> = all.iter().map(|f| f.code()).collect();
        // Every code the engine writes is among the examples (17 codes; three kinds of
        // unknown community share one).
        assert_eq!(codes.len(), 17, "{codes:?}");
        for f in &all {
            let (zh, en) = (f.text_in(Lang::Zh), f.text_in(Lang::En));
            assert!(has_cjk(&zh), "{}: no Chinese text: {zh}", f.code());
            assert!(!en.is_empty() && zh != en, "{}", f.code());
            assert!(has_cjk(f.fix_in(Lang::Zh)), "{}: no Chinese fix", f.code());
            let fix_en = f.fix_in(Lang::En);
            assert!(
                !fix_en.is_empty() && fix_en != f.fix_in(Lang::Zh),
                "{}",
                f.code()
            );
        }
    }

    #[test]
    fn intervals_for_people_stay_on_the_scale_and_say_when_unreliable() {
        // 拓东 in the 2017 scheme: 82.2, 95% CI 41.3–123.2 with df = 1.
        let s = ci_text(Some((41.3, 123.2)), Some(1.0));
        assert!(s.starts_with("41.3–100.0*"), "{s}");
        assert!(s.contains("(df 1)") || s.contains("自由度 1"), "{s}");
        assert_eq!(ci_text(Some((-3.0, 45.0)), Some(10.0)), "0.0*–45.0");
        assert_eq!(ci_text(Some((70.04, 80.96)), Some(29.0)), "70.0–81.0");
        assert_eq!(ci_text(None, None), "—");
    }

    #[test]
    fn periods_are_titled_as_people_say_them() {
        assert_eq!(period_title("2018H1"), "2018年上半年");
        assert_eq!(period_title("2018H2"), "2018年下半年");
        assert_eq!(period_title("2018Q2"), "2018年第二季度");
        assert_eq!(period_title("2018"), "2018年");
        assert_eq!(period_title("2018-R3"), "2018年第3轮测评");
    }

    #[test]
    fn statuses_methods_and_decisions_have_both_texts() {
        use crate::rules::{Decision, Method};
        for code in ["ok", "insufficient", "no-data"] {
            assert!(has_cjk(status_text_in(code, Lang::Zh).unwrap()));
            assert!(status_text_in(code, Lang::En).unwrap().is_ascii());
        }
        assert_eq!(status_text_in("other", Lang::Zh), None);
        for m in [Method::PassFail, Method::RatioCapped, Method::Penalty] {
            assert!(has_cjk(method_text_in(m, Lang::Zh)));
            assert!(method_text_in(m, Lang::En).is_ascii());
        }
        for d in [Decision::Point, Decision::CiUpper] {
            assert!(has_cjk(decision_text_in(d, Lang::Zh)));
            assert!(decision_text_in(d, Lang::En).is_ascii());
        }
    }
}
