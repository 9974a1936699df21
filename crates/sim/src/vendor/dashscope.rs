//! DashScope, Alibaba Model Studio's compatible mode (Qwen): its ids, `null` fields,
//! error bodies and the requests it rejects.
//!
//! Independent of `switchyard_wire::dialect::dashscope`, on purpose: this is the
//! stand-in the gateway is tested against, so its facts are written down again here, not
//! asked of the gateway (see `vendor/mod.rs`).
//!
//! Facts (`shared/reference/providers.md`, "Qwen (Alibaba Model Studio / DashScope)"):
//! - URLs under `/compatible-mode/v1`; the request id comes in `x-dashscope-request-id`;
//! - ids `chatcmpl-<uuid>`, request ids UUIDs; chunks carry `"usage": null` and
//!   `"system_fingerprint": null`, the `finish_reason` chunk too; usage comes only in a
//!   trailing `choices: []` chunk, and only with `stream_options.include_usage`;
//! - errors are OpenAI-shaped with DashScope codes (`invalid_api_key`, `Arrearage`,
//!   `limit_requests`, …) and the `request_id` beside them;
//! - QwQ, QVQ, Omni and the Qwen3 open-weight models while thinking refuse non-streaming
//!   calls; JSON output works in non-thinking mode only; JSON mode needs the word "json".

use http::StatusCode;
use rand::rngs::SmallRng;
use serde_json::{Value, json};
use switchyard_wire::ChatRequest;

use super::{Fingerprint, Ids, Shape, UsageNull, Vendor, openai, uuid_like};
use crate::failure::Failure;
use crate::generate::Target;
use crate::validate::json_mode_needs_the_word;

/// The DashScope vendor.
#[derive(Debug)]
pub(super) struct DashScope;

const SHAPE: Shape = Shape {
    path_prefix: "/compatible-mode/v1",
    request_id_header: "x-dashscope-request-id",
    fingerprint: Fingerprint::Null,
    usage_null: UsageNull::Always,
    ..openai::SHAPE
};

impl Vendor for DashScope {
    fn shape(&self) -> &'static Shape {
        &SHAPE
    }

    fn ids(&self, rng: &mut SmallRng, _created: u64) -> Ids {
        let response = format!("chatcmpl-{}", uuid_like(rng));
        Ids {
            response,
            request: uuid_like(rng),
        }
    }

    fn error_body(&self, failure: &Failure, request_id: &str) -> (StatusCode, Value) {
        error_body(failure, request_id)
    }

    /// JSON mode needs the word "json"; stream-only models refuse non-streaming calls,
    /// and JSON output is for non-thinking mode only (the documented rule; the message is
    /// ours).
    fn check(&self, req: &ChatRequest, target: &Target) -> Result<(), Failure> {
        json_mode_needs_the_word(req)?;
        let thinking_off = req.thinking_disabled();
        if req.json_output().is_some() && target.reasoning && !thinking_off {
            return Err(Failure::invalid(
                "response_format json_object/json_schema is supported in non-thinking mode only; set enable_thinking to false",
            ));
        }
        if req.is_stream() {
            return Ok(());
        }
        match stream_only(&target.upstream, thinking_off) {
            None => Ok(()),
            Some(StreamOnly::Model) => Err(Failure::invalid(
                "This model only support stream mode, please enable the stream parameter to access the model.",
            )),
            Some(StreamOnly::Thinking) => Err(Failure::invalid(
                "parameter.enable_thinking must be set to false for non-streaming calls",
            )),
        }
    }
}

/// Why a model refuses non-streaming calls, as the vendor words it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamOnly {
    /// QwQ, QVQ and Omni: the model streams only.
    Model,
    /// The others: thinking needs a stream.
    Thinking,
}

/// Whether `upstream` refuses a non-streaming call: QwQ, QVQ, Omni and `thinking`
/// models always, a Qwen3 open-weight model unless thinking is off.
fn stream_only(upstream: &str, thinking_off: bool) -> Option<StreamOnly> {
    let model = upstream.to_ascii_lowercase();
    let named = ["qwq", "qvq"].iter().any(|p| model.starts_with(p))
        || ["-omni", "thinking"].iter().any(|p| model.contains(p));
    if !named && (thinking_off || !open_weight_thinker(&model)) {
        return None;
    }
    let streams_only =
        ["qwq", "qvq"].iter().any(|p| upstream.starts_with(p)) || upstream.contains("-omni");
    Some(if streams_only {
        StreamOnly::Model
    } else {
        StreamOnly::Thinking
    })
}

