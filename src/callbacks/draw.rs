//! Drawing a callback batch: how many calls each interviewer needs (the design of
//! `design`, more where the statistics already doubt him), within the round's budget,
//! which questionnaires (the smallest keys of the seed), and the call lists.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Serialize;

use super::{
    Allocation, Batch, Design, Drawn, batches, design_now, list_path, recorded, round_dir,
};
use crate::error::{Error, Result};
use crate::journal::{Draft, Writer};
use crate::round::RoundId;
use crate::store::Store;
use crate::workspace::Workspace;

/// What `manyi callbacks draw` did.
#[derive(Debug, Clone, Serialize)]
pub struct DrawOutcome {
    /// The batch drawn (None: nothing more was needed, nothing was written).
    pub batch: Option<String>,
    /// The call list (CSV, relative to the workspace) and its XLSX twin.
    pub list: Option<String>,
    pub xlsx: Option<String>,
    pub drawn: u64,
    /// Interviewers given calls in this batch, and those who needed some.
    pub interviewers: u64,
    pub needing: u64,
    /// Calls the design asked for that the budget did not allow.
    pub short: u64,
    pub budget: u64,
    pub used_before: u64,
    pub seed: String,
}

/// A stored questionnaire that may be drawn.
struct Candidate {
    id: String,
    interviewer: String,
    community: String,
    date: String,
    delivery: String,
}

/// The key that orders an interviewer's questionnaires for a batch.
pub fn key(seed: &str, round: &RoundId, batch: &str, respondent: &str) -> String {
    crate::fsutil::sha256_hex(format!("{seed}\n{round}\n{batch}\n{respondent}").as_bytes())
}

