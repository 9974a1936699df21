//! `[server]`: where the gateway listens and how long requests and clients may take.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::check::{self, Source};
use crate::error::ConfigError;

/// Default listen address.
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default body limit: 10 MiB.
const DEFAULT_MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// `[server]`, validated.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Longest a whole request may take (`request_timeout_secs`).
    pub request_timeout: Duration,
    /// After a stream's first token, the longest gap between data events (keep-alive
    /// comments do not count) (`stream_idle_timeout_secs`).
    pub stream_idle_timeout: Duration,
    /// Longest a stream may wait for its first token before the next region is tried (or
    /// the client gets an error event); keep-alive comments do not reset it
    /// (`ttft_timeout_secs`).
    pub ttft_timeout: Duration,
    /// Connect timeout to upstreams (`connect_timeout_secs`).
    pub connect_timeout: Duration,
    /// After SIGTERM, how long new connections are still accepted while `/readyz` fails
    /// (`drain_accept_secs`; none after Ctrl-C).
    pub drain_accept: Duration,
    /// From the shutdown signal, how long requests and streams in flight may run on
    /// before they are ended (`drain_timeout_secs`, formerly `shutdown_grace_secs`).
    pub drain_timeout: Duration,
    /// This instance's home region: deployments in regions `near` it are preferred.
    pub region: Option<String>,
    /// Requests in flight at most, gateway-wide; past it, a fast 503 with Retry-After.
    pub max_concurrency: usize,
    /// Longest a client may take to send a request's headers, counted from when its
    /// connection opens or its previous response ends: so also how long a kept-alive
    /// connection may sit idle.
    pub header_timeout: Duration,
    /// Longest a client may take to send a request's body, once its headers are in.
    pub body_timeout: Duration,
    /// Serving threads, each an event loop of its own (`workers`); 0 serves on the
    /// process's shared runtime instead.
    pub workers: usize,
}

/// Most serving threads `workers` may ask for.
const MAX_WORKERS: usize = 1024;

/// One serving thread per CPU the process may use.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// `[server]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    listen: Option<Spanned<String>>,
    max_body_bytes: Option<usize>,
    request_timeout_secs: Option<u64>,
    stream_idle_timeout_secs: Option<u64>,
    ttft_timeout_secs: Option<u64>,
    connect_timeout_secs: Option<u64>,
    drain_accept_secs: Option<Spanned<u64>>,
    drain_timeout_secs: Option<Spanned<u64>>,
    /// The older name of `drain_timeout_secs`.
    shutdown_grace_secs: Option<Spanned<u64>>,
    region: Option<String>,
    max_concurrency: Option<Spanned<usize>>,
    header_timeout_secs: Option<Spanned<f64>>,
    body_timeout_secs: Option<Spanned<f64>>,
    workers: Option<Spanned<usize>>,
}

impl RawServer {
    /// `[server]`, checked.
    pub(super) fn validate(self, src: Source<'_>) -> Result<ServerConfig, ConfigError> {
        let whole_secs = |v: Option<u64>, default: u64| Duration::from_secs(v.unwrap_or(default));
        let (drain_accept, drain_timeout) = self.drain(src)?;
        Ok(ServerConfig {
            listen: listen(src, self.listen.as_ref())?,
            max_body_bytes: self.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
            request_timeout: whole_secs(self.request_timeout_secs, 600),
            stream_idle_timeout: whole_secs(self.stream_idle_timeout_secs, 120),
            ttft_timeout: whole_secs(self.ttft_timeout_secs, 120),
            connect_timeout: whole_secs(self.connect_timeout_secs, 10),
            drain_accept,
            drain_timeout,
            region: self.region.filter(|r| !r.trim().is_empty()),
            max_concurrency: src.checked(
                &self.max_concurrency,
                10_000,
                |n| n >= 1,
                |_| "max_concurrency must be at least 1".into(),
                "use e.g. 10000: requests in flight before new ones get a fast 503",
            )?,
            header_timeout: client_limit(
                src,
                &self.header_timeout_secs,
                10.0,
                "header_timeout_secs",
            )?,
            body_timeout: client_limit(src, &self.body_timeout_secs, 30.0, "body_timeout_secs")?,
            workers: src.checked(
                &self.workers,
                cores(),
                |n| n <= MAX_WORKERS,
                |n| format!("workers must be at most {MAX_WORKERS}, got {n}"),
                "leave it out for one per CPU core, or 0 for the shared runtime",
            )?,
        })
    }

    /// `drain_accept_secs` and `drain_timeout_secs` (or its older name), checked: the
    /// window for new connections ends before the drain does.
    fn drain(&self, src: Source<'_>) -> Result<(Duration, Duration), ConfigError> {
        if let (Some(_), Some(old)) = (&self.drain_timeout_secs, &self.shutdown_grace_secs) {
            return Err(src.error(
                old.span(),
                "shutdown_grace_secs is the older name of drain_timeout_secs, and both are set"
                    .into(),
                "keep drain_timeout_secs only",
            ));
        }
        let timeout = self
            .drain_timeout_secs
            .as_ref()
            .or(self.shutdown_grace_secs.as_ref());
        let timeout = timeout.map_or(DEFAULT_DRAIN_TIMEOUT_SECS, |t| *t.get_ref());
        let accept = src.checked(
            &self.drain_accept_secs,
            DEFAULT_DRAIN_ACCEPT_SECS.min(timeout),
            |a| a <= timeout,
            |a| format!("drain_accept_secs ({a}) is longer than the drain itself (drain_timeout_secs = {timeout})"),
            "make drain_accept_secs at most drain_timeout_secs: connections are accepted for part of the drain",
        )?;
        Ok((Duration::from_secs(accept), Duration::from_secs(timeout)))
    }
}

