//! The portal over HTTP: a real `manyi serve` on 127.0.0.1 and a real client. Every
//! route × role against its expected status (the table fails when a route is added
//! without a row), the security floor of PORTAL.md, the evaluators' path, isolation
//! between organisations, and ten uploads at once.

mod common;

use common::portal::*;
use common::{Workspace, data, example_workspace};

const PW: &str = "Geheim-Passwort-1";
const STREETS_A: &str = "530103001,530103002,530103003,530103004,530103005,530103006";
const STREETS_B: &str = "530103007,530103008,530103009,530103010,530103011,530103012";

struct World {
    ws: Workspace,
    srv: Server,
    /// admin, office, evaluator of org A, evaluator of org B, street.
    sessions: Vec<Session>,
    tokens: Vec<String>,
    /// A delivery of org A.
    delivery_a: String,
}

const ROLES: [&str; 6] = ["admin", "office", "eva", "evb", "street", "anonymous"];

fn world_with(extra: &[&str]) -> World {
    let ws = example_workspace();
    let users: [(&str, &[&str]); 5] = [
        ("admin", &["--role", "admin"]),
        ("office", &["--role", "office"]),
        ("eva", &["--role", "evaluator", "--org", "测评机构A"]),
        ("evb", &["--role", "evaluator", "--org", "测评机构B"]),
        ("street", &["--role", "street", "--street", "530103001"]),
    ];
    let once: Vec<String> = users.iter().map(|(n, a)| add_user(&ws, n, a)).collect();
    ws.ok(&[
        "assign",
        "--round",
        "2018-R1",
        "--org",
        "测评机构A",
        "--streets",
        STREETS_A,
    ]);
    ws.ok(&[
        "assign",
        "--round",
        "2018-R1",
        "--org",
        "测评机构B",
        "--streets",
        STREETS_B,
    ]);
    let tokens: Vec<String> = users
        .iter()
        .map(|(n, _)| {
            ws.ok(&["user", "token", n])
                .split_whitespace()
                .last()
                .unwrap()
                .to_string()
        })
        .collect();
    let srv = Server::start(&ws, extra);
    let sessions: Vec<Session> = users
        .iter()
        .zip(&once)
        .map(|((n, _), p)| first_login(&srv, n, p, PW))
        .collect();
    let messy = std::fs::read(data("evaluator-a-messy.csv")).unwrap();
    let r = srv
        .req("POST", "/api/v1/rounds/2018-R1/deliveries")
        .bearer(&tokens[2])
        .multipart(Some(("evaluator-a-messy.csv", &messy)), &[])
        .send();
    assert_eq!(
        r.status,
        201,
        "{}\n{}",
        r.text(),
        srv.stderr.lock().unwrap()
    );
    let delivery_a = r.json()["sha256"].as_str().unwrap().to_string();
    World {
        ws,
        srv,
        sessions,
        tokens,
        delivery_a,
    }
}

/// The expected status of each route for [admin, office, eva, evb, street, anonymous].
/// Requests are harmless: uploads without a file, withdrawals without a reason, a wrong
/// current password; a route missing here fails the test.
fn expected(method: &str, path: &str) -> Option<[u16; 6]> {
    Some(match (method, path) {
        ("GET", "/healthz")
        | ("GET", "/static/portal.css")
        | ("GET", "/static/portal.js")
        | ("GET", "/static/font.otf")
        | ("GET", "/login") => [200; 6],
        ("POST", "/login") => [401; 6],
        ("GET", "/") => [303, 303, 303, 303, 200, 303],
        ("POST", "/logout") => [303; 6],
        ("GET", "/account/password") | ("GET", "/help") => [200, 200, 200, 200, 200, 303],
        ("POST", "/account/password") => [422, 422, 422, 422, 422, 303],
        ("GET", "/rounds")
        | ("GET", "/rounds/{round}")
        | ("GET", "/rounds/{round}/sample.xlsx")
        | ("GET", "/guide")
        | ("GET", "/guide/template.csv")
        | ("GET", "/deliveries") => [200, 200, 200, 200, 403, 303],
        ("POST", "/rounds/{round}/deliveries") => [403, 403, 400, 400, 403, 303],
        ("GET", "/deliveries/{id}")
        | ("GET", "/deliveries/{id}/rejects.csv")
        | ("GET", "/deliveries/{id}/original") => [200, 200, 200, 404, 403, 303],
        ("POST", "/deliveries/{id}/withdraw") => [422, 422, 422, 404, 403, 303],
        ("POST", "/deliveries/{id}/reinstate") => [422, 422, 403, 403, 403, 303],
        ("GET", "/api/v1/rounds")
        | ("GET", "/api/v1/rounds/{round}/coverage")
        | ("GET", "/api/v1/rounds/{round}/deliveries") => [200, 200, 200, 200, 403, 401],
        ("POST", "/api/v1/rounds/{round}/deliveries") => [403, 403, 400, 400, 403, 401],
        ("GET", "/api/v1/deliveries/{id}") | ("GET", "/api/v1/deliveries/{id}/rejects") => {
            [200, 200, 200, 404, 403, 401]
        }
        ("DELETE", "/api/v1/deliveries/{id}") => [422, 422, 422, 404, 403, 401],
        // The office's desk (forms sent empty: 422 from the form's own check).
        ("GET", "/desk")
        | ("GET", "/rounds/{round}/sample")
        | ("GET", "/rounds/{round}/flags")
        | ("GET", "/rounds/{round}/flags.xlsx")
        | ("GET", "/jobs")
        | ("GET", "/jobs/{id}")
        | ("GET", "/results/{label}")
        | ("GET", "/results/{label}/files/{name}")
        | ("GET", "/indicators")
        | ("GET", "/journal")
        | ("GET", "/journal.csv")
        | ("POST", "/journal/verify") => [200, 200, 403, 403, 403, 303],
        ("POST", "/draw")
        | ("POST", "/rounds/{round}/assignments")
        | ("POST", "/rounds/{round}/decisions")
        | ("POST", "/jobs")
        | ("POST", "/results/{label}/unpublish")
        | ("POST", "/indicators") => [422, 422, 403, 403, 403, 303],
        // Without confirm=yes: the confirmation page.
        ("POST", "/results/{label}/publish") | ("POST", "/rounds/{round}/callbacks/draw") => {
            [200, 200, 403, 403, 403, 303]
        }
        // The admin's accounts page (an account that does not exist: 404).
        ("GET", "/admin/users") => [200, 403, 403, 403, 403, 303],
        ("POST", "/admin/users") => [422, 403, 403, 403, 403, 303],
        ("POST", "/admin/users/{user}/{action}") => [404, 403, 403, 403, 403, 303],
        // Callbacks: the page, results sent empty, a list of no batch.
        ("GET", "/rounds/{round}/callbacks") => [200, 200, 403, 403, 403, 303],
        ("POST", "/rounds/{round}/callbacks/results") => [400, 400, 403, 403, 403, 303],
        ("GET", "/rounds/{round}/callbacks/{name}") => [404, 404, 403, 403, 403, 303],
        // The street's own pages.
        ("GET", "/street/{label}")
        | ("GET", "/street/{label}/charts/{name}")
        | ("GET", "/street/{label}/tables/{name}") => [403, 403, 403, 403, 200, 303],
        // The office's API.
        ("POST", "/api/v1/rounds/{round}/score")
        | ("POST", "/api/v1/periods/{period}/evaluate")
        | ("POST", "/api/v1/periods/{period}/report") => [202, 202, 403, 403, 403, 401],
        ("POST", "/api/v1/periods/{period}/publish")
        | ("GET", "/api/v1/rounds/{round}/callbacks")
        | ("GET", "/api/v1/jobs")
        | ("GET", "/api/v1/jobs/{id}") => [200, 200, 403, 403, 403, 401],
        ("GET", "/api/v1/streets/{code}/scores") => [200, 200, 403, 403, 200, 401],
        // Appeals and the ledger (issue 27), on 2018H1 published; requests harmless:
        // no appeal or row has the id used, bodies empty.
        ("GET", "/street/{label}/appeal") | ("GET", "/street/{label}/ledger") => {
            [403, 403, 403, 403, 200, 303]
        }
        ("POST", "/street/{label}/appeals") => [403, 403, 403, 403, 400, 303],
        ("POST", "/rectifications/{id}") => [403, 403, 403, 403, 404, 303],
        ("GET", "/rectifications.xlsx") => [200, 200, 403, 403, 200, 303],
        ("GET", "/appeals") | ("GET", "/ledger") => [200, 200, 403, 403, 403, 303],
        ("GET", "/appeals/{id}")
        | ("POST", "/appeals/{id}/ruling")
        | ("POST", "/ledger/{id}/verify") => [404, 404, 403, 403, 403, 303],
        ("GET", "/appeals/{id}/files/{sha}") => [404, 404, 403, 403, 404, 303],
        ("POST", "/api/v1/periods/{period}/appeals") | ("POST", "/api/v1/rectifications/{id}") => {
            [403, 403, 403, 403, 400, 401]
        }
        ("GET", "/api/v1/appeals") | ("GET", "/api/v1/periods/{period}/rectifications") => {
            [200, 200, 403, 403, 200, 401]
        }
        ("GET", "/api/v1/appeals/{id}") => [404, 404, 403, 403, 404, 401],
        ("POST", "/api/v1/appeals/{id}/ruling") => [400, 400, 403, 403, 403, 401],
        ("POST", "/api/v1/rectifications/{id}/verify") => [404, 404, 403, 403, 403, 401],
        _ => return None,
    })
}

/// The round scored and published (for the street's pages), and job 1 (a score) queued.
fn scored_and_published(w: &World) {
    w.ws.ok(&["score", "--round", "2018-R1"]);
    w.ws.ok(&["publish", "2018-R1"]);
    w.ws.ok(&["evaluate", "--period", "2018H1"]);
    w.ws.ok(&["publish", "2018H1"]);
    let r = w
        .srv
        .req("POST", "/api/v1/rounds/2018-R1/score")
        .bearer(&w.tokens[1])
        .send();
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json()["job"], 1);
}

/// A route's path with its placeholders filled for the table.
fn concrete(method: &str, path: &str, delivery: &str) -> String {
    let name = if path.starts_with("/results/") {
        "street_scores.csv"
    } else if path.contains("/charts/") {
        "ranking.svg"
    } else {
        "communities.csv"
    };
    let period = if path.ends_with("/publish") {
        "2018-R1"
    } else if path.ends_with("/appeals") || path.ends_with("/rectifications") {
        "2018H1"
    } else {
        "2018Q1"
    };
    let label = if path.contains("/appeal") || path.ends_with("/ledger") {
        "2018H1"
    } else {
        "2018-R1"
    };
    let id = if path.contains("/jobs/") {
        "1"
    } else {
        delivery
    };
    let mut p = path
        .replace("{round}", "2018-R1")
        .replace("{label}", label)
        .replace("{sha}", "00")
        .replace("{period}", period)
        .replace("{name}", name)
        .replace("{code}", "530103001")
        .replace("{user}", "nobody")
        .replace("{action}", "disable")
        .replace("{id}", id);
    if method == "GET" && path.ends_with("/scores") {
        p.push_str("?period=2018-R1");
    }
    p
}

#[test]
fn every_route_answers_every_role_as_the_table_says() {
    let w = world_with(&[]);
    scored_and_published(&w);
    let routes =
        manyi::portal::routes(&manyi::workspace::Workspace::open(w.ws.path()).unwrap()).unwrap();
    assert!(routes.len() >= 50, "{} routes", routes.len());
    let mut checked = 0;
    for r in &routes {
        let exp = expected(r.method, r.path).unwrap_or_else(|| {
            panic!(
                "route {} {} is not in the route × role table of this test: add its row",
                r.method, r.path
            )
        });
        let path = concrete(r.method, r.path, &w.delivery_a);
        for (k, role) in ROLES.iter().enumerate() {
            // Logout ends the session: each role logs out a session of its own.
            let session = if r.path == "/logout" && k < 5 {
                Some(login(&w.srv, role, PW))
            } else {
                w.sessions.get(k).cloned()
            };
            let mut q = w.srv.req(r.method, &path);
            if r.api {
                if let Some(t) = w.tokens.get(k) {
                    q = q.bearer(t);
                }
            } else if let Some(s) = &session {
                q = q.cookie(s).header("X-CSRF-Token", s.csrf.clone());
            }
            q = match (r.method, r.path) {
                ("POST", "/login") => {
                    let name = format!("nobody-{k}");
                    q.form(&[("name", name.as_str()), ("password", "wrong")])
                }
                ("POST", "/account/password") => q.form(&[
                    ("old", "not-the-password"),
                    ("new", "Another-pass-9"),
                    ("again", "Another-pass-9"),
                ]),
                ("POST", p) if p.ends_with("/deliveries") || p == "/indicators" => {
                    q.multipart(None, &[])
                }
                ("POST", p) if p.ends_with("/withdraw") || p.ends_with("/reinstate") => {
                    q.form(&[("reason", "")])
                }
                ("DELETE", _) => q.json(&serde_json::json!({"reason": ""})),
                ("POST", _) if !r.api => q.form(&[]),
                _ => q,
            };
            let got = q.send();
            assert_eq!(
                got.status,
                exp[k],
                "{} {} as {role}: {}",
                r.method,
                r.path,
                got.text().chars().take(300).collect::<String>()
            );
            if r.api && got.status >= 400 {
                let j = got.json();
                assert!(j["code"].is_string() && j["error"].is_string(), "{j}");
            }
            checked += 1;
        }
    }
    // A wrong token is refused as no token is.
    let r = w
        .srv
        .req("GET", "/api/v1/rounds")
        .bearer("manyi_0000000000000000000000000000000000000000000000000000000000000000")
        .send();
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["code"], "unauthenticated");
    // Nothing the table did changed the delivery.
    let d = w
        .srv
        .req("GET", &format!("/api/v1/deliveries/{}", w.delivery_a))
        .bearer(&w.tokens[1])
        .send();
    assert_eq!(d.json()["status"], "active");
    eprintln!(
        "route × role table: {} routes × 6 roles = {checked} requests",
        routes.len()
    );
}

#[test]
fn csrf_and_cross_site_requests_are_refused() {
    let w = world_with(&[]);
    let a = &w.sessions[2];
    let path = format!("/deliveries/{}/withdraw", w.delivery_a);
    let reason = [("reason", "试一下")];
    // No token, a wrong token, another session's token.
    let none = w.srv.req("POST", &path).cookie(a).form(&reason).send();
    assert_eq!(none.status, 403, "{}", none.text());
    let wrong = w
        .srv
        .req("POST", &path)
        .cookie(a)
        .form(&[("csrf", "0123456789abcdef"), ("reason", "试一下")])
        .send();
    assert_eq!(wrong.status, 403);
    let other = w
        .srv
        .req("POST", &path)
        .cookie(a)
        .form(&[("csrf", &w.sessions[3].csrf), ("reason", "试一下")])
        .send();
    assert_eq!(other.status, 403);
    // A right token, but the browser says another site sent it.
    let cross = w
        .srv
        .req("POST", &path)
        .cookie(a)
        .header("Sec-Fetch-Site", "cross-site")
        .form(&[("csrf", &a.csrf), ("reason", "试一下")])
        .send();
    assert_eq!(cross.status, 403);
    let origin = w
        .srv
        .req("POST", &path)
        .cookie(a)
        .header("Origin", "http://evil.example")
        .form(&[("csrf", &a.csrf), ("reason", "试一下")])
        .send();
    assert_eq!(origin.status, 403);
    // The upload form's token travels in its query.
    let up = w
        .srv
        .req("POST", "/rounds/2018-R1/deliveries?csrf=bad")
        .cookie(a)
        .multipart(Some(("x.csv", b"a,b\n1,2\n")), &[])
        .send();
    assert_eq!(up.status, 403);
    // Still active; then the same request done right works.
    let d = w
        .srv
        .req("GET", &format!("/api/v1/deliveries/{}", w.delivery_a))
        .bearer(&w.tokens[2])
        .send();
    assert_eq!(d.json()["status"], "active");
    // Done right: first the confirmation (nothing withdrawn yet), then the withdrawal.
    let ask = w
        .srv
        .req("POST", &path)
        .cookie(a)
        .header("Origin", format!("http://{}", w.srv.addr))
        .header("Sec-Fetch-Site", "same-origin")
        .form(&[("csrf", &a.csrf), ("reason", "试一下")])
        .send();
    assert_eq!(ask.status, 200, "{}", ask.text());
    assert!(ask.text().contains("确认撤回") && ask.text().contains("不再计入得分"));
    let d = w
        .srv
        .req("GET", &format!("/api/v1/deliveries/{}", w.delivery_a))
        .bearer(&w.tokens[2])
        .send();
    assert_eq!(
        d.json()["status"],
        "active",
        "not withdrawn before the confirmation"
    );
    let ok = w
        .srv
        .req("POST", &path)
        .cookie(a)
        .header("Origin", format!("http://{}", w.srv.addr))
        .header("Sec-Fetch-Site", "same-origin")
        .form(&[
            ("csrf", a.csrf.as_str()),
            ("reason", "试一下"),
            ("confirm", "yes"),
        ])
        .send();
    assert_eq!(ok.status, 303, "{}", ok.text());
    let d = w
        .srv
        .req("GET", &format!("/api/v1/deliveries/{}", w.delivery_a))
        .bearer(&w.tokens[2])
        .send();
    assert_eq!(d.json()["status"], "withdrawn");
}

