//! Turns a completion plan into bytes: the SSE events of a stream, one at a time, or the
//! JSON body of a non-streaming answer, in the shape of the vendor's dialect.
//!
//! Stream chunks are written straight into a reusable buffer from a pre-rendered prefix
//! (id, created, model, fingerprint), so a token costs a few `memcpy`s and no allocation.

use bytes::{BufMut, BytesMut};
use rand::rngs::SmallRng;
use serde::Serialize;
use switchyard_wire::{TokenUsage, Usage};

use crate::generate::{self, ChoicePlan, Output};
use crate::vendor::{Fingerprint, ReasoningOut, Shape, StreamUsage, UsageNull, Vendor};

/// Identity of one response.
#[derive(Debug, Clone)]
pub(crate) struct Meta {
    /// Response id.
    pub id: String,
    /// Request id (GLM repeats it in bodies).
    pub request_id: String,
    /// Unix seconds.
    pub created: u64,
    /// `model` as reported.
    pub model: String,
    /// `system_fingerprint` value for dialects that send one.
    pub fingerprint: String,
}

/// What [`Events::write_next`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Emitted {
    /// A model-output event (reasoning token, content token, tool-call piece).
    Token,
    /// Any other event (role, finish, usage, `[DONE]`).
    Other,
    /// Nothing: the stream is complete.
    End,
}

/// One item of a choice's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    Role,
    /// A thinking token; the choice's first and last are marked (for `<think>` tags).
    Reasoning {
        first: bool,
        last: bool,
    },
    Content,
    /// Piece `i` of a literal answer.
    Literal(usize),
    ToolStart,
    ToolArgs(usize),
    Finish,
}

/// Position in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cursor {
    /// Item `step` of choice `choice`.
    Step { step: u32, choice: usize },
    /// The trailing usage chunk.
    Trailer,
    /// `data: [DONE]`.
    Done,
    /// Nothing left.
    End,
}

/// The events of one streamed response, produced on demand.
#[derive(Debug)]
pub(crate) struct Events {
    shape: &'static Shape,
    meta: Meta,
    choices: Vec<ChoicePlan>,
    /// Items per choice.
    lens: Vec<u32>,
    /// Longest choice.
    max_len: u32,
    /// The choice whose finish chunk is the last one (carries usage for Kimi and GLM).
    last_finisher: usize,
    /// The usage object, as the vendor spells it.
    usage: Usage,
    include_usage: bool,
    /// `data: {"id":…,"choices":[`
    head: Vec<u8>,
    /// `]}` plus `"usage":null` where the dialect wants it, and the event terminator.
    tail: Vec<u8>,
    /// The usage object, rendered once.
    usage_json: Vec<u8>,
    rng: SmallRng,
    cursor: Cursor,
    /// Where the thinking goes, the request's `reasoning_split` applied.
    reasoning: ReasoningOut,
}

const DONE: &[u8] = b"data: [DONE]\n\n";
/// How MiniMax opens and closes thinking written inside the content.
const THINK_OPEN: &str = "<think>";
const THINK_CLOSE: &str = "</think>\n\n";

fn push_json_str(buf: &mut BytesMut, s: &str) {
    // Serialising a &str into a buffer cannot fail.
    let _ = serde_json::to_writer(buf.writer(), s);
}

fn push_u64(buf: &mut BytesMut, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[i..]);
}

