//! MySQL arithmetic operators as UDFs: `/` ([`MysqlDivide`], `__mysql_divide`), `DIV`
//! ([`MysqlIntDiv`], `__mysql_intdiv`) and `%` / `MOD()` ([`MysqlMod`], `__mysql_mod`).
//! [`rewrite_mysql_semantics`](super::rewrite_mysql_semantics) turns the operators into calls
//! of these functions; [`udfs`] lists them.
//!
//! Typing follows MySQL: exact operands (integers, DECIMAL) give an exact result, a
//! FLOAT/DOUBLE or string operand makes the result DOUBLE (strings are converted with
//! MySQL's numeric-prefix rule). Division or modulo by zero yields NULL instead of an error.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Decimal128Array, Float64Array, Int64Array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{i256, DataType, Decimal128Type, Int64Type};
use datafusion::common::{plan_err, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::util::{
    arg_types, exact_decimal, invoke_arrays, is_float, is_integer_like, is_string, pow10_i128,
    to_f64_array, udf, DECIMAL128_LIMIT,
};

/// Extra fractional digits of `/` on exact operands (MySQL `div_precision_increment`).
pub const DIV_PRECISION_INCREMENT: i8 = 4;

/// The arithmetic UDFs.
pub fn udfs() -> Vec<ScalarUDF> {
    vec![
        udf(MysqlDivide::new()),
        udf(MysqlIntDiv::new()),
        udf(MysqlMod::new()),
    ]
}

/// How an operand takes part in arithmetic.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Num {
    /// Fits in BIGINT.
    Int,
    /// Exact DECIMAL(p, s) (also BIGINT UNSIGNED as DECIMAL(20, 0)).
    Decimal(u8, i8),
    /// DOUBLE (floats, strings, DECIMAL256).
    Float,
}

fn classify(name: &str, t: &DataType) -> Result<Num> {
    if let DataType::Dictionary(_, v) = t {
        return classify(name, v);
    }
    if is_integer_like(t) && *t != DataType::UInt64 {
        return Ok(Num::Int);
    }
    if let Some((p, s)) = exact_decimal(t) {
        return Ok(Num::Decimal(p, s));
    }
    if is_float(t) || is_string(t) || matches!(t, DataType::Decimal256(_, _)) {
        return Ok(Num::Float);
    }
    plan_err!("{name}: unsupported operand type {t}")
}

/// Argument type for the DOUBLE path: strings stay strings (converted with MySQL rules at
/// execution), everything else becomes Float64.
fn float_arg(t: &DataType) -> DataType {
    if is_string(t) {
        DataType::Utf8
    } else {
        DataType::Float64
    }
}

fn decimal_arg(t: &DataType) -> DataType {
    let (p, s) = exact_decimal(t).unwrap_or((38, 0));
    DataType::Decimal128(p, s)
}

fn check_arity(name: &str, arg_types: &[DataType]) -> Result<()> {
    if arg_types.len() != 2 {
        return plan_err!("{name} expects 2 arguments, got {}", arg_types.len());
    }
    Ok(())
}

/// Both operands as Decimal128 arrays with their scales.
fn decimal_operands(arrays: &[ArrayRef]) -> Result<Vec<(Decimal128Array, i8)>> {
    arrays
        .iter()
        .map(|a| {
            let t = decimal_arg(a.data_type());
            let c = if a.data_type() == &t {
                Arc::clone(a)
            } else {
                cast(a, &t)?
            };
            let scale = match t {
                DataType::Decimal128(_, s) => s,
                _ => 0,
            };
            Ok((c.as_primitive::<Decimal128Type>().clone(), scale))
        })
        .collect()
}

fn int_operands(arrays: &[ArrayRef]) -> Result<Vec<Int64Array>> {
    arrays
        .iter()
        .map(|a| {
            Ok(cast(a, &DataType::Int64)?
                .as_primitive::<Int64Type>()
                .clone())
        })
        .collect()
}

