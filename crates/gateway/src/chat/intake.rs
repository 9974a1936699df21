//! Stage 1, intake: who is calling, then the request read and checked before anything
//! is spent — content type, size and time limit on the body, a place under
//! `[server] max_concurrency`, typed parse with field-precise errors, value checks, the
//! time limits the client asked for, and the prompt's token estimate.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;
use serde_json::Value;
use switchyard_wire::chat::json_kind;
use switchyard_wire::{ChatRequest, Role, tokens};

use super::admit::Inflight;
use crate::error::GatewayError;
use crate::keys::KeyState;
use crate::respond::read_body;
pub(super) use crate::respond::request_id;
use crate::routing::deadlines::ClientLimits;
use crate::state::AppState;

/// A request read, checked and given its place.
pub(super) struct Intake {
    /// The caller's key, when keys are on.
    pub(super) caller: Option<Arc<KeyState>>,
    /// The parsed request.
    pub(super) req: ChatRequest,
    /// Shorter time limits the client asked for.
    pub(super) client: ClientLimits,
    /// Prompt tokens by our estimator.
    pub(super) prompt_estimate: u64,
    /// Its place under `[server] max_concurrency`, held to the end of its answer.
    pub(super) inflight: Inflight,
    /// The body as sent, kept when it may be passed through to the vendor as it is (a
    /// Messages request).
    pub(super) raw: Option<axum::body::Bytes>,
}

/// Read and check the request (see the module doc). The caller is identified before
/// anything else is read; the place is taken only once the body is in, so a client that
/// trickles its body holds a connection, never one of the gateway's request places.
pub(super) async fn take_in(
    st: &Arc<AppState>,
    headers: &HeaderMap,
    body: Body,
    inbound: super::Inbound<'_>,
) -> Result<Intake, GatewayError> {
    let (caller, bytes) = read_request(st, headers, body).await?;
    let inflight = Inflight::enter(st)?;
    let req = (inbound.parse)(&bytes)?;
    let raw = (inbound.endpoint == crate::usage::Endpoint::Messages).then_some(bytes);
    validate(&req)?;
    let client = client_limits(headers)?;
    let prompt_estimate = tokens::estimate_prompt(&req);
    Ok(Intake {
        caller,
        req,
        client,
        prompt_estimate,
        inflight,
        raw,
    })
}

/// Who is calling (with keys on: 401 unless a usable key), then the body read under the
/// server's limits: JSON content type, `max_body_bytes`, `body_timeout_secs`.
pub(crate) async fn read_request(
    st: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Option<Arc<KeyState>>, axum::body::Bytes), GatewayError> {
    let caller = match &st.keys {
        Some(ring) => Some(ring.identify(headers)?),
        None => None,
    };
    check_content_type(headers)?;
    let server = &st.config.server;
    let bytes = read_body(headers, body, server.max_body_bytes, server.body_timeout).await?;
    Ok((caller, bytes))
}

/// The time limits the client asked for (`x-switchyard-timeout`,
/// `x-switchyard-ttft-timeout`); a bad value is a 400 before anything is spent.
fn client_limits(headers: &HeaderMap) -> Result<ClientLimits, GatewayError> {
    Ok(ClientLimits {
        request: limit(headers, "x-switchyard-timeout")?,
        ttft: limit(headers, "x-switchyard-ttft-timeout")?,
    })
}

/// A time limit the client asked for in `header` (seconds, fractions allowed); one
/// beyond what a `Duration` holds is no limit at all (the configured one applies).
fn limit(headers: &HeaderMap, header: &'static str) -> Result<Option<Duration>, GatewayError> {
    let Some(v) = headers.get(header) else {
        return Ok(None);
    };
    let secs = v
        .to_str()
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .ok_or_else(|| GatewayError::InvalidValue {
            param: header.into(),
            message: format!("{header} must be a positive number of seconds"),
        })?;
    Ok(Some(
        Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX),
    ))
}

fn check_content_type(headers: &HeaderMap) -> Result<(), GatewayError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim();
    if mime.eq_ignore_ascii_case("application/json") || mime.to_ascii_lowercase().ends_with("+json")
    {
        Ok(())
    } else {
        Err(GatewayError::UnsupportedMediaType(if ct.is_empty() {
            "(none)".into()
        } else {
            ct.into()
        }))
    }
}

/// Parse the body into a typed request; errors say which field is wrong and why.
pub(crate) fn parse_request(bytes: &[u8]) -> Result<ChatRequest, GatewayError> {
    parse_json(bytes)
}

/// Parse a JSON body into `T`; errors say which field is wrong and why.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, GatewayError> {
    // The plain parser first: tracking the path costs an allocation per key, and only a
    // body that fails needs it.
    if let Ok(req) = serde_json::from_slice::<T>(bytes) {
        return Ok(req);
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let req: T = match serde_path_to_error::deserialize(&mut *de) {
        Ok(r) => r,
        Err(e) => {
            // Syntax errors first: with flattened fields, a truncated body can surface as
            // "missing field" before the parser reaches its end.
            serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
                .map_err(|e| GatewayError::InvalidJson(e.to_string()))?;
            let path = e.path().to_string();
            let inner = e.into_inner();
            return Err(match inner.classify() {
                serde_json::error::Category::Data => data_error(&path, &inner.to_string(), bytes),
                _ => GatewayError::InvalidJson(inner.to_string()),
            });
        }
    };
    de.end()
        .map_err(|e| GatewayError::InvalidJson(e.to_string()))?;
    Ok(req)
}

