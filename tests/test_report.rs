//! `manyi demo`, `manyi simulate` and `manyi report`: the PDF's text, the workbook
//! against the CSV, formula neutralising, SVG and PNG validity, determinism.

mod common;

use std::collections::BTreeMap;

use common::{Workspace, data, example_workspace};

fn demo() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let out = common::run_in(dir.path(), &["demo", ws.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "demo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (dir, String::from_utf8(out.stdout).unwrap())
}

/// The PDF's text, spaces within lines removed (pdf-extract spaces out CJK glyphs;
/// pdftotext and viewers read the same text without them).
fn pdf_text(path: &std::path::Path) -> String {
    pdf_extract::extract_text(path)
        .unwrap()
        .lines()
        .map(|l| l.replace([' ', '\u{a0}'], ""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn csv_rows(path: &std::path::Path) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let h = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            assert_eq!(
                rec.len(),
                h.len(),
                "a row of {} has another length than its header",
                path.display()
            );
            h.iter()
                .zip(rec.iter())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

const STREETS: [&str; 12] = [
    "拓东街道",
    "鼓楼街道",
    "东华街道",
    "联盟街道",
    "金辰街道",
    "青云街道",
    "龙泉街道",
    "茨坝街道",
    "双龙街道",
    "松华街道",
    "滇源街道",
    "阿子营街道",
];

#[test]
fn demo_builds_the_year_and_the_review_pack_reads_right() {
    let (dir, log) = demo();
    let reports = dir.path().join("ws/reports/2018");
    // Only the planted fabricator is flagged, and every delivery is read in full.
    assert!(log.contains("flagged interviewer(s): B2FAB"), "{log}");
    assert_eq!(log.matches("flagged interviewer").count(), 1, "{log}");
    assert_eq!(log.matches(" 0 rejected").count(), 12, "{log}");
    for f in [
        "review.pdf",
        "review.xlsx",
        "review.md",
        "扣分表.csv",
        "考核评价表.csv",
        "ranking.png",
        "ranking.svg",
        "communities.png",
        "trend.png",
        "items.png",
        "items.svg",
    ] {
        assert!(reports.join(f).is_file(), "{f} missing");
    }

    // The PDF's text: every street name and every street's deduction total.
    let text = pdf_text(&reports.join("review.pdf"));
    // The office excluded the fabricator: the pack lists the exclusion with its count
    // (counted here in the delivery file itself) and its reason.
    let gbk = std::fs::read(dir.path().join("ws/surveys/deliveries/2018-R2-gbk.csv")).unwrap();
    let fabricated = gbk
        .split(|b| *b == b'\n')
        .filter(|l| l.windows(6).any(|w| w == b",B2FAB"))
        .count();
    assert!(fabricated > 0);
    let line = text
        .lines()
        .find(|l| l.contains("B2FAB"))
        .unwrap_or_else(|| panic!("no exclusion in the PDF"));
    assert!(
        line.contains(&fabricated.to_string()) && line.contains("回访核实"),
        "{line}"
    );
    assert!(text.contains("剔除的问卷"), "no exclusions section");
    let ws = dir.path().join("ws");
    let v = common::run_in(dir.path(), &["-w", ws.to_str().unwrap(), "verify-store"]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    let ds = common::run_in(
        dir.path(),
        &["-w", ws.to_str().unwrap(), "deliveries", "--json"],
    );
    let ds: serde_json::Value = serde_json::from_slice(&ds.stdout).unwrap();
    assert_eq!(ds.as_array().unwrap().len(), 12);
    for d in ds.as_array().unwrap() {
        assert!(
            d["evaluator"].as_str().unwrap().starts_with("测评机构"),
            "{d}"
        );
    }
    let deductions = csv_rows(&reports.join("deductions.csv"));
    for s in STREETS {
        assert!(text.contains(s), "{s} not in the PDF text");
    }
    for d in deductions.iter().filter(|d| d["row_type"] == "street") {
        let total = format!("{:.1}", d["total"].parse::<f64>().unwrap());
        let line = text
            .lines()
            .find(|l| l.contains(&d["street_name"]) && l.contains(&total));
        assert!(
            line.is_some(),
            "{} with total {total} not on one line of the PDF",
            d["street_name"]
        );
    }
    assert!(
        text.contains("扣分表") && text.contains("考核评价"),
        "tables missing"
    );
    assert!(
        text.contains("scoring-rules/panlong-2018.toml"),
        "sources missing from the title page"
    );

    // The workbook holds the same numbers as the CSV.
    use calamine::{Data, Reader, Xlsx, open_workbook};
    let mut wb: Xlsx<_> = open_workbook(reports.join("review.xlsx")).unwrap();
    let sheet = wb.worksheet_range("扣分").unwrap();
    let rows: Vec<_> = sheet.rows().collect();
    let header: Vec<String> = rows[0].iter().map(|c| c.to_string()).collect();
    assert_eq!(header[0], "期间");
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert_eq!(rows.len() - 1, deductions.len());
    for (r, d) in rows[1..].iter().zip(&deductions) {
        assert_eq!(r[col("社区代码")].to_string(), d["community_code"]);
        for (zh, en) in [
            ("得分", "score"),
            ("95%置信上限", "ci_high"),
            ("合计", "total"),
            ("扣分", "points"),
        ] {
            match (&r[col(zh)], d[en].as_str()) {
                (Data::Empty, "") => {}
                (Data::Float(x), v) => assert_eq!(*x, v.parse::<f64>().unwrap(), "{zh}"),
                (other, v) => panic!("{zh}: {other:?} vs {v:?}"),
            }
        }
    }
    // The decisions sheet: the exclusion, with its count and reason.
    let dec = wb.worksheet_range("剔除与未决定").unwrap();
    let row = dec
        .rows()
        .find(|r| r.iter().any(|c| c.to_string() == "B2FAB"))
        .expect("no exclusion row in review.xlsx");
    let cells: Vec<String> = row.iter().map(|c| c.to_string()).collect();
    assert!(cells.contains(&"剔除".to_string()), "{cells:?}");
    assert!(cells.iter().any(|c| c.starts_with("回访核实")), "{cells:?}");
    let ev = wb.worksheet_range("考核评价").unwrap();
    let ev_csv = csv_rows(&reports.join("street_evaluation.csv"));
    let total_col = ev
        .rows()
        .next()
        .unwrap()
        .iter()
        .position(|c| c.to_string() == "合计")
        .unwrap();
    assert_eq!(
        ev.rows().count() - 1,
        ev_csv.len(),
        "考核评价 rows vs street_evaluation.csv"
    );
    for (r, e) in ev.rows().skip(1).zip(&ev_csv) {
        assert_eq!(r[total_col], Data::Float(e["total"].parse().unwrap()));
    }

    // The demo's appeal and rectification (2018H1, republished): the half-year's pack
    // lists the appeal with its ruling and the ledger of exactly the communities its
    // deduction table still charges (read here from deductions.csv itself), one of
    // them planned by its street.
    let h1 = dir.path().join("ws/reports/2018H1");
    let h1_ded = csv_rows(&h1.join("deductions.csv"));
    let waived: Vec<_> = h1_ded.iter().filter(|d| !d["waived"].is_empty()).collect();
    assert_eq!(waived.len(), 1, "the demo waives one line");
    let mut charged: Vec<String> = h1_ded
        .iter()
        .filter(|d| {
            d["row_type"] == "community" && d["counted"] == "true" && d["waived"].is_empty()
        })
        .map(|d| d["community_name"].clone())
        .collect();
    charged.sort();
    let md = std::fs::read_to_string(h1.join("review.md")).unwrap();
    let appeals = md.split("## 申诉复核").nth(1).expect("no appeals section");
    let a1 = appeals
        .lines()
        .find(|l| l.starts_with("| A1 |"))
        .expect("no A1 row");
    assert!(
        a1.contains(&waived[0]["community_name"]) && a1.contains("维持申诉"),
        "{a1}"
    );
    let ledger = md.split("## 整改台账").nth(1).expect("no ledger section");
    let mut listed: Vec<String> = ledger
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| 街道 |"))
        .map(|l| l.split(" | ").nth(2).unwrap().to_string())
        .collect();
    listed.sort();
    assert_eq!(listed, charged, "the ledger is the charged communities");
    assert_eq!(ledger.matches("整改中").count(), 1, "{ledger}");
    let h1_text = pdf_text(&h1.join("review.pdf"));
    assert!(
        h1_text.contains("申诉复核") && h1_text.contains("整改台账"),
        "the PDF has both sections"
    );

    // SVGs parse; PNGs are 1600×900 and not blank.
    let opt = manyi::report::charts::usvg_options();
    for name in ["ranking", "communities", "trend", "items"] {
        let svg = std::fs::read_to_string(reports.join(format!("{name}.svg"))).unwrap();
        let tree =
            resvg::usvg::Tree::from_str(&svg, &opt).unwrap_or_else(|e| panic!("{name}.svg: {e}"));
        assert_eq!((tree.size().width(), tree.size().height()), (1600.0, 900.0));
        assert!(svg.contains("街道"), "{name}.svg has no Chinese text");
        let png = resvg::tiny_skia::Pixmap::load_png(reports.join(format!("{name}.png"))).unwrap();
        assert_eq!((png.width(), png.height()), (1600, 900), "{name}.png");
        let inked = png
            .pixels()
            .iter()
            .filter(|p| p.red() < 200 || p.green() < 200 || p.blue() < 200)
            .count();
        assert!(
            inked > 1600 * 900 / 100,
            "{name}.png is nearly blank ({inked} dark pixels)"
        );
    }
}

#[test]
fn the_demo_gives_the_same_bytes_every_run() {
    let (dir, _) = demo();
    let ws = dir.path().join("ws");
    let hash = |ws: &std::path::Path| -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        for e in std::fs::read_dir(ws.join("reports/2018"))
            .unwrap()
            .flatten()
        {
            m.insert(
                e.file_name().to_string_lossy().into_owned(),
                manyi::fsutil::sha256_hex(&std::fs::read(e.path()).unwrap()),
            );
        }
        m
    };
    let before = hash(&ws);
    let out = common::run_in(dir.path(), &["demo", ws.to_str().unwrap()]);
    assert!(out.status.success());
    let log = String::from_utf8(out.stdout).unwrap();
    assert_eq!(log.matches("already ingested").count(), 12, "{log}");
    assert_eq!(hash(&ws), before);
    // And a second workspace built from scratch gives the same reports.
    let (dir2, _) = demo();
    assert_eq!(hash(&dir2.path().join("ws")), before);
}

#[test]
fn formula_cells_from_a_delivery_come_out_neutralised() {
    let ws = example_workspace();
    ws.ok(&[
        "ingest",
        data("evaluator-a-messy.csv").to_str().unwrap(),
        "--round",
        "2018-R1",
    ]);
    ws.ok(&["score", "--round", "2018-R1"]);
    let out = ws.ok(&["report", "--round", "2018-R1"]);
    assert!(out.contains("review.pdf"), "{out}");
    use calamine::{Reader, Xlsx, open_workbook};
    let mut wb: Xlsx<_> = open_workbook(ws.file("reports/2018-R1/review.xlsx")).unwrap();
    let sheet = wb.worksheet_range("访问员").unwrap();
    let cells: Vec<String> = sheet
        .rows()
        .flat_map(|r| r.iter().map(|c| c.to_string()).collect::<Vec<_>>())
        .collect();
    assert!(
        cells
            .iter()
            .any(|c| c == "'=HYPERLINK(\"http://x\",\"点击\")"),
        "{cells:?}"
    );
    assert!(!cells.iter().any(|c| c.starts_with('=')));
    // A round report without an evaluation still has the street scores.
    let text = pdf_text(&ws.file("reports/2018-R1/review.pdf"));
    assert!(
        text.contains("拓东街道") && text.contains("街道满意度"),
        "{text}"
    );
}

#[test]
fn report_before_evaluate_says_what_to_run() {
    let ws = Workspace::init("panlong-2018");
    let err = ws.fails(&["report", "--period", "2018H1"], 1);
    assert!(
        err.contains("run `manyi evaluate --period 2018H1` first"),
        "{err}"
    );
    ws.fails(&["report"], 2);
}

#[test]
fn simulated_deliveries_in_every_format_ingest_cleanly() {
    let ws = Workspace::init("panlong-2018");
    ws.ok(&["sample", "--round", "2018-R1", "--seed", "s"]);
    for (format, enc) in [
        ("csv", "utf8"),
        ("gbk", "gb18030"),
        ("names", "utf8-bom"),
        ("xlsx", "xlsx"),
    ] {
        let out = ws.file(&format!("d-{format}"));
        ws.ok(&[
            "simulate",
            "--round",
            "2018-R1",
            "--format",
            format,
            "--streets",
            "530103001,530103011",
            "--per-community",
            "35",
            "--out",
            out.to_str().unwrap(),
            "--seed",
            format,
        ]);
        let r: serde_json::Value = serde_json::from_str(&ws.ok(&[
            "ingest",
            out.to_str().unwrap(),
            "--round",
            "2018-R1",
            "--json",
        ]))
        .unwrap();
        assert_eq!(r["encoding"], enc);
        assert_eq!(r["rejected"], 0, "{format}: {r}");
        // 拓东 2 + 滇源 6 sampled communities × 35.
        assert_eq!(r["rows_read"], 8 * 35, "{format}");
    }
    // Same options, same bytes.
    let a = ws.file("a.csv");
    let b = ws.file("b.csv");
    for f in [&a, &b] {
        ws.ok(&[
            "simulate",
            "--round",
            "2018-R1",
            "--format",
            "gbk",
            "--fabricator",
            "--out",
            f.to_str().unwrap(),
        ]);
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

/// Street-coloured lines (a line series) in a trend SVG: polylines in a colour other
/// than the axes' black.
fn line_series(svg: &str) -> usize {
    svg.match_indices("<polyline")
        .filter(|(i, _)| {
            let tag = &svg[*i..svg[*i..].find("/>").map_or(svg.len(), |e| i + e)];
            !tag.contains("stroke=\"#000000\"")
        })
        .count()
}

#[test]
fn charts_name_every_community_and_a_single_round_draws_no_trend_line() {
    let (dir, _) = demo();
    let ws = dir.path().join("ws");
    let out = common::run_in(
        &ws,
        &["-w", ws.to_str().unwrap(), "report", "--period", "2018H1"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let h1 = ws.join("reports/2018H1");
    // Every community scored in the half-year (the round-1 sample) is named under its
    // point, without the 社区居委会 / 村委会 suffix.
    let svg = std::fs::read_to_string(h1.join("communities.svg")).unwrap();
    let sample = std::fs::read_to_string(ws.join("surveys/samples/2018-R1.csv")).unwrap();
    let mut n = 0;
    for line in sample.lines().skip(1) {
        let name = line.split(',').nth(4).unwrap();
        let short = name
            .trim_end_matches("社区居委会")
            .trim_end_matches("村委会");
        assert!(
            svg.contains(&format!(">\n{short}\n</text>"))
                || svg.contains(&format!(">{short}</text>")),
            "{name} not labelled"
        );
        n += 1;
    }
    assert_eq!(n, 39);
    // The half-year has one round: points and CIs, no line, and the chart says why.
    let trend = std::fs::read_to_string(h1.join("trend.svg")).unwrap();
    assert_eq!(line_series(&trend), 0);
    assert!(trend.contains("本期只有一轮测评"));
    assert!(
        trend.contains("2018年上半年"),
        "a half-year is titled as such"
    );
    // The year has three rounds: one line per street, and the rotation caveat.
    let year = std::fs::read_to_string(ws.join("reports/2018/trend.svg")).unwrap();
    assert_eq!(line_series(&year), 12);
    assert!(year.contains("轮换抽样"));
    // One small panel per street, titled with its name (issue 26: no twelve crossing
    // lines): every street of the year's scores names exactly one panel.
    let scores = std::fs::read_to_string(ws.join("reports/2018/street_scores.csv")).unwrap();
    let mut streets = std::collections::BTreeSet::new();
    let mut rdr = csv::Reader::from_reader(scores.as_bytes());
    let name_col = rdr
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "street_name")
        .unwrap();
    for rec in rdr.records() {
        streets.insert(rec.unwrap()[name_col].to_string());
    }
    assert_eq!(streets.len(), 12);
    for s in &streets {
        let titled = year.matches(&format!(">{s}</text>")).count()
            + year.matches(&format!(">\n{s}\n</text>")).count();
        assert_eq!(titled, 1, "{s} titles {titled} panels");
    }
    // The review pack lists every input it rests on.
    let text = pdf_text(&h1.join("review.pdf"));
    for f in [
        "surveys/samples/2018-R1.csv",
        "surveys/samples/2018-R1.manifest.json",
        "surveys/indicators/2018Q1.csv",
        "surveys/indicators/2018Q2.csv",
        "surveys/frame.csv",
    ] {
        assert!(text.contains(f), "{f} not among the PDF's sources");
    }
}

#[test]
fn deductions_say_how_sure_they_are_and_the_pack_has_the_reliability_appendix() {
    let (dir, log) = demo();
    let ws = dir.path().join("ws");
    assert!(
        log.contains("plan 2018-R1: a typical community needs"),
        "{log}"
    );
    let reports = ws.join("reports/2018");
    // p_below beside every counted community, the same as in the community scores, and
    // on the right side of one half.
    let ded = csv_rows(&reports.join("deductions.csv"));
    let comm = csv_rows(&reports.join("community_scores.csv"));
    let mut n = 0;
    for d in ded.iter().filter(|d| d["row_type"] == "community") {
        let p: f64 = d["p_below"].parse().unwrap();
        let c = comm
            .iter()
            .find(|c| c["community_code"] == d["community_code"])
            .unwrap();
        assert_eq!(c["p_below"], d["p_below"]);
        let score: f64 = d["score"].parse().unwrap();
        assert_eq!(p > 0.5, score < 80.0, "{d:?}");
        n += 1;
    }
    assert!(n > 20, "{n}");
    let text = pdf_text(&reports.join("review.pdf"));
    assert!(
        text.contains("附录扣分判定的可靠性2018年第1轮测评"),
        "no appendix"
    );
    assert!(
        text.contains(";p1.00)") || text.contains("p1.00)"),
        "no p_below in the deduction table"
    );
    // plan.csv: every community of the frame, m_needed by a plain search from the row's
    // own SD and households.
    let plan = csv_rows(&ws.join("reports/2018-R1/plan.csv"));
    assert_eq!(plan.len(), 105);
    for r in &plan {
        let s: f64 = r["sd"].parse().unwrap();
        let big_m: Option<f64> = r["households"].parse().ok();
        let want = (2..)
            .find(|&m: &usize| {
                if big_m.is_some_and(|b| m as f64 >= b) {
                    return true;
                }
                let f = big_m.map_or(1.0, |b| 1.0 - m as f64 / b);
                let t = manyi::estimators::t_one_sided(0.10, (m - 1) as f64);
                t * (f * s * s / m as f64).sqrt() <= 3.0
            })
            .unwrap();
        assert_eq!(r["m_needed"], want.to_string(), "{r:?}");
    }
    assert!(plan.iter().any(|r| r["sd_source"] == "own"));
    assert!(plan.iter().any(|r| r["sd_source"] == "street"));
}

#[test]
fn the_scheme_check_names_the_streets_whose_rounds_give_df_1() {
    let ws = Workspace::init("panlong-2017");
    let out = ws.ok(&["--lang", "zh", "plan", "--scheme-check"]);
    // 2017: ceil(30%) of 5, 5 and 4 communities is 2 in 拓东, 鼓楼 and 双龙: df = 1.
    for street in ["拓东街道", "鼓楼街道", "双龙街道"] {
        let line = out.lines().find(|l| l.contains(street)).unwrap();
        assert!(line.contains("不稳定"), "{line}");
        assert!(line.contains("┆ 1 "), "{line}");
    }
    let line = out.lines().find(|l| l.contains("滇源街道")).unwrap();
    assert!(!line.contains("不稳定"), "{line}");
}
