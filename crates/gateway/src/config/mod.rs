//! The gateway's one TOML config file: parsed, then validated, with errors that name the
//! line and the fix. Every option is documented in `docs/CONFIG.md`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use switchyard_catalog::ModelOverride;
use switchyard_wire::Dialect;
use toml::Spanned;

use crate::error::ConfigError;

mod routes;
mod virtual_models;
pub use routes::{Balance, DeploymentConfig, HedgeConfig, RouteConfig};
pub use virtual_models::{Match, Policy, Rule, VirtualModelConfig};

/// Environment variables that hold the built-in providers' keys; any of them set means
/// "talk to the real vendors".
pub const VENDOR_KEY_VARS: [&str; 4] = [
    "DEEPSEEK_API_KEY",
    "DASHSCOPE_API_KEY",
    "MOONSHOT_API_KEY",
    "ZHIPUAI_API_KEY",
];

/// The embedded default: every built-in provider simulated in two regions.
pub const EMBEDDED_DEFAULT: &str = include_str!("../default.toml");

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `[server]`.
    pub server: ServerConfig,
    /// `[simulator]`.
    pub simulator: SimulatorConfig,
    /// `[health]`: circuit breakers per provider region.
    pub health: HealthConfig,
    /// `[retries]`: the retry budget.
    pub retries: RetriesConfig,
    /// `[usage]`: where the usage log is written.
    pub usage: UsageConfig,
    /// `[keys]`: gateway keys.
    pub keys: KeysConfig,
    /// `[limits]`: where keys' limits and budgets are kept.
    pub limits: LimitsConfig,
    /// `[routes."<model>"]`: deployments, balancing, time limits and hedging per model.
    pub routes: BTreeMap<String, RouteConfig>,
    /// `[virtual_models.<name>]`: names that route to a catalog model by a policy.
    pub virtual_models: BTreeMap<String, VirtualModelConfig>,
    /// `[fallbacks]`: model → models to try, in order, when every region failed.
    pub fallbacks: BTreeMap<String, Vec<String>>,
    /// Line of each `[fallbacks]` entry.
    pub fallback_lines: BTreeMap<String, usize>,
    /// `[providers.<id>]`, by id.
    pub providers: BTreeMap<String, ProviderConfig>,
    /// `[[models]]`: catalog additions and overrides.
    pub models: Vec<ModelOverride>,
    /// Line of each `[[models]]` entry (same order as `models`; 0 when built in code).
    pub model_lines: Vec<usize>,
    /// Line of each `[providers.<id>]` table.
    pub provider_lines: BTreeMap<String, usize>,
    /// Where the config came from (a path, or "embedded default").
    pub source: String,
}

/// `[server]`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Longest a whole request may take, in seconds.
    pub request_timeout_secs: u64,
    /// After a stream's first token, the longest gap between data events (keep-alive
    /// comments do not count), in seconds.
    pub stream_idle_timeout_secs: u64,
    /// Longest a stream may wait for its first token before the next region is tried (or
    /// the client gets an error event), in seconds. Keep-alive comments do not reset it.
    pub ttft_timeout_secs: u64,
    /// Connect timeout to upstreams, in seconds.
    pub connect_timeout_secs: u64,
    /// On shutdown, how long in-flight requests get to finish, in seconds.
    pub shutdown_grace_secs: u64,
    /// This instance's home region: deployments in regions `near` it are preferred.
    pub region: Option<String>,
    /// Requests in flight at most, gateway-wide; past it, a fast 503 with Retry-After.
    pub max_concurrency: usize,
    /// Longest a client may take to send a request's headers, counted from when its
    /// connection opens or its previous response ends: so also how long a kept-alive
    /// connection may sit idle.
    pub header_timeout: Duration,
    /// Longest a client may take to send a request's body, once its headers are in.
    pub body_timeout: Duration,
}

/// `[health]`: when a provider region is taken out of rotation.
#[derive(Debug, Clone)]
pub struct HealthConfig {
    /// Retryable failures in a row that open a region's breaker.
    pub consecutive_failures: u32,
    /// Seconds an open breaker keeps the region out before one trial request.
    pub cooldown_secs: f64,
    /// Seconds between active probes of deployments that are out; 0 = no probes.
    pub probe_interval_secs: f64,
    /// Seconds a deployment that came back takes to get its whole share of traffic.
    pub slow_start_secs: f64,
    /// Failure share over the window that takes a deployment out.
    pub error_rate: f64,
    /// Outcomes the error rate is taken over.
    pub error_rate_window: u32,
    /// A first token slower than this many times the fastest peer's average counts as a
    /// failure (0 = off).
    pub latency_outlier_factor: f64,
}

/// `[retries]`: how much extra traffic retries may add.
#[derive(Debug, Clone)]
pub struct RetriesConfig {
    /// Retries allowed per request, on average (0.2 = retries add at most 20%).
    pub budget_ratio: f64,
    /// Retries that may be saved up (and the starting balance).
    pub budget_reserve: f64,
    /// Extra attempts on a deployment that failed retryably, once no other is left.
    pub same_deployment: u32,
    /// First backoff before such a retry (full jitter: a random wait up to it, doubling).
    pub backoff_base_ms: u64,
    /// Longest backoff; a `Retry-After` longer than this is not waited for.
    pub backoff_max_ms: u64,
}

