//! What each vendor rejects, so that the gateway's normalisation is proven necessary.
//!
//! Common to all: empty `messages`, a silly `n`, image parts to a model without vision,
//! audio parts to a model without audio, a `response_format` the model does not honour
//! (and, on OpenAI and DashScope, JSON mode without the word "json" in the messages).
//! Then per dialect:
//! - **DeepSeek**: `role: "developer"` (and the legacy `function`); in thinking mode, an
//!   assistant tool-call turn without its `reasoning_content`;
//! - **Moonshot**: fixed sampling on K2.5 and later (temperature 1, or 0.6 with thinking
//!   off; top_p 0.95); `-code` models cannot switch thinking off; legacy models take
//!   temperature in [0, 1], and at least 0.3 when `n > 1`;
//! - **DashScope**: non-streaming calls to stream-only models (QwQ, QVQ, Omni, and the
//!   Qwen3 open-weight models while thinking); JSON output while thinking;
//! - **Zhipu**: one stop word, `tool_choice` only `"auto"`, temperature in (0, 1], top_p
//!   in [0.01, 1], no data-URI images.

use serde_json::Value;
use switchyard_wire::{ChatRequest, Content, Dialect, ResponseFormatKind, Role};

use crate::dialect::Failure;
use crate::generate::Target;

/// Largest `n` accepted.
pub(crate) const MAX_N: u32 = 128;

/// Check `req` against what `dialect` accepts for `target`.
pub(crate) fn check(dialect: Dialect, req: &ChatRequest, target: &Target) -> Result<(), Failure> {
    common(dialect, req, target)?;
    match dialect {
        Dialect::DeepSeek => deepseek(req, target),
        Dialect::Moonshot => moonshot(req, target),
        Dialect::Zhipu => zhipu(req),
        Dialect::DashScope => dashscope(req, target),
        Dialect::OpenAi => Ok(()),
    }
}

/// DashScope's stream-only models refuse non-streaming calls, and JSON output is for
/// non-thinking mode only (the documented rule; the message is ours).
fn dashscope(req: &ChatRequest, target: &Target) -> Result<(), Failure> {
    let thinking_off = req.thinking_disabled();
    if req.json_output().is_some() && target.reasoning && !thinking_off {
        return Err(Failure::invalid(
            "response_format json_object/json_schema is supported in non-thinking mode only; set enable_thinking to false",
        ));
    }
    if req.is_stream() || !Dialect::DashScope.requires_stream(&target.upstream, thinking_off) {
        return Ok(());
    }
    let only_stream = ["qwq", "qvq"]
        .iter()
        .any(|p| target.upstream.starts_with(p))
        || target.upstream.contains("-omni");
    Err(Failure::invalid(if only_stream {
        "This model only support stream mode, please enable the stream parameter to access the model."
    } else {
        "parameter.enable_thinking must be set to false for non-streaming calls"
    }))
}

fn common(dialect: Dialect, req: &ChatRequest, target: &Target) -> Result<(), Failure> {
    if req.messages.is_empty() {
        return Err(Failure::invalid(match dialect {
            Dialect::DeepSeek => "Empty input messages",
            _ => "messages must not be empty",
        }));
    }
    if let Some(n) = req.n
        && (n == 0 || n > MAX_N)
    {
        return Err(Failure::invalid(format!(
            "Invalid n value: {n}, n must be between 1 and {MAX_N}"
        )));
    }
    if req.has_images() && !target.vision {
        return Err(Failure::invalid(match dialect {
            Dialect::DeepSeek => "Failed to deserialize the JSON body into the target type: \
                messages: unknown variant `image_url`, expected `text`"
                .to_string(),
            _ => format!("The model {} does not support image input", target.upstream),
        }));
    }
    if req.has_audio() && !target.audio {
        return Err(Failure::invalid(match dialect {
            Dialect::DeepSeek => "Failed to deserialize the JSON body into the target type: \
                messages: unknown variant `input_audio`, expected `text`"
                .to_string(),
            _ => format!("The model {} does not support audio input", target.upstream),
        }));
    }
    json_mode(dialect, req, target)
}

