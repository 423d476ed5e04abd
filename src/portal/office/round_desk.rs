//! One round for the office: coverage per street and community (sortable), deliveries
//! per organisation, assignments of streets to organisations.

use axum::extract::{Path as UrlPath, Query, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::common::*;
use crate::portal::State;
use crate::portal::respond::Caller;
use crate::portal::respond::Refusal;
use crate::portal::respond::blocking;
use crate::portal::respond::{page, refused, see_other};
use crate::portal::respond::{tryr, who};
use crate::round::RoundId;

#[derive(serde::Deserialize, Default)]
pub struct SortQuery {
    pub sort: Option<String>,
    /// After an assignment: the organisation and how many streets it now has.
    #[serde(default)]
    pub assigned: Option<String>,
    #[serde(default)]
    pub streets: Option<usize>,
}

/// `/rounds/{round}` for staff: the round desk of a round the workspace knows.
pub async fn round(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(round): UrlPath<String>,
    Query(q): Query<SortQuery>,
) -> Response {
    let a = who!(caller);
    let (r, _) = tryr!(crate::portal::access::visible_round(&state, &a, &round));
    let notice = q.assigned.as_ref().map(|org| {
        format!(
            "已保存：{org} 在本轮负责 {} 个街道。",
            q.streets.unwrap_or(0)
        )
    });
    round_desk(state, caller, r, q.sort, notice).await
}

/// The office's view of a round (the `/rounds/{round}` page for staff): coverage per
/// street and community, sortable; deliveries per evaluator; the undecided flags.
pub(super) async fn round_desk(
    state: State,
    caller: Caller,
    r: RoundId,
    sort: Option<String>,
    notice: Option<String>,
) -> Response {
    let ws = state.ws.clone();
    let dels = tryr!(blocking(move || crate::lifecycle::delivery_rows(&ws, Some(&r), false)).await);
    let key = tryr!(store_key(&state).await);
    let mut cov = (*tryr!(coverage(&state, &key, r).await)).clone();
    let (orgs, assigned) = {
        let db = tryr!(state.db().map_err(Refusal::from_error));
        match (db.organisations(), db.round_assignments(&r)) {
            (Ok(o), Ok(a)) => (o, a),
            (Err(e), _) | (_, Err(e)) => return refused(Refusal::from_error(e)),
        }
    };
    let frame = tryr!(state.ws.frame().map_err(Refusal::from_error));
    let undecided =
        tryr!(undecided(&state, &key, r, dels.iter().any(|d| d.status == "active")).await);
    let sort = sort.unwrap_or_default();
    match sort.as_str() {
        "valid" => cov
            .communities
            .sort_by_key(|c| (c.valid, c.community_code.clone())),
        "missing" => cov
            .communities
            .sort_by_key(|c| (std::cmp::Reverse(c.missing), c.community_code.clone())),
        "community" => cov
            .communities
            .sort_by(|a, b| a.community_name.cmp(&b.community_name)),
        _ => {}
    }
    // Per street: sampled communities, those short, valid questionnaires.
    let mut streets: Vec<(String, usize, usize, u64)> = Vec::new();
    for c in &cov.communities {
        match streets.iter_mut().find(|s| s.0 == c.street_name) {
            Some(s) => {
                s.1 += 1;
                s.2 += usize::from(c.missing > 0);
                s.3 += c.valid;
            }
            None => streets.push((
                c.street_name.clone(),
                1,
                usize::from(c.missing > 0),
                c.valid,
            )),
        }
    }
    streets.sort();
    // Deliveries per evaluator.
    let mut by_org: std::collections::BTreeMap<String, Vec<&crate::lifecycle::DeliveryRow>> =
        Default::default();
    for d in &dels {
        by_org
            .entry(
                d.evaluator
                    .clone()
                    .unwrap_or_else(|| "（未注明机构）".into()),
            )
            .or_default()
            .push(d);
    }
    let done = cov.communities.len() - cov.short;
    let sort_link = |key: &str, text: &str| -> Markup {
        html! { a href={ "/rounds/" (r) "?sort=" (key) "#coverage" } { (text) } }
    };
    page(
        &format!("{r} 轮"),
        Some(&caller),
        html! {
            h1 { (r) " 轮 · 考核办" }
            @if let Some(n) = &notice { p.notice role="status" { (n) } }
            p.summary.sticky {
                @match undecided {
                    Some(u) if u.n > 0 => { "待决定的质量标记 " a.short href={ "/rounds/" (r) "/flags" } { strong { (undecided_text(u)) } " 项" } " · " }
                    Some(u) => { "质量标记均已决定" @if u.stale { "（更新中）" } " · " }
                    None => {}
                }
                @if cov.sample_drawn {
                    "样本社区 " strong { (cov.communities.len()) } " 个，已达标 " strong.ok { (done) } "，未达标 " strong.short { (cov.short) }
                    " · " a href={ "/rounds/" (r) "/sample" } { "样本与种子" } " · " a href={ "/rounds/" (r) "/callbacks" } { "回访核实" }
                } @else { "本轮尚未抽样" }
            }
            div.actions-row { (job_button(&caller, "score", &r.to_string(), "计算得分")) " " a href={ "/results/" (r) } { "查看得分" } }
            @if cov.sample_drawn {
                h2 { "各街道完成情况" }
                table.data #streets {
                    thead { tr { th { "街道" } th.num { "样本社区" } th.num { "未达标" } th.num { "有效问卷" } } }
                    tbody {
                        @for s in &streets {
                            tr class=(if s.2 > 0 { "short" } else { "ok" }) {
                                td { (s.0) } td.num { (s.1) } td.num { (s.2) } td.num { (s.3) }
                            }
                        }
                    }
                }
                h2 { "各社区完成情况" }
                p { a href={ "/rounds/" (r) "/sample.xlsx" } { "下载各社区完成情况（Excel）" } }
                (crate::portal::parts::coverage_table(&cov.communities, Some(&sort_link)))
            }
            h2 #assignments { "测评机构负责的街道" }
            @if orgs.is_empty() { p.hint { "还没有测评机构账户（由管理员在“账户”页添加）。" } }
            p.hint { "每个街道在一轮中只归一个测评机构；机构只能看到、上传其负责街道的样本社区。" }
            @for org in &orgs {
                @let mine = assigned.get(org);
                form.assign method="post" action={ "/rounds/" (r) "/assignments" } {
                    (csrf_field(&caller))
                    input type="hidden" name="org" value=(org);
                    strong { (org) }
                    @for st in frame.streets.values() {
                        @let other = assigned.iter().find(|(o, ss)| *o != org && ss.contains(&st.code)).map(|(o, _)| o);
                        label.radio title=(other.map(|o| format!("已分配给 {o}")).unwrap_or_default()) {
                            input type="checkbox" name={ "s_" (st.code) } value="1"
                                checked[mine.is_some_and(|m| m.contains(&st.code))]
                                disabled[other.is_some()];
                            (st.name)
                        }
                    }
                    button.small type="submit" { "保存" }
                }
            }
            h2 { "各测评机构的交付" }
            @if by_org.is_empty() { p.hint { "还没有交付。" } }
            @for (org, ds) in &by_org {
                h3 { (org) " · 有效交付 " (ds.iter().filter(|d| d.status == "active").count()) " 个，接收 " (ds.iter().filter(|d| d.status == "active").map(|d| d.accepted).sum::<u64>()) " 份" }
                (crate::portal::parts::deliveries_table(&ds.iter().map(|d| (*d).clone()).collect::<Vec<_>>()))
            }
        },
    )
    .into_response()
}

/// `POST /rounds/{round}/assignments`: an organisation's streets in the round (the
/// checked `s_<code>` boxes; none checked takes all its streets away).
pub async fn assign(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(round): UrlPath<String>,
    axum::Form(f): axum::Form<std::collections::HashMap<String, String>>,
) -> Response {
    let a = who!(caller);
    let r = tryr!(staff_round(&state, &a, &round));
    let Some(org) = f
        .get("org")
        .map(|o| o.trim().to_string())
        .filter(|o| !o.is_empty())
    else {
        return refused(Refusal::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "refused",
            "请选择测评机构",
        ));
    };
    let streets: Vec<String> = f
        .keys()
        .filter_map(|k| k.strip_prefix("s_"))
        .map(str::to_string)
        .collect();
    let st = state.clone();
    let org_shown = org.clone();
    let res = blocking(move || st.db()?.assign(&a.name, &r, &org, &streets)).await;
    match res {
        Ok(list) => see_other(&format!(
            "/rounds/{r}?assigned={}&streets={}#assignments",
            super::flags::url_part(&org_shown),
            list.len()
        )),
        Err(e) => refused(e),
    }
}