/// `[limits]`: where keys' rate limits and budgets live. Its `Debug` hides passwords.
#[derive(Clone, PartialEq)]
pub struct LimitsConfig {
    /// Redis URL, when the limits are shared through Redis (`backend = "redis"`).
    pub redis_url: Option<String>,
    /// Redis Cluster nodes (`redis_cluster`); when set, the cluster protocol is used.
    pub redis_cluster: Vec<String>,
    /// Prefix of the Redis keys.
    pub redis_prefix: String,
    /// When Redis cannot be reached: `true` = refuse (503), `false` = local limits.
    pub deny_on_redis_error: bool,
    /// How long a budget reservation in Redis lasts if its request never settles it.
    pub reservation_ttl: Duration,
    /// PEM file of the certificate authorities trusted for `rediss://` (instead of the
    /// system's).
    pub redis_ca_file: Option<std::path::PathBuf>,
}

/// `[keys]`: gateway keys (stored in the usage database).
#[derive(Debug, Clone, PartialEq)]
pub struct KeysConfig {
    /// Require a gateway key on every request.
    pub enabled: bool,
    /// Environment variable holding the admin token of `/admin/keys`.
    pub admin_token_env: String,
    /// Seconds between checks for keys changed by another process.
    pub refresh_secs: f64,
    /// With keys on, endpoints left open to anyone; the others need credentials
    /// (`models`: a gateway key; `health`, `metrics`: the admin token).
    pub public: Vec<PublicEndpoint>,
}

/// An endpoint that, with keys on, needs credentials unless `[keys] public` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicEndpoint {
    /// `GET /v1/models` and `/v1/models/{id}` (otherwise: a gateway key).
    Models,
    /// `GET /admin/health` (otherwise: the admin token).
    Health,
    /// `GET /metrics` (otherwise: the admin token).
    Metrics,
}

/// `[usage]`: the usage log. Its `Debug` hides passwords.
#[derive(Clone, PartialEq, Eq)]
pub struct UsageConfig {
    /// Write the log at all (`store = "sqlite"`, the default) or not (`"none"`).
    pub enabled: bool,
    /// SQLite file (the log, unless PostgreSQL has it; and the keys); `None` =
    /// [`default_usage_path`].
    pub path: Option<std::path::PathBuf>,
    /// With `store = "postgres"`: the connection URL and the table.
    pub postgres: Option<(String, String)>,
    /// Time limits (and TLS trust) of the PostgreSQL connections (usage and keys).
    pub postgres_options: switchyard_ledger::PgOptions,
    /// Events held in memory for the writer before they go to the spool file.
    pub buffer_events: usize,
}

impl std::fmt::Debug for UsageConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageConfig")
            .field("enabled", &self.enabled)
            .field("path", &self.path)
            .field(
                "postgres",
                &self
                    .postgres
                    .as_ref()
                    .map(|(url, table)| (switchyard_ledger::redact(url), table)),
            )
            .field("postgres_options", &self.postgres_options)
            .field("buffer_events", &self.buffer_events)
            .finish()
    }
}

impl std::fmt::Debug for LimitsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hide = |u: &String| switchyard_ledger::redact(u);
        f.debug_struct("LimitsConfig")
            .field("redis_url", &self.redis_url.as_ref().map(hide))
            .field(
                "redis_cluster",
                &self.redis_cluster.iter().map(hide).collect::<Vec<_>>(),
            )
            .field("redis_prefix", &self.redis_prefix)
            .field("deny_on_redis_error", &self.deny_on_redis_error)
            .field("reservation_ttl", &self.reservation_ttl)
            .field("redis_ca_file", &self.redis_ca_file)
            .finish()
    }
}

/// Where the usage log goes unless `[usage] path` says otherwise:
/// `$SWITCHYARD_DATA_DIR/usage.db`, else `$XDG_DATA_HOME/switchyard/usage.db`, else
/// `$HOME/.local/share/switchyard/usage.db`, else `./switchyard-usage.db`.
pub fn default_usage_path(env: &dyn Fn(&str) -> Option<String>) -> std::path::PathBuf {
    let non_empty = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    if let Some(d) = non_empty("SWITCHYARD_DATA_DIR") {
        return std::path::Path::new(&d).join("usage.db");
    }
    if let Some(d) = non_empty("XDG_DATA_HOME") {
        return std::path::Path::new(&d).join("switchyard/usage.db");
    }
    if let Some(h) = non_empty("HOME") {
        return std::path::Path::new(&h).join(".local/share/switchyard/usage.db");
    }
    std::path::PathBuf::from("switchyard-usage.db")
}

/// `[simulator]`: settings of the in-process simulator used by simulated providers.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// Multiplies every simulated delay (1 = realistic, 0 = none).
    pub time_scale: f64,
    /// Seed of the latency and text draws.
    pub seed: u64,
    /// `[[simulator.faults]]`: faults in place from the start.
    pub faults: Vec<switchyard_sim::FaultRule>,
}

/// `[providers.<id>]`, validated.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// Dialect; `None` keeps the built-in provider's.
    pub dialect: Option<Dialect>,
    /// Literal API key (prefer `api_key_env`).
    pub api_key: Option<String>,
    /// Environment variable holding the API key.
    pub api_key_env: Option<String>,
    /// Serve this provider from the in-process simulator.
    pub simulated: bool,
    /// Regions in preference order; `None` keeps the built-in provider's.
    pub regions: Option<Vec<RegionConfig>>,
}

