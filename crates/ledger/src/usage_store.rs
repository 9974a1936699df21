//! The one thing the writer needs of a database: [`UsageStore`]. Below both the writer
//! and the stores (`store` for SQLite, `pg` for PostgreSQL), so that each store
//! implements it beside its own code and the writer can open either.

use crate::error::LedgerError;
use crate::event::UsageEvent;

/// Where the writer puts batches.
pub trait UsageStore: Send {
    /// Write `events` in one transaction.
    fn insert(&mut self, events: &[UsageEvent]) -> Result<(), LedgerError>;
    /// Where, for people (`sqlite /path` or `postgres …`).
    fn describe(&self) -> String;
}
