//! `manyi ingest`: encodings, delimiters, XLSX, aliases, faults, flags and guarantees.

mod common;

use std::collections::BTreeMap;

use common::{Gen, HEADER, Workspace, data, example_workspace, honest_row};
use polars::prelude::*;

fn receipt(ws: &Workspace, file: &std::path::Path) -> serde_json::Value {
    let out = ws.ok(&[
        "ingest",
        file.to_str().unwrap(),
        "--round",
        "2018-R1",
        "--json",
    ]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {out}"))
}

fn stored(ws: &Workspace) -> DataFrame {
    let index: serde_json::Value =
        serde_json::from_str(&ws.read("surveys/store/index.json")).unwrap();
    let mut out: Option<DataFrame> = None;
    for d in index["deliveries"].as_array().unwrap() {
        let p = ws.file("surveys/store").join(d["data"].as_str().unwrap());
        let df = manyi::store::read_parquet(&p, None).unwrap();
        out = Some(match out {
            None => df,
            Some(mut a) => {
                a.vstack_mut(&df).unwrap();
                a
            }
        });
    }
    out.unwrap()
}

fn store_files(ws: &Workspace) -> BTreeMap<String, Vec<u8>> {
    let mut m = BTreeMap::new();
    fn walk(dir: &std::path::Path, root: &std::path::Path, m: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, root, m);
            } else if !p.ends_with(".lock") {
                m.insert(
                    p.strip_prefix(root).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    let root = ws.file("surveys/store");
    walk(&root, &root, &mut m);
    m
}

fn check_accounting(r: &serde_json::Value) {
    let n = |k: &str| r[k].as_u64().unwrap();
    assert_eq!(n("accepted") + n("rejected"), n("rows_read"), "{r}");
}

#[test]
fn the_three_example_deliveries_ingest_with_zero_rejected_rows() {
    let ws = example_workspace();
    let expect = [
        ("evaluator-a-template-utf8.csv", "utf8", 510),
        ("evaluator-b-excel-gbk.csv", "gb18030", 504),
        ("evaluator-c-names-bom.csv", "utf8-bom", 787),
    ];
    for (f, enc, rows) in expect {
        let r = receipt(&ws, &data(f));
        assert_eq!(r["encoding"], enc, "{f}");
        assert_eq!(r["rows_read"], rows, "{f}");
        assert_eq!(r["rejected"], 0, "{f}: {r}");
        assert_eq!(r["accepted"], rows, "{f}");
        check_accounting(&r);
    }
    let df = stored(&ws);
    assert_eq!(df.height(), 510 + 504 + 787);
    // Evaluator C named 团结社区: the 社区居委会 of 松华, not 团结村委会 of 滇源.
    let codes = df.column("community_code").unwrap().str().unwrap().clone();
    // and 团结村 is 团结村委会 of 滇源: both are in the sample.
    assert_eq!(
        codes.iter().filter(|c| *c == Some("530103010003")).count(),
        59
    );
    assert_eq!(
        codes.iter().filter(|c| *c == Some("530103011211")).count(),
        45
    );
}

#[test]
fn messy_delivery_rejects_exactly_its_seven_faulty_rows() {
    let ws = example_workspace();
    let out = ws.ok(&[
        "ingest",
        data("evaluator-a-messy.csv").to_str().unwrap(),
        "--round",
        "2018-R1",
    ]);
    assert!(
        out.contains("81 rows read, 74 accepted (73 valid questionnaires, 1 invalid), 7 rejected"),
        "{out}"
    );
    for (line, code) in [
        (42, "duplicate-in-file"),
        (43, "bad-answer"),
        (44, "unknown-community"),
        (45, "not-in-sample"),
        (47, "field-count"),
        (48, "bad-date"),
        (83, "summary-row"),
    ] {
        let needle = format!("line {line}");
        let hit = out
            .lines()
            .find(|l| l.contains("REJECTED") && l.contains(&needle))
            .unwrap_or_else(|| panic!("no reject on {needle}: {out}"));
        assert!(hit.contains(code), "{hit}");
    }
    assert!(out.contains("line 43, column q5: \"很好\""), "{out}");
    let df = stored(&ws);
    let ids = df.column("respondent_id").unwrap().str().unwrap().clone();
    let row = |id: &str| ids.iter().position(|x| x == Some(id)).unwrap();
    // The formula cell is stored as the plain text it was.
    let iv = df
        .column("interviewer_id")
        .unwrap()
        .str()
        .unwrap()
        .get(row("A000045"))
        .unwrap()
        .to_string();
    assert_eq!(iv, "=HYPERLINK(\"http://x\",\"点击\")");
    // Too few answered items: stored, invalid.
    let valid = df.column("valid").unwrap().bool().unwrap().clone();
    assert_eq!(valid.get(row("A000048")), Some(false));
    assert_eq!(
        df.column("answered")
            .unwrap()
            .u8()
            .unwrap()
            .get(row("A000048")),
        Some(3)
    );
    // The first A000006 stays.
    assert_eq!(ids.iter().filter(|x| *x == Some("A000006")).count(), 1);
    // The rejects CSV has every rejected row, one line per fault.
    let receipt_file = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("receipt "))
        .and_then(|l| l.split(';').next())
        .unwrap()
        .to_string();
    assert!(
        receipt_file.starts_with("surveys/store/receipts/2018-R1/evaluator-a-messy-"),
        "{receipt_file}"
    );
    let receipt: serde_json::Value = serde_json::from_str(&ws.read(&receipt_file)).unwrap();
    let rejects = ws.read(receipt["rejects_file"].as_str().unwrap());
    assert!(rejects.starts_with("\u{feff}file,line,column,value,problem,how_to_fix,code"));
    assert_eq!(rejects.lines().count(), 8);
    assert_eq!(receipt["rejects_by_reason"]["summary-row"], 1);
    assert_eq!(receipt["faults"], 7);
}

/// The rejects list as (line, column, value, code) rows, the header apart.
fn reject_rows(text: &str) -> (Vec<String>, Vec<(u64, String, String, String)>) {
    let mut r = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let header = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|rec| {
            let rec = rec.unwrap();
            (
                rec[1].parse().unwrap(),
                rec[2].to_string(),
                rec[3].to_string(),
                rec[6].to_string(),
            )
        })
        .collect();
    (header, rows)
}

