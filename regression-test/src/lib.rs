//! End-to-end test harness: starts real `doris-fe`/`doris-be` processes and runs SQL against
//! them over the MySQL protocol. Entry points: [`Cluster::start`], [`run_slt_file`] and
//! [`run_doris_case`].
//!
//! * [`cluster`]: 1 FE + N BEs on free ports in a temporary directory; kill -9 and restart.
//! * [`slt`]: sqllogictest files (`suites/*.slt`), with a completion mode (`SLT_COMPLETE=1`).
//! * [`doris_case`]: the acceptance cases in `shared/doris-cases` (`.sql` + `.expected`).
//! * [`mysql`]: the shared MySQL client helpers.
//! * [`curl`]: HTTP (stream load, error logs) through real `curl`.
//!
//! The binaries come from `DORIS_FE_BIN`/`DORIS_BE_BIN`, else from the target directory of the
//! test executable (`cargo build --bins` first). `KEEP_TEST_CLUSTER=1` keeps the cluster's
//! directory (conf files, data, logs) and prints its path.

pub mod cluster;
pub mod curl;
pub mod doris_case;
pub mod error;
pub mod mysql;
pub mod node;
pub mod slt;

pub use cluster::Cluster;
pub use doris_case::{cases_dir, list_cases, run_doris_case, run_doris_case_in, CaseOutcome};
pub use error::HarnessError;
pub use mysql::{query, QueryOutput, SqlError};
pub use slt::{run_slt_file, MysqlDb};
