//! Slow clients (issue 11, slow-loris): connections that trickle their headers or their
//! body, or sit idle after a response, are closed by `[server] header_timeout_secs` and
//! `body_timeout_secs`, and never take one of the gateway's `max_concurrency` places, so
//! normal traffic beside a thousand of them is still served.
//!
//! How much they slow normal traffic down (p99 against a baseline, side by side) is a
//! figure for `bench/slow_clients.sh`, not an assertion here; this test prints it.

use std::time::{Duration, Instant};

use crate::common::{TestGateway, ask, start_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Slow connections of each kind.
const SLOW: usize = 600;
/// Requests of normal traffic per phase.
const NORMAL: usize = 150;

async fn gateway() -> TestGateway {
    start_with(0.0, |c| {
        c.server.header_timeout = Duration::from_millis(1500);
        c.server.body_timeout = Duration::from_millis(2500);
        // Far fewer places than slow clients: if trickling bodies held places, normal
        // traffic would be shed with 503s.
        c.server.max_concurrency = 64;
    })
    .await
}

fn addr(gw: &TestGateway) -> String {
    gw.base.trim_start_matches("http://").to_string()
}

/// How a slow connection ended.
#[derive(Debug, PartialEq)]
enum End {
    /// The gateway answered this status, then closed.
    Status(u16),
    /// The gateway closed without an answer.
    Closed,
    /// Still open when the test gave up (the limit did not work).
    StillOpen,
}

/// Write `head`, then one byte of `drip` every 100 ms, until the gateway ends it.
async fn trickle(addr: String, head: Vec<u8>, drip: u8) -> End {
    let Ok(mut s) = TcpStream::connect(&addr).await else {
        return End::Closed;
    };
    if s.write_all(&head).await.is_err() {
        return End::Closed;
    }
    let give_up = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 512];
    let mut got = Vec::new();
    while Instant::now() < give_up {
        tokio::select! {
            r = s.read(&mut buf) => match r {
                Ok(0) | Err(_) => return status_of(&got),
                Ok(n) => got.extend_from_slice(&buf[..n]),
            },
            () = tokio::time::sleep(Duration::from_millis(100)) => {
                if s.write_all(&[drip]).await.is_err() {
                    return status_of(&got);
                }
            }
        }
    }
    End::StillOpen
}

fn status_of(got: &[u8]) -> End {
    let text = String::from_utf8_lossy(got);
    text.strip_prefix("HTTP/1.1 ")
        .and_then(|t| t.get(..3))
        .and_then(|c| c.parse().ok())
        .map_or(End::Closed, End::Status)
}

/// Latencies of `NORMAL` sequential requests, all of which must succeed.
async fn normal_traffic(gw: &TestGateway) -> Vec<Duration> {
    let mut out = Vec::with_capacity(NORMAL);
    for i in 0..NORMAL {
        let t = Instant::now();
        let r = gw.chat(ask("deepseek-v4-flash", &format!("hi {i}"))).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        out.push(t.elapsed());
    }
    out
}

fn p99(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[(v.len() * 99 / 100).min(v.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_trickling_clients_are_cut_off_and_never_starve_normal_traffic() {
    let gw = gateway().await;
    let baseline = p99(normal_traffic(&gw).await);

    let a = addr(&gw);
    let header_head = b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-slow: ".to_vec();
    let body = ask("deepseek-v4-flash", "hi").to_string();
    let body_head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{}",
        body.len() + 10_000,
        body.trim_end_matches('}')
    )
    .into_bytes();
    let mut slow = Vec::new();
    for _ in 0..SLOW {
        slow.push(tokio::spawn(trickle(a.clone(), header_head.clone(), b'a')));
        slow.push(tokio::spawn(trickle(a.clone(), body_head.clone(), b' ')));
    }
    // Normal traffic while every slow client is connected and trickling.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let loaded = p99(normal_traffic(&gw).await);

    let mut ends = Vec::new();
    for t in slow {
        ends.push(t.await.unwrap());
    }
    let (headers, bodies): (Vec<_>, Vec<_>) = ends.chunks(2).map(|p| (&p[0], &p[1])).unzip();
    assert!(
        headers
            .iter()
            .all(|e| **e == End::Closed || **e == End::Status(408)),
        "header tricklers are closed: {:?}",
        headers
            .iter()
            .find(|e| !matches!(***e, End::Closed | End::Status(408)))
    );
    // A 408 then close; the client may instead see the close first (its own unread
    // drip bytes make the gateway's close a reset, which can discard the 408).
    assert!(
        bodies
            .iter()
            .all(|e| **e == End::Closed || **e == End::Status(408)),
        "body tricklers are answered 408 and closed: {:?}",
        bodies
            .iter()
            .find(|e| !matches!(***e, End::Closed | End::Status(408)))
    );
    let answered = bodies.iter().filter(|e| ***e == End::Status(408)).count();
    assert!(answered > 0, "some body trickler saw its 408");
    eprintln!(
        "normal p99 {baseline:?} alone, {loaded:?} beside {} slow clients ({:.2}x)",
        2 * SLOW,
        loaded.as_secs_f64() / baseline.as_secs_f64()
    );
    // Nothing was shed, and no place is left taken.
    assert_eq!(gw.metric("switchyard_shed_total", &[]).await, 0.0);
    assert_eq!(
        gw.state.admitted.load(std::sync::atomic::Ordering::Acquire),
        0
    );
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_header_timeout() {
    let gw = gateway().await;
    let mut s = TcpStream::connect(addr(&gw)).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // Now idle: the gateway closes the connection once the header timeout runs out.
    let started = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(15), s.read(&mut buf)).await;
    assert!(
        matches!(r, Ok(Ok(0) | Err(_))),
        "closed, not left open: {r:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(1000));
}

#[tokio::test]
async fn a_slow_body_gets_a_408_in_the_openai_error_shape() {
    let gw = gateway().await;
    let mut s = TcpStream::connect(addr(&gw)).await.unwrap();
    s.write_all(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
          content-length: 100\r\n\r\n{\"model\":",
    )
    .await
    .unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), s.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"code\":\"request_body_timeout\""), "{text}");
}

#[tokio::test]
async fn headers_over_16_kib_get_a_431_and_those_under_are_served() {
    let gw = gateway().await;
    let send = |extra: usize| {
        let addr = addr(&gw);
        async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let filler = "a".repeat(extra);
            let head = format!("GET /healthz HTTP/1.1\r\nhost: x\r\nx-filler: {filler}\r\n\r\n");
            s.write_all(head.as_bytes()).await.unwrap();
            let mut buf = vec![0u8; 256];
            let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
                .await
                .unwrap()
                .unwrap_or(0);
            String::from_utf8_lossy(&buf[..n]).to_string()
        }
    };
    let small = send(12 * 1024).await;
    assert!(small.starts_with("HTTP/1.1 200"), "{small}");
    let big = send(20 * 1024).await;
    assert!(big.starts_with("HTTP/1.1 431"), "{big}");
}
