//! `--header`s over a real connection: every request of a run carries them, an
//! `authorization` header replaces the api key's bearer token, and without one the api
//! key is still sent. The server records the head of each request it receives.

#![expect(
    clippy::unwrap_used,
    reason = "test crate: a failed step is a failed test"
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchyard_bench::ExtraHeaders;
use switchyard_bench::engine::{self, Load, Plan};
use switchyard_bench::workload::{Dist, Source};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const COMPLETION: &str = r#"{"id":"x","object":"chat.completion","created":0,"model":"m","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"hi"}}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#;

/// The lower-cased head lines of every request received.
type Heads = Arc<Mutex<Vec<Vec<String>>>>;

/// Read one request (head and content-length body); its head lines, lower-cased.
async fn read_request(sock: &mut TcpStream) -> Option<Vec<String>> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut seen = Vec::new();
    loop {
        let n = sock.read(&mut buf).await.unwrap_or(0);
        if n == 0 {
            return None;
        }
        seen.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&seen).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let head: Vec<String> = text[..end].lines().map(str::to_ascii_lowercase).collect();
            let len = head
                .iter()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if seen.len() >= end + 4 + len {
                return Some(head);
            }
        }
    }
}

/// A server answering every request with a whole completion; its base URL and the
/// heads it received.
async fn serve() -> (String, Heads) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let heads: Heads = Arc::default();
    let seen = heads.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                // Keep-alive: answer every request on the connection.
                while let Some(head) = read_request(&mut sock).await {
                    seen.lock().unwrap().push(head);
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{COMPLETION}",
                        COMPLETION.len()
                    );
                    if sock.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (format!("http://{addr}/v1"), heads)
}

fn plan(target: String, headers: &[&str], requests: u64) -> Plan {
    Plan {
        target,
        models: vec!["m".into()],
        load: Load::Open {
            rate: 200.0,
            poisson: false,
        },
        duration: None,
        max_requests: Some(requests),
        stream: false,
        timeout: Duration::from_secs(10),
        api_key: Some("sk-from-api-key".into()),
        headers: ExtraHeaders::parse(headers).unwrap(),
        source: Source::Synthetic {
            input: Dist::Fixed(8),
            output: Dist::Fixed(4),
        },
        seed: 1,
        progress: false,
        exact_output: true,
    }
}

/// The values of `name` in one head.
fn values<'a>(head: &'a [String], name: &str) -> Vec<&'a str> {
    let prefix = format!("{name}:");
    head.iter()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(str::trim)
        .collect()
}

#[tokio::test]
async fn every_request_carries_the_headers_and_authorization_replaces_the_api_key() {
    let (url, heads) = serve().await;
    let headers = [
        "X-Portkey-Provider: openai",
        "x-portkey-custom-host: http://127.0.0.1:9/deepseek/global",
        "Authorization: Bearer Portkey-Key",
    ];
    let p = plan(url, &headers, 40);
    let client = engine::http_client().unwrap();
    let data = engine::run(&p, &client).await.unwrap();
    let failed = data.groups[0].recs.iter().filter(|r| r.error.is_some());
    assert_eq!(failed.count(), 0);

    let heads = heads.lock().unwrap();
    assert_eq!(heads.len(), 40, "one head per request");
    for head in heads.iter() {
        assert_eq!(values(head, "x-portkey-provider"), ["openai"], "{head:?}");
        assert_eq!(
            values(head, "x-portkey-custom-host"),
            ["http://127.0.0.1:9/deepseek/global"]
        );
        assert_eq!(values(head, "authorization"), ["bearer portkey-key"]);
        assert_eq!(values(head, "content-type"), ["application/json"]);
        assert_eq!(values(head, "host").len(), 1, "bench still sets host");
        assert!(!head.iter().any(|l| l.contains("sk-from-api-key")));
    }
}

#[tokio::test]
async fn without_an_authorization_header_the_api_key_is_sent_beside_the_headers() {
    let (url, heads) = serve().await;
    let p = plan(url, &["x-tenant: acme"], 5);
    let client = engine::http_client().unwrap();
    engine::run(&p, &client).await.unwrap();
    let heads = heads.lock().unwrap();
    assert_eq!(heads.len(), 5);
    for head in heads.iter() {
        assert_eq!(values(head, "x-tenant"), ["acme"]);
        assert_eq!(values(head, "authorization"), ["bearer sk-from-api-key"]);
    }
}
