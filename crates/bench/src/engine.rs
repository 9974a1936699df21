//! The run: load models, the schedule, collecting outcomes, and the progress line.
//!
//! Open loop (`Load::Open`, `Load::Ramp`): request *i* is due at a precomputed instant
//! and is sent then, whether or not earlier requests have finished; every latency is
//! also measured from that due instant, so a target that queues cannot hide it (no
//! coordinated omission). Closed loop (`Load::Closed`): N streams, each sending its next
//! request when the previous one ends.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::client::{Endpoint, Outcome, Transport, execute};
use crate::cost::CostRead;
use crate::error::BenchError;
use crate::headers::ExtraHeaders;
use crate::workload::{Shape, Source, Workload};

/// How load is offered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// Open loop at `rate` requests per second.
    Open {
        /// Requests per second.
        rate: f64,
        /// Evenly spaced, or Poisson arrivals.
        poisson: bool,
    },
    /// Open loop, rate rising linearly from `from` to `to` over the run.
    Ramp {
        /// Starting rate.
        from: f64,
        /// Final rate.
        to: f64,
    },
    /// Closed loop with this many concurrent streams.
    Closed {
        /// Concurrent requests.
        concurrency: u32,
    },
}

impl Load {
    /// In words, for the report.
    pub fn describe(&self) -> String {
        match self {
            Load::Open {
                rate,
                poisson: false,
            } => format!("open loop, constant {rate} req/s"),
            Load::Open {
                rate,
                poisson: true,
            } => format!("open loop, Poisson {rate} req/s"),
            Load::Ramp { from, to } => format!("open loop, ramp {from} → {to} req/s"),
            Load::Closed { concurrency } => format!("closed loop, {concurrency} concurrent"),
        }
    }
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Base URL (`…/v1`); requests go to `{target}/chat/completions`.
    pub target: String,
    /// Models, sharing the load round-robin.
    pub models: Vec<String>,
    /// Load model.
    pub load: Load,
    /// Offered-load duration (at least one of `duration` and `max_requests` is set).
    pub duration: Option<Duration>,
    /// Stop after this many requests.
    pub max_requests: Option<u64>,
    /// Stream responses (TTFT/ITL need it).
    pub stream: bool,
    /// Per-request time-out.
    pub timeout: Duration,
    /// Bearer token.
    pub api_key: Option<String>,
    /// `--header`s sent with every request (an `authorization` among them replaces
    /// `api_key`'s bearer token).
    pub headers: ExtraHeaders,
    /// Prompts.
    pub source: Source,
    /// Seed of prompt draws and Poisson gaps.
    pub seed: u64,
    /// Print the live progress line to stderr.
    pub progress: bool,
    /// Ask for exactly the output length drawn (`"ignore_eos": true` beside
    /// `max_tokens`, vLLM's extension, which the simulator honours), so that output sizes
    /// stay exact; off, models stop where they would.
    pub exact_output: bool,
}

impl Plan {
    /// The chat-completions URL.
    pub fn url(&self) -> String {
        format!("{}/chat/completions", self.target.trim_end_matches('/'))
    }
}

/// One finished request, relative to the run's start.
#[derive(Debug, Clone)]
pub struct Rec {
    /// Due (open loop) or sent (closed loop).
    pub scheduled: Duration,
    /// Sent.
    pub sent: Duration,
    /// Headers arrived, from send.
    pub first_byte: Option<Duration>,
    /// First token, from send.
    pub ttft: Option<Duration>,
    /// Last token, from send.
    pub last_token: Option<Duration>,
    /// Done.
    pub done: Duration,
    /// Output tokens.
    pub output_tokens: u32,
    /// Prompt tokens (usage, else our estimate).
    pub input_tokens: u32,
    /// Tokens estimated rather than reported.
    pub estimated: bool,
    /// Failure kind.
    pub error: Option<String>,
    /// What the target said this request cost, in nano-dollars (Switchyard only). A
    /// failed request may carry one too: the gateway charges for what it did.
    pub cost_nanos: Option<u64>,
    /// The response carried a cost that could not be read (malformed or absurd).
    pub cost_unreadable: bool,
}