fn float_operands(arrays: &[ArrayRef]) -> Result<Vec<Float64Array>> {
    arrays.iter().map(to_f64_array).collect()
}

/// Which evaluation path the (coerced) argument arrays need.
fn runtime_class(arrays: &[ArrayRef]) -> Num {
    let mut class = Num::Int;
    for a in arrays {
        let t = a.data_type();
        if is_float(t) || is_string(t) || matches!(t, DataType::Decimal256(_, _)) {
            return Num::Float;
        }
        if !is_integer_like(t) || *t == DataType::UInt64 {
            class = Num::Decimal(38, 0);
        }
    }
    class
}

fn binary<A: Copy, B: Copy, O>(
    a: impl Iterator<Item = Option<A>>,
    b: impl Iterator<Item = Option<B>>,
    f: impl Fn(A, B) -> Option<O>,
) -> impl Iterator<Item = Option<O>> {
    a.zip(b).map(move |(x, y)| match (x, y) {
        (Some(x), Some(y)) => f(x, y),
        _ => None,
    })
}

/// `n / d` rounded half away from zero.
fn div_round_i128(n: i128, d: i128) -> Option<i128> {
    let q = n.checked_div(d)?;
    let r = n.checked_rem(d)?;
    let (ra, da) = (r.unsigned_abs(), d.unsigned_abs());
    if ra >= da - ra {
        if (n < 0) != (d < 0) {
            q.checked_sub(1)
        } else {
            q.checked_add(1)
        }
    } else {
        Some(q)
    }
}

fn div_round_i256(n: i256, d: i256) -> Option<i256> {
    let q = n.checked_div(d)?;
    let r = n.checked_rem(d)?;
    let (ra, da) = (r.checked_abs()?, d.checked_abs()?);
    if ra >= da.checked_sub(ra)? {
        if n.is_negative() != d.is_negative() {
            q.checked_sub(i256::ONE)
        } else {
            q.checked_add(i256::ONE)
        }
    } else {
        Some(q)
    }
}

fn i256_pow10(e: u32) -> Option<i256> {
    i256::from_i128(10).checked_pow(e)
}

/// Keeps a result only if it fits DECIMAL(38).
fn fit38(v: i128) -> Option<i128> {
    (v.unsigned_abs() < DECIMAL128_LIMIT.unsigned_abs()).then_some(v)
}

/// `round(a * 10^e / b)` for unscaled decimals, NULL on division by zero or overflow.
fn decimal_div_scaled(a: i128, b: i128, e: u32) -> Option<i128> {
    if b == 0 {
        return None;
    }
    if let Some(n) = pow10_i128(e).and_then(|p| a.checked_mul(p)) {
        return div_round_i128(n, b).and_then(fit38);
    }
    let n = i256::from_i128(a).checked_mul(i256_pow10(e)?)?;
    div_round_i256(n, i256::from_i128(b))?
        .to_i128()
        .and_then(fit38)
}

// ---------------------------------------------------------------------------------------
// `/`
// ---------------------------------------------------------------------------------------

/// MySQL `/`: DECIMAL with scale `dividend scale + 4` for exact operands, DOUBLE otherwise,
/// NULL on division by zero.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct MysqlDivide {
    signature: Signature,
}

impl Default for MysqlDivide {
    fn default() -> Self {
        Self::new()
    }
}

