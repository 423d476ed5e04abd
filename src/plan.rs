//! Decision reliability (BRIEF.md): how many valid respondents each community needs
//! for its deduction decision to be reliable, how many communities a street needs per
//! round, and what the scheme as configured gives (`manyi plan`).

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::estimators::{self, half_width, m_needed, t_quantile};
use crate::frame::Frame;
use crate::round::RoundId;
use crate::rules::{Rules, SamplingMethod};
use crate::workspace::Workspace;

/// The planning parameters (defaults from the rules' `[reliability]`).
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub alpha: f64,
    pub delta: f64,
    pub delta_street: f64,
}

impl Options {
    pub fn from_rules(rules: &Rules) -> Options {
        Options {
            alpha: rules.reliability.alpha,
            delta: rules.reliability.delta,
            delta_street: rules.reliability.delta_street,
        }
    }
}

/// Where a community's SD comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdSource {
    /// Its own respondents in the round.
    Own,
    /// The pooled within-community SD of its street's measured communities.
    Street,
    /// The rules' `reliability.sd` (nothing measured in the street).
    Rules,
}

impl SdSource {
    pub fn code(self) -> &'static str {
        match self {
            SdSource::Own => "own",
            SdSource::Street => "street",
            SdSource::Rules => "rules",
        }
    }
}

