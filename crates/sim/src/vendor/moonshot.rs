//! Moonshot (Kimi): its ids, where it puts usage, the tool-call indices it leaves out,
//! its error bodies and the sampling it refuses.
//!
//! Independent of `switchyard_wire::dialect::moonshot`, on purpose: this is the stand-in
//! the gateway is tested against, so its facts are written down again here, not asked of
//! the gateway (see `vendor/mod.rs`).
//!
//! Facts (`shared/reference/providers.md`, "Kimi (Moonshot)"):
//! - URLs under `/v1`; the request id comes in `msh-request-id`;
//! - ids `chatcmpl-` and 24 hex digits, request ids UUIDs; no `system_fingerprint`, no
//!   `logprobs`, no `"usage": null`;
//! - a stream always reports usage, inside `choices[0].usage` of its final chunk; the
//!   usage object has `cached_tokens` at its top level instead of
//!   `prompt_tokens_details`; tool-call deltas have no `index`;
//! - errors are `{"error":{"type","message"}}`, no `code`: 429 covers the rate limit,
//!   the overloaded engine and the suspended (unpaid) account;
//! - K2.5 and later take only temperature 1 (0.6 with thinking off) and `top_p` 0.95;
//!   `-code` models cannot switch thinking off; legacy models take temperature in
//!   [0, 1], and at least 0.3 when `n > 1`.

use http::StatusCode;
use rand::rngs::SmallRng;
use serde_json::{Value, json};
use switchyard_wire::usage::TokenDetails;
use switchyard_wire::{ChatRequest, TokenUsage, Usage};

use super::{Fingerprint, Ids, Shape, StreamUsage, UsageNull, Vendor, hex_id, openai, uuid_like};
use crate::failure::Failure;
use crate::generate::Target;

/// The Moonshot vendor.
#[derive(Debug)]
pub(super) struct Moonshot;

const SHAPE: Shape = Shape {
    path_prefix: "/v1",
    request_id_header: "msh-request-id",
    fingerprint: Fingerprint::Absent,
    usage_null: UsageNull::Never,
    stream_usage: StreamUsage::InFinishChoice,
    tool_index: false,
    logprobs: false,
    ..openai::SHAPE
};

impl Vendor for Moonshot {
    fn shape(&self) -> &'static Shape {
        &SHAPE
    }

    fn ids(&self, rng: &mut SmallRng, _created: u64) -> Ids {
        let response = hex_id("chatcmpl-", rng, 24);
        Ids {
            response,
            request: uuid_like(rng),
        }
    }

    fn usage(&self, u: &TokenUsage) -> Usage {
        let mut wire = u.to_wire();
        wire.prompt_tokens_details = None;
        wire.cached_tokens = Some(u.cached_prompt);
        wire.completion_tokens_details = Some(TokenDetails {
            reasoning_tokens: Some(u.reasoning),
            ..TokenDetails::default()
        });
        wire
    }

    fn error_body(&self, failure: &Failure, _request_id: &str) -> (StatusCode, Value) {
        error_body(failure)
    }

    fn check(&self, req: &ChatRequest, target: &Target) -> Result<(), Failure> {
        let upstream = target.upstream.as_str();
        if fixed_sampling(upstream) {
            fixed_sampling_only(req, upstream)
        } else {
            legacy_temperature(req)
        }
    }
}

/// Kimi models whose sampling parameters are fixed.
fn fixed_sampling(upstream: &str) -> bool {
    ["kimi-k2.5", "kimi-k2.6", "kimi-k2.7", "kimi-k3"]
        .iter()
        .any(|p| upstream.starts_with(p))
}

/// K2.5 and later: thinking stays on for `-code`, one temperature, one `top_p`.
fn fixed_sampling_only(req: &ChatRequest, upstream: &str) -> Result<(), Failure> {
    let off = req.thinking_disabled();
    if off && upstream.contains("-code") {
        return Err(Failure::invalid(format!(
            "invalid thinking: thinking cannot be disabled for model {upstream}"
        )));
    }
    let (allowed, shown) = if off { (0.6, "0.6") } else { (1.0, "1") };
    if req.temperature.is_some_and(|t| t != allowed) {
        return Err(Failure::invalid(format!(
            "invalid temperature: only {shown} is allowed for this model"
        )));
    }
    if req.top_p.is_some_and(|p| p != 0.95) {
        return Err(Failure::invalid(
            "invalid top_p: only 0.95 is allowed for this model",
        ));
    }
    Ok(())
}

