//! Vendor dialects of "OpenAI-compatible": what each one needs changed on the way in,
//! where each one hides usage on the way out, and how each one spells its errors.
//!
//! Each vendor has one file that holds everything true of that vendor alone (request
//! rewrites, error classification, its part of stream and usage normalisation), with its
//! tests and, in its module doc, its facts from `shared/reference/providers.md`:
//! `openai.rs` (plain OpenAI-compatible), `deepseek.rs`, `dashscope.rs` (Qwen),
//! `moonshot.rs` (Kimi), `zhipu.rs` (GLM), and the resellers and aggregators: `ark.rs`
//! (Volcengine Ark / BytePlus), `siliconflow.rs`, `minimax.rs` and `openrouter.rs`.
//!
//! This file holds what they share: the closed [`Dialect`] enum and its names, the
//! [`Adjustment`] report, the `Vendor` contract each vendor file fulfils and the dispatch
//! to it, the reading of an error body, the bounds on stream indices, the per-stream
//! [`StreamNormalizer`] and [`normalize_completion`]. A stream is normalised the same way
//! whatever its dialect: every vendor's quirk is undone on every stream, as it costs
//! nothing where the quirk is absent.

mod ark;
mod dashscope;
mod deepseek;
mod minimax;
mod moonshot;
mod openai;
mod openrouter;
mod siliconflow;
mod zhipu;

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use crate::chat::{ChatChunk, ChatCompletion, ChatRequest, Role, StreamOptions};
use crate::error::{ErrorKind, UpstreamError};
use crate::usage::TokenUsage;

pub use deepseek::REASONING_PLACEHOLDER;

/// One vendor dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// Plain OpenAI-compatible (OpenAI, vLLM, SGLang, llama.cpp, …).
    OpenAi,
    /// DeepSeek.
    DeepSeek,
    /// Alibaba Model Studio / DashScope compatible mode (Qwen).
    DashScope,
    /// Moonshot (Kimi).
    Moonshot,
    /// Zhipu BigModel / Z.ai (GLM).
    Zhipu,
    /// Volcengine Ark / BytePlus ModelArk.
    Ark,
    /// SiliconFlow.
    SiliconFlow,
    /// MiniMax.
    MiniMax,
    /// OpenRouter.
    OpenRouter,
}

/// All dialects, in a stable order.
pub const ALL_DIALECTS: [Dialect; 9] = [
    Dialect::OpenAi,
    Dialect::DeepSeek,
    Dialect::DashScope,
    Dialect::Moonshot,
    Dialect::Zhipu,
    Dialect::Ark,
    Dialect::SiliconFlow,
    Dialect::MiniMax,
    Dialect::OpenRouter,
];

/// A change made to a request so that the vendor accepts it; reported to the client in
/// the `x-switchyard-adjusted` header and logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    /// The request field that was changed.
    pub field: &'static str,
    /// What was done and why.
    pub note: String,
}

impl Adjustment {
    fn new(field: &'static str, note: impl Into<String>) -> Self {
        Adjustment {
            field,
            note: note.into(),
        }
    }
}

/// Unknown dialect name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown dialect '{0}': expected one of openai, deepseek, dashscope, moonshot, zhipu, ark, siliconflow, minimax, openrouter"
)]
pub struct UnknownDialect(pub String);

impl FromStr for Dialect {
    type Err = UnknownDialect;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL_DIALECTS
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| UnknownDialect(s.to_string()))
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one vendor file provides; [`Dialect::vendor`] picks the file.
trait Vendor {
    /// Response header carrying the vendor's request id.
    fn request_id_header(&self) -> &'static str;

    /// Whether `upstream_model` answers only as a stream; by default no model does.
    fn requires_stream(&self, _upstream_model: &str, _thinking_disabled: bool) -> bool {
        false
    }

    /// Rewrite `req`, whose `model` is already `upstream_model`, into what the vendor
    /// accepts; the changes that alter meaning go to `adj`.
    fn prepare(&self, req: &mut ChatRequest, upstream_model: &str, adj: &mut Vec<Adjustment>);

