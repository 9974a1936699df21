//! A workload taken from reality: the usage log's requests (`--from-usage`) give the
//! traffic per day and per hour, the model mix, token counts per model, the cached and
//! streamed shares, each model's latency, each deployment's error rate and the
//! escalation rate — and, for checking a plan against what happened, what was spent and
//! how many requests were in flight.

use std::collections::BTreeMap;

use serde::Serialize;
use switchyard_ledger::UsageEvent;

use crate::capacity::Latency;
use crate::error::PlanError;
use crate::workload::{HOURS, Share, Tokens, Workload};

/// What the usage log shows.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The workload it implies.
    pub workload: Workload,
    /// The share of requests each model answered.
    pub mix: Vec<Share>,
    /// Mean latency per model.
    pub latency: BTreeMap<String, Latency>,
    /// Share of requests each deployment (`provider/name`) answered without a 5xx.
    pub deployments: BTreeMap<String, f64>,
    /// Share of requests escalated to another model.
    pub escalation_rate: f64,
    /// Figures to check a plan against.
    pub measured: Measured,
}

/// What actually happened over the log's span.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Measured {
    /// Requests (escalated and hedged-away calls not counted).
    pub requests: u64,
    /// Seconds from the first request's start to the last one's end.
    pub span_s: f64,
    /// Everything spent, escalated and cancelled calls included, in USD.
    pub cost_usd: f64,
    /// Mean requests in flight over the span.
    pub concurrency_mean: f64,
    /// Mean requests in flight over the busiest minute.
    pub concurrency_busiest_minute: f64,
}

/// What one model's requests showed.
#[derive(Debug, Default)]
struct Seen {
    prompt: Vec<u32>,
    completion: Vec<u32>,
    latency_s: f64,
    count: u64,
}

/// Whether `e` is a request's own record (not an escalated-away or hedged-away call).
fn is_request(e: &UsageEvent) -> bool {
    !matches!(e.outcome.as_str(), "escalated" | "hedge_cancelled")
}

/// Per model, per deployment, per hour and overall, what the requests showed.
#[derive(Debug, Default)]
struct Tally<'a> {
    per_model: BTreeMap<&'a str, Seen>,
    /// `provider/name` → (requests, 5xx).
    deployments: BTreeMap<String, (u64, u64)>,
    hours: [f64; HOURS],
    prompt: u64,
    cached: u64,
    streams: u64,
}

impl<'a> Tally<'a> {
    fn add(&mut self, e: &'a UsageEvent) {
        let seen = self.per_model.entry(e.model.as_str()).or_default();
        seen.prompt
            .push(u32::try_from(e.prompt_tokens).unwrap_or(u32::MAX));
        seen.completion
            .push(u32::try_from(e.completion_tokens).unwrap_or(u32::MAX));
        seen.latency_s += e.latency_ms as f64 / 1e3;
        seen.count += 1;
        let d = self
            .deployments
            .entry(format!("{}/{}", e.provider, e.deployment))
            .or_default();
        d.0 += 1;
        d.1 += u64::from(e.status >= 500);
        let hour = usize::try_from(e.ts_ms.rem_euclid(86_400_000) / 3_600_000).unwrap_or(0);
        if let Some(h) = self.hours.get_mut(hour) {
            *h += 1.0;
        }
        self.prompt = self.prompt.saturating_add(e.prompt_tokens);
        self.cached = self
            .cached
            .saturating_add(e.cached_tokens.min(e.prompt_tokens));
        self.streams += u64::from(e.ttft_ms.is_some());
    }

    /// Every model's counts of one kind, together.
    fn all(&self, f: fn(&Seen) -> &Vec<u32>) -> Tokens {
        Tokens::Observed(
            self.per_model
                .values()
                .flat_map(|v| f(v).iter().copied())
                .collect(),
        )
    }
}

