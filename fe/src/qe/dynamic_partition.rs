//! Dynamic partitions: a RANGE-partitioned table on one DATE or DATETIME column with
//! `"dynamic_partition.enable" = "true"` gets time partitions created ahead of time (offsets
//! up to `dynamic_partition.end` units from now) and, when `dynamic_partition.start` is
//! set, loses the partitions that end before `start` units ago. The FE applies this at
//! CREATE TABLE, at `ALTER TABLE ... SET`, and every `dynamic_partition_check_interval_seconds`
//! ([`run_scheduler`]). Partition names are Doris's: prefix + `yyyyMMdd` (DAY),
//! `yyyyMMddHH` (HOUR), `yyyy_ww` (WEEK), `yyyyMM` (MONTH), `yyyy` (YEAR).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{Datelike, Duration as Span, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use doris_common::types::ColumnType;
use tracing::{info, warn};

use super::alter::{add_partitions, current, drop_partitions};
use crate::catalog::{PartitionItem, PartitionKind, PartitionValue, Table};
use crate::env::Env;
use crate::error::{FeError, Result};
use crate::sql::ast::{PartitionDef, PartitionLiteral, PartitionValues};

const PREFIX: &str = "dynamic_partition.";
/// `dynamic_partition.start` when not given: keep every old partition.
const NO_START: i64 = i32::MIN as i64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimeUnit {
    Hour,
    Day,
    Week,
    Month,
    Year,
}

/// A table's `dynamic_partition.*` properties.
#[derive(Debug, Clone)]
struct Settings {
    enable: bool,
    unit: TimeUnit,
    start: i64,
    end: i64,
    prefix: String,
    buckets: Option<u32>,
    create_history: bool,
    history_num: i64,
    start_day_of_week: u32,
    start_day_of_month: u32,
}

fn invalid(key: &str, value: &str, why: &str) -> FeError {
    FeError::Analysis(format!("Invalid {PREFIX}{key} value: {value}. {why}"))
}

/// Checks one property of `ALTER TABLE ... SET` / CREATE TABLE (others pass).
pub fn check_property(key: &str, value: &str) -> Result<()> {
    let Some(name) = key.strip_prefix(PREFIX) else {
        return Ok(());
    };
    let int = |lo: i64, hi: i64| -> Result<()> {
        match value.trim().parse::<i64>() {
            Ok(n) if (lo..=hi).contains(&n) => Ok(()),
            _ => Err(invalid(
                name,
                value,
                &format!("must be an integer in [{lo}, {hi}]"),
            )),
        }
    };
    let boolean = || -> Result<()> {
        if value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false") {
            Ok(())
        } else {
            Err(invalid(name, value, "must be true or false"))
        }
    };
    match name {
        "enable" | "create_history_partition" => boolean(),
        "time_unit" => unit_of(value).map(|_| ()),
        "start" => int(NO_START, -1),
        "end" => int(1, i32::MAX as i64),
        "buckets" => int(1, 65_535),
        "history_partition_num" => int(-1, i32::MAX as i64),
        "start_day_of_week" => int(1, 7),
        "start_day_of_month" => int(1, 28),
        "prefix" => {
            let ok = !value.is_empty()
                && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && value.starts_with(|c: char| c.is_ascii_alphabetic());
            if ok {
                Ok(())
            } else {
                Err(invalid(
                    name,
                    value,
                    "must start with a letter and hold letters, digits or '_'",
                ))
            }
        }
        "time_zone"
        | "replication_num"
        | "replication_allocation"
        | "reserved_history_periods"
        | "storage_medium"
        | "hot_partition_num" => Ok(()),
        other => Err(FeError::Analysis(format!(
            "Unknown dynamic partition property: {PREFIX}{other}"
        ))),
    }
}

fn unit_of(value: &str) -> Result<TimeUnit> {
    Ok(match value.to_ascii_uppercase().as_str() {
        "HOUR" => TimeUnit::Hour,
        "DAY" => TimeUnit::Day,
        "WEEK" => TimeUnit::Week,
        "MONTH" => TimeUnit::Month,
        "YEAR" => TimeUnit::Year,
        _ => {
            return Err(invalid(
                "time_unit",
                value,
                "must be HOUR, DAY, WEEK, MONTH or YEAR",
            ))
        }
    })
}

fn settings(properties: &BTreeMap<String, String>) -> Result<Option<Settings>> {
    if !properties.keys().any(|k| k.starts_with(PREFIX)) {
        return Ok(None);
    }
    let get = |k: &str| properties.get(&format!("{PREFIX}{k}")).map(|v| v.trim());
    let int = |k: &str, default: i64| get(k).and_then(|v| v.parse().ok()).unwrap_or(default);
    let flag = |k: &str, default: bool| get(k).map_or(default, |v| v.eq_ignore_ascii_case("true"));
    let missing = |k: &str| FeError::Analysis(format!("Must assign {PREFIX}{k} properties"));
    Ok(Some(Settings {
        enable: flag("enable", true),
        unit: unit_of(get("time_unit").ok_or_else(|| missing("time_unit"))?)?,
        start: int("start", NO_START),
        end: get("end")
            .ok_or_else(|| missing("end"))?
            .parse()
            .map_err(|_| missing("end"))?,
        prefix: get("prefix").ok_or_else(|| missing("prefix"))?.to_string(),
        buckets: get("buckets").and_then(|v| v.parse().ok()),
        create_history: flag("create_history_partition", false),
        history_num: int("history_partition_num", -1),
        start_day_of_week: int("start_day_of_week", 1) as u32,
        start_day_of_month: int("start_day_of_month", 1) as u32,
    }))
}