fn uploads_left(ws: &Workspace) -> usize {
    std::fs::read_dir(ws.file("surveys/uploads"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn refused_uploads_leave_nothing_behind() {
    let w = world_with(&["--max-upload", "16M"]);
    let before = w.ws.stored_deliveries();
    let journal_before = w.ws.read("surveys/store/journal.jsonl").lines().count();
    let t = &w.tokens[2];
    let up = |name: &str, bytes: &[u8], chunked: bool| {
        let mut q = w
            .srv
            .req("POST", "/api/v1/rounds/2018-R1/deliveries")
            .bearer(t)
            .multipart(Some((name, bytes)), &[]);
        if chunked {
            q = q.chunked();
        }
        q.send()
    };
    // Over the limit: declared by Content-Length, and streamed without one.
    let big = vec![b'1'; 17 << 20];
    let r = up("big.csv", &big, false);
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(r.json()["code"], "too-large");
    let r = up("big.csv", &big, true);
    assert_eq!(r.status, 413, "{}", r.text());
    // A binary renamed .csv (a PNG's header and bytes).
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend((0..4000u32).map(|i| (i * 7 % 251) as u8));
    let r = up("responses.csv", &png, false);
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(r.json()["code"], "unsupported-type");
    // An XLSX bomb: a small zip whose sheet inflates to 8 GiB.
    let bomb = xlsx_bomb(8 << 30);
    assert!(bomb.len() < 12 << 20, "bomb is {} bytes", bomb.len());
    let t0 = std::time::Instant::now();
    let r = up("bomb.xlsx", &bomb, false);
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(r.json()["code"], "unsupported-type");
    assert!(
        t0.elapsed().as_secs_f64() < 5.0,
        "refused in {:?}",
        t0.elapsed()
    );
    // Nothing stored, nothing journalled, nothing left in the uploads folder.
    assert_eq!(w.ws.stored_deliveries(), before);
    assert_eq!(
        w.ws.read("surveys/store/journal.jsonl").lines().count(),
        journal_before
    );
    assert_eq!(uploads_left(&w.ws), 0);
    w.ws.ok(&["verify-store"]);
}

/// A zip holding `xl/worksheets/sheet1.xml` that inflates to `size` bytes of one
/// repeated byte: one MiB deflated at the best level and sync-flushed (its
/// back-references stay inside it, so copies may follow one another), repeated, with
/// sizes and CRC in the headers as they really are.
fn xlsx_bomb(size: u64) -> Vec<u8> {
    let mib = 1u64 << 20;
    let block: Vec<u8> = {
        let mut c = flate2::Compress::new(flate2::Compression::best(), false);
        let input = vec![b'a'; mib as usize];
        let mut out = Vec::with_capacity(1 << 16);
        c.compress_vec(&input, &mut out, flate2::FlushCompress::Sync)
            .unwrap();
        assert_eq!(c.total_in(), mib);
        out
    };
    let n = size / mib;
    let mut deflate = Vec::new();
    for _ in 0..n {
        deflate.extend_from_slice(&block);
    }
    deflate.extend_from_slice(&[0x03, 0x00]); // final empty fixed block
    // CRC-32 of `size` bytes of 'a', by doubling from one MiB.
    let mut crc = crc32(&vec![b'a'; mib as usize]);
    let mut len = mib;
    while len < size {
        crc = crc32_combine(crc, crc, len);
        len *= 2;
    }
    assert_eq!(len, size, "size must be a power-of-two number of MiB");
    let name = b"xl/worksheets/sheet1.xml";
    let mut out = Vec::new();
    let local = |out: &mut Vec<u8>| {
        out.extend_from_slice(&0x04034b50u32.to_le_bytes());
        out.extend_from_slice(&45u16.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&8u16.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&u32::MAX.to_le_bytes());
        out.extend_from_slice(&u32::MAX.to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes());
        out.extend_from_slice(name);
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&(deflate.len() as u64).to_le_bytes());
    };
    local(&mut out);
    out.extend_from_slice(&deflate);
    let cd_start = out.len() as u64;
    out.extend_from_slice(&0x02014b50u32.to_le_bytes());
    out.extend_from_slice(&45u16.to_le_bytes());
    out.extend_from_slice(&45u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&8u16.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&u32::MAX.to_le_bytes());
    out.extend_from_slice(&u32::MAX.to_le_bytes());
    out.extend_from_slice(&(name.len() as u16).to_le_bytes());
    out.extend_from_slice(&28u16.to_le_bytes());
    out.extend_from_slice(&[0; 6]); // comment len, disk, internal attr
    out.extend_from_slice(&[0; 4]); // external attr
    out.extend_from_slice(&u32::MAX.to_le_bytes()); // local header offset in zip64
    out.extend_from_slice(name);
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&24u16.to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&(deflate.len() as u64).to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes());
    let cd_end = out.len() as u64;
    // Zip64 end of central directory, its locator, and the classic end record.
    let z64 = out.len() as u64;
    out.extend_from_slice(&0x06064b50u32.to_le_bytes());
    out.extend_from_slice(&44u64.to_le_bytes());
    out.extend_from_slice(&45u16.to_le_bytes());
    out.extend_from_slice(&45u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&1u64.to_le_bytes());
    out.extend_from_slice(&1u64.to_le_bytes());
    out.extend_from_slice(&(cd_end - cd_start).to_le_bytes());
    out.extend_from_slice(&cd_start.to_le_bytes());
    out.extend_from_slice(&0x07064b50u32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&z64.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&0x06054b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&u16::MAX.to_le_bytes());
    out.extend_from_slice(&u16::MAX.to_le_bytes());
    out.extend_from_slice(&u32::MAX.to_le_bytes());
    out.extend_from_slice(&u32::MAX.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn crc32(b: &[u8]) -> u32 {
    let mut c = !0u32;
    for &x in b {
        c ^= x as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB88320
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// zlib's crc32_combine: the CRC of A·B from CRC(A), CRC(B) and B's length.
fn crc32_combine(crc1: u32, crc2: u32, mut len2: u64) -> u32 {
    fn times(mat: &[u32; 32], mut vec: u32) -> u32 {
        let mut sum = 0;
        let mut i = 0;
        while vec != 0 {
            if vec & 1 != 0 {
                sum ^= mat[i];
            }
            vec >>= 1;
            i += 1;
        }
        sum
    }
    fn square(sq: &mut [u32; 32], mat: &[u32; 32]) {
        for n in 0..32 {
            sq[n] = times(mat, mat[n]);
        }
    }
    let mut even = [0u32; 32];
    let mut odd = [0u32; 32];
    odd[0] = 0xEDB88320;
    let mut row = 1;
    for v in odd.iter_mut().skip(1) {
        *v = row;
        row <<= 1;
    }
    square(&mut even, &odd);
    square(&mut odd, &even);
    let mut crc1 = crc1;
    loop {
        square(&mut even, &odd);
        if len2 & 1 != 0 {
            crc1 = times(&even, crc1);
        }
        len2 >>= 1;
        if len2 == 0 {
            break;
        }
        square(&mut odd, &even);
        if len2 & 1 != 0 {
            crc1 = times(&odd, crc1);
        }
        len2 >>= 1;
        if len2 == 0 {
            break;
        }
    }
    crc1 ^ crc2
}

#[test]
fn the_bomb_is_a_real_zip_that_inflates_as_claimed() {
    // Independent of the portal: the zip crate reads the bomb's first 4 MiB as 'a's,
    // so the test above refuses a real bomb, not a malformed file. (16 MiB: small
    // enough to inflate here.)
    let bomb = xlsx_bomb(16 << 20);
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(bomb)).unwrap();
    let mut f = z.by_name("xl/worksheets/sheet1.xml").unwrap();
    assert_eq!(f.size(), 16 << 20);
    let mut all = Vec::new();
    std::io::Read::read_to_end(&mut f, &mut all).unwrap();
    assert_eq!(all.len(), 16 << 20);
    assert!(all.iter().all(|&b| b == b'a'));
}

#[test]
fn another_organisation_cannot_see_list_read_download_or_withdraw() {
    let w = world_with(&[]);
    let (b, tb) = (&w.sessions[3], &w.tokens[3]);
    let id = &w.delivery_a;
    // Not listed.
    let list = w
        .srv
        .req("GET", "/api/v1/rounds/2018-R1/deliveries")
        .bearer(tb)
        .send();
    assert_eq!(list.status, 200);
    assert_eq!(list.json().as_array().unwrap().len(), 0);
    let page = w.srv.req("GET", "/deliveries").cookie(b).send();
    assert!(!page.text().contains(id.as_str()));
    let page = w.srv.req("GET", "/rounds/2018-R1").cookie(b).send();
    assert!(!page.text().contains("evaluator-a-messy"));
    // Not readable, not downloadable, not withdrawable: exactly as a missing id.
    let missing = "0".repeat(64);
    for target in [id.as_str(), missing.as_str()] {
        for p in ["", "/rejects.csv", "/original"] {
            let r = w
                .srv
                .req("GET", &format!("/deliveries/{target}{p}"))
                .cookie(b)
                .send();
            assert_eq!(r.status, 404, "{p}");
        }
        for p in ["", "/rejects"] {
            let r = w
                .srv
                .req("GET", &format!("/api/v1/deliveries/{target}{p}"))
                .bearer(tb)
                .send();
            assert_eq!(r.status, 404);
            assert_eq!(r.json()["code"], "not-found");
        }
        let r = w
            .srv
            .req("DELETE", &format!("/api/v1/deliveries/{target}"))
            .bearer(tb)
            .json(&serde_json::json!({"reason": "不是我的"}))
            .send();
        assert_eq!(r.status, 404);
        let r = w
            .srv
            .req("POST", &format!("/deliveries/{target}/withdraw"))
            .cookie(b)
            .form(&[("csrf", &b.csrf), ("reason", "不是我的")])
            .send();
        assert_eq!(r.status, 404);
        // Nor used as the delivery a correction replaces.
        let r = w
            .srv
            .req("POST", "/api/v1/rounds/2018-R1/deliveries")
            .bearer(tb)
            .multipart(
                Some((
                    "fix.csv",
                    &std::fs::read(data("evaluator-a-template-utf8.csv")).unwrap(),
                )),
                &[("replaces", target)],
            )
            .send();
        assert_eq!(r.status, 404, "{}", r.text());
    }
    // A round the organisation has no street in is missing too.
    let r = w
        .srv
        .req("GET", "/api/v1/rounds/2018-R2/coverage")
        .bearer(tb)
        .send();
    assert_eq!(r.status, 404);
    // A short id prefix never resolves in the portal (it could tell that one exists).
    let r = w
        .srv
        .req("GET", &format!("/api/v1/deliveries/{}", &id[..12]))
        .bearer(&w.tokens[2])
        .send();
    assert_eq!(r.status, 404);
    let d = w
        .srv
        .req("GET", &format!("/api/v1/deliveries/{id}"))
        .bearer(&w.tokens[2])
        .send();
    assert_eq!(d.json()["status"], "active");
    // Org B's coverage counts none of org A's questionnaires, and only B's streets.
    let cov = w
        .srv
        .req("GET", "/api/v1/rounds/2018-R1/coverage")
        .bearer(tb)
        .send()
        .json();
    for c in cov["communities"].as_array().unwrap() {
        assert!(STREETS_B.contains(c["street_code"].as_str().unwrap()));
        assert_eq!(c["valid"], 0);
    }
}

#[test]
fn six_wrong_passwords_throttle_and_logout_kills_the_session() {
    let w = world_with(&["--idle-seconds", "3"]);
    for i in 0..5 {
        let r = w
            .srv
            .req("POST", "/login")
            .form(&[("name", "eva"), ("password", &format!("wrong-{i}"))])
            .send();
        assert_eq!(r.status, 401, "attempt {i}");
        assert!(r.session_cookie().is_none());
    }
    // The sixth is refused unchecked, even with the right password.
    let r = w
        .srv
        .req("POST", "/login")
        .form(&[("name", "eva"), ("password", PW)])
        .send();
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.text().contains("分钟后再试"));
    assert!(r.session_cookie().is_none());
    // Another account is not affected; its session dies at logout.
    let s = login(&w.srv, "evb", PW);
    assert_eq!(w.srv.req("GET", "/rounds").cookie(&s).send().status, 200);
    let out = w
        .srv
        .req("POST", "/logout")
        .cookie(&s)
        .form(&[("csrf", &s.csrf)])
        .send();
    assert_eq!(out.status, 303);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    let after = w.srv.req("GET", "/rounds").cookie(&s).send();
    assert_eq!(after.status, 303, "a logged-out session still works");
    assert!(after.header("location").unwrap().starts_with("/login"));
    // Idle timeout (3 s here).
    let s = login(&w.srv, "evb", PW);
    assert_eq!(w.srv.req("GET", "/rounds").cookie(&s).send().status, 200);
    std::thread::sleep(std::time::Duration::from_millis(4500));
    assert_eq!(w.srv.req("GET", "/rounds").cookie(&s).send().status, 303);
    // The cookie's flags.
    let r = w
        .srv
        .req("POST", "/login")
        .form(&[("name", "evb"), ("password", PW)])
        .send();
    let c = r.header("set-cookie").unwrap();
    assert!(
        c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Path=/"),
        "{c}"
    );
    // The journal has the logins, the failures and the logout, with the account.
    let j = w.ws.ok(&["journal", "--json"]);
    let entries: Vec<serde_json::Value> = serde_json::from_str(&j).unwrap();
    let count = |action: &str, actor: &str| {
        entries
            .iter()
            .filter(|e| e["action"] == action && e["actor"] == actor)
            .count()
    };
    assert_eq!(count("login-failed", "eva"), 5);
    assert!(count("login", "evb") >= 3);
    assert_eq!(count("logout", "evb"), 1);
}

#[test]
fn secure_cookies_behind_https() {
    let ws = example_workspace();
    let pw = add_user(&ws, "eva", &["--role", "evaluator", "--org", "测评机构A"]);
    let srv = Server::start(&ws, &["--public-url", "https://manyi.example.gov.cn"]);
    let r = srv
        .req("POST", "/login")
        .form(&[("name", "eva"), ("password", &pw)])
        .send();
    assert_eq!(r.status, 303);
    let c = r.header("set-cookie").unwrap();
    assert!(
        c.starts_with("__Host-manyi_session=") && c.contains("; Secure"),
        "{c}"
    );
    // The Origin allowed is the public one.
    let r = srv
        .req("POST", "/login")
        .header("Origin", format!("http://{}", srv.addr))
        .form(&[("name", "eva"), ("password", &pw)])
        .send();
    assert_eq!(r.status, 403);
}

/// Reads the receipt page's count with the given id.
fn count_on(html: &str, id: &str) -> u64 {
    let key = format!("id=\"{id}\">");
    let i = html.find(&key).unwrap_or_else(|| panic!("no #{id}"));
    let rest = &html[i + key.len()..];
    rest[..rest.find('<').unwrap()].parse().unwrap()
}

#[test]
fn evaluator_path_upload_receipt_rejects_correction_and_coverage() {
    let w = world_with(&[]);
    let a = &w.sessions[2];
    // The messy delivery (uploaded by API in the set-up) has its receipt page.
    let page = w
        .srv
        .req("GET", &format!("/deliveries/{}", w.delivery_a))
        .cookie(a)
        .send();
    assert_eq!(page.status, 200);
    let html = page.text();
    let expected = w.ws.ok(&["deliveries", "--json"]);
    let d: serde_json::Value =
        serde_json::from_str::<Vec<serde_json::Value>>(&expected).unwrap()[0].clone();
    assert_eq!(count_on(&html, "accepted"), d["accepted"].as_u64().unwrap());
    assert_eq!(count_on(&html, "rejected"), d["rejected"].as_u64().unwrap());
    assert!(d["rejected"].as_u64().unwrap() > 0);
    assert_eq!(d["evaluator"], "测评机构A");
    assert_eq!(d["actor"], "eva");
    // Its rejects, as the CSV download (same rows as the stored rejects list).
    let csv = w
        .srv
        .req("GET", &format!("/deliveries/{}/rejects.csv", w.delivery_a))
        .cookie(a)
        .send();
    assert_eq!(csv.status, 200);
    assert!(
        csv.header("content-disposition")
            .unwrap()
            .starts_with("attachment")
    );
    let stored = std::fs::read(w.ws.file(&format!(
            "surveys/store/{}",
            serde_json::from_str::<serde_json::Value>(&w.ws.read("surveys/store/index.json"))
                .unwrap()["deliveries"][0]["rejects"]
                .as_str()
                .unwrap()
        )))
    .unwrap();
    assert_eq!(csv.body, stored);
    // Each rejected line of the file is shown with its line number.
    let lines = csv.text().lines().count() - 1;
    assert!(lines > 0 && html.matches("<td class=\"num\">").count() >= lines);
    // Coverage before: the messy file's valid questionnaires.
    let cov = |t: &str| -> u64 {
        w.srv
            .req("GET", "/api/v1/rounds/2018-R1/coverage")
            .bearer(t)
            .send()
            .json()["communities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["valid"].as_u64().unwrap())
            .sum()
    };
    let before = cov(&w.tokens[2]);
    assert!(before > 0);
    // The correction through the page's form, replacing the messy delivery.
    let fix = std::fs::read(data("evaluator-a-template-utf8.csv")).unwrap();
    let r = w
        .srv
        .req(
            "POST",
            &format!("/rounds/2018-R1/deliveries?csrf={}", a.csrf),
        )
        .cookie(a)
        .multipart(Some(("更正.csv", &fix)), &[("replaces", &w.delivery_a)])
        .send();
    assert_eq!(r.status, 303, "{}", r.text());
    let new_id = r
        .header("location")
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let old = w
        .srv
        .req("GET", &format!("/api/v1/deliveries/{}", w.delivery_a))
        .bearer(&w.tokens[2])
        .send()
        .json();
    assert_eq!(old["status"], "superseded");
    let new = w
        .srv
        .req("GET", &format!("/api/v1/deliveries/{new_id}"))
        .bearer(&w.tokens[2])
        .send()
        .json();
    assert_eq!(new["status"], "active");
    assert_eq!(new["replaces"], w.delivery_a.as_str());
    assert_eq!(new["file_name"], "更正.csv");
    // Coverage moved to exactly the correction's valid questionnaires.
    let after = cov(&w.tokens[2]);
    assert_eq!(after, new["receipt"]["valid"].as_u64().unwrap());
    assert!(after > before, "{before} → {after}");
    // The office sees the same number for org A's streets.
    assert_eq!(cov(&w.tokens[1]), after);
    w.ws.ok(&["verify-store"]);
}

#[test]
fn rows_of_streets_not_assigned_are_rejected_with_that_reason() {
    let w = world_with(&[]);
    // Org B uploads org A's file: every row is of a street B is not assigned.
    let fix = std::fs::read(data("evaluator-a-template-utf8.csv")).unwrap();
    let r = w
        .srv
        .req("POST", "/api/v1/rounds/2018-R1/deliveries")
        .bearer(&w.tokens[3])
        .multipart(Some(("a.csv", &fix)), &[])
        .send();
    assert_eq!(r.status, 201, "{}", r.text());
    let j = r.json();
    assert_eq!(j["accepted"], 0);
    assert_eq!(
        j["rejects_by_reason"]["street-not-assigned"],
        j["rows_read"]
    );
    let id = j["sha256"].as_str().unwrap();
    let csv = w
        .srv
        .req("GET", &format!("/api/v1/deliveries/{id}/rejects"))
        .bearer(&w.tokens[3])
        .send()
        .text();
    assert!(
        csv.contains("不在 测评机构B 2018-R1 轮负责的街道中"),
        "{}",
        &csv[..500.min(csv.len())]
    );
    // The CLI applies the same assignment to `ingest --evaluator`.
    let out = w.ws.ok(&[
        "ingest",
        "--round",
        "2018-R1",
        "--evaluator",
        "测评机构B",
        "--json",
        data("evaluator-c-names-bom.csv").to_str().unwrap(),
    ]);
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        j["rejects_by_reason"]["street-not-assigned"]
            .as_u64()
            .unwrap_or(0)
            > 0
            || j["accepted"].as_u64().unwrap() > 0
    );
}

#[test]
fn escaping_and_private_files() {
    let w = world_with(&[]);
    let a = &w.sessions[2];
    let name = "<img src=x onerror=alert(1)>&.csv";
    let fix = std::fs::read(data("evaluator-a-template-utf8.csv")).unwrap();
    let r = w
        .srv
        .req("POST", "/api/v1/rounds/2018-R1/deliveries")
        .bearer(&w.tokens[2])
        .multipart(Some((name, &fix)), &[])
        .send();
    assert_eq!(r.status, 201, "{}", r.text());
    let page = w.srv.req("GET", "/deliveries").cookie(a).send().text();
    assert!(!page.contains("<img src=x"), "an unescaped file name");
    assert!(
        page.contains("&lt;img src=x onerror=alert(1)&gt;&amp;.csv"),
        "{page}"
    );
    // Originals and receipts: the service's user only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&w.ws.file("surveys/store")), 0o700);
        for dir in ["surveys/store/originals", "surveys/store/receipts/2018-R1"] {
            for e in std::fs::read_dir(w.ws.file(dir)).unwrap() {
                let p = e.unwrap().path();
                assert_eq!(mode(&p), 0o600, "{}", p.display());
            }
        }
        assert_eq!(mode(&w.ws.file("surveys/portal.sqlite")), 0o600);
    }
    // Downloading an original is journalled with who did it.
    let r = w
        .srv
        .req("GET", &format!("/deliveries/{}/original", w.delivery_a))
        .cookie(&w.sessions[1])
        .send();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        std::fs::read(data("evaluator-a-messy.csv")).unwrap()
    );
    let j: Vec<serde_json::Value> = serde_json::from_str(&w.ws.ok(&["journal", "--json"])).unwrap();
    assert!(
        j.iter()
            .any(|e| e["action"] == "download-original" && e["actor"] == "office")
    );
}

#[test]
fn ten_evaluators_upload_at_once() {
    let ws = example_workspace();
    // Ten accounts of two organisations (each org its six streets).
    let mut pws = Vec::new();
    for i in 0..10 {
        let org = if i % 2 == 0 {
            "测评机构A"
        } else {
            "测评机构B"
        };
        add_user(
            &ws,
            &format!("ev{i}"),
            &["--role", "evaluator", "--org", org],
        );
        pws.push(
            ws.ok(&["user", "token", &format!("ev{i}")])
                .split_whitespace()
                .last()
                .unwrap()
                .to_string(),
        );
    }
    ws.ok(&[
        "assign",
        "--round",
        "2018-R1",
        "--org",
        "测评机构A",
        "--streets",
        STREETS_A,
    ]);
    ws.ok(&[
        "assign",
        "--round",
        "2018-R1",
        "--org",
        "测评机构B",
        "--streets",
        STREETS_B,
    ]);
    let sample = std::fs::read_to_string(data("2018-R1-sample.csv")).unwrap();
    let communities: Vec<(String, String, String)> = sample
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[1].to_string(), f[3].to_string(), f[4].to_string())
        })
        .collect();
    // Each evaluator: 30 questionnaires in each community of its org's streets.
    let mut files = Vec::new();
    let mut expect_total = 0u64;
    for i in 0..10 {
        let streets = if i % 2 == 0 { STREETS_A } else { STREETS_B };
        let mut g = common::Gen(1000 + i as u64);
        let mut csv = format!("{}\n", common::HEADER);
        let mut n = 0;
        for (s, code, name) in &communities {
            if !streets.contains(s.as_str()) {
                continue;
            }
            for k in 0..30 {
                csv.push_str(&common::honest_row(
                    &mut g,
                    &format!("E{i}-{code}-{k}"),
                    code,
                    name,
                    &format!("I{i}{}", k % 3),
                    2.8,
                ));
                csv.push('\n');
                n += 1;
            }
        }
        expect_total += n;
        files.push((csv.into_bytes(), n));
    }
    let srv = Server::start(&ws, &[]);
    let addr = srv.addr.clone();
    let handles: Vec<_> = files
        .into_iter()
        .zip(pws)
        .enumerate()
        .map(|(i, ((bytes, n), token))| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let srv = ServerRef(addr);
                let r = srv
                    .req("POST", "/api/v1/rounds/2018-R1/deliveries")
                    .bearer(&token)
                    .multipart(Some((&format!("ev{i}.csv"), &bytes)), &[])
                    .send();
                assert_eq!(r.status, 201, "ev{i}: {}", r.text());
                let j = r.json();
                assert_eq!(j["rows_read"], n, "ev{i}");
                assert_eq!(j["accepted"], n, "ev{i}: {}", j["rejects_by_reason"]);
                n
            })
        })
        .collect();
    let got: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(got, expect_total);
    // Every row counted once: the store holds exactly the rows sent.
    let idx: serde_json::Value =
        serde_json::from_str(&ws.read("surveys/store/index.json")).unwrap();
    let ds = idx["deliveries"].as_array().unwrap();
    assert_eq!(ds.len(), 10);
    let stored: u64 = ds.iter().map(|d| d["accepted"].as_u64().unwrap()).sum();
    assert_eq!(stored, expect_total);
    ws.ok(&["verify-store"]);
    drop(srv);
}

