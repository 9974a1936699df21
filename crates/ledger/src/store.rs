//! The embedded usage store: one SQLite file (WAL), one `usage` table.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};

use crate::error::LedgerError;
use crate::event::UsageEvent;
use crate::usage_store::UsageStore;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS usage (
    id                INTEGER PRIMARY KEY,
    ts_ms             INTEGER NOT NULL,
    request_id        TEXT    NOT NULL,
    key_id            TEXT,
    team              TEXT,
    model             TEXT    NOT NULL,
    provider          TEXT    NOT NULL,
    deployment        TEXT    NOT NULL,
    region            TEXT    NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    cached_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    reasoning_tokens  INTEGER NOT NULL,
    cost_nanos        INTEGER NOT NULL,
    latency_ms        INTEGER NOT NULL,
    ttft_ms           INTEGER,
    status            INTEGER NOT NULL,
    outcome           TEXT    NOT NULL,
    attempts          INTEGER NOT NULL,
    estimated         INTEGER NOT NULL,
    route             TEXT,
    endpoint          TEXT    NOT NULL DEFAULT 'chat.completions'
);
CREATE INDEX IF NOT EXISTS usage_ts ON usage (ts_ms);
CREATE INDEX IF NOT EXISTS usage_key ON usage (key_id, ts_ms);
CREATE INDEX IF NOT EXISTS usage_request ON usage (request_id);
";

/// A SQLite usage database.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

