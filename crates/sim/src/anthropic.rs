//! The vendors' Anthropic-compatible endpoints (`POST …/v1/messages` under DeepSeek's and
//! Kimi's `/anthropic`, DashScope's `/apps/anthropic`, Zhipu's `/api/anthropic`): the
//! Messages API's `message` body and its event stream, rendered from the same plan a
//! chat answer is, written here apart from the gateway's translation
//! (`wire::anthropic`) so that each checks the other.
//!
//! A stream is `message_start`, `ping`, then one block per kind of output — `thinking`
//! (with its `signature_delta` before it closes), `text`, or `tool_use` (its input as
//! `input_json_delta` pieces) — then `message_delta` with the stop reason and the usage,
//! and `message_stop`. Usage counts input without the cache hits, which come apart in
//! `cache_read_input_tokens`, as Anthropic counts.

use bytes::{BufMut, BytesMut};
use rand::rngs::SmallRng;
use serde_json::{Value, json};
use switchyard_wire::anthropic::MessagesRequest;
use switchyard_wire::{Dialect, TokenUsage};

use crate::failure::Failure;
use crate::generate::{self, ChoicePlan, Output};
use crate::render::Emitted;

/// The Anthropic-compatible path of `dialect`'s vendor, before `/v1/messages`; `None`
/// for vendors without one.
pub(crate) fn prefix(dialect: Dialect) -> Option<&'static str> {
    match dialect {
        Dialect::DeepSeek | Dialect::Moonshot | Dialect::MiniMax => Some("/anthropic"),
        Dialect::DashScope => Some("/apps/anthropic"),
        Dialect::Zhipu => Some("/api/anthropic"),
        Dialect::OpenRouter => Some("/api"),
        Dialect::OpenAi | Dialect::Ark | Dialect::SiliconFlow => None,
    }
}

/// The error body of the Messages API for `failure`: its status and JSON.
pub(crate) fn error_body(failure: &Failure) -> (http::StatusCode, Value) {
    use http::StatusCode as S;
    let (status, kind, message) = match failure {
        Failure::InvalidJson(m) => (S::BAD_REQUEST, "invalid_request_error", m.clone()),
        Failure::InvalidRequest(m) => (S::BAD_REQUEST, "invalid_request_error", m.clone()),
        Failure::MissingKey => (
            S::UNAUTHORIZED,
            "authentication_error",
            "x-api-key header is required".into(),
        ),
        Failure::InvalidKey => (
            S::UNAUTHORIZED,
            "authentication_error",
            "invalid x-api-key".into(),
        ),
        Failure::ModelNotFound(m) => (
            S::NOT_FOUND,
            "not_found_error",
            format!("model: {m} does not exist"),
        ),
        Failure::RouteNotFound(p) => (S::NOT_FOUND, "not_found_error", format!("no route {p}")),
        Failure::RateLimited => (
            S::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "rate limit exceeded".into(),
        ),
        Failure::Overloaded => (
            S::from_u16(529).unwrap_or(S::SERVICE_UNAVAILABLE),
            "overloaded_error",
            "Overloaded".into(),
        ),
        Failure::InsufficientBalance => (
            S::PAYMENT_REQUIRED,
            "billing_error",
            "insufficient balance".into(),
        ),
        Failure::ServerError => (
            S::INTERNAL_SERVER_ERROR,
            "api_error",
            "Internal server error".into(),
        ),
    };
    (
        status,
        json!({"type": "error", "error": {"type": kind, "message": message}}),
    )
}

/// A Messages request, read and checked as the vendors do, as the chat request the
/// simulator plans from.
pub(crate) fn chat_request(body: &[u8]) -> Result<switchyard_wire::ChatRequest, Failure> {
    let req: MessagesRequest =
        serde_json::from_slice(body).map_err(|e| Failure::InvalidJson(e.to_string()))?;
    req.validate(true)
        .and_then(|()| req.to_chat())
        .map_err(|e| Failure::invalid(e.to_string()))
}

/// What a block of the answer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Thinking,
    Text,
    Tool,
}

/// The events of one Messages answer, produced on demand (the same interface as
/// [`crate::render::Events`], so the stream driver paces either).
#[derive(Debug)]
pub(crate) struct MessagesEvents {
    id: String,
    model: String,
    plan: ChoicePlan,
    usage: TokenUsage,
    rng: SmallRng,
    /// Items: start, reasoning tokens, output items, finish.
    len: u32,
    /// The next item; `None` once done.
    step: Option<u32>,
    /// The open block and its index.
    open: Option<(Block, u32)>,
    next_block: u32,
}

