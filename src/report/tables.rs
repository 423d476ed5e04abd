//! Review tables: the deduction table and the street evaluation (and the period's
//! scores) as one XLSX workbook, as CSV with a BOM and Chinese headers, and as Markdown.

use std::path::{Path, PathBuf};

use rust_xlsxwriter::{Format, Workbook};

use super::{Inputs, Table};
use crate::error::{Error, Result};
use crate::fsutil::neutralise_cell;
use crate::rules::Rules;

/// Chinese header for a machine column name.
pub fn zh_header(col: &str, rules: &Rules) -> String {
    let fixed = [
        ("period", "期间"),
        ("round", "轮次"),
        ("row_type", "行类型"),
        ("street_code", "街道代码"),
        ("street_name", "街道"),
        ("community_code", "社区代码"),
        ("community_name", "社区"),
        ("score", "得分"),
        ("se", "标准误"),
        ("ci_low", "95%置信下限"),
        ("ci_high", "95%置信上限"),
        ("df", "自由度"),
        ("p_below", "低于阈值的概率"),
        ("below_point", "点估计低于阈值"),
        ("below_ci", "置信区间低于阈值"),
        ("counted", "计入扣分"),
        ("points", "扣分"),
        ("cap", "扣分上限"),
        ("street_score", "街道满意度"),
        ("street_below", "街道低于阈值"),
        ("street_points", "街道扣分"),
        ("total", "合计"),
        ("rounds", "测评轮次"),
        ("satisfaction_score", "满意度"),
        ("satisfaction_points", "满意度得分"),
        ("task_points", "任务得分"),
        ("rank", "名次"),
        ("indicators_source", "指标来源"),
        ("missing_indicators", "未报送指标"),
        ("note", "说明"),
        ("waived", "申诉免扣"),
        ("h1_total", "上半年总分"),
        ("h2_total", "下半年总分"),
        ("n_valid", "有效问卷"),
        ("satisfaction_rate", "满意率"),
        ("below_threshold", "低于阈值"),
        ("status", "状态"),
        ("n_sampled", "抽中社区"),
        ("n_communities", "计分社区"),
        ("n_respondents", "有效问卷"),
        ("communities_below", "低于阈值社区"),
        ("question", "题目"),
        ("text", "题目内容"),
        ("n_answers", "作答数"),
        ("interviewer_id", "访问员"),
        ("questionnaires", "问卷数"),
        ("speeders", "用时过短"),
        ("straightlined", "答案雷同"),
        ("flagged", "异常访问员"),
        ("kind", "类别"),
        ("id", "对象"),
        ("subject", "对象类别"),
        ("file", "交付文件"),
        ("line", "行"),
        ("communities", "社区数"),
        ("score_difference", "得分差"),
        ("score_z", "得分 z"),
        ("duration_ratio", "用时比"),
        ("duration_z", "用时 z"),
        ("straightline_share", "直线作答比例"),
        ("flags", "标记"),
        ("evidence", "依据"),
        ("decision", "处理决定"),
        ("reason", "理由"),
        ("actor", "决定人"),
        ("at", "时间"),
        ("n_excluded", "剔除问卷"),
        ("p_value", "合计 p 值"),
        ("if_excluded", "剔除后得分变化"),
        ("appeal", "申诉编号"),
        ("appeal_line", "申诉的扣分项"),
        ("appeal_reason", "申诉理由"),
        ("remedy", "补救"),
        ("ruling_reason", "复核理由"),
        ("changed", "结果变化"),
        ("measures", "整改措施"),
        ("responsible", "责任人"),
        ("deadline", "完成期限"),
        ("next_round", "下次测评轮次"),
        ("next_score", "下次测评得分"),
    ];
    if let Some((_, z)) = fixed.iter().find(|(k, _)| *k == col) {
        return z.to_string();
    }
    for (suffix, z) in [("_value", "值"), ("_target", "目标"), ("_points", "得分")] {
        if let Some(id) = col.strip_suffix(suffix)
            && rules.evaluation.indicators.iter().any(|i| i.id == id)
        {
            return format!("{id} {z}");
        }
    }
    col.to_string()
}