/// `response_format`: the model must honour the JSON asked for, and (OpenAI, DashScope)
/// JSON mode needs the word "json" somewhere in the messages.
fn json_mode(dialect: Dialect, req: &ChatRequest, target: &Target) -> Result<(), Failure> {
    let Some(kind) = req.json_output() else {
        return Ok(());
    };
    let able = match kind {
        ResponseFormatKind::JsonSchema => target.json_schema,
        _ => target.json,
    };
    if !able {
        return Err(Failure::invalid(match dialect {
            Dialect::DeepSeek => "This response_format type is unavailable now".to_string(),
            _ => format!(
                "The model {} does not support response_format type {}",
                target.upstream,
                if kind == ResponseFormatKind::JsonSchema {
                    "json_schema"
                } else {
                    "json_object"
                }
            ),
        }));
    }
    let says_json = req
        .messages
        .iter()
        .any(|m| m.text_content().to_ascii_lowercase().contains("json"));
    if kind == ResponseFormatKind::JsonObject
        && matches!(dialect, Dialect::OpenAi | Dialect::DashScope)
        && !says_json
    {
        return Err(Failure::invalid(
            "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
        ));
    }
    Ok(())
}

fn deepseek(req: &ChatRequest, target: &Target) -> Result<(), Failure> {
    for (i, m) in req.messages.iter().enumerate() {
        let variant = match m.role {
            Role::Developer => "developer",
            Role::Function => "function",
            _ => continue,
        };
        return Err(Failure::invalid(format!(
            "Failed to deserialize the JSON body into the target type: messages[{i}].role: \
             unknown variant `{variant}`, expected one of `system`, `user`, `assistant`, `tool`"
        )));
    }
    if target.reasoning && !req.thinking_disabled() {
        let missing = req.messages.iter().any(|m| {
            m.role == Role::Assistant
                && m.tool_calls.as_ref().is_some_and(|c| !c.is_empty())
                && m.reasoning_content.is_none()
        });
        if missing {
            return Err(Failure::invalid(
                "The `reasoning_content` in the thinking mode must be passed back to the API.",
            ));
        }
    }
    Ok(())
}

/// Kimi models whose sampling parameters are fixed.
fn moonshot_fixed_sampling(upstream: &str) -> bool {
    ["kimi-k2.5", "kimi-k2.6", "kimi-k2.7", "kimi-k3"]
        .iter()
        .any(|p| upstream.starts_with(p))
}

fn moonshot(req: &ChatRequest, target: &Target) -> Result<(), Failure> {
    let upstream = target.upstream.as_str();
    if moonshot_fixed_sampling(upstream) {
        let off = req.thinking_disabled();
        if off && upstream.contains("-code") {
            return Err(Failure::invalid(format!(
                "invalid thinking: thinking cannot be disabled for model {upstream}"
            )));
        }
        let (allowed, shown) = if off { (0.6, "0.6") } else { (1.0, "1") };
        if req.temperature.is_some_and(|t| t != allowed) {
            return Err(Failure::invalid(format!(
                "invalid temperature: only {shown} is allowed for this model"
            )));
        }
        if req.top_p.is_some_and(|p| p != 0.95) {
            return Err(Failure::invalid(
                "invalid top_p: only 0.95 is allowed for this model",
            ));
        }
    } else if let Some(t) = req.temperature {
        if !(0.0..=1.0).contains(&t) {
            return Err(Failure::invalid(format!(
                "invalid temperature: {t}, must be in [0, 1]"
            )));
        }
        if t < 0.3 && req.n.unwrap_or(1) > 1 {
            return Err(Failure::invalid(format!(
                "invalid temperature: {t}, temperature must be at least 0.3 when n > 1"
            )));
        }
    }
    Ok(())
}

