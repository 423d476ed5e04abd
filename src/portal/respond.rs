//! What every handler uses to answer: who asks (`Caller`, put there by the guard),
//! refusals (`Refusal`, `refuse`: JSON `{"code", "error"}` for the API, a page for
//! people), the page frame, redirects, file streaming, the one way to run library
//! work (`blocking`) and to take the server's turn to write (`write_turn`), and the
//! `who!`/`tryr!` shorthands. Imports no other file of the portal but `mod.rs`.

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::{HeaderValue, StatusCode, Uri, header, request::Parts};
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::State;
use crate::accounts::{Account, Role};

/// The signed-in account of a handler, or the refusal to return (401).
macro_rules! who {
    ($caller:expr) => {
        match $caller.who() {
            Ok(a) => a.clone(),
            Err(r) => return r,
        }
    };
}
pub(super) use who;

/// The value, or the refusal's answer returned from the handler.
macro_rules! tryr {
    ($e:expr) => {
        match $e {
            Ok(x) => x,
            Err(e) => return $crate::portal::respond::refused(e),
        }
    };
}
pub(super) use tryr;

/// Who is asking, as the guard found it (in the request's extensions).
#[derive(Debug, Clone)]
pub struct Caller {
    pub account: Option<Account>,
    /// The session id (pages), to end or renew it.
    pub sid: Option<String>,
    /// The session's CSRF token (pages), for the forms of the page.
    pub csrf: String,
    pub api: bool,
    /// Staff pages: the undecided flags of every round as last counted (the header
    /// shows them; `office::undecided` keeps the counts).
    pub undecided: Option<usize>,
}

impl Caller {
    /// The signed-in account (the guard let an anonymous caller through only to a
    /// public route, whose handlers do not ask).
    pub fn who(&self) -> Result<&Account, Response> {
        self.account.as_ref().ok_or_else(|| {
            refuse(
                self.api,
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "请先登录",
            )
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            refuse(
                parts.uri.path().starts_with("/api/"),
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the route has no guard",
            )
        })
    }
}

/// An error answer: JSON `{"code", "error"}` for the API, a page for people.
pub fn refuse(api: bool, status: StatusCode, code: &str, message: &str) -> Response {
    if api {
        (
            status,
            axum::Json(serde_json::json!({"code": code, "error": message})),
        )
            .into_response()
    } else {
        let mut r = (status, error_page(status, message)).into_response();
        // The guard puts the navigation back for a signed-in caller (`with_nav`).
        r.extensions_mut().insert(RefusalNote {
            message: message.to_string(),
        });
        r
    }
}

/// What a refusal page said, kept on the answer so that the guard can render it again
/// with the signed-in caller's navigation.
#[derive(Debug, Clone)]
pub struct RefusalNote {
    pub message: String,
}

/// A refusal page rendered without navigation, again with `caller`'s (its status and
/// headers kept); any other answer as it is.
pub fn with_nav(res: Response, caller: &Caller) -> Response {
    let Some(note) = res.extensions().get::<RefusalNote>().cloned() else {
        return res;
    };
    if caller.account.is_none() || caller.api {
        return res;
    }
    let status = res.status();
    let mut out = (status, error_page_for(Some(caller), status, &note.message)).into_response();
    for (k, v) in res.headers() {
        if k != header::CONTENT_LENGTH && k != header::CONTENT_TYPE {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}

/// Why an upload was refused: status, stable code, message for people.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn not_found() -> Refusal {
        Refusal::new(StatusCode::NOT_FOUND, "not-found", "没有这个对象")
    }

    /// A server fault: a generic message with an id; the detail (a path, an
    /// operating-system error) goes to the server's log only.
    pub fn internal(detail: &str) -> Refusal {
        let id = crate::accounts::random_hex(6).unwrap_or_else(|_| "-".into());
        eprintln!("manyi serve: internal error {id}: {detail}");
        Refusal::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("服务器内部错误，请稍后重试；如果再次出现，请把编号 {id} 告诉管理员"),
        )
    }

    pub fn from_error(e: crate::error::Error) -> Refusal {
        use crate::error::Error as E;
        match e {
            E::Io { .. } | E::Internal(_) | E::Polars { .. } => Refusal::internal(&e.to_string()),
            E::NotFound(m) => Refusal::new(StatusCode::NOT_FOUND, "not-found", m),
            other => Refusal::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "refused",
                other.to_string(),
            ),
        }
    }
}

pub(super) fn too_large(max: u64) -> Refusal {
    Refusal::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-large",
        format!(
            "文件超过上传上限 {} MB；请分成几个文件上传，或请考核办调整上限",
            max >> 20
        ),
    )
}

/// A 500 with a generic message and an id; the detail goes to the server's log only.
pub fn internal(api: bool, what: &str, detail: &str) -> Response {
    let r = Refusal::internal(&format!("{what}: {detail}"));
    refuse(api, r.status, r.code, &r.message)
}

