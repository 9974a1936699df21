//! Gateway keys ("virtual keys"): issued once, stored only as a SHA-256 hash, each with an
//! owner team, allowed models, rate limits, a budget and an optional expiry.
//!
//! A key reads `sy-<id>-<secret>`: `id` (12 hex digits) names it in lists and logs, the
//! 32-character secret is drawn from the operating system's random source. Only
//! `sha256(key)` is stored, so a lost key cannot be shown again, only rotated.

//!
//! Keys live beside the usage log: in its SQLite database ([`KeyStore::open`]), or in
//! PostgreSQL next to the usage table ([`KeyStore::open_postgres`], table
//! `<usage table>_keys`), which gateway replicas on several machines share.

mod pg;
mod sqlite;

use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::LedgerError;

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

/// The storage a [`KeyStore`] uses. Blocking: call off the async runtime's workers.
trait Backend: Send {
    /// Store a new key row.
    fn insert(&self, id: &str, hash: &str, new: &NewKey, now: i64) -> Result<(), LedgerError>;
    /// One key by id.
    fn get(&self, id: &str) -> Result<Option<KeyRecord>, LedgerError>;
    /// Every key with its hash, oldest first.
    fn all_with_hashes(&self) -> Result<Vec<(String, KeyRecord)>, LedgerError>;
    /// Mark revoked (keeping the first revocation time); whether the key exists.
    fn revoke(&self, id: &str, now: i64) -> Result<bool, LedgerError>;
    /// Replace the hash of a key that is not revoked; whether there was one.
    fn set_hash(&self, id: &str, hash: &str, now: i64) -> Result<bool, LedgerError>;
    /// The key table's change counter: bumped in the same transaction as every insert,
    /// update or delete of a key row (by a trigger, so also by older binaries).
    fn version(&self) -> Result<i64, LedgerError>;
    /// Spend of `id` since `since_ms`, from the usage log.
    fn spent_since(&self, id: &str, since_ms: i64) -> Result<u64, LedgerError>;
    /// Where, for messages.
    fn describe(&self) -> String;
}

/// The gateway's keys, in the usage log's SQLite database or in PostgreSQL.
pub struct KeyStore {
    backend: Box<dyn Backend>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("at", &self.backend.describe())
            .finish()
    }
}

impl KeyStore {
    /// Open (creating if needed) the key table in the SQLite database at `path`.
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        Ok(KeyStore {
            backend: Box::new(sqlite::SqliteKeys::open(path)?),
        })
    }

    /// Connect to PostgreSQL at `url` and open (creating if needed) the key table beside
    /// the usage table `usage_table` (`<usage_table>_keys`); spend is read from that usage
    /// table, so every replica sees the same keys and the same spend.
    pub fn open_postgres(url: &str, usage_table: &str) -> Result<Self, LedgerError> {
        Self::open_postgres_with(url, usage_table, &crate::PgOptions::default())
    }

    /// [`KeyStore::open_postgres`] with explicit time limits (and TLS settings). A
    /// connection that breaks later is replaced on the next call, with back-off while
    /// the server cannot be reached.
    pub fn open_postgres_with(
        url: &str,
        usage_table: &str,
        options: &crate::PgOptions,
    ) -> Result<Self, LedgerError> {
        Ok(KeyStore {
            backend: Box::new(pg::PgKeys::connect(url, usage_table, options)?),
        })
    }

    /// Issue a key: returns its record and the key itself, which is not stored and
    /// cannot be shown again.
    pub fn create(&self, new: &NewKey) -> Result<(KeyRecord, String), LedgerError> {
        let mut rng = StdRng::from_os_rng();
        let id: String = (0..12)
            .map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16)]))
            .collect();
        let key = new_secret(&id);
        self.backend.insert(&id, &hash_key(&key), new, now_ms())?;
        let record = self
            .get(&id)?
            .ok_or_else(|| LedgerError::Writer("the new key was not stored".into()))?;
        Ok((record, key))
    }

    /// One key by id.
    pub fn get(&self, id: &str) -> Result<Option<KeyRecord>, LedgerError> {
        self.backend.get(id)
    }

    /// Every key with its hash, for the gateway's in-memory keyring.
    pub fn all_with_hashes(&self) -> Result<Vec<(String, KeyRecord)>, LedgerError> {
        self.backend.all_with_hashes()
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
        self.backend.revoke(id, now_ms())
    }

    /// Give a key a new secret (same id, limits and spend); the old secret stops
    /// working. Returns the new key, or `None` if there is no usable key of that id.
    pub fn rotate(&self, id: &str) -> Result<Option<String>, LedgerError> {
        let key = new_secret(id);
        let changed = self.backend.set_hash(id, &hash_key(&key), now_ms())?;
        Ok(changed.then_some(key))
    }

    /// The key table's change counter, to notice changes made by another process: it
    /// grows with every change to any key, whatever the clocks of the processes say.
    pub fn version(&self) -> Result<i64, LedgerError> {
        self.backend.version()
    }

    /// Spend (nano-dollars) of one key since `since_ms`, from the usage log.
    pub fn spent_since(&self, id: &str, since_ms: i64) -> Result<u64, LedgerError> {
        self.backend.spent_since(id, since_ms)
    }

    /// Where the keys are (`sqlite <path>`, `postgres <url> table <name>`), for messages.
    pub fn location(&self) -> String {
        self.backend.describe()
    }
}

