//! Start-up: a validated [`Config`] and the built-in catalog become the [`AppState`] every
//! request reads, in short steps — the catalog with the config's overlays, the simulator
//! (when a provider is simulated), the providers ([`providers`]), the upstream client,
//! fallbacks, each model's route ([`routes`]), the stores ([`stores`]), virtual models
//! and health. [`Live`] holds the state in force and swaps it on reload; [`tasks`] owns
//! the background work every state needs.

mod live;
mod providers;
mod routes;
mod slo_file;
mod stores;
mod tasks;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use switchyard_catalog::Catalog;
use switchyard_sim::{SimConfig, SimHandle};

pub use live::Live;

use crate::config::{Config, Policy};
use crate::keys::access::AdminFailures;
use crate::listing::render_models;
use crate::otel::Otel;
use crate::reasoning::ReasoningCache;
use crate::routing::health::{BreakerConfig, Health};
use crate::routing::retry_budget::RetryBudget;
use crate::routing::route::Route;
use crate::routing::virtual_models::VirtualModel;
use crate::state::AppState;
use crate::telemetry::ModelMetrics;
use crate::upstream::UpstreamClient;

/// Why start-up failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Config and catalog disagree (unknown provider, bad model override, …).
    #[error("{0}")]
    Catalog(String),
    /// The in-process simulator could not start.
    #[error("cannot start the simulator: {0}")]
    Simulator(String),
    /// OTLP trace export could not start.
    #[error(
        "{0}\n  fix: check [telemetry] otlp_endpoint and otlp_headers, or remove otlp_endpoint"
    )]
    Telemetry(String),
    /// Redis, for shared limits, could not be reached.
    #[error(
        "cannot reach redis for [limits]: {0}\n  fix: start redis, correct [limits] redis_url, or set backend = \"local\""
    )]
    Limits(String),
    /// The usage log could not be opened.
    #[error(
        "cannot open the usage log: {0}\n  fix: set [usage] path to a writable file, or store = \"none\""
    )]
    Usage(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
}

/// Where in the config file a start-up error is: `config error in <file> line <n>`.
fn place(config: &Config, line: Option<usize>) -> String {
    match line {
        Some(l) if l > 0 => format!("config error in {} line {l}", config.source),
        _ => format!("config error in {}", config.source),
    }
}

