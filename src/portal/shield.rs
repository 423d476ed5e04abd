//! What stands between the network and the handlers, so that no client and no request
//! can stall or break the others:
//!
//! - the accept loop: at most `max_connections` open connections (past it a new one is
//!   answered 503 and closed at once), a connection that does not finish its request
//!   headers within `header_timeout` is closed (slow-header clients, idle keep-alives);
//! - `offload`: every handler (and the guard before it) runs on the blocking pool, so a
//!   handler that reads files, checks a password, waits for SQLite or for the store
//!   never occupies one of the few async workers that serve all connections; a panic
//!   in a handler becomes a 500 with a generic Chinese message and an id that is in the
//!   server's log, never the panic's text; an error the framework answers by itself
//!   (a broken multipart body, a bad query, 413) is rewritten as JSON `{"code",
//!   "error"}` for the API and as a page for people;
//! - `Limiter`: failed password checks counted per client address (with `--trusted-proxy`,
//!   the address a trusted proxy forwarded).
//!
//! Lock order, once for the whole portal (never wait for a later one while holding an
//! earlier one's guard across the wait of another): the server's write turn
//! (`AppState::writes`) → the store lock (`store::Store::lock`, inside library calls)
//! → an accounts connection (`AppState::db`, SQLite's own locking, milliseconds). The
//! journal thread takes only the store lock; account events never wait for it
//! (`journal::defer`). The in-memory maps (`Limiter`, memoised counts) are held for
//! a lookup, never across another wait.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::State;
use super::respond::internal;

/// The address of the connection a request came on (set by the accept loop).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// The client's address: the connection's peer, or — when that peer is one of the
/// `--trusted-proxy` addresses — the last address in `X-Forwarded-For` that is not a
/// trusted proxy itself (what the proxy saw; earlier entries are the client's claim).
pub fn client_ip(
    req_headers: &axum::http::HeaderMap,
    peer: Option<Peer>,
    trusted: &[IpAddr],
) -> Option<IpAddr> {
    let peer = peer?.0.ip();
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = req_headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .collect();
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|ip| !trusted.contains(ip))
            .unwrap_or(peer),
    )
}

/// Failed password checks per client address within a window: past `max`, the address
/// is refused (429) until its oldest failure leaves the window. Bounded in memory: at
/// most `MAX_ADDRESSES` addresses are tracked (the stalest are forgotten first).
pub struct Limiter {
    max: u32,
    window: i64,
    seen: std::sync::Mutex<HashMap<IpAddr, VecDeque<i64>>>,
}

const MAX_ADDRESSES: usize = 100_000;

