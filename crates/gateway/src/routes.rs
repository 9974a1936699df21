//! HTTP surface: `POST /v1/chat/completions`, `GET /v1/models[/{id}]`, `/healthz`,
//! `/readyz`, `/metrics`, and OpenAI-shaped 404/405 for everything else.
//!
//! A chat request flows: read body (size-limited) → parse into typed [`ChatRequest`]
//! (errors name the field) → validate → resolve the model in the catalog → check
//! capabilities → pick the provider and region → restore reasoning the vendor needs →
//! [`Dialect::prepare`] → upstream call → normalise the answer (whole, or chunk by chunk
//! in [`crate::relay`]) → usage recorded.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use metrics::counter;
use serde_json::{Value, json};
use switchyard_catalog::{Capability, Catalog, Model};
use switchyard_wire::chat::json_kind;
use switchyard_wire::dialect::normalize_completion;
use switchyard_wire::{
    ChatChunk, ChatCompletion, ChatRequest, Content, ErrorKind, Role, SseEvent, SseParser,
    StreamAggregator, TokenUsage, UpstreamError, tokens,
};

use crate::error::GatewayError;
use crate::relay::Relay;
use crate::state::{AppState, ProviderRuntime, RegionRuntime};
use crate::usage::{self, Outcome, UsageRecord};

/// Build the router over a ready [`AppState`].
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/chat/completions", post(chat))
        .route("/v1/models", get(list_models))
        .route("/v1/models/{*id}", get(get_model))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn unknown_route(method: Method, uri: Uri) -> Response {
    count_error("unknown_route");
    GatewayError::UnknownRoute {
        method: method.to_string(),
        path: uri.path().to_string(),
    }
    .into_response()
}

async fn method_not_allowed(method: Method) -> Response {
    count_error("method_not_allowed");
    GatewayError::MethodNotAllowed(method.to_string()).into_response()
}

async fn healthz() -> Response {
    json_response(StatusCode::OK, Bytes::from_static(b"{\"status\":\"ok\"}"))
}

async fn readyz(State(st): State<Arc<AppState>>) -> Response {
    let usable: Vec<&str> = st
        .providers
        .values()
        .filter(|p| p.usable())
        .map(|p| p.id.as_str())
        .collect();
    let status = if usable.is_empty() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let body = json!({
        "status": if usable.is_empty() { "no usable provider" } else { "ready" },
        "providers": st.providers.values().map(|p| (p.id.clone(), json!({
            "usable": p.usable(),
            "simulated": p.simulated,
            "regions": p.regions.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        }))).collect::<serde_json::Map<_, _>>(),
    });
    json_response(status, Bytes::from(body.to_string()))
}

