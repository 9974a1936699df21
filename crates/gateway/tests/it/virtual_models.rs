//! Virtual models through the real HTTP path: the tiered router sends an easy prompt to the
//! cheap tier and a hard one up, constraints (images, context, the key's models) override
//! the tier, `cheapest` takes the lowest expected cost, and every routed response says why.

use crate::common;
use crate::common::{TestGateway, ask, start_with};
use serde_json::json;
use switchyard_gateway::config::Config;

const EASY: &str = "What is the capital of France?";
const HARD: &str = "As of 2017, the share of GDP spent on the military by China is about\nA. 0.50%\nB. 2%\nC. 6%\nD. 12%\nAnswer:";

async fn gateway(extra: &str) -> TestGateway {
    let toml = format!(
        "[virtual_models.auto]\npolicy = \"tiered\"\n\
         models = [\"qwen-flash\", \"qwen3-32b\", \"deepseek-v4-pro\"]\nshares = [0.7, 0.1, 0.2]\n\n\
         [virtual_models.vision]\npolicy = \"tiered\"\nmodels = [\"qwen-flash\", \"qwen3-vl-32b\"]\nshares = [0.8, 0.2]\n\n\
         [virtual_models.auto-budget]\npolicy = \"cheapest\"\nmodels = [\"deepseek-v4-pro\", \"qwen3-32b\", \"qwen-flash\"]\n\n\
         [virtual_models.small-context]\npolicy = \"cheapest\"\nmodels = [\"qwen3-omni-30b\"]\n{extra}"
    );
    let parsed = Config::parse(&toml, "test").unwrap();
    start_with(0.0, move |c| c.virtual_models = parsed.virtual_models).await
}

/// The answer's text.
fn content_of(r: &common::Reply) -> String {
    r.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The usage log holds two records: `from`'s answer, escalated, then `to`'s; both are
/// spend.
fn assert_escalated(gw: &TestGateway, from: &str, to: &str) {
    let events = gw.usage_events();
    let outcomes: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.model.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(outcomes, [(from, "escalated"), (to, "completed")]);
    assert!(
        events.iter().all(|e| e.cost_nanos > 0),
        "both attempts are spend"
    );
}

fn route_of(r: &common::Reply) -> String {
    r.header("x-switchyard-route")
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn the_tiered_router_sends_easy_prompts_down_and_hard_ones_up_and_says_why() {
    let classifier = switchyard_router::Model::shipped().unwrap();
    let (easy, hard) = (classifier.score(EASY), classifier.score(HARD));
    let (t1, t2) = (
        classifier.threshold_for_share(0.3),
        classifier.threshold_for_share(0.2),
    );
    assert!(
        easy < t1 && hard >= t2,
        "fixture prompts: {easy} {hard} vs {t1} {t2}"
    );
    let gw = gateway("").await;
    let r = gw.chat(ask("auto", EASY)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("x-switchyard-model"), Some("qwen-flash"));
    assert_eq!(r.json()["model"], "qwen-flash");
    let route = route_of(&r);
    assert!(
        route.starts_with("auto; policy=tiered; model=qwen-flash; tier=0; score=0."),
        "{route}"
    );
    let r = gw.chat(ask("AUTO", HARD)).await;
    assert_eq!(r.header("x-switchyard-model"), Some("deepseek-v4-pro"));
    assert!(route_of(&r).contains("tier=2"), "{}", route_of(&r));
    // An explicit model name is not routed.
    let r = gw.chat(ask("qwen3-32b", HARD)).await;
    assert_eq!(r.header("x-switchyard-model"), Some("qwen3-32b"));
    assert_eq!(r.header("x-switchyard-route"), None);
    // The usage log keeps each route.
    let events = gw.usage_events();
    let routes: Vec<Option<&str>> = events.iter().map(|e| e.route.as_deref()).collect();
    assert!(
        routes[0].unwrap().contains("model=qwen-flash; tier=0"),
        "{routes:?}"
    );
    assert!(
        routes[1].unwrap().contains("model=deepseek-v4-pro; tier=2"),
        "{routes:?}"
    );
    assert_eq!(routes[2], None);
}

#[tokio::test]
async fn virtual_models_are_listed_with_their_policy() {
    let gw = gateway("").await;
    let list = gw.get("/v1/models").await.json();
    let auto = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "auto")
        .unwrap()
        .clone();
    assert_eq!(auto["policy"], "tiered");
    assert_eq!(auto["owned_by"], "switchyard");
    assert_eq!(auto["models"][2], "deepseek-v4-pro");
    let one = gw.get("/v1/models/Auto").await;
    assert_eq!(one.status, 200);
    assert_eq!(one.json()["policy"], "tiered");
}

#[tokio::test]
async fn an_image_goes_to_the_vision_tier_whatever_the_score() {
    let gw = gateway("").await;
    let mut body = ask("vision", EASY);
    body["messages"][0]["content"] = json!([
        {"type": "text", "text": EASY},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="}}
    ]);
    let r = gw.chat(body).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("x-switchyard-model"), Some("qwen3-vl-32b"));
    assert!(
        route_of(&r).contains("tier 0 cannot take the request"),
        "{}",
        route_of(&r)
    );
}

