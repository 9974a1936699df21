//! The chat pipeline, `POST /v1/chat/completions`: read body (size-limited) → parse into
//! a typed [`ChatRequest`] (errors name the field) → validate → resolve the model in the
//! catalog → check capabilities → pick the provider and region → restore reasoning the
//! vendor needs → [`switchyard_wire::Dialect::prepare`] → upstream call → normalise the
//! answer (whole, in [`crate::upstream`], or chunk by chunk in [`crate::relay`]) → usage
//! recorded, however the request ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics::counter;
use switchyard_catalog::Model;
use switchyard_wire::{
    Adjustment, ChatRequest, ErrorKind, Role, TokenUsage, UpstreamError, tokens,
};

use crate::error::GatewayError;
use crate::intake::{check_capabilities, check_content_type, parse_request, read_body, validate};
use crate::relay::{Failover, Relay, Timing};
use crate::routes::{count_error, json_response};
use crate::state::{AppState, ProviderRuntime};
use crate::upstream::{complete, send_upstream};
use crate::usage::{self, Outcome, UsageRecord};

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

pub(crate) async fn chat(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let inflight = Inflight::enter(&st.inflight);
    match chat_inner(st, &headers, body, inflight).await {
        Ok(resp) => resp,
        Err(e) => {
            count_error(e.label());
            e.into_response()
        }
    }
}

/// One model the request may be served by: its provider and the request rewritten for
/// that provider's dialect.
struct Target<'a> {
    provider: &'a ProviderRuntime,
    body: Bytes,
    adjustments: Vec<Adjustment>,
    assemble: bool,
}

/// Check that `model` can take `req`, and prepare the request for its provider.
fn plan_target<'a>(
    st: &'a AppState,
    model: &'a Model,
    mut req: ChatRequest,
) -> Result<Target<'a>, GatewayError> {
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
    if provider.regions.is_empty() {
        return Err(GatewayError::ProviderNotConfigured {
            provider: provider.id.clone(),
            hint: "it has no regions".into(),
        });
    }
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
    let mut adjustments = provider.dialect.prepare(&mut req, &model.upstream_id);
    if assemble {
        adjustments.push(Adjustment {
            field: "stream",
            note: format!(
                "{} answers only as a stream; streamed and assembled",
                model.upstream_id
            ),
        });
    }
    let body = Bytes::from(
        serde_json::to_vec(&req).map_err(|e| GatewayError::InvalidJson(e.to_string()))?,
    );
    Ok(Target {
        provider,
        body,
        adjustments,
        assemble,
    })
}

/// What trying a target's regions produced: the outcome, the region order tried and the
/// position in it of the region that answered (or failed last).
type Tried = (
    Result<(Answer, Option<HeaderValue>), UpstreamError>,
    Vec<usize>,
    usize,
);

