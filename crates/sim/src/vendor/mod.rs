//! The vendors the simulator speaks, one file each: `openai.rs` (plain OpenAI, the
//! baseline), `deepseek.rs`, `dashscope.rs` (Qwen), `moonshot.rs` (Kimi), `zhipu.rs`
//! (GLM), and the resellers: `ark.rs` (Volcengine Ark), `siliconflow.rs`, `minimax.rs`
//! and `openrouter.rs`. A vendor's file holds everything the simulator does differently for it: URL
//! prefix and request-id header, response shape, id format, usage object and where a
//! stream puts it, error bodies, and the request rejections it emulates.
//!
//! This file holds what they share: the [`Vendor`] contract each file fulfils, the
//! [`Shape`] of a vendor's output, [`Ids`], the dispatch from a [`Dialect`] to its file,
//! and [`check`], which runs the vendor-independent checks of [`crate::validate`] in
//! the vendor's wording and then the vendor's own.
//!
//! Independence, on purpose: the simulator keeps its own copy of the vendor facts (from
//! `shared/reference/providers.md`) and never asks `switchyard_wire::dialect` how a
//! vendor behaves. It stands in for the real vendors in the gateway's tests, so it must
//! be able to disagree with the gateway: a fact got wrong in the gateway then fails a
//! test instead of being copied into the stand-in. It does use the wire crate's types,
//! parsers and the [`Dialect`] names.

mod ark;
mod dashscope;
mod deepseek;
mod minimax;
mod moonshot;
mod openai;
mod openrouter;
mod siliconflow;
mod zhipu;

use http::StatusCode;
use rand::Rng;
use rand::rngs::SmallRng;
use serde_json::{Value, json};
use switchyard_wire::dialect::ALL_DIALECTS;
use switchyard_wire::{ChatRequest, Dialect, TokenUsage, Usage};

use crate::failure::Failure;
use crate::generate::Target;
use crate::validate::{self, Refusal};

/// What one vendor file provides; [`of`] picks the file. The provided methods are the
/// OpenAI-compatible baseline; a vendor file overrides what its vendor does otherwise.
pub(crate) trait Vendor: Sync {
    /// How the vendor's answers look.
    fn shape(&self) -> &'static Shape;

    /// Fresh ids in the vendor's style.
    fn ids(&self, rng: &mut SmallRng, created: u64) -> Ids;

    /// A `system_fingerprint` value, drawn once per simulator; `None` (drawing nothing)
    /// for vendors that send none, or `null` ([`Shape::fingerprint`]).
    fn fingerprint(&self, _rng: &mut SmallRng) -> Option<String> {
        None
    }

    /// The usage object as the vendor spells it: OpenAI's.
    fn usage(&self, u: &TokenUsage) -> Usage {
        u.to_wire()
    }

    /// The vendor's status and JSON body for `failure`.
    fn error_body(&self, failure: &Failure, request_id: &str) -> (StatusCode, Value);

    /// The vendor's message for a vendor-independent refusal, of model `upstream`: the
    /// usual one.
    fn refusal(&self, refusal: Refusal, upstream: &str) -> String {
        refusal.usual_message(upstream)
    }

    /// The vendor's own rejections, once the vendor-independent checks passed.
    fn check(&self, req: &ChatRequest, target: &Target) -> Result<(), Failure>;
}

/// The file that knows `dialect`.
pub(crate) fn of(dialect: Dialect) -> &'static dyn Vendor {
    match dialect {
        Dialect::OpenAi => &openai::OpenAi,
        Dialect::DeepSeek => &deepseek::DeepSeek,
        Dialect::DashScope => &dashscope::DashScope,
        Dialect::Moonshot => &moonshot::Moonshot,
        Dialect::Zhipu => &zhipu::Zhipu,
        Dialect::Ark => &ark::Ark,
        Dialect::SiliconFlow => &siliconflow::SiliconFlow,
        Dialect::MiniMax => &minimax::MiniMax,
        Dialect::OpenRouter => &openrouter::OpenRouter,
    }
}

