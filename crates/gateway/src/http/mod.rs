//! The HTTP shell, and nothing else: the connection loop ([`conn`]), the router (also
//! under a one-segment prefix, `/{scope}/v1/…`), the model list ([`models`]), the ops
//! endpoints ([`ops`]), the admin API for keys ([`admin`]), and OpenAI-shaped 404/405
//! for everything else. `POST /v1/chat/completions` hands the request to [`crate::chat`]
//! with the state in force when it arrived.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Router};

pub(crate) mod admin;
pub(crate) mod conn;
mod dashboard;
mod models;
mod ops;
mod overview;

use crate::config::PublicEndpoint;
use crate::error::GatewayError;
use crate::keys::access::PeerAddr;
use crate::respond::{count_error, request_id};
use crate::routing::virtual_models::RequestMeta;
use crate::runtime::Live;
use crate::state::AppState;

/// Build the router over the gateway's [`Live`] state.
pub(crate) fn router(state: Arc<Live>) -> Router {
    Router::new()
        .route("/{scope}/v1/models", get(models::list_models))
        .route("/v1/models", get(models::list_models))
        .route("/v1/models/{*id}", get(models::get_model))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics_text))
        .route("/admin/health", get(ops::admin_health))
        .route("/admin/requests/{id}", get(ops::request_trail))
        .route("/admin/stats", get(ops::stats))
        .route("/admin/overview", get(ops::overview))
        .route("/dashboard", get(dashboard::page))
        .route("/dashboard/login", post(dashboard::login))
        .route("/dashboard/logout", post(dashboard::logout))
        .route("/dashboard/{asset}", get(dashboard::asset))
        .route("/admin/keys", get(admin::list).post(admin::create))
        .route("/admin/keys/{id}", delete(admin::revoke))
        .route("/admin/keys/{id}/rotate", post(admin::rotate))
        // The chat pipeline gives its answers their ids itself (and traces them).
        .route_layer(middleware::from_fn(with_request_id))
        .route("/v1/chat/completions", post(chat))
        .route("/chat/completions", post(chat))
        // A one-segment prefix (`base_url = …/team-a/v1`) that virtual-model rules can
        // match with `when = "path=/team-a"`.
        .route("/{scope}/v1/chat/completions", post(chat))
        // Other APIs, translated into the chat pipeline (`crate::edge`).
        .route("/v1/messages", post(messages))
        .route("/{scope}/v1/messages", post(messages))
        .route("/v1/messages/count_tokens", post(count_tokens))
        .route("/v1/responses", post(responses))
        .route("/responses", post(responses))
        .route("/{scope}/v1/responses", post(responses))
        .route("/v1/embeddings", post(embeddings))
        .route("/embeddings", post(embeddings))
        .route("/{scope}/v1/embeddings", post(embeddings))
        .route("/{scope}/v1/messages/count_tokens", post(count_tokens))
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn unknown_route(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    count_error("unknown_route");
    let e = GatewayError::UnknownRoute {
        method: method.to_string(),
        path: uri.path().to_string(),
    };
    identified(&headers, e.into_response())
}

async fn method_not_allowed(method: Method, headers: HeaderMap) -> Response {
    count_error("method_not_allowed");
    let e = GatewayError::MethodNotAllowed(method.to_string());
    identified(&headers, e.into_response())
}

/// Every answer carries `x-request-id`: the client's own when it sent a usable one.
async fn with_request_id(req: Request, next: Next) -> Response {
    let id = request_id(req.headers());
    let resp = next.run(req).await;
    with_id(&id, resp)
}

/// `resp` with the request id of `headers`.
fn identified(headers: &HeaderMap, resp: Response) -> Response {
    with_id(&request_id(headers), resp)
}

fn with_id(id: &str, mut resp: Response) -> Response {
    if !resp.headers().contains_key("x-request-id")
        && let Ok(v) = HeaderValue::from_str(id)
    {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// An API that goes through the chat pipeline.
#[derive(Clone, Copy)]
enum Through {
    Chat,
    Messages,
    Responses,
}

/// `api`'s request through the chat pipeline, with the state in force now.
async fn through_chat(
    live: &Live,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
    api: Through,
) -> Response {
    let meta = RequestMeta {
        headers,
        path: uri.path(),
    };
    let st = live.get();
    // Boxed: the request's future is large (every stage's state), and the router moves
    // the handler's future several times; a box makes each move a pointer copy
    // (callgrind: ~30,000 fewer instructions per request, docs/BENCHMARKS.md).
    match api {
        Through::Chat => Box::pin(crate::chat::handle(st, meta, body, crate::chat::CHAT)).await,
        Through::Messages => Box::pin(crate::edge::messages::handle(st, meta, body)).await,
        Through::Responses => Box::pin(crate::edge::responses::handle(st, meta, body)).await,
    }
}

/// `POST /v1/chat/completions`.
async fn chat(State(live): State<Arc<Live>>, uri: Uri, headers: HeaderMap, body: Body) -> Response {
    through_chat(&live, &uri, &headers, body, Through::Chat).await
}

/// `POST /v1/messages`: the Anthropic Messages API.
async fn messages(
    State(live): State<Arc<Live>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    through_chat(&live, &uri, &headers, body, Through::Messages).await
}

/// `POST /v1/responses`: the Responses API.
async fn responses(
    State(live): State<Arc<Live>>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    through_chat(&live, &uri, &headers, body, Through::Responses).await
}

/// `POST /v1/embeddings`.
async fn embeddings(State(live): State<Arc<Live>>, headers: HeaderMap, body: Body) -> Response {
    Box::pin(crate::edge::embeddings::handle(live.get(), &headers, body)).await
}

/// `POST /v1/messages/count_tokens`.
async fn count_tokens(State(live): State<Arc<Live>>, headers: HeaderMap, body: Body) -> Response {
    crate::edge::messages::count_tokens(live.get(), &headers, body).await
}

/// The state in force, if the caller may see `what` (else the refusal to answer).
fn allowed(
    live: &Live,
    peer: Option<Extension<PeerAddr>>,
    headers: &HeaderMap,
    what: PublicEndpoint,
) -> Result<Arc<AppState>, Box<Response>> {
    let st = live.get();
    st.gate().endpoint(headers, peer.map(|p| p.0), what)?;
    Ok(st)
}
