//! Percentiles from HDR histograms: microsecond resolution, 3 significant digits.

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::cost::{NANOS_PER_USD, SECONDS_PER_MONTH};
use crate::engine::Rec;
use crate::report::{Bucket, CostReport, RateBasis, Stat};

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

/// The cost of a model's requests as the target reported it, with a month priced at
/// `rate_rps` (see [`CostReport`]); `None` when no request reported a readable cost.
pub fn cost_of(recs: &[Rec], rate_rps: f64, basis: RateBasis) -> Option<CostReport> {
    let costs = recs.iter().filter_map(|r| r.cost_nanos);
    let (n, total) = costs.fold((0u64, 0u128), |(n, t), c| {
        (n.saturating_add(1), t.saturating_add(u128::from(c)))
    });
    if n == 0 {
        return None;
    }
    let per_1k_nanos = total.saturating_mul(1000) as f64 / n as f64;
    let report = CostReport {
        requests_with_cost: n,
        cost_unreadable: recs.iter().filter(|r| r.cost_unreadable).count() as u64,
        total_nanos: u64::try_from(total).unwrap_or(u64::MAX),
        total_usd: total as f64 / NANOS_PER_USD as f64,
        per_1k_requests_usd: per_1k_nanos / NANOS_PER_USD as f64,
        ..CostReport::default()
    };
    Some(priced_at(report, rate_rps, basis))
}

/// `cost` with its month priced at another rate: mean cost per request × `rate_rps` ×
/// [`SECONDS_PER_MONTH`]. A rate that is not a positive number prices the month at 0.
pub fn priced_at(cost: CostReport, rate_rps: f64, basis: RateBasis) -> CostReport {
    let rate = if rate_rps.is_finite() && rate_rps > 0.0 {
        rate_rps
    } else {
        0.0
    };
    let mean_usd = cost.per_1k_requests_usd / 1000.0;
    CostReport {
        per_month_usd: mean_usd * rate * SECONDS_PER_MONTH,
        rate_rps: rate,
        rate_basis: basis,
        ..cost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(cost_nanos: Option<u64>, error: Option<&str>) -> Rec {
        Rec {
            scheduled: Duration::ZERO,
            sent: Duration::ZERO,
            first_byte: None,
            ttft: None,
            last_token: None,
            done: Duration::from_millis(10),
            output_tokens: 1,
            input_tokens: 1,
            estimated: false,
            error: error.map(str::to_string),
            cost_nanos,
            cost_unreadable: false,
        }
    }

    #[test]
    fn cost_per_thousand_and_per_month_come_from_the_mean_reported_cost() {
        // 1,000 + 2,000 + 6,000 nano-dollars over 3 requests (one failed but charged),
        // one request without a cost: the mean is 3,000 n$ = $0.000003.
        let recs = [
            rec(Some(1_000), None),
            rec(Some(2_000), Some("http_502")),
            rec(Some(6_000), None),
            rec(None, None),
        ];
        let c = cost_of(&recs, 2.0, RateBasis::Offered).unwrap();
        assert_eq!(c.requests_with_cost, 3);
        assert_eq!(c.total_nanos, 9_000);
        assert_eq!(c.total_usd, 9e-6);
        assert_eq!(c.per_1k_requests_usd, 0.003);
        // $0.000003 × 2 req/s × 2,592,000 s = $15.552.
        assert!((c.per_month_usd - 15.552).abs() < 1e-12, "{c:?}");
        assert_eq!((c.rate_rps, c.rate_basis), (2.0, RateBasis::Offered));
    }

    #[test]
    fn a_month_is_thirty_days() {
        assert_eq!(SECONDS_PER_MONTH, 2_592_000.0);
        let c = cost_of(&[rec(Some(NANOS_PER_USD), None)], 1.0, RateBasis::Achieved);
        let c = c.unwrap();
        assert_eq!(c.per_month_usd, 2_592_000.0);
        assert_eq!(c.rate_basis, RateBasis::Achieved);
    }

    #[test]
    fn repricing_changes_only_the_month() {
        let c = cost_of(&[rec(Some(500), None)], 4.0, RateBasis::Offered).unwrap();
        let r = priced_at(c, 1.0, RateBasis::Achieved);
        assert_eq!(r.per_month_usd * 4.0, c.per_month_usd);
        assert_eq!((r.total_nanos, r.per_1k_requests_usd), (500, 0.0005));
        assert_eq!(
            priced_at(c, f64::NAN, RateBasis::Offered).per_month_usd,
            0.0
        );
    }

    #[test]
    fn a_run_without_reported_costs_has_no_cost() {
        let mut unreadable = rec(None, None);
        unreadable.cost_unreadable = true;
        assert_eq!(
            cost_of(&[rec(None, None), unreadable], 5.0, RateBasis::Offered),
            None
        );
        assert_eq!(cost_of(&[], 5.0, RateBasis::Offered), None);
    }

    #[test]
    fn unreadable_costs_are_counted_apart() {
        let mut unreadable = rec(None, None);
        unreadable.cost_unreadable = true;
        let c = cost_of(&[rec(Some(7), None), unreadable], 1.0, RateBasis::Offered);
        let c = c.unwrap();
        assert_eq!(
            (c.requests_with_cost, c.cost_unreadable, c.total_nanos),
            (1, 1, 7)
        );
    }

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
