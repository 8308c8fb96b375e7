//! The project's own physical plan nodes and the codec that ships them inside plan fragments.
//! The FE builds [`OlapScanExec`], [`OlapTableSinkExec`], [`NumbersExec`] and the exchange
//! nodes ([`ExchangeSinkExec`], [`ExchangeSourceExec`]); [`DorisCodec`] serializes them with
//! datafusion-proto, and on a BE a [`BackendResolver`] turns their specs into nodes that
//! read and write tablets and exchange data with other BEs.

mod codec;
mod exchange;
mod numbers;
mod scan;
mod sink;

pub use codec::{BackendResolver, DorisCodec};
pub use exchange::{
    ExchangeEndpoint, ExchangeKind, ExchangeSinkExec, ExchangeSinkSpec, ExchangeSourceExec,
    ExchangeSourceSpec,
};
pub use numbers::{NumbersExec, NumbersFunction};
pub use scan::{
    merge_order_fields, scan_schema, OlapScanExec, ScanSpec, TabletRead, ROW_COLUMN,
    SEGMENT_COLUMN, VERSION_COLUMN,
};
pub use sink::{count_schema, OlapTableSinkExec, SinkColumn, SinkIndex, SinkPartition, SinkSpec};

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::{Partitioning, PlanProperties};

/// Plan properties for a leaf or sink node with `partitions` unordered output partitions.
pub fn plain_properties(schema: SchemaRef, partitions: usize) -> Arc<PlanProperties> {
    Arc::new(PlanProperties::new(
        EquivalenceProperties::new(schema),
        Partitioning::UnknownPartitioning(partitions.max(1)),
        EmissionType::Incremental,
        Boundedness::Bounded,
    ))
}
