//! Deployments, and how one request picks among them.
//!
//! A [`Deployment`] is one place a model is served: a region of its provider, the model's
//! id there, a weight and an optional concurrency limit. Each model has a [`Route`]: its
//! deployments in tiers (the home region's first, then the rest as spill-over), a
//! [`Balance`] policy within a tier, per-model time limits, and optional hedging.
//! [`Route::order`] ranks the deployments for one request (healthy tiers in order,
//! deployments with an open breaker last); [`Deployment::try_acquire`] claims a slot, so a
//! full deployment is passed over rather than queued behind.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{Value, json};

use crate::bucket::Bucket;
use crate::budget::RetryBudget;
use crate::config::{Balance, HedgeConfig};
use crate::health::Standing;

/// Smoothing of the TTFT moving average: the newest sample's weight.
const EWMA_ALPHA: f64 = 0.2;

/// A latency outlier is also at least this much slower than its fastest peer, so that
/// fast deployments a few milliseconds apart never count as outliers.
pub const OUTLIER_FLOOR: Duration = Duration::from_millis(250);

/// One place a model is served.
#[derive(Debug)]
pub struct Deployment {
    /// Name for health, headers and metrics (the region, unless configured).
    pub name: String,
    /// Provider id.
    pub provider: String,
    /// Index of the region in the provider's region list.
    pub region: usize,
    /// Region label.
    pub region_name: String,
    /// The model's id at this deployment.
    pub upstream_id: String,
    /// Share of traffic within its tier.
    pub weight: u32,
    /// Lower tiers are tried first.
    pub tier: u32,
    /// Requests in flight at most.
    pub max_concurrency: Option<u32>,
    /// The vendor's requests-per-minute quota for this deployment.
    rpm: Option<Mutex<Bucket>>,
    /// The vendor's tokens-per-minute quota (reserved up front, trued up after).
    tpm: Option<Mutex<Bucket>>,
    outstanding: AtomicU32,
    /// EWMA of time to first token in microseconds; 0 until measured.
    ewma_ttft_us: AtomicU64,
}

impl Deployment {
    /// A deployment with nothing in flight and no measurements.
    pub fn new(
        name: String,
        provider: String,
        (region, region_name): (usize, String),
        upstream_id: String,
        weight: u32,
        tier: u32,
        limits: Limits,
    ) -> Self {
        Deployment {
            name,
            provider,
            region,
            region_name,
            upstream_id,
            weight: weight.max(1),
            tier,
            max_concurrency: limits.max_concurrency,
            rpm: limits.rpm.map(|l| Mutex::new(Bucket::new(l))),
            tpm: limits.tpm.map(|l| Mutex::new(Bucket::new(l))),
            outstanding: AtomicU32::new(0),
            ewma_ttft_us: AtomicU64::new(0),
        }
    }

    /// Claim a slot for a request that may use `tokens`, unless the deployment is at its
    /// concurrency limit or its vendor quota (then `Busy` says when a retry could fit).
    pub fn try_acquire(self: &Arc<Self>, tokens: u64) -> Result<Permit, Busy> {
        let limit = self.max_concurrency.unwrap_or(u32::MAX);
        self.outstanding
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .map_err(|_| Busy { retry_after: None })?;
        // From here the slot is held: `permit` gives it back if a quota refuses.
        let mut permit = Permit {
            deployment: Arc::clone(self),
            tokens: 0,
            used: AtomicU64::new(u64::MAX),
        };
        if let Some(b) = &self.rpm {
            let mut b = b.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            b.take(1.0).map_err(|wait| Busy {
                retry_after: Some(wait),
            })?;
        }
        if let Some(b) = &self.tpm {
            let taken = b
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take(tokens as f64);
            if let Err(wait) = taken {
                if let Some(r) = &self.rpm {
                    r.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .adjust(1.0);
                }
                return Err(Busy {
                    retry_after: Some(wait),
                });
            }
            permit.tokens = tokens;
        }
        Ok(permit)
    }

    /// Requests in flight.
    pub fn outstanding(&self) -> u32 {
        self.outstanding.load(Ordering::Acquire)
    }

