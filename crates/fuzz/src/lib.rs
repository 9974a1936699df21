//! Fuzz harnesses: one `pub fn <target>(data: &[u8])` per cargo-fuzz target.
//!
//! This is the only place the harness logic lives. The cargo-fuzz crate at `fuzz/`
//! (nightly, libFuzzer) calls these functions from thin `fuzz_targets/<target>.rs`, and
//! `tests/corpus.rs` replays every committed corpus and regression input through them on
//! stable, so CI guards what the fuzzer found without nightly or cargo-fuzz.
//!
//! Each function takes a whole path that untrusted bytes reach in the gateway:
//! - [`request_prepare`]: a client's request body through every dialect's `prepare`;
//! - [`sse_stream`]: an upstream stream through the SSE parser, the normaliser, the
//!   aggregator and the replay, and an upstream non-streaming body through
//!   `normalize_completion`;
//! - [`parse_error`]: an upstream error body through every dialect's `parse_error`;
//! - [`config_parse`]: a config file through `Config::parse`;
//! - [`other_apis`]: a body as a Messages, Responses and embeddings request (parsed,
//!   checked, translated), and as a stream through the Messages and Responses event
//!   writers and the reader of a vendor's Anthropic-compatible stream.
//!
//! A harness returns quietly on input the code refuses (an `Err`); it fails (a panic, from
//! the code under test or from an `assert!` here on a property the code promises) only
//! on a bug.

use serde_json::Value;
use switchyard_wire::dialect::{ALL_DIALECTS, normalize_completion};
use switchyard_wire::replay::completion_to_chunks;
use switchyard_wire::sse::MAX_EVENT_BYTES;
use switchyard_wire::{
    ChatChunk, ChatCompletion, ChatRequest, SseEvent, SseParser, StreamAggregator,
    StreamNormalizer, UpstreamError, tokens,
};

/// The upstream model every request is prepared for, besides the client's own name.
pub const FIXED_MODEL: &str = "some-model";

/// Names of the targets, as in `fuzz/fuzz_targets/` and `fuzz/corpus/`.
pub const TARGETS: [&str; 5] = [
    "request_prepare",
    "sse_stream",
    "parse_error",
    "config_parse",
    "other_apis",
];

/// Run the harness of `target` on `data`; `false` for an unknown target name.
pub fn run(target: &str, data: &[u8]) -> bool {
    match target {
        "request_prepare" => request_prepare(data),
        "sse_stream" => sse_stream(data),
        "parse_error" => parse_error(data),
        "config_parse" => config_parse(data),
        "other_apis" => other_apis(data),
        _ => return false,
    }
    true
}

/// A request body (JSON) as the gateway reads it, then prepared for every dialect, both for
/// [`FIXED_MODEL`] and for the model name the client wrote (so names such as `kimi-k2.5` or
/// `qwen3-32b` in the input reach the model-specific rewrites), and serialised back: what
/// goes upstream must be JSON that reads back as a request.
pub fn request_prepare(data: &[u8]) {
    let Ok(req) = serde_json::from_slice::<ChatRequest>(data) else {
        return;
    };
    // What the gateway reads before it dispatches.
    let _ = (
        req.is_stream(),
        req.wants_stream_usage(),
        req.completion_cap(),
        req.has_images(),
        req.has_audio(),
        req.json_output(),
        req.has_tools(),
        req.thinking_disabled(),
        tokens::estimate_prompt(&req),
    );
    if let Some(format) = &req.response_format {
        let _ = (format.problem(), format.schema());
    }
    let client_model = req.model.clone();
    for dialect in ALL_DIALECTS {
        for model in [FIXED_MODEL, client_model.as_str()] {
            let mut prepared = req.clone();
            let adjustments = dialect.prepare(&mut prepared, model);
            let _ = dialect.requires_stream(model, prepared.thinking_disabled());
            assert_eq!(prepared.model, model, "{dialect}: upstream model not set");
            for a in &adjustments {
                assert!(!a.note.is_empty(), "{dialect}: adjustment without a note");
            }
            let body = serde_json::to_vec(&prepared);
            assert!(
                body.is_ok(),
                "{dialect}: prepared request does not serialise"
            );
            let back = body.as_deref().map(serde_json::from_slice::<ChatRequest>);
            assert!(
                matches!(back, Ok(Ok(_))),
                "{dialect}: prepared request does not read back: {back:?}"
            );
        }
    }
}

