//! The overflow spool: when the writer's channel is full, events are appended to a file
//! (one JSON line each) instead of being dropped, up to a size limit; the writer drains
//! it into the database once it has caught up.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Seek, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::LedgerError;
use crate::event::UsageEvent;

/// A bounded append-only file of events waiting for the database.
#[derive(Debug)]
pub(crate) struct Spool {
    path: PathBuf,
    max_bytes: u64,
    file: Mutex<Option<BufWriter<File>>>,
    /// Bytes written since the last drain.
    bytes: AtomicU64,
    /// Events written since the last drain.
    pending: AtomicU64,
}

impl Spool {
    pub(crate) fn new(path: PathBuf, max_bytes: u64) -> Self {
        Spool {
            path,
            max_bytes,
            file: Mutex::new(None),
            bytes: AtomicU64::new(0),
            pending: AtomicU64::new(0),
        }
    }

    fn io(&self, source: std::io::Error) -> LedgerError {
        LedgerError::Io {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// Append one event; `Ok(false)` when the spool is full.
    pub(crate) fn push(&self, event: &UsageEvent) -> Result<bool, LedgerError> {
        let mut line = serde_json::to_vec(event).map_err(|e| self.io(e.into()))?;
        line.push(b'\n');
        let len = line.len() as u64;
        if self.bytes.load(Ordering::Acquire) + len > self.max_bytes {
            return Ok(false);
        }
        let mut guard = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if guard.is_none() {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(|e| self.io(e))?;
            *guard = Some(BufWriter::new(f));
        }
        if let Some(w) = guard.as_mut() {
            w.write_all(&line).map_err(|e| self.io(e))?;
        }
        self.bytes.fetch_add(len, Ordering::AcqRel);
        self.pending.fetch_add(1, Ordering::AcqRel);
        Ok(true)
    }

    /// Events waiting in the spool.
    pub(crate) fn pending(&self) -> u64 {
        self.pending.load(Ordering::Acquire)
    }

    /// Hand every spooled event (also those left by an earlier run) to `write`; only if
    /// it succeeds is the file emptied, so a failed write loses nothing. Pushes wait
    /// meanwhile.
    pub(crate) fn drain_into(
        &self,
        write: impl FnOnce(&[UsageEvent]) -> Result<(), LedgerError>,
    ) -> Result<usize, LedgerError> {
        let mut guard = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(w) = guard.as_mut() {
            w.flush().map_err(|e| self.io(e))?;
        }
        *guard = None;
        let mut file = match OpenOptions::new().read(true).write(true).open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(self.io(e)),
        };
        let mut events = Vec::new();
        for line in BufReader::new(&mut file).lines() {
            let line = line.map_err(|e| self.io(e))?;
            match serde_json::from_str::<UsageEvent>(&line) {
                Ok(ev) => events.push(ev),
                // A line cut by a crash mid-write: the rest of the file is still good.
                Err(e) => {
                    tracing::warn!(path = %self.path.display(), error = %e, "skipped a damaged spool line")
                }
            }
        }
        write(&events)?;
        file.set_len(0).map_err(|e| self.io(e))?;
        file.rewind().map_err(|e| self.io(e))?;
        self.bytes.store(0, Ordering::Release);
        self.pending.store(0, Ordering::Release);
        Ok(events.len())
    }
}
