//! Charts for review meetings (1600×900, for slides): the street ranking with CI
//! whiskers, community scores within each street, each street's trend over the year's
//! rounds, and an item heat-map. Drawn as SVG with plotters, text in the shipped CJK
//! font; PNG rendered from the SVG with resvg using only that font, so a machine without
//! CJK fonts draws the same picture.

use std::sync::Once;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::Inputs;
use crate::error::{Error, Result};
use crate::rules::Rules;

/// The shipped font (Noto Sans CJK SC subset, SIL OFL; see assets/fonts).
pub const FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/NotoSansSC-manyi-subset.otf");
/// The font's family name.
pub const FONT_NAME: &str = "Noto Sans CJK SC";
/// Registered in plotters under a CSS stack, so SVG viewers without the font fall back.
pub const FAMILY: &str = "Noto Sans CJK SC, Microsoft YaHei, PingFang SC, sans-serif";
pub const WIDTH: u32 = 1600;
pub const HEIGHT: u32 = 900;

static REGISTER: Once = Once::new();

pub(crate) fn register() {
    REGISTER.call_once(|| {
        // ok: it fails only for bytes that are no font; the shipped font is checked by
        // the chart tests, which would then find no text in the SVG.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT_BYTES);
    });
}

/// Characters of `text` that the shipped font cannot draw.
pub fn missing_glyphs(text: &str) -> Vec<char> {
    use ab_glyph::Font;
    let Ok(font) = ab_glyph::FontRef::try_from_slice(FONT_BYTES) else {
        return vec![];
    };
    let mut out: Vec<char> = text
        .chars()
        .filter(|c| !c.is_control() && !c.is_whitespace() && font.glyph_id(*c).0 == 0)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A rendered chart.
pub struct Chart {
    /// File stem: ranking, communities, trend, items.
    pub name: &'static str,
    pub title: String,
    pub svg: String,
}

pub(crate) fn perr<E: std::fmt::Debug>(e: E) -> Error {
    Error::Invalid(format!("drawing a chart: {e:?}"))
}

pub(crate) fn font(size: u32) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(&BLACK)
}

pub(crate) const RED: RGBColor = RGBColor(200, 40, 40);
const BLUE: RGBColor = RGBColor(35, 90, 160);
const GREY: RGBColor = RGBColor(150, 150, 150);

struct StreetPoint {
    name: String,
    own: bool,
    score: f64,
    ci: Option<(f64, f64)>,
    deduction: f64,
}

fn axis_range(values: impl Iterator<Item = f64>, threshold: f64) -> (f64, f64) {
    let (mut lo, mut hi) = (threshold, threshold);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    let lo = (((lo - 5.0) / 5.0).floor() * 5.0)
        .max(0.0)
        .min(threshold - 5.0);
    let hi = (((hi + 5.0) / 5.0).ceil() * 5.0)
        .min(100.0)
        .max(threshold + 5.0);
    (lo, hi)
}

