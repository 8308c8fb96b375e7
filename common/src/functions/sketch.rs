//! Doris's BITMAP and HLL values and their functions. Both are stored as Arrow `Binary`:
//! a tag byte, then the value.
//!
//! * **BITMAP** (tag `0xB1`): a 64-bit roaring bitmap (`roaring::RoaringTreemap`, its own
//!   serialization). `to_bitmap(n)`, `bitmap_hash(s)`, `bitmap_empty()`,
//!   `bitmap_from_string('1,2')`, `bitmap_to_string(b)`, `bitmap_count(b)`,
//!   `bitmap_contains(b, n)`; aggregates `bitmap_union(b)` and `bitmap_union_count(b)`
//!   (an AGGREGATE KEY table's `BITMAP_UNION` columns merge with `bitmap_union`).
//! * **HLL** (tag `0xA1` explicit, `0xA2` dense): a HyperLogLog sketch of 64-bit hashes
//!   (xxh3 of the value's text). Up to [`HLL_EXPLICIT_MAX`] distinct hashes are kept
//!   as they are, so small cardinalities are exact, as in Doris; beyond that 2^14 six-bit
//!   registers (standard estimate with linear counting for small ranges). `hll_hash(v)`,
//!   `hll_empty()`, `hll_cardinality(h)`; aggregates `hll_union(h)` (also `hll_raw_agg`)
//!   and `hll_union_agg(h)` (`HLL_UNION` columns merge with `hll_union`).
//!
//! A result column of these types prints as NULL, as Doris does for object types.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BinaryBuilder, BooleanArray, Int64Array, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use roaring::RoaringTreemap;

use super::util::{invoke_arrays, udf};

const BITMAP_TAG: u8 = 0xB1;
const HLL_EXPLICIT_TAG: u8 = 0xA1;
const HLL_DENSE_TAG: u8 = 0xA2;
/// Distinct hashes an HLL keeps exactly before switching to registers.
pub const HLL_EXPLICIT_MAX: usize = 160;
const HLL_PRECISION: u32 = 14;
const HLL_REGISTERS: usize = 1 << HLL_PRECISION;

// ---------------------------------------------------------------- BITMAP

pub fn encode_bitmap(b: &RoaringTreemap) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(1 + b.serialized_size());
    out.push(BITMAP_TAG);
    b.serialize_into(&mut out)
        .map_err(|e| datafusion::error::DataFusionError::Execution(e.to_string()))?;
    Ok(out)
}

pub fn decode_bitmap(bytes: &[u8]) -> Result<RoaringTreemap> {
    match bytes.split_first() {
        Some((&BITMAP_TAG, rest)) => RoaringTreemap::deserialize_from(rest).map_err(|e| {
            datafusion::error::DataFusionError::Execution(format!("invalid BITMAP value: {e}"))
        }),
        _ => exec_err!("invalid BITMAP value (not a bitmap)"),
    }
}

// ---------------------------------------------------------------- HLL

/// A HyperLogLog sketch: exact hashes while few, registers beyond.
#[derive(Debug, Clone)]
pub enum Hll {
    Explicit(BTreeSet<u64>),
    Dense(Vec<u8>),
}

impl Default for Hll {
    fn default() -> Self {
        Hll::Explicit(BTreeSet::new())
    }
}

impl Hll {
    pub fn hash_of(text: &str) -> u64 {
        xxhash_rust::xxh3::xxh3_64(text.as_bytes())
    }

    pub fn insert(&mut self, hash: u64) {
        match self {
            Hll::Explicit(set) => {
                set.insert(hash);
                if set.len() > HLL_EXPLICIT_MAX {
                    let mut registers = vec![0u8; HLL_REGISTERS];
                    for h in set.iter() {
                        Self::update(&mut registers, *h);
                    }
                    *self = Hll::Dense(registers);
                }
            }
            Hll::Dense(registers) => Self::update(registers, hash),
        }
    }