/// Checks the dynamic partition settings `properties` give `table`, if any.
pub fn check_table(table: &Table, properties: &BTreeMap<String, String>) -> Result<()> {
    let Some(s) = settings(properties)? else {
        return Ok(());
    };
    if !s.enable {
        return Ok(());
    }
    partition_column_type(table)?;
    if s.start != NO_START && s.start >= 0 {
        return Err(invalid("start", &s.start.to_string(), "must be negative"));
    }
    Ok(())
}

/// The one DATE / DATETIME range partition column a dynamic partition table needs.
fn partition_column_type(table: &Table) -> Result<ColumnType> {
    let types = table.partition_column_types();
    match (&table.partitioning, types.as_slice()) {
        (Some(p), [t @ (ColumnType::Date | ColumnType::DateTime { .. })])
            if p.kind == PartitionKind::Range =>
        {
            Ok(t.clone())
        }
        _ => Err(FeError::Analysis(
            "Dynamic partition only supports a RANGE partitioned table on one DATE or DATETIME column"
                .into(),
        )),
    }
}

/// The start of the unit `now` falls in.
fn unit_start(s: &Settings, now: NaiveDateTime) -> NaiveDateTime {
    let day = now.date();
    let midnight = |d: NaiveDate| d.and_time(NaiveTime::MIN);
    match s.unit {
        TimeUnit::Hour => midnight(day) + Span::hours(i64::from(now.hour())),
        TimeUnit::Day => midnight(day),
        TimeUnit::Week => {
            let from_start = (day.weekday().number_from_monday() + 7 - s.start_day_of_week) % 7;
            midnight(day - Span::days(i64::from(from_start)))
        }
        TimeUnit::Month => {
            let this = NaiveDate::from_ymd_opt(day.year(), day.month(), s.start_day_of_month)
                .unwrap_or(day);
            let start = if day >= this {
                this
            } else {
                shift_months(this, -1)
            };
            midnight(start)
        }
        TimeUnit::Year => midnight(NaiveDate::from_ymd_opt(day.year(), 1, 1).unwrap_or(day)),
    }
}

fn shift_months(d: NaiveDate, months: i64) -> NaiveDate {
    let total = i64::from(d.year()) * 12 + i64::from(d.month0()) + months;
    let (y, m) = (total.div_euclid(12) as i32, total.rem_euclid(12) as u32 + 1);
    NaiveDate::from_ymd_opt(y, m, d.day()).unwrap_or(d)
}

/// The start of the unit `offset` units after the one starting at `base`.
fn shift(s: &Settings, base: NaiveDateTime, offset: i64) -> NaiveDateTime {
    match s.unit {
        TimeUnit::Hour => base + Span::hours(offset),
        TimeUnit::Day => base + Span::days(offset),
        TimeUnit::Week => base + Span::weeks(offset),
        TimeUnit::Month => shift_months(base.date(), offset).and_time(base.time()),
        TimeUnit::Year => shift_months(base.date(), offset * 12).and_time(base.time()),
    }
}

fn partition_name(s: &Settings, start: NaiveDateTime) -> String {
    let suffix = match s.unit {
        TimeUnit::Hour => start.format("%Y%m%d%H").to_string(),
        TimeUnit::Day => start.format("%Y%m%d").to_string(),
        TimeUnit::Week => format!("{}_{:02}", start.year(), start.iso_week().week()),
        TimeUnit::Month => start.format("%Y%m").to_string(),
        TimeUnit::Year => start.format("%Y").to_string(),
    };
    format!("{}{suffix}", s.prefix)
}

fn bound_text(ty: &ColumnType, t: NaiveDateTime) -> String {
    match ty {
        ColumnType::Date => t.format("%Y-%m-%d").to_string(),
        _ => t.format("%Y-%m-%d %H:%M:%S").to_string(),
    }
}

