//! Parsers that turn a load body (CSV or JSON) into batches of raw text fields.
//!
//! The decoders ([`csv::CsvDecoder`], [`json::JsonDecoder`]) are fed the body chunk by chunk
//! and append rows to a [`BatchBuilder`]; [`BatchBuilder::take`] hands out a [`RawBatch`] of
//! text columns (cast to the table's types later) together with the rows rejected while
//! parsing. A rejected row never aborts the parse.

pub mod csv;
pub mod json;

use datafusion::arrow::array::{StringArray, StringBuilder};

/// How much of a rejected row's source text is kept in a [`RowError`].
pub const MAX_ERROR_LINE_BYTES: usize = 1024;

/// The most text bytes per column a builder reserves up front after a [`BatchBuilder::take`].
const MAX_PRESIZE_BYTES: usize = 64 << 20;

/// A row the parser rejected: the source text (truncated to ~1 KiB) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: String,
    pub reason: String,
}

impl RowError {
    /// Keeps at most [`MAX_ERROR_LINE_BYTES`] of `line` (cut at a character boundary,
    /// invalid UTF-8 replaced by U+FFFD).
    pub fn new(line: &[u8], reason: impl Into<String>) -> Self {
        let mut end = line.len().min(MAX_ERROR_LINE_BYTES);
        if end < line.len() {
            // Back up over UTF-8 continuation bytes so a character is not cut in half.
            let mut back = 0;
            while end > 0 && back < 3 && (line[end] & 0xC0) == 0x80 {
                end -= 1;
                back += 1;
            }
        }
        RowError {
            line: String::from_utf8_lossy(&line[..end]).into_owned(),
            reason: reason.into(),
        }
    }
}

/// One decoding step of a line-based decoder: `process` runs over the pending partial line
/// followed by `chunk` (straight over `chunk` when nothing is pending, to avoid a copy) and
/// returns how many bytes it consumed; the rest is the new pending partial line.
pub(crate) fn feed_lines(
    mut pending: Vec<u8>,
    chunk: &[u8],
    process: impl FnOnce(&[u8]) -> usize,
) -> Vec<u8> {
    if pending.is_empty() {
        let used = process(chunk);
        pending.extend_from_slice(&chunk[used..]);
    } else {
        pending.extend_from_slice(chunk);
        let used = process(&pending);
        pending.drain(..used);
    }
    pending
}

/// Test helper: takes `out`'s batch as rows of optional strings and its row errors.
#[cfg(test)]
pub(crate) fn take_rows(out: &mut BatchBuilder) -> (Vec<Vec<Option<String>>>, Vec<RowError>) {
    use datafusion::arrow::array::Array;
    let batch = out.take();
    let rows = (0..batch.num_rows)
        .map(|r| {
            batch
                .columns
                .iter()
                .map(|c| (!c.is_null(r)).then(|| c.value(r).to_string()))
                .collect()
        })
        .collect();
    (rows, batch.errors)
}

/// Parsed rows as text columns (one `StringArray` per source column, NULL where the source
/// said NULL) plus the rows rejected while parsing.
#[derive(Debug)]
pub struct RawBatch {
    pub columns: Vec<StringArray>,
    pub num_rows: usize,
    pub errors: Vec<RowError>,
}

/// Accumulates rows into per-column `StringBuilder`s; [`take`](Self::take) returns a
/// [`RawBatch`] and starts over.
///
/// Rows are appended whole ([`push_row`](Self::push_row)), so the builders never hold a
/// partial row: a decoder checks a row's field count before appending it.
#[derive(Debug)]
pub struct BatchBuilder {
    builders: Vec<StringBuilder>,
    num_rows: usize,
    errors: Vec<RowError>,
}

impl BatchBuilder {
    pub fn new(num_columns: usize) -> Self {
        BatchBuilder {
            builders: (0..num_columns).map(|_| StringBuilder::new()).collect(),
            num_rows: 0,
            errors: Vec::new(),
        }
    }

    pub fn num_columns(&self) -> usize {
        self.builders.len()
    }

    /// Rows appended since the last [`take`](Self::take).
    pub fn rows(&self) -> usize {
        self.num_rows
    }