/// The columns of a key row, in the order the backends read them.
const COLUMNS: &str = "id, name, team, models, rpm, tpm, budget_nanos, budget_period, expires_ms, revoked_ms, created_ms";

/// A key row's values, as both databases give them.
struct RowValues {
    id: String,
    name: String,
    team: Option<String>,
    models: String,
    rpm: Option<i64>,
    tpm: Option<i64>,
    budget_nanos: Option<i64>,
    budget_period: String,
    expires_ms: Option<i64>,
    revoked_ms: Option<i64>,
    created_ms: i64,
}

impl RowValues {
    fn into_record(self) -> KeyRecord {
        KeyRecord {
            id: self.id,
            name: self.name,
            team: self.team,
            models: serde_json::from_str(&self.models).unwrap_or_default(),
            rpm: self.rpm.map(from_i64),
            tpm: self.tpm.map(from_i64),
            budget_nanos: self.budget_nanos.map(from_i64),
            budget_period: self.budget_period.parse().unwrap_or_default(),
            expires_ms: self.expires_ms,
            revoked_ms: self.revoked_ms,
            created_ms: self.created_ms,
        }
    }
}

/// `new.models` as stored (a JSON list).
fn models_json(new: &NewKey) -> String {
    serde_json::to_string(&new.models).unwrap_or_else(|_| "[]".into())
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
    fn a_change_stamped_at_or_before_the_latest_still_changes_the_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let (a, b) = (
            KeyStore::open(&path).unwrap(),
            KeyStore::open(&path).unwrap(),
        );
        let (first, _) = a.create(&NewKey::default()).unwrap();
        a.create(&NewKey::default()).unwrap();
        let seen = b.version().unwrap();
        // A replica whose clock is behind revokes the first key: its stamp is older than
        // the newest row's, and the number of keys does not change.
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute(
                "UPDATE keys SET revoked_ms = ?2, updated_ms = ?2 WHERE id = ?1",
                rusqlite::params![first.id, first.created_ms - 1],
            )
            .unwrap();
        let after = b.version().unwrap();
        assert!(after > seen, "{seen} -> {after}");
        assert!(b.revoke(&first.id).unwrap());
        assert!(
            b.version().unwrap() > after,
            "every change counts, even a repeated one"
        );
    }

    #[test]
    fn a_key_table_from_before_the_version_counter_gets_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let old = KeyStore::open(&path).unwrap();
        let (rec, _) = old.create(&NewKey::default()).unwrap();
        drop(old);
        // What an older release left: the key table without counter or triggers.
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch(
                "DROP TRIGGER keys_version_insert; DROP TRIGGER keys_version_update;
                 DROP TRIGGER keys_version_delete; DROP TABLE keys_version;",
            )
            .unwrap();
        let store = KeyStore::open(&path).unwrap();
        let v = store.version().unwrap();
        assert!(store.revoke(&rec.id).unwrap());
        assert!(store.version().unwrap() > v);
        assert_eq!(store.list().unwrap().len(), 1, "the keys are kept");
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