#[tokio::test]
async fn cheapest_takes_the_lowest_expected_cost_that_fits() {
    let gw = gateway("").await;
    let r = gw.chat(ask("auto-budget", EASY)).await;
    assert_eq!(r.header("x-switchyard-model"), Some("qwen-flash"));
    assert!(route_of(&r).contains("lowest expected cost"));
    // Tools rule out nothing here; a 100k-token prompt rules out the 64K-context model.
    let mut long = ask("small-context", &"word ".repeat(100_000));
    long["max_tokens"] = json!(10);
    let r = gw.chat(long).await;
    assert_eq!(r.status, 400);
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("no model of 'small-context'") && msg.contains("context window"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_key_limited_to_some_models_is_routed_only_among_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.db");
    let key = switchyard_ledger::keys::KeyStore::open(&db)
        .unwrap()
        .create(&switchyard_ledger::keys::NewKey {
            name: "k".into(),
            models: vec!["qwen3-32b".into()],
            ..Default::default()
        })
        .unwrap()
        .1;
    let toml = "[virtual_models.auto]\npolicy = \"tiered\"\nmodels = [\"qwen-flash\", \"qwen3-32b\"]\nshares = [0.9, 0.1]\n";
    let parsed = Config::parse(toml, "test").unwrap();
    let gw = start_with(0.0, move |c| {
        c.virtual_models = parsed.virtual_models;
        c.keys.enabled = true;
        c.usage.path = Some(db);
    })
    .await;
    let r = gw.chat_as(&key, ask("auto", EASY)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.header("x-switchyard-model"),
        Some("qwen3-32b"),
        "the only model the key may use"
    );
}

#[test]
fn bad_virtual_models_are_refused_with_the_line() {
    for (toml, needle) in [
        (
            "\n[virtual_models.auto]\npolicy = \"tiered\"\nmodels = []\n",
            "no models",
        ),
        (
            "\n[virtual_models.auto]\npolicy = \"tiered\"\nmodels = [\"a\", \"b\"]\nshares = [0.5]\n",
            "shares",
        ),
        (
            "\n[virtual_models.auto]\npolicy = \"smartest\"\nmodels = [\"a\"]\n",
            "unknown variant",
        ),
    ] {
        let err = Config::parse(toml, "c").unwrap_err().to_string();
        assert!(err.contains(needle) && err.contains("line"), "{err}");
    }
}

#[tokio::test]
async fn a_cut_off_cheap_answer_is_escalated_one_tier_up_and_both_are_costed() {
    let gw = gateway(
        "\n[virtual_models.esc]\npolicy = \"tiered\"\nescalate = true\n\
         models = [\"qwen-flash\", \"qwen3-32b\"]\nshares = [0.9, 0.1]\n",
    )
    .await;
    // max_tokens 5: the cheap model's answer ends at the limit (finish_reason "length").
    let mut body = ask("esc", EASY);
    body["max_tokens"] = json!(5);
    let r = gw.chat(body.clone()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-switchyard-model"), Some("qwen3-32b"));
    let route = route_of(&r);
    assert!(
        route.contains("escalated from qwen-flash (cut at max tokens)"),
        "{route}"
    );
    assert_escalated(&gw, "qwen-flash", "qwen3-32b");
    // A complete answer is not escalated, and neither is a stream.
    body.as_object_mut().unwrap().remove("max_tokens");
    assert_eq!(
        gw.chat(body.clone()).await.header("x-switchyard-model"),
        Some("qwen-flash")
    );
    body["max_tokens"] = json!(5);
    body["stream"] = json!(true);
    assert_eq!(
        gw.chat(body).await.header("x-switchyard-model"),
        Some("qwen-flash")
    );
}

#[tokio::test]
async fn weighted_fastest_and_long_prompts_each_pick_as_configured() {
    let gw = gateway(
        "\n[virtual_models.split]\npolicy = \"weighted\"\nmodels = [\"qwen-flash\", \"qwen3-32b\"]\nweights = [3, 1]\n\
         \n[virtual_models.quick]\npolicy = \"fastest\"\nmodels = [\"qwen-flash\", \"glm-4.5-air\"]\n\
         \n[virtual_models.long]\npolicy = \"tiered\"\nmodels = [\"qwen3-omni-30b\", \"qwen-plus\"]\nshares = [0.9, 0.1]\n",
    )
    .await;
    let mut first = 0;
    for _ in 0..200 {
        let r = gw.chat(ask("split", EASY)).await;
        if r.header("x-switchyard-model") == Some("qwen-flash") {
            first += 1;
        }
    }
    assert!(
        (125..=175).contains(&first),
        "3:1 expected, got {first} of 200"
    );

    gw.fault(
        "zhipu",
        "*",
        json!({"kind": "latency_spike", "delay_ms": 200}),
    )
    .await;
    let mut picks = Vec::new();
    for _ in 0..6 {
        let r = gw.chat(ask("quick", EASY)).await;
        picks.push(r.header("x-switchyard-model").unwrap().to_string());
    }
    assert!(
        picks.contains(&"glm-4.5-air".to_string()),
        "each gets measured: {picks:?}"
    );
    assert!(
        picks[3..].iter().all(|m| m == "qwen-flash"),
        "then the faster one: {picks:?}"
    );

    let mut body = ask("long", &"word ".repeat(100_000));
    body["max_tokens"] = json!(10);
    let r = gw.chat(body).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.header("x-switchyard-model"),
        Some("qwen-plus"),
        "only the 1M window fits"
    );
    assert!(
        route_of(&r).contains("tier 0 cannot take the request"),
        "{}",
        route_of(&r)
    );
}

#[tokio::test]
async fn rules_on_headers_and_the_user_field_decide_before_the_policy() {
    let gw = gateway(
        "\n[virtual_models.ruled]\npolicy = \"cheapest\"\nmodels = [\"qwen-flash\", \"qwen3-32b\"]\n\
         rules = [\n  { when = \"header:x-team=search\", model = \"qwen3-32b\" },\n  { when = \"user=vip\", model = \"deepseek-v4-pro\" },\n  { when = \"path=/labs\", model = \"glm-4.5-air\" },\n]\n",
    )
    .await;
    let plain = gw.chat(ask("ruled", EASY)).await;
    assert_eq!(
        plain.header("x-switchyard-model"),
        Some("qwen-flash"),
        "the policy"
    );
    let resp = gw
        .http
        .post(format!("{}/v1/chat/completions", gw.base))
        .header("content-type", "application/json")
        .header("x-team", "search")
        .body(ask("ruled", EASY).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-switchyard-model"], "qwen3-32b");
    let route = resp.headers()["x-switchyard-route"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        route.contains("policy=rule") && route.contains("header x-team = search"),
        "{route}"
    );
    let mut vip = ask("ruled", EASY);
    vip["user"] = json!("vip");
    let r = gw.chat(vip).await;
    assert_eq!(r.header("x-switchyard-model"), Some("deepseek-v4-pro"));
    // A path prefix: the client's base_url is …/labs/v1.
    let r = gw
        .post("/labs/v1/chat/completions", &ask("ruled", EASY))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("x-switchyard-model"), Some("glm-4.5-air"));
    assert!(
        route_of(&r).contains("rule: path = /labs"),
        "{}",
        route_of(&r)
    );
    let r = gw
        .post("/labsx/v1/chat/completions", &ask("ruled", EASY))
        .await;
    assert_eq!(
        r.header("x-switchyard-model"),
        Some("qwen-flash"),
        "only the whole segment matches"
    );
    assert_eq!(gw.get("/labs/v1/models").await.status, 200);
    assert!(Config::parse(
        "[virtual_models.x]\npolicy = \"cheapest\"\nmodels = [\"a\"]\nrules = [{ when = \"colour=red\", model = \"a\" }]\n",
        "c"
    )
    .unwrap_err()
    .to_string()
    .contains("not understood"));
}

#[tokio::test]
async fn a_request_with_tools_skips_a_tier_without_tools() {
    let gw = gateway(
        "\n[virtual_models.tooled]\npolicy = \"tiered\"\nmodels = [\"qwen3-omni-30b\", \"qwen3-32b\"]\nshares = [0.9, 0.1]\n",
    )
    .await;
    let mut body = ask("tooled", EASY);
    body["tools"] = json!([common::weather_tool()]);
    let r = gw.chat(body).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("x-switchyard-model"), Some("qwen3-32b"));
    assert!(
        route_of(&r).contains("tier 0 cannot take the request"),
        "{}",
        route_of(&r)
    );
}

