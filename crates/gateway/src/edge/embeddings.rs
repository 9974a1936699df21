//! `POST /v1/embeddings`: the catalog's embedding models (`type = "embedding"` in
//! `/v1/models`), with the chat path's keys, limits, budgets, deployments, breakers,
//! failover, cost and usage log.
//!
//! 1. intake: the caller's key, the body (size- and time-limited), a place under
//!    `[server] max_concurrency`, the request parsed and checked (texts, `dimensions`
//!    among the model's, each text within the model's window);
//! 2. admission: the key's model, rate limits and budget, the estimate reserved;
//! 3. dispatch: the texts cut into batches of the model's `max_batch`, up to
//!    [`PARALLEL_BATCHES`] at once; each batch tries the model's deployments in route
//!    order (breakers, home region first), moving on after a retryable failure;
//! 4. reply: the vectors in input order, as floats or (`encoding_format: "base64"`,
//!    which the openai SDKs ask for by default) base64 of little-endian `f32`s — the
//!    gateway asks vendors for floats and encodes them itself.
//!
//! Usage is the sum of the batches' vendor counts, recorded once under the endpoint
//! `embeddings`; a client that leaves first gets its estimate recorded.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use switchyard_catalog::Model;
use switchyard_wire::embeddings::{
    EmbeddingsRequest, EncodingFormat, UpstreamEmbeddings, client_body, upstream_body,
};
use switchyard_wire::{ErrorKind, TokenUsage, UpstreamError, tokens};

use super::messages::translate_error;
use crate::chat::abandon::AbandonGuard;
use crate::chat::admit::{Inflight, overloaded, reserve};
use crate::chat::intake::{parse_json, read_request};
use crate::chat::reply::{cost_header, header_value};
use crate::ctx::RequestCtx;
use crate::error::GatewayError;
use crate::plan::serving;
use crate::respond::{count_error, json_response, request_id};
use crate::routing::deployment::Deployment;
use crate::routing::route::Route;
use crate::state::AppState;
use crate::traceparent::TraceCtx;
use crate::trail::{Fate, Reason, Sent, Trail};
use crate::upstream::send::{Capped, Dest, MAX_ANSWER_BYTES, read_capped, send_upstream};
use crate::usage::{Endpoint, Outcome};

/// Batches of one request in flight at once.
const PARALLEL_BATCHES: usize = 4;

/// `POST /v1/embeddings`.
pub(crate) async fn handle(st: Arc<AppState>, headers: &HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let id = request_id(headers);
    let served = if Inflight::full(&st) {
        Err(overloaded(&st))
    } else {
        serve(&st, headers, body, &id, started).await
    };
    let mut resp = served.unwrap_or_else(|e| {
        count_error(e.label());
        e.into_response()
    });
    resp.headers_mut().insert("x-request-id", header_value(&id));
    resp
}

/// A request read and checked.
struct Asked {
    req: EmbeddingsRequest,
    /// Each text's token estimate.
    estimates: Vec<u64>,
}

