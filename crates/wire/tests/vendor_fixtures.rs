//! Replays hand-written vendor transcripts (`tests/fixtures/`) through the wire crate.
//!
//! The fixtures follow the shapes the vendors document (see
//! `shared/reference/providers.md`, and `docs/VENDORS.md` for Ark, SiliconFlow, MiniMax
//! and OpenRouter); ids and numbers are invented. What this proves:
//! - **streams**: every `.sse` body reassembles into the same events however the bytes are
//!   cut, keep-alive comments surface as [`SseEvent::Comment`], and [`StreamNormalizer`]
//!   pulls the exact usage out of wherever the vendor put it (finish chunk, trailing
//!   `choices:[]` chunk, `choices[0].usage`), drops usage-only chunks, fills Kimi's missing
//!   tool-call indices and sends GLM's repeated role once — with the text left intact;
//! - **completions**: non-streaming bodies (DeepSeek's queue blank lines included) parse,
//!   and [`normalize_completion`] returns the usage in OpenAI shape;
//! - **errors**: [`Dialect::parse_error`] classifies every documented vendor error body,
//!   keeps the vendor code and request id, and maps it to the right gateway error.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test crate: a failed unwrap is a failed test"
)]

use std::collections::BTreeMap;

use serde_json::{Value, json};
use switchyard_wire::dialect::{ALL_DIALECTS, normalize_completion};
use switchyard_wire::{
    ChatChunk, ChatCompletion, Delta, Dialect, ErrorKind, SseEvent, SseParser, StreamNormalizer,
    TokenUsage,
};

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("fixtures/", $name)).as_slice()
    };
}

macro_rules! fixture_str {
    ($name:literal) => {
        include_str!(concat!("fixtures/", $name))
    };
}

const DEEPSEEK_FINISH_USAGE: &[u8] = fixture!("deepseek_stream_usage_on_finish_chunk.sse");
const DEEPSEEK_TRAILING_USAGE: &[u8] = fixture!("deepseek_stream_trailing_usage_chunk.sse");
const DASHSCOPE_STREAM: &[u8] = fixture!("dashscope_stream_include_usage.sse");
const MOONSHOT_STREAM: &[u8] = fixture!("moonshot_stream_usage_in_choice.sse");
const ZHIPU_STREAM: &[u8] = fixture!("zhipu_stream_usage_on_finish_chunk.sse");
const OPENAI_STREAM: &[u8] = fixture!("openai_stream_tool_calls.sse");
const OPENROUTER_STREAM: &[u8] = fixture!("openrouter_stream_reasoning_usage.sse");
const OPENROUTER_ERROR_STREAM: &[u8] = fixture!("openrouter_stream_error_mid_stream.sse");
const MINIMAX_STREAM: &[u8] = fixture!("minimax_stream_reasoning_details.sse");

const ALL_STREAMS: [(&str, &[u8]); 9] = [
    ("deepseek finish-chunk usage", DEEPSEEK_FINISH_USAGE),
    ("deepseek trailing usage", DEEPSEEK_TRAILING_USAGE),
    ("dashscope", DASHSCOPE_STREAM),
    ("moonshot", MOONSHOT_STREAM),
    ("zhipu", ZHIPU_STREAM),
    ("openai", OPENAI_STREAM),
    ("openrouter", OPENROUTER_STREAM),
    ("openrouter mid-stream error", OPENROUTER_ERROR_STREAM),
    ("minimax", MINIMAX_STREAM),
];

/// Irregular read sizes, cycled, so events and multi-byte characters straddle reads.
const SLICES: [usize; 9] = [7, 1, 13, 2, 31, 5, 64, 3, 17];

fn usage(prompt: u64, cached_prompt: u64, completion: u64, reasoning: u64) -> TokenUsage {
    TokenUsage {
        prompt,
        cached_prompt,
        completion,
        reasoning,
    }
}

// ---------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------

/// Feed `bytes` to a fresh parser in reads of the given sizes; every event, in order.
fn sse_events(bytes: &[u8], mut sizes: impl Iterator<Item = usize>) -> Vec<SseEvent> {
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = sizes.next().unwrap_or(1).clamp(1, rest.len());
        let (read, tail) = rest.split_at(n);
        parser.push(read).unwrap();
        events.extend(std::iter::from_fn(|| parser.next_event().unwrap()));
        rest = tail;
    }
    assert_eq!(parser.pending(), 0, "transcript ends mid-line");
    assert_eq!(parser.finish().unwrap(), None, "transcript ends mid-event");
    events
}

