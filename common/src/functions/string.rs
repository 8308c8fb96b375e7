//! MySQL string functions whose DataFusion counterpart is missing or differs: `concat`
//! (NULL if any argument is NULL), `length` (bytes), `substr`/`substring`/`mid`, `left`,
//! `right`, `locate`, `space`, `ascii` (first byte), `hex`, `unhex`, `trim`/`btrim`,
//! `ltrim`, `rtrim` (strip a whole substring repeatedly), `lpad`, `rpad`, `money_format`,
//! `format`, `conv`, plus `lcase`/`ucase` as aliases of DataFusion's `lower`/`upper`.
//! Entry point: [`udfs`]. Positions and lengths count characters, as in MySQL with utf8mb4;
//! non-string arguments are converted to strings the MySQL way (see `util::to_utf8`).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int32Array, Int64Array, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Float64Type, Int64Type, UInt64Type};
use datafusion::common::{plan_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::util::{
    aliases, arg_types, check_args, exact_decimal, finish, int_arg_type, is_float, is_string,
    output_rows, pow10_i128, string_arg_type, to_f64_array, udf, I64Col, StrCol,
};

/// Longest string a function may build (MySQL's default `max_allowed_packet`); longer
/// results are NULL.
pub const MAX_RESULT_BYTES: usize = 64 << 20;

/// The string UDFs.
pub fn udfs() -> Vec<ScalarUDF> {
    use Kind::*;
    let mut v: Vec<ScalarUDF> = [
        (Concat, "concat", &[][..]),
        (Length, "length", &[][..]),
        (Substr, "substr", &["substring", "mid"][..]),
        (Left, "left", &[][..]),
        (Right, "right", &[][..]),
        (Locate, "locate", &[][..]),
        (Space, "space", &[][..]),
        (Ascii, "ascii", &[][..]),
        (Hex, "hex", &[][..]),
        (Unhex, "unhex", &[][..]),
        (Trim, "trim", &["btrim"][..]),
        (LTrim, "ltrim", &[][..]),
        (RTrim, "rtrim", &[][..]),
        (LPad, "lpad", &[][..]),
        (RPad, "rpad", &[][..]),
        (MoneyFormat, "money_format", &[][..]),
        (Format, "format", &[][..]),
        (Conv, "conv", &[][..]),
    ]
    .into_iter()
    .map(|(kind, name, alias)| udf(StringFunc::new(kind, name, alias)))
    .collect();
    let lower = datafusion::functions::string::lower();
    let upper = datafusion::functions::string::upper();
    v.push(lower.as_ref().clone().with_aliases(["lcase"]));
    v.push(upper.as_ref().clone().with_aliases(["ucase"]));
    v
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Concat,
    Length,
    Substr,
    Left,
    Right,
    Locate,
    Space,
    Ascii,
    Hex,
    Unhex,
    Trim,
    LTrim,
    RTrim,
    LPad,
    RPad,
    MoneyFormat,
    Format,
    Conv,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct StringFunc {
    kind: Kind,
    name: String,
    aliases: Vec<String>,
    signature: Signature,
}

impl StringFunc {
    fn new(kind: Kind, name: &str, alias: &[&str]) -> Self {
        Self {
            kind,
            name: name.to_string(),
            aliases: aliases(alias),
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// Numeric argument of `money_format` / `format`: exact values as DECIMAL, the rest DOUBLE.
fn number_arg_type(name: &str, t: &DataType) -> Result<DataType> {
    if let Some((p, s)) = exact_decimal(t) {
        return Ok(DataType::Decimal128(p, s));
    }
    if is_float(t) || matches!(t, DataType::Decimal256(_, _)) {
        return Ok(DataType::Float64);
    }
    if is_string(t) {
        return Ok(DataType::Utf8);
    }
    plan_err!("{name}: expected a number, got {t}")
}

impl ScalarUDFImpl for StringFunc {
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
        let s = string_arg_type;
        let i = |x: &DataType| int_arg_type(name, x);
        Ok(match self.kind {
            Kind::Concat => {
                check_args(name, t, 1, usize::MAX)?;
                t.iter().map(s).collect()
            }
            Kind::Length | Kind::Ascii | Kind::Unhex => {
                check_args(name, t, 1, 1)?;
                vec![s(&t[0])]
            }
            Kind::Substr => {
                check_args(name, t, 2, 3)?;
                let mut v = vec![s(&t[0])];
                for x in &t[1..] {
                    v.push(i(x)?);
                }
                v
            }
            Kind::Left | Kind::Right => {
                check_args(name, t, 2, 2)?;
                vec![s(&t[0]), i(&t[1])?]
            }
            Kind::Locate => {
                check_args(name, t, 2, 3)?;
                let mut v = vec![s(&t[0]), s(&t[1])];
                if let Some(x) = t.get(2) {
                    v.push(i(x)?);
                }
                v
            }
            Kind::Space => {
                check_args(name, t, 1, 1)?;
                vec![i(&t[0])?]
            }
            Kind::Hex => {
                check_args(name, t, 1, 1)?;
                let x = &t[0];
                vec![match x {
                    DataType::UInt64 => DataType::UInt64,
                    _ if x.is_integer() || *x == DataType::Boolean => DataType::Int64,
                    _ if is_float(x) || x.is_decimal() => DataType::Float64,
                    DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
                        DataType::Binary
                    }
                    _ => s(x),
                }]
            }
            Kind::Trim | Kind::LTrim | Kind::RTrim => {
                check_args(name, t, 1, 2)?;
                t.iter().map(s).collect()
            }
            Kind::LPad | Kind::RPad => {
                check_args(name, t, 2, 3)?;
                let mut v = vec![s(&t[0]), i(&t[1])?];
                if let Some(x) = t.get(2) {
                    v.push(s(x));
                }
                v
            }
            Kind::MoneyFormat => {
                check_args(name, t, 1, 1)?;
                vec![number_arg_type(name, &t[0])?]
            }
            Kind::Format => {
                check_args(name, t, 2, 3)?;
                let mut v = vec![number_arg_type(name, &t[0])?, i(&t[1])?];
                if let Some(x) = t.get(2) {
                    v.push(s(x));
                }
                v
            }
            Kind::Conv => {
                check_args(name, t, 3, 3)?;
                vec![s(&t[0]), i(&t[1])?, i(&t[2])?]
            }
        })
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            Kind::Length | Kind::Locate => DataType::Int64,
            Kind::Ascii => DataType::Int32,
            _ => DataType::Utf8,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // Arity/type guard: a decoded plan with unexpected arguments errors instead of panicking.
        self.coerce_types(&arg_types(&args))?;
        let (n, scalar) = output_rows(&args);
        let a = &args.args;
        let out: ArrayRef = match self.kind {
            Kind::Concat => concat(a, n)?,
            Kind::Length => {
                let s = StrCol::new(&a[0])?;
                Arc::new(
                    (0..n)
                        .map(|i| s.get(i).map(|v| v.len() as i64))
                        .collect::<Int64Array>(),
                )
            }
            Kind::Ascii => {
                let s = StrCol::new(&a[0])?;
                Arc::new(
                    (0..n)
                        .map(|i| {
                            s.get(i)
                                .map(|v| v.as_bytes().first().map_or(0, |b| i32::from(*b)))
                        })
                        .collect::<Int32Array>(),
                )
            }
            Kind::Substr => {
                let s = StrCol::new(&a[0])?;
                let pos = I64Col::new(&a[1])?;
                let len = a.get(2).map(I64Col::new).transpose()?;
                build_str(n, |i| {
                    let l = match &len {
                        Some(l) => Some(l.get(i)?),
                        None => None,
                    };
                    Some(Cow::Borrowed(mysql_substr(s.get(i)?, pos.get(i)?, l)))
                })
            }
            Kind::Left | Kind::Right => {
                let s = StrCol::new(&a[0])?;
                let len = I64Col::new(&a[1])?;
                let left = self.kind == Kind::Left;
                build_str(n, |i| {
                    let v = s.get(i)?;
                    let l = len.get(i)?;
                    Some(Cow::Borrowed(if left {
                        mysql_left(v, l)
                    } else {
                        mysql_right(v, l)
                    }))
                })
            }
            Kind::Locate => {
                let sub = StrCol::new(&a[0])?;
                let s = StrCol::new(&a[1])?;
                let pos = a.get(2).map(I64Col::new).transpose()?;
                Arc::new(
                    (0..n)
                        .map(|i| {
                            let p = match &pos {
                                Some(p) => p.get(i)?,
                                None => 1,
                            };
                            Some(mysql_locate(sub.get(i)?, s.get(i)?, p))
                        })
                        .collect::<Int64Array>(),
                )
            }
            Kind::Space => {
                let len = I64Col::new(&a[0])?;
                build_str(n, |i| {
                    let l = usize::try_from(len.get(i)?.max(0)).ok()?;
                    (l <= MAX_RESULT_BYTES).then(|| Cow::Owned(" ".repeat(l)))
                })
            }
            Kind::Hex => hex(&a[0], n)?,
            Kind::Unhex => {
                let s = StrCol::new(&a[0])?;
                build_str(n, |i| unhex(s.get(i)?).map(Cow::Owned))
            }
            Kind::Trim | Kind::LTrim | Kind::RTrim => {
                let s = StrCol::new(&a[0])?;
                let pat = a.get(1).map(StrCol::new).transpose()?;
                let (l, r) = match self.kind {
                    Kind::LTrim => (true, false),
                    Kind::RTrim => (false, true),
                    _ => (true, true),
                };
                build_str(n, |i| {
                    let p = match &pat {
                        Some(p) => p.get(i)?,
                        None => " ",
                    };
                    let mut v = s.get(i)?;
                    if l {
                        v = trim_start_str(v, p);
                    }
                    if r {
                        v = trim_end_str(v, p);
                    }
                    Some(Cow::Borrowed(v))
                })
            }
            Kind::LPad | Kind::RPad => {
                let s = StrCol::new(&a[0])?;
                let len = I64Col::new(&a[1])?;
                let pad = a.get(2).map(StrCol::new).transpose()?;
                let left = self.kind == Kind::LPad;
                build_str(n, |i| {
                    let p = match &pad {
                        Some(p) => p.get(i)?,
                        None => " ",
                    };
                    mysql_pad(s.get(i)?, len.get(i)?, p, left)
                })
            }
            Kind::MoneyFormat => format_numbers(&a[0], None, n)?,
            Kind::Format => format_numbers(&a[0], Some(I64Col::new(&a[1])?), n)?,
            Kind::Conv => {
                let s = StrCol::new(&a[0])?;
                let from = I64Col::new(&a[1])?;
                let to = I64Col::new(&a[2])?;
                build_str(n, |i| {
                    conv(s.get(i)?, from.get(i)?, to.get(i)?).map(Cow::Owned)
                })
            }
        };
        finish(out, scalar)
    }
}

fn build_str<'a>(n: usize, f: impl Fn(usize) -> Option<Cow<'a, str>>) -> ArrayRef {
    let mut b = StringBuilder::with_capacity(n, n * 8);
    for i in 0..n {
        match f(i) {
            Some(v) => b.append_value(v),
            None => b.append_null(),
        }
    }
    Arc::new(b.finish())
}

fn concat(args: &[ColumnarValue], n: usize) -> Result<ArrayRef> {
    let cols = args.iter().map(StrCol::new).collect::<Result<Vec<_>>>()?;
    let mut b = StringBuilder::with_capacity(n, n * 8 * cols.len());
    let mut buf = String::new();
    'rows: for i in 0..n {
        buf.clear();
        for c in &cols {
            match c.get(i) {
                Some(v) => buf.push_str(v),
                None => {
                    b.append_null();
                    continue 'rows;
                }
            }
        }
        if buf.len() > MAX_RESULT_BYTES {
            b.append_null();
        } else {
            b.append_value(&buf);
        }
    }
    Ok(Arc::new(b.finish()))
}

/// Byte offset of the `n`-th character (0-based), or `None` when `s` is shorter.
fn char_offset(s: &str, n: usize) -> Option<usize> {
    if s.is_ascii() {
        return (n <= s.len()).then_some(n);
    }
    if n == 0 {
        return Some(0);
    }
    match s.char_indices().nth(n) {
        Some((o, _)) => Some(o),
        None => (s.chars().count() == n).then_some(s.len()),
    }
}

fn char_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    }
}

