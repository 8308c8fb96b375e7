//! Session-constant functions: `version()` (same for everyone, part of
//! [`super::mysql_udfs`]) and the per-session `database()`/`schema()`,
//! `user()`/`current_user()`/`session_user()`/`system_user()` and `connection_id()` built by
//! [`session_udfs`]. They are `Stable`, so DataFusion folds them to literals at plan time and
//! the BE never has to evaluate them.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{plan_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::util::udf;

/// The server version reported by `version()` (MySQL 5.7 compatible, like Doris).
pub const MYSQL_VERSION: &str = "5.7.99";

/// Per-session constant value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Const {
    Utf8(Option<String>),
    UInt64(u64),
}

impl Const {
    fn data_type(&self) -> DataType {
        match self {
            Const::Utf8(_) => DataType::Utf8,
            Const::UInt64(_) => DataType::UInt64,
        }
    }

    fn scalar(&self) -> ScalarValue {
        match self {
            Const::Utf8(v) => ScalarValue::Utf8(v.clone()),
            Const::UInt64(v) => ScalarValue::UInt64(Some(*v)),
        }
    }
}

/// A zero-argument function returning the same value for every row.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ConstFunc {
    name: String,
    aliases: Vec<String>,
    value: Const,
    signature: Signature,
}

impl ConstFunc {
    fn new(name: &str, aliases: &[&str], value: Const) -> Self {
        Self {
            name: name.to_string(),
            aliases: aliases.iter().map(|s| (*s).to_string()).collect(),
            value,
            signature: Signature::nullary(Volatility::Stable),
        }
    }
}

impl ScalarUDFImpl for ConstFunc {
    fn name(&self) -> &str {
        &self.name
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if !arg_types.is_empty() {
            return plan_err!("{}() takes no arguments", self.name);
        }
        Ok(self.value.data_type())
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(ColumnarValue::Scalar(self.value.scalar()))
    }
}

/// Functions whose value is the same in every session (`version()`).
pub fn global_udfs() -> Vec<ScalarUDF> {
    vec![udf(ConstFunc::new(
        "version",
        &[],
        Const::Utf8(Some(MYSQL_VERSION.to_string())),
    ))]
}

/// The session functions for one connection: `database()`/`schema()` (NULL when no database
/// is selected), `user()`/`current_user()`/`session_user()`/`system_user()` returning
/// `user` as given (callers pass `name@host`), and `connection_id()`.
pub fn session_udfs(
    current_db: Option<String>,
    user: String,
    connection_id: u32,
) -> Vec<ScalarUDF> {
    vec![
        udf(ConstFunc::new(
            "database",
            &["schema"],
            Const::Utf8(current_db),
        )),
        udf(ConstFunc::new(
            "user",
            &["current_user", "session_user", "system_user"],
            Const::Utf8(Some(user)),
        )),
        udf(ConstFunc::new(
            "connection_id",
            &[],
            Const::UInt64(u64::from(connection_id)),
        )),
    ]
}

#[cfg(test)]
mod tests {
    use crate::functions::test_util::{q, run};
    use datafusion::logical_expr::LogicalPlan;

    #[test]
    fn session_values() {
        assert_eq!(q("SELECT version()"), "5.7.99");
        assert_eq!(q("SELECT database()"), "test_db");
        assert_eq!(q("SELECT schema()"), "test_db");
        assert_eq!(q("SELECT user()"), "root@%");
        assert_eq!(q("SELECT current_user()"), "root@%");
        assert_eq!(q("SELECT connection_id()"), "42");
        assert_eq!(q("SELECT session_user()"), "root@%");
    }

    #[test]
    fn one_value_per_row() {
        let b = run("SELECT connection_id() FROM (VALUES (1), (2), (3)) t(x)").expect("run");
        assert_eq!(b.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
    }

    #[test]
    fn folded_at_plan_time() {
        let ctx = crate::functions::test_util::context();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let plan = rt
            .block_on(async {
                ctx.sql("SELECT database(), connection_id()")
                    .await?
                    .into_optimized_plan()
            })
            .expect("plan");
        let text = plan.display_indent().to_string();
        assert!(text.contains("Utf8(\"test_db\")"), "{text}");
        assert!(text.contains("UInt64(42)"), "{text}");
        assert!(matches!(plan, LogicalPlan::Projection(_)), "{text}");
    }

    #[test]
    fn no_database_is_null() {
        let ctx = datafusion::prelude::SessionContext::new();
        for f in super::session_udfs(None, "u@h".to_string(), 7) {
            ctx.register_udf(f);
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let text = rt
            .block_on(async {
                let b = ctx
                    .sql("SELECT database() IS NULL AS n, connection_id() AS c")
                    .await?
                    .collect()
                    .await?;
                datafusion::arrow::util::pretty::pretty_format_batches(&b).map(|t| t.to_string())
            })
            .expect("query");
        assert!(text.contains("| true | 7 |"), "{text}");
    }
}
