//! Detecting a delivery's format, encoding and delimiter, and decoding GB18030 strictly
//! (a byte that is no character is an error, never a replacement character).

use std::fs::File;
use std::io::Read;
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
pub(crate) struct StrictGb18030<R> {
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
    pub(crate) fn new(inner: R) -> Self {
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
