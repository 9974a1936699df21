//! A finished request's trail as OpenTelemetry spans: the request (`chat {model}`,
//! SERVER, the client's span as its parent), its routing decision (`route`) and one
//! CLIENT span per upstream attempt, each with explicit ids and times taken from the
//! trail, and attributes named as the GenAI semantic conventions name them.

use std::borrow::Cow;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceState};
use opentelemetry::{InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

use crate::traceparent::{TraceCtx, new_span_id};
use crate::trail::{AttemptTrace, Fate, RecordTrace, Trail};
use crate::usage::Outcome;

/// The spans of `trail` (none unless it has a trace that is exported).
pub(super) fn spans(trail: &Trail, scope: &InstrumentationScope) -> Vec<SpanData> {
    let Some(trace) = trail.trace.as_ref().filter(|t| t.exported()) else {
        return Vec::new();
    };
    let Some(root_id) = trace.span_id else {
        return Vec::new();
    };
    let b = Builder {
        trail,
        trace,
        scope,
        state: trace
            .state
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .and_then(|s| TraceState::from_str(s).ok())
            .unwrap_or_default(),
        end: at(trail, trail.latency_ms.unwrap_or(0.0)),
        answer: answer(trail),
    };
    let mut out = Vec::with_capacity(2 + trail.attempts.len());
    out.push(b.request(root_id));
    out.push(b.route(root_id));
    let last_answered = trail
        .attempts
        .iter()
        .rposition(|a| a.fate == Fate::Answered);
    for (i, a) in trail.attempts.iter().enumerate() {
        out.push(b.attempt(root_id, a, Some(i) == last_answered));
    }
    out
}

/// The `gen_ai.system` (`gen_ai.provider.name`) of provider `id`: the semantic
/// conventions' name where they list the vendor, else the provider id.
fn gen_ai_system(id: &str) -> Cow<'static, str> {
    match id {
        "mistral" => "mistral_ai".into(),
        "xai" => "x_ai".into(),
        "bedrock" => "aws.bedrock".into(),
        "gemini" => "gcp.gemini".into(),
        "watsonx" => "ibm.watsonx.ai".into(),
        other => Cow::Owned(other.to_string()),
    }
}

/// `ms` after the request arrived, on the wall clock.
fn at(trail: &Trail, ms: f64) -> SystemTime {
    let after = Duration::try_from_secs_f64(ms.max(0.0) / 1000.0).unwrap_or_default();
    trail.received + after
}

/// The usage record of the answer the client got (not an escalated first answer or a
/// cancelled hedge).
fn answer(trail: &Trail) -> Option<&RecordTrace> {
    let escalated = Outcome::Escalated.as_str();
    let cancelled = Outcome::HedgeCancelled.as_str();
    trail
        .records
        .iter()
        .rev()
        .find(|r| r.outcome != escalated && r.outcome != cancelled)
}

fn kv(key: &'static str, value: impl Into<Value>) -> KeyValue {
    KeyValue::new(key, value)
}

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// What every span of one trail shares.
struct Builder<'a> {
    trail: &'a Trail,
    trace: &'a TraceCtx,
    scope: &'a InstrumentationScope,
    state: TraceState,
    /// When the request ended.
    end: SystemTime,
    /// The record of its answer, if it had one.
    answer: Option<&'a RecordTrace>,
}

