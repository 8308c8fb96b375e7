//! Table statistics for the planner, merged from the backends' tablet reports: rows per
//! tablet, and per column the NULL count and the range of integer-like columns. They feed
//! DataFusion's estimates (scan statistics, join cardinalities, filter selectivity) and the
//! join order ([`super::join_order`]). Statistics are estimates: they may lag a load by a
//! report round and are never used to answer a query.

use std::collections::HashMap;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::stats::Precision;
use datafusion::common::{ColumnStatistics, ScalarValue};

use crate::catalog::Table;
use crate::cluster::TabletReports;

/// One column over a whole table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnStat {
    pub null_count: u64,
    /// Range of an integer-like column (dates as days since the epoch).
    pub min: Option<i64>,
    pub max: Option<i64>,
    /// At most this many distinct non-NULL values (reported for first key columns).
    pub distinct: Option<u64>,
}

/// What the planner knows of one table's data.
#[derive(Debug, Clone, Default)]
pub struct TableStats {
    /// Rows per tablet as last reported (tablets not reported yet are missing).
    pub tablet_rows: HashMap<i64, u64>,
    /// Rows of the whole table, when every tablet has reported.
    pub rows: Option<u64>,
    /// Columns known for every tablet holding rows, by (lower-case) column name.
    pub columns: HashMap<String, ColumnStat>,
}

impl TableStats {
    /// Merges the reports of `table`'s tablets.
    pub fn from_reports(table: &Table, reports: &TabletReports) -> Self {
        let mut stats = TableStats {
            rows: Some(0),
            ..Default::default()
        };
        let mut columns: Option<HashMap<String, ColumnStat>> = None;
        for tablet in table.partitions.iter().flat_map(|p| &p.tablets) {
            let Some(report) = reports.get(tablet.id) else {
                stats.rows = None;
                columns = Some(HashMap::new());
                continue;
            };
            let rows = report.rows();
            stats.tablet_rows.insert(tablet.id, rows);
            stats.rows = stats.rows.map(|r| r + rows);
            if rows == 0 {
                continue;
            }
            let reported = report.columns.iter().map(|c| {
                let stat = ColumnStat {
                    null_count: u64::try_from(c.null_count).unwrap_or(0),
                    min: c.min,
                    max: c.max,
                    distinct: c.distinct,
                };
                (c.name.to_lowercase(), stat)
            });
            columns = Some(match columns {
                None => reported.collect(),
                Some(mut acc) => {
                    let reported: HashMap<String, ColumnStat> = reported.collect();
                    acc.retain(|name, a| match reported.get(name) {
                        Some(b) => {
                            *a = a.merge(b);
                            true
                        }
                        None => false,
                    });
                    acc
                }
            });
        }
        stats.columns = columns.unwrap_or_default();
        stats
    }

    /// At most how many distinct non-NULL values `column` has: the reported distinct count
    /// and the width of an integer-like column's range, never more than its non-NULL rows
    /// (`None` when neither is known).
    pub fn distinct_bound(&self, column: &str) -> Option<u64> {
        let rows = self.rows?;
        let c = self.columns.get(column)?;
        let non_null = rows.saturating_sub(c.null_count);
        let width = c
            .min
            .zip(c.max)
            .and_then(|(min, max)| max.checked_sub(min))
            .and_then(|w| u64::try_from(w).ok())
            .and_then(|w| w.checked_add(1));
        let bound = match (width, c.distinct) {
            (Some(w), Some(d)) => w.min(d),
            (w, d) => w.or(d)?,
        };
        Some(bound.min(non_null))
    }

