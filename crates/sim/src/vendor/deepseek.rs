//! DeepSeek: its ids, usage fields, keep-alives, error bodies and the requests it rejects.
//!
//! Independent of `switchyard_wire::dialect::deepseek`, on purpose: this is the stand-in
//! the gateway is tested against, so its facts are written down again here, not asked of
//! the gateway (see `vendor/mod.rs`).
//!
//! Facts (`shared/reference/providers.md`, "DeepSeek"):
//! - URLs with or without `/v1`; the request id comes in `x-ds-trace-id`;
//! - ids are UUIDs; `system_fingerprint` looks like `fp_…_prod0820_fp8_kvcache`;
//!   reasoning deltas carry `"content": null`; a tool-call answer has `"content": ""`;
//! - usage has `prompt_cache_hit_tokens` and `prompt_cache_miss_tokens` (their sum is
//!   `prompt_tokens`) beside the OpenAI details; streams put it where OpenAI does;
//! - while a request waits, `: keep-alive` comments (streams) or blank lines (not);
//! - errors are OpenAI-shaped: 400 for bad input (an unknown model too), 401, 402
//!   Insufficient Balance as `type:"unknown_error"`, 429, 500, 503 Server overloaded;
//! - rejects `role:"developer"` (and the legacy `function`) with its serde message, and,
//!   in thinking mode, an assistant tool-call turn without its `reasoning_content`; its
//!   messages for empty input, media and unsupported formats are its own.

use http::StatusCode;
use rand::rngs::SmallRng;
use serde_json::Value;
use switchyard_wire::{ChatRequest, Role, TokenUsage, Usage};

use super::{Ids, Shape, Vendor, hex_id, openai, openai_style, uuid_like};
use crate::failure::Failure;
use crate::generate::Target;
use crate::validate::Refusal;

/// The DeepSeek vendor.
#[derive(Debug)]
pub(super) struct DeepSeek;

const SHAPE: Shape = Shape {
    path_prefix: "",
    optional_v1: true,
    request_id_header: "x-ds-trace-id",
    reasoning_content_null: true,
    tool_call_empty_content: true,
    keepalive: true,
    ..openai::SHAPE
};

impl Vendor for DeepSeek {
    fn shape(&self) -> &'static Shape {
        &SHAPE
    }

    fn ids(&self, rng: &mut SmallRng, _created: u64) -> Ids {
        let response = uuid_like(rng);
        let request = hex_id("", rng, 32);
        Ids { response, request }
    }

    /// `fp_`, ten hex digits, `_prod0820_fp8_kvcache`.
    fn fingerprint(&self, rng: &mut SmallRng) -> Option<String> {
        let mut s = hex_id("fp_", rng, 10);
        s.push_str("_prod0820_fp8_kvcache");
        Some(s)
    }

    fn usage(&self, u: &TokenUsage) -> Usage {
        let mut wire = u.to_wire();
        wire.prompt_cache_hit_tokens = Some(u.cached_prompt);
        wire.prompt_cache_miss_tokens = Some(u.prompt - u.cached_prompt);
        wire
    }

    fn error_body(&self, failure: &Failure, _request_id: &str) -> (StatusCode, Value) {
        error_body(failure)
    }

    fn refusal(&self, refusal: Refusal, upstream: &str) -> String {
        match refusal {
            Refusal::EmptyMessages => "Empty input messages".to_string(),
            Refusal::Image => "Failed to deserialize the JSON body into the target type: \
                messages: unknown variant `image_url`, expected `text`"
                .to_string(),
            Refusal::Audio => "Failed to deserialize the JSON body into the target type: \
                messages: unknown variant `input_audio`, expected `text`"
                .to_string(),
            Refusal::Format(_) => "This response_format type is unavailable now".to_string(),
            Refusal::BadN(_) => refusal.usual_message(upstream),
        }
    }

    fn check(&self, req: &ChatRequest, target: &Target) -> Result<(), Failure> {
        for (i, m) in req.messages.iter().enumerate() {
            let variant = match m.role {
                Role::Developer => "developer",
                Role::Function => "function",
                _ => continue,
            };
            return Err(Failure::invalid(format!(
                "Failed to deserialize the JSON body into the target type: messages[{i}].role: \
                 unknown variant `{variant}`, expected one of `system`, `user`, `assistant`, `tool`"
            )));
        }
        if target.reasoning && !req.thinking_disabled() {
            let missing = req.messages.iter().any(|m| {
                m.role == Role::Assistant
                    && m.tool_calls.as_ref().is_some_and(|c| !c.is_empty())
                    && m.reasoning_content.is_none()
            });
            if missing {
                return Err(Failure::invalid(
                    "The `reasoning_content` in the thinking mode must be passed back to the API.",
                ));
            }
        }
        Ok(())
    }
}

