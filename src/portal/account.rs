//! Signing in and out and changing one's password: the door (throttled per account and
//! per client address, wrong passwords answered after the same floor, `next` followed
//! only to a path of this site).

use axum::extract::{Query, State as AxState};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::State;
use super::respond::who;
use super::respond::{Caller, Refusal, page, refused, see_other};
use crate::accounts::{Login, PasswordChange};

#[derive(serde::Deserialize, Default)]
pub struct NextQuery {
    next: Option<String>,
}

fn login_body(next: &str, message: Option<&str>) -> Markup {
    html! {
        section.narrow {
            h1 { "登录" }
            @if let Some(m) = message { p.error role="alert" { (m) } }
            form method="post" action="/login" {
                input type="hidden" name="next" value=(next);
                label { "账户名" input type="text" name="name" autocomplete="username" required autofocus; }
                label { "密码" input type="password" name="password" autocomplete="current-password" required; }
                button type="submit" { "登录" }
            }
            p.hint { "账户由考核办开设。忘记密码请联系考核办重置。" }
        }
    }
}

/// Only a path of this site is followed after login: one leading `/` and then not a
/// second `/` or a backslash, no control or non-ASCII characters and no space — all
/// checked on the text as given and again after percent-decoding it (browsers drop a
/// tab or newline, so `/%09/evil.example` would be `//evil.example`). Anything else
/// goes to the home page.
pub fn safe_next(n: Option<&str>) -> String {
    fn plain_path(p: &str) -> bool {
        let b = p.as_bytes();
        b.first() == Some(&b'/')
            && !matches!(b.get(1), Some(b'/') | Some(b'\\'))
            && b.iter().all(|&c| c.is_ascii_graphic() && c != b'\\')
    }
    match n {
        Some(n) if n.len() <= 2000 && plain_path(n) && plain_path(&percent_decode(n)) => {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

/// `%XX` sequences decoded (repeatedly, so that `%2509` is seen as a tab too); bytes
/// that are not UTF-8 become U+FFFD, which `safe_next` refuses.
fn percent_decode(s: &str) -> String {
    let mut cur = s.to_string();
    for _ in 0..4 {
        let b = cur.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            let hex = (b[i] == b'%' && i + 3 <= b.len())
                .then(|| std::str::from_utf8(&b[i + 1..i + 3]).ok())
                .flatten()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(v) => {
                    out.push(v);
                    i += 3;
                }
                None => {
                    out.push(b[i]);
                    i += 1;
                }
            }
        }
        let next = String::from_utf8_lossy(&out).into_owned();
        if next == cur {
            break;
        }
        cur = next;
    }
    cur
}

pub async fn login_form(Query(q): Query<NextQuery>) -> Response {
    page(
        "登录",
        None,
        login_body(&safe_next(q.next.as_deref()), None),
    )
    .into_response()
}

#[derive(serde::Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
    next: Option<String>,
}

fn session_cookie(state: &State, sid: &str) -> HeaderValue {
    let secure = if state.cfg.secure() { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{}={sid}; Path=/; HttpOnly; SameSite=Strict{secure}",
        state.cfg.cookie_name()
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("manyi_session=; Path=/"))
}

fn clear_cookie(state: &State) -> HeaderValue {
    let secure = if state.cfg.secure() { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}",
        state.cfg.cookie_name()
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("manyi_session=; Path=/; Max-Age=0"))
}

pub async fn login(
    AxState(state): AxState<State>,
    caller: Caller,
    parts: axum::http::request::Parts,
    axum::Form(f): axum::Form<LoginForm>,
) -> Response {
    let started = std::time::Instant::now();
    let next = safe_next(f.next.as_deref());
    let ip = super::shield::request_ip(&state, &parts);
    let now = crate::accounts::now_secs();
    if let Some(retry_after) = state.limiter.blocked(ip, now) {
        return throttled_login(&next, retry_after, "此地址登录失败次数过多");
    }
    // On the blocking pool already (`shield::offload`): Argon2id and SQLite here wait
    // for no one but this request; the journal entry is deferred (never the store lock).
    let res = state
        .db()
        .and_then(|db| db.login(&f.name, &f.password, now));
    let res = match res {
        Ok(r) => r,
        Err(e) => return refused(Refusal::from_error(e)),
    };
    match res {
        Login::Ok(a) => {
            // A new session id at every login (never one the browser had before).
            let db = match state.db() {
                Ok(db) => db,
                Err(e) => return refused(Refusal::from_error(e)),
            };
            if let Some(old) = &caller.sid
                && let Err(e) = db.end_session(old)
            {
                return refused(Refusal::from_error(e));
            }
            let (sid, _) = match db.new_session(&a.name, crate::accounts::now_secs()) {
                Ok(s) => s,
                Err(e) => return refused(Refusal::from_error(e)),
            };
            drop(db);
            let to = if a.must_change {
                "/account/password".to_string()
            } else {
                next
            };
            let mut r = see_other(&to);
            r.headers_mut()
                .insert(header::SET_COOKIE, session_cookie(&state, &sid));
            r
        }
        Login::Wrong => {
            state.limiter.failed(ip, now);
            // The same time whether the name exists or not (the work differs: a
            // journal entry for an existing account).
            wait_until(started, state.cfg.wrong_password_floor).await;
            (
                StatusCode::UNAUTHORIZED,
                page("登录", None, login_body(&next, Some("账户名或密码不正确"))),
            )
                .into_response()
        }
        Login::Throttled { retry_after } => {
            throttled_login(&next, retry_after, "此账户登录失败次数过多，已暂时锁定")
        }
    }
}