impl MysqlDivide {
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for MysqlDivide {
    fn name(&self) -> &str {
        "__mysql_divide"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        check_arity(self.name(), arg_types)?;
        let a = classify(self.name(), &arg_types[0])?;
        let b = classify(self.name(), &arg_types[1])?;
        if a == Num::Float || b == Num::Float {
            Ok(arg_types.iter().map(float_arg).collect())
        } else {
            Ok(arg_types.iter().map(decimal_arg).collect())
        }
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        check_arity(self.name(), arg_types)?;
        let a = classify(self.name(), &arg_types[0])?;
        let b = classify(self.name(), &arg_types[1])?;
        Ok(match (a, b) {
            (Num::Float, _) | (_, Num::Float) => DataType::Float64,
            (Num::Int, _) => DataType::Decimal128(38, DIV_PRECISION_INCREMENT),
            (Num::Decimal(_, s), _) => {
                DataType::Decimal128(38, (s.max(0) + DIV_PRECISION_INCREMENT).min(38))
            }
        })
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // Arity/type guard: a decoded plan with unexpected arguments errors instead of panicking.
        self.coerce_types(&arg_types(&args))?;
        let ret = args.return_type().clone();
        invoke_arrays(&args, |arrays| divide(arrays, &ret))
    }
}

fn divide(arrays: &[ArrayRef], ret: &DataType) -> Result<ArrayRef> {
    match ret {
        DataType::Decimal128(_, out_scale) => {
            let ops = decimal_operands(arrays)?;
            let ((a, s1), (b, s2)) = (&ops[0], &ops[1]);
            let e = (i32::from(*out_scale) - i32::from(*s1) + i32::from(*s2)).max(0) as u32;
            let out: Decimal128Array =
                binary(a.iter(), b.iter(), |x, y| decimal_div_scaled(x, y, e)).collect();
            Ok(Arc::new(out.with_precision_and_scale(38, *out_scale)?))
        }
        _ => {
            let ops = float_operands(arrays)?;
            let out: Float64Array = binary(ops[0].iter(), ops[1].iter(), |x: f64, y: f64| {
                (y != 0.0).then(|| x / y)
            })
            .collect();
            Ok(Arc::new(out))
        }
    }
}

// ---------------------------------------------------------------------------------------
// DIV
// ---------------------------------------------------------------------------------------

/// MySQL `DIV`: integer division truncating toward zero, BIGINT result, NULL on division by
/// zero or when the quotient does not fit BIGINT.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct MysqlIntDiv {
    signature: Signature,
}

impl Default for MysqlIntDiv {
    fn default() -> Self {
        Self::new()
    }
}

impl MysqlIntDiv {
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for MysqlIntDiv {
    fn name(&self) -> &str {
        "__mysql_intdiv"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_exact_or_float(self.name(), arg_types)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        check_arity(self.name(), arg_types)?;
        Ok(DataType::Int64)
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // Arity/type guard: a decoded plan with unexpected arguments errors instead of panicking.
        self.coerce_types(&arg_types(&args))?;
        invoke_arrays(&args, intdiv)
    }
}

/// Integer operands become BIGINT, decimals stay exact, anything inexact becomes DOUBLE.
fn coerce_exact_or_float(name: &str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
    check_arity(name, arg_types)?;
    let a = classify(name, &arg_types[0])?;
    let b = classify(name, &arg_types[1])?;
    Ok(match (a, b) {
        (Num::Float, _) | (_, Num::Float) => arg_types.iter().map(float_arg).collect(),
        (Num::Int, Num::Int) => vec![DataType::Int64, DataType::Int64],
        _ => arg_types.iter().map(decimal_arg).collect(),
    })
}

fn f64_to_i64(v: f64) -> Option<i64> {
    // [-2^63, 2^63): NaN and infinities fall outside.
    (-9.223_372_036_854_776e18..9.223_372_036_854_776e18)
        .contains(&v)
        .then_some(v as i64)
}

fn intdiv(arrays: &[ArrayRef]) -> Result<ArrayRef> {
    let out: Int64Array = match runtime_class(arrays) {
        Num::Int => {
            let ops = int_operands(arrays)?;
            binary(ops[0].iter(), ops[1].iter(), |x: i64, y: i64| {
                x.checked_div(y)
            })
            .collect()
        }
        Num::Decimal(..) => {
            let ops = decimal_operands(arrays)?;
            let ((a, s1), (b, s2)) = (&ops[0], &ops[1]);
            let (s1, s2) = (
                s1.max(&0).unsigned_abs() as u32,
                s2.max(&0).unsigned_abs() as u32,
            );
            binary(a.iter(), b.iter(), |x, y| {
                let n = i256::from_i128(x).checked_mul(i256_pow10(s2)?)?;
                let d = i256::from_i128(y).checked_mul(i256_pow10(s1)?)?;
                let q = n.checked_div(d)?;
                i64::try_from(q.to_i128()?).ok()
            })
            .collect()
        }
        Num::Float => {
            let ops = float_operands(arrays)?;
            binary(ops[0].iter(), ops[1].iter(), |x: f64, y: f64| {
                if y == 0.0 {
                    None
                } else {
                    f64_to_i64((x / y).trunc())
                }
            })
            .collect()
        }
    };
    Ok(Arc::new(out))
}

// ---------------------------------------------------------------------------------------
// % / MOD
// ---------------------------------------------------------------------------------------

/// MySQL `%` / `MOD(a, b)`: remainder with the sign of the dividend, NULL when `b` is 0.
/// BIGINT for integers, DECIMAL(38, max(s1, s2)) for decimals, DOUBLE otherwise.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct MysqlMod {
    signature: Signature,
    aliases: Vec<String>,
}