async fn metrics_text() -> Response {
    let mut resp = crate::telemetry::render().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

async fn list_models(State(st): State<Arc<AppState>>) -> Response {
    json_response(StatusCode::OK, st.models_json.clone())
}

async fn get_model(State(st): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    match st.catalog.resolve(&id) {
        Ok(m) => {
            let p = st.providers.get(&m.provider);
            json_response(StatusCode::OK, Bytes::from(model_entry(m, p).to_string()))
        }
        Err(e) => GatewayError::ModelNotFound(e.to_string()).into_response(),
    }
}

/// `GET /v1/models` body: OpenAI list shape plus price, context and capability fields.
pub fn render_models(
    catalog: &Catalog,
    providers: &std::collections::HashMap<String, ProviderRuntime>,
) -> Bytes {
    let data: Vec<Value> = catalog
        .models()
        .iter()
        .map(|m| model_entry(m, providers.get(&m.provider)))
        .collect();
    Bytes::from(json!({"object": "list", "data": data}).to_string())
}

fn model_entry(m: &Model, p: Option<&ProviderRuntime>) -> Value {
    json!({
        "id": m.id,
        "object": "model",
        "created": 0,
        "owned_by": m.provider,
        "display_name": m.display_name,
        "family": m.family,
        "provider": m.provider,
        "upstream_id": m.upstream_id,
        "context_window": m.context_window,
        "max_output": m.max_output,
        "capabilities": m.capabilities,
        "aliases": m.aliases,
        "price": {
            "currency": "USD",
            "unit": "per_million_tokens",
            "input": m.price.input,
            "cached_input": m.price.cached_input,
            "output": m.price.output,
            "as_of": m.price.as_of,
        },
        "available": p.is_some_and(ProviderRuntime::usable),
    })
}

fn json_response(status: StatusCode, body: Bytes) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn count_error(code: &'static str) {
    counter!("switchyard_errors_total", "code" => code).increment(1);
}

static REQUEST_SEQ: AtomicU64 = AtomicU64::new(0);

fn request_id(headers: &HeaderMap) -> String {
    if let Some(id) = headers.get("x-request-id").and_then(|v| v.to_str().ok())
        && !id.is_empty()
        && id.len() <= 128
    {
        return id.to_string();
    }
    let n = REQUEST_SEQ.fetch_add(1, Ordering::Relaxed);
    format!("sy-{:08x}-{n:x}", boot_nonce())
}

fn boot_nonce() -> u32 {
    static NONCE: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *NONCE.get_or_init(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        (t.as_nanos() as u32) ^ std::process::id().rotate_left(16)
    })
}

/// Per-request facts used to record usage, whichever way the request ends.
pub struct RequestCtx {
    /// Shared state (catalog for prices).
    pub st: Arc<AppState>,
    /// Gateway request id.
    pub request_id: String,
    /// Canonical model id.
    pub model_id: String,
    /// Provider id.
    pub provider: String,
    /// Region that serves the request.
    pub region: String,
    /// Arrival time.
    pub started: Instant,
    /// Prompt tokens by our estimator (used when the vendor's figure never arrives).
    pub prompt_estimate: u64,
}

impl RequestCtx {
    /// Record usage for this request.
    pub fn record(&self, usage: TokenUsage, estimated: bool, outcome: Outcome) {
        let Some(model) = self.st.catalog.get(&self.model_id) else {
            return;
        };
        usage::record(
            &UsageRecord {
                request_id: &self.request_id,
                model: &self.model_id,
                provider: &self.provider,
                region: &self.region,
                usage,
                estimated,
                outcome,
                price: &model.price,
                latency: self.started.elapsed(),
            },
            self.st.metrics.get(&self.model_id),
        );
    }

    fn count(&self, status: StatusCode) {
        match self.st.metrics.get(&self.model_id) {
            Some(m) if status == StatusCode::OK => m.requests_ok.increment(1),
            _ => counter!("switchyard_requests_total", "model" => self.model_id.clone(), "provider" => self.provider.clone(),
                "status" => status.as_str().to_string())
            .increment(1),
        }
    }
}

/// Keeps `switchyard_inflight_requests` right however the request ends.
struct Inflight(metrics::Gauge);

impl Inflight {
    fn enter(gauge: &metrics::Gauge) -> Self {
        gauge.increment(1.0);
        Inflight(gauge.clone())
    }
}