impl Rec {
    /// E2E from the schedule.
    pub fn e2e(&self) -> Duration {
        self.done.saturating_sub(self.scheduled)
    }
}

/// Outcomes of one model.
#[derive(Debug)]
pub struct GroupData {
    /// Model name.
    pub name: String,
    /// Every request.
    pub recs: Vec<Rec>,
    /// Per-chunk ITL, microseconds.
    pub itl_chunk: Histogram<u64>,
    /// Per-token ITL, microseconds (each token of a chunk counted once).
    pub itl_token: Histogram<u64>,
    /// E2E of requests finished since the progress line last looked, microseconds.
    pub recent_e2e: Histogram<u64>,
}

/// What a run produced, before analysis.
#[derive(Debug)]
pub struct RunData {
    /// One per model.
    pub groups: Vec<GroupData>,
    /// Offered-load wall time.
    pub offered_for: Duration,
    /// Offered rate, for open loops.
    pub offered_rps: Option<f64>,
}

struct Shared {
    start: Instant,
    url: Endpoint,
    /// Every request's headers, built once.
    headers: http::HeaderMap,
    stream: bool,
    timeout: Duration,
    groups: Vec<Mutex<Option<GroupData>>>,
    sent: AtomicU64,
    done: AtomicU64,
    errors: AtomicU64,
}

/// A histogram of microseconds, 1 µs to 1 h at 3 significant digits.
pub fn histogram() -> Result<Histogram<u64>, BenchError> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3)
        .map_err(|e| BenchError::Client(format!("histogram: {e}")))
}

