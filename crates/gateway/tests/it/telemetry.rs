//! Metrics under the OpenTelemetry GenAI semantic conventions' names, beside ours: token
//! usage by type, operation duration and time to first token, with `gen_ai_*` labels,
//! as Prometheus scrapes them from `/metrics`.

use serde_json::json;

use crate::common::{ask, start};

/// The value of the series `name` whose labels include every one of `labels`.
fn series(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn genai_metrics_count_tokens_durations_and_first_tokens_by_model() {
    let gw = start().await;
    let model = "glm-4.5-air";
    let whole = gw.chat(ask(model, "hi")).await;
    assert_eq!(whole.status, 200);
    let mut body = ask(model, "hi");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let streamed = gw.chat(body).await;
    assert_eq!(streamed.status, 200);
    let output = whole.json()["usage"]["completion_tokens"].as_u64().unwrap()
        + streamed
            .chunks()
            .iter()
            .find_map(|c| c["usage"]["completion_tokens"].as_u64())
            .unwrap();

    let text = gw.metrics().await;
    let chat = "gen_ai_operation_name=\"chat\"";
    let system = "gen_ai_system=\"zhipu\"";
    let asked = format!("gen_ai_request_model=\"{model}\"");
    let labels = [chat, system, asked.as_str()];
    let out = [chat, system, asked.as_str(), "gen_ai_token_type=\"output\""];
    let input = [chat, system, asked.as_str(), "gen_ai_token_type=\"input\""];
    assert_eq!(
        series(&text, "gen_ai_client_token_usage_count", &out),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        series(&text, "gen_ai_client_token_usage_sum", &out),
        Some(output as f64)
    );
    assert!(series(&text, "gen_ai_client_token_usage_sum", &input).unwrap() > 0.0);
    assert_eq!(
        series(
            &text,
            "gen_ai_client_operation_duration_seconds_count",
            &labels
        ),
        Some(2.0)
    );
    assert_eq!(
        series(
            &text,
            "gen_ai_server_time_to_first_token_seconds_count",
            &labels
        ),
        Some(1.0),
        "streams only"
    );
    // Token buckets are the conventions' powers of four, not latency buckets.
    let bucket = [
        chat,
        system,
        asked.as_str(),
        "gen_ai_token_type=\"output\"",
        "le=\"16384\"",
    ];
    assert_eq!(
        series(&text, "gen_ai_client_token_usage_bucket", &bucket),
        Some(2.0)
    );
}

#[tokio::test]
async fn admin_stats_shows_this_seconds_requests_errors_and_latency_per_model() {
    let gw = start().await;
    for _ in 0..3 {
        assert_eq!(gw.chat(ask("qwen-flash", "hi")).await.status, 200);
    }
    gw.fault("deepseek", "*", json!({"kind": "server_error"}))
        .await;
    assert!(gw.chat(ask("deepseek-v4-flash", "hi")).await.status >= 500);
    let bad = gw
        .post("/v1/chat/completions", &json!({"model": "qwen-flash"}))
        .await;
    assert_eq!(bad.status, 400);

    let all = gw.get("/admin/stats?range=10").await;
    assert_eq!(all.status, 200, "{}", String::from_utf8_lossy(&all.body));
    let v = all.json();
    assert_eq!(v["step_secs"], 1);
    let points = v["points"].as_array().unwrap();
    assert_eq!(points.len(), 10);
    let sum = |field: &str| {
        points
            .iter()
            .map(|p| p[field].as_f64().unwrap())
            .sum::<f64>()
    };
    assert_eq!(sum("rps"), 5.0, "{v}");
    assert_eq!(sum("server_errors_per_s"), 1.0);
    assert_eq!(
        sum("client_errors_per_s"),
        1.0,
        "the refused request counts too"
    );
    assert!(points.iter().any(|p| p["p99_ms"].is_number()));
    let kept = v["series_kept"].as_array().unwrap();
    assert!(kept.contains(&json!("qwen-flash")) && kept.contains(&json!("all")));

    let model = gw
        .get("/admin/stats?series=qwen-flash&range=1h")
        .await
        .json();
    assert_eq!(model["points"].as_array().unwrap().len(), 3600);
    let day = gw
        .get("/admin/stats?series=qwen-flash&range=24h")
        .await
        .json();
    assert_eq!(
        (
            day["step_secs"].as_u64(),
            day["points"].as_array().unwrap().len()
        ),
        (Some(60), 1440)
    );
    let tokens: f64 = day["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["output_tokens_per_s"].as_f64().unwrap() * 60.0)
        .sum();
    assert!(tokens > 0.0);

    assert_eq!(gw.get("/admin/stats?range=2d").await.status, 400);
    assert_eq!(gw.get("/admin/stats?series=nope").await.status, 404);
}
