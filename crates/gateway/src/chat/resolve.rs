//! Stage 2, resolve: which catalog model serves the request. A virtual model picks one
//! by its rules and policy (saying why in `x-switchyard-route`); any other name is looked
//! up in the catalog. With escalation on, the request is kept to be asked again of a
//! stronger tier, and a stream that may escalate is held (read whole and checked first).
//! Reasoning the client dropped from its tool-call turns is restored here, found only
//! under its own key and conversation.

use switchyard_catalog::Model;
use switchyard_wire::ChatRequest;

use super::intake::Intake;
use crate::error::GatewayError;
use crate::reasoning::Conversation;
use crate::routing::virtual_models::{self, Ask, RequestMeta, VirtualModel};
use crate::state::AppState;

/// The model chosen for a request, and what the choice means for the rest of the path.
pub(super) struct Resolved<'a> {
    /// The catalog model tried first.
    pub(super) primary: &'a Model,
    /// The virtual model the client called, if it called one.
    pub(super) virtual_model: Option<&'a VirtualModel>,
    /// The request as it arrived, when a whole answer may be escalated.
    pub(super) escalation_copy: Option<ChatRequest>,
    /// The client asked for a stream.
    pub(super) stream: bool,
    /// The stream is held for the escalation check (attempts read whole answers).
    pub(super) held: bool,
    /// The client asked for usage in its stream.
    pub(super) wants_usage: bool,
    /// `x-switchyard-route`, when a virtual model routed the request.
    pub(super) route: Option<String>,
    /// The caller's conversation, when the request offers tools.
    pub(super) conversation: Option<Conversation>,
}

/// Resolve `asked`'s model (see the module doc); may rewrite the request (restored
/// reasoning, a held stream).
pub(super) fn resolve<'a>(
    st: &'a AppState,
    asked: &mut Intake,
    meta: RequestMeta<'_>,
) -> Result<Resolved<'a>, GatewayError> {
    let key = asked.caller.as_ref().map(|k| &k.record);
    let req = &mut asked.req;
    let virtual_model = st.virtual_models.get(&req.model.to_ascii_lowercase());
    let escalation_copy = virtual_model
        .filter(|vm| vm.escalates(req))
        .map(|_| req.clone());
    let held = escalation_copy.is_some() && req.is_stream();
    let (primary, mut route) = match virtual_model {
        Some(vm) => {
            let ask = Ask {
                req,
                meta,
                prompt_estimate: asked.prompt_estimate,
                key,
            };
            let routed = virtual_models::route(st.landscape(), vm, ask)?;
            let model = st
                .catalog
                .get(&routed.model_id)
                .ok_or(GatewayError::Internal(
                    "routed to a model not in the catalog",
                ))?;
            (model, Some(routed.header))
        }
        None => {
            let model = st
                .catalog
                .resolve_chat(&req.model)
                .map_err(GatewayError::from)?;
            (model, None)
        }
    };
    let conversation = {
        let owner = key.map_or("", |k| k.id.as_str());
        let has_calls = req.messages.iter().any(|m| m.tool_calls.is_some());
        let conv =
            (has_calls || req.has_tools()).then(|| st.reasoning.restore(owner, &mut req.messages));
        conv.filter(|_| req.has_tools())
    };
    let stream = req.is_stream();
    let wants_usage = req.wants_stream_usage();
    if held {
        req.stream = Some(false);
        req.stream_options = None;
        if let Some(r) = &mut route {
            r.push_str("; stream held for the escalation check");
        }
    }
    Ok(Resolved {
        primary,
        virtual_model,
        escalation_copy,
        stream,
        held,
        wants_usage,
        route,
        conversation,
    })
}
