//! Reading a delivery: detect the format (CSV or XLSX), the encoding (UTF-8, UTF-8 with
//! BOM, GBK/GB18030) and the delimiter (comma or tab), then hand out rows of text cells
//! with their line numbers. CSV is streamed; nothing is decoded into mojibake.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encoding {
    Utf8,
    Utf8Bom,
    Gb18030,
    Xlsx,
}

impl Encoding {
    /// The name in receipts (as serialised).
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf8",
            Encoding::Utf8Bom => "utf8-bom",
            Encoding::Gb18030 => "gb18030",
            Encoding::Xlsx => "xlsx",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
}

/// Bytes looked at to choose the encoding and delimiter.
const SNIFF: usize = 64 * 1024;

/// What was detected about a delivery.
#[derive(Debug, Clone)]
pub struct Detected {
    pub format: Format,
    pub encoding: Encoding,
    pub delimiter: u8,
}

/// Guesses the format and encoding from the first bytes of the file.
pub fn detect(path: &Path, file: &str) -> Result<Detected> {
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut head = Vec::with_capacity(SNIFF);
    (&mut f)
        .take(SNIFF as u64)
        .read_to_end(&mut head)
        .map_err(|e| Error::io(path, e))?;
    if head.starts_with(b"PK\x03\x04") {
        return Ok(Detected {
            format: Format::Xlsx,
            encoding: Encoding::Xlsx,
            delimiter: b',',
        });
    }
    if head.is_empty() {
        return Err(Error::file(file, "the file is empty: no header, no rows"));
    }
    let (encoding, text) = if let Some(rest) = head.strip_prefix(b"\xEF\xBB\xBF") {
        (
            Encoding::Utf8Bom,
            String::from_utf8_lossy(rest).into_owned(),
        )
    } else {
        match std::str::from_utf8(&head) {
            Ok(s) => (Encoding::Utf8, s.to_string()),
            // Cut in the middle of a character at the end of the sniffed block.
            Err(e) if e.error_len().is_none() => (
                Encoding::Utf8,
                String::from_utf8_lossy(&head[..e.valid_up_to()]).into_owned(),
            ),
            Err(_) => match decode_gb18030_prefix(&head, head.len() < SNIFF) {
                Some(s) => (Encoding::Gb18030, s),
                None => {
                    return Err(Error::file(
                        file,
                        "the file is not text in UTF-8, GBK or GB18030 (nor an XLSX workbook); \
                         save it from Excel as CSV UTF-8 or as XLSX",
                    ));
                }
            },
        }
    };
    if text.contains('\0') {
        return Err(Error::file(
            file,
            "the file holds binary data (NUL bytes); it is not a CSV export",
        ));
    }
    Ok(Detected {
        format: Format::Csv,
        encoding,
        delimiter: sniff_delimiter(&text),
    })
}

fn decode_gb18030_prefix(bytes: &[u8], last: bool) -> Option<String> {
    let mut dec = encoding_rs::GB18030.new_decoder_without_bom_handling();
    let mut out = String::with_capacity(bytes.len() * 2);
    let (res, _) = dec.decode_to_string_without_replacement(bytes, &mut out, last);
    match res {
        encoding_rs::DecoderResult::Malformed(..) => None,
        _ => Some(out),
    }
}

/// Comma or tab, whichever the first non-empty line has more of (comma on a tie).
fn sniff_delimiter(text: &str) -> u8 {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let commas = line.matches(',').count();
    let tabs = line.matches('\t').count();
    if tabs > commas { b'\t' } else { b',' }
}

/// A reader that decodes GB18030 to UTF-8 as it goes and fails on malformed bytes
/// instead of replacing them.
struct StrictGb18030<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    inbuf: Vec<u8>,
    in_len: usize,
    out: String,
    out_pos: usize,
    eof: bool,
    offset: u64,
}

impl<R: Read> StrictGb18030<R> {
    fn new(inner: R) -> Self {
        StrictGb18030 {
            inner,
            decoder: encoding_rs::GB18030.new_decoder_without_bom_handling(),
            inbuf: vec![0; 64 * 1024],
            in_len: 0,
            out: String::new(),
            out_pos: 0,
            eof: false,
            offset: 0,
        }
    }
}

