//! The trail of one request: how it was routed, every upstream attempt (deployment,
//! when it started, its first token, how it ended and why it was left), and each usage
//! record with its cost. The most recent [`MAX_TRAILS`] are kept in memory for
//! `GET /admin/requests/{id}`; older requests are answered from the usage log.
//!
//! Bounded: at most [`MAX_TRAILS`] trails, [`MAX_ATTEMPTS`] attempts and
//! [`MAX_RECORDS`] usage records each, error texts cut at [`MAX_ERROR_BYTES`]. A typical
//! trail takes about 2 KiB, so a full store holds about 20 MiB (docs/BENCHMARKS.md).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::trace::SpanId;
use serde::Serialize;
use switchyard_wire::{TokenUsage, UpstreamError};

use crate::routing::deployment::Deployment;
use crate::traceparent::{TraceCtx, span_hex};
use crate::usage::{Outcome, now_ms};

/// Requests whose trails are kept in memory.
pub(crate) const MAX_TRAILS: usize = 10_000;
/// Attempts kept per request (a request makes a handful; the rest are counted).
pub(crate) const MAX_ATTEMPTS: usize = 32;
/// Usage records kept per request (its own, an escalated answer, cancelled hedges).
pub(crate) const MAX_RECORDS: usize = 8;
/// Longest error text kept.
pub(crate) const MAX_ERROR_BYTES: usize = 512;

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Fate {
    /// Still running when the trail was read.
    Running,
    /// It answered (a stream: its first token came; the relay may still have moved on).
    Answered,
    /// It failed; the request went on to another attempt, or ended with its error.
    Failed,
    /// A hedge raced it and won: it was cancelled.
    HedgeLost,
    /// A stream left before its first token, for another deployment.
    Abandoned,
}

/// Why an attempt was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Reason {
    /// The request's first attempt.
    First,
    /// The same deployment again, after it failed and no other was left.
    Retry,
    /// Another deployment of the same model, after a failure (a stream moved before its
    /// first token included).
    Failover,
    /// A race against a slow first attempt.
    Hedge,
    /// A `[fallbacks]` model, after every deployment of the one before failed.
    Fallback,
    /// The next tier up of a virtual model, after a cheap answer failed its check.
    Escalation,
}

impl Reason {
    /// Its name, as in the trail's JSON.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reason::First => "first",
            Reason::Retry => "retry",
            Reason::Failover => "failover",
            Reason::Hedge => "hedge",
            Reason::Fallback => "fallback",
            Reason::Escalation => "escalation",
        }
    }
}

/// An attempt as it went out: when, why, and its span (when spans are exported).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sent {
    /// When it was sent.
    pub(crate) at: Instant,
    /// Why.
    pub(crate) reason: Reason,
    /// Its span id, which its `traceparent` carried.
    pub(crate) span: Option<SpanId>,
}

impl Fate {
    /// Its name, as in the trail's JSON.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Fate::Running => "running",
            Fate::Answered => "answered",
            Fate::Failed => "failed",
            Fate::HedgeLost => "hedge_lost",
            Fate::Abandoned => "abandoned",
        }
    }
}

/// One upstream attempt.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AttemptTrace {
    /// Canonical model id it was for.
    pub(crate) model: String,
    /// Provider id.
    pub(crate) provider: String,
    /// Deployment name.
    pub(crate) deployment: String,
    /// Region label.
    pub(crate) region: String,
    /// Why it was sent.
    pub(crate) reason: Reason,
    /// Its span (the `traceparent` it carried), when spans are exported.
    #[serde(serialize_with = "span_hex", skip_serializing_if = "Option::is_none")]
    pub(crate) span_id: Option<SpanId>,
    /// Sent this long after the request arrived, in milliseconds.
    pub(crate) start_ms: f64,
    /// Its first token, after the request arrived (streams).
    pub(crate) ttft_ms: Option<f64>,
    /// When it ended, after the request arrived.
    pub(crate) end_ms: Option<f64>,
    /// How it ended.
    pub(crate) fate: Fate,
    /// Its error, when it failed.
    pub(crate) error: Option<String>,
    /// The error's class (`upstream_server_error`, `timeout`, …), when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error_type: Option<&'static str>,
    /// The vendor's HTTP status, when it answered with an error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) status: Option<u16>,
}

/// One usage record of the request.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RecordTrace {
    /// Outcome (`completed`, `escalated`, `hedge_cancelled`, …).
    pub(crate) outcome: &'static str,
    /// HTTP status recorded.
    pub(crate) status: u16,
    /// Model, provider and deployment it is billed to.
    pub(crate) model: String,
    /// Provider id.
    pub(crate) provider: String,
    /// Deployment name.
    pub(crate) deployment: String,
    /// Tokens.
    pub(crate) usage: TokenUsage,
    /// Whether the tokens are our estimate.
    pub(crate) estimated: bool,
    /// Cost in nano-dollars.
    pub(crate) cost_nanos: u64,
}

