//! Calling the vendor: send, classify failures into [`UpstreamError`], and read a whole
//! answer — or, for models that answer only as a stream, fold the stream into one reply.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::header;
use metrics::counter;
use switchyard_wire::dialect::{choice_slot, normalize_completion, tool_slot};
use switchyard_wire::{
    ChatChunk, ChatCompletion, ErrorKind, SseEvent, SseParser, StreamAggregator, TokenUsage,
    UpstreamError, tokens,
};

use crate::chat::RequestCtx;
use crate::state::{AppState, ProviderRuntime, RegionRuntime};

/// Largest whole (non-streamed) answer read from a vendor: a completion of this size is
/// millions of tokens, far past any model's output limit.
pub const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;
/// Largest vendor error body read; the rest is not waited for.
pub const MAX_ERROR_BYTES: usize = 64 * 1024;
/// Longest wait for a vendor's error body.
const ERROR_BODY_WAIT: Duration = Duration::from_secs(10);

/// A body read up to a cap.
enum Capped {
    /// All of it.
    Whole(Bytes),
    /// The first `cap` bytes; more was coming.
    Truncated(Bytes),
}

/// Read `resp`'s body, stopping at `cap` bytes: a vendor cannot make the gateway hold
/// more than that, however much it sends.
async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Result<Capped, reqwest::Error> {
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = cap.saturating_sub(buf.len());
        if chunk.len() > room {
            buf.extend_from_slice(chunk.get(..room).unwrap_or_default());
            return Ok(Capped::Truncated(buf.freeze()));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Capped::Whole(buf.freeze()))
}

pub(crate) async fn send_upstream(
    st: &AppState,
    provider: &ProviderRuntime,
    region: &RegionRuntime,
    body: Bytes,
    stream: bool,
    timeout: Duration,
) -> Result<reqwest::Response, UpstreamError> {
    let mut rb = st
        .client
        .post(&region.chat_url)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body);
    if let Some(auth) = &provider.auth {
        rb = rb.header(header::AUTHORIZATION, auth.clone());
    }
    if stream {
        rb = rb.header(header::ACCEPT, "text/event-stream");
    }
    let resp = match tokio::time::timeout(timeout, rb.send()).await {
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

fn transport_error(e: &reqwest::Error, region: &RegionRuntime) -> UpstreamError {
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
    } else if e.is_timeout() {
        UpstreamError::transport(
            ErrorKind::Timeout,
            format!("region '{}' timed out: {detail}", region.name),
        )
    } else {
        UpstreamError::transport(
            ErrorKind::Unreachable,
            format!("region '{}' failed: {detail}", region.name),
        )
    }
}

