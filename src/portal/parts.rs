//! Pieces of pages more than one page shows: the coverage and deliveries tables, a
//! status in Chinese, the rejects file's name.

use maud::{Markup, html};

use crate::store::DeliveryEntry;

pub(super) fn status_zh(s: &str) -> &'static str {
    crate::store::DeliveryStatus::from_code(s)
        .map_or("未知", |s| s.text_in(crate::messages::Lang::Zh))
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
                            @if c.excluded > 0 { span.hint title="考核办剔除的有效问卷，不计入" { "（剔除 " (c.excluded) "）" } }
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

/// The name a rejects list is downloaded under: `<delivery stem>-拒收.csv`.
pub fn rejects_name(d: &DeliveryEntry) -> String {
    let stem = d
        .file_name
        .rsplit_once('.')
        .map_or(d.file_name.as_str(), |(s, _)| s);
    format!("{stem}-拒收.csv")
}
