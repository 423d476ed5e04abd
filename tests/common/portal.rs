//! Test helper for the portal: a real `manyi serve` on 127.0.0.1 (a free port, read from
//! its first line of stdout), stopped with SIGTERM when dropped, and a small HTTP/1.1
//! client over a TCP socket (every header under the test's control: cookies, Origin,
//! Sec-Fetch-Site, chunked bodies).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::Workspace;

pub struct Server {
    pub child: Child,
    pub addr: String,
    pub stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    /// Starts `manyi -w ws serve --bind 127.0.0.1:0 extra…` and waits until it listens.
    pub fn start(ws: &Workspace, extra: &[&str]) -> Server {
        Server::start_env(ws, extra, &[])
    }

    pub fn start_env(ws: &Workspace, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let bin = assert_cmd::cargo::cargo_bin!("manyi");
        let mut cmd = Command::new(bin);
        cmd.args([
            "-w",
            ws.path().to_str().unwrap(),
            "serve",
            "--bind",
            "127.0.0.1:0",
        ])
        .args(extra)
        .env("MANYI_LANG", "zh")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start manyi serve");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .rsplit("http://")
            .next()
            .unwrap_or_default()
            .to_string();
        assert!(addr.starts_with("127.0.0.1:"), "server said {line:?}");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Server {
            child,
            addr,
            stderr,
        }
    }

    pub fn req(&self, method: &str, path: &str) -> Req {
        Server::req_to(&self.addr, method, path)
    }

    pub fn req_to(addr: &str, method: &str, path: &str) -> Req {
        Req {
            addr: addr.to_string(),
            method: method.to_string(),
            path: path.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
            chunked: false,
        }
    }

    pub fn get(&self, path: &str) -> Resp {
        self.req("GET", path).send()
    }

    /// Sends SIGTERM and waits for the process (at most 60 s).
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..600 {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        panic!("the server did not stop within 60 s of SIGTERM");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill(); // ok: the test is over; the process must not outlive it
            let _ = self.child.wait();
        }
    }
}

pub struct Req {
    addr: String,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    chunked: bool,
}

impl Req {
    pub fn header(mut self, k: &str, v: impl Into<String>) -> Req {
        self.headers.push((k.to_string(), v.into()));
        self
    }

    pub fn cookie(self, c: &Session) -> Req {
        let v = format!("manyi_session={}", c.sid);
        self.header("Cookie", v)
    }

    pub fn bearer(self, token: &str) -> Req {
        self.header("Authorization", format!("Bearer {token}"))
    }

    /// A form body (`application/x-www-form-urlencoded`).
    pub fn form(mut self, pairs: &[(&str, &str)]) -> Req {
        let body: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect();
        self.body = body.join("&").into_bytes();
        self.header("Content-Type", "application/x-www-form-urlencoded")
    }

    pub fn json(mut self, v: &serde_json::Value) -> Req {
        self.body = serde_json::to_vec(v).unwrap();
        self.header("Content-Type", "application/json")
    }

    /// A multipart body with a `file` part (name, bytes) and text fields.
    pub fn multipart(mut self, file: Option<(&str, &[u8])>, fields: &[(&str, &str)]) -> Req {
        let b = "----manyitestboundary7d2f";
        let mut body = Vec::new();
        for (k, v) in fields {
            body.extend_from_slice(
                format!("--{b}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                    .as_bytes(),
            );
        }
        if let Some((name, bytes)) = file {
            body.extend_from_slice(
                format!(
                    "--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{b}--\r\n").as_bytes());
        self.body = body;
        self.header("Content-Type", format!("multipart/form-data; boundary={b}"))
    }

    /// Sends the body chunked (no Content-Length).
    pub fn chunked(mut self) -> Req {
        self.chunked = true;
        self
    }

    pub fn send(self) -> Resp {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(300))).unwrap();
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.method, self.path, self.addr
        );
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if self.chunked {
            head.push_str("Transfer-Encoding: chunked\r\n\r\n");
        } else {
            head.push_str(&format!("Content-Length: {}\r\n\r\n", self.body.len()));
        }
        s.write_all(head.as_bytes()).unwrap();
        // The body from a thread of its own: a server that answers early (413) is read
        // while the rest is still being sent.
        let mut w = s.try_clone().unwrap();
        let body = self.body;
        let chunked = self.chunked;
        let writer = std::thread::spawn(move || {
            let r = if chunked {
                (|| {
                    for c in body.chunks(64 << 10) {
                        w.write_all(format!("{:x}\r\n", c.len()).as_bytes())?;
                        w.write_all(c)?;
                        w.write_all(b"\r\n")?;
                    }
                    w.write_all(b"0\r\n\r\n")
                })()
            } else {
                w.write_all(&body)
            };
            let _ = r; // ok: a server that refused early closes the socket under us
        });
        let (raw, read) = read_response(&mut s);
        let _ = writer.join();
        if raw.is_empty() {
            panic!("no answer from the server: {read:?}");
        }
        Resp::parse(&raw)
    }
}

