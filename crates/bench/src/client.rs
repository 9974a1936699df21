//! One request, timed exactly: send, first byte, first token, every content chunk, end.
//!
//! Chunks are read with borrowing, allocation-light views instead of the full wire
//! types, and only their `delta` and `usage` objects are parsed: the tester must stay
//! cheap at thousands of streams per second (see `scan_chunk`).

use std::borrow::Cow;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as LegacyClient;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::Deserialize;
use switchyard_wire::{SseEvent, SseParser, tokens};

use crate::cost::{COST_HEADER, CostRead};
use crate::net::{Clock, RxStamp, StampedConnector};

/// What happened to one request. Instants are absolute; the caller relates them to its
/// schedule.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// When the request left.
    pub sent: Instant,
    /// Response headers arrived.
    pub first_byte: Option<Instant>,
    /// First non-empty content, reasoning or tool-call delta (streams only).
    pub first_token: Option<Instant>,
    /// Last content-bearing chunk (streams only).
    pub last_token: Option<Instant>,
    /// Done (success or failure).
    pub done: Instant,
    /// HTTP status (0 without a response).
    pub status: u16,
    /// Failure kind (`http_429`, `connect`, `timeout`, `stream_error`, …), if failed.
    pub error: Option<String>,
    /// Output tokens (from `usage`, else estimated).
    pub output_tokens: u32,
    /// Prompt tokens from `usage`, if the server sent it.
    pub input_tokens: Option<u32>,
    /// Whether `output_tokens` is our estimate.
    pub estimated: bool,
    /// Gaps between consecutive content-bearing chunks, with the tokens each carried.
    pub gaps: Vec<(Duration, u32)>,
    /// What the target said the answer cost (Switchyard's header, or on a stream its
    /// cost comment, which wins when both came).
    pub cost: CostRead,
}

impl Outcome {
    /// Whether the request succeeded.
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

#[derive(Deserialize)]
struct LiteChunk<'a> {
    #[serde(borrow, default)]
    choices: Vec<LiteChoice<'a>>,
    #[serde(default)]
    usage: Option<LiteUsage>,
    #[serde(default)]
    error: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct LiteChoice<'a> {
    #[serde(borrow, default)]
    message: Option<LiteDelta<'a>>,
    #[serde(default)]
    usage: Option<LiteUsage>,
}

#[derive(Deserialize)]
struct LiteDelta<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    tool_calls: Option<Vec<LiteToolCall<'a>>>,
}

#[derive(Deserialize)]
struct LiteToolCall<'a> {
    #[serde(borrow, default)]
    function: Option<LiteFunction<'a>>,
}

#[derive(Deserialize)]
struct LiteFunction<'a> {
    #[serde(borrow, default)]
    arguments: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Clone, Copy)]
struct LiteUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

impl LiteDelta<'_> {
    /// Tokens of output this delta carries (by our estimator).
    fn tokens(&self) -> u32 {
        let text = self.content.as_deref().map_or(0, tokens::estimate)
            + self
                .reasoning_content
                .as_deref()
                .map_or(0, tokens::estimate);
        let calls: u64 = self
            .tool_calls
            .iter()
            .flatten()
            .filter_map(|c| c.function.as_ref())
            .map(|f| f.arguments.as_deref().map_or(0, tokens::estimate))
            .sum();
        let n = text + calls;
        if n == 0 && self.tool_calls.as_ref().is_some_and(|c| !c.is_empty()) {
            return 1;
        }
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}

/// What a streamed chunk carries, found without parsing the whole chunk.
struct Scan {
    /// Output tokens in its deltas (by our estimator).
    tokens: u32,
    /// Usage, top level or inside a choice (Kimi).
    usage: Option<LiteUsage>,
    /// An error object instead of a chunk.
    error: bool,
}

/// Read the parts of a chunk the tester needs: every `"delta"` object and any `"usage"`
/// object are parsed with serde; the rest (ids, fingerprints, logprobs) is skipped
/// unread. Keys cannot occur inside JSON strings (their quotes would be escaped), so
/// finding them by bytes is exact. `None` when the event is not a chunk at all.
fn scan_chunk(data: &str) -> Option<Scan> {
    let t = data.trim();
    if !(t.starts_with('{') && t.ends_with('}')) {
        return None;
    }
    let b = t.as_bytes();
    let value_after = |pos: usize, key_len: usize| -> Option<&str> {
        let rest = t.get(pos + key_len..)?.trim_start();
        Some(rest.strip_prefix(':')?.trim_start())
    };
    let has_choices = memchr::memmem::find(b, b"\"choices\"").is_some();
    if !has_choices && memchr::memmem::find(b, b"\"error\"").is_some() {
        return Some(Scan {
            tokens: 0,
            usage: None,
            error: true,
        });
    }
    let mut tokens = 0u32;
    for pos in memchr::memmem::find_iter(b, b"\"delta\"") {
        let rest = value_after(pos, 7)?;
        let mut de = serde_json::Deserializer::from_str(rest);
        let delta = LiteDelta::deserialize(&mut de).ok()?;
        tokens = tokens.saturating_add(delta.tokens());
    }
    let mut usage = None;
    for pos in memchr::memmem::find_iter(b, b"\"usage\"") {
        let rest = value_after(pos, 7)?;
        if rest.starts_with('{') {
            let mut de = serde_json::Deserializer::from_str(rest);
            usage = Some(LiteUsage::deserialize(&mut de).ok()?);
            break;
        }
    }
    (has_choices || usage.is_some()).then_some(Scan {
        tokens,
        usage,
        error: false,
    })
}

