//! Each vendor dialect over real HTTP: where usage goes, stream shapes, ids, keep-alives,
//! cache fields, tool calls, and usage that matches the text.
#![expect(
    clippy::unwrap_used,
    reason = "a test crate: a failed unwrap is a failed test"
)]

mod common;

use std::time::Duration;

use common::{json_body, read_stream, start, user};
use serde_json::{Value, json};
use switchyard_wire::{ChatChunk, ChatCompletion, Dialect, StreamNormalizer, tokens};

const TOOLS: &str = r#"[
  {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
    "required": ["city"]}}},
  {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object",
    "properties": {"city": {"type": "string"}}}}}
]"#;

fn tools() -> Value {
    serde_json::from_str(TOOLS).unwrap()
}

#[tokio::test]
async fn kimi_stream_puts_usage_in_choices_0_usage_of_the_final_chunk() {
    let sim = start(0.0).await;
    let body =
        json!({"model": "kimi-k2.5", "messages": user("hi"), "max_tokens": 10, "stream": true});
    let s = read_stream(sim.chat("moonshot", &body).await).await;
    assert!(s.done());
    let chunks = s.chunks();
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "length");
    let usage = &last["choices"][0]["usage"];
    assert_eq!(usage["completion_tokens"], 10);
    assert_eq!(
        usage["total_tokens"],
        usage["prompt_tokens"].as_u64().unwrap() + 10
    );
    assert!(
        usage.get("cached_tokens").is_some(),
        "Kimi reports cached_tokens: {usage}"
    );
    assert!(
        chunks.iter().all(|c| c.get("usage").is_none()),
        "no top-level usage"
    );
    // Thinking model: reasoning first, then content, 10 tokens in all.
    let reasoning = s.text("reasoning_content", 0);
    let content = s.text("content", 0);
    assert_eq!(tokens::estimate(&reasoning), 4);
    assert_eq!(tokens::estimate(&content), 6);
}

#[tokio::test]
async fn kimi_streamed_tool_call_omits_the_index() {
    let sim = start(0.0).await;
    let body = json!({"model": "kimi-k2.5", "messages": user("weather in Hangzhou?"), "tools": tools(),
        "stream": true, "thinking": {"type": "disabled"}});
    let s = read_stream(sim.chat("moonshot", &body).await).await;
    let calls: Vec<Value> = s
        .chunks()
        .iter()
        .filter_map(|c| c["choices"][0]["delta"].get("tool_calls").cloned())
        .collect();
    assert!(calls.len() >= 2);
    assert!(
        calls.iter().all(|c| c[0].get("index").is_none()),
        "{calls:?}"
    );
    // Our normaliser restores the index, so the pieces still assemble.
    let mut norm = StreamNormalizer::new();
    let mut args = String::new();
    for c in s.chunks() {
        let mut chunk: ChatChunk = serde_json::from_value(c).unwrap();
        norm.apply(&mut chunk).unwrap();
        for ch in &chunk.choices {
            for call in ch.delta.tool_calls.iter().flatten() {
                assert_eq!(call.index, Some(0));
                args.push_str(
                    call.function
                        .as_ref()
                        .and_then(|f| f.arguments.as_deref())
                        .unwrap_or(""),
                );
            }
        }
    }
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        json!({"city": "sim", "unit": "celsius"})
    );
    assert!(norm.usage().is_some_and(|u| u.completion > 0));
}

#[tokio::test]
async fn qwen_stream_has_trailing_usage_chunk_only_with_include_usage() {
    let sim = start(0.0).await;
    let base =
        json!({"model": "qwen-plus", "messages": user("hi"), "max_tokens": 6, "stream": true});

    let plain = read_stream(sim.chat("dashscope", &base).await).await;
    let chunks = plain.chunks();
    assert!(plain.done());
    for c in &chunks {
        assert!(
            c["usage"].is_null() && c.get("usage").is_some(),
            "usage:null on every chunk: {c}"
        );
        assert!(c.get("system_fingerprint").is_some() && c["system_fingerprint"].is_null());
        assert!(c["id"].as_str().unwrap().starts_with("chatcmpl-"));
        assert!(!c["choices"].as_array().unwrap().is_empty());
    }
    let finish = chunks.last().unwrap();
    assert_eq!(finish["choices"][0]["finish_reason"], "length");

    let mut with = base.clone();
    with["stream_options"] = json!({"include_usage": true});
    let s = read_stream(sim.chat("dashscope", &with).await).await;
    let chunks = s.chunks();
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["completion_tokens"], 6);
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "length");
    assert!(
        finish["usage"].is_null(),
        "the finish chunk still has usage:null"
    );
}

