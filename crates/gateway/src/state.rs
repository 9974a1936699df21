//! Start-up: config + built-in catalog → the shared [`AppState`] every request reads.
//!
//! Decides, per provider, whether it is real (key from the environment or config),
//! simulated (served by an in-process `switchyard-sim`), or unusable (no key: requests to
//! its models get a 503 that says which variable to set).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use axum::http::HeaderValue;
use switchyard_catalog::{Catalog, Provider, Region};
use switchyard_ledger::UsageLog;
use switchyard_ledger::keys::KeyStore;

use crate::keys::Keyring;
use crate::shared::{OnRedisError, RedisLimits};
use crate::virtual_models::VirtualModel;
use switchyard_sim::{SimConfig, SimHandle};
use switchyard_wire::Dialect;

use crate::budget::RetryBudget;
use crate::config::{Config, ProviderConfig};
use crate::deploy::{Deployment, Hedger, Limits, Route, RouteTimeouts};
use crate::health::{BreakerConfig, Health};
use crate::reasoning::ReasoningCache;
use crate::telemetry::ModelMetrics;

/// Why start-up failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Config and catalog disagree (unknown provider, bad model override, …).
    #[error("{0}")]
    Catalog(String),
    /// The in-process simulator could not start.
    #[error("cannot start the simulator: {0}")]
    Simulator(String),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
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

/// One region of a provider, ready to call.
#[derive(Debug)]
pub struct RegionRuntime {
    /// Region label.
    pub name: String,
    /// The gateway region it is near (compared with `[server] region`).
    pub near: String,
    /// Full chat-completions URL.
    pub chat_url: String,
}

/// A provider as the request path sees it.
#[derive(Debug)]
pub struct ProviderRuntime {
    /// Provider id.
    pub id: String,
    /// Dialect spoken.
    pub dialect: Dialect,
    /// Regions in preference order.
    pub regions: Vec<RegionRuntime>,
    /// `Bearer <key>`, or `None` when the provider is unusable.
    pub auth: Option<HeaderValue>,
    /// Served by the in-process simulator.
    pub simulated: bool,
    /// Why it is unusable, when `auth` is `None`.
    pub unusable_hint: String,
}

impl ProviderRuntime {
    /// Whether requests can be sent to it.
    pub fn usable(&self) -> bool {
        self.auth.is_some() && !self.regions.is_empty()
    }
}

/// The state in force, swapped whole by a config reload. A request takes the current
/// [`AppState`] when it arrives and keeps it to its end, so a reload never changes (or
/// drops) a request in flight.
#[derive(Debug)]
pub struct Live {
    current: std::sync::RwLock<Arc<AppState>>,
    /// States replaced by a reload: requests that started on one finish on it, and its
    /// usage log is flushed at exit too.
    retired: std::sync::Mutex<Vec<std::sync::Weak<AppState>>>,
}

impl Live {
    /// Start with `state` (and its active probes, if configured).
    pub fn new(state: Arc<AppState>) -> Self {
        start_probes(&state);
        start_key_refresh(&state);
        Live {
            current: std::sync::RwLock::new(state),
            retired: std::sync::Mutex::default(),
        }
    }

