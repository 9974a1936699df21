//! W3C trace context (`traceparent`, `tracestate`): the client's, read at intake, and the
//! one each upstream attempt carries.
//!
//! With OTLP export on, every request gets a trace: the client's trace id when it sent a
//! valid `traceparent` (its span becomes our request span's parent), else a new random
//! one; the request span's id is made up front, each attempt's when it is sent, and the
//! attempt's request carries `traceparent: 00-<trace id>-<attempt span id>-<flags>`.
//! With export off, a client's valid `traceparent` (and `tracestate`) is passed upstream
//! unchanged, so the vendor's spans join the client's trace and the gateway stays out of
//! it; without one, nothing is made or sent. An invalid header is ignored, never an
//! error.

use axum::http::{HeaderMap, HeaderValue};
use opentelemetry::trace::{SpanId, TraceFlags, TraceId};
use serde::{Serialize, Serializer};

/// Longest `tracestate` passed on (W3C: 32 members of at most 256 bytes each, and
/// vendors may cut at 512; longer ones are dropped whole).
const MAX_TRACESTATE: usize = 8192;

/// A client's `traceparent`, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parent {
    /// Its trace id (never all zeros).
    pub(crate) trace_id: TraceId,
    /// The client's span (never all zeros).
    pub(crate) span_id: SpanId,
    /// Its flags (bit 0: sampled).
    pub(crate) flags: TraceFlags,
}

/// `n` lowercase hex digits as bytes; `None` if any is not.
fn hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digits = text.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        *byte = (nibble(*pair.first()?)? << 4) | nibble(*pair.get(1)?)?;
    }
    Some(out)
}

/// Parse a `traceparent` value (W3C Trace Context level 1): `00-<32 hex>-<16 hex>-<2 hex>`,
/// lowercase, ids not all zeros. A later version (not `ff`) may add fields after a `-`;
/// version `00` may not.
pub(crate) fn parse(value: &str) -> Option<Parent> {
    let value = value.trim_matches([' ', '\t']);
    let version = hex::<1>(value.get(..2)?)?[0];
    if version == 0xff || value.get(2..3)? != "-" {
        return None;
    }
    let rest = value.get(3..)?;
    let fields = rest.get(..52)?;
    match rest.get(52..) {
        Some("") => {}
        Some(more) if version > 0 && more.starts_with('-') => {}
        _ => return None,
    }
    let mut parts = fields.split('-');
    let trace = hex::<16>(parts.next()?)?;
    let span = hex::<8>(parts.next()?)?;
    let flags = hex::<1>(parts.next()?)?[0];
    let trace_id = TraceId::from_bytes(trace);
    let span_id = SpanId::from_bytes(span);
    if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
        return None;
    }
    Some(Parent {
        trace_id,
        span_id,
        flags: TraceFlags::new(flags),
    })
}

/// A new random span id (never all zeros).
pub(crate) fn new_span_id() -> SpanId {
    loop {
        let id = SpanId::from_bytes(rand::random());
        if id != SpanId::INVALID {
            return id;
        }
    }
}

/// A new random trace id (never all zeros).
fn new_trace_id() -> TraceId {
    loop {
        let id = TraceId::from_bytes(rand::random());
        if id != TraceId::INVALID {
            return id;
        }
    }
}

/// The trace one request belongs to.
#[derive(Debug, Clone)]
pub(crate) struct TraceCtx {
    /// The client's trace id, or a new one.
    pub(crate) trace_id: TraceId,
    /// The request's own span, when its spans are exported.
    pub(crate) span_id: Option<SpanId>,
    /// The client's span, when it sent a `traceparent`.
    pub(crate) parent: Option<SpanId>,
    /// Flags passed on (the client's, or sampled for a new trace).
    pub(crate) flags: TraceFlags,
    /// The client's `tracestate`, passed on as it came.
    pub(crate) state: Option<HeaderValue>,
    /// `max_tokens` the client asked for (for the request span).
    pub(crate) max_tokens: Option<u64>,
    /// `temperature` the client asked for (for the request span).
    pub(crate) temperature: Option<f64>,
}

impl TraceCtx {
    /// The request's trace, read from its `headers`: with `export` on, always (the
    /// client's trace or a new one, and a span id for the request); with it off, only
    /// when the client sent a valid `traceparent`.
    pub(crate) fn from_headers(headers: &HeaderMap, export: bool) -> Option<TraceCtx> {
        let parent = headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(parse);
        if parent.is_none() && !export {
            return None;
        }
        let state = parent
            .and(headers.get("tracestate"))
            .filter(|v| !v.is_empty() && v.len() <= MAX_TRACESTATE)
            .cloned();
        let flags = parent.map_or(TraceFlags::SAMPLED, |p| p.flags);
        Some(TraceCtx {
            trace_id: parent.map_or_else(new_trace_id, |p| p.trace_id),
            span_id: (export && flags.is_sampled()).then(new_span_id),
            parent: parent.map(|p| p.span_id),
            flags,
            state,
            max_tokens: None,
            temperature: None,
        })
    }

    /// Whether the request's spans are exported: export is on and the client, if it
    /// sent a trace, sampled it (then the request has a span id of its own).
    pub(crate) fn exported(&self) -> bool {
        self.span_id.is_some()
    }

