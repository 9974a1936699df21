//! How each vendor spells things: URL prefixes, response ids, usage objects, stream-shape
//! quirks and error bodies (status, JSON, business codes).
//!
//! The facts follow `shared/reference/providers.md`; error bodies are chosen so that
//! [`switchyard_wire::Dialect::parse_error`] classifies them as the vendor's real ones.

use http::StatusCode;
use rand::Rng;
use rand::rngs::SmallRng;
use serde_json::{Value, json};
use switchyard_wire::usage::TokenDetails;
use switchyard_wire::{Dialect, TokenUsage, Usage};

/// URL prefix between `/{provider}/{region}` and `/chat/completions` for a dialect.
pub fn path_prefix(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::DeepSeek => "",
        Dialect::DashScope => "/compatible-mode/v1",
        Dialect::Moonshot | Dialect::OpenAi => "/v1",
        Dialect::Zhipu => "/api/paas/v4",
    }
}

/// What `system_fingerprint` looks like in a vendor's responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fingerprint {
    /// The field is not sent.
    Absent,
    /// `"system_fingerprint": null`.
    Null,
    /// A value (DeepSeek's `fp_…_prod0820_fp8_kvcache`, OpenAI's `fp_…`).
    Value,
}

/// Where a stream carries its usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamUsage {
    /// A trailing `choices: []` chunk, only with `stream_options.include_usage`.
    TrailingIfRequested,
    /// Inside `choices[0].usage` of the final chunk, always (Kimi).
    InFinishChoice,
    /// Top-level `usage` on the `finish_reason` chunk, always (GLM).
    OnFinishChunk,
}

/// When chunks carry `"usage": null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UsageNull {
    /// Never.
    Never,
    /// On every chunk (DashScope).
    Always,
    /// When the client asked for usage (OpenAI, DeepSeek).
    WhenRequested,
}

/// The output quirks of one dialect.
#[derive(Debug)]
pub(crate) struct Shape {
    /// The dialect.
    pub dialect: Dialect,
    /// Chunks carry `"object": "chat.completion.chunk"` (GLM omits it).
    pub chunk_object: bool,
    /// `system_fingerprint` style.
    pub fingerprint: Fingerprint,
    /// `"usage": null` on ordinary chunks.
    pub usage_null: UsageNull,
    /// Where stream usage goes.
    pub stream_usage: StreamUsage,
    /// Every delta repeats `"role": "assistant"` (GLM).
    pub repeat_role: bool,
    /// Tool-call deltas carry `index` (Kimi omits it).
    pub tool_index: bool,
    /// Choices carry `"logprobs": null`.
    pub logprobs: bool,
    /// Choices carry `"finish_reason": null` before the end (GLM sends it only at the end).
    pub finish_null: bool,
    /// Reasoning deltas also carry `"content": null` (DeepSeek).
    pub reasoning_content_null: bool,
    /// Keep-alives while waiting (`: keep-alive` comments, or blank lines when not
    /// streaming).
    pub keepalive: bool,
    /// The non-streaming body repeats the request id as `request_id` (GLM).
    pub body_request_id: bool,
}

const OPENAI: Shape = Shape {
    dialect: Dialect::OpenAi,
    chunk_object: true,
    fingerprint: Fingerprint::Value,
    usage_null: UsageNull::WhenRequested,
    stream_usage: StreamUsage::TrailingIfRequested,
    repeat_role: false,
    tool_index: true,
    logprobs: true,
    finish_null: true,
    reasoning_content_null: false,
    keepalive: false,
    body_request_id: false,
};

const DEEPSEEK: Shape = Shape {
    dialect: Dialect::DeepSeek,
    reasoning_content_null: true,
    keepalive: true,
    ..OPENAI
};

const DASHSCOPE: Shape = Shape {
    dialect: Dialect::DashScope,
    fingerprint: Fingerprint::Null,
    usage_null: UsageNull::Always,
    ..OPENAI
};

const MOONSHOT: Shape = Shape {
    dialect: Dialect::Moonshot,
    fingerprint: Fingerprint::Absent,
    usage_null: UsageNull::Never,
    stream_usage: StreamUsage::InFinishChoice,
    tool_index: false,
    logprobs: false,
    ..OPENAI
};

