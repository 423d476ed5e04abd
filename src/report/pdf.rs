//! The PDF review pack: a title page (district, period, scheme, sources with their
//! SHA-256), the deduction table, the evaluation table, then the charts as vector
//! graphics. Every page is laid out as SVG with the shipped font and embedded with
//! krilla, so text stays selectable and searchable (the font embedded as a subset).

use krilla::Document;
use krilla::geom::Size;
use krilla::page::PageSettings;
use krilla_svg::{SurfaceExt, SvgSettings};

use super::Inputs;
use super::charts::{Chart, FAMILY, usvg_options};
use super::tables::display_width;
use crate::error::{Error, Result};
use crate::rows::{DeductionRow, EvaluationRow};
use crate::rules::Rules;

/// A4 landscape, in points.
const PW: f64 = 842.0;
const PH: f64 = 595.0;
const MARGIN: f64 = 36.0;

fn esc(s: &str) -> String {
    // Characters XML cannot hold (controls other than tab and line ends) are dropped.
    s.chars()
        .filter(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
        .collect::<String>()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One page being laid out.
struct Page {
    body: String,
}

impl Page {
    fn new() -> Page {
        Page {
            body: String::new(),
        }
    }

    fn text(&mut self, x: f64, y: f64, size: f64, s: &str, anchor: &str, bold: bool) {
        self.body.push_str(&format!(
            "<text x=\"{x:.1}\" y=\"{y:.1}\" font-size=\"{size}\" text-anchor=\"{anchor}\"{} font-family=\"{FAMILY}\">{}</text>\n",
            if bold { " font-weight=\"bold\" stroke=\"black\" stroke-width=\"0.3\"" } else { "" },
            esc(s)
        ));
    }

    fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, width: f64, color: &str) {
        self.body.push_str(&format!("<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" stroke=\"{color}\" stroke-width=\"{width}\"/>\n"));
    }

    fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str) {
        self.body.push_str(&format!(
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" fill=\"{fill}\"/>\n"
        ));
    }

    fn svg(&self) -> String {
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{PW}\" height=\"{PH}\" viewBox=\"0 0 {PW} {PH}\">\n<rect width=\"{PW}\" height=\"{PH}\" fill=\"white\"/>\n{}</svg>\n",
            self.body
        )
    }
}

/// Splits text into lines no wider than `width` points at font `size`, breaking after
/// "；" and spaces where it can (a token wider than a line is broken anywhere).
fn wrap(s: &str, width: f64, size: f64) -> Vec<String> {
    let max_units = (width / (size * 0.5)).floor().max(2.0) as usize;
    let mut tokens: Vec<String> = Vec::new();
    let mut cur = String::new();
    for c in s.chars() {
        cur.push(c);
        if c == '；' || c == ' ' {
            tokens.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        tokens.push(cur);
    }
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for t in tokens {
        if display_width(&line) + display_width(t.trim_end()) <= max_units {
            line.push_str(&t);
            continue;
        }
        if !line.trim().is_empty() {
            lines.push(line.trim_end().to_string());
            line = String::new();
        }
        for c in t.chars() {
            if display_width(&line) + display_width(&c.to_string()) > max_units && !line.is_empty()
            {
                lines.push(std::mem::take(&mut line));
            }
            line.push(c);
        }
    }
    if !line.trim().is_empty() || lines.is_empty() {
        lines.push(line.trim_end().to_string());
    }
    lines
}

/// A table over as many pages as it needs; `right` marks right-aligned columns.
fn table_pages(
    title: &str,
    subtitle: &str,
    headers: &[&str],
    widths: &[f64],
    right: &[bool],
    rows: &[Vec<String>],
) -> Vec<Page> {
    let size = 9.5;
    let line_h = 13.0;
    let mut pages = Vec::new();
    let mut page = Page::new();
    let mut y = 0.0;
    let start = |page: &mut Page, cont: bool| -> f64 {
        page.text(
            MARGIN,
            MARGIN + 14.0,
            16.0,
            &format!("{title}{}", if cont { "（续）" } else { "" }),
            "start",
            true,
        );
        page.text(MARGIN, MARGIN + 32.0, 9.0, subtitle, "start", false);
        let top = MARGIN + 44.0;
        page.rect(MARGIN, top, widths.iter().sum(), line_h + 8.0, "#DDE5F0");
        let mut x = MARGIN;
        for ((h, w), r) in headers.iter().zip(widths).zip(right) {
            if *r {
                page.text(x + w - 4.0, top + line_h + 1.0, size, h, "end", true);
            } else {
                page.text(x + 4.0, top + line_h + 1.0, size, h, "start", true);
            }
            x += w;
        }
        top + line_h + 8.0
    };
    y = if rows.is_empty() {
        start(&mut page, false)
    } else {
        y
    };
    let mut first = true;
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<Vec<String>> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| wrap(c, w - 8.0, size))
            .collect();
        let h = cells.iter().map(|c| c.len()).max().unwrap_or(1) as f64 * line_h + 6.0;
        if first || y + h > PH - MARGIN {
            if !first {
                pages.push(std::mem::replace(&mut page, Page::new()));
            }
            y = start(&mut page, !first);
            first = false;
        }
        if i % 2 == 1 {
            page.rect(MARGIN, y, widths.iter().sum(), h, "#F5F7FA");
        }
        let mut x = MARGIN;
        for ((lines, w), r) in cells.iter().zip(widths).zip(right) {
            for (k, l) in lines.iter().enumerate() {
                let ty = y + line_h * (k as f64 + 1.0);
                if *r {
                    page.text(x + w - 4.0, ty, size, l, "end", false);
                } else {
                    page.text(x + 4.0, ty, size, l, "start", false);
                }
            }
            x += w;
        }
        y += h;
        page.line(
            MARGIN,
            y,
            MARGIN + widths.iter().sum::<f64>(),
            y,
            0.4,
            "#B0B8C4",
        );
    }
    pages.push(page);
    pages
}

