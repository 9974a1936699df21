//! Stage 6, reply: the answer as the client asked for it — JSON, a live relayed stream
//! (which may still move before its first token), or a held stream replayed from a whole
//! answer — with the `x-switchyard-*` headers that say who served it, how and at what
//! cost.

use std::collections::VecDeque;

use axum::body::{Body, Bytes};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use switchyard_wire::replay::completion_to_chunks;
use switchyard_wire::{Adjustment, ChatCompletion};

use super::Progress;
use super::admit::Inflight;
use crate::ctx::RequestCtx;
use crate::dispatch::{Answer, Tried};
use crate::error::GatewayError;
use crate::plan::UpstreamApi;
use crate::relay::{Attempt, Failover, Leg, PendingFallbacks, Relay, cost_comment};
use crate::respond::json_response;
use crate::usage::Outcome;

/// What the `x-switchyard-*` response headers say.
#[derive(Debug, Clone, Copy)]
pub(super) struct Served<'a> {
    /// Gateway request id.
    pub(super) request_id: &'a str,
    /// Canonical id of the model that answered.
    pub(super) model: &'a str,
    /// Its provider.
    pub(super) provider: &'a str,
    /// The region and deployment that answered.
    pub(super) region: &'a str,
    /// The deployment that answered.
    pub(super) deployment: &'a str,
    /// Upstream attempts made.
    pub(super) attempts: u32,
    /// `x-ratelimit-*` headers of the caller's key.
    pub(super) rate_limits: &'a [(HeaderName, HeaderValue)],
    /// How a virtual model routed the request.
    pub(super) route: Option<&'a str>,
    /// The vendor's request id.
    pub(super) upstream_request_id: Option<&'a HeaderValue>,
    /// The model the request fell back from.
    pub(super) fell_back_from: Option<&'a str>,
    /// What was changed for the vendor.
    pub(super) adjustments: &'a [Adjustment],
    /// The vendor API it was sent to.
    pub(super) api: UpstreamApi,
}

impl<'a> Served<'a> {
    /// The facts of `ctx` after `attempts`.
    pub(super) fn of(ctx: &'a RequestCtx, progress: &'a Progress<'_>) -> Self {
        Served {
            request_id: &ctx.request_id,
            model: &ctx.model_id,
            provider: &ctx.provider,
            region: &ctx.region,
            deployment: &ctx.deployment,
            attempts: progress.attempts,
            rate_limits: ctx.admission.as_ref().map_or(&[][..], |a| &a.headers[..]),
            route: ctx.route.as_deref(),
            upstream_request_id: progress
                .tried
                .outcome
                .as_ref()
                .ok()
                .and_then(|w| w.upstream_request_id.as_ref()),
            fell_back_from: progress.fell_back_from.as_deref(),
            adjustments: &progress.target.adjustments,
            api: progress.target.api,
        }
    }

    /// The response headers, in a stable order.
    pub(super) fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let named = |name: &'static str, v: &str| (HeaderName::from_static(name), header_value(v));
        let mut out = vec![
            named("x-request-id", self.request_id),
            named("x-switchyard-model", self.model),
            named("x-switchyard-provider", self.provider),
            named("x-switchyard-region", self.region),
            named("x-switchyard-deployment", self.deployment),
            (
                HeaderName::from_static("x-switchyard-attempts"),
                HeaderValue::from(self.attempts),
            ),
        ];
        out.extend(self.rate_limits.iter().cloned());
        if let Some(r) = self.route {
            out.push(named("x-switchyard-route", r));
        }
        if self.api == UpstreamApi::Messages {
            // A Messages request passed through to the vendor's Anthropic-compatible API.
            out.push(named("x-switchyard-upstream-api", "messages"));
        }
        if let Some(v) = self.upstream_request_id {
            out.push((HeaderName::from_static("x-upstream-request-id"), v.clone()));
        }
        if let Some(from) = self.fell_back_from {
            out.push(named("x-switchyard-fallback-from", from));
        }
        if !self.adjustments.is_empty() {
            let text: Vec<String> = self
                .adjustments
                .iter()
                .map(|a| format!("{}: {}", a.field, a.note))
                .collect();
            out.push(named("x-switchyard-adjusted", &text.join("; ")));
        }
        out
    }
}

/// How the client asked to be answered.
#[derive(Debug, Clone, Copy)]
pub(super) struct Wants {
    /// As a stream.
    pub(super) stream: bool,
    /// With usage in the stream.
    pub(super) usage: bool,
}

/// The response to the attempt that won, taking over `ctx` (which now records the
/// usage) and the request's place.
pub(super) fn answer(
    ctx: RequestCtx,
    progress: Progress<'_>,
    wants: Wants,
    inflight: Inflight,
) -> Result<Response, GatewayError> {
    let Progress {
        target,
        tried: Tried { outcome, rest },
        limits,
        untried,
        original,
        ..
    } = progress;
    let won = outcome.map_err(|_| GatewayError::Internal("no attempt won"))?;
    match won.answer {
        Answer::Stream(upstream) => {
            // Before its first token the stream may still move: to the model's other
            // deployments, then to the fallback models not tried yet (prepared only if
            // it comes to that).
            let mut legs = VecDeque::with_capacity(1);
            legs.push_back(Leg {
                model_id: ctx.model_id.clone(),
                bodies: target.bodies,
                api: target.api,
                deployments: rest.into(),
                reserve: target.reserve,
            });
            let pending =
                original
                    .filter(|_| !untried.is_empty())
                    .map(|request| PendingFallbacks {
                        models: untried.iter().cloned().collect(),
                        request,
                    });
            // The dialect of the vendor that answered reads its stream.
            let dialect = ctx
                .st
                .providers
                .get(&won.permit.deployment().provider)
                .map_or(target.provider.dialect, |p| p.dialect);
            let attempt = Attempt {
                upstream,
                permit: won.permit,
                sent: won.sent,
            };
            let relay = Relay::new(
                ctx,
                dialect,
                attempt,
                wants.usage,
                limits,
                Failover { legs, pending },
                inflight,
            );
            Ok(sse_response(Body::from_stream(relay.into_stream())))
        }
        Answer::Whole {
            body,
            usage,
            estimated,
        } => {
            let nanos = ctx.record(usage, estimated, Outcome::Completed);
            let mut resp = if wants.stream {
                // A held stream that passed its check (or had no tier above).
                sse_response(replay(&body, wants.usage, nanos)?)
            } else {
                json_response(StatusCode::OK, body)
            };
            resp.headers_mut()
                .insert("x-switchyard-cost-usd", cost_header(nanos));
            Ok(resp)
        }
    }
}