    /// The state in force.
    pub fn get(&self) -> Arc<AppState> {
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Put `state` in force for new requests; returns the one it replaces.
    pub fn swap(&self, state: Arc<AppState>) -> Arc<AppState> {
        start_probes(&state);
        start_key_refresh(&state);
        let old = {
            let mut g = self
                .current
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            std::mem::replace(&mut *g, state)
        };
        let mut retired = self
            .retired
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        retired.retain(|w| w.strong_count() > 0);
        retired.push(Arc::downgrade(&old));
        old
    }

    /// The state in force and every replaced state still alive.
    fn all_states(&self) -> Vec<Arc<AppState>> {
        let retired = self
            .retired
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter_map(std::sync::Weak::upgrade)
            .collect::<Vec<_>>();
        std::iter::once(self.get()).chain(retired).collect()
    }

    /// Wait, at most `timeout` each, for the Redis settles of every state to be answered
    /// (at exit); whether they all were.
    pub async fn settle_limits(&self, timeout: std::time::Duration) -> bool {
        let mut all = true;
        for st in self.all_states() {
            if let Some(limits) = &st.shared_limits {
                all &= limits.settled(timeout).await;
            }
        }
        all
    }

    /// Write out the usage log of the state in force and of every replaced state still
    /// alive (at most `timeout` each); the errors of those that could not be.
    pub fn flush_usage(&self, timeout: std::time::Duration) -> Vec<switchyard_ledger::LedgerError> {
        self.all_states()
            .into_iter()
            .filter_map(|st| st.usage.as_ref().and_then(|log| log.flush(timeout).err()))
            .collect()
    }
}

/// Everything a request handler needs; built once per config, shared by `Arc`.
#[derive(Debug)]
pub struct AppState {
    /// The catalog, with config overlays applied.
    pub catalog: Catalog,
    /// Providers by id.
    pub providers: HashMap<String, ProviderRuntime>,
    /// Pooled HTTP client for upstream calls.
    pub client: reqwest::Client,
    /// Validated config.
    pub config: Config,
    /// (Caller, conversation, tool-call id) → reasoning, for vendors that need it passed back.
    pub reasoning: ReasoningCache,
    /// `GET /v1/models` body, rendered once.
    pub models_json: bytes::Bytes,
    /// The in-process simulator, when any provider is simulated.
    pub sim: Option<SimHandle>,
    /// Pre-registered metric handles per canonical model id.
    pub metrics: HashMap<String, ModelMetrics>,
    /// `switchyard_inflight_requests`.
    pub inflight: metrics::Gauge,
    /// Circuit breakers per provider region.
    pub health: Health,
    /// How many retries may still be made.
    pub retry_budget: RetryBudget,
    /// Fallback models by canonical model id (`[fallbacks]`), resolved at start-up.
    pub fallbacks: HashMap<String, Vec<String>>,
    /// Deployments and routing policy per canonical model id.
    pub routes: HashMap<String, Route>,
    /// Requests in flight, for `[server] max_concurrency`.
    pub admitted: AtomicUsize,
    /// The usage log, unless `[usage] store = "none"`.
    pub usage: Option<UsageLog>,
    /// Gateway keys, when `[keys] enabled`.
    pub keys: Option<Keyring>,
    /// Token of `/admin/keys` (from `[keys] admin_token_env`); `None` = admin API off.
    pub admin_token: Option<String>,
    /// Wrong admin tokens per client address (see [`crate::guard`]).
    pub admin_failures: crate::guard::AdminFailures,
    /// Keys' limits and budgets in Redis, with `[limits] backend = "redis"`.
    pub shared_limits: Option<Arc<RedisLimits>>,
    /// Virtual models by lower-cased name.
    pub virtual_models: HashMap<String, VirtualModel>,
    /// The tiered router's classifier, when a virtual model uses it.
    pub classifier: Option<switchyard_router::Model>,
}

impl AppState {
    /// What the access checks of [`crate::guard`] look at.
    pub fn gate(&self) -> crate::guard::Gate<'_> {
        crate::guard::Gate {
            token: self.admin_token.as_deref(),
            token_env: &self.config.keys.admin_token_env,
            failures: &self.admin_failures,
            keys: self.keys.as_ref(),
            public: &self.config.keys.public,
        }
    }

