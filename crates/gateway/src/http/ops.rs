//! Operations endpoints: `/healthz` (the process answers), `/readyz` (a provider is
//! usable; whether the keys are fresh), `/admin/health` (circuit breakers, routes, load)
//! and `/metrics` (Prometheus) — the last two behind the admin token when keys are on,
//! unless `[keys] public` lists them.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::allowed;
use crate::config::PublicEndpoint;
use crate::keys::access::{PeerAddr, denied};
use crate::respond::json_response;
use crate::runtime::Live;
use crate::trail::MAX_TRAILS;

pub(super) async fn healthz() -> Response {
    json_response(StatusCode::OK, Bytes::from_static(b"{\"status\":\"ok\"}"))
}

pub(super) async fn readyz(State(live): State<Arc<Live>>) -> Response {
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

pub(super) async fn admin_health(
    State(live): State<Arc<Live>>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
) -> Response {
    let st = match allowed(&live, peer, &headers, PublicEndpoint::Health) {
        Ok(st) => st,
        Err(r) => return *r,
    };
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

pub(super) async fn metrics_text(
    State(live): State<Arc<Live>>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = allowed(&live, peer, &headers, PublicEndpoint::Metrics) {
        return *r;
    }
    let mut resp = crate::telemetry::render().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

/// `GET /admin/requests/{id}`: the trail of a recent request — route, attempts, usage
/// and cost. With keys on it needs the admin token (a trail names other callers' models
/// and spend), whatever `[keys] public` says.
pub(super) async fn request_trail(
    State(live): State<Arc<Live>>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let st = live.get();
    if st.keys.is_some()
        && let Err(r) = st.gate().admin(&headers, peer.map(|p| p.0))
    {
        return *r;
    }
    let trails = live.find_trails(&id);
    if trails.is_empty() {
        return *denied(
            StatusCode::NOT_FOUND,
            "not_found_error",
            "request_not_found",
            format!("no recent request with id '{id}' (the last {MAX_TRAILS} are kept)"),
        );
    }
    let trails: Vec<&crate::trail::Trail> = trails.iter().map(AsRef::as_ref).collect();
    let body = json!({ "request_id": id, "source": "memory", "trails": trails });
    json_response(StatusCode::OK, Bytes::from(body.to_string()))
}
