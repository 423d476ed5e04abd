//! The portal's pages (简体中文, plain HTML that works without scripts; maud escapes
//! every value it is given). Handlers find who asks (`Caller`), ask the library, and
//! render.

use axum::body::Body;
use axum::extract::{Multipart, Path as UrlPath, Query, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::upload::Refusal;
use super::{Caller, State};
use crate::accounts::{Account, Login, PasswordChange, Role};
use crate::round::RoundId;
use crate::store::DeliveryEntry;

const CSS: &str = include_str!("../../web/portal.css");
const JS: &str = include_str!("../../web/portal.js");

pub async fn healthz() -> Response {
    axum::Json(serde_json::json!({"status": "ok"})).into_response()
}

fn asset(ct: &'static str, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    r
}

pub async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

pub async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

pub async fn font() -> Response {
    asset("font/otf", crate::report::charts::FONT_BYTES)
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
                                    a href="/journal" { "日志" }
                                }
                                @if a.role == Role::Street {
                                    a href="/" { "本街道结果" }
                                }
                                span.who {
                                    (a.name) " · " (a.role.zh())
                                    @if let Some(o) = &a.org { " · " (o) }
                                }
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
        None,
        html! {
            h1 { (title) }
            p.error { (message) }
            p { a href="/" { "返回首页" } }
        },
    )
}

pub(super) fn refused(r: Refusal) -> Response {
    super::guard::refuse(false, r.status, r.code, &r.message)
}

