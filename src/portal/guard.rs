//! The guard in front of every route: who is asking (session cookie for pages, bearer
//! token for the API), whether their role may use the route at all (403) or must sign
//! in first (401 / the login page), cross-site refusal (Fetch Metadata, Origin), and
//! the CSRF token of every state-changing page request. Nothing reaches a handler
//! without passing here; handlers then answer 404 for objects that are not the
//! caller's.

use axum::body::Body;
use axum::extract::{Request, State as AxState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::respond::Caller;
use super::respond::refuse;
use super::{Route, State};

fn cookie<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

fn bearer(h: &HeaderMap) -> Option<&str> {
    h.get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Constant-time equality of two tokens.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && !a.is_empty()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The origin people use: `--public-url`, else what the request says its host is.
fn expected_origin(state: &State, h: &HeaderMap) -> Option<String> {
    if let Some(u) = &state.cfg.public_url {
        let u = u.trim_end_matches('/');
        // scheme://host[:port] only.
        let rest = u
            .split_once("://")
            .map(|(s, r)| (s, r.split('/').next().unwrap_or("")));
        return rest.map(|(s, host)| format!("{s}://{host}"));
    }
    h.get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(|host| format!("http://{host}"))
}

/// A state-changing request another site made the browser send.
fn cross_site(state: &State, h: &HeaderMap) -> bool {
    if let Some(s) = h.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && matches!(s, "cross-site" | "same-site")
    {
        return true;
    }
    if let Some(o) = h.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        return expected_origin(state, h).as_deref() != Some(o);
    }
    false
}

const FORM_LIMIT: usize = 64 << 10;

fn query_param<'a>(q: Option<&'a str>, key: &str) -> Option<String> {
    q?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.to_string())
    })
}

pub async fn guard(
    AxState((state, route)): AxState<(State, Route)>,
    mut req: Request,
    next: Next,
) -> Response {
    let api = route.api;
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if unsafe_method && cross_site(&state, req.headers()) {
        return refuse(api, StatusCode::FORBIDDEN, "cross-site", "拒绝跨站请求");
    }
    let now = crate::accounts::now_secs();
    // Who asks.
    let mut caller = Caller {
        account: None,
        sid: None,
        csrf: String::new(),
        api,
        undecided: None,
    };
    let lookup = if api {
        match bearer(req.headers()) {
            Some(t) => state
                .db()
                .and_then(|db| db.token_account(t))
                .map(|a| (a, None, String::new())),
            None => Ok((None, None, String::new())),
        }
    } else {
        match cookie(req.headers(), state.cfg.cookie_name()) {
            Some(sid) => state
                .db()
                .and_then(|db| db.session(sid, now, state.cfg.lifetimes))
                .map(|s| match s {
                    Some(s) => (Some(s.account), Some(sid.to_string()), s.csrf),
                    None => (None, None, String::new()),
                }),
            None => Ok((None, None, String::new())),
        }
    };
    match lookup {
        Ok((a, sid, csrf)) => {
            caller.account = a;
            caller.sid = sid;
            caller.csrf = csrf;
        }
        Err(e) => return super::respond::internal(api, "who is asking", &e.to_string()),
    }
    if route.access != super::Access::Public {
        let Some(account) = &caller.account else {
            if api {
                return refuse(
                    true,
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "a valid API token is required: Authorization: Bearer <token>",
                );
            }
            return super::respond::to_login(req.uri());
        };
        if !route.access.allows(account.role) {
            let r = refuse(
                api,
                StatusCode::FORBIDDEN,
                "forbidden",
                "您的账户没有使用此功能的权限",
            );
            return super::respond::with_nav(r, &caller);
        }
        if !api && account.must_change && !matches!(route.path, "/account/password" | "/logout") {
            return super::respond::see_other("/account/password");
        }
        // The CSRF token of a signed-in page's state-changing request: a header (scripts),
        // the query (multipart uploads without scripts) or the form's `csrf` field.
        if !api && unsafe_method {
            let mut token = req
                .headers()
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .or_else(|| query_param(req.uri().query(), "csrf"));
            let is_form = req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
            if token.is_none() && is_form {
                let (parts, body) = req.into_parts();
                let bytes = match axum::body::to_bytes(body, FORM_LIMIT).await {
                    Ok(b) => b,
                    Err(_) => {
                        return refuse(
                            false,
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "too-large",
                            "表单内容过长",
                        );
                    }
                };
                token = form_urlencoded_field(&bytes, "csrf");
                req = Request::from_parts(parts, Body::from(bytes));
            }
            if !token.is_some_and(|t| same_token(&t, &caller.csrf)) {
                return refuse(
                    false,
                    StatusCode::FORBIDDEN,
                    "csrf",
                    "页面已过期或请求来源不明（CSRF 校验失败），请返回刷新后重试",
                );
            }
        }
    }
    if !api && caller.account.as_ref().is_some_and(|a| a.role.is_staff()) {
        let memo = state.undecided.lock().await;
        if !memo.is_empty() {
            caller.undecided = Some(memo.values().map(|m| m.n).sum());
        }
    }
    req.extensions_mut().insert(caller.clone());
    let res = next.run(req).await;
    super::respond::with_nav(res, &caller)
}

fn form_urlencoded_field(bytes: &[u8], key: &str) -> Option<String> {
    serde_urlencoded_pairs(bytes)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// `a=1&b=%E4%B8%AD` → pairs, percent- and plus-decoded.
pub fn serde_urlencoded_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    let dec = |s: &[u8]| -> String {
        let mut out = Vec::with_capacity(s.len());
        let mut i = 0;
        while i < s.len() {
            match s[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < s.len() => {
                    match u8::from_str_radix(
                        std::str::from_utf8(&s[i + 1..i + 3]).unwrap_or("zz"),
                        16,
                    ) {
                        Ok(b) => {
                            out.push(b);
                            i += 2;
                        }
                        Err(_) => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    bytes
        .split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.iter().position(|&b| b == b'=') {
            Some(i) => (dec(&p[..i]), dec(&p[i + 1..])),
            None => (dec(p), String::new()),
        })
        .collect()
}

/// Security headers on every answer.
pub async fn headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let set = |h: &mut HeaderMap, k: &'static str, v: &'static str| {
        if !h.contains_key(k) {
            h.insert(k, HeaderValue::from_static(v));
        }
    };
    set(
        h,
        "content-security-policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; font-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    );
    set(h, "x-content-type-options", "nosniff");
    set(h, "x-frame-options", "DENY");
    set(h, "referrer-policy", "same-origin");
    set(h, "cache-control", "no-store");
    res
}

/// Any path no route has.
pub async fn not_found(req: Request) -> Response {
    refuse(
        req.uri().path().starts_with("/api/"),
        StatusCode::NOT_FOUND,
        "not-found",
        "没有这个页面",
    )
}
