//! How long to wait before trying the same deployment again.

use std::time::Duration;

use rand::Rng;

use crate::config::RetriesConfig;

/// How long to wait before trying the same deployment again: the vendor's `Retry-After`
/// when it asked for one no longer than `backoff_max_ms`, else a random wait up to the
/// doubling backoff (full jitter). `None`: do not retry.
pub(super) fn backoff(
    cfg: &RetriesConfig,
    round: u32,
    retry_after_secs: Option<u64>,
) -> Option<Duration> {
    let max = cfg.backoff_max;
    if let Some(secs) = retry_after_secs {
        let asked = Duration::from_secs(secs);
        return (asked <= max).then_some(asked);
    }
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let ceiling = ms(cfg.backoff_base)
        .saturating_mul(1u64 << round.min(16))
        .min(ms(max));
    Some(Duration::from_millis(
        rand::rng().random_range(0..=ceiling.max(1)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> RetriesConfig {
        RetriesConfig {
            budget_ratio: 0.2,
            budget_reserve: 20.0,
            same_deployment: 1,
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(2_000),
        }
    }

    #[test]
    fn backoff_honours_a_short_retry_after_and_refuses_a_long_one() {
        assert_eq!(backoff(&cfg(), 0, Some(1)), Some(Duration::from_secs(1)));
        assert_eq!(backoff(&cfg(), 0, Some(30)), None);
    }

    #[test]
    fn backoff_is_jittered_under_a_doubling_ceiling() {
        for round in 0..8 {
            let ceiling = (100u64 << round).min(2_000);
            for _ in 0..50 {
                let w = backoff(&cfg(), round, None).unwrap();
                assert!(w <= Duration::from_millis(ceiling), "{w:?} > {ceiling}ms");
            }
        }
        let spread: std::collections::HashSet<_> =
            (0..50).map(|_| backoff(&cfg(), 3, None)).collect();
        assert!(spread.len() > 10, "jitter spreads retries out");
    }
}
