//! The overflow spool: when the writer's channel is full (or the database refuses a
//! batch), events are appended to a file (one JSON line each) instead of being dropped,
//! up to a size limit; the writer drains it into the database once it can.
//!
//! Appending never waits for the database. A drain first moves the file aside
//! (`<spool>.draining`, a rename under the append lock, which is all appends ever wait
//! for), then writes it in batches of [`crate::BATCH`] events with no lock held, noting
//! after each batch how far it got (`<spool>.draining.offset`), so a failed or
//! interrupted drain resumes where it stopped instead of writing a batch twice.
//!
//! Each spool belongs to one process: it holds an advisory lock on `<spool>.lock` for its
//! life. A second instance on the same path (two replicas on one host, or the new state
//! of a config reload while the old one still runs) uses the first free of
//! `<spool>.1` … `<spool>.15` instead, and never reads or truncates a spool in use.
//! Spools whose owner has gone (their lock is free) are adopted: drained at start by the
//! next instance.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::LedgerError;
use crate::event::UsageEvent;

/// How many spool files may share one configured path (the path itself, then `.1` …).
pub(crate) const SPOOL_SLOTS: usize = 16;

/// A bounded append-only file of events waiting for the database.
#[derive(Debug)]
pub(crate) struct Spool {
    /// Held for the spool's life: the advisory lock on `<path>.lock`.
    _lock: File,
    path: PathBuf,
    draining: PathBuf,
    offset: PathBuf,
    max_bytes: u64,
    file: Mutex<Option<BufWriter<File>>>,
    /// One drain at a time.
    drain: Mutex<()>,
    /// Bytes appended since the last move aside.
    bytes: AtomicU64,
    /// Bytes of the file moved aside not yet written to the database.
    draining_bytes: AtomicU64,
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// The `slot`-th spool file of the configured path `base`.
fn slot_path(base: &Path, slot: usize) -> PathBuf {
    if slot == 0 {
        base.to_path_buf()
    } else {
        with_suffix(base, &format!(".{slot}"))
    }
}

/// Take the lock of spool file `path`; `None` if another instance holds it.
fn try_lock(path: &Path) -> Result<Option<File>, LedgerError> {
    let lock_path = with_suffix(path, ".lock");
    let io = |source| LedgerError::Io {
        path: lock_path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
    }
}

impl Spool {
    /// The spool of the configured path `base` for this instance: `base` itself unless
    /// another instance holds it, else the first free `base.N`. An error names `base`
    /// when every slot is taken.
    pub(crate) fn open(base: &Path, max_bytes: u64) -> Result<Self, LedgerError> {
        for slot in 0..SPOOL_SLOTS {
            let path = slot_path(base, slot);
            if let Some(lock) = try_lock(&path)? {
                if slot > 0 {
                    tracing::info!(spool = %path.display(), busy = %base.display(),
                        "the usage spool is in use by another instance; using another file");
                }
                return Ok(Spool::locked(lock, path, max_bytes));
            }
        }
        Err(LedgerError::Io {
            path: base.display().to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                format!(
                    "the usage spool and its {} alternates are all in use by other instances (each holds <spool>.lock); give this one its own [usage] path",
                    SPOOL_SLOTS - 1
                ),
            ),
        })
    }

    /// Drain, into `write`, the spools of `base` whose instance has gone (their lock is
    /// free). Returns how many events were written.
    pub(crate) fn adopt_orphans(
        &self,
        base: &Path,
        batch: usize,
        mut write: impl FnMut(&[UsageEvent]) -> Result<(), LedgerError>,
    ) -> Result<usize, LedgerError> {
        let mut written = 0;
        for slot in 0..SPOOL_SLOTS {
            let path = slot_path(base, slot);
            if path == self.path {
                continue;
            }
            let draining = with_suffix(&path, ".draining");
            if file_len(&path) == 0 && file_len(&draining) == 0 {
                continue;
            }
            if let Some(lock) = try_lock(&path)? {
                let orphan = Spool::locked(lock, path, self.max_bytes);
                let n = orphan.drain_into(batch, &mut write)?;
                if n > 0 {
                    tracing::info!(spool = %orphan.path.display(), events = n,
                        "usage events recovered from a spool left by another instance");
                }
                written += n;
            }
        }
        Ok(written)
    }

