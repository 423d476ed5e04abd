//! The side pass: the delivery's SHA-256 and a synced copy of the original, on a
//! thread of their own beside the parsing.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

use std::io::Read as _;

/// A second pass over the delivery on its own thread, beside the parsing: its SHA-256
/// (when not known yet) and a copy of the original, synced, under a temporary name in
/// the store (renamed to its content-addressed name at the commit). Dropped unfinished,
/// it stops and removes the copy.
pub(crate) struct SidePass {
    pub(crate) handle: Option<std::thread::JoinHandle<Result<SideResult>>>,
    pub(crate) stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

pub(crate) type SideResult = (Option<String>, Option<tempfile::NamedTempFile>);

impl SidePass {
    pub(crate) fn start(
        from: &Path,
        copy_to_dir: Option<std::path::PathBuf>,
        hash: bool,
    ) -> SidePass {
        let from = from.to_path_buf();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let handle = std::thread::spawn(move || -> Result<SideResult> {
            let tmp = match &copy_to_dir {
                Some(d) => Some(crate::fsutil::temp_beside(&d.join("incoming"))?),
                None => None,
            };
            let mut sha = hash.then(Sha256::new);
            if tmp.is_none() && sha.is_none() {
                return Ok((None, None));
            }
            // The copy in the kernel (copy_file_range: no pass through this process), 64 MiB
            // at a time so that a refused delivery does not wait for the whole copy.
            if let Some(t) = &tmp {
                let src = std::fs::File::open(&from).map_err(|e| Error::io(&from, e))?;
                let mut dst = t.as_file();
                loop {
                    if stopped.load(std::sync::atomic::Ordering::Relaxed) {
                        return Err(Error::Invalid("stopped".into()));
                    }
                    let n = std::io::copy(&mut (&src).take(64 << 20), &mut dst)
                        .map_err(|e| Error::io(t.path(), e))?;
                    if n == 0 {
                        break;
                    }
                }
                t.as_file().sync_all().map_err(|e| Error::io(t.path(), e))?;
            }
            if let Some(h) = &mut sha {
                let mut f = std::fs::File::open(&from).map_err(|e| Error::io(&from, e))?;
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    if stopped.load(std::sync::atomic::Ordering::Relaxed) {
                        return Err(Error::Invalid("stopped".into()));
                    }
                    let n = f.read(&mut buf).map_err(|e| Error::io(&from, e))?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                }
            }
            Ok((sha.map(|h| hex::encode(h.finalize())), tmp))
        });
        SidePass {
            handle: Some(handle),
            stop,
        }
    }

    /// The hash (if asked for) and the synced copy (if asked for).
    pub(crate) fn finish(mut self) -> Result<SideResult> {
        let Some(h) = self.handle.take() else {
            return Ok((None, None));
        };
        h.join().map_err(|_| {
            Error::Invalid("the pass hashing and copying the original stopped".into())
        })?
    }
}

impl Drop for SidePass {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
            // ok: dropped unfinished means the ingest failed already; that error is
            // the one reported, and the stopped pass removes its own copy.
            let _ = h.join();
        }
    }
}
