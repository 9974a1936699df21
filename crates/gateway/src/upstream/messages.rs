//! A vendor's Anthropic-compatible event stream read as a chat stream
//! (`wire::anthropic::upstream::ChunkReader`), so that a Messages request passed through
//! to the vendor is relayed, counted and failed over like any chat stream. Each network
//! read becomes one read of chat SSE; the parser is bounded as the relay's is.

use bytes::Bytes;
use futures_util::StreamExt;
use switchyard_wire::anthropic::upstream::ChunkReader;
use switchyard_wire::{SseEvent, SseParser};

use super::ByteStream;

/// `upstream` (Messages events) as chat SSE.
pub(crate) fn chat_stream(upstream: ByteStream) -> ByteStream {
    let mut parser = SseParser::new();
    let mut reader = ChunkReader::new();
    let mut broken = false;
    Box::pin(upstream.map(move |read| {
        let bytes = read?;
        let mut out = Vec::with_capacity(bytes.len().saturating_add(64));
        if broken {
            return Ok(Bytes::new());
        }
        if let Err(e) = parser.push(&bytes) {
            broken = true;
            reader.event(&error_event(&e.to_string()), &mut out);
            return Ok(Bytes::from(out));
        }
        loop {
            match parser.next_event() {
                Ok(Some(ev)) => reader.event(&ev, &mut out),
                Ok(None) => break,
                Err(e) => {
                    broken = true;
                    reader.event(&error_event(&e.to_string()), &mut out);
                    break;
                }
            }
        }
        Ok(Bytes::from(out))
    }))
}

/// The vendor's stream could not be read on: an `error` event for the reader.
fn error_event(why: &str) -> SseEvent {
    let data = serde_json::json!({"type": "error", "error": {"type": "api_error", "message": why}});
    SseEvent::Data {
        event: Some("error".into()),
        data: data.to_string(),
    }
}
