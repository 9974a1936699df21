//! The OpenAI error body, and the classification of upstream errors.

use serde::{Deserialize, Serialize};

/// `{"error": {...}}` — the body of every error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ApiError,
}

/// The OpenAI error object, plus the upstream facts a caller needs to act on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    /// Human-readable explanation.
    pub message: String,
    /// OpenAI error type (`invalid_request_error`, `rate_limit_error`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// The request field at fault, if any.
    pub param: Option<String>,
    /// Machine-readable code (ours, or the vendor's when it gave one).
    pub code: Option<String>,
    /// Provider that produced the error, for upstream errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The vendor's own error code (`1302`, `Throttling.RateQuota`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_code: Option<String>,
    /// The vendor's request id, for support tickets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Whether retrying (here or elsewhere) may succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
}

impl ApiError {
    /// An error with a type and code, no param and no upstream facts.
    pub fn new(kind: &str, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            message: message.into(),
            kind: kind.into(),
            param: None,
            code: Some(code.into()),
            provider: None,
            vendor_code: None,
            request_id: None,
            retryable: None,
        }
    }

    /// Name the request field at fault.
    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// Wrap in `{"error": …}`.
    pub fn into_body(self) -> ErrorBody {
        ErrorBody { error: self }
    }
}

/// What went wrong upstream, independent of how the vendor spelled it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is wrong (400/422): retrying will not help.
    InvalidRequest,
    /// Blocked by the vendor's content filter.
    ContentFilter,
    /// Bad or missing key (401).
    Authentication,
    /// Key valid but not allowed, or account in arrears (403).
    PermissionDenied,
    /// Model or resource unknown to the vendor (404).
    NotFound,
    /// Balance exhausted or plan quota used up: not retryable on this provider.
    InsufficientQuota,
    /// Request/token rate limit hit: retry later.
    RateLimited,
    /// The vendor is out of capacity: retry, elsewhere if possible.
    Overloaded,
    /// 5xx from the vendor.
    Server,
    /// The vendor did not answer in time.
    Timeout,
    /// Could not connect.
    Unreachable,
    /// The vendor answered with something that is not its protocol.
    BadResponse,
}

impl ErrorKind {
    /// HTTP status the gateway returns for this kind.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::InvalidRequest | ErrorKind::ContentFilter => 400,
            ErrorKind::Authentication => 401,
            ErrorKind::InsufficientQuota => 402,
            ErrorKind::PermissionDenied => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::RateLimited => 429,
            ErrorKind::Server | ErrorKind::Unreachable | ErrorKind::BadResponse => 502,
            ErrorKind::Overloaded => 503,
            ErrorKind::Timeout => 504,
        }
    }

    /// OpenAI error `type`.
    pub fn openai_type(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest | ErrorKind::ContentFilter => "invalid_request_error",
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::PermissionDenied => "permission_error",
            ErrorKind::NotFound => "not_found_error",
            ErrorKind::InsufficientQuota => "insufficient_quota",
            ErrorKind::RateLimited => "rate_limit_error",
            ErrorKind::Overloaded => "overloaded_error",
            ErrorKind::Server | ErrorKind::Unreachable | ErrorKind::BadResponse => "upstream_error",
            ErrorKind::Timeout => "timeout_error",
        }
    }

    /// Our code, used when the vendor gave none.
    pub fn default_code(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::ContentFilter => "content_filter",
            ErrorKind::Authentication => "invalid_api_key",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::NotFound => "model_not_found",
            ErrorKind::InsufficientQuota => "insufficient_quota",
            ErrorKind::RateLimited => "rate_limit_exceeded",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::Server => "upstream_server_error",
            ErrorKind::Timeout => "upstream_timeout",
            ErrorKind::Unreachable => "upstream_unreachable",
            ErrorKind::BadResponse => "upstream_bad_response",
        }
    }

    /// Whether the same request may succeed if retried (after a pause, or elsewhere).
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::RateLimited
                | ErrorKind::Overloaded
                | ErrorKind::Server
                | ErrorKind::Timeout
                | ErrorKind::Unreachable
                | ErrorKind::BadResponse
        )
    }

    /// Kind for a bare HTTP status, when the body says nothing more.
    pub fn from_status(status: u16) -> ErrorKind {
        match status {
            400 | 413 | 422 => ErrorKind::InvalidRequest,
            401 => ErrorKind::Authentication,
            402 => ErrorKind::InsufficientQuota,
            403 => ErrorKind::PermissionDenied,
            404 => ErrorKind::NotFound,
            408 | 504 => ErrorKind::Timeout,
            429 => ErrorKind::RateLimited,
            503 | 529 => ErrorKind::Overloaded,
            _ => ErrorKind::Server,
        }
    }
}

/// An upstream failure, classified, with the vendor's own code and request id kept.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamError {
    /// Classification.
    pub kind: ErrorKind,
    /// HTTP status the vendor returned (0 when there was no response).
    pub vendor_status: u16,
    /// The vendor's message.
    pub message: String,
    /// The vendor's code, as text.
    pub vendor_code: Option<String>,
    /// The vendor's request id (from the body or a header).
    pub request_id: Option<String>,
    /// Seconds the vendor asked callers to wait (`Retry-After`), if it said.
    pub retry_after_secs: Option<u64>,
}

impl UpstreamError {
    /// An error with no vendor body (connection failure, time-out, garbage).
    pub fn transport(kind: ErrorKind, message: impl Into<String>) -> Self {
        UpstreamError {
            kind,
            vendor_status: 0,
            message: message.into(),
            vendor_code: None,
            request_id: None,
            retry_after_secs: None,
        }
    }

    /// The error the client sees, attributed to `provider`.
    pub fn to_api_error(&self, provider: &str) -> ApiError {
        ApiError {
            message: format!("{provider}: {}", self.message),
            kind: self.kind.openai_type().into(),
            param: None,
            code: Some(self.kind.default_code().into()),
            provider: Some(provider.into()),
            vendor_code: self.vendor_code.clone(),
            request_id: self.request_id.clone(),
            retryable: Some(self.kind.retryable()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_error_serialises_in_openai_shape() {
        let body = ApiError::new("invalid_request_error", "invalid_json", "bad").into_body();
        assert_eq!(
            serde_json::to_value(body).unwrap(),
            serde_json::json!({"error": {"message": "bad", "type": "invalid_request_error", "param": null, "code": "invalid_json"}})
        );
    }

    #[test]
    fn upstream_error_keeps_vendor_code_and_request_id() {
        let e = UpstreamError {
            kind: ErrorKind::Overloaded,
            vendor_status: 429,
            message: "busy".into(),
            vendor_code: Some("1305".into()),
            request_id: Some("req-1".into()),
            retry_after_secs: None,
        };
        let api = e.to_api_error("zhipu");
        assert_eq!(api.vendor_code.as_deref(), Some("1305"));
        assert_eq!(api.request_id.as_deref(), Some("req-1"));
        assert_eq!(api.retryable, Some(true));
        assert_eq!(api.kind, "overloaded_error");
    }

    #[test]
    fn quota_is_not_retryable_but_rate_limit_is() {
        assert!(!ErrorKind::InsufficientQuota.retryable());
        assert!(ErrorKind::RateLimited.retryable());
    }
}