/// Non-streaming: read the whole answer, normalise usage, name the model canonically.
pub(crate) async fn complete(
    ctx: &RequestCtx,
    provider: &ProviderRuntime,
    upstream: reqwest::Response,
    timeout: Duration,
    assemble: bool,
) -> Result<(Bytes, TokenUsage, bool), UpstreamError> {
    let remaining = timeout.saturating_sub(ctx.started.elapsed());
    let bytes = match tokio::time::timeout(remaining, read_capped(upstream, MAX_ANSWER_BYTES)).await
    {
        Err(_) => {
            return Err(UpstreamError::transport(
                ErrorKind::Timeout,
                "upstream did not finish in time",
            ));
        }
        Ok(Err(e)) => {
            return Err(UpstreamError::transport(
                ErrorKind::BadResponse,
                format!("reading the response failed: {e}"),
            ));
        }
        Ok(Ok(Capped::Whole(b))) => b,
        Ok(Ok(Capped::Truncated(_))) => {
            return Err(UpstreamError::transport(
                ErrorKind::BadResponse,
                format!("the vendor's answer is larger than {MAX_ANSWER_BYTES} bytes"),
            ));
        }
    };
    // Bytes that are not UTF-8 become U+FFFD, as they do in streams.
    let bytes = match String::from_utf8_lossy(&bytes) {
        std::borrow::Cow::Borrowed(_) => bytes,
        std::borrow::Cow::Owned(text) => Bytes::from(text),
    };
    let parsed = if assemble {
        assemble_stream(provider, &bytes)
    } else {
        serde_json::from_slice::<ChatCompletion>(&bytes)
            .map_err(|e| {
                UpstreamError::transport(
                    ErrorKind::BadResponse,
                    format!("the vendor's answer is not a chat completion ({e})"),
                )
            })
            .and_then(|c| check_indices(&c).map(|()| c))
    };
    let mut completion = parsed.inspect_err(|e| {
        if e.kind == ErrorKind::BadResponse {
            counter!("switchyard_upstream_garbage_total", "provider" => provider.id.clone())
                .increment(1);
        }
    })?;
    let usage = normalize_completion(&mut completion);
    completion.model.clone_from(&ctx.model_id);
    for choice in &completion.choices {
        let msg = &choice.message;
        if let (Some(conv), Some(calls), Some(r)) =
            (&ctx.conversation, &msg.tool_calls, &msg.reasoning_content)
        {
            ctx.st
                .reasoning
                .insert(conv, calls.iter().filter_map(|c| c.id.as_deref()), r);
        }
    }
    let (usage, estimated) = match usage {
        Some(u) => (u, false),
        None => {
            let completion_tokens = completion
                .choices
                .iter()
                .map(|c| {
                    tokens::estimate_message(&c.message)
                        .saturating_sub(tokens::PER_MESSAGE_OVERHEAD)
                })
                .sum();
            let u = TokenUsage {
                prompt: ctx.prompt_estimate,
                completion: completion_tokens,
                ..TokenUsage::default()
            };
            completion.usage = Some(u.to_wire());
            (u, true)
        }
    };
    let body = serde_json::to_vec(&completion)
        .map_err(|e| UpstreamError::transport(ErrorKind::BadResponse, e.to_string()))?;
    Ok((Bytes::from(body), usage, estimated))
}

/// A whole answer's choice and tool-call indices, held to the bounds streams are.
fn check_indices(c: &ChatCompletion) -> Result<(), UpstreamError> {
    for choice in &c.choices {
        choice_slot(choice.index)?;
        for call in choice.message.tool_calls.iter().flatten() {
            tool_slot(call.index.unwrap_or(0))?;
        }
    }
    Ok(())
}

/// Fold a whole SSE body from a stream-only model into one completion.
fn assemble_stream(
    provider: &ProviderRuntime,
    bytes: &[u8],
) -> Result<ChatCompletion, UpstreamError> {
    let bad = |e: switchyard_wire::SseError| {
        UpstreamError::transport(ErrorKind::BadResponse, e.to_string())
    };
    let mut parser = SseParser::new();
    parser.push(bytes).map_err(bad)?;
    let mut agg = StreamAggregator::new();
    let mut events = Vec::new();
    while let Some(ev) = parser.next_event().map_err(bad)? {
        events.push(ev);
    }
    events.extend(parser.finish().map_err(bad)?);
    for ev in events {
        let SseEvent::Data { data, event } = ev else {
            continue;
        };
        if data.trim() == "[DONE]" {
            break;
        }
        match serde_json::from_str::<ChatChunk>(&data) {
            Ok(chunk)
                if event.as_deref() != Some("error") && !chunk.extra.contains_key("error") =>
            {
                agg.push(chunk)?
            }
            _ if event.as_deref() == Some("error") || data.contains("\"error\"") => {
                return Err(provider.dialect.parse_error(500, data.as_bytes(), None));
            }
            Ok(_) | Err(_) => {}
        }
    }
    if !agg.finished() {
        return Err(UpstreamError::transport(
            ErrorKind::BadResponse,
            "the vendor's stream ended before the answer was finished",
        ));
    }
    Ok(agg.finish())
}