    /// DataFusion column statistics for a column of type `data_type` (all inexact).
    pub fn column_statistics(&self, column: &str, data_type: &DataType) -> ColumnStatistics {
        let mut out = ColumnStatistics::new_unknown();
        let Some(c) = self.columns.get(column) else {
            return out;
        };
        out.null_count = Precision::Inexact(usize::try_from(c.null_count).unwrap_or(usize::MAX));
        if let Some(d) = self.distinct_bound(column) {
            out.distinct_count = Precision::Inexact(usize::try_from(d).unwrap_or(usize::MAX));
        }
        // The bounds are of integer-like segment columns; a column changed to a string type
        // since (ALTER TABLE MODIFY COLUMN) orders differently.
        let ordered = !matches!(
            data_type,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        );
        let scalar = |v: Option<i64>| {
            v.filter(|_| ordered)
                .and_then(|v| ScalarValue::Int64(Some(v)).cast_to(data_type).ok())
                .map_or(Precision::Absent, Precision::Inexact)
        };
        if let (Precision::Inexact(min), Precision::Inexact(max)) = (scalar(c.min), scalar(c.max)) {
            out.min_value = Precision::Inexact(min);
            out.max_value = Precision::Inexact(max);
        }
        out
    }
}

impl ColumnStat {
    fn merge(&self, other: &ColumnStat) -> ColumnStat {
        let pick = |a: Option<i64>, b: Option<i64>, f: fn(i64, i64) -> i64| match (a, b) {
            (Some(x), Some(y)) => Some(f(x, y)),
            (x, y) => x.or(y),
        };
        ColumnStat {
            null_count: self.null_count + other.null_count,
            min: pick(self.min, other.min, i64::min),
            max: pick(self.max, other.max, i64::max),
            // Tablets of a hash-distributed table hold disjoint keys; otherwise an upper bound.
            distinct: self.distinct.zip(other.distinct).map(|(x, y)| x + y),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Col<'a> = (&'a str, u64, Option<i64>, Option<i64>, Option<u64>);

    fn stats(rows: u64, columns: &[Col]) -> TableStats {
        TableStats {
            tablet_rows: HashMap::new(),
            rows: Some(rows),
            columns: columns
                .iter()
                .map(|(n, nulls, min, max, distinct)| {
                    let stat = ColumnStat {
                        null_count: *nulls,
                        min: *min,
                        max: *max,
                        distinct: *distinct,
                    };
                    (n.to_string(), stat)
                })
                .collect(),
        }
    }

    #[test]
    fn distinct_bound_is_the_smaller_of_range_and_rows() {
        let s = stats(
            1000,
            &[
                ("k", 0, Some(1), Some(10), None),
                ("wide", 100, Some(0), Some(1 << 40), None),
                ("s", 0, None, None, None),
                ("counted", 0, Some(1), Some(100), Some(40)),
                ("counted_text", 0, None, None, Some(7)),
            ],
        );
        assert_eq!(s.distinct_bound("k"), Some(10));
        assert_eq!(s.distinct_bound("wide"), Some(900));
        assert_eq!(s.distinct_bound("s"), None);
        assert_eq!(s.distinct_bound("counted"), Some(40));
        assert_eq!(s.distinct_bound("counted_text"), Some(7));
        assert_eq!(s.distinct_bound("missing"), None);
    }

    #[test]
    fn column_statistics_carry_the_column_type() {
        let s = stats(10, &[("d", 1, Some(9000), Some(9100), None)]);
        let c = s.column_statistics("d", &DataType::Date32);
        assert_eq!(
            c.min_value,
            Precision::Inexact(ScalarValue::Date32(Some(9000)))
        );
        assert_eq!(
            c.max_value,
            Precision::Inexact(ScalarValue::Date32(Some(9100)))
        );
        assert_eq!(c.null_count, Precision::Inexact(1));
    }

    #[test]
    fn merge_keeps_the_known_bound() {
        let a = ColumnStat {
            null_count: 1,
            min: Some(5),
            max: Some(7),
            distinct: Some(3),
        };
        let all_null = ColumnStat {
            null_count: 3,
            min: None,
            max: None,
            distinct: Some(0),
        };
        let m = a.merge(&all_null);
        assert_eq!(
            (m.null_count, m.min, m.max, m.distinct),
            (4, Some(5), Some(7), Some(3))
        );
    }
}
