//! A whole answer, read inside its attempt: nothing has reached the client yet, so a
//! body cut off half-way is as retryable as a refused connection. Usage is normalised
//! (estimated when the vendor gave none), the model named canonically, and the reasoning
//! behind tool calls remembered for the caller's next turn.

use std::time::Duration;

use axum::body::Bytes;
use switchyard_wire::dialect::normalize_completion;
use switchyard_wire::{ErrorKind, TokenUsage, UpstreamError, tokens};

use crate::ctx::RequestCtx;
use crate::plan::UpstreamApi;
use crate::upstream::ProviderRuntime;
use crate::upstream::answer::{Read, read_whole};

/// Read `upstream`'s whole answer for `ctx`: the body for the client, its usage, and
/// whether that usage is our estimate.
pub(super) async fn complete(
    ctx: &RequestCtx,
    provider: &ProviderRuntime,
    upstream: crate::upstream::UpstreamResponse,
    timeout: Duration,
    (assemble, api): (bool, UpstreamApi),
) -> Result<(Bytes, TokenUsage, bool), UpstreamError> {
    let remaining = timeout.saturating_sub(ctx.started.elapsed());
    let read = if api == UpstreamApi::Messages {
        Read::Message
    } else if assemble {
        Read::Assemble
    } else {
        Read::Completion
    };
    let mut completion = read_whole(provider, upstream, remaining, read).await?;
    let usage = normalize_completion(&mut completion);
    completion.model.clone_from(&ctx.model_id);
    for choice in &completion.choices {
        let msg = &choice.message;
        if let (Some(conv), Some(calls), Some(r)) =
            (&ctx.conversation, &msg.tool_calls, &msg.reasoning_content)
        {
            ctx.st
                .reasoning
                .insert(conv, calls.iter().filter_map(|c| c.id.as_deref()), r);
        }
    }
    let (usage, estimated) = match usage {
        Some(u) => (u, false),
        None => {
            let completion_tokens = completion
                .choices
                .iter()
                .map(|c| {
                    tokens::estimate_message(&c.message)
                        .saturating_sub(tokens::PER_MESSAGE_OVERHEAD)
                })
                .sum();
            let u = TokenUsage {
                prompt: ctx.prompt_estimate,
                completion: completion_tokens,
                ..TokenUsage::default()
            };
            completion.usage = Some(u.to_wire());
            (u, true)
        }
    };
    let body = serde_json::to_vec(&completion)
        .map_err(|e| UpstreamError::transport(ErrorKind::BadResponse, e.to_string()))?;
    Ok((Bytes::from(body), usage, estimated))
}
