//! Assemble a stream of chunks into one non-streaming response.
//!
//! Some vendor models answer only as a stream (DashScope's Qwen3 open-weight thinking
//! models, QwQ, QVQ, Omni). When a client asks such a model for a plain JSON reply, the
//! gateway streams from the vendor and folds the chunks into a [`ChatCompletion`] here:
//! text and reasoning concatenated, tool calls merged by index, audio fragments joined,
//! usage taken from wherever the vendor put it.

use serde_json::Value;

use crate::JsonMap;
use crate::chat::{
    ChatChunk, ChatCompletion, Choice, Content, FunctionCall, Message, Role, ToolCall,
};
use crate::dialect::{StreamNormalizer, choice_slot, tool_slot};
use crate::error::UpstreamError;
use crate::usage::TokenUsage;

/// Folds chunks into a completion; see the module docs.
#[derive(Debug, Default)]
pub struct StreamAggregator {
    norm: StreamNormalizer,
    id: String,
    created: u64,
    model: String,
    extra: JsonMap,
    choices: Vec<ChoiceAcc>,
}

#[derive(Debug, Default)]
struct ChoiceAcc {
    content: String,
    reasoning: String,
    audio: String,
    tool_calls: Vec<ToolCall>,
    finish_reason: Option<String>,
}

impl StreamAggregator {
    /// An empty aggregator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add one chunk; an error when it names a choice or tool call past the bounds of
    /// [`StreamNormalizer::apply`].
    pub fn push(&mut self, mut chunk: ChatChunk) -> Result<(), UpstreamError> {
        self.norm.apply(&mut chunk)?;
        if self.id.is_empty() {
            self.id = std::mem::take(&mut chunk.id);
            self.created = chunk.created;
            self.model = std::mem::take(&mut chunk.model);
            self.extra = std::mem::take(&mut chunk.extra);
        }
        for choice in chunk.choices {
            let idx = choice_slot(choice.index)?;
            if self.choices.len() <= idx {
                self.choices
                    .resize_with(idx.saturating_add(1), ChoiceAcc::default);
            }
            let Some(acc) = self.choices.get_mut(idx) else {
                continue;
            };
            let d = choice.delta;
            if let Some(t) = d.content {
                acc.content.push_str(&t);
            }
            if let Some(r) = d.reasoning_content {
                acc.reasoning.push_str(&r);
            }
            if let Some(data) = d
                .extra
                .get("audio")
                .and_then(|a| a.get("data"))
                .and_then(Value::as_str)
            {
                acc.audio.push_str(data);
            }
            for call in d.tool_calls.into_iter().flatten() {
                merge_call(&mut acc.tool_calls, call)?;
            }
            if choice.finish_reason.is_some() {
                acc.finish_reason = choice.finish_reason;
            }
        }
        Ok(())
    }

    /// Whether every choice seen so far has finished.
    pub fn finished(&self) -> bool {
        !self.choices.is_empty() && self.choices.iter().all(|c| c.finish_reason.is_some())
    }

    /// The vendor's usage, if it sent any.
    pub fn usage(&self) -> Option<TokenUsage> {
        self.norm.usage()
    }

    /// The assembled response, usage in OpenAI shape when the vendor sent it.
    pub fn finish(self) -> ChatCompletion {
        let usage = self.norm.usage().map(|u| u.to_wire());
        let choices = self
            .choices
            .into_iter()
            .enumerate()
            .map(|(i, acc)| {
                let mut extra = JsonMap::new();
                if !acc.audio.is_empty() {
                    extra.insert("audio".into(), serde_json::json!({ "data": acc.audio }));
                }
                let has_calls = !acc.tool_calls.is_empty();
                Choice {
                    index: u32::try_from(i).unwrap_or(u32::MAX),
                    message: Message {
                        role: Role::Assistant,
                        content: (!acc.content.is_empty() || !has_calls)
                            .then_some(Content::Text(acc.content)),
                        name: None,
                        tool_calls: has_calls.then_some(acc.tool_calls),
                        tool_call_id: None,
                        reasoning_content: (!acc.reasoning.is_empty()).then_some(acc.reasoning),
                        extra,
                    },
                    finish_reason: acc.finish_reason,
                    extra: JsonMap::new(),
                }
            })
            .collect();
        ChatCompletion {
            id: self.id,
            object: "chat.completion".into(),
            created: self.created,
            model: self.model,
            choices,
            usage,
            extra: self.extra,
        }
    }
}