/// A client for a server another thread owns.
struct ServerRef(String);

impl ServerRef {
    fn req(&self, method: &str, path: &str) -> Req {
        Server::req_to(&self.0, method, path)
    }
}

#[test]
fn stopping_the_server_lets_an_upload_in_its_ingest_finish() {
    let ws = example_workspace();
    add_user(&ws, "eva", &["--role", "evaluator", "--org", "测评机构A"]);
    let token = ws
        .ok(&["user", "token", "eva"])
        .split_whitespace()
        .last()
        .unwrap()
        .to_string();
    ws.ok(&[
        "assign",
        "--round",
        "2018-R1",
        "--org",
        "测评机构A",
        "--streets",
        STREETS_A,
    ]);
    // The ingest pauses 3 s before its commit: SIGTERM lands inside it.
    let mut srv = Server::start_env(&ws, &[], &[("MANYI_TEST_PAUSE_BEFORE_COMMIT_MS", "3000")]);
    let addr = srv.addr.clone();
    let bytes = std::fs::read(data("evaluator-a-template-utf8.csv")).unwrap();
    let h = std::thread::spawn(move || {
        ServerRef(addr)
            .req("POST", "/api/v1/rounds/2018-R1/deliveries")
            .bearer(&token)
            .multipart(Some(("a.csv", &bytes)), &[])
            .send()
    });
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let status = srv.stop();
    assert!(
        status.success(),
        "server exit: {status:?}; {}",
        srv.stderr.lock().unwrap()
    );
    let r = h.join().unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(ws.stored_deliveries(), 1);
    ws.ok(&["verify-store"]);
}

/// The rows of a CSV file with the given column, as (street_code, value) pairs.
fn csv_column(path: &std::path::Path, key: &str, col: &str) -> Vec<(String, String)> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let h = r.headers().unwrap().clone();
    let (k, c) = (
        h.iter()
            .position(|x| x.trim_start_matches('\u{feff}') == key)
            .unwrap(),
        h.iter().position(|x| x == col).unwrap(),
    );
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            (rec[k].to_string(), rec[c].to_string())
        })
        .collect()
}