impl Drop for Inflight {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

async fn chat(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    let inflight = Inflight::enter(&st.inflight);
    match chat_inner(st, &headers, body, inflight).await {
        Ok(resp) => resp,
        Err(e) => {
            count_error(e.label());
            e.into_response()
        }
    }
}

async fn chat_inner(
    st: Arc<AppState>,
    headers: &HeaderMap,
    body: Body,
    inflight: Inflight,
) -> Result<Response, GatewayError> {
    let started = Instant::now();
    check_content_type(headers)?;
    let bytes = read_body(headers, body, st.config.server.max_body_bytes).await?;
    let mut req = parse_request(&bytes)?;
    drop(bytes);
    validate(&req)?;
    let model = st
        .catalog
        .resolve(&req.model)
        .map_err(|e| GatewayError::ModelNotFound(e.to_string()))?;
    check_capabilities(&st.catalog, model, &req)?;
    let provider =
        st.providers
            .get(&model.provider)
            .ok_or_else(|| GatewayError::ProviderNotConfigured {
                provider: model.provider.clone(),
                hint: "it has no runtime entry".into(),
            })?;
    if !provider.usable() {
        return Err(GatewayError::ProviderNotConfigured {
            provider: provider.id.clone(),
            hint: provider.unusable_hint.clone(),
        });
    }
    let region = provider
        .regions
        .first()
        .ok_or_else(|| GatewayError::ProviderNotConfigured {
            provider: provider.id.clone(),
            hint: "it has no regions".into(),
        })?;
    if let Some(cap) = req.completion_cap()
        && cap > model.max_output
    {
        return Err(GatewayError::InvalidValue {
            param: "max_tokens".into(),
            message: format!(
                "max_tokens {cap} exceeds the maximum output of '{}' ({} tokens)",
                model.id, model.max_output
            ),
        });
    }

    restore_reasoning(&st, &mut req);
    let ctx = RequestCtx {
        st: st.clone(),
        request_id: request_id(headers),
        model_id: model.id.clone(),
        provider: provider.id.clone(),
        region: region.name.clone(),
        started,
        prompt_estimate: tokens::estimate_prompt(&req),
    };
    let stream = req.is_stream();
    let wants_usage = req.wants_stream_usage();
    // Stream-only models: stream from the vendor, answer the client in one piece.
    let assemble = !stream
        && provider
            .dialect
            .requires_stream(&model.upstream_id, req.thinking_disabled());
    if assemble {
        req.stream = Some(true);
    }
    let mut adjustments = provider.dialect.prepare(&mut req, &model.upstream_id);
    if assemble {
        adjustments.push(switchyard_wire::Adjustment {
            field: "stream",
            note: format!(
                "{} answers only as a stream; streamed and assembled",
                model.upstream_id
            ),
        });
    }
    for a in &adjustments {
        tracing::debug!(request_id = %ctx.request_id, field = a.field, note = %a.note, "request adjusted for vendor");
    }
    let body = serde_json::to_vec(&req).map_err(|e| GatewayError::InvalidJson(e.to_string()))?;
    drop(req);

    // From here on, the request is the vendor's: if the client leaves, record what we know.
    let mut guard = AbandonGuard { ctx: Some(ctx) };
    let timeout = Duration::from_secs(st.config.server.request_timeout_secs);
    let upstream = send_upstream(&st, provider, region, body, stream || assemble, timeout).await;
    let ctx = guard
        .ctx
        .as_ref()
        .ok_or(GatewayError::Internal("request context already taken"))?;
    let upstream = match upstream {
        Ok(r) => r,
        Err(error) => {
            let err = GatewayError::Upstream {
                provider: provider.id.clone(),
                error,
            };
            ctx.count(err.status());
            guard.disarm();
            return Err(err);
        }
    };
    let upstream_request_id = upstream
        .headers()
        .get(provider.dialect.request_id_header())
        .cloned();
    let mut extra_headers = vec![
        (
            HeaderName::from_static("x-request-id"),
            header_value(&ctx.request_id),
        ),
        (
            HeaderName::from_static("x-switchyard-model"),
            header_value(&ctx.model_id),
        ),
        (
            HeaderName::from_static("x-switchyard-provider"),
            header_value(&ctx.provider),
        ),
        (
            HeaderName::from_static("x-switchyard-region"),
            header_value(&ctx.region),
        ),
    ];
    if let Some(v) = upstream_request_id {
        extra_headers.push((HeaderName::from_static("x-upstream-request-id"), v));
    }
    if !adjustments.is_empty() {
        let text: Vec<String> = adjustments
            .iter()
            .map(|a| format!("{}: {}", a.field, a.note))
            .collect();
        extra_headers.push((
            HeaderName::from_static("x-switchyard-adjusted"),
            header_value(&text.join("; ")),
        ));
    }

    let mut resp = if stream {
        ctx.count(StatusCode::OK);
        let ctx = guard
            .take()
            .ok_or(GatewayError::Internal("request context already taken"))?;
        let idle = Duration::from_secs(st.config.server.stream_idle_timeout_secs);
        let relay = Relay::new(
            ctx,
            provider.dialect,
            upstream,
            wants_usage,
            idle,
            timeout,
            inflight,
        );
        let mut resp = Response::new(Body::from_stream(relay.into_stream()));
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert("x-accel-buffering", HeaderValue::from_static("no"));
        resp
    } else {
        let out = complete(ctx, provider, upstream, timeout, assemble).await;
        let ctx = guard
            .take()
            .ok_or(GatewayError::Internal("request context already taken"))?;
        match out {
            Ok((body, usage, estimated)) => {
                ctx.count(StatusCode::OK);
                ctx.record(usage, estimated, Outcome::Completed);
                json_response(StatusCode::OK, body)
            }
            Err(error) => {
                let err = GatewayError::Upstream {
                    provider: provider.id.clone(),
                    error,
                };
                ctx.count(err.status());
                return Err(err);
            }
        }
    };
    resp.headers_mut().extend(extra_headers);
    Ok(resp)
}

/// Records estimated usage if the request future is dropped (client gone) while the
/// upstream call is in flight.
struct AbandonGuard {
    ctx: Option<RequestCtx>,
}

impl AbandonGuard {
    fn take(&mut self) -> Option<RequestCtx> {
        self.ctx.take()
    }

