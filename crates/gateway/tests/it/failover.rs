//! Region failover: a retryable failure before any answer moves a request to the
//! provider's next region; a non-retryable one does not. Faults are injected per region
//! in the real simulator.

use crate::common;
use crate::common::{ask, start, start_with};
use serde_json::{Value, json};

fn served(stats: &Value, provider: &str, region: &str) -> u64 {
    stats["providers"][provider][region]["requests"]
        .as_u64()
        .unwrap_or(0)
}

/// Requests two regions of a provider served, in the order named.
fn served_in(stats: &Value, provider: &str, regions: [&str; 2]) -> (u64, u64) {
    (
        served(stats, provider, regions[0]),
        served(stats, provider, regions[1]),
    )
}

#[tokio::test]
async fn a_failing_region_is_skipped_for_the_next_one() {
    let gw = start().await;
    gw.fault("deepseek", "global", json!({"kind": "server_error"}))
        .await;
    for stream in [false, true] {
        let mut body = ask("deepseek-v4-flash", "hi");
        body["stream"] = json!(stream);
        let r = gw.chat(body).await;
        assert_eq!(
            r.status,
            200,
            "stream={stream}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.header("x-switchyard-region"), Some("global-b"));
        assert_eq!(r.header("x-switchyard-attempts"), Some("2"));
        if stream {
            assert!(r.ends_with_done());
        }
    }
    let stats = gw.sim_stats().await;
    assert_eq!(
        served_in(&stats, "deepseek", ["global", "global-b"]),
        (2, 2)
    );
    let metrics = gw.metrics().await;
    assert!(metrics.lines().any(
        |l| l.starts_with("switchyard_failovers_total") && l.contains("from_region=\"global\"")
    ));
}

#[tokio::test]
async fn non_retryable_errors_do_not_fail_over() {
    let gw = start().await;
    gw.fault("zhipu", "global", json!({"kind": "insufficient_balance"}))
        .await;
    let r = gw.chat(ask("glm-4.5-flash", "hi")).await;
    assert_eq!(r.status, 402);
    assert_eq!(r.json()["error"]["vendor_code"], "1113");
    let stats = gw.sim_stats().await;
    assert_eq!(
        served(&stats, "zhipu", "cn"),
        0,
        "a balance error is not retried elsewhere"
    );
}

#[tokio::test]
async fn when_every_region_fails_the_last_error_is_returned_after_one_backed_off_retry() {
    let gw = start().await;
    for region in ["global", "cn"] {
        gw.fault("moonshot", region, json!({"kind": "overloaded"}))
            .await;
    }
    let r = gw.chat(ask("kimi-k2.5", "hi")).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"]["type"], "overloaded_error");
    assert_eq!(
        r.header("x-switchyard-attempts"),
        None,
        "errors carry no routing headers"
    );
    let stats = gw.sim_stats().await;
    // Each region once, then `[retries] same_deployment = 1` more on the last one.
    assert_eq!(served_in(&stats, "moonshot", ["global", "cn"]), (1, 2));
}

#[tokio::test]
async fn same_deployment_retries_can_be_turned_off() {
    let gw = start_with(0.0, |c| c.retries.same_deployment = 0).await;
    for region in ["global", "cn"] {
        gw.fault("moonshot", region, json!({"kind": "overloaded"}))
            .await;
    }
    assert_eq!(gw.chat(ask("kimi-k2.5", "hi")).await.status, 503);
    let stats = gw.sim_stats().await;
    assert_eq!(served_in(&stats, "moonshot", ["global", "cn"]), (1, 1));
}

#[tokio::test]
async fn a_single_deployment_is_retried_after_a_transient_error() {
    let gw = start_with(0.0, |c| {
        c.routes.insert(
            "kimi-k2.5".into(),
            switchyard_gateway::config::Config::parse(
                "[routes.\"kimi-k2.5\"]\ndeployments = [{ region = \"global\" }]\n",
                "t",
            )
            .unwrap()
            .routes["kimi-k2.5"]
                .clone(),
        );
    })
    .await;
    gw.fault(
        "moonshot",
        "global",
        json!({"kind": "server_error", "count": 1}),
    )
    .await;
    let r = gw.chat(ask("kimi-k2.5", "hi")).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("x-switchyard-attempts"), Some("2"));
    assert_eq!(r.header("x-switchyard-deployment"), Some("global"));
    let stats = gw.sim_stats().await;
    assert_eq!(served_in(&stats, "moonshot", ["global", "cn"]), (2, 0));
}

