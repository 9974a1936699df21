//! What the simulated vendors refuse, with their status and error body: auth, bad JSON,
//! unknown models, missing capabilities, and each dialect's own rules.
#![expect(
    clippy::unwrap_used,
    reason = "a test crate: a failed unwrap is a failed test"
)]

mod common;

use common::{json_body, start, start_with, user};
use serde_json::{Value, json};
use switchyard_wire::{Dialect, ErrorKind};

/// Status and body of a refused request, after checking the wire crate classifies it.
async fn refused(r: reqwest::Response, dialect: Dialect, kind: ErrorKind) -> (u16, Value) {
    let status = r.status().as_u16();
    let header = r
        .headers()
        .get(dialect.request_id_header())
        .map(|v| v.to_str().unwrap().to_string());
    assert!(
        header.is_some(),
        "no {} header",
        dialect.request_id_header()
    );
    let bytes = r.bytes().await.unwrap();
    let err = dialect.parse_error(status, &bytes, header.as_deref());
    assert_eq!(
        err.kind,
        kind,
        "{dialect}: {}",
        String::from_utf8_lossy(&bytes)
    );
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn missing_or_wrong_key_is_401_in_each_vendor_shape() {
    let sim = start_with(0.0, Some("sk-right")).await;
    let body = json!({"model": "glm-4.6", "messages": user("hi")});
    let url = sim.chat_url("zhipu", "cn");
    let none = sim
        .http
        .post(&url)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let (status, v) = refused(none, Dialect::Zhipu, ErrorKind::Authentication).await;
    assert_eq!(status, 401);
    assert_eq!(v["error"]["code"], "1001");
    let wrong = sim
        .http
        .post(&url)
        .bearer_auth("sk-wrong")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let (_, v) = refused(wrong, Dialect::Zhipu, ErrorKind::Authentication).await;
    assert_eq!(v["error"]["code"], "1000");
    assert!(v["request_id"].is_string());
    let right = sim
        .http
        .post(&url)
        .bearer_auth("sk-right")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);

    for (provider, model, dialect) in [
        ("deepseek", "deepseek-chat", Dialect::DeepSeek),
        ("dashscope", "qwen-plus", Dialect::DashScope),
        ("moonshot", "kimi-k2.5", Dialect::Moonshot),
        ("openai", "m", Dialect::OpenAi),
    ] {
        let r = sim
            .http
            .post(sim.chat_url(provider, "r"))
            .bearer_auth("sk-wrong")
            .body(json!({"model": model, "messages": user("hi")}).to_string())
            .send()
            .await
            .unwrap();
        let (status, v) = refused(r, dialect, ErrorKind::Authentication).await;
        assert_eq!(status, 401);
        if dialect == Dialect::Moonshot {
            assert_eq!(
                v,
                json!({"error": {"message": "Invalid Authentication", "type": "invalid_authentication_error"}})
            );
        }
    }
}

#[tokio::test]
async fn any_non_empty_bearer_token_is_accepted_without_a_configured_key() {
    let sim = start(0.0).await;
    let body = json!({"model": "qwen-plus", "messages": user("hi"), "max_tokens": 1}).to_string();
    let url = sim.chat_url("dashscope", "sg");
    let ok = sim
        .http
        .post(&url)
        .bearer_auth("anything")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let empty = sim
        .http
        .post(&url)
        .header("authorization", "Bearer ")
        .body(body)
        .send()
        .await
        .unwrap();
    let (_, v) = refused(empty, Dialect::DashScope, ErrorKind::Authentication).await;
    assert_eq!(v["error"]["code"], "invalid_api_key");
}

#[tokio::test]
async fn invalid_json_is_400_in_vendor_shape() {
    let sim = start(0.0).await;
    for provider in ["deepseek", "dashscope", "moonshot", "zhipu", "openai"] {
        let r = sim
            .http
            .post(sim.chat_url(provider, "r"))
            .bearer_auth("k")
            .body("{\"model\": \"x\", \"messages\": [")
            .send()
            .await
            .unwrap();
        let (status, _) = refused(r, common::dialect_of(provider), ErrorKind::InvalidRequest).await;
        assert_eq!(status, 400, "{provider}");
    }
}

