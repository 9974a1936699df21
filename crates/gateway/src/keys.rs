//! Gateway keys on the request path: who is calling, may they use this model, and are
//! they within their rate limits and budget — all from memory, never the database.
//!
//! The [`Keyring`] holds every key from the key store (`switchyard_ledger::keys`) by hash,
//! refreshed in the background when another process (`switchyard keys …`) changes them.
//! [`Keyring::admit`] checks a request before any upstream call: requests per minute and
//! tokens per minute are token buckets, the tokens reserved up front (prompt estimate +
//! the most output the request may produce) and trued up with the real usage when it
//! ends; the budget reserves the request's largest possible cost and settles the real
//! one, so concurrent requests overshoot it by at most one request's maximum.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use switchyard_ledger::keys::{BudgetPeriod, KeyRecord, KeyStore, hash_key, looks_like_key};

use crate::bucket::Bucket;
use crate::error::GatewayError;
use crate::shared::Settler;

/// A key's spend in its current budget period.
#[derive(Debug)]
struct Spend {
    period_start: i64,
    spent: u64,
    reserved: u64,
}

/// One key with its live limit and spend state.
#[derive(Debug)]
pub struct KeyState {
    /// The key's settings.
    pub record: KeyRecord,
    rpm: Option<Mutex<Bucket>>,
    tpm: Option<Mutex<Bucket>>,
    spend: Mutex<Spend>,
}

impl KeyState {
    /// Spend so far in the current period, as this process knows it.
    pub fn spent_now(&self) -> u64 {
        self.spend
            .lock()
            .map_or(0, |s| s.spent.saturating_add(s.reserved))
    }

    fn add_local_spend(&self, nanos: u64) {
        let mut s = self
            .spend
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        s.spent = s.spent.saturating_add(nanos);
    }

    pub(crate) fn new(record: KeyRecord, spent: u64, now_ms: i64) -> Self {
        KeyState {
            rpm: record.rpm.map(|l| Mutex::new(Bucket::new(l))),
            tpm: record.tpm.map(|l| Mutex::new(Bucket::new(l))),
            spend: Mutex::new(Spend {
                period_start: record.budget_period.start(now_ms),
                spent,
                reserved: 0,
            }),
            record,
        }
    }
}

/// What a request holds from admission until its usage is recorded.
#[derive(Debug)]
pub struct Admission {
    /// The key.
    pub key: Arc<KeyState>,
    tokens_reserved: u64,
    nanos_reserved: u64,
    settled: Mutex<bool>,
    /// `x-ratelimit-*` headers for the response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Where to settle, when the limits live in Redis.
    shared: Option<Settler>,
}

impl Admission {
    /// An admission whose limits and budget live in Redis.
    pub(crate) fn shared(
        key: Arc<KeyState>,
        tokens_reserved: u64,
        nanos_reserved: u64,
        headers: Vec<(HeaderName, HeaderValue)>,
        settler: Settler,
    ) -> Self {
        Admission {
            key,
            tokens_reserved,
            nanos_reserved,
            settled: Mutex::new(false),
            headers,
            shared: Some(settler),
        }
    }

    /// The request ended having used `tokens` and cost `nanos`: true up the token bucket
    /// and the budget. Later calls (and the drop) do nothing.
    pub fn settle(&self, tokens: u64, nanos: u64) {
        let mut done = self
            .settled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *done {
            return;
        }
        *done = true;
        if let Some(settler) = &self.shared {
            let back = i64::try_from(self.tokens_reserved).unwrap_or(i64::MAX)
                - i64::try_from(tokens).unwrap_or(i64::MAX);
            settler.settle(back, self.nanos_reserved, nanos);
            // Also counted here: what this process knows, if Redis is away later.
            self.key.add_local_spend(nanos);
            return;
        }
        if let Some(b) = &self.key.tpm {
            let mut b = b.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            b.adjust(self.tokens_reserved as f64 - tokens as f64);
        }
        let mut s = self
            .key
            .spend
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        s.reserved = s.reserved.saturating_sub(self.nanos_reserved);
        s.spent = s.spent.saturating_add(nanos);
    }