/// The trail of one request.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Trail {
    /// Gateway request id (the client's `x-request-id`, when it sent one).
    pub(crate) request_id: String,
    /// Arrival, in Unix milliseconds.
    pub(crate) received_ms: i64,
    /// Its trace (`trace_id`, and the request's `span_id` when exported).
    #[serde(flatten)]
    pub(crate) trace: Option<TraceCtx>,
    /// The model the client asked for.
    pub(crate) model_asked: String,
    /// How a virtual model routed it (`x-switchyard-route`).
    pub(crate) route: Option<String>,
    /// Final HTTP status (0 while running).
    pub(crate) status: u16,
    /// Why it was refused or failed, when it was.
    pub(crate) error: Option<String>,
    /// Arrival to the end, in milliseconds.
    pub(crate) latency_ms: Option<f64>,
    /// Upstream attempts, in the order they were sent.
    pub(crate) attempts: Vec<AttemptTrace>,
    /// Attempts beyond [`MAX_ATTEMPTS`], counted only.
    pub(crate) attempts_not_kept: u32,
    /// Usage records, in the order they were made.
    pub(crate) records: Vec<RecordTrace>,
    /// The deployments each model tried had, in the order it ranked them (only when
    /// spans are exported).
    #[serde(skip)]
    pub(crate) ranked: Vec<String>,
    /// Arrival, on the wall clock.
    #[serde(skip)]
    pub(crate) received: SystemTime,
    #[serde(skip)]
    started: Option<Instant>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `text`, cut at [`MAX_ERROR_BYTES`] on a character boundary.
fn bounded(text: &str) -> String {
    let mut end = text.len().min(MAX_ERROR_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default().to_string()
}

impl Trail {
    /// A request that arrived at `started` asking for `model`.
    pub(crate) fn new(request_id: &str, model: &str, started: Instant) -> Self {
        let received = SystemTime::now()
            .checked_sub(started.elapsed())
            .unwrap_or_else(SystemTime::now);
        Trail {
            request_id: request_id.to_string(),
            received_ms: now_ms() - i64::try_from(started.elapsed().as_millis()).unwrap_or(0),
            trace: None,
            model_asked: bounded(model),
            route: None,
            status: 0,
            error: None,
            latency_ms: None,
            attempts: Vec::new(),
            attempts_not_kept: 0,
            records: Vec::new(),
            ranked: Vec::new(),
            received,
            started: Some(started),
        }
    }

    fn since(&self, at: Instant) -> f64 {
        self.started
            .map_or(0.0, |s| ms(at.saturating_duration_since(s)))
    }

    /// Whether the request's spans are exported.
    pub(crate) fn exported(&self) -> bool {
        self.trace.as_ref().is_some_and(TraceCtx::exported)
    }

    /// `model` ranked `deployments` in this order (kept only when spans are exported,
    /// at most [`MAX_ATTEMPTS`] names).
    pub(crate) fn ranked<'a>(&mut self, model: &str, deployments: impl Iterator<Item = &'a str>) {
        if !self.exported() {
            return;
        }
        let room = MAX_ATTEMPTS.saturating_sub(self.ranked.len());
        self.ranked
            .extend(deployments.take(room).map(|d| format!("{model}/{d}")));
    }

    /// An attempt on `d` for `model`, `sent`; its index, to finish it later.
    pub(crate) fn attempt(&mut self, d: &Deployment, model: &str, sent: &Sent) -> Option<usize> {
        if self.attempts.len() >= MAX_ATTEMPTS {
            self.attempts_not_kept = self.attempts_not_kept.saturating_add(1);
            return None;
        }
        self.attempts.push(AttemptTrace {
            model: model.to_string(),
            provider: d.provider.clone(),
            deployment: d.name.clone(),
            region: d.region_name.clone(),
            reason: sent.reason,
            span_id: sent.span,
            start_ms: self.since(sent.at),
            ttft_ms: None,
            end_ms: None,
            fate: Fate::Running,
            error: None,
            error_type: None,
            status: None,
        });
        Some(self.attempts.len() - 1)
    }

    /// Attempt `i` ended now with `fate` (and `error`).
    pub(crate) fn end(&mut self, i: Option<usize>, fate: Fate, error: Option<&str>) {
        let now = self.since(Instant::now());
        if let Some(a) = i.and_then(|i| self.attempts.get_mut(i)) {
            a.end_ms = Some(now);
            a.fate = fate;
            a.error = error.map(bounded);
        }
    }

    /// Attempt `i` failed with `e`.
    pub(crate) fn fail(&mut self, i: Option<usize>, e: &UpstreamError) {
        self.end(i, Fate::Failed, Some(&e.message));
        if let Some(a) = i.and_then(|i| self.attempts.get_mut(i)) {
            a.error_type = Some(e.kind.default_code());
            a.status = (e.vendor_status != 0).then_some(e.vendor_status);
        }
    }

    /// Attempt `i` (a stream) answered with its headers: it runs until its first token
    /// or its end.
    pub(crate) fn first_token_pending(&mut self, i: Option<usize>) {
        if let Some(a) = i.and_then(|i| self.attempts.get_mut(i)) {
            a.fate = Fate::Running;
        }
    }

    /// The last attempt's first token came now.
    pub(crate) fn first_token(&mut self) {
        let now = self.since(Instant::now());
        if let Some(a) = self.attempts.last_mut() {
            a.ttft_ms = Some(now);
            a.fate = Fate::Answered;
        }
    }

    /// The last attempt (a stream) is left for another: `why`.
    pub(crate) fn abandon_last(&mut self, why: &str) {
        let last = self.attempts.len().checked_sub(1);
        self.end(last, Fate::Abandoned, Some(why));
    }

    /// A usage record was made.
    pub(crate) fn record(&mut self, r: RecordTrace) {
        if self.records.len() < MAX_RECORDS {
            self.records.push(r);
        }
    }

    /// The request ended with `status` (and `error`).
    pub(crate) fn finish(&mut self, status: u16, error: Option<&str>) {
        self.status = status;
        if error.is_some() {
            self.error = error.map(bounded);
        }
        self.latency_ms = self.started.map(|s| ms(s.elapsed()));
        let end = self.latency_ms;
        for a in &mut self.attempts {
            if a.fate == Fate::Answered && a.end_ms.is_none() {
                a.end_ms = end;
            }
        }
    }
}

