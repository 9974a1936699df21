//! Gateway ↔ simulator, one dialect at a time: the simulator enforces each vendor's
//! documented restrictions and places usage where each vendor does, so these tests fail
//! if the gateway's normalisation is missing or wrong.

use crate::common;
use crate::common::{ask, start, streamed_text, weather_tool};
use serde_json::{Value, json};

fn stream_req(model: &str, include_usage: Option<bool>) -> Value {
    let mut body = json!({"model": model, "messages": [{"role": "user", "content": "count to five"}],
        "max_tokens": 12, "stream": true});
    if let Some(u) = include_usage {
        body["stream_options"] = json!({"include_usage": u});
    }
    body
}

/// Usage chunk rules the client relies on: exactly one trailing `choices:[]` chunk with
/// usage when asked, none otherwise, and no usage on any other chunk.
fn assert_usage_placement(chunks: &[Value], asked: bool, completion: u64) {
    let with_usage: Vec<&Value> = chunks.iter().filter(|c| !c["usage"].is_null()).collect();
    if asked {
        assert_eq!(with_usage.len(), 1, "exactly one usage chunk: {chunks:?}");
        let last = chunks.last().unwrap();
        assert_eq!(last["choices"], json!([]));
        let u = &last["usage"];
        assert_eq!(u["completion_tokens"], completion);
        assert_eq!(
            u["total_tokens"].as_u64().unwrap(),
            u["prompt_tokens"].as_u64().unwrap() + completion
        );
        assert!(u["prompt_tokens_details"]["cached_tokens"].is_u64());
        assert!(u["completion_tokens_details"]["reasoning_tokens"].is_u64());
    } else {
        assert!(
            with_usage.is_empty(),
            "usage leaked to a client that did not ask: {with_usage:?}"
        );
        assert!(
            chunks
                .iter()
                .all(|c| !c["choices"].as_array().unwrap().is_empty())
        );
    }
}

#[tokio::test]
async fn every_family_streams_usage_only_when_asked() {
    let gw = start().await;
    for model in [
        "deepseek-v4-flash",
        "qwen3-32b",
        "kimi-k2.6",
        "glm-4.5-flash",
    ] {
        for asked in [true, false] {
            let r = gw.chat(stream_req(model, Some(asked))).await;
            assert_eq!(
                r.status,
                200,
                "{model}: {}",
                String::from_utf8_lossy(&r.body)
            );
            assert!(r.ends_with_done(), "{model} stream must end with [DONE]");
            let chunks = r.chunks();
            assert!(
                chunks.iter().all(|c| c["model"] == model),
                "{model}: model renamed canonically"
            );
            assert_usage_placement(&chunks, asked, 12);
        }
    }
}