/// Sleeps (without holding a thread of the async workers) until `floor` has passed
/// since `started`.
pub(super) async fn wait_until(started: std::time::Instant, floor: std::time::Duration) {
    if let Some(left) = floor.checked_sub(started.elapsed()) {
        tokio::time::sleep(left).await;
    }
}

fn throttled_login(next: &str, retry_after: i64, why: &str) -> Response {
    let mins = (retry_after + 59) / 60;
    let r = (
        StatusCode::TOO_MANY_REQUESTS,
        page(
            "登录",
            None,
            login_body(next, Some(&format!("{why}；请 {mins} 分钟后再试"))),
        ),
    )
        .into_response();
    super::respond::retry_after(r, retry_after)
}

pub async fn logout(AxState(state): AxState<State>, caller: Caller) -> Response {
    if let Some(sid) = &caller.sid {
        let db = match state.db() {
            Ok(db) => db,
            Err(e) => return refused(Refusal::from_error(e)),
        };
        if let Err(e) = db.end_session(sid) {
            return refused(Refusal::from_error(e));
        }
        if let Some(a) = &caller.account
            && let Err(e) = db.journal_logout(&a.name)
        {
            return refused(Refusal::from_error(e));
        }
    }
    let mut r = see_other("/login");
    r.headers_mut()
        .insert(header::SET_COOKIE, clear_cookie(&state));
    r
}

fn password_body(c: &Caller, must: bool, message: Option<&str>) -> Markup {
    html! {
        section.narrow {
            h1 { "修改密码" }
            @if must { p.notice { "这是考核办发给您的一次性密码，请先设置您自己的密码。" } }
            @if let Some(m) = message { p.error role="alert" { (m) } }
            form method="post" action="/account/password" {
                input type="hidden" name="csrf" value=(c.csrf);
                label { "当前密码" input type="password" name="old" autocomplete="current-password" required; }
                label { "新密码（至少 10 个字符，含至少两类字符）" input type="password" name="new" autocomplete="new-password" required minlength="10"; }
                label { "再次输入新密码" input type="password" name="again" autocomplete="new-password" required minlength="10"; }
                button type="submit" { "保存" }
            }
        }
    }
}

pub async fn password_form(caller: Caller) -> Response {
    let must = caller.account.as_ref().is_some_and(|a| a.must_change);
    page(
        "修改密码",
        Some(&caller),
        password_body(&caller, must, None),
    )
    .into_response()
}

#[derive(serde::Deserialize)]
pub struct PasswordForm {
    old: String,
    new: String,
    again: String,
}

pub async fn password_change(
    AxState(state): AxState<State>,
    caller: Caller,
    parts: axum::http::request::Parts,
    axum::Form(f): axum::Form<PasswordForm>,
) -> Response {
    let started = std::time::Instant::now();
    let a = who!(caller);
    let fail = |status: StatusCode, m: &str| {
        (
            status,
            page(
                "修改密码",
                Some(&caller),
                password_body(&caller, a.must_change, Some(m)),
            ),
        )
            .into_response()
    };
    let ip = super::shield::request_ip(&state, &parts);
    let now = crate::accounts::now_secs();
    if let Some(retry_after) = state.limiter.blocked(ip, now) {
        let mins = (retry_after + 59) / 60;
        return super::respond::retry_after(
            fail(
                StatusCode::TOO_MANY_REQUESTS,
                &format!("此地址密码错误次数过多；请 {mins} 分钟后再试"),
            ),
            retry_after,
        );
    }
    if f.new != f.again {
        return fail(StatusCode::UNPROCESSABLE_ENTITY, "两次输入的新密码不一致");
    }
    let res = state
        .db()
        .and_then(|db| db.change_password(&a.name, &f.old, &f.new));
    match res {
        Ok(PasswordChange::Done) => {}
        Ok(PasswordChange::WrongOld) => {
            state.limiter.failed(ip, now);
            wait_until(started, state.cfg.wrong_password_floor).await;
            return fail(StatusCode::UNPROCESSABLE_ENTITY, "当前密码不正确");
        }
        Ok(PasswordChange::Throttled { retry_after }) => {
            let mins = (retry_after + 59) / 60;
            return super::respond::retry_after(
                fail(
                    StatusCode::TOO_MANY_REQUESTS,
                    &format!("当前密码错误次数过多，已暂时锁定；请 {mins} 分钟后再试"),
                ),
                retry_after,
            );
        }
        Err(crate::error::Error::Invalid(m)) => {
            return fail(StatusCode::UNPROCESSABLE_ENTITY, &m);
        }
        Err(e) => return refused(Refusal::from_error(e)),
    }
    // Every session of the account ended with the change; this one is renewed.
    let sid = match state
        .db()
        .and_then(|db| db.new_session(&a.name, crate::accounts::now_secs()))
    {
        Ok((sid, _)) => sid,
        Err(e) => return refused(Refusal::from_error(e)),
    };
    let mut r = see_other("/");
    r.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&state, &sid));
    r
}
