//! Vendor errors, broken streams and vanished clients, provoked through the simulator's
//! fault API: every one must reach the client as an OpenAI-shaped error with the right
//! status and class, and every one must still record usage.

use std::time::Duration;

use crate::common::{JsonBody, ask, start, start_with};
use serde_json::json;

#[tokio::test]
async fn vendor_error_codes_map_to_status_class_and_keep_vendor_facts() {
    let gw = start().await;
    // (provider, fault, model, status, type, vendor_code, retryable)
    let cases = [
        (
            "zhipu",
            "overloaded",
            "glm-4.5-flash",
            503,
            "overloaded_error",
            Some("1305"),
            true,
        ),
        (
            "zhipu",
            "rate_limit",
            "glm-4.5-flash",
            429,
            "rate_limit_error",
            Some("1302"),
            true,
        ),
        (
            "zhipu",
            "insufficient_balance",
            "glm-4.5-flash",
            402,
            "insufficient_quota",
            Some("1113"),
            false,
        ),
        (
            "deepseek",
            "insufficient_balance",
            "deepseek-v4-flash",
            402,
            "insufficient_quota",
            None,
            false,
        ),
        (
            "deepseek",
            "overloaded",
            "deepseek-v4-flash",
            503,
            "overloaded_error",
            None,
            true,
        ),
        (
            "moonshot",
            "overloaded",
            "kimi-k2.5",
            503,
            "overloaded_error",
            Some("engine_overloaded_error"),
            true,
        ),
        (
            "moonshot",
            "rate_limit",
            "kimi-k2.5",
            429,
            "rate_limit_error",
            Some("rate_limit_reached_error"),
            true,
        ),
        (
            "dashscope",
            "rate_limit",
            "qwen3-32b",
            429,
            "rate_limit_error",
            None,
            true,
        ),
        (
            "dashscope",
            "auth",
            "qwen3-32b",
            401,
            "authentication_error",
            None,
            false,
        ),
    ];
    for (provider, fault, model, status, kind, code, retryable) in cases {
        // Every region of the provider fails alike, so failover cannot hide the error.
        gw.fault(provider, "*", json!({"kind": fault})).await;
        for stream in [false, true] {
            let mut body = ask(model, "hi");
            body["stream"] = json!(stream);
            let r = gw.chat(body).await;
            let what = format!("{provider}/{fault} stream={stream}");
            assert_eq!(
                r.status,
                status,
                "{what}: {}",
                String::from_utf8_lossy(&r.body)
            );
            let e = &r.json()["error"];
            assert_eq!(e["type"], kind, "{what}");
            assert_eq!(e["retryable"], retryable, "{what}");
            assert_eq!(e["provider"], provider, "{what}");
            assert!(
                e["message"].as_str().unwrap().starts_with(provider),
                "{what}"
            );
            if let Some(code) = code {
                assert_eq!(e["vendor_code"], code, "{what}");
            }
            assert!(
                e["request_id"].as_str().is_some_and(|id| !id.is_empty()),
                "{what}: vendor request id kept"
            );
        }
        gw.clear_faults().await;
    }
}

#[tokio::test]
async fn dropped_upstream_stream_ends_with_an_error_event_not_done() {
    let gw = start_with(0.01, |_| {}).await;
    gw.fault(
        "deepseek",
        "global",
        json!({"kind": "drop_after", "tokens": 3}),
    )
    .await;
    let mut body = ask("deepseek-v4-flash", "hi");
    body["max_tokens"] = json!(50);
    body["stream"] = json!(true);
    let r = gw.chat(body).await;
    assert_eq!(r.status, 200);
    assert!(!r.ends_with_done(), "a cut stream must not look finished");
    let last = r.chunks().pop().unwrap();
    assert_eq!(last["error"]["code"], "upstream_stream_interrupted");
    let metrics = gw.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("switchyard_usage_records_total")
                && l.contains("deepseek-v4-flash")
                && l.contains("outcome=\"interrupted\"")),
        "usage of the interrupted stream is recorded"
    );
}

#[tokio::test]
async fn stalled_upstream_stream_times_out_with_an_error_event() {
    let gw = start_with(0.0, |c| {
        c.server.stream_idle_timeout = Duration::from_secs(1)
    })
    .await;
    gw.fault(
        "moonshot",
        "global",
        json!({"kind": "stall_after", "tokens": 2}),
    )
    .await;
    let mut body = ask("kimi-k2.6", "hi");
    body["stream"] = json!(true);
    let r = tokio::time::timeout(Duration::from_secs(10), gw.chat(body))
        .await
        .unwrap();
    let last = r.chunks().pop().unwrap();
    assert_eq!(last["error"]["code"], "upstream_stall");
}

#[tokio::test]
async fn unreachable_upstream_is_502_with_a_clear_message() {
    let gw = start_with(0.0, |c| {
        let p = c.providers.get_mut("zhipu").unwrap();
        p.simulated = false;
        p.api_key = Some("k".into());
        p.regions = Some(vec![switchyard_gateway::config::RegionConfig {
            name: "nowhere".into(),
            base_url: Some("http://127.0.0.1:9/api/paas/v4".into()),
            near: None,
            anthropic_url: None,
        }]);
    })
    .await;
    let r = gw.chat(ask("glm-4.5", "hi")).await;
    assert_eq!(r.status, 502);
    let e = &r.json()["error"];
    assert_eq!(e["code"], "upstream_unreachable");
    assert!(e["message"].as_str().unwrap().contains("nowhere"));
}

#[tokio::test]
async fn client_disconnect_mid_stream_cancels_upstream_and_records_estimated_usage() {
    // 2,000 tokens at 0.2x time scale would stream for several seconds if not cancelled.
    let gw = start_with(0.2, |_| {}).await;
    let mut body = ask("glm-4.5-flash", "tell me a long story");
    body["max_tokens"] = json!(2000);
    body["ignore_eos"] = json!(true); // as long as the cap: the simulator would stop sooner
    body["stream"] = json!(true);
    let mut resp = gw
        .http
        .post(format!("{}/v1/chat/completions", gw.base))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let mut got = 0;
    while got < 3 {
        if resp.chunk().await.unwrap().is_some() {
            got += 1;
        }
    }
    drop(resp);
    let mut recorded = false;
    for _ in 0..50 {
        let m = gw.metrics().await;
        if m.lines().any(|l| {
            l.starts_with("switchyard_usage_records_total")
                && l.contains("glm-4.5-flash")
                && l.contains("outcome=\"client_disconnected\"")
        }) {
            recorded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recorded, "usage of the abandoned stream must be recorded");
    let events = gw.usage_events();
    let cut = events
        .iter()
        .find(|e| e.model == "glm-4.5-flash")
        .expect("the abandoned stream is in the usage log");
    assert_eq!(
        (cut.outcome.as_str(), cut.status),
        ("client_disconnected", 499)
    );
    assert!(cut.estimated && cut.completion_tokens > 0 && cut.ttft_ms.is_some());
    let mut in_flight = None;
    for _ in 0..50 {
        let stats: serde_json::Value = gw
            .http
            .get(format!("{}/_sim/stats", gw.sim))
            .send()
            .await
            .unwrap()
            .json_value()
            .await;
        in_flight = stats["in_flight"].as_u64();
        if in_flight == Some(0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        in_flight,
        Some(0),
        "the upstream generation must be cancelled, not left running"
    );
    let health = gw.get("/healthz").await;
    assert_eq!(health.status, 200);
}
