//! Failover before the first token: until a stream has sent its first token, nothing
//! but comments has reached the client, so an attempt that breaks off, errs or misses the
//! time-to-first-token limit is replaced — by the model's other deployments, then by each
//! fallback model's (prepared only if it comes to that).

use std::collections::VecDeque;
use std::sync::Arc;

use metrics::counter;
use serde_json::json;
use switchyard_wire::{ChatRequest, ErrorKind, SseParser, StreamNormalizer, UpstreamError};
use tokio::time::Instant;

use super::Relay;
use crate::keys::Admission;
use crate::plan::{Prepared, UpstreamApi, body_for, plan_target};
use crate::routing::deployment::Deployment;
use crate::series::Event;
use crate::state::AppState;
use crate::traceparent::TraceCtx;
use crate::trail::{Reason, Sent};
use crate::upstream::send::{Dest, send_upstream};
use crate::usage::Outcome;

/// Where a stream may still go before its first token: the rest of its model's
/// deployments, then each fallback model's.
pub(crate) struct Failover {
    /// Legs in order; the first is the model being relayed.
    pub legs: VecDeque<Leg>,
    /// Fallback models not tried yet, prepared only when the legs before them run out.
    pub pending: Option<PendingFallbacks>,
}

/// Fallback models a stream has not needed yet, and what preparing one takes.
pub(crate) struct PendingFallbacks {
    /// Model ids, in order.
    pub models: VecDeque<String>,
    /// The client's request, as it arrived.
    pub request: ChatRequest,
}

/// One model a stream may be moved to.
pub(crate) struct Leg {
    /// Canonical model id.
    pub model_id: String,
    /// Prepared upstream bodies, by vendor and upstream id.
    pub bodies: Vec<Prepared>,
    /// The vendor API they are for.
    pub api: UpstreamApi,
    /// Deployments still to try, in order.
    pub deployments: VecDeque<Arc<Deployment>>,
    /// Tokens to reserve from a deployment's vendor quota.
    pub reserve: u64,
}

impl Relay {
    /// Whether a failure now may be retried elsewhere: nothing but comments has reached
    /// the client and a deployment is left.
    pub(super) fn can_switch(&self) -> bool {
        !self.saw_first_token
            && (self.failover.legs.iter().any(|l| !l.deployments.is_empty())
                || self
                    .failover
                    .pending
                    .as_ref()
                    .is_some_and(|p| !p.models.is_empty()))
    }

    /// Prepare the next fallback model that can take the request (its deployments in
    /// order), if any is left.
    fn next_fallback_leg(&mut self) -> Option<Leg> {
        let pending = self.failover.pending.as_mut()?;
        while let Some(model) = pending.models.pop_front() {
            let leg = fallback_leg(
                &self.ctx.st,
                &model,
                &pending.request,
                self.ctx.prompt_estimate,
                self.ctx.admission.as_deref(),
            );
            if leg.is_some() {
                return leg;
            }
        }
        None
    }

