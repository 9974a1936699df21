//! `[usage]`: the usage log (SQLite, PostgreSQL or none), where it is kept, and the time
//! limits of the PostgreSQL connections.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use switchyard_ledger::PgOptions;
use toml::Spanned;

use super::check::{self, Source};
use crate::error::ConfigError;

/// `[usage]`: the usage log. Its `Debug` hides passwords.
#[derive(Clone, PartialEq, Eq)]
pub struct UsageConfig {
    /// Write the log at all (`store = "sqlite"`, the default) or not (`"none"`).
    pub enabled: bool,
    /// SQLite file (the log, unless PostgreSQL has it; and the keys); `None` =
    /// [`default_usage_path`].
    pub path: Option<PathBuf>,
    /// With `store = "postgres"`: the connection URL and the table.
    pub postgres: Option<(String, String)>,
    /// Time limits (and TLS trust) of the PostgreSQL connections (usage and keys).
    pub postgres_options: PgOptions,
    /// Events held in memory for the writer before they go to the spool file.
    pub buffer_events: usize,
}

impl std::fmt::Debug for UsageConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageConfig")
            .field("enabled", &self.enabled)
            .field("path", &self.path)
            .field(
                "postgres",
                &self
                    .postgres
                    .as_ref()
                    .map(|(url, table)| (switchyard_ledger::redact(url), table)),
            )
            .field("postgres_options", &self.postgres_options)
            .field("buffer_events", &self.buffer_events)
            .finish()
    }
}

/// Where the usage log goes unless `[usage] path` says otherwise:
/// `$SWITCHYARD_DATA_DIR/usage.db`, else `$XDG_DATA_HOME/switchyard/usage.db`, else
/// `$HOME/.local/share/switchyard/usage.db`, else `./switchyard-usage.db`.
pub fn default_usage_path(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    let non_empty = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    if let Some(d) = non_empty("SWITCHYARD_DATA_DIR") {
        return Path::new(&d).join("usage.db");
    }
    if let Some(d) = non_empty("XDG_DATA_HOME") {
        return Path::new(&d).join("switchyard/usage.db");
    }
    if let Some(h) = non_empty("HOME") {
        return Path::new(&h).join(".local/share/switchyard/usage.db");
    }
    PathBuf::from("switchyard-usage.db")
}

/// `[usage]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUsage {
    store: Option<Spanned<String>>,
    path: Option<String>,
    url: Option<Spanned<String>>,
    /// The environment variable holding `url` instead (a password stays out of the file).
    url_env: Option<Spanned<String>>,
    table: Option<Spanned<String>>,
    connect_timeout_secs: Option<Spanned<f64>>,
    query_timeout_secs: Option<Spanned<f64>>,
    buffer_events: Option<Spanned<usize>>,
    ca_file: Option<String>,
}

impl RawUsage {
    /// `[usage]`, checked.
    pub(super) fn validate(self, src: Source<'_>) -> Result<UsageConfig, ConfigError> {
        let postgres = self.postgres(src)?;
        Ok(UsageConfig {
            enabled: src.one_of(
                &self.store,
                true,
                &[("sqlite", true), ("postgres", true), ("none", false)],
                "[usage] store",
                "use \"sqlite\" (the default), \"postgres\" or \"none\"",
            )?,
            postgres,
            postgres_options: PgOptions {
                connect_timeout: src.secs(
                    &self.connect_timeout_secs,
                    switchyard_ledger::CONNECT_TIMEOUT,
                    "[usage] connect_timeout_secs",
                    "use e.g. 5: a PostgreSQL server that has not accepted a connection within 5 s is retried later",
                )?,
                query_timeout: src.secs(
                    &self.query_timeout_secs,
                    switchyard_ledger::QUERY_TIMEOUT,
                    "[usage] query_timeout_secs",
                    "use e.g. 10: a PostgreSQL query or batch not answered within 10 s is abandoned and its connection replaced",
                )?,
                ca_file: check::path(self.ca_file),
            },
            buffer_events: src.checked(
                &self.buffer_events,
                switchyard_ledger::CHANNEL_CAPACITY,
                |n: usize| (1..=1_000_000).contains(&n),
                |n| format!("[usage] buffer_events {n} must be between 1 and 1000000"),
                "use e.g. 8192: events waiting for the writer in memory before they go to the spool file",
            )?,
            path: check::path(self.path),
        })
    }

    /// With `store = "postgres"`: its URL (required) and table (a plain name).
    fn postgres(&self, src: Source<'_>) -> Result<Option<(String, String)>, ConfigError> {
        if self.store.as_ref().map(|s| s.get_ref().as_str()) != Some("postgres") {
            return Ok(None);
        }
        let url = match (&self.url, &self.url_env) {
            (Some(url), None) => url.get_ref().clone(),
            (None, Some(var)) => src.env_var(var, "[usage] url_env")?,
            (Some(_), Some(var)) => {
                return Err(src.error(
                    var.span(),
                    "[usage] has both url and url_env".into(),
                    "keep one: url in the file, or url_env naming the variable that holds it",
                ));
            }
            (None, None) => {
                let span = self.store.as_ref().map_or(0..0, Spanned::span);
                return Err(src.error(
                    span,
                    "[usage] store = \"postgres\" needs url (or url_env)".into(),
                    "add url = \"postgres://user@host:5432/db\", or url_env = \"NAME\" of a variable holding it",
                ));
            }
        };
        let table = match &self.table {
            None => "switchyard_usage".to_string(),
            Some(t) if is_plain_name(t.get_ref()) => t.get_ref().clone(),
            Some(t) => {
                return Err(src.error(
                    t.span(),
                    format!("[usage] table '{}' is not a plain name", t.get_ref()),
                    "use lowercase letters, digits and '_', e.g. \"switchyard_usage\"",
                ));
            }
        };
        Ok(Some((url, table)))
    }
}

