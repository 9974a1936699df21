//! HTTP surface: the router (also under a one-segment prefix, `/{scope}/v1/…`),
//! `GET /v1/models[/{id}]`, `/healthz`, `/readyz`, `/metrics`,
//! `/admin/health` (circuit breakers),
//! and OpenAI-shaped 404/405 for everything else. `POST /v1/chat/completions` is the
//! pipeline in [`crate::chat`].

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Router};
use metrics::counter;
use serde_json::{Value, json};
use switchyard_catalog::{Catalog, Model};

use crate::chat::chat;
use crate::config::PublicEndpoint;
use crate::error::GatewayError;
use crate::guard::PeerAddr;
use crate::state::{Live, ProviderRuntime};

/// Build the router over the gateway's [`Live`] state.
pub fn router(state: Arc<Live>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/chat/completions", post(chat))
        // A one-segment prefix (`base_url = …/team-a/v1`) that virtual-model rules can
        // match with `when = "path=/team-a"`.
        .route("/{scope}/v1/chat/completions", post(chat))
        .route("/{scope}/v1/models", get(list_models))
        .route("/v1/models", get(list_models))
        .route("/v1/models/{*id}", get(get_model))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/admin/health", get(admin_health))
        .route(
            "/admin/keys",
            get(crate::admin::list).post(crate::admin::create),
        )
        .route("/admin/keys/{id}", delete(crate::admin::revoke))
        .route("/admin/keys/{id}/rotate", post(crate::admin::rotate))
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

async fn healthz() -> Response {
    json_response(StatusCode::OK, Bytes::from_static(b"{\"status\":\"ok\"}"))
}

async fn readyz(State(live): State<Arc<Live>>) -> Response {
    let st = live.get();
    let usable: Vec<&str> = st
        .providers
        .values()
        .filter(|p| p.usable())
        .map(|p| p.id.as_str())
        .collect();
    let status = if usable.is_empty() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let mut body = json!({
        "status": if usable.is_empty() { "no usable provider" } else { "ready" },
        "providers": st.providers.values().map(|p| (p.id.clone(), json!({
            "usable": p.usable(),
            "simulated": p.simulated,
            "regions": p.regions.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        }))).collect::<serde_json::Map<_, _>>(),
    });
    // Keys refreshed from a store that stopped answering are stale (revocations made
    // elsewhere are not seen); said here, without taking the replica out of rotation.
    if let Some(ring) = &st.keys {
        let every = st.config.keys.refresh;
        let fresh = ring.freshness(every, st.config.usage.postgres_options.query_timeout);
        body["keys"] = json!(fresh);
    }
    json_response(status, Bytes::from(body.to_string()))
}

async fn admin_health(
    State(live): State<Arc<Live>>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
) -> Response {
    let st = live.get();
    if let Err(r) = st
        .gate()
        .endpoint(&headers, peer.map(|p| p.0), PublicEndpoint::Health)
    {
        return *r;
    }
    let mut body = st.health.snapshot();
    let mut routes: Vec<(&String, _)> = st.routes.iter().collect();
    routes.sort_by(|a, b| a.0.cmp(b.0));
    body["routes"] = routes
        .into_iter()
        .map(|(id, r)| (id.clone(), r.snapshot()))
        .collect::<serde_json::Map<_, _>>()
        .into();
    body["in_flight"] = st
        .admitted
        .load(std::sync::atomic::Ordering::Acquire)
        .into();
    body["max_concurrency"] = st.config.server.max_concurrency.into();
    json_response(StatusCode::OK, Bytes::from(body.to_string()))
}

async fn metrics_text(
    State(live): State<Arc<Live>>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
) -> Response {
    let st = live.get();
    if let Err(r) = st
        .gate()
        .endpoint(&headers, peer.map(|p| p.0), PublicEndpoint::Metrics)
    {
        return *r;
    }
    let mut resp = crate::telemetry::render().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

async fn list_models(
    State(live): State<Arc<Live>>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
) -> Response {
    let st = live.get();
    if let Err(r) = st
        .gate()
        .endpoint(&headers, peer.map(|p| p.0), PublicEndpoint::Models)
    {
        return *r;
    }
    json_response(StatusCode::OK, st.models_json.clone())
}

async fn get_model(
    State(live): State<Arc<Live>>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let st = live.get();
    if let Err(r) = st
        .gate()
        .endpoint(&headers, peer.map(|p| p.0), PublicEndpoint::Models)
    {
        return *r;
    }
    if let Some(v) = st.virtual_models.get(&id.to_ascii_lowercase()) {
        return json_response(StatusCode::OK, Bytes::from(virtual_entry(v).to_string()));
    }
    match st.catalog.resolve(&id) {
        Ok(m) => {
            let p = st.providers.get(&m.provider);
            json_response(StatusCode::OK, Bytes::from(model_entry(m, p).to_string()))
        }
        Err(e) => GatewayError::ModelNotFound(e.to_string()).into_response(),
    }
}

/// `GET /v1/models` body: OpenAI list shape plus price, context and capability fields.
pub fn render_models(
    catalog: &Catalog,
    providers: &std::collections::HashMap<String, ProviderRuntime>,
    virtual_models: &[&crate::virtual_models::VirtualModel],
) -> Bytes {
    let mut data: Vec<Value> = catalog
        .models()
        .iter()
        .map(|m| model_entry(m, providers.get(&m.provider)))
        .collect();
    // Virtual models are callable names too; they say how they route.
    data.extend(virtual_models.iter().map(|v| virtual_entry(v)));
    Bytes::from(json!({"object": "list", "data": data}).to_string())
}

fn virtual_entry(v: &crate::virtual_models::VirtualModel) -> Value {
    json!({
        "id": v.name,
        "object": "model",
        "created": 0,
        "owned_by": "switchyard",
        "virtual": true,
        "policy": v.policy.as_str(),
        "models": v.models,
    })
}

fn model_entry(m: &Model, p: Option<&ProviderRuntime>) -> Value {
    json!({
        "id": m.id,
        "object": "model",
        "created": 0,
        "owned_by": m.provider,
        "display_name": m.display_name,
        "family": m.family,
        "provider": m.provider,
        "upstream_id": m.upstream_id,
        "context_window": m.context_window,
        "max_output": m.max_output,
        "capabilities": m.capabilities,
        "aliases": m.aliases,
        "price": {
            "currency": "USD",
            "unit": "per_million_tokens",
            "input": m.price.input,
            "cached_input": m.price.cached_input,
            "output": m.price.output,
            "as_of": m.price.as_of,
        },
        "available": p.is_some_and(ProviderRuntime::usable),
    })
}

pub(crate) fn json_response(status: StatusCode, body: Bytes) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

pub(crate) fn count_error(code: &'static str) {
    counter!("switchyard_errors_total", "code" => code).increment(1);
}