#[test]
fn a_street_sees_its_own_published_results_and_nothing_else() {
    let w = world_with(&[]);
    // Streets 1–4 delivered (a correction of the messy file), so there is a ranking.
    let template = std::fs::read(data("evaluator-a-template-utf8.csv")).unwrap();
    let r = w
        .srv
        .req("POST", "/api/v1/rounds/2018-R1/deliveries")
        .bearer(&w.tokens[2])
        .multipart(
            Some(("evaluator-a-template-utf8.csv", &template)),
            &[("replaces", &w.delivery_a)],
        )
        .send();
    assert_eq!(r.status, 201, "{}", r.text());
    w.ws.ok(&["score", "--round", "2018-R1"]);
    let street = &w.sessions[4];
    let office = &w.sessions[1];
    let reports = w.ws.path().join("reports/2018-R1");
    // Independent of the portal: which communities are whose, from the score's CSV.
    let communities = csv_column(
        &reports.join("community_scores.csv"),
        "street_code",
        "community_name",
    );
    let own: Vec<&String> = communities
        .iter()
        .filter(|(s, _)| s == "530103001")
        .map(|(_, n)| n)
        .collect();
    let others: Vec<&String> = communities
        .iter()
        .filter(|(s, _)| s != "530103001")
        .map(|(_, n)| n)
        .collect();
    assert!(!own.is_empty() && !others.is_empty());
    let get = |s: &Session, p: &str| w.srv.req("GET", p).cookie(s).send();
    let api = |t: &str, p: &str| w.srv.req("GET", p).bearer(t).send();
    // Not published yet: everything answers as missing.
    for p in [
        "/street/2018-R1",
        "/street/2018-R1/charts/ranking.svg",
        "/street/2018-R1/tables/communities.csv",
    ] {
        assert_eq!(get(street, p).status, 404, "{p} before publication");
    }
    assert_eq!(
        api(
            &w.tokens[4],
            "/api/v1/streets/530103001/scores?period=2018-R1"
        )
        .status,
        404
    );
    assert!(get(street, "/").text().contains("目前还没有已发布的结果"));
    // The office publishes from the results page: first what will happen, then the
    // confirmed publication. Nothing is published before the confirmation.
    let ask = w
        .srv
        .req("POST", "/results/2018-R1/publish")
        .cookie(office)
        .form(&[("csrf", &office.csrf)])
        .send();
    assert_eq!(ask.status, 200, "{}", ask.text());
    let undecided = manyi::lifecycle::undecided(
        &manyi::workspace::Workspace::open(w.ws.path()).unwrap(),
        &"2018-R1".parse().unwrap(),
    )
    .unwrap()
    .0;
    let streets = std::fs::read_to_string(w.ws.file("surveys/frame.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next().map(str::to_string))
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let text = ask.text();
    assert!(
        text.contains(&format!("将向 {streets} 个街道发布")) && text.contains("确认发布"),
        "{text}"
    );
    if undecided > 0 {
        assert!(
            text.contains(&format!("仍有 {undecided} 名访问员的质量标记未决定")),
            "{text}"
        );
    } else {
        assert!(text.contains("质量标记均已决定"), "{text}");
    }
    assert!(
        get(street, "/").text().contains("目前还没有已发布的结果"),
        "not yet"
    );
    let r = w
        .srv
        .req("POST", "/results/2018-R1/publish")
        .cookie(office)
        .form(&[("csrf", office.csrf.as_str()), ("confirm", "yes")])
        .send();
    assert_eq!(r.status, 303, "{}", r.text());
    let home = get(street, "/").text();
    assert!(home.contains("/street/2018-R1"), "{home}");
    let page = get(street, "/street/2018-R1");
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(html.contains("拓东街道"));
    for n in &own {
        assert!(html.contains(n.as_str()), "own community {n} missing");
    }
    for n in &others {
        assert!(
            !html.contains(n.as_str()),
            "another street's community {n} shown"
        );
    }
    // The district ranking is shown by default: other streets' names, own row marked.
    assert!(html.contains("鼓楼街道") && html.contains("class=\"own\""));
    // Own communities chart: no other street in it.
    let chart = get(street, "/street/2018-R1/charts/communities.svg");
    assert_eq!(chart.status, 200);
    assert_eq!(chart.header("content-type"), Some("image/svg+xml"));
    assert!(!chart.text().contains("鼓楼街道"));
    assert_eq!(get(street, "/street/2018-R1/charts/nope.svg").status, 404);
    assert_eq!(
        get(street, "/street/2018-R1/tables/../../manyi.toml").status,
        404
    );
    // A round has no deduction table.
    assert_eq!(
        get(street, "/street/2018-R1/tables/deductions.csv").status,
        404
    );
    // The CSV: own rows only, the same numbers as the score's CSV.
    let t = get(street, "/street/2018-R1/tables/communities.csv");
    assert_eq!(t.status, 200);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.csv"), t.text()).unwrap();
    let got = csv_column(&dir.path().join("t.csv"), "community_code", "score");
    let want: Vec<(String, String)> = csv_column(
        &reports.join("community_scores.csv"),
        "community_code",
        "score",
    )
    .into_iter()
    .filter(|(c, _)| c.starts_with("530103001"))
    .collect();
    assert_eq!(got, want);
    // The API: own street's score as in street_scores.csv; another street is missing.
    let j = api(
        &w.tokens[4],
        "/api/v1/streets/530103001/scores?period=2018-R1",
    );
    assert_eq!(j.status, 200, "{}", j.text());
    let want: f64 = csv_column(&reports.join("street_scores.csv"), "street_code", "score")
        .into_iter()
        .find(|(s, _)| s == "530103001")
        .unwrap()
        .1
        .parse()
        .unwrap();
    assert_eq!(j.json()["score"]["score"].as_f64(), Some(want));
    assert_eq!(j.json()["street_code"], "530103001");
    assert_eq!(
        api(
            &w.tokens[4],
            "/api/v1/streets/530103002/scores?period=2018-R1"
        )
        .status,
        404
    );
    assert_eq!(
        api(
            &w.tokens[4],
            "/api/v1/streets/530103001/scores?period=2018Q1"
        )
        .status,
        404
    );
    // The office sees any street, published or not.
    assert_eq!(
        api(
            &w.tokens[1],
            "/api/v1/streets/530103002/scores?period=2018-R1"
        )
        .status,
        200
    );
    for p in ["/street/2018", "/street/2019-R1", "/street/nonsense"] {
        assert_eq!(get(street, p).status, 404, "{p}");
    }
    // Without the district ranking (the rules decide), no other street at all.
    let rules = w.ws.path().join("scoring-rules/panlong-2018.toml");
    let mut text = std::fs::read_to_string(&rules).unwrap();
    text.push_str("\n[publication]\nshow_ranking = false\n");
    std::fs::write(&rules, text).unwrap();
    let html = get(street, "/street/2018-R1").text();
    assert!(
        html.contains("拓东街道") && !html.contains("鼓楼街道"),
        "ranking still shown"
    );
    assert_eq!(
        get(street, "/street/2018-R1/charts/ranking.svg").status,
        404
    );
    // Unpublished with a reason: missing again; both journalled with the account.
    let r = w
        .srv
        .req("POST", "/results/2018-R1/unpublish")
        .cookie(office)
        .form(&[("csrf", &office.csrf), ("reason", "")])
        .send();
    assert_eq!(r.status, 422, "a reason is required");
    let r = w
        .srv
        .req("POST", "/results/2018-R1/unpublish")
        .cookie(office)
        .form(&[("csrf", &office.csrf), ("reason", "指标数据有误")])
        .send();
    assert_eq!(r.status, 303);
    assert_eq!(get(street, "/street/2018-R1").status, 404);
    // The copy is gone and the journal says so: the store checks out.
    assert!(!w.ws.file("surveys/store/published/2018-R1").exists());
    w.ws.ok(&["verify-store"]);
    // Published again, twice: the second copy replaces the first; still consistent.
    w.ws.ok(&["publish", "2018-R1"]);
    w.ws.ok(&["publish", "2018-R1"]);
    w.ws.ok(&["verify-store"]);
    assert_eq!(get(street, "/street/2018-R1").status, 200);
    let journal = w.ws.ok(&["journal", "--json"]);
    assert!(journal.contains("\"publish\"") && journal.contains("\"unpublish\""));
    assert!(journal.contains("指标数据有误"));
}

#[test]
fn jobs_run_one_at_a_time_in_order_and_report_their_end() {
    let w = world_with(&[]);
    let t = &w.tokens[1];
    let post = |p: &str| {
        let r = w.srv.req("POST", p).bearer(t).send();
        assert_eq!(r.status, 202, "{p}: {}", r.text());
        r.json()["job"].as_u64().unwrap()
    };
    let ids = [
        post("/api/v1/rounds/2018-R1/score"),
        post("/api/v1/periods/2018Q1/evaluate"),
        post("/api/v1/rounds/2018-R7/score"),
        post("/api/v1/periods/2018-R1/report"),
    ];
    assert_eq!(ids, [1, 2, 3, 4]);
    // Bounded polling: at most one job runs at any time; queued ones have positions.
    let mut done = false;
    for _ in 0..600 {
        let all = w.srv.req("GET", "/api/v1/jobs").bearer(t).send().json();
        let all = all.as_array().unwrap().clone();
        let running = all.iter().filter(|j| j["status"] == "running").count();
        assert!(running <= 1, "{all:?}");
        let positions: Vec<u64> = all.iter().filter_map(|j| j["position"].as_u64()).collect();
        let mut sorted = positions.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (1..=positions.len() as u64).collect::<Vec<_>>());
        if all
            .iter()
            .all(|j| j["status"] == "done" || j["status"] == "failed")
        {
            done = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(done, "the jobs did not finish in 60 s");
    let job = |id: u64| {
        w.srv
            .req("GET", &format!("/api/v1/jobs/{id}"))
            .bearer(t)
            .send()
            .json()
    };
    assert_eq!(job(1)["status"], "done", "{}", job(1));
    assert!(
        job(1)["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "reports/2018-R1/street_scores.csv")
    );
    assert_eq!(job(1)["progress"], 1.0);
    // A round without deliveries fails with a reason, and the queue goes on.
    assert_eq!(job(3)["status"], "failed");
    assert!(job(3)["error"].as_str().is_some_and(|e| !e.is_empty()));
    assert_eq!(job(4)["status"], "done", "{}", job(4));
    assert!(w.ws.path().join("reports/2018-R1/review.pdf").is_file());
    // In order: each started after the one before finished.
    for k in 1..4 {
        let (a, b) = (job(k), job(k + 1));
        assert!(
            a["finished"].as_str().unwrap() <= b["started"].as_str().unwrap(),
            "{a} {b}"
        );
    }
    // Journalled with the account that asked.
    let journal = w.ws.ok(&["journal", "--json"]);
    assert!(
        journal.contains("\"score\"") && journal.contains("\"actor\": \"office\"")
            || journal.contains("\"actor\":\"office\"")
    );
    assert_eq!(
        w.srv.req("GET", "/api/v1/jobs/99").bearer(t).send().status,
        404
    );
}

#[test]
fn indicators_upload_is_checked_like_evaluate_and_journalled() {
    let w = world_with(&[]);
    let office = &w.sessions[1];
    let good = common::indicators_from_template(&w.ws, "2018Q2");
    let send = |period: &str, name: &str, body: &[u8]| {
        w.srv
            .req("POST", &format!("/indicators?csrf={}", office.csrf))
            .cookie(office)
            .multipart(Some((name, body)), &[("period", period)])
            .send()
    };
    // A value that is not a number: refused, naming the line; nothing stored.
    let mut lines: Vec<String> = good.lines().map(String::from).collect();
    let bad_line = 4;
    let mut cells: Vec<String> = lines[bad_line - 1].split(',').map(String::from).collect();
    *cells.last_mut().unwrap() = "很多".into();
    lines[bad_line - 1] = cells.join(",");
    let r = send("2018Q2", "坏.csv", lines.join("\n").as_bytes());
    assert_eq!(r.status, 422, "{}", r.text());
    let text = r.text();
    assert!(text.contains(&format!("坏.csv 第 {bad_line} 行")), "{text}");
    assert!(!w.ws.file("surveys/indicators/2018Q2.csv").exists());
    // The same file for another period: refused (its period column says 2018Q2).
    let r = send("2018Q3", "q.csv", good.as_bytes());
    assert_eq!(
        r.status,
        422,
        "{}\n{}",
        r.text(),
        w.srv.stderr.lock().unwrap()
    );
    // Good, in GBK as Excel saves it: stored as UTF-8, the same values, journalled.
    let (gbk, _, _) = encoding_rs::GBK.encode(&good);
    let r = send("2018Q2", "指标.csv", &gbk);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("已保存"));
    let stored = w.ws.read("surveys/indicators/2018Q2.csv");
    assert_eq!(
        stored.trim_start_matches('\u{feff}').trim(),
        good.trim_start_matches('\u{feff}').trim()
    );
    let journal = w.ws.ok(&["journal", "--json"]);
    assert!(journal.contains("\"indicators\"") && journal.contains("指标.csv"));
    // Evaluators and streets cannot.
    for k in [2, 4] {
        let s = &w.sessions[k];
        let r = w
            .srv
            .req("POST", &format!("/indicators?csrf={}", s.csrf))
            .cookie(s)
            .multipart(Some(("x.csv", good.as_bytes())), &[("period", "2018Q2")])
            .send();
        assert_eq!(r.status, 403);
    }
}

/// The values of one column of the page's coverage table, top to bottom.
fn coverage_column(html: &str, col: usize) -> Vec<String> {
    let i = html.find("id=\"coverage\"").expect("the coverage table");
    let table = &html[i..html[i..].find("</table>").unwrap() + i];
    table
        .split("<tr")
        .skip(2)
        .map(|row| {
            let c = row.split("<td").nth(col + 1).unwrap();
            let v = &c[c.find('>').unwrap() + 1..];
            v[..v.find('<').unwrap()].to_string()
        })
        .collect()
}

#[test]
fn the_round_desk_sorts_coverage_and_counts_what_the_evaluator_sees() {
    let w = world_with(&[]);
    let office = &w.sessions[1];
    let get = |p: &str| w.srv.req("GET", p).cookie(office).send().text();
    let by_valid: Vec<u64> = coverage_column(&get("/rounds/2018-R1?sort=valid"), 3)
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(
        by_valid.len() > 2 && by_valid.windows(2).all(|p| p[0] <= p[1]),
        "{by_valid:?}"
    );
    assert!(by_valid.iter().any(|v| *v > 0));
    let missing: Vec<String> = coverage_column(&get("/rounds/2018-R1?sort=missing"), 5);
    let n: Vec<u64> = missing.iter().map(|v| v.parse().unwrap_or(0)).collect();
    assert!(n.windows(2).all(|p| p[0] >= p[1]), "{missing:?}");
    // The office's total over the evaluator's streets equals what the evaluator sees.
    let codes = coverage_column(&get("/rounds/2018-R1"), 1);
    let valid = coverage_column(&get("/rounds/2018-R1"), 3);
    let office_a: u64 = codes
        .iter()
        .zip(&valid)
        .filter(|(c, _)| STREETS_A.split(',').any(|s| c.starts_with(s)))
        .map(|(_, v)| v.parse::<u64>().unwrap())
        .sum();
    let eva = w
        .srv
        .req("GET", "/rounds/2018-R1")
        .cookie(&w.sessions[2])
        .send()
        .text();
    let eva_total: u64 = coverage_column(&eva, 3)
        .iter()
        .map(|v| v.parse::<u64>().unwrap())
        .sum();
    assert_eq!(office_a, eva_total);
    assert!(eva_total > 0);
}

#[test]
fn coverage_leaves_out_what_the_office_excluded() {
    let w = world_with(&[]);
    let template = std::fs::read(data("evaluator-a-template-utf8.csv")).unwrap();
    let r = w
        .srv
        .req("POST", "/api/v1/rounds/2018-R1/deliveries")
        .bearer(&w.tokens[2])
        .multipart(
            Some(("evaluator-a-template-utf8.csv", &template)),
            &[("replaces", &w.delivery_a)],
        )
        .send();
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        r.json()["valid"],
        r.json()["rows_read"],
        "every row of the template is valid"
    );
    // Independently, from the file: the first interviewer's questionnaires per community.
    let mut rd = csv::Reader::from_reader(&template[..]);
    let recs: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    let who = recs[0][5].to_string();
    let mut want: std::collections::BTreeMap<String, u64> = Default::default();
    for r in recs.iter().filter(|r| r[5] == *who) {
        *want.entry(r[1].to_string()).or_default() += 1;
    }
    let coverage = |t: &str| -> std::collections::BTreeMap<String, (u64, u64)> {
        let j = w
            .srv
            .req("GET", "/api/v1/rounds/2018-R1/coverage")
            .bearer(t)
            .send()
            .json();
        j["communities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["community_code"].as_str().unwrap().to_string(),
                    (
                        c["valid"].as_u64().unwrap(),
                        c["excluded"].as_u64().unwrap(),
                    ),
                )
            })
            .collect()
    };
    let before = coverage(&w.tokens[1]);
    w.ws.ok(&[
        "decide",
        "--round",
        "2018-R1",
        "--interviewer",
        &who,
        "--exclude",
        "--reason",
        "回访核实",
    ]);
    // The office and the evaluator (its own delivery) both see it.
    for t in [&w.tokens[1], &w.tokens[2]] {
        let after = coverage(t);
        for (code, (v, x)) in &after {
            let w_ = want.get(code).copied().unwrap_or(0);
            assert_eq!(*x, w_, "{code} excluded");
            assert_eq!(*v + w_, before[code].0, "{code} valid");
        }
    }
    // Organisation B has no part in it.
    let b = coverage(&w.tokens[3]);
    assert!(b.values().all(|(_, x)| *x == 0));
    let page = w
        .srv
        .req("GET", "/rounds/2018-R1")
        .cookie(&w.sessions[1])
        .send()
        .text();
    assert!(page.contains("（剔除 "), "the desk shows the exclusions");
}