    /// Spend of an extra attempt (a cancelled hedge), on top of the request's own.
    pub fn add_spend(&self, nanos: u64) {
        if let Some(settler) = &self.shared {
            settler.settle(0, 0, nanos);
            self.key.add_local_spend(nanos);
            return;
        }
        let mut s = self
            .key
            .spend
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        s.spent = s.spent.saturating_add(nanos);
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        // Never recorded (the request failed before any usage): nothing was used.
        self.settle(0, 0);
    }
}

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

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
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

    /// Run `f` on the store (blocking).
    pub fn with_store<T>(&self, f: impl FnOnce(&KeyStore) -> T) -> T {
        let store = self
            .store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&store)
    }

    /// Who is calling: the key in `Authorization: Bearer …`, which must exist and be
    /// neither revoked nor expired. Checked before the body is read.
    pub fn identify(&self, headers: &HeaderMap) -> Result<Arc<KeyState>, GatewayError> {
        let Some(auth) = headers.get(axum::http::header::AUTHORIZATION) else {
            return Err(unauthorized(
                "missing_api_key",
                "no API key: send a gateway key as `Authorization: Bearer sy-…` (the openai client's api_key)",
            ));
        };
        let key = auth
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .unwrap_or_default();
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

    /// 403 unless the key may use `model`.
    pub fn check_model(state: &KeyState, model: &str) -> Result<(), GatewayError> {
        if state.record.may_use(model) {
            return Ok(());
        }
        Err(GatewayError::Denied {
            status: StatusCode::FORBIDDEN,
            kind: "permission_error",
            code: "model_not_allowed",
            message: format!(
                "key '{}' may not use model '{model}'; it may use: {}",
                state.record.id,
                state.record.models.join(", ")
            ),
            retry_after_secs: None,
            headers: Vec::new(),
        })
    }

    /// Check a request of an identified key: the model, rate limits and budget. `tokens`
    /// is the prompt estimate plus the most output the request may produce; `max_nanos`
    /// the most it may cost.
    pub fn admit(
        state: Arc<KeyState>,
        model: &str,
        tokens: u64,
        max_nanos: u64,
    ) -> Result<Admission, GatewayError> {
        let now = now_ms();
        Keyring::check_model(&state, model)?;
        let mut rl_headers = Vec::new();
        if let Some(b) = &state.rpm {
            let mut b = b.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let taken = b.take(1.0);
            push_headers(&mut rl_headers, "requests", &b);
            if let Err(wait) = taken {
                return Err(limited(&state, "requests", wait, rl_headers));
            }
        }
        if let Some(b) = &state.tpm {
            let mut b = b.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let taken = b.take(tokens as f64);
            push_headers(&mut rl_headers, "tokens", &b);
            if let Err(wait) = taken {
                // Give back the request slot taken above: this request is not made.
                if let Some(r) = &state.rpm {
                    r.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .adjust(1.0);
                }
                return Err(limited(&state, "tokens", wait, rl_headers));
            }
        }
        let mut nanos_reserved = 0;
        if let Some(budget) = state.record.budget_nanos {
            let mut s = state
                .spend
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let start = state.record.budget_period.start(now);
            if start != s.period_start {
                s.period_start = start;
                s.spent = 0;
            }
            if s.spent.saturating_add(s.reserved).saturating_add(max_nanos) > budget {
                drop(s);
                let refund = |b: &Option<Mutex<Bucket>>, n: f64| {
                    if let Some(b) = b {
                        b.lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .adjust(n);
                    }
                };
                refund(&state.rpm, 1.0);
                refund(&state.tpm, tokens as f64);
                return Err(over_budget(&state));
            }
            s.reserved += max_nanos;
            nanos_reserved = max_nanos;
        }
        let tokens_reserved = if state.tpm.is_some() { tokens } else { 0 };
        Ok(Admission {
            key: state,
            tokens_reserved,
            nanos_reserved,
            settled: Mutex::new(false),
            headers: rl_headers,
            shared: None,
        })
    }
}

fn push_headers(out: &mut Vec<(HeaderName, HeaderValue)>, what: &str, b: &Bucket) {
    let mut add = |name: String, value: String| {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            out.push((n, v));
        }
    };
    add(
        format!("x-ratelimit-limit-{what}"),
        format!("{}", b.limit as u64),
    );
    add(
        format!("x-ratelimit-remaining-{what}"),
        b.remaining().to_string(),
    );
    add(
        format!("x-ratelimit-reset-{what}"),
        format!("{:.3}s", b.reset_secs()),
    );
}

pub(crate) fn limited(
    state: &KeyState,
    what: &str,
    wait: Duration,
    headers: Vec<(HeaderName, HeaderValue)>,
) -> GatewayError {
    GatewayError::Denied {
        status: StatusCode::TOO_MANY_REQUESTS,
        kind: "rate_limit_error",
        code: "rate_limit_exceeded",
        message: format!(
            "key '{}' is over its {what}-per-minute limit; retry in {:.1}s",
            state.record.id,
            wait.as_secs_f64()
        ),
        retry_after_secs: Some(wait.as_secs_f64().ceil().max(1.0) as u64),
        headers,
    }
}

pub(crate) fn over_budget(state: &KeyState) -> GatewayError {
    let budget = state.record.budget_nanos.unwrap_or(0);
    let period = match state.record.budget_period {
        BudgetPeriod::Day => "today's",
        BudgetPeriod::Month => "this month's",
        BudgetPeriod::Total => "its whole",
    };
    GatewayError::Denied {
        status: StatusCode::PAYMENT_REQUIRED,
        kind: "insufficient_quota",
        code: "budget_exceeded",
        message: format!(
            "key '{}' has used {period} budget of ${:.6} (this request could cost more than is left)",
            state.record.id,
            budget as f64 / 1e9
        ),
        retry_after_secs: None,
        headers: Vec::new(),
    }
}