    /// What an error response means; `None` leaves it to the status.
    fn classify(&self, said: &ErrorSaid<'_>) -> Option<ErrorKind>;
}

/// What an error response said, as read from its status and body.
#[derive(Debug, Clone, Copy)]
struct ErrorSaid<'a> {
    /// HTTP status.
    status: u16,
    /// The body's `code` (a string, or a number as text).
    code: Option<&'a str>,
    /// The body's `error.type`.
    vendor_type: Option<&'a str>,
}

impl Dialect {
    /// Config name of the dialect.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::OpenAi => "openai",
            Dialect::DeepSeek => "deepseek",
            Dialect::DashScope => "dashscope",
            Dialect::Moonshot => "moonshot",
            Dialect::Zhipu => "zhipu",
            Dialect::Ark => "ark",
            Dialect::SiliconFlow => "siliconflow",
            Dialect::MiniMax => "minimax",
            Dialect::OpenRouter => "openrouter",
        }
    }

    /// The file that knows this vendor.
    fn vendor(self) -> &'static dyn Vendor {
        match self {
            Dialect::OpenAi => &openai::OpenAi,
            Dialect::DeepSeek => &deepseek::DeepSeek,
            Dialect::DashScope => &dashscope::DashScope,
            Dialect::Moonshot => &moonshot::Moonshot,
            Dialect::Zhipu => &zhipu::Zhipu,
            Dialect::Ark => &ark::Ark,
            Dialect::SiliconFlow => &siliconflow::SiliconFlow,
            Dialect::MiniMax => &minimax::MiniMax,
            Dialect::OpenRouter => &openrouter::OpenRouter,
        }
    }

    /// Response header carrying the vendor's request id.
    pub fn request_id_header(self) -> &'static str {
        self.vendor().request_id_header()
    }

    /// Whether `upstream_model` answers only as a stream, so a client's non-streaming
    /// request must be streamed upstream and assembled ([`crate::StreamAggregator`]).
    pub fn requires_stream(self, upstream_model: &str, thinking_disabled: bool) -> bool {
        self.vendor()
            .requires_stream(upstream_model, thinking_disabled)
    }

    /// Rewrite a client request, in place, into what this vendor accepts for `upstream_model`.
    /// Returns the changes that alter meaning (renames that keep it are not reported).
    pub fn prepare(self, req: &mut ChatRequest, upstream_model: &str) -> Vec<Adjustment> {
        req.model.clear();
        req.model.push_str(upstream_model);
        let mut adj = Vec::new();
        self.vendor().prepare(req, upstream_model, &mut adj);
        adj
    }

    /// Classify an error response: status, body and the request-id header.
    pub fn parse_error(
        self,
        status: u16,
        body: &[u8],
        header_request_id: Option<&str>,
    ) -> UpstreamError {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let obj = parsed.as_ref();
        let err = obj.and_then(|v| v.get("error")).filter(|e| e.is_object());
        // MiniMax's native status object.
        let base = obj
            .and_then(|v| v.get("base_resp"))
            .filter(|b| b.is_object());
        let field = |name: &str, base_name: &str| -> Option<String> {
            err.and_then(|e| e.get(name))
                .or_else(|| obj.and_then(|v| v.get(name)))
                .or_else(|| base.and_then(|b| b.get(base_name)))
                .and_then(value_text)
        };
        let message = err
            .and_then(|e| e.get("message"))
            .or_else(|| obj.and_then(|v| v.get("message")))
            .or_else(|| base.and_then(|b| b.get("status_msg")))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| {
                let raw = String::from_utf8_lossy(body);
                let text = raw.split_whitespace().collect::<Vec<_>>().join(" ");
                if text.is_empty() {
                    format!("HTTP {status} with an empty body")
                } else {
                    format!("HTTP {status}: {}", truncate(&text, 200))
                }
            });
        let code = field("code", "status_code");
        let vendor_type = err.and_then(|e| e.get("type")).and_then(Value::as_str);
        let request_id = obj
            .and_then(|v| v.get("request_id").or_else(|| v.get("id")))
            .and_then(value_text)
            .or_else(|| header_request_id.map(str::to_string));
        let said = ErrorSaid {
            status,
            code: code.as_deref(),
            vendor_type,
        };
        let kind = self
            .vendor()
            .classify(&said)
            .unwrap_or_else(|| ErrorKind::from_status(status));
        UpstreamError {
            kind,
            vendor_status: status,
            message,
            vendor_code: code.or_else(|| vendor_type.map(str::to_string)),
            request_id,
            retry_after_secs: None,
        }
    }
}

fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// For vendors that report stream usage only when asked: a stream asks for it
/// (`stream_options.include_usage`).
fn ask_for_stream_usage(req: &mut ChatRequest) {
    if req.is_stream() {
        req.stream_options
            .get_or_insert_with(StreamOptions::default)
            .include_usage = Some(true);
    }
}

/// For vendors that know only the older OpenAI fields: `max_completion_tokens` goes as
/// `max_tokens` (unless that is set too), `developer` turns go as `system`. Keeps the
/// meaning, so nothing is reported.
fn use_older_fields(req: &mut ChatRequest) {
    if req.max_tokens.is_none() {
        req.max_tokens = req.max_completion_tokens.take();
    }
    req.max_completion_tokens = None;
    for m in &mut req.messages {
        if m.role == Role::Developer {
            m.role = Role::System;
        }
    }
}

/// Most choices a stream may carry (the gateway lets a client ask for `n` up to 16).
pub const MAX_CHOICES: u32 = 64;
/// Most tool calls one choice of a stream may carry.
pub const MAX_TOOL_CALLS: u32 = 256;

/// An index an upstream sent that is past [`MAX_CHOICES`] or [`MAX_TOOL_CALLS`]: state is
/// kept per index, so an unbounded one would size memory by what the upstream says.
fn index_error(what: &str, index: u32, max: u32) -> UpstreamError {
    UpstreamError::transport(
        ErrorKind::BadResponse,
        format!("the upstream sent {what} index {index}; at most {max} are accepted"),
    )
}

/// A choice index, checked against [`MAX_CHOICES`].
pub fn choice_slot(index: u32) -> Result<usize, UpstreamError> {
    if index >= MAX_CHOICES {
        return Err(index_error("choice", index, MAX_CHOICES));
    }
    usize::try_from(index).map_err(|_| index_error("choice", index, MAX_CHOICES))
}

/// A tool-call index, checked against [`MAX_TOOL_CALLS`].
pub fn tool_slot(index: u32) -> Result<usize, UpstreamError> {
    if index >= MAX_TOOL_CALLS {
        return Err(index_error("tool call", index, MAX_TOOL_CALLS));
    }
    usize::try_from(index).map_err(|_| index_error("tool call", index, MAX_TOOL_CALLS))
}

/// Per-stream normaliser: pulls usage out of wherever the vendor put it, fills missing
/// tool-call indices, drops repeated roles and chunks left empty.
#[derive(Debug)]
pub struct StreamNormalizer {
    usage: Option<TokenUsage>,
    choices: Vec<ChoiceState>,
    finished: bool,
}

#[derive(Debug, Default, Clone)]
struct ChoiceState {
    role: zhipu::RoleOnce,
    tools: moonshot::ToolIndices,
}

impl Default for StreamNormalizer {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamNormalizer {
    /// A fresh normaliser for one stream.
    pub fn new() -> Self {
        StreamNormalizer {
            usage: None,
            choices: Vec::new(),
            finished: false,
        }
    }

