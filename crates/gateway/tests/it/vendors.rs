//! One model, many vendors: routes that deploy a model on resellers and aggregators
//! (SiliconFlow, OpenRouter, Volcengine Ark) as well as on its maker, each answering in its
//! own dialect through the simulator; failover and balancing across them; the price of
//! the vendor that served (its list price, or a deployment's contract price); and the
//! start-up errors of a route that names a vendor the catalog does not know sells it.

use serde_json::{Value, json};
use switchyard_catalog::{Billed, Catalog, Price};
use switchyard_gateway::Config;

use crate::common::{TestGateway, ask, routes, start_error, start_with, streamed_text};

const RESOLD: &str = r#"
[routes."glm-4.6"]
deployments = [{ provider = "openrouter", region = "global" }]

[routes."qwen3-32b"]
deployments = [{ provider = "siliconflow", region = "global" }]

[routes."glm-4.7"]
deployments = [{ provider = "ark", region = "cn-beijing" }]

[routes."glm-4.5"]
deployments = [
  { region = "global" },
  { provider = "openrouter", region = "global", price = { input = 0.5, cached_input = 0.05, output = 1.5, source = "our contract" } },
]
"#;

async fn resold() -> TestGateway {
    start_with(0.0, |c| c.routes.extend(routes(RESOLD))).await
}

/// A thinking request to `model` with room for an answer.
fn thinking(model: &str, stream: bool) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "think first"}],
        "max_tokens": 300, "stream": stream, "thinking": {"type": "enabled"}})
}

/// The bill of `usage` (an OpenAI usage object) at `price` now.
fn bill(price: &Price, usage: &Value) -> u64 {
    let prompt = usage["prompt_tokens"].as_u64().unwrap();
    let cached = usage["prompt_tokens_details"]["cached_tokens"]
        .as_u64()
        .unwrap_or(0);
    price.bill_nanos(&Billed {
        prompt,
        cached_prompt: cached,
        completion: usage["completion_tokens"].as_u64().unwrap(),
        reasoning: usage["completion_tokens_details"]["reasoning_tokens"]
            .as_u64()
            .unwrap_or(0),
        at_unix_secs: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    })
}

fn cost_nanos(header: Option<&str>) -> u64 {
    let (whole, frac) = header.unwrap().split_once('.').unwrap();
    whole.parse::<u64>().unwrap() * 1_000_000_000 + frac.parse::<u64>().unwrap()
}

