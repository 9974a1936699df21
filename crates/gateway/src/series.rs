//! In-process time series for the dashboard and for scripts (`GET /admin/stats`): every
//! finished request is counted, per second for the last hour and per minute for the last
//! day, for all traffic and for each model.
//!
//! Each slot holds the requests, the 4xx and 5xx answers, the output tokens, and two
//! histograms (end-to-end latency and time to first token) of [`BUCKETS`] buckets
//! `√2` apart from 1 ms to 46 s, so percentiles come out within about 20%.
//!
//! Memory is bounded: a series takes [`SERIES_BYTES`] (about 1.4 MiB) once both rings
//! are full, and there are at most [`MAX_SERIES`] of them (all traffic plus the first
//! twelve models used; later models count in the total only): about 18 MiB at most.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Histogram buckets: bucket `i` holds times up to `√2^i` ms (the last, anything longer).
pub(crate) const BUCKETS: usize = 32;
/// Seconds kept at one-second resolution.
pub(crate) const SECOND_SLOTS: usize = 3600;
/// Minutes kept at one-minute resolution.
pub(crate) const MINUTE_SLOTS: usize = 1440;
/// Series kept: all traffic, and up to this many less one models.
pub(crate) const MAX_SERIES: usize = 13;
/// Bytes of one series with both rings full.
pub(crate) const SERIES_BYTES: usize = (SECOND_SLOTS + MINUTE_SLOTS) * size_of::<Slot>();
// The bound the module doc states, held at compile time.
const _: () = assert!(SERIES_BYTES * MAX_SERIES < 19 * 1024 * 1024);

/// One second's or one minute's counts.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// Its start, in Unix seconds (0: never written).
    at: u64,
    requests: u32,
    client_errors: u32,
    server_errors: u32,
    output_tokens: u64,
    latency: [u32; BUCKETS],
    ttft: [u32; BUCKETS],
}

impl Slot {
    const EMPTY: Slot = Slot {
        at: 0,
        requests: 0,
        client_errors: 0,
        server_errors: 0,
        output_tokens: 0,
        latency: [0; BUCKETS],
        ttft: [0; BUCKETS],
    };
}

/// The bucket of a time: the smallest `i` with `d <= √2^i` ms.
fn bucket(d: Duration) -> usize {
    let ms = d.as_secs_f64() * 1000.0;
    if ms <= 1.0 {
        return 0;
    }
    let i = (2.0 * ms.log2()).ceil();
    if i.is_finite() && i < (BUCKETS - 1) as f64 {
        i as usize
    } else {
        BUCKETS - 1
    }
}

/// The upper bound of bucket `i`, in milliseconds.
fn bucket_ms(i: usize) -> f64 {
    2f64.powf(i as f64 / 2.0)
}

/// The `p`th percentile (0–100) of `h`, in milliseconds: the bucket it falls in,
/// interpolated linearly inside it.
fn percentile(h: &[u32; BUCKETS], p: f64) -> Option<f64> {
    let total: u64 = h.iter().map(|&n| u64::from(n)).sum();
    if total == 0 {
        return None;
    }
    let rank = (p / 100.0 * total as f64).max(1.0);
    let mut seen = 0u64;
    for (i, &n) in h.iter().enumerate() {
        let before = seen as f64;
        seen += u64::from(n);
        if seen as f64 >= rank && n > 0 {
            let low = if i == 0 { 0.0 } else { bucket_ms(i - 1) };
            let frac = (rank - before) / f64::from(n);
            return Some(low + (bucket_ms(i) - low) * frac);
        }
    }
    Some(bucket_ms(BUCKETS - 1))
}

/// A ring of slots `width` seconds wide.
#[derive(Debug)]
struct Ring {
    width: u64,
    slots: Vec<Slot>,
    len: usize,
}

impl Ring {
    fn new(width: u64, len: usize) -> Self {
        Ring {
            width,
            slots: Vec::new(),
            len,
        }
    }

