//! MySQL / Doris function semantics on top of DataFusion.
//!
//! Entry points:
//! * [`register_mysql_functions`] registers every scalar UDF of [`mysql_udfs`] on a
//!   `SessionContext`, overriding DataFusion built-ins whose semantics differ from MySQL.
//! * [`rewrite_mysql_semantics`] rewrites a parsed statement before DataFusion plans it
//!   (`/`, `DIV`, `%`, `IF()`, `GROUP_CONCAT`, `SUBSTRING`, `TIMESTAMPDIFF(unit, ..)`, float
//!   literals with an exponent, bare `CURRENT_USER`).
//! * [`session_udfs`] builds the per-session constant functions (`database()`, `user()`, ...).
//! * [`apply_mysql_options`] sets the DataFusion options MySQL literals need
//!   (`1.5` is a DECIMAL, not a DOUBLE).
//! * [`format_mysql_double`] / [`format_mysql_datetime`] render values the way MySQL prints
//!   them (for result encoding).
//!
//! Time zone: "current time" functions, `unix_timestamp(dt)` and `from_unixtime` use
//! `datafusion.execution.time_zone` when set, the process's local zone otherwise, so the BE
//! must run with the same setting as the FE session.
//!
//! # Functions covered
//!
//! Implemented here (new, or overriding a DataFusion built-in of the same name):
//! * arithmetic ([`arith`]): `__mysql_divide` (`/`), `__mysql_intdiv` (`DIV`),
//!   `__mysql_mod` (`%`, `MOD()`).
//! * math ([`math`]): `ceil`/`ceiling`, `floor`, `truncate`, `sign`, `ln`, `log`, `log10`,
//!   `log2`, `sqrt`, `greatest`, `least`.
//! * strings ([`string`]): `concat`, `length`, `substr`/`substring`/`mid`, `left`, `right`,
//!   `locate`, `space`, `ascii`, `hex`, `unhex`, `trim`/`btrim`, `ltrim`, `rtrim`, `lpad`,
//!   `rpad`, `money_format`, `format`, `conv`, `lcase`/`ucase` (aliases of DataFusion's
//!   `lower`/`upper`).
//! * dates ([`datetime`]): `date_format`, `year`, `month`, `day`/`dayofmonth`, `hour`,
//!   `minute`, `second`, `microsecond`, `quarter`, `dayofweek`, `weekday`, `dayofyear`,
//!   `weekofyear`, `week`, `yearweek`, `dayname`, `monthname`, `to_days`, `datediff`,
//!   `date_add`/`adddate`, `date_sub`/`subdate`, `timestampadd`, `timestampdiff`,
//!   `years_add`/`years_sub`, `quarters_add`/`quarters_sub`, `months_add`/`months_sub`,
//!   `weeks_add`/`weeks_sub`, `days_add`/`days_sub`, `hours_add`/`hours_sub`,
//!   `minutes_add`/`minutes_sub`, `seconds_add`/`seconds_sub`, `to_date`, `date`, `now`/
//!   `current_timestamp`/`localtime`/`localtimestamp`/`sysdate`, `curdate`/`current_date`,
//!   `curtime`/`current_time`, `unix_timestamp`, `from_unixtime`, `str_to_date`, `last_day`.
//! * session ([`session`]): `version` (global) and the per-session `database`/`schema`,
//!   `user`/`current_user`/`session_user`/`system_user`, `connection_id`.
//! * aggregate: `group_concat` is rewritten to DataFusion's `string_agg`.
//! * control flow: `if(c, a, b)` is rewritten to `CASE WHEN`.
//!
//! DataFusion built-ins kept as they are (semantics already match MySQL closely enough):
//! `concat_ws`, `char_length`/`character_length`, `octet_length`, `bit_length`, `instr`
//! (alias of `strpos`), `repeat`, `replace`, `reverse`, `split_part`, `md5`, `lower`,
//! `upper`, `ifnull`/`nvl`, `nullif`, `coalesce`, `round`, `abs`, `pow`/`power`, `exp`,
//! `pi`, `rand`/`random`, `find_in_set`, `substring_index`, `extract`/`date_part`,
//! `date_trunc`, `string_agg`.

