//! Simulated LLM providers: a real HTTP server that speaks each vendor's dialect of
//! "OpenAI-compatible" — DeepSeek, Qwen/DashScope, Kimi/Moonshot, GLM/Zhipu and plain
//! OpenAI — with their URL layouts, stream shapes, usage placement, request rejections,
//! error bodies and latency.
//!
//! URL layout: `/{provider}/{region}{prefix}/chat/completions` (POST) and
//! `/{provider}/{region}{prefix}/models` (GET), where `prefix` is [`path_prefix`] of the
//! provider's dialect; the region is any label. Admin API, for tests and chaos:
//! - `PUT /_sim/faults/{provider}/{region}` with a [`FaultSpec`] JSON body (region `*`
//!   covers every region), `DELETE` the same path to clear it, `DELETE /_sim/faults` to
//!   clear all, `GET /_sim/faults` to list;
//! - `GET /_sim/stats`: requests per provider/region/model, errors, faults, prompt and
//!   completion tokens served, responses still open (`in_flight`, queued ones included),
//!   and over all regions the requests waiting for capacity now (`queued`), the most
//!   that ever waited at once (`max_queued`) and those refused because a queue was full
//!   (`rejected`).
//!
//! Everything random (latency, lengths, words, ids) comes from `seed` and a request
//! counter, so a sequential run is reproducible. `time_scale` multiplies every delay; at 0
//! responses are written at once (benchmark mode).
//!
//! # Latency
//!
//! A response of a model with typical time to first token `ttft_ms` and decode rate
//! `tokens_per_sec` waits `ttft` before its first token, then one `1 / rate` per token;
//! a request with `max_tokens: M` (and no tools) produces exactly `M` completion tokens
//! per choice, so it is generated in `S = time_scale × (ttft_ms / 1000 + M / rate)`
//! seconds, the last event (finish and usage) being due at `S`. With
//! [`SimConfig::jitter`] (the default) `ttft` is drawn log-normal around `ttft_ms`
//! (sigma 0.3) and the rate uniformly within ±15% of `tokens_per_sec`; without it every
//! request gets exactly the typical values, so `S` is the same for every request.
//!
//! # Capacity
//!
//! With [`SimConfig::capacity`] `Some(C)`, each provider *region* (each
//! `/{provider}/{region}` pair; region `a` and `b` of one provider are independent)
//! generates at most `C` responses at once. A request arriving when all `C` slots are
//! busy waits in a first-in-first-out queue; its generation (time to first token, then
//! decoding) starts only when a slot frees, so the wait adds to its time to first token.
//! Streams and DeepSeek's non-streamed answers get their headers at once and wait inside
//! the body (DeepSeek sending its keep-alives throughout); other non-streamed answers
//! simply come later. A slot is held from admission until the body is fully handed to
//! the connection, or until the client goes away (a queued client that goes away leaves
//! the queue). With [`SimConfig::max_queue`] `Some(Q)`, a request that would be the
//! `Q + 1`-th waiting in its region is refused at once with the vendor's overload error —
//! the same status and body as the `overloaded` fault: DeepSeek 503 "Server overloaded",
//! DashScope 503 `ServiceUnavailable`, Moonshot 429 `engine_overloaded_error`, Zhipu 429
//! code `1305`, generic 503. Requests refused for other reasons (authentication,
//! validation, injected faults) never take a slot.
//!
//! Without jitter and with `time_scale > 0`, a region therefore has a known capacity of
//! `C / S` requests per second: offered load below it is served in `S` per request;
//! above it the queue (and with it the time to first token) grows without bound, or up
//! to `Q` waiting requests, the rest being refused. At time scale 0 nothing takes time,
//! so capacity has no visible effect.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use switchyard_catalog::Catalog;
//! use switchyard_wire::Dialect;
//!
//! let catalog = Arc::new(Catalog::builtin()?);
//! let config = switchyard_sim::SimConfig::for_catalog(&catalog, 42, 0.0);
//! let sim = switchyard_sim::spawn(config, catalog, ([127, 0, 0, 1], 0).into()).await?;
//! let url = format!("{}/chat/completions", sim.base_url("zhipu", "cn", Dialect::Zhipu));
//! // … POST to `url` with `Authorization: Bearer anything` …
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Modules (private): `server` routes and the request pipeline; `generate` text, plans
//! and tool arguments; `latency` delays; `vendor` one file per vendor (shapes, ids,
//! usage, errors, rejections), kept independent of the gateway's `switchyard_wire::dialect`
//! on purpose; `validate` the checks every vendor shares; `failure` why a request failed;
//! `render` bytes on the wire; `stream` pacing and stream faults;
//! `faults` the fault table; `stats` counters; `cache` prompt caching; `capacity` slots
//! and queues per provider region.