// ---------------------------------------------------------------- sign in and out

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
            throttled_login(&next, retry_after, "此账户登录失败次数过多,已暂时锁定")
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
            login_body(next, Some(&format!("{why};请 {mins} 分钟后再试"))),
        ),
    )
        .into_response();
    super::shield::retry_after(r, retry_after)
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
            @if must { p.notice { "这是考核办发给您的一次性密码,请先设置您自己的密码。" } }
            @if let Some(m) = message { p.error role="alert" { (m) } }
            form method="post" action="/account/password" {
                input type="hidden" name="csrf" value=(c.csrf);
                label { "当前密码" input type="password" name="old" autocomplete="current-password" required; }
                label { "新密码(至少 10 个字符,含至少两类字符)" input type="password" name="new" autocomplete="new-password" required minlength="10"; }
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
    let a = match caller.who() {
        Ok(a) => a.clone(),
        Err(r) => return r,
    };
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
        return super::shield::retry_after(
            fail(
                StatusCode::TOO_MANY_REQUESTS,
                &format!("此地址密码错误次数过多;请 {mins} 分钟后再试"),
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
            return super::shield::retry_after(
                fail(
                    StatusCode::TOO_MANY_REQUESTS,
                    &format!("当前密码错误次数过多,已暂时锁定;请 {mins} 分钟后再试"),
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

pub async fn home(AxState(state): AxState<State>, caller: Caller) -> Response {
    let Some(a) = &caller.account else {
        return see_other("/login");
    };
    match a.role {
        Role::Evaluator => see_other("/rounds"),
        Role::Office | Role::Admin => see_other("/desk"),
        Role::Street => super::street::home(state, caller.clone()).await,
    }
}

/// A number as the reports show it: one decimal, a dash when there is none.
pub(super) fn fmt1(x: Option<f64>) -> String {
    x.map_or_else(|| "—".into(), |v| format!("{v:.1}"))
}

// ---------------------------------------------------------------- who may see what

/// The round in a URL, if the caller may see it: an evaluator only the rounds its
/// organisation is assigned (with that scope), staff every round the workspace knows.
/// Anything else answers as missing.
pub fn visible_round(
    state: &State,
    who: &Account,
    round: &str,
) -> Result<(RoundId, Option<crate::ingest::Assigned>), Refusal> {
    let r: RoundId = round.parse().map_err(|_| Refusal::not_found())?;
    if who.role == Role::Evaluator {
        let org = who.org.as_deref().ok_or_else(Refusal::not_found)?;
        let a = state
            .db()
            .and_then(|db| db.assigned(&r, org))
            .map_err(Refusal::from_error)?
            .ok_or_else(Refusal::not_found)?;
        return Ok((r, Some(a)));
    }
    if !who.role.is_staff() {
        return Err(Refusal::not_found());
    }
    let known = crate::lifecycle::rounds(&state.ws).map_err(Refusal::from_error)?;
    if !known.contains(&r) {
        return Err(Refusal::not_found());
    }
    Ok((r, None))
}

/// The delivery with this full id, if the caller may see it (its organisation's own, or
/// any for staff); anything else answers as missing.
pub fn visible_delivery(state: &State, who: &Account, id: &str) -> Result<DeliveryEntry, Refusal> {
    if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Refusal::not_found());
    }
    let id = id.to_ascii_lowercase();
    let index = crate::store::Store::new(&state.ws)
        .read_index()
        .map_err(Refusal::from_error)?;
    let d = index
        .deliveries
        .into_iter()
        .find(|d| d.sha256 == id)
        .ok_or_else(Refusal::not_found)?;
    let mine = match who.role {
        Role::Admin | Role::Office => true,
        Role::Evaluator => who.org.is_some() && d.evaluator == who.org,
        Role::Street => false,
    };
    if !mine {
        return Err(Refusal::not_found());
    }
    Ok(d)
}

/// The rounds the caller may see, newest first.
pub fn visible_rounds(state: &State, who: &Account) -> Result<Vec<RoundId>, Refusal> {
    match who.role {
        Role::Evaluator => match &who.org {
            Some(o) => state
                .db()
                .and_then(|db| db.rounds_of(o))
                .map_err(Refusal::from_error),
            None => Ok(Vec::new()),
        },
        Role::Admin | Role::Office => {
            crate::lifecycle::rounds(&state.ws).map_err(Refusal::from_error)
        }
        Role::Street => Ok(Vec::new()),
    }
}

/// The deliveries of `round` (or all) the caller may see.
/// With `count_flagged`, each row's flagged questionnaires are counted (the API's
/// answer; it reads every delivery's data), else left 0 (pages, which do not show it).
pub fn visible_deliveries(
    state: &State,
    who: &Account,
    round: Option<&RoundId>,
    count_flagged: bool,
) -> Result<Vec<crate::lifecycle::DeliveryRow>, Refusal> {
    let all = crate::lifecycle::delivery_rows(&state.ws, round, count_flagged)
        .map_err(Refusal::from_error)?;
    Ok(all
        .into_iter()
        .filter(|d| match who.role {
            Role::Admin | Role::Office => true,
            Role::Evaluator => who.org.is_some() && d.evaluator == who.org,
            Role::Street => false,
        })
        .collect())
}

// ---------------------------------------------------------------- rounds

pub async fn rounds(AxState(state): AxState<State>, caller: Caller) -> Response {
    let a = match caller.who() {
        Ok(a) => a.clone(),
        Err(r) => return r,
    };
    let rounds = match visible_rounds(&state, &a) {
        Ok(r) => r,
        Err(r) => return refused(r),
    };
    let mut rows = Vec::new();
    for r in &rounds {
        let scope = match a.role {
            Role::Evaluator => match a
                .org
                .as_deref()
                .map(|o| state.db().and_then(|db| db.assigned(r, o)))
            {
                Some(Ok(s)) => s,
                Some(Err(e)) => return refused(Refusal::from_error(e)),
                None => None,
            },
            _ => None,
        };
        match crate::lifecycle::coverage(&state.ws, r, scope.as_ref()) {
            Ok(c) => rows.push(c),
            Err(e) => return refused(Refusal::from_error(e)),
        }
    }
    page(
        "测评轮次",
        Some(&caller),
        html! {
            h1 { "测评轮次" }
            @if rows.is_empty() {
                p { "暂无分配给您的测评轮次。考核办分配街道后,轮次会显示在这里。" }
            } @else {
                table.data {
                    thead { tr { th { "轮次" } th { "状态" } th.num { "样本社区" } th.num { "已达标" } th.num { "未达标" } } }
                    tbody {
                        @for c in &rows {
                            tr {
                                td { a href={ "/rounds/" (c.round) } { (c.round) } }
                                td { @if c.sample_drawn { "已抽样" } @else { "尚未抽样" } }
                                td.num { (c.communities.len()) }
                                td.num { (c.communities.len() - c.short) }
                                td.num { @if c.short > 0 { span.short { (c.short) } } @else { "0" } }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}

fn status_zh(s: &str) -> &'static str {
    match s {
        "active" => "有效",
        "withdrawn" => "已撤回",
        "superseded" => "已被更正替换",
        _ => "未知",
    }
}

fn upload_form(c: &Caller, round: &RoundId, replaces: Option<&str>, queued: usize) -> Markup {
    let action = format!("/rounds/{round}/deliveries?csrf={}", c.csrf);
    html! {
        form.upload method="post" action=(action) enctype="multipart/form-data" data-upload="1" {
            @if let Some(id) = replaces { input type="hidden" name="replaces" value=(id); }
            div.drop {
                p { @if replaces.is_some() { "上传更正后的文件(将替换这次交付)" } @else { "把 CSV 或 XLSX 文件拖到这里,或" } }
                input type="file" name="file" accept=".csv,.txt,.xlsx,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" required;
            }
            progress hidden max="100" value="0" {}
            p.progress-text hidden {}
            button type="submit" { @if replaces.is_some() { "上传更正文件" } @else { "上传" } }
            @if queued > 0 { p.hint { "前面还有 " (queued) " 个上传正在入库,您的文件会依次处理。" } }
        }
    }
}

pub async fn round(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(round): UrlPath<String>,
    Query(q): Query<super::office::SortQuery>,
) -> Response {
    let a = match caller.who() {
        Ok(a) => a.clone(),
        Err(r) => return r,
    };
    let (r, scope) = match visible_round(&state, &a, &round) {
        Ok(x) => x,
        Err(e) => return refused(e),
    };
    if a.role.is_staff() {
        return super::office::round_desk(state, caller, r, q.sort).await;
    }
    let cov = match crate::lifecycle::coverage(&state.ws, &r, scope.as_ref()) {
        Ok(c) => c,
        Err(e) => return refused(Refusal::from_error(e)),
    };
    let dels = match visible_deliveries(&state, &a, Some(&r), false) {
        Ok(d) => d,
        Err(e) => return refused(e),
    };
    let queued = state.queued.load(std::sync::atomic::Ordering::SeqCst);
    let done = cov.communities.len() - cov.short;
    page(
        &format!("{r} 轮"),
        Some(&caller),
        html! {
            h1 { (r) " 轮" @if let Some(s) = &scope { " · " (s.org) } }
            @if !cov.sample_drawn {
                p.notice { "本轮尚未抽样。抽样后,您负责街道的样本社区会显示在这里,届时即可上传问卷。" }
            } @else {
                p.summary {
                    "样本社区 " strong { (cov.communities.len()) } " 个;每个社区至少需要 " strong { (cov.minimum) } " 份有效问卷。"
                    "已达标 " strong.ok { (done) } " 个,未达标 " strong.short { (cov.short) } " 个。"
                }
                @if a.role == Role::Evaluator {
                    h2 { "上传问卷数据" }
                    (upload_form(&caller, &r, None, queued))
                }
                h2 { "各社区完成情况" }
                (coverage_table(&cov.communities, None))
            }
            h2 { "本轮交付" }
            (deliveries_table(&dels))
        },
    )
    .into_response()
}

/// A round's sampled communities with valid questionnaires against the minimum, each
/// row coloured by whether it is met; with `sort_link`, sortable column heads.
pub(super) fn coverage_table(
    rows: &[crate::lifecycle::CoverageRow],
    sort_link: Option<&dyn Fn(&str, &str) -> Markup>,
) -> Markup {
    let head = |key: &str, text: &str| -> Markup {
        match sort_link {
            Some(f) => f(key, text),
            None => html! { (text) },
        }
    };
    html! {
        table.data #coverage {
            thead { tr {
                th { (head("street", "街道")) }
                th { "社区代码" }
                th { (head("community", "社区")) }
                th.num { (head("valid", "有效问卷")) }
                th.num { "最少" }
                th.num { (head("missing", "尚缺")) }
            } }
            tbody {
                @for c in rows {
                    tr class=(if c.missing > 0 { "short" } else { "ok" }) {
                        td { (c.street_name) }
                        td { (c.community_code) }
                        td { (c.community_name) }
                        td.num {
                            (c.valid)
                            @if c.excluded > 0 { span.hint title="考核办剔除的有效问卷,不计入" { "(剔除 " (c.excluded) ")" } }
                        }
                        td.num { (c.minimum) }
                        td.num { @if c.missing > 0 { (c.missing) } @else { "✓" } }
                    }
                }
            }
        }
    }
}

pub(super) fn deliveries_table(dels: &[crate::lifecycle::DeliveryRow]) -> Markup {
    html! {
        @if dels.is_empty() {
            p.hint { "还没有交付。" }
        } @else {
            table.data {
                thead { tr { th { "文件" } th { "轮次" } th { "机构" } th { "状态" } th.num { "读入" } th.num { "接收" } th.num { "拒收" } th { "上传时间" } th { "上传人" } } }
                tbody {
                    @for d in dels {
                        tr class=(d.status) {
                            td { a href={ "/deliveries/" (d.id) } { (d.file_name) } }
                            td { (d.round) }
                            td { (d.evaluator.as_deref().unwrap_or("—")) }
                            td { (status_zh(&d.status)) }
                            td.num { (d.rows_read) }
                            td.num { (d.accepted) }
                            td.num { (d.rejected) }
                            td { (crate::store::beijing_time(&d.ingested_at)) }
                            td { (d.actor.as_deref().unwrap_or("—")) }
                        }
                    }
                }
            }
        }
    }
}

pub async fn deliveries(AxState(state): AxState<State>, caller: Caller) -> Response {
    let a = match caller.who() {
        Ok(a) => a.clone(),
        Err(r) => return r,
    };
    let dels = match visible_deliveries(&state, &a, None, false) {
        Ok(d) => d,
        Err(e) => return refused(e),
    };
    page(
        "交付记录",
        Some(&caller),
        html! {
            h1 { "交付记录" }
            p.hint { "时间为北京时间。点击文件名查看回执、拒收行,撤回或上传更正文件。" }
            (deliveries_table(&dels))
        },
    )
    .into_response()
}

// ---------------------------------------------------------------- upload

pub async fn upload(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(round): UrlPath<String>,
    headers: HeaderMap,
    mp: Multipart,
) -> Response {
    let a = match caller.who() {
        Ok(a) => a.clone(),
        Err(r) => return r,
    };
    let r = match visible_round(&state, &a, &round) {
        Ok((r, _)) => r,
        Err(e) => return refused(e),
    };
    if let Err(e) = super::upload::check_length(&state, &headers) {
        return refused(e);
    }
    let got = match super::upload::receive(&state, mp).await {
        Ok(g) => g,
        Err(e) => return refused(e),
    };
    match super::upload::ingest(&state, &a, &r, got).await {
        Ok(u) => see_other(&format!("/deliveries/{}", u.id)),
        Err(e) => refused(e),
    }
}

// ---------------------------------------------------------------- one delivery

fn read_receipt(state: &State, d: &DeliveryEntry) -> Result<crate::ingest::Receipt, Refusal> {
    let p = crate::store::Store::new(&state.ws).path(&d.receipt);
    let text = crate::fsutil::read_text(&p).map_err(Refusal::from_error)?;
    serde_json::from_str(&text).map_err(|e| Refusal::internal(&format!("{}: {e}", d.receipt)))
}

/// Rejected lines shown on the receipt page (all are in the CSV download).
const REJECTS_SHOWN: usize = 200;

pub async fn delivery(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let a = match caller.who() {
        Ok(a) => a.clone(),
        Err(r) => return r,
    };
    let d = match visible_delivery(&state, &a, &id) {
        Ok(d) => d,
        Err(e) => return refused(e),
    };
    let rc = match read_receipt(&state, &d) {
        Ok(r) => r,
        Err(e) => return refused(e),
    };
    let store = crate::store::Store::new(&state.ws);
    let (rejects, total) = match crate::ingest::read_rejects(&store.path(&d.rejects), REJECTS_SHOWN)
    {
        Ok(x) => x,
        Err(e) => return refused(Refusal::from_error(e)),
    };
    let round: Option<RoundId> = d.round.parse().ok();
    let active = d.status == crate::store::DeliveryStatus::Active;
    let queued = state.queued.load(std::sync::atomic::Ordering::SeqCst);
    let q = &rc.quality;
    page(
        &format!("交付回执 {}", d.file_name),
        Some(&caller),
        html! {
            h1 { "交付回执" }
            p.file { (d.file_name) " " span class={ "badge " (d.status.code()) } { (status_zh(d.status.code())) } }
            @if let Some(c) = &d.status_change {
                p.notice {
                    (crate::store::beijing_time(&c.at)) " 由 " (c.actor) " "
                    (status_zh(d.status.code()))
                    // A replacement's reason is the engine's own ("replaced by …"): the
                    // link says it; a withdrawal's is the person's and is shown.
                    @if let Some(by) = &c.by { " · " a href={ "/deliveries/" (by) } { "查看更正后的交付" } }
                    @else { ":" (c.reason) }
                }
            }
            dl.facts {
                dt { "轮次" } dd { a href={ "/rounds/" (d.round) } { (d.round) } }
                dt { "交付编号" } dd { code { (crate::ingest::short(&d.sha256)) } }
                dt { "测评机构" } dd { (d.evaluator.as_deref().unwrap_or("—")) }
                dt { "上传人" } dd { (d.actor.as_deref().unwrap_or("—")) }
                dt { "入库时间" } dd { (crate::store::beijing_time(&d.ingested_at)) }
                dt { "格式 / 编码" } dd { (rc.format) " / " (rc.encoding) }
                @if let Some(old) = &d.replaces { dt { "更正的交付" } dd { a href={ "/deliveries/" (old) } { code { (crate::ingest::short(old)) } } } }
            }
            div.counts {
                div { span.n { (rc.rows_read) } span.l { "读入行" } }
                div.ok { span.n #accepted { (rc.accepted) } span.l { "接收" } }
                div.short { span.n #rejected { (rc.rejected) } span.l { "拒收" } }
                div { span.n { (rc.valid) } span.l { "有效问卷" } }
                div { span.n { (rc.invalid) } span.l { "无效问卷" } }
            }
            h2 { "各社区覆盖(入库时)" }
            table.data {
                thead { tr { th { "街道" } th { "社区" } th.num { "本次接收" } th.num { "本次有效" } th.num { "本轮累计有效" } th { "" } } }
                tbody {
                    @for c in &rc.communities {
                        tr class=(if c.insufficient { "short" } else { "ok" }) {
                            td { (c.street_name) } td { (c.community_name) }
                            td.num { (c.accepted) } td.num { (c.valid) } td.num { (c.round_valid) }
                            td { @if c.insufficient { "未达最低数" } @else { "✓" } }
                        }
                    }
                }
            }
            h2 #rejects { "拒收的行(" (rc.rejected) " 行)" }
            @if total == 0 {
                p.hint { "没有拒收的行。" }
            } @else {
                p { a.button href={ "/deliveries/" (d.sha256) "/rejects.csv" } download { "下载拒收清单(CSV)" }
                    @if total as usize > rejects.len() { " 下表列出前 " (rejects.len()) " 条,共 " (total) " 条。" } }
                table.data.rejects {
                    thead { tr { th.num { "行" } th { "列" } th { "原值" } th { "问题" } th { "如何改正" } } }
                    tbody {
                        @for r in &rejects {
                            tr { td.num { (r.line) } td { (r.column) } td.value { (r.value) } td { (r.problem) } td.hint { (r.how_to_fix) } }
                        }
                    }
                }
                @if !rc.rejects_by_reason.is_empty() {
                    p.hint { "按原因:" @for (code, n) in &rc.rejects_by_reason { (crate::ingest::reason_name(code)) " " (n) " 行;" } }
                }
            }
            h2 { "数据质量提示" }
            ul {
                li { "答题过快:" (q.speeders) " 份" }
                li { "所有题同一答案:" (q.straightliners) " 份" }
                li { "答案组合重复:" (q.duplicate_patterns) " 份" }
                li { "作答题数不足:" (q.too_few_answers) " 份" }
            }
            @if !q.flagged_interviewers.is_empty() {
                p { "以下访问员的问卷与同社区其他访问员差异明显,考核办将复核:" }
                table.data {
                    thead { tr { th { "访问员" } th.num { "问卷数" } th.num { "p 值" } th { "依据" } } }
                    tbody {
                        @for f in &q.flagged_interviewers {
                            tr { td { (f.interviewer_id) } td.num { (f.questionnaires) }
                                 td.num { (f.p_value.map(|p| format!("{p:.4}")).unwrap_or_else(|| "—".into())) }
                                 td { (crate::messages::interviewer_reasons(f)) } }
                        }
                    }
                }
            }
            @if active {
                h2 { "撤回或更正" }
                div.actions {
                    form method="post" action={ "/deliveries/" (d.sha256) "/withdraw" } {
                        input type="hidden" name="csrf" value=(caller.csrf);
                        label { "撤回原因(必填)" input type="text" name="reason" required maxlength="500"; }
                        button.danger type="submit" { "撤回这次交付" }
                    }
                    @if a.role == Role::Evaluator && let Some(r) = round {
                        (upload_form(&caller, &r, Some(&d.sha256), queued))
                    }
                }
            }
            p { a href={ "/deliveries/" (d.sha256) "/original" } { "下载原始文件" } span.hint { "(含个人信息,每次下载都会记录)" } }
        },
    )
    .into_response()
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
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        pct(name).replace('/', "%2F")
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

/// The name a rejects list is downloaded under: `<delivery stem>-拒收.csv`.
pub fn rejects_name(d: &DeliveryEntry) -> String {
    let stem = d
        .file_name
        .rsplit_once('.')
        .map_or(d.file_name.as_str(), |(s, _)| s);
    format!("{stem}-拒收.csv")
}

pub async fn rejects_csv(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let a = match caller.who() {
        Ok(a) => a.clone(),
        Err(r) => return r,
    };
    let d = match visible_delivery(&state, &a, &id) {
        Ok(d) => d,
        Err(e) => return refused(e),
    };
    let p = crate::store::Store::new(&state.ws).path(&d.rejects);
    stream_file(p, "text/csv; charset=utf-8", &rejects_name(&d)).await
}

pub async fn original(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let a = match caller.who() {
        Ok(a) => a.clone(),
        Err(r) => return r,
    };
    let d = match visible_delivery(&state, &a, &id) {
        Ok(d) => d,
        Err(e) => return refused(e),
    };
    // Personal data: every download is journalled, before the first byte leaves.
    let st = state.clone();
    let (who, round, sha, name) = (
        a.name.clone(),
        d.round.clone(),
        d.sha256.clone(),
        d.file_name.clone(),
    );
    let logged =
        tokio::task::spawn_blocking(move || st.db()?.journal_download(&who, &round, &sha, &name))
            .await;
    match logged {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return refused(Refusal::from_error(e)),
        Err(e) => {
            return refused(Refusal::internal(&e.to_string()));
        }
    }
    let p = crate::store::Store::new(&state.ws).path(&d.original);
    stream_file(p, "application/octet-stream", &d.file_name).await
}

#[derive(serde::Deserialize)]
pub struct WithdrawForm {
    reason: String,
}

/// Withdraws a delivery the caller may see (the library checks it is active and
/// journals it with the reason).
pub async fn withdraw_delivery(
    state: &State,
    who: &Account,
    id: &str,
    reason: &str,
) -> Result<DeliveryEntry, Refusal> {
    let d = visible_delivery(state, who, id)?;
    if reason.trim().is_empty() {
        return Err(Refusal::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "reason-required",
            "请填写撤回原因",
        ));
    }
    let _permit = state.writes.acquire().await.map_err(|_| {
        Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "stopping",
            "服务器正在停止,请稍后重试",
        )
    })?;
    let (ws, actor, reason) = (state.ws.clone(), who.name.clone(), reason.to_string());
    tokio::task::spawn_blocking(move || crate::lifecycle::withdraw(&ws, &d.sha256, &reason, &actor))
        .await
        .map_err(|e| Refusal::internal(&e.to_string()))?
        .map_err(Refusal::from_error)
}

pub async fn withdraw(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
    axum::Form(f): axum::Form<WithdrawForm>,
) -> Response {
    let a = match caller.who() {
        Ok(a) => a.clone(),
        Err(r) => return r,
    };
    match withdraw_delivery(&state, &a, &id, &f.reason).await {
        Ok(d) => see_other(&format!("/deliveries/{}", d.sha256)),
        Err(e) => refused(e),
    }
}
