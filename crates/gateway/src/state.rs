//! The state one config builds and every request reads: catalog, providers, routes,
//! stores, health — shared by `Arc`, built by [`crate::runtime`], swapped whole by a
//! reload. It holds things; it does nothing on its own.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use switchyard_catalog::Catalog;
use switchyard_ledger::UsageLog;
use switchyard_sim::SimHandle;

use crate::config::Config;
use crate::keys::Keyring;
use crate::keys::access::{AdminFailures, Gate};
use crate::keys::redis::RedisLimits;
use crate::otel::Otel;
use crate::reasoning::ReasoningCache;
use crate::routing::health::Health;
use crate::routing::retry_budget::RetryBudget;
use crate::routing::route::Route;
use crate::routing::virtual_models::{Landscape, VirtualModel};
use crate::series::Stats;
use crate::spend::Spend;
use crate::telemetry::ModelMetrics;
use crate::trail::Trails;
use crate::upstream::ProviderRuntime;

/// Everything a request handler needs; built once per config, shared by `Arc`.
#[derive(Debug)]
pub struct AppState {
    /// The catalog, with config overlays applied.
    pub catalog: Catalog,
    /// Providers by id.
    pub(crate) providers: HashMap<String, ProviderRuntime>,
    /// Pooled HTTP client for upstream calls.
    pub(crate) client: crate::upstream::UpstreamClient,
    /// Validated config.
    pub config: Config,
    /// (Caller, conversation, tool-call id) → reasoning, for vendors that need it passed back.
    pub(crate) reasoning: ReasoningCache,
    /// `GET /v1/models` body, rendered once.
    pub(crate) models_json: bytes::Bytes,
    /// The in-process simulator, when any provider is simulated.
    pub sim: Option<SimHandle>,
    /// Pre-registered metric handles per canonical model id, labelled with its maker.
    pub(crate) metrics: HashMap<String, ModelMetrics>,
    /// `switchyard_inflight_requests`.
    pub(crate) inflight: metrics::Gauge,
    /// Circuit breakers per provider region.
    pub(crate) health: Health,
    /// How many retries may still be made.
    pub(crate) retry_budget: RetryBudget,
    /// Fallback models by canonical model id (`[fallbacks]`), resolved at start-up.
    pub(crate) fallbacks: HashMap<String, Vec<String>>,
    /// Deployments and routing policy per canonical model id.
    pub(crate) routes: HashMap<String, Route>,
    /// Requests in flight, for `[server] max_concurrency`.
    pub admitted: AtomicUsize,
    /// The usage log, unless `[usage] store = "none"`.
    pub usage: Option<UsageLog>,
    /// Gateway keys, when `[keys] enabled`.
    pub(crate) keys: Option<Keyring>,
    /// Token of `/admin/keys` (from `[keys] admin_token_env`); `None` = admin API off.
    pub admin_token: Option<String>,
    /// Wrong admin tokens per client address (see [`crate::keys::access`]).
    pub(crate) admin_failures: AdminFailures,
    /// Keys' limits and budgets in Redis, with `[limits] backend = "redis"`.
    pub(crate) shared_limits: Option<Arc<RedisLimits>>,
    /// The trails of the most recent requests (`GET /admin/requests/{id}`); handed on
    /// to the state that replaces this one.
    pub(crate) trails: Arc<Trails>,
    /// Per-second and per-minute series of finished requests (`GET /admin/stats`);
    /// handed on like `trails`.
    pub(crate) stats: Arc<Stats>,
    /// Spend today and this month per key, team and model (`GET /admin/overview`);
    /// handed on across reloads like the series.
    pub(crate) spend: Arc<Spend>,
    /// The drain at shutdown, shared by every state of the process (handed on like
    /// `trails`).
    pub drain: Arc<crate::drain::Drain>,
    /// OTLP trace export, when `[telemetry] otlp_endpoint` is set; kept by the state
    /// that replaces this one when its `[telemetry]` is the same.
    pub(crate) otel: Option<Arc<Otel>>,
    /// Virtual models by lower-cased name.
    pub(crate) virtual_models: HashMap<String, VirtualModel>,
    /// The tiered router's classifier, when a virtual model uses it.
    pub(crate) classifier: Option<switchyard_router::Model>,
}

impl AppState {
    /// The pre-registered series of `model` when `provider` (the vendor that served) is
    /// its maker; `None` for another vendor, whose series are looked up by label.
    pub(crate) fn model_metrics(&self, model: &str, provider: &str) -> Option<&ModelMetrics> {
        self.metrics.get(model).filter(|m| m.provider == provider)
    }

    /// What the access checks of `keys::access` look at.
    pub fn gate(&self) -> Gate<'_> {
        Gate {
            token: self.admin_token.as_deref(),
            token_env: &self.config.keys.admin_token_env,
            failures: &self.admin_failures,
            keys: self.keys.as_ref(),
            public: &self.config.keys.public,
        }
    }

    /// What a virtual model's choice looks at.
    pub fn landscape(&self) -> Landscape<'_> {
        Landscape {
            catalog: &self.catalog,
            routes: &self.routes,
            providers: &self.providers,
            health: &self.health,
            classifier: self.classifier.as_ref(),
        }
    }

    /// Human-readable start-up banner lines (providers, regions, mode).
    pub fn banner(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let mut ids: Vec<_> = self.providers.keys().collect();
        ids.sort();
        for id in ids {
            let p = &self.providers[id];
            let regions: Vec<&str> = p.regions.iter().map(|r| r.name.as_str()).collect();
            let how = if p.simulated {
                "simulated".to_string()
            } else if p.usable() {
                "live".to_string()
            } else {
                format!("unavailable: {}", p.unusable_hint)
            };
            lines.push(format!(
                "  {id:<10} {:<9} [{}] {how}",
                p.dialect.as_str(),
                regions.join(", ")
            ));
        }
        lines
    }
}
