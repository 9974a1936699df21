//! W3C trace context through the gateway (`[telemetry]`): what the upstream is sent, and
//! that spans reach an OTLP/HTTP receiver. The span tree itself is checked by
//! `e2e/test_otlp.py` against a receiver that decodes the protobuf.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::{Value, json};

use crate::common::{TestGateway, ask, custom_provider, custom_upstream, start_with};

const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

fn client_traceparent() -> String {
    format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01")
}

/// What a hand-made server was sent: each request's headers and body.
type Seen = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// An OpenAI-dialect upstream that answers every chat request and keeps its headers.
async fn capturing_upstream() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route(
            "/v1/chat/completions",
            post(
                |State(seen): State<Seen>, headers: HeaderMap, body: Bytes| async move {
                    seen.lock().unwrap().push((headers, body));
                    axum::Json(
                        json!({"id": "c1", "object": "chat.completion", "created": 1,
                    "model": "custom-model", "choices": [{"index": 0, "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "hello"}}],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}}),
                    )
                },
            ),
        )
        .with_state(Arc::clone(&seen));
    (custom_upstream(app).await, seen)
}

/// An OTLP/HTTP receiver that keeps every export it is sent; its base URL.
async fn otlp_receiver() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route(
            "/v1/traces",
            post(
                |State(seen): State<Seen>, headers: HeaderMap, body: Bytes| async move {
                    seen.lock().unwrap().push((headers, body));
                    ([("content-type", "application/x-protobuf")], Bytes::new())
                },
            ),
        )
        .with_state(Arc::clone(&seen));
    let base = custom_upstream(app).await;
    (base.trim_end_matches("/v1").to_string(), seen)
}

/// A gateway serving `custom-model` from `upstream`, exporting to `otlp` when given.
async fn gateway(upstream: &str, otlp: Option<String>) -> TestGateway {
    let extra = custom_provider(upstream, &["lab"]);
    start_with(0.0, move |c| {
        c.providers.extend(extra.providers);
        c.models.extend(extra.models);
        c.telemetry.otlp_endpoint = otlp;
        c.telemetry.otlp_headers = [("x-tenant".to_string(), "t1".to_string())].into();
    })
    .await
}

/// A chat request to `custom-model` with `headers`; its request id.
async fn chat(gw: &TestGateway, headers: &[(&str, String)]) -> String {
    let mut req = gw
        .http
        .post(format!("{}/v1/chat/completions", gw.base))
        .header("content-type", "application/json")
        .body(ask("custom-model", "hi").to_string());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.headers()["x-request-id"].to_str().unwrap().to_string()
}

/// The `traceparent` and `tracestate` of the last request `seen`.
fn last_trace_headers(seen: &Seen) -> (Option<String>, Option<String>) {
    let seen = seen.lock().unwrap();
    let (h, _) = seen.last().unwrap();
    let get = |k: &str| h.get(k).map(|v| v.to_str().unwrap().to_string());
    (get("traceparent"), get("tracestate"))
}

async fn trail(gw: &TestGateway, id: &str) -> Value {
    let r = gw.get(&format!("/admin/requests/{id}")).await;
    assert_eq!(r.status, 200);
    r.json()["trails"][0].clone()
}

#[tokio::test]
async fn the_upstream_gets_the_clients_trace_with_the_attempts_own_span_and_it_is_exported() {
    let (upstream, sent_up) = capturing_upstream().await;
    let (otlp, exported) = otlp_receiver().await;
    let gw = gateway(&upstream, Some(otlp)).await;
    let id = chat(
        &gw,
        &[
            ("traceparent", client_traceparent()),
            ("tracestate", "congo=t61rcWkgMzE".into()),
        ],
    )
    .await;
    let (traceparent, tracestate) = last_trace_headers(&sent_up);
    let traceparent = traceparent.expect("the upstream got a traceparent");
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!((parts[0], parts[1], parts[3]), ("00", CLIENT_TRACE, "01"));
    assert_ne!(parts[2], CLIENT_SPAN, "the attempt is a span of its own");
    assert_ne!(parts[2], "0000000000000000");
    assert_eq!(tracestate.as_deref(), Some("congo=t61rcWkgMzE"));
    // The trail names the same trace, and the attempt's span is the one sent upstream.
    let t = trail(&gw, &id).await;
    assert_eq!(t["trace_id"], CLIENT_TRACE, "{t}");
    assert_eq!(t["parent_span_id"], CLIENT_SPAN, "{t}");
    assert_eq!(t["attempts"][0]["span_id"], parts[2], "{t}");
    assert_eq!(t["attempts"][0]["reason"], "first", "{t}");
    // Its spans reach the receiver (within the batch delay), as protobuf, with the
    // configured headers; the trace id is in them as raw bytes.
    let deadline = Instant::now() + Duration::from_secs(10);
    while exported.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "no export within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let exported = exported.lock().unwrap();
    let (headers, body) = &exported[0];
    assert_eq!(headers["content-type"], "application/x-protobuf");
    assert_eq!(headers["x-tenant"], "t1");
    let trace_bytes: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&CLIENT_TRACE[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    assert!(
        body.windows(16).any(|w| w == trace_bytes.as_slice()),
        "the export carries the client's trace id"
    );
}

#[tokio::test]
async fn with_export_on_and_no_client_trace_a_new_one_is_started_and_sent_upstream() {
    let (upstream, sent_up) = capturing_upstream().await;
    let (otlp, _exported) = otlp_receiver().await;
    let gw = gateway(&upstream, Some(otlp)).await;
    let id = chat(&gw, &[("traceparent", "garbage".into())]).await;
    let (traceparent, tracestate) = last_trace_headers(&sent_up);
    let traceparent = traceparent.unwrap();
    let t = trail(&gw, &id).await;
    let trace_id = t["trace_id"].as_str().unwrap();
    assert_eq!(trace_id.len(), 32);
    assert!(
        traceparent.starts_with(&format!("00-{trace_id}-")),
        "{traceparent}"
    );
    assert!(traceparent.ends_with("-01"));
    assert_eq!(t["parent_span_id"], Value::Null);
    assert_eq!(tracestate, None);
}

#[tokio::test]
async fn with_export_off_a_clients_traceparent_goes_upstream_unchanged_and_none_is_made_up() {
    let (upstream, sent_up) = capturing_upstream().await;
    let gw = gateway(&upstream, None).await;
    let id = chat(&gw, &[("traceparent", client_traceparent())]).await;
    assert_eq!(
        last_trace_headers(&sent_up).0.as_deref(),
        Some(client_traceparent().as_str())
    );
    let t = trail(&gw, &id).await;
    assert_eq!(t["trace_id"], CLIENT_TRACE);
    assert_eq!(t["span_id"], Value::Null, "no span of ours without export");
    assert!(t["attempts"][0].get("span_id").is_none(), "{t}");
    let id = chat(&gw, &[]).await;
    assert_eq!(last_trace_headers(&sent_up), (None, None));
    assert!(trail(&gw, &id).await.get("trace_id").is_none());
}
