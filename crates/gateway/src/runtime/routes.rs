//! Every catalog model's route at start-up: its deployments (configured under
//! `[routes."<model>"]`, else one per region of its provider, the home region first),
//! balance policy, time limits and hedging.

use std::collections::HashMap;
use std::sync::Arc;

use switchyard_catalog::Catalog;

use super::StartError;
use crate::config::Config;
use crate::routing::deadlines::RouteTimeouts;
use crate::routing::deployment::{Deployment, Limits};
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
        let deployments = match rc
            .and_then(|(rc, place)| rc.deployments.as_ref().map(|d| (d, place)))
        {
            None => provider
                .regions
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    Arc::new(Deployment::new(
                        r.name.clone(),
                        provider.id.clone(),
                        (i, r.name.clone()),
                        model.upstream_id.clone(),
                        1,
                        tier_of(r, i),
                        Limits::default(),
                    ))
                })
                .collect(),
            Some((list, place)) => {
                let mut out = Vec::with_capacity(list.len());
                for d in list {
                    let Some(i) = provider.regions.iter().position(|r| r.name == d.region) else {
                        let known: Vec<&str> =
                            provider.regions.iter().map(|r| r.name.as_str()).collect();
                        return Err(StartError::Catalog(format!(
                            "{place}: [routes.\"{}\"] deployment region '{}' is not a region of provider '{}'\n  fix: use one of: {}",
                            model.id,
                            d.region,
                            provider.id,
                            known.join(", ")
                        )));
                    };
                    let region = &provider.regions[i];
                    out.push(Arc::new(Deployment::new(
                        d.name.clone().unwrap_or_else(|| region.name.clone()),
                        provider.id.clone(),
                        (i, region.name.clone()),
                        d.upstream_id
                            .clone()
                            .unwrap_or_else(|| model.upstream_id.clone()),
                        d.weight,
                        d.priority.unwrap_or_else(|| tier_of(region, i)),
                        Limits {
                            max_concurrency: d.max_concurrency,
                            rpm: d.rpm,
                            tpm: d.tpm,
                        },
                    )));
                }
                out
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