    /// The slot for time `now` (Unix seconds), cleared if it held an older period.
    fn at(&mut self, now: u64) -> &mut Slot {
        let start = now - now % self.width;
        let index = usize::try_from(start / self.width).unwrap_or(0) % self.len;
        if self.slots.len() <= index {
            // Grown as time passes, so an idle series stays small.
            self.slots.resize(index + 1, Slot::EMPTY);
        }
        let slot = &mut self.slots[index];
        if slot.at != start {
            *slot = Slot {
                at: start,
                ..Slot::EMPTY
            };
        }
        slot
    }

    /// The slots of the last `count` periods up to `now`, oldest first (empty ones too).
    fn last(&self, now: u64, count: usize) -> Vec<Slot> {
        let start = now - now % self.width;
        (0..count.min(self.len) as u64)
            .rev()
            .map(|back| {
                let t = start.saturating_sub(back * self.width);
                let index = usize::try_from(t / self.width).unwrap_or(0) % self.len;
                match self.slots.get(index) {
                    Some(s) if s.at == t => *s,
                    _ => Slot {
                        at: t,
                        ..Slot::EMPTY
                    },
                }
            })
            .collect()
    }
}

/// One series: per second and per minute.
#[derive(Debug)]
struct Series {
    seconds: Ring,
    minutes: Ring,
}

impl Series {
    fn new() -> Self {
        Series {
            seconds: Ring::new(1, SECOND_SLOTS),
            minutes: Ring::new(60, MINUTE_SLOTS),
        }
    }

    fn add(&mut self, now: u64, done: &Done) {
        for slot in [self.seconds.at(now), self.minutes.at(now)] {
            slot.requests = slot.requests.saturating_add(1);
            match done.status {
                400..=499 => slot.client_errors = slot.client_errors.saturating_add(1),
                500..=599 => slot.server_errors = slot.server_errors.saturating_add(1),
                _ => {}
            }
            slot.output_tokens = slot.output_tokens.saturating_add(done.output_tokens);
            let b = &mut slot.latency[bucket(done.latency)];
            *b = b.saturating_add(1);
            if let Some(t) = done.ttft {
                let b = &mut slot.ttft[bucket(t)];
                *b = b.saturating_add(1);
            }
        }
    }
}

/// One finished request, as the series count it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Done {
    /// Final HTTP status (499: the client left).
    pub(crate) status: u16,
    /// Arrival to the end.
    pub(crate) latency: Duration,
    /// Arrival to the first token (streams).
    pub(crate) ttft: Option<Duration>,
    /// Output tokens.
    pub(crate) output_tokens: u64,
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
    /// 99th percentile of TTFT.
    pub(crate) ttft_p99_ms: Option<f64>,
}

impl Point {
    fn of(s: &Slot, width: u64) -> Self {
        let per_s = |n: f64| n / width as f64;
        Point {
            t: s.at,
            rps: per_s(f64::from(s.requests)),
            client_errors_per_s: per_s(f64::from(s.client_errors)),
            server_errors_per_s: per_s(f64::from(s.server_errors)),
            output_tokens_per_s: per_s(s.output_tokens as f64),
            p50_ms: percentile(&s.latency, 50.0),
            p95_ms: percentile(&s.latency, 95.0),
            p99_ms: percentile(&s.latency, 99.0),
            ttft_p50_ms: percentile(&s.ttft, 50.0),
            ttft_p99_ms: percentile(&s.ttft, 99.0),
        }
    }
}

/// The name of the series of all traffic.
pub(crate) const ALL: &str = "all";