fn data_error(path: &str, message: &str, bytes: &[u8]) -> GatewayError {
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(message)
        .to_string();
    let prefix = if path == "." {
        String::new()
    } else {
        format!("{path}.")
    };
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|m| m.split('`').next())
    {
        return GatewayError::MissingParameter(format!("{prefix}{field}"));
    }
    if path == "." {
        let kind = serde_json::from_slice::<Value>(bytes)
            .map(|v| json_kind(&v))
            .unwrap_or("value");
        return GatewayError::InvalidType {
            path: "body".into(),
            message: format!("the request body must be a JSON object, got {kind}"),
        };
    }
    GatewayError::InvalidType {
        path: path.to_string(),
        message,
    }
}

fn validate(req: &ChatRequest) -> Result<(), GatewayError> {
    let invalid = |param: &str, message: String| GatewayError::InvalidValue {
        param: param.into(),
        message,
    };
    if req.model.trim().is_empty() {
        return Err(GatewayError::MissingParameter("model".into()));
    }
    if req.messages.is_empty() {
        return Err(invalid(
            "messages",
            "messages must contain at least one message".into(),
        ));
    }
    if let Some(n) = req.n
        && !(1..=16).contains(&n)
    {
        return Err(invalid("n", format!("n must be between 1 and 16, got {n}")));
    }
    // Both set and different: the vendor would honour one and the limits would check the
    // other, so which one counts cannot be guessed; say so instead.
    if let (Some(a), Some(b)) = (req.max_tokens, req.max_completion_tokens)
        && a != b
    {
        return Err(invalid(
            "max_completion_tokens",
            format!("max_tokens ({a}) and max_completion_tokens ({b}) disagree; send one of them"),
        ));
    }
    if req.completion_cap() == Some(0) {
        return Err(invalid(
            "max_tokens",
            "max_tokens must be at least 1".into(),
        ));
    }
    if let Some(t) = req.temperature
        && !(0.0..=2.0).contains(&t)
    {
        return Err(invalid(
            "temperature",
            format!("temperature must be between 0 and 2, got {t}"),
        ));
    }
    if let Some(p) = req.top_p
        && !(0.0..=1.0).contains(&p)
    {
        return Err(invalid(
            "top_p",
            format!("top_p must be between 0 and 1, got {p}"),
        ));
    }
    if let Some(problem) = req.response_format.as_ref().and_then(|f| f.problem()) {
        return Err(invalid("response_format", problem.into()));
    }
    for (i, m) in req.messages.iter().enumerate() {
        if m.role == Role::Tool && m.tool_call_id.is_none() {
            return Err(GatewayError::MissingParameter(format!(
                "messages[{i}].tool_call_id"
            )));
        }
        if matches!(m.role, Role::User | Role::System | Role::Developer) && m.content.is_none() {
            return Err(GatewayError::MissingParameter(format!(
                "messages[{i}].content"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn parse(s: &str) -> Result<ChatRequest, GatewayError> {
        parse_request(s.as_bytes())
    }

    #[test]
    fn syntax_error_is_invalid_json() {
        assert_eq!(parse("{\"model\": ").unwrap_err().label(), "invalid_json");
        assert_eq!(parse("{} trailing").unwrap_err().label(), "invalid_json");
    }

    #[test]
    fn missing_model_is_missing_parameter() {
        let e = parse(r#"{"messages": []}"#).unwrap_err();
        assert_eq!(e.label(), "missing_required_parameter");
        assert!(e.to_string().contains("model"));
    }

    #[test]
    fn wrong_type_names_the_field() {
        let e = parse(r#"{"model": "m", "messages": [], "max_tokens": "ten"}"#).unwrap_err();
        assert_eq!(e.label(), "invalid_type");
        assert!(e.to_string().contains("max_tokens"), "{e}");
        let e = parse(r#"{"model": "m", "messages": "hi"}"#).unwrap_err();
        assert!(e.to_string().contains("messages"), "{e}");
    }

    #[test]
    fn non_object_body_says_so() {
        let e = parse("[1]").unwrap_err();
        assert!(e.to_string().contains("JSON object, got array"), "{e}");
    }

    #[test]
    fn empty_messages_are_invalid_value() {
        let r = parse(r#"{"model": "m", "messages": []}"#).unwrap();
        assert_eq!(validate(&r).unwrap_err().label(), "invalid_value");
    }

    #[test]
    fn tool_message_needs_its_call_id() {
        let r = parse(r#"{"model": "m", "messages": [{"role": "tool", "content": "x"}]}"#).unwrap();
        assert!(
            validate(&r)
                .unwrap_err()
                .to_string()
                .contains("tool_call_id")
        );
    }

    #[test]
    fn content_type_with_charset_is_accepted() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert!(check_content_type(&h).is_ok());
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert_eq!(
            check_content_type(&h).unwrap_err().label(),
            "unsupported_media_type"
        );
    }
}