async fn serve(
    st: &Arc<AppState>,
    headers: &HeaderMap,
    body: Body,
    request_id: &str,
    started: Instant,
) -> Result<Response, GatewayError> {
    let (caller, bytes) = read_request(st, headers, body).await?;
    let _inflight = Inflight::enter(st)?;
    let req: EmbeddingsRequest = parse_json(&bytes)?;
    drop(bytes);
    let model = st.catalog.resolve_embedding(&req.model)?;
    let asked = check(req, model)?;
    let prompt_estimate = asked.estimates.iter().sum::<u64>();
    let admission = match caller {
        Some(key) => {
            let max_nanos = st
                .routes
                .get(&model.id)
                .and_then(|r| r.max_cost_nanos(prompt_estimate, 0, false))
                .unwrap_or_else(|| model.price.max_cost_nanos(prompt_estimate, 0, false));
            Some(reserve(st, key, &model.id, prompt_estimate, max_nanos).await?)
        }
        None => None,
    };
    let (provider, route) = serving(st, model)?;
    st.retry_budget.deposit();
    let trace = TraceCtx::from_headers(headers, st.otel.is_some());
    let mut trail = Trail::new(request_id, &asked.req.model, started);
    trail.trace.clone_from(&trace);
    let ctx = RequestCtx {
        st: Arc::clone(st),
        request_id: request_id.to_string(),
        model_id: model.id.clone(),
        provider: provider.id.clone(),
        region: String::new(),
        deployment: String::new(),
        price: None,
        started,
        prompt_estimate,
        attempts: 0,
        ttft: None,
        admission,
        route: None,
        endpoint: Endpoint::Embeddings,
        conversation: None,
        trail: std::sync::Mutex::new(Some(trail)),
        trace_ctx: trace,
    };
    let mut guard = AbandonGuard::new(ctx);
    let call = Call {
        st,
        ctx: guard.ctx_mut()?,
        model,
        route,
        dimensions: asked.req.dimensions,
    };
    let answered = call.all(&asked).await;
    finish(guard, answered, &asked)
}

/// The request checked against `model`: its texts, `dimensions`, and each text's size.
fn check(req: EmbeddingsRequest, model: &Model) -> Result<Asked, GatewayError> {
    let spec = model.embedding.as_ref().ok_or(GatewayError::Internal(
        "an embedding model without its spec",
    ))?;
    let texts = req.texts().map_err(translate_error)?;
    if let Some(d) = req.dimensions
        && !spec.allows(d)
    {
        let mut sizes = spec.dimension_choices.clone();
        sizes.push(spec.dimensions);
        sizes.sort_unstable();
        let sizes: Vec<String> = sizes.iter().map(u32::to_string).collect();
        return Err(GatewayError::InvalidValue {
            param: "dimensions".into(),
            message: format!(
                "dimensions: {} gives vectors of {} dimensions (default {}), not {d}",
                model.id,
                sizes.join(", "),
                spec.dimensions
            ),
        });
    }
    let estimates: Vec<u64> = texts.iter().map(|t| tokens::estimate(t)).collect();
    let window = u64::from(model.context_window);
    if let Some((i, n)) = estimates.iter().enumerate().find(|(_, n)| **n > window) {
        return Err(GatewayError::InvalidValue {
            param: format!("input[{i}]"),
            message: format!(
                "input[{i}]: about {n} tokens, over {}'s {window} per input",
                model.id
            ),
        });
    }
    Ok(Asked { req, estimates })
}

/// One request's calls to the vendor.
struct Call<'a> {
    st: &'a AppState,
    ctx: &'a mut RequestCtx,
    model: &'a Model,
    route: &'a Route,
    dimensions: Option<u32>,
}

/// What the batches produced: the vectors in input order, the usage, the deployment
/// that answered last and the attempts made.
struct Answered {
    vectors: Vec<Vec<f32>>,
    usage: TokenUsage,
}

/// One batch answered: its vectors, its usage, who answered, after how many attempts.
type BatchResult = Result<(Vec<Vec<f32>>, TokenUsage, Arc<Deployment>, u32), UpstreamError>;

