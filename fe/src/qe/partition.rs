//! The `PARTITION BY RANGE|LIST` clause of CREATE TABLE: typed bounds, Doris's rules for
//! `LESS THAN` and `[lower, upper)` ranges, overlap and duplicate checks, and the clause as
//! SHOW CREATE TABLE prints it. Entry points: [`analyze`] and [`partition_by_sql`].

use doris_common::partition::{
    check_column_type, key_description, key_sql, min_value, parse_value, PartitionItem,
    PartitionKind, PartitionValue,
};
use doris_common::types::ColumnType;

use crate::catalog::{Column, Partitioning, Table};
use crate::error::{FeError, Result};
use crate::sql::ast::{self, PartitionDef, PartitionDesc, PartitionLiteral, PartitionValues};

fn analysis(msg: impl Into<String>) -> FeError {
    FeError::Analysis(msg.into())
}

/// Checks a `PARTITION BY` clause against the table's columns; returns the partitioning
/// and each partition's name and bounds, in declaration order.
pub(super) fn analyze(
    desc: &PartitionDesc,
    columns: &[Column],
) -> Result<(Partitioning, Vec<(String, PartitionItem)>)> {
    let kind = match desc.kind {
        ast::PartitionKind::Range => PartitionKind::Range,
        ast::PartitionKind::List => PartitionKind::List,
    };
    if desc.auto {
        return Err(FeError::NotSupported(format!(
            "AUTO PARTITION BY {} (list the partitions explicitly)",
            kind.sql()
        )));
    }
    let mut names: Vec<String> = Vec::with_capacity(desc.columns.len());
    let mut types: Vec<ColumnType> = Vec::with_capacity(desc.columns.len());
    for name in &desc.columns {
        let Some(col) = columns.iter().find(|c| c.name.eq_ignore_ascii_case(name)) else {
            return Err(analysis(format!(
                "Partition column[{name}] does not exist in column list."
            )));
        };
        if names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            return Err(analysis(format!("Duplicated partition column {name}")));
        }
        check_column_type(kind, &col.name, &col.column_type).map_err(analysis)?;
        names.push(col.name.clone());
        types.push(col.column_type.clone());
    }
    let mut out: Vec<(String, PartitionItem)> = Vec::with_capacity(desc.partitions.len());
    for def in &desc.partitions {
        if out.iter().any(|(n, _)| n.eq_ignore_ascii_case(&def.name)) {
            return Err(analysis(format!("Duplicate partition name {}", def.name)));
        }
        let item = match (kind, &def.values) {
            (PartitionKind::Range, PartitionValues::In(_)) => {
                return Err(analysis(format!(
                    "Only support LESS THAN or [lower, upper) partitions in a RANGE partitioned table, partition {} uses VALUES IN",
                    def.name
                )))
            }
            (PartitionKind::List, PartitionValues::In(values)) => {
                list_item(&def.name, values, &types, &out)?
            }
            (PartitionKind::List, _) => {
                return Err(analysis(format!(
                    "Only support VALUES IN partitions in a LIST partitioned table, partition {} uses a range",
                    def.name
                )))
            }
            (PartitionKind::Range, values) => range_item(values, &types, &out)?,
        };
        out.push((def.name.clone(), item));
    }
    Ok((
        Partitioning {
            kind,
            columns: names,
        },
        out,
    ))
}

/// The bounds of a partition added to `table` (`ALTER TABLE ... ADD PARTITION`), checked
/// against its other partitions as at creation.
pub(super) fn new_partition_item(table: &Table, def: &PartitionDef) -> Result<PartitionItem> {
    let Some(partitioning) = &table.partitioning else {
        return Err(analysis(format!(
            "Table[{}] is not a partitioned table; only RANGE and LIST partitioned tables take ADD PARTITION",
            table.name
        )));
    };
    let types = table.partition_column_types();
    let existing: Vec<(String, PartitionItem)> = table
        .partitions
        .iter()
        .filter_map(|p| Some((p.name.clone(), p.item.clone()?)))
        .collect();
    match (partitioning.kind, &def.values) {
        (PartitionKind::List, PartitionValues::In(values)) => {
            list_item(&def.name, values, &types, &existing)
        }
        (PartitionKind::Range, PartitionValues::In(_)) | (PartitionKind::List, _) => {
            Err(analysis(format!(
                "partition {} does not match the table's {} partitioning",
                def.name,
                partitioning.kind.sql()
            )))
        }
        (PartitionKind::Range, values) => range_item(values, &types, &existing),
    }
}

