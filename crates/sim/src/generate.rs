//! What a simulated model says: one-token words, completion plans and tool-call arguments.
//!
//! Text is drawn from [`WORDS`], each written as `" word"` with at most four ASCII letters,
//! so every word is exactly one token under [`switchyard_wire::tokens::estimate`] and the
//! usage we report always matches the text we sent.

use rand::Rng;
use rand::rngs::SmallRng;
use serde_json::{Map, Value};
use switchyard_wire::tokens;
use switchyard_wire::{ChatRequest, Role};

use crate::latency::Profile;

/// The vocabulary: short common English words, each one token with its leading space.
pub(crate) const WORDS: [&str; 64] = [
    " the", " and", " for", " you", " that", " with", " this", " have", " from", " they", " will",
    " what", " when", " make", " like", " time", " just", " know", " take", " into", " year",
    " your", " good", " some", " them", " see", " than", " then", " now", " look", " only",
    " come", " its", " over", " also", " back", " use", " two", " how", " our", " work", " well",
    " way", " even", " new", " want", " any", " give", " day", " most", " a", " is", " it", " to",
    " of", " in", " on", " we", " can", " all", " more", " one", " say", " so",
];

/// Words of a `json_object` answer, a quarter of a length drawn from here.
pub(crate) const NATURAL_LENGTH: std::ops::RangeInclusive<u32> = 20..=200;
/// The shortest answer a model writes when nothing stops it (a cap at or below this
/// always cuts the answer: tests that ask for a few tokens get exactly those).
pub(crate) const MIN_NATURAL: u32 = 32;
/// The longest.
const MAX_NATURAL: u32 = 8192;
/// Spread of the log-normal answer length (σ of its logarithm).
const LENGTH_SIGMA: f64 = 0.5;
/// Reasoning tokens a thinking model spends before a tool call.
const TOOL_REASONING: std::ops::RangeInclusive<u32> = 8..=16;
/// Characters of tool-call arguments per streamed fragment.
const ARG_FRAGMENT_CHARS: usize = 8;

/// One random word.
pub(crate) fn word(rng: &mut SmallRng) -> &'static str {
    WORDS[rng.random_range(0..WORDS.len())]
}

/// Append `n` random words to `out`.
pub(crate) fn push_words(out: &mut String, n: u32, rng: &mut SmallRng) {
    out.reserve(n as usize * 5);
    for _ in 0..n {
        out.push_str(word(rng));
    }
}

/// The model a request is served by, as far as generation and validation care.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// Key for statistics: the canonical id, or the requested name for the generic provider.
    pub key: String,
    /// Vendor model name (`model` of the response; Kimi's sampling rules look at it).
    pub upstream: String,
    /// Latency profile.
    pub profile: Profile,
    /// Largest completion.
    pub max_output: u32,
    /// Accepts images.
    pub vision: bool,
    /// Accepts audio.
    pub audio: bool,
    /// Can call tools.
    pub tools: bool,
    /// Thinks unless the request switches thinking off.
    pub reasoning: bool,
    /// Honours `response_format` `json_object`.
    pub json: bool,
    /// Honours `response_format` `json_schema`.
    pub json_schema: bool,
}

/// Text sent in ~8-character pieces when streamed (tool arguments, JSON answers).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pieces {
    /// The whole text.
    pub text: String,
    /// End byte offsets of the pieces, on character boundaries.
    pub ends: Vec<usize>,
}

impl Pieces {
    /// `text`, cut into pieces.
    pub(crate) fn new(text: String) -> Pieces {
        Pieces {
            ends: fragment_ends(&text),
            text,
        }
    }

    /// The `i`-th piece.
    pub(crate) fn piece(&self, i: usize) -> &str {
        let start = if i == 0 {
            0
        } else {
            self.ends.get(i - 1).copied().unwrap_or(0)
        };
        let end = self.ends.get(i).copied().unwrap_or(start);
        self.text.get(start..end).unwrap_or("")
    }
}

/// A planned tool call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ToolCallPlan {
    /// `call_<random>`.
    pub id: String,
    /// Function name.
    pub name: String,
    /// JSON arguments, compact.
    pub arguments: Pieces,
}

impl ToolCallPlan {
    /// Completion tokens the call costs.
    pub(crate) fn tokens(&self) -> u64 {
        tokens::estimate(&self.name) + tokens::estimate(&self.arguments.text)
    }
}

