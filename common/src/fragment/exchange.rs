//! Exchanges between plan fragments. The FE cuts a plan at its exchange points and puts an
//! [`ExchangeSinkExec`] on top of the sending fragment and an [`ExchangeSourceExec`] where
//! the receiving fragment reads; a BE replaces both (through [`super::BackendResolver`])
//! with nodes that stream Arrow batches to and from other BEs.
//!
//! Every receiver instance exposes `partitions` partitions. Rows go to:
//! - [`ExchangeKind::Gather`]: receiver 0 only (the others, if any, see just end of stream);
//! - [`ExchangeKind::Broadcast`]: every receiver;
//! - [`ExchangeKind::Hash`]: receiver `h / partitions`, partition `h % partitions`, where
//!   `h` is the row's hash of the keys modulo `receivers * partitions`;
//! - [`ExchangeKind::Bucket`]: to the receiver and partition reading the row's bucket of a
//!   table (`bucket_targets`, by the loads' bucket hash of the keys modulo the bucket
//!   count), so the rows meet that table's tablets without moving them (bucket shuffle).
//!
//! With `per_sender_partitions` (gather and broadcast), sender `i` writes to partition `i`
//! of a receiver, which then sees every sender's stream separately (the input of a merge of
//! sorted streams); otherwise to partition 0.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, PhysicalExpr, PlanProperties,
    SendableRecordBatchStream,
};
use serde::{Deserialize, Serialize};

/// How an exchange spreads rows over its receivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExchangeKind {
    Gather,
    Broadcast,
    Hash,
    Bucket,
}

/// A BE taking part in an exchange: its id and `brpc_port` address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeEndpoint {
    pub backend_id: i64,
    pub host: String,
    pub port: u16,
}

impl fmt::Display for ExchangeEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// What the sending side of an exchange needs; one per sender instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExchangeSinkSpec {
    pub query_id: String,
    pub exchange_id: u32,
    pub kind: ExchangeKind,
    #[serde(default)]
    pub per_sender_partitions: bool,
    /// This sender's index among the exchange's senders.
    pub sender: u32,
    /// Where this sender runs.
    pub local: Option<ExchangeEndpoint>,
    /// Receiver instances, in receiver-index order.
    pub receivers: Vec<ExchangeEndpoint>,
    /// Partitions of every receiver.
    pub partitions: usize,
    /// Stop after this many rows (a LIMIT above the exchange).
    pub fetch: Option<usize>,
    /// Bucket exchanges: the bucket group whose placement the rows follow (see
    /// `ScanSpec::bucket_group`), and per bucket its (receiver, partition).
    #[serde(default)]
    pub bucket_group: Option<u32>,
    #[serde(default)]
    pub bucket_targets: Vec<(u32, u32)>,
}

/// What the receiving side of an exchange needs; one per receiver instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExchangeSourceSpec {
    pub query_id: String,
    pub exchange_id: u32,
    pub kind: ExchangeKind,
    /// This receiver's index among the exchange's receivers.
    pub receiver: u32,
    /// Number of sender instances (each ends its streams with an end-of-stream mark).
    pub senders: u32,
    pub partitions: usize,
}

/// FE-side sending end of an exchange: the root of every fragment but the result fragment.
/// It outputs nothing; `keys` (over the input schema) are the hash keys of a hash exchange.
#[derive(Debug)]
pub struct ExchangeSinkExec {
    pub spec: ExchangeSinkSpec,
    pub keys: Vec<Arc<dyn PhysicalExpr>>,
    pub input: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
}

impl ExchangeSinkExec {
    pub fn new(
        spec: ExchangeSinkSpec,
        keys: Vec<Arc<dyn PhysicalExpr>>,
        input: Arc<dyn ExecutionPlan>,
    ) -> Self {
        Self {
            spec,
            keys,
            input,
            properties: super::plain_properties(Arc::new(Schema::empty()), 1),
        }
    }
}

impl DisplayAs for ExchangeSinkExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "ExchangeSink: id={}, {}",
            self.spec.exchange_id,
            self.describe()
        )
    }
}

impl ExchangeSinkExec {
    /// The output partitioning in Doris's words: `UNPARTITIONED`, `BROADCAST`,
    /// `HASH_PARTITIONED: k1, k2`.
    pub fn describe(&self) -> String {
        match self.spec.kind {
            ExchangeKind::Gather => "UNPARTITIONED".to_string(),
            ExchangeKind::Broadcast => "BROADCAST".to_string(),
            ExchangeKind::Hash | ExchangeKind::Bucket => {
                let keys: Vec<String> = self.keys.iter().map(|k| k.to_string()).collect();
                let how = if self.spec.kind == ExchangeKind::Bucket {
                    "BUCKET_SHFFULE_HASH_PARTITIONED"
                } else {
                    "HASH_PARTITIONED"
                };
                format!("{how}: {}", keys.join(", "))
            }
        }
    }
}

impl ExecutionPlan for ExchangeSinkExec {
    fn name(&self) -> &str {
        "ExchangeSinkExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![Distribution::UnspecifiedDistribution]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        for k in &self.keys {
            if f(k)? == TreeNodeRecursion::Stop {
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match children.pop() {
            Some(input) if children.is_empty() => Ok(Arc::new(Self::new(
                self.spec.clone(),
                self.keys.clone(),
                input,
            ))),
            _ => Err(DataFusionError::Internal(
                "ExchangeSinkExec takes exactly one child".into(),
            )),
        }
    }

    fn execute(
        &self,
        _partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        Err(DataFusionError::Internal(
            "ExchangeSinkExec only runs on a backend".into(),
        ))
    }
}

/// FE-side receiving end of an exchange: a leaf of the receiving fragment. Its properties
/// are those of the plan node it replaced (a hash repartition keeps its partitioning).
#[derive(Debug)]
pub struct ExchangeSourceExec {
    pub spec: ExchangeSourceSpec,
    properties: Arc<PlanProperties>,
}

impl ExchangeSourceExec {
    pub fn new(spec: ExchangeSourceSpec, properties: Arc<PlanProperties>) -> Self {
        Self { spec, properties }
    }

    /// A source with plain properties (`spec.partitions` unordered partitions of `schema`).
    pub fn plain(spec: ExchangeSourceSpec, schema: SchemaRef) -> Self {
        let properties = super::plain_properties(schema, spec.partitions);
        Self { spec, properties }
    }
}

impl DisplayAs for ExchangeSourceExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "ExchangeSource: id={}, partitions={}",
            self.spec.exchange_id, self.spec.partitions
        )
    }
}

impl ExecutionPlan for ExchangeSourceExec {
    fn name(&self) -> &str {
        "ExchangeSourceExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        _partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        Err(DataFusionError::Internal(
            "ExchangeSourceExec only runs on a backend".into(),
        ))
    }
}