/// MySQL `SUBSTR(s, pos[, len])`: 1-based `pos`, negative `pos` counts from the end, `pos`
/// 0 or a non-positive `len` give ''.
pub(crate) fn mysql_substr(s: &str, pos: i64, len: Option<i64>) -> &str {
    let len = len.unwrap_or(i64::MAX);
    if pos == 0 || len <= 0 {
        return "";
    }
    let n = char_len(s) as i64;
    let start = if pos > 0 { pos - 1 } else { n + pos };
    if start < 0 || start >= n {
        return "";
    }
    let end = start.saturating_add(len).min(n);
    let (Some(b), Some(e)) = (char_offset(s, start as usize), char_offset(s, end as usize)) else {
        return "";
    };
    &s[b..e]
}

fn mysql_left(s: &str, n: i64) -> &str {
    if n <= 0 {
        return "";
    }
    match usize::try_from(n).ok().and_then(|n| char_offset(s, n)) {
        Some(e) => &s[..e],
        None => s,
    }
}

fn mysql_right(s: &str, n: i64) -> &str {
    if n <= 0 {
        return "";
    }
    let len = char_len(s) as i64;
    if n >= len {
        return s;
    }
    match char_offset(s, (len - n) as usize) {
        Some(b) => &s[b..],
        None => s,
    }
}

