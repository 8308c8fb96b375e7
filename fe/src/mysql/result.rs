//! Query output and its MySQL encoding: [`QueryOutput`] is what a statement returns;
//! [`mysql_columns`] and [`render_rows`] turn Arrow schemas and batches into MySQL column
//! definitions and text-protocol rows.

use std::sync::Arc;

use datafusion::arrow::array::{Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use futures::stream::BoxStream;
use opensrv_mysql::{Column, ColumnFlags, ColumnType};

use crate::error::{FeError, Result};

pub type BatchStream = BoxStream<'static, Result<RecordBatch>>;

/// A result set: schema plus a stream of batches.
pub struct RowSet {
    pub schema: SchemaRef,
    pub batches: BatchStream,
}

pub enum QueryOutput {
    Ok { affected_rows: u64, info: String },
    Rows(RowSet),
}

impl QueryOutput {
    pub fn ok() -> Self {
        QueryOutput::Ok {
            affected_rows: 0,
            info: String::new(),
        }
    }

    /// A result set of text columns (how SHOW statements answer).
    pub fn strings(columns: &[&str], rows: Vec<Vec<Option<String>>>) -> Result<Self> {
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|c| Field::new(*c, DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        let arrays = (0..columns.len())
            .map(|i| {
                Arc::new(StringArray::from(
                    rows.iter()
                        .map(|r| r.get(i).cloned().flatten())
                        .collect::<Vec<_>>(),
                )) as Arc<dyn Array>
            })
            .collect();
        let batch = RecordBatch::try_new(Arc::clone(&schema), arrays)
            .map_err(|e| FeError::Internal(e.to_string()))?;
        Ok(Self::batches(schema, vec![batch]))
    }

    pub fn batches(schema: SchemaRef, batches: Vec<RecordBatch>) -> Self {
        QueryOutput::Rows(RowSet {
            schema,
            batches: Box::pin(futures::stream::iter(batches.into_iter().map(Ok))),
        })
    }
}

fn mysql_type(dt: &DataType) -> (ColumnType, ColumnFlags) {
    let none = ColumnFlags::empty();
    let unsigned = ColumnFlags::UNSIGNED_FLAG;
    match dt {
        DataType::Boolean | DataType::Int8 => (ColumnType::MYSQL_TYPE_TINY, none),
        DataType::UInt8 => (ColumnType::MYSQL_TYPE_TINY, unsigned),
        DataType::Int16 => (ColumnType::MYSQL_TYPE_SHORT, none),
        DataType::UInt16 => (ColumnType::MYSQL_TYPE_SHORT, unsigned),
        DataType::Int32 => (ColumnType::MYSQL_TYPE_LONG, none),
        DataType::UInt32 => (ColumnType::MYSQL_TYPE_LONG, unsigned),
        DataType::Int64 => (ColumnType::MYSQL_TYPE_LONGLONG, none),
        DataType::UInt64 => (ColumnType::MYSQL_TYPE_LONGLONG, unsigned),
        DataType::Float16 | DataType::Float32 => (ColumnType::MYSQL_TYPE_FLOAT, none),
        DataType::Float64 => (ColumnType::MYSQL_TYPE_DOUBLE, none),
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => (ColumnType::MYSQL_TYPE_NEWDECIMAL, none),
        DataType::Date32 | DataType::Date64 => (ColumnType::MYSQL_TYPE_DATE, none),
        DataType::Timestamp(..) => (ColumnType::MYSQL_TYPE_DATETIME, none),
        DataType::Time32(_) | DataType::Time64(_) => (ColumnType::MYSQL_TYPE_TIME, none),
        DataType::Null => (ColumnType::MYSQL_TYPE_NULL, none),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
            (ColumnType::MYSQL_TYPE_BLOB, ColumnFlags::BINARY_FLAG)
        }
        _ => (ColumnType::MYSQL_TYPE_VAR_STRING, none),
    }
}

/// MySQL column definitions for `schema`.
pub fn mysql_columns(schema: &Schema) -> Vec<Column> {
    schema
        .fields()
        .iter()
        .map(|f| {
            let (coltype, mut colflags) = mysql_type(f.data_type());
            if !f.is_nullable() {
                colflags |= ColumnFlags::NOT_NULL_FLAG;
            }
            Column {
                table: String::new(),
                column: f.name().clone(),
                coltype,
                colflags,
            }
        })
        .collect()
}

/// Renders `batch` as text-protocol values (`None` = NULL), MySQL style: dates as
/// `YYYY-MM-DD`, datetimes as `YYYY-MM-DD HH:MM:SS[.ffffff]`, booleans as 1/0.
pub fn render_rows(batch: &RecordBatch) -> Result<Vec<Vec<Option<String>>>> {
    let options = FormatOptions::new()
        .with_date_format(Some("%Y-%m-%d"))
        .with_datetime_format(Some("%Y-%m-%d %H:%M:%S%.f"))
        .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.f"))
        .with_timestamp_tz_format(Some("%Y-%m-%d %H:%M:%S%.f"));
    let columns: Vec<&Arc<dyn Array>> = batch.columns().iter().collect();
    let formatters = columns
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| FeError::Internal(format!("cannot render result: {e}")))?;
    // DATETIME(p) columns print exactly p fractional digits, like Doris.
    let scales: Vec<Option<usize>> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| {
            f.metadata()
                .get(doris_common::types::DATETIME_SCALE_KEY)
                .and_then(|s| s.parse().ok())
        })
        .collect();
    let mut rows = Vec::with_capacity(batch.num_rows());
    for r in 0..batch.num_rows() {
        let mut row = Vec::with_capacity(columns.len());
        for ((c, f), scale) in columns.iter().zip(&formatters).zip(&scales) {
            // BITMAP and HLL values (binary) print as NULL, as Doris prints object types.
            if c.is_null(r) || matches!(c.data_type(), DataType::Binary) {
                row.push(None);
            } else if let (Some(scale), Some(ts)) = (
                scale,
                c.as_any()
                    .downcast_ref::<datafusion::arrow::array::TimestampMicrosecondArray>(),
            ) {
                row.push(Some(datetime_with_scale(ts.value(r), *scale)));
            } else if let Some(f) = c
                .as_any()
                .downcast_ref::<datafusion::arrow::array::Float64Array>()
            {
                row.push(Some(doris_common::functions::format_mysql_double(
                    f.value(r),
                )));
            } else if let Some(f) = c
                .as_any()
                .downcast_ref::<datafusion::arrow::array::Float32Array>()
            {
                row.push(Some(f.value(r).to_string()));
            } else if let DataType::Boolean = c.data_type() {
                let b = c
                    .as_any()
                    .downcast_ref::<datafusion::arrow::array::BooleanArray>()
                    .is_some_and(|a| a.value(r));
                row.push(Some(if b { "1" } else { "0" }.to_string()));
            } else {
                row.push(Some(f.value(r).to_string()));
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

/// `YYYY-MM-DD HH:MM:SS.f…` with exactly `scale` fractional digits (0..=6).
fn datetime_with_scale(micros: i64, scale: usize) -> String {
    let Some(dt) = chrono::DateTime::from_timestamp_micros(micros) else {
        return micros.to_string();
    };
    let base = dt.naive_utc().format("%Y-%m-%d %H:%M:%S").to_string();
    if scale == 0 {
        return base;
    }
    let frac = format!("{:06}", micros.rem_euclid(1_000_000));
    format!("{base}.{}", &frac[..scale.min(6)])
}

#[cfg(test)]
mod tests {
    #[test]
    fn datetime_scale_padding() {
        assert_eq!(
            super::datetime_with_scale(1_704_067_200_500_000, 6),
            "2024-01-01 00:00:00.500000"
        );
        assert_eq!(
            super::datetime_with_scale(1_704_067_200_000_000, 3),
            "2024-01-01 00:00:00.000"
        );
    }

    use super::*;
    use datafusion::arrow::array::{Date32Array, Float64Array, TimestampMicrosecondArray};

    #[test]
    fn renders_mysql_text() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("d", DataType::Date32, true),
            Field::new(
                "t",
                DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Microsecond, None),
                true,
            ),
            Field::new("f", DataType::Float64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Date32Array::from(vec![Some(19000), None])),
                Arc::new(TimestampMicrosecondArray::from(vec![
                    Some(1_662_422_401_000_000),
                    Some(1_662_422_401_500_000),
                ])),
                Arc::new(Float64Array::from(vec![Some(2.5), Some(3.0)])),
            ],
        )
        .expect("batch");
        let rows = render_rows(&batch).expect("render");
        assert_eq!(rows[0][0].as_deref(), Some("2022-01-08"));
        assert_eq!(rows[1][0], None);
        assert_eq!(rows[0][1].as_deref(), Some("2022-09-06 00:00:01"));
        assert_eq!(rows[1][1].as_deref(), Some("2022-09-06 00:00:01.500"));
        assert_eq!(rows[0][2].as_deref(), Some("2.5"));
        assert_eq!(rows[1][2].as_deref(), Some("3"));
    }
}