impl Events {
    /// Prepare the stream of `choices`; `rng` draws the words.
    pub(crate) fn new(
        vendor: &'static dyn Vendor,
        meta: Meta,
        choices: Vec<ChoicePlan>,
        usage: TokenUsage,
        include_usage: bool,
        rng: SmallRng,
    ) -> Events {
        let shape = vendor.shape();
        let lens: Vec<u32> = choices.iter().map(ChoicePlan::items).collect();
        let max_len = lens.iter().copied().max().unwrap_or(0);
        // Choices advance one item per step in index order, so the last finish event is
        // that of the longest choice, the highest index among equals.
        let last_finisher = lens
            .iter()
            .enumerate()
            .max_by_key(|&(i, &l)| (l, i))
            .map_or(0, |(i, _)| i);

        let mut h = BytesMut::with_capacity(192);
        h.extend_from_slice(b"data: {\"id\":");
        push_json_str(&mut h, &meta.id);
        if shape.chunk_object {
            h.extend_from_slice(b",\"object\":\"chat.completion.chunk\"");
        }
        h.extend_from_slice(b",\"created\":");
        push_u64(&mut h, meta.created);
        h.extend_from_slice(b",\"model\":");
        push_json_str(&mut h, &meta.model);
        match shape.fingerprint {
            Fingerprint::Absent => {}
            Fingerprint::Null => h.extend_from_slice(b",\"system_fingerprint\":null"),
            Fingerprint::Value => {
                h.extend_from_slice(b",\"system_fingerprint\":");
                push_json_str(&mut h, &meta.fingerprint);
            }
        }
        h.extend_from_slice(b",\"choices\":[");

        let usage_null = match shape.usage_null {
            UsageNull::Never => false,
            UsageNull::Always => true,
            UsageNull::WhenRequested => include_usage,
        };
        let tail: &[u8] = if usage_null {
            b"],\"usage\":null}\n\n"
        } else {
            b"]}\n\n"
        };
        let usage = vendor.usage(&usage);
        let usage_json = serde_json::to_vec(&usage).unwrap_or_default();
        let cursor = if choices.is_empty() {
            Cursor::Done
        } else {
            Cursor::Step { step: 0, choice: 0 }
        };
        Events {
            shape,
            meta,
            choices,
            lens,
            max_len,
            last_finisher,
            usage,
            include_usage,
            head: h.to_vec(),
            tail: tail.to_vec(),
            usage_json,
            rng,
            cursor,
            reasoning: shape.reasoning,
        }
    }

    /// The request asked for the thinking apart (`reasoning_split`): a vendor that
    /// otherwise writes it inside the content gives it in `reasoning_content`.
    pub(crate) fn reasoning_split(mut self, split: bool) -> Self {
        if split && self.reasoning == ReasoningOut::InlineUnlessSplit {
            self.reasoning = ReasoningOut::Content;
        }
        self
    }

    /// Token steps of the longest choice (everything but its role and finish events):
    /// how long decoding takes, in per-token intervals.
    pub(crate) fn decode_steps(&self) -> u32 {
        self.max_len.saturating_sub(2)
    }

    /// Model-output events over all choices (what `drop_after` counts).
    pub(crate) fn token_events(&self) -> u32 {
        self.lens.iter().map(|l| l.saturating_sub(2)).sum()
    }

    /// Step of the next event (0 = role chunk); `None` once the choices are done.
    pub(crate) fn step(&self) -> Option<u32> {
        match self.cursor {
            Cursor::Step { step, .. } => Some(step),
            _ => None,
        }
    }

    /// Whether the next event is model output (counts for `drop_after`/`stall_after`).
    pub(crate) fn next_is_token(&self) -> bool {
        match self.cursor {
            Cursor::Step { step, choice } => matches!(
                self.item(choice, step),
                Item::Reasoning { .. }
                    | Item::Content
                    | Item::Literal(_)
                    | Item::ToolStart
                    | Item::ToolArgs(_)
            ),
            _ => false,
        }
    }

    fn item(&self, choice: usize, step: u32) -> Item {
        let plan = &self.choices[choice];
        let len = self.lens[choice];
        if step == 0 {
            Item::Role
        } else if step + 1 >= len {
            Item::Finish
        } else if step <= plan.reasoning {
            Item::Reasoning {
                first: step == 1,
                last: step == plan.reasoning,
            }
        } else {
            match &plan.output {
                Output::Text(_) => Item::Content,
                Output::Literal(..) => Item::Literal((step - plan.reasoning - 1) as usize),
                Output::Tool(_) if step == plan.reasoning + 1 => Item::ToolStart,
                Output::Tool(_) => Item::ToolArgs((step - plan.reasoning - 2) as usize),
            }
        }
    }

    fn advance(&mut self) {
        self.cursor = match self.cursor {
            Cursor::Step { step, choice } => {
                let next_in_step = (choice + 1..self.choices.len()).find(|&c| step < self.lens[c]);
                match next_in_step {
                    Some(c) => Cursor::Step { step, choice: c },
                    None => {
                        let step = step + 1;
                        match (0..self.choices.len()).find(|&c| step < self.lens[c]) {
                            Some(c) => Cursor::Step { step, choice: c },
                            None if self.trailing_usage() => Cursor::Trailer,
                            None => Cursor::Done,
                        }
                    }
                }
            }
            Cursor::Trailer => Cursor::Done,
            Cursor::Done | Cursor::End => Cursor::End,
        };
    }

