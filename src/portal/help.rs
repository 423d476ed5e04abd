//! The help page (`/help`): what each kind of account does here, step by step, in the
//! words of its pages. Every signed-in account reads its own part first.

use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::respond::{Caller, page, who};
use crate::accounts::Role;

fn evaluator() -> Markup {
    html! {
        h2 #evaluator { "测评机构" }
        ol {
            li { "在“测评轮次”中打开本轮，查看分配给本机构的街道与样本社区；可下载样本社区清单（Excel）。" }
            li { "按" a href="/guide" { "格式说明" } "整理问卷数据（可下载模板），CSV 或 XLSX 均可，Excel 另存的 GBK 编码也能读。" }
            li { "在本轮页面上传文件。上传后立即得到回执：读入、接收、拒收的行数，每个拒收行的行号、原因与改法。" }
            li { "有拒收行时，改好原文件后在该交付页面“上传更正文件”，更正文件替换原交付，不会重复计数。" }
            li { "若某访问员的问卷被考核办复核，回执会注明“复核中”，复核结论与理由也会在这里看到。" }
        }
    }
}

fn office() -> Markup {
    html! {
        h2 #office { "考核办" }
        ol {
            li { "在“工作台”抽取本轮样本：填写轮次和抽签现场当众确定的随机种子，确认后抽取，抽样结果不能重抽。" }
            li { "在轮次页面为各测评机构分配街道，随时查看各社区的完成情况（可下载 Excel）。" }
            li { "测评机构上传后，查看“质量标记”：按证据强弱排序，逐个访问员决定剔除或保留，写明理由；可下载标记清单。" }
            li { "需要时在“回访核实”抽取回访名单，录入回访结果；回访不符的访问员会自动进入质量标记。" }
            li { "计算得分、考核评价、生成报告在“任务”中排队运行；结果页可下载表格、图表与评审材料。" }
            li { "核对无误后发布；发布前页面会说明将发布给哪些街道、还有多少标记未决定。发布后街道即可查看本街道结果。" }
            li { "所有操作记入“日志”（北京时间），可按轮次、操作人、操作筛选并导出；“核对存储与日志”检查日志与存储是否一致。" }
        }
    }
}

fn admin() -> Markup {
    html! {
        h2 #admin { "管理员" }
        ol {
            li { "在“账户”中新增账户：选择角色（考核办、测评机构、街道、管理员），测评机构填机构名称，街道填街道代码。" }
            li { "新账户的一次性密码只显示一次，请当面或电话交给本人；首次登录须修改密码。" }
            li { "停用、启用、重置密码和令牌（供程序调用接口）也在这里，每项操作都记入日志。" }
        }
    }
}

fn street() -> Markup {
    html! {
        h2 #street { "街道" }
        ol {
            li { "考核办发布后，“本街道结果”列出已发布的各期结果：满意度得分、排名、各社区得分与扣分及其原因。" }
            li { "得分后的区间是 95% 置信区间；标“不稳定”的表示样本太少、结果不稳；标 * 的区间已截到 0–100 分。" }
            li { "表格可下载（Excel 能直接打开，社区代码保持为文字）。对结果有疑问，请与考核办联系。" }
        }
    }
}

pub async fn help(caller: Caller) -> Response {
    let a = who!(caller);
    let mine = match a.role {
        Role::Evaluator => evaluator(),
        Role::Office => office(),
        Role::Admin => html! { (admin()) (office()) },
        Role::Street => street(),
    };
    page(
        "使用帮助",
        Some(&caller),
        html! {
            h1 { "使用帮助" }
            p.hint { "页面上的时间均为北京时间。遇到错误时，页面会说明原因和改法；如提示“服务器内部错误”，请把页面上的编号告诉管理员。" }
            (mine)
            @if a.role.is_staff() {
                (evaluator())
                (street())
            }
        },
    )
    .into_response()
}
