//! `[telemetry]`: OpenTelemetry trace export over OTLP/HTTP (off unless `otlp_endpoint`
//! is set).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::check::Source;
use crate::error::ConfigError;

/// Longest a batch of spans may take to reach the collector when not configured.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Finished requests whose spans may wait for export when not configured.
const DEFAULT_MAX_QUEUE: usize = 2048;
/// The most `max_queue` may be: a queued request holds its trail (about 2 KiB).
const MOST_QUEUED: usize = 1_000_000;

/// `[telemetry]`, validated.
#[derive(Clone, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// Base URL of the OTLP/HTTP receiver (`http://127.0.0.1:4318`); spans are POSTed
    /// to `{otlp_endpoint}/v1/traces`. `None`: no export.
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the exported resource.
    pub service_name: String,
    /// Longest one export may take, retries included (`otlp_timeout_secs`).
    pub otlp_timeout: Duration,
    /// Extra headers on every export (a vendor's auth), by name.
    pub otlp_headers: BTreeMap<String, String>,
    /// Finished requests whose spans may wait for export; past it, spans are dropped
    /// (and counted), never waited for.
    pub max_queue: usize,
}

impl TelemetryConfig {
    /// `{otlp_endpoint}/v1/traces`, when export is on.
    pub fn traces_url(&self) -> Option<String> {
        self.otlp_endpoint
            .as_ref()
            .map(|e| format!("{e}/v1/traces"))
    }
}

impl std::fmt::Debug for TelemetryConfig {
    /// Header values (credentials) are not shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryConfig")
            .field("otlp_endpoint", &self.otlp_endpoint)
            .field("service_name", &self.service_name)
            .field("otlp_timeout", &self.otlp_timeout)
            .field(
                "otlp_headers",
                &self.otlp_headers.keys().collect::<Vec<_>>(),
            )
            .field("max_queue", &self.max_queue)
            .finish()
    }
}

/// `[telemetry]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTelemetry {
    otlp_endpoint: Option<Spanned<String>>,
    service_name: Option<Spanned<String>>,
    otlp_timeout_secs: Option<Spanned<f64>>,
    otlp_headers: Option<Spanned<BTreeMap<String, String>>>,
    max_queue: Option<Spanned<usize>>,
}

impl RawTelemetry {
    /// `[telemetry]`, checked.
    pub(super) fn validate(self, src: Source<'_>) -> Result<TelemetryConfig, ConfigError> {
        let otlp_endpoint = match &self.otlp_endpoint {
            Some(e) if !e.get_ref().trim().is_empty() => Some(endpoint(src, e)?),
            _ => None,
        };
        let service_name = match self.service_name {
            Some(s) if s.get_ref().trim().is_empty() => {
                return Err(src.error(
                    s.span(),
                    "[telemetry] service_name is empty".into(),
                    "name the service as your traces should show it, e.g. \"switchyard\"",
                ));
            }
            Some(s) => s.into_inner(),
            None => "switchyard".into(),
        };
        let otlp_timeout = src.secs(
            &self.otlp_timeout_secs,
            DEFAULT_TIMEOUT,
            "[telemetry] otlp_timeout_secs",
            "use e.g. 10: the longest one export may take",
        )?;
        let max_queue = src.checked(
            &self.max_queue,
            DEFAULT_MAX_QUEUE,
            |n| (1..=MOST_QUEUED).contains(&n),
            |n| format!("[telemetry] max_queue = {n} must be between 1 and {MOST_QUEUED}"),
            "use e.g. 2048: finished requests whose spans may wait for export",
        )?;
        let (span, otlp_headers) = self
            .otlp_headers
            .map(|h| (h.span(), h.into_inner()))
            .unwrap_or_default();
        for (name, value) in &otlp_headers {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err()
                || http::HeaderValue::from_str(value).is_err()
            {
                return Err(src.error(
                    span.clone(),
                    format!("[telemetry] otlp_headers has an invalid header '{name}'"),
                    "write header names as tokens (letters, digits, '-') and values as visible ASCII, e.g. { authorization = \"Bearer …\" }",
                ));
            }
        }
        Ok(TelemetryConfig {
            otlp_endpoint,
            service_name,
            otlp_timeout,
            otlp_headers,
            max_queue,
        })
    }
}

