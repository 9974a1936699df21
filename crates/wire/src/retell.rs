//! What re-telling a chat stream in another API's events shares: the [`Retell`] trait
//! its writers implement (`anthropic::EventWriter`, `responses::ResponseEvents`), and
//! [`ChatItem`], one SSE item of the gateway's own chat stream read for what it is.

use serde_json::Value;

use crate::chat::{ChatChunk, Delta, ToolCall};
use crate::sse::SseEvent;
use crate::usage::TokenUsage;

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

/// A piece of the first choice's delta, in the order to tell it.
#[derive(Debug, Clone, Copy)]
pub enum Part<'a> {
    /// Reasoning text.
    Reasoning(&'a str),
    /// A vendor's signature of the reasoning so far (a passed-through Messages answer).
    Signature(&'a str),
    /// Answer text.
    Text(&'a str),
    /// A piece of the tool call at this index (its position when the vendor gave none).
    Tool(u32, &'a ToolCall),
}

/// What a chunk says beside its parts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Said<'a> {
    /// Usage, where the chunk carries it (at the top or in the choice).
    pub usage: Option<TokenUsage>,
    /// The finish reason, once given.
    pub finish: Option<&'a str>,
}

/// Hand each part of `chunk`'s first choice to `tell`, in order (the first error ends
/// the walk); the chunk's usage and finish reason.
pub fn walk<'a, E>(
    chunk: &'a ChatChunk,
    mut tell: impl FnMut(Part<'a>) -> Result<(), E>,
) -> Result<Said<'a>, E> {
    let mut said = Said {
        usage: chunk.usage.as_ref().map(|u| u.normalize()),
        finish: None,
    };
    for choice in chunk.choices.iter().filter(|c| c.index == 0) {
        if let Some(u) = &choice.usage {
            said.usage = Some(u.normalize());
        }
        parts(&choice.delta, &mut tell)?;
        if let Some(f) = &choice.finish_reason {
            said.finish = Some(f);
        }
    }
    Ok(said)
}

fn parts<'a, E>(d: &'a Delta, tell: &mut impl FnMut(Part<'a>) -> Result<(), E>) -> Result<(), E> {
    if let Some(r) = d.reasoning_content.as_deref().filter(|r| !r.is_empty()) {
        tell(Part::Reasoning(r))?;
    }
    if let Some(sig) = d.extra.get("signature").and_then(Value::as_str) {
        tell(Part::Signature(sig))?;
    }
    if let Some(t) = d.content.as_deref().filter(|t| !t.is_empty()) {
        tell(Part::Text(t))?;
    }
    for (pos, call) in d.tool_calls.iter().flatten().enumerate() {
        let index = call
            .index
            .unwrap_or_else(|| u32::try_from(pos).unwrap_or(u32::MAX));
        tell(Part::Tool(index, call))?;
    }
    Ok(())
}

/// For the writers' tests: `chat` (SSE text) re-told by `teller`, read back as
/// (event name, data) pairs.
#[cfg(test)]
pub(crate) fn retold(teller: &mut impl Retell, chat: &str) -> Vec<(Option<String>, Value)> {
    use crate::sse::SseParser;
    let mut p = SseParser::new();
    p.push(chat.as_bytes()).unwrap();
    let mut out = Vec::new();
    while let Some(item) = p.next_event().unwrap() {
        teller.item(&item, &mut out);
    }
    teller.end_of_stream(&mut out);
    let mut back = SseParser::new();
    back.push(&out).unwrap();
    let mut events = Vec::new();
    while let Some(e) = back.next_event().unwrap() {
        if let SseEvent::Data { event, data } = e {
            events.push((event, serde_json::from_str(&data).unwrap()));
        }
    }
    events
}
