//! A provider as the request path sees it: its dialect, its regions' URLs, the
//! credentials to send.

use axum::http::HeaderValue;
use switchyard_wire::Dialect;

/// One region of a provider, ready to call.
#[derive(Debug)]
pub struct RegionRuntime {
    /// Region label.
    pub name: String,
    /// The gateway region it is near (compared with `[server] region`).
    pub near: String,
    /// Full chat-completions URL.
    pub chat_url: String,
    /// The same, parsed once (a request never parses it again).
    pub target: axum::http::Uri,
    /// The embeddings URL (`…/embeddings`), parsed once.
    pub embeddings: axum::http::Uri,
    /// The vendor's Anthropic-compatible `…/v1/messages` here, when Messages requests
    /// are passed through to it (`[providers.<id>] messages`).
    pub messages: Option<axum::http::Uri>,
}

/// A provider as the request path sees it.
#[derive(Debug)]
pub struct ProviderRuntime {
    /// Provider id.
    pub id: String,
    /// Dialect spoken.
    pub dialect: Dialect,
    /// Regions in preference order.
    pub regions: Vec<RegionRuntime>,
    /// `Bearer <key>`, or `None` when the provider is unusable.
    pub auth: Option<HeaderValue>,
    /// The key alone, for the `x-api-key` of Anthropic-compatible endpoints.
    pub api_key: Option<HeaderValue>,
    /// Served by the in-process simulator.
    pub simulated: bool,
    /// Why it is unusable, when `auth` is `None`.
    pub unusable_hint: String,
}

impl ProviderRuntime {
    /// Whether requests can be sent to it.
    pub fn usable(&self) -> bool {
        self.auth.is_some() && !self.regions.is_empty()
    }
}
