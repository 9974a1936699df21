//! Stream time limits against a hand-written upstream that misbehaves on purpose:
//! keep-alive comments alone must not keep a dead stream open.

use std::time::{Duration, Instant};

use crate::common::{ask, custom_provider, custom_upstream, start_with};
use axum::Router;
use axum::body::Body;
use axum::routing::post;
use serde_json::json;

/// An OpenAI-style upstream that sends one token, then only `: keep-alive` comments.
async fn keepalive_forever_upstream() -> String {
    let app = Router::new().route(
        "/v1/chat/completions",
        post(|| async {
            let head = "data: {\"id\":\"k\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"k\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n\
                        data: {\"id\":\"k\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"k\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" hi\"}}]}\n\n";
            let stream = futures_util::stream::unfold(0u32, move |n| async move {
                if n > 100 {
                    return None;
                }
                if n > 0 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                let bytes = if n == 0 { head.to_string() } else { ": keep-alive\n\n".to_string() };
                Some((Ok::<_, std::convert::Infallible>(bytes), n + 1))
            });
            ([("content-type", "text/event-stream")], Body::from_stream(stream))
        }),
    );
    custom_upstream(app).await
}

#[tokio::test]
async fn keepalive_comments_do_not_defeat_the_idle_timeout_after_the_first_token() {
    let base = keepalive_forever_upstream().await;
    let extra = custom_provider(&base, &["lab"]);
    let gw = start_with(0.0, move |c| {
        c.server.stream_idle_timeout = Duration::from_secs(1);
        c.providers.extend(extra.providers);
        c.models.extend(extra.models);
    })
    .await;
    let mut body = ask("custom-model", "hi");
    body["stream"] = json!(true);
    let started = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(8), gw.chat(body))
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(4),
        "cut at the idle limit, not when the keep-alives stop: {took:?}"
    );
    let events = r.events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, switchyard_wire::SseEvent::Comment(_))),
        "the keep-alives were forwarded meanwhile"
    );
    let last = r.chunks().pop().unwrap();
    assert_eq!(last["error"]["code"], "upstream_stall");
}