#[tokio::test]
async fn unknown_model_is_each_vendors_not_found() {
    let sim = start(0.0).await;
    let body = |m: &str| json!({"model": m, "messages": user("hi")});

    let (status, v) = refused(
        sim.chat("deepseek", &body("deepseek-nope")).await,
        Dialect::DeepSeek,
        ErrorKind::InvalidRequest,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["message"], "Model Not Exist");

    let (status, v) = refused(
        sim.chat("dashscope", &body("qwen-nope")).await,
        Dialect::DashScope,
        ErrorKind::NotFound,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(v["error"]["code"], "model_not_found");

    let (status, v) = refused(
        sim.chat("moonshot", &body("kimi-nope")).await,
        Dialect::Moonshot,
        ErrorKind::NotFound,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(v["error"]["type"], "resource_not_found_error");

    let (status, v) = refused(
        sim.chat("zhipu", &body("glm-nope")).await,
        Dialect::Zhipu,
        ErrorKind::NotFound,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["code"], "1211");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("模型不存在")
    );
}

#[tokio::test]
async fn a_model_of_another_provider_is_not_found() {
    let sim = start(0.0).await;
    let body = json!({"model": "qwen-plus", "messages": user("hi")});
    let (status, _) = refused(
        sim.chat("zhipu", &body).await,
        Dialect::Zhipu,
        ErrorKind::NotFound,
    )
    .await;
    assert_eq!(status, 400);
    // Aliases and canonical ids of the provider's own models resolve.
    let ok = json!({"model": "deepseek-r1", "messages": user("hi"), "max_tokens": 2});
    let v = json_body(sim.chat("deepseek", &ok).await).await;
    assert_eq!(
        v["model"], "deepseek-reasoner",
        "answers with the upstream id"
    );
}

#[tokio::test]
async fn image_to_a_model_without_vision_and_audio_without_audio_are_400() {
    let sim = start(0.0).await;
    let image = json!([{"role": "user", "content": [
        {"type": "text", "text": "what is it?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]);
    let audio = json!([{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}]}]);

    let r = sim
        .chat(
            "deepseek",
            &json!({"model": "deepseek-chat", "messages": image, "stream": true}),
        )
        .await;
    let (status, v) = refused(r, Dialect::DeepSeek, ErrorKind::InvalidRequest).await;
    assert_eq!(status, 400);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("image_url")
    );

    let ok = sim
        .chat(
            "dashscope",
            &json!({"model": "qwen3-vl-32b", "messages": image, "max_tokens": 2}),
        )
        .await;
    assert_eq!(ok.status(), 200);
    let r = sim
        .chat(
            "dashscope",
            &json!({"model": "qwen3-vl-32b", "messages": audio}),
        )
        .await;
    let (status, _) = refused(r, Dialect::DashScope, ErrorKind::InvalidRequest).await;
    assert_eq!(status, 400);
    let ok = sim
        .chat(
            "dashscope",
            // Omni answers only as a stream.
            &json!({"model": "qwen3-omni-30b", "messages": audio, "max_tokens": 2, "stream": true}),
        )
        .await;
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn deepseek_rejects_the_developer_role() {
    let sim = start(0.0).await;
    let body = json!({"model": "deepseek-chat", "messages": [
        {"role": "developer", "content": "be brief"}, {"role": "user", "content": "hi"}]});
    let (status, v) = refused(
        sim.chat("deepseek", &body).await,
        Dialect::DeepSeek,
        ErrorKind::InvalidRequest,
    )
    .await;
    assert_eq!(status, 400);
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains(
            "unknown variant `developer`, expected one of `system`, `user`, `assistant`, `tool`"
        ),
        "{msg}"
    );
    assert_eq!(v["error"]["type"], "invalid_request_error");
    // Qwen takes it.
    let ok = json!({"model": "qwen-plus", "max_tokens": 1, "messages": body["messages"]});
    assert_eq!(sim.chat("dashscope", &ok).await.status(), 200);
}

#[tokio::test]
async fn deepseek_thinking_mode_requires_reasoning_content_on_tool_call_turns() {
    let sim = start(0.0).await;
    let turns = json!([
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}
    ]);
    let body = json!({"model": "deepseek-reasoner", "messages": turns});
    let (status, v) = refused(
        sim.chat("deepseek", &body).await,
        Dialect::DeepSeek,
        ErrorKind::InvalidRequest,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        v["error"]["message"],
        "The `reasoning_content` in the thinking mode must be passed back to the API."
    );
    let mut off = body.clone();
    off["thinking"] = json!({"type": "disabled"});
    assert_eq!(sim.chat("deepseek", &off).await.status(), 200);
    let chat = json!({"model": "deepseek-chat", "messages": turns});
    assert_eq!(
        sim.chat("deepseek", &chat).await.status(),
        200,
        "non-thinking model"
    );
}

#[tokio::test]
async fn kimi_fixed_sampling_models_reject_other_temperatures_and_top_p() {
    let sim = start(0.0).await;
    let body = |extra: Value| {
        let mut b = json!({"model": "kimi-k2.6", "messages": user("hi"), "max_tokens": 2});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let (status, v) = refused(
        sim.chat("moonshot", &body(json!({"temperature": 0.3})))
            .await,
        Dialect::Moonshot,
        ErrorKind::InvalidRequest,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        v,
        json!({"error": {"message": "invalid temperature: only 1 is allowed for this model", "type": "invalid_request_error"}})
    );
    let (_, v) = refused(
        sim.chat("moonshot", &body(json!({"top_p": 1.0}))).await,
        Dialect::Moonshot,
        ErrorKind::InvalidRequest,
    )
    .await;
    assert!(v["error"]["message"].as_str().unwrap().contains("top_p"));
    for ok in [
        json!({"temperature": 1.0, "top_p": 0.95}),
        json!({"temperature": 0.6, "thinking": {"type": "disabled"}}),
        json!({}),
    ] {
        assert_eq!(
            sim.chat("moonshot", &body(ok.clone())).await.status(),
            200,
            "{ok}"
        );
    }
    // Older Kimi models take any temperature in [0, 1].
    let legacy = json!({"model": "kimi-k2-turbo-preview", "messages": user("hi"), "temperature": 0.3, "max_tokens": 1});
    assert_eq!(sim.chat("moonshot", &legacy).await.status(), 200);
}

#[tokio::test]
async fn zhipu_rejects_stop_lists_tool_choice_sampling_range_and_data_uris_with_1210() {
    let sim = start(0.0).await;
    let base = json!({"model": "glm-4.6v", "messages": user("hi"), "max_tokens": 2});
    let cases = [
        ("stop", json!(["a", "b"])),
        ("tool_choice", json!("required")),
        ("temperature", json!(0)),
        ("top_p", json!(0.0)),
        (
            "messages",
            json!([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}]),
        ),
    ];
    for (field, value) in cases {
        let mut b = base.clone();
        b[field] = value;
        let (status, v) = refused(
            sim.chat("zhipu", &b).await,
            Dialect::Zhipu,
            ErrorKind::InvalidRequest,
        )
        .await;
        assert_eq!(status, 400, "{field}");
        assert_eq!(v["error"]["code"], "1210", "{field}");
        let msg = v["error"]["message"].as_str().unwrap();
        let names = if field == "messages" {
            "data URI"
        } else {
            field
        };
        assert!(msg.contains(names), "{field}: {msg}");
    }
    let mut ok = base.clone();
    ok["stop"] = json!("END");
    ok["temperature"] = json!(0.5);
    ok["tool_choice"] = json!("auto");
    assert_eq!(sim.chat("zhipu", &ok).await.status(), 200);
}

#[tokio::test]
async fn unknown_paths_are_404_in_the_vendor_shape() {
    let sim = start(0.0).await;
    let post = |path: &str| {
        sim.http
            .post(sim.admin(path))
            .bearer_auth("k")
            .body(json!({"model": "glm-4.6", "messages": user("hi")}).to_string())
            .send()
    };
    let r = post("/zhipu/cn/v1/chat/completions").await.unwrap();
    let (status, v) = refused(r, Dialect::Zhipu, ErrorKind::NotFound).await;
    assert_eq!(status, 404);
    assert!(v["request_id"].is_string());
    let r = post("/dashscope/sg/chat/completions").await.unwrap();
    assert_eq!(r.status(), 404, "DashScope needs /compatible-mode/v1");
    let r = post("/nosuchvendor/x/v1/chat/completions").await.unwrap();
    assert_eq!(r.status(), 404);
    let r = sim
        .http
        .get(sim.chat_url("moonshot", "cn"))
        .bearer_auth("k")
        .send()
        .await
        .unwrap();
    let (status, _) = refused(r, Dialect::Moonshot, ErrorKind::NotFound).await;
    assert_eq!(status, 404);
}
