//! Reads of AGGREGATE and UNIQUE KEY tables: every read sees one row per key. For an
//! AGGREGATE KEY table, or a merge-on-read UNIQUE KEY one (whose value columns all merge as
//! REPLACE), [`merge_plan`] merges the value columns over all visible loads; a
//! merge-on-write UNIQUE KEY table needs no merge, the backends skip the rows a later load
//! replaced ([`unique_plan`]). Both drop keys whose newest row carries the hidden delete
//! sign. DataFusion inlines these logical plans wherever such a table is scanned (see
//! [`super::catalog::OlapTableProvider`]).
//!
//! The plan is DataFusion's own aggregation over a scan that also outputs where each row
//! comes from ([`doris_common::fragment::merge_order_fields`]):
//!
//! ```text
//! Projection: k1, k2, CAST(sum(v1) AS <v1's type)) AS v1, max(v4) AS v4, ...
//!   Aggregate: groupBy=[k1, k2]
//!              aggr=[sum(v1), min(..), max(..),
//!                    last_value(v2 ORDER BY version, segment, row),               -- REPLACE
//!                    last_value(v3 ORDER BY version, segment, row) IGNORE NULLS]  -- REPLACE_IF_NOT_NULL
//!     TableScan: k1, k2, v1, ..., __doris_version, __doris_segment, __doris_row
//! ```
//!
//! Why this is the Doris result:
//! * SUM, MIN and MAX ignore NULL and do not depend on row order, like Doris's merge.
//! * REPLACE must take the value of the newest row. For rows with equal keys,
//!   `(version, segment, row)` strictly increases in load order: equal keys live in one
//!   tablet (DDL allows hash distribution and partitioning on key columns only, and refuses
//!   random distribution for tables with REPLACE columns); a later load publishes a higher
//!   version of that tablet's partition; the writer writes a load's segments of one tablet one after
//!   the other, numbered in order; and a segment is sorted by key with a stable sort, so
//!   rows with equal keys keep their arrival order inside it. `last_value(.. ORDER BY ..)`
//!   compares these values instead of trusting arrival order, so DataFusion stays free to
//!   read files in parallel, split the aggregation into partial and final phases and
//!   repartition in between. Within one load the later row of a key wins, as with Doris's
//!   memtable merge (for INSERT ... SELECT whose input has several partitions the order in
//!   which they interleave is not defined, in Doris neither).
//! * REPLACE_IF_NOT_NULL is the same with IGNORE NULLS: NULL only when every row is NULL.
//! * Filters: DataFusion pushes a predicate below an aggregation only when it references
//!   group-by columns alone, so key predicates reach the scan (zone maps, row filters) and
//!   value predicates apply to the merged values. Unused value columns are pruned with
//!   their aggregate; COUNT(*) counts the groups, i.e. merged rows.
//! * SUM keeps the column's type like Doris's merge (its reader and load aggregations sum in
//!   the column type, so integer overflow wraps around). DataFusion sums wider (BIGINT for
//!   integers, wrapping at 64 bits; 10 more digits for decimals; DOUBLE for FLOAT), so the
//!   sum of a TINYINT, SMALLINT or INT column is wrapped into its type ([`wrap_to`]) and
//!   every sum is cast back to the column type. A DECIMAL or LARGEINT sum beyond the
//!   column's precision is an error when read (Doris would keep the wider value).

use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::provider_as_source;
use datafusion::error::{DataFusionError, Result};
use datafusion::functions_aggregate::expr_fn::{max, min, sum};
use datafusion::functions_aggregate::first_last::last_value_udaf;
use datafusion::logical_expr::expr::NullTreatment;
use datafusion::logical_expr::{
    cast, ident, lit, Expr, ExprFunctionExt, LogicalPlan, LogicalPlanBuilder, SortExpr,
};
use doris_common::fragment::{ROW_COLUMN, SEGMENT_COLUMN, VERSION_COLUMN};
use doris_common::functions::sketch;
use doris_common::types::ColumnType;

use super::catalog::arrow_name;
use crate::catalog::{Aggregation, KeysType, Table, DELETE_SIGN_COLUMN};

