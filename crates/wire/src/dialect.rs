//! Vendor dialects of "OpenAI-compatible": what each one needs changed on the way in,
//! where each one hides usage on the way out, and how each one spells its errors.
//!
//! Facts come from the vendors' documentation (see `shared/reference/providers.md`):
//! - **DeepSeek** rejects `role:"developer"`; in thinking mode, assistant turns that made
//!   tool calls must carry their `reasoning_content` back; usage has cache hit/miss fields.
//! - **DashScope (Qwen)** sends usage only in a trailing `choices:[]` chunk, and only when
//!   `stream_options.include_usage` is set.
//! - **Moonshot (Kimi)** fixes temperature/top_p on K2.5 and later; streams usage inside
//!   `choices[0].usage`; sometimes omits the tool-call `index`.
//! - **Zhipu (GLM)** accepts a single stop word, only `tool_choice:"auto"`, temperature in
//!   (0,1], top_p in [0.01,1], no data-URI images; errors carry numeric business codes.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use crate::chat::{ChatChunk, ChatCompletion, ChatRequest, Content, Role, Stop, StreamOptions};
use crate::error::{ErrorKind, UpstreamError};
use crate::usage::TokenUsage;

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
}

/// All dialects, in a stable order.
pub const ALL_DIALECTS: [Dialect; 5] = [
    Dialect::OpenAi,
    Dialect::DeepSeek,
    Dialect::DashScope,
    Dialect::Moonshot,
    Dialect::Zhipu,
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
#[error("unknown dialect '{0}': expected one of openai, deepseek, dashscope, moonshot, zhipu")]
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

impl Dialect {
    /// Config name of the dialect.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::OpenAi => "openai",
            Dialect::DeepSeek => "deepseek",
            Dialect::DashScope => "dashscope",
            Dialect::Moonshot => "moonshot",
            Dialect::Zhipu => "zhipu",
        }
    }

    /// Response header carrying the vendor's request id.
    pub fn request_id_header(self) -> &'static str {
        match self {
            Dialect::DeepSeek => "x-ds-trace-id",
            Dialect::DashScope => "x-dashscope-request-id",
            Dialect::Moonshot => "msh-request-id",
            Dialect::Zhipu | Dialect::OpenAi => "x-request-id",
        }
    }

    /// Whether the vendor needs `stream_options.include_usage` to report stream usage.
    fn needs_include_usage(self) -> bool {
        matches!(
            self,
            Dialect::OpenAi | Dialect::DeepSeek | Dialect::DashScope
        )
    }

    /// Whether `upstream_model` answers only as a stream, so a client's non-streaming
    /// request must be streamed upstream and assembled ([`crate::StreamAggregator`]).
    /// DashScope: QwQ, QVQ, Omni, and the Qwen3 open-weight models while thinking.
    pub fn requires_stream(self, upstream_model: &str, thinking_disabled: bool) -> bool {
        if self != Dialect::DashScope {
            return false;
        }
        let m = upstream_model.to_ascii_lowercase();
        if m.starts_with("qwq")
            || m.starts_with("qvq")
            || m.contains("-omni")
            || m.contains("thinking")
        {
            return true;
        }
        thinks_by_default(&m) && !thinking_disabled
    }

    /// Rewrite a client request, in place, into what this vendor accepts for `upstream_model`.
    /// Returns the changes that alter meaning (renames that keep it are not reported).
    pub fn prepare(self, req: &mut ChatRequest, upstream_model: &str) -> Vec<Adjustment> {
        let mut adj = Vec::new();
        req.model.clear();
        req.model.push_str(upstream_model);
        if req.is_stream() && self.needs_include_usage() {
            req.stream_options
                .get_or_insert_with(StreamOptions::default)
                .include_usage = Some(true);
        }
        if self != Dialect::OpenAi {
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
        match self {
            Dialect::OpenAi => {}
            Dialect::DashScope => prepare_dashscope(req, upstream_model, &mut adj),
            Dialect::DeepSeek => prepare_deepseek(req, &mut adj),
            Dialect::Moonshot => prepare_moonshot(req, upstream_model, &mut adj),
            Dialect::Zhipu => prepare_zhipu(req, &mut adj),
        }
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
        let field = |name: &str| -> Option<String> {
            err.and_then(|e| e.get(name))
                .or_else(|| obj.and_then(|v| v.get(name)))
                .and_then(value_text)
        };
        let message = err
            .and_then(|e| e.get("message"))
            .or_else(|| obj.and_then(|v| v.get("message")))
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
        let code = field("code");
        let vendor_type = err.and_then(|e| e.get("type")).and_then(Value::as_str);
        let request_id = obj
            .and_then(|v| v.get("request_id").or_else(|| v.get("id")))
            .and_then(value_text)
            .or_else(|| header_request_id.map(str::to_string));
        let kind = self
            .classify(status, code.as_deref(), vendor_type)
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

    fn classify(
        self,
        status: u16,
        code: Option<&str>,
        vendor_type: Option<&str>,
    ) -> Option<ErrorKind> {
        match self {
            Dialect::Zhipu => {
                let n: u32 = code?.parse().ok()?;
                Some(match n {
                    1000..=1004 => ErrorKind::Authentication,
                    1113 | 1308 | 1309 | 1310 => ErrorKind::InsufficientQuota,
                    1302 | 1303 => ErrorKind::RateLimited,
                    1305 | 1312 => ErrorKind::Overloaded,
                    1211 | 1221 | 1222 => ErrorKind::NotFound,
                    1301 => ErrorKind::ContentFilter,
                    1210 | 1212..=1215 | 1220 => ErrorKind::InvalidRequest,
                    1200..=1299 if status < 500 => ErrorKind::InvalidRequest,
                    500..=599 | 1234 => ErrorKind::Server,
                    _ => return None,
                })
            }
            Dialect::DashScope => {
                let c = code?;
                Some(match c {
                    "InvalidApiKey" | "invalid_api_key" => ErrorKind::Authentication,
                    "Arrearage" => ErrorKind::InsufficientQuota,
                    "AccessDenied" | "access_denied" => ErrorKind::PermissionDenied,
                    "ModelNotFound" | "model_not_found" => ErrorKind::NotFound,
                    "DataInspectionFailed" | "data_inspection_failed" => ErrorKind::ContentFilter,
                    "InvalidParameter" | "invalid_parameter_error" => ErrorKind::InvalidRequest,
                    c if c.starts_with("Throttling")
                        || c == "AllocationQuota"
                        || c == "limit_requests" =>
                    {
                        ErrorKind::RateLimited
                    }
                    "InternalError" | "internal_error" => ErrorKind::Server,
                    _ => return None,
                })
            }
            Dialect::Moonshot => Some(match vendor_type? {
                "content_filter" => ErrorKind::ContentFilter,
                "invalid_request_error" => ErrorKind::InvalidRequest,
                "invalid_authentication_error" => ErrorKind::Authentication,
                "exceeded_current_quota_error" => ErrorKind::InsufficientQuota,
                "permission_denied_error" => ErrorKind::PermissionDenied,
                "resource_not_found_error" => ErrorKind::NotFound,
                "rate_limit_reached_error" => ErrorKind::RateLimited,
                "engine_overloaded_error" => ErrorKind::Overloaded,
                "server_error" => ErrorKind::Server,
                _ => return None,
            }),
            Dialect::DeepSeek => match status {
                402 => Some(ErrorKind::InsufficientQuota),
                422 => Some(ErrorKind::InvalidRequest),
                503 => Some(ErrorKind::Overloaded),
                _ => None,
            },
            Dialect::OpenAi => match vendor_type.or(code)? {
                "insufficient_quota" => Some(ErrorKind::InsufficientQuota),
                _ => None,
            },
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

/// Value DeepSeek accepts as a placeholder when the client lost the reasoning it must pass back.
pub const REASONING_PLACEHOLDER: &str = " ";

/// Whether a DashScope model thinks unless told not to: the open-weight Qwen3 names
/// (`qwen3-32b`, `qwen3-235b-a22b`, `qwen3.5-397b-a17b`), not their `-instruct` builds.
fn thinks_by_default(lower_model: &str) -> bool {
    let m = lower_model;
    let open_weight = m.starts_with("qwen3")
        && m.split('-').nth(1).is_some_and(|size| {
            size.strip_suffix('b')
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        });
    open_weight && !m.contains("instruct")
}

/// DashScope: JSON output works in non-thinking mode only, so a request for JSON to a
/// model that thinks by default gets `enable_thinking: false`, unless the client asked
/// for thinking (then the vendor's answer stands).
fn prepare_dashscope(req: &mut ChatRequest, upstream_model: &str, adj: &mut Vec<Adjustment>) {
    let asked_thinking = req.extra.get("enable_thinking").and_then(Value::as_bool) == Some(true)
        || req
            .extra
            .get("thinking")
            .and_then(|t| t.get("type"))
            .and_then(Value::as_str)
            == Some("enabled");
    if req.json_output().is_some()
        && !asked_thinking
        && !req.thinking_disabled()
        && thinks_by_default(&upstream_model.to_ascii_lowercase())
    {
        req.extra
            .insert("enable_thinking".into(), Value::Bool(false));
        adj.push(Adjustment {
            field: "enable_thinking",
            note: format!(
                "{upstream_model} gives JSON output only with thinking off; thinking switched off"
            ),
        });
    }
}

fn prepare_deepseek(req: &mut ChatRequest, adj: &mut Vec<Adjustment>) {
    let thinking = !req.thinking_disabled();
    let mut filled = 0usize;
    for m in &mut req.messages {
        if m.role != Role::Assistant {
            continue;
        }
        let made_calls = m.tool_calls.as_ref().is_some_and(|c| !c.is_empty());
        if made_calls && thinking && m.reasoning_content.is_none() {
            m.reasoning_content = Some(REASONING_PLACEHOLDER.to_string());
            filled = filled.saturating_add(1);
        } else if !made_calls {
            // Only tool-call turns take their reasoning back; elsewhere it is dead weight.
            m.reasoning_content = None;
        }
    }
    if filled > 0 {
        adj.push(Adjustment::new(
            "messages",
            format!(
                "{filled} assistant tool-call turn(s) lacked reasoning_content; sent a placeholder"
            ),
        ));
    }
    if let Some(Value::String(effort)) = req.extra.get_mut("reasoning_effort") {
        let mapped = match effort.as_str() {
            "minimal" => Some("low"),
            "medium" | "xhigh" => Some("high"),
            "ultra" => Some("max"),
            _ => None,
        };
        if let Some(m) = mapped {
            adj.push(Adjustment::new(
                "reasoning_effort",
                format!("'{effort}' mapped to '{m}'"),
            ));
            *effort = m.to_string();
        }
    }
}

/// Kimi models whose sampling parameters are fixed by the vendor.
fn moonshot_fixed_sampling(upstream: &str) -> bool {
    ["kimi-k2.5", "kimi-k2.6", "kimi-k2.7", "kimi-k3"]
        .iter()
        .any(|p| upstream.starts_with(p))
}

fn prepare_moonshot(req: &mut ChatRequest, upstream: &str, adj: &mut Vec<Adjustment>) {
    if moonshot_fixed_sampling(upstream) {
        let temp = if req.thinking_disabled() { 0.6 } else { 1.0 };
        if req.temperature.is_some_and(|t| t != temp) {
            adj.push(Adjustment::new(
                "temperature",
                format!("{upstream} only accepts {temp}"),
            ));
            req.temperature = Some(temp);
        }
        if req.top_p.is_some_and(|p| p != 0.95) {
            adj.push(Adjustment::new(
                "top_p",
                format!("{upstream} only accepts 0.95"),
            ));
            req.top_p = Some(0.95);
        }
        if upstream.contains("-code") && req.thinking_disabled() {
            req.extra.remove("thinking");
            adj.push(Adjustment::new(
                "thinking",
                format!("{upstream} cannot disable thinking"),
            ));
        }
    } else if let Some(t) = req.temperature {
        let floor = if req.n.unwrap_or(1) > 1 { 0.3 } else { 0.0 };
        let clamped = t.clamp(floor, 1.0);
        if clamped != t {
            adj.push(Adjustment::new(
                "temperature",
                format!("{t} clamped to {clamped}"),
            ));
            req.temperature = Some(clamped);
        }
    }
    if req.tool_choice.as_ref().and_then(Value::as_str) == Some("required") {
        req.tool_choice = Some(Value::String("auto".into()));
        adj.push(Adjustment::new(
            "tool_choice",
            "Kimi has no 'required'; sent 'auto'",
        ));
    }
}

fn prepare_zhipu(req: &mut ChatRequest, adj: &mut Vec<Adjustment>) {
    if let Some(stop) = req.stop.take() {
        let words = stop.as_vec();
        if words.len() > 1 {
            adj.push(Adjustment::new(
                "stop",
                format!(
                    "GLM takes one stop word; kept '{}', dropped {}",
                    words.first().copied().unwrap_or_default(),
                    words.len().saturating_sub(1)
                ),
            ));
        }
        req.stop = words.first().map(|w| Stop::Many(vec![(*w).to_string()]));
    }
    match req.tool_choice.as_ref() {
        None => {}
        Some(Value::String(s)) if s == "auto" => {}
        Some(Value::String(s)) if s == "none" => {
            req.tools = None;
            req.tool_choice = None;
            adj.push(Adjustment::new(
                "tool_choice",
                "GLM has no 'none'; removed the tools instead",
            ));
        }
        Some(other) => {
            adj.push(Adjustment::new(
                "tool_choice",
                format!("GLM accepts only 'auto'; replaced {other}"),
            ));
            req.tool_choice = Some(Value::String("auto".into()));
        }
    }
    if let Some(t) = req.temperature {
        if t <= 0.0 {
            req.temperature = None;
            req.extra.insert("do_sample".into(), Value::Bool(false));
            adj.push(Adjustment::new(
                "temperature",
                "GLM needs (0,1]; 0 sent as do_sample=false",
            ));
        } else if t > 1.0 {
            req.temperature = Some(1.0);
            adj.push(Adjustment::new(
                "temperature",
                format!("{t} clamped to 1.0"),
            ));
        }
    }
    if let Some(p) = req.top_p {
        let clamped = p.clamp(0.01, 1.0);
        if clamped != p {
            req.top_p = Some(clamped);
            adj.push(Adjustment::new(
                "top_p",
                format!("{p} clamped to {clamped}"),
            ));
        }
    }
    let mut stripped = 0usize;
    for m in &mut req.messages {
        if let Some(Content::Parts(parts)) = &mut m.content {
            for p in parts.iter_mut() {
                let raw = p
                    .image_url()
                    .filter(|u| u.starts_with("data:"))
                    .and_then(|u| u.split_once(";base64,"))
                    .map(|(_, b64)| b64.to_string());
                if let Some(b64) = raw {
                    p.set_image_url(b64);
                    stripped = stripped.saturating_add(1);
                }
            }
        }
    }
    if stripped > 0 {
        adj.push(Adjustment::new(
            "messages",
            format!("GLM rejects data URIs; sent {stripped} image(s) as bare base64"),
        ));
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
    role_sent: bool,
    next_tool: u32,
    current_tool: u32,
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
            if let Some(u) = choice.usage.take() {
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
            if choice.delta.role.is_some() {
                if state.role_sent {
                    choice.delta.role = None;
                }
                state.role_sent = true;
            }
            for call in choice.delta.tool_calls.iter_mut().flatten() {
                match call.index {
                    Some(i) => {
                        tool_slot(i)?;
                        state.current_tool = i;
                        state.next_tool = state.next_tool.max(i.saturating_add(1));
                    }
                    None => {
                        if call.id.is_some() {
                            tool_slot(state.next_tool)?;
                            state.current_tool = state.next_tool;
                            state.next_tool = state.next_tool.saturating_add(1);
                        }
                        call.index = Some(state.current_tool);
                    }
                }
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
    let from_choice = resp
        .choices
        .iter_mut()
        .find_map(|c| c.extra.remove("usage"))
        .and_then(|v| serde_json::from_value::<crate::usage::Usage>(v).ok());
    let usage = resp.usage.take().or(from_choice).map(|u| u.normalize());
    resp.usage = usage.map(|u| u.to_wire());
    usage
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::Message;
    use serde_json::json;

    fn req(v: Value) -> ChatRequest {
        serde_json::from_value(v).unwrap()
    }

    fn chunk(v: Value) -> ChatChunk {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn dashscope_json_output_switches_thinking_off_on_models_that_think_by_default() {
        let ask = |extra: Value| {
            let mut v = json!({"model": "m", "messages": [{"role": "user", "content": "json"}],
                "response_format": {"type": "json_object"}});
            if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
                o.extend(e);
            }
            req(v)
        };
        let d = Dialect::DashScope;
        let mut r = ask(json!({}));
        let adj = d.prepare(&mut r, "qwen3-32b");
        assert_eq!(r.extra["enable_thinking"], false);
        assert!(adj.iter().any(|a| a.field == "enable_thinking"), "{adj:?}");
        // The client asked for thinking: left to the vendor. Other models: untouched.
        let mut r = ask(json!({"enable_thinking": true}));
        assert!(d.prepare(&mut r, "qwen3-32b").is_empty());
        assert_eq!(r.extra["enable_thinking"], true);
        let mut r = ask(json!({}));
        assert!(d.prepare(&mut r, "qwen-plus").is_empty());
        assert!(!r.extra.contains_key("enable_thinking"));
        let mut plain = req(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}));
        assert!(d.prepare(&mut plain, "qwen3-32b").is_empty());
    }

    #[test]
    fn dashscope_stream_only_models_are_recognised() {
        let d = Dialect::DashScope;
        assert!(d.requires_stream("qwen3-32b", false));
        assert!(
            !d.requires_stream("qwen3-32b", true),
            "thinking off allows non-streaming"
        );
        assert!(d.requires_stream("qwen3.5-397b-a17b", false));
        assert!(d.requires_stream("qwen3-omni-30b-a3b-instruct", true));
        assert!(d.requires_stream("qwq-plus", false));
        assert!(!d.requires_stream("qwen3-coder-30b-a3b-instruct", false));
        assert!(!d.requires_stream("qwen3-vl-32b-instruct", false));
        assert!(!d.requires_stream("qwen-plus", false));
        assert!(!Dialect::DeepSeek.requires_stream("qwen3-32b", false));
    }

    #[test]
    fn every_dialect_round_trips_its_name() {
        for d in ALL_DIALECTS {
            assert_eq!(d.as_str().parse::<Dialect>().unwrap(), d);
        }
        assert!("bedrock".parse::<Dialect>().is_err());
    }

    #[test]
    fn stream_asks_for_usage_where_the_vendor_needs_it() {
        let mut r = req(json!({"model": "x", "messages": [], "stream": true}));
        Dialect::DashScope.prepare(&mut r, "qwen3-32b");
        assert_eq!(r.model, "qwen3-32b");
        assert!(r.wants_stream_usage());
    }

    #[test]
    fn deepseek_maps_developer_role_and_fills_reasoning_on_tool_turns() {
        let mut r = req(json!({"model": "x", "messages": [
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
            {"role": "assistant", "content": "ok", "reasoning_content": "old thoughts"}
        ]}));
        let adj = Dialect::DeepSeek.prepare(&mut r, "deepseek-reasoner");
        assert_eq!(r.messages[0].role, Role::System);
        assert_eq!(
            r.messages[2].reasoning_content.as_deref(),
            Some(REASONING_PLACEHOLDER)
        );
        assert_eq!(r.messages[4].reasoning_content, None);
        assert_eq!(adj.len(), 1);
    }

    #[test]
    fn deepseek_keeps_reasoning_the_client_passed_back() {
        let mut r = req(json!({"model": "x", "messages": [
            {"role": "assistant", "reasoning_content": "think", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}]}
        ]}));
        assert!(
            Dialect::DeepSeek
                .prepare(&mut r, "deepseek-reasoner")
                .is_empty()
        );
        assert_eq!(r.messages[0].reasoning_content.as_deref(), Some("think"));
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
    fn kimi_fixed_sampling_overrides_temperature_and_top_p() {
        let mut r = req(json!({"model": "x", "messages": [], "temperature": 0.2, "top_p": 0.5}));
        let adj = Dialect::Moonshot.prepare(&mut r, "kimi-k2.5");
        assert_eq!((r.temperature, r.top_p), (Some(1.0), Some(0.95)));
        assert_eq!(adj.len(), 2);
        let mut r = req(
            json!({"model": "x", "messages": [], "temperature": 0.2, "thinking": {"type": "disabled"}}),
        );
        Dialect::Moonshot.prepare(&mut r, "kimi-k2.6");
        assert_eq!(r.temperature, Some(0.6));
    }

    #[test]
    fn kimi_legacy_models_raise_low_temperature_with_n() {
        let mut r = req(json!({"model": "x", "messages": [], "temperature": 0.1, "n": 2}));
        Dialect::Moonshot.prepare(&mut r, "moonshot-v1-8k");
        assert_eq!(r.temperature, Some(0.3));
    }

    #[test]
    fn glm_keeps_one_stop_word_and_only_auto_tool_choice() {
        let mut r = req(
            json!({"model": "x", "messages": [], "stop": ["a", "b"], "tool_choice": "required",
            "tools": [{"type": "function", "function": {"name": "f"}}], "temperature": 0}),
        );
        let adj = Dialect::Zhipu.prepare(&mut r, "glm-4.5");
        assert_eq!(r.stop, Some(Stop::Many(vec!["a".into()])));
        assert_eq!(r.tool_choice, Some(json!("auto")));
        assert_eq!(r.temperature, None);
        assert_eq!(r.extra.get("do_sample"), Some(&json!(false)));
        assert_eq!(adj.len(), 3);
    }

    #[test]
    fn glm_strips_data_uri_prefix_from_images() {
        let mut r = req(
            json!({"model": "x", "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}},
                {"type": "image_url", "image_url": {"url": "https://x/y.png"}}
            ]}]}),
        );
        Dialect::Zhipu.prepare(&mut r, "glm-4.6v");
        let Some(Content::Parts(parts)) = &r.messages[0].content else {
            panic!("parts")
        };
        assert_eq!(parts[0].image_url(), Some("iVBOR"));
        assert_eq!(parts[1].image_url(), Some("https://x/y.png"));
    }

    #[test]
    fn glm_overload_and_balance_codes_classify_differently() {
        let overload = Dialect::Zhipu.parse_error(
            429,
            br#"{"error":{"code":"1305","message":"busy"},"request_id":"r1"}"#,
            None,
        );
        assert_eq!(overload.kind, ErrorKind::Overloaded);
        assert_eq!(overload.request_id.as_deref(), Some("r1"));
        let concurrency = Dialect::Zhipu.parse_error(
            429,
            br#"{"error":{"code":"1302","message":"slow down"}}"#,
            None,
        );
        assert_eq!(concurrency.kind, ErrorKind::RateLimited);
        let balance = Dialect::Zhipu.parse_error(
            429,
            br#"{"error":{"code":"1113","message":"no money"}}"#,
            None,
        );
        assert_eq!(balance.kind, ErrorKind::InsufficientQuota);
        assert!(!balance.kind.retryable());
        assert_eq!(balance.vendor_code.as_deref(), Some("1113"));
    }

    #[test]
    fn dashscope_native_and_compatible_error_bodies_parse() {
        let native = Dialect::DashScope.parse_error(429, br#"{"code":"Throttling.RateQuota","message":"Requests rate limit exceeded","request_id":"abc"}"#, None);
        assert_eq!(native.kind, ErrorKind::RateLimited);
        assert_eq!(native.request_id.as_deref(), Some("abc"));
        let compat = Dialect::DashScope.parse_error(401, br#"{"error":{"message":"bad key","type":"invalid_request_error","code":"invalid_api_key"},"request_id":"x"}"#, None);
        assert_eq!(compat.kind, ErrorKind::Authentication);
    }

    #[test]
    fn kimi_error_types_classify_and_header_request_id_is_kept() {
        let e = Dialect::Moonshot.parse_error(
            429,
            br#"{"error":{"type":"engine_overloaded_error","message":"busy"}}"#,
            Some("msh-1"),
        );
        assert_eq!(e.kind, ErrorKind::Overloaded);
        assert_eq!(e.request_id.as_deref(), Some("msh-1"));
        assert_eq!(e.vendor_code.as_deref(), Some("engine_overloaded_error"));
    }

    #[test]
    fn deepseek_402_is_insufficient_balance() {
        let e = Dialect::DeepSeek.parse_error(402, br#"{"error":{"message":"Insufficient Balance","type":"unknown_error","param":null,"code":"invalid_request_error"}}"#, Some("trace"));
        assert_eq!(e.kind, ErrorKind::InsufficientQuota);
        assert_eq!(e.message, "Insufficient Balance");
    }

    #[test]
    fn non_json_error_body_is_reported_not_crashed_on() {
        let e = Dialect::OpenAi.parse_error(502, b"<html>Bad gateway</html>", None);
        assert_eq!(e.kind, ErrorKind::Server);
        assert!(e.message.contains("Bad gateway"));
    }

    #[test]
    fn kimi_usage_inside_choice_is_extracted() {
        let mut n = StreamNormalizer::new();
        let mut c = chunk(
            json!({"id": "1", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop",
            "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12, "cached_tokens": 8}}]}),
        );
        assert!(n.apply(&mut c).unwrap());
        assert!(c.choices[0].usage.is_none());
        assert_eq!(
            n.usage(),
            Some(TokenUsage {
                prompt: 9,
                cached_prompt: 8,
                completion: 3,
                reasoning: 0
            })
        );
        assert!(n.finished());
    }

    #[test]
    fn qwen_trailing_usage_chunk_is_dropped_after_extraction() {
        let mut n = StreamNormalizer::new();
        let mut c = chunk(
            json!({"id": "1", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}),
        );
        assert!(!n.apply(&mut c).unwrap());
        assert_eq!(n.usage().map(|u| u.total()), Some(7));
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
    fn missing_tool_call_indices_are_filled_per_call() {
        let mut n = StreamNormalizer::new();
        let deltas = [
            json!({"id": "a", "type": "function", "function": {"name": "f", "arguments": ""}}),
            json!({"function": {"arguments": "{}"}}),
            json!({"id": "b", "type": "function", "function": {"name": "g", "arguments": "{"}}),
            json!({"function": {"arguments": "}"}}),
        ];
        let got: Vec<u32> = deltas
            .into_iter()
            .map(|d| {
                let mut c = chunk(json!({"choices": [{"index": 0, "delta": {"tool_calls": [d]}}]}));
                n.apply(&mut c).unwrap();
                c.choices[0].delta.tool_calls.as_ref().unwrap()[0]
                    .index
                    .unwrap()
            })
            .collect();
        assert_eq!(got, vec![0, 0, 1, 1]);
    }

    #[test]
    fn repeated_role_is_sent_once() {
        let mut n = StreamNormalizer::new();
        let mut a = chunk(
            json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": "a"}}]}),
        );
        let mut b = chunk(
            json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": "b"}}]}),
        );
        n.apply(&mut a).unwrap();
        n.apply(&mut b).unwrap();
        assert!(a.choices[0].delta.role.is_some());
        assert!(b.choices[0].delta.role.is_none());
    }

    #[test]
    fn completion_usage_from_kimi_choice_is_normalised() {
        let mut resp: ChatCompletion = serde_json::from_value(json!({
            "id": "x", "model": "kimi-k2.5",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop",
                "usage": {"prompt_tokens": 4, "completion_tokens": 1, "total_tokens": 5, "cached_tokens": 2}}]
        })).unwrap();
        let u = normalize_completion(&mut resp).unwrap();
        assert_eq!(u.cached_prompt, 2);
        assert_eq!(
            resp.usage
                .unwrap()
                .prompt_tokens_details
                .unwrap()
                .cached_tokens,
            Some(2)
        );
    }

    #[test]
    fn message_helper_builds_text() {
        assert_eq!(Message::text(Role::User, "x").text_content(), "x");
    }
}