#[tokio::test]
async fn each_reseller_answers_in_its_own_dialect_with_the_thinking_in_reasoning_content() {
    let gw = resold().await;
    let catalog = Catalog::builtin().unwrap();
    for (model, vendor) in [
        ("glm-4.6", "openrouter"),
        ("qwen3-32b", "siliconflow"),
        ("glm-4.7", "ark"),
        ("minimax-m2", "minimax"),
    ] {
        let r = gw.chat(thinking(model, false)).await;
        assert_eq!(
            r.status,
            200,
            "{model}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.header("x-switchyard-provider"), Some(vendor));
        let v = r.json();
        let message = &v["choices"][0]["message"];
        assert!(
            message["reasoning_content"]
                .as_str()
                .is_some_and(|s| !s.is_empty()),
            "{model}: {v}"
        );
        assert!(message.get("reasoning").is_none() && message.get("reasoning_details").is_none());
        assert!(
            !message["content"]
                .as_str()
                .unwrap_or("")
                .contains("<think>"),
            "{model}"
        );
        let price = catalog.get(model).unwrap().sold_by(vendor).unwrap().price;
        assert_eq!(
            cost_nanos(r.header("x-switchyard-cost-usd")),
            bill(price, &v["usage"]),
            "{model} is billed at {vendor}'s price"
        );

        let r = gw.chat(thinking(model, true)).await;
        assert_eq!(r.status, 200, "{model} streamed");
        assert!(r.ends_with_done(), "{model}");
        let chunks = r.chunks();
        assert!(
            !streamed_text(&chunks, "reasoning_content").is_empty(),
            "{model}"
        );
        assert!(
            streamed_text(&chunks, "reasoning").is_empty(),
            "{model}: moved, not doubled"
        );
        assert!(
            !streamed_text(&chunks, "content").contains("<think>"),
            "{model}"
        );
    }
}

#[tokio::test]
async fn thinking_switched_off_reaches_each_reseller_in_its_own_spelling() {
    let gw = resold().await;
    for model in ["glm-4.6", "qwen3-32b", "glm-4.7"] {
        let mut body = thinking(model, false);
        body["thinking"] = json!({"type": "disabled"});
        let r = gw.chat(body).await;
        assert_eq!(r.status, 200, "{model}");
        let v = r.json();
        assert!(
            v["choices"][0]["message"]
                .get("reasoning_content")
                .is_none(),
            "{model}: {v}"
        );
        assert_eq!(
            v["usage"]["completion_tokens_details"]["reasoning_tokens"]
                .as_u64()
                .unwrap_or(0),
            0
        );
    }
}

#[tokio::test]
async fn a_vendor_down_in_every_region_moves_requests_to_the_next_vendor_at_its_price() {
    let gw = resold().await;
    gw.fault("zhipu", "*", json!({"kind": "overloaded"})).await;
    let contract = Price {
        input: 0.5,
        cached_input: 0.05,
        output: 1.5,
        as_of: String::new(),
        source: String::new(),
        thinking_output: None,
        tiers: Vec::new(),
        off_peak: None,
    };
    for stream in [false, true] {
        let mut body = ask("glm-4.5", "hello");
        body["stream"] = json!(stream);
        body["stream_options"] = json!({"include_usage": true});
        let r = gw.chat(body).await;
        assert_eq!(r.status, 200, "stream {stream}");
        assert_eq!(r.header("x-switchyard-provider"), Some("openrouter"));
        if !stream {
            assert_eq!(
                cost_nanos(r.header("x-switchyard-cost-usd")),
                bill(&contract, &r.json()["usage"]),
                "the deployment's contract price, not the list price"
            );
        }
    }
    gw.flush_usage();
    let events = gw.usage_events();
    let served: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e.model == "glm-4.5")
        .map(|e| (e.provider.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(
        served,
        [("openrouter", "completed"), ("openrouter", "completed")]
    );
    let streamed = events.iter().rfind(|e| e.model == "glm-4.5").unwrap();
    let expected = contract.bill_nanos(&Billed {
        prompt: streamed.prompt_tokens,
        cached_prompt: streamed.cached_tokens,
        completion: streamed.completion_tokens,
        reasoning: streamed.reasoning_tokens,
        at_unix_secs: 0,
    });
    assert_eq!(streamed.cost_nanos, expected);
    // The metrics name the vendor that served, not the model's maker.
    let labels = ["model=\"glm-4.5\"", "provider=\"openrouter\""];
    assert_eq!(
        gw.metric("switchyard_usage_records_total", &labels).await,
        2.0
    );
    assert_eq!(gw.metric("switchyard_requests_total", &labels).await, 2.0);
    let maker = ["model=\"glm-4.5\"", "provider=\"zhipu\"", "status=\"200\""];
    assert_eq!(gw.metric("switchyard_requests_total", &maker).await, 0.0);
}

#[tokio::test]
async fn a_stream_cut_before_its_first_token_at_every_region_of_the_maker_moves_to_the_reseller() {
    // DeepSeek accepts the stream, then drops it before a token, in every region: the
    // relay moves it on (nothing has reached the client) to SiliconFlow, whose dialect
    // reads the rest, and bills SiliconFlow's price.
    let gw = resold().await;
    gw.fault("deepseek", "*", json!({"kind": "drop_after", "tokens": 0}))
        .await;
    let mut body = ask("deepseek-v3.2", "hello");
    body["stream"] = json!(true);
    body["max_tokens"] = json!(24);
    body["ignore_eos"] = json!(true);
    let r = gw.chat(body).await;
    assert_eq!(r.status, 200);
    assert!(r.ends_with_done(), "{}", String::from_utf8_lossy(&r.body));
    assert!(!streamed_text(&r.chunks(), "content").is_empty());
    gw.flush_usage();
    let events = gw.usage_events();
    let served = events.iter().rfind(|e| e.model == "deepseek-v3.2").unwrap();
    assert_eq!(
        (served.provider.as_str(), served.outcome.as_str()),
        ("siliconflow", "completed")
    );
    assert_eq!(served.completion_tokens, 24);
    let price = Catalog::builtin().unwrap();
    let price = price
        .get("deepseek-v3.2")
        .unwrap()
        .sold_by("siliconflow")
        .unwrap()
        .price;
    let expected = price.bill_nanos(&Billed {
        prompt: served.prompt_tokens,
        cached_prompt: served.cached_tokens,
        completion: served.completion_tokens,
        reasoning: served.reasoning_tokens,
        at_unix_secs: 0,
    });
    assert_eq!(served.cost_nanos, expected);
}

#[tokio::test]
async fn moving_to_another_vendor_spends_no_retry_budget() {
    // No retry budget at all: a retry on the failing vendor's other region is refused
    // (and passed over), but the move to another vendor is not a retry against anyone
    // in trouble.
    let gw = start_with(0.0, |c| {
        c.retries.budget_ratio = 0.0;
        c.retries.budget_reserve = 0.0;
        c.retries.same_deployment = 0;
        c.routes.extend(routes(
            "[routes.\"deepseek-v3.2\"]\ndeployments = [{ region = \"global\", priority = 0 }, \
             { region = \"global-b\", priority = 1 }, { provider = \"siliconflow\", region = \"global\", priority = 2 }]\n",
        ));
    })
    .await;
    gw.fault("deepseek", "*", json!({"kind": "server_error"}))
        .await;
    let r = gw.chat(ask("deepseek-v4-flash", "hi")).await;
    assert_eq!(r.status, 502, "no budget for DeepSeek's second region");
    let exhausted = gw
        .metric("switchyard_retry_budget_exhausted_total", &[])
        .await;
    assert_eq!(exhausted, 1.0);
    for stream in [false, true] {
        let mut body = ask("deepseek-v3.2", "hi");
        body["stream"] = json!(stream);
        let r = gw.chat(body).await;
        assert_eq!(
            r.status,
            200,
            "stream {stream}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.header("x-switchyard-provider"), Some("siliconflow"));
    }
    // A stream cut before its first token moves to the other vendor just the same.
    gw.fault("deepseek", "*", json!({"kind": "drop_after", "tokens": 0}))
        .await;
    let mut body = ask("deepseek-v3.2", "hi");
    body["stream"] = json!(true);
    let r = gw.chat(body).await;
    assert!(r.ends_with_done(), "{}", String::from_utf8_lossy(&r.body));
    let refused = gw
        .metric("switchyard_retry_budget_exhausted_total", &[])
        .await;
    assert_eq!(
        refused,
        exhausted + 3.0,
        "only DeepSeek's second region was refused, once per deepseek-v3.2 request"
    );
}

#[tokio::test]
async fn cheapest_prices_each_model_at_the_vendor_that_serves_it() {
    let budget = || {
        Config::parse(
            "[virtual_models.budget]\npolicy = \"cheapest\"\nmodels = [\"qwen3-32b\", \"glm-4.6\"]\n",
            "t",
        )
        .unwrap()
        .virtual_models
    };
    let mut body = ask("budget", "hi");
    body["max_tokens"] = json!(2000);
    // At their makers, GLM-4.6's output is the cheaper (2.20 against 2.778 $/M).
    let gw = start_with(0.0, |c| c.virtual_models = budget()).await;
    let r = gw.chat(body.clone()).await;
    assert_eq!(r.header("x-switchyard-model"), Some("glm-4.6"));
    // Served by SiliconFlow (0.57 $/M out), Qwen3-32B is.
    let gw = start_with(0.0, |c| {
        c.virtual_models = budget();
        c.routes.extend(routes(
            "[routes.\"qwen3-32b\"]\ndeployments = [{ provider = \"siliconflow\", region = \"global\" }]\n",
        ));
    })
    .await;
    let r = gw.chat(body).await;
    assert_eq!(r.header("x-switchyard-model"), Some("qwen3-32b"));
    assert_eq!(r.header("x-switchyard-provider"), Some("siliconflow"));
}

#[tokio::test]
async fn while_the_maker_is_up_the_reseller_one_tier_down_gets_nothing() {
    let gw = resold().await;
    for _ in 0..4 {
        let r = gw.chat(ask("glm-4.5", "hello")).await;
        assert_eq!(r.header("x-switchyard-provider"), Some("zhipu"));
    }
    assert_eq!(gw.served("openrouter", "global").await, 0);
}

#[tokio::test]
async fn a_route_on_a_vendor_without_a_known_id_or_price_is_refused_at_start_saying_what_to_add() {
    let mut config = Config::embedded_default().unwrap();
    config.routes.extend(routes(
        "[routes.\"kimi-k2.5\"]\ndeployments = [{ provider = \"siliconflow\", region = \"global\" }]\n",
    ));
    let err = start_error(config).await;
    assert!(
        err.contains("does not say that 'siliconflow' sells 'kimi-k2.5'"),
        "{err}"
    );
    assert!(
        err.contains("upstream_id") && err.contains("price"),
        "{err}"
    );

    let mut config = Config::embedded_default().unwrap();
    config.routes.extend(routes(
        "[routes.\"kimi-k2.5\"]\ndeployments = [{ provider = \"siliconflow\", region = \"global\", upstream_id = \"moonshotai/Kimi-K2.5\", price = { input = 0.5, cached_input = 0.1, output = 2.5 } }]\n",
    ));
    assert!(
        switchyard_gateway::AppState::build(config, &|_| None)
            .await
            .is_ok()
    );

    let mut config = Config::embedded_default().unwrap();
    config.routes.extend(routes(
        "[routes.\"glm-4.5\"]\ndeployments = [{ provider = \"bedrock\", region = \"us\" }]\n",
    ));
    let err = start_error(config).await;
    assert!(
        err.contains("provider 'bedrock' is not a provider") && err.contains("openrouter"),
        "{err}"
    );
}

#[tokio::test]
async fn the_model_list_names_every_vendor_that_sells_a_model_with_its_price() {
    let gw = resold().await;
    let v = gw.get("/v1/models/deepseek-v3.2").await.json();
    let vendors: Vec<&str> = v["vendors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["provider"].as_str().unwrap())
        .collect();
    assert_eq!(vendors, ["deepseek", "siliconflow", "openrouter", "ark"]);
    assert_eq!(v["vendors"][1]["upstream_id"], "deepseek-ai/DeepSeek-V3.2");
    assert_eq!(v["vendors"][1]["price"]["input"], 0.27);
    assert_eq!(v["available"], true);
}