/// The response body type both transports are read through.
type Body = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// How requests reach the target: plain HTTP over kernel-stamped connections, or TLS
/// through reqwest (stamps are then taken when bytes are read).
#[derive(Clone)]
pub struct Transport {
    plain: LegacyClient<StampedConnector, Full<Bytes>>,
    tls: reqwest::Client,
    clock: Clock,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Transport")
    }
}

/// A parsed target URL in both crates' forms.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// For reqwest (TLS).
    pub url: reqwest::Url,
    /// For hyper (plain HTTP).
    pub uri: http::Uri,
}

impl Endpoint {
    /// Parse `url`.
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        Ok(Endpoint {
            url: reqwest::Url::parse(url).map_err(|e| e.to_string())?,
            uri: url.parse::<http::Uri>().map_err(|e| e.to_string())?,
        })
    }
}

/// How long an idle pooled connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(4);

impl Transport {
    /// Build both clients.
    pub fn new() -> Result<Transport, String> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        // Idle connections are dropped after a few seconds, before servers close them
        // (Node.js after 5 s, Switchyard after its header_timeout_secs, 10 s): reusing
        // one the server is closing is a spurious send failure. httpx, under the openai
        // SDK, lets them go after 5 s too.
        let tls = reqwest::Client::builder()
            .pool_max_idle_per_host(100_000)
            .pool_idle_timeout(POOL_IDLE)
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| e.to_string())?;
        let plain = LegacyClient::builder(TokioExecutor::new())
            .pool_max_idle_per_host(100_000)
            .pool_idle_timeout(POOL_IDLE)
            .pool_timer(TokioTimer::new())
            .build(StampedConnector);
        Ok(Transport {
            plain,
            tls,
            clock: Clock::now(),
        })
    }

    /// The reqwest client (for plain API calls such as a simulator's fault injection).
    pub fn reqwest(&self) -> &reqwest::Client {
        &self.tls
    }

    async fn post(
        &self,
        to: &Endpoint,
        headers: &http::HeaderMap,
        body: Bytes,
    ) -> Result<(http::Response<Body>, Option<RxStamp>), &'static str> {
        if to.url.scheme() == "http" {
            let mut req = http::Request::post(to.uri.clone())
                .body(Full::new(body))
                .map_err(|_| "send")?;
            *req.headers_mut() = headers.clone();
            let resp = self
                .plain
                .request(req)
                .await
                .map_err(|e| if e.is_connect() { "connect" } else { "send" })?;
            let stamp = resp.extensions().get::<RxStamp>().cloned();
            Ok((
                resp.map(|b| {
                    b.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
                        .boxed()
                }),
                stamp,
            ))
        } else {
            let resp = self
                .tls
                .post(to.url.clone())
                .headers(headers.clone())
                .body(body)
                .send()
                .await
                .map_err(|e| {
                    if e.is_connect() {
                        "connect"
                    } else if e.is_timeout() {
                        "timeout"
                    } else {
                        "send"
                    }
                })?;
            let resp: http::Response<reqwest::Body> = resp.into();
            Ok((
                resp.map(|b| {
                    b.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
                        .boxed()
                }),
                None,
            ))
        }
    }
}

/// When bytes arrived: the kernel's stamp of the latest read on the connection when
/// there is one, else now.
fn arrival(stamp: Option<&RxStamp>, clock: &Clock) -> Instant {
    stamp
        .and_then(|s| s.instant(clock))
        .unwrap_or_else(Instant::now)
}

/// Send one request with `headers` (built once per run, see
/// [`crate::headers::ExtraHeaders::request_headers`]) and time it.
pub async fn execute(
    transport: &Transport,
    to: &Endpoint,
    headers: &http::HeaderMap,
    body: Bytes,
    stream: bool,
    timeout: Duration,
) -> Outcome {
    let sent = Instant::now();
    let mut out = Outcome {
        sent,
        first_byte: None,
        first_token: None,
        last_token: None,
        done: sent,
        status: 0,
        error: None,
        output_tokens: 0,
        input_tokens: None,
        estimated: false,
        gaps: Vec::new(),
        cost: CostRead::Absent,
    };
    let fut = run(transport, to, headers, body, stream, &mut out);
    if tokio::time::timeout(timeout, fut).await.is_err() {
        out.error = Some("timeout".into());
    }
    out.done = Instant::now();
    out
}

