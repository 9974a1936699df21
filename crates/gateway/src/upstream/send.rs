//! Sending a request to a vendor, and classifying what goes wrong into [`UpstreamError`]:
//! transport failures by kind, error answers by the vendor's dialect. Bodies are read up
//! to a cap, so a vendor cannot make the gateway hold more than that.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderValue, Method, Request, header};
use http_body_util::{BodyExt, Full};
use switchyard_wire::{ErrorKind, UpstreamError};

use super::client::{SendError, USER_AGENT, UpstreamClient, UpstreamResponse};
use super::provider::{ProviderRuntime, RegionRuntime};
use crate::traceparent::TraceHeaders;

/// Largest whole (non-streamed) answer read from a vendor: a completion of this size is
/// millions of tokens, far past any model's output limit.
pub(crate) const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;
/// Largest vendor error body read; the rest is not waited for.
pub(crate) const MAX_ERROR_BYTES: usize = 64 * 1024;
/// Longest wait for a vendor's error body.
const ERROR_BODY_WAIT: Duration = Duration::from_secs(10);

/// A body read up to a cap.
pub(crate) enum Capped {
    /// All of it.
    Whole(Bytes),
    /// The first `cap` bytes; more was coming.
    Truncated(Bytes),
}

/// Read `resp`'s body, stopping at `cap` bytes: a vendor cannot make the gateway hold
/// more than that, however much it sends.
pub(crate) async fn read_capped(
    resp: UpstreamResponse,
    cap: usize,
) -> Result<Capped, hyper::Error> {
    let mut body = resp.into_body();
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(chunk) = frame?.into_data() else {
            continue; // trailers
        };
        let room = cap.saturating_sub(buf.len());
        if chunk.len() > room {
            buf.extend_from_slice(chunk.get(..room).unwrap_or_default());
            return Ok(Capped::Truncated(buf.freeze()));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Capped::Whole(buf.freeze()))
}

/// Where a call goes: a provider, one of its regions, and which of its endpoints.
#[derive(Clone, Copy)]
pub(crate) struct Dest<'a> {
    /// The provider (its credentials and dialect).
    pub(crate) provider: &'a ProviderRuntime,
    /// The region called.
    pub(crate) region: &'a RegionRuntime,
    /// The endpoint's URL in that region.
    pub(crate) uri: &'a axum::http::Uri,
    /// An Anthropic-compatible endpoint (`x-api-key` and `anthropic-version` sent).
    pub(crate) anthropic: bool,
}

impl<'a> Dest<'a> {
    /// `region`'s chat-completions endpoint.
    pub(crate) fn chat(provider: &'a ProviderRuntime, region: &'a RegionRuntime) -> Self {
        Dest {
            provider,
            region,
            uri: &region.target,
            anthropic: false,
        }
    }

    /// `region`'s Anthropic-compatible `/v1/messages`, when it has one.
    pub(crate) fn messages(
        provider: &'a ProviderRuntime,
        region: &'a RegionRuntime,
    ) -> Option<Self> {
        region.messages.as_ref().map(|uri| Dest {
            provider,
            region,
            uri,
            anthropic: true,
        })
    }

    /// `region`'s embeddings endpoint.
    pub(crate) fn embeddings(provider: &'a ProviderRuntime, region: &'a RegionRuntime) -> Self {
        Dest {
            provider,
            region,
            uri: &region.embeddings,
            anthropic: false,
        }
    }
}

/// Send one request to `to`, with the W3C `trace` headers when there are; a non-2xx
/// answer becomes the vendor's error, classified by its dialect (with its
/// `Retry-After`, when it gave one).
pub(crate) async fn send_upstream(
    client: &UpstreamClient,
    to: Dest<'_>,
    body: Bytes,
    stream: bool,
    timeout: Duration,
    trace: Option<&TraceHeaders>,
) -> Result<UpstreamResponse, UpstreamError> {
    let Dest {
        provider, region, ..
    } = to;
    let req = chat_request(to, body, stream, trace);
    let resp = match tokio::time::timeout(timeout, client.send(req)).await {
        Err(_) => {
            return Err(UpstreamError::transport(
                ErrorKind::Timeout,
                format!(
                    "no response from {} within {}s",
                    region.name,
                    timeout.as_secs()
                ),
            ));
        }
        Ok(Err(e)) => return Err(transport_error(&e, region)),
        Ok(Ok(r)) => r,
    };
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let req_id = resp
        .headers()
        .get(provider.dialect.request_id_header())
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // `Retry-After` in seconds (the HTTP-date form is rare from these vendors, and ignored).
    let retry_after_secs = resp
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let body = match tokio::time::timeout(ERROR_BODY_WAIT, read_capped(resp, MAX_ERROR_BYTES)).await
    {
        Ok(Ok(Capped::Whole(b) | Capped::Truncated(b))) => b,
        _ => Bytes::new(),
    };
    let mut err = provider
        .dialect
        .parse_error(status.as_u16(), &body, req_id.as_deref());
    err.retry_after_secs = retry_after_secs;
    Err(err)
}

/// `GET url` (a vendor's model list, which no vendor bills) within `wait`: whether it
/// answered 2xx.
pub(crate) async fn probe(
    client: &UpstreamClient,
    url: &str,
    auth: Option<HeaderValue>,
    wait: Duration,
) -> bool {
    let Ok(uri) = url.parse::<axum::http::Uri>() else {
        return false;
    };
    let mut req = Request::new(Full::new(Bytes::new()));
    *req.uri_mut() = uri;
    req.headers_mut().insert(header::USER_AGENT, USER_AGENT);
    if let Some(auth) = auth {
        req.headers_mut().insert(header::AUTHORIZATION, auth);
    }
    matches!(
        tokio::time::timeout(wait, client.send(req)).await,
        Ok(Ok(resp)) if resp.status().is_success()
    )
}

/// The HTTP request for one call: every header value prebuilt but the trace's.
fn chat_request(
    to: Dest<'_>,
    body: Bytes,
    stream: bool,
    trace: Option<&TraceHeaders>,
) -> Request<Full<Bytes>> {
    let provider = to.provider;
    let mut req = Request::new(Full::new(body));
    *req.method_mut() = Method::POST;
    *req.uri_mut() = to.uri.clone();
    let headers = req.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::USER_AGENT, USER_AGENT);
    if stream {
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
    }
    if let Some(auth) = &provider.auth {
        headers.insert(header::AUTHORIZATION, auth.clone());
    }
    if to.anthropic {
        if let Some(key) = &provider.api_key {
            headers.insert("x-api-key", key.clone());
        }
        headers.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
    }
    if let Some(t) = trace {
        headers.insert("traceparent", t.traceparent.clone());
        if let Some(state) = &t.tracestate {
            headers.insert("tracestate", state.clone());
        }
    }
    req
}

fn transport_error(e: &SendError, region: &RegionRuntime) -> UpstreamError {
    let mut detail = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        src = s.source();
    }
    if e.is_connect() {
        UpstreamError::transport(
            ErrorKind::Unreachable,
            format!("cannot connect to region '{}': {detail}", region.name),
        )
    } else {
        UpstreamError::transport(
            ErrorKind::Unreachable,
            format!("region '{}' failed: {detail}", region.name),
        )
    }
}