/// Adds `Retry-After` to a response.
pub fn retry_after(mut r: Response, secs: i64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

pub fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// An anonymous person asking for a page: to the login page, and back afterwards.
pub fn to_login(uri: &Uri) -> Response {
    let next = uri.path();
    see_other(&format!("/login?next={}", pct(next)))
}

fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub(super) fn page(title: &str, caller: Option<&Caller>, body: Markup) -> Html<String> {
    let who = caller.and_then(|c| c.account.as_ref());
    Html(
        html! {
            (DOCTYPE)
            html lang="zh-CN" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · 盘龙区满意度测评" }
                    link rel="stylesheet" href="/static/portal.css";
                }
                body {
                    header.top {
                        a.brand href="/" { "盘龙区满意度测评" }
                        @if let (Some(a), Some(c)) = (who, caller) {
                            nav {
                                @if a.role.is_staff() {
                                    a href="/desk" { "工作台" }
                                    @if let Some(n) = c.undecided {
                                        a.flags href="/desk" title="各轮尚未决定的质量标记" { "待决定标记 " span.count { (n) } }
                                    }
                                }
                                @if matches!(a.role, Role::Evaluator | Role::Office | Role::Admin) {
                                    a href="/rounds" { "测评轮次" }
                                    a href="/deliveries" { "交付记录" }
                                }
                                @if a.role.is_staff() {
                                    a href="/jobs" { "任务" }
                                    a href="/indicators" { "任务指标" }
                                    a href="/appeals" { "申诉" }
                                    a href="/ledger" { "整改台账" }
                                    a href="/journal" { "日志" }
                                }
                                @if a.role == Role::Admin {
                                    a href="/admin/users" { "账户" }
                                }
                                @if a.role == Role::Street {
                                    a href="/" { "本街道结果" }
                                }
                                span.who {
                                    (a.name) " · " (a.role.zh())
                                    @if let Some(o) = &a.org { " · " (o) }
                                }
                                a href="/help" { "帮助" }
                                a href="/account/password" { "修改密码" }
                                form.inline method="post" action="/logout" {
                                    input type="hidden" name="csrf" value=(c.csrf);
                                    button.link type="submit" { "退出" }
                                }
                            }
                        }
                    }
                    main { (body) }
                    script src="/static/portal.js" {}
                }
            }
        }
        .into_string(),
    )
}

/// A page that says what went wrong (every refusal of a page route).
pub fn error_page(status: StatusCode, message: &str) -> Html<String> {
    error_page_for(None, status, message)
}

/// As `error_page`, with the navigation of `caller` when given.
pub fn error_page_for(caller: Option<&Caller>, status: StatusCode, message: &str) -> Html<String> {
    let title = match status {
        StatusCode::NOT_FOUND => "没有找到",
        StatusCode::FORBIDDEN => "无权访问",
        StatusCode::UNAUTHORIZED => "请先登录",
        StatusCode::PAYLOAD_TOO_LARGE => "文件过大",
        StatusCode::TOO_MANY_REQUESTS => "请稍后再试",
        StatusCode::UNPROCESSABLE_ENTITY => "无法接收",
        _ => "出错了",
    };
    page(
        title,
        caller,
        html! {
            h1 { (title) }
            p.error { (message) }
            p { a href="/" { "返回首页" } }
        },
    )
}

pub(super) fn refused(r: Refusal) -> Response {
    refuse(false, r.status, r.code, &r.message)
}

/// A number as the reports show it: one decimal, a dash when there is none.
pub(super) fn fmt1(x: Option<f64>) -> String {
    x.map_or_else(|| "—".into(), |v| format!("{v:.1}"))
}

/// Streams a file from the store as a download (never read whole into memory).
pub async fn stream_file(
    path: std::path::PathBuf,
    content_type: &'static str,
    name: &str,
) -> Response {
    let f = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) => return refused(Refusal::from_error(crate::error::Error::io(&path, e))),
    };
    let len = f.metadata().await.ok().map(|m| m.len());
    let stream = futures_util::stream::unfold(f, |mut f| async move {
        use tokio::io::AsyncReadExt as _;
        let mut buf = vec![0u8; 256 << 10];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    });
    let mut r = Response::new(Body::from_stream(stream));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(n) = len
        && let Ok(v) = HeaderValue::from_str(&n.to_string())
    {
        h.insert(header::CONTENT_LENGTH, v);
    }
    if let Some(v) = disposition(name) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

/// `attachment` with the name in ASCII and in UTF-8 (RFC 6266).
fn disposition(name: &str) -> Option<HeaderValue> {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    HeaderValue::from_str(&format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        pct(name).replace('/', "%2F")
    ))
    .ok()
}

/// Bytes made for this answer as a download named `name`.
pub fn bytes_download(bytes: Vec<u8>, content_type: &'static str, name: &str) -> Response {
    let mut r = Response::new(Body::from(bytes));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(v) = disposition(name) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

impl From<crate::error::Error> for Refusal {
    fn from(e: crate::error::Error) -> Refusal {
        Refusal::from_error(e)
    }
}

/// The one way a handler runs library work: on a thread of its own from the blocking
/// pool (handlers already run on that pool, see `shield::offload`; this keeps a long
/// call's panic to its own request and its errors mapped once). `f` fails with a
/// library error or a refusal.
pub async fn blocking<T, E, F>(f: F) -> Result<T, Refusal>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    Refusal: From<E>,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(Refusal::from),
        Err(e) => Err(Refusal::internal(&e.to_string())),
    }
}

/// This server's turn to write to the store (one write at a time; see `AppState::writes`).
pub async fn write_turn(state: &State) -> Result<tokio::sync::SemaphorePermit<'_>, Refusal> {
    state.writes.acquire().await.map_err(|_| {
        Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "stopping",
            "服务器正在停止，请稍后重试",
        )
    })
}

/// An error with every cause below it ("a: b: c"), for the server's log.
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}
