//! `POST /v1/chat/completions`, as a list of stages, each a module:
//!
//! 1. [`intake`] — who is calling; the body read (size- and time-limited), parsed into
//!    a typed [`ChatRequest`] (errors name the field) and checked; a place under
//!    `[server] max_concurrency`;
//! 2. [`resolve`] — the catalog model: a virtual model's choice, or a catalog name;
//!    reasoning the vendor needs restored;
//! 3. [`admit`] — the caller's key: model allowed, rate limits, budget;
//! 4. plan — the request prepared for the model's vendor ([`crate::plan`]);
//! 5. dispatch — the model's deployments tried in order, with retries and hedges
//!    ([`crate::dispatch`]); then [`fallback`] models and [`escalate`]-ion;
//! 6. [`reply`] — the answer as JSON, a relayed stream ([`crate::relay`]) or a held
//!    stream replayed, with the `x-switchyard-*` headers.
//!
//! Usage is recorded however the request ends: by the answer, by the relay, or by the
//! [`abandon`] guard when the client leaves first. Past `[server] max_concurrency` a
//! request is shed at once with a 503, before its body is read.

pub(crate) mod abandon;
pub(crate) mod admit;
mod escalate;
mod fallback;
pub(crate) mod intake;
pub(crate) mod reply;
mod resolve;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use switchyard_wire::ChatRequest;

use self::abandon::AbandonGuard;
use self::admit::Inflight;
use self::intake::Intake;
use self::reply::{Served, Wants};
use crate::ctx::RequestCtx;
use crate::dispatch::{Sending, Tried, try_deployments};
use crate::error::GatewayError;
use crate::plan::{Target, plan_target};
use crate::respond::count_error;
use crate::routing::deadlines::{ClientLimits, Deadlines};
use crate::routing::virtual_models::RequestMeta;
use crate::series::{Class, Done};
use crate::state::AppState;
use crate::traceparent::TraceCtx;
use crate::trail::{Reason, Trail};
use crate::usage::Endpoint;

/// Body bytes to a checked chat request; errors name the client's own fields.
pub(crate) type Parse<'a> = dyn Fn(&[u8]) -> Result<ChatRequest, GatewayError> + Sync + 'a;

/// How a request's body becomes a chat request: the API it came in by, and that API's
/// parser (which translates, for the APIs at the edge, `crate::edge`; a parser may keep
/// what its answer needs of the request, as the Responses API's echo).
#[derive(Clone, Copy)]
pub(crate) struct Inbound<'a> {
    /// The API, for the usage log.
    pub(crate) endpoint: Endpoint,
    /// Its parser.
    pub(crate) parse: &'a Parse<'a>,
}

/// `POST /v1/chat/completions` itself.
pub(crate) const CHAT: Inbound<'static> = Inbound {
    endpoint: Endpoint::Chat,
    parse: &intake::parse_request,
};

/// Serve one chat request with the state `st` in force when it arrived (a reload that
/// swaps in another meanwhile does not change it).
pub(crate) async fn handle(
    st: Arc<AppState>,
    meta: RequestMeta<'_>,
    body: Body,
    inbound: Inbound<'_>,
) -> Response {
    let started = Instant::now();
    let request_id = intake::request_id(meta.headers);
    let trace = TraceCtx::from_headers(meta.headers, st.otel.is_some());
    let asked = Asked {
        request_id: &request_id,
        started,
        trace: trace.as_ref(),
        inbound,
    };
    // Shed before reading the body: past the limit the answer is a fast 503, not a queue.
    let served = if Inflight::full(&st) {
        Err(admit::overloaded(&st))
    } else {
        // A request still waiting for its answer when the drain at shutdown ends is
        // answered 503 (its usage recorded as a client gone); a stream already answering
        // is ended by its relay.
        let shutdown = st.drain.ended_here();
        tokio::select! {
            biased;
            served = serve(&st, meta, body, asked) => served,
            () = shutdown.cancelled() => Err(GatewayError::Overloaded {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "shutting_down",
                message: "the gateway is shutting down and this request ran past its drain_timeout_secs; retry it".into(),
                retry_after_secs: 1,
            }),
        }
    };
    match served {
        Ok(resp) => resp,
        Err(e) => refused(&st, e, asked),
    }
}

