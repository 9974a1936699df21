//! One second's or one minute's counts, and the rings that hold them.

use std::time::Duration;

/// Histogram buckets: bucket `i` holds times up to `√2^i` ms (the last, anything longer).
pub(crate) const BUCKETS: usize = 32;

/// How a request (or an attempt on one deployment) ended, as the dashboard splits errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Answered.
    Ok,
    /// 4xx: the request itself was wrong (bad JSON, unknown model, too large, …).
    Invalid,
    /// 401/403: no key, a wrong one, a model the key may not use.
    Auth,
    /// 429: a key's or the gateway's rate limit.
    RateLimited,
    /// A key's budget is spent.
    Budget,
    /// 499: the client left before the answer ended.
    ClientGone,
    /// 503 before reading the body: the gateway was at `max_concurrency`.
    Shed,
    /// The upstream failed (every deployment tried), or an attempt on a deployment did.
    Upstream,
    /// Any other 5xx: the gateway's own fault.
    Gateway,
}

impl Class {
    /// Every class, in the order slots count them.
    pub(crate) const ALL: [Class; 9] = [
        Class::Ok,
        Class::Invalid,
        Class::Auth,
        Class::RateLimited,
        Class::Budget,
        Class::ClientGone,
        Class::Shed,
        Class::Upstream,
        Class::Gateway,
    ];
    pub(crate) const COUNT: usize = Self::ALL.len();

    /// Its name in JSON.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Class::Ok => "ok",
            Class::Invalid => "invalid",
            Class::Auth => "auth",
            Class::RateLimited => "rate_limited",
            Class::Budget => "budget",
            Class::ClientGone => "client_gone",
            Class::Shed => "shed",
            Class::Upstream => "upstream",
            Class::Gateway => "gateway",
        }
    }

    /// The class of a final HTTP status, when nothing more is known.
    pub(crate) fn of_status(status: u16) -> Class {
        match status {
            401 | 403 => Class::Auth,
            429 => Class::RateLimited,
            499 => Class::ClientGone,
            400..=498 => Class::Invalid,
            502..=504 => Class::Upstream,
            500..=599 => Class::Gateway,
            _ => Class::Ok,
        }
    }

    /// A 4xx: the caller's doing, outside the availability SLO.
    pub(crate) fn is_client(self) -> bool {
        matches!(
            self,
            Class::Invalid | Class::Auth | Class::RateLimited | Class::Budget | Class::ClientGone
        )
    }

    /// A 5xx: counts against the availability SLO.
    pub(crate) fn is_server(self) -> bool {
        matches!(self, Class::Shed | Class::Upstream | Class::Gateway)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What the gateway did to keep a request up, counted beside `/metrics`' counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// Another deployment after a failure (`switchyard_failovers_total`).
    Failover,
    /// The same deployment again (`switchyard_retries_total`).
    Retry,
    /// A hedge sent (`switchyard_hedges_total`).
    Hedge,
    /// A hedge answered first (`switchyard_hedge_wins_total`).
    HedgeWon,
    /// An attempt cancelled because another won the race (`switchyard_hedge_cancelled_total`).
    HedgeLost,
    /// A fallback model (`switchyard_fallbacks_total`).
    Fallback,
    /// A tiered escalation (`switchyard_escalations_total`).
    Escalation,
}

impl Event {
    /// Every event, in the order slots count them.
    pub(crate) const ALL: [Event; 7] = [
        Event::Failover,
        Event::Retry,
        Event::Hedge,
        Event::HedgeWon,
        Event::HedgeLost,
        Event::Fallback,
        Event::Escalation,
    ];
    pub(crate) const COUNT: usize = Self::ALL.len();

    /// Its name in JSON.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Event::Failover => "failovers",
            Event::Retry => "retries",
            Event::Hedge => "hedges",
            Event::HedgeWon => "hedges_won",
            Event::HedgeLost => "hedges_lost",
            Event::Fallback => "fallbacks",
            Event::Escalation => "escalations",
        }
    }
}

/// One second's or one minute's counts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot {
    /// Its start, in Unix seconds (0: never written).
    pub(crate) at: u64,
    pub(crate) requests: u32,
    pub(crate) classes: [u32; Class::COUNT],
    pub(crate) events: [u32; Event::COUNT],
    /// The most requests in flight seen in it (sampled each second).
    pub(crate) in_flight: u32,
    pub(crate) output_tokens: u64,
    pub(crate) latency: [u32; BUCKETS],
    pub(crate) ttft: [u32; BUCKETS],
}

impl Slot {
    pub(crate) const EMPTY: Slot = Slot {
        at: 0,
        requests: 0,
        classes: [0; Class::COUNT],
        events: [0; Event::COUNT],
        in_flight: 0,
        output_tokens: 0,
        latency: [0; BUCKETS],
        ttft: [0; BUCKETS],
    };

    fn empty_at(at: u64) -> Slot {
        Slot { at, ..Slot::EMPTY }
    }

    /// Count one finished request (or attempt).
    pub(crate) fn add(&mut self, done: &Done) {
        self.requests = self.requests.saturating_add(1);
        bump(&mut self.classes[done.class.index()]);
        self.output_tokens = self.output_tokens.saturating_add(done.output_tokens);
        bump(&mut self.latency[bucket(done.latency)]);
        if let Some(t) = done.ttft {
            bump(&mut self.ttft[bucket(t)]);
        }
    }