impl Call<'_> {
    /// Every batch, [`PARALLEL_BATCHES`] at a time; the first error ends the request.
    async fn all(self, asked: &Asked) -> Result<Answered, UpstreamError> {
        let max_batch = self
            .model
            .embedding
            .as_ref()
            .map_or(1, |e| usize::try_from(e.max_batch).unwrap_or(1).max(1));
        let texts: Vec<&str> = asked.req.texts().unwrap_or_default();
        let estimates = &asked.estimates;
        let ctx: &RequestCtx = self.ctx;
        let shared = Shared {
            st: self.st,
            ctx,
            model: self.model,
            route: self.route,
            dimensions: self.dimensions,
        };
        // Made before they are streamed: a closure inside the stream's type would have to
        // hold for every lifetime, which the batches' borrowed texts cannot.
        let mut batches = Vec::new();
        for (batch, est) in texts.chunks(max_batch).zip(estimates.chunks(max_batch)) {
            batches.push(shared.batch(batch, est.iter().sum()));
        }
        let results: Vec<BatchResult> = futures_util::stream::iter(batches)
            .buffered(PARALLEL_BATCHES)
            .collect()
            .await;
        let mut answered = Answered {
            vectors: Vec::with_capacity(texts.len()),
            usage: TokenUsage::default(),
        };
        let mut last = None;
        let mut attempts = 0u32;
        for r in results {
            let (vectors, usage, dep, tries) = r?;
            answered.vectors.extend(vectors);
            answered.usage.prompt = answered.usage.prompt.saturating_add(usage.prompt);
            attempts = attempts.saturating_add(tries);
            last = Some(dep);
        }
        self.ctx.attempts = attempts;
        if let Some(d) = last {
            self.ctx.serve_on(&d);
        }
        Ok(answered)
    }
}

/// What every batch of a request reads.
#[derive(Clone, Copy)]
struct Shared<'a> {
    st: &'a AppState,
    ctx: &'a RequestCtx,
    model: &'a Model,
    route: &'a Route,
    dimensions: Option<u32>,
}

impl Shared<'_> {
    /// One batch: the deployments in route order until one answers (a failure that is
    /// not retryable, or a spent retry budget, ends it).
    async fn batch(self, texts: &[&str], estimate: u64) -> BatchResult {
        let st = self.st;
        let order = self
            .route
            .order(|d| st.health.standing(&d.provider, &d.name));
        let mut last = UpstreamError::transport(ErrorKind::Unreachable, "no deployment was tried");
        let mut tries = 0u32;
        // The vendor of the attempt that failed last: a move to another one is free.
        let mut failed_vendor: Option<String> = None;
        for d in order {
            let from = failed_vendor.as_deref().unwrap_or(&d.provider);
            if tries > 0 && !st.retry_budget.may_move(from, &d.provider) {
                // No budget for another try at this vendor; one at another vendor is free.
                continue;
            }
            let Ok(permit) = d.try_acquire(estimate) else {
                continue;
            };
            let reason = if tries == 0 {
                Reason::First
            } else {
                Reason::Failover
            };
            tries = tries.saturating_add(1);
            let sent = Sent {
                at: Instant::now(),
                reason,
                span: self.ctx.trace_ctx.as_ref().and_then(TraceCtx::attempt_span),
            };
            let mut traced = None;
            self.ctx
                .trace(|t| traced = t.attempt(&d, &self.model.id, &sent));
            match self.attempt(&d, texts, &sent).await {
                Ok((vectors, usage)) => {
                    permit.set_used(usage.prompt);
                    st.health.success(&d.provider, &d.name);
                    self.ctx.trace(|t| t.end(traced, Fate::Answered, None));
                    return Ok((vectors, usage, d, tries));
                }
                Err(e) => {
                    self.ctx.trace(|t| t.fail(traced, &e));
                    if !e.kind.retryable() {
                        return Err(e);
                    }
                    st.health.failure(&d.provider, &d.name, &e.message);
                    failed_vendor = Some(d.provider.clone());
                    tracing::warn!(provider = %d.provider, deployment = %d.name, error = %e.message, "embeddings failed; trying the next deployment");
                    last = e;
                }
            }
        }
        Err(last)
    }

    /// One call to deployment `d`.
    async fn attempt(
        &self,
        d: &Deployment,
        texts: &[&str],
        sent: &Sent,
    ) -> Result<(Vec<Vec<f32>>, TokenUsage), UpstreamError> {
        let provider = self.st.providers.get(&d.provider);
        let place = provider.and_then(|p| Some((p, p.regions.get(d.region)?)));
        let (provider, region) = place.ok_or_else(|| {
            UpstreamError::transport(ErrorKind::Unreachable, "deployment has no region")
        })?;
        let body = upstream_body(&d.upstream_id, texts, self.dimensions);
        let body = Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
        self.st.health.attempt(&d.provider, &d.name);
        let trace = self
            .ctx
            .trace_ctx
            .as_ref()
            .and_then(|c| c.upstream_headers(sent.span));
        let timeout = self
            .route
            .timeouts
            .request
            .saturating_sub(self.ctx.started.elapsed());
        let to = Dest::embeddings(provider, region);
        let resp = send_upstream(&self.st.client, to, body, false, timeout, trace.as_ref()).await?;
        let bad = |why: String| UpstreamError::transport(ErrorKind::BadResponse, why);
        let bytes = match tokio::time::timeout(timeout, read_capped(resp, MAX_ANSWER_BYTES)).await {
            Ok(Ok(Capped::Whole(b))) => b,
            Ok(Ok(Capped::Truncated(_))) => {
                return Err(bad(format!(
                    "the embeddings answer passed {MAX_ANSWER_BYTES} bytes"
                )));
            }
            Ok(Err(e)) => return Err(bad(format!("the answer broke off: {e}"))),
            Err(_) => {
                return Err(UpstreamError::transport(
                    ErrorKind::Timeout,
                    "the embeddings answer did not arrive in time",
                ));
            }
        };
        let answer: UpstreamEmbeddings = serde_json::from_slice(&bytes)
            .map_err(|e| bad(format!("the embeddings answer is not readable: {e}")))?;
        let usage = answer
            .usage
            .as_ref()
            .map(|u| u.normalize())
            .unwrap_or_default();
        let vectors = answer.into_vectors(texts.len()).map_err(bad)?;
        Ok((
            vectors,
            TokenUsage {
                completion: 0,
                reasoning: 0,
                ..usage
            },
        ))
    }
}