/// One region of a provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionConfig {
    /// Region label.
    pub name: String,
    /// Base URL to which `/chat/completions` is appended (ignored when simulated).
    #[serde(default)]
    pub base_url: Option<String>,
    /// The gateway region this region is near (default: its own name); compared with
    /// `[server] region`.
    #[serde(default)]
    pub near: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    simulator: RawSimulator,
    #[serde(default)]
    health: RawHealth,
    #[serde(default)]
    retries: RawRetries,
    #[serde(default)]
    usage: RawUsage,
    #[serde(default)]
    keys: RawKeys,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    routes: BTreeMap<String, Spanned<routes::RawRoute>>,
    #[serde(default)]
    virtual_models: BTreeMap<String, Spanned<virtual_models::RawVirtualModel>>,
    #[serde(default)]
    fallbacks: BTreeMap<String, Spanned<Vec<String>>>,
    #[serde(default)]
    providers: BTreeMap<String, Spanned<RawProvider>>,
    #[serde(default)]
    models: Vec<Spanned<toml::Table>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<Spanned<String>>,
    max_body_bytes: Option<usize>,
    request_timeout_secs: Option<u64>,
    stream_idle_timeout_secs: Option<u64>,
    ttft_timeout_secs: Option<u64>,
    connect_timeout_secs: Option<u64>,
    shutdown_grace_secs: Option<u64>,
    region: Option<String>,
    max_concurrency: Option<Spanned<usize>>,
    header_timeout_secs: Option<Spanned<f64>>,
    body_timeout_secs: Option<Spanned<f64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRetries {
    budget_ratio: Option<Spanned<f64>>,
    budget_reserve: Option<Spanned<f64>>,
    same_deployment: Option<u32>,
    backoff_base_ms: Option<u64>,
    backoff_max_ms: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    backend: Option<Spanned<String>>,
    redis_url: Option<String>,
    #[serde(default)]
    redis_cluster: Vec<String>,
    redis_prefix: Option<String>,
    on_redis_error: Option<Spanned<String>>,
    reservation_ttl_secs: Option<Spanned<f64>>,
    redis_ca_file: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawKeys {
    #[serde(default)]
    enabled: bool,
    admin_token_env: Option<String>,
    refresh_secs: Option<Spanned<f64>>,
    #[serde(default)]
    public: Vec<Spanned<String>>,
}

impl RawKeys {
    /// `[keys]`, checked.
    fn validate(self, at: routes::At<'_>) -> Result<KeysConfig, ConfigError> {
        Ok(KeysConfig {
            enabled: self.enabled,
            admin_token_env: self
                .admin_token_env
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| "SWITCHYARD_ADMIN_TOKEN".into()),
            refresh_secs: checked(
                at,
                &self.refresh_secs,
                2.0,
                |r: f64| r.is_finite() && r > 0.0 && r <= 86_400.0,
                |r| format!("refresh_secs {r} must be a number of seconds above 0, at most 86400"),
                "use e.g. 2: keys changed by `switchyard keys` take effect within 2 s",
            )?,
            public: self
                .public
                .iter()
                .map(|p| {
                    one_of(
                        at,
                        &Some(p.clone()),
                        PublicEndpoint::Models,
                        &[
                            ("models", PublicEndpoint::Models),
                            ("health", PublicEndpoint::Health),
                            ("metrics", PublicEndpoint::Metrics),
                        ],
                        "[keys] public entry",
                        "list any of \"models\", \"health\", \"metrics\"",
                    )
                })
                .collect::<Result<_, _>>()?,
        })
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawUsage {
    store: Option<Spanned<String>>,
    path: Option<String>,
    url: Option<Spanned<String>>,
    table: Option<Spanned<String>>,
    connect_timeout_secs: Option<Spanned<f64>>,
    query_timeout_secs: Option<Spanned<f64>>,
    buffer_events: Option<Spanned<usize>>,
    ca_file: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHealth {
    consecutive_failures: Option<Spanned<u32>>,
    cooldown_secs: Option<Spanned<f64>>,
    probe_interval_secs: Option<Spanned<f64>>,
    slow_start_secs: Option<Spanned<f64>>,
    error_rate: Option<Spanned<f64>>,
    error_rate_window: Option<Spanned<u32>>,
    latency_outlier_factor: Option<Spanned<f64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSimulator {
    time_scale: Option<Spanned<f64>>,
    seed: Option<u64>,
    #[serde(default)]
    faults: Vec<Spanned<toml::Table>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    dialect: Option<Spanned<String>>,
    api_key: Option<String>,
    api_key_env: Option<String>,
    #[serde(default)]
    simulated: bool,
    regions: Option<Spanned<Vec<RegionConfig>>>,
}

/// An optional spanned setting: `default` when absent, its value when `valid`, else an
/// error at its line saying `problem(value)` and how to fix it.
fn checked<T: Copy>(
    at: routes::At<'_>,
    v: &Option<Spanned<T>>,
    default: T,
    valid: impl Fn(T) -> bool,
    problem: impl Fn(T) -> String,
    fix: &str,
) -> Result<T, ConfigError> {
    match v {
        None => Ok(default),
        Some(x) if valid(*x.get_ref()) => Ok(*x.get_ref()),
        Some(x) => Err(at(x.span(), problem(*x.get_ref()), fix.to_string())),
    }
}

/// A limit on how long a client may take, in seconds (fractions allowed): above zero and
/// at most a day; `default` when absent.
fn client_limit(
    at: routes::At<'_>,
    v: &Option<Spanned<f64>>,
    default: f64,
    name: &str,
) -> Result<Duration, ConfigError> {
    let secs = checked(
        at,
        v,
        default,
        |s| s > 0.0 && s <= 86_400.0,
        |s| format!("{name} must be above 0 and at most 86400 seconds, got {s}"),
        &format!("use e.g. {name} = {default}"),
    )?;
    Duration::try_from_secs_f64(secs).map_err(|_| ConfigError::Internal("client time limit"))
}

/// An optional spanned word that must be one of `choices`: `default` when absent.
/// A duration in seconds (a number > 0, at most a day), or `default`.
fn secs(
    at: routes::At<'_>,
    v: &Option<Spanned<f64>>,
    default: Duration,
    what: &str,
    fix: &str,
) -> Result<Duration, ConfigError> {
    match v {
        None => Ok(default),
        Some(x) => match Duration::try_from_secs_f64(*x.get_ref()) {
            Ok(d) if !d.is_zero() && d <= Duration::from_secs(86_400) => Ok(d),
            _ => Err(at(
                x.span(),
                format!(
                    "{what} {} must be a number > 0 and at most 86400",
                    x.get_ref()
                ),
                fix.to_string(),
            )),
        },
    }
}

fn one_of<T: Copy>(
    at: routes::At<'_>,
    v: &Option<Spanned<String>>,
    default: T,
    choices: &[(&str, T)],
    what: &str,
    fix: &str,
) -> Result<T, ConfigError> {
    let Some(word) = v else {
        return Ok(default);
    };
    choices
        .iter()
        .find(|(name, _)| name == word.get_ref())
        .map(|(_, value)| *value)
        .ok_or_else(|| {
            at(
                word.span(),
                format!("{what} '{}' is not known", word.get_ref()),
                fix.to_string(),
            )
        })
}

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default body limit: 10 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

impl Config {
    /// Parse and validate `text`, read from `source` (used in error messages).
    pub fn parse(text: &str, source: &str) -> Result<Config, ConfigError> {
        let at = |span: Range<usize>, message: String, fix: String| ConfigError::Invalid {
            source_name: source.to_string(),
            line: line_of(text, span.start),
            message,
            fix,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |s| line_of(text, s.start));
            ConfigError::Invalid {
                source_name: source.to_string(),
                line,
                message: e.message().trim().to_string(),
                fix: fix_for_parse_error(e.message()),
            }
        })?;

        let listen = match &raw.server.listen {
            None => DEFAULT_LISTEN
                .parse()
                .map_err(|_| ConfigError::Internal("default listen"))?,
            Some(l) => SocketAddr::from_str(l.get_ref()).map_err(|_| {
                at(
                    l.span(),
                    format!("listen address '{}' is not IP:PORT", l.get_ref()),
                    "write it like \"127.0.0.1:8080\" or \"[::1]:8080\"".into(),
                )
            })?,
        };
        let server = ServerConfig {
            listen,
            max_body_bytes: raw.server.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
            request_timeout_secs: raw.server.request_timeout_secs.unwrap_or(600),
            stream_idle_timeout_secs: raw.server.stream_idle_timeout_secs.unwrap_or(120),
            ttft_timeout_secs: raw.server.ttft_timeout_secs.unwrap_or(120),
            connect_timeout_secs: raw.server.connect_timeout_secs.unwrap_or(10),
            shutdown_grace_secs: raw.server.shutdown_grace_secs.unwrap_or(30),
            region: raw.server.region.filter(|r| !r.trim().is_empty()),
            max_concurrency: checked(
                &at,
                &raw.server.max_concurrency,
                10_000,
                |n| n >= 1,
                |_| "max_concurrency must be at least 1".into(),
                "use e.g. 10000: requests in flight before new ones get a fast 503",
            )?,
            header_timeout: client_limit(
                &at,
                &raw.server.header_timeout_secs,
                10.0,
                "header_timeout_secs",
            )?,
            body_timeout: client_limit(
                &at,
                &raw.server.body_timeout_secs,
                30.0,
                "body_timeout_secs",
            )?,
        };

        let time_scale = checked(
            &at,
            &raw.simulator.time_scale,
            1.0,
            |t: f64| t.is_finite() && t >= 0.0,
            |t| format!("time_scale {t} must be a finite number >= 0"),
            "use 1.0 for realistic delays, 0.01 to run 100x faster, 0 for none",
        )?;
        let mut faults = Vec::new();
        for f in raw.simulator.faults {
            let span = f.span();
            let mut table = f.into_inner();
            let mut take = |key: &str| {
                match table.remove(key) {
                Some(toml::Value::String(v)) if !v.is_empty() => Ok(v),
                _ => Err(at(
                    span.clone(),
                    format!("[[simulator.faults]] entry needs `{key}` (a string)"),
                    "write e.g. { provider = \"deepseek\", region = \"global\", kind = \"server_error\" }; region \"*\" covers every region".into(),
                )),
            }
            };
            let (provider, region) = (take("provider")?, take("region")?);
            let spec: switchyard_sim::FaultSpec = toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| {
                    at(
                        span.clone(),
                        format!("[[simulator.faults]] entry: {}", e.message().trim()),
                        "kind is one of rate_limit, overloaded, insufficient_balance, server_error, auth, drop_after, stall_after, latency_spike, blank_answer; see docs/SIMULATOR.md".into(),
                    )
                })?;
            spec.validate().map_err(|e| {
                at(
                    span.clone(),
                    format!("[[simulator.faults]] entry: {e}"),
                    "see docs/SIMULATOR.md for each fault's fields".into(),
                )
            })?;
            faults.push(switchyard_sim::FaultRule {
                provider,
                region,
                spec,
            });
        }
        let simulator = SimulatorConfig {
            time_scale,
            seed: raw.simulator.seed.unwrap_or(42),
            faults,
        };

        let non_negative = |v: &Option<Spanned<f64>>, default: f64, what: &str, fix: &str| {
            checked(
                &at,
                v,
                default,
                |x: f64| x.is_finite() && x >= 0.0,
                |x| format!("{what} {x} must be a number >= 0"),
                fix,
            )
        };
        // A duration: at most a day, so that it fits a `Duration` and an `Instant` plus it.
        let seconds = |v: &Option<Spanned<f64>>, default: f64, what: &str, fix: &str| {
            checked(
                &at,
                v,
                default,
                |x: f64| x.is_finite() && (0.0..=86_400.0).contains(&x),
                |x| format!("{what} {x} must be a number of seconds from 0 to 86400"),
                fix,
            )
        };
        let health = HealthConfig {
            consecutive_failures: checked(
                &at,
                &raw.health.consecutive_failures,
                5,
                |n| n >= 1,
                |_| "consecutive_failures must be at least 1".into(),
                "use e.g. 5: that many retryable failures in a row take a region out",
            )?,
            cooldown_secs: seconds(
                &raw.health.cooldown_secs,
                10.0,
                "cooldown_secs",
                "use e.g. 10: seconds before a failed region gets a trial request",
            )?,
            probe_interval_secs: seconds(
                &raw.health.probe_interval_secs,
                0.0,
                "probe_interval_secs",
                "use e.g. 5 to probe deployments that are out every 5 s, or 0 for no probes",
            )?,
            slow_start_secs: seconds(
                &raw.health.slow_start_secs,
                30.0,
                "slow_start_secs",
                "use e.g. 30: a deployment that came back gets its full share over 30 s",
            )?,
            error_rate: non_negative(
                &raw.health.error_rate,
                0.5,
                "error_rate",
                "use e.g. 0.5: half the recent outcomes failing takes a deployment out (above 1 = never)",
            )?,
            error_rate_window: checked(
                &at,
                &raw.health.error_rate_window,
                20,
                |w| (1..=64).contains(&w),
                |w| format!("error_rate_window {w} must be between 1 and 64"),
                "use e.g. 20 outcomes",
            )?,
            latency_outlier_factor: non_negative(
                &raw.health.latency_outlier_factor,
                5.0,
                "latency_outlier_factor",
                "use e.g. 5: a first token 5x slower than the fastest peer's average counts as a failure; 0 turns it off",
            )?,
        };
        let retries = RetriesConfig {
            budget_ratio: non_negative(
                &raw.retries.budget_ratio,
                0.2,
                "budget_ratio",
                "use e.g. 0.2: retries add at most 20% to the traffic",
            )?,
            budget_reserve: non_negative(
                &raw.retries.budget_reserve,
                20.0,
                "budget_reserve",
                "use e.g. 20: retries that may be saved up",
            )?,
            same_deployment: raw.retries.same_deployment.unwrap_or(1),
            backoff_base_ms: raw.retries.backoff_base_ms.unwrap_or(100),
            backoff_max_ms: raw.retries.backoff_max_ms.unwrap_or(2_000),
        };

        let store = raw.usage.store.as_ref().map(|s| s.get_ref().as_str());
        let postgres = match (store, &raw.usage.url) {
            (Some("postgres"), Some(url)) => {
                let table = raw
                    .usage
                    .table
                    .as_ref()
                    .map_or_else(|| "switchyard_usage".to_string(), |t| t.get_ref().clone());
                if let Some(t) = &raw.usage.table
                    && (t.get_ref().is_empty()
                        || !t
                            .get_ref()
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
                {
                    return Err(at(
                        t.span(),
                        format!("[usage] table '{}' is not a plain name", t.get_ref()),
                        "use lowercase letters, digits and '_', e.g. \"switchyard_usage\"".into(),
                    ));
                }
                Some((url.get_ref().clone(), table))
            }
            (Some("postgres"), None) => {
                let span = raw.usage.store.as_ref().map_or(0..0, Spanned::span);
                return Err(at(
                    span,
                    "[usage] store = \"postgres\" needs url".into(),
                    "add url = \"postgres://user@host:5432/db\"".into(),
                ));
            }
            _ => None,
        };
        let usage = UsageConfig {
            enabled: one_of(
                &at,
                &raw.usage.store,
                true,
                &[("sqlite", true), ("postgres", true), ("none", false)],
                "[usage] store",
                "use \"sqlite\" (the default), \"postgres\" or \"none\"",
            )?,
            postgres,
            postgres_options: switchyard_ledger::PgOptions {
                connect_timeout: secs(
                    &at,
                    &raw.usage.connect_timeout_secs,
                    switchyard_ledger::CONNECT_TIMEOUT,
                    "[usage] connect_timeout_secs",
                    "use e.g. 5: a PostgreSQL server that has not accepted a connection within 5 s is retried later",
                )?,
                query_timeout: secs(
                    &at,
                    &raw.usage.query_timeout_secs,
                    switchyard_ledger::QUERY_TIMEOUT,
                    "[usage] query_timeout_secs",
                    "use e.g. 10: a PostgreSQL query or batch not answered within 10 s is abandoned and its connection replaced",
                )?,
                ca_file: raw
                    .usage
                    .ca_file
                    .clone()
                    .filter(|p| !p.trim().is_empty())
                    .map(std::path::PathBuf::from),
            },
            buffer_events: checked(
                &at,
                &raw.usage.buffer_events,
                switchyard_ledger::CHANNEL_CAPACITY,
                |n: usize| (1..=1_000_000).contains(&n),
                |n| format!("[usage] buffer_events {n} must be between 1 and 1000000"),
                "use e.g. 8192: events waiting for the writer in memory before they go to the spool file",
            )?,
            path: raw
                .usage
                .path
                .filter(|p| !p.trim().is_empty())
                .map(std::path::PathBuf::from),
        };

        let keys = raw.keys.validate(&at)?;

        let redis = one_of(
            &at,
            &raw.limits.backend,
            false,
            &[("local", false), ("redis", true)],
            "[limits] backend",
            "use \"local\" (each process alone, the default) or \"redis\" (shared by replicas)",
        )?;
        let limits = LimitsConfig {
            redis_url: redis.then(|| {
                raw.limits
                    .redis_url
                    .clone()
                    .filter(|u| !u.trim().is_empty())
                    .unwrap_or_else(|| "redis://127.0.0.1:6379".into())
            }),
            redis_cluster: if redis {
                raw.limits.redis_cluster.clone()
            } else {
                Vec::new()
            },
            redis_prefix: raw
                .limits
                .redis_prefix
                .clone()
                .filter(|p| !p.trim().is_empty())
                .unwrap_or_else(|| "switchyard".into()),
            deny_on_redis_error: one_of(
                &at,
                &raw.limits.on_redis_error,
                false,
                &[("local", false), ("deny", true)],
                "[limits] on_redis_error",
                "use \"local\" (fail open with each process's own limits) or \"deny\" (fail closed: 503)",
            )?,
            reservation_ttl: secs(
                &at,
                &raw.limits.reservation_ttl_secs,
                Duration::from_secs(server.request_timeout_secs.saturating_add(60)),
                "[limits] reservation_ttl_secs",
                "use a little more than your longest request, e.g. 660 with request_timeout_secs = 600",
            )?,
            redis_ca_file: raw
                .limits
                .redis_ca_file
                .clone()
                .filter(|p| !p.trim().is_empty())
                .map(std::path::PathBuf::from),
        };

        let mut routes = BTreeMap::new();
        for (model, r) in raw.routes {
            let line = line_of(text, r.span().start);
            let route = r.into_inner().validate(&model, line, &at)?;
            routes.insert(model, route);
        }

        let mut virtual_models = BTreeMap::new();
        for (name, v) in raw.virtual_models {
            let line = line_of(text, v.span().start);
            let vm = v.into_inner().validate(&name, line, &at)?;
            virtual_models.insert(name, vm);
        }

        let mut fallbacks = BTreeMap::new();
        let mut fallback_lines = BTreeMap::new();
        for (from, to) in raw.fallbacks {
            fallback_lines.insert(from.clone(), line_of(text, to.span().start));
            fallbacks.insert(from, to.into_inner());
        }

        let mut providers = BTreeMap::new();
        let mut provider_lines = BTreeMap::new();
        for (id, p) in raw.providers {
            let span = p.span();
            provider_lines.insert(id.clone(), line_of(text, span.start));
            let p = p.into_inner();
            let dialect = match p.dialect {
                None => None,
                Some(d) => Some(d.get_ref().parse::<Dialect>().map_err(|e| {
                    at(d.span(), e.to_string(), "set dialect to the vendor's API style; \"openai\" fits any OpenAI-compatible server".into())
                })?),
            };
            if let Some(regions) = &p.regions {
                if regions.get_ref().is_empty() {
                    return Err(at(
                        regions.span(),
                        format!("provider '{id}' has an empty region list"),
                        "list at least one region: regions = [{ name = \"main\", base_url = \"https://…\" }]".into(),
                    ));
                }
                if !p.simulated {
                    for r in regions.get_ref() {
                        match &r.base_url {
                            Some(u) if u.starts_with("http://") || u.starts_with("https://") => {}
                            Some(u) => {
                                return Err(at(
                                    regions.span(),
                                    format!(
                                        "region '{}' of provider '{id}' has base_url '{u}', which is not an http(s) URL",
                                        r.name
                                    ),
                                    "write the full URL, e.g. \"https://api.deepseek.com\"".into(),
                                ));
                            }
                            None => {
                                return Err(at(
                                    regions.span(),
                                    format!("region '{}' of provider '{id}' has no base_url", r.name),
                                    "add base_url, or set simulated = true to serve it from the simulator".into(),
                                ));
                            }
                        }
                    }
                }
            }
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(at(
                    span,
                    format!("provider id '{id}' must be ASCII letters, digits, '-' or '_'"),
                    "rename the [providers.<id>] table".into(),
                ));
            }
            providers.insert(
                id,
                ProviderConfig {
                    dialect,
                    api_key: p.api_key,
                    api_key_env: p.api_key_env,
                    simulated: p.simulated,
                    regions: p.regions.map(Spanned::into_inner),
                },
            );
        }

        let mut models = Vec::new();
        let mut model_lines = Vec::new();
        for m in raw.models {
            let span = m.span();
            model_lines.push(line_of(text, span.start));
            let table = m.into_inner();
            let o: ModelOverride =
                toml::Value::Table(table)
                    .try_into()
                    .map_err(|e: toml::de::Error| {
                        at(
                            span.clone(),
                            format!("[[models]] entry: {}", e.message().trim()),
                            "see docs/CONFIG.md, section [[models]], for the fields".into(),
                        )
                    })?;
            models.push(o);
        }

        Ok(Config {
            server,
            simulator,
            health,
            retries,
            usage,
            keys,
            limits,
            routes,
            virtual_models,
            fallbacks,
            fallback_lines,
            providers,
            models,
            model_lines,
            provider_lines,
            source: source.to_string(),
        })
    }

    /// The embedded default configuration.
    pub fn embedded_default() -> Result<Config, ConfigError> {
        Config::parse(EMBEDDED_DEFAULT, "embedded default")
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(0, |t| t.matches('\n').count() + 1)
}

fn fix_for_parse_error(message: &str) -> String {
    if message.contains("unknown variant") {
        "use one of the values the message lists (docs/CONFIG.md explains each)".into()
    } else if message.contains("unknown field") {
        "remove or rename the field; docs/CONFIG.md lists every option".into()
    } else if message.contains("invalid type") {
        "give the value the type docs/CONFIG.md shows (strings in quotes, numbers bare)".into()
    } else {
        "check the TOML syntax on that line".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_parses() {
        let c = Config::embedded_default().unwrap();
        assert!(c.providers.values().all(|p| p.simulated));
        assert!(c.providers.len() >= 4);
        assert!(
            c.providers
                .values()
                .all(|p| p.regions.as_ref().is_some_and(|r| r.len() >= 2))
        );
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c = Config::parse("", "t").unwrap();
        assert_eq!(c.server.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.server.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert_eq!(c.simulator.time_scale, 1.0);
    }

    #[test]
    fn wrong_type_names_the_line() {
        let err = Config::parse("[server]\nlisten = 42\n", "cfg.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("cfg.toml line 2"), "{err}");
        assert!(err.contains("fix:"), "{err}");
    }

    #[test]
    fn routes_parse_with_defaults_and_hedging_off() {
        let c = Config::parse(
            "[routes.\"deepseek-v4-flash\"]\nttft_timeout_secs = 2.5\n\
             deployments = [{ region = \"global\", weight = 3, max_concurrency = 8 }]\n",
            "c",
        )
        .unwrap();
        let r = &c.routes["deepseek-v4-flash"];
        assert_eq!(r.balance, Balance::LeastOutstanding);
        assert_eq!(r.ttft_timeout, Some(std::time::Duration::from_millis(2500)));
        assert!(r.hedge.is_none());
        let d = &r.deployments.as_ref().unwrap()[0];
        assert_eq!(
            (d.weight, d.max_concurrency, d.priority),
            (3, Some(8), None)
        );
        assert_eq!(r.line, 1);
    }

    #[test]
    fn bad_route_values_name_the_line_and_fix() {
        for (text, needle) in [
            ("\n[routes.m]\nbalance = \"fastest\"\n", "unknown variant"),
            (
                "\n[routes.m]\ndeployments = [{ region = \"a\", weight = 0 }]\n",
                "weight 0",
            ),
            ("\n[routes.m]\nhedge = { percentile = 150 }\n", "percentile"),
            (
                "\n[routes.m]\nttft_timeout_secs = -1\n",
                "ttft_timeout_secs",
            ),
            (
                "\n[routes.m]\ndeployments = [{ regoin = \"a\" }]\n",
                "unknown field",
            ),
        ] {
            let err = Config::parse(text, "c").unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
            assert!(
                err.contains("line 3") || err.contains("line 2"),
                "{text}: {err}"
            );
            assert!(err.contains("fix:"), "{text}: {err}");
        }
    }

    #[test]
    fn simulator_faults_parse_and_bad_ones_name_the_line() {
        let c = Config::parse(
            "[[simulator.faults]]\nprovider = \"deepseek\"\nregion = \"*\"\nkind = \"latency_spike\"\ndelay_ms = 900\nprobability = 0.1\n",
            "c",
        )
        .unwrap();
        let f = &c.simulator.faults[0];
        assert_eq!((f.provider.as_str(), f.region.as_str()), ("deepseek", "*"));
        assert_eq!(f.spec.delay_ms, Some(900));
        for (text, needle) in [
            (
                "\n[[simulator.faults]]\nregion = \"a\"\nkind = \"auth\"\n",
                "`provider`",
            ),
            (
                "\n[[simulator.faults]]\nprovider = \"p\"\nregion = \"a\"\nkind = \"meteor\"\n",
                "unknown variant",
            ),
            (
                "\n[[simulator.faults]]\nprovider = \"p\"\nregion = \"a\"\nkind = \"latency_spike\"\n",
                "delay_ms",
            ),
        ] {
            let err = Config::parse(text, "c").unwrap_err().to_string();
            assert!(err.contains(needle) && err.contains("line 2"), "{err}");
        }
    }

    #[test]
    fn server_limits_and_home_region_parse() {
        let c = Config::parse("[server]\nregion = \"eu\"\nmax_concurrency = 64\n", "c").unwrap();
        assert_eq!(c.server.region.as_deref(), Some("eu"));
        assert_eq!(c.server.max_concurrency, 64);
        let err = Config::parse("[server]\nmax_concurrency = 0\n", "c")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 2") && err.contains("at least 1"),
            "{err}"
        );
    }

    #[test]
    fn store_time_limits_tls_and_buffers_parse_with_their_defaults() {
        let c = Config::parse("", "c").unwrap();
        assert_eq!(
            c.usage.postgres_options,
            switchyard_ledger::PgOptions::default()
        );
        assert_eq!(c.usage.buffer_events, switchyard_ledger::CHANNEL_CAPACITY);
        assert_eq!(c.limits.reservation_ttl, Duration::from_secs(660));
        assert_eq!(c.limits.redis_ca_file, None);
        let c = Config::parse(
            "[server]\nrequest_timeout_secs = 100\n[usage]\nconnect_timeout_secs = 1.5\nquery_timeout_secs = 3\nbuffer_events = 10\nca_file = \"/etc/ca.pem\"\n[limits]\nredis_ca_file = \"/etc/r.pem\"\n",
            "c",
        )
        .unwrap();
        let o = &c.usage.postgres_options;
        assert_eq!(o.connect_timeout, Duration::from_millis(1500));
        assert_eq!(o.query_timeout, Duration::from_secs(3));
        assert_eq!(
            o.ca_file.as_deref(),
            Some(std::path::Path::new("/etc/ca.pem"))
        );
        assert_eq!(c.usage.buffer_events, 10);
        assert_eq!(
            c.limits.reservation_ttl,
            Duration::from_secs(160),
            "request time-out + 60 s"
        );
        assert_eq!(
            c.limits.redis_ca_file.as_deref(),
            Some(std::path::Path::new("/etc/r.pem"))
        );
        for bad in [
            "[usage]\nquery_timeout_secs = 0\n",
            "[usage]\nconnect_timeout_secs = -1\n",
            "[usage]\nbuffer_events = 0\n",
            "[limits]\nreservation_ttl_secs = 1e300\n",
        ] {
            let err = Config::parse(bad, "c").unwrap_err().to_string();
            assert!(err.contains("line 2"), "{bad}: {err}");
        }
    }

    #[test]
    fn bad_listen_address_names_the_line_and_fix() {
        let err = Config::parse("\n[server]\nlisten = \"localhost\"\n", "c")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 3") && err.contains("127.0.0.1:8080"),
            "{err}"
        );
    }

    #[test]
    fn unknown_dialect_names_the_line_and_choices() {
        let text = "[providers.x]\ndialect = \"deepsek\"\nregions = [{ name = \"a\", base_url = \"http://h\" }]\n";
        let err = Config::parse(text, "c").unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("deepseek"), "{err}");
    }

    #[test]
    fn unknown_field_is_rejected_with_its_line() {
        let err = Config::parse("[server]\nlisten = \"127.0.0.1:1\"\nmax_body = 5\n", "c")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 3") && err.contains("max_body"), "{err}");
    }

    #[test]
    fn region_without_base_url_needs_simulated() {
        let text = "[providers.x]\ndialect = \"openai\"\nregions = [{ name = \"a\" }]\n";
        let err = Config::parse(text, "c").unwrap_err().to_string();
        assert!(err.contains("simulated = true"), "{err}");
        let ok =
            "[providers.x]\ndialect = \"openai\"\nsimulated = true\nregions = [{ name = \"a\" }]\n";
        assert!(Config::parse(ok, "c").is_ok());
    }

    #[test]
    fn model_entry_errors_point_at_the_entry() {
        let text = "[[models]]\nid = \"m\"\ncontext_window = \"big\"\n";
        let err = Config::parse(text, "c").unwrap_err().to_string();
        assert!(err.contains("line 1") || err.contains("line 2"), "{err}");
    }

    #[test]
    fn entries_remember_their_lines_for_later_validation() {
        let text = "# c\n[providers.x]\ndialect = \"openai\"\nregions = [{ name = \"a\", base_url = \"http://h\" }]\n\n[[models]]\nid = \"m\"\n";
        let c = Config::parse(text, "c").unwrap();
        assert_eq!(c.provider_lines["x"], 2);
        assert_eq!(c.model_lines, vec![6], "the line of the [[models]] header");
    }

    #[test]
    fn health_settings_are_checked() {
        let c = Config::parse(
            "[health]\nconsecutive_failures = 3\ncooldown_secs = 2.5\n",
            "c",
        )
        .unwrap();
        assert_eq!(
            (c.health.consecutive_failures, c.health.cooldown_secs),
            (3, 2.5)
        );
        let err = Config::parse("[health]\nconsecutive_failures = 0\n", "c")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 2") && err.contains("at least 1"),
            "{err}"
        );
    }

    #[test]
    fn fallbacks_remember_their_lines() {
        let c = Config::parse(
            "[fallbacks]\n\"deepseek-v4-flash\" = [\"qwen3-32b\"]\n",
            "c",
        )
        .unwrap();
        assert_eq!(
            c.fallbacks["deepseek-v4-flash"],
            vec!["qwen3-32b".to_string()]
        );
        assert_eq!(c.fallback_lines["deepseek-v4-flash"], 2);
    }

    #[test]
    fn negative_time_scale_is_rejected() {
        let err = Config::parse("[simulator]\ntime_scale = -1.0\n", "c")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
    }
}
