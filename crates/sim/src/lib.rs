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
//!   completion tokens served, responses still being generated (`in_flight`).
//!
//! Everything random (latency, lengths, words, ids) comes from `seed` and a request
//! counter, so a sequential run is reproducible. `time_scale` multiplies every delay; at 0
//! responses are written at once (benchmark mode).
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
//! and tool arguments; `latency` delays; `dialect` vendor shapes and errors; `validate`
//! vendor rejections; `render` bytes on the wire; `stream` pacing and stream faults;
//! `faults` the fault table; `stats` counters; `cache` prompt caching.

mod cache;
mod dialect;
mod faults;
mod generate;
mod latency;
mod render;
mod server;
mod stats;
mod stream;
mod validate;

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use switchyard_catalog::Catalog;
use switchyard_wire::Dialect;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use dialect::path_prefix;
pub use faults::{ANY_REGION, FaultKind, FaultSpec};

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
        }
    }

    /// Why this configuration cannot be served, if it cannot.
    fn check(&self) -> Result<(), SimError> {
        if !(self.time_scale.is_finite() && self.time_scale >= 0.0) {
            return Err(SimError::TimeScale(self.time_scale));
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
/// An invalid `time_scale` is treated as 0, and a repeated provider id keeps its first
/// entry; [`spawn`] rejects both instead.
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
