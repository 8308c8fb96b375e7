//! The catalog as DataFusion sees it: one schema per database and an
//! [`OlapTableProvider`] per table, which plans scans ([`OlapScanExec`] over the visible
//! version of each tablet) and inserts ([`OlapTableSinkExec`] under the statement's txn).
//! An AGGREGATE KEY table is read through the merge of its rows by key
//! ([`super::aggregate_model`]), which DataFusion inlines in place of the scan.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::view::ViewTable;
use datafusion::catalog::{CatalogProvider, SchemaProvider, Session, TableProvider};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column as DfColumn, DFSchema};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{
    cast, ident, lit, Expr, LogicalPlan, LogicalPlanBuilder, TableProviderFilterPushDown,
};
use datafusion::physical_plan::ExecutionPlan;
use doris_common::fragment::{
    scan_schema, ExchangeEndpoint, OlapScanExec, OlapTableSinkExec, ScanSpec, SinkColumn,
    SinkIndex, SinkPartition, SinkSpec, TabletRead,
};

use super::stats::TableStats;
use crate::catalog::{ColumnDefault, Distribution, KeysType, Table, View};
use crate::env::Env;

/// The name DataFusion sees for a column (unquoted identifiers arrive lower-cased, so
/// columns are exposed and stored lower-cased; DESC keeps the declared spelling).
pub fn arrow_name(column: &str) -> String {
    column.to_lowercase()
}

/// The table's visible columns as DataFusion sees them.
pub fn table_arrow_schema(table: &Table) -> SchemaRef {
    columns_schema(&table.columns)
}

/// What the tablets store: the visible columns, then hidden ones (see
/// [`Table::storage_columns`]).
pub fn storage_arrow_schema(table: &Table) -> SchemaRef {
    columns_schema(&table.storage_columns())
}

fn columns_schema(columns: &[crate::catalog::Column]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| c.column_type.to_field(&arrow_name(&c.name), c.nullable))
            .collect::<Vec<_>>(),
    ))
}

/// Per-statement planning state shared by every table provider.
#[derive(Debug, Default, Clone)]
pub struct PlanEnv {
    /// Set for INSERT: the load transaction the sink writes under.
    pub insert_txn: Option<i64>,
    /// The delete sign written rows of a UNIQUE KEY table get: 1 when the write is a
    /// DELETE (its rows delete their keys).
    pub delete_sign: i8,
    /// A write limited to these partitions (DELETE ... PARTITION): rows of others are
    /// skipped.
    pub partitions: Option<Vec<String>>,
    /// A partial column update of a merge-on-write table: the columns written.
    pub partial_columns: Option<Vec<String>>,
}

/// The internal catalog over the live metadata: each lookup reads the catalog under its
/// lock and copies only the table it needs (no per-statement copy of the whole catalog).
pub struct InternalCatalog {
    pub env: Arc<Env>,
    pub plan_env: Arc<PlanEnv>,
}

impl std::fmt::Debug for InternalCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InternalCatalog")
    }
}

impl CatalogProvider for InternalCatalog {
    fn schema_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .env
            .catalog
            .read()
            .databases
            .values()
            .map(|d| d.name.clone())
            .collect();
        names.push(super::information_schema::NAME.to_string());
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if name.eq_ignore_ascii_case(super::information_schema::NAME) {
            return Some(Arc::new(super::information_schema::InformationSchema {
                env: Arc::clone(&self.env),
            }));
        }
        let catalog = self.env.catalog.read();
        let db = catalog.db_by_name(name).or_else(|| {
            catalog
                .databases
                .values()
                .find(|d| d.name.eq_ignore_ascii_case(name))
        })?;
        Some(Arc::new(DatabaseSchema {
            env: Arc::clone(&self.env),
            db_id: db.id,
            db_name: db.name.clone(),
            plan_env: Arc::clone(&self.plan_env),
        }))
    }
}

struct DatabaseSchema {
    env: Arc<Env>,
    db_id: i64,
    db_name: String,
    plan_env: Arc<PlanEnv>,
}

impl std::fmt::Debug for DatabaseSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseSchema({})", self.db_name)
    }
}

enum Found {
    Table(Box<Table>),
    View(View),
}