    /// Fold one time-to-first-token sample into the moving average.
    pub fn observe_ttft(&self, ttft: Duration) {
        let sample = ttft.as_micros().min(u128::from(u64::MAX)) as u64;
        let _ = self
            .ewma_ttft_us
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |old| {
                Some(if old == 0 {
                    sample.max(1)
                } else {
                    ((1.0 - EWMA_ALPHA) * old as f64 + EWMA_ALPHA * sample as f64) as u64
                })
            });
    }

    /// The TTFT moving average, once measured.
    pub fn ewma_ttft(&self) -> Option<Duration> {
        match self.ewma_ttft_us.load(Ordering::Acquire) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    /// Load per unit of weight: lower is better.
    fn load_score(&self) -> f64 {
        f64::from(self.outstanding() + 1) / f64::from(self.weight)
    }

    /// Expected wait per unit of weight: lower is better. Unmeasured deployments score
    /// zero, so each gets tried and measured.
    fn latency_score(&self) -> f64 {
        self.ewma_ttft().map_or(0.0, |t| t.as_secs_f64()) * self.load_score()
    }

    /// `/admin/health` entry.
    pub fn snapshot(&self) -> Value {
        json!({
            "name": self.name,
            "provider": self.provider,
            "region": self.region_name,
            "upstream_id": self.upstream_id,
            "weight": self.weight,
            "tier": self.tier,
            "max_concurrency": self.max_concurrency,
            "outstanding": self.outstanding(),
            "ewma_ttft_ms": self.ewma_ttft().map(|t| t.as_secs_f64() * 1000.0),
        })
    }
}

/// A deployment's limits: concurrency, and the vendor's per-minute quotas.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// Requests in flight at most.
    pub max_concurrency: Option<u32>,
    /// Requests per minute.
    pub rpm: Option<u64>,
    /// Tokens per minute.
    pub tpm: Option<u64>,
}

/// Why a deployment cannot take a request now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Busy {
    /// For a quota: when a retry could fit. `None`: all its slots are taken.
    pub retry_after: Option<Duration>,
}

/// A claimed slot on a deployment (and the tokens reserved from its quota), released when
/// dropped: the tokens not [used](Permit::set_used) go back to the quota.
#[derive(Debug)]
pub struct Permit {
    deployment: Arc<Deployment>,
    tokens: u64,
    /// Tokens the attempt used; `u64::MAX` until known (then none: it never reached the
    /// vendor, or the vendor refused it).
    used: AtomicU64,
}

impl Permit {
    /// The deployment the slot is on.
    pub fn deployment(&self) -> &Arc<Deployment> {
        &self.deployment
    }

    /// The attempt used `tokens` of the vendor's quota (prompt + completion).
    pub fn set_used(&self, tokens: u64) {
        self.used.store(tokens, Ordering::Release);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.deployment.outstanding.fetch_sub(1, Ordering::AcqRel);
        if let Some(b) = &self.deployment.tpm {
            let used = match self.used.load(Ordering::Acquire) {
                u64::MAX => 0,
                n => n,
            };
            b.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .adjust(self.tokens as f64 - used as f64);
        }
    }
}

/// Time limits of one model.
#[derive(Debug, Clone, Copy)]
pub struct RouteTimeouts {
    /// Whole request.
    pub request: Duration,
    /// Until the first token of a stream.
    pub ttft: Duration,
    /// Gap between data events after the first token.
    pub idle: Duration,
}

/// Shorter limits a client asked for (`x-switchyard-timeout`,
/// `x-switchyard-ttft-timeout`), parsed before anything is spent.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientLimits {
    /// Whole request.
    pub request: Option<Duration>,
    /// Until the first token of a stream.
    pub ttft: Option<Duration>,
}

