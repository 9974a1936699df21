//! Moonshot (Kimi): fixed sampling, where it puts usage, the tool-call indices it leaves
//! out, and how it spells its errors.
//!
//! Facts (`shared/reference/providers.md`, "Kimi (Moonshot)"):
//! - K2.5 and later fix temperature (1.0, or 0.6 with thinking off) and `top_p` (0.95);
//!   `-code` models cannot switch thinking off; legacy models take temperature in [0, 1],
//!   and at least 0.3 when `n > 1`; there is no `tool_choice:"required"`;
//! - knows `max_tokens` only, and no `role:"developer"` (sent as `system`);
//! - always reports usage, inside `choices[0].usage` (stream and non-stream alike)
//!   rather than at the top level, with `cached_tokens` beside the OpenAI fields;
//! - sometimes omits the tool-call `index` in stream deltas;
//! - errors are `{"error":{"type","message"}}` with no `code`, classified by `type`; the
//!   request id comes in `msh-request-id`.
//!
//! Its two stream quirks are undone here ([`take_chunk_usage`], [`ToolIndices`]) for every
//! stream, by the shared `StreamNormalizer`, and its usage placement for every
//! non-streaming answer ([`take_completion_usage`]).

use serde_json::Value;

use crate::chat::{ChatCompletion, ChatRequest, ChunkChoice, ToolCall};
use crate::error::{ErrorKind, UpstreamError};
use crate::usage::Usage;

use super::{Adjustment, ErrorSaid, Vendor, tool_slot, use_older_fields};

/// The Moonshot dialect.
pub(super) struct Moonshot;

impl Vendor for Moonshot {
    fn request_id_header(&self) -> &'static str {
        "msh-request-id"
    }

    fn prepare(&self, req: &mut ChatRequest, upstream_model: &str, adj: &mut Vec<Adjustment>) {
        use_older_fields(req);
        if fixed_sampling(upstream_model) {
            fix_sampling(req, upstream_model, adj);
        } else {
            clamp_temperature(req, adj);
        }
        if req.tool_choice.as_ref().and_then(Value::as_str) == Some("required") {
            req.tool_choice = Some(Value::String("auto".into()));
            adj.push(Adjustment::new(
                "tool_choice",
                "Kimi has no 'required'; sent 'auto'",
            ));
        }
    }

    fn classify(&self, said: &ErrorSaid<'_>) -> Option<ErrorKind> {
        Some(match said.vendor_type? {
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
        })
    }
}

/// Kimi models whose sampling parameters are fixed by the vendor.
fn fixed_sampling(upstream: &str) -> bool {
    ["kimi-k2.5", "kimi-k2.6", "kimi-k2.7", "kimi-k3"]
        .iter()
        .any(|p| upstream.starts_with(p))
}

/// K2.5 and later: the one temperature and `top_p` they take; `-code` keeps thinking on.
fn fix_sampling(req: &mut ChatRequest, upstream: &str, adj: &mut Vec<Adjustment>) {
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
}

/// Legacy models: temperature in [0, 1], and at least 0.3 when `n > 1`.
fn clamp_temperature(req: &mut ChatRequest, adj: &mut Vec<Adjustment>) {
    if let Some(t) = req.temperature {
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
}

/// Usage Kimi put inside a stream choice, taken out of it.
pub(super) fn take_chunk_usage(choice: &mut ChunkChoice) -> Option<Usage> {
    choice.usage.take()
}

/// Usage Kimi put inside a choice of a non-streaming answer (the first that has one),
/// taken out of it.
pub(super) fn take_completion_usage(resp: &mut ChatCompletion) -> Option<Usage> {
    resp.choices
        .iter_mut()
        .find_map(|c| c.extra.remove("usage"))
        .and_then(|v| serde_json::from_value::<Usage>(v).ok())
}

/// Tool-call indices of one stream choice: Kimi sometimes leaves a delta's `index` out,
/// so a delta without one gets the index of the call it continues, or the next free one
/// when it starts a call (it carries an `id`).
#[derive(Debug, Default, Clone)]
pub(super) struct ToolIndices {
    next: u32,
    current: u32,
}

impl ToolIndices {
    /// Check `call`'s index against the bound, or fill it in.
    pub(super) fn apply(&mut self, call: &mut ToolCall) -> Result<(), UpstreamError> {
        match call.index {
            Some(i) => {
                tool_slot(i)?;
                self.current = i;
                self.next = self.next.max(i.saturating_add(1));
            }
            None => {
                if call.id.is_some() {
                    tool_slot(self.next)?;
                    self.current = self.next;
                    self.next = self.next.saturating_add(1);
                }
                call.index = Some(self.current);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::chat::ChatCompletion;
    use crate::dialect::testing::{chunk, req};
    use crate::dialect::{Dialect, StreamNormalizer, normalize_completion};
    use crate::error::ErrorKind;
    use crate::usage::TokenUsage;
    use serde_json::json;

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
}
