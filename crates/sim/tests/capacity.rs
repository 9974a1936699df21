//! The capacity model over HTTP: slots per provider region, the FIFO queue and its bound,
//! the vendor's overload error when it is full, clients leaving the queue, and
//! deterministic latency without jitter.
//!
//! Timings come from the catalog: `deepseek-v4-flash` (800 ms to first token, 80 tokens/s)
//! with `max_tokens` 64 at time scale 0.125 takes 100 ms to its first token and
//! 100 + 64 × 12.5 × 0.125 = 200 ms in all.
#![expect(
    clippy::unwrap_used,
    reason = "a test crate: a failed unwrap is a failed test"
)]

mod common;

use std::time::Duration;

use common::{Sim, json_body, start_configured, user};
use futures_util::future::join_all;
use serde_json::{Value, json};
use switchyard_catalog::Catalog;
use switchyard_sim::SimConfig;
use switchyard_wire::{Dialect, ErrorKind, SseEvent, SseParser};
use tokio::time::Instant;

const SCALE: f64 = 0.125;
const MODEL: &str = "deepseek-v4-flash";
const MAX_TOKENS: u32 = 64;
/// Relative tolerance on measured times.
const TOLERANCE: f64 = 0.4;

/// Time to first token and total generation time of `model` answering `max_tokens`
/// tokens without jitter at `scale`, from its catalog profile.
fn service(model: &str, max_tokens: u32, scale: f64) -> (Duration, Duration) {
    let catalog = Catalog::builtin().unwrap();
    let m = catalog.find(model).unwrap();
    let ttft = f64::from(m.typical_ttft_ms) / 1000.0 * scale;
    let decode = f64::from(max_tokens) / f64::from(m.typical_tokens_per_sec) * scale;
    (
        Duration::from_secs_f64(ttft),
        Duration::from_secs_f64(ttft + decode),
    )
}

fn assert_near(actual: Duration, expected: Duration, what: &str) {
    let (a, e) = (actual.as_secs_f64(), expected.as_secs_f64());
    assert!(
        (a - e).abs() <= e * TOLERANCE,
        "{what}: {actual:?}, expected {expected:?} ± {:.0}%",
        TOLERANCE * 100.0
    );
}

fn stream_body(model: &str, max_tokens: u32) -> Value {
    json!({"model": model, "messages": user("hi"), "max_tokens": max_tokens, "stream": true})
}

/// One streamed answer, timed from the moment it was sent.
#[derive(Debug)]
struct Timed {
    /// Until the first `data:` event.
    ttft: Duration,
    /// Until the end of the body.
    total: Duration,
    /// Keep-alive comments before the first `data:` event.
    keepalives: usize,
    /// Ended with `[DONE]`.
    done: bool,
}

/// Read a streamed answer sent at `sent` to its end.
async fn read_timed(mut r: reqwest::Response, sent: Instant) -> Timed {
    assert_eq!(r.status(), 200);
    let mut parser = SseParser::new();
    let mut ttft = None;
    let mut keepalives = 0;
    let mut last = None;
    let mut note = |e: SseEvent, ttft: &mut Option<Duration>| match e {
        SseEvent::Comment(_) if ttft.is_none() => keepalives += 1,
        SseEvent::Comment(_) => {}
        SseEvent::Data { data, .. } => {
            ttft.get_or_insert_with(|| sent.elapsed());
            last = Some(data);
        }
    };
    while let Some(bytes) = r.chunk().await.unwrap() {
        parser.push(&bytes).unwrap();
        while let Some(e) = parser.next_event().unwrap() {
            note(e, &mut ttft);
        }
    }
    let total = sent.elapsed();
    if let Some(e) = parser.finish().unwrap() {
        note(e, &mut ttft);
    }
    Timed {
        ttft: ttft.unwrap(),
        total,
        keepalives,
        done: last.as_deref() == Some("[DONE]"),
    }
}

/// Send a streamed request after `delay`, and time it.
async fn timed_stream(sim: &Sim, provider: &str, body: &Value, delay: Duration) -> Timed {
    tokio::time::sleep(delay).await;
    let sent = Instant::now();
    let r = sim.chat(provider, body).await;
    read_timed(r, sent).await
}

