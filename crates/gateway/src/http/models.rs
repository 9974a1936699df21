//! `GET /v1/models` and `GET /v1/models/{id}`: the catalog and the virtual models, with
//! a gateway key when keys are on (unless `[keys] public` lists `models`).

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::allowed;
use crate::config::PublicEndpoint;
use crate::error::GatewayError;
use crate::keys::access::PeerAddr;
use crate::listing::{available, model_entry, virtual_entry};
use crate::respond::json_response;
use crate::runtime::Live;

pub(super) async fn list_models(
    State(live): State<Arc<Live>>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
) -> Response {
    let st = match allowed(&live, peer, &headers, PublicEndpoint::Models) {
        Ok(st) => st,
        Err(r) => return *r,
    };
    json_response(StatusCode::OK, st.models_json.clone())
}

pub(super) async fn get_model(
    State(live): State<Arc<Live>>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let st = match allowed(&live, peer, &headers, PublicEndpoint::Models) {
        Ok(st) => st,
        Err(r) => return *r,
    };
    if let Some(v) = st.virtual_models.get(&id.to_ascii_lowercase()) {
        return json_response(StatusCode::OK, Bytes::from(virtual_entry(v).to_string()));
    }
    match st.catalog.resolve(&id) {
        Ok(m) => {
            let up = available(m, (&st.providers, &st.routes));
            json_response(StatusCode::OK, Bytes::from(model_entry(m, up).to_string()))
        }
        Err(e) => GatewayError::ModelNotFound(e.to_string()).into_response(),
    }
}
