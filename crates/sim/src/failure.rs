//! Why a request failed, before any vendor's spelling is applied: the same list for
//! every vendor; each vendor file turns a [`Failure`] into its status and error body.

/// Why a request failed, before the vendor's spelling is applied.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Failure {
    /// The body is not JSON of the expected shape.
    InvalidJson(String),
    /// A parameter the vendor rejects.
    InvalidRequest(String),
    /// No `Authorization: Bearer …` header.
    MissingKey,
    /// A key that is not accepted.
    InvalidKey,
    /// The model is not served by this provider.
    ModelNotFound(String),
    /// No such endpoint.
    RouteNotFound(String),
    /// Injected: rate limit.
    RateLimited,
    /// Out of capacity: injected, or the region's capacity queue is full.
    Overloaded,
    /// Injected: balance exhausted.
    InsufficientBalance,
    /// Injected: internal error.
    ServerError,
}

impl Failure {
    /// A parameter error naming the request field.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Failure::InvalidRequest(message.into())
    }
}