#[test]
fn the_office_assigns_streets_from_the_round_desk() {
    let w = world_with(&[]);
    let office = &w.sessions[1];
    let post = |org: &str, streets: &[&str]| {
        let mut f: Vec<(String, String)> = vec![
            ("csrf".into(), office.csrf.clone()),
            ("org".into(), org.into()),
        ];
        f.extend(streets.iter().map(|s| (format!("s_{s}"), "1".to_string())));
        let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        w.srv
            .req("POST", "/rounds/2018-R1/assignments")
            .cookie(office)
            .form(&pairs)
            .send()
    };
    let page = w
        .srv
        .req("GET", "/rounds/2018-R1")
        .cookie(office)
        .send()
        .text();
    assert!(page.contains("测评机构A") && page.contains("name=\"s_530103001\""));
    // A street of another organisation is refused, and nothing changes.
    let r = post("测评机构B", &["530103001", "530103007"]);
    assert_eq!(r.status, 422, "{}", r.text());
    // A gives up 530103006; B takes it.
    let a = [
        "530103001",
        "530103002",
        "530103003",
        "530103004",
        "530103005",
    ];
    assert_eq!(post("测评机构A", &a).status, 303);
    let b = [
        "530103006",
        "530103007",
        "530103008",
        "530103009",
        "530103010",
        "530103011",
        "530103012",
    ];
    assert_eq!(post("测评机构B", &b).status, 303);
    let streets_of = |t: &str| -> std::collections::BTreeSet<String> {
        let j = w
            .srv
            .req("GET", "/api/v1/rounds/2018-R1/coverage")
            .bearer(t)
            .send()
            .json();
        j["communities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["street_code"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(!streets_of(&w.tokens[2]).contains("530103006"));
    assert!(streets_of(&w.tokens[3]).contains("530103006"));
    assert!(
        w.ws.ok(&["journal", "--json"])
            .matches("\"assign\"")
            .count()
            >= 4
    );
}

// ---------------------------------------------------------------- issue 21: resilience

/// An evaluator `eva` (测评机构A, streets A assigned in 2018-R1) with an API token;
/// returns (one-time password, token).
fn evaluator_eva(ws: &Workspace) -> (String, String) {
    let once = add_user(ws, "eva", &["--role", "evaluator", "--org", "测评机构A"]);
    ws.ok(&[
        "assign",
        "--round",
        "2018-R1",
        "--org",
        "测评机构A",
        "--streets",
        STREETS_A,
    ]);
    let token = ws
        .ok(&["user", "token", "eva"])
        .split_whitespace()
        .last()
        .unwrap()
        .to_string();
    (once, token)
}

/// Waits (at most 60 s) until the server's log shows `marker`.
fn wait_for_marker(srv: &Server, marker: &str) {
    for _ in 0..1200 {
        if srv.stderr.lock().unwrap().contains(marker) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!(
        "the server never said {marker}: {}",
        srv.stderr.lock().unwrap()
    );
}

#[test]
fn a_login_during_an_ingest_waits_for_no_one() {
    let ws = example_workspace();
    let (once_a, token) = evaluator_eva(&ws);
    let once_b = add_user(&ws, "evb", &["--role", "evaluator", "--org", "测评机构B"]);
    // The ingest holds the store for 8 s before its commit.
    let srv = Server::start_env(
        &ws,
        &[],
        &[
            ("MANYI_TEST_PAUSE_BEFORE_COMMIT_MS", "8000"),
            ("MANYI_TEST_MARKERS", "1"),
        ],
    );
    let sa = first_login(&srv, "eva", &once_a, PW);
    let sb = first_login(&srv, "evb", &once_b, PW);
    let addr = srv.addr.clone();
    let bytes = std::fs::read(data("evaluator-a-template-utf8.csv")).unwrap();
    let upload = std::thread::spawn({
        let token = token.clone();
        move || {
            ServerRef(addr)
                .req("POST", "/api/v1/rounds/2018-R1/deliveries")
                .bearer(&token)
                .multipart(Some(("a.csv", &bytes)), &[])
                .send()
        }
    });
    wait_for_marker(&srv, "manyi-test-marker: ingest-locked");
    let started = std::time::Instant::now();
    let timed = |what: &'static str, f: Box<dyn FnOnce() -> u16 + Send>| {
        std::thread::spawn(move || {
            let t = std::time::Instant::now();
            let status = f();
            (what, status, t.elapsed())
        })
    };
    let a = ServerRef(srv.addr.clone());
    let mk = || ServerRef(srv.addr.clone());
    let (b, c, d, e, f) = (mk(), mk(), mk(), mk(), mk());
    let (sa2, sb2, token2) = (sa.clone(), sb.clone(), token.clone());
    let checks = vec![
        timed(
            "right login",
            Box::new(move || {
                a.req("POST", "/login")
                    .form(&[("name", "evb"), ("password", PW)])
                    .send()
                    .status
            }),
        ),
        timed(
            "wrong login of an account",
            Box::new(move || {
                b.req("POST", "/login")
                    .form(&[("name", "evb"), ("password", "not-the-password")])
                    .send()
                    .status
            }),
        ),
        timed(
            "wrong login of no account",
            Box::new(move || {
                c.req("POST", "/login")
                    .form(&[("name", "nobody"), ("password", "not-the-password")])
                    .send()
                    .status
            }),
        ),
        timed(
            "logout",
            Box::new(move || {
                d.req("POST", "/logout")
                    .cookie(&sb2)
                    .form(&[("csrf", &sb2.csrf)])
                    .send()
                    .status
            }),
        ),
        timed(
            "a page",
            Box::new(move || e.req("GET", "/rounds").cookie(&sa2).send().status),
        ),
        timed(
            "an API call",
            Box::new(move || {
                f.req("GET", "/api/v1/rounds/2018-R1/deliveries")
                    .bearer(&token2)
                    .send()
                    .status
            }),
        ),
    ];
    let want = [303, 401, 401, 303, 200, 200];
    for (h, w) in checks.into_iter().zip(want) {
        let (what, status, took) = h.join().unwrap();
        assert_eq!(status, w, "{what}");
        assert!(
            took < std::time::Duration::from_secs(3),
            "{what} waited {took:?} behind the ingest"
        );
    }
    assert!(
        !upload.is_finished() && started.elapsed() < std::time::Duration::from_secs(6),
        "the ingest was over before the checks: they proved nothing"
    );
    let r = upload.join().unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    // The account events reach the journal once the store is free.
    let j: Vec<serde_json::Value> = serde_json::from_str(&ws.ok(&["journal", "--json"])).unwrap();
    let has = |action: &str, actor: &str| {
        j.iter()
            .any(|e| e["action"] == action && e["actor"] == actor)
    };
    assert!(has("login-failed", "evb") && has("logout", "evb") && has("login", "evb"));
    ws.ok(&["verify-store"]);
}

#[test]
fn after_login_only_a_path_of_this_site_is_followed() {
    let ws = example_workspace();
    let once = add_user(&ws, "office", &["--role", "office"]);
    let srv = Server::start(&ws, &[]);
    first_login(&srv, "office", &once, PW);
    let bad = [
        "//evil.example",
        "/\t/evil.example",
        "/%09/evil.example",
        "/%2509/evil.example",
        "/\\evil.example",
        "/%5Cevil.example",
        "/%2F/evil.example",
        "%2F%2Fevil.example",
        "https://evil.example/",
        "javascript:alert(1)",
        " //evil.example",
        "/\r\nSet-Cookie: x=1",
        "/%0d%0aSet-Cookie:x=1",
        "/\u{3000}/evil.example",
    ];
    for next in bad {
        let r = srv
            .req("POST", "/login")
            .form(&[("name", "office"), ("password", PW), ("next", next)])
            .send();
        assert_eq!(r.status, 303, "{next:?}");
        assert_eq!(r.header("location"), Some("/"), "next = {next:?}");
        // The login form carries only a safe value too.
        let q: String = next.bytes().map(|b| format!("%{b:02X}")).collect();
        let page = srv.get(&format!("/login?next={q}")).text();
        assert!(
            page.contains(r#"name="next" value="/""#),
            "{next:?}: {page}"
        );
    }
    for good in ["/deliveries", "/rounds/2018-R1?tab=coverage"] {
        let r = srv
            .req("POST", "/login")
            .form(&[("name", "office"), ("password", PW), ("next", good)])
            .send();
        assert_eq!(r.header("location"), Some(good));
    }
}

#[test]
fn wrong_passwords_are_limited_per_address_too() {
    let ws = example_workspace();
    let once = add_user(&ws, "office", &["--role", "office"]);
    let wrong = |srv: &Server, name: &str, xff: Option<&str>| {
        let mut r = srv
            .req("POST", "/login")
            .form(&[("name", name), ("password", "not-the-password")]);
        if let Some(x) = xff {
            r = r.header("X-Forwarded-For", x);
        }
        r.send().status
    };
    {
        // Behind a trusted proxy (127.0.0.1 here), the forwarded address counts.
        let srv = Server::start(
            &ws,
            &[
                "--failures-per-address",
                "4",
                "--trusted-proxy",
                "127.0.0.1",
            ],
        );
        let s = first_login(&srv, "office", &once, PW);
        drop(s);
        for i in 0..4 {
            assert_eq!(wrong(&srv, &format!("nobody{i}"), None), 401, "attempt {i}");
        }
        // Each name is new (the per-account limit never fires): the address does.
        assert_eq!(wrong(&srv, "nobody9", None), 429);
        let r = srv
            .req("POST", "/login")
            .form(&[("name", "office"), ("password", PW)])
            .send();
        assert_eq!(r.status, 429, "the right password from a blocked address");
        assert!(r.header("retry-after").is_some());
        // Another client behind the proxy is not blocked; the proxy's own entry and
        // the client's claims before it do not decide the address.
        let r = srv
            .req("POST", "/login")
            .header("X-Forwarded-For", "198.51.100.7, 203.0.113.9")
            .form(&[("name", "office"), ("password", PW)])
            .send();
        assert_eq!(r.status, 303, "{}", r.text());
        assert_eq!(wrong(&srv, "nobody10", Some("127.0.0.1, 203.0.113.9")), 401);
    }
    // Without --trusted-proxy the header is the client's own claim: ignored.
    let srv = Server::start(&ws, &["--failures-per-address", "4"]);
    for i in 0..4 {
        let xff = format!("192.0.2.{i}");
        assert_eq!(wrong(&srv, &format!("x{i}"), Some(&xff)), 401);
    }
    assert_eq!(wrong(&srv, "x9", Some("192.0.2.200")), 429);
}

#[test]
fn slow_headers_are_closed_and_open_connections_are_capped() {
    use std::io::{Read, Write};
    let ws = example_workspace();
    let srv = Server::start(&ws, &["--header-timeout", "1", "--max-connections", "4"]);
    // Headers never finished: closed after the timeout.
    let mut s = std::net::TcpStream::connect(&srv.addr).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let t = std::time::Instant::now();
    let mut buf = Vec::new();
    let r = s.read_to_end(&mut buf);
    let took = t.elapsed();
    assert!(
        r.is_ok() || took < std::time::Duration::from_secs(5),
        "the connection stayed open: {r:?} after {took:?}"
    );
    assert!(
        took < std::time::Duration::from_secs(5),
        "closed only after {took:?}"
    );
    assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));
    // Four idle connections take every slot: the fifth is answered 503 at once.
    let idle: Vec<_> = (0..4)
        .map(|_| std::net::TcpStream::connect(&srv.addr).unwrap())
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let r = srv.get("/healthz");
    assert_eq!(r.status, 503);
    // They time out too; then the server answers again.
    std::thread::sleep(std::time::Duration::from_millis(1800));
    assert_eq!(srv.get("/healthz").status, 200);
    drop(idle);
}

#[test]
fn a_reset_keeps_a_disabled_account_disabled_and_revokes_its_tokens() {
    let ws = example_workspace();
    let (once, token) = evaluator_eva(&ws);
    let srv = Server::start(&ws, &[]);
    let api = |t: &str| srv.req("GET", "/api/v1/rounds").bearer(t).send().status;
    assert_eq!(api(&token), 200);
    drop(once);
    // The admin's reset revokes the account's tokens (and says so).
    let out = ws.ok(&["user", "passwd", "eva"]);
    assert!(out.contains("已撤销该账户的 1 个 API 令牌"), "{out}");
    let pw = out
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .last()
        .unwrap()
        .to_string();
    assert_eq!(api(&token), 401, "a token survived the reset");
    // A change by the holder keeps a token made since.
    let token2 = ws
        .ok(&["user", "token", "eva"])
        .split_whitespace()
        .last()
        .unwrap()
        .to_string();
    first_login(&srv, "eva", &pw, PW);
    assert_eq!(api(&token2), 200, "the holder's own change revoked a token");
    // A reset of a disabled account leaves it disabled, and says so.
    ws.ok(&["user", "disable", "eva"]);
    let out = ws.ok(&["user", "passwd", "eva"]);
    assert!(out.contains("仍处于停用状态"), "{out}");
    let pw = out
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .last()
        .unwrap()
        .to_string();
    let login = |pw: &str| {
        srv.req("POST", "/login")
            .form(&[("name", "eva"), ("password", pw)])
            .send()
    };
    assert_eq!(
        login(&pw).status,
        401,
        "a reset re-enabled a disabled account"
    );
    let list: serde_json::Value =
        serde_json::from_str(&ws.ok(&["user", "list", "--json"])).unwrap();
    let eva = list
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "eva")
        .unwrap();
    assert_eq!(eva["disabled"], true);
    ws.ok(&["user", "enable", "eva"]);
    let r = login(&pw);
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/account/password"));
}

#[test]
fn guesses_of_the_current_password_are_throttled() {
    let ws = example_workspace();
    let once = add_user(&ws, "office", &["--role", "office"]);
    let srv = Server::start(&ws, &[]);
    let s = first_login(&srv, "office", &once, PW);
    let change = |old: &str| {
        srv.req("POST", "/account/password")
            .cookie(&s)
            .form(&[
                ("csrf", &s.csrf),
                ("old", old),
                ("new", "Another-Pass-2"),
                ("again", "Another-Pass-2"),
            ])
            .send()
    };
    for i in 0..5 {
        let r = change(&format!("guess-{i}"));
        assert_eq!(r.status, 422, "guess {i}");
        assert!(r.text().contains("当前密码不正确"));
    }
    let r = change(PW);
    assert_eq!(
        r.status,
        429,
        "the right password after five guesses: {}",
        r.text()
    );
    assert!(r.text().contains("分钟后再试"));
    // The same count as logins: the account is locked for logins as well.
    let r = srv
        .req("POST", "/login")
        .form(&[("name", "office"), ("password", PW)])
        .send();
    assert_eq!(r.status, 429);
}

#[test]
fn a_wrong_password_takes_as_long_for_an_account_as_for_no_account() {
    let ws = example_workspace();
    let (once, _) = evaluator_eva(&ws);
    drop(once);
    let srv = Server::start(&ws, &["--failures-per-address", "0"]);
    let time = |name: &str| {
        let t = std::time::Instant::now();
        let r = srv
            .req("POST", "/login")
            .form(&[("name", name), ("password", "not-the-password")])
            .send();
        assert_eq!(r.status, 401);
        t.elapsed().as_secs_f64()
    };
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..4 {
        known.push(time("eva"));
        unknown.push(time(&format!("nobody{i}")));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        (v[1] + v[2]) / 2.0
    };
    let (k, u) = (median(&mut known), median(&mut unknown));
    // Both wait for the floor (0.4 s by default), which hides the work that differs.
    assert!(k >= 0.39 && u >= 0.39, "{k:.3} s and {u:.3} s: no floor");
    assert!(
        (k - u).abs() < 0.03,
        "an existing account answers in {k:.3} s, none in {u:.3} s"
    );
}

#[test]
fn every_api_error_is_json_with_a_code() {
    let ws = example_workspace();
    let (_, token) = evaluator_eva(&ws);
    let srv = Server::start(&ws, &[]);
    let id = "ab".repeat(32);
    let cases: Vec<(&str, Req)> = vec![
        (
            "multipart without a boundary",
            srv.req("POST", "/api/v1/rounds/2018-R1/deliveries")
                .bearer(&token)
                .header("Content-Type", "multipart/form-data"),
        ),
        (
            "a broken multipart body",
            srv.req("POST", "/api/v1/rounds/2018-R1/deliveries")
                .bearer(&token)
                .header("Content-Type", "multipart/form-data; boundary=zzz")
                .header("X-Pad", "1"),
        ),
        (
            "a body over the limit",
            srv.req("DELETE", &format!("/api/v1/deliveries/{id}"))
                .bearer(&token)
                .json(&serde_json::json!({"reason": "x".repeat(3 << 20)})),
        ),
        (
            "a bad query",
            srv.req(
                "GET",
                "/api/v1/streets/530103001/scores?period=%FF&period=2018",
            )
            .bearer(&token),
        ),
        ("no token", srv.req("GET", "/api/v1/rounds")),
        (
            "a method the route has not",
            srv.req("PUT", "/api/v1/rounds").bearer(&token),
        ),
        (
            "no such route",
            srv.req("GET", "/api/v1/nothing").bearer(&token),
        ),
    ];
    for (what, req) in cases {
        let r = req.send();
        assert!(r.status >= 400, "{what}: {}", r.status);
        assert!(
            r.header("content-type")
                .unwrap_or("")
                .starts_with("application/json"),
            "{what}: {} {:?} {}",
            r.status,
            r.header("content-type"),
            r.text()
        );
        let j = r.json();
        assert!(
            j["code"].as_str().is_some_and(|c| !c.is_empty()) && j["error"].is_string(),
            "{what}: {j}"
        );
    }
    // A page's framework refusal is a page in Chinese, not the framework's text.
    let r = srv
        .req("POST", "/login")
        .header("Content-Type", "text/plain")
        .send();
    assert!(r.status >= 400);
    assert!(
        r.header("content-type").unwrap().starts_with("text/html"),
        "{r:?}"
    );
    assert!(r.text().contains("lang=\"zh-CN\""));
}