/// The answer (usage recorded), or the failure (recorded, and returned).
fn finish(
    mut guard: AbandonGuard,
    answered: Result<Answered, UpstreamError>,
    asked: &Asked,
) -> Result<Response, GatewayError> {
    let ctx = guard
        .take()
        .ok_or(GatewayError::Internal("request context already taken"))?;
    let answered = match answered {
        Ok(a) => a,
        Err(error) => {
            let err = GatewayError::Upstream {
                provider: ctx.provider.clone(),
                error,
            };
            ctx.count(err.status());
            ctx.record_failure(err.status(), &err.to_string());
            return Err(err);
        }
    };
    // A vendor that sent no usage: our estimate, labelled as such.
    let estimated = answered.usage.prompt == 0;
    let usage = if estimated {
        TokenUsage {
            prompt: ctx.prompt_estimate,
            ..TokenUsage::default()
        }
    } else {
        answered.usage
    };
    ctx.count(StatusCode::OK);
    let nanos = ctx.record(usage, estimated, Outcome::Completed);
    let format = asked.req.encoding_format.unwrap_or(EncodingFormat::Float);
    let body = client_body(&ctx.model_id, &answered.vectors, format, usage.prompt);
    let mut resp = json_response(StatusCode::OK, Bytes::from(body.to_string()));
    let h = resp.headers_mut();
    for (name, v) in [
        ("x-switchyard-model", &ctx.model_id),
        ("x-switchyard-provider", &ctx.provider),
        ("x-switchyard-region", &ctx.region),
        ("x-switchyard-deployment", &ctx.deployment),
    ] {
        h.insert(HeaderName::from_static(name), header_value(v));
    }
    h.insert("x-switchyard-attempts", HeaderValue::from(ctx.attempts));
    h.insert("x-switchyard-cost-usd", cost_header(nanos));
    if let Some(a) = &ctx.admission {
        h.extend(a.headers.iter().cloned());
    }
    Ok(resp)
}