/// Poll stats until `field` is `value`; panics after a second.
async fn wait_stat(sim: &Sim, field: &str, value: i64) {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let now = sim.stats().await[field].as_i64().unwrap();
        if now == value {
            return;
        }
        assert!(Instant::now() < deadline, "{field} is {now}, not {value}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn start_limited(capacity: Option<u32>, max_queue: Option<u32>) -> Sim {
    start_configured(SCALE, |c| {
        c.capacity = capacity;
        c.max_queue = max_queue;
        c.jitter = false;
    })
    .await
}

#[tokio::test]
async fn capacity_two_serves_six_concurrent_requests_in_three_waves() {
    let (ttft, s) = service(MODEL, MAX_TOKENS, SCALE);
    assert_eq!(s, Duration::from_millis(200));
    let sim = start_limited(Some(2), None).await;
    let body = stream_body(MODEL, MAX_TOKENS);
    // 5 ms apart, so the queue order is the request order.
    let timed = join_all(
        (0..6u32).map(|i| timed_stream(&sim, "deepseek", &body, Duration::from_millis(5) * i)),
    )
    .await;
    for (i, t) in timed.iter().enumerate() {
        assert!(t.done, "request {}: {t:?}", i + 1);
        let wave = (i / 2) as u32;
        assert_near(
            t.ttft,
            s * wave + ttft,
            &format!("TTFT of request {}", i + 1),
        );
        assert_near(
            t.total,
            s * (wave + 1),
            &format!("total of request {}", i + 1),
        );
    }
    // The 5th and 6th waited two service times for a slot, DeepSeek keeping them alive.
    for t in &timed[4..] {
        assert_near(t.ttft - ttft, s * 2, "queueing delay of the third wave");
        assert!(t.keepalives >= 3, "{t:?}");
    }
    let stats = sim.stats().await;
    assert_eq!(stats["max_queued"], 4);
    assert_eq!(stats["queued"], 0);
    assert_eq!(stats["rejected"], 0);
    assert_eq!(stats["ok"], 6);
}

#[tokio::test]
async fn full_queue_refuses_at_once_with_the_vendors_overload_error() {
    let sim = start_limited(Some(1), Some(1)).await;
    let cases = [
        ("deepseek", MODEL, Dialect::DeepSeek),
        ("zhipu", "glm-4.6", Dialect::Zhipu),
    ];
    for (n, (provider, model, dialect)) in cases.into_iter().enumerate() {
        let body = stream_body(model, MAX_TOKENS);
        let (_, s) = service(model, MAX_TOKENS, SCALE);
        let sent = Instant::now();
        let served = sim.chat(provider, &body).await;
        let queued = sim.chat(provider, &body).await;
        assert_eq!(sim.stats().await["queued"], 1, "{provider}");

        let refused_at = Instant::now();
        let refused = sim.chat(provider, &body).await;
        let waited = refused_at.elapsed();
        assert!(waited < s / 2, "{provider}: refused after {waited:?}");
        let status = refused.status().as_u16();
        let rid = refused.headers()[dialect.request_id_header()]
            .to_str()
            .unwrap()
            .to_string();
        let bytes = refused.bytes().await.unwrap();
        let err = dialect.parse_error(status, &bytes, Some(&rid));
        assert_eq!(err.kind, ErrorKind::Overloaded, "{provider}");
        let error: Value = serde_json::from_slice(&bytes).unwrap();
        match dialect {
            Dialect::DeepSeek => {
                assert_eq!(status, 503);
                let message = error["error"]["message"].as_str().unwrap();
                assert!(message.starts_with("Server overloaded"), "{message}");
            }
            _ => {
                assert_eq!(status, 429);
                assert_eq!(error["error"]["code"], "1305");
                assert!(error["request_id"].is_string());
            }
        }

        let served = read_timed(served, sent).await;
        let queued = read_timed(queued, sent).await;
        assert!(served.done && queued.done, "{provider}");
        assert_near(served.total, s, &format!("{provider}: first answer"));
        assert_near(queued.total, s * 2, &format!("{provider}: queued answer"));
        let stats = sim.stats().await;
        assert_eq!(stats["rejected"], n + 1);
        assert_eq!(stats["providers"][provider]["r1"]["errors"], 1);
        assert_eq!(stats["queued"], 0);
    }
}

#[tokio::test]
async fn a_client_leaving_the_queue_frees_its_place_and_leaks_no_slot() {
    let sim = start_limited(Some(1), Some(1)).await;
    let (ttft, s) = service("glm-4.6", 64, SCALE);
    let long = stream_body("glm-4.6", 64);
    let sent = Instant::now();
    let served = sim.chat("zhipu", &long).await;

    // A queued stream whose client goes away.
    let leaver = sim.chat("zhipu", &long).await;
    assert_eq!(sim.stats().await["queued"], 1);
    drop(leaver);
    wait_stat(&sim, "queued", 0).await;

    // A queued non-streamed request whose client gives up.
    let short = json!({"model": "glm-4.6", "messages": user("hi"), "max_tokens": 1});
    let gave_up = sim
        .http
        .post(sim.chat_url("zhipu", "r1"))
        .bearer_auth("k")
        .timeout(Duration::from_millis(50))
        .body(short.to_string())
        .send()
        .await;
    assert!(gave_up.is_err_and(|e| e.is_timeout()));
    wait_stat(&sim, "queued", 0).await;

    // Its place is free again: the next request is queued, not refused.
    let next = sim.chat("zhipu", &long).await;
    assert_eq!(next.status(), 200);
    assert_eq!(sim.stats().await["queued"], 1);
    let served = read_timed(served, sent).await;
    let next = read_timed(next, sent).await;
    assert!(served.done && next.done);
    assert_near(next.total, s * 2, "the queued answer");

    // Nothing waits, nothing leaked: a new request is admitted at once.
    sim.wait_nothing_in_flight(Duration::from_secs(1)).await;
    let stats = sim.stats().await;
    assert_eq!(
        (stats["queued"].as_i64(), stats["max_queued"].as_i64()),
        (Some(0), Some(1))
    );
    assert_eq!(stats["rejected"], 0);
    let fresh = timed_stream(&sim, "zhipu", &long, Duration::ZERO).await;
    assert_near(fresh.ttft, ttft, "TTFT of a request after the others");
    assert_near(fresh.total, s, "total of a request after the others");
}

#[tokio::test]
async fn queued_non_streamed_answers_come_one_service_time_later() {
    let sim = start_limited(Some(1), None).await;
    let (_, s) = service("glm-4.6", 32, SCALE);
    let body = json!({"model": "glm-4.6", "messages": user("hi"), "max_tokens": 32});
    let t0 = Instant::now();
    let answers = join_all((0..3u32).map(|i| {
        let body = &body;
        let sim = &sim;
        async move {
            tokio::time::sleep(Duration::from_millis(5) * i).await;
            let r = sim.chat("zhipu", body).await;
            assert_eq!(r.status(), 200);
            let v = json_body(r).await;
            assert_eq!(v["usage"]["completion_tokens"], 32);
            t0.elapsed()
        }
    }))
    .await;
    for (i, t) in answers.into_iter().enumerate() {
        assert_near(t, s * (i as u32 + 1), &format!("answer {}", i + 1));
    }
    assert_eq!(sim.stats().await["max_queued"], 2);
}

#[tokio::test]
async fn unlimited_capacity_by_default_never_queues() {
    let catalog = Catalog::builtin().unwrap();
    let config = SimConfig::for_catalog(&catalog, 1, 1.0);
    assert_eq!((config.capacity, config.max_queue), (None, None));
    assert!(config.jitter);

    let (ttft, s) = service(MODEL, MAX_TOKENS, SCALE);
    let sim = start_limited(None, Some(0)).await;
    let body = stream_body(MODEL, MAX_TOKENS);
    let timed =
        join_all((0..8).map(|_| timed_stream(&sim, "deepseek", &body, Duration::ZERO))).await;
    for t in &timed {
        assert!(t.done);
        assert_near(t.ttft, ttft, "TTFT without a capacity limit");
        assert_near(t.total, s, "total without a capacity limit");
    }
    let stats = sim.stats().await;
    assert_eq!(
        (stats["max_queued"].as_i64(), stats["rejected"].as_i64()),
        (Some(0), Some(0))
    );
}

#[tokio::test]
async fn without_jitter_repeated_requests_get_the_same_ttft() {
    let sim = start_limited(None, None).await;
    let (ttft, _) = service(MODEL, 8, SCALE);
    let body = stream_body(MODEL, 8);
    let mut ttfts = Vec::new();
    for _ in 0..5 {
        ttfts.push(
            timed_stream(&sim, "deepseek", &body, Duration::ZERO)
                .await
                .ttft,
        );
    }
    let (min, max) = (ttfts.iter().min().unwrap(), ttfts.iter().max().unwrap());
    assert!(*max - *min < Duration::from_millis(20), "{ttfts:?}");
    for t in &ttfts {
        assert!(
            *t >= ttft && *t < ttft + Duration::from_millis(30),
            "{ttfts:?}"
        );
    }
}

#[tokio::test]
async fn capacity_zero_is_refused_at_start() {
    let catalog = std::sync::Arc::new(Catalog::builtin().unwrap());
    let mut config = SimConfig::for_catalog(&catalog, 1, 0.0);
    config.capacity = Some(0);
    let err = switchyard_sim::spawn(config, catalog, ([127, 0, 0, 1], 0).into())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("capacity"), "{err}");
}
