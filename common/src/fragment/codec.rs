//! datafusion-proto extension codec for the project's plan nodes.
//! [`DorisCodec`] encodes them on the FE; on a BE, built with a [`StorageResolver`], it
//! decodes scans and sinks into nodes that touch that BE's tablets.

use std::fmt::Debug;
use std::sync::Arc;

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::{ExecutionPlan, PhysicalExpr};
use datafusion_proto::physical_plan::from_proto::parse_physical_expr;
use datafusion_proto::physical_plan::to_proto::serialize_physical_expr;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use datafusion_proto::protobuf;
use prost::Message;
use serde::{Deserialize, Serialize};

use super::{NumbersExec, OlapScanExec, OlapTableSinkExec, ScanSpec, SinkSpec};

/// Turns scan and sink specs into executable nodes over local storage (implemented by the BE).
pub trait StorageResolver: Debug + Send + Sync {
    /// A node producing `spec.output_partitions` partitions of the projected scan schema
    /// (see [`super::scan_schema`]).
    fn scan(
        &self,
        spec: ScanSpec,
        table_schema: SchemaRef,
        predicate: Option<Arc<dyn PhysicalExpr>>,
    ) -> Result<Arc<dyn ExecutionPlan>>;

    /// A node that writes `input` into tablets and outputs one `count` row.
    fn sink(&self, spec: SinkSpec, input: Arc<dyn ExecutionPlan>)
        -> Result<Arc<dyn ExecutionPlan>>;
}

#[derive(Serialize, Deserialize)]
enum Envelope {
    Scan {
        spec: ScanSpec,
        table_schema: Vec<u8>,
        predicate: Option<Vec<u8>>,
    },
    Sink {
        spec: SinkSpec,
    },
    Numbers {
        count: u64,
        partitions: usize,
        empty_projection: bool,
    },
}

/// The codec used for every plan fragment sent between processes.
#[derive(Debug, Default)]
pub struct DorisCodec {
    resolver: Option<Arc<dyn StorageResolver>>,
}

impl DorisCodec {
    /// A codec that decodes into the FE-side placeholder nodes (planning, tests).
    pub fn new() -> Self {
        Self { resolver: None }
    }

    /// A codec that decodes scans and sinks into executable nodes over local storage.
    pub fn with_resolver(resolver: Arc<dyn StorageResolver>) -> Self {
        Self {
            resolver: Some(resolver),
        }
    }
}

fn encode_schema(schema: &Schema) -> Result<Vec<u8>> {
    let proto: protobuf::Schema = schema.try_into()?;
    Ok(proto.encode_to_vec())
}

fn decode_schema(bytes: &[u8]) -> Result<SchemaRef> {
    let proto = protobuf::Schema::decode(bytes)
        .map_err(|e| DataFusionError::Internal(format!("bad schema in fragment: {e}")))?;
    Ok(Arc::new((&proto).try_into()?))
}

impl PhysicalExtensionCodec for DorisCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let envelope: Envelope = serde_json::from_slice(buf)
            .map_err(|e| DataFusionError::Internal(format!("bad plan node in fragment: {e}")))?;
        match envelope {
            Envelope::Scan {
                spec,
                table_schema,
                predicate,
            } => {
                let table_schema = decode_schema(&table_schema)?;
                let predicate = match predicate {
                    Some(bytes) => {
                        let node =
                            protobuf::PhysicalExprNode::decode(bytes.as_slice()).map_err(|e| {
                                DataFusionError::Internal(format!("bad predicate: {e}"))
                            })?;
                        let schema = super::scan_schema(&table_schema, spec.merge_order);
                        Some(parse_physical_expr(&node, ctx, &schema, self)?)
                    }
                    None => None,
                };
                match &self.resolver {
                    Some(r) => r.scan(spec, table_schema, predicate),
                    None => Ok(Arc::new(OlapScanExec::try_new(
                        spec,
                        table_schema,
                        predicate,
                    )?)),
                }
            }
            Envelope::Sink { spec } => {
                let [input] = inputs else {
                    return Err(DataFusionError::Internal(
                        "sink node needs exactly one input".into(),
                    ));
                };
                match &self.resolver {
                    Some(r) => r.sink(spec, Arc::clone(input)),
                    None => Ok(Arc::new(OlapTableSinkExec::new(spec, Arc::clone(input)))),
                }
            }
            Envelope::Numbers {
                count,
                partitions,
                empty_projection,
            } => {
                let exec = NumbersExec::new(count, partitions);
                Ok(Arc::new(if empty_projection {
                    exec.with_empty_projection()
                } else {
                    exec
                }))
            }
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        _proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        let envelope = if let Some(scan) = node.downcast_ref::<OlapScanExec>() {
            let predicate = match &scan.predicate {
                Some(p) => Some(serialize_physical_expr(p, self)?.encode_to_vec()),
                None => None,
            };
            Envelope::Scan {
                spec: scan.spec.clone(),
                table_schema: encode_schema(&scan.table_schema)?,
                predicate,
            }
        } else if let Some(sink) = node.downcast_ref::<OlapTableSinkExec>() {
            Envelope::Sink {
                spec: sink.spec.clone(),
            }
        } else if let Some(n) = node.downcast_ref::<NumbersExec>() {
            Envelope::Numbers {
                count: n.count,
                partitions: n.partitions,
                empty_projection: n.empty_projection,
            }
        } else {
            return Err(DataFusionError::NotImplemented(format!(
                "not supported yet: sending plan node {} to a backend",
                node.name()
            )));
        };
        let bytes = serde_json::to_vec(&envelope)
            .map_err(|e| DataFusionError::Internal(format!("cannot encode plan node: {e}")))?;
        buf.extend_from_slice(&bytes);
        Ok(())
    }
}