#[tokio::test]
async fn a_long_retry_after_is_not_waited_for() {
    let gw = start_with(0.0, |c| {
        c.retries.backoff_max = std::time::Duration::from_millis(500);
    })
    .await;
    for region in ["global", "cn"] {
        gw.fault(
            "moonshot",
            region,
            json!({"kind": "rate_limit", "retry_after_secs": 30}),
        )
        .await;
    }
    let t = std::time::Instant::now();
    let r = gw.chat(ask("kimi-k2.5", "hi")).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("30"));
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
    let stats = gw.sim_stats().await;
    assert_eq!(
        served_in(&stats, "moonshot", ["global", "cn"]),
        (1, 1),
        "Retry-After 30 s is over backoff_max_ms: no same-deployment retry"
    );
}

#[tokio::test]
async fn a_region_that_drops_connections_fails_over_to_a_live_one() {
    let gw = start_with(0.0, |c| {
        let p = c.providers.get_mut("dashscope").unwrap();
        p.regions = Some(vec![
            switchyard_gateway::config::RegionConfig {
                name: "dead".into(),
                base_url: None,
                near: None,
                anthropic_url: None,
            },
            switchyard_gateway::config::RegionConfig {
                name: "singapore".into(),
                base_url: None,
                near: None,
                anthropic_url: None,
            },
        ]);
    })
    .await;
    // The "dead" region cuts every connection before answering.
    gw.fault(
        "dashscope",
        "dead",
        json!({"kind": "drop_after", "tokens": 0}),
    )
    .await;
    let r = gw.chat(ask("qwen-plus", "hi")).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("x-switchyard-region"), Some("singapore"));
    assert_eq!(r.header("x-switchyard-attempts"), Some("2"));
}

/// Output words of a stream, reasoning included (one simulated token each).
fn content_words(r: &common::Reply) -> usize {
    let chunks = r.chunks();
    ["content", "reasoning_content"]
        .iter()
        .map(|f| common::streamed_text(&chunks, f).split_whitespace().count())
        .sum()
}

#[tokio::test]
async fn a_stream_cut_before_its_first_token_is_resumed_in_the_next_region() {
    let gw = start().await;
    gw.fault(
        "deepseek",
        "global",
        json!({"kind": "drop_after", "tokens": 0}),
    )
    .await;
    let mut body = ask("deepseek-v4-flash", "hi");
    body["stream"] = json!(true);
    body["max_tokens"] = json!(10);
    let r = gw.chat(body).await;
    assert_eq!(r.status, 200);
    assert!(r.ends_with_done(), "the client sees one clean stream");
    assert!(r.chunks().iter().all(|c| c.get("error").is_none()));
    assert_eq!(content_words(&r), 10, "every token, once");
    let roles = r
        .chunks()
        .iter()
        .filter(|c| !c["choices"][0]["delta"]["role"].is_null())
        .count();
    assert_eq!(roles, 1, "nothing of the failed attempt reached the client");
    let stats = gw.sim_stats().await;
    assert_eq!(
        served_in(&stats, "deepseek", ["global", "global-b"]),
        (1, 1)
    );
}

#[tokio::test]
async fn a_stream_stalled_before_its_first_token_moves_on_at_the_ttft_timeout() {
    let gw = start_with(0.0, |c| {
        c.server.ttft_timeout = std::time::Duration::from_secs(1)
    })
    .await;
    gw.fault(
        "moonshot",
        "global",
        json!({"kind": "stall_after", "tokens": 0}),
    )
    .await;
    let mut body = ask("kimi-k2.6", "hi");
    body["stream"] = json!(true);
    let started = std::time::Instant::now();
    let r = tokio::time::timeout(std::time::Duration::from_secs(10), gw.chat(body))
        .await
        .unwrap();
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(900),
        "waited for the TTFT deadline"
    );
    assert!(r.ends_with_done(), "{:?}", r.chunks().last());
    assert_eq!(content_words(&r), 8);
    let metrics = gw.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("switchyard_failovers_total")
                && l.contains("stream_before_first_token"))
    );
    let stats = gw.sim_stats().await;
    assert_eq!(
        served_in(&stats, "moonshot", ["global", "cn"]),
        (1, 1),
        "one stalled attempt, one that answered"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while gw.sim_stats().await["in_flight"] != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the stalled attempt was never cancelled"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        gw.metric("switchyard_usage_records_total", &["model=\"kimi-k2.6\""])
            .await,
        1.0,
        "billed once"
    );
}