/// The district ranking; with `own`, one street's view of it: its row highlighted and
/// the deductions of the others left out.
fn ranking(inputs: &Inputs, rules: &Rules, own: Option<&str>) -> Result<Option<Chart>> {
    let Some(t) = &inputs.streets else {
        return Ok(None);
    };
    let deductions: &[crate::rows::DeductionRow] =
        inputs.deductions.as_ref().map_or(&[], |d| &d.rows);
    let mut pts: Vec<StreetPoint> = t
        .rows
        .iter()
        .filter_map(|r| {
            let is_own = own == Some(r.street_code.as_str());
            let deduction = deductions
                .iter()
                .find(|x| x.row_type == "street" && x.street_code == r.street_code)
                .filter(|_| own.is_none() || is_own)
                .and_then(|x| x.total)
                .unwrap_or(0.0);
            Some(StreetPoint {
                name: r.street_name.clone(),
                own: is_own,
                score: r.score?,
                ci: r.ci_low.zip(r.ci_high),
                deduction,
            })
        })
        .collect();
    if pts.is_empty() {
        return Ok(None);
    }
    pts.sort_by(|a, b| a.score.total_cmp(&b.score));
    let thr = rules.threshold.community_score;
    let street_thr = rules.threshold.street_score_below;
    // CIs of streets with few sampled communities can be very wide: clip the axis, not the data.
    let (lo, hi) = axis_range(pts.iter().map(|p| p.score), thr);
    let (lo, hi) = (
        lo.min(street_thr - 5.0).max(0.0),
        hi.max(street_thr + 5.0).min(100.0),
    );
    let title = format!(
        "{} {} 街道满意度排名 (95% 置信区间; 红线 = 社区阈值 {thr}, 虚线 = 街道 {street_thr})",
        inputs.district,
        crate::messages::period_title(&inputs.label)
    );
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(perr)?;
        let n = pts.len();
        let mut chart = ChartBuilder::on(&root)
            .caption(&title, font(30))
            .margin(30)
            .margin_left(170)
            .margin_right(150)
            .x_label_area_size(60)
            .build_cartesian_2d(lo..hi, -0.7f64..(n as f64 - 0.3))
            .map_err(perr)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .light_line_style(RGBColor(242, 242, 242))
            .x_desc("满意度得分")
            .label_style(font(22))
            .axis_desc_style(font(24))
            .draw()
            .map_err(perr)?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(thr, -0.7), (thr, n as f64 - 0.3)],
                RED.stroke_width(3),
            )))
            .map_err(perr)?;
        let dashes: Vec<PathElement<(f64, f64)>> = (0..(n * 3))
            .map(|i| {
                let y0 = -0.7 + i as f64 * (n as f64 + 0.4) / (n * 3) as f64;
                PathElement::new(
                    vec![(street_thr, y0), (street_thr, y0 + 0.15)],
                    GREY.stroke_width(2),
                )
            })
            .collect();
        chart.draw_series(dashes).map_err(perr)?;
        for (i, p) in pts.iter().enumerate() {
            let y = i as f64;
            let color = if p.score < thr { RED } else { BLUE };
            if p.own {
                // The street's own row: a band behind it.
                let (x0, y0) = chart.backend_coord(&(lo, y + 0.45));
                let (x1, y1) = chart.backend_coord(&(hi, y - 0.45));
                root.draw(&Rectangle::new(
                    [(x0 - 160, y0), (x1 + 140, y1)],
                    RGBColor(255, 236, 179).filled(),
                ))
                .map_err(perr)?;
            }
            if let Some((l, h)) = p.ci {
                let (l, h) = (l.max(lo), h.min(hi));
                chart
                    .draw_series([
                        PathElement::new(vec![(l, y), (h, y)], color.stroke_width(3)),
                        PathElement::new(vec![(l, y - 0.18), (l, y + 0.18)], color.stroke_width(3)),
                        PathElement::new(vec![(h, y - 0.18), (h, y + 0.18)], color.stroke_width(3)),
                    ])
                    .map_err(perr)?;
            }
            chart
                .draw_series(std::iter::once(Circle::new(
                    (p.score, y),
                    9,
                    color.filled(),
                )))
                .map_err(perr)?;
            let (px, py) = chart.backend_coord(&(lo, y));
            root.draw(&Text::new(
                p.name.clone(),
                (px - 12, py),
                font(24).pos(Pos::new(HPos::Right, VPos::Center)),
            ))
            .map_err(perr)?;
            let (qx, qy) = chart.backend_coord(&(hi, y));
            let label = if p.deduction > 0.0 {
                format!("{:.1}  扣 {:.1}", p.score, p.deduction)
            } else {
                format!("{:.1}", p.score)
            };
            let style = if p.deduction > 0.0 {
                font(22).color(&RED)
            } else {
                font(22)
            };
            root.draw(&Text::new(
                label,
                (qx + 12, qy),
                style.pos(Pos::new(HPos::Left, VPos::Center)),
            ))
            .map_err(perr)?;
        }
        root.present().map_err(perr)?;
    }
    Ok(Some(Chart {
        name: "ranking",
        title,
        svg,
    }))
}

