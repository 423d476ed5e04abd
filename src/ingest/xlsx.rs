//! Reading an XLSX delivery's rows as Excel shows its cells.

use std::path::Path;

use crate::error::{Error, Result};

use super::read::Batcher;

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
