//! The ledger's one error type.

/// What can go wrong opening, writing or reading the usage log.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The SQLite database failed.
    #[error("usage database {path}: {source}")]
    Sqlite {
        /// Database file.
        path: String,
        /// Cause.
        source: rusqlite::Error,
    },
    /// A file (the spool) could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// PostgreSQL failed.
    #[error("usage database (postgres): {0}")]
    Postgres(String),
    /// The writer thread could not be started or has stopped.
    #[error("usage writer: {0}")]
    Writer(String),
}
