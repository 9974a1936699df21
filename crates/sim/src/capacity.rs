//! The capacity model: how many requests each provider *region* generates at once, and
//! the FIFO queue in front of it.
//!
//! Each (provider, region) gets a [`tokio::sync::Semaphore`] of `capacity` permits,
//! created the first time the region is asked for. A request that finds a free slot is
//! admitted at once; otherwise it joins the queue at once, whose order is the semaphore's
//! own (first come, first served), and its generation starts only when a slot frees up: the
//! wait adds to its time to first token. When `max_queue` requests already wait, the
//! request is refused at once with the vendor's overload error ([`Failure::Overloaded`],
//! the bodies of the `overloaded` fault).
//!
//! A slot is held by a [`Slot`]: from admission until the response body is fully
//! written, or until the client goes away and the response is dropped. A waiting request
//! that is dropped leaves the queue. With no capacity configured every request is
//! admitted at once and nothing is locked or counted.
//!
//! The map of regions sits behind a std mutex held only to look a region up, never across
//! an `await`.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

use crate::failure::Failure;
use crate::stats::Stats;

/// The slots and queue of one provider region.
#[derive(Debug)]
struct Gate {
    slots: Arc<Semaphore>,
    /// Requests waiting for a slot.
    waiting: AtomicU32,
}

/// Every region's gate, and the limits they share.
#[derive(Debug)]
pub(crate) struct Capacity {
    /// Slots per region; `None` = unlimited.
    limit: Option<u32>,
    /// Longest queue per region; `None` = unbounded.
    max_queue: Option<u32>,
    gates: Mutex<HashMap<String, HashMap<String, Arc<Gate>>>>,
    stats: Arc<Stats>,
}

/// A slot held while a response is generated; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Slot {
    _permit: Option<OwnedSemaphorePermit>,
}

impl Slot {
    fn new(permit: Option<OwnedSemaphorePermit>) -> Slot {
        Slot { _permit: permit }
    }
}

/// A request waiting for a slot: resolves to the slot, in arrival order. Dropping it
/// leaves the queue.
pub(crate) struct Waiting(Pin<Box<dyn Future<Output = Slot> + Send>>);

impl std::fmt::Debug for Waiting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Waiting")
    }
}

impl Future for Waiting {
    type Output = Slot;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Slot> {
        self.0.as_mut().poll(cx)
    }
}

/// Where a request stands on arrival.
#[derive(Debug)]
pub(crate) enum Ticket {
    /// Generating now.
    Admitted(Slot),
    /// In the queue.
    Queued(Waiting),
}

/// Counts one request as queued (per region and overall) while it lives.
#[derive(Debug)]
struct InQueue {
    gate: Arc<Gate>,
    stats: Arc<Stats>,
}

impl Drop for InQueue {
    fn drop(&mut self) {
        self.gate.waiting.fetch_sub(1, Ordering::AcqRel);
        self.stats.leave_queue();
    }
}

impl Capacity {
    /// `limit` slots per region (`None` = unlimited; 0 is taken as 1) and at most
    /// `max_queue` waiting requests per region (`None` = unbounded).
    pub(crate) fn new(limit: Option<u32>, max_queue: Option<u32>, stats: Arc<Stats>) -> Capacity {
        Capacity {
            limit: limit.map(|n| n.max(1)),
            max_queue,
            gates: Mutex::new(HashMap::new()),
            stats,
        }
    }

    fn gate(&self, limit: u32, provider: &str, region: &str) -> Arc<Gate> {
        let mut gates = self
            .gates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let regions = match gates.get_mut(provider) {
            Some(r) => r,
            None => gates.entry(provider.to_string()).or_default(),
        };
        if let Some(g) = regions.get(region) {
            return Arc::clone(g);
        }
        let gate = Arc::new(Gate {
            slots: Arc::new(Semaphore::new(limit as usize)),
            waiting: AtomicU32::new(0),
        });
        regions.insert(region.to_string(), Arc::clone(&gate));
        gate
    }

