//! MySQL / Doris date and time functions. Entry point: [`udfs`].
//!
//! Arguments may be DATE (`Date32`), DATETIME (`Timestamp`, any unit; zoned timestamps are
//! read as wall-clock time of their zone), strings in MySQL's lenient formats
//! (`2023-1-5`, `2023-01-05 13:04:09.5`, `20230105`, `2023/01/05T13:04`) or integers like
//! `20230105`. Unparseable or invalid dates give NULL, as in MySQL.
//!
//! Results: DATE functions return `Date32`, DATETIME ones `Timestamp(Microsecond, None)`
//! (the project's DATETIME representation). "Current time" functions use the session time
//! zone (`datafusion.execution.time_zone` when set, the server's local zone otherwise) and
//! are folded to a literal once per query.
//!
//! Covered: `date_format`, `year`, `month`, `day`/`dayofmonth`, `hour`, `minute`, `second`,
//! `microsecond`, `quarter`, `dayofweek`, `weekday`, `dayofyear`, `weekofyear`, `week`,
//! `yearweek`, `dayname`, `monthname`, `to_days`, `datediff`, `date_add`/`adddate`,
//! `date_sub`/`subdate`, `timestampadd`, `timestampdiff`, `{years,quarters,months,weeks,
//! days,hours,minutes,seconds}_{add,sub}`, `to_date`/`date`, `now` (+ `current_timestamp`,
//! `localtime`, `localtimestamp`, `sysdate`), `curdate`/`current_date`,
//! `curtime`/`current_time`, `unix_timestamp`, `from_unixtime`, `str_to_date`, `last_day`.

use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{
    DateTime, Datelike, Local, Months, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta,
    TimeZone, Timelike, Utc,
};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Int32Array, Int64Array, StringBuilder,
    TimestampMicrosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Field, FieldRef, Int64Type, IntervalMonthDayNanoType,
    IntervalUnit, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use datafusion::common::config::ConfigOptions;
