//! In-process time series for the dashboard and for scripts (`GET /admin/stats`,
//! `GET /admin/overview`): every finished request is counted, per second for the last
//! hour and per minute for the last day, for all traffic, for each model and — per
//! upstream attempt — for each deployment; beside them the resilience events `/metrics`
//! counts, the requests in flight, and the availability SLO's window ([`slo`]).
//!
//! Each slot holds the requests by how they ended ([`Class`]), the [`Event`]s, the most
//! requests in flight, the output tokens, and two histograms (end-to-end latency and time
//! to first token) of [`BUCKETS`] buckets `√2` apart from 1 ms to 46 s, so percentiles
//! come out within about 20%.
//!
//! Memory is bounded: a series takes [`SERIES_BYTES`] (about 1.7 MiB) once both rings are
//! full, and there are at most [`MAX_SERIES`] of them (all traffic, the first
//! [`MAX_MODELS`] models and the first [`MAX_DEPLOYMENTS`] deployments used; later ones
//! count in the total only): about 41 MiB at most, plus the SLO window's 52 KiB.
//!
//! One lock guards it all, taken once per finished request.

pub(crate) mod slo;
mod slot;
mod view;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use self::slo::{SloFile, SloWindow, Totals, burn_rate};
pub(crate) use self::slot::{Class, Done, Event};
use self::slot::{Ring, Slot};
pub(crate) use self::view::{Lines, Point};

/// Seconds kept at one-second resolution.
pub(crate) const SECOND_SLOTS: usize = 3600;
/// Minutes kept at one-minute resolution.
pub(crate) const MINUTE_SLOTS: usize = 1440;
/// Models with a series of their own.
pub(crate) const MAX_MODELS: usize = 12;
/// Deployments with a series of their own.
pub(crate) const MAX_DEPLOYMENTS: usize = 12;
/// Series kept at most.
pub(crate) const MAX_SERIES: usize = 1 + MAX_MODELS + MAX_DEPLOYMENTS;
/// Bytes of one series with both rings full.
pub(crate) const SERIES_BYTES: usize = (SECOND_SLOTS + MINUTE_SLOTS) * size_of::<Slot>();
// The bound the module doc states, held at compile time.
const _: () = assert!(SERIES_BYTES * MAX_SERIES < 42 * 1024 * 1024);

/// The name of the series of all traffic.
pub(crate) const ALL: &str = "all";
/// The prefix of a deployment's series name: `deployment:<provider>/<name>`.
pub(crate) const DEPLOYMENT: &str = "deployment:";

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

    fn each(&mut self, now: u64, mut f: impl FnMut(&mut Slot)) {
        f(self.seconds.at(now));
        f(self.minutes.at(now));
    }

    fn add(&mut self, now: u64, done: &Done) {
        self.each(now, |s| s.add(done));
    }

    /// The ring for a `range` of seconds, and how many of its slots cover it.
    fn ring_for(&self, secs: u64) -> (&Ring, usize) {
        let ring = if secs <= SECOND_SLOTS as u64 {
            &self.seconds
        } else {
            &self.minutes
        };
        let count = usize::try_from(secs.div_ceil(ring.width)).unwrap_or(usize::MAX);
        (ring, count.min(ring.len()))
    }

    /// The last `range` up to `now`, folded to at most `max_points` points.
    fn slots(&self, now: u64, range: Duration, max_points: usize) -> (u64, Vec<Slot>) {
        let (ring, count) = self.ring_for(range.as_secs().max(1));
        let factor = count.div_ceil(max_points.max(1)).max(1);
        // Whole folds only, so the newest point is not a partial one.
        let count = count.div_ceil(factor) * factor;
        let slots = ring.last(now, count);
        view::fold(slots, ring.width, factor)
    }
}

/// Which series: all traffic, a model's, or a deployment's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key<'a> {
    /// All traffic.
    All,
    /// A canonical model id.
    Model(&'a str),
    /// `provider/deployment`.
    Deployment(&'a str, &'a str),
}

impl<'a> Key<'a> {
    /// `all`, `deployment:<provider>/<name>`, or a model id.
    pub(crate) fn parse(name: &'a str) -> Option<Self> {
        if name == ALL {
            return Some(Key::All);
        }
        match name.strip_prefix(DEPLOYMENT) {
            Some(rest) => rest
                .split_once('/')
                .map(|(provider, name)| Key::Deployment(provider, name)),
            None => (!name.is_empty()).then_some(Key::Model(name)),
        }
    }
}

/// Everything behind the lock.
#[derive(Debug)]
struct Inner {
    all: Series,
    models: HashMap<String, Series>,
    /// Provider → deployment name → series (looked up by `&str`, no allocation).
    deployments: HashMap<String, HashMap<String, Series>>,
    deployment_count: usize,
    slo: SloWindow,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            all: Series::new(),
            models: HashMap::new(),
            deployments: HashMap::new(),
            deployment_count: 0,
            slo: SloWindow::default(),
        }
    }
}