/// What a client-facing relay would see after normalising one recorded stream.
struct Replay {
    /// Comment texts, each with the number of data events seen before it.
    comments: Vec<(usize, String)>,
    /// Chunks `apply` kept, as normalised.
    kept: Vec<ChatChunk>,
    /// Chunks `apply` dropped (nothing left once usage was taken out).
    dropped: usize,
    /// Usage known at the moment the first `finish_reason` went by.
    usage_at_finish: Option<TokenUsage>,
    normalizer: StreamNormalizer,
}

impl Replay {
    fn content(&self) -> String {
        self.deltas().filter_map(|d| d.content.as_deref()).collect()
    }

    fn reasoning(&self) -> String {
        self.deltas()
            .filter_map(|d| d.reasoning_content.as_deref())
            .collect()
    }

    /// Index of every kept chunk whose delta still names a role.
    fn role_positions(&self) -> Vec<usize> {
        self.kept
            .iter()
            .enumerate()
            .filter(|(_, c)| c.choices.iter().any(|ch| ch.delta.role.is_some()))
            .map(|(i, _)| i)
            .collect()
    }

    /// Tool calls reassembled by index: (id, name, concatenated arguments).
    fn tool_calls(&self) -> BTreeMap<u32, (String, String, String)> {
        let mut calls: BTreeMap<u32, (String, String, String)> = BTreeMap::new();
        for call in self.deltas().flat_map(|d| d.tool_calls.iter().flatten()) {
            let index = call.index.expect("every tool-call delta has an index");
            let entry = calls.entry(index).or_default();
            if let Some(id) = &call.id {
                assert!(entry.0.is_empty(), "call {index} got a second id {id}");
                entry.0.clone_from(id);
            }
            if let Some(f) = &call.function {
                entry.1.push_str(f.name.as_deref().unwrap_or(""));
                entry.2.push_str(f.arguments.as_deref().unwrap_or(""));
            }
        }
        calls
    }

    fn finish_reasons(&self) -> Vec<&str> {
        self.kept
            .iter()
            .flat_map(|c| &c.choices)
            .filter_map(|c| c.finish_reason.as_deref())
            .collect()
    }

    fn deltas(&self) -> impl Iterator<Item = &Delta> {
        self.kept.iter().flat_map(|c| &c.choices).map(|c| &c.delta)
    }
}

/// Replay a recorded stream: parse it in irregular reads (checking that the cut does not
/// matter), decode every data event up to `[DONE]` and run it through a normaliser.
fn replay(bytes: &[u8]) -> Replay {
    let events = sse_events(bytes, SLICES.into_iter().cycle());
    assert_eq!(
        events,
        sse_events(bytes, std::iter::once(bytes.len())),
        "reassembly depends on read sizes"
    );

    let mut normalizer = StreamNormalizer::new();
    let mut comments = Vec::new();
    let mut kept = Vec::new();
    let mut dropped = 0;
    let mut usage_at_finish = None;
    let mut data_events = 0;
    let mut done = false;
    for event in events {
        match event {
            SseEvent::Comment(text) => comments.push((data_events, text)),
            SseEvent::Data { event, data } => {
                data_events += 1;
                assert_eq!(event, None, "vendors send unnamed events");
                assert!(!done, "data after [DONE]: {data}");
                if data == "[DONE]" {
                    done = true;
                    continue;
                }
                let mut chunk: ChatChunk = serde_json::from_str(&data)
                    .unwrap_or_else(|e| panic!("chunk does not parse ({e}): {data}"));
                let was_finished = normalizer.finished();
                if normalizer.apply(&mut chunk).unwrap() {
                    assert_no_usage_left(&chunk);
                    kept.push(chunk);
                } else {
                    dropped += 1;
                }
                if normalizer.finished() && !was_finished {
                    usage_at_finish = normalizer.usage();
                }
            }
        }
    }
    assert!(done, "stream has no [DONE]");
    assert!(normalizer.finished(), "no finish_reason seen");
    Replay {
        comments,
        kept,
        dropped,
        usage_at_finish,
        normalizer,
    }
}