    /// Normalise `chunk` in place. Usage is removed from it and kept here. Returns
    /// `false` when nothing is left for the client (a usage-only chunk), and an error
    /// when the chunk names a choice or tool call past [`MAX_CHOICES`] / [`MAX_TOOL_CALLS`].
    pub fn apply(&mut self, chunk: &mut ChatChunk) -> Result<bool, UpstreamError> {
        if let Some(u) = chunk.usage.take() {
            self.keep_usage(u.normalize());
        }
        for choice in &mut chunk.choices {
            if let Some(u) = moonshot::take_chunk_usage(choice) {
                self.keep_usage(u.normalize());
            }
            let idx = choice_slot(choice.index)?;
            if self.choices.len() <= idx {
                self.choices
                    .resize(idx.saturating_add(1), ChoiceState::default());
            }
            let Some(state) = self.choices.get_mut(idx) else {
                continue;
            };
            state.role.apply(&mut choice.delta);
            let delta = &mut choice.delta;
            openrouter::reasoning_into_content(&mut delta.extra, &mut delta.reasoning_content);
            for call in choice.delta.tool_calls.iter_mut().flatten() {
                state.tools.apply(call)?;
            }
            if choice.finish_reason.is_some() {
                self.finished = true;
            }
        }
        Ok(!chunk.choices.is_empty())
    }

    fn keep_usage(&mut self, u: TokenUsage) {
        if !u.is_empty() {
            self.usage = Some(u);
        }
    }

    /// Usage seen so far (the vendor's final figure once the stream has ended).
    pub fn usage(&self) -> Option<TokenUsage> {
        self.usage
    }

    /// Whether any choice has reported a `finish_reason`.
    pub fn finished(&self) -> bool {
        self.finished
    }
}

/// Pull normalised usage out of a non-streaming response (top level, or Kimi-style inside
/// the first choice), and put it back in OpenAI shape.
pub fn normalize_completion(resp: &mut ChatCompletion) -> Option<TokenUsage> {
    for choice in &mut resp.choices {
        let m = &mut choice.message;
        openrouter::reasoning_into_content(&mut m.extra, &mut m.reasoning_content);
    }
    let from_choice = moonshot::take_completion_usage(resp);
    let usage = resp.usage.take().or(from_choice).map(|u| u.normalize());
    resp.usage = usage.map(|u| u.to_wire());
    usage
}

/// Request and chunk builders for the tests of every vendor file.
#[cfg(test)]
mod testing {
    use serde_json::Value;

    use crate::chat::{ChatChunk, ChatRequest};

    pub(super) fn req(v: Value) -> ChatRequest {
        serde_json::from_value(v).unwrap()
    }

    pub(super) fn chunk(v: Value) -> ChatChunk {
        serde_json::from_value(v).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{chunk, req};
    use super::*;
    use crate::chat::Message;
    use serde_json::json;

    #[test]
    fn every_dialect_round_trips_its_name() {
        for d in ALL_DIALECTS {
            assert_eq!(d.as_str().parse::<Dialect>().unwrap(), d);
        }
        assert!("bedrock".parse::<Dialect>().is_err());
    }

    #[test]
    fn max_completion_tokens_becomes_max_tokens_off_openai() {
        let mut r = req(json!({"model": "x", "messages": [], "max_completion_tokens": 7}));
        Dialect::Zhipu.prepare(&mut r, "glm-4.5");
        assert_eq!((r.max_tokens, r.max_completion_tokens), (Some(7), None));
        let mut r = req(json!({"model": "x", "messages": [], "max_completion_tokens": 7}));
        Dialect::OpenAi.prepare(&mut r, "gpt");
        assert_eq!((r.max_tokens, r.max_completion_tokens), (None, Some(7)));
    }

    #[test]
    fn non_json_error_body_is_reported_not_crashed_on() {
        let e = Dialect::OpenAi.parse_error(502, b"<html>Bad gateway</html>", None);
        assert_eq!(e.kind, ErrorKind::Server);
        assert!(e.message.contains("Bad gateway"));
    }

    #[test]
    fn null_usage_on_content_chunks_is_ignored() {
        let mut n = StreamNormalizer::new();
        let mut c = chunk(
            json!({"id": "1", "usage": null, "choices": [{"index": 0, "delta": {"content": "hi"}}]}),
        );
        assert!(n.apply(&mut c).unwrap());
        assert_eq!(n.usage(), None);
    }

    #[test]
    fn message_helper_builds_text() {
        assert_eq!(Message::text(Role::User, "x").text_content(), "x");
    }
}
