//! Hostile upstreams (issue 11): the simulator's hostile faults against the real gateway.
//! Under each, the client gets a clear OpenAI-shaped answer or error, the gateway stays
//! up (a normal request after it succeeds), and its memory stays bounded.
//!
//! The memory bound is the peak resident set (`VmHWM`) of this test's process, which
//! holds the gateway, the simulator and the client: nextest runs each test in a process
//! of its own. A bound of [`RSS_BOUND_MB`] against answers of gigabytes (or endless ones)
//! shows that nothing is sized by what the upstream sends.

use std::time::Duration;

use crate::common;
use crate::common::{TestGateway, ask, start_with};
use serde_json::{Value, json};

/// Peak resident memory allowed for the whole test process, in MiB.
const RSS_BOUND_MB: u64 = 256;

fn peak_rss_mb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024
}

/// Every deployment of DeepSeek gets `fault`.
async fn hostile(fault: Value) -> TestGateway {
    let gw = start_with(0.0, |c| {
        c.server.request_timeout = Duration::from_secs(20);
    })
    .await;
    gw.fault("deepseek", "*", fault).await;
    gw
}

fn streamed(model: &str) -> Value {
    let mut b = ask(model, "hi");
    b["stream"] = json!(true);
    b
}

/// The gateway still serves others, and the process stayed within the bound.
async fn still_up_and_bounded(gw: &TestGateway, what: &str) {
    let r = gw.chat(ask("glm-4.5", "still there?")).await;
    assert_eq!(r.status, 200, "{what}: the gateway serves after the fault");
    let peak = peak_rss_mb();
    eprintln!("{what}: peak RSS {peak} MiB");
    assert!(
        peak < RSS_BOUND_MB,
        "{what}: peak RSS {peak} MiB >= {RSS_BOUND_MB}"
    );
}

/// An error in OpenAI's shape: `{"error": {"message", "type", "code"}}`.
fn assert_openai_error(v: &Value, what: &str) {
    let e = &v["error"];
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: {v}"
    );
    assert!(e["type"].is_string(), "{what}: {v}");
    assert!(e["code"].is_string(), "{what}: {v}");
}

/// A streamed reply ends with an error event or is an error answer before any chunk.
fn assert_stream_error(r: &common::Reply, what: &str) {
    if r.status != 200 {
        assert_openai_error(&r.json(), what);
        return;
    }
    let last = r.chunks().pop().unwrap();
    assert_openai_error(&last, what);
}

#[tokio::test]
async fn huge_indices_get_a_clear_error_without_allocating_by_them() {
    let gw = hostile(json!({"kind": "huge_index"})).await;
    let r = gw.chat(streamed("deepseek-v4-flash")).await;
    assert_stream_error(&r, "stream");
    let text = String::from_utf8_lossy(&r.body);
    assert!(text.contains("index 4000000000"), "{text}");
    let r = gw.chat(ask("deepseek-v4-flash", "hi")).await;
    assert_eq!(r.status, 502, "{}", String::from_utf8_lossy(&r.body));
    assert_openai_error(&r.json(), "whole");
    still_up_and_bounded(&gw, "huge_index").await;
}

#[tokio::test]
async fn an_endless_line_is_cut_at_the_documented_cap() {
    let gw = hostile(json!({"kind": "endless_line"})).await;
    let r = gw.chat(streamed("deepseek-v4-flash")).await;
    assert_stream_error(&r, "stream");
    assert!(
        String::from_utf8_lossy(&r.body).contains("longer than 8388608 bytes"),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let r = gw.chat(ask("deepseek-v4-flash", "hi")).await;
    assert_eq!(r.status, 502);
    assert_openai_error(&r.json(), "whole");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("larger than 33554432 bytes")
    );
    still_up_and_bounded(&gw, "endless_line").await;
}