    fn update(registers: &mut [u8], hash: u64) {
        let index = (hash >> (64 - HLL_PRECISION)) as usize;
        // Leading zeros of the remaining bits, plus one.
        let rest = (hash << HLL_PRECISION) | (1 << (HLL_PRECISION - 1));
        let rank = rest.leading_zeros() as u8 + 1;
        if registers[index] < rank {
            registers[index] = rank;
        }
    }

    pub fn merge(&mut self, other: &Hll) {
        match other {
            Hll::Explicit(set) => {
                for h in set {
                    self.insert(*h);
                }
            }
            Hll::Dense(theirs) => {
                if let Hll::Explicit(set) = self {
                    let mut registers = vec![0u8; HLL_REGISTERS];
                    for h in set.iter() {
                        Self::update(&mut registers, *h);
                    }
                    *self = Hll::Dense(registers);
                }
                if let Hll::Dense(ours) = self {
                    for (a, b) in ours.iter_mut().zip(theirs) {
                        *a = (*a).max(*b);
                    }
                }
            }
        }
    }

    pub fn cardinality(&self) -> i64 {
        match self {
            Hll::Explicit(set) => set.len() as i64,
            Hll::Dense(registers) => {
                let m = HLL_REGISTERS as f64;
                let alpha = 0.7213 / (1.0 + 1.079 / m);
                let sum: f64 = registers.iter().map(|&r| 2f64.powi(-i32::from(r))).sum();
                let estimate = alpha * m * m / sum;
                let zeros = registers.iter().filter(|&&r| r == 0).count();
                if estimate <= 2.5 * m && zeros > 0 {
                    (m * (m / zeros as f64).ln()).round() as i64
                } else {
                    estimate.round() as i64
                }
            }
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        match self {
            Hll::Explicit(set) => {
                let mut out = Vec::with_capacity(1 + 8 * set.len());
                out.push(HLL_EXPLICIT_TAG);
                for h in set {
                    out.extend_from_slice(&h.to_le_bytes());
                }
                out
            }
            Hll::Dense(registers) => {
                let mut out = Vec::with_capacity(1 + registers.len());
                out.push(HLL_DENSE_TAG);
                out.extend_from_slice(registers);
                out
            }
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<Hll> {
        match bytes.split_first() {
            Some((&HLL_EXPLICIT_TAG, rest)) if rest.len() % 8 == 0 => Ok(Hll::Explicit(
                rest.chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                    .collect(),
            )),
            Some((&HLL_DENSE_TAG, rest)) if rest.len() == HLL_REGISTERS => {
                Ok(Hll::Dense(rest.to_vec()))
            }
            _ => exec_err!("invalid HLL value (not an hll)"),
        }
    }
}

/// Which object type a union works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SketchKind {
    Bitmap,
    Hll,
}

/// The union of serialized values of one kind (NULLs skipped); `None` when all are NULL.
/// Compaction merges `BITMAP_UNION` / `HLL_UNION` columns with it.
pub fn union_values<'a>(
    kind: SketchKind,
    values: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Option<Vec<u8>>> {
    let mut state = UnionState::new(kind);
    let mut any = false;
    for v in values {
        state.add(v)?;
        any = true;
    }
    if !any {
        return Ok(None);
    }
    state.encode().map(Some)
}

#[derive(Debug)]
enum UnionState {
    Bitmap(RoaringTreemap),
    Hll(Hll),
}

impl UnionState {
    fn new(kind: SketchKind) -> Self {
        match kind {
            SketchKind::Bitmap => UnionState::Bitmap(RoaringTreemap::new()),
            SketchKind::Hll => UnionState::Hll(Hll::default()),
        }
    }

    fn add(&mut self, bytes: &[u8]) -> Result<()> {
        match self {
            UnionState::Bitmap(b) => *b |= decode_bitmap(bytes)?,
            UnionState::Hll(h) => h.merge(&Hll::decode(bytes)?),
        }
        Ok(())
    }

    fn encode(&self) -> Result<Vec<u8>> {
        match self {
            UnionState::Bitmap(b) => encode_bitmap(b),
            UnionState::Hll(h) => Ok(h.encode()),
        }
    }

    fn count(&self) -> i64 {
        match self {
            UnionState::Bitmap(b) => b.len() as i64,
            UnionState::Hll(h) => h.cardinality(),
        }
    }
}

// ---------------------------------------------------------------- scalar functions

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Func {
    ToBitmap,
    BitmapHash,
    BitmapEmpty,
    BitmapFromString,
    BitmapToString,
    BitmapCount,
    BitmapContains,
    HllHash,
    HllEmpty,
    HllCardinality,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct SketchFunc {
    func: Func,
    name: &'static str,
    signature: Signature,
}

/// The text of each value of `a` (as MySQL would print it), `None` for NULL.
fn texts(a: &ArrayRef) -> Result<Vec<Option<String>>> {
    let s = cast(a, &DataType::Utf8)?;
    Ok(s.as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect())
}

fn binaries(values: impl IntoIterator<Item = Result<Option<Vec<u8>>>>) -> Result<ArrayRef> {
    let mut b = BinaryBuilder::new();
    for v in values {
        match v? {
            Some(bytes) => b.append_value(bytes),
            None => b.append_null(),
        }
    }
    Ok(Arc::new(b.finish()))
}

fn binary_arg(a: &ArrayRef, name: &str) -> Result<BinaryArray> {
    match a.data_type() {
        DataType::Binary => Ok(a.as_binary::<i32>().clone()),
        DataType::Null => Ok(BinaryArray::new_null(a.len())),
        other => exec_err!("{name} expects a BITMAP or HLL value, got {other}"),
    }
}

impl ScalarUDFImpl for SketchFunc {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(match self.func {
            Func::BitmapCount | Func::HllCardinality => DataType::Int64,
            Func::BitmapToString => DataType::Utf8,
            Func::BitmapContains => DataType::Boolean,
            _ => DataType::Binary,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if matches!(self.func, Func::BitmapEmpty | Func::HllEmpty) {
            let empty = match self.func {
                Func::BitmapEmpty => encode_bitmap(&RoaringTreemap::new())?,
                _ => Hll::default().encode(),
            };
            return Ok(ColumnarValue::Scalar(ScalarValue::Binary(Some(empty))));
        }
        let name = self.name;
        invoke_arrays(&args, |a| {
            let Some(first) = a.first() else {
                return exec_err!("{name} needs an argument");
            };
            Ok(match self.func {
                Func::ToBitmap => binaries(texts(first)?.into_iter().map(|t| {
                    // Non-negative integers only; anything else is NULL, as in Doris.
                    let Some(n) = t.and_then(|t| t.trim().parse::<u64>().ok()) else {
                        return Ok(None);
                    };
                    let mut b = RoaringTreemap::new();
                    b.insert(n);
                    encode_bitmap(&b).map(Some)
                }))?,
                Func::BitmapHash => binaries(texts(first)?.into_iter().map(|t| {
                    let Some(t) = t else { return Ok(None) };
                    let mut b = RoaringTreemap::new();
                    b.insert(u64::from(xxhash_rust::xxh3::xxh3_64(t.as_bytes()) as u32));
                    encode_bitmap(&b).map(Some)
                }))?,
                Func::BitmapFromString => binaries(texts(first)?.into_iter().map(|t| {
                    let Some(t) = t else { return Ok(None) };
                    let mut b = RoaringTreemap::new();
                    for part in t.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                        match part.parse::<u64>() {
                            Ok(n) => {
                                b.insert(n);
                            }
                            Err(_) => return Ok(None),
                        }
                    }
                    encode_bitmap(&b).map(Some)
                }))?,
                Func::BitmapToString => {
                    let bin = binary_arg(first, name)?;
                    let out: Result<StringArray> = bin
                        .iter()
                        .map(|v| {
                            v.map(|v| {
                                decode_bitmap(v).map(|b| {
                                    b.iter()
                                        .map(|x| x.to_string())
                                        .collect::<Vec<_>>()
                                        .join(",")
                                })
                            })
                            .transpose()
                        })
                        .collect();
                    Arc::new(out?)
                }
                Func::BitmapCount => {
                    let bin = binary_arg(first, name)?;
                    let out: Result<Int64Array> = bin
                        .iter()
                        .map(|v| {
                            v.map(|v| decode_bitmap(v).map(|b| b.len() as i64))
                                .transpose()
                        })
                        .collect();
                    Arc::new(out?)
                }
                Func::BitmapContains => {
                    let bin = binary_arg(first, name)?;
                    let Some(second) = a.get(1) else {
                        return exec_err!("bitmap_contains needs a bitmap and a value");
                    };
                    let values = texts(second)?;
                    let out: Result<BooleanArray> = bin
                        .iter()
                        .zip(values)
                        .map(
                            |(b, v)| match (b, v.and_then(|v| v.trim().parse::<u64>().ok())) {
                                (Some(b), Some(v)) => decode_bitmap(b).map(|b| Some(b.contains(v))),
                                _ => Ok(None),
                            },
                        )
                        .collect();
                    Arc::new(out?)
                }
                Func::HllHash => binaries(texts(first)?.into_iter().map(|t| {
                    let mut h = Hll::default();
                    // A NULL is an empty sketch, as in Doris.
                    if let Some(t) = t {
                        h.insert(Hll::hash_of(&t));
                    }
                    Ok(Some(h.encode()))
                }))?,
                Func::HllCardinality => {
                    let bin = binary_arg(first, name)?;
                    let out: Result<Int64Array> = bin
                        .iter()
                        .map(|v| {
                            v.map(|v| Hll::decode(v).map(|h| h.cardinality()))
                                .transpose()
                        })
                        .collect();
                    Arc::new(out?)
                }
                Func::BitmapEmpty | Func::HllEmpty => {
                    return exec_err!("{name} takes no arguments");
                }
            })
        })
    }
}

pub fn udfs() -> Vec<ScalarUDF> {
    let any = |n: usize| Signature::any(n, Volatility::Immutable);
    let none = Signature::nullary(Volatility::Immutable);
    [
        (Func::ToBitmap, "to_bitmap", any(1)),
        (Func::BitmapHash, "bitmap_hash", any(1)),
        (Func::BitmapEmpty, "bitmap_empty", none.clone()),
        (Func::BitmapFromString, "bitmap_from_string", any(1)),
        (Func::BitmapToString, "bitmap_to_string", any(1)),
        (Func::BitmapCount, "bitmap_count", any(1)),
        (Func::BitmapContains, "bitmap_contains", any(2)),
        (Func::HllHash, "hll_hash", any(1)),
        (Func::HllEmpty, "hll_empty", none),
        (Func::HllCardinality, "hll_cardinality", any(1)),
    ]
    .into_iter()
    .map(|(func, name, signature)| {
        udf(SketchFunc {
            func,
            name,
            signature,
        })
    })
    .collect()
}

// ---------------------------------------------------------------- aggregates

#[derive(Debug, PartialEq, Eq, Hash)]
struct UnionAgg {
    kind: SketchKind,
    /// Returns the count instead of the merged value.
    count: bool,
    name: &'static str,
    aliases: Vec<String>,
    signature: Signature,
}

impl AggregateUDFImpl for UnionAgg {
    fn name(&self) -> &str {
        self.name
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(if self.count {
            DataType::Int64
        } else {
            DataType::Binary
        })
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[union]", args.name),
            DataType::Binary,
            true,
        ))])
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(UnionAccumulator {
            state: UnionState::new(self.kind),
            count: self.count,
            seen: false,
        }))
    }
}