#[tokio::test]
async fn a_region_that_keeps_failing_is_taken_out_then_given_a_trial() {
    let gw = start_with(0.0, |c| {
        c.health.consecutive_failures = 2;
        c.health.cooldown = std::time::Duration::from_millis(500);
    })
    .await;
    gw.fault("deepseek", "global", json!({"kind": "server_error"}))
        .await;
    let attempts: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            let r = gw.chat(ask("deepseek-v4-flash", "hi")).await;
            assert_eq!(r.status, 200);
            v.push(
                r.header("x-switchyard-attempts")
                    .unwrap_or_default()
                    .to_string(),
            );
        }
        v
    };
    assert_eq!(
        attempts,
        ["2", "2", "1", "1"],
        "after 2 failures the region is skipped"
    );
    let stats = gw.sim_stats().await;
    assert_eq!(served(&stats, "deepseek", "global"), 2);
    let health = gw.get("/admin/health").await.json();
    assert_eq!(health["providers"]["deepseek"]["global"]["state"], "open");
    assert_eq!(
        health["providers"]["deepseek"]["global-b"]["state"],
        "closed"
    );

    // The region recovers; after the cooldown one trial request closes the breaker.
    gw.clear_faults().await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let r = gw.chat(ask("deepseek-v4-flash", "hi")).await;
    assert_eq!(r.header("x-switchyard-region"), Some("global"));
    let health = gw.get("/admin/health").await.json();
    assert_eq!(health["providers"]["deepseek"]["global"]["state"], "closed");
    let metrics = gw.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("switchyard_region_healthy") && l.contains("region=\"global\""))
    );
}

#[tokio::test]
async fn a_spent_retry_budget_stops_failover_instead_of_multiplying_load() {
    let gw = start_with(0.0, |c| {
        c.retries.budget_ratio = 0.0;
        c.retries.budget_reserve = 1.0;
        c.health.consecutive_failures = 100;
    })
    .await;
    gw.fault("zhipu", "global", json!({"kind": "rate_limit"}))
        .await;
    let first = gw.chat(ask("glm-4.5-flash", "hi")).await;
    assert_eq!(
        first.status, 200,
        "the one saved-up retry moves it to the next region"
    );
    assert_eq!(first.header("x-switchyard-attempts"), Some("2"));
    let second = gw.chat(ask("glm-4.5-flash", "hi")).await;
    assert_eq!(
        second.status, 429,
        "budget spent: the 429 is passed on, not retried"
    );
    let stats = gw.sim_stats().await;
    assert_eq!(served_in(&stats, "zhipu", ["global", "cn"]), (2, 1));
    assert!(
        gw.metrics()
            .await
            .contains("switchyard_retry_budget_exhausted_total")
    );
}

fn with_fallback(c: &mut switchyard_gateway::Config) {
    c.fallbacks
        .insert("deepseek-v4-flash".into(), vec!["qwen-plus".into()]);
}

#[tokio::test]
async fn when_every_region_fails_a_fallback_model_answers() {
    let gw = start_with(0.0, with_fallback).await;
    gw.fault("deepseek", "*", json!({"kind": "overloaded"}))
        .await;
    for stream in [false, true] {
        let mut body = ask("deepseek-v4-flash", "hi");
        body["stream"] = json!(stream);
        let r = gw.chat(body).await;
        assert_eq!(
            r.status,
            200,
            "stream={stream}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(
            r.header("x-switchyard-fallback-from"),
            Some("deepseek-v4-flash")
        );
        assert_eq!(r.header("x-switchyard-provider"), Some("dashscope"));
        assert_eq!(
            r.header("x-switchyard-attempts"),
            Some("4"),
            "two deepseek regions, one backed-off retry of the last, then qwen"
        );
        let model = if stream {
            r.chunks()[0]["model"].clone()
        } else {
            r.json()["model"].clone()
        };
        assert_eq!(
            model, "qwen-plus",
            "the answer names the model that gave it"
        );
    }
    assert!(gw.metrics().await.contains("switchyard_fallbacks_total"));
}

