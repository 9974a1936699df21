//! The context one request carries down the path once it is admitted: who asked, which
//! model, provider, region and deployment serve it, when it started — and the one way
//! its usage is recorded (metrics, usage log, the key's spend), however it ends.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use metrics::counter;
use switchyard_catalog::Price;
use switchyard_wire::TokenUsage;

use crate::keys::Admission;
use crate::reasoning::Conversation;
use crate::routing::deployment::Deployment;
use crate::series::{AttemptDone, Class, Done};
use crate::state::AppState;
use crate::traceparent::TraceCtx;
use crate::trail::{Fate, RecordTrace, Trail, ends_request};
use crate::usage::{self, Endpoint, Outcome, UsageRecord};

/// Per-request facts used to record usage, whichever way the request ends.
pub(crate) struct RequestCtx {
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
    /// What that deployment bills (`None` until one is tried: the model's list price).
    pub price: Option<Arc<Price>>,
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
    /// The API it came in by.
    pub endpoint: Endpoint,
    /// The caller's conversation, for remembering the reasoning behind tool calls (only
    /// when the request offers tools).
    pub conversation: Option<Conversation>,
    /// Its trail, kept in [`AppState::trails`] once it ends (taken then).
    pub trail: Mutex<Option<Trail>>,
    /// Its W3C trace, when OTLP export is on or the client sent a `traceparent`.
    pub trace_ctx: Option<TraceCtx>,
}

impl RequestCtx {
    /// The request is (now) served by `d`: its vendor, region and price are the ones
    /// recorded.
    pub(crate) fn serve_on(&mut self, d: &Deployment) {
        self.provider.clone_from(&d.provider);
        self.region.clone_from(&d.region_name);
        self.deployment.clone_from(&d.name);
        self.price = Some(Arc::clone(&d.price));
    }

    /// Record usage for this request; returns its cost in nano-dollars.
    pub(crate) fn record(&self, usage: TokenUsage, estimated: bool, outcome: Outcome) -> u64 {
        let status = match outcome {
            Outcome::ClientDisconnected => 499,
            _ => 200,
        };
        self.record_in(
            (&self.region, &self.deployment),
            self.price.as_deref(),
            usage,
            estimated,
            outcome,
            status,
        )
    }

    /// Record a request that failed with `status` before any answer (no spend), for
    /// `why`.
    pub(crate) fn record_failure(&self, status: StatusCode, why: &str) {
        self.trace(|t| t.error = Some(why.to_string()));
        self.record_in(
            (&self.region, &self.deployment),
            self.price.as_deref(),
            TokenUsage::default(),
            false,
            Outcome::Failed,
            status.as_u16(),
        );
    }

    /// Add to the request's trail (nothing once it has ended).
    pub(crate) fn trace(&self, f: impl FnOnce(&mut Trail)) {
        let mut trail = self.trail.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = trail.as_mut() {
            f(t);
        }
    }

    /// Record the estimated spend of an extra attempt of this request on deployment `d`
    /// (a cancelled hedge), apart from the request's own record.
    pub(crate) fn record_attempt(&self, d: &Deployment, usage: TokenUsage, outcome: Outcome) {
        self.record_in(
            (&d.region_name, &d.name),
            Some(&d.price),
            usage,
            true,
            outcome,
            499,
        );
    }

    fn record_in(
        &self,
        (region, deployment): (&str, &str),
        price: Option<&Price>,
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
                endpoint: self.endpoint,
                usage,
                estimated,
                outcome,
                price: price.unwrap_or(&model.price),
                latency: self.started.elapsed(),
            },
            self.st.model_metrics(&self.model_id, &self.provider),
            self.st.usage.as_ref(),
        );
        self.st.spend.add(
            key.map(|k| k.id.as_str()),
            key.and_then(|k| k.team.as_deref()),
            &self.model_id,
            nanos,
        );
        self.trace(|t| {
            t.record(RecordTrace {
                outcome: outcome.as_str(),
                status,
                model: self.model_id.clone(),
                provider: self.provider.clone(),
                deployment: deployment.to_string(),
                usage,
                estimated,
                cost_nanos: nanos,
            });
        });
        if ends_request(outcome) {
            let class = match Class::of_status(status) {
                // Every deployment failed: the upstream's doing, whatever status it chose.
                c if c.is_server() && outcome == Outcome::Failed => Class::Upstream,
                c => c,
            };
            let done = Done {
                class,
                latency: self.started.elapsed(),
                ttft: self.ttft,
                output_tokens: usage.completion,
            };
            self.keep_trail(status, &done);
        }
        if let Some(a) = &self.admission {
            if matches!(outcome, Outcome::HedgeCancelled | Outcome::Escalated) {
                a.add_spend(nanos);
            } else {
                a.settle(usage.total(), nanos);
            }
        }
        nanos
    }

    /// The request ended with `status`: it is counted in the series (with each of its
    /// attempts, against their deployments) and its trail goes to the store.
    fn keep_trail(&self, status: u16, done: &Done) {
        let taken = self
            .trail
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(mut t) = taken else {
            self.st.stats.add(Some(&self.model_id), done, &[]);
            return;
        };
        t.route.clone_from(&self.route);
        t.finish(status, None);
        let attempts: Vec<AttemptDone<'_>> = t
            .attempts
            .iter()
            .filter_map(|a| {
                let class = match a.fate {
                    Fate::Answered => Class::Ok,
                    Fate::Failed | Fate::Abandoned => Class::Upstream,
                    Fate::HedgeLost | Fate::Running => return None,
                };
                let since_sent =
                    |ms: f64| Duration::from_secs_f64((ms - a.start_ms).max(0.0) / 1e3);
                Some(AttemptDone {
                    provider: &a.provider,
                    deployment: &a.deployment,
                    done: Done {
                        class,
                        latency: since_sent(a.end_ms.or(t.latency_ms).unwrap_or(a.start_ms)),
                        ttft: a.ttft_ms.map(since_sent),
                        output_tokens: if class == Class::Ok {
                            done.output_tokens
                        } else {
                            0
                        },
                    },
                })
            })
            .collect();
        self.st.stats.add(Some(&self.model_id), done, &attempts);
        drop(attempts);
        let kept = self.st.trails.keep(t);
        if let Some(otel) = &self.st.otel {
            otel.submit(kept);
        }
    }

    /// Count the request under `switchyard_requests_total` with its final `status`.
    pub(crate) fn count(&self, status: StatusCode) {
        match self.st.model_metrics(&self.model_id, &self.provider) {
            Some(m) if status == StatusCode::OK => m.requests_ok.increment(1),
            _ => counter!("switchyard_requests_total", "model" => self.model_id.clone(), "provider" => self.provider.clone(),
                "status" => status.as_str().to_string())
            .increment(1),
        }
    }
}