mod answer;
mod anthropic;
mod cache;
mod capacity;
mod embed;
mod failure;
mod faults;
mod generate;
mod hostile;
mod latency;
mod render;
mod server;
mod stats;
mod stream;
mod validate;
mod vendor;

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use switchyard_catalog::Catalog;
use switchyard_wire::Dialect;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use faults::{ANY_REGION, FaultKind, FaultSpec};
pub use vendor::path_prefix;

/// Id of the generic provider added by [`SimConfig::for_catalog`]: speaks
/// [`Dialect::OpenAi`] and accepts any model name.
pub const GENERIC_PROVIDER: &str = "openai";

/// How long [`serve`] lets open connections finish after shutdown is signalled.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Simulator configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Seed of every random draw.
    pub seed: u64,
    /// Multiplies every delay: 1.0 realistic, 0.01 a hundred times faster, 0.0 none.
    pub time_scale: f64,
    /// The one accepted key; `None` accepts any non-empty Bearer token.
    pub api_key: Option<String>,
    /// The providers served.
    pub providers: Vec<SimProvider>,
    /// Requests each provider region generates at once; more wait in a FIFO queue.
    /// `None` (the default) = unlimited. Must be at least 1. See the crate docs.
    pub capacity: Option<u32>,
    /// Requests that may wait per provider region when `capacity` is set; beyond that a
    /// request is refused at once with the vendor's overload error. `None` (the default)
    /// = unbounded; `Some(0)` = refuse whenever every slot is busy.
    pub max_queue: Option<u32>,
    /// Random latency: time to first token drawn log-normal around the model's typical
    /// value, decode rate within ±15% of it (`true`, the default). `false` gives every
    /// request exactly the model's typical values (scaled), for a known service time.
    pub jitter: bool,
    /// Faults in place from the start, as if set through `PUT /_sim/faults/…`.
    pub faults: Vec<FaultRule>,
}

/// A fault for one provider region (`*` = every region of the provider).
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    /// Provider id.
    pub provider: String,
    /// Region label, or [`ANY_REGION`].
    pub region: String,
    /// What happens.
    pub spec: FaultSpec,
}

impl std::str::FromStr for FaultRule {
    type Err = String;

    /// `PROVIDER/REGION=JSON`, e.g. `deepseek/global={"kind":"server_error"}`.
    fn from_str(s: &str) -> Result<Self, String> {
        let usage = "write PROVIDER/REGION=JSON, e.g. deepseek/global={\"kind\":\"server_error\"}";
        let (scope, json) = s
            .split_once('=')
            .ok_or_else(|| format!("no '=' in '{s}': {usage}"))?;
        let (provider, region) = scope
            .split_once('/')
            .filter(|(p, r)| !p.is_empty() && !r.is_empty())
            .ok_or_else(|| format!("'{scope}' is not PROVIDER/REGION: {usage}"))?;
        let spec: FaultSpec =
            serde_json::from_str(json).map_err(|e| format!("invalid fault '{json}': {e}"))?;
        spec.validate()
            .map_err(|e| format!("invalid fault '{json}': {e}"))?;
        Ok(FaultRule {
            provider: provider.to_string(),
            region: region.to_string(),
            spec,
        })
    }
}

/// One simulated provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimProvider {
    /// Provider id: the first path segment, and the `provider` of its catalog models.
    pub id: String,
    /// Dialect spoken.
    pub dialect: Dialect,
}

impl SimConfig {
    /// One provider per catalog provider (dialect parsed from its `dialect`; providers
    /// with an unknown dialect are skipped with a warning), plus the generic
    /// [`GENERIC_PROVIDER`] unless the catalog already has a provider of that id.
    /// Unlimited capacity, no queue bound, jitter on.
    pub fn for_catalog(catalog: &Catalog, seed: u64, time_scale: f64) -> SimConfig {
        let mut providers: Vec<SimProvider> = catalog
            .providers()
            .iter()
            .filter_map(|p| match p.dialect.parse::<Dialect>() {
                Ok(dialect) => Some(SimProvider {
                    id: p.id.clone(),
                    dialect,
                }),
                Err(e) => {
                    tracing::warn!(provider = %p.id, "not simulated: {e}");
                    None
                }
            })
            .collect();
        if !providers.iter().any(|p| p.id == GENERIC_PROVIDER) {
            providers.push(SimProvider {
                id: GENERIC_PROVIDER.to_string(),
                dialect: Dialect::OpenAi,
            });
        }
        SimConfig {
            seed,
            time_scale,
            api_key: None,
            providers,
            faults: Vec::new(),
            capacity: None,
            max_queue: None,
            jitter: true,
        }
    }

