//! The pooled HTTP client every vendor call goes through: hyper-util's client over rustls
//! with the system's root certificates, HTTP/2 where the vendor offers it (ALPN) and
//! HTTP/1.1 otherwise.
//!
//! Memory per call is bounded by construction: the HTTP/1 read buffer is at most
//! [`READ_BUFFER`], and an HTTP/2 stream's receive window is [`H2_STREAM_WINDOW`], so a
//! client that stops reading makes the vendor wait instead of the gateway's heap grow.
//! (reqwest, used before, cannot bound its read buffer: a lagging stream held up to
//! ~400 KB of the vendor's answer here.)

use std::cell::Cell;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::http::{HeaderValue, Request, Response};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// A request body sent upstream: always whole (a chat request is built before it is sent).
pub(crate) type UpstreamBody = Full<Bytes>;
/// A vendor's answer, its body still to be read.
pub(crate) type UpstreamResponse = Response<Incoming>;
/// What reading or sending can fail with.
pub(crate) type SendError = hyper_util::client::legacy::Error;

/// Largest HTTP/1 read buffer per upstream connection (hyper's floor). A vendor's
/// headers must fit in it, as in nginx's default `proxy_buffer_size`; a body is read
/// this much at a time.
pub(crate) const READ_BUFFER: usize = 8 * 1024;
/// Receive window of one HTTP/2 stream: what a vendor may send before the client reads.
pub(crate) const H2_STREAM_WINDOW: u32 = 64 * 1024;
/// Receive window of one HTTP/2 connection. Data the client has not read counts against
/// it, so it leaves room for a vendor's usual concurrent-stream limit (~256) of stalled
/// streams before the healthy ones on the same connection would have to wait.
pub(crate) const H2_CONNECTION_WINDOW: u32 = 256 * H2_STREAM_WINDOW;
// hyper panics on a read buffer under 8 KiB; the window must hold the stalled streams.
const _: () = assert!(READ_BUFFER >= 8192);
const _: () = assert!(H2_CONNECTION_WINDOW / H2_STREAM_WINDOW >= 256);

/// How long an idle pooled connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(90);
/// Idle connections kept per vendor host.
const POOL_MAX_IDLE_PER_HOST: usize = 1024;
/// TCP keep-alive on upstream sockets, so a dead pooled connection is found.
const TCP_KEEPALIVE: Duration = Duration::from_secs(30);

/// `User-Agent` on every upstream call.
pub(crate) const USER_AGENT: HeaderValue =
    HeaderValue::from_static(concat!("switchyard/", env!("CARGO_PKG_VERSION")));

thread_local! {
    /// Which of the client's pools this thread uses (see [`use_pool`]).
    static POOL: Cell<usize> = const { Cell::new(0) };
}

/// Make the calling thread use pool `index` (modulo the pools there are). Each serving
/// worker has a pool of its own, so a connection's task runs on the worker that sends
/// on it and a request never wakes another thread.
pub(crate) fn use_pool(index: usize) {
    POOL.set(index);
}

/// The shared upstream client: one pool per serving worker; cloning shares them.
#[derive(Clone, Debug)]
pub(crate) struct UpstreamClient {
    /// Pool 0.
    first: Pool,
    /// Pools 1, 2, …
    others: Arc<[Pool]>,
}

type Pool = Client<HttpsConnector<HttpConnector>, UpstreamBody>;

impl UpstreamClient {
    /// A client with `pools` pools (at least one) whose TCP connects give up after
    /// `connect_timeout`.
    pub(crate) fn new(connect_timeout: Duration, pools: usize) -> Self {
        UpstreamClient {
            first: pool(connect_timeout),
            others: (1..pools).map(|_| pool(connect_timeout)).collect(),
        }
    }

    /// Send `req` on this thread's pool, resolving once the vendor's status and headers
    /// have arrived.
    pub(crate) async fn send(
        &self,
        req: Request<UpstreamBody>,
    ) -> Result<UpstreamResponse, SendError> {
        let index = POOL.get() % (self.others.len() + 1);
        let pool = match index.checked_sub(1) {
            Some(i) => self.others.get(i).unwrap_or(&self.first),
            None => &self.first,
        };
        pool.request(req).await
    }
}

/// One pool: HTTP/1.1 and HTTP/2 over rustls, see the module doc.
fn pool(connect_timeout: Duration) -> Pool {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_keepalive(Some(TCP_KEEPALIVE));
    let https = HttpsConnectorBuilder::new()
        .with_tls_config(tls_config().as_ref().clone())
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .pool_idle_timeout(POOL_IDLE)
        .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
        .http1_max_buf_size(READ_BUFFER)
        .http2_initial_stream_window_size(H2_STREAM_WINDOW)
        .http2_initial_connection_window_size(H2_CONNECTION_WINDOW)
        .build(https)
}

/// rustls with the system's roots, built once per process (reading the roots takes
/// milliseconds, and every reload would otherwise repeat it).
fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let mut roots = rustls::RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                tracing::warn!(
                    errors = ?found.errors,
                    "no system root certificates found: calls to https vendors will fail \
                     (install the ca-certificates package or set SSL_CERT_FILE)"
                );
            }
            // ALPN (h2, then http/1.1) is the connector's to set.
            Arc::new(
                rustls::ClientConfig::builder()
                    .with_root_certificates(roots)
                    .with_no_client_auth(),
            )
        })
        .clone()
}
