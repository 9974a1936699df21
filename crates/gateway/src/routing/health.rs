//! Health: a circuit breaker per provider deployment (by default, per provider region).
//!
//! Closed → after `consecutive_failures` retryable failures in a row, or a failure share of
//! at least `error_rate` over the last `error_rate_window` outcomes → Open: the deployment
//! is skipped (tried last, only if nothing else is left) for `cooldown_secs` → Half-open:
//! one request may try it; success closes the breaker, failure opens it again. Only
//! failures that say something about the deployment count (connect errors, 5xx, overload,
//! rate limits, time-outs, streams cut before their first token); a 400 or a 402 does not.
//!
//! Optional active probes (`probe_interval_secs`) check open deployments in the background
//! (`GET …/models`, which vendors do not bill) and close the breaker as soon as one
//! answers, without risking a live request. A deployment that comes back is not handed its
//! whole share at once: for `slow_start_secs` its [`Standing::warmth`] ramps from 10% to
//! 100%, and the balancer passes it over for that share of requests.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use metrics::gauge;
use serde_json::{Value, json};

/// Breaker settings (`[health]` in the config).
#[derive(Debug, Clone, Copy)]
pub struct BreakerConfig {
    /// Retryable failures in a row that open the breaker.
    pub consecutive_failures: u32,
    /// How long an open breaker keeps the region out.
    pub cooldown: Duration,
    /// How long a deployment that came back takes to get its whole share of traffic.
    pub slow_start: Duration,
    /// Share of failures over the window that opens the breaker (above 1 = never).
    pub error_rate: f64,
    /// Outcomes the error rate is taken over (at most 64).
    pub error_rate_window: u32,
}

/// How a deployment stands, for ranking.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Standing {
    /// Tried in its turn (closed, or open with a trial due); otherwise only as a last resort.
    pub preferred: bool,
    /// Share of its traffic it should take now, in `(0, 1]`: below 1 while it warms up
    /// after coming back.
    pub warmth: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed,
    Open {
        since: Instant,
    },
    /// A trial request is out; if it never reports, another is allowed after the cooldown.
    HalfOpen {
        since: Instant,
    },
}

#[derive(Debug)]
struct Breaker {
    state: State,
    /// When it last closed after being open (for slow start).
    recovered: Option<Instant>,
    failures_in_row: u32,
    /// Last outcomes, newest in bit 0 (1 = failure).
    recent: u64,
    /// How many of `recent`'s bits are outcomes.
    recent_len: u32,
    successes: u64,
    failures: u64,
    /// Why it last opened, and when (Unix ms): for the dashboard and `/admin/health`.
    opened_because: Option<(String, i64)>,
}

/// Breakers of every provider region.
#[derive(Debug)]
pub struct Health {
    config: BreakerConfig,
    /// By provider, then region: looked up by `&str` on every attempt, without allocating.
    breakers: HashMap<String, HashMap<String, Mutex<Breaker>>>,
}

impl Health {
    /// One closed breaker per `(provider, region)`.
    pub fn new(config: BreakerConfig, regions: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut breakers: HashMap<String, HashMap<String, Mutex<Breaker>>> = HashMap::new();
        for (provider, region) in regions {
            set_gauge(&provider, &region, true);
            breakers.entry(provider).or_default().insert(
                region,
                Mutex::new(Breaker {
                    state: State::Closed,
                    recovered: None,
                    failures_in_row: 0,
                    recent: 0,
                    recent_len: 0,
                    successes: 0,
                    failures: 0,
                    opened_because: None,
                }),
            );
        }
        Health { config, breakers }
    }

    /// Whether the region should be tried in its turn (closed, or open with a trial due).
    /// Regions that are not preferred are tried last, only if nothing else answered.
    pub fn preferred(&self, provider: &str, region: &str) -> bool {
        let Some(b) = self.get(provider, region) else {
            return true;
        };
        let Ok(b) = b.lock() else { return true };
        match b.state {
            State::Closed => true,
            State::Open { since } | State::HalfOpen { since } => {
                since.elapsed() >= self.config.cooldown
            }
        }
    }

    /// Whether the deployment is preferred, and how warm it is.
    pub fn standing(&self, provider: &str, name: &str) -> Standing {
        let warm = Standing {
            preferred: true,
            warmth: 1.0,
        };
        let Some(b) = self.get(provider, name) else {
            return warm;
        };
        let Ok(b) = b.lock() else { return warm };
        match b.state {
            State::Closed => Standing {
                preferred: true,
                warmth: match b.recovered {
                    Some(at) if !self.config.slow_start.is_zero() => {
                        let ramp =
                            at.elapsed().as_secs_f64() / self.config.slow_start.as_secs_f64();
                        (0.1 + 0.9 * ramp).min(1.0)
                    }
                    _ => 1.0,
                },
            },
            // A trial, when due, goes in the deployment's turn.
            State::Open { since } | State::HalfOpen { since } => Standing {
                preferred: since.elapsed() >= self.config.cooldown,
                warmth: 1.0,
            },
        }
    }

