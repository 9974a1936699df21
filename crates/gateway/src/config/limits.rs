//! `[limits]`: where keys' rate limits and budgets are kept (each process alone, or
//! shared through Redis), and what happens when Redis cannot be reached.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::check::{self, Source};
use crate::error::ConfigError;

/// `[limits]`: where keys' rate limits and budgets live. Its `Debug` hides passwords.
#[derive(Clone, PartialEq)]
pub struct LimitsConfig {
    /// Redis URL, when the limits are shared through Redis (`backend = "redis"`).
    pub redis_url: Option<String>,
    /// Redis Cluster nodes (`redis_cluster`); when set, the cluster protocol is used.
    pub redis_cluster: Vec<String>,
    /// Prefix of the Redis keys.
    pub redis_prefix: String,
    /// When Redis cannot be reached: `true` = refuse (503), `false` = local limits.
    pub deny_on_redis_error: bool,
    /// How long a budget reservation in Redis lasts if its request never settles it.
    pub reservation_ttl: Duration,
    /// PEM file of the certificate authorities trusted for `rediss://` (instead of the
    /// system's).
    pub redis_ca_file: Option<PathBuf>,
    /// Admit each key's requests from local leases of this long (`lease_secs`); zero =
    /// one Redis call per request.
    pub lease: Duration,
}

impl std::fmt::Debug for LimitsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hide = |u: &String| switchyard_ledger::redact(u);
        f.debug_struct("LimitsConfig")
            .field("redis_url", &self.redis_url.as_ref().map(hide))
            .field(
                "redis_cluster",
                &self.redis_cluster.iter().map(hide).collect::<Vec<_>>(),
            )
            .field("redis_prefix", &self.redis_prefix)
            .field("deny_on_redis_error", &self.deny_on_redis_error)
            .field("reservation_ttl", &self.reservation_ttl)
            .field("redis_ca_file", &self.redis_ca_file)
            .field("lease", &self.lease)
            .finish()
    }
}

/// `[limits]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    backend: Option<Spanned<String>>,
    redis_url: Option<String>,
    /// The environment variable holding `redis_url` instead (a password stays out of
    /// the file).
    redis_url_env: Option<Spanned<String>>,
    #[serde(default)]
    redis_cluster: Vec<String>,
    redis_prefix: Option<String>,
    on_redis_error: Option<Spanned<String>>,
    reservation_ttl_secs: Option<Spanned<f64>>,
    redis_ca_file: Option<String>,
    lease_secs: Option<Spanned<f64>>,
}