/// What a request is known by from its arrival.
#[derive(Clone, Copy)]
struct Asked<'a> {
    /// Gateway request id.
    request_id: &'a str,
    /// Arrival.
    started: Instant,
    /// Its W3C trace (see [`TraceCtx::from_headers`]).
    trace: Option<&'a TraceCtx>,
    /// The API it came in by.
    inbound: Inbound<'a>,
}

/// The error answer to a request refused before any upstream answer, with its id; its
/// trail says why.
fn refused(st: &AppState, e: GatewayError, asked: Asked<'_>) -> Response {
    let Asked {
        request_id,
        started,
        trace,
        ..
    } = asked;
    count_error(e.label());
    if !matches!(e, GatewayError::Upstream { .. }) {
        // An upstream failure was traced and counted with its attempts; anything
        // earlier is here.
        let mut trail = Trail::new(request_id, "", started);
        trail.trace = trace.cloned();
        trail.finish(e.status().as_u16(), Some(&e.to_string()));
        let kept = st.trails.keep(trail);
        if let Some(otel) = &st.otel {
            otel.submit(kept);
        }
        let done = Done {
            class: class_of(&e),
            latency: started.elapsed(),
            ttft: None,
            output_tokens: 0,
        };
        st.stats.add(None, &done, &[]);
    }
    let mut resp = e.into_response();
    resp.headers_mut()
        .insert("x-request-id", reply::header_value(request_id));
    resp
}

/// How a request refused with `e` counts on the dashboard.
fn class_of(e: &GatewayError) -> Class {
    match e {
        GatewayError::Upstream { .. } => Class::Upstream,
        GatewayError::Overloaded { status, .. } if *status == StatusCode::SERVICE_UNAVAILABLE => {
            Class::Shed
        }
        GatewayError::Denied { code, .. } if code.contains("budget") => Class::Budget,
        other => Class::of_status(other.status().as_u16()),
    }
}

/// The stages, in order (see the module doc).
async fn serve(
    st: &Arc<AppState>,
    meta: RequestMeta<'_>,
    body: Body,
    asked_by: Asked<'_>,
) -> Result<Response, GatewayError> {
    let Asked {
        request_id,
        started,
        trace,
        inbound,
    } = asked_by;
    let mut asked = intake::take_in(st, meta.headers, body, inbound).await?;
    let choice = resolve::resolve(st, &mut asked, meta)?;
    let Intake {
        caller,
        req,
        client,
        prompt_estimate,
        inflight,
        raw,
    } = asked;
    let admission = admit::admit(st, caller, choice.primary, &req, prompt_estimate).await?;
    let job = Job {
        st,
        client,
        prompt_estimate,
        meta,
    };
    let fallbacks = st
        .fallbacks
        .get(&choice.primary.id)
        .map_or(&[][..], Vec::as_slice);
    // The client's request, kept only when a fallback model may need it re-prepared.
    let original = (!fallbacks.is_empty()).then(|| req.clone());
    let mut trail = Trail::new(request_id, &req.model, started);
    let trace = trace.cloned().map(|mut t| {
        t.max_tokens = req.max_completion_tokens.or(req.max_tokens).map(u64::from);
        t.temperature = req.temperature;
        t
    });
    trail.trace.clone_from(&trace);
    let mut target = plan_target(st, choice.primary, req, prompt_estimate)?;
    // A Messages request goes to the vendor's own Anthropic-compatible endpoint as the
    // client wrote it, unless a fallback or an escalation may need it in another model's
    // terms.
    if let Some(raw) = &raw
        && fallbacks.is_empty()
        && choice.escalation_copy.is_none()
    {
        target.pass_through(st, raw);
    }
    // Every request earns a share of a retry (and, where hedging is on, of a hedge).
    st.retry_budget.deposit();
    if let Some(h) = &target.route.hedge {
        h.deposit();
    }
    let ctx = RequestCtx {
        st: Arc::clone(st),
        request_id: request_id.to_string(),
        model_id: choice.primary.id.clone(),
        provider: target.provider.id.clone(),
        region: String::new(),
        deployment: String::new(),
        price: None,
        started,
        prompt_estimate,
        attempts: 0,
        ttft: None,
        admission,
        route: choice.route,
        endpoint: inbound.endpoint,
        conversation: choice.conversation,
        trail: Mutex::new(Some(trail)),
        trace_ctx: trace,
    };
    for a in &target.adjustments {
        tracing::debug!(request_id = %ctx.request_id, field = a.field, note = %a.note, "request adjusted for vendor");
    }
    // From here on, the request is the vendor's: if the client leaves, record what we know.
    let mut guard = AbandonGuard::new(ctx);
    let live = choice.stream && !choice.held;
    let mut progress = Progress {
        limits: Deadlines::new(target.route.timeouts, client),
        target,
        tried: Tried::default(),
        attempts: 0,
        fell_back_from: None,
        untried: fallbacks,
        original,
    };
    progress
        .start(&job, guard.ctx_mut()?, live, Reason::First)
        .await;
    fallback::fall_back(&job, &mut guard, &mut progress, choice.primary, live).await?;
    let asked = choice.escalation_copy.as_ref();
    escalate::escalate(
        &job,
        &mut guard,
        &mut progress,
        choice.virtual_model,
        asked,
        choice.stream,
    )
    .await?;
    let wants = Wants {
        stream: choice.stream,
        usage: choice.wants_usage,
    };
    finish(guard, progress, wants, inflight)
}

