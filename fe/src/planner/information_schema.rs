//! MySQL's `information_schema` (schemata, tables, columns, views) over the catalog, with
//! MySQL type names (`int`, `varchar(20)`) so BI tools and drivers can read metadata.
//! Entry point: [`InformationSchema`].

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{MemTable, SchemaProvider, TableProvider};
use datafusion::error::Result;
use doris_common::types::ColumnType;

use crate::catalog::{Catalog, ColumnDefault, KeysType};
use crate::env::Env;

pub const NAME: &str = "information_schema";
pub const TABLES: [&str; 4] = ["schemata", "tables", "columns", "views"];

pub struct InformationSchema {
    pub env: Arc<Env>,
}

impl std::fmt::Debug for InformationSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InformationSchema")
    }
}

/// A column of a metadata table: text, or an unsigned number.
enum Col {
    Text(Vec<Option<String>>),
    Num(Vec<Option<u64>>),
}

fn table(columns: Vec<(&str, Col)>) -> Result<Arc<dyn TableProvider>> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, c)| match c {
            Col::Text(_) => Field::new(*name, DataType::Utf8, true),
            Col::Num(_) => Field::new(*name, DataType::UInt64, true),
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let arrays: Vec<ArrayRef> = columns
        .into_iter()
        .map(|(_, c)| match c {
            Col::Text(v) => Arc::new(StringArray::from(v)) as ArrayRef,
            Col::Num(v) => Arc::new(UInt64Array::from(v)) as ArrayRef,
        })
        .collect();
    let batch = RecordBatch::try_new(Arc::clone(&schema), arrays)?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}

/// A text column computed from each row.
fn texts<R>(rows: &[R], f: impl Fn(&R) -> Option<String>) -> Col {
    Col::Text(rows.iter().map(f).collect())
}

fn text<T: ToString>(v: T) -> Option<String> {
    Some(v.to_string())
}

/// MySQL's DATA_TYPE, COLUMN_TYPE, max length, numeric precision/scale, datetime precision.
type TypeInfo = (
    String,
    String,
    Option<u64>,
    Option<u64>,
    Option<u64>,
    Option<u64>,
);

fn type_info(t: &ColumnType) -> TypeInfo {
    let n = |p: u64, s: u64| (Some(p), Some(s));
    let (data, column, len, (prec, scale), dt) = match t {
        ColumnType::Boolean => ("tinyint", "tinyint(1)".into(), None, n(3, 0), None),
        ColumnType::TinyInt => ("tinyint", "tinyint(4)".into(), None, n(3, 0), None),
        ColumnType::SmallInt => ("smallint", "smallint(6)".into(), None, n(5, 0), None),
        ColumnType::Int => ("int", "int(11)".into(), None, n(10, 0), None),
        ColumnType::BigInt => ("bigint", "bigint(20)".into(), None, n(19, 0), None),
        ColumnType::LargeInt => (
            "bigint unsigned",
            "largeint(40)".into(),
            None,
            n(39, 0),
            None,
        ),
        ColumnType::Float => ("float", "float".into(), None, n(7, 0), None),
        ColumnType::Double => ("double", "double".into(), None, n(15, 0), None),
        ColumnType::Decimal { precision, scale } => (
            "decimal",
            t.sql_name(),
            None,
            n(u64::from(*precision), u64::from(*scale)),
            None,
        ),
        ColumnType::Date => ("date", "date".into(), None, (None, None), None),
        ColumnType::DateTime { precision } => (
            "datetime",
            t.sql_name(),
            None,
            (None, None),
            Some(u64::from(*precision)),
        ),
        ColumnType::Char { len } => (
            "char",
            t.sql_name(),
            Some(u64::from(*len)),
            (None, None),
            None,
        ),
        ColumnType::Varchar { len } => (
            "varchar",
            t.sql_name(),
            Some(u64::from(*len)),
            (None, None),
            None,
        ),
        ColumnType::String => (
            "varchar",
            "text".into(),
            Some(2_147_483_643),
            (None, None),
            None,
        ),
        ColumnType::Bitmap => ("bitmap", "bitmap".into(), None, (None, None), None),
        ColumnType::Hll => ("hll", "hll".into(), None, (None, None), None),
    };
    (data.to_string(), column, len, prec, scale, dt)
}

fn schemata(c: &Catalog) -> Result<Arc<dyn TableProvider>> {
    let mut names: Vec<String> = c.databases.values().map(|d| d.name.clone()).collect();
    names.push(NAME.into());
    names.sort();
    let n = names.len();
    table(vec![
        ("catalog_name", Col::Text(vec![text("def"); n])),
        (
            "schema_name",
            Col::Text(names.into_iter().map(Some).collect()),
        ),
        (
            "default_character_set_name",
            Col::Text(vec![text("utf8mb4"); n]),
        ),
        (
            "default_collation_name",
            Col::Text(vec![text("utf8mb4_0900_bin"); n]),
        ),
        ("sql_path", Col::Text(vec![None; n])),
    ])
}