impl Default for MysqlMod {
    fn default() -> Self {
        Self::new()
    }
}

impl MysqlMod {
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
            aliases: vec!["mod".to_string()],
        }
    }
}

impl ScalarUDFImpl for MysqlMod {
    fn name(&self) -> &str {
        "__mysql_mod"
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_exact_or_float(self.name(), arg_types)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        check_arity(self.name(), arg_types)?;
        let a = classify(self.name(), &arg_types[0])?;
        let b = classify(self.name(), &arg_types[1])?;
        Ok(match (a, b) {
            (Num::Float, _) | (_, Num::Float) => DataType::Float64,
            (Num::Int, Num::Int) => DataType::Int64,
            _ => {
                let s1 = exact_decimal(&arg_types[0]).map_or(0, |d| d.1);
                let s2 = exact_decimal(&arg_types[1]).map_or(0, |d| d.1);
                DataType::Decimal128(38, s1.max(s2))
            }
        })
    }

    fn is_strict(&self) -> bool {
        true
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // Arity/type guard: a decoded plan with unexpected arguments errors instead of panicking.
        self.coerce_types(&arg_types(&args))?;
        invoke_arrays(&args, modulo)
    }
}

fn decimal_mod(a: i128, ea: u32, b: i128, eb: u32) -> Option<i128> {
    if b == 0 {
        return None;
    }
    let small = (|| {
        let x = a.checked_mul(pow10_i128(ea)?)?;
        let y = b.checked_mul(pow10_i128(eb)?)?;
        x.checked_rem(y)
    })();
    if let Some(r) = small {
        return fit38(r);
    }
    let x = i256::from_i128(a).checked_mul(i256_pow10(ea)?)?;
    let y = i256::from_i128(b).checked_mul(i256_pow10(eb)?)?;
    x.checked_rem(y)?.to_i128().and_then(fit38)
}

