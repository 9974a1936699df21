//! What requests cost and who pays: the usage log, where it is stored, and the reports
//! read back from it.
//!
//! The gateway hands each finished request to a [`UsageLog`] as a [`UsageEvent`] — one
//! non-blocking channel send, never a database call on the request path. A writer thread
//! takes events off the channel in batches (up to [`BATCH`] events or [`FLUSH_INTERVAL`],
//! whichever comes first) and writes each batch in one transaction, to SQLite (the
//! default) or PostgreSQL (several replicas, one log). If the
//! writer falls behind and the channel is full, events go to a bounded spool file on disk
//! (JSON lines) that the writer drains into the database once it catches up; only past
//! the spool's size limit is an event dropped, and counted. [`report`] reads the log back
//! grouped by key, team, model, day or endpoint for `switchyard usage`.
//!
//! [`keys`] holds the gateway keys (stored hashed) beside the log: in the same SQLite
//! database, or in PostgreSQL next to the usage table.
//!
//! Costs are integers in nano-dollars (1e-9 USD), computed by
//! `switchyard_catalog::Price::cost_nanos`.

mod error;
mod event;
pub mod keys;
mod pg;
mod pgconn;
mod pgtls;
mod redact;
pub mod report;
mod spool;
mod store;
mod usage_store;
mod writer;

pub use error::LedgerError;
pub use event::UsageEvent;
pub use pg::PgStore;
pub use pgconn::{BACKOFF_MAX, BACKOFF_MIN, CONNECT_TIMEOUT, PgOptions, QUERY_TIMEOUT};
pub use redact::redact;
pub use store::SqliteStore;
pub use usage_store::UsageStore;
pub use writer::{
    BATCH, CHANNEL_CAPACITY, FLUSH_INTERVAL, SPOOL_MAX_BYTES, UsageLog, WriterStats,
    wait_for_dropped_logs,
};
