//! Hostile answers: what a broken or malicious upstream sends, for testing that a client
//! (the gateway) stays up, bounded and clear. Each is a [`Hostile`] fault kind; none of
//! them is a vendor's real behaviour.
//!
//! Bodies are produced piece by piece as the client reads them, so a multi-gigabyte or
//! endless answer costs the simulator no memory, and ends when the client goes away.

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use futures_util::{StreamExt, stream};
use serde_json::json;

/// Size of each piece of a long body.
const PIECE: usize = 64 * 1024;
/// An index no client should size anything by.
pub(crate) const HUGE_INDEX: u64 = 4_000_000_000;

/// One hostile answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hostile {
    /// A first chunk with a tool call at index [`HUGE_INDEX`], then a choice at that index.
    HugeIndex,
    /// A line (an SSE `data:` line, or the JSON body) that never ends.
    EndlessLine,
    /// A well-formed answer whose content is this many bytes.
    HugeBody(u64),
    /// A short answer whose usage numbers are absurd: `u64::MAX` and negative.
    AbsurdUsage,
    /// A short answer whose content holds bytes that are not UTF-8.
    InvalidUtf8,
}

/// Whether a stream was asked for decides the shape.
pub(crate) fn body(h: Hostile, streaming: bool, id: &str, model: &str) -> Body {
    match h {
        Hostile::HugeIndex => Body::from(huge_index(streaming, id, model)),
        Hostile::EndlessLine => endless(streaming, id, model),
        Hostile::HugeBody(bytes) => huge_body(streaming, id, model, bytes),
        Hostile::AbsurdUsage => Body::from(absurd_usage(streaming, id, model)),
        Hostile::InvalidUtf8 => Body::from(invalid_utf8(streaming, id, model)),
    }
}

fn chunk(id: &str, model: &str, choices: serde_json::Value) -> String {
    json!({"id": id, "object": "chat.completion.chunk", "created": 1, "model": model,
        "choices": choices})
    .to_string()
}

fn sse(events: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in events {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(e.as_bytes());
        out.extend_from_slice(b"\n\n");
    }
    out.extend_from_slice(b"data: [DONE]\n\n");
    out
}

fn completion(
    id: &str,
    model: &str,
    choices: serde_json::Value,
    usage: serde_json::Value,
) -> Vec<u8> {
    json!({"id": id, "object": "chat.completion", "created": 1, "model": model,
        "choices": choices, "usage": usage})
    .to_string()
    .into_bytes()
}