    fn disarm(&mut self) {
        self.ctx = None;
    }
}

impl Drop for AbandonGuard {
    fn drop(&mut self) {
        if let Some(ctx) = self.ctx.take() {
            counter!("switchyard_client_disconnects_total", "model" => ctx.model_id.clone(), "provider" => ctx.provider.clone())
                .increment(1);
            ctx.count(StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST));
            let usage = TokenUsage {
                prompt: ctx.prompt_estimate,
                ..TokenUsage::default()
            };
            ctx.record(usage, true, Outcome::ClientDisconnected);
        }
    }
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| {
        let ascii: String = s
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        HeaderValue::from_str(&ascii).unwrap_or(HeaderValue::from_static("-"))
    })
}

fn check_content_type(headers: &HeaderMap) -> Result<(), GatewayError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim();
    if mime.eq_ignore_ascii_case("application/json") || mime.to_ascii_lowercase().ends_with("+json")
    {
        Ok(())
    } else {
        Err(GatewayError::UnsupportedMediaType(if ct.is_empty() {
            "(none)".into()
        } else {
            ct.into()
        }))
    }
}

async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, GatewayError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(GatewayError::TooLarge { limit });
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::iter::successors(Some(&e as &dyn std::error::Error), |e| e.source())
            .any(|e| e.to_string().contains("length limit exceeded"));
        if too_large {
            GatewayError::TooLarge { limit }
        } else {
            GatewayError::InvalidJson(format!("could not read the request body: {e}"))
        }
    })
}

/// Parse the body into a typed request; errors say which field is wrong and why.
pub fn parse_request(bytes: &[u8]) -> Result<ChatRequest, GatewayError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let req: ChatRequest = match serde_path_to_error::deserialize(&mut *de) {
        Ok(r) => r,
        Err(e) => {
            // Syntax errors first: with flattened fields, a truncated body can surface as
            // "missing field" before the parser reaches its end.
            serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
                .map_err(|e| GatewayError::InvalidJson(e.to_string()))?;
            let path = e.path().to_string();
            let inner = e.into_inner();
            return Err(match inner.classify() {
                serde_json::error::Category::Data => data_error(&path, &inner.to_string(), bytes),
                _ => GatewayError::InvalidJson(inner.to_string()),
            });
        }
    };
    de.end()
        .map_err(|e| GatewayError::InvalidJson(e.to_string()))?;
    Ok(req)
}