/// A range bound: one typed value per written literal, the missing trailing columns filled
/// with the minimum (Doris's `PartitionKey.createPartitionKey`).
fn range_key(values: &[PartitionLiteral], types: &[ColumnType]) -> Result<Vec<PartitionValue>> {
    if values.len() > types.len() {
        return Err(analysis(format!(
            "Partition values number is more than partition column number: {}",
            literals_sql(values)
        )));
    }
    let mut key = Vec::with_capacity(types.len());
    for (lit, ct) in values.iter().zip(types) {
        key.push(match lit {
            PartitionLiteral::MaxValue => PartitionValue::MaxValue,
            PartitionLiteral::Null => {
                return Err(analysis("Can not use NULL as a RANGE partition value"))
            }
            PartitionLiteral::Value(v) => parse_value(ct, v).map_err(analysis)?,
        });
    }
    key.extend(types[values.len()..].iter().map(min_value));
    Ok(key)
}

fn literals_sql(values: &[PartitionLiteral]) -> String {
    let parts: Vec<String> = values
        .iter()
        .map(|v| match v {
            PartitionLiteral::MaxValue => "MAXVALUE".to_string(),
            PartitionLiteral::Null => "NULL".to_string(),
            PartitionLiteral::Value(v) => format!("\"{v}\""),
        })
        .collect();
    format!("({})", parts.join(", "))
}

fn range_text(types: &[ColumnType], lower: &[PartitionValue], upper: &[PartitionValue]) -> String {
    format!(
        "[{}..{})",
        key_description(types, lower),
        key_description(types, upper)
    )
}

/// Doris's rules (`RangePartitionInfo.createAndCheckPartitionItem`): `[lower, upper)` must
/// not intersect any existing range; `LESS THAN (upper)` starts where the nearest range
/// below `upper` ends (or at the minimum) and must not intersect the range after it.
fn range_item(
    values: &PartitionValues,
    types: &[ColumnType],
    existing: &[(String, PartitionItem)],
) -> Result<PartitionItem> {
    let mut ranges: Vec<(&Vec<PartitionValue>, &Vec<PartitionValue>)> = existing
        .iter()
        .filter_map(|(_, item)| match item {
            PartitionItem::Range { lower, upper } => Some((lower, upper)),
            PartitionItem::List { .. } => None,
        })
        .collect();
    ranges.sort_by(|a, b| a.0.cmp(b.0));
    let intersects = |lower: &[PartitionValue],
                      upper: &[PartitionValue],
                      r: (&Vec<PartitionValue>, &Vec<PartitionValue>)| {
        lower < r.1.as_slice() && r.0.as_slice() < upper
    };
    let overlap_error = |lower: &[PartitionValue],
                         upper: &[PartitionValue],
                         r: (&Vec<PartitionValue>, &Vec<PartitionValue>)| {
        analysis(format!(
            "Range {} is intersected with range: {}",
            range_text(types, lower, upper),
            range_text(types, r.0, r.1)
        ))
    };
    let smaller = || analysis("The lower values must smaller than upper values");
    let (lower, upper) = match values {
        PartitionValues::Range { lower, upper } => {
            let lower = range_key(lower, types)?;
            let upper = range_key(upper, types)?;
            if lower >= upper {
                return Err(smaller());
            }
            if let Some(r) = ranges.iter().find(|r| intersects(&lower, &upper, **r)) {
                return Err(overlap_error(&lower, &upper, *r));
            }
            (lower, upper)
        }
        PartitionValues::LessThan(_) | PartitionValues::LessThanMaxValue => {
            let upper = match values {
                PartitionValues::LessThan(v) => range_key(v, types)?,
                _ => vec![PartitionValue::MaxValue; types.len()],
            };
            let mins: Vec<PartitionValue> = types.iter().map(min_value).collect();
            if upper == mins {
                return Err(analysis(format!(
                    "Partition's upper value should not be MIN VALUE: {}",
                    key_sql(types, &upper)
                )));
            }
            // The first range ending at or above `upper`, and the one before it.
            let next = ranges.iter().position(|r| r.1 >= &upper);
            let before = match next {
                Some(0) => None,
                Some(i) => ranges.get(i - 1),
                None => ranges.last(),
            };
            let lower = before.map_or(mins, |r| r.1.clone());
            if lower >= upper {
                return Err(smaller());
            }
            if let Some(r) = next.and_then(|i| ranges.get(i)) {
                if intersects(&lower, &upper, *r) {
                    return Err(overlap_error(&lower, &upper, *r));
                }
            }
            (lower, upper)
        }
        PartitionValues::In(_) => {
            return Err(analysis("VALUES IN in a RANGE partitioned table"));
        }
    };
    Ok(PartitionItem::Range { lower, upper })
}

