//! Reading a vendor's whole (non-streamed) answer: at most [`MAX_ANSWER_BYTES`], within
//! the time left, bytes that are not UTF-8 made U+FFFD, parsed into a completion whose
//! indices are held to the bounds streams are — or, for a model that answers only as a
//! stream, the stream folded into one completion.

use std::time::Duration;

use metrics::counter;
use switchyard_wire::dialect::{choice_slot, tool_slot};
use switchyard_wire::{
    ChatChunk, ChatCompletion, ErrorKind, SseEvent, SseParser, StreamAggregator, UpstreamError,
};

use switchyard_wire::anthropic::upstream::completion_from_message;

use super::provider::ProviderRuntime;
use super::send::{Capped, MAX_ANSWER_BYTES, read_capped};

/// What a whole answer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Read {
    /// A chat completion.
    Completion,
    /// A stream to fold into one (a model that answers only as a stream).
    Assemble,
    /// A Messages API `message` (a request passed through to an Anthropic-compatible
    /// endpoint), read as a chat completion.
    Message,
}

/// Read and parse `upstream`'s whole answer within `remaining` (see the module doc).
pub(crate) async fn read_whole(
    provider: &ProviderRuntime,
    upstream: super::UpstreamResponse,
    remaining: Duration,
    read: Read,
) -> Result<ChatCompletion, UpstreamError> {
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
    // Bytes that are not UTF-8 become U+FFFD, as they do in streams. Checked once here
    // (the fast check first), so the parser need not check again.
    let lossy;
    let text = match std::str::from_utf8(&bytes) {
        Ok(text) => text,
        Err(_) => {
            lossy = String::from_utf8_lossy(&bytes).into_owned();
            lossy.as_str()
        }
    };
    let parsed = match read {
        Read::Assemble => assemble_stream(provider, text.as_bytes()),
        Read::Completion => serde_json::from_str::<ChatCompletion>(text)
            .map_err(|e| {
                UpstreamError::transport(
                    ErrorKind::BadResponse,
                    format!("the vendor's answer is not a chat completion ({e})"),
                )
            })
            .and_then(|c| match c.extra.get("error") {
                // An error the vendor put in a 200 answer (OpenRouter, once a host failed).
                Some(e) if !e.is_null() => {
                    Err(provider.dialect.parse_error(500, text.as_bytes(), None))
                }
                _ => check_indices(&c).map(|()| c),
            }),
        Read::Message => completion_from_message(text)
            .map_err(|e| UpstreamError::transport(ErrorKind::BadResponse, e)),
    };
    parsed.inspect_err(|e| {
        if e.kind == ErrorKind::BadResponse {
            counter!("switchyard_upstream_garbage_total", "provider" => provider.id.clone())
                .increment(1);
        }
    })
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