#[async_trait]
impl SchemaProvider for DatabaseSchema {
    fn table_names(&self) -> Vec<String> {
        self.env
            .catalog
            .read()
            .databases
            .get(&self.db_id)
            .map(|d| {
                d.tables
                    .values()
                    .map(|t| t.name.clone())
                    .chain(d.views.values().map(|v| v.name.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let found = {
            let catalog = self.env.catalog.read();
            let Some(db) = catalog.databases.get(&self.db_id) else {
                return Ok(None);
            };
            match (db.table_by_name(name), db.view_by_name(name)) {
                (Some(t), _) => Found::Table(Box::new(t.clone())),
                (None, Some(v)) => Found::View(v.clone()),
                (None, None) => return Ok(None),
            }
        };
        Ok(Some(match found {
            Found::Table(table) => {
                let stats = TableStats::from_reports(&table, &self.env.tablet_stats.read());
                Arc::new(OlapTableProvider::try_new(
                    self.db_name.clone(),
                    *table,
                    Arc::clone(&self.plan_env),
                    Arc::new(stats),
                )?)
            }
            Found::View(view) => self.plan_view(&view).await?,
        }))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.env
            .catalog
            .read()
            .databases
            .get(&self.db_id)
            .is_some_and(|d| d.table_by_name(name).is_some() || d.view_by_name(name).is_some())
    }
}

impl DatabaseSchema {
    /// Plans a view's query in its own database, renaming columns if the view lists them.
    async fn plan_view(&self, view: &View) -> Result<Arc<dyn TableProvider>> {
        let ctx = super::base_context(
            Arc::clone(&self.env),
            Arc::new(PlanEnv::default()),
            Some(self.db_name.clone()),
            1,
            8192,
        );
        let stmt = super::parse_one(&view.query)
            .map_err(|e| DataFusionError::Plan(format!("view `{}`: {e}", view.name)))?;
        let mut plan = ctx
            .state()
            .statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(
                stmt,
            )))
            .await?;
        if !view.columns.is_empty() {
            let exprs: Vec<Expr> = plan
                .schema()
                .columns()
                .into_iter()
                .zip(&view.columns)
                .map(|(c, n)| Expr::Column(c).alias(arrow_name(n)))
                .collect();
            plan = LogicalPlanBuilder::from(plan).project(exprs)?.build()?;
        }
        Ok(Arc::new(ViewTable::new(plan, Some(view.query.clone()))))
    }
}

#[derive(Debug)]
pub struct OlapTableProvider {
    db: String,
    table: Table,
    schema: SchemaRef,
    defaults: HashMap<String, Expr>,
    plan_env: Arc<PlanEnv>,
    /// AGGREGATE and UNIQUE KEY tables: the read of one row per key, planned in place of a
    /// scan (see [`super::aggregate_model`]).
    merged: Option<LogicalPlan>,
    /// Scans also output the merge order columns (this provider is the input of a merge).
    merge_input: bool,
    /// Rows and column statistics from the backends' reports.
    stats: Arc<TableStats>,
}

impl OlapTableProvider {
    /// `stats`: the table's statistics as reported (may be incomplete).
    pub fn try_new(
        db: String,
        table: Table,
        plan_env: Arc<PlanEnv>,
        stats: Arc<TableStats>,
    ) -> Result<Self> {
        let mut provider = Self::new(db, table, plan_env, false, false);
        provider.stats = Arc::clone(&stats);
        let input = |merge_order: bool| {
            let mut input = Self::new(
                provider.db.clone(),
                provider.table.clone(),
                Arc::clone(&provider.plan_env),
                true,
                merge_order,
            );
            input.stats = Arc::clone(&stats);
            Arc::new(input)
        };
        let table = &provider.table;
        provider.merged = match table.keys_type {
            KeysType::Duplicate => None,
            KeysType::Unique if table.merge_on_write() => {
                Some(super::aggregate_model::unique_plan(table, input(false))?)
            }
            KeysType::Aggregate | KeysType::Unique => {
                Some(super::aggregate_model::merge_plan(table, input(true))?)
            }
        };
        Ok(provider)
    }

    /// The table's statistics from the tablet reports.
    pub fn stats(&self) -> &TableStats {
        &self.stats
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    /// A provider reading materialized index `index_id` of this table instead of the base
    /// (its scans show `TABLE: db.t(index)`).
    pub fn index_provider(&self, index_id: i64) -> Result<Option<OlapTableProvider>> {
        let Some(mut index_table) = self.table.index_table(index_id) else {
            return Ok(None);
        };
        let name = self
            .table
            .indexes
            .iter()
            .find(|i| i.id == index_id)
            .map(|i| i.name.clone())
            .unwrap_or_default();
        index_table.name = format!("{}({name})", self.table.name);
        Ok(Some(Self::try_new(
            self.db.clone(),
            index_table,
            Arc::clone(&self.plan_env),
            Arc::default(),
        )?))
    }

    /// `raw`: expose the storage columns, hidden ones included (the input of `merged`).
    fn new(db: String, table: Table, plan_env: Arc<PlanEnv>, raw: bool, merge_input: bool) -> Self {
        let columns = if raw {
            storage_arrow_schema(&table)
        } else {
            table_arrow_schema(&table)
        };
        let schema = scan_schema(&columns, merge_input);
        let defaults = table
            .columns
            .iter()
            .filter_map(|c| {
                let ty = c.column_type.to_arrow();
                let e = match c.default.as_ref()? {
                    ColumnDefault::Null => return None,
                    ColumnDefault::Literal(v) => cast(lit(v.clone()), ty),
                    ColumnDefault::CurrentTimestamp => {
                        cast(datafusion::functions::datetime::expr_fn::now(), ty)
                    }
                    ColumnDefault::CurrentDate => {
                        cast(datafusion::functions::datetime::expr_fn::current_date(), ty)
                    }
                };
                Some((arrow_name(&c.name), e))
            })
            .collect();
        Self {
            db,
            table,
            schema,
            defaults,
            plan_env,
            merged: None,
            merge_input,
            stats: Arc::default(),
        }
    }

    /// Plans the merged rows of an AGGREGATE KEY table when DataFusion did not inline
    /// [`TableProvider::get_logical_plan`] (a scan built with filters already attached):
    /// filters, projection and limit apply to the merged rows.
    async fn scan_merged(
        &self,
        state: &dyn Session,
        merged: &LogicalPlan,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut plan = LogicalPlanBuilder::from(merged.clone());
        let filters = filters
            .iter()
            .cloned()
            .map(unqualify)
            .collect::<Result<Vec<_>>>()?;
        if let Some(predicate) = conjunction(filters) {
            plan = plan.filter(predicate)?;
        }
        if let Some(p) = projection {
            plan = plan.project(p.iter().map(|&i| ident(self.schema.field(i).name())))?;
        }
        if limit.is_some() {
            plan = plan.limit(0, limit)?;
        }
        state.create_physical_plan(&plan.build()?).await
    }
}

/// What a BE needs to write rows into `t` under `txn_id`; `backends` says where the
/// backends holding the table's tablets listen.
pub fn sink_spec(db: &str, t: &Table, txn_id: i64, backends: Vec<ExchangeEndpoint>) -> SinkSpec {
    let key_columns = t
        .key_columns
        .iter()
        .filter_map(|k| t.column_index(k))
        .collect();
    let distribution_columns = distribution_columns(t);
    let partition_columns = t
        .partitioning
        .iter()
        .flat_map(|p| p.columns.iter())
        .filter_map(|c| t.column_index(c))
        .collect();
    SinkSpec {
        txn_id,
        db: db.to_string(),
        table: t.name.clone(),
        table_id: t.id,
        columns: t
            .storage_columns()
            .iter()
            .enumerate()
            .map(|(i, c)| SinkColumn {
                name: arrow_name(&c.name),
                column_type: c.column_type.clone(),
                nullable: c.nullable,
                hidden: i >= t.columns.len(),
            })
            .collect(),
        key_columns,
        distribution_columns,
        partition_columns,
        partitions: t
            .partitions
            .iter()
            .map(|p| SinkPartition {
                partition_id: p.id,
                name: p.name.clone(),
                item: p.item.clone(),
                tablet_ids: p.tablets.iter().map(|x| x.id).collect(),
                tablet_backends: p.tablets.iter().map(tablet_backends).collect(),
            })
            .collect(),
        backends,
        delete_sign: t.has_delete_sign().then_some(0),
        skip_unrouted: false,
        merge_on_write: t.merge_on_write(),
        partial_columns: None,
        indexes: t
            .indexes
            .iter()
            .map(|index| SinkIndex {
                index_id: index.id,
                columns: index
                    .columns
                    .iter()
                    .map(|c| SinkColumn {
                        name: arrow_name(&c.name),
                        column_type: c.column_type.clone(),
                        nullable: c.nullable,
                        hidden: false,
                    })
                    .collect(),
                key_columns: index
                    .columns
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.is_key)
                    .map(|(i, _)| i)
                    .collect(),
                sources: index
                    .columns
                    .iter()
                    .map(|c| t.column_index(&c.name))
                    .collect(),
                fills: index.fills.clone(),
                tablet_ids: t
                    .partitions
                    .iter()
                    .map(|p| {
                        p.index_tablets
                            .get(&index.id)
                            .map(|ts| ts.iter().map(|x| x.id).collect())
                            .unwrap_or_default()
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// The hash-distribution columns' indices (empty under random distribution).
fn distribution_columns(t: &Table) -> Vec<usize> {
    match &t.distribution {
        Distribution::Hash { columns, .. } => {
            columns.iter().filter_map(|c| t.column_index(c)).collect()
        }
        Distribution::Random { .. } => Vec::new(),
    }
}

/// A table's colocation group (its `colocate_with` property) as `db.group`: Doris scopes
/// groups to a database, except those named `__global__...`.
pub fn colocate_group(db: &str, properties: &BTreeMap<String, String>) -> Option<String> {
    let group = properties.get("colocate_with")?.trim();
    if group.is_empty() {
        return None;
    }
    Some(if group.starts_with("__global__") {
        group.to_string()
    } else {
        format!("{db}.{group}")
    })
}

fn tablet_backends(t: &crate::catalog::Tablet) -> Vec<i64> {
    t.replicas.iter().map(|r| r.backend_id).collect()
}

fn unqualify(e: Expr) -> Result<Expr> {
    Ok(e.transform(|e| {
        Ok(match e {
            Expr::Column(c) => Transformed::yes(Expr::Column(DfColumn::new_unqualified(c.name))),
            other => Transformed::no(other),
        })
    })?
    .data)
}

#[async_trait]
impl TableProvider for OlapTableProvider {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn get_column_default(&self, column: &str) -> Option<&Expr> {
        self.defaults.get(column)
    }

    fn get_logical_plan(&self) -> Option<Cow<'_, LogicalPlan>> {
        self.merged.as_ref().map(Cow::Borrowed)
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if let Some(merged) = &self.merged {
            return self
                .scan_merged(state, merged, projection, filters, limit)
                .await;
        }
        let filters: Vec<Expr> = filters
            .iter()
            .cloned()
            .map(unqualify)
            .collect::<Result<_>>()?;
        let predicate = match conjunction(filters.iter().cloned()) {
            Some(e) => {
                let df_schema = DFSchema::try_from(self.schema.as_ref().clone())?;
                Some(state.create_physical_expr(e, &df_schema)?)
            }
            None => None,
        };
        let selected = super::prune::select_partitions(&self.table, &filters);
        let buckets = super::prune::select_buckets(&self.table, &filters);
        let tablets: Vec<TabletRead> = selected
            .iter()
            .filter_map(|&i| self.table.partitions.get(i))
            .flat_map(|p| {
                p.tablets.iter().enumerate().map(|(bucket, t)| TabletRead {
                    tablet_id: t.id,
                    version: p.visible_version,
                    backends: tablet_backends(t),
                    bucket: bucket as u32,
                    partition: None,
                })
            })
            .filter(|t| buckets.as_ref().is_none_or(|b| b.contains(&t.bucket)))
            .collect();
        let rows = tablets
            .iter()
            .map(|t| self.stats.tablet_rows.get(&t.tablet_id).copied())
            .sum::<Option<u64>>();
        let spec = ScanSpec {
            db: self.db.clone(),
            table: self.table.name.clone(),
            table_id: self.table.id,
            total_tablets: self.table.tablet_count(),
            tablets,
            selected_partitions: selected.len(),
            total_partitions: self.table.partitions.len(),
            projection: projection.cloned(),
            limit,
            output_partitions: state.config().target_partitions().max(1),
            rows,
            distribution: distribution_columns(&self.table),
            buckets: match &self.table.distribution {
                Distribution::Hash { buckets, .. } | Distribution::Random { buckets, .. } => {
                    *buckets
                }
            },
            colocate_group: colocate_group(&self.db, &self.table.properties),
            bucket_group: None,
            merge_order: self.merge_input,
            fill_values: {
                let columns = self.table.storage_columns();
                if columns.iter().any(|c| c.fill_value.is_some()) {
                    columns.into_iter().map(|c| c.fill_value).collect()
                } else {
                    Vec::new()
                }
            },
        };
        let scan = OlapScanExec::try_new(spec, storage_arrow_schema(&self.table), predicate)?;
        let columns = scan
            .schema()
            .fields()
            .iter()
            .map(|f| self.stats.column_statistics(f.name(), f.data_type()))
            .collect();
        Ok(Arc::new(scan.with_column_statistics(columns)))
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if insert_op != InsertOp::Append {
            return Err(DataFusionError::NotImplemented(format!(
                "{insert_op} (only INSERT INTO is supported)"
            )));
        }
        let txn_id = self.plan_env.insert_txn.ok_or_else(|| {
            DataFusionError::Internal("INSERT planned without a load transaction".into())
        })?;
        // The coordinator fills in the backends' addresses when it sends the plan.
        let mut spec = sink_spec(&self.db, &self.table, txn_id, Vec::new());
        if spec.delete_sign.is_some() {
            spec.delete_sign = Some(self.plan_env.delete_sign);
        }
        spec.partial_columns = self.plan_env.partial_columns.clone();
        if let Some(names) = &self.plan_env.partitions {
            let keep: Vec<bool> = spec
                .partitions
                .iter()
                .map(|p| names.iter().any(|n| n.eq_ignore_ascii_case(&p.name)))
                .collect();
            let mut k = keep.iter();
            spec.partitions
                .retain(|_| k.next().copied().unwrap_or(false));
            for index in spec.indexes.iter_mut() {
                let mut k = keep.iter();
                index
                    .tablet_ids
                    .retain(|_| k.next().copied().unwrap_or(false));
            }
            spec.skip_unrouted = true;
        }
        Ok(Arc::new(OlapTableSinkExec::new(spec, input)))
    }
}