/// A kept chunk, as the client would receive it, carries no usage anywhere.
fn assert_no_usage_left(chunk: &ChatChunk) {
    assert!(chunk.usage.is_none(), "usage left on chunk {}", chunk.id);
    let wire = serde_json::to_value(chunk).unwrap();
    assert!(wire.get("usage").is_none(), "{wire}");
    for choice in wire["choices"].as_array().unwrap() {
        assert!(choice.get("usage").is_none(), "{wire}");
    }
}

fn keep_alives(n: usize) -> Vec<(usize, String)> {
    vec![(0, "keep-alive".to_string()); n]
}

#[test]
fn every_stream_fixture_reassembles_identically_however_the_bytes_are_cut() {
    for (name, bytes) in ALL_STREAMS {
        let whole = sse_events(bytes, std::iter::once(bytes.len()));
        assert!(whole.len() > 3, "{name}: too few events");
        for sizes in [vec![1], vec![2], vec![3, 1, 4, 1, 5, 9, 2, 6], vec![97, 1]] {
            let cut = sse_events(bytes, sizes.iter().copied().cycle());
            assert_eq!(cut, whole, "{name} cut as {sizes:?}");
        }
    }
}

#[test]
fn deepseek_usage_on_finish_chunk_is_extracted_and_keep_alives_are_comments() {
    let r = replay(DEEPSEEK_FINISH_USAGE);
    assert_eq!(
        r.comments,
        keep_alives(3),
        "queue keep-alives come first, as comments"
    );
    // Hit/miss fields only: the cached count comes from `prompt_cache_hit_tokens`.
    assert_eq!(r.normalizer.usage(), Some(usage(1042, 1024, 21, 12)));
    assert_eq!(r.usage_at_finish, r.normalizer.usage());
    assert_eq!(
        r.dropped, 0,
        "the finish chunk also carries a delta, so it stays"
    );
    assert_eq!(r.kept.len(), 9);
    assert_eq!(r.finish_reasons(), ["stop"]);
    assert_eq!(r.reasoning(), "The user wants the capital of France.");
    assert_eq!(r.content(), "The capital of France is Paris.");
    assert_eq!(r.role_positions(), [0]);
    assert_eq!(r.kept[0].model, "deepseek-reasoner");
    assert_eq!(
        r.kept[0].extra["system_fingerprint"],
        "fp_a3c81d2e94_prod0820_fp8_kvcache"
    );
}

#[test]
fn deepseek_trailing_usage_chunk_is_dropped_after_extraction() {
    let r = replay(DEEPSEEK_TRAILING_USAGE);
    assert_eq!(r.comments, keep_alives(1));
    assert_eq!(r.normalizer.usage(), Some(usage(2310, 2048, 11, 0)));
    assert_eq!(
        r.usage_at_finish, None,
        "usage only arrives after the finish chunk"
    );
    assert_eq!(r.dropped, 1);
    assert_eq!(r.kept.len(), 5);
    assert_eq!(r.finish_reasons(), ["stop"]);
    assert_eq!(
        r.content(),
        "Paris is the capital and largest city of France."
    );
    assert_eq!(r.reasoning(), "");
}

#[test]
fn qwen_null_usage_chunks_pass_and_trailing_include_usage_chunk_gives_cached_and_reasoning() {
    let r = replay(DASHSCOPE_STREAM);
    assert!(r.comments.is_empty());
    assert_eq!(r.normalizer.usage(), Some(usage(1290, 1152, 48, 39)));
    assert_eq!(
        r.usage_at_finish, None,
        "the finish chunk has usage:null on DashScope"
    );
    assert_eq!(r.dropped, 1);
    assert_eq!(r.kept.len(), 7);
    assert_eq!(r.finish_reasons(), ["stop"]);
    assert_eq!(r.reasoning(), "Simple arithmetic: 17 × 3 is 51.");
    assert_eq!(r.content(), "17 × 3 = 51。");
    for chunk in &r.kept {
        assert!(chunk.id.starts_with("chatcmpl-"), "{}", chunk.id);
        assert_eq!(chunk.extra["system_fingerprint"], Value::Null);
    }
}

