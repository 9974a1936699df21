//! Connections: accept, serve HTTP/1.1 and HTTP/2 (cleartext), and hold slow clients to
//! limits, so that a client trickling bytes costs a socket and a timer, nothing more.
//!
//! - `[server] header_timeout_secs`: a request's headers must arrive within it, counted
//!   from when the connection opens or its previous response ends — so it is also how
//!   long a kept-alive HTTP/1.1 connection may sit idle (HTTP/2: a ping every that long,
//!   and the connection closes when one goes unanswered for as long).
//! - `[server] body_timeout_secs` bounds reading a body ([`crate::intake::read_body`]).
//!
//! On shutdown, the steps of [`crate::drain`]: connections are still accepted for the
//! drain's window, then the listener closes and each connection finishes the requests it
//! has and takes no more; at the drain's deadline what still runs is ended (streams with
//! an error event), and connections still open [`END_GRACE`] later are dropped (each
//! request's own drop guard then records what it used). So [`serve`] returns only once
//! every request has been recorded, and a final flush of the usage log holds them all.

use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tower_service::Service;

use crate::drain::{Drain, END_GRACE};
use crate::keys::access::PeerAddr;

/// Most bytes of answers buffered per connection (HTTP/1) or stream (HTTP/2) for a
/// client that reads slower than the upstream writes (at least 8 KiB: hyper's minimum).
/// HTTP/1 request headers must fit in it too (nginx's default allows 8 KiB a line).
const WRITE_BUFFER: usize = 16 * 1024;

/// Limits on how slowly a client may send, and on the drain at shutdown.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientTimeouts {
    /// See `[server] header_timeout_secs`.
    pub header: Duration,
    /// See `[server] drain_timeout_secs`.
    pub drain_timeout: Duration,
}

/// Serve `app` on `listener` until `drain` has run its course; see the module docs. With
/// `workers` > 0, on that many event loops of their own ([`serve_on_workers`]); with 0,
/// on the caller's runtime.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ClientTimeouts,
    workers: usize,
    drain: Arc<Drain>,
) -> io::Result<()> {
    if workers == 0 {
        return accept_loop(listener, app, limits, drain).await;
    }
    serve_on_workers(listener, app, limits, workers, drain).await
}

/// Thread per core, as nginx runs a process per core: `workers` threads, each a
/// single-threaded runtime accepting from the same listening socket and serving its
/// connections start to end, upstream calls included (each worker has its own upstream
/// pool, [`crate::upstream::client::use_pool`]). A request then never wakes another
/// thread: work-stealing across two cores cost ~25% more CPU per request
/// (docs/BENCHMARKS.md). Returns once every worker has drained.
async fn serve_on_workers(
    listener: TcpListener,
    app: Router,
    limits: ClientTimeouts,
    workers: usize,
    drain: Arc<Drain>,
) -> io::Result<()> {
    let listener = listener.into_std()?;
    let mut done = Vec::with_capacity(workers);
    for i in 0..workers {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (listener, app, drain) = (listener.try_clone()?, app.clone(), Arc::clone(&drain));
        std::thread::Builder::new()
            .name(format!("switchyard-worker-{i}"))
            .spawn(move || {
                let _ = tx.send(run_worker(i, listener, app, limits, drain));
            })?;
        done.push(rx);
    }
    // The socket closes (and new connections are refused) only once every copy of it is
    // dropped: the workers drop theirs when the drain's window closes.
    drop(listener);
    let mut result = Ok(());
    for rx in done {
        match rx.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => result = Err(e),
            Err(_) => result = Err(io::Error::other("a worker thread ended without a result")),
        }
    }
    result
}

/// One worker: its runtime, its accept loop, until the loop has drained.
fn run_worker(
    index: usize,
    listener: std::net::TcpListener,
    app: Router,
    limits: ClientTimeouts,
    drain: Arc<Drain>,
) -> io::Result<()> {
    crate::upstream::client::use_pool(index);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let listener = TcpListener::from_std(listener)?;
            accept_loop(listener, app, limits, drain).await
        })
}

/// Accept connections until the drain's window closes, then let them finish (see the
/// module docs).
async fn accept_loop(
    listener: TcpListener,
    app: Router,
    limits: ClientTimeouts,
    drain: Arc<Drain>,
) -> io::Result<()> {
    let mut conns = JoinSet::new();
    let mut closing = pin!(listener_closes(&drain));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut closing => break,
            // Reap ended connections so the set holds only live ones.
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        match accepted {
            Ok((stream, peer)) => {
                let app = app.clone();
                conns.spawn(connection(stream, peer, app, limits, Arc::clone(&drain)));
            }
            // Out of file descriptors, or a connection reset before it was accepted: the
            // listener itself is fine; pause briefly so that a full table can drain.
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    drop(listener);
    finish(conns, &drain, limits.drain_timeout).await;
    Ok(())
}

async fn join_all(conns: &mut JoinSet<()>) {
    while conns.join_next().await.is_some() {}
}

/// Resolves when the listener is to close: the drain's window after the signal.
async fn listener_closes(drain: &Drain) {
    let until = drain.accept_until().await;
    tokio::time::sleep_until(until).await;
}

/// Let `conns` finish until the drain's deadline; then end what still runs, and after
/// [`END_GRACE`] drop the connections still open.
async fn finish(mut conns: JoinSet<()>, drain: &Drain, timeout: Duration) {
    let deadline = drain.deadline(timeout).await;
    if tokio::time::timeout_at(deadline, join_all(&mut conns))
        .await
        .is_ok()
    {
        return;
    }
    if !drain.has_ended() {
        tracing::warn!(
            connections = conns.len(),
            "requests still running when drain_timeout_secs ran out; ending them"
        );
    }
    drain.end();
    if tokio::time::timeout(END_GRACE, join_all(&mut conns))
        .await
        .is_err()
    {
        tracing::warn!(
            connections = conns.len(),
            "connections still open after the drain; closing them"
        );
        conns.abort_all();
        while conns.join_next().await.is_some() {}
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: ClientTimeouts,
    drain: Arc<Drain>,
) {
    // Streams write small events that should leave at once.
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY");
    }
    let mut builder = Builder::new(TokioExecutor::new());
    // A client that stops reading holds at most WRITE_BUFFER of its answer in our heap
    // (hyper's default is about 400 KiB per connection, and h2's per stream): past it,
    // backpressure reaches the relay and the upstream, not memory.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header)
        .max_buf_size(WRITE_BUFFER);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(limits.header))
        .keep_alive_timeout(limits.header)
        .max_send_buf_size(WRITE_BUFFER);
    // Each request carries the client's address (for limits on wrong admin tokens).
    let service = service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(PeerAddr(peer));
        app.clone().call(req)
    });
    let mut conn = pin!(builder.serve_connection_with_upgrades(TokioIo::new(stream), service));
    let mut stopping = pin!(listener_closes(&drain));
    let mut told = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                break;
            }
            () = &mut stopping, if !told => {
                told = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}
