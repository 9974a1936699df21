//! The one error type of the load tester.

/// What can stop a run before or while it starts.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A bad argument, with what to write instead.
    #[error("{0}")]
    Arg(String),
    /// The target cannot be reached at all (checked before the run).
    #[error("cannot reach {target}: {reason}")]
    Unreachable {
        /// The target URL.
        target: String,
        /// Why.
        reason: String,
    },
    /// Writing an output file failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}