    pub(crate) fn event(&mut self, e: Event) {
        bump(&mut self.events[e as usize]);
    }

    /// Fold `other` (a later slot) into this one.
    pub(crate) fn merge(&mut self, other: &Slot) {
        self.requests = self.requests.saturating_add(other.requests);
        add_all(&mut self.classes, &other.classes);
        add_all(&mut self.events, &other.events);
        self.in_flight = self.in_flight.max(other.in_flight);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        add_all(&mut self.latency, &other.latency);
        add_all(&mut self.ttft, &other.ttft);
    }

    pub(crate) fn class(&self, c: Class) -> u32 {
        self.classes[c.index()]
    }

    /// 4xx and 5xx answers.
    pub(crate) fn client_and_server_errors(&self) -> (u32, u32) {
        Class::ALL.iter().fold((0u32, 0u32), |(c, s), &k| {
            let n = self.class(k);
            match () {
                () if k.is_client() => (c.saturating_add(n), s),
                () if k.is_server() => (c, s.saturating_add(n)),
                () => (c, s),
            }
        })
    }
}

fn bump(n: &mut u32) {
    *n = n.saturating_add(1);
}

fn add_all<const N: usize>(into: &mut [u32; N], from: &[u32; N]) {
    for (a, b) in into.iter_mut().zip(from) {
        *a = a.saturating_add(*b);
    }
}

/// One finished request (or attempt), as the series count it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Done {
    /// How it ended.
    pub(crate) class: Class,
    /// Arrival (or sending) to the end.
    pub(crate) latency: Duration,
    /// To the first token (streams).
    pub(crate) ttft: Option<Duration>,
    /// Output tokens.
    pub(crate) output_tokens: u64,
}

/// The bucket of a time: the smallest `i` with `d <= √2^i` ms.
pub(crate) fn bucket(d: Duration) -> usize {
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
pub(crate) fn percentile(h: &[u32; BUCKETS], p: f64) -> Option<f64> {
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
pub(crate) struct Ring {
    pub(crate) width: u64,
    slots: Vec<Slot>,
    len: usize,
}

impl Ring {
    pub(crate) fn new(width: u64, len: usize) -> Self {
        Ring {
            width,
            slots: Vec::new(),
            len,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn index(&self, start: u64) -> usize {
        usize::try_from(start / self.width).unwrap_or(0) % self.len
    }

    /// The slot for time `now` (Unix seconds), cleared if it held an older period.
    pub(crate) fn at(&mut self, now: u64) -> &mut Slot {
        let start = now - now % self.width;
        let index = self.index(start);
        if self.slots.len() <= index {
            // Grown as time passes, so an idle series stays small.
            self.slots.resize(index + 1, Slot::EMPTY);
        }
        let slot = &mut self.slots[index];
        if slot.at != start {
            *slot = Slot::empty_at(start);
        }
        slot
    }

    /// The slots of the last `count` periods up to `now`, oldest first (empty ones too).
    pub(crate) fn last(&self, now: u64, count: usize) -> Vec<Slot> {
        let start = now - now % self.width;
        (0..count.min(self.len) as u64)
            .rev()
            .map(|back| {
                let t = start.saturating_sub(back * self.width);
                match self.slots.get(self.index(t)) {
                    Some(s) if s.at == t => *s,
                    _ => Slot::empty_at(t),
                }
            })
            .collect()
    }

    /// The sum of the last `count` periods up to `now`.
    pub(crate) fn total(&self, now: u64, count: usize) -> Slot {
        let mut sum = Slot::EMPTY;
        for s in self.last(now, count) {
            sum.merge(&s);
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn statuses_fall_in_the_classes_the_slo_and_the_dashboard_use() {
        assert_eq!(Class::of_status(200), Class::Ok);
        assert_eq!(Class::of_status(400), Class::Invalid);
        assert_eq!(Class::of_status(401), Class::Auth);
        assert_eq!(Class::of_status(429), Class::RateLimited);
        assert_eq!(Class::of_status(499), Class::ClientGone);
        assert_eq!(Class::of_status(502), Class::Upstream);
        assert_eq!(Class::of_status(500), Class::Gateway);
        assert!(Class::ALL.iter().all(|c| !(c.is_client() && c.is_server())));
        assert_eq!(
            Class::ALL
                .iter()
                .filter(|c| !c.is_client() && !c.is_server())
                .count(),
            1,
            "only `ok` is neither"
        );
        for (i, c) in Class::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
        }
        for (i, e) in Event::ALL.iter().enumerate() {
            assert_eq!(*e as usize, i);
        }
    }

    #[test]
    fn merged_slots_add_counts_and_keep_the_highest_in_flight() {
        let mut a = Slot::empty_at(10);
        a.in_flight = 3;
        a.add(&Done {
            class: Class::Upstream,
            latency: Duration::from_millis(5),
            ttft: None,
            output_tokens: 7,
        });
        let mut b = Slot::empty_at(11);
        b.in_flight = 9;
        b.event(Event::Failover);
        b.add(&Done {
            class: Class::Invalid,
            latency: Duration::from_millis(1),
            ttft: Some(Duration::from_millis(1)),
            output_tokens: 0,
        });
        a.merge(&b);
        assert_eq!(
            (a.at, a.requests, a.in_flight, a.output_tokens),
            (10, 2, 9, 7)
        );
        assert_eq!(a.client_and_server_errors(), (1, 1));
        assert_eq!(a.events[Event::Failover as usize], 1);
    }
}