const ZHIPU: Shape = Shape {
    dialect: Dialect::Zhipu,
    chunk_object: false,
    fingerprint: Fingerprint::Absent,
    usage_null: UsageNull::Never,
    stream_usage: StreamUsage::OnFinishChunk,
    repeat_role: true,
    logprobs: false,
    finish_null: false,
    body_request_id: true,
    ..OPENAI
};

/// The shape of `dialect`.
pub(crate) fn shape(dialect: Dialect) -> &'static Shape {
    match dialect {
        Dialect::OpenAi => &OPENAI,
        Dialect::DeepSeek => &DEEPSEEK,
        Dialect::DashScope => &DASHSCOPE,
        Dialect::Moonshot => &MOONSHOT,
        Dialect::Zhipu => &ZHIPU,
    }
}

/// The usage object as the vendor spells it.
pub(crate) fn usage(dialect: Dialect, u: &TokenUsage) -> Usage {
    let mut wire = u.to_wire();
    match dialect {
        Dialect::DeepSeek => {
            wire.prompt_cache_hit_tokens = Some(u.cached_prompt);
            wire.prompt_cache_miss_tokens = Some(u.prompt - u.cached_prompt);
        }
        Dialect::Moonshot => {
            wire.prompt_tokens_details = None;
            wire.cached_tokens = Some(u.cached_prompt);
            wire.completion_tokens_details = Some(TokenDetails {
                reasoning_tokens: Some(u.reasoning),
                ..TokenDetails::default()
            });
        }
        Dialect::OpenAi | Dialect::DashScope | Dialect::Zhipu => {}
    }
    wire
}

/// Identifiers of one response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ids {
    /// `id` of the completion / chunks.
    pub response: String,
    /// Value of the dialect's request-id header (and `request_id` in bodies).
    pub request: String,
}

fn push_hex(out: &mut String, rng: &mut SmallRng, digits: usize) {
    const HEX: &[u8] = b"0123456789abcdef";
    for _ in 0..digits {
        out.push(char::from(HEX[rng.random_range(0..16)]));
    }
}

/// A random UUID-like string (8-4-4-4-12 hex digits).
pub(crate) fn uuid_like(rng: &mut SmallRng) -> String {
    let mut s = String::with_capacity(36);
    for (i, n) in [8, 4, 4, 4, 12].into_iter().enumerate() {
        if i > 0 {
            s.push('-');
        }
        push_hex(&mut s, rng, n);
    }
    s
}

/// Fresh ids in the vendor's style.
pub(crate) fn ids(dialect: Dialect, rng: &mut SmallRng, created: u64) -> Ids {
    match dialect {
        Dialect::DeepSeek => {
            let response = uuid_like(rng);
            let mut request = String::with_capacity(32);
            push_hex(&mut request, rng, 32);
            Ids { response, request }
        }
        Dialect::DashScope => {
            let response = format!("chatcmpl-{}", uuid_like(rng));
            Ids {
                response,
                request: uuid_like(rng),
            }
        }
        Dialect::Moonshot => {
            let mut response = String::from("chatcmpl-");
            push_hex(&mut response, rng, 24);
            Ids {
                response,
                request: uuid_like(rng),
            }
        }
        Dialect::Zhipu => {
            let mut response = created.to_string();
            push_hex(&mut response, rng, 18);
            Ids {
                request: response.clone(),
                response,
            }
        }
        Dialect::OpenAi => {
            let mut response = String::from("chatcmpl-");
            push_hex(&mut response, rng, 29);
            let mut request = String::from("req_");
            push_hex(&mut request, rng, 32);
            Ids { response, request }
        }
    }
}

/// DeepSeek-style fingerprint, fixed per simulator (derived from the seed).
pub(crate) fn deepseek_fingerprint(rng: &mut SmallRng) -> String {
    let mut s = String::from("fp_");
    push_hex(&mut s, rng, 10);
    s.push_str("_prod0820_fp8_kvcache");
    s
}

/// OpenAI-style fingerprint.
pub(crate) fn openai_fingerprint(rng: &mut SmallRng) -> String {
    let mut s = String::from("fp_");
    push_hex(&mut s, rng, 10);
    s
}

