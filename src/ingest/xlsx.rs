//! Reading an XLSX delivery's rows as Excel shows its cells.

use std::path::Path;

use crate::error::{Error, Result};

use super::batch::Batcher;

/// Formats an XLSX cell the way Excel shows it.
fn cell_text(c: &calamine::Data) -> String {
    use calamine::Data;
    match c {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(x) => {
            if x.fract() == 0.0 && x.abs() < 1e15 {
                format!("{}", *x as i64)
            } else {
                x.to_string()
            }
        }
        Data::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        Data::DateTime(d) => {
            if d.is_datetime() {
                let (y, mo, da, h, mi, s, _) = d.to_ymd_hms_milli();
                if (h, mi, s) == (0, 0, 0) {
                    format!("{y:04}-{mo:02}-{da:02}")
                } else {
                    format!("{y:04}-{mo:02}-{da:02} {h:02}:{mi:02}:{s:02}")
                }
            } else {
                d.as_f64().to_string()
            }
        }
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#{e:?}"),
    }
}

pub(crate) fn read_xlsx(
    path: &Path,
    file: &str,
    sheet: Option<&str>,
    progress: &std::sync::atomic::AtomicU64,
    out: &mut Batcher<'_>,
) -> Result<()> {
    use calamine::Reader;
    check_zip_bounds(path, file, &ZipBounds::default())?;
    let mut wb = calamine::open_workbook_auto(path)
        .map_err(|e| Error::file(file, format!("not a readable XLSX workbook: {e}")))?;
    let names = wb.sheet_names();
    let name = match sheet {
        Some(s) => names
            .iter()
            .find(|n| n.as_str() == s)
            .cloned()
            .ok_or_else(|| {
                Error::file(
                    file,
                    format!("no sheet named {s:?} (sheets: {})", names.join(", ")),
                )
            })?,
        None => names
            .first()
            .cloned()
            .ok_or_else(|| Error::file(file, "the workbook has no sheets"))?,
    };
    let range = wb
        .worksheet_range(&name)
        .map_err(|e| Error::file(file, format!("sheet {name:?} cannot be read: {e}")))?;
    let first_row = range.start().map(|(r, _)| r as u64).unwrap_or(0);
    let first_col = range.start().map(|(_, c)| c as usize).unwrap_or(0);
    let mut cells = Vec::new();
    for (i, row) in range.rows().enumerate() {
        cells.clear();
        // Columns left of the used range are empty: keep positions as Excel shows them.
        cells.extend(std::iter::repeat_n(String::new(), first_col));
        cells.extend(row.iter().map(cell_text));
        progress.store(i as u64 + 1, std::sync::atomic::Ordering::Relaxed);
        if !out.record(first_row + i as u64 + 1, 0, &cells) {
            return Ok(());
        }
    }
    Ok(())
}

/// Bounds on an XLSX workbook's zip, checked from its central directory before any
/// part is decompressed (a zip bomb: a small file that inflates to gigabytes).
#[derive(Debug, Clone, Copy)]
pub struct ZipBounds {
    /// Sum of the parts' uncompressed sizes.
    pub max_uncompressed: u64,
    pub max_entries: usize,
    /// Uncompressed / compressed for any part larger than 1 MiB (sheets of real
    /// deliveries compress 5–20 times).
    pub max_ratio: u64,
}

impl Default for ZipBounds {
    fn default() -> Self {
        ZipBounds {
            max_uncompressed: 4 << 30,
            max_entries: 10_000,
            max_ratio: 200,
        }
    }
}

/// Refuses a workbook whose zip is beyond `b` (or is not a zip at all).
pub fn check_zip_bounds(path: &Path, file: &str, b: &ZipBounds) -> Result<()> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut z = zip::ZipArchive::new(std::io::BufReader::new(f)).map_err(|e| {
        Error::file(
            file,
            format!("the file starts like an XLSX workbook but is not a readable zip ({e}); save it again from Excel"),
        )
    })?;
    if z.len() > b.max_entries {
        return Err(Error::file(
            file,
            format!(
                "the workbook has {} parts (at most {} are read): refused unread",
                z.len(),
                b.max_entries
            ),
        ));
    }
    let mut total: u64 = 0;
    for i in 0..z.len() {
        let e = z
            .by_index_raw(i)
            .map_err(|e| Error::file(file, format!("the workbook's zip is damaged ({e})")))?;
        let (u, c) = (e.size(), e.compressed_size().max(1));
        total = total.saturating_add(u);
        if u > (1 << 20) && u / c > b.max_ratio {
            return Err(Error::file(
                file,
                format!(
                    "part {} of the workbook inflates {}-fold ({} bytes from {}): refused unread as a zip bomb",
                    e.name().map(|n| n.into_owned()).unwrap_or_default(),
                    u / c,
                    u,
                    c
                ),
            ));
        }
    }
    if total > b.max_uncompressed {
        return Err(Error::file(
            file,
            format!(
                "the workbook inflates to {total} bytes (at most {} are read): refused unread",
                b.max_uncompressed
            ),
        ));
    }
    Ok(())
}

/// The first sheet of a small workbook as CSV text (UTF-8), for files that are not
/// deliveries (the streets' indicators). Bounded like a delivery's workbook.
pub fn xlsx_to_csv(path: &Path, file: &str) -> Result<Vec<u8>> {
    use calamine::Reader;
    check_zip_bounds(path, file, &ZipBounds::default())?;
    let mut wb = calamine::open_workbook_auto(path)
        .map_err(|e| Error::file(file, format!("not a readable XLSX workbook: {e}")))?;
    let name = wb
        .sheet_names()
        .first()
        .cloned()
        .ok_or_else(|| Error::file(file, "the workbook has no sheets"))?;
    let range = wb
        .worksheet_range(&name)
        .map_err(|e| Error::file(file, format!("sheet {name:?} cannot be read: {e}")))?;
    let mut w = csv::Writer::from_writer(Vec::new());
    for row in range.rows() {
        w.write_record(row.iter().map(cell_text))
            .map_err(|e| Error::file(file, e.to_string()))?;
    }
    w.into_inner().map_err(|e| Error::file(file, e.to_string()))
}