#[tokio::test]
async fn reasoning_requests_and_unhealthy_models_are_routed_around() {
    let gw = start_with(0.0, |c| {
        c.health.consecutive_failures = 1;
        c.health.cooldown = std::time::Duration::from_secs(600);
        c.retries.same_deployment = 0;
        c.virtual_models = Config::parse(
            "[virtual_models.budget]\npolicy = \"cheapest\"\nmodels = [\"qwen-flash\", \"glm-4.5-air\"]\n",
            "t",
        )
        .unwrap()
        .virtual_models;
    })
    .await;
    let r = gw.chat(ask("budget", EASY)).await;
    assert_eq!(r.header("x-switchyard-model"), Some("qwen-flash"));
    // Reasoning asked for: qwen-flash does not reason.
    let mut thinking = ask("budget", EASY);
    thinking["reasoning_effort"] = json!("high");
    let r = gw.chat(thinking).await;
    assert_eq!(
        r.header("x-switchyard-model"),
        Some("glm-4.5-air"),
        "{}",
        route_of(&r)
    );
    // Every region of qwen-flash's provider down: its breakers open, the route avoids it.
    gw.fault("dashscope", "*", json!({"kind": "server_error"}))
        .await;
    assert_eq!(gw.chat(ask("qwen-flash", EASY)).await.status, 502);
    let r = gw.chat(ask("budget", EASY)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("x-switchyard-model"), Some("glm-4.5-air"));
}

