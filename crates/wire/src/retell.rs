//! What re-telling a chat stream in another API's events shares: the [`Retell`] trait
//! its writers implement (`anthropic::EventWriter`, `responses::ResponseEvents`), and
//! [`ChatItem`], one SSE item of the gateway's own chat stream read for what it is.

use serde_json::Value;

use crate::chat::ChatChunk;
use crate::sse::SseEvent;

/// A writer that re-tells a chat stream's SSE items in another API's events.
pub trait Retell {
    /// One SSE item of the chat stream, appending the other API's bytes to `out`.
    fn item(&mut self, item: &SseEvent, out: &mut Vec<u8>);
    /// The chat stream ended (with or without its `[DONE]`).
    fn end_of_stream(&mut self, out: &mut Vec<u8>);
    /// The chat stream could not be read on, for `why`: end with an error.
    fn fail(&mut self, why: &str, out: &mut Vec<u8>);
    /// Nothing more will be written.
    fn ended(&self) -> bool;
}

/// One SSE item of a chat stream, read for what it is.
#[derive(Debug)]
pub enum ChatItem<'a> {
    /// A comment (keep-alive, cost): passed on.
    Comment(&'a str),
    /// `data: [DONE]`.
    Done,
    /// The relay's error event (`{"error":{…}}`): its message and code.
    Error {
        /// What failed.
        message: String,
        /// The error's code (`shutting_down`, …), if any.
        code: Option<String>,
    },
    /// A chunk.
    Chunk(Box<ChatChunk>),
    /// Data that is not a chunk.
    Unreadable(String),
}

impl<'a> ChatItem<'a> {
    /// Read `item`.
    pub fn of(item: &'a SseEvent) -> Self {
        let data = match item {
            SseEvent::Comment(c) => return ChatItem::Comment(c),
            SseEvent::Data { data, .. } => data,
        };
        if data.trim() == "[DONE]" {
            return ChatItem::Done;
        }
        match serde_json::from_str::<ChatChunk>(data) {
            Ok(c) if c.choices.is_empty() && c.extra.contains_key("error") => {
                let field = |k: &str| {
                    c.extra
                        .get("error")
                        .and_then(|e| e.get(k))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                };
                ChatItem::Error {
                    message: field("message")
                        .unwrap_or_else(|| "the upstream failed mid-stream".into()),
                    code: field("code"),
                }
            }
            Ok(c) => ChatItem::Chunk(Box::new(c)),
            Err(e) => ChatItem::Unreadable(format!(
                "the upstream stream carried an unreadable chunk: {e}"
            )),
        }
    }
}