/// Draws the round's next callback batch with `seed` (a fresh random seed, recorded,
/// when None). `flagged`: interviewers with statistical evidence (the interviewer
/// comparison's flags), who get the design's full n* verified callbacks at once;
/// every other interviewer first gets the confirmations that would clear him. A later
/// batch gives each interviewer still open what the sequential test asks for, and
/// draws nothing when nobody needs more.
pub fn draw(
    ws: &Workspace,
    round: &RoundId,
    seed: Option<&str>,
    flagged: &BTreeSet<String>,
    actor: &str,
) -> Result<DrawOutcome> {
    let rules = ws.rules()?;
    let frame = ws.frame()?;
    let store = Store::new(ws);
    let mut w = Writer::begin(store.clone(), actor)?;
    let index = w.index.clone();
    let seed = match seed {
        Some(s) if !s.trim().is_empty() => s.trim().to_string(),
        Some(_) => return Err(Error::Invalid("回访抽样种子不能为空".into())),
        None => crate::store::fresh_salt()[..16].to_string(),
    };
    let earlier = batches(ws, round)?;
    let results = recorded(ws, round)?;
    let (design, per) = design_now(&rules, &earlier, &results);
    let batch = format!("C{}", earlier.len() + 1);
    let drawn_before: BTreeSet<&str> = earlier
        .iter()
        .flat_map(|b| b.drawn.iter().map(|d| d.respondent_id.as_str()))
        .collect();
    let recorded_ids: BTreeSet<&str> = results
        .iter()
        .flat_map(|f| f.rows.iter().map(|r| r.respondent_id.as_str()))
        .collect();
    let mut pending: BTreeMap<&str, u64> = BTreeMap::new();
    let mut drawn_any: BTreeSet<&str> = BTreeSet::new();
    for d in earlier.iter().flat_map(|b| b.drawn.iter()) {
        drawn_any.insert(d.interviewer_id.as_str());
        if !recorded_ids.contains(d.respondent_id.as_str()) {
            *pending.entry(d.interviewer_id.as_str()).or_default() += 1;
        }
    }
    // The round's questionnaires, without those a decision already excluded.
    let round_s = round.to_string();
    let excluded: Vec<_> = index
        .decisions_in_force(&round_s)
        .into_iter()
        .filter(|d| d.action == "exclude")
        .collect();
    let excluded_iv: BTreeSet<&str> = excluded
        .iter()
        .filter(|d| d.subject == "interviewer")
        .map(|d| d.id.as_str())
        .collect();
    let excluded_q: BTreeSet<&str> = excluded
        .iter()
        .filter(|d| d.subject == "respondent")
        .map(|d| d.id.as_str())
        .collect();
    let deliveries = store.deliveries(&index, round);
    if deliveries.is_empty() {
        return Err(Error::Invalid(format!(
            "{round} 轮尚无有效交付，无法抽取回访"
        )));
    }
    let mut total: u64 = 0;
    let mut by_iv: BTreeMap<String, Vec<Candidate>> = BTreeMap::new();
    for d in &deliveries {
        let path = store.path(&d.data);
        let df = crate::store::read_parquet(
            &path,
            Some(&[
                "respondent_id",
                "interviewer_id",
                "community_code",
                "interview_date",
            ]),
        )?;
        let pe = |e| Error::Polars {
            path: path.clone(),
            source: e,
        };
        let col = |n: &str| df.column(n).and_then(|c| c.str()).map_err(pe);
        let (ids, ivs, cs, ds) = (
            col("respondent_id")?,
            col("interviewer_id")?,
            col("community_code")?,
            col("interview_date")?,
        );
        for i in 0..df.height() {
            total += 1;
            let (Some(id), Some(iv)) = (ids.get(i), ivs.get(i)) else {
                continue;
            };
            if iv.is_empty()
                || excluded_iv.contains(iv)
                || excluded_q.contains(id)
                || drawn_before.contains(id)
            {
                continue;
            }
            by_iv.entry(iv.to_string()).or_default().push(Candidate {
                id: id.to_string(),
                interviewer: iv.to_string(),
                community: cs.get(i).unwrap_or("").to_string(),
                date: ds.get(i).unwrap_or("").to_string(),
                delivery: d.sha256.clone(),
            });
        }
    }
    let budget = (rules.callbacks.budget_share * total as f64).floor() as u64;
    let used_before: u64 = earlier.iter().map(|b| b.drawn.len() as u64).sum();
    let remaining = budget.saturating_sub(used_before);
    let needs: Vec<Need> = by_iv
        .iter()
        .map(|(iv, cands)| {
            let (verified, failed) = per.get(iv).copied().unwrap_or((0, 0));
            Need {
                interviewer_id: iv.clone(),
                available: cands.len() as u64,
                flagged: flagged.contains(iv),
                drawn_before: drawn_any.contains(iv.as_str()),
                verified,
                failed,
                pending: pending.get(iv.as_str()).copied().unwrap_or(0),
            }
        })
        .collect();
    let (alloc, needing, short) = allocate(&design, &needs, remaining);
    let drawn_n: u64 = alloc.iter().map(|a| a.drawn).sum();
    let mut out = DrawOutcome {
        batch: None,
        list: None,
        xlsx: None,
        drawn: 0,
        interviewers: 0,
        needing,
        short,
        budget,
        used_before,
        seed: seed.clone(),
    };
    if drawn_n == 0 {
        return Ok(out);
    }
    // Which questionnaires: each interviewer's smallest keys.
    let mut drawn: Vec<Drawn> = Vec::new();
    for a in alloc.iter().filter(|a| a.drawn > 0) {
        let mut keyed: Vec<(String, &Candidate)> = by_iv[&a.interviewer_id]
            .iter()
            .map(|c| (key(&seed, round, &batch, &c.id), c))
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        for (k, c) in keyed.into_iter().take(a.drawn as usize) {
            drawn.push(Drawn {
                respondent_id: c.id.clone(),
                interviewer_id: c.interviewer.clone(),
                community_code: c.community.clone(),
                interview_date: c.date.clone(),
                delivery: c.delivery.clone(),
                key: k,
            });
        }
    }
    drawn.sort_by(|a, b| {
        (&a.community_code, &a.interviewer_id, &a.respondent_id).cmp(&(
            &b.community_code,
            &b.interviewer_id,
            &b.respondent_id,
        ))
    });
    let reask = reask_items(&rules, &seed, round, &batch);
    let manifest = Batch {
        version: 1,
        round: round_s.clone(),
        batch: batch.clone(),
        seed: seed.clone(),
        drawn_at: crate::store::now_utc(),
        actor: w.actor.clone(),
        design,
        round_questionnaires: total,
        budget,
        used_before,
        deliveries: deliveries.iter().map(|d| d.sha256.clone()).collect(),
        reask,
        allocation: alloc,
        drawn,
    };
    // Phone numbers and names from the kept originals, delivery by delivery.
    let mut personal: BTreeMap<String, crate::ingest::personal::Personal> = BTreeMap::new();
    for d in &deliveries {
        let wanted: BTreeSet<String> = manifest
            .drawn
            .iter()
            .filter(|x| x.delivery == d.sha256)
            .map(|x| x.respondent_id.clone())
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let orig = store.path(&d.original);
        if !orig.is_file() {
            continue; // purged: the list says the number is not kept
        }
        personal.extend(crate::ingest::personal::read_personal(
            &orig,
            &d.file_name,
            &rules,
            &wanted,
        )?);
    }
    let dir = round_dir(ws, round).join("batches");
    crate::fsutil::create_dirs(&dir)?;
    let manifest_path = dir.join(format!("{batch}.json"));
    let bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Internal(e.to_string()))?;
    let csv_path = list_path(ws, round, &batch, "csv");
    let xlsx_path = list_path(ws, round, &batch, "xlsx");
    crate::fsutil::create_dirs(&super::lists_dir(ws, round))?;
    let rows = list_rows(&manifest, &frame, &personal);
    crate::fsutil::write_private_atomic(&csv_path, &list_csv(&manifest, &rules, &rows)?)?;
    crate::fsutil::write_private_atomic(&xlsx_path, &list_xlsx(&manifest, &rules, &rows)?)?;
    crate::fsutil::write_new_atomic(&manifest_path, &bytes)?;
    let mut draft = Draft::new("callbacks-draw")
        .round(&round_s)
        .id(format!("callbacks:{batch}"))
        .detail("seed", seed.clone())
        .detail("drawn", manifest.drawn.len() as u64)
        .detail(
            "interviewers",
            manifest.allocation.iter().filter(|a| a.drawn > 0).count() as u64,
        )
        .detail("budget", budget)
        .detail("used_before", used_before)
        .detail("short", short);
    draft.read = crate::journal::scores_read(ws, &[*round])?;
    for p in [&manifest_path, &csv_path, &xlsx_path] {
        draft.written.push(w.file_hash(p)?);
    }
    w.commit(draft)?;
    let rel = |p: &PathBuf| p.strip_prefix(&ws.root).unwrap_or(p).display().to_string();
    out.batch = Some(batch);
    out.list = Some(rel(&csv_path));
    out.xlsx = Some(rel(&xlsx_path));
    out.drawn = manifest.drawn.len() as u64;
    out.interviewers = manifest.allocation.iter().filter(|a| a.drawn > 0).count() as u64;
    Ok(out)
}