/// In Chinese (the default for people) the rejects list an evaluator receives has
/// Chinese headers, a line per fault and how to fix each; a row with several faults
/// lists each of them, a repeated id included, so one correction fixes the row.
#[test]
fn the_rejects_list_names_every_fault_of_a_row_in_chinese() {
    let ws = example_workspace();
    // The messy example with its repeated row (line 42) also given a bad answer and an
    // impossible date: three faults on one line.
    let text = std::fs::read_to_string(data("evaluator-a-messy.csv")).unwrap();
    let line42 = text.lines().nth(41).unwrap().to_string();
    assert!(line42.starts_with("A000006,"));
    let worse = line42
        .replace("2018-04-08", "2018-02-30")
        .replacen("非常满意", "很好", 1);
    let f = ws.file("messy-worse.csv");
    // Line 42 repeats line 7 exactly: change line 42 only.
    let mut lines: Vec<&str> = text.lines().collect();
    lines[41] = &worse;
    std::fs::write(&f, lines.join("\n") + "\n").unwrap();
    let out = ws.ok(&[
        "--lang",
        "zh",
        "ingest",
        f.to_str().unwrap(),
        "--round",
        "2018-R1",
        "--dry-run",
    ]);
    assert!(out.contains("共读取 81 行:接收 74 行"), "{out}");
    assert!(out.contains("共 9 处问题"), "{out}");
    let listed = ws.file("messy-worse.rejects.csv");
    assert!(out.contains(&listed.display().to_string()), "{out}");
    let (header, rows) = reject_rows(&std::fs::read_to_string(&listed).unwrap());
    assert_eq!(
        header,
        ["文件", "行", "列", "原值", "问题", "如何改正", "代码"]
    );
    // Worked out by hand from the file: one fault on each of six rows, three on 42.
    let want: Vec<(u64, &str, &str, &str)> = vec![
        (42, "q1", "很好", "bad-answer"),
        (42, "interview_date", "2018-02-30", "bad-date"),
        (42, "respondent_id", "A000006", "duplicate-in-file"),
        (43, "q5", "很好", "bad-answer"),
        (44, "community_code", "530103099001", "unknown-community"),
        (45, "community_code", "530103001001", "not-in-sample"),
        (47, "", "", "field-count"),
        (48, "interview_date", "2017-13-45", "bad-date"),
        (83, "", "", "summary-row"),
    ];
    let got: Vec<(u64, &str, &str, &str)> = rows
        .iter()
        .map(|(l, c, v, k)| {
            (
                *l,
                c.as_str(),
                if c.is_empty() { "" } else { v.as_str() },
                k.as_str(),
            )
        })
        .collect();
    assert_eq!(got, want);
    // A whole-row fault shows the row as delivered.
    assert!(
        rows.iter()
            .any(|r| r.0 == 47 && r.2.starts_with("A000046,530103001003"))
    );
    assert_eq!(ws.stored_deliveries(), 0, "a dry run stored something");
}

/// After a delivery is stored, a dry run of the same rows still shows each row's own
/// faults beside "already stored", instead of hiding them.
#[test]
fn a_dry_run_of_stored_ids_still_shows_each_rows_faults() {
    let ws = example_workspace();
    let messy = data("evaluator-a-messy.csv");
    ws.ok(&["ingest", messy.to_str().unwrap(), "--round", "2018-R1"]);
    let copy = ws.file("again.csv");
    // Other bytes (a trailing line break), the same rows.
    std::fs::write(
        &copy,
        format!("{}\n", std::fs::read_to_string(&messy).unwrap()),
    )
    .unwrap();
    let out_file = ws.file("again-rejects.csv");
    ws.ok(&[
        "ingest",
        copy.to_str().unwrap(),
        "--round",
        "2018-R1",
        "--dry-run",
        "--rejects-out",
        out_file.to_str().unwrap(),
    ]);
    let (_, rows) = reject_rows(&std::fs::read_to_string(&out_file).unwrap());
    let at = |line: u64| -> Vec<&str> {
        rows.iter()
            .filter(|r| r.0 == line)
            .map(|r| r.3.as_str())
            .collect()
    };
    // A000042 was rejected before (bad answer), so it is not stored: its one fault.
    assert_eq!(at(43), ["bad-answer"]);
    // A000043 has an unknown community and was never stored.
    assert_eq!(at(44), ["unknown-community"]);
    // A000006 on line 42 repeats line 7 and is stored too.
    assert_eq!(at(42), ["duplicate-stored", "duplicate-in-file"]);
    // Line 2, a good row, is now only a stored duplicate.
    assert_eq!(at(2), ["duplicate-stored"]);
}

#[test]
fn tab_separated_crlf_and_full_width_values_are_read() {
    let ws = example_workspace();
    let text = std::fs::read_to_string(data("evaluator-a-template-utf8.csv")).unwrap();
    let tsv: String = text
        .lines()
        .take(41)
        .map(|l| format!("{}\r\n", l.replace(',', "\t")))
        .collect::<String>()
        .replace("A000003\t530103001003", "A000003\t５３０１０３００１００３")
        .replace("A000004\t530103001003", " A000004 \t530103001003");
    let f = ws.file("tab.tsv");
    std::fs::write(&f, format!("{tsv}\r\n\r\n")).unwrap();
    let r = receipt(&ws, &f);
    assert_eq!(r["delimiter"], "tab");
    assert_eq!(r["rows_read"], 40);
    assert_eq!(r["rejected"], 0, "{r}");
    assert_eq!(r["blank_lines_skipped"], 2);
    let ids = stored(&ws)
        .column("respondent_id")
        .unwrap()
        .str()
        .unwrap()
        .clone();
    assert!(ids.iter().any(|x| x == Some("A000004")));
}