fn data_error(path: &str, message: &str, bytes: &[u8]) -> GatewayError {
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(message)
        .to_string();
    let prefix = if path == "." {
        String::new()
    } else {
        format!("{path}.")
    };
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|m| m.split('`').next())
    {
        return GatewayError::MissingParameter(format!("{prefix}{field}"));
    }
    if path == "." {
        let kind = serde_json::from_slice::<Value>(bytes)
            .map(|v| json_kind(&v))
            .unwrap_or("value");
        return GatewayError::InvalidType {
            path: "body".into(),
            message: format!("the request body must be a JSON object, got {kind}"),
        };
    }
    GatewayError::InvalidType {
        path: path.to_string(),
        message,
    }
}

fn validate(req: &ChatRequest) -> Result<(), GatewayError> {
    let invalid = |param: &str, message: String| GatewayError::InvalidValue {
        param: param.into(),
        message,
    };
    if req.model.trim().is_empty() {
        return Err(GatewayError::MissingParameter("model".into()));
    }
    if req.messages.is_empty() {
        return Err(invalid(
            "messages",
            "messages must contain at least one message".into(),
        ));
    }
    if let Some(n) = req.n
        && !(1..=16).contains(&n)
    {
        return Err(invalid("n", format!("n must be between 1 and 16, got {n}")));
    }
    if req.completion_cap() == Some(0) {
        return Err(invalid(
            "max_tokens",
            "max_tokens must be at least 1".into(),
        ));
    }
    if let Some(t) = req.temperature
        && !(0.0..=2.0).contains(&t)
    {
        return Err(invalid(
            "temperature",
            format!("temperature must be between 0 and 2, got {t}"),
        ));
    }
    if let Some(p) = req.top_p
        && !(0.0..=1.0).contains(&p)
    {
        return Err(invalid(
            "top_p",
            format!("top_p must be between 0 and 1, got {p}"),
        ));
    }
    for (i, m) in req.messages.iter().enumerate() {
        if m.role == Role::Tool && m.tool_call_id.is_none() {
            return Err(GatewayError::MissingParameter(format!(
                "messages[{i}].tool_call_id"
            )));
        }
        if matches!(m.role, Role::User | Role::System | Role::Developer) && m.content.is_none() {
            return Err(GatewayError::MissingParameter(format!(
                "messages[{i}].content"
            )));
        }
    }
    Ok(())
}

fn check_capabilities(
    catalog: &Catalog,
    model: &Model,
    req: &ChatRequest,
) -> Result<(), GatewayError> {
    let need = [
        (req.has_images(), Capability::Vision, "image input"),
        (req.has_audio(), Capability::Audio, "audio input"),
        (req.has_tools(), Capability::Tools, "tool calls"),
    ];
    for (needed, cap, what) in need {
        if needed && !model.supports(cap) {
            let able: Vec<&str> = catalog
                .models()
                .iter()
                .filter(|m| m.supports(cap))
                .map(|m| m.id.as_str())
                .take(6)
                .collect();
            return Err(GatewayError::UnsupportedCapability {
                model: model.id.clone(),
                capability: what,
                hint: format!("models that do: {}", able.join(", ")),
            });
        }
    }
    Ok(())
}

/// Put back reasoning the client dropped from assistant tool-call turns.
fn restore_reasoning(st: &AppState, req: &mut ChatRequest) {
    for m in &mut req.messages {
        if m.role != Role::Assistant || m.reasoning_content.is_some() {
            continue;
        }
        let first_id = m
            .tool_calls
            .as_ref()
            .and_then(|c| c.first())
            .and_then(|c| c.id.as_deref());
        if let Some(r) = first_id.and_then(|id| st.reasoning.get(id)) {
            m.reasoning_content = Some(r.to_string());
        }
    }
}

