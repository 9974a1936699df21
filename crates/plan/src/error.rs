//! What can be wrong with a plan's inputs: each error names the argument and the fix.

/// A plan that cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// An argument that does not parse or makes no sense.
    #[error("{arg}: {message}")]
    Arg {
        /// The argument (`--regions`, `--mix`, …).
        arg: &'static str,
        /// What is wrong, and how to write it.
        message: String,
    },
    /// A model that is not in the catalog.
    #[error("{arg}: no model '{model}' in the catalog (`switchyard models` lists them)")]
    UnknownModel {
        /// The argument that named it.
        arg: &'static str,
        /// The name given.
        model: String,
    },
    /// A file that cannot be read.
    #[error("{what} {path}: {why}")]
    File {
        /// What the file was for.
        what: &'static str,
        /// Its path.
        path: String,
        /// Why it could not be read.
        why: String,
    },
}

impl PlanError {
    /// An argument error.
    pub fn arg(arg: &'static str, message: impl Into<String>) -> Self {
        PlanError::Arg {
            arg,
            message: message.into(),
        }
    }
}
