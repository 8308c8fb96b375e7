//! Partition values and bounds of RANGE/LIST tables, shared by the FE catalog and the BE
//! writer. [`PartitionItem`] is one partition's range or value list; [`PartitionRouter`]
//! maps each row of a batch to the partition that holds it.

use std::cmp::Ordering;
use std::collections::HashMap;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Decimal256Type, Int16Type, Int32Type, Int64Type, Int8Type, TimeUnit,
    TimestampMicrosecondType,
};
use serde::{Deserialize, Serialize};

use crate::types::ColumnType;

/// How a partitioned table splits its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartitionKind {
    Range,
    List,
}

impl PartitionKind {
    pub fn sql(self) -> &'static str {
        match self {
            PartitionKind::Range => "RANGE",
            PartitionKind::List => "LIST",
        }
    }
}

/// One partition column value, typed by the column: integers of every width, DATE (days
/// since 1970-01-01), DATETIME (microseconds since 1970-01-01 00:00:00), strings, booleans.
/// `MaxValue` is above every value; `Null` (a LIST partition holding NULL) below.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PartitionValue {
    Null,
    Bool(bool),
    /// Held as text in the journal: JSON numbers do not carry 128 bits everywhere.
    Int(#[serde(with = "i128_text")] i128),
    Date(i32),
    DateTime(i64),
    Str(String),
    MaxValue,
}

mod i128_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &i128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i128, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl PartitionValue {
    fn rank(&self) -> u8 {
        match self {
            PartitionValue::Null => 0,
            PartitionValue::Bool(_) => 1,
            PartitionValue::Int(_) => 2,
            PartitionValue::Date(_) => 3,
            PartitionValue::DateTime(_) => 4,
            PartitionValue::Str(_) => 5,
            PartitionValue::MaxValue => 6,
        }
    }

    /// The value as `SHOW PARTITIONS` prints keys (Doris's `PartitionKey.toString`).
    pub fn to_text(&self, ct: &ColumnType) -> String {
        match self {
            PartitionValue::Null => "NULL".into(),
            PartitionValue::MaxValue => "MAXVALUE".into(),
            PartitionValue::Bool(b) => b.to_string(),
            PartitionValue::Int(i) => i.to_string(),
            PartitionValue::Date(d) => date_text(*d),
            PartitionValue::DateTime(us) => {
                let precision = match ct {
                    ColumnType::DateTime { precision } => *precision,
                    _ => 0,
                };
                datetime_text(*us, precision)
            }
            PartitionValue::Str(s) => s.clone(),
        }
    }

    /// The value as DDL writes it: `"10"`, `'2024-01-01'` for dates, `MAXVALUE`, `NULL`.
    pub fn to_sql(&self, ct: &ColumnType) -> String {
        match self {
            PartitionValue::Null => "NULL".into(),
            PartitionValue::MaxValue => "MAXVALUE".into(),
            PartitionValue::Date(_) | PartitionValue::DateTime(_) => {
                format!("'{}'", self.to_text(ct))
            }
            other => format!(
                "\"{}\"",
                other.to_text(ct).replace('\\', "\\\\").replace('"', "\\\"")
            ),
        }
    }
}