/// Human form of a cell: booleans and codes translated; numbers left as they are.
fn zh_cell(v: &str) -> String {
    match v {
        "true" => "是".into(),
        "false" => "否".into(),
        "community" => "社区".into(),
        "street" => "街道".into(),
        "interviewer" => "访问员".into(),
        "respondent" | "questionnaire" => "问卷".into(),
        "exclude" => "剔除".into(),
        "keep" => "保留".into(),
        "undecided" => "未决定".into(),
        _ => crate::messages::status_text_in(v, crate::messages::Lang::Zh)
            .map_or_else(|| v.to_string(), str::to_string),
    }
}

/// Display width: a CJK character takes two columns.
pub fn display_width(s: &str) -> usize {
    s.chars()
        .map(|c| if (c as u32) < 0x1100 { 1 } else { 2 })
        .sum()
}

/// Columns shown as numbers (everything else stays text, e.g. codes).
fn numeric(col: &str) -> bool {
    !matches!(
        col,
        "interviewer_id"
            | "period"
            | "round"
            | "street_code"
            | "community_code"
            | "rounds"
            | "row_type"
            | "street_name"
            | "community_name"
            | "note"
            | "status"
            | "question"
            | "text"
            | "indicators_source"
            | "missing_indicators"
            | "waived"
            | "id"
            | "evidence"
            | "if_excluded"
            | "decision"
            | "p_value"
            | "file"
            | "reason"
            | "actor"
            | "at"
            | "appeal"
            | "appeal_line"
            | "appeal_reason"
            | "remedy"
            | "ruling_reason"
            | "changed"
            | "measures"
            | "responsible"
            | "deadline"
            | "next_round"
    )
}

fn csv_zh(t: &Table, rules: &Rules) -> Result<Vec<u8>> {
    crate::fsutil::csv_bytes(
        t.headers.iter().map(|h| zh_header(h, rules)),
        t.rows.iter().map(|r| r.iter().map(|c| zh_cell(c))),
        true,
    )
}

fn sheet(wb: &mut Workbook, name: &str, t: &Table, rules: &Rules) -> Result<()> {
    let err = |e: rust_xlsxwriter::XlsxError| Error::Invalid(format!("writing the workbook: {e}"));
    let ws = wb.add_worksheet().set_name(name).map_err(err)?;
    let head = Format::new()
        .set_bold()
        .set_background_color("#DDE5F0")
        .set_text_wrap();
    let number = Format::new().set_num_format("0.00");
    let integer = Format::new().set_num_format("0");
    let mut widths: Vec<usize> = Vec::new();
    for (c, h) in t.headers.iter().enumerate() {
        let z = zh_header(h, rules);
        widths.push(display_width(&z).max(6));
        ws.write_with_format(0, c as u16, &z, &head).map_err(err)?;
    }
    for (r, row) in t.rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            let col = &t.headers[c];
            let (row_i, col_i) = (r as u32 + 1, c as u16);
            // A sheet is for people: interval bounds are cut at the scale (0–100); the
            // machine CSVs keep them exact.
            let clipped = v.parse::<f64>().map(|x| {
                if matches!(col.as_str(), "ci_low" | "ci_high") {
                    x.clamp(0.0, 100.0)
                } else {
                    x
                }
            });
            match clipped {
                Ok(x) if numeric(col) && x.is_finite() => {
                    let f = if x.fract() == 0.0
                        && matches!(
                            col.as_str(),
                            "rank"
                                | "n_valid"
                                | "questionnaires"
                                | "speeders"
                                | "straightlined"
                                | "n_sampled"
                                | "n_communities"
                                | "n_respondents"
                                | "communities_below"
                                | "df"
                                | "n_answers"
                        ) {
                        &integer
                    } else {
                        &number
                    };
                    ws.write_number_with_format(row_i, col_i, x, f)
                        .map_err(err)?;
                    widths[c] = widths[c].max(8);
                }
                _ => {
                    let text = crate::fsutil::excel_text(&neutralise_cell(&zh_cell(v)));
                    widths[c] = widths[c].max(display_width(&text).min(60));
                    ws.write_string(row_i, col_i, &text).map_err(err)?;
                }
            }
        }
    }
    for (c, w) in widths.iter().enumerate() {
        ws.set_column_width(c as u16, (*w as f64) + 2.0)
            .map_err(err)?;
    }
    ws.set_freeze_panes(1, 0).map_err(err)?;
    Ok(())
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "—".into())
}

