//! Percentiles from HDR histograms: microsecond resolution, 3 significant digits.

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::report::{Bucket, Stat};

/// Summarise a histogram of microseconds as milliseconds; `None` when empty.
pub fn stat_of_micros(h: &Histogram<u64>) -> Option<Stat> {
    if h.is_empty() {
        return None;
    }
    let ms = |us: u64| us as f64 / 1000.0;
    Some(Stat {
        count: h.len(),
        mean: h.mean() / 1000.0,
        min: ms(h.min()),
        p50: ms(h.value_at_quantile(0.50)),
        p90: ms(h.value_at_quantile(0.90)),
        p95: ms(h.value_at_quantile(0.95)),
        p99: ms(h.value_at_quantile(0.99)),
        p999: ms(h.value_at_quantile(0.999)),
        max: ms(h.max()),
    })
}

/// Summarise durations as milliseconds; `None` when empty.
pub fn stat_of(durations: impl IntoIterator<Item = Duration>) -> Option<Stat> {
    let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).ok()?;
    for d in durations {
        let us = u64::try_from(d.as_micros())
            .unwrap_or(u64::MAX)
            .clamp(1, 3_600_000_000);
        h.record(us).ok()?;
    }
    stat_of_micros(&h)
}

/// Summarise plain values (e.g. tokens/s) kept to 3 significant digits; `None` when empty.
pub fn stat_of_values(values: impl IntoIterator<Item = f64>) -> Option<Stat> {
    // Values are scaled by 1000 so that the histogram keeps three decimals.
    let mut h = Histogram::<u64>::new_with_bounds(1, u64::MAX / 4, 3).ok()?;
    for v in values.into_iter().filter(|v| v.is_finite() && *v >= 0.0) {
        h.record(((v * 1000.0) as u64).max(1)).ok()?;
    }
    stat_of_micros(&h)
}

/// Log-spaced buckets (5 per decade, 0.01 ms … 1,000 s) of a microsecond histogram,
/// trimmed of empty buckets at both ends.
pub fn log_buckets(h: &Histogram<u64>) -> Vec<Bucket> {
    if h.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut below = 0u64;
    for k in -10..=30 {
        let le_ms = 10f64.powf(f64::from(k) / 5.0);
        let le_us = (le_ms * 1000.0) as u64;
        let upto = h.count_between(0, le_us);
        out.push(Bucket {
            le: le_ms,
            count: upto - below,
        });
        below = upto;
    }
    let first = out.iter().position(|b| b.count > 0).unwrap_or(0);
    let last = out.iter().rposition(|b| b.count > 0).unwrap_or(0);
    out[first.saturating_sub(1)..=last].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_uniform_ramp() {
        let s = stat_of((1..=1000).map(Duration::from_millis)).unwrap();
        assert_eq!(s.count, 1000);
        assert!((s.p50 - 500.0).abs() < 1.0, "{s:?}");
        assert!((s.p99 - 990.0).abs() < 1.5, "{s:?}");
        assert!((s.max - 1000.0).abs() < 1.0, "{s:?}");
        assert!((s.min - 1.0).abs() < 0.01, "{s:?}");
    }

    #[test]
    fn empty_input_has_no_summary() {
        assert!(stat_of([]).is_none());
        assert!(stat_of_values([]).is_none());
    }

    #[test]
    fn values_keep_decimals() {
        let s = stat_of_values([12.5, 12.5, 12.5]).unwrap();
        assert!((s.p50 - 12.5).abs() < 0.05, "{s:?}");
    }

    #[test]
    fn buckets_hold_every_sample_once() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for us in [50, 900, 1_500, 20_000, 20_000, 3_000_000] {
            h.record(us).unwrap();
        }
        let b = log_buckets(&h);
        assert_eq!(b.iter().map(|b| b.count).sum::<u64>(), 6);
        assert!(b.windows(2).all(|w| w[0].le < w[1].le));
    }
}
