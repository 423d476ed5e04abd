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
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    tempfile::Builder::new()
        .prefix(".manyi-tmp-")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))
}

/// Syncs a finished temporary file, makes it readable by the office's other tools
/// (tempfile creates 0600) and renames it over `path`.
pub fn persist(tmp: tempfile::NamedTempFile, path: &Path) -> Result<()> {
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = tmp
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644));
    }
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
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

/// Writes `bytes` to a new file; refuses when `path` exists.
pub fn write_new_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if path.exists() {
        return Err(Error::file(
            path.display().to_string(),
            "already exists; refusing to overwrite",
        ));
    }
    write_atomic(path, bytes)
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