use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::SessionContext;

pub mod arith;
pub mod datetime;
pub mod math;
pub mod rewrite;
pub mod session;
pub mod sketch;
pub mod string;
mod util;

#[cfg(test)]
pub(crate) mod test_util;

pub use datetime::format_mysql_datetime;
pub use rewrite::rewrite_mysql_semantics;
pub use session::session_udfs;
pub use util::format_f64 as format_mysql_double;

/// Every scalar UDF with MySQL semantics. The FE and the BE must register the same set so a
/// serialized plan resolves to the same functions on both sides.
pub fn mysql_udfs() -> Vec<ScalarUDF> {
    let mut udfs = Vec::new();
    udfs.extend(arith::udfs());
    udfs.extend(math::udfs());
    udfs.extend(string::udfs());
    udfs.extend(datetime::udfs());
    udfs.extend(session::global_udfs());
    udfs.extend(sketch::udfs());
    udfs
}

/// Registers every function of [`mysql_udfs`] on `ctx` (replacing DataFusion built-ins that
/// share a name or an alias).
pub fn register_mysql_functions(ctx: &SessionContext) {
    for udf in mysql_udfs() {
        ctx.register_udf(udf);
    }
    for udaf in sketch::udafs() {
        ctx.register_udaf(udaf);
    }
}

/// `tz` if it names a time zone the date functions understand (`+08:00`, `Asia/Shanghai`),
/// for `datafusion.execution.time_zone`.
pub fn valid_time_zone(tz: &str) -> Option<String> {
    tz.parse::<datafusion::arrow::array::timezone::Tz>()
        .ok()
        .map(|_| tz.to_string())
}