impl Builder<'_> {
    fn span(&self, id: SpanId, parent: Option<SpanId>, name: String) -> SpanData {
        SpanData {
            span_context: SpanContext::new(
                self.trace.trace_id,
                id,
                self.trace.flags,
                false,
                self.state.clone(),
            ),
            parent_span_id: parent.unwrap_or(SpanId::INVALID),
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: Cow::Owned(name),
            start_time: self.trail.received,
            end_time: self.end,
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: self.scope.clone(),
        }
    }

    /// The request's own span.
    fn request(&self, id: SpanId) -> SpanData {
        let t = self.trail;
        let name = if t.model_asked.is_empty() {
            "chat".to_string()
        } else {
            format!("chat {}", t.model_asked)
        };
        let mut s = self.span(id, self.trace.parent, name);
        s.parent_span_is_remote = self.trace.parent.is_some();
        s.span_kind = SpanKind::Server;
        let cost: u64 = t.records.iter().map(|r| r.cost_nanos).sum();
        let mut attrs = vec![
            kv("gen_ai.operation.name", "chat"),
            kv("gen_ai.request.model", t.model_asked.clone()),
            kv("http.response.status_code", i64::from(t.status)),
            kv("switchyard.request_id", t.request_id.clone()),
            kv("switchyard.cost_usd", cost as f64 / 1e9),
            kv(
                "switchyard.attempts",
                int(t.attempts.len() as u64 + u64::from(t.attempts_not_kept)),
            ),
        ];
        let provider = self
            .answer
            .map(|r| r.provider.as_str())
            .or_else(|| t.attempts.last().map(|a| a.provider.as_str()));
        if let Some(p) = provider {
            attrs.push(kv("gen_ai.system", gen_ai_system(p)));
            attrs.push(kv("gen_ai.provider.name", gen_ai_system(p)));
        }
        if let Some(r) = self.answer.filter(|r| r.status < 400) {
            attrs.extend(usage_attrs(r));
        }
        if let Some(n) = self.trace.max_tokens {
            attrs.push(kv("gen_ai.request.max_tokens", int(n)));
        }
        if let Some(x) = self.trace.temperature {
            attrs.push(kv("gen_ai.request.temperature", x));
        }
        if let Some(route) = &t.route {
            attrs.push(kv("switchyard.route", route.clone()));
        }
        if t.status >= 400 {
            let class = t
                .attempts
                .last()
                .filter(|_| t.status >= 500)
                .and_then(|a| a.error_type)
                .map_or_else(|| t.status.to_string(), str::to_string);
            attrs.push(kv("error.type", class));
        }
        // A server span's 4xx is the client's error, not ours (semantic conventions).
        if t.status >= 500 || t.status == 0 {
            let why = t
                .error
                .clone()
                .unwrap_or_else(|| format!("HTTP {}", t.status));
            s.status = Status::error(why);
        }
        s.attributes = attrs;
        s
    }

    /// The routing decision: the model resolved, a virtual model's route, and the
    /// deployments in the order they were ranked; from arrival to the first attempt.
    fn route(&self, root: SpanId) -> SpanData {
        let t = self.trail;
        let mut s = self.span(new_span_id(), Some(root), "route".into());
        if let Some(first) = t.attempts.first() {
            s.end_time = at(t, first.start_ms).min(self.end);
        }
        let mut attrs = vec![kv("gen_ai.request.model", t.model_asked.clone())];
        let model = t
            .attempts
            .first()
            .map(|a| a.model.as_str())
            .or_else(|| self.answer.map(|r| r.model.as_str()));
        if let Some(m) = model {
            attrs.push(kv("switchyard.model", m.to_string()));
        }
        if let Some(route) = &t.route {
            attrs.push(kv("switchyard.route", route.clone()));
        }
        if !t.ranked.is_empty() {
            let names: Vec<StringValue> = t.ranked.iter().map(|d| d.clone().into()).collect();
            attrs.push(KeyValue::new(
                "switchyard.route.deployments",
                Value::Array(names.into()),
            ));
        }
        s.attributes = attrs;
        s
    }

    /// One upstream attempt; `answered` is the one whose answer the client got.
    fn attempt(&self, root: SpanId, a: &AttemptTrace, answered: bool) -> SpanData {
        let t = self.trail;
        let id = a.span_id.unwrap_or_else(new_span_id);
        let name = format!("chat {} {}", a.model, a.deployment);
        let mut s = self.span(id, Some(root), name);
        s.span_kind = SpanKind::Client;
        s.start_time = at(t, a.start_ms);
        s.end_time = a.end_ms.map_or(self.end, |ms| at(t, ms)).max(s.start_time);
        let mut attrs = vec![
            kv("gen_ai.operation.name", "chat"),
            kv("gen_ai.system", gen_ai_system(&a.provider)),
            kv("gen_ai.provider.name", gen_ai_system(&a.provider)),
            kv("gen_ai.request.model", a.model.clone()),
            kv("switchyard.provider", a.provider.clone()),
            kv("switchyard.deployment", a.deployment.clone()),
            kv("switchyard.region", a.region.clone()),
            kv("switchyard.attempt.reason", a.reason.as_str()),
            kv("switchyard.attempt.fate", a.fate.as_str()),
        ];
        if let Some(ttft) = a.ttft_ms {
            attrs.push(kv(
                "gen_ai.response.time_to_first_token",
                (ttft - a.start_ms).max(0.0) / 1000.0,
            ));
        }
        if let Some(status) = a.status {
            attrs.push(kv("http.response.status_code", i64::from(status)));
        }
        if let Some(class) = a.error_type {
            attrs.push(kv("error.type", class));
        }
        if answered && let Some(r) = self.answer {
            attrs.extend(usage_attrs(r));
        }
        if matches!(a.fate, Fate::Failed | Fate::Abandoned) {
            s.status = Status::error(a.error.clone().unwrap_or_default());
        }
        s.attributes = attrs;
        s
    }
}

