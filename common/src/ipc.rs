//! Arrow IPC framing of result batches streamed from a BE fragment to its consumer.
//! Each message is a self-contained IPC stream: [`encode`] writes one, [`decode`] reads it.

use std::io::Cursor;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::record_batch::RecordBatch;

/// Encodes `schema` and, if given, one batch.
pub fn encode(schema: &SchemaRef, batch: Option<&RecordBatch>) -> Result<Vec<u8>, ArrowError> {
    let mut buf = Vec::new();
    {
        let mut w = StreamWriter::try_new(&mut buf, schema)?;
        if let Some(b) = batch {
            w.write(b)?;
        }
        w.finish()?;
    }
    Ok(buf)
}

/// Decodes one message into its schema and batches.
pub fn decode(bytes: &[u8]) -> Result<(SchemaRef, Vec<RecordBatch>), ArrowError> {
    let reader = StreamReader::try_new(Cursor::new(bytes), None)?;
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>()?;
    Ok((schema, batches))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int32Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    #[test]
    fn round_trip() {
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int32, true)]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(Int32Array::from(vec![Some(1), None]))],
        )
        .expect("batch");
        let (s, b) = decode(&encode(&schema, Some(&batch)).expect("enc")).expect("dec");
        assert_eq!(s, schema);
        assert_eq!(b, vec![batch]);
        let (_, none) = decode(&encode(&schema, None).expect("enc")).expect("dec");
        assert!(none.is_empty());
    }
}
