//! One place a model is served: a region of a vendor that sells it (its own provider or
//! a reseller), the model's id and price there, a weight, an optional concurrency limit
//! and the vendor's quotas. [`Deployment::try_acquire`] claims a slot, so a full
//! deployment is passed over rather than queued behind; the [`Permit`] gives the slot
//! (and unused quota) back when dropped.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use switchyard_catalog::Price;

use super::bucket::Bucket;

/// Smoothing of the TTFT moving average: the newest sample's weight.
const EWMA_ALPHA: f64 = 0.2;

/// One place a model is served.
#[derive(Debug)]
pub struct Deployment {
    /// Name for health, headers and metrics (the region, unless configured).
    pub name: String,
    /// Provider id: the vendor that serves it here.
    pub provider: String,
    /// Index of the region in the provider's region list.
    pub region: usize,
    /// Region label.
    pub region_name: String,
    /// The model's id at this deployment.
    pub upstream_id: String,
    /// What the vendor bills here (a contract price, else its list price).
    pub price: Arc<Price>,
    /// Share of traffic within its tier.
    pub weight: u32,
    /// Lower tiers are tried first.
    pub tier: u32,
    /// Requests in flight at most.
    pub max_concurrency: Option<u32>,
    /// The vendor's requests-per-minute quota for this deployment.
    rpm: Option<Mutex<Bucket>>,
    /// The vendor's tokens-per-minute quota (reserved up front, trued up after).
    tpm: Option<Mutex<Bucket>>,
    outstanding: AtomicU32,
    /// EWMA of time to first token in microseconds; 0 until measured.
    ewma_ttft_us: AtomicU64,
}

/// Where a deployment serves its model: at which vendor and region, under which id, at
/// which price.
#[derive(Debug, Clone)]
pub struct Place {
    /// Name for health, headers and metrics.
    pub name: String,
    /// Provider id.
    pub provider: String,
    /// Index of the region in the provider's region list, and its label.
    pub region: (usize, String),
    /// The model's id there.
    pub upstream_id: String,
    /// The price billed there.
    pub price: Arc<Price>,
}

impl Deployment {
    /// A deployment at `place` with nothing in flight and no measurements.
    pub fn new(place: Place, weight: u32, tier: u32, limits: Limits) -> Self {
        let Place {
            name,
            provider,
            region: (region, region_name),
            upstream_id,
            price,
        } = place;
        Deployment {
            name,
            provider,
            region,
            region_name,
            upstream_id,
            price,
            weight: weight.max(1),
            tier,
            max_concurrency: limits.max_concurrency,
            rpm: limits.rpm.map(|l| Mutex::new(Bucket::new(l))),
            tpm: limits.tpm.map(|l| Mutex::new(Bucket::new(l))),
            outstanding: AtomicU32::new(0),
            ewma_ttft_us: AtomicU64::new(0),
        }
    }

    /// Claim a slot for a request that may use `tokens`, unless the deployment is at its
    /// concurrency limit or its vendor quota (then `Busy` says when a retry could fit).
    pub fn try_acquire(self: &Arc<Self>, tokens: u64) -> Result<Permit, Busy> {
        let limit = self.max_concurrency.unwrap_or(u32::MAX);
        self.outstanding
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .map_err(|_| Busy { retry_after: None })?;
        // From here the slot is held: `permit` gives it back if a quota refuses.
        let mut permit = Permit {
            deployment: Arc::clone(self),
            tokens: 0,
            used: AtomicU64::new(u64::MAX),
        };
        if let Some(b) = &self.rpm {
            let mut b = b.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            b.take(1.0).map_err(|wait| Busy {
                retry_after: Some(wait),
            })?;
        }
        if let Some(b) = &self.tpm {
            let taken = b
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take(tokens as f64);
            if let Err(wait) = taken {
                if let Some(r) = &self.rpm {
                    r.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .adjust(1.0);
                }
                return Err(Busy {
                    retry_after: Some(wait),
                });
            }
            permit.tokens = tokens;
        }
        Ok(permit)
    }

    /// Requests in flight.
    pub fn outstanding(&self) -> u32 {
        self.outstanding.load(Ordering::Acquire)
    }

    /// Fold one time-to-first-token sample into the moving average.
    pub fn observe_ttft(&self, ttft: Duration) {
        let sample = ttft.as_micros().min(u128::from(u64::MAX)) as u64;
        let _ = self
            .ewma_ttft_us
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |old| {
                Some(if old == 0 {
                    sample.max(1)
                } else {
                    ((1.0 - EWMA_ALPHA) * old as f64 + EWMA_ALPHA * sample as f64) as u64
                })
            });
    }

    /// The TTFT moving average, once measured.
    pub fn ewma_ttft(&self) -> Option<Duration> {
        match self.ewma_ttft_us.load(Ordering::Acquire) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    /// Load per unit of weight: lower is better.
    pub(super) fn load_score(&self) -> f64 {
        f64::from(self.outstanding() + 1) / f64::from(self.weight)
    }

    /// Expected wait per unit of weight: lower is better. Unmeasured deployments score
    /// zero, so each gets tried and measured.
    pub(super) fn latency_score(&self) -> f64 {
        self.ewma_ttft().map_or(0.0, |t| t.as_secs_f64()) * self.load_score()
    }

    /// `/admin/health` entry.
    pub fn snapshot(&self) -> Value {
        json!({
            "name": self.name,
            "provider": self.provider,
            "region": self.region_name,
            "upstream_id": self.upstream_id,
            "price": {"input": self.price.input, "cached_input": self.price.cached_input,
                "output": self.price.output, "source": self.price.source},
            "weight": self.weight,
            "tier": self.tier,
            "max_concurrency": self.max_concurrency,
            "outstanding": self.outstanding(),
            "ewma_ttft_ms": self.ewma_ttft().map(|t| t.as_secs_f64() * 1000.0),
        })
    }
}