fn with_format(model: &str, text: &str, format: serde_json::Value) -> serde_json::Value {
    let mut body = ask(model, text);
    body["response_format"] = format;
    body["max_tokens"] = json!(400); // room for the whole JSON
    body
}

fn city_schema() -> serde_json::Value {
    json!({"type": "json_schema", "json_schema": {"name": "city", "strict": true, "schema":
        {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}})
}

#[tokio::test]
async fn json_requests_go_only_to_models_that_honour_the_format() {
    let gw = gateway(
        "\n[virtual_models.structured]\npolicy = \"tiered\"\nmodels = [\"qwen-flash\", \"qwen-plus\"]\nshares = [0.9, 0.1]\n\
         \n[virtual_models.jsonish]\npolicy = \"tiered\"\nmodels = [\"qwen3-omni-30b\", \"qwen-flash\"]\nshares = [0.9, 0.1]\n\
         \n[virtual_models.no-schema]\npolicy = \"cheapest\"\nmodels = [\"qwen-flash\", \"glm-4.5-air\"]\n",
    )
    .await;
    // json_schema: only qwen-plus enforces a schema; the answer follows it.
    let r = gw
        .chat(with_format("structured", EASY, city_schema()))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("x-switchyard-model"), Some("qwen-plus"));
    assert!(
        route_of(&r).contains("tier 0 cannot take the request"),
        "{}",
        route_of(&r)
    );
    let content = content_of(&r);
    let answer: serde_json::Value = serde_json::from_str(&content).unwrap();
    assert!(answer["city"].is_string(), "{content}");

    // json_object: the omni model has no JSON mode, qwen-flash does.
    let r = gw
        .chat(with_format(
            "jsonish",
            "Reply in JSON: the capital of France?",
            json!({"type": "json_object"}),
        ))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("x-switchyard-model"), Some("qwen-flash"));
    let content = content_of(&r);
    assert!(
        serde_json::from_str::<serde_json::Value>(&content).is_ok(),
        "{content}"
    );

    // Nothing fits: a 400 that says why for each candidate.
    let r = gw.chat(with_format("no-schema", EASY, city_schema())).await;
    assert_eq!(r.status, 400);
    let message = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("qwen-flash")
            && message.contains("glm-4.5-air")
            && message.contains("json_schema"),
        "{message}"
    );
}

#[tokio::test]
async fn an_explicit_model_without_the_format_or_a_malformed_format_is_a_clear_400() {
    let gw = gateway("").await;
    let r = gw.chat(with_format("glm-4.6", EASY, city_schema())).await;
    assert_eq!(r.status, 400);
    let e = &r.json()["error"];
    assert!(
        e["message"].as_str().unwrap().contains("structured output")
            && e["message"].as_str().unwrap().contains("qwen-plus"),
        "{e}"
    );
    let r = gw
        .chat(with_format("glm-4.6", EASY, json!({"type": "json_schema"})))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["error"]["param"],
        "response_format",
        "{}",
        r.json()
    );
    let r = gw
        .chat(with_format("glm-4.6", EASY, json!({"type": "yaml"})))
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("response_format"),
        "{}",
        r.json()
    );
    // Explicit JSON mode on a model that has it passes through to the vendor.
    let r = gw
        .chat(with_format(
            "glm-4.6",
            "answer in json",
            json!({"type": "json_object"}),
        ))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

