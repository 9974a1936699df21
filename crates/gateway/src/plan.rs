//! The plan for one model: whether it can take the request (capabilities, output cap,
//! a usable vendor with deployments), and the request rewritten for each vendor that
//! serves it — one body per distinct (vendor, upstream id) among its deployments, each in
//! its vendor's dialect, prepared once and reused by every attempt, hedge and failover.

use axum::body::Bytes;
use switchyard_catalog::Model;
use switchyard_wire::{Adjustment, ChatRequest};

use crate::error::GatewayError;
use crate::routing::deployment::Deployment;
use crate::routing::fit::check_capabilities;
use crate::routing::route::Route;
use crate::state::AppState;
use crate::upstream::ProviderRuntime;

/// One model the request may be served by, with the request rewritten for each vendor.
pub(crate) struct Target<'a> {
    /// The vendor of the route's first deployment (the model's own, unless routed
    /// elsewhere): the one named until an attempt says who served.
    pub provider: &'a ProviderRuntime,
    /// The model's deployments and policy.
    pub route: &'a Route,
    /// Prepared bodies, one per distinct (vendor, upstream id) among the deployments.
    pub bodies: Vec<Prepared>,
    /// What was changed for the first deployment's vendor.
    pub adjustments: Vec<Adjustment>,
    /// Stream from the vendor, answer the client whole.
    pub assemble: bool,
    /// Tokens the request may use (prompt estimate + most output), reserved from a
    /// deployment's vendor quota.
    pub reserve: u64,
    /// The vendor API the bodies are for.
    pub api: UpstreamApi,
}

/// The request as one vendor takes it, for one of its ids of the model.
#[derive(Clone)]
pub(crate) struct Prepared {
    /// Provider id.
    pub provider: String,
    /// The model's id there.
    pub upstream_id: String,
    /// The body to send.
    pub body: Bytes,
}

/// The vendor API a target's bodies are written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UpstreamApi {
    /// `…/chat/completions`.
    Chat,
    /// The vendor's Anthropic-compatible `…/v1/messages`: a Messages request passed
    /// through as the client wrote it (the model renamed).
    Messages,
}

impl Target<'_> {
    /// The body prepared for `d`'s vendor and upstream id.
    pub(crate) fn body_for(&self, d: &Deployment) -> Bytes {
        body_for(&self.bodies, d)
    }

    /// Pass the client's Messages request `raw` through to the vendor's own
    /// Anthropic-compatible endpoint, when every deployment's region has one and the
    /// model needs no stream assembled; `false` (nothing changed) otherwise.
    pub(crate) fn pass_through(&mut self, st: &AppState, raw: &[u8]) -> bool {
        let all_have_one = self.route.deployments.iter().all(|d| {
            st.providers
                .get(&d.provider)
                .and_then(|p| p.regions.get(d.region))
                .is_some_and(|r| r.messages.is_some())
        });
        if !all_have_one || self.assemble {
            return false;
        }
        let Ok(serde_json::Value::Object(mut body)) = serde_json::from_slice(raw) else {
            return false;
        };
        let mut bodies = Vec::with_capacity(self.bodies.len());
        for p in &self.bodies {
            body.insert(
                "model".into(),
                serde_json::Value::String(p.upstream_id.clone()),
            );
            let Ok(bytes) = serde_json::to_vec(&body) else {
                return false;
            };
            bodies.push(Prepared {
                body: Bytes::from(bytes),
                ..p.clone()
            });
        }
        self.bodies = bodies;
        // The vendor takes the Messages request as it is: nothing was adjusted for it.
        self.adjustments.clear();
        self.api = UpstreamApi::Messages;
        true
    }
}

/// The body prepared for `d`'s vendor and upstream id (the first one if none was: a
/// deployment always has its own among them).
pub(crate) fn body_for(bodies: &[Prepared], d: &Deployment) -> Bytes {
    bodies
        .iter()
        .find(|p| p.upstream_id == d.upstream_id && p.provider == d.provider)
        .or(bodies.first())
        .map(|p| p.body.clone())
        .unwrap_or_default()
}