fn communities(inputs: &Inputs, rules: &Rules) -> Result<Option<Chart>> {
    let Some(t) = &inputs.communities else {
        return Ok(None);
    };
    if t.rows.is_empty() {
        return Ok(None);
    }
    let thr = rules.threshold.community_score;
    let mut rows: Vec<&crate::rows::CommunityScoreRow> = t.rows.iter().collect();
    rows.sort_by(|a, b| {
        (&a.street_code, &a.community_code).cmp(&(&b.street_code, &b.community_code))
    });
    let (lo, hi) = axis_range(rows.iter().filter_map(|r| r.score), thr);
    let n = rows.len();
    let title = format!(
        "{} {} 各街道社区得分 (点 = 得分, 竖线 = 95% 置信区间, × = 样本不足; 红线 = 阈值 {thr})",
        inputs.district,
        crate::messages::period_title(&inputs.label)
    );
    // Every community is named under its point, top to bottom; the street names go
    // in a row below the names.
    let names: Vec<String> = rows.iter().map(|r| short_name(&r.community_name)).collect();
    let longest = names.iter().map(|n| n.chars().count()).max().unwrap_or(2);
    let label_size: u32 = if n > 45 { 14 } else { 17 };
    let name_band = (longest as u32 * (label_size + 1) + 16).min(200);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(perr)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(&title, font(28))
            .margin(30)
            .x_label_area_size(name_band + 50)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), lo..hi)
            .map_err(perr)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .light_line_style(RGBColor(242, 242, 242))
            .y_desc("得分")
            .label_style(font(22))
            .axis_desc_style(font(24))
            .draw()
            .map_err(perr)?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(-0.5, thr), (n as f64 - 0.5, thr)],
                RED.stroke_width(3),
            )))
            .map_err(perr)?;
        // Street groups: alternating bands and the street name under each.
        let mut start = 0;
        let mut group = 0;
        for i in 0..=n {
            let boundary = i == n || (i > start && rows[i].street_code != rows[start].street_code);
            if !boundary {
                continue;
            }
            if group % 2 == 1 {
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(start as f64 - 0.5, lo), (i as f64 - 0.5, hi)],
                        RGBColor(240, 243, 248).filled(),
                    )))
                    .map_err(perr)?;
            }
            let mid = (start + i - 1) as f64 / 2.0;
            let (px, py) = chart.backend_coord(&(mid, lo));
            let name = rows[start].street_name.trim_end_matches("街道").to_string();
            root.draw(&Text::new(
                name,
                (px, py + name_band as i32 + 14),
                font(20).pos(Pos::new(HPos::Center, VPos::Top)),
            ))
            .map_err(perr)?;
            // A thin rule between streets, through the name band.
            if i < n {
                let (bx, by) = chart.backend_coord(&(i as f64 - 0.5, lo));
                root.draw(&PathElement::new(
                    vec![(bx, by), (bx, by + name_band as i32 + 40)],
                    RGBColor(200, 205, 215).stroke_width(1),
                ))
                .map_err(perr)?;
            }
            start = i;
            group += 1;
        }
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(-0.5, thr), (n as f64 - 0.5, thr)],
                RED.stroke_width(3),
            )))
            .map_err(perr)?;
        for (i, name) in names.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(i as f64, lo));
            root.draw(&Text::new(
                name.clone(),
                (px + label_size as i32 / 2, py + 8),
                font(label_size)
                    .transform(FontTransform::Rotate90)
                    .pos(Pos::new(HPos::Left, VPos::Top)),
            ))
            .map_err(perr)?;
        }
        for (i, r) in rows.iter().enumerate() {
            let x = i as f64;
            match r.score {
                Some(s) => {
                    let color = if r.below_threshold == Some(true) {
                        RED
                    } else {
                        BLUE
                    };
                    if let Some((l, h)) = r.ci_low.zip(r.ci_high) {
                        chart
                            .draw_series(std::iter::once(PathElement::new(
                                vec![(x, l.max(lo)), (x, h.min(hi))],
                                color.stroke_width(2),
                            )))
                            .map_err(perr)?;
                    }
                    chart
                        .draw_series(std::iter::once(Circle::new((x, s), 5, color.filled())))
                        .map_err(perr)?;
                }
                None => {
                    chart
                        .draw_series(std::iter::once(Cross::new(
                            (x, lo + 1.5),
                            7,
                            GREY.stroke_width(3),
                        )))
                        .map_err(perr)?;
                }
            }
        }
        root.present().map_err(perr)?;
    }
    Ok(Some(Chart {
        name: "communities",
        title,
        svg,
    }))
}