/// Upstream stream bytes, laid out as `[flags, seed, body…]`:
/// - `flags & 3` picks the parser's limit (the default, 16, 256 or 4096 bytes), so
///   the too-long paths are reached with small inputs; `flags >> 2` + 1 is the largest
///   read;
/// - `seed` drives the read sizes the body is cut into.
///
/// The body is read twice, cut and whole: when neither read is refused, both give the
/// same events (the parser's promise). Every data event then goes where the gateway
/// sends it: `[DONE]` ends the stream, an error event or chunk goes to every dialect's
/// `parse_error`, a chunk goes through [`StreamNormalizer::apply`] (and out, serialised,
/// as the relay sends it) and, as read, into a [`StreamAggregator`], whose completion is
/// serialised and replayed as a stream. The body is also read as a non-streaming
/// [`ChatCompletion`] through `normalize_completion`.
pub fn sse_stream(data: &[u8]) {
    let [flags, seed, body @ ..] = data else {
        return;
    };
    let limit = match flags & 3 {
        0 => MAX_EVENT_BYTES,
        1 => 16,
        2 => 256,
        _ => 4096,
    };
    let largest_read = usize::from(flags >> 2) + 1;
    let cut = read_sse(body, limit, ReadSizes::new(*seed, largest_read));
    let whole = read_sse(body, limit, std::iter::once(body.len().max(1)));
    if cut.refused.is_none() && whole.refused.is_none() {
        assert_eq!(
            cut.events, whole.events,
            "the events depend on how the bytes were cut"
        );
    }
    relay_events(&cut.events);
    completion(body);
}

/// An upstream error response laid out as `[status_hi, status_lo, body…]`, classified by
/// every dialect (with and without a request-id header), then turned into the client's
/// OpenAI-shaped error body.
pub fn parse_error(data: &[u8]) {
    let [hi, lo, body @ ..] = data else {
        return;
    };
    let status = u16::from_be_bytes([*hi, *lo]);
    for (i, dialect) in ALL_DIALECTS.into_iter().enumerate() {
        let header = (i % 2 == 1).then_some("req-from-header");
        let err = dialect.parse_error(status, body, header);
        client_error(dialect.as_str(), &err);
    }
}

/// A config file (UTF-8; other bytes are skipped) through `Config::parse`, which must
/// answer every text with a config or an error, never a panic.
pub fn config_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match switchyard_gateway::Config::parse(text, "fuzz") {
        Ok(config) => {
            let _ = format!("{config:?}");
        }
        Err(e) => {
            assert!(
                !e.to_string().is_empty(),
                "a config error without a message"
            );
        }
    }
}

/// Read sizes from a seed: a small linear congruential sequence in `1..=largest`.
struct ReadSizes {
    state: u32,
    largest: usize,
}

impl ReadSizes {
    fn new(seed: u8, largest: usize) -> Self {
        ReadSizes {
            state: u32::from(seed),
            largest: largest.max(1),
        }
    }
}

impl Iterator for ReadSizes {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        self.state = self.state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let r = usize::try_from(self.state >> 16).unwrap_or(0);
        Some(r % self.largest + 1)
    }
}

/// What a parser made of a body: its events, and the error that stopped it, if any.
struct SseRead {
    events: Vec<SseEvent>,
    refused: Option<switchyard_wire::SseError>,
}

/// Feed `body` to a parser limited to `limit` bytes in reads of `sizes`, pulling events
/// after every read as the relay does, then `finish`.
fn read_sse(body: &[u8], limit: usize, mut sizes: impl Iterator<Item = usize>) -> SseRead {
    let mut parser = SseParser::with_limit(limit);
    let mut events = Vec::new();
    let mut rest = body;
    let stop = |events, e| SseRead {
        events,
        refused: Some(e),
    };
    while !rest.is_empty() {
        let n = sizes.next().unwrap_or(1).clamp(1, rest.len());
        let (read, tail) = rest.split_at(n);
        rest = tail;
        if let Err(e) = parser.push(read) {
            return stop(events, e);
        }
        loop {
            match parser.next_event() {
                Ok(Some(ev)) => events.push(ev),
                Ok(None) => break,
                Err(e) => return stop(events, e),
            }
        }
    }
    match parser.finish() {
        Ok(last) => events.extend(last),
        Err(e) => return stop(events, e),
    }
    SseRead {
        events,
        refused: None,
    }
}

/// The events of one stream through what the relay and the aggregating path do with them.
fn relay_events(events: &[SseEvent]) {
    let mut norm = StreamNormalizer::new();
    let mut agg = Some(StreamAggregator::new());
    for ev in events {
        let SseEvent::Data { data, event } = ev else {
            continue;
        };
        if data.trim() == "[DONE]" {
            break;
        }
        if event.as_deref() == Some("error") {
            upstream_error_event(data);
            break;
        }
        let Ok(chunk) = serde_json::from_str::<ChatChunk>(data) else {
            continue;
        };
        if chunk.choices.is_empty() && chunk.extra.contains_key("error") {
            upstream_error_event(data);
            break;
        }
        // The aggregating path folds the chunk as the vendor sent it (it normalises on its
        // own); an aggregator that refused a chunk is abandoned, as the gateway does.
        if let Some(a) = agg.as_mut()
            && a.push(chunk.clone()).is_err()
        {
            agg = None;
        }
        let mut chunk = chunk;
        match norm.apply(&mut chunk) {
            Ok(true) => {
                relayed(&chunk);
            }
            Ok(false) => {}
            Err(e) => {
                client_error("fuzz", &e);
                break;
            }
        }
    }
    let _ = (norm.finished(), norm.usage().map(|u| u.total()));
    if let Some(agg) = agg {
        let _ = (agg.finished(), agg.usage().map(|u| u.total()));
        let mut assembled = agg.finish();
        let _ = normalize_completion(&mut assembled);
        replayed(&assembled);
    }
}

