//! Priming a stream: reading it up to its first token, so that a hedge race is won by
//! the first *token* (not the first header) and a stream that fails before it can still
//! be retried elsewhere.

use axum::body::Bytes;
use futures_util::StreamExt;
use switchyard_wire::{ChatChunk, ErrorKind, SseEvent, SseParser, UpstreamError};

use crate::upstream::ByteStream;

/// Most bytes a stream may send before its first token (a role chunk and keep-alive
/// comments are a few hundred): they are held in memory to be replayed.
const MAX_PRIMED_BYTES: usize = 1024 * 1024;

fn bad_stream(e: switchyard_wire::SseError) -> UpstreamError {
    UpstreamError::transport(ErrorKind::BadResponse, e.to_string())
}

/// Read a stream up to its first token (or its clean end) and hand back a stream that
/// replays what was read, then continues. Anything else before the first token — an
/// error event, a cut, the TTFT deadline — is a retryable failure.
pub(super) async fn prime_stream(
    mut body: ByteStream,
    deadline: tokio::time::Instant,
) -> Result<ByteStream, UpstreamError> {
    let mut parser = SseParser::new();
    let mut seen: Vec<Bytes> = Vec::new();
    let mut held = 0usize;
    loop {
        let bytes = match tokio::time::timeout_at(deadline, body.next()).await {
            Err(_) => {
                return Err(UpstreamError::transport(
                    ErrorKind::Timeout,
                    "no first token within the time-to-first-token limit",
                ));
            }
            Ok(None) => {
                return Err(UpstreamError::transport(
                    ErrorKind::BadResponse,
                    "the stream ended before its first token",
                ));
            }
            Ok(Some(Err(e))) => {
                return Err(UpstreamError::transport(
                    ErrorKind::Unreachable,
                    format!("the stream broke before its first token: {e}"),
                ));
            }
            Ok(Some(Ok(b))) => b,
        };
        held = held.saturating_add(bytes.len());
        if held > MAX_PRIMED_BYTES {
            return Err(UpstreamError::transport(
                ErrorKind::BadResponse,
                format!("the stream sent over {MAX_PRIMED_BYTES} bytes before its first token"),
            ));
        }
        parser.push(&bytes).map_err(bad_stream)?;
        seen.push(bytes);
        while let Some(ev) = parser.next_event().map_err(bad_stream)? {
            let SseEvent::Data { data, event } = ev else {
                continue;
            };
            let ready = data.trim() == "[DONE]"
                || (event.as_deref() != Some("error")
                    && serde_json::from_str::<ChatChunk>(&data)
                        .is_ok_and(|c| c.choices.iter().any(|ch| ch.delta.has_output())));
            if ready {
                let replay = futures_util::stream::iter(seen.into_iter().map(Ok));
                return Ok(Box::pin(replay.chain(body)));
            }
            if event.as_deref() == Some("error") || data.contains("\"error\"") {
                return Err(UpstreamError::transport(
                    ErrorKind::BadResponse,
                    format!("the stream sent an error before its first token: {data}"),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use std::time::Duration;

    #[tokio::test]
    async fn priming_stops_at_the_first_token_and_replays_everything() {
        let parts = [
            ": keep-alive\n\n",
            "data: {\"id\":\"a\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n",
            "data: {\"id\":\"a\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n",
            "data: [DONE]\n\n",
        ];
        let body: ByteStream = Box::pin(futures_util::stream::iter(
            parts.map(|p| Ok(Bytes::from_static(p.as_bytes()))),
        ));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let primed = prime_stream(body, deadline).await.unwrap();
        let all: Vec<Bytes> = primed.map(|b| b.unwrap()).collect().await;
        assert_eq!(all.concat(), parts.concat().as_bytes());
    }

    #[tokio::test]
    async fn priming_fails_on_a_cut_before_the_first_token() {
        let body: ByteStream = Box::pin(futures_util::stream::iter([Ok(Bytes::from_static(
            b": keep-alive\n\n",
        ))]));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let e = prime_stream(body, deadline).await.err().unwrap();
        assert!(e.kind.retryable());
    }
}