fn f(v: Option<f64>, d: usize) -> String {
    v.map(|x| format!("{x:.d$}")).unwrap_or_else(|| "—".into())
}

fn deduction_rows(d: &[DeductionRow]) -> Vec<Vec<String>> {
    d.iter()
        .filter(|r| r.row_type == "street")
        .map(|st| {
            let list: Vec<String> = d
                .iter()
                .filter(|r| r.row_type == "community" && r.street_code == st.street_code)
                .map(|r| {
                    format!(
                        "{} {} ({}; p {}){}",
                        r.community_name,
                        f(r.score, 1),
                        crate::messages::ci_text(r.ci_low.zip(r.ci_high), None),
                        f(r.p_below, 2),
                        if r.counts() && !r.waived.is_empty() {
                            format!(" 经申诉 {} 复核免扣", r.waived)
                        } else if r.counts() {
                            String::new()
                        } else {
                            " 不计".into()
                        }
                    )
                })
                .collect();
            vec![
                st.street_name.clone(),
                if list.is_empty() {
                    "—".into()
                } else {
                    list.join("；")
                },
                f(st.points, 1),
                f(st.street_score, 1),
                if st.waived.is_empty() {
                    f(st.street_points, 1)
                } else {
                    format!("{}（申诉 {} 免扣）", f(st.street_points, 1), st.waived)
                },
                f(st.total, 1),
            ]
        })
        .collect()
}

fn evaluation_rows(ev: &[EvaluationRow], d: &[DeductionRow], year: bool) -> Vec<Vec<String>> {
    let mut rows: Vec<&EvaluationRow> = ev.iter().collect();
    rows.sort_by_key(|r| r.rank.unwrap_or(usize::MAX));
    rows.iter()
        .map(|r| {
            let ded = d
                .iter()
                .find(|x| x.row_type == "street" && x.street_code == r.street_code)
                .and_then(|x| x.total);
            let (a, b) = if year {
                (r.h1_total.flatten(), r.h2_total.flatten())
            } else {
                (r.satisfaction_points.flatten(), r.task_points.flatten())
            };
            let mut note = r.note.clone();
            let missing = r.missing();
            if !missing.is_empty() {
                note = format!(
                    "{note}{}未报送: {missing}",
                    if note.is_empty() { "" } else { "；" }
                );
            }
            vec![
                r.rank.map(|k| k.to_string()).unwrap_or_default(),
                r.street_name.clone(),
                f(r.satisfaction_score, 2),
                f(a, 2),
                f(b, 2),
                f(r.total, 2),
                f(ded, 1),
                note,
            ]
        })
        .collect()
}

