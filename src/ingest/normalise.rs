//! Normalising a delivery's text: header names to canonical columns, answer labels and
//! codes to scale positions, community codes or names to frame communities, dates.

use crate::messages::DateProblem;
use std::borrow::Cow;
use std::collections::HashMap;

use unicode_normalization::UnicodeNormalization;

use crate::error::{Error, Result};
use crate::frame::{Community, Frame};
use crate::rules::Rules;

/// NFKC-normalised and trimmed (full-width digits and letters, padding).
pub fn clean(s: &str) -> Cow<'_, str> {
    let t = s.trim();
    // ASCII and CJK unified ideographs are unchanged by NFKC: the common case, checked
    // without the normalisation tables.
    if t.chars()
        .all(|c| c.is_ascii() || ('\u{4E00}'..='\u{9FFF}').contains(&c))
    {
        return Cow::Borrowed(t);
    }
    if t.is_ascii()
        || unicode_normalization::is_nfkc_quick(t.chars())
            == unicode_normalization::IsNormalized::Yes
    {
        Cow::Borrowed(t)
    } else {
        let n: String = t.nfkc().collect();
        Cow::Owned(n.trim().to_string())
    }
}

/// A column of a delivery, by meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Col {
    RespondentId,
    Street,
    CommunityCode,
    CommunityName,
    Round,
    Date,
    Interviewer,
    Mode,
    Duration,
    Phone,
    Name,
    Item(usize),
}

impl Col {
    const NAMED: [(Col, &'static str); 11] = [
        (Col::RespondentId, "respondent_id"),
        (Col::Street, "street"),
        (Col::CommunityCode, "community_code"),
        (Col::CommunityName, "community_name"),
        (Col::Round, "round"),
        (Col::Date, "interview_date"),
        (Col::Interviewer, "interviewer_id"),
        (Col::Mode, "mode"),
        (Col::Duration, "duration_s"),
        (Col::Phone, "phone"),
        (Col::Name, "name"),
    ];

    /// 0.. for the named columns (their order in `NAMED`), then one per item.
    fn ordinal(&self) -> usize {
        match self {
            Col::RespondentId => 0,
            Col::Street => 1,
            Col::CommunityCode => 2,
            Col::CommunityName => 3,
            Col::Round => 4,
            Col::Date => 5,
            Col::Interviewer => 6,
            Col::Mode => 7,
            Col::Duration => 8,
            Col::Phone => 9,
            Col::Name => 10,
            Col::Item(i) => Col::NAMED.len() + i,
        }
    }

    pub fn canonical(&self, rules: &Rules) -> String {
        match self {
            Col::Item(i) => rules.questions[*i].id.clone(),
            c => Col::NAMED
                .iter()
                .find(|(k, _)| k == c)
                .map(|(_, n)| n.to_string())
                .unwrap_or_default(),
        }
    }
}

fn header_key(s: &str) -> String {
    clean(s).to_lowercase()
}

/// Which input column holds what.
#[derive(Debug, Clone)]
pub struct HeaderMap {
    /// Per input column: its meaning, or None (ignored).
    pub cols: Vec<Option<Col>>,
    /// Header text of each input column as delivered.
    pub names: Vec<String>,
    /// Headers not used (kept in the receipt so the evaluator sees them).
    pub ignored: Vec<String>,
    /// Number of columns a data row should have (trailing empty header cells dropped).
    pub width: usize,
    /// Input column of each `Col` by `Col::ordinal`.
    positions: Vec<Option<usize>>,
    /// Input column of each item (all present: `new` refuses a header without one).
    items: Vec<usize>,
}

impl HeaderMap {
    /// The input column holding `col` (looked up in a table made once per delivery:
    /// the row checks ask this a few dozen times per row).
    pub fn position(&self, col: Col) -> Option<usize> {
        self.positions.get(col.ordinal()).copied().flatten()
    }