/// Every series.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    series: Mutex<HashMap<String, Series>>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Stats {
    /// Count a finished request of `model` (`None`: refused before it had one).
    pub(crate) fn add(&self, model: Option<&str>, done: &Done) {
        self.add_at(now_secs(), model, done);
    }

    fn add_at(&self, now: u64, model: Option<&str>, done: &Done) {
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        // Looked up by reference: no allocation once the series exists.
        match series.get_mut(ALL) {
            Some(all) => all.add(now, done),
            None => {
                let mut all = Series::new();
                all.add(now, done);
                series.insert(ALL.to_string(), all);
            }
        }
        let Some(model) = model else { return };
        if let Some(s) = series.get_mut(model) {
            s.add(now, done);
        } else if series.len() < MAX_SERIES {
            let mut s = Series::new();
            s.add(now, done);
            series.insert(model.to_string(), s);
        }
    }

    /// The names of the series kept.
    pub(crate) fn names(&self) -> Vec<String> {
        let series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        let mut names: Vec<String> = series.keys().cloned().collect();
        names.sort();
        names
    }

    /// The last `range` of series `name`: per second up to an hour, per minute beyond
    /// (up to a day); `None` for a series not kept.
    pub(crate) fn points(&self, name: &str, range: Duration) -> Option<(u64, Vec<Point>)> {
        self.points_at(now_secs(), name, range)
    }

    fn points_at(&self, now: u64, name: &str, range: Duration) -> Option<(u64, Vec<Point>)> {
        let series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        let s = series.get(name)?;
        let secs = range.as_secs().max(1);
        let ring = if secs <= SECOND_SLOTS as u64 {
            &s.seconds
        } else {
            &s.minutes
        };
        let count = usize::try_from(secs.div_ceil(ring.width)).unwrap_or(usize::MAX);
        let points = ring
            .last(now, count)
            .iter()
            .map(|slot| Point::of(slot, ring.width))
            .collect();
        Some((ring.width, points))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(status: u16, ms: u64) -> Done {
        Done {
            status,
            latency: Duration::from_millis(ms),
            ttft: None,
            output_tokens: 10,
        }
    }

    #[test]
    fn buckets_are_root_two_apart_and_percentiles_land_near_the_truth() {
        assert_eq!(bucket(Duration::from_micros(500)), 0);
        assert_eq!(bucket(Duration::from_millis(2)), 2);
        assert_eq!(bucket(Duration::from_secs(3600)), BUCKETS - 1);
        let mut h = [0u32; BUCKETS];
        for ms in 1..=1000u64 {
            h[bucket(Duration::from_millis(ms))] += 1;
        }
        let p50 = percentile(&h, 50.0).unwrap();
        let p99 = percentile(&h, 99.0).unwrap();
        assert!((400.0..=600.0).contains(&p50), "{p50}");
        assert!((800.0..=1200.0).contains(&p99), "{p99}");
        assert_eq!(percentile(&[0; BUCKETS], 50.0), None);
    }

    #[test]
    fn requests_are_counted_per_second_and_per_minute_with_their_errors() {
        let stats = Stats::default();
        let t0 = 1_700_000_000;
        stats.add_at(t0, Some("m"), &done(200, 100));
        stats.add_at(t0, Some("m"), &done(503, 5));
        stats.add_at(t0 + 1, Some("m"), &done(429, 1));
        let (width, points) = stats
            .points_at(t0 + 1, "m", Duration::from_secs(3))
            .unwrap();
        assert_eq!(width, 1);
        assert_eq!(points.len(), 3);
        assert_eq!(points[1].t, t0);
        assert_eq!(points[1].rps, 2.0);
        assert_eq!(points[1].server_errors_per_s, 1.0);
        assert_eq!(points[2].client_errors_per_s, 1.0);
        assert_eq!(points[0].rps, 0.0, "an empty second is a zero point");
        let (width, points) = stats
            .points_at(t0 + 1, ALL, Duration::from_secs(7200))
            .unwrap();
        assert_eq!((width, points.len()), (60, 120));
        let last = points.last().unwrap();
        assert!((last.rps - 3.0 / 60.0).abs() < 1e-9);
        assert_eq!(last.output_tokens_per_s, 30.0 / 60.0);
    }

    #[test]
    fn old_slots_are_overwritten_and_series_are_capped() {
        let stats = Stats::default();
        let t0 = 1_700_000_000;
        stats.add_at(t0, Some("m"), &done(200, 1));
        // An hour later the same slot of the second ring holds the new second only.
        stats.add_at(t0 + SECOND_SLOTS as u64, Some("m"), &done(200, 1));
        let (_, points) = stats
            .points_at(t0 + SECOND_SLOTS as u64, "m", Duration::from_secs(1))
            .unwrap();
        assert_eq!(points[0].rps, 1.0);
        for n in 0..MAX_SERIES + 5 {
            stats.add_at(t0, Some(&format!("model-{n}")), &done(200, 1));
        }
        assert_eq!(stats.names().len(), MAX_SERIES);
        assert!(stats.names().contains(&ALL.to_string()));
    }
}