use datafusion::common::{exec_err, internal_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use super::util::{
    aliases, arg_types, check_args, finish, format_datetime_micros, int_arg_type, is_string,
    output_rows, scalar_i64, scalar_str, string_arg_type, udf, I64Col, StrCol,
};

/// The date/time UDFs.
pub fn udfs() -> Vec<ScalarUDF> {
    let mut v = Vec::new();
    use Part::*;
    for (part, name, alias) in [
        (Year, "year", &[][..]),
        (Month, "month", &[][..]),
        (Day, "day", &["dayofmonth"][..]),
        (Hour, "hour", &[][..]),
        (Minute, "minute", &[][..]),
        (Second, "second", &[][..]),
        (Microsecond, "microsecond", &[][..]),
        (Quarter, "quarter", &[][..]),
        (DayOfWeek, "dayofweek", &[][..]),
        (Weekday, "weekday", &[][..]),
        (DayOfYear, "dayofyear", &[][..]),
        (WeekOfYear, "weekofyear", &[][..]),
        (Week, "week", &[][..]),
        (YearWeek, "yearweek", &[][..]),
        (DayName, "dayname", &[][..]),
        (MonthName, "monthname", &[][..]),
        (ToDays, "to_days", &[][..]),
        (ToDate, "to_date", &["date"][..]),
        (LastDay, "last_day", &[][..]),
    ] {
        v.push(udf(PartFunc::new(part, name, alias)));
    }
    use ArithMode::*;
    for (mode, negate, name, alias) in [
        (Interval, false, "date_add", &["adddate"][..]),
        (Interval, true, "date_sub", &["subdate"][..]),
        (TimestampAdd, false, "timestampadd", &[][..]),
        (Fixed(Unit::Year), false, "years_add", &[][..]),
        (Fixed(Unit::Year), true, "years_sub", &[][..]),
        (Fixed(Unit::Quarter), false, "quarters_add", &[][..]),
        (Fixed(Unit::Quarter), true, "quarters_sub", &[][..]),
        (Fixed(Unit::Month), false, "months_add", &[][..]),
        (Fixed(Unit::Month), true, "months_sub", &[][..]),
        (Fixed(Unit::Week), false, "weeks_add", &[][..]),
        (Fixed(Unit::Week), true, "weeks_sub", &[][..]),
        (Fixed(Unit::Day), false, "days_add", &[][..]),
        (Fixed(Unit::Day), true, "days_sub", &[][..]),
        (Fixed(Unit::Hour), false, "hours_add", &[][..]),
        (Fixed(Unit::Hour), true, "hours_sub", &[][..]),
        (Fixed(Unit::Minute), false, "minutes_add", &[][..]),
        (Fixed(Unit::Minute), true, "minutes_sub", &[][..]),
        (Fixed(Unit::Second), false, "seconds_add", &[][..]),
        (Fixed(Unit::Second), true, "seconds_sub", &[][..]),
    ] {
        v.push(udf(DateArith::new(mode, negate, name, alias)));
    }
    use Other::*;
    for (kind, name, alias) in [
        (DateFormat, "date_format", &[][..]),
        (DateDiff, "datediff", &[][..]),
        (TimestampDiff, "timestampdiff", &[][..]),
        (UnixTimestamp, "unix_timestamp", &[][..]),
        (FromUnixtime, "from_unixtime", &[][..]),
        (StrToDate, "str_to_date", &[][..]),
    ] {
        v.push(udf(OtherFunc::new(kind, name, alias)));
    }
    for (kind, name, alias) in [
        (
            NowKind::Now,
            "now",
            &[
                "current_timestamp",
                "localtime",
                "localtimestamp",
                "sysdate",
            ][..],
        ),
        (NowKind::CurDate, "curdate", &["current_date"][..]),
        (NowKind::CurTime, "curtime", &["current_time"][..]),
    ] {
        v.push(udf(NowFunc::new(kind, name, alias)));
    }
    v
}

// =======================================================================================
// Parsing and conversion
// =======================================================================================

const MICROS_PER_SEC: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SEC;

fn epoch() -> NaiveDate {
    NaiveDate::default()
}

/// Two-digit years: 00-69 are 2000-2069, 70-99 are 1970-1999.
fn adjust_year(y: i32, digits: usize) -> i32 {
    if digits <= 2 {
        if y < 70 {
            2000 + y
        } else {
            1900 + y
        }
    } else {
        y
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn at_end(&self) -> bool {
        self.i >= self.b.len()
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Reads 1..=max digits; returns (value, digit count).
    fn digits(&mut self, max: usize) -> Option<(u32, usize)> {
        let start = self.i;
        let mut v: u32 = 0;
        while self.i < self.b.len() && self.i - start < max && self.b[self.i].is_ascii_digit() {
            v = v * 10 + u32::from(self.b[self.i] - b'0');
            self.i += 1;
        }
        (self.i > start).then_some((v, self.i - start))
    }

    /// Skips one punctuation delimiter.
    fn delimiter(&mut self) -> Option<()> {
        match self.peek() {
            Some(c) if c.is_ascii_punctuation() => {
                self.i += 1;
                Some(())
            }
            _ => None,
        }
    }

    fn skip_spaces(&mut self) -> usize {
        let start = self.i;
        while self.i < self.b.len() && self.b[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
        self.i - start
    }
}

/// Parses MySQL date/datetime text. Returns the value and whether a time part was present.
pub(crate) fn parse_mysql_datetime(s: &str) -> Option<(NaiveDateTime, bool)> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|c| c.is_ascii_digit()) {
        return parse_digit_datetime(s);
    }
    let mut c = Cursor {
        b: s.as_bytes(),
        i: 0,
    };
    let (y, yd) = c.digits(4)?;
    c.delimiter()?;
    let (m, _) = c.digits(2)?;
    c.delimiter()?;
    let (d, _) = c.digits(2)?;
    let date = NaiveDate::from_ymd_opt(adjust_year(y as i32, yd), m, d)?;
    if c.at_end() {
        return Some((date.and_time(NaiveTime::MIN), false));
    }
    if c.peek() == Some(b'T') {
        c.i += 1;
    } else if c.skip_spaces() == 0 {
        return None;
    }
    if c.at_end() {
        return Some((date.and_time(NaiveTime::MIN), false));
    }
    let (h, _) = c.digits(2)?;
    let (mut mi, mut sec, mut micro) = (0, 0, 0);
    if c.peek() == Some(b':') {
        c.i += 1;
        mi = c.digits(2)?.0;
        if c.peek() == Some(b':') {
            c.i += 1;
            sec = c.digits(2)?.0;
            if c.peek() == Some(b'.') {
                c.i += 1;
                let start = c.i;
                while c.peek().is_some_and(|x| x.is_ascii_digit()) {
                    c.i += 1;
                }
                micro = frac_micros(&s[start..c.i]);
            }
        }
    }
    c.skip_spaces();
    if !c.at_end() {
        return None;
    }
    let t = NaiveTime::from_hms_micro_opt(h, mi, sec, micro)?;
    Some((date.and_time(t), true))
}

/// Fractional-second digits to microseconds (extra digits truncated).
fn frac_micros(digits: &str) -> u32 {
    let mut v = 0u32;
    for (k, c) in digits.bytes().take(6).enumerate() {
        v += u32::from(c - b'0') * 10u32.pow(5 - k as u32);
    }
    v
}

/// `YYYYMMDD`, `YYMMDD`, `YYYYMMDDHHMMSS`, `YYMMDDHHMMSS`.
fn parse_digit_datetime(s: &str) -> Option<(NaiveDateTime, bool)> {
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<u32>().ok();
    let (y, rest, yd) = match s.len() {
        8 | 14 => (n(0..4)?, 4, 4),
        6 | 12 => (n(0..2)?, 2, 2),
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(
        adjust_year(y as i32, yd),
        n(rest..rest + 2)?,
        n(rest + 2..rest + 4)?,
    )?;
    if s.len() <= 8 {
        return Some((date.and_time(NaiveTime::MIN), false));
    }
    let t = rest + 4;
    let time = NaiveTime::from_hms_opt(n(t..t + 2)?, n(t + 2..t + 4)?, n(t + 4..t + 6)?)?;
    Some((date.and_time(time), true))
}

fn from_micros(m: i64) -> Option<NaiveDateTime> {
    DateTime::from_timestamp_micros(m).map(|d| d.naive_utc())
}

fn to_micros(dt: &NaiveDateTime) -> i64 {
    dt.and_utc().timestamp_micros()
}

fn to_date32(d: NaiveDate) -> Option<i32> {
    i32::try_from((d - epoch()).num_days()).ok()
}

/// Keeps values inside MySQL's DATETIME range (years 0..=9999).
fn in_range(dt: NaiveDateTime) -> Option<NaiveDateTime> {
    (0..=9999).contains(&dt.year()).then_some(dt)
}

/// A date/time argument decoded to wall-clock datetimes.
struct DtCol {
    vals: Vec<Option<NaiveDateTime>>,
    scalar: bool,
}

impl DtCol {
    fn new(v: &ColumnarValue) -> Result<Self> {
        Ok(match v {
            ColumnarValue::Scalar(s) => DtCol {
                vals: decode_datetimes(&s.to_array_of_size(1)?)?,
                scalar: true,
            },
            ColumnarValue::Array(a) => DtCol {
                vals: decode_datetimes(a)?,
                scalar: false,
            },
        })
    }

    #[inline]
    fn get(&self, i: usize) -> Option<NaiveDateTime> {
        if self.scalar {
            self.vals.first().copied().flatten()
        } else {
            self.vals.get(i).copied().flatten()
        }
    }
}

fn decode_datetimes(a: &ArrayRef) -> Result<Vec<Option<NaiveDateTime>>> {
    let scaled = |m: Option<i64>| m.and_then(from_micros);
    Ok(match a.data_type() {
        DataType::Null => vec![None; a.len()],
        DataType::Date32 => a
            .as_primitive::<Date32Type>()
            .iter()
            .map(|d| {
                d.and_then(|d| epoch().checked_add_signed(TimeDelta::days(i64::from(d))))
                    .map(|d| d.and_time(NaiveTime::MIN))
            })
            .collect(),
        DataType::Date64 => a
            .as_primitive::<Date64Type>()
            .iter()
            .map(|v| scaled(v.and_then(|x| x.checked_mul(1000))))
            .collect(),
        DataType::Timestamp(unit, tz) => {
            let micros: Vec<Option<i64>> = match unit {
                TimeUnit::Second => a
                    .as_primitive::<TimestampSecondType>()
                    .iter()
                    .map(|v| v.and_then(|x| x.checked_mul(MICROS_PER_SEC)))
                    .collect(),
                TimeUnit::Millisecond => a
                    .as_primitive::<TimestampMillisecondType>()
                    .iter()
                    .map(|v| v.and_then(|x| x.checked_mul(1000)))
                    .collect(),
                TimeUnit::Microsecond => a
                    .as_primitive::<TimestampMicrosecondType>()
                    .iter()
                    .collect(),
                TimeUnit::Nanosecond => a
                    .as_primitive::<TimestampNanosecondType>()
                    .iter()
                    .map(|v| v.map(|x| x.div_euclid(1000)))
                    .collect(),
            };
            let zone = match tz {
                Some(tz) => Some(tz.parse::<Tz>()?),
                None => None,
            };
            micros
                .into_iter()
                .map(|m| {
                    let utc = scaled(m)?;
                    match &zone {
                        Some(z) => {
                            let off = z.offset_from_utc_datetime(&utc).fix();
                            utc.checked_add_signed(TimeDelta::seconds(i64::from(
                                off.local_minus_utc(),
                            )))
                        }
                        None => Some(utc),
                    }
                })
                .collect()
        }
        DataType::Utf8 => a
            .as_string::<i32>()
            .iter()
            .map(|s| s.and_then(parse_mysql_datetime).map(|v| v.0))
            .collect(),
        DataType::LargeUtf8 => a
            .as_string::<i64>()
            .iter()
            .map(|s| s.and_then(parse_mysql_datetime).map(|v| v.0))
            .collect(),
        DataType::Utf8View => a
            .as_string_view()
            .iter()
            .map(|s| s.and_then(parse_mysql_datetime).map(|v| v.0))
            .collect(),
        t if t.is_numeric() => cast(a, &DataType::Int64)?
            .as_primitive::<Int64Type>()
            .iter()
            .map(|v| {
                v.and_then(|x| parse_digit_datetime(&x.to_string()))
                    .map(|v| v.0)
            })
            .collect(),
        t => return exec_err!("expected a date or datetime, got {t}"),
    })
}

/// Argument type accepted for a date/time parameter.
fn dt_arg_type(name: &str, t: &DataType) -> Result<DataType> {
    match t {
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _) | DataType::Null => {
            Ok(t.clone())
        }
        t if is_string(t) => Ok(t.clone()),
        t if t.is_integer() => Ok(DataType::Int64),
        t if t.is_numeric() => Ok(DataType::Int64),
        DataType::Dictionary(_, v) => dt_arg_type(name, v),
        t => plan_err!("{name}: expected a date or datetime argument, got {t}"),
    }
}

fn build_i32(n: usize, f: impl Fn(usize) -> Option<i32>) -> ArrayRef {
    Arc::new((0..n).map(f).collect::<Int32Array>())
}

fn build_i64(n: usize, f: impl Fn(usize) -> Option<i64>) -> ArrayRef {
    Arc::new((0..n).map(f).collect::<Int64Array>())
}

/// Builds a DATE or DATETIME result depending on `ret`.
fn build_dt(n: usize, ret: &DataType, f: impl Fn(usize) -> Option<NaiveDateTime>) -> ArrayRef {
    match ret {
        DataType::Date32 => Arc::new(
            (0..n)
                .map(|i| f(i).and_then(in_range).and_then(|d| to_date32(d.date())))
                .collect::<Date32Array>(),
        ),
        _ => Arc::new(
            (0..n)
                .map(|i| f(i).and_then(in_range).map(|d| to_micros(&d)))
                .collect::<TimestampMicrosecondArray>(),
        ),
    }
}

fn build_string(n: usize, f: impl Fn(usize, &mut String) -> bool) -> ArrayRef {
    let mut b = StringBuilder::with_capacity(n, n * 16);
    let mut buf = String::new();
    for i in 0..n {
        buf.clear();
        if f(i, &mut buf) {
            b.append_value(&buf);
        } else {
            b.append_null();
        }
    }
    Arc::new(b.finish())
}

fn datetime_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, None)
}

// =======================================================================================
// Session time zone
// =======================================================================================

/// The zone "current time" and UNIX timestamps are interpreted in.
#[derive(Clone)]
enum SessionTz {
    Local,
    Zone(Tz),
}

impl SessionTz {
    fn from_config(config: &ConfigOptions) -> Self {
        match config
            .execution
            .time_zone
            .as_deref()
            .and_then(|s| s.parse::<Tz>().ok())
        {
            Some(tz) => SessionTz::Zone(tz),
            None => SessionTz::Local,
        }
    }

    fn to_local(&self, utc: &DateTime<Utc>) -> NaiveDateTime {
        match self {
            SessionTz::Local => utc.with_timezone(&Local).naive_local(),
            SessionTz::Zone(tz) => utc.with_timezone(tz).naive_local(),
        }
    }

    fn to_utc(&self, local: &NaiveDateTime) -> Option<DateTime<Utc>> {
        match self {
            SessionTz::Local => Local
                .from_local_datetime(local)
                .earliest()
                .map(|d| d.with_timezone(&Utc)),
            SessionTz::Zone(tz) => tz
                .from_local_datetime(local)
                .earliest()
                .map(|d| d.with_timezone(&Utc)),
        }
    }
}

