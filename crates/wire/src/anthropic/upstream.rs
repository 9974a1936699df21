//! A vendor's Anthropic-compatible endpoint read as Chat Completions: when a Messages
//! request is passed through to the vendor's own `/v1/messages`, its answer — a
//! `message`, or its event stream — is read into the chat shapes the gateway's relay,
//! usage accounting and failover already understand, then re-told to the client by
//! [`super::events`] / [`super::message`]. What Chat Completions has no field for rides
//! along: a thinking block's `signature` (as `signature` on the delta or message), and the
//! cache writes count as prompt tokens.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::chat::{ChatCompletion, Choice, FunctionCall, Message, Role, ToolCall};
use crate::sse::{SseEvent, write_comment, write_event};
use crate::usage::{TokenDetails, Usage};

/// `usage` as the Messages API counts it.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct InUsage {
    /// Prompt tokens not read from the cache.
    #[serde(default)]
    pub input_tokens: Option<u64>,
    /// Output tokens.
    #[serde(default)]
    pub output_tokens: Option<u64>,
    /// Prompt tokens read from the cache.
    #[serde(default)]
    pub cache_read_input_tokens: Option<u64>,
    /// Prompt tokens written to the cache.
    #[serde(default)]
    pub cache_creation_input_tokens: Option<u64>,
}

impl InUsage {
    /// Later figures over earlier ones (a `message_delta`'s are cumulative).
    fn merge(&mut self, later: InUsage) {
        self.input_tokens = later.input_tokens.or(self.input_tokens);
        self.output_tokens = later.output_tokens.or(self.output_tokens);
        self.cache_read_input_tokens = later
            .cache_read_input_tokens
            .or(self.cache_read_input_tokens);
        self.cache_creation_input_tokens = later
            .cache_creation_input_tokens
            .or(self.cache_creation_input_tokens);
    }

    /// In Chat Completions terms: every prompt token counts, the cache reads apart.
    pub fn to_chat(self) -> Usage {
        let cached = self.cache_read_input_tokens.unwrap_or(0);
        let prompt = self
            .input_tokens
            .unwrap_or(0)
            .saturating_add(cached)
            .saturating_add(self.cache_creation_input_tokens.unwrap_or(0));
        let completion = self.output_tokens.unwrap_or(0);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt.saturating_add(completion),
            prompt_tokens_details: Some(TokenDetails {
                cached_tokens: Some(cached),
                ..TokenDetails::default()
            }),
            ..Usage::default()
        }
    }
}

/// The Chat Completions `finish_reason` for a Messages `stop_reason`.
pub fn finish_reason(stop: Option<&str>) -> &'static str {
    match stop {
        Some("max_tokens" | "model_context_window_exceeded") => "length",
        Some("tool_use") => "tool_calls",
        Some("refusal") => "content_filter",
        _ => "stop",
    }
}

/// A `message` body as a chat completion.
pub fn completion_from_message(text: &str) -> Result<ChatCompletion, String> {
    #[derive(Deserialize)]
    struct In {
        #[serde(default)]
        id: String,
        #[serde(default)]
        model: String,
        #[serde(default)]
        content: Vec<Value>,
        #[serde(default)]
        stop_reason: Option<String>,
        #[serde(default)]
        usage: InUsage,
    }
    let m: In = serde_json::from_str(text)
        .map_err(|e| format!("the vendor's answer is not a message ({e})"))?;
    let (mut texts, mut thinking, mut calls) = (String::new(), String::new(), Vec::new());
    let mut signature = None;
    for block in &m.content {
        let s = |k: &str| block.get(k).and_then(Value::as_str).unwrap_or_default();
        match s("type") {
            "text" => texts.push_str(s("text")),
            "thinking" => {
                thinking.push_str(s("thinking"));
                signature = block.get("signature").filter(|v| v.is_string()).cloned();
            }
            "tool_use" => calls.push(ToolCall {
                index: Some(u32::try_from(calls.len()).unwrap_or(u32::MAX)),
                id: Some(s("id").to_string()),
                kind: Some("function".into()),
                function: Some(FunctionCall {
                    name: Some(s("name").to_string()),
                    arguments: Some(
                        block
                            .get("input")
                            .map_or_else(|| "{}".into(), Value::to_string),
                    ),
                }),
                extra: Map::new(),
            }),
            _ => {}
        }
    }
    let mut message = Message::text(Role::Assistant, texts);
    message.reasoning_content = (!thinking.is_empty()).then_some(thinking);
    message.tool_calls = (!calls.is_empty()).then_some(calls);
    if let Some(sig) = signature {
        message.extra.insert("signature".into(), sig);
    }
    Ok(ChatCompletion {
        id: m.id,
        object: "chat.completion".into(),
        created: 0,
        model: m.model,
        choices: vec![Choice {
            index: 0,
            message,
            finish_reason: Some(finish_reason(m.stop_reason.as_deref()).into()),
            extra: Map::new(),
        }],
        usage: Some(m.usage.to_chat()),
        extra: Map::new(),
    })
}

