//! Stage 5b, escalation: a cheap tier's whole answer that fails a cheap check (cut off,
//! a refusal, empty, not the JSON asked for) is asked again of the next tier up of its
//! virtual model. The first answer's cost is recorded apart; the stronger tier streams
//! live, and the cheap model's fallbacks are not its.

use metrics::counter;
use switchyard_wire::ChatRequest;

use super::abandon::AbandonGuard;
use super::{Job, Progress};
use crate::dispatch::{Answer, Won};
use crate::error::GatewayError;
use crate::plan::plan_target;
use crate::routing::virtual_models::{Ask, VirtualModel, needs_escalation, next_tier};
use crate::series::Event;
use crate::trail::Reason;
use crate::usage::Outcome;

/// Escalate `progress`'s answer if it needs it and a tier above can take the request.
pub(super) async fn escalate<'a>(
    job: &Job<'a>,
    guard: &mut AbandonGuard,
    progress: &mut Progress<'a>,
    vm: Option<&VirtualModel>,
    asked: Option<&ChatRequest>,
    stream: bool,
) -> Result<(), GatewayError> {
    let (Some(vm), Some(req)) = (vm, asked) else {
        return Ok(());
    };
    let Ok(Won {
        answer:
            Answer::Whole {
                body,
                usage,
                estimated,
            },
        ..
    }) = &progress.tried.outcome
    else {
        return Ok(());
    };
    let Some(why) = needs_escalation(req, body) else {
        return Ok(());
    };
    let (usage, estimated) = (*usage, *estimated);
    let st = job.st;
    let ctx = guard.ctx_mut()?;
    let key = ctx.admission.as_ref().map(|a| a.key.record.clone());
    let from = ctx.model_id.clone();
    let ask = Ask {
        req,
        meta: job.meta,
        prompt_estimate: job.prompt_estimate,
        key: key.as_ref(),
    };
    let Some(next) = next_tier(st.landscape(), vm, &from, ask) else {
        return Ok(());
    };
    let Ok(target) = plan_target(st, next, req.clone(), job.prompt_estimate) else {
        return Ok(());
    };
    ctx.attempts = progress.attempts;
    ctx.record(usage, estimated, Outcome::Escalated);
    counter!("switchyard_escalations_total", "from" => from.clone(), "to" => next.id.clone(), "reason" => why)
        .increment(1);
    ctx.st.stats.event(Event::Escalation);
    ctx.model_id.clone_from(&next.id);
    ctx.provider.clone_from(&target.provider.id);
    if let Some(r) = &mut ctx.route {
        r.push_str(&format!("; escalated from {from} ({why})"));
    }
    progress
        .try_target(job, ctx, target, stream, Reason::Escalation)
        .await;
    progress.untried = &[];
    Ok(())
}
