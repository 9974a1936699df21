//! Trust between tenants (issue 11): what one caller sends cannot read, plant or harm
//! another's state — cached reasoning, shared breakers, budgets — and bad input gets a
//! clear 400 with nothing spent.

use std::sync::{Arc, Mutex};

use crate::common;
use crate::common::{TestGateway, ask, custom_upstream, new_key, start_with, weather_tool};
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use serde_json::{Value, json};
use switchyard_gateway::Config;

const SECRET: &str = "A-SECRET-CHAIN-OF-THOUGHT";

/// An upstream that answers a user turn with a tool call (Kimi's predictable id) and
/// reasoning, anything else with plain text, and keeps every body it was sent.
async fn tool_calling_upstream() -> (String, Arc<Mutex<Vec<Value>>>) {
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let app = Router::new()
        .route(
            "/v1/chat/completions",
            post(
                |State(seen): State<Arc<Mutex<Vec<Value>>>>, body: axum::Json<Value>| async move {
                    let last_is_user = body["messages"]
                        .as_array()
                        .and_then(|m| m.last())
                        .is_some_and(|m| m["role"] == "user");
                    seen.lock().unwrap().push(body.0);
                    let message = if last_is_user {
                        json!({"role": "assistant", "content": null, "reasoning_content": SECRET,
                            "tool_calls": [{"id": "functions.get_weather:0", "type": "function",
                                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]})
                    } else {
                        json!({"role": "assistant", "content": "It is sunny."})
                    };
                    axum::Json(json!({"id": "c1", "object": "chat.completion", "created": 1,
                        "model": "tool-model", "choices": [{"index": 0, "message": message,
                        "finish_reason": if last_is_user { "tool_calls" } else { "stop" }}],
                        "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}}))
                },
            ),
        )
        .with_state(Arc::clone(&seen));
    (custom_upstream(app).await, seen)
}

fn tool_provider(base: &str) -> Config {
    Config::parse(
        &format!(
            "[providers.custom]\ndialect = \"openai\"\napi_key = \"x\"\n\
             regions = [{{ name = \"lab\", base_url = \"{base}\" }}]\n\n\
             [[models]]\nid = \"tool-model\"\nprovider = \"custom\"\ncontext_window = 4096\n\
             max_output = 512\ncapabilities = [\"text\", \"tools\"]\n\
             price = {{ input = 1.0, cached_input = 0.1, output = 2.0 }}\n"
        ),
        "test",
    )
    .unwrap()
}

/// A gateway with keys on, in front of [`tool_calling_upstream`]; and what it was sent.
async fn tool_gateway() -> (TestGateway, Arc<Mutex<Vec<Value>>>) {
    let (base, seen) = tool_calling_upstream().await;
    let extra = tool_provider(&base);
    let gw = start_with(0.0, move |c| {
        c.keys.enabled = true;
        c.providers.extend(extra.providers);
        c.models.extend(extra.models);
    })
    .await;
    (gw, seen)
}

/// The history a client sends back after the tool ran, without the reasoning.
fn tool_history(question: &str) -> Value {
    json!({"model": "tool-model", "tools": [weather_tool()], "messages": [
        {"role": "user", "content": question},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "functions.get_weather:0",
            "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "functions.get_weather:0", "content": "sunny"}]})
}

fn forwarded_reasoning(seen: &Mutex<Vec<Value>>) -> Option<String> {
    let last = seen.lock().unwrap().last().cloned().unwrap();
    last["messages"][1]["reasoning_content"]
        .as_str()
        .map(str::to_string)
}

#[tokio::test]
async fn reasoning_behind_a_tool_call_is_restored_only_for_the_key_and_conversation_that_made_it() {
    let (gw, seen) = tool_gateway().await;
    let (key_a, _) = new_key(&gw, json!({"name": "a", "team": "alpha"})).await;
    let (key_b, _) = new_key(&gw, json!({"name": "b", "team": "alpha"})).await;
    let first = json!({"model": "tool-model", "tools": [weather_tool()],
        "messages": [{"role": "user", "content": "weather in Paris?"}]});
    let r = gw.chat_as(&key_a, first).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));

    // B replays A's conversation with A's (predictable) tool-call id: nothing of A's.
    let r = gw.chat_as(&key_b, tool_history("weather in Paris?")).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        forwarded_reasoning(&seen),
        None,
        "B must not receive A's reasoning"
    );

    // A itself, in another conversation with the same id: not restored either.
    let r = gw.chat_as(&key_a, tool_history("weather in Rome?")).await;
    assert_eq!(r.status, 200);
    assert_eq!(forwarded_reasoning(&seen), None);

    // A, in its own conversation: restored, as before.
    let r = gw.chat_as(&key_a, tool_history("weather in Paris?")).await;
    assert_eq!(r.status, 200);
    assert_eq!(forwarded_reasoning(&seen).as_deref(), Some(SECRET));
}

#[tokio::test]
async fn reasoning_planted_by_one_key_is_never_handed_to_another() {
    let (gw, seen) = tool_gateway().await;
    let (key_a, _) = new_key(&gw, json!({"name": "a"})).await;
    let (key_b, _) = new_key(&gw, json!({"name": "b"})).await;
    // B causes the entry (planting its upstream's reasoning under the id A will use) ...
    let first = json!({"model": "tool-model", "tools": [weather_tool()],
        "messages": [{"role": "user", "content": "weather in Paris?"}]});
    assert_eq!(gw.chat_as(&key_b, first).await.status, 200);
    // ... and A, sending the same history, does not get it.
    assert_eq!(
        gw.chat_as(&key_a, tool_history("weather in Paris?"))
            .await
            .status,
        200
    );
    assert_eq!(forwarded_reasoning(&seen), None);
}

/// Every deployment of `provider` has its breaker closed.
async fn assert_all_closed(gw: &TestGateway, provider: &str) {
    let states = breaker_states(gw, provider).await;
    assert!(
        states.iter().all(|s| s == "closed"),
        "{:?}",
        gw.get("/admin/health").await.json()
    );
}

async fn breaker_states(gw: &TestGateway, provider: &str) -> Vec<String> {
    let health = gw.get("/admin/health").await.json();
    health["providers"][provider]
        .as_object()
        .unwrap()
        .values()
        .map(|d| d["state"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_client_shortened_timeout_never_opens_the_shared_breaker() {
    // Real latencies, so that a 1 ms limit always runs out.
    let gw = start_with(1.0, |_| {}).await;
    let before = gw.served("deepseek", "global").await + gw.served("deepseek", "cn").await;
    for _ in 0..8 {
        let r = gw
            .chat_with(
                &[("x-switchyard-timeout", "0.001")],
                ask("deepseek-v4-flash", "hi"),
            )
            .await;
        assert_eq!(r.status, 504, "{}", String::from_utf8_lossy(&r.body));
    }
    assert_all_closed(&gw, "deepseek").await;
    let after = gw.served("deepseek", "global").await + gw.served("deepseek", "cn").await;
    assert!(
        after - before <= 8,
        "no retry or failover for a client's own limit: {} upstream calls",
        after - before
    );
    // Everyone else is served by the home deployment as before.
    let r = gw.chat(ask("deepseek-v4-flash", "hi")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-switchyard-attempts"), Some("1"));
}

#[tokio::test]
async fn a_client_shortened_ttft_limit_ends_its_stream_without_marking_the_deployment() {
    let gw = start_with(1.0, |_| {}).await;
    for _ in 0..8 {
        let mut body = ask("deepseek-v4-flash", "hi");
        body["stream"] = json!(true);
        let r = gw
            .chat_with(&[("x-switchyard-ttft-timeout", "0.001")], body)
            .await;
        assert_eq!(r.status, 200);
        let last = r.chunks().pop().unwrap();
        assert_eq!(last["error"]["code"], "client_timeout", "{last}");
    }
    assert_all_closed(&gw, "deepseek").await;
}

#[tokio::test]
async fn bad_timeout_headers_get_a_400_and_nothing_is_charged() {
    let gw = start_with(0.0, |_| {}).await;
    for bad in ["abc", "-1", "0", "NaN", "inf"] {
        let r = gw
            .chat_with(
                &[("x-switchyard-timeout", bad)],
                ask("deepseek-v4-flash", "hi"),
            )
            .await;
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.json()["error"]["param"], "x-switchyard-timeout");
    }
    gw.flush_usage();
    assert!(
        gw.usage_events().is_empty(),
        "a refused header spends nothing: {:?}",
        gw.usage_events()
    );
    // A limit beyond any configured one is no limit at all, not a crash.
    for huge in ["1e20", "1e300"] {
        let r = gw
            .chat_with(
                &[
                    ("x-switchyard-timeout", huge),
                    ("x-switchyard-ttft-timeout", huge),
                ],
                ask("deepseek-v4-flash", "hi"),
            )
            .await;
        assert_eq!(r.status, 200, "{huge}");
    }
}

#[tokio::test]
async fn conflicting_max_tokens_and_max_completion_tokens_are_refused() {
    let gw = start_with(0.0, |_| {}).await;
    let mut body = ask("deepseek-v4-flash", "hi");
    body["max_tokens"] = json!(3000);
    body["max_completion_tokens"] = json!(1);
    let r = gw.chat(body).await;
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    let e = &r.json()["error"];
    assert_eq!(e["param"], "max_completion_tokens");
    assert!(e["message"].as_str().unwrap().contains("3000"), "{e}");
    // The same value twice is no conflict.
    let mut body = ask("deepseek-v4-flash", "hi");
    body["max_tokens"] = json!(5);
    body["max_completion_tokens"] = json!(5);
    assert_eq!(gw.chat(body).await.status, 200);
}

#[tokio::test]
async fn a_rule_bound_to_a_team_cannot_be_selected_by_another_teams_header() {
    let parsed = Config::parse(
        "[virtual_models.ruled]\npolicy = \"cheapest\"\nmodels = [\"qwen-flash\", \"deepseek-v4-pro\"]\n\
         rules = [\n  { when = \"header:x-tier=premium\", model = \"deepseek-v4-pro\", teams = [\"premium\"] },\n\
           { when = \"user=vip\", model = \"deepseek-v4-pro\", keys = [\"no-such-key\"] },\n]\n",
        "test",
    )
    .unwrap();
    let gw = start_with(0.0, move |c| {
        c.keys.enabled = true;
        c.virtual_models = parsed.virtual_models;
    })
    .await;
    let (alpha, _) = new_key(&gw, json!({"name": "a", "team": "alpha"})).await;
    let (premium, _) = new_key(&gw, json!({"name": "p", "team": "premium"})).await;
    let ask_premium = |key: String| {
        let gw = &gw;
        async move {
            let r = gw
                .http
                .post(format!("{}/v1/chat/completions", gw.base))
                .bearer_auth(key)
                .header("x-tier", "premium")
                .header("content-type", "application/json")
                .body(
                    json!({"model": "ruled", "user": "vip",
                    "messages": [{"role": "user", "content": "hi"}]})
                    .to_string(),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.headers()["x-switchyard-model"]
                .to_str()
                .unwrap()
                .to_string()
        }
    };
    assert_eq!(
        ask_premium(alpha).await,
        "qwen-flash",
        "another team's header selects nothing"
    );
    assert_eq!(ask_premium(premium).await, "deepseek-v4-pro");
}

#[tokio::test]
async fn with_keys_on_models_need_a_key_and_operator_endpoints_the_admin_token() {
    let gw = start_with(0.0, |c| c.keys.enabled = true).await;
    let (key, _) = new_key(&gw, json!({"name": "a"})).await;
    let get = |path: &str, bearer: Option<String>| {
        let mut rb = gw.http.get(format!("{}{path}", gw.base));
        if let Some(b) = bearer {
            rb = rb.bearer_auth(b);
        }
        async move {
            let r = rb.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.text().await.unwrap())
        }
    };
    for path in ["/v1/models", "/v1/models/deepseek-v4-flash"] {
        let (status, body) = get(path, None).await;
        assert_eq!(status, 401, "{path}: {body}");
        assert!(body.contains("\"error\""), "{body}");
        assert_eq!(get(path, Some(key.clone())).await.0, 200, "{path}");
    }
    for path in ["/admin/health", "/metrics"] {
        assert_eq!(get(path, None).await.0, 401, "{path}");
        assert_eq!(
            get(path, Some(key.clone())).await.0,
            401,
            "{path}: a gateway key is not enough"
        );
        let admin = Some(common::ADMIN_TOKEN.to_string());
        assert_eq!(get(path, admin).await.0, 200, "{path}");
    }
    // Liveness and readiness stay open for probes.
    assert_eq!(get("/healthz", None).await.0, 200);
}

#[tokio::test]
async fn keys_public_opens_the_listed_endpoints() {
    let parsed = Config::parse(
        "[keys]\nenabled = true\npublic = [\"models\", \"metrics\"]\n",
        "test",
    )
    .unwrap();
    let gw = start_with(0.0, move |c| c.keys = parsed.keys).await;
    assert_eq!(gw.get("/v1/models").await.status, 200);
    assert_eq!(gw.get("/metrics").await.status, 200);
    assert_eq!(gw.get("/admin/health").await.status, 401);
    let e = Config::parse("[keys]\npublic = [\"everything\"]\n", "test").unwrap_err();
    assert!(e.to_string().contains("line 2"), "{e}");
}

#[tokio::test]
async fn wrong_admin_tokens_lock_the_address_out_for_a_while() {
    let gw = start_with(0.0, |c| c.keys.enabled = true).await;
    let list = |token: &'static str| {
        let rb = gw
            .http
            .get(format!("{}/admin/keys", gw.base))
            .bearer_auth(token);
        async move { rb.send().await.unwrap() }
    };
    for _ in 0..10 {
        assert_eq!(list("guess").await.status(), 401);
    }
    let r = list("guess").await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let body: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "too_many_failed_attempts");
    // Even the right token waits: a guess that happens to be right is not let through.
    assert_eq!(list(common::ADMIN_TOKEN).await.status(), 429);
}

#[tokio::test]
async fn durations_too_long_for_a_clock_are_config_errors_not_panics() {
    for (toml, what) in [
        ("[health]\ncooldown_secs = 1e300\n", "cooldown_secs"),
        ("[health]\nslow_start_secs = 1e20\n", "slow_start_secs"),
        (
            "[health]\nprobe_interval_secs = 1e300\n",
            "probe_interval_secs",
        ),
        ("[keys]\nrefresh_secs = 1e300\n", "refresh_secs"),
        (
            "[server]\nheader_timeout_secs = 1e300\n",
            "header_timeout_secs",
        ),
        ("[server]\nbody_timeout_secs = 0\n", "body_timeout_secs"),
    ] {
        let e = Config::parse(toml, "test").unwrap_err().to_string();
        assert!(e.contains(what) && e.contains("line 2"), "{toml}: {e}");
    }
}

#[tokio::test]
async fn absurd_key_expiry_and_budget_are_refused() {
    let gw = start_with(0.0, |c| c.keys.enabled = true).await;
    for (body, param) in [
        (
            json!({"name": "a", "expires_in_days": 1e300}),
            "expires_in_days",
        ),
        (json!({"name": "a", "budget_usd": 1e300}), "budget_usd"),
    ] {
        let r = common::admin(&gw, "POST", "/admin/keys", Some(body), common::ADMIN_TOKEN).await;
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["error"]["param"], param);
    }
}
