//! Virtual models: a name a client calls (`auto`, …) that picks a catalog model per request.
//!
//! Constraints come first: a candidate must take the request's input (images, audio, tools,
//! the JSON `response_format` asks for: the same check as for an explicit model), reason if reasoning was asked for, hold the
//! prompt estimate plus the most output in its context window, be allowed by the caller's
//! key, and have a deployment on a configured provider whose breaker is not open. Among those that fit,
//! the policy picks: `tiered` scores the prompt with the router's classifier
//! (`switchyard_router`) and maps the score to a tier through thresholds set from the
//! configured traffic shares (calibrated on the classifier's training prompts), moving up
//! to the next tier that fits (then down) when the chosen one cannot take the request;
//! `cheapest` takes the lowest expected cost; `fastest` the lowest measured time to first
//! token; `weighted` draws at random by weight. The choice and its reason go out in
//! `x-switchyard-route`.

use switchyard_catalog::{Capability, Model};
use switchyard_ledger::keys::KeyRecord;
use switchyard_router::Model as Classifier;
use switchyard_wire::{ChatRequest, Role};

use std::collections::HashMap;

use axum::http::HeaderMap;

use super::fit::check_capabilities;
use super::health::Health;
use super::route::Route;
use crate::config::{Match, Policy, Rule, VirtualModelConfig};
use crate::error::GatewayError;
use crate::upstream::ProviderRuntime;

/// What a virtual model's choice looks at: the catalog, each model's deployments, their
/// providers and health, and the tiered router's classifier.
#[derive(Clone, Copy)]
pub struct Landscape<'a> {
    /// The catalog.
    pub catalog: &'a switchyard_catalog::Catalog,
    /// Deployments and policy per canonical model id.
    pub routes: &'a HashMap<String, Route>,
    /// Providers by id.
    pub providers: &'a HashMap<String, ProviderRuntime>,
    /// Circuit breakers.
    pub health: &'a Health,
    /// The classifier, when a virtual model is tiered.
    pub classifier: Option<&'a Classifier>,
}

/// One request as a virtual model's choice sees it.
#[derive(Clone, Copy)]
pub(crate) struct Ask<'a> {
    /// The parsed request.
    pub req: &'a ChatRequest,
    /// Its headers and path.
    pub meta: RequestMeta<'a>,
    /// Prompt tokens by our estimator.
    pub prompt_estimate: u64,
    /// The caller's key, when keys are on.
    pub key: Option<&'a KeyRecord>,
}

/// A virtual model, resolved against the catalog at start-up.
#[derive(Debug, Clone)]
pub(crate) struct VirtualModel {
    /// The name clients call.
    pub name: String,
    /// Policy.
    pub policy: Policy,
    /// Canonical model ids (for `tiered`: cheap to premium).
    pub models: Vec<String>,
    /// For `tiered`: the score from which each tier above the first starts.
    pub thresholds: Vec<f32>,
    /// Retry a failed cheap answer on the next tier up (non-streaming).
    pub escalate: bool,
    /// Escalate streams too, holding the cheap tier's answer until it is checked.
    pub escalate_streams: bool,
    /// For `weighted`: one weight per model.
    pub weights: Vec<u32>,
    /// Rules (model names resolved), tried before the policy.
    pub rules: Vec<(Rule, String)>,
}

impl VirtualModel {
    /// Whether an answer to `req` may be escalated: `escalate` on, and for a stream,
    /// `escalate_streams` too.
    pub(crate) fn escalates(&self, req: &ChatRequest) -> bool {
        self.escalate && (!req.is_stream() || self.escalate_streams)
    }

    /// Resolve `cfg`'s model names; set tier thresholds from its shares.
    pub(crate) fn build(
        name: &str,
        cfg: &VirtualModelConfig,
        catalog: &switchyard_catalog::Catalog,
        classifier: Option<&Classifier>,
    ) -> Result<VirtualModel, String> {
        let mut models = Vec::new();
        for m in &cfg.models {
            let model = catalog.resolve_chat(m).map_err(|e| e.to_string())?;
            models.push(model.id.clone());
        }
        // Tier i starts where the prompts sent to tiers i.. make up their shares' sum.
        let thresholds = match (cfg.policy, classifier) {
            (Policy::Tiered, Some(c)) => (1..cfg.shares.len())
                .map(|i| c.threshold_for_share(cfg.shares[i..].iter().sum()))
                .collect(),
            _ => Vec::new(),
        };
        Ok(VirtualModel {
            name: name.to_string(),
            policy: cfg.policy,
            models,
            thresholds,
            escalate: cfg.escalate,
            escalate_streams: cfg.escalate_streams,
            weights: cfg.weights.clone(),
            rules: cfg
                .rules
                .iter()
                .map(|r| {
                    catalog
                        .resolve_chat(&r.model)
                        .map(|m| (r.clone(), m.id.clone()))
                        .map_err(|e| e.to_string())
                })
                .collect::<Result<_, _>>()?,
        })
    }
}