    /// Replace the current attempt with the next deployment that answers: the model's
    /// own first, then its fallback models'.
    pub(super) async fn switch_region(&mut self, reason: &str) {
        let st = self.ctx.st.clone();
        let failed = Arc::clone(self.permit.deployment());
        self.ctx.trace(|t| t.abandon_last(reason));
        let mut blameless = std::mem::take(&mut self.switch_blameless);
        if !blameless {
            st.health.failure(&failed.provider, &failed.name, reason);
        }
        loop {
            if self.failover.legs.is_empty() {
                match self.next_fallback_leg() {
                    Some(leg) => self.failover.legs.push_back(leg),
                    None => break,
                }
            }
            let Some(leg) = self.failover.legs.front_mut() else {
                break;
            };
            let Some(dep) = leg.deployments.pop_front() else {
                self.failover.legs.pop_front();
                continue;
            };
            let Some(provider) = st.providers.get(&dep.provider) else {
                continue;
            };
            let (Some(region), Some(permit)) = (
                provider.regions.get(dep.region),
                dep.try_acquire(leg.reserve).ok(),
            ) else {
                continue;
            };
            if !std::mem::take(&mut blameless)
                && !st.retry_budget.may_move(&failed.provider, &dep.provider)
            {
                // No budget for another try at this vendor; one at another vendor is free.
                continue;
            }
            let why_sent = if leg.model_id == self.ctx.model_id {
                Reason::Failover
            } else {
                Reason::Fallback
            };
            if leg.model_id != self.ctx.model_id {
                counter!("switchyard_fallbacks_total", "from" => self.ctx.model_id.clone(), "to" => leg.model_id.clone())
                    .increment(1);
                st.stats.event(Event::Fallback);
                tracing::warn!(from = %self.ctx.model_id, to = %leg.model_id, %reason, "stream failed before its first token everywhere; trying a fallback model");
                self.ctx.model_id.clone_from(&leg.model_id);
            }
            // The next deployment may be another vendor's: its dialect reads the stream.
            self.dialect = provider.dialect;
            st.health.attempt(&dep.provider, &dep.name);
            self.ctx.attempts += 1;
            counter!("switchyard_failovers_total", "provider" => provider.id.clone(), "from_region" => self.ctx.deployment.clone(),
                "kind" => "stream_before_first_token")
            .increment(1);
            st.stats.event(Event::Failover);
            tracing::warn!(provider = %provider.id, from = %self.ctx.deployment, to = %dep.name, %reason, "stream failed before its first token; trying the next deployment");
            let body = body_for(&leg.bodies, &dep);
            let remaining = self.deadline.saturating_duration_since(Instant::now());
            self.ctx.serve_on(&dep);
            let sent = Sent {
                at: std::time::Instant::now(),
                reason: why_sent,
                span: self.ctx.trace_ctx.as_ref().and_then(TraceCtx::attempt_span),
            };
            let mut traced = None;
            self.ctx
                .trace(|t| traced = t.attempt(&dep, &leg.model_id, &sent));
            let trace = self.ctx.trace_ctx.as_ref();
            let trace = trace.and_then(|c| c.upstream_headers(sent.span));
            let to = match leg.api {
                UpstreamApi::Chat => Some(Dest::chat(provider, region)),
                UpstreamApi::Messages => Dest::messages(provider, region),
            };
            let api = leg.api;
            let sent_to = match to {
                Some(to) => {
                    send_upstream(&st.client, to, body, true, remaining, trace.as_ref()).await
                }
                None => Err(UpstreamError::transport(
                    ErrorKind::Unreachable,
                    "the region has no Anthropic-compatible endpoint",
                )),
            };
            if let Err(e) = &sent_to {
                self.ctx.trace(|t| t.fail(traced, e));
            }
            match sent_to {
                Ok(resp) => {
                    self.permit = permit;
                    self.sent = sent.at;
                    let body = crate::upstream::body_stream(resp);
                    self.upstream = match api {
                        UpstreamApi::Chat => body,
                        UpstreamApi::Messages => crate::upstream::messages::chat_stream(body),
                    };
                    self.parser = SseParser::new();
                    self.norm = StreamNormalizer::new();
                    self.held.clear();
                    self.completion_estimate = 0;
                    self.ttft_deadline = (Instant::now() + self.limits.ttft).min(self.deadline);
                    return;
                }
                Err(e) if e.kind.retryable() => {
                    st.health.failure(&dep.provider, &dep.name, &e.message);
                }
                Err(e) => {
                    self.release_held();
                    self.write_data(&json!({ "error": e.to_api_error(&provider.id) }));
                    self.done = true;
                    let (usage, estimated) = self.usage_now();
                    self.record(usage, estimated, Outcome::Interrupted);
                    return;
                }
            }
        }
        self.fail_now("upstream_stream_interrupted", reason);
    }
}

/// A stream's fallback leg to `name`: the model's deployments in order, with the request
/// prepared for its dialect; `None` if the caller's key may not use it or it cannot
/// take the request.
fn fallback_leg(
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
        deployments: t
            .route
            .order(|d| st.health.standing(&d.provider, &d.name))
            .into(),
        bodies: t.bodies,
        api: t.api,
        reserve: t.reserve,
    })
}