/// URL prefix between `/{provider}/{region}` and `/chat/completions` for a dialect.
pub fn path_prefix(dialect: Dialect) -> &'static str {
    of(dialect).shape().path_prefix
}

/// Check `req` against what `dialect` accepts for `target`: the vendor-independent checks
/// (in the vendor's words), then the vendor's own.
pub(crate) fn check(dialect: Dialect, req: &ChatRequest, target: &Target) -> Result<(), Failure> {
    let vendor = of(dialect);
    validate::common(req, target)
        .map_err(|r| Failure::InvalidRequest(vendor.refusal(r, &target.upstream)))?;
    vendor.check(req, target)
}

/// `system_fingerprint` values, fixed per simulator.
#[derive(Debug)]
pub(crate) struct Fingerprints(Vec<(Dialect, String)>);

impl Fingerprints {
    /// Draw every vendor's value from `rng`. In reverse dialect order, so that DeepSeek's
    /// is drawn before OpenAI's, as they always were: a seed keeps its values.
    pub(crate) fn draw(rng: &mut SmallRng) -> Self {
        Fingerprints(
            ALL_DIALECTS
                .into_iter()
                .rev()
                .filter_map(|d| of(d).fingerprint(rng).map(|fp| (d, fp)))
                .collect(),
        )
    }

    /// The value for `dialect`; empty for vendors that send none.
    pub(crate) fn of(&self, dialect: Dialect) -> String {
        self.0
            .iter()
            .find(|(d, _)| *d == dialect)
            .map(|(_, fp)| fp.clone())
            .unwrap_or_default()
    }
}

/// What `system_fingerprint` looks like in a vendor's responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fingerprint {
    /// The field is not sent.
    Absent,
    /// `"system_fingerprint": null`.
    Null,
    /// A value (see [`Vendor::fingerprint`]).
    Value,
}

/// Where a stream carries its usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamUsage {
    /// A trailing `choices: []` chunk, only with `stream_options.include_usage`.
    TrailingIfRequested,
    /// Inside `choices[0].usage` of the final chunk, always.
    InFinishChoice,
    /// Top-level `usage` on the `finish_reason` chunk, always.
    OnFinishChunk,
}

/// When chunks carry `"usage": null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UsageNull {
    /// Never.
    Never,
    /// On every chunk.
    Always,
    /// When the client asked for usage.
    WhenRequested,
}

/// The URL layout and output quirks of one vendor.
#[derive(Debug)]
pub(crate) struct Shape {
    /// URL prefix between `/{provider}/{region}` and `/chat/completions`.
    pub(crate) path_prefix: &'static str,
    /// `/v1` may follow the prefix, or not.
    pub(crate) optional_v1: bool,
    /// Response header carrying the request id.
    pub(crate) request_id_header: &'static str,
    /// Chunks carry `"object": "chat.completion.chunk"`.
    pub(crate) chunk_object: bool,
    /// `system_fingerprint` style.
    pub(crate) fingerprint: Fingerprint,
    /// `"usage": null` on ordinary chunks.
    pub(crate) usage_null: UsageNull,
    /// Where stream usage goes.
    pub(crate) stream_usage: StreamUsage,
    /// Every delta repeats `"role": "assistant"`.
    pub(crate) repeat_role: bool,
    /// Tool-call deltas carry `index`.
    pub(crate) tool_index: bool,
    /// Choices carry `"logprobs": null`.
    pub(crate) logprobs: bool,
    /// Choices carry `"finish_reason": null` before the end.
    pub(crate) finish_null: bool,
    /// Reasoning deltas also carry `"content": null`.
    pub(crate) reasoning_content_null: bool,
    /// A non-streamed tool-call answer has `"content": ""` (else `null`).
    pub(crate) tool_call_empty_content: bool,
    /// Keep-alives while waiting (SSE comments, or blank lines when not streaming).
    pub(crate) keepalive: bool,
    /// The SSE comment a waiting stream is kept alive with.
    pub(crate) keepalive_sse: &'static [u8],
    /// Where the thinking goes.
    pub(crate) reasoning: ReasoningOut,
    /// The non-streaming body repeats the request id as `request_id`.
    pub(crate) body_request_id: bool,
}