fn merge_call(calls: &mut Vec<ToolCall>, delta: ToolCall) -> Result<(), UpstreamError> {
    let idx = tool_slot(delta.index.unwrap_or(0))?;
    if calls.len() <= idx {
        calls.resize_with(idx.saturating_add(1), ToolCall::default);
    }
    let Some(call) = calls.get_mut(idx) else {
        return Ok(());
    };
    if delta.id.is_some() {
        call.id = delta.id;
    }
    if delta.kind.is_some() {
        call.kind = delta.kind;
    }
    if let Some(f) = delta.function {
        let target = call.function.get_or_insert_with(FunctionCall::default);
        if let Some(name) = f.name.filter(|n| !n.is_empty()) {
            target.name = Some(name);
        }
        if let Some(args) = f.arguments {
            target
                .arguments
                .get_or_insert_with(String::new)
                .push_str(&args);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn push(agg: &mut StreamAggregator, v: Value) {
        agg.push(serde_json::from_value(v).unwrap()).unwrap();
    }

    #[test]
    fn huge_choice_or_tool_call_indices_are_refused_without_allocating() {
        let mut a = StreamAggregator::new();
        let c = serde_json::from_value(
            json!({"choices": [{"index": 4_000_000_000u32, "delta": {"content": "x"}}]}),
        )
        .unwrap();
        let e = a.push(c).unwrap_err();
        assert!(e.message.contains("choice index 4000000000"), "{e:?}");
        let c = serde_json::from_value(json!({"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 4_000_000_000u32, "id": "x", "function": {"name": "f"}}]}}]}))
        .unwrap();
        let e = a.push(c).unwrap_err();
        assert!(e.message.contains("tool call index"), "{e:?}");
        assert!(a.choices.len() <= 1);
    }

    #[test]
    fn text_reasoning_and_usage_are_assembled() {
        let mut a = StreamAggregator::new();
        push(
            &mut a,
            json!({"id": "c1", "created": 7, "model": "qwen3-32b", "system_fingerprint": null,
            "choices": [{"index": 0, "delta": {"role": "assistant", "reasoning_content": "think "}}]}),
        );
        push(
            &mut a,
            json!({"id": "c1", "choices": [{"index": 0, "delta": {"reasoning_content": "hard"}}]}),
        );
        push(
            &mut a,
            json!({"id": "c1", "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": "stop"}]}),
        );
        push(
            &mut a,
            json!({"id": "c1", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8,
            "completion_tokens_details": {"reasoning_tokens": 2}}}),
        );
        assert!(a.finished());
        let c = a.finish();
        assert_eq!(c.id, "c1");
        let m = &c.choices[0].message;
        assert_eq!(m.text_content(), "Hi");
        assert_eq!(m.reasoning_content.as_deref(), Some("think hard"));
        assert_eq!(c.choices[0].finish_reason.as_deref(), Some("stop"));
        assert_eq!(
            c.usage
                .unwrap()
                .completion_tokens_details
                .unwrap()
                .reasoning_tokens,
            Some(2)
        );
    }

    #[test]
    fn tool_call_fragments_merge_by_index() {
        let mut a = StreamAggregator::new();
        push(
            &mut a,
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "call_1", "type": "function", "function": {"name": "w", "arguments": "{\"ci"}}]}}]}),
        );
        push(
            &mut a,
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": "ty\":\"x\"}"}}]}, "finish_reason": "tool_calls"}]}),
        );
        let c = a.finish();
        let m = &c.choices[0].message;
        assert!(m.content.is_none());
        let call = &m.tool_calls.as_ref().unwrap()[0];
        assert_eq!(call.id.as_deref(), Some("call_1"));
        let args: Value = serde_json::from_str(
            call.function
                .as_ref()
                .unwrap()
                .arguments
                .as_deref()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(args["city"], "x");
    }

    #[test]
    fn audio_fragments_are_joined() {
        let mut a = StreamAggregator::new();
        push(
            &mut a,
            json!({"choices": [{"index": 0, "delta": {"audio": {"data": "UklG"}}}]}),
        );
        push(
            &mut a,
            json!({"choices": [{"index": 0, "delta": {"audio": {"data": "RiQA"}}, "finish_reason": "stop"}]}),
        );
        let c = a.finish();
        assert_eq!(c.choices[0].message.extra["audio"]["data"], "UklGRiQA");
    }

    #[test]
    fn unfinished_stream_is_not_finished() {
        let mut a = StreamAggregator::new();
        push(
            &mut a,
            json!({"choices": [{"index": 0, "delta": {"content": "partial"}}]}),
        );
        assert!(!a.finished());
    }
}
