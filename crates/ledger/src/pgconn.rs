//! One PostgreSQL connection that survives the server: every operation is bounded by a
//! time limit, a broken connection is replaced (with back-off between failed attempts),
//! and connecting is bounded too — also against a server that accepts the TCP connection
//! and then never answers, which `connect_timeout` alone does not cover.
//!
//! The client is `tokio-postgres`, driven by a private single-thread runtime: callers are
//! synchronous (the usage writer's thread, the key store called through
//! `spawn_blocking`), never a request task.

use std::time::{Duration, Instant};

use rand::Rng;
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use crate::error::LedgerError;

/// How a PostgreSQL connection is bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// Longest wait for a connection (TCP, TLS and start-up) to be ready.
    pub connect_timeout: Duration,
    /// Longest wait for one operation (a query, or one batch's transaction).
    pub query_timeout: Duration,
    /// PEM file of the certificate authorities trusted for `sslmode=require`, on top of
    /// the system's; `None` = the system's only.
    pub ca_file: Option<std::path::PathBuf>,
}

/// [`PgOptions::default`]'s connect time limit.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// [`PgOptions::default`]'s operation time limit.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(10);
/// First wait after a failed connection attempt; it doubles (with jitter) per failure.
pub const BACKOFF_MIN: Duration = Duration::from_millis(250);
/// Longest wait between connection attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            connect_timeout: CONNECT_TIMEOUT,
            query_timeout: QUERY_TIMEOUT,
            ca_file: None,
        }
    }
}

/// Why one operation failed, and whether it may have taken effect anyway (the connection
/// broke after a commit was sent).
#[derive(Debug)]
pub(crate) struct OpError {
    error: tokio_postgres::Error,
    maybe_applied: bool,
}

impl From<tokio_postgres::Error> for OpError {
    fn from(error: tokio_postgres::Error) -> Self {
        OpError {
            error,
            maybe_applied: false,
        }
    }
}

impl OpError {
    /// The error of a commit: its outcome is unknown if the connection broke.
    pub(crate) fn at_commit(error: tokio_postgres::Error) -> Self {
        OpError {
            error,
            maybe_applied: true,
        }
    }
}

/// Failed connection attempts, and when the next may be made.
#[derive(Debug)]
struct Backoff {
    delay: Duration,
    not_before: Option<Instant>,
    last_error: Option<String>,
}

impl Backoff {
    fn new() -> Self {
        Backoff {
            delay: BACKOFF_MIN,
            not_before: None,
            last_error: None,
        }
    }

    fn failed(&mut self, error: String) {
        // Full jitter over the upper half, so replicas do not reconnect in step.
        let half = self.delay / 2;
        let jitter = rand::rng().random_range(0..=half.as_millis().min(u128::from(u32::MAX)));
        let wait = half.saturating_add(Duration::from_millis(
            u64::try_from(jitter).unwrap_or(u64::MAX),
        ));
        self.not_before = Instant::now().checked_add(wait);
        self.delay = self.delay.saturating_mul(2).min(BACKOFF_MAX);
        self.last_error = Some(error);
    }

    fn succeeded(&mut self) {
        *self = Backoff::new();
    }

    /// `Some(wait)` while attempts are held back.
    fn wait(&self) -> Option<Duration> {
        self.not_before
            .map(|t| t.saturating_duration_since(Instant::now()))
            .filter(|d| !d.is_zero())
    }
}

/// A live connection: the client and the task that drives its socket.
struct Live {
    client: Client,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for Live {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// How connections are made: in plain text, or TLS (`sslmode=require`).
#[derive(Clone)]
enum Tls {
    Plain,
    Rustls(crate::pgtls::RustlsConnector),
}

/// A PostgreSQL connection, (re)made on demand.
pub(crate) struct PgConn {
    rt: Option<tokio::runtime::Runtime>,
    config: tokio_postgres::Config,
    tls: Tls,
    options: PgOptions,
    /// Where, with any password hidden, for messages.
    label: String,
    /// Statements run after each new connection (creating tables if missing).
    setup: String,
    live: Option<Live>,
    backoff: Backoff,
}

impl std::fmt::Debug for PgConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConn")
            .field("at", &self.label)
            .field("connected", &self.live.is_some())
            .finish_non_exhaustive()
    }
}