#[test]
fn kimi_stream_usage_inside_choice_is_extracted_and_tool_indices_filled() {
    let r = replay(MOONSHOT_STREAM);
    assert_eq!(r.normalizer.usage(), Some(usage(214, 128, 38, 0)));
    assert_eq!(r.usage_at_finish, r.normalizer.usage());
    assert_eq!(
        r.dropped, 0,
        "the usage rides on the finish chunk, which stays"
    );
    assert_eq!(r.kept.len(), 9);
    assert_eq!(r.finish_reasons(), ["tool_calls"]);
    assert_eq!(r.content(), "I'll check both cities.");

    let calls = r.tool_calls();
    assert_eq!(calls.keys().copied().collect::<Vec<_>>(), [0, 1]);
    let expected = [
        (
            "functions.get_weather:0",
            json!({"city": "Beijing", "unit": "celsius"}),
        ),
        (
            "functions.get_weather:1",
            json!({"city": "上海", "unit": "celsius"}),
        ),
    ];
    for (index, (id, args)) in expected.into_iter().enumerate() {
        let (got_id, name, got_args) = &calls[&(index as u32)];
        assert_eq!(got_id, id);
        assert_eq!(name, "get_weather");
        let parsed: Value = serde_json::from_str(got_args)
            .unwrap_or_else(|e| panic!("call {index} arguments are not JSON ({e}): {got_args}"));
        assert_eq!(parsed, args);
    }
}

#[test]
fn glm_crlf_stream_keeps_role_on_first_delta_only_and_usage_from_finish_chunk() {
    assert!(
        ZHIPU_STREAM.windows(4).any(|w| w == b"\r\n\r\n"),
        "fixture lost its CRLF line endings"
    );
    assert!(
        !ZHIPU_STREAM
            .windows(2)
            .enumerate()
            .any(|(i, w)| w[1] == b'\n' && (i == 0 || w[0] != b'\r')),
        "fixture has a bare LF"
    );
    let r = replay(ZHIPU_STREAM);
    assert_eq!(r.normalizer.usage(), Some(usage(1530, 1344, 27, 0)));
    assert_eq!(r.usage_at_finish, r.normalizer.usage());
    assert_eq!(r.dropped, 0);
    assert_eq!(r.kept.len(), 7);
    assert_eq!(
        r.role_positions(),
        [0],
        "GLM repeats the role on every delta"
    );
    assert_eq!(r.finish_reasons(), ["stop"]);
    assert_eq!(r.reasoning(), "用户在打招呼，礼貌回应即可。");
    assert_eq!(r.content(), "你好！我是GLM 助手，有什么可以帮你？");
    for chunk in &r.kept {
        assert_eq!(
            chunk.object, "chat.completion.chunk",
            "missing object is defaulted"
        );
    }
}

#[test]
fn openai_tool_call_indices_are_kept_and_trailing_usage_chunk_is_dropped() {
    let r = replay(OPENAI_STREAM);
    assert_eq!(r.normalizer.usage(), Some(usage(1382, 1280, 51, 0)));
    assert_eq!(r.usage_at_finish, None);
    assert_eq!(r.dropped, 1);
    assert_eq!(r.kept.len(), 6);
    assert_eq!(r.finish_reasons(), ["tool_calls"]);
    assert_eq!(r.content(), "");

    let calls = r.tool_calls();
    let expected = [
        (
            "call_Xk3v9QpL2mT7wR4sN8bY1cZe",
            "get_weather",
            json!({"location": "Paris"}),
        ),
        (
            "call_Bn5hT0wE6yU1iO3pA9sD2fGh",
            "get_time",
            json!({"timezone": "Europe/Paris"}),
        ),
    ];
    assert_eq!(calls.len(), expected.len());
    for (index, (id, name, args)) in expected.into_iter().enumerate() {
        let (got_id, got_name, got_args) = &calls[&(index as u32)];
        assert_eq!((got_id.as_str(), got_name.as_str()), (id, name));
        assert_eq!(serde_json::from_str::<Value>(got_args).unwrap(), args);
    }
    // Fields we do not model pass through untouched.
    assert!(r.kept.iter().all(|c| c.extra.contains_key("obfuscation")));
}

#[test]
fn openrouter_reasoning_field_becomes_reasoning_content_and_its_comments_stay_comments() {
    let r = replay(OPENROUTER_STREAM);
    assert_eq!(
        r.comments,
        vec![(0, "OPENROUTER PROCESSING".to_string()); 2]
    );
    assert_eq!(r.reasoning(), "Three rivers, short.");
    assert_eq!(r.content(), "Yangtze, Yellow, Pearl.");
    for d in r.deltas() {
        assert!(
            !d.extra.contains_key("reasoning") && !d.extra.contains_key("reasoning_details"),
            "moved, not doubled: {:?}",
            d.extra
        );
    }
    // Usage after the finish chunk, always sent; its `cost` is OpenRouter's own figure.
    assert_eq!(r.normalizer.usage(), Some(usage(14, 0, 11, 5)));
    assert_eq!(r.finish_reasons(), ["stop"]);
}

