//! `key = value` configuration files (`conf/fe.conf`, `conf/be.conf`) as Doris writes them.
//! [`ConfFile::load`] reads one; typed configs in each crate pull their options from it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Errors while reading or interpreting a configuration file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: expected `key = value`, got `{text}`")]
    Syntax {
        path: PathBuf,
        line: usize,
        text: String,
    },
    #[error("config option `{key}` has invalid value `{value}`: {reason}")]
    InvalidValue {
        key: String,
        value: String,
        reason: String,
    },
}

/// A parsed configuration file: raw options plus the directory relative paths resolve against.
#[derive(Debug, Clone, Default)]
pub struct ConfFile {
    options: BTreeMap<String, String>,
    base_dir: PathBuf,
}

impl ConfFile {
    /// Reads `path`. Lines are `key = value`; `#` starts a comment line; surrounding quotes on
    /// values are removed; `${VAR}` is replaced by the environment variable `VAR`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let base_dir = path
            .canonicalize()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("."));
        let mut conf = Self::parse(&text, path)?;
        conf.base_dir = base_dir;
        Ok(conf)
    }

    /// Parses configuration text; `origin` is used in error messages only.
    pub fn parse(text: &str, origin: &Path) -> Result<Self, ConfigError> {
        let mut options = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(ConfigError::Syntax {
                    path: origin.to_path_buf(),
                    line: i + 1,
                    text: line.to_string(),
                });
            };
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            options.insert(key.trim().to_string(), expand_env(value));
        }
        Ok(Self {
            options,
            base_dir: PathBuf::from("."),
        })
    }

    /// The raw value of `key`, if present.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.options.get(key).map(String::as_str)
    }

    /// `key` parsed as `T`, or `default` when absent.
    pub fn get_or<T: FromStr>(&self, key: &str, default: T) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.options.get(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|e: T::Err| ConfigError::InvalidValue {
                key: key.to_string(),
                value: v.clone(),
                reason: e.to_string(),
            }),
        }
    }

    /// A path option resolved against the conf file's directory, or `default` (also resolved).
    pub fn get_path(&self, key: &str, default: &str) -> PathBuf {
        let raw = self.options.get(key).map(String::as_str).unwrap_or(default);
        self.resolve(raw)
    }

    /// Resolves a possibly relative path against the conf file's directory, without `.` or
    /// `..` components (data paths end up in object-store URLs, which do not allow them).
    pub fn resolve(&self, raw: &str) -> PathBuf {
        let p = Path::new(raw);
        let joined = if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        };
        normalize(&joined)
    }

    /// All options, for `SHOW FRONTEND CONFIG`-style listings.
    pub fn options(&self) -> &BTreeMap<String, String> {
        &self.options
    }
}

/// Removes `.` and `..` components lexically (`/a/conf/../output` → `/a/output`).
pub fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn expand_env(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        match rest[start + 2..].find('}') {
            Some(end) => {
                let var = &rest[start + 2..start + 2 + end];
                out.push_str(&std::env::var(var).unwrap_or_default());
                rest = &rest[start + 2 + end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Sets up `tracing` to write to `<log_dir>/<name>.log` (and stderr when `DORIS_LOG_STDERR`
/// is set). The returned guard must live as long as the process.
pub fn init_logging(
    log_dir: &Path,
    name: &str,
    level: &str,
) -> std::io::Result<tracing_appender::non_blocking::WorkerGuard> {
    use tracing_subscriber::{fmt, prelude::*, EnvFilter};
    std::fs::create_dir_all(log_dir)?;
    let file = tracing_appender::rolling::never(log_dir, format!("{name}.log"));
    let (writer, guard) = tracing_appender::non_blocking(file);
    // openraft logs every failed replication retry (twice a second per unreachable FE);
    // the FE logs each outage once itself.
    let quiet = "openraft::replication=off,openraft::engine::handler::replication_handler=off";
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(format!("{level},{quiet}")))
        .unwrap_or_else(|_| EnvFilter::new(format!("info,{quiet}")));
    let file_layer = fmt::layer().with_writer(writer).with_ansi(false);
    let stderr_layer = std::env::var_os("DORIS_LOG_STDERR")
        .is_some()
        .then(|| fmt::layer().with_writer(std::io::stderr));
    tracing_subscriber::registry()
        .with(filter)
        .with(file_layer)
        .with(stderr_layer)
        .init();
    Ok(guard)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keys_comments_and_quotes() {
        let c = ConfFile::parse(
            "# comment\nquery_port = 9030\nmeta_dir = \"doris-meta\"\n\n",
            Path::new("x"),
        )
        .expect("parse");
        assert_eq!(c.get_or("query_port", 0u16).expect("port"), 9030);
        assert_eq!(c.get_str("meta_dir"), Some("doris-meta"));
        assert_eq!(c.get_or("missing", 7u16).expect("default"), 7);
    }

    #[test]
    fn rejects_garbage_and_bad_values() {
        assert!(ConfFile::parse("not an option", Path::new("x")).is_err());
        let c = ConfFile::parse("query_port = abc", Path::new("x")).expect("parse");
        assert!(c.get_or("query_port", 0u16).is_err());
    }

    #[test]
    fn resolves_relative_paths_against_conf_dir() {
        let mut c = ConfFile::parse("meta_dir = meta", Path::new("x")).expect("parse");
        c.base_dir = PathBuf::from("/opt/doris/conf");
        assert_eq!(
            c.get_path("meta_dir", "m"),
            PathBuf::from("/opt/doris/conf/meta")
        );
        assert_eq!(c.get_path("other", "/abs"), PathBuf::from("/abs"));
        assert_eq!(
            c.get_path("up", "../output/be"),
            PathBuf::from("/opt/doris/output/be")
        );
    }
}