#[derive(Debug, Clone)]
pub struct CommunityPlan {
    pub street_code: String,
    pub street_name: String,
    pub community_code: String,
    pub community_name: String,
    pub households: Option<u64>,
    pub n_valid: usize,
    pub sd: f64,
    pub sd_source: SdSource,
    pub m_needed: usize,
    /// The one-sided half-width the round's respondents gave (measured communities).
    pub half_width_now: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct StreetPlan {
    pub street_code: String,
    pub street_name: String,
    /// N_h.
    pub population: usize,
    /// Communities measured in the round.
    pub measured: usize,
    /// SD of the community scores (between communities) used.
    pub between_sd: f64,
    /// Communities per round that keep the street's CI half-width ≤ δ_street.
    pub communities_needed: usize,
    /// The street CI's half-width with `communities_needed` communities.
    pub half_width: f64,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub label: String,
    pub options: Options,
    pub threshold: f64,
    pub communities: Vec<CommunityPlan>,
    pub streets: Vec<StreetPlan>,
    /// The respondents' SD pooled over every measured community (for the OC chart).
    pub pooled_sd: f64,
}

/// Pooled SD: sqrt(Σ (m_i − 1) s_i² / Σ (m_i − 1)).
fn pooled(parts: &[(usize, f64)]) -> Option<f64> {
    let (num, den) = parts
        .iter()
        .filter(|(m, _)| *m >= 2)
        .fold((0.0, 0.0), |(a, b), (m, s2)| {
            (a + (*m as f64 - 1.0) * s2, b + (*m as f64 - 1.0))
        });
    (den > 0.0).then(|| (num / den).sqrt())
}

/// The smallest n (1 < n ≤ N) of communities per round whose street CI half-width
/// t(conf; n − 1) · sqrt((1 − n/N) s_b²/n + v/N) is at most δ, v the sampling variance
/// of one community's score at m respondents; N when none is.
fn communities_needed(big_n: usize, sb: f64, v: f64, conf: f64, delta: f64) -> (usize, f64) {
    let hw = |n: usize| {
        let df = if n >= big_n { 30.0 } else { (n - 1) as f64 };
        t_quantile(conf, df)
            * ((1.0 - n as f64 / big_n as f64) * sb * sb / n as f64 + v / big_n as f64).sqrt()
    };
    if big_n < 2 {
        return (big_n, 0.0);
    }
    for n in 2..=big_n {
        if hw(n) <= delta {
            return (n, hw(n));
        }
    }
    (big_n, hw(big_n))
}

/// `manyi plan --round R`: every community of the frame and every street, from the
/// round's scores.
pub fn plan_round(ws: &Workspace, round: &RoundId, opts: Options) -> Result<Plan> {
    let rules = ws.rules()?;
    let frame = ws.frame()?;
    let scores = crate::score::rounds::score_round(ws, &rules, &frame, round)?;
    let measured: std::collections::BTreeMap<&str, (usize, f64, f64)> = scores
        .communities
        .iter()
        .filter_map(|c| {
            let e = c.est.as_ref()?;
            Some((c.community_code.as_str(), (e.n, e.variance?, e.mean)))
        })
        .collect();
    let all: Vec<(usize, f64)> = measured.values().map(|(m, v, _)| (*m, *v)).collect();
    let pooled_sd = pooled(&all).unwrap_or(rules.reliability.sd);
    let mut communities = Vec::new();
    let mut streets = Vec::new();
    let district_sb = {
        let per_street: Vec<(usize, f64)> = frame
            .streets
            .keys()
            .filter_map(|code| {
                let means: Vec<f64> = frame.streets[code]
                    .communities
                    .iter()
                    .filter_map(|c| measured.get(c.code.as_str()).map(|x| x.2))
                    .collect();
                estimators::sample_variance(&means).map(|v| (means.len(), v))
            })
            .collect();
        pooled(&per_street).unwrap_or(rules.reliability.between_sd)
    };
    for (code, st) in &frame.streets {
        let own: Vec<(usize, f64)> = st
            .communities
            .iter()
            .filter_map(|c| measured.get(c.code.as_str()).map(|(m, v, _)| (*m, *v)))
            .collect();
        let street_sd = pooled(&own);
        let mut vs = Vec::new();
        for c in &st.communities {
            let (n_valid, sd, source) = match measured.get(c.code.as_str()) {
                Some((m, v, _)) => (*m, v.sqrt(), SdSource::Own),
                None => match street_sd {
                    Some(s) => (0, s, SdSource::Street),
                    None => (0, rules.reliability.sd, SdSource::Rules),
                },
            };
            let m = m_needed(sd, c.households, opts.alpha, opts.delta);
            vs.push(estimators::fpc(m, c.households) * sd * sd / m as f64);
            communities.push(CommunityPlan {
                street_code: code.clone(),
                street_name: st.name.clone(),
                community_code: c.code.clone(),
                community_name: c.name.clone(),
                households: c.households,
                n_valid,
                sd,
                sd_source: source,
                m_needed: m,
                half_width_now: (source == SdSource::Own)
                    .then(|| half_width(n_valid, sd, c.households, opts.alpha)),
            });
        }
        let means: Vec<f64> = st
            .communities
            .iter()
            .filter_map(|c| measured.get(c.code.as_str()).map(|x| x.2))
            .collect();
        let sb = estimators::sample_variance(&means).map_or(district_sb, f64::sqrt);
        let v = estimators::mean(&vs).unwrap_or(0.0);
        let (n, hw) = communities_needed(
            st.communities.len(),
            sb,
            v,
            rules.threshold.confidence,
            opts.delta_street,
        );
        streets.push(StreetPlan {
            street_code: code.clone(),
            street_name: st.name.clone(),
            population: st.communities.len(),
            measured: means.len(),
            between_sd: sb,
            communities_needed: n,
            half_width: hw,
        });
    }
    Ok(Plan {
        label: round.to_string(),
        options: opts,
        threshold: rules.threshold.community_score,
        communities,
        streets,
        pooled_sd,
    })
}

impl Plan {
    /// Writes `plan.csv` (communities) and `plan_streets.csv` under `reports/<label>/`.
    pub fn write(&self, ws: &Workspace) -> Result<Vec<PathBuf>> {
        let dir = ws.reports_dir().join(&self.label);
        let num = |x: f64| x.to_string();
        let rows = self.communities.iter().map(|c| {
            vec![
                c.street_code.clone(),
                c.street_name.clone(),
                c.community_code.clone(),
                c.community_name.clone(),
                c.households.map(|h| h.to_string()).unwrap_or_default(),
                c.n_valid.to_string(),
                num(c.sd),
                c.sd_source.code().to_string(),
                c.m_needed.to_string(),
                c.half_width_now.map(num).unwrap_or_default(),
                if c.sd_source == SdSource::Own {
                    (c.n_valid >= c.m_needed).to_string()
                } else {
                    String::new()
                },
            ]
        });
        let a = dir.join("plan.csv");
        crate::fsutil::write_atomic(
            &a,
            &crate::fsutil::csv_bytes(
                [
                    "street_code",
                    "street_name",
                    "community_code",
                    "community_name",
                    "households",
                    "n_valid",
                    "sd",
                    "sd_source",
                    "m_needed",
                    "half_width_now",
                    "meets_delta",
                ],
                rows,
                false,
            )?,
        )?;
        let rows = self.streets.iter().map(|s| {
            vec![
                s.street_code.clone(),
                s.street_name.clone(),
                s.population.to_string(),
                s.measured.to_string(),
                num(s.between_sd),
                s.communities_needed.to_string(),
                num(s.half_width),
            ]
        });
        let b = dir.join("plan_streets.csv");
        crate::fsutil::write_atomic(
            &b,
            &crate::fsutil::csv_bytes(
                [
                    "street_code",
                    "street_name",
                    "communities",
                    "measured",
                    "between_sd",
                    "communities_needed",
                    "half_width",
                ],
                rows,
                false,
            )?,
        )?;
        let chart = operating_characteristic(
            &self.label,
            self.threshold,
            self.pooled_sd,
            self.options.delta,
            self.typical_m(),
        )?;
        let svg = dir.join("oc.svg");
        crate::fsutil::write_atomic(&svg, chart.svg.as_bytes())?;
        let png = dir.join("oc.png");
        crate::fsutil::write_atomic(&png, &crate::report::charts::png(&chart.svg)?)?;
        Ok(vec![a, b, svg, png])
    }