/// After SIGTERM, seconds new connections are still accepted, by default.
const DEFAULT_DRAIN_ACCEPT_SECS: u64 = 5;
/// Seconds requests in flight get after the shutdown signal, by default.
const DEFAULT_DRAIN_TIMEOUT_SECS: u64 = 30;

/// `listen`, or the default address.
fn listen(src: Source<'_>, l: Option<&Spanned<String>>) -> Result<SocketAddr, ConfigError> {
    match l {
        None => DEFAULT_LISTEN
            .parse()
            .map_err(|_| ConfigError::Internal("default listen")),
        Some(l) => SocketAddr::from_str(l.get_ref()).map_err(|_| {
            src.error(
                l.span(),
                format!("listen address '{}' is not IP:PORT", l.get_ref()),
                "write it like \"127.0.0.1:8080\" or \"[::1]:8080\"",
            )
        }),
    }
}

/// A limit on how long a client may take, in seconds (fractions allowed): above zero and
/// at most a day; `default` when absent.
fn client_limit(
    src: Source<'_>,
    v: &Option<Spanned<f64>>,
    default: f64,
    name: &str,
) -> Result<Duration, ConfigError> {
    let secs = src.checked(
        v,
        default,
        |s| s > 0.0 && s <= check::DAY_SECS,
        |s| format!("{name} must be above 0 and at most 86400 seconds, got {s}"),
        &format!("use e.g. {name} = {default}"),
    )?;
    check::duration(secs, "client time limit")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::config::testing::assert_refused;

    fn server(text: &str) -> ServerConfig {
        Config::parse(text, "c").unwrap().server
    }

    #[test]
    fn an_empty_section_gives_the_defaults() {
        let s = server("");
        assert_eq!(s.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(s.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        let secs = Duration::from_secs;
        assert_eq!(
            [s.request_timeout, s.ttft_timeout, s.stream_idle_timeout],
            [secs(600), secs(120), secs(120)]
        );
        assert_eq!(
            [
                s.connect_timeout,
                s.drain_accept,
                s.drain_timeout,
                s.header_timeout,
                s.body_timeout
            ],
            [secs(10), secs(5), secs(30), secs(10), secs(30)]
        );
    }

    #[test]
    fn whole_seconds_in_the_file_are_durations_in_the_config() {
        let s = server(
            "[server]\nrequest_timeout_secs = 7\nshutdown_grace_secs = 0\nheader_timeout_secs = 0.25\n",
        );
        assert_eq!(s.request_timeout, Duration::from_secs(7));
        // The older name still sets the drain; a shorter drain shortens its accept window.
        assert_eq!(
            (s.drain_timeout, s.drain_accept),
            (Duration::ZERO, Duration::ZERO)
        );
        assert_eq!(s.header_timeout, Duration::from_millis(250));
    }

    #[test]
    fn the_drain_window_must_end_before_the_drain_and_one_name_is_enough() {
        let s = server("[server]\ndrain_accept_secs = 2\ndrain_timeout_secs = 9\n");
        assert_eq!(
            (s.drain_accept, s.drain_timeout),
            (Duration::from_secs(2), Duration::from_secs(9))
        );
        assert_refused(
            "[server]\ndrain_timeout_secs = 3\ndrain_accept_secs = 4\n",
            3,
            &["drain_accept_secs (4)", "at most drain_timeout_secs"],
        );
        assert_refused(
            "[server]\ndrain_timeout_secs = 3\nshutdown_grace_secs = 4\n",
            3,
            &["older name", "keep drain_timeout_secs"],
        );
    }

    #[test]
    fn server_limits_and_home_region_parse() {
        let s = server("[server]\nregion = \"eu\"\nmax_concurrency = 64\n");
        assert_eq!(s.region.as_deref(), Some("eu"));
        assert_eq!(s.max_concurrency, 64);
        assert_refused("[server]\nmax_concurrency = 0\n", 2, &["at least 1"]);
    }

    #[test]
    fn workers_default_to_one_per_core_and_are_bounded() {
        assert_eq!(server("").workers, cores());
        assert_eq!(server("[server]\nworkers = 0\n").workers, 0);
        assert_eq!(server("[server]\nworkers = 3\n").workers, 3);
        assert_refused(
            "[server]\n\nworkers = 5000\n",
            3,
            &["at most 1024", "one per CPU core"],
        );
    }

    #[test]
    fn bad_listen_address_names_the_line_and_fix() {
        assert_refused(
            "\n[server]\nlisten = \"localhost\"\n",
            3,
            &["127.0.0.1:8080"],
        );
    }

    #[test]
    fn unknown_field_is_rejected_with_its_line() {
        assert_refused(
            "[server]\nlisten = \"127.0.0.1:1\"\nmax_body = 5\n",
            3,
            &["max_body"],
        );
    }
}
