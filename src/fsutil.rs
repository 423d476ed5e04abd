//! File helpers shared by every stage: atomic writes (temp file, then rename) and hashes.

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Hex SHA-256 of a byte string.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Reads a whole file, naming it on error.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// Reads a whole UTF-8 text file (a leading BOM is dropped).
pub fn read_text(path: &Path) -> Result<String> {
    let bytes = read(path)?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    String::from_utf8(bytes.to_vec())
        .map_err(|e| Error::file(path.display().to_string(), format!("not valid UTF-8 ({e})")))
}

/// A temporary file beside `path` (same directory, so the final rename is atomic).
pub fn temp_beside(path: &Path) -> Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    create_dirs(dir)?;
    tempfile::Builder::new()
        .prefix(".manyi-tmp-")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))
}

/// Syncs a finished temporary file, makes it readable by the office's other tools
/// (tempfile creates 0600), renames it over `path` and syncs the directory, so the
/// rename itself survives a power loss.
pub fn persist(tmp: tempfile::NamedTempFile, path: &Path) -> Result<()> {
    let mode = public_mode(path);
    persist_mode(tmp, path, mode)
}

/// 0644, or 0600 in a private folder (`reports/`, the store): a file is as private as
/// the folder it is written into.
fn public_mode(path: &Path) -> u32 {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() && is_private(d) => 0o600,
        _ => 0o644,
    }
}

/// The folder, or the nearest one above it that exists, can be entered by this user
/// only (no permission bits for group or others).
pub fn is_private(dir: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut d = Some(dir);
        while let Some(x) = d {
            if let Ok(m) = std::fs::metadata(x) {
                return m.permissions().mode() & 0o077 == 0;
            }
            d = x.parent().filter(|p| !p.as_os_str().is_empty());
        }
        false
    }
    #[cfg(not(unix))]
    {
        let _ = dir; // ok: no permission bits on this platform
        false
    }
}

/// `create_dir_all`, but folders made inside a private folder are private too
/// (0700), so nothing under `reports/` or the store is ever open to others.
pub fn create_dirs(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        if is_private(dir) {
            b.mode(0o700);
        }
    }
    b.create(dir).map_err(|e| Error::io(dir, e))
}

/// Makes a folder and everything in it readable by this user only: folders 0700,
/// files 0600 (what was written before the folder became private).
pub fn make_private_tree(dir: &Path) -> Result<()> {
    make_private_dir(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for e in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let e = e.map_err(|e| Error::io(dir, e))?;
            let p = e.path();
            let ft = e.file_type().map_err(|e| Error::io(&p, e))?;
            if ft.is_dir() {
                make_private_tree(&p)?;
            } else if ft.is_file() {
                let mode = e
                    .metadata()
                    .map_err(|e| Error::io(&p, e))?
                    .permissions()
                    .mode();
                if mode & 0o077 != 0 {
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode & 0o700))
                        .map_err(|e| Error::io(&p, e))?;
                }
            }
        }
    }
    Ok(())
}

/// As `persist`, with the file's permission bits (unix) set to `mode` before the
/// rename: a private file (0600) is never visible to others, not even for a moment.
pub fn persist_mode(tmp: tempfile::NamedTempFile, path: &Path, mode: u32) -> Result<()> {
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_dirs(dir)?;
    }
    set_mode(tmp.as_file(), path, mode)?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    sync_parent(path)
}

/// Renames a finished temporary file to `path` only if `path` does not exist yet (a
/// no-clobber commit); `Ok(false)` when it did exist (the temporary file is removed).
pub fn persist_new(tmp: tempfile::NamedTempFile, path: &Path) -> Result<bool> {
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    set_mode(tmp.as_file(), path, public_mode(path))?;
    match tmp.persist_noclobber(path) {
        Ok(_) => sync_parent(path).map(|()| true),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(Error::io(path, e.error)),
    }
}

#[cfg(unix)]
fn set_mode(f: &std::fs::File, path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io(path, e))
}

#[cfg(not(unix))]
fn set_mode(_: &std::fs::File, _: &Path, _: u32) -> Result<()> {
    Ok(())
}

/// The SHA-256 of a file's bytes (hex), read in 1 MiB blocks (never whole in memory).
pub fn sha256_file(path: &Path) -> Result<String> {
    use sha2::Digest as _;
    use std::io::Read as _;
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Makes a directory enterable by this user only (0700), creating it when missing.
pub fn make_private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)
            .map_err(|e| Error::io(dir, e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| Error::io(dir, e))?;
        }
    }
    Ok(())
}

