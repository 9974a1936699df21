//! The usage log's front (a non-blocking [`UsageLog::record`]) and its writer thread.
//!
//! Recording a request never wakes the writer: the event joins a bounded queue under a
//! short lock, and the writer drains the queue on its own clock (every
//! [`FLUSH_INTERVAL`]), or early when a whole [`BATCH`] is waiting, a flush is asked for,
//! or the log is dropped. At 2,000 requests a second that is about four wake-ups a
//! second instead of one per request.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use metrics::counter;
use serde::Serialize;

use crate::error::LedgerError;
use crate::event::UsageEvent;
use crate::spool::Spool;
use crate::store::SqliteStore;
use crate::usage_store::UsageStore;

/// Events the channel holds before they overflow to the spool.
pub const CHANNEL_CAPACITY: usize = 8192;
/// Most events written per transaction.
pub const BATCH: usize = 512;
/// Longest an event waits in the writer before its batch is written.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// Largest spool file; past it events are dropped (and counted).
pub const SPOOL_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// What the front hands the writer.
#[derive(Debug, Default)]
struct Queue {
    events: Vec<UsageEvent>,
    /// Flushes asked for: each is answered once everything queued before it is written.
    flushes: Vec<mpsc::Sender<Result<(), String>>>,
    /// The log was dropped: write what is left, then stop.
    closed: bool,
}

/// The queue and the writer's alarm clock.
#[derive(Debug, Default)]
struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    /// Most events the queue holds; more go to the spool.
    capacity: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Debug, Default)]
struct Counters {
    written: AtomicU64,
    spooled: AtomicU64,
    dropped: AtomicU64,
    batches: AtomicU64,
    rounds: AtomicU64,
}

/// What the writer has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WriterStats {
    /// Events in the database.
    pub written: u64,
    /// Events that went through the spool.
    pub spooled: u64,
    /// Events lost because the spool was full too.
    pub dropped: u64,
    /// Transactions written.
    pub batches: u64,
    /// Times the writer woke to take the queue.
    pub rounds: u64,
}

/// The usage log: record events without blocking; a thread writes them in batches.
#[derive(Debug)]
pub struct UsageLog {
    shared: Arc<Shared>,
    spool: Arc<Spool>,
    counters: Arc<Counters>,
    describe: String,
    /// The writer thread, handed to [`DRAINING`] when the log is dropped.
    writer: Option<JoinHandle<()>>,
}

/// Writer threads of logs that were dropped: each writes what it still holds, then
/// ends. [`wait_for_dropped_logs`] lets a process wait for them before it exits (a log
/// dropped with the last request of a replaced config, say).
static DRAINING: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());

impl Drop for UsageLog {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
        if let Some(writer) = self.writer.take() {
            let mut draining = DRAINING.lock().unwrap_or_else(PoisonError::into_inner);
            draining.retain(|w| !w.is_finished());
            draining.push(writer);
        }
    }
}