    fn trailing_usage(&self) -> bool {
        self.shape.stream_usage == StreamUsage::TrailingIfRequested && self.include_usage
    }

    /// Write the next event into `buf`.
    pub(crate) fn write_next(&mut self, buf: &mut BytesMut) -> Emitted {
        let emitted = match self.cursor {
            Cursor::Step { step, choice } => {
                let item = self.item(choice, step);
                self.write_choice_chunk(buf, choice, item);
                match item {
                    Item::Role | Item::Finish => Emitted::Other,
                    _ => Emitted::Token,
                }
            }
            Cursor::Trailer => {
                buf.extend_from_slice(&self.head);
                buf.extend_from_slice(b"],\"usage\":");
                buf.extend_from_slice(&self.usage_json);
                buf.extend_from_slice(b"}\n\n");
                Emitted::Other
            }
            Cursor::Done => {
                buf.extend_from_slice(DONE);
                Emitted::Other
            }
            Cursor::End => return Emitted::End,
        };
        self.advance();
        emitted
    }

    fn write_choice_chunk(&mut self, buf: &mut BytesMut, choice: usize, item: Item) {
        let shape = self.shape;
        buf.extend_from_slice(&self.head);
        buf.extend_from_slice(b"{\"index\":");
        push_u64(buf, choice as u64);
        buf.extend_from_slice(b",\"delta\":{");
        if shape.repeat_role && item != Item::Role {
            buf.extend_from_slice(b"\"role\":\"assistant\",");
        }
        match item {
            Item::Role => buf.extend_from_slice(b"\"role\":\"assistant\",\"content\":\"\""),
            Item::Reasoning { first, last } => self.write_reasoning(buf, first, last),
            Item::Content => {
                buf.extend_from_slice(b"\"content\":\"");
                buf.extend_from_slice(generate::word(&mut self.rng).as_bytes());
                buf.extend_from_slice(b"\"");
            }
            Item::Literal(i) => {
                if let Output::Literal(text, _) = &self.choices[choice].output {
                    buf.extend_from_slice(b"\"content\":");
                    push_json_str(buf, text.piece(i));
                }
            }
            Item::ToolStart | Item::ToolArgs(_) => {
                if let Output::Tool(call) = &self.choices[choice].output {
                    buf.extend_from_slice(b"\"tool_calls\":[{");
                    if shape.tool_index {
                        buf.extend_from_slice(b"\"index\":0,");
                    }
                    if let Item::ToolArgs(i) = item {
                        buf.extend_from_slice(b"\"function\":{\"arguments\":");
                        push_json_str(buf, call.arguments.piece(i));
                    } else {
                        buf.extend_from_slice(b"\"id\":");
                        push_json_str(buf, &call.id);
                        buf.extend_from_slice(b",\"type\":\"function\",\"function\":{\"name\":");
                        push_json_str(buf, &call.name);
                        buf.extend_from_slice(b",\"arguments\":\"\"");
                    }
                    buf.extend_from_slice(b"}}]");
                }
            }
            Item::Finish => {
                if shape.repeat_role {
                    buf.extend_from_slice(b"\"content\":\"\"");
                }
            }
        }
        buf.extend_from_slice(b"}");
        if shape.logprobs {
            buf.extend_from_slice(b",\"logprobs\":null");
        }
        let usage_here = item == Item::Finish && choice == self.last_finisher;
        if item == Item::Finish {
            buf.extend_from_slice(b",\"finish_reason\":\"");
            buf.extend_from_slice(self.choices[choice].finish_reason.as_bytes());
            buf.extend_from_slice(b"\"");
            if usage_here && shape.stream_usage == StreamUsage::InFinishChoice {
                buf.extend_from_slice(b",\"usage\":");
                buf.extend_from_slice(&self.usage_json);
            }
        } else if shape.finish_null {
            buf.extend_from_slice(b",\"finish_reason\":null");
        }
        buf.extend_from_slice(b"}");
        if usage_here && shape.stream_usage == StreamUsage::OnFinishChunk {
            buf.extend_from_slice(b"],\"usage\":");
            buf.extend_from_slice(&self.usage_json);
            buf.extend_from_slice(b"}\n\n");
        } else {
            buf.extend_from_slice(&self.tail);
        }
    }