/// A deployment's limits: concurrency, and the vendor's per-minute quotas.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// Requests in flight at most.
    pub max_concurrency: Option<u32>,
    /// Requests per minute.
    pub rpm: Option<u64>,
    /// Tokens per minute.
    pub tpm: Option<u64>,
}

/// Why a deployment cannot take a request now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Busy {
    /// For a quota: when a retry could fit. `None`: all its slots are taken.
    pub retry_after: Option<Duration>,
}

/// A claimed slot on a deployment (and the tokens reserved from its quota), released when
/// dropped: the tokens not [used](Permit::set_used) go back to the quota.
#[derive(Debug)]
pub struct Permit {
    deployment: Arc<Deployment>,
    tokens: u64,
    /// Tokens the attempt used; `u64::MAX` until known (then none: it never reached the
    /// vendor, or the vendor refused it).
    used: AtomicU64,
}

impl Permit {
    /// The deployment the slot is on.
    pub fn deployment(&self) -> &Arc<Deployment> {
        &self.deployment
    }

    /// The attempt used `tokens` of the vendor's quota (prompt + completion).
    pub fn set_used(&self, tokens: u64) {
        self.used.store(tokens, Ordering::Release);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.deployment.outstanding.fetch_sub(1, Ordering::AcqRel);
        if let Some(b) = &self.deployment.tpm {
            let used = match self.used.load(Ordering::Acquire) {
                u64::MAX => 0,
                n => n,
            };
            b.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .adjust(self.tokens as f64 - used as f64);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Where a test deployment called `name` is: provider `p`, region 0, model `m`,
    /// free.
    pub(crate) fn place(name: &str) -> Place {
        Place {
            name: name.into(),
            provider: "p".into(),
            region: (0, name.into()),
            upstream_id: "m".into(),
            price: Arc::new(Price {
                input: 0.0,
                cached_input: 0.0,
                output: 0.0,
                as_of: String::new(),
                source: String::new(),
                thinking_output: None,
                tiers: Vec::new(),
                off_peak: None,
            }),
        }
    }

    /// A deployment of provider `p` for tests: `weight`, `tier`, at most `max` in flight.
    pub(crate) fn dep(name: &str, weight: u32, tier: u32, max: Option<u32>) -> Arc<Deployment> {
        Arc::new(Deployment::new(
            place(name),
            weight,
            tier,
            Limits {
                max_concurrency: max,
                ..Limits::default()
            },
        ))
    }

    #[test]
    fn permits_stop_at_the_limit_and_free_on_drop() {
        let d = dep("d", 1, 0, Some(2));
        let p1 = d.try_acquire(0).unwrap();
        let _p2 = d.try_acquire(0).unwrap();
        assert_eq!(d.try_acquire(0).unwrap_err(), Busy { retry_after: None });
        drop(p1);
        assert_eq!(d.outstanding(), 1);
        assert!(d.try_acquire(0).is_ok());
    }

    #[test]
    fn a_vendor_quota_is_reserved_then_trued_up_and_refused_ones_hold_no_slot() {
        let d = Arc::new(Deployment::new(
            place("q"),
            1,
            0,
            Limits {
                max_concurrency: None,
                rpm: Some(100),
                tpm: Some(1_000),
            },
        ));
        let p = d.try_acquire(800).unwrap();
        let busy = d.try_acquire(800).unwrap_err();
        assert!(busy.retry_after.is_some(), "over the token quota");
        assert_eq!(d.outstanding(), 1, "the refused request holds no slot");
        p.set_used(100);
        drop(p);
        assert!(d.try_acquire(800).is_ok(), "700 unused tokens went back");
        let failed = d.try_acquire(50).unwrap();
        drop(failed);
        assert!(
            d.try_acquire(150).is_ok(),
            "a failed attempt gives all its tokens back"
        );
    }

    #[test]
    fn ewma_moves_toward_new_samples() {
        let d = dep("d", 1, 0, None);
        assert_eq!(d.ewma_ttft(), None);
        d.observe_ttft(Duration::from_millis(100));
        d.observe_ttft(Duration::from_millis(200));
        let ms = d.ewma_ttft().unwrap().as_millis();
        assert_eq!(ms, 120);
    }
}