impl PartialOrd for PartitionValue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PartitionValue {
    fn cmp(&self, other: &Self) -> Ordering {
        use PartitionValue as V;
        match (self, other) {
            (V::Bool(a), V::Bool(b)) => a.cmp(b),
            (V::Int(a), V::Int(b)) => a.cmp(b),
            (V::Date(a), V::Date(b)) => a.cmp(b),
            (V::DateTime(a), V::DateTime(b)) => a.cmp(b),
            (V::Str(a), V::Str(b)) => a.as_bytes().cmp(b.as_bytes()),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

/// One partition's share of the key space.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartitionItem {
    /// Keys `lower <= key < upper`, compared column by column; both bounds have one value
    /// per partition column (a bound written with fewer is filled with the minimum).
    Range {
        lower: Vec<PartitionValue>,
        upper: Vec<PartitionValue>,
    },
    /// Exactly these keys (one value per partition column each).
    List { values: Vec<Vec<PartitionValue>> },
}

impl PartitionItem {
    /// The `Range` column of `SHOW PARTITIONS`, as Doris prints it:
    /// `[types: [INT]; keys: [0]; ..types: [INT]; keys: [10]; )` for a range,
    /// `[types: [VARCHAR]; keys: [a]; , types: [VARCHAR]; keys: [b]; ]` for a list.
    pub fn describe(&self, types: &[ColumnType]) -> String {
        match self {
            PartitionItem::Range { lower, upper } => format!(
                "[{}..{})",
                key_description(types, lower),
                key_description(types, upper)
            ),
            PartitionItem::List { values } => {
                let keys: Vec<String> = values.iter().map(|k| key_description(types, k)).collect();
                format!("[{}]", keys.join(", "))
            }
        }
    }
}

/// `types: [INT, DATEV2]; keys: [1, 2024-01-01]; `: one key as Doris's `PartitionKey`
/// prints it.
pub fn key_description(types: &[ColumnType], key: &[PartitionValue]) -> String {
    let names: Vec<&str> = types.iter().map(type_name).collect();
    let values: Vec<String> = key.iter().zip(types).map(|(v, t)| v.to_text(t)).collect();
    format!(
        "types: [{}]; keys: [{}]; ",
        names.join(", "),
        values.join(", ")
    )
}

/// `("1", '2024-01-01')`: one key as DDL writes it.
pub fn key_sql(types: &[ColumnType], key: &[PartitionValue]) -> String {
    let values: Vec<String> = key.iter().zip(types).map(|(v, t)| v.to_sql(t)).collect();
    format!("({})", values.join(", "))
}

/// The type as Doris names it in partition keys (its `PrimitiveType`).
pub fn type_name(ct: &ColumnType) -> &'static str {
    match ct {
        ColumnType::Boolean => "BOOLEAN",
        ColumnType::TinyInt => "TINYINT",
        ColumnType::SmallInt => "SMALLINT",
        ColumnType::Int => "INT",
        ColumnType::BigInt => "BIGINT",
        ColumnType::LargeInt => "LARGEINT",
        ColumnType::Float => "FLOAT",
        ColumnType::Double => "DOUBLE",
        ColumnType::Decimal { precision, .. } => match precision {
            0..=9 => "DECIMAL32",
            10..=18 => "DECIMAL64",
            _ => "DECIMAL128",
        },
        ColumnType::Date => "DATEV2",
        ColumnType::DateTime { .. } => "DATETIMEV2",
        ColumnType::Char { .. } => "CHAR",
        ColumnType::Varchar { .. } => "VARCHAR",
        ColumnType::String => "STRING",
        ColumnType::Bitmap => "BITMAP",
        ColumnType::Hll => "HLL",
    }
}

/// Whether a column of this type can partition a table of `kind` (Doris: RANGE takes
/// integers and dates, LIST also strings and booleans; never STRING).
pub fn check_column_type(kind: PartitionKind, name: &str, ct: &ColumnType) -> Result<(), String> {
    if *ct == ColumnType::String {
        return Err(format!(
            "String Type should not be used in partition column[{name}]."
        ));
    }
    if matches!(ct, ColumnType::Float | ColumnType::Double) {
        return Err("Floating point type column can not be partition column".into());
    }
    let integer_or_date = matches!(
        ct,
        ColumnType::TinyInt
            | ColumnType::SmallInt
            | ColumnType::Int
            | ColumnType::BigInt
            | ColumnType::LargeInt
            | ColumnType::Date
            | ColumnType::DateTime { .. }
    );
    let ok = match kind {
        PartitionKind::Range => integer_or_date,
        PartitionKind::List => {
            integer_or_date
                || matches!(
                    ct,
                    ColumnType::Char { .. } | ColumnType::Varchar { .. } | ColumnType::Boolean
                )
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "Column[{name}] type[{}] cannot be a {} partition key.",
            type_name(ct),
            kind.sql().to_lowercase()
        ))
    }
}

fn int_range(ct: &ColumnType) -> Option<(i128, i128)> {
    Some(match ct {
        ColumnType::TinyInt => (i8::MIN.into(), i8::MAX.into()),
        ColumnType::SmallInt => (i16::MIN.into(), i16::MAX.into()),
        ColumnType::Int => (i32::MIN.into(), i32::MAX.into()),
        ColumnType::BigInt => (i64::MIN.into(), i64::MAX.into()),
        ColumnType::LargeInt => (i128::MIN, i128::MAX),
        _ => return None,
    })
}

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()
}