/// What one choice produces after its reasoning.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Output {
    /// This many content tokens of random words.
    Text(u32),
    /// This exact content (a JSON answer, or blanks), costing this many tokens.
    Literal(Pieces, u64),
    /// One tool call.
    Tool(ToolCallPlan),
}

/// The plan of one choice.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChoicePlan {
    /// Reasoning tokens, emitted first.
    pub reasoning: u32,
    /// Content or tool call.
    pub output: Output,
    /// `stop`, `length` or `tool_calls`.
    pub finish_reason: &'static str,
}

impl ChoicePlan {
    /// Completion tokens of this choice, reasoning included.
    pub(crate) fn completion_tokens(&self) -> u64 {
        u64::from(self.reasoning)
            + match &self.output {
                Output::Text(n) => u64::from(*n),
                Output::Literal(_, n) => *n,
                Output::Tool(call) => call.tokens(),
            }
    }

    /// Stream items of this choice: role, reasoning tokens, output items, finish.
    pub(crate) fn items(&self) -> u32 {
        let output = match &self.output {
            Output::Text(n) => *n,
            Output::Literal(text, _) => text.ends.len() as u32,
            Output::Tool(call) => 1 + call.arguments.ends.len() as u32,
        };
        2 + self.reasoning + output
    }
}

/// Whether the request opts into thinking explicitly (used for models we know nothing of).
pub(crate) fn thinking_requested(req: &ChatRequest) -> bool {
    let by_type = req
        .extra
        .get("thinking")
        .and_then(|t| t.get("type"))
        .and_then(Value::as_str)
        == Some("enabled");
    let by_flag = req.extra.get("enable_thinking").and_then(Value::as_bool) == Some(true);
    let by_reasoning = req
        .extra
        .get("reasoning")
        .and_then(|r| r.get("enabled"))
        .and_then(Value::as_bool)
        == Some(true);
    by_type || by_flag || by_reasoning
}

/// Reasoning share of a text budget: about 40%, at least 1 when the budget is 2 or more,
/// always leaving at least one content token.
pub(crate) fn reasoning_split(budget: u32) -> u32 {
    if budget < 2 {
        return 0;
    }
    let r = (u64::from(budget) * 2 / 5) as u32;
    r.clamp(1, budget - 1)
}

/// The median answer length of the model called `key`: 100 to 220 tokens, the same for
/// the same model (a hash of its name).
fn answer_median(key: &str) -> f64 {
    let mut h: u32 = 0x811c_9dc5;
    for b in key.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    f64::from(100 + h % 121)
}

/// A length drawn log-normally around `median` (σ [`LENGTH_SIGMA`]), within
/// [`MIN_NATURAL`]..=[`MAX_NATURAL`].
fn natural(median: f64, rng: &mut SmallRng) -> u32 {
    // Box-Muller: one standard normal from two uniforms.
    let u1: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
    let u2: f64 = rng.random();
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    let len = (median * (LENGTH_SIGMA * z).exp()).round();
    (len as u32).clamp(MIN_NATURAL, MAX_NATURAL)
}

/// Whether the request asks for exactly its cap (vLLM's `ignore_eos` extension, which
/// load tests send so that output sizes stay exact).
pub(crate) fn ignores_eos(req: &ChatRequest) -> bool {
    req.extra.get("ignore_eos").and_then(Value::as_bool) == Some(true)
}

/// Reasoning and answer tokens of a text answer, and its finish reason: the model's
/// natural lengths (reasoning models first think for about one and a half times their
/// answer), unless the cap cuts them — then `length`, the cap split 40/60 between
/// reasoning and answer as before. With `ignore_eos`, the cap is always reached.
fn text_budget(
    req: &ChatRequest,
    target: &Target,
    thinks: bool,
    rng: &mut SmallRng,
) -> (u32, u32, &'static str) {
    let median = answer_median(&target.key);
    let answer = natural(median, rng);
    let thought = if thinks {
        natural(median * 1.5, rng)
    } else {
        0
    };
    let cap = req.completion_cap().map(|c| c.min(target.max_output));
    match cap {
        Some(cap) if ignores_eos(req) || thought.saturating_add(answer) >= cap => {
            let reasoning = if thinks { reasoning_split(cap) } else { 0 };
            (reasoning, cap - reasoning, "length")
        }
        _ => {
            let room = target.max_output.saturating_sub(thought);
            (thought.min(target.max_output), answer.min(room), "stop")
        }
    }
}

