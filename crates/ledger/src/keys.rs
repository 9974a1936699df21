//! Gateway keys ("virtual keys"): issued once, stored only as a SHA-256 hash, each with an
//! owner team, allowed models, rate limits, a budget and an optional expiry.
//!
//! A key reads `sy-<id>-<secret>`: `id` (12 hex digits) names it in lists and logs, the
//! 32-character secret is drawn from the operating system's random source. Only
//! `sha256(key)` is stored, so a lost key cannot be shown again, only rotated.

use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::LedgerError;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS keys (
    id            TEXT PRIMARY KEY,
    hash          TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    team          TEXT,
    models        TEXT NOT NULL,
    rpm           INTEGER,
    tpm           INTEGER,
    budget_nanos  INTEGER,
    budget_period TEXT NOT NULL,
    expires_ms    INTEGER,
    revoked_ms    INTEGER,
    created_ms    INTEGER NOT NULL,
    updated_ms    INTEGER NOT NULL
);
";

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Over what time a key's budget applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BudgetPeriod {
    /// A UTC calendar day.
    Day,
    /// A UTC calendar month.
    #[default]
    Month,
    /// The key's whole life.
    Total,
}

impl BudgetPeriod {
    /// Config/DB spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetPeriod::Day => "day",
            BudgetPeriod::Month => "month",
            BudgetPeriod::Total => "total",
        }
    }

    /// Start of the period containing `now_ms` (UTC), in ms since the epoch.
    pub fn start(self, now_ms: i64) -> i64 {
        match self {
            BudgetPeriod::Day => now_ms - now_ms.rem_euclid(86_400_000),
            BudgetPeriod::Month => {
                let day = crate::report::day(now_ms);
                let (y, m) = (&day[..4], &day[5..7]);
                let (y, m) = (
                    y.parse::<i64>().unwrap_or(1970),
                    m.parse::<i64>().unwrap_or(1),
                );
                days_from_civil(y, m, 1) * 86_400_000
            }
            BudgetPeriod::Total => 0,
        }
    }
}

impl std::str::FromStr for BudgetPeriod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "day" => Ok(BudgetPeriod::Day),
            "month" => Ok(BudgetPeriod::Month),
            "total" => Ok(BudgetPeriod::Total),
            o => Err(format!("budget period '{o}' is not day, month or total")),
        }
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// What a key may do (everything but its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Public id (`sy-<id>-…`).
    pub id: String,
    /// Human label.
    pub name: String,
    /// Owner team, for spend reports.
    pub team: Option<String>,
    /// Models it may use (canonical ids); empty = all.
    pub models: Vec<String>,
    /// Requests per minute; `None` = no limit.
    pub rpm: Option<u64>,
    /// Tokens per minute (prompt + max output reserved up front); `None` = no limit.
    pub tpm: Option<u64>,
    /// Spend allowed per period, nano-dollars; `None` = no budget.
    pub budget_nanos: Option<u64>,
    /// The budget's period.
    pub budget_period: BudgetPeriod,
    /// Expiry, ms since the epoch.
    pub expires_ms: Option<i64>,
    /// When it was revoked.
    pub revoked_ms: Option<i64>,
    /// When it was created.
    pub created_ms: i64,
}

impl KeyRecord {
    /// Whether it may use `model` (a canonical id).
    pub fn may_use(&self, model: &str) -> bool {
        self.models.is_empty() || self.models.iter().any(|m| m == model)
    }

    /// Whether it may be used at `now_ms`, and why not.
    pub fn usable(&self, now_ms: i64) -> Result<(), &'static str> {
        if self.revoked_ms.is_some() {
            return Err("this key has been revoked");
        }
        if self.expires_ms.is_some_and(|e| e <= now_ms) {
            return Err("this key has expired");
        }
        Ok(())
    }
}

/// The settings of a new key.
#[derive(Debug, Clone, Default)]
pub struct NewKey {
    /// Human label.
    pub name: String,
    /// Owner team.
    pub team: Option<String>,
    /// Allowed models; empty = all.
    pub models: Vec<String>,
    /// Requests per minute.
    pub rpm: Option<u64>,
    /// Tokens per minute.
    pub tpm: Option<u64>,
    /// Budget per period, nano-dollars.
    pub budget_nanos: Option<u64>,
    /// Budget period.
    pub budget_period: BudgetPeriod,
    /// Expiry, ms since the epoch.
    pub expires_ms: Option<i64>,
}