fn year_ok(d: NaiveDate) -> bool {
    use chrono::Datelike;
    (0..=9999).contains(&d.year())
}

fn date_days(d: NaiveDate) -> i32 {
    (d - epoch()).num_days() as i32
}

fn date_text(days: i32) -> String {
    epoch()
        .checked_add_signed(chrono::Duration::days(days.into()))
        .map_or_else(|| days.to_string(), |d| d.format("%Y-%m-%d").to_string())
}

fn datetime_text(us: i64, precision: u8) -> String {
    let Some(t) = chrono::DateTime::from_timestamp_micros(us) else {
        return us.to_string();
    };
    let t = t.naive_utc();
    let base = t.format("%Y-%m-%d %H:%M:%S").to_string();
    let frac = us.rem_euclid(1_000_000);
    let digits = if frac == 0 {
        usize::from(precision)
    } else {
        // Show every digit the value has, at least the column's precision.
        let mut needed = 6;
        let mut f = frac;
        while f % 10 == 0 && needed > 0 {
            f /= 10;
            needed -= 1;
        }
        needed.max(usize::from(precision))
    };
    if digits == 0 {
        base
    } else {
        let text = format!("{frac:06}");
        format!("{base}.{}", &text[..digits.min(6)])
    }
}

fn parse_date(text: &str) -> Option<NaiveDate> {
    let t = text.trim();
    ["%Y-%m-%d", "%Y%m%d"]
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(t, f).ok())
        .or_else(|| parse_datetime(t).map(|dt| dt.date()))
        .filter(|d| year_ok(*d))
}

fn parse_datetime(text: &str) -> Option<NaiveDateTime> {
    let t = text.trim();
    [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y%m%d%H%M%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
    .or_else(|| {
        ["%Y-%m-%d", "%Y%m%d"]
            .iter()
            .find_map(|f| NaiveDate::parse_from_str(t, f).ok())
            .map(|d| d.and_time(NaiveTime::MIN))
    })
    .filter(|dt| year_ok(dt.date()))
}

/// A partition value written in DDL (quotes stripped), typed by its column.
pub fn parse_value(ct: &ColumnType, text: &str) -> Result<PartitionValue, String> {
    if let Some((min, max)) = int_range(ct) {
        let v: i128 = text
            .trim()
            .parse()
            .map_err(|_| format!("Invalid number format: {text}"))?;
        if v < min || v > max {
            return Err(format!(
                "Number out of range[{text}]. type: {}",
                type_name(ct)
            ));
        }
        return Ok(PartitionValue::Int(v));
    }
    match ct {
        ColumnType::Date => parse_date(text)
            .map(|d| PartitionValue::Date(date_days(d)))
            .ok_or_else(|| format!("date literal [{text}] is invalid")),
        ColumnType::DateTime { .. } => parse_datetime(text)
            .map(|dt| PartitionValue::DateTime(dt.and_utc().timestamp_micros()))
            .ok_or_else(|| format!("date literal [{text}] is invalid")),
        ColumnType::Char { len } | ColumnType::Varchar { len } => {
            if text.len() > *len as usize {
                return Err(format!(
                    "partition value '{text}' is longer than column type {} ({} > {len} bytes)",
                    ct.sql_name(),
                    text.len()
                ));
            }
            Ok(PartitionValue::Str(text.to_string()))
        }
        ColumnType::Boolean => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(PartitionValue::Bool(true)),
            "false" | "0" => Ok(PartitionValue::Bool(false)),
            _ => Err(format!("Invalid boolean value: {text}")),
        },
        other => Err(format!(
            "type[{}] cannot hold a partition value",
            type_name(other)
        )),
    }
}

