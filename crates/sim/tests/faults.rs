//! Injected faults over HTTP: vendor error bodies for each kind, counts, regions, dropped
//! and stalled streams, and no generation left running when clients go away.

mod common;

use std::time::Duration;

use common::{json_body, read_stream, start, user};
use serde_json::{Value, json};
use switchyard_wire::{Dialect, ErrorKind};

const PROVIDERS: [(&str, &str, Dialect); 5] = [
    ("deepseek", "deepseek-chat", Dialect::DeepSeek),
    ("dashscope", "qwen-plus", Dialect::DashScope),
    ("moonshot", "kimi-k2-turbo-preview", Dialect::Moonshot),
    ("zhipu", "glm-4.6", Dialect::Zhipu),
    ("openai", "gpt-sim", Dialect::OpenAi),
];

#[tokio::test]
async fn each_error_fault_gives_the_vendors_status_and_body() {
    let sim = start(0.0).await;
    let kinds = [
        ("rate_limit", ErrorKind::RateLimited),
        ("overloaded", ErrorKind::Overloaded),
        ("insufficient_balance", ErrorKind::InsufficientQuota),
        ("server_error", ErrorKind::Server),
        ("auth", ErrorKind::Authentication),
    ];
    let mut seen: Vec<(String, String, u16, Value)> = Vec::new();
    for (provider, model, dialect) in PROVIDERS {
        for (kind, expected) in kinds {
            sim.put_fault(provider, "r1", &json!({"kind": kind})).await;
            let r = sim
                .chat(provider, &json!({"model": model, "messages": user("hi")}))
                .await;
            let status = r.status().as_u16();
            let rid = r.headers()[dialect.request_id_header()]
                .to_str()
                .unwrap()
                .to_string();
            let bytes = r.bytes().await.unwrap();
            let err = dialect.parse_error(status, &bytes, Some(&rid));
            assert_eq!(
                err.kind,
                expected,
                "{provider} {kind}: {}",
                String::from_utf8_lossy(&bytes)
            );
            seen.push((
                provider.into(),
                kind.into(),
                status,
                serde_json::from_slice(&bytes).unwrap(),
            ));
        }
    }
    let find = |p: &str, k: &str| {
        seen.iter()
            .find(|s| s.0 == p && s.1 == k)
            .map(|s| (s.2, s.3.clone()))
            .unwrap()
    };

    let (status, body) = find("zhipu", "overloaded");
    assert_eq!(status, 429);
    assert_eq!(
        body["error"],
        json!({"code": "1305", "message": "该模型当前访问量过大，请您稍后再试"})
    );
    assert!(body["request_id"].is_string());
    assert_eq!(find("zhipu", "rate_limit").1["error"]["code"], "1302");
    assert_eq!(find("zhipu", "insufficient_balance").0, 429);
    assert_eq!(
        find("zhipu", "insufficient_balance").1["error"]["code"],
        "1113"
    );

    let (status, body) = find("deepseek", "insufficient_balance");
    assert_eq!(status, 402);
    assert_eq!(
        body,
        json!({"error": {"message": "Insufficient Balance", "type": "unknown_error", "param": null, "code": "invalid_request_error"}})
    );
    let (status, body) = find("deepseek", "overloaded");
    assert_eq!(status, 503);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Server overloaded")
    );
    assert_eq!(find("deepseek", "rate_limit").0, 429);

    let (status, body) = find("dashscope", "rate_limit");
    assert_eq!(status, 429);
    assert_eq!(body["error"]["code"], "limit_requests");
    assert_eq!(
        body["error"]["message"],
        "Requests rate limit exceeded, please try again later."
    );
    assert!(body["request_id"].is_string());

    let (status, body) = find("moonshot", "rate_limit");
    assert_eq!(status, 429);
    assert_eq!(body["error"]["type"], "rate_limit_reached_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("TPM rate limit, current: 1410, limit: 100")
    );
    assert!(
        body["error"].get("code").is_none(),
        "Kimi errors have no code"
    );
    assert_eq!(
        find("moonshot", "overloaded").1["error"]["type"],
        "engine_overloaded_error"
    );
    assert_eq!(
        find("moonshot", "insufficient_balance").1["error"]["type"],
        "exceeded_current_quota_error"
    );

    for (provider, ..) in PROVIDERS {
        assert_eq!(find(provider, "auth").0, 401, "{provider}");
        assert_eq!(find(provider, "server_error").0, 500, "{provider}");
    }
}