/// Splits a short Chinese label into two lines at a word boundary: before a
/// conjunction (与 和 及) or an opening bracket, after a pause mark (、,), whichever
/// is nearest the middle; a label of 5 characters or fewer stays on one line, and one
/// without such a boundary is split in the middle.
pub fn break_label(text: &str) -> (String, String) {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    if n <= 5 {
        return (text.to_string(), String::new());
    }
    let mut best: Option<usize> = None;
    for i in 1..n {
        let boundary = matches!(chars[i], '与' | '和' | '及' | '(' | '\u{FF08}')
            || matches!(chars[i - 1], '、' | ',' | '\u{FF0C}' | ')' | '\u{FF09}');
        if boundary && best.is_none_or(|b| i.abs_diff(n / 2) < b.abs_diff(n / 2)) {
            best = Some(i);
        }
    }
    let at = best.unwrap_or(n.div_ceil(2));
    (chars[..at].iter().collect(), chars[at..].iter().collect())
}

/// A community's name without the 社区居委会 / 村委会 suffix (what people say).
fn short_name(name: &str) -> String {
    for suffix in [
        "社区居民委员会",
        "社区居委会",
        "村民委员会",
        "村委会",
        "居委会",
    ] {
        if let Some(s) = name.strip_suffix(suffix).filter(|s| !s.is_empty()) {
            return s.to_string();
        }
    }
    name.to_string()
}

/// Twelve street colours far apart in hue and lightness (Okabe–Ito's colour-blind-safe
/// set, extended), each with a marker of its own and a direct label, so no street is
/// told by colour alone.
pub(crate) fn palette(i: usize) -> RGBColor {
    const C: [RGBColor; 12] = [
        RGBColor(0, 114, 178),
        RGBColor(230, 159, 0),
        RGBColor(0, 158, 115),
        RGBColor(213, 94, 0),
        RGBColor(204, 121, 167),
        RGBColor(86, 180, 233),
        RGBColor(40, 40, 40),
        RGBColor(170, 140, 0),
        RGBColor(120, 70, 160),
        RGBColor(140, 86, 75),
        RGBColor(110, 110, 110),
        RGBColor(180, 30, 60),
    ];
    C[i % C.len()]
}

