//! Dispatch: which deployments one request tries, in what order, how many times, and
//! whether a hedge races the first attempt.
//!
//! The model's [`crate::deploy::Route`] ranks its deployments; each is tried if it has a
//! free slot (a full one is passed over: spill-over, not a queue). A retryable failure
//! (connect error, 429, 5xx, overload, time-out, a body cut off) moves on to the next
//! deployment while the retry budget lasts; once none is left, the deployment that failed
//! last gets up to `[retries] same_deployment` more tries after a jittered backoff, or
//! after the vendor's `Retry-After` when that is short enough. With hedging on, the first
//! attempt gets the model's recent-percentile delay; if it has not answered (first token
//! of a stream, whole answer otherwise) by then, a copy goes to the next deployment and
//! the first to answer wins; the other is cancelled and its prompt recorded as spent.

mod backoff;
mod hedge;
mod prime;
mod whole;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::HeaderValue;
use metrics::counter;
use switchyard_wire::{ErrorKind, TokenUsage, UpstreamError};

use crate::ctx::RequestCtx;
use crate::plan::{Target, UpstreamApi};
use crate::routing::deadlines::{ClientExpiry, Deadlines};
use crate::routing::deployment::{Busy, Deployment, Permit};
use crate::routing::route::Route;
use crate::series::Event;
use crate::state::AppState;
use crate::traceparent::TraceCtx;
use crate::trail::{Fate, Reason, Sent};
use crate::upstream::ByteStream;
use crate::upstream::send::{Dest, send_upstream};
use crate::usage::Outcome;

/// What a successful attempt produced.
pub(crate) enum Answer {
    /// A stream to relay (already past its first token when it won a hedge race).
    Stream(ByteStream),
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

/// The attempt that answered.
pub(crate) struct Won {
    /// Its answer.
    pub answer: Answer,
    /// The vendor's request id header.
    pub upstream_request_id: Option<HeaderValue>,
    /// Its slot on the deployment (held until the answer is delivered).
    pub permit: Permit,
    /// When it was sent.
    pub sent: Instant,
}

/// What trying a target produced: the answer or the last error, and the deployments not
/// tried yet (a stream that fails before its first token may still use them).
pub(crate) struct Tried {
    /// The answer, or the error to report.
    pub outcome: Result<Won, UpstreamError>,
    /// Deployments left, in order.
    pub rest: Vec<Arc<Deployment>>,
}

impl Default for Tried {
    /// Nothing tried yet.
    fn default() -> Self {
        Tried {
            outcome: Err(UpstreamError::transport(
                ErrorKind::Unreachable,
                "no deployment was tried",
            )),
            rest: Vec::new(),
        }
    }
}

/// What one attempt produced: its answer and the vendor's request id, or its error.
pub(crate) type AttemptResult = Result<(Answer, Option<HeaderValue>), UpstreamError>;

/// What every attempt of one call shares.
#[derive(Clone, Copy)]
pub(crate) struct Call<'a> {
    st: &'a AppState,
    ctx: &'a RequestCtx,
    t: &'a Target<'a>,
    stream: bool,
    limits: Deadlines,
}

/// Attempts that finished, in the order they finished, with when and why each was sent.
pub(crate) type Finished = Vec<(Permit, Sent, AttemptResult)>;

/// How one target's attempts go out: streamed or not, under which limits, and why its
/// first one is sent (the request's first, a fallback model, an escalation).
#[derive(Clone, Copy)]
pub(crate) struct Sending {
    /// A stream.
    pub stream: bool,
    /// Its time limits.
    pub limits: Deadlines,
    /// Why the target's first attempt is sent.
    pub reason: Reason,
}

/// An attempt going out now for `reason`, with a span of its own when the request's
/// spans are exported.
fn sending(ctx: &RequestCtx, reason: Reason) -> Sent {
    Sent {
        at: Instant::now(),
        reason,
        span: ctx.trace_ctx.as_ref().and_then(TraceCtx::attempt_span),
    }
}

