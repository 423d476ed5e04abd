//! `/admin/users`: the admin's accounts page — add an account (its one-time password
//! shown once), disable and enable, reset a password, make and revoke API tokens. The
//! work is `accounts::Accounts`'s (journalled there with the admin as actor); 403 for
//! every other role (the route table).

use axum::extract::{Path as UrlPath, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use crate::accounts::Role;
use crate::portal::State;
use crate::portal::respond::Caller;
use crate::portal::respond::Refusal;
use crate::portal::respond::blocking;
use crate::portal::respond::{page, refused};
use crate::portal::respond::{tryr, who};

fn csrf_field(c: &Caller) -> Markup {
    html! { input type="hidden" name="csrf" value=(c.csrf); }
}

/// The page, with `message` on top.
async fn users_page(
    state: &State,
    caller: &Caller,
    message: Option<Markup>,
    status: StatusCode,
) -> Response {
    let st = state.clone();
    let list = tryr!(blocking(move || st.db()?.list()).await);
    let ws = state.ws.clone();
    let frame = tryr!(blocking(move || ws.frame()).await);
    let street_name = |code: &str| {
        frame
            .streets
            .get(code)
            .map_or(code.to_string(), |s| s.name.clone())
    };
    let mut resp = page(
        "账户管理",
        Some(caller),
        html! {
            h1 { "账户管理" }
            @if let Some(m) = message { (m) }
            p.hint { "新账户的初始密码只显示一次，首次登录后须修改。停用的账户不能登录，其令牌也随之失效；重设密码会吊销该账户的全部令牌。每项操作都记入日志。" }
            div.scroll {
            table.data {
                thead { tr { th { "账户" } th { "角色" } th { "所属" } th { "状态" } th { "创建时间" } th { "操作" } } }
                tbody {
                    @for a in &list {
                        tr {
                            td { (a.name) }
                            td { (a.role.zh()) }
                            td {
                                @if let Some(o) = &a.org { (o) }
                                @if let Some(s) = &a.street { (street_name(s)) }
                            }
                            td {
                                @if a.disabled { strong.short { "已停用" } }
                                @else if a.must_change { "待首次改密" }
                                @else { "正常" }
                            }
                            td { (crate::store::beijing_time(&a.created_at)) }
                            td.actions {
                                @for (action, label) in actions(a.disabled).into_iter().filter(|(x, _)| !(*x == "disable" && caller.account.as_ref().is_some_and(|c| c.name == a.name))) {
                                    form.inline method="post" action=(format!("/admin/users/{}/{action}", a.name)) {
                                        (csrf_field(caller))
                                        button.small type="submit" { (label) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            }
            h2 { "添加账户" }
            form method="post" action="/admin/users" {
                (csrf_field(caller))
                label { "账户名（字母、数字或 - _ . @）" input type="text" name="name" required; }
                label { "角色"
                    select name="role" {
                        option value="office" { "考核办" }
                        option value="evaluator" { "测评机构" }
                        option value="street" { "街道" }
                        option value="admin" { "管理员" }
                    }
                }
                label { "所属机构（测评机构账户填写）" input type="text" name="org"; }
                label { "所属街道（街道账户选择）"
                    select name="street" {
                        option value="" { "—" }
                        @for (code, s) in &frame.streets { option value=(code) { (s.name) } }
                    }
                }
                button type="submit" { "添加" }
            }
        },
    )
    .into_response();
    *resp.status_mut() = status;
    resp
}

/// The buttons of an account's row: (action, label).
fn actions(disabled: bool) -> Vec<(&'static str, &'static str)> {
    let mut v = vec![if disabled {
        ("enable", "启用")
    } else {
        ("disable", "停用")
    }];
    v.extend([
        ("reset", "重设密码"),
        ("token", "生成令牌"),
        ("revoke", "吊销令牌"),
    ]);
    v
}

pub async fn users(AxState(state): AxState<State>, caller: Caller) -> Response {
    let _ = who!(caller); // ok: the route admits the admin only; which admin does not matter
    users_page(&state, &caller, None, StatusCode::OK).await
}

#[derive(serde::Deserialize, Default)]
pub struct AddForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    org: String,
    #[serde(default)]
    street: String,
}

fn secret_box(what: &str, name: &str, secret: &str) -> Markup {
    html! {
        div.notice role="status" {
            p { (what) "：账户 " strong { (name) } }
            p { code.secret { (secret) } }
            p { "只显示这一次：请现在抄下或复制，当面或用安全的方式交给本人。离开此页后无法再查看。" }
        }
    }
}

pub async fn add(
    AxState(state): AxState<State>,
    caller: Caller,
    axum::Form(f): axum::Form<AddForm>,
) -> Response {
    let a = who!(caller);
    let role = match f.role.as_str() {
        "admin" => Role::Admin,
        "office" => Role::Office,
        "evaluator" => Role::Evaluator,
        "street" => Role::Street,
        _ => {
            let m = html! { p.error role="alert" { "请选择角色" } };
            return users_page(&state, &caller, Some(m), StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    };
    let st = state.clone();
    let (name, org, street) = (f.name.clone(), f.org.clone(), f.street.clone());
    let res = blocking(move || {
        st.db()?.add(
            &a.name,
            &name,
            role,
            Some(org.as_str()).filter(|s| !s.trim().is_empty()),
            Some(street.as_str()).filter(|s| !s.trim().is_empty()),
        )
    })
    .await;
    match res {
        Ok((acc, pw)) => {
            let m = secret_box("已添加账户，初始密码", &acc.name, &pw);
            users_page(&state, &caller, Some(m), StatusCode::OK).await
        }
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let m = html! { p.error role="alert" { (e.message) } };
            users_page(&state, &caller, Some(m), StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => refused(e),
    }
}

#[derive(serde::Deserialize, Default)]
pub struct ActionForm {
    #[serde(default)]
    confirm: Option<String>,
}

/// disable | enable | reset | token | revoke on one account. Resetting a password and
/// revoking tokens ask first (what stops working); the others act at once.
pub async fn act(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath((user, action)): UrlPath<(String, String)>,
    axum::Form(f): axum::Form<ActionForm>,
) -> Response {
    let a = who!(caller);
    if !matches!(
        action.as_str(),
        "disable" | "enable" | "reset" | "token" | "revoke"
    ) {
        return refused(Refusal::not_found());
    }
    let st = state.clone();
    let u = user.clone();
    let target = tryr!(blocking(move || st.db()?.get(&u)).await);
    let Some(target) = target else {
        return refused(Refusal::not_found());
    };
    if matches!(action.as_str(), "reset" | "revoke") && f.confirm.as_deref() != Some("yes") {
        let what = if action == "reset" {
            "重设后旧密码立即失效，该账户的全部令牌一并吊销；新的一次性密码只显示一次。"
        } else {
            "该账户的全部 API 令牌立即失效，使用它们的程序将无法再访问。"
        };
        return page(
            "确认",
            Some(&caller),
            html! {
                h1 { "确认" (if action == "reset" { "重设密码" } else { "吊销令牌" }) "：" (target.name) }
                p { (what) }
                form method="post" action=(format!("/admin/users/{}/{action}", target.name)) {
                    (csrf_field(&caller))
                    input type="hidden" name="confirm" value="yes";
                    button type="submit" { "确认" }
                    " "
                    a.button.secondary href="/admin/users" { "取消" }
                }
            },
        )
        .into_response();
    }
    if action == "disable" && target.name == a.name {
        let m = html! { p.error role="alert" { "不能停用自己正在使用的账户" } };
        return users_page(&state, &caller, Some(m), StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let st = state.clone();
    let (actor, name, act) = (a.name.clone(), target.name.clone(), action.clone());
    let res = blocking(move || -> crate::error::Result<Markup> {
        let db = st.db()?;
        Ok(match act.as_str() {
            "disable" => {
                db.disable(&actor, &name)?;
                html! { p.notice role="status" { "已停用账户 " (name) "：不能再登录，其令牌失效。" } }
            }
            "enable" => {
                db.enable(&actor, &name)?;
                html! { p.notice role="status" { "已启用账户 " (name) "。" } }
            }
            "reset" => {
                let r = db.reset_password(&actor, &name)?;
                secret_box(
                    &format!(
                        "已重设密码（吊销令牌 {} 个{}），一次性密码",
                        r.tokens_revoked,
                        if r.disabled { "；账户仍为停用" } else { "" }
                    ),
                    &name,
                    &r.password,
                )
            }
            "token" => {
                let t = db.new_token(&actor, &name)?;
                secret_box("已生成 API 令牌", &name, &t)
            }
            _ => {
                let n = db.revoke_tokens(&actor, &name)?;
                html! { p.notice role="status" { "已吊销账户 " (name) " 的 " (n) " 个令牌。" } }
            }
        })
    })
    .await;
    match res {
        Ok(m) => users_page(&state, &caller, Some(m), StatusCode::OK).await,
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let m = html! { p.error role="alert" { (e.message) } };
            users_page(&state, &caller, Some(m), StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => refused(e),
    }
}
