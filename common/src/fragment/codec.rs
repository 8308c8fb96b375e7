//! datafusion-proto extension codec for the project's plan nodes.
//! [`DorisCodec`] encodes them on the FE; on a BE, built with a [`BackendResolver`], it
//! decodes scans, sinks and exchanges into nodes that touch that BE's tablets and peers.

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

use super::{
    ExchangeSinkExec, ExchangeSinkSpec, ExchangeSourceExec, ExchangeSourceSpec, NumbersExec,
    OlapScanExec, OlapTableSinkExec, ScanSpec, SinkSpec,
};

/// Turns scan, sink and exchange specs into executable nodes (implemented by the BE).
pub trait BackendResolver: Debug + Send + Sync {
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

    /// The receiving end of an exchange: `spec.partitions` partitions of `schema`.
    fn exchange_source(
        &self,
        spec: ExchangeSourceSpec,
        schema: SchemaRef,
    ) -> Result<Arc<dyn ExecutionPlan>>;

    /// The sending end of an exchange; `keys` are over `input`'s schema.
    fn exchange_sink(
        &self,
        spec: ExchangeSinkSpec,
        keys: Vec<Arc<dyn PhysicalExpr>>,
        input: Arc<dyn ExecutionPlan>,
    ) -> Result<Arc<dyn ExecutionPlan>>;
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
    ExchangeSource {
        spec: ExchangeSourceSpec,
        schema: Vec<u8>,
    },
    ExchangeSink {
        spec: ExchangeSinkSpec,
        keys: Vec<Vec<u8>>,
    },
}

/// The codec used for every plan fragment sent between processes.
#[derive(Debug, Default)]
pub struct DorisCodec {
    resolver: Option<Arc<dyn BackendResolver>>,
}

impl DorisCodec {
    /// A codec that decodes into the FE-side placeholder nodes (planning, tests).
    pub fn new() -> Self {
        Self { resolver: None }
    }

    /// A codec that decodes scans and sinks into executable nodes over local storage.
    pub fn with_resolver(resolver: Arc<dyn BackendResolver>) -> Self {
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

fn decode_expr(
    bytes: &[u8],
    ctx: &TaskContext,
    schema: &Schema,
    codec: &DorisCodec,
) -> Result<Arc<dyn PhysicalExpr>> {
    let node = protobuf::PhysicalExprNode::decode(bytes)
        .map_err(|e| DataFusionError::Internal(format!("bad expression in fragment: {e}")))?;
    parse_physical_expr(&node, ctx, schema, codec)
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
                        let schema = super::scan_schema(&table_schema, spec.merge_order);
                        Some(decode_expr(&bytes, ctx, &schema, self)?)
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
            Envelope::ExchangeSource { spec, schema } => {
                let schema = decode_schema(&schema)?;
                match &self.resolver {
                    Some(r) => r.exchange_source(spec, schema),
                    None => Ok(Arc::new(ExchangeSourceExec::plain(spec, schema))),
                }
            }
            Envelope::ExchangeSink { spec, keys } => {
                let [input] = inputs else {
                    return Err(DataFusionError::Internal(
                        "exchange sink needs exactly one input".into(),
                    ));
                };
                let schema = input.schema();
                let keys = keys
                    .iter()
                    .map(|bytes| decode_expr(bytes, ctx, &schema, self))
                    .collect::<Result<Vec<_>>>()?;
                match &self.resolver {
                    Some(r) => r.exchange_sink(spec, keys, Arc::clone(input)),
                    None => Ok(Arc::new(ExchangeSinkExec::new(
                        spec,
                        keys,
                        Arc::clone(input),
                    ))),
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
        } else if let Some(x) = node.downcast_ref::<ExchangeSourceExec>() {
            Envelope::ExchangeSource {
                spec: x.spec.clone(),
                schema: encode_schema(&x.schema())?,
            }
        } else if let Some(x) = node.downcast_ref::<ExchangeSinkExec>() {
            Envelope::ExchangeSink {
                spec: x.spec.clone(),
                keys: x
                    .keys
                    .iter()
                    .map(|k| Ok(serialize_physical_expr(k, self)?.encode_to_vec()))
                    .collect::<Result<Vec<_>>>()?,
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