/// One request's time limits: its model's [`RouteTimeouts`], shortened where the client
/// asked (a client cannot raise them). A limit the client shortened is the client's own:
/// its expiry says nothing about the deployment, so it never counts against the
/// deployment's health, the retry budget or latency statistics.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// Whole request, from its arrival.
    pub request: Duration,
    /// Until the first token of a stream, from when an attempt is sent.
    pub ttft: Duration,
    /// Gap between data events after the first token.
    pub idle: Duration,
    /// `request` is shorter than the model's because the client asked.
    pub request_by_client: bool,
    /// `ttft` is shorter than the model's because the client asked.
    pub ttft_by_client: bool,
}

impl Deadlines {
    /// The model's limits, shortened by the client's.
    pub fn new(route: RouteTimeouts, client: ClientLimits) -> Self {
        let shorten = |configured: Duration, asked: Option<Duration>| match asked {
            Some(a) if a < configured => (a, true),
            _ => (configured, false),
        };
        let (request, request_by_client) = shorten(route.request, client.request);
        let (ttft, ttft_by_client) = shorten(route.ttft, client.ttft);
        Deadlines {
            request,
            ttft,
            idle: route.idle,
            request_by_client,
            ttft_by_client,
        }
    }

    /// Which limit the client shortened, if any, explains a time-out seen now on an
    /// attempt sent at `sent` of a request that arrived at `started`.
    pub fn client_expired(
        &self,
        started: Instant,
        sent: Instant,
        stream: bool,
    ) -> Option<ClientExpiry> {
        if self.request_by_client && started.elapsed() >= self.request {
            Some(ClientExpiry::Request)
        } else if stream && self.ttft_by_client && sent.elapsed() >= self.ttft {
            Some(ClientExpiry::Ttft)
        } else {
            None
        }
    }
}

/// A limit the client shortened that ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientExpiry {
    /// The whole request's: it is over.
    Request,
    /// One attempt's time to first token: the next deployment may still answer in time,
    /// but the one that did not is not to blame.
    Ttft,
}

/// How one model is served.
#[derive(Debug)]
pub struct Route {
    /// Every deployment, in configured order.
    pub deployments: Vec<Arc<Deployment>>,
    /// Policy within a tier.
    pub balance: Balance,
    /// Time limits.
    pub timeouts: RouteTimeouts,
    /// Hedging, when on.
    pub hedge: Option<Hedger>,
}

impl Route {
    /// The deployments in the order this request should try them: tier by tier, the
    /// preferred ones ranked by the balancing policy; a deployment still warming up after
    /// coming back is, for the share of requests it should not take yet, moved behind the
    /// other preferred ones; those not preferred come last, in tier order, as a last resort.
    pub fn order(&self, standing: impl Fn(&Deployment) -> Standing) -> Vec<Arc<Deployment>> {
        let mut rng = rand::rng();
        let mut out = Vec::with_capacity(self.deployments.len());
        let mut warming = Vec::new();
        let mut sick = Vec::new();
        let mut tiers: Vec<u32> = self.deployments.iter().map(|d| d.tier).collect();
        tiers.sort_unstable();
        tiers.dedup();
        for tier in tiers {
            let start = out.len();
            for d in self.deployments.iter().filter(|d| d.tier == tier) {
                let s = standing(d);
                if !s.preferred {
                    sick.push(Arc::clone(d));
                } else if s.warmth < 1.0 && !rng.random_bool(s.warmth.clamp(0.0, 1.0)) {
                    warming.push(Arc::clone(d));
                } else {
                    out.push(Arc::clone(d));
                }
            }
            rank(&mut out[start..], self.balance, &mut rng);
        }
        out.append(&mut warming);
        out.append(&mut sick);
        out
    }

    /// Whether `d` answers so much slower than the fastest of its peers — its TTFT
    /// average over `factor` times theirs and at least [`OUTLIER_FLOOR`] more — that its
    /// latest answer should count against its health. `factor` 0 = never.
    pub fn is_latency_outlier(&self, d: &Deployment, factor: f64) -> bool {
        let Some(mine) = d.ewma_ttft() else {
            return false;
        };
        let best = self
            .deployments
            .iter()
            .filter(|o| !std::ptr::eq(o.as_ref(), d))
            .filter_map(|o| o.ewma_ttft())
            .min();
        match best {
            Some(best) if factor > 0.0 => {
                mine.as_secs_f64() > factor * best.as_secs_f64() && mine >= best + OUTLIER_FLOOR
            }
            _ => false,
        }
    }