#[test]
fn gb18030_four_byte_characters_and_excel_trailing_columns_are_read() {
    let ws = example_workspace();
    let text = format!(
        "{HEADER},,\n{},,\n",
        "G1,530103001003,白塔社区居委会,2018-R1,2018年4月5日,访问员𠀀,入户,500,1,2,3,4,5,9,1,2,3,非常满意"
    );
    let (bytes, _, bad) = encoding_rs::GB18030.encode(&text);
    assert!(!bad);
    let f = ws.file("gb.csv");
    std::fs::write(&f, &bytes).unwrap();
    let r = receipt(&ws, &f);
    assert_eq!(r["encoding"], "gb18030");
    assert_eq!(r["accepted"], 1, "{r}");
    let df = stored(&ws);
    assert_eq!(
        df.column("interviewer_id").unwrap().str().unwrap().get(0),
        Some("访问员𠀀")
    );
    assert_eq!(
        df.column("interview_date").unwrap().str().unwrap().get(0),
        Some("2018-04-05")
    );
    assert_eq!(
        df.column("q6").unwrap().u8().unwrap().get(0),
        None,
        "code 9 = not answered"
    );
    assert_eq!(
        df.column("q5").unwrap().u8().unwrap().get(0),
        Some(4),
        "code 5 = 非常不满意"
    );
}

#[test]
fn a_file_in_no_known_encoding_is_refused_whole_and_nothing_is_stored() {
    let ws = example_workspace();
    let mut bytes = format!("{HEADER}\n").into_bytes();
    bytes.extend_from_slice(b"X1,530103001003,\xff\xfe\xff\xfe,2018-R1\n");
    let f = ws.file("bad.csv");
    std::fs::write(&f, &bytes).unwrap();
    let err = ws.fails(&["ingest", f.to_str().unwrap(), "--round", "2018-R1"], 1);
    assert!(err.contains("REFUSED") && err.contains("GB18030"), "{err}");
    assert_eq!(ws.stored_deliveries(), 0);
    // Binary junk and empty files are refused too.
    std::fs::write(&f, b"").unwrap();
    assert!(
        ws.fails(&["ingest", f.to_str().unwrap(), "--round", "2018-R1"], 1)
            .contains("empty")
    );
}

#[test]
fn a_missing_required_column_refuses_the_delivery_naming_it() {
    let ws = example_workspace();
    let text = std::fs::read_to_string(data("evaluator-a-template-utf8.csv")).unwrap();
    let f = ws.file("noq7.csv");
    std::fs::write(&f, text.replacen(",q7,", ",qq7,", 1)).unwrap();
    let err = ws.fails(&["ingest", f.to_str().unwrap(), "--round", "2018-R1"], 1);
    assert!(err.contains("missing required column(s): q7"), "{err}");
    assert!(
        err.contains("the header row has: respondent_id,")
            || err.contains("the header row has: respondent_id, "),
        "{err}"
    );
    assert_eq!(ws.stored_deliveries(), 0);
}

#[test]
fn xlsx_deliveries_are_read_as_excel_shows_them() {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let ws = example_workspace();
    let mut wb = Workbook::new();
    let sheet = wb.add_worksheet().set_name("说明").unwrap();
    sheet.write(0, 0, "这是说明页").unwrap();
    let sheet = wb.add_worksheet().set_name("数据").unwrap();
    let headers = [
        "问卷编号",
        "社区代码",
        "调查轮次",
        "访问日期",
        "访问员",
        "用时（秒）",
        "Q1",
        "Q2",
        "Q3",
        "Q4",
        "Q5",
        "Q6",
        "Q7",
        "Q8",
        "Q9",
        "Q10",
    ];
    for (c, h) in headers.iter().enumerate() {
        sheet.write(0, c as u16, *h).unwrap();
    }
    let date_fmt = Format::new().set_num_format("yyyy/m/d");
    for r in 1..=3u32 {
        sheet.write(r, 0, format!("X{r}")).unwrap();
        sheet.write(r, 1, 530103001003u64 as f64).unwrap();
        sheet.write(r, 2, "2018-R1").unwrap();
        let d = ExcelDateTime::from_ymd(2018, 4, r as u8).unwrap();
        sheet
            .write_datetime_with_format(r, 3, &d, &date_fmt)
            .unwrap();
        sheet.write(r, 4, "XI1").unwrap();
        sheet.write(r, 5, 300.0 + r as f64).unwrap();
        for c in 6..16u16 {
            sheet.write(r, c, ((c as u32 + r) % 5 + 1) as f64).unwrap();
        }
    }
    let f = ws.file("delivery.xlsx");
    wb.save(&f).unwrap();
    // First sheet is the notes page: refused, naming what it found.
    let err = ws.fails(&["ingest", f.to_str().unwrap(), "--round", "2018-R1"], 1);
    assert!(err.contains("missing required column"), "{err}");
    let out = ws.ok(&[
        "ingest",
        f.to_str().unwrap(),
        "--round",
        "2018-R1",
        "--sheet",
        "数据",
        "--json",
    ]);
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["format"], "xlsx");
    assert_eq!(r["accepted"], 3, "{r}");
    let df = stored(&ws);
    assert_eq!(
        df.column("interview_date").unwrap().str().unwrap().get(1),
        Some("2018-04-02")
    );
    assert_eq!(
        df.column("community_code").unwrap().str().unwrap().get(0),
        Some("530103001003")
    );
    assert_eq!(
        df.column("duration_s").unwrap().f64().unwrap().get(2),
        Some(303.0)
    );
}

#[test]
fn re_ingesting_the_same_file_is_a_no_op_and_repeated_ids_are_duplicates() {
    let ws = example_workspace();
    let f = data("evaluator-b-excel-gbk.csv");
    receipt(&ws, &f);
    let before = store_files(&ws);
    let out = ws.ok(&["ingest", f.to_str().unwrap(), "--round", "2018-R1"]);
    assert!(out.contains("already ingested"), "{out}");
    assert_eq!(store_files(&ws), before);
    // Same questionnaires in a different file: every row is a stored duplicate.
    let copy = ws.file("copy.csv");
    let mut bytes = std::fs::read(&f).unwrap();
    bytes.extend_from_slice(b"\r\n");
    std::fs::write(&copy, bytes).unwrap();
    let r = receipt(&ws, &copy);
    assert_eq!(r["accepted"], 0);
    assert_eq!(r["rejects_by_reason"]["duplicate-stored"], 504);
}