#[test]
fn a_panic_is_a_500_with_an_id_and_never_its_text() {
    let ws = example_workspace();
    let (once, token) = evaluator_eva(&ws);
    let srv = Server::start_env(
        &ws,
        &[],
        &[("MANYI_TEST_PANIC_ON", "/rounds,/api/v1/rounds")],
    );
    let s = first_login(&srv, "eva", &once, PW);
    let r = srv.req("GET", "/rounds").cookie(&s).send();
    assert_eq!(r.status, 500);
    let page = r.text();
    assert!(
        page.contains("服务器内部错误") && !page.contains("secret"),
        "{page}"
    );
    let id = page
        .split("编号 ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let id = id.trim_end_matches(|c: char| !c.is_ascii_hexdigit());
    assert!(id.len() >= 8, "{page}");
    let r = srv.req("GET", "/api/v1/rounds").bearer(&token).send();
    assert_eq!(r.status, 500);
    let j = r.json();
    assert_eq!(j["code"], "internal");
    assert!(!j["error"].as_str().unwrap().contains("secret"), "{j}");
    // The id is in the server's log, with what happened; the server goes on.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let log = srv.stderr.lock().unwrap().clone();
    assert!(log.contains(id) && log.contains("secret"), "{log}");
    assert_eq!(srv.get("/healthz").status, 200);
    assert_eq!(srv.req("GET", "/deliveries").cookie(&s).send().status, 200);
}

#[test]
fn a_short_row_upload_is_stored_with_the_row_rejected_in_either_column_order() {
    let ws = example_workspace();
    let (_, token) = evaluator_eva(&ws);
    let srv = Server::start(&ws, &[]);
    let text = std::fs::read_to_string(data("evaluator-a-template-utf8.csv")).unwrap();
    let width = text.lines().next().unwrap().split(',').count();
    let id_last: Vec<usize> = (1..width).chain([0]).collect();
    let id_first: Vec<usize> = (0..width).collect();
    for (k, order) in [id_first, id_last].iter().enumerate() {
        let mut body = String::new();
        // Different rows each time (a repeated file would be a no-op).
        for (n, line) in text.lines().enumerate() {
            if n == 0 || (n > k * 20 && n <= k * 20 + 20) {
                let cells: Vec<&str> = line.split(',').collect();
                body.push_str(
                    &order
                        .iter()
                        .map(|&i| cells[i])
                        .collect::<Vec<_>>()
                        .join(","),
                );
                body.push('\n');
            }
        }
        body.push_str("合计,20\n");
        let r = srv
            .req("POST", "/api/v1/rounds/2018-R1/deliveries")
            .bearer(&token)
            .multipart(Some(("short.csv", body.as_bytes())), &[])
            .send();
        assert_eq!(r.status, 201, "order {k}: {}", r.text());
        let j = r.json();
        assert_eq!(j["accepted"], 20, "{j}");
        assert_eq!(j["rejected"], 1, "{j}");
    }
}

#[test]
fn a_body_that_never_arrives_is_refused_and_one_address_cannot_take_every_slot() {
    use std::io::{Read, Write};
    let ws = example_workspace();
    let srv = Server::start(
        &ws,
        &[
            "--body-timeout",
            "1",
            "--max-connections-per-address",
            "3",
            "--max-connections",
            "50",
        ],
    );
    // Three connections from one address take its share; the fourth is refused at
    // once while the server still has room for others.
    let held: Vec<_> = (0..3)
        .map(|_| std::net::TcpStream::connect(&srv.addr).unwrap())
        .collect();
    // (First, while no other connection of ours is open; the server accepts them in its
    // own time: a busy machine may take a moment.)
    let refused = (0..50).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        srv.get("/healthz").status == 503
    });
    assert!(refused, "a fourth connection from the address was served");
    drop(held);
    let served = (0..50).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        srv.get("/healthz").status == 200
    });
    assert!(served, "the address's slots were not given back");
    // A body promised and never sent: answered and closed after the pause, not held.
    let mut s = std::net::TcpStream::connect(&srv.addr).unwrap();
    s.write_all(
        b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\nname=a",
    )
    .unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let t = std::time::Instant::now();
    let mut buf = Vec::new();
    let r = s.read_to_end(&mut buf);
    let took = t.elapsed();
    assert!(r.is_ok(), "{r:?} after {took:?}");
    assert!(
        took < std::time::Duration::from_secs(5),
        "held for {took:?}"
    );
    let head = String::from_utf8_lossy(&buf);
    assert!(head.starts_with("HTTP/1.1 4"), "{head}");
}

#[test]
fn a_file_another_organisation_delivered_tells_nothing_of_it() {
    // The messy file is stored as 测评机构A's delivery; 测评机构B sends the same bytes.
    let w = world_with(&[]);
    let messy = std::fs::read(data("evaluator-a-messy.csv")).unwrap();
    let r = w
        .srv
        .req("POST", "/api/v1/rounds/2018-R1/deliveries")
        .bearer(&w.tokens[3])
        .multipart(Some(("copy.csv", &messy)), &[])
        .send();
    assert_eq!(r.status, 422, "{}", r.text());
    let text = r.text();
    for leak in [
        "rows_read",
        "communities",
        "quality",
        &w.delivery_a[..12],
        "530103001",
    ] {
        assert!(!text.contains(leak), "{leak} in {text}");
    }
    // Its own organisation still gets its receipt back (a repeated upload is a no-op).
    let r = w
        .srv
        .req("POST", "/api/v1/rounds/2018-R1/deliveries")
        .bearer(&w.tokens[2])
        .multipart(Some(("again.csv", &messy)), &[])
        .send();
    assert!(r.status == 200 || r.status == 201, "{}", r.text());
    assert_eq!(r.json()["status"], "already-ingested");
}

/// Every key anywhere in a JSON value.
fn keys_in(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                out.push(k.clone());
                keys_in(x, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| keys_in(x, out)),
        _ => {}
    }
}

#[test]
fn an_evaluator_reads_outcomes_not_evidence() {
    let ws = example_workspace();
    let (eva_once, token) = evaluator_eva(&ws);
    let office_once = add_user(&ws, "office", &["--role", "office"]);
    let office_token = ws
        .ok(&["user", "token", "office"])
        .split_whitespace()
        .last()
        .unwrap()
        .to_string();
    // A delivery with a fabricating interviewer the comparison singles out.
    let file = ws.file("fab.csv");
    ws.ok(&[
        "simulate",
        "--round",
        "2018-R1",
        "--format",
        "csv",
        "--per-community",
        "12",
        "--streets",
        STREETS_A,
        "--seed",
        "fab",
        "--fabricator",
        "--out",
        file.to_str().unwrap(),
    ]);
    let srv = Server::start(&ws, &[]);
    let r = srv
        .req("POST", "/api/v1/rounds/2018-R1/deliveries")
        .bearer(&token)
        .multipart(Some(("fab.csv", &std::fs::read(&file).unwrap())), &[])
        .send();
    assert_eq!(r.status, 201, "{}", r.text());
    let up = r.json();
    let id = up["sha256"].as_str().unwrap().to_string();
    let evidence = [
        "indicators",
        "p_value",
        "z",
        "score_z",
        "duration_z",
        "score_difference",
        "reasons",
        "reason_codes",
    ];
    let no_evidence = |what: &str, v: &serde_json::Value| {
        let mut keys = Vec::new();
        keys_in(v, &mut keys);
        for k in evidence {
            assert!(!keys.iter().any(|x| x == k), "{what}: {k} in {v}");
        }
    };
    // The upload's answer and the delivery as the evaluator reads them.
    let flagged = up["quality"]["flagged_interviewers"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        !flagged.is_empty(),
        "the fabricator was not singled out: {up}"
    );
    no_evidence("upload", &up);
    assert!(
        flagged.iter().all(|f| f["status"] == "under_review"),
        "{up}"
    );
    let mine = srv
        .req("GET", &format!("/api/v1/deliveries/{id}"))
        .bearer(&token)
        .send();
    assert_eq!(mine.status, 200);
    no_evidence("delivery", &mine.json());
    // The office's reading of the same delivery has the evidence.
    let office = srv
        .req("GET", &format!("/api/v1/deliveries/{id}"))
        .bearer(&office_token)
        .send();
    assert_eq!(office.status, 200);
    let of = &office.json()["receipt"]["quality"]["flagged_interviewers"][0];
    assert!(
        of["p_value"].is_number() && of["indicators"].is_array(),
        "{of}"
    );
    // The receipt page: the interviewer is under review, without p or reasons.
    let iv = flagged[0]["interviewer_id"].as_str().unwrap().to_string();
    let session = first_login(&srv, "eva", &eva_once, PW);
    let page = srv
        .req("GET", &format!("/deliveries/{id}"))
        .cookie(&session)
        .send();
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(html.contains(&iv) && html.contains("复核中"), "{html}");
    assert!(!html.contains("p 值") && !html.contains("z ="), "{html}");
    // Once the office decides, the evaluator reads the outcome and its reason.
    ws.ok(&[
        "decide",
        "--round",
        "2018-R1",
        "--interviewer",
        &iv,
        "--exclude",
        "--reason",
        "回访核实为编造",
    ]);
    let after = srv
        .req("GET", &format!("/api/v1/deliveries/{id}"))
        .bearer(&token)
        .send()
        .json();
    no_evidence("delivery after the decision", &after);
    let f = after["receipt"]["quality"]["flagged_interviewers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["interviewer_id"] == iv.as_str())
        .unwrap()
        .clone();
    assert_eq!(f["status"], "excluded", "{f}");
    assert_eq!(f["reason"], "回访核实为编造", "{f}");
    let html = srv
        .req("GET", &format!("/deliveries/{id}"))
        .cookie(&session)
        .send()
        .text();
    assert!(
        html.contains("已排除") && html.contains("回访核实为编造"),
        "{html}"
    );
    // The office's export of the flags (issue 26): the interviewer, the decision in
    // words with its reason, under the page's filter (decided now, so not under
    // 待决定); codes as text cells.
    use calamine::Reader;
    let office = first_login(&srv, "office", &office_once, PW);
    let sheet = |query: &str| -> Vec<Vec<calamine::Data>> {
        let r = srv
            .req("GET", &format!("/rounds/2018-R1/flags.xlsx{query}"))
            .cookie(&office)
            .send();
        assert_eq!(r.status, 200, "{}", r.text());
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("f.xlsx");
        std::fs::write(&p, &r.body).unwrap();
        let mut wb = calamine::open_workbook_auto(&p).unwrap();
        let range = wb.worksheet_range("标记访问员").unwrap();
        range.rows().map(|r| r.to_vec()).collect()
    };
    let all = sheet("");
    assert_eq!(all[0][0], calamine::Data::String("访问员".into()));
    let row = all
        .iter()
        .find(|r| r[0] == calamine::Data::String(iv.clone()))
        .unwrap_or_else(|| panic!("{iv} not in the export: {all:?}"));
    let text = |c: usize| match &row[c] {
        calamine::Data::String(s) => s.clone(),
        other => panic!("column {c} is not text: {other:?}"),
    };
    assert_eq!(text(11), "剔除");
    assert_eq!(text(12), "回访核实为编造");
    assert!(
        matches!(row[7], calamine::Data::Float(p) if p > 0.0 && p < 0.01),
        "{row:?}"
    );
    assert!(
        text(3).contains("5301030"),
        "street codes as text: {}",
        text(3)
    );
    let undecided = sheet("?status=undecided");
    assert!(
        !undecided
            .iter()
            .any(|r| r[0] == calamine::Data::String(iv.clone())),
        "the filter is applied: {undecided:?}"
    );
}

/// A decision on the flags page brings the office back to the same filter, at the
/// subject's place, saying what changed; whatever the filter fields hold, the
/// address stays on this site (values percent-encoded, no header break).
#[test]
fn a_decision_comes_back_to_the_same_filter_at_its_place_saying_what_changed() {
    let w = world_with(&[]);
    let office = &w.sessions[1];
    let r = w
        .srv
        .req("POST", "/rounds/2018-R1/decisions")
        .cookie(office)
        .form(&[
            ("csrf", office.csrf.as_str()),
            ("subject", "interviewer"),
            ("id", "AI012"),
            ("action", "keep"),
            ("reason", "回访核实无误"),
            ("status", "decided"),
            ("street", "530103001&x=//evil.example/\r\nSet-Cookie: a=b"),
            ("evaluator", "测评机构A"),
            ("sort", "questionnaires"),
        ])
        .send();
    assert_eq!(r.status, 303, "{}", r.text());
    let to = r.header("location").unwrap().to_string();
    assert_eq!(
        to,
        "/rounds/2018-R1/flags?status=decided&street=530103001%26x%3D%2F%2Fevil.example%2F%0D%0ASet-Cookie%3A%20a%3Db&evaluator=%E6%B5%8B%E8%AF%84%E6%9C%BA%E6%9E%84A&sort=questionnaires&changed=interviewer%3AAI012#interviewer-AI012"
    );
    assert!(r.header("set-cookie").is_none_or(|c| !c.contains("a=b")));
    // The page at that address: the filter as chosen, and what the decision did.
    let page = w
        .srv
        .req(
            "GET",
            "/rounds/2018-R1/flags?status=decided&sort=questionnaires&changed=interviewer%3AAI012",
        )
        .cookie(office)
        .send();
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(
        html.contains("<option value=\"decided\" selected"),
        "the filter kept"
    );
    assert!(
        html.contains("<option value=\"questionnaires\" selected"),
        "the sort kept"
    );
    // AI012 is not flagged: the decision is recorded, no interviewer section names it.
    assert!(!html.contains("id=\"interviewer-AI012\""));
    assert!(
        html.contains("已记录对访问员 AI012 的决定"),
        "what changed is said"
    );
    // A filter value the page does not know is refused plainly, not a crash.
    let bad = w
        .srv
        .req("GET", "/rounds/2018-R1/flags?status=everything")
        .cookie(office)
        .send();
    assert_eq!(bad.status, 400, "{}", bad.text());
    // Evaluators and streets never see the flags page.
    for s in [&w.sessions[2], &w.sessions[4]] {
        let r = w
            .srv
            .req("GET", "/rounds/2018-R1/flags?status=decided")
            .cookie(s)
            .send();
        assert_eq!(r.status, 403);
    }
}

/// The office reinstates a withdrawn delivery from its page; an evaluator cannot.
#[test]
fn the_office_reinstates_a_withdrawn_delivery_and_an_evaluator_cannot() {
    let w = world_with(&[]);
    let (office, eva) = (&w.sessions[1], &w.sessions[2]);
    let id = w.delivery_a.clone();
    let post = |s: &Session, what: &str, reason: &str| {
        w.srv
            .req("POST", &format!("/deliveries/{id}/{what}"))
            .cookie(s)
            .form(&[("csrf", s.csrf.as_str()), ("reason", reason)])
            .send()
    };
    let r = w
        .srv
        .req("POST", &format!("/deliveries/{id}/withdraw"))
        .cookie(eva)
        .form(&[
            ("csrf", eva.csrf.as_str()),
            ("reason", "发错了文件"),
            ("confirm", "yes"),
        ])
        .send();
    assert_eq!(r.status, 303, "{}", r.text());
    let page = w
        .srv
        .req("GET", &format!("/deliveries/{id}"))
        .cookie(office)
        .send();
    assert!(
        page.text().contains("恢复这次交付"),
        "the office sees the button"
    );
    let page = w
        .srv
        .req("GET", &format!("/deliveries/{id}"))
        .cookie(eva)
        .send();
    assert!(
        !page.text().contains("恢复这次交付"),
        "the evaluator does not"
    );
    assert_eq!(post(eva, "reinstate", "请恢复").status, 403);
    let r = post(office, "reinstate", "撤回有误,核实后恢复");
    assert_eq!(r.status, 303, "{}", r.text());
    let page = w
        .srv
        .req("GET", &format!("/deliveries/{id}"))
        .cookie(office)
        .send();
    assert!(
        !page.text().contains("恢复这次交付"),
        "active again: no button"
    );
    assert!(
        page.text().contains("撤回这次交付"),
        "active again: it can be withdrawn"
    );
    // A second reinstatement is refused in words.
    let again = post(office, "reinstate", "再来一次");
    assert_eq!(again.status, 422, "{}", again.text());
    assert!(
        again.text().contains("只有已撤回的交付可以恢复"),
        "{}",
        again.text()
    );
}

/// The journal page: Beijing time (stored as UTC), actions in Chinese, the action
/// filter by Chinese name, pages.
#[test]
fn the_journal_reads_in_beijing_time_and_chinese() {
    let w = world_with(&[]);
    let office = &w.sessions[1];
    // The ingest entry as stored: its UTC time, then +8 hours by hand.
    let journal = std::fs::read_to_string(w.ws.file("surveys/store/journal.jsonl")).unwrap();
    let entry: serde_json::Value = journal
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["action"] == "ingest")
        .unwrap();
    let utc = entry["time"].as_str().unwrap().to_string(); // 2026-12-04T22:50:07Z
    let n = |a: usize, b: usize| utc[a..b].parse::<u32>().unwrap();
    let (mut y, mut mo, mut d, mut h) = (n(0, 4), n(5, 7), n(8, 10), n(11, 13) + 8);
    if h >= 24 {
        h -= 24;
        d += 1;
        let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
        let days = [
            31,
            if leap { 29 } else { 28 },
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        if d > days[mo as usize - 1] {
            d = 1;
            mo += 1;
            if mo > 12 {
                mo = 1;
                y += 1;
            }
        }
    }
    let beijing = format!("{y:04}-{mo:02}-{d:02} {h:02}:{}", &utc[14..16]);
    let page = w
        .srv
        .req("GET", "/journal?action=ingest")
        .cookie(office)
        .send();
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(
        html.contains(&beijing),
        "{beijing} (from {utc}) not on the page"
    );
    assert!(!html.contains(&utc), "the UTC time is shown");
    assert!(html.contains("<td>上传交付</td>"), "the action in Chinese");
    assert!(!html.contains("<td>ingest</td>"));
    assert!(
        html.contains("<option value=\"ingest\" selected"),
        "the filter kept"
    );
    assert!(html.contains("第 1 / 1 页"));
    assert!(!html.contains("<td>登录</td>"), "only the chosen action");
    // A page beyond the last shows the last.
    let html = w
        .srv
        .req("GET", "/journal?page=99")
        .cookie(office)
        .send()
        .text();
    assert!(html.contains("第 1 / 1 页"), "{html}");
}

#[test]
fn the_office_draws_downloads_and_records_callbacks_in_the_browser_and_only_the_office() {
    let w = world_with(&[]);
    let office = &w.sessions[1];
    // Drawing asks first; confirm=yes draws.
    let r = w
        .srv
        .req("POST", "/rounds/2018-R1/callbacks/draw")
        .cookie(office)
        .form(&[("csrf", &office.csrf), ("seed", "公开抽签")])
        .send();
    assert_eq!(r.status, 200);
    assert!(r.text().contains("确认抽取"), "{}", r.text());
    assert!(
        !w.ws
            .file("surveys/callbacks/2018-R1/batches/C1.json")
            .exists()
    );
    let r = w
        .srv
        .req("POST", "/rounds/2018-R1/callbacks/draw")
        .cookie(office)
        .form(&[
            ("csrf", &office.csrf),
            ("seed", "公开抽签"),
            ("confirm", "yes"),
        ])
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("已抽取批次 C1"), "{}", r.text());
    // The list: the office downloads it (journalled); an evaluator or a street may not.
    let list = w
        .srv
        .req("GET", "/rounds/2018-R1/callbacks/C1.csv")
        .cookie(office)
        .send();
    assert_eq!(list.status, 200);
    let text = list.text();
    assert!(text.contains("respondent_id,interviewer_id"), "{text}");
    for s in [&w.sessions[2], &w.sessions[4]] {
        let r = w
            .srv
            .req("GET", "/rounds/2018-R1/callbacks/C1.csv")
            .cookie(s)
            .send();
        assert_eq!(r.status, 403);
    }
    let j = w.ws.ok(&["journal", "--json"]);
    assert!(j.contains("download-callback-list"), "{j}");
    // Every drawn respondent confirmed, but one row with an outcome nobody knows.
    let mut rdr = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(rdr.headers().unwrap()).unwrap();
    let mut n = 0;
    for rec in rdr.records() {
        let mut c: Vec<String> = rec.unwrap().iter().map(String::from).collect();
        n += 1;
        c[8] = if n == 2 {
            "也许".into()
        } else {
            "已核实".into()
        };
        out.write_record(&c).unwrap();
    }
    assert!(n >= 2);
    let body = String::from_utf8(out.into_inner().unwrap()).unwrap();
    let r = w
        .srv
        .req(
            "POST",
            &format!("/rounds/2018-R1/callbacks/results?csrf={}", office.csrf),
        )
        .cookie(office)
        .multipart(Some(("回访结果.csv", body.as_bytes())), &[])
        .send();
    assert_eq!(r.status, 422, "{}", r.text());
    let page = r.text();
    assert!(
        page.contains("第 3 行") && page.contains("回访结果无法识别"),
        "{page}"
    );
    assert!(page.contains(&format!("导入 {} 条结果", n - 1)), "{page}");
    // The page: the per-interviewer table, in Chinese.
    let r = w
        .srv
        .req("GET", "/rounds/2018-R1/callbacks")
        .cookie(office)
        .send();
    assert_eq!(r.status, 200);
    let page = r.text();
    assert!(
        page.contains("各访问员的回访") && page.contains("需继续回访"),
        "{page}"
    );
    let c: serde_json::Value =
        serde_json::from_str(&w.ws.ok(&["callbacks", "--round", "2018-R1", "--json"])).unwrap();
    assert_eq!(c["called"], (n - 1) as u64);
    // The same through the API, for the office's scripts.
    let api = w
        .srv
        .req("GET", "/api/v1/rounds/2018-R1/callbacks")
        .bearer(&w.tokens[1])
        .send();
    assert_eq!(api.status, 200);
    assert_eq!(api.json(), c);
}