/// `sum`, a BIGINT sum of a TINYINT, SMALLINT or INT column, wrapped around into that
/// type's range (two's complement, as adding in the column type does); other sums as they are.
fn wrap_to(sum: Expr, ty: &ColumnType) -> Expr {
    let bits = match ty {
        ColumnType::TinyInt => 8,
        ColumnType::SmallInt => 16,
        ColumnType::Int => 32,
        _ => return sum,
    };
    let modulus = 1i64 << bits;
    let half = modulus / 2;
    // ((s % m) + m + m/2) % m - m/2: `%` keeps the sign of `s`, the added `m` makes it
    // non-negative, the shift by m/2 centres the result on zero.
    ((sum % lit(modulus)) + lit(modulus + half)) % lit(modulus) - lit(half)
}

fn raw_scan(table: &Table, raw: Arc<dyn TableProvider>) -> Result<LogicalPlanBuilder> {
    LogicalPlanBuilder::scan(
        TableReference::bare(arrow_name(&table.name)),
        provider_as_source(raw),
        None,
    )
}

/// The rows of `plan` (the table's storage columns) whose delete sign is 0, projected to
/// the table's visible columns; `plan` itself for a table without a delete sign.
fn visible_rows(table: &Table, plan: LogicalPlanBuilder) -> Result<LogicalPlanBuilder> {
    if !table.has_delete_sign() {
        return Ok(plan);
    }
    plan.filter(ident(arrow_name(DELETE_SIGN_COLUMN)).eq(lit(0i8)))?
        .project(table.columns.iter().map(|c| ident(arrow_name(&c.name))))
}

/// A merge-on-write UNIQUE KEY table over `raw`, a scan of its storage columns: the
/// backends skip rows marked in the delete bitmaps, so what remains is the newest row of
/// each key; keys whose newest row deletes them are dropped.
pub fn unique_plan(table: &Table, raw: Arc<dyn TableProvider>) -> Result<LogicalPlan> {
    visible_rows(table, raw_scan(table, raw)?)?.build()
}