fn tables(c: &Catalog) -> Result<Arc<dyn TableProvider>> {
    let mut rows: Vec<(String, String, &str, String)> = Vec::new();
    for d in c.databases.values() {
        for t in d.tables.values() {
            rows.push((
                d.name.clone(),
                t.name.clone(),
                "BASE TABLE",
                t.comment.clone(),
            ));
        }
        for v in d.views.values() {
            rows.push((d.name.clone(), v.name.clone(), "VIEW", String::new()));
        }
    }
    for t in TABLES {
        rows.push((NAME.into(), t.into(), "SYSTEM VIEW", String::new()));
    }
    let n = rows.len();
    table(vec![
        ("table_catalog", Col::Text(vec![text("def"); n])),
        ("table_schema", texts(&rows, |r| text(&r.0))),
        ("table_name", texts(&rows, |r| text(&r.1))),
        ("table_type", texts(&rows, |r| text(r.2))),
        (
            "engine",
            Col::Text(
                rows.iter()
                    .map(|r| (r.2 == "BASE TABLE").then(|| "Doris".into()))
                    .collect(),
            ),
        ),
        (
            "table_collation",
            Col::Text(vec![text("utf8mb4_0900_bin"); n]),
        ),
        ("table_comment", texts(&rows, |r| text(&r.3))),
    ])
}

fn columns(c: &Catalog) -> Result<Arc<dyn TableProvider>> {
    let mut out: Vec<[Option<String>; 9]> = Vec::new();
    let mut nums: Vec<[Option<u64>; 5]> = Vec::new();
    for d in c.databases.values() {
        for t in d.tables.values() {
            for (i, col) in t.columns.iter().enumerate() {
                let (data, column_type, len, prec, scale, dt) = type_info(&col.column_type);
                let default = match &col.default {
                    Some(ColumnDefault::Literal(v)) => Some(v.clone()),
                    Some(ColumnDefault::CurrentTimestamp) => text("CURRENT_TIMESTAMP"),
                    Some(ColumnDefault::CurrentDate) => text("CURRENT_DATE"),
                    _ => None,
                };
                out.push([
                    text(&d.name),
                    text(&t.name),
                    text(&col.name),
                    default,
                    text(if col.nullable { "YES" } else { "NO" }),
                    Some(data),
                    Some(column_type),
                    // Doris's `KeysType.toMetadata()` for key columns.
                    text(match (col.is_key, t.keys_type) {
                        (false, _) => "",
                        (true, KeysType::Duplicate) => "DUP",
                        (true, KeysType::Aggregate) => "AGG",
                        (true, KeysType::Unique) => "UNI",
                    }),
                    text(&col.comment),
                ]);
                nums.push([Some(i as u64 + 1), len, prec, scale, dt]);
            }
        }
    }
    let n = out.len();
    let txt = |i: usize| Col::Text(out.iter().map(|r| r[i].clone()).collect());
    let num = |i: usize| Col::Num(nums.iter().map(|r| r[i]).collect());
    table(vec![
        ("table_catalog", Col::Text(vec![text("def"); n])),
        ("table_schema", txt(0)),
        ("table_name", txt(1)),
        ("column_name", txt(2)),
        ("ordinal_position", num(0)),
        ("column_default", txt(3)),
        ("is_nullable", txt(4)),
        ("data_type", txt(5)),
        ("character_maximum_length", num(1)),
        ("numeric_precision", num(2)),
        ("numeric_scale", num(3)),
        ("datetime_precision", num(4)),
        ("character_set_name", Col::Text(vec![text("utf8mb4"); n])),
        ("column_type", txt(6)),
        ("column_key", txt(7)),
        ("extra", Col::Text(vec![text(""); n])),
        ("column_comment", txt(8)),
    ])
}

fn views(c: &Catalog) -> Result<Arc<dyn TableProvider>> {
    let rows: Vec<(String, String, String)> = c
        .databases
        .values()
        .flat_map(|d| {
            d.views
                .values()
                .map(move |v| (d.name.clone(), v.name.clone(), v.query.clone()))
        })
        .collect();
    let n = rows.len();
    table(vec![
        ("table_catalog", Col::Text(vec![text("def"); n])),
        ("table_schema", texts(&rows, |r| text(&r.0))),
        ("table_name", texts(&rows, |r| text(&r.1))),
        ("view_definition", texts(&rows, |r| text(&r.2))),
    ])
}

#[async_trait]
impl SchemaProvider for InformationSchema {
    fn table_names(&self) -> Vec<String> {
        TABLES.iter().map(|t| t.to_string()).collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let catalog = self.env.catalog.read();
        Ok(Some(match name.to_ascii_lowercase().as_str() {
            "schemata" => schemata(&catalog)?,
            "tables" => tables(&catalog)?,
            "columns" => columns(&catalog)?,
            "views" => views(&catalog)?,
            _ => return Ok(None),
        }))
    }

    fn table_exist(&self, name: &str) -> bool {
        TABLES.contains(&name.to_ascii_lowercase().as_str())
    }
}