    /// Apply `config` to the built-in catalog, start the simulator if needed, and build
    /// the providers. `env` looks up environment variables (tests pass their own).
    pub async fn build(
        config: Config,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> Result<AppState, StartError> {
        let mut catalog = Catalog::builtin().map_err(|e| StartError::Catalog(e.to_string()))?;
        let at = |line: Option<&usize>| match line {
            Some(&l) if l > 0 => format!("config error in {} line {l}", config.source),
            _ => format!("config error in {}", config.source),
        };
        for (id, p) in &config.providers {
            let place = at(config.provider_lines.get(id));
            let merged = merge_provider(catalog.provider(id), id, p)
                .map_err(|e| StartError::Catalog(format!("{place}: {e}")))?;
            catalog.upsert_provider(merged).map_err(|e| {
                StartError::Catalog(format!(
                    "{place}: provider '{id}': {e}\n  fix: see docs/CONFIG.md, [providers.<id>]"
                ))
            })?;
        }
        for (i, m) in config.models.iter().enumerate() {
            let place = at(config.model_lines.get(i));
            let id = m.id.clone();
            catalog.upsert_model(m.clone()).map_err(|e| {
                StartError::Catalog(format!(
                    "{place}: [[models]] '{id}': {e}\n  fix: see docs/CONFIG.md, [[models]]"
                ))
            })?;
        }

        let any_simulated = config.providers.values().any(|p| p.simulated);
        let sim = if any_simulated {
            let mut sim_config = SimConfig::for_catalog(
                &catalog,
                config.simulator.seed,
                config.simulator.time_scale,
            );
            sim_config.faults.clone_from(&config.simulator.faults);
            let addr = SocketAddr::from(([127, 0, 0, 1], 0));
            Some(
                switchyard_sim::spawn(sim_config, Arc::new(catalog.clone()), addr)
                    .await
                    .map_err(|e| StartError::Simulator(e.to_string()))?,
            )
        } else {
            None
        };

        let mut providers = HashMap::new();
        for p in catalog.providers() {
            let cfg = config.providers.get(&p.id);
            let runtime = provider_runtime(p, cfg, sim.as_ref(), env)?;
            providers.insert(p.id.clone(), runtime);
        }

        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .connect_timeout(config.server.connect_timeout)
            .pool_max_idle_per_host(1024)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| StartError::Client(e.to_string()))?;

        let mut models_json = crate::routes::render_models(&catalog, &providers, &[]);
        let mut fallbacks = HashMap::new();
        for (from, to) in &config.fallbacks {
            let place = at(config.fallback_lines.get(from));
            let resolve = |name: &str| {
                catalog.resolve(name).map(|m| m.id.clone()).map_err(|e| {
                    StartError::Catalog(format!(
                        "{place}: [fallbacks] {e}\n  fix: use a model id from `switchyard models`"
                    ))
                })
            };
            let from_id = resolve(from)?;
            let chain = to
                .iter()
                .map(|n| resolve(n))
                .collect::<Result<Vec<_>, _>>()?;
            fallbacks.insert(from_id, chain);
        }
        let retry_budget =
            RetryBudget::new(config.retries.budget_ratio, config.retries.budget_reserve);
        crate::telemetry::handle();
        let routes = build_routes(&config, &catalog, &providers)?;
        let db_path = config
            .usage
            .path
            .clone()
            .unwrap_or_else(|| crate::config::default_usage_path(env));
        let usage = match (&config.usage.postgres, config.usage.enabled) {
            (_, false) => None,
            (None, true) => Some(
                UsageLog::open_with(
                    &db_path,
                    config.usage.buffer_events,
                    switchyard_ledger::SPOOL_MAX_BYTES,
                )
                .map_err(|e| StartError::Usage(e.to_string()))?,
            ),
            (Some((url, table)), true) => {
                let mut spool = db_path.as_os_str().to_owned();
                spool.push(".pg.spool");
                let (url, table, spool) =
                    (url.clone(), table.clone(), std::path::PathBuf::from(spool));
                let options = config.usage.postgres_options.clone();
                let buffer = config.usage.buffer_events;
                // Connecting blocks; keep it off the runtime's workers.
                let opened = tokio::task::spawn_blocking(move || {
                    UsageLog::open_postgres_with(&url, &table, &spool, &options, buffer)
                })
                .await
                .map_err(|e| StartError::Usage(e.to_string()))?;
                Some(opened.map_err(|e| StartError::Usage(e.to_string()))?)
            }
        };
        // Keys live beside the usage log: in PostgreSQL when it is there (shared by
        // replicas on several machines), else in the SQLite database.
        let keys = if config.keys.enabled {
            let postgres = config.usage.postgres.clone();
            let options = config.usage.postgres_options.clone();
            let db_path = db_path.clone();
            // Opening and loading block (and the PostgreSQL client runs its own runtime).
            let ring = tokio::task::spawn_blocking(move || {
                let store = match &postgres {
                    Some((url, table)) => KeyStore::open_postgres_with(url, table, &options),
                    None => KeyStore::open(&db_path),
                }
                .map_err(|e| e.to_string())?;
                Keyring::load(store)
            })
            .await
            .map_err(|e| StartError::Usage(e.to_string()))?;
            Some(ring.map_err(StartError::Usage)?)
        } else {
            None
        };
        let admin_token = env(&config.keys.admin_token_env).filter(|t| !t.trim().is_empty());
        let classifier = if config
            .virtual_models
            .values()
            .any(|v| v.policy == crate::config::Policy::Tiered)
        {
            Some(
                switchyard_router::Model::shipped()
                    .map_err(|e| StartError::Catalog(e.to_string()))?,
            )
        } else {
            None
        };
        let mut virtual_models = HashMap::new();
        for (name, v) in &config.virtual_models {
            let place = format!("config error in {} line {}", config.source, v.line);
            if catalog.resolve(name).is_ok() {
                return Err(StartError::Catalog(format!(
                    "{place}: [virtual_models.{name}] has the name of a catalog model\n  fix: pick another name, e.g. auto"
                )));
            }
            let vm = VirtualModel::build(name, v, &catalog, classifier.as_ref()).map_err(|e| {
                StartError::Catalog(format!(
                    "{place}: [virtual_models.{name}] {e}\n  fix: use model ids from `switchyard models`"
                ))
            })?;
            virtual_models.insert(name.to_ascii_lowercase(), vm);
        }
        if !virtual_models.is_empty() {
            let mut listed: Vec<&VirtualModel> = virtual_models.values().collect();
            listed.sort_by(|a, b| a.name.cmp(&b.name));
            models_json = crate::routes::render_models(&catalog, &providers, &listed);
        }
        let shared_limits = match (&config.limits.redis_url, &keys) {
            (Some(url), Some(_)) => {
                let on_error = if config.limits.deny_on_redis_error {
                    OnRedisError::Deny
                } else {
                    OnRedisError::Local
                };
                let prefix = &config.limits.redis_prefix;
                let ca = config.limits.redis_ca_file.as_deref();
                let connected = if config.limits.redis_cluster.is_empty() {
                    RedisLimits::connect(url, prefix, on_error, ca).await
                } else {
                    RedisLimits::connect_cluster(&config.limits.redis_cluster, prefix, on_error, ca)
                        .await
                };
                let options = config.usage.postgres_options.clone();
                let wait = options
                    .connect_timeout
                    .saturating_add(options.query_timeout);
                let spend = crate::shared::SpendSource::open(
                    config.usage.postgres.clone(),
                    options,
                    db_path.clone(),
                    wait,
                )
                .await
                .map_err(StartError::Usage)?;
                Some(Arc::new(
                    connected
                        .map_err(StartError::Limits)?
                        .with_reservation_ttl(config.limits.reservation_ttl)
                        .with_spend_source(spend),
                ))
            }
            _ => None,
        };
        let mut breaker_keys: Vec<(String, String)> = routes
            .values()
            .flat_map(|r| r.deployments.iter())
            .map(|d| (d.provider.clone(), d.name.clone()))
            .collect();
        breaker_keys.sort_unstable();
        breaker_keys.dedup();
        let health = Health::new(
            BreakerConfig {
                consecutive_failures: config.health.consecutive_failures,
                cooldown: config.health.cooldown,
                slow_start: config.health.slow_start,
                error_rate: config.health.error_rate,
                error_rate_window: config.health.error_rate_window,
            },
            breaker_keys,
        );
        let metrics = catalog
            .models()
            .iter()
            .map(|m| (m.id.clone(), ModelMetrics::register(&m.id, &m.provider)))
            .collect();
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
            usage,
            keys,
            admin_token,
            admin_failures: crate::guard::AdminFailures::default(),
            shared_limits,
            virtual_models,
            classifier,
        })
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