#[derive(Debug)]
struct UnionAccumulator {
    state: UnionState,
    count: bool,
    seen: bool,
}

impl UnionAccumulator {
    fn add_all(&mut self, a: &ArrayRef) -> Result<()> {
        let bin = binary_arg(a, "a union")?;
        for v in bin.iter().flatten() {
            self.state.add(v)?;
            self.seen = true;
        }
        Ok(())
    }
}

impl Accumulator for UnionAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        match values.first() {
            Some(a) => self.add_all(a),
            None => Ok(()),
        }
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.update_batch(states)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let bytes = self.seen.then(|| self.state.encode()).transpose()?;
        Ok(vec![ScalarValue::Binary(bytes)])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        if self.count {
            // The count of no values is 0.
            return Ok(ScalarValue::Int64(Some(self.state.count())));
        }
        Ok(ScalarValue::Binary(
            self.seen.then(|| self.state.encode()).transpose()?,
        ))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + match &self.state {
                UnionState::Bitmap(b) => b.serialized_size(),
                UnionState::Hll(Hll::Explicit(s)) => s.len() * 8,
                UnionState::Hll(Hll::Dense(r)) => r.len(),
            }
    }
}

fn union_agg(kind: SketchKind, count: bool, name: &'static str, aliases: &[&str]) -> AggregateUDF {
    AggregateUDF::new_from_impl(UnionAgg {
        kind,
        count,
        name,
        aliases: aliases.iter().map(|s| s.to_string()).collect(),
        signature: Signature::any(1, Volatility::Immutable),
    })
}