    /// Where this instance spools.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn locked(lock: File, path: PathBuf, max_bytes: u64) -> Self {
        let draining = with_suffix(&path, ".draining");
        let offset = with_suffix(&path, ".draining.offset");
        Spool {
            _lock: lock,
            bytes: AtomicU64::new(file_len(&path)),
            draining_bytes: AtomicU64::new(file_len(&draining)),
            path,
            draining,
            offset,
            max_bytes,
            file: Mutex::new(None),
            drain: Mutex::new(()),
        }
    }

    fn io(&self, path: &Path, source: std::io::Error) -> LedgerError {
        LedgerError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    /// Append one event; `Ok(false)` when the spool is full.
    pub(crate) fn push(&self, event: &UsageEvent) -> Result<bool, LedgerError> {
        let mut line = serde_json::to_vec(event).map_err(|e| self.io(&self.path, e.into()))?;
        line.push(b'\n');
        let len = line.len() as u64;
        let used = self
            .bytes
            .load(Ordering::Acquire)
            .saturating_add(self.draining_bytes.load(Ordering::Acquire));
        if used.saturating_add(len) > self.max_bytes {
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
                .map_err(|e| self.io(&self.path, e))?;
            *guard = Some(BufWriter::new(f));
        }
        if let Some(w) = guard.as_mut() {
            w.write_all(&line).map_err(|e| self.io(&self.path, e))?;
        }
        self.bytes.fetch_add(len, Ordering::AcqRel);
        Ok(true)
    }

    /// Whether anything waits in the spool.
    pub(crate) fn pending(&self) -> bool {
        self.bytes.load(Ordering::Acquire) > 0 || self.draining_bytes.load(Ordering::Acquire) > 0
    }

    /// Move the appended events aside (the only step appends wait for).
    fn move_aside(&self) -> Result<(), LedgerError> {
        let mut guard = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(w) = guard.as_mut() {
            w.flush().map_err(|e| self.io(&self.path, e))?;
        }
        *guard = None;
        match std::fs::rename(&self.path, &self.draining) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(self.io(&self.path, e)),
        }
        let moved = self.bytes.swap(0, Ordering::AcqRel);
        self.draining_bytes.store(moved, Ordering::Release);
        Ok(())
    }

    /// Hand every spooled event (also those left by an earlier run) to `write`, in
    /// batches of at most `batch`; a batch is only taken off the spool once `write`
    /// succeeds, so a failed write loses nothing. Appends go on meanwhile. Returns how
    /// many events were written.
    pub(crate) fn drain_into(
        &self,
        batch: usize,
        mut write: impl FnMut(&[UsageEvent]) -> Result<(), LedgerError>,
    ) -> Result<usize, LedgerError> {
        let _one = self
            .drain
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut written = 0;
        // What an earlier drain left, then what was appended since.
        for _ in 0..2 {
            if !self.draining.exists() {
                self.move_aside()?;
            }
            written += self.drain_file(batch.max(1), &mut write)?;
            if self.bytes.load(Ordering::Acquire) == 0 {
                break;
            }
        }
        Ok(written)
    }

    /// Write `<spool>.draining` from the offset a previous attempt reached; remove it
    /// once all of it is in the database.
    fn drain_file(
        &self,
        batch: usize,
        write: &mut impl FnMut(&[UsageEvent]) -> Result<(), LedgerError>,
    ) -> Result<usize, LedgerError> {
        let mut file = match File::open(&self.draining) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.draining_bytes.store(0, Ordering::Release);
                return Ok(0);
            }
            Err(e) => return Err(self.io(&self.draining, e)),
        };
        let len = file.metadata().map_or(0, |m| m.len());
        let mut done = std::fs::read_to_string(&self.offset)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .filter(|&o| o <= len)
            .unwrap_or(0);
        file.seek(SeekFrom::Start(done))
            .map_err(|e| self.io(&self.draining, e))?;
        let mut reader = BufReader::new(file);
        let mut events = Vec::with_capacity(batch);
        let mut batch_bytes = 0u64;
        let mut written = 0;
        let mut line = String::new();
        loop {
            line.clear();
            let n = reader
                .read_line(&mut line)
                .map_err(|e| self.io(&self.draining, e))?;
            batch_bytes = batch_bytes.saturating_add(n as u64);
            if n > 0 {
                match serde_json::from_str::<UsageEvent>(line.trim_end()) {
                    Ok(ev) => events.push(ev),
                    // A line cut by a crash mid-write: the rest of the file is still good.
                    Err(e) if !line.trim().is_empty() => {
                        tracing::warn!(path = %self.draining.display(), error = %e, "skipped a damaged spool line");
                    }
                    Err(_) => {}
                }
            }
            if events.len() >= batch || (n == 0 && !events.is_empty()) {
                write(&events)?;
                written += events.len();
                events.clear();
                done = done.saturating_add(batch_bytes);
                batch_bytes = 0;
                self.draining_bytes
                    .store(len.saturating_sub(done), Ordering::Release);
                // Where to resume if the next batch fails or the process dies.
                if let Err(e) = std::fs::write(&self.offset, done.to_string()) {
                    tracing::warn!(path = %self.offset.display(), error = %e, "cannot note the spool's drain offset");
                }
            }
            if n == 0 {
                break;
            }
        }
        drop(reader);
        std::fs::remove_file(&self.draining).map_err(|e| self.io(&self.draining, e))?;
        let _ = std::fs::remove_file(&self.offset);
        self.draining_bytes.store(0, Ordering::Release);
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn event(n: u64) -> UsageEvent {
        UsageEvent::sample(n)
    }

    #[test]
    fn a_failed_drain_resumes_after_the_last_written_batch() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(&dir.path().join("s"), 1 << 20).unwrap();
        for n in 0..10 {
            assert!(spool.push(&event(n)).unwrap());
        }
        let mut got = Vec::new();
        let mut calls = 0;
        let failed = spool.drain_into(4, |evs| {
            calls += 1;
            if calls == 2 {
                return Err(LedgerError::Writer("down".into()));
            }
            got.extend(evs.iter().map(|e| e.prompt_tokens));
            Ok(())
        });
        assert!(failed.is_err());
        assert_eq!(got, [0, 1, 2, 3]);
        assert!(spool.pending());
        // Appends go on while a drain is pending; the next drain (even by a new
        // process) writes the rest once, then the new events.
        assert!(spool.push(&event(10)).unwrap());
        drop(spool);
        let spool = Spool::open(&dir.path().join("s"), 1 << 20).unwrap();
        let n = spool
            .drain_into(4, |evs| {
                got.extend(evs.iter().map(|e| e.prompt_tokens));
                Ok(())
            })
            .unwrap();
        assert_eq!(n, 7);
        assert_eq!(got, (0..=10).collect::<Vec<_>>());
        assert!(!spool.pending());
        assert!(!dir.path().join("s.draining").exists());
    }

    #[test]
    fn appends_do_not_wait_for_a_slow_drain() {
        let dir = tempfile::tempdir().unwrap();
        let spool = std::sync::Arc::new(Spool::open(&dir.path().join("s"), 1 << 20).unwrap());
        assert!(spool.push(&event(0)).unwrap());
        let (entered_tx, entered_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let s = std::sync::Arc::clone(&spool);
        let drain = std::thread::spawn(move || {
            let mut first = true;
            s.drain_into(8, |_| {
                if std::mem::take(&mut first) {
                    entered_tx.send(()).unwrap();
                    // The database is slow: the first write waits here.
                    release_rx.recv().unwrap();
                }
                Ok(())
            })
        });
        entered_rx.recv().unwrap();
        // Meanwhile appends still go through (they would deadlock the test otherwise).
        for n in 1..100 {
            assert!(spool.push(&event(n)).unwrap());
        }
        release_tx.send(()).unwrap();
        assert_eq!(drain.join().unwrap().unwrap(), 100);
    }

    #[test]
    fn the_size_limit_counts_what_is_being_drained() {
        let dir = tempfile::tempdir().unwrap();
        let line = serde_json::to_vec(&event(1)).unwrap().len() as u64 + 1;
        let spool = Spool::open(&dir.path().join("s"), 3 * line).unwrap();
        for n in 0..3 {
            assert!(spool.push(&event(n)).unwrap());
        }
        assert!(!spool.push(&event(1)).unwrap(), "full");
        let _ = spool.drain_into(8, |_| Err(LedgerError::Writer("down".into())));
        assert!(
            !spool.push(&event(1)).unwrap(),
            "still full while not drained"
        );
        spool.drain_into(8, |_| Ok(())).unwrap();
        assert!(spool.push(&event(1)).unwrap());
    }

    #[test]
    fn a_damaged_line_is_skipped_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let mut f = File::create(&path).unwrap();
        let good = serde_json::to_string(&event(7)).unwrap();
        writeln!(f, "{good}\n{{\"ts_ms\":1\n{good}").unwrap();
        drop(f);
        let spool = Spool::open(&path, 1 << 20).unwrap();
        let mut n = 0;
        spool
            .drain_into(8, |evs| {
                n += evs.len();
                Ok(())
            })
            .unwrap();
        assert_eq!(n, 2);
        let mut rest = String::new();
        let _ = File::open(dir.path().join("s")).map(|mut f| f.read_to_string(&mut rest));
        assert!(rest.is_empty());
    }
}