/// Parse and check `--target`: an http(s) URL with a host.
pub fn parse_target(target: &str) -> Result<reqwest::Url, BenchError> {
    let url = reqwest::Url::parse(target).map_err(|e| {
        BenchError::Arg(format!(
            "--target '{target}' is not a URL ({e}); write e.g. http://127.0.0.1:8080/v1"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(BenchError::Arg(format!(
            "--target '{target}' must be http:// or https://"
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(BenchError::Arg(format!("--target '{target}' has no host")));
    }
    Ok(url)
}

/// Check the target answers TCP before offering load, so a wrong URL fails in seconds
/// with the reason instead of producing a run of errors.
pub async fn preflight(target: &str) -> Result<(), BenchError> {
    let url = parse_target(target)?;
    // IPv6 hosts come bracketed (`[::1]`); the resolver wants them bare.
    let host = url
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = url.port_or_known_default().unwrap_or(80);
    let unreachable = |reason: String| BenchError::Unreachable {
        target: target.to_string(),
        reason,
    };
    match tokio::time::timeout(
        Duration::from_secs(3),
        tokio::net::TcpStream::connect((host, port)),
    )
    .await
    {
        Err(_) => Err(unreachable("no TCP connection within 3 s".into())),
        Ok(Err(e)) => Err(unreachable(e.to_string())),
        Ok(Ok(_)) => Ok(()),
    }
}

/// Build the HTTP client used for load.
pub fn http_client() -> Result<Transport, BenchError> {
    Transport::new().map_err(BenchError::Client)
}

/// Offer the plan's load and collect every request's outcome.
pub async fn run(plan: &Plan, client: &Transport) -> Result<RunData, BenchError> {
    let workloads: Vec<Arc<Workload>> = plan
        .models
        .iter()
        .enumerate()
        .map(|(i, m)| {
            Arc::new(Workload::prepare(
                &plan.source,
                m,
                Shape {
                    stream: plan.stream,
                    exact_output: plan.exact_output,
                },
                plan.seed ^ (i as u64) << 32,
            ))
        })
        .collect();
    let shared = Arc::new(Shared {
        start: Instant::now(),
        url: Endpoint::parse(&plan.url()).map_err(|e| {
            BenchError::Arg(format!("--target '{}' is not a URL ({e})", plan.target))
        })?,
        headers: plan.headers.request_headers(plan.api_key.as_deref())?,
        stream: plan.stream,
        timeout: plan.timeout,
        groups: plan
            .models
            .iter()
            .map(|m| {
                Ok(Mutex::new(Some(GroupData {
                    name: m.clone(),
                    recs: Vec::new(),
                    itl_chunk: histogram()?,
                    itl_token: histogram()?,
                    recent_e2e: histogram()?,
                })))
            })
            .collect::<Result<_, BenchError>>()?,
        sent: AtomicU64::new(0),
        done: AtomicU64::new(0),
        errors: AtomicU64::new(0),
    });
    let progress = plan
        .progress
        .then(|| tokio::spawn(progress_line(shared.clone(), plan.clone())));
    let offered_for = match plan.load {
        Load::Closed { concurrency } => {
            closed_loop(plan, client, &shared, &workloads, concurrency).await
        }
        _ => open_loop(plan, client, &shared, &workloads).await,
    };
    if let Some(p) = progress {
        p.abort();
        let _ = p.await;
        eprintln!();
    }
    let groups = shared
        .groups
        .iter()
        .filter_map(|g| g.lock().ok().and_then(|mut g| g.take()))
        .collect();
    let offered_rps = match plan.load {
        Load::Open { rate, .. } => Some(rate),
        Load::Ramp { from, to } => Some((from + to) / 2.0),
        Load::Closed { .. } => None,
    };
    Ok(RunData {
        groups,
        offered_for,
        offered_rps,
    })
}

async fn open_loop(
    plan: &Plan,
    client: &Transport,
    shared: &Arc<Shared>,
    workloads: &[Arc<Workload>],
) -> Duration {
    let mut rng = SmallRng::seed_from_u64(plan.seed);
    let total = plan.duration.map_or(f64::INFINITY, |d| d.as_secs_f64());
    let max = plan.max_requests.unwrap_or(u64::MAX);
    let mut due = 0.0_f64; // seconds since start
    let mut tasks = tokio::task::JoinSet::new();
    let base = shared.start + Duration::from_millis(5);
    let mut i = 0u64;
    while i < max && due < total {
        let rate = match plan.load {
            Load::Open { rate, .. } => rate,
            Load::Ramp { from, to } => from + (to - from) * (due / total.max(1e-9)).min(1.0),
            Load::Closed { .. } => 1.0,
        }
        .max(1e-6);
        let at = base + Duration::from_secs_f64(due);
        tokio::time::sleep_until(at.into()).await;
        let g = (i % workloads.len() as u64) as usize;
        let w = workloads[g].clone();
        let (client, shared) = (client.clone(), shared.clone());
        let scheduled = at.saturating_duration_since(shared.start);
        tasks.spawn(async move { one(&client, &shared, &w, g, i, scheduled).await });
        // Reap finished tasks as we go so the set stays small.
        while tasks.try_join_next().is_some() {}
        i += 1;
        let gap = if matches!(plan.load, Load::Open { poisson: true, .. }) {
            -(1.0 - rng.random::<f64>()).ln() / rate
        } else {
            1.0 / rate
        };
        due += gap;
    }
    let offered_for = shared.start.elapsed();
    while tasks.join_next().await.is_some() {}
    offered_for
}

async fn closed_loop(
    plan: &Plan,
    client: &Transport,
    shared: &Arc<Shared>,
    workloads: &[Arc<Workload>],
    concurrency: u32,
) -> Duration {
    let deadline = plan.duration.map(|d| shared.start + d);
    let next = Arc::new(AtomicU64::new(0));
    let max = plan.max_requests.unwrap_or(u64::MAX);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, shared, next) = (client.clone(), shared.clone(), next.clone());
        let workloads: Vec<Arc<Workload>> = workloads.to_vec();
        tasks.spawn(async move {
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= max {
                    break;
                }
                let g = (i % workloads.len() as u64) as usize;
                let scheduled = shared.start.elapsed();
                one(&client, &shared, &workloads[g], g, i, scheduled).await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    shared.start.elapsed()
}

async fn one(
    client: &Transport,
    shared: &Shared,
    w: &Workload,
    group: usize,
    i: u64,
    scheduled: Duration,
) {
    let prepared = w.get(i);
    shared.sent.fetch_add(1, Ordering::Relaxed);
    let o = execute(
        client,
        &shared.url,
        &shared.headers,
        prepared.body.clone(),
        shared.stream,
        shared.timeout,
    )
    .await;
    record(shared, group, scheduled, prepared.input_tokens, o);
}

fn record(shared: &Shared, group: usize, scheduled: Duration, est_input: u32, o: Outcome) {
    let since = |t: Instant| t.saturating_duration_since(shared.start);
    let from_send = |t: Option<Instant>| t.map(|t| t.saturating_duration_since(o.sent));
    let rec = Rec {
        scheduled,
        sent: since(o.sent),
        first_byte: from_send(o.first_byte),
        ttft: from_send(o.first_token),
        last_token: from_send(o.last_token),
        done: since(o.done),
        output_tokens: o.output_tokens,
        input_tokens: o.input_tokens.unwrap_or(est_input),
        estimated: o.estimated || o.input_tokens.is_none(),
        error: o.error,
        cost_nanos: o.cost.nanos(),
        cost_unreadable: o.cost == CostRead::Unreadable,
    };
    shared.done.fetch_add(1, Ordering::Relaxed);
    if rec.error.is_some() {
        shared.errors.fetch_add(1, Ordering::Relaxed);
    }
    let Some(slot) = shared.groups.get(group) else {
        return;
    };
    let Ok(mut guard) = slot.lock() else { return };
    let Some(g) = guard.as_mut() else { return };
    if rec.error.is_none() {
        let _ = g.recent_e2e.record(micros(rec.e2e()).max(1));
        for (gap, tokens) in &o.gaps {
            let us = micros(*gap).max(1);
            let _ = g.itl_chunk.record(us);
            let per_token = (us / u64::from((*tokens).max(1))).max(1);
            let _ = g.itl_token.record_n(per_token, u64::from((*tokens).max(1)));
        }
    }
    g.recs.push(rec);
}

/// Microseconds, saturating.
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

async fn progress_line(shared: Arc<Shared>, plan: Plan) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut last_done = 0;
    loop {
        tick.tick().await;
        let t = shared.start.elapsed().as_secs_f64();
        let sent = shared.sent.load(Ordering::Relaxed);
        let done = shared.done.load(Ordering::Relaxed);
        let errors = shared.errors.load(Ordering::Relaxed);
        let mut recent = histogram().ok();
        for slot in &shared.groups {
            if let (Ok(mut guard), Some(r)) = (slot.lock(), recent.as_mut())
                && let Some(g) = guard.as_mut()
            {
                let _ = r.add(&g.recent_e2e);
                g.recent_e2e.reset();
            }
        }
        let p99 = recent
            .filter(|h| !h.is_empty())
            .map_or(0.0, |h| h.value_at_quantile(0.99) as f64 / 1000.0);
        let goal = plan
            .duration
            .map_or(String::new(), |d| format!("/{:.0}s", d.as_secs_f64()));
        eprint!(
            "\r[{t:6.1}s{goal}] sent {sent} · done {done} ({}/s) · in flight {} · errors {errors} · p99 e2e (last 1s) {p99:.1} ms   ",
            done - last_done,
            sent.saturating_sub(done),
        );
        let _ = std::io::stderr().flush();
        last_done = done;
    }
}

/// Errors of a group by kind.
pub fn errors_by_kind(recs: &[Rec]) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for r in recs {
        if let Some(e) = &r.error {
            *m.entry(e.clone()).or_insert(0) += 1;
        }
    }
    m
}