impl<R: Read> Read for StrictGb18030<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.out_pos >= self.out.len() {
            if self.eof && self.in_len == 0 {
                return Ok(0);
            }
            if !self.eof && self.in_len < self.inbuf.len() {
                let n = self.inner.read(&mut self.inbuf[self.in_len..])?;
                if n == 0 {
                    self.eof = true;
                }
                self.in_len += n;
            }
            self.out.clear();
            self.out_pos = 0;
            self.out.reserve(self.in_len * 2 + 16);
            let (res, read) = self.decoder.decode_to_string_without_replacement(
                &self.inbuf[..self.in_len],
                &mut self.out,
                self.eof,
            );
            if let encoding_rs::DecoderResult::Malformed(..) = res {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "bytes near offset {} are not valid GBK/GB18030",
                        self.offset + read as u64
                    ),
                ));
            }
            self.inbuf.copy_within(read..self.in_len, 0);
            self.in_len -= read;
            self.offset += read as u64;
            if self.eof && read == 0 && self.out.is_empty() {
                self.in_len = 0;
            }
        }
        let n = buf.len().min(self.out.len() - self.out_pos);
        buf[..n].copy_from_slice(&self.out.as_bytes()[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        Ok(n)
    }
}

/// Message of the error raised when a file that looked like UTF-8 turns out not to be;
/// the caller then reads it again as GB18030.
pub const NOT_UTF8: &str = "this line is not valid UTF-8 although the file started as UTF-8";

pub fn is_not_utf8(e: &Error) -> bool {
    matches!(e, Error::Input { message, .. } if message == NOT_UTF8)
}

/// Records, many at a time, as the reader thread hands them to the row checkers: all
/// fields in one text buffer (no allocation per field), with each record's line number
/// (1-based; for XLSX the sheet row) and the empty lines skipped just before it.
#[derive(Default)]
pub struct Batch {
    /// The fields' bytes as read; `decode` (on a checker thread) turns them into `text`.
    raw: Vec<u8>,
    text: String,
    /// End offset in `text` of every field.
    ends: Vec<usize>,
    /// Per record: the end of its fields in `ends`.
    recs: Vec<usize>,
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

    fn finish_record(&mut self, line: u64, blank_before: u64) {
        self.recs.push(self.ends.len());
        self.lines.push(line);
        self.blank_before.push(blank_before);
        self.overlong.push(0);
    }

    /// A record too long to keep: no fields, its size in `overlong`.
    fn overlong_record(&mut self, line: u64, blank_before: u64, bytes: u64) {
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
const MAX_FIELDS: usize = 1 << 16;

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

/// Hands the header and then batches of records to `send` (which returns false when
/// nobody listens any more: the reader then stops). `progress` counts the bytes (CSV)
/// or rows (XLSX) read so far. Always ends with `Fail` or `End`.
pub fn read_batches(
    path: &Path,
    file: &str,
    det: &Detected,
    sheet: Option<&str>,
    batch_records: usize,
    progress: &std::sync::atomic::AtomicU64,
    send: &mut dyn FnMut(Msg) -> bool,
) {
    let mut out = Batcher {
        send,
        batch_records,
        header_seen: false,
        batch: Batch::default(),
        open: true,
    };
    let res = match det.format {
        Format::Xlsx => read_xlsx(path, file, sheet, progress, &mut out).map(|()| 0),
        Format::Csv => (|| {
            let raw = File::open(path).map_err(|e| Error::io(path, e))?;
            let mut raw = BufReader::with_capacity(256 * 1024, raw);
            if det.encoding == Encoding::Utf8Bom {
                let mut bom = [0u8; 3];
                raw.read_exact(&mut bom).map_err(|e| Error::io(path, e))?;
            }
            let reader: Box<dyn Read + '_> = match det.encoding {
                Encoding::Gb18030 => Box::new(StrictGb18030::new(raw)),
                _ => Box::new(raw),
            };
            read_csv(reader, file, det, progress, &mut out)
        })(),
    };
    if !out.open {
        return;
    }
    match res {
        Ok(trailing) => {
            if out.flush() {
                let trailing_blank = if out.header_seen { trailing } else { 0 };
                (out.send)(Msg::End { trailing_blank });
            }
        }
        Err(e) => {
            if out.flush() {
                (out.send)(Msg::Fail(e));
            }
        }
    }
}

/// Sorts records into the header and batches.
struct Batcher<'s> {
    send: &'s mut dyn FnMut(Msg) -> bool,
    batch_records: usize,
    header_seen: bool,
    batch: Batch,
    /// False once `send` said nobody listens.
    open: bool,
}

