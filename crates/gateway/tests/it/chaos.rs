//! Chaos under load, through the real gateway and simulator: a region going down and
//! coming back mid-run, a 429 storm across every region, streams cut after their first
//! byte. Each asserts what the clients saw, how many upstream attempts were made, and that
//! every request was billed exactly once (or, for errors, not at all).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common;
use crate::common::{Reply, TestGateway, ask, start_with};
use futures_util::StreamExt;
use serde_json::json;

const MODEL: &str = "model=\"deepseek-v4-flash\"";

/// Send `n` requests, `concurrency` at a time (every third one streamed), calling
/// `at(i)` before request `i` is sent.
async fn drive<F, Fut>(gw: &TestGateway, n: usize, concurrency: usize, at: F) -> Vec<(bool, Reply)>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let next = Arc::new(AtomicUsize::new(0));
    let at = &at;
    futures_util::stream::iter(0..n)
        .map(|i| {
            let next = Arc::clone(&next);
            async move {
                at(i).await;
                next.fetch_add(1, Ordering::Relaxed);
                let stream = i % 3 == 0;
                let mut body = ask("deepseek-v4-flash", "hi");
                body["max_tokens"] = json!(8);
                body["stream"] = json!(stream);
                (stream, gw.chat(body).await)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await
}

fn sim_requests(stats: &serde_json::Value) -> u64 {
    ["global", "global-b"]
        .iter()
        .map(|r| {
            stats["providers"]["deepseek"][r]["requests"]
                .as_u64()
                .unwrap_or(0)
        })
        .sum()
}

#[tokio::test]
async fn a_region_down_mid_run_loses_no_request_and_bills_each_once() {
    let gw = start_with(0.0, |c| {
        c.health.cooldown = std::time::Duration::from_millis(200)
    })
    .await;
    let gw = &gw;
    let replies = drive(gw, 300, 16, |i| async move {
        if i == 60 {
            gw.fault("deepseek", "global", json!({"kind": "server_error"}))
                .await;
        }
        if i == 200 {
            gw.clear_faults().await;
        }
    })
    .await;
    let mut attempts = 0;
    for (stream, r) in &replies {
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        attempts += r
            .header("x-switchyard-attempts")
            .unwrap()
            .parse::<u64>()
            .unwrap();
        if *stream {
            assert!(r.ends_with_done());
            assert!(r.chunks().iter().all(|c| c.get("error").is_none()));
            assert_eq!(
                common::streamed_text(&r.chunks(), "content")
                    .split_whitespace()
                    .count(),
                8
            );
        } else {
            assert_eq!(r.json()["usage"]["completion_tokens"], 8);
        }
    }
    let stats = gw.sim_stats().await;
    assert_eq!(
        sim_requests(&stats),
        attempts,
        "every upstream attempt is in some response's x-switchyard-attempts"
    );
    assert!(attempts > 300, "the outage caused failovers");
    assert!(
        stats["providers"]["deepseek"]["global"]["requests"]
            .as_u64()
            .unwrap()
            > 60,
        "the region got traffic back after it recovered"
    );
    let completed = gw
        .metric(
            "switchyard_usage_records_total",
            &[MODEL, "outcome=\"completed\""],
        )
        .await;
    assert_eq!(completed, 300.0, "each request billed once");
    assert_eq!(
        gw.metric("switchyard_usage_records_total", &[MODEL]).await,
        300.0,
        "and nothing else billed"
    );
}

#[tokio::test]
async fn a_429_storm_is_not_amplified_and_nothing_is_billed() {
    let gw = start_with(0.0, |c| {
        c.retries.budget_ratio = 0.2;
        c.retries.budget_reserve = 5.0;
    })
    .await;
    gw.fault("deepseek", "*", json!({"kind": "rate_limit"}))
        .await;
    let replies = drive(&gw, 100, 8, |_| async {}).await;
    for (_, r) in &replies {
        assert_eq!(r.status, 429);
        assert_eq!(r.json()["error"]["type"], "rate_limit_error");
    }
    let upstream = sim_requests(&gw.sim_stats().await);
    // One attempt each, plus retries bounded by the budget: 5 saved + 20% of 100.
    assert!(
        (100..=125).contains(&upstream),
        "{upstream} upstream requests for 100 client requests"
    );
    assert_eq!(
        gw.metric("switchyard_usage_records_total", &[MODEL]).await,
        0.0,
        "refused requests cost nothing"
    );
    assert!(
        gw.metric("switchyard_retry_budget_exhausted_total", &[])
            .await
            > 0.0
    );
}

#[tokio::test]
async fn streams_cut_after_their_first_byte_end_in_an_error_and_are_billed_once_as_interrupted() {
    let gw = start_with(0.0, |_| {}).await;
    gw.fault("deepseek", "*", json!({"kind": "drop_after", "tokens": 3}))
        .await;
    for _ in 0..10 {
        let mut body = ask("deepseek-v4-flash", "hi");
        body["max_tokens"] = json!(8);
        body["stream"] = json!(true);
        let r = gw.chat(body).await;
        assert_eq!(r.status, 200);
        assert!(!r.ends_with_done(), "never a clean end");
        let last = r.chunks().pop().unwrap();
        assert_eq!(last["error"]["code"], "upstream_stream_interrupted");
        assert_eq!(r.header("x-switchyard-attempts"), Some("1"));
    }
    assert_eq!(
        sim_requests(&gw.sim_stats().await),
        10,
        "not retried after the first byte"
    );
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(
        gw.metric(
            "switchyard_usage_records_total",
            &[MODEL, "outcome=\"interrupted\""]
        )
        .await,
        10.0
    );
    assert_eq!(
        gw.metric("switchyard_usage_records_total", &[MODEL]).await,
        10.0
    );
}