async fn run(
    transport: &Transport,
    to: &Endpoint,
    headers: &http::HeaderMap,
    body: Bytes,
    stream: bool,
    out: &mut Outcome,
) {
    let (resp, stamp) = match transport.post(to, headers, body).await {
        Ok(r) => r,
        Err(kind) => {
            out.error = Some(kind.into());
            return;
        }
    };
    // The request really left when its bytes reached the kernel (later than `sent` if it
    // waited behind other requests in this event loop).
    if let Some(tx) = stamp
        .as_ref()
        .and_then(RxStamp::sent)
        .filter(|t| *t >= out.sent)
    {
        out.sent = tx;
    }
    out.first_byte = Some(arrival(stamp.as_ref(), &transport.clock).max(out.sent));
    out.status = resp.status().as_u16();
    // Any answer may carry its cost, a refusal included (the gateway may have charged
    // for attempts before it).
    out.cost = CostRead::from_header(resp.headers().get(COST_HEADER));
    let mut body = resp.into_body();
    if !(200..300).contains(&out.status) {
        let _ = (&mut body).collect().await;
        out.error = Some(format!("http_{}", out.status));
        return;
    }
    if stream {
        read_stream(body, stamp.as_ref(), &transport.clock, out).await;
    } else {
        read_whole(body, out).await;
    }
}

async fn read_whole(body: Body, out: &mut Outcome) {
    let bytes = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            out.error = Some("read_error".into());
            return;
        }
    };
    match serde_json::from_slice::<LiteChunk<'_>>(&bytes) {
        Ok(c) if c.error.is_none() => {
            let usage = c.usage.or_else(|| c.choices.iter().find_map(|ch| ch.usage));
            apply_usage(out, usage, || {
                c.choices
                    .iter()
                    .filter_map(|ch| ch.message.as_ref())
                    .map(LiteDelta::tokens)
                    .sum()
            });
        }
        _ => out.error = Some("bad_response".into()),
    }
}

fn apply_usage(out: &mut Outcome, usage: Option<LiteUsage>, estimate: impl FnOnce() -> u32) {
    match usage {
        Some(u) if u.completion_tokens > 0 || u.prompt_tokens > 0 => {
            out.output_tokens = u32::try_from(u.completion_tokens).unwrap_or(u32::MAX);
            out.input_tokens = u32::try_from(u.prompt_tokens).ok();
        }
        _ => {
            out.output_tokens = estimate();
            out.estimated = true;
        }
    }
}

async fn read_stream(mut body: Body, stamp: Option<&RxStamp>, clock: &Clock, out: &mut Outcome) {
    let mut parser = SseParser::new();
    let mut usage = None;
    let mut streamed_tokens: u32 = 0;
    let mut done = false;
    while let Some(next) = body.frame().await {
        let bytes = match next {
            Ok(frame) => match frame.into_data() {
                Ok(b) => b,
                Err(_) => continue, // trailers
            },
            Err(_) => {
                // The connection broke mid-stream: the answer was cut off.
                out.error = Some("stream_truncated".into());
                return;
            }
        };
        let now = arrival(stamp, clock).max(out.sent);
        if parser.push(&bytes).is_err() {
            out.error = Some("bad_response".into());
            return;
        }
        loop {
            let ev = match parser.next_event() {
                Ok(Some(ev)) => ev,
                Ok(None) => break,
                Err(_) => {
                    out.error = Some("bad_response".into());
                    return;
                }
            };
            let data = match ev {
                SseEvent::Data { data, .. } => data,
                // The parser already owns the comment's text; matching a prefix costs
                // nothing more. The comment is the stream's cost, over any header.
                SseEvent::Comment(c) => {
                    out.cost = CostRead::from_comment(&c).or(out.cost);
                    continue;
                }
            };
            if data.trim() == "[DONE]" {
                done = true;
                continue;
            }
            let Some(scan) = scan_chunk(&data) else {
                out.error = Some("bad_response".into());
                return;
            };
            if scan.error {
                out.error = Some("stream_error".into());
                return;
            }
            if scan.usage.is_some() {
                usage = scan.usage;
            }
            let n = scan.tokens;
            if n > 0 {
                match out.last_token {
                    None => out.first_token = Some(now),
                    Some(prev) => out.gaps.push((now - prev, n)),
                }
                out.last_token = Some(now);
                streamed_tokens = streamed_tokens.saturating_add(n);
            }
        }
    }
    if !done {
        out.error = Some("stream_truncated".into());
        return;
    }
    apply_usage(out, usage, || streamed_tokens);
}
