//! Volcengine Ark / BytePlus ModelArk: its URLs, ids, error codes and its thinking
//! switch.
//!
//! Independent of `switchyard_wire::dialect::ark`, on purpose (see `vendor/mod.rs`).
//!
//! Facts (`docs/VENDORS.md` §1):
//! - URLs under `/api/v3`; the request id comes in `x-request-id` and is repeated at the
//!   end of error messages ("Request id: …");
//! - errors are OpenAI-shaped with dotted string codes: 400 `InvalidParameter`, 401
//!   `AuthenticationError`, 403 `AccountOverdueError` (balance), 404
//!   `InvalidEndpointOrModel.NotFound`, 429 `RateLimitExceeded.EndpointRPMExceeded` and
//!   `ServerOverloaded`, 500 `InternalServiceError`;
//! - thinking is `thinking:{type}` with `enabled`, `disabled` or `auto`; any other type
//!   is refused.

use http::StatusCode;
use rand::rngs::SmallRng;
use serde_json::{Value, json};
use switchyard_wire::ChatRequest;

use super::{Fingerprint, Ids, Shape, Vendor, hex_id, openai};
use crate::failure::Failure;
use crate::generate::Target;

/// The Ark vendor.
#[derive(Debug)]
pub(super) struct Ark;

const SHAPE: Shape = Shape {
    path_prefix: "/api/v3",
    request_id_header: "x-request-id",
    fingerprint: Fingerprint::Absent,
    ..openai::SHAPE
};

impl Vendor for Ark {
    fn shape(&self) -> &'static Shape {
        &SHAPE
    }

    fn ids(&self, rng: &mut SmallRng, _created: u64) -> Ids {
        let request = hex_id("021", rng, 45);
        Ids {
            response: request.clone(),
            request,
        }
    }

    fn error_body(&self, failure: &Failure, request_id: &str) -> (StatusCode, Value) {
        let (status, kind, code, message) = match failure {
            Failure::InvalidJson(m) | Failure::InvalidRequest(m) => (
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "InvalidParameter",
                m.clone(),
            ),
            Failure::ModelNotFound(m) => (
                StatusCode::NOT_FOUND,
                "NotFound",
                "InvalidEndpointOrModel.NotFound",
                format!(
                    "The model or endpoint {m} does not exist or you do not have access to it."
                ),
            ),
            Failure::RouteNotFound(p) => (
                StatusCode::NOT_FOUND,
                "NotFound",
                "NotFound",
                format!("no route {p}"),
            ),
            Failure::MissingKey | Failure::InvalidKey => (
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "AuthenticationError",
                "The API key or AK/SK in the request is missing or invalid.".into(),
            ),
            Failure::RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "RateLimitExceeded.EndpointRPMExceeded",
                "The request has exceeded the RPM limit of the endpoint.".into(),
            ),
            Failure::Overloaded => (
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "ServerOverloaded",
                "The service is overloaded. Please try again later.".into(),
            ),
            Failure::InsufficientBalance => (
                StatusCode::FORBIDDEN,
                "Forbidden",
                "AccountOverdueError",
                "The request failed because your account has an overdue balance.".into(),
            ),
            Failure::ServerError => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServiceError",
                "InternalServiceError",
                "The service encountered an unexpected internal error.".into(),
            ),
        };
        let body = json!({"error": {"code": code, "message": format!("{message} Request id: {request_id}"),
            "param": "", "type": kind}});
        (status, body)
    }

    fn check(&self, req: &ChatRequest, _target: &Target) -> Result<(), Failure> {
        match req.extra.get("thinking").map(|t| t.get("type")) {
            None => Ok(()),
            Some(Some(Value::String(t)))
                if matches!(t.as_str(), "enabled" | "disabled" | "auto") =>
            {
                Ok(())
            }
            Some(other) => Err(Failure::invalid(format!(
                "The parameter `thinking.type` specified in the request are not valid: {}",
                other.cloned().unwrap_or(Value::Null)
            ))),
        }
    }
}