    /// Deployments whose breaker is not closed: what active probes should check.
    pub fn not_closed(&self) -> Vec<(String, String)> {
        self.all()
            .filter(|(_, _, m)| m.lock().is_ok_and(|b| b.state != State::Closed))
            .map(|(provider, region, _)| (provider.to_string(), region.to_string()))
            .collect()
    }

    /// An active probe reached the deployment: close its breaker (it then warms up).
    pub fn probe_ok(&self, provider: &str, name: &str) {
        self.success(provider, name);
    }

    /// An active probe failed: keep the deployment out for another cooldown.
    pub fn probe_failed(&self, provider: &str, name: &str) {
        let Some(m) = self.get(provider, name) else {
            return;
        };
        let Ok(mut b) = m.lock() else { return };
        if b.state != State::Closed {
            b.state = State::Open {
                since: Instant::now(),
            };
        }
    }

    /// A request is about to try the region: an open breaker whose cooldown is over
    /// becomes half-open (this request is its trial).
    pub fn attempt(&self, provider: &str, region: &str) {
        let Some(b) = self.get(provider, region) else {
            return;
        };
        let Ok(mut b) = b.lock() else { return };
        if let State::Open { since } | State::HalfOpen { since } = b.state
            && since.elapsed() >= self.config.cooldown
        {
            b.state = State::HalfOpen {
                since: Instant::now(),
            };
        }
    }

    /// The region answered.
    pub fn success(&self, provider: &str, region: &str) {
        let Some(m) = self.get(provider, region) else {
            return;
        };
        let Ok(mut b) = m.lock() else { return };
        b.successes += 1;
        b.failures_in_row = 0;
        b.recent <<= 1;
        b.recent_len = (b.recent_len + 1).min(64);
        if b.state != State::Closed {
            b.state = State::Closed;
            b.recovered = Some(Instant::now());
            tracing::info!(provider, region, "region healthy again; breaker closed");
            set_gauge(provider, region, true);
        }
    }

    /// The region failed in a way that says something about its health.
    pub fn failure(&self, provider: &str, region: &str, why: &str) {
        let Some(m) = self.get(provider, region) else {
            return;
        };
        let Ok(mut b) = m.lock() else { return };
        b.failures += 1;
        b.failures_in_row += 1;
        b.recent = (b.recent << 1) | 1;
        b.recent_len = (b.recent_len + 1).min(64);
        let window = self.config.error_rate_window.clamp(1, 64);
        let rate_tripped = b.recent_len >= window && {
            let mask = if window == 64 {
                u64::MAX
            } else {
                (1u64 << window) - 1
            };
            f64::from((b.recent & mask).count_ones()) / f64::from(window) >= self.config.error_rate
        };
        let trip = match b.state {
            State::HalfOpen { .. } => Some(format!("its trial request failed: {why}")),
            State::Closed if b.failures_in_row >= self.config.consecutive_failures => Some(
                format!("{} failures in a row, the last: {why}", b.failures_in_row),
            ),
            State::Closed if rate_tripped => Some(format!(
                "error rate of {:.0}% or more over the last {window} attempts, the last: {why}",
                self.config.error_rate * 100.0
            )),
            State::Closed | State::Open { .. } => None,
        };
        if let Some(reason) = trip {
            b.opened_because = Some((reason, crate::usage::now_ms()));
            b.state = State::Open {
                since: Instant::now(),
            };
            b.recent = 0;
            b.recent_len = 0;
            tracing::warn!(
                provider,
                region,
                failures_in_row = b.failures_in_row,
                "breaker opened; region skipped for {:?}",
                self.config.cooldown
            );
            set_gauge(provider, region, false);
        }
    }

    /// `GET /admin/health` body.
    pub fn snapshot(&self) -> Value {
        let mut providers = serde_json::Map::new();
        for (provider, region, m) in self.all() {
            let Ok(b) = m.lock() else { continue };
            let (state, open_for) = match b.state {
                State::Closed => ("closed", None),
                State::HalfOpen { .. } => ("half_open", None),
                State::Open { since } => (
                    "open",
                    Some(
                        self.config
                            .cooldown
                            .saturating_sub(since.elapsed())
                            .as_secs_f64(),
                    ),
                ),
            };
            let entry = providers
                .entry(provider.to_string())
                .or_insert_with(|| json!({}));
            let warmth = match (b.state, b.recovered) {
                (State::Closed, Some(at)) if !self.config.slow_start.is_zero() => (0.1
                    + 0.9 * at.elapsed().as_secs_f64() / self.config.slow_start.as_secs_f64())
                .min(1.0),
                (State::Closed, _) => 1.0,
                _ => 0.1,
            };
            entry[region] = json!({
                "state": state,
                "warmth": warmth,
                "failures_in_row": b.failures_in_row,
                "successes": b.successes,
                "failures": b.failures,
                "reopens_in_s": open_for,
                "opened_because": b.opened_because.as_ref().map(|(why, _)| why),
                "opened_at_ms": b.opened_because.as_ref().map(|(_, at)| at),
            });
        }
        json!({ "providers": providers, "consecutive_failures": self.config.consecutive_failures,
            "cooldown_s": self.config.cooldown.as_secs_f64() })
    }