/// Plan every choice of the answer to `req`.
pub(crate) fn plan(req: &ChatRequest, target: &Target, rng: &mut SmallRng) -> Vec<ChoicePlan> {
    let thinks = target.reasoning && !req.thinking_disabled();
    let n = req.n.unwrap_or(1).max(1);
    let tool = chosen_tool(req, target);
    (0..n)
        .map(|_| match &tool {
            Some((name, schema)) => {
                let reasoning = if thinks {
                    rng.random_range(TOOL_REASONING)
                } else {
                    0
                };
                ChoicePlan {
                    reasoning,
                    output: Output::Tool(ToolCallPlan {
                        id: call_id(rng),
                        name: (*name).to_string(),
                        arguments: Pieces::new(tool_arguments(*schema)),
                    }),
                    finish_reason: "tool_calls",
                }
            }
            None => {
                let (reasoning, answer, finish_reason) = text_budget(req, target, thinks, rng);
                match json_answer(req, rng) {
                    Some(text) => literal_plan(text, reasoning, req.completion_cap()),
                    None => ChoicePlan {
                        reasoning,
                        output: Output::Text(answer),
                        finish_reason,
                    },
                }
            }
        })
        .collect()
}

/// The JSON a JSON-mode request gets: a value following the schema of `json_schema`, or
/// `{"answer": "<words>"}` for `json_object`. `None` when no JSON was asked for.
fn json_answer(req: &ChatRequest, rng: &mut SmallRng) -> Option<String> {
    let format = req.response_format.as_ref().filter(|f| f.wants_json())?;
    if let Some(schema) = format.schema() {
        return Some(value_for(schema, 0).to_string());
    }
    let mut words = String::new();
    push_words(&mut words, rng.random_range(NATURAL_LENGTH) / 4, rng);
    Some(serde_json::json!({ "answer": words.trim_start() }).to_string())
}

/// A choice answering exactly `text` after `reasoning` tokens, cut where `cap` (which
/// counts reasoning) runs out, as a real model's JSON is cut at `max_tokens`.
fn literal_plan(mut text: String, reasoning: u32, cap: Option<u32>) -> ChoicePlan {
    let full = tokens::estimate(&text);
    let room = cap.map(|c| u64::from(c.saturating_sub(reasoning)));
    let (tokens, finish_reason) = match room {
        Some(room) if room < full => {
            // Keep the share of characters the share of tokens allows.
            let keep = (text.len() as u64 * room / full.max(1)) as usize;
            let mut at = keep.min(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            text.truncate(at);
            (room, "length")
        }
        _ => (full, "stop"),
    };
    ChoicePlan {
        reasoning,
        output: Output::Literal(Pieces::new(text), tokens),
        finish_reason,
    }
}

/// Replace each choice's content with blanks of the same length, as DeepSeek's JSON mode
/// answers when its output is not JSON. Tool calls are left alone.
pub(crate) fn blank(choices: &mut [ChoicePlan]) {
    for c in choices {
        let n = match &c.output {
            Output::Text(n) => u64::from(*n),
            Output::Literal(_, n) => *n,
            Output::Tool(_) => continue,
        };
        c.output = Output::Literal(Pieces::new(" ".repeat(n as usize)), n);
    }
}

/// The function to call, if this turn should be a tool call: the request has tools, does
/// not forbid them, and the last message is the user's.
fn chosen_tool<'r>(req: &'r ChatRequest, target: &Target) -> Option<(&'r str, Option<&'r Value>)> {
    if !target.tools || !req.has_tools() {
        return None;
    }
    if req.messages.last().map(|m| m.role) != Some(Role::User) {
        return None;
    }
    let functions = req
        .tools
        .iter()
        .flatten()
        .filter_map(|t| t.function.as_ref());
    match &req.tool_choice {
        Some(Value::String(s)) if s == "none" => None,
        Some(Value::Object(choice)) => {
            let name = choice
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)?;
            let schema = functions
                .clone()
                .find(|f| f.name == name)
                .and_then(|f| f.parameters.as_ref());
            Some((name, schema))
        }
        _ => functions
            .clone()
            .next()
            .map(|f| (f.name.as_str(), f.parameters.as_ref())),
    }
}

