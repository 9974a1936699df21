//! `[simulator]`: the in-process simulator that serves simulated providers, and the
//! faults in place from the start.

use serde::Deserialize;
use switchyard_sim::{FaultRule, FaultSpec};
use toml::Spanned;

use super::check::Source;
use crate::error::ConfigError;

/// `[simulator]`: settings of the in-process simulator used by simulated providers.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// Multiplies every simulated delay (1 = realistic, 0 = none).
    pub time_scale: f64,
    /// Seed of the latency and text draws.
    pub seed: u64,
    /// `[[simulator.faults]]`: faults in place from the start.
    pub faults: Vec<FaultRule>,
}

/// `[simulator]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSimulator {
    time_scale: Option<Spanned<f64>>,
    seed: Option<u64>,
    #[serde(default)]
    faults: Vec<Spanned<toml::Table>>,
}

impl RawSimulator {
    /// `[simulator]`, checked.
    pub(super) fn validate(self, src: Source<'_>) -> Result<SimulatorConfig, ConfigError> {
        let time_scale = src.checked(
            &self.time_scale,
            1.0,
            |t: f64| t.is_finite() && t >= 0.0,
            |t| format!("time_scale {t} must be a finite number >= 0"),
            "use 1.0 for realistic delays, 0.01 to run 100x faster, 0 for none",
        )?;
        let faults = self
            .faults
            .into_iter()
            .map(|f| fault(src, f))
            .collect::<Result<_, _>>()?;
        Ok(SimulatorConfig {
            time_scale,
            seed: self.seed.unwrap_or(42),
            faults,
        })
    }
}

/// One `[[simulator.faults]]` entry, checked.
fn fault(src: Source<'_>, f: Spanned<toml::Table>) -> Result<FaultRule, ConfigError> {
    let span = f.span();
    let mut table = f.into_inner();
    let mut take = |key: &str| {
        match table.remove(key) {
        Some(toml::Value::String(v)) if !v.is_empty() => Ok(v),
        _ => Err(src.error(
            span.clone(),
            format!("[[simulator.faults]] entry needs `{key}` (a string)"),
            "write e.g. { provider = \"deepseek\", region = \"global\", kind = \"server_error\" }; region \"*\" covers every region",
        )),
    }
    };
    let (provider, region) = (take("provider")?, take("region")?);
    let spec: FaultSpec = toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| {
            src.error(
                span.clone(),
                format!("[[simulator.faults]] entry: {}", e.message().trim()),
                "kind is one of rate_limit, overloaded, insufficient_balance, server_error, auth, drop_after, stall_after, latency_spike, blank_answer; see docs/SIMULATOR.md",
            )
        })?;
    spec.validate().map_err(|e| {
        src.error(
            span,
            format!("[[simulator.faults]] entry: {e}"),
            "see docs/SIMULATOR.md for each fault's fields",
        )
    })?;
    Ok(FaultRule {
        provider,
        region,
        spec,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::config::testing::assert_refused;

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
            assert_refused(text, 2, &[needle]);
        }
    }

    #[test]
    fn negative_time_scale_is_rejected() {
        assert_refused("[simulator]\ntime_scale = -1.0\n", 2, &[]);
    }

    #[test]
    fn an_empty_section_gives_the_defaults() {
        let c = Config::parse("", "c").unwrap();
        assert_eq!((c.simulator.time_scale, c.simulator.seed), (1.0, 42));
        assert!(c.simulator.faults.is_empty());
    }
}
