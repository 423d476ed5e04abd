//! The portal under load (`scripts/bench_load.sh`; ignored in `cargo test`): 50 readers
//! browse the office's desk and a street's pages while 5 evaluators upload and score
//! jobs run, for `LOAD_SECS` seconds (default 60), on 127.0.0.1. Every loop stops at the
//! deadline. Checked afterwards: no error answer, every uploaded row stored once
//! (accepted = rows sent, none rejected, the store's total equals the sum), and
//! `verify-store` passes. Prints p50/p99 latency per page.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::portal::*;

const PW: &str = "Load-Passwort-2018";
const READERS: usize = 50;
const EVALUATORS: usize = 5;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let k = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[k - 1]
}

/// The simulated delivery split by organisation: each gets the rows of its streets,
/// cut into `parts` files (different respondents, so none is a duplicate).
fn split(csv_text: &str, orgs: &[Vec<String>], parts: usize) -> Vec<Vec<(String, usize)>> {
    let mut lines = csv_text.lines();
    let header = lines.next().unwrap();
    let col = header
        .split(',')
        .position(|h| h == "community_code")
        .expect("community_code column");
    let mut rows: Vec<Vec<&str>> = vec![Vec::new(); orgs.len()];
    for l in lines {
        let code = l.split(',').nth(col).unwrap_or("");
        if let Some(k) = orgs
            .iter()
            .position(|streets| streets.iter().any(|s| code.starts_with(s.as_str())))
        {
            rows[k].push(l);
        }
    }
    rows.iter()
        .map(|r| {
            let per = r.len().div_ceil(parts).max(1);
            r.chunks(per)
                .map(|c| (format!("{header}\n{}\n", c.join("\n")), c.len()))
                .collect()
        })
        .collect()
}

