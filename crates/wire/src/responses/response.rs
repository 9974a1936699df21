//! The Responses API `response` object: what the request set, echoed ([`Echo`]), the
//! output items, the status and the usage; and a whole Chat Completions answer as one.

use serde_json::{Map, Value, json};

use super::request::ResponsesRequest;
use crate::chat::ChatCompletion;
use crate::usage::TokenUsage;

/// What a response echoes of its request.
#[derive(Debug, Clone, Default)]
pub struct Echo {
    fields: Map<String, Value>,
}

impl Echo {
    /// The fields of `req` a response repeats, with the API's defaults.
    pub fn of(req: &ResponsesRequest) -> Self {
        let mut f = Map::new();
        f.insert("instructions".into(), json!(req.instructions));
        f.insert("tools".into(), json!(req.tools.clone().unwrap_or_default()));
        f.insert(
            "tool_choice".into(),
            req.tool_choice.clone().unwrap_or_else(|| json!("auto")),
        );
        f.insert(
            "parallel_tool_calls".into(),
            json!(req.parallel_tool_calls.unwrap_or(true)),
        );
        f.insert("temperature".into(), json!(req.temperature));
        f.insert("top_p".into(), json!(req.top_p));
        f.insert("max_output_tokens".into(), json!(req.max_output_tokens));
        f.insert(
            "text".into(),
            req.text
                .clone()
                .unwrap_or_else(|| json!({"format": {"type": "text"}})),
        );
        f.insert(
            "reasoning".into(),
            req.reasoning.clone().unwrap_or(Value::Null),
        );
        f.insert(
            "metadata".into(),
            req.metadata.clone().unwrap_or_else(|| json!({})),
        );
        f.insert("store".into(), json!(false));
        f.insert("truncation".into(), json!("disabled"));
        f.insert("previous_response_id".into(), Value::Null);
        Echo { fields: f }
    }
}

/// How a response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Still being written (a stream's first events).
    InProgress,
    /// Whole.
    Completed,
    /// Cut short: at `max_output_tokens`, or by a content filter.
    Incomplete(&'static str),
    /// Failed mid-stream.
    Failed,
}

impl Status {
    /// The status for a Chat Completions `finish_reason`.
    pub fn of_finish(finish: Option<&str>) -> Self {
        match finish {
            Some("length") => Status::Incomplete("max_output_tokens"),
            Some("content_filter" | "sensitive") => Status::Incomplete("content_filter"),
            _ => Status::Completed,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Status::InProgress => "in_progress",
            Status::Completed => "completed",
            Status::Incomplete(_) => "incomplete",
            Status::Failed => "failed",
        }
    }
}

/// The parts of a response that change while it is written.
#[derive(Debug, Clone)]
pub struct Written<'a> {
    /// `resp_…`.
    pub id: &'a str,
    /// Unix seconds.
    pub created_at: u64,
    /// The model that answers.
    pub model: &'a str,
    /// Its status.
    pub status: Status,
    /// The output items so far.
    pub output: &'a [Value],
    /// Usage, once known.
    pub usage: Option<TokenUsage>,
    /// `{"code", "message"}` of a failure.
    pub error: Option<Value>,
}

/// The `response` object.
pub fn response_object(w: &Written<'_>, echo: &Echo) -> Value {
    let mut obj = echo.fields.clone();
    obj.insert("id".into(), json!(w.id));
    obj.insert("object".into(), json!("response"));
    obj.insert("created_at".into(), json!(w.created_at));
    obj.insert("model".into(), json!(w.model));
    obj.insert("status".into(), json!(w.status.name()));
    obj.insert("output".into(), json!(w.output));
    obj.insert("error".into(), w.error.clone().unwrap_or(Value::Null));
    obj.insert(
        "incomplete_details".into(),
        match w.status {
            Status::Incomplete(reason) => json!({ "reason": reason }),
            _ => Value::Null,
        },
    );
    obj.insert("usage".into(), w.usage.map_or(Value::Null, usage_json));
    Value::Object(obj)
}

/// `usage` as the Responses API reports it.
pub fn usage_json(u: TokenUsage) -> Value {
    json!({
        "input_tokens": u.prompt,
        "input_tokens_details": {"cached_tokens": u.cached_prompt, "cache_write_tokens": 0},
        "output_tokens": u.completion,
        "output_tokens_details": {"reasoning_tokens": u.reasoning},
        "total_tokens": u.total(),
    })
}

