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

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::HeaderValue;
use futures_util::{Stream, StreamExt};
use metrics::counter;
use rand::Rng;
use switchyard_wire::{
    Adjustment, ChatChunk, ErrorKind, SseEvent, SseParser, TokenUsage, UpstreamError,
};

use crate::chat::RequestCtx;
use crate::config::RetriesConfig;
use crate::deploy::{ClientExpiry, Deadlines, Deployment, Hedger, Permit, Route};
use crate::state::{AppState, ProviderRuntime};
use crate::upstream::{complete, send_upstream};
use crate::usage::Outcome;

/// An upstream body as a stream of byte chunks.
pub type ByteStream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// One model the request may be served by, with the request rewritten for its dialect.
pub struct Target<'a> {
    /// The model's provider.
    pub provider: &'a ProviderRuntime,
    /// The model's deployments and policy.
    pub route: &'a Route,
    /// Prepared bodies by upstream id (one per distinct id among the deployments).
    pub bodies: Vec<(String, Bytes)>,
    /// What was changed for the vendor.
    pub adjustments: Vec<Adjustment>,
    /// Stream from the vendor, answer the client whole.
    pub assemble: bool,
    /// Tokens the request may use (prompt estimate + most output), reserved from a
    /// deployment's vendor quota.
    pub reserve: u64,
}

impl Target<'_> {
    /// The body prepared for `d`'s upstream id.
    pub fn body_for(&self, d: &Deployment) -> Bytes {
        self.bodies
            .iter()
            .find(|(id, _)| *id == d.upstream_id)
            .or(self.bodies.first())
            .map(|(_, b)| b.clone())
            .unwrap_or_default()
    }
}

