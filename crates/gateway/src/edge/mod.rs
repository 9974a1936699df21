//! The APIs at the edge that are not Chat Completions: each parses its own dialect,
//! translates it into a chat request for the whole chat pipeline ([`crate::chat`]:
//! admission, routing, failover, hedging, cost and the usage log, all unchanged), and
//! re-tells the pipeline's answer — whole, streamed, or an error — in its own shape.
//!
//! - [`messages`]: the Anthropic Messages API (`/v1/messages`, `/v1/messages/count_tokens`);
//! - [`responses`]: the Responses API's stateless subset (`/v1/responses`);
//! - [`embeddings`]: `/v1/embeddings`, its own short pipeline (no chat in it) over the same
//!   keys, limits, deployments, breakers, cost and usage log.
//!
//! A translated stream is re-told event by event as the pipeline writes it
//! ([`retell_stream`]), so failover before the first token, the TTFT limits and the
//! drain at shutdown work as they do for chat streams.

pub(crate) mod embeddings;
pub(crate) mod messages;
pub(crate) mod responses;

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use futures_util::StreamExt;
use serde_json::Value;
use switchyard_wire::SseParser;
use switchyard_wire::retell::Retell;

/// The most of a pipeline's error body read to re-tell it (they are a few hundred bytes).
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The most of a pipeline's whole answer read to re-tell it: what the pipeline itself
/// reads from an upstream (`upstream::answer`), with room for its re-serialization.
pub(crate) const MAX_WHOLE_ANSWER: usize = 40 * 1024 * 1024;

/// The chat stream `body` re-told by `teller`. The chat stream is read to its end even
/// after the re-telling has ended, so that the relay behind it finishes (and records its
/// usage) as it would for a chat client.
pub(crate) fn retell_stream<R: Retell + Send + 'static>(body: Body, teller: R) -> Body {
    struct State<R> {
        inner: axum::body::BodyDataStream,
        parser: SseParser,
        teller: R,
        done: bool,
    }
    let start = State {
        inner: body.into_data_stream(),
        parser: SseParser::new(),
        teller,
        done: false,
    };
    let stream = futures_util::stream::unfold(start, |mut s| async move {
        if s.done {
            return None;
        }
        let mut out = Vec::new();
        while out.is_empty() && !s.done {
            match s.inner.next().await {
                Some(Ok(bytes)) if !s.teller.ended() => {
                    feed(&mut s.parser, &mut s.teller, &bytes, &mut out)
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => s.teller.fail(&format!("the stream broke: {e}"), &mut out),
                None => {
                    s.teller.end_of_stream(&mut out);
                    s.done = true;
                }
            }
        }
        Some((Ok::<_, Infallible>(Bytes::from(out)), s))
    });
    Body::from_stream(stream)
}

/// Parse `bytes` and hand each complete item to `teller`.
fn feed<R: Retell>(parser: &mut SseParser, teller: &mut R, bytes: &[u8], out: &mut Vec<u8>) {
    if let Err(e) = parser.push(bytes) {
        teller.fail(&e.to_string(), out);
        return;
    }
    loop {
        match parser.next_event() {
            Ok(Some(item)) => teller.item(&item, out),
            Ok(None) => return,
            Err(e) => {
                teller.fail(&e.to_string(), out);
                return;
            }
        }
    }
}

/// Whether a response is an SSE stream.
pub(crate) fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}

/// The message of a pipeline error body (`{"error":{"message"}}`), read up to
/// [`MAX_ERROR_BODY`].
pub(crate) async fn error_message(body: Body) -> String {
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ERROR_BODY).await else {
        return "the gateway could not read its own error".into();
    };
    serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v.get("error")?.get("message")?.as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned())
}