impl Drop for PgConn {
    fn drop(&mut self) {
        self.live = None;
        // Never blocks, so a state dropped on an async worker cannot stall it.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl PgConn {
    /// Parse `url` (a `postgres://` URL or a `key=value` DSN) and connect, running
    /// `setup` on the new connection. Fails if the server cannot be reached in time.
    pub(crate) fn connect(
        url: &str,
        options: &PgOptions,
        setup: String,
    ) -> Result<Self, LedgerError> {
        let label = crate::redact::redact(url);
        // libpq's verifying modes: `require` here verifies the certificate and the host
        // name already, so they mean the same.
        let url = url
            .replace("sslmode=verify-full", "sslmode=require")
            .replace("sslmode=verify-ca", "sslmode=require");
        let config: tokio_postgres::Config = url.parse().map_err(|e| {
            LedgerError::Postgres(format!("cannot read the connection string {label}: {e}"))
        })?;
        // TLS when asked for (`sslmode=require`); `prefer` (the default) and `disable`
        // connect in plain text, as before.
        let tls = match config.get_ssl_mode() {
            tokio_postgres::config::SslMode::Require => Tls::Rustls(
                crate::pgtls::RustlsConnector::new(options.ca_file.as_deref())
                    .map_err(|e| LedgerError::Postgres(format!("TLS for {label}: {e}")))?,
            ),
            _ => Tls::Plain,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| LedgerError::Postgres(format!("cannot start its runtime: {e}")))?;
        let mut conn = PgConn {
            rt: Some(rt),
            config,
            tls,
            options: options.clone(),
            label,
            setup,
            live: None,
            backoff: Backoff::new(),
        };
        conn.ensure_connected()?;
        Ok(conn)
    }

    /// Where, with any password hidden.
    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    fn err(&self, what: &str, detail: impl std::fmt::Display) -> LedgerError {
        LedgerError::Postgres(format!("{what} ({}): {detail}", self.label))
    }

    /// Connect now if not connected (unless a recent failure holds attempts back).
    /// `true` if a new connection was made.
    fn ensure_connected(&mut self) -> Result<bool, LedgerError> {
        if self.live.as_ref().is_some_and(|l| !l.client.is_closed()) {
            return Ok(false);
        }
        self.live = None;
        if let Some(wait) = self.backoff.wait() {
            let last = self.backoff.last_error.clone().unwrap_or_default();
            return Err(self.err(
                "not connected",
                format_args!(
                    "next attempt in {:.1}s; last error: {last}",
                    wait.as_secs_f64()
                ),
            ));
        }
        match self.open() {
            Ok(live) => {
                self.live = Some(live);
                self.backoff.succeeded();
                Ok(true)
            }
            Err(e) => {
                self.backoff.failed(e.clone());
                Err(self.err("cannot connect", e))
            }
        }
    }

    fn open(&self) -> Result<Live, String> {
        let rt = self.rt.as_ref().ok_or("the runtime has stopped")?;
        let limit = self.options.connect_timeout;
        let mut config = self.config.clone();
        config.connect_timeout(limit);
        let setup = self.setup.clone();
        let query_timeout = self.options.query_timeout;
        let tls = self.tls.clone();
        rt.block_on(async move {
            let live = match tls {
                Tls::Plain => open_with(&config, tokio_postgres::NoTls, limit).await?,
                Tls::Rustls(connector) => open_with(&config, connector, limit).await?,
            };
            if !setup.is_empty() {
                tokio::time::timeout(query_timeout, live.client.batch_execute(&setup))
                    .await
                    .map_err(|_| {
                        format!("setup: no answer within {}s", query_timeout.as_secs_f64())
                    })?
                    .map_err(|e| format!("setup: {e}"))?;
            }
            Ok(live)
        })
    }

    /// Run `op` on the connection, within the operation time limit. A connection found
    /// broken is replaced and `op` tried once more, unless it may have taken effect.
    pub(crate) fn run<T>(
        &mut self,
        what: &str,
        op: impl AsyncFn(&mut Client) -> Result<T, OpError>,
    ) -> Result<T, LedgerError> {
        let fresh = self.ensure_connected()?;
        match self.once(&op) {
            Ok(v) => Ok(v),
            Err(Failure::Lost {
                error,
                maybe_applied,
            }) if !fresh && !maybe_applied => {
                tracing::warn!(store = %self.label, error = %error, "postgres connection lost; reconnecting");
                self.ensure_connected()?;
                self.once(&op).map_err(|f| self.failed(what, f))
            }
            Err(f) => Err(self.failed(what, f)),
        }
    }

    fn failed(&mut self, what: &str, f: Failure) -> LedgerError {
        match f {
            Failure::Lost { error, .. } | Failure::Query(error) => self.err(what, error),
            Failure::TimedOut(limit) => {
                // The server may be stalled: drop the connection, and hold the next
                // attempt back a little.
                self.live = None;
                let msg = format!("no answer within {}s", limit.as_secs_f64());
                self.backoff.failed(msg.clone());
                self.err(what, msg)
            }
            Failure::Stopped => self.err(what, "the runtime has stopped"),
        }
    }

    fn once<T>(
        &mut self,
        op: &impl AsyncFn(&mut Client) -> Result<T, OpError>,
    ) -> Result<T, Failure> {
        let limit = self.options.query_timeout;
        let (Some(rt), Some(live)) = (self.rt.as_ref(), self.live.as_mut()) else {
            return Err(Failure::Stopped);
        };
        let client = &mut live.client;
        let result = rt.block_on(async { tokio::time::timeout(limit, op(client)).await });
        match result {
            Ok(Ok(v)) => Ok(v),
            Err(_) => Err(Failure::TimedOut(limit)),
            Ok(Err(e)) => {
                let lost = live.client.is_closed()
                    || e.error.is_closed()
                    || e.error.code() == Some(&SqlState::ADMIN_SHUTDOWN);
                if lost {
                    self.live = None;
                    Err(Failure::Lost {
                        error: e.error.to_string(),
                        maybe_applied: e.maybe_applied,
                    })
                } else {
                    Err(Failure::Query(e.error.to_string()))
                }
            }
        }
    }
}

/// Connect with `tls` within `limit` (TCP, TLS and start-up), and drive the connection
/// on the current runtime.
async fn open_with<T>(
    config: &tokio_postgres::Config,
    tls: T,
    limit: Duration,
) -> Result<Live, String>
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>,
    T::Stream: Send + 'static,
{
    let (client, connection) = tokio::time::timeout(limit, config.connect(tls))
        .await
        .map_err(|_| format!("no answer within {}s", limit.as_secs_f64()))?
        .map_err(|e| match std::error::Error::source(&e) {
            // "error performing TLS handshake" alone does not say why.
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        })?;
    let driver = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "postgres connection ended");
        }
    });
    Ok(Live { client, driver })
}

enum Failure {
    Lost { error: String, maybe_applied: bool },
    Query(String),
    TimedOut(Duration),
    Stopped,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_resets() {
        let mut b = Backoff::new();
        assert!(b.wait().is_none());
        for _ in 0..20 {
            b.failed("x".into());
        }
        assert_eq!(b.delay, BACKOFF_MAX);
        let w = b.wait().unwrap();
        assert!(w <= BACKOFF_MAX, "{w:?}");
        b.succeeded();
        assert!(b.wait().is_none());
        assert_eq!(b.delay, BACKOFF_MIN);
    }
}
