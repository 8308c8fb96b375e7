//! MySQL math functions that DataFusion lacks or types differently: `ceil`/`ceiling` and
//! `floor` (DECIMAL results have scale 0), `truncate(x, d)`, `sign` (INT), `ln`, `log`
//! (`log(x)` is the natural log, `log(b, x)`), `log10`, `log2`, `sqrt` (NULL outside the
//! domain instead of NaN/-inf), and `greatest`/`least` (NULL if any argument is NULL).
//! Entry point: [`udfs`]. `round`, `abs`, `pow`, `exp`, `pi`, `rand` are DataFusion's.

use std::sync::Arc;

use datafusion::arrow::array::{
    make_array, Array, ArrayRef, AsArray, Decimal128Array, Float64Array, Int32Array, Int64Array,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::compute::kernels::cmp::{gt, lt};
use datafusion::arrow::compute::kernels::zip::zip;
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Field, FieldRef, Int64Type};
use datafusion::common::{plan_err, Result};
use datafusion::logical_expr::type_coercion::binary::comparison_coercion;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};

use super::util::{
    aliases, arg_types, check_args, exact_decimal, finish, int_arg_type, invoke_arrays, is_float,
    is_integer_like, is_string, output_rows, pow10_i128, scalar_i64, to_f64_array, udf, I64Col,
};