/// SHA-256 of a key, hex.
pub fn hash_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `key` has the shape of a gateway key (cheap check before hashing).
pub fn looks_like_key(key: &str) -> bool {
    let mut parts = key.splitn(3, '-');
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some("sy"), Some(id), Some(secret))
            if id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit())
                && secret.len() == 32 && secret.bytes().all(|b| b.is_ascii_alphanumeric())
    )
}

fn new_secret(id: &str) -> String {
    let mut rng = StdRng::from_os_rng();
    let secret: String = (0..32)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    format!("sy-{id}-{secret}")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Keys in a SQLite database (the same file as the usage log).
#[derive(Debug)]
pub struct KeyStore {
    conn: Connection,
    path: String,
}

impl KeyStore {
    /// Open (creating if needed) the key table in the database at `path`.
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        // The usage store creates the file and its directory, and sets WAL mode.
        drop(crate::store::SqliteStore::open(path)?);
        let p = path.display().to_string();
        let conn = Connection::open(path).map_err(|source| LedgerError::Sqlite {
            path: p.clone(),
            source,
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .and_then(|()| conn.execute_batch(SCHEMA))
            .map_err(|source| LedgerError::Sqlite {
                path: p.clone(),
                source,
            })?;
        Ok(KeyStore { conn, path: p })
    }

    fn err(&self, source: rusqlite::Error) -> LedgerError {
        LedgerError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Issue a key: returns its record and the key itself, which is not stored and
    /// cannot be shown again.
    pub fn create(&self, new: &NewKey) -> Result<(KeyRecord, String), LedgerError> {
        let mut rng = StdRng::from_os_rng();
        let id: String = (0..12)
            .map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16)]))
            .collect();
        let key = new_secret(&id);
        let now = now_ms();
        let models = serde_json::to_string(&new.models).unwrap_or_else(|_| "[]".into());
        self.conn
            .execute(
                "INSERT INTO keys (id, hash, name, team, models, rpm, tpm, budget_nanos, budget_period,
                 expires_ms, revoked_ms, created_ms, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, NULL, ?11, ?11)",
                params![
                    id,
                    hash_key(&key),
                    new.name,
                    new.team,
                    models,
                    new.rpm.map(to_i64),
                    new.tpm.map(to_i64),
                    new.budget_nanos.map(to_i64),
                    new.budget_period.as_str(),
                    new.expires_ms,
                    now,
                ],
            )
            .map_err(|e| self.err(e))?;
        let record = self
            .get(&id)?
            .ok_or_else(|| LedgerError::Writer("the new key was not stored".into()))?;
        Ok((record, key))
    }

    /// One key by id.
    pub fn get(&self, id: &str) -> Result<Option<KeyRecord>, LedgerError> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM keys WHERE id = ?1"),
                [id],
                row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Every key with its hash, for the gateway's in-memory keyring.
    pub fn all_with_hashes(&self) -> Result<Vec<(String, KeyRecord)>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT hash, {COLUMNS} FROM keys ORDER BY created_ms"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, row_at(r, 1)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Every key, oldest first.
    pub fn list(&self) -> Result<Vec<KeyRecord>, LedgerError> {
        Ok(self
            .all_with_hashes()?
            .into_iter()
            .map(|(_, k)| k)
            .collect())
    }

    /// Revoke a key; `false` if there is no such key.
    pub fn revoke(&self, id: &str) -> Result<bool, LedgerError> {
        let now = now_ms();
        let n = self
            .conn
            .execute(
                "UPDATE keys SET revoked_ms = COALESCE(revoked_ms, ?2), updated_ms = ?2 WHERE id = ?1",
                params![id, now],
            )
            .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    /// Give a key a new secret (same id, limits and spend); the old secret stops
    /// working. Returns the new key, or `None` if there is no usable key of that id.
    pub fn rotate(&self, id: &str) -> Result<Option<String>, LedgerError> {
        let key = new_secret(id);
        let n = self
            .conn
            .execute(
                "UPDATE keys SET hash = ?2, updated_ms = ?3 WHERE id = ?1 AND revoked_ms IS NULL",
                params![id, hash_key(&key), now_ms()],
            )
            .map_err(|e| self.err(e))?;
        Ok((n > 0).then_some(key))
    }

    /// Latest change to any key (ms), to notice changes made by another process.
    pub fn version(&self) -> Result<(i64, i64), LedgerError> {
        self.conn
            .query_row(
                "SELECT COALESCE(MAX(updated_ms), 0), COUNT(*) FROM keys",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| self.err(e))
    }

    /// Spend (nano-dollars) of one key since `since_ms`, from the usage log.
    pub fn spent_since(&self, id: &str, since_ms: i64) -> Result<u64, LedgerError> {
        self.conn
            .query_row(
                "SELECT COALESCE(SUM(cost_nanos), 0) FROM usage WHERE key_id = ?1 AND ts_ms >= ?2",
                params![id, since_ms],
                |r| r.get::<_, i64>(0),
            )
            .map(|v| u64::try_from(v).unwrap_or(0))
            .map_err(|e| self.err(e))
    }
}

