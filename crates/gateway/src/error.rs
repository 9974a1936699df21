//! The gateway's errors: each maps to an HTTP status, an OpenAI-shaped body and a
//! low-cardinality label for metrics.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use switchyard_wire::{ApiError, UpstreamError};

/// Configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// Path given.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not valid; names the line and the fix.
    #[error("config error in {source_name} line {line}: {message}\n  fix: {fix}")]
    Invalid {
        /// File name or "embedded default".
        source_name: String,
        /// 1-based line (0 when unknown).
        line: usize,
        /// What is wrong.
        message: String,
        /// How to fix it.
        fix: String,
    },
    /// A bug: a built-in value failed to parse.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The body is not JSON.
    #[error("request body is not valid JSON: {0}")]
    InvalidJson(String),
    /// Content-Type is not `application/json`.
    #[error("Content-Type must be application/json, got '{0}'")]
    UnsupportedMediaType(String),
    /// A required field is missing.
    #[error("missing required parameter: '{0}'")]
    MissingParameter(String),
    /// A field has the wrong JSON type.
    #[error("{path}: {message}")]
    InvalidType {
        /// Field path, e.g. `messages[0].content`.
        path: String,
        /// What serde said.
        message: String,
    },
    /// A field has an unacceptable value.
    #[error("{message}")]
    InvalidValue {
        /// The field.
        param: String,
        /// Why.
        message: String,
    },
    /// The body did not arrive within `[server] body_timeout_secs`.
    #[error("the request body did not arrive within {secs} s")]
    BodyTimeout {
        /// The limit, in seconds.
        secs: f64,
    },
    /// Body over the configured limit.
    #[error("request body exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// Model not in the catalog.
    #[error("{0}")]
    ModelNotFound(String),
    /// The model cannot take this input (image to a text model, …).
    #[error("model '{model}' does not support {capability}; {hint}")]
    UnsupportedCapability {
        /// Canonical model id.
        model: String,
        /// The missing capability.
        capability: &'static str,
        /// Which models would.
        hint: String,
    },
    /// The model's provider has no key or no regions.
    #[error("provider '{provider}' is not configured: {hint}")]
    ProviderNotConfigured {
        /// Provider id.
        provider: String,
        /// What to set.
        hint: String,
    },
    /// The upstream failed.
    #[error("{provider}: {}", .error.message)]
    Upstream {
        /// Provider id.
        provider: String,
        /// The classified vendor error.
        error: UpstreamError,
    },
    /// No such route.
    #[error("unknown route: {method} {path}")]
    UnknownRoute {
        /// HTTP method.
        method: String,
        /// Path.
        path: String,
    },
    /// Route exists, method does not.
    #[error("method {0} is not allowed here")]
    MethodNotAllowed(String),
    /// A gateway bug; the request fails cleanly instead of crashing the process.
    #[error("internal error: {0}")]
    Internal(&'static str),
    /// Refused by the caller's key: missing or invalid (401), a model it may not use
    /// (403), over its budget (402) or rate limits (429).
    #[error("{message}")]
    Denied {
        /// HTTP status.
        status: StatusCode,
        /// OpenAI error type.
        kind: &'static str,
        /// Error code.
        code: &'static str,
        /// What and why.
        message: String,
        /// Seconds to wait (sent as `Retry-After`).
        retry_after_secs: Option<u64>,
        /// Extra headers (`x-ratelimit-*`).
        headers: Vec<(axum::http::HeaderName, HeaderValue)>,
    },
    /// Shed at once, not queued: the gateway is at `max_concurrency` (503), or every
    /// deployment of the model is at its own limit (429).
    #[error("{message}")]
    Overloaded {
        /// 503 for the gateway, 429 for the model's deployments.
        status: StatusCode,
        /// `gateway_overloaded`, `deployments_saturated` or `shutting_down`.
        code: &'static str,
        /// What is full.
        message: String,
        /// Seconds the client should wait (sent as `Retry-After`).
        retry_after_secs: u64,
    },
}

impl From<switchyard_catalog::CatalogError> for GatewayError {
    /// A name the catalog could not give: unknown (404, with "did you mean"), or a model
    /// of the wrong kind for the endpoint (400 on `model`).
    fn from(e: switchyard_catalog::CatalogError) -> Self {
        match e {
            switchyard_catalog::CatalogError::WrongKind { .. } => GatewayError::InvalidValue {
                param: "model".into(),
                message: e.to_string(),
            },
            other => GatewayError::ModelNotFound(other.to_string()),
        }
    }
}

