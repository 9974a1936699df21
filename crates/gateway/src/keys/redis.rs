//! Limits and budgets shared by gateway replicas through Redis (`[limits] backend =
//! "redis"`).
//!
//! One Lua script admits a request atomically: a key's requests per minute and tokens per
//! minute (token buckets refilled per millisecond) and its budget (spend plus reservations
//! of the current period) are checked together, and only if all pass is anything taken.
//! A second script settles the request: unused tokens go back, the cost reservation is
//! replaced by the real cost. Every Redis key of one gateway key carries the hash tag
//! `{<key id>}`, so each script touches a single slot: with `[limits] redis_cluster` the
//! gateway talks the cluster protocol and each script runs on the node owning that slot.
//!
//! If Redis cannot be reached, `[limits] on_redis_error` decides: `"local"` (the default)
//! falls back to this process's own limits — fail open, each replica enforcing the limits
//! alone — and `"deny"` refuses with 503 — fail closed.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, StatusCode};
use metrics::counter;
use redis::Script;
use redis::aio::ConnectionManager;

use switchyard_ledger::keys::KeyStore;

use super::admission::{Admission, KeyState, SharedSettle, limited, over_budget};
use super::lease::{self, Reserve, Slots};
use crate::error::GatewayError;
use crate::usage::now_ms;

const ADMIT: &str = r"
-- KEYS: rpm bucket, tpm bucket, spent, held (sum of live reservations), holds (zset:
-- reservation -> expiry on the Redis clock).
-- Every time is the Redis server's, never a replica's: replicas whose clocks differ
-- would otherwise refill (or starve) each other's buckets.
local t = redis.call('TIME')
local clock = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local now = clock
local function bucket(key, limit, n)
  if limit <= 0 then return 1, -1, 0 end
  local v = redis.call('HMGET', key, 'level', 'at')
  local level = tonumber(v[1]) or limit
  local at = tonumber(v[2]) or now
  level = math.min(limit, level + math.max(0, now - at) * limit / 60000)
  if level >= n then return 1, level - n, 0 end
  if n > limit then return 0, level, 60000 end
  return 0, level, math.ceil((n - level) * 60000 / limit)
end
local function amount(member)
  return tonumber(string.match(member, ':(%d+)$')) or 0
end
local rpm_limit, tpm_limit, tokens = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
-- Requests taken at once: 1, or a lease's worth (keys/lease.rs).
local requests = tonumber(ARGV[10]) or 1
local ok1, rpm_left, rpm_wait = bucket(KEYS[1], rpm_limit, requests)
if ok1 == 0 then return {2, rpm_wait, math.floor(rpm_left), -1} end
local ok2, tpm_left, tpm_wait = bucket(KEYS[2], tpm_limit, tokens)
if ok2 == 0 then return {3, tpm_wait, math.floor(rpm_left), math.floor(tpm_left)} end
local budget, max_nanos, ttl = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[7])
local hold, hold_ttl = ARGV[8], tonumber(ARGV[9])
if budget >= 0 then
  local spent = tonumber(redis.call('GET', KEYS[3]))
  if spent == nil then
    -- First use this period, or Redis lost it (restart, eviction): the caller reads the
    -- spend from the usage log and calls again with it. Nothing was taken yet.
    if ARGV[6] == '' then return {5, 0, 0, 0} end
    redis.call('SET', KEYS[3], ARGV[6], 'NX', 'PX', ttl)
    spent = tonumber(redis.call('GET', KEYS[3])) or 0
  end
  local held = tonumber(redis.call('GET', KEYS[4]))
  if held == nil then
    -- The sum was lost (eviction): count the live reservations again.
    held = 0
    for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], '(' .. clock, '+inf')) do
      held = held + amount(m)
    end
  end
  -- Reservations whose settle never came (process killed, time-out, shutdown) lapse on
  -- their own expiry, whatever else the key is doing.
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', clock)) do
    held = held - amount(m)
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', clock)
  if held < 0 then held = 0 end
  if spent + held + max_nanos > budget then
    redis.call('SET', KEYS[4], string.format('%d', held), 'PX', ttl)
    return {4, 0, spent, held}
  end
  redis.call('SET', KEYS[4], string.format('%d', held + max_nanos), 'PX', ttl)
  redis.call('ZADD', KEYS[5], clock + hold_ttl, hold .. ':' .. ARGV[5])
  redis.call('PEXPIRE', KEYS[5], ttl)