#[test]
fn rows_for_another_round_or_year_are_rejected() {
    let ws = example_workspace();
    let base = "530103001003,白塔社区居委会";
    let answers = "满意,满意,满意,满意,满意,满意,满意,满意,满意,基本满意";
    let text = format!(
        "{HEADER}\nR1,{base},2018-R2,2018-04-01,I1,入户,400,{answers}\nR2,{base},2018-R1,2017-04-01,I1,入户,400,{answers}\nR3,{base},2018-R1,2018-04-01,I1,入户,abc,{answers}\nR4,{base},2018-R1,,I1,入户,,{answers}\n"
    );
    let f = ws.file("rounds.csv");
    std::fs::write(&f, text).unwrap();
    let r = receipt(&ws, &f);
    assert_eq!(r["rejects_by_reason"]["wrong-round"], 1);
    assert_eq!(r["rejects_by_reason"]["date-outside-year"], 1);
    assert_eq!(r["rejects_by_reason"]["bad-duration"], 1);
    assert_eq!(r["accepted"], 1);
}

#[test]
fn personal_data_is_never_stored_in_clear() {
    let ws = example_workspace();
    let answers = "满意,满意,满意,满意,满意,满意,满意,满意,满意,基本满意";
    let text = format!(
        "{HEADER},电话,姓名\nP1,530103001003,白塔社区居委会,2018-R1,2018-04-01,I1,入户,400,{answers},13912345678,张三丰\n"
    );
    let f = ws.file("personal.csv");
    std::fs::write(&f, text).unwrap();
    let r = receipt(&ws, &f);
    assert_eq!(r["hashed_columns"], serde_json::json!(["电话", "姓名"]));
    for (name, bytes) in store_files(&ws) {
        if name.starts_with("originals/") {
            continue; // the delivery itself, kept byte for byte for audit
        }
        let hay = String::from_utf8_lossy(&bytes);
        assert!(
            !hay.contains("13912345678") && !hay.contains("张三丰"),
            "{name} holds personal data"
        );
    }
    let df = stored(&ws);
    let h = df
        .column("phone_hash")
        .unwrap()
        .str()
        .unwrap()
        .get(0)
        .unwrap()
        .to_string();
    assert_eq!(h.len(), 64);
    assert_ne!(h, manyi::fsutil::sha256_hex(b"13912345678"), "unsalted");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(ws.file("surveys/store/salt"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the salt is readable by others");
    }
}

/// Every file and folder under `dir` with its bytes and (unix) permission bits.
fn tree(dir: &std::path::Path) -> BTreeMap<String, (Vec<u8>, u32)> {
    let mut m = BTreeMap::new();
    fn walk(
        dir: &std::path::Path,
        root: &std::path::Path,
        m: &mut BTreeMap<String, (Vec<u8>, u32)>,
    ) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            let meta = std::fs::metadata(&p).unwrap();
            #[cfg(unix)]
            let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions());
            #[cfg(not(unix))]
            let mode = 0;
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            if meta.is_dir() {
                m.insert(format!("{rel}/"), (Vec::new(), mode));
                walk(&p, root, m);
            } else {
                m.insert(rel, (std::fs::read(&p).unwrap(), mode));
            }
        }
    }
    walk(dir, dir, &mut m);
    m
}

#[test]
fn a_dry_run_leaves_the_workspace_byte_identical() {
    let answers = "满意,满意,满意,满意,满意,满意,满意,满意,满意,基本满意";
    let text = format!(
        "{HEADER},电话\nD1,530103001003,白塔社区居委会,2018-R1,2018-04-01,I1,入户,400,{answers},13912345678\nD2,530103001003,白塔社区居委会,2018-R1,2018-04-01,I1,入户,400,很好,,,,,,,,,,\n"
    );
    // A fresh workspace (no store yet), and one with a stored delivery and leftovers
    // of a killed ingest (which a real ingest would clean up).
    let fresh = example_workspace();
    let used = example_workspace();
    receipt(&used, &data("evaluator-b-excel-gbk.csv"));
    used.write("surveys/store/.manyi-tmp-left", "half a file");
    used.write("surveys/store/receipts/orphan.json", "{}");
    let outside = tempfile::tempdir().unwrap();
    for ws in [fresh, used] {
        let f = outside.path().join("dry.csv");
        std::fs::write(&f, &text).unwrap();
        let before = tree(ws.path());
        let out = ws.ok(&[
            "ingest",
            f.to_str().unwrap(),
            "--round",
            "2018-R1",
            "--dry-run",
        ]);
        assert!(out.contains("2 rows read, 1 accepted"), "{out}");
        let after = tree(ws.path());
        assert_eq!(
            before.keys().collect::<Vec<_>>(),
            after.keys().collect::<Vec<_>>(),
            "a dry run added or removed files"
        );
        for (k, v) in &before {
            assert!(after[k] == *v, "a dry run changed {k}");
        }
    }
}

#[test]
fn an_overlong_line_or_an_unclosed_quote_is_one_rejected_row() {
    let ws = example_workspace();
    let answers = "满意,满意,满意,满意,满意,满意,满意,满意,满意,基本满意";
    let row = |id: &str| {
        format!("{id},530103001003,白塔社区居委会,2018-R1,2018-04-01,I1,入户,400,{answers}")
    };
    // Line 3: 3 MB with no line break and no quote; line 5 opens a quote that is never
    // closed, so the rest of the file (3 MB more, and row L5) is one record.
    let long = "x".repeat(3 << 20);
    let text = format!(
        "{HEADER}\n{}\n{}{long}\n{}\n{},\"never closed {long}\n{}\n",
        row("L1"),
        row("L2"),
        row("L3"),
        row("L4"),
        row("L5")
    );
    let f = ws.file("long.csv");
    std::fs::write(&f, text).unwrap();
    let r = receipt(&ws, &f);
    check_accounting(&r);
    assert_eq!(r["rows_read"], 4, "{r}");
    assert_eq!(r["accepted"], 2, "{r}");
    assert_eq!(r["rejects_by_reason"]["line-too-long"], 2, "{r}");
    let (_, rows) = reject_rows(&ws.read(r["rejects_file"].as_str().unwrap()));
    let codes: Vec<(u64, &str)> = rows.iter().map(|r| (r.0, r.3.as_str())).collect();
    assert_eq!(codes, [(3, "line-too-long"), (5, "line-too-long")]);
}