/// What the draw knows of an interviewer.
#[derive(Debug, Clone)]
pub struct Need {
    pub interviewer_id: String,
    /// His questionnaires that may still be drawn.
    pub available: u64,
    /// The comparison flags him (statistical evidence).
    pub flagged: bool,
    /// An earlier batch drew some of his questionnaires.
    pub drawn_before: bool,
    /// Verified callbacks and failures so far.
    pub verified: u64,
    pub failed: u64,
    /// Drawn earlier, no result recorded yet.
    pub pending: u64,
}

/// How many calls each interviewer gets in the next batch, within `remaining` calls
/// of the budget: (allocation per interviewer, interviewers needing calls, calls the
/// design asked for beyond the budget). The first batch gives an interviewer the
/// confirmations that would clear him (n* when the comparison flags him); a later one
/// what the sequential test still asks for (`Design::more_verified`), less the calls
/// still pending, at the reach rate.
pub fn allocate(design: &Design, needs: &[Need], remaining: u64) -> (Vec<Allocation>, u64, u64) {
    let mut remaining = remaining;
    let mut alloc: Vec<Allocation> = needs
        .iter()
        .map(|n| {
            let verified_wanted = if !n.drawn_before {
                if n.flagged {
                    design.verified_needed
                } else {
                    design.confirmations_to_clear
                }
            } else {
                design.more_verified(n.verified, n.failed)
            };
            let calls_wanted = if verified_wanted == 0 {
                0
            } else {
                design
                    .calls_for(verified_wanted)
                    .saturating_sub(n.pending)
                    .min(n.available)
            };
            Allocation {
                interviewer_id: n.interviewer_id.clone(),
                flagged: n.flagged,
                verified_before: n.verified,
                failed_before: n.failed,
                pending: n.pending,
                verified_wanted,
                calls_wanted,
                drawn: 0,
            }
        })
        .collect();
    // Within the budget: one call each first (every interviewer gets some), then the
    // interviewers the comparison flags their full share, then those with a failure
    // seen, then the rest in proportion to their questionnaires.
    let mut order: Vec<usize> = (0..alloc.len())
        .filter(|&k| alloc[k].calls_wanted > 0)
        .collect();
    order.sort_by_key(|&k| {
        let a = &alloc[k];
        (!a.flagged, a.failed_before == 0, a.interviewer_id.clone())
    });
    let needing = order.len() as u64;
    let wanted: u64 = order.iter().map(|&k| alloc[k].calls_wanted).sum();
    for &k in &order {
        if remaining == 0 {
            break;
        }
        alloc[k].drawn = 1;
        remaining -= 1;
    }
    let doubted: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&k| alloc[k].flagged || alloc[k].failed_before > 0)
        .collect();
    for k in doubted {
        let more = (alloc[k].calls_wanted - alloc[k].drawn).min(remaining);
        alloc[k].drawn += more;
        remaining -= more;
    }
    // The rest in proportion to the questionnaires each still has (a fabricator's
    // weight on the results grows with his questionnaires), largest remainders first,
    // never past what the design asks; again while some is left.
    let avail: Vec<u64> = needs.iter().map(|n| n.available).collect();
    while remaining > 0 {
        let open: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&k| alloc[k].drawn < alloc[k].calls_wanted)
            .collect();
        if open.is_empty() {
            break;
        }
        let weight: u64 = open.iter().map(|&k| avail[k].max(1)).sum();
        let mut shares: Vec<(u64, u64, usize)> = open
            .iter()
            .map(|&k| {
                let exact = remaining as u128 * avail[k].max(1) as u128;
                let (q, r) = (exact / weight as u128, exact % weight as u128);
                (q as u64, r as u64, k)
            })
            .collect();
        let mut gave = 0u64;
        for (q, _, k) in &shares {
            let more = (*q).min(alloc[*k].calls_wanted - alloc[*k].drawn);
            alloc[*k].drawn += more;
            gave += more;
        }
        remaining -= gave;
        // Largest remainders (then the order above) get one more each.
        shares.sort_by(|a, b| b.1.cmp(&a.1));
        for (_, _, k) in &shares {
            if remaining == 0 {
                break;
            }
            if alloc[*k].drawn < alloc[*k].calls_wanted {
                alloc[*k].drawn += 1;
                remaining -= 1;
                gave += 1;
            }
        }
        if gave == 0 {
            break;
        }
    }
    let drawn: u64 = alloc.iter().map(|a| a.drawn).sum();
    (alloc, needing, wanted - drawn)
}

