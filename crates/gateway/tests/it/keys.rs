//! Gateway keys end to end: the admin API issues them, requests must carry one, and each
//! key's models, rate limits and budget are enforced before any upstream spend.

use crate::common::{ADMIN_TOKEN, Reply, TestGateway, admin, ask, new_key, start_with};
use futures_util::future::join_all;
use serde_json::json;

async fn keyed() -> TestGateway {
    start_with(0.0, |c| c.keys.enabled = true).await
}

fn error_code(r: &Reply) -> String {
    r.json()["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn requests_need_a_valid_key_and_bad_keys_get_clear_401s() {
    let gw = keyed().await;
    let r = gw.chat(ask("deepseek-v4-flash", "hi")).await;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (401, "missing_api_key")
    );
    assert_eq!(r.json()["error"]["type"], "authentication_error");
    for bad in [
        "sk-not-ours",
        "sy-0123456789ab-abcdefghijABCDEFGHIJ0123456789xy",
    ] {
        let r = gw.chat_as(bad, ask("deepseek-v4-flash", "hi")).await;
        assert_eq!(
            (r.status, error_code(&r).as_str()),
            (401, "invalid_api_key"),
            "{bad}"
        );
    }
    let (key, id) = new_key(&gw, json!({"name": "ci", "team": "search"})).await;
    let ok = gw.chat_as(&key, ask("deepseek-v4-flash", "hi")).await;
    assert_eq!(ok.status, 200);
    // Revoked: refused at once.
    let r = admin(
        &gw,
        "DELETE",
        &format!("/admin/keys/{id}"),
        None,
        ADMIN_TOKEN,
    )
    .await;
    assert_eq!(r.status, 200);
    let r = gw.chat_as(&key, ask("deepseek-v4-flash", "hi")).await;
    assert_eq!(r.status, 401);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
    // Nothing refused was recorded as spend; the one good request was, with its key.
    let events = gw.usage_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].key_id.as_deref(), Some(id.as_str()));
    assert_eq!(events[0].team.as_deref(), Some("search"));
    assert!(events[0].cost_nanos > 0);
}

#[tokio::test]
async fn an_expired_key_is_refused() {
    let gw = keyed().await;
    let (key, _) = new_key(&gw, json!({"name": "short", "expires_in_days": 0.000_01})).await;
    tokio::time::sleep(std::time::Duration::from_millis(1_000)).await;
    let r = gw.chat_as(&key, ask("deepseek-v4-flash", "hi")).await;
    assert_eq!(r.status, 401);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}

#[tokio::test]
async fn a_key_limited_to_some_models_gets_403_for_others() {
    let gw = keyed().await;
    let (key, _) = new_key(&gw, json!({"name": "k", "models": ["DeepSeek-V4-Flash"]})).await;
    assert_eq!(
        gw.chat_as(&key, ask("deepseek-v4-flash", "hi"))
            .await
            .status,
        200
    );
    let r = gw.chat_as(&key, ask("qwen3-32b", "hi")).await;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (403, "model_not_allowed")
    );
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("deepseek-v4-flash")
    );
    assert_eq!(
        gw.served("dashscope", "singapore").await,
        0,
        "no upstream call"
    );
}

#[tokio::test]
async fn requests_per_minute_are_limited_with_retry_after_and_ratelimit_headers() {
    let gw = keyed().await;
    let (key, _) = new_key(&gw, json!({"name": "k", "rpm": 3})).await;
    for left in ["2", "1", "0"] {
        let r = gw.chat_as(&key, ask("deepseek-v4-flash", "hi")).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-ratelimit-limit-requests"), Some("3"));
        assert_eq!(r.header("x-ratelimit-remaining-requests"), Some(left));
    }
    let r = gw.chat_as(&key, ask("deepseek-v4-flash", "hi")).await;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (429, "rate_limit_exceeded")
    );
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=21).contains(&wait), "{wait}");
    assert_eq!(r.header("x-ratelimit-remaining-requests"), Some("0"));
    assert_eq!(
        gw.usage_events().len(),
        3,
        "the refused request cost nothing"
    );
}

#[tokio::test]
async fn tokens_are_reserved_up_front_and_trued_up_after() {
    let gw = keyed().await;
    let (key, _) = new_key(&gw, json!({"name": "k", "tpm": 1_000_000})).await;
    // No max_tokens: each request reserves its prompt plus the model's whole output cap
    // (393,216 for deepseek-v4-flash) but uses a few hundred tokens.
    let remaining = |r: &Reply| -> u64 {
        r.header("x-ratelimit-remaining-tokens")
            .unwrap()
            .parse()
            .unwrap()
    };
    let uncapped = || {
        let mut b = ask("deepseek-v4-flash", "hi");
        b.as_object_mut().unwrap().remove("max_tokens");
        b
    };
    let first = gw.chat_as(&key, uncapped()).await;
    assert_eq!(first.status, 200);
    assert!(
        (600_000..610_000).contains(&remaining(&first)),
        "{}",
        remaining(&first)
    );
    // Without the true-up the second would see ~213k left and the third would be refused.
    for _ in 0..3 {
        let r = gw.chat_as(&key, uncapped()).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert!(
            remaining(&r) > 590_000,
            "unused reservation given back: {}",
            remaining(&r)
        );
    }
    // A request that could use more than the whole limit is refused.
    let mut body = uncapped();
    body["messages"][0]["content"] = json!("word ".repeat(700_000));
    let r = gw.chat_as(&key, body).await;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (429, "rate_limit_exceeded")
    );
}