#[test]
fn openrouter_error_after_the_first_token_is_an_error_chunk_classified_retryable() {
    let events = sse_events(OPENROUTER_ERROR_STREAM, std::iter::once(usize::MAX));
    let errors: Vec<String> = events
        .into_iter()
        .filter_map(|e| match e {
            SseEvent::Data { data, .. } if data != "[DONE]" => Some(data),
            _ => None,
        })
        .filter(|data| {
            let chunk: ChatChunk = serde_json::from_str(data).unwrap();
            chunk.extra.get("error").is_some_and(|e| !e.is_null())
        })
        .collect();
    let [error] = errors.as_slice() else {
        panic!("one error chunk, got {errors:?}");
    };
    let e = Dialect::OpenRouter.parse_error(500, error.as_bytes(), None);
    assert_eq!(e.kind, ErrorKind::Server);
    assert!(e.kind.retryable());
    assert_eq!(e.message, "Provider disconnected unexpectedly");
    assert_eq!(e.vendor_code.as_deref(), Some("server_error"));
}

#[test]
fn minimax_reasoning_details_become_reasoning_content() {
    let r = replay(MINIMAX_STREAM);
    assert_eq!(r.reasoning(), "The user greets me; answer warmly.");
    assert_eq!(r.content(), "Hello! How can I help?");
    assert_eq!(r.normalizer.usage(), Some(usage(42, 0, 17, 9)));
}

// ---------------------------------------------------------------------------------------
// Non-streaming completions
// ---------------------------------------------------------------------------------------

/// Parse a completion body, normalise it, and check the usage the client will see.
fn assert_completion(name: &str, body: &str, expected: TokenUsage) -> Value {
    let mut resp: ChatCompletion = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("{name}: completion does not parse: {e}"));
    assert_eq!(normalize_completion(&mut resp), Some(expected), "{name}");
    let wire = serde_json::to_value(&resp).unwrap();
    assert_eq!(
        wire["usage"],
        json!({
            "prompt_tokens": expected.prompt,
            "completion_tokens": expected.completion,
            "total_tokens": expected.total(),
            "prompt_tokens_details": {"cached_tokens": expected.cached_prompt},
            "completion_tokens_details": {"reasoning_tokens": expected.reasoning}
        }),
        "{name}: usage is not in OpenAI shape"
    );
    for choice in wire["choices"].as_array().unwrap() {
        assert!(
            choice.get("usage").is_none(),
            "{name}: usage left in choice"
        );
    }
    wire
}

#[test]
fn deepseek_completion_after_queue_blank_lines_parses_and_normalises() {
    let body = fixture_str!("deepseek_completion.json");
    assert!(
        body.starts_with("\n\n"),
        "DeepSeek sends blank lines while queued"
    );
    let wire = assert_completion("deepseek", body, usage(3087, 3072, 96, 71));
    let message = &wire["choices"][0]["message"];
    assert_eq!(
        message["content"],
        "A light-year is about 9.46 trillion kilometres."
    );
    assert!(
        message["reasoning_content"]
            .as_str()
            .unwrap()
            .starts_with("Speed of light")
    );
    assert_eq!(
        wire["system_fingerprint"],
        "fp_a3c81d2e94_prod0623_fp8_kvcache"
    );
}

#[test]
fn kimi_completion_usage_inside_choice_moves_to_top_level() {
    let body = fixture_str!("moonshot_completion_usage_in_choice.json");
    let wire = assert_completion("moonshot", body, usage(8216, 8192, 14, 0));
    assert_eq!(wire["choices"][0]["finish_reason"], "stop");
}

#[test]
fn glm_and_qwen_completions_keep_cached_tokens_from_prompt_details() {
    let glm = assert_completion(
        "zhipu",
        fixture_str!("zhipu_completion.json"),
        usage(612, 576, 35, 0),
    );
    assert_eq!(glm["request_id"], "20251104153756e1f0a3b9c27d4e58");
    assert_eq!(
        glm["object"], "chat.completion",
        "missing object is defaulted"
    );
    let qwen = assert_completion(
        "dashscope",
        fixture_str!("dashscope_completion.json"),
        usage(1475, 1408, 17, 0),
    );
    assert_eq!(qwen["system_fingerprint"], Value::Null);
}