/// A Qwen3 open-weight model that thinks by default: `qwen3` or `qwen3.5` then a size in
/// billions as the second dash-separated part (`qwen3-32b`, `qwen3-235b-a22b`), and not
/// an `-instruct` build.
fn open_weight_thinker(lower_model: &str) -> bool {
    let mut parts = lower_model.split('-');
    let family = parts.next().unwrap_or_default();
    let size = parts.next().unwrap_or_default();
    let billions = size
        .strip_suffix('b')
        .is_some_and(|digits| !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()));
    family.starts_with("qwen3") && billions && !lower_model.contains("instruct")
}

fn error_body(f: &Failure, request_id: &str) -> (StatusCode, Value) {
    let (status, message, kind, code) = match f {
        Failure::InvalidJson(m) => (
            StatusCode::BAD_REQUEST,
            format!("<400> InternalError.Algo.InvalidParameter: The request body is not valid JSON: {m}"),
            "invalid_request_error",
            "invalid_parameter_error",
        ),
        Failure::InvalidRequest(m) => (
            StatusCode::BAD_REQUEST,
            format!("<400> InternalError.Algo.InvalidParameter: {m}"),
            "invalid_request_error",
            "invalid_parameter_error",
        ),
        Failure::ModelNotFound(m) => (
            StatusCode::NOT_FOUND,
            format!("The model `{m}` does not exist or you do not have access to it."),
            "invalid_request_error",
            "model_not_found",
        ),
        Failure::MissingKey | Failure::InvalidKey => (
            StatusCode::UNAUTHORIZED,
            "Incorrect API key provided. ".to_string(),
            "invalid_request_error",
            "invalid_api_key",
        ),
        Failure::RouteNotFound(p) => (
            StatusCode::NOT_FOUND,
            format!("The requested path {p} was not found."),
            "invalid_request_error",
            "NotFound",
        ),
        Failure::RateLimited => (
            StatusCode::TOO_MANY_REQUESTS,
            "Requests rate limit exceeded, please try again later.".to_string(),
            "limit_requests",
            "limit_requests",
        ),
        Failure::Overloaded => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many requests. Your requests exceed the model's current capacity, please try again later.".to_string(),
            "service_unavailable_error",
            "ServiceUnavailable",
        ),
        Failure::InsufficientBalance => (
            StatusCode::FORBIDDEN,
            "Access denied, please make sure your account is in good standing.".to_string(),
            "Arrearage",
            "Arrearage",
        ),
        Failure::ServerError => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "An internal error has occured, please try again later or contact service support."
                .to_string(),
            "internal_error",
            "internal_error",
        ),
    };
    (
        status,
        json!({
            "error": {"message": message, "type": kind, "param": null, "code": code},
            "request_id": request_id
        }),
    )
}

#[cfg(test)]
mod tests {
    use crate::validate::testing::{message, req, target};
    use crate::vendor::check;
    use serde_json::json;
    use switchyard_wire::Dialect;

    #[test]
    fn dashscope_stream_only_models_refuse_non_streaming_calls() {
        let plain = req(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}));
        let msg = message(check(
            Dialect::DashScope,
            &plain,
            &target("qwen3-32b", true, false),
        ));
        assert!(
            msg.contains("enable_thinking must be set to false"),
            "{msg}"
        );
        let msg = message(check(
            Dialect::DashScope,
            &plain,
            &target("qwen3-omni-30b-a3b-instruct", false, true),
        ));
        assert!(msg.contains("only support stream mode"), "{msg}");
        let streamed = req(
            json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
        );
        assert!(
            check(
                Dialect::DashScope,
                &streamed,
                &target("qwen3-32b", true, false)
            )
            .is_ok()
        );
        let thinking_off = req(
            json!({"model": "m", "enable_thinking": false, "messages": [{"role": "user", "content": "hi"}]}),
        );
        assert!(
            check(
                Dialect::DashScope,
                &thinking_off,
                &target("qwen3-32b", true, false)
            )
            .is_ok()
        );
    }
}
