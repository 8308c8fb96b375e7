//! Doris column types and their Arrow representation, shared by FE catalog and BE tablet schema.
//! [`ColumnType`] is what DDL declares; [`ColumnType::to_arrow`] is how segments store it.

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use serde::{Deserialize, Serialize};

/// Digits of the largest LARGEINT (2^127 - 1 = 170141183460469231731687303715884105727).
pub const LARGEINT_PRECISION: u8 = 39;

/// Arrow field metadata key holding a DATETIME column's fractional digits, so results can
/// print `DATETIME(3)` values with exactly three.
pub const DATETIME_SCALE_KEY: &str = "doris.datetime_scale";

/// Largest DECIMAL precision (DECIMALV3 with 128-bit storage).
pub const MAX_DECIMAL_PRECISION: u8 = 38;

/// A column type as declared in Doris DDL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ColumnType {
    Boolean,
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    /// 128-bit integer, held as a 39-digit decimal (Arrow has no 128-bit integer type);
    /// the range is checked on write.
    LargeInt,
    Float,
    Double,
    Decimal {
        precision: u8,
        scale: u8,
    },
    Date,
    /// DATETIME(p), p = fractional second digits 0..=6.
    DateTime {
        precision: u8,
    },
    Char {
        len: u32,
    },
    Varchar {
        len: u32,
    },
    String,
    /// A 64-bit roaring bitmap (see [`crate::functions::sketch`]).
    Bitmap,
    /// A HyperLogLog sketch (see [`crate::functions::sketch`]).
    Hll,
}

impl ColumnType {
    /// The Arrow type used in memory and in segment files.
    pub fn to_arrow(&self) -> DataType {
        match self {
            ColumnType::Boolean => DataType::Boolean,
            ColumnType::TinyInt => DataType::Int8,
            ColumnType::SmallInt => DataType::Int16,
            ColumnType::Int => DataType::Int32,
            ColumnType::BigInt => DataType::Int64,
            // 39 digits hold the full 128-bit range (Decimal128 stops at 38).
            ColumnType::LargeInt => DataType::Decimal256(LARGEINT_PRECISION, 0),
            ColumnType::Float => DataType::Float32,
            ColumnType::Double => DataType::Float64,
            ColumnType::Decimal { precision, scale } => {
                DataType::Decimal128(*precision, *scale as i8)
            }
            ColumnType::Date => DataType::Date32,
            ColumnType::DateTime { .. } => DataType::Timestamp(TimeUnit::Microsecond, None),
            ColumnType::Char { .. } | ColumnType::Varchar { .. } | ColumnType::String => {
                DataType::Utf8
            }
            ColumnType::Bitmap | ColumnType::Hll => DataType::Binary,
        }
    }

    /// The Arrow field for a column of this type (DATETIME(p) records p in its metadata).
    pub fn to_field(&self, name: &str, nullable: bool) -> datafusion::arrow::datatypes::Field {
        let field = datafusion::arrow::datatypes::Field::new(name, self.to_arrow(), nullable);
        match self {
            ColumnType::DateTime { precision } if *precision > 0 => field
                .with_metadata([(DATETIME_SCALE_KEY.to_string(), precision.to_string())].into()),
            _ => field,
        }
    }

    /// The type as `SHOW CREATE TABLE` / `DESC` print it (Doris spelling).
    pub fn sql_name(&self) -> String {
        match self {
            ColumnType::Boolean => "boolean".into(),
            ColumnType::TinyInt => "tinyint".into(),
            ColumnType::SmallInt => "smallint".into(),
            ColumnType::Int => "int".into(),
            ColumnType::BigInt => "bigint".into(),
            ColumnType::LargeInt => "largeint".into(),
            ColumnType::Float => "float".into(),
            ColumnType::Double => "double".into(),
            ColumnType::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
            ColumnType::Date => "date".into(),
            ColumnType::DateTime { precision: 0 } => "datetime".into(),
            ColumnType::DateTime { precision } => format!("datetime({precision})"),
            ColumnType::Char { len } => format!("char({len})"),
            ColumnType::Varchar { len } => format!("varchar({len})"),
            ColumnType::String => "text".into(),
            ColumnType::Bitmap => "bitmap".into(),
            ColumnType::Hll => "hll".into(),
        }
    }

    /// Maximum length in bytes for CHAR/VARCHAR columns, checked on every write.
    pub fn max_len(&self) -> Option<usize> {
        match self {
            ColumnType::Char { len } | ColumnType::Varchar { len } => Some(*len as usize),
            _ => None,
        }
    }
}

/// The data model of a table (and of each of its tablets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeysType {
    Duplicate,
    Aggregate,
    Unique,
}

impl KeysType {
    /// The clause as DDL writes it.
    pub fn sql(&self) -> &'static str {
        match self {
            KeysType::Duplicate => "DUPLICATE KEY",
            KeysType::Aggregate => "AGGREGATE KEY",
            KeysType::Unique => "UNIQUE KEY",
        }
    }

    /// The value carried in `TabletSchema.keys_type`.
    pub fn proto(&self) -> i32 {
        match self {
            KeysType::Duplicate => 0,
            KeysType::Aggregate => 1,
            KeysType::Unique => 2,
        }
    }

    pub fn from_proto(v: i32) -> Option<Self> {
        [KeysType::Duplicate, KeysType::Aggregate, KeysType::Unique]
            .into_iter()
            .find(|k| k.proto() == v)
    }
}