impl MessagesEvents {
    /// The answer `plan` (the request's one choice) with `usage`, as model `model`.
    pub(crate) fn new(
        id: String,
        model: String,
        plan: ChoicePlan,
        usage: TokenUsage,
        rng: SmallRng,
    ) -> Self {
        let len = plan.items();
        MessagesEvents {
            id,
            model,
            plan,
            usage,
            rng,
            len,
            step: Some(0),
            open: None,
            next_block: 0,
        }
    }

    /// Token steps (everything but the start and the finish).
    pub(crate) fn decode_steps(&self) -> u32 {
        self.len.saturating_sub(2)
    }

    /// Model-output events (what `drop_after` counts).
    pub(crate) fn token_events(&self) -> u32 {
        self.decode_steps()
    }

    /// Step of the next event.
    pub(crate) fn step(&self) -> Option<u32> {
        self.step
    }

    /// Whether the next event is model output.
    pub(crate) fn next_is_token(&self) -> bool {
        self.step
            .is_some_and(|s| s > 0 && s.saturating_add(1) < self.len)
    }

    /// Usage as the Messages API counts it, with `output_tokens` so far.
    fn usage_json(&self, output_tokens: u64) -> Value {
        let u = &self.usage;
        json!({
            "input_tokens": u.prompt.saturating_sub(u.cached_prompt),
            "cache_read_input_tokens": u.cached_prompt,
            "cache_creation_input_tokens": 0,
            "output_tokens": output_tokens,
        })
    }

    fn stop_reason(&self) -> &'static str {
        match self.plan.finish_reason {
            "length" => "max_tokens",
            "tool_calls" => "tool_use",
            _ => "end_turn",
        }
    }

    /// Write the next event(s) into `buf`.
    pub(crate) fn write_next(&mut self, buf: &mut BytesMut) -> Emitted {
        let Some(step) = self.step else {
            return Emitted::End;
        };
        let emitted = if step == 0 {
            let message = json!({"id": self.id, "type": "message", "role": "assistant",
                "content": [], "model": self.model, "stop_reason": null, "stop_sequence": null,
                "usage": self.usage_json(1)});
            event(
                buf,
                "message_start",
                &json!({"type": "message_start", "message": message}),
            );
            event(buf, "ping", &json!({"type": "ping"}));
            Emitted::Other
        } else if step.saturating_add(1) >= self.len {
            self.close(buf);
            let delta = json!({"type": "message_delta",
                "delta": {"stop_reason": self.stop_reason(), "stop_sequence": null},
                "usage": self.usage_json(self.usage.completion)});
            event(buf, "message_delta", &delta);
            event(buf, "message_stop", &json!({"type": "message_stop"}));
            Emitted::Other
        } else {
            self.write_token(step, buf);
            Emitted::Token
        };
        self.step = (step.saturating_add(1) < self.len).then(|| step.saturating_add(1));
        emitted
    }

    /// Model output item `step` (1-based after the start).
    fn write_token(&mut self, step: u32, buf: &mut BytesMut) {
        if step <= self.plan.reasoning {
            self.ensure(Block::Thinking, buf);
            let word = generate::word(&mut self.rng);
            self.delta(buf, json!({"type": "thinking_delta", "thinking": word}));
            return;
        }
        let i = usize::try_from(step - self.plan.reasoning - 1).unwrap_or(0);
        match &self.plan.output {
            Output::Text(_) => {
                self.ensure(Block::Text, buf);
                let word = generate::word(&mut self.rng);
                self.delta(buf, json!({"type": "text_delta", "text": word}));
            }
            Output::Literal(text, _) => {
                let piece = text.piece(i).to_string();
                self.ensure(Block::Text, buf);
                self.delta(buf, json!({"type": "text_delta", "text": piece}));
            }
            Output::Tool(call) if i == 0 => {
                let start = json!({"type": "tool_use", "id": tool_id(&call.id),
                    "name": call.name, "input": {}});
                self.close(buf);
                self.begin(Block::Tool, start, buf);
            }
            Output::Tool(call) => {
                let piece = call.arguments.piece(i - 1).to_string();
                self.delta(
                    buf,
                    json!({"type": "input_json_delta", "partial_json": piece}),
                );
            }
        }
    }

    fn ensure(&mut self, block: Block, buf: &mut BytesMut) {
        if self.open.map(|(b, _)| b) == Some(block) {
            return;
        }
        self.close(buf);
        let start = match block {
            Block::Thinking => json!({"type": "thinking", "thinking": "", "signature": ""}),
            _ => json!({"type": "text", "text": ""}),
        };
        self.begin(block, start, buf);
    }

    fn begin(&mut self, block: Block, start: Value, buf: &mut BytesMut) {
        let index = self.next_block;
        self.next_block = self.next_block.saturating_add(1);
        self.open = Some((block, index));
        event(
            buf,
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": start}),
        );
    }

    fn delta(&self, buf: &mut BytesMut, delta: Value) {
        if let Some((_, index)) = self.open {
            event(
                buf,
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": index, "delta": delta}),
            );
        }
    }

    fn close(&mut self, buf: &mut BytesMut) {
        if let Some((block, index)) = self.open.take() {
            if block == Block::Thinking {
                self.open = Some((block, index));
                self.delta(
                    buf,
                    json!({"type": "signature_delta", "signature": signature(&self.id)}),
                );
                self.open = None;
            }
            event(
                buf,
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": index}),
            );
        }
    }

    /// The whole `message` body.
    pub(crate) fn write_completion(&mut self, buf: &mut BytesMut) {
        let mut content = Vec::new();
        if self.plan.reasoning > 0 {
            let mut s = String::new();
            generate::push_words(&mut s, self.plan.reasoning, &mut self.rng);
            content
                .push(json!({"type": "thinking", "thinking": s, "signature": signature(&self.id)}));
        }
        match &self.plan.output {
            Output::Text(n) => {
                let mut s = String::new();
                generate::push_words(&mut s, *n, &mut self.rng);
                content.push(json!({"type": "text", "text": s}));
            }
            Output::Literal(text, _) => content.push(json!({"type": "text", "text": text.text})),
            Output::Tool(call) => {
                let input: Value =
                    serde_json::from_str(&call.arguments.text).unwrap_or_else(|_| json!({}));
                content.push(json!({"type": "tool_use", "id": tool_id(&call.id),
                    "name": call.name, "input": input}));
            }
        }
        let body = json!({"id": self.id, "type": "message", "role": "assistant",
            "content": content, "model": self.model, "stop_reason": self.stop_reason(),
            "stop_sequence": null, "usage": self.usage_json(self.usage.completion)});
        let _ = serde_json::to_writer(buf.writer(), &body);
        self.step = None;
    }
}