    /// The span id an attempt sent now gets: a new one when spans are exported, none
    /// otherwise (the client's `traceparent` then goes upstream unchanged).
    pub(crate) fn attempt_span(&self) -> Option<SpanId> {
        self.exported().then(new_span_id)
    }

    /// The `traceparent` and `tracestate` an attempt with span `attempt` carries: our
    /// attempt's span as the parent when it has one, else the client's own span.
    pub(crate) fn upstream_headers(&self, attempt: Option<SpanId>) -> Option<TraceHeaders> {
        let span = attempt.or(self.parent)?;
        let value = format!("00-{}-{}-{:02x}", self.trace_id, span, self.flags.to_u8());
        Some(TraceHeaders {
            traceparent: HeaderValue::from_str(&value).ok()?,
            tracestate: self.state.clone(),
        })
    }
}

/// The trace headers one upstream request carries.
#[derive(Debug, Clone)]
pub(crate) struct TraceHeaders {
    /// `traceparent`.
    pub(crate) traceparent: HeaderValue,
    /// `tracestate`, when the client sent one.
    pub(crate) tracestate: Option<HeaderValue>,
}

impl Serialize for TraceCtx {
    /// In a trail: `trace_id`, and `span_id` / `parent_span_id` when there are.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("TraceCtx", 3)?;
        st.serialize_field("trace_id", &self.trace_id.to_string())?;
        st.serialize_field("span_id", &self.span_id.map(|s| s.to_string()))?;
        st.serialize_field("parent_span_id", &self.parent.map(|s| s.to_string()))?;
        st.end()
    }
}

/// A span id as 16 hex digits, for `#[serde(serialize_with)]`.
pub(crate) fn span_hex<S: Serializer>(id: &Option<SpanId>, s: S) -> Result<S::Ok, S::Error> {
    match id {
        Some(id) => s.serialize_str(&id.to_string()),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_gives_its_ids_and_flags() {
        let p = parse(GOOD).unwrap();
        assert_eq!(p.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(p.span_id.to_string(), "00f067aa0ba902b7");
        assert!(p.flags.is_sampled());
        let p = parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").unwrap();
        assert!(!p.flags.is_sampled());
        // A later version may add fields; its first four are read.
        assert!(parse(&format!("cc{}-what-comes-next", &GOOD[2..])).is_some());
        assert!(
            parse(&format!(" {GOOD}\t")).is_some(),
            "optional whitespace"
        );
    }

    #[test]
    fn hostile_or_malformed_traceparents_are_ignored() {
        let long = format!("{GOOD}{}", "-0".repeat(10_000));
        for bad in [
            "",
            "00",
            "00-",
            &GOOD[..GOOD.len() - 1],
            &format!("{GOOD}0"),
            &format!("{GOOD}-00"), // version 00 has no more fields
            &long,
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", // version ff
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01", // zero trace
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", // zero span
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", // uppercase
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01", // not hex
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
            "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-701",
            "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0é",
            "é0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn with_export_on_the_clients_trace_is_joined_and_each_attempt_is_a_new_span() {
        let h = headers(&[("traceparent", GOOD), ("tracestate", "congo=t61rcWkgMzE")]);
        let t = TraceCtx::from_headers(&h, true).unwrap();
        assert_eq!(t.trace_id.to_string(), &GOOD[3..35]);
        assert_eq!(t.parent.unwrap().to_string(), &GOOD[36..52]);
        assert!(t.exported());
        let span = t.attempt_span().unwrap();
        assert_ne!(Some(span), t.parent);
        assert_ne!(Some(span), t.span_id);
        let up = t.upstream_headers(Some(span)).unwrap();
        assert_eq!(
            up.traceparent.to_str().unwrap(),
            format!("00-{}-{span}-01", &GOOD[3..35])
        );
        assert_eq!(up.tracestate.unwrap(), "congo=t61rcWkgMzE");
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["trace_id"], &GOOD[3..35]);
        assert_eq!(json["parent_span_id"], &GOOD[36..52]);
    }

    #[test]
    fn with_export_on_and_no_client_trace_a_new_sampled_one_starts() {
        let t = TraceCtx::from_headers(&headers(&[("traceparent", "junk")]), true).unwrap();
        assert_eq!(t.parent, None);
        assert!(t.exported() && t.state.is_none());
        let other = TraceCtx::from_headers(&HeaderMap::new(), true).unwrap();
        assert_ne!(t.trace_id, other.trace_id);
    }

    #[test]
    fn with_export_off_the_clients_traceparent_goes_upstream_unchanged() {
        assert!(TraceCtx::from_headers(&HeaderMap::new(), false).is_none());
        assert!(TraceCtx::from_headers(&headers(&[("tracestate", "a=b")]), false).is_none());
        let t = TraceCtx::from_headers(&headers(&[("traceparent", GOOD)]), false).unwrap();
        assert!(!t.exported());
        assert_eq!(t.attempt_span(), None);
        let up = t.upstream_headers(None).unwrap();
        assert_eq!(up.traceparent.to_str().unwrap(), GOOD);
    }

    #[test]
    fn an_unsampled_client_trace_is_passed_on_but_not_exported() {
        let unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
        let t = TraceCtx::from_headers(&headers(&[("traceparent", unsampled)]), true).unwrap();
        assert!(!t.exported() && t.span_id.is_none());
        assert_eq!(
            t.upstream_headers(t.attempt_span())
                .unwrap()
                .traceparent
                .to_str()
                .unwrap(),
            unsampled
        );
    }
}
