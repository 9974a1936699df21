//! `/admin/keys`: issue, list, revoke and rotate gateway keys over HTTP, behind the admin
//! token (`Authorization: Bearer <token>`, the token from `[keys] admin_token_env`).

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use switchyard_ledger::keys::{BudgetPeriod, KeyStore, NewKey};

use crate::error::GatewayError;
use crate::keys::access::{PeerAddr, denied};
use crate::respond::json_response;
use crate::runtime::Live;
use crate::state::AppState;

/// The state, if the caller holds the admin token and keys are on.
fn authorize(
    live: &Live,
    headers: &HeaderMap,
    peer: Option<PeerAddr>,
) -> Result<Arc<AppState>, Box<Response>> {
    let st = live.get();
    st.gate().admin(headers, peer)?;
    if st.keys.is_none() {
        return Err(denied(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "keys_disabled",
            "keys are off: set [keys] enabled = true in the config".into(),
        ));
    }
    Ok(st)
}

/// Run `f` on the key store off the runtime's workers, then reload the keyring so the
/// change applies to the next request.
async fn with_store<T: Send + 'static>(
    st: Arc<AppState>,
    f: impl FnOnce(&KeyStore) -> Result<T, switchyard_ledger::LedgerError> + Send + 'static,
) -> Result<T, Box<Response>> {
    let done = tokio::task::spawn_blocking(move || {
        let ring = st.keys.as_ref()?;
        let out = ring.with_store(f);
        if out.is_ok()
            && let Err(e) = ring.reload_now()
        {
            tracing::error!(error = %e, "keys changed but not reloaded");
        }
        Some(out)
    })
    .await;
    match done {
        Ok(Some(Ok(v))) => Ok(v),
        // The database is away (or slow): the store reconnects by itself, so this is a
        // wait, not a fault of the gateway.
        Ok(Some(Err(e @ switchyard_ledger::LedgerError::Postgres(_)))) => {
            let mut r = denied(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable_error",
                "key_store_unavailable",
                format!("the key store did not answer; retry shortly ({e})"),
            );
            r.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, 5u32.into());
            Err(r)
        }
        Ok(Some(Err(e))) => Err(denied(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "key_store_error",
            e.to_string(),
        )),
        _ => Err(denied(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal_error",
            "the key store is not available".into(),
        )),
    }
}

pub(crate) async fn list(
    State(live): State<Arc<Live>>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
) -> Response {
    let st = match authorize(&live, &headers, peer.map(|p| p.0)) {
        Ok(st) => st,
        Err(r) => return *r,
    };
    match with_store(st, |s| s.list()).await {
        Ok(keys) => json_response(
            StatusCode::OK,
            Bytes::from(json!({ "object": "list", "data": keys }).to_string()),
        ),
        Err(r) => *r,
    }
}

/// `POST /admin/keys` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    #[serde(default)]
    team: Option<String>,
    #[serde(default)]
    models: Vec<String>,
    #[serde(default)]
    rpm: Option<u64>,
    #[serde(default)]
    tpm: Option<u64>,
    /// Budget in US dollars per period.
    #[serde(default)]
    budget_usd: Option<f64>,
    #[serde(default)]
    budget_period: Option<BudgetPeriod>,
    /// Expiry, in days from now.
    #[serde(default)]
    expires_in_days: Option<f64>,
}

pub(crate) async fn create(
    State(live): State<Arc<Live>>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let st = match authorize(&live, &headers, peer.map(|p| p.0)) {
        Ok(st) => st,
        Err(r) => return *r,
    };
    let timeout = st.config.server.body_timeout;
    let body = match crate::respond::read_body(&headers, body, MAX_ADMIN_BODY, timeout).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let body: CreateBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return GatewayError::InvalidValue {
                param: "body".into(),
                message: format!(
                    "invalid key request: {e}; expected {{\"name\": \"…\", \"team\": \"…\", \"models\": [\"…\"], \"rpm\": N, \"tpm\": N, \"budget_usd\": X, \"budget_period\": \"day\"|\"month\"|\"total\", \"expires_in_days\": D}}"
                ),
            }
            .into_response();
        }
    };
    let new = match new_key(&st, body) {
        Ok(n) => n,
        Err(e) => return e.into_response(),
    };
    match with_store(st, move |s| s.create(&new)).await {
        Ok((record, key)) => json_response(
            StatusCode::CREATED,
            Bytes::from(json!({ "key": key, "record": record }).to_string()),
        ),
        Err(r) => *r,
    }
}

