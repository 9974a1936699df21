//! Replay a whole completion as a stream: the inverse of [`crate::aggregate`].
//!
//! When the gateway must read an answer whole before the client may see it (a streamed
//! request to a virtual model that checks the cheap tier's answer before escalating), the
//! answer it passes on goes out as the stream the client asked for. Each choice becomes a
//! role chunk (with its reasoning), a content chunk, its tool calls (indexed), and a finish
//! chunk; with `include_usage`, a trailing chunk carries the usage and no choices, as
//! OpenAI sends it.

use crate::JsonMap;
use crate::chat::{ChatChunk, ChatCompletion, ChunkChoice, Delta, Role};

/// The chunks that stream `completion`, in order.
pub fn completion_to_chunks(completion: &ChatCompletion, include_usage: bool) -> Vec<ChatChunk> {
    let chunk = |choices: Vec<ChunkChoice>| ChatChunk {
        id: completion.id.clone(),
        object: "chat.completion.chunk".into(),
        created: completion.created,
        model: completion.model.clone(),
        choices,
        usage: None,
        extra: completion.extra.clone(),
    };
    let one = |index: u32, delta: Delta, finish_reason: Option<String>| ChunkChoice {
        index,
        delta,
        finish_reason,
        usage: None,
        extra: JsonMap::new(),
    };
    let mut out = Vec::with_capacity(completion.choices.len().saturating_mul(3).saturating_add(1));
    for c in &completion.choices {
        let m = &c.message;
        out.push(chunk(vec![one(
            c.index,
            Delta {
                role: Some(Role::Assistant),
                content: Some(String::new()),
                reasoning_content: m.reasoning_content.clone(),
                ..Delta::default()
            },
            None,
        )]));
        let text = m.text_content();
        let calls = m.tool_calls.as_ref().map(|calls| {
            calls
                .iter()
                .enumerate()
                .map(|(i, call)| {
                    let mut call = call.clone();
                    call.index = Some(u32::try_from(i).unwrap_or(u32::MAX));
                    call
                })
                .collect::<Vec<_>>()
        });
        if !text.is_empty() || calls.is_some() || !m.extra.is_empty() {
            out.push(chunk(vec![one(
                c.index,
                Delta {
                    content: (!text.is_empty()).then_some(text),
                    tool_calls: calls,
                    extra: m.extra.clone(),
                    ..Delta::default()
                },
                None,
            )]));
        }
        out.push(chunk(vec![one(
            c.index,
            Delta::default(),
            c.finish_reason.clone().or_else(|| Some("stop".into())),
        )]));
    }
    if include_usage && let Some(usage) = &completion.usage {
        let mut last = chunk(Vec::new());
        last.usage = Some(usage.clone());
        out.push(last);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StreamAggregator;
    use serde_json::json;

    fn completion() -> ChatCompletion {
        serde_json::from_value(json!({
            "id": "c-1", "object": "chat.completion", "created": 7, "model": "m",
            "system_fingerprint": "fp",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "{\"a\": 1}",
                    "reasoning_content": "think"}, "finish_reason": "stop"},
                {"index": 1, "message": {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function",
                     "function": {"name": "f", "arguments": "{\"x\":2}"}}]},
                 "finish_reason": "tool_calls"}
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14}
        }))
        .unwrap()
    }

    #[test]
    fn replayed_chunks_aggregate_back_to_the_same_answer() {
        let original = completion();
        let chunks = completion_to_chunks(&original, true);
        assert!(chunks.iter().all(|c| c.object == "chat.completion.chunk"));
        let last = chunks.last().unwrap();
        assert!(last.choices.is_empty() && last.usage.is_some());
        let mut agg = StreamAggregator::new();
        for c in chunks {
            agg.push(c).unwrap();
        }
        let back = agg.finish();
        let v = |c: &ChatCompletion| serde_json::to_value(c).unwrap();
        assert_eq!(v(&back)["choices"], v(&original)["choices"]);
        assert_eq!(back.usage.unwrap().total_tokens, 14);
        assert_eq!(back.extra["system_fingerprint"], "fp");
    }

    #[test]
    fn usage_chunk_only_when_asked() {
        let chunks = completion_to_chunks(&completion(), false);
        assert!(chunks.iter().all(|c| c.usage.is_none()));
        assert_eq!(
            chunks.len(),
            6,
            "role, output, finish for each of two choices"
        );
    }
}
