//! SiliconFlow (硅基流动): an inference cloud reselling open weights (DeepSeek, Kimi,
//! GLM, Qwen, MiniMax) under `org/Model` ids.
//!
//! Facts (`docs/VENDORS.md` §2, from docs.siliconflow.cn / .com):
//! - base `https://api.siliconflow.com/v1` (global) or `https://api.siliconflow.cn/v1`
//!   (China; keys are per site), key in `SILICONFLOW_API_KEY`; ids like
//!   `deepseek-ai/DeepSeek-V3.2`, `Pro/…` for paid-only builds;
//! - the request id comes back in `x-siliconcloud-trace-id`;
//! - thinking is switched by `enable_thinking` (a `thinking:{type}` switch is rewritten
//!   to it), budgeted by `thinking_budget`; reasoning comes back in `reasoning_content`;
//!   usage has both DeepSeek's cache hit/miss fields and OpenAI's `cached_tokens`;
//! - errors are NOT OpenAI-shaped: `{"code":<int>,"message","data":null}` at the top
//!   level. 20012 is an unknown model (sent with HTTP 400), 30001 a spent balance (HTTP
//!   403 or 402), 30014 a bad key (401); 429 is a rate limit, 503/504 high load.

use crate::chat::ChatRequest;
use crate::error::ErrorKind;

use super::dashscope::thinking_as_enable_thinking;
use super::{Adjustment, ErrorSaid, Vendor, ask_for_stream_usage, use_older_fields};

/// The SiliconFlow dialect.
pub(super) struct SiliconFlow;

impl Vendor for SiliconFlow {
    fn request_id_header(&self) -> &'static str {
        "x-siliconcloud-trace-id"
    }

    fn prepare(&self, req: &mut ChatRequest, _upstream_model: &str, _adj: &mut Vec<Adjustment>) {
        ask_for_stream_usage(req);
        use_older_fields(req);
        thinking_as_enable_thinking(req);
    }

    fn classify(&self, said: &ErrorSaid<'_>) -> Option<ErrorKind> {
        match (said.code, said.status) {
            (Some("20012"), _) => Some(ErrorKind::NotFound),
            (Some("30001"), _) | (_, 402) => Some(ErrorKind::InsufficientQuota),
            (Some("30014"), _) => Some(ErrorKind::Authentication),
            (_, 503 | 504) => Some(ErrorKind::Overloaded),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::dialect::Dialect;
    use crate::dialect::testing::req;

    #[test]
    fn siliconflow_switches_thinking_with_enable_thinking() {
        let mut r = req(json!({"model": "x", "messages": [], "thinking": {"type": "disabled"}}));
        Dialect::SiliconFlow.prepare(&mut r, "deepseek-ai/DeepSeek-V3.2");
        assert_eq!(r.extra["enable_thinking"], false);
        assert!(!r.extra.contains_key("thinking"));
        assert_eq!(r.model, "deepseek-ai/DeepSeek-V3.2");
    }

    #[test]
    fn siliconflow_top_level_codes_say_what_went_wrong() {
        let e = Dialect::SiliconFlow.parse_error(
            400,
            br#"{"code":20012,"message":"Model does not exist. Please check it carefully.","data":null}"#,
            Some("trace-1"),
        );
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert_eq!(
            e.message,
            "Model does not exist. Please check it carefully."
        );
        assert_eq!(e.vendor_code.as_deref(), Some("20012"));
        let e = Dialect::SiliconFlow.parse_error(
            403,
            br#"{"code":30001,"message":"Sorry, your account balance is insufficient","data":null}"#,
            None,
        );
        assert_eq!(e.kind, ErrorKind::InsufficientQuota);
        let e = Dialect::SiliconFlow.parse_error(
            429,
            br#"{"message":"Request was rejected due to rate limiting. Details: TPM limit reached.","data":null}"#,
            None,
        );
        assert_eq!(e.kind, ErrorKind::RateLimited);
        assert_eq!(
            Dialect::SiliconFlow.parse_error(503, b"busy", None).kind,
            ErrorKind::Overloaded
        );
    }
}
