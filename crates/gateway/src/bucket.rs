//! A per-minute token bucket, for requests-per-minute and tokens-per-minute limits of keys
//! and deployments.

use std::time::{Duration, Instant};

/// A per-minute token bucket: `limit` to start with, refilled at `limit` per minute.
#[derive(Debug)]
pub struct Bucket {
    /// The per-minute limit.
    pub limit: f64,
    level: f64,
    at: Instant,
}

impl Bucket {
    /// A full bucket of `limit` per minute.
    pub fn new(limit: u64) -> Self {
        Bucket {
            limit: limit as f64,
            level: limit as f64,
            at: Instant::now(),
        }
    }

    /// Add what has dripped in since the last look.
    pub fn refill(&mut self) {
        let now = Instant::now();
        let per_sec = self.limit / 60.0;
        self.level =
            (self.level + now.duration_since(self.at).as_secs_f64() * per_sec).min(self.limit);
        self.at = now;
    }

    /// Take `n`, or say how long until `n` is there.
    pub fn take(&mut self, n: f64) -> Result<(), Duration> {
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
        Err(Duration::from_secs_f64(wait.max(0.001)))
    }

    /// Give back `n` (reserved but not used), or take `-n` more (used beyond the
    /// reservation; may go below zero, which later requests wait out).
    pub fn adjust(&mut self, n: f64) {
        self.refill();
        self.level = (self.level + n).min(self.limit);
    }

    /// What is left now (never below zero).
    pub fn remaining(&self) -> u64 {
        self.level.max(0.0) as u64
    }

    /// Seconds until the bucket is full again.
    pub fn reset_secs(&self) -> f64 {
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
}
