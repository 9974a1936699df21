//! MiniMax: its own M-series models (MiniMax-M2, M2.1, …), sold by itself and resold.
//!
//! Facts (`docs/VENDORS.md` §3, from platform.minimax.io):
//! - base `https://api.minimax.io/v1` (international) or `https://api.minimaxi.com/v1`
//!   (China), Anthropic-compatible API under `…/anthropic`; key in `MINIMAX_API_KEY`;
//! - M2-family models always think, and by default write their thinking *inside*
//!   `content` as `<think>…</think>`; `reasoning_split: true` moves it out (to
//!   `reasoning_details[]` `{type:"reasoning.text", text}` on the M2-era API, to
//!   `reasoning_content` on the newer one). The gateway always asks for the split, and
//!   both spellings are read back as `reasoning_content` (see the stream normaliser);
//! - temperature is in (0, 1] (0 and >1 are refused);
//! - errors carry MiniMax's numeric codes, in an `error` object or in
//!   `base_resp:{status_code, status_msg}`: 1002 rate limit, 1004 bad key, 1008 spent
//!   balance, 1026/1027/1039 sensitive content, 1024/1033 internal, 1001 time-out,
//!   2013 bad parameters (1000, "unknown error", is left to the HTTP status). The request-id header is not documented: `x-request-id` is
//!   read when sent, and the body's `request_id` otherwise.

use serde_json::Value;

use crate::chat::ChatRequest;
use crate::error::ErrorKind;

use super::{Adjustment, ErrorSaid, Vendor, ask_for_stream_usage};

/// The MiniMax dialect.
pub(super) struct MiniMax;

/// The lowest temperature MiniMax takes: its range is (0, 1].
const MIN_TEMPERATURE: f64 = 0.01;

impl Vendor for MiniMax {
    fn request_id_header(&self) -> &'static str {
        "x-request-id"
    }

    fn prepare(&self, req: &mut ChatRequest, _upstream_model: &str, adj: &mut Vec<Adjustment>) {
        ask_for_stream_usage(req);
        temperature_in_range(req, adj);
        // Thinking apart from the answer, as every other vendor gives it.
        req.extra
            .entry("reasoning_split")
            .or_insert(Value::Bool(true));
    }

    fn classify(&self, said: &ErrorSaid<'_>) -> Option<ErrorKind> {
        Some(match said.code? {
            "1002" => ErrorKind::RateLimited,
            "1004" => ErrorKind::Authentication,
            "1008" => ErrorKind::InsufficientQuota,
            "1026" | "1027" | "1039" => ErrorKind::ContentFilter,
            "1024" | "1033" => ErrorKind::Server,
            "1001" => ErrorKind::Timeout,
            "2013" => ErrorKind::InvalidRequest,
            _ => return None,
        })
    }
}

/// Temperature into (0, 1]: 0 (greedy) as the lowest it takes, above 1 as 1.
fn temperature_in_range(req: &mut ChatRequest, adj: &mut Vec<Adjustment>) {
    let Some(t) = req.temperature else {
        return;
    };
    let clamped = t.clamp(MIN_TEMPERATURE, 1.0);
    if clamped != t {
        req.temperature = Some(clamped);
        adj.push(Adjustment::new(
            "temperature",
            format!("MiniMax takes (0, 1]; {t} sent as {clamped}"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::dialect::Dialect;
    use crate::dialect::testing::req;

    #[test]
    fn minimax_asks_for_thinking_apart_and_clamps_temperature() {
        let mut r = req(json!({"model": "x", "messages": [], "temperature": 0.0}));
        let adj = Dialect::MiniMax.prepare(&mut r, "MiniMax-M2");
        assert_eq!(r.extra["reasoning_split"], true);
        assert_eq!(r.temperature, Some(MIN_TEMPERATURE));
        assert_eq!(adj.len(), 1);
        let mut r = req(json!({"model": "x", "messages": [], "temperature": 0.7,
            "reasoning_split": false}));
        assert!(Dialect::MiniMax.prepare(&mut r, "MiniMax-M2").is_empty());
        assert_eq!(
            r.extra["reasoning_split"], false,
            "the client's choice stands"
        );
    }

    #[test]
    fn minimax_codes_are_read_from_base_resp_or_error() {
        let e = Dialect::MiniMax.parse_error(
            200,
            br#"{"base_resp":{"status_code":1008,"status_msg":"insufficient balance"}}"#,
            None,
        );
        assert_eq!(e.kind, ErrorKind::InsufficientQuota);
        assert_eq!(e.message, "insufficient balance");
        assert_eq!(e.vendor_code.as_deref(), Some("1008"));
        let e = Dialect::MiniMax.parse_error(
            429,
            br#"{"error":{"code":1002,"message":"rate limit exceeded"},"request_id":"r1"}"#,
            None,
        );
        assert_eq!(e.kind, ErrorKind::RateLimited);
        assert_eq!(e.request_id.as_deref(), Some("r1"));
    }
}