impl RawLimits {
    /// `[limits]`, checked. A reservation lasts by default a minute longer than the
    /// longest request, `request_timeout` (`[server]`).
    pub(super) fn validate(
        self,
        src: Source<'_>,
        request_timeout: Duration,
    ) -> Result<LimitsConfig, ConfigError> {
        let redis = src.one_of(
            &self.backend,
            false,
            &[("local", false), ("redis", true)],
            "[limits] backend",
            "use \"local\" (each process alone, the default) or \"redis\" (shared by replicas)",
        )?;
        let redis_url = match (self.redis_url, &self.redis_url_env) {
            (Some(_), Some(var)) => {
                return Err(src.error(
                    var.span(),
                    "[limits] has both redis_url and redis_url_env".into(),
                    "keep one: redis_url in the file, or redis_url_env naming the variable that holds it",
                ));
            }
            (None, Some(var)) if redis => src.env_var(var, "[limits] redis_url_env")?,
            (url, _) => check::word_or(url, "redis://127.0.0.1:6379"),
        };
        Ok(LimitsConfig {
            redis_url: redis.then_some(redis_url),
            redis_cluster: if redis {
                self.redis_cluster
            } else {
                Vec::new()
            },
            redis_prefix: check::word_or(self.redis_prefix, "switchyard"),
            deny_on_redis_error: src.one_of(
                &self.on_redis_error,
                false,
                &[("local", false), ("deny", true)],
                "[limits] on_redis_error",
                "use \"local\" (fail open with each process's own limits) or \"deny\" (fail closed: 503)",
            )?,
            reservation_ttl: src.secs(
                &self.reservation_ttl_secs,
                Duration::from_secs(request_timeout.as_secs().saturating_add(60)),
                "[limits] reservation_ttl_secs",
                "use a little more than your longest request, e.g. 660 with request_timeout_secs = 600",
            )?,
            redis_ca_file: check::path(self.redis_ca_file),
            lease: check::duration(
                src.checked(
                    &self.lease_secs,
                    0.0,
                    |s| (0.0..=60.0).contains(&s),
                    |s| format!("[limits] lease_secs must be between 0 and 60, got {s}"),
                    "use e.g. 5 (a lease covers 5 s of a key's limits), or 0 for a Redis call per request",
                )?,
                "[limits] lease_secs",
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::config::testing::assert_refused;

    #[test]
    fn lease_secs_is_off_by_default_and_at_most_a_minute() {
        assert!(Config::parse("", "c").unwrap().limits.lease.is_zero());
        let c = Config::parse("[limits]\nlease_secs = 2.5\n", "c").unwrap();
        assert_eq!(c.limits.lease, std::time::Duration::from_millis(2500));
        assert_refused("[limits]\nlease_secs = 90\n", 2, &["between 0 and 60"]);
    }

    #[test]
    fn redis_url_env_reads_the_url_from_the_named_variable_and_names_it_when_unset() {
        let text = "[limits]\nbackend = \"redis\"\nredis_url_env = \"SY_TEST_REDIS\"\n";
        let env = |v: &str| (v == "SY_TEST_REDIS").then(|| "redis://:pw@r:6379".to_string());
        let c = Config::parse_with_env(text, "c", &env).unwrap();
        assert_eq!(c.limits.redis_url.as_deref(), Some("redis://:pw@r:6379"));
        assert!(
            !format!("{:?}", c.limits).contains("pw"),
            "Debug hides the password"
        );
        let err = Config::parse_with_env(text, "c", &|_| None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("c line 3") && err.contains("SY_TEST_REDIS, which is not set"),
            "{err}"
        );
        assert_refused(
            "[limits]\nbackend = \"redis\"\nredis_url = \"redis://h:1\"\nredis_url_env = \"X\"\n",
            4,
            &["both redis_url and redis_url_env"],
        );
    }

    #[test]
    fn limits_are_local_unless_redis_is_chosen() {
        let l = Config::parse(
            "[limits]\nredis_url = \"redis://h:1\"\nredis_cluster = [\"redis://h:2\"]\n",
            "c",
        )
        .unwrap()
        .limits;
        assert_eq!((l.redis_url, l.redis_cluster.len()), (None, 0));
        assert_eq!(
            (l.redis_prefix.as_str(), l.deny_on_redis_error),
            ("switchyard", false)
        );
        let l = Config::parse(
            "[limits]\nbackend = \"redis\"\nredis_prefix = \" \"\non_redis_error = \"deny\"\n",
            "c",
        )
        .unwrap()
        .limits;
        assert_eq!(l.redis_url.as_deref(), Some("redis://127.0.0.1:6379"));
        assert_eq!(
            (l.redis_prefix.as_str(), l.deny_on_redis_error),
            ("switchyard", true)
        );
    }

    #[test]
    fn unknown_backends_name_the_line_and_the_choices() {
        for (text, needle) in [
            (
                "[limits]\nbackend = \"memcached\"\n",
                "[limits] backend 'memcached'",
            ),
            (
                "[limits]\non_redis_error = \"retry\"\n",
                "[limits] on_redis_error 'retry'",
            ),
        ] {
            assert_refused(text, 2, &[needle]);
        }
    }

    #[test]
    fn passwords_stay_out_of_debug() {
        let l = Config::parse(
            "[limits]\nbackend = \"redis\"\nredis_url = \"redis://:hunter2@h:1\"\n",
            "c",
        )
        .unwrap()
        .limits;
        assert!(!format!("{l:?}").contains("hunter2"), "{l:?}");
    }
}