/// Why a request failed, before the vendor's spelling is applied.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Failure {
    /// The body is not JSON of the expected shape.
    InvalidJson(String),
    /// A parameter the vendor rejects.
    InvalidRequest(String),
    /// No `Authorization: Bearer …` header.
    MissingKey,
    /// A key that is not accepted.
    InvalidKey,
    /// The model is not served by this provider.
    ModelNotFound(String),
    /// No such endpoint.
    RouteNotFound(String),
    /// Injected: rate limit.
    RateLimited,
    /// Out of capacity: injected, or the region's capacity queue is full.
    Overloaded,
    /// Injected: balance exhausted.
    InsufficientBalance,
    /// Injected: internal error.
    ServerError,
}

impl Failure {
    /// A parameter error naming the request field.
    pub fn invalid(message: impl Into<String>) -> Self {
        Failure::InvalidRequest(message.into())
    }
}

/// The vendor's status and JSON body for `failure`.
pub(crate) fn error_body(
    dialect: Dialect,
    failure: &Failure,
    request_id: &str,
) -> (StatusCode, Value) {
    match dialect {
        Dialect::DeepSeek => deepseek_error(failure),
        Dialect::DashScope => dashscope_error(failure, request_id),
        Dialect::Moonshot => moonshot_error(failure),
        Dialect::Zhipu => zhipu_error(failure, request_id),
        Dialect::OpenAi => openai_error(failure),
    }
}

fn openai_style(message: &str, kind: &str, code: Option<&str>) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