/// The columns of a [`KeyRecord`], in [`row_at`]'s order.
const COLUMNS: &str = "id, name, team, models, rpm, tpm, budget_nanos, budget_period, expires_ms, revoked_ms, created_ms";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<KeyRecord> {
    row_at(r, 0)
}

fn row_at(r: &rusqlite::Row<'_>, o: usize) -> rusqlite::Result<KeyRecord> {
    let models: String = r.get(o + 3)?;
    let period: String = r.get(o + 7)?;
    Ok(KeyRecord {
        id: r.get(o)?,
        name: r.get(o + 1)?,
        team: r.get(o + 2)?,
        models: serde_json::from_str(&models).unwrap_or_default(),
        rpm: r.get::<_, Option<i64>>(o + 4)?.map(from_i64),
        tpm: r.get::<_, Option<i64>>(o + 5)?.map(from_i64),
        budget_nanos: r.get::<_, Option<i64>>(o + 6)?.map(from_i64),
        budget_period: period.parse().unwrap_or_default(),
        expires_ms: r.get(o + 8)?,
        revoked_ms: r.get(o + 9)?,
        created_ms: r.get(o + 10)?,
    })
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn from_i64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_shown_once_stored_hashed_and_found_by_hash() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::open(&dir.path().join("db")).unwrap();
        let (rec, key) = store
            .create(&NewKey {
                name: "ci".into(),
                team: Some("search".into()),
                models: vec!["deepseek-v4-flash".into()],
                rpm: Some(60),
                budget_nanos: Some(5_000_000_000),
                ..NewKey::default()
            })
            .unwrap();
        assert!(looks_like_key(&key), "{key}");
        assert!(key.starts_with(&format!("sy-{}-", rec.id)));
        let all = store.all_with_hashes().unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].0, hash_key(&key));
        assert_eq!(all[0].1, rec);
        assert_eq!(
            (rec.rpm, rec.tpm, rec.budget_nanos),
            (Some(60), None, Some(5_000_000_000))
        );
        let raw = std::fs::read(dir.path().join("db")).unwrap();
        assert!(
            !raw.windows(key.len()).any(|w| w == key.as_bytes()),
            "the key itself is never stored"
        );
    }

    #[test]
    fn revoked_and_expired_keys_are_not_usable_and_rotation_replaces_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::open(&dir.path().join("db")).unwrap();
        let (rec, old) = store
            .create(&NewKey {
                name: "a".into(),
                expires_ms: Some(now_ms() + 60_000),
                ..NewKey::default()
            })
            .unwrap();
        assert!(rec.usable(now_ms()).is_ok());
        assert_eq!(rec.usable(now_ms() + 120_000), Err("this key has expired"));
        let new = store.rotate(&rec.id).unwrap().unwrap();
        assert_ne!(new, old);
        assert_eq!(store.all_with_hashes().unwrap()[0].0, hash_key(&new));
        assert!(store.revoke(&rec.id).unwrap());
        assert!(!store.revoke("nope").unwrap());
        let rec = store.get(&rec.id).unwrap().unwrap();
        assert_eq!(rec.usable(now_ms()), Err("this key has been revoked"));
        assert_eq!(
            store.rotate(&rec.id).unwrap(),
            None,
            "a revoked key stays revoked"
        );
    }

    #[test]
    fn key_shapes_are_checked_before_hashing() {
        assert!(looks_like_key(
            "sy-0123456789ab-abcdefghijABCDEFGHIJ0123456789xy"
        ));
        for bad in [
            "",
            "sk-abc",
            "sy-0123-abc",
            "sy-0123456789ab-short",
            "sy-0123456789zz-abcdefghijABCDEFGHIJ0123456789xy",
        ] {
            assert!(!looks_like_key(bad), "{bad}");
        }
    }

    #[test]
    fn budget_periods_start_at_utc_day_and_month_boundaries() {
        // 2026-11-30 13:00 UTC
        let t = 1_796_043_600_000;
        assert_eq!(BudgetPeriod::Day.start(t), 1_795_996_800_000);
        assert_eq!(
            crate::report::day(BudgetPeriod::Month.start(t)),
            "2026-11-01"
        );
        assert_eq!(BudgetPeriod::Month.start(t) % 86_400_000, 0);
        assert_eq!(BudgetPeriod::Total.start(t), 0);
    }
}
