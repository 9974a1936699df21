//! The HTTP shell, and nothing else: the connection loop ([`conn`]), the router (also
//! under a one-segment prefix, `/{scope}/v1/…`), the model list ([`models`]), the ops
//! endpoints ([`ops`]), the admin API for keys ([`admin`]), and OpenAI-shaped 404/405
//! for everything else. `POST /v1/chat/completions` hands the request to [`crate::chat`]
//! with the state in force when it arrived.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Router};

pub(crate) mod admin;
pub(crate) mod conn;
mod models;
mod ops;

use crate::config::PublicEndpoint;
use crate::error::GatewayError;
use crate::keys::access::PeerAddr;
use crate::respond::count_error;
use crate::routing::virtual_models::RequestMeta;
use crate::runtime::Live;
use crate::state::AppState;

/// Build the router over the gateway's [`Live`] state.
pub(crate) fn router(state: Arc<Live>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/chat/completions", post(chat))
        // A one-segment prefix (`base_url = …/team-a/v1`) that virtual-model rules can
        // match with `when = "path=/team-a"`.
        .route("/{scope}/v1/chat/completions", post(chat))
        .route("/{scope}/v1/models", get(models::list_models))
        .route("/v1/models", get(models::list_models))
        .route("/v1/models/{*id}", get(models::get_model))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics_text))
        .route("/admin/health", get(ops::admin_health))
        .route("/admin/requests/{id}", get(ops::request_trail))
        .route("/admin/keys", get(admin::list).post(admin::create))
        .route("/admin/keys/{id}", delete(admin::revoke))
        .route("/admin/keys/{id}/rotate", post(admin::rotate))
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn unknown_route(method: Method, uri: Uri) -> Response {
    count_error("unknown_route");
    GatewayError::UnknownRoute {
        method: method.to_string(),
        path: uri.path().to_string(),
    }
    .into_response()
}

async fn method_not_allowed(method: Method) -> Response {
    count_error("method_not_allowed");
    GatewayError::MethodNotAllowed(method.to_string()).into_response()
}

/// `POST /v1/chat/completions`: the chat pipeline, with the state in force now.
async fn chat(State(live): State<Arc<Live>>, uri: Uri, headers: HeaderMap, body: Body) -> Response {
    let meta = RequestMeta {
        headers: &headers,
        path: uri.path(),
    };
    crate::chat::handle(live.get(), meta, body).await
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
