//! A whole Chat Completions answer as a Messages API `message`.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::chat::ChatCompletion;
use crate::usage::TokenUsage;

/// The Messages API response body (`"type":"message"`).
#[derive(Debug, Clone, Serialize)]
pub struct OutMessage {
    /// `msg_…`.
    pub id: String,
    /// `"message"`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `"assistant"`.
    pub role: &'static str,
    /// Thinking, text and tool-use blocks, in that order.
    pub content: Vec<OutBlock>,
    /// The model that answered.
    pub model: String,
    /// `end_turn`, `max_tokens`, `tool_use`, `stop_sequence` or `refusal`.
    pub stop_reason: Option<&'static str>,
    /// The stop sequence that ended the answer (Chat Completions never says which).
    pub stop_sequence: Option<String>,
    /// Token counts.
    pub usage: OutUsage,
}

/// A content block of an answer.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutBlock {
    /// Reasoning.
    Thinking {
        /// The reasoning text.
        thinking: String,
        /// Empty: a translated upstream signs nothing.
        signature: String,
    },
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// A tool call.
    ToolUse {
        /// Call id.
        id: String,
        /// Tool name.
        name: String,
        /// Arguments, as a JSON object.
        input: Value,
    },
}

/// `usage`, as the Messages API counts: `input_tokens` leaves out the tokens read from
/// the cache, which are counted apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutUsage {
    /// Prompt tokens not read from the cache.
    pub input_tokens: u64,
    /// Output tokens, reasoning included.
    pub output_tokens: u64,
    /// Prompt tokens read from the cache.
    pub cache_read_input_tokens: u64,
    /// Prompt tokens written to the cache (Chat Completions upstreams never say: 0).
    pub cache_creation_input_tokens: u64,
}

impl From<TokenUsage> for OutUsage {
    fn from(u: TokenUsage) -> Self {
        OutUsage {
            input_tokens: u.prompt.saturating_sub(u.cached_prompt),
            output_tokens: u.completion,
            cache_read_input_tokens: u.cached_prompt,
            cache_creation_input_tokens: 0,
        }
    }
}

/// The Messages API's `stop_reason` for a Chat Completions `finish_reason`.
pub fn stop_reason(finish: Option<&str>) -> &'static str {
    match finish {
        Some("length") => "max_tokens",
        Some("tool_calls" | "function_call") => "tool_use",
        Some("content_filter" | "sensitive") => "refusal",
        _ => "end_turn",
    }
}

/// A message id from a Chat Completions id: `msg_` and the id's letters and digits (an
/// id that already starts with `msg_` keeps it once).
pub fn message_id(chat_id: &str) -> String {
    // A passed-through answer's id already is one.
    let rest = chat_id.strip_prefix("msg_").unwrap_or(chat_id);
    let mut id = String::with_capacity(rest.len().saturating_add(4));
    id.push_str("msg_");
    id.extend(rest.chars().filter(char::is_ascii_alphanumeric).take(64));
    id
}

/// A tool call's JSON-encoded arguments as the object the Messages API carries; text
/// that is not a JSON object (a vendor's slip) is kept under `_raw` rather than lost.
pub fn tool_input(arguments: Option<&str>) -> Value {
    let raw = arguments.unwrap_or("").trim();
    if raw.is_empty() {
        return Value::Object(Map::new());
    }
    match serde_json::from_str::<Value>(raw) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            let mut m = Map::new();
            m.insert("_raw".into(), Value::String(raw.to_string()));
            Value::Object(m)
        }
    }
}

impl OutMessage {
    /// The first choice of `c` as a message.
    pub fn from_completion(c: &ChatCompletion) -> Self {
        let mut content = Vec::new();
        let choice = c.choices.first();
        let msg = choice.map(|ch| &ch.message);
        if let Some(r) = msg
            .and_then(|m| m.reasoning_content.as_deref())
            .filter(|r| !r.is_empty())
        {
            // A passed-through request's thinking keeps the vendor's signature.
            let signature = msg
                .and_then(|m| m.extra.get("signature"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            content.push(OutBlock::Thinking {
                thinking: r.to_string(),
                signature: signature.to_string(),
            });
        }
        let text = msg.map(|m| m.text_content()).unwrap_or_default();
        if !text.is_empty() {
            content.push(OutBlock::Text { text });
        }
        for call in msg.and_then(|m| m.tool_calls.as_deref()).unwrap_or(&[]) {
            let f = call.function.as_ref();
            content.push(OutBlock::ToolUse {
                id: call.id.clone().unwrap_or_default(),
                name: f.and_then(|f| f.name.clone()).unwrap_or_default(),
                input: tool_input(f.and_then(|f| f.arguments.as_deref())),
            });
        }
        let usage = c.usage.as_ref().map(|u| u.normalize()).unwrap_or_default();
        OutMessage {
            id: message_id(&c.id),
            kind: "message",
            role: "assistant",
            content,
            model: c.model.clone(),
            stop_reason: Some(stop_reason(
                choice.and_then(|ch| ch.finish_reason.as_deref()),
            )),
            stop_sequence: None,
            usage: usage.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_completion_becomes_a_message_with_blocks_in_order() {
        let c: ChatCompletion = serde_json::from_value(json!({
            "id": "chatcmpl-1a2b", "object": "chat.completion", "created": 1, "model": "deepseek-v4-flash",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": "let me look", "reasoning_content": "hmm",
                "tool_calls": [{"id": "call_1", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
                "prompt_tokens_details": {"cached_tokens": 60}}
        }))
        .unwrap();
        let m = serde_json::to_value(OutMessage::from_completion(&c)).unwrap();
        assert_eq!(m["id"], "msg_chatcmpl1a2b");
        assert_eq!(m["type"], "message");
        assert_eq!(m["stop_reason"], "tool_use");
        assert_eq!(m["content"][0]["type"], "thinking");
        assert_eq!(
            m["content"][1],
            json!({"type": "text", "text": "let me look"})
        );
        assert_eq!(m["content"][2]["input"], json!({"city": "Paris"}));
        assert_eq!(
            m["usage"],
            json!({"input_tokens": 40, "output_tokens": 20, "cache_read_input_tokens": 60,
                "cache_creation_input_tokens": 0})
        );
    }

    #[test]
    fn finish_reasons_map_to_stop_reasons() {
        assert_eq!(stop_reason(Some("stop")), "end_turn");
        assert_eq!(stop_reason(Some("length")), "max_tokens");
        assert_eq!(stop_reason(Some("content_filter")), "refusal");
        assert_eq!(stop_reason(None), "end_turn");
    }

    #[test]
    fn arguments_that_are_not_an_object_are_kept() {
        assert_eq!(tool_input(Some("[1")), json!({"_raw": "[1"}));
        assert_eq!(tool_input(None), json!({}));
    }
}
