//! Plain OpenAI-compatible (OpenAI itself, vLLM, SGLang, llama.cpp, …): the baseline
//! that the other vendor files differ from.
//!
//! Facts (`shared/reference/providers.md` describes the vendors by how they differ from
//! this baseline):
//! - the request is sent as the client wrote it, newer fields (`max_completion_tokens`,
//!   `role:"developer"`) included;
//! - a stream reports usage only when asked (`stream_options.include_usage`), in a
//!   trailing `choices:[]` chunk;
//! - errors are `{"error":{"message","type","param","code"}}`, classified by status, but
//!   for `insufficient_quota` (as `type` or `code`), which is a spent balance, not a rate
//!   limit; the request id comes in `x-request-id`.

use crate::chat::ChatRequest;
use crate::error::ErrorKind;

use super::{Adjustment, ErrorSaid, Vendor, ask_for_stream_usage};

/// The OpenAI dialect.
pub(super) struct OpenAi;

impl Vendor for OpenAi {
    fn request_id_header(&self) -> &'static str {
        "x-request-id"
    }

    fn prepare(&self, req: &mut ChatRequest, _upstream_model: &str, _adj: &mut Vec<Adjustment>) {
        ask_for_stream_usage(req);
    }

    fn classify(&self, said: &ErrorSaid<'_>) -> Option<ErrorKind> {
        match said.vendor_type.or(said.code)? {
            "insufficient_quota" => Some(ErrorKind::InsufficientQuota),
            _ => None,
        }
    }
}
