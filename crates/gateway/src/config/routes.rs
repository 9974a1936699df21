//! `[routes."<model>"]`: per-model deployments, balancing, time limits and hedging.
//!
//! Parsed and range-checked here; whether the model and regions exist is checked when
//! the gateway starts ([`crate::deploy`]), where the catalog is known.

use std::time::Duration;

use serde::Deserialize;
use switchyard_catalog::Price;
use toml::Spanned;

use super::check::{self, Source};
use super::hedge::{HedgeConfig, RawHedge};
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
    /// The vendor that serves the model here (default: the model's own provider). Any
    /// provider that sells it: the catalog's offers give its id and price there, or set
    /// `upstream_id` and `price`.
    #[serde(default)]
    pub provider: Option<String>,
    /// A region of that provider.
    pub region: String,
    /// Name for health and headers (default: the region). Deployments that share a name
    /// share a circuit breaker.
    #[serde(default)]
    pub name: Option<String>,
    /// The model's id at this deployment (default: the catalog's upstream id at that
    /// vendor).
    #[serde(default)]
    pub upstream_id: Option<String>,
    /// What this deployment bills, e.g. a contract price (default: the vendor's list
    /// price from the catalog). Same fields as a catalog price.
    #[serde(default)]
    pub price: Option<Price>,
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

/// `[routes."<model>"]` as written.
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

impl RawRoute {
    /// `[routes."<model>"]`, whose table starts on `line`, checked.
    pub(super) fn validate(
        self,
        src: Source<'_>,
        model: &str,
        line: usize,
    ) -> Result<RouteConfig, ConfigError> {
        let secs = |v: Option<Spanned<f64>>, what: &str| timeout(src, model, v, what);
        let request_timeout = secs(self.request_timeout_secs, "request_timeout_secs")?;
        let ttft_timeout = secs(self.ttft_timeout_secs, "ttft_timeout_secs")?;
        let stream_idle_timeout = secs(self.stream_idle_timeout_secs, "stream_idle_timeout_secs")?;
        let hedge = self
            .hedge
            .map(|h| {
                let span = h.span();
                h.into_inner().validate(src, model, span)
            })
            .transpose()?;
        let deployments = self
            .deployments
            .map(|d| deployments(src, model, d))
            .transpose()?;
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

/// A time limit of the route, `what` in the file: seconds in (0, 86400].
fn timeout(
    src: Source<'_>,
    model: &str,
    v: Option<Spanned<f64>>,
    what: &str,
) -> Result<Option<Duration>, ConfigError> {
    match v {
        None => Ok(None),
        Some(s)
            if s.get_ref().is_finite() && *s.get_ref() > 0.0 && *s.get_ref() <= check::DAY_SECS =>
        {
            check::duration(*s.get_ref(), "route time limit").map(Some)
        }
        Some(s) => Err(src.error(
            s.span(),
            format!(
                "[routes.\"{model}\"] {what} = {} must be a number of seconds in (0, 86400]",
                s.get_ref()
            ),
            format!("use e.g. {what} = 30"),
        )),
    }
}

/// The `deployments` list of the route: not empty, and no deployment with a weight,
/// quota or concurrency of 0.
fn deployments(
    src: Source<'_>,
    model: &str,
    d: Spanned<Vec<DeploymentConfig>>,
) -> Result<Vec<DeploymentConfig>, ConfigError> {
    let span = d.span();
    let list = d.into_inner();
    if list.is_empty() {
        return Err(src.error(
            span,
            format!("[routes.\"{model}\"] has an empty deployments list"),
            "list at least one: deployments = [{ region = \"global\" }], or remove the key to use every region",
        ));
    }
    for dep in &list {
        let zero = if dep.weight == 0 {
            Some((
                "weight 0",
                "weights are at least 1; remove the deployment to send it nothing",
            ))
        } else if dep.rpm == Some(0) || dep.tpm == Some(0) {
            Some((
                "a quota of 0",
                "rpm and tpm are at least 1; leave them out for no quota",
            ))
        } else if dep.max_concurrency == Some(0) {
            Some((
                "max_concurrency 0",
                "use at least 1, or leave it out for no limit",
            ))
        } else {
            None
        };
        if let Some(problem) = dep.price.as_ref().and_then(Price::problem) {
            return Err(src.error(
                span,
                format!(
                    "deployment in region '{}' of '{model}' has a bad price: {problem}",
                    dep.region
                ),
                "prices are USD per 1M tokens: price = { input = 0.27, cached_input = 0.07, output = 1.1 }",
            ));
        }
        if let Some((what, fix)) = zero {
            return Err(src.error(
                span,
                format!(
                    "deployment in region '{}' of '{model}' has {what}",
                    dep.region
                ),
                fix,
            ));
        }
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::config::testing::{assert_refused, error_of};

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
        assert_eq!(r.ttft_timeout, Some(Duration::from_millis(2500)));
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
            let err = error_of(text);
            assert!(err.contains(needle), "{text}: {err}");
            assert!(
                err.contains("line 3") || err.contains("line 2"),
                "{text}: {err}"
            );
            assert!(err.contains("fix:"), "{text}: {err}");
        }
    }

    #[test]
    fn zero_weights_quotas_and_limits_and_empty_lists_are_refused() {
        for (deployments, needle) in [
            ("[]", "[routes.\"m\"] has an empty deployments list"),
            (
                "[{ region = \"a\", rpm = 0 }]",
                "deployment in region 'a' of 'm' has a quota of 0",
            ),
            (
                "[{ region = \"a\" }, { region = \"b\", max_concurrency = 0 }]",
                "deployment in region 'b' of 'm' has max_concurrency 0",
            ),
        ] {
            assert_refused(
                &format!("[routes.m]\ndeployments = {deployments}\n"),
                2,
                &[needle],
            );
        }
    }

    #[test]
    fn a_route_time_limit_past_a_day_names_the_setting() {
        assert_refused(
            "[routes.m]\nrequest_timeout_secs = 86401\n",
            2,
            &[
                "[routes.\"m\"] request_timeout_secs = 86401 must be a number of seconds in (0, 86400]",
                "fix: use e.g. request_timeout_secs = 30",
            ],
        );
    }
}