    /// The planned m of a typical community: the median of m_needed.
    pub fn typical_m(&self) -> usize {
        let mut ms: Vec<usize> = self.communities.iter().map(|c| c.m_needed).collect();
        ms.sort_unstable();
        ms.get(ms.len() / 2).copied().unwrap_or(30)
    }
}

/// One street under the scheme as configured (no round needed).
#[derive(Debug, Clone)]
pub struct SchemeStreet {
    pub street_code: String,
    pub street_name: String,
    pub population: usize,
    /// Communities each round of the year samples.
    pub per_round: Vec<usize>,
    /// The smallest df a round gives the street (n_h − 1), None when n_h = 1.
    pub min_df: Option<usize>,
    /// Communities per round that keep the street CI half-width ≤ δ_street.
    pub communities_needed: usize,
}

#[derive(Debug, Clone)]
pub struct SchemeCheck {
    pub scheme: String,
    pub options: Options,
    /// m_needed for a community of median households at the rules' SD.
    pub m_needed: usize,
    pub streets: Vec<SchemeStreet>,
}

/// `manyi plan --scheme-check`: what the scheme's sample sizes give each street, with
/// the SDs from the rules.
pub fn scheme_check(ws: &Workspace, opts: Options) -> Result<SchemeCheck> {
    let rules = ws.rules()?;
    let frame = ws.frame()?;
    let sizes = round_sizes(&rules, &frame)?;
    let mut hh: Vec<u64> = frame
        .streets
        .values()
        .flat_map(|s| s.communities.iter().filter_map(|c| c.households))
        .collect();
    hh.sort_unstable();
    let median_hh = hh.get(hh.len() / 2).copied();
    let sd = rules.reliability.sd;
    let m = m_needed(sd, median_hh, opts.alpha, opts.delta);
    let v = estimators::fpc(m, median_hh) * sd * sd / m as f64;
    let streets = frame
        .streets
        .iter()
        .map(|(code, st)| {
            let per_round = sizes.get(code).cloned().unwrap_or_default();
            let min_n = per_round.iter().copied().min().unwrap_or(0);
            let (needed, _) = communities_needed(
                st.communities.len(),
                rules.reliability.between_sd,
                v,
                rules.threshold.confidence,
                opts.delta_street,
            );
            SchemeStreet {
                street_code: code.clone(),
                street_name: st.name.clone(),
                population: st.communities.len(),
                per_round,
                min_df: (min_n >= 2).then(|| min_n - 1),
                communities_needed: needed,
            }
        })
        .collect();
    Ok(SchemeCheck {
        scheme: rules.scheme.clone(),
        options: opts,
        m_needed: m,
        streets,
    })
}

/// Per street code: the communities each round of a year samples under the rules.
fn round_sizes(
    rules: &Rules,
    frame: &Frame,
) -> Result<std::collections::BTreeMap<String, Vec<usize>>> {
    let s = &rules.sampling;
    let mut out = std::collections::BTreeMap::new();
    for (code, st) in &frame.streets {
        let n = st.communities.len();
        let sizes = match s.method {
            SamplingMethod::Rotation => {
                let mut left = n;
                (1..=s.rounds_per_year)
                    .map(|r| {
                        let k = left.div_ceil((s.rounds_per_year - r + 1) as usize);
                        left -= k;
                        k
                    })
                    .collect()
            }
            SamplingMethod::CeilRate | SamplingMethod::Proportional => {
                vec![crate::sample::ceil_rate(s.rate, n).min(n); s.rounds_per_year as usize]
            }
        };
        out.insert(code.clone(), sizes);
    }
    if out.is_empty() {
        return Err(Error::Invalid("the frame has no street".into()));
    }
    Ok(out)
}

// ---------------------------------------------------------------- the chart

/// The drawing of the operating characteristic (the plan's chart, with the report's
/// font and colours).
mod oc_chart {
    use plotters::prelude::*;
    use plotters::style::text_anchor::{HPos, Pos, VPos};