/// Reads one response: to the end of its Content-Length or last chunk (a peer that
/// keeps the connection open, as chromedriver does, is not waited for), else to EOF.
fn read_response(s: &mut TcpStream) -> (Vec<u8>, std::io::Result<()>) {
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 << 10];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let body = &raw[end + 4..];
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            if let Some(n) = len
                && body.len() >= n
            {
                return (raw, Ok(()));
            }
            if head.contains("transfer-encoding: chunked") && body.ends_with(b"0\r\n\r\n") {
                return (raw, Ok(()));
            }
        }
        match s.read(&mut buf) {
            Ok(0) => return (raw, Ok(())),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) => return (raw, Err(e)),
        }
    }
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    fn parse(raw: &[u8]) -> Resp {
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a header block");
        let head = String::from_utf8_lossy(&raw[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let mut body = raw[end + 4..].to_vec();
        if headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
        {
            let mut out = Vec::new();
            let mut rest = &body[..];
            loop {
                let Some(nl) = rest.windows(2).position(|w| w == b"\r\n") else {
                    break;
                };
                let size = usize::from_str_radix(
                    String::from_utf8_lossy(&rest[..nl])
                        .split(';')
                        .next()
                        .unwrap()
                        .trim(),
                    16,
                )
                .unwrap_or(0);
                if size == 0 {
                    break;
                }
                out.extend_from_slice(&rest[nl + 2..nl + 2 + size]);
                rest = &rest[nl + 2 + size + 2..];
            }
            body = out;
        }
        Resp {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, k: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == &k.to_ascii_lowercase())
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The session id a Set-Cookie gave.
    pub fn session_cookie(&self) -> Option<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .find_map(|(_, v)| v.strip_prefix("manyi_session="))
            .map(|v| v.split(';').next().unwrap().to_string())
            .filter(|v| !v.is_empty())
    }
}

/// A signed-in browser session: the cookie's session id and the page's CSRF token.
#[derive(Debug, Clone)]
pub struct Session {
    pub sid: String,
    pub csrf: String,
}

/// The CSRF token in a page's forms.
pub fn csrf_of(html: &str) -> String {
    let i = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token");
    let rest = &html[i + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

/// Makes an account with `manyi user add` and returns its one-time password.
pub fn add_user(ws: &Workspace, name: &str, args: &[&str]) -> String {
    let mut all = vec!["user", "add", name];
    all.extend_from_slice(args);
    let out = ws.ok(&all);
    out.split_whitespace().last().unwrap().to_string()
}

/// Logs in with the one-time password, sets `new_pw`, and returns the session.
pub fn first_login(srv: &Server, name: &str, one_time: &str, new_pw: &str) -> Session {
    let r = srv
        .req("POST", "/login")
        .form(&[("name", name), ("password", one_time), ("next", "/")])
        .send();
    assert_eq!(r.status, 303, "login of {name}: {}", r.text());
    assert_eq!(r.header("location"), Some("/account/password"));
    let sid = r.session_cookie().unwrap();
    let s = Session {
        sid,
        csrf: String::new(),
    };
    let page = srv.req("GET", "/account/password").cookie(&s).send();
    assert_eq!(page.status, 200);
    let csrf = csrf_of(&page.text());
    let r = srv
        .req("POST", "/account/password")
        .cookie(&s)
        .form(&[
            ("csrf", &csrf),
            ("old", one_time),
            ("new", new_pw),
            ("again", new_pw),
        ])
        .send();
    assert_eq!(r.status, 303, "password change of {name}: {}", r.text());
    let sid = r
        .session_cookie()
        .expect("a renewed session after the change");
    assert_ne!(
        sid, s.sid,
        "the session id is renewed when the password changes"
    );
    session_of(srv, sid)
}

/// A session with its CSRF token (read from a page).
pub fn session_of(srv: &Server, sid: String) -> Session {
    let mut s = Session {
        sid,
        csrf: String::new(),
    };
    let page = srv.req("GET", "/account/password").cookie(&s).send();
    assert_eq!(page.status, 200, "{}", page.text());
    s.csrf = csrf_of(&page.text());
    s
}

pub fn login(srv: &Server, name: &str, pw: &str) -> Session {
    let r = srv
        .req("POST", "/login")
        .form(&[("name", name), ("password", pw)])
        .send();
    assert_eq!(r.status, 303, "login of {name}: {}", r.text());
    session_of(srv, r.session_cookie().unwrap())
}
