//! `[health]`: when a provider region (a deployment) is taken out of rotation, and how
//! it comes back.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::check::{self, Source};
use crate::error::ConfigError;

/// `[health]`: when a provider region is taken out of rotation.
#[derive(Debug, Clone)]
pub struct HealthConfig {
    /// Retryable failures in a row that open a region's breaker.
    pub consecutive_failures: u32,
    /// How long an open breaker keeps the region out before one trial request
    /// (`cooldown_secs`).
    pub cooldown: Duration,
    /// Time between active probes of deployments that are out; `None` = no probes
    /// (`probe_interval_secs = 0`, the default).
    pub probe_interval: Option<Duration>,
    /// How long a deployment that came back takes to get its whole share of traffic
    /// (`slow_start_secs`).
    pub slow_start: Duration,
    /// Failure share over the window that takes a deployment out.
    pub error_rate: f64,
    /// Outcomes the error rate is taken over.
    pub error_rate_window: u32,
    /// A first token slower than this many times the fastest peer's average counts as a
    /// failure (0 = off).
    pub latency_outlier_factor: f64,
}

/// `[health]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHealth {
    consecutive_failures: Option<Spanned<u32>>,
    cooldown_secs: Option<Spanned<f64>>,
    probe_interval_secs: Option<Spanned<f64>>,
    slow_start_secs: Option<Spanned<f64>>,
    error_rate: Option<Spanned<f64>>,
    error_rate_window: Option<Spanned<u32>>,
    latency_outlier_factor: Option<Spanned<f64>>,
}

impl RawHealth {
    /// `[health]`, checked.
    pub(super) fn validate(self, src: Source<'_>) -> Result<HealthConfig, ConfigError> {
        let consecutive_failures = src.checked(
            &self.consecutive_failures,
            5,
            |n| n >= 1,
            |_| "consecutive_failures must be at least 1".into(),
            "use e.g. 5: that many retryable failures in a row take a region out",
        )?;
        let cooldown = seconds(
            src,
            &self.cooldown_secs,
            10.0,
            "cooldown_secs",
            "use e.g. 10: seconds before a failed region gets a trial request",
        )?;
        let probe_interval = seconds(
            src,
            &self.probe_interval_secs,
            0.0,
            "probe_interval_secs",
            "use e.g. 5 to probe deployments that are out every 5 s, or 0 for no probes",
        )?;
        let slow_start = seconds(
            src,
            &self.slow_start_secs,
            30.0,
            "slow_start_secs",
            "use e.g. 30: a deployment that came back gets its full share over 30 s",
        )?;
        Ok(HealthConfig {
            consecutive_failures,
            cooldown: check::duration(cooldown, "cooldown_secs")?,
            probe_interval: if probe_interval > 0.0 {
                Some(check::duration(probe_interval, "probe_interval_secs")?)
            } else {
                None
            },
            slow_start: check::duration(slow_start, "slow_start_secs")?,
            error_rate: src.non_negative(
                &self.error_rate,
                0.5,
                "error_rate",
                "use e.g. 0.5: half the recent outcomes failing takes a deployment out (above 1 = never)",
            )?,
            error_rate_window: src.checked(
                &self.error_rate_window,
                20,
                |w| (1..=64).contains(&w),
                |w| format!("error_rate_window {w} must be between 1 and 64"),
                "use e.g. 20 outcomes",
            )?,
            latency_outlier_factor: src.non_negative(
                &self.latency_outlier_factor,
                5.0,
                "latency_outlier_factor",
                "use e.g. 5: a first token 5x slower than the fastest peer's average counts as a failure; 0 turns it off",
            )?,
        })
    }
}

/// An optional number of seconds from 0 to a day (so that it fits a `Duration` and an
/// `Instant` plus it), `what` in the error; `default` when absent.
fn seconds(
    src: Source<'_>,
    v: &Option<Spanned<f64>>,
    default: f64,
    what: &str,
    fix: &str,
) -> Result<f64, ConfigError> {
    src.checked(
        v,
        default,
        |x: f64| x.is_finite() && (0.0..=check::DAY_SECS).contains(&x),
        |x| format!("{what} {x} must be a number of seconds from 0 to 86400"),
        fix,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::config::testing::assert_refused;

    #[test]
    fn health_settings_are_checked() {
        let c = Config::parse(
            "[health]\nconsecutive_failures = 3\ncooldown_secs = 2.5\n",
            "c",
        )
        .unwrap();
        assert_eq!(
            (c.health.consecutive_failures, c.health.cooldown),
            (3, Duration::from_millis(2500))
        );
        assert_refused("[health]\nconsecutive_failures = 0\n", 2, &["at least 1"]);
    }

    #[test]
    fn probes_are_off_unless_an_interval_above_zero_is_given() {
        let c = Config::parse("", "c").unwrap();
        assert_eq!(c.health.probe_interval, None);
        assert_eq!(
            (c.health.cooldown, c.health.slow_start),
            (Duration::from_secs(10), Duration::from_secs(30))
        );
        let c = Config::parse("[health]\nprobe_interval_secs = 0\n", "c").unwrap();
        assert_eq!(c.health.probe_interval, None);
        let c = Config::parse("[health]\nprobe_interval_secs = 0.05\n", "c").unwrap();
        assert_eq!(c.health.probe_interval, Some(Duration::from_millis(50)));
        assert_refused(
            "[health]\nprobe_interval_secs = -1\n",
            2,
            &["probe_interval_secs -1 must be a number of seconds from 0 to 86400"],
        );
    }
}