#[tokio::test]
async fn fault_count_runs_out_and_other_regions_are_unaffected() {
    let sim = start(0.0).await;
    sim.put_fault(
        "dashscope",
        "sg",
        &json!({"kind": "rate_limit", "count": 2}),
    )
    .await;
    let body = json!({"model": "qwen-plus", "messages": user("hi"), "max_tokens": 1});
    assert_eq!(
        sim.chat_in("dashscope", "beijing", &body).await.status(),
        200
    );
    assert_eq!(sim.chat_in("dashscope", "sg", &body).await.status(), 429);
    assert_eq!(sim.chat_in("dashscope", "sg", &body).await.status(), 429);
    assert_eq!(sim.chat_in("dashscope", "sg", &body).await.status(), 200);
    let stats = sim.stats().await;
    assert_eq!(stats["faults_injected"], 2);
    assert_eq!(stats["providers"]["dashscope"]["sg"]["faults"], 2);
}

#[tokio::test]
async fn faults_are_cleared_per_scope_or_all_at_once_and_wildcard_covers_regions() {
    let sim = start(0.0).await;
    let body = json!({"model": "glm-4.6", "messages": user("hi"), "max_tokens": 1});
    sim.put_fault("zhipu", "*", &json!({"kind": "overloaded"}))
        .await;
    sim.put_fault("deepseek", "global", &json!({"kind": "server_error"}))
        .await;
    assert_eq!(sim.chat_in("zhipu", "anywhere", &body).await.status(), 429);
    let listed = json_body(
        sim.http
            .get(sim.admin("/_sim/faults"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(listed["faults"].as_array().unwrap().len(), 2);

    let del = sim
        .http
        .delete(sim.admin("/_sim/faults/zhipu/*"))
        .send()
        .await
        .unwrap();
    assert_eq!(json_body(del).await, json!({"cleared": true}));
    assert_eq!(sim.chat_in("zhipu", "anywhere", &body).await.status(), 200);

    let del = sim
        .http
        .delete(sim.admin("/_sim/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(json_body(del).await, json!({"cleared": 1}));
    let ds = json!({"model": "deepseek-chat", "messages": user("hi"), "max_tokens": 1});
    assert_eq!(sim.chat_in("deepseek", "global", &ds).await.status(), 200);
}

#[tokio::test]
async fn bad_fault_requests_are_refused_with_a_reason() {
    let sim = start(0.0).await;
    let put = |path: &str, body: &str| sim.http.put(sim.admin(path)).body(body.to_string()).send();
    let r = put("/_sim/faults/zhipu/cn", r#"{"kind": "meteor"}"#)
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("meteor"));
    let r = put("/_sim/faults/zhipu/cn", r#"{"kind": "auth", "count": 0}"#)
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = put("/_sim/faults/nobody/cn", r#"{"kind": "auth"}"#)
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn drop_after_closes_the_stream_without_done() {
    let sim = start(0.0).await;
    sim.put_fault(
        "moonshot",
        "r1",
        &json!({"kind": "drop_after", "tokens": 5}),
    )
    .await;
    let body = json!({"model": "kimi-k2-turbo-preview", "messages": user("hi"), "max_tokens": 50, "stream": true});
    let s = read_stream(sim.chat("moonshot", &body).await).await;
    assert!(s.transport_error, "the connection should break");
    assert!(!s.done(), "no [DONE] after a drop");
    let chunks = s.chunks();
    let content: Vec<&Value> = chunks
        .iter()
        .map(|c| &c["choices"][0]["delta"]["content"])
        .filter(|c| c.as_str().is_some_and(|t| !t.is_empty()))
        .collect();
    assert_eq!(content.len(), 5);
    assert!(
        chunks
            .iter()
            .all(|c| c["choices"][0]["finish_reason"].is_null())
    );

    // The fault stays until cleared; a non-streamed request breaks too.
    let sent = sim
        .http
        .post(sim.chat_url("moonshot", "r1"))
        .bearer_auth("k")
        .body(
            json!({"model": "kimi-k2-turbo-preview", "messages": user("hi"), "max_tokens": 50})
                .to_string(),
        )
        .send()
        .await;
    // Either no response at all, or a body that breaks: never a complete answer.
    match sent {
        Err(e) => assert!(e.is_request(), "{e:?}"),
        Ok(r) => assert!(r.bytes().await.is_err(), "non-streamed body should break"),
    }
    sim.wait_nothing_in_flight(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn drop_after_more_tokens_than_the_answer_has_changes_nothing() {
    let sim = start(0.0).await;
    sim.put_fault("zhipu", "r1", &json!({"kind": "drop_after", "tokens": 100}))
        .await;
    let body =
        json!({"model": "glm-4.6", "messages": user("hi"), "max_tokens": 10, "stream": true});
    let s = read_stream(sim.chat("zhipu", &body).await).await;
    assert!(s.done() && !s.transport_error);
}

#[tokio::test]
async fn stall_after_goes_silent_and_stops_when_the_client_leaves() {
    let sim = start(0.0).await;
    sim.put_fault(
        "dashscope",
        "r1",
        &json!({"kind": "stall_after", "tokens": 3, "count": 1}),
    )
    .await;
    let body =
        json!({"model": "qwen-plus", "messages": user("hi"), "max_tokens": 50, "stream": true});
    let mut r = sim.chat("dashscope", &body).await;
    assert_eq!(r.status(), 200);
    let mut received = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while received.matches("\"content\":\" ").count() < 3 {
        let chunk = tokio::time::timeout_at(deadline, r.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    let more = tokio::time::timeout(Duration::from_millis(300), r.chunk()).await;
    assert!(more.is_err(), "stream should be silent, got {more:?}");
    assert!(!received.contains("[DONE]"));
    assert_eq!(sim.stats().await["in_flight"], 1);
    drop(r);
    sim.wait_nothing_in_flight(Duration::from_secs(3)).await;
    // count 1: the next request is fine.
    let s = read_stream(sim.chat("dashscope", &body).await).await;
    assert!(s.done());
}

#[tokio::test]
async fn stalled_non_streamed_request_is_abandoned_when_the_client_times_out() {
    let sim = start(0.0).await;
    sim.put_fault("zhipu", "r1", &json!({"kind": "stall_after", "tokens": 2}))
        .await;
    let body = json!({"model": "glm-4.6", "messages": user("hi"), "max_tokens": 20});
    let r = sim
        .http
        .post(sim.chat_url("zhipu", "r1"))
        .bearer_auth("k")
        .timeout(Duration::from_millis(300))
        .body(body.to_string())
        .send()
        .await;
    assert!(r.is_err_and(|e| e.is_timeout()), "no answer while stalled");
    sim.wait_nothing_in_flight(Duration::from_secs(3)).await;
}

#[tokio::test]
async fn client_disconnect_stops_a_slow_generation() {
    let sim = start(1.0).await;
    let body = json!({"model": "deepseek-chat", "messages": user("hi"), "max_tokens": 2000,
        "ignore_eos": true, "stream": true});
    let mut r = sim.chat("deepseek", &body).await;
    assert_eq!(r.status(), 200);
    // Headers and the first keep-alive arrive at once; the answer would take ~30 s.
    let first = tokio::time::timeout(Duration::from_secs(2), r.chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(&first[..], b": keep-alive\n\n");
    assert_eq!(sim.stats().await["in_flight"], 1);
    drop(r);
    sim.wait_nothing_in_flight(Duration::from_secs(3)).await;
}

#[tokio::test]
async fn shutdown_ends_stalled_streams_promptly() {
    let sim = start(0.0).await;
    sim.put_fault("openai", "*", &json!({"kind": "stall_after", "tokens": 0}))
        .await;
    let body = json!({"model": "m", "messages": user("hi"), "stream": true});
    let mut r = sim.chat("openai", &body).await;
    let _role = r.chunk().await.unwrap();
    let t0 = tokio::time::Instant::now();
    let reader = tokio::spawn(async move { while let Ok(Some(_)) = r.chunk().await {} });
    tokio::time::timeout(Duration::from_secs(5), sim.handle.shutdown())
        .await
        .unwrap();
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    tokio::time::timeout(Duration::from_secs(2), reader)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn latency_spike_delays_the_answer_in_its_region_only() {
    let sim = start(0.0).await;
    sim.put_fault(
        "deepseek",
        "global",
        &json!({"kind": "latency_spike", "delay_ms": 400, "count": 1}),
    )
    .await;
    let body = json!({"model": "deepseek-chat", "messages": user("hi"), "max_tokens": 3});
    let t = std::time::Instant::now();
    assert_eq!(sim.chat_in("deepseek", "cn", &body).await.status(), 200);
    let quick = t.elapsed();
    let t = std::time::Instant::now();
    let spiked = sim.chat_in("deepseek", "global", &body).await;
    assert_eq!(spiked.status(), 200, "a spike is slow, not wrong");
    let slow = t.elapsed();
    assert!(slow >= Duration::from_millis(400), "{slow:?}");
    assert!(quick < Duration::from_millis(400), "{quick:?}");
    let t = std::time::Instant::now();
    assert_eq!(sim.chat_in("deepseek", "global", &body).await.status(), 200);
    assert!(
        t.elapsed() < Duration::from_millis(400),
        "count 1: one spike"
    );
    assert_eq!(sim.stats().await["faults_injected"], 1);
}