/// Each street's score in each of the year's rounds, with its 95% CI, one small panel
/// per street on a shared axis. With fewer than
/// two rounds there is no trend to draw: the chart shows the one round's points and says
/// so. Under rotation every round surveys other communities, and the chart says that a
/// change between rounds mixes change over time with which communities were drawn.
fn trend(inputs: &Inputs, rules: &Rules) -> Result<Option<Chart>> {
    if inputs.round_streets.is_empty() {
        return Ok(None);
    }
    let rounds: Vec<&str> = inputs
        .round_streets
        .iter()
        .map(|(r, _)| r.as_str())
        .collect();
    type Point = (usize, f64, Option<(f64, f64)>);
    let mut series: std::collections::BTreeMap<String, (String, Vec<Point>)> = Default::default();
    for (i, (_, rows)) in inputs.round_streets.iter().enumerate() {
        for r in rows {
            if let Some(s) = r.score {
                series
                    .entry(r.street_code.clone())
                    .or_insert_with(|| (r.street_name.clone(), vec![]))
                    .1
                    .push((i, s, r.ci_low.zip(r.ci_high)));
            }
        }
    }
    let thr = rules.threshold.community_score;
    // Every panel on the same axis (the scores and the threshold; whiskers beyond it
    // are cut at its edge), so panels compare at a glance.
    let (lo, hi) = axis_range(series.values().flat_map(|s| s.1.iter().map(|p| p.1)), thr);
    let k = rounds.len();
    let m = series.len().max(1);
    let title = format!(
        "{} {} 各街道满意度（各轮测评，竖线为 95% 置信区间，红线为达标线 {}）",
        inputs.district,
        crate::messages::period_title(&inputs.label),
        thr
    );
    let note = if k < 2 {
        Some(format!(
            "本期只有一轮测评（{}），无法显示趋势：各点为该轮各街道得分。",
            rounds.join("")
        ))
    } else if rules.sampling.method == crate::rules::SamplingMethod::Rotation {
        Some(
            "轮换抽样：每轮测评的是各街道不同的社区，轮次之间的变化既反映时间变化，也反映抽中了哪些社区。"
                .to_string(),
        )
    } else {
        None
    };
    // One small panel per street (at most four a row), each with its own name, the
    // rounds along the bottom and the same score axis: no crossing lines to follow.
    let cols = m.min(4);
    let rows_n = m.div_ceil(cols);
    let round_label = |r: &str| match r.parse::<crate::round::RoundId>() {
        Ok(id) => format!("第{}轮", id.number),
        Err(_) => r.to_string(),
    };
    let ink = RGBColor(31, 90, 160);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(perr)?;
        root.draw(&Text::new(
            title.clone(),
            (WIDTH as i32 / 2, 20),
            font(26).pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(perr)?;
        if let Some(n) = &note {
            root.draw(&Text::new(
                n.clone(),
                (WIDTH as i32 / 2, 58),
                font(20)
                    .color(&RGBColor(120, 60, 0))
                    .pos(Pos::new(HPos::Center, VPos::Top)),
            ))
            .map_err(perr)?;
        }
        let top = if note.is_some() { 92 } else { 66 };
        let (_, grid) = root.split_vertically(top);
        let panels = grid.split_evenly((rows_n, cols));
        for (panel, (_, (name, pts))) in panels.iter().zip(series.iter()) {
            let mut chart = ChartBuilder::on(panel)
                .margin(10)
                .margin_right(24)
                .caption(name.clone(), font(22))
                .x_label_area_size(30)
                .y_label_area_size(46)
                .build_cartesian_2d(-0.5f64..(k as f64 - 0.5), lo..hi)
                .map_err(perr)?;
            chart
                .configure_mesh()
                .x_labels(0)
                .disable_x_mesh()
                .y_labels(4)
                .y_label_formatter(&|v| format!("{v:.0}"))
                .light_line_style(RGBColor(242, 242, 242))
                .label_style(font(16))
                .draw()
                .map_err(perr)?;
            for (i, r) in rounds.iter().enumerate() {
                let (px, py) = chart.backend_coord(&(i as f64, lo));
                root.draw(&Text::new(
                    round_label(r),
                    (px, py + 6),
                    font(16).pos(Pos::new(HPos::Center, VPos::Top)),
                ))
                .map_err(perr)?;
            }
            let (x0, y0) = chart.backend_coord(&(-0.5, thr));
            let (x1, _) = chart.backend_coord(&(k as f64 - 0.5, thr));
            root.draw(&Rectangle::new([(x0, y0 - 1), (x1, y0 + 1)], RED.filled()))
                .map_err(perr)?;
            let xy: Vec<(f64, f64)> = pts.iter().map(|(i, s, _)| (*i as f64, *s)).collect();
            if xy.len() >= 2 {
                chart
                    .draw_series(LineSeries::new(xy.clone(), ink.stroke_width(2)))
                    .map_err(perr)?;
            }
            for (p, (_, _, ci)) in xy.iter().zip(pts) {
                if let Some((l, h)) = ci {
                    let (a, ya) = chart.backend_coord(&(p.0, h.min(hi)));
                    let (_, yb) = chart.backend_coord(&(p.0, l.max(lo)));
                    root.draw(&Rectangle::new(
                        [(a - 1, ya), (a + 1, yb)],
                        ink.mix(0.5).filled(),
                    ))
                    .map_err(perr)?;
                }
                let at = chart.backend_coord(p);
                root.draw(&Circle::new(at, 6, ink.filled())).map_err(perr)?;
                root.draw(&Text::new(
                    format!("{:.1}", p.1),
                    (at.0 + 9, at.1 - 4),
                    font(15).pos(Pos::new(HPos::Left, VPos::Bottom)),
                ))
                .map_err(perr)?;
            }
        }
        root.present().map_err(perr)?;
    }
    Ok(Some(Chart {
        name: "trend",
        title,
        svg,
    }))
}

/// Colour for an item score: red (low) → yellow → green (high).
fn heat(score: f64, lo: f64, hi: f64) -> RGBColor {
    let t = ((score - lo) / (hi - lo)).clamp(0.0, 1.0);
    let (r, g, b) = if t < 0.5 {
        let u = t / 0.5;
        (
            215.0 + (254.0 - 215.0) * u,
            48.0 + (224.0 - 48.0) * u,
            39.0 + (139.0 - 39.0) * u,
        )
    } else {
        let u = (t - 0.5) / 0.5;
        (
            254.0 + (26.0 - 254.0) * u,
            224.0 + (152.0 - 224.0) * u,
            139.0 + (80.0 - 139.0) * u,
        )
    };
    RGBColor(r as u8, g as u8, b as u8)
}

fn items(inputs: &Inputs, rules: &Rules) -> Result<Option<Chart>> {
    let Some(t) = &inputs.items else {
        return Ok(None);
    };
    let questions: Vec<(String, String)> = rules
        .questions
        .iter()
        .map(|q| (q.id.clone(), q.text.clone()))
        .collect();
    let mut streets: Vec<(String, String)> = t
        .rows
        .iter()
        .map(|r| (r.street_code.clone(), r.street_name.clone()))
        .collect();
    streets.dedup();
    if streets.is_empty() {
        return Ok(None);
    }
    let cell = |s: &str, q: &str| {
        t.rows
            .iter()
            .find(|r| r.street_code == s && r.question == q)
            .and_then(|r| r.score)
    };
    let all: Vec<f64> = t.rows.iter().filter_map(|r| r.score).collect();
    let lo = all
        .iter()
        .cloned()
        .fold(f64::INFINITY, f64::min)
        .min(rules.threshold.community_score - 10.0);
    let hi = all
        .iter()
        .cloned()
        .fold(f64::NEG_INFINITY, f64::max)
        .max(rules.threshold.community_score + 10.0);
    let title = format!(
        "{} {} 分项得分热力图 (街道 × 题目)",
        inputs.district,
        crate::messages::period_title(&inputs.label)
    );
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(perr)?;
        root.draw(&Text::new(
            title.clone(),
            (WIDTH as i32 / 2, 30),
            font(30).pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(perr)?;
        let (x0, y0) = (170i32, 190i32);
        let (cw, ch) = (
            (WIDTH as i32 - x0 - 40) / questions.len() as i32,
            (HEIGHT as i32 - y0 - 30) / streets.len() as i32,
        );
        for (j, (id, text)) in questions.iter().enumerate() {
            let cx = x0 + j as i32 * cw + cw / 2;
            root.draw(&Text::new(
                id.to_uppercase(),
                (cx, y0 - 80),
                font(22).pos(Pos::new(HPos::Center, VPos::Bottom)),
            ))
            .map_err(perr)?;
            // Question text in two short lines under the id, broken between words.
            let (a, b) = break_label(text);
            root.draw(&Text::new(
                a,
                (cx, y0 - 50),
                font(16).pos(Pos::new(HPos::Center, VPos::Bottom)),
            ))
            .map_err(perr)?;
            root.draw(&Text::new(
                b,
                (cx, y0 - 28),
                font(16).pos(Pos::new(HPos::Center, VPos::Bottom)),
            ))
            .map_err(perr)?;
        }
        for (i, (code, name)) in streets.iter().enumerate() {
            let y = y0 + i as i32 * ch;
            root.draw(&Text::new(
                name.clone(),
                (x0 - 12, y + ch / 2),
                font(22).pos(Pos::new(HPos::Right, VPos::Center)),
            ))
            .map_err(perr)?;
            for (j, (id, _)) in questions.iter().enumerate() {
                let x = x0 + j as i32 * cw;
                let v = cell(code, id);
                let fill = v
                    .map(|v| heat(v, lo, hi))
                    .unwrap_or(RGBColor(230, 230, 230));
                root.draw(&Rectangle::new(
                    [(x, y), (x + cw - 2, y + ch - 2)],
                    fill.filled(),
                ))
                .map_err(perr)?;
                let label = v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "—".into());
                root.draw(&Text::new(
                    label,
                    (x + cw / 2, y + ch / 2),
                    font(20).pos(Pos::new(HPos::Center, VPos::Center)),
                ))
                .map_err(perr)?;
            }
        }
        root.present().map_err(perr)?;
    }
    Ok(Some(Chart {
        name: "items",
        title,
        svg,
    }))
}

/// Every chart the inputs allow (a quarter without a round has no ranking, and so on).
pub fn render(inputs: &Inputs, rules: &Rules) -> Result<Vec<Chart>> {
    render_view(inputs, rules, None, true)
}

/// The charts one street sees: the district ranking with its own row highlighted (when
/// `show_ranking`), and its own communities, trend and items. `inputs` must hold only
/// that street's rows but for `streets` (the ranking).
pub fn render_for_street(
    inputs: &Inputs,
    rules: &Rules,
    street: &str,
    show_ranking: bool,
) -> Result<Vec<Chart>> {
    render_view(inputs, rules, Some(street), show_ranking)
}

fn render_view(
    inputs: &Inputs,
    rules: &Rules,
    own: Option<&str>,
    show_ranking: bool,
) -> Result<Vec<Chart>> {
    register();
    let ranking = if show_ranking {
        ranking(inputs, rules, own)?
    } else {
        None
    };
    Ok([
        ranking,
        communities(inputs, rules)?,
        trend(inputs, rules)?,
        items(inputs, rules)?,
    ]
    .into_iter()
    .flatten()
    .collect())
}

/// usvg options with only the shipped font (no system fonts).
pub fn usvg_options() -> resvg::usvg::Options<'static> {
    let mut opt = resvg::usvg::Options::default();
    let db = opt.fontdb_mut();
    db.load_font_data(FONT_BYTES.to_vec());
    db.set_sans_serif_family(FONT_NAME);
    opt.font_family = FONT_NAME.to_string();
    opt
}