fn markdown(inputs: &Inputs, rules: &Rules) -> String {
    let mut s = format!(
        "# {} 街道考核 {} ({})\n\n",
        inputs.district, inputs.label, inputs.scheme
    );
    if !inputs.exclusions.is_empty() {
        s.push_str("## 剔除的问卷 excluded questionnaires\n\n| 轮次 | 对象 | 剔除问卷 | 理由 |\n|---|---|---:|---|\n");
        for e in &inputs.exclusions {
            s.push_str(&format!(
                "| {} | {} {} | {} | {} |\n",
                e.round,
                e.subject,
                e.id,
                e.questionnaires,
                e.reason.replace('|', "/")
            ));
        }
        s.push('\n');
    }
    let undecided: u64 = inputs
        .undecided
        .iter()
        .map(|u| u.interviewers + u.questionnaires)
        .sum();
    if undecided > 0 {
        s.push_str(&format!(
            "尚未决定的质量标记 undecided flags: {undecided} (they still count; `manyi flags --round R`)\n\n"
        ));
    }
    if let Some(t) = &inputs.streets {
        s.push_str("## 街道满意度 street scores\n\n| 街道 | 得分 | 95% CI | 社区 (计分/抽中) | 有效问卷 | 说明 |\n|---|---:|---|---:|---:|---|\n");
        for r in &t.rows {
            s.push_str(&format!(
                "| {} | {} | {} | {}/{} | {} | {} |\n",
                r.street_name,
                fmt(r.score, 1),
                crate::messages::ci_text(r.ci_low.zip(r.ci_high), r.df),
                r.n_communities,
                r.n_sampled,
                r.n_respondents,
                r.note.replace('|', "/")
            ));
        }
        s.push('\n');
    }
    let (Some(ev), Some(d)) = (&inputs.evaluation, &inputs.deductions) else {
        return s;
    };
    let year = ev.table.col("h1_total").is_some();
    let (c3, c4) = if year {
        ("上半年总分", "下半年总分")
    } else {
        ("满意度得分", "任务得分")
    };
    s.push_str(&format!("## 考核评价 street evaluation\n\n| 名次 | 街道 | 满意度 | {c3} | {c4} | 总分 | 说明 |\n|---:|---|---:|---:|---:|---:|---|\n"));
    let mut rows: Vec<&crate::rows::EvaluationRow> = ev.rows.iter().collect();
    rows.sort_by_key(|r| r.rank.unwrap_or(usize::MAX));
    for r in rows {
        let (c3, c4) = if year {
            (fmt(r.h1_total.flatten(), 2), fmt(r.h2_total.flatten(), 2))
        } else {
            (
                fmt(r.satisfaction_points.flatten(), 2),
                fmt(r.task_points.flatten(), 2),
            )
        };
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            r.rank.map(|k| k.to_string()).unwrap_or_default(),
            r.street_name,
            fmt(r.satisfaction_score, 1),
            c3,
            c4,
            fmt(r.total, 2),
            r.note.replace('|', "/")
        ));
    }
    if year {
        s.push_str(
            "\n(全年总分 = 上下半年总分加权;The year's total is the weighted half-year totals.)\n",
        );
    }
    s.push_str("\n总分不含扣分;扣分单列,计入年度综合目标考核。(Totals do not include the deductions below, which go to the annual comprehensive target assessment.)\n");
    let th = &rules.threshold;
    s.push_str(&format!(
        "\n## 扣分 deductions\n\n得分低于 {} 的社区每个扣 {} 分({}),每街道每年最多 {} 分;街道满意度低于 {} 再扣 {} 分。\n\n| 街道 | 低于阈值的社区 (得分, 95% CI) | 社区扣分 | 街道满意度 | 街道扣分 | 合计 |\n|---|---|---:|---:|---:|---:|\n",
        th.community_score,
        th.points_per_community,
        crate::messages::decision_text_in(th.decision, crate::messages::Lang::Zh),
        th.cap_per_street,
        th.street_score_below,
        th.street_points
    ));
    for st in d.rows.iter().filter(|r| r.row_type == "street") {
        let list: Vec<String> = d
            .rows
            .iter()
            .filter(|r| r.row_type == "community" && r.street_code == st.street_code)
            .map(|r| {
                let strike = if r.counts() { "" } else { "~~" };
                let waived = if r.waived.is_empty() {
                    String::new()
                } else {
                    format!(" 经申诉 {} 复核免扣", r.waived)
                };
                format!(
                    "{strike}{} {} ({}; p {}){strike}{waived}",
                    r.community_name,
                    fmt(r.score, 1),
                    crate::messages::ci_text(r.ci_low.zip(r.ci_high), None),
                    fmt(r.p_below, 2),
                )
            })
            .collect();
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            st.street_name,
            if list.is_empty() {
                "—".into()
            } else {
                list.join("; ")
            },
            fmt(st.points, 1),
            fmt(st.street_score, 1),
            fmt(st.street_points, 1),
            fmt(st.total, 1)
        ));
    }
    s.push_str("\n(~~struck~~: below the threshold by one decision rule but not counted under the rules in force.)\n");
    for (title, t) in [
        ("申诉复核 appeals", appeals_table(inputs)),
        ("整改台账 rectification ledger", ledger_table(inputs)),
    ] {
        if t.rows.is_empty() {
            continue;
        }
        s.push_str(&format!("\n## {title}\n\n|"));
        for h in &t.headers {
            s.push_str(&format!(" {} |", zh_header(h, rules)));
        }
        s.push_str("\n|");
        for _ in &t.headers {
            s.push_str("---|");
        }
        s.push('\n');
        for r in &t.rows {
            s.push('|');
            for c in r {
                let c = if c.is_empty() { "—" } else { c };
                s.push_str(&format!(" {} |", c.replace('|', "/").replace('\n', " ")));
            }
            s.push('\n');
        }
    }
    s
}