/// The answer's model and tokens.
fn usage_attrs(r: &RecordTrace) -> [KeyValue; 3] {
    [
        kv("gen_ai.response.model", r.model.clone()),
        kv("gen_ai.usage.input_tokens", int(r.usage.prompt)),
        kv("gen_ai.usage.output_tokens", int(r.usage.completion)),
    ]
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use axum::http::{HeaderMap, HeaderValue};
    use switchyard_wire::{ErrorKind, TokenUsage, UpstreamError};

    use super::*;
    use crate::routing::deployment::tests::dep;
    use crate::traceparent::new_span_id;
    use crate::trail::{Reason, Sent};

    const CLIENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn scope() -> InstrumentationScope {
        InstrumentationScope::builder("switchyard").build()
    }

    fn trace(traceparent: Option<&str>) -> Option<TraceCtx> {
        let mut h = HeaderMap::new();
        if let Some(tp) = traceparent {
            h.insert("traceparent", HeaderValue::from_str(tp).unwrap());
        }
        TraceCtx::from_headers(&h, true)
    }

    fn attr<'a>(s: &'a SpanData, key: &str) -> Option<&'a Value> {
        s.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| &kv.value)
    }

    fn text(s: &SpanData, key: &str) -> String {
        attr(s, key)
            .map(|v| v.as_str().into_owned())
            .unwrap_or_default()
    }

    fn sent(reason: Reason) -> Sent {
        Sent {
            at: Instant::now(),
            reason,
            span: Some(new_span_id()),
        }
    }

    /// A request that failed over once: its first deployment answered 503, the second
    /// answered with 12 + 34 tokens.
    fn failed_over_once() -> Trail {
        let mut t = Trail::new("req-1", "deepseek-chat", Instant::now());
        let mut ctx = trace(Some(CLIENT)).unwrap();
        ctx.max_tokens = Some(64);
        ctx.temperature = Some(0.5);
        t.trace = Some(ctx);
        t.ranked("deepseek-v4-flash", ["global", "cn"].into_iter());
        let first = t.attempt(
            &dep("global", 1, 0, None),
            "deepseek-v4-flash",
            &sent(Reason::First),
        );
        let mut e = UpstreamError::transport(ErrorKind::Server, "upstream 503");
        e.vendor_status = 503;
        t.fail(first, &e);
        let second = t.attempt(
            &dep("cn", 1, 0, None),
            "deepseek-v4-flash",
            &sent(Reason::Failover),
        );
        t.end(second, Fate::Answered, None);
        t.record(RecordTrace {
            outcome: Outcome::Completed.as_str(),
            status: 200,
            model: "deepseek-v4-flash".into(),
            provider: "deepseek".into(),
            deployment: "cn".into(),
            usage: TokenUsage {
                prompt: 12,
                completion: 34,
                ..TokenUsage::default()
            },
            estimated: false,
            cost_nanos: 1_500,
        });
        t.finish(200, None);
        t
    }

    #[test]
    fn a_failover_makes_a_request_span_with_its_route_and_two_attempts() {
        let t = failed_over_once();
        let made = spans(&t, &scope());
        assert_eq!(made.len(), 4);
        let [root, route, first, second] = [&made[0], &made[1], &made[2], &made[3]];
        // The request joins the client's trace under the client's span.
        let trace_id = root.span_context.trace_id();
        assert_eq!(trace_id.to_string(), &CLIENT[3..35]);
        assert_eq!(root.parent_span_id.to_string(), &CLIENT[36..52]);
        assert!(root.parent_span_is_remote);
        assert_eq!(root.span_kind, SpanKind::Server);
        assert_eq!(root.name, "chat deepseek-chat");
        assert_eq!(
            Some(root.span_context.span_id()),
            t.trace.as_ref().unwrap().span_id
        );
        for child in [route, first, second] {
            assert_eq!(child.span_context.trace_id(), trace_id);
            assert_eq!(child.parent_span_id, root.span_context.span_id());
            assert!(child.start_time >= root.start_time && child.end_time <= root.end_time);
        }
        assert_eq!(route.name, "route");
        assert_eq!(text(route, "switchyard.model"), "deepseek-v4-flash");
        assert!(matches!(
            attr(route, "switchyard.route.deployments"),
            Some(Value::Array(_))
        ));
        // GenAI attributes of the request.
        assert_eq!(text(root, "gen_ai.operation.name"), "chat");
        assert_eq!(text(root, "gen_ai.system"), "deepseek");
        assert_eq!(text(root, "gen_ai.request.model"), "deepseek-chat");
        assert_eq!(text(root, "gen_ai.response.model"), "deepseek-v4-flash");
        assert_eq!(
            attr(root, "gen_ai.usage.input_tokens"),
            Some(&Value::I64(12))
        );
        assert_eq!(
            attr(root, "gen_ai.usage.output_tokens"),
            Some(&Value::I64(34))
        );
        assert_eq!(
            attr(root, "gen_ai.request.max_tokens"),
            Some(&Value::I64(64))
        );
        assert_eq!(
            attr(root, "gen_ai.request.temperature"),
            Some(&Value::F64(0.5))
        );
        assert_eq!(
            attr(root, "http.response.status_code"),
            Some(&Value::I64(200))
        );
        assert_eq!(attr(root, "switchyard.cost_usd"), Some(&Value::F64(1.5e-6)));
        assert_eq!(text(root, "switchyard.request_id"), "req-1");
        assert_eq!(root.status, Status::Unset);
        // The attempts: their own span ids (the traceparent each carried), why each was
        // sent and how it ended.
        assert_eq!(first.span_kind, SpanKind::Client);
        assert_eq!(first.name, "chat deepseek-v4-flash global");
        assert_eq!(Some(first.span_context.span_id()), t.attempts[0].span_id);
        assert_eq!(text(first, "switchyard.attempt.reason"), "first");
        assert_eq!(text(first, "switchyard.attempt.fate"), "failed");
        assert_eq!(text(first, "error.type"), "upstream_server_error");
        assert_eq!(
            attr(first, "http.response.status_code"),
            Some(&Value::I64(503))
        );
        assert!(
            matches!(&first.status, Status::Error { description } if description == "upstream 503")
        );
        assert_eq!(Some(second.span_context.span_id()), t.attempts[1].span_id);
        assert_eq!(text(second, "switchyard.attempt.reason"), "failover");
        assert_eq!(text(second, "switchyard.attempt.fate"), "answered");
        assert_eq!(text(second, "switchyard.deployment"), "cn");
        assert_eq!(text(second, "gen_ai.response.model"), "deepseek-v4-flash");
        assert_eq!(
            attr(second, "gen_ai.usage.output_tokens"),
            Some(&Value::I64(34))
        );
        assert_eq!(second.status, Status::Unset);
        assert_eq!(attr(first, "gen_ai.usage.output_tokens"), None);
    }

    #[test]
    fn a_request_refused_before_any_attempt_is_one_request_and_its_route() {
        let mut t = Trail::new("req-2", "", Instant::now());
        t.trace = trace(None);
        t.finish(400, Some("messages must not be empty"));
        let made = spans(&t, &scope());
        assert_eq!(made.len(), 2);
        let root = &made[0];
        assert_eq!(root.name, "chat");
        assert_eq!(root.parent_span_id, SpanId::INVALID);
        assert!(!root.parent_span_is_remote);
        assert_eq!(text(root, "error.type"), "400");
        // A client's mistake is not the server span's error.
        assert_eq!(root.status, Status::Unset);
        assert_eq!(attr(root, "gen_ai.response.model"), None);
        let mut t = Trail::new("req-3", "m", Instant::now());
        t.trace = trace(None);
        t.finish(502, Some("every deployment failed"));
        let root = &spans(&t, &scope())[0];
        assert!(matches!(root.status, Status::Error { .. }));
    }

    #[test]
    fn nothing_is_made_for_a_trail_that_is_not_exported() {
        let mut t = failed_over_once();
        let unsampled = format!("{}00", &CLIENT[..CLIENT.len() - 2]);
        let mut h = HeaderMap::new();
        h.insert("traceparent", HeaderValue::from_str(&unsampled).unwrap());
        t.trace = TraceCtx::from_headers(&h, true);
        assert!(spans(&t, &scope()).is_empty());
        t.trace = None;
        assert!(spans(&t, &scope()).is_empty());
    }

    #[test]
    fn vendors_the_conventions_name_get_their_name() {
        assert_eq!(gen_ai_system("deepseek"), "deepseek");
        assert_eq!(gen_ai_system("mistral"), "mistral_ai");
        assert_eq!(gen_ai_system("dashscope"), "dashscope");
    }
}
