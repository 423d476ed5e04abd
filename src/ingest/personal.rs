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

/// The delivered file at `path` with its phone and name cells emptied, as UTF-8 CSV:
/// the same header and records in the same order, empty lines kept where they were
/// (so a single-line record keeps its line number). None when the header has neither
/// column (nothing to remove). An XLSX original becomes CSV of its first sheet.
pub fn redact(path: &Path, file: &str, rules: &Rules) -> Result<Option<Vec<u8>>> {
    let mut det = read::detect(path, file)?;
    match redact_with(path, file, &det, rules) {
        Err(e) if read::is_not_utf8(&e) && det.encoding == read::Encoding::Utf8 => {
            det.encoding = read::Encoding::Gb18030;
            redact_with(path, file, &det, rules)
        }
        res => res,
    }
}

fn redact_with(
    path: &Path,
    file: &str,
    det: &read::Detected,
    rules: &Rules,
) -> Result<Option<Vec<u8>>> {
    let progress = std::sync::atomic::AtomicU64::new(0);
    let mut out: Vec<u8> = Vec::new();
    let mut personal: Vec<usize> = Vec::new();
    let mut failure: Option<Error> = None;
    let mut line: u64 = 1;
    let write_line = |out: &mut Vec<u8>,
                      at: u64,
                      cells: &mut dyn Iterator<Item = String>,
                      line: &mut u64|
     -> Result<()> {
        while *line < at {
            out.push(b'\n');
            *line += 1;
        }
        let mut w = csv::WriterBuilder::new()
            .flexible(true)
            .from_writer(Vec::new());
        w.write_record(cells)
            .map_err(|e| Error::Invalid(format!("writing the redacted copy: {e}")))?;
        out.extend(
            w.into_inner()
                .map_err(|e| Error::Invalid(format!("writing the redacted copy: {e}")))?,
        );
        *line += 1;
        Ok(())
    };
    read::read_batches(
        path,
        file,
        det,
        None,
        read::BATCH_RECORDS,
        &progress,
        &mut |m| {
            let res = (|| -> Result<bool> {
                match m {
                    read::Msg::Header { line: at, cells } => {
                        let h = HeaderMap::new(&cells, rules, file)?;
                        personal = [Col::Phone, Col::Name]
                            .into_iter()
                            .filter_map(|c| h.position(c))
                            .collect();
                        if personal.is_empty() {
                            return Ok(false);
                        }
                        write_line(&mut out, at, &mut cells.into_iter(), &mut line)?;
                        Ok(true)
                    }
                    read::Msg::Batch(mut b) => {
                        b.decode(file).map_err(|(_, e)| e)?;
                        let mut fields: Vec<&str> = Vec::new();
                        for r in 0..b.len() {
                            b.fields_into(r, &mut fields);
                            let mut cells = fields.iter().enumerate().map(|(k, v)| {
                                if personal.contains(&k) {
                                    String::new()
                                } else {
                                    v.to_string()
                                }
                            });
                            write_line(&mut out, b.lines[r], &mut cells, &mut line)?;
                        }
                        Ok(true)
                    }
                    read::Msg::Fail(e) => Err(e),
                    read::Msg::End { .. } => Ok(true),
                }
            })();
            match res {
                Ok(go) => go,
                Err(e) => {
                    failure = Some(e);
                    false
                }
            }
        },
    );
    if let Some(e) = failure {
        return Err(e);
    }
    if personal.is_empty() {
        return Ok(None);
    }
    Ok(Some(out))
}
