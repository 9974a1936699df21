//! OpenTelemetry trace export over OTLP/HTTP (`[telemetry] otlp_endpoint`).
//!
//! Spans are made from each finished request's trail, off the request path: the request
//! hands its kept trail (an `Arc`, nothing copied) to a bounded queue with `try_send`
//! and never waits; a full queue drops the trail's spans and counts them in
//! `switchyard_otlp_spans_dropped_total{reason="queue_full"}`. One tokio task per
//! config takes trails off the queue, builds their spans ([`spans`]) with the ids and
//! times the trail recorded, and sends them in batches (at most [`MAX_BATCH`] spans,
//! at most [`BATCH_DELAY`] after the first) through `opentelemetry-otlp`'s HTTP/protobuf
//! exporter on a reqwest client; a failed export is counted
//! (`reason="export_failed"`) and logged. The SDK's own batch processor is not used: it
//! exports from a thread of its own without a tokio runtime (which the async reqwest
//! client needs), and keeps its dropped-span count to itself.
//!
//! When the config's state is dropped (a reload replaced it and its last request ended)
//! the queue closes and the task sends what is left; at exit, [`Otel::flush`] waits
//! for everything queued before it to be sent.

mod spans;

use std::sync::Arc;
use std::time::Duration;

use metrics::counter;
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SpanData, SpanExporter as _};
use tokio::sync::{mpsc, oneshot};

use crate::config::TelemetryConfig;
use crate::trail::Trail;

/// Most spans in one export.
const MAX_BATCH: usize = 512;
/// Longest a finished request's spans wait for others to share their export.
const BATCH_DELAY: Duration = Duration::from_secs(1);

/// Why trace export could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OtelError {
    /// The HTTP client or the OTLP exporter could not be built.
    #[error("cannot build the OTLP exporter for {endpoint}: {why}")]
    Build {
        /// Where spans were to go.
        endpoint: String,
        /// Cause.
        why: String,
    },
    /// Not called inside a tokio runtime.
    #[error("OTLP export needs a tokio runtime")]
    NoRuntime,
}

/// What the export task is handed.
enum Msg {
    /// A finished request's trail.
    Trail(Arc<Trail>),
    /// Answer once everything queued before this is sent.
    Flush(oneshot::Sender<()>),
}

/// Trace export for one config: the queue into its task.
#[derive(Debug)]
pub(crate) struct Otel {
    tx: mpsc::Sender<Msg>,
    config: TelemetryConfig,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Trail(t) => write!(f, "Trail({})", t.request_id),
            Msg::Flush(_) => f.write_str("Flush"),
        }
    }
}

/// Spans a trail makes: the request, its route and each attempt kept.
fn span_count(trail: &Trail) -> u64 {
    2 + trail.attempts.len() as u64
}

impl Otel {
    /// Start exporting as `config` says; `None` when `otlp_endpoint` is not set.
    pub(crate) fn start(config: &TelemetryConfig) -> Result<Option<Otel>, OtelError> {
        let Some(url) = config.traces_url() else {
            return Ok(None);
        };
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| OtelError::NoRuntime)?;
        let build = |why: String| OtelError::Build {
            endpoint: url.clone(),
            why,
        };
        let client = reqwest::Client::builder()
            .timeout(config.otlp_timeout)
            .connect_timeout(config.otlp_timeout)
            .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| build(e.to_string()))?;
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(url.clone())
            .with_timeout(config.otlp_timeout)
            .with_headers(config.otlp_headers.clone().into_iter().collect())
            .build()
            .map_err(|e| build(e.to_string()))?;
        exporter.set_resource(
            &Resource::builder()
                .with_service_name(config.service_name.clone())
                .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
                .build(),
        );
        let scope = InstrumentationScope::builder("switchyard")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build();
        let (tx, rx) = mpsc::channel(config.max_queue);
        runtime.spawn(run(rx, exporter, scope, config.otlp_timeout));
        Ok(Some(Otel {
            tx,
            config: config.clone(),
        }))
    }

    /// The settings it runs with (a reload with the same ones keeps it).
    pub(crate) fn config(&self) -> &TelemetryConfig {
        &self.config
    }

    /// Queue the spans of a finished request's `trail`, if they are exported; never
    /// waits (a full queue drops them, counted).
    pub(crate) fn submit(&self, trail: Arc<Trail>) {
        if !trail.exported() {
            return;
        }
        if let Err(e) = self.tx.try_send(Msg::Trail(trail)) {
            let spans = match &e {
                mpsc::error::TrySendError::Full(Msg::Trail(t))
                | mpsc::error::TrySendError::Closed(Msg::Trail(t)) => span_count(t),
                _ => 0,
            };
            counter!("switchyard_otlp_spans_dropped_total", "reason" => "queue_full")
                .increment(spans);
        }
    }

    /// Wait, at most `timeout`, until everything queued so far has been sent (or failed
    /// to be); whether it was in time.
    pub(crate) async fn flush(&self, timeout: Duration) -> bool {
        let (done, wait) = oneshot::channel();
        let asked = async { self.tx.send(Msg::Flush(done)).await.is_ok() && wait.await.is_ok() };
        tokio::time::timeout(timeout, asked).await.unwrap_or(false)
    }
}

/// The export task: batches of spans from the queue, until it closes.
async fn run(
    mut rx: mpsc::Receiver<Msg>,
    exporter: opentelemetry_otlp::SpanExporter,
    scope: InstrumentationScope,
    timeout: Duration,
) {
    let mut open = true;
    while open {
        let Some(first) = rx.recv().await else {
            break;
        };
        let mut batch = Vec::new();
        let mut waiting = Vec::new();
        take(first, &mut batch, &mut waiting, &scope);
        let deadline = tokio::time::Instant::now() + BATCH_DELAY;
        while waiting.is_empty() && batch.len() < MAX_BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(msg)) => take(msg, &mut batch, &mut waiting, &scope),
                Ok(None) => {
                    open = false;
                    break;
                }
                Err(_) => break,
            }
        }
        export(&exporter, batch, timeout).await;
        for w in waiting {
            let _ = w.send(());
        }
    }
}

/// Add what `msg` brings to the batch (or to those waiting for it).
fn take(
    msg: Msg,
    batch: &mut Vec<SpanData>,
    waiting: &mut Vec<oneshot::Sender<()>>,
    scope: &InstrumentationScope,
) {
    match msg {
        Msg::Trail(trail) => batch.extend(spans::spans(&trail, scope)),
        Msg::Flush(done) => waiting.push(done),
    }
}

/// Send one batch, within `timeout` (retries included); failures are counted.
async fn export(
    exporter: &opentelemetry_otlp::SpanExporter,
    batch: Vec<SpanData>,
    timeout: Duration,
) {
    if batch.is_empty() {
        return;
    }
    let n = batch.len() as u64;
    // The exporter bounds each call by the same time; this is the backstop.
    let sent = tokio::time::timeout(timeout + Duration::from_secs(1), exporter.export(batch)).await;
    match sent {
        Ok(Ok(())) => counter!("switchyard_otlp_spans_exported_total").increment(n),
        Ok(Err(e)) => failed(n, &e.to_string()),
        Err(_) => failed(n, "timed out"),
    }
}

fn failed(spans: u64, why: &str) {
    counter!("switchyard_otlp_spans_dropped_total", "reason" => "export_failed").increment(spans);
    tracing::warn!(spans, error = %why, "OTLP trace export failed; these spans are lost");
}