/// Longest a key may be made to last, in days (100 years).
const MAX_EXPIRY_DAYS: f64 = 36_500.0;
/// A key's budget is below this many dollars.
const MAX_BUDGET_USD: f64 = 1e9;
/// Largest key-creation body read.
const MAX_ADMIN_BODY: usize = 64 * 1024;

/// Validate a create request into a [`NewKey`] (model names resolved to canonical ids).
fn new_key(st: &AppState, b: CreateBody) -> Result<NewKey, GatewayError> {
    let invalid = |param: &str, message: String| GatewayError::InvalidValue {
        param: param.into(),
        message,
    };
    if b.name.trim().is_empty() {
        return Err(invalid("name", "name must not be empty".into()));
    }
    let mut models = Vec::new();
    for m in &b.models {
        let model = st
            .catalog
            .resolve(m)
            .map_err(|e| invalid("models", e.to_string()))?;
        models.push(model.id.clone());
    }
    let budget_nanos = match b.budget_usd {
        None => None,
        // Below 1e9 USD, so that the budget in nano-dollars fits a u64 with room to spare.
        Some(usd) if usd.is_finite() && (0.0..MAX_BUDGET_USD).contains(&usd) => {
            Some((usd * 1e9).round() as u64)
        }
        Some(usd) => {
            return Err(invalid(
                "budget_usd",
                format!("budget_usd {usd} must be >= 0 and below {MAX_BUDGET_USD}"),
            ));
        }
    };
    let expires_ms = match b.expires_in_days {
        None => None,
        Some(d) if d.is_finite() && d > 0.0 && d <= MAX_EXPIRY_DAYS => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |t| i64::try_from(t.as_millis()).unwrap_or(i64::MAX));
            // At most 100 years of milliseconds: far inside an i64.
            Some(now.saturating_add((d * 86_400_000.0) as i64))
        }
        Some(d) => {
            return Err(invalid(
                "expires_in_days",
                format!("expires_in_days {d} must be above 0 and at most {MAX_EXPIRY_DAYS}"),
            ));
        }
    };
    for (name, v) in [("rpm", b.rpm), ("tpm", b.tpm)] {
        if v == Some(0) {
            return Err(invalid(
                name,
                format!("{name} must be at least 1 (leave it out for no limit)"),
            ));
        }
    }
    Ok(NewKey {
        name: b.name,
        team: b.team.filter(|t| !t.trim().is_empty()),
        models,
        rpm: b.rpm,
        tpm: b.tpm,
        budget_nanos,
        budget_period: b.budget_period.unwrap_or_default(),
        expires_ms,
    })
}

pub(crate) async fn revoke(
    State(live): State<Arc<Live>>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    on_key(&live, peer, &headers, id, |s, id| {
        s.revoke(id)
            .map(|done| done.then(|| json!({ "revoked": id })))
    })
    .await
}

pub(crate) async fn rotate(
    State(live): State<Arc<Live>>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    on_key(&live, peer, &headers, id, |s, id| {
        s.rotate(id)
            .map(|key| key.map(|key| json!({ "id": id, "key": key })))
    })
    .await
}

/// Run `op` on key `id` in the store, for an admin: its answer as JSON, or 404 when it
/// finds no usable key.
async fn on_key(
    live: &Live,
    peer: Option<Extension<PeerAddr>>,
    headers: &HeaderMap,
    id: String,
    op: impl FnOnce(
        &KeyStore,
        &str,
    ) -> Result<Option<serde_json::Value>, switchyard_ledger::LedgerError>
    + Send
    + 'static,
) -> Response {
    let st = match authorize(live, headers, peer.map(|p| p.0)) {
        Ok(st) => st,
        Err(r) => return *r,
    };
    let key = id.clone();
    match with_store(st, move |s| op(s, &key)).await {
        Ok(Some(body)) => json_response(StatusCode::OK, Bytes::from(body.to_string())),
        Ok(None) => *not_found(&id),
        Err(r) => *r,
    }
}

fn not_found(id: &str) -> Box<Response> {
    denied(
        StatusCode::NOT_FOUND,
        "not_found_error",
        "key_not_found",
        format!("no usable key '{id}'"),
    )
}
