//! A Chat Completions stream re-told as Responses API events:
//!
//! ```text
//! response.created → response.in_progress
//!   → per item: response.output_item.added → (content_part.added) → …delta… → …done
//!     → (content_part.done) → response.output_item.done
//! → response.completed | response.incomplete   (or: error → response.failed)
//! ```
//!
//! Reasoning becomes a `reasoning` item (`response.reasoning_text.delta`), content a
//! `message` item (`response.output_text.delta`), each tool call a `function_call` item
//! (`response.function_call_arguments.delta`). An item is closed when the next begins;
//! every event carries its `sequence_number`. The final response holds every item and
//! the usage (the chat stream's trailing usage chunk).

use serde_json::{Value, json};

use super::response::{
    Echo, Status, Written, call_item, item_id, message_item, reasoning_item, response_object,
};
use crate::chat::{ChatChunk, Delta, ToolCall};
use crate::retell::{ChatItem, Part, Retell, walk};
use crate::sse::{SseEvent, write_comment, write_event};
use crate::usage::TokenUsage;

/// What the open item is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Reasoning,
    Message,
    /// A tool call, by its index in the chat stream.
    Call {
        index: u32,
        call_id: String,
        name: String,
    },
}

/// The item being written.
#[derive(Debug)]
struct Open {
    kind: Kind,
    id: String,
    output_index: usize,
    text: String,
}

/// The translator's state: see the module doc.
#[derive(Debug)]
pub struct ResponseEvents {
    echo: Echo,
    created_at: u64,
    seq: u64,
    id: String,
    model: String,
    started: bool,
    open: Option<Open>,
    output: Vec<Value>,
    closed_calls: Vec<u32>,
    finish: Option<String>,
    usage: Option<TokenUsage>,
    ended: bool,
    /// Bytes of text kept for the final response.
    kept: usize,
}

/// The most text a streamed response keeps for its final `response` object: what the
/// gateway reads of a whole answer (`upstream::send::MAX_ANSWER_BYTES`).
pub const MAX_KEPT: usize = 32 * 1024 * 1024;

/// The most output items a streamed response keeps (a real answer has a handful).
pub const MAX_ITEMS: usize = 4096;

impl ResponseEvents {
    /// A writer for a response to a request that echoes `echo`, created at `created_at`.
    pub fn new(echo: Echo, created_at: u64) -> Self {
        ResponseEvents {
            echo,
            created_at,
            seq: 0,
            id: String::new(),
            model: String::new(),
            started: false,
            open: None,
            output: Vec::new(),
            closed_calls: Vec::new(),
            finish: None,
            usage: None,
            ended: false,
            kept: 0,
        }
    }

    fn chunk(&mut self, c: &ChatChunk, out: &mut Vec<u8>) -> Result<(), String> {
        if !self.started {
            self.start(c, out);
        }
        for choice in c.choices.iter().filter(|ch| ch.index == 0) {
            self.keep(&choice.delta)?;
        }
        let said = walk(c, |part| {
            match part {
                Part::Reasoning(r) => self.write(Kind::Reasoning, r, out),
                Part::Text(t) => self.write(Kind::Message, t, out),
                Part::Tool(index, call) => self.call(index, call, out)?,
                // The Responses API has no field for a vendor's signature.
                Part::Signature(_) => {}
            }
            Ok::<(), String>(())
        })?;
        if let Some(u) = said.usage {
            self.usage = Some(u);
        }
        if let Some(f) = said.finish {
            self.finish = Some(f.to_string());
        }
        Ok(())
    }

    /// Count the text `d` adds to what the final response holds; past [`MAX_KEPT`] bytes
    /// or [`MAX_ITEMS`] items (reasoning and text taking turns a byte at a time) the
    /// stream fails (an upstream that never stops must not grow the gateway's memory).
    fn keep(&mut self, d: &Delta) -> Result<(), String> {
        let args = d
            .tool_calls
            .iter()
            .flatten()
            .filter_map(|c| c.function.as_ref()?.arguments.as_deref())
            .map(str::len);
        let added = [d.reasoning_content.as_deref(), d.content.as_deref()]
            .into_iter()
            .flatten()
            .map(str::len)
            .chain(args)
            .fold(0usize, usize::saturating_add);
        self.kept = self.kept.saturating_add(added);
        if self.output.len() >= MAX_ITEMS {
            return Err(format!(
                "the answer passed {MAX_ITEMS} output items, the most a response holds"
            ));
        }
        if self.kept > MAX_KEPT {
            return Err(format!(
                "the answer passed {MAX_KEPT} bytes, the most a response holds"
            ));
        }
        Ok(())
    }