/// The math UDFs.
pub fn udfs() -> Vec<ScalarUDF> {
    use Kind::*;
    [
        (Ceil, "ceil", &["ceiling"][..]),
        (Floor, "floor", &[][..]),
        (Truncate, "truncate", &[][..]),
        (Sign, "sign", &[][..]),
        (Ln, "ln", &[][..]),
        (Log, "log", &[][..]),
        (Log10, "log10", &[][..]),
        (Log2, "log2", &[][..]),
        (Sqrt, "sqrt", &[][..]),
        (Greatest, "greatest", &[][..]),
        (Least, "least", &[][..]),
    ]
    .into_iter()
    .map(|(kind, name, alias)| {
        udf(MathFunc {
            kind,
            name: name.to_string(),
            aliases: aliases(alias),
            signature: Signature::user_defined(Volatility::Immutable),
        })
    })
    .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Ceil,
    Floor,
    Truncate,
    Sign,
    Ln,
    Log,
    Log10,
    Log2,
    Sqrt,
    Greatest,
    Least,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct MathFunc {
    kind: Kind,
    name: String,
    aliases: Vec<String>,
    signature: Signature,
}

/// Numeric argument kept exact when it is: integers as BIGINT, decimals as DECIMAL128,
/// everything else DOUBLE (strings converted at execution).
fn exact_or_double(name: &str, t: &DataType) -> Result<DataType> {
    if is_integer_like(t) && *t != DataType::UInt64 {
        return Ok(DataType::Int64);
    }
    if let Some((p, s)) = exact_decimal(t) {
        return Ok(DataType::Decimal128(p, s));
    }
    if is_string(t) {
        return Ok(DataType::Utf8);
    }
    if is_float(t) || matches!(t, DataType::Decimal256(_, _)) {
        return Ok(DataType::Float64);
    }
    plan_err!("{name}: expected a number, got {t}")
}

fn double_arg(name: &str, t: &DataType) -> Result<DataType> {
    if is_string(t) {
        Ok(DataType::Utf8)
    } else if t.is_numeric() || matches!(t, DataType::Null | DataType::Boolean) {
        Ok(DataType::Float64)
    } else {
        plan_err!("{name}: expected a number, got {t}")
    }
}

impl ScalarUDFImpl for MathFunc {
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
        match self.kind {
            Kind::Ceil | Kind::Floor | Kind::Sign => {
                check_args(name, t, 1, 1)?;
                Ok(vec![exact_or_double(name, &t[0])?])
            }
            Kind::Truncate => {
                check_args(name, t, 2, 2)?;
                Ok(vec![
                    exact_or_double(name, &t[0])?,
                    int_arg_type(name, &t[1])?,
                ])
            }
            Kind::Ln | Kind::Log10 | Kind::Log2 | Kind::Sqrt => {
                check_args(name, t, 1, 1)?;
                Ok(vec![double_arg(name, &t[0])?])
            }
            Kind::Log => {
                check_args(name, t, 1, 2)?;
                t.iter().map(|x| double_arg(name, x)).collect()
            }
            Kind::Greatest | Kind::Least => {
                check_args(name, t, 1, usize::MAX)?;
                let mut common = t[0].clone();
                for x in &t[1..] {
                    let Some(next) = comparison_coercion(&common, x) else {
                        return plan_err!("{name}: no common type for {common} and {x}");
                    };
                    common = next;
                }
                Ok(vec![common; t.len()])
            }
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        datafusion::common::internal_err!("return_field_from_args is used instead")
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let t: Vec<&DataType> = args.arg_fields.iter().map(|f| f.data_type()).collect();
        let first = t.first().copied().cloned().unwrap_or(DataType::Null);
        let rt = match self.kind {
            Kind::Ceil | Kind::Floor => match exact_or_double(&self.name, &first)? {
                DataType::Int64 if first.is_integer() => first.clone(),
                DataType::Int64 => DataType::Int64,
                DataType::Decimal128(p, s) => {
                    DataType::Decimal128(((p as i16 - s as i16 + 1).clamp(1, 38)) as u8, 0)
                }
                _ => DataType::Float64,
            },
            Kind::Truncate => match exact_or_double(&self.name, &first)? {
                DataType::Int64 => DataType::Int64,
                DataType::Decimal128(p, s) => {
                    let d = scalar_i64(args.scalar_arguments.get(1).copied().flatten());
                    match d {
                        Some(d) => {
                            let ns = d.clamp(0, i64::from(s)) as i16;
                            let np = (p as i16 - s as i16 + ns).clamp(1, 38);
                            DataType::Decimal128(np as u8, ns as i8)
                        }
                        None => DataType::Decimal128(p, s),
                    }
                }
                _ => DataType::Float64,
            },
            Kind::Sign => DataType::Int32,
            Kind::Ln | Kind::Log | Kind::Log10 | Kind::Log2 | Kind::Sqrt => DataType::Float64,
            Kind::Greatest | Kind::Least => first,
        };
        Ok(Arc::new(Field::new(self.name(), rt, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        // Arity/type guard: a decoded plan with unexpected arguments errors instead of panicking.
        self.coerce_types(&arg_types(&args))?;
        let ret = args.return_type().clone();
        match self.kind {
            Kind::Ceil | Kind::Floor => {
                let up = self.kind == Kind::Ceil;
                invoke_arrays(&args, |a| ceil_floor(&a[0], &ret, up))
            }
            Kind::Truncate => {
                let (n, scalar) = output_rows(&args);
                let x = args.args[0].to_array(n)?;
                let d = I64Col::new(&args.args[1])?;
                finish(truncate(&x, &d, &ret)?, scalar)
            }
            Kind::Sign => invoke_arrays(&args, |a| sign(&a[0])),
            Kind::Ln => unary_f64(&args, |x| (x > 0.0).then(|| x.ln())),
            Kind::Log10 => unary_f64(&args, |x| (x > 0.0).then(|| x.log10())),
            Kind::Log2 => unary_f64(&args, |x| (x > 0.0).then(|| x.log2())),
            Kind::Sqrt => unary_f64(&args, |x| (x >= 0.0).then(|| x.sqrt())),
            Kind::Log => {
                if args.args.len() == 1 {
                    unary_f64(&args, |x| (x > 0.0).then(|| x.ln()))
                } else {
                    invoke_arrays(&args, |a| {
                        let b = to_f64_array(&a[0])?;
                        let x = to_f64_array(&a[1])?;
                        let out: Float64Array = b
                            .iter()
                            .zip(x.iter())
                            .map(|(b, x)| {
                                let (b, x) = (b?, x?);
                                (b > 0.0 && b != 1.0 && x > 0.0).then(|| x.ln() / b.ln())
                            })
                            .collect();
                        Ok(Arc::new(out) as ArrayRef)
                    })
                }
            }
            Kind::Greatest | Kind::Least => {
                let greatest = self.kind == Kind::Greatest;
                invoke_arrays(&args, |a| greatest_least(a, &ret, greatest))
            }
        }
    }
}

fn unary_f64(args: &ScalarFunctionArgs, f: impl Fn(f64) -> Option<f64>) -> Result<ColumnarValue> {
    invoke_arrays(args, |a| {
        let x = to_f64_array(&a[0])?;
        let out: Float64Array = x.iter().map(|v| v.and_then(&f)).collect();
        Ok(Arc::new(out) as ArrayRef)
    })
}

fn ceil_floor(a: &ArrayRef, ret: &DataType, up: bool) -> Result<ArrayRef> {
    match a.data_type() {
        DataType::Decimal128(_, s) => {
            let f = pow10_i128(s.max(&0).unsigned_abs() as u32).unwrap_or(1);
            let out: Decimal128Array = a
                .as_primitive::<Decimal128Type>()
                .iter()
                .map(|v| {
                    let v = v?;
                    let (q, r) = (v / f, v % f);
                    Some(if up && r > 0 {
                        q + 1
                    } else if !up && r < 0 {
                        q - 1
                    } else {
                        q
                    })
                })
                .collect();
            let (p, s) = match ret {
                DataType::Decimal128(p, s) => (*p, *s),
                _ => (38, 0),
            };
            Ok(Arc::new(out.with_precision_and_scale(p, s)?))
        }
        t if t.is_integer() => Ok(cast(a, ret)?),
        _ => {
            let x = to_f64_array(a)?;
            let out: Float64Array = x
                .iter()
                .map(|v| v.map(|v| if up { v.ceil() } else { v.floor() }))
                .collect();
            Ok(Arc::new(out))
        }
    }
}

fn truncate(x: &ArrayRef, d: &I64Col, ret: &DataType) -> Result<ArrayRef> {
    Ok(match (x.data_type(), ret) {
        (DataType::Decimal128(_, s), DataType::Decimal128(p, ns)) => {
            let (s, ns) = (i64::from(*s), i64::from(*ns));
            let a = x.as_primitive::<Decimal128Type>();
            let out: Decimal128Array = (0..a.len())
                .map(|i| {
                    if a.is_null(i) {
                        return None;
                    }
                    let v = a.value(i);
                    let d = d.get(i)?;
                    if d >= s {
                        return Some(v);
                    }
                    let drop = u32::try_from(s - d).ok()?;
                    let q = match pow10_i128(drop) {
                        Some(f) => v / f,
                        None => 0,
                    };
                    q.checked_mul(pow10_i128(u32::try_from(ns - d).ok()?)?)
                })
                .collect();
            Arc::new(out.with_precision_and_scale(*p, ns as i8)?)
        }
        (DataType::Int64, _) => {
            let a = x.as_primitive::<Int64Type>();
            let out: Int64Array = (0..a.len())
                .map(|i| {
                    if a.is_null(i) {
                        return None;
                    }
                    let v = a.value(i);
                    let d = d.get(i)?;
                    if d >= 0 {
                        return Some(v);
                    }
                    match u32::try_from(-d).ok().and_then(|e| 10i64.checked_pow(e)) {
                        Some(f) => Some(v / f * f),
                        None => Some(0),
                    }
                })
                .collect();
            Arc::new(out)
        }
        _ => {
            let a = to_f64_array(x)?;
            let out: Float64Array = (0..a.len())
                .map(|i| {
                    if a.is_null(i) {
                        return None;
                    }
                    let v = a.value(i);
                    let d = d.get(i)?.clamp(-400, 400) as i32;
                    if d >= 0 {
                        let f = 10f64.powi(d);
                        let t = (v * f).trunc() / f;
                        Some(if t.is_finite() { t } else { v })
                    } else {
                        let f = 10f64.powi(-d);
                        Some((v / f).trunc() * f)
                    }
                })
                .collect();
            Arc::new(out)
        }
    })
}

fn sign(a: &ArrayRef) -> Result<ArrayRef> {
    let out: Int32Array = match a.data_type() {
        DataType::Decimal128(_, _) => a
            .as_primitive::<Decimal128Type>()
            .iter()
            .map(|v| v.map(|v| v.signum() as i32))
            .collect(),
        DataType::Int64 => a
            .as_primitive::<Int64Type>()
            .iter()
            .map(|v| v.map(|v| v.signum() as i32))
            .collect(),
        _ => to_f64_array(a)?
            .iter()
            .map(|v| {
                v.map(|v| {
                    if v > 0.0 {
                        1
                    } else if v < 0.0 {
                        -1
                    } else {
                        0
                    }
                })
            })
            .collect(),
    };
    Ok(Arc::new(out))
}

fn greatest_least(arrays: &[ArrayRef], ret: &DataType, greatest: bool) -> Result<ArrayRef> {
    let arrays = arrays
        .iter()
        .map(|a| {
            if a.data_type() == ret {
                Ok(Arc::clone(a))
            } else {
                cast(a, ret)
            }
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut acc = Arc::clone(&arrays[0]);
    let mut nulls = acc.logical_nulls();
    for next in &arrays[1..] {
        let pick = if greatest {
            gt(next, &acc)?
        } else {
            lt(next, &acc)?
        };
        acc = zip(&pick, next, &acc)?;
        nulls = NullBuffer::union(nulls.as_ref(), next.logical_nulls().as_ref());
    }
    let data = acc.to_data().into_builder().nulls(nulls).build()?;
    Ok(make_array(data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::test_util::{q, q_all, q_type};

    #[test]
    fn round_half_away_from_zero() {
        assert_eq!(q("SELECT round(2.5)"), "3");
        assert_eq!(q("SELECT round(-2.5)"), "-3");
        assert_eq!(q("SELECT round(1.235, 2)"), "1.24");
        assert_eq!(q("SELECT round(-1.235, 2)"), "-1.24");
        assert_eq!(q("SELECT round(2.5e0)"), "3.0");
        assert_eq!(q("SELECT round(1234, -2)"), "1200");
        assert!(matches!(
            q_type("SELECT round(1.235, 2)"),
            DataType::Decimal128(_, 2)
        ));
    }

    #[test]
    fn ceil_floor_types() {
        assert_eq!(q("SELECT ceil(1.2)"), "2");
        assert_eq!(q("SELECT ceiling(-1.2)"), "-1");
        assert_eq!(q("SELECT floor(-1.2)"), "-2");
        assert_eq!(q("SELECT floor(1.8)"), "1");
        assert_eq!(q("SELECT ceil(5)"), "5");
        assert_eq!(q("SELECT ceil(1.5e0)"), "2.0");
        assert_eq!(q("SELECT floor('2.7')"), "2.0");
        assert_eq!(q_type("SELECT ceil(1.25)"), DataType::Decimal128(2, 0));
        assert_eq!(q_type("SELECT ceil(5)"), DataType::Int64);
    }

    #[test]
    fn truncate_values() {
        assert_eq!(q("SELECT truncate(1.239, 2)"), "1.23");
        assert_eq!(q("SELECT truncate(-1.239, 2)"), "-1.23");
        assert_eq!(q("SELECT truncate(1.239, 0)"), "1");
        assert_eq!(q("SELECT truncate(122.5, -1)"), "120");
        assert_eq!(q("SELECT truncate(1234, -2)"), "1200");
        assert_eq!(q("SELECT truncate(1.239e0, 1)"), "1.2");
        assert_eq!(q("SELECT truncate(1.5, 5)"), "1.5");
    }

    #[test]
    fn mod_pow_abs_sign() {
        assert_eq!(q("SELECT mod(10, 3)"), "1");
        assert_eq!(q("SELECT pow(2, 10)"), "1024.0");
        assert_eq!(q("SELECT power(2, -1)"), "0.5");
        assert_eq!(q("SELECT abs(-3)"), "3");
        assert_eq!(q("SELECT abs(-3.50)"), "3.50");
        assert_eq!(q("SELECT sign(-3)"), "-1");
        assert_eq!(q("SELECT sign(0.0)"), "0");
        assert_eq!(q("SELECT sign(2.5e0)"), "1");
    }

    #[test]
    fn logs_and_roots() {
        assert_eq!(q("SELECT ln(1)"), "0.0");
        assert_eq!(q("SELECT ln(0)"), "NULL");
        assert_eq!(q("SELECT log(-1)"), "NULL");
        assert_eq!(q("SELECT log(2, 8)"), "3.0");
        assert_eq!(q("SELECT log(1, 8)"), "NULL");
        assert_eq!(q("SELECT log10(100)"), "2.0");
        assert_eq!(q("SELECT log2(8)"), "3.0");
        assert_eq!(q("SELECT sqrt(16)"), "4.0");
        assert_eq!(q("SELECT sqrt(-1)"), "NULL");
        assert_eq!(q("SELECT exp(0)"), "1.0");
        assert_eq!(q("SELECT round(pi(), 5)"), "3.14159");
        assert_eq!(q("SELECT rand() < 1"), "true");
    }

    #[test]
    fn greatest_least_null_semantics() {
        assert_eq!(q("SELECT greatest(1, 5, 3)"), "5");
        assert_eq!(q("SELECT least(4, 2, 3)"), "2");
        assert_eq!(q("SELECT greatest(1, NULL, 3)"), "NULL");
        assert_eq!(q("SELECT least('b', 'a', 'c')"), "a");
        assert_eq!(q("SELECT greatest(1, 2.5)"), "2.5");
        assert_eq!(
            q_all("SELECT greatest(a, b) FROM (VALUES (1, 2), (5, 3), (NULL, 1)) t(a, b)"),
            vec!["2", "5", "NULL"]
        );
    }
}