    /// The input column of each item, in question order.
    pub fn items(&self) -> &[usize] {
        &self.items
    }

    /// Maps a header row; refuses a delivery that lacks a required column.
    pub fn new(headers: &[String], rules: &Rules, file: &str) -> Result<HeaderMap> {
        let mut lookup: HashMap<String, Col> = HashMap::new();
        for (col, name) in Col::NAMED {
            lookup.insert(header_key(name), col);
            if let Some(aliases) = rules.ingest.columns.get(name) {
                for a in aliases {
                    lookup.insert(header_key(a), col);
                }
            }
        }
        for (i, q) in rules.questions.iter().enumerate() {
            lookup.insert(header_key(&q.id), Col::Item(i));
            lookup.insert(header_key(&q.text), Col::Item(i));
        }
        let mut width = headers.len();
        while width > 0 && headers[width - 1].trim().is_empty() {
            width -= 1;
        }
        let mut cols = Vec::with_capacity(width);
        let mut ignored = Vec::new();
        let mut first: HashMap<Col, usize> = HashMap::new();
        for (i, h) in headers[..width].iter().enumerate() {
            let key = header_key(h);
            match lookup.get(&key) {
                Some(col) => {
                    if let Some(prev) = first.insert(*col, i) {
                        return Err(Error::file(
                            file,
                            format!(
                                "columns {} ({:?}) and {} ({:?}) both mean `{}`",
                                prev + 1,
                                headers[prev],
                                i + 1,
                                h,
                                col.canonical(rules)
                            ),
                        ));
                    }
                    cols.push(Some(*col));
                }
                None => {
                    if !key.is_empty() {
                        ignored.push(h.clone());
                    }
                    cols.push(None);
                }
            }
        }
        let zh = crate::messages::lang() == crate::messages::Lang::Zh;
        let found = || headers[..width].join(if zh { "、" } else { ", " });
        let mut missing = Vec::new();
        if !first.contains_key(&Col::RespondentId) {
            missing.push(if zh {
                "问卷编号（respondent_id）".to_string()
            } else {
                "respondent_id (问卷编号)".to_string()
            });
        }
        if !first.contains_key(&Col::CommunityCode) && !first.contains_key(&Col::CommunityName) {
            missing.push(if zh {
                "社区代码（community_code）或社区名称（community_name）".to_string()
            } else {
                "community_code (社区代码) or community_name (社区名称)".to_string()
            });
        }
        for (i, q) in rules.questions.iter().enumerate() {
            if !first.contains_key(&Col::Item(i)) {
                missing.push(q.id.clone());
            }
        }
        if !missing.is_empty() {
            return Err(Error::file(
                file,
                if zh {
                    format!(
                        "缺少必需的列：{}。表头行为：{}。请按格式说明补齐列名（题目列用 q1、q2… 或题号），再重新上传",
                        missing.join("、"),
                        found()
                    )
                } else {
                    format!(
                        "missing required column(s): {}; the header row has: {}",
                        missing.join(", "),
                        found()
                    )
                },
            ));
        }
        let mut positions = vec![None; Col::NAMED.len() + rules.questions.len()];
        for (i, c) in cols.iter().enumerate() {
            if let Some(c) = c
                && positions[c.ordinal()].is_none()
            {
                positions[c.ordinal()] = Some(i);
            }
        }
        let items = (0..rules.questions.len())
            .filter_map(|k| positions[Col::Item(k).ordinal()])
            .collect();
        Ok(HeaderMap {
            cols,
            names: headers[..width].to_vec(),
            ignored,
            width,
            positions,
            items,
        })
    }
}

/// Answer text → position in `rules.scale.answers`, or None for "not answered".
pub struct Codebook {
    map: rustc_hash::FxHashMap<String, Option<u8>>,
}

impl Codebook {
    pub fn new(rules: &Rules) -> Codebook {
        let mut map = rustc_hash::FxHashMap::default();
        map.insert(String::new(), None);
        for v in &rules.scale.not_answered {
            map.insert(clean(v).into_owned(), None);
        }
        for (i, a) in rules.scale.answers.iter().enumerate() {
            for v in std::iter::once(&a.label)
                .chain(std::iter::once(&a.code))
                .chain(a.aliases.iter())
            {
                map.insert(clean(v).into_owned(), Some(i as u8));
            }
        }
        Codebook { map }
    }

