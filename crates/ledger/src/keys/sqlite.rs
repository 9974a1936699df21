//! Keys in the usage log's SQLite database.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use super::{Backend, COLUMNS, NewKey, RowValues, models_json, to_i64};
use crate::error::LedgerError;
use crate::keys::KeyRecord;

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
-- A change counter bumped by every change to a key row, in the change's own
-- transaction: other processes compare it, not timestamps (clocks differ, and two
-- changes can share a millisecond).
CREATE TABLE IF NOT EXISTS keys_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT OR IGNORE INTO keys_version (id, version) VALUES (1, 0);
CREATE TRIGGER IF NOT EXISTS keys_version_insert AFTER INSERT ON keys
BEGIN UPDATE keys_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS keys_version_update AFTER UPDATE ON keys
BEGIN UPDATE keys_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS keys_version_delete AFTER DELETE ON keys
BEGIN UPDATE keys_version SET version = version + 1 WHERE id = 1; END;
";

/// A SQLite connection to the usage log's database.
pub(super) struct SqliteKeys {
    conn: Connection,
    path: String,
}

impl SqliteKeys {
    /// Open (creating if needed) the key table in the database at `path`.
    pub(super) fn open(path: &Path) -> Result<Self, LedgerError> {
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
        Ok(SqliteKeys { conn, path: p })
    }

    fn err(&self, source: rusqlite::Error) -> LedgerError {
        LedgerError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }
}

fn row_at(r: &rusqlite::Row<'_>, o: usize) -> rusqlite::Result<KeyRecord> {
    Ok(RowValues {
        id: r.get(o)?,
        name: r.get(o + 1)?,
        team: r.get(o + 2)?,
        models: r.get(o + 3)?,
        rpm: r.get(o + 4)?,
        tpm: r.get(o + 5)?,
        budget_nanos: r.get(o + 6)?,
        budget_period: r.get(o + 7)?,
        expires_ms: r.get(o + 8)?,
        revoked_ms: r.get(o + 9)?,
        created_ms: r.get(o + 10)?,
    }
    .into_record())
}

impl Backend for SqliteKeys {
    fn insert(&self, id: &str, hash: &str, new: &NewKey, now: i64) -> Result<(), LedgerError> {
        self.conn
            .execute(
                "INSERT INTO keys (id, hash, name, team, models, rpm, tpm, budget_nanos, budget_period,
                 expires_ms, revoked_ms, created_ms, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, NULL, ?11, ?11)",
                params![
                    id,
                    hash,
                    new.name,
                    new.team,
                    models_json(new),
                    new.rpm.map(to_i64),
                    new.tpm.map(to_i64),
                    new.budget_nanos.map(to_i64),
                    new.budget_period.as_str(),
                    new.expires_ms,
                    now,
                ],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    fn get(&self, id: &str) -> Result<Option<KeyRecord>, LedgerError> {
        self.conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM keys WHERE id = ?1"),
                [id],
                |r| row_at(r, 0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    fn all_with_hashes(&self) -> Result<Vec<(String, KeyRecord)>, LedgerError> {
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

    fn revoke(&self, id: &str, now: i64) -> Result<bool, LedgerError> {
        self.conn
            .execute(
                "UPDATE keys SET revoked_ms = COALESCE(revoked_ms, ?2), updated_ms = ?2 WHERE id = ?1",
                params![id, now],
            )
            .map(|n| n > 0)
            .map_err(|e| self.err(e))
    }

    fn set_hash(&self, id: &str, hash: &str, now: i64) -> Result<bool, LedgerError> {
        self.conn
            .execute(
                "UPDATE keys SET hash = ?2, updated_ms = ?3 WHERE id = ?1 AND revoked_ms IS NULL",
                params![id, hash, now],
            )
            .map(|n| n > 0)
            .map_err(|e| self.err(e))
    }

    fn version(&self) -> Result<i64, LedgerError> {
        self.conn
            .query_row("SELECT version FROM keys_version WHERE id = 1", [], |r| {
                r.get(0)
            })
            .map_err(|e| self.err(e))
    }

    fn spent_since(&self, id: &str, since_ms: i64) -> Result<u64, LedgerError> {
        self.conn
            .query_row(
                "SELECT COALESCE(SUM(cost_nanos), 0) FROM usage WHERE key_id = ?1 AND ts_ms >= ?2",
                params![id, since_ms],
                |r| r.get::<_, i64>(0),
            )
            .map(|v| u64::try_from(v).unwrap_or(0))
            .map_err(|e| self.err(e))
    }

    fn describe(&self) -> String {
        format!("sqlite {}", self.path)
    }
}