#[tokio::test]
async fn a_blank_json_answer_is_escalated_and_both_attempts_are_costed() {
    let gw = gateway(
        "\n[virtual_models.esc-json]\npolicy = \"tiered\"\nescalate = true\n\
         models = [\"deepseek-v4-flash\", \"deepseek-v4-pro\"]\nshares = [0.9, 0.1]\n",
    )
    .await;
    // DeepSeek's JSON mode answers blanks when its output is not JSON: once, here.
    gw.fault("deepseek", "*", json!({"kind": "blank_answer", "count": 1}))
        .await;
    let r = gw
        .chat(with_format(
            "esc-json",
            "Reply in JSON: the capital of France?",
            json!({"type": "json_object"}),
        ))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("x-switchyard-model"), Some("deepseek-v4-pro"));
    assert!(
        route_of(&r).contains("escalated from deepseek-v4-flash (invalid JSON)"),
        "{}",
        route_of(&r)
    );
    let content = content_of(&r);
    assert!(
        serde_json::from_str::<serde_json::Value>(&content).is_ok(),
        "{content}"
    );
    assert_escalated(&gw, "deepseek-v4-flash", "deepseek-v4-pro");
}

#[tokio::test]
async fn a_model_whose_provider_has_no_key_is_routed_around() {
    let gw = start_with(0.0, |c| {
        if let Some(p) = c.providers.get_mut("dashscope") {
            p.simulated = false;
            p.api_key = None;
            p.api_key_env = Some("SWITCHYARD_TEST_UNSET_KEY".into());
        }
        c.virtual_models = Config::parse(
            "[virtual_models.budget]\npolicy = \"cheapest\"\nmodels = [\"qwen-flash\", \"deepseek-v4-flash\"]\n",
            "t",
        )
        .unwrap()
        .virtual_models;
    })
    .await;
    let r = gw.chat(ask("budget", EASY)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("x-switchyard-model"), Some("deepseek-v4-flash"));
    // Asked for explicitly, the unconfigured model still says what is missing.
    let r = gw.chat(ask("qwen-flash", EASY)).await;
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
}

#[tokio::test]
async fn a_held_stream_escalates_when_cut_and_is_replayed_when_it_passes() {
    let gw = gateway(
        "\n[virtual_models.esc-stream]\npolicy = \"tiered\"\nescalate = true\nescalate_streams = true\n\
         models = [\"qwen-flash\", \"qwen3-32b\"]\nshares = [0.9, 0.1]\n",
    )
    .await;
    // Cut at max_tokens: the cheap answer is held, checked and escalated; the next tier
    // streams live.
    let mut body = ask("esc-stream", EASY);
    body["max_tokens"] = json!(5);
    body["stream"] = json!(true);
    let r = gw.chat(body.clone()).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert_eq!(r.header("x-switchyard-model"), Some("qwen3-32b"));
    let route = route_of(&r);
    assert!(
        route.contains("stream held")
            && route.contains("escalated from qwen-flash (cut at max tokens)"),
        "{route}"
    );
    assert!(r.ends_with_done());
    assert_eq!(r.chunks()[0]["model"], "qwen3-32b");
    assert_escalated(&gw, "qwen-flash", "qwen3-32b");

    // A complete cheap answer passes the check and goes out as the stream asked for,
    // usage chunk and cost comment included.
    body.as_object_mut().unwrap().remove("max_tokens");
    body["stream_options"] = json!({"include_usage": true});
    let r = gw.chat(body).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-switchyard-model"), Some("qwen-flash"));
    assert!(r.ends_with_done());
    let chunks = r.chunks();
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    let text = common::streamed_text(&chunks, "content");
    assert!(!text.trim().is_empty());
    let usage = &chunks.last().unwrap()["usage"];
    assert!(usage["completion_tokens"].as_u64().unwrap() > 0, "{usage}");
    assert_eq!(
        chunks
            .iter()
            .filter(|c| c["choices"][0]["finish_reason"] == "stop")
            .count(),
        1
    );
    assert!(String::from_utf8_lossy(&r.body).contains(": x-switchyard-cost-usd 0."));
    assert_eq!(gw.usage_events().last().unwrap().outcome, "completed");
}

#[test]
fn escalate_streams_needs_escalate() {
    let err = Config::parse(
        "[virtual_models.x]\npolicy = \"tiered\"\nmodels = [\"a\", \"b\"]\nescalate_streams = true\n",
        "c",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("escalate_streams needs escalate = true") && err.contains("line 4"),
        "{err}"
    );
}
