//! One request's line in the usage log.

use serde::{Deserialize, Serialize};

/// What one request (or one extra attempt of it, such as a cancelled hedge) consumed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageEvent {
    /// When it ended, milliseconds since the Unix epoch.
    pub ts_ms: i64,
    /// Gateway request id (shared by a request and its extra attempts).
    pub request_id: String,
    /// Gateway key id, when keys are in use.
    pub key_id: Option<String>,
    /// Team (owner) of the key.
    pub team: Option<String>,
    /// Canonical model id that served it.
    pub model: String,
    /// Provider id.
    pub provider: String,
    /// Deployment name.
    pub deployment: String,
    /// Region label.
    pub region: String,
    /// Prompt tokens, cached included.
    pub prompt_tokens: u64,
    /// Prompt tokens served from the vendor's cache.
    pub cached_tokens: u64,
    /// Completion tokens, reasoning included.
    pub completion_tokens: u64,
    /// Reasoning tokens (part of completion).
    pub reasoning_tokens: u64,
    /// Exact cost in nano-dollars.
    pub cost_nanos: u64,
    /// Arrival to end, milliseconds.
    pub latency_ms: u64,
    /// Arrival to first token, for streams that produced one.
    pub ttft_ms: Option<u64>,
    /// HTTP status the client got (499: the client left first).
    pub status: u16,
    /// `completed`, `client_disconnected`, `interrupted`, `hedge_cancelled` or `failed`.
    pub outcome: String,
    /// Upstream attempts made.
    pub attempts: u32,
    /// Whether the token counts are the gateway's estimate (the vendor's never came).
    pub estimated: bool,
    /// For requests to a virtual model: how it was routed (`x-switchyard-route`).
    #[serde(default)]
    pub route: Option<String>,
    /// The API it came in by: `chat.completions`, `messages`, `responses` or
    /// `embeddings`.
    #[serde(default = "chat_endpoint")]
    pub endpoint: String,
}

/// The endpoint of events written before there were others.
pub(crate) fn chat_endpoint() -> String {
    "chat.completions".into()
}

#[cfg(test)]
impl UsageEvent {
    /// A small event numbered `n`, for the crate's tests.
    pub(crate) fn sample(n: u64) -> Self {
        UsageEvent {
            ts_ms: 1_700_000_000_000 + n as i64,
            request_id: format!("r{n}"),
            key_id: None,
            team: None,
            model: "m".into(),
            provider: "p".into(),
            deployment: "d".into(),
            region: "r".into(),
            prompt_tokens: n,
            cached_tokens: 0,
            completion_tokens: 1,
            reasoning_tokens: 0,
            cost_nanos: n * 10,
            latency_ms: 5,
            ttft_ms: None,
            status: 200,
            outcome: "completed".into(),
            attempts: 1,
            estimated: false,
            route: None,
            endpoint: "chat.completions".into(),
        }
    }
}