#[tokio::test]
async fn a_multi_gigabyte_whole_answer_is_refused_past_the_cap() {
    // 4 GiB, the default size: the gateway stops reading at 32 MiB.
    let gw = hostile(json!({"kind": "huge_body"})).await;
    let r = gw.chat(ask("deepseek-v4-flash", "hi")).await;
    assert_eq!(r.status, 502);
    assert_openai_error(&r.json(), "whole");
    still_up_and_bounded(&gw, "huge_body whole").await;
}

#[tokio::test]
async fn a_long_well_formed_stream_is_relayed_in_constant_memory() {
    // 128 MiB of content in 64 KiB chunks: relayed as it comes, never held.
    let gw = hostile(json!({"kind": "huge_body", "bytes": 128u64 << 20})).await;
    let resp = gw
        .http
        .post(format!("{}/v1/chat/completions", gw.base))
        .header("content-type", "application/json")
        .body(streamed("deepseek-v4-flash").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Count the bytes without keeping them.
    let mut resp = resp;
    let mut total = 0u64;
    let mut tail = Vec::new();
    while let Some(c) = resp.chunk().await.unwrap() {
        total += c.len() as u64;
        tail = c.to_vec();
    }
    assert!(total > 128u64 << 20, "{total}");
    assert!(
        String::from_utf8_lossy(&tail).ends_with("data: [DONE]\n\n"),
        "the stream ends normally"
    );
    still_up_and_bounded(&gw, "huge_body stream").await;
}

#[tokio::test]
async fn absurd_usage_is_not_believed_nor_billed() {
    let gw = hostile(json!({"kind": "absurd_usage"})).await;
    let r = gw.chat(ask("deepseek-v4-flash", "hi")).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = gw.chat(streamed("deepseek-v4-flash")).await;
    assert_eq!(r.status, 200);
    assert!(r.ends_with_done(), "{}", String::from_utf8_lossy(&r.body));
    gw.flush_usage();
    let events = gw.usage_events();
    assert_eq!(events.len(), 2, "{events:?}");
    let model = gw.state.catalog.get("deepseek-v4-flash").unwrap();
    for e in &events {
        assert!(e.estimated, "{e:?}");
        assert!(e.prompt_tokens <= u64::from(model.context_window), "{e:?}");
        assert!(e.completion_tokens <= u64::from(model.max_output), "{e:?}");
        assert!(e.cost_nanos < 1_000_000_000, "under a dollar: {e:?}");
    }
    still_up_and_bounded(&gw, "absurd_usage").await;
}

#[tokio::test]
async fn invalid_utf8_becomes_replacement_characters() {
    let gw = hostile(json!({"kind": "invalid_utf8"})).await;
    let r = gw.chat(ask("deepseek-v4-flash", "hi")).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let text = r.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(text.starts_with("ok \u{fffd}"), "{text:?}");
    let r = gw.chat(streamed("deepseek-v4-flash")).await;
    assert_eq!(r.status, 200);
    assert!(r.ends_with_done());
    assert!(std::str::from_utf8(&r.body).is_ok());
    assert!(String::from_utf8_lossy(&r.body).contains("ok \u{fffd}"));
    still_up_and_bounded(&gw, "invalid_utf8").await;
}

#[tokio::test]
async fn a_one_byte_drip_is_ended_by_the_time_limits() {
    let gw = start_with(0.0, |c| {
        c.server.ttft_timeout = Duration::from_secs(1);
        c.server.request_timeout = Duration::from_secs(2);
    })
    .await;
    gw.fault("deepseek", "*", json!({"kind": "drip", "delay_ms": 200}))
        .await;
    let started = std::time::Instant::now();
    let r = gw.chat(ask("deepseek-v4-flash", "hi")).await;
    assert_eq!(r.status, 504, "{}", String::from_utf8_lossy(&r.body));
    assert_openai_error(&r.json(), "whole");
    let r = gw.chat(streamed("deepseek-v4-flash")).await;
    assert_stream_error(&r, "stream");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "bounded by the limits, not the drip"
    );
    still_up_and_bounded(&gw, "drip").await;
}