/// What a successful attempt produced.
pub enum Answer {
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
pub struct Won {
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
pub struct Tried {
    /// The answer, or the error to report.
    pub outcome: Result<Won, UpstreamError>,
    /// Deployments left, in order.
    pub rest: Vec<Arc<Deployment>>,
}

type AttemptResult = Result<(Answer, Option<HeaderValue>), UpstreamError>;

/// Try `t`'s deployments for one request (see the module doc).
pub async fn try_deployments(
    st: &AppState,
    ctx: &mut RequestCtx,
    t: &Target<'_>,
    stream: bool,
    limits: Deadlines,
    attempts: &mut u32,
) -> Tried {
    let mut queue: VecDeque<Arc<Deployment>> = t
        .route
        .order(|d| st.health.standing(&d.provider, &d.name))
        .into();
    let mut last_err = UpstreamError::transport(ErrorKind::Unreachable, "no deployment was tried");
    let mut saturated = 0usize;
    let mut quota_wait: Option<Duration> = None;
    let mut retry_on: Option<Arc<Deployment>> = None;
    let mut same_left = st.config.retries.same_deployment;
    let mut round = 0u32;
    let mut tried_any = false;
    // The last attempt ran out of a time-to-first-token the client shortened: the next
    // one is not a retry against the shared budget.
    let mut blameless = false;
    loop {
        let (dep, same) = match queue.pop_front() {
            Some(d) => (d, false),
            None => match retry_on.take() {
                Some(d) if same_left > 0 => {
                    same_left -= 1;
                    (d, true)
                }
                _ => break,
            },
        };
        if tried_any && !std::mem::take(&mut blameless) && !st.retry_budget.withdraw() {
            tracing::warn!(provider = %dep.provider, "retry budget spent; no further attempt");
            break;
        }
        if same {
            let remaining = limits.request.saturating_sub(ctx.started.elapsed());
            match backoff(&st.config.retries, round, last_err.retry_after_secs) {
                Some(wait) if wait < remaining => {
                    round += 1;
                    counter!("switchyard_retries_total", "provider" => dep.provider.clone(), "deployment" => dep.name.clone())
                        .increment(1);
                    tokio::time::sleep(wait).await;
                }
                _ => break,
            }
        }
        let permit = match dep.try_acquire(t.reserve) {
            Ok(p) => p,
            Err(busy) => {
                saturated += 1;
                if let Some(w) = busy.retry_after {
                    quota_wait = Some(quota_wait.map_or(w, |q| q.min(w)));
                }
                continue;
            }
        };
        tried_any = true;
        let hedge = t.route.hedge.as_ref().filter(|_| *attempts == 0);
        let (finished, cancelled) = match hedge {
            Some(h) => race(st, ctx, t, h, permit, &mut queue, stream, limits, attempts).await,
            None => {
                *attempts += 1;
                let sent = Instant::now();
                let r = attempt(
                    st,
                    ctx,
                    t,
                    Arc::clone(permit.deployment()),
                    stream,
                    false,
                    limits,
                )
                .await;
                (vec![(permit, sent, r)], None)
            }
        };
        if let Some(loser) = cancelled {
            // The vendor has read the loser's prompt.
            loser.set_used(ctx.prompt_estimate);
            record_cancelled(ctx, loser.deployment());
        }
        let mut won = None;
        for (permit, sent, result) in finished {
            let d = Arc::clone(permit.deployment());
            match result {
                Ok((answer, upstream_request_id)) => {
                    if let Answer::Whole { usage, .. } = &answer {
                        permit.set_used(usage.total());
                    }
                    // A stream proves the deployment healthy with its first token (the
                    // relay reports it); a whole answer already has.
                    if !stream {
                        d.observe_ttft(sent.elapsed());
                        if let Some(h) = &t.route.hedge {
                            h.observe(false, sent.elapsed());
                        }
                        report_answer(st, t.route, &d);
                    }
                    won = Some(Won {
                        answer,
                        upstream_request_id,
                        permit,
                        sent,
                    });
                    break;
                }
                Err(mut e)
                    if e.kind == ErrorKind::Timeout
                        && let Some(expiry) = limits.client_expired(ctx.started, sent, stream) =>
                {
                    // A limit the client shortened ran out: nothing is learnt about the
                    // deployment. Past its whole-request limit the request is over; past
                    // its time to first token the next deployment may still be in time,
                    // and trying it spends no retry.
                    ctx.region.clone_from(&d.region_name);
                    ctx.deployment.clone_from(&d.name);
                    if expiry == ClientExpiry::Request {
                        e.message = "the time limit this request set (x-switchyard-timeout) ran out before an answer".into();
                        return Tried {
                            outcome: Err(e),
                            rest: Vec::new(),
                        };
                    }
                    e.message = "no first token within the limit this request set (x-switchyard-ttft-timeout)".into();
                    last_err = e;
                    blameless = true;
                }
                Err(e) if e.kind.retryable() => {
                    st.health.failure(&d.provider, &d.name);
                    counter!("switchyard_failovers_total", "provider" => d.provider.clone(), "from_region" => d.name.clone(),
                        "kind" => e.kind.default_code())
                    .increment(1);
                    tracing::warn!(provider = %d.provider, deployment = %d.name, error = %e.message, "upstream failed; trying the next deployment");
                    ctx.region.clone_from(&d.region_name);
                    ctx.deployment.clone_from(&d.name);
                    last_err = e;
                    retry_on = Some(d);
                }
                Err(e) => {
                    ctx.region.clone_from(&d.region_name);
                    ctx.deployment.clone_from(&d.name);
                    return Tried {
                        outcome: Err(e),
                        rest: Vec::new(),
                    };
                }
            }
        }
        if let Some(w) = won {
            let d = w.permit.deployment();
            ctx.region.clone_from(&d.region_name);
            ctx.deployment.clone_from(&d.name);
            return Tried {
                outcome: Ok(w),
                rest: queue.into(),
            };
        }
        if ctx.started.elapsed() >= limits.request {
            break;
        }
    }
    if !tried_any && saturated > 0 {
        last_err = saturated_error(&ctx.model_id, quota_wait);
    }
    Tried {
        outcome: Err(last_err),
        rest: Vec::new(),
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
pub fn report_answer(st: &AppState, route: &Route, d: &Deployment) {
    if route.is_latency_outlier(d, st.config.health.latency_outlier_factor) {
        counter!("switchyard_latency_outliers_total", "provider" => d.provider.clone(), "deployment" => d.name.clone())
            .increment(1);
        st.health.failure(&d.provider, &d.name);
    } else {
        st.health.success(&d.provider, &d.name);
    }
}

/// How long to wait before trying the same deployment again: the vendor's `Retry-After`
/// when it asked for one no longer than `backoff_max_ms`, else a random wait up to the
/// doubling backoff (full jitter). `None`: do not retry.
fn backoff(cfg: &RetriesConfig, round: u32, retry_after_secs: Option<u64>) -> Option<Duration> {
    let max = cfg.backoff_max;
    if let Some(secs) = retry_after_secs {
        let asked = Duration::from_secs(secs);
        return (asked <= max).then_some(asked);
    }
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let ceiling = ms(cfg.backoff_base)
        .saturating_mul(1u64 << round.min(16))
        .min(ms(max));
    Some(Duration::from_millis(
        rand::rng().random_range(0..=ceiling.max(1)),
    ))
}

/// The first attempt, raced by a hedge once it is slower than the model's recent
/// percentile. Returns the attempts that finished, in the order they finished (stopping
/// at the first success), and the slot of an attempt cancelled because the other won.
#[allow(clippy::too_many_arguments)]
async fn race(
    st: &AppState,
    ctx: &RequestCtx,
    t: &Target<'_>,
    hedger: &Hedger,
    first: Permit,
    queue: &mut VecDeque<Arc<Deployment>>,
    stream: bool,
    limits: Deadlines,
    attempts: &mut u32,
) -> (Vec<(Permit, Instant, AttemptResult)>, Option<Permit>) {
    *attempts += 1;
    let sent_a = Instant::now();
    let a = attempt(
        st,
        ctx,
        t,
        Arc::clone(first.deployment()),
        stream,
        stream,
        limits,
    );
    tokio::pin!(a);
    tokio::select! {
        r = &mut a => return (vec![(first, sent_a, r)], None),
        () = tokio::time::sleep(hedger.delay(stream)) => {}
    }
    // The hedge goes to the next deployment in order that has room.
    let Some(pos) = queue
        .iter()
        .position(|d| d.max_concurrency.is_none_or(|m| d.outstanding() < m))
    else {
        return (vec![(first, sent_a, a.await)], None);
    };
    let Ok(second) = queue[pos].try_acquire(t.reserve) else {
        return (vec![(first, sent_a, a.await)], None);
    };
    if !hedger.withdraw() {
        counter!("switchyard_hedge_budget_exhausted_total").increment(1);
        return (vec![(first, sent_a, a.await)], None);
    }
    queue.remove(pos);
    *attempts += 1;
    let d = second.deployment();
    counter!("switchyard_hedges_total", "provider" => d.provider.clone(), "deployment" => d.name.clone())
        .increment(1);
    tracing::debug!(request_id = %ctx.request_id, to = %d.name, "first attempt slow; hedging");
    let sent_b = Instant::now();
    let b = attempt(
        st,
        ctx,
        t,
        Arc::clone(second.deployment()),
        stream,
        stream,
        limits,
    );
    tokio::pin!(b);
    tokio::select! {
        r = &mut a => {
            if r.is_ok() {
                return (vec![(first, sent_a, r)], Some(second));
            }
            let rb = b.await;
            (vec![(first, sent_a, r), (second, sent_b, rb)], None)
        }
        r = &mut b => {
            if r.is_ok() {
                counter!("switchyard_hedge_wins_total").increment(1);
                return (vec![(second, sent_b, r)], Some(first));
            }
            let ra = a.await;
            (vec![(second, sent_b, r), (first, sent_a, ra)], None)
        }
    }
}

/// One attempt on one deployment. With `prime`, a stream is read up to its first token
/// (so that a hedge race is won by the first *token*, not the first header).
async fn attempt(
    st: &AppState,
    ctx: &RequestCtx,
    t: &Target<'_>,
    d: Arc<Deployment>,
    stream: bool,
    prime: bool,
    limits: Deadlines,
) -> AttemptResult {
    let provider = t.provider;
    let region = provider.regions.get(d.region).ok_or_else(|| {
        UpstreamError::transport(ErrorKind::Unreachable, "deployment has no region")
    })?;
    st.health.attempt(&d.provider, &d.name);
    let remaining = limits.request.saturating_sub(ctx.started.elapsed());
    let resp = send_upstream(
        st,
        provider,
        region,
        t.body_for(&d),
        stream || t.assemble,
        remaining,
    )
    .await?;
    let request_id = resp
        .headers()
        .get(provider.dialect.request_id_header())
        .cloned();
    if stream {
        let body: ByteStream = Box::pin(resp.bytes_stream());
        let body = if prime {
            let deadline = tokio::time::Instant::now() + limits.ttft.min(remaining);
            prime_stream(body, deadline).await?
        } else {
            body
        };
        return Ok((Answer::Stream(body), request_id));
    }
    // A whole answer is read inside the attempt: nothing has reached the client yet, so
    // a body cut off half-way is as retryable as a refused connection.
    let (body, usage, estimated) =
        complete(ctx, provider, resp, limits.request, t.assemble).await?;
    Ok((
        Answer::Whole {
            body,
            usage,
            estimated,
        },
        request_id,
    ))
}

/// Most bytes a stream may send before its first token (a role chunk and keep-alive
/// comments are a few hundred): they are held in memory to be replayed.
const MAX_PRIMED_BYTES: usize = 1024 * 1024;

fn bad_stream(e: switchyard_wire::SseError) -> UpstreamError {
    UpstreamError::transport(ErrorKind::BadResponse, e.to_string())
}

/// Read a stream up to its first token (or its clean end) and hand back a stream that
/// replays what was read, then continues. Anything else before the first token — an
/// error event, a cut, the TTFT deadline — is a retryable failure.
async fn prime_stream(
    mut body: ByteStream,
    deadline: tokio::time::Instant,
) -> Result<ByteStream, UpstreamError> {
    let mut parser = SseParser::new();
    let mut seen: Vec<Bytes> = Vec::new();
    let mut held = 0usize;
    loop {
        let bytes = match tokio::time::timeout_at(deadline, body.next()).await {
            Err(_) => {
                return Err(UpstreamError::transport(
                    ErrorKind::Timeout,
                    "no first token within the time-to-first-token limit",
                ));
            }
            Ok(None) => {
                return Err(UpstreamError::transport(
                    ErrorKind::BadResponse,
                    "the stream ended before its first token",
                ));
            }
            Ok(Some(Err(e))) => {
                return Err(UpstreamError::transport(
                    ErrorKind::Unreachable,
                    format!("the stream broke before its first token: {e}"),
                ));
            }
            Ok(Some(Ok(b))) => b,
        };
        held = held.saturating_add(bytes.len());
        if held > MAX_PRIMED_BYTES {
            return Err(UpstreamError::transport(
                ErrorKind::BadResponse,
                format!("the stream sent over {MAX_PRIMED_BYTES} bytes before its first token"),
            ));
        }
        parser.push(&bytes).map_err(bad_stream)?;
        seen.push(bytes);
        while let Some(ev) = parser.next_event().map_err(bad_stream)? {
            let SseEvent::Data { data, event } = ev else {
                continue;
            };
            let ready = data.trim() == "[DONE]"
                || (event.as_deref() != Some("error")
                    && serde_json::from_str::<ChatChunk>(&data)
                        .is_ok_and(|c| c.choices.iter().any(|ch| ch.delta.has_output())));
            if ready {
                let replay = futures_util::stream::iter(seen.into_iter().map(Ok));
                return Ok(Box::pin(replay.chain(body)));
            }
            if event.as_deref() == Some("error") || data.contains("\"error\"") {
                return Err(UpstreamError::transport(
                    ErrorKind::BadResponse,
                    format!("the stream sent an error before its first token: {data}"),
                ));
            }
        }
    }
}

/// A hedge loser was cancelled: the vendor has likely read (and billed) its prompt.
fn record_cancelled(ctx: &RequestCtx, d: &Deployment) {
    counter!("switchyard_hedge_cancelled_total", "provider" => d.provider.clone(), "deployment" => d.name.clone())
        .increment(1);
    ctx.record_attempt(
        d,
        TokenUsage {
            prompt: ctx.prompt_estimate,
            ..TokenUsage::default()
        },
        Outcome::HedgeCancelled,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> RetriesConfig {
        RetriesConfig {
            budget_ratio: 0.2,
            budget_reserve: 20.0,
            same_deployment: 1,
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(2_000),
        }
    }

    #[test]
    fn backoff_honours_a_short_retry_after_and_refuses_a_long_one() {
        assert_eq!(backoff(&cfg(), 0, Some(1)), Some(Duration::from_secs(1)));
        assert_eq!(backoff(&cfg(), 0, Some(30)), None);
    }

    #[test]
    fn backoff_is_jittered_under_a_doubling_ceiling() {
        for round in 0..8 {
            let ceiling = (100u64 << round).min(2_000);
            for _ in 0..50 {
                let w = backoff(&cfg(), round, None).unwrap();
                assert!(w <= Duration::from_millis(ceiling), "{w:?} > {ceiling}ms");
            }
        }
        let spread: std::collections::HashSet<_> =
            (0..50).map(|_| backoff(&cfg(), 3, None)).collect();
        assert!(spread.len() > 10, "jitter spreads retries out");
    }

    #[tokio::test]
    async fn priming_stops_at_the_first_token_and_replays_everything() {
        let parts = [
            ": keep-alive\n\n",
            "data: {\"id\":\"a\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n",
            "data: {\"id\":\"a\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n",
            "data: [DONE]\n\n",
        ];
        let body: ByteStream = Box::pin(futures_util::stream::iter(
            parts.map(|p| Ok(Bytes::from_static(p.as_bytes()))),
        ));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let primed = prime_stream(body, deadline).await.unwrap();
        let all: Vec<Bytes> = primed.map(|b| b.unwrap()).collect().await;
        assert_eq!(all.concat(), parts.concat().as_bytes());
    }

    #[tokio::test]
    async fn priming_fails_on_a_cut_before_the_first_token() {
        let body: ByteStream = Box::pin(futures_util::stream::iter([Ok(Bytes::from_static(
            b": keep-alive\n\n",
        ))]));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let e = prime_stream(body, deadline).await.err().unwrap();
        assert!(e.kind.retryable());
    }
}