impl SqliteStore {
    /// Open (creating if needed) the database at `path`, in WAL mode.
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        let err = |source| LedgerError::Sqlite {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| LedgerError::Io {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        // Logs written before the `route` column existed get it now.
        let has_route = conn.prepare("SELECT route FROM usage LIMIT 0").is_ok();
        if !has_route {
            conn.execute_batch("ALTER TABLE usage ADD COLUMN route TEXT")
                .map_err(err)?;
        }
        // … and the `endpoint` column: they were all chat completions.
        let has_endpoint = conn.prepare("SELECT endpoint FROM usage LIMIT 0").is_ok();
        if !has_endpoint {
            conn.execute_batch(
                "ALTER TABLE usage ADD COLUMN endpoint TEXT NOT NULL DEFAULT 'chat.completions'",
            )
            .map_err(err)?;
        }
        Ok(SqliteStore {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, source: rusqlite::Error) -> LedgerError {
        LedgerError::Sqlite {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// Write `events` in one transaction.
    pub fn insert(&mut self, events: &[UsageEvent]) -> Result<(), LedgerError> {
        if events.is_empty() {
            return Ok(());
        }
        let path = self.path.display().to_string();
        let err = |source| LedgerError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO usage (ts_ms, request_id, key_id, team, model, provider, deployment,
                     region, prompt_tokens, cached_tokens, completion_tokens, reasoning_tokens,
                     cost_nanos, latency_ms, ttft_ms, status, outcome, attempts, estimated, route,
                     endpoint)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                     ?17, ?18, ?19, ?20, ?21)",
                )
                .map_err(err)?;
            for e in events {
                stmt.execute(params![
                    e.ts_ms,
                    e.request_id,
                    e.key_id,
                    e.team,
                    e.model,
                    e.provider,
                    e.deployment,
                    e.region,
                    sql_int(e.prompt_tokens),
                    sql_int(e.cached_tokens),
                    sql_int(e.completion_tokens),
                    sql_int(e.reasoning_tokens),
                    sql_int(e.cost_nanos),
                    sql_int(e.latency_ms),
                    e.ttft_ms.map(sql_int),
                    e.status,
                    e.outcome,
                    e.attempts,
                    e.estimated,
                    e.route,
                    e.endpoint,
                ])
                .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// Every event with `ts_ms >= since_ms`, oldest first.
    pub fn events_since(&self, since_ms: i64) -> Result<Vec<UsageEvent>, LedgerError> {
        self.select("ts_ms >= ?1", &since_ms)
    }

    /// Every event of request `request_id` (its own record, and any escalated answer or
    /// cancelled hedge), oldest first.
    pub fn events_of_request(&self, request_id: &str) -> Result<Vec<UsageEvent>, LedgerError> {
        self.select("request_id = ?1", &request_id)
    }

    /// The events that match `filter` (SQL over the columns, with `?1` = `param`).
    fn select(
        &self,
        filter: &str,
        param: &dyn rusqlite::ToSql,
    ) -> Result<Vec<UsageEvent>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT ts_ms, request_id, key_id, team, model, provider, deployment, region,
                 prompt_tokens, cached_tokens, completion_tokens, reasoning_tokens, cost_nanos,
                 latency_ms, ttft_ms, status, outcome, attempts, estimated, route, endpoint
                 FROM usage WHERE {filter} ORDER BY ts_ms, id"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([param], |r| {
                Ok(UsageEvent {
                    ts_ms: r.get(0)?,
                    request_id: r.get(1)?,
                    key_id: r.get(2)?,
                    team: r.get(3)?,
                    model: r.get(4)?,
                    provider: r.get(5)?,
                    deployment: r.get(6)?,
                    region: r.get(7)?,
                    prompt_tokens: from_sql_int(r.get(8)?),
                    cached_tokens: from_sql_int(r.get(9)?),
                    completion_tokens: from_sql_int(r.get(10)?),
                    reasoning_tokens: from_sql_int(r.get(11)?),
                    cost_nanos: from_sql_int(r.get(12)?),
                    latency_ms: from_sql_int(r.get(13)?),
                    ttft_ms: r.get::<_, Option<i64>>(14)?.map(from_sql_int),
                    status: r.get(15)?,
                    outcome: r.get(16)?,
                    attempts: r.get(17)?,
                    estimated: r.get(18)?,
                    route: r.get(19)?,
                    endpoint: r.get(20)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Spend per UTC day, key, team and model of the events with `since_ms <= ts_ms <
    /// until_ms` (summed in SQL: one row per group, however many events).
    pub fn spend_between(
        &self,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<crate::report::SpendRow>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT ts_ms / 86400000 AS day, key_id, team, model, SUM(cost_nanos)
                 FROM usage WHERE ts_ms >= ?1 AND ts_ms < ?2
                 GROUP BY day, key_id, team, model",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([since_ms, until_ms], |r| {
                Ok(crate::report::SpendRow {
                    day: r.get(0)?,
                    key_id: r.get(1)?,
                    team: r.get(2)?,
                    model: r.get(3)?,
                    cost_nanos: from_sql_int(r.get(4)?),
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Rows in the log.
    pub fn count(&self) -> Result<u64, LedgerError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM usage", [], |r| r.get::<_, i64>(0))
            .map(from_sql_int)
            .map_err(|e| self.err(e))
    }
}

/// SQLite integers are signed 64-bit; counts and nano-dollars beyond that saturate.
fn sql_int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn from_sql_int(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl UsageStore for SqliteStore {
    fn insert(&mut self, events: &[UsageEvent]) -> Result<(), LedgerError> {
        SqliteStore::insert(self, events)
    }

    fn describe(&self) -> String {
        format!("sqlite {}", self.path().display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn event(n: u64) -> UsageEvent {
        UsageEvent {
            ts_ms: 1_700_000_000_000 + n as i64,
            request_id: format!("r{n}"),
            key_id: Some("k1".into()),
            team: Some("search".into()),
            model: "deepseek-v4-flash".into(),
            provider: "deepseek".into(),
            deployment: "global".into(),
            region: "global".into(),
            prompt_tokens: 100,
            cached_tokens: 40,
            completion_tokens: 20,
            reasoning_tokens: 5,
            cost_nanos: 12_345,
            latency_ms: 250,
            ttft_ms: Some(90),
            status: 200,
            outcome: "completed".into(),
            attempts: 1,
            estimated: false,
            route: Some("auto; policy=tiered".into()),
            endpoint: "chat.completions".into(),
        }
    }

    #[test]
    fn events_round_trip_through_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SqliteStore::open(&dir.path().join("u.db")).unwrap();
        let mut second = event(2);
        second.key_id = None;
        second.ttft_ms = None;
        s.insert(&[event(1), second.clone()]).unwrap();
        assert_eq!(s.count().unwrap(), 2);
        assert_eq!(s.events_since(0).unwrap(), [event(1), second]);
        assert_eq!(s.events_since(1_700_000_000_002).unwrap().len(), 1);
    }

    #[test]
    fn spend_is_summed_per_day_key_team_and_model_within_the_range() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SqliteStore::open(&dir.path().join("u.db")).unwrap();
        let next_day = {
            let mut e = event(3);
            e.ts_ms += 86_400_000;
            e
        };
        s.insert(&[event(1), event(2), next_day]).unwrap();
        let rows = s.spend_between(0, 1_700_000_000_000 + 86_400_000).unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].cost_nanos, 2 * 12_345);
        assert_eq!(rows[0].day, 1_700_000_000_001 / 86_400_000);
        assert_eq!(rows[0].model, event(1).model);
        assert_eq!(s.spend_between(0, i64::MAX).unwrap().len(), 2);
        assert!(s.spend_between(i64::MAX - 1, i64::MAX).unwrap().is_empty());
    }

    #[test]
    fn a_log_from_before_the_route_column_gets_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let old = SCHEMA.replace(",\n    route             TEXT\n", "\n");
        Connection::open(&path)
            .unwrap()
            .execute_batch(&old)
            .unwrap();
        let mut s = SqliteStore::open(&path).unwrap();
        s.insert(&[event(1)]).unwrap();
        assert_eq!(
            s.events_since(0).unwrap()[0].route.as_deref(),
            Some("auto; policy=tiered")
        );
    }

    #[test]
    fn opening_twice_keeps_the_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/u.db");
        SqliteStore::open(&path)
            .unwrap()
            .insert(&[event(1)])
            .unwrap();
        assert_eq!(SqliteStore::open(&path).unwrap().count().unwrap(), 1);
    }
}