/// The smallest value of a type: the lower bound of a first `LESS THAN` partition, the
/// filler of bounds written with fewer values than columns, and where NULL goes in RANGE
/// partitioning (Doris: `-2147483648` for INT, `0000-01-01` for DATE, `""` for strings).
pub fn min_value(ct: &ColumnType) -> PartitionValue {
    if let Some((min, _)) = int_range(ct) {
        return PartitionValue::Int(min);
    }
    let first_day = NaiveDate::from_ymd_opt(0, 1, 1).unwrap_or_default();
    match ct {
        ColumnType::Date => PartitionValue::Date(date_days(first_day)),
        ColumnType::DateTime { .. } => PartitionValue::DateTime(
            first_day
                .and_time(NaiveTime::MIN)
                .and_utc()
                .timestamp_micros(),
        ),
        ColumnType::Boolean => PartitionValue::Bool(false),
        _ => PartitionValue::Str(String::new()),
    }
}

/// Routes rows to partitions: by range (binary search over the sorted ranges) or by value
/// list (hash lookup); a table without partition columns has one partition for all rows.
#[derive(Debug)]
pub struct PartitionRouter {
    columns: Vec<usize>,
    types: Vec<ColumnType>,
    mins: Vec<PartitionValue>,
    routes: Routes,
}

#[derive(Debug)]
enum Routes {
    Single,
    /// `(lower, upper, partition index)`, sorted by `lower`; the ranges do not overlap.
    Range(Vec<(Vec<PartitionValue>, Vec<PartitionValue>, usize)>),
    List(HashMap<Vec<PartitionValue>, usize>),
}

impl PartitionRouter {
    /// `columns` are the partition columns' indices in the batches to route, `types` their
    /// types, `items` each partition's bounds (all `None` for an unpartitioned table).
    pub fn try_new(
        columns: Vec<usize>,
        types: Vec<ColumnType>,
        items: &[Option<&PartitionItem>],
    ) -> Result<Self, String> {
        if columns.len() != types.len() {
            return Err("partition columns and types differ in number".into());
        }
        let mins = types.iter().map(min_value).collect();
        let routes = if columns.is_empty() {
            if items.len() != 1 {
                return Err(format!(
                    "a table without partition columns has one partition, not {}",
                    items.len()
                ));
            }
            Routes::Single
        } else {
            let width = columns.len();
            let bad_width = || "a partition bound does not match the partition columns".to_string();
            match items.first() {
                Some(Some(PartitionItem::List { .. })) => {
                    let mut map = HashMap::new();
                    for (i, item) in items.iter().enumerate() {
                        let Some(PartitionItem::List { values }) = item else {
                            return Err("partitions of one table mix RANGE and LIST".into());
                        };
                        for key in values {
                            if key.len() != width {
                                return Err(bad_width());
                            }
                            map.insert(key.clone(), i);
                        }
                    }
                    Routes::List(map)
                }
                _ => {
                    let mut ranges = Vec::with_capacity(items.len());
                    for (i, item) in items.iter().enumerate() {
                        let Some(PartitionItem::Range { lower, upper }) = item else {
                            return Err("partitions of one table mix RANGE and LIST".into());
                        };
                        if lower.len() != width || upper.len() != width {
                            return Err(bad_width());
                        }
                        ranges.push((lower.clone(), upper.clone(), i));
                    }
                    ranges.sort_by(|a, b| a.0.cmp(&b.0));
                    Routes::Range(ranges)
                }
            }
        };
        Ok(Self {
            columns,
            types,
            mins,
            routes,
        })
    }

    /// The partition (index into the items given to [`Self::try_new`]) of every row of
    /// `batch`; `None` where no partition takes the row.
    pub fn route(&self, batch: &RecordBatch) -> Result<Vec<Option<usize>>, String> {
        let n = batch.num_rows();
        if matches!(self.routes, Routes::Single) {
            return Ok(vec![Some(0); n]);
        }
        let mut values: Vec<Vec<PartitionValue>> = Vec::with_capacity(self.columns.len());
        for (c, &i) in self.columns.iter().enumerate() {
            if i >= batch.num_columns() {
                return Err(format!("partition column {i} is not in the batch"));
            }
            values.push(self.column_values(batch.column(i), c)?);
        }
        let mut key: Vec<PartitionValue> = Vec::with_capacity(values.len());
        let mut out = Vec::with_capacity(n);
        for row in 0..n {
            key.clear();
            key.extend(values.iter().map(|col| col[row].clone()));
            out.push(self.find(&key));
        }
        Ok(out)
    }

