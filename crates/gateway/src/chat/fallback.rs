//! Stage 5a, fallbacks: every deployment of the model failed in a way another model might
//! not (a retryable error) — try the `[fallbacks]` models in order, while the retry
//! budget lasts, skipping those the caller's key may not use or that cannot take the
//! request.

use metrics::counter;
use switchyard_catalog::Model;

use super::abandon::AbandonGuard;
use super::{Job, Progress};
use crate::error::GatewayError;
use crate::plan::plan_target;
use crate::series::Event;
use crate::trail::Reason;

/// Try the fallback models still untried in `progress` (see the module doc).
pub(super) async fn fall_back<'a>(
    job: &Job<'a>,
    guard: &mut AbandonGuard,
    progress: &mut Progress<'a>,
    primary: &Model,
    live: bool,
) -> Result<(), GatewayError> {
    let st = job.st;
    for name in progress.untried {
        let request = match (&progress.tried.outcome, &progress.original) {
            (Err(e), Some(request)) if e.kind.retryable() => request,
            _ => break,
        };
        if !st.retry_budget.withdraw() {
            break;
        }
        progress.untried = progress.untried.get(1..).unwrap_or_default();
        let Some(model) = st.catalog.get(name) else {
            continue;
        };
        let allowed = guard
            .ctx()
            .and_then(|c| c.admission.as_ref())
            .is_none_or(|a| a.key.record.may_use(&model.id));
        if !allowed {
            continue;
        }
        let Ok(target) = plan_target(st, model, request.clone(), job.prompt_estimate) else {
            continue;
        };
        counter!("switchyard_fallbacks_total", "from" => primary.id.clone(), "to" => model.id.clone()).increment(1);
        st.stats.event(Event::Fallback);
        tracing::warn!(from = %primary.id, to = %model.id, "every deployment failed; trying a fallback model");
        let ctx = guard.ctx_mut()?;
        ctx.model_id.clone_from(&model.id);
        ctx.provider.clone_from(&target.provider.id);
        progress
            .try_target(job, ctx, target, live, Reason::Fallback)
            .await;
        progress.fell_back_from = Some(primary.id.clone());
    }
    Ok(())
}