    /// One thinking token, where the vendor puts it.
    fn write_reasoning(&mut self, buf: &mut BytesMut, first: bool, last: bool) {
        let word = generate::word(&mut self.rng);
        match self.reasoning {
            ReasoningOut::Content | ReasoningOut::Named => {
                if self.shape.reasoning_content_null {
                    buf.extend_from_slice(b"\"content\":null,");
                }
                buf.extend_from_slice(if self.reasoning == ReasoningOut::Named {
                    b"\"reasoning\":\""
                } else {
                    b"\"reasoning_content\":\""
                });
                buf.extend_from_slice(word.as_bytes());
            }
            ReasoningOut::InlineUnlessSplit => {
                buf.extend_from_slice(b"\"content\":\"");
                if first {
                    buf.extend_from_slice(THINK_OPEN.as_bytes());
                }
                buf.extend_from_slice(word.as_bytes());
                if last {
                    buf.extend_from_slice(br"</think>\n\n");
                }
            }
        }
        buf.extend_from_slice(b"\"");
    }

    /// Write the whole non-streaming `chat.completion` body into `buf`.
    pub(crate) fn write_completion(&mut self, buf: &mut BytesMut) {
        let shape = self.shape;
        let mut choices = Vec::with_capacity(self.choices.len());
        for (index, plan) in self.choices.iter().enumerate() {
            let reasoning = (plan.reasoning > 0).then(|| {
                let mut s = String::new();
                generate::push_words(&mut s, plan.reasoning, &mut self.rng);
                s
            });
            let (content, tool_calls) = match &plan.output {
                Output::Text(n) => {
                    let mut s = String::new();
                    generate::push_words(&mut s, *n, &mut self.rng);
                    (Some(s), None)
                }
                Output::Literal(text, _) => (Some(text.text.clone()), None),
                Output::Tool(call) => (
                    // An empty string at some vendors (DeepSeek), null at the others.
                    shape.tool_call_empty_content.then(String::new),
                    Some(vec![ToolCallOut {
                        id: &call.id,
                        kind: "function",
                        function: FunctionOut {
                            name: &call.name,
                            arguments: &call.arguments.text,
                        },
                    }]),
                ),
            };
            let (content, reasoning_content, reasoning) = match self.reasoning {
                ReasoningOut::Content => (content, reasoning, None),
                ReasoningOut::Named => (content, None, reasoning),
                ReasoningOut::InlineUnlessSplit => match reasoning {
                    Some(r) => {
                        let answer = content.unwrap_or_default();
                        (
                            Some(format!("{THINK_OPEN}{r}{THINK_CLOSE}{answer}")),
                            None,
                            None,
                        )
                    }
                    None => (content, None, None),
                },
            };
            choices.push(ChoiceOut {
                index: index as u32,
                message: MessageOut {
                    role: "assistant",
                    content,
                    reasoning_content,
                    reasoning,
                    tool_calls,
                },
                logprobs: shape.logprobs.then_some(()),
                finish_reason: plan.finish_reason,
            });
        }
        let fingerprint = match shape.fingerprint {
            Fingerprint::Absent => None,
            Fingerprint::Null => Some(None),
            Fingerprint::Value => Some(Some(self.meta.fingerprint.as_str())),
        };
        let body = CompletionOut {
            id: &self.meta.id,
            object: "chat.completion",
            created: self.meta.created,
            model: &self.meta.model,
            choices,
            usage: self.usage.clone(),
            system_fingerprint: fingerprint,
            request_id: shape
                .body_request_id
                .then_some(self.meta.request_id.as_str()),
        };
        let _ = serde_json::to_writer(buf.writer(), &body);
        self.cursor = Cursor::End;
    }
}

#[derive(Serialize)]
struct CompletionOut<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: Vec<ChoiceOut<'a>>,
    usage: switchyard_wire::Usage,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_fingerprint: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
}

#[derive(Serialize)]
struct ChoiceOut<'a> {
    index: u32,
    message: MessageOut<'a>,
    /// `Some(())` serialises as `null`: the field is present but empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct MessageOut<'a> {
    role: &'static str,
    content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<String>,
    /// OpenRouter's spelling of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<Vec<ToolCallOut<'a>>>,
}

#[derive(Serialize)]
struct ToolCallOut<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionOut<'a>,
}