fn zhipu(req: &ChatRequest) -> Result<(), Failure> {
    if let Some(stop) = &req.stop {
        let n = stop.as_vec().len();
        if n > 1 {
            return Err(Failure::invalid(format!(
                "stop: only one stop word is supported, got {n}"
            )));
        }
    }
    match &req.tool_choice {
        None => {}
        Some(Value::String(s)) if s == "auto" => {}
        Some(other) => {
            return Err(Failure::invalid(format!(
                "tool_choice: only \"auto\" is supported, got {other}"
            )));
        }
    }
    if let Some(t) = req.temperature
        && !(t > 0.0 && t <= 1.0)
    {
        return Err(Failure::invalid(format!(
            "temperature: must be in (0, 1], got {t}"
        )));
    }
    if let Some(p) = req.top_p
        && !(0.01..=1.0).contains(&p)
    {
        return Err(Failure::invalid(format!(
            "top_p: must be in [0.01, 1], got {p}"
        )));
    }
    let data_uri = req.messages.iter().any(|m| match &m.content {
        Some(Content::Parts(parts)) => parts
            .iter()
            .any(|p| p.image_url().is_some_and(|u| u.starts_with("data:"))),
        _ => false,
    });
    if data_uri {
        return Err(Failure::invalid(
            "image_url: data URIs are not supported; send a URL or bare base64",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::DEFAULT_PROFILE;
    use serde_json::json;

    fn target(upstream: &str, reasoning: bool, vision: bool) -> Target {
        Target {
            key: upstream.into(),
            upstream: upstream.into(),
            profile: DEFAULT_PROFILE,
            max_output: 1000,
            vision,
            audio: false,
            tools: true,
            reasoning,
            json: true,
            json_schema: false,
        }
    }

    fn req(v: Value) -> ChatRequest {
        serde_json::from_value(v).unwrap()
    }

    fn message(r: Result<(), Failure>) -> String {
        match r {
            Err(Failure::InvalidRequest(m)) => m,
            other => panic!("expected InvalidRequest, got {other:?}"),
        }
    }

    #[test]
    fn deepseek_rejects_developer_role() {
        let r = req(
            json!({"model": "m", "messages": [{"role": "developer", "content": "x"}, {"role": "user", "content": "y"}]}),
        );
        let m = message(check(
            Dialect::DeepSeek,
            &r,
            &target("deepseek-chat", false, false),
        ));
        assert!(m.contains("messages[0].role: unknown variant `developer`, expected one of `system`, `user`, `assistant`, `tool`"), "{m}");
        assert!(check(Dialect::DashScope, &r, &target("q", false, false)).is_ok());
    }

    #[test]
    fn deepseek_thinking_needs_reasoning_content_on_tool_call_turns() {
        let body = json!({"model": "m", "messages": [
            {"role": "user", "content": "w?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c", "type": "function", "function": {"name": "w", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c", "content": "sun"}
        ]});
        let r = req(body.clone());
        let m = message(check(
            Dialect::DeepSeek,
            &r,
            &target("deepseek-reasoner", true, false),
        ));
        assert_eq!(
            m,
            "The `reasoning_content` in the thinking mode must be passed back to the API."
        );
        assert!(
            check(
                Dialect::DeepSeek,
                &r,
                &target("deepseek-chat", false, false)
            )
            .is_ok()
        );
        let mut off = body.clone();
        off["thinking"] = json!({"type": "disabled"});
        assert!(
            check(
                Dialect::DeepSeek,
                &req(off),
                &target("deepseek-reasoner", true, false)
            )
            .is_ok()
        );
        let mut with = body;
        with["messages"][1]["reasoning_content"] = json!(" ");
        assert!(
            check(
                Dialect::DeepSeek,
                &req(with),
                &target("deepseek-reasoner", true, false)
            )
            .is_ok()
        );
    }

    #[test]
    fn kimi_fixed_sampling_models_take_only_their_values() {
        let t = target("kimi-k2.5", true, true);
        let base = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
        let with = |k: &str, v: Value| {
            let mut b = base.clone();
            b[k] = v;
            req(b)
        };
        let m = message(check(
            Dialect::Moonshot,
            &with("temperature", json!(0.7)),
            &t,
        ));
        assert_eq!(m, "invalid temperature: only 1 is allowed for this model");
        assert!(check(Dialect::Moonshot, &with("temperature", json!(1.0)), &t).is_ok());
        assert!(
            message(check(Dialect::Moonshot, &with("top_p", json!(0.9)), &t)).contains("top_p")
        );
        assert!(check(Dialect::Moonshot, &with("top_p", json!(0.95)), &t).is_ok());
        let mut off = base.clone();
        off["thinking"] = json!({"type": "disabled"});
        off["temperature"] = json!(0.6);
        assert!(check(Dialect::Moonshot, &req(off.clone()), &t).is_ok());
        off["temperature"] = json!(1.0);
        assert!(message(check(Dialect::Moonshot, &req(off), &t)).contains("only 0.6"));
        // Legacy model: any temperature in [0, 1].
        assert!(
            check(
                Dialect::Moonshot,
                &with("temperature", json!(0.2)),
                &target("moonshot-v1-8k", false, false)
            )
            .is_ok()
        );
        let mut n2 = base;
        n2["temperature"] = json!(0.1);
        n2["n"] = json!(2);
        assert!(
            check(
                Dialect::Moonshot,
                &req(n2),
                &target("moonshot-v1-8k", false, false)
            )
            .is_err()
        );
    }

    #[test]
    fn zhipu_rejects_what_glm_rejects_with_clear_messages() {
        let t = target("glm-4.6v", false, true);
        let cases = [
            (json!({"stop": ["a", "b"]}), "stop"),
            (json!({"tool_choice": "required"}), "tool_choice"),
            (json!({"temperature": 0.0}), "temperature"),
            (json!({"temperature": 1.5}), "temperature"),
            (json!({"top_p": 0.001}), "top_p"),
            (
                json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]}),
                "data URI",
            ),
        ];
        for (extra, needle) in cases {
            let mut b = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
            for (k, v) in extra.as_object().unwrap() {
                b[k] = v.clone();
            }
            let m = message(check(Dialect::Zhipu, &req(b), &t));
            assert!(m.contains(needle), "{m}");
        }
        let ok = req(
            json!({"model": "m", "stop": "END", "tool_choice": "auto", "temperature": 1.0, "top_p": 0.01,
            "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]}),
        );
        assert!(check(Dialect::Zhipu, &ok, &t).is_ok());
    }

    #[test]
    fn dashscope_stream_only_models_refuse_non_streaming_calls() {
        let plain = req(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}));
        let msg = message(check(
            Dialect::DashScope,
            &plain,
            &target("qwen3-32b", true, false),
        ));
        assert!(
            msg.contains("enable_thinking must be set to false"),
            "{msg}"
        );
        let msg = message(check(
            Dialect::DashScope,
            &plain,
            &target("qwen3-omni-30b-a3b-instruct", false, true),
        ));
        assert!(msg.contains("only support stream mode"), "{msg}");
        let streamed = req(
            json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
        );
        assert!(
            check(
                Dialect::DashScope,
                &streamed,
                &target("qwen3-32b", true, false)
            )
            .is_ok()
        );
        let thinking_off = req(
            json!({"model": "m", "enable_thinking": false, "messages": [{"role": "user", "content": "hi"}]}),
        );
        assert!(
            check(
                Dialect::DashScope,
                &thinking_off,
                &target("qwen3-32b", true, false)
            )
            .is_ok()
        );
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
}