#[test]
fn the_admin_manages_accounts_in_the_browser_and_nobody_else_can() {
    let w = world_with(&[]);
    let admin = &w.sessions[0];
    let post = |path: &str, pairs: &[(&str, &str)]| {
        let mut all: Vec<(&str, &str)> = vec![("csrf", admin.csrf.as_str())];
        all.extend_from_slice(pairs);
        w.srv.req("POST", path).cookie(admin).form(&all).send()
    };
    // The page lists the accounts in Chinese.
    let page = w.srv.req("GET", "/admin/users").cookie(admin).send();
    assert_eq!(page.status, 200);
    assert!(page.text().contains("测评机构") && page.text().contains("eva"));
    // Add: the one-time password is shown once, on this answer only.
    let r = post(
        "/admin/users",
        &[
            ("name", "evc"),
            ("role", "evaluator"),
            ("org", "测评机构C"),
            ("street", ""),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    let at =
        text.find("class=\"secret\">").expect("the password shown") + "class=\"secret\">".len();
    let pw = text[at..at + text[at..].find('<').unwrap()].to_string();
    assert!(pw.len() >= 12, "{pw}");
    assert!(
        !w.srv
            .req("GET", "/admin/users")
            .cookie(admin)
            .send()
            .text()
            .contains(&pw)
    );
    let evc = first_login(&w.srv, "evc", &pw, "another-long-pass-1");
    assert_eq!(w.srv.req("GET", "/rounds").cookie(&evc).send().status, 200);
    // An evaluator without an organisation: refused in Chinese.
    let r = post(
        "/admin/users",
        &[("name", "evd"), ("role", "evaluator"), ("org", "")],
    );
    assert_eq!(r.status, 422);
    assert!(
        r.text().contains("测评机构账户须填写所属机构"),
        "{}",
        r.text()
    );
    // Disable: the session ends; enable again.
    let r = post("/admin/users/evc/disable", &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_ne!(w.srv.req("GET", "/rounds").cookie(&evc).send().status, 200);
    assert_eq!(post("/admin/users/evc/enable", &[]).status, 200);
    // The admin cannot disable the account in use.
    assert_eq!(post("/admin/users/admin/disable", &[]).status, 422);
    // A token, shown once, works on the API; revoking asks first, then it stops.
    let r = post("/admin/users/evc/token", &[]);
    let text = r.text();
    let at = text.find("class=\"secret\">").unwrap() + "class=\"secret\">".len();
    let token = text[at..at + text[at..].find('<').unwrap()].to_string();
    let api = || {
        w.srv
            .req("GET", "/api/v1/rounds")
            .bearer(&token)
            .send()
            .status
    };
    assert_eq!(api(), 200);
    let r = post("/admin/users/evc/revoke", &[]);
    assert!(r.text().contains("确认吊销令牌"), "{}", r.text());
    assert_eq!(api(), 200, "nothing revoked before the confirmation");
    assert_eq!(
        post("/admin/users/evc/revoke", &[("confirm", "yes")]).status,
        200
    );
    assert_eq!(api(), 401);
    // Reset asks first; then a new one-time password.
    assert!(
        post("/admin/users/evc/reset", &[])
            .text()
            .contains("确认重设密码")
    );
    let r = post("/admin/users/evc/reset", &[("confirm", "yes")]);
    assert!(r.text().contains("一次性密码"), "{}", r.text());
    // Every change is journalled with the admin as actor.
    let j = w.ws.ok(&["journal", "--json"]);
    for action in [
        "user-add",
        "user-disable",
        "user-enable",
        "token-add",
        "token-revoke",
        "user-passwd",
    ] {
        assert!(
            j.contains(&format!("\"action\": \"{action}\"")),
            "{action} not journalled"
        );
    }
    // The office may not (the route table checks every role; here a real action). A
    // refusal page keeps the signed-in caller's navigation (a 403 of the guard, a 404
    // of a handler).
    let office = &w.sessions[1];
    let r = w.srv.req("GET", "/admin/users").cookie(office).send();
    assert_eq!(r.status, 403);
    assert!(
        r.text().contains("action=\"/logout\"") && r.text().contains("工作台"),
        "{}",
        r.text()
    );
    let r = w
        .srv
        .req("GET", "/rounds/2018-R1/callbacks/C9.csv")
        .cookie(office)
        .send();
    assert_eq!(r.status, 404);
    assert!(r.text().contains("action=\"/logout\""), "{}", r.text());
    let r = w
        .srv
        .req("POST", "/admin/users/evc/disable")
        .cookie(office)
        .form(&[("csrf", &office.csrf)])
        .send();
    assert_eq!(r.status, 403);
}

#[test]
fn the_journal_downloads_as_a_csv_in_beijing_time_with_chinese_actions_under_its_filter() {
    let w = world_with(&[]);
    let office = &w.sessions[1];
    let r = w
        .srv
        .req("GET", "/journal.csv?action=login")
        .cookie(office)
        .send();
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-disposition")
            .unwrap()
            .contains("UTF-8''%E6%97%A5%E5%BF%97.csv"),
        "{:?}",
        r.header("content-disposition")
    );
    let text = r.text();
    assert!(text.starts_with('\u{feff}'));
    let mut lines = text.trim_start_matches('\u{feff}').lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("序号,时间（北京时间）,时间（UTC）,操作人,操作,操作代码")
    );
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    assert!(rows.len() >= 5, "the five first logins: {text}");
    for c in &rows {
        assert_eq!((c[4].as_str(), c[5].as_str()), ("登录", "login"));
        // Beijing time is UTC + 8 h, computed here from the stored UTC.
        let utc = &c[2]; // 2026-12-05T00:01:02Z
        // The date may roll over at 16:00 UTC: the hour and minute are checked.
        let (_date, time) = utc.trim_end_matches('Z').split_once('T').unwrap();
        let hour: u32 = time[..2].parse().unwrap();
        let bj_hour = (hour + 8) % 24;
        assert!(
            c[1].contains(&format!("{bj_hour:02}:{}", &time[3..5])),
            "{} vs {utc}",
            c[1]
        );
    }
    // Staff only: the route table; a street may not.
    let s = &w.sessions[4];
    assert_eq!(
        w.srv.req("GET", "/journal.csv").cookie(s).send().status,
        403
    );
}

#[test]
fn an_evaluator_downloads_its_sample_list_with_codes_as_text_and_reads_the_format_guide() {
    use calamine::Reader;
    let w = world_with(&[]);
    let eva = &w.sessions[2];
    let r = w
        .srv
        .req("GET", "/rounds/2018-R1/sample.xlsx")
        .cookie(eva)
        .send();
    assert_eq!(r.status, 200);
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("s.xlsx");
    std::fs::write(&p, &r.body).unwrap();
    let mut wb = calamine::open_workbook_auto(&p).unwrap();
    let range = wb.worksheet_range("样本社区").unwrap();
    let rows: Vec<Vec<calamine::Data>> = range.rows().map(|r| r.to_vec()).collect();
    assert_eq!(rows[0][2], calamine::Data::String("社区代码".into()));
    // Only the organisation's assigned streets, every code a 12-digit text cell.
    let streets_a: Vec<&str> = STREETS_A.split(',').collect();
    assert!(rows.len() > 1);
    for row in &rows[1..] {
        match (&row[0], &row[2]) {
            (calamine::Data::String(s), calamine::Data::String(c)) => {
                assert!(streets_a.contains(&s.as_str()), "{s} not assigned to A");
                assert_eq!(c.len(), 12, "{c}");
                assert!(c.starts_with(s.as_str()));
            }
            other => panic!("codes must be text: {other:?}"),
        }
    }
    // The guide and the template, made from the rules.
    let g = w.srv.req("GET", "/guide").cookie(eva).send();
    assert_eq!(g.status, 200);
    let text = g.text();
    for needle in ["问卷编号", "社区代码", "非常满意", "不了解", "下载模板"] {
        assert!(text.contains(needle), "{needle} missing from the guide");
    }
    let t = w.srv.req("GET", "/guide/template.csv").cookie(eva).send();
    assert_eq!(t.status, 200);
    let head = t.text();
    let head = head
        .trim_start_matches('\u{feff}')
        .lines()
        .next()
        .unwrap()
        .to_string();
    assert!(
        head.starts_with("respondent_id,") && head.ends_with(",q10"),
        "{head}"
    );
    // A street account may not.
    let s = &w.sessions[4];
    assert_eq!(w.srv.req("GET", "/guide").cookie(s).send().status, 403);
}

#[test]
fn the_same_file_uploaded_again_is_said_to_be_stored_already() {
    let w = world_with(&[]);
    let a = &w.sessions[2];
    // The messy file the world's setup already stored, through the page's form.
    let messy = std::fs::read(data("evaluator-a-messy.csv")).unwrap();
    let r = w
        .srv
        .req(
            "POST",
            &format!("/rounds/2018-R1/deliveries?csrf={}", a.csrf),
        )
        .cookie(a)
        .multipart(Some(("again.csv", &messy)), &[])
        .send();
    assert_eq!(r.status, 303, "{}", r.text());
    let to = r.header("location").unwrap().to_string();
    assert_eq!(to, format!("/deliveries/{}?again=1", w.delivery_a));
    let page = w.srv.req("GET", &to).cookie(a).send().text();
    assert!(page.contains("此前已上传过"), "{page}");
    // A receipt reached otherwise does not say it.
    let page = w
        .srv
        .req("GET", &format!("/deliveries/{}", w.delivery_a))
        .cookie(a)
        .send()
        .text();
    assert!(!page.contains("此前已上传过"));
}

#[test]
fn saving_an_assignment_says_what_was_saved() {
    let w = world_with(&[]);
    let office = &w.sessions[1];
    let r = w
        .srv
        .req("POST", "/rounds/2018-R1/assignments")
        .cookie(office)
        .form(&[
            ("csrf", office.csrf.as_str()),
            ("org", "测评机构A"),
            ("s_530103001", "on"),
            ("s_530103002", "on"),
        ])
        .send();
    assert_eq!(r.status, 303, "{}", r.text());
    let to = r.header("location").unwrap().to_string();
    assert!(to.ends_with("#assignments"), "{to}");
    let page = w
        .srv
        .req("GET", to.split('#').next().unwrap())
        .cookie(office)
        .send()
        .text();
    assert!(
        page.contains("已保存：测评机构A 在本轮负责 2 个街道。"),
        "{page}"
    );
}

/// The deliveries list searches by words (file name, id, organisation, uploader,
/// reason), round and status; the help page gives each role its own part first.
#[test]
fn deliveries_search_and_help() {
    let w = world_with(&[]);
    let office = &w.sessions[1];
    let get = |s: &Session, path: &str| {
        let r = w.srv.req("GET", path).cookie(s).send();
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        r.text()
    };
    let link = format!("/deliveries/{}", w.delivery_a);
    let short = &w.delivery_a[..10];
    for q in [
        "",
        "?q=messy",
        "?q=MESSY+2018-R1",
        &format!("?q={short}"),
        "?round=2018-R1&status=active",
    ] {
        let html = get(office, &format!("/deliveries{q}"));
        assert!(html.contains(&link), "{q} should find the delivery");
    }
    for q in ["?q=messy+nothing", "?status=withdrawn", "?round=2018-R2"] {
        let html = get(office, &format!("/deliveries{q}"));
        assert!(!html.contains(&link), "{q} should not find the delivery");
        assert!(
            html.contains("符合条件的 <strong>0</strong> 个"),
            "{q}: the count is said"
        );
    }
    // Evaluator B searches only its own deliveries: A's file is not found by name.
    let html = get(&w.sessions[3], "/deliveries?q=messy");
    assert!(!html.contains(&link));
    // Help: each role's own part first; staff read the others' too.
    let first_h2 = |html: &str| {
        let i = html.find("<h2 id=\"").unwrap();
        html[i + 8..].split('"').next().unwrap().to_string()
    };
    assert_eq!(first_h2(&get(&w.sessions[0], "/help")), "admin");
    assert_eq!(first_h2(&get(office, "/help")), "office");
    assert_eq!(first_h2(&get(&w.sessions[2], "/help")), "evaluator");
    let street = get(&w.sessions[4], "/help");
    assert_eq!(first_h2(&street), "street");
    assert!(!street.contains("id=\"office\"") && !street.contains("id=\"admin\""));
}

/// The counted community lines of a deductions file, read by the test itself.
fn counted_lines(path: &std::path::Path) -> (Vec<String>, std::collections::BTreeMap<String, f64>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let h = r.headers().unwrap().clone();
    let col = |n: &str| h.iter().position(|x| x == n).unwrap();
    let (rt, cc, counted, sc, total, waived) = (
        col("row_type"),
        col("community_code"),
        col("counted"),
        col("street_code"),
        col("total"),
        col("waived"),
    );
    let mut lines = Vec::new();
    let mut totals = std::collections::BTreeMap::new();
    for rec in r.records() {
        let rec = rec.unwrap();
        if &rec[rt] == "community" && &rec[counted] == "true" && rec[waived].is_empty() {
            lines.push(rec[cc].to_string());
        }
        if &rec[rt] == "street" {
            totals.insert(rec[sc].to_string(), rec[total].parse::<f64>().unwrap());
        }
    }
    lines.sort();
    (lines, totals)
}

/// An upheld appeal whose remedy is excluding an interviewer: the existing decision is
/// made (journalled, citing the appeal), the round scored again without the
/// interviewer's questionnaires, and the period republished as a new version.
#[test]
fn an_upheld_exclusion_decides_scores_again_and_republishes() {
    let w = world_with(&[]);
    scored_and_published(&w);
    let (street, office) = (&w.tokens[4], &w.tokens[1]);
    let n_valid = |path: &str| -> u64 {
        let mut r = csv::Reader::from_path(w.ws.file(path)).unwrap();
        let h = r.headers().unwrap().clone();
        let (c, n) = (
            h.iter().position(|x| x == "community_code").unwrap(),
            h.iter().position(|x| x == "n_valid").unwrap(),
        );
        r.records()
            .map(|x| x.unwrap())
            .find(|x| &x[c] == "530103001003")
            .map(|x| x[n].parse().unwrap())
            .unwrap()
    };
    let before = n_valid("reports/2018-R1/community_scores.csv");
    // AI012's questionnaires in 白塔社区 in the delivered file: 27 rows, one of them
    // (A000047) the file's planted impossible date 2017-13-45, rejected at ingest.
    let rows: Vec<String> = std::fs::read_to_string(data("evaluator-a-messy.csv"))
        .unwrap()
        .lines()
        .filter(|l| l.contains(",530103001003,") && l.contains(",AI012,"))
        .map(String::from)
        .collect();
    assert_eq!(rows.len(), 27);
    let theirs = rows.iter().filter(|l| !l.contains(",2017-13-45,")).count() as u64;
    assert_eq!(theirs, 26);
    let r = w
        .srv
        .req("POST", "/api/v1/periods/2018H1/appeals")
        .bearer(street)
        .json(
            &serde_json::json!({"community_code": "530103001003", "reason": "访问员 AI012 未入户"}),
        )
        .send();
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    let r = w.srv.req("POST", &format!("/api/v1/appeals/{id}/ruling")).bearer(office)
        .json(&serde_json::json!({"decision": "upheld", "remedy": "exclude", "interviewer": "AI012", "round": "2018-R1", "reason": "回访核实未入户"}))
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    let ruled = r.json();
    assert_eq!(ruled["status"], "upheld");
    assert!(
        ruled["ruling"]["changed"]
            .as_str()
            .unwrap()
            .contains("剔除访问员 AI012"),
        "{ruled}"
    );
    assert!(ruled["ruling"]["republished"].is_number(), "{ruled}");
    assert_eq!(
        before - n_valid("reports/2018-R1/community_scores.csv"),
        theirs
    );
    let exclusions = w.ws.read("reports/2018-R1/exclusions.csv");
    assert!(
        exclusions.contains("AI012") && exclusions.contains(&format!("申诉 {id} 复核")),
        "{exclusions}"
    );
    let journal = w.ws.ok(&["journal", "--json"]);
    assert!(
        journal.contains("\"decide\"") && journal.contains("appeal-republished"),
        "journalled"
    );
    w.ws.ok(&["verify-store"]);
}

/// Issue 27: a street appeals its own lines (never another street's: 404), within the
/// window (after it: 422); a rejected appeal changes nothing; an upheld waiver lowers
/// the street's total by the line's points in deductions.csv and the republished copy,
/// the review pack says so and the street's page shows the new version; the ledger
/// has exactly the counted communities, the street fills its row, the office verifies.
#[test]
fn appeals_and_the_rectification_ledger() {
    let w = world_with(&[]);
    scored_and_published(&w);
    let (street, office) = (&w.tokens[4], &w.tokens[1]);
    let reports = w.ws.file("reports/2018H1/deductions.csv");
    let published = w.ws.file("surveys/store/published/2018H1/deductions.csv");
    let (counted, totals) = counted_lines(&published);
    assert_eq!(counted, ["530103001003"], "the example's counted community");
    let before = totals["530103001"];
    assert_eq!(
        before, 1.5,
        "0.5 for the community + 1 street-level (hand: the CSV above)"
    );
    // A second street's account.
    add_user(
        &w.ws,
        "street2",
        &["--role", "street", "--street", "530103002"],
    );
    let other =
        w.ws.ok(&["user", "token", "street2"])
            .split_whitespace()
            .last()
            .unwrap()
            .to_string();

    // The ledger: exactly the counted communities; a street sees its own only.
    let rows = |tok: &str| -> Vec<String> {
        let r = w
            .srv
            .req("GET", "/api/v1/periods/2018H1/rectifications")
            .bearer(tok)
            .send();
        assert_eq!(r.status, 200, "{}", r.text());
        let mut v: Vec<String> = r.json()["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["community_code"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(rows(office), counted);
    assert_eq!(rows(street), counted);
    assert!(rows(&other).is_empty());
    let row_id = "2018H1-530103001003";

    // Appeals: refusals first.
    let appeal = |tok: &str, period: &str, body: serde_json::Value| {
        w.srv
            .req("POST", &format!("/api/v1/periods/{period}/appeals"))
            .bearer(tok)
            .json(&body)
            .send()
    };
    let line = serde_json::json!({"community_code": "530103001003", "reason": "测评期间道路施工"});
    assert_eq!(
        appeal(&other, "2018H1", line.clone()).status,
        404,
        "another street's line"
    );
    assert_eq!(
        appeal(street, "2018Q2", line.clone()).status,
        404,
        "a period not published"
    );
    assert_eq!(
        appeal(
            street,
            "2018H1",
            serde_json::json!({"community_code": "530103002001", "reason": "x"})
        )
        .status,
        404,
        "a community of another street"
    );
    assert_eq!(
        appeal(
            street,
            "2018H1",
            serde_json::json!({"community_code": "530103001003", "reason": " "})
        )
        .status,
        422,
        "no reason"
    );
    // Outside the window (the appeals' clock 30 days on): 422.
    {
        let late = Server::start_env(&w.ws, &[], &[("MANYI_TEST_CLOCK_DAYS", "30")]);
        let r = late
            .req("POST", "/api/v1/periods/2018H1/appeals")
            .bearer(street)
            .json(&line)
            .send();
        assert_eq!(r.status, 422, "{}", r.text());
        assert!(r.text().contains("截止"), "{}", r.text());
    }
    let r = appeal(street, "2018H1", line.clone());
    assert_eq!(r.status, 201, "{}", r.text());
    let a1 = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(
        appeal(street, "2018H1", line.clone()).status,
        422,
        "one open appeal per line"
    );
    let r = appeal(
        street,
        "2018H1",
        serde_json::json!({"street_level": true, "reason": "街道整体工作到位"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let a2 = r.json()["id"].as_str().unwrap().to_string();
    // Isolation: the other street neither reads nor lists them.
    assert_eq!(
        w.srv
            .req("GET", &format!("/api/v1/appeals/{a1}"))
            .bearer(&other)
            .send()
            .status,
        404
    );
    let listed = w
        .srv
        .req("GET", "/api/v1/appeals")
        .bearer(&other)
        .send()
        .json();
    assert!(listed["appeals"].as_array().unwrap().is_empty(), "{listed}");
    let mine = w
        .srv
        .req("GET", "/api/v1/appeals?period=2018H1")
        .bearer(street)
        .send()
        .json();
    assert_eq!(mine["appeals"].as_array().unwrap().len(), 2);
    assert_eq!(
        w.srv.req("POST", &format!("/api/v1/rectifications/{row_id}")).bearer(&other)
            .json(&serde_json::json!({"status": "planned", "measures": "x", "responsible": "y", "deadline": "2019-01-31"}))
            .send().status,
        404,
        "another street's ledger row"
    );

    // The rectification: planned, done, verified (done needs a report).
    let rect = |body: serde_json::Value| {
        w.srv
            .req("POST", &format!("/api/v1/rectifications/{row_id}"))
            .bearer(street)
            .json(&body)
            .send()
    };
    assert_eq!(
        rect(serde_json::json!({"status": "planned", "measures": "整治施工噪声"})).status,
        422
    );
    for (bad, why) in [
        (
            serde_json::json!({"status": "planned", "measures": "整治", "responsible": "王主任", "deadline": "2019-02-31"}),
            "不是日期",
        ),
        (
            serde_json::json!({"status": "planned", "measures": "整治\u{0}噪声", "responsible": "王主任", "deadline": "2019-01-31"}),
            "控制字符",
        ),
        (
            serde_json::json!({"status": "planned", "measures": "措".repeat(4001), "responsible": "王主任", "deadline": "2019-01-31"}),
            "太长",
        ),
    ] {
        let r = rect(bad);
        assert_eq!(r.status, 422, "{}", r.text());
        assert!(r.text().contains(why), "{why}: {}", r.text());
    }
    let r = rect(
        serde_json::json!({"status": "planned", "measures": "整治施工噪声", "responsible": "王主任", "deadline": "2019-01-31"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "planned");
    assert_eq!(
        w.srv
            .req("POST", &format!("/api/v1/rectifications/{row_id}/verify"))
            .bearer(office)
            .send()
            .status,
        422,
        "not done yet"
    );
    let r = rect(
        serde_json::json!({"status": "done", "measures": "整治施工噪声", "responsible": "王主任", "deadline": "2019-01-31", "report": "已完成，居民回访满意"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = w
        .srv
        .req("POST", &format!("/api/v1/rectifications/{row_id}/verify"))
        .bearer(office)
        .json(&serde_json::json!({"note": "现场核实"}))
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "verified");

    // A rejected appeal changes nothing.
    let bytes_before = std::fs::read(&reports).unwrap();
    let pub_before = std::fs::read(&published).unwrap();
    let rule = |id: &str, body: serde_json::Value| {
        w.srv
            .req("POST", &format!("/api/v1/appeals/{id}/ruling"))
            .bearer(office)
            .json(&body)
            .send()
    };
    assert_eq!(
        rule(
            &a2,
            serde_json::json!({"decision": "rejected", "reason": " "})
        )
        .status,
        422,
        "a ruling needs a reason"
    );
    assert_eq!(
        rule(
            &a2,
            serde_json::json!({"decision": "upheld", "remedy": "none", "reason": "x"})
        )
        .status,
        422,
        "upheld needs a remedy"
    );
    assert_eq!(
        w.srv
            .req("POST", &format!("/api/v1/appeals/{a2}/ruling"))
            .bearer(street)
            .json(&serde_json::json!({"decision": "upheld", "remedy": "waive", "reason": "x"}))
            .send()
            .status,
        403,
        "a street does not rule"
    );
    let r = rule(
        &a2,
        serde_json::json!({"decision": "rejected", "remedy": "none", "reason": "街道满意度确低于标准"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "rejected");
    assert_eq!(std::fs::read(&reports).unwrap(), bytes_before);
    assert_eq!(std::fs::read(&published).unwrap(), pub_before);
    assert_eq!(
        rule(
            &a2,
            serde_json::json!({"decision": "upheld", "remedy": "waive", "reason": "again"})
        )
        .status,
        422,
        "ruled once"
    );

    // An exclusion only of a round the period rests on (2018-R3 is not in 2018H1).
    let r = rule(
        &a1,
        serde_json::json!({"decision": "upheld", "remedy": "exclude", "interviewer": "X1", "round": "2018-R3", "reason": "x"}),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("不属于"), "{}", r.text());
    // …and only of an interviewer who worked in the appealing street.
    let r = rule(
        &a1,
        serde_json::json!({"decision": "upheld", "remedy": "exclude", "interviewer": "NOBODY", "round": "2018-R1", "reason": "x"}),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("没有拓东街道的有效问卷"), "{}", r.text());
    // A period the office withdrew is not republished by a ruling.
    w.ws.ok(&["publish", "2018H1", "--unpublish", "--reason", "核对数据"]);
    let r = rule(
        &a1,
        serde_json::json!({"decision": "upheld", "remedy": "waive", "reason": "施工影响属实"}),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("已撤回发布"), "{}", r.text());
    assert!(!published.exists(), "still withdrawn");
    w.ws.ok(&["publish", "2018H1"]);
    // An upheld waiver: the street's total falls by the line's points (0.5, under the
    // cap of 3), in the reports and in the republished copy.
    let r = rule(
        &a1,
        serde_json::json!({"decision": "upheld", "remedy": "waive", "reason": "施工影响属实"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let ruled = r.json();
    assert_eq!(ruled["status"], "upheld");
    assert!(
        ruled["ruling"]["changed"]
            .as_str()
            .unwrap()
            .contains("1.5 → 1.0"),
        "{ruled}"
    );
    for f in [&reports, &published] {
        let (counted_now, totals_now) = counted_lines(f);
        assert_eq!(totals_now["530103001"], before - 0.5, "{}", f.display());
        assert!(counted_now.is_empty(), "the waived line no longer charges");
        for (s, t) in &totals {
            if s != "530103001" {
                assert_eq!(totals_now[s], *t, "{s} unchanged");
            }
        }
    }
    let md = w.ws.read("reports/2018H1/review.md");
    assert!(
        md.contains(&format!("经申诉 {a1} 复核免扣")),
        "the review pack says so"
    );
    // …and lists both appeals with their rulings; the ledger section is gone, as the
    // only counted community was waived (the ledger is the counted communities).
    let section = md
        .split("## 申诉复核")
        .nth(1)
        .expect("the pack has an appeals section");
    let line_of = |id: &str| {
        section
            .lines()
            .find(|l| l.starts_with(&format!("| {id} |")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line_of(&a1).contains("维持申诉") && line_of(&a1).contains("1.5 → 1.0"),
        "{section}"
    );
    assert!(
        line_of(&a2).contains("驳回") && line_of(&a2).contains("街道层面扣分"),
        "{section}"
    );
    assert!(
        !md.contains("## 整改台账"),
        "no counted community is left: {md}"
    );
    // The street's page: the second version and why.
    let page = w
        .srv
        .req("GET", "/street/2018H1")
        .cookie(&w.sessions[4])
        .send()
        .text();
    // (Published, withdrawn, published again: the ruling's is the third version.)
    assert!(
        page.contains("第 3 版") && page.contains("本版更正"),
        "{page}"
    );
    assert!(
        page.contains(&format!("经申诉 {a1} 复核维持")),
        "the line says why"
    );
    // A line appeals once: the rejected street-level line is not appealed again.
    let r = appeal(
        street,
        "2018H1",
        serde_json::json!({"street_level": true, "reason": "再次申诉"}),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("只能申诉一次"), "{}", r.text());
    // Texts the review pack could not hold are refused where they are written.
    let r = appeal(
        street,
        "2018H1",
        serde_json::json!({"street_level": true, "reason": "施工\u{1}属实"}),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    assert!(r.text().contains("控制字符"), "{}", r.text());
    let r = appeal(
        street,
        "2018H1",
        serde_json::json!({"street_level": true, "reason": "长".repeat(2001)}),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    // Every step journalled; the store verifies.
    let journal = w.ws.ok(&["journal", "--json"]);
    for action in [
        "appeal-submit",
        "appeal-rule",
        "appeal-republished",
        "rectification-update",
        "rectification-verify",
    ] {
        assert!(journal.contains(action), "{action} not journalled");
    }
    w.ws.ok(&["verify-store"]);
}