    /// `Ok(None)`: not answered; `Err(())`: not a label, alias or code.
    pub fn lookup(&self, cell: &str) -> std::result::Result<Option<u8>, ()> {
        if let Some(v) = self.map.get(cell) {
            return Ok(*v);
        }
        let c = clean(cell);
        match self.map.get(c.as_ref()) {
            Some(v) => Ok(*v),
            None => {
                // Excel may show a numeric code as 1.0.
                if let Some(int) = c.strip_suffix(".0")
                    && let Some(v) = self.map.get(int)
                {
                    return Ok(*v);
                }
                Err(())
            }
        }
    }
}

/// Finds frame communities by code or by name.
pub struct Communities<'a> {
    /// The frame's communities; a community's index is its position here.
    list: Vec<&'a Community>,
    by_code: rustc_hash::FxHashMap<&'a str, u32>,
    by_name: HashMap<String, Vec<&'a Community>>,
    suffixes: Vec<String>,
}

pub enum Found<'a> {
    /// The community and its index.
    One(u32, &'a Community),
    Ambiguous(Vec<&'a Community>),
    None,
}

impl<'a> Communities<'a> {
    pub fn new(frame: &'a Frame, rules: &Rules) -> Communities<'a> {
        let mut suffixes: Vec<String> = rules
            .ingest
            .community_suffixes
            .iter()
            .map(|s| clean(s).into_owned())
            .collect();
        suffixes.sort_by_key(|s| std::cmp::Reverse(s.chars().count()));
        let mut c = Communities {
            list: Vec::new(),
            by_code: Default::default(),
            by_name: HashMap::new(),
            suffixes,
        };
        for com in frame.communities() {
            c.by_code.insert(com.code.as_str(), c.list.len() as u32);
            c.list.push(com);
            let full = clean(&com.name).into_owned();
            let core = c.core(&full);
            c.by_name.entry(full.clone()).or_default().push(com);
            if core != full {
                c.by_name.entry(core).or_default().push(com);
            }
        }
        c
    }

    /// A name without its suffix (白塔社区居委会 → 白塔).
    pub fn core(&self, name: &str) -> String {
        for s in &self.suffixes {
            if let Some(core) = name.strip_suffix(s.as_str())
                && !core.is_empty()
            {
                return core.to_string();
            }
        }
        name.to_string()
    }

    /// The community with this code, and its index.
    pub fn by_code(&self, code: &str) -> Option<(u32, &'a Community)> {
        self.by_code.get(code).map(|&i| (i, self.list[i as usize]))
    }

    /// Communities in the frame.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The community at `index` (from `by_code` or `by_name`).
    pub fn get(&self, index: u32) -> &'a Community {
        self.list[index as usize]
    }

    /// By name, with or without suffix; `street` (a street name) narrows ambiguous ones.
    pub fn by_name(&self, name: &str, street: Option<&str>) -> Found<'a> {
        let name = clean(name);
        let mut cands: Vec<&Community> = match self.by_name.get(name.as_ref()) {
            Some(v) => v.clone(),
            None => self
                .by_name
                .get(&self.core(&name))
                .cloned()
                .unwrap_or_default(),
        };
        cands.sort_by(|a, b| a.code.cmp(&b.code));
        cands.dedup_by(|a, b| a.code == b.code);
        if cands.len() > 1 {
            // 团结社区 means 团结社区居委会, not 团结村委会: prefer names it begins.
            let prefixed: Vec<_> = cands
                .iter()
                .copied()
                .filter(|c| clean(&c.name).starts_with(name.as_ref()))
                .collect();
            if !prefixed.is_empty() {
                cands = prefixed;
            }
        }
        if cands.len() > 1
            && let Some(st) = street.filter(|s| !s.is_empty())
        {
            let narrowed: Vec<_> = cands
                .iter()
                .copied()
                .filter(|c| c.street_name == st || c.street_name.starts_with(st))
                .collect();
            if !narrowed.is_empty() {
                cands = narrowed;
            }
        }
        match cands.len() {
            0 => Found::None,
            1 => match self.by_code(&cands[0].code) {
                Some((i, c)) => Found::One(i, c),
                None => Found::None,
            },
            _ => Found::Ambiguous(cands),
        }
    }
}

