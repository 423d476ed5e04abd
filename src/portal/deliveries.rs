//! The evaluators' pages (staff see them too): rounds and their coverage, uploads,
//! deliveries and one delivery's receipt, its rejects and original, withdrawal.

use axum::extract::{Path as UrlPath, State as AxState};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::State;
use super::access::{visible_deliveries, visible_delivery, visible_round, visible_rounds};
use super::parts::{coverage_table, deliveries_table, rejects_name, status_zh};
use super::respond::stream_file;
use super::respond::who;
use super::respond::{Caller, Refusal, page, refused, see_other};
use super::upload::withdraw_delivery;
use crate::accounts::Role;
use crate::round::RoundId;
use crate::store::DeliveryEntry;

// ---------------------------------------------------------------- rounds

pub async fn rounds(AxState(state): AxState<State>, caller: Caller) -> Response {
    let a = who!(caller);
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
                p { "暂无分配给您的测评轮次。考核办分配街道后，轮次会显示在这里。" }
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

fn upload_form(c: &Caller, round: &RoundId, replaces: Option<&str>, queued: usize) -> Markup {
    let action = format!("/rounds/{round}/deliveries?csrf={}", c.csrf);
    html! {
        form.upload method="post" action=(action) enctype="multipart/form-data" data-upload="1" {
            @if let Some(id) = replaces { input type="hidden" name="replaces" value=(id); }
            div.drop {
                p { @if replaces.is_some() { "上传更正后的文件（将替换这次交付）" } @else { "把 CSV 或 XLSX 文件拖到这里，或" } }
                input type="file" name="file" accept=".csv,.txt,.xlsx,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" required;
            }
            progress hidden max="100" value="0" {}
            p.progress-text hidden {}
            button type="submit" { @if replaces.is_some() { "上传更正文件" } @else { "上传" } }
            @if queued > 0 { p.hint { "前面还有 " (queued) " 个上传正在入库，您的文件会依次处理。" } }
        }
    }
}

pub async fn round(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(round): UrlPath<String>,
) -> Response {
    let a = who!(caller);
    let (r, scope) = match visible_round(&state, &a, &round) {
        Ok(x) => x,
        Err(e) => return refused(e),
    };
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
                p.notice { "本轮尚未抽样。抽样后，您负责街道的样本社区会显示在这里，届时即可上传问卷。" }
            } @else {
                p.summary {
                    "样本社区 " strong { (cov.communities.len()) } " 个；每个社区至少需要 " strong { (cov.minimum) } " 份有效问卷。"
                    "已达标 " strong.ok { (done) } " 个，未达标 " strong.short { (cov.short) } " 个。"
                }
                p {
                    a href=(format!("/rounds/{r}/sample.xlsx")) { "下载样本社区清单（Excel）" }
                    " · " a href="/guide" { "数据格式说明与模板" }
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

/// The deliveries list's search (`?q=&round=&status=`).
#[derive(serde::Deserialize, Default)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    round: String,
    #[serde(default)]
    status: String,
}

impl SearchQuery {
    fn search(&self) -> crate::lifecycle::DeliverySearch {
        let opt = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        crate::lifecycle::DeliverySearch {
            text: self.q.trim().to_string(),
            round: opt(&self.round),
            status: opt(&self.status),
        }
    }
}

pub async fn deliveries(
    AxState(state): AxState<State>,
    caller: Caller,
    axum::extract::Query(sq): axum::extract::Query<SearchQuery>,
) -> Response {
    let a = who!(caller);
    let all = match visible_deliveries(&state, &a, None, false) {
        Ok(d) => d,
        Err(e) => return refused(e),
    };
    let search = sq.search();
    let mut rounds: Vec<String> = all.iter().map(|d| d.round.clone()).collect();
    rounds.sort();
    rounds.dedup();
    let total = all.len();
    let dels: Vec<_> = all.into_iter().filter(|d| search.matches(d)).collect();
    let sel = |b: bool| if b { Some("selected") } else { None };
    page(
        "交付记录",
        Some(&caller),
        html! {
            h1 { "交付记录" }
            form.row method="get" action="/deliveries" role="search" {
                label { "查找（文件名、编号、机构、上传人或理由）" input type="search" name="q" value=(sq.q); }
                label { "轮次"
                    select name="round" {
                        option value="" { "全部" }
                        @for r in &rounds { option value=(r) selected=[sel(sq.round == *r)] { (r) } }
                    }
                }
                label { "状态"
                    select name="status" {
                        option value="" { "全部" }
                        @for st in [crate::store::DeliveryStatus::Active, crate::store::DeliveryStatus::Withdrawn, crate::store::DeliveryStatus::Superseded] {
                            option value=(st.code()) selected=[sel(sq.status == st.code())] { (st.text_in(crate::messages::Lang::Zh)) }
                        }
                    }
                }
                button type="submit" { "查找" }
            }
            @if !search.is_empty() {
                p.summary role="status" { "共 " (total) " 个交付，符合条件的 " strong { (dels.len()) } " 个 · " a href="/deliveries" { "显示全部" } }
            }
            p.hint { "时间为北京时间。点击文件名查看回执、拒收行，撤回或上传更正文件。" }
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
    body: axum::body::Body,
) -> Response {
    let a = who!(caller);
    let r = match visible_round(&state, &a, &round) {
        Ok((r, _)) => r,
        Err(e) => return refused(e),
    };
    if let Err(e) = super::upload::check_length(&state, &headers) {
        return refused(e);
    }
    let got = match super::upload::receive(&state, &headers, body).await {
        Ok(g) => g,
        Err(e) => return refused(e),
    };
    match super::upload::ingest(&state, &a, &r, got).await {
        // The same bytes again are not stored twice: the page says so over the old
        // receipt rather than showing it as if it were new.
        Ok(u) if u.outcome.receipt.status == crate::ingest::ReceiptStatus::AlreadyIngested => {
            see_other(&format!("/deliveries/{}?again=1", u.id))
        }
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

/// The receipt page's query: `again=1` after an upload of a file stored before.
#[derive(serde::Deserialize, Default)]
pub struct DeliveryQuery {
    #[serde(default)]
    again: Option<u8>,
}

pub async fn delivery(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
    axum::extract::Query(dq): axum::extract::Query<DeliveryQuery>,
) -> Response {
    let a = who!(caller);
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
    // ok: a stored delivery's round always parses; without one the page shows no link.
    let round: Option<RoundId> = d.round.parse().ok();
    let active = d.status == crate::store::DeliveryStatus::Active;
    let queued = state.queued.load(std::sync::atomic::Ordering::SeqCst);
    let q = &rc.quality;
    // What an evaluator may read of the comparison: who is under review, and the
    // office's decision once made (never the evidence).
    let reviewed: Vec<serde_json::Value> = if a.role == Role::Evaluator {
        let json = match serde_json::to_value(&rc) {
            Ok(v) => v,
            Err(e) => return refused(Refusal::internal(&e.to_string())),
        };
        match super::access::receipt_for(&state, &a, &d.round, json) {
            // ok: a receipt with no flagged interviewers has no list: none to show.
            Ok(v) => v["quality"]["flagged_interviewers"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
            Err(e) => return refused(e),
        }
    } else {
        Vec::new()
    };
    page(
        &format!("交付回执 {}", d.file_name),
        Some(&caller),
        html! {
            h1 { "交付回执" }
            @if dq.again == Some(1) {
                p.notice role="status" { "这个文件此前已上传过（内容完全相同），没有重复入库；下面是当时的回执。如需更正，请在本页上传更正文件。" }
            }
            p.file { (d.file_name) " " span class={ "badge " (d.status.code()) } { (status_zh(d.status.code())) } }
            @if let Some(c) = &d.status_change {
                p.notice {
                    (crate::store::beijing_time(&c.at)) " 由 " (c.actor) " "
                    (status_zh(d.status.code()))
                    // A replacement's reason is the engine's own ("replaced by …"): the
                    // link says it; a withdrawal's is the person's and is shown.
                    @if let Some(by) = &c.by { " · " a href={ "/deliveries/" (by) } { "查看更正后的交付" } }
                    @else { "：" (c.reason) }
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
            h2 { "各社区覆盖（入库时）" }
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
                p { a.button href={ "/deliveries/" (d.sha256) "/rejects.csv" } download { "下载拒收清单（CSV）" }
                    @if total as usize > rejects.len() { " 下表列出前 " (rejects.len()) " 条，共 " (total) " 条。" } }
                table.data.rejects {
                    thead { tr { th.num { "行" } th { "列" } th { "原值" } th { "问题" } th { "如何改正" } } }
                    tbody {
                        @for r in &rejects {
                            tr { td.num { (r.line) } td { (r.column) } td.value { (r.value) } td { (r.problem) } td.hint { (r.how_to_fix) } }
                        }
                    }
                }
                @if !rc.rejects_by_reason.is_empty() {
                    p.hint { "按原因：" @for (code, n) in &rc.rejects_by_reason { (crate::ingest::reason_name(code)) " " (n) " 行；" } }
                }
            }
            h2 { "数据质量提示" }
            ul {
                li { "答题过快：" (q.speeders) " 份" }
                li { "所有题同一答案：" (q.straightliners) " 份" }
                li { "答案组合重复：" (q.duplicate_patterns) " 份" }
                li { "作答题数不足（按规则无效）：" (q.too_few_answers) " 份" }
                @if let Some(m) = q.min_interview_s { li { "访问时长不足 " (m) " 秒（按规则无效）：" (q.too_short) " 份" } }
            }
            @if a.role == Role::Evaluator && !reviewed.is_empty() {
                p { "以下访问员的问卷由考核办复核，结果见下：" }
                table.data {
                    thead { tr { th { "访问员" } th.num { "问卷数" } th { "复核结果" } } }
                    tbody {
                        @for f in &reviewed {
                            tr { td { (f["interviewer_id"].as_str().unwrap_or("")) }
                                 td.num { (f["questionnaires"]) }
                                 td { (match f["status"].as_str() {
                                        Some("excluded") => format!("已排除（不计分）：{}", f["reason"].as_str().unwrap_or("")),
                                        Some("kept") => format!("复核后保留：{}", f["reason"].as_str().unwrap_or("")),
                                        _ => "复核中".to_string(),
                                    }) } }
                        }
                    }
                }
            }
            @if a.role != Role::Evaluator && !q.flagged_interviewers.is_empty() {
                p { "以下访问员的问卷与同社区其他访问员差异明显，考核办将复核：" }
                table.data {
                    thead { tr { th { "访问员" } th.num { "问卷数" } th.num { "p 值" } th { "依据" } } }
                    tbody {
                        @for f in &q.flagged_interviewers {
                            tr { td { (f.interviewer_id) } td.num { (f.questionnaires) }
                                 td.num { (f.p_value.map(|p| format!("{p:.4}")).unwrap_or_else(|| "—".into())) }
                                 td { (f.reasons_text()) } }
                        }
                    }
                }
            }
            @if active {
                h2 { "撤回或更正" }
                div.actions {
                    form method="post" action={ "/deliveries/" (d.sha256) "/withdraw" } {
                        input type="hidden" name="csrf" value=(caller.csrf);
                        label { "撤回原因（必填）" input type="text" name="reason" required maxlength="500"; }
                        button.danger type="submit" { "撤回这次交付" }
                    }
                    @if a.role == Role::Evaluator && let Some(r) = round {
                        (upload_form(&caller, &r, Some(&d.sha256), queued))
                    }
                }
            }
            @if d.status == crate::store::DeliveryStatus::Withdrawn && a.role != Role::Evaluator {
                h2 { "恢复" }
                form.row method="post" action={ "/deliveries/" (d.sha256) "/reinstate" } {
                    input type="hidden" name="csrf" value=(caller.csrf);
                    label { "恢复原因（必填，记入日志）" input type="text" name="reason" required maxlength="500"; }
                    button type="submit" { "恢复这次交付" }
                }
                p.hint { "恢复后，这次交付的问卷重新计入得分、质量比对和重复编号检查；若其中的问卷编号已在本轮其他有效交付中，将不能恢复，并说明是哪一次交付。" }
            }
            p { a href={ "/deliveries/" (d.sha256) "/original" } { "下载原始文件" } span.hint { "（含个人信息，每次下载都会记录）" } }
        },
    )
    .into_response()
}

pub async fn rejects_csv(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let a = who!(caller);
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
    let a = who!(caller);
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
        super::respond::blocking(move || st.db()?.journal_download(&who, &round, &sha, &name))
            .await;
    if let Err(e) = logged {
        return refused(e);
    }
    let p = crate::store::Store::new(&state.ws).path(&d.original);
    stream_file(p, "application/octet-stream", &d.file_name).await
}

pub async fn withdraw(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
    axum::Form(f): axum::Form<WithdrawForm>,
) -> Response {
    let a = who!(caller);
    // First what will happen (with the reason given), then the withdrawal on
    // confirm=yes. The API withdraws at once: a program has already decided.
    if f.confirm.as_deref() != Some("yes") {
        let d = match visible_delivery(&state, &a, &id) {
            Ok(d) => d,
            Err(e) => return refused(e),
        };
        if f.reason.trim().is_empty() {
            return refused(Refusal::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "reason-required",
                "请填写撤回原因",
            ));
        }
        if d.status != crate::store::DeliveryStatus::Active {
            return refused(Refusal::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "refused",
                format!("这次交付{}，不能撤回", d.status.text()),
            ));
        }
        let undo = if a.role == Role::Evaluator {
            "撤回后如需恢复，请联系考核办。"
        } else {
            "撤回后可在本页恢复（须写明理由）。"
        };
        return page(
            "确认撤回",
            Some(&caller),
            html! {
                h1 { "确认撤回" }
                p.summary {
                    "将撤回交付 " code { (crate::ingest::short(&d.sha256)) } "（" (d.file_name) "）：其 " (d.accepted) " 份问卷不再计入得分、质量比对和重复编号检查；文件保留在存储中，日志记下理由。" (undo)
                }
                p { "撤回原因：" (f.reason.trim()) }
                form.inline method="post" action={ "/deliveries/" (d.sha256) "/withdraw" } {
                    input type="hidden" name="csrf" value=(caller.csrf);
                    input type="hidden" name="reason" value=(f.reason.trim());
                    input type="hidden" name="confirm" value="yes";
                    button.danger type="submit" { "确认撤回" }
                }
                " "
                a.button.secondary href={ "/deliveries/" (d.sha256) } { "取消" }
            },
        )
        .into_response();
    }
    match withdraw_delivery(&state, &a, &id, &f.reason).await {
        Ok(d) => see_other(&format!("/deliveries/{}", d.sha256)),
        Err(e) => refused(e),
    }
}

#[derive(serde::Deserialize)]
pub struct WithdrawForm {
    reason: String,
    /// "yes" once the person has read what the withdrawal does.
    #[serde(default)]
    confirm: Option<String>,
}

/// The office reinstates a withdrawn delivery (the library refuses one whose ids are
/// now in another active delivery, naming it).
pub async fn reinstate(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
    axum::Form(f): axum::Form<WithdrawForm>,
) -> Response {
    let a = who!(caller);
    let d = match visible_delivery(&state, &a, &id) {
        Ok(d) => d,
        Err(e) => return refused(e),
    };
    if f.reason.trim().is_empty() {
        return refused(Refusal::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "reason-required",
            "请填写恢复原因",
        ));
    }
    let _permit = match super::respond::write_turn(&state).await {
        Ok(p) => p,
        Err(e) => return refused(e),
    };
    let (ws, actor, reason) = (state.ws.clone(), a.name.clone(), f.reason.clone());
    match super::respond::blocking(move || {
        crate::lifecycle::reinstate(&ws, &d.sha256, &reason, &actor)
    })
    .await
    {
        Ok(d) => see_other(&format!("/deliveries/{}", d.sha256)),
        Err(e) => refused(e),
    }
}

// ---------------------------------------------------------------- the sample list and the format guide

/// The round's sampled communities the caller is responsible for, as an Excel list.
pub async fn sample_list(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(round): UrlPath<String>,
) -> Response {
    let a = who!(caller);
    let (r, scope) = match visible_round(&state, &a, &round) {
        Ok(x) => x,
        Err(e) => return refused(e),
    };
    let ws = state.ws.clone();
    let res = super::respond::blocking(move || {
        let cov = crate::lifecycle::coverage(&ws, &r, scope.as_ref())?;
        if !cov.sample_drawn {
            return Err(crate::error::Error::Invalid(format!(
                "{r} 轮尚未抽样，还没有样本社区清单"
            )));
        }
        crate::lifecycle::sample_list_xlsx(&cov)
    })
    .await;
    match res {
        Ok(bytes) => super::respond::bytes_download(
            bytes,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            &format!("{round}-样本社区.xlsx"),
        ),
        Err(e) => refused(e),
    }
}

/// How a delivery is laid out: columns and the names accepted, items, answers.
pub async fn guide(AxState(state): AxState<State>, caller: Caller) -> Response {
    let _ = who!(caller); // ok: the route admits evaluators and staff alike
    let ws = state.ws.clone();
    let g =
        match super::respond::blocking(move || ws.rules().map(|r| crate::ingest::guide::guide(&r)))
            .await
        {
            Ok(g) => g,
            Err(e) => return refused(e),
        };
    let need = |n: &str| match n {
        "required" => "必需",
        "either" => "二者至少其一",
        _ => "可选",
    };
    page(
        "数据格式说明",
        Some(&caller),
        html! {
            h1 { "问卷数据格式说明" }
            p { "每份交付是一个表格文件：CSV（UTF-8 或 Excel 另存的 GBK 均可）或 XLSX（读第一个工作表）。第一行是列名，以后每行一份问卷。列的顺序不限；下表列出系统认得的列名，中英文均可。" }
            p { a.button href="/guide/template.csv" { "下载模板（CSV）" } }
            h2 { "列" }
            div.scroll {
            table.data {
                thead { tr { th { "列名" } th { "含义" } th { "是否必需" } th { "也认得的列名" } } }
                tbody {
                    @for c in &g.columns {
                        tr { td { code { (c.name) } } td { (c.meaning) } td { (need(c.need)) } td { (c.aliases.join("、")) } }
                    }
                    @for (id, text) in &g.items {
                        tr { td { code { (id) } } td { (text) } td { "必需" } td { (id.to_uppercase()) } }
                    }
                }
            }
            }
            h2 { "答案" }
            p { "每道题填写答案文字、代码或别名之一：" }
            table.data {
                thead { tr { th { "答案" } th { "代码" } th { "别名" } } }
                tbody {
                    @for a in &g.answers { tr { td { (a.label) } td { code { (a.code) } } td { (a.aliases.join("、")) } } }
                }
            }
            p { "不了解或未答：填写 " (g.not_answered.join("、")) "，或留空。" }
            h2 { "有效问卷" }
            p {
                "至少回答 " (g.min_answered_items) " 道题（“不了解”不算回答）的问卷才有效"
                @if let Some(s) = g.min_interview_s { "；访问用时少于 " (s) " 秒的问卷按规则无效" }
                "。同一轮内问卷编号不得重复；社区须是本轮样本中的社区。上传后回执会逐行说明被拒收的原因和改正方法。"
            }
        },
    )
    .into_response()
}

/// The template to fill in.
pub async fn template(AxState(state): AxState<State>, caller: Caller) -> Response {
    let _ = who!(caller); // ok: the route admits evaluators and staff alike
    let ws = state.ws.clone();
    match super::respond::blocking(move || crate::ingest::guide::template_csv(&ws.rules()?)).await {
        Ok(bytes) => {
            super::respond::bytes_download(bytes, "text/csv; charset=utf-8", "问卷数据模板.csv")
        }
        Err(e) => refused(e),
    }
}