/// Try `t`'s deployments for one request (see the module doc).
pub(crate) async fn try_deployments(
    st: &AppState,
    ctx: &mut RequestCtx,
    t: &Target<'_>,
    first: Sending,
    attempts: &mut u32,
) -> Tried {
    let Sending { stream, limits, .. } = first;
    let mut run = Run::new(st, t);
    ctx.trace(|trail| trail.ranked(&ctx.model_id, run.queue.iter().map(|d| d.name.as_str())));
    while let Some((dep, same)) = run.next() {
        if !run.may_go(st, &dep) {
            // No budget for another try at this vendor; one at another vendor is free.
            continue;
        }
        if same && !run.back_off(st, &dep, ctx.started, limits).await {
            break;
        }
        let permit = match dep.try_acquire(t.reserve) {
            Ok(p) => p,
            Err(busy) => {
                run.busy(busy);
                continue;
            }
        };
        let reason = match (run.tried_any, same) {
            (false, _) => first.reason,
            (true, true) => Reason::Retry,
            (true, false) => Reason::Failover,
        };
        run.tried_any = true;
        let (finished, cancelled) = {
            let call = Call {
                st,
                ctx,
                t,
                stream,
                limits,
            };
            launch(&call, permit, &mut run.queue, attempts, reason).await
        };
        if let Some((loser, sent)) = cancelled {
            // The vendor has read the loser's prompt.
            loser.set_used(ctx.prompt_estimate);
            ctx.trace(|trail| {
                let i = trail.attempt(loser.deployment(), &ctx.model_id, &sent);
                trail.end(i, Fate::HedgeLost, None);
            });
            record_cancelled(ctx, loser.deployment());
        }
        for (permit, sent, result) in finished {
            let d = permit.deployment();
            ctx.serve_on(d);
            let mut traced = None;
            ctx.trace(|trail| traced = trail.attempt(d, &ctx.model_id, &sent));
            let call = Call {
                st,
                ctx,
                t,
                stream,
                limits,
            };
            let verdict = run.judge(&call, permit, sent.at, result);
            ctx.trace(|trail| match &verdict {
                Verdict::Won(_) if stream => trail.first_token_pending(traced),
                Verdict::Won(_) => trail.end(traced, Fate::Answered, None),
                Verdict::Over(e) => trail.fail(traced, e),
                Verdict::Next => trail.fail(traced, &run.last_err),
            });
            match verdict {
                Verdict::Won(w) => {
                    return Tried {
                        outcome: Ok(w),
                        rest: run.queue.into(),
                    };
                }
                Verdict::Over(e) => {
                    return Tried {
                        outcome: Err(e),
                        rest: Vec::new(),
                    };
                }
                Verdict::Next => {}
            }
        }
        if ctx.started.elapsed() >= limits.request {
            break;
        }
    }
    run.finish(&ctx.model_id)
}

/// The first attempt of a request with hedging on is raced; any other goes alone. It
/// is sent for `reason`.
async fn launch(
    call: &Call<'_>,
    permit: Permit,
    queue: &mut VecDeque<Arc<Deployment>>,
    attempts: &mut u32,
    reason: Reason,
) -> (Finished, Option<(Permit, Sent)>) {
    match call.t.route.hedge.as_ref().filter(|_| *attempts == 0) {
        Some(h) => hedge::race(call, h, permit, queue, attempts, reason).await,
        None => {
            *attempts += 1;
            let sent = sending(call.ctx, reason);
            let r = attempt(call, Arc::clone(permit.deployment()), false, &sent).await;
            (vec![(permit, sent, r)], None)
        }
    }
}

/// What one finished attempt means for the request.
enum Verdict {
    /// It answered.
    Won(Won),
    /// It failed in a way no other deployment can help with: the request is over.
    Over(UpstreamError),
    /// Try the next deployment.
    Next,
}

/// The state of one [`try_deployments`]: who is left to try, and what went wrong so far.
struct Run {
    queue: VecDeque<Arc<Deployment>>,
    last_err: UpstreamError,
    /// Deployments passed over because they were full.
    saturated: usize,
    /// The soonest a full vendor quota frees.
    quota_wait: Option<Duration>,
    /// The deployment that failed last, for `[retries] same_deployment`.
    retry_on: Option<Arc<Deployment>>,
    /// The vendor of the attempt that failed last: a move to another one is free.
    failed_vendor: Option<String>,
    same_left: u32,
    round: u32,
    tried_any: bool,
    /// The last attempt ran out of a time-to-first-token the client shortened: the next
    /// one is not a retry against the shared budget.
    blameless: bool,
}

impl Run {
    fn new(st: &AppState, t: &Target<'_>) -> Self {
        Run {
            queue: t
                .route
                .order(|d| st.health.standing(&d.provider, &d.name))
                .into(),
            last_err: UpstreamError::transport(ErrorKind::Unreachable, "no deployment was tried"),
            saturated: 0,
            quota_wait: None,
            retry_on: None,
            failed_vendor: None,
            same_left: st.config.retries.same_deployment,
            round: 0,
            tried_any: false,
            blameless: false,
        }
    }

