//! Keys in PostgreSQL, in `<usage table>_keys` beside the usage table, so that gateway
//! replicas on several machines share keys and read spend from the one usage log.

use std::sync::{Mutex, PoisonError};

use tokio_postgres::Client;

use super::{Backend, COLUMNS, NewKey, RowValues, models_json, to_i64};
use crate::error::LedgerError;
use crate::keys::KeyRecord;
use crate::pg::{check_table, locked_setup, usage_schema};
use crate::pgconn::{OpError, PgConn, PgOptions};

/// A PostgreSQL connection (replaced when it breaks) and the two tables.
pub(super) struct PgKeys {
    conn: Mutex<PgConn>,
    keys: String,
    usage: String,
    /// Where, with any password hidden.
    label: String,
}

impl PgKeys {
    /// Connect, and create the usage table and the key table if missing.
    pub(super) fn connect(
        url: &str,
        usage_table: &str,
        options: &PgOptions,
    ) -> Result<Self, LedgerError> {
        check_table(usage_table)?;
        let keys = format!("{usage_table}_keys");
        let setup = format!(
            "{usage}
            CREATE TABLE IF NOT EXISTS {keys} (
                id            TEXT PRIMARY KEY,
                hash          TEXT NOT NULL UNIQUE,
                name          TEXT NOT NULL,
                team          TEXT,
                models        TEXT NOT NULL,
                rpm           BIGINT,
                tpm           BIGINT,
                budget_nanos  BIGINT,
                budget_period TEXT NOT NULL,
                expires_ms    BIGINT,
                revoked_ms    BIGINT,
                created_ms    BIGINT NOT NULL,
                updated_ms    BIGINT NOT NULL
            );
            -- A change counter bumped by every statement that changes key rows, in
            -- its own transaction: replicas compare it, not timestamps (clocks differ,
            -- and two changes can share a millisecond).
            CREATE TABLE IF NOT EXISTS {keys}_version (
                id      INTEGER PRIMARY KEY CHECK (id = 1),
                version BIGINT NOT NULL
            );
            INSERT INTO {keys}_version (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
            CREATE OR REPLACE FUNCTION {keys}_bump() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE {keys}_version SET version = version + 1 WHERE id = 1;
                RETURN NULL;
            END $$;
            CREATE OR REPLACE TRIGGER {keys}_bump AFTER INSERT OR UPDATE OR DELETE ON {keys}
                FOR EACH STATEMENT EXECUTE FUNCTION {keys}_bump();",
            usage = usage_schema(usage_table)
        );
        let setup = locked_setup(usage_table, &setup);
        let conn = PgConn::connect(url, options, setup)?;
        Ok(PgKeys {
            label: conn.label().to_string(),
            conn: Mutex::new(conn),
            keys,
            usage: usage_table.to_string(),
        })
    }

    fn with<T>(
        &self,
        what: &str,
        op: impl AsyncFn(&mut Client) -> Result<T, OpError>,
    ) -> Result<T, LedgerError> {
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        conn.run(&format!("{what} ({})", self.keys), op)
    }
}

fn record_at(r: &tokio_postgres::Row, o: usize) -> Result<KeyRecord, tokio_postgres::Error> {
    Ok(RowValues {
        id: r.try_get(o)?,
        name: r.try_get(o + 1)?,
        team: r.try_get(o + 2)?,
        models: r.try_get(o + 3)?,
        rpm: r.try_get(o + 4)?,
        tpm: r.try_get(o + 5)?,
        budget_nanos: r.try_get(o + 6)?,
        budget_period: r.try_get(o + 7)?,
        expires_ms: r.try_get(o + 8)?,
        revoked_ms: r.try_get(o + 9)?,
        created_ms: r.try_get(o + 10)?,
    }
    .into_record())
}

impl Backend for PgKeys {
    fn insert(&self, id: &str, hash: &str, new: &NewKey, now: i64) -> Result<(), LedgerError> {
        let sql = format!(
            "INSERT INTO {} (id, hash, name, team, models, rpm, tpm, budget_nanos, budget_period,
             expires_ms, revoked_ms, created_ms, updated_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, $11, $11)",
            self.keys
        );
        self.with("cannot store the key", async |c: &mut Client| {
            c.execute(
                &sql,
                &[
                    &id,
                    &hash,
                    &new.name,
                    &new.team,
                    &models_json(new),
                    &new.rpm.map(to_i64),
                    &new.tpm.map(to_i64),
                    &new.budget_nanos.map(to_i64),
                    &new.budget_period.as_str(),
                    &new.expires_ms,
                    &now,
                ],
            )
            .await
            .map(drop)
            .map_err(OpError::at_commit)
        })
    }

    fn get(&self, id: &str) -> Result<Option<KeyRecord>, LedgerError> {
        let sql = format!("SELECT {COLUMNS} FROM {} WHERE id = $1", self.keys);
        self.with("cannot read a key", async |c: &mut Client| {
            Ok(c.query_opt(&sql, &[&id])
                .await?
                .map(|r| record_at(&r, 0))
                .transpose()?)
        })
    }

    fn all_with_hashes(&self) -> Result<Vec<(String, KeyRecord)>, LedgerError> {
        let sql = format!(
            "SELECT hash, {COLUMNS} FROM {} ORDER BY created_ms, id",
            self.keys
        );
        self.with("cannot read the keys", async |c: &mut Client| {
            let rows = c.query(&sql, &[]).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push((r.try_get(0)?, record_at(r, 1)?));
            }
            Ok(out)
        })
    }

    fn revoke(&self, id: &str, now: i64) -> Result<bool, LedgerError> {
        let sql = format!(
            "UPDATE {} SET revoked_ms = COALESCE(revoked_ms, $2), updated_ms = $2 WHERE id = $1",
            self.keys
        );
        self.with("cannot revoke the key", async |c: &mut Client| {
            // Safe to repeat on a new connection: the first revocation time is kept.
            Ok(c.execute(&sql, &[&id, &now]).await.map(|n| n > 0)?)
        })
    }

    fn set_hash(&self, id: &str, hash: &str, now: i64) -> Result<bool, LedgerError> {
        let sql = format!(
            "UPDATE {} SET hash = $2, updated_ms = $3 WHERE id = $1 AND revoked_ms IS NULL",
            self.keys
        );
        self.with("cannot rotate the key", async |c: &mut Client| {
            // Safe to repeat: setting the same hash twice is setting it once.
            Ok(c.execute(&sql, &[&id, &hash, &now]).await.map(|n| n > 0)?)
        })
    }

    fn version(&self) -> Result<i64, LedgerError> {
        let sql = format!("SELECT version FROM {}_version WHERE id = 1", self.keys);
        self.with(
            "cannot read the key table's version",
            async |c: &mut Client| {
                let r = c.query_one(&sql, &[]).await?;
                Ok(r.try_get(0)?)
            },
        )
    }

    fn spent_since(&self, id: &str, since_ms: i64) -> Result<u64, LedgerError> {
        let sql = format!(
            "SELECT COALESCE(SUM(cost_nanos), 0)::BIGINT FROM {} WHERE key_id = $1 AND ts_ms >= $2",
            self.usage
        );
        self.with("cannot read a key's spend", async |c: &mut Client| {
            let r = c.query_one(&sql, &[&id, &since_ms]).await?;
            Ok(r.try_get::<_, i64>(0)
                .map(|v| u64::try_from(v).unwrap_or(0))?)
        })
    }

    fn describe(&self) -> String {
        format!("postgres {} table {}", self.label, self.keys)
    }
}