// =======================================================================================
// Week numbers (port of MySQL's calc_week)
// =======================================================================================

const WEEK_MONDAY_FIRST: u32 = 1;
const WEEK_YEAR: u32 = 2;
const WEEK_FIRST_WEEKDAY: u32 = 4;

fn days_in_year(y: i32) -> i64 {
    if NaiveDate::from_ymd_opt(y, 2, 29).is_some() {
        366
    } else {
        365
    }
}

/// MySQL `week_mode`: maps a `WEEK()` mode argument to calc_week flags.
fn week_mode(mode: i64) -> u32 {
    let mut f = (mode & 7) as u32;
    if f & WEEK_MONDAY_FIRST == 0 {
        f ^= WEEK_FIRST_WEEKDAY;
    }
    f
}

/// Returns (week, year the week belongs to).
fn calc_week(d: NaiveDate, behaviour: u32) -> (i64, i32) {
    let daynr = i64::from(d.num_days_from_ce());
    let Some(jan1) = NaiveDate::from_ymd_opt(d.year(), 1, 1) else {
        return (0, d.year());
    };
    let mut first_daynr = i64::from(jan1.num_days_from_ce());
    let monday_first = behaviour & WEEK_MONDAY_FIRST != 0;
    let mut week_year = behaviour & WEEK_YEAR != 0;
    let first_weekday = behaviour & WEEK_FIRST_WEEKDAY != 0;
    let mut weekday = i64::from(if monday_first {
        jan1.weekday().num_days_from_monday()
    } else {
        jan1.weekday().num_days_from_sunday()
    });
    let mut year = d.year();
    if d.month() == 1 && i64::from(d.day()) <= 7 - weekday {
        if !week_year && ((first_weekday && weekday != 0) || (!first_weekday && weekday >= 4)) {
            return (0, year);
        }
        week_year = true;
        year -= 1;
        let days = days_in_year(year);
        first_daynr -= days;
        weekday = (weekday + 53 * 7 - days) % 7;
    }
    let days = if (first_weekday && weekday != 0) || (!first_weekday && weekday >= 4) {
        daynr - (first_daynr + (7 - weekday))
    } else {
        daynr - (first_daynr - weekday)
    };
    if week_year && days >= 52 * 7 {
        let wd = (weekday + days_in_year(year)) % 7;
        if (!first_weekday && wd < 4) || (first_weekday && wd == 0) {
            return (1, year + 1);
        }
    }
    (days / 7 + 1, year)
}

// =======================================================================================
// DATE_FORMAT / STR_TO_DATE format strings
// =======================================================================================

#[derive(Debug, Clone, PartialEq)]
enum FmtItem {
    Lit(String),
    Spec(char),
}

fn parse_format(fmt: &str) -> Vec<FmtItem> {
    let mut items = Vec::new();
    let mut lit = String::new();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            lit.push(c);
            continue;
        }
        match chars.next() {
            Some(s) => {
                if !lit.is_empty() {
                    items.push(FmtItem::Lit(std::mem::take(&mut lit)));
                }
                items.push(FmtItem::Spec(s));
            }
            None => lit.push('%'),
        }
    }
    if !lit.is_empty() {
        items.push(FmtItem::Lit(lit));
    }
    items
}

const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAY_NAMES: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

fn month_name(dt: &NaiveDateTime) -> &'static str {
    MONTH_NAMES[dt.month0() as usize % 12]
}

fn day_name(dt: &NaiveDateTime) -> &'static str {
    DAY_NAMES[dt.weekday().num_days_from_monday() as usize % 7]
}

fn hour12(h: u32) -> u32 {
    match h % 12 {
        0 => 12,
        x => x,
    }
}

/// Renders `dt` with MySQL `DATE_FORMAT` specifiers into `out`.
fn format_datetime(dt: &NaiveDateTime, items: &[FmtItem], out: &mut String) {
    for item in items {
        let spec = match item {
            FmtItem::Lit(s) => {
                out.push_str(s);
                continue;
            }
            FmtItem::Spec(c) => *c,
        };
        let date = dt.date();
        let _ = match spec {
            'a' => write!(out, "{}", &day_name(dt)[..3]),
            'b' => write!(out, "{}", &month_name(dt)[..3]),
            'c' => write!(out, "{}", dt.month()),
            'D' => {
                let d = dt.day();
                let suffix = match (d % 10, d % 100) {
                    (_, 11..=13) => "th",
                    (1, _) => "st",
                    (2, _) => "nd",
                    (3, _) => "rd",
                    _ => "th",
                };
                write!(out, "{d}{suffix}")
            }
            'd' => write!(out, "{:02}", dt.day()),
            'e' => write!(out, "{}", dt.day()),
            'f' => write!(out, "{:06}", dt.nanosecond() / 1000),
            'H' => write!(out, "{:02}", dt.hour()),
            'h' | 'I' => write!(out, "{:02}", hour12(dt.hour())),
            'i' => write!(out, "{:02}", dt.minute()),
            'j' => write!(out, "{:03}", dt.ordinal()),
            'k' => write!(out, "{}", dt.hour()),
            'l' => write!(out, "{}", hour12(dt.hour())),
            'M' => write!(out, "{}", month_name(dt)),
            'm' => write!(out, "{:02}", dt.month()),
            'p' => write!(out, "{}", if dt.hour() < 12 { "AM" } else { "PM" }),
            'r' => write!(
                out,
                "{:02}:{:02}:{:02} {}",
                hour12(dt.hour()),
                dt.minute(),
                dt.second(),
                if dt.hour() < 12 { "AM" } else { "PM" }
            ),
            'S' | 's' => write!(out, "{:02}", dt.second()),
            'T' => write!(
                out,
                "{:02}:{:02}:{:02}",
                dt.hour(),
                dt.minute(),
                dt.second()
            ),
            'U' => write!(out, "{:02}", calc_week(date, WEEK_FIRST_WEEKDAY).0),
            'u' => write!(out, "{:02}", calc_week(date, WEEK_MONDAY_FIRST).0),
            'V' => write!(
                out,
                "{:02}",
                calc_week(date, WEEK_YEAR | WEEK_FIRST_WEEKDAY).0
            ),
            'v' => write!(
                out,
                "{:02}",
                calc_week(date, WEEK_YEAR | WEEK_MONDAY_FIRST).0
            ),
            'W' => write!(out, "{}", day_name(dt)),
            'w' => write!(out, "{}", dt.weekday().num_days_from_sunday()),
            'X' => write!(
                out,
                "{:04}",
                calc_week(date, WEEK_YEAR | WEEK_FIRST_WEEKDAY).1
            ),
            'x' => write!(
                out,
                "{:04}",
                calc_week(date, WEEK_YEAR | WEEK_MONDAY_FIRST).1
            ),
            'Y' => write!(out, "{:04}", dt.year()),
            'y' => write!(out, "{:02}", dt.year().rem_euclid(100)),
            other => {
                out.push(other);
                Ok(())
            }
        };
    }
}

/// Whether a format string produces or reads a time of day.
fn format_has_time(items: &[FmtItem]) -> bool {
    items.iter().any(|i| {
        matches!(
            i,
            FmtItem::Spec('H' | 'k' | 'h' | 'I' | 'l' | 'i' | 's' | 'S' | 'f' | 'p' | 'T' | 'r')
        )
    })
}

#[derive(Default)]
struct Parsed {
    year: Option<i32>,
    month: Option<u32>,
    day: Option<u32>,
    yday: Option<u32>,
    hour: u32,
    hour12: bool,
    pm: Option<bool>,
    minute: u32,
    second: u32,
    micro: u32,
}

fn match_name(c: &mut Cursor, names: &[&str], abbrev: bool) -> Option<u32> {
    let rest = std::str::from_utf8(&c.b[c.i..]).ok()?;
    for (k, name) in names.iter().enumerate() {
        let name = if abbrev { &name[..3] } else { name };
        if rest.len() >= name.len() && rest[..name.len()].eq_ignore_ascii_case(name) {
            c.i += name.len();
            return Some(k as u32);
        }
    }
    None
}