/// An id for an item or response: `prefix` and the letters and digits of `seed`.
pub fn item_id(prefix: &str, seed: &str) -> String {
    let mut id = String::with_capacity(prefix.len().saturating_add(seed.len()));
    id.push_str(prefix);
    id.extend(seed.chars().filter(char::is_ascii_alphanumeric).take(64));
    id
}

/// A reasoning item holding `text`.
pub fn reasoning_item(id: &str, text: &str, status: &str) -> Value {
    json!({"type": "reasoning", "id": id, "summary": [],
        "content": [{"type": "reasoning_text", "text": text}], "status": status})
}

/// An assistant message item holding `text`.
pub fn message_item(id: &str, text: &str, status: &str) -> Value {
    json!({"type": "message", "id": id, "status": status, "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]})
}

/// A function call item.
pub fn call_item(id: &str, call_id: &str, name: &str, arguments: &str, status: &str) -> Value {
    json!({"type": "function_call", "id": id, "call_id": call_id, "name": name,
        "arguments": arguments, "status": status})
}

/// A whole chat answer as a response, created at `created_at`.
pub fn from_completion(c: &ChatCompletion, echo: &Echo, created_at: u64) -> Value {
    let choice = c.choices.first();
    let msg = choice.map(|ch| &ch.message);
    let mut output = Vec::new();
    if let Some(r) = msg
        .and_then(|m| m.reasoning_content.as_deref())
        .filter(|r| !r.is_empty())
    {
        output.push(reasoning_item(&item_id("rs_", &c.id), r, "completed"));
    }
    let text = msg.map(|m| m.text_content()).unwrap_or_default();
    if !text.is_empty() {
        output.push(message_item(&item_id("msg_", &c.id), &text, "completed"));
    }
    for call in msg.and_then(|m| m.tool_calls.as_deref()).unwrap_or(&[]) {
        let f = call.function.as_ref();
        let call_id = call.id.as_deref().unwrap_or_default();
        output.push(call_item(
            &item_id("fc_", call_id),
            call_id,
            f.and_then(|f| f.name.as_deref()).unwrap_or_default(),
            f.and_then(|f| f.arguments.as_deref()).unwrap_or("{}"),
            "completed",
        ));
    }
    let id = item_id("resp_", &c.id);
    let written = Written {
        id: &id,
        created_at,
        model: &c.model,
        status: Status::of_finish(choice.and_then(|ch| ch.finish_reason.as_deref())),
        output: &output,
        usage: Some(c.usage.as_ref().map(|u| u.normalize()).unwrap_or_default()),
        error: None,
    };
    response_object(&written, echo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_completion_becomes_a_response_with_items_usage_and_echo() {
        let req: ResponsesRequest = serde_json::from_value(json!({"model": "m", "input": "hi",
            "instructions": "be brief", "max_output_tokens": 20}))
        .unwrap();
        let c: ChatCompletion = serde_json::from_value(json!({
            "id": "chatcmpl-9", "object": "chat.completion", "created": 1, "model": "glm-4.6",
            "choices": [{"index": 0, "finish_reason": "length", "message": {"role": "assistant",
                "content": "Hello", "reasoning_content": "think",
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30,
                "completion_tokens_details": {"reasoning_tokens": 5}}
        }))
        .unwrap();
        let r = from_completion(&c, &Echo::of(&req), 7);
        assert_eq!(r["id"], "resp_chatcmpl9");
        assert_eq!(r["object"], "response");
        assert_eq!(r["status"], "incomplete");
        assert_eq!(r["incomplete_details"]["reason"], "max_output_tokens");
        let kinds: Vec<&str> = r["output"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["type"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["reasoning", "message", "function_call"]);
        assert_eq!(r["output"][1]["content"][0]["text"], "Hello");
        assert_eq!(r["output"][2]["call_id"], "call_1");
        assert_eq!(r["usage"]["output_tokens_details"]["reasoning_tokens"], 5);
        assert_eq!(r["usage"]["total_tokens"], 30);
        assert_eq!(r["instructions"], "be brief");
        assert_eq!(r["max_output_tokens"], 20);
        assert_eq!(r["store"], false);
    }
}