fn chart_page(c: &Chart) -> String {
    // Nest the chart's own SVG, scaled to the page width.
    let w = PW - 2.0 * MARGIN;
    let h = w * 900.0 / 1600.0;
    let y = (PH - h) / 2.0;
    let inner = c.svg.trim_start_matches(|ch| ch != '<');
    let inner = inner
        .strip_prefix("<?xml")
        .map(|s| &s[s.find("?>").map(|i| i + 2).unwrap_or(0)..])
        .unwrap_or(inner)
        .trim_start();
    let inner = inner
        .replacen("<svg ", &format!("<svg x=\"{MARGIN}\" y=\"{y:.1}\" "), 1)
        .replacen("width=\"1600\"", &format!("width=\"{w:.1}\""), 1)
        .replacen("height=\"900\"", &format!("height=\"{h:.1}\""), 1);
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{PW}\" height=\"{PH}\" viewBox=\"0 0 {PW} {PH}\">\n<rect width=\"{PW}\" height=\"{PH}\" fill=\"white\"/>\n{inner}</svg>\n"
    )
}

/// The pack's pages as SVG (also used by tests).
pub fn pages(inputs: &Inputs, rules: &Rules, charts: &[Chart]) -> Vec<String> {
    let mut out = Vec::new();
    let mut title = Page::new();
    title.text(
        PW / 2.0,
        150.0,
        28.0,
        &format!("{} 街道社区治理考核", inputs.district),
        "middle",
        true,
    );
    title.text(
        PW / 2.0,
        190.0,
        20.0,
        &format!(
            "评审材料 · {} ({}) · 方案 {}",
            crate::messages::period_title(&inputs.label),
            inputs.label,
            inputs.scheme
        ),
        "middle",
        false,
    );
    let t = &rules.threshold;
    title.text(
        PW / 2.0,
        225.0,
        11.0,
        &format!(
            "社区满意度低于 {} 每个扣 {} 分 (判定: {}), 每街道最多 {} 分; 街道满意度低于 {} 另扣 {} 分",
            t.community_score,
            t.points_per_community,
            crate::messages::decision_text_in(t.decision, crate::messages::Lang::Zh),
            t.cap_per_street,
            t.street_score_below,
            t.street_points
        ),
        "middle",
        false,
    );
    title.text(
        MARGIN,
        280.0,
        11.0,
        "数据来源 sources (SHA-256):",
        "start",
        true,
    );
    title.text(
        MARGIN,
        PH - MARGIN,
        8.0,
        &format!(
            "manyi {} — 每个数字可追溯到所列文件 every number traces to the files listed",
            env!("CARGO_PKG_VERSION")
        ),
        "start",
        false,
    );
    let mut page = title;
    let mut y = 298.0;
    for (name, sha) in &inputs.sources {
        if y > PH - MARGIN - 20.0 {
            out.push(page.svg());
            page = Page::new();
            page.text(
                MARGIN,
                MARGIN + 14.0,
                11.0,
                "数据来源 sources (SHA-256)（续）",
                "start",
                true,
            );
            y = MARGIN + 34.0;
        }
        page.text(MARGIN, y, 8.0, name, "start", false);
        page.text(MARGIN + 330.0, y, 8.0, sha, "start", false);
        y += 11.5;
    }
    out.push(page.svg());
    let sub = format!(
        "{} · 每社区 {} 分, 上限 {} 分; 括号内为 95% 置信区间和 p (真实得分低于阈值的概率: 接近 1 = 确定, 接近 0.5 = 难以判定); “不计” = 按现行判定规则不扣分",
        inputs.label, t.points_per_community, t.cap_per_street
    );
    if let (Some(ev), Some(d)) = (&inputs.evaluation, &inputs.deductions) {
        for p in table_pages(
            "扣分表 Deductions",
            &sub,
            &[
                "街道",
                "低于阈值的社区 (得分, 95% CI)",
                "社区扣分",
                "街道满意度",
                "街道扣分",
                "合计",
            ],
            &[80.0, 400.0, 70.0, 80.0, 70.0, 60.0],
            &[false, false, true, true, true, true],
            &deduction_rows(&d.rows),
        ) {
            out.push(p.svg());
        }
        let year = ev.table.col("h1_total").is_some();
        for p in table_pages(
            "考核评价 Street evaluation",
            &format!(
                "{} · 满意度 {} 分 + 任务 {} 分; 总分* 不含扣分, 扣分单列, 计入年度综合目标考核",
                inputs.label, rules.evaluation.satisfaction_points, rules.evaluation.task_points
            ),
            &[
                "名次",
                "街道",
                "满意度",
                if year { "上半年" } else { "满意度得分" },
                if year { "下半年" } else { "任务得分" },
                "总分*",
                "扣分",
                "说明",
            ],
            &[40.0, 80.0, 60.0, 70.0, 70.0, 60.0, 50.0, 340.0],
            &[true, false, true, true, true, true, true, false],
            &evaluation_rows(&ev.rows, &d.rows, year),
        ) {
            out.push(p.svg());
        }
    } else if let Some(st) = &inputs.streets {
        let rows: Vec<Vec<String>> = st
            .rows
            .iter()
            .map(|r| {
                vec![
                    r.street_name.clone(),
                    f(r.score, 2),
                    crate::messages::ci_text(r.ci_low.zip(r.ci_high), r.df),
                    format!("{}/{}", r.n_communities, r.n_sampled),
                    r.n_respondents.to_string(),
                    r.communities_below.to_string(),
                    r.note.clone(),
                ]
            })
            .collect();
        for p in table_pages(
            "街道满意度 Street scores",
            &inputs.label,
            &[
                "街道",
                "得分",
                "95% CI",
                "社区(计分/抽中)",
                "有效问卷",
                "低于阈值社区",
                "说明",
            ],
            &[80.0, 60.0, 90.0, 90.0, 70.0, 80.0, 300.0],
            &[false, true, true, true, true, true, false],
            &rows,
        ) {
            out.push(p.svg());
        }
    }

    // The office's decisions on flagged questionnaires: what was left out, and why.
    if !inputs.exclusions.is_empty()
        || inputs
            .undecided
            .iter()
            .any(|u| u.interviewers + u.questionnaires > 0)
    {
        let rows: Vec<Vec<String>> = inputs
            .exclusions
            .iter()
            .map(|e| {
                vec![
                    e.round.clone(),
                    format!(
                        "{} {}",
                        if e.subject == "interviewer" {
                            "访问员"
                        } else {
                            "问卷"
                        },
                        e.id
                    ),
                    e.questionnaires.to_string(),
                    e.reason.clone(),
                ]
            })
            .collect();
        let undecided: Vec<String> = inputs
            .undecided
            .iter()
            .filter(|u| u.interviewers + u.questionnaires > 0)
            .map(|u| {
                format!(
                    "{}: 访问员 {} 名, 问卷 {} 份",
                    u.round, u.interviewers, u.questionnaires
                )
            })
            .collect();
        let total: u64 = inputs.exclusions.iter().map(|e| e.questionnaires).sum();
        for p in table_pages(
            "剔除的问卷 Excluded questionnaires",
            &format!(
                "{} · 经考核办决定剔除、不计入得分的有效问卷共 {total} 份。尚未决定的质量标记 (仍计入得分): {}",
                inputs.label,
                if undecided.is_empty() {
                    "无".to_string()
                } else {
                    undecided.join("; ")
                }
            ),
            &["轮次", "对象", "剔除问卷", "理由（决定人与时间见日志）"],
            &[70.0, 110.0, 70.0, 500.0],
            &[false, false, true, false],
            &rows,
        ) {
            out.push(p.svg());
        }
    }

    // Appeals of the period and their rulings, then the rectification ledger.
    if !inputs.appeals.is_empty() {
        let rows: Vec<Vec<String>> = inputs
            .appeals
            .iter()
            .map(|a| {
                let ruling = if a.status == "submitted" {
                    crate::messages::appeal_status_text(&a.status).to_string()
                } else {
                    let mut t = crate::messages::appeal_status_text(&a.status).to_string();
                    if a.remedy != "none" && !a.remedy.is_empty() {
                        t.push('·');
                        t.push_str(crate::messages::remedy_text(&a.remedy));
                    }
                    t.push_str("：");
                    t.push_str(&a.ruling_reason);
                    if !a.changed.is_empty() {
                        t.push_str("。结果：");
                        t.push_str(&a.changed);
                    }
                    t
                };
                vec![
                    a.id.clone(),
                    a.street_name.clone(),
                    a.line_text(),
                    f(a.points, 1),
                    a.reason.clone(),
                    ruling,
                ]
            })
            .collect();
        let upheld = inputs
            .appeals
            .iter()
            .filter(|a| a.status == "upheld")
            .count();
        let pending = inputs
            .appeals
            .iter()
            .filter(|a| a.status == "submitted")
            .count();
        let rejected = inputs
            .appeals
            .iter()
            .filter(|a| a.status == "rejected")
            .count();
        for p in table_pages(
            "申诉复核 Appeals",
            &format!(
                "{} · 街道对扣分提出申诉 {} 件：维持 {upheld} 件，驳回 {rejected} 件，待复核 {pending} 件。维持并免扣的，扣分表已按复核结果重新计算。",
                inputs.label,
                inputs.appeals.len()
            ),
            &["编号", "街道", "扣分项", "扣分", "申诉理由", "复核结论"],
            &[45.0, 80.0, 110.0, 40.0, 200.0, 275.0],
            &[false, false, false, true, false, false],
            &rows,
        ) {
            out.push(p.svg());
        }
    }
    if !inputs.rectifications.is_empty() {
        let rows: Vec<Vec<String>> = inputs
            .rectifications
            .iter()
            .map(|r| {
                vec![
                    r.street_name.clone(),
                    r.community_name.clone(),
                    f(r.score, 1),
                    crate::messages::rectification_status_text(&r.status).into(),
                    if r.measures.is_empty() {
                        "—".into()
                    } else {
                        r.measures.clone()
                    },
                    if r.responsible.is_empty() {
                        "—".into()
                    } else {
                        r.responsible.clone()
                    },
                    if r.deadline.is_empty() {
                        "—".into()
                    } else {
                        r.deadline.clone()
                    },
                    match (r.next_round.is_empty(), r.next_score) {
                        (false, Some(x)) => format!("{} {x:.1}", r.next_round),
                        _ => "—".into(),
                    },
                ]
            })
            .collect();
        let open = inputs
            .rectifications
            .iter()
            .filter(|r| r.status == "open")
            .count();
        for p in table_pages(
            "整改台账 Rectification ledger",
            &format!(
                "{} · 计入扣分的社区 {} 个，尚未制定整改措施 {open} 个；下次测评得分取该社区其后第一次测评的轮次。",
                inputs.label,
                inputs.rectifications.len()
            ),
            &[
                "街道",
                "社区",
                "得分",
                "状态",
                "整改措施",
                "责任人",
                "完成期限",
                "下次测评",
            ],
            &[75.0, 110.0, 40.0, 75.0, 220.0, 80.0, 70.0, 80.0],
            &[false, false, true, false, false, false, false, false],
            &rows,
        ) {
            out.push(p.svg());
        }
    }

    for c in charts {
        out.push(chart_page(c));
    }
    // Appendix: how reliable the deductions are (when `manyi plan` was run).
    for p in &inputs.plans {
        let rows: Vec<Vec<String>> = p
            .streets
            .rows
            .iter()
            .map(|r| {
                let get = |k: &str| {
                    p.streets
                        .col(k)
                        .and_then(|i| r.get(i))
                        .cloned()
                        .unwrap_or_default()
                };
                vec![
                    get("street_name"),
                    get("communities"),
                    get("measured"),
                    get("between_sd")
                        .parse::<f64>()
                        .map(|x| format!("{x:.1}"))
                        .unwrap_or_default(),
                    get("communities_needed"),
                ]
            })
            .collect();
        for page in table_pages(
            &format!(
                "附录 扣分判定的可靠性 {}",
                crate::messages::period_title(&p.round)
            ),
            &format!(
                "一个社区约需 {} 份有效问卷 (单侧 90% 区间 ±{} 分); 离阈值越近越易误判, 见下页曲线。下表: 每轮需测评几个社区, 街道得分的置信区间才在 ±{} 分内。",
                p.typical_m, p.delta, p.delta_street
            ),
            &["街道", "社区数", "本轮测评", "社区间标准差", "每轮需要社区"],
            &[120.0, 80.0, 80.0, 100.0, 100.0],
            &[false, true, true, true, true],
            &rows,
        ) {
            out.push(page.svg());
        }
        out.push(chart_page(&Chart {
            name: "oc",
            title: String::new(),
            svg: p.oc_svg.clone(),
        }));
    }
    out
}

/// Renders the pack to PDF bytes.
pub fn review_pack(inputs: &Inputs, rules: &Rules, charts: &[Chart]) -> Result<Vec<u8>> {
    let opt = usvg_options();
    let mut doc = Document::new();
    for (i, svg) in pages(inputs, rules, charts).iter().enumerate() {
        let tree = resvg::usvg::Tree::from_str(svg, &opt)
            .map_err(|e| Error::Invalid(format!("laying out PDF page {}: {e}", i + 1)))?;
        let settings = PageSettings::from_wh(PW as f32, PH as f32)
            .ok_or_else(|| Error::Invalid("page size".into()))?;
        let mut page = doc.start_page_with(settings);
        let mut surface = page.surface();
        let size = Size::from_wh(PW as f32, PH as f32)
            .ok_or_else(|| Error::Invalid("page size".into()))?;
        surface
            .draw_svg(&tree, size, SvgSettings::default())
            .ok_or_else(|| Error::Invalid(format!("drawing PDF page {}", i + 1)))?;
        surface.finish();
        page.finish();
    }
    doc.finish()
        .map_err(|e| Error::Invalid(format!("writing the PDF: {e:?}")))
}