    fn start(&mut self, c: &ChatChunk, out: &mut Vec<u8>) {
        self.started = true;
        self.id = item_id("resp_", &c.id);
        self.model.clone_from(&c.model);
        let response = self.snapshot(Status::InProgress, None);
        self.emit(out, "response.created", json!({ "response": response }));
        let response = self.snapshot(Status::InProgress, None);
        self.emit(out, "response.in_progress", json!({ "response": response }));
    }

    /// Text of `kind` (reasoning or message): its item opened if it is not.
    fn write(&mut self, kind: Kind, delta: &str, out: &mut Vec<u8>) {
        if self.open.as_ref().map(|o| &o.kind) != Some(&kind) {
            self.close(out);
            let (item, part) = match kind {
                Kind::Reasoning => (
                    json!({"type": "reasoning", "summary": [], "content": [], "status": "in_progress"}),
                    json!({"type": "reasoning_text", "text": ""}),
                ),
                _ => (
                    json!({"type": "message", "status": "in_progress", "role": "assistant", "content": []}),
                    json!({"type": "output_text", "text": "", "annotations": [], "logprobs": []}),
                ),
            };
            let prefix = if kind == Kind::Reasoning { "rs" } else { "msg" };
            let open = self.begin(kind, prefix, item, out);
            self.emit(
                out,
                "response.content_part.added",
                json!({"item_id": open.0, "output_index": open.1, "content_index": 0, "part": part}),
            );
        }
        let Some(open) = self.open.as_mut() else {
            return;
        };
        open.text.push_str(delta);
        let (event, id, index) = match open.kind {
            Kind::Reasoning => (
                "response.reasoning_text.delta",
                open.id.clone(),
                open.output_index,
            ),
            _ => (
                "response.output_text.delta",
                open.id.clone(),
                open.output_index,
            ),
        };
        let mut data =
            json!({"item_id": id, "output_index": index, "content_index": 0, "delta": delta});
        if let (true, Some(obj)) = (event == "response.output_text.delta", data.as_object_mut()) {
            obj.insert("logprobs".into(), json!([]));
        }
        self.emit(out, event, data);
    }

    /// A piece of tool call `index`: its first piece opens an item.
    fn call(&mut self, index: u32, call: &ToolCall, out: &mut Vec<u8>) -> Result<(), String> {
        let f = call.function.as_ref();
        let is_open = matches!(self.open.as_ref().map(|o| &o.kind), Some(Kind::Call { index: i, .. }) if *i == index);
        if !is_open {
            if self.closed_calls.contains(&index) {
                return Err(format!(
                    "the upstream interleaved tool call {index} with another; its arguments cannot be streamed in order"
                ));
            }
            self.close(out);
            let call_id = call.id.clone().unwrap_or_default();
            let name = f.and_then(|f| f.name.clone()).unwrap_or_default();
            let item = json!({"type": "function_call", "call_id": call_id, "name": name,
                "arguments": "", "status": "in_progress"});
            self.begin(
                Kind::Call {
                    index,
                    call_id,
                    name,
                },
                "fc",
                item,
                out,
            );
        }
        if let Some(args) = f
            .and_then(|f| f.arguments.as_deref())
            .filter(|a| !a.is_empty())
            && let Some(open) = self.open.as_mut()
        {
            open.text.push_str(args);
            let data =
                json!({"item_id": open.id, "output_index": open.output_index, "delta": args});
            self.emit(out, "response.function_call_arguments.delta", data);
        }
        Ok(())
    }

    /// Open an item of `kind` (`item` without its id); its id and output index.
    fn begin(
        &mut self,
        kind: Kind,
        prefix: &str,
        mut item: Value,
        out: &mut Vec<u8>,
    ) -> (String, usize) {
        let output_index = self.output.len();
        let id = format!(
            "{prefix}_{}_{output_index}",
            self.id.trim_start_matches("resp_")
        );
        if let Some(obj) = item.as_object_mut() {
            obj.insert("id".into(), json!(id));
        }
        self.emit(
            out,
            "response.output_item.added",
            json!({"output_index": output_index, "item": item}),
        );
        self.open = Some(Open {
            kind,
            id: id.clone(),
            output_index,
            text: String::new(),
        });
        (id, output_index)
    }