/// The exclusions in force (one row each) and, per round, the flags undecided.
fn decisions_table(inputs: &Inputs) -> Table {
    let mut rows: Vec<Vec<String>> = inputs
        .exclusions
        .iter()
        .map(|e| {
            vec![
                e.round.clone(),
                "exclude".into(),
                e.subject.clone(),
                e.id.clone(),
                e.questionnaires.to_string(),
                e.reason.clone(),
            ]
        })
        .collect();
    for u in &inputs.undecided {
        if u.interviewers + u.questionnaires > 0 {
            rows.push(vec![
                u.round.clone(),
                "undecided".into(),
                format!("interviewers {}", u.interviewers),
                String::new(),
                u.questionnaires.to_string(),
                String::new(),
            ]);
        }
    }
    Table {
        headers: [
            "round",
            "decision",
            "subject",
            "id",
            "questionnaires",
            "reason",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        rows,
    }
}

/// The period's appeals, for people (statuses and remedies in words).
pub fn appeals_table(inputs: &Inputs) -> Table {
    Table {
        headers: [
            "appeal",
            "street_name",
            "appeal_line",
            "points",
            "appeal_reason",
            "status",
            "remedy",
            "ruling_reason",
            "changed",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        rows: inputs
            .appeals
            .iter()
            .map(|a| {
                vec![
                    a.id.clone(),
                    a.street_name.clone(),
                    a.line_text(),
                    fmt(a.points, 1),
                    a.reason.clone(),
                    crate::messages::appeal_status_text(&a.status).into(),
                    if a.remedy.is_empty() {
                        String::new()
                    } else {
                        crate::messages::remedy_text(&a.remedy).into()
                    },
                    a.ruling_reason.clone(),
                    a.changed.clone(),
                ]
            })
            .collect(),
    }
}

/// The period's rectification ledger, for people.
pub fn ledger_table(inputs: &Inputs) -> Table {
    Table {
        headers: [
            "street_name",
            "community_code",
            "community_name",
            "score",
            "points",
            "status",
            "measures",
            "responsible",
            "deadline",
            "next_round",
            "next_score",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        rows: inputs
            .rectifications
            .iter()
            .map(|r| {
                vec![
                    r.street_name.clone(),
                    r.community_code.clone(),
                    r.community_name.clone(),
                    fmt(r.score, 1),
                    fmt(r.points, 1),
                    crate::messages::rectification_status_text(&r.status).into(),
                    r.measures.clone(),
                    r.responsible.clone(),
                    r.deadline.clone(),
                    r.next_round.clone(),
                    fmt(r.next_score, 1),
                ]
            })
            .collect(),
    }
}

/// A workbook of the given sheets (Chinese headers, as in review.xlsx), as bytes.
pub fn workbook(sheets: &[(&str, &Table)], rules: &Rules) -> Result<Vec<u8>> {
    let mut wb = Workbook::new();
    let created = rust_xlsxwriter::ExcelDateTime::from_ymd(2000, 1, 1)
        .map_err(|e| Error::Invalid(e.to_string()))?;
    wb.set_properties(&rust_xlsxwriter::DocProperties::new().set_creation_datetime(&created));
    for (name, t) in sheets {
        sheet(&mut wb, name, t, rules)?;
    }
    wb.save_to_buffer()
        .map_err(|e| Error::Invalid(format!("writing the workbook: {e}")))
}

/// Writes review.xlsx, 扣分表.csv, 考核评价表.csv and review.md into `dir`.
pub fn write(dir: &Path, inputs: &Inputs, rules: &Rules) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let err = |e: rust_xlsxwriter::XlsxError| Error::Invalid(format!("writing the workbook: {e}"));
    let mut wb = Workbook::new();
    // A fixed creation time: the same data gives the same bytes (and the same sha256).
    let created = rust_xlsxwriter::ExcelDateTime::from_ymd(2000, 1, 1)
        .map_err(|e| Error::Invalid(e.to_string()))?;
    wb.set_properties(&rust_xlsxwriter::DocProperties::new().set_creation_datetime(&created));
    if let Some(t) = inputs.deductions.as_ref().map(|c| &c.table) {
        sheet(&mut wb, "扣分", t, rules)?;
    }
    if let Some(t) = inputs.evaluation.as_ref().map(|c| &c.table) {
        sheet(&mut wb, "考核评价", t, rules)?;
    }
    if let Some(t) = inputs.streets.as_ref().map(|c| &c.table) {
        sheet(&mut wb, "街道得分", t, rules)?;
    }
    if let Some(t) = inputs.communities.as_ref().map(|c| &c.table) {
        sheet(&mut wb, "社区得分", t, rules)?;
    }
    if !inputs.interviewers.rows.is_empty() {
        sheet(&mut wb, "访问员", &inputs.interviewers, rules)?;
    }
    let decisions = decisions_table(inputs);
    if !decisions.rows.is_empty() {
        sheet(&mut wb, "剔除与未决定", &decisions, rules)?;
    }
    if !inputs.appeals.is_empty() {
        sheet(&mut wb, "申诉复核", &appeals_table(inputs), rules)?;
    }
    if !inputs.rectifications.is_empty() {
        sheet(&mut wb, "整改台账", &ledger_table(inputs), rules)?;
    }
    let legend = Table {
        headers: vec![
            "指标".into(),
            "名称".into(),
            "目标".into(),
            "方法".into(),
            "分值".into(),
        ],
        rows: rules
            .evaluation
            .indicators
            .iter()
            .map(|i| {
                vec![
                    i.id.clone(),
                    i.name.clone(),
                    i.target.to_string(),
                    crate::messages::method_text_in(i.method, crate::messages::Lang::Zh)
                        .to_string(),
                    i.points.to_string(),
                ]
            })
            .collect(),
    };
    sheet(&mut wb, "指标说明", &legend, rules)?;
    let p = dir.join("review.xlsx");
    crate::fsutil::write_atomic(&p, &wb.save_to_buffer().map_err(err)?)?;
    files.push(p);
    let zh = [
        ("扣分表.csv", inputs.deductions.as_ref().map(|c| &c.table)),
        (
            "考核评价表.csv",
            inputs.evaluation.as_ref().map(|c| &c.table),
        ),
        ("街道得分表.csv", inputs.streets.as_ref().map(|c| &c.table)),
        (
            "社区得分表.csv",
            inputs.communities.as_ref().map(|c| &c.table),
        ),
    ];
    for (name, t) in zh.into_iter().filter_map(|(n, t)| t.map(|t| (n, t))) {
        let p = dir.join(name);
        crate::fsutil::write_atomic(&p, &csv_zh(t, rules)?)?;
        files.push(p);
    }
    let p = dir.join("review.md");
    crate::fsutil::write_atomic(&p, markdown(inputs, rules).as_bytes())?;
    files.push(p);
    Ok(files)
}