/// A `text/event-stream` response over `body`.
fn sse_response(body: impl Into<Body>) -> Response {
    let mut resp = Response::new(body.into());
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

/// A whole (normalised) answer as the SSE stream the client asked for, with the cost
/// comment before `[DONE]` as on a relayed stream.
fn replay(body: &[u8], include_usage: bool, nanos: u64) -> Result<Bytes, GatewayError> {
    let completion: ChatCompletion = serde_json::from_slice(body)
        .map_err(|_| GatewayError::Internal("a held answer is not a chat completion"))?;
    let mut out = Vec::with_capacity(body.len() + 512);
    for chunk in completion_to_chunks(&completion, include_usage) {
        out.extend_from_slice(b"data: ");
        serde_json::to_writer(&mut out, &chunk)
            .map_err(|_| GatewayError::Internal("a chunk could not be written"))?;
        out.extend_from_slice(b"\n\n");
    }
    out.extend_from_slice(cost_comment(nanos).as_bytes());
    out.extend_from_slice(b"data: [DONE]\n\n");
    Ok(Bytes::from(out))
}

/// Nano-dollars as a dollar amount with all nine decimals (`0.000012345`).
pub(crate) fn cost_header(nanos: u64) -> HeaderValue {
    let text = format!("{}.{:09}", nanos / 1_000_000_000, nanos % 1_000_000_000);
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("0"))
}

pub(crate) fn header_value(s: &str) -> HeaderValue {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn served<'a>(
        adjustments: &'a [Adjustment],
        limits: &'a [(HeaderName, HeaderValue)],
    ) -> Served<'a> {
        Served {
            request_id: "req-1",
            model: "deepseek-chat",
            provider: "deepseek",
            region: "cn-east",
            deployment: "cn-east-a",
            attempts: 2,
            rate_limits: limits,
            route: None,
            upstream_request_id: None,
            fell_back_from: None,
            adjustments,
            api: UpstreamApi::Chat,
        }
    }

    fn names(h: &[(HeaderName, HeaderValue)]) -> Vec<&str> {
        h.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn reply_headers_name_who_served_and_how_many_attempts_it_took() {
        let h = served(&[], &[]).headers();
        assert_eq!(
            names(&h),
            [
                "x-request-id",
                "x-switchyard-model",
                "x-switchyard-provider",
                "x-switchyard-region",
                "x-switchyard-deployment",
                "x-switchyard-attempts"
            ]
        );
        assert_eq!(h[3].1, "cn-east");
        assert_eq!(h[5].1, "2");
    }

    #[test]
    fn optional_reply_headers_appear_only_when_they_have_something_to_say() {
        let adjusted = [
            Adjustment {
                field: "temperature",
                note: "clamped to 1".into(),
            },
            Adjustment {
                field: "stop",
                note: "first word kept".into(),
            },
        ];
        let limits = [(
            HeaderName::from_static("x-ratelimit-remaining-requests"),
            HeaderValue::from_static("9"),
        )];
        let mut s = served(&adjusted, &limits);
        s.route = Some("auto; policy=cheapest");
        s.fell_back_from = Some("glm-4.6");
        let h = s.headers();
        let get = |n: &str| {
            h.iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.to_str().unwrap())
        };
        assert_eq!(get("x-ratelimit-remaining-requests"), Some("9"));
        assert_eq!(get("x-switchyard-route"), Some("auto; policy=cheapest"));
        assert_eq!(get("x-switchyard-fallback-from"), Some("glm-4.6"));
        assert_eq!(
            get("x-switchyard-adjusted"),
            Some("temperature: clamped to 1; stop: first word kept")
        );
    }

    #[test]
    fn header_values_that_http_cannot_carry_lose_only_the_bytes_it_cannot() {
        assert_eq!(header_value("line\nbreak"), "line?break");
        assert_eq!(header_value("tab\u{7f}del"), "tab?del");
        // Bytes past ASCII are obs-text: carried as they are.
        assert_eq!(header_value("caf\u{e9}").as_bytes(), "caf\u{e9}".as_bytes());
    }

    #[test]
    fn costs_are_dollars_with_nine_decimals() {
        assert_eq!(cost_header(12_345), "0.000012345");
        assert_eq!(cost_header(3_000_000_001), "3.000000001");
    }

    #[test]
    fn a_held_answer_replays_as_a_stream_with_its_cost_before_done() {
        let body = br#"{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#;
        let out = replay(body, true, 42).unwrap();
        let text = std::str::from_utf8(&out).unwrap();
        assert!(text.contains("\"content\":\"Hi\""), "{text}");
        assert!(text.contains("\"usage\""), "usage asked for: {text}");
        assert!(
            text.ends_with(": x-switchyard-cost-usd 0.000000042\n\ndata: [DONE]\n\n"),
            "{text}"
        );
        assert!(replay(b"not json", false, 0).is_err());
    }
}