impl GatewayError {
    /// HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::InvalidJson(_)
            | GatewayError::MissingParameter(_)
            | GatewayError::InvalidType { .. }
            | GatewayError::InvalidValue { .. }
            | GatewayError::UnsupportedCapability { .. } => StatusCode::BAD_REQUEST,
            GatewayError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            GatewayError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            GatewayError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            GatewayError::ModelNotFound(_) | GatewayError::UnknownRoute { .. } => {
                StatusCode::NOT_FOUND
            }
            GatewayError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            GatewayError::ProviderNotConfigured { .. } => StatusCode::SERVICE_UNAVAILABLE,
            GatewayError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            GatewayError::Overloaded { status, .. } | GatewayError::Denied { status, .. } => {
                *status
            }
            GatewayError::Upstream { error, .. } => {
                StatusCode::from_u16(error.kind.status()).unwrap_or(StatusCode::BAD_GATEWAY)
            }
        }
    }

    /// Low-cardinality label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            GatewayError::InvalidJson(_) => "invalid_json",
            GatewayError::UnsupportedMediaType(_) => "unsupported_media_type",
            GatewayError::MissingParameter(_) => "missing_required_parameter",
            GatewayError::InvalidType { .. } => "invalid_type",
            GatewayError::InvalidValue { .. } => "invalid_value",
            GatewayError::TooLarge { .. } => "request_too_large",
            GatewayError::BodyTimeout { .. } => "request_body_timeout",
            GatewayError::ModelNotFound(_) => "model_not_found",
            GatewayError::UnsupportedCapability { .. } => "unsupported_capability",
            GatewayError::ProviderNotConfigured { .. } => "provider_not_configured",
            GatewayError::Upstream { error, .. } => error.kind.default_code(),
            GatewayError::UnknownRoute { .. } => "unknown_route",
            GatewayError::MethodNotAllowed(_) => "method_not_allowed",
            GatewayError::Internal(_) => "internal_error",
            GatewayError::Overloaded { code, .. } | GatewayError::Denied { code, .. } => code,
        }
    }

    /// The OpenAI error object.
    pub fn to_api_error(&self) -> ApiError {
        match self {
            GatewayError::Upstream { provider, error } => error.to_api_error(provider),
            other => {
                let kind = match other {
                    GatewayError::ModelNotFound(_) | GatewayError::UnknownRoute { .. } => {
                        "not_found_error"
                    }
                    GatewayError::ProviderNotConfigured { .. } => "service_unavailable_error",
                    GatewayError::Internal(_) => "server_error",
                    GatewayError::Overloaded { status, .. }
                        if *status == StatusCode::TOO_MANY_REQUESTS =>
                    {
                        "rate_limit_error"
                    }
                    GatewayError::Overloaded { .. } => "service_unavailable_error",
                    GatewayError::Denied { kind, .. } => kind,
                    _ => "invalid_request_error",
                };
                let err = ApiError::new(kind, other.label(), other.to_string());
                match other {
                    GatewayError::MissingParameter(p) => err.with_param(p.clone()),
                    GatewayError::InvalidType { path, .. } => err.with_param(path.clone()),
                    GatewayError::InvalidValue { param, .. } => err.with_param(param.clone()),
                    GatewayError::ModelNotFound(_) | GatewayError::UnsupportedCapability { .. } => {
                        err.with_param("model")
                    }
                    _ => err,
                }
            }
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let mut resp = error_response(self.status(), &self.to_api_error());
        // Pass on how long the vendor asked callers to wait.
        if let GatewayError::Upstream { error, .. } = &self
            && let Some(secs) = error.retry_after_secs
        {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let GatewayError::Denied {
            retry_after_secs,
            headers,
            ..
        } = &self
        {
            if let Some(secs) = retry_after_secs {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*secs));
            }
            for (n, v) in headers {
                resp.headers_mut().insert(n.clone(), v.clone());
            }
        }
        if let GatewayError::Overloaded {
            retry_after_secs, ..
        } = &self
        {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        resp
    }
}

/// A JSON error response.
pub(crate) fn error_response(status: StatusCode, err: &ApiError) -> Response {
    let body = serde_json::to_vec(&serde_json::json!({ "error": err })).unwrap_or_default();
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
