//! DeepSeek: what it needs changed on the way in and how it spells its errors.
//!
//! Facts (`shared/reference/providers.md`, "DeepSeek"):
//! - rejects `role:"developer"` (sent as `system`) and knows `max_tokens` only;
//! - in thinking mode, assistant turns that made tool calls must carry their
//!   `reasoning_content` back (else 400); elsewhere it is dead weight;
//! - `reasoning_effort` takes low/high/max: minimal→low, medium/xhigh→high, ultra→max;
//! - usage has cache hit/miss fields (`prompt_cache_hit_tokens`,
//!   `prompt_cache_miss_tokens`) beside the OpenAI ones, and a stream reports it only
//!   when asked (`stream_options.include_usage`);
//! - errors: 402 Insufficient Balance (sent as `type:"unknown_error"`), 422 invalid
//!   parameters, 503 Server Overloaded; the request id comes in `x-ds-trace-id`.

use serde_json::Value;

use crate::chat::{ChatRequest, Role};
use crate::error::ErrorKind;

use super::{Adjustment, ErrorSaid, Vendor, ask_for_stream_usage, use_older_fields};

/// Value DeepSeek accepts as a placeholder when the client lost the reasoning it must pass back.
pub const REASONING_PLACEHOLDER: &str = " ";

/// The DeepSeek dialect.
pub(super) struct DeepSeek;

impl Vendor for DeepSeek {
    fn request_id_header(&self) -> &'static str {
        "x-ds-trace-id"
    }

    fn prepare(&self, req: &mut ChatRequest, _upstream_model: &str, adj: &mut Vec<Adjustment>) {
        ask_for_stream_usage(req);
        use_older_fields(req);
        pass_reasoning_back(req, adj);
        map_reasoning_effort(req, adj);
    }

    fn classify(&self, said: &ErrorSaid<'_>) -> Option<ErrorKind> {
        match said.status {
            402 => Some(ErrorKind::InsufficientQuota),
            422 => Some(ErrorKind::InvalidRequest),
            503 => Some(ErrorKind::Overloaded),
            _ => None,
        }
    }
}

/// In thinking mode, tool-call turns without their reasoning get the placeholder; other
/// assistant turns lose theirs.
fn pass_reasoning_back(req: &mut ChatRequest, adj: &mut Vec<Adjustment>) {
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
}

/// `reasoning_effort` values DeepSeek does not take, mapped to the nearest it does.
fn map_reasoning_effort(req: &mut ChatRequest, adj: &mut Vec<Adjustment>) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::Dialect;
    use crate::dialect::testing::req;
    use serde_json::json;

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
    fn deepseek_402_is_insufficient_balance() {
        let e = Dialect::DeepSeek.parse_error(402, br#"{"error":{"message":"Insufficient Balance","type":"unknown_error","param":null,"code":"invalid_request_error"}}"#, Some("trace"));
        assert_eq!(e.kind, ErrorKind::InsufficientQuota);
        assert_eq!(e.message, "Insufficient Balance");
    }
}