/// The workload of `events` (the usage log's, over the window asked).
pub fn observe(events: &[UsageEvent]) -> Result<Observed, PlanError> {
    let requests: Vec<&UsageEvent> = events.iter().filter(|e| is_request(e)).collect();
    if requests.is_empty() {
        return Err(PlanError::arg(
            "--from-usage",
            "the usage log has no requests in that window; widen --days or send traffic first",
        ));
    }
    let n = requests.len() as f64;
    let start = |e: &UsageEvent| {
        e.ts_ms
            .saturating_sub(i64::try_from(e.latency_ms).unwrap_or(i64::MAX))
    };
    let first = requests.iter().map(|e| start(e)).min().unwrap_or(0);
    let last = requests.iter().map(|e| e.ts_ms).max().unwrap_or(0);
    let span_s = ((last - first) as f64 / 1e3).max(1.0);
    let mut t = Tally::default();
    for e in &requests {
        t.add(e);
    }
    // Less than a day says nothing about the hours: the profile stays flat.
    let profile = if span_s >= 86_400.0 {
        let mean = t.hours.iter().sum::<f64>() / HOURS as f64;
        t.hours.map(|h| h / mean)
    } else {
        [1.0; HOURS]
    };
    let short = if span_s < 86_400.0 {
        " (under a day: flat profile unless --peak-factor or --profile)"
    } else {
        ""
    };
    let workload = Workload {
        requests_per_day: n / span_s * 86_400.0,
        profile,
        regions: vec![Share {
            name: "all".into(),
            share: 1.0,
        }],
        input: t.all(|v| &v.prompt),
        output: t.all(|v| &v.completion),
        cached_share: if t.prompt > 0 {
            t.cached as f64 / t.prompt as f64
        } else {
            0.0
        },
        stream_share: t.streams as f64 / n,
        per_model: t
            .per_model
            .iter()
            .map(|(m, v)| {
                (
                    m.to_string(),
                    Tokens::Observed(v.prompt.clone()),
                    Tokens::Observed(v.completion.clone()),
                )
            })
            .collect(),
        source: format!(
            "usage log: {} requests over {span_s:.0} s{short}",
            requests.len()
        ),
    };
    let escalated = events.iter().filter(|e| e.outcome == "escalated").count() as f64;
    Ok(Observed {
        mix: t
            .per_model
            .iter()
            .map(|(m, v)| Share {
                name: m.to_string(),
                share: v.count as f64 / n,
            })
            .collect(),
        latency: t
            .per_model
            .iter()
            .map(|(m, v)| {
                let l = Latency {
                    mean_s: v.latency_s / v.count.max(1) as f64,
                    source: "usage log".into(),
                };
                (m.to_string(), l)
            })
            .collect(),
        deployments: t
            .deployments
            .into_iter()
            .map(|(d, (all, bad))| (d, 1.0 - bad as f64 / all.max(1) as f64))
            .collect(),
        escalation_rate: escalated / n,
        measured: measured(events, &requests, first, span_s),
        workload,
    })
}

/// Spend and requests in flight over the span.
fn measured(events: &[UsageEvent], requests: &[&UsageEvent], first: i64, span_s: f64) -> Measured {
    let cost: u64 = events
        .iter()
        .map(|e| e.cost_nanos)
        .fold(0, u64::saturating_add);
    let busy_s: f64 = requests.iter().map(|e| e.latency_ms as f64 / 1e3).sum();
    // Seconds in flight per second of the span, then the best sixty in a row.
    let seconds = (span_s.ceil() as usize).clamp(1, 31 * 86_400);
    let mut in_flight = vec![0.0f64; seconds + 1];
    for e in requests {
        let end = (e.ts_ms - first) as f64 / 1e3;
        let begin = (end - e.latency_ms as f64 / 1e3).max(0.0);
        let mut t = begin;
        while t < end {
            let slot = t.floor();
            let next = (slot + 1.0).min(end);
            if let Some(s) = in_flight.get_mut(slot as usize) {
                *s += next - t;
            }
            t = next;
        }
    }
    if span_s <= 60.0 {
        // The whole span is the busiest minute there is.
        return Measured {
            requests: requests.len() as u64,
            span_s,
            cost_usd: cost as f64 / switchyard_catalog::NANOS_PER_USD as f64,
            concurrency_mean: busy_s / span_s,
            concurrency_busiest_minute: busy_s / span_s,
        };
    }
    let window = 60.min(in_flight.len());
    let mut sum: f64 = in_flight.iter().take(window).sum();
    let mut best = sum;
    for i in window..in_flight.len() {
        sum += in_flight[i] - in_flight[i - window];
        best = best.max(sum);
    }
    Measured {
        requests: requests.len() as u64,
        span_s,
        cost_usd: cost as f64 / switchyard_catalog::NANOS_PER_USD as f64,
        concurrency_mean: busy_s / span_s,
        concurrency_busiest_minute: best / window.max(1) as f64,
    }
}