fn deepseek_error(f: &Failure) -> (StatusCode, Value) {
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

fn dashscope_error(f: &Failure, request_id: &str) -> (StatusCode, Value) {
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

fn moonshot_error(f: &Failure) -> (StatusCode, Value) {
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

/// GLM's generic parameter-error text, followed by our detail.
const ZHIPU_BAD_PARAMS: &str = "API 调用参数有误，请检查文档。";

fn zhipu_error(f: &Failure, request_id: &str) -> (StatusCode, Value) {
    let (status, code, message) = match f {
        Failure::InvalidJson(m) => (
            StatusCode::BAD_REQUEST,
            "1210",
            format!("{ZHIPU_BAD_PARAMS} Request body is not valid JSON: {m}"),
        ),
        Failure::InvalidRequest(m) => (
            StatusCode::BAD_REQUEST,
            "1210",
            format!("{ZHIPU_BAD_PARAMS} {m}"),
        ),
        Failure::ModelNotFound(_) => (
            StatusCode::BAD_REQUEST,
            "1211",
            "模型不存在，请检查模型代码。".to_string(),
        ),
        Failure::MissingKey => (
            StatusCode::UNAUTHORIZED,
            "1001",
            "Header中未收到Authorization参数，无法进行身份验证。".to_string(),
        ),
        Failure::InvalidKey => (
            StatusCode::UNAUTHORIZED,
            "1000",
            "身份验证失败。".to_string(),
        ),
        Failure::RouteNotFound(p) => (StatusCode::NOT_FOUND, "404", format!("Not Found: {p}")),
        Failure::RateLimited => (
            StatusCode::TOO_MANY_REQUESTS,
            "1302",
            "您当前使用该API的并发数过高，请降低并发，或联系客服增加限额。".to_string(),
        ),
        Failure::Overloaded => (
            StatusCode::TOO_MANY_REQUESTS,
            "1305",
            "该模型当前访问量过大，请您稍后再试".to_string(),
        ),
        Failure::InsufficientBalance => (
            StatusCode::TOO_MANY_REQUESTS,
            "1113",
            "您的账户已欠费，请充值后重试。".to_string(),
        ),
        Failure::ServerError => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "500",
            "服务内部错误，请稍后重试。".to_string(),
        ),
    };
    (
        status,
        json!({"error": {"code": code, "message": message}, "request_id": request_id}),
    )
}

fn openai_error(f: &Failure) -> (StatusCode, Value) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::request_rng;
    use switchyard_wire::ErrorKind;
    use switchyard_wire::dialect::ALL_DIALECTS;

    fn classify(d: Dialect, f: &Failure) -> (u16, ErrorKind, Option<String>) {
        let (status, body) = error_body(d, f, "rid-1");
        let bytes = serde_json::to_vec(&body).unwrap();
        let e = d.parse_error(status.as_u16(), &bytes, None);
        (status.as_u16(), e.kind, e.vendor_code)
    }

    #[test]
    fn every_dialect_error_is_classified_as_its_kind_by_the_wire_crate() {
        let cases = [
            (Failure::invalid("x"), ErrorKind::InvalidRequest),
            (Failure::InvalidJson("x".into()), ErrorKind::InvalidRequest),
            (Failure::InvalidKey, ErrorKind::Authentication),
            (Failure::MissingKey, ErrorKind::Authentication),
            (Failure::RateLimited, ErrorKind::RateLimited),
            (Failure::Overloaded, ErrorKind::Overloaded),
            (Failure::InsufficientBalance, ErrorKind::InsufficientQuota),
            (Failure::ServerError, ErrorKind::Server),
        ];
        for d in ALL_DIALECTS {
            for (f, kind) in &cases {
                assert_eq!(classify(d, f).1, *kind, "{d} {f:?}");
            }
        }
        // Model not found: DeepSeek says so with a 400, as the real one does.
        for d in [
            Dialect::DashScope,
            Dialect::Moonshot,
            Dialect::Zhipu,
            Dialect::OpenAi,
        ] {
            assert_eq!(
                classify(d, &Failure::ModelNotFound("m".into())).1,
                ErrorKind::NotFound,
                "{d}"
            );
        }
        assert_eq!(
            classify(Dialect::DeepSeek, &Failure::ModelNotFound("m".into())).0,
            400
        );
    }

    #[test]
    fn zhipu_business_codes_and_request_id() {
        let (status, body) = error_body(Dialect::Zhipu, &Failure::Overloaded, "rid-9");
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            body,
            json!({"error": {"code": "1305", "message": "该模型当前访问量过大，请您稍后再试"}, "request_id": "rid-9"})
        );
        assert_eq!(
            classify(Dialect::Zhipu, &Failure::RateLimited).2.as_deref(),
            Some("1302")
        );
        assert_eq!(
            classify(Dialect::Zhipu, &Failure::InsufficientBalance)
                .2
                .as_deref(),
            Some("1113")
        );
    }

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
    fn deepseek_usage_has_hit_and_miss_fields_summing_to_prompt() {
        let u = TokenUsage {
            prompt: 100,
            cached_prompt: 64,
            completion: 10,
            reasoning: 4,
        };
        let v = serde_json::to_value(usage(Dialect::DeepSeek, &u)).unwrap();
        assert_eq!(v["prompt_cache_hit_tokens"], 64);
        assert_eq!(v["prompt_cache_miss_tokens"], 36);
        assert_eq!(v["prompt_tokens_details"]["cached_tokens"], 64);
        assert_eq!(v["completion_tokens_details"]["reasoning_tokens"], 4);
        let k = serde_json::to_value(usage(Dialect::Moonshot, &u)).unwrap();
        assert_eq!(k["cached_tokens"], 64);
        assert!(k.get("prompt_tokens_details").is_none());
        assert_eq!(usage(Dialect::Moonshot, &u).normalize(), u);
        assert_eq!(usage(Dialect::DeepSeek, &u).normalize(), u);
    }

    #[test]
    fn ids_look_like_the_vendors() {
        let mut rng = request_rng(1, 2);
        let ds = ids(Dialect::DeepSeek, &mut rng, 1);
        assert_eq!(ds.response.len(), 36);
        assert_eq!(ds.response.matches('-').count(), 4);
        let qw = ids(Dialect::DashScope, &mut rng, 1);
        assert!(qw.response.starts_with("chatcmpl-") && qw.response.len() == 45);
        let glm = ids(Dialect::Zhipu, &mut rng, 1_700_000_000);
        assert!(glm.response.starts_with("1700000000"));
        assert_eq!(glm.request, glm.response);
        assert!(deepseek_fingerprint(&mut rng).ends_with("_prod0820_fp8_kvcache"));
    }
}
