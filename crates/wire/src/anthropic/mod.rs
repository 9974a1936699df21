//! The Anthropic Messages API (`POST /v1/messages`), as the gateway's clients speak it:
//! the request typed and translated into Chat Completions ([`request`]), a whole answer
//! translated back ([`message`]), a stream re-told as Messages events ([`events`]), and
//! the API's error shape (`{"type":"error","error":{"type","message"}}`); and, for
//! requests passed through to a vendor's own Anthropic-compatible endpoint, its answer
//! read back as Chat Completions ([`upstream`]).

pub mod events;
pub mod message;
pub mod request;
pub mod upstream;

use serde_json::{Value, json};

pub use events::EventWriter;
pub use message::{OutMessage, OutUsage};
pub use request::MessagesRequest;

/// The Messages API's error `type` for an HTTP status.
pub fn error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        503 | 529 => "overloaded_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

/// An error body in the Messages API's shape.
pub fn error_body(status: u16, message: &str, request_id: Option<&str>) -> Value {
    let mut body = json!({
        "type": "error",
        "error": {"type": error_type(status), "message": message},
    });
    if let (Some(id), Some(obj)) = (request_id, body.as_object_mut()) {
        obj.insert("request_id".into(), Value::String(id.to_string()));
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_the_apis_error_types() {
        assert_eq!(error_type(400), "invalid_request_error");
        assert_eq!(error_type(422), "invalid_request_error");
        assert_eq!(error_type(401), "authentication_error");
        assert_eq!(error_type(429), "rate_limit_error");
        assert_eq!(error_type(503), "overloaded_error");
        assert_eq!(error_type(500), "api_error");
        let b = error_body(404, "no such model", Some("r1"));
        assert_eq!(b["type"], "error");
        assert_eq!(b["error"]["type"], "not_found_error");
        assert_eq!(b["request_id"], "r1");
    }
}
