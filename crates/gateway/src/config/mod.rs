//! The gateway's one TOML config file: parsed, then validated, with errors that name the
//! line and the fix. Every option is documented in `docs/CONFIG.md`.
//!
//! Each section has a module of its own, holding the section as written (its raw serde
//! type) and the `validate` that turns it into the checked type below; [`Config::parse`]
//! reads the raw file and validates the sections in turn.

use std::collections::BTreeMap;

use serde::Deserialize;
use switchyard_catalog::ModelOverride;
use toml::Spanned;

use crate::error::ConfigError;

mod check;
mod fallbacks;
mod health;
mod hedge;
mod keys;
mod limits;
mod models;
mod providers;
mod retries;
mod routes;
mod server;
mod simulator;
mod slo;
mod telemetry;
mod usage;
mod virtual_models;

pub use health::HealthConfig;
pub use hedge::HedgeConfig;
pub use keys::{KeysConfig, PublicEndpoint};
pub use limits::LimitsConfig;
pub use providers::{MessagesMode, ProviderConfig, RegionConfig};
pub use retries::RetriesConfig;
pub use routes::{Balance, DeploymentConfig, RouteConfig};
pub use server::ServerConfig;
pub use simulator::SimulatorConfig;
pub use slo::SloConfig;
pub use telemetry::TelemetryConfig;
pub use usage::{UsageConfig, default_usage_path};
pub use virtual_models::{Match, Policy, Rule, VirtualModelConfig};

/// Environment variables that hold the built-in providers' keys; any of them set means
/// "talk to the real vendors".
pub const VENDOR_KEY_VARS: [&str; 8] = [
    "DEEPSEEK_API_KEY",
    "DASHSCOPE_API_KEY",
    "MOONSHOT_API_KEY",
    "ZHIPUAI_API_KEY",
    "ARK_API_KEY",
    "SILICONFLOW_API_KEY",
    "MINIMAX_API_KEY",
    "OPENROUTER_API_KEY",
];

/// The embedded default: every built-in provider simulated.
const EMBEDDED_DEFAULT: &str = include_str!("../default.toml");

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
    /// `[slo]`: the availability objective the dashboard tracks.
    pub slo: SloConfig,
    /// `[telemetry]`: OpenTelemetry trace export.
    pub telemetry: TelemetryConfig,
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

/// The whole file as written: every section, unchecked.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: server::RawServer,
    #[serde(default)]
    simulator: simulator::RawSimulator,
    #[serde(default)]
    health: health::RawHealth,
    #[serde(default)]
    retries: retries::RawRetries,
    #[serde(default)]
    usage: usage::RawUsage,
    #[serde(default)]
    keys: keys::RawKeys,
    #[serde(default)]
    limits: limits::RawLimits,
    #[serde(default)]
    slo: slo::RawSlo,
    #[serde(default)]
    telemetry: telemetry::RawTelemetry,
    #[serde(default)]
    routes: BTreeMap<String, Spanned<routes::RawRoute>>,
    #[serde(default)]
    virtual_models: BTreeMap<String, Spanned<virtual_models::RawVirtualModel>>,
    #[serde(default)]
    fallbacks: BTreeMap<String, Spanned<Vec<String>>>,
    #[serde(default)]
    providers: BTreeMap<String, Spanned<providers::RawProvider>>,
    #[serde(default)]
    models: Vec<Spanned<toml::Table>>,
}

impl RawConfig {
    /// The TOML of `src`, read into the raw sections; a syntax or type error names its
    /// line and a fix.
    fn read(src: check::Source<'_>) -> Result<RawConfig, ConfigError> {
        toml::from_str(src.text()).map_err(|e| {
            let line = e.span().map_or(0, |s| src.line(s.start));
            src.error_at_line(
                line,
                e.message().trim().to_string(),
                fix_for_parse_error(e.message()),
            )
        })
    }
}

impl Config {
    /// Parse and validate `text`, read from `source` (used in error messages).
    ///
    /// Sections are checked in the order below, so that of several mistakes the same one
    /// is always reported first. `[limits]` follows `[server]`: a budget reservation
    /// lasts by default a minute longer than the longest request.
    ///
    /// Settings that name an environment variable (`[usage] url_env`, `[limits]
    /// redis_url_env`) read this process's environment; [`Config::parse_with_env`] takes
    /// another.
    pub fn parse(text: &str, source: &str) -> Result<Config, ConfigError> {
        Self::parse_with_env(text, source, &|var| std::env::var(var).ok())
    }

