//! The usage log in PostgreSQL, for several gateway replicas writing one log.

use tokio_postgres::Client;

use crate::error::LedgerError;
use crate::event::UsageEvent;
use crate::pgconn::{OpError, PgConn, PgOptions};
use crate::usage_store::UsageStore;

/// A PostgreSQL usage table.
pub struct PgStore {
    conn: PgConn,
    table: String,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
}

/// Whether `table` is a plain identifier (lowercase letters, digits, `_`).
pub(crate) fn check_table(table: &str) -> Result<(), LedgerError> {
    if table.is_empty()
        || !table
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(LedgerError::Postgres(format!(
            "table name '{table}' must be lowercase letters, digits and '_'"
        )));
    }
    Ok(())
}

/// Statements creating the usage table `table` (and its indexes) if missing.
pub(crate) fn usage_schema(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (
            id BIGSERIAL PRIMARY KEY,
            ts_ms BIGINT NOT NULL,
            request_id TEXT NOT NULL,
            key_id TEXT,
            team TEXT,
            model TEXT NOT NULL,
            provider TEXT NOT NULL,
            deployment TEXT NOT NULL,
            region TEXT NOT NULL,
            prompt_tokens BIGINT NOT NULL,
            cached_tokens BIGINT NOT NULL,
            completion_tokens BIGINT NOT NULL,
            reasoning_tokens BIGINT NOT NULL,
            cost_nanos BIGINT NOT NULL,
            latency_ms BIGINT NOT NULL,
            ttft_ms BIGINT,
            status INTEGER NOT NULL,
            outcome TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            estimated BOOLEAN NOT NULL
        );
        ALTER TABLE {table} ADD COLUMN IF NOT EXISTS route TEXT;
        ALTER TABLE {table} ADD COLUMN IF NOT EXISTS endpoint TEXT NOT NULL DEFAULT 'chat.completions';
        CREATE INDEX IF NOT EXISTS {table}_ts ON {table} (ts_ms);
        CREATE INDEX IF NOT EXISTS {table}_key ON {table} (key_id, ts_ms);
        CREATE INDEX IF NOT EXISTS {table}_request ON {table} (request_id);"
    )
}

/// `sql` in one transaction holding an advisory lock named after `table`, so that
/// replicas starting together do not create the same objects at once.
pub(crate) fn locked_setup(table: &str, sql: &str) -> String {
    // FNV-1a: any stable hash will do; a collision only serialises two set-ups.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in table.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let lock = i64::from_ne_bytes(h.to_ne_bytes());
    format!("BEGIN; SELECT pg_advisory_xact_lock({lock}); {sql}; COMMIT;")
}

impl PgStore {
    /// Connect to `url` and create `table` (and its index) if missing. The table name
    /// must be a plain identifier.
    pub fn connect(url: &str, table: &str) -> Result<Self, LedgerError> {
        Self::connect_with(url, table, &PgOptions::default())
    }

    /// [`PgStore::connect`] with explicit time limits (and TLS settings).
    pub fn connect_with(url: &str, table: &str, options: &PgOptions) -> Result<Self, LedgerError> {
        check_table(table)?;
        let conn = PgConn::connect(url, options, locked_setup(table, &usage_schema(table)))?;
        Ok(PgStore {
            conn,
            table: table.to_string(),
        })
    }

