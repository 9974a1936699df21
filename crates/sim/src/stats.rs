//! Counters behind `GET /_sim/stats`: requests per provider, region and model, errors,
//! injected faults, tokens served, responses still open (`in_flight`, queued ones
//! included), and the capacity queue: requests waiting now (`queued`), its high-water
//! mark (`max_queued`) and requests refused because a queue was full (`rejected`), all
//! over every provider region.
//!
//! Totals are atomics; the per-scope table takes one short lock per request, never held
//! across an `await`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::Value;

/// Model keys kept per region before the rest are lumped under [`OTHER_MODELS`].
const MAX_MODELS_PER_REGION: usize = 1000;
/// Key for models beyond [`MAX_MODELS_PER_REGION`].
const OTHER_MODELS: &str = "(other)";
/// Longest model key kept (the generic provider accepts any name).
const MAX_MODEL_KEY: usize = 128;

/// Counts of one provider region.
#[derive(Debug, Default, Clone, Serialize)]
struct RegionStats {
    requests: u64,
    errors: u64,
    faults: u64,
    models: BTreeMap<String, u64>,
}

/// All counters.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    requests: AtomicU64,
    ok: AtomicU64,
    errors: AtomicU64,
    faults: AtomicU64,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
    in_flight: AtomicI64,
    queued: AtomicI64,
    max_queued: AtomicU64,
    rejected: AtomicU64,
    by_scope: Mutex<BTreeMap<String, BTreeMap<String, RegionStats>>>,
}

/// How a request ended, for [`Stats::record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Answered with a 2xx status.
    pub ok: bool,
    /// A fault was injected.
    pub fault: bool,
}

impl Stats {
    /// Count one request to a known provider.
    pub(crate) fn record(
        &self,
        provider: &str,
        region: &str,
        model: Option<&str>,
        outcome: Outcome,
    ) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let counter = if outcome.ok { &self.ok } else { &self.errors };
        counter.fetch_add(1, Ordering::Relaxed);
        if outcome.fault {
            self.faults.fetch_add(1, Ordering::Relaxed);
        }
        let mut scopes = self
            .by_scope
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let regions = match scopes.get_mut(provider) {
            Some(r) => r,
            None => scopes.entry(provider.to_string()).or_default(),
        };
        let r = match regions.get_mut(region) {
            Some(r) => r,
            None => regions.entry(region.to_string()).or_default(),
        };
        r.requests += 1;
        if !outcome.ok {
            r.errors += 1;
        }
        if outcome.fault {
            r.faults += 1;
        }
        if let Some(model) = model {
            match r.models.get_mut(model) {
                Some(n) => *n += 1,
                None => {
                    let key =
                        if r.models.len() >= MAX_MODELS_PER_REGION || model.len() > MAX_MODEL_KEY {
                            OTHER_MODELS
                        } else {
                            model
                        };
                    *r.models.entry(key.to_string()).or_default() += 1;
                }
            }
        }
    }

    /// Add prompt tokens of an answered request.
    pub(crate) fn add_prompt_tokens(&self, n: u64) {
        self.prompt_tokens.fetch_add(n, Ordering::Relaxed);
    }

    /// Add completion tokens actually sent.
    pub(crate) fn add_completion_tokens(&self, n: u64) {
        self.completion_tokens.fetch_add(n, Ordering::Relaxed);
    }

    /// A request joined a capacity queue.
    pub(crate) fn join_queue(&self) {
        let now = self.queued.fetch_add(1, Ordering::AcqRel) + 1;
        self.max_queued
            .fetch_max(u64::try_from(now).unwrap_or(0), Ordering::AcqRel);
    }

    /// A request left a capacity queue (admitted, or gone).
    pub(crate) fn leave_queue(&self) {
        self.queued.fetch_sub(1, Ordering::AcqRel);
    }

    /// A request was refused because its capacity queue was full.
    pub(crate) fn reject_overloaded(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// The JSON served by `GET /_sim/stats`.
    pub(crate) fn to_json(&self) -> Value {
        let scopes = self
            .by_scope
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        serde_json::json!({
            "requests": self.requests.load(Ordering::Relaxed),
            "ok": self.ok.load(Ordering::Relaxed),
            "errors": self.errors.load(Ordering::Relaxed),
            "faults_injected": self.faults.load(Ordering::Relaxed),
            "prompt_tokens": self.prompt_tokens.load(Ordering::Relaxed),
            "completion_tokens": self.completion_tokens.load(Ordering::Relaxed),
            "in_flight": self.in_flight.load(Ordering::Relaxed),
            "queued": self.queued.load(Ordering::Acquire),
            "max_queued": self.max_queued.load(Ordering::Acquire),
            "rejected": self.rejected.load(Ordering::Relaxed),
            "providers": scopes,
        })
    }
}

/// Counts one response as in flight while it lives (paced, stalled or streaming).
#[derive(Debug)]
pub(crate) struct InFlight(Arc<Stats>);

impl InFlight {
    /// Start counting.
    pub(crate) fn new(stats: Arc<Stats>) -> InFlight {
        stats.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(stats)
    }

    /// The counters.
    pub(crate) fn stats(&self) -> &Stats {
        &self.0
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_land_per_provider_region_and_model() {
        let s = Stats::default();
        let ok = Outcome {
            ok: true,
            fault: false,
        };
        s.record("deepseek", "global", Some("deepseek-r1"), ok);
        s.record("deepseek", "global", Some("deepseek-r1"), ok);
        s.record(
            "deepseek",
            "cn",
            None,
            Outcome {
                ok: false,
                fault: true,
            },
        );
        s.add_prompt_tokens(10);
        s.add_completion_tokens(4);
        let v = s.to_json();
        assert_eq!(v["requests"], 3);
        assert_eq!(v["ok"], 2);
        assert_eq!(v["errors"], 1);
        assert_eq!(v["faults_injected"], 1);
        assert_eq!(v["prompt_tokens"], 10);
        assert_eq!(v["completion_tokens"], 4);
        assert_eq!(
            v["providers"]["deepseek"]["global"]["models"]["deepseek-r1"],
            2
        );
        assert_eq!(v["providers"]["deepseek"]["cn"]["errors"], 1);
        assert_eq!(v["providers"]["deepseek"]["cn"]["faults"], 1);
    }

    #[test]
    fn queue_counts_keep_a_high_water_mark() {
        let s = Stats::default();
        s.join_queue();
        s.join_queue();
        s.leave_queue();
        s.join_queue();
        s.leave_queue();
        s.reject_overloaded();
        let v = s.to_json();
        assert_eq!(v["queued"], 1);
        assert_eq!(v["max_queued"], 2);
        assert_eq!(v["rejected"], 1);
    }

    #[test]
    fn in_flight_guard_counts_while_alive() {
        let s = Arc::new(Stats::default());
        let g = InFlight::new(Arc::clone(&s));
        let h = InFlight::new(Arc::clone(&s));
        assert_eq!(s.to_json()["in_flight"], 2);
        drop(g);
        drop(h);
        assert_eq!(s.to_json()["in_flight"], 0);
    }
}
