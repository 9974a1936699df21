//! Plain OpenAI: the baseline shape the other vendor files start from.
//!
//! Independent of `switchyard_wire::dialect::openai`, on purpose: this is the stand-in
//! the gateway is tested against, so its facts are written down again here, not asked of
//! the gateway (see `vendor/mod.rs`).
//!
//! Facts (OpenAI's public API; `shared/reference/providers.md` describes the other
//! vendors by how they differ from it):
//! - URLs under `/v1`; the request id comes in `x-request-id`;
//! - ids `chatcmpl-…` (29 hex digits here), request ids `req_…`; `system_fingerprint`
//!   `fp_…`; choices carry `logprobs: null` and `finish_reason: null` until the end;
//! - a stream reports usage only when asked (`stream_options.include_usage`), in a
//!   trailing `choices: []` chunk, and its chunks then carry `"usage": null`; the usage
//!   object has `prompt_tokens_details` and `completion_tokens_details`;
//! - errors are `{"error":{"message","type","param":null,"code"}}`; a spent balance is
//!   429 `insufficient_quota`;
//! - rejects JSON mode (`json_object`) without the word "json" in the messages.

use http::StatusCode;
use rand::rngs::SmallRng;
use serde_json::Value;
use switchyard_wire::ChatRequest;

use super::{
    Fingerprint, Ids, ReasoningOut, Shape, StreamUsage, UsageNull, Vendor, hex_id, openai_style,
};
use crate::failure::Failure;
use crate::generate::Target;
use crate::validate::json_mode_needs_the_word;

/// The OpenAI vendor.
#[derive(Debug)]
pub(super) struct OpenAi;

/// OpenAI's shape; the other vendors' are written as changes to it.
pub(super) const SHAPE: Shape = Shape {
    path_prefix: "/v1",
    optional_v1: false,
    request_id_header: "x-request-id",
    chunk_object: true,
    fingerprint: Fingerprint::Value,
    usage_null: UsageNull::WhenRequested,
    stream_usage: StreamUsage::TrailingIfRequested,
    repeat_role: false,
    tool_index: true,
    logprobs: true,
    finish_null: true,
    reasoning_content_null: false,
    tool_call_empty_content: false,
    keepalive: false,
    keepalive_sse: b": keep-alive\n\n",
    reasoning: ReasoningOut::Content,
    body_request_id: false,
};

impl Vendor for OpenAi {
    fn shape(&self) -> &'static Shape {
        &SHAPE
    }

    fn ids(&self, rng: &mut SmallRng, _created: u64) -> Ids {
        let response = hex_id("chatcmpl-", rng, 29);
        let request = hex_id("req_", rng, 32);
        Ids { response, request }
    }

    /// `fp_` and ten hex digits.
    fn fingerprint(&self, rng: &mut SmallRng) -> Option<String> {
        Some(hex_id("fp_", rng, 10))
    }

    fn error_body(&self, failure: &Failure, _request_id: &str) -> (StatusCode, Value) {
        error_body(failure)
    }

    fn check(&self, req: &ChatRequest, _target: &Target) -> Result<(), Failure> {
        json_mode_needs_the_word(req)
    }
}

fn error_body(f: &Failure) -> (StatusCode, Value) {
    match f {
        Failure::InvalidJson(m) => (
            StatusCode::BAD_REQUEST,
            openai_style(
                &format!("We could not parse the JSON body of your request: {m}"),
                "invalid_request_error",
                None,
            ),
        ),
        Failure::InvalidRequest(m) => (
            StatusCode::BAD_REQUEST,
            openai_style(m, "invalid_request_error", None),
        ),
        Failure::ModelNotFound(m) => (
            StatusCode::NOT_FOUND,
            openai_style(
                &format!("The model `{m}` does not exist or you do not have access to it."),
                "invalid_request_error",
                Some("model_not_found"),
            ),
        ),
        Failure::MissingKey => (
            StatusCode::UNAUTHORIZED,
            openai_style(
                "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth.",
                "invalid_request_error",
                None,
            ),
        ),
        Failure::InvalidKey => (
            StatusCode::UNAUTHORIZED,
            openai_style(
                "Incorrect API key provided.",
                "invalid_request_error",
                Some("invalid_api_key"),
            ),
        ),
        Failure::RouteNotFound(p) => (
            StatusCode::NOT_FOUND,
            openai_style(
                &format!("Invalid URL (POST {p})"),
                "invalid_request_error",
                None,
            ),
        ),
        Failure::RateLimited => (
            StatusCode::TOO_MANY_REQUESTS,
            openai_style(
                "Rate limit reached for requests. Please try again later.",
                "requests",
                Some("rate_limit_exceeded"),
            ),
        ),
        Failure::Overloaded => (
            StatusCode::SERVICE_UNAVAILABLE,
            openai_style(
                "The engine is currently overloaded, please try again later.",
                "server_error",
                None,
            ),
        ),
        Failure::InsufficientBalance => (
            StatusCode::TOO_MANY_REQUESTS,
            openai_style(
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                Some("insufficient_quota"),
            ),
        ),
        Failure::ServerError => (
            StatusCode::INTERNAL_SERVER_ERROR,
            openai_style(
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
                None,
            ),
        ),
    }
}