/// Why a whole answer should be retried on a stronger tier, if it should: cut off at the
/// token limit, a refusal, an empty answer, or not the JSON the request asked for.
pub(crate) fn needs_escalation(req: &ChatRequest, body: &[u8]) -> Option<&'static str> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let choice = &v["choices"][0];
    let content = choice["message"]["content"].as_str().unwrap_or_default();
    let calls_tools = choice["message"]["tool_calls"]
        .as_array()
        .is_some_and(|c| !c.is_empty());
    answer_problem(
        req,
        choice["finish_reason"].as_str().unwrap_or_default(),
        content,
        calls_tools,
    )
}

/// [`needs_escalation`] on an answer's parts (a whole body, or a buffered stream).
pub(crate) fn answer_problem(
    req: &ChatRequest,
    finish_reason: &str,
    content: &str,
    calls_tools: bool,
) -> Option<&'static str> {
    if finish_reason == "length" {
        return Some("cut at max tokens");
    }
    if calls_tools {
        return None;
    }
    let head: String = content.chars().take(80).collect::<String>().to_lowercase();
    const REFUSALS: [&str; 6] = [
        "i can't help",
        "i cannot help",
        "i can't assist",
        "i cannot assist",
        "i'm sorry, but i can",
        "i am unable to",
    ];
    if REFUSALS.iter().any(|r| head.contains(r)) {
        return Some("refusal");
    }
    if req.json_output().is_some() {
        // DeepSeek's JSON mode answers blanks when its output is not JSON.
        return serde_json::from_str::<serde_json::Value>(content)
            .is_err()
            .then_some("invalid JSON");
    }
    content.trim().is_empty().then_some("empty answer")
}

/// The next model above `current` in `vm` that can take `req`.
pub(crate) fn next_tier<'a>(
    land: Landscape<'a>,
    vm: &VirtualModel,
    current: &str,
    ask: Ask<'_>,
) -> Option<&'a Model> {
    let at = vm.models.iter().position(|m| m == current)?;
    vm.models
        .get(at + 1..)?
        .iter()
        .filter_map(|id| land.catalog.get(id))
        .find(|m| misfit(land, m, ask).is_none())
}

/// Where a virtual model sent a request, and why.
#[derive(Debug, Clone)]
pub(crate) struct Routed {
    /// Canonical id of the chosen model.
    pub model_id: String,
    /// `x-switchyard-route` value.
    pub header: String,
}

/// The text the classifier reads: the user's messages, most recent last (the last 8 KB).
fn user_text(req: &ChatRequest) -> String {
    let mut text = String::new();
    for m in req.messages.iter().filter(|m| m.role == Role::User) {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&m.text_content());
    }
    if text.len() > 8192 {
        let mut cut = text.len() - 8192;
        while !text.is_char_boundary(cut) {
            cut += 1;
        }
        text.drain(..cut);
    }
    text
}

/// Why `model` cannot take `req`, if it cannot.
fn misfit(land: Landscape<'_>, model: &Model, ask: Ask<'_>) -> Option<String> {
    let Ask {
        req,
        prompt_estimate,
        key,
        ..
    } = ask;
    if let Err(e) = check_capabilities(land.catalog, model, req) {
        return Some(e.to_string());
    }
    let need = prompt_estimate + req.completion_cap().map_or(0, u64::from);
    if need > u64::from(model.context_window) {
        return Some(format!(
            "{}: context window {} < prompt (~{prompt_estimate}) + max output",
            model.id, model.context_window
        ));
    }
    if key.is_some_and(|k| !k.may_use(&model.id)) {
        return Some(format!("{}: not allowed for this key", model.id));
    }
    if asks_for_reasoning(req) && !model.supports(Capability::Reasoning) {
        return Some(format!(
            "{}: does not reason (reasoning was asked for)",
            model.id
        ));
    }
    let deployments = land
        .routes
        .get(&model.id)
        .map_or(&[][..], |r| &r.deployments[..]);
    let usable = |p: &str| land.providers.get(p).is_some_and(|p| p.usable());
    if !deployments.iter().any(|d| usable(&d.provider)) {
        return Some(format!(
            "{}: its provider is not configured (no API key)",
            model.id
        ));
    }
    let healthy = deployments
        .iter()
        .any(|d| usable(&d.provider) && land.health.standing(&d.provider, &d.name).preferred);
    if !healthy {
        return Some(format!("{}: no healthy deployment", model.id));
    }
    None
}