/// Whether a usage record with `outcome` ends its request (an escalated answer or a
/// cancelled hedge does not).
pub(crate) fn ends_request(outcome: Outcome) -> bool {
    !matches!(outcome, Outcome::Escalated | Outcome::HedgeCancelled)
}

/// The trails of the most recent requests.
#[derive(Debug, Default)]
pub(crate) struct Trails {
    recent: Mutex<VecDeque<Arc<Trail>>>,
}

impl Trails {
    /// Keep `trail`, forgetting the oldest past [`MAX_TRAILS`]; the trail kept.
    pub(crate) fn keep(&self, trail: Trail) -> Arc<Trail> {
        let trail = Arc::new(trail);
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if recent.len() >= MAX_TRAILS {
            recent.pop_front();
        }
        recent.push_back(Arc::clone(&trail));
        trail
    }

    /// Every kept trail of request `id`, newest first (a client may reuse an id).
    pub(crate) fn find(&self, id: &str) -> Vec<Arc<Trail>> {
        let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        recent
            .iter()
            .rev()
            .filter(|t| t.request_id == id)
            .take(MAX_RECORDS)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::deployment::tests::dep;

    fn at(at: Instant) -> Sent {
        Sent {
            at,
            reason: Reason::First,
            span: None,
        }
    }

    #[test]
    fn a_trail_keeps_each_attempt_with_its_fate_and_times() {
        let t0 = Instant::now();
        let mut t = Trail::new("r1", "deepseek-v4-flash", t0);
        let d = dep("global", 1, 0, None);
        let first = t.attempt(&d, "deepseek-v4-flash", &at(t0));
        t.end(first, Fate::Failed, Some("upstream 503"));
        let b = dep("global-b", 1, 0, None);
        let second = t.attempt(&b, "deepseek-v4-flash", &at(Instant::now()));
        t.end(second, Fate::Answered, None);
        t.finish(200, None);
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["attempts"][0]["deployment"], "global");
        assert_eq!(v["attempts"][0]["fate"], "failed");
        assert_eq!(v["attempts"][0]["error"], "upstream 503");
        assert_eq!(v["attempts"][1]["fate"], "answered");
        assert_eq!(v["status"], 200);
        assert!(v["latency_ms"].as_f64().is_some());
        assert!(v.get("started").is_none());
    }

    #[test]
    fn attempts_and_error_texts_are_bounded() {
        let t0 = Instant::now();
        let mut t = Trail::new("r", "m", t0);
        let d = dep("d", 1, 0, None);
        for _ in 0..MAX_ATTEMPTS + 5 {
            let i = t.attempt(&d, "m", &at(t0));
            t.end(i, Fate::Failed, Some(&"é".repeat(MAX_ERROR_BYTES)));
        }
        assert_eq!(t.attempts.len(), MAX_ATTEMPTS);
        assert_eq!(t.attempts_not_kept, 5);
        let e = t.attempts[0].error.as_deref().unwrap();
        assert!(e.len() <= MAX_ERROR_BYTES && e.chars().all(|c| c == 'é'));
    }

    #[test]
    fn the_store_keeps_the_newest_and_finds_every_trail_of_an_id() {
        let store = Trails::default();
        let t0 = Instant::now();
        for n in 0..MAX_TRAILS + 10 {
            store.keep(Trail::new(&format!("r{n}"), "m", t0));
        }
        assert!(store.find("r0").is_empty(), "the oldest went");
        assert_eq!(store.find(&format!("r{}", MAX_TRAILS + 9)).len(), 1);
        store.keep(Trail::new("dup", "a", t0));
        store.keep(Trail::new("dup", "b", t0));
        let found = store.find("dup");
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].model_asked, "b", "newest first");
    }
}
