//! A Chat Completions stream re-told as Messages API events:
//!
//! ```text
//! message_start → ping → (content_block_start → content_block_delta… → content_block_stop)…
//!               → message_delta (stop_reason, usage) → message_stop
//! ```
//!
//! Feed it the stream's SSE items in order ([`EventWriter::item`]); it appends the
//! events to a byte buffer. Reasoning becomes a `thinking` block, content a `text`
//! block, each tool call a `tool_use` block whose arguments go out as `input_json_delta`s.
//! A block is closed when the next kind begins, so blocks never interleave. Usage is
//! sent once, in `message_delta`, when the stream ends (`[DONE]`); an error in the stream
//! becomes an `error` event; comments are passed on (Anthropic's SDKs skip them).

use serde::Serialize;
use serde_json::{Value, json};

use super::message::{OutUsage, message_id, stop_reason};
use crate::chat::ChatChunk;
use crate::retell::{ChatItem, Part, Retell, walk};
use crate::sse::{SseEvent, write_comment, write_event};

/// What kind of block is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Thinking,
    Text,
    /// A tool call, by its index in the Chat Completions stream.
    Tool(u32),
}

/// The translator's state: see the module doc.
#[derive(Debug, Default)]
pub struct EventWriter {
    /// `message_start` was sent.
    started: bool,
    /// The block open now, and its index.
    open: Option<(Open, u32)>,
    /// Index of the next block.
    next_block: u32,
    /// Tool-call indices whose blocks are closed (a later delta for one cannot be sent).
    closed_tools: Vec<u32>,
    /// The finish reason, once seen.
    finish: Option<String>,
    /// Usage, once seen.
    usage: Option<OutUsage>,
    /// The stream ended (`message_stop` or `error` sent).
    ended: bool,
}

/// A chat stream event the writer could not tell as Messages events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untellable(pub String);

impl EventWriter {
    /// A writer for a new stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// One chat chunk.
    fn chunk(&mut self, chunk: &ChatChunk, out: &mut Vec<u8>) -> Result<(), Untellable> {
        if !self.started {
            self.start(chunk, out);
        }
        let said = walk(chunk, |part| {
            match part {
                Part::Reasoning(r) => {
                    self.open_block(Open::Thinking, out);
                    self.delta(json!({"type": "thinking_delta", "thinking": r}), out);
                }
                // A vendor's own signature of its thinking (a passed-through request's).
                Part::Signature(sig) if self.open.map(|(o, _)| o) == Some(Open::Thinking) => {
                    self.delta(json!({"type": "signature_delta", "signature": sig}), out);
                }
                Part::Signature(_) => {}
                Part::Text(t) => {
                    self.open_block(Open::Text, out);
                    self.delta(json!({"type": "text_delta", "text": t}), out);
                }
                Part::Tool(index, call) => self.tool_delta(index, call, out)?,
            }
            Ok::<(), Untellable>(())
        })?;
        if let Some(u) = said.usage {
            self.usage = Some(u.into());
        }
        if let Some(f) = said.finish {
            self.finish = Some(f.to_string());
        }
        Ok(())
    }

    fn start(&mut self, chunk: &ChatChunk, out: &mut Vec<u8>) {
        self.started = true;
        let message = json!({
            "id": message_id(&chunk.id),
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": chunk.model,
            "stop_reason": null,
            "stop_sequence": null,
            "usage": OutUsage::default(),
        });
        event(
            out,
            "message_start",
            &json!({"type": "message_start", "message": message}),
        );
        event(out, "ping", &json!({"type": "ping"}));
    }

    /// A piece of tool call `index`: its first piece opens a block.
    fn tool_delta(
        &mut self,
        index: u32,
        call: &crate::chat::ToolCall,
        out: &mut Vec<u8>,
    ) -> Result<(), Untellable> {
        let f = call.function.as_ref();
        if self.open.map(|(o, _)| o) != Some(Open::Tool(index)) {
            if self.closed_tools.contains(&index) {
                return Err(Untellable(format!(
                    "the upstream interleaved tool call {index} with another; its arguments cannot be streamed in order"
                )));
            }
            self.close_block(out);
            let block = json!({
                "type": "tool_use",
                "id": call.id.clone().unwrap_or_default(),
                "name": f.and_then(|f| f.name.clone()).unwrap_or_default(),
                "input": {},
            });
            self.begin(Open::Tool(index), block, out);
        }
        if let Some(args) = f
            .and_then(|f| f.arguments.as_deref())
            .filter(|a| !a.is_empty())
        {
            self.delta(
                json!({"type": "input_json_delta", "partial_json": args}),
                out,
            );
        }
        Ok(())
    }

