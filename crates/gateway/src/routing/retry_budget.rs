//! Retry budget: retries (a second region, a stream moved before its first token) may
//! add at most a fixed share of the traffic, so that when every region is failing — a 429
//! storm, say — the gateway does not multiply the load on them.
//!
//! Each request deposits `ratio` of a token; each retry withdraws one. The balance is
//! capped, and never below a small floor that lets a quiet gateway still retry.

use std::sync::Mutex;

use metrics::counter;

/// A token bucket of retries.
#[derive(Debug)]
pub(crate) struct RetryBudget {
    ratio: f64,
    cap: f64,
    tokens: Mutex<f64>,
}

impl RetryBudget {
    /// Retries may be up to `ratio` of requests (e.g. 0.2), with at most `cap` saved up.
    pub(crate) fn new(ratio: f64, cap: f64) -> Self {
        RetryBudget {
            ratio,
            cap,
            tokens: Mutex::new(cap),
        }
    }

    /// A request arrived.
    pub(crate) fn deposit(&self) {
        if let Ok(mut t) = self.tokens.lock() {
            *t = (*t + self.ratio).min(self.cap);
        }
    }

    /// Take one retry from the budget; `false` (and counted) when it is spent.
    pub(crate) fn withdraw(&self) -> bool {
        let granted = self.tokens.lock().map(|mut t| {
            if *t >= 1.0 {
                *t -= 1.0;
                true
            } else {
                false
            }
        });
        let granted = granted.unwrap_or(true);
        if !granted {
            counter!("switchyard_retry_budget_exhausted_total").increment(1);
        }
        granted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_are_bounded_by_the_share_of_requests() {
        let b = RetryBudget::new(0.2, 2.0);
        assert!(b.withdraw() && b.withdraw(), "the saved-up retries");
        assert!(!b.withdraw(), "then nothing until requests deposit");
        for _ in 0..5 {
            b.deposit();
        }
        assert!(b.withdraw(), "5 requests earn one retry");
        assert!(!b.withdraw());
    }

    #[test]
    fn the_balance_is_capped() {
        let b = RetryBudget::new(0.5, 3.0);
        for _ in 0..100 {
            b.deposit();
        }
        assert_eq!((0..10).filter(|_| b.withdraw()).count(), 3);
    }
}
