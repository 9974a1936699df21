//! Shared fixtures for the gateway's integration tests: a real gateway on a loopback port
//! in front of the real in-process simulator, and small HTTP/SSE helpers.

use std::sync::Arc;

use serde_json::{Value, json};
use switchyard_gateway::{AppState, Config};
use switchyard_wire::{SseEvent, SseParser};

/// The admin token every test gateway accepts on `/admin/keys`.
pub(crate) const ADMIN_TOKEN: &str = "test-admin-token";

/// A running gateway (embedded default: every provider simulated).
pub(crate) struct TestGateway {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// `http://127.0.0.1:PORT` of the in-process simulator (for fault injection).
    pub sim: String,
    /// HTTP client.
    pub http: reqwest::Client,
    /// The gateway's usage log (SQLite), in a directory removed with the gateway.
    pub usage_db: std::path::PathBuf,
    /// The gateway's state (to flush its usage log).
    pub state: Arc<AppState>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

/// Start the embedded default with `time_scale`, after applying `tweak` to its config.
pub(crate) async fn start_with(time_scale: f64, tweak: impl FnOnce(&mut Config)) -> TestGateway {
    let mut config = Config::embedded_default().unwrap();
    config.simulator.time_scale = time_scale;
    config.server.listen = "127.0.0.1:0".parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let usage_db = dir.path().join("usage.db");
    config.usage.path = Some(usage_db.clone());
    tweak(&mut config);
    let env = |k: &str| (k == "SWITCHYARD_ADMIN_TOKEN").then(|| ADMIN_TOKEN.to_string());
    let state = Arc::new(AppState::build(config, &env).await.unwrap());
    let sim = format!("http://{}", state.sim.as_ref().unwrap().addr);
    let listener = switchyard_gateway::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(switchyard_gateway::serve(
        Arc::clone(&state),
        listener,
        async {
            let _ = rx.await;
        },
    ));
    TestGateway {
        base,
        sim,
        http: reqwest::Client::new(),
        usage_db,
        state,
        _shutdown: tx,
        _dir: dir,
    }
}

/// Start the embedded default with no simulated delays.
pub(crate) async fn start() -> TestGateway {
    start_with(0.0, |_| {}).await
}

/// A response, read whole.
pub(crate) struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// SSE events of a streamed body.
    pub(crate) fn events(&self) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        p.push(&self.body).unwrap();
        let mut out: Vec<SseEvent> = std::iter::from_fn(|| p.next_event().unwrap()).collect();
        out.extend(p.finish().unwrap());
        out
    }

    /// JSON payloads of the data events, `[DONE]` excluded.
    pub(crate) fn chunks(&self) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                SseEvent::Data { data, .. } if data != "[DONE]" => {
                    Some(serde_json::from_str(&data).unwrap())
                }
                _ => None,
            })
            .collect()
    }

    pub(crate) fn ends_with_done(&self) -> bool {
        matches!(self.events().last(), Some(SseEvent::Data { data, .. }) if data == "[DONE]")
    }
}