/// `bitmap_union(b)`: the union of the bitmaps (the merge of `BITMAP_UNION` columns).
pub fn bitmap_union_udaf() -> AggregateUDF {
    union_agg(SketchKind::Bitmap, false, "bitmap_union", &[])
}

/// `hll_union(h)`: the union of the sketches (the merge of `HLL_UNION` columns).
pub fn hll_union_udaf() -> AggregateUDF {
    union_agg(SketchKind::Hll, false, "hll_union", &["hll_raw_agg"])
}

pub fn udafs() -> Vec<AggregateUDF> {
    vec![
        bitmap_union_udaf(),
        union_agg(SketchKind::Bitmap, true, "bitmap_union_count", &[]),
        hll_union_udaf(),
        union_agg(SketchKind::Hll, true, "hll_union_agg", &[]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hll_is_exact_when_small_and_close_when_large() {
        let mut h = Hll::default();
        for i in 0..100 {
            h.insert(Hll::hash_of(&i.to_string()));
            h.insert(Hll::hash_of(&i.to_string()));
        }
        assert_eq!(h.cardinality(), 100);
        let mut big = Hll::default();
        for i in 0..100_000 {
            big.insert(Hll::hash_of(&i.to_string()));
        }
        let estimate = big.cardinality() as f64;
        assert!(
            (estimate - 100_000.0).abs() / 100_000.0 < 0.03,
            "{estimate}"
        );
        let decoded = Hll::decode(&big.encode()).expect("decode");
        assert_eq!(decoded.cardinality(), big.cardinality());
        // Merging the explicit sketch into the dense one changes little.
        let mut merged = big.clone();
        merged.merge(&h);
        assert!((merged.cardinality() - big.cardinality()).abs() < 200);
    }

    #[test]
    fn unions_of_bitmaps_and_hlls() {
        let bitmap = |values: &[u64]| {
            let mut b = RoaringTreemap::new();
            for v in values {
                b.insert(*v);
            }
            encode_bitmap(&b).expect("encode")
        };
        let (a, b) = (bitmap(&[1, 2, u64::MAX]), bitmap(&[2, 3]));
        let u = union_values(SketchKind::Bitmap, [a.as_slice(), b.as_slice()])
            .expect("union")
            .expect("some");
        assert_eq!(decode_bitmap(&u).expect("decode").len(), 4);
        assert!(union_values(SketchKind::Bitmap, [])
            .expect("union")
            .is_none());
        assert!(decode_bitmap(&[1, 2, 3]).is_err());
        assert!(Hll::decode(&a).is_err());
    }
}