    /// `/admin/health` entry.
    pub fn snapshot(&self) -> Value {
        json!({
            "balance": self.balance.as_str(),
            "hedge": self.hedge.as_ref().map(Hedger::snapshot),
            "deployments": self.deployments.iter().map(|d| d.snapshot()).collect::<Vec<_>>(),
        })
    }
}

/// Rank one tier's healthy deployments in place.
fn rank(tier: &mut [Arc<Deployment>], balance: Balance, rng: &mut impl Rng) {
    if tier.len() < 2 || balance == Balance::Ordered {
        return;
    }
    // A weighted random order (each key is an exponential draw with rate = weight, so
    // the smallest key wins with probability weight / total).
    let mut keyed: Vec<(f64, Arc<Deployment>)> = tier
        .iter()
        .map(|d| {
            let u: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
            (-u.ln() / f64::from(d.weight), Arc::clone(d))
        })
        .collect();
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (slot, (_, d)) in tier.iter_mut().zip(keyed) {
        *slot = d;
    }
    // Power of two choices: of the first two drawn, the less loaded goes first.
    let score = match balance {
        Balance::LeastOutstanding => Deployment::load_score,
        Balance::Latency => Deployment::latency_score,
        Balance::Weighted | Balance::Ordered => return,
    };
    if score(&tier[1]) < score(&tier[0]) {
        tier.swap(0, 1);
    }
}

/// Recent latencies of one kind, for percentiles.
#[derive(Debug)]
struct Window {
    samples: Mutex<(Vec<u32>, usize)>,
}

/// Samples kept per window.
const WINDOW: usize = 512;
/// Samples needed before the percentile is trusted.
const MIN_SAMPLES: usize = 20;

impl Window {
    fn new() -> Self {
        Window {
            samples: Mutex::new((Vec::with_capacity(WINDOW), 0)),
        }
    }

    fn push(&self, d: Duration) {
        let us = d.as_micros().min(u128::from(u32::MAX)) as u32;
        if let Ok(mut g) = self.samples.lock() {
            let (buf, next) = &mut *g;
            if buf.len() < WINDOW {
                buf.push(us);
            } else {
                buf[*next] = us;
            }
            *next = (*next + 1) % WINDOW;
        }
    }

    fn percentile(&self, p: f64) -> Option<Duration> {
        let mut copy = self.samples.lock().ok()?.0.clone();
        if copy.len() < MIN_SAMPLES {
            return None;
        }
        let rank = ((p / 100.0) * (copy.len() - 1) as f64).round() as usize;
        let rank = rank.min(copy.len() - 1);
        let (_, v, _) = copy.select_nth_unstable(rank);
        Some(Duration::from_micros(u64::from(*v)))
    }
}

/// Hedging state of one model: when to send the second copy, and how many may be sent.
#[derive(Debug)]
pub struct Hedger {
    config: HedgeConfig,
    budget: RetryBudget,
    /// Time to first token of streamed attempts.
    ttft: Window,
    /// Time to the whole answer of non-streamed attempts.
    whole: Window,
}

impl Hedger {
    /// Hedging with `config`, nothing measured yet.
    pub fn new(config: HedgeConfig) -> Self {
        Hedger {
            config,
            budget: RetryBudget::new(config.budget_ratio, config.budget_reserve),
            ttft: Window::new(),
            whole: Window::new(),
        }
    }

    /// How long the first attempt gets before a hedge is sent.
    pub fn delay(&self, stream: bool) -> Duration {
        let w = if stream { &self.ttft } else { &self.whole };
        w.percentile(self.config.percentile)
            .unwrap_or(self.config.initial_delay)
            .max(self.config.min_delay)
    }

    /// An attempt answered (first token of a stream, or a whole answer) after `d`.
    pub fn observe(&self, stream: bool, d: Duration) {
        if stream {
            self.ttft.push(d);
        } else {
            self.whole.push(d);
        }
    }