/// MySQL `LOCATE(sub, s, pos)`: 1-based character position of `sub` at or after `pos`, 0
/// when absent.
fn mysql_locate(sub: &str, s: &str, pos: i64) -> i64 {
    if pos < 1 {
        return 0;
    }
    let Some(start) = usize::try_from(pos - 1)
        .ok()
        .and_then(|p| char_offset(s, p))
    else {
        return 0;
    };
    if sub.is_empty() {
        return pos;
    }
    match s[start..].find(sub) {
        Some(b) => pos + char_len(&s[start..start + b]) as i64,
        None => 0,
    }
}

fn trim_start_str<'a>(mut s: &'a str, pat: &str) -> &'a str {
    if pat.is_empty() {
        return s;
    }
    while let Some(r) = s.strip_prefix(pat) {
        s = r;
    }
    s
}

fn trim_end_str<'a>(mut s: &'a str, pat: &str) -> &'a str {
    if pat.is_empty() {
        return s;
    }
    while let Some(r) = s.strip_suffix(pat) {
        s = r;
    }
    s
}

/// MySQL `LPAD`/`RPAD`: truncates to `len` characters when longer, NULL for a negative
/// `len` or an empty pad that would be needed.
fn mysql_pad<'a>(s: &'a str, len: i64, pad: &str, left: bool) -> Option<Cow<'a, str>> {
    let len = usize::try_from(len).ok()?;
    let n = char_len(s);
    if len <= n {
        return Some(Cow::Borrowed(mysql_left(s, len as i64)));
    }
    if pad.is_empty() || len.saturating_mul(4) > MAX_RESULT_BYTES {
        return None;
    }
    let fill: String = pad.chars().cycle().take(len - n).collect();
    Some(Cow::Owned(if left {
        fill + s
    } else {
        let mut out = s.to_string();
        out.push_str(&fill);
        out
    }))
}

