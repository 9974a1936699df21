//! `POST /v1/messages` and `POST /v1/messages/count_tokens`: the Anthropic Messages API.
//!
//! A request is parsed as the Messages API's own (`wire::anthropic::MessagesRequest`,
//! errors naming its fields), translated into a chat request and served by the chat
//! pipeline; the answer is re-told as a `message`, as Messages events, or as the API's
//! error shape (`{"type":"error","error":{"type","message"}}`) with the same status.
//! Callers present their gateway key as `x-api-key` (Anthropic's clients) or as a
//! bearer token. Usage is logged under the endpoint `messages`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use switchyard_wire::anthropic::{self, EventWriter, MessagesRequest, OutMessage};
use switchyard_wire::{ChatCompletion, ChatRequest, TranslateError, tokens};

use super::{MAX_WHOLE_ANSWER, error_message, is_event_stream, retell_stream};
use crate::chat::intake::{parse_json, read_request};
use crate::chat::{self, Inbound};
use crate::error::GatewayError;
use crate::respond::{json_response, request_id};
use crate::routing::virtual_models::RequestMeta;
use crate::state::AppState;
use crate::usage::Endpoint;

/// The Messages API into the chat pipeline.
const MESSAGES: Inbound<'static> = Inbound {
    endpoint: Endpoint::Messages,
    parse: &parse_messages,
};

/// `POST /v1/messages`.
pub(crate) async fn handle(st: Arc<AppState>, meta: RequestMeta<'_>, body: Body) -> Response {
    let resp = chat::handle(st, meta, body, MESSAGES).await;
    retell(resp).await
}

/// A Messages request, checked and translated.
fn parse_messages(bytes: &[u8]) -> Result<ChatRequest, GatewayError> {
    let req: MessagesRequest = parse_json(bytes)?;
    req.validate(true).map_err(translate_error)?;
    req.to_chat().map_err(translate_error)
}

/// A translation refused, as the gateway's error.
pub(crate) fn translate_error(e: TranslateError) -> GatewayError {
    match e {
        TranslateError::Missing(field) => GatewayError::MissingParameter(field),
        TranslateError::Invalid { param, message } => GatewayError::InvalidValue { param, message },
    }
}

/// The chat pipeline's answer re-told in the Messages API's shapes.
async fn retell(resp: Response) -> Response {
    if !resp.status().is_success() {
        return retell_error(resp).await;
    }
    let (mut parts, body) = resp.into_parts();
    let id = with_request_id(&mut parts.headers);
    parts.headers.remove(header::CONTENT_LENGTH);
    if is_event_stream(&parts.headers) {
        return Response::from_parts(parts, retell_stream(body, EventWriter::new()));
    }
    let whole = axum::body::to_bytes(body, MAX_WHOLE_ANSWER).await;
    let message = whole
        .ok()
        .and_then(|b| serde_json::from_slice::<ChatCompletion>(&b).ok())
        .map(|c| OutMessage::from_completion(&c));
    match message.and_then(|m| serde_json::to_vec(&m).ok()) {
        Some(bytes) => Response::from_parts(parts, Body::from(bytes)),
        None => {
            parts.status = StatusCode::BAD_GATEWAY;
            let body = anthropic::error_body(
                502,
                "the upstream's answer could not be re-told as a message",
                id.as_deref(),
            );
            Response::from_parts(parts, Body::from(body.to_string()))
        }
    }
}

/// An error answer (any status) re-told in the Messages API's error shape, its status
/// and headers (`retry-after`, `x-ratelimit-*`) kept.
async fn retell_error(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    let id = with_request_id(&mut parts.headers);
    parts.headers.remove(header::CONTENT_LENGTH);
    let message = error_message(body).await;
    let body = anthropic::error_body(parts.status.as_u16(), &message, id.as_deref());
    Response::from_parts(parts, Body::from(body.to_string()))
}

/// Copy `x-request-id` to `request-id`, where Anthropic's clients read it; the id.
fn with_request_id(headers: &mut HeaderMap) -> Option<String> {
    let id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(v) = id.as_deref().and_then(|i| HeaderValue::from_str(i).ok()) {
        headers.insert(HeaderName::from_static("request-id"), v);
    }
    id
}

/// `POST /v1/messages/count_tokens`: the prompt's tokens by the gateway's estimator, for
/// a model the caller may use (nothing is sent upstream, nothing is spent).
pub(crate) async fn count_tokens(st: Arc<AppState>, headers: &HeaderMap, body: Body) -> Response {
    let mut resp = match count(&st, headers, body).await {
        Ok(n) => json_response(
            StatusCode::OK,
            json!({ "input_tokens": n }).to_string().into(),
        ),
        Err(e) => e.into_response(),
    };
    if let Ok(v) = HeaderValue::from_str(&request_id(headers)) {
        resp.headers_mut().insert("x-request-id", v);
    }
    if resp.status().is_success() {
        with_request_id(resp.headers_mut());
        resp
    } else {
        retell_error(resp).await
    }
}

async fn count(st: &AppState, headers: &HeaderMap, body: Body) -> Result<u64, GatewayError> {
    let (caller, bytes) = read_request(st, headers, body).await?;
    let req: MessagesRequest = parse_json(&bytes)?;
    req.validate(false).map_err(translate_error)?;
    let chat = req.to_chat().map_err(translate_error)?;
    if !st
        .virtual_models
        .contains_key(&chat.model.to_ascii_lowercase())
    {
        let model = st
            .catalog
            .resolve_chat(&chat.model)
            .map_err(GatewayError::from)?;
        if let Some(key) = &caller {
            key.check_model(&model.id)?;
        }
    }
    Ok(tokens::estimate_prompt(&chat))
}
