//! The office's pages (考核办, and the admin): the desk, the draw, coverage, flags and
//! decisions, jobs, results and publication, indicators, the journal. Handlers ask the
//! library and render; heavy reads run on the blocking pool.

use axum::extract::{Multipart, Path as UrlPath, Query, State as AxState};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{Markup, PreEscaped, html};

use super::State;
use super::respond::Caller;
use super::respond::Refusal;
use super::respond::blocking;
use super::respond::multipart_refusal;
use super::respond::write_turn;
use super::respond::{fmt1, page, refused, see_other};
use super::respond::{tryr, who};
use crate::accounts::Account;
use crate::publish::{Results, parse_subject};
use crate::report::Subject;
use crate::round::RoundId;

fn csrf_field(c: &Caller) -> Markup {
    html! { input type="hidden" name="csrf" value=(c.csrf); }
}

fn job_button(c: &Caller, kind: &str, label: &str, text: &str) -> Markup {
    html! {
        form.inline method="post" action="/jobs" {
            (csrf_field(c))
            input type="hidden" name="kind" value=(kind);
            input type="hidden" name="label" value=(label);
            button.small type="submit" { (text) }
        }
    }
}

// ---------------------------------------------------------------- the desk

/// The undecided flags of `round` (`None` without active deliveries), counted once per
/// state of the store and shared by every page that shows it. When the store changed
/// since the last count, the last count is shown (marked as being updated) while one
/// new count runs in the background: readers never queue behind it.
pub async fn undecided(
    state: &State,
    key: &str,
    round: RoundId,
    active: bool,
) -> Result<Option<Undecided>, Refusal> {
    if !active {
        return Ok(None);
    }
    let key = key.to_string();
    let name = round.to_string();
    {
        let mut memo = state.undecided.lock().await;
        match memo.get_mut(&name) {
            Some(m) if m.key == key => {
                return Ok(Some(Undecided {
                    n: m.n,
                    stale: false,
                }));
            }
            Some(m) => {
                if !m.refreshing {
                    m.refreshing = true;
                    let st = state.clone();
                    tokio::spawn(async move {
                        let ws = st.ws.clone();
                        let n =
                            blocking(move || Ok(crate::lifecycle::flags(&ws, &round)?.undecided()))
                                .await;
                        let mut memo = st.undecided.lock().await;
                        if let Some(m) = memo.get_mut(&round.to_string()) {
                            m.refreshing = false;
                            match n {
                                Ok(n) => {
                                    m.n = n;
                                    m.key = key;
                                }
                                // The next page view tries again; the error is shown
                                // by the flags page itself.
                                Err(e) => eprintln!(
                                    "manyi serve: counting flags of {round}: {}",
                                    e.message
                                ),
                            }
                        }
                    });
                }
                return Ok(Some(Undecided {
                    n: m.n,
                    stale: true,
                }));
            }
            None => {}
        }
    }
    // The first count of the round: wait for it.
    let ws = state.ws.clone();
    let n = blocking(move || Ok(crate::lifecycle::flags(&ws, &round)?.undecided())).await?;
    state.undecided.lock().await.insert(
        name,
        super::FlagCount {
            key,
            n,
            refreshing: false,
        },
    );
    Ok(Some(Undecided { n, stale: false }))
}

/// What the memoised counts of a page depend on (`lifecycle::flags_key`), read once per
/// request.
pub async fn store_key(state: &State) -> Result<String, Refusal> {
    let ws = state.ws.clone();
    blocking(move || crate::lifecycle::flags_key(&ws)).await
}

/// A round's coverage over every organisation (the office's view), counted once per
/// state of the store; concurrent views wait for one count.
pub async fn coverage(
    state: &State,
    key: &str,
    round: RoundId,
) -> Result<std::sync::Arc<crate::lifecycle::Coverage>, Refusal> {
    if let Some((k, c)) = state.coverage.lock().await.get(&round.to_string())
        && k == key
    {
        return Ok(c.clone());
    }
    // Counted without holding the memo: a burst of views after a change may count twice,
    // but no view waits behind another's count.
    let ws = state.ws.clone();
    let c =
        std::sync::Arc::new(blocking(move || crate::lifecycle::coverage(&ws, &round, None)).await?);
    state
        .coverage
        .lock()
        .await
        .insert(round.to_string(), (key.to_string(), c.clone()));
    Ok(c)
}

/// A count of undecided flags as a page shows it.
#[derive(Debug, Clone, Copy)]
pub struct Undecided {
    pub n: usize,
    /// The store changed since it was counted; a new count is running.
    pub stale: bool,
}

fn undecided_text(u: Undecided) -> Markup {
    html! { (u.n) @if u.stale { "(更新中)" } }
}

/// One round's line on the desk.
struct RoundLine {
    round: RoundId,
    coverage: std::sync::Arc<crate::lifecycle::Coverage>,
    active: usize,
    undecided: Option<Undecided>,
}

/// One subject's line on the desk (a round or a period of a year).
struct SubjectLine {
    subject: Subject,
    computed: bool,
    reported: bool,
    published: bool,
}

