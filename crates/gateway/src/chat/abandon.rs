//! The request's context while the vendor has it: if the client leaves (the request
//! future is dropped) before the answer is handed over, the prompt is recorded as spent.

use axum::http::StatusCode;
use metrics::counter;
use switchyard_wire::TokenUsage;

use crate::ctx::RequestCtx;
use crate::error::GatewayError;
use crate::usage::Outcome;

/// Records estimated usage if the request future is dropped (client gone) while the
/// upstream call is in flight.
pub(crate) struct AbandonGuard {
    ctx: Option<RequestCtx>,
}

impl AbandonGuard {
    /// Guard `ctx` until it is taken or disarmed.
    pub(crate) fn new(ctx: RequestCtx) -> Self {
        AbandonGuard { ctx: Some(ctx) }
    }

    /// The context, unless already taken.
    pub(crate) fn ctx(&self) -> Option<&RequestCtx> {
        self.ctx.as_ref()
    }

    /// Hand the context over (the answer now records usage).
    pub(crate) fn take(&mut self) -> Option<RequestCtx> {
        self.ctx.take()
    }

    /// The context, to update while attempts go on.
    pub(crate) fn ctx_mut(&mut self) -> Result<&mut RequestCtx, GatewayError> {
        self.ctx
            .as_mut()
            .ok_or(GatewayError::Internal("request context already taken"))
    }

    /// The request failed and was recorded: nothing more to do when dropped.
    pub(crate) fn disarm(&mut self) {
        self.ctx = None;
    }
}

impl Drop for AbandonGuard {
    fn drop(&mut self) {
        if let Some(ctx) = self.ctx.take() {
            counter!("switchyard_client_disconnects_total", "model" => ctx.model_id.clone(), "provider" => ctx.provider.clone())
                .increment(1);
            ctx.count(StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST));
            let usage = TokenUsage {
                prompt: ctx.prompt_estimate,
                ..TokenUsage::default()
            };
            ctx.record(usage, true, Outcome::ClientDisconnected);
        }
    }
}