impl AppState {
    /// Apply `config` to the built-in catalog, start the simulator if needed, build the
    /// providers, routes and stores. `env` looks up environment variables (tests pass
    /// their own).
    pub async fn build(
        config: Config,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> Result<AppState, StartError> {
        let catalog = catalog(&config)?;
        let sim = simulator(&config, &catalog).await?;
        let mut providers = HashMap::new();
        for p in catalog.providers() {
            let cfg = config.providers.get(&p.id);
            let runtime = providers::provider_runtime(p, cfg, sim.as_ref(), env)?;
            providers.insert(p.id.clone(), runtime);
        }
        let client = UpstreamClient::new(config.server.connect_timeout, config.server.workers);
        let fallbacks = fallbacks(&config, &catalog)?;
        crate::telemetry::handle();
        let routes = routes::build_routes(&config, &catalog, &providers)?;
        let stores = stores::open(&config, env).await?;
        let admin_token = env(&config.keys.admin_token_env).filter(|t| !t.trim().is_empty());
        let classifier = classifier(&config)?;
        let virtual_models = virtual_models(&config, &catalog, classifier.as_ref())?;
        let mut listed: Vec<&VirtualModel> = virtual_models.values().collect();
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        let models_json = render_models(&catalog, (&providers, &routes), &listed);
        let health = health(&config, &routes);
        let metrics = catalog
            .models()
            .iter()
            .map(|m| (m.id.clone(), ModelMetrics::register(&m.id, &m.provider)))
            .collect();
        let retry_budget =
            RetryBudget::new(config.retries.budget_ratio, config.retries.budget_reserve);
        let otel = Otel::start(&config.telemetry)
            .map_err(|e| StartError::Telemetry(e.to_string()))?
            .map(Arc::new);
        Ok(AppState {
            catalog,
            providers,
            client,
            config,
            reasoning: ReasoningCache::default(),
            models_json,
            sim,
            metrics,
            inflight: metrics::gauge!("switchyard_inflight_requests"),
            health,
            retry_budget,
            fallbacks,
            routes,
            admitted: AtomicUsize::new(0),
            usage: stores.usage,
            keys: stores.keys,
            admin_token,
            admin_failures: AdminFailures::default(),
            shared_limits: stores.shared_limits,
            virtual_models,
            classifier,
            trails: Arc::default(),
            stats: Arc::default(),
            spend: Arc::default(),
            drain: Arc::default(),
            otel,
        })
    }
}

/// The built-in catalog with the config's `[providers.<id>]` and `[[models]]` applied
/// (also what `switchyard plan` plans with).
pub fn catalog(config: &Config) -> Result<Catalog, StartError> {
    let mut catalog = Catalog::builtin().map_err(|e| StartError::Catalog(e.to_string()))?;
    for (id, p) in &config.providers {
        let place = place(config, config.provider_lines.get(id).copied());
        let merged = providers::merge_provider(catalog.provider(id), id, p)
            .map_err(|e| StartError::Catalog(format!("{place}: {e}")))?;
        catalog.upsert_provider(merged).map_err(|e| {
            StartError::Catalog(format!(
                "{place}: provider '{id}': {e}\n  fix: see docs/CONFIG.md, [providers.<id>]"
            ))
        })?;
    }
    for (i, m) in config.models.iter().enumerate() {
        let place = place(config, config.model_lines.get(i).copied());
        let id = m.id.clone();
        catalog.upsert_model(m.clone()).map_err(|e| {
            StartError::Catalog(format!(
                "{place}: [[models]] '{id}': {e}\n  fix: see docs/CONFIG.md, [[models]]"
            ))
        })?;
    }
    Ok(catalog)
}

/// The in-process simulator, when any provider is simulated.
async fn simulator(config: &Config, catalog: &Catalog) -> Result<Option<SimHandle>, StartError> {
    if !config.providers.values().any(|p| p.simulated) {
        return Ok(None);
    }
    let mut sim_config =
        SimConfig::for_catalog(catalog, config.simulator.seed, config.simulator.time_scale);
    sim_config.faults.clone_from(&config.simulator.faults);
    let addr = SocketAddr::from(([127, 0, 0, 1], 0));
    switchyard_sim::spawn(sim_config, Arc::new(catalog.clone()), addr)
        .await
        .map(Some)
        .map_err(|e| StartError::Simulator(e.to_string()))
}

/// `[fallbacks]`, resolved to canonical model ids.
fn fallbacks(
    config: &Config,
    catalog: &Catalog,
) -> Result<HashMap<String, Vec<String>>, StartError> {
    let mut out = HashMap::new();
    for (from, to) in &config.fallbacks {
        let place = place(config, config.fallback_lines.get(from).copied());
        let resolve = |name: &str| {
            catalog.resolve_chat(name).map(|m| m.id.clone()).map_err(|e| {
                StartError::Catalog(format!(
                    "{place}: [fallbacks] {e}\n  fix: use chat model ids from `switchyard models` (embedding models do not fall back: their vectors are not comparable)"
                ))
            })
        };
        let from_id = resolve(from)?;
        let chain = to.iter().map(|n| resolve(n)).collect::<Result<_, _>>()?;
        out.insert(from_id, chain);
    }
    Ok(out)
}

/// The tiered router's classifier, when a virtual model is tiered.
fn classifier(config: &Config) -> Result<Option<switchyard_router::Model>, StartError> {
    if !config
        .virtual_models
        .values()
        .any(|v| v.policy == Policy::Tiered)
    {
        return Ok(None);
    }
    switchyard_router::Model::shipped()
        .map(Some)
        .map_err(|e| StartError::Catalog(e.to_string()))
}

/// `[virtual_models.<name>]`, resolved against the catalog, by lower-cased name.
fn virtual_models(
    config: &Config,
    catalog: &Catalog,
    classifier: Option<&switchyard_router::Model>,
) -> Result<HashMap<String, VirtualModel>, StartError> {
    let mut out = HashMap::new();
    for (name, v) in &config.virtual_models {
        let place = place(config, Some(v.line));
        if catalog.resolve(name).is_ok() {
            return Err(StartError::Catalog(format!(
                "{place}: [virtual_models.{name}] has the name of a catalog model\n  fix: pick another name, e.g. auto"
            )));
        }
        let vm = VirtualModel::build(name, v, catalog, classifier).map_err(|e| {
            StartError::Catalog(format!(
                "{place}: [virtual_models.{name}] {e}\n  fix: use model ids from `switchyard models`"
            ))
        })?;
        out.insert(name.to_ascii_lowercase(), vm);
    }
    Ok(out)
}

/// A circuit breaker for every deployment of every route.
fn health(config: &Config, routes: &HashMap<String, Route>) -> Health {
    let mut breaker_keys: Vec<(String, String)> = routes
        .values()
        .flat_map(|r| r.deployments.iter())
        .map(|d| (d.provider.clone(), d.name.clone()))
        .collect();
    breaker_keys.sort_unstable();
    breaker_keys.dedup();
    let h = &config.health;
    Health::new(
        BreakerConfig {
            consecutive_failures: h.consecutive_failures,
            cooldown: h.cooldown,
            slow_start: h.slow_start,
            error_rate: h.error_rate,
            error_rate_window: h.error_rate_window,
        },
        breaker_keys,
    )
}
