//! Splitting a CSV byte stream into records with exact line numbers (quotes, CRLF,
//! lone CR, empty lines), with the record-length limit that keeps memory bounded.

use std::io::Read;

use crate::error::{Error, Result};

use super::batch::{Batcher, MAX_FIELDS, MAX_RECORD_BYTES};
use super::detect::{Detected, NOT_UTF8};

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
pub(crate) fn read_csv<'r>(
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

#[cfg(test)]
mod tests {
    use super::super::batch::{Batch, Msg};
    use super::*;
    use crate::ingest::detect::{Encoding, Format};
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