end
if rpm_limit > 0 then
  redis.call('HSET', KEYS[1], 'level', rpm_left, 'at', now)
  redis.call('PEXPIRE', KEYS[1], 120000)
end
if tpm_limit > 0 then
  redis.call('HSET', KEYS[2], 'level', tpm_left, 'at', now)
  redis.call('PEXPIRE', KEYS[2], 120000)
end
return {1, 0, math.floor(rpm_left), math.floor(tpm_left)}
";

const SETTLE: &str = r"
-- KEYS: tpm bucket, spent, held, holds.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tpm_limit, back = tonumber(ARGV[1]), tonumber(ARGV[2])
if tpm_limit > 0 and back ~= 0 then
  local v = redis.call('HMGET', KEYS[1], 'level', 'at')
  local level = tonumber(v[1]) or tpm_limit
  local at = tonumber(v[2]) or now
  level = math.min(tpm_limit, level + math.max(0, now - at) * tpm_limit / 60000 + back)
  redis.call('HSET', KEYS[1], 'level', level, 'at', now)
  redis.call('PEXPIRE', KEYS[1], 120000)
end
local reserved, spent, ttl = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
-- Release the reservation only if it has not lapsed (then it was released already).
if reserved > 0 and redis.call('ZREM', KEYS[4], ARGV[6]) == 1 then
  local left = (tonumber(redis.call('GET', KEYS[3])) or 0) - reserved
  if left < 0 then left = 0 end
  redis.call('SET', KEYS[3], string.format('%d', left), 'PX', ttl)
end
-- Only onto a counter that exists: one lost since (restart, eviction) is seeded again
-- from the usage log by the next admit, which has this spend too once it is written.
if spent > 0 and redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('INCRBY', KEYS[2], spent)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return 1
";

/// The usage log as seen by the Redis limits: a key store connection of its own, so that
/// reading a key's spend never waits behind the key refresh.
pub(crate) struct SpendSource {
    store: Arc<std::sync::Mutex<KeyStore>>,
    timeout: Duration,
}

impl std::fmt::Debug for SpendSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpendSource")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl SpendSource {
    /// Open the key store beside the usage log: PostgreSQL `(url, table)` if given, else
    /// the SQLite file `db`. Reads give up after `timeout`.
    pub(crate) async fn open(
        postgres: Option<(String, String)>,
        options: switchyard_ledger::PgOptions,
        db: std::path::PathBuf,
        timeout: Duration,
    ) -> Result<Self, String> {
        let opened = tokio::task::spawn_blocking(move || match postgres {
            Some((url, table)) => KeyStore::open_postgres_with(&url, &table, &options),
            None => KeyStore::open(&db),
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        Ok(SpendSource {
            store: Arc::new(std::sync::Mutex::new(opened)),
            timeout,
        })
    }

    /// Spend of key `id` since `since_ms`, off the runtime's workers, within the time
    /// limit.
    async fn spent_since(&self, id: &str, since_ms: i64) -> Result<u64, String> {
        let (store, id) = (Arc::clone(&self.store), id.to_string());
        let read = tokio::task::spawn_blocking(move || {
            store
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .spent_since(&id, since_ms)
        });
        match tokio::time::timeout(self.timeout, read).await {
            Ok(Ok(Ok(spent))) => Ok(spent),
            Ok(Ok(Err(e))) => Err(e.to_string()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {}s", self.timeout.as_secs_f64())),
        }
    }
}

/// The certificate authorities of `ca_file` (PEM), for `rediss://`; `None` = the system's.
async fn tls_roots(
    ca_file: Option<&std::path::Path>,
) -> Result<Option<redis::TlsCertificates>, String> {
    let Some(path) = ca_file else {
        return Ok(None);
    };
    let pem = tokio::fs::read(path)
        .await
        .map_err(|e| format!("redis_ca_file {}: {e}", path.display()))?;
    Ok(Some(redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    }))
}

/// How long a budget reservation lasts unless [`RedisLimits::with_reservation_ttl`] says.
pub(crate) const DEFAULT_HOLD_TTL: Duration = Duration::from_secs(660);

/// What to do when Redis cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnRedisError {
    /// Fall back to this process's own limits (fail open).
    Local,
    /// Refuse the request with 503 (fail closed).
    Deny,
}

