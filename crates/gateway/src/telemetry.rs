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

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5,
    10.0, 15.0, 30.0, 60.0, 120.0, 300.0,
];

/// Install the recorder (once per process) and return its handle; `None` if another
/// recorder was installed first (metrics then go there and `/metrics` is empty).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .ok()?
                .install_recorder()
                .ok()
        })
        .as_ref()
}

/// Prometheus text exposition of every series.
pub fn render() -> String {
    handle().map(PrometheusHandle::render).unwrap_or_default()
}