/// Syncs the directory that holds `path` (after a rename into it): without this the
/// new directory entry, the commit point of every write here, may be lost on power
/// failure although the file's data was synced.
pub fn sync_parent(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = path; // ok: directories cannot be opened for syncing on this platform
    Ok(())
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory is
/// written, synced and renamed over the target, so readers never see half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = temp_beside(path)?;
    tmp.write_all(bytes).map_err(|e| Error::io(path, e))?;
    persist(tmp, path)
}

/// Copies `from` to `to` atomically (streamed, never held in memory whole).
pub fn copy_atomic(from: &Path, to: &Path) -> Result<()> {
    let tmp = temp_beside(to)?;
    let mut src = std::fs::File::open(from).map_err(|e| Error::io(from, e))?;
    std::io::copy(&mut src, &mut tmp.as_file()).map_err(|e| Error::io(to, e))?;
    persist(tmp, to)
}

/// As `copy_atomic`, to a file only this user may read (0600 from the start).
pub fn copy_private_atomic(from: &Path, to: &Path) -> Result<()> {
    let tmp = temp_beside(to)?;
    let mut src = std::fs::File::open(from).map_err(|e| Error::io(from, e))?;
    std::io::copy(&mut src, &mut tmp.as_file()).map_err(|e| Error::io(to, e))?;
    persist_mode(tmp, to, 0o600)
}

/// Writes `bytes` to a new file, with no window in which two writers can both
/// succeed: refuses when `path` exists (checked by the rename itself).
pub fn write_new_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = temp_beside(path)?;
    tmp.write_all(bytes).map_err(|e| Error::io(path, e))?;
    if persist_new(tmp, path)? {
        Ok(())
    } else {
        Err(Error::file(
            path.display().to_string(),
            "already exists; refusing to overwrite",
        ))
    }
}

/// Writes `bytes` atomically to a file only this user may read (0600 from the start).
pub fn write_private_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = temp_beside(path)?;
    tmp.write_all(bytes).map_err(|e| Error::io(path, e))?;
    persist_mode(tmp, path, 0o600)
}

/// How the numbers of the result tables' row types are written (serde `serialize_with`
/// helpers): in a CSV made by [`table_cells`] as Rust prints them (`3`, not `3.0`; no
/// exponent), anywhere else (the API's JSON) as numbers; undefined is empty or null.
pub mod cell {
    use serde::Serializer;
    use std::cell::Cell;

    thread_local! {
        /// Set while [`super::table_cells`] serializes rows on this thread.
        static IN_CSV: Cell<bool> = const { Cell::new(false) };
    }

    /// Runs `f` with numbers written as CSV text on this thread.
    pub(super) fn in_csv<R>(f: impl FnOnce() -> R) -> R {
        struct Reset(bool);
        impl Drop for Reset {
            fn drop(&mut self) {
                IN_CSV.with(|c| c.set(self.0));
            }
        }
        let _reset = Reset(IN_CSV.with(|c| c.replace(true)));
        f()
    }

    pub fn num<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match x {
            Some(v) if IN_CSV.with(Cell::get) => s.serialize_str(&v.to_string()),
            Some(v) => s.serialize_some(v),
            None => s.serialize_none(),
        }
    }

    /// For `skip_serializing_if`: a column of the other layout of a table (the outer
    /// `None`) is left out of a CSV; in JSON it is `null`, as every row type's fields are.
    pub fn absent<T>(x: &Option<T>) -> bool {
        x.is_none() && IN_CSV.with(Cell::get)
    }

    /// A column present only in one layout of a table (see [`absent`]), as [`num`].
    pub fn num_in_layout<S: Serializer>(x: &Option<Option<f64>>, s: S) -> Result<S::Ok, S::Error> {
        num(&x.flatten(), s)
    }
}

/// The header and cells of a table of serde rows: the column names are the row type's
/// field names (in order, without the fields it skips), the cells as its serializer
/// writes them. `template` gives the header, so an empty table has one too; it is not
/// a row of the table.
pub fn table_cells<T: serde::Serialize>(
    template: &T,
    rows: &[T],
) -> Result<(Vec<String>, Vec<Vec<String>>)> {
    let err = |e: csv::Error| Error::Invalid(format!("writing a CSV table: {e}"));
    let mut w = csv::Writer::from_writer(Vec::new());
    cell::in_csv(|| {
        w.serialize(template)?;
        for r in rows {
            w.serialize(r)?;
        }
        Ok(())
    })
    .map_err(err)?;
    let bytes = w
        .into_inner()
        .map_err(|e| Error::Invalid(format!("writing a CSV table: {}", e.error())))?;
    let mut rd = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes.as_slice());
    let mut records = Vec::with_capacity(rows.len() + 2);
    for r in rd.records() {
        records.push(
            r.map_err(err)?
                .iter()
                .map(str::to_string)
                .collect::<Vec<_>>(),
        );
    }
    let mut it = records.into_iter();
    // ok: the template is always written, so its header is always there.
    let header = it.next().unwrap_or_default();
    // ok: the template's own line is dropped, it only gave the header.
    let _template_line = it.next();
    Ok((header, it.collect()))
}