    /// Close the open item: its `…done` events, and it joins the output.
    fn close(&mut self, out: &mut Vec<u8>) {
        let Some(open) = self.open.take() else {
            return;
        };
        let (id, index, text) = (&open.id, open.output_index, &open.text);
        let item = match &open.kind {
            Kind::Reasoning => {
                self.emit(
                    out,
                    "response.reasoning_text.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "text": text}),
                );
                self.emit(
                    out,
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0,
                        "part": {"type": "reasoning_text", "text": text}}),
                );
                reasoning_item(id, text, "completed")
            }
            Kind::Message => {
                self.emit(out, "response.output_text.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "text": text, "logprobs": []}));
                self.emit(out, "response.content_part.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0,
                        "part": {"type": "output_text", "text": text, "annotations": [], "logprobs": []}}));
                message_item(id, text, "completed")
            }
            Kind::Call {
                index: chat_index,
                call_id,
                name,
            } => {
                self.closed_calls.push(*chat_index);
                self.emit(
                    out,
                    "response.function_call_arguments.done",
                    json!({"item_id": id, "output_index": index, "arguments": text}),
                );
                call_item(id, call_id, name, text, "completed")
            }
        };
        self.emit(
            out,
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
        );
        self.output.push(item);
    }

    fn done(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.failed("the upstream stream ended before its first chunk", out);
            return;
        }
        self.close(out);
        let status = Status::of_finish(self.finish.as_deref());
        let event = match status {
            Status::Incomplete(_) => "response.incomplete",
            _ => "response.completed",
        };
        let response = self.snapshot(status, None);
        self.emit(out, event, json!({ "response": response }));
        self.ended = true;
    }

    /// End the stream: an `error` event, then `response.failed`.
    fn failed(&mut self, message: &str, out: &mut Vec<u8>) {
        self.emit(
            out,
            "error",
            json!({"code": "server_error", "message": message, "param": null}),
        );
        if self.started {
            let error = json!({"code": "server_error", "message": message});
            let response = self.snapshot(Status::Failed, Some(error));
            self.emit(out, "response.failed", json!({ "response": response }));
        }
        self.ended = true;
    }

    fn snapshot(&self, status: Status, error: Option<Value>) -> Value {
        let written = Written {
            id: &self.id,
            created_at: self.created_at,
            model: &self.model,
            status,
            output: &self.output,
            usage: match status {
                Status::InProgress => None,
                _ => Some(self.usage.unwrap_or_default()),
            },
            error,
        };
        response_object(&written, &self.echo)
    }

    /// Append one event, numbered.
    fn emit(&mut self, out: &mut Vec<u8>, kind: &str, mut data: Value) {
        if let Some(obj) = data.as_object_mut() {
            obj.insert("type".into(), json!(kind));
            obj.insert("sequence_number".into(), json!(self.seq));
        }
        self.seq = self.seq.saturating_add(1);
        write_event(out, Some(kind), &data);
    }
}

impl Retell for ResponseEvents {
    fn item(&mut self, item: &SseEvent, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        match ChatItem::of(item) {
            ChatItem::Comment(c) => write_comment(out, c),
            ChatItem::Done => self.done(out),
            ChatItem::Error { message, .. } | ChatItem::Unreadable(message) => {
                self.failed(&message, out);
            }
            ChatItem::Chunk(c) => {
                if let Err(why) = self.chunk(&c, out) {
                    self.failed(&why, out);
                }
            }
        }
    }

    /// Without `[DONE]`: a failure unless the answer had finished.
    fn end_of_stream(&mut self, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        if self.finish.is_some() {
            self.done(out);
        } else {
            self.failed(
                "the upstream stream ended before the answer was complete",
                out,
            );
        }
    }

    fn fail(&mut self, why: &str, out: &mut Vec<u8>) {
        self.failed(why, out);
    }