/// Sets the DataFusion options needed for MySQL literal semantics: decimal literals such as
/// `1.5` are planned as DECIMAL (so `5.0 / 2` is `2.50000`, not a DOUBLE).
pub fn apply_mysql_options(options: &mut datafusion::config::ConfigOptions) {
    options.sql_parser.parse_float_as_decimal = true;
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use datafusion::prelude::SessionContext;
    use datafusion_proto::bytes::{physical_plan_from_bytes, physical_plan_to_bytes};

    use super::test_util::{q, q_err, rows};
    use super::{mysql_udfs, register_mysql_functions};

    #[test]
    fn udf_names_are_unique() {
        let mut seen = HashSet::new();
        for f in mysql_udfs() {
            for n in std::iter::once(f.name().to_string()).chain(f.aliases().iter().cloned()) {
                assert!(seen.insert(n.clone()), "duplicate function name {n}");
            }
        }
    }

    #[test]
    fn overrides_replace_builtins() {
        let ctx = SessionContext::new();
        register_mysql_functions(&ctx);
        let state = ctx.state();
        let name = |f: &str| {
            state
                .scalar_functions()
                .get(f)
                .map(|u| u.name().to_string())
                .unwrap_or_default()
        };
        assert_eq!(name("length"), "length");
        assert_eq!(name("char_length"), "character_length");
        assert_eq!(name("date_format"), "date_format");
        assert_eq!(name("concat"), "concat");
        assert_eq!(name("current_timestamp"), "now");
        assert_eq!(name("lcase"), "lower");
    }

    #[test]
    fn control_flow_builtins() {
        assert_eq!(q("SELECT ifnull(NULL, 1)"), "1");
        assert_eq!(q("SELECT ifnull('a', 'b')"), "a");
        assert_eq!(q("SELECT nullif(1, 1)"), "NULL");
        assert_eq!(q("SELECT nullif(1, 2)"), "1");
        assert_eq!(q("SELECT coalesce(NULL, NULL, 3)"), "3");
        assert_eq!(
            super::test_util::q_all(
                "SELECT if(a > 1, 'big', 'small') FROM (VALUES (1), (2), (NULL)) t(a)"
            ),
            vec!["small", "big", "small"]
        );
    }

    #[test]
    fn string_view_inputs() {
        assert_eq!(q("SELECT length(CAST('abc' AS VARCHAR))"), "3");
        assert_eq!(q("SELECT substr(CAST('hello' AS VARCHAR), 2, 3)"), "ell");
        assert_eq!(q("SELECT year(CAST('2023-06-01' AS VARCHAR))"), "2023");
        assert_eq!(q("SELECT concat(CAST('a' AS VARCHAR), 'b')"), "ab");
        assert_eq!(q("SELECT CAST('9' AS VARCHAR) / 2"), "4.5");
    }

    #[test]
    fn large_batches() {
        assert_eq!(
            q("SELECT count(*) FROM generate_series(1, 100000) WHERE value % 7 = 0"),
            "14285"
        );
        assert_eq!(
            q("SELECT max(value / 7) FROM generate_series(1, 100000)"),
            "14285.7143"
        );
        assert_eq!(
            q("SELECT sum(value DIV 2) FROM generate_series(1, 1000)"),
            "250000"
        );
        assert_eq!(
            q(
                "SELECT count(DISTINCT date_format(days_add(CAST('2023-01-01' AS DATE), \
               CAST(value AS INT)), '%Y-%m')) FROM generate_series(0, 364)"
            ),
            "12"
        );
    }

    #[test]
    fn errors_are_reported() {
        assert!(
            q_err("SELECT timestampdiff(FOO, '2023-01-01', '2023-01-02')").contains("unknown unit")
        );
        assert!(q_err("SELECT CAST('2023-01-01' AS DATE) / 2").contains("unsupported operand"));
        assert!(q_err("SELECT locate('abc')").contains("expects 2 to 3 arguments"));
    }

    #[test]
    fn plans_survive_serialization() {
        let sql = "SELECT a / b, a DIV b, concat(s, NULL), length(s), \
                   date_format(d, '%Y/%m'), datediff(d, '2023-01-01'), greatest(a, b) \
                   FROM (VALUES (7, 2, 'x', '2023-03-01'), (1, 0, '中', '2023-01-02')) t(a, b, s, d)";
        let expected = rows(sql);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let got = rt
            .block_on(async {
                let fe = super::test_util::context();
                let mut stmt = datafusion::sql::sqlparser::parser::Parser::parse_sql(
                    &datafusion::sql::sqlparser::dialect::MySqlDialect {},
                    sql,
                )
                .map_err(|e| datafusion::common::DataFusionError::Plan(e.to_string()))?
                .remove(0);
                super::rewrite_mysql_semantics(&mut stmt);
                let plan = fe
                    .state()
                    .statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(
                        stmt,
                    )))
                    .await?;
                let physical = fe
                    .execute_logical_plan(plan)
                    .await?
                    .create_physical_plan()
                    .await?;
                let bytes = physical_plan_to_bytes(physical)?;
                let be = SessionContext::new();
                register_mysql_functions(&be);
                let decoded = physical_plan_from_bytes(&bytes, &be.task_ctx())?;
                datafusion::physical_plan::collect(decoded, be.task_ctx()).await
            })
            .expect("round trip");
        let options = datafusion::arrow::util::display::FormatOptions::default().with_null("NULL");
        let mut got_rows = Vec::new();
        for b in &got {
            for r in 0..b.num_rows() {
                got_rows.push(
                    b.columns()
                        .iter()
                        .map(|c| {
                            datafusion::arrow::util::display::ArrayFormatter::try_new(
                                c.as_ref(),
                                &options,
                            )
                            .map(|f| f.value(r).to_string())
                            .unwrap_or_default()
                        })
                        .collect::<Vec<_>>(),
                );
            }
        }
        assert_eq!(got_rows, expected);
        assert_eq!(expected[0][0], "3.5000");
        assert_eq!(expected[1][1], "NULL");
    }
}