fn modulo(arrays: &[ArrayRef]) -> Result<ArrayRef> {
    Ok(match runtime_class(arrays) {
        Num::Int => {
            let ops = int_operands(arrays)?;
            let out: Int64Array = binary(ops[0].iter(), ops[1].iter(), |x: i64, y: i64| {
                (y != 0).then(|| x.wrapping_rem(y))
            })
            .collect();
            Arc::new(out)
        }
        Num::Decimal(..) => {
            let ops = decimal_operands(arrays)?;
            let ((a, s1), (b, s2)) = (&ops[0], &ops[1]);
            let s = *s1.max(s2);
            let ea = (s - s1).unsigned_abs() as u32;
            let eb = (s - s2).unsigned_abs() as u32;
            let out: Decimal128Array =
                binary(a.iter(), b.iter(), |x, y| decimal_mod(x, ea, y, eb)).collect();
            Arc::new(out.with_precision_and_scale(38, s)?)
        }
        Num::Float => {
            let ops = float_operands(arrays)?;
            let out: Float64Array = binary(ops[0].iter(), ops[1].iter(), |x: f64, y: f64| {
                (y != 0.0).then(|| x % y)
            })
            .collect();
            Arc::new(out)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::test_util::{q, q_type};

    #[test]
    fn divide_integers_gives_decimal_scale_4() {
        assert_eq!(q("SELECT 5/2"), "2.5000");
        assert_eq!(q("SELECT 1/3"), "0.3333");
        assert_eq!(q("SELECT 2/3"), "0.6667");
        assert_eq!(q("SELECT -2/3"), "-0.6667");
        assert_eq!(q("SELECT 10/5"), "2.0000");
        assert_eq!(q_type("SELECT 5/2"), DataType::Decimal128(38, 4));
    }

    #[test]
    fn divide_by_zero_is_null() {
        assert_eq!(q("SELECT 1/0"), "NULL");
        assert_eq!(q("SELECT 1.5/0"), "NULL");
        assert_eq!(q("SELECT 1e0/0"), "NULL");
        assert_eq!(q("SELECT NULL/2"), "NULL");
    }

    #[test]
    fn divide_decimal_and_double() {
        assert_eq!(q("SELECT 5.0/2"), "2.50000");
        assert_eq!(q("SELECT 1.00/3"), "0.333333");
        assert_eq!(q("SELECT 5e0/2"), "2.5");
        assert_eq!(q_type("SELECT 5e0/2"), DataType::Float64);
        assert_eq!(q("SELECT '10'/4"), "2.5");
        assert_eq!(q("SELECT 'abc'/4"), "0.0");
        assert_eq!(q("SELECT 7/2.0"), "3.5000");
    }

    #[test]
    fn divide_large_values_use_wide_intermediate() {
        // 10^30 * 10^4 overflows i128 before the division.
        assert_eq!(
            q("SELECT 1000000000000000000000000000000.0/1000000000000000000000000000000.0"),
            "1.00000"
        );
        assert_eq!(
            q("SELECT 9223372036854775807/1"),
            "9223372036854775807.0000"
        );
    }

    #[test]
    fn divide_columns() {
        assert_eq!(
            crate::functions::test_util::q_all(
                "SELECT a / b FROM (VALUES (1, 2), (3, 0), (7, 3), (NULL, 1)) t(a, b)"
            ),
            vec!["0.5000", "NULL", "2.3333", "NULL"]
        );
    }

    #[test]
    fn integer_division() {
        assert_eq!(q("SELECT 7 DIV 2"), "3");
        assert_eq!(q("SELECT -7 DIV 2"), "-3");
        assert_eq!(q("SELECT 7 DIV 0"), "NULL");
        assert_eq!(q("SELECT 7.9 DIV 2"), "3");
        assert_eq!(q("SELECT 7.5e0 DIV 2"), "3");
        assert_eq!(q("SELECT '9' DIV 2"), "4");
        assert_eq!(q_type("SELECT 7 DIV 2"), DataType::Int64);
    }

    #[test]
    fn modulo_semantics() {
        assert_eq!(q("SELECT 7 % 3"), "1");
        assert_eq!(q("SELECT -7 % 3"), "-1");
        assert_eq!(q("SELECT 7 % 0"), "NULL");
        assert_eq!(q("SELECT MOD(7, 3)"), "1");
        assert_eq!(q("SELECT 7.5 % 2"), "1.5");
        assert_eq!(q("SELECT 7.5e0 % 2"), "1.5");
        assert_eq!(q("SELECT 5.25 % 0.5"), "0.25");
    }

    #[test]
    fn rounding_helper() {
        assert_eq!(div_round_i128(25, 10), Some(3));
        assert_eq!(div_round_i128(-25, 10), Some(-3));
        assert_eq!(div_round_i128(24, 10), Some(2));
        assert_eq!(div_round_i128(i128::MIN, -1), None);
        assert_eq!(decimal_div_scaled(1, 0, 4), None);
    }
}