    /// A request for the model arrived: it earns a share of a hedge.
    pub fn deposit(&self) {
        self.budget.deposit();
    }

    /// Take one hedge from the budget.
    pub fn withdraw(&self) -> bool {
        self.budget.withdraw()
    }

    fn snapshot(&self) -> Value {
        json!({
            "percentile": self.config.percentile,
            "delay_stream_ms": self.delay(true).as_secs_f64() * 1000.0,
            "delay_whole_ms": self.delay(false).as_secs_f64() * 1000.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(name: &str, weight: u32, tier: u32, max: Option<u32>) -> Arc<Deployment> {
        Arc::new(Deployment::new(
            name.into(),
            "p".into(),
            (0, name.into()),
            "m".into(),
            weight,
            tier,
            Limits {
                max_concurrency: max,
                ..Limits::default()
            },
        ))
    }

    fn route(balance: Balance, deps: Vec<Arc<Deployment>>) -> Route {
        Route {
            deployments: deps,
            balance,
            timeouts: RouteTimeouts {
                request: Duration::from_secs(1),
                ttft: Duration::from_secs(1),
                idle: Duration::from_secs(1),
            },
            hedge: None,
        }
    }

    const WARM: Standing = Standing {
        preferred: true,
        warmth: 1.0,
    };

    fn firsts(r: &Route, n: usize) -> std::collections::HashMap<String, usize> {
        let mut m = std::collections::HashMap::new();
        for _ in 0..n {
            *m.entry(r.order(|_| WARM)[0].name.clone()).or_default() += 1;
        }
        m
    }

    #[test]
    fn lower_tiers_come_first_and_unhealthy_deployments_last() {
        let r = route(
            Balance::Weighted,
            vec![
                dep("far", 1, 1, None),
                dep("home", 1, 0, None),
                dep("sick", 1, 0, None),
            ],
        );
        let names: Vec<String> = r
            .order(|d| Standing {
                preferred: d.name != "sick",
                warmth: 1.0,
            })
            .iter()
            .map(|d| d.name.clone())
            .collect();
        assert_eq!(names, ["home", "far", "sick"]);
    }

    #[test]
    fn a_warming_deployment_takes_only_its_share_first() {
        let r = route(
            Balance::Ordered,
            vec![dep("back", 1, 0, None), dep("other", 1, 1, None)],
        );
        let n = 4000;
        let first = (0..n)
            .filter(|_| {
                r.order(|d| Standing {
                    preferred: true,
                    warmth: if d.name == "back" { 0.25 } else { 1.0 },
                })[0]
                    .name
                    == "back"
            })
            .count();
        assert!(
            (800..=1200).contains(&first),
            "{first} of {n}, expected ~1000"
        );
    }

    #[test]
    fn weighted_shares_follow_the_weights() {
        let r = route(
            Balance::Weighted,
            vec![dep("a", 3, 0, None), dep("b", 1, 0, None)],
        );
        let a = firsts(&r, 4000)["a"];
        assert!((2800..=3200).contains(&a), "{a} of 4000, expected ~3000");
    }

    #[test]
    fn least_outstanding_prefers_the_idle_deployment() {
        let busy = dep("busy", 1, 0, None);
        let idle = dep("idle", 1, 0, None);
        let _held: Vec<Permit> = (0..5).filter_map(|_| busy.try_acquire(0).ok()).collect();
        let r = route(Balance::LeastOutstanding, vec![busy, idle]);
        assert_eq!(firsts(&r, 200).get("idle"), Some(&200));
    }

    #[test]
    fn latency_balance_prefers_the_faster_deployment() {
        let slow = dep("slow", 1, 0, None);
        let fast = dep("fast", 1, 0, None);
        slow.observe_ttft(Duration::from_millis(900));
        fast.observe_ttft(Duration::from_millis(100));
        let r = route(Balance::Latency, vec![slow, fast]);
        assert_eq!(firsts(&r, 200).get("fast"), Some(&200));
    }

    #[test]
    fn a_deployment_far_slower_than_its_peers_is_a_latency_outlier() {
        let slow = dep("slow", 1, 0, None);
        let fast = dep("fast", 1, 0, None);
        let r = route(Balance::Latency, vec![Arc::clone(&slow), Arc::clone(&fast)]);
        assert!(!r.is_latency_outlier(&slow, 5.0), "nothing measured");
        slow.observe_ttft(Duration::from_millis(2000));
        fast.observe_ttft(Duration::from_millis(300));
        assert!(r.is_latency_outlier(&slow, 5.0));
        assert!(!r.is_latency_outlier(&slow, 0.0), "off");
        assert!(!r.is_latency_outlier(&fast, 5.0));
        let (a, b) = (dep("a", 1, 0, None), dep("b", 1, 0, None));
        let r = route(Balance::Latency, vec![Arc::clone(&a), Arc::clone(&b)]);
        a.observe_ttft(Duration::from_millis(60));
        b.observe_ttft(Duration::from_millis(2));
        assert!(!r.is_latency_outlier(&a, 5.0), "30x, but only 58 ms apart");
    }

    #[test]
    fn ordered_keeps_the_configured_order() {
        let r = route(
            Balance::Ordered,
            vec![dep("a", 1, 0, None), dep("b", 9, 0, None)],
        );
        assert_eq!(firsts(&r, 50).get("a"), Some(&50));
    }

    #[test]
    fn permits_stop_at_the_limit_and_free_on_drop() {
        let d = dep("d", 1, 0, Some(2));
        let p1 = d.try_acquire(0).unwrap();
        let _p2 = d.try_acquire(0).unwrap();
        assert_eq!(d.try_acquire(0).unwrap_err(), Busy { retry_after: None });
        drop(p1);
        assert_eq!(d.outstanding(), 1);
        assert!(d.try_acquire(0).is_ok());
    }

    #[test]
    fn a_vendor_quota_is_reserved_then_trued_up_and_refused_ones_hold_no_slot() {
        let d = Arc::new(Deployment::new(
            "q".into(),
            "p".into(),
            (0, "q".into()),
            "m".into(),
            1,
            0,
            Limits {
                max_concurrency: None,
                rpm: Some(100),
                tpm: Some(1_000),
            },
        ));
        let p = d.try_acquire(800).unwrap();
        let busy = d.try_acquire(800).unwrap_err();
        assert!(busy.retry_after.is_some(), "over the token quota");
        assert_eq!(d.outstanding(), 1, "the refused request holds no slot");
        p.set_used(100);
        drop(p);
        assert!(d.try_acquire(800).is_ok(), "700 unused tokens went back");
        let failed = d.try_acquire(50).unwrap();
        drop(failed);
        assert!(
            d.try_acquire(150).is_ok(),
            "a failed attempt gives all its tokens back"
        );
    }

    #[test]
    fn ewma_moves_toward_new_samples() {
        let d = dep("d", 1, 0, None);
        assert_eq!(d.ewma_ttft(), None);
        d.observe_ttft(Duration::from_millis(100));
        d.observe_ttft(Duration::from_millis(200));
        let ms = d.ewma_ttft().unwrap().as_millis();
        assert_eq!(ms, 120);
    }

    #[test]
    fn hedge_delay_is_the_initial_one_until_measured_then_the_percentile() {
        let h = Hedger::new(HedgeConfig {
            percentile: 90.0,
            min_delay: Duration::from_millis(5),
            initial_delay: Duration::from_millis(700),
            budget_ratio: 0.1,
            budget_reserve: 1.0,
        });
        assert_eq!(h.delay(true), Duration::from_millis(700));
        for ms in 1..=100 {
            h.observe(true, Duration::from_millis(ms));
        }
        assert_eq!(h.delay(true), Duration::from_millis(90));
        assert_eq!(h.delay(false), Duration::from_millis(700), "kinds apart");
        for _ in 0..WINDOW {
            h.observe(true, Duration::from_millis(1));
        }
        assert_eq!(
            h.delay(true),
            Duration::from_millis(5),
            "never below min_delay"
        );
    }
}
