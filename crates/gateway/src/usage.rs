//! Usage records: one per request, written when the request ends however it ends —
//! completed, failed upstream, cut off, or abandoned by the client (then estimated).
//!
//! Recording is in-memory and lock-free on the request path (metrics counters and a
//! structured log line); durable storage arrives with budgets and keys.

use std::time::Duration;

use metrics::{counter, gauge, histogram};
use switchyard_catalog::Price;
use switchyard_wire::TokenUsage;

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The response was delivered whole.
    Completed,
    /// The client went away first; usage is estimated from what was produced.
    ClientDisconnected,
    /// The upstream stream broke off or stalled.
    Interrupted,
}

impl Outcome {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::ClientDisconnected => "client_disconnected",
            Outcome::Interrupted => "interrupted",
        }
    }
}

/// What one request consumed.
#[derive(Debug, Clone)]
pub struct UsageRecord<'a> {
    /// Gateway request id.
    pub request_id: &'a str,
    /// Canonical model id.
    pub model: &'a str,
    /// Provider id.
    pub provider: &'a str,
    /// Region that served it.
    pub region: &'a str,
    /// Tokens.
    pub usage: TokenUsage,
    /// Whether `usage` is our estimate rather than the vendor's figure.
    pub estimated: bool,
    /// How it ended.
    pub outcome: Outcome,
    /// List price of the model.
    pub price: &'a Price,
    /// Time from arrival to the end.
    pub latency: Duration,
}

/// Record one request's usage (metrics, and a `switchyard::usage` debug log line).
pub fn record(r: &UsageRecord<'_>) {
    let labels = [
        ("model", r.model.to_string()),
        ("provider", r.provider.to_string()),
    ];
    let u = r.usage;
    for (kind, n) in [
        ("prompt", u.prompt),
        ("cached_prompt", u.cached_prompt),
        ("completion", u.completion),
        ("reasoning", u.reasoning),
    ] {
        counter!("switchyard_tokens_total", "model" => r.model.to_string(), "provider" => r.provider.to_string(), "kind" => kind)
            .increment(n);
    }
    let cost = r.price.cost_usd(u.prompt, u.cached_prompt, u.completion);
    gauge!("switchyard_cost_usd_total", &labels).increment(cost);
    counter!("switchyard_usage_records_total", "model" => r.model.to_string(), "provider" => r.provider.to_string(),
        "outcome" => r.outcome.as_str(), "estimated" => if r.estimated { "true" } else { "false" })
    .increment(1);
    histogram!("switchyard_request_duration_seconds", &labels).record(r.latency.as_secs_f64());
    tracing::debug!(
        target: "switchyard::usage",
        request_id = r.request_id,
        model = r.model,
        provider = r.provider,
        region = r.region,
        prompt = u.prompt,
        cached_prompt = u.cached_prompt,
        completion = u.completion,
        reasoning = u.reasoning,
        estimated = r.estimated,
        outcome = r.outcome.as_str(),
        cost_usd = cost,
        latency_ms = r.latency.as_millis() as u64,
    );
}
