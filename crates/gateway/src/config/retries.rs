//! `[retries]`: the retry budget, and retries on the same deployment.

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
    /// First backoff before such a retry (full jitter: a random wait up to it, doubling).
    pub backoff_base_ms: u64,
    /// Longest backoff; a `Retry-After` longer than this is not waited for.
    pub backoff_max_ms: u64,
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
            backoff_base_ms: self.backoff_base_ms.unwrap_or(100),
            backoff_max_ms: self.backoff_max_ms.unwrap_or(2_000),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::config::testing::assert_refused;

    #[test]
    fn backoffs_default_to_a_tenth_of_a_second_up_to_two() {
        let r = Config::parse("", "c").unwrap().retries;
        assert_eq!(
            (r.backoff_base_ms, r.backoff_max_ms, r.same_deployment),
            (100, 2_000, 1)
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
