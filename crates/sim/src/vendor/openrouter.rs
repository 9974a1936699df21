//! OpenRouter as an upstream: its generation ids, reasoning spelled `reasoning`, usage
//! on every stream, its keep-alive comments and its error bodies.
//!
//! Independent of `switchyard_wire::dialect::openrouter`, on purpose (see
//! `vendor/mod.rs`).
//!
//! Facts (`docs/VENDORS.md` §4):
//! - URLs under `/api/v1`; the request id (the generation id, `gen-…`) comes in
//!   `x-generation-id`;
//! - thinking comes in `reasoning`, not `reasoning_content`;
//! - usage is always sent, on the last chunk of a stream, whatever `stream_options`
//!   says;
//! - while a stream waits: `: OPENROUTER PROCESSING` comments;
//! - errors are `{"error":{"code":<number>,"message","metadata"}}`: 400, 401, 402 no
//!   credits, 429, 502 the host failed, 503 no host available.

use http::StatusCode;
use rand::rngs::SmallRng;
use serde_json::{Value, json};
use switchyard_wire::ChatRequest;

use super::{
    Fingerprint, Ids, ReasoningOut, Shape, StreamUsage, UsageNull, Vendor, hex_id, openai,
};
use crate::failure::Failure;
use crate::generate::Target;

/// The OpenRouter vendor.
#[derive(Debug)]
pub(super) struct OpenRouter;

const SHAPE: Shape = Shape {
    path_prefix: "/api/v1",
    request_id_header: "x-generation-id",
    fingerprint: Fingerprint::Null,
    usage_null: UsageNull::Never,
    stream_usage: StreamUsage::OnFinishChunk,
    keepalive: true,
    keepalive_sse: b": OPENROUTER PROCESSING\n\n",
    reasoning: ReasoningOut::Named,
    ..openai::SHAPE
};

impl Vendor for OpenRouter {
    fn shape(&self) -> &'static Shape {
        &SHAPE
    }

    fn ids(&self, rng: &mut SmallRng, created: u64) -> Ids {
        let response = hex_id(&format!("gen-{created}-"), rng, 20);
        Ids {
            request: response.clone(),
            response,
        }
    }

    fn error_body(&self, failure: &Failure, _request_id: &str) -> (StatusCode, Value) {
        let (status, message) = match failure {
            Failure::InvalidJson(m) | Failure::InvalidRequest(m) => {
                (StatusCode::BAD_REQUEST, m.clone())
            }
            Failure::ModelNotFound(m) => (
                StatusCode::BAD_REQUEST,
                format!("{m} is not a valid model ID"),
            ),
            Failure::RouteNotFound(p) => (StatusCode::NOT_FOUND, format!("no route {p}")),
            Failure::MissingKey => (StatusCode::UNAUTHORIZED, "No auth credentials found".into()),
            Failure::InvalidKey => (StatusCode::UNAUTHORIZED, "User not found.".into()),
            Failure::RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                "Rate limit exceeded: limit_rpm".into(),
            ),
            Failure::Overloaded => (
                StatusCode::SERVICE_UNAVAILABLE,
                "No endpoints found that can handle the request.".into(),
            ),
            Failure::InsufficientBalance => (
                StatusCode::PAYMENT_REQUIRED,
                "Insufficient credits. Add more using https://openrouter.ai/credits".into(),
            ),
            Failure::ServerError => (StatusCode::BAD_GATEWAY, "Provider returned error".into()),
        };
        let body = json!({"error": {"code": status.as_u16(), "message": message, "metadata": {}}});
        (status, body)
    }

    fn check(&self, _req: &ChatRequest, _target: &Target) -> Result<(), Failure> {
        Ok(())
    }
}