async fn send_upstream(
    st: &AppState,
    provider: &ProviderRuntime,
    region: &RegionRuntime,
    body: Vec<u8>,
    stream: bool,
    timeout: Duration,
) -> Result<reqwest::Response, UpstreamError> {
    let mut rb = st
        .client
        .post(&region.chat_url)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body);
    if let Some(auth) = &provider.auth {
        rb = rb.header(header::AUTHORIZATION, auth.clone());
    }
    if stream {
        rb = rb.header(header::ACCEPT, "text/event-stream");
    }
    let resp = match tokio::time::timeout(timeout, rb.send()).await {
        Err(_) => {
            return Err(UpstreamError::transport(
                ErrorKind::Timeout,
                format!(
                    "no response from {} within {}s",
                    region.name,
                    timeout.as_secs()
                ),
            ));
        }
        Ok(Err(e)) => return Err(transport_error(&e, region)),
        Ok(Ok(r)) => r,
    };
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let req_id = resp
        .headers()
        .get(provider.dialect.request_id_header())
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = match tokio::time::timeout(Duration::from_secs(10), resp.bytes()).await {
        Ok(Ok(b)) => b,
        _ => Bytes::new(),
    };
    let body = &body[..body.len().min(64 * 1024)];
    Err(provider
        .dialect
        .parse_error(status.as_u16(), body, req_id.as_deref()))
}

fn transport_error(e: &reqwest::Error, region: &RegionRuntime) -> UpstreamError {
    let mut detail = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        src = s.source();
    }
    if e.is_connect() {
        UpstreamError::transport(
            ErrorKind::Unreachable,
            format!("cannot connect to region '{}': {detail}", region.name),
        )
    } else if e.is_timeout() {
        UpstreamError::transport(
            ErrorKind::Timeout,
            format!("region '{}' timed out: {detail}", region.name),
        )
    } else {
        UpstreamError::transport(
            ErrorKind::Unreachable,
            format!("region '{}' failed: {detail}", region.name),
        )
    }
}

/// Non-streaming: read the whole answer, normalise usage, name the model canonically.
async fn complete(
    ctx: &RequestCtx,
    provider: &ProviderRuntime,
    upstream: reqwest::Response,
    timeout: Duration,
    assemble: bool,
) -> Result<(Bytes, TokenUsage, bool), UpstreamError> {
    let remaining = timeout.saturating_sub(ctx.started.elapsed());
    let bytes = match tokio::time::timeout(remaining, upstream.bytes()).await {
        Err(_) => {
            return Err(UpstreamError::transport(
                ErrorKind::Timeout,
                "upstream did not finish in time",
            ));
        }
        Ok(Err(e)) => {
            return Err(UpstreamError::transport(
                ErrorKind::BadResponse,
                format!("reading the response failed: {e}"),
            ));
        }
        Ok(Ok(b)) => b,
    };
    let parsed = if assemble {
        assemble_stream(provider, &bytes)
    } else {
        serde_json::from_slice::<ChatCompletion>(&bytes).map_err(|e| {
            UpstreamError::transport(
                ErrorKind::BadResponse,
                format!("the vendor's answer is not a chat completion ({e})"),
            )
        })
    };
    let mut completion = parsed.inspect_err(|e| {
        if e.kind == ErrorKind::BadResponse {
            counter!("switchyard_upstream_garbage_total", "provider" => provider.id.clone())
                .increment(1);
        }
    })?;
    let usage = normalize_completion(&mut completion);
    completion.model.clone_from(&ctx.model_id);
    for choice in &completion.choices {
        let msg = &choice.message;
        if let (Some(calls), Some(r)) = (&msg.tool_calls, &msg.reasoning_content) {
            ctx.st
                .reasoning
                .insert(calls.iter().filter_map(|c| c.id.as_deref()), r);
        }
    }
    let (usage, estimated) = match usage {
        Some(u) => (u, false),
        None => {
            let completion_tokens = completion
                .choices
                .iter()
                .map(|c| {
                    tokens::estimate_message(&c.message)
                        .saturating_sub(tokens::PER_MESSAGE_OVERHEAD)
                })
                .sum();
            let u = TokenUsage {
                prompt: ctx.prompt_estimate,
                completion: completion_tokens,
                ..TokenUsage::default()
            };
            completion.usage = Some(u.to_wire());
            (u, true)
        }
    };
    let body = serde_json::to_vec(&completion)
        .map_err(|e| UpstreamError::transport(ErrorKind::BadResponse, e.to_string()))?;
    Ok((Bytes::from(body), usage, estimated))
}