fn merge_provider(
    builtin: Option<&Provider>,
    id: &str,
    cfg: &ProviderConfig,
) -> Result<Provider, StartError> {
    let dialect = match (cfg.dialect, builtin) {
        (Some(d), _) => d.as_str().to_string(),
        (None, Some(b)) => b.dialect.clone(),
        (None, None) => {
            return Err(StartError::Catalog(format!(
                "provider '{id}' is not built in, so it needs `dialect` (e.g. dialect = \"openai\") and `regions`"
            )));
        }
    };
    let regions = match (&cfg.regions, builtin) {
        (Some(rs), _) => rs
            .iter()
            .map(|r| Region {
                name: r.name.clone(),
                base_url: r
                    .base_url
                    .clone()
                    .unwrap_or_else(|| format!("http://simulated.invalid/{id}/{}", r.name))
                    .trim_end_matches('/')
                    .to_string(),
            })
            .collect(),
        (None, Some(b)) => b.regions.clone(),
        (None, None) => {
            return Err(StartError::Catalog(format!(
                "provider '{id}' needs `regions`"
            )));
        }
    };
    Ok(Provider {
        id: id.to_string(),
        name: builtin.map_or_else(|| id.to_string(), |b| b.name.clone()),
        dialect,
        api_key_env: cfg
            .api_key_env
            .clone()
            .or_else(|| builtin.and_then(|b| b.api_key_env.clone())),
        regions,
        docs: builtin.and_then(|b| b.docs.clone()),
    })
}

