//! The usage log: every request — completed, failed, moved between deployments, or an
//! extra hedge attempt — is written to SQLite with its key facts, off the request path.

use crate::common::{ask, routes, start_with};
use serde_json::json;

#[tokio::test]
async fn a_completed_request_is_logged_with_its_deployment_attempts_and_ttft() {
    let gw = start_with(0.0, |_| {}).await;
    gw.fault(
        "deepseek",
        "global",
        json!({"kind": "server_error", "count": 1}),
    )
    .await;
    let mut body = ask("deepseek-v4-flash", "hi");
    body["stream"] = json!(true);
    body["max_tokens"] = json!(5);
    let r = gw.chat(body).await;
    assert_eq!(r.status, 200);
    let events = gw.usage_events();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e.request_id, r.header("x-request-id").unwrap());
    assert_eq!(
        (
            e.model.as_str(),
            e.provider.as_str(),
            e.deployment.as_str(),
            e.region.as_str()
        ),
        ("deepseek-v4-flash", "deepseek", "global-b", "global-b")
    );
    assert_eq!(
        (e.status, e.outcome.as_str(), e.attempts),
        (200, "completed", 2)
    );
    assert_eq!(e.completion_tokens, 5);
    assert!(e.ttft_ms.is_some() && e.latency_ms >= e.ttft_ms.unwrap());
    assert!(e.cost_nanos > 0 && !e.estimated);
}

#[tokio::test]
async fn a_failed_request_is_logged_with_its_status_and_no_spend() {
    let gw = start_with(0.0, |c| c.retries.same_deployment = 0).await;
    gw.fault("moonshot", "*", json!({"kind": "rate_limit"}))
        .await;
    let r = gw.chat(ask("kimi-k2.5", "hi")).await;
    assert_eq!(r.status, 429);
    let events = gw.usage_events();
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(
        (e.status, e.outcome.as_str(), e.cost_nanos),
        (429, "failed", 0)
    );
    assert_eq!(e.attempts, 2, "both regions were tried");
}

#[tokio::test]
async fn a_cancelled_hedge_is_logged_apart_with_its_prompt_spend() {
    let gw = start_with(0.0, |c| {
        c.routes = routes(
            "[routes.\"deepseek-v4-flash\"]\nbalance = \"ordered\"\n\
             hedge = { initial_delay_ms = 50, min_delay_ms = 20 }\n\
             deployments = [{ region = \"global\", priority = 0 }, { region = \"global-b\", priority = 0 }]\n",
        );
    })
    .await;
    gw.fault(
        "deepseek",
        "global",
        json!({"kind": "latency_spike", "delay_ms": 2000}),
    )
    .await;
    let r = gw.chat(ask("deepseek-v4-flash", "hi")).await;
    assert_eq!(r.status, 200);
    let events = gw.usage_events();
    assert_eq!(events.len(), 2, "{events:?}");
    let won = events.iter().find(|e| e.outcome == "completed").unwrap();
    let lost = events
        .iter()
        .find(|e| e.outcome == "hedge_cancelled")
        .unwrap();
    assert_eq!(won.request_id, lost.request_id);
    assert_eq!(
        (won.deployment.as_str(), lost.deployment.as_str()),
        ("global-b", "global")
    );
    assert!(lost.estimated && lost.prompt_tokens > 0 && lost.completion_tokens == 0);
    assert!(lost.cost_nanos > 0, "the loser's prompt is spend");
}

#[tokio::test]
async fn with_store_none_nothing_is_written() {
    let gw = start_with(0.0, |c| c.usage.enabled = false).await;
    assert_eq!(gw.chat(ask("deepseek-v4-flash", "hi")).await.status, 200);
    assert!(gw.state.usage.is_none());
    assert!(!gw.usage_db.exists());
}