/// The items to re-ask in a batch: `reask_items` of the questionnaire, the smallest
/// keys of the seed, in questionnaire order.
fn reask_items(
    rules: &crate::rules::Rules,
    seed: &str,
    round: &RoundId,
    batch: &str,
) -> Vec<String> {
    let mut keyed: Vec<(String, usize)> = rules
        .questions
        .iter()
        .enumerate()
        .map(|(k, q)| (key(seed, round, batch, &format!("item {}", q.id)), k))
        .collect();
    keyed.sort();
    let mut pick: Vec<usize> = keyed
        .into_iter()
        .take(rules.callbacks.reask_items)
        .map(|x| x.1)
        .collect();
    pick.sort();
    pick.into_iter()
        .map(|k| rules.questions[k].id.clone())
        .collect()
}

/// The call list's columns (CSV), then the re-asked items.
pub const LIST_COLUMNS: [&str; 12] = [
    "respondent_id",
    "interviewer_id",
    "community_code",
    "community_name",
    "street_name",
    "interview_date",
    "phone",
    "respondent_name",
    "outcome",
    "caller",
    "called_at",
    "note",
];

/// The same columns as people read them (the XLSX).
pub const LIST_COLUMNS_ZH: [&str; 12] = [
    "受访者编号",
    "访问员",
    "社区代码",
    "社区名称",
    "街道",
    "访问日期",
    "电话",
    "受访者姓名",
    "回访结果",
    "回访员",
    "回访时间",
    "备注",
];