fn error_body(f: &Failure) -> (StatusCode, Value) {
    let bad = |m: &str| {
        (
            StatusCode::BAD_REQUEST,
            openai_style(m, "invalid_request_error", Some("invalid_request_error")),
        )
    };
    match f {
        Failure::InvalidJson(m) => bad(&format!(
            "Failed to deserialize the JSON body into the target type: {m}"
        )),
        Failure::InvalidRequest(m) => bad(m),
        Failure::ModelNotFound(_) => bad("Model Not Exist"),
        Failure::MissingKey | Failure::InvalidKey => (
            StatusCode::UNAUTHORIZED,
            openai_style(
                "Authentication Fails, Your api key is invalid",
                "authentication_error",
                Some("invalid_request_error"),
            ),
        ),
        Failure::RouteNotFound(_) => (
            StatusCode::NOT_FOUND,
            openai_style(
                "Not Found",
                "invalid_request_error",
                Some("invalid_request_error"),
            ),
        ),
        Failure::RateLimited => (
            StatusCode::TOO_MANY_REQUESTS,
            openai_style(
                "Rate Limit Reached: too many concurrent requests for this account",
                "rate_limit_error",
                Some("rate_limit_exceeded"),
            ),
        ),
        Failure::Overloaded => (
            StatusCode::SERVICE_UNAVAILABLE,
            openai_style(
                "Server overloaded, please try again later.",
                "server_error",
                Some("server_overloaded"),
            ),
        ),
        Failure::InsufficientBalance => (
            StatusCode::PAYMENT_REQUIRED,
            openai_style(
                "Insufficient Balance",
                "unknown_error",
                Some("invalid_request_error"),
            ),
        ),
        Failure::ServerError => (
            StatusCode::INTERNAL_SERVER_ERROR,
            openai_style(
                "Internal Server Error: the server had an error while processing your request",
                "server_error",
                Some("internal_error"),
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::testing::{message, req, target};
    use crate::vendor::check;
    use crate::vendor::testing::error_body;
    use serde_json::json;
    use switchyard_wire::Dialect;

    #[test]
    fn deepseek_402_is_unknown_error_with_invalid_request_code() {
        let (status, body) = error_body(Dialect::DeepSeek, &Failure::InsufficientBalance, "r");
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
        assert_eq!(
            body,
            json!({"error": {"message": "Insufficient Balance", "type": "unknown_error", "param": null, "code": "invalid_request_error"}})
        );
    }

    #[test]
    fn deepseek_rejects_developer_role() {
        let r = req(
            json!({"model": "m", "messages": [{"role": "developer", "content": "x"}, {"role": "user", "content": "y"}]}),
        );
        let m = message(check(
            Dialect::DeepSeek,
            &r,
            &target("deepseek-chat", false, false),
        ));
        assert!(m.contains("messages[0].role: unknown variant `developer`, expected one of `system`, `user`, `assistant`, `tool`"), "{m}");
        assert!(check(Dialect::DashScope, &r, &target("q", false, false)).is_ok());
    }

    #[test]
    fn deepseek_thinking_needs_reasoning_content_on_tool_call_turns() {
        let body = json!({"model": "m", "messages": [
            {"role": "user", "content": "w?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c", "type": "function", "function": {"name": "w", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c", "content": "sun"}
        ]});
        let r = req(body.clone());
        let m = message(check(
            Dialect::DeepSeek,
            &r,
            &target("deepseek-reasoner", true, false),
        ));
        assert_eq!(
            m,
            "The `reasoning_content` in the thinking mode must be passed back to the API."
        );
        assert!(
            check(
                Dialect::DeepSeek,
                &r,
                &target("deepseek-chat", false, false)
            )
            .is_ok()
        );
        let mut off = body.clone();
        off["thinking"] = json!({"type": "disabled"});
        assert!(
            check(
                Dialect::DeepSeek,
                &req(off),
                &target("deepseek-reasoner", true, false)
            )
            .is_ok()
        );
        let mut with = body;
        with["messages"][1]["reasoning_content"] = json!(" ");
        assert!(
            check(
                Dialect::DeepSeek,
                &req(with),
                &target("deepseek-reasoner", true, false)
            )
            .is_ok()
        );
    }
}