fn huge_index(streaming: bool, id: &str, model: &str) -> Vec<u8> {
    let call = json!([{"index": HUGE_INDEX, "id": "call_0", "type": "function",
        "function": {"name": "f", "arguments": "{}"}}]);
    if !streaming {
        return completion(
            id,
            model,
            json!([{"index": HUGE_INDEX, "message": {"role": "assistant", "content": null,
                "tool_calls": call}, "finish_reason": "tool_calls"}]),
            json!({"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}),
        );
    }
    sse(&[
        chunk(
            id,
            model,
            json!([{"index": 0, "delta": {"role": "assistant", "tool_calls": call}}]),
        ),
        chunk(
            id,
            model,
            json!([{"index": HUGE_INDEX, "delta": {"content": "x"}, "finish_reason": "stop"}]),
        ),
    ])
}

/// The start of a line that then never ends.
fn endless(streaming: bool, id: &str, model: &str) -> Body {
    let head = if streaming {
        format!(
            "data: {{\"id\":\"{id}\",\"object\":\"chat.completion.chunk\",\"model\":\"{model}\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\""
        )
    } else {
        format!(
            "{{\"id\":\"{id}\",\"object\":\"chat.completion\",\"model\":\"{model}\",\"choices\":[{{\"index\":0,\"message\":{{\"role\":\"assistant\",\"content\":\""
        )
    };
    let filler = Bytes::from(vec![b'a'; PIECE]);
    let pieces = stream::iter(std::iter::once(Bytes::from(head)).chain(std::iter::repeat(filler)))
        .map(Ok::<_, std::io::Error>);
    Body::from_stream(pieces)
}

/// A well-formed answer of about `bytes` bytes: for a stream, chunks of [`PIECE`] bytes of
/// content each; for a whole answer, one content string.
fn huge_body(streaming: bool, id: &str, model: &str, bytes: u64) -> Body {
    let pieces = bytes.div_ceil(PIECE as u64);
    let word = "a".repeat(PIECE);
    let (head, each, tail) = if streaming {
        let each = format!(
            "data: {}\n\n",
            chunk(id, model, json!([{"index": 0, "delta": {"content": word}}]))
        );
        let last = chunk(
            id,
            model,
            json!([{"index": 0, "delta": {}, "finish_reason": "stop"}]),
        );
        (
            String::new(),
            each,
            format!("data: {last}\n\ndata: [DONE]\n\n"),
        )
    } else {
        let head = format!(
            "{{\"id\":\"{id}\",\"object\":\"chat.completion\",\"created\":1,\"model\":\"{model}\",\"choices\":[{{\"index\":0,\"message\":{{\"role\":\"assistant\",\"content\":\""
        );
        let tail = "\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,\"total_tokens\":2}}".to_string();
        (head, word, tail)
    };
    let each = Bytes::from(each);
    let body = std::iter::once(Bytes::from(head))
        .chain(std::iter::repeat_n(
            each,
            usize::try_from(pieces).unwrap_or(usize::MAX),
        ))
        .chain(std::iter::once(Bytes::from(tail)));
    Body::from_stream(stream::iter(body).map(Ok::<_, std::io::Error>))
}

fn absurd_usage(streaming: bool, id: &str, model: &str) -> Vec<u8> {
    let usage = json!({"prompt_tokens": u64::MAX, "completion_tokens": u64::MAX,
        "total_tokens": u64::MAX,
        "prompt_tokens_details": {"cached_tokens": u64::MAX},
        "completion_tokens_details": {"reasoning_tokens": u64::MAX}});
    if !streaming {
        return completion(
            id,
            model,
            json!([{"index": 0, "message": {"role": "assistant", "content": "ok"},
                "finish_reason": "stop"}]),
            usage,
        );
    }
    let mut last = json!({"id": id, "object": "chat.completion.chunk", "created": 1,
        "model": model, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
    last["usage"] = usage;
    let negative = json!({"id": id, "object": "chat.completion.chunk", "created": 1,
        "model": model, "choices": [], "usage": {"prompt_tokens": -5,
        "completion_tokens": -1e30, "total_tokens": "many"}});
    sse(&[
        chunk(
            id,
            model,
            json!([{"index": 0, "delta": {"role": "assistant", "content": "ok"}}]),
        ),
        negative.to_string(),
        last.to_string(),
    ])
}

fn invalid_utf8(streaming: bool, id: &str, model: &str) -> Vec<u8> {
    let mark = "INVALID";
    let text = if streaming {
        sse(&[
            chunk(
                id,
                model,
                json!([{"index": 0, "delta": {"role": "assistant", "content": mark}}]),
            ),
            chunk(
                id,
                model,
                json!([{"index": 0, "delta": {}, "finish_reason": "stop"}]),
            ),
        ])
    } else {
        completion(
            id,
            model,
            json!([{"index": 0, "message": {"role": "assistant", "content": mark},
                "finish_reason": "stop"}]),
            json!({"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}),
        )
    };
    // Swap the marker for bytes no UTF-8 decoder accepts.
    let mut out = Vec::with_capacity(text.len());
    let mut rest = &text[..];
    while let Some(at) = find(rest, mark.as_bytes()) {
        out.extend_from_slice(rest.get(..at).unwrap_or_default());
        out.extend_from_slice(b"ok \xff\xfe\xc3(");
        rest = rest.get(at + mark.len()..).unwrap_or_default();
    }
    out.extend_from_slice(rest);
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `body` sent one byte every `every`: a drip that never stalls long enough to look dead.
pub(crate) fn drip(body: Bytes, every: Duration) -> Body {
    let bytes = stream::unfold((body, 0usize), move |(body, at)| async move {
        let byte = body.get(at..at.checked_add(1)?)?;
        let piece = Bytes::copy_from_slice(byte);
        tokio::time::sleep(every).await;
        Some((Ok::<_, std::io::Error>(piece), (body, at + 1)))
    });
    Body::from_stream(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_answers_are_not_utf8_but_otherwise_framed() {
        let s = invalid_utf8(true, "c", "m");
        assert!(std::str::from_utf8(&s).is_err());
        assert!(s.ends_with(b"data: [DONE]\n\n"));
        let w = invalid_utf8(false, "c", "m");
        assert!(std::str::from_utf8(&w).is_err());
    }

    #[test]
    fn huge_index_streams_name_an_index_past_u32_halfway() {
        let s = String::from_utf8(huge_index(true, "c", "m")).unwrap();
        assert!(s.contains("\"index\":4000000000"), "{s}");
    }
}