/// Legacy models: temperature in [0, 1], at least 0.3 when `n > 1`.
fn legacy_temperature(req: &ChatRequest) -> Result<(), Failure> {
    let Some(t) = req.temperature else {
        return Ok(());
    };
    if !(0.0..=1.0).contains(&t) {
        return Err(Failure::invalid(format!(
            "invalid temperature: {t}, must be in [0, 1]"
        )));
    }
    if t < 0.3 && req.n.unwrap_or(1) > 1 {
        return Err(Failure::invalid(format!(
            "invalid temperature: {t}, temperature must be at least 0.3 when n > 1"
        )));
    }
    Ok(())
}

fn error_body(f: &Failure) -> (StatusCode, Value) {
    let (status, message, kind) = match f {
        Failure::InvalidJson(m) => (
            StatusCode::BAD_REQUEST,
            format!("Invalid request: the request body is not valid JSON: {m}"),
            "invalid_request_error",
        ),
        Failure::InvalidRequest(m) => (StatusCode::BAD_REQUEST, m.clone(), "invalid_request_error"),
        Failure::ModelNotFound(m) => (
            StatusCode::NOT_FOUND,
            format!("Not found the model {m} or Permission denied"),
            "resource_not_found_error",
        ),
        Failure::MissingKey | Failure::InvalidKey => (
            StatusCode::UNAUTHORIZED,
            "Invalid Authentication".to_string(),
            "invalid_authentication_error",
        ),
        Failure::RouteNotFound(p) => (
            StatusCode::NOT_FOUND,
            format!("Not found the url {p}"),
            "resource_not_found_error",
        ),
        Failure::RateLimited => (
            StatusCode::TOO_MANY_REQUESTS,
            "Your account org-sim<ak-sim> request reached organization TPM rate limit, current: 1410, limit: 100".to_string(),
            "rate_limit_reached_error",
        ),
        Failure::Overloaded => (
            StatusCode::TOO_MANY_REQUESTS,
            "The engine is currently overloaded, please try again later".to_string(),
            "engine_overloaded_error",
        ),
        Failure::InsufficientBalance => (
            StatusCode::TOO_MANY_REQUESTS,
            "Your account org-sim<ak-sim> is suspended, please check your plan and billing details".to_string(),
            "exceeded_current_quota_error",
        ),
        Failure::ServerError => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal server error, please try again later".to_string(),
            "server_error",
        ),
    };
    (status, json!({"error": {"message": message, "type": kind}}))
}

#[cfg(test)]
mod tests {
    use crate::validate::testing::{message, req, target};
    use crate::vendor::check;
    use serde_json::{Value, json};
    use switchyard_wire::Dialect;

    #[test]
    fn kimi_fixed_sampling_models_take_only_their_values() {
        let t = target("kimi-k2.5", true, true);
        let base = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
        let with = |k: &str, v: Value| {
            let mut b = base.clone();
            b[k] = v;
            req(b)
        };
        let m = message(check(
            Dialect::Moonshot,
            &with("temperature", json!(0.7)),
            &t,
        ));
        assert_eq!(m, "invalid temperature: only 1 is allowed for this model");
        assert!(check(Dialect::Moonshot, &with("temperature", json!(1.0)), &t).is_ok());
        assert!(
            message(check(Dialect::Moonshot, &with("top_p", json!(0.9)), &t)).contains("top_p")
        );
        assert!(check(Dialect::Moonshot, &with("top_p", json!(0.95)), &t).is_ok());
        let mut off = base.clone();
        off["thinking"] = json!({"type": "disabled"});
        off["temperature"] = json!(0.6);
        assert!(check(Dialect::Moonshot, &req(off.clone()), &t).is_ok());
        off["temperature"] = json!(1.0);
        assert!(message(check(Dialect::Moonshot, &req(off), &t)).contains("only 0.6"));
        // Legacy model: any temperature in [0, 1].
        assert!(
            check(
                Dialect::Moonshot,
                &with("temperature", json!(0.2)),
                &target("moonshot-v1-8k", false, false)
            )
            .is_ok()
        );
        let mut n2 = base;
        n2["temperature"] = json!(0.1);
        n2["n"] = json!(2);
        assert!(
            check(
                Dialect::Moonshot,
                &req(n2),
                &target("moonshot-v1-8k", false, false)
            )
            .is_err()
        );
    }
}
