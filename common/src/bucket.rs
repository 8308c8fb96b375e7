//! The bucket hash: which bucket (tablet) of a hash-distributed partition a row belongs
//! to. Loads route rows with it, bucket-shuffle exchanges send rows to their bucket's
//! backend with it, and the FE prunes buckets with it, so all must agree.

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::common::hash_utils::{create_hashes, RandomState};
use datafusion::error::Result;
use datafusion::scalar::ScalarValue;

use crate::partition::PartitionValue;
use crate::types::ColumnType;

/// Seed of the bucket hash.
const BUCKET_HASH_STATE: RandomState = RandomState::with_seed(0x646f_7269_735f_6273);

/// The bucket hash of each row of the distribution columns (in the table's order, with
/// the stored types): a row's bucket is its hash modulo the bucket count.
pub fn bucket_hashes(columns: &[ArrayRef], rows: usize) -> Result<Vec<u64>> {
    let mut hashes = vec![0u64; rows];
    create_hashes(columns, &BUCKET_HASH_STATE, &mut hashes)?;
    Ok(hashes)
}

/// A one-row array of `value` with `ct`'s stored type (what a loaded row holds), or
/// `None` when the value does not convert.
pub fn stored_value(value: &PartitionValue, ct: &ColumnType) -> Option<ArrayRef> {
    let scalar = match value {
        PartitionValue::Int(v) => ScalarValue::Decimal128(Some(*v), 38, 0),
        PartitionValue::Date(d) => ScalarValue::Date32(Some(*d)),
        PartitionValue::DateTime(us) => ScalarValue::TimestampMicrosecond(Some(*us), None),
        PartitionValue::Str(s) => ScalarValue::Utf8(Some(s.clone())),
        PartitionValue::Bool(b) => ScalarValue::Boolean(Some(*b)),
        PartitionValue::Null | PartitionValue::MaxValue => return None,
    };
    let array = scalar.to_array().ok()?;
    let stored = datafusion::arrow::compute::cast(&array, &ct.to_arrow()).ok()?;
    // A value out of the type's range casts to NULL: it matches no row.
    (stored.null_count() == 0).then_some(stored)
}

/// The bucket of the row whose distribution columns hold `values` (one-row arrays).
pub fn bucket_of(values: &[ArrayRef], buckets: u32) -> Result<u32> {
    let hashes = bucket_hashes(values, 1)?;
    Ok((hashes[0] % u64::from(buckets.max(1))) as u32)
}
