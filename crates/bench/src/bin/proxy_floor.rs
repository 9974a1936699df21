//! The floor under the gateway's own cost: the same HTTP stack the gateway serves with
//! (hyper's HTTP/1 server, hyper-util's pooled client, one current-thread runtime per
//! worker thread accepting on a shared listener, mimalloc), forwarding each request's
//! bytes to one upstream and streaming the answer back, with no LLM logic at all: no
//! parsing, routing, keys, usage or metrics. `bench/peers.sh --targets floor,…` puts it
//! beside nginx and the gateway, so that what the gateway spends splits into what its
//! stack costs and what its work costs.
//!
//! Usage: `proxy_floor --upstream http://127.0.0.1:PORT/base [--listen 127.0.0.1:0]
//! [--workers N]`. A request for `/v1/REST` goes to `UPSTREAM/REST`; prints
//! `proxy_floor listening on http://ADDR` once it accepts.

use std::convert::Infallible;
use std::net::TcpListener;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::HOST;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Upstream = Client<HttpConnector, Full<Bytes>>;
type Answer = Response<UnsyncBoxBody<Bytes, hyper::Error>>;

fn main() -> Result<()> {
    let mut listen = "127.0.0.1:0".to_string();
    let mut upstream = None;
    let mut workers = std::thread::available_parallelism().map_or(1, usize::from);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--listen" => listen = value()?,
            "--upstream" => upstream = Some(value()?),
            "--workers" => workers = value()?.parse().context("--workers: a number")?,
            other => bail!("unknown argument {other} (see the file's doc)"),
        }
    }
    let upstream = upstream.context("--upstream URL is required")?;
    let base: &'static str = Box::leak(upstream.trim_end_matches('/').to_string().into());
    let listener =
        TcpListener::bind(&listen).with_context(|| format!("cannot listen on {listen}"))?;
    listener.set_nonblocking(true)?;
    println!("proxy_floor listening on http://{}", listener.local_addr()?);
    let mut threads = Vec::new();
    for _ in 0..workers.max(1) {
        let listener = listener.try_clone()?;
        threads.push(std::thread::spawn(move || worker(listener, base)));
    }
    for t in threads {
        t.join()
            .map_err(|_| anyhow::anyhow!("a worker panicked"))??;
    }
    Ok(())
}

/// One current-thread runtime: accept, and serve each connection on a task.
fn worker(listener: TcpListener, base: &'static str) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let client: Upstream = Client::builder(TokioExecutor::new()).build_http();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let client = client.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| forward(client.clone(), base, req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    })
}

/// Send `req` on to the upstream; its answer streams back as it comes.
async fn forward(
    client: Upstream,
    base: &str,
    req: Request<Incoming>,
) -> Result<Answer, Infallible> {
    let (parts, body) = req.into_parts();
    let fail = |status: StatusCode| {
        let mut r = Response::new(
            Full::new(Bytes::new())
                .map_err(|e| match e {})
                .boxed_unsync(),
        );
        *r.status_mut() = status;
        r
    };
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return Ok(fail(StatusCode::BAD_REQUEST));
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let rest = path.strip_prefix("/v1").unwrap_or(path);
    let Ok(uri) = format!("{base}{rest}").parse::<Uri>() else {
        return Ok(fail(StatusCode::BAD_REQUEST));
    };
    let mut out = Request::new(Full::new(body));
    *out.method_mut() = parts.method;
    *out.uri_mut() = uri;
    *out.headers_mut() = parts.headers;
    out.headers_mut().remove(HOST);
    match client.request(out).await {
        Ok(resp) => Ok(resp.map(BodyExt::boxed_unsync)),
        Err(_) => Ok(fail(StatusCode::BAD_GATEWAY)),
    }
}