    /// Why this configuration cannot be served, if it cannot.
    fn check(&self) -> Result<(), SimError> {
        if !(self.time_scale.is_finite() && self.time_scale >= 0.0) {
            return Err(SimError::TimeScale(self.time_scale));
        }
        if self.capacity == Some(0) {
            return Err(SimError::Capacity);
        }
        let mut seen = std::collections::HashSet::new();
        for p in &self.providers {
            if p.id.is_empty() || p.id.contains('/') || p.id.starts_with('_') {
                return Err(SimError::ProviderId(p.id.clone()));
            }
            if !seen.insert(p.id.as_str()) {
                return Err(SimError::DuplicateProvider(p.id.clone()));
            }
        }
        Ok(())
    }
}

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Requested address.
        addr: SocketAddr,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The bound socket's address could not be read.
    #[error("cannot read the simulator's listening address: {0}")]
    LocalAddr(#[source] std::io::Error),
    /// `time_scale` is negative or not a number.
    #[error("invalid simulator time scale {0}: it must be a finite number >= 0")]
    TimeScale(f64),
    /// `capacity` is `Some(0)`.
    #[error("invalid simulator capacity 0: it must be at least 1 (or unlimited)")]
    Capacity,
    /// Two providers share an id.
    #[error("simulated provider '{0}' is listed twice")]
    DuplicateProvider(String),
    /// A provider id that cannot be a path segment.
    #[error(
        "invalid simulated provider id '{0}': it must be non-empty, without '/', and not start with '_'"
    )]
    ProviderId(String),
}

/// The router serving `config`'s providers (no listener; see [`serve`]).
///
/// An invalid `time_scale` is treated as 0, a `capacity` of 0 as 1, and a repeated
/// provider id keeps its first entry; [`spawn`] rejects all three instead.
pub fn router(config: SimConfig, catalog: Arc<Catalog>) -> axum::Router {
    server::build(config, catalog).0
}

/// Serve `router` on `listener` (with `TCP_NODELAY`) until `shutdown` resolves; then stop
/// accepting, let open connections finish for up to [`SHUTDOWN_GRACE`], and return.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (fired_tx, fired_rx) = oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        let _ = fired_tx.send(());
    };
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::trace!("cannot set TCP_NODELAY: {e}");
        }
    });
    let server = axum::serve(listener, router)
        .with_graceful_shutdown(signal)
        .into_future();
    let grace = async move {
        match fired_rx.await {
            Ok(()) => tokio::time::sleep(SHUTDOWN_GRACE).await,
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        result = server => result,
        () = grace => {
            tracing::debug!("simulator connections still open after the grace period; leaving them");
            Ok(())
        }
    }
}

/// Bind `addr` and serve `config` on a background task.
pub async fn spawn(
    config: SimConfig,
    catalog: Arc<Catalog>,
    addr: SocketAddr,
) -> Result<SimHandle, SimError> {
    config.check()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| SimError::Bind { addr, source })?;
    let local = listener.local_addr().map_err(SimError::LocalAddr)?;
    let (router, shared) = server::build(config, catalog);
    let (tx, rx) = oneshot::channel::<()>();
    // Dropping the handle drops `tx`, which also shuts the server down.
    let task = tokio::spawn(serve(listener, router, async move {
        let _ = rx.await;
    }));
    Ok(SimHandle {
        addr: local,
        shutdown: Some(tx),
        task: Some(task),
        shared,
    })
}

/// A running simulator; dropping it shuts the server down in the background.
pub struct SimHandle {
    /// The address it listens on.
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    shared: Arc<server::Shared>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl SimHandle {
    /// Base URL of a provider region: `http://{addr}/{provider}/{region}{prefix}`; append
    /// `/chat/completions` or `/models`.
    pub fn base_url(&self, provider: &str, region: &str, dialect: Dialect) -> String {
        format!(
            "http://{}/{provider}/{region}{}",
            self.addr,
            path_prefix(dialect)
        )
    }

    /// Base URL of a provider region's Anthropic-compatible API (append `/v1/messages`),
    /// for vendors that have one.
    pub fn messages_base_url(
        &self,
        provider: &str,
        region: &str,
        dialect: Dialect,
    ) -> Option<String> {
        anthropic::prefix(dialect).map(|p| format!("http://{}/{provider}/{region}{p}", self.addr))
    }

    /// Stop: end every stream in flight, stop accepting, and wait for the server task.
    pub async fn shutdown(mut self) {
        self.shared.stop();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!("simulator server ended with an error: {e}"),
                Err(e) => tracing::warn!("simulator server task failed: {e}"),
            }
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.shared.stop();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
