//! Wire formats: the OpenAI chat-completions shapes and the vendor dialects around them.
//!
//! This crate is pure — no I/O, no clocks, no async. It owns:
//! - [`aggregate`]: folding a stream into one response, for stream-only models;
//! - [`replay`]: the inverse, a whole response sent as a stream;
//! - [`chat`]: typed views of requests, responses and stream chunks that keep every
//!   unknown field (a proxy must pass through what it does not understand);
//! - [`usage`]: one normalised usage shape, whatever the vendor put where;
//! - [`sse`]: an incremental Server-Sent-Events parser;
//! - [`error`]: the OpenAI error body and the upstream error classification;
//! - [`dialect`]: per-vendor request/response normalisation and error mapping;
//! - [`tokens`]: a small offline token estimator;
//! - [`embeddings`]: `/v1/embeddings` requests, vendor answers and client answers;
//! - [`responses`]: the Responses API, translated to and from Chat Completions ([`retell`]
//!   holds what re-telling a chat stream in another API's events shares);
//! - [`anthropic`]: the Messages API, translated to and from Chat Completions
//!   ([`translate`] holds what can refuse a translation).

// Everything here reads bytes from clients and upstreams: an index or a sum that input
// controls must not panic or wrap. Exceptions are marked where they are, with the reason.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

pub mod aggregate;
pub mod anthropic;
pub mod chat;
pub mod dialect;
pub mod embeddings;
pub mod error;
mod open;
pub mod replay;
pub mod responses;
pub mod retell;
pub mod sse;
pub mod tokens;
pub mod translate;
pub mod usage;

pub use aggregate::StreamAggregator;
pub use chat::{
    ChatChunk, ChatCompletion, ChatRequest, Choice, ChunkChoice, Content, ContentPart, Delta,
    FunctionCall, Message, ResponseFormat, ResponseFormatKind, Role, Stop, StreamOptions, Tool,
    ToolCall,
};
pub use dialect::{Adjustment, Dialect, StreamNormalizer};
pub use error::{ApiError, ErrorBody, ErrorKind, UpstreamError};
pub use sse::{SseError, SseEvent, SseParser};
pub use translate::TranslateError;
pub use usage::{TokenUsage, Usage};

/// A JSON object that carries fields this crate does not model, passed through unchanged.
pub type JsonMap = serde_json::Map<String, serde_json::Value>;