    fn write(&mut self, events: &[UsageEvent]) -> Result<(), LedgerError> {
        let sql = format!(
            "INSERT INTO {} (ts_ms, request_id, key_id, team, model, provider, deployment, region,
             prompt_tokens, cached_tokens, completion_tokens, reasoning_tokens, cost_nanos,
             latency_ms, ttft_ms, status, outcome, attempts, estimated, route, endpoint)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)",
            self.table
        );
        self.conn.run("cannot write usage", async |c: &mut Client| {
            let tx = c.transaction().await?;
            let stmt = tx.prepare(&sql).await?;
            for e in events {
                let int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
                tx.execute(
                    &stmt,
                    &[
                        &e.ts_ms,
                        &e.request_id,
                        &e.key_id,
                        &e.team,
                        &e.model,
                        &e.provider,
                        &e.deployment,
                        &e.region,
                        &int(e.prompt_tokens),
                        &int(e.cached_tokens),
                        &int(e.completion_tokens),
                        &int(e.reasoning_tokens),
                        &int(e.cost_nanos),
                        &int(e.latency_ms),
                        &e.ttft_ms.map(int),
                        &i32::from(e.status),
                        &e.outcome,
                        &i32::try_from(e.attempts).unwrap_or(i32::MAX),
                        &e.estimated,
                        &e.route,
                        &e.endpoint,
                    ],
                )
                .await?;
            }
            tx.commit().await.map_err(OpError::at_commit)
        })
    }

    /// Every event with `ts_ms >= since_ms`, oldest first.
    pub fn events_since(&mut self, since_ms: i64) -> Result<Vec<UsageEvent>, LedgerError> {
        let sql = self.select("ts_ms >= $1");
        let rows = self
            .conn
            .run("cannot read the usage table", async |c: &mut Client| {
                Ok(c.query(&sql, &[&since_ms]).await?)
            })?;
        Ok(Self::events(&rows))
    }

    /// Every event of request `request_id`, oldest first.
    pub fn events_of_request(&mut self, request_id: &str) -> Result<Vec<UsageEvent>, LedgerError> {
        let sql = self.select("request_id = $1");
        let rows = self
            .conn
            .run("cannot read the usage table", async |c: &mut Client| {
                Ok(c.query(&sql, &[&request_id]).await?)
            })?;
        Ok(Self::events(&rows))
    }

    /// Spend per UTC day, key, team and model of the events with `since_ms <= ts_ms <
    /// until_ms` (summed in SQL).
    pub fn spend_between(
        &mut self,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<crate::report::SpendRow>, LedgerError> {
        let sql = format!(
            "SELECT ts_ms / 86400000 AS day, key_id, team, model, SUM(cost_nanos)::BIGINT
             FROM {} WHERE ts_ms >= $1 AND ts_ms < $2
             GROUP BY day, key_id, team, model",
            self.table
        );
        let rows = self
            .conn
            .run("cannot read the usage table", async |c: &mut Client| {
                Ok(c.query(&sql, &[&since_ms, &until_ms]).await?)
            })?;
        Ok(rows
            .iter()
            .map(|r| crate::report::SpendRow {
                day: r.get(0),
                key_id: r.get(1),
                team: r.get(2),
                model: r.get(3),
                cost_nanos: u64::try_from(r.get::<_, i64>(4)).unwrap_or(0),
            })
            .collect())
    }

    /// The query for the events that match `filter` (SQL over the columns).
    fn select(&self, filter: &str) -> String {
        format!(
            "SELECT ts_ms, request_id, key_id, team, model, provider, deployment, region,
             prompt_tokens, cached_tokens, completion_tokens, reasoning_tokens, cost_nanos,
             latency_ms, ttft_ms, status, outcome, attempts, estimated, route, endpoint
             FROM {} WHERE {filter} ORDER BY ts_ms, id",
            self.table
        )
    }

    /// Rows of [`Self::select`] as events.
    fn events(rows: &[tokio_postgres::Row]) -> Vec<UsageEvent> {
        let nat = |v: i64| u64::try_from(v).unwrap_or(0);
        rows.iter()
            .map(|r| UsageEvent {
                ts_ms: r.get(0),
                request_id: r.get(1),
                key_id: r.get(2),
                team: r.get(3),
                model: r.get(4),
                provider: r.get(5),
                deployment: r.get(6),
                region: r.get(7),
                prompt_tokens: nat(r.get(8)),
                cached_tokens: nat(r.get(9)),
                completion_tokens: nat(r.get(10)),
                reasoning_tokens: nat(r.get(11)),
                cost_nanos: nat(r.get(12)),
                latency_ms: nat(r.get(13)),
                ttft_ms: r.get::<_, Option<i64>>(14).map(nat),
                status: u16::try_from(r.get::<_, i32>(15)).unwrap_or(0),
                outcome: r.get(16),
                attempts: u32::try_from(r.get::<_, i32>(17)).unwrap_or(0),
                estimated: r.get(18),
                route: r.get(19),
                endpoint: r.get(20),
            })
            .collect()
    }
}

impl UsageStore for PgStore {
    fn insert(&mut self, events: &[UsageEvent]) -> Result<(), LedgerError> {
        if events.is_empty() {
            return Ok(());
        }
        // A connection found broken is replaced and the batch tried once more.
        self.write(events)
    }

    fn describe(&self) -> String {
        format!("postgres {} table {}", self.conn.label(), self.table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_table_names_are_refused_before_connecting() {
        let e =
            PgStore::connect("postgres://nowhere.invalid/x", "usage; drop table x").unwrap_err();
        assert!(e.to_string().contains("table name"));
    }
}