    /// Admit a request to `provider`/`region`, queue it, or refuse it because the queue is
    /// full.
    pub(crate) fn enter(&self, provider: &str, region: &str) -> Result<Ticket, Failure> {
        let Some(limit) = self.limit else {
            return Ok(Ticket::Admitted(Slot::new(None)));
        };
        let gate = self.gate(limit, provider, region);
        // Permits go straight to waiters when released, so this cannot jump the queue.
        match Arc::clone(&gate.slots).try_acquire_owned() {
            Ok(permit) => return Ok(Ticket::Admitted(Slot::new(Some(permit)))),
            Err(TryAcquireError::Closed) => return Ok(Ticket::Admitted(Slot::new(None))),
            Err(TryAcquireError::NoPermits) => {}
        }
        let max = self.max_queue.unwrap_or(u32::MAX);
        let joined = gate
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                (w < max).then_some(w + 1)
            });
        if joined.is_err() {
            self.stats.reject_overloaded();
            return Err(Failure::Overloaded);
        }
        self.stats.join_queue();
        let place = InQueue {
            gate,
            stats: Arc::clone(&self.stats),
        };
        let mut waiting = Waiting(Box::pin(async move {
            let acquired = Arc::clone(&place.gate.slots).acquire_owned().await;
            drop(place);
            // The semaphores are never closed; should one be, the request goes ahead.
            Slot::new(acquired.ok())
        }));
        // Take the place in the semaphore's queue now, in arrival order: the response may
        // first poll it a little later (after its headers), and a slot freed meanwhile
        // must not go to a request that arrived after this one. The real waker replaces
        // the no-op one on the next poll.
        let mut cx = Context::from_waker(Waker::noop());
        Ok(match Pin::new(&mut waiting).poll(&mut cx) {
            Poll::Ready(slot) => Ticket::Admitted(slot),
            Poll::Pending => Ticket::Queued(waiting),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Poll `f` once with the task's real waker.
    async fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
        std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *f).poll(cx))).await
    }

    fn admitted(t: &Ticket) -> bool {
        matches!(t, Ticket::Admitted(_))
    }

    #[tokio::test]
    async fn unlimited_admits_everything_at_once() {
        let stats = Arc::new(Stats::default());
        let c = Capacity::new(None, Some(0), Arc::clone(&stats));
        let tickets: Vec<_> = (0..100).map(|_| c.enter("p", "r").unwrap()).collect();
        assert!(tickets.iter().all(admitted));
        assert_eq!(stats.to_json()["max_queued"], 0);
    }

    #[tokio::test]
    async fn regions_have_their_own_slots_and_the_queue_is_bounded() {
        let stats = Arc::new(Stats::default());
        let c = Capacity::new(Some(1), Some(1), Arc::clone(&stats));
        let a = c.enter("p", "r").unwrap();
        assert!(admitted(&a));
        assert!(admitted(&c.enter("p", "other").unwrap()));
        assert!(admitted(&c.enter("q", "r").unwrap()));
        let b = c.enter("p", "r").unwrap();
        assert!(!admitted(&b));
        assert_eq!(c.enter("p", "r").unwrap_err(), Failure::Overloaded);
        let v = stats.to_json();
        assert_eq!(
            (v["queued"].as_i64(), v["rejected"].as_u64()),
            (Some(1), Some(1))
        );
        drop(a);
        let Ticket::Queued(w) = b else { panic!() };
        let slot = tokio::time::timeout(Duration::from_secs(1), w)
            .await
            .unwrap();
        assert_eq!(stats.to_json()["queued"], 0);
        assert!(!admitted(&c.enter("p", "r").unwrap()), "slot still held");
        drop(slot);
    }

    #[tokio::test]
    async fn a_slot_freed_before_the_waiter_is_polled_still_goes_to_it() {
        let stats = Arc::new(Stats::default());
        let c = Capacity::new(Some(1), None, Arc::clone(&stats));
        let first = c.enter("p", "r").unwrap();
        let Ticket::Queued(early) = c.enter("p", "r").unwrap() else {
            panic!("admitted past a full region")
        };
        drop(first);
        assert!(!admitted(&c.enter("p", "r").unwrap()), "jumped the queue");
        let _slot = tokio::time::timeout(Duration::from_secs(1), early)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn waiters_are_served_in_arrival_order_and_leaving_frees_the_place() {
        let stats = Arc::new(Stats::default());
        let c = Capacity::new(Some(1), None, Arc::clone(&stats));
        let first = c.enter("p", "r").unwrap();
        let mut waiting: Vec<Waiting> = (0..3)
            .map(|_| match c.enter("p", "r").unwrap() {
                Ticket::Queued(w) => w,
                Ticket::Admitted(_) => panic!("admitted past a full region"),
            })
            .collect();
        // Each took its place on entering; polling changes nothing.
        for w in &mut waiting {
            assert!(poll_once(w).await.is_pending());
        }
        assert_eq!(stats.to_json()["queued"], 3);
        let leaver = waiting.remove(1);
        drop(leaver);
        assert_eq!(stats.to_json()["queued"], 2);
        drop(first);
        let mut second = waiting.remove(1);
        assert!(poll_once(&mut second).await.is_pending(), "not its turn");
        let slot = waiting.remove(0).await;
        drop(slot);
        let _slot = second.await;
        let v = stats.to_json();
        assert_eq!(
            (v["queued"].as_i64(), v["max_queued"].as_u64()),
            (Some(0), Some(3))
        );
    }
}
