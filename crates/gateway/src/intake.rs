//! Reading and checking a chat request before anything goes upstream: content type,
//! size limit, typed parse with field-precise errors, value checks, capabilities.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use serde_json::Value;
use switchyard_catalog::{Capability, Catalog, Model};
use switchyard_wire::chat::json_kind;
use switchyard_wire::{ChatRequest, ResponseFormatKind, Role};

use crate::error::GatewayError;

pub(crate) fn check_content_type(headers: &HeaderMap) -> Result<(), GatewayError> {
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

/// Read the request body, at most `limit` bytes and within `deadline`: a client that
/// trickles its body is cut off instead of holding the gateway's resources.
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    deadline: std::time::Duration,
) -> Result<Bytes, GatewayError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(GatewayError::TooLarge { limit });
    }
    let read = tokio::time::timeout(deadline, axum::body::to_bytes(body, limit));
    let Ok(read) = read.await else {
        return Err(GatewayError::BodyTimeout {
            secs: deadline.as_secs_f64(),
        });
    };
    read.map_err(|e| {
        let too_large = std::iter::successors(Some(&e as &dyn std::error::Error), |e| e.source())
            .any(|e| e.to_string().contains("length limit exceeded"));
        if too_large {
            GatewayError::TooLarge { limit }
        } else {
            GatewayError::InvalidJson(format!("could not read the request body: {e}"))
        }
    })
}

/// Parse the body into a typed request; errors say which field is wrong and why.
pub fn parse_request(bytes: &[u8]) -> Result<ChatRequest, GatewayError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let req: ChatRequest = match serde_path_to_error::deserialize(&mut *de) {
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

pub(crate) fn validate(req: &ChatRequest) -> Result<(), GatewayError> {
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

pub(crate) fn check_capabilities(
    catalog: &Catalog,
    model: &Model,
    req: &ChatRequest,
) -> Result<(), GatewayError> {
    let json = req.json_output();
    let need = [
        (req.has_images(), Capability::Vision, "image input"),
        (req.has_audio(), Capability::Audio, "audio input"),
        (req.has_tools(), Capability::Tools, "tool calls"),
        (
            json == Some(ResponseFormatKind::JsonObject),
            Capability::JsonMode,
            "JSON mode (response_format json_object)",
        ),
        (
            json == Some(ResponseFormatKind::JsonSchema),
            Capability::JsonSchema,
            "structured output (response_format json_schema)",
        ),
    ];
    for (needed, cap, what) in need {
        if needed && !model.supports(cap) {
            let able: Vec<&str> = catalog
                .models()
                .iter()
                .filter(|m| m.supports(cap))
                .map(|m| m.id.as_str())
                .take(6)
                .collect();
            return Err(GatewayError::UnsupportedCapability {
                model: model.id.clone(),
                capability: what,
                hint: format!("models that do: {}", able.join(", ")),
            });
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