    /// Rows rejected since the last [`take`](Self::take).
    pub fn error_count(&self) -> usize {
        self.errors.len()
    }

    /// Bytes of text held in the builders; a `StringArray` holds at most 2 GiB, so callers
    /// should [`take`](Self::take) well before that.
    pub fn data_bytes(&self) -> usize {
        self.builders.iter().map(|b| b.values_slice().len()).sum()
    }

    /// Appends one row: the i-th item goes to column i, `None` is NULL.
    ///
    /// `fields` should yield exactly [`num_columns`](Self::num_columns) items (decoders check
    /// the count first and report a [`RowError`] otherwise); to keep the columns aligned
    /// anyway, missing trailing items become NULL and extra items are ignored.
    #[inline]
    pub fn push_row<'a, I>(&mut self, fields: I)
    where
        I: IntoIterator<Item = Option<&'a str>>,
    {
        let mut fields = fields.into_iter();
        for builder in &mut self.builders {
            match fields.next() {
                Some(Some(value)) => builder.append_value(value),
                Some(None) | None => builder.append_null(),
            }
        }
        self.num_rows += 1;
    }

    /// Records a rejected row (see [`RowError::new`]).
    pub fn push_error(&mut self, line: &[u8], reason: impl Into<String>) {
        self.errors.push(RowError::new(line, reason));
    }

    /// Returns the rows and errors gathered so far and resets the builder.
    ///
    /// The builders are then pre-sized like the batch just taken (growing them row by row
    /// costs about as much as parsing does).
    pub fn take(&mut self) -> RawBatch {
        let rows = self.num_rows;
        let columns = self
            .builders
            .iter_mut()
            .map(|b| {
                let bytes = b.values_slice().len();
                let array = b.finish();
                let data_capacity = (bytes + bytes / 8).min(MAX_PRESIZE_BYTES);
                *b = StringBuilder::with_capacity(rows, data_capacity);
                array
            })
            .collect();
        self.num_rows = 0;
        RawBatch {
            columns,
            num_rows: rows,
            errors: std::mem::take(&mut self.errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Array;

    #[test]
    fn builder_rows_nulls_and_reset() {
        let mut b = BatchBuilder::new(2);
        b.push_row([Some("a"), None]);
        b.push_row([Some(""), Some("x")]);
        b.push_error(b"bad", "why");
        assert_eq!(b.rows(), 2);
        assert_eq!(b.error_count(), 1);
        let batch = b.take();
        assert_eq!(batch.num_rows, 2);
        assert_eq!(batch.columns[0].value(0), "a");
        assert!(batch.columns[1].is_null(0));
        assert_eq!(batch.columns[0].value(1), "");
        assert!(!batch.columns[0].is_null(1));
        assert_eq!(batch.errors[0].line, "bad");
        assert_eq!(batch.errors[0].reason, "why");
        assert_eq!(b.rows(), 0);
        assert_eq!(b.error_count(), 0);
        b.push_row([Some("z")]); // short row: padded with NULL
        let batch = b.take();
        assert_eq!(batch.num_rows, 1);
        assert_eq!(batch.columns[0].len(), 1);
        assert!(batch.columns[1].is_null(0));
    }

    #[test]
    fn decoders_can_move_between_threads() {
        fn assert_send<T: Send>() {}
        assert_send::<BatchBuilder>();
        assert_send::<RawBatch>();
        assert_send::<csv::CsvDecoder>();
        assert_send::<json::JsonDecoder>();
    }

    #[test]
    fn error_line_is_truncated_at_char_boundary() {
        let line = "é".repeat(1000); // 2000 bytes
        let e = RowError::new(line.as_bytes(), "r");
        assert_eq!(e.line.len(), MAX_ERROR_LINE_BYTES);
        assert!(e.line.chars().all(|c| c == 'é'));
        let line = format!("a{}", "é".repeat(1000)); // boundary falls mid-character
        let e = RowError::new(line.as_bytes(), "r");
        assert_eq!(e.line.len(), MAX_ERROR_LINE_BYTES - 1);
        assert!(!e.line.contains('\u{FFFD}'));
    }
}
