//! What the readers (`split` for CSV, `xlsx` for XLSX) hand to the row checkers: records
//! in batches (`Batch`), the messages of the reader thread (`Msg`), and the `Batcher`
//! that sorts records into the header and batches. Its own file, so that `read` (which
//! picks the reader) and the readers themselves each import it and not one another.

use super::detect::NOT_UTF8;
use crate::error::Error;

/// Records, many at a time, as the reader thread hands them to the row checkers: all
/// fields in one text buffer (no allocation per field), with each record's line number
/// (1-based; for XLSX the sheet row) and the empty lines skipped just before it.
#[derive(Default)]
pub struct Batch {
    /// The fields' bytes as read; `decode` (on a checker thread) turns them into `text`.
    pub(crate) raw: Vec<u8>,
    pub(crate) text: String,
    /// End offset in `text` of every field.
    pub(crate) ends: Vec<usize>,
    /// Per record: the end of its fields in `ends`.
    pub(crate) recs: Vec<usize>,
    pub lines: Vec<u64>,
    pub blank_before: Vec<u64>,
    /// Per record: 0, or the size in bytes of a record longer than MAX_RECORD_BYTES
    /// (its fields are not kept: the row is rejected as too long).
    pub overlong: Vec<u64>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.recs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }

    /// Bytes of field text held.
    pub fn text_len(&self) -> usize {
        self.text.len() + self.raw.len()
    }

    /// Checks that the fields are UTF-8 (one pass over the whole batch; a field
    /// boundary inside a character, a multi-byte character split by the delimiter, is
    /// caught by the boundaries). On failure: the first record that is not, and the
    /// error naming its line.
    pub fn decode(&mut self, file: &str) -> std::result::Result<(), (usize, Error)> {
        let bad = |r: usize| (r, Error::input(file, self.lines[r], None, NOT_UTF8));
        match String::from_utf8(std::mem::take(&mut self.raw)) {
            Ok(t) if self.ends.iter().all(|&e| t.is_char_boundary(e)) => {
                self.text = t;
                Ok(())
            }
            res => {
                self.raw = match res {
                    Ok(t) => t.into_bytes(),
                    Err(e) => e.into_bytes(),
                };
                let raw = &self.raw;
                let mut start = 0;
                for r in 0..self.len() {
                    let first = if r == 0 { 0 } else { self.recs[r - 1] };
                    let ends = &self.ends[first..self.recs[r]];
                    let end = ends.last().copied().unwrap_or(start);
                    match std::str::from_utf8(&raw[start..end]) {
                        Ok(t) if ends.iter().all(|&e| t.is_char_boundary(e - start)) => {}
                        _ => return Err(bad(r)),
                    }
                    start = end;
                }
                Err(bad(self.len().saturating_sub(1)))
            }
        }
    }

    /// The fields of record `r`, into `out` (cleared first).
    pub fn fields_into<'b>(&'b self, r: usize, out: &mut Vec<&'b str>) {
        out.clear();
        let first = if r == 0 { 0 } else { self.recs[r - 1] };
        let mut start = if first == 0 { 0 } else { self.ends[first - 1] };
        for &end in &self.ends[first..self.recs[r]] {
            out.push(&self.text[start..end]);
            start = end;
        }
    }

    /// The fields of record `r` as owned strings (for a rejected row's raw text).
    pub fn fields(&self, r: usize) -> Vec<String> {
        let mut v = Vec::new();
        self.fields_into(r, &mut v);
        v.into_iter().map(str::to_string).collect()
    }

    fn push_fields<'s>(
        &mut self,
        line: u64,
        blank_before: u64,
        fields: impl Iterator<Item = &'s str>,
    ) {
        for f in fields {
            self.raw.extend_from_slice(f.as_bytes());
            self.ends.push(self.raw.len());
        }
        self.finish_record(line, blank_before);
    }

    pub(crate) fn finish_record(&mut self, line: u64, blank_before: u64) {
        self.recs.push(self.ends.len());
        self.lines.push(line);
        self.blank_before.push(blank_before);
        self.overlong.push(0);
    }

    /// A record too long to keep: no fields, its size in `overlong`.
    pub(crate) fn overlong_record(&mut self, line: u64, blank_before: u64, bytes: u64) {
        self.finish_record(line, blank_before);
        if let Some(last) = self.overlong.last_mut() {
            *last = bytes.max(1);
        }
    }
}

/// The longest record kept, in bytes. A questionnaire row is a few hundred bytes; a
/// longer record (a line with no line break, an unclosed quote that runs on through
/// the file) is rejected as one row without being held in memory.
pub const MAX_RECORD_BYTES: usize = 1 << 20;
/// The most fields a record may have (beyond it the record is rejected as too long).
pub(crate) const MAX_FIELDS: usize = 1 << 16;

/// Records per batch (by default), and the text size at which a batch is sent early.
pub const BATCH_RECORDS: usize = 4096;
const BATCH_BYTES: usize = 2 << 20;

/// What the reader thread sends, in file order.
pub enum Msg {
    /// The first non-empty record (sent before anything else, if there is one).
    Header { line: u64, cells: Vec<String> },
    /// Data records after the header (empty ones included: the checker counts them).
    Batch(Batch),
    /// The file cannot be read on from here.
    Fail(Error),
    /// The end of the file: empty lines after the last record (0 before any header).
    End { trailing_blank: u64 },
}

/// Sorts records into the header and batches.
pub(crate) struct Batcher<'s> {
    pub(crate) send: &'s mut dyn FnMut(Msg) -> bool,
    pub(crate) batch_records: usize,
    pub(crate) header_seen: bool,
    pub(crate) batch: Batch,
    /// False once `send` said nobody listens.
    pub(crate) open: bool,
}

impl Batcher<'_> {
    /// Sends the batch if it is full; false when the reader should stop.
    pub(crate) fn after_record(&mut self) -> bool {
        if self.batch.len() >= self.batch_records || self.batch.raw.len() >= BATCH_BYTES {
            return self.flush();
        }
        self.open
    }

    pub(crate) fn flush(&mut self) -> bool {
        if self.open && !self.batch.is_empty() {
            let b = std::mem::take(&mut self.batch);
            self.open = (self.send)(Msg::Batch(b));
        }
        self.open
    }

    /// A record given as text cells (XLSX, and the header).
    pub(crate) fn record(&mut self, line: u64, blank_before: u64, cells: &[String]) -> bool {
        if !self.header_seen {
            if cells.iter().all(|c| c.trim().is_empty()) {
                return self.open;
            }
            self.header_seen = true;
            self.open = (self.send)(Msg::Header {
                line,
                cells: cells.to_vec(),
            });
            return self.open;
        }
        self.batch
            .push_fields(line, blank_before, cells.iter().map(String::as_str));
        self.after_record()
    }
}