fn provider_runtime(
    p: &Provider,
    cfg: Option<&ProviderConfig>,
    sim: Option<&SimHandle>,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<ProviderRuntime, StartError> {
    let dialect: Dialect = p
        .dialect
        .parse()
        .map_err(|e| StartError::Catalog(format!("provider '{}': {e}", p.id)))?;
    let near = |r: &Region| {
        cfg.and_then(|c| c.regions.as_ref())
            .and_then(|rs| rs.iter().find(|c| c.name == r.name))
            .and_then(|c| c.near.clone())
            .unwrap_or_else(|| r.name.clone())
    };
    let regions = |url: &dyn Fn(&Region) -> String| -> Vec<RegionRuntime> {
        p.regions
            .iter()
            .map(|r| RegionRuntime {
                name: r.name.clone(),
                near: near(r),
                chat_url: url(r),
            })
            .collect()
    };
    let simulated = cfg.is_some_and(|c| c.simulated);
    if let (true, Some(sim)) = (simulated, sim) {
        return Ok(ProviderRuntime {
            id: p.id.clone(),
            dialect,
            regions: regions(&|r| {
                format!("{}/chat/completions", sim.base_url(&p.id, &r.name, dialect))
            }),
            auth: Some(HeaderValue::from_static("Bearer switchyard-sim")),
            simulated: true,
            unusable_hint: String::new(),
        });
    }
    let key = cfg
        .and_then(|c| c.api_key.clone())
        .or_else(|| p.api_key_env.as_deref().and_then(env))
        .filter(|k| !k.trim().is_empty());
    let hint = match &p.api_key_env {
        Some(var) => format!(
            "set {var} (or api_key_env/api_key under [providers.{}])",
            p.id
        ),
        None => format!("set api_key or api_key_env under [providers.{}]", p.id),
    };
    let auth = key.and_then(|k| HeaderValue::from_str(&format!("Bearer {}", k.trim())).ok());
    Ok(ProviderRuntime {
        id: p.id.clone(),
        dialect,
        regions: regions(&Region::chat_completions_url),
        auth,
        simulated: false,
        unusable_hint: hint,
    })
}

/// Every catalog model's route: from `[routes."<model>"]` where configured, otherwise one
/// deployment per region of the model's provider.
fn build_routes(
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

/// With `[health] probe_interval_secs` > 0, check every deployment whose breaker is not
/// closed with `GET <base>/models` (not billed by vendors) each interval: a 2xx closes the
/// breaker, anything else keeps it out for another cooldown. The task ends once the state
/// is dropped (after a reload, when its last request has finished).
fn start_probes(state: &Arc<AppState>) {
    let Some(interval) = state.config.health.probe_interval else {
        return;
    };
    let weak = Arc::downgrade(state);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            let Some(st) = weak.upgrade() else { return };
            for (provider, name) in st.health.not_closed() {
                let Some(url) = probe_url(&st, &provider, &name) else {
                    continue;
                };
                let mut req = st
                    .client
                    .get(&url)
                    .timeout(interval.min(Duration::from_secs(5)));
                if let Some(auth) = st.providers.get(&provider).and_then(|p| p.auth.clone()) {
                    req = req.header(axum::http::header::AUTHORIZATION, auth);
                }
                let ok = req.send().await.is_ok_and(|r| r.status().is_success());
                metrics::counter!("switchyard_probes_total", "provider" => provider.clone(), "deployment" => name.clone(),
                    "result" => if ok { "up" } else { "down" })
                .increment(1);
                if ok {
                    tracing::info!(%provider, deployment = %name, "probe answered; deployment back in rotation");
                    st.health.probe_ok(&provider, &name);
                } else {
                    st.health.probe_failed(&provider, &name);
                }
            }
        }
    });
}

/// `…/models` next to the chat URL of the region a deployment named `name` uses.
fn probe_url(st: &AppState, provider: &str, name: &str) -> Option<String> {
    let dep = st
        .routes
        .values()
        .flat_map(|r| r.deployments.iter())
        .find(|d| d.provider == provider && d.name == name)?;
    let region = st.providers.get(provider)?.regions.get(dep.region)?;
    let base = region.chat_url.strip_suffix("/chat/completions")?;
    Some(format!("{base}/models"))
}

/// With keys on, pick up keys created, revoked or rotated by another process (`switchyard
/// keys …`) every `[keys] refresh_secs`, off the request path.
fn start_key_refresh(state: &Arc<AppState>) {
    if state.keys.is_none() {
        return;
    }
    let every = state.config.keys.refresh;
    let weak = Arc::downgrade(state);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let Some(st) = weak.upgrade() else { return };
            let refreshed =
                tokio::task::spawn_blocking(move || st.keys.as_ref().map(Keyring::refresh)).await;
            if let Ok(Some(Err(e))) = refreshed {
                tracing::error!(error = %e, "cannot refresh the keys; keeping the ones loaded");
            }
        }
    });
}
