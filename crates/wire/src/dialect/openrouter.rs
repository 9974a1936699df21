//! OpenRouter as an upstream: an aggregator that resells nearly every model, routing
//! each request to one of the model's hosts.
//!
//! Facts (`docs/VENDORS.md` §4, from openrouter.ai/docs):
//! - base `https://openrouter.ai/api/v1`, Anthropic-compatible `…/api/v1/messages`; key
//!   in `OPENROUTER_API_KEY`; ids are `vendor/model` (`deepseek/deepseek-v3.2`);
//! - the request id comes back in `X-Generation-Id`;
//! - thinking is asked for with `reasoning:{enabled|effort|max_tokens|exclude}` (a
//!   `thinking:{type}` or `enable_thinking` switch is rewritten to it), and comes back
//!   in `reasoning` (plus `reasoning_details[]`), read back as `reasoning_content` by the
//!   stream normaliser;
//! - usage is always sent (`stream_options` has no effect), on the last chunk, with
//!   the `cost` it billed;
//! - errors are `{"error":{"code":<number>,"message","metadata"}}`: 402 no credits, 403
//!   flagged by moderation, 408 time-out, 429 rate limit, 502 the host failed, 503 no
//!   host available. Once a stream has begun, an error is a chunk with a top-level
//!   `error` (its `code` a string then) and `finish_reason:"error"`, HTTP still 200;
//! - `: OPENROUTER PROCESSING` SSE comments keep a waiting stream alive.

use serde_json::{Value, json};

use crate::JsonMap;
use crate::chat::ChatRequest;
use crate::error::ErrorKind;

use super::{Adjustment, ErrorSaid, Vendor};

/// The OpenRouter dialect.
pub(super) struct OpenRouter;

impl Vendor for OpenRouter {
    fn request_id_header(&self) -> &'static str {
        "x-generation-id"
    }

    fn prepare(&self, req: &mut ChatRequest, _upstream_model: &str, _adj: &mut Vec<Adjustment>) {
        thinking_as_reasoning(req);
    }

    fn classify(&self, said: &ErrorSaid<'_>) -> Option<ErrorKind> {
        match said.status {
            402 => Some(ErrorKind::InsufficientQuota),
            403 => Some(ErrorKind::ContentFilter),
            408 => Some(ErrorKind::Timeout),
            503 => Some(ErrorKind::Overloaded),
            _ => None,
        }
    }
}

/// `thinking:{type}` or `enable_thinking` as OpenRouter's `reasoning:{enabled}`, unless
/// the client wrote a `reasoning` object itself.
fn thinking_as_reasoning(req: &mut ChatRequest) {
    let by_type = req
        .extra
        .remove("thinking")
        .and_then(|t| t.get("type").and_then(Value::as_str).map(str::to_string));
    let by_flag = req
        .extra
        .remove("enable_thinking")
        .and_then(|v| v.as_bool());
    let on = match (by_type.as_deref(), by_flag) {
        (Some("disabled"), _) | (_, Some(false)) => false,
        (Some("enabled"), _) | (_, Some(true)) => true,
        _ => return,
    };
    req.extra
        .entry("reasoning")
        .or_insert_with(|| json!({ "enabled": on }));
}

/// Reasoning spelled `reasoning` (OpenRouter) or as `reasoning_details[]` text parts
/// (OpenRouter, MiniMax's split), moved into `reasoning_content` where that is empty.
/// `extra` is the message's or delta's other fields.
pub(super) fn reasoning_into_content(extra: &mut JsonMap, reasoning_content: &mut Option<String>) {
    // Nearly every delta has no other fields: nothing to look up.
    if extra.is_empty()
        || (!extra.contains_key("reasoning") && !extra.contains_key("reasoning_details"))
    {
        return;
    }
    let spelled = match extra.remove("reasoning") {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    let details = extra.remove("reasoning_details");
    if reasoning_content.is_some() {
        return;
    }
    let from_details = || {
        let parts = details.as_ref()?.as_array()?;
        let text: String = parts
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("reasoning.text"))
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect();
        (!text.is_empty()).then_some(text)
    };
    *reasoning_content = spelled.filter(|s| !s.is_empty()).or_else(from_details);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::testing::{chunk, req};
    use crate::dialect::{Dialect, StreamNormalizer};

    #[test]
    fn openrouter_asks_for_reasoning_its_own_way() {
        let mut r = req(json!({"model": "x", "messages": [], "thinking": {"type": "disabled"}}));
        assert!(
            Dialect::OpenRouter
                .prepare(&mut r, "deepseek/deepseek-v3.2")
                .is_empty()
        );
        assert_eq!(r.extra["reasoning"], json!({"enabled": false}));
        assert!(!r.extra.contains_key("thinking"));
        let mut r = req(
            json!({"model": "x", "messages": [], "enable_thinking": true,
            "reasoning": {"effort": "high"}}),
        );
        Dialect::OpenRouter.prepare(&mut r, "m");
        assert_eq!(r.extra["reasoning"], json!({"effort": "high"}));
    }

    #[test]
    fn reasoning_in_any_spelling_reaches_reasoning_content() {
        let mut n = StreamNormalizer::new();
        let mut c = chunk(
            json!({"id": "1", "choices": [{"index": 0, "delta": {"reasoning": "hm",
            "reasoning_details": [{"type": "reasoning.text", "text": "hm"}]}}]}),
        );
        n.apply(&mut c).unwrap();
        let d = &c.choices[0].delta;
        assert_eq!(d.reasoning_content.as_deref(), Some("hm"));
        assert!(d.extra.is_empty(), "{:?}", d.extra);
        let mut c = chunk(json!({"id": "1", "choices": [{"index": 0, "delta": {
            "reasoning_details": [{"type": "reasoning.text", "text": "a"}, {"type": "reasoning.encrypted", "data": "x"}, {"type": "reasoning.text", "text": "b"}]}}]}));
        n.apply(&mut c).unwrap();
        assert_eq!(c.choices[0].delta.reasoning_content.as_deref(), Some("ab"));
    }

    #[test]
    fn openrouter_statuses_and_mid_stream_errors_are_classified() {
        let e = Dialect::OpenRouter.parse_error(
            402,
            br#"{"error":{"code":402,"message":"Insufficient credits","metadata":{}}}"#,
            Some("gen-1"),
        );
        assert_eq!(e.kind, ErrorKind::InsufficientQuota);
        assert_eq!(e.request_id.as_deref(), Some("gen-1"));
        assert_eq!(
            Dialect::OpenRouter
                .parse_error(
                    503,
                    br#"{"error":{"code":503,"message":"No endpoints"}}"#,
                    None
                )
                .kind,
            ErrorKind::Overloaded
        );
        let mid = br#"{"id":"cmpl-1","object":"chat.completion.chunk","error":{"code":"server_error","message":"Provider disconnected unexpectedly"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}"#;
        let e = Dialect::OpenRouter.parse_error(500, mid, None);
        assert_eq!(e.kind, ErrorKind::Server);
        assert!(e.kind.retryable());
        assert_eq!(e.message, "Provider disconnected unexpectedly");
    }
}