/// Renders an SVG to PNG at its own size, anti-aliased, with the shipped font.
pub fn png(svg: &str) -> Result<Vec<u8>> {
    let opt = usvg_options();
    let tree = resvg::usvg::Tree::from_str(svg, &opt)
        .map_err(|e| Error::Invalid(format!("parsing a chart SVG: {e}")))?;
    let size = tree.size().to_int_size();
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or_else(|| Error::Invalid("empty chart".into()))?;
    pixmap.fill(resvg::tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::default(),
        &mut pixmap.as_mut(),
    );
    pixmap
        .encode_png()
        .map_err(|e| Error::Invalid(format!("encoding a PNG: {e}")))
}

#[cfg(test)]
mod tests {
    use super::break_label;

    #[test]
    fn labels_break_between_words() {
        let b = |t: &str| {
            let (a, b) = break_label(t);
            format!("{a}|{b}")
        };
        assert_eq!(b("停车与公共设施"), "停车|与公共设施");
        assert_eq!(
            b("办事便利(一口受理、少跑路)"),
            "办事便利|(一口受理、少跑路)"
        );
        assert_eq!(b("物业管理与环境卫生"), "物业管理|与环境卫生");
        assert_eq!(b("总体满意度"), "总体满意度|");
        assert_eq!(b("社区党组织服务群众"), "社区党组织|服务群众");
    }
}
