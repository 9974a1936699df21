//! SiliconFlow: its URLs, trace header, usage fields, top-level error codes and the
//! thinking budget it takes.
//!
//! Independent of `switchyard_wire::dialect::siliconflow`, on purpose (see
//! `vendor/mod.rs`).
//!
//! Facts (`docs/VENDORS.md` §2):
//! - URLs under `/v1`; the request id comes in `x-siliconcloud-trace-id`;
//! - usage has DeepSeek's `prompt_cache_hit_tokens` / `prompt_cache_miss_tokens` and
//!   OpenAI's details both;
//! - errors are `{"code":<int>,"message","data":null}` at the top level: 20012 unknown
//!   model (HTTP 400), 30001 balance (403), 30014 bad key (401); a rate limit is a 429
//!   whose body has only `message` and `data`; high load is a 503;
//! - `thinking_budget` is 128 to 32768.

use http::StatusCode;
use rand::rngs::SmallRng;
use serde_json::{Value, json};
use switchyard_wire::{ChatRequest, TokenUsage, Usage};

use super::{Fingerprint, Ids, Shape, Vendor, hex_id, openai};
use crate::failure::Failure;
use crate::generate::Target;

/// The SiliconFlow vendor.
#[derive(Debug)]
pub(super) struct SiliconFlow;

const SHAPE: Shape = Shape {
    request_id_header: "x-siliconcloud-trace-id",
    fingerprint: Fingerprint::Absent,
    ..openai::SHAPE
};

impl Vendor for SiliconFlow {
    fn shape(&self) -> &'static Shape {
        &SHAPE
    }

    fn ids(&self, rng: &mut SmallRng, _created: u64) -> Ids {
        Ids {
            response: hex_id("", rng, 32),
            request: hex_id("", rng, 32),
        }
    }

    fn usage(&self, u: &TokenUsage) -> Usage {
        let mut wire = u.to_wire();
        wire.prompt_cache_hit_tokens = Some(u.cached_prompt);
        wire.prompt_cache_miss_tokens = Some(u.prompt.saturating_sub(u.cached_prompt));
        wire
    }

    fn error_body(&self, failure: &Failure, _request_id: &str) -> (StatusCode, Value) {
        let coded = |status, code: u32, message: &str| {
            (
                status,
                json!({"code": code, "message": message, "data": null}),
            )
        };
        match failure {
            Failure::InvalidJson(m) | Failure::InvalidRequest(m) => {
                coded(StatusCode::BAD_REQUEST, 20015, m)
            }
            Failure::ModelNotFound(_) => coded(
                StatusCode::BAD_REQUEST,
                20012,
                "Model does not exist. Please check it carefully.",
            ),
            Failure::RouteNotFound(p) => {
                coded(StatusCode::NOT_FOUND, 20404, &format!("no route {p}"))
            }
            Failure::MissingKey | Failure::InvalidKey => {
                coded(StatusCode::UNAUTHORIZED, 30014, "Token is invalid.")
            }
            Failure::RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                json!({"message": "Request was rejected due to rate limiting. Details: TPM limit reached.", "data": null}),
            ),
            Failure::Overloaded => coded(
                StatusCode::SERVICE_UNAVAILABLE,
                50505,
                "Model service overloaded. Please try again later.",
            ),
            Failure::InsufficientBalance => coded(
                StatusCode::FORBIDDEN,
                30001,
                "Sorry, your account balance is insufficient",
            ),
            Failure::ServerError => coded(
                StatusCode::INTERNAL_SERVER_ERROR,
                50500,
                "Unknown error, please try again later.",
            ),
        }
    }

    fn check(&self, req: &ChatRequest, _target: &Target) -> Result<(), Failure> {
        match req.extra.get("thinking_budget") {
            None => Ok(()),
            Some(b) if b.as_u64().is_some_and(|n| (128..=32_768).contains(&n)) => Ok(()),
            Some(b) => Err(Failure::invalid(format!(
                "thinking_budget must be an integer from 128 to 32768, got {b}"
            ))),
        }
    }
}