#[test]
#[ignore = "load benchmark: scripts/bench_load.sh"]
fn fifty_readers_five_uploaders_and_score_jobs() {
    let secs: u64 = std::env::var("LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let ws = common::Workspace::init("panlong-2018");
    ws.ok(&["sample", "--round", "2018-R1", "--seed", "load"]);
    let streets: Vec<String> = (1..=12).map(|i| format!("5301030{i:02}")).collect();
    let orgs: Vec<Vec<String>> = (0..EVALUATORS)
        .map(|k| {
            streets
                .iter()
                .skip(k)
                .step_by(EVALUATORS)
                .cloned()
                .collect()
        })
        .collect();
    let office_once = add_user(&ws, "office", &["--role", "office"]);
    let street_once = add_user(
        &ws,
        "street",
        &["--role", "street", "--street", "530103001"],
    );
    let office_token = ws
        .ok(&["user", "token", "office"])
        .split_whitespace()
        .last()
        .unwrap()
        .to_string();
    let mut tokens = Vec::new();
    for (k, s) in orgs.iter().enumerate() {
        let (name, org) = (format!("eva{k}"), format!("测评机构{k}"));
        add_user(&ws, &name, &["--role", "evaluator", "--org", &org]);
        ws.ok(&[
            "assign",
            "--round",
            "2018-R1",
            "--org",
            &org,
            "--streets",
            &s.join(","),
        ]);
        tokens.push(
            ws.ok(&["user", "token", &name])
                .split_whitespace()
                .last()
                .unwrap()
                .to_string(),
        );
    }
    // 400 questionnaires a community, each organisation's rows in 120 files: the
    // uploads go on for the whole run.
    let sim = ws.file("sim.csv");
    ws.ok(&[
        "simulate",
        "--round",
        "2018-R1",
        "--format",
        "csv",
        "--per-community",
        "400",
        "--out",
        sim.to_str().unwrap(),
    ]);
    let files = split(&std::fs::read_to_string(&sim).unwrap(), &orgs, 120);
    let total_rows: usize = files.iter().flatten().map(|(_, n)| n).sum();

    let srv = Server::start(&ws, &[]);
    let addr = srv.addr.clone();
    let office = first_login(&srv, "office", &office_once, PW);
    let street = first_login(&srv, "street", &street_once, PW);
    // Something to read from the start: the first file of each, scored and published.
    for (k, f) in files.iter().enumerate() {
        let r = srv
            .req("POST", "/api/v1/rounds/2018-R1/deliveries")
            .bearer(&tokens[k])
            .multipart(Some((&format!("eva{k}-0.csv"), f[0].0.as_bytes())), &[])
            .send();
        assert_eq!(r.status, 201, "{}", r.text());
    }
    ws.ok(&["score", "--round", "2018-R1"]);
    ws.ok(&["publish", "2018-R1"]);

    let deadline = Instant::now() + Duration::from_secs(secs);
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let latencies = Arc::new(Mutex::new(std::collections::BTreeMap::<
        &'static str,
        Vec<f64>,
    >::new()));
    let pages: [(&'static str, &'static str, bool); 6] = [
        ("desk", "/desk", true),
        ("round desk", "/rounds/2018-R1", true),
        ("results", "/results/2018-R1", true),
        ("journal", "/journal", true),
        ("street page", "/street/2018-R1", false),
        (
            "street chart",
            "/street/2018-R1/charts/communities.svg",
            false,
        ),
    ];
    let mut handles = Vec::new();
    for i in 0..READERS {
        let (addr, office, street) = (addr.clone(), office.clone(), street.clone());
        let (errors, latencies, stop) = (errors.clone(), latencies.clone(), stop.clone());
        handles.push(std::thread::spawn(move || {
            let mut k = i;
            while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                let (name, path, staff) = pages[k % pages.len()];
                k += 1;
                let s = if staff { &office } else { &street };
                let t0 = Instant::now();
                let r = Server::req_to(&addr, "GET", path).cookie(s).send();
                let ms = t0.elapsed().as_secs_f64() * 1000.0;
                if r.status != 200 {
                    errors.lock().unwrap().push(format!("{path}: {}", r.status));
                }
                latencies.lock().unwrap().entry(name).or_default().push(ms);
            }
        }));
    }
    let sent = Arc::new(AtomicU64::new(files.iter().map(|f| f[0].1 as u64).sum()));
    let accepted = Arc::new(AtomicU64::new(0));
    for (k, f) in files.iter().enumerate() {
        let (addr, token, parts) = (addr.clone(), tokens[k].clone(), f[1..].to_vec());
        let (errors, sent, accepted) = (errors.clone(), sent.clone(), accepted.clone());
        handles.push(std::thread::spawn(move || {
            for (j, (body, n)) in parts.iter().enumerate() {
                if Instant::now() >= deadline {
                    break;
                }
                let r = Server::req_to(&addr, "POST", "/api/v1/rounds/2018-R1/deliveries")
                    .bearer(&token)
                    .multipart(
                        Some((&format!("eva{k}-{}.csv", j + 1), body.as_bytes())),
                        &[],
                    )
                    .send();
                if r.status != 201 {
                    errors
                        .lock()
                        .unwrap()
                        .push(format!("upload: {} {}", r.status, r.text()));
                    continue;
                }
                sent.fetch_add(*n as u64, Ordering::Relaxed);
                accepted.fetch_add(
                    r.json()["accepted"].as_u64().unwrap_or(0),
                    Ordering::Relaxed,
                );
                if r.json()["rejected"].as_u64() != Some(0) {
                    errors
                        .lock()
                        .unwrap()
                        .push(format!("rows rejected: {}", r.json()["rejected"]));
                }
            }
        }));
    }
    // Score jobs, one every 10 s, each awaited (bounded by the deadline).
    let mut jobs = 0;
    while Instant::now() < deadline {
        let r = srv
            .req("POST", "/api/v1/rounds/2018-R1/score")
            .bearer(&office_token)
            .send();
        assert_eq!(r.status, 202, "{}", r.text());
        jobs += 1;
        std::thread::sleep(
            Duration::from_secs(10).min(deadline.saturating_duration_since(Instant::now())),
        );
    }
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    // The jobs end (at most 120 s after the load).
    let t0 = Instant::now();
    loop {
        let all = srv
            .req("GET", "/api/v1/jobs")
            .bearer(&office_token)
            .send()
            .json();
        let all = all.as_array().unwrap().clone();
        if all.iter().all(|j| j["status"] == "done") {
            break;
        }
        assert!(!all.iter().any(|j| j["status"] == "failed"), "{all:?}");
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "jobs still running"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let errors = errors.lock().unwrap().clone();
    assert!(
        errors.is_empty(),
        "{} errors, first: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    // No lost or doubled row: the store holds exactly the rows sent.
    let first: u64 = files.iter().map(|f| f[0].1 as u64).sum();
    let dels: serde_json::Value = serde_json::from_str(&ws.ok(&["deliveries", "--json"])).unwrap();
    let stored: u64 = dels
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["status"] == "active")
        .map(|d| d["accepted"].as_u64().unwrap())
        .sum();
    assert_eq!(stored, sent.load(Ordering::Relaxed));
    assert_eq!(stored, first + accepted.load(Ordering::Relaxed));
    ws.ok(&["verify-store"]);
    let lat = latencies.lock().unwrap();
    let mut all: Vec<f64> = lat.values().flatten().copied().collect();
    all.sort_by(f64::total_cmp);
    println!("load: {READERS} readers, {EVALUATORS} uploaders, {jobs} score jobs, {secs} s");
    println!(
        "uploads: {stored} of {total_rows} rows stored ({} deliveries), none lost or doubled",
        dels.as_array().unwrap().len()
    );
    println!(
        "{:<14} {:>8} {:>9} {:>9}",
        "page", "requests", "p50 ms", "p99 ms"
    );
    for (name, v) in lat.iter() {
        let mut v = v.clone();
        v.sort_by(f64::total_cmp);
        println!(
            "{name:<14} {:>8} {:>9.1} {:>9.1}",
            v.len(),
            percentile(&v, 0.5),
            percentile(&v, 0.99)
        );
    }
    println!(
        "{:<14} {:>8} {:>9.1} {:>9.1}",
        "all",
        all.len(),
        percentile(&all, 0.5),
        percentile(&all, 0.99)
    );
}

/// One probe's latencies (seconds) and failures.
#[derive(Default)]
struct Probe {
    times: Vec<f64>,
    errors: Vec<String>,
}

/// Runs `f` every `every` until `stop` is set or `limit` has passed (bounded either
/// way), recording each call's latency and any status other than `want`.
fn probe(
    stop: Arc<AtomicBool>,
    every: Duration,
    limit: Duration,
    want: u16,
    f: impl Fn(u64) -> u16 + Send + 'static,
) -> std::thread::JoinHandle<Probe> {
    std::thread::spawn(move || {
        let mut p = Probe::default();
        let end = Instant::now() + limit;
        let mut i = 0u64;
        while !stop.load(Ordering::SeqCst) && Instant::now() < end {
            let t = Instant::now();
            let status = f(i);
            p.times.push(t.elapsed().as_secs_f64());
            if status != want {
                p.errors.push(format!("call {i}: {status}"));
            }
            i += 1;
            if let Some(rest) = every.checked_sub(t.elapsed()) {
                std::thread::sleep(rest);
            }
        }
        p
    })
}

#[test]
#[ignore = "load benchmark: scripts/bench_load.sh"]
fn logins_every_second_during_a_large_upload() {
    // Issue 21: during a 1M-row upload's ingest, a login every second (right and
    // wrong in turn), and /healthz, a page and an API call every 100 ms; the same
    // probes with no upload as the baseline of the same run.
    let rows: usize = std::env::var("LOAD_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let ws = common::Workspace::init("panlong-2018");
    ws.ok(&["sample", "--round", "2018-R1", "--seed", "load"]);
    let sample = ws.read("surveys/samples/2018-R1.csv");
    let communities = sample.lines().count() - 1;
    let office_once = add_user(&ws, "office", &["--role", "office"]);
    let prober_once = add_user(&ws, "prober", &["--role", "office"]);
    add_user(&ws, "eva", &["--role", "evaluator", "--org", "测评机构A"]);
    let streets: Vec<String> = (1..=12).map(|i| format!("5301030{i:02}")).collect();
    ws.ok(&[
        "assign",
        "--round",
        "2018-R1",
        "--org",
        "测评机构A",
        "--streets",
        &streets.join(","),
    ]);
    let token = ws
        .ok(&["user", "token", "eva"])
        .split_whitespace()
        .last()
        .unwrap()
        .to_string();
    let sim = ws.file("sim.csv");
    let per = rows.div_ceil(communities).to_string();
    ws.ok(&[
        "simulate",
        "--round",
        "2018-R1",
        "--format",
        "csv",
        "--per-community",
        &per,
        "--out",
        sim.to_str().unwrap(),
    ]);
    let bytes = Arc::new(std::fs::read(&sim).unwrap());
    // No limit per address: every probe comes from 127.0.0.1.
    let srv = Server::start(&ws, &["--failures-per-address", "0"]);
    let addr = srv.addr.clone();
    let office = first_login(&srv, "office", &office_once, PW);
    first_login(&srv, "prober", &prober_once, PW);

    let run = |label: &str, upload: bool| {
        let stop = Arc::new(AtomicBool::new(false));
        let limit = Duration::from_secs(if upload { 600 } else { 15 });
        let a = addr.clone();
        let healthz = probe(
            stop.clone(),
            Duration::from_millis(100),
            limit,
            200,
            move |_| Server::req_to(&a, "GET", "/healthz").send().status,
        );
        let (a, s) = (addr.clone(), office.clone());
        let page = probe(
            stop.clone(),
            Duration::from_millis(100),
            limit,
            200,
            move |_| {
                Server::req_to(&a, "GET", "/deliveries")
                    .cookie(&s)
                    .send()
                    .status
            },
        );
        let (a, t) = (addr.clone(), token.clone());
        let api = probe(
            stop.clone(),
            Duration::from_millis(100),
            limit,
            200,
            move |_| {
                Server::req_to(&a, "GET", "/api/v1/rounds")
                    .bearer(&t)
                    .send()
                    .status
            },
        );
        // Right logins (303) on even seconds, wrong ones (401, a new unknown name each)
        // on odd: two probes, each every 2 s, offset by 1 s.
        let a = addr.clone();
        let right = probe(
            stop.clone(),
            Duration::from_secs(2),
            limit,
            303,
            move |_| {
                Server::req_to(&a, "POST", "/login")
                    .form(&[("name", "prober"), ("password", PW)])
                    .send()
                    .status
            },
        );
        std::thread::sleep(Duration::from_secs(1));
        let a = addr.clone();
        let wrong = probe(stop.clone(), Duration::from_secs(2), limit, 401, move |i| {
            Server::req_to(&a, "POST", "/login")
                .form(&[("name", &format!("nobody{i}")), ("password", "wrong")])
                .send()
                .status
        });
        let took = if upload {
            let t = Instant::now();
            let r = Server::req_to(&addr, "POST", "/api/v1/rounds/2018-R1/deliveries")
                .bearer(&token)
                .multipart(Some(("large.csv", &bytes[..])), &[])
                .send();
            assert_eq!(r.status, 201, "{}", r.text());
            assert_eq!(
                r.json()["accepted"].as_u64(),
                Some((per.parse::<usize>().unwrap() * communities) as u64)
            );
            t.elapsed().as_secs_f64()
        } else {
            std::thread::sleep(Duration::from_secs(14));
            14.0
        };
        stop.store(true, Ordering::SeqCst);
        println!("\n{label} ({took:.1} s):");
        println!(
            "{:<28} {:>6} {:>9} {:>9}",
            "probe", "calls", "p50 ms", "max ms"
        );
        for (name, h) in [
            ("/healthz every 100 ms", healthz),
            ("page /deliveries", page),
            ("API /api/v1/rounds", api),
            ("right login every 2 s", right),
            ("wrong login every 2 s", wrong),
        ] {
            let p = h.join().unwrap();
            assert!(p.errors.is_empty(), "{name}: {:?}", p.errors);
            let mut v = p.times.clone();
            v.sort_by(|a, b| a.partial_cmp(b).unwrap());
            println!(
                "{name:<28} {:>6} {:>9.1} {:>9.1}",
                v.len(),
                percentile(&v, 0.5) * 1e3,
                v.last().copied().unwrap_or(f64::NAN) * 1e3
            );
        }
    };
    run("no upload (baseline)", false);
    run(&format!("during the upload of {rows} rows"), true);
    ws.ok(&["verify-store"]);
}