/// Reads `s` according to MySQL `STR_TO_DATE` specifiers. Missing month/day default to 1.
fn str_to_date(s: &str, items: &[FmtItem]) -> Option<NaiveDateTime> {
    let mut c = Cursor {
        b: s.as_bytes(),
        i: 0,
    };
    let mut p = Parsed::default();
    let mut any = false;
    'items: for item in items {
        match item {
            FmtItem::Lit(l) => {
                for ch in l.bytes() {
                    c.skip_spaces();
                    if ch.is_ascii_whitespace() {
                        continue;
                    }
                    if c.at_end() {
                        break 'items;
                    }
                    if c.peek() != Some(ch) {
                        return None;
                    }
                    c.i += 1;
                }
            }
            FmtItem::Spec(spec) => {
                c.skip_spaces();
                if c.at_end() {
                    break 'items;
                }
                any = true;
                match spec {
                    'Y' => {
                        let (y, n) = c.digits(4)?;
                        p.year = Some(adjust_year(y as i32, n));
                    }
                    'y' => {
                        let (y, _) = c.digits(2)?;
                        p.year = Some(adjust_year(y as i32, 2));
                    }
                    'm' | 'c' => p.month = Some(c.digits(2)?.0),
                    'd' | 'e' => p.day = Some(c.digits(2)?.0),
                    'D' => {
                        p.day = Some(c.digits(2)?.0);
                        c.i = (c.i + 2).min(c.b.len());
                    }
                    'H' | 'k' => p.hour = c.digits(2)?.0,
                    'h' | 'I' | 'l' => {
                        p.hour = c.digits(2)?.0;
                        p.hour12 = true;
                    }
                    'i' => p.minute = c.digits(2)?.0,
                    's' | 'S' => p.second = c.digits(2)?.0,
                    'f' => {
                        let start = c.i;
                        c.digits(6)?;
                        p.micro = frac_micros(std::str::from_utf8(&c.b[start..c.i]).ok()?);
                    }
                    'p' => {
                        let rest = std::str::from_utf8(&c.b[c.i..]).ok()?;
                        let head = rest.get(..2)?;
                        p.pm = Some(if head.eq_ignore_ascii_case("PM") {
                            true
                        } else if head.eq_ignore_ascii_case("AM") {
                            false
                        } else {
                            return None;
                        });
                        c.i += 2;
                    }
                    'M' => p.month = Some(match_name(&mut c, &MONTH_NAMES, false)? + 1),
                    'b' => p.month = Some(match_name(&mut c, &MONTH_NAMES, true)? + 1),
                    'W' => {
                        match_name(&mut c, &DAY_NAMES, false)?;
                    }
                    'a' => {
                        match_name(&mut c, &DAY_NAMES, true)?;
                    }
                    'j' => p.yday = Some(c.digits(3)?.0),
                    'T' | 'r' => {
                        p.hour = c.digits(2)?.0;
                        (c.peek() == Some(b':')).then_some(())?;
                        c.i += 1;
                        p.minute = c.digits(2)?.0;
                        (c.peek() == Some(b':')).then_some(())?;
                        c.i += 1;
                        p.second = c.digits(2)?.0;
                        if *spec == 'r' {
                            p.hour12 = true;
                            c.skip_spaces();
                            let rest = std::str::from_utf8(&c.b[c.i..]).ok()?;
                            let head = rest.get(..2)?;
                            p.pm = Some(head.eq_ignore_ascii_case("PM"));
                            c.i += 2;
                        }
                    }
                    '%' => {
                        (c.peek() == Some(b'%')).then_some(())?;
                        c.i += 1;
                    }
                    _ => return None,
                }
            }
        }
    }
    if !any {
        return None;
    }
    let mut hour = p.hour;
    if p.hour12 || p.pm.is_some() {
        if !(1..=12).contains(&hour) {
            return None;
        }
        hour %= 12;
        if p.pm == Some(true) {
            hour += 12;
        }
    }
    let year = p.year.unwrap_or(0);
    let date = match p.yday {
        Some(yd) if p.month.is_none() && p.day.is_none() => NaiveDate::from_yo_opt(year, yd)?,
        _ => NaiveDate::from_ymd_opt(year, p.month.unwrap_or(1), p.day.unwrap_or(1))?,
    };
    let time = NaiveTime::from_hms_micro_opt(hour, p.minute, p.second, p.micro)?;
    Some(date.and_time(time))
}