    /// Make sure a block of `kind` is open.
    fn open_block(&mut self, kind: Open, out: &mut Vec<u8>) {
        if self.open.map(|(o, _)| o) == Some(kind) {
            return;
        }
        self.close_block(out);
        let block = match kind {
            Open::Thinking => json!({"type": "thinking", "thinking": "", "signature": ""}),
            Open::Text | Open::Tool(_) => json!({"type": "text", "text": ""}),
        };
        self.begin(kind, block, out);
    }

    fn begin(&mut self, kind: Open, block: Value, out: &mut Vec<u8>) {
        let index = self.next_block;
        self.next_block = self.next_block.saturating_add(1);
        self.open = Some((kind, index));
        event(
            out,
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": block}),
        );
    }

    fn delta(&mut self, delta: Value, out: &mut Vec<u8>) {
        if let Some((_, index)) = self.open {
            event(
                out,
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": index, "delta": delta}),
            );
        }
    }

    fn close_block(&mut self, out: &mut Vec<u8>) {
        if let Some((kind, index)) = self.open.take() {
            if let Open::Tool(t) = kind {
                self.closed_tools.push(t);
            }
            event(
                out,
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": index}),
            );
        }
    }

    /// `[DONE]`: close the open block, then `message_delta` and `message_stop`.
    fn done(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.error(
                "api_error",
                "the upstream stream ended before its first chunk",
                out,
            );
            return;
        }
        self.close_block(out);
        let usage = self.usage.unwrap_or_default();
        event(
            out,
            "message_delta",
            &json!({
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason(self.finish.as_deref()), "stop_sequence": null},
                "usage": usage,
            }),
        );
        event(out, "message_stop", &json!({"type": "message_stop"}));
        self.ended = true;
    }

    /// End the stream with an `error` event.
    pub fn error(&mut self, kind: &str, message: &str, out: &mut Vec<u8>) {
        event(
            out,
            "error",
            &json!({"type": "error", "error": {"type": kind, "message": message}}),
        );
        self.ended = true;
    }
}

impl Retell for EventWriter {
    fn item(&mut self, item: &SseEvent, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        match ChatItem::of(item) {
            ChatItem::Comment(c) => write_comment(out, c),
            ChatItem::Done => self.done(out),
            ChatItem::Error { message, code } => {
                let kind = match code.as_deref() {
                    Some("shutting_down") => "overloaded_error",
                    Some("timeout" | "stream_stalled") => "timeout_error",
                    _ => "api_error",
                };
                self.error(kind, &message, out);
            }
            ChatItem::Chunk(chunk) => {
                if let Err(Untellable(why)) = self.chunk(&chunk, out) {
                    self.error("api_error", &why, out);
                }
            }
            ChatItem::Unreadable(why) => self.error("api_error", &why, out),
        }
    }

    /// Without `[DONE]`: an error unless the answer had finished.
    fn end_of_stream(&mut self, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        if self.finish.is_some() {
            self.done(out);
        } else {
            self.error(
                "api_error",
                "the upstream stream ended before the answer was complete",
                out,
            );
        }
    }

    fn fail(&mut self, why: &str, out: &mut Vec<u8>) {
        self.error("api_error", why, out);
    }

    fn ended(&self) -> bool {
        self.ended
    }
}