impl Inner {
    fn model(&mut self, model: &str) -> Option<&mut Series> {
        if !self.models.contains_key(model) {
            if self.models.len() >= MAX_MODELS {
                return None;
            }
            self.models.insert(model.to_string(), Series::new());
        }
        self.models.get_mut(model)
    }

    fn deployment(&mut self, provider: &str, name: &str) -> Option<&mut Series> {
        let known = self
            .deployments
            .get(provider)
            .is_some_and(|p| p.contains_key(name));
        if !known {
            if self.deployment_count >= MAX_DEPLOYMENTS {
                return None;
            }
            self.deployment_count += 1;
            self.deployments
                .entry(provider.to_string())
                .or_default()
                .insert(name.to_string(), Series::new());
        }
        self.deployments.get_mut(provider)?.get_mut(name)
    }

    fn get(&self, key: Key<'_>) -> Option<&Series> {
        match key {
            Key::All => Some(&self.all),
            Key::Model(m) => self.models.get(m),
            Key::Deployment(p, n) => self.deployments.get(p)?.get(n),
        }
    }
}

/// One upstream attempt of a finished request, as the deployment series count it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AttemptDone<'a> {
    /// Provider id.
    pub(crate) provider: &'a str,
    /// Deployment name.
    pub(crate) deployment: &'a str,
    /// How it ended, from sending it.
    pub(crate) done: Done,
}

/// The SLO as the dashboard shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SloView {
    /// Availability target (0.999).
    pub(crate) target: f64,
    /// The rolling window, in days.
    pub(crate) window_days: u32,
    /// Requests counted in the window (4xx left out), and those that failed.
    pub(crate) requests: u64,
    pub(crate) failed: u64,
    /// Availability over the window (`null` without requests).
    pub(crate) availability: Option<f64>,
    /// Share of the window's error budget left (1: untouched; below 0: overspent).
    pub(crate) error_budget_left: Option<f64>,
    /// The oldest data in the window (Unix seconds): younger than the window after a
    /// fresh start.
    pub(crate) since: Option<u64>,
    /// Error ratio over the allowed one, over the last 5 minutes, hour and 6 hours.
    pub(crate) burn_rate: BTreeMap<&'static str, Option<f64>>,
}

/// Every series, with the dashboard's columns of each.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Overview {
    /// Seconds per point.
    pub(crate) step_secs: u64,
    /// Start of each point, Unix seconds.
    pub(crate) t: Vec<u64>,
    /// All traffic, with error classes, events and in-flight.
    pub(crate) all: Lines,
    /// Per model.
    pub(crate) models: BTreeMap<String, Lines>,
    /// Per deployment (`provider/name`), counting attempts.
    pub(crate) deployments: BTreeMap<String, Lines>,
}

