//! Slots as JSON: one object per point for `GET /admin/stats`, and columns (one array
//! per line) for the dashboard's `GET /admin/overview`.

use std::collections::BTreeMap;

use serde::Serialize;

use super::slot::{Class, Event, Slot, percentile};

/// `x` to two decimals: the charts need no more, and the JSON is shorter.
fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// One point of a series, as `GET /admin/stats` returns it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Point {
    /// Its start, Unix seconds.
    pub(crate) t: u64,
    /// Requests per second over the point.
    pub(crate) rps: f64,
    /// 4xx answers per second.
    pub(crate) client_errors_per_s: f64,
    /// 5xx answers per second.
    pub(crate) server_errors_per_s: f64,
    /// Errors per second by class (`invalid`, `auth`, `rate_limited`, `budget`,
    /// `client_gone`, `shed`, `upstream`, `gateway`).
    pub(crate) errors_per_s: BTreeMap<&'static str, f64>,
    /// Failovers, retries, hedges (won, lost), fallbacks and escalations per second.
    pub(crate) events_per_s: BTreeMap<&'static str, f64>,
    /// The most requests in flight in the point (the `all` series only).
    pub(crate) in_flight: u32,
    /// Output tokens per second.
    pub(crate) output_tokens_per_s: f64,
    /// End-to-end latency percentiles, ms.
    pub(crate) p50_ms: Option<f64>,
    /// 95th percentile.
    pub(crate) p95_ms: Option<f64>,
    /// 99th percentile.
    pub(crate) p99_ms: Option<f64>,
    /// Time to first token percentiles, ms (streams).
    pub(crate) ttft_p50_ms: Option<f64>,
    /// 95th percentile of TTFT.
    pub(crate) ttft_p95_ms: Option<f64>,
    /// 99th percentile of TTFT.
    pub(crate) ttft_p99_ms: Option<f64>,
}

impl Point {
    pub(crate) fn of(s: &Slot, width: u64) -> Self {
        let per_s = |n: f64| round(n / width as f64);
        let (client, server) = s.client_and_server_errors();
        Point {
            t: s.at,
            rps: per_s(f64::from(s.requests)),
            client_errors_per_s: per_s(f64::from(client)),
            server_errors_per_s: per_s(f64::from(server)),
            errors_per_s: Class::ALL[1..]
                .iter()
                .map(|&c| (c.name(), per_s(f64::from(s.class(c)))))
                .collect(),
            events_per_s: Event::ALL
                .iter()
                .map(|&e| (e.name(), per_s(f64::from(s.events[e as usize]))))
                .collect(),
            in_flight: s.in_flight,
            output_tokens_per_s: per_s(s.output_tokens as f64),
            p50_ms: percentile(&s.latency, 50.0).map(round),
            p95_ms: percentile(&s.latency, 95.0).map(round),
            p99_ms: percentile(&s.latency, 99.0).map(round),
            ttft_p50_ms: percentile(&s.ttft, 50.0).map(round),
            ttft_p95_ms: percentile(&s.ttft, 95.0).map(round),
            ttft_p99_ms: percentile(&s.ttft, 99.0).map(round),
        }
    }
}

/// A series as columns: element `i` of every array is point `i` of the overview's `t`.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Lines {
    /// Requests (or attempts, for a deployment) per second.
    pub(crate) rps: Vec<f64>,
    /// Share of them that failed with a 5xx (or, for a deployment, attempts that
    /// failed); `null` without requests.
    pub(crate) error_ratio: Vec<Option<f64>>,
    /// End-to-end latency percentiles, ms.
    pub(crate) p50_ms: Vec<Option<f64>>,
    pub(crate) p95_ms: Vec<Option<f64>>,
    pub(crate) p99_ms: Vec<Option<f64>>,
    /// Time to first token percentiles, ms.
    pub(crate) ttft_p50_ms: Vec<Option<f64>>,
    pub(crate) ttft_p95_ms: Vec<Option<f64>>,
    pub(crate) ttft_p99_ms: Vec<Option<f64>>,
    /// Output tokens per second.
    pub(crate) tokens_per_s: Vec<f64>,
    /// Errors per second by class (all traffic only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) errors_per_s: Option<BTreeMap<&'static str, Vec<f64>>>,
    /// Failovers, retries, hedges, fallbacks, escalations per second (all traffic only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) events_per_s: Option<BTreeMap<&'static str, Vec<f64>>>,
    /// Most requests in flight per point (all traffic only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) in_flight: Option<Vec<u32>>,
}

impl Lines {
    /// The columns of `slots`, each `width` seconds; with `full`, the error classes,
    /// events and in-flight counts too.
    pub(crate) fn of(slots: &[Slot], width: u64, full: bool) -> Self {
        let per_s = |n: f64| round(n / width as f64);
        let col = |f: &dyn Fn(&Slot) -> f64| slots.iter().map(|s| per_s(f(s))).collect();
        let pct = |h: fn(&Slot) -> &[u32; super::slot::BUCKETS], p: f64| {
            slots
                .iter()
                .map(|s| percentile(h(s), p).map(round))
                .collect()
        };
        let mut lines = Lines {
            rps: col(&|s| f64::from(s.requests)),
            error_ratio: slots
                .iter()
                .map(|s| {
                    let failed = f64::from(s.client_and_server_errors().1);
                    (s.requests > 0).then(|| (failed / f64::from(s.requests) * 1e4).round() / 1e4)
                })
                .collect(),
            p50_ms: pct(|s| &s.latency, 50.0),
            p95_ms: pct(|s| &s.latency, 95.0),
            p99_ms: pct(|s| &s.latency, 99.0),
            ttft_p50_ms: pct(|s| &s.ttft, 50.0),
            ttft_p95_ms: pct(|s| &s.ttft, 95.0),
            ttft_p99_ms: pct(|s| &s.ttft, 99.0),
            tokens_per_s: col(&|s| s.output_tokens as f64),
            ..Lines::default()
        };
        if full {
            lines.errors_per_s = Some(
                Class::ALL[1..]
                    .iter()
                    .map(|&c| (c.name(), col(&|s| f64::from(s.class(c)))))
                    .collect(),
            );
            lines.events_per_s = Some(
                Event::ALL
                    .iter()
                    .map(|&e| (e.name(), col(&|s| f64::from(s.events[e as usize]))))
                    .collect(),
            );
            lines.in_flight = Some(slots.iter().map(|s| s.in_flight).collect());
        }
        lines
    }
}

/// `slots` (each `width` seconds) folded `factor` at a time, so that at most a given
/// number of points remain; the folded width.
pub(crate) fn fold(slots: Vec<Slot>, width: u64, factor: usize) -> (u64, Vec<Slot>) {
    if factor <= 1 {
        return (width, slots);
    }
    let folded = slots
        .chunks(factor)
        .filter_map(|chunk| {
            let (first, rest) = chunk.split_first()?;
            let mut s = *first;
            for other in rest {
                s.merge(other);
            }
            Some(s)
        })
        .collect();
    (width * factor as u64, folded)
}
