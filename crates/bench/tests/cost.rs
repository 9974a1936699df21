//! Reading what each answer cost, over a real connection: the header of a whole
//! answer, the SSE comment of a stream (which wins over a header, never adds to it),
//! and a value that cannot be read, which is flagged instead of trusted.

#![expect(
    clippy::unwrap_used,
    reason = "test crate: a failed step is a failed test"
)]

use std::time::Duration;

use bytes::Bytes;
use switchyard_bench::ExtraHeaders;
use switchyard_bench::client::{Endpoint, Outcome, execute};
use switchyard_bench::cost::CostRead;
use switchyard_bench::engine::http_client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const COMPLETION: &str = r#"{"id":"x","object":"chat.completion","created":0,"model":"m","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"hi"}}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#;

const CHUNK: &str = r#"data: {"id":"x","object":"chat.completion.chunk","created":0,"model":"m","choices":[{"index":0,"delta":{"content":"hi"}}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#;

/// A server that answers every request with `head` (extra header lines) and `body`;
/// returns the URL to post to.
async fn serve(content_type: &'static str, head: &'static str, body: String) -> Endpoint {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut seen = Vec::new();
                // Read the request head and its body (content-length).
                loop {
                    let n = sock.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&seen).to_ascii_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if seen.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\n{head}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Endpoint::parse(&format!("http://{addr}/v1/chat/completions")).unwrap()
}

async fn post(to: &Endpoint, stream: bool) -> Outcome {
    let client = http_client().unwrap();
    let headers = ExtraHeaders::default().request_headers(None).unwrap();
    execute(
        &client,
        to,
        &headers,
        Bytes::from_static(b"{}"),
        stream,
        Duration::from_secs(10),
    )
    .await
}

fn sse(comment: &str) -> String {
    format!("{CHUNK}\n\n: keep-alive\n\n{comment}data: [DONE]\n\n")
}

#[tokio::test]
async fn a_whole_answer_is_priced_by_its_header() {
    let to = serve(
        "application/json",
        "x-switchyard-cost-usd: 0.000012345\r\n",
        COMPLETION.into(),
    )
    .await;
    let o = post(&to, false).await;
    assert!(o.ok(), "{:?}", o.error);
    assert_eq!(o.cost, CostRead::Nanos(12_345));
}

#[tokio::test]
async fn a_stream_is_priced_by_its_comment_which_wins_over_a_header() {
    let body = sse(": x-switchyard-cost-usd 3.000000001\n\n");
    let to = serve("text/event-stream", "", body.clone()).await;
    let o = post(&to, true).await;
    assert!(o.ok(), "{:?}", o.error);
    assert_eq!(o.cost, CostRead::Nanos(3_000_000_001));

    let held = serve(
        "text/event-stream",
        "x-switchyard-cost-usd: 0.000000007\r\n",
        body,
    )
    .await;
    let o = post(&held, true).await;
    assert_eq!(
        o.cost,
        CostRead::Nanos(3_000_000_001),
        "the comment, not a sum"
    );
}

#[tokio::test]
async fn an_unreadable_cost_is_flagged_and_a_target_without_costs_has_none() {
    let bad = serve(
        "text/event-stream",
        "",
        sse(": x-switchyard-cost-usd -1e3\n\n"),
    )
    .await;
    let o = post(&bad, true).await;
    assert!(
        o.ok(),
        "a bad cost does not fail the request: {:?}",
        o.error
    );
    assert_eq!(o.cost, CostRead::Unreadable);

    let plain = serve("text/event-stream", "", sse("")).await;
    assert_eq!(post(&plain, true).await.cost, CostRead::Absent);
    let whole = serve("application/json", "", COMPLETION.into()).await;
    assert_eq!(post(&whole, false).await.cost, CostRead::Absent);
}