#[test]
fn a_header_longer_than_the_limit_refuses_the_file() {
    let ws = example_workspace();
    let f = ws.file("nobreaks.csv");
    std::fs::write(&f, "a,".repeat(1 << 20)).unwrap();
    let err = ws.fails(&["ingest", f.to_str().unwrap(), "--round", "2018-R1"], 1);
    assert!(err.contains("the header is"), "{err}");
    assert_eq!(ws.stored_deliveries(), 0);
}

#[test]
fn a_stored_receipt_with_a_short_hash_does_not_panic() {
    let ws = example_workspace();
    let f = data("evaluator-b-excel-gbk.csv");
    let r = receipt(&ws, &f);
    let rf = ws.file(r["receipt_file"].as_str().unwrap());
    let text = std::fs::read_to_string(&rf).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["sha256"] = serde_json::json!("abc");
    std::fs::write(&rf, serde_json::to_string(&v).unwrap()).unwrap();
    let out = ws.ok(&["ingest", f.to_str().unwrap(), "--round", "2018-R1"]);
    assert!(out.contains("already ingested"), "{out}");
}

#[test]
fn a_fabricating_interviewer_is_flagged_and_honest_ones_are_not() {
    let ws = example_workspace();
    let comms = [
        ("530103001003", "白塔社区居委会", 1.2),
        ("530103001005", "状元楼社区居委会", 1.8),
        ("530103002002", "灵光社区居委会", 1.5),
        ("530103002005", "栗树头社区居委会", 2.0),
    ];
    let mut g = Gen(0x5eed);
    let mut rows = vec![HEADER.to_string()];
    let mut k = 0;
    for (code, name, level) in comms {
        for iv in ["H1", "H2", "H3", "H4"] {
            for _ in 0..12 {
                k += 1;
                rows.push(honest_row(
                    &mut g,
                    &format!("F{k:05}"),
                    code,
                    name,
                    iv,
                    level,
                ));
            }
        }
        for _ in 0..10 {
            k += 1;
            rows.push(format!(
                "F{k:05},{code},{name},2018-R1,2018-04-09,FAKE,入户,{},{}",
                55 + g.below(20),
                vec!["非常满意"; 10].join(",")
            ));
        }
    }
    let f = ws.file("fab.csv");
    std::fs::write(&f, rows.join("\n")).unwrap();
    let r = receipt(&ws, &f);
    let flagged: Vec<_> = r["quality"]["flagged_interviewers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["interviewer_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(flagged, ["FAKE"], "{}", r["quality"]);
    let fake = &r["quality"]["flagged_interviewers"][0];
    // Every indicator points the fabricator's way: kinder, alike, fast, on one day.
    // (All 非常满意 is no varied pattern: straight-lining, not a near-duplicate.)
    let codes: Vec<&str> = fake["reason_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for c in [
        "score",
        "item_spread",
        "extreme",
        "log_duration",
        "same_day",
    ] {
        assert!(codes.contains(&c), "{c} not among {codes:?}");
    }
    assert!(!codes.contains(&"near_duplicate"), "{codes:?}");
    assert!(fake["p_value"].as_f64().unwrap() < 0.001, "{fake}");
    assert!(r["quality"]["speeders"].as_u64().unwrap() >= 40);
    let out = ws.ok(&["ingest", f.to_str().unwrap(), "--round", "2018-R1"]);
    assert!(out.contains("already ingested"));
    let df = stored(&ws);
    let flagged_rows = df
        .column("flag_interviewer")
        .unwrap()
        .bool()
        .unwrap()
        .sum()
        .unwrap();
    assert_eq!(flagged_rows, 40);
}

#[test]
fn insufficient_communities_are_listed() {
    let ws = example_workspace();
    let r = receipt(&ws, &data("evaluator-a-messy.csv"));
    let comm = r["communities"].as_array().unwrap();
    let zyl = comm
        .iter()
        .find(|c| c["community_code"] == "530103001005")
        .unwrap();
    assert_eq!(zyl["valid"], 21);
    assert_eq!(zyl["insufficient"], true);
    let bt = comm
        .iter()
        .find(|c| c["community_code"] == "530103001003")
        .unwrap();
    assert_eq!(bt["insufficient"], false);
}

#[test]
fn ingest_needs_the_rounds_sample() {
    let ws = Workspace::init("panlong-2018");
    let err = ws.fails(
        &[
            "ingest",
            data("evaluator-b-excel-gbk.csv").to_str().unwrap(),
            "--round",
            "2018-R1",
        ],
        1,
    );
    assert!(err.contains("has no sample"), "{err}");
}

/// Ingests a generated delivery of `rows` questionnaires and SIGKILLs it after each of
/// `delays_ms`, checking after every kill that the store is exactly as before (or, once
/// a run got through, as after), then that ingesting again completes.
#[cfg(unix)]
fn kill_loop(rows: usize, delays_ms: &[u64], pause_before_commit_ms: u64, replace: bool) {
    let ws = example_workspace();
    receipt(&ws, &data("evaluator-b-excel-gbk.csv"));
    let old_id: String = {
        let index: serde_json::Value =
            serde_json::from_str(&ws.read("surveys/store/index.json")).unwrap();
        index["deliveries"][0]["sha256"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let before = store_files(&ws);
    let mut g = Gen(42);
    let mut lines = vec![HEADER.to_string()];
    for k in 0..rows {
        lines.push(honest_row(
            &mut g,
            &format!("K{k:07}"),
            "530103001003",
            "白塔社区居委会",
            &format!("I{}", k % 7),
            1.5,
        ));
    }
    let f = ws.file("big.csv");
    std::fs::write(&f, lines.join("\n")).unwrap();
    let bin = assert_cmd::cargo::cargo_bin!("manyi");
    let (mut killed_mid_ingest, mut completed) = (0, 0);
    for &delay_ms in delays_ms {
        let mut args = vec![
            "-w",
            ws.path().to_str().unwrap(),
            "ingest",
            f.to_str().unwrap(),
            "--round",
            "2018-R1",
        ];
        if replace {
            args.extend(["--replaces", &old_id[..8]]);
        }
        let mut child = std::process::Command::new(bin)
            .args(&args)
            .env(
                "MANYI_TEST_PAUSE_BEFORE_COMMIT_MS",
                pause_before_commit_ms.to_string(),
            )
            .env("MANYI_TEST_MARKERS", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The delay counts from the moment the child holds the store lock, so that
        // every kill before the commit lands inside the ingest (not in start-up).
        let markers = Markers::follow(child.stderr.take().unwrap());
        markers.wait_for("ingest-locked");
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        child.kill().unwrap();
        child.wait().unwrap();
        let seen = markers.all();
        let index: serde_json::Value =
            serde_json::from_str(&ws.read("surveys/store/index.json")).unwrap();
        let n = index["deliveries"].as_array().unwrap().len();
        assert!(n == 1 || n == 2, "index has {n} deliveries");
        for d in index["deliveries"].as_array().unwrap() {
            for k in ["data", "original", "receipt", "rejects"] {
                assert!(
                    ws.file("surveys/store")
                        .join(d[k].as_str().unwrap())
                        .is_file(),
                    "{k} of an indexed delivery missing"
                );
            }
        }
        let height = stored(&ws).height();
        assert!(
            height == 504 || height == 504 + rows,
            "partial store: {height} rows after a kill at {delay_ms} ms"
        );
        // The journal and the index agree whatever the moment of the kill.
        let v = ws.run(&["verify-store"]);
        assert!(
            v.status.success(),
            "verify-store after a kill at {delay_ms} ms: {}",
            String::from_utf8_lossy(&v.stdout)
        );
        // A replacement is one commit: the old delivery is superseded exactly when
        // the new one is in the index.
        let old_status = index["deliveries"][0]["status"]
            .as_str()
            .unwrap_or("active");
        let want = if replace && n == 2 {
            "superseded"
        } else {
            "active"
        };
        assert_eq!(old_status, want, "after a kill at {delay_ms} ms");
        if n == 2 {
            completed += 1;
            break;
        }
        // Killed after taking the lock and before the commit: mid-ingest.
        assert!(
            !seen.iter().any(|m| m == "ingest-committed"),
            "committed but not in the index: {seen:?}"
        );
        killed_mid_ingest += 1;
        let now = store_files(&ws);
        for (k, v) in &before {
            if k == "journal.jsonl" {
                // An uncommitted line may follow (killed between journal and index).
                assert!(now[k].starts_with(v), "the journal lost committed lines");
                continue;
            }
            assert_eq!(now.get(k), Some(v), "{k} changed by a killed ingest");
        }
    }
    let mut args = vec!["ingest", f.to_str().unwrap(), "--round", "2018-R1"];
    let id8 = old_id[..8].to_string();
    let stored_now = ws.stored_deliveries();
    if replace && stored_now == 1 {
        args.extend(["--replaces", &id8]);
    }
    let out = ws.ok(&args);
    assert!(
        out.contains(&format!("{rows} accepted")) || out.contains("already ingested"),
        "{out}"
    );
    assert_eq!(stored(&ws).height(), 504 + rows);
    let leftovers: Vec<_> = store_files(&ws)
        .into_keys()
        .filter(|k| k.contains(".manyi-tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let _ = completed; // ok: 0 or 1 (the run that got through before its kill)
    assert!(
        killed_mid_ingest >= delays_ms.len() / 2,
        "only {killed_mid_ingest} of {} kills landed mid-ingest",
        delays_ms.len()
    );
}

/// The `manyi-test-marker:` lines a child prints on stderr, read as they come.
struct Markers {
    rx: std::sync::mpsc::Receiver<String>,
    seen: std::cell::RefCell<Vec<String>>,
}

impl Markers {
    fn follow(stderr: impl std::io::Read + Send + 'static) -> Markers {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if let Some(m) = line.strip_prefix("manyi-test-marker: ") {
                    if tx.send(m.to_string()).is_err() {
                        return;
                    }
                } else if tx.send(format!("stderr: {line}")).is_err() {
                    return;
                }
            }
        });
        Markers {
            rx,
            seen: Default::default(),
        }
    }

    /// Waits (at most a minute) until the child prints marker `m`.
    fn wait_for(&self, m: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !self.seen.borrow().iter().any(|s| s == m) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(s) => self.seen.borrow_mut().push(s),
                Err(_) => panic!("no marker {m} from the child; saw {:?}", self.seen.borrow()),
            }
        }
    }

    /// Everything printed, once the child has exited (its stderr is closed).
    fn all(&self) -> Vec<String> {
        while let Ok(s) = self.rx.recv_timeout(std::time::Duration::from_secs(10)) {
            self.seen.borrow_mut().push(s);
        }
        self.seen.borrow().clone()
    }
}