    /// The next deployment in order; once none is left, the one that failed last while
    /// same-deployment retries remain (`true`: it is such a retry).
    fn next(&mut self) -> Option<(Arc<Deployment>, bool)> {
        if let Some(d) = self.queue.pop_front() {
            return Some((d, false));
        }
        match self.retry_on.take() {
            Some(d) if self.same_left > 0 => {
                self.same_left -= 1;
                Some((d, true))
            }
            _ => None,
        }
    }

    /// Whether another attempt may go out: the first always, a retry while the budget
    /// lasts (one after a client-shortened TTFT, or one to another vendor than the one
    /// that failed, spends none).
    fn may_go(&mut self, st: &AppState, dep: &Deployment) -> bool {
        let from = self.failed_vendor.as_deref().unwrap_or(&dep.provider);
        if self.tried_any
            && !std::mem::take(&mut self.blameless)
            && !st.retry_budget.may_move(from, &dep.provider)
        {
            tracing::warn!(provider = %dep.provider, deployment = %dep.name, "retry budget spent; passed over");
            return false;
        }
        true
    }

    /// Wait before trying the same deployment again; `false` if the wait would not fit in
    /// the time left (or the vendor asked for too long a one).
    async fn back_off(
        &mut self,
        st: &AppState,
        dep: &Deployment,
        started: Instant,
        limits: Deadlines,
    ) -> bool {
        let remaining = limits.request.saturating_sub(started.elapsed());
        match backoff::backoff(
            &st.config.retries,
            self.round,
            self.last_err.retry_after_secs,
        ) {
            Some(wait) if wait < remaining => {
                self.round += 1;
                counter!("switchyard_retries_total", "provider" => dep.provider.clone(), "deployment" => dep.name.clone())
                    .increment(1);
                st.stats.event(Event::Retry);
                tokio::time::sleep(wait).await;
                true
            }
            _ => false,
        }
    }

    /// A deployment was full, or at its vendor quota.
    fn busy(&mut self, busy: Busy) {
        self.saturated += 1;
        if let Some(w) = busy.retry_after {
            self.quota_wait = Some(self.quota_wait.map_or(w, |q| q.min(w)));
        }
    }

    /// Learn from one finished attempt.
    fn judge(
        &mut self,
        call: &Call<'_>,
        permit: Permit,
        sent: Instant,
        result: AttemptResult,
    ) -> Verdict {
        let d = Arc::clone(permit.deployment());
        match result {
            Ok((answer, upstream_request_id)) => {
                if let Answer::Whole { usage, .. } = &answer {
                    permit.set_used(usage.total());
                }
                // A stream proves the deployment healthy with its first token (the relay
                // reports it); a whole answer already has.
                if !call.stream {
                    d.observe_ttft(sent.elapsed());
                    if let Some(h) = &call.t.route.hedge {
                        h.observe(false, sent.elapsed());
                    }
                    report_answer(call.st, call.t.route, &d);
                }
                Verdict::Won(Won {
                    answer,
                    upstream_request_id,
                    permit,
                    sent,
                })
            }
            Err(mut e)
                if e.kind == ErrorKind::Timeout
                    && let Some(expiry) =
                        call.limits
                            .client_expired(call.ctx.started, sent, call.stream) =>
            {
                // A limit the client shortened ran out: nothing is learnt about the
                // deployment. Past its whole-request limit the request is over; past its
                // time to first token the next deployment may still be in time, and
                // trying it spends no retry.
                if expiry == ClientExpiry::Request {
                    e.message = "the time limit this request set (x-switchyard-timeout) ran out before an answer".into();
                    return Verdict::Over(e);
                }
                e.message =
                    "no first token within the limit this request set (x-switchyard-ttft-timeout)"
                        .into();
                self.last_err = e;
                self.blameless = true;
                Verdict::Next
            }
            Err(e) if e.kind.retryable() => {
                call.st.health.failure(&d.provider, &d.name, &e.message);
                counter!("switchyard_failovers_total", "provider" => d.provider.clone(), "from_region" => d.name.clone(),
                    "kind" => e.kind.default_code())
                .increment(1);
                call.st.stats.event(Event::Failover);
                tracing::warn!(provider = %d.provider, deployment = %d.name, error = %e.message, "upstream failed; trying the next deployment");
                self.last_err = e;
                self.failed_vendor = Some(d.provider.clone());
                self.retry_on = Some(d);
                Verdict::Next
            }
            Err(e) => Verdict::Over(e),
        }
    }

    /// Nothing answered: the last error, or a 429 when every deployment was full.
    fn finish(self, model: &str) -> Tried {
        let last_err = if !self.tried_any && self.saturated > 0 {
            saturated_error(model, self.quota_wait)
        } else {
            self.last_err
        };
        Tried {
            outcome: Err(last_err),
            rest: Vec::new(),
        }
    }
}

