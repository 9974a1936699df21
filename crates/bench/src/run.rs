//! The open-loop runner: requests leave on a fixed schedule, each timed exactly.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use switchyard_wire::{ChatChunk, SseEvent, SseParser};
use tokio::time::Instant;

/// One open-loop run at a constant rate.
#[derive(Debug, Clone)]
pub struct OpenLoop {
    /// Full URL of the chat-completions endpoint.
    pub url: String,
    /// Request body (JSON).
    pub body: Bytes,
    /// Requests per second.
    pub rate: f64,
    /// How long to offer load.
    pub duration: Duration,
    /// Bearer token.
    pub api_key: Option<String>,
    /// Whether the body asks for a stream (then TTFT is measured).
    pub stream: bool,
    /// Per-request time-out.
    pub timeout: Duration,
}

/// The timeline of one request.
#[derive(Debug, Clone)]
pub struct Sample {
    /// When the schedule said to send it.
    pub scheduled: Instant,
    /// When it was actually sent.
    pub sent: Instant,
    /// First content/reasoning/tool token (streams only).
    pub first_token: Option<Instant>,
    /// When the whole response was read (or the request failed).
    pub done: Instant,
    /// HTTP status (0 when no response).
    pub status: u16,
    /// Transport or protocol error, if any.
    pub error: Option<String>,
}

impl Sample {
    /// Whether it succeeded (2xx, no error).
    pub fn ok(&self) -> bool {
        self.error.is_none() && (200..300).contains(&self.status)
    }

    /// Latency from the actual send.
    pub fn service(&self) -> Duration {
        self.done - self.sent
    }

    /// Latency from the scheduled start (includes any client-side queueing).
    pub fn from_schedule(&self) -> Duration {
        self.done - self.scheduled
    }

    /// How late the generator sent it.
    pub fn dispatch_delay(&self) -> Duration {
        self.sent - self.scheduled
    }

    /// Time to first token from the actual send.
    pub fn ttft(&self) -> Option<Duration> {
        self.first_token.map(|t| t - self.sent)
    }
}

/// Offer `cfg.rate` requests per second for `cfg.duration`; return every request's sample.
pub async fn run_open_loop(client: &reqwest::Client, cfg: &OpenLoop) -> Vec<Sample> {
    let total = (cfg.rate * cfg.duration.as_secs_f64()).round() as u64;
    let interval = Duration::from_secs_f64(1.0 / cfg.rate.max(0.001));
    let start = Instant::now() + Duration::from_millis(10);
    let mut tasks = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for i in 0..total {
        let scheduled = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(scheduled).await;
        let client = client.clone();
        let cfg = cfg.clone();
        tasks.push(tokio::spawn(
            async move { one(&client, &cfg, scheduled).await },
        ));
    }
    let mut samples = Vec::with_capacity(tasks.len());
    for t in tasks {
        if let Ok(s) = t.await {
            samples.push(s);
        }
    }
    samples
}

async fn one(client: &reqwest::Client, cfg: &OpenLoop, scheduled: Instant) -> Sample {
    let mut rb = client
        .post(&cfg.url)
        .header("content-type", "application/json")
        .timeout(cfg.timeout)
        .body(cfg.body.clone());
    if let Some(k) = &cfg.api_key {
        rb = rb.bearer_auth(k);
    }
    let sent = Instant::now();
    let mut sample = Sample {
        scheduled,
        sent,
        first_token: None,
        done: sent,
        status: 0,
        error: None,
    };
    match rb.send().await {
        Err(e) => sample.error = Some(e.to_string()),
        Ok(resp) => {
            sample.status = resp.status().as_u16();
            if cfg.stream {
                read_stream(resp, &mut sample).await;
            } else if let Err(e) = resp.bytes().await {
                sample.error = Some(e.to_string());
            }
        }
    }
    sample.done = Instant::now();
    sample
}

async fn read_stream(resp: reqwest::Response, sample: &mut Sample) {
    let mut body = resp.bytes_stream();
    let mut parser = SseParser::new();
    while let Some(chunk) = body.next().await {
        match chunk {
            Err(e) => {
                sample.error = Some(e.to_string());
                return;
            }
            Ok(bytes) => parser.push(&bytes),
        }
        while let Some(ev) = parser.next_event() {
            if let (None, SseEvent::Data { data, .. }) = (sample.first_token, ev)
                && serde_json::from_str::<ChatChunk>(&data)
                    .is_ok_and(|c| c.choices.iter().any(|ch| ch.delta.has_output()))
            {
                sample.first_token = Some(Instant::now());
            }
        }
    }
}