    fn find(&self, key: &[PartitionValue]) -> Option<usize> {
        match &self.routes {
            Routes::Single => Some(0),
            Routes::Range(ranges) => {
                let pos = ranges.partition_point(|(lower, _, _)| lower.as_slice() <= key);
                let (_, upper, i) = ranges.get(pos.checked_sub(1)?)?;
                (key < upper.as_slice()).then_some(*i)
            }
            Routes::List(map) => map.get(key).copied(),
        }
    }

    /// `k = 15, c = 'x'`-style text of a row's partition columns, for error messages.
    pub fn row_text(&self, batch: &RecordBatch, row: usize, names: &[String]) -> String {
        let parts: Vec<String> = self
            .columns
            .iter()
            .enumerate()
            .map(|(c, &i)| {
                let name = names.get(i).map_or("?", String::as_str);
                let value = batch
                    .columns()
                    .get(i)
                    .filter(|a| row < a.len() && !a.is_null(row))
                    .and_then(|a| self.column_values(&a.slice(row, 1), c).ok())
                    .and_then(|v| v.into_iter().next())
                    .map_or_else(|| "NULL".to_string(), |v| v.to_text(&self.types[c]));
                format!("{name}={value}")
            })
            .collect();
        parts.join(", ")
    }

    /// Values of one partition column, NULL mapped as the partition kind wants it.
    fn column_values(&self, array: &ArrayRef, c: usize) -> Result<Vec<PartitionValue>, String> {
        let null = match self.routes {
            Routes::List(_) => PartitionValue::Null,
            _ => self.mins[c].clone(),
        };
        let n = array.len();
        let mut out = Vec::with_capacity(n);
        macro_rules! ints {
            ($t:ty) => {{
                let a = array.as_primitive::<$t>();
                for i in 0..n {
                    out.push(if a.is_null(i) {
                        null.clone()
                    } else {
                        PartitionValue::Int(i128::from(a.value(i)))
                    });
                }
            }};
        }
        match array.data_type() {
            DataType::Int8 => ints!(Int8Type),
            DataType::Int16 => ints!(Int16Type),
            DataType::Int32 => ints!(Int32Type),
            DataType::Int64 => ints!(Int64Type),
            DataType::Decimal256(_, 0) => {
                let a = array.as_primitive::<Decimal256Type>();
                for i in 0..n {
                    out.push(if a.is_null(i) {
                        null.clone()
                    } else {
                        let v = a.value(i).to_i128().ok_or_else(|| {
                            format!("{} is out of range for LARGEINT", a.value(i))
                        })?;
                        PartitionValue::Int(v)
                    });
                }
            }
            DataType::Date32 => {
                let a = array.as_primitive::<Date32Type>();
                for i in 0..n {
                    out.push(if a.is_null(i) {
                        null.clone()
                    } else {
                        PartitionValue::Date(a.value(i))
                    });
                }
            }
            DataType::Timestamp(TimeUnit::Microsecond, None) => {
                let a = array.as_primitive::<TimestampMicrosecondType>();
                for i in 0..n {
                    out.push(if a.is_null(i) {
                        null.clone()
                    } else {
                        PartitionValue::DateTime(a.value(i))
                    });
                }
            }
            DataType::Utf8 => {
                let a = array.as_string::<i32>();
                for i in 0..n {
                    out.push(if a.is_null(i) {
                        null.clone()
                    } else {
                        PartitionValue::Str(a.value(i).to_string())
                    });
                }
            }
            DataType::Boolean => {
                let a = array.as_boolean();
                for i in 0..n {
                    out.push(if a.is_null(i) {
                        null.clone()
                    } else {
                        PartitionValue::Bool(a.value(i))
                    });
                }
            }
            other => {
                return Err(format!(
                    "a {other} column cannot be routed to partitions (type {})",
                    type_name(&self.types[c])
                ))
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Date32Array, Int32Array, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};

    use super::*;

    fn int(v: i128) -> PartitionValue {
        PartitionValue::Int(v)
    }

    #[test]
    fn values_parse_by_type_and_compare_as_that_type() {
        let i = ColumnType::Int;
        assert_eq!(parse_value(&i, "10"), Ok(int(10)));
        assert_eq!(parse_value(&i, "-5"), Ok(int(-5)));
        assert!(parse_value(&ColumnType::TinyInt, "200")
            .is_err_and(|e| e.contains("Number out of range[200]. type: TINYINT")));
        assert!(parse_value(&i, "abc").is_err_and(|e| e.contains("Invalid number format")));
        // 9 < 10 as numbers (as strings "9" > "10").
        assert!(int(9) < int(10));
        let d = parse_value(&ColumnType::Date, "2024-02-01").unwrap_or(PartitionValue::Null);
        let e = parse_value(&ColumnType::Date, "2024-10-01").unwrap_or(PartitionValue::Null);
        assert!(d < e);
        assert_eq!(d.to_text(&ColumnType::Date), "2024-02-01");
        assert!(parse_value(&ColumnType::Date, "2023-02-30").is_err());
        let dt = ColumnType::DateTime { precision: 0 };
        let v = parse_value(&dt, "2024-01-01").unwrap_or(PartitionValue::Null);
        assert_eq!(v.to_text(&dt), "2024-01-01 00:00:00");
        assert_eq!(v.to_sql(&dt), "'2024-01-01 00:00:00'");
        let dt3 = ColumnType::DateTime { precision: 3 };
        let v = parse_value(&dt3, "2024-01-01 10:20:30.5").unwrap_or(PartitionValue::Null);
        assert_eq!(v.to_text(&dt3), "2024-01-01 10:20:30.500");
        assert_eq!(
            min_value(&ColumnType::Int).to_text(&ColumnType::Int),
            "-2147483648"
        );
        assert_eq!(
            min_value(&ColumnType::Date).to_text(&ColumnType::Date),
            "0000-01-01"
        );
        assert_eq!(min_value(&dt).to_text(&dt), "0000-01-01 00:00:00");
        assert!(min_value(&ColumnType::Date) < d);
        assert!(int(i128::MAX) < PartitionValue::MaxValue);
        let large = parse_value(
            &ColumnType::LargeInt,
            "-170141183460469231731687303715884105728",
        );
        assert_eq!(large, Ok(int(i128::MIN)));
    }

    #[test]
    fn items_round_trip_through_json_with_128_bit_values() {
        let item = PartitionItem::Range {
            lower: vec![int(i128::MIN)],
            upper: vec![PartitionValue::MaxValue],
        };
        let json = serde_json::to_string(&item).unwrap_or_default();
        let back: Option<PartitionItem> = serde_json::from_str(&json).ok();
        assert_eq!(back, Some(item));
    }

    #[test]
    fn describe_matches_doris() {
        let types = [ColumnType::Int];
        let item = PartitionItem::Range {
            lower: vec![min_value(&ColumnType::Int)],
            upper: vec![int(10)],
        };
        assert_eq!(
            item.describe(&types),
            "[types: [INT]; keys: [-2147483648]; ..types: [INT]; keys: [10]; )"
        );
        let types = [ColumnType::Varchar { len: 5 }];
        let item = PartitionItem::List {
            values: vec![
                vec![PartitionValue::Str("a".into())],
                vec![PartitionValue::Str("b".into())],
            ],
        };
        assert_eq!(
            item.describe(&types),
            "[types: [VARCHAR]; keys: [a]; , types: [VARCHAR]; keys: [b]; ]"
        );
        assert_eq!(
            key_sql(
                &[ColumnType::Int, ColumnType::Date],
                &[int(1), PartitionValue::MaxValue]
            ),
            "(\"1\", MAXVALUE)"
        );
    }

    fn batch(k: Vec<Option<i32>>, s: Vec<Option<&str>>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int32, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int32Array::from(k)),
                Arc::new(StringArray::from(s)),
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn range_routing_with_gaps_nulls_and_maxvalue() {
        let min = min_value(&ColumnType::Int);
        // p0 [MIN, 10), p1 [20, 30), p2 [30, MAX): declared out of order.
        let items = [
            PartitionItem::Range {
                lower: vec![int(20)],
                upper: vec![int(30)],
            },
            PartitionItem::Range {
                lower: vec![min],
                upper: vec![int(10)],
            },
            PartitionItem::Range {
                lower: vec![int(30)],
                upper: vec![PartitionValue::MaxValue],
            },
        ];
        let refs: Vec<Option<&PartitionItem>> = items.iter().map(Some).collect();
        let router = PartitionRouter::try_new(vec![0], vec![ColumnType::Int], &refs)
            .unwrap_or_else(|e| panic!("{e}"));
        let b = batch(
            vec![
                Some(-100),
                Some(9),
                Some(10),
                Some(19),
                Some(20),
                Some(29),
                Some(30),
                Some(i32::MAX),
                None,
                Some(i32::MIN),
            ],
            vec![None; 10],
        );
        let routes = router.route(&b).unwrap_or_default();
        assert_eq!(
            routes,
            vec![
                Some(1),
                Some(1),
                None,
                None,
                Some(0),
                Some(0),
                Some(2),
                Some(2),
                Some(1),
                Some(1)
            ]
        );
        let names = vec!["k".to_string(), "s".to_string()];
        assert_eq!(router.row_text(&b, 2, &names), "k=10");
        assert_eq!(router.row_text(&b, 8, &names), "k=NULL");
    }

    #[test]
    fn null_goes_nowhere_when_no_range_starts_at_the_minimum() {
        let items = [PartitionItem::Range {
            lower: vec![int(0)],
            upper: vec![int(10)],
        }];
        let refs: Vec<Option<&PartitionItem>> = items.iter().map(Some).collect();
        let router = PartitionRouter::try_new(vec![0], vec![ColumnType::Int], &refs)
            .unwrap_or_else(|e| panic!("{e}"));
        let routes = router.route(&batch(vec![None, Some(5)], vec![None, None]));
        assert_eq!(routes, Ok(vec![None, Some(0)]));
    }

    #[test]
    fn list_routing_single_and_multi_column() {
        let s = |v: &str| PartitionValue::Str(v.into());
        let items = [
            PartitionItem::List {
                values: vec![vec![s("a")], vec![s("b")]],
            },
            PartitionItem::List {
                values: vec![vec![s("c")], vec![PartitionValue::Null]],
            },
        ];
        let refs: Vec<Option<&PartitionItem>> = items.iter().map(Some).collect();
        let router = PartitionRouter::try_new(vec![1], vec![ColumnType::Varchar { len: 3 }], &refs)
            .unwrap_or_else(|e| panic!("{e}"));
        let b = batch(
            vec![None; 5],
            vec![Some("a"), Some("c"), None, Some("zz"), Some("b")],
        );
        assert_eq!(
            router.route(&b),
            Ok(vec![Some(0), Some(1), Some(1), None, Some(0)])
        );

        let items = [PartitionItem::List {
            values: vec![vec![int(1), s("a")]],
        }];
        let refs: Vec<Option<&PartitionItem>> = items.iter().map(Some).collect();
        let router = PartitionRouter::try_new(
            vec![0, 1],
            vec![ColumnType::Int, ColumnType::Varchar { len: 3 }],
            &refs,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let b = batch(
            vec![Some(1), Some(2), Some(1)],
            vec![Some("a"), Some("a"), Some("b")],
        );
        assert_eq!(router.route(&b), Ok(vec![Some(0), None, None]));
    }

    #[test]
    fn dates_route_as_dates() {
        let d = |t: &str| parse_value(&ColumnType::Date, t).unwrap_or(PartitionValue::Null);
        let items = [
            PartitionItem::Range {
                lower: vec![min_value(&ColumnType::Date)],
                upper: vec![d("2024-02-01")],
            },
            PartitionItem::Range {
                lower: vec![d("2024-02-01")],
                upper: vec![d("2024-10-01")],
            },
        ];
        let refs: Vec<Option<&PartitionItem>> = items.iter().map(Some).collect();
        let router = PartitionRouter::try_new(vec![0], vec![ColumnType::Date], &refs)
            .unwrap_or_else(|e| panic!("{e}"));
        let days = |t: &str| match d(t) {
            PartitionValue::Date(x) => x,
            _ => 0,
        };
        let schema = Arc::new(Schema::new(vec![Field::new("d", DataType::Date32, true)]));
        let b = RecordBatch::try_new(
            schema,
            vec![Arc::new(Date32Array::from(vec![
                Some(days("2024-01-31")),
                Some(days("2024-02-01")),
                Some(days("2024-09-30")),
                Some(days("2024-10-01")),
            ]))],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(router.route(&b), Ok(vec![Some(0), Some(1), Some(1), None]));
    }
}