/// Fold a whole SSE body from a stream-only model into one completion.
fn assemble_stream(
    provider: &ProviderRuntime,
    bytes: &[u8],
) -> Result<ChatCompletion, UpstreamError> {
    let mut parser = SseParser::new();
    parser.push(bytes);
    let mut agg = StreamAggregator::new();
    let events = std::iter::from_fn(|| parser.next_event()).collect::<Vec<_>>();
    for ev in events.into_iter().chain(parser.finish()) {
        let SseEvent::Data { data, event } = ev else {
            continue;
        };
        if data.trim() == "[DONE]" {
            break;
        }
        match serde_json::from_str::<ChatChunk>(&data) {
            Ok(chunk)
                if event.as_deref() != Some("error") && !chunk.extra.contains_key("error") =>
            {
                agg.push(chunk)
            }
            _ if event.as_deref() == Some("error") || data.contains("\"error\"") => {
                return Err(provider.dialect.parse_error(500, data.as_bytes(), None));
            }
            Ok(_) | Err(_) => {}
        }
    }
    if !agg.finished() {
        return Err(UpstreamError::transport(
            ErrorKind::BadResponse,
            "the vendor's stream ended before the answer was finished",
        ));
    }
    Ok(agg.finish())
}

/// Whether a message has any content parts (used by tests of the parser).
pub fn has_parts(req: &ChatRequest) -> bool {
    req.messages
        .iter()
        .any(|m| matches!(m.content, Some(Content::Parts(_))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ChatRequest, GatewayError> {
        parse_request(s.as_bytes())
    }

    #[test]
    fn syntax_error_is_invalid_json() {
        assert_eq!(parse("{\"model\": ").unwrap_err().label(), "invalid_json");
        assert_eq!(parse("{} trailing").unwrap_err().label(), "invalid_json");
    }

    #[test]
    fn missing_model_is_missing_parameter() {
        let e = parse(r#"{"messages": []}"#).unwrap_err();
        assert_eq!(e.label(), "missing_required_parameter");
        assert!(e.to_string().contains("model"));
    }

    #[test]
    fn wrong_type_names_the_field() {
        let e = parse(r#"{"model": "m", "messages": [], "max_tokens": "ten"}"#).unwrap_err();
        assert_eq!(e.label(), "invalid_type");
        assert!(e.to_string().contains("max_tokens"), "{e}");
        let e = parse(r#"{"model": "m", "messages": "hi"}"#).unwrap_err();
        assert!(e.to_string().contains("messages"), "{e}");
    }

    #[test]
    fn non_object_body_says_so() {
        let e = parse("[1]").unwrap_err();
        assert!(e.to_string().contains("JSON object, got array"), "{e}");
    }

    #[test]
    fn empty_messages_are_invalid_value() {
        let r = parse(r#"{"model": "m", "messages": []}"#).unwrap();
        assert_eq!(validate(&r).unwrap_err().label(), "invalid_value");
    }

    #[test]
    fn tool_message_needs_its_call_id() {
        let r = parse(r#"{"model": "m", "messages": [{"role": "tool", "content": "x"}]}"#).unwrap();
        assert!(
            validate(&r)
                .unwrap_err()
                .to_string()
                .contains("tool_call_id")
        );
    }

    #[test]
    fn content_type_with_charset_is_accepted() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert!(check_content_type(&h).is_ok());
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert_eq!(
            check_content_type(&h).unwrap_err().label(),
            "unsupported_media_type"
        );
    }
}