#[tokio::test]
async fn a_budget_stops_spending_and_concurrency_cannot_overshoot_it_by_more_than_one_request() {
    let gw = keyed().await;
    // deepseek-v4-flash: $0.14 in / $0.28 out per 1M. A request with max_tokens 1000 may
    // cost up to ~$0.00028; the budget allows about 3.5 of those at most.
    let budget_usd = 0.001;
    let (key, id) = new_key(
        &gw,
        json!({"name": "k", "budget_usd": budget_usd, "budget_period": "day"}),
    )
    .await;
    let mut body = ask("deepseek-v4-flash", "hi");
    body["max_tokens"] = json!(1000);
    // As long as the cap, so the twelve cost more than the budget even off-peak.
    body["ignore_eos"] = json!(true);
    let replies = join_all((0..12).map(|_| gw.chat_as(&key, body.clone()))).await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    let refused: Vec<&Reply> = replies.iter().filter(|r| r.status != 200).collect();
    assert!(ok >= 1 && !refused.is_empty(), "ok {ok}");
    for r in &refused {
        assert_eq!((r.status, error_code(r).as_str()), (402, "budget_exceeded"));
        assert_eq!(r.json()["error"]["type"], "insufficient_quota");
    }
    let spent: u64 = gw
        .usage_events()
        .iter()
        .filter(|e| e.key_id.as_deref() == Some(id.as_str()))
        .map(|e| e.cost_nanos)
        .sum();
    let one_request_max = 1_000 * 280 + 100 * 140; // 1,000 output + a short prompt, in n$
    assert!(
        spent <= (budget_usd * 1e9) as u64 + one_request_max,
        "spent {spent} n$ over a {budget_usd} budget"
    );
    assert_eq!(
        gw.usage_events().len(),
        ok,
        "refused requests are not spend"
    );
}

#[tokio::test]
async fn the_admin_api_needs_its_token_and_rotation_replaces_the_secret() {
    let gw = keyed().await;
    let r = admin(&gw, "GET", "/admin/keys", None, "wrong").await;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (401, "invalid_admin_token")
    );
    let r = gw.get("/admin/keys").await;
    assert_eq!(r.status, 401);
    let r = admin(
        &gw,
        "POST",
        "/admin/keys",
        Some(json!({"name": ""})),
        ADMIN_TOKEN,
    )
    .await;
    assert_eq!(r.status, 400);
    let r = admin(
        &gw,
        "POST",
        "/admin/keys",
        Some(json!({"name": "x", "models": ["gpt-9"]})),
        ADMIN_TOKEN,
    )
    .await;
    assert_eq!(r.status, 400, "unknown models are refused");
    let (old, id) = new_key(&gw, json!({"name": "app", "rpm": 100})).await;
    let list = admin(&gw, "GET", "/admin/keys", None, ADMIN_TOKEN)
        .await
        .json();
    assert_eq!(list["data"][0]["id"], id.as_str());
    assert!(
        !list.to_string().contains(&old),
        "keys are never shown again"
    );
    let rotated = admin(
        &gw,
        "POST",
        &format!("/admin/keys/{id}/rotate"),
        None,
        ADMIN_TOKEN,
    )
    .await;
    assert_eq!(rotated.status, 200);
    let new = rotated.json()["key"].as_str().unwrap().to_string();
    assert_eq!(
        gw.chat_as(&old, ask("deepseek-v4-flash", "hi"))
            .await
            .status,
        401
    );
    assert_eq!(
        gw.chat_as(&new, ask("deepseek-v4-flash", "hi"))
            .await
            .status,
        200
    );
    let r = admin(&gw, "DELETE", "/admin/keys/000000000000", None, ADMIN_TOKEN).await;
    assert_eq!((r.status, error_code(&r).as_str()), (404, "key_not_found"));
}

#[tokio::test]
async fn without_an_admin_token_the_admin_api_is_off() {
    let mut config = switchyard_gateway::Config::embedded_default().unwrap();
    config.keys.enabled = true;
    config.simulator.time_scale = 0.0;
    let dir = tempfile::tempdir().unwrap();
    config.usage.path = Some(dir.path().join("u.db"));
    let state = std::sync::Arc::new(
        switchyard_gateway::AppState::build(config, &|_| None)
            .await
            .unwrap(),
    );
    assert!(state.admin_token.is_none());
}