/// Where a vendor writes the model's thinking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReasoningOut {
    /// `reasoning_content`, as DeepSeek named it and most vendors copied.
    Content,
    /// `reasoning` (OpenRouter).
    Named,
    /// Inside `content` as `<think>…</think>`, unless the request asks
    /// `reasoning_split: true`, which gives `reasoning_content` (MiniMax).
    InlineUnlessSplit,
}

/// Identifiers of one response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ids {
    /// `id` of the completion / chunks.
    pub(crate) response: String,
    /// Value of the vendor's request-id header (and `request_id` in bodies).
    pub(crate) request: String,
}

/// Append `digits` random lowercase hex digits to `out`.
fn push_hex(out: &mut String, rng: &mut SmallRng, digits: usize) {
    const HEX: &[u8] = b"0123456789abcdef";
    for _ in 0..digits {
        out.push(char::from(HEX[rng.random_range(0..16)]));
    }
}

/// `prefix` followed by `digits` random hex digits.
fn hex_id(prefix: &str, rng: &mut SmallRng, digits: usize) -> String {
    let mut s = String::with_capacity(prefix.len() + digits);
    s.push_str(prefix);
    push_hex(&mut s, rng, digits);
    s
}

/// A random UUID-like string (8-4-4-4-12 hex digits).
fn uuid_like(rng: &mut SmallRng) -> String {
    let mut s = String::with_capacity(36);
    for (i, n) in [8, 4, 4, 4, 12].into_iter().enumerate() {
        if i > 0 {
            s.push('-');
        }
        push_hex(&mut s, rng, n);
    }
    s
}

/// The OpenAI error body, `{"error":{"message","type","param":null,"code"}}`.
fn openai_style(message: &str, kind: &str, code: Option<&str>) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

/// Call-site helpers for the tests of every vendor file.
#[cfg(test)]
pub(crate) mod testing {
    use http::StatusCode;
    use rand::rngs::SmallRng;
    use serde_json::Value;
    use switchyard_wire::{Dialect, ErrorKind, TokenUsage, Usage};

    use super::{Ids, of};
    use crate::failure::Failure;

    pub(crate) fn error_body(d: Dialect, f: &Failure, request_id: &str) -> (StatusCode, Value) {
        of(d).error_body(f, request_id)
    }

    pub(crate) fn usage(d: Dialect, u: &TokenUsage) -> Usage {
        of(d).usage(u)
    }

    pub(crate) fn ids(d: Dialect, rng: &mut SmallRng, created: u64) -> Ids {
        of(d).ids(rng, created)
    }

    pub(crate) fn deepseek_fingerprint(rng: &mut SmallRng) -> String {
        of(Dialect::DeepSeek).fingerprint(rng).unwrap_or_default()
    }