/// The merge of `table`'s rows by key over `raw`, a scan of the table's storage columns
/// that also outputs the merge order columns. Its output has the table's columns, names
/// and types. Value columns of a UNIQUE KEY table merge as REPLACE.
pub fn merge_plan(table: &Table, raw: Arc<dyn TableProvider>) -> Result<LogicalPlan> {
    let scan = raw_scan(table, raw)?;
    let newest_last: Vec<SortExpr> = [VERSION_COLUMN, SEGMENT_COLUMN, ROW_COLUMN]
        .into_iter()
        .map(|c| ident(c).sort(true, false))
        .collect();
    let mut group_by = Vec::new();
    let mut aggregates = Vec::new();
    let mut output = Vec::new();
    for c in &table.storage_columns() {
        let name = arrow_name(&c.name);
        if c.is_key {
            group_by.push(ident(&name));
            output.push(ident(&name));
            continue;
        }
        let aggregation = match table.keys_type {
            KeysType::Unique => Some(Aggregation::Replace),
            _ => c.aggregation.as_deref().and_then(Aggregation::from_name),
        };
        let aggregation = aggregation.ok_or_else(|| {
            DataFusionError::Plan(format!(
                "value column `{}` of AGGREGATE KEY table `{}` has no aggregation",
                c.name, table.name
            ))
        })?;
        let value = ident(&name);
        let merged = match aggregation {
            Aggregation::Sum => sum(value),
            Aggregation::Min => min(value),
            Aggregation::Max => max(value),
            Aggregation::Replace => last_value_udaf()
                .call(vec![value])
                .order_by(newest_last.clone())
                .build()?,
            Aggregation::ReplaceIfNotNull => last_value_udaf()
                .call(vec![value])
                .order_by(newest_last.clone())
                .null_treatment(NullTreatment::IgnoreNulls)
                .build()?,
            Aggregation::BitmapUnion => sketch::bitmap_union_udaf().call(vec![value]),
            Aggregation::HllUnion => sketch::hll_union_udaf().call(vec![value]),
        };
        let alias = format!("__doris_merged_{}", aggregates.len());
        aggregates.push(merged.alias(&alias));
        let merged: Expr = match aggregation {
            Aggregation::Sum => cast(
                wrap_to(ident(&alias), &c.column_type),
                c.column_type.to_arrow(),
            ),
            _ => ident(&alias),
        };
        output.push(merged.alias(&name));
    }
    let merged = scan.aggregate(group_by, aggregates)?.project(output)?;
    visible_rows(table, merged)?.build()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::physical_plan::{displayable, ExecutionPlan};
    use datafusion::prelude::SessionContext;
    use datafusion_proto::bytes::{
        physical_plan_from_bytes_with_extension_codec, physical_plan_to_bytes_with_extension_codec,
    };
    use doris_common::fragment::{DorisCodec, OlapScanExec};
    use doris_common::types::ColumnType;

    use super::super::catalog::{OlapTableProvider, PlanEnv};
    use crate::catalog::{JournalEntry, KeysType, Table};

    /// `t (k1 BIGINT, K2 BIGINT, v1 TINYINT SUM, v2 INT REPLACE, v3 INT REPLACE_IF_NOT_NULL,
    /// v4 INT MAX, v5 VARCHAR(8) MIN) AGGREGATE KEY(k1, K2)`, two tablets at version 3 (built
    /// from JSON so that catalog fields added later with serde defaults need no change here).
    fn table() -> Table {
        let column = |name: &str, ty: ColumnType, agg: Option<&str>| {
            serde_json::json!({
                "name": name, "column_type": ty, "nullable": true, "is_key": agg.is_none(),
                "aggregation": agg, "default": null, "comment": "",
            })
        };
        let tablets: Vec<serde_json::Value> = (13..15)
            .map(
                |id| serde_json::json!({"id": id, "replicas": [{"id": id + 100, "backend_id": 1}]}),
            )
            .collect();
        serde_json::from_value(serde_json::json!({
            "id": 10,
            "name": "t",
            "columns": [
                column("k1", ColumnType::BigInt, None),
                column("K2", ColumnType::BigInt, None),
                column("v1", ColumnType::TinyInt, Some("SUM")),
                column("v2", ColumnType::Int, Some("REPLACE")),
                column("v3", ColumnType::Int, Some("REPLACE_IF_NOT_NULL")),
                column("v4", ColumnType::Int, Some("MAX")),
                column("v5", ColumnType::Varchar { len: 8 }, Some("MIN")),
            ],
            "keys_type": KeysType::Aggregate,
            "key_columns": ["k1", "K2"],
            "distribution": {"Hash": {"columns": ["k1"], "buckets": 2, "auto": false}},
            "partitions": [{
                "id": 11, "name": "t", "index_id": 12, "visible_version": 3,
                "visible_version_time_ms": 0, "next_version": 4, "tablets": tablets,
            }],
            "properties": {},
            "comment": "",
            "create_time_ms": 0,
            "schema_version": 0,
        }))
        .expect("table")
    }

    async fn context(dir: &std::path::Path) -> SessionContext {
        let env = crate::env::open_for_test(dir, "").await;
        env.log_and_apply(JournalEntry::CreateDatabase {
            id: 1,
            name: "db".into(),
            create_time_ms: 0,
        })
        .expect("db");
        env.log_and_apply(JournalEntry::CreateTable {
            db_id: 1,
            table: Box::new(table()),
        })
        .expect("table");
        super::super::base_context(
            env,
            Arc::new(PlanEnv::default()),
            Some("db".into()),
            2,
            8192,
        )
    }

    async fn plan(ctx: &SessionContext, sql: &str) -> Arc<dyn ExecutionPlan> {
        ctx.sql(sql)
            .await
            .expect("plan")
            .create_physical_plan()
            .await
            .expect("physical plan")
    }

    fn scans(plan: &Arc<dyn ExecutionPlan>, out: &mut Vec<String>) {
        if let Some(scan) = plan.downcast_ref::<OlapScanExec>() {
            assert!(
                scan.spec.merge_order,
                "an aggregate table is read with merge order"
            );
            out.push(displayable(plan.as_ref()).one_line().to_string());
        }
        for c in plan.children() {
            scans(c, out);
        }
    }

    fn text(plan: &Arc<dyn ExecutionPlan>) -> String {
        displayable(plan.as_ref()).indent(true).to_string()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_merge_by_key_and_survive_the_trip_to_a_backend() {
        let dir = tempfile::tempdir().expect("tmp");
        let ctx = context(dir.path()).await;
        let p = plan(&ctx, "SELECT * FROM t WHERE k1 = 1 AND v1 > 3 AND v5 = 'a'").await;
        let shown = text(&p);
        for expected in [
            "sum(t.v1)",
            "last_value(t.v2) ORDER BY [t.__doris_version ASC NULLS LAST, t.__doris_segment ASC NULLS LAST, t.__doris_row ASC NULLS LAST]",
            "last_value(t.v3) IGNORE NULLS ORDER BY [t.__doris_version ASC",
            "max(t.v4)",
            "min(t.v5)",
            "gby=[k1@0 as k1, k2@1 as k2]",
        ] {
            assert!(shown.contains(expected), "{expected} missing from\n{shown}");
        }
        // The key predicate reaches the scan; the value predicates stay above the merge.
        let mut found = Vec::new();
        scans(&p, &mut found);
        let [scan] = found.as_slice() else {
            panic!("one scan expected in\n{shown}");
        };
        let predicate = scan.split("predicate=").nth(1).unwrap_or_default();
        assert_eq!(predicate.trim(), "k1@0 = 1", "{scan}");
        assert!(
            scan.contains("columns=[k1, k2, v1, v2, v3, v4, v5, __doris_version, __doris_segment, __doris_row]"),
            "{scan}"
        );

        // What the BE decodes is the same plan.
        let bytes = physical_plan_to_bytes_with_extension_codec(Arc::clone(&p), &DorisCodec::new())
            .expect("encode");
        let decoded = physical_plan_from_bytes_with_extension_codec(
            &bytes,
            &ctx.task_ctx(),
            &DorisCodec::new(),
        )
        .expect("decode");
        assert_eq!(text(&decoded), shown);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unused_values_are_not_merged_and_count_counts_keys() {
        let dir = tempfile::tempdir().expect("tmp");
        let ctx = context(dir.path()).await;
        let p = plan(&ctx, "SELECT count(*) FROM t").await;
        let shown = text(&p);
        assert!(
            shown.contains("gby=[k1@0 as k1, k2@1 as k2], aggr=[]"),
            "{shown}"
        );
        let p = plan(&ctx, "SELECT k1, v4 FROM t").await;
        let shown = text(&p);
        assert!(
            shown.contains("max(t.v4)") && !shown.contains("sum("),
            "{shown}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_direct_scan_also_merges() {
        use datafusion::catalog::TableProvider;
        use datafusion::logical_expr::{col, lit};

        let dir = tempfile::tempdir().expect("tmp");
        let ctx = context(dir.path()).await;
        let provider = OlapTableProvider::try_new(
            "db".into(),
            table(),
            Arc::new(PlanEnv::default()),
            Arc::default(),
        )
        .expect("provider");
        assert!(provider.get_logical_plan().is_some());
        let state = ctx.state();
        let p = provider
            .scan(
                &state,
                Some(&vec![0, 2]),
                &[col("v1").gt(lit(3i8))],
                Some(5),
            )
            .await
            .expect("scan");
        let shown = text(&p);
        assert!(shown.contains("sum(t.v1)"), "{shown}");
        assert!(shown.contains("FilterExec"), "{shown}");
        assert_eq!(
            p.schema()
                .fields()
                .iter()
                .map(|f| (f.name().clone(), f.data_type().clone()))
                .collect::<Vec<_>>(),
            vec![
                (
                    "k1".to_string(),
                    datafusion::arrow::datatypes::DataType::Int64
                ),
                (
                    "v1".to_string(),
                    datafusion::arrow::datatypes::DataType::Int8
                ),
            ]
        );
    }
}
