//! `POST /v1/responses`: the Responses API's stateless subset (`wire::responses`),
//! translated into the chat pipeline and re-told as a `response` object, as the API's
//! stream of events, or as an OpenAI error (the Responses API shares the chat error
//! shape, so errors pass through as they are). A response echoes what its request set
//! (instructions, tools, limits), which the parser keeps aside for the answer. Usage is
//! logged under the endpoint `responses`.

use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use switchyard_wire::responses::{Echo, ResponseEvents, ResponsesRequest, from_completion};
use switchyard_wire::{ChatCompletion, ChatRequest};

use super::messages::translate_error;
use super::{MAX_WHOLE_ANSWER, is_event_stream, retell_stream};
use crate::chat::intake::parse_json;
use crate::chat::{self, Inbound};
use crate::error::GatewayError;
use crate::routing::virtual_models::RequestMeta;
use crate::state::AppState;
use crate::usage::Endpoint;

/// `POST /v1/responses`.
pub(crate) async fn handle(st: Arc<AppState>, meta: RequestMeta<'_>, body: Body) -> Response {
    let echo = OnceLock::new();
    let resp = {
        let parse = |bytes: &[u8]| parse_responses(bytes, &echo);
        let inbound = Inbound {
            endpoint: Endpoint::Responses,
            parse: &parse,
        };
        chat::handle(st, meta, body, inbound).await
    };
    let created_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match echo.into_inner() {
        Some(echo) if resp.status().is_success() => retell(resp, echo, created_at).await,
        // Refused before or while parsing, or an error: already in the shared shape.
        _ => resp,
    }
}

/// A Responses request checked and translated; what its answer echoes kept in `echo`.
fn parse_responses(bytes: &[u8], echo: &OnceLock<Echo>) -> Result<ChatRequest, GatewayError> {
    let req: ResponsesRequest = parse_json(bytes)?;
    req.validate().map_err(translate_error)?;
    let chat = req.to_chat().map_err(translate_error)?;
    // Set once: a request is parsed once.
    let _ = echo.set(Echo::of(&req));
    Ok(chat)
}

/// The chat pipeline's answer as a response or its events.
async fn retell(resp: Response, echo: Echo, created_at: u64) -> Response {
    let (mut parts, body) = resp.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    if is_event_stream(&parts.headers) {
        let events = ResponseEvents::new(echo, created_at);
        return Response::from_parts(parts, retell_stream(body, events));
    }
    let whole = axum::body::to_bytes(body, MAX_WHOLE_ANSWER).await;
    let object = whole
        .ok()
        .and_then(|b| serde_json::from_slice::<ChatCompletion>(&b).ok())
        .map(|c| from_completion(&c, &echo, created_at));
    match object.and_then(|o| serde_json::to_vec(&o).ok()) {
        Some(bytes) => Response::from_parts(parts, Body::from(bytes)),
        None => {
            let e = "the upstream's answer could not be re-told as a response";
            let mut r = GatewayError::Internal(e).into_response();
            *r.status_mut() = StatusCode::BAD_GATEWAY;
            for (name, v) in &parts.headers {
                if name.as_str().starts_with("x-") {
                    r.headers_mut().insert(name.clone(), v.clone());
                }
            }
            r
        }
    }
}
