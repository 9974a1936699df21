//! What can go wrong translating a request from another API (the Messages API, the
//! Responses API) into Chat Completions: a field the other API allows but that has no
//! meaning upstream, or a value out of range. Each names the field in the client's own
//! API, so the error the client gets points at what it sent.

/// A request that cannot be translated, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    /// A required field is absent.
    #[error("{0}: field required")]
    Missing(String),
    /// A field's value is out of range or unsupported here.
    #[error("{message}")]
    Invalid {
        /// The field, in the client's API.
        param: String,
        /// What is wrong, and what would do.
        message: String,
    },
}

impl TranslateError {
    /// `field` is required.
    pub fn missing(field: impl Into<String>) -> Self {
        TranslateError::Missing(field.into())
    }

    /// `param`'s value is refused, for `message`.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        TranslateError::Invalid {
            param: param.into(),
            message: message.into(),
        }
    }

    /// The field at fault.
    pub fn param(&self) -> &str {
        match self {
            TranslateError::Missing(p) | TranslateError::Invalid { param: p, .. } => p,
        }
    }
}
