//! `[retries]`: the retry budget, and retries on the same deployment.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::check::Source;
use crate::error::ConfigError;

/// `[retries]`: how much extra traffic retries may add.
#[derive(Debug, Clone)]
pub struct RetriesConfig {
    /// Retries allowed per request, on average (0.2 = retries add at most 20%).
    pub budget_ratio: f64,
    /// Retries that may be saved up (and the starting balance).
    pub budget_reserve: f64,
    /// Extra attempts on a deployment that failed retryably, once no other is left.
    pub same_deployment: u32,
    /// First backoff before such a retry (full jitter: a random wait up to it, doubling)
    /// (`backoff_base_ms`).
    pub backoff_base: Duration,
    /// Longest backoff; a `Retry-After` longer than this is not waited for
    /// (`backoff_max_ms`).
    pub backoff_max: Duration,
}

/// `[retries]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetries {
    budget_ratio: Option<Spanned<f64>>,
    budget_reserve: Option<Spanned<f64>>,
    same_deployment: Option<u32>,
    backoff_base_ms: Option<u64>,
    backoff_max_ms: Option<u64>,
}

impl RawRetries {
    /// `[retries]`, checked.
    pub(super) fn validate(self, src: Source<'_>) -> Result<RetriesConfig, ConfigError> {
        Ok(RetriesConfig {
            budget_ratio: src.non_negative(
                &self.budget_ratio,
                0.2,
                "budget_ratio",
                "use e.g. 0.2: retries add at most 20% to the traffic",
            )?,
            budget_reserve: src.non_negative(
                &self.budget_reserve,
                20.0,
                "budget_reserve",
                "use e.g. 20: retries that may be saved up",
            )?,
            same_deployment: self.same_deployment.unwrap_or(1),
            backoff_base: Duration::from_millis(self.backoff_base_ms.unwrap_or(100)),
            backoff_max: Duration::from_millis(self.backoff_max_ms.unwrap_or(2_000)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::config::testing::assert_refused;

    #[test]
    fn backoffs_in_milliseconds_become_durations() {
        let r = Config::parse("", "c").unwrap().retries;
        assert_eq!(
            (r.backoff_base, r.backoff_max, r.same_deployment),
            (Duration::from_millis(100), Duration::from_secs(2), 1)
        );
        let r = Config::parse("[retries]\nbackoff_base_ms = 5\nbackoff_max_ms = 70\n", "c")
            .unwrap()
            .retries;
        assert_eq!(
            (r.backoff_base, r.backoff_max),
            (Duration::from_millis(5), Duration::from_millis(70))
        );
    }

    #[test]
    fn a_negative_budget_names_the_line() {
        assert_refused(
            "[retries]\n\nbudget_ratio = -0.5\n",
            3,
            &["budget_ratio -0.5 must be a number >= 0"],
        );
    }
}
