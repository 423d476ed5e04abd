//! The evaluators' path in a real browser: Debian's chromium driven over WebDriver
//! (chromedriver), against a real `manyi serve` on 127.0.0.1. A missing browser fails
//! the test (`.ci/run` installs chromium and chromium-driver). Screenshots of each page
//! go to `target/screenshots/`.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::portal::*;
use common::{data, example_workspace};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

struct Driver {
    child: std::process::Child,
    addr: String,
    session: String,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Driver {
    fn start(downloads: &Path, profile: &Path) -> Driver {
        for p in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(p).exists(),
                "{p} is missing: install Debian's chromium and chromium-driver (.ci/run does)"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(CHROMEDRIVER)
            .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".into()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let addr = format!("127.0.0.1:{port}");
        let t0 = Instant::now();
        loop {
            if std::net::TcpStream::connect(&addr).is_ok() {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut d = Driver {
            child,
            addr,
            session: String::new(),
        };
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1366,768", "--lang=zh-CN",
                    format!("--user-data-dir={}", profile.display()),
                ],
                "prefs": {
                    "download.default_directory": downloads.display().to_string(),
                    "download.prompt_for_download": false,
                }
            }
        }}});
        let v = d.call("POST", "/session", Some(caps));
        d.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        d.call(
            "POST",
            &format!("/session/{}/chromium/send_command", d.session),
            Some(json!({"cmd": "Page.setDownloadBehavior", "params": {"behavior": "allow", "downloadPath": downloads.display().to_string()}})),
        );
        d
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let mut q = Server::req_to(&self.addr, method, path);
        if let Some(b) = body {
            q = q.json(&b);
        }
        let r = q.send();
        let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        assert!(
            r.status < 400,
            "webdriver {method} {path}: {} {v}",
            r.status
        );
        v.get("value").cloned().unwrap_or(Value::Null)
    }

    fn s(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    fn goto(&self, url: &str) {
        self.call("POST", &self.s("/url"), Some(json!({"url": url})));
    }

    fn url(&self) -> String {
        self.call("GET", &self.s("/url"), None)
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The window's size (a phone: 390 × 844).
    fn size(&self, width: u32, height: u32) {
        self.call(
            "POST",
            &self.s("/window/rect"),
            Some(json!({"width": width, "height": height})),
        );
    }

    fn source(&self) -> String {
        self.call("GET", &self.s("/source"), None)
            .as_str()
            .unwrap()
            .to_string()
    }

    fn find(&self, css: &str) -> String {
        let v = self.call(
            "POST",
            &self.s("/element"),
            Some(json!({"using": "css selector", "value": css})),
        );
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    fn type_in(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.call(
            "POST",
            &self.s(&format!("/element/{e}/value")),
            Some(json!({"text": text})),
        );
    }

    fn click(&self, css: &str) {
        let e = self.find(css);
        self.call(
            "POST",
            &self.s(&format!("/element/{e}/click")),
            Some(json!({})),
        );
    }

    fn screenshot(&self, name: &str) -> PathBuf {
        let b64 = self.call("GET", &self.s("/screenshot"), None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(format!("{name}.png"));
        std::fs::write(&p, &png).unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        p
    }

    /// Waits (at most 60 s) until the page's URL satisfies `f`.
    fn wait_url(&self, what: &str, f: impl Fn(&str) -> bool) -> String {
        let t0 = Instant::now();
        loop {
            let u = self.url();
            if f(&u) {
                return u;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "waited for {what}; at {u}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Driver {
    /// Runs a script in the page (WebDriver's own channel; the page's CSP does not
    /// apply to it).
    fn js(&self, script: &str) -> Value {
        self.call(
            "POST",
            &self.s("/execute/sync"),
            Some(json!({"script": script, "args": []})),
        )
    }

    /// Waits (at most 120 s, reloading) until the page's source satisfies `f`.
    fn wait_source(&self, what: &str, f: impl Fn(&str) -> bool) -> String {
        let t0 = Instant::now();
        loop {
            let s = self.source();
            if f(&s) {
                return s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(120),
                "waited for {what}; page: {}",
                s.chars().take(2000).collect::<String>()
            );
            std::thread::sleep(Duration::from_millis(500));
            self.call("POST", &self.s("/refresh"), Some(json!({})));
        }
    }

    /// Waits (at most 60 s) until the page's source satisfies `f`, without reloading.
    fn wait_quiet(&self, what: &str, f: impl Fn(&str) -> bool) -> String {
        let t0 = Instant::now();
        loop {
            let s = self.source();
            if f(&s) {
                return s;
            }
            assert!(t0.elapsed() < Duration::from_secs(60), "waited for {what}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Signs in with a one-time password and sets `new_pw`.
    fn first_login(&self, base: &str, name: &str, once: &str, new_pw: &str) {
        self.goto(&format!("{base}/login"));
        self.type_in("input[name=name]", name);
        self.type_in("input[name=password]", once);
        self.click("main button[type=submit]");
        self.wait_url("the password page", |u| u.ends_with("/account/password"));
        self.type_in("input[name=old]", once);
        self.type_in("input[name=new]", new_pw);
        self.type_in("input[name=again]", new_pw);
        self.click("main button[type=submit]");
        self.wait_url("the home page", |u| !u.contains("/account/password"));
    }

    /// Clicks the button of the job form for `kind` on `label` on this page.
    fn run_job(&self, kind: &str, label: &str) {
        self.js(&format!(
            "[...document.querySelectorAll('form[action=\"/jobs\"]')].find(f => f.kind.value == '{kind}' && f.label.value == '{label}').querySelector('button').click()"
        ));
        self.wait_url("the job page", |u| u.contains("/jobs/"));
        let html = self.wait_source("the job to end", |s| {
            s.contains("已完成") || s.contains("失败")
        });
        assert!(html.contains("已完成"), "{kind} {label}: {html}");
    }

    /// Waits for one file of `ext` in `dir`.
    fn downloaded(dir: &Path, ext: &str) -> PathBuf {
        let t0 = Instant::now();
        loop {
            if let Some(p) = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.extension().is_some_and(|x| x == ext))
            {
                return p;
            }
            assert!(t0.elapsed() < Duration::from_secs(30), "no {ext} download");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ =
                Server::req_to(&self.addr, "DELETE", &format!("/session/{}", self.session)).send();
        }
        let _ = self.child.kill(); // ok: the test is over
        let _ = self.child.wait();
    }
}

/// The valid questionnaires of the round page's coverage table, summed.
fn coverage_on(html: &str) -> u64 {
    let i = html.find("id=\"coverage\"").unwrap_or_else(|| {
        panic!(
            "no coverage table on the page: {}",
            &html[html.find("<main").unwrap_or(0)..]
        )
    });
    let table = &html[i..html[i..].find("</table>").unwrap() + i];
    table
        .split("<tr")
        .skip(2)
        .map(|row| {
            let cells: Vec<&str> = row.split("<td").skip(1).collect();
            let c = cells[3];
            let v = &c[c.find('>').unwrap() + 1..];
            v[..v.find('<').unwrap()].parse::<u64>().unwrap()
        })
        .sum()
}

#[test]
fn an_evaluator_uploads_corrects_and_sees_the_coverage_move_in_a_browser() {
    let ws = example_workspace();
    let once = add_user(&ws, "eva", &["--role", "evaluator", "--org", "测评机构A"]);
    ws.ok(&[
        "assign",
        "--round",
        "2018-R1",
        "--org",
        "测评机构A",
        "--streets",
        "530103001,530103002,530103003,530103004,530103005,530103006",
    ]);
    let srv = Server::start(&ws, &[]);
    let base = format!("http://{}", srv.addr);
    let tmp = tempfile::tempdir().unwrap();
    let downloads = tmp.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let d = Driver::start(&downloads, &tmp.path().join("profile"));

    // Log in with the one-time password, then set one's own.
    d.goto(&format!("{base}/rounds"));
    d.wait_url("the login page", |u| u.contains("/login"));
    d.screenshot("01-login");
    d.type_in("input[name=name]", "eva");
    d.type_in("input[name=password]", &once);
    d.click("main button[type=submit]");
    d.wait_url("the password page", |u| u.ends_with("/account/password"));
    d.screenshot("02-password");
    d.type_in("input[name=old]", &once);
    d.type_in("input[name=new]", "Mein-Passwort-42");
    d.type_in("input[name=again]", "Mein-Passwort-42");
    d.click("main button[type=submit]");
    d.wait_url("the rounds", |u| u.ends_with("/rounds"));
    assert!(d.source().contains("2018-R1"));
    d.screenshot("03-rounds");

    // The round: coverage, and the upload of the messy example delivery.
    d.goto(&format!("{base}/rounds/2018-R1"));
    let before =
        coverage_on(&d.wait_source("the coverage table", |s| s.contains("id=\"coverage\"")));
    assert_eq!(before, 0);
    d.screenshot("04-round-before");
    d.type_in(
        "form.upload input[type=file]",
        data("evaluator-a-messy.csv").to_str().unwrap(),
    );
    d.click("form.upload button[type=submit]");
    let receipt = d.wait_url("the receipt", |u| u.contains("/deliveries/"));
    let html = d.source();
    assert!(html.contains("拒收的行"), "{html}");
    let stored: Value = serde_json::from_str(&ws.read("surveys/store/index.json")).unwrap();
    let first = &stored["deliveries"][0];
    assert!(first["rejected"].as_u64().unwrap() > 0);
    assert!(html.contains(&format!("id=\"rejected\">{}<", first["rejected"])));
    d.screenshot("05-receipt");
    d.call(
        "POST",
        &d.s("/execute/sync"),
        Some(json!({"script": "document.getElementById('rejects').scrollIntoView()", "args": []})),
    );
    d.screenshot("05b-receipt-rejects");

    // Download the rejects list: the same bytes as the stored one.
    d.click("a.button[download]");
    let t0 = Instant::now();
    let got = loop {
        let done: Vec<PathBuf> = std::fs::read_dir(&downloads)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "csv"))
            .collect();
        if let Some(p) = done.first() {
            break p.clone();
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "no download");
        std::thread::sleep(Duration::from_millis(200));
    };
    let want = std::fs::read(ws.file(&format!(
        "surveys/store/{}",
        first["rejects"].as_str().unwrap()
    )))
    .unwrap();
    assert_eq!(std::fs::read(&got).unwrap(), want, "{}", got.display());

    // Upload a correction that replaces it.
    d.type_in(
        "form.upload input[type=file]",
        data("evaluator-a-template-utf8.csv").to_str().unwrap(),
    );
    d.click("form.upload button[type=submit]");
    let corrected = d.wait_url("the correction's receipt", |u| {
        u.contains("/deliveries/") && u != receipt
    });
    let html = d.source();
    assert!(
        html.contains("更正的交付"),
        "the correction names what it replaces"
    );
    d.screenshot("06-correction-receipt");
    d.goto(&receipt);
    assert!(d.source().contains("已被更正替换"));
    d.screenshot("07-replaced");

    // The coverage moved to the correction's valid questionnaires.
    d.goto(&format!("{base}/rounds/2018-R1"));
    let after =
        coverage_on(&d.wait_source("the coverage table", |s| s.contains("id=\"coverage\"")));
    let idx: Value = serde_json::from_str(&ws.read("surveys/store/index.json")).unwrap();
    let new_id = corrected.rsplit('/').next().unwrap();
    let receipt_path = idx["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["sha256"] == new_id)
        .unwrap()["receipt"]
        .as_str()
        .unwrap()
        .to_string();
    let r: Value =
        serde_json::from_str(&ws.read(&format!("surveys/store/{receipt_path}"))).unwrap();
    assert_eq!(after, r["valid"].as_u64().unwrap());
    assert!(after > before);
    d.screenshot("08-round-after");
    d.goto(&format!("{base}/deliveries"));
    d.screenshot("09-deliveries");
    // A delivery with a fabricating interviewer: the receipt says the interviewer is
    // under review, and shows none of the comparison's evidence.
    let fab = tmp.path().join("fab.csv");
    ws.ok(&[
        "simulate",
        "--round",
        "2018-R1",
        "--format",
        "csv",
        "--per-community",
        "12",
        "--streets",
        "530103001,530103002,530103003",
        "--seed",
        "browser-fab",
        "--fabricator",
        "--out",
        fab.to_str().unwrap(),
    ]);
    d.goto(&format!("{base}/rounds/2018-R1"));
    d.type_in("form.upload input[type=file]", fab.to_str().unwrap());
    d.click("form.upload button[type=submit]");
    d.wait_url("the fabricator's receipt", |u| u.contains("/deliveries/"));
    let html = d.source();
    assert!(html.contains("复核中"), "{html}");
    assert!(!html.contains("p 值") && !html.contains("z ="), "{html}");
    d.call(
        "POST",
        &d.s("/execute/sync"),
        Some(json!({"script": "document.querySelector('h2:nth-of-type(2)').scrollIntoView()", "args": []})),
    );
    d.screenshot("09b-receipt-under-review");
    // Every evaluator page at both sizes (the receipt of the fabricator's delivery).
    let receipt = d.url().trim_start_matches(&base).to_string();
    tour(
        &d,
        &base,
        "evaluator",
        &[
            "/rounds",
            "/rounds/2018-R1",
            "/deliveries",
            receipt.as_str(),
            "/guide",
            "/account/password",
        ],
    );
    ws.ok(&["verify-store"]);
}

/// The office's path and the street's view in a real browser, on a fresh workspace:
/// draw a round, watch coverage fill as an evaluator uploads, exclude a fabricator,
/// upload indicators, score → evaluate → report, download review.pdf, publish; then a
/// street signs in and sees its own deductions and nothing of another street's.
#[test]
fn the_office_runs_a_round_to_publication_and_a_street_sees_its_own() {
    let ws = common::Workspace::init("panlong-2018");
    let office_once = add_user(&ws, "office", &["--role", "office"]);
    let admin_once = add_user(&ws, "admin", &["--role", "admin"]);
    let street_once = add_user(
        &ws,
        "tuodong",
        &["--role", "street", "--street", "530103001"],
    );
    add_user(&ws, "eva", &["--role", "evaluator", "--org", "测评机构A"]);
    let eva_token = ws
        .ok(&["user", "token", "eva"])
        .split_whitespace()
        .last()
        .unwrap()
        .to_string();
    let all: Vec<String> = (1..=12).map(|i| format!("5301030{i:02}")).collect();
    ws.ok(&[
        "assign",
        "--round",
        "2018-R1",
        "--org",
        "测评机构A",
        "--streets",
        &all.join(","),
    ]);
    let srv = Server::start(&ws, &[]);
    let base = format!("http://{}", srv.addr);
    let tmp = tempfile::tempdir().unwrap();
    let downloads = tmp.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let d = Driver::start(&downloads, &tmp.path().join("profile"));

    d.first_login(&base, "office", &office_once, "Buero-Passwort-7");
    assert!(d.url().ends_with("/desk"), "{}", d.url());
    d.screenshot("10-desk-empty");
    // The draw, with the seed typed in at the lottery.
    d.type_in("input[name=round]", "2018-R1");
    d.type_in("input[name=seed]", "2018年4月2日抽签 0417");
    d.click("form[action='/draw'] button");
    let ask = d.wait_quiet("the confirmation", |s| s.contains("确认抽样"));
    assert!(ask.contains("不能重抽") && ask.contains("2018年4月2日抽签 0417"));
    assert!(
        !ws.file("surveys/samples/2018-R1.csv").exists(),
        "not drawn before it is confirmed"
    );
    d.screenshot("10b-draw-confirm");
    d.click("form[action='/draw'] button");
    d.wait_url("the sample", |u| u.ends_with("/rounds/2018-R1/sample"));
    let html = d.source();
    assert!(
        html.contains("2018年4月2日抽签 0417"),
        "the seed is shown back"
    );
    assert!(ws.file("surveys/samples/2018-R1.csv").is_file());
    d.screenshot("11-sample");
    // Coverage before and after the evaluator's upload.
    d.goto(&format!("{base}/rounds/2018-R1"));
    assert!(
        d.source()
            .contains("已达标 <strong class=\"ok\">0</strong>")
    );
    d.screenshot("12-round-desk-before");
    let delivery = tmp.path().join("a.csv");
    ws.ok(&[
        "simulate",
        "--round",
        "2018-R1",
        "--format",
        "csv",
        "--per-community",
        "32",
        "--fabricator",
        "crude",
        "--out",
        delivery.to_str().unwrap(),
    ]);
    let r = srv
        .req("POST", "/api/v1/rounds/2018-R1/deliveries")
        .bearer(&eva_token)
        .multipart(Some(("a.csv", &std::fs::read(&delivery).unwrap())), &[])
        .send();
    assert_eq!(r.status, 201, "{}", r.text());
    d.goto(&format!("{base}/rounds/2018-R1?sort=missing"));
    let html = d.source();
    assert!(
        html.contains("测评机构A · 有效交付 1 个"),
        "deliveries per evaluator"
    );
    assert!(html.contains("待决定的质量标记"), "undecided flags in view");
    d.screenshot("13-round-desk-after");
    d.js("document.querySelector('form.assign').scrollIntoView()");
    d.screenshot("13b-round-desk-assignments");
    // The fabricator: flagged with evidence; excluded with a reason.
    d.goto(&format!("{base}/rounds/2018-R1/flags"));
    // (The round's comparison may still be running for the page: it reloads.)
    let html = d.wait_source("a flagged interviewer", |s| s.contains("id=\"interviewer-"));
    let id_at = html
        .find("id=\"interviewer-")
        .expect("a flagged interviewer");
    let rest = &html[id_at + "id=\"interviewer-".len()..];
    let interviewer = rest[..rest.find('"').unwrap()].to_string();
    d.screenshot("14-flags");
    // Callbacks before deciding: draw a batch (asked first), the callers' results
    // uploaded (the flagged interviewer's respondents deny), the evidence on the page.
    d.goto(&format!("{base}/rounds/2018-R1/callbacks"));
    d.type_in("input[name=seed]", "回访抽签 2018-R1");
    d.click("form[action$='/callbacks/draw'] button");
    let html = d.wait_quiet("the draw's confirmation", |s| s.contains("确认抽取"));
    assert!(html.contains("回访抽签 2018-R1"), "the seed is repeated");
    d.screenshot("14a-callbacks-confirm");
    d.click("form[action$='/callbacks/draw'] button");
    let html = d.wait_quiet("the batch drawn", |s| s.contains("已抽取批次 C1"));
    assert!(html.contains("Excel 名单"));
    let list = std::fs::read_to_string(ws.file("reports/2018-R1/callbacks/C1.csv")).unwrap();
    let mut rdr = csv::Reader::from_reader(list.trim_start_matches('\u{feff}').as_bytes());
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(rdr.headers().unwrap()).unwrap();
    for rec in rdr.records() {
        let mut c: Vec<String> = rec.unwrap().iter().map(String::from).collect();
        c[8] = if c[1] == interviewer {
            "否认受访"
        } else {
            "已核实"
        }
        .into();
        out.write_record(&c).unwrap();
    }
    let results = tmp.path().join("回访结果.csv");
    std::fs::write(&results, out.into_inner().unwrap()).unwrap();
    d.type_in("form.upload input[type=file]", results.to_str().unwrap());
    d.click("form.upload button");
    let html = d.wait_quiet("the results recorded", |s| s.contains("条结果"));
    assert!(html.contains("回访核实未通过"), "the callbacks flag him");
    d.screenshot("14b-callbacks");
    d.size(390, 844);
    let overflow = d.js("return document.documentElement.scrollWidth > window.innerWidth + 1");
    d.screenshot("14c-callbacks-phone");
    assert_eq!(
        overflow,
        Value::Bool(false),
        "the callbacks page scrolls sideways on a phone"
    );
    d.size(1366, 768);
    d.goto(&format!("{base}/rounds/2018-R1/flags"));
    assert!(
        d.source().contains("回访："),
        "the flags page shows the callbacks"
    );
    let form = format!("#interviewer-{interviewer} form.decide");
    d.click(&format!("{form} input[value=exclude]"));
    d.type_in(
        &format!("{form} input[name=reason]"),
        "回访核实:受访户未接受访问",
    );
    d.click(&format!("{form} button"));
    // The page before and after the decision has the same address: wait for its content
    // (without reloading, which could cut the form's request short).
    // (The page names callbacks before the decision too: wait for the reason itself.)
    let html = d.wait_quiet("the decision shown", |s| s.contains("受访户未接受访问"));
    let section = &html[html
        .find(&format!("id=\"interviewer-{interviewer}\""))
        .unwrap()..];
    assert!(
        section[..section.find("</section>").unwrap()].contains("受访户未接受访问"),
        "the decision is shown"
    );
    // The reader's place is kept (the page comes back at the interviewer) and the
    // page says what changed, in words and names.
    assert!(
        d.url().ends_with(&format!("#interviewer-{interviewer}")),
        "back at the decision's place: {}",
        d.url()
    );
    assert!(
        html.contains(&format!("已剔除访问员 {interviewer} 的"))
            && html.contains("本轮尚待决定的访问员：0 名"),
        "what changed is said"
    );
    assert!(html.contains("如实访问的访问员"), "evidence in words");
    assert!(!html.contains("街道 530103"), "impact in names, not codes");
    d.screenshot("15-flags-decided");
    // Filters: the undecided only (none left), then every decided one.
    d.goto(&format!("{base}/rounds/2018-R1/flags?status=undecided"));
    let html = d.source();
    assert!(
        html.contains("没有符合筛选条件的访问员"),
        "{}",
        &html[html.find("<main").unwrap_or(0)..]
    );
    d.goto(&format!(
        "{base}/rounds/2018-R1/flags?status=decided&sort=questionnaires"
    ));
    d.wait_source("the decided interviewer listed", |s| {
        s.contains(&format!("id=\"interviewer-{interviewer}\""))
    });
    d.screenshot("15b-flags-filtered");
    // On a phone: the filter and the decision form fit the width.
    d.size(390, 844);
    d.goto(&format!("{base}/rounds/2018-R1/flags"));
    let overflow = d.js("return document.documentElement.scrollWidth > window.innerWidth + 1");
    d.screenshot("15c-flags-phone");
    assert_eq!(
        overflow,
        Value::Bool(false),
        "the flags page scrolls sideways on a phone"
    );
    d.size(1366, 768);
    // Indicators for the quarter, uploaded as the streets sent them.
    d.goto(&format!("{base}/indicators"));
    d.type_in("input[name=period]", "2018Q2");
    let indicators = tmp.path().join("2018Q2.csv");
    std::fs::write(&indicators, common::indicators_from_template(&ws, "2018Q2")).unwrap();
    d.type_in("form.upload input[type=file]", indicators.to_str().unwrap());
    d.click("form.upload button");
    let html = d.wait_quiet("the indicators stored", |s| s.contains("已保存"));
    assert!(html.contains("2018Q2.csv"));
    d.screenshot("16-indicators");
    // Score → evaluate → report as jobs.
    d.goto(&format!("{base}/rounds/2018-R1"));
    d.run_job("score", "2018-R1");
    d.screenshot("17-job-done");
    d.goto(&format!("{base}/desk"));
    // (Counted in the background after the score: the header shows it once counted.)
    d.wait_source("the undecided flags in the header", |s| {
        s.contains("待决定标记 <span class=\"count\">")
    });
    d.run_job("evaluate", "2018Q2");
    d.goto(&format!("{base}/desk"));
    d.run_job("report", "2018Q2");
    d.goto(&format!("{base}/jobs"));
    assert_eq!(d.source().matches("已完成").count(), 3);
    d.screenshot("18-jobs");
    d.goto(&format!("{base}/results/2018Q2"));
    let html = d.source();
    assert!(
        html.contains("id=\"deductions\"") && html.contains("ranking.svg"),
        "{}",
        &html[html.find("<main").unwrap_or(0)..]
    );
    // Downloads say what they are, for people first.
    assert!(
        html.contains("评审材料（全部表格与图表） · PDF")
            && html.contains("扣分明细（程序用，英文列名） · CSV"),
        "downloads labelled"
    );
    let bad = unmarked_intervals(&html);
    assert!(bad.is_empty(), "intervals beyond 0–100 unmarked: {bad:?}");
    d.screenshot("19-results");
    d.js("document.querySelector('figure').scrollIntoView()");
    d.screenshot("19b-results-charts");
    d.click("a[href='/results/2018Q2/files/review.pdf']");
    let pdf = std::fs::read(Driver::downloaded(&downloads, "pdf")).unwrap();
    assert!(pdf.starts_with(b"%PDF-"), "review.pdf is a PDF");
    assert_eq!(
        pdf,
        std::fs::read(ws.file("reports/2018Q2/review.pdf")).unwrap()
    );
    let text = pdf_extract::extract_text_from_mem(&pdf)
        .unwrap()
        .replace([' ', '\u{a0}', '\n'], "");
    assert!(text.contains("拓东街道"), "the pack names the streets");
    // Publish.
    d.click("form[action='/results/2018Q2/publish'] button");
    // First what will happen; nothing is published until it is confirmed.
    let ask = d.wait_quiet("the confirmation", |s| s.contains("确认发布"));
    assert!(
        ask.contains("个街道发布2018年第二季度的结果"),
        "what will happen is said"
    );
    d.screenshot("20a-publish-confirm");
    d.click("form[action='/results/2018Q2/publish'] button");
    let html = d.wait_quiet("the publication", |s| s.contains("已发布"));
    assert!(html.contains("撤回发布"));
    d.screenshot("20-published");
    // The journal, and verify-store from the page.
    d.goto(&format!("{base}/journal"));
    d.click("form[action='/journal/verify'] button");
    let html = d.wait_quiet("the check", |s| s.contains("id=\"verify\""));
    assert!(html.contains("核对通过"), "{html}");
    for action in [
        "sample",
        "ingest",
        "decide",
        "indicators",
        "score",
        "evaluate",
        "report",
        "publish",
    ] {
        let text = manyi::messages::journal_action_text(action);
        assert!(
            text != action && html.contains(&format!("<td>{text}</td>")),
            "{action} journalled, shown as {text}"
        );
    }
    assert!(!html.contains("UTC"), "Beijing time on the page");
    d.screenshot("21-journal");
    // Every office page at the office's screen and on a phone: no English sentences,
    // no long decimals, no unmarked interval beyond 0–100, nothing off the side.
    tour(
        &d,
        &base,
        "office",
        &[
            "/desk",
            "/rounds",
            "/rounds/2018-R1",
            "/rounds/2018-R1/sample",
            "/rounds/2018-R1/flags",
            "/rounds/2018-R1/callbacks",
            "/deliveries",
            "/jobs",
            "/results/2018Q2",
            "/indicators",
            "/journal",
            "/guide",
            "/account/password",
        ],
    );
    d.click("header form[action='/logout'] button");
    d.wait_url("signed out", |u| u.contains("/login"));

    // The street.
    d.first_login(&base, "tuodong", &street_once, "Strasse-Passwort-3");
    let html = d.source();
    assert!(html.contains("/street/2018Q2"), "{html}");
    d.screenshot("22-street-home");
    d.goto(&format!("{base}/street/2018Q2"));
    let html = d.source();
    assert!(html.contains("拓东街道") && html.contains("id=\"deductions\""));
    // Its own deduction lines, each with why; no other street's community.
    let mut rows = csv::Reader::from_path(ws.file("reports/2018Q2/deductions.csv")).unwrap();
    let (mut own, mut others) = (0, 0);
    for r in rows.records() {
        let r = r.unwrap();
        if &r[1] != "community" {
            continue;
        }
        if &r[2] == "530103001" {
            assert!(html.contains(&r[5]), "own community {} missing", &r[5]);
            own += 1;
        } else {
            assert!(
                !html.contains(&r[5]),
                "another street's community {} shown",
                &r[5]
            );
            others += 1;
        }
    }
    assert!(own > 0 && others > 0, "{own} {others}");
    assert!(html.contains("计入扣分") || html.contains("不计入扣分"));
    let bad = unmarked_intervals(&d.source());
    assert!(bad.is_empty(), "intervals beyond 0–100 unmarked: {bad:?}");
    let text = d.js("return document.body.innerText");
    let long = long_decimals(text.as_str().unwrap());
    assert!(
        long.is_empty(),
        "numbers with more decimals than the page's: {long:?}"
    );
    assert!(
        !text.as_str().unwrap().contains("NA"),
        "a bare NA on the street's page"
    );
    d.screenshot("23-street-period");
    d.js("document.querySelector('figure').scrollIntoView()");
    d.screenshot("23b-street-charts");
    // The street answers its deductions: first its rectification of a counted
    // community (measures, a person, a deadline, the report: done), then an appeal
    // against a line with a screenshot attached.
    d.goto(&format!("{base}/street/2018Q2/ledger"));
    let html = d.source();
    let first_row = html
        .split("id=\"row-")
        .nth(1)
        .map(|r| r[..r.find('"').unwrap()].to_string())
        .expect("the ledger has a row for a counted community");
    d.type_in(
        &format!("#row-{first_row} textarea[name=measures]"),
        "逐户走访，整治背街小巷卫生",
    );
    d.type_in(
        &format!("#row-{first_row} input[name=responsible]"),
        "社区主任王芳",
    );
    d.js(&format!(
        "document.querySelector('#row-{first_row} input[name=deadline]').value = '2018-12-31'; \
         document.querySelector('#row-{first_row} select[name=status]').value = 'done'"
    ));
    d.type_in(
        &format!("#row-{first_row} textarea[name=report]"),
        "已完成整治，居民回访满意",
    );
    d.screenshot("24-street-ledger-filled");
    d.click(&format!("#row-{first_row} button[type=submit]"));
    // (Typed values are not in the source: the saved row's are.)
    let html = d.wait_quiet("the saved row", |s| s.contains("value=\"社区主任王芳\""));
    assert!(html.contains("已完成，待核验</h3>"), "{html}");
    d.screenshot("24b-street-ledger-saved");
    d.goto(&format!("{base}/street/2018Q2"));
    d.click("#deductions a[href*='/appeal?']");
    d.wait_url("the appeal form", |u| u.contains("/appeal?"));
    d.type_in(
        "textarea[name=reason]",
        "测评期间该社区主干道封闭施工，入户受阻",
    );
    let evidence =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots/23-street-period.png");
    d.type_in("input[type=file]", evidence.to_str().unwrap());
    d.screenshot("25-appeal-form");
    d.click("main form button[type=submit]");
    let url = d.wait_url("the appeal made", |u| u.contains("appealed="));
    let appeal_id = url
        .split("appealed=")
        .nth(1)
        .unwrap()
        .split(['&', '#'])
        .next()
        .unwrap()
        .to_string();
    let html = d.source();
    assert!(
        html.contains("待复核") && html.contains("23-street-period.png"),
        "{html}"
    );
    d.screenshot("25b-appealed");
    tour(
        &d,
        &base,
        "street",
        &[
            "/",
            "/street/2018Q2",
            "/street/2018Q2/ledger",
            "/account/password",
        ],
    );
    // Another period, unpublished, answers as missing.
    d.goto(&format!("{base}/street/2018"));
    assert!(d.source().contains("没有找到"));
    d.click("header form[action='/logout'] button");
    d.wait_url("signed out", |u| u.contains("/login"));

    // The office: its desk lists what awaits it; it verifies the row, then upholds
    // the appeal (asked first), which republishes the period as a second version.
    d.goto(&format!("{base}/login"));
    d.type_in("input[name=name]", "office");
    d.type_in("input[name=password]", "Buero-Passwort-7");
    d.click("main button[type=submit]");
    d.wait_url("the desk", |u| u.ends_with("/desk"));
    let html = d.source();
    assert!(
        html.contains("待复核申诉") && html.contains("待核验整改"),
        "the desk's 待办: {html}"
    );
    d.screenshot("26a-desk-todo");
    d.goto(&format!("{base}/ledger?period=2018Q2"));
    d.type_in(&format!("#row-{first_row} input[name=note]"), "现场核实");
    d.click(&format!("#row-{first_row} button[type=submit]"));
    // (已核验 is also an option of the filter: wait for the note itself.)
    let html = d.wait_quiet("the verified row", |s| s.contains("现场核实"));
    assert!(html.contains("已核验</h3>"), "{html}");
    d.screenshot("26-office-ledger");
    d.goto(&format!("{base}/appeals"));
    d.screenshot("27-office-appeals");
    d.click(&format!("a[href='/appeals/{appeal_id}']"));
    d.wait_url("the appeal", |u| {
        u.ends_with(&format!("/appeals/{appeal_id}"))
    });
    assert!(
        d.source().contains("23-street-period.png"),
        "the attachment is listed"
    );
    d.js(
        "document.querySelector('select[name=decision]').value = 'upheld'; \
          document.querySelector('select[name=remedy]').value = 'waive'",
    );
    d.type_in(
        "textarea[name=reason]",
        "经核实，测评期间封闭施工属实，免除该项扣分",
    );
    d.click("main form button[type=submit]");
    let ask = d.wait_quiet("the confirmation", |s| s.contains("确认并重新发布"));
    assert!(ask.contains("不能撤销") && ask.contains("免除"), "{ask}");
    d.screenshot("28-ruling-confirm");
    d.click("main form button[type=submit]");
    let html = d.wait_quiet("the ruling", |s| s.contains("已记录对申诉"));
    assert!(
        html.contains("维持申诉") && html.contains("已重新发布"),
        "{html}"
    );
    d.screenshot("28b-ruled");
    tour(
        &d,
        &base,
        "office-appeals",
        &[
            "/appeals",
            &format!("/appeals/{appeal_id}"),
            "/ledger",
            "/help",
        ],
    );
    d.click("header form[action='/logout'] button");
    d.wait_url("signed out", |u| u.contains("/login"));
    // The street reads the second version and the ruling.
    d.goto(&format!("{base}/login"));
    d.type_in("input[name=name]", "tuodong");
    d.type_in("input[name=password]", "Strasse-Passwort-3");
    d.click("main button[type=submit]");
    d.wait_url("the street's home", |u| !u.contains("/login"));
    d.goto(&format!("{base}/street/2018Q2"));
    let html = d.source();
    assert!(
        html.contains("第 2 版") && html.contains(&format!("经申诉 {appeal_id} 复核维持")),
        "{html}"
    );
    d.js("document.getElementById('appeals').scrollIntoView()");
    d.screenshot("29-street-second-version");
    d.click("header form[action='/logout'] button");
    d.wait_url("signed out", |u| u.contains("/login"));
    // The admin's accounts page.
    d.first_login(&base, "admin", &admin_once, "Admin-Passwort-4x");
    d.goto(&format!("{base}/admin/users"));
    let html = d.source();
    assert!(
        html.contains("tuodong") && html.contains("添加账户"),
        "{html}"
    );
    tour(&d, &base, "admin", &["/admin/users"]);
}

/// Runs of three or more English words in a page's visible text outside code (what a
/// sentence left untranslated looks like; ids, file names and codes have no spaces).
fn english_runs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut run: Vec<&str> = Vec::new();
    let flush = |run: &mut Vec<&str>, out: &mut Vec<String>| {
        if run.len() >= 3 {
            out.push(run.join(" "));
        }
        run.clear();
    };
    for tok in text.split_whitespace() {
        let word = tok.trim_matches(|c: char| ",.;:()!?\"'".contains(c));
        if word.len() >= 2 && word.chars().all(|c| c.is_ascii_alphabetic()) {
            run.push(word);
        } else {
            flush(&mut run, &mut out);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Visits `pages` at 1366×768 and 390×844 with the page checks, a screenshot each
/// (`target/screenshots/tour-<tag>-<n>-<width>.png`).
fn tour(d: &Driver, base: &str, tag: &str, pages: &[&str]) {
    for (w, h) in [(1366, 768), (390, 844)] {
        d.size(w, h);
        for (n, page) in pages.iter().enumerate() {
            d.goto(&format!("{base}{page}"));
            // The rendered text (cells apart, folds closed), codes and names hidden.
            let text = d.js(
                "const hide = [...document.querySelectorAll('code, pre, .who')]; \
                 hide.forEach(e => e.style.display = 'none'); \
                 const t = document.body.innerText; \
                 hide.forEach(e => e.style.display = ''); \
                 return t",
            );
            let text = text.as_str().unwrap_or("");
            let en = english_runs(text);
            assert!(en.is_empty(), "{page} at {w}: English on the page: {en:?}");
            let long = long_decimals(text);
            assert!(
                long.is_empty(),
                "{page} at {w}: long decimals {long:?} in {:?}",
                long.first().and_then(|l| text.find(l.as_str())).map(|at| {
                    text[..at]
                        .chars()
                        .rev()
                        .take(80)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect::<String>()
                })
            );
            let bad = unmarked_intervals(&d.source());
            assert!(bad.is_empty(), "{page} at {w}: unmarked intervals {bad:?}");
            // Every control in the page's font (a control in the browser's own font
            // draws Chinese as empty boxes where no system font has it).
            let odd = d.js(
                "const f = getComputedStyle(document.body).fontFamily; \
                 return [...document.querySelectorAll('input:not([type=hidden]), textarea, select, button')] \
                   .filter(e => getComputedStyle(e).fontFamily != f) \
                   .map(e => e.tagName + '[' + (e.name || e.type) + ']: ' + getComputedStyle(e).fontFamily)",
            );
            assert_eq!(
                odd,
                json!([]),
                "{page} at {w}: controls not in the page's font"
            );
            d.screenshot(&format!("tour-{tag}-{n:02}-{w}"));
            let overflow =
                d.js("return document.documentElement.scrollWidth > window.innerWidth + 1");
            assert_eq!(
                overflow,
                Value::Bool(false),
                "{page} at {w} scrolls sideways"
            );
        }
    }
    d.size(1366, 768);
}

/// Every "a–b" on a page whose bound lies outside 0–100 without the `*` that marks a
/// cut (the pages' rule for intervals).
fn unmarked_intervals(html: &str) -> Vec<String> {
    let mut bad = Vec::new();
    let num_end = |t: &str| -> Option<(f64, usize)> {
        // The number that ends t (digits, '.', a leading '-').
        let b = t.as_bytes();
        let mut i = b.len();
        while i > 0 && (b[i - 1].is_ascii_digit() || b[i - 1] == b'.') {
            i -= 1;
        }
        if i > 0 && b[i - 1] == b'-' {
            i -= 1;
        }
        t[i..].parse::<f64>().ok().map(|v| (v, i))
    };
    for (at, _) in html.match_indices('–') {
        let before = &html[..at];
        let after = &html[at + '–'.len_utf8()..];
        let lo = num_end(before);
        let hi_len = after
            .bytes()
            .take_while(|c| c.is_ascii_digit() || *c == b'.' || *c == b'-')
            .count();
        let hi = after[..hi_len].parse::<f64>().ok();
        let (Some((lo, _)), Some(hi)) = (lo, hi) else {
            continue;
        };
        let lo_marked = before.ends_with('*');
        let hi_marked = after[hi_len..].starts_with('*');
        if (!(0.0..=100.0).contains(&lo) && !lo_marked)
            || (!(0.0..=100.0).contains(&hi) && !hi_marked)
        {
            bad.push(format!("{lo}–{hi}"));
        }
    }
    bad
}

/// Numbers in a page's visible text with four or more decimals (pages show one, two
/// for indicator values, three for a probability).
fn long_decimals(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
                let dot = i;
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                if i - dot - 1 >= 4 {
                    out.push(text[start..i].to_string());
                }
            }
        } else {
            i += 1;
        }
    }
    out
}
