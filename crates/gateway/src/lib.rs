//! The Switchyard gateway: one OpenAI-compatible endpoint in front of many providers.
//!
//! It owns the request path — config ([`config`]), start-up and provider runtimes
//! ([`state`]), the HTTP surface ([`routes`]), the chat pipeline ([`chat`]) with its
//! request checks ([`intake`]), deployments and balancing ([`deploy`]), attempts, retries
//! and hedges ([`dispatch`]), vendor calls ([`upstream`]), streaming relay ([`relay`]),
//! health ([`health`]), usage recording ([`usage`]) and metrics ([`telemetry`]). Wire formats live in
//! `switchyard-wire`, the model catalog in `switchyard-catalog`, and the simulated
//! providers of the embedded default in `switchyard-sim`.

pub mod admin;
pub mod bucket;
pub mod budget;
pub mod chat;
pub mod config;
pub mod conn;
pub mod deploy;
pub mod dispatch;
pub mod error;
pub mod guard;
pub mod health;
pub mod intake;
pub mod keys;
pub mod reasoning;
pub mod relay;
pub mod routes;
pub mod shared;
pub mod state;
pub mod telemetry;
pub mod upstream;
pub mod usage;
pub mod virtual_models;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

pub use config::Config;
pub use error::{ConfigError, GatewayError};
pub use state::{AppState, Live, StartError};
use tokio::net::TcpListener;

/// Bind the listen address.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

/// Serve the gateway on `listener` until `shutdown` resolves, then stop accepting and let
/// in-flight requests finish.
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
    let server = &live.get().config.server;
    let limits = conn::ClientTimeouts {
        header: server.header_timeout,
        grace: server.shutdown_grace,
    };
    let app = routes::router(live);
    conn::serve(listener, app, limits, shutdown).await
}