/// Days in month `m` (1..=12) of year `y` (Gregorian leap years).
fn days_in_month(y: i32, m: u32) -> u32 {
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ][(m - 1) as usize]
}

/// Parses 2018-04-12, 2018/4/12, 2018.4.12, 2018年4月12日 (a time after the date is
/// ignored). `Err` says why the date is impossible.
pub fn parse_date(s: &str) -> std::result::Result<(i32, u32, u32), DateProblem> {
    // The common form, 2018-04-12, without any allocation.
    let b = s.as_bytes();
    if b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
    {
        let num =
            |r: std::ops::Range<usize>| b[r].iter().fold(0u32, |n, c| n * 10 + (c - b'0') as u32);
        let (y, m, d) = (num(0..4) as i32, num(5..7), num(8..10));
        if (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m) {
            return Ok((y, m, d));
        }
    }
    let s = clean(s);
    let date_part = s.split([' ', 'T']).next().unwrap_or("");
    let norm: String = date_part
        .chars()
        .map(|c| match c {
            '年' | '月' | '/' | '.' => '-',
            '日' => ' ',
            c => c,
        })
        .collect();
    let parts: Vec<&str> = norm.trim().split('-').collect();
    if parts.len() != 3 {
        return Err(DateProblem::NotADate);
    }
    let (y, m, d) = match (
        parts[0].parse::<i32>(),
        parts[1].parse::<u32>(),
        parts[2].parse::<u32>(),
    ) {
        (Ok(y), Ok(m), Ok(d)) => (y, m, d),
        _ => {
            return Err(DateProblem::NotADate);
        }
    };
    if !(1..=12).contains(&m) {
        return Err(DateProblem::ImpossibleMonth(m));
    }
    if d == 0 || d > days_in_month(y, m) {
        return Err(DateProblem::ImpossibleDay(d, m));
    }
    Ok((y, m, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_date_forms_evaluators_use() {
        assert_eq!(parse_date("2018-04-12"), Ok((2018, 4, 12)));
        assert_eq!(parse_date("2018/4/2"), Ok((2018, 4, 2)));
        assert_eq!(parse_date("2018年4月12日"), Ok((2018, 4, 12)));
        assert_eq!(parse_date("２０１８－０４－１２"), Ok((2018, 4, 12)));
        assert_eq!(parse_date("2018-04-12 10:30:00"), Ok((2018, 4, 12)));
        assert_eq!(
            parse_date("2017-13-45"),
            Err(DateProblem::ImpossibleMonth(13))
        );
        assert_eq!(
            parse_date("2018-02-29"),
            Err(DateProblem::ImpossibleDay(29, 2))
        );
        assert_eq!(parse_date("2016-02-29"), Ok((2016, 2, 29)));
        assert!(parse_date("yesterday").is_err());
    }

    #[test]
    fn clean_applies_nfkc_and_trims() {
        assert_eq!(clean("  Ｑ１ "), "Q1");
        assert_eq!(clean("１２３"), "123");
        assert_eq!(clean("满意"), "满意");
    }
}