// =======================================================================================
// Units and arithmetic
// =======================================================================================

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Unit {
    Microsecond,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl Unit {
    fn parse(s: &str) -> Option<Unit> {
        let s = s.trim().to_ascii_uppercase();
        let s = s.strip_prefix("SQL_TSI_").unwrap_or(&s);
        Some(match s {
            "MICROSECOND" | "FRAC_SECOND" => Unit::Microsecond,
            "SECOND" => Unit::Second,
            "MINUTE" => Unit::Minute,
            "HOUR" => Unit::Hour,
            "DAY" => Unit::Day,
            "WEEK" => Unit::Week,
            "MONTH" => Unit::Month,
            "QUARTER" => Unit::Quarter,
            "YEAR" => Unit::Year,
            _ => return None,
        })
    }

    fn is_date_level(self) -> bool {
        matches!(
            self,
            Unit::Day | Unit::Week | Unit::Month | Unit::Quarter | Unit::Year
        )
    }
}

/// Adds months, clamping the day to the end of the target month (MySQL semantics).
fn add_months(dt: NaiveDateTime, months: i64) -> Option<NaiveDateTime> {
    let m = Months::new(u32::try_from(months.unsigned_abs()).ok()?);
    if months >= 0 {
        dt.checked_add_months(m)
    } else {
        dt.checked_sub_months(m)
    }
}

fn add_micros(dt: NaiveDateTime, micros: i64) -> Option<NaiveDateTime> {
    dt.checked_add_signed(TimeDelta::microseconds(micros))
}

fn add_unit(dt: NaiveDateTime, unit: Unit, n: i64) -> Option<NaiveDateTime> {
    match unit {
        Unit::Year => add_months(dt, n.checked_mul(12)?),
        Unit::Quarter => add_months(dt, n.checked_mul(3)?),
        Unit::Month => add_months(dt, n),
        Unit::Week => add_micros(dt, n.checked_mul(7 * MICROS_PER_DAY)?),
        Unit::Day => add_micros(dt, n.checked_mul(MICROS_PER_DAY)?),
        Unit::Hour => add_micros(dt, n.checked_mul(3600 * MICROS_PER_SEC)?),
        Unit::Minute => add_micros(dt, n.checked_mul(60 * MICROS_PER_SEC)?),
        Unit::Second => add_micros(dt, n.checked_mul(MICROS_PER_SEC)?),
        Unit::Microsecond => add_micros(dt, n),
    }
}

/// Whole months from `a` to `b`, MySQL style (a partial month does not count).
fn months_between(a: NaiveDateTime, b: NaiveDateTime) -> i64 {
    let ma = i64::from(a.year()) * 12 + i64::from(a.month0());
    let mb = i64::from(b.year()) * 12 + i64::from(b.month0());
    let mut diff = mb - ma;
    let rest = |d: &NaiveDateTime| (d.day(), d.time());
    if diff > 0 && rest(&b) < rest(&a) {
        diff -= 1;
    } else if diff < 0 && rest(&b) > rest(&a) {
        diff += 1;
    }
    diff
}

fn timestamp_diff(unit: Unit, a: NaiveDateTime, b: NaiveDateTime) -> Option<i64> {
    let micros = (b - a).num_microseconds()?;
    Some(match unit {
        Unit::Microsecond => micros,
        Unit::Second => micros / MICROS_PER_SEC,
        Unit::Minute => micros / (60 * MICROS_PER_SEC),
        Unit::Hour => micros / (3600 * MICROS_PER_SEC),
        Unit::Day => micros / MICROS_PER_DAY,
        Unit::Week => micros / (7 * MICROS_PER_DAY),
        Unit::Month => months_between(a, b),
        Unit::Quarter => months_between(a, b) / 3,
        Unit::Year => months_between(a, b) / 12,
    })
}

// =======================================================================================
// Single-argument extractors: year(), month(), ..., to_date(), last_day()
// =======================================================================================

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Part {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Microsecond,
    Quarter,
    DayOfWeek,
    Weekday,
    DayOfYear,
    WeekOfYear,
    Week,
    YearWeek,
    DayName,
    MonthName,
    ToDays,
    ToDate,
    LastDay,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PartFunc {
    part: Part,
    name: String,
    aliases: Vec<String>,
    signature: Signature,
}

impl PartFunc {
    fn new(part: Part, name: &str, alias: &[&str]) -> Self {
        Self {
            part,
            name: name.to_string(),
            aliases: aliases(alias),
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for PartFunc {
    fn name(&self) -> &str {
        &self.name
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, t: &[DataType]) -> Result<Vec<DataType>> {
        let max = if matches!(self.part, Part::Week | Part::YearWeek) {
            2
        } else {
            1
        };
        check_args(&self.name, t, 1, max)?;
        let mut v = vec![dt_arg_type(&self.name, &t[0])?];
        if let Some(m) = t.get(1) {
            v.push(int_arg_type(&self.name, m)?);
        }
        Ok(v)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.part {
            Part::DayName | Part::MonthName => DataType::Utf8,
            Part::ToDays => DataType::Int64,
            Part::ToDate | Part::LastDay => DataType::Date32,
            _ => DataType::Int32,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // Arity/type guard: a decoded plan with unexpected arguments errors instead of panicking.
        self.coerce_types(&arg_types(&args))?;
        let (n, scalar) = output_rows(&args);
        let d = DtCol::new(&args.args[0])?;
        let mode = args.args.get(1).map(I64Col::new).transpose()?;
        let mode_at = |i: usize| -> Option<i64> {
            match &mode {
                Some(m) => m.get(i),
                None => Some(0),
            }
        };
        let out = match self.part {
            Part::DayName => build_string(n, |i, out| match d.get(i) {
                Some(dt) => {
                    out.push_str(day_name(&dt));
                    true
                }
                None => false,
            }),
            Part::MonthName => build_string(n, |i, out| match d.get(i) {
                Some(dt) => {
                    out.push_str(month_name(&dt));
                    true
                }
                None => false,
            }),
            Part::ToDays => build_i64(n, |i| {
                d.get(i)
                    .map(|dt| i64::from(dt.date().num_days_from_ce()) + 365)
            }),
            Part::ToDate => build_dt(n, &DataType::Date32, |i| d.get(i)),
            Part::LastDay => build_dt(n, &DataType::Date32, |i| {
                let dt = d.get(i)?;
                let first = NaiveDate::from_ymd_opt(dt.year(), dt.month(), 1)?;
                let last = first.checked_add_months(Months::new(1))?.pred_opt()?;
                Some(last.and_time(NaiveTime::MIN))
            }),
            part => build_i32(n, |i| {
                let dt = d.get(i)?;
                let v: i64 = match part {
                    Part::Year => i64::from(dt.year()),
                    Part::Month => i64::from(dt.month()),
                    Part::Day => i64::from(dt.day()),
                    Part::Hour => i64::from(dt.hour()),
                    Part::Minute => i64::from(dt.minute()),
                    Part::Second => i64::from(dt.second()),
                    Part::Microsecond => i64::from(dt.nanosecond() / 1000),
                    Part::Quarter => i64::from(dt.month0() / 3 + 1),
                    Part::DayOfWeek => i64::from(dt.weekday().num_days_from_sunday() + 1),
                    Part::Weekday => i64::from(dt.weekday().num_days_from_monday()),
                    Part::DayOfYear => i64::from(dt.ordinal()),
                    Part::WeekOfYear => calc_week(dt.date(), week_mode(3)).0,
                    Part::Week => calc_week(dt.date(), week_mode(mode_at(i)?)).0,
                    Part::YearWeek => {
                        let (w, y) = calc_week(dt.date(), week_mode(mode_at(i)?) | WEEK_YEAR);
                        i64::from(y) * 100 + w
                    }
                    _ => return None,
                };
                i32::try_from(v).ok()
            }),
        };
        finish(out, scalar)
    }
}

// =======================================================================================
// Date arithmetic: date_add(dt, INTERVAL ..), days_add(dt, n), timestampadd(unit, n, dt)
// =======================================================================================

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ArithMode {
    /// `(dt, INTERVAL ...)` or `(dt, days)`.
    Interval,
    /// `(dt, n)` with a fixed unit (Doris `days_add` family).
    Fixed(Unit),
    /// `(unit, n, dt)`.
    TimestampAdd,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct DateArith {
    mode: ArithMode,
    negate: bool,
    name: String,
    aliases: Vec<String>,
    signature: Signature,
}

impl DateArith {
    fn new(mode: ArithMode, negate: bool, name: &str, alias: &[&str]) -> Self {
        Self {
            mode,
            negate,
            name: name.to_string(),
            aliases: aliases(alias),
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    fn dt_index(&self) -> usize {
        match self.mode {
            ArithMode::TimestampAdd => 2,
            _ => 0,
        }
    }
}

/// Whether an interval literal has no time-of-day part.
fn interval_is_date_level(v: &ScalarValue) -> bool {
    match v {
        ScalarValue::IntervalMonthDayNano(Some(i)) => i.nanoseconds == 0,
        ScalarValue::IntervalDayTime(Some(i)) => i.milliseconds == 0,
        ScalarValue::IntervalYearMonth(_) => true,
        _ => true,
    }
}

impl ScalarUDFImpl for DateArith {
    fn name(&self) -> &str {
        &self.name
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, t: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.name.as_str();
        match self.mode {
            ArithMode::Interval => {
                check_args(name, t, 2, 2)?;
                let amount = match &t[1] {
                    DataType::Interval(_) => DataType::Interval(IntervalUnit::MonthDayNano),
                    other => int_arg_type(name, other)?,
                };
                Ok(vec![dt_arg_type(name, &t[0])?, amount])
            }
            ArithMode::Fixed(_) => {
                check_args(name, t, 2, 2)?;
                Ok(vec![dt_arg_type(name, &t[0])?, int_arg_type(name, &t[1])?])
            }
            ArithMode::TimestampAdd => {
                check_args(name, t, 3, 3)?;
                Ok(vec![
                    string_arg_type(&t[0]),
                    int_arg_type(name, &t[1])?,
                    dt_arg_type(name, &t[2])?,
                ])
            }
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        internal_err!("return_field_from_args is used instead")
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let dt_type = args
            .arg_fields
            .get(self.dt_index())
            .map(|f| f.data_type().clone())
            .unwrap_or(DataType::Null);
        let date_level = match self.mode {
            ArithMode::Fixed(u) => u.is_date_level(),
            ArithMode::Interval => args
                .scalar_arguments
                .get(1)
                .copied()
                .flatten()
                .is_none_or(interval_is_date_level),
            ArithMode::TimestampAdd => scalar_str(args.scalar_arguments.first().copied().flatten())
                .and_then(Unit::parse)
                .is_some_and(Unit::is_date_level),
        };
        let rt = if date_level && dt_type == DataType::Date32 {
            DataType::Date32
        } else {
            datetime_type()
        };
        Ok(Arc::new(Field::new(self.name(), rt, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // Arity/type guard: a decoded plan with unexpected arguments errors instead of panicking.
        self.coerce_types(&arg_types(&args))?;
        let (n, scalar) = output_rows(&args);
        let ret = args.return_type().clone();
        let sign: i64 = if self.negate { -1 } else { 1 };
        let a = &args.args;
        let out = match self.mode {
            ArithMode::Fixed(unit) => {
                let d = DtCol::new(&a[0])?;
                let k = I64Col::new(&a[1])?;
                build_dt(n, &ret, |i| {
                    add_unit(d.get(i)?, unit, k.get(i)?.checked_mul(sign)?)
                })
            }
            ArithMode::TimestampAdd => {
                let u = StrCol::new(&a[0])?;
                let k = I64Col::new(&a[1])?;
                let d = DtCol::new(&a[2])?;
                if let Some(Some(s)) = u.as_scalar() {
                    if Unit::parse(s).is_none() {
                        return exec_err!("timestampadd: unknown unit {s}");
                    }
                }
                build_dt(n, &ret, |i| {
                    let unit = Unit::parse(u.get(i)?)?;
                    add_unit(d.get(i)?, unit, k.get(i)?)
                })
            }
            ArithMode::Interval => {
                let d = DtCol::new(&a[0])?;
                if matches!(a[1].data_type(), DataType::Interval(_)) {
                    let iv = a[1].to_array(n)?;
                    let iv = cast(&iv, &DataType::Interval(IntervalUnit::MonthDayNano))?;
                    let iv = iv.as_primitive::<IntervalMonthDayNanoType>();
                    let idx = |i: usize| if iv.len() == 1 { 0 } else { i };
                    build_dt(n, &ret, |i| {
                        let j = idx(i);
                        if iv.is_null(j) {
                            return None;
                        }
                        let v = iv.value(j);
                        let dt = add_months(d.get(i)?, i64::from(v.months) * sign)?;
                        let days = i64::from(v.days).checked_mul(MICROS_PER_DAY * sign)?;
                        let dt = add_micros(dt, days)?;
                        add_micros(dt, (v.nanoseconds / 1000).checked_mul(sign)?)
                    })
                } else {
                    let k = I64Col::new(&a[1])?;
                    build_dt(n, &ret, |i| {
                        add_unit(d.get(i)?, Unit::Day, k.get(i)?.checked_mul(sign)?)
                    })
                }
            }
        };
        finish(out, scalar)
    }
}

// =======================================================================================
// date_format, datediff, timestampdiff, unix_timestamp, from_unixtime, str_to_date
// =======================================================================================

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Other {
    DateFormat,
    DateDiff,
    TimestampDiff,
    UnixTimestamp,
    FromUnixtime,
    StrToDate,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct OtherFunc {
    kind: Other,
    name: String,
    aliases: Vec<String>,
    signature: Signature,
}

impl OtherFunc {
    fn new(kind: Other, name: &str, alias: &[&str]) -> Self {
        let volatility = if kind == Other::UnixTimestamp {
            Volatility::Stable
        } else {
            Volatility::Immutable
        };
        Self {
            kind,
            name: name.to_string(),
            aliases: aliases(alias),
            signature: Signature::user_defined(volatility),
        }
    }
}

/// Largest UNIX timestamp MySQL's `FROM_UNIXTIME` accepts (3001-01-18 23:59:59 UTC).
const MAX_UNIX_TIMESTAMP: i64 = 32_536_771_199;

impl ScalarUDFImpl for OtherFunc {
    fn name(&self) -> &str {
        &self.name
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, t: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.name.as_str();
        Ok(match self.kind {
            Other::DateFormat => {
                check_args(name, t, 2, 2)?;
                vec![dt_arg_type(name, &t[0])?, string_arg_type(&t[1])]
            }
            Other::DateDiff => {
                check_args(name, t, 2, 2)?;
                vec![dt_arg_type(name, &t[0])?, dt_arg_type(name, &t[1])?]
            }
            Other::TimestampDiff => {
                check_args(name, t, 3, 3)?;
                vec![
                    string_arg_type(&t[0]),
                    dt_arg_type(name, &t[1])?,
                    dt_arg_type(name, &t[2])?,
                ]
            }
            Other::UnixTimestamp => {
                check_args(name, t, 0, 1)?;
                t.iter()
                    .map(|x| dt_arg_type(name, x))
                    .collect::<Result<_>>()?
            }
            Other::FromUnixtime => {
                check_args(name, t, 1, 2)?;
                let mut v = vec![int_arg_type(name, &t[0])?];
                if let Some(f) = t.get(1) {
                    v.push(string_arg_type(f));
                }
                v
            }
            Other::StrToDate => {
                check_args(name, t, 2, 2)?;
                vec![string_arg_type(&t[0]), string_arg_type(&t[1])]
            }
        })
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        internal_err!("return_field_from_args is used instead")
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let rt = match self.kind {
            Other::DateFormat | Other::FromUnixtime => DataType::Utf8,
            Other::DateDiff => DataType::Int32,
            Other::TimestampDiff | Other::UnixTimestamp => DataType::Int64,
            Other::StrToDate => match scalar_str(args.scalar_arguments.get(1).copied().flatten()) {
                Some(f) if !format_has_time(&parse_format(f)) => DataType::Date32,
                _ => datetime_type(),
            },
        };
        Ok(Arc::new(Field::new(self.name(), rt, true)))
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        if self.kind != Other::UnixTimestamp || !args.is_empty() {
            return Ok(ExprSimplifyResult::Original(args));
        }
        let Some(now) = info.query_execution_start_time() else {
            return Ok(ExprSimplifyResult::Original(args));
        };
        Ok(ExprSimplifyResult::Simplified(Expr::Literal(
            ScalarValue::Int64(Some(now.timestamp())),
            None,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // Arity/type guard: a decoded plan with unexpected arguments errors instead of panicking.
        self.coerce_types(&arg_types(&args))?;
        let (n, scalar) = output_rows(&args);
        let a = &args.args;
        let out = match self.kind {
            Other::DateFormat => {
                let d = DtCol::new(&a[0])?;
                let f = StrCol::new(&a[1])?;
                match f.as_scalar() {
                    Some(None) => build_string(n, |_, _| false),
                    Some(Some(fmt)) => {
                        let items = parse_format(fmt);
                        build_string(n, |i, out| match d.get(i) {
                            Some(dt) => {
                                format_datetime(&dt, &items, out);
                                true
                            }
                            None => false,
                        })
                    }
                    None => build_string(n, |i, out| match (d.get(i), f.get(i)) {
                        (Some(dt), Some(fmt)) => {
                            format_datetime(&dt, &parse_format(fmt), out);
                            true
                        }
                        _ => false,
                    }),
                }
            }
            Other::DateDiff => {
                let x = DtCol::new(&a[0])?;
                let y = DtCol::new(&a[1])?;
                build_i32(n, |i| {
                    let days = (x.get(i)?.date() - y.get(i)?.date()).num_days();
                    i32::try_from(days).ok()
                })
            }
            Other::TimestampDiff => {
                let u = StrCol::new(&a[0])?;
                let x = DtCol::new(&a[1])?;
                let y = DtCol::new(&a[2])?;
                if let Some(Some(s)) = u.as_scalar() {
                    if Unit::parse(s).is_none() {
                        return exec_err!("timestampdiff: unknown unit {s}");
                    }
                }
                build_i64(n, |i| {
                    timestamp_diff(Unit::parse(u.get(i)?)?, x.get(i)?, y.get(i)?)
                })
            }
            Other::UnixTimestamp => {
                let tz = SessionTz::from_config(&args.config_options);
                if a.is_empty() {
                    return Ok(ColumnarValue::Scalar(ScalarValue::Int64(Some(
                        Utc::now().timestamp(),
                    ))));
                }
                let d = DtCol::new(&a[0])?;
                build_i64(n, |i| {
                    let utc = tz.to_utc(&d.get(i)?)?;
                    Some(utc.timestamp().clamp(0, MAX_UNIX_TIMESTAMP))
                })
            }
            Other::FromUnixtime => {
                let tz = SessionTz::from_config(&args.config_options);
                let ts = I64Col::new(&a[0])?;
                let fmt = a.get(1).map(StrCol::new).transpose()?;
                let default_items = parse_format("%Y-%m-%d %H:%i:%s");
                let scalar_items = match fmt.as_ref().and_then(|f| f.as_scalar()) {
                    Some(Some(f)) => Some(parse_format(f)),
                    _ => None,
                };
                build_string(n, |i, out| {
                    let Some(t) = ts.get(i) else { return false };
                    if !(0..=MAX_UNIX_TIMESTAMP).contains(&t) {
                        return false;
                    }
                    let Some(utc) = DateTime::from_timestamp(t, 0) else {
                        return false;
                    };
                    let local = tz.to_local(&utc);
                    match (&fmt, &scalar_items) {
                        (None, _) => format_datetime(&local, &default_items, out),
                        (Some(_), Some(items)) => format_datetime(&local, items, out),
                        (Some(f), None) => match f.get(i) {
                            Some(s) => format_datetime(&local, &parse_format(s), out),
                            None => return false,
                        },
                    }
                    true
                })
            }
            Other::StrToDate => {
                let ret = args.return_type().clone();
                let s = StrCol::new(&a[0])?;
                let f = StrCol::new(&a[1])?;
                match f.as_scalar() {
                    Some(Some(fmt)) => {
                        let items = parse_format(fmt);
                        build_dt(n, &ret, |i| str_to_date(s.get(i)?, &items))
                    }
                    _ => build_dt(n, &ret, |i| {
                        str_to_date(s.get(i)?, &parse_format(f.get(i)?))
                    }),
                }
            }
        };
        finish(out, scalar)
    }
}

// =======================================================================================
// now(), curdate(), curtime()
// =======================================================================================

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum NowKind {
    Now,
    CurDate,
    CurTime,
}

/// Current date/time in the session zone, folded to a literal at plan time.
#[derive(Debug, PartialEq, Eq, Hash)]
struct NowFunc {
    kind: NowKind,
    name: String,
    aliases: Vec<String>,
    signature: Signature,
}

impl NowFunc {
    fn new(kind: NowKind, name: &str, alias: &[&str]) -> Self {
        Self {
            kind,
            name: name.to_string(),
            aliases: aliases(alias),
            signature: Signature::user_defined(Volatility::Stable),
        }
    }

    fn value(&self, now: &DateTime<Utc>, config: &ConfigOptions, precision: i64) -> ScalarValue {
        let local = SessionTz::from_config(config).to_local(now);
        match self.kind {
            NowKind::Now => {
                let micros = to_micros(&local);
                let keep = 10i64.pow(6 - precision.clamp(0, 6) as u32);
                ScalarValue::TimestampMicrosecond(Some(micros - micros.rem_euclid(keep)), None)
            }
            NowKind::CurDate => ScalarValue::Date32(to_date32(local.date())),
            NowKind::CurTime => {
                let t = local.time();
                let secs = i64::from(t.num_seconds_from_midnight());
                ScalarValue::Time64Microsecond(Some(secs * MICROS_PER_SEC))
            }
        }
    }

    fn return_data_type(&self) -> DataType {
        match self.kind {
            NowKind::Now => datetime_type(),
            NowKind::CurDate => DataType::Date32,
            NowKind::CurTime => DataType::Time64(TimeUnit::Microsecond),
        }
    }
}

impl ScalarUDFImpl for NowFunc {
    fn name(&self) -> &str {
        &self.name
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, t: &[DataType]) -> Result<Vec<DataType>> {
        let max = if self.kind == NowKind::CurDate { 0 } else { 1 };
        check_args(&self.name, t, 0, max)?;
        t.iter().map(|x| int_arg_type(&self.name, x)).collect()
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.return_data_type())
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        let precision = match args.first() {
            None => 0,
            Some(Expr::Literal(v, _)) => match scalar_i64(Some(v)) {
                Some(p) => p,
                None => return Ok(ExprSimplifyResult::Original(args)),
            },
            Some(_) => return Ok(ExprSimplifyResult::Original(args)),
        };
        let Some(now) = info.query_execution_start_time() else {
            return Ok(ExprSimplifyResult::Original(args));
        };
        Ok(ExprSimplifyResult::Simplified(Expr::Literal(
            self.value(&now, info.config_options(), precision),
            None,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // Arity/type guard: a decoded plan with unexpected arguments errors instead of panicking.
        self.coerce_types(&arg_types(&args))?;
        let precision = match args.args.first() {
            Some(ColumnarValue::Scalar(v)) => scalar_i64(Some(v)).unwrap_or(0),
            _ => 0,
        };
        Ok(ColumnarValue::Scalar(self.value(
            &Utc::now(),
            &args.config_options,
            precision,
        )))
    }
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]` rendering of a DATETIME value (used by tests and callers
/// that need MySQL text for a `Timestamp(Microsecond)` value).
pub fn format_mysql_datetime(micros: i64) -> Option<String> {
    format_datetime_micros(micros)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::test_util::{q, q_all, q_type, run};

    #[test]
    fn date_format_specifiers() {
        assert_eq!(
            q("SELECT date_format('2023-01-05 13:04:09', '%Y-%m-%d %H:%i:%s')"),
            "2023-01-05 13:04:09"
        );
        assert_eq!(
            q("SELECT date_format('2023-01-05 13:04:09.123', '%y %c %e %k %h %I %l %S %f %p')"),
            "23 1 5 13 01 01 1 09 123000 PM"
        );
        assert_eq!(
            q("SELECT date_format('2023-01-05', '%W %a %M %b %j %D %w')"),
            "Thursday Thu January Jan 005 5th 4"
        );
        assert_eq!(
            q("SELECT date_format('2023-01-05 13:04:09', '%T')"),
            "13:04:09"
        );
        assert_eq!(
            q("SELECT date_format('2023-01-05 00:04:09', '%r')"),
            "12:04:09 AM"
        );
        assert_eq!(q("SELECT date_format('2023-01-05', '100%% %z')"), "100% z");
        assert_eq!(
            q("SELECT date_format('2023-01-01', '%U %u %V %v %X %x')"),
            "01 00 01 52 2023 2022"
        );
        assert_eq!(q("SELECT date_format('2023-01-22', '%D %D')"), "22nd 22nd");
        assert_eq!(q("SELECT date_format('2023-01-13', '%D')"), "13th");
        assert_eq!(q("SELECT date_format('bad', '%Y')"), "NULL");
        assert_eq!(q("SELECT date_format('2023-02-30', '%Y')"), "NULL");
        assert_eq!(
            q("SELECT date_format(CAST('2023-01-05 13:04:09' AS TIMESTAMP), '%Y%m%d')"),
            "20230105"
        );
        assert_eq!(
            q_all(
                "SELECT date_format(d, f) FROM (VALUES ('2023-01-05', '%Y'), ('2023-01-05', NULL), \
                 (NULL, '%Y')) t(d, f)"
            ),
            vec!["2023", "NULL", "NULL"]
        );
    }

    #[test]
    fn extractors() {
        assert_eq!(q("SELECT year('2023-06-01')"), "2023");
        assert_eq!(q("SELECT month('2023-06-01')"), "6");
        assert_eq!(q("SELECT day('2023-06-01')"), "1");
        assert_eq!(q("SELECT dayofmonth('2023-06-21')"), "21");
        assert_eq!(q("SELECT hour('2023-06-01 13:04:09')"), "13");
        assert_eq!(q("SELECT minute('2023-06-01 13:04:09')"), "4");
        assert_eq!(q("SELECT second('2023-06-01 13:04:09')"), "9");
        assert_eq!(q("SELECT microsecond('2023-06-01 13:04:09.25')"), "250000");
        assert_eq!(q("SELECT quarter('2023-06-01')"), "2");
        assert_eq!(q("SELECT dayofweek('2023-06-04')"), "1");
        assert_eq!(q("SELECT dayofweek('2023-06-03')"), "7");
        assert_eq!(q("SELECT weekday('2023-06-04')"), "6");
        assert_eq!(q("SELECT dayofyear('2023-02-01')"), "32");
        assert_eq!(q("SELECT dayname('2023-06-04')"), "Sunday");
        assert_eq!(q("SELECT monthname('2023-06-04')"), "June");
        assert_eq!(q("SELECT year(CAST('2023-06-01' AS DATE))"), "2023");
        assert_eq!(q("SELECT year(20230601)"), "2023");
        assert_eq!(q("SELECT year(NULL)"), "NULL");
        assert_eq!(q("SELECT year('garbage')"), "NULL");
        assert_eq!(q_type("SELECT year('2023-06-01')"), DataType::Int32);
    }

    #[test]
    fn week_numbers() {
        assert_eq!(q("SELECT weekofyear('2008-02-20')"), "8");
        assert_eq!(q("SELECT week('2008-02-20')"), "7");
        assert_eq!(q("SELECT week('2008-02-20', 1)"), "8");
        assert_eq!(q("SELECT week('2008-12-31', 1)"), "53");
        assert_eq!(q("SELECT week('2000-01-01', 0)"), "0");
        assert_eq!(q("SELECT week('2000-01-01', 2)"), "52");
        assert_eq!(q("SELECT yearweek('1987-01-01')"), "198652");
        assert_eq!(q("SELECT weekofyear('2021-01-03')"), "53");
        assert_eq!(q("SELECT to_days('2007-10-07')"), "733321");
    }

    #[test]
    fn datediff_values() {
        assert_eq!(q("SELECT datediff('2023-03-01','2023-02-01')"), "28");
        assert_eq!(q("SELECT datediff('2023-02-01','2023-03-01')"), "-28");
        assert_eq!(
            q("SELECT datediff('2023-03-01 23:59:59', CAST('2023-02-28' AS DATE))"),
            "1"
        );
        assert_eq!(
            q("SELECT datediff(CAST('2024-03-01 00:00:01' AS TIMESTAMP), '2024-02-28 23:00:00')"),
            "2"
        );
        assert_eq!(q("SELECT datediff('2023-03-01', NULL)"), "NULL");
    }

    #[test]
    fn date_add_sub() {
        assert_eq!(
            q("SELECT date_add('2023-01-31', INTERVAL 1 MONTH)"),
            "2023-02-28 00:00:00"
        );
        assert_eq!(
            q("SELECT date_add(CAST('2023-01-31' AS DATE), INTERVAL 1 MONTH)"),
            "2023-02-28"
        );
        assert_eq!(
            q_type("SELECT date_add(CAST('2023-01-31' AS DATE), INTERVAL 1 DAY)"),
            DataType::Date32
        );
        assert_eq!(
            q("SELECT date_add(CAST('2023-01-31' AS DATE), INTERVAL 2 HOUR)"),
            "2023-01-31 02:00:00"
        );
        assert_eq!(
            q("SELECT date_sub('2023-03-01 10:00:00', INTERVAL 1 DAY)"),
            "2023-02-28 10:00:00"
        );
        assert_eq!(
            q("SELECT adddate(CAST('2023-03-01' AS DATE), 3)"),
            "2023-03-04"
        );
        assert_eq!(
            q("SELECT subdate(CAST('2023-03-01' AS DATE), 1)"),
            "2023-02-28"
        );
        assert_eq!(
            q("SELECT date_add('2020-02-29', INTERVAL 1 YEAR)"),
            "2021-02-28 00:00:00"
        );
        assert_eq!(
            q("SELECT date_add('2023-01-01 00:00:00', INTERVAL -90 MINUTE)"),
            "2022-12-31 22:30:00"
        );
        assert_eq!(
            q("SELECT date_add(CAST('2023-01-01 10:00:00' AS TIMESTAMP), INTERVAL '1' DAY)"),
            "2023-01-02 10:00:00"
        );
        assert_eq!(
            q("SELECT CAST('2023-01-01' AS DATE) + INTERVAL 1 DAY"),
            "2023-01-02"
        );
        assert_eq!(q("SELECT date_add(NULL, INTERVAL 1 DAY)"), "NULL");
        assert_eq!(q("SELECT date_add('9999-12-31', INTERVAL 1 DAY)"), "NULL");
    }

    #[test]
    fn doris_add_functions() {
        assert_eq!(
            q("SELECT days_add(CAST('2023-01-01' AS DATE), 31)"),
            "2023-02-01"
        );
        assert_eq!(
            q("SELECT days_sub('2023-01-01 10:00:00', 1)"),
            "2022-12-31 10:00:00"
        );
        assert_eq!(
            q("SELECT months_add(CAST('2023-01-31' AS DATE), 1)"),
            "2023-02-28"
        );
        assert_eq!(
            q("SELECT months_sub(CAST('2023-03-31' AS DATE), 1)"),
            "2023-02-28"
        );
        assert_eq!(
            q("SELECT years_add(CAST('2020-02-29' AS DATE), 4)"),
            "2024-02-29"
        );
        assert_eq!(
            q("SELECT weeks_add(CAST('2023-01-01' AS DATE), 2)"),
            "2023-01-15"
        );
        assert_eq!(
            q("SELECT hours_add(CAST('2023-01-01' AS DATE), 25)"),
            "2023-01-02 01:00:00"
        );
        assert_eq!(
            q("SELECT seconds_add('2023-01-01 00:00:00', 61)"),
            "2023-01-01 00:01:01"
        );
    }

    #[test]
    fn timestampdiff_and_add() {
        assert_eq!(
            q("SELECT timestampdiff(MONTH, '2003-02-01', '2003-05-01')"),
            "3"
        );
        assert_eq!(
            q("SELECT timestampdiff(YEAR, '2002-05-01', '2001-01-01')"),
            "-1"
        );
        assert_eq!(
            q("SELECT timestampdiff(MINUTE, '2003-02-01', '2003-05-01 12:05:55')"),
            "128885"
        );
        assert_eq!(
            q("SELECT timestampdiff(MONTH, '2023-01-31', '2023-02-28')"),
            "0"
        );
        assert_eq!(
            q("SELECT timestampdiff(DAY, '2023-01-01 12:00:00', '2023-01-03 11:00:00')"),
            "1"
        );
        assert_eq!(
            q("SELECT timestampdiff(SQL_TSI_WEEK, '2023-01-01', '2023-01-15')"),
            "2"
        );
        assert_eq!(
            q("SELECT timestampadd(MINUTE, 1, '2003-01-02')"),
            "2003-01-02 00:01:00"
        );
        assert_eq!(
            q("SELECT timestampadd(WEEK, 1, CAST('2003-01-02' AS DATE))"),
            "2003-01-09"
        );
    }

    #[test]
    fn to_date_and_last_day() {
        assert_eq!(q("SELECT to_date('2023-01-05 13:04:09')"), "2023-01-05");
        assert_eq!(q("SELECT date('2023-01-05 13:04:09')"), "2023-01-05");
        assert_eq!(
            q("SELECT date(CAST('2023-01-05 13:04:09' AS TIMESTAMP))"),
            "2023-01-05"
        );
        assert_eq!(q_type("SELECT to_date('2023-01-05')"), DataType::Date32);
        assert_eq!(q("SELECT last_day('2024-02-10')"), "2024-02-29");
        assert_eq!(q("SELECT last_day('2023-12-10 10:00:00')"), "2023-12-31");
        assert_eq!(q("SELECT last_day('2023-13-10')"), "NULL");
    }

    #[test]
    fn now_and_friends() {
        assert_eq!(q_type("SELECT now()"), datetime_type());
        assert_eq!(q_type("SELECT current_timestamp"), datetime_type());
        assert_eq!(q_type("SELECT curdate()"), DataType::Date32);
        assert_eq!(q_type("SELECT current_date()"), DataType::Date32);
        assert_eq!(q_type("SELECT CURRENT_DATE"), DataType::Date32);
        assert_eq!(
            q_type("SELECT curtime()"),
            DataType::Time64(TimeUnit::Microsecond)
        );
        // Seconds precision by default, constant within a query.
        assert_eq!(q("SELECT microsecond(now())"), "0");
        assert_eq!(q("SELECT now() = now()"), "true");
        assert_eq!(q("SELECT to_date(now()) = curdate()"), "true");
        assert_eq!(q("SELECT unix_timestamp() > 1600000000"), "true");
        assert_eq!(q("SELECT unix_timestamp(now()) = unix_timestamp()"), "true");
        let b = run("SELECT now() FROM (VALUES (1), (2)) t(x)").expect("run");
        assert_eq!(b.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
    }

    #[test]
    fn unix_time_round_trip() {
        assert_eq!(
            q("SELECT from_unixtime(unix_timestamp('2023-01-05 13:04:09'))"),
            "2023-01-05 13:04:09"
        );
        assert_eq!(
            q("SELECT from_unixtime(unix_timestamp('2023-01-05 13:04:09'), '%Y/%m/%d')"),
            "2023/01/05"
        );
        assert_eq!(q("SELECT from_unixtime(-1)"), "NULL");
        assert_eq!(q("SELECT unix_timestamp('1960-01-01')"), "0");
        assert_eq!(q("SELECT unix_timestamp('bad')"), "NULL");
    }

    #[test]
    fn unix_time_with_session_zone() {
        let ctx = crate::functions::test_util::context();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let v = rt
            .block_on(async {
                ctx.sql("SET datafusion.execution.time_zone = '+08:00'")
                    .await?;
                let b = ctx
                    .sql("SELECT unix_timestamp('1970-01-01 08:00:00'), from_unixtime(0)")
                    .await?
                    .collect()
                    .await?;
                datafusion::arrow::util::pretty::pretty_format_batches(&b).map(|t| t.to_string())
            })
            .expect("query");
        assert!(v.contains("| 0 "), "{v}");
        assert!(v.contains("1970-01-01 08:00:00"), "{v}");
    }

    #[test]
    fn str_to_date_values() {
        assert_eq!(
            q("SELECT str_to_date('2023-01-05', '%Y-%m-%d')"),
            "2023-01-05"
        );
        assert_eq!(
            q_type("SELECT str_to_date('2023-01-05', '%Y-%m-%d')"),
            DataType::Date32
        );
        assert_eq!(
            q("SELECT str_to_date('05/01/2023 13:04:09', '%d/%m/%Y %H:%i:%s')"),
            "2023-01-05 13:04:09"
        );
        assert_eq!(
            q("SELECT str_to_date('January 5, 2023 1:04 PM', '%M %e, %Y %l:%i %p')"),
            "2023-01-05 13:04:00"
        );
        assert_eq!(
            q("SELECT str_to_date('2023-01-05 01:02:03.5', '%Y-%m-%d %T.%f')"),
            "2023-01-05 01:02:03.500"
        );
        assert_eq!(q("SELECT str_to_date('2023-02-30', '%Y-%m-%d')"), "NULL");
        assert_eq!(q("SELECT str_to_date('abc', '%Y-%m-%d')"), "NULL");
        assert_eq!(q("SELECT str_to_date('2023', '%Y')"), "2023-01-01");
        assert_eq!(q("SELECT str_to_date('13:00 AM', '%h:%i %p')"), "NULL");
    }

    #[test]
    fn lenient_parsing() {
        let p = |s: &str| parse_mysql_datetime(s).map(|(d, t)| (d.to_string(), t));
        assert_eq!(
            p("2023-1-5"),
            Some(("2023-01-05 00:00:00".to_string(), false))
        );
        assert_eq!(
            p("2023/01/05T13:04"),
            Some(("2023-01-05 13:04:00".to_string(), true))
        );
        assert_eq!(
            p("20230105"),
            Some(("2023-01-05 00:00:00".to_string(), false))
        );
        assert_eq!(
            p("20230105130409"),
            Some(("2023-01-05 13:04:09".to_string(), true))
        );
        assert_eq!(
            p("23-01-05"),
            Some(("2023-01-05 00:00:00".to_string(), false))
        );
        assert_eq!(
            p("99-01-05"),
            Some(("1999-01-05 00:00:00".to_string(), false))
        );
        assert_eq!(p("2023-01-05 25:00:00"), None);
        assert_eq!(p("2023-01-05 10:00:00 junk"), None);
        assert_eq!(p(""), None);
        assert_eq!(p("2023-01"), None);
        assert_eq!(
            p("2023-01-05 1:2:3.1234567").map(|v| v.0),
            Some("2023-01-05 01:02:03.123456".to_string())
        );
    }

    #[test]
    fn zoned_timestamp_is_wall_clock() {
        assert_eq!(
            q("SELECT hour(arrow_cast(0, 'Timestamp(Second, Some(\"+08:00\"))'))"),
            "8"
        );
    }

    #[test]
    fn helpers() {
        assert_eq!(
            format_mysql_datetime(0).as_deref(),
            Some("1970-01-01 00:00:00")
        );
        assert_eq!(
            format_mysql_datetime(1_500_000).as_deref(),
            Some("1970-01-01 00:00:01.500000")
        );
        assert!(parse_format("%")
            .iter()
            .all(|i| matches!(i, FmtItem::Lit(_))));
    }
}