impl Batcher<'_> {
    /// Sends the batch if it is full; false when the reader should stop.
    fn after_record(&mut self) -> bool {
        if self.batch.len() >= self.batch_records || self.batch.raw.len() >= BATCH_BYTES {
            return self.flush();
        }
        self.open
    }

    fn flush(&mut self) -> bool {
        if self.open && !self.batch.is_empty() {
            let b = std::mem::take(&mut self.batch);
            self.open = (self.send)(Msg::Batch(b));
        }
        self.open
    }

    /// A record given as text cells (XLSX, and the header).
    fn record(&mut self, line: u64, blank_before: u64, cells: &[String]) -> bool {
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

#[cfg(test)]
/// Records the offsets of line feeds in the bytes the CSV parser reads, so that each
/// record's line number is exact (the csv crate's own line positions drift after CRLF
/// and blank lines).
struct LineTracker<'p, R> {
    inner: R,
    offset: u64,
    newlines: std::rc::Rc<std::cell::RefCell<std::collections::VecDeque<u64>>>,
    progress: &'p std::sync::atomic::AtomicU64,
}

#[cfg(test)]
impl<R: Read> Read for LineTracker<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut nl = self.newlines.borrow_mut();
        for i in memchr::memchr_iter(b'\n', &buf[..n]) {
            nl.push_back(self.offset + i as u64);
        }
        self.offset += n as u64;
        self.progress
            .store(self.offset, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// Splits a CSV byte stream into records as the csv crate reads it (quotes, doubled
/// quotes, records ended by LF, CRLF or a lone CR, empty lines skipped), with each
/// record's first and last line. A line without a quote or a lone CR is split at the
/// delimiter directly (the common case, several times faster); any other record goes
/// through csv_core, the csv crate's own parser. `f` gets (first line, last line,
/// field bytes, field ends, 0 or the size of a record over MAX_RECORD_BYTES whose
/// fields are then empty) and returns false to stop. Memory stays bounded whatever
/// the input: a record over the limit is read on without being kept. Returns the
/// number of line feeds in the stream (for the empty lines after the last record).
fn split_records(
    mut input: impl Read,
    delimiter: u8,
    progress: &std::sync::atomic::AtomicU64,
    f: &mut dyn FnMut(u64, u64, &[u8], &[usize], u64) -> Result<bool>,
) -> std::io::Result<std::result::Result<u64, Error>> {
    let mut buf = vec![0u8; 1 << 20];
    let (mut lo, mut hi, mut eof, mut read) = (0usize, 0usize, false, 0u64);
    // Line number of buf[lo] (1-based); line feeds consumed so far.
    let mut line = 1u64;
    let mut fields: Vec<u8> = Vec::new();
    let mut ends: Vec<usize> = Vec::new();
    let mut core = csv_core::ReaderBuilder::new().delimiter(delimiter).build();
    // csv_core drops a UTF-8 BOM before the first record it is given; here that may be
    // in the middle of the file. An empty line read first turns that off (the BOM at
    // the very start is dropped below, as the csv crate does).
    // ok: the result of reading one empty line is always "no record yet".
    let _ = core.read_record(b"\n", &mut [0u8; 8], &mut [0usize; 4]);
    let mut at_start = true;
    let mut refill = |buf: &mut Vec<u8>,
                      lo: &mut usize,
                      hi: &mut usize,
                      eof: &mut bool|
     -> std::io::Result<()> {
        buf.copy_within(*lo..*hi, 0);
        *hi -= *lo;
        *lo = 0;
        if *hi == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let n = input.read(&mut buf[*hi..])?;
        *eof = n == 0;
        *hi += n;
        read += n as u64;
        progress.store(read, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    };
    loop {
        // A whole line in buf[lo..], or the end of the input, or a line too long to
        // hold (read on by csv_core below, without keeping it).
        let mut long_line = false;
        let nl = loop {
            if let Some(i) = memchr::memchr(b'\n', &buf[lo..hi]) {
                break Some(lo + i);
            }
            if eof {
                break None;
            }
            if hi - lo > MAX_RECORD_BYTES {
                long_line = true;
                break None;
            }
            refill(&mut buf, &mut lo, &mut hi, &mut eof)?;
        };
        if at_start {
            at_start = false;
            if buf[lo..hi].starts_with(b"\xEF\xBB\xBF") {
                lo += 3;
                continue;
            }
        }
        if lo == hi && eof {
            return Ok(Ok(line - 1));
        }
        let line_end = nl.unwrap_or(hi);
        let mut content = &buf[lo..line_end];
        if content.last() == Some(&b'\r') {
            content = &content[..content.len() - 1];
        }
        if !long_line && memchr::memchr2(b'"', b'\r', content).is_none() {
            if !content.is_empty() {
                fields.clear();
                ends.clear();
                let mut start = 0;
                for i in memchr::memchr_iter(delimiter, content) {
                    fields.extend_from_slice(&content[start..i]);
                    ends.push(fields.len());
                    start = i + 1;
                }
                fields.extend_from_slice(&content[start..]);
                ends.push(fields.len());
                match f(line, line, &fields, &ends, 0) {
                    Ok(true) => {}
                    Ok(false) => return Ok(Ok(line)),
                    Err(e) => return Ok(Err(e)),
                }
            }
            match nl {
                Some(nl) => {
                    lo = nl + 1;
                    line += 1;
                }
                None => lo = hi,
            }
            continue;
        }
        // Quotes or a lone CR: csv_core reads this record, across lines if need be.
        fields.clear();
        fields.resize(fields.capacity().max(1024), 0);
        ends.clear();
        ends.resize(ends.capacity().max(64), 0);
        let (mut outlen, mut nends, mut last_byte) = (0usize, 0usize, 0u8);
        // Over the limit: bytes and line breaks of the fields dropped so far.
        let mut dropped = 0u64;
        let start_line = line;
        let mut drop_fields = |outlen: &mut usize, nends: &mut usize| {
            dropped += *outlen as u64;
            *outlen = 0;
            *nends = 0;
        };
        loop {
            if lo == hi && !eof {
                refill(&mut buf, &mut lo, &mut hi, &mut eof)?;
                continue;
            }
            let (res, nin, nout, nend) =
                core.read_record(&buf[lo..hi], &mut fields[outlen..], &mut ends[nends..]);
            let consumed = &buf[lo..lo + nin];
            line += memchr::memchr_iter(b'\n', consumed).count() as u64;
            if let Some(&b) = consumed.last() {
                last_byte = b;
            }
            lo += nin;
            outlen += nout;
            nends += nend;
            match res {
                csv_core::ReadRecordResult::InputEmpty => {
                    if !eof {
                        refill(&mut buf, &mut lo, &mut hi, &mut eof)?;
                    }
                }
                csv_core::ReadRecordResult::OutputFull => {
                    if fields.len() >= MAX_RECORD_BYTES {
                        drop_fields(&mut outlen, &mut nends);
                    } else {
                        fields.resize(fields.len() * 2, 0);
                    }
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    if ends.len() >= MAX_FIELDS {
                        drop_fields(&mut outlen, &mut nends);
                    } else {
                        ends.resize(ends.len() * 2, 0);
                    }
                }
                csv_core::ReadRecordResult::Record => break,
                csv_core::ReadRecordResult::End => return Ok(Ok(line - 1)),
            }
        }
        // A CR ended the record: the LF of its CRLF belongs to it.
        if last_byte == b'\r' {
            if lo == hi && !eof {
                refill(&mut buf, &mut lo, &mut hi, &mut eof)?;
            }
            if lo < hi && buf[lo] == b'\n' {
                lo += 1;
                line += 1;
                last_byte = b'\n';
            }
        }
        // The record's last line; its first is that less the line breaks inside its
        // quoted fields (csv_core skips empty lines before a record).
        let last = if last_byte == b'\n' { line - 1 } else { line };
        let inner = memchr::memchr_iter(b'\n', &fields[..outlen]).count() as u64;
        let first = last.saturating_sub(inner).max(1);
        let res = if dropped > 0 {
            // A record over the limit starts where this pass started (the counts
            // above cannot tell a line break inside an unclosed quote at the end of
            // the file from the record's own terminator).
            f(
                start_line,
                last.max(start_line),
                &[],
                &[],
                dropped + outlen as u64,
            )
        } else {
            f(first, last, &fields[..outlen], &ends[..nends], 0)
        };
        match res {
            Ok(true) => {}
            Ok(false) => return Ok(Ok(line)),
            Err(e) => return Ok(Err(e)),
        }
    }
}

/// Returns the number of empty lines after the last record.
fn read_csv<'r>(
    reader: Box<dyn Read + 'r>,
    file: &str,
    det: &Detected,
    progress: &std::sync::atomic::AtomicU64,
    out: &mut Batcher<'_>,
) -> Result<u64> {
    let mut header: Vec<String> = Vec::new();
    let mut prev_last = 0u64;
    let total = split_records(
        reader,
        det.delimiter,
        progress,
        &mut |line, last_line, all, bounds, overlong| {
            let blank_before = line.saturating_sub(prev_last + 1);
            prev_last = last_line;
            if overlong > 0 {
                if !out.header_seen {
                    return Err(Error::input(
                        file,
                        line,
                        None,
                        format!(
                            "the header is {overlong} bytes long (at most {MAX_RECORD_BYTES}): not a delivery, or its line breaks are lost"
                        ),
                    ));
                }
                out.batch.overlong_record(line, blank_before, overlong);
                return Ok(out.after_record());
            }
            if out.header_seen {
                // The checker threads check the UTF-8 (`Batch::decode`).
                let base = out.batch.raw.len();
                out.batch.raw.extend_from_slice(all);
                out.batch.ends.extend(bounds.iter().map(|e| base + e));
                out.batch.finish_record(line, blank_before);
                return Ok(out.after_record());
            }
            let text =
                std::str::from_utf8(all).map_err(|_| Error::input(file, line, None, NOT_UTF8))?;
            if !bounds.iter().all(|&e| text.is_char_boundary(e)) {
                return Err(Error::input(file, line, None, NOT_UTF8));
            }
            header.clear();
            let mut start = 0;
            for &e in bounds {
                header.push(text[start..e].to_string());
                start = e;
            }
            Ok(out.record(line, blank_before, &header))
        },
    )
    .map_err(|io| {
        Error::file(
            file,
            format!("cannot be read near line {}: {io}", prev_last + 1),
        )
    })??;
    Ok(total.saturating_sub(prev_last))
}

/// The reader before `split_records` (the csv crate with a line tracker): the oracle
/// of the test that both give the same records and lines.
#[cfg(test)]
fn read_csv_reference<'r>(
    reader: Box<dyn Read + 'r>,
    file: &str,
    det: &Detected,
    progress: &std::sync::atomic::AtomicU64,
    out: &mut Batcher<'_>,
) -> Result<u64> {
    let newlines = std::rc::Rc::new(std::cell::RefCell::new(std::collections::VecDeque::new()));
    let tracker = LineTracker {
        inner: reader,
        offset: 0,
        newlines: newlines.clone(),
        progress,
    };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(det.delimiter)
        .buffer_capacity(256 * 1024)
        .from_reader(tracker);
    let mut rec = csv::ByteRecord::new();
    let mut header: Vec<String> = Vec::new();
    let mut bounds: Vec<usize> = Vec::new();
    let (mut passed, mut last_passed) = (0u64, None::<u64>);
    let mut prev_last = 0u64;
    loop {
        let more = rdr.read_byte_record(&mut rec).map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            match e.kind() {
                csv::ErrorKind::Io(io) => {
                    Error::file(file, format!("cannot be read near line {line}: {io}"))
                }
                _ => Error::file(file, format!("cannot be read near line {line}: {e}")),
            }
        })?;
        if !more {
            let total_lines = passed + newlines.borrow().len() as u64;
            return Ok(total_lines.saturating_sub(prev_last));
        }
        // The parser stops just after the record's terminator (LF, or the CR of CRLF),
        // or at the end of the file. Its last line is 1 + the line feeds before that
        // terminator; line breaks inside quoted fields move the start back.
        let end = rdr.position().byte();
        {
            let mut nl = newlines.borrow_mut();
            while let Some(&o) = nl.front() {
                if o >= end {
                    break;
                }
                nl.pop_front();
                passed += 1;
                last_passed = Some(o);
            }
        }
        let ends_with_lf = end > 0 && last_passed == Some(end - 1);
        let last_line = 1 + passed - ends_with_lf as u64;
        let all = rec.as_slice();
        let inner_breaks = if memchr::memchr(b'\n', all).is_some() {
            memchr::memchr_iter(b'\n', all).count() as u64
        } else {
            0
        };
        let line = last_line.saturating_sub(inner_breaks).max(1);
        let blank_before = line.saturating_sub(prev_last + 1);
        prev_last = last_line;
        // One UTF-8 check for the whole record; a field boundary inside a character
        // (a multi-byte character split by the delimiter) is caught by the boundaries.
        let text =
            std::str::from_utf8(all).map_err(|_| Error::input(file, line, None, NOT_UTF8))?;
        let base = out.batch.raw.len();
        bounds.clear();
        let mut ok = true;
        for i in 0..rec.len() {
            let r = rec.range(i).unwrap_or(0..0);
            ok &= text.is_char_boundary(r.end);
            bounds.push(r.end);
        }
        if !ok {
            return Err(Error::input(file, line, None, NOT_UTF8));
        }
        if !out.header_seen {
            header.clear();
            let mut start = 0;
            for &e in &bounds {
                header.push(text[start..e].to_string());
                start = e;
            }
            if !out.record(line, blank_before, &header) {
                return Ok(0);
            }
            continue;
        }
        out.batch.raw.extend_from_slice(text.as_bytes());
        out.batch.ends.extend(bounds.iter().map(|e| base + e));
        out.batch.finish_record(line, blank_before);
        if !out.after_record() {
            return Ok(0);
        }
    }
}

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