    /// [`Config::parse`], with environment variables read from `env`.
    pub fn parse_with_env(
        text: &str,
        source: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let src = check::Source::new(source, text, env);
        let raw = RawConfig::read(src)?;
        let server = raw.server.validate(src)?;
        let simulator = raw.simulator.validate(src)?;
        let health = raw.health.validate(src)?;
        let retries = raw.retries.validate(src)?;
        let usage = raw.usage.validate(src)?;
        let keys = raw.keys.validate(src)?;
        let limits = raw.limits.validate(src, server.request_timeout)?;
        let slo = raw.slo.validate(src)?;
        let telemetry = raw.telemetry.validate(src)?;
        let routes = check::tables(src, raw.routes, routes::RawRoute::validate)?;
        let virtual_models = check::tables(
            src,
            raw.virtual_models,
            virtual_models::RawVirtualModel::validate,
        )?;
        let (fallbacks, fallback_lines) = fallbacks::validate(src, raw.fallbacks);
        let (providers, provider_lines) = providers::validate(src, raw.providers)?;
        let (models, model_lines) = models::validate(src, raw.models)?;
        Ok(Config {
            server,
            simulator,
            health,
            retries,
            usage,
            keys,
            limits,
            slo,
            telemetry,
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

/// How to fix a TOML error that serde or the TOML parser reported.
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

/// What the sections' tests share.
#[cfg(test)]
mod testing {
    use super::Config;

    /// The error `text` is refused with, read from "c".
    pub(super) fn error_of(text: &str) -> String {
        Config::parse(text, "c").unwrap_err().to_string()
    }

    /// `text` is refused at `line`, with a message that contains each of `needles`.
    pub(super) fn assert_refused(text: &str, line: usize, needles: &[&str]) {
        let err = error_of(text);
        assert!(
            err.contains(&format!(" c line {line}: ")) && err.contains("\n  fix: "),
            "{text}: {err}"
        );
        for needle in needles {
            assert!(err.contains(needle), "{text}: no {needle:?} in {err}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{assert_refused, error_of};
    use super::*;

    #[test]
    fn embedded_default_parses() {
        let c = Config::embedded_default().unwrap();
        assert!(c.providers.values().all(|p| p.simulated));
        assert_eq!(
            c.providers.len(),
            VENDOR_KEY_VARS.len(),
            "every built-in provider"
        );
        for maker in ["deepseek", "dashscope", "moonshot", "zhipu", "minimax"] {
            let regions = c.providers[maker].regions.as_ref().map_or(0, Vec::len);
            assert!(regions >= 2, "{maker} in {regions} region(s)");
        }
        // One model served by two vendors.
        let route = &c.routes["deepseek-v3.2"];
        let vendors: Vec<Option<&str>> = route
            .deployments
            .iter()
            .flatten()
            .map(|d| d.provider.as_deref())
            .collect();
        assert_eq!(vendors, [None, None, Some("siliconflow")]);
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c = Config::parse("", "t").unwrap();
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.server.max_body_bytes, 10 * 1024 * 1024);
        assert_eq!(c.simulator.time_scale, 1.0);
        assert_eq!(c.source, "t");
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
    fn entries_remember_their_lines_for_later_validation() {
        let text = "# c\n[providers.x]\ndialect = \"openai\"\nregions = [{ name = \"a\", base_url = \"http://h\" }]\n\n[[models]]\nid = \"m\"\n";
        let c = Config::parse(text, "c").unwrap();
        assert_eq!(c.provider_lines["x"], 2);
        assert_eq!(c.model_lines, vec![6], "the line of the [[models]] header");
    }

    #[test]
    fn of_two_mistakes_the_earlier_section_is_reported() {
        assert_refused(
            "[limits]\nbackend = \"x\"\n[server]\nmax_concurrency = 0\n",
            4,
            &["max_concurrency"],
        );
    }

    #[test]
    fn parse_errors_name_a_fix_for_their_kind() {
        for (text, fix) in [
            ("[server]\nlisten = 42\n", "give the value the type"),
            ("[nope]\n", "remove or rename the field"),
            ("[routes.m]\nbalance = \"x\"\n", "use one of the values"),
            ("[server\n", "check the TOML syntax"),
        ] {
            assert!(error_of(text).contains(fix), "{text}");
        }
    }
}