/// Check that `model` can take `req`, and prepare the request for its provider (one body
/// per distinct upstream id among its deployments).
pub(crate) fn plan_target<'a>(
    st: &'a AppState,
    model: &'a Model,
    mut req: ChatRequest,
    prompt_estimate: u64,
) -> Result<Target<'a>, GatewayError> {
    let reserve = prompt_estimate
        + req
            .completion_cap()
            .map_or(u64::from(model.max_output), u64::from);
    check_capabilities(&st.catalog, model, &req)?;
    let (provider, route) = serving(st, model)?;
    if let Some(cap) = req.completion_cap()
        && cap > model.max_output
    {
        return Err(GatewayError::InvalidValue {
            param: "max_tokens".into(),
            message: format!(
                "max_tokens {cap} exceeds the maximum output of '{}' ({} tokens)",
                model.id, model.max_output
            ),
        });
    }
    // Stream-only models: stream from the vendor, answer the client in one piece. One
    // vendor needing it streams them all (any vendor can stream).
    let vendors = vendors_of(st, route);
    let assemble = !req.is_stream()
        && vendors
            .iter()
            .any(|(p, id)| p.dialect.requires_stream(id, req.thinking_disabled()));
    if assemble {
        req.stream = Some(true);
    }
    let serialize = |r: &ChatRequest| {
        serde_json::to_vec(r)
            .map(Bytes::from)
            .map_err(|e| GatewayError::InvalidJson(e.to_string()))
    };
    let mut bodies = Vec::with_capacity(vendors.len());
    let mut adjustments = Vec::new();
    // Every vendor but the last rewrites a copy; the last (usually the only one) takes
    // the request itself.
    let last = vendors.len().saturating_sub(1);
    for (i, (p, id)) in vendors.iter().enumerate() {
        let mut r = if i < last {
            req.clone()
        } else {
            std::mem::take(&mut req)
        };
        let adjusted = p.dialect.prepare(&mut r, id);
        if i == 0 {
            adjustments = adjusted;
        }
        bodies.push(Prepared {
            provider: p.id.clone(),
            upstream_id: (*id).to_string(),
            body: serialize(&r)?,
        });
    }
    if assemble {
        adjustments.push(Adjustment {
            field: "stream",
            note: format!(
                "{} answers only as a stream; streamed and assembled",
                model.upstream_id
            ),
        });
    }
    Ok(Target {
        provider,
        route,
        bodies,
        adjustments,
        assemble,
        reserve,
        api: UpstreamApi::Chat,
    })
}

/// Each distinct (vendor, upstream id) among `route`'s deployments, in order.
fn vendors_of<'a>(st: &'a AppState, route: &'a Route) -> Vec<(&'a ProviderRuntime, &'a str)> {
    let mut out: Vec<(&ProviderRuntime, &str)> = Vec::with_capacity(1);
    for d in &route.deployments {
        let Some(p) = st.providers.get(&d.provider) else {
            continue;
        };
        if !out
            .iter()
            .any(|(q, id)| q.id == p.id && *id == d.upstream_id)
        {
            out.push((p, &d.upstream_id));
        }
    }
    out
}