#[tokio::test]
async fn non_streaming_usage_is_normalised_for_every_family() {
    let gw = start().await;
    for model in ["deepseek-v3.2", "qwen3-8b", "kimi-k2.5", "glm-4.6"] {
        let r = gw.chat(ask(model, "hello there")).await;
        assert_eq!(
            r.status,
            200,
            "{model}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let v = r.json();
        assert_eq!(v["model"], model);
        assert_eq!(v["usage"]["completion_tokens"], 8);
        assert!(
            v["usage"].get("prompt_cache_hit_tokens").is_none(),
            "vendor fields are folded in"
        );
        assert!(r.header("x-switchyard-provider").is_some());
    }
}

#[tokio::test]
async fn deepseek_cache_hits_reach_cached_tokens() {
    let gw = start().await;
    let system = "You are a careful assistant. ".repeat(40);
    let body = json!({"model": "deepseek-v4-flash", "max_tokens": 4, "messages": [
        {"role": "system", "content": system}, {"role": "user", "content": "hi"}]});
    let first = gw.chat(body.clone()).await.json();
    let second = gw.chat(body).await.json();
    assert_eq!(first["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
    let cached = second["usage"]["prompt_tokens_details"]["cached_tokens"]
        .as_u64()
        .unwrap();
    assert!(
        cached > 0 && cached % 64 == 0,
        "DeepSeek caches in 64-token units: {cached}"
    );
}

#[tokio::test]
async fn deepseek_accepts_developer_role_through_the_gateway() {
    let gw = start().await;
    let r = gw
        .chat(
            json!({"model": "deepseek-v4-flash", "max_tokens": 4, "messages": [
            {"role": "developer", "content": "be brief"}, {"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

#[tokio::test]
async fn deepseek_reasoner_tool_turn_without_reasoning_is_repaired() {
    let gw = start().await;
    let first = gw
        .chat(
            json!({"model": "deepseek-r1", "max_tokens": 64, "tools": [weather_tool()],
            "messages": [{"role": "user", "content": "weather in Paris?"}]}),
        )
        .await;
    assert_eq!(
        first.status,
        200,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let msg = first.json()["choices"][0]["message"].clone();
    assert!(
        msg["reasoning_content"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );
    let call = msg["tool_calls"][0].clone();
    // The client sends the assistant turn back WITHOUT reasoning_content, as most SDK users do.
    let second = gw
        .chat(json!({"model": "deepseek-r1", "max_tokens": 16, "tools": [weather_tool()], "messages": [
            {"role": "user", "content": "weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [call.clone()]},
            {"role": "tool", "tool_call_id": call["id"], "content": "sunny, 21C"}]}))
        .await;
    assert_eq!(
        second.status,
        200,
        "{}",
        String::from_utf8_lossy(&second.body)
    );
    assert_eq!(second.json()["choices"][0]["finish_reason"], "length");
}

#[tokio::test]
async fn kimi_fixed_sampling_is_adjusted_and_reported() {
    let gw = start().await;
    let mut body = ask("kimi-k2.5", "hi");
    body["temperature"] = json!(0.2);
    body["top_p"] = json!(0.5);
    let r = gw.chat(body).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let adjusted = r.header("x-switchyard-adjusted").unwrap_or_default();
    assert!(
        adjusted.contains("temperature") && adjusted.contains("top_p"),
        "{adjusted}"
    );
}

#[tokio::test]
async fn kimi_streamed_tool_calls_get_their_missing_index() {
    let gw = start().await;
    let r = gw
        .chat(
            json!({"model": "kimi-k2.6", "stream": true, "tools": [weather_tool()],
            "messages": [{"role": "user", "content": "weather in Oslo?"}]}),
        )
        .await;
    assert_eq!(r.status, 200);
    let deltas: Vec<Value> = r
        .chunks()
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].as_array().cloned())
        .flatten()
        .collect();
    assert!(!deltas.is_empty());
    assert!(deltas.iter().all(|d| d["index"] == 0), "{deltas:?}");
    let args: String = deltas
        .iter()
        .filter_map(|d| d["function"]["arguments"].as_str())
        .collect();
    let parsed: Value = serde_json::from_str(&args).unwrap();
    assert_eq!(parsed["city"], "sim");
}

#[tokio::test]
async fn glm_stop_words_tool_choice_and_data_uri_images_are_adapted() {
    let gw = start().await;
    let r = gw
        .chat(json!({"model": "glm-4.6v", "max_tokens": 6, "stop": ["END", "STOP"], "tool_choice": "required",
            "tools": [weather_tool()], "temperature": 0,
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}]}))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let adjusted = r.header("x-switchyard-adjusted").unwrap_or_default();
    for field in ["stop", "tool_choice", "temperature", "messages"] {
        assert!(
            adjusted.contains(field),
            "{field} not reported in {adjusted}"
        );
    }
}

#[tokio::test]
async fn glm_stream_sends_role_once() {
    let gw = start().await;
    let r = gw.chat(stream_req("glm-4.5-air", None)).await;
    let chunks = r.chunks();
    let roles = chunks
        .iter()
        .filter(|c| !c["choices"][0]["delta"]["role"].is_null())
        .count();
    assert_eq!(roles, 1);
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    let words = streamed_text(&chunks, "content").split_whitespace().count()
        + streamed_text(&chunks, "reasoning_content")
            .split_whitespace()
            .count();
    assert_eq!(
        words, 12,
        "every completion token arrives, reasoning included"
    );
}

#[tokio::test]
async fn reasoning_content_streams_before_content() {
    let gw = start().await;
    let r = gw.chat(stream_req("deepseek-r1", Some(true))).await;
    let chunks = r.chunks();
    let first_content = chunks.iter().position(|c| {
        c["choices"][0]["delta"]["content"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    });
    let last_reasoning = chunks.iter().rposition(|c| {
        c["choices"][0]["delta"]["reasoning_content"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    });
    assert!(last_reasoning.unwrap() < first_content.unwrap());
    let usage = &chunks.last().unwrap()["usage"];
    assert!(
        usage["completion_tokens_details"]["reasoning_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[tokio::test]
async fn deepseek_keepalive_comments_while_queued_reach_the_client() {
    // Realistic timing: DeepSeek sends `: keep-alive` every 500 ms until the first token
    // (deepseek-r1's typical TTFT is 1.1 s). The draw is seeded, so this is deterministic.
    let gw = common::start_with(1.0, |_| {}).await;
    let mut body = stream_req("deepseek-r1", Some(true));
    body["max_tokens"] = json!(2);
    let r = gw.chat(body).await;
    assert_eq!(r.status, 200);
    let events = r.events();
    let first_data = events
        .iter()
        .position(|e| matches!(e, switchyard_wire::SseEvent::Data { .. }))
        .unwrap();
    assert!(
        events[..first_data]
            .iter()
            .any(|e| matches!(e, switchyard_wire::SseEvent::Comment(c) if c == "keep-alive")),
        "keep-alive comments are forwarded before the first chunk: {events:?}"
    );
    assert!(r.ends_with_done());
}

#[tokio::test]
async fn stream_only_qwen_models_answer_non_streaming_clients_in_one_piece() {
    let gw = start().await;
    // qwen3-32b thinks by default, and DashScope then refuses non-streaming calls.
    let r = gw
        .chat(json!({"model": "qwen3-32b", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        r.header("x-switchyard-adjusted")
            .unwrap_or_default()
            .contains("stream")
    );
    let v = r.json();
    assert_eq!(v["object"], "chat.completion");
    let msg = &v["choices"][0]["message"];
    let words = msg["content"]
        .as_str()
        .unwrap_or("")
        .split_whitespace()
        .count()
        + msg["reasoning_content"]
            .as_str()
            .unwrap_or("")
            .split_whitespace()
            .count();
    assert_eq!(
        words, 10,
        "every streamed token is in the assembled reply: {msg}"
    );
    assert_eq!(v["usage"]["completion_tokens"], 10);
    assert!(
        v["usage"]["completion_tokens_details"]["reasoning_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );

    // Tool calls are assembled too.
    let r = gw
        .chat(json!({"model": "qwen3-32b", "tools": [weather_tool()],
            "messages": [{"role": "user", "content": "weather in Rome?"}]}))
        .await;
    let v = r.json();
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    let args = v["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
        .as_str()
        .unwrap();
    assert_eq!(serde_json::from_str::<Value>(args).unwrap()["city"], "sim");

    // With thinking off the model takes a plain call, and the gateway does not stream.
    let r = gw
        .chat(
            json!({"model": "qwen3-32b", "max_tokens": 4, "enable_thinking": false,
            "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.header("x-switchyard-adjusted").is_none());
}

#[tokio::test]
async fn qwen_json_output_switches_thinking_off_and_returns_json() {
    let gw = start().await;
    let mut body = ask("qwen3-32b", "Reply in JSON: the capital of France?");
    body["max_tokens"] = json!(400);
    body["response_format"] = json!({"type": "json_object"});
    let r = gw.chat(body.clone()).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let adjusted = r.header("x-switchyard-adjusted").unwrap_or_default();
    assert!(adjusted.contains("enable_thinking"), "{adjusted}");
    let content = r.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(serde_json::from_str::<Value>(&content).is_ok(), "{content}");
    // Thinking asked for explicitly: the vendor's refusal is passed on as a 400.
    body["enable_thinking"] = json!(true);
    let r = gw.chat(body).await;
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("non-thinking mode"),
        "{}",
        r.json()
    );
}
