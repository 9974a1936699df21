//! The stores a config names, opened at start-up: the usage log (SQLite, or PostgreSQL
//! with a local spool), the key store beside it, and the Redis-shared limits. Opening and
//! loading block, so they run off the runtime's workers.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use switchyard_ledger::UsageLog;
use switchyard_ledger::keys::KeyStore;

use super::StartError;
use crate::config::Config;
use crate::keys::Keyring;
use crate::keys::redis::{OnRedisError, RedisLimits, SpendSource};

/// What [`open`] opened.
pub(super) struct Stores {
    /// The usage log, unless `[usage] store = "none"`.
    pub(super) usage: Option<UsageLog>,
    /// Gateway keys, when `[keys] enabled`.
    pub(super) keys: Option<Keyring>,
    /// Keys' limits in Redis, with `[limits] backend = "redis"`.
    pub(super) shared_limits: Option<Arc<RedisLimits>>,
}

/// Open every store `config` names; `env` looks up environment variables.
pub(super) async fn open(
    config: &Config,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<Stores, StartError> {
    let db_path = config
        .usage
        .path
        .clone()
        .unwrap_or_else(|| crate::config::default_usage_path(env));
    let usage = usage_log(config, &db_path).await?;
    let keys = keyring(config, &db_path).await?;
    let shared_limits = match (&config.limits.redis_url, &keys) {
        (Some(url), Some(_)) => Some(redis_limits(config, url, db_path).await?),
        _ => None,
    };
    Ok(Stores {
        usage,
        keys,
        shared_limits,
    })
}

/// The usage log: SQLite at `db_path`, or PostgreSQL with a spool beside `db_path`.
async fn usage_log(config: &Config, db_path: &Path) -> Result<Option<UsageLog>, StartError> {
    let usage = &config.usage;
    if !usage.enabled {
        return Ok(None);
    }
    let Some((url, table)) = &usage.postgres else {
        return UsageLog::open_with(
            db_path,
            usage.buffer_events,
            switchyard_ledger::SPOOL_MAX_BYTES,
        )
        .map(Some)
        .map_err(|e| StartError::Usage(e.to_string()));
    };
    let mut spool = db_path.as_os_str().to_owned();
    spool.push(".pg.spool");
    let (url, table, spool) = (url.clone(), table.clone(), PathBuf::from(spool));
    let options = usage.postgres_options.clone();
    let buffer = usage.buffer_events;
    let opened = tokio::task::spawn_blocking(move || {
        UsageLog::open_postgres_with(&url, &table, &spool, &options, buffer)
    })
    .await
    .map_err(|e| StartError::Usage(e.to_string()))?;
    opened
        .map(Some)
        .map_err(|e| StartError::Usage(e.to_string()))
}

/// Keys live beside the usage log: in PostgreSQL when it is there (shared by replicas on
/// several machines), else in the SQLite database.
async fn keyring(config: &Config, db_path: &Path) -> Result<Option<Keyring>, StartError> {
    if !config.keys.enabled {
        return Ok(None);
    }
    let postgres = config.usage.postgres.clone();
    let options = config.usage.postgres_options.clone();
    let db_path = db_path.to_path_buf();
    // Opening and loading block (and the PostgreSQL client runs its own runtime).
    let ring = tokio::task::spawn_blocking(move || {
        let store = match &postgres {
            Some((url, table)) => KeyStore::open_postgres_with(url, table, &options),
            None => KeyStore::open(&db_path),
        }
        .map_err(|e| e.to_string())?;
        Keyring::load(store)
    })
    .await
    .map_err(|e| StartError::Usage(e.to_string()))?;
    ring.map(Some).map_err(StartError::Usage)
}

/// Limits and budgets shared through Redis at `url` (or `[limits] redis_cluster`), with
/// spend Redis lost re-seeded from the usage log.
async fn redis_limits(
    config: &Config,
    url: &str,
    db_path: PathBuf,
) -> Result<Arc<RedisLimits>, StartError> {
    let limits = &config.limits;
    let on_error = if limits.deny_on_redis_error {
        OnRedisError::Deny
    } else {
        OnRedisError::Local
    };
    let prefix = &limits.redis_prefix;
    let ca = limits.redis_ca_file.as_deref();
    let connected = if limits.redis_cluster.is_empty() {
        RedisLimits::connect(url, prefix, on_error, ca).await
    } else {
        RedisLimits::connect_cluster(&limits.redis_cluster, prefix, on_error, ca).await
    };
    let options = config.usage.postgres_options.clone();
    let wait = options
        .connect_timeout
        .saturating_add(options.query_timeout);
    let spend = SpendSource::open(config.usage.postgres.clone(), options, db_path, wait)
        .await
        .map_err(StartError::Usage)?;
    Ok(Arc::new(
        connected
            .map_err(StartError::Limits)?
            .with_reservation_ttl(limits.reservation_ttl)
            .with_leases(limits.lease)
            .with_spend_source(spend),
    ))
}