/// The vendor of `model`'s first deployment, and its route: 503 naming what to set
/// when no vendor of it has a key, or the model has no deployment.
pub(crate) fn serving<'a>(
    st: &'a AppState,
    model: &Model,
) -> Result<(&'a ProviderRuntime, &'a Route), GatewayError> {
    let route = st
        .routes
        .get(&model.id)
        .filter(|r| !r.deployments.is_empty())
        .ok_or_else(|| GatewayError::ProviderNotConfigured {
            provider: model.provider.clone(),
            hint: format!("model '{}' has no deployments", model.id),
        })?;
    // A route keeps only the deployments it can call, when it has any: the first one
    // stands for them all.
    let first = route
        .deployments
        .first()
        .map_or(model.provider.as_str(), |d| d.provider.as_str());
    let provider = st
        .providers
        .get(first)
        .ok_or_else(|| GatewayError::ProviderNotConfigured {
            provider: first.to_string(),
            hint: "it has no runtime entry".into(),
        })?;
    if !provider.usable() {
        return Err(GatewayError::ProviderNotConfigured {
            provider: provider.id.clone(),
            hint: provider.unusable_hint.clone(),
        });
    }
    Ok((provider, route))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const CONFIG: &str = r#"
[usage]
store = "none"

[providers.deepseek]
api_key = "k"
regions = [{ name = "a", base_url = "http://127.0.0.1:9/a" }, { name = "b", base_url = "http://127.0.0.1:9/b" }]

[providers.dashscope]
api_key = "k"

[routes."deepseek-v4-flash"]
deployments = [{ region = "a" }, { region = "b", upstream_id = "flash-at-b" }, { region = "a", name = "a2" }]
"#;

    async fn state() -> AppState {
        let config = Config::parse(CONFIG, "plan-test").unwrap();
        AppState::build(config, &|_| None).await.unwrap()
    }

    fn request(model: &str, extra: serde_json::Value) -> ChatRequest {
        let mut v =
            serde_json::json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
        if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
            v.extend(extra.clone());
        }
        serde_json::from_value(v).unwrap()
    }

    fn model_of(body: &Bytes) -> String {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap();
        v["model"].as_str().unwrap().to_string()
    }

    #[tokio::test]
    async fn a_messages_request_passes_through_only_where_every_region_has_the_endpoint() {
        let raw = br#"{"model": "ds-flash", "max_tokens": 9, "system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}], "messages": [{"role": "user", "content": "hi"}]}"#;
        // deepseek's regions a and b (config-made, no built-in twin) have no anthropic_url.
        let st = state().await;
        let model = st.catalog.resolve("deepseek-v4-flash").unwrap();
        let mut t = plan_target(&st, model, request(&model.id, serde_json::json!({})), 10).unwrap();
        assert!(!t.pass_through(&st, raw));
        assert_eq!(t.api, UpstreamApi::Chat);
        // The built-in dashscope regions have one: the body goes as the client wrote it,
        // renamed for each deployment.
        let model = st.catalog.resolve("qwen-plus").unwrap();
        let mut t = plan_target(&st, model, request(&model.id, serde_json::json!({})), 10).unwrap();
        assert!(t.pass_through(&st, raw));
        assert_eq!(t.api, UpstreamApi::Messages);
        let body: serde_json::Value = serde_json::from_slice(&t.bodies[0].body).unwrap();
        assert_eq!(body["model"], "qwen-plus");
        assert_eq!(body["system"][0]["cache_control"]["type"], "ephemeral");
        assert_eq!(body["max_tokens"], 9);
    }

    #[tokio::test]
    async fn a_model_gets_one_body_per_distinct_upstream_id_each_naming_its_own() {
        let st = state().await;
        let model = st.catalog.get("deepseek-v4-flash").unwrap();
        let t = plan_target(&st, model, request(&model.id, serde_json::json!({})), 10).unwrap();
        let ids: Vec<&str> = t.bodies.iter().map(|p| p.upstream_id.as_str()).collect();
        assert_eq!(ids, [model.upstream_id.as_str(), "flash-at-b"]);
        for p in &t.bodies {
            assert_eq!(model_of(&p.body), p.upstream_id);
        }
        let b = t.route.deployments.iter().find(|d| d.name == "b").unwrap();
        assert_eq!(model_of(&t.body_for(b)), "flash-at-b");
        assert_eq!(
            t.reserve,
            10 + u64::from(model.max_output),
            "prompt + most output"
        );
    }

    #[tokio::test]
    async fn max_tokens_past_the_model_output_is_refused_before_anything_is_spent() {
        let st = state().await;
        let model = st.catalog.get("deepseek-v4-flash").unwrap();
        let too_many = u64::from(model.max_output) + 1;
        let req = request(&model.id, serde_json::json!({"max_tokens": too_many}));
        match plan_target(&st, model, req, 10) {
            Err(GatewayError::InvalidValue { param, .. }) => assert_eq!(param, "max_tokens"),
            other => panic!("expected a 400 on max_tokens, got {:?}", other.err()),
        }
    }

    #[tokio::test]
    async fn a_model_whose_provider_has_no_key_is_not_configured() {
        let st = state().await;
        let model = st
            .catalog
            .models()
            .iter()
            .find(|m| m.provider == "moonshot")
            .unwrap();
        let req = request(&model.id, serde_json::json!({}));
        assert!(matches!(
            plan_target(&st, model, req, 10),
            Err(GatewayError::ProviderNotConfigured { .. })
        ));
    }

    #[tokio::test]
    async fn a_stream_only_model_is_streamed_from_the_vendor_and_says_so() {
        let st = state().await;
        let model = st.catalog.get("qwen3-32b").unwrap();
        let t = plan_target(&st, model, request(&model.id, serde_json::json!({})), 10).unwrap();
        assert!(t.assemble);
        let v: serde_json::Value = serde_json::from_slice(&t.bodies[0].body).unwrap();
        assert_eq!(v["stream"], true);
        assert!(t.adjustments.iter().any(|a| a.field == "stream"));
    }
}