/// `toolu_…` from the plan's `call_…` id.
fn tool_id(call_id: &str) -> String {
    format!("toolu_{}", call_id.trim_start_matches("call_"))
}

/// A signature for a thinking block (opaque; the vendors sign theirs).
fn signature(id: &str) -> String {
    format!("sig-{id}")
}

/// Append one named event.
fn event(buf: &mut BytesMut, name: &str, data: &Value) {
    buf.extend_from_slice(b"event: ");
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(b"\ndata: ");
    let _ = serde_json::to_writer(buf.writer(), data);
    buf.extend_from_slice(b"\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::request_rng;

    fn plan(reasoning: u32, output: Output, finish: &'static str) -> ChoicePlan {
        ChoicePlan {
            reasoning,
            output,
            finish_reason: finish,
        }
    }

    fn stream(p: ChoicePlan) -> Vec<(String, Value)> {
        let usage = TokenUsage {
            prompt: 10,
            cached_prompt: 4,
            completion: p.completion_tokens(),
            reasoning: u64::from(p.reasoning),
        };
        let mut e = MessagesEvents::new("msg_1".into(), "m".into(), p, usage, request_rng(1, 1));
        let mut buf = BytesMut::new();
        while e.write_next(&mut buf) != Emitted::End {}
        let text = String::from_utf8(buf.to_vec()).unwrap();
        text.split("\n\n")
            .filter(|b| !b.is_empty())
            .map(|b| {
                let mut lines = b.lines();
                let name = lines
                    .next()
                    .unwrap()
                    .trim_start_matches("event: ")
                    .to_string();
                let data = lines.next().unwrap().trim_start_matches("data: ");
                (name, serde_json::from_str(data).unwrap())
            })
            .collect()
    }

    #[test]
    fn thinking_then_text_in_two_blocks_with_the_usage_at_the_end() {
        let ev = stream(plan(2, Output::Text(3), "stop"));
        let names: Vec<&str> = ev.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names[..3], ["message_start", "ping", "content_block_start"]);
        assert_eq!(ev[2].1["content_block"]["type"], "thinking");
        let sig = ev
            .iter()
            .position(|(_, d)| d["delta"]["type"] == "signature_delta")
            .unwrap();
        assert_eq!(ev[sig + 1].0, "content_block_stop");
        assert_eq!(ev[sig + 2].1["content_block"]["type"], "text");
        let delta = &ev[ev.len() - 2].1;
        assert_eq!(delta["delta"]["stop_reason"], "end_turn");
        assert_eq!(delta["usage"]["input_tokens"], 6);
        assert_eq!(delta["usage"]["cache_read_input_tokens"], 4);
        assert_eq!(delta["usage"]["output_tokens"], 5);
        assert_eq!(ev.last().unwrap().0, "message_stop");
        let texts = ev
            .iter()
            .filter(|(_, d)| d["delta"]["type"] == "text_delta")
            .count();
        assert_eq!(texts, 3);
    }
}
