//! Percentile summaries from HDR histograms (microsecond resolution, 3 significant digits).

use std::time::Duration;

use hdrhistogram::Histogram;

/// Percentiles of one latency figure, with its sample count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Samples recorded.
    pub count: u64,
    /// Mean, in milliseconds.
    pub mean_ms: f64,
    /// Median, in milliseconds.
    pub p50_ms: f64,
    /// 90th percentile, in milliseconds.
    pub p90_ms: f64,
    /// 99th percentile, in milliseconds.
    pub p99_ms: f64,
    /// 99.9th percentile, in milliseconds.
    pub p999_ms: f64,
    /// Maximum, in milliseconds.
    pub max_ms: f64,
}

impl Summary {
    /// Summarise `durations`; `None` when empty.
    pub fn of(durations: impl IntoIterator<Item = Duration>) -> Option<Summary> {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).ok()?;
        for d in durations {
            let us = u64::try_from(d.as_micros())
                .unwrap_or(u64::MAX)
                .clamp(1, 3_600_000_000);
            h.record(us).ok()?;
        }
        if h.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Some(Summary {
            count: h.len(),
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_uniform_ramp() {
        let s = Summary::of((1..=1000).map(Duration::from_millis)).unwrap();
        assert_eq!(s.count, 1000);
        assert!((s.p50_ms - 500.0).abs() < 1.0, "{s:?}");
        assert!((s.p99_ms - 990.0).abs() < 1.5, "{s:?}");
        assert!((s.max_ms - 1000.0).abs() < 1.0, "{s:?}");
    }

    #[test]
    fn empty_input_has_no_summary() {
        assert!(Summary::of([]).is_none());
    }
}