/// Every series.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    inner: Mutex<Inner>,
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Stats {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Count a finished request of `model` (`None`: refused before it had one), with its
    /// upstream attempts.
    pub(crate) fn add(&self, model: Option<&str>, done: &Done, attempts: &[AttemptDone<'_>]) {
        self.add_at(now_secs(), model, done, attempts);
    }

    fn add_at(&self, now: u64, model: Option<&str>, done: &Done, attempts: &[AttemptDone<'_>]) {
        let mut inner = self.lock();
        inner.all.add(now, done);
        inner
            .slo
            .add(now, !done.class.is_client(), done.class.is_server());
        if let Some(s) = model.and_then(|m| inner.model(m)) {
            s.add(now, done);
        }
        for a in attempts {
            if let Some(s) = inner.deployment(a.provider, a.deployment) {
                s.add(now, &a.done);
            }
        }
    }

    /// Count `event` in the all-traffic series.
    pub(crate) fn event(&self, event: Event) {
        let now = now_secs();
        self.lock().all.each(now, |s| s.event(event));
    }

    /// Note `n` requests in flight now.
    pub(crate) fn sample_in_flight(&self, n: usize) {
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        let now = now_secs();
        self.lock()
            .all
            .each(now, |s| s.in_flight = s.in_flight.max(n));
    }

    /// The names of the series kept.
    pub(crate) fn names(&self) -> Vec<String> {
        let inner = self.lock();
        let mut names: Vec<String> = std::iter::once(ALL.to_string())
            .chain(inner.models.keys().cloned())
            .chain(
                inner
                    .deployments
                    .iter()
                    .flat_map(|(p, ds)| ds.keys().map(move |d| format!("{DEPLOYMENT}{p}/{d}"))),
            )
            .collect();
        names.sort();
        names
    }

    /// The last `range` of series `key`: per second up to an hour, per minute beyond (up
    /// to a day), folded to at most `max_points`; `None` for a series not kept.
    pub(crate) fn points(
        &self,
        key: Key<'_>,
        range: Duration,
        max_points: usize,
    ) -> Option<(u64, Vec<Point>)> {
        self.points_at(now_secs(), key, range, max_points)
    }

    fn points_at(
        &self,
        now: u64,
        key: Key<'_>,
        range: Duration,
        max_points: usize,
    ) -> Option<(u64, Vec<Point>)> {
        let inner = self.lock();
        let (width, slots) = inner.get(key)?.slots(now, range, max_points);
        Some((width, slots.iter().map(|s| Point::of(s, width)).collect()))
    }

    /// Every series over the last `range`, as columns of at most `max_points`.
    pub(crate) fn overview(&self, range: Duration, max_points: usize) -> Overview {
        self.overview_at(now_secs(), range, max_points)
    }

    fn overview_at(&self, now: u64, range: Duration, max_points: usize) -> Overview {
        let inner = self.lock();
        let (step_secs, all) = inner.all.slots(now, range, max_points);
        let lines = |s: &Series| {
            let (width, slots) = s.slots(now, range, max_points);
            Lines::of(&slots, width, false)
        };
        Overview {
            step_secs,
            t: all.iter().map(|s| s.at).collect(),
            all: Lines::of(&all, step_secs, true),
            models: inner
                .models
                .iter()
                .map(|(m, s)| (m.clone(), lines(s)))
                .collect(),
            deployments: inner
                .deployments
                .iter()
                .flat_map(|(p, ds)| ds.iter().map(move |(d, s)| (format!("{p}/{d}"), s)))
                .map(|(name, s)| (name, lines(s)))
                .collect(),
        }
    }

    /// The availability SLO at `target` over `window`, with burn rates.
    pub(crate) fn slo(&self, target: f64, window: Duration) -> SloView {
        self.slo_at(now_secs(), target, window)
    }

    fn slo_at(&self, now: u64, target: f64, window: Duration) -> SloView {
        let inner = self.lock();
        let Totals { valid, bad, since } = inner.slo.totals(now, window);
        let burn = |ring: &Ring, secs: u64| {
            let total = ring.total(now, usize::try_from(secs / ring.width).unwrap_or(0));
            let (client, server) = total.client_and_server_errors();
            burn_rate(
                u64::from(total.requests.saturating_sub(client)),
                u64::from(server),
                target,
            )
        };
        let availability = (valid > 0).then(|| 1.0 - bad as f64 / valid as f64);
        let allowed = (1.0 - target) * valid as f64;
        SloView {
            target,
            window_days: u32::try_from(window.as_secs() / 86_400).unwrap_or(u32::MAX),
            requests: valid,
            failed: bad,
            availability,
            error_budget_left: (allowed > 0.0).then(|| 1.0 - bad as f64 / allowed),
            since,
            burn_rate: BTreeMap::from([
                ("5m", burn(&inner.all.seconds, 300)),
                ("1h", burn(&inner.all.seconds, 3600)),
                ("6h", burn(&inner.all.minutes, 6 * 3600)),
            ]),
        }
    }

    /// The SLO window to save, if it changed since last time.
    pub(crate) fn slo_to_save(&self) -> Option<SloFile> {
        self.lock().slo.take_changes()
    }

    /// Add a saved SLO window; how many hours it brought back.
    pub(crate) fn restore_slo(&self, file: &SloFile) -> usize {
        self.lock().slo.restore(file, now_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(status: u16, ms: u64) -> Done {
        Done {
            class: Class::of_status(status),
            latency: Duration::from_millis(ms),
            ttft: None,
            output_tokens: 10,
        }
    }

    const T0: u64 = 1_700_000_000;

    #[test]
    fn requests_are_counted_per_second_and_per_minute_with_their_errors() {
        let stats = Stats::default();
        stats.add_at(T0, Some("m"), &done(200, 100), &[]);
        stats.add_at(T0, Some("m"), &done(503, 5), &[]);
        stats.add_at(T0 + 1, Some("m"), &done(429, 1), &[]);
        let (width, points) = stats
            .points_at(T0 + 1, Key::Model("m"), Duration::from_secs(3), 3600)
            .unwrap();
        assert_eq!(width, 1);
        assert_eq!(points.len(), 3);
        assert_eq!(points[1].t, T0);
        assert_eq!(points[1].rps, 2.0);
        assert_eq!(points[1].server_errors_per_s, 1.0);
        assert_eq!(points[1].errors_per_s["upstream"], 1.0);
        assert_eq!(points[2].client_errors_per_s, 1.0);
        assert_eq!(points[2].errors_per_s["rate_limited"], 1.0);
        assert_eq!(points[0].rps, 0.0, "an empty second is a zero point");
        let (width, points) = stats
            .points_at(T0 + 1, Key::All, Duration::from_secs(7200), 3600)
            .unwrap();
        assert_eq!((width, points.len()), (60, 120));
        let last = points.last().unwrap();
        assert!((last.rps - 0.05).abs() < 1e-9);
        assert_eq!(last.output_tokens_per_s, 0.5);
    }

    #[test]
    fn points_fold_to_the_number_asked_for_without_losing_requests() {
        let stats = Stats::default();
        for i in 0..300 {
            stats.add_at(T0 - i, Some("m"), &done(200, 10), &[]);
        }
        let (width, points) = stats
            .points_at(T0, Key::All, Duration::from_secs(300), 100)
            .unwrap();
        assert_eq!((width, points.len()), (3, 100));
        let total: f64 = points.iter().map(|p| p.rps * width as f64).sum();
        assert!((total - 300.0).abs() < 1e-6, "{total}");
    }

    #[test]
    fn old_slots_are_overwritten_and_series_are_capped() {
        let stats = Stats::default();
        stats.add_at(T0, Some("m"), &done(200, 1), &[]);
        // An hour later the same slot of the second ring holds the new second only.
        let later = T0 + SECOND_SLOTS as u64;
        stats.add_at(later, Some("m"), &done(200, 1), &[]);
        let (_, points) = stats
            .points_at(later, Key::Model("m"), Duration::from_secs(1), 10)
            .unwrap();
        assert_eq!(points[0].rps, 1.0);
        for n in 0..MAX_MODELS + 5 {
            let attempt = AttemptDone {
                provider: "p",
                deployment: &format!("d{n}"),
                done: done(200, 1),
            };
            stats.add_at(T0, Some(&format!("model-{n}")), &done(200, 1), &[attempt]);
        }
        assert_eq!(stats.names().len(), MAX_SERIES);
        assert!(stats.names().contains(&ALL.to_string()));
        assert!(stats.names().contains(&"deployment:p/d0".to_string()));
    }

    #[test]
    fn attempts_count_against_their_deployments_and_events_in_all_traffic() {
        let stats = Stats::default();
        let failed = AttemptDone {
            provider: "deepseek",
            deployment: "global",
            done: done(502, 3),
        };
        let answered = AttemptDone {
            provider: "deepseek",
            deployment: "global-b",
            done: done(200, 40),
        };
        stats.add_at(T0, Some("m"), &done(200, 45), &[failed, answered]);
        let key = Key::parse("deployment:deepseek/global").unwrap();
        assert_eq!(key, Key::Deployment("deepseek", "global"));
        let (_, points) = stats
            .points_at(T0, key, Duration::from_secs(1), 10)
            .unwrap();
        assert_eq!(points[0].server_errors_per_s, 1.0);
        let o = stats.overview_at(T0, Duration::from_secs(60), 30);
        assert_eq!((o.step_secs, o.t.len()), (2, 30));
        assert_eq!(
            o.deployments["deepseek/global"].error_ratio.last(),
            Some(&Some(1.0))
        );
        assert_eq!(
            o.deployments["deepseek/global-b"].error_ratio.last(),
            Some(&Some(0.0))
        );
        assert_eq!(
            o.all.error_ratio.last(),
            Some(&Some(0.0)),
            "the request itself was answered"
        );
        assert!(
            o.models["m"].errors_per_s.is_none(),
            "classes are for all traffic only"
        );
        assert_eq!(Key::parse("deployment:nope"), None);
        assert_eq!(Key::parse(""), None);
    }

    #[test]
    fn the_slo_leaves_client_errors_out_and_burns_on_server_errors() {
        let stats = Stats::default();
        for _ in 0..997 {
            stats.add_at(T0, Some("m"), &done(200, 1), &[]);
        }
        for _ in 0..3 {
            stats.add_at(T0, Some("m"), &done(503, 1), &[]);
        }
        for _ in 0..50 {
            stats.add_at(T0, Some("m"), &done(400, 1), &[]);
        }
        let slo = stats.slo_at(T0, 0.999, Duration::from_secs(30 * 86_400));
        assert_eq!((slo.requests, slo.failed, slo.window_days), (1000, 3, 30));
        assert!((slo.availability.unwrap() - 0.997).abs() < 1e-9);
        assert!((slo.error_budget_left.unwrap() - (1.0 - 3.0)).abs() < 1e-6);
        let burn = slo.burn_rate["5m"].unwrap();
        assert!((burn - 3.0).abs() < 1e-6, "{burn}");
        assert_eq!(
            stats
                .slo_at(T0 + 7 * 3600, 0.999, Duration::from_secs(86_400))
                .burn_rate["5m"],
            None,
            "nothing in the last five minutes"
        );
    }
}