/// `call_` and 24 random alphanumerics.
pub(crate) fn call_id(rng: &mut SmallRng) -> String {
    const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut id = String::with_capacity(29);
    id.push_str("call_");
    for _ in 0..24 {
        id.push(char::from(ALNUM[rng.random_range(0..ALNUM.len())]));
    }
    id
}

/// End offsets of ~8-character fragments, on character boundaries.
fn fragment_ends(args: &str) -> Vec<usize> {
    let mut ends = Vec::with_capacity(args.len() / ARG_FRAGMENT_CHARS + 1);
    let mut chars = 0;
    for (i, ch) in args.char_indices() {
        chars += 1;
        if chars == ARG_FRAGMENT_CHARS {
            ends.push(i + ch.len_utf8());
            chars = 0;
        }
    }
    if chars > 0 {
        ends.push(args.len());
    }
    ends
}

/// Arguments that satisfy the function's JSON schema, as compact JSON.
pub(crate) fn tool_arguments(schema: Option<&Value>) -> String {
    let value = match schema {
        Some(s) => value_for(s, 0),
        None => Value::Object(Map::new()),
    };
    // An object whose schema says nothing still needs to be an object.
    let value = if value.is_object() {
        value
    } else {
        Value::Object(Map::new())
    };
    value.to_string()
}