/// A chunk the relay sends on: counted by the token estimator and serialised.
fn relayed(chunk: &ChatChunk) {
    for choice in &chunk.choices {
        let d = &choice.delta;
        let _ = d.has_output();
        let mut estimate = d.content.as_deref().map_or(0, tokens::estimate);
        estimate =
            estimate.saturating_add(d.reasoning_content.as_deref().map_or(0, tokens::estimate));
        for call in d.tool_calls.iter().flatten() {
            if let Some(f) = &call.function {
                estimate =
                    estimate.saturating_add(f.arguments.as_deref().map_or(0, tokens::estimate));
            }
        }
        let _ = estimate;
    }
    let out = serde_json::to_vec(chunk);
    assert!(out.is_ok(), "a normalised chunk does not serialise");
}

/// A whole completion as the gateway sends it: serialised, and replayed as a stream whose
/// chunks fold back into a completion.
fn replayed(completion: &ChatCompletion) {
    let out = serde_json::to_vec(completion);
    assert!(out.is_ok(), "a completion does not serialise");
    let mut again = StreamAggregator::new();
    for chunk in completion_to_chunks(completion, true) {
        relayed(&chunk);
        if again.push(chunk).is_err() {
            return;
        }
    }
    let _ = again.finish();
}

/// An upstream non-streaming body.
fn completion(body: &[u8]) {
    let Ok(mut resp) = serde_json::from_slice::<ChatCompletion>(body) else {
        return;
    };
    let usage = normalize_completion(&mut resp);
    let _ = usage.map(|u| (u.total(), u.to_wire()));
    replayed(&resp);
}

/// An error event or chunk in a stream, classified by every dialect.
fn upstream_error_event(data: &str) {
    for dialect in ALL_DIALECTS {
        let err = dialect.parse_error(500, data.as_bytes(), None);
        client_error(dialect.as_str(), &err);
    }
}

/// The error body a client gets for `err`.
fn client_error(provider: &str, err: &UpstreamError) {
    let _ = (
        err.kind.retryable(),
        err.kind.status(),
        err.kind.openai_type(),
    );
    let body = err.to_api_error(provider).into_body();
    let json = serde_json::to_value(&body);
    assert!(
        matches!(&json, Ok(Value::Object(_))),
        "an error body does not serialise: {json:?}"
    );
}

/// A body as each other API the gateway takes: read as a Messages, a Responses and an
/// embeddings request (checked and translated; what a translation gives must serialise
/// as a chat request that reads back), then as an SSE stream re-told by the Messages and
/// Responses event writers and read by the reader of a vendor's Anthropic-compatible
/// stream, and as a vendor's whole `message`. Each writer's output must itself parse as
/// SSE.
pub fn other_apis(data: &[u8]) {
    use switchyard_wire::anthropic::upstream::{ChunkReader, completion_from_message};
    use switchyard_wire::anthropic::{EventWriter, MessagesRequest};
    use switchyard_wire::embeddings::EmbeddingsRequest;
    use switchyard_wire::responses::{Echo, ResponseEvents, ResponsesRequest};
    use switchyard_wire::retell::Retell;

    let round_trip = |req: &ChatRequest| {
        let bytes = serde_json::to_vec(req);
        assert!(bytes.is_ok(), "a translated request does not serialise");
        assert!(
            bytes.is_ok_and(|b| serde_json::from_slice::<ChatRequest>(&b).is_ok()),
            "a translated request does not read back"
        );
    };
    if let Ok(m) = serde_json::from_slice::<MessagesRequest>(data) {
        let _ = m.validate(true);
        if let Ok(c) = m.to_chat() {
            round_trip(&c);
        }
    }
    let echo = match serde_json::from_slice::<ResponsesRequest>(data) {
        Ok(r) => {
            let _ = r.validate();
            if let Ok(c) = r.to_chat() {
                round_trip(&c);
            }
            Echo::of(&r)
        }
        Err(_) => Echo::default(),
    };
    if let Ok(e) = serde_json::from_slice::<EmbeddingsRequest>(data) {
        let _ = e.texts();
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = completion_from_message(text);
    }
    let mut parser = SseParser::with_limit(4096);
    if parser.push(data).is_err() {
        return;
    }
    let mut events = Vec::new();
    while let Ok(Some(ev)) = parser.next_event() {
        events.push(ev);
    }
    let (mut messages, mut responses, mut reader) = (
        EventWriter::new(),
        ResponseEvents::new(echo, 0),
        ChunkReader::new(),
    );
    let (mut m_out, mut r_out, mut c_out) = (Vec::new(), Vec::new(), Vec::new());
    for ev in &events {
        messages.item(ev, &mut m_out);
        responses.item(ev, &mut r_out);
        reader.event(ev, &mut c_out);
    }
    messages.end_of_stream(&mut m_out);
    responses.end_of_stream(&mut r_out);
    for out in [m_out, r_out, c_out] {
        let mut back = SseParser::new();
        assert!(back.push(&out).is_ok(), "a re-told stream is not SSE");
        while let Ok(Some(_)) = back.next_event() {}
    }
}