    use crate::error::Result;
    use crate::report::charts::{Chart, HEIGHT, RED, WIDTH, font, palette, perr, register};

    /// The operating characteristic of the deduction rule: for a community with SD `s`,
    /// the probability that its point estimate falls below the threshold, as a function of
    /// its true score, one curve per number of valid respondents (20, 30, 40, 60 and the
    /// planned m); the band threshold ± δ is where the rule can misjudge.
    pub fn operating_characteristic(
        label: &str,
        thr: f64,
        s: f64,
        delta: f64,
        planned_m: usize,
    ) -> Result<Chart> {
        register();
        let mut ms = vec![20usize, 30, 40, 60];
        if !ms.contains(&planned_m) {
            ms.push(planned_m);
        }
        ms.sort_unstable();
        let title = format!(
            "{} 扣分判定的可靠性: 真实得分与被判定低于 {thr} 的概率 (每曲线一个有效样本量; 组内标准差 {s:.1})",
            crate::messages::period_title(label)
        );
        let (lo, hi) = (thr - 15.0, thr + 15.0);
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
            root.fill(&WHITE).map_err(perr)?;
            let (plot, legend) = root.split_horizontally(1250);
            let mut chart = ChartBuilder::on(&plot)
                .caption(&title, font(24))
                .margin(30)
                .x_label_area_size(70)
                .y_label_area_size(80)
                .build_cartesian_2d(lo..hi, 0.0f64..1.0)
                .map_err(perr)?;
            chart
                .configure_mesh()
                .light_line_style(RGBColor(242, 242, 242))
                .x_desc("社区真实得分")
                .y_desc("被判定低于阈值 (扣分) 的概率")
                .label_style(font(20))
                .axis_desc_style(font(22))
                .draw()
                .map_err(perr)?;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(thr - delta, 0.0), (thr + delta, 1.0)],
                    RGBColor(253, 236, 200).filled(),
                )))
                .map_err(perr)?;
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(thr, 0.0), (thr, 1.0)],
                    RED.stroke_width(2),
                )))
                .map_err(perr)?;
            for (j, m) in ms.iter().enumerate() {
                let c = palette(j);
                let pts: Vec<(f64, f64)> = (0..=300)
                    .map(|k| {
                        let mu = lo + (hi - lo) * k as f64 / 300.0;
                        (mu, crate::estimators::p_judged_below(mu, *m, s, None, thr))
                    })
                    .collect();
                let w = if *m == planned_m { 5 } else { 2 };
                chart
                    .draw_series(LineSeries::new(pts, c.stroke_width(w)))
                    .map_err(perr)?;
                let y = 110 + j as i32 * 50;
                legend
                    .draw(&Rectangle::new([(20, y - 2), (70, y + 2)], c.filled()))
                    .map_err(perr)?;
                legend
                    .draw(&Text::new(
                        if *m == planned_m {
                            format!("m = {m} (计划)")
                        } else {
                            format!("m = {m}")
                        },
                        (85, y),
                        font(22).pos(Pos::new(HPos::Left, VPos::Center)),
                    ))
                    .map_err(perr)?;
            }
            for (k, line) in [
                format!("浅色带: 阈值 ± {delta} 分"),
                "带外的社区几乎总被正确判定;".to_string(),
                "带内的社区, 样本量越大".to_string(),
                "误判越少.".to_string(),
            ]
            .iter()
            .enumerate()
            {
                legend
                    .draw(&Text::new(
                        line.clone(),
                        (20, 450 + k as i32 * 32),
                        font(18).pos(Pos::new(HPos::Left, VPos::Center)),
                    ))
                    .map_err(perr)?;
            }
            root.present().map_err(perr)?;
        }
        Ok(Chart {
            name: "oc",
            title,
            svg,
        })
    }
}

pub use oc_chart::operating_characteristic;