/// Wait, at most `timeout`, until the writers of every dropped [`UsageLog`] have written
/// what they held; whether they all have.
pub fn wait_for_dropped_logs(timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let mut draining = DRAINING.lock().unwrap_or_else(PoisonError::into_inner);
        draining.retain(|w| !w.is_finished());
        if draining.is_empty() {
            return true;
        }
        drop(draining);
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

impl UsageLog {
    /// Open the SQLite database at `path` (its spool is `<path>.spool`), write anything
    /// an earlier run left in the spool, and start the writer thread.
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        Self::open_with(path, CHANNEL_CAPACITY, SPOOL_MAX_BYTES)
    }

    /// [`UsageLog::open`] with explicit bounds (tests use tiny ones).
    pub fn open_with(
        path: &Path,
        channel: usize,
        spool_max_bytes: u64,
    ) -> Result<Self, LedgerError> {
        let store = SqliteStore::open(path)?;
        let mut spool_path = path.as_os_str().to_owned();
        spool_path.push(".spool");
        Self::with_store(
            Box::new(store),
            &PathBuf::from(spool_path),
            channel,
            spool_max_bytes,
        )
    }

    /// A log writing to PostgreSQL at `url`, table `table`, spooling to `spool` when the
    /// writer falls behind or the database is away.
    pub fn open_postgres(url: &str, table: &str, spool: &Path) -> Result<Self, LedgerError> {
        Self::open_postgres_with(
            url,
            table,
            spool,
            &crate::PgOptions::default(),
            CHANNEL_CAPACITY,
        )
    }

    /// [`UsageLog::open_postgres`] with explicit time limits (and TLS settings) and a
    /// channel of `channel` events.
    pub fn open_postgres_with(
        url: &str,
        table: &str,
        spool: &Path,
        options: &crate::PgOptions,
        channel: usize,
    ) -> Result<Self, LedgerError> {
        let store = crate::pg::PgStore::connect_with(url, table, options)?;
        Self::with_store(Box::new(store), spool, channel, SPOOL_MAX_BYTES)
    }

    /// A log over any store.
    pub fn with_store(
        mut store: Box<dyn UsageStore>,
        spool_path: &Path,
        channel: usize,
        spool_max_bytes: u64,
    ) -> Result<Self, LedgerError> {
        let spool = Arc::new(Spool::open(spool_path, spool_max_bytes)?);
        let leftover = spool.drain_into(BATCH, |evs| store.insert(evs))?
            + spool.adopt_orphans(spool_path, BATCH, |evs| store.insert(evs))?;
        if leftover > 0 {
            tracing::info!(events = leftover, "usage events recovered from the spool");
        }
        let counters = Arc::new(Counters::default());
        let describe = store.describe();
        let shared = Arc::new(Shared {
            capacity: channel.max(1),
            ..Shared::default()
        });
        let writer = Writer {
            store,
            shared: Arc::clone(&shared),
            spool: Arc::clone(&spool),
            counters: Arc::clone(&counters),
            quiet_until: None,
        };
        let writer = std::thread::Builder::new()
            .name("usage-writer".into())
            .spawn(move || writer.run())
            .map_err(|e| LedgerError::Writer(e.to_string()))?;
        Ok(UsageLog {
            shared,
            spool,
            counters,
            describe,
            writer: Some(writer),
        })
    }

    /// Where the log goes, for people.
    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// The spool file this instance uses: the configured one, or `<spool>.N` when
    /// another instance holds that.
    pub fn spool_path(&self) -> &Path {
        self.spool.path()
    }

    /// Hand `event` to the writer. Never blocks on the database and never wakes the
    /// writer (but once a batch is waiting): if the queue is full, the event goes to the
    /// spool file instead.
    pub fn record(&self, event: UsageEvent) {
        let event = {
            let mut q = self.shared.lock();
            if q.closed || q.events.len() >= self.shared.capacity {
                event
            } else {
                q.events.push(event);
                if q.events.len() == BATCH {
                    self.shared.wake.notify_one();
                }
                return;
            }
        };
        match self.spool.push(&event) {
            Ok(true) => {
                self.counters.spooled.fetch_add(1, Ordering::Relaxed);
                counter!("switchyard_usage_spooled_total").increment(1);
            }
            Ok(false) => self.dropped("the spool is full"),
            Err(e) => self.dropped(&e.to_string()),
        }
    }

    fn dropped(&self, why: &str) {
        self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        counter!("switchyard_usage_dropped_total").increment(1);
        tracing::error!(reason = why, "usage event dropped");
    }

    /// Wait until everything recorded so far is in the database (at most `timeout`).
    pub fn flush(&self, timeout: Duration) -> Result<(), LedgerError> {
        let (ack_tx, ack_rx) = mpsc::channel();
        {
            let mut q = self.shared.lock();
            if q.closed {
                return Err(LedgerError::Writer("the writer has stopped".into()));
            }
            q.flushes.push(ack_tx);
        }
        self.shared.wake.notify_one();
        match ack_rx.recv_timeout(timeout) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(LedgerError::Writer(e)),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(LedgerError::Writer("the writer has stopped".into()))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => Err(LedgerError::Writer(format!(
                "not flushed within {}s (the writer is behind)",
                timeout.as_secs_f64()
            ))),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> WriterStats {
        let c = &self.counters;
        WriterStats {
            written: c.written.load(Ordering::Relaxed),
            spooled: c.spooled.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            batches: c.batches.load(Ordering::Relaxed),
            rounds: c.rounds.load(Ordering::Relaxed),
        }
    }
}

/// While the database stays away, its errors are logged at most this often.
const ERROR_LOG_EVERY: Duration = Duration::from_secs(30);

struct Writer {
    /// Errors are not logged again before this (the database is away; a line every
    /// batch would flood the log).
    quiet_until: Option<Instant>,
    store: Box<dyn UsageStore>,
    shared: Arc<Shared>,
    spool: Arc<Spool>,
    counters: Arc<Counters>,
}

impl Writer {
    fn run(mut self) {
        let mut taken: Vec<UsageEvent> = Vec::with_capacity(BATCH);
        loop {
            let (flushes, closed) = self.take(&mut taken);
            for batch in taken.chunks(BATCH) {
                self.write(batch);
            }
            taken.clear();
            if self.spool.pending() || !flushes.is_empty() || closed {
                self.drain_spool();
            }
            for ack in flushes {
                let _ = ack.send(Ok(()));
            }
            if closed {
                return;
            }
        }
    }

    /// Wait for the next round — [`FLUSH_INTERVAL`], a whole batch, a flush or the end —
    /// and take what is queued (into `into`, reusing its allocation), with the flushes
    /// asked for and whether the log was dropped.
    fn take(&self, into: &mut Vec<UsageEvent>) -> (Vec<mpsc::Sender<Result<(), String>>>, bool) {
        let mut q = self.shared.lock();
        let ready = |q: &Queue| q.events.len() >= BATCH || !q.flushes.is_empty() || q.closed;
        if !ready(&q) {
            q = self
                .shared
                .wake
                .wait_timeout_while(q, FLUSH_INTERVAL, |q| !ready(q))
                .map(|(q, _)| q)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        std::mem::swap(&mut q.events, into);
        self.counters.rounds.fetch_add(1, Ordering::Relaxed);
        (std::mem::take(&mut q.flushes), q.closed)
    }

    /// Write the batch in one transaction; if the database refuses, keep the events in
    /// the spool for a later try.
    fn write(&mut self, batch: &[UsageEvent]) {
        if batch.is_empty() {
            return;
        }
        match self.store.insert(batch) {
            Ok(()) => {
                self.quiet_until = None;
                self.counters
                    .written
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                self.counters.batches.fetch_add(1, Ordering::Relaxed);
                counter!("switchyard_usage_written_total").increment(batch.len() as u64);
            }
            Err(e) => {
                if self.may_log() {
                    tracing::error!(error = %e, events = batch.len(), "usage batch not written; spooling it (repeats logged every 30 s at most)");
                }
                for ev in batch {
                    if !matches!(self.spool.push(ev), Ok(true)) {
                        self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                        counter!("switchyard_usage_dropped_total").increment(1);
                    }
                }
            }
        }
    }

    /// Whether an error may be logged now (not within [`ERROR_LOG_EVERY`] of the last).
    fn may_log(&mut self) -> bool {
        let now = Instant::now();
        if self.quiet_until.is_some_and(|t| now < t) {
            return false;
        }
        self.quiet_until = now.checked_add(ERROR_LOG_EVERY);
        true
    }

    fn drain_spool(&mut self) {
        let store = &mut self.store;
        match self.spool.drain_into(BATCH, |evs| store.insert(evs)) {
            Ok(0) => {}
            Ok(n) => {
                self.counters.written.fetch_add(n as u64, Ordering::Relaxed);
                counter!("switchyard_usage_written_total").increment(n as u64);
            }
            Err(e) => {
                if self.may_log() {
                    tracing::error!(error = %e, "spooled usage not written yet (repeats logged every 30 s at most)");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: u64) -> UsageEvent {
        UsageEvent::sample(n)
    }

    #[test]
    fn recorded_events_reach_the_database_in_batches() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.db");
        let log = UsageLog::open(&path).unwrap();
        for n in 0..2000 {
            log.record(event(n));
        }
        log.flush(Duration::from_secs(10)).unwrap();
        let stats = log.stats();
        assert_eq!(stats.written, 2000);
        assert!(stats.batches >= 4, "at most {BATCH} per transaction");
        let rows = SqliteStore::open(&path).unwrap().events_since(0).unwrap();
        assert_eq!(rows.len(), 2000);
        assert_eq!(
            rows.iter().map(|e| e.cost_nanos).sum::<u64>(),
            10 * 1999 * 2000 / 2
        );
    }

    #[test]
    fn recording_does_not_wake_the_writer_for_each_event() {
        let dir = tempfile::tempdir().unwrap();
        let log = UsageLog::open(&dir.path().join("u.db")).unwrap();
        // 60 events, 5 ms apart: one writer round per FLUSH_INTERVAL (and one for the
        // flush), not one per event.
        let started = Instant::now();
        for n in 0..60 {
            log.record(event(n));
            std::thread::sleep(Duration::from_millis(5));
        }
        log.flush(Duration::from_secs(10)).unwrap();
        let intervals = started.elapsed().as_millis() / FLUSH_INTERVAL.as_millis();
        let stats = log.stats();
        assert_eq!(stats.written, 60);
        let most = u64::try_from(intervals).unwrap() + 3;
        assert!(
            stats.rounds <= most,
            "{} rounds for 60 events (at most {most})",
            stats.rounds
        );
    }

    #[test]
    fn a_full_batch_is_written_in_one_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.db");
        let log = UsageLog::open(&path).unwrap();
        let started = Instant::now();
        for n in 0..BATCH as u64 {
            log.record(event(n));
        }
        while log.stats().written < BATCH as u64 {
            assert!(started.elapsed() < Duration::from_secs(10), "never written");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(log.stats().batches, 1);
    }

    #[test]
    fn a_dropped_log_is_fully_written_once_its_writer_is_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.db");
        let log = UsageLog::open(&path).unwrap();
        for n in 0..1500 {
            log.record(event(n));
        }
        drop(log);
        assert!(wait_for_dropped_logs(Duration::from_secs(10)));
        assert_eq!(SqliteStore::open(&path).unwrap().count().unwrap(), 1500);
    }

    #[test]
    fn a_full_channel_spills_to_the_spool_and_nothing_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.db");
        // A one-slot channel: a burst overflows at once.
        let log = UsageLog::open_with(&path, 1, 1 << 20).unwrap();
        for n in 0..500 {
            log.record(event(n));
        }
        log.flush(Duration::from_secs(10)).unwrap();
        let stats = log.stats();
        assert!(stats.spooled > 0, "{stats:?}");
        assert_eq!(stats.dropped, 0);
        assert_eq!(SqliteStore::open(&path).unwrap().count().unwrap(), 500);
    }

    #[test]
    fn past_the_spool_limit_events_are_dropped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.db");
        let log = UsageLog::open_with(&path, 1, 1).unwrap();
        for n in 0..200 {
            log.record(event(n));
        }
        log.flush(Duration::from_secs(10)).unwrap();
        let stats = log.stats();
        assert!(stats.dropped > 0);
        assert_eq!(stats.written + stats.dropped, 200);
    }

    /// A store that refuses while `down` is set.
    struct Flaky {
        down: Arc<std::sync::atomic::AtomicBool>,
        rows: Arc<std::sync::Mutex<Vec<UsageEvent>>>,
    }

    impl UsageStore for Flaky {
        fn insert(&mut self, events: &[UsageEvent]) -> Result<(), LedgerError> {
            if self.down.load(Ordering::Acquire) {
                return Err(LedgerError::Writer("down".into()));
            }
            self.rows.lock().unwrap().extend_from_slice(events);
            Ok(())
        }

        fn describe(&self) -> String {
            "flaky".into()
        }
    }

    #[test]
    fn a_second_instance_on_the_same_spool_path_never_touches_the_first_ones_spool() {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("u.spool");
        let down = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let rows = Arc::new(std::sync::Mutex::new(Vec::new()));
        let store = |down: &Arc<std::sync::atomic::AtomicBool>| {
            Box::new(Flaky {
                down: Arc::clone(down),
                rows: Arc::clone(&rows),
            })
        };
        // The first instance's database is down: its events wait in its spool.
        let first = UsageLog::with_store(store(&down), &spool, 4, 1 << 20).unwrap();
        for n in 0..50 {
            first.record(event(n));
        }
        let _ = first.flush(Duration::from_secs(10));
        let spooled = std::fs::read_to_string(&spool)
            .unwrap_or_default()
            .lines()
            .count()
            + std::fs::read_to_string(dir.path().join("u.spool.draining"))
                .unwrap_or_default()
                .lines()
                .count();
        assert_eq!(spooled, 50);
        // A second instance on the same path (two replicas on one host, or a config
        // reload) gets a file of its own and leaves the first one's alone.
        let up = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let second = UsageLog::with_store(store(&up), &spool, 4, 1 << 20).unwrap();
        assert_eq!(second.spool_path(), dir.path().join("u.spool.1"));
        assert!(
            rows.lock().unwrap().is_empty(),
            "the live spool was not drained"
        );
        second.record(event(50));
        second.flush(Duration::from_secs(10)).unwrap();
        assert_eq!(rows.lock().unwrap().len(), 1);
        // Once the first instance has gone, the next start adopts its spool: every
        // event arrives once.
        drop(first);
        let writer_gone = Instant::now() + Duration::from_secs(10);
        let third = loop {
            let log = UsageLog::with_store(store(&up), &spool, 4, 1 << 20).unwrap();
            if rows.lock().unwrap().len() == 51 || Instant::now() > writer_gone {
                break log;
            }
            // The first writer thread may still hold its lock for a moment.
            drop(log);
            std::thread::sleep(Duration::from_millis(50));
        };
        drop(third);
        let mut got: Vec<u64> = rows
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.prompt_tokens)
            .collect();
        got.sort_unstable();
        assert_eq!(got, (0..=50).collect::<Vec<_>>());
    }

    #[test]
    fn a_spool_left_by_a_crash_is_written_at_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.db");
        let spool = Spool::open(&dir.path().join("u.db.spool"), 1 << 20).unwrap();
        for n in 0..3 {
            assert!(spool.push(&event(n)).unwrap());
        }
        drop(spool);
        // A line cut in half by the crash is skipped, the rest kept.
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join("u.db.spool"))
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"{\"ts_ms\":17"))
            .unwrap();
        let log = UsageLog::open(&path).unwrap();
        log.flush(Duration::from_secs(10)).unwrap();
        assert_eq!(SqliteStore::open(&path).unwrap().count().unwrap(), 3);
    }
}