/// A value matching `schema`: enum → first value; string → "sim"; integer/number → 1;
/// boolean → true; array → []; object → its properties filled in (at the top level) or {}.
fn value_for(schema: &Value, depth: usize) -> Value {
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    if let Some(c) = schema.get("const") {
        return c.clone();
    }
    let kind = match schema.get("type") {
        Some(Value::String(t)) => Some(t.as_str()),
        // `["string", "null"]`: the first non-null type.
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null"),
        _ => None,
    };
    let kind = kind.or_else(|| schema.get("properties").map(|_| "object"));
    match kind {
        Some("integer") | Some("number") => Value::from(1),
        Some("boolean") => Value::Bool(true),
        Some("array") => Value::Array(Vec::new()),
        Some("null") => Value::Null,
        Some("object") => {
            let mut out = Map::new();
            if depth == 0
                && let Some(props) = schema.get("properties").and_then(Value::as_object)
            {
                for (name, sub) in props {
                    out.insert(name.clone(), value_for(sub, depth + 1));
                }
            }
            Value::Object(out)
        }
        _ => Value::String("sim".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::{DEFAULT_PROFILE, request_rng};
    use serde_json::json;

    fn target(reasoning: bool) -> Target {
        Target {
            key: "m".into(),
            upstream: "m".into(),
            profile: DEFAULT_PROFILE,
            max_output: 1000,
            vision: false,
            audio: false,
            tools: true,
            reasoning,
            json: true,
            json_schema: true,
        }
    }

    fn req(v: Value) -> ChatRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn every_word_is_one_token_with_a_leading_space_and_at_most_four_letters() {
        for w in WORDS {
            assert_eq!(tokens::estimate(w), 1, "{w:?}");
            let letters = w.strip_prefix(' ').unwrap();
            assert!(letters.len() <= 4 && letters.bytes().all(|b| b.is_ascii_lowercase()));
        }
    }

    #[test]
    fn generated_text_has_exactly_the_requested_token_count() {
        let mut rng = request_rng(1, 1);
        for n in [0, 1, 2, 17, 200, 4096] {
            let mut s = String::new();
            push_words(&mut s, n, &mut rng);
            assert_eq!(tokens::estimate(&s), u64::from(n));
        }
    }

    #[test]
    fn a_cap_the_answer_reaches_gives_exactly_that_many_completion_tokens_with_length() {
        let r = req(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 32}),
        );
        let p = plan(&r, &target(false), &mut request_rng(0, 0));
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].completion_tokens(), 32);
        assert_eq!(p[0].finish_reason, "length");
        let r = req(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 5000, "ignore_eos": true}),
        );
        let p = plan(&r, &target(false), &mut request_rng(0, 0));
        assert_eq!(p[0].completion_tokens(), 1000, "capped by max_output");
    }

    #[test]
    fn uncapped_length_is_drawn_in_range_and_stops() {
        let r = req(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "n": 3}));
        let p = plan(&r, &target(false), &mut request_rng(0, 9));
        assert_eq!(p.len(), 3);
        for c in &p {
            assert!((MIN_NATURAL..=MAX_NATURAL).contains(&(c.completion_tokens() as u32)));
            assert_eq!(c.finish_reason, "stop");
        }
    }

    #[test]
    fn a_generous_cap_is_rarely_reached_a_small_one_always_and_ignore_eos_always() {
        let ask = |extra: Value| {
            let mut v = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
            v.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            req(v)
        };
        let (generous, small, exact) = (
            ask(json!({"max_tokens": 4096})),
            ask(json!({"max_tokens": MIN_NATURAL})),
            ask(json!({"max_tokens": 4096, "ignore_eos": true})),
        );
        let mut stopped = 0;
        for i in 0..200 {
            let p = &plan(&generous, &target(false), &mut request_rng(7, i))[0];
            if p.finish_reason == "stop" {
                stopped += 1;
                assert!(p.completion_tokens() < 4096);
            }
            let p = &plan(&small, &target(false), &mut request_rng(7, i))[0];
            assert_eq!(
                (p.finish_reason, p.completion_tokens()),
                ("length", u64::from(MIN_NATURAL))
            );
            let p = &plan(&exact, &target(false), &mut request_rng(7, i))[0];
            assert_eq!(
                (p.finish_reason, p.completion_tokens()),
                ("length", 1000),
                "max_output caps it"
            );
        }
        assert!(
            stopped >= 195,
            "a 4,096-token cap cut {} of 200 answers",
            200 - stopped
        );
    }

    #[test]
    fn reasoning_models_write_longer_and_lengths_spread_around_the_models_median() {
        let r = req(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}));
        let mean = |t: &Target| {
            (0..400)
                .map(|i| plan(&r, t, &mut request_rng(3, i))[0].completion_tokens())
                .sum::<u64>() as f64
                / 400.0
        };
        let (plain, thinking) = (mean(&target(false)), mean(&target(true)));
        assert!(thinking > plain * 2.0, "{thinking} vs {plain}");
        let median = answer_median("m");
        assert!((100.0..=220.0).contains(&median));
        // A log-normal's mean is its median times e^(σ²/2) (σ 0.5: 1.13), less the floor's
        // pull.
        assert!(
            (plain / median - 1.13).abs() < 0.15,
            "mean {plain}, median {median}"
        );
    }

    #[test]
    fn reasoning_takes_about_forty_percent_and_leaves_content() {
        assert_eq!(reasoning_split(0), 0);
        assert_eq!(reasoning_split(1), 0);
        assert_eq!(reasoning_split(2), 1);
        assert_eq!(reasoning_split(3), 1);
        assert_eq!(reasoning_split(16), 6);
        assert_eq!(reasoning_split(100), 40);
        let r = req(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 24}),
        );
        let p = plan(&r, &target(true), &mut request_rng(0, 0));
        assert_eq!(p[0].reasoning, 9);
        assert_eq!(p[0].completion_tokens(), 24);
        let off = req(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 24, "thinking": {"type": "disabled"}}),
        );
        assert_eq!(
            plan(&off, &target(true), &mut request_rng(0, 0))[0].reasoning,
            0
        );
    }

    #[test]
    fn tool_arguments_match_the_schema() {
        let schema = json!({
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer"},
                "lat": {"type": "number"},
                "exact": {"type": "boolean"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "opts": {"type": "object", "properties": {"a": {"type": "string"}}},
                "maybe": {"type": ["null", "string"]}
            },
            "required": ["city"]
        });
        let args: Value = serde_json::from_str(&tool_arguments(Some(&schema))).unwrap();
        assert_eq!(
            args,
            json!({"city": "sim", "unit": "celsius", "days": 1, "lat": 1, "exact": true,
                   "tags": [], "opts": {}, "maybe": "sim"})
        );
        assert_eq!(tool_arguments(None), "{}");
        assert_eq!(tool_arguments(Some(&json!({"type": "object"}))), "{}");
    }

    #[test]
    fn tool_call_goes_to_the_first_tool_or_the_chosen_one() {
        let tools = json!([
            {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}},
            {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}}}
        ]);
        let msgs = json!([{"role": "user", "content": "weather?"}]);
        let r = req(json!({"model": "m", "messages": msgs, "tools": tools}));
        let p = plan(&r, &target(false), &mut request_rng(0, 0));
        let Output::Tool(call) = &p[0].output else {
            panic!("{p:?}")
        };
        assert_eq!(call.name, "get_weather");
        assert_eq!(call.arguments.text, r#"{"city":"sim"}"#);
        assert!(call.id.starts_with("call_") && call.id.len() == 29);
        assert_eq!(p[0].finish_reason, "tool_calls");
        assert_eq!(
            p[0].completion_tokens(),
            tokens::estimate("get_weather") + tokens::estimate(r#"{"city":"sim"}"#)
        );

        let r = req(json!({"model": "m", "messages": msgs, "tools": tools,
            "tool_choice": {"type": "function", "function": {"name": "get_time"}}}));
        let Output::Tool(call) = &plan(&r, &target(false), &mut request_rng(0, 0))[0].output else {
            panic!()
        };
        assert_eq!(call.name, "get_time");

        let r = req(json!({"model": "m", "messages": msgs, "tools": tools, "tool_choice": "none"}));
        assert!(matches!(
            plan(&r, &target(false), &mut request_rng(0, 0))[0].output,
            Output::Text(_)
        ));
    }

    #[test]
    fn after_a_tool_result_the_answer_is_text() {
        let r = req(json!({"model": "m", "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "w", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c", "content": "sunny"}
        ], "tools": [{"type": "function", "function": {"name": "w"}}]}));
        assert!(matches!(
            plan(&r, &target(false), &mut request_rng(0, 0))[0].output,
            Output::Text(_)
        ));
    }

    #[test]
    fn argument_fragments_cover_the_arguments_on_char_boundaries() {
        let args = r#"{"city":"杭州市西湖区","n":1}"#;
        let pieces = Pieces::new(args.into());
        let joined: String = (0..pieces.ends.len()).map(|i| pieces.piece(i)).collect();
        assert_eq!(joined, args);
        assert!(pieces.ends.len() >= 3);
        assert!(fragment_ends("").is_empty());
    }

    #[test]
    fn json_mode_answers_json_that_follows_the_schema_and_is_cut_at_the_cap() {
        let ask = |format: Value, cap: Option<u32>| {
            let mut v = json!({"model": "m", "messages": [{"role": "user", "content": "json"}],
                "response_format": format});
            if let Some(c) = cap {
                v["max_tokens"] = json!(c);
            }
            plan(&req(v), &target(false), &mut request_rng(0, 0)).remove(0)
        };
        let text = |p: &ChoicePlan| match &p.output {
            Output::Literal(t, _) => t.text.clone(),
            other => panic!("expected a literal answer, got {other:?}"),
        };
        let schema = json!({"type": "json_schema", "json_schema": {"name": "a", "schema":
            {"type": "object", "properties": {"city": {"type": "string"}, "n": {"type": "integer"}}}}});
        let p = ask(schema, None);
        let v: Value = serde_json::from_str(&text(&p)).unwrap();
        assert_eq!(v, json!({"city": "sim", "n": 1}));
        assert_eq!(p.finish_reason, "stop");
        assert_eq!(p.completion_tokens(), tokens::estimate(&text(&p)));

        let p = ask(json!({"type": "json_object"}), None);
        let v: Value = serde_json::from_str(&text(&p)).unwrap();
        assert!(v["answer"].as_str().is_some_and(|a| !a.is_empty()), "{v}");

        let cut = ask(json!({"type": "json_object"}), Some(3));
        assert_eq!(cut.finish_reason, "length");
        assert_eq!(cut.completion_tokens(), 3);
        assert!(serde_json::from_str::<Value>(&text(&cut)).is_err());
    }

    #[test]
    fn blanking_keeps_the_token_count_and_leaves_tool_calls() {
        let mut plans = vec![
            ChoicePlan {
                reasoning: 2,
                output: Output::Text(5),
                finish_reason: "stop",
            },
            ChoicePlan {
                reasoning: 0,
                output: Output::Tool(ToolCallPlan {
                    id: "c".into(),
                    name: "f".into(),
                    arguments: Pieces::new("{}".into()),
                }),
                finish_reason: "tool_calls",
            },
        ];
        let before: Vec<u64> = plans.iter().map(ChoicePlan::completion_tokens).collect();
        blank(&mut plans);
        assert_eq!(
            plans
                .iter()
                .map(ChoicePlan::completion_tokens)
                .collect::<Vec<_>>(),
            before
        );
        assert!(matches!(&plans[0].output, Output::Literal(t, 5) if t.text == "     "));
        assert!(matches!(plans[1].output, Output::Tool(_)));
    }
}