/// Whether the request asks for reasoning: `reasoning_effort`, or `thinking` enabled.
fn asks_for_reasoning(req: &ChatRequest) -> bool {
    req.extra.contains_key("reasoning_effort")
        || req
            .extra
            .get("thinking")
            .and_then(|t| t.get("type"))
            .and_then(|t| t.as_str())
            .is_some_and(|t| t == "enabled")
}

/// What rules may look at besides the body: the request's headers and URL path.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestMeta<'a> {
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// URL path (`/team-a/v1/chat/completions`).
    pub path: &'a str,
}

/// Whether `m` holds for this request.
fn matches(m: &Match, meta: RequestMeta<'_>, req: &ChatRequest, key: Option<&KeyRecord>) -> bool {
    match m {
        Match::Header(name, value) => meta
            .headers
            .get(name.as_str())
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() == value),
        Match::Team(t) => key.and_then(|k| k.team.as_deref()) == Some(t.as_str()),
        Match::User(u) => req.user.as_deref() == Some(u.as_str()),
        Match::Key(id) => key.is_some_and(|k| &k.id == id),
        Match::Path(prefix) => meta
            .path
            .strip_prefix(prefix.as_str())
            .is_some_and(|rest| rest.starts_with('/')),
    }
}

fn describe(m: &Match) -> String {
    match m {
        Match::Header(n, v) => format!("header {n} = {v}"),
        Match::Team(t) => format!("team = {t}"),
        Match::User(u) => format!("user = {u}"),
        Match::Key(k) => format!("key = {k}"),
        Match::Path(p) => format!("path = {p}"),
    }
}

/// Pick the model for one request to `vm`: the first rule that matches and whose model
/// fits decides; otherwise the policy chooses among the models that fit.
pub(crate) fn route(
    land: Landscape<'_>,
    vm: &VirtualModel,
    ask: Ask<'_>,
) -> Result<Routed, GatewayError> {
    if let Some(routed) = by_rule(land, vm, ask) {
        return Ok(routed);
    }
    let mut why_not = Vec::new();
    let fits: Vec<(usize, &Model)> = vm
        .models
        .iter()
        .enumerate()
        .filter_map(|(i, id)| land.catalog.get(id).map(|m| (i, m)))
        .filter(|(_, m)| match misfit(land, m, ask) {
            Some(reason) => {
                why_not.push(reason);
                false
            }
            None => true,
        })
        .collect();
    if fits.is_empty() {
        return Err(GatewayError::InvalidValue {
            param: "model".into(),
            message: format!(
                "no model of '{}' can take this request: {}",
                vm.name,
                why_not.join("; ")
            ),
        });
    }
    let (chosen, detail) = match vm.policy {
        Policy::Tiered => tiered(land, vm, ask.req, &fits)?,
        Policy::Cheapest => cheapest(land, ask, &fits)?,
        Policy::Weighted => weighted(vm, &fits)?,
        Policy::Fastest => fastest(land, &fits)?,
    };
    Ok(Routed {
        model_id: chosen.id.clone(),
        header: format!(
            "{}; policy={}; model={}; {detail}",
            vm.name,
            vm.policy.as_str(),
            chosen.id
        ),
    })
}

/// The first rule that holds for this request and whose model fits it.
fn by_rule(land: Landscape<'_>, vm: &VirtualModel, ask: Ask<'_>) -> Option<Routed> {
    let key = ask.key;
    let team = key.and_then(|k| k.team.as_deref());
    vm.rules.iter().find_map(|(rule, model_id)| {
        let m = &rule.when;
        if !rule.allows(key.map(|k| k.id.as_str()), team) || !matches(m, ask.meta, ask.req, key) {
            return None;
        }
        let model = land.catalog.get(model_id)?;
        misfit(land, model, ask).is_none().then(|| Routed {
            model_id: model.id.clone(),
            header: format!(
                "{}; policy=rule; model={}; reason=rule: {}",
                vm.name,
                model.id,
                describe(m)
            ),
        })
    })
}

/// A model and the `x-switchyard-route` detail of why it was picked.
type Pick<'a> = (&'a Model, String);