/// What every stage after admission shares.
struct Job<'a> {
    st: &'a AppState,
    /// Shorter time limits the client asked for.
    client: ClientLimits,
    /// Prompt tokens by our estimator.
    prompt_estimate: u64,
    /// The request's headers and path.
    meta: RequestMeta<'a>,
}

/// Where the request stands: the model being tried and what trying it produced.
struct Progress<'a> {
    /// The model tried last, prepared.
    target: Target<'a>,
    /// What trying it produced.
    tried: Tried,
    /// Its time limits.
    limits: Deadlines,
    /// Upstream attempts made so far, on every model.
    attempts: u32,
    /// The model the request fell back from, once it has.
    fell_back_from: Option<String>,
    /// Fallback models not tried yet.
    untried: &'a [String],
    /// The client's request, kept only when a fallback model may need it re-prepared.
    original: Option<ChatRequest>,
}

impl<'a> Progress<'a> {
    /// Try the planned target's deployments; the first attempt is sent for `reason`.
    async fn start(&mut self, job: &Job<'a>, ctx: &mut RequestCtx, stream: bool, reason: Reason) {
        let first = Sending {
            stream,
            limits: self.limits,
            reason,
        };
        self.tried = try_deployments(job.st, ctx, &self.target, first, &mut self.attempts).await;
    }

    /// Move on to `target` (another model, for `reason`) and try its deployments, under
    /// its limits.
    async fn try_target(
        &mut self,
        job: &Job<'a>,
        ctx: &mut RequestCtx,
        target: Target<'a>,
        stream: bool,
        reason: Reason,
    ) {
        self.limits = Deadlines::new(target.route.timeouts, job.client);
        self.target = target;
        self.start(job, ctx, stream, reason).await;
    }
}

/// The request's answer, or its failure recorded and returned.
fn finish(
    mut guard: AbandonGuard,
    progress: Progress<'_>,
    wants: Wants,
    inflight: Inflight,
) -> Result<Response, GatewayError> {
    guard.ctx_mut()?.attempts = progress.attempts;
    let ctx = guard
        .ctx()
        .ok_or(GatewayError::Internal("request context already taken"))?;
    if let Err(error) = &progress.tried.outcome {
        let err = GatewayError::Upstream {
            provider: progress.target.provider.id.clone(),
            error: error.clone(),
        };
        ctx.count(err.status());
        ctx.record_failure(err.status(), &err.to_string());
        guard.disarm();
        return Err(err);
    }
    let headers = Served::of(ctx, &progress).headers();
    ctx.count(StatusCode::OK);
    let ctx = guard
        .take()
        .ok_or(GatewayError::Internal("request context already taken"))?;
    let mut resp = reply::answer(ctx, progress, wants, inflight)?;
    resp.headers_mut().extend(headers);
    Ok(resp)
}