fn read_xlsx(
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Everything a reader hands on, as text: header, records with line numbers and
    /// empty lines before them, trailing empty lines or the error.
    fn run(new: bool, bytes: &[u8], delimiter: u8) -> Vec<String> {
        let det = Detected {
            format: Format::Csv,
            encoding: Encoding::Utf8,
            delimiter,
        };
        let mut seen = Vec::new();
        // The new reader leaves the UTF-8 check to the checkers (`Batch::decode`); the
        // one before failed at the line itself. Either way the records of the batch
        // with the bad line are not used, so neither side shows them.
        let mut failed = false;
        let mut send = |m: Msg| {
            if failed {
                return true;
            }
            match m {
                Msg::Header { line, cells } => seen.push(format!("H {line} {cells:?}")),
                Msg::Batch(mut b) => {
                    if let Err((_, e)) = b.decode("f.csv") {
                        failed = true;
                        seen.push(format!("E {e}"));
                        return true;
                    }
                    for r in 0..b.len() {
                        seen.push(format!(
                            "R {} {} {:?}",
                            b.lines[r],
                            b.blank_before[r],
                            b.fields(r)
                        ))
                    }
                }
                _ => {}
            }
            true
        };
        let progress = std::sync::atomic::AtomicU64::new(0);
        let mut out = Batcher {
            send: &mut send,
            batch_records: 2,
            header_seen: false,
            batch: Batch::default(),
            open: true,
        };
        let input: Box<dyn Read> = Box::new(bytes);
        let res = if new {
            read_csv(input, "f.csv", &det, &progress, &mut out)
        } else {
            read_csv_reference(input, "f.csv", &det, &progress, &mut out)
        };
        let end = match res {
            Ok(t) => {
                out.flush();
                format!("T {t}")
            }
            Err(e) => format!("E {e}"),
        };
        drop(out);
        if !failed {
            seen.push(end);
        }
        seen
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]
        /// The fast splitter gives exactly what the csv crate gives: fields, line
        /// numbers, skipped empty lines, and where a non-UTF-8 line is.
        #[test]
        fn the_fast_splitter_reads_what_the_csv_crate_reads(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "a", "bc", "中", ",", ",", "\t", "\"", "\"\"", "\r", "\n", "\n", "\r\n", " ", "\u{FEFF}", "\u{80}",
                ]),
                0..60,
            ),
            tab in any::<bool>(),
            bad in proptest::option::of(0usize..60),
        ) {
            let mut bytes: Vec<u8> = parts.concat().into_bytes();
            if let Some(at) = bad {
                let at = at.min(bytes.len());
                bytes.insert(at, 0xFF);
            }
            let delimiter = if tab { b'\t' } else { b',' };
            prop_assert_eq!(run(true, &bytes, delimiter), run(false, &bytes, delimiter));
        }
    }

    #[test]
    fn lines_count_crlf_quoted_breaks_and_empty_lines() {
        let text = "h1,h2\r\n\r\na,\"x\r\ny\"\r\n\r\n\r\nb,c\rd,e\n\n";
        let got = run(true, text.as_bytes(), b',');
        assert_eq!(got, run(false, text.as_bytes(), b','));
        assert_eq!(got[0], "H 1 [\"h1\", \"h2\"]");
        assert_eq!(got[1], "R 3 1 [\"a\", \"x\\r\\ny\"]");
        assert_eq!(got[2], "R 7 2 [\"b\", \"c\"]");
    }
}
