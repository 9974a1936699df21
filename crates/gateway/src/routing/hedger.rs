//! Hedging state of one model: when to send a second copy of a slow first attempt (the
//! model's recent latency percentile) and how many copies may be sent (a budget).

use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};

use super::retry_budget::RetryBudget;
use crate::config::HedgeConfig;

/// Recent latencies of one kind, for percentiles.
#[derive(Debug)]
struct Window {
    samples: Mutex<(Vec<u32>, usize)>,
}

/// Samples kept per window.
const WINDOW: usize = 512;
/// Samples needed before the percentile is trusted.
const MIN_SAMPLES: usize = 20;

impl Window {
    fn new() -> Self {
        Window {
            samples: Mutex::new((Vec::with_capacity(WINDOW), 0)),
        }
    }

    fn push(&self, d: Duration) {
        let us = d.as_micros().min(u128::from(u32::MAX)) as u32;
        if let Ok(mut g) = self.samples.lock() {
            let (buf, next) = &mut *g;
            if buf.len() < WINDOW {
                buf.push(us);
            } else {
                buf[*next] = us;
            }
            *next = (*next + 1) % WINDOW;
        }
    }

    fn percentile(&self, p: f64) -> Option<Duration> {
        let mut copy = self.samples.lock().ok()?.0.clone();
        if copy.len() < MIN_SAMPLES {
            return None;
        }
        let rank = ((p / 100.0) * (copy.len() - 1) as f64).round() as usize;
        let rank = rank.min(copy.len() - 1);
        let (_, v, _) = copy.select_nth_unstable(rank);
        Some(Duration::from_micros(u64::from(*v)))
    }
}

/// Hedging state of one model: when to send the second copy, and how many may be sent.
#[derive(Debug)]
pub struct Hedger {
    config: HedgeConfig,
    budget: RetryBudget,
    /// Time to first token of streamed attempts.
    ttft: Window,
    /// Time to the whole answer of non-streamed attempts.
    whole: Window,
}

impl Hedger {
    /// Hedging with `config`, nothing measured yet.
    pub fn new(config: HedgeConfig) -> Self {
        Hedger {
            config,
            budget: RetryBudget::new(config.budget_ratio, config.budget_reserve),
            ttft: Window::new(),
            whole: Window::new(),
        }
    }

    /// How long the first attempt gets before a hedge is sent.
    pub fn delay(&self, stream: bool) -> Duration {
        let w = if stream { &self.ttft } else { &self.whole };
        w.percentile(self.config.percentile)
            .unwrap_or(self.config.initial_delay)
            .max(self.config.min_delay)
    }

    /// An attempt answered (first token of a stream, or a whole answer) after `d`.
    pub fn observe(&self, stream: bool, d: Duration) {
        if stream {
            self.ttft.push(d);
        } else {
            self.whole.push(d);
        }
    }

    /// A request for the model arrived: it earns a share of a hedge.
    pub fn deposit(&self) {
        self.budget.deposit();
    }

    /// Take one hedge from the budget.
    pub fn withdraw(&self) -> bool {
        self.budget.withdraw()
    }

    pub(super) fn snapshot(&self) -> Value {
        json!({
            "percentile": self.config.percentile,
            "delay_stream_ms": self.delay(true).as_secs_f64() * 1000.0,
            "delay_whole_ms": self.delay(false).as_secs_f64() * 1000.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hedge_delay_is_the_initial_one_until_measured_then_the_percentile() {
        let h = Hedger::new(HedgeConfig {
            percentile: 90.0,
            min_delay: Duration::from_millis(5),
            initial_delay: Duration::from_millis(700),
            budget_ratio: 0.1,
            budget_reserve: 1.0,
        });
        assert_eq!(h.delay(true), Duration::from_millis(700));
        for ms in 1..=100 {
            h.observe(true, Duration::from_millis(ms));
        }
        assert_eq!(h.delay(true), Duration::from_millis(90));
        assert_eq!(h.delay(false), Duration::from_millis(700), "kinds apart");
        for _ in 0..WINDOW {
            h.observe(true, Duration::from_millis(1));
        }
        assert_eq!(
            h.delay(true),
            Duration::from_millis(5),
            "never below min_delay"
        );
    }
}
