//! MiniMax: thinking written inside the content unless split, its numeric status codes
//! and its temperature range.
//!
//! Independent of `switchyard_wire::dialect::minimax`, on purpose (see `vendor/mod.rs`).
//!
//! Facts (`docs/VENDORS.md` §3):
//! - URLs under `/v1`, the Anthropic-compatible API under `/anthropic`;
//! - M2-family models think, and write it inside `content` as `<think>…</think>` unless
//!   the request sets `reasoning_split: true`, which gives it apart (as
//!   `reasoning_content` here, the newer API's spelling);
//! - errors carry `base_resp:{status_code, status_msg}`: 1002 rate limit, 1004 bad key,
//!   1008 balance, 2013 invalid parameters, 1000 unknown error;
//! - temperature must be in (0, 1].

use http::StatusCode;
use rand::rngs::SmallRng;
use serde_json::{Value, json};
use switchyard_wire::ChatRequest;

use super::{Fingerprint, Ids, ReasoningOut, Shape, Vendor, hex_id, openai};
use crate::failure::Failure;
use crate::generate::Target;

/// The MiniMax vendor.
#[derive(Debug)]
pub(super) struct MiniMax;

const SHAPE: Shape = Shape {
    reasoning: ReasoningOut::InlineUnlessSplit,
    fingerprint: Fingerprint::Absent,
    ..openai::SHAPE
};

impl Vendor for MiniMax {
    fn shape(&self) -> &'static Shape {
        &SHAPE
    }

    fn ids(&self, rng: &mut SmallRng, _created: u64) -> Ids {
        let response = hex_id("", rng, 32);
        Ids {
            request: response.clone(),
            response,
        }
    }

    fn error_body(&self, failure: &Failure, _request_id: &str) -> (StatusCode, Value) {
        let (status, code, message) = match failure {
            Failure::InvalidJson(m) | Failure::InvalidRequest(m) => {
                (StatusCode::BAD_REQUEST, 2013, format!("invalid params, {m}"))
            }
            Failure::ModelNotFound(m) => (
                StatusCode::BAD_REQUEST,
                2013,
                format!("invalid params, unknown model '{m}'"),
            ),
            Failure::RouteNotFound(p) => (StatusCode::NOT_FOUND, 1000, format!("no route {p}")),
            Failure::MissingKey | Failure::InvalidKey => (
                StatusCode::UNAUTHORIZED,
                1004,
                "login fail: Please carry the API secret key in the 'Authorization' field of the request header".into(),
            ),
            Failure::RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                1002,
                "rate limit exceeded(RPM)".into(),
            ),
            Failure::Overloaded => (
                StatusCode::SERVICE_UNAVAILABLE,
                1000,
                "unknown error: the service is busy".into(),
            ),
            Failure::InsufficientBalance => (
                StatusCode::PAYMENT_REQUIRED,
                1008,
                "insufficient balance".into(),
            ),
            Failure::ServerError => (
                StatusCode::INTERNAL_SERVER_ERROR,
                1000,
                "unknown error".into(),
            ),
        };
        (
            status,
            json!({"base_resp": {"status_code": code, "status_msg": message}}),
        )
    }

    fn check(&self, req: &ChatRequest, _target: &Target) -> Result<(), Failure> {
        match req.temperature {
            Some(t) if !(t > 0.0 && t <= 1.0) => Err(Failure::invalid(format!(
                "temperature must be in (0, 1], got {t}"
            ))),
            _ => Ok(()),
        }
    }
}
