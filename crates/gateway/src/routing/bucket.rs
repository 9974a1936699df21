//! A per-minute token bucket, for requests-per-minute and tokens-per-minute limits of keys
//! and deployments.

use std::time::{Duration, Instant};

/// Most debt (use beyond reservations) a bucket carries, in minutes of its limit.
const MAX_DEBT_MINUTES: f64 = 60.0;
/// Longest wait a bucket ever asks for, in seconds (its whole debt, plus a minute).
const MAX_WAIT_SECS: f64 = (MAX_DEBT_MINUTES + 1.0) * 60.0;

/// A per-minute token bucket: `limit` to start with, refilled at `limit` per minute.
#[derive(Debug)]
pub(crate) struct Bucket {
    /// The per-minute limit.
    pub limit: f64,
    level: f64,
    at: Instant,
}

impl Bucket {
    /// A full bucket of `limit` per minute.
    pub(crate) fn new(limit: u64) -> Self {
        Bucket {
            limit: limit as f64,
            level: limit as f64,
            at: Instant::now(),
        }
    }

    /// Add what has dripped in since the last look.
    pub(crate) fn refill(&mut self) {
        let now = Instant::now();
        let per_sec = self.limit / 60.0;
        self.level =
            (self.level + now.duration_since(self.at).as_secs_f64() * per_sec).min(self.limit);
        self.at = now;
    }

    /// Take `n`, or say how long until `n` is there.
    pub(crate) fn take(&mut self, n: f64) -> Result<(), Duration> {
        self.refill();
        if self.level >= n {
            self.level -= n;
            return Ok(());
        }
        let per_sec = self.limit / 60.0;
        let wait = if per_sec > 0.0 && n <= self.limit {
            (n - self.level) / per_sec
        } else {
            60.0
        };
        // The level is at least `-MAX_DEBT_MINUTES` minutes of limit, so the wait is
        // bounded; the clamp keeps a NaN or an infinity from ever reaching `Duration`.
        let wait = if wait.is_finite() {
            wait.clamp(0.001, MAX_WAIT_SECS)
        } else {
            MAX_WAIT_SECS
        };
        Err(Duration::try_from_secs_f64(wait).unwrap_or(Duration::from_secs(60)))
    }

    /// Give back `n` (reserved but not used), or take `-n` more (used beyond the
    /// reservation; may go below zero, which later requests wait out, down to
    /// `MAX_DEBT_MINUTES` minutes of the limit).
    pub(crate) fn adjust(&mut self, n: f64) {
        self.refill();
        let floor = -self.limit * MAX_DEBT_MINUTES;
        let level = self.level + if n.is_finite() { n } else { 0.0 };
        self.level = level.clamp(floor.min(0.0), self.limit);
    }

    /// What is left now (never below zero).
    pub(crate) fn remaining(&self) -> u64 {
        self.level.max(0.0) as u64
    }

    /// Seconds until the bucket is full again.
    pub(crate) fn reset_secs(&self) -> f64 {
        let per_sec = self.limit / 60.0;
        if per_sec > 0.0 {
            ((self.limit - self.level) / per_sec).max(0.0)
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refuses_past_its_limit_and_says_how_long_to_wait() {
        let mut b = Bucket::new(60);
        for _ in 0..60 {
            assert!(b.take(1.0).is_ok());
        }
        let wait = b.take(1.0).unwrap_err();
        assert!(wait <= Duration::from_millis(1_100), "{wait:?}");
        b.adjust(5.0);
        assert!(b.take(5.0).is_ok(), "a refund is usable at once");
        assert!(
            Bucket::new(10).take(11.0).is_err(),
            "more than the limit never fits"
        );
    }

    #[test]
    fn a_huge_overrun_leaves_a_bounded_debt_and_a_bounded_wait() {
        let mut b = Bucket::new(100);
        b.adjust(-1e30);
        b.adjust(f64::NEG_INFINITY);
        b.adjust(f64::NAN);
        let wait = b.take(1.0).unwrap_err();
        assert!(wait <= Duration::from_secs_f64(MAX_WAIT_SECS), "{wait:?}");
        assert!(
            wait >= Duration::from_secs(3600),
            "the debt is an hour: {wait:?}"
        );
        assert_eq!(b.remaining(), 0);
    }
}