#[cfg(unix)]
#[test]
fn a_kill_during_ingest_leaves_the_store_as_before_or_as_after() {
    kill_loop(
        20_000,
        &[5, 20, 40, 70, 100, 140, 180, 230, 300, 380, 470, 600, 800],
        300,
        false,
    );
}

#[cfg(unix)]
#[test]
fn a_kill_during_a_replacement_leaves_the_old_delivery_active_or_replaced_never_both() {
    kill_loop(
        20_000,
        &[5, 20, 40, 70, 100, 140, 180, 230, 300, 380, 470, 600, 800],
        300,
        true,
    );
}

/// The long version (about a minute): `cargo test --release -- --ignored kill`.
#[cfg(unix)]
#[test]
#[ignore]
fn many_kills_during_a_large_ingest() {
    let delays: Vec<u64> = (0..40).map(|i| 10 + i * 60).collect();
    kill_loop(300_000, &delays, 0, false);
}

#[test]
fn two_ingests_at_once_do_not_double_count() {
    let ws = example_workspace();
    let f = data("evaluator-c-names-bom.csv");
    let bin = assert_cmd::cargo::cargo_bin!("manyi");
    let spawn = || {
        std::process::Command::new(bin)
            .args([
                "-w",
                ws.path().to_str().unwrap(),
                "ingest",
                f.to_str().unwrap(),
                "--round",
                "2018-R1",
            ])
            .env("MANYI_TEST_MARKERS", "1")
            .env("MANYI_LANG", "en")
            .env("MANYI_TEST_PAUSE_BEFORE_COMMIT_MS", "1500")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // The first holds the lock (and pauses before its commit) when the second starts,
    // so the two overlap for certain: the second must wait for the lock, and say so.
    let mut a = spawn();
    let markers = Markers::follow(a.stderr.take().unwrap());
    markers.wait_for("ingest-locked");
    let b = spawn();
    let b = b.wait_with_output().unwrap();
    let a_out = {
        let mut s = String::new();
        std::io::Read::read_to_string(a.stdout.as_mut().unwrap(), &mut s).unwrap();
        assert!(a.wait().unwrap().success());
        s
    };
    assert!(b.status.success());
    let b_err = String::from_utf8_lossy(&b.stderr);
    assert!(
        b_err.contains("another manyi process is writing"),
        "the second ingest did not wait for the first: {b_err}"
    );
    assert!(markers.all().iter().any(|m| m == "ingest-committed"));
    let outs = format!("{a_out}{}", String::from_utf8_lossy(&b.stdout));
    assert_eq!(outs.matches("787 accepted").count(), 1, "{outs}");
    assert_eq!(outs.matches("already ingested").count(), 1, "{outs}");
    assert_eq!(stored(&ws).height(), 787);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]
        /// accepted + rejected = rows read for any mix of good and faulty rows.
        #[test]
        fn accepted_plus_rejected_is_rows_read(kinds in proptest::collection::vec(0u8..9, 1..40)) {
            let ws = example_workspace();
            let answers = "满意,满意,满意,满意,满意,满意,满意,满意,满意,基本满意";
            let mut rows = vec![HEADER.to_string()];
            for (i, k) in kinds.iter().enumerate() {
                let id = format!("P{}", i % 30);
                rows.push(match k {
                    0 => format!("{id},530103001003,白塔社区居委会,2018-R1,2018-04-01,I1,入户,400,{answers}"),
                    1 => format!("{id},530103001003,白塔社区居委会,2018-R1,2018-04-01,I1,入户,400,满意,很好,,,,,,,,"),
                    2 => format!("{id},530103001001,尚义社区居委会,2018-R1,2018-04-01,I1,入户,400,{answers}"),
                    3 => format!("{id},530103001003"),
                    4 => "合计,,,,,,,,,,,,,,,,,".to_string(),
                    5 => String::new(),
                    6 => format!("{id},530103001003,白塔社区居委会,2018-R1,2018-02-30,I1,入户,400,{answers}"),
                    7 => format!("\"{id}\",530103001003,白塔社区居委会,2018-R1,2018-04-01,\"a,b\",入户,400,{answers},,,"),
                    _ => format!("{id},530103001003,白塔社区居委会,2018-R1,2018-04-01,I1,入户,400,不了解,不了解,不了解,不了解,不了解,不了解,不了解,不了解,不了解,不了解"),
                });
            }
            let f = ws.file("mix.csv");
            std::fs::write(&f, rows.join("\n")).unwrap();
            let r = receipt(&ws, &f);
            let blank = kinds.iter().filter(|k| **k == 5).count() as u64;
            prop_assert_eq!(r["rows_read"].as_u64().unwrap(), kinds.len() as u64 - blank);
            prop_assert_eq!(r["accepted"].as_u64().unwrap() + r["rejected"].as_u64().unwrap(), r["rows_read"].as_u64().unwrap());
        }
    }
}

