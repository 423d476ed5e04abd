//! The sampling frame (抽样框): every street (街道) and its communities and villages
//! (社区/村), with household counts for finite-population corrections.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};

/// One community or village (社区/村) of the frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Community {
    pub street_code: String,
    pub street_name: String,
    pub code: String,
    pub name: String,
    pub kind: String,
    /// Households M_i; `None` means no finite-population correction.
    pub households: Option<u64>,
}

/// A street (街道) with its communities sorted by code.
#[derive(Debug, Clone)]
pub struct Street {
    pub code: String,
    pub name: String,
    pub communities: Vec<Community>,
}

#[derive(Debug, Clone)]
pub struct Frame {
    /// Streets by code (sorted, so every output made from it is in a stable order).
    pub streets: BTreeMap<String, Street>,
    /// community code → (street code, position in the street's list).
    index: std::collections::HashMap<String, (String, usize)>,
}

const REQUIRED: [&str; 4] = [
    "street_code",
    "street_name",
    "community_code",
    "community_name",
];

impl Frame {
    pub fn load(path: &Path) -> Result<Frame> {
        let bytes = crate::fsutil::read(path)?;
        Frame::parse(&bytes, &path.display().to_string())
    }

    /// Parses frame CSV bytes (UTF-8, optional BOM); `file` names it in errors.
    pub fn parse(bytes: &[u8], file: &str) -> Result<Frame> {
        let csv = crate::fsutil::CsvRecords::parse(bytes, file)?;
        let mut idx = [0usize; 4];
        for (i, name) in REQUIRED.iter().enumerate() {
            idx[i] = csv.require(name, "required column")?;
        }
        let kind_col = csv.column("kind");
        let hh_col = csv.column("households");

        let mut streets: BTreeMap<String, Street> = BTreeMap::new();
        let mut seen: BTreeMap<String, u64> = BTreeMap::new();
        for (line, rec) in &csv.rows {
            let line = *line;
            if rec.iter().all(|f| f.trim().is_empty()) {
                continue;
            }
            if rec.len() != csv.headers.len() {
                return Err(Error::input(
                    file,
                    line,
                    None,
                    format!(
                        "has {} fields, the header has {}",
                        rec.len(),
                        csv.headers.len()
                    ),
                ));
            }
            let get = |i: usize| rec.get(i).unwrap_or("").trim().to_string();
            let [sc, sn, cc, cn] = idx.map(get);
            for (name, v) in REQUIRED.iter().zip([&sc, &sn, &cc, &cn]) {
                if v.is_empty() {
                    let what = if name.starts_with("street") {
                        "a community without a street"
                    } else {
                        "empty value"
                    };
                    return Err(Error::input(
                        file,
                        line,
                        Some(name),
                        format!("{what}: `{name}` is empty"),
                    ));
                }
            }
            if let Some(first) = seen.insert(cc.clone(), line) {
                return Err(Error::input(
                    file,
                    line,
                    Some("community_code"),
                    format!("duplicate community code {cc} (first on line {first})"),
                ));
            }
            let households = match hh_col.map(get) {
                None => None,
                Some(v) if v.is_empty() => None,
                Some(v) => match v.parse::<u64>() {
                    Ok(n) if n > 0 => Some(n),
                    _ => {
                        return Err(Error::input(
                            file,
                            line,
                            Some("households"),
                            format!("households must be a whole number > 0 or empty, got {v:?}"),
                        ));
                    }
                },
            };
            let street = streets.entry(sc.clone()).or_insert_with(|| Street {
                code: sc.clone(),
                name: sn.clone(),
                communities: Vec::new(),
            });
            if street.name != sn {
                return Err(Error::input(
                    file,
                    line,
                    Some("street_name"),
                    format!(
                        "street {sc} is named {:?} here but {:?} earlier",
                        sn, street.name
                    ),
                ));
            }
            street.communities.push(Community {
                street_code: sc,
                street_name: sn,
                code: cc,
                name: cn,
                kind: kind_col.map(get).unwrap_or_default(),
                households,
            });
        }
        if streets.is_empty() {
            return Err(Error::file(file, "the frame has no communities"));
        }
        let mut index = std::collections::HashMap::new();
        for s in streets.values_mut() {
            s.communities.sort_by(|a, b| a.code.cmp(&b.code));
            for (i, c) in s.communities.iter().enumerate() {
                index.insert(c.code.clone(), (s.code.clone(), i));
            }
        }
        Ok(Frame { streets, index })
    }

    pub fn communities(&self) -> impl Iterator<Item = &Community> {
        self.streets.values().flat_map(|s| s.communities.iter())
    }

    pub fn community(&self, code: &str) -> Option<&Community> {
        let (street, i) = self.index.get(code)?;
        self.streets.get(street)?.communities.get(*i)
    }

    pub fn len(&self) -> usize {
        self.streets.values().map(|s| s.communities.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
