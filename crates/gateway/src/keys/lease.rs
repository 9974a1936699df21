//! Local leases on a key's shared limits (`[limits] lease_secs`), so that a Redis far
//! away is not on the request path.
//!
//! A lease is one reservation in Redis, made by the same admit script as a single
//! request's, for a share of the key's limits: `rpm × lease_secs / 60` requests (64
//! without an RPM limit; fewer if their most cost passes an eighth of the budget),
//! `tpm × lease_secs / 60` tokens, and the budget those requests could cost at most. This replica then admits the key's requests from the lease in
//! memory: each takes a request, its tokens and its maximum cost from it, and gives back
//! what it did not use when it settles. A new lease is taken in the background when the
//! current one is half used or half over, so that requests do not wait for Redis; only
//! the first request of a key (or one that finds its lease used up) does, and requests
//! that arrive meanwhile wait for that lease rather than each taking one. A lease that
//! cannot be granted in full (the budget's rest or the RPM bucket is smaller) leaves the
//! key to one Redis call per request, as without leases, for a quarter of `lease_secs`
//! before a lease is asked for again.
//!
//! A lease is given back — its reservation released, its requests' spend added, its
//! unused tokens returned — once it has been replaced and its last request has settled,
//! or at shutdown. Bounds: the key's budget and RPM are never exceeded (a lease is
//! reserved against them before any of it is used); what a lease holds but does not
//! use is unavailable to other replicas until it is given back, at most two leases per
//! key per replica, and its unused requests do not go back to the RPM bucket (which
//! refills at its own rate); a replica that dies loses its lease's rest until the
//! reservation lapses (`lease_secs` + 60 s).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::admission::{Admission, KeyState, SharedSettle};

/// Where leases come from: the key's shared limits (`keys/redis.rs`).
pub(crate) trait Reserve: Send + Sync + 'static {
    /// Reserve `requests` requests, `tokens` tokens and `nanos` nano-dollars of `key`'s
    /// limits at once, kept for `hold` if never given back: what gives them back (with
    /// the tokens unused, the reservation and the spend), or `None` if refused in full
    /// or unreachable.
    fn reserve_lease(
        self: &Arc<Self>,
        key: &KeyState,
        requests: u64,
        tokens: u64,
        nanos: u64,
        hold: Duration,
    ) -> impl Future<Output = Option<Box<dyn SharedSettle>>> + Send;

    /// Where a lease is taken in the background.
    fn runtime(&self) -> Option<tokio::runtime::Handle>;

    /// The leases of each key.
    fn slots(&self) -> &Slots;
}

/// Each key's lease slot, by key id.
#[derive(Debug, Default)]
pub(crate) struct Slots(Mutex<HashMap<String, Arc<Slot>>>);

impl Slots {
    fn slot(&self, id: &str) -> Arc<Slot> {
        let mut slots = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(slots.entry(id.to_string()).or_default())
    }

    /// Give every lease back (at shutdown): each settles once its last request has.
    pub(crate) fn release_all(&self) {
        let slots: Vec<_> = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .map(|(_, s)| s)
            .collect();
        for s in slots {
            s.release();
        }
    }
}

/// Requests in a lease of a key without an RPM limit.
const REQUESTS_WITHOUT_RPM: u64 = 64;
/// A lease holds at most this share of a key's budget (1/8): near the end of the budget
/// the replicas fall back to one Redis call per request rather than hold it all.
const BUDGET_SHARE: u64 = 8;
/// How much longer than its lease a lease's reservation lasts if never given back.
const HOLD_MARGIN: Duration = Duration::from_secs(60);

/// A key's lease on this replica, and whether a new one is being taken.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    current: Mutex<Option<Arc<Lease>>>,
    refilling: AtomicBool,
    /// A lease was refused (the budget's rest or the RPM bucket is smaller): until
    /// then, requests go to Redis one at a time without asking for one first.
    refused_until: Mutex<Option<Instant>>,
    /// Held while a lease is being taken: requests that find none wait for that one
    /// instead of each taking its own.
    granting: tokio::sync::Mutex<()>,
}

impl Slot {
    fn current(&self) -> Option<Arc<Lease>> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn install(&self, lease: Arc<Lease>) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(lease);
    }

    fn refused_lately(&self) -> bool {
        self.refused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|until| Instant::now() < until)
    }

    fn refused(&self, secs: Duration) {
        *self
            .refused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now() + secs / 4);
    }

    /// Stop admitting from the lease; it is given back once its requests have settled.
    fn release(&self) {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}

/// What is left of a lease.
#[derive(Debug)]
struct Left {
    requests: u64,
    tokens: i64,
    nanos: u64,
    /// What its requests have cost so far.
    spent: u64,
}

/// One lease: a reservation in Redis, drawn on in memory.
#[derive(Debug)]
pub(crate) struct Lease {
    size: u64,
    /// The key has a TPM limit: the lease holds tokens too.
    counts_tokens: bool,
    reserved: u64,
    granted: Instant,
    until: Instant,
    left: Mutex<Left>,
    /// Gives the lease back when the last reference to it goes.
    back: Box<dyn SharedSettle>,
}

impl Lease {
    /// Take one request of `tokens` and at most `nanos` from the lease, if it has them.
    fn take(&self, key: &KeyState, tokens: u64, nanos: u64) -> bool {
        let mut left = self.left.lock().unwrap_or_else(PoisonError::into_inner);
        let tokens = if key.record.tpm.is_some() { tokens } else { 0 };
        let nanos = if key.record.budget_nanos.is_some() {
            nanos
        } else {
            0
        };
        let fits = Instant::now() < self.until
            && left.requests > 0
            && left.tokens >= i64::try_from(tokens).unwrap_or(i64::MAX)
            && left.nanos >= nanos;
        if fits {
            left.requests -= 1;
            left.tokens -= i64::try_from(tokens).unwrap_or(i64::MAX);
            left.nanos -= nanos;
        }
        fits
    }