#[tokio::test]
async fn glm_stream_puts_usage_on_the_finish_chunk_and_repeats_role() {
    let sim = start(0.0).await;
    let body =
        json!({"model": "glm-4.5-flash", "messages": user("hi"), "max_tokens": 8, "stream": true});
    let s = read_stream(sim.chat("zhipu", &body).await).await;
    assert!(s.done());
    let chunks = s.chunks();
    for c in &chunks {
        assert_eq!(
            c["choices"][0]["delta"]["role"], "assistant",
            "role on every delta: {c}"
        );
        assert!(c.get("object").is_none(), "GLM omits object: {c}");
    }
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "length");
    assert_eq!(last["usage"]["completion_tokens"], 8);
    assert!(
        chunks[..chunks.len() - 1]
            .iter()
            .all(|c| c.get("usage").is_none())
    );
}

#[tokio::test]
async fn openai_and_deepseek_streams_send_usage_only_when_asked() {
    let sim = start(0.0).await;
    for (provider, model) in [
        ("openai", "any-model-at-all"),
        ("deepseek", "deepseek-chat"),
    ] {
        let base = json!({"model": model, "messages": user("hi"), "max_tokens": 5, "stream": true});
        let plain = read_stream(sim.chat(provider, &base).await).await;
        assert!(
            plain.chunks().iter().all(|c| c.get("usage").is_none()),
            "{provider}"
        );
        let mut with = base.clone();
        with["stream_options"] = json!({"include_usage": true});
        let s = read_stream(sim.chat(provider, &with).await).await;
        let chunks = s.chunks();
        let last = chunks.last().unwrap();
        assert_eq!(last["choices"], json!([]), "{provider}");
        assert_eq!(last["usage"]["completion_tokens"], 5, "{provider}");
        assert_eq!(
            chunks[0]["choices"][0]["delta"],
            json!({"role": "assistant", "content": ""})
        );
        assert_eq!(
            s.text("content", 0).split(' ').count(),
            6,
            "one word per token"
        );
        assert_eq!(chunks[0]["model"], model);
    }
}

#[tokio::test]
async fn deepseek_reports_cache_hit_and_miss_on_a_repeated_prompt() {
    let sim = start(0.0).await;
    let system = "You are a careful assistant. ".repeat(40);
    let body = json!({"model": "deepseek-v4-flash", "max_tokens": 4, "messages": [
        {"role": "system", "content": system}, {"role": "user", "content": "hi"}]});
    let first = json_body(sim.chat("deepseek", &body).await).await;
    assert_eq!(first["usage"]["prompt_cache_hit_tokens"], 0);
    assert_eq!(
        first["usage"]["prompt_cache_miss_tokens"],
        first["usage"]["prompt_tokens"]
    );

    let second = json_body(sim.chat("deepseek", &body).await).await;
    let u = &second["usage"];
    let prompt = u["prompt_tokens"].as_u64().unwrap();
    let hit = u["prompt_cache_hit_tokens"].as_u64().unwrap();
    let system_tokens = tokens::estimate(&system) + tokens::PER_MESSAGE_OVERHEAD;
    assert_eq!(hit, system_tokens / 64 * 64);
    assert!(hit > 0);
    assert_eq!(
        u["prompt_cache_miss_tokens"].as_u64().unwrap(),
        prompt - hit
    );
    assert_eq!(
        u["prompt_tokens_details"]["cached_tokens"]
            .as_u64()
            .unwrap(),
        hit
    );
    assert!(second["id"].as_str().unwrap().len() == 36, "UUID-like id");
    assert!(
        second["system_fingerprint"]
            .as_str()
            .unwrap()
            .ends_with("_prod0820_fp8_kvcache")
    );
}

#[tokio::test]
async fn deepseek_stream_sends_keepalive_comments_while_waiting() {
    let sim = start(0.05).await;
    let body = json!({"model": "deepseek-reasoner", "messages": user("hi"), "max_tokens": 4, "stream": true});
    let s = read_stream(sim.chat("deepseek", &body).await).await;
    assert!(s.done());
    assert!(s.comments() >= 1, "no keep-alive: {:?}", s.events);
    let first_data = s
        .events
        .iter()
        .position(|e| matches!(e, switchyard_wire::SseEvent::Data { .. }))
        .unwrap();
    assert_eq!(
        s.comments(),
        first_data,
        "keep-alives only come before the first chunk"
    );

    // Other vendors send none.
    let body =
        json!({"model": "qwen-plus", "messages": user("hi"), "max_tokens": 4, "stream": true});
    let s = read_stream(sim.chat("dashscope", &body).await).await;
    assert_eq!(s.comments(), 0);
}

#[tokio::test]
async fn deepseek_non_streaming_body_starts_with_blank_lines_while_waiting() {
    let sim = start(0.05).await;
    let body = json!({"model": "deepseek-chat", "messages": user("hi"), "max_tokens": 4});
    let r = sim.chat("deepseek", &body).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.starts_with('\n'), "{text:?}");
    let json: Value = serde_json::from_str(text.trim_start()).unwrap();
    assert_eq!(json["usage"]["completion_tokens"], 4);
}

