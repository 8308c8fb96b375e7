//! Errors of the test harness itself (starting, stopping and waiting for server processes).
//! [`HarnessError`] is what [`crate::Cluster::try_start`] returns; the panicking wrappers print it.

use std::path::PathBuf;

/// Everything that can go wrong while driving the server processes.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The server binary was not found where the harness looked for it.
    #[error("{name} not built: run `cargo build --bins` first (looked for {})", path.display())]
    BinaryMissing { name: &'static str, path: PathBuf },

    /// A file-system or process operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// A node did not reach the wanted state in time; `logs` holds the tail of its log files.
    #[error("{what} not ready after {secs} s: {last_error}\n{logs}")]
    NotReady {
        what: String,
        secs: u64,
        last_error: String,
        logs: String,
    },

    /// A node process exited while the harness was waiting for it.
    #[error("{what} exited unexpectedly ({status})\n{logs}")]
    Exited {
        what: String,
        status: String,
        logs: String,
    },

    /// A SQL statement the harness itself issues (e.g. `ALTER SYSTEM ADD BACKEND`) failed.
    #[error("harness statement `{sql}` failed: {error}")]
    Sql { sql: String, error: crate::SqlError },
}

impl HarnessError {
    /// Wraps an I/O error with a description of what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        HarnessError::Io {
            context: context.into(),
            source,
        }
    }
}