    fn ended(&self) -> bool {
        self.ended
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::responses::ResponsesRequest;

    fn tell(chat: &str) -> Vec<Value> {
        let req: ResponsesRequest =
            serde_json::from_value(json!({"model": "m", "input": "hi"})).unwrap();
        let mut w = ResponseEvents::new(Echo::of(&req), 1);
        crate::retell::retold(&mut w, chat)
            .into_iter()
            .map(|(name, v)| {
                assert_eq!(v["type"].as_str(), name.as_deref());
                v
            })
            .collect()
    }

    const HEAD: &str = r#""id":"c1","object":"chat.completion.chunk","created":1,"model":"m""#;

    #[test]
    fn reasoning_text_and_a_call_make_three_items_in_order() {
        let chat = format!(
            "data: {{{HEAD},\"choices\":[{{\"index\":0,\"delta\":{{\"reasoning_content\":\"hm\"}}}}]}}\n\n\
             data: {{{HEAD},\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"Hi\"}}}}]}}\n\n\
             data: {{{HEAD},\"choices\":[{{\"index\":0,\"delta\":{{\"tool_calls\":[{{\"index\":0,\"id\":\"call_1\",\"function\":{{\"name\":\"f\",\"arguments\":\"{{}}\"}}}}]}},\"finish_reason\":\"tool_calls\"}}]}}\n\n\
             data: {{{HEAD},\"choices\":[],\"usage\":{{\"prompt_tokens\":4,\"completion_tokens\":6,\"total_tokens\":10}}}}\n\n\
             data: [DONE]\n\n"
        );
        let ev = tell(&chat);
        let seqs: Vec<u64> = ev
            .iter()
            .map(|e| e["sequence_number"].as_u64().unwrap())
            .collect();
        assert_eq!(seqs, (0..ev.len() as u64).collect::<Vec<_>>());
        assert_eq!(ev[0]["type"], "response.created");
        assert_eq!(ev[0]["response"]["status"], "in_progress");
        let last = ev.last().unwrap();
        assert_eq!(last["type"], "response.completed");
        let output = last["response"]["output"].as_array().unwrap();
        let kinds: Vec<&str> = output.iter().map(|i| i["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["reasoning", "message", "function_call"]);
        assert_eq!(output[1]["content"][0]["text"], "Hi");
        assert_eq!(output[2]["arguments"], "{}");
        assert_eq!(last["response"]["usage"]["total_tokens"], 10);
        let deltas: Vec<&str> = ev
            .iter()
            .filter(|e| e["type"] == "response.output_text.delta")
            .map(|e| e["delta"].as_str().unwrap())
            .collect();
        assert_eq!(deltas, ["Hi"]);
    }

    #[test]
    fn a_cut_answer_is_incomplete_and_a_broken_one_failed() {
        let cut = format!(
            "data: {{{HEAD},\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"Hi\"}},\"finish_reason\":\"length\"}}]}}\n\ndata: [DONE]\n\n"
        );
        let ev = tell(&cut);
        assert_eq!(ev.last().unwrap()["type"], "response.incomplete");
        assert_eq!(
            ev.last().unwrap()["response"]["incomplete_details"]["reason"],
            "max_output_tokens"
        );
        let broken = format!(
            "data: {{{HEAD},\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"Hi\"}}}}]}}\n\n"
        );
        let ev = tell(&broken);
        let n = ev.len();
        assert_eq!(ev[n - 2]["type"], "error");
        assert_eq!(ev[n - 1]["type"], "response.failed");
    }

    #[test]
    fn an_answer_that_never_stops_fails_instead_of_growing_without_bound() {
        let req: ResponsesRequest =
            serde_json::from_value(json!({"model": "m", "input": "hi"})).unwrap();
        let mut w = ResponseEvents::new(Echo::of(&req), 1);
        let piece = "x".repeat(1024 * 1024);
        let chunk = SseEvent::Data {
            event: None,
            data: format!(
                "{{{HEAD},\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{piece}\"}}}}]}}"
            ),
        };
        let mut out = Vec::new();
        for _ in 0..40 {
            out.clear();
            w.item(&chunk, &mut out);
            if w.ended() {
                break;
            }
        }
        assert!(w.ended(), "still reading after 40 MiB");
        assert!(w.kept <= MAX_KEPT + piece.len());
        assert!(String::from_utf8_lossy(&out).contains("response.failed"));
    }

    #[test]
    fn items_taking_turns_a_byte_at_a_time_are_bounded_too() {
        let req: ResponsesRequest =
            serde_json::from_value(json!({"model": "m", "input": "hi"})).unwrap();
        let mut w = ResponseEvents::new(Echo::of(&req), 1);
        let mut out = Vec::new();
        for i in 0..(MAX_ITEMS + 10) {
            let field = if i % 2 == 0 {
                "content"
            } else {
                "reasoning_content"
            };
            let data =
                format!("{{{HEAD},\"choices\":[{{\"index\":0,\"delta\":{{\"{field}\":\"x\"}}}}]}}");
            out.clear();
            w.item(&SseEvent::Data { event: None, data }, &mut out);
        }
        assert!(w.ended());
        assert!(w.output.len() <= MAX_ITEMS);
    }
}