#[tokio::test]
async fn paced_stream_takes_about_the_modelled_time() {
    let sim = start(0.02).await;
    let body =
        json!({"model": "qwen-plus", "messages": user("hi"), "max_tokens": 60, "stream": true});
    let t0 = tokio::time::Instant::now();
    let s = read_stream(sim.chat("dashscope", &body).await).await;
    let took = t0.elapsed();
    assert!(s.done());
    // qwen-plus: 1000 ms to first token, 60 tok/s → ~2 s at scale 1, ~40 ms at 0.02.
    assert!(took >= Duration::from_millis(15), "{took:?}");
    assert!(took < Duration::from_millis(1500), "{took:?}");
}

#[tokio::test]
async fn non_streaming_usage_matches_the_token_count_of_the_text_in_every_dialect() {
    let sim = start(0.0).await;
    for (provider, model) in [
        ("deepseek", "deepseek-reasoner"),
        ("dashscope", "qwen-plus"),
        ("moonshot", "kimi-k2-turbo-preview"),
        ("zhipu", "glm-4.5-flash"),
        ("openai", "gpt-sim"),
    ] {
        let body = json!({"model": model, "messages": user("Say hello."), "n": 2});
        let r = sim.chat(provider, &body).await;
        assert_eq!(r.status(), 200, "{provider}");
        let header = common::dialect_of(provider).request_id_header();
        assert!(
            r.headers().contains_key(header),
            "{provider} lacks {header}"
        );
        let v = json_body(r).await;
        let resp: ChatCompletion = serde_json::from_value(v.clone()).unwrap();
        let mut completion = 0;
        let mut reasoning = 0;
        for (i, c) in resp.choices.iter().enumerate() {
            assert_eq!(c.index as usize, i);
            assert_eq!(c.finish_reason.as_deref(), Some("stop"));
            let text_tokens = tokens::estimate(&c.message.text_content());
            let r = tokens::estimate(c.message.reasoning_content.as_deref().unwrap_or(""));
            assert!(text_tokens > 0, "{provider}");
            completion += text_tokens + r;
            reasoning += r;
        }
        let u = resp.usage.unwrap().normalize();
        assert_eq!(u.completion, completion, "{provider}");
        assert_eq!(u.reasoning, reasoning, "{provider}");
        assert_eq!(
            u.prompt,
            3 + 4 + tokens::estimate("Say hello."),
            "{provider}"
        );
        assert_eq!(
            reasoning > 0,
            // qwen-plus, kimi-k2-turbo and the generic model do not think by default
            // (DashScope's thinking models refuse non-streaming calls).
            !matches!(provider, "moonshot" | "openai" | "dashscope"),
            "{provider}"
        );
        assert_eq!(
            v["usage"].get("cached_tokens").is_some(),
            provider == "moonshot"
        );
    }
}

#[tokio::test]
async fn same_seed_gives_the_same_answers() {
    let a = start(0.0).await;
    let b = start(0.0).await;
    let body = json!({"model": "qwen-plus", "messages": user("hi")});
    for _ in 0..3 {
        let x = json_body(a.chat("dashscope", &body).await).await;
        let y = json_body(b.chat("dashscope", &body).await).await;
        assert_eq!(x["choices"], y["choices"]);
        assert_eq!(x["id"], y["id"]);
    }
}