#[test]
fn communities_by_name_resolve_with_or_without_suffix_and_ambiguous_names_are_rejected() {
    let ws = example_workspace();
    let answers = "满意,满意,满意,满意,满意,满意,满意,满意,满意,基本满意";
    let text = format!(
        "问卷编号,社区名称,Q1,Q2,Q3,Q4,Q5,Q6,Q7,Q8,Q9,Q10\nN1,白塔社区,{answers}\nN2,白塔社区居委会,{answers}\nN3,白塔,{answers}\nN4,团结,{answers}\nN5,团结村,{answers}\nN6,不存在社区,{answers}\n"
    );
    let f = ws.file("names.csv");
    std::fs::write(&f, text).unwrap();
    let out = ws.ok(&["ingest", f.to_str().unwrap(), "--round", "2018-R1"]);
    assert!(out.contains("6 rows read, 4 accepted"), "{out}");
    assert!(
        out.contains(
            "line 5, column 社区名称: community name \"团结\" matches several communities"
        ),
        "{out}"
    );
    assert!(
        out.contains("line 7, column 社区名称: community name \"不存在社区\" is not in the frame"),
        "{out}"
    );
    let codes = stored(&ws)
        .column("community_code")
        .unwrap()
        .str()
        .unwrap()
        .clone();
    assert_eq!(
        codes.iter().filter(|c| *c == Some("530103001003")).count(),
        3
    );
    assert_eq!(
        codes.iter().filter(|c| *c == Some("530103011211")).count(),
        1
    );
}

fn lib_ingest(
    ws: &Workspace,
    file: &std::path::Path,
    batch: Option<usize>,
) -> manyi::ingest::Receipt {
    let lib = manyi::workspace::Workspace::open(ws.path()).unwrap();
    let opts = manyi::ingest::Options {
        batch_records: batch,
        ..Default::default()
    };
    manyi::ingest::ingest(&lib, &"2018-R1".parse().unwrap(), file, &opts)
        .unwrap()
        .receipt
}

