//! `[slo]`: the availability objective the dashboard tracks, and where its rolling window
//! is kept across restarts.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::check::{self, Source};
use crate::error::ConfigError;

/// `[slo]`: the availability SLO.
#[derive(Debug, Clone)]
pub struct SloConfig {
    /// Share of requests (4xx left out) that must succeed: 0.999.
    pub target: f64,
    /// The rolling window it is measured over (`window_days`, 1–90; default 30).
    pub window: Duration,
    /// Where the window's hourly counts are saved (`path`): `None` = beside the usage
    /// log, as `slo.json` (`$SWITCHYARD_DATA_DIR`, else the XDG data dir).
    pub path: Option<PathBuf>,
    /// Whether the window is saved at all (`persist`, default true).
    pub persist: bool,
}

/// `[slo]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSlo {
    target: Option<Spanned<f64>>,
    window_days: Option<Spanned<u32>>,
    path: Option<String>,
    persist: Option<bool>,
}

impl RawSlo {
    /// `[slo]`, checked.
    pub(super) fn validate(self, src: Source<'_>) -> Result<SloConfig, ConfigError> {
        let target = src.checked(
            &self.target,
            0.999,
            |t: f64| t.is_finite() && t > 0.0 && t < 1.0,
            |t| format!("target {t} must be a share between 0 and 1, exclusive"),
            "use e.g. 0.999 for 99.9% of requests answered",
        )?;
        let days = src.checked(
            &self.window_days,
            30,
            |d: u32| (1..=crate::series::slo::MAX_WINDOW_DAYS).contains(&d),
            |d| format!("window_days {d} must be from 1 to 90"),
            "use e.g. 30 for a rolling month",
        )?;
        Ok(SloConfig {
            target,
            window: Duration::from_secs(u64::from(days) * 86_400),
            path: check::path(self.path),
            persist: self.persist.unwrap_or(true),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::config::testing::assert_refused;

    #[test]
    fn the_default_objective_is_three_nines_over_thirty_days() {
        let s = Config::parse("", "c").unwrap().slo;
        assert_eq!(
            (s.target, s.window, s.persist),
            (0.999, Duration::from_secs(30 * 86_400), true)
        );
        let s = Config::parse(
            "[slo]\ntarget = 0.995\nwindow_days = 7\npersist = false\n",
            "c",
        )
        .unwrap()
        .slo;
        assert_eq!(
            (s.target, s.window.as_secs(), s.persist),
            (0.995, 7 * 86_400, false)
        );
    }

    #[test]
    fn a_target_of_one_or_a_window_past_ninety_days_names_the_line() {
        assert_refused("[slo]\ntarget = 1.0\n", 2, &["target 1 must be a share"]);
        assert_refused(
            "[slo]\n\nwindow_days = 365\n",
            3,
            &["window_days 365 must be from 1 to 90"],
        );
    }
}
