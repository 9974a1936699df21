//! The trail of a request (`GET /admin/requests/{id}`): which deployments it tried, how
//! each attempt ended, what it used and cost — for answered, failed-over, streamed and
//! refused requests, under the caller's own `x-request-id` or the gateway's.

use serde_json::{Value, json};

use crate::common::{ADMIN_TOKEN, TestGateway, admin, ask, start, start_with};

async fn trail(gw: &TestGateway, id: &str) -> Value {
    let r = gw.get(&format!("/admin/requests/{id}")).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["request_id"], id);
    v["trails"][0].clone()
}

#[tokio::test]
async fn a_request_that_failed_over_once_shows_both_attempts_and_its_cost() {
    let gw = start().await;
    let whole = ask("deepseek-v4-flash", "hi");
    let mut streamed = whole.clone();
    streamed["stream"] = json!(true);
    // The first region fails every request: each goes on to the second.
    gw.fault("deepseek", "global", json!({"kind": "server_error"}))
        .await;
    for (stream, body) in [(false, whole), (true, streamed)] {
        let id = gw
            .chat(body)
            .await
            .header("x-request-id")
            .unwrap()
            .to_string();
        let t = trail(&gw, &id).await;
        assert_eq!(t["status"], 200, "stream={stream}: {t}");
        assert_eq!(t["model_asked"], "deepseek-v4-flash");
        let attempts = t["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 2, "stream={stream}: {t}");
        assert_eq!(attempts[0]["deployment"], "global");
        assert_eq!(attempts[0]["fate"], "failed");
        assert!(!attempts[0]["error"].as_str().unwrap().is_empty(), "{t}");
        assert_eq!(attempts[1]["deployment"], "global-b");
        assert_eq!(attempts[1]["fate"], "answered", "stream={stream}: {t}");
        assert!(
            attempts[1]["start_ms"].as_f64().unwrap() >= attempts[0]["start_ms"].as_f64().unwrap()
        );
        if stream {
            assert!(attempts[1]["ttft_ms"].as_f64().is_some(), "{t}");
        }
        let record = &t["records"][0];
        assert_eq!(record["outcome"], "completed");
        assert_eq!(record["deployment"], "global-b");
        assert!(record["cost_nanos"].as_u64().unwrap() > 0);
        assert!(record["usage"]["completion"].as_u64().unwrap() > 0);
    }
}

#[tokio::test]
async fn the_clients_own_request_id_finds_its_trail() {
    let gw = start().await;
    let r = gw
        .chat_with(&[("x-request-id", "my-req-42")], ask("qwen-flash", "hi"))
        .await;
    assert_eq!(r.header("x-request-id"), Some("my-req-42"));
    let t = trail(&gw, "my-req-42").await;
    assert_eq!(t["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(t["attempts"][0]["fate"], "answered");
}

#[tokio::test]
async fn a_refused_request_has_an_id_and_a_trail_that_says_why() {
    let gw = start().await;
    let r = gw
        .post(
            "/v1/chat/completions",
            &json!({"model": "deepseek-v4-flash"}),
        )
        .await;
    assert_eq!(r.status, 400);
    let id = r.header("x-request-id").unwrap().to_string();
    let t = trail(&gw, &id).await;
    assert_eq!(t["status"], 400);
    assert!(t["error"].as_str().unwrap().contains("messages"), "{t}");
    assert!(t["attempts"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn an_unknown_id_is_a_404_and_with_keys_on_only_the_admin_reads_trails() {
    let gw = start_with(0.0, |c| c.keys.enabled = true).await;
    let r = gw.get("/admin/requests/nope").await;
    assert_eq!(r.status, 401, "keys on: the admin token is needed");
    let r = admin(&gw, "GET", "/admin/requests/nope", None, ADMIN_TOKEN).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"]["code"], "request_not_found");
}

#[tokio::test]
async fn a_request_no_longer_in_memory_is_read_back_from_the_usage_log() {
    let first = start().await;
    let r = first.chat(ask("glm-4.5-air", "hi")).await;
    assert_eq!(r.status, 200);
    let id = r.header("x-request-id").unwrap().to_string();
    first.flush_usage();
    // Another gateway on the same usage log has never seen the request.
    let db = first.usage_db.clone();
    let second = start_with(0.0, move |c| c.usage.path = Some(db)).await;
    let r = second.get(&format!("/admin/requests/{id}")).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["source"], "usage_log");
    let records = v["records"].as_array().unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["request_id"], id.as_str());
    assert_eq!(records[0]["outcome"], "completed");
    assert!(records[0]["cost_nanos"].as_u64().unwrap() > 0);
    assert_eq!(second.get("/admin/requests/never-sent").await.status, 404);
}

#[tokio::test]
async fn every_answer_carries_a_request_id_the_clients_own_when_it_sent_one() {
    let gw = start().await;
    for path in [
        "/healthz",
        "/readyz",
        "/v1/models",
        "/metrics",
        "/no/such/route",
    ] {
        let r = gw.get(path).await;
        let id = r.header("x-request-id").unwrap_or_default();
        assert!(id.starts_with("sy-"), "{path}: {id:?}");
    }
    let r = gw
        .http
        .get(format!("{}/v1/models", gw.base))
        .header("x-request-id", "mine-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "mine-1");
    let r = gw
        .http
        .delete(format!("{}/v1/chat/completions", gw.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert!(r.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn a_usage_log_that_cannot_be_read_is_a_503_not_a_missing_request() {
    let gw = start().await;
    // The log's file is replaced by a directory: the lookup cannot open it.
    std::fs::remove_file(&gw.usage_db).unwrap();
    std::fs::create_dir(&gw.usage_db).unwrap();
    let r = gw.get("/admin/requests/not-in-memory").await;
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["error"]["code"], "usage_log_unavailable");
    assert_eq!(r.header("retry-after"), Some("1"));
}