#[tokio::test]
async fn tool_call_then_tool_result_gives_text() {
    let sim = start(0.0).await;
    let ask = json!({"role": "user", "content": "weather in Hangzhou?"});
    let first = json_body(
        sim.chat(
            "deepseek",
            &json!({"model": "deepseek-reasoner", "messages": [ask], "tools": tools()}),
        )
        .await,
    )
    .await;
    let choice = &first["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    assert!(call["id"].as_str().unwrap().starts_with("call_"));
    let args = call["function"]["arguments"].as_str().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(args).unwrap(),
        json!({"city": "sim", "unit": "celsius"})
    );
    let reasoning = choice["message"]["reasoning_content"].as_str().unwrap();
    assert_eq!(
        first["usage"]["completion_tokens"].as_u64().unwrap(),
        tokens::estimate("get_weather") + tokens::estimate(args) + tokens::estimate(reasoning)
    );

    let second = json_body(
        sim.chat(
            "deepseek",
            &json!({"model": "deepseek-reasoner", "tools": tools(), "messages": [
                ask,
                {"role": "assistant", "content": "", "reasoning_content": reasoning, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": call["id"], "content": "{\"temp_c\": 21}"}
            ]}),
        )
        .await,
    )
    .await;
    assert_eq!(second["choices"][0]["finish_reason"], "stop");
    assert!(second["choices"][0]["message"].get("tool_calls").is_none());
    assert!(
        !second["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn streamed_tool_call_starts_with_id_and_name_then_argument_fragments() {
    let sim = start(0.0).await;
    let body = json!({"model": "deepseek-v4-flash", "messages": user("weather?"), "tools": tools(),
        "tool_choice": {"type": "function", "function": {"name": "get_time"}}, "stream": true});
    let s = read_stream(sim.chat("deepseek", &body).await).await;
    let deltas: Vec<Value> = s
        .chunks()
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0).cloned())
        .collect();
    let first = &deltas[0];
    assert_eq!(first["index"], 0);
    assert_eq!(first["type"], "function");
    assert_eq!(first["function"]["name"], "get_time");
    assert_eq!(first["function"]["arguments"], "");
    assert!(first["id"].as_str().unwrap().starts_with("call_"));
    let args: String = deltas[1..]
        .iter()
        .map(|d| {
            assert_eq!(d["index"], 0);
            assert!(d.get("id").is_none());
            d["function"]["arguments"].as_str().unwrap().to_string()
        })
        .collect();
    assert!(
        deltas[1..]
            .iter()
            .all(|d| d["function"]["arguments"].as_str().unwrap().chars().count() <= 8)
    );
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        json!({"city": "sim"})
    );
    let finish: Vec<Value> = s
        .chunks()
        .iter()
        .map(|c| c["choices"][0]["finish_reason"].clone())
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finish, vec![json!("tool_calls")]);
}

#[tokio::test]
async fn every_provider_answers_on_its_own_path_prefix() {
    let sim = start(0.0).await;
    for (provider, dialect, path) in [
        (
            "deepseek",
            Dialect::DeepSeek,
            "/deepseek/global/chat/completions",
        ),
        (
            "deepseek",
            Dialect::DeepSeek,
            "/deepseek/global/v1/chat/completions",
        ),
        (
            "dashscope",
            Dialect::DashScope,
            "/dashscope/beijing/compatible-mode/v1/chat/completions",
        ),
        (
            "moonshot",
            Dialect::Moonshot,
            "/moonshot/cn/v1/chat/completions",
        ),
        (
            "zhipu",
            Dialect::Zhipu,
            "/zhipu/cn/api/paas/v4/chat/completions",
        ),
        (
            "openai",
            Dialect::OpenAi,
            "/openai/local/v1/chat/completions",
        ),
    ] {
        let model = match provider {
            "deepseek" => "deepseek-chat",
            "dashscope" => "qwen-plus",
            "moonshot" => "kimi-k2-turbo-preview",
            "zhipu" => "glm-4.6",
            _ => "whatever",
        };
        let r = sim
            .http
            .post(sim.admin(path))
            .bearer_auth("k")
            .body(json!({"model": model, "messages": user("hi"), "max_tokens": 3}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(
            r.headers().contains_key(dialect.request_id_header()),
            "{path}"
        );
        assert_eq!(
            json_body(r).await["usage"]["completion_tokens"],
            3,
            "{path}"
        );
    }
}

#[tokio::test]
async fn models_endpoint_lists_the_providers_upstream_ids() {
    let sim = start(0.0).await;
    let url = format!(
        "{}/models",
        sim.handle.base_url("deepseek", "global", Dialect::DeepSeek)
    );
    let v = json_body(sim.http.get(&url).bearer_auth("k").send().await.unwrap()).await;
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"deepseek-reasoner") && ids.contains(&"deepseek-chat"),
        "{ids:?}"
    );
    assert!(!ids.iter().any(|i| i.starts_with("qwen")));
    assert_eq!(sim.http.get(&url).send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn stats_count_requests_per_provider_region_and_model_and_tokens() {
    let sim = start(0.0).await;
    let body = json!({"model": "glm-4.6", "messages": user("hi"), "max_tokens": 7});
    for region in ["cn", "cn", "global"] {
        assert_eq!(sim.chat_in("zhipu", region, &body).await.status(), 200);
    }
    let bad = json!({"model": "glm-4.6", "messages": user("hi"), "stop": ["a", "b"]});
    assert_eq!(sim.chat_in("zhipu", "cn", &bad).await.status(), 400);
    let v = sim.stats().await;
    assert_eq!(v["requests"], 4);
    assert_eq!(v["ok"], 3);
    assert_eq!(v["errors"], 1);
    assert_eq!(v["providers"]["zhipu"]["cn"]["models"]["glm-4.6"], 3);
    assert_eq!(v["providers"]["zhipu"]["cn"]["errors"], 1);
    assert_eq!(v["providers"]["zhipu"]["global"]["requests"], 1);
    assert_eq!(v["completion_tokens"], 21);
    assert_eq!(v["prompt_tokens"], 3 * (3 + 4 + 1));
}