/// [`csv_bytes`] of a table of serde rows (see [`table_cells`]).
pub fn rows_csv_bytes<T: serde::Serialize>(template: &T, rows: &[T], bom: bool) -> Result<Vec<u8>> {
    let (header, cells) = table_cells(template, rows)?;
    csv_bytes(header, cells, bom)
}

/// A CSV table's bytes: `header`, then `rows`, every cell neutralised against formula
/// injection; with a UTF-8 BOM first when `bom` (for Excel). Refuses a row whose
/// length differs from the header's instead of dropping it.
pub fn csv_bytes<H, R, C>(header: H, rows: R, bom: bool) -> Result<Vec<u8>>
where
    H: IntoIterator,
    H::Item: AsRef<str>,
    R: IntoIterator,
    R::Item: IntoIterator<Item = C>,
    C: AsRef<str>,
{
    let err = |e: csv::Error| Error::Invalid(format!("writing a CSV table: {e}"));
    let start = if bom {
        b"\xEF\xBB\xBF".to_vec()
    } else {
        Vec::new()
    };
    let mut w = csv::Writer::from_writer(start);
    w.write_record(
        header
            .into_iter()
            .map(|h| neutralise_cell(h.as_ref()).into_owned()),
    )
    .map_err(err)?;
    for r in rows {
        w.write_record(
            r.into_iter()
                .map(|c| neutralise_cell(c.as_ref()).into_owned()),
        )
        .map_err(err)?;
    }
    w.into_inner()
        .map_err(|e| Error::Invalid(format!("writing a CSV table: {}", e.error())))
}

/// Neutralises a text cell for CSV/XLSX output: a leading = + - @ (or tab/CR) would
/// make a spreadsheet evaluate it as a formula, so it gets a leading apostrophe.
pub fn neutralise_cell(s: &str) -> std::borrow::Cow<'_, str> {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') if s.parse::<f64>().is_err() => {
            std::borrow::Cow::Owned(format!("'{s}"))
        }
        _ => std::borrow::Cow::Borrowed(s),
    }
}

/// Gives the 1-based line on which each CSV record of an in-memory input starts.
/// The csv crate's own line count is off after CRLF and blank lines; its byte offset
/// points at the previous record's terminator, so line breaks there are skipped before
/// counting. Records come in order, so counting resumes where the last one stopped.
pub struct LineCounter<'a> {
    bytes: &'a [u8],
    at: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    pub fn new(bytes: &'a [u8]) -> LineCounter<'a> {
        LineCounter {
            bytes,
            at: 0,
            line: 1,
        }
    }

    pub fn line(&mut self, pos: Option<&csv::Position>) -> u64 {
        let Some(pos) = pos else { return 0 };
        let mut i = (pos.byte() as usize).min(self.bytes.len());
        while i < self.bytes.len() && (self.bytes[i] == b'\n' || self.bytes[i] == b'\r') {
            i += 1;
        }
        if i < self.at {
            // Out of order (an error position): count from the start.
            self.at = 0;
            self.line = 1;
        }
        self.line += memchr::memchr_iter(b'\n', &self.bytes[self.at..i]).count() as u64;
        self.at = i;
        self.line
    }
}

/// Test hook: sleeps for the milliseconds in environment variable `var`, if set. Tests
/// use it to hold a process at a known point (to kill it there, or to make two
/// processes overlap for certain); unset, it does nothing.
pub fn test_pause(var: &str) {
    if let Ok(ms) = std::env::var(var)
        && let Ok(ms) = ms.parse::<u64>()
    {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// Test hook: prints `manyi-test-marker: NAME` on stderr when MANYI_TEST_MARKERS is
/// set, so a test can see where a child process has got to (before killing it there,
/// or to prove that two processes overlapped).
pub fn test_marker(name: &str) {
    if std::env::var_os("MANYI_TEST_MARKERS").is_some() {
        eprintln!("manyi-test-marker: {name}");
    }
}

/// A small CSV file the engine reads whole (frame, sample, indicators, its own score
/// tables): UTF-8 with or without BOM, records of any length, each record with the
/// exact 1-based line it starts on (the header is line 1). The one reader of all of
/// them, so every such file is read, and its errors named, the same way.
pub struct CsvRecords {
    pub file: String,
    pub headers: Vec<String>,
    /// (line, record) for every record after the header, blank ones included.
    pub rows: Vec<(u64, csv::StringRecord)>,
}

impl CsvRecords {
    pub fn read(path: &Path) -> Result<CsvRecords> {
        CsvRecords::parse(&read(path)?, &path.display().to_string())
    }

    /// Parses CSV bytes; `file` names the input in errors.
    pub fn parse(bytes: &[u8], file: &str) -> Result<CsvRecords> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        std::str::from_utf8(bytes)
            .map_err(|e| Error::file(file, format!("not valid UTF-8 ({e})")))?;
        let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
        let headers = rdr
            .headers()
            .map_err(|e| Error::file(file, format!("cannot read the header: {e}")))?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        let mut lines = LineCounter::new(bytes);
        let mut rows = Vec::new();
        for rec in rdr.records() {
            let rec = rec.map_err(|e| {
                Error::input(
                    file,
                    LineCounter::new(bytes).line(e.position()),
                    None,
                    format!("unreadable CSV row: {e}"),
                )
            })?;
            rows.push((lines.line(rec.position()), rec));
        }
        Ok(CsvRecords {
            file: file.to_string(),
            headers,
            rows,
        })
    }

    /// The position of column `name` (headers compared trimmed).
    pub fn column(&self, name: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == name)
    }

    /// The position of a column the file must have.
    pub fn require(&self, name: &str, what: &str) -> Result<usize> {
        self.column(name).ok_or_else(|| {
            Error::file(
                &self.file,
                format!(
                    "missing {what} `{name}` (columns found: {})",
                    self.headers.join(", ")
                ),
            )
        })
    }
}