    /// Half used or half over: time to take the next one.
    fn low(&self) -> bool {
        let left = self.left.lock().unwrap_or_else(PoisonError::into_inner);
        let half_time = self.granted + (self.until - self.granted) / 2;
        left.requests.saturating_mul(2) < self.size || Instant::now() >= half_time
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let left = self.left.get_mut().unwrap_or_else(PoisonError::into_inner);
        self.back.settle(left.tokens, self.reserved, left.spent);
    }
}

/// A request admitted from a lease settles into it.
#[derive(Debug)]
struct FromLease(Arc<Lease>);

impl SharedSettle for FromLease {
    fn settle(&self, tokens_back: i64, reserved: u64, spent: u64) {
        let mut left = self.0.left.lock().unwrap_or_else(PoisonError::into_inner);
        if self.0.counts_tokens {
            left.tokens = left.tokens.saturating_add(tokens_back);
        }
        left.nanos = left.nanos.saturating_add(reserved.saturating_sub(spent));
        left.spent = left.spent.saturating_add(spent);
    }
}

/// Admit a request of `key` from its lease, taking one first if it has none; `None`
/// when no lease can be had (the caller then asks Redis for this request alone).
pub(crate) async fn admit<R: Reserve>(
    limits: &Arc<R>,
    key: &Arc<KeyState>,
    tokens: u64,
    nanos: u64,
    secs: Duration,
) -> Option<Admission> {
    let slot = limits.slots().slot(&key.record.id);
    if let Some(lease) = slot.current()
        && lease.take(key, tokens, nanos)
    {
        if lease.low() && !slot.refilling.swap(true, Ordering::AcqRel) {
            refill(limits, key, &slot, tokens, nanos, secs);
        }
        return Some(admission(key, lease, tokens, nanos));
    }
    if slot.refused_lately() {
        return None;
    }
    // One lease at a time: whoever comes second uses the first one's.
    let _granting = slot.granting.lock().await;
    if let Some(lease) = slot.current()
        && lease.take(key, tokens, nanos)
    {
        return Some(admission(key, lease, tokens, nanos));
    }
    let Some(lease) = grant(limits, key, tokens, nanos, secs).await else {
        slot.refused(secs);
        return None;
    };
    slot.install(Arc::clone(&lease));
    lease
        .take(key, tokens, nanos)
        .then(|| admission(key, lease, tokens, nanos))
}

fn admission(key: &Arc<KeyState>, lease: Arc<Lease>, tokens: u64, nanos: u64) -> Admission {
    let tokens = if key.record.tpm.is_some() { tokens } else { 0 };
    let nanos = if key.record.budget_nanos.is_some() {
        nanos
    } else {
        0
    };
    Admission::shared(
        Arc::clone(key),
        tokens,
        nanos,
        Vec::new(),
        Box::new(FromLease(lease)),
    )
}

/// Take the key's next lease in the background and put it in place.
fn refill<R: Reserve>(
    limits: &Arc<R>,
    key: &Arc<KeyState>,
    slot: &Arc<Slot>,
    tokens: u64,
    nanos: u64,
    secs: Duration,
) {
    let Some(rt) = limits.runtime() else {
        slot.refilling.store(false, Ordering::Release);
        return;
    };
    let (limits, key, slot) = (Arc::clone(limits), Arc::clone(key), Arc::clone(slot));
    rt.spawn(async move {
        let _granting = slot.granting.lock().await;
        match grant(&limits, &key, tokens, nanos, secs).await {
            Some(lease) => slot.install(lease),
            None => slot.refused(secs),
        }
        slot.refilling.store(false, Ordering::Release);
    });
}

/// Reserve a lease for `key` in Redis, sized for `secs` of its limits with requests like
/// this one; `None` if Redis refuses it in full or cannot be reached.
async fn grant<R: Reserve>(
    limits: &Arc<R>,
    key: &KeyState,
    tokens: u64,
    nanos: u64,
    secs: Duration,
) -> Option<Arc<Lease>> {
    let rec = &key.record;
    let share = |per_minute: u64| {
        let n = u128::from(per_minute) * secs.as_millis() / 60_000;
        u64::try_from(n).unwrap_or(u64::MAX).max(1)
    };
    let by_budget = rec
        .budget_nanos
        .map_or(u64::MAX, |b| (b / BUDGET_SHARE / nanos.max(1)).max(1));
    let requests = rec.rpm.map_or(REQUESTS_WITHOUT_RPM, share).min(by_budget);
    let lease_tokens = rec.tpm.map_or(0, |t| share(t).max(tokens));
    let lease_nanos = match rec.budget_nanos {
        Some(_) => nanos.saturating_mul(requests),
        None => 0,
    };
    let back = limits
        .reserve_lease(
            key,
            requests,
            lease_tokens,
            lease_nanos,
            secs.saturating_add(HOLD_MARGIN),
        )
        .await?;
    let granted = Instant::now();
    Some(Arc::new(Lease {
        size: requests,
        counts_tokens: rec.tpm.is_some(),
        reserved: lease_nanos,
        granted,
        until: granted + secs,
        left: Mutex::new(Left {
            requests,
            tokens: i64::try_from(lease_tokens).unwrap_or(i64::MAX),
            nanos: lease_nanos,
            spent: 0,
        }),
        back,
    }))
}
