//! The desk: every round with its coverage and undecided flags, the draw of a sample.

use axum::extract::{Path as UrlPath, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::common::*;
use crate::portal::State;
use crate::portal::respond::Caller;
use crate::portal::respond::Refusal;
use crate::portal::respond::blocking;
use crate::portal::respond::write_turn;
use crate::portal::respond::{page, refused, see_other};
use crate::portal::respond::{tryr, who};
use crate::report::Subject;
use crate::round::RoundId;

/// One round's line on the desk.
pub(super) struct RoundLine {
    round: RoundId,
    coverage: std::sync::Arc<crate::lifecycle::Coverage>,
    active: usize,
    undecided: Option<Undecided>,
}

/// One subject's line on the desk (a round or a period of a year).
pub(super) struct SubjectLine {
    subject: Subject,
    computed: bool,
    reported: bool,
    published: bool,
    /// A period that evaluating can give a result for (always true for a round).
    evaluable: bool,
}

pub(super) fn subject_line(
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
        evaluable: true,
    }
}

pub async fn desk(AxState(state): AxState<State>, caller: Caller) -> Response {
    let _ = who!(caller); // ok: the page needs a signed-in account, not which one
    let ws = state.ws.clone();
    let (rounds, years, published, todo) = tryr!(
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
                let periods: Vec<crate::round::Period> = crate::publish::subjects_of_year(&ws, y)?
                    .into_iter()
                    .filter_map(|s| match s {
                        Subject::Period(p) => Some(p),
                        Subject::Round(_) => None,
                    })
                    .collect();
                let evaluable = crate::evaluate::has_data(&ws, &periods)?;
                let subjects = periods
                    .into_iter()
                    .zip(evaluable)
                    .map(|(p, e)| SubjectLine {
                        evaluable: e,
                        ..subject_line(&ws, Subject::Period(p), &published)
                    })
                    .collect::<Vec<_>>();
                out.push((y, subjects));
            }
            let todo = crate::appeals::todo(&ws, None, &crate::appeals::now())?;
            Ok::<_, crate::error::Error>((lines, out, published, todo))
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
                "待决定的质量标记 " strong class=(if undecided > 0 { "short" } else { "ok" }) { (undecided) } " 项" @if stale { "（更新中）" }
                " · 排队或运行中的任务 " a href="/jobs" { strong { (pending) } } " 个"
            }
            @if todo.count() > 0 {
                section #todo {
                    h2 { "待办" }
                    ul {
                        @if !todo.appeals_to_rule.is_empty() {
                            li { a href="/appeals" { "待复核申诉 " strong.short { (todo.appeals_to_rule.len()) } " 件" }
                                 "，最早截止 " (crate::store::beijing_time(&todo.appeals_to_rule[0].deadline)) }
                        }
                        @if !todo.to_verify.is_empty() {
                            li { a href="/ledger?status=done" { "待核验整改 " strong.short { (todo.to_verify.len()) } " 项" } }
                        }
                    }
                }
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
                label { "轮次（如 2019-R1）" input type="text" name="round" required pattern="[0-9]{4}-[Rr][0-9]+"; }
                label { "随机种子（抽签现场当众确定）" input type="text" name="seed" required; }
                button type="submit" { "抽样" }
            }
            p.hint { "抽样结果与种子、清单一起保存；任何人可用同一种子复核。抽样后，测评机构即可看到分配给它的样本社区。" }
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
                                    @if s.evaluable { (job_button(&caller, "evaluate", &label, "评价")) } @else { span.hint { "尚无数据" } }
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
    /// "yes" once the person has read what the draw does (it cannot be redone).
    #[serde(default)]
    confirm: Option<String>,
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
    if f.confirm.as_deref() != Some("yes") {
        let seed = f.seed.trim();
        return page(
            &format!("确认抽样 {round}"),
            Some(&caller),
            html! {
                h1 { "确认抽样" }
                p.summary {
                    "将以随机种子“" (seed) "”为" (crate::messages::period_title(&round.to_string())) "抽取样本社区（同一种子总是抽出同一样本，任何人可以复核）。"
                    "抽样结果与种子、清单一起保存并记入日志，不能重抽，也不能更换种子；抽样后，测评机构即可看到分配给它的样本社区。"
                }
                form.inline method="post" action="/draw" {
                    (csrf_field(&caller))
                    input type="hidden" name="round" value=(round);
                    input type="hidden" name="seed" value=(seed);
                    input type="hidden" name="confirm" value="yes";
                    button type="submit" { "确认抽样" }
                }
                " "
                a.button.secondary href="/desk" { "取消" }
            },
        )
        .into_response();
    }
    let _turn = tryr!(write_turn(&state).await);
    let ws = state.ws.clone();
    let seed = f.seed.trim().to_string();
    tryr!(blocking(move || crate::sample::run_sample(&ws, &round, &seed, &a.name)).await);
    see_other(&format!("/rounds/{round}/sample"))
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
        blocking(move || Ok::<_, crate::error::Error>((
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
                @if let Some(i) = &m.imported {
                    dt { "导入" }
                    dd {
                        "由 " (i.actor) " 于 " (crate::store::beijing_time(&i.at)) " 从文件 " code { (i.file) } " 导入；理由：" (i.reason)
                        @for w in &i.warnings { br; "注意：" (w) }
                    }
                }
            }
            p.hint { "任何人都可以用上面的随机种子、名录和规则，按公开的算法重新抽取；结果应与样本文件一致（其 SHA-256 如上）。" }
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
