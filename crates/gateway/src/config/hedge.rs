//! `hedge = { … }` of a `[routes."<model>"]` table: a second attempt raced against a first
//! one that is slower than most.

use std::time::Duration;

use serde::Deserialize;

use super::check::Source;
use crate::error::ConfigError;

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

/// `hedge = { … }` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHedge {
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

impl RawHedge {
    /// The `hedge` of `[routes."<model>"]` at `span`, checked.
    pub(super) fn validate(
        self,
        src: Source<'_>,
        model: &str,
        span: std::ops::Range<usize>,
    ) -> Result<HedgeConfig, ConfigError> {
        let bad = |message: String, fix: &str| Err(src.error(span.clone(), message, fix));
        if !(self.percentile > 0.0 && self.percentile < 100.0) {
            return bad(
                format!(
                    "[routes.\"{model}\"] hedge.percentile = {} must be between 0 and 100",
                    self.percentile
                ),
                "use e.g. percentile = 90: hedge the slowest 10% of first attempts",
            );
        }
        if !(self.budget_ratio.is_finite() && (0.0..=1.0).contains(&self.budget_ratio)) {
            return bad(
                format!(
                    "[routes.\"{model}\"] hedge.budget_ratio = {} must be in [0, 1]",
                    self.budget_ratio
                ),
                "use e.g. budget_ratio = 0.2: hedges add at most 20% to the model's traffic",
            );
        }
        if !(self.budget_reserve.is_finite() && self.budget_reserve >= 0.0) {
            return bad(
                format!(
                    "[routes.\"{model}\"] hedge.budget_reserve = {} must be >= 0",
                    self.budget_reserve
                ),
                "use e.g. budget_reserve = 10",
            );
        }
        Ok(HedgeConfig {
            percentile: self.percentile,
            min_delay: Duration::from_millis(self.min_delay_ms),
            initial_delay: Duration::from_millis(self.initial_delay_ms.max(self.min_delay_ms)),
            budget_ratio: self.budget_ratio,
            budget_reserve: self.budget_reserve,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::config::testing::assert_refused;

    fn text(table: &str) -> String {
        format!("\n[routes.m]\nhedge = {table}\n")
    }

    fn hedge(table: &str) -> Option<HedgeConfig> {
        Config::parse(&text(table), "c").unwrap().routes["m"].hedge
    }

    #[test]
    fn defaults_fill_in_and_the_first_delay_is_never_below_the_least() {
        let h = hedge("{}").unwrap();
        assert_eq!(
            h,
            HedgeConfig {
                percentile: 90.0,
                min_delay: Duration::from_millis(50),
                initial_delay: Duration::from_secs(1),
                budget_ratio: 0.2,
                budget_reserve: 10.0,
            }
        );
        let h = hedge("{ min_delay_ms = 300, initial_delay_ms = 100 }").unwrap();
        assert_eq!(h.initial_delay, Duration::from_millis(300));
    }

    #[test]
    fn out_of_range_settings_name_the_table_line_and_fix() {
        for (table, needle) in [
            ("{ percentile = 100 }", "hedge.percentile = 100 must be"),
            ("{ budget_ratio = 1.5 }", "hedge.budget_ratio = 1.5 must be"),
            (
                "{ budget_reserve = -1 }",
                "hedge.budget_reserve = -1 must be",
            ),
        ] {
            assert_refused(&text(table), 3, &[needle, "fix: use e.g."]);
        }
    }
}
