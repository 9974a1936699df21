//! Graceful drain at shutdown, in three steps from the signal:
//!
//! 1. **Draining** at once: `/readyz` answers 503 `draining`, so a load balancer takes the
//!    replica out of rotation; new connections are still accepted for
//!    `[server] drain_accept_secs` (after SIGTERM; none after Ctrl-C), while the
//!    balancer catches up.
//! 2. Then the listener closes and every connection is told to finish its request in
//!    flight and close; requests and streams in flight run on.
//! 3. **Ended** at `[server] drain_timeout_secs` after the signal: a stream still running
//!    ends with an SSE error event (`shutting_down`), a request still waiting for its
//!    vendor gets a 503; each records its usage as it ends. Connections that still have
//!    not closed a few seconds later are cut.
//!
//! The server returns once every connection has closed; only then are usage and rate
//! limit settlements flushed, so nothing is recorded after the final flush.

use std::cell::RefCell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long connections get, after the drain has ended their requests, to send what
/// they hold and close, before they are cut.
pub(crate) const END_GRACE: Duration = Duration::from_secs(5);

/// The shutdown signal and its timeline, shared by every connection and request of the
/// process (a config reload keeps it).
#[derive(Debug)]
pub struct Drain {
    /// Tells this drain's tokens apart in each thread's cache ([`Drain::ended_here`]).
    id: u64,
    /// When draining began, and how long new connections are still accepted.
    began: OnceLock<(Instant, Duration)>,
    draining: CancellationToken,
    ended: CancellationToken,
}

impl Default for Drain {
    fn default() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Drain {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            began: OnceLock::new(),
            draining: CancellationToken::new(),
            ended: CancellationToken::new(),
        }
    }
}

thread_local! {
    /// Per thread, a child of each drain's end token: requests wait on their own
    /// thread's, so that waiting (once per request, once per relayed read) never takes a
    /// lock another worker thread takes too.
    static HERE: RefCell<Vec<(u64, CancellationToken)>> = const { RefCell::new(Vec::new()) };
}

impl Drain {
    /// Start draining (idempotent): `/readyz` fails from now; connections are accepted
    /// for `accept` more.
    pub fn start(&self, accept: Duration) {
        let _ = self.began.set((Instant::now(), accept));
        self.draining.cancel();
    }

    /// Whether draining has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.is_cancelled()
    }

    /// Resolves once draining begins.
    pub(crate) async fn started(&self) {
        self.draining.cancelled().await;
    }

    /// When the listener closes: `accept` after draining began (resolves once it has).
    pub(crate) async fn accept_until(&self) -> Instant {
        self.started().await;
        match self.began.get() {
            Some((at, accept)) => *at + *accept,
            None => Instant::now(),
        }
    }

    /// `timeout` after draining began (once it has).
    pub(crate) async fn deadline(&self, timeout: Duration) -> Instant {
        self.started().await;
        self.began
            .get()
            .map_or_else(Instant::now, |(at, _)| *at + timeout)
    }

    /// End what is still running (idempotent).
    pub(crate) fn end(&self) {
        self.ended.cancel();
    }

    /// A token cancelled when the drain ends what is still running: this thread's child
    /// of the drain's own (see [`HERE`]).
    pub(crate) fn ended_here(&self) -> CancellationToken {
        HERE.with(|here| {
            let mut here = here.borrow_mut();
            if let Some((_, t)) = here.iter().find(|(id, _)| *id == self.id) {
                return t.clone();
            }
            let t = self.ended.child_token();
            here.push((self.id, t.clone()));
            t
        })
    }

    /// Whether it has.
    pub(crate) fn has_ended(&self) -> bool {
        self.ended.is_cancelled()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn draining_starts_once_and_the_window_and_deadline_count_from_it() {
        let d = Drain::default();
        assert!(!d.is_draining());
        d.start(Duration::from_secs(5));
        let began = Instant::now();
        // A second start (the configured window after Ctrl-C chose none) changes nothing.
        d.start(Duration::from_secs(60));
        assert!(d.is_draining());
        let until = d.accept_until().await;
        assert!(
            until <= began + Duration::from_secs(5)
                && until + Duration::from_secs(1) > began + Duration::from_secs(5)
        );
        let deadline = d.deadline(Duration::from_secs(30)).await;
        assert!(deadline > until);
    }

    #[tokio::test]
    async fn ending_cancels_every_threads_token_and_only_its_own_drains() {
        let (a, b) = (Drain::default(), Drain::default());
        let (ta, tb) = (a.ended_here(), b.ended_here());
        let elsewhere = std::thread::scope(|s| s.spawn(|| a.ended_here()).join().unwrap());
        assert!(!ta.is_cancelled() && !elsewhere.is_cancelled());
        a.end();
        assert!(a.has_ended() && ta.is_cancelled() && elsewhere.is_cancelled());
        assert!(!b.has_ended() && !tb.is_cancelled());
        tokio::time::timeout(Duration::from_secs(1), ta.cancelled())
            .await
            .unwrap();
    }
}