/// A LIST partition's keys: one value per partition column each, no key twice in the
/// table (Doris's `ListPartitionInfo.createAndCheckPartitionItem`).
fn list_item(
    name: &str,
    values: &[Vec<PartitionLiteral>],
    types: &[ColumnType],
    existing: &[(String, PartitionItem)],
) -> Result<PartitionItem> {
    let mut keys: Vec<Vec<PartitionValue>> = Vec::with_capacity(values.len());
    for tuple in values {
        if tuple.len() != types.len() {
            return Err(analysis(format!(
                "partition key desc list size[{}] is not equal to partition column size[{}]",
                tuple.len(),
                types.len()
            )));
        }
        let mut key = Vec::with_capacity(types.len());
        for (lit, ct) in tuple.iter().zip(types) {
            key.push(match lit {
                PartitionLiteral::MaxValue => {
                    return Err(analysis(
                        "Invalid list value format： MAXVALUE is not allowed in a LIST partition",
                    ))
                }
                PartitionLiteral::Null => PartitionValue::Null,
                PartitionLiteral::Value(v) => parse_value(ct, v)
                    .map_err(|e| analysis(format!("Invalid list value format： {e}")))?,
            });
        }
        for (other, item) in existing {
            if let PartitionItem::List { values } = item {
                if values.contains(&key) {
                    return Err(analysis(format!(
                        "Invalid list value format： The partition key[{}] in partition item[{name}] is conflict with current partitionKeys of partition[{other}]",
                        key_sql(types, &key)
                    )));
                }
            }
        }
        if keys.contains(&key) {
            return Err(analysis(format!(
                "Invalid list value format： The partition key[{}] has duplicate item in partition[{name}].",
                key_sql(types, &key)
            )));
        }
        keys.push(key);
    }
    Ok(PartitionItem::List { values: keys })
}

