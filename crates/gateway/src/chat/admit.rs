//! Stage 3, admission: a request's place under `[server] max_concurrency` (past it, a
//! fast 503 instead of a queue), and the caller's key checked for the model, its rate
//! limits and its budget — locally or in Redis — before any upstream spend.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::http::StatusCode;
use metrics::counter;
use switchyard_catalog::Model;
use switchyard_wire::ChatRequest;

use crate::error::GatewayError;
use crate::keys::{Admission, KeyState};
use crate::state::AppState;

/// Check the caller's key (if any) for `model`: the tokens it may use (prompt estimate +
/// the most output) and the most it may cost are reserved until its usage is recorded.
pub(super) async fn admit(
    st: &AppState,
    caller: Option<Arc<KeyState>>,
    model: &Model,
    req: &ChatRequest,
    prompt_estimate: u64,
) -> Result<Option<Arc<Admission>>, GatewayError> {
    let Some(key) = caller else {
        return Ok(None);
    };
    let max_out = req
        .completion_cap()
        .map_or(u64::from(model.max_output), u64::from);
    let tokens = prompt_estimate.saturating_add(max_out);
    // The most it may cost: its prompt's tier at peak prices, thinking output prices
    // unless thinking is off, at the dearest vendor that may serve it.
    let may_think = !req.thinking_disabled();
    let max_nanos = st
        .routes
        .get(&model.id)
        .and_then(|r| r.max_cost_nanos(prompt_estimate, max_out, may_think))
        .unwrap_or_else(|| {
            model
                .price
                .max_cost_nanos(prompt_estimate, max_out, may_think)
        });
    reserve(st, key, &model.id, tokens, max_nanos)
        .await
        .map(Some)
}

/// Check `key` for `model` and reserve `tokens` and `max_nanos` (locally or in Redis)
/// until the request's usage is recorded.
pub(crate) async fn reserve(
    st: &AppState,
    key: Arc<KeyState>,
    model: &str,
    tokens: u64,
    max_nanos: u64,
) -> Result<Arc<Admission>, GatewayError> {
    let admitted = match &st.shared_limits {
        Some(shared) => shared.admit(key, model, tokens, max_nanos).await?,
        None => Admission::local(key, model, tokens, max_nanos)?,
    };
    Ok(Arc::new(admitted))
}

/// A request's place under `[server] max_concurrency`; keeps the in-flight gauge right
/// however the request ends.
pub(crate) struct Inflight(Arc<AppState>);

impl Inflight {
    /// Whether the gateway is full now (a cheap look, before reading a body).
    pub(crate) fn full(st: &AppState) -> bool {
        st.admitted.load(Ordering::Acquire) >= st.config.server.max_concurrency
    }

    /// Admit a request, or the 503 to answer when the gateway is full.
    pub(crate) fn enter(st: &Arc<AppState>) -> Result<Self, GatewayError> {
        let before = st.admitted.fetch_add(1, Ordering::AcqRel);
        if before >= st.config.server.max_concurrency {
            st.admitted.fetch_sub(1, Ordering::AcqRel);
            return Err(overloaded(st));
        }
        st.inflight.increment(1.0);
        Ok(Inflight(Arc::clone(st)))
    }
}

pub(crate) fn overloaded(st: &AppState) -> GatewayError {
    counter!("switchyard_shed_total", "reason" => "gateway_overloaded").increment(1);
    GatewayError::Overloaded {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code: "gateway_overloaded",
        message: format!(
            "the gateway is at its limit of {} requests in flight; retry shortly",
            st.config.server.max_concurrency
        ),
        retry_after_secs: 1,
    }
}

impl Drop for Inflight {
    fn drop(&mut self) {
        self.0.inflight.decrement(1.0);
        self.0.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}