#[test]
fn siliconflow_and_ark_completions_keep_cache_hits_and_reasoning() {
    let sf = assert_completion(
        "siliconflow",
        fixture_str!("siliconflow_completion.json"),
        usage(1290, 1280, 12, 4),
    );
    assert_eq!(
        sf["choices"][0]["message"]["reasoning_content"],
        "Three big rivers."
    );
    let ark = assert_completion(
        "ark",
        fixture_str!("ark_completion.json"),
        usage(2090, 2048, 11, 6),
    );
    assert_eq!(
        ark["service_tier"], "default",
        "unknown fields pass through"
    );
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

struct ErrorCase {
    fixture: &'static str,
    dialect: Dialect,
    status: u16,
    body: &'static [u8],
    header_request_id: Option<&'static str>,
    kind: ErrorKind,
    retryable: bool,
    vendor_code: Option<&'static str>,
    request_id: Option<&'static str>,
    /// OpenAI error `type` the client sees.
    api_type: &'static str,
    /// Status the gateway answers with.
    gateway_status: u16,
}

macro_rules! error_case {
    ($file:literal, $dialect:ident, $status:literal, header: $header:expr,
     $kind:ident, retryable: $retry:literal, code: $code:expr, request_id: $rid:expr,
     $api_type:literal, $gw:literal) => {
        ErrorCase {
            fixture: $file,
            dialect: Dialect::$dialect,
            status: $status,
            body: fixture!($file),
            header_request_id: $header,
            kind: ErrorKind::$kind,
            retryable: $retry,
            vendor_code: $code,
            request_id: $rid,
            api_type: $api_type,
            gateway_status: $gw,
        }
    };
}

const DS_TRACE: Option<&str> = Some("b7e2c9d1a4f04e6c8d3a5f1e2b9c7a60");
const ARK_ID: Option<&str> = Some("0217338123456781234567890abcdef0123456789abcdef012345");
const SF_TRACE: Option<&str> = Some("ti_9k2m4q7x1z8c3v5b");
const OR_GEN: Option<&str> = Some("gen-1764936500-Ab3dE5gH7jK9mN1p");
const MSH_ID: Option<&str> = Some("7f3e0a2c-91b5-4d6e-a8c4-2e5f1b9d0c37");

const ERROR_CASES: &[ErrorCase] = &[
    // GLM: one HTTP 429, four meanings, told apart by the business code.
    error_case!("zhipu_429_1305_overloaded.json", Zhipu, 429, header: None,
        Overloaded, retryable: true, code: Some("1305"),
        request_id: Some("20251104160512c4e2a9f7d6b84e1a"), "overloaded_error", 503),
    error_case!("zhipu_429_1302_concurrency.json", Zhipu, 429, header: None,
        RateLimited, retryable: true, code: Some("1302"),
        request_id: Some("20251104160533a7d1e94b02c6f385"), "rate_limit_error", 429),
    error_case!("zhipu_429_1113_balance.json", Zhipu, 429, header: None,
        InsufficientQuota, retryable: false, code: Some("1113"),
        request_id: Some("20251104160601f3b8c2d05e9a4716"), "insufficient_quota", 402),
    error_case!("zhipu_429_1308_plan_quota.json", Zhipu, 429, header: None,
        InsufficientQuota, retryable: false, code: Some("1308"),
        request_id: Some("20251104161542920ad6e1c7b34f58"), "insufficient_quota", 402),
    error_case!("zhipu_401_1001.json", Zhipu, 401, header: Some("20251104161803b2e7a0c4d9f6135e"),
        Authentication, retryable: false, code: Some("1001"),
        request_id: Some("20251104161803b2e7a0c4d9f6135e"), "authentication_error", 401),
    error_case!("zhipu_400_1301_content_filter.json", Zhipu, 400, header: None,
        ContentFilter, retryable: false, code: Some("1301"),
        request_id: Some("2025110416204466c1f0e8a3d25b97"), "invalid_request_error", 400),
    // DeepSeek: classified by status; no request id in the body, only x-ds-trace-id.
    error_case!("deepseek_402_balance.json", DeepSeek, 402, header: DS_TRACE,
        InsufficientQuota, retryable: false, code: Some("invalid_request_error"),
        request_id: DS_TRACE, "insufficient_quota", 402),
    error_case!("deepseek_503_overloaded.json", DeepSeek, 503, header: DS_TRACE,
        Overloaded, retryable: true, code: Some("service_unavailable_error"),
        request_id: DS_TRACE, "overloaded_error", 503),
    // DashScope: native `{code,message,request_id}` and compatible-mode `{error:{…}}`.
    error_case!("dashscope_429_throttling_native.json", DashScope, 429, header: None,
        RateLimited, retryable: true, code: Some("Throttling.RateQuota"),
        request_id: Some("5c8f2e1a-7b3d-9a4c-b6e0-1d2f3a4b5c6d"), "rate_limit_error", 429),
    error_case!("dashscope_429_allocation_quota_native.json", DashScope, 429, header: None,
        RateLimited, retryable: true, code: Some("Throttling.AllocationQuota"),
        request_id: Some("e02b9c4d-6f1a-9d3e-a8b5-7c4d2e1f0a93"), "rate_limit_error", 429),
    error_case!("dashscope_401_compat.json", DashScope, 401, header: None,
        Authentication, retryable: false, code: Some("invalid_api_key"),
        request_id: Some("8d4a1f6e-0c3b-9e2d-b5a7-f19c6e2d3b80"), "authentication_error", 401),
    error_case!("dashscope_400_data_inspection.json", DashScope, 400, header: None,
        ContentFilter, retryable: false, code: Some("data_inspection_failed"),
        request_id: Some("71b4e0d2-9a3c-4f58-8e16-c2d5a7b0f943"), "invalid_request_error", 400),
    error_case!("dashscope_403_arrearage_compat.json", DashScope, 403, header: None,
        InsufficientQuota, retryable: false, code: Some("Arrearage"),
        request_id: Some("3f9e2a7c-b1d4-9c6e-85a0-d7e3f1b4c269"), "insufficient_quota", 402),
    // Kimi: no `code`, classified by `type`; request id only in the msh-request-id header.
    error_case!("moonshot_429_engine_overloaded.json", Moonshot, 429, header: MSH_ID,
        Overloaded, retryable: true, code: Some("engine_overloaded_error"),
        request_id: MSH_ID, "overloaded_error", 503),
    error_case!("moonshot_429_rate_limit.json", Moonshot, 429, header: MSH_ID,
        RateLimited, retryable: true, code: Some("rate_limit_reached_error"),
        request_id: MSH_ID, "rate_limit_error", 429),
    error_case!("moonshot_403_quota.json", Moonshot, 403, header: MSH_ID,
        InsufficientQuota, retryable: false, code: Some("exceeded_current_quota_error"),
        request_id: MSH_ID, "insufficient_quota", 402),
    error_case!("moonshot_400_content_filter.json", Moonshot, 400, header: MSH_ID,
        ContentFilter, retryable: false, code: Some("content_filter"),
        request_id: MSH_ID, "invalid_request_error", 400),
    // Ark: dotted string codes; the request id in the X-Request-Id header (and the text).
    error_case!("ark_403_account_overdue.json", Ark, 403, header: ARK_ID,
        InsufficientQuota, retryable: false, code: Some("AccountOverdueError"),
        request_id: ARK_ID, "insufficient_quota", 402),
    error_case!("ark_429_rate_limit_tpm.json", Ark, 429, header: ARK_ID,
        RateLimited, retryable: true, code: Some("RateLimitExceeded.EndpointTPMExceeded"),
        request_id: ARK_ID, "rate_limit_error", 429),
    error_case!("ark_400_sensitive_content.json", Ark, 400, header: ARK_ID,
        ContentFilter, retryable: false, code: Some("InputTextRiskDetection"),
        request_id: ARK_ID, "invalid_request_error", 400),
    // SiliconFlow: a top-level numeric code, not OpenAI's envelope; an unknown model is a 400.
    error_case!("siliconflow_400_20012_model.json", SiliconFlow, 400, header: SF_TRACE,
        NotFound, retryable: false, code: Some("20012"),
        request_id: SF_TRACE, "not_found_error", 404),
    error_case!("siliconflow_403_30001_balance.json", SiliconFlow, 403, header: SF_TRACE,
        InsufficientQuota, retryable: false, code: Some("30001"),
        request_id: SF_TRACE, "insufficient_quota", 402),
    error_case!("siliconflow_429_tpm.json", SiliconFlow, 429, header: SF_TRACE,
        RateLimited, retryable: true, code: None,
        request_id: SF_TRACE, "rate_limit_error", 429),
    // MiniMax: the code in base_resp.
    error_case!("minimax_429_1002_rate_limit.json", MiniMax, 429, header: None,
        RateLimited, retryable: true, code: Some("1002"),
        request_id: None, "rate_limit_error", 429),
    error_case!("minimax_401_1004_auth.json", MiniMax, 401, header: None,
        Authentication, retryable: false, code: Some("1004"),
        request_id: None, "authentication_error", 401),
    // OpenRouter: the code is the status, as a number.
    error_case!("openrouter_402_credits.json", OpenRouter, 402, header: OR_GEN,
        InsufficientQuota, retryable: false, code: Some("402"),
        request_id: OR_GEN, "insufficient_quota", 402),
    error_case!("openrouter_503_no_endpoints.json", OpenRouter, 503, header: OR_GEN,
        Overloaded, retryable: true, code: Some("503"),
        request_id: OR_GEN, "overloaded_error", 503),
];

/// The vendor's own message: `error.message`, or the native top-level `message`.
fn vendor_message(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap();
    v.pointer("/error/message")
        .or_else(|| v.get("message"))
        .or_else(|| v.pointer("/base_resp/status_msg"))
        .and_then(Value::as_str)
        .unwrap()
        .to_string()
}

#[test]
fn vendor_error_bodies_classify_with_code_request_id_and_gateway_status() {
    for case in ERROR_CASES {
        let name = case.fixture;
        let err = case
            .dialect
            .parse_error(case.status, case.body, case.header_request_id);
        assert_eq!(err.kind, case.kind, "{name}");
        assert_eq!(err.kind.retryable(), case.retryable, "{name}");
        assert_eq!(err.vendor_status, case.status, "{name}");
        assert_eq!(err.vendor_code.as_deref(), case.vendor_code, "{name}");
        assert_eq!(err.request_id.as_deref(), case.request_id, "{name}");
        assert_eq!(err.message, vendor_message(case.body), "{name}");

        let api = err.to_api_error("provider");
        assert_eq!(api.kind, case.api_type, "{name}");
        assert_eq!(err.kind.status(), case.gateway_status, "{name}");
        assert_eq!(api.retryable, Some(case.retryable), "{name}");
        assert_eq!(api.provider.as_deref(), Some("provider"), "{name}");
        assert_eq!(api.vendor_code.as_deref(), case.vendor_code, "{name}");
        assert_eq!(api.request_id.as_deref(), case.request_id, "{name}");
        assert_eq!(api.message, format!("provider: {}", err.message), "{name}");
    }
}

#[test]
fn every_error_fixture_file_is_in_the_table_and_named_after_its_status() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.ends_with(".json")
                && n.split('_')
                    .nth(1)
                    .is_some_and(|s| s.parse::<u16>().is_ok())
        })
        .collect();
    on_disk.sort_unstable();
    let mut in_table: Vec<String> = ERROR_CASES.iter().map(|c| c.fixture.to_string()).collect();
    in_table.sort_unstable();
    assert_eq!(in_table, on_disk, "error fixtures and ERROR_CASES differ");
    for case in ERROR_CASES {
        let mut parts = case.fixture.split('_');
        assert_eq!(
            parts.next(),
            Some(case.dialect.as_str()),
            "{}",
            case.fixture
        );
        assert_eq!(
            parts.next(),
            Some(case.status.to_string().as_str()),
            "{}",
            case.fixture
        );
    }
}

#[test]
fn html_502_from_a_front_proxy_is_a_retryable_server_error_in_every_dialect() {
    let body = fixture!("upstream_502_bad_gateway.html");
    for dialect in ALL_DIALECTS {
        let err = dialect.parse_error(502, body, Some("edge-5d1e"));
        assert_eq!(err.kind, ErrorKind::Server, "{dialect}");
        assert!(err.kind.retryable(), "{dialect}");
        assert_eq!(err.vendor_code, None, "{dialect}");
        assert_eq!(err.request_id.as_deref(), Some("edge-5d1e"), "{dialect}");
        assert!(
            err.message.starts_with("HTTP 502: <html>"),
            "{}",
            err.message
        );
        assert!(err.message.contains("502 Bad Gateway"), "{}", err.message);

        let api = err.to_api_error("provider");
        assert_eq!(api.kind, "upstream_error", "{dialect}");
        assert_eq!(err.kind.status(), 502, "{dialect}");
        assert_eq!(api.retryable, Some(true), "{dialect}");
    }
}