impl TestGateway {
    pub(crate) async fn post(&self, path: &str, body: &Value) -> Reply {
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string());
        read(req).await
    }

    pub(crate) async fn chat(&self, body: Value) -> Reply {
        self.post("/v1/chat/completions", &body).await
    }

    /// `POST /v1/chat/completions` with a gateway key.
    pub(crate) async fn chat_as(&self, key: &str, body: Value) -> Reply {
        let req = self
            .http
            .post(format!("{}/v1/chat/completions", self.base))
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {key}"))
            .body(body.to_string());
        read(req).await
    }

    /// `POST /v1/chat/completions` with extra request headers.
    pub(crate) async fn chat_with(&self, headers: &[(&str, &str)], body: Value) -> Reply {
        let mut req = self
            .http
            .post(format!("{}/v1/chat/completions", self.base))
            .header("content-type", "application/json")
            .body(body.to_string());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        read(req).await
    }

    pub(crate) async fn get(&self, path: &str) -> Reply {
        read(self.http.get(format!("{}{path}", self.base))).await
    }

    /// Inject a fault into the simulator for one provider region.
    pub(crate) async fn fault(&self, provider: &str, region: &str, fault: Value) {
        let resp = self
            .http
            .put(format!("{}/_sim/faults/{provider}/{region}", self.sim))
            .header("content-type", "application/json")
            .body(fault.to_string())
            .send()
            .await
            .unwrap();
        assert!(
            resp.status().is_success(),
            "fault injection failed: {}",
            resp.status()
        );
    }

    pub(crate) async fn clear_faults(&self) {
        let resp = self
            .http
            .delete(format!("{}/_sim/faults", self.sim))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
    }

    /// `GET /metrics`, with the admin token (needed when keys are on).
    pub(crate) async fn metrics(&self) -> String {
        let req = self
            .http
            .get(format!("{}/metrics", self.base))
            .bearer_auth(ADMIN_TOKEN);
        let r = read(req).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        String::from_utf8(r.body).unwrap()
    }

    /// Wait until the usage log has written everything recorded so far.
    pub(crate) fn flush_usage(&self) {
        if let Some(log) = &self.state.usage {
            log.flush(std::time::Duration::from_secs(10)).unwrap();
        }
    }

    /// Every usage event written so far (after flushing the log).
    pub(crate) fn usage_events(&self) -> Vec<switchyard_ledger::UsageEvent> {
        self.flush_usage();
        switchyard_ledger::SqliteStore::open(&self.usage_db)
            .unwrap()
            .events_since(0)
            .unwrap()
    }

    /// The simulator's `/_sim/stats`.
    pub(crate) async fn sim_stats(&self) -> Value {
        let resp = self
            .http
            .get(format!("{}/_sim/stats", self.sim))
            .send()
            .await
            .unwrap();
        serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap()
    }

    /// Requests one provider region of the simulator received.
    pub(crate) async fn served(&self, provider: &str, region: &str) -> u64 {
        self.sim_stats().await["providers"][provider][region]["requests"]
            .as_u64()
            .unwrap_or(0)
    }

    /// Sum of a Prometheus series over the lines that contain every one of `labels`
    /// (e.g. `outcome="completed"`).
    pub(crate) async fn metric(&self, name: &str, labels: &[&str]) -> f64 {
        self.metrics()
            .await
            .lines()
            .filter(|l| l.starts_with(name) && labels.iter().all(|f| l.contains(f)))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

/// A name no other test or run uses (Redis prefixes, PostgreSQL tables).
pub(crate) fn unique(stem: &str) -> String {
    format!(
        "{stem}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// `[routes.*]` tables parsed from TOML, to put into a test's config.
pub(crate) fn routes(
    toml: &str,
) -> std::collections::BTreeMap<String, switchyard_gateway::config::RouteConfig> {
    Config::parse(toml, "test routes").unwrap().routes
}

/// Read a response body as JSON.
pub(crate) trait JsonBody {
    /// The body, parsed.
    fn json_value(self) -> impl std::future::Future<Output = Value>;
}

impl JsonBody for reqwest::Response {
    async fn json_value(self) -> Value {
        serde_json::from_slice(&self.bytes().await.unwrap()).unwrap()
    }
}

/// Send a request and read the whole response.
async fn read(req: reqwest::RequestBuilder) -> Reply {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.unwrap().to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

/// Serve `app` on a loopback port as a hand-written upstream; returns its base URL
/// (`http://127.0.0.1:PORT/v1`), to be used as provider `custom` via [`custom_provider`].
pub(crate) async fn custom_upstream(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/v1")
}

/// Config additions: provider `custom` (OpenAI dialect) at `base` in regions `regions`,
/// serving model `custom-model`.
pub(crate) fn custom_provider(base: &str, regions: &[&str]) -> Config {
    let regions: Vec<String> = regions
        .iter()
        .map(|r| format!("{{ name = \"{r}\", base_url = \"{base}\" }}"))
        .collect();
    Config::parse(
        &format!(
            "[providers.custom]\ndialect = \"openai\"\napi_key = \"x\"\nregions = [{}]\n\n\
             [[models]]\nid = \"custom-model\"\nprovider = \"custom\"\ncontext_window = 4096\nmax_output = 512\n\
             capabilities = [\"text\"]\nprice = {{ input = 1.0, cached_input = 0.1, output = 2.0 }}\n",
            regions.join(", ")
        ),
        "test",
    )
    .unwrap()
}

/// A one-message user request.
pub(crate) fn ask(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 8})
}

/// A weather tool declaration.
pub(crate) fn weather_tool() -> Value {
    json!({"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}})
}

/// Concatenate the content deltas of a stream.
pub(crate) fn streamed_text(chunks: &[Value], field: &str) -> String {
    chunks
        .iter()
        .filter_map(|c| c["choices"].get(0))
        .filter_map(|c| c["delta"][field].as_str())
        .collect()
}

/// A request to the admin API with `token`.
pub(crate) async fn admin(
    gw: &TestGateway,
    method: &str,
    path: &str,
    body: Option<Value>,
    token: &str,
) -> Reply {
    let mut req = gw
        .http
        .request(method.parse().unwrap(), format!("{}{path}", gw.base))
        .header("authorization", format!("Bearer {token}"));
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let resp = req.send().await.unwrap();
    Reply {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.bytes().await.unwrap().to_vec(),
    }
}

/// Issue a key through the admin API: (the key, its id).
pub(crate) async fn new_key(gw: &TestGateway, body: Value) -> (String, String) {
    let r = admin(gw, "POST", "/admin/keys", Some(body), ADMIN_TOKEN).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    (
        v["key"].as_str().unwrap().to_string(),
        v["record"]["id"].as_str().unwrap().to_string(),
    )
}

/// The error `AppState::build` gives for `config` (which must fail to start).
pub(crate) async fn start_error(config: Config) -> String {
    AppState::build(config, &|_| None)
        .await
        .expect_err("the gateway should not start")
        .to_string()
}

/// The local PostgreSQL's `test` database (trust auth), as the tests use it.
pub(crate) const PG: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Run `sql` (one or more statements) on a connection of its own, off the runtime's
/// workers.
pub(crate) async fn pg_batch(sql: String) {
    tokio::task::spawn_blocking(move || {
        postgres::Client::connect(PG, postgres::NoTls)
            .unwrap()
            .batch_execute(&sql)
            .unwrap();
    })
    .await
    .unwrap();
}

/// Send `body` with `key` until the budget refuses it (402), at most `tries` times;
/// every earlier answer must be a 200.
pub(crate) async fn spend_until_refused(gw: &TestGateway, key: &str, body: Value, tries: usize) {
    for _ in 0..tries {
        let r = gw.chat_as(key, body.clone()).await;
        if r.status == 402 {
            return;
        }
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    panic!("the budget never ran out in {tries} requests");
}