fn hex_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02X}");
    }
    out
}

fn hex(arg: &ColumnarValue, n: usize) -> Result<ArrayRef> {
    let a = arg.to_array(n)?;
    Ok(match a.data_type() {
        DataType::Int64 => {
            let a = a.as_primitive::<Int64Type>();
            build_str(n, |i| {
                a.is_valid(i)
                    .then(|| Cow::Owned(format!("{:X}", a.value(i) as u64)))
            })
        }
        DataType::UInt64 => {
            let a = a.as_primitive::<UInt64Type>();
            build_str(n, |i| {
                a.is_valid(i)
                    .then(|| Cow::Owned(format!("{:X}", a.value(i))))
            })
        }
        DataType::Float64 => {
            let a = a.as_primitive::<Float64Type>();
            build_str(n, |i| {
                a.is_valid(i)
                    .then(|| Cow::Owned(format!("{:X}", a.value(i).round() as i64 as u64)))
            })
        }
        DataType::Binary => {
            let a = a.as_binary::<i32>();
            build_str(n, |i| {
                a.is_valid(i).then(|| Cow::Owned(hex_bytes(a.value(i))))
            })
        }
        _ => {
            let s = StrCol::new(&ColumnarValue::Array(a))?;
            build_str(n, |i| Some(Cow::Owned(hex_bytes(s.get(i)?.as_bytes()))))
        }
    })
}