/// Lowercase ASCII letters, digits and `_`, at least one.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::Config;
    use crate::config::testing::{assert_refused, error_of};

    #[test]
    fn url_env_reads_the_postgres_url_from_the_named_variable_and_names_it_when_unset() {
        let text = "[usage]\nstore = \"postgres\"\nurl_env = \"SY_TEST_PG\"\n";
        let env = |v: &str| (v == "SY_TEST_PG").then(|| "postgres://u:pw@db/g".to_string());
        let c = Config::parse_with_env(text, "c", &env).unwrap();
        let (url, table) = c.usage.postgres.clone().unwrap();
        assert_eq!(
            (url.as_str(), table.as_str()),
            ("postgres://u:pw@db/g", "switchyard_usage")
        );
        assert!(
            !format!("{:?}", c.usage).contains("pw"),
            "Debug hides the password"
        );
        let err = Config::parse_with_env(text, "c", &|_| None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("c line 3") && err.contains("SY_TEST_PG, which is not set"),
            "{err}"
        );
        assert_refused(
            "[usage]\nstore = \"postgres\"\nurl = \"postgres://h/d\"\nurl_env = \"X\"\n",
            4,
            &["both url and url_env"],
        );
    }

    #[test]
    fn store_time_limits_tls_and_buffers_parse_with_their_defaults() {
        let c = Config::parse("", "c").unwrap();
        assert_eq!(c.usage.postgres_options, PgOptions::default());
        assert_eq!(c.usage.buffer_events, switchyard_ledger::CHANNEL_CAPACITY);
        assert_eq!(c.limits.reservation_ttl, Duration::from_secs(660));
        assert_eq!(c.limits.redis_ca_file, None);
        let c = Config::parse(
            "[server]\nrequest_timeout_secs = 100\n[usage]\nconnect_timeout_secs = 1.5\nquery_timeout_secs = 3\nbuffer_events = 10\nca_file = \"/etc/ca.pem\"\n[limits]\nredis_ca_file = \"/etc/r.pem\"\n",
            "c",
        )
        .unwrap();
        let o = &c.usage.postgres_options;
        assert_eq!(o.connect_timeout, Duration::from_millis(1500));
        assert_eq!(o.query_timeout, Duration::from_secs(3));
        assert_eq!(o.ca_file.as_deref(), Some(Path::new("/etc/ca.pem")));
        assert_eq!(c.usage.buffer_events, 10);
        assert_eq!(
            c.limits.reservation_ttl,
            Duration::from_secs(160),
            "request time-out + 60 s"
        );
        assert_eq!(
            c.limits.redis_ca_file.as_deref(),
            Some(Path::new("/etc/r.pem"))
        );
        for bad in [
            "[usage]\nquery_timeout_secs = 0\n",
            "[usage]\nconnect_timeout_secs = -1\n",
            "[usage]\nbuffer_events = 0\n",
            "[limits]\nreservation_ttl_secs = 1e300\n",
        ] {
            assert_refused(bad, 2, &[]);
        }
    }

    #[test]
    fn postgres_needs_a_url_and_a_plain_table_name() {
        let u = Config::parse(
            "[usage]\nstore = \"postgres\"\nurl = \"postgres://h/db\"\n",
            "c",
        )
        .unwrap()
        .usage;
        assert!(u.enabled);
        assert_eq!(
            u.postgres,
            Some(("postgres://h/db".into(), "switchyard_usage".into()))
        );
        for (text, needle) in [
            (
                "[usage]\nstore = \"postgres\"\n",
                "store = \"postgres\" needs url",
            ),
            (
                "[usage]\nstore = \"postgres\"\nurl = \"postgres://h/db\"\ntable = \"Usage\"\n",
                "table 'Usage' is not a plain name",
            ),
            ("[usage]\nstore = \"mysql\"\n", "[usage] store 'mysql'"),
        ] {
            assert!(error_of(text).contains(needle), "{text}");
        }
    }

    #[test]
    fn none_turns_the_log_off_and_the_default_path_follows_the_environment() {
        assert!(
            !Config::parse("[usage]\nstore = \"none\"\n", "c")
                .unwrap()
                .usage
                .enabled
        );
        let env = |k: &str| (k == "XDG_DATA_HOME").then(|| "/x".to_string());
        assert_eq!(
            default_usage_path(&env),
            PathBuf::from("/x/switchyard/usage.db")
        );
        assert_eq!(
            default_usage_path(&|_| None),
            PathBuf::from("switchyard-usage.db")
        );
    }
}
