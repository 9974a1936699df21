//! Retry budget: retries (a second region, a stream moved before its first token) may
//! add at most a fixed share of the traffic, so that when every region is failing — a 429
//! storm, say — the gateway does not multiply the load on them.
//!
//! Each request deposits `ratio` of a token; each retry withdraws one. The balance is
//! capped, and never below a small floor that lets a quiet gateway still retry.
//!
//! Moving a request to another vendor than the one that just failed spends nothing
//! ([`RetryBudget::may_move`]): it adds no load to the vendor in trouble, and a budget
//! shared by every model would otherwise let the doomed retries of a model only the
//! failing vendor sells starve the failover of one another vendor also sells.

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

    /// Whether a request whose attempt at vendor `from` failed may go to vendor `to`: free
    /// for another vendor, a withdrawal for the same one.
    pub(crate) fn may_move(&self, from: &str, to: &str) -> bool {
        from != to || self.withdraw()
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

    #[test]
    fn a_move_to_another_vendor_is_free_and_one_on_the_same_vendor_is_not() {
        let b = RetryBudget::new(0.0, 1.0);
        assert!(b.may_move("deepseek", "siliconflow"));
        assert!(b.may_move("deepseek", "siliconflow"), "still free");
        assert!(b.may_move("deepseek", "deepseek"), "the one saved up");
        assert!(!b.may_move("deepseek", "deepseek"), "spent");
        assert!(b.may_move("deepseek", "openrouter"));
    }
}
