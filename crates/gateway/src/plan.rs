//! The plan for one model: whether it can take the request (capabilities, output cap,
//! a usable provider with deployments), and the request rewritten for its vendor — one
//! body per distinct upstream id among its deployments, prepared once and reused by
//! every attempt, hedge and failover.

use axum::body::Bytes;
use switchyard_catalog::Model;
use switchyard_wire::{Adjustment, ChatRequest};

use crate::error::GatewayError;
use crate::routing::deployment::Deployment;
use crate::routing::fit::check_capabilities;
use crate::routing::route::Route;
use crate::state::AppState;
use crate::upstream::ProviderRuntime;

/// One model the request may be served by, with the request rewritten for its dialect.
pub(crate) struct Target<'a> {
    /// The model's provider.
    pub provider: &'a ProviderRuntime,
    /// The model's deployments and policy.
    pub route: &'a Route,
    /// Prepared bodies by upstream id (one per distinct id among the deployments).
    pub bodies: Vec<(String, Bytes)>,
    /// What was changed for the vendor.
    pub adjustments: Vec<Adjustment>,
    /// Stream from the vendor, answer the client whole.
    pub assemble: bool,
    /// Tokens the request may use (prompt estimate + most output), reserved from a
    /// deployment's vendor quota.
    pub reserve: u64,
    /// The vendor API the bodies are for.
    pub api: UpstreamApi,
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
    /// The body prepared for `d`'s upstream id.
    pub(crate) fn body_for(&self, d: &Deployment) -> Bytes {
        body_for(&self.bodies, &d.upstream_id)
    }

    /// Pass the client's Messages request `raw` through to the vendor's own
    /// Anthropic-compatible endpoint, when every deployment's region has one and the
    /// model needs no stream assembled; `false` (nothing changed) otherwise.
    pub(crate) fn pass_through(&mut self, raw: &[u8]) -> bool {
        let all_have_one = self.route.deployments.iter().all(|d| {
            self.provider
                .regions
                .get(d.region)
                .is_some_and(|r| r.messages.is_some())
        });
        if !all_have_one || self.assemble {
            return false;
        }
        let Ok(serde_json::Value::Object(mut body)) = serde_json::from_slice(raw) else {
            return false;
        };
        let mut bodies = Vec::with_capacity(self.bodies.len());
        for (id, _) in &self.bodies {
            body.insert("model".into(), serde_json::Value::String(id.clone()));
            let Ok(bytes) = serde_json::to_vec(&body) else {
                return false;
            };
            bodies.push((id.clone(), Bytes::from(bytes)));
        }
        self.bodies = bodies;
        // The vendor takes the Messages request as it is: nothing was adjusted for it.
        self.adjustments.clear();
        self.api = UpstreamApi::Messages;
        true
    }
}

/// The body prepared for `upstream_id` (the first one if none was: a deployment always
/// has its model's id among them).
pub(crate) fn body_for(bodies: &[(String, Bytes)], upstream_id: &str) -> Bytes {
    bodies
        .iter()
        .find(|(id, _)| id == upstream_id)
        .or(bodies.first())
        .map(|(_, b)| b.clone())
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
    // Stream-only models: stream from the vendor, answer the client in one piece.
    let assemble = !req.is_stream()
        && provider
            .dialect
            .requires_stream(&model.upstream_id, req.thinking_disabled());
    if assemble {
        req.stream = Some(true);
    }
    let mut ids: Vec<&str> = Vec::with_capacity(1);
    for d in &route.deployments {
        if !ids.contains(&d.upstream_id.as_str()) {
            ids.push(&d.upstream_id);
        }
    }
    let first = ids.first().copied().unwrap_or(&model.upstream_id);
    let others: Vec<ChatRequest> = ids.iter().skip(1).map(|_| req.clone()).collect();
    let mut adjustments = provider.dialect.prepare(&mut req, first);
    if assemble {
        adjustments.push(Adjustment {
            field: "stream",
            note: format!(
                "{} answers only as a stream; streamed and assembled",
                model.upstream_id
            ),
        });
    }
    let serialize = |r: &ChatRequest| {
        serde_json::to_vec(r)
            .map(Bytes::from)
            .map_err(|e| GatewayError::InvalidJson(e.to_string()))
    };
    let mut bodies = vec![(first.to_string(), serialize(&req)?)];
    for (id, mut r) in ids.iter().skip(1).zip(others) {
        provider.dialect.prepare(&mut r, id);
        bodies.push(((*id).to_string(), serialize(&r)?));
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

/// The provider and route that serve `model`: 503 naming what to set when its provider
/// has no key, or the model no deployment.
pub(crate) fn serving<'a>(
    st: &'a AppState,
    model: &Model,
) -> Result<(&'a ProviderRuntime, &'a Route), GatewayError> {
    let provider =
        st.providers
            .get(&model.provider)
            .ok_or_else(|| GatewayError::ProviderNotConfigured {
                provider: model.provider.clone(),
                hint: "it has no runtime entry".into(),
            })?;
    if !provider.usable() {
        return Err(GatewayError::ProviderNotConfigured {
            provider: provider.id.clone(),
            hint: provider.unusable_hint.clone(),
        });
    }
    let route = st
        .routes
        .get(&model.id)
        .filter(|r| !r.deployments.is_empty())
        .ok_or_else(|| GatewayError::ProviderNotConfigured {
            provider: provider.id.clone(),
            hint: format!("model '{}' has no deployments", model.id),
        })?;
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
        assert!(!t.pass_through(raw));
        assert_eq!(t.api, UpstreamApi::Chat);
        // The built-in dashscope regions have one: the body goes as the client wrote it,
        // renamed for each deployment.
        let model = st.catalog.resolve("qwen-plus").unwrap();
        let mut t = plan_target(&st, model, request(&model.id, serde_json::json!({})), 10).unwrap();
        assert!(t.pass_through(raw));
        assert_eq!(t.api, UpstreamApi::Messages);
        let body: serde_json::Value = serde_json::from_slice(&t.bodies[0].1).unwrap();
        assert_eq!(body["model"], "qwen-plus");
        assert_eq!(body["system"][0]["cache_control"]["type"], "ephemeral");
        assert_eq!(body["max_tokens"], 9);
    }

    #[tokio::test]
    async fn a_model_gets_one_body_per_distinct_upstream_id_each_naming_its_own() {
        let st = state().await;
        let model = st.catalog.get("deepseek-v4-flash").unwrap();
        let t = plan_target(&st, model, request(&model.id, serde_json::json!({})), 10).unwrap();
        let ids: Vec<&str> = t.bodies.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, [model.upstream_id.as_str(), "flash-at-b"]);
        for (id, body) in &t.bodies {
            assert_eq!(&model_of(body), id);
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
        let v: serde_json::Value = serde_json::from_slice(&t.bodies[0].1).unwrap();
        assert_eq!(v["stream"], true);
        assert!(t.adjustments.iter().any(|a| a.field == "stream"));
    }
}
