//! Who may see what besides the chat endpoint. With keys on, the model list needs a
//! gateway key, and the operator endpoints (`/admin/health`, `/metrics`, `/admin/keys`)
//! the admin token, unless `[keys] public` opens them. Wrong admin tokens are limited per
//! client address: past [`MAX_FAILURES`] in [`WINDOW`], that address gets 429s until the
//! window ends, so the token cannot be guessed by trying.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::ring::Keyring;
use crate::config::PublicEndpoint;
use crate::error::GatewayError;

/// Wrong admin tokens an address may send per window.
pub(crate) const MAX_FAILURES: u32 = 10;
/// The window.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked at most (past it, expired entries go; if none has, all do).
const MAX_TRACKED: usize = 4096;

/// The client's address, put on each request by the connection loop.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// Wrong admin tokens per client address, in the current window.
#[derive(Debug, Default)]
pub struct AdminFailures {
    by_addr: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl AdminFailures {
    /// Seconds `ip` must wait, if it has used up its failures.
    fn locked_out(&self, ip: IpAddr) -> Option<u64> {
        let map = self.by_addr.lock().ok()?;
        let (n, since) = map.get(&ip)?;
        let left = WINDOW.checked_sub(since.elapsed())?;
        (*n >= MAX_FAILURES).then(|| left.as_secs().max(1))
    }

    fn fail(&self, ip: IpAddr) {
        let Ok(mut map) = self.by_addr.lock() else {
            return;
        };
        if map.len() >= MAX_TRACKED && !map.contains_key(&ip) {
            map.retain(|_, (_, since)| since.elapsed() < WINDOW);
            if map.len() >= MAX_TRACKED {
                map.clear();
            }
        }
        let entry = map.entry(ip).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 = entry.0.saturating_add(1);
    }
}

pub(crate) fn denied(
    status: StatusCode,
    kind: &'static str,
    code: &'static str,
    message: String,
) -> Box<Response> {
    Box::new(
        GatewayError::Denied {
            status,
            kind,
            code,
            message,
            retry_after_secs: None,
            headers: Vec::new(),
        }
        .into_response(),
    )
}

/// Equal in time whatever the first difference, so the token cannot be guessed byte by
/// byte from response times.
/// The dashboard's session cookie.
pub(crate) const SESSION_COOKIE: &str = "switchyard_admin";

/// The session cookie's value for admin token `token`: a digest of it, so the token
/// itself is never stored in the browser, and a new token ends every session.
pub(crate) fn session_value(token: &str) -> String {
    switchyard_ledger::keys::hash_key(&format!("switchyard-dashboard-session\0{}", token.trim()))
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What the checks look at, lent by the state in force (`AppState::gate`).
#[derive(Debug, Clone, Copy)]
pub struct Gate<'a> {
    /// The admin token; `None` = admin API off.
    pub token: Option<&'a str>,
    /// Where the token comes from (for the message when it is off).
    pub token_env: &'a str,
    /// Wrong tokens per address.
    pub failures: &'a AdminFailures,
    /// Gateway keys, when they are on.
    pub keys: Option<&'a Keyring>,
    /// Endpoints `[keys] public` opens.
    pub public: &'a [PublicEndpoint],
}

impl Gate<'_> {
    /// Whether the caller holds the admin token; an address that has sent too many
    /// wrong ones is refused before its token is even looked at.
    pub fn admin(&self, headers: &HeaderMap, peer: Option<PeerAddr>) -> Result<(), Box<Response>> {
        self.check_admin(headers, peer, false)
    }

    /// [`Self::admin`] for reading (the dashboard and the endpoints it reads): the
    /// dashboard's session cookie is accepted too.
    pub fn admin_read(
        &self,
        headers: &HeaderMap,
        peer: Option<PeerAddr>,
    ) -> Result<(), Box<Response>> {
        self.check_admin(headers, peer, true)
    }

    /// The dashboard and its data: open when neither keys nor an admin token are set
    /// (the embedded default, offline), else behind the admin token or its session.
    pub fn dashboard(
        &self,
        headers: &HeaderMap,
        peer: Option<PeerAddr>,
    ) -> Result<(), Box<Response>> {
        if self.keys.is_none() && self.token.is_none() {
            return Ok(());
        }
        self.admin_read(headers, peer)
    }

    /// Whether `given` is the admin token (a login), counting a wrong one against `peer`.
    pub fn login(&self, given: &str, peer: Option<PeerAddr>) -> Result<(), Box<Response>> {
        let mut headers = HeaderMap::new();
        let bearer = format!("Bearer {}", given.trim());
        if let Ok(v) = axum::http::HeaderValue::from_str(&bearer) {
            headers.insert(axum::http::header::AUTHORIZATION, v);
        }
        self.admin(&headers, peer)
    }

    /// Whether `headers` carry the dashboard session of `token`.
    fn holds_session(&self, headers: &HeaderMap, token: &str) -> bool {
        let want = session_value(token);
        headers
            .get_all(axum::http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .any(|(name, value)| name == SESSION_COOKIE && same(value.as_bytes(), want.as_bytes()))
    }

    fn check_admin(
        &self,
        headers: &HeaderMap,
        peer: Option<PeerAddr>,
        reading: bool,
    ) -> Result<(), Box<Response>> {
        let Some(token) = self.token else {
            return Err(denied(
                StatusCode::FORBIDDEN,
                "permission_error",
                "admin_disabled",
                format!(
                    "the admin API is off: set {} to an admin token and restart",
                    self.token_env
                ),
            ));
        };
        let ip = peer.map(|p| p.0.ip());
        if let Some(wait) = ip.and_then(|ip| self.failures.locked_out(ip)) {
            let mut r = denied(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "too_many_failed_attempts",
                format!("too many wrong admin tokens from this address; retry in {wait} s"),
            );
            r.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, wait.into());
            return Err(r);
        }
        let given = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if same(given.trim().as_bytes(), token.trim().as_bytes())
            || (reading && self.holds_session(headers, token))
        {
            return Ok(());
        }
        if let Some(ip) = ip {
            self.failures.fail(ip);
        }
        Err(denied(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid_admin_token",
            "missing or wrong admin token (Authorization: Bearer <admin token>)".into(),
        ))
    }

    /// Whether the caller may use `what`: anyone with keys off or when `[keys] public`
    /// lists it; else a gateway key (the model list) or the admin token (the rest).
    pub fn endpoint(
        &self,
        headers: &HeaderMap,
        peer: Option<PeerAddr>,
        what: PublicEndpoint,
    ) -> Result<(), Box<Response>> {
        let Some(ring) = self.keys else {
            return Ok(());
        };
        if self.public.contains(&what) {
            return Ok(());
        }
        match what {
            PublicEndpoint::Models => ring
                .identify(headers)
                .map(|_| ())
                .map_err(|e| Box::new(e.into_response())),
            PublicEndpoint::Health | PublicEndpoint::Metrics => self.admin_read(headers, peer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_locked_out_after_the_allowed_failures_and_others_are_not() {
        let f = AdminFailures::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..MAX_FAILURES - 1 {
            f.fail(a);
        }
        assert_eq!(f.locked_out(a), None);
        f.fail(a);
        assert!(f.locked_out(a).is_some_and(|s| (1..=60).contains(&s)));
        assert_eq!(f.locked_out(b), None);
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
    }
}
