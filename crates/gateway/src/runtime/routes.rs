//! Every catalog model's route at start-up: its deployments (configured under
//! `[routes."<model>"]`, else one per region of its provider, the home region first),
//! balance policy, time limits and hedging.

use std::collections::HashMap;
use std::sync::Arc;

use switchyard_catalog::{Catalog, Model};

use super::StartError;
use crate::config::{Config, DeploymentConfig};
use crate::routing::deadlines::RouteTimeouts;
use crate::routing::deployment::{Deployment, Limits, Place};
use crate::routing::hedger::Hedger;
use crate::routing::route::Route;
use crate::upstream::{ProviderRuntime, RegionRuntime};

/// Every catalog model's route: from `[routes."<model>"]` where configured, otherwise one
/// deployment per region of the model's provider.
pub(super) fn build_routes(
    config: &Config,
    catalog: &Catalog,
    providers: &HashMap<String, ProviderRuntime>,
) -> Result<HashMap<String, Route>, StartError> {
    let mut configured = HashMap::new();
    for (name, rc) in &config.routes {
        let place = format!("config error in {} line {}", config.source, rc.line);
        let model = catalog.resolve(name).map_err(|e| {
            StartError::Catalog(format!(
                "{place}: [routes.\"{name}\"]: {e}\n  fix: use a model id from `switchyard models`"
            ))
        })?;
        if configured.insert(model.id.clone(), (rc, place)).is_some() {
            return Err(StartError::Catalog(format!(
                "config error in {}: [routes] names '{}' twice (through an alias)\n  fix: keep one table per model",
                config.source, model.id
            )));
        }
    }
    let home = config.server.region.as_deref();
    let tier_of = |region: &RegionRuntime, position: usize| match home {
        Some(h) if region.near == h || region.name == h => 0,
        Some(_) => 1,
        None => position as u32,
    };
    let mut routes = HashMap::new();
    for model in catalog.models() {
        let Some(provider) = providers.get(&model.provider) else {
            continue;
        };
        let rc = configured.get(&model.id);
        let deployments =
            match rc.and_then(|(rc, place)| rc.deployments.as_ref().map(|d| (d, place))) {
                None => {
                    let price = Arc::new(model.price.clone());
                    provider
                        .regions
                        .iter()
                        .enumerate()
                        .map(|(i, r)| {
                            let place = Place {
                                name: r.name.clone(),
                                provider: provider.id.clone(),
                                region: (i, r.name.clone()),
                                upstream_id: model.upstream_id.clone(),
                                price: Arc::clone(&price),
                            };
                            Arc::new(Deployment::new(place, 1, tier_of(r, i), Limits::default()))
                        })
                        .collect()
                }
                Some((list, place)) => {
                    let mut out = Vec::with_capacity(list.len());
                    for d in list {
                        out.push(Arc::new(configured_deployment(
                            model, d, providers, place, &tier_of,
                        )?));
                    }
                    usable_first(out, providers)
                }
            };
        let rc = rc.map(|(rc, _)| *rc);
        let server = &config.server;
        let timeouts = RouteTimeouts {
            request: rc
                .and_then(|r| r.request_timeout)
                .unwrap_or(server.request_timeout),
            ttft: rc
                .and_then(|r| r.ttft_timeout)
                .unwrap_or(server.ttft_timeout),
            idle: rc
                .and_then(|r| r.stream_idle_timeout)
                .unwrap_or(server.stream_idle_timeout),
        };
        routes.insert(
            model.id.clone(),
            Route {
                deployments,
                balance: rc.map(|r| r.balance).unwrap_or_default(),
                timeouts,
                hedge: rc.and_then(|r| r.hedge).map(Hedger::new),
            },
        );
    }
    Ok(routes)
}

/// One configured deployment of `model`, checked against the providers: the vendor
/// (default the model's own) and its region must exist, and the model's id and price
/// there must be known (from the catalog's offers, or given). A deployment on another
/// vendor than the model's own is, unless given a `priority`, one tier after the one its
/// region would have: resellers back the maker up.
fn configured_deployment(
    model: &Model,
    d: &DeploymentConfig,
    providers: &HashMap<String, ProviderRuntime>,
    place: &str,
    tier_of: &dyn Fn(&RegionRuntime, usize) -> u32,
) -> Result<Deployment, StartError> {
    let here = format!("{place}: [routes.\"{}\"]", model.id);
    let vendor = d.provider.as_deref().unwrap_or(&model.provider);
    let Some(provider) = providers.get(vendor) else {
        let mut known: Vec<&str> = providers.keys().map(String::as_str).collect();
        known.sort_unstable();
        return Err(StartError::Catalog(format!(
            "{here} deployment provider '{vendor}' is not a provider\n  fix: use one of: {}",
            known.join(", ")
        )));
    };
    let Some(i) = provider.regions.iter().position(|r| r.name == d.region) else {
        let known: Vec<&str> = provider.regions.iter().map(|r| r.name.as_str()).collect();
        return Err(StartError::Catalog(format!(
            "{here} deployment region '{}' is not a region of provider '{vendor}'\n  fix: use one of: {}",
            d.region,
            known.join(", ")
        )));
    };
    let sold = model.sold_by(vendor);
    let (Some(upstream_id), Some(price)) = (
        d.upstream_id.as_deref().or(sold.map(|s| s.upstream_id)),
        d.price.as_ref().or(sold.map(|s| s.price)),
    ) else {
        return Err(StartError::Catalog(format!(
            "{here} the catalog does not say that '{vendor}' sells '{}', so its id and price there are unknown\n  fix: give the deployment upstream_id = \"<the vendor's model id>\" and price = {{ input = …, cached_input = …, output = … }}",
            model.id
        )));
    };
    let mut price = price.clone();
    if d.price.is_some() && price.source.is_empty() {
        price.source = format!("{place}: contract price");
    }
    let region = &provider.regions[i];
    let reseller = u32::from(vendor != model.provider);
    Ok(Deployment::new(
        Place {
            name: d.name.clone().unwrap_or_else(|| region.name.clone()),
            provider: provider.id.clone(),
            region: (i, region.name.clone()),
            upstream_id: upstream_id.to_string(),
            price: Arc::new(price),
        },
        d.weight,
        d.priority
            .unwrap_or_else(|| tier_of(region, i).saturating_add(reseller)),
        Limits {
            max_concurrency: d.max_concurrency,
            rpm: d.rpm,
            tpm: d.tpm,
        },
    ))
}

/// The deployments whose vendor can be called (has a key, or is simulated), when any
/// can; all of them otherwise, so that a request says which key to set.
fn usable_first(
    all: Vec<Arc<Deployment>>,
    providers: &HashMap<String, ProviderRuntime>,
) -> Vec<Arc<Deployment>> {
    let usable = |d: &Arc<Deployment>| providers.get(&d.provider).is_some_and(|p| p.usable());
    if all.iter().any(usable) {
        all.into_iter().filter(usable).collect()
    } else {
        all
    }
}
