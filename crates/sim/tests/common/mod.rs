//! Helpers shared by the integration tests: start a simulator, post JSON, read SSE.
#![expect(
    dead_code,
    clippy::unwrap_used,
    clippy::panic,
    reason = "shared by several test crates, each using a part; a failed unwrap is a failed test"
)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use switchyard_catalog::Catalog;
use switchyard_sim::{SimConfig, SimHandle};
use switchyard_wire::{Dialect, SseEvent, SseParser};

pub(crate) const SEED: u64 = 20_261_101;

pub(crate) struct Sim {
    pub handle: SimHandle,
    pub http: reqwest::Client,
}

pub(crate) async fn start(time_scale: f64) -> Sim {
    start_with(time_scale, None).await
}

pub(crate) async fn start_with(time_scale: f64, api_key: Option<&str>) -> Sim {
    start_configured(time_scale, |c| c.api_key = api_key.map(str::to_string)).await
}

/// A simulator of the builtin catalog, its configuration adjusted by `adjust`.
pub(crate) async fn start_configured(time_scale: f64, adjust: impl FnOnce(&mut SimConfig)) -> Sim {
    let catalog = Arc::new(Catalog::builtin().unwrap());
    let mut config = SimConfig::for_catalog(&catalog, SEED, time_scale);
    adjust(&mut config);
    let handle = switchyard_sim::spawn(config, catalog, ([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    // reqwest (rustls-no-provider) panics building a Client without a crypto provider,
    // even though these tests only speak plain http.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    Sim { handle, http }
}

pub(crate) fn dialect_of(provider: &str) -> Dialect {
    match provider {
        "deepseek" => Dialect::DeepSeek,
        "dashscope" => Dialect::DashScope,
        "moonshot" => Dialect::Moonshot,
        "zhipu" => Dialect::Zhipu,
        _ => Dialect::OpenAi,
    }
}

impl Sim {
    pub(crate) fn chat_url(&self, provider: &str, region: &str) -> String {
        format!(
            "{}/chat/completions",
            self.handle.base_url(provider, region, dialect_of(provider))
        )
    }

    pub(crate) fn admin(&self, path: &str) -> String {
        format!("http://{}{path}", self.handle.addr)
    }

    /// POST `body` to the provider's chat endpoint with a valid key.
    pub(crate) async fn chat(&self, provider: &str, body: &Value) -> reqwest::Response {
        self.chat_in(provider, "r1", body).await
    }

    pub(crate) async fn chat_in(
        &self,
        provider: &str,
        region: &str,
        body: &Value,
    ) -> reqwest::Response {
        self.http
            .post(self.chat_url(provider, region))
            .header("authorization", "Bearer test-key")
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    pub(crate) async fn put_fault(&self, provider: &str, region: &str, fault: &Value) {
        let r = self
            .http
            .put(self.admin(&format!("/_sim/faults/{provider}/{region}")))
            .header("content-type", "application/json")
            .body(fault.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }

    pub(crate) async fn stats(&self) -> Value {
        let r = self
            .http
            .get(self.admin("/_sim/stats"))
            .send()
            .await
            .unwrap();
        serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
    }

    /// Poll stats until no response is being generated; panics after `within`.
    pub(crate) async fn wait_nothing_in_flight(&self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let active = self.stats().await["in_flight"].as_i64().unwrap();
            if active == 0 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{active} response(s) still generating"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

pub(crate) async fn json_body(r: reqwest::Response) -> Value {
    let bytes = r.bytes().await.unwrap();
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
}

/// A stream read to its end: the events, and whether the transfer ended in an error.
pub(crate) struct Stream {
    pub events: Vec<SseEvent>,
    pub transport_error: bool,
}

impl Stream {
    /// `data:` payloads, `[DONE]` included.
    pub(crate) fn data(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|e| match e {
                SseEvent::Data { data, .. } => Some(data.as_str()),
                SseEvent::Comment(_) => None,
            })
            .collect()
    }

    /// Parsed chunks (everything but `[DONE]`).
    pub(crate) fn chunks(&self) -> Vec<Value> {
        self.data()
            .into_iter()
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }

    pub(crate) fn done(&self) -> bool {
        self.data().last() == Some(&"[DONE]")
    }

    pub(crate) fn comments(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, SseEvent::Comment(c) if c == "keep-alive"))
            .count()
    }

    /// Concatenated `delta.<field>` of choice `index`.
    pub(crate) fn text(&self, field: &str, index: u64) -> String {
        self.chunks()
            .iter()
            .flat_map(|c| c["choices"].as_array().cloned().unwrap_or_default())
            .filter(|ch| ch["index"].as_u64() == Some(index))
            .filter_map(|ch| ch["delta"][field].as_str().map(str::to_string))
            .collect()
    }
}

pub(crate) async fn read_stream(mut r: reqwest::Response) -> Stream {
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    let mut transport_error = false;
    loop {
        match r.chunk().await {
            Ok(Some(bytes)) => {
                parser.push(&bytes).unwrap();
                events.extend(std::iter::from_fn(|| parser.next_event().unwrap()));
            }
            Ok(None) => break,
            Err(_) => {
                transport_error = true;
                break;
            }
        }
    }
    events.extend(parser.finish().unwrap());
    Stream {
        events,
        transport_error,
    }
}

pub(crate) fn user(text: &str) -> Value {
    serde_json::json!([{"role": "user", "content": text}])
}