/// A record's cell, trimmed ("" when the record is shorter).
pub fn cell(rec: &csv::StringRecord, i: usize) -> &str {
    rec.get(i).unwrap_or("").trim()
}

/// A cell of a people's workbook (`xlsx_table`).
#[derive(Debug, Clone, PartialEq)]
pub enum XCell {
    /// Written as a text cell (codes keep every digit in Excel).
    Text(String),
    Num(f64),
    Empty,
}

/// One sheet with a bold header row, each column `widths[c]` wide, text cells as
/// text (`@`), a fixed creation time (the same rows give the same bytes).
pub fn xlsx_table(
    sheet_name: &str,
    header: &[&str],
    widths: &[f64],
    rows: &[Vec<XCell>],
) -> Result<Vec<u8>> {
    use rust_xlsxwriter::{Format, Workbook};
    let err = |e: rust_xlsxwriter::XlsxError| Error::Internal(format!("writing a workbook: {e}"));
    let mut wb = Workbook::new();
    let created = rust_xlsxwriter::ExcelDateTime::from_ymd(2000, 1, 1).map_err(err)?;
    wb.set_properties(&rust_xlsxwriter::DocProperties::new().set_creation_datetime(&created));
    let bold = Format::new().set_bold();
    let text = Format::new().set_num_format("@").set_text_wrap();
    let sheet = wb.add_worksheet();
    sheet.set_name(sheet_name).map_err(err)?;
    for (c, h) in header.iter().enumerate() {
        sheet
            .write_string_with_format(0, c as u16, *h, &bold)
            .map_err(err)?;
        sheet
            .set_column_width(c as u16, widths.get(c).copied().unwrap_or(14.0))
            .map_err(err)?;
    }
    sheet.set_freeze_panes(1, 0).map_err(err)?;
    for (r, row) in rows.iter().enumerate() {
        let r = r as u32 + 1;
        for (c, v) in row.iter().enumerate() {
            let c = c as u16;
            match v {
                XCell::Text(s) => {
                    let s = excel_text(s);
                    sheet
                        .write_string_with_format(r, c, s.as_str(), &text)
                        .map_err(err)?;
                }
                XCell::Num(x) if x.is_finite() => {
                    sheet.write_number(r, c, *x).map_err(err)?;
                }
                XCell::Num(_) | XCell::Empty => {}
            }
        }
    }
    wb.save_to_buffer().map_err(err)
}

/// A text as an Excel cell holds it: at most 32,767 characters (Excel's limit; a
/// longer text is cut and says so) and no control characters but tab and line ends.
pub fn excel_text(s: &str) -> String {
    const MAX: usize = 32_767;
    let clean: String = s
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
        .collect();
    if clean.chars().count() <= MAX {
        return clean;
    }
    let mut cut: String = clean.chars().take(MAX - 8).collect();
    cut.push_str("…（已截断）");
    cut
}

#[cfg(test)]
mod excel_tests {
    #[test]
    fn an_excel_text_is_cut_at_excels_limit_and_loses_control_characters() {
        assert_eq!(super::excel_text("a\u{1}b\tc"), "ab\tc");
        let cut = super::excel_text(&"长".repeat(40_000));
        assert!(
            cut.chars().count() <= 32_767 && cut.ends_with("（已截断）"),
            "{}",
            cut.chars().count()
        );
        assert_eq!(
            super::excel_text(&"长".repeat(32_767)).chars().count(),
            32_767
        );
    }
}
