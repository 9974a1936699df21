//! Prometheus metrics: one process-wide recorder, rendered at `GET /metrics`.
//!
//! Series (labels in braces):
//! - `switchyard_requests_total{model,provider,status}`
//! - `switchyard_request_duration_seconds{model,provider}` (histogram)
//! - `switchyard_ttft_seconds{model,provider}` (histogram; streams only)
//! - `switchyard_tokens_total{model,provider,kind}` with kind = prompt, cached_prompt,
//!   completion, reasoning
//! - `switchyard_errors_total{code}`
//! - `switchyard_client_disconnects_total{model,provider}`
//! - `switchyard_inflight_requests` (gauge)
//! - `switchyard_region_healthy{provider,region}` (gauge: 1 closed, 0 open breaker)
//! - `switchyard_key_budget_usd{key,team}` and `switchyard_key_spend_usd{key,team}`
//!   (gauges, with keys on, for keys with a budget; set at each key refresh, spend as
//!   this process knows it)
//!
//! And the same under the OpenTelemetry GenAI semantic conventions' names, with their
//! attributes as labels (`gen_ai_operation_name="chat"`, `gen_ai_system` = the provider,
//! `gen_ai_request_model`, and for tokens `gen_ai_token_type` = input or output):
//! - `gen_ai_client_token_usage` (histogram of tokens per request)
//! - `gen_ai_client_operation_duration_seconds` (histogram)
//! - `gen_ai_server_time_to_first_token_seconds` (histogram; streams only)

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5,
    10.0, 15.0, 30.0, 60.0, 120.0, 300.0,
];

/// Buckets of `gen_ai_client_token_usage`: powers of 4, as the conventions advise.
const TOKEN_BUCKETS: &[f64] = &[
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];

/// `gen_ai_client_token_usage`.
pub(crate) const GENAI_TOKENS: &str = "gen_ai_client_token_usage";
/// `gen_ai_client_operation_duration_seconds`.
pub(crate) const GENAI_DURATION: &str = "gen_ai_client_operation_duration_seconds";
/// `gen_ai_server_time_to_first_token_seconds`.
pub(crate) const GENAI_TTFT: &str = "gen_ai_server_time_to_first_token_seconds";

/// Install the recorder (once per process) and return its handle; `None` if another
/// recorder was installed first (metrics then go there and `/metrics` is empty).
pub(crate) fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .ok()?
                .set_buckets_for_metric(Matcher::Full(GENAI_TOKENS.into()), TOKEN_BUCKETS)
                .ok()?
                .install_recorder()
                .ok()
                .inspect(|h| start_upkeep(h.clone(), UPKEEP_EVERY))
        })
        .as_ref()
}

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Upkeep rounds run so far (for tests).
static UPKEEP_ROUNDS: AtomicU64 = AtomicU64::new(0);

/// Fold `handle`'s buffered histogram samples into their buckets every `every`, on a
/// thread of its own for the life of the process. The recorder keeps each sample until
/// upkeep or a scrape of `/metrics`: without this, a gateway nobody scrapes grew by
/// ~110 bytes per request (`bench/soak.py`, docs/BENCHMARKS.md).
fn start_upkeep(handle: PrometheusHandle, every: Duration) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(every);
                handle.run_upkeep();
                UPKEEP_ROUNDS.fetch_add(1, Ordering::Relaxed);
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the metrics upkeep thread; samples are folded only when /metrics is scraped");
    }
}

/// Prometheus text exposition of every series.
pub fn render() -> String {
    handle().map(PrometheusHandle::render).unwrap_or_default()
}

/// Pre-registered handles for one model's hot-path series, so a request updates atomics
/// instead of hashing label sets in the registry.
#[derive(Clone)]
pub(crate) struct ModelMetrics {
    /// The provider its series are labelled with: the model's maker. A request another
    /// vendor served goes to series labelled with that vendor instead (see
    /// `AppState::model_metrics`).
    pub provider: String,
    /// `switchyard_requests_total{status="200"}`.
    pub requests_ok: Counter,
    /// `switchyard_tokens_total` by kind: prompt, cached_prompt, completion, reasoning.
    pub tokens: [Counter; 4],
    /// `switchyard_cost_usd_total`.
    pub cost: Gauge,
    /// `switchyard_usage_records_total{outcome="completed",estimated="false"}`.
    pub completed_exact: Counter,
    /// `switchyard_request_duration_seconds`.
    pub duration: Histogram,
    /// `switchyard_ttft_seconds`.
    pub ttft: Histogram,
    /// `gen_ai_client_token_usage` for input, then output, tokens.
    pub genai_tokens: [Histogram; 2],
    /// `gen_ai_client_operation_duration_seconds`.
    pub genai_duration: Histogram,
    /// `gen_ai_server_time_to_first_token_seconds`.
    pub genai_ttft: Histogram,
}

impl std::fmt::Debug for ModelMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ModelMetrics")
    }
}

/// Kinds of `switchyard_tokens_total`, in the order of [`ModelMetrics::tokens`].
pub(crate) const TOKEN_KINDS: [&str; 4] = ["prompt", "cached_prompt", "completion", "reasoning"];

impl ModelMetrics {
    /// Register the series of `model` served by `provider`. Call after [`handle`].
    pub(crate) fn register(model: &str, provider: &str) -> Self {
        let (m, p) = (model.to_string(), provider.to_string());
        ModelMetrics {
            provider: p.clone(),
            requests_ok: counter!("switchyard_requests_total", "model" => m.clone(), "provider" => p.clone(), "status" => "200"),
            tokens: TOKEN_KINDS.map(|kind| {
                counter!("switchyard_tokens_total", "model" => m.clone(), "provider" => p.clone(), "kind" => kind)
            }),
            cost: gauge!("switchyard_cost_usd_total", "model" => m.clone(), "provider" => p.clone()),
            completed_exact: counter!("switchyard_usage_records_total", "model" => m.clone(), "provider" => p.clone(),
                "outcome" => "completed", "estimated" => "false"),
            duration: histogram!("switchyard_request_duration_seconds", "model" => m.clone(), "provider" => p.clone()),
            ttft: histogram!("switchyard_ttft_seconds", "model" => m.clone(), "provider" => p.clone()),
            genai_tokens: ["input", "output"].map(|kind| {
                histogram!(GENAI_TOKENS, "gen_ai_operation_name" => "chat", "gen_ai_system" => p.clone(),
                    "gen_ai_request_model" => m.clone(), "gen_ai_token_type" => kind)
            }),
            genai_duration: histogram!(GENAI_DURATION, "gen_ai_operation_name" => "chat",
                "gen_ai_system" => p.clone(), "gen_ai_request_model" => m.clone()),
            genai_ttft: histogram!(GENAI_TTFT, "gen_ai_operation_name" => "chat",
                "gen_ai_system" => p, "gen_ai_request_model" => m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upkeep_runs_on_its_own_without_a_scrape() {
        let handle = PrometheusBuilder::new().build_recorder().handle();
        let before = UPKEEP_ROUNDS.load(Ordering::Relaxed);
        start_upkeep(handle, Duration::from_millis(5));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while UPKEEP_ROUNDS.load(Ordering::Relaxed) < before + 2 {
            assert!(std::time::Instant::now() < deadline, "upkeep never ran");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
