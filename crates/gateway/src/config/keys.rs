//! `[keys]`: gateway keys, the admin token, and the endpoints left open with keys on.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::check::{self, Source};
use crate::error::ConfigError;

/// `[keys]`: gateway keys (stored in the usage database).
#[derive(Debug, Clone, PartialEq)]
pub struct KeysConfig {
    /// Require a gateway key on every request.
    pub enabled: bool,
    /// Environment variable holding the admin token of `/admin/keys`.
    pub admin_token_env: String,
    /// How often keys changed by another process are looked for (`refresh_secs`).
    pub refresh: Duration,
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

/// `[keys]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKeys {
    #[serde(default)]
    enabled: bool,
    admin_token_env: Option<String>,
    refresh_secs: Option<Spanned<f64>>,
    #[serde(default)]
    public: Vec<Spanned<String>>,
}

impl RawKeys {
    /// `[keys]`, checked.
    pub(super) fn validate(self, src: Source<'_>) -> Result<KeysConfig, ConfigError> {
        let refresh = src.checked(
            &self.refresh_secs,
            2.0,
            |r: f64| r.is_finite() && r > 0.0 && r <= check::DAY_SECS,
            |r| format!("refresh_secs {r} must be a number of seconds above 0, at most 86400"),
            "use e.g. 2: keys changed by `switchyard keys` take effect within 2 s",
        )?;
        Ok(KeysConfig {
            enabled: self.enabled,
            admin_token_env: check::word_or(self.admin_token_env, "SWITCHYARD_ADMIN_TOKEN"),
            refresh: check::duration(refresh, "refresh_secs")?,
            public: self
                .public
                .into_iter()
                .map(|p| {
                    src.one_of(
                        &Some(p),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::config::testing::assert_refused;

    #[test]
    fn keys_are_off_by_default_and_refresh_every_two_seconds() {
        let k = Config::parse("", "c").unwrap().keys;
        assert_eq!(
            k,
            KeysConfig {
                enabled: false,
                admin_token_env: "SWITCHYARD_ADMIN_TOKEN".into(),
                refresh: Duration::from_secs(2),
                public: Vec::new(),
            }
        );
    }

    #[test]
    fn refresh_and_public_endpoints_parse_and_bad_ones_name_the_line() {
        let k = Config::parse(
            "[keys]\nenabled = true\nrefresh_secs = 0.1\npublic = [\"metrics\", \"models\"]\n",
            "c",
        )
        .unwrap()
        .keys;
        assert_eq!(k.refresh, Duration::from_millis(100));
        assert_eq!(
            k.public,
            vec![PublicEndpoint::Metrics, PublicEndpoint::Models]
        );
        for (text, needle) in [
            ("[keys]\nrefresh_secs = 0\n", "refresh_secs 0 must be"),
            ("[keys]\npublic = [\"admin\"]\n", "public entry 'admin'"),
        ] {
            assert_refused(text, 2, &[needle]);
        }
    }
}
