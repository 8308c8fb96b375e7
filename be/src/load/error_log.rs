//! Rejected rows of a load, kept as a text file per load under
//! `<storage_root>/error_log/` and served by `GET /api/_load_error_log?file=<name>`
//! (the `ErrorURL` of the stream-load reply). Files older than
//! [`KEEP_HOURS`] are removed when a new one is created.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::format::RowError;

/// How long error logs are kept (Doris's `load_error_log_reserve_hours`).
pub const KEEP_HOURS: u64 = 48;
/// Rows written per load; the counts in the reply still cover every rejected row.
const MAX_ROWS: usize = 10_000;

pub fn dir(storage_root: &Path) -> PathBuf {
    storage_root.join("error_log")
}

/// The error log of one load, created when its first row is rejected.
pub struct ErrorLog {
    dir: PathBuf,
    name: String,
    file: Option<std::io::BufWriter<std::fs::File>>,
    rows: usize,
}

impl ErrorLog {
    pub fn new(storage_root: &Path, txn_id: i64) -> Self {
        ErrorLog {
            dir: dir(storage_root),
            name: format!("error_log_{txn_id}_{}", uuid::Uuid::new_v4().simple()),
            file: None,
            rows: 0,
        }
    }

    pub fn append(&mut self, errors: &[RowError]) -> std::io::Result<()> {
        for e in errors {
            if self.rows >= MAX_ROWS {
                return Ok(());
            }
            if self.file.is_none() {
                std::fs::create_dir_all(&self.dir)?;
                remove_old(&self.dir);
                let f = std::fs::File::create(self.dir.join(&self.name))?;
                self.file = Some(std::io::BufWriter::new(f));
            }
            if let Some(f) = self.file.as_mut() {
                writeln!(f, "Reason: {}. src line [{}]; ", e.reason, e.line)?;
            }
            self.rows += 1;
        }
        Ok(())
    }

    /// The file name to put in the URL, if any row was rejected.
    pub fn finish(mut self) -> std::io::Result<Option<String>> {
        match self.file.take() {
            Some(mut f) => {
                f.flush()?;
                Ok(Some(self.name))
            }
            None => Ok(None),
        }
    }
}

fn remove_old(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let keep = std::time::Duration::from_secs(KEEP_HOURS * 3600);
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > keep);
        if old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The path of a requested error log, if `name` is a plain error-log file name.
pub fn resolve(storage_root: &Path, name: &str) -> Option<PathBuf> {
    let name = name.rsplit('/').next()?;
    let plain = name.starts_with("error_log_")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    plain.then(|| dir(storage_root).join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_rows_and_resolves_only_plain_names() {
        let root = tempfile::tempdir().unwrap();
        let mut log = ErrorLog::new(root.path(), 7);
        log.append(&[RowError::new(b"a,b", "bad a")]).unwrap();
        let name = log.finish().unwrap().unwrap();
        let path = resolve(root.path(), &name).unwrap();
        let text = std::fs::read_to_string(path).unwrap();
        assert_eq!(text, "Reason: bad a. src line [a,b]; \n");
        assert!(resolve(root.path(), "../../etc/passwd").is_none());
        assert!(resolve(root.path(), "error_log_../x").is_none());
        assert!(ErrorLog::new(root.path(), 8).finish().unwrap().is_none());
    }
}