/// Append one named event.
fn event(out: &mut Vec<u8>, name: &str, data: &impl Serialize) {
    write_event(out, Some(name), data);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run chat SSE text through the writer; the events as (name, data) pairs.
    fn tell(chat: &str) -> Vec<(String, Value)> {
        crate::retell::retold(&mut EventWriter::new(), chat)
            .into_iter()
            .map(|(name, data)| (name.unwrap(), data))
            .collect()
    }

    fn names(events: &[(String, Value)]) -> Vec<&str> {
        events.iter().map(|(n, _)| n.as_str()).collect()
    }

    const HEAD: &str = r#""id":"c1","object":"chat.completion.chunk","created":1,"model":"m""#;

    #[test]
    fn reasoning_then_text_then_usage() {
        let chat = format!(
            "data: {{{HEAD},\"choices\":[{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"reasoning_content\":\"hm\"}}}}]}}\n\n\
             data: {{{HEAD},\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"Hi\"}}}}]}}\n\n\
             data: {{{HEAD},\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"!\"}},\"finish_reason\":\"stop\"}}]}}\n\n\
             : x-switchyard-cost-usd 0.000000100\n\n\
             data: {{{HEAD},\"choices\":[],\"usage\":{{\"prompt_tokens\":10,\"completion_tokens\":3,\"total_tokens\":13}}}}\n\n\
             data: [DONE]\n\n"
        );
        let ev = tell(&chat);
        assert_eq!(
            names(&ev),
            [
                "message_start",
                "ping",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(ev[0].1["message"]["id"], "msg_c1");
        assert_eq!(ev[2].1["content_block"]["type"], "thinking");
        assert_eq!(ev[5].1["index"], 1);
        assert_eq!(ev[7].1["delta"]["text"], "!");
        assert_eq!(ev[9].1["delta"]["stop_reason"], "end_turn");
        assert_eq!(ev[9].1["usage"]["input_tokens"], 10);
        assert_eq!(ev[9].1["usage"]["output_tokens"], 3);
    }

    #[test]
    fn tool_calls_stream_as_tool_use_blocks() {
        let chat = format!(
            "data: {{{HEAD},\"choices\":[{{\"index\":0,\"delta\":{{\"tool_calls\":[{{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{{\"name\":\"f\",\"arguments\":\"\"}}}}]}}}}]}}\n\n\
             data: {{{HEAD},\"choices\":[{{\"index\":0,\"delta\":{{\"tool_calls\":[{{\"index\":0,\"function\":{{\"arguments\":\"{{\\\"a\\\":1}}\"}}}}]}}}}]}}\n\n\
             data: {{{HEAD},\"choices\":[{{\"index\":0,\"delta\":{{\"tool_calls\":[{{\"index\":1,\"id\":\"call_2\",\"function\":{{\"name\":\"g\",\"arguments\":\"{{}}\"}}}}]}},\"finish_reason\":\"tool_calls\"}}]}}\n\n\
             data: [DONE]\n\n"
        );
        let ev = tell(&chat);
        assert_eq!(ev[2].1["content_block"]["id"], "call_1");
        assert_eq!(ev[3].1["delta"]["partial_json"], "{\"a\":1}");
        assert_eq!(ev[5].1["content_block"]["name"], "g");
        assert_eq!(ev[5].1["index"], 1);
        let delta = ev.iter().find(|(n, _)| n == "message_delta").unwrap();
        assert_eq!(delta.1["delta"]["stop_reason"], "tool_use");
    }

    #[test]
    fn an_interleaved_tool_call_ends_the_stream_with_an_error() {
        let call = |i: u32, args: &str| {
            format!(
                "data: {{{HEAD},\"choices\":[{{\"index\":0,\"delta\":{{\"tool_calls\":[{{\"index\":{i},\"id\":\"c{i}\",\"function\":{{\"name\":\"f\",\"arguments\":\"{args}\"}}}}]}}}}]}}\n\n"
            )
        };
        let ev = tell(&format!("{}{}{}", call(0, "x"), call(1, "y"), call(0, "z")));
        assert_eq!(ev.last().unwrap().0, "error");
    }

    #[test]
    fn an_error_mid_stream_is_an_error_event() {
        let chat = format!(
            "data: {{{HEAD},\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"Hi\"}}}}]}}\n\n\
             data: {{\"error\":{{\"message\":\"upstream broke\",\"type\":\"upstream_error\"}}}}\n\n"
        );
        let ev = tell(&chat);
        let (name, data) = ev.last().unwrap();
        assert_eq!(name, "error");
        assert_eq!(data["error"]["type"], "api_error");
        assert_eq!(data["error"]["message"], "upstream broke");
    }

    #[test]
    fn a_stream_cut_before_its_finish_is_an_error() {
        let chat = format!(
            "data: {{{HEAD},\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"Hi\"}}}}]}}\n\n"
        );
        assert_eq!(tell(&chat).last().unwrap().0, "error");
    }
}
