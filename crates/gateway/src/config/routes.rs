//! `[routes."<model>"]`: per-model deployments, balancing, time limits and hedging.
//!
//! Parsed and range-checked here; whether the model and regions exist is checked when
//! the gateway starts ([`crate::deploy`]), where the catalog is known.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::error::ConfigError;

/// How a request picks among the healthy deployments of one tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Balance {
    /// The configured order: the first deployment with room takes every request.
    Ordered,
    /// At random, in proportion to `weight`.
    Weighted,
    /// Power of two choices: two drawn by weight, the one with fewer requests in flight
    /// (per unit of weight) wins.
    #[default]
    LeastOutstanding,
    /// Power of two choices scored by the EWMA of time to first token × requests in flight.
    Latency,
}

impl Balance {
    /// Config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Balance::Ordered => "ordered",
            Balance::Weighted => "weighted",
            Balance::LeastOutstanding => "least_outstanding",
            Balance::Latency => "latency",
        }
    }
}

/// One deployment of a model, as written in the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentConfig {
    /// A region of the model's provider.
    pub region: String,
    /// Name for health and headers (default: the region). Deployments that share a name
    /// share a circuit breaker.
    #[serde(default)]
    pub name: Option<String>,
    /// The model's id at this deployment (default: the catalog's upstream id).
    #[serde(default)]
    pub upstream_id: Option<String>,
    /// Share of traffic within its tier (default 1).
    #[serde(default = "one")]
    pub weight: u32,
    /// Requests in flight at most; past it the deployment is passed over (default: no limit).
    #[serde(default)]
    pub max_concurrency: Option<u32>,
    /// The vendor's requests-per-minute quota (default: none).
    #[serde(default)]
    pub rpm: Option<u64>,
    /// The vendor's tokens-per-minute quota (default: none); a request reserves its prompt
    /// estimate plus its most output, and what it did not use goes back when it ends.
    #[serde(default)]
    pub tpm: Option<u64>,
    /// Tier: lower is tried first (default: 0 in the home region, else 1; without a home
    /// region, the region's position in the provider's list).
    #[serde(default)]
    pub priority: Option<u32>,
}

fn one() -> u32 {
    1
}

/// Hedged requests, validated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HedgeConfig {
    /// Hedge when the first attempt is slower than this percentile of recent ones.
    pub percentile: f64,
    /// Never hedge sooner than this.
    pub min_delay: Duration,
    /// The delay used until 20 attempts have been measured.
    pub initial_delay: Duration,
    /// Hedges allowed per request, on average.
    pub budget_ratio: f64,
    /// Hedges that may be saved up.
    pub budget_reserve: f64,
}

