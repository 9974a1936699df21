//! The Switchyard gateway: one OpenAI-compatible endpoint in front of many providers.
//!
//! The modules follow a request down its path (see `docs/ARCHITECTURE.md`): the HTTP
//! shell (`http`), the APIs translated into the chat pipeline (`edge`: the Anthropic
//! Messages API, …), the chat pipeline's stages (`chat`), the streaming relay with
//! failover before the first token (`relay`), attempts, retries and hedges
//! (`dispatch`), the per-model plan (`plan`) and per-request context (`ctx`); then
//! the state they read (`state`, built by `runtime`) and the parts it holds: the
//! vendor client (`upstream`), gateway keys (`keys`), routing decisions (`routing`),
//! the reasoning cache (`reasoning`), usage records (`usage`) and metrics
//! (`telemetry`). Wire formats live in `switchyard-wire`, the model catalog in
//! `switchyard-catalog`, and the simulated providers of the embedded default in
//! `switchyard-sim`.

// The request path, top to bottom: http, edge, chat, relay, dispatch, plan, ctx; then what
// they read: runtime builds state, which holds upstream, keys, routing, reasoning,
// usage, telemetry; respond, config and error are at the bottom. No module imports one
// above it (scripts/check_cycles.py fails on any import cycle). Only `config` and the
// items re-exported below are the crate's API, for the binary and the tests.
mod chat;
pub mod config;
mod ctx;
mod dispatch;
mod drain;
mod edge;
mod error;
mod http;
mod keys;
mod listing;
mod otel;
mod plan;
mod reasoning;
mod relay;
mod respond;
mod routing;
mod runtime;
mod series;
mod spend;
mod state;
mod telemetry;
mod traceparent;
mod trail;
mod upstream;
mod usage;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

pub use config::Config;
pub use drain::Drain;
pub use error::{ConfigError, GatewayError};
pub use runtime::{Live, StartError, catalog};
pub use state::AppState;
pub use telemetry::render as render_metrics;
use tokio::net::TcpListener;

/// Bind the listen address.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

/// Serve the gateway on `listener` until `shutdown` resolves, then drain: `/readyz`
/// fails, new connections are taken for `[server] drain_accept_secs` more, requests in
/// flight get until `drain_timeout_secs` (see [`Drain`]).
pub async fn serve(
    state: Arc<AppState>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_live(Arc::new(Live::new(state)), listener, shutdown).await
}

/// [`serve`], with state that [`Live::swap`] may replace while it runs (config reload).
pub async fn serve_live(
    live: Arc<Live>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    telemetry::handle();
    // Read from the state in force now, which is not kept (a reload may retire it).
    let (limits, workers, accept, drain) = {
        let state = live.get();
        let server = &state.config.server;
        let limits = http::conn::ClientTimeouts {
            header: server.header_timeout,
            drain_timeout: server.drain_timeout,
        };
        (
            limits,
            server.workers,
            server.drain_accept,
            Arc::clone(&state.drain),
        )
    };
    // The drain starts with the signal (a caller may have started it already, with
    // another window: see `Drain::start`).
    let started = Arc::clone(&drain);
    tokio::spawn(async move {
        shutdown.await;
        started.start(accept);
    });
    let app = http::router(Arc::clone(&live));
    let served = http::conn::serve(listener, app, limits, workers, drain).await;
    // Every request has been recorded: the SLO window they counted in is written now.
    let saved = tokio::task::spawn_blocking(move || live.save_slo()).await;
    if let Ok(Err(e)) = saved {
        tracing::warn!(error = %e, "cannot write the SLO window at exit");
    }
    served
}
