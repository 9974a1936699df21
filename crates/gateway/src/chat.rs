//! The chat pipeline, `POST /v1/chat/completions`: read body (size-limited) → parse into
//! a typed [`ChatRequest`] (errors name the field) → validate → resolve the model in the
//! catalog → check capabilities → restore reasoning the vendor needs →
//! [`switchyard_wire::Dialect::prepare`] → deployments tried in the route's order, with
//! retries, hedging and fallback models ([`crate::dispatch`]) → normalise the answer
//! (whole, in [`crate::upstream`], or chunk by chunk in [`crate::relay`]) → usage
//! recorded, however the request ends. Past `[server] max_concurrency` a request is shed
//! at once with a 503.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use metrics::counter;
use switchyard_catalog::Model;
use switchyard_wire::replay::completion_to_chunks;
use switchyard_wire::{Adjustment, ChatCompletion, ChatRequest, TokenUsage, tokens};

use crate::deploy::{ClientLimits, Deadlines, Deployment};
use crate::dispatch::{Answer, Target, Won, try_deployments};
use crate::error::GatewayError;
use crate::intake::{check_capabilities, check_content_type, parse_request, read_body, validate};
use crate::keys::{Admission, Keyring};
use crate::reasoning::Conversation;
use crate::relay::{Attempt, Failover, Leg, PendingFallbacks, Relay};
use crate::routes::{count_error, json_response};
use crate::state::{AppState, Live};
use crate::usage::{self, Outcome, UsageRecord};
use crate::virtual_models::RequestMeta;

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
    /// Deployment that serves the request.
    pub deployment: String,
    /// Arrival time.
    pub started: Instant,
    /// Prompt tokens by our estimator (used when the vendor's figure never arrives).
    pub prompt_estimate: u64,
    /// Upstream attempts made so far.
    pub attempts: u32,
    /// Arrival to first token, once a stream has one.
    pub ttft: Option<Duration>,
    /// The caller's key and its reservations, when keys are on.
    pub admission: Option<Arc<Admission>>,
    /// How a virtual model routed the request (`x-switchyard-route`).
    pub route: Option<String>,
    /// The caller's conversation, for remembering the reasoning behind tool calls (only
    /// when the request offers tools).
    pub conversation: Option<Conversation>,
}

impl RequestCtx {
    /// Record usage for this request; returns its cost in nano-dollars.
    pub fn record(&self, usage: TokenUsage, estimated: bool, outcome: Outcome) -> u64 {
        let status = match outcome {
            Outcome::ClientDisconnected => 499,
            _ => 200,
        };
        self.record_in(
            (&self.region, &self.deployment),
            usage,
            estimated,
            outcome,
            status,
        )
    }

    /// Record a request that failed with `status` before any answer (no spend).
    pub fn record_failure(&self, status: StatusCode) {
        self.record_in(
            (&self.region, &self.deployment),
            TokenUsage::default(),
            false,
            Outcome::Failed,
            status.as_u16(),
        );
    }

    /// Record the estimated spend of an extra attempt of this request on deployment `d`
    /// (a cancelled hedge), apart from the request's own record.
    pub fn record_attempt(&self, d: &Deployment, usage: TokenUsage, outcome: Outcome) {
        self.record_in((&d.region_name, &d.name), usage, true, outcome, 499);
    }