/// MySQL `UNHEX`: NULL for non-hex input; odd lengths get a leading zero nibble. The bytes
/// must form UTF-8 text (the result is a string), otherwise NULL.
fn unhex(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len().div_ceil(2));
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut i = 0;
    if b.len() % 2 == 1 {
        out.push(nibble(b[0])?);
        i = 1;
    }
    while i + 1 < b.len() {
        out.push(nibble(b[i])? << 4 | nibble(b[i + 1])?);
        i += 2;
    }
    String::from_utf8(out).ok()
}

/// Inserts thousands separators into the integer part of a plain decimal number string.
fn group_thousands(num: &str) -> String {
    let (sign, rest) = match num.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", num),
    };
    let (int, frac) = match rest.find('.') {
        Some(p) => (&rest[..p], &rest[p..]),
        None => (rest, ""),
    };
    let mut out = String::with_capacity(num.len() + int.len() / 3 + 1);
    out.push_str(sign);
    for (k, c) in int.chars().enumerate() {
        if k > 0 && (int.len() - k) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out.push_str(frac);
    out
}

/// Unscaled decimal `v` with `scale` rendered with exactly `d` fractional digits, rounding
/// half away from zero.
fn decimal_fixed(v: i128, scale: i8, d: usize) -> String {
    let scale = scale.max(0) as usize;
    let (mut v, mut scale) = (v, scale);
    if d < scale {
        let f = pow10_i128((scale - d) as u32).unwrap_or(i128::MAX);
        let q = v / f;
        let r = v % f;
        v = if r.unsigned_abs() >= f.unsigned_abs() - r.unsigned_abs() {
            if v < 0 {
                q - 1
            } else {
                q + 1
            }
        } else {
            q
        };
        scale = d;
    }
    let digits = v.unsigned_abs().to_string();
    let digits = if digits.len() <= scale {
        format!("{}{digits}", "0".repeat(scale + 1 - digits.len()))
    } else {
        digits
    };
    let (int, frac) = digits.split_at(digits.len() - scale);
    let mut out = String::new();
    if v < 0 {
        out.push('-');
    }
    out.push_str(int);
    if d > 0 {
        out.push('.');
        out.push_str(frac);
        for _ in scale..d {
            out.push('0');
        }
    }
    out
}