/// A connection to one Redis, or to a Redis Cluster (scripts are routed by their keys'
/// slot, which the hash tag makes one).
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl Conn {
    async fn invoke<T: redis::FromRedisValue>(
        &self,
        call: &redis::ScriptInvocation<'_>,
    ) -> redis::RedisResult<T> {
        match self {
            Conn::Single(c) => call.invoke_async(&mut c.clone()).await,
            Conn::Cluster(c) => call.invoke_async(&mut c.clone()).await,
        }
    }
}

/// Shared limits in Redis.
pub(crate) struct RedisLimits {
    conn: Conn,
    prefix: String,
    on_error: OnRedisError,
    /// How long a budget reservation lasts if its request never settles it.
    hold_ttl: Duration,
    /// Where a key's spend is read from when Redis has lost it.
    spend: Option<SpendSource>,
    /// This process's clock: only for which budget period it is (limits run on Redis's).
    clock: fn() -> i64,
    admit: Script,
    settle: Script,
    /// Settles sent but not yet answered, so that shutdown can wait for them.
    pending: Arc<Pending>,
    /// Admit-script calls made (for tests of the leases).
    calls: std::sync::atomic::AtomicU64,
    /// `[limits] lease_secs`: admit from local leases of this long (keys/lease.rs).
    lease: Option<Duration>,
    /// Each key's lease.
    leases: Slots,
    /// The runtime the connection was made on, which lives until the process exits:
    /// settles run there, not on a serving worker's runtime, which ends (dropping its
    /// tasks) as soon as its connections have drained.
    runtime: Option<tokio::runtime::Handle>,
}

/// A count of background calls in flight, and a wake-up when it reaches zero.
#[derive(Debug, Default)]
struct Pending {
    count: std::sync::atomic::AtomicUsize,
    idle: tokio::sync::Notify,
}

/// One call counted in [`Pending`] until dropped.
struct PendingCall(Arc<Pending>);

impl Pending {
    fn enter(self: &Arc<Self>) -> PendingCall {
        self.count.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        PendingCall(Arc::clone(self))
    }
}

impl Drop for PendingCall {
    fn drop(&mut self) {
        if self
            .0
            .count
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel)
            == 1
        {
            self.0.idle.notify_waiters();
        }
    }
}

impl std::fmt::Debug for RedisLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimits")
            .field("prefix", &self.prefix)
            .field("on_error", &self.on_error)
            .finish_non_exhaustive()
    }
}

/// The Redis keys of one gateway key in one budget period.
/// What one call of the admit script asks for.
struct Ask<'a> {
    /// Requests taken from the RPM bucket: 1, or a lease's worth.
    requests: u64,
    /// Tokens taken from the TPM bucket.
    tokens: u64,
    /// Nano-dollars of budget reserved.
    nanos: u64,
    /// The reservation's id.
    hold: &'a str,
    /// How long the reservation lasts if never settled.
    hold_ttl: Duration,
}

struct Names {
    rpm: String,
    tpm: String,
    spent: String,
    /// Sum of the live reservations.
    held: String,
    /// Each live reservation, scored by its expiry (Redis clock, ms).
    holds: String,
}

