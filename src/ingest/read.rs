//! Reading a delivery: detect the format (CSV or XLSX), the encoding (UTF-8, UTF-8 with
//! BOM, GBK/GB18030) and the delimiter (comma or tab), then hand out rows of text cells
//! with their line numbers, in batches. CSV is streamed; nothing is decoded into
//! mojibake. Detection and decoding are in `detect`, CSV records in `split`, XLSX
//! rows in `xlsx`; this module batches what they read for the row checkers.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use crate::error::Error;

use super::batch::Batcher;
pub use super::batch::{BATCH_RECORDS, Batch, MAX_RECORD_BYTES, Msg};
use super::detect::StrictGb18030;
pub use super::detect::{Detected, Encoding, Format, NOT_UTF8, detect, is_not_utf8};
use super::split::read_csv;
use super::xlsx::read_xlsx;

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
