//! Helpers shared by the function families: argument type classification, scalar/array
//! dispatch ([`invoke_arrays`]) and MySQL's implicit conversions (string to number,
//! value to string).

use std::sync::Arc;

use chrono::DateTime;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, StringArray, StringBuilder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int64Type, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl};

/// Wraps an implementation into a [`ScalarUDF`].
pub(crate) fn udf(imp: impl ScalarUDFImpl + 'static) -> ScalarUDF {
    ScalarUDF::new_from_impl(imp)
}

/// Owned alias list for `ScalarUDFImpl::aliases`.
pub(crate) fn aliases(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_string()).collect()
}

pub(crate) fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// Integers, booleans and NULL: exact values without a fractional part.
pub(crate) fn is_integer_like(t: &DataType) -> bool {
    t.is_integer() || matches!(t, DataType::Boolean | DataType::Null)
}

pub(crate) fn is_float(t: &DataType) -> bool {
    matches!(t, DataType::Float16 | DataType::Float32 | DataType::Float64)
}

/// DECIMAL(p, s) that represents the exact value of `t` (integers get scale 0), if any.
pub(crate) fn exact_decimal(t: &DataType) -> Option<(u8, i8)> {
    let p = match t {
        DataType::Null | DataType::Boolean => 1,
        DataType::Int8 | DataType::UInt8 => 3,
        DataType::Int16 | DataType::UInt16 => 5,
        DataType::Int32 | DataType::UInt32 => 10,
        DataType::Int64 => 19,
        DataType::UInt64 => 20,
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) | DataType::Decimal128(p, s) => {
            if *s < 0 {
                // Negative scales are normalised to scale 0 with the extra integer digits.
                let p = (*p as i16 - *s as i16).min(38) as u8;
                return Some((p, 0));
            }
            return Some((*p, *s));
        }
        _ => return None,
    };
    Some((p, 0))
}

/// Evaluates `f` on the arguments as arrays. When every argument is a scalar, `f` sees
/// one-row arrays and the result is returned as a scalar (no expansion to the batch size).
pub(crate) fn invoke_arrays(
    args: &ScalarFunctionArgs,
    f: impl FnOnce(&[ArrayRef]) -> Result<ArrayRef>,
) -> Result<ColumnarValue> {
    let all_scalar = args
        .args
        .iter()
        .all(|a| matches!(a, ColumnarValue::Scalar(_)));
    if all_scalar {
        let arrays = args
            .args
            .iter()
            .map(|a| a.to_array(1))
            .collect::<Result<Vec<_>>>()?;
        let out = f(&arrays)?;
        if out.len() != 1 {
            return exec_err!("internal: scalar evaluation produced {} rows", out.len());
        }
        return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
    }
    let arrays = ColumnarValue::values_to_arrays(&args.args)?;
    Ok(ColumnarValue::Array(f(&arrays)?))
}

/// MySQL string-to-number conversion: the longest numeric prefix after leading whitespace
/// (`'1.5abc'` is 1.5, `'abc'` is 0).
pub(crate) fn mysql_str_to_f64(s: &str) -> f64 {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    let start = i;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let digits_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut has_digits = i > digits_start;
    if i < b.len() && b[i] == b'.' {
        let frac_start = i + 1;
        let mut j = frac_start;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j > frac_start || has_digits {
            has_digits = true;
            i = j;
        }
    }
    if !has_digits {
        return 0.0;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        let exp_start = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j > exp_start {
            i = j;
        }
    }
    s[start..i].parse::<f64>().unwrap_or(0.0)
}

/// Converts a numeric or string array to DOUBLE with MySQL rules (strings via
/// [`mysql_str_to_f64`]).
pub(crate) fn to_f64_array(a: &ArrayRef) -> Result<Float64Array> {
    match a.data_type() {
        DataType::Float64 => Ok(a.as_primitive::<Float64Type>().clone()),
        DataType::Utf8 => Ok(a
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(mysql_str_to_f64))
            .collect()),
        DataType::LargeUtf8 => Ok(a
            .as_string::<i64>()
            .iter()
            .map(|v| v.map(mysql_str_to_f64))
            .collect()),
        DataType::Utf8View => Ok(a
            .as_string_view()
            .iter()
            .map(|v| v.map(mysql_str_to_f64))
            .collect()),
        _ => {
            let c = cast(a, &DataType::Float64)?;
            Ok(c.as_primitive::<Float64Type>().clone())
        }
    }
}

