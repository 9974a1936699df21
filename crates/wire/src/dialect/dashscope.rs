//! DashScope, Alibaba Model Studio's compatible mode (Qwen): which models answer only as
//! a stream, what JSON output needs, and how it spells its errors.
//!
//! Facts (`shared/reference/providers.md`, "Qwen (Alibaba Model Studio / DashScope)"):
//! - sends usage only in a trailing `choices:[]` chunk, and only when
//!   `stream_options.include_usage` is set;
//! - knows `max_tokens` only, and no `role:"developer"` (sent as `system`);
//! - QwQ, QVQ, Omni and the Qwen3 open-weight models (while thinking) answer only as a
//!   stream: "parameter.enable_thinking must be set to false for non-streaming calls";
//! - JSON output works in non-thinking mode only;
//! - thinking is switched by `enable_thinking` (a `thinking:{type}` switch, as the
//!   Messages API and other vendors spell it, is rewritten to it);
//! - errors come in two bodies, native `{"code":"InvalidApiKey","message","request_id"}`
//!   and compatible `{"error":{…,"code":"invalid_api_key"},"request_id"}`, classified by
//!   that code (`Throttling.*`, `AllocationQuota`, `Arrearage`, …); the request id comes
//!   in `x-dashscope-request-id`.

use serde_json::Value;

use crate::chat::ChatRequest;
use crate::error::ErrorKind;

use super::{Adjustment, ErrorSaid, Vendor, ask_for_stream_usage, use_older_fields};

/// The DashScope dialect.
pub(super) struct DashScope;

impl Vendor for DashScope {
    fn request_id_header(&self) -> &'static str {
        "x-dashscope-request-id"
    }

    /// QwQ, QVQ, Omni, and the Qwen3 open-weight models while thinking.
    fn requires_stream(&self, upstream_model: &str, thinking_disabled: bool) -> bool {
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

    fn prepare(&self, req: &mut ChatRequest, upstream_model: &str, adj: &mut Vec<Adjustment>) {
        ask_for_stream_usage(req);
        use_older_fields(req);
        thinking_as_enable_thinking(req);
        json_without_thinking(req, upstream_model, adj);
    }

    fn classify(&self, said: &ErrorSaid<'_>) -> Option<ErrorKind> {
        let c = said.code?;
        Some(match c {
            "InvalidApiKey" | "invalid_api_key" => ErrorKind::Authentication,
            "Arrearage" => ErrorKind::InsufficientQuota,
            "AccessDenied" | "access_denied" => ErrorKind::PermissionDenied,
            "ModelNotFound" | "model_not_found" => ErrorKind::NotFound,
            "DataInspectionFailed" | "data_inspection_failed" => ErrorKind::ContentFilter,
            "InvalidParameter" | "invalid_parameter_error" => ErrorKind::InvalidRequest,
            c if c.starts_with("Throttling") || c == "AllocationQuota" || c == "limit_requests" => {
                ErrorKind::RateLimited
            }
            "InternalError" | "internal_error" => ErrorKind::Server,
            _ => return None,
        })
    }
}

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

/// `thinking:{type:enabled|disabled}` (how the Messages API, DeepSeek and GLM switch
/// thinking) as DashScope's own `enable_thinking`, unless the client set that too.
pub(super) fn thinking_as_enable_thinking(req: &mut ChatRequest) {
    let on = match req
        .extra
        .get("thinking")
        .and_then(|t| t.get("type"))
        .and_then(Value::as_str)
    {
        Some("enabled") => true,
        Some("disabled") => false,
        _ => return,
    };
    req.extra.remove("thinking");
    req.extra
        .entry("enable_thinking")
        .or_insert(Value::Bool(on));
}

/// JSON output works in non-thinking mode only, so a request for JSON to a model that
/// thinks by default gets `enable_thinking: false`, unless the client asked for thinking
/// (then the vendor's answer stands).
fn json_without_thinking(req: &mut ChatRequest, upstream_model: &str, adj: &mut Vec<Adjustment>) {
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

#[cfg(test)]
mod tests {
    use crate::dialect::testing::{chunk, req};
    use crate::dialect::{Dialect, StreamNormalizer};
    use crate::error::ErrorKind;
    use serde_json::{Value, json};

    #[test]
    fn a_thinking_switch_becomes_enable_thinking() {
        let mut r = req(json!({"model": "m", "messages": [], "thinking": {"type": "enabled"}}));
        Dialect::DashScope.prepare(&mut r, "qwen-plus");
        assert_eq!(r.extra["enable_thinking"], true);
        assert!(!r.extra.contains_key("thinking"));
        let mut r = req(
            json!({"model": "m", "messages": [], "thinking": {"type": "disabled"}, "enable_thinking": true}),
        );
        Dialect::DashScope.prepare(&mut r, "qwen-plus");
        assert_eq!(
            r.extra["enable_thinking"], true,
            "the vendor's own switch wins"
        );
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
    fn stream_asks_for_usage_where_the_vendor_needs_it() {
        let mut r = req(json!({"model": "x", "messages": [], "stream": true}));
        Dialect::DashScope.prepare(&mut r, "qwen3-32b");
        assert_eq!(r.model, "qwen3-32b");
        assert!(r.wants_stream_usage());
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
    fn qwen_trailing_usage_chunk_is_dropped_after_extraction() {
        let mut n = StreamNormalizer::new();
        let mut c = chunk(
            json!({"id": "1", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}),
        );
        assert!(!n.apply(&mut c).unwrap());
        assert_eq!(n.usage().map(|u| u.total()), Some(7));
    }
}