/// `money_format(x)` (2 decimals) and `format(x, d)`: fixed decimals with thousands
/// separators.
fn format_numbers(arg: &ColumnarValue, decimals: Option<I64Col>, n: usize) -> Result<ArrayRef> {
    let a = arg.to_array(n)?;
    let digits = |i: usize| -> Option<usize> {
        match &decimals {
            Some(d) => Some(d.get(i)?.clamp(0, 30) as usize),
            None => Some(2),
        }
    };
    Ok(match a.data_type() {
        DataType::Decimal128(_, s) => {
            let s = *s;
            let a = a.as_primitive::<Decimal128Type>();
            build_str(n, |i| {
                let d = digits(i)?;
                a.is_valid(i)
                    .then(|| Cow::Owned(group_thousands(&decimal_fixed(a.value(i), s, d))))
            })
        }
        _ => {
            let f = to_f64_array(&a)?;
            build_str(n, |i| {
                let d = digits(i)?;
                if !f.is_valid(i) {
                    return None;
                }
                let v = f.value(i);
                if !v.is_finite() {
                    return None;
                }
                Some(Cow::Owned(group_thousands(&format!("{v:.d$}"))))
            })
        }
    })
}

/// MySQL `CONV(n, from_base, to_base)`; a negative base means signed. NULL for bases outside
/// 2..=36.
fn conv(s: &str, from: i64, to: i64) -> Option<String> {
    let (fb, tb) = (from.unsigned_abs(), to.unsigned_abs());
    if !(2..=36).contains(&fb) || !(2..=36).contains(&tb) {
        return None;
    }
    let t = s.trim_start();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let mut acc: u64 = 0;
    let mut overflow = false;
    for c in digits.chars() {
        let Some(d) = c.to_digit(fb as u32) else {
            break;
        };
        match acc
            .checked_mul(fb)
            .and_then(|x| x.checked_add(u64::from(d)))
        {
            Some(x) => acc = x,
            None => {
                overflow = true;
                break;
            }
        }
    }
    let value: u64 = if from < 0 {
        // Signed parse, clamped to the BIGINT range.
        let limit = if neg { 1u64 << 63 } else { i64::MAX as u64 };
        let m = if overflow { limit } else { acc.min(limit) };
        if neg {
            (m as i64).wrapping_neg() as u64
        } else {
            m
        }
    } else if overflow {
        u64::MAX
    } else if neg {
        acc.wrapping_neg()
    } else {
        acc
    };
    let (neg_out, mut mag) = if to < 0 && (value as i64) < 0 {
        (true, (value as i64).unsigned_abs())
    } else {
        (false, value)
    };
    if mag == 0 {
        return Some("0".to_string());
    }
    let mut buf = Vec::new();
    while mag > 0 {
        let d = (mag % tb) as u32;
        buf.push(std::char::from_digit(d, tb as u32)?.to_ascii_uppercase());
        mag /= tb;
    }
    if neg_out {
        buf.push('-');
    }
    Some(buf.iter().rev().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::test_util::{q, q_all, q_type};

    #[test]
    fn concat_is_null_if_any_null() {
        assert_eq!(q("SELECT concat('a', NULL) IS NULL"), "true");
        assert_eq!(q("SELECT concat('a', 'b', 'c')"), "abc");
        assert_eq!(q("SELECT concat('x', 1, 2.50, true)"), "x12.501");
        assert_eq!(q("SELECT concat_ws('-', 'a', NULL, 'b')"), "a-b");
        assert_eq!(
            q_all("SELECT concat(a, '-', b) FROM (VALUES ('x', 'y'), ('z', NULL)) t(a, b)"),
            vec!["x-y", "NULL"]
        );
    }

    #[test]
    fn concat_of_datetime_uses_mysql_format() {
        assert_eq!(
            q("SELECT concat(CAST('2023-01-05 13:04:09' AS TIMESTAMP), '')"),
            "2023-01-05 13:04:09"
        );
        assert_eq!(q("SELECT concat(CAST('2023-01-05' AS DATE))"), "2023-01-05");
        assert_eq!(q("SELECT concat(2.5e0)"), "2.5");
    }

    #[test]
    fn length_bytes_vs_chars() {
        assert_eq!(q("SELECT length('中')"), "3");
        assert_eq!(q("SELECT char_length('中')"), "1");
        assert_eq!(q("SELECT character_length('中文')"), "2");
        assert_eq!(q("SELECT length('')"), "0");
        assert_eq!(q("SELECT length(12345)"), "5");
        assert_eq!(q("SELECT length(NULL)"), "NULL");
    }

    #[test]
    fn substr_semantics() {
        assert_eq!(q("SELECT substr('hello', -3, 2)"), "ll");
        assert_eq!(q("SELECT substr('hello', 2)"), "ello");
        assert_eq!(q("SELECT substr('hello', 0)"), "");
        assert_eq!(q("SELECT substr('hello', 0, 2)"), "");
        assert_eq!(q("SELECT substr('hello', 2, 100)"), "ello");
        assert_eq!(q("SELECT substr('hello', 10)"), "");
        assert_eq!(q("SELECT substr('hello', -10)"), "");
        assert_eq!(q("SELECT substr('hello', 2, -1)"), "");
        assert_eq!(q("SELECT substring('中文字符', 2, 2)"), "文字");
        assert_eq!(q("SELECT substr('中文字符', -1)"), "符");
        assert_eq!(q("SELECT substr(NULL, 1)"), "NULL");
    }

    #[test]
    fn left_right() {
        assert_eq!(q("SELECT left('hello', 2)"), "he");
        assert_eq!(q("SELECT left('hello', -2)"), "");
        assert_eq!(q("SELECT left('hello', 10)"), "hello");
        assert_eq!(q("SELECT right('hello', 3)"), "llo");
        assert_eq!(q("SELECT right('hello', 0)"), "");
        assert_eq!(q("SELECT right('中文字', 2)"), "文字");
    }

    #[test]
    fn case_aliases() {
        assert_eq!(q("SELECT lcase('AbC')"), "abc");
        assert_eq!(q("SELECT ucase('AbC')"), "ABC");
        assert_eq!(q("SELECT lower('AbC')"), "abc");
    }

    #[test]
    fn locate_and_instr() {
        assert_eq!(q("SELECT locate('bar', 'foobarbar')"), "4");
        assert_eq!(q("SELECT locate('xbar', 'foobar')"), "0");
        assert_eq!(q("SELECT locate('bar', 'foobarbar', 5)"), "7");
        assert_eq!(q("SELECT locate('', 'abc', 2)"), "2");
        assert_eq!(q("SELECT locate('', 'abc', 5)"), "0");
        assert_eq!(q("SELECT locate('a', 'abc', 0)"), "0");
        assert_eq!(q("SELECT locate('字', '中文字')"), "3");
        assert_eq!(q("SELECT instr('foobarbar', 'bar')"), "4");
        assert_eq!(q("SELECT instr('foobar', 'x')"), "0");
    }

    #[test]
    fn space_repeat_pad() {
        assert_eq!(q("SELECT concat('[', space(3), ']')"), "[   ]");
        assert_eq!(q("SELECT space(-1)"), "");
        assert_eq!(q("SELECT repeat('ab', 3)"), "ababab");
        assert_eq!(q("SELECT repeat('ab', -1)"), "");
        assert_eq!(q("SELECT lpad('hi', 5, 'xy')"), "xyxhi");
        assert_eq!(q("SELECT rpad('hi', 5, 'xy')"), "hixyx");
        assert_eq!(q("SELECT lpad('hello', 2, 'x')"), "he");
        assert_eq!(q("SELECT rpad('hello', 2, 'x')"), "he");
        assert_eq!(q("SELECT lpad('hi', -1, 'x')"), "NULL");
        assert_eq!(q("SELECT lpad('hi', 5, '')"), "NULL");
        assert_eq!(q("SELECT lpad('中', 3, '文')"), "文文中");
    }

    #[test]
    fn replace_reverse_trim() {
        assert_eq!(q("SELECT replace('aXbXc', 'X', '-')"), "a-b-c");
        assert_eq!(q("SELECT replace('abc', '', '-')"), "abc");
        assert_eq!(q("SELECT reverse('abc中')"), "中cba");
        assert_eq!(q("SELECT concat('[', trim('  a b  '), ']')"), "[a b]");
        assert_eq!(q("SELECT concat('[', ltrim('  a  '), ']')"), "[a  ]");
        assert_eq!(q("SELECT concat('[', rtrim('  a  '), ']')"), "[  a]");
        assert_eq!(q("SELECT trim(BOTH 'xy' FROM 'xyxyaxyx')"), "axyx");
        assert_eq!(q("SELECT trim(LEADING 'x' FROM 'xxaxx')"), "axx");
        assert_eq!(q("SELECT trim(TRAILING 'x' FROM 'xxaxx')"), "xxa");
        assert_eq!(q("SELECT concat('[', trim('\ta '), ']')"), "[\ta]");
    }

    #[test]
    fn split_part_ascii_md5() {
        assert_eq!(q("SELECT split_part('a,b,c', ',', 2)"), "b");
        assert_eq!(q("SELECT split_part('a,b,c', ',', -1)"), "c");
        assert_eq!(q("SELECT ascii('A')"), "65");
        assert_eq!(q("SELECT ascii('')"), "0");
        assert_eq!(q("SELECT ascii('中')"), "228");
        assert_eq!(q("SELECT md5('abc')"), "900150983cd24fb0d6963f7d28e17f72");
    }

    #[test]
    fn hex_unhex() {
        assert_eq!(q("SELECT hex(255)"), "FF");
        assert_eq!(q("SELECT hex(-1)"), "FFFFFFFFFFFFFFFF");
        assert_eq!(q("SELECT hex('abc')"), "616263");
        assert_eq!(q("SELECT hex(2.5)"), "3");
        assert_eq!(q("SELECT unhex('616263')"), "abc");
        assert_eq!(q("SELECT unhex('GG')"), "NULL");
        assert_eq!(q("SELECT unhex('E4B8AD')"), "中");
        assert_eq!(q("SELECT unhex('FF')"), "NULL");
        assert_eq!(q("SELECT unhex('4')"), "\u{4}");
        assert_eq!(q("SELECT unhex('')"), "");
    }

    #[test]
    fn money_and_format() {
        assert_eq!(q("SELECT money_format(17014116)"), "17,014,116.00");
        assert_eq!(q("SELECT money_format(1123.456)"), "1,123.46");
        assert_eq!(q("SELECT money_format(-1123.455)"), "-1,123.46");
        assert_eq!(q("SELECT money_format(1123.4e0)"), "1,123.40");
        assert_eq!(q("SELECT format(12332.123456, 4)"), "12,332.1235");
        assert_eq!(q("SELECT format(12332.2, 0)"), "12,332");
        assert_eq!(q("SELECT format(0.5, 0)"), "1");
        assert_eq!(q("SELECT format(123, 2)"), "123.00");
    }

    #[test]
    fn conv_bases() {
        assert_eq!(q("SELECT conv('a', 16, 2)"), "1010");
        assert_eq!(q("SELECT conv('6E', 18, 8)"), "172");
        assert_eq!(q("SELECT conv(-17, 10, -18)"), "-H");
        assert_eq!(q("SELECT conv(10, 10, 1)"), "NULL");
        assert_eq!(q("SELECT conv('zz', 10, 2)"), "0");
        assert_eq!(q("SELECT conv(-1, 10, 16)"), "FFFFFFFFFFFFFFFF");
    }

    #[test]
    fn types() {
        assert_eq!(q_type("SELECT concat('a', 1)"), DataType::Utf8);
        assert_eq!(q_type("SELECT length('a')"), DataType::Int64);
    }

    #[test]
    fn helpers() {
        assert_eq!(mysql_substr("hello", -3, Some(2)), "ll");
        assert_eq!(mysql_substr("", 1, None), "");
        assert_eq!(group_thousands("-1234567.5"), "-1,234,567.5");
        assert_eq!(group_thousands("123"), "123");
        assert_eq!(decimal_fixed(5, 1, 0), "1");
        assert_eq!(decimal_fixed(-5, 3, 2), "-0.01");
        assert_eq!(decimal_fixed(12, 0, 2), "12.00");
    }
}