/// `[routes."<model>"]`, validated.
#[derive(Debug, Clone)]
pub struct RouteConfig {
    /// Balancing policy within a tier.
    pub balance: Balance,
    /// Overrides `[server] request_timeout_secs` for this model.
    pub request_timeout: Option<Duration>,
    /// Overrides `[server] ttft_timeout_secs` for this model.
    pub ttft_timeout: Option<Duration>,
    /// Overrides `[server] stream_idle_timeout_secs` for this model.
    pub stream_idle_timeout: Option<Duration>,
    /// Hedging; `None` = off (the default).
    pub hedge: Option<HedgeConfig>,
    /// Deployments; `None` = one per region of the model's provider.
    pub deployments: Option<Vec<DeploymentConfig>>,
    /// Line of the table, for start-up errors.
    pub line: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    #[serde(default)]
    balance: Balance,
    request_timeout_secs: Option<Spanned<f64>>,
    ttft_timeout_secs: Option<Spanned<f64>>,
    stream_idle_timeout_secs: Option<Spanned<f64>>,
    hedge: Option<Spanned<RawHedge>>,
    deployments: Option<Spanned<Vec<DeploymentConfig>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHedge {
    #[serde(default = "default_percentile")]
    percentile: f64,
    #[serde(default = "default_min_delay_ms")]
    min_delay_ms: u64,
    #[serde(default = "default_initial_delay_ms")]
    initial_delay_ms: u64,
    #[serde(default = "default_budget_ratio")]
    budget_ratio: f64,
    #[serde(default = "default_budget_reserve")]
    budget_reserve: f64,
}

fn default_percentile() -> f64 {
    90.0
}
fn default_min_delay_ms() -> u64 {
    50
}
fn default_initial_delay_ms() -> u64 {
    1000
}
fn default_budget_ratio() -> f64 {
    0.2
}
fn default_budget_reserve() -> f64 {
    10.0
}

/// Builds a [`ConfigError`] for a span of the file.
pub(super) type At<'a> = &'a dyn Fn(std::ops::Range<usize>, String, String) -> ConfigError;

impl RawRoute {
    pub(super) fn validate(
        self,
        model: &str,
        line: usize,
        at: At<'_>,
    ) -> Result<RouteConfig, ConfigError> {
        let secs = |v: Option<Spanned<f64>>, what: &str| -> Result<Option<Duration>, ConfigError> {
            match v {
                None => Ok(None),
                Some(s)
                    if s.get_ref().is_finite()
                        && *s.get_ref() > 0.0
                        && *s.get_ref() <= 86_400.0 =>
                {
                    Ok(Some(Duration::from_secs_f64(*s.get_ref())))
                }
                Some(s) => Err(at(
                    s.span(),
                    format!(
                        "[routes.\"{model}\"] {what} = {} must be a number of seconds in (0, 86400]",
                        s.get_ref()
                    ),
                    format!("use e.g. {what} = 30"),
                )),
            }
        };
        let request_timeout = secs(self.request_timeout_secs, "request_timeout_secs")?;
        let ttft_timeout = secs(self.ttft_timeout_secs, "ttft_timeout_secs")?;
        let stream_idle_timeout = secs(self.stream_idle_timeout_secs, "stream_idle_timeout_secs")?;
        let hedge = match self.hedge {
            None => None,
            Some(h) => {
                let span = h.span();
                let h = h.into_inner();
                let bad =
                    |message: String, fix: &str| Err(at(span.clone(), message, fix.to_string()));
                if !(h.percentile > 0.0 && h.percentile < 100.0) {
                    return bad(
                        format!(
                            "[routes.\"{model}\"] hedge.percentile = {} must be between 0 and 100",
                            h.percentile
                        ),
                        "use e.g. percentile = 90: hedge the slowest 10% of first attempts",
                    );
                }
                if !(h.budget_ratio.is_finite() && (0.0..=1.0).contains(&h.budget_ratio)) {
                    return bad(
                        format!(
                            "[routes.\"{model}\"] hedge.budget_ratio = {} must be in [0, 1]",
                            h.budget_ratio
                        ),
                        "use e.g. budget_ratio = 0.2: hedges add at most 20% to the model's traffic",
                    );
                }
                if !(h.budget_reserve.is_finite() && h.budget_reserve >= 0.0) {
                    return bad(
                        format!(
                            "[routes.\"{model}\"] hedge.budget_reserve = {} must be >= 0",
                            h.budget_reserve
                        ),
                        "use e.g. budget_reserve = 10",
                    );
                }
                Some(HedgeConfig {
                    percentile: h.percentile,
                    min_delay: Duration::from_millis(h.min_delay_ms),
                    initial_delay: Duration::from_millis(h.initial_delay_ms.max(h.min_delay_ms)),
                    budget_ratio: h.budget_ratio,
                    budget_reserve: h.budget_reserve,
                })
            }
        };
        let deployments = match self.deployments {
            None => None,
            Some(d) => {
                let span = d.span();
                let list = d.into_inner();
                if list.is_empty() {
                    return Err(at(
                        span,
                        format!("[routes.\"{model}\"] has an empty deployments list"),
                        "list at least one: deployments = [{ region = \"global\" }], or remove the key to use every region".into(),
                    ));
                }
                for dep in &list {
                    if dep.weight == 0 {
                        return Err(at(
                            span.clone(),
                            format!(
                                "deployment in region '{}' of '{model}' has weight 0",
                                dep.region
                            ),
                            "weights are at least 1; remove the deployment to send it nothing"
                                .into(),
                        ));
                    }
                    if dep.rpm == Some(0) || dep.tpm == Some(0) {
                        return Err(at(
                            span.clone(),
                            format!(
                                "deployment in region '{}' of '{model}' has a quota of 0",
                                dep.region
                            ),
                            "rpm and tpm are at least 1; leave them out for no quota".into(),
                        ));
                    }
                    if dep.max_concurrency == Some(0) {
                        return Err(at(
                            span.clone(),
                            format!(
                                "deployment in region '{}' of '{model}' has max_concurrency 0",
                                dep.region
                            ),
                            "use at least 1, or leave it out for no limit".into(),
                        ));
                    }
                }
                Some(list)
            }
        };
        Ok(RouteConfig {
            balance: self.balance,
            request_timeout,
            ttft_timeout,
            stream_idle_timeout,
            hedge,
            deployments,
            line,
        })
    }
}