    /// What the wire crate makes of `d`'s body for `f`: status, kind, vendor code.
    pub(crate) fn classify(d: Dialect, f: &Failure) -> (u16, ErrorKind, Option<String>) {
        let (status, body) = error_body(d, f, "rid-1");
        let bytes = serde_json::to_vec(&body).unwrap();
        let e = d.parse_error(status.as_u16(), &bytes, None);
        (status.as_u16(), e.kind, e.vendor_code)
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{self, classify, deepseek_fingerprint, ids, usage};
    use super::*;
    use crate::latency::request_rng;
    use crate::validate::testing::{message, req, target};
    use switchyard_wire::ErrorKind;

    #[test]
    fn every_dialect_error_is_classified_as_its_kind_by_the_wire_crate() {
        let cases = [
            (Failure::invalid("x"), ErrorKind::InvalidRequest),
            (Failure::InvalidJson("x".into()), ErrorKind::InvalidRequest),
            (Failure::InvalidKey, ErrorKind::Authentication),
            (Failure::MissingKey, ErrorKind::Authentication),
            (Failure::RateLimited, ErrorKind::RateLimited),
            (Failure::Overloaded, ErrorKind::Overloaded),
            (Failure::InsufficientBalance, ErrorKind::InsufficientQuota),
            (Failure::ServerError, ErrorKind::Server),
        ];
        for d in ALL_DIALECTS {
            for (f, kind) in &cases {
                assert_eq!(classify(d, f).1, *kind, "{d} {f:?}");
            }
        }
        // Model not found: DeepSeek says so with a 400, as the real one does.
        for d in [
            Dialect::DashScope,
            Dialect::Moonshot,
            Dialect::Zhipu,
            Dialect::OpenAi,
        ] {
            assert_eq!(
                classify(d, &Failure::ModelNotFound("m".into())).1,
                ErrorKind::NotFound,
                "{d}"
            );
        }
        assert_eq!(
            classify(Dialect::DeepSeek, &Failure::ModelNotFound("m".into())).0,
            400
        );
    }

    #[test]
    fn deepseek_usage_has_hit_and_miss_fields_summing_to_prompt() {
        let u = TokenUsage {
            prompt: 100,
            cached_prompt: 64,
            completion: 10,
            reasoning: 4,
        };
        let v = serde_json::to_value(usage(Dialect::DeepSeek, &u)).unwrap();
        assert_eq!(v["prompt_cache_hit_tokens"], 64);
        assert_eq!(v["prompt_cache_miss_tokens"], 36);
        assert_eq!(v["prompt_tokens_details"]["cached_tokens"], 64);
        assert_eq!(v["completion_tokens_details"]["reasoning_tokens"], 4);
        let k = serde_json::to_value(usage(Dialect::Moonshot, &u)).unwrap();
        assert_eq!(k["cached_tokens"], 64);
        assert!(k.get("prompt_tokens_details").is_none());
        assert_eq!(usage(Dialect::Moonshot, &u).normalize(), u);
        assert_eq!(usage(Dialect::DeepSeek, &u).normalize(), u);
    }

    #[test]
    fn ids_look_like_the_vendors() {
        let mut rng = request_rng(1, 2);
        let ds = ids(Dialect::DeepSeek, &mut rng, 1);
        assert_eq!(ds.response.len(), 36);
        assert_eq!(ds.response.matches('-').count(), 4);
        let qw = ids(Dialect::DashScope, &mut rng, 1);
        assert!(qw.response.starts_with("chatcmpl-") && qw.response.len() == 45);
        let glm = ids(Dialect::Zhipu, &mut rng, 1_700_000_000);
        assert!(glm.response.starts_with("1700000000"));
        assert_eq!(glm.request, glm.response);
        assert!(deepseek_fingerprint(&mut rng).ends_with("_prod0820_fp8_kvcache"));
    }

    #[test]
    fn media_parts_need_the_capability() {
        let img = req(
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]}),
        );
        assert!(check(Dialect::DashScope, &img, &target("qwen3-32b", false, false)).is_err());
        assert!(check(Dialect::DashScope, &img, &target("qwen3-vl", false, true)).is_ok());
        let audio = req(
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}}]}]}),
        );
        assert!(check(Dialect::OpenAi, &audio, &target("x", false, true)).is_err());
        let empty = req(json!({"model": "m", "messages": []}));
        assert!(check(Dialect::OpenAi, &empty, &target("x", false, true)).is_err());
    }

    #[test]
    fn json_formats_need_the_capability_and_json_mode_needs_the_word_json() {
        let ask = |format: Value, text: &str| {
            req(
                json!({"model": "m", "messages": [{"role": "user", "content": text}],
                "response_format": format}),
            )
        };
        let t = target("qwen-x", false, false);
        let schema = json!({"type": "json_schema", "json_schema": {"name": "a", "schema": {}}});
        let m = message(check(Dialect::DashScope, &ask(schema.clone(), "hi"), &t));
        assert!(
            m.contains("does not support response_format type json_schema"),
            "{m}"
        );
        let m = message(check(Dialect::DeepSeek, &ask(schema, "hi"), &t));
        assert_eq!(m, "This response_format type is unavailable now");

        let object = json!({"type": "json_object"});
        let m = message(check(Dialect::DashScope, &ask(object.clone(), "hi"), &t));
        assert!(m.contains("must contain the word 'json'"), "{m}");
        assert!(
            check(
                Dialect::DashScope,
                &ask(object.clone(), "Reply in JSON"),
                &t
            )
            .is_ok()
        );
        assert!(check(Dialect::Zhipu, &ask(object.clone(), "hi"), &t).is_ok());
        // DashScope: JSON output while the model thinks is refused.
        let thinker = target("qwen3-32b", true, false);
        let m = message(check(
            Dialect::DashScope,
            &ask(object.clone(), "json"),
            &thinker,
        ));
        assert!(m.contains("non-thinking mode only"), "{m}");
        let no_json = Target {
            json: false,
            ..target("glm-x", false, false)
        };
        let m = message(check(Dialect::Zhipu, &ask(object, "json"), &no_json));
        assert!(
            m.contains("does not support response_format type json_object"),
            "{m}"
        );
    }

    #[test]
    fn the_resellers_refuse_what_they_refuse_in_their_own_words() {
        let t = target("m", true, false);
        let with = |extra: Value| {
            let mut v = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
            if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
                o.extend(e.clone());
            }
            req(v)
        };
        let m = message(check(
            Dialect::Ark,
            &with(json!({"thinking": {"type": "on"}})),
            &t,
        ));
        assert!(m.contains("thinking.type"), "{m}");
        assert!(
            check(
                Dialect::Ark,
                &with(json!({"thinking": {"type": "auto"}})),
                &t
            )
            .is_ok()
        );
        let m = message(check(
            Dialect::SiliconFlow,
            &with(json!({"thinking_budget": 64})),
            &t,
        ));
        assert!(
            m.contains("thinking_budget must be an integer from 128 to 32768"),
            "{m}"
        );
        assert!(
            check(
                Dialect::SiliconFlow,
                &with(json!({"thinking_budget": 4096})),
                &t
            )
            .is_ok()
        );
        let m = message(check(
            Dialect::MiniMax,
            &with(json!({"temperature": 0.0})),
            &t,
        ));
        assert!(m.contains("(0, 1]"), "{m}");
        assert!(check(Dialect::MiniMax, &with(json!({"temperature": 1.0})), &t).is_ok());
        assert!(check(Dialect::OpenRouter, &with(json!({"temperature": 1.7})), &t).is_ok());
    }

    #[test]
    fn reseller_error_bodies_are_their_own_shapes() {
        let (status, body) = testing::error_body(
            Dialect::SiliconFlow,
            &Failure::ModelNotFound("x".into()),
            "r",
        );
        assert_eq!((status.as_u16(), body["code"].as_u64()), (400, Some(20012)));
        assert!(body.get("error").is_none(), "not OpenAI's envelope");
        let (status, body) =
            testing::error_body(Dialect::MiniMax, &Failure::InsufficientBalance, "r");
        assert_eq!(
            (status.as_u16(), body["base_resp"]["status_code"].as_u64()),
            (402, Some(1008))
        );
        let (_, body) = testing::error_body(Dialect::Ark, &Failure::RateLimited, "rid-9");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .ends_with("Request id: rid-9")
        );
        let (status, body) = testing::error_body(Dialect::OpenRouter, &Failure::ServerError, "r");
        assert_eq!(
            (status.as_u16(), body["error"]["code"].as_u64()),
            (502, Some(502))
        );
        assert_eq!(
            of(Dialect::OpenRouter).shape().keepalive_sse,
            b": OPENROUTER PROCESSING\n\n"
        );
        assert_eq!(
            of(Dialect::SiliconFlow).shape().request_id_header,
            "x-siliconcloud-trace-id"
        );
    }
}