/// Reads a Messages event stream as chat SSE (see the module doc). Feed it each event;
/// it appends `data: {chunk}` lines (and `data: [DONE]` after `message_stop`).
#[derive(Debug, Default)]
pub struct ChunkReader {
    id: String,
    model: String,
    usage: InUsage,
    stop: Option<String>,
    /// Chat tool-call index of each content block that is a tool use.
    tools: Vec<(u64, u32)>,
    /// Tool calls seen.
    calls: u32,
    done: bool,
}

impl ChunkReader {
    /// A reader for a new stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// One event of the vendor's stream, appended to `out` as chat SSE.
    pub fn event(&mut self, ev: &SseEvent, out: &mut Vec<u8>) {
        let (name, data) = match ev {
            SseEvent::Comment(c) => return write_comment(out, c),
            SseEvent::Data { event, data } => (event.as_deref(), data),
        };
        let Ok(v) = serde_json::from_str::<Value>(data) else {
            return self.error("the vendor sent an event that is not JSON", out);
        };
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .or(name)
            .unwrap_or_default();
        match kind {
            "message_start" => self.start(&v, out),
            "content_block_start" => self.block_start(&v, out),
            "content_block_delta" => self.delta(&v, out),
            "message_delta" => {
                if let Some(u) = v.get("usage").and_then(|u| InUsage::deserialize(u).ok()) {
                    self.usage.merge(u);
                }
                self.stop = v
                    .get("delta")
                    .and_then(|d| d.get("stop_reason"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
            }
            "message_stop" => self.stop(out),
            "error" => {
                let message = v
                    .get("error")
                    .and_then(|e| e.get("message"))
                    .and_then(Value::as_str)
                    .unwrap_or("the vendor's stream failed");
                self.error(message, out);
            }
            "ping" => out.extend_from_slice(b": ping\n\n"),
            // content_block_stop, and events added after this was written.
            _ => {}
        }
    }

    fn start(&mut self, v: &Value, out: &mut Vec<u8>) {
        let m = v.get("message");
        let s = |k: &str| {
            m.and_then(|m| m.get(k))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        self.id = s("id");
        self.model = s("model");
        if let Some(u) = m
            .and_then(|m| m.get("usage"))
            .and_then(|u| InUsage::deserialize(u).ok())
        {
            self.usage.merge(u);
        }
        self.chunk(json!({"role": "assistant", "content": ""}), None, out);
    }

    fn block_start(&mut self, v: &Value, out: &mut Vec<u8>) {
        let block = v.get("content_block");
        if block.and_then(|b| b.get("type")).and_then(Value::as_str) != Some("tool_use") {
            return;
        }
        let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
        let call = self.calls;
        self.calls = self.calls.saturating_add(1);
        self.tools.push((index, call));
        let s = |k: &str| block.and_then(|b| b.get(k)).cloned().unwrap_or(json!(""));
        let delta = json!({"tool_calls": [{"index": call, "id": s("id"), "type": "function",
            "function": {"name": s("name"), "arguments": ""}}]});
        self.chunk(delta, None, out);
    }

    fn delta(&mut self, v: &Value, out: &mut Vec<u8>) {
        let Some(d) = v.get("delta") else {
            return;
        };
        let s = |k: &str| d.get(k).cloned().unwrap_or(json!(""));
        let delta = match d.get("type").and_then(Value::as_str) {
            Some("text_delta") => json!({"content": s("text")}),
            Some("thinking_delta") => json!({"reasoning_content": s("thinking")}),
            Some("signature_delta") => json!({"signature": s("signature")}),
            Some("input_json_delta") => {
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                let Some(&(_, call)) = self.tools.iter().find(|(i, _)| *i == index) else {
                    return;
                };
                json!({"tool_calls": [{"index": call, "function": {"arguments": s("partial_json")}}]})
            }
            _ => return,
        };
        self.chunk(delta, None, out);
    }

    fn stop(&mut self, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        let usage = serde_json::to_value(self.usage.to_chat()).unwrap_or(Value::Null);
        let finish = finish_reason(self.stop.as_deref());
        self.chunk(json!({}), Some((finish, usage)), out);
        out.extend_from_slice(b"data: [DONE]\n\n");
        self.done = true;
    }

    fn error(&mut self, message: &str, out: &mut Vec<u8>) {
        let body = json!({"error": {"message": message, "type": "upstream_error"}});
        write(out, &body);
        self.done = true;
    }

    /// One chat chunk with `delta` (and, at the end, the finish reason and usage).
    fn chunk(&self, delta: Value, end: Option<(&str, Value)>, out: &mut Vec<u8>) {
        let mut choice = json!({"index": 0, "delta": delta});
        let mut chunk = json!({"id": self.id, "object": "chat.completion.chunk",
            "created": 0, "model": self.model});
        if let (Some((finish, usage)), Some(c), Some(obj)) =
            (end, choice.as_object_mut(), chunk.as_object_mut())
        {
            c.insert("finish_reason".into(), json!(finish));
            obj.insert("usage".into(), usage);
        }
        if let Some(obj) = chunk.as_object_mut() {
            obj.insert("choices".into(), json!([choice]));
        }
        write(out, &chunk);
    }
}

fn write(out: &mut Vec<u8>, v: &Value) {
    write_event(out, None, v);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::ChatChunk;
    use crate::sse::SseParser;

    #[test]
    fn a_message_becomes_a_completion_with_all_its_prompt_tokens() {
        let c = completion_from_message(r#"{"id":"msg_1","type":"message","model":"m",
            "content":[{"type":"thinking","thinking":"hm","signature":"sig"},
                {"type":"text","text":"Hi"},
                {"type":"tool_use","id":"toolu_1","name":"f","input":{"a":1}}],
            "stop_reason":"tool_use",
            "usage":{"input_tokens":10,"cache_read_input_tokens":30,"cache_creation_input_tokens":5,"output_tokens":7}}"#)
            .unwrap();
        let m = &c.choices[0].message;
        assert_eq!(m.text_content(), "Hi");
        assert_eq!(m.reasoning_content.as_deref(), Some("hm"));
        assert_eq!(m.extra["signature"], "sig");
        let call = &m.tool_calls.as_ref().unwrap()[0];
        assert_eq!(
            call.function.as_ref().unwrap().arguments.as_deref(),
            Some("{\"a\":1}")
        );
        assert_eq!(c.choices[0].finish_reason.as_deref(), Some("tool_calls"));
        let u = c.usage.unwrap().normalize();
        assert_eq!((u.prompt, u.cached_prompt, u.completion), (45, 30, 7));
    }

    #[test]
    fn an_event_stream_becomes_chat_chunks_ending_with_usage_and_done() {
        let events = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"m\",\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\n\
            event: ping\ndata: {\"type\":\"ping\"}\n\n\
            event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n\
            event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hm\"}}\n\n\
            event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"sig\"}}\n\n\
            event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"f\",\"input\":{}}}\n\n\
            event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}\n\n\
            event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":12}}\n\n\
            event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
        let mut p = SseParser::new();
        p.push(events.as_bytes()).unwrap();
        let mut r = ChunkReader::new();
        let mut out = Vec::new();
        while let Some(ev) = p.next_event().unwrap() {
            r.event(&ev, &mut out);
        }
        let mut back = SseParser::new();
        back.push(&out).unwrap();
        let mut chunks = Vec::new();
        let mut done = false;
        while let Some(ev) = back.next_event().unwrap() {
            if let SseEvent::Data { data, .. } = ev {
                if data == "[DONE]" {
                    done = true;
                } else {
                    chunks.push(serde_json::from_str::<ChatChunk>(&data).unwrap());
                }
            }
        }
        assert!(done);
        assert_eq!(
            chunks[1].choices[0].delta.reasoning_content.as_deref(),
            Some("hm")
        );
        assert_eq!(chunks[2].choices[0].delta.extra["signature"], "sig");
        let call = &chunks[3].choices[0].delta.tool_calls.as_ref().unwrap()[0];
        assert_eq!(call.id.as_deref(), Some("toolu_1"));
        let last = chunks.last().unwrap();
        assert_eq!(last.choices[0].finish_reason.as_deref(), Some("tool_calls"));
        let u = last.usage.as_ref().unwrap().normalize();
        assert_eq!((u.prompt, u.completion), (9, 12));
    }
}