/// Creates the partitions `table`'s dynamic partition settings call for now and drops the
/// expired ones. Partitions that would overlap existing ones are skipped (as in Doris).
pub async fn schedule_table(env: &Arc<Env>, db: &str, db_id: i64, table: &Table) -> Result<()> {
    let Some(s) = settings(&table.properties)? else {
        return Ok(());
    };
    if !s.enable {
        return Ok(());
    }
    let ty = partition_column_type(table)?;
    let now = chrono::Local::now().naive_local();
    let base = unit_start(&s, now);
    let first = if s.create_history {
        match (s.start, s.history_num) {
            (NO_START, n) if n > 0 => -n,
            (start, n) if n > 0 => start.max(-n),
            (NO_START, _) => 0,
            (start, _) => start,
        }
    } else {
        0
    };
    let mut table = table.clone();
    for offset in first..=s.end {
        let lower = shift(&s, base, offset);
        let upper = shift(&s, base, offset + 1);
        let name = partition_name(&s, lower);
        if table.partitions.iter().any(|p| p.name == name) {
            continue;
        }
        let def = PartitionDef {
            name: name.clone(),
            values: PartitionValues::Range {
                lower: vec![PartitionLiteral::Value(bound_text(&ty, lower))],
                upper: vec![PartitionLiteral::Value(bound_text(&ty, upper))],
            },
        };
        let item = match super::partition::new_partition_item(&table, &def) {
            Ok(item) => item,
            Err(e) => {
                warn!(table = %table.name, partition = %name, error = %e, "dynamic partition skipped");
                continue;
            }
        };
        add_partitions(env, db, db_id, &table, vec![(name, Some(item))], s.buckets).await?;
        table = current(env, db_id, table.id)?;
    }
    if s.start != NO_START {
        let boundary = shift(&s, base, s.start);
        let boundary = super::partition::new_partition_item(
            &Table {
                partitions: Vec::new(),
                ..table.clone()
            },
            &PartitionDef {
                name: String::new(),
                values: PartitionValues::LessThan(vec![PartitionLiteral::Value(bound_text(
                    &ty, boundary,
                ))]),
            },
        )?;
        let PartitionItem::Range { upper: limit, .. } = boundary else {
            return Ok(());
        };
        let expired: Vec<_> = table
            .partitions
            .iter()
            .filter(|p| {
                matches!(&p.item, Some(PartitionItem::Range { upper, .. })
                    if upper <= &limit && !upper.contains(&PartitionValue::MaxValue))
            })
            .cloned()
            .collect();
        if !expired.is_empty() {
            info!(table = %table.name, count = expired.len(), "dropping expired dynamic partitions");
            drop_partitions(env, db_id, &table, &expired).await?;
        }
    }
    Ok(())
}

/// Applies every table's dynamic partition settings every `interval`.
pub async fn run_scheduler(env: Arc<Env>, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        if !env.is_master() {
            continue;
        }
        let tables: Vec<(String, i64, i64)> = {
            let catalog = env.catalog.read();
            catalog
                .databases
                .values()
                .flat_map(|d| {
                    d.tables
                        .values()
                        .filter(|t| t.properties.keys().any(|k| k.starts_with(PREFIX)))
                        .map(move |t| (d.name.clone(), d.id, t.id))
                })
                .collect()
        };
        for (db, db_id, table_id) in tables {
            let lock = env.publish_lock(table_id);
            let _guard = lock.lock().await;
            let Ok(table) = current(&env, db_id, table_id) else {
                continue;
            };
            if let Err(e) = schedule_table(&env, &db, db_id, &table).await {
                warn!(table = %table.name, error = %e, "dynamic partition scheduling failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").expect("time")
    }

    fn settings_for(unit: TimeUnit) -> Settings {
        Settings {
            enable: true,
            unit,
            start: -3,
            end: 3,
            prefix: "p".into(),
            buckets: None,
            create_history: false,
            history_num: -1,
            start_day_of_week: 1,
            start_day_of_month: 1,
        }
    }

    #[test]
    fn units_names_and_shifts() {
        let now = at("2024-03-13 15:20:00"); // a Wednesday
        let day = settings_for(TimeUnit::Day);
        let base = unit_start(&day, now);
        assert_eq!(partition_name(&day, base), "p20240313");
        assert_eq!(shift(&day, base, -13), at("2024-02-29 00:00:00"));
        let week = settings_for(TimeUnit::Week);
        let base = unit_start(&week, now);
        assert_eq!(base, at("2024-03-11 00:00:00"));
        assert_eq!(partition_name(&week, base), "p2024_11");
        let month = settings_for(TimeUnit::Month);
        let base = unit_start(&month, now);
        assert_eq!(partition_name(&month, shift(&month, base, 10)), "p202501");
        let hour = settings_for(TimeUnit::Hour);
        assert_eq!(partition_name(&hour, unit_start(&hour, now)), "p2024031315");
        let year = settings_for(TimeUnit::Year);
        assert_eq!(
            shift(&year, unit_start(&year, now), -1),
            at("2023-01-01 00:00:00")
        );
    }

    #[test]
    fn property_checks() {
        assert!(check_property("dynamic_partition.time_unit", "day").is_ok());
        assert!(check_property("dynamic_partition.time_unit", "minute").is_err());
        assert!(check_property("dynamic_partition.start", "3").is_err());
        assert!(check_property("dynamic_partition.end", "0").is_err());
        assert!(check_property("dynamic_partition.prefix", "1p").is_err());
        assert!(check_property("dynamic_partition.nope", "1").is_err());
        assert!(check_property("replication_num", "1").is_ok());
    }
}