    fn get(&self, provider: &str, region: &str) -> Option<&Mutex<Breaker>> {
        self.breakers.get(provider)?.get(region)
    }

    /// Every breaker, with its provider and region.
    fn all(&self) -> impl Iterator<Item = (&str, &str, &Mutex<Breaker>)> {
        self.breakers.iter().flat_map(|(provider, regions)| {
            regions
                .iter()
                .map(move |(region, m)| (provider.as_str(), region.as_str(), m))
        })
    }
}

fn set_gauge(provider: &str, region: &str, healthy: bool) {
    gauge!("switchyard_region_healthy", "provider" => provider.to_string(), "region" => region.to_string())
        .set(if healthy { 1.0 } else { 0.0 });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(cooldown_ms: u64) -> Health {
        Health::new(
            BreakerConfig {
                consecutive_failures: 3,
                cooldown: Duration::from_millis(cooldown_ms),
                slow_start: Duration::from_secs(100),
                error_rate: 0.5,
                error_rate_window: 10,
            },
            [("p".to_string(), "a".to_string())],
        )
    }

    #[test]
    fn opens_after_consecutive_failures_and_not_before() {
        let h = health(10_000);
        h.failure("p", "a", "503");
        h.failure("p", "a", "503");
        assert!(h.preferred("p", "a"));
        h.failure("p", "a", "503");
        assert!(!h.preferred("p", "a"));
        assert_eq!(h.snapshot()["providers"]["p"]["a"]["state"], "open");
    }

    #[test]
    fn a_success_resets_the_count() {
        let h = health(10_000);
        h.failure("p", "a", "503");
        h.failure("p", "a", "503");
        h.success("p", "a");
        h.failure("p", "a", "503");
        assert!(h.preferred("p", "a"));
    }

    #[test]
    fn after_cooldown_one_trial_decides() {
        let h = health(0);
        for _ in 0..3 {
            h.failure("p", "a", "503");
        }
        assert!(h.preferred("p", "a"), "cooldown over: a trial is due");
        h.attempt("p", "a");
        assert_eq!(h.snapshot()["providers"]["p"]["a"]["state"], "half_open");
        h.failure("p", "a", "503");
        assert_eq!(h.snapshot()["providers"]["p"]["a"]["state"], "open");
        h.attempt("p", "a");
        h.success("p", "a");
        assert_eq!(h.snapshot()["providers"]["p"]["a"]["state"], "closed");
    }

    #[test]
    fn a_deployment_that_comes_back_warms_up_and_probes_decide_for_open_ones() {
        let h = health(10_000);
        assert_eq!(h.standing("p", "a").warmth, 1.0, "never failed: fully warm");
        for _ in 0..3 {
            h.failure("p", "a", "503");
        }
        assert_eq!(h.not_closed(), [("p".to_string(), "a".to_string())]);
        assert!(!h.standing("p", "a").preferred);
        h.probe_failed("p", "a");
        assert!(!h.standing("p", "a").preferred, "still out");
        h.probe_ok("p", "a");
        let s = h.standing("p", "a");
        assert!(s.preferred && s.warmth < 0.2, "{s:?}");
        assert!(h.not_closed().is_empty());
    }

    #[test]
    fn a_high_error_rate_opens_the_breaker_without_failures_in_a_row() {
        let h = health(10_000);
        // Fail, succeed, fail, succeed…: never two failures in a row, but 50% of the window.
        for i in 0..9 {
            if i % 2 == 0 {
                h.failure("p", "a", "503");
            } else {
                h.success("p", "a");
            }
            assert!(h.preferred("p", "a"), "window not full yet at {i}");
        }
        h.success("p", "a");
        assert!(h.preferred("p", "a"), "4 of 10 failed");
        h.failure("p", "a", "503");
        assert!(!h.preferred("p", "a"), "5 of the last 10 failed");
    }

    #[test]
    fn unknown_regions_are_always_preferred() {
        assert!(health(0).preferred("x", "y"));
    }
}