/// Every deployment of `model` was full (or at its vendor quota, the soonest of which
/// frees in `quota_wait`): a 429 to retry shortly.
fn saturated_error(model: &str, quota_wait: Option<Duration>) -> UpstreamError {
    counter!("switchyard_shed_total", "reason" => "deployments_saturated").increment(1);
    let why = if quota_wait.is_some() {
        "at its concurrency limit or its vendor quota (max_concurrency, rpm, tpm)"
    } else {
        "at its concurrency limit (max_concurrency)"
    };
    let mut e = UpstreamError::transport(
        ErrorKind::RateLimited,
        format!("every deployment of '{model}' is {why}; retry shortly"),
    );
    e.retry_after_secs = Some(quota_wait.map_or(1, |w| w.as_secs_f64().ceil().max(1.0) as u64));
    e
}

/// A deployment answered: healthy, unless it is a latency outlier among its peers.
pub(crate) fn report_answer(st: &AppState, route: &Route, d: &Deployment) {
    if route.is_latency_outlier(d, st.config.health.latency_outlier_factor) {
        counter!("switchyard_latency_outliers_total", "provider" => d.provider.clone(), "deployment" => d.name.clone())
            .increment(1);
        st.health.failure(
            &d.provider,
            &d.name,
            "answered far slower than the deployment's usual (latency outlier)",
        );
    } else {
        st.health.success(&d.provider, &d.name);
    }
}

/// One attempt on one deployment, `sent` now. With `prime`, a stream is read up to its
/// first token (so that a hedge race is won by the first *token*, not the first header).
async fn attempt(call: &Call<'_>, d: Arc<Deployment>, prime: bool, sent: &Sent) -> AttemptResult {
    let Call {
        st,
        ctx,
        t,
        stream,
        limits,
    } = *call;
    let region = st
        .providers
        .get(&d.provider)
        .and_then(|p| Some((p, p.regions.get(d.region)?)));
    let (provider, region) = region.ok_or_else(|| {
        UpstreamError::transport(ErrorKind::Unreachable, "deployment has no region")
    })?;
    st.health.attempt(&d.provider, &d.name);
    let remaining = limits.request.saturating_sub(ctx.started.elapsed());
    let trace = ctx
        .trace_ctx
        .as_ref()
        .and_then(|c| c.upstream_headers(sent.span));
    let to = match t.api {
        UpstreamApi::Chat => Dest::chat(provider, region),
        UpstreamApi::Messages => Dest::messages(provider, region).ok_or_else(|| {
            UpstreamError::transport(
                ErrorKind::Unreachable,
                "the region has no Anthropic-compatible endpoint",
            )
        })?,
    };
    let resp = send_upstream(
        &st.client,
        to,
        t.body_for(&d),
        stream || t.assemble,
        remaining,
        trace.as_ref(),
    )
    .await?;
    // Copied, not shared: a shared value would pin the connection's whole read buffer
    // for as long as the answer takes, and the next read would need another.
    let request_id = resp
        .headers()
        .get(provider.dialect.request_id_header())
        .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok());
    if stream {
        let body = crate::upstream::body_stream(resp);
        let body = match t.api {
            UpstreamApi::Chat => body,
            UpstreamApi::Messages => crate::upstream::messages::chat_stream(body),
        };
        let body = if prime {
            let deadline = tokio::time::Instant::now() + limits.ttft.min(remaining);
            prime::prime_stream(body, deadline).await?
        } else {
            body
        };
        return Ok((Answer::Stream(body), request_id));
    }
    // A whole answer is read inside the attempt: nothing has reached the client yet, so
    // a body cut off half-way is as retryable as a refused connection.
    let (body, usage, estimated) =
        whole::complete(ctx, provider, resp, limits.request, (t.assemble, t.api)).await?;
    Ok((
        Answer::Whole {
            body,
            usage,
            estimated,
        },
        request_id,
    ))
}

/// A hedge loser was cancelled: the vendor has likely read (and billed) its prompt.
fn record_cancelled(ctx: &RequestCtx, d: &Deployment) {
    counter!("switchyard_hedge_cancelled_total", "provider" => d.provider.clone(), "deployment" => d.name.clone())
        .increment(1);
    ctx.st.stats.event(Event::HedgeLost);
    ctx.record_attempt(
        d,
        TokenUsage {
            prompt: ctx.prompt_estimate,
            ..TokenUsage::default()
        },
        Outcome::HedgeCancelled,
    );
}