impl Limiter {
    pub fn new(max: u32, window_secs: i64) -> Limiter {
        Limiter {
            max,
            window: window_secs,
            seen: Default::default(),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, VecDeque<i64>>> {
        // A panic while holding it leaves at worst a stale count: go on with it.
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Seconds until `ip` may try again (None: it may now). Without an address (no
    /// peer known) nothing is limited here; the per-account limit still holds.
    pub fn blocked(&self, ip: Option<IpAddr>, now: i64) -> Option<i64> {
        let ip = ip?;
        if self.max == 0 {
            return None;
        }
        let mut m = self.map();
        let q = m.get_mut(&ip)?;
        while q.front().is_some_and(|&t| t <= now - self.window) {
            q.pop_front();
        }
        if q.is_empty() {
            m.remove(&ip);
            return None;
        }
        (q.len() >= self.max as usize).then(|| (q[0] + self.window - now).max(1))
    }

    /// Counts a failed check from `ip`.
    pub fn failed(&self, ip: Option<IpAddr>, now: i64) {
        let Some(ip) = ip else { return };
        if self.max == 0 {
            return;
        }
        let mut m = self.map();
        if m.len() >= MAX_ADDRESSES && !m.contains_key(&ip) {
            let window = self.window;
            m.retain(|_, q| q.back().is_some_and(|&t| t > now - window));
            if m.len() >= MAX_ADDRESSES {
                // Still full of live addresses: forget the one idle the longest.
                if let Some(k) = m
                    .iter()
                    .min_by_key(|(_, q)| q.back().copied().unwrap_or(0))
                    .map(|(k, _)| *k)
                {
                    m.remove(&k);
                }
            }
        }
        let q = m.entry(ip).or_default();
        q.push_back(now);
        // Only the last `max` failures matter.
        while q.len() > self.max as usize {
            q.pop_front();
        }
    }
}

/// Requests served on the async workers as they are: they touch no file, lock or
/// database (the health check must answer while everything else is busy).
fn stays_async(path: &str) -> bool {
    path == "/healthz" || path.starts_with("/static/")
}

/// Uploads (a file of any size over a slow line): only the pause between two pieces
/// of the body is bounded, not its whole time.
fn is_upload(method: &axum::http::Method, path: &str) -> bool {
    method == axum::http::Method::POST && (path.ends_with("/deliveries") || path == "/indicators")
}

/// Most a request body other than an upload's may take in all.
const SMALL_BODY_DEADLINE: Duration = Duration::from_secs(30);

/// The request's body, refused (an error to whoever reads it, and the connection is
/// closed after the answer) when no byte arrives for `idle`, or when it is not whole
/// by `total`: a client that promises a body and never sends it cannot hold a
/// connection and a thread for ever.
/// With `digest`, a body that arrives whole is logged with its length and xxh3 (a
/// multipart upload: what arrived can then be compared with what was sent).
fn timed_body(
    body: Body,
    idle: Duration,
    total: Option<Duration>,
    announced: Option<u64>,
    digest: bool,
) -> Body {
    use futures_util::StreamExt as _;
    let deadline = total.map(|t| tokio::time::Instant::now() + t);
    // With the digest, the sizes of the pieces as they came (the first and last 16).
    let hasher = digest.then(|| (xxhash_rust::xxh3::Xxh3::new(), Vec::<usize>::new(), 0usize));
    let stream = futures_util::stream::unfold(
        Some((body.into_data_stream(), 0u64, hasher)),
        move |state| async move {
            let (mut s, got, mut hasher) = state?;
            let wait = match deadline {
                Some(d) => idle.min(d.saturating_duration_since(tokio::time::Instant::now())),
                None => idle,
            };
            match tokio::time::timeout(wait, s.next()).await {
                Ok(Some(Ok(bytes))) => {
                    let got = got + bytes.len() as u64;
                    if let Some((h, sizes, count)) = hasher.as_mut() {
                        h.update(&bytes);
                        *count += 1;
                        if sizes.len() < 32 {
                            sizes.push(bytes.len());
                        } else {
                            sizes.remove(16);
                            sizes.push(bytes.len());
                        }
                    }
                    Some((Ok(bytes), Some((s, got, hasher))))
                }
                Ok(Some(Err(e))) => {
                    eprintln!(
                        "manyi serve: a request body failed after {got} bytes: {}",
                        super::respond::error_chain(&e)
                    );
                    Some((Err(axum::BoxError::from(e)), None))
                }
                Ok(None) => {
                    // The server's own check that a body ended where it said it would
                    // (hyper enforces it; a short body here is a bug to find).
                    if let Some(n) = announced
                        && got != n
                    {
                        eprintln!("manyi serve: a request body ended after {got} of its {n} bytes");
                    } else if let Some((h, sizes, count)) = hasher {
                        eprintln!(
                            "manyi serve: a multipart body of {got} bytes arrived whole (xxh3 {:016x}) in {count} pieces {sizes:?}",
                            h.digest()
                        );
                    }
                    None
                }
                Err(_) => Some((
                    Err(axum::BoxError::from(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the request body stopped arriving",
                    ))),
                    None,
                )),
            }
        },
    );
    Body::from_stream(stream)
}

/// Runs the rest of the request (guard and handler) on the blocking pool, catches a
/// panic, and gives the framework's own refusals our shape.
pub async fn offload(
    axum::extract::State(state): axum::extract::State<State>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_string();
    let api = path.starts_with("/api/");
    let method = req.method().clone();
    let total = (!is_upload(&method, &path)).then_some(SMALL_BODY_DEADLINE);
    let (parts, body) = req.into_parts();
    let announced = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let multipart = parts
        .headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/"));
    let req = Request::from_parts(
        parts,
        timed_body(body, state.cfg.body_timeout, total, announced, multipart),
    );
    let res = if stays_async(&path) {
        next.run(req).await
    } else {
        let handle = tokio::runtime::Handle::current();
        let run = move || {
            // Test hook: a panic in the request at these paths (the tests' only way to
            // make a handler panic once every known panic is fixed).
            if std::env::var("MANYI_TEST_PANIC_ON")
                .is_ok_and(|p| p.split(',').any(|p| p == req.uri().path()))
            {
                panic!("test panic with a secret text /etc/manyi/secret"); // ok: test hook
            }
            handle.block_on(next.run(req))
        };
        match tokio::task::spawn_blocking(run).await {
            Ok(r) => r,
            Err(e) if e.is_panic() => {
                let what = format!("{method} {path}");
                let p = e.into_panic();
                let detail = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic (its text is above in this log)".into());
                return internal(api, &what, &detail);
            }
            Err(e) => return internal(api, &format!("{method} {path}"), &e.to_string()),
        }
    };
    uniform(api, res)
}

/// A refusal the framework made (plain text, English) as the API's JSON or a page.
fn uniform(api: bool, res: Response) -> Response {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let ct = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let ours = if api {
        ct.starts_with("application/json")
    } else {
        ct.starts_with("text/html") || ct.starts_with("application/json")
    };
    if ours {
        return res;
    }
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ("too-large", "请求内容超过上限"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported-media-type", "请求的内容类型不对"),
        StatusCode::METHOD_NOT_ALLOWED => ("method-not-allowed", "此地址不接受这种请求方式"),
        StatusCode::NOT_FOUND => ("not-found", "没有这个页面"),
        StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => {
            ("bad-request", "请求格式不正确，无法处理")
        }
        s if s.is_server_error() => ("internal", "服务器内部错误，请稍后重试"),
        _ => ("bad-request", "请求无法处理"),
    };
    let mut out = super::respond::refuse(api, status, code, message);
    // Keep what the framework said about the method or the retry.
    for h in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = res.headers().get(&h) {
            out.headers_mut().insert(h, v.clone());
        }
    }
    out
}

/// How the accept loop runs.
#[derive(Debug, Clone)]
pub struct Limits {
    pub header_timeout: Duration,
    pub max_connections: usize,
    /// Open connections from one client address at most (trusted proxies exempt).
    pub per_address: usize,
    pub trusted_proxies: Vec<IpAddr>,
}

/// Open connections per client address; a slot is given back when its guard drops.
#[derive(Default, Clone)]
struct PerAddress(Arc<std::sync::Mutex<HashMap<IpAddr, usize>>>);

struct AddressSlot(PerAddress, IpAddr);

impl PerAddress {
    fn take(&self, ip: IpAddr, max: usize) -> Option<AddressSlot> {
        // Counts only: a panic while holding it cannot leave it half-changed.
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(AddressSlot(self.clone(), ip))
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut m = (self.0).0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.1);
            }
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then waits for the
/// connections in progress (each finishes its request).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let per_address = PerAddress::default();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let (stream, addr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment instead of
                    // spinning, then go on accepting.
                    eprintln!("manyi serve: accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let busy = |stream: tokio::net::TcpStream| {
            // Full: say so and close, without reading (costs no slot, no task).
            // ok: a peer that cannot take 90 bytes at once is closed all the same.
            let _ = stream.try_write(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\nRetry-After: 5\r\n\r\n",
            );
        };
        let ip = addr.ip();
        let address_slot = if limits.trusted_proxies.contains(&ip) {
            None
        } else {
            match per_address.take(ip, limits.per_address.max(1)) {
                Some(s) => Some(s),
                None => {
                    busy(stream);
                    continue;
                }
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            busy(stream);
            continue;
        };
        if let Err(e) = stream.set_nodelay(true) {
            eprintln!("manyi serve: TCP_NODELAY on {addr}: {e}");
        }
        let router = router.clone();
        let svc =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(Peer(addr));
                let mut r = router.clone();
                let req = req.map(Body::new);
                tower_service::Service::call(&mut r, req)
            });
        let conn = builder.serve_connection(TokioIo::new(stream), svc);
        let fut = graceful.watch(conn);
        tokio::spawn(async move {
            // ok: a connection ends with an error when the client goes away or is
            // too slow with its headers; nothing to tell anyone.
            let _ = fut.await;
            drop(permit);
            drop(address_slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The client address of a request as the portal counts it.
pub fn request_ip(state: &State, parts: &axum::http::request::Parts) -> Option<IpAddr> {
    client_ip(
        &parts.headers,
        parts.extensions.get::<Peer>().copied(),
        &state.cfg.trusted_proxies,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_refused_after_max_failures_until_the_window_passes() {
        let l = Limiter::new(3, 100);
        let ip: Option<IpAddr> = Some("10.0.0.7".parse().unwrap());
        let other: Option<IpAddr> = Some("10.0.0.8".parse().unwrap());
        for t in 0..3 {
            assert_eq!(l.blocked(ip, t), None);
            l.failed(ip, t);
        }
        assert_eq!(l.blocked(ip, 3), Some(97));
        assert_eq!(l.blocked(other, 3), None);
        assert_eq!(
            l.blocked(ip, 100),
            None,
            "the first failure left the window"
        );
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let mut h = axum::http::HeaderMap::new();
        h.insert("x-forwarded-for", "1.2.3.4, 10.0.0.9".parse().unwrap());
        let peer = Some(Peer("10.0.0.1:5000".parse().unwrap()));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // Not trusted: the header is the client's own claim.
        assert_eq!(client_ip(&h, peer, &[]), Some(ip("10.0.0.1")));
        // Trusted proxy: the last address it did not add itself.
        assert_eq!(client_ip(&h, peer, &[ip("10.0.0.1")]), Some(ip("10.0.0.9")));
        assert_eq!(
            client_ip(&h, peer, &[ip("10.0.0.1"), ip("10.0.0.9")]),
            Some(ip("1.2.3.4"))
        );
    }
}