#[derive(Serialize)]
struct FunctionOut<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{Pieces, ToolCallPlan};
    use crate::latency::request_rng;
    use crate::vendor::of;
    use serde_json::Value;
    use switchyard_wire::Dialect;
    use switchyard_wire::{ChatChunk, ChatCompletion, SseEvent, SseParser, tokens};

    fn meta() -> Meta {
        Meta {
            id: "id-1".into(),
            request_id: "rq-1".into(),
            created: 1_700_000_000,
            model: "m\"odel".into(),
            fingerprint: "fp_x".into(),
        }
    }

    fn text_plan(reasoning: u32, content: u32) -> ChoicePlan {
        ChoicePlan {
            reasoning,
            output: Output::Text(content),
            finish_reason: "length",
        }
    }

    fn usage() -> TokenUsage {
        TokenUsage {
            prompt: 10,
            cached_prompt: 0,
            completion: 7,
            reasoning: 2,
        }
    }

    /// All `data:` payloads of a rendered stream, its thinking asked apart (as the
    /// gateway asks MiniMax).
    fn stream(d: Dialect, plans: Vec<ChoicePlan>, include_usage: bool) -> Vec<String> {
        stream_split(d, plans, include_usage, true)
    }

    fn stream_split(
        d: Dialect,
        plans: Vec<ChoicePlan>,
        include_usage: bool,
        split: bool,
    ) -> Vec<String> {
        let mut ev = Events::new(
            of(d),
            meta(),
            plans,
            usage(),
            include_usage,
            request_rng(0, 0),
        )
        .reasoning_split(split);
        let mut buf = BytesMut::new();
        while ev.write_next(&mut buf) != Emitted::End {}
        let mut p = SseParser::new();
        p.push(&buf).unwrap();
        std::iter::from_fn(|| p.next_event().unwrap())
            .map(|e| match e {
                SseEvent::Data { data, .. } => data,
                SseEvent::Comment(c) => panic!("comment {c}"),
            })
            .collect()
    }

    fn chunks(events: &[String]) -> Vec<Value> {
        assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
        events[..events.len() - 1]
            .iter()
            .map(|e| serde_json::from_str(e).unwrap())
            .collect()
    }

    #[test]
    fn every_chunk_parses_as_a_wire_chunk_and_text_counts_match() {
        for d in switchyard_wire::dialect::ALL_DIALECTS {
            let events = stream(d, vec![text_plan(2, 5)], true);
            let mut content = String::new();
            let mut reasoning = String::new();
            for v in chunks(&events) {
                let c: ChatChunk = serde_json::from_value(v).unwrap();
                for ch in &c.choices {
                    content.push_str(ch.delta.content.as_deref().unwrap_or(""));
                    reasoning.push_str(ch.delta.reasoning_content.as_deref().unwrap_or(""));
                    // OpenRouter's spelling.
                    reasoning.push_str(
                        ch.delta
                            .extra
                            .get("reasoning")
                            .and_then(Value::as_str)
                            .unwrap_or(""),
                    );
                }
            }
            assert_eq!(tokens::estimate(&content), 5, "{d}");
            assert_eq!(tokens::estimate(&reasoning), 2, "{d}");
        }
    }

    #[test]
    fn minimax_writes_thinking_inside_the_content_unless_asked_apart() {
        let text = |events: &[String]| -> (String, bool) {
            let mut content = String::new();
            let mut apart = false;
            for v in chunks(events) {
                let c: ChatChunk = serde_json::from_value(v).unwrap();
                for ch in &c.choices {
                    content.push_str(ch.delta.content.as_deref().unwrap_or(""));
                    apart |= ch.delta.reasoning_content.is_some();
                }
            }
            (content, apart)
        };
        let (inline, apart) = text(&stream_split(
            Dialect::MiniMax,
            vec![text_plan(2, 3)],
            false,
            false,
        ));
        assert!(!apart);
        let (thought, answer) = inline
            .strip_prefix(THINK_OPEN)
            .and_then(|s| s.split_once(THINK_CLOSE))
            .unwrap();
        assert_eq!(
            (tokens::estimate(thought), tokens::estimate(answer)),
            (2, 3)
        );
        let (split, apart) = text(&stream(Dialect::MiniMax, vec![text_plan(2, 3)], false));
        assert!(apart && !split.contains("<think>"));
        let mut ev = Events::new(
            of(Dialect::MiniMax),
            meta(),
            vec![text_plan(2, 3)],
            usage(),
            false,
            request_rng(0, 1),
        );
        let mut buf = BytesMut::new();
        ev.write_completion(&mut buf);
        let c: ChatCompletion = serde_json::from_slice(&buf).unwrap();
        assert!(c.choices[0].message.text_content().starts_with("<think>"));
        assert!(c.choices[0].message.reasoning_content.is_none());
    }

    #[test]
    fn kimi_puts_usage_in_the_final_choice_and_omits_tool_index() {
        let call = ToolCallPlan {
            id: "call_1".into(),
            name: "f".into(),
            arguments: Pieces {
                text: "{\"a\":\"sim\"}".into(),
                ends: vec![8, 11],
            },
        };
        let plans = vec![ChoicePlan {
            reasoning: 0,
            output: Output::Tool(call),
            finish_reason: "tool_calls",
        }];
        let cs = chunks(&stream(Dialect::Moonshot, plans, false));
        let last = cs.last().unwrap();
        assert_eq!(last["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(last["choices"][0]["usage"]["completion_tokens"], 7);
        assert!(last.get("usage").is_none());
        let tool_deltas: Vec<&Value> = cs
            .iter()
            .filter_map(|c| c["choices"][0]["delta"].get("tool_calls"))
            .collect();
        assert_eq!(tool_deltas.len(), 3);
        assert!(tool_deltas.iter().all(|t| t[0].get("index").is_none()));
        assert_eq!(tool_deltas[0][0]["function"]["name"], "f");
        assert_eq!(tool_deltas[0][0]["function"]["arguments"], "");
        let args: String = tool_deltas[1..]
            .iter()
            .map(|t| t[0]["function"]["arguments"].as_str().unwrap())
            .collect();
        assert_eq!(args, "{\"a\":\"sim\"}");
    }

    #[test]
    fn n_choices_interleave_and_usage_rides_on_the_last_finish() {
        let cs = chunks(&stream(
            Dialect::Zhipu,
            vec![text_plan(0, 3), text_plan(0, 5)],
            false,
        ));
        let finishes: Vec<(u64, bool)> = cs
            .iter()
            .filter(|c| !c["choices"][0]["finish_reason"].is_null())
            .map(|c| {
                (
                    c["choices"][0]["index"].as_u64().unwrap(),
                    c.get("usage").is_some(),
                )
            })
            .collect();
        assert_eq!(finishes, vec![(0, false), (1, true)]);
        assert!(cs.iter().all(|c| c.get("object").is_none()));
        assert!(
            cs.iter()
                .all(|c| c["choices"][0]["delta"]["role"] == "assistant")
        );
    }

    #[test]
    fn dashscope_trailing_usage_chunk_only_when_requested() {
        let with = chunks(&stream(Dialect::DashScope, vec![text_plan(0, 2)], true));
        let last = with.last().unwrap();
        assert_eq!(last["choices"], serde_json::json!([]));
        assert_eq!(last["usage"]["total_tokens"], 17);
        assert!(with[..with.len() - 1].iter().all(|c| c["usage"].is_null()
            && c.get("usage").is_some()
            && c["system_fingerprint"].is_null()));
        let without = chunks(&stream(Dialect::DashScope, vec![text_plan(0, 2)], false));
        assert!(
            without
                .iter()
                .all(|c| c["usage"].is_null() && !c["choices"].as_array().unwrap().is_empty())
        );
    }

    #[test]
    fn completion_body_parses_and_carries_dialect_fields() {
        for d in switchyard_wire::dialect::ALL_DIALECTS {
            let mut ev = Events::new(
                of(d),
                meta(),
                vec![text_plan(3, 4)],
                usage(),
                false,
                request_rng(0, 1),
            )
            .reasoning_split(true);
            let mut buf = BytesMut::new();
            ev.write_completion(&mut buf);
            assert_eq!(ev.write_next(&mut buf), Emitted::End);
            let v: Value = serde_json::from_slice(&buf).unwrap();
            let c: ChatCompletion = serde_json::from_value(v.clone()).unwrap();
            let msg = &c.choices[0].message;
            assert_eq!(tokens::estimate(&msg.text_content()), 4);
            let reasoning = msg
                .reasoning_content
                .as_deref()
                .or_else(|| msg.extra.get("reasoning").and_then(Value::as_str));
            assert_eq!(tokens::estimate(reasoning.unwrap()), 3, "{d}");
            assert_eq!(c.model, "m\"odel");
            assert_eq!(v.get("request_id").is_some(), d == Dialect::Zhipu, "{d}");
            assert_eq!(
                v.get("system_fingerprint").is_some(),
                matches!(
                    d,
                    Dialect::OpenAi | Dialect::DeepSeek | Dialect::DashScope | Dialect::OpenRouter
                )
            );
        }
    }
}
