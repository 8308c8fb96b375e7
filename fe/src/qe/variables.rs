//! Session and global variables: `SET`, `SHOW VARIABLES`, and the DataFusion variable
//! provider behind `SELECT @@var` / `SELECT @user_var`.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::variable::VarProvider;

use crate::catalog::JournalEntry;
use crate::env::Env;
use crate::error::{FeError, Result};
use crate::mysql::result::QueryOutput;
use crate::mysql::session::{default_variables, Session};
use crate::sql::ast::{SetAssignment, SetValue, VarScope};

use super::show::like_match;

fn is_numeric_bool(default: &str) -> bool {
    default == "0" || default == "1"
}

/// Normalises a value the way the variable's default is spelled (1/0 vs true/false).
fn normalise(default: Option<&str>, value: String) -> String {
    let lower = value.to_ascii_lowercase();
    match default {
        Some(d) if is_numeric_bool(d) => match lower.as_str() {
            "on" | "true" => "1".into(),
            "off" | "false" => "0".into(),
            _ => value,
        },
        Some("true") | Some("false") => match lower.as_str() {
            "1" | "on" | "true" => "true".into(),
            "0" | "off" | "false" => "false".into(),
            _ => value,
        },
        _ => value,
    }
}

async fn value_text(
    env: &Arc<Env>,
    session: &mut Session,
    v: SetValue,
    name: &str,
) -> Result<String> {
    Ok(match v {
        SetValue::Str(s) => s,
        SetValue::Int(i) => i.to_string(),
        SetValue::Float(f) => f.to_string(),
        SetValue::Bool(b) => b.to_string(),
        SetValue::Default => default_variables(&env.config)
            .get(name)
            .cloned()
            .unwrap_or_default(),
        SetValue::Expr(text) => crate::planner::eval_constant(env, session, &text).await?,
    })
}

fn validate(name: &str, value: &str) -> Result<()> {
    let numeric = [
        "query_timeout",
        "insert_timeout",
        "exec_mem_limit",
        "batch_size",
        "parallel_pipeline_task_num",
        "parallel_fragment_exec_instance_num",
        "broadcast_row_count_limit",
        "sql_select_limit",
        "max_execution_time",
        "wait_timeout",
        "interactive_timeout",
    ];
    if numeric.contains(&name) && value.parse::<i64>().is_err() {
        return Err(FeError::Analysis(format!(
            "Incorrect argument type to variable '{name}': '{value}'"
        )));
    }
    if name == "query_timeout" && value.parse::<i64>().is_ok_and(|v| v <= 0) {
        return Err(FeError::Analysis(format!(
            "query_timeout must be greater than 0, got {value}"
        )));
    }
    Ok(())
}

pub async fn set(
    env: &Arc<Env>,
    session: &mut Session,
    assignments: Vec<SetAssignment>,
) -> Result<QueryOutput> {
    let defaults = default_variables(&env.config);
    for a in assignments {
        let name = a.name.to_ascii_lowercase();
        if a.scope == VarScope::User {
            let v = value_text(env, session, a.value, &name).await?;
            session.user_variables.insert(name, v);
            continue;
        }
        let targets: Vec<&str> = match name.as_str() {
            "names" | "character_set" => vec![
                "character_set_client",
                "character_set_connection",
                "character_set_results",
            ],
            "character_set_results" if matches!(a.value, SetValue::Str(ref s) if s.eq_ignore_ascii_case("null")) =>
            {
                vec![]
            }
            other => vec![other],
        };
        let value = value_text(env, session, a.value, &name).await?;
        for target in targets {
            let Some(default) = defaults.get(target) else {
                return Err(FeError::UnknownVariable(target.to_string()));
            };
            let value = normalise(Some(default), value.clone());
            validate(target, &value)?;
            if a.scope == VarScope::Global {
                env.log_and_apply(JournalEntry::SetGlobalVariable {
                    name: target.to_string(),
                    value: value.clone(),
                })?;
            }
            session.variables.insert(target.to_string(), value);
        }
    }
    Ok(QueryOutput::ok())
}

pub fn show_variables(
    env: &Env,
    session: &Session,
    global: bool,
    like: Option<&str>,
) -> Result<QueryOutput> {
    let vars: BTreeMap<String, String> = if global {
        let mut v = default_variables(&env.config);
        v.extend(env.catalog.read().global_variables.clone());
        v
    } else {
        session.variables.clone()
    };
    let rows = vars
        .into_iter()
        .filter(|(k, _)| like.is_none_or(|p| like_match(p, k)))
        .map(|(k, v)| vec![Some(k), Some(v)])
        .collect();
    QueryOutput::strings(&["Variable_name", "Value"], rows)
}

/// Snapshot of a session's variables for DataFusion's `@@var` / `@var` resolution.
#[derive(Debug)]
struct SessionVars {
    system: BTreeMap<String, String>,
    user: BTreeMap<String, String>,
}

fn system_name(parts: &[String]) -> String {
    let joined = parts.join(".");
    let name = joined.trim_start_matches("@@").to_ascii_lowercase();
    for scope in ["session.", "global.", "local."] {
        if let Some(rest) = name.strip_prefix(scope) {
            return rest.to_string();
        }
    }
    name
}

fn typed(v: &str) -> ScalarValue {
    match v.parse::<i64>() {
        Ok(i) => ScalarValue::Int64(Some(i)),
        Err(_) => ScalarValue::Utf8(Some(v.to_string())),
    }
}

impl SessionVars {
    fn lookup(&self, parts: &[String]) -> std::result::Result<ScalarValue, DataFusionError> {
        let first = parts.first().map(String::as_str).unwrap_or("");
        if first.starts_with("@@") {
            let name = system_name(parts);
            return self
                .system
                .get(&name)
                .map(|v| typed(v))
                .ok_or_else(|| DataFusionError::Plan(format!("Unknown system variable '{name}'")));
        }
        let name = parts.join(".").trim_start_matches('@').to_ascii_lowercase();
        Ok(self
            .user
            .get(&name)
            .map(|v| typed(v))
            .unwrap_or(ScalarValue::Utf8(None)))
    }
}

impl VarProvider for SessionVars {
    fn get_value(&self, var_names: Vec<String>) -> datafusion::error::Result<ScalarValue> {
        self.lookup(&var_names)
    }

    fn get_type(&self, var_names: &[String]) -> Option<DataType> {
        self.lookup(var_names).ok().map(|v| v.data_type())
    }
}

/// A variable provider over a snapshot of `session`'s variables.
pub fn session_var_provider(session: &Session) -> Arc<dyn VarProvider + Send + Sync> {
    Arc::new(SessionVars {
        system: session.variables.clone(),
        user: session.user_variables.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_booleans_by_default_style() {
        assert_eq!(normalise(Some("1"), "ON".into()), "1");
        assert_eq!(normalise(Some("false"), "1".into()), "true");
        assert_eq!(normalise(Some("utf8mb4"), "latin1".into()), "latin1");
    }

    #[test]
    fn strips_scopes() {
        assert_eq!(
            system_name(&["@@session".into(), "autocommit".into()]),
            "autocommit"
        );
        assert_eq!(
            system_name(&["@@Version_Comment".into()]),
            "version_comment"
        );
    }
}