/// `otlp_endpoint`, checked: an `http` or `https` URL with a host and no query, without
/// its trailing `/` (and without `/v1/traces`, which is added).
fn endpoint(src: Source<'_>, e: &Spanned<String>) -> Result<String, ConfigError> {
    let text = e.get_ref().trim();
    let fix = "write the receiver's base URL, e.g. \"http://127.0.0.1:4318\" (spans go to /v1/traces under it)";
    let url = reqwest::Url::parse(text).map_err(|why| {
        src.error(
            e.span(),
            format!("[telemetry] otlp_endpoint '{text}' is not a URL: {why}"),
            fix,
        )
    })?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none_or(str::is_empty)
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(src.error(
            e.span(),
            format!("[telemetry] otlp_endpoint '{text}' must be an http:// or https:// URL with a host and no query"),
            fix,
        ));
    }
    let base = text.trim_end_matches('/');
    Ok(base.strip_suffix("/v1/traces").unwrap_or(base).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::config::testing::assert_refused;

    fn telemetry(text: &str) -> TelemetryConfig {
        Config::parse(text, "c").unwrap().telemetry
    }

    #[test]
    fn off_by_default_with_documented_defaults() {
        let t = telemetry("");
        assert_eq!(t.otlp_endpoint, None);
        assert_eq!(t.traces_url(), None);
        assert_eq!(t.service_name, "switchyard");
        assert_eq!(t.otlp_timeout, Duration::from_secs(10));
        assert_eq!(t.max_queue, 2048);
        assert!(t.otlp_headers.is_empty());
        assert_eq!(
            telemetry("[telemetry]\notlp_endpoint = \"\"\n").otlp_endpoint,
            None
        );
    }

    #[test]
    fn the_endpoint_is_a_base_url_and_traces_go_under_it() {
        for written in [
            "http://127.0.0.1:4318",
            "http://127.0.0.1:4318/",
            "http://127.0.0.1:4318/v1/traces",
        ] {
            let t = telemetry(&format!("[telemetry]\notlp_endpoint = \"{written}\"\n"));
            assert_eq!(
                t.traces_url().as_deref(),
                Some("http://127.0.0.1:4318/v1/traces"),
                "{written}"
            );
        }
        let t = telemetry(
            "[telemetry]\notlp_endpoint = \"https://otel.example/p\"\nservice_name = \"gw\"\n\
             otlp_timeout_secs = 2.5\nmax_queue = 10\notlp_headers = { authorization = \"Bearer x\" }\n",
        );
        assert_eq!(
            t.traces_url().as_deref(),
            Some("https://otel.example/p/v1/traces")
        );
        assert_eq!(
            (t.service_name.as_str(), t.otlp_timeout, t.max_queue),
            ("gw", Duration::from_millis(2500), 10)
        );
        assert_eq!(t.otlp_headers["authorization"], "Bearer x");
        assert!(!format!("{t:?}").contains("Bearer"), "{t:?}");
    }

    #[test]
    fn bad_settings_name_the_line_and_the_fix() {
        for (text, line, needle) in [
            (
                "[telemetry]\notlp_endpoint = \"127.0.0.1:4318\"\n",
                2,
                "otlp_endpoint '127.0.0.1:4318'",
            ),
            (
                "[telemetry]\n\notlp_endpoint = \"grpc://h:4317\"\n",
                3,
                "must be an http:// or https:// URL",
            ),
            (
                "[telemetry]\notlp_endpoint = \"http://h?x=1\"\n",
                2,
                "no query",
            ),
            (
                "[telemetry]\nservice_name = \" \"\n",
                2,
                "service_name is empty",
            ),
            (
                "[telemetry]\notlp_timeout_secs = 0\n",
                2,
                "otlp_timeout_secs 0",
            ),
            ("[telemetry]\nmax_queue = 0\n", 2, "max_queue = 0 must be"),
            (
                "[telemetry]\notlp_headers = { \"bad name\" = \"v\" }\n",
                2,
                "invalid header 'bad name'",
            ),
        ] {
            assert_refused(text, line, &[needle]);
        }
    }
}
