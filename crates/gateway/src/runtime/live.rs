//! The state in force, swapped whole by a config reload, and the states it replaced
//! that requests still finish on.

use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::Duration;

use super::tasks::Background;
use crate::otel::Otel;
use crate::state::AppState;
use crate::trail::Trail;

/// The state in force, swapped whole by a config reload. A request takes the current
/// [`AppState`] when it arrives and keeps it to its end, so a reload never changes (or
/// drops) a request in flight.
#[derive(Debug)]
pub struct Live {
    current: RwLock<Arc<AppState>>,
    /// States replaced by a reload: requests that started on one finish on it, and its
    /// usage log is flushed at exit too.
    retired: Mutex<Vec<Weak<AppState>>>,
    /// Probes and key refreshes of the states above.
    background: Background,
}

impl Live {
    /// Start with `state` (and its active probes, if configured), with the SLO window
    /// saved by the last run.
    pub fn new(state: Arc<AppState>) -> Self {
        super::slo_file::load(&state);
        let background = Background::default();
        background.start_for(&state);
        background.seed_spend(&state);
        Live {
            current: RwLock::new(state),
            retired: Mutex::default(),
            background,
        }
    }

    /// The state in force.
    pub fn get(&self) -> Arc<AppState> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Put `state` in force for new requests; returns the one it replaces. The request
    /// trails and series of the state in force carry over to a `state` not yet shared.
    pub fn swap(&self, mut state: Arc<AppState>) -> Arc<AppState> {
        if let Some(fresh) = Arc::get_mut(&mut state) {
            let now = self.get();
            fresh.trails = Arc::clone(&now.trails);
            fresh.stats = Arc::clone(&now.stats);
            fresh.spend = Arc::clone(&now.spend);
            fresh.drain = Arc::clone(&now.drain);
            // The same [telemetry] keeps its exporter (and what it has queued); other
            // settings start their own, and the old one sends what it has once the old
            // state is dropped.
            if let Some(otel) = now
                .otel
                .as_ref()
                .filter(|o| *o.config() == fresh.config.telemetry)
            {
                fresh.otel = Some(Arc::clone(otel));
            }
        }
        self.background.start_for(&state);
        let old = {
            let mut g = self.current.write().unwrap_or_else(PoisonError::into_inner);
            std::mem::replace(&mut *g, state)
        };
        let mut retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
        retired.retain(|w| w.strong_count() > 0);
        retired.push(Arc::downgrade(&old));
        old
    }

    /// The state in force and every replaced state still alive.
    fn all_states(&self) -> Vec<Arc<AppState>> {
        let retired = self
            .retired
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter_map(Weak::upgrade)
            .collect::<Vec<_>>();
        std::iter::once(self.get()).chain(retired).collect()
    }

    /// Every trail of request `id` kept by the state in force or a replaced one still
    /// alive, newest first.
    pub(crate) fn find_trails(&self, id: &str) -> Vec<Arc<Trail>> {
        let mut found: Vec<Arc<Trail>> = self
            .all_states()
            .iter()
            .flat_map(|st| st.trails.find(id))
            .collect();
        found.sort_by_key(|t| std::cmp::Reverse(t.received_ms));
        found
    }

    /// Wait, at most `timeout` each, for the Redis settles of every state to be answered
    /// (at exit); whether they all were.
    pub async fn settle_limits(&self, timeout: Duration) -> bool {
        let mut all = true;
        for st in self.all_states() {
            if let Some(limits) = &st.shared_limits {
                all &= limits.settled(timeout).await;
            }
        }
        all
    }

    /// Write the SLO window (at exit), if it changed since last written.
    pub fn save_slo(&self) -> std::io::Result<()> {
        super::slo_file::save(&self.get())
    }

    /// Send the spans every state has queued (at exit), waiting at most `timeout` for
    /// each exporter; whether they all were sent in time.
    pub async fn flush_traces(&self, timeout: Duration) -> bool {
        let mut exporters: Vec<Arc<Otel>> = Vec::new();
        for st in self.all_states() {
            if let Some(o) = &st.otel
                && !exporters.iter().any(|e| Arc::ptr_eq(e, o))
            {
                exporters.push(Arc::clone(o));
            }
        }
        let mut all = true;
        for o in exporters {
            all &= o.flush(timeout).await;
        }
        all
    }

    /// Write out the usage log of the state in force and of every replaced state still
    /// alive (at most `timeout` each), and wait for the logs of replaced states that are
    /// gone (their last request ended, maybe just now) to finish writing; the errors of
    /// those that could not be.
    pub fn flush_usage(&self, timeout: Duration) -> Vec<switchyard_ledger::LedgerError> {
        let mut errors: Vec<_> = self
            .all_states()
            .into_iter()
            .filter_map(|st| st.usage.as_ref().and_then(|log| log.flush(timeout).err()))
            .collect();
        if !switchyard_ledger::wait_for_dropped_logs(timeout) {
            errors.push(switchyard_ledger::LedgerError::Writer(format!(
                "the usage log of a replaced config was not written within {}s",
                timeout.as_secs_f64()
            )));
        }
        errors
    }
}
