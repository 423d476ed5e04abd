//! Respondents' phone numbers and names, read back from a kept original for the
//! office's call lists (callbacks): the store keeps them only hashed, and the original
//! in clear until the round's personal data is purged.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::error::{Error, Result};
use crate::rules::Rules;

use super::normalise::{Col, HeaderMap, clean};
use super::read;

/// What an original holds on one respondent, in clear.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Personal {
    pub phone: Option<String>,
    pub name: Option<String>,
}

/// The phone and name of each respondent of `wanted` in the delivered file at `path`
/// (`file`: the name it is known by), found by the same header mapping as ingest.
/// A respondent the file does not hold is absent from the answer.
pub fn read_personal(
    path: &Path,
    file: &str,
    rules: &Rules,
    wanted: &BTreeSet<String>,
) -> Result<BTreeMap<String, Personal>> {
    let mut det = read::detect(path, file)?;
    match scan(path, file, &det, rules, wanted) {
        Err(e) if read::is_not_utf8(&e) && det.encoding == read::Encoding::Utf8 => {
            det.encoding = read::Encoding::Gb18030;
            scan(path, file, &det, rules, wanted)
        }
        res => res,
    }
}

fn scan(
    path: &Path,
    file: &str,
    det: &read::Detected,
    rules: &Rules,
    wanted: &BTreeSet<String>,
) -> Result<BTreeMap<String, Personal>> {
    let progress = std::sync::atomic::AtomicU64::new(0);
    let mut header: Option<HeaderMap> = None;
    let mut out = BTreeMap::new();
    let mut failure: Option<Error> = None;
    read::read_batches(
        path,
        file,
        det,
        None,
        read::BATCH_RECORDS,
        &progress,
        &mut |m| match m {
            read::Msg::Header { cells, .. } => match HeaderMap::new(&cells, rules, file) {
                Ok(h) => {
                    header = Some(h);
                    true
                }
                Err(e) => {
                    failure = Some(e);
                    false
                }
            },
            read::Msg::Batch(mut b) => {
                let Some(h) = &header else { return false };
                if let Err((_, e)) = b.decode(file) {
                    failure = Some(e);
                    return false;
                }
                let (Some(idc), phone, name) = (
                    h.position(Col::RespondentId),
                    h.position(Col::Phone),
                    h.position(Col::Name),
                ) else {
                    return false;
                };
                let mut fields: Vec<&str> = Vec::new();
                for r in 0..b.len() {
                    b.fields_into(r, &mut fields);
                    let Some(id) = fields.get(idc).map(|c| clean(c)) else {
                        continue;
                    };
                    if !wanted.contains(id.as_ref()) || out.contains_key(id.as_ref()) {
                        continue;
                    }
                    let cell = |c: Option<usize>| {
                        c.and_then(|i| fields.get(i))
                            .map(|v| clean(v).into_owned())
                            .filter(|v| !v.is_empty())
                    };
                    out.insert(
                        id.into_owned(),
                        Personal {
                            phone: cell(phone),
                            name: cell(name),
                        },
                    );
                }
                true
            }
            read::Msg::Fail(e) => {
                failure = Some(e);
                false
            }
            read::Msg::End { .. } => true,
        },
    );
    match failure {
        Some(e) => Err(e),
        None => Ok(out),
    }
}