/// Try `t`'s regions in preference order: a retryable failure before any answer
/// (connect error, 5xx, overload, rate limit, time-out, a body cut off) moves on to the
/// next region, while the retry budget lasts.
async fn try_regions(
    st: &AppState,
    guard: &mut AbandonGuard,
    t: &Target<'_>,
    stream: bool,
    timeout: Duration,
    started: Instant,
    attempts: &mut u32,
) -> Result<Tried, GatewayError> {
    let provider = t.provider;
    let mut outcome = Err(UpstreamError::transport(
        ErrorKind::Unreachable,
        "no region was tried",
    ));
    // Healthy regions first, in configured order; regions whose breaker is open come
    // last, as a last resort.
    let (healthy, tripped): (Vec<usize>, Vec<usize>) = (0..provider.regions.len())
        .partition(|&i| st.health.preferred(&provider.id, &provider.regions[i].name));
    let order: Vec<usize> = healthy.into_iter().chain(tripped).collect();
    let mut served = 0;
    for (n, &i) in order.iter().enumerate() {
        let region = &provider.regions[i];
        if n > 0 && !st.retry_budget.withdraw() {
            tracing::warn!(provider = %provider.id, "retry budget spent; not trying another region");
            break;
        }
        *attempts += 1;
        served = n;
        let remaining = timeout.saturating_sub(started.elapsed());
        st.health.attempt(&provider.id, &region.name);
        if let Some(ctx) = guard.ctx.as_mut() {
            ctx.region.clone_from(&region.name);
        }
        // A whole answer is read inside the attempt: nothing has reached the client yet,
        // so a body cut off half-way is as retryable as a refused connection.
        outcome = match send_upstream(
            st,
            provider,
            region,
            t.body.clone(),
            stream || t.assemble,
            remaining,
        )
        .await
        {
            Ok(resp) => {
                let request_id = resp
                    .headers()
                    .get(provider.dialect.request_id_header())
                    .cloned();
                if stream {
                    Ok((Answer::Stream(resp), request_id))
                } else {
                    let ctx = guard
                        .ctx
                        .as_ref()
                        .ok_or(GatewayError::Internal("request context already taken"))?;
                    complete(ctx, provider, resp, timeout, t.assemble)
                        .await
                        .map(|(body, usage, estimated)| {
                            (
                                Answer::Whole {
                                    body,
                                    usage,
                                    estimated,
                                },
                                request_id,
                            )
                        })
                }
            }
            Err(e) => Err(e),
        };
        match &outcome {
            Ok(_) => {
                // A stream proves the region healthy only with its first token (the relay
                // reports it); a whole answer already has.
                if !stream {
                    st.health.success(&provider.id, &region.name);
                }
                break;
            }
            Err(e) if e.kind.retryable() => {
                st.health.failure(&provider.id, &region.name);
                if remaining == Duration::ZERO {
                    break;
                }
                counter!("switchyard_failovers_total", "provider" => provider.id.clone(), "from_region" => region.name.clone(),
                    "kind" => e.kind.default_code())
                .increment(1);
                tracing::warn!(provider = %provider.id, region = %region.name, error = %e.message, "upstream failed; trying the next region");
            }
            Err(_) => break,
        }
    }
    Ok((outcome, order, served))
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
    let primary = st
        .catalog
        .resolve(&req.model)
        .map_err(|e| GatewayError::ModelNotFound(e.to_string()))?;
    restore_reasoning(&st, &mut req);
    let stream = req.is_stream();
    let wants_usage = req.wants_stream_usage();
    let prompt_estimate = tokens::estimate_prompt(&req);
    let fallbacks = st.fallbacks.get(&primary.id).map_or(&[][..], Vec::as_slice);
    // The client's request, kept only when a fallback model may need it re-prepared.
    let original = (!fallbacks.is_empty()).then(|| req.clone());
    let mut target = plan_target(&st, primary, req)?;
    let ctx = RequestCtx {
        st: st.clone(),
        request_id: request_id(headers),
        model_id: primary.id.clone(),
        provider: target.provider.id.clone(),
        region: String::new(),
        started,
        prompt_estimate,
    };
    for a in &target.adjustments {
        tracing::debug!(request_id = %ctx.request_id, field = a.field, note = %a.note, "request adjusted for vendor");
    }

    // From here on, the request is the vendor's: if the client leaves, record what we know.
    let mut guard = AbandonGuard { ctx: Some(ctx) };
    let timeout = limit(
        headers,
        "x-switchyard-timeout",
        st.config.server.request_timeout_secs,
    )?;
    let ttft_timeout = limit(
        headers,
        "x-switchyard-ttft-timeout",
        st.config.server.ttft_timeout_secs,
    )?;
    let mut attempts = 0u32;
    let (mut outcome, mut order, mut served) = try_regions(
        &st,
        &mut guard,
        &target,
        stream,
        timeout,
        started,
        &mut attempts,
    )
    .await?;
    // Every region failed in a way another model might not: try the configured fallbacks.
    let mut fell_back_from = None;
    for name in fallbacks {
        let (Err(e), Some(orig)) = (&outcome, &original) else {
            break;
        };
        if !e.kind.retryable() || !st.retry_budget.withdraw() {
            break;
        }
        let Some(model) = st.catalog.get(name) else {
            continue;
        };
        let Ok(t) = plan_target(&st, model, orig.clone()) else {
            continue;
        };
        counter!("switchyard_fallbacks_total", "from" => primary.id.clone(), "to" => model.id.clone()).increment(1);
        tracing::warn!(from = %primary.id, to = %model.id, "every region failed; trying a fallback model");
        if let Some(ctx) = guard.ctx.as_mut() {
            ctx.model_id.clone_from(&model.id);
            ctx.provider.clone_from(&t.provider.id);
        }
        (outcome, order, served) =
            try_regions(&st, &mut guard, &t, stream, timeout, started, &mut attempts).await?;
        target = t;
        fell_back_from = Some(primary.id.clone());
    }
    let provider = target.provider;
    let adjustments = &target.adjustments;
    let body = target.body.clone();
    let ctx = guard
        .ctx
        .as_ref()
        .ok_or(GatewayError::Internal("request context already taken"))?;
    let (answer, upstream_request_id) = match outcome {
        Ok(a) => a,
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
            HeaderName::from_static("x-switchyard-attempts"),
            HeaderValue::from(attempts),
        ),
    ];
    if let Some(v) = upstream_request_id {
        extra_headers.push((HeaderName::from_static("x-upstream-request-id"), v));
    }
    if let Some(from) = &fell_back_from {
        extra_headers.push((
            HeaderName::from_static("x-switchyard-fallback-from"),
            header_value(from),
        ));
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

    ctx.count(StatusCode::OK);
    let ctx = guard
        .take()
        .ok_or(GatewayError::Internal("request context already taken"))?;
    let mut resp = match answer {
        Answer::Stream(upstream) => {
            let failover = Failover {
                body,
                regions: order[served + 1..].to_vec(),
            };
            let timing = Timing {
                idle: Duration::from_secs(st.config.server.stream_idle_timeout_secs),
                total: timeout,
                ttft: ttft_timeout,
            };
            let relay = Relay::new(
                ctx,
                provider.dialect,
                upstream,
                wants_usage,
                timing,
                failover,
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
        }
        Answer::Whole {
            body,
            usage,
            estimated,
        } => {
            ctx.record(usage, estimated, Outcome::Completed);
            json_response(StatusCode::OK, body)
        }
    };
    resp.headers_mut().extend(extra_headers);
    Ok(resp)
}

/// A time limit: the configured one, or a shorter one the client asked for in `header`
/// (seconds, fractions allowed). A client cannot raise the configured limit.
fn limit(
    headers: &HeaderMap,
    header: &'static str,
    configured_secs: u64,
) -> Result<Duration, GatewayError> {
    let configured = Duration::from_secs(configured_secs);
    let Some(v) = headers.get(header) else {
        return Ok(configured);
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
    Ok(Duration::from_secs_f64(secs).min(configured))
}

/// What a successful attempt produced.
enum Answer {
    /// A stream to relay.
    Stream(reqwest::Response),
    /// A whole, normalised answer.
    Whole {
        /// The JSON body for the client.
        body: Bytes,
        /// Its usage.
        usage: TokenUsage,
        /// Whether the usage is our estimate.
        estimated: bool,
    },
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