    fn record_in(
        &self,
        (region, deployment): (&str, &str),
        usage: TokenUsage,
        estimated: bool,
        outcome: Outcome,
        status: u16,
    ) -> u64 {
        let Some(model) = self.st.catalog.get(&self.model_id) else {
            return 0;
        };
        let (usage, estimated) = match usage::implausible(usage, model, self.prompt_estimate) {
            Some(bounded) => {
                counter!("switchyard_upstream_usage_implausible_total", "provider" => self.provider.clone())
                    .increment(1);
                tracing::warn!(request_id = %self.request_id, provider = %self.provider,
                    prompt = usage.prompt, completion = usage.completion,
                    "the vendor reported usage no answer of this model can have; recorded an estimate instead");
                (bounded, true)
            }
            None => (usage, estimated),
        };
        let key = self.admission.as_ref().map(|a| &a.key.record);
        let nanos = usage::record(
            &UsageRecord {
                request_id: &self.request_id,
                model: &self.model_id,
                provider: &self.provider,
                region,
                deployment,
                attempts: self.attempts,
                ttft: self.ttft,
                status,
                key_id: key.map(|k| k.id.as_str()),
                team: key.and_then(|k| k.team.as_deref()),
                route: self.route.as_deref(),
                usage,
                estimated,
                outcome,
                price: &model.price,
                latency: self.started.elapsed(),
            },
            self.st.metrics.get(&self.model_id),
            self.st.usage.as_ref(),
        );
        if let Some(a) = &self.admission {
            if matches!(outcome, Outcome::HedgeCancelled | Outcome::Escalated) {
                a.add_spend(nanos);
            } else {
                a.settle(usage.total(), nanos);
            }
        }
        nanos
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

/// A request's place under `[server] max_concurrency`; keeps the in-flight gauge right
/// however the request ends.
struct Inflight(Arc<AppState>);

impl Inflight {
    /// Whether the gateway is full now (a cheap look, before reading a body).
    fn full(st: &AppState) -> bool {
        st.admitted.load(Ordering::Acquire) >= st.config.server.max_concurrency
    }

    /// Admit a request, or the 503 to answer when the gateway is full.
    fn enter(st: &Arc<AppState>) -> Result<Self, GatewayError> {
        let before = st.admitted.fetch_add(1, Ordering::AcqRel);
        if before >= st.config.server.max_concurrency {
            st.admitted.fetch_sub(1, Ordering::AcqRel);
            return Err(overloaded(st));
        }
        st.inflight.increment(1.0);
        Ok(Inflight(Arc::clone(st)))
    }
}

fn overloaded(st: &AppState) -> GatewayError {
    counter!("switchyard_shed_total", "reason" => "gateway_overloaded").increment(1);
    GatewayError::Overloaded {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code: "gateway_overloaded",
        message: format!(
            "the gateway is at its limit of {} requests in flight; retry shortly",
            st.config.server.max_concurrency
        ),
        retry_after_secs: 1,
    }
}

impl Drop for Inflight {
    fn drop(&mut self) {
        self.0.inflight.decrement(1.0);
        self.0.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

pub(crate) async fn chat(
    State(live): State<Arc<Live>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // The config in force when the request arrived serves it to the end, even if a
    // reload swaps in another meanwhile.
    let st = live.get();
    // Shed before reading the body: past the limit the answer is a fast 503, not a queue.
    // The place itself is taken only once the body is in, so that a client trickling
    // its body holds a connection, never one of the gateway's request places.
    if Inflight::full(&st) {
        let e = overloaded(&st);
        count_error(e.label());
        return e.into_response();
    }
    let meta = RequestMeta {
        headers: &headers,
        path: uri.path(),
    };
    match chat_inner(st, meta, body).await {
        Ok(resp) => resp,
        Err(e) => {
            count_error(e.label());
            e.into_response()
        }
    }
}

/// Check that `model` can take `req`, and prepare the request for its provider (one body
/// per distinct upstream id among its deployments).
fn plan_target<'a>(
    st: &'a AppState,
    model: &'a Model,
    mut req: ChatRequest,
    prompt_estimate: u64,
) -> Result<Target<'a>, GatewayError> {
    let reserve = prompt_estimate
        + req
            .completion_cap()
            .map_or(u64::from(model.max_output), u64::from);
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
    let route = st
        .routes
        .get(&model.id)
        .filter(|r| !r.deployments.is_empty())
        .ok_or_else(|| GatewayError::ProviderNotConfigured {
            provider: provider.id.clone(),
            hint: format!("model '{}' has no deployments", model.id),
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
    // Stream-only models: stream from the vendor, answer the client in one piece.
    let assemble = !req.is_stream()
        && provider
            .dialect
            .requires_stream(&model.upstream_id, req.thinking_disabled());
    if assemble {
        req.stream = Some(true);
    }
    let mut ids: Vec<&str> = Vec::with_capacity(1);
    for d in &route.deployments {
        if !ids.contains(&d.upstream_id.as_str()) {
            ids.push(&d.upstream_id);
        }
    }
    let first = ids.first().copied().unwrap_or(&model.upstream_id);
    let others: Vec<ChatRequest> = ids.iter().skip(1).map(|_| req.clone()).collect();
    let mut adjustments = provider.dialect.prepare(&mut req, first);
    if assemble {
        adjustments.push(Adjustment {
            field: "stream",
            note: format!(
                "{} answers only as a stream; streamed and assembled",
                model.upstream_id
            ),
        });
    }
    let serialize = |r: &ChatRequest| {
        serde_json::to_vec(r)
            .map(Bytes::from)
            .map_err(|e| GatewayError::InvalidJson(e.to_string()))
    };
    let mut bodies = vec![(first.to_string(), serialize(&req)?)];
    for (id, mut r) in ids.iter().skip(1).zip(others) {
        provider.dialect.prepare(&mut r, id);
        bodies.push(((*id).to_string(), serialize(&r)?));
    }
    Ok(Target {
        provider,
        route,
        bodies,
        adjustments,
        assemble,
        reserve,
    })
}

/// The time limits the client asked for (`x-switchyard-timeout`,
/// `x-switchyard-ttft-timeout`); a bad value is a 400 before anything is spent.
fn client_limits(headers: &HeaderMap) -> Result<ClientLimits, GatewayError> {
    Ok(ClientLimits {
        request: limit(headers, "x-switchyard-timeout")?,
        ttft: limit(headers, "x-switchyard-ttft-timeout")?,
    })
}

async fn chat_inner(
    st: Arc<AppState>,
    meta: RequestMeta<'_>,
    body: Body,
) -> Result<Response, GatewayError> {
    let started = Instant::now();
    let headers = meta.headers;
    // Who is calling, before anything else is read.
    let caller = match &st.keys {
        Some(ring) => Some(ring.identify(headers)?),
        None => None,
    };
    check_content_type(headers)?;
    let server = &st.config.server;
    let bytes = read_body(headers, body, server.max_body_bytes, server.body_timeout).await?;
    let inflight = Inflight::enter(&st)?;
    let mut req = parse_request(&bytes)?;
    drop(bytes);
    validate(&req)?;
    let client = client_limits(headers)?;
    let prompt_estimate = tokens::estimate_prompt(&req);
    // A virtual model picks the catalog model for this request; other names are resolved
    // in the catalog.
    let mut route_header = None;
    let virtual_model = st.virtual_models.get(&req.model.to_ascii_lowercase());
    // With escalation on, a whole answer may be asked again of a stronger tier.
    let escalation_copy = virtual_model
        .filter(|vm| vm.escalates(&req))
        .map(|_| req.clone());
    // A stream that may escalate is held: the first answer is read whole and checked.
    let held = escalation_copy.is_some() && req.is_stream();
    let primary = match virtual_model {
        Some(vm) => {
            let key = caller.as_ref().map(|k| &k.record);
            let routed = crate::virtual_models::route(&st, vm, &req, meta, prompt_estimate, key)?;
            route_header = Some(routed.header);
            st.catalog
                .get(&routed.model_id)
                .ok_or(GatewayError::Internal(
                    "routed to a model not in the catalog",
                ))?
        }
        None => st
            .catalog
            .resolve(&req.model)
            .map_err(|e| GatewayError::ModelNotFound(e.to_string()))?,
    };
    // Reasoning the client dropped from its tool-call turns, found only under its own key
    // and conversation.
    let conversation = {
        let owner = caller.as_ref().map_or("", |k| k.record.id.as_str());
        let has_calls = req.messages.iter().any(|m| m.tool_calls.is_some());
        let conv =
            (has_calls || req.has_tools()).then(|| st.reasoning.restore(owner, &mut req.messages));
        conv.filter(|_| req.has_tools())
    };
    let stream = req.is_stream();
    let wants_usage = req.wants_stream_usage();
    if held {
        req.stream = Some(false);
        req.stream_options = None;
        if let Some(r) = &mut route_header {
            r.push_str("; stream held for the escalation check");
        }
    }
    let fallbacks = st.fallbacks.get(&primary.id).map_or(&[][..], Vec::as_slice);
    // Model allowed, rate limits and budget, before any upstream spend.
    let admission = match caller {
        Some(key) => {
            let max_out = req
                .completion_cap()
                .map_or(u64::from(primary.max_output), u64::from);
            let tokens = prompt_estimate + max_out;
            let max_nanos = primary.price.cost_nanos(prompt_estimate, 0, max_out);
            let admitted = match &st.shared_limits {
                Some(shared) => shared.admit(key, &primary.id, tokens, max_nanos).await?,
                None => Keyring::admit(key, &primary.id, tokens, max_nanos)?,
            };
            Some(Arc::new(admitted))
        }
        None => None,
    };
    // The client's request, kept only when a fallback model may need it re-prepared.
    let original = (!fallbacks.is_empty()).then(|| req.clone());
    let mut target = plan_target(&st, primary, req, prompt_estimate)?;
    // Every request earns a share of a retry (and, where hedging is on, of a hedge).
    st.retry_budget.deposit();
    if let Some(h) = &target.route.hedge {
        h.deposit();
    }
    let ctx = RequestCtx {
        st: st.clone(),
        request_id: request_id(headers),
        model_id: primary.id.clone(),
        provider: target.provider.id.clone(),
        region: String::new(),
        deployment: String::new(),
        started,
        prompt_estimate,
        attempts: 0,
        ttft: None,
        admission,
        route: route_header.clone(),
        conversation,
    };
    for a in &target.adjustments {
        tracing::debug!(request_id = %ctx.request_id, field = a.field, note = %a.note, "request adjusted for vendor");
    }

    // From here on, the request is the vendor's: if the client leaves, record what we know.
    let mut guard = AbandonGuard { ctx: Some(ctx) };
    let mut limits = Deadlines::new(target.route.timeouts, client);
    let mut attempts = 0u32;
    let mut tried = {
        let ctx = guard.ctx_mut()?;
        try_deployments(&st, ctx, &target, stream && !held, limits, &mut attempts).await
    };
    // Every deployment failed in a way another model might not: try the fallbacks.
    let mut fell_back_from = None;
    let mut untried = fallbacks;
    for name in fallbacks {
        let (Err(e), Some(orig)) = (&tried.outcome, &original) else {
            break;
        };
        if !e.kind.retryable() || !st.retry_budget.withdraw() {
            break;
        }
        untried = &untried[1..];
        let Some(model) = st.catalog.get(name) else {
            continue;
        };
        if !may_use(&guard, &model.id) {
            continue;
        }
        let Ok(t) = plan_target(&st, model, orig.clone(), prompt_estimate) else {
            continue;
        };
        counter!("switchyard_fallbacks_total", "from" => primary.id.clone(), "to" => model.id.clone()).increment(1);
        tracing::warn!(from = %primary.id, to = %model.id, "every deployment failed; trying a fallback model");
        limits = Deadlines::new(t.route.timeouts, client);
        let ctx = guard.ctx_mut()?;
        ctx.model_id.clone_from(&model.id);
        ctx.provider.clone_from(&t.provider.id);
        tried = try_deployments(&st, ctx, &t, stream && !held, limits, &mut attempts).await;
        target = t;
        fell_back_from = Some(primary.id.clone());
    }
    // Escalation: a cheap tier's whole answer that fails a cheap check goes one tier up;
    // the first answer's cost is recorded apart.
    if let (Some(vm), Some(orig)) = (virtual_model, &escalation_copy)
        && let Ok(Won {
            answer:
                Answer::Whole {
                    body,
                    usage,
                    estimated,
                    ..
                },
            ..
        }) = &tried.outcome
        && let Some(why) = crate::virtual_models::needs_escalation(orig, body)
    {
        let (usage, estimated) = (*usage, *estimated);
        let ctx = guard.ctx_mut()?;
        let key = ctx.admission.as_ref().map(|a| a.key.record.clone());
        let from = ctx.model_id.clone();
        if let Some(next) =
            crate::virtual_models::next_tier(&st, vm, &from, orig, prompt_estimate, key.as_ref())
            && let Ok(t) = plan_target(&st, next, orig.clone(), prompt_estimate)
        {
            ctx.attempts = attempts;
            ctx.record(usage, estimated, Outcome::Escalated);
            counter!("switchyard_escalations_total", "from" => from.clone(), "to" => next.id.clone(), "reason" => why)
                .increment(1);
            ctx.model_id.clone_from(&next.id);
            ctx.provider.clone_from(&t.provider.id);
            if let Some(r) = &mut ctx.route {
                r.push_str(&format!("; escalated from {from} ({why})"));
            }
            route_header.clone_from(&ctx.route);
            limits = Deadlines::new(t.route.timeouts, client);
            // The stronger tier streams live; the cheap model's fallbacks are not its.
            tried = try_deployments(&st, ctx, &t, stream, limits, &mut attempts).await;
            target = t;
            untried = &[];
        }
    }
    let provider = target.provider;
    guard.ctx_mut()?.attempts = attempts;
    let ctx = guard
        .ctx
        .as_ref()
        .ok_or(GatewayError::Internal("request context already taken"))?;
    let won = match tried.outcome {
        Ok(w) => w,
        Err(error) => {
            let err = GatewayError::Upstream {
                provider: provider.id.clone(),
                error,
            };
            ctx.count(err.status());
            ctx.record_failure(err.status());
            guard.disarm();
            return Err(err);
        }
    };
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
        (
            HeaderName::from_static("x-switchyard-deployment"),
            header_value(&ctx.deployment),
        ),
        (
            HeaderName::from_static("x-switchyard-attempts"),
            HeaderValue::from(attempts),
        ),
    ];
    if let Some(a) = &ctx.admission {
        extra_headers.extend(a.headers.iter().cloned());
    }
    if let Some(r) = &route_header {
        extra_headers.push((
            HeaderName::from_static("x-switchyard-route"),
            header_value(r),
        ));
    }
    if let Some(v) = won.upstream_request_id {
        extra_headers.push((HeaderName::from_static("x-upstream-request-id"), v));
    }
    if let Some(from) = &fell_back_from {
        extra_headers.push((
            HeaderName::from_static("x-switchyard-fallback-from"),
            header_value(from),
        ));
    }
    if !target.adjustments.is_empty() {
        let text: Vec<String> = target
            .adjustments
            .iter()
            .map(|a| format!("{}: {}", a.field, a.note))
            .collect();
        extra_headers.push((
            HeaderName::from_static("x-switchyard-adjusted"),
            header_value(&text.join("; ")),
        ));
    }

    ctx.count(StatusCode::OK);
    let ctx = guard
        .take()
        .ok_or(GatewayError::Internal("request context already taken"))?;
    let mut resp = match won.answer {
        Answer::Stream(upstream) => {
            // Before its first token the stream may still move: to the model's other
            // deployments, then to the fallback models not tried yet (prepared only if
            // it comes to that).
            let mut legs = VecDeque::with_capacity(1);
            legs.push_back(Leg {
                model_id: ctx.model_id.clone(),
                provider: provider.id.clone(),
                dialect: provider.dialect,
                bodies: target.bodies.clone(),
                deployments: tried.rest.into(),
                reserve: target.reserve,
            });
            let pending =
                original
                    .filter(|_| !untried.is_empty())
                    .map(|request| PendingFallbacks {
                        models: untried.iter().cloned().collect(),
                        request,
                    });
            let failover = Failover { legs, pending };
            let attempt = Attempt {
                upstream,
                permit: won.permit,
                sent: won.sent,
            };
            let relay = Relay::new(
                ctx,
                provider.dialect,
                attempt,
                wants_usage,
                limits,
                failover,
                inflight,
            );
            sse_response(Body::from_stream(relay.into_stream()))
        }
        Answer::Whole {
            body,
            usage,
            estimated,
        } => {
            let nanos = ctx.record(usage, estimated, Outcome::Completed);
            let mut resp = if stream {
                // A held stream that passed its check (or had no tier above).
                sse_response(replay(&body, wants_usage, nanos)?)
            } else {
                json_response(StatusCode::OK, body)
            };
            resp.headers_mut()
                .insert("x-switchyard-cost-usd", cost_header(nanos));
            resp
        }
    };
    resp.headers_mut().extend(extra_headers);
    Ok(resp)
}

/// A `text/event-stream` response over `body`.
fn sse_response(body: impl Into<Body>) -> Response {
    let mut resp = Response::new(body.into());
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

/// A whole (normalised) answer as the SSE stream the client asked for, with the cost
/// comment before `[DONE]` as on a relayed stream.
fn replay(body: &[u8], include_usage: bool, nanos: u64) -> Result<Bytes, GatewayError> {
    let completion: ChatCompletion = serde_json::from_slice(body)
        .map_err(|_| GatewayError::Internal("a held answer is not a chat completion"))?;
    let mut out = Vec::with_capacity(body.len() + 512);
    for chunk in completion_to_chunks(&completion, include_usage) {
        out.extend_from_slice(b"data: ");
        serde_json::to_writer(&mut out, &chunk)
            .map_err(|_| GatewayError::Internal("a chunk could not be written"))?;
        out.extend_from_slice(b"\n\n");
    }
    out.extend_from_slice(crate::relay::cost_comment(nanos).as_bytes());
    out.extend_from_slice(b"data: [DONE]\n\n");
    Ok(Bytes::from(out))
}

/// A time limit the client asked for in `header` (seconds, fractions allowed); one
/// beyond what a `Duration` holds is no limit at all (the configured one applies).
fn limit(headers: &HeaderMap, header: &'static str) -> Result<Option<Duration>, GatewayError> {
    let Some(v) = headers.get(header) else {
        return Ok(None);
    };
    let secs = v
        .to_str()
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .ok_or_else(|| GatewayError::InvalidValue {
            param: header.into(),
            message: format!("{header} must be a positive number of seconds"),
        })?;
    Ok(Some(
        Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX),
    ))
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

    fn ctx_mut(&mut self) -> Result<&mut RequestCtx, GatewayError> {
        self.ctx
            .as_mut()
            .ok_or(GatewayError::Internal("request context already taken"))
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

/// Whether the caller's key (if any) may use `model`.
/// A stream's fallback leg to `name`: the model's deployments in order, with the request
/// prepared for its dialect; `None` if the caller's key may not use it or it cannot
/// take the request.
pub(crate) fn fallback_leg(
    st: &AppState,
    name: &str,
    request: &ChatRequest,
    prompt_estimate: u64,
    admission: Option<&Admission>,
) -> Option<Leg> {
    let model = st.catalog.get(name)?;
    if !admission.is_none_or(|a| a.key.record.may_use(&model.id)) {
        return None;
    }
    let t = plan_target(st, model, request.clone(), prompt_estimate).ok()?;
    Some(Leg {
        model_id: model.id.clone(),
        provider: t.provider.id.clone(),
        dialect: t.provider.dialect,
        deployments: t
            .route
            .order(|d| st.health.standing(&d.provider, &d.name))
            .into(),
        bodies: t.bodies,
        reserve: t.reserve,
    })
}

fn may_use(guard: &AbandonGuard, model: &str) -> bool {
    guard
        .ctx
        .as_ref()
        .and_then(|c| c.admission.as_ref())
        .is_none_or(|a| a.key.record.may_use(model))
}

/// Nano-dollars as a dollar amount with all nine decimals (`0.000012345`).
fn cost_header(nanos: u64) -> HeaderValue {
    let text = format!("{}.{:09}", nanos / 1_000_000_000, nanos % 1_000_000_000);
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("0"))
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
