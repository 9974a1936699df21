//! Volcengine Ark (火山方舟) and its international twin BytePlus ModelArk: ByteDance's
//! model cloud, which sells its own Doubao models and resells DeepSeek, Kimi, GLM and
//! Qwen open weights.
//!
//! Facts (`docs/VENDORS.md` §1, from the Ark SDK and the error-code page
//! volcengine.com/docs/82379/1299023):
//! - base `https://ark.cn-beijing.volces.com/api/v3` (BytePlus:
//!   `https://ark.ap-southeast.bytepluses.com/api/v3`), key in `ARK_API_KEY`; the model
//!   is a model id (`deepseek-v3-2-251201`) or an endpoint id (`ep-…`);
//! - the request id comes back in `X-Request-Id`;
//! - thinking is switched by `thinking:{type:"enabled"|"disabled"|"auto"}` (so a
//!   DashScope-style `enable_thinking` is rewritten to it); reasoning comes back in
//!   `reasoning_content`;
//! - errors are OpenAI-shaped with dotted string codes: `AuthenticationError` (401),
//!   `AccountOverdueError` (403, balance), `InvalidEndpointOrModel.NotFound` and
//!   `ModelNotOpen` (404), `RateLimitExceeded.*` (429), `ServerOverloaded` (429),
//!   `SensitiveContentDetected*` and `*RiskDetection` (400, content filter).

use serde_json::{Value, json};

use crate::chat::ChatRequest;
use crate::error::ErrorKind;

use super::{Adjustment, ErrorSaid, Vendor, ask_for_stream_usage, use_older_fields};

/// The Ark dialect.
pub(super) struct Ark;

impl Vendor for Ark {
    fn request_id_header(&self) -> &'static str {
        "x-request-id"
    }

    fn prepare(&self, req: &mut ChatRequest, _upstream_model: &str, _adj: &mut Vec<Adjustment>) {
        ask_for_stream_usage(req);
        use_older_fields(req);
        enable_thinking_as_thinking_type(req);
    }

    fn classify(&self, said: &ErrorSaid<'_>) -> Option<ErrorKind> {
        let c = said.code?;
        let kind = if c == "AuthenticationError" {
            ErrorKind::Authentication
        } else if c == "AccountOverdueError" {
            ErrorKind::InsufficientQuota
        } else if c == "AccessDenied" || c.starts_with("OperationDenied") {
            ErrorKind::PermissionDenied
        } else if c.starts_with("InvalidEndpointOrModel")
            || c == "ModelNotOpen"
            || c == "InvalidEndpoint.NotFound"
        {
            ErrorKind::NotFound
        } else if c.contains("SensitiveContentDetected") || c.ends_with("RiskDetection") {
            ErrorKind::ContentFilter
        } else if c.starts_with("RateLimitExceeded") || c == "QuotaExceeded" {
            ErrorKind::RateLimited
        } else if c == "ServerOverloaded" {
            ErrorKind::Overloaded
        } else if c.starts_with("MissingParameter") || c.starts_with("InvalidParameter") {
            ErrorKind::InvalidRequest
        } else {
            return None;
        };
        Some(kind)
    }
}

/// `enable_thinking: bool` (DashScope's and SiliconFlow's switch) as Ark's
/// `thinking:{type}`, unless the client set that too.
fn enable_thinking_as_thinking_type(req: &mut ChatRequest) {
    let Some(on) = req.extra.get("enable_thinking").and_then(Value::as_bool) else {
        return;
    };
    req.extra.remove("enable_thinking");
    let kind = if on { "enabled" } else { "disabled" };
    req.extra
        .entry("thinking")
        .or_insert_with(|| json!({ "type": kind }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::Dialect;
    use crate::dialect::testing::req;

    #[test]
    fn ark_switches_thinking_by_type_and_knows_max_tokens_only() {
        let mut r = req(
            json!({"model": "x", "messages": [], "enable_thinking": false,
            "max_completion_tokens": 9}),
        );
        assert!(
            Dialect::Ark
                .prepare(&mut r, "deepseek-v3-2-251201")
                .is_empty()
        );
        assert_eq!(r.extra["thinking"], json!({"type": "disabled"}));
        assert!(!r.extra.contains_key("enable_thinking"));
        assert_eq!(r.max_tokens, Some(9));
        assert!(r.thinking_disabled());
    }

    #[test]
    fn ark_errors_are_classified_by_their_dotted_codes() {
        let body = |code: &str| {
            format!(
                r#"{{"error":{{"code":"{code}","message":"m. Request id: 0217","param":"","type":"x"}}}}"#
            )
        };
        for (status, code, kind) in [
            (403, "AccountOverdueError", ErrorKind::InsufficientQuota),
            (404, "InvalidEndpointOrModel.NotFound", ErrorKind::NotFound),
            (
                429,
                "RateLimitExceeded.EndpointTPMExceeded",
                ErrorKind::RateLimited,
            ),
            (429, "ServerOverloaded", ErrorKind::Overloaded),
            (400, "InputTextRiskDetection", ErrorKind::ContentFilter),
            (
                400,
                "SensitiveContentDetected.Violence",
                ErrorKind::ContentFilter,
            ),
            (401, "AuthenticationError", ErrorKind::Authentication),
        ] {
            let e = Dialect::Ark.parse_error(status, body(code).as_bytes(), Some("rid"));
            assert_eq!(e.kind, kind, "{code}");
            assert_eq!(e.vendor_code.as_deref(), Some(code));
            assert_eq!(e.request_id.as_deref(), Some("rid"));
        }
    }
}
