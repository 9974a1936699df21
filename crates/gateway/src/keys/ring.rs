//! Every gateway key, in memory by hash, loaded from the key store
//! (`switchyard_ledger::keys`) and refreshed in the background when another process
//! (`switchyard keys …`) changes them: who is calling is answered from memory, never
//! the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use switchyard_ledger::keys::{KeyStore, hash_key, looks_like_key};

use super::admission::KeyState;
use crate::error::GatewayError;
use crate::usage::now_ms;

/// Every key, in memory, by hash.
#[derive(Debug)]
pub struct Keyring {
    store: Mutex<KeyStore>,
    /// Where the keys are (password hidden), for `/readyz` without taking the store.
    location: String,
    by_hash: RwLock<HashMap<String, Arc<KeyState>>>,
    /// The store's change counter when the keys were last loaded.
    version: Mutex<Option<i64>>,
    refreshed: Mutex<Refreshed>,
}

/// How the last look at the store went.
#[derive(Debug)]
struct Refreshed {
    /// The last time the store answered.
    ok_at: std::time::Instant,
    /// Why the looks since then failed.
    error: Option<String>,
}

/// Whether the keys in memory are the store's, for `/readyz` (which anyone may read:
/// it names the kind of store, never its address or the error's text, which is logged).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Freshness {
    /// `sqlite` or `postgres`.
    pub store: String,
    /// The store has not answered the last refresh (or not for longer than expected):
    /// keys revoked or rotated since may still work here.
    pub stale: bool,
    /// Seconds since the store last answered.
    pub secs_since_refresh: f64,
}

fn unauthorized(code: &'static str, message: impl Into<String>) -> GatewayError {
    GatewayError::Denied {
        status: StatusCode::UNAUTHORIZED,
        kind: "authentication_error",
        code,
        message: message.into(),
        retry_after_secs: None,
        headers: Vec::new(),
    }
}

impl Keyring {
    /// Load every key from `store`, with each budgeted key's spend so far this period
    /// (from the usage log).
    pub fn load(store: KeyStore) -> Result<Self, String> {
        let ring = Keyring {
            location: store.location(),
            store: Mutex::new(store),
            by_hash: RwLock::new(HashMap::new()),
            version: Mutex::new(None),
            refreshed: Mutex::new(Refreshed {
                ok_at: std::time::Instant::now(),
                error: None,
            }),
        };
        ring.refresh().map_err(|e| e.to_string())?;
        Ok(ring)
    }

    /// Reload the keys if the store changed; live limit and spend state of unchanged
    /// keys is kept. Blocking (SQLite): call it off the runtime's workers. Whether it
    /// worked is kept for [`Keyring::freshness`].
    pub fn refresh(&self) -> Result<bool, switchyard_ledger::LedgerError> {
        let result = self.reload(false);
        let mut r = self
            .refreshed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &result {
            Ok(_) => {
                r.ok_at = std::time::Instant::now();
                r.error = None;
            }
            Err(e) => r.error = Some(e.to_string()),
        }
        result
    }

    /// Whether the keys in memory are up to date: stale when the last refresh failed,
    /// or when none has succeeded for three refresh intervals plus `grace` (a refresh
    /// stuck on a slow store).
    pub fn freshness(&self, every: Duration, grace: Duration) -> Freshness {
        let r = self
            .refreshed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let age = r.ok_at.elapsed();
        Freshness {
            store: self
                .location
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string(),
            stale: r.error.is_some() || age > every.saturating_mul(3).saturating_add(grace),
            secs_since_refresh: (age.as_secs_f64() * 10.0).round() / 10.0,
        }
    }

    /// Reload the keys now (after a change made through this gateway).
    pub fn reload_now(&self) -> Result<bool, switchyard_ledger::LedgerError> {
        self.reload(true)
    }

    fn reload(&self, force: bool) -> Result<bool, switchyard_ledger::LedgerError> {
        let store = self
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let version = store.version()?;
        let mut seen = self
            .version
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *seen == Some(version) && !force {
            return Ok(false);
        }
        let now = now_ms();
        let old = self.by_hash.read().map(|m| m.clone()).unwrap_or_default();
        let mut by_id_old: HashMap<String, Arc<KeyState>> = HashMap::new();
        for k in old.values() {
            by_id_old.insert(k.record.id.clone(), Arc::clone(k));
        }
        let mut fresh = HashMap::new();
        for (hash, record) in store.all_with_hashes()? {
            let state = match by_id_old.get(&record.id) {
                Some(k) if k.record == record => Arc::clone(k),
                _ => {
                    let spent = match record.budget_nanos {
                        Some(_) => {
                            store.spent_since(&record.id, record.budget_period.start(now))?
                        }
                        None => 0,
                    };
                    Arc::new(KeyState::new(record, spent, now))
                }
            };
            fresh.insert(hash, state);
        }
        if let Ok(mut m) = self.by_hash.write() {
            *m = fresh;
        }
        *seen = Some(version);
        Ok(true)
    }

    /// Call `f` with every key in memory.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&KeyState)) {
        let keys = self
            .by_hash
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for k in keys.values() {
            f(k);
        }
    }

    /// Run `f` on the store (blocking).
    pub fn with_store<T>(&self, f: impl FnOnce(&KeyStore) -> T) -> T {
        let store = self
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&store)
    }

    /// Who is calling: the key in `Authorization: Bearer …` (or `x-api-key`), which must exist and be
    /// neither revoked nor expired. Checked before the body is read.
    pub fn identify(&self, headers: &HeaderMap) -> Result<Arc<KeyState>, GatewayError> {
        let Some(key) = presented_key(headers) else {
            return Err(unauthorized(
                "missing_api_key",
                "no API key: send a gateway key as `Authorization: Bearer sy-…` (the openai client's api_key) or `x-api-key: sy-…` (the anthropic client's)",
            ));
        };
        if !looks_like_key(key) {
            return Err(unauthorized(
                "invalid_api_key",
                "the API key is not a gateway key (they look like sy-<12 hex>-<32 characters>)",
            ));
        }
        let state = self
            .by_hash
            .read()
            .ok()
            .and_then(|m| m.get(&hash_key(key)).cloned())
            .ok_or_else(|| unauthorized("invalid_api_key", "unknown API key"))?;
        state
            .record
            .usable(now_ms())
            .map_err(|why| unauthorized("invalid_api_key", why))?;
        Ok(state)
    }
}

/// The key a request presents: `Authorization: Bearer …` (OpenAI's clients) or, without
/// one, `x-api-key` (Anthropic's).
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(auth) = headers.get(axum::http::header::AUTHORIZATION) {
        let v = auth.to_str().unwrap_or_default();
        let key = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
            .unwrap_or_default();
        return Some(key.trim());
    }
    headers
        .get("x-api-key")
        .map(|v| v.to_str().unwrap_or_default().trim())
}
