//! Reading tablets: turns a [`ScanSpec`] into DataFusion's Parquet scan over the segment
//! files visible at each tablet's version, with projection, predicate pushdown (row-group
//! zone maps, page index, late materialization) and limit. Entry: [`TabletResolver`].

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::physical_plan::{ExecutionPlan, PhysicalExpr};
use doris_common::fragment::{ScanSpec, SinkSpec, StorageResolver};

use super::sink::TabletSinkExec;
use crate::storage::StorageEngine;

/// Resolves scan and sink specs against this BE's [`StorageEngine`].
#[derive(Debug)]
pub struct TabletResolver {
    pub engine: Arc<StorageEngine>,
}

impl StorageResolver for TabletResolver {
    fn scan(
        &self,
        spec: ScanSpec,
        table_schema: SchemaRef,
        predicate: Option<Arc<dyn PhysicalExpr>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let partitions = spec.output_partitions.max(1);
        let mut groups: Vec<Vec<PartitionedFile>> = vec![Vec::new(); partitions];
        let mut next = 0usize;
        for read in &spec.tablets {
            let tablet = self.engine.tablet(read.tablet_id)?;
            for seg in tablet.segments_at(read.version) {
                let path = seg.path.to_string_lossy().into_owned();
                groups[next % partitions].push(PartitionedFile::new(path, seg.size));
                next += 1;
            }
        }
        let mut source = ParquetSource::new(Arc::clone(&table_schema))
            .with_enable_page_index(true)
            .with_pushdown_filters(true);
        if let Some(p) = predicate {
            source = source.with_predicate(p);
        }
        let config =
            FileScanConfigBuilder::new(ObjectStoreUrl::local_filesystem(), Arc::new(source))
                .with_file_groups(groups.into_iter().map(FileGroup::new).collect())
                .with_projection_indices(spec.projection.clone())?
                .with_limit(spec.limit)
                .build();
        Ok(DataSourceExec::from_data_source(config))
    }

    fn sink(
        &self,
        spec: SinkSpec,
        input: Arc<dyn ExecutionPlan>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(TabletSinkExec::new(
            Arc::clone(&self.engine),
            spec,
            input,
        )))
    }
}