fn subject_line(
    ws: &crate::workspace::Workspace,
    s: Subject,
    published: &[crate::publish::Publication],
) -> SubjectLine {
    let dir = ws.reports_dir().join(s.label());
    let computed = match s {
        Subject::Round(_) => dir.join("street_scores.csv").is_file(),
        Subject::Period(_) => dir.join("street_evaluation.csv").is_file(),
    };
    SubjectLine {
        subject: s,
        computed,
        reported: dir.join("review.pdf").is_file(),
        published: published.iter().any(|p| p.label == s.label()),
    }
}

pub async fn desk(AxState(state): AxState<State>, caller: Caller) -> Response {
    let _ = who!(caller);
    let ws = state.ws.clone();
    let (rounds, years, published) = tryr!(
        blocking(move || {
            let published = crate::publish::publications(&ws)?;
            let mut lines = Vec::new();
            let dels = crate::lifecycle::delivery_rows(&ws, None, false)?;
            for r in crate::lifecycle::rounds(&ws)? {
                let active = dels
                    .iter()
                    .filter(|d| d.round == r.to_string() && d.status == "active")
                    .count();
                lines.push((r, active));
            }
            let mut years: Vec<i32> = lines.iter().map(|l| l.0.year).collect();
            years.sort_unstable();
            years.dedup();
            let mut out = Vec::new();
            for y in years.into_iter().rev() {
                let subjects = crate::publish::subjects_of_year(&ws, y)?
                    .into_iter()
                    .filter(|s| matches!(s, Subject::Period(_)))
                    .map(|s| subject_line(&ws, s, &published))
                    .collect::<Vec<_>>();
                out.push((y, subjects));
            }
            Ok((lines, out, published))
        })
        .await
    );
    let key = tryr!(store_key(&state).await);
    let mut lines = Vec::new();
    for (round, active) in rounds {
        lines.push(RoundLine {
            round,
            coverage: tryr!(coverage(&state, &key, round).await),
            active,
            undecided: tryr!(undecided(&state, &key, round, active > 0).await),
        });
    }
    let rounds = lines;
    let undecided: usize = rounds.iter().filter_map(|l| l.undecided).map(|u| u.n).sum();
    let stale = rounds.iter().filter_map(|l| l.undecided).any(|u| u.stale);
    let pending = state.jobs.pending();
    page(
        "考核办工作台",
        Some(&caller),
        html! {
            h1 { "考核办工作台" }
            p.summary {
                "待决定的质量标记 " strong class=(if undecided > 0 { "short" } else { "ok" }) { (undecided) } " 项" @if stale { "(更新中)" }
                " · 排队或运行中的任务 " a href="/jobs" { strong { (pending) } } " 个"
            }
            h2 { "测评轮次" }
            @if rounds.is_empty() {
                p.hint { "还没有测评轮次。在下方抽取第一轮样本。" }
            } @else {
                table.data #rounds {
                    thead { tr { th { "轮次" } th { "抽样" } th.num { "样本社区" } th.num { "未达标" } th.num { "有效交付" } th.num { "待决定标记" } th { "得分" } th { "操作" } } }
                    tbody {
                        @for l in &rounds {
                            @let s = Some(subject_line(&state.ws, Subject::Round(l.round), &published));
                            tr {
                                td { a href={ "/rounds/" (l.round) } { (l.round) } }
                                td { @if l.coverage.sample_drawn { a href={ "/rounds/" (l.round) "/sample" } { "已抽样" } } @else { "尚未抽样" } }
                                td.num { (l.coverage.communities.len()) }
                                td.num { @if l.coverage.short > 0 { span.short { (l.coverage.short) } } @else { "0" } }
                                td.num { (l.active) }
                                td.num {
                                    @match l.undecided {
                                        Some(u) if u.n == 0 => { a href={ "/rounds/" (l.round) "/flags" } { (undecided_text(u)) } }
                                        Some(u) => { a.short href={ "/rounds/" (l.round) "/flags" } { (undecided_text(u)) } }
                                        None => { "—" }
                                    }
                                }
                                td {
                                    @if s.as_ref().is_some_and(|s| s.computed) { a href={ "/results/" (l.round) } { "查看" } } @else { "—" }
                                    @if s.as_ref().is_some_and(|s| s.published) { " · 已发布" }
                                }
                                td { @if l.active > 0 { (job_button(&caller, "score", &l.round.to_string(), "计算得分")) } }
                            }
                        }
                    }
                }
            }
            h2 { "抽取样本" }
            form.row method="post" action="/draw" {
                (csrf_field(&caller))
                label { "轮次(如 2019-R1)" input type="text" name="round" required pattern="[0-9]{4}-[Rr][0-9]+"; }
                label { "随机种子(抽签现场当众确定)" input type="text" name="seed" required; }
                button type="submit" { "抽样" }
            }
            p.hint { "抽样结果与种子、清单一起保存;任何人可用同一种子复核。抽样后,测评机构即可看到分配给它的样本社区。" }
            @for (y, subjects) in &years {
                h2 { (y) " 年考核" }
                table.data {
                    thead { tr { th { "期间" } th { "评价" } th { "报告" } th { "发布" } th { "操作" } } }
                    tbody {
                        @for s in subjects {
                            @let label = s.subject.label();
                            tr {
                                td { (crate::messages::period_title(&label)) }
                                td { @if s.computed { a href={ "/results/" (label) } { "已评价" } } @else { "—" } }
                                td { @if s.reported { "已生成" } @else { "—" } }
                                td { @if s.published { strong.ok { "已发布" } } @else { "未发布" } }
                                td {
                                    (job_button(&caller, "evaluate", &label, "评价"))
                                    @if s.computed { " " (job_button(&caller, "report", &label, "生成报告")) }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}

#[derive(serde::Deserialize)]
pub struct DrawForm {
    round: String,
    seed: String,
}

pub async fn draw(
    AxState(state): AxState<State>,
    caller: Caller,
    axum::Form(f): axum::Form<DrawForm>,
) -> Response {
    let a = who!(caller);
    let round: RoundId = match f.round.trim().to_ascii_uppercase().parse() {
        Ok(r) => r,
        Err(e) => return refused(Refusal::from_error(e)),
    };
    if f.seed.trim().is_empty() {
        return refused(Refusal::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "refused",
            "请填写随机种子",
        ));
    }
    let _turn = tryr!(write_turn(&state).await);
    let ws = state.ws.clone();
    let seed = f.seed.trim().to_string();
    tryr!(blocking(move || crate::sample::run_sample(&ws, &round, &seed, &a.name)).await);
    see_other(&format!("/rounds/{round}/sample"))
}

fn staff_round(state: &State, who: &Account, round: &str) -> Result<RoundId, Refusal> {
    super::access::visible_round(state, who, round).map(|(r, _)| r)
}

pub async fn sample(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(round): UrlPath<String>,
) -> Response {
    let a = who!(caller);
    let r = tryr!(staff_round(&state, &a, &round));
    let ws = state.ws.clone();
    let (manifest, coverage) = tryr!(
        blocking(move || Ok((
            crate::sample::read_manifest(&ws, &r)?,
            crate::lifecycle::coverage(&ws, &r, None)?
        )))
        .await
    );
    let Some(m) = manifest else {
        return refused(Refusal::not_found());
    };
    page(
        &format!("{r} 样本"),
        Some(&caller),
        html! {
            h1 { (r) " 轮样本" }
            dl.facts {
                dt { "随机种子" } dd { code { (m.seed) } }
                dt { "算法" } dd { (m.algorithm) }
                dt { "样本社区" } dd { (m.total_sampled) " 个" }
                dt { "样本文件 SHA-256" } dd { code { (m.sample_sha256) } }
                dt { "名录 SHA-256" } dd { code { (m.frame_sha256) } }
                dt { "规则 SHA-256" } dd { code { (m.rules_sha256) } }
                @if let Some(i) = &m.imported { dt { "导入" } dd { (format!("{i:?}")) } }
            }
            p.hint { "用 manyi verify-sample --round " (r) " 可按清单重新抽取并核对。" }
            h2 { "各街道抽样" }
            table.data {
                thead { tr { th { "街道" } th.num { "社区总数" } th.num { "可抽" } th.num { "抽中" } } }
                tbody {
                    @for s in &m.strata {
                        tr { td { (s.street_name) } td.num { (s.population) } td.num { (s.eligible) } td.num { (s.sampled) } }
                    }
                }
            }
            h2 { "样本社区" }
            table.data {
                thead { tr { th { "街道" } th { "社区代码" } th { "社区" } } }
                tbody {
                    @for c in &coverage.communities {
                        tr { td { (c.street_name) } td { (c.community_code) } td { (c.community_name) } }
                    }
                }
            }
        },
    )
    .into_response()
}

// ---------------------------------------------------------------- the round desk

#[derive(serde::Deserialize, Default)]
pub struct SortQuery {
    pub sort: Option<String>,
}

/// `/rounds/{round}` for staff: the round desk of a round the workspace knows.
pub async fn round(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(round): UrlPath<String>,
    Query(q): Query<SortQuery>,
) -> Response {
    let a = who!(caller);
    let (r, _) = tryr!(super::access::visible_round(&state, &a, &round));
    round_desk(state, caller, r, q.sort).await
}

/// The office's view of a round (the `/rounds/{round}` page for staff): coverage per
/// street and community, sortable; deliveries per evaluator; the undecided flags.
async fn round_desk(state: State, caller: Caller, r: RoundId, sort: Option<String>) -> Response {
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
            .entry(d.evaluator.clone().unwrap_or_else(|| "(未注明机构)".into()))
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
            p.summary.sticky {
                @match undecided {
                    Some(u) if u.n > 0 => { "待决定的质量标记 " a.short href={ "/rounds/" (r) "/flags" } { strong { (undecided_text(u)) } " 项" } " · " }
                    Some(u) => { "质量标记均已决定" @if u.stale { "(更新中)" } " · " }
                    None => {}
                }
                @if cov.sample_drawn {
                    "样本社区 " strong { (cov.communities.len()) } " 个,已达标 " strong.ok { (done) } ",未达标 " strong.short { (cov.short) }
                    " · " a href={ "/rounds/" (r) "/sample" } { "样本与种子" }
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
                (super::parts::coverage_table(&cov.communities, Some(&sort_link)))
            }
            h2 { "测评机构负责的街道" }
            @if orgs.is_empty() { p.hint { "还没有测评机构账户(管理员用 manyi user add NAME --role evaluator --org 机构 开设)。" } }
            p.hint { "每个街道在一轮中只归一个测评机构;机构只能看到、上传其负责街道的样本社区。" }
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
                h3 { (org) " · 有效交付 " (ds.iter().filter(|d| d.status == "active").count()) " 个,接收 " (ds.iter().filter(|d| d.status == "active").map(|d| d.accepted).sum::<u64>()) " 份" }
                (super::parts::deliveries_table(&ds.iter().map(|d| (*d).clone()).collect::<Vec<_>>()))
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
    let res = blocking(move || st.db()?.assign(&a.name, &r, &org, &streets)).await;
    match res {
        Ok(_) => see_other(&format!("/rounds/{r}#coverage")),
        Err(e) => refused(e),
    }
}

// ---------------------------------------------------------------- flags and decisions

pub async fn flags(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(round): UrlPath<String>,
) -> Response {
    let a = who!(caller);
    let r = tryr!(staff_round(&state, &a, &round));
    let ws = state.ws.clone();
    let f = tryr!(blocking(move || crate::lifecycle::flags(&ws, &r)).await);
    render_flags(&caller, &r, &f, None)
}

fn decision_form(c: &Caller, r: &RoundId, subject: &str, id: &str) -> Markup {
    html! {
        form.decide method="post" action={ "/rounds/" (r) "/decisions" } {
            (csrf_field(c))
            input type="hidden" name="subject" value=(subject);
            input type="hidden" name="id" value=(id);
            label.radio { input type="radio" name="action" value="exclude" required; "剔除" }
            label.radio { input type="radio" name="action" value="keep"; "保留" }
            input type="text" name="reason" placeholder="理由(必填,记入日志)" required;
            button.small type="submit" { "决定" }
        }
    }
}

fn decision_text(d: &Option<crate::flags::DecisionView>) -> Markup {
    html! {
        @match d {
            Some(d) => {
                strong class=(if d.action == "exclude" { "short" } else { "ok" }) { (crate::messages::decision_action_text(&d.action)) }
                " · " (d.reason) " · " (d.actor) " · " (crate::store::beijing_time(&d.at))
            }
            None => { span.short { "待决定" } }
        }
    }
}

fn render_flags(
    caller: &Caller,
    r: &RoundId,
    f: &crate::flags::RoundFlags,
    message: Option<&str>,
) -> Response {
    let zh = crate::messages::Lang::Zh;
    let shown = 200;
    page(
        &format!("{r} 质量标记"),
        Some(caller),
        html! {
            h1 { (r) " 轮质量标记" }
            p.summary.sticky {
                "待决定:访问员 " strong.short { (f.undecided_interviewers) } " 名,问卷 " strong.short { (f.undecided_questionnaires) } " 份"
                " · 读入问卷 " (f.questionnaires_read) " 份 · " a href={ "/rounds/" (r) } { "返回本轮" }
            }
            @if let Some(m) = message { p.error role="alert" { (m) } }
            p.hint { "未决定的标记不影响得分;剔除后,其问卷不计入下次计算的得分。每个决定须写明理由,记入日志。" }
            h2 { "访问员" }
            @if f.interviewers.is_empty() { p { "没有被标记的访问员。" } }
            @for i in &f.interviewers {
                section.flag #{ "interviewer-" (i.interviewer_id) } {
                    h3 { "访问员 " (i.interviewer_id) " · 问卷 " (i.questionnaires) " 份 · " (i.communities) " 个社区" }
                    p.evidence { (i.as_flag().reasons_text_in(zh)) }
                    @let sens = i.sensitivity.text(zh);
                    @if !sens.is_empty() { details.evidence { summary { "剔除的影响(各街道、各社区得分变化)" } p { (sens) } } }
                    p { "交付文件:" (i.deliveries.join("、")) }
                    p { "决定:" (decision_text(&i.decision)) }
                    (decision_form(caller, r, "interviewer", &i.interviewer_id))
                }
            }
            h2 { "问卷" }
            @if f.questionnaires.is_empty() { p { "没有被标记的问卷。" } }
            @if f.questionnaires.len() > shown { p.hint { "共 " (f.questionnaires.len()) " 份,此处列出前 " (shown) " 份(未决定的在前);全部见 manyi flags --round " (r) "。" } }
            @if !f.questionnaires.is_empty() {
                table.data #questionnaires {
                    thead { tr { th { "受访者" } th { "访问员" } th { "社区" } th { "文件 · 行" } th { "标记" } th { "决定" } th { "操作" } } }
                    tbody {
                        @for q in f.questionnaires.iter().take(shown) {
                            tr {
                                td { code { (q.respondent_id) } }
                                td { (q.interviewer_id.as_deref().unwrap_or("—")) }
                                td { (q.community_code) }
                                td { (q.file_name) " · " (q.line) }
                                td { (q.flags.iter().map(|c| crate::messages::questionnaire_flag_text(c)).collect::<Vec<_>>().join("、")) }
                                td { (decision_text(&q.decision)) }
                                td { (decision_form(caller, r, "respondent", &q.respondent_id)) }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}

#[derive(serde::Deserialize)]
pub struct DecideForm {
    subject: String,
    id: String,
    action: String,
    reason: String,
}

pub async fn decide(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(round): UrlPath<String>,
    axum::Form(f): axum::Form<DecideForm>,
) -> Response {
    let a = who!(caller);
    let r = tryr!(staff_round(&state, &a, &round));
    let subject = match f.subject.as_str() {
        "interviewer" => crate::lifecycle::Subject::Interviewer,
        "respondent" => crate::lifecycle::Subject::Respondent,
        _ => return refused(Refusal::not_found()),
    };
    let exclude = match f.action.as_str() {
        "exclude" => true,
        "keep" => false,
        _ => {
            return refused(Refusal::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "refused",
                "请选择剔除或保留",
            ));
        }
    };
    let _turn = tryr!(write_turn(&state).await);
    let ws = state.ws.clone();
    let res = blocking(move || {
        crate::lifecycle::decide(&ws, &r, subject, &f.id, exclude, &f.reason, &a.name)
    })
    .await;
    match res {
        Ok(_) => {
            // The header's count: recounted now (shown as before until it is done).
            let counted = match store_key(&state).await {
                Ok(key) => undecided(&state, &key, r, true).await.map(|_| ()),
                Err(e) => Err(e),
            };
            if let Err(e) = counted {
                eprintln!("manyi serve: counting flags of {r}: {}", e.message);
            }
            see_other(&format!("/rounds/{r}/flags"))
        }
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let ws = state.ws.clone();
            let fl = tryr!(blocking(move || crate::lifecycle::flags(&ws, &r)).await);
            let mut resp = render_flags(&caller, &r, &fl, Some(&e.message));
            *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            resp
        }
        Err(e) => refused(e),
    }
}

// ---------------------------------------------------------------- jobs

fn job_rows(jobs: &[crate::jobs::Job]) -> Markup {
    html! {
        table.data #jobs {
            thead { tr { th { "编号" } th { "任务" } th { "状态" } th { "进度" } th { "提交人" } th { "提交时间" } } }
            tbody {
                @for j in jobs {
                    tr class=(match j.status { crate::jobs::Status::Failed => "short", crate::jobs::Status::Done => "ok", _ => "" }) {
                        td { a href={ "/jobs/" (j.id) } { (j.id) } }
                        td { (j.title) }
                        td {
                            (j.status.text())
                            @if let Some(p) = j.position { "(第 " (p) " 位)" }
                        }
                        td { (format!("{:.0}%", j.progress * 100.0)) " " (j.step) }
                        td { (j.actor) }
                        td { (crate::store::beijing_time(&j.submitted)) }
                    }
                }
            }
        }
    }
}

pub async fn jobs(AxState(state): AxState<State>, caller: Caller) -> Response {
    let _ = who!(caller);
    let list = state.jobs.list();
    page(
        "任务",
        Some(&caller),
        html! {
            h1 { "任务" }
            p.hint { "计算得分、考核评价与生成报告在后台依次运行(同一时间只运行一个,其余排队)。" }
            @if list.is_empty() { p { "还没有任务。" } } @else { (job_rows(&list)) }
        },
    )
    .into_response()
}

#[derive(serde::Deserialize)]
pub struct JobForm {
    kind: String,
    label: String,
}

pub async fn submit_job(
    AxState(state): AxState<State>,
    caller: Caller,
    axum::Form(f): axum::Form<JobForm>,
) -> Response {
    let a = who!(caller);
    let task = tryr!(crate::jobs::Task::parse(&f.kind, &f.label).map_err(Refusal::from_error));
    let id = tryr!(
        state
            .jobs
            .submit(task, &a.name)
            .map_err(Refusal::from_error)
    );
    see_other(&format!("/jobs/{id}"))
}

pub async fn job(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let _ = who!(caller);
    let Some(j) = id.parse().ok().and_then(|id| state.jobs.get(id)) else {
        return refused(Refusal::not_found());
    };
    let running = matches!(
        j.status,
        crate::jobs::Status::Queued | crate::jobs::Status::Running
    );
    let mut r = page(
        &format!("任务 {}", j.id),
        Some(&caller),
        html! {
            h1 { "任务 " (j.id) ":" (j.title) }
            p.summary {
                "状态:" strong { (j.status.text()) }
                @if let Some(p) = j.position { "(排在第 " (p) " 位)" }
                " · " (j.step)
            }
            progress max="100" value=(format!("{:.0}", j.progress * 100.0)) {}
            @if running { p.hint { "本页每 2 秒自动刷新。" } }
            @if let Some(e) = &j.error { p.error role="alert" { (e) } }
            @if j.status == crate::jobs::Status::Done {
                p { a href={ "/results/" (j.label) } { "查看结果" } }
                details { summary { "写入的文件(" (j.files.len()) ")" } ul { @for f in &j.files { li { code { (f) } } } } }
            }
            p { a href="/jobs" { "全部任务" } " · " a href="/desk" { "返回工作台" } }
        },
    )
    .into_response();
    if running {
        r.headers_mut()
            .insert("refresh", HeaderValue::from_static("2"));
    }
    r
}

// ---------------------------------------------------------------- results and publication

fn visible_subject(label: &str) -> Result<Subject, Refusal> {
    parse_subject(label).map_err(|_| Refusal::not_found())
}

pub async fn results(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(label): UrlPath<String>,
) -> Response {
    let _ = who!(caller);
    let s = tryr!(visible_subject(&label));
    let ws = state.ws.clone();
    let res = tryr!(blocking(move || crate::publish::results(&ws, &s)).await);
    if res.files.is_empty() {
        return refused(Refusal::not_found());
    }
    render_results(&caller, &s, &res, None)
}

fn ci(lo: Option<f64>, hi: Option<f64>) -> String {
    match (lo, hi) {
        (Some(l), Some(h)) => format!("{l:.1}–{h:.1}"),
        _ => "—".into(),
    }
}

fn p_text(p: Option<f64>) -> String {
    match p {
        Some(p) if p < 0.001 => "<0.001".into(),
        Some(p) => format!("{p:.3}"),
        None => "—".into(),
    }
}

fn render_results(caller: &Caller, s: &Subject, res: &Results, message: Option<&str>) -> Response {
    let label = s.label();
    let title = crate::messages::period_title(&label);
    let mut streets = res.streets.clone();
    streets.sort_by(|a, b| {
        b.score
            .unwrap_or(f64::NEG_INFINITY)
            .total_cmp(&a.score.unwrap_or(f64::NEG_INFINITY))
    });
    let mut evaluation = res.evaluation.clone();
    evaluation.sort_by_key(|e| e.rank.unwrap_or(usize::MAX));
    page(
        &format!("{title} 结果"),
        Some(caller),
        html! {
            h1 { (title) " 结果" }
            @if let Some(m) = message { p.error role="alert" { (m) } }
            section.publish {
                @match &res.publication {
                    Some(p) => {
                        p.summary {
                            strong.ok { "已发布" } " · " (p.actor) " · " (crate::store::beijing_time(&p.time))
                            @if res.changed_since_publication { " · " strong.short { "结果在发布后已重新计算,街道看到的仍是发布时的版本" } }
                        }
                        form.row method="post" action={ "/results/" (label) "/unpublish" } {
                            (csrf_field(caller))
                            input type="text" name="reason" placeholder="撤回理由(必填)" required;
                            button.small type="submit" { "撤回发布" }
                        }
                    }
                    None => { p.summary { "未发布:街道尚看不到本期结果。" } }
                }
                form.inline method="post" action={ "/results/" (label) "/publish" } {
                    (csrf_field(caller))
                    button type="submit" { @if res.publication.is_some() { "重新发布当前结果" } @else { "发布给各街道" } }
                }
                " "
                (job_button(caller, "report", &label, "重新生成报告"))
            }
            @if !evaluation.is_empty() {
                h2 { "考核排名" }
                table.data #ranking {
                    thead { tr { th.num { "名次" } th { "街道" } th.num { "满意度" } th.num { "满意度得分" } th.num { "任务指标" } th.num { "上半年" } th.num { "下半年" } th.num { "合计" } th { "说明" } } }
                    tbody {
                        @for e in &evaluation {
                            tr {
                                td.num { (e.rank.map_or("—".into(), |r| r.to_string())) }
                                td { (e.street_name) }
                                td.num { (fmt1(e.satisfaction_score)) }
                                td.num { (fmt1(e.satisfaction_points)) }
                                td.num { (fmt1(e.task_points)) }
                                td.num { (fmt1(e.h1_total)) }
                                td.num { (fmt1(e.h2_total)) }
                                td.num { strong { (fmt1(e.total)) } }
                                td { (e.note) }
                            }
                        }
                    }
                }
            }
            @if !streets.is_empty() {
                h2 { "街道满意度" }
                table.data #streets {
                    thead { tr { th { "街道" } th.num { "得分" } th { "95% 置信区间" } th.num { "受访者" } th.num { "社区(测/抽)" } th.num { "低于阈值的社区" } th.num { "P(低于阈值)" } } }
                    tbody {
                        @for t in &streets {
                            tr {
                                td { (t.street_name) }
                                td.num { (fmt1(t.score)) }
                                td { (ci(t.ci_low, t.ci_high)) }
                                td.num { (t.n_respondents) }
                                td.num { (t.n_communities) "/" (t.n_sampled) }
                                td.num { (t.communities_below) }
                                td.num { (p_text(t.p_below)) }
                            }
                        }
                    }
                }
            }
            @if !res.deductions.is_empty() {
                h2 { "扣分表" }
                table.data #deductions {
                    thead { tr { th { "街道" } th { "社区" } th.num { "得分" } th { "95% 置信区间" } th.num { "P(低于阈值)" } th { "计入" } th.num { "扣分" } } }
                    tbody {
                        @for d in &res.deductions {
                            @if d.row_type == "street" {
                                tr.total { td { (d.street_name) } td { "合计(计入 " (d.counted) " 个)" } td.num { (fmt1(d.street_score)) } td {} td.num {} td {} td.num { strong { (fmt1(d.total)) } } }
                            } @else {
                                tr class=(if d.counts() { "short" } else { "" }) {
                                    td { (d.street_name) }
                                    td { (d.community_name) }
                                    td.num { (fmt1(d.score)) }
                                    td { (ci(d.ci_low, d.ci_high)) }
                                    td.num { (p_text(d.p_below)) }
                                    td { @if d.counts() { "计入" } @else { "不计入" } }
                                    td.num { (fmt1(d.points)) }
                                }
                            }
                        }
                    }
                }
            }
            @if !res.charts.is_empty() {
                h2 { "图表" }
                // The engine's own SVG (plotters escapes every text it draws), inline so
                // that the page's embedded font draws its Chinese.
                @for (name, svg) in &res.charts {
                    figure {
                        (PreEscaped(svg))
                        figcaption { a href={ "/results/" (label) "/files/" (name) } download { (name) } }
                    }
                }
            }
            h2 { "下载" }
            ul.files {
                @for f in &res.files {
                    li { a href={ "/results/" (label) "/files/" (f) } download { (f) } }
                }
            }
        },
    )
    .into_response()
}

pub async fn result_file(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath((label, name)): UrlPath<(String, String)>,
) -> Response {
    let _ = who!(caller);
    let s = tryr!(visible_subject(&label));
    if !crate::publish::downloadable(&name) {
        return refused(Refusal::not_found());
    }
    let path = state.ws.reports_dir().join(s.label()).join(&name);
    if !path.is_file() {
        return refused(Refusal::not_found());
    }
    super::respond::stream_file(path, content_type(&name), &name).await
}

pub async fn publish(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(label): UrlPath<String>,
) -> Response {
    let a = who!(caller);
    let s = tryr!(visible_subject(&label));
    let _turn = tryr!(write_turn(&state).await);
    let ws = state.ws.clone();
    match blocking(move || crate::publish::publish(&ws, &s, &a.name)).await {
        Ok(_) => see_other(&format!("/results/{}", s.label())),
        Err(e) => results_with_message(&state, &caller, &s, e).await,
    }
}

#[derive(serde::Deserialize)]
pub struct ReasonForm {
    reason: String,
}

pub async fn unpublish(
    AxState(state): AxState<State>,
    caller: Caller,
    UrlPath(label): UrlPath<String>,
    axum::Form(f): axum::Form<ReasonForm>,
) -> Response {
    let a = who!(caller);
    let s = tryr!(visible_subject(&label));
    let _turn = tryr!(write_turn(&state).await);
    let ws = state.ws.clone();
    match blocking(move || crate::publish::unpublish(&ws, &s, &f.reason, &a.name)).await {
        Ok(_) => see_other(&format!("/results/{}", s.label())),
        Err(e) => results_with_message(&state, &caller, &s, e).await,
    }
}

async fn results_with_message(state: &State, caller: &Caller, s: &Subject, e: Refusal) -> Response {
    if e.status != StatusCode::UNPROCESSABLE_ENTITY {
        return refused(e);
    }
    let ws = state.ws.clone();
    let s2 = *s;
    let res = tryr!(blocking(move || crate::publish::results(&ws, &s2)).await);
    let mut r = render_results(caller, s, &res, Some(&e.message));
    *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    r
}

// ---------------------------------------------------------------- indicators

fn indicator_page(state: &State, caller: &Caller, message: Option<Markup>) -> Response {
    let files = match crate::evaluate::indicator_file_names(&state.ws) {
        Ok(f) => f,
        Err(e) => return refused(Refusal::from_error(e)),
    };
    let action = format!("/indicators?csrf={}", caller.csrf);
    page(
        "任务指标",
        Some(caller),
        html! {
            h1 { "任务指标" }
            @if let Some(m) = message { (m) }
            p.hint { "各街道每季度(或半年)的任务指标文件:CSV(UTF-8 或 GBK)或 XLSX,列为 period, street_code, street_name, indicator, value。上传时按与命令行相同的规则检查,有错误的文件不会保存。" }
            form.upload method="post" action=(action) enctype="multipart/form-data" {
                label { "期间(如 2018Q1、2018H1)" input type="text" name="period" required; }
                input type="file" name="file" accept=".csv,.txt,.xlsx" required;
                button type="submit" { "上传指标" }
            }
            h2 { "已有的指标文件" }
            @if files.is_empty() { p { "还没有。" } }
            ul { @for f in &files { li { code { (f) } } } }
        },
    )
    .into_response()
}

pub async fn indicators(AxState(state): AxState<State>, caller: Caller) -> Response {
    let _ = who!(caller);
    indicator_page(&state, &caller, None)
}

pub async fn upload_indicators(
    AxState(state): AxState<State>,
    caller: Caller,
    mut mp: Multipart,
) -> Response {
    let a = who!(caller);
    let mut period = None;
    let mut file: Option<(String, Vec<u8>)> = None;
    loop {
        match mp.next_field().await {
            Ok(Some(f)) => {
                let name = f.name().unwrap_or("").to_string();
                let fname = f.file_name().map(super::upload::clean_name);
                match f.bytes().await {
                    Ok(b) if name == "period" => {
                        period = Some(String::from_utf8_lossy(&b).trim().to_string())
                    }
                    Ok(b) if name == "file" => {
                        file = Some((fname.unwrap_or_else(|| "indicators.csv".into()), b.to_vec()))
                    }
                    Ok(_) => {}
                    Err(e) => {
                        return refused(multipart_refusal(&e));
                    }
                }
            }
            Ok(None) => break,
            Err(e) => {
                return refused(multipart_refusal(&e));
            }
        }
    }
    let fail = |m: String| {
        let mut r = indicator_page(
            &state,
            &caller,
            Some(html! { p.error role="alert" { (m) } }),
        );
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        r
    };
    let Some(period) = period else {
        return fail("请填写期间".into());
    };
    let period: crate::round::Period = match period.parse() {
        Ok(p) => p,
        Err(e) => return fail(e.to_string()),
    };
    let Some((name, bytes)) = file else {
        return fail("请选择文件".into());
    };
    let _turn = tryr!(write_turn(&state).await);
    let ws = state.ws.clone();
    let dir = super::uploads_dir(&ws);
    let res = blocking(move || {
        let tmp = tempfile::Builder::new()
            .prefix("upload-")
            .tempfile_in(&dir)
            .map_err(|e| crate::error::Error::io(&dir, e))?;
        std::fs::write(tmp.path(), &bytes).map_err(|e| crate::error::Error::io(tmp.path(), e))?;
        crate::evaluate::import_indicators(&ws, &period, tmp.path(), &name, &a.name)
    })
    .await;
    match res {
        Ok(i) => indicator_page(
            &state,
            &caller,
            Some(
                html! { p.notice role="status" { "已保存 " code { (i.path) } ":" (i.values) " 个指标值" @if i.replaced { "(替换了原有文件)" } "。重新评价 " (i.period) " 后生效。" } },
            ),
        ),
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => fail(e.message),
        Err(e) => refused(e),
    }
}

// ---------------------------------------------------------------- the journal

#[derive(serde::Deserialize, Default)]
pub struct JournalQuery {
    round: Option<String>,
    actor: Option<String>,
    action: Option<String>,
}

fn entry_link(e: &crate::journal::Entry) -> Markup {
    html! {
        @if let Some(r) = &e.round {
            @if matches!(e.action.as_str(), "score" | "evaluate" | "report" | "publish" | "unpublish") {
                a href={ "/results/" (r) } { (r) }
            } @else if r.contains("-R") {
                a href={ "/rounds/" (r) } { (r) }
            } @else { (r) }
        }
        @for id in &e.ids {
            " "
            @if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                a href={ "/deliveries/" (id) } { code { (crate::ingest::short(id)) } }
            } @else if let (Some(r), Some(rest)) = (&e.round, id.strip_prefix("interviewer:")) {
                a href={ "/rounds/" (r) "/flags#interviewer-" (rest) } { (id) }
            } @else { code { (id) } }
        }
    }
}

pub async fn journal(
    AxState(state): AxState<State>,
    caller: Caller,
    Query(q): Query<JournalQuery>,
) -> Response {
    let _ = who!(caller);
    render_journal(&state, &caller, q, None).await
}

async fn render_journal(
    state: &State,
    caller: &Caller,
    q: JournalQuery,
    check: Option<crate::lifecycle::verify::StoreCheck>,
) -> Response {
    let ws = state.ws.clone();
    let nonempty = |s: &Option<String>| {
        s.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let (round, actor, action) = (nonempty(&q.round), nonempty(&q.actor), nonempty(&q.action));
    let filter = crate::lifecycle::JournalFilter {
        round: round.clone(),
        actor: actor.clone(),
        action: action.clone(),
    };
    let entries = tryr!(blocking(move || crate::lifecycle::journal_filtered(&ws, &filter)).await);
    let shown = 500;
    page(
        "日志",
        Some(caller),
        html! {
            h1 { "日志" }
            p.hint { "谁在何时做了什么:每次上传、撤回、决定、计算、发布、登录和账户变更。时间为 UTC。" }
            form.row method="get" action="/journal" {
                label { "轮次或期间" input type="text" name="round" value=(round.clone().unwrap_or_default()); }
                label { "操作人" input type="text" name="actor" value=(actor.clone().unwrap_or_default()); }
                label { "操作" input type="text" name="action" value=(action.clone().unwrap_or_default()) placeholder="ingest, decide, publish…"; }
                button type="submit" { "筛选" }
            }
            form.inline method="post" action="/journal/verify" {
                (csrf_field(caller))
                button type="submit" { "核对存储与日志(verify-store)" }
            }
            @if let Some(c) = &check {
                @if c.ok() {
                    p.notice #verify role="status" { "核对通过:日志 " (c.entries) " 条,文件 " (c.files_checked) " 个,交付 " (c.deliveries) " 个,均与记录一致。" }
                } @else {
                    div.error #verify role="alert" {
                        p { "核对发现 " (c.problems.len()) " 个问题:" }
                        ul { @for p in &c.problems { li { code { (p.code) } " " (p.message) } } }
                    }
                }
            }
            p { "共 " (entries.len()) " 条" @if entries.len() > shown { ",显示最新 " (shown) " 条" } "。" }
            table.data #journal {
                thead { tr { th.num { "序号" } th { "时间(UTC)" } th { "操作人" } th { "操作" } th { "对象" } th { "理由" } } }
                tbody {
                    @for e in entries.iter().rev().take(shown) {
                        tr {
                            td.num { (e.seq) }
                            td { (e.time) }
                            td { (e.actor) }
                            td { (e.action) }
                            td { (entry_link(e)) }
                            td { (e.reason.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}

pub async fn verify(AxState(state): AxState<State>, caller: Caller) -> Response {
    let a = who!(caller);
    let ws = state.ws.clone();
    let check = tryr!(blocking(move || crate::lifecycle::verify::verify_store(&ws, &a.name)).await);
    render_journal(&state, &caller, JournalQuery::default(), Some(check)).await
}

/// A file download's type (for the results' files).
pub fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "csv" => "text/csv; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "pdf" => "application/pdf",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "md" => "text/markdown; charset=utf-8",
        _ => "application/octet-stream",
    }
}