impl RedisLimits {
    /// Connect to `url` (`redis://host:port/db`). The connection reconnects by itself.
    ///
    /// `rediss://` connects with TLS (rustls), verifying the server's certificate against
    /// the system's certificate authorities, or only those in the PEM file `ca_file`.
    pub(crate) async fn connect(
        url: &str,
        prefix: &str,
        on_error: OnRedisError,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Self, String> {
        // Messages never show a password: every form is hidden.
        let shown = switchyard_ledger::redact(url);
        let info = redis::IntoConnectionInfo::into_connection_info(url)
            .map_err(|e| format!("redis url '{shown}': {e}"))?
            .set_tcp_settings(tcp_settings());
        let client = match tls_roots(ca_file).await? {
            Some(certs) => redis::Client::build_with_tls(info, certs),
            None => redis::Client::open(info),
        }
        .map_err(|e| format!("redis url '{shown}': {e}"))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(1)))
            .set_number_of_retries(1);
        let conn = tokio::time::timeout(
            Duration::from_secs(5),
            client.get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| format!("redis at {shown}: no connection within 5 s"))?
        .map_err(|e| format!("redis at {shown}: {e}"))?;
        Ok(Self::over(Conn::Single(conn), prefix, on_error))
    }

    /// Limits kept through `conn`, with the default reservation lifetime.
    fn over(conn: Conn, prefix: &str, on_error: OnRedisError) -> Self {
        RedisLimits {
            conn,
            prefix: prefix.to_string(),
            on_error,
            hold_ttl: DEFAULT_HOLD_TTL,
            spend: None,
            clock: now_ms,
            admit: Script::new(ADMIT),
            settle: Script::new(SETTLE),
            pending: Arc::default(),
            calls: std::sync::atomic::AtomicU64::new(0),
            lease: None,
            leases: Slots::default(),
            runtime: tokio::runtime::Handle::try_current().ok(),
        }
    }

    /// Connect to a Redis Cluster through any of its `nodes` (`redis://host:port`).
    /// Like [`RedisLimits::connect`], with `TCP_NODELAY`.
    pub(crate) async fn connect_cluster(
        nodes: &[String],
        prefix: &str,
        on_error: OnRedisError,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Self, String> {
        let shown: Vec<String> = nodes.iter().map(|n| switchyard_ledger::redact(n)).collect();
        let mut builder = redis::cluster::ClusterClient::builder(nodes.iter().map(String::as_str));
        if let Some(certs) = tls_roots(ca_file).await? {
            builder = builder.certs(certs);
        }
        let client = builder
            .tcp_settings(tcp_settings())
            .connection_timeout(Duration::from_secs(2))
            .response_timeout(Duration::from_secs(1))
            .build()
            .map_err(|e| format!("redis cluster {shown:?}: {e}"))?;
        let conn = tokio::time::timeout(Duration::from_secs(5), client.get_async_connection())
            .await
            .map_err(|_| format!("redis cluster {shown:?}: no connection within 5 s"))?
            .map_err(|e| format!("redis cluster {shown:?}: {e}"))?;
        Ok(Self::over(Conn::Cluster(conn), prefix, on_error))
    }

    /// Wait, at most `timeout`, until every settle sent so far has been answered (at
    /// shutdown, so that requests ended by it still settle their limits); whether they
    /// all were.
    pub(crate) async fn settled(&self, timeout: Duration) -> bool {
        self.leases.release_all();
        let all = async {
            loop {
                let idle = self.pending.idle.notified();
                if self
                    .pending
                    .count
                    .load(std::sync::atomic::Ordering::Acquire)
                    == 0
                {
                    return;
                }
                idle.await;
            }
        };
        tokio::time::timeout(timeout, all).await.is_ok()
    }

    /// Let a budget reservation whose request never settles it (process killed,
    /// time-out, shutdown) lapse after `ttl`; it should exceed the longest request.
    #[must_use]
    pub(crate) fn with_reservation_ttl(mut self, ttl: Duration) -> Self {
        self.hold_ttl = ttl;
        self
    }

    /// Admit each key's requests from a local lease taken for `secs` at a time
    /// (`[limits] lease_secs`; see keys/lease.rs); zero keeps one Redis call per request.
    #[must_use]
    pub(crate) fn with_leases(mut self, secs: Duration) -> Self {
        self.lease = (!secs.is_zero()).then_some(secs);
        self
    }

    /// Read a key's spend from `source` (the usage log) when Redis has none for it —
    /// first use, or lost in a restart or eviction — instead of this process's own count.
    #[must_use]
    pub(crate) fn with_spend_source(mut self, source: SpendSource) -> Self {
        self.spend = Some(source);
        self
    }

    fn names(&self, key: &KeyState, period_start: i64) -> Names {
        let base = format!("{}:{{{}}}", self.prefix, key.record.id);
        Names {
            rpm: format!("{base}:rpm"),
            tpm: format!("{base}:tpm"),
            spent: format!("{base}:spent:{period_start}"),
            // Not `reserved:` as before: sums left by older releases held reservations
            // that never lapse, and are not carried over.
            held: format!("{base}:held:{period_start}"),
            holds: format!("{base}:holds:{period_start}"),
        }
    }

    /// [`Admission::local`], with the limits and budget kept in Redis.
    pub(crate) async fn admit(
        self: &Arc<Self>,
        key: Arc<KeyState>,
        model: &str,
        tokens: u64,
        max_nanos: u64,
    ) -> Result<Admission, GatewayError> {
        key.check_model(model)?;
        let rec = &key.record;
        if rec.rpm.is_none() && rec.tpm.is_none() && rec.budget_nanos.is_none() {
            return Admission::local(key, model, tokens, max_nanos);
        }
        if let Some(secs) = self.lease
            && let Some(admitted) = lease::admit(self, &key, tokens, max_nanos, secs).await
        {
            return Ok(admitted);
        }
        let hold = format!("{:016x}", rand::random::<u64>());
        let ask = Ask {
            requests: 1,
            tokens,
            nanos: max_nanos,
            hold: &hold,
            hold_ttl: self.hold_ttl,
        };
        let (reply, n, ttl_ms) = match self.reserve(&key, &ask).await {
            Ok(r) => r,
            Err(why) => return self.unavailable(key, model, tokens, max_nanos, &why),
        };
        let mut headers = Vec::new();
        let mut add = |what: &str, limit: Option<u64>, left: i64| {
            if let Some(limit) = limit {
                push(
                    &mut headers,
                    &format!("x-ratelimit-limit-{what}"),
                    limit.to_string(),
                );
                push(
                    &mut headers,
                    &format!("x-ratelimit-remaining-{what}"),
                    left.max(0).to_string(),
                );
            }
        };
        add("requests", rec.rpm, reply[2]);
        add("tokens", rec.tpm, reply[3]);
        let tokens_reserved = if rec.tpm.is_some() { tokens } else { 0 };
        let nanos_reserved = if rec.budget_nanos.is_some() {
            max_nanos
        } else {
            0
        };
        match reply[0] {
            1 => {
                let settler = self.settler(&key, n, &hold, nanos_reserved, ttl_ms);
                Ok(Admission::shared(
                    key,
                    tokens_reserved,
                    nanos_reserved,
                    headers,
                    Box::new(settler),
                ))
            }
            2 | 3 => {
                let what = if reply[0] == 2 { "requests" } else { "tokens" };
                let wait = Duration::from_millis(u64::try_from(reply[1]).unwrap_or(1000));
                Err(limited(&key, what, wait, headers))
            }
            _ => Err(over_budget(&key)),
        }
    }

    /// Run the admit script for `ask` on `key`: its reply (code, wait, requests left,
    /// tokens left), the key's Redis names this period and their lifetime (ms).
    async fn reserve(
        &self,
        key: &KeyState,
        ask: &Ask<'_>,
    ) -> Result<(Vec<i64>, Names, i64), String> {
        let rec = &key.record;
        let period_start = rec.budget_period.start((self.clock)());
        let n = self.names(key, period_start);
        let ttl_ms = match rec.budget_period {
            switchyard_ledger::keys::BudgetPeriod::Day => 2 * 86_400_000i64,
            switchyard_ledger::keys::BudgetPeriod::Month => 33 * 86_400_000,
            switchyard_ledger::keys::BudgetPeriod::Total => 10 * 365 * 86_400_000,
        };
        let hold_ttl_ms = u64::try_from(ask.hold_ttl.as_millis()).unwrap_or(u64::MAX);
        // The spend to seed Redis with if it has none: unknown at first (Redis asks for
        // it, code 5), then read from the usage log.
        let mut seed = match &self.spend {
            Some(_) => String::new(),
            None => key.spent_now().to_string(),
        };
        loop {
            let mut call = self.admit.prepare_invoke();
            call.key(&n.rpm)
                .key(&n.tpm)
                .key(&n.spent)
                .key(&n.held)
                .key(&n.holds)
                .arg(rec.rpm.unwrap_or(0))
                .arg(rec.tpm.unwrap_or(0))
                .arg(ask.tokens)
                .arg(
                    rec.budget_nanos
                        .map_or(-1, |b| i64::try_from(b).unwrap_or(i64::MAX)),
                )
                .arg(ask.nanos)
                .arg(&seed)
                .arg(ttl_ms)
                .arg(ask.hold)
                .arg(hold_ttl_ms)
                .arg(ask.requests);
            self.calls
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let reply: Result<Vec<i64>, redis::RedisError> = self.conn.invoke(&call).await;
            match reply {
                Ok(r) if r.len() == 4 && r[0] == 5 && seed.is_empty() => {
                    seed = self.spent_from_log(key, period_start).await.to_string();
                }
                Ok(r) if r.len() == 4 && r[0] != 5 => return Ok((r, n, ttl_ms)),
                Ok(_) => return Err("unexpected reply".into()),
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    /// The `Settler` that releases the reservation `hold` (of `reserved` nano-dollars)
    /// of a key whose names are `n`.
    fn settler(
        self: &Arc<Self>,
        key: &KeyState,
        n: Names,
        hold: &str,
        reserved: u64,
        ttl_ms: i64,
    ) -> Settler {
        Settler {
            limits: Arc::clone(self),
            tpm: n.tpm,
            spent: n.spent,
            held: n.held,
            holds: n.holds,
            hold: format!("{hold}:{reserved}"),
            tpm_limit: key.record.tpm.unwrap_or(0),
            ttl_ms,
        }
    }

    /// A key's spend this period from the usage log (all replicas' spend that has been
    /// written), to seed Redis after it lost the key's counter; this process's own
    /// count if the log cannot be read in time.
    async fn spent_from_log(&self, key: &KeyState, period_start: i64) -> u64 {
        counter!("switchyard_redis_spend_reseeds_total").increment(1);
        let Some(source) = &self.spend else {
            return key.spent_now();
        };
        match source.spent_since(&key.record.id, period_start).await {
            Ok(spent) => {
                tracing::info!(key = %key.record.id, spent, "redis had no spend for the key; seeded it from the usage log");
                spent
            }
            Err(e) => {
                tracing::error!(key = %key.record.id, error = %e, "redis had no spend for the key and the usage log cannot be read; seeding it with this process's own count");
                key.spent_now()
            }
        }
    }

    fn unavailable(
        &self,
        key: Arc<KeyState>,
        model: &str,
        tokens: u64,
        max_nanos: u64,
        why: &str,
    ) -> Result<Admission, GatewayError> {
        counter!("switchyard_redis_errors_total").increment(1);
        match self.on_error {
            OnRedisError::Local => {
                tracing::warn!(
                    error = why,
                    "redis unavailable; enforcing this process's own limits"
                );
                Admission::local(key, model, tokens, max_nanos)
            }
            OnRedisError::Deny => {
                tracing::error!(
                    error = why,
                    "redis unavailable; refusing (on_redis_error = deny)"
                );
                Err(GatewayError::Overloaded {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    code: "limiter_unavailable",
                    message: "rate limits cannot be checked right now (redis is unavailable); retry shortly".into(),
                    retry_after_secs: 1,
                })
            }
        }
    }
}

fn push(out: &mut Vec<(HeaderName, HeaderValue)>, name: &str, value: String) {
    if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
        out.push((n, v));
    }
}

/// `TCP_NODELAY` on every connection to Redis. Without it, an admission written while
/// the previous request's settle is still unacknowledged waits for the peer's delayed
/// ACK: +40 ms on each admission to a Redis in another region (e2e/test_regions.py).
fn tcp_settings() -> redis::io::tcp::TcpSettings {
    redis::io::tcp::TcpSettings::default().set_nodelay(true)
}

/// Where to settle a request admitted through Redis.
#[derive(Debug)]
pub(crate) struct Settler {
    limits: Arc<RedisLimits>,
    tpm: String,
    spent: String,
    held: String,
    holds: String,
    /// This request's reservation (`<id>:<nano-dollars>`).
    hold: String,
    tpm_limit: u64,
    ttl_ms: i64,
}

impl Reserve for RedisLimits {
    async fn reserve_lease(
        self: &Arc<Self>,
        key: &KeyState,
        requests: u64,
        tokens: u64,
        nanos: u64,
        hold: Duration,
    ) -> Option<Box<dyn SharedSettle>> {
        let id = format!("{:016x}", rand::random::<u64>());
        let ask = Ask {
            requests,
            tokens,
            nanos,
            hold: &id,
            hold_ttl: hold,
        };
        let (reply, names, ttl_ms) = self.reserve(key, &ask).await.ok()?;
        (reply.first() == Some(&1)).then(|| {
            Box::new(self.settler(key, names, &id, nanos, ttl_ms)) as Box<dyn SharedSettle>
        })
    }

    /// Where background Redis calls run: see the `runtime` field.
    fn runtime(&self) -> Option<tokio::runtime::Handle> {
        self.runtime
            .clone()
            .or_else(|| tokio::runtime::Handle::try_current().ok())
    }

    fn slots(&self) -> &Slots {
        &self.leases
    }
}

impl SharedSettle for Settler {
    fn settle(&self, tokens_back: i64, reserved: u64, spent: u64) {
        let Some(rt) = self.limits.runtime() else {
            return;
        };
        let limits = Arc::clone(&self.limits);
        let (tpm, spent_key, held, holds, hold) = (
            self.tpm.clone(),
            self.spent.clone(),
            self.held.clone(),
            self.holds.clone(),
            self.hold.clone(),
        );
        let (tpm_limit, ttl) = (self.tpm_limit, self.ttl_ms);
        let call = limits.pending.enter();
        rt.spawn(async move {
            let _counted = call;
            let mut call = limits.settle.prepare_invoke();
            call.key(&tpm)
                .key(&spent_key)
                .key(&held)
                .key(&holds)
                .arg(tpm_limit)
                .arg(tokens_back)
                .arg(reserved)
                .arg(spent)
                .arg(ttl)
                .arg(&hold);
            let r: Result<i64, _> = limits.conn.invoke(&call).await;
            if let Err(e) = r {
                counter!("switchyard_redis_errors_total").increment(1);
                tracing::error!(error = %e, "could not settle a request's limits in redis");
            }
        });
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use switchyard_ledger::keys::{BudgetPeriod, KeyRecord};

    fn ahead() -> i64 {
        now_ms() + 60_000
    }

    fn behind() -> i64 {
        now_ms() - 60_000
    }

    /// A Redis key prefix of this test run alone.
    fn unique(what: &str) -> String {
        format!(
            "sytest_{what}_{}_{:x}",
            std::process::id(),
            rand::random::<u32>()
        )
    }

    /// A replica that admits from 5-second leases.
    async fn leased(prefix: &str) -> Arc<RedisLimits> {
        let limits =
            RedisLimits::connect("redis://127.0.0.1:6379", prefix, OnRedisError::Deny, None)
                .await
                .unwrap();
        Arc::new(limits.with_leases(Duration::from_secs(5)))
    }

    async fn replica(prefix: &str, clock: fn() -> i64) -> Arc<RedisLimits> {
        let mut limits =
            RedisLimits::connect("redis://127.0.0.1:6379", prefix, OnRedisError::Deny, None)
                .await
                .unwrap();
        limits.clock = clock;
        Arc::new(limits)
    }

    fn key(rpm: u64) -> Arc<KeyState> {
        let record = KeyRecord {
            id: format!("{:012x}", rand::random::<u64>() >> 16),
            name: "clock".into(),
            team: None,
            models: Vec::new(),
            rpm: Some(rpm),
            tpm: None,
            budget_nanos: None,
            budget_period: BudgetPeriod::Total,
            expires_ms: None,
            revoked_ms: None,
            created_ms: 0,
        };
        Arc::new(KeyState::new(record, 0, now_ms()))
    }

    /// Whether `limits` admits one request of `key`.
    async fn admitted(limits: &Arc<RedisLimits>, key: &Arc<KeyState>) -> bool {
        match limits.admit(Arc::clone(key), "m", 1, 0).await {
            Ok(_) => true,
            Err(GatewayError::Denied { status, .. }) if status == StatusCode::TOO_MANY_REQUESTS => {
                false
            }
            Err(e) => panic!("{e:?}"),
        }
    }

    #[tokio::test]
    async fn replicas_whose_clocks_differ_by_a_minute_share_one_bucket_on_the_redis_clock() {
        let prefix = unique("clock");
        for (first, second) in [
            (now_ms as fn() -> i64, ahead as fn() -> i64),
            (behind, now_ms),
        ] {
            let (a, b) = (
                replica(&prefix, first).await,
                replica(&prefix, second).await,
            );
            let k = key(10);
            for _ in 0..10 {
                assert!(admitted(&a, &k).await);
            }
            assert!(!admitted(&a, &k).await, "the bucket is empty");
            // A replica whose clock is a minute later than the one that emptied the
            // bucket must not find it refilled (with each replica's own clock it did).
            assert!(!admitted(&b, &k).await, "refilled by a clock difference");
        }
    }

    #[tokio::test]
    async fn leases_admit_from_memory_and_two_replicas_never_spend_past_the_budget() {
        let prefix = unique("lease");
        let (a, b) = (leased(&prefix).await, leased(&prefix).await);
        // 600 RPM and a budget of 800,000: a lease is 10 requests (an eighth of the budget
        // at 10,000 each at most); each request costs 7,000.
        let mut record = key(600).record.clone();
        record.budget_nanos = Some(800_000);
        let k = Arc::new(KeyState::new(record, 0, now_ms()));
        let admit = |replica: &Arc<RedisLimits>| {
            let (replica, k) = (Arc::clone(replica), Arc::clone(&k));
            async move {
                match replica.admit(k, "m", 1, 10_000).await {
                    Ok(adm) => {
                        adm.settle(1, 7_000);
                        true
                    }
                    Err(GatewayError::Denied { status, .. }) => {
                        assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
                        false
                    }
                    Err(e) => panic!("{e:?}"),
                }
            }
        };
        let calls = || {
            a.calls.load(std::sync::atomic::Ordering::Relaxed)
                + b.calls.load(std::sync::atomic::Ordering::Relaxed)
        };
        // While the budget is plentiful, requests are admitted from memory: a Redis call
        // for a lease now and then, not one per request.
        for i in 0..60 {
            assert!(admit(if i % 2 == 0 { &a } else { &b }).await);
        }
        assert!(calls() * 4 <= 60, "{} Redis calls for 60 requests", calls());
        // Then on to the end of the budget, the replicas taking turns.
        let (mut admitted, mut refused_in_a_row) = (60u64, 0);
        for i in 0..400 {
            if admit(if i % 2 == 0 { &a } else { &b }).await {
                admitted += 1;
                refused_in_a_row = 0;
            } else {
                refused_in_a_row += 1;
                if refused_in_a_row == 4 {
                    break;
                }
            }
        }
        assert!(admitted >= 100, "the budget is used: {admitted} requests");
        let (sa, sb) = (
            a.settled(Duration::from_secs(5)).await,
            b.settled(Duration::from_secs(5)).await,
        );
        assert!(
            sa && sb,
            "settled {sa} {sb}: pending {} {}",
            a.pending.count.load(std::sync::atomic::Ordering::Relaxed),
            b.pending.count.load(std::sync::atomic::Ordering::Relaxed)
        );
        let n = a.names(&k, k.record.budget_period.start(now_ms()));
        let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let spent: u64 = redis::cmd("GET")
            .arg(&n.spent)
            .query_async(&mut conn)
            .await
            .unwrap();
        let held: u64 = redis::cmd("GET")
            .arg(&n.held)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(spent, admitted * 7_000, "every request's spend, once");
        assert!(spent <= 800_000, "never past the budget");
        assert_eq!(held, 0, "every lease given back");
    }

    #[tokio::test]
    async fn requests_that_arrive_together_share_one_lease() {
        let limits = leased(&unique("lease_herd")).await;
        let k = key(6_000);
        let all = (0..50).map(|_| limits.admit(Arc::clone(&k), "m", 1, 0));
        let admitted = futures_util::future::join_all(all).await;
        assert!(admitted.iter().all(Result::is_ok));
        let calls = limits.calls.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            calls <= 3,
            "{calls} Redis calls for 50 requests arriving together"
        );
        drop(admitted);
        assert!(limits.settled(Duration::from_secs(5)).await);
    }
}