/// `tiered`: the classifier's tier if it fits, else the next one up that does, else down.
fn tiered<'a>(
    land: Landscape<'_>,
    vm: &VirtualModel,
    req: &ChatRequest,
    fits: &[(usize, &'a Model)],
) -> Result<Pick<'a>, GatewayError> {
    let score = land.classifier.map_or(0.0, |c| c.score(&user_text(req)));
    let tier = vm.thresholds.iter().filter(|t| score >= **t).count();
    let pick = fits
        .iter()
        .find(|(i, _)| *i >= tier)
        .or_else(|| fits.iter().rev().find(|(i, _)| *i < tier));
    let Some(&(i, m)) = pick else {
        return Err(GatewayError::Internal("no tier after filtering"));
    };
    let reason = if i == tier {
        "scored tier".to_string()
    } else {
        format!("tier {tier} cannot take the request")
    };
    Ok((m, format!("tier={i}; score={score:.3}; reason={reason}")))
}

/// `cheapest`: the lowest expected cost for this prompt and its output cap (512 if none),
/// each model at the price of the vendor that normally serves it (its route's first tier:
/// a model deployed at a cheaper reseller first is priced there).
fn cheapest<'a>(
    land: Landscape<'_>,
    ask: Ask<'_>,
    fits: &[(usize, &'a Model)],
) -> Result<Pick<'a>, GatewayError> {
    let out = u64::from(ask.req.completion_cap().unwrap_or(512));
    let price = |m: &'a Model| {
        land.routes
            .get(&m.id)
            .and_then(|r| r.deployments.iter().min_by_key(|d| d.tier))
            .map_or(&m.price, |d| &*d.price)
    };
    let cost = |m: &'a Model| price(m).cost_nanos(ask.prompt_estimate, 0, out);
    let Some(&(_, m)) = fits.iter().min_by_key(|(_, m)| cost(m)) else {
        return Err(GatewayError::Internal("no candidate after filtering"));
    };
    let usd = cost(m) as f64 / 1e9;
    Ok((m, format!("reason=lowest expected cost (${usd:.6})")))
}

/// `weighted`: a random draw by the configured weights.
fn weighted<'a>(vm: &VirtualModel, fits: &[(usize, &'a Model)]) -> Result<Pick<'a>, GatewayError> {
    use rand::Rng;
    let weight = |i: usize| u64::from(vm.weights.get(i).copied().unwrap_or(1));
    let total: u64 = fits.iter().map(|(i, _)| weight(*i)).sum();
    let mut draw = rand::rng().random_range(0..total.max(1));
    let Some(&last) = fits.last() else {
        return Err(GatewayError::Internal("no candidate after filtering"));
    };
    let mut pick = last;
    for &(i, m) in fits {
        if draw < weight(i) {
            pick = (i, m);
            break;
        }
        draw -= weight(i);
    }
    let detail = format!(
        "reason=weighted draw (weight {} of {total})",
        weight(pick.0)
    );
    Ok((pick.1, detail))
}

/// `fastest`: the best measured TTFT among a model's deployments; a model with none
/// measured yet counts as zero, so every candidate gets measured.
fn fastest<'a>(land: Landscape<'_>, fits: &[(usize, &'a Model)]) -> Result<Pick<'a>, GatewayError> {
    let ttft = |m: &Model| {
        land.routes.get(&m.id).map_or(u64::MAX, |r| {
            r.deployments
                .iter()
                .filter_map(|d| d.ewma_ttft())
                .map(|t| u64::try_from(t.as_micros()).unwrap_or(u64::MAX))
                .min()
                .unwrap_or(0)
        })
    };
    let Some(&(_, m)) = fits.iter().min_by_key(|(_, m)| ttft(m)) else {
        return Err(GatewayError::Internal("no candidate after filtering"));
    };
    Ok((
        m,
        format!("reason=lowest ttft ({:.1} ms)", ttft(m) as f64 / 1000.0),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escalation_checks_spot_cut_refused_and_non_json_answers() {
        let req = |fmt: Option<&str>| {
            let mut v = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
            if let Some(t) = fmt {
                v["response_format"] = json!({"type": t});
            }
            serde_json::from_value::<switchyard_wire::ChatRequest>(v).unwrap()
        };
        let answer = |content: &str, finish: &str| {
            json!({"choices": [{"message": {"role": "assistant", "content": content}, "finish_reason": finish}]})
                .to_string()
                .into_bytes()
        };
        assert_eq!(needs_escalation(&req(None), &answer("Paris", "stop")), None);
        assert_eq!(
            needs_escalation(&req(None), &answer("Par", "length")),
            Some("cut at max tokens")
        );
        assert_eq!(
            needs_escalation(
                &req(None),
                &answer("I'm sorry, but I can't do that.", "stop")
            ),
            Some("refusal")
        );
        assert_eq!(
            needs_escalation(&req(Some("json_object")), &answer("{\"a\": 1", "stop")),
            Some("invalid JSON")
        );
        assert_eq!(
            needs_escalation(&req(Some("json_object")), &answer("{\"a\": 1}", "stop")),
            None
        );
    }
}