#[tokio::test]
async fn a_stream_cut_before_its_first_token_everywhere_moves_to_the_fallback_model() {
    let gw = start_with(0.0, with_fallback).await;
    gw.fault("deepseek", "*", json!({"kind": "drop_after", "tokens": 0}))
        .await;
    let mut body = ask("deepseek-v4-flash", "hi");
    body["stream"] = json!(true);
    body["max_tokens"] = json!(10);
    body["stream_options"] = json!({"include_usage": true});
    let r = gw.chat(body).await;
    assert_eq!(r.status, 200);
    assert!(r.ends_with_done(), "one clean stream");
    let chunks = r.chunks();
    assert!(chunks.iter().all(|c| c.get("error").is_none()));
    assert!(
        chunks.iter().all(|c| c["model"] == "qwen-plus"),
        "the chunks name the model that answered"
    );
    assert_eq!(content_words(&r), 10, "every token, once");
    let usage = &chunks.last().unwrap()["usage"];
    assert_eq!(usage["completion_tokens"], 10);
    let stats = gw.sim_stats().await;
    assert_eq!(
        served_in(&stats, "deepseek", ["global", "global-b"]),
        (1, 1)
    );
    assert_eq!(served(&stats, "dashscope", "singapore"), 1);
    // Billed once, to the model that answered.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(
        gw.metric("switchyard_usage_records_total", &["outcome=\"completed\""])
            .await,
        1.0
    );
    assert_eq!(
        gw.metric(
            "switchyard_usage_records_total",
            &["model=\"qwen-plus\"", "outcome=\"completed\""]
        )
        .await,
        1.0
    );
}

#[tokio::test]
async fn a_non_retryable_error_is_not_sent_to_a_fallback_model() {
    let gw = start_with(0.0, with_fallback).await;
    gw.fault("deepseek", "*", json!({"kind": "insufficient_balance"}))
        .await;
    let r = gw.chat(ask("deepseek-v4-flash", "hi")).await;
    assert_eq!(r.status, 402);
    let stats = gw.sim_stats().await;
    assert_eq!(served(&stats, "dashscope", "singapore"), 0);
}

#[tokio::test]
async fn the_vendors_retry_after_reaches_the_client() {
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(|| async {
            (
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "7"), ("content-type", "application/json")],
                r#"{"error":{"message":"slow down","type":"rate_limit_error","code":"rate_limit_exceeded"}}"#,
            )
        }),
    );
    let base = common::custom_upstream(app).await;
    let extra = common::custom_provider(&base, &["only"]);
    let gw = start_with(0.0, move |c| {
        c.providers.extend(extra.providers);
        c.models.extend(extra.models);
    })
    .await;
    let r = gw.chat(ask("custom-model", "hi")).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("7"));
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");
}

#[tokio::test]
async fn a_429_storm_with_retry_after_is_passed_on_once_every_region_refuses() {
    let gw = start().await;
    gw.fault(
        "zhipu",
        "*",
        json!({"kind": "rate_limit", "retry_after_secs": 3}),
    )
    .await;
    let r = gw.chat(ask("glm-4.5", "hi")).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("3"));
    let stats = gw.sim_stats().await;
    assert_eq!(
        served(&stats, "zhipu", "global") + served(&stats, "zhipu", "cn"),
        2,
        "each region tried once, no more"
    );
}

#[tokio::test]
async fn a_client_may_shorten_the_ttft_limit_per_request_but_not_raise_it() {
    let gw = start().await;
    gw.fault(
        "moonshot",
        "global",
        json!({"kind": "stall_after", "tokens": 0}),
    )
    .await;
    let mut body = ask("kimi-k2.6", "hi");
    body["stream"] = json!(true);
    let started = std::time::Instant::now();
    let resp = gw
        .http
        .post(format!("{}/v1/chat/completions", gw.base))
        .header("content-type", "application/json")
        .header("x-switchyard-ttft-timeout", "0.3")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    let took = started.elapsed();
    assert!(
        text.ends_with("data: [DONE]\n\n"),
        "moved to the next region: {text}"
    );
    assert!(
        took < std::time::Duration::from_secs(3),
        "the 0.3 s limit applied, not the 120 s default: {took:?}"
    );
    let bad = gw
        .http
        .post(format!("{}/v1/chat/completions", gw.base))
        .header("content-type", "application/json")
        .header("x-switchyard-timeout", "soon")
        .body(ask("kimi-k2.6", "hi").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}