/// Rows are read, checked and merged on several threads in batches: the stored data,
/// the receipt and the rejects list must not depend on where the batches fall.
#[test]
fn batch_boundaries_and_threads_do_not_change_the_result() {
    let answers = "满意,满意,非常满意,满意,基本满意,满意,满意,满意,满意,基本满意";
    let mut g = Gen(7);
    let mut rows = vec![HEADER.to_string()];
    for i in 0..3000u64 {
        // Ids repeat far apart (P17 at rows 17, 1017, 2017), so most repeats cross batches.
        let id = format!("P{}", if g.below(10) == 0 { i % 1000 } else { i });
        rows.push(match g.below(12) {
            0 => format!("{id},530103001003,白塔社区居委会,2018-R1,2018-04-01,I1,入户,400,满意,很好,,,,,,,,"),
            1 => format!("{id},530103001001,尚义社区居委会,2018-R1,2018-04-01,I1,入户,400,{answers}"),
            2 => format!("{id},530103001003"),
            3 => "合计,,,,,,,,,,,,,,,,,".to_string(),
            4 => String::new(),
            5 => format!("{id},530103001003,白塔社区居委会,2018-R1,2018-02-30,I1,入户,400,{answers}"),
            6 => format!("\"{id}\",530103001003,白塔社区居委会,2018-R1,2018-04-01,\"a,b\n c\",入户,400,{answers},,,"),
            _ => format!("{id},530103001003,白塔社区居委会,2018-R1,2018-04-{:02},I{},入户,{},{answers}", 1 + g.below(28), g.below(4), 200 + g.below(600)),
        });
    }
    rows.push(String::new());
    rows.push(String::new());
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("big.csv");
    std::fs::write(&f, rows.join("\r\n")).unwrap();
    let mut results = Vec::new();
    for batch in [Some(1), Some(7), Some(500), None] {
        let ws = example_workspace();
        let mut r = serde_json::to_value(lib_ingest(&ws, &f, batch)).unwrap();
        r["ingested_at"] = serde_json::Value::Null;
        r["file"] = serde_json::Value::Null;
        check_accounting(&r);
        let files = store_files(&ws);
        let rejects = files
            .iter()
            .find(|(k, _)| k.ends_with(".rejects.csv"))
            .map(|(_, v)| String::from_utf8(v.clone()).unwrap())
            .unwrap();
        let data: Vec<u8> = files
            .iter()
            .find(|(k, _)| k.ends_with(".parquet"))
            .map(|(_, v)| v.clone())
            .unwrap();
        results.push((batch, r, rejects, data));
    }
    let (_, r0, rej0, data0) = &results[0];
    assert!(
        r0["rejects_by_reason"]["duplicate-in-file"]
            .as_u64()
            .unwrap()
            > 40,
        "{r0}"
    );
    assert!(r0["accepted"].as_u64().unwrap() > 1000, "{r0}");
    assert!(r0["blank_lines_skipped"].as_u64().unwrap() > 200, "{r0}");
    // The rejects list is in file order, and a repeat names the line it repeats.
    let (_, rows) = reject_rows(rej0);
    assert!(
        rows.windows(2).all(|w| w[0].0 <= w[1].0),
        "rejects out of order"
    );
    assert!(rows.iter().any(|r| r.3 == "duplicate-in-file"), "{rej0}");
    for (batch, r, rej, data) in &results[1..] {
        assert_eq!(r, r0, "receipt differs with batches of {batch:?}");
        assert!(rej == rej0, "rejects differ with batches of {batch:?}");
        assert!(
            data == data0,
            "stored data differs with batches of {batch:?}"
        );
    }
}

/// A CSV whose first 64 KiB are plain ASCII (so it looks like UTF-8) and whose later
/// rows are GBK is read again from the start as GBK, with nothing lost.
#[test]
fn a_file_that_turns_gbk_after_the_first_block_is_read_as_gbk() {
    let ws = example_workspace();
    let mut text = String::from(HEADER);
    let n = 1500;
    for i in 0..n {
        let answers = if i < 1200 {
            "1,2,2,1,3,2,2,1,2,2".to_string()
        } else {
            "满意,满意,非常满意,满意,基本满意,满意,满意,满意,满意,基本满意".to_string()
        };
        let name = if i < 1200 {
            ""
        } else {
            "白塔社区居委会"
        };
        text.push_str(&format!(
            "\nG{i:05},530103001003,{name},2018-R1,2018-04-01,I{},,{},{answers}",
            i % 3,
            300 + i % 200
        ));
    }
    let (bytes, _, bad) = encoding_rs::GBK.encode(&text);
    assert!(!bad);
    assert!(bytes.iter().take(64 * 1024).all(|b| b.is_ascii()));
    let f = ws.file("late-gbk.csv");
    std::fs::write(&f, &bytes).unwrap();
    for batch in [Some(3), None] {
        let r = lib_ingest(&ws, &f, batch);
        assert_eq!(r.encoding, "gb18030");
        assert_eq!((r.rows_read, r.accepted, r.rejected), (n, n, 0));
        assert_eq!(
            r.status,
            if batch.is_some() {
                manyi::ingest::ReceiptStatus::Stored
            } else {
                manyi::ingest::ReceiptStatus::AlreadyIngested
            }
        );
    }
}

/// The example delivery with its columns in another order (the respondent id last),
/// `n` rows, and extra raw lines appended.
fn reordered(order: &[usize], n: usize, extra: &[&str]) -> String {
    let text = std::fs::read_to_string(data("evaluator-a-template-utf8.csv")).unwrap();
    let mut out = String::new();
    for line in text.lines().take(n + 1) {
        let cells: Vec<&str> = line.split(',').collect();
        let moved: Vec<&str> = order.iter().map(|&i| cells[i]).collect();
        out.push_str(&moved.join(","));
        out.push('\n');
    }
    for l in extra {
        out.push_str(l);
        out.push('\n');
    }
    out
}

#[test]
fn a_short_row_is_rejected_whatever_the_column_order() {
    // Issue 21: with the id not first, a trailing `合计,20` made the row check read the
    // id past the row's end (exit 101). Both orders: id first, and id last.
    let width = HEADER.split(',').count();
    let id_first: Vec<usize> = (0..width).collect();
    let id_last: Vec<usize> = (1..width).chain([0]).collect();
    for (name, order) in [("id-first", &id_first), ("id-last", &id_last)] {
        let ws = example_workspace();
        let f = ws.file(&format!("{name}.csv"));
        std::fs::write(
            &f,
            reordered(order, 20, &["合计,20", "A999999,530103001003"]),
        )
        .unwrap();
        let r = receipt(&ws, &f);
        check_accounting(&r);
        assert_eq!(r["rows_read"], 22, "{name}: {r}");
        assert_eq!(r["accepted"], 20, "{name}: {r}");
        assert_eq!(r["rejects_by_reason"]["summary-row"], 1, "{name}: {r}");
        assert_eq!(r["rejects_by_reason"]["field-count"], 1, "{name}: {r}");
    }
}