/// The `PARTITION BY` clause of SHOW CREATE TABLE (every range printed as `[lower, upper)`,
/// as Doris does), or `None` for an unpartitioned table.
pub(super) fn partition_by_sql(table: &Table) -> Option<String> {
    let partitioning = table.partitioning.as_ref()?;
    let types = table.partition_column_types();
    let cols: Vec<String> = partitioning
        .columns
        .iter()
        .map(|c| format!("`{c}`"))
        .collect();
    let parts: Vec<String> = table
        .partitions_in_key_order()
        .into_iter()
        .map(|p| match &p.item {
            Some(PartitionItem::Range { lower, upper }) => format!(
                "PARTITION {} VALUES [{}, {})",
                p.name,
                key_sql(&types, lower),
                key_sql(&types, upper)
            ),
            Some(PartitionItem::List { values }) => {
                let keys: Vec<String> = values
                    .iter()
                    .map(|k| {
                        let sql = key_sql(&types, k);
                        if types.len() == 1 {
                            sql[1..sql.len() - 1].to_string()
                        } else {
                            sql
                        }
                    })
                    .collect();
                format!("PARTITION {} VALUES IN ({})", p.name, keys.join(","))
            }
            None => format!("PARTITION {}", p.name),
        })
        .collect();
    Some(format!(
        "PARTITION BY {}({})\n({})",
        partitioning.kind.sql(),
        cols.join(", "),
        parts.join(",\n")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::ast::PartitionDef;

    fn col(name: &str, t: ColumnType) -> Column {
        Column {
            name: name.into(),
            column_type: t,
            nullable: true,
            is_key: false,
            aggregation: None,
            default: None,
            comment: String::new(),
            fill_value: None,
        }
    }

    fn v(s: &str) -> PartitionLiteral {
        if s == "MAXVALUE" {
            PartitionLiteral::MaxValue
        } else {
            PartitionLiteral::Value(s.into())
        }
    }

    fn less(name: &str, vals: &[&str]) -> PartitionDef {
        PartitionDef {
            name: name.into(),
            values: if vals == ["MAXVALUE"] {
                PartitionValues::LessThanMaxValue
            } else {
                PartitionValues::LessThan(vals.iter().map(|s| v(s)).collect())
            },
        }
    }

    fn fixed(name: &str, lo: &[&str], hi: &[&str]) -> PartitionDef {
        PartitionDef {
            name: name.into(),
            values: PartitionValues::Range {
                lower: lo.iter().map(|s| v(s)).collect(),
                upper: hi.iter().map(|s| v(s)).collect(),
            },
        }
    }

    fn range(cols: &[&str], parts: Vec<PartitionDef>) -> PartitionDesc {
        PartitionDesc {
            kind: ast::PartitionKind::Range,
            auto: false,
            columns: cols.iter().map(|s| s.to_string()).collect(),
            partitions: parts,
        }
    }

    fn int(i: i128) -> PartitionValue {
        PartitionValue::Int(i)
    }

    fn columns() -> Vec<Column> {
        vec![
            col("k", ColumnType::Int),
            col("d", ColumnType::Date),
            col("s", ColumnType::Varchar { len: 10 }),
            col("f", ColumnType::Double),
            col("t", ColumnType::String),
        ]
    }

    fn bounds(items: &[(String, PartitionItem)]) -> Vec<(i128, Option<i128>)> {
        items
            .iter()
            .filter_map(|(_, item)| match item {
                PartitionItem::Range { lower, upper } => {
                    let lo = match lower.first() {
                        Some(PartitionValue::Int(i)) => *i,
                        _ => return None,
                    };
                    let hi = match upper.first() {
                        Some(PartitionValue::Int(i)) => Some(*i),
                        _ => None,
                    };
                    Some((lo, hi))
                }
                PartitionItem::List { .. } => None,
            })
            .collect()
    }

    fn err(desc: PartitionDesc) -> String {
        match analyze(&desc, &columns()) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn less_than_takes_the_previous_upper_bound() {
        let desc = range(
            &["k"],
            vec![
                less("p1", &["10"]),
                less("p2", &["20"]),
                less("p3", &["MAXVALUE"]),
            ],
        );
        let (p, items) = analyze(&desc, &columns()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.kind, PartitionKind::Range);
        assert_eq!(p.columns, vec!["k"]);
        assert_eq!(
            bounds(&items),
            vec![(i128::from(i32::MIN), Some(10)), (10, Some(20)), (20, None)]
        );
    }

    #[test]
    fn fixed_and_less_than_mix_like_doris() {
        // [10, 20) first; LESS THAN (5) then starts at the minimum, LESS THAN (30) at 20.
        let desc = range(
            &["k"],
            vec![
                fixed("a", &["10"], &["20"]),
                less("b", &["5"]),
                less("c", &["30"]),
            ],
        );
        let (_, items) = analyze(&desc, &columns()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            bounds(&items),
            vec![
                (10, Some(20)),
                (i128::from(i32::MIN), Some(5)),
                (20, Some(30))
            ]
        );
    }

    #[test]
    fn overlaps_and_empty_ranges_are_errors() {
        let e = err(range(
            &["k"],
            vec![fixed("a", &["0"], &["10"]), fixed("b", &["5"], &["15"])],
        ));
        assert_eq!(
            e,
            "Range [types: [INT]; keys: [5]; ..types: [INT]; keys: [15]; ) is intersected with range: [types: [INT]; keys: [0]; ..types: [INT]; keys: [10]; )"
        );
        // LESS THAN below an existing upper bound overlaps it.
        assert!(
            err(range(&["k"], vec![less("a", &["10"]), less("b", &["5"])]))
                .contains("is intersected with range")
        );
        assert!(err(range(&["k"], vec![fixed("a", &["10"], &["10"])]))
            .contains("The lower values must smaller than upper values"));
        // The same upper bound twice: the second range starts at the minimum (no range
        // ends below 10) and so overlaps the first, as in Doris.
        assert!(
            err(range(&["k"], vec![less("a", &["10"]), less("b", &["10"])]))
                .contains("is intersected with range")
        );
        assert!(err(range(
            &["k"],
            vec![
                fixed("a", &["20"], &["30"]),
                less("b", &["20"]),
                less("c", &["20"])
            ]
        ))
        .contains("is intersected with range"));
        assert!(err(range(&["k"], vec![less("a", &["-2147483648"])]))
            .contains("upper value should not be MIN VALUE"));
        assert!(
            err(range(&["k"], vec![less("a", &["1"]), less("A", &["2"])]))
                .contains("Duplicate partition name A")
        );
        assert!(err(range(&["k"], vec![less("a", &["x"])])).contains("Invalid number format: x"));
        assert!(err(range(&["k"], vec![less("a", &["1", "2"])]))
            .contains("Partition values number is more than partition column number"));
        assert!(err(range(&["s"], vec![less("a", &["x"])]))
            .contains("Column[s] type[VARCHAR] cannot be a range partition key."));
        assert!(err(range(&["f"], vec![less("a", &["1"])])).contains("Floating point"));
        assert!(err(range(&["t"], vec![less("a", &["1"])])).contains("String Type"));
        assert!(err(range(&["nope"], vec![less("a", &["1"])]))
            .contains("Partition column[nope] does not exist in column list."));
    }

    #[test]
    fn multi_column_ranges_fill_with_the_minimum() {
        let desc = range(
            &["k", "d"],
            vec![less("p1", &["10", "2024-01-01"]), less("p2", &["20"])],
        );
        let (_, items) = analyze(&desc, &columns()).unwrap_or_else(|e| panic!("{e}"));
        let PartitionItem::Range { lower, upper } = &items[1].1 else {
            panic!("not a range");
        };
        assert_eq!(lower[0], int(10));
        assert_eq!(upper, &vec![int(20), min_value(&ColumnType::Date)]);
    }

    #[test]
    fn list_partitions_reject_duplicates() {
        let list = |parts: Vec<(&str, Vec<Vec<&str>>)>, cols: &[&str]| PartitionDesc {
            kind: ast::PartitionKind::List,
            auto: false,
            columns: cols.iter().map(|s| s.to_string()).collect(),
            partitions: parts
                .into_iter()
                .map(|(n, vals)| PartitionDef {
                    name: n.into(),
                    values: PartitionValues::In(
                        vals.into_iter()
                            .map(|t| t.into_iter().map(v).collect())
                            .collect(),
                    ),
                })
                .collect(),
        };
        let ok = list(
            vec![("a", vec![vec!["x"], vec!["y"]]), ("b", vec![vec!["z"]])],
            &["s"],
        );
        let (p, items) = analyze(&ok, &columns()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.kind, PartitionKind::List);
        assert_eq!(items.len(), 2);
        assert!(err(list(
            vec![("a", vec![vec!["x"]]), ("b", vec![vec!["x"]])],
            &["s"]
        ))
        .contains("is conflict with"));
        assert!(
            err(list(vec![("a", vec![vec!["x"], vec!["x"]])], &["s"])).contains("duplicate item")
        );
        assert!(err(list(vec![("a", vec![vec!["x"]])], &["s", "k"]))
            .contains("is not equal to partition column size[2]"));
        let multi = list(
            vec![("a", vec![vec!["x", "1"], vec!["x", "2"]])],
            &["s", "k"],
        );
        assert!(analyze(&multi, &columns()).is_ok());
    }
}
