//! The model list clients see (`GET /v1/models[/{id}]`): the OpenAI list shape plus
//! price, context and capability fields, each model's `type` (`chat` or `embedding`, with
//! its vector sizes), and the virtual models with how they route.

use std::collections::HashMap;

use axum::body::Bytes;
use serde_json::{Value, json};
use switchyard_catalog::{Catalog, Model};

use crate::routing::route::Route;
use crate::routing::virtual_models::VirtualModel;
use crate::upstream::ProviderRuntime;

/// `GET /v1/models` body: OpenAI list shape plus price, context and capability fields.
pub(crate) fn render_models(
    catalog: &Catalog,
    (providers, routes): Serving<'_>,
    virtual_models: &[&VirtualModel],
) -> Bytes {
    let mut data: Vec<Value> = catalog
        .models()
        .iter()
        .map(|m| model_entry(m, available(m, (providers, routes))))
        .collect();
    // Virtual models are callable names too; they say how they route.
    data.extend(virtual_models.iter().map(|v| virtual_entry(v)));
    Bytes::from(json!({"object": "list", "data": data}).to_string())
}

pub(crate) fn virtual_entry(v: &VirtualModel) -> Value {
    json!({
        "id": v.name,
        "object": "model",
        "created": 0,
        "owned_by": "switchyard",
        "virtual": true,
        "policy": v.policy.as_str(),
        "models": v.models,
    })
}

/// The providers and the routes: who can serve what.
pub(crate) type Serving<'a> = (
    &'a HashMap<String, ProviderRuntime>,
    &'a HashMap<String, Route>,
);

/// Whether a request for `m` can be sent anywhere: a deployment of it is on a vendor
/// with a key (or simulated).
pub(crate) fn available(m: &Model, (providers, routes): Serving<'_>) -> bool {
    routes.get(&m.id).is_some_and(|r| {
        r.deployments.iter().any(|d| {
            providers
                .get(&d.provider)
                .is_some_and(ProviderRuntime::usable)
        })
    })
}

/// Every vendor that sells `m`, with its id and list price there.
fn vendors(m: &Model) -> Vec<Value> {
    m.vendors()
        .map(|s| {
            json!({
                "provider": s.provider,
                "upstream_id": s.upstream_id,
                "price": {"input": s.price.input, "cached_input": s.price.cached_input,
                    "output": s.price.output, "as_of": s.price.as_of},
            })
        })
        .collect()
}

pub(crate) fn model_entry(m: &Model, available: bool) -> Value {
    let mut entry = json!({
        "id": m.id,
        "object": "model",
        "created": 0,
        "owned_by": m.provider,
        "type": m.kind(),
        "display_name": m.display_name,
        "family": m.family,
        "provider": m.provider,
        "upstream_id": m.upstream_id,
        "context_window": m.context_window,
        "max_output": m.max_output,
        "capabilities": m.capabilities,
        "aliases": m.aliases,
        "price": {
            "currency": "USD",
            "unit": "per_million_tokens",
            "input": m.price.input,
            "cached_input": m.price.cached_input,
            "output": m.price.output,
            "as_of": m.price.as_of,
        },
        "vendors": vendors(m),
        "available": available,
    });
    if let (Some(e), Some(obj)) = (&m.embedding, entry.as_object_mut()) {
        obj.insert(
            "embedding".into(),
            json!({
                "dimensions": e.dimensions,
                "dimension_choices": e.dimension_choices,
                "max_batch": e.max_batch,
                "max_input_tokens": m.context_window,
            }),
        );
    }
    entry
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Policy;

    fn list(body: &Bytes) -> Vec<Value> {
        let v: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["object"], "list");
        v["data"].as_array().unwrap().clone()
    }

    #[test]
    fn every_catalog_model_is_listed_with_its_price_and_unavailable_without_a_provider() {
        let catalog = Catalog::builtin().unwrap();
        let data = list(&render_models(
            &catalog,
            (&HashMap::new(), &HashMap::new()),
            &[],
        ));
        assert_eq!(data.len(), catalog.models().len());
        let first = &data[0];
        let model = &catalog.models()[0];
        assert_eq!(first["id"], model.id.as_str());
        assert_eq!(first["object"], "model");
        assert_eq!(first["owned_by"], model.provider.as_str());
        assert_eq!(first["price"]["unit"], "per_million_tokens");
        assert_eq!(first["price"]["input"], model.price.input);
        assert_eq!(
            first["available"], false,
            "no provider runtime: not available"
        );
    }

    #[test]
    fn virtual_models_follow_the_catalog_and_say_how_they_route() {
        let catalog = Catalog::builtin().unwrap();
        let vm = VirtualModel {
            name: "auto".into(),
            policy: Policy::Cheapest,
            models: vec!["a".into(), "b".into()],
            thresholds: Vec::new(),
            escalate: false,
            escalate_streams: false,
            weights: Vec::new(),
            rules: Vec::new(),
        };
        let data = list(&render_models(
            &catalog,
            (&HashMap::new(), &HashMap::new()),
            &[&vm],
        ));
        let last = data.last().unwrap();
        assert_eq!(last["id"], "auto");
        assert_eq!(last["virtual"], true);
        assert_eq!(last["policy"], "cheapest");
        assert_eq!(last["models"], json!(["a", "b"]));
    }
}