/// MySQL rendering of a DOUBLE: shortest round-trip digits, exponent notation for very
/// large or very small magnitudes (`1e20`, `1.5e-7`).
pub fn format_f64(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    let abs = v.abs();
    if abs != 0.0 && !(1e-5..1e15).contains(&abs) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]` for a microsecond timestamp (fraction only when non-zero).
pub(crate) fn format_datetime_micros(micros: i64) -> Option<String> {
    let dt = DateTime::from_timestamp_micros(micros)?.naive_utc();
    let frac = micros.rem_euclid(1_000_000);
    Some(if frac == 0 {
        dt.format("%Y-%m-%d %H:%M:%S").to_string()
    } else {
        format!("{}.{frac:06}", dt.format("%Y-%m-%d %H:%M:%S"))
    })
}

/// Converts any array to a `Utf8` array the way MySQL renders values as strings
/// (booleans as `1`/`0`, DATETIME as `YYYY-MM-DD HH:MM:SS`, doubles without `.0`).
pub(crate) fn to_utf8(a: &ArrayRef) -> Result<ArrayRef> {
    let out: ArrayRef = match a.data_type() {
        DataType::Utf8 => Arc::clone(a),
        DataType::Boolean => {
            let b = a.as_boolean();
            Arc::new(
                b.iter()
                    .map(|v| v.map(|x| if x { "1" } else { "0" }))
                    .collect::<StringArray>(),
            )
        }
        DataType::Float64 => Arc::new(
            a.as_primitive::<Float64Type>()
                .iter()
                .map(|v| v.map(format_f64))
                .collect::<StringArray>(),
        ),
        DataType::Float32 => Arc::new(
            a.as_primitive::<Float32Type>()
                .iter()
                .map(|v| v.map(|x| format_f64(f64::from(x))))
                .collect::<StringArray>(),
        ),
        DataType::Timestamp(unit, None) => {
            let micros: Vec<Option<i64>> = match unit {
                TimeUnit::Second => a
                    .as_primitive::<TimestampSecondType>()
                    .iter()
                    .map(|v| v.and_then(|x| x.checked_mul(1_000_000)))
                    .collect(),
                TimeUnit::Millisecond => a
                    .as_primitive::<TimestampMillisecondType>()
                    .iter()
                    .map(|v| v.and_then(|x| x.checked_mul(1_000)))
                    .collect(),
                TimeUnit::Microsecond => a
                    .as_primitive::<TimestampMicrosecondType>()
                    .iter()
                    .collect(),
                TimeUnit::Nanosecond => a
                    .as_primitive::<TimestampNanosecondType>()
                    .iter()
                    .map(|v| v.map(|x| x.div_euclid(1_000)))
                    .collect(),
            };
            let mut b = StringBuilder::with_capacity(micros.len(), micros.len() * 19);
            for m in micros {
                match m.and_then(format_datetime_micros) {
                    Some(s) => b.append_value(s),
                    None => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
        _ => cast(a, &DataType::Utf8)?,
    };
    Ok(out)
}

/// Type a string-consuming function coerces an argument to: every string type becomes
/// `Utf8`, anything else is kept and converted by [`to_utf8`] at execution time.
pub(crate) fn string_arg_type(t: &DataType) -> DataType {
    match t {
        DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => DataType::Utf8,
        DataType::Dictionary(_, v) => string_arg_type(v),
        other => other.clone(),
    }
}

/// `10^e` as i128, `None` when it overflows.
pub(crate) fn pow10_i128(e: u32) -> Option<i128> {
    10i128.checked_pow(e)
}

/// The largest absolute value + 1 of a DECIMAL(38, _) unscaled value.
pub(crate) const DECIMAL128_LIMIT: i128 = 100_000_000_000_000_000_000_000_000_000_000_000_000;

/// Reads argument `i` as a literal integer from `return_field_from_args` scalars.
pub(crate) fn scalar_i64(v: Option<&ScalarValue>) -> Option<i64> {
    match v? {
        ScalarValue::Int8(Some(x)) => Some(i64::from(*x)),
        ScalarValue::Int16(Some(x)) => Some(i64::from(*x)),
        ScalarValue::Int32(Some(x)) => Some(i64::from(*x)),
        ScalarValue::Int64(Some(x)) => Some(*x),
        ScalarValue::UInt8(Some(x)) => Some(i64::from(*x)),
        ScalarValue::UInt16(Some(x)) => Some(i64::from(*x)),
        ScalarValue::UInt32(Some(x)) => Some(i64::from(*x)),
        ScalarValue::UInt64(Some(x)) => i64::try_from(*x).ok(),
        _ => None,
    }
}

/// Reads a literal string argument.
pub(crate) fn scalar_str(v: Option<&ScalarValue>) -> Option<&str> {
    match v? {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Some(s.as_str()),
        _ => None,
    }
}

/// Row count to produce for a call: one row when every argument is a scalar (the result is
/// then returned as a scalar by [`finish`]).
pub(crate) fn output_rows(args: &ScalarFunctionArgs) -> (usize, bool) {
    let all_scalar = args
        .args
        .iter()
        .all(|a| matches!(a, ColumnarValue::Scalar(_)));
    if all_scalar {
        (1, true)
    } else {
        (args.number_rows, false)
    }
}

/// The data types of the evaluated arguments.
pub(crate) fn arg_types(args: &ScalarFunctionArgs) -> Vec<DataType> {
    args.args.iter().map(|a| a.data_type()).collect()
}

/// Wraps a computed array as the function result (a scalar when `scalar`).
pub(crate) fn finish(out: ArrayRef, scalar: bool) -> Result<ColumnarValue> {
    if scalar {
        Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
    } else {
        Ok(ColumnarValue::Array(out))
    }
}

/// A string argument, either constant or one value per row (converted with [`to_utf8`]).
pub(crate) enum StrCol {
    Scalar(Option<String>),
    Array(StringArray),
}

impl StrCol {
    pub(crate) fn new(v: &ColumnarValue) -> Result<Self> {
        Ok(match v {
            ColumnarValue::Scalar(s) => {
                let a = to_utf8(&s.to_array_of_size(1)?)?;
                let a = a.as_string::<i32>();
                StrCol::Scalar(a.is_valid(0).then(|| a.value(0).to_string()))
            }
            ColumnarValue::Array(a) => StrCol::Array(to_utf8(a)?.as_string::<i32>().clone()),
        })
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<&str> {
        match self {
            StrCol::Scalar(v) => v.as_deref(),
            StrCol::Array(a) => a.is_valid(i).then(|| a.value(i)),
        }
    }

    /// The constant value, if the argument is a scalar.
    pub(crate) fn as_scalar(&self) -> Option<Option<&str>> {
        match self {
            StrCol::Scalar(v) => Some(v.as_deref()),
            StrCol::Array(_) => None,
        }
    }
}

/// An integer argument (cast to BIGINT), constant or per row.
pub(crate) enum I64Col {
    Scalar(Option<i64>),
    Array(Int64Array),
}

impl I64Col {
    pub(crate) fn new(v: &ColumnarValue) -> Result<Self> {
        Ok(match v {
            ColumnarValue::Scalar(s) => {
                let a = cast(&s.to_array_of_size(1)?, &DataType::Int64)?;
                let a = a.as_primitive::<Int64Type>();
                I64Col::Scalar(a.is_valid(0).then(|| a.value(0)))
            }
            ColumnarValue::Array(a) => I64Col::Array(
                cast(a, &DataType::Int64)?
                    .as_primitive::<Int64Type>()
                    .clone(),
            ),
        })
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<i64> {
        match self {
            I64Col::Scalar(v) => *v,
            I64Col::Array(a) => a.is_valid(i).then(|| a.value(i)),
        }
    }
}

/// Type an integer argument is coerced to: BIGINT for numbers and strings.
pub(crate) fn int_arg_type(name: &str, t: &DataType) -> Result<DataType> {
    if t.is_numeric() || is_string(t) || matches!(t, DataType::Null | DataType::Boolean) {
        Ok(DataType::Int64)
    } else {
        plan_err!("{name}: expected an integer argument, got {t}")
    }
}

/// Checks the argument count of a user-defined signature.
pub(crate) fn check_args(name: &str, arg_types: &[DataType], min: usize, max: usize) -> Result<()> {
    if arg_types.len() < min || arg_types.len() > max {
        if min == max {
            return plan_err!("{name} expects {min} arguments, got {}", arg_types.len());
        }
        return plan_err!(
            "{name} expects {min} to {max} arguments, got {}",
            arg_types.len()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn str_to_f64_prefix() {
        assert_eq!(mysql_str_to_f64("1.5abc"), 1.5);
        assert_eq!(mysql_str_to_f64("  -2e2x"), -200.0);
        assert_eq!(mysql_str_to_f64("abc"), 0.0);
        assert_eq!(mysql_str_to_f64(".5"), 0.5);
        assert_eq!(mysql_str_to_f64("3."), 3.0);
        assert_eq!(mysql_str_to_f64("1e"), 1.0);
        assert_eq!(mysql_str_to_f64("-"), 0.0);
    }

    #[test]
    fn double_rendering() {
        assert_eq!(format_f64(2.5), "2.5");
        assert_eq!(format_f64(2.0), "2");
        assert_eq!(format_f64(1e20), "1e20");
        assert_eq!(format_f64(0.1 + 0.2), "0.30000000000000004");
    }
}