fn list_rows(
    m: &Batch,
    frame: &crate::frame::Frame,
    personal: &BTreeMap<String, crate::ingest::personal::Personal>,
) -> Vec<Vec<String>> {
    m.drawn
        .iter()
        .map(|d| {
            let c = frame.community(&d.community_code);
            let p = personal.get(&d.respondent_id);
            // ok: blank cells say what is not known — a community the frame no longer
            // has, or a phone or name the delivery did not give or a purge removed; the
            // callers see the blank, and the record step needs only the respondent id.
            let mut row = vec![
                d.respondent_id.clone(),
                d.interviewer_id.clone(),
                d.community_code.clone(),
                c.map(|c| c.name.clone()).unwrap_or_default(),
                c.map(|c| c.street_name.clone()).unwrap_or_default(),
                d.interview_date.clone(),
                p.and_then(|p| p.phone.clone()).unwrap_or_default(),
                p.and_then(|p| p.name.clone()).unwrap_or_default(),
            ];
            row.extend(std::iter::repeat_n(String::new(), 4 + m.reask.len()));
            row
        })
        .collect()
}

fn list_csv(m: &Batch, _rules: &crate::rules::Rules, rows: &[Vec<String>]) -> Result<Vec<u8>> {
    let header: Vec<String> = LIST_COLUMNS
        .iter()
        .map(|s| s.to_string())
        .chain(m.reask.iter().cloned())
        .collect();
    crate::fsutil::csv_bytes(header, rows.iter().cloned(), true)
}

fn list_xlsx(m: &Batch, rules: &crate::rules::Rules, rows: &[Vec<String>]) -> Result<Vec<u8>> {
    use rust_xlsxwriter::{Format, Workbook};
    let err = |e: rust_xlsxwriter::XlsxError| Error::Invalid(format!("writing the workbook: {e}"));
    let mut wb = Workbook::new();
    let created = rust_xlsxwriter::ExcelDateTime::from_ymd(2000, 1, 1).map_err(err)?;
    wb.set_properties(&rust_xlsxwriter::DocProperties::new().set_creation_datetime(&created));
    let bold = Format::new().set_bold();
    let text = Format::new().set_num_format("@");
    let ws = wb.add_worksheet();
    ws.set_name("回访名单").map_err(err)?;
    let item_text = |id: &str| {
        rules
            .questions
            .iter()
            .find(|q| q.id == id)
            .map(|q| format!("{id} {}", q.text))
            .unwrap_or_else(|| id.to_string())
    };
    let header: Vec<String> = LIST_COLUMNS_ZH
        .iter()
        .map(|s| s.to_string())
        .chain(m.reask.iter().map(|i| item_text(i)))
        .collect();
    for (c, h) in header.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, h, &bold)
            .map_err(err)?;
        ws.set_column_width(c as u16, if c < 8 { 14 } else { 18 })
            .map_err(err)?;
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            // Codes, ids and phone numbers as text: Excel keeps every digit.
            ws.write_string_with_format(r as u32 + 1, c as u16, v, &text)
                .map_err(err)?;
        }
    }
    let help = wb.add_worksheet();
    help.set_name("说明").map_err(err)?;
    let answers: Vec<String> = rules
        .scale
        .answers
        .iter()
        .map(|a| a.label.clone())
        .chain(rules.scale.not_answered.first().cloned())
        .collect();
    let lines = [
        format!(
            "回访批次 {}（{} 轮），共 {} 份问卷。",
            m.batch,
            m.round,
            m.drawn.len()
        ),
        "每一行拨打受访者电话，询问是否接受过本次满意度调查访问，并复问表中题目。".to_string(),
        format!(
            "“回访结果”填写其一：{}。",
            super::Outcome::ALL.map(|o| o.text_zh()).join("、")
        ),
        format!("复问题目填写受访者的回答：{}。", answers.join("、")),
        "“回访员”“回访时间”“备注”可选。未拨打的行请留空“回访结果”。".to_string(),
        "填好后由区考评办导入：manyi callbacks record（或门户的回访页）。".to_string(),
        "本表含受访者电话，属个人信息：仅限回访使用，不得外传，回访结束后删除。".to_string(),
    ];
    help.set_column_width(0, 90).map_err(err)?;
    for (r, l) in lines.iter().enumerate() {
        help.write_string(r as u32, 0, l).map_err(err)?;
    }
    wb.save_to_buffer().map_err(err)
}
