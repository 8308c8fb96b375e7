//! CSV stream-load bodies: Doris's separator notation ([`parse_separator`]), the format
//! options ([`CsvOptions`]) and the streaming [`CsvDecoder`] that splits chunks of the body
//! into lines and fields and appends them to a [`BatchBuilder`].
//!
//! Doris semantics: the field `\N` is NULL, an empty field is an empty string, a line whose
//! field count differs from the schema is a row error, an empty line is one empty field.

use memchr::memmem;

use super::BatchBuilder;

/// The UTF-8 byte order mark, dropped from the start of a body.
const BOM: &[u8] = b"\xEF\xBB\xBF";
/// The text Doris reads as NULL.
const NULL_TEXT: &str = "\\N";

/// The header of a CSV body, from the load's `format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CsvHeader {
    /// `csv`: no header.
    #[default]
    None,
    /// `csv_with_names`: one line of column names.
    Names,
    /// `csv_with_names_and_types`: a names line, then a types line (ignored).
    NamesAndTypes,
}

impl CsvHeader {
    /// The header for a Doris `format` name (`csv`, `csv_with_names`,
    /// `csv_with_names_and_types`, case-insensitive); `None` for other formats.
    pub fn from_format(format: &str) -> Option<Self> {
        match format.to_ascii_lowercase().as_str() {
            "csv" => Some(CsvHeader::None),
            "csv_with_names" => Some(CsvHeader::Names),
            "csv_with_names_and_types" => Some(CsvHeader::NamesAndTypes),
            _ => None,
        }
    }

    /// How many lines the header takes.
    pub fn lines(self) -> usize {
        match self {
            CsvHeader::None => 0,
            CsvHeader::Names => 1,
            CsvHeader::NamesAndTypes => 2,
        }
    }
}

/// How a CSV body is laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvOptions {
    /// Bytes between fields (may be several bytes); empty means the default `\t`.
    pub column_separator: Vec<u8>,
    /// Bytes between lines (may be several bytes, e.g. `\r\n`); empty means the default `\n`.
    pub line_delimiter: Vec<u8>,
    /// A field starting with this byte runs to the matching closing byte and may contain
    /// separators and line delimiters; a doubled enclose byte inside stands for itself.
    pub enclose: Option<u8>,
    /// Inside an enclosed field, this byte before the enclose byte (or before itself) makes
    /// that byte literal; before any other byte it is kept as data.
    pub escape: Option<u8>,
    /// Strip one pair of surrounding `"` from every field.
    pub trim_double_quotes: bool,
    /// Lines skipped at the start of the body, after the header lines.
    pub skip_lines: usize,
    pub header: CsvHeader,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            column_separator: b"\t".to_vec(),
            line_delimiter: b"\n".to_vec(),
            enclose: None,
            escape: None,
            trim_double_quotes: false,
            skip_lines: 0,
            header: CsvHeader::None,
        }
    }
}

/// Decodes Doris's separator notation into bytes: `\x01` (also written `\\x01`, and `X`
/// upper case) is a hex byte and any number of them may appear (`\x01\x02`; a whole value
/// `\x0102` is two bytes, as in Doris); `\t`, `\n`, `\r` and `\\` are the usual controls;
/// everything else is taken literally. An empty value is an error.
pub fn parse_separator(s: &str) -> Result<Vec<u8>, String> {
    if s.is_empty() {
        return Err("separator is empty".to_string());
    }
    let bytes = s.as_bytes();
    // Doris's own form: the whole value is `\x` followed by hex digit pairs.
    let hex_body = strip_hex_prefix(bytes);
    if let Some(hex) = hex_body {
        if !hex.is_empty() && hex.len() % 2 == 0 && hex.iter().all(u8::is_ascii_hexdigit) {
            return Ok(hex.chunks(2).filter_map(|p| hex_byte(p[0], p[1])).collect());
        }
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        if let Some(hex) = strip_hex_prefix(rest) {
            if let (Some(&h), Some(&l)) = (hex.first(), hex.get(1)) {
                if let Some(b) = hex_byte(h, l) {
                    out.push(b);
                    i += rest.len() - hex.len() + 2;
                    continue;
                }
            }
        }
        if rest[0] == b'\\' && rest.len() >= 2 {
            let control = match rest[1] {
                b't' => Some(b'\t'),
                b'n' => Some(b'\n'),
                b'r' => Some(b'\r'),
                b'\\' => Some(b'\\'),
                _ => None,
            };
            if let Some(c) = control {
                out.push(c);
                i += 2;
                continue;
            }
        }
        out.push(rest[0]);
        i += 1;
    }
    Ok(out)
}

/// The bytes after a leading `\x` or `\\x` (either case of `x`).
fn strip_hex_prefix(b: &[u8]) -> Option<&[u8]> {
    let after_slashes = b.strip_prefix(b"\\\\").or_else(|| b.strip_prefix(b"\\"))?;
    after_slashes
        .strip_prefix(b"x")
        .or_else(|| after_slashes.strip_prefix(b"X"))
}

fn hex_byte(h: u8, l: u8) -> Option<u8> {
    let digit = |c: u8| (c as char).to_digit(16);
    Some((digit(h)? * 16 + digit(l)?) as u8)
}

/// A separator or delimiter: a single byte is searched with `memchr`, longer ones with a
/// prebuilt `memmem` finder.
#[derive(Debug)]
enum Needle {
    Byte(u8),
    Bytes(Box<memmem::Finder<'static>>),
}

impl Needle {
    fn new(bytes: &[u8]) -> Self {
        match bytes {
            [b] => Needle::Byte(*b),
            _ => Needle::Bytes(Box::new(memmem::Finder::new(bytes).into_owned())),
        }
    }

    fn len(&self) -> usize {
        match self {
            Needle::Byte(_) => 1,
            Needle::Bytes(f) => f.needle().len(),
        }
    }

    #[inline]
    fn find(&self, hay: &[u8]) -> Option<usize> {
        match self {
            Needle::Byte(b) => memchr::memchr(*b, hay),
            Needle::Bytes(f) => f.find(hay),
        }
    }
}

/// Where the search for the end of the current (incomplete) line resumes; `pos` is
/// relative to the line's first byte, so the state survives moving the line's bytes.
#[derive(Debug, Clone, Copy)]
struct ScanState {
    pos: usize,
    /// Inside an enclosed field (only with `enclose`).
    in_quote: bool,
    /// `pos` is the first byte of a field (only with `enclose`).
    field_start: bool,
}

impl ScanState {
    const LINE_START: ScanState = ScanState {
        pos: 0,
        in_quote: false,
        field_start: true,
    };
}

/// The next line delimiter at or after some position, remembered within one scan.
#[derive(Clone, Copy)]
enum DelimCache {
    Unknown,
    At(usize),
    NoneFrom(usize),
}

/// Streaming CSV parser: feed the body with [`decode`](Self::decode), end with
/// [`finish`](Self::finish).
#[derive(Debug)]
pub struct CsvDecoder {
    num_columns: usize,
    sep: Needle,
    delim: Needle,
    /// The longer of separator and delimiter: a match may straddle a chunk boundary.
    max_needle: usize,
    /// Whether the separator is valid UTF-8: then a line can be validated in one go.
    sep_is_utf8: bool,
    enclose: Option<u8>,
    /// The escape byte, unless it equals the enclose byte (then doubling covers it).
    escape: Option<u8>,
    trim_double_quotes: bool,
    header: CsvHeader,
    /// Header lines still to read, then lines still to skip.
    header_left: usize,
    skip_left: usize,
    header_names: Option<Vec<String>>,
    /// The start of the body was checked for a byte order mark.
    bom_checked: bool,
    /// The incomplete last line of what was fed so far.
    buf: Vec<u8>,
    scan: ScanState,
    /// Field boundaries of the current line (into the line or into `scratch`).
    fields: Vec<(usize, usize)>,
    /// Unescaped field bytes of an enclosed line.
    scratch: Vec<u8>,
}

impl CsvDecoder {
    /// `num_columns`: fields expected per line. An empty separator or delimiter in
    /// `options` falls back to the default (`\t`, `\n`).
    pub fn new(options: CsvOptions, num_columns: usize) -> Self {
        let defaults = CsvOptions::default();
        let sep = if options.column_separator.is_empty() {
            defaults.column_separator
        } else {
            options.column_separator
        };
        let delim = if options.line_delimiter.is_empty() {
            defaults.line_delimiter
        } else {
            options.line_delimiter
        };
        CsvDecoder {
            num_columns,
            max_needle: sep.len().max(delim.len()),
            sep_is_utf8: std::str::from_utf8(&sep).is_ok(),
            sep: Needle::new(&sep),
            delim: Needle::new(&delim),
            enclose: options.enclose,
            escape: options.escape.filter(|&e| Some(e) != options.enclose),
            trim_double_quotes: options.trim_double_quotes,
            header: options.header,
            header_left: options.header.lines(),
            skip_left: options.skip_lines,
            header_names: None,
            bom_checked: false,
            buf: Vec::new(),
            scan: ScanState::LINE_START,
            fields: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Column names from the header line (`csv_with_names*`), once seen.
    pub fn header_names(&self) -> Option<&[String]> {
        self.header_names.as_deref()
    }

    /// Feeds the next chunk of the body; complete lines become rows (or row errors) in
    /// `out`; a partial last line is kept for the next call.
    /// Bytes held for an incomplete line (the caller bounds it: a body whose lines never
    /// end, e.g. a wrong `line_delimiter`, must not grow memory without limit).
    pub fn pending_bytes(&self) -> usize {
        self.buf.len()
    }

    pub fn decode(&mut self, chunk: &[u8], out: &mut BatchBuilder) {
        let mut chunk = chunk;
        if !self.bom_checked {
            // Everything so far is in `buf` (a proper prefix of the BOM) until decided.
            self.buf.extend_from_slice(chunk);
            if self.buf.len() < BOM.len() && BOM.starts_with(&self.buf) {
                return;
            }
            self.bom_checked = true;
            if self.buf.starts_with(BOM) {
                self.buf.drain(..BOM.len());
            }
            chunk = &[];
        }
        let pending = std::mem::take(&mut self.buf);
        self.buf = super::feed_lines(pending, chunk, |data| self.process(data, out));
    }

    /// The body ended: the last line (without a delimiter) becomes a row; an empty
    /// trailing line does not.
    pub fn finish(&mut self, out: &mut BatchBuilder) {
        if !self.bom_checked {
            self.bom_checked = true;
            if self.buf.starts_with(BOM) {
                self.buf.drain(..BOM.len());
            }
        }
        let mut buf = std::mem::take(&mut self.buf);
        if !buf.is_empty() {
            self.handle_line(&buf, out);
        }
        buf.clear();
        self.buf = buf;
        self.scan = ScanState::LINE_START;
    }

    /// Handles every complete line in `data` (which starts at a line start, with
    /// `self.scan` describing how far it was already searched); returns the bytes used.
    fn process(&mut self, data: &[u8], out: &mut BatchBuilder) -> usize {
        let delim_len = self.delim.len();
        let mut start = 0;
        loop {
            let end = if self.enclose.is_some() {
                self.scan_enclosed(data, start)
            } else {
                self.scan_plain(data, start)
            };
            let Some(end) = end else {
                return start;
            };
            self.handle_line(&data[start..end], out);
            self.scan = ScanState::LINE_START;
            start = end + delim_len;
        }
    }

    /// The position of the delimiter ending the line at `start`, or `None` (remembering
    /// where to resume) if `data` holds no complete line.
    #[inline]
    fn scan_plain(&mut self, data: &[u8], start: usize) -> Option<usize> {
        let from = start + self.scan.pos;
        match self.delim.find(&data[from..]) {
            Some(i) => Some(from + i),
            None => {
                let tail = (data.len() - start).saturating_sub(self.delim.len() - 1);
                self.scan.pos = tail.max(self.scan.pos);
                None
            }
        }
    }

    /// Like [`scan_plain`](Self::scan_plain), but delimiters inside enclosed fields do not
    /// end the line.
    fn scan_enclosed(&mut self, data: &[u8], start: usize) -> Option<usize> {
        let Some(q) = self.enclose else {
            return self.scan_plain(data, start);
        };
        let len = data.len();
        let ScanState {
            pos,
            mut in_quote,
            mut field_start,
        } = self.scan;
        let mut p = start + pos;
        let mut delim_cache = DelimCache::Unknown;
        loop {
            if in_quote {
                let hit = match self.escape {
                    Some(e) => memchr::memchr2(q, e, &data[p..]),
                    None => memchr::memchr(q, &data[p..]),
                };
                let Some(i) = hit else {
                    self.scan = ScanState {
                        pos: len - start,
                        in_quote: true,
                        field_start: false,
                    };
                    return None;
                };
                let j = p + i;
                if j + 1 >= len {
                    // Escape or enclose byte last: the next byte decides what it means.
                    self.scan = ScanState {
                        pos: j - start,
                        in_quote: true,
                        field_start: false,
                    };
                    return None;
                }
                if data[j] != q || data[j + 1] == q {
                    // Escaped byte or doubled enclose: data.
                    p = j + 2;
                } else {
                    in_quote = false;
                    p = j + 1;
                }
                continue;
            }
            if field_start {
                if p >= len {
                    self.scan = ScanState {
                        pos: p - start,
                        in_quote: false,
                        field_start: true,
                    };
                    return None;
                }
                field_start = false;
                if data[p] == q {
                    in_quote = true;
                    p += 1;
                    continue;
                }
            }
            let delim_at = match delim_cache {
                DelimCache::At(d) if d >= p => Some(d),
                DelimCache::NoneFrom(from) if from <= p => None,
                _ => {
                    let found = self.delim.find(&data[p..]).map(|i| p + i);
                    delim_cache = found.map_or(DelimCache::NoneFrom(p), DelimCache::At);
                    found
                }
            };
            match self.sep.find(&data[p..delim_at.unwrap_or(len)]) {
                Some(i) => {
                    p += i + self.sep.len();
                    field_start = true;
                }
                None => {
                    if delim_at.is_some() {
                        return delim_at;
                    }
                    let tail = (len - start).saturating_sub(self.max_needle - 1);
                    self.scan = ScanState {
                        pos: tail.max(p - start),
                        in_quote: false,
                        field_start: false,
                    };
                    return None;
                }
            }
        }
    }

    /// One complete line (without its delimiter): a header line, a skipped line or a row.
    fn handle_line(&mut self, line: &[u8], out: &mut BatchBuilder) {
        if self.header_left > 0 {
            let is_names_line = self.header_left == self.header.lines();
            self.header_left -= 1;
            if is_names_line {
                self.read_header_names(line);
            }
            return;
        }
        if self.skip_left > 0 {
            self.skip_left -= 1;
            return;
        }
        let enclosed = self.enclose.is_some();
        if enclosed {
            if let Err(reason) = self.split_enclosed(line) {
                out.push_error(line, reason);
                return;
            }
        } else {
            self.split_plain(line);
        }
        let actual = self.fields.len();
        if actual != self.num_columns {
            let cmp = if actual < self.num_columns {
                "less than"
            } else {
                "more than"
            };
            out.push_error(
                line,
                format!(
                    "actual column number in csv file is {actual}, {cmp} schema column number {}",
                    self.num_columns
                ),
            );
            return;
        }
        let src: &[u8] = if enclosed { &self.scratch } else { line };
        if self.trim_double_quotes {
            trim_quotes(src, &mut self.fields);
        }
        if !append_row(out, src, &self.fields, !enclosed && self.sep_is_utf8) {
            out.push_error(line, "invalid UTF-8");
        }
    }

    fn read_header_names(&mut self, line: &[u8]) {
        let src: &[u8] = if self.enclose.is_some() && self.split_enclosed(line).is_ok() {
            &self.scratch
        } else {
            self.split_plain(line);
            line
        };
        if self.trim_double_quotes {
            trim_quotes(src, &mut self.fields);
        }
        self.header_names = Some(
            self.fields
                .iter()
                .map(|&(a, b)| String::from_utf8_lossy(&src[a..b]).into_owned())
                .collect(),
        );
    }

    /// Field boundaries of a line without enclosure, into `self.fields`.
    #[inline]
    fn split_plain(&mut self, line: &[u8]) {
        self.fields.clear();
        let mut field_start = 0;
        match &self.sep {
            Needle::Byte(b) => {
                for i in memchr::memchr_iter(*b, line) {
                    self.fields.push((field_start, i));
                    field_start = i + 1;
                }
            }
            Needle::Bytes(finder) => {
                let sep_len = finder.needle().len();
                for i in finder.find_iter(line) {
                    self.fields.push((field_start, i));
                    field_start = i + sep_len;
                }
            }
        }
        self.fields.push((field_start, line.len()));
    }

    /// Splits a line that may contain enclosed fields: the unescaped field bytes go to
    /// `self.scratch`, their boundaries (into `scratch`) to `self.fields`.
    fn split_enclosed(&mut self, line: &[u8]) -> Result<(), &'static str> {
        self.fields.clear();
        self.scratch.clear();
        let Some(q) = self.enclose else {
            self.split_plain(line);
            self.scratch.extend_from_slice(line);
            return Ok(());
        };
        let n = line.len();
        let mut i = 0;
        loop {
            let field_start = self.scratch.len();
            if i < n && line[i] == q {
                i += 1;
                loop {
                    let hit = match self.escape {
                        Some(e) => memchr::memchr2(q, e, &line[i..]),
                        None => memchr::memchr(q, &line[i..]),
                    };
                    let Some(k) = hit else {
                        return Err("unterminated enclosed field");
                    };
                    let j = i + k;
                    self.scratch.extend_from_slice(&line[i..j]);
                    if line[j] != q {
                        // The escape byte.
                        let Some(&next) = line.get(j + 1) else {
                            return Err("unterminated enclosed field");
                        };
                        if next != q && next != line[j] {
                            self.scratch.push(line[j]);
                        }
                        self.scratch.push(next);
                        i = j + 2;
                    } else if line.get(j + 1) == Some(&q) {
                        self.scratch.push(q);
                        i = j + 2;
                    } else {
                        i = j + 1;
                        break;
                    }
                }
            }
            // Up to the next separator (after a closing enclose byte, stray bytes are kept).
            match self.sep.find(&line[i..]) {
                Some(k) => {
                    self.scratch.extend_from_slice(&line[i..i + k]);
                    self.fields.push((field_start, self.scratch.len()));
                    i += k + self.sep.len();
                }
                None => {
                    self.scratch.extend_from_slice(&line[i..]);
                    self.fields.push((field_start, self.scratch.len()));
                    return Ok(());
                }
            }
        }
    }
}

/// Drops one pair of surrounding `"` from each field.
fn trim_quotes(src: &[u8], fields: &mut [(usize, usize)]) {
    for f in fields.iter_mut() {
        let (a, b) = *f;
        if b - a >= 2 && src[a] == b'"' && src[b - 1] == b'"' {
            *f = (a + 1, b - 1);
        }
    }
}

/// Appends the fields `src[a..b]` as a row (`\N` is NULL); `false` (nothing appended) if a
/// field is not UTF-8. With `whole`, `src` is validated at once: fine when the bytes
/// between fields are valid UTF-8, since valid pieces joined by valid text stay valid.
#[inline]
fn append_row(out: &mut BatchBuilder, src: &[u8], fields: &[(usize, usize)], whole: bool) -> bool {
    let not_null = |s: &&str| *s != NULL_TEXT;
    if whole {
        let Ok(text) = std::str::from_utf8(src) else {
            return false;
        };
        // Field bounds of valid text split at valid separators are char boundaries.
        out.push_row(fields.iter().map(|&(a, b)| text.get(a..b).filter(not_null)));
    } else {
        if fields
            .iter()
            .any(|&(a, b)| std::str::from_utf8(&src[a..b]).is_err())
        {
            return false;
        }
        out.push_row(
            fields
                .iter()
                .map(|&(a, b)| std::str::from_utf8(&src[a..b]).ok().filter(not_null)),
        );
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::format::RowError;

    type Rows = Vec<Vec<Option<String>>>;

    /// Decodes `body` fed in the given chunks.
    fn decode_chunks(
        opts: &CsvOptions,
        ncols: usize,
        chunks: &[&[u8]],
    ) -> (Rows, Vec<RowError>, Option<Vec<String>>) {
        let mut dec = CsvDecoder::new(opts.clone(), ncols);
        let mut out = BatchBuilder::new(ncols);
        for c in chunks {
            dec.decode(c, &mut out);
        }
        dec.finish(&mut out);
        let (rows, errors) = crate::load::format::take_rows(&mut out);
        (rows, errors, dec.header_names().map(<[String]>::to_vec))
    }

    /// Decodes `body` whole, then checks that every two-chunk split, a three-chunk split
    /// and byte-by-byte feeding give the same result.
    fn decode(
        opts: &CsvOptions,
        ncols: usize,
        body: &[u8],
    ) -> (Rows, Vec<RowError>, Option<Vec<String>>) {
        let whole = decode_chunks(opts, ncols, &[body]);
        for split in 0..=body.len() {
            let got = decode_chunks(opts, ncols, &[&body[..split], &body[split..]]);
            assert_eq!(
                got,
                whole,
                "split at {split} of {:?}",
                String::from_utf8_lossy(body)
            );
        }
        let third = body.len() / 3;
        let got = decode_chunks(
            opts,
            ncols,
            &[&body[..third], &body[third..2 * third], &body[2 * third..]],
        );
        assert_eq!(got, whole, "three chunks");
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        let got = decode_chunks(opts, ncols, &bytes);
        assert_eq!(got, whole, "byte by byte");
        whole
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    fn opts(sep: &str, delim: &str) -> CsvOptions {
        CsvOptions {
            column_separator: parse_separator(sep).expect("sep"),
            line_delimiter: parse_separator(delim).expect("delim"),
            ..CsvOptions::default()
        }
    }

    #[test]
    fn separator_notation() {
        assert_eq!(parse_separator(",").expect("p"), b",");
        assert_eq!(parse_separator("||").expect("p"), b"||");
        assert_eq!(parse_separator("\\t").expect("p"), b"\t");
        assert_eq!(parse_separator("\t").expect("p"), b"\t");
        assert_eq!(parse_separator("\\n").expect("p"), b"\n");
        assert_eq!(parse_separator("\\r\\n").expect("p"), b"\r\n");
        assert_eq!(parse_separator("\\\\").expect("p"), b"\\");
        assert_eq!(parse_separator("\\x01").expect("p"), b"\x01");
        assert_eq!(parse_separator("\\\\x01").expect("p"), b"\x01");
        assert_eq!(parse_separator("\\X1f").expect("p"), b"\x1f");
        assert_eq!(parse_separator("\\x01\\x02").expect("p"), b"\x01\x02");
        assert_eq!(parse_separator("\\x0102").expect("p"), b"\x01\x02");
        assert_eq!(parse_separator("a\\x2cb").expect("p"), b"a,b");
        assert_eq!(parse_separator("\\xzz").expect("p"), b"\\xzz");
        assert_eq!(parse_separator("\\q").expect("p"), b"\\q");
        assert_eq!(parse_separator("é").expect("p"), "é".as_bytes());
        assert!(parse_separator("").is_err());
    }

    #[test]
    fn header_from_format() {
        assert_eq!(CsvHeader::from_format("CSV"), Some(CsvHeader::None));
        assert_eq!(
            CsvHeader::from_format("csv_with_names"),
            Some(CsvHeader::Names)
        );
        assert_eq!(
            CsvHeader::from_format("csv_with_names_and_types"),
            Some(CsvHeader::NamesAndTypes)
        );
        assert_eq!(CsvHeader::from_format("json"), None);
    }

    #[test]
    fn default_tab_separated() {
        let (rows, errors, _) = decode(&CsvOptions::default(), 3, b"1\ta\tx\n2\tb\ty\n");
        assert!(errors.is_empty());
        assert_eq!(
            rows,
            vec![vec![s("1"), s("a"), s("x")], vec![s("2"), s("b"), s("y")]]
        );
    }

    #[test]
    fn last_line_without_delimiter_and_empty_trailing_line() {
        let o = opts(",", "\n");
        let (rows, _, _) = decode(&o, 2, b"1,a\n2,b");
        assert_eq!(rows, vec![vec![s("1"), s("a")], vec![s("2"), s("b")]]);
        let (rows, errors, _) = decode(&o, 2, b"1,a\n2,b\n");
        assert_eq!(rows.len(), 2);
        assert!(errors.is_empty());
        let (rows, errors, _) = decode(&o, 2, b"");
        assert!(rows.is_empty() && errors.is_empty());
    }

    #[test]
    fn multi_byte_separator_and_delimiter() {
        let o = opts("||", "\\r\\n");
        let body = b"1||a|b||\r\n2||||x\r\n3||\r||\n\r\n";
        let (rows, errors, _) = decode(&o, 3, body);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            rows,
            vec![
                vec![s("1"), s("a|b"), s("")],
                vec![s("2"), s(""), s("x")],
                vec![s("3"), s("\r"), s("\n")],
            ]
        );
        // Overlapping needle bytes: "|||" is "||" then "|".
        let (rows, _, _) = decode(&o, 2, b"a|||b\r\n");
        assert_eq!(rows, vec![vec![s("a"), s("|b")]]);
    }

    #[test]
    fn newline_delimiter_keeps_carriage_return() {
        let (rows, _, _) = decode(&opts(",", "\n"), 2, b"1,a\r\n2,b\r\n");
        assert_eq!(rows, vec![vec![s("1"), s("a\r")], vec![s("2"), s("b\r")]]);
    }

    #[test]
    fn hex_separators() {
        let o = opts("\\x01", "\\x02");
        let (rows, _, _) = decode(&o, 2, b"a\x01b\x02c\x01d");
        assert_eq!(rows, vec![vec![s("a"), s("b")], vec![s("c"), s("d")]]);
        let o = opts("\\x01\\x02", "\\n");
        let (rows, _, _) = decode(&o, 3, b"a\x01\x02b\x01\x02\x01\n");
        assert_eq!(rows, vec![vec![s("a"), s("b"), s("\x01")]]);
        // A separator that is not UTF-8 on its own.
        let o = CsvOptions {
            column_separator: vec![0xff],
            ..CsvOptions::default()
        };
        let (rows, errors, _) = decode(&o, 2, b"a\xffb\n\xc3\xff\xa9\n");
        assert_eq!(rows, vec![vec![s("a"), s("b")]]);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].reason, "invalid UTF-8");
    }

    #[test]
    fn null_versus_empty() {
        let (rows, _, _) = decode(&opts(",", "\n"), 4, b"\\N,,N,\\N\\N\n");
        assert_eq!(rows, vec![vec![None, s(""), s("N"), s("\\N\\N")]]);
    }

    #[test]
    fn column_count_errors_keep_other_rows() {
        let body = b"1,2,3\n1,2,3,4,5\n1,2,3,4,5,6\n";
        let (rows, errors, _) = decode(&opts(",", "\n"), 5, body);
        assert_eq!(rows.len(), 1);
        assert_eq!(
            errors,
            vec![
                RowError {
                    line: "1,2,3".into(),
                    reason:
                        "actual column number in csv file is 3, less than schema column number 5"
                            .into()
                },
                RowError {
                    line: "1,2,3,4,5,6".into(),
                    reason:
                        "actual column number in csv file is 6, more than schema column number 5"
                            .into()
                },
            ]
        );
    }

    #[test]
    fn empty_lines() {
        let o = opts(",", "\n");
        let (rows, errors, _) = decode(&o, 1, b"a\n\nb\n\n");
        assert!(errors.is_empty());
        assert_eq!(
            rows,
            vec![vec![s("a")], vec![s("")], vec![s("b")], vec![s("")]]
        );
        let (rows, errors, _) = decode(&o, 2, b"a,b\n\nc,d\n");
        assert_eq!(rows.len(), 2);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, "");
        assert_eq!(
            errors[0].reason,
            "actual column number in csv file is 1, less than schema column number 2"
        );
    }

    #[test]
    fn invalid_utf8_is_a_row_error() {
        let (rows, errors, _) = decode(&opts(",", "\n"), 2, b"a,b\nc,\xff\xfe\nd,\xc3\xa9\n");
        assert_eq!(rows, vec![vec![s("a"), s("b")], vec![s("d"), s("é")]]);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].reason, "invalid UTF-8");
        assert_eq!(errors[0].line, "c,\u{FFFD}\u{FFFD}");
    }

    #[test]
    fn multi_byte_utf8_split_across_chunks() {
        let (rows, errors, _) = decode(&opts("，", "\n"), 2, "中文，数据\n€,x，y\n".as_bytes());
        assert!(errors.is_empty());
        assert_eq!(
            rows,
            vec![vec![s("中文"), s("数据")], vec![s("€,x"), s("y")]]
        );
    }

    fn enclose_opts(sep: &str, delim: &str) -> CsvOptions {
        CsvOptions {
            enclose: Some(b'"'),
            ..opts(sep, delim)
        }
    }

    #[test]
    fn enclosed_fields_hold_separators_delimiters_and_quotes() {
        let o = enclose_opts(",", "\n");
        let body = b"1,\"a,b\",\"x\ny\"\n2,\"say \"\"hi\"\"\",\"\"\n3,plain\"q,\"\\N\"\n";
        let (rows, errors, _) = decode(&o, 3, body);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            rows,
            vec![
                vec![s("1"), s("a,b"), s("x\ny")],
                vec![s("2"), s("say \"hi\""), s("")],
                vec![s("3"), s("plain\"q"), None],
            ]
        );
    }

    #[test]
    fn enclosed_fields_with_multi_byte_needles() {
        let o = enclose_opts("||", "\\r\\n");
        let body = b"\"a||b\r\nc\"||\"\"\"\"\r\n\"x\"||y\r\n\"\"||\"\r\n\"";
        let (rows, errors, _) = decode(&o, 2, body);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            rows,
            vec![
                vec![s("a||b\r\nc"), s("\"")],
                vec![s("x"), s("y")],
                vec![s(""), s("\r\n")],
            ]
        );
    }

    #[test]
    fn enclose_with_escape_byte() {
        let o = CsvOptions {
            escape: Some(b'\\'),
            ..enclose_opts(",", "\n")
        };
        let body = b"\"a\\\"b\",\"c\\\\d\"\n\"e\\nf\",\"g\\\"\n,h\"\n";
        let (rows, errors, _) = decode(&o, 2, body);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            rows,
            vec![vec![s("a\"b"), s("c\\d")], vec![s("e\\nf"), s("g\"\n,h")],]
        );
    }

    #[test]
    fn enclose_stray_bytes_after_closing_quote_and_unterminated_field() {
        let o = enclose_opts(",", "\n");
        let (rows, errors, _) = decode(&o, 2, b"\"a\"b,c\n\"open,x\nmore");
        assert_eq!(rows, vec![vec![s("ab"), s("c")]]);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].reason, "unterminated enclosed field");
        assert_eq!(errors[0].line, "\"open,x\nmore");
    }

    #[test]
    fn trim_double_quotes_strips_one_pair() {
        let o = CsvOptions {
            trim_double_quotes: true,
            ..opts(",", "\n")
        };
        let (rows, _, _) = decode(&o, 5, b"\"a\",\"\"b\"\",\",\"\",c\"\n");
        assert_eq!(
            rows,
            vec![vec![s("a"), s("\"b\""), s("\""), s(""), s("c\"")]]
        );
        let (rows, _, _) = decode(&o, 1, b"\"\\N\"\n");
        assert_eq!(rows, vec![vec![None]]);
    }

    #[test]
    fn skip_lines_and_headers() {
        let o = CsvOptions {
            skip_lines: 2,
            ..opts(",", "\n")
        };
        let (rows, errors, names) = decode(&o, 2, b"junk\nmore junk,,,\n1,a\n2,b\n");
        assert!(errors.is_empty());
        assert_eq!(rows, vec![vec![s("1"), s("a")], vec![s("2"), s("b")]]);
        assert_eq!(names, None);

        let o = CsvOptions {
            header: CsvHeader::Names,
            ..opts(",", "\n")
        };
        let (rows, _, names) = decode(&o, 2, b"id,name\n1,a\n");
        assert_eq!(rows, vec![vec![s("1"), s("a")]]);
        assert_eq!(names, Some(vec!["id".to_string(), "name".to_string()]));

        let o = CsvOptions {
            header: CsvHeader::NamesAndTypes,
            skip_lines: 1,
            enclose: Some(b'"'),
            ..opts(",", "\n")
        };
        let (rows, _, names) = decode(&o, 2, b"\"id\",\"na,me\"\nINT,STRING\nskipped\n1,a\n");
        assert_eq!(rows, vec![vec![s("1"), s("a")]]);
        assert_eq!(names, Some(vec!["id".to_string(), "na,me".to_string()]));
    }

    #[test]
    fn byte_order_mark_is_dropped() {
        let o = CsvOptions {
            header: CsvHeader::Names,
            ..opts(",", "\n")
        };
        let (rows, _, names) = decode(&o, 1, b"\xEF\xBB\xBFid\n1\n");
        assert_eq!(names, Some(vec!["id".to_string()]));
        assert_eq!(rows, vec![vec![s("1")]]);
        // Only a whole BOM at the very start is dropped.
        let (rows, errors, _) = decode(&opts(",", "\n"), 1, b"\xEF\xBB");
        assert!(rows.is_empty());
        assert_eq!(errors[0].reason, "invalid UTF-8");
    }

    #[test]
    fn rows_accumulate_across_takes() {
        let mut dec = CsvDecoder::new(opts(",", "\n"), 1);
        let mut out = BatchBuilder::new(1);
        dec.decode(b"a\nb\nc", &mut out);
        assert_eq!(out.rows(), 2);
        let (rows, _) = crate::load::format::take_rows(&mut out);
        assert_eq!(rows, vec![vec![s("a")], vec![s("b")]]);
        dec.decode(b"d\n", &mut out);
        dec.finish(&mut out);
        let (rows, _) = crate::load::format::take_rows(&mut out);
        assert_eq!(rows, vec![vec![s("cd")]]);
    }

    /// Random bodies made of separator, delimiter, enclose and escape bytes parse the same
    /// whatever the chunking.
    #[test]
    fn random_bodies_are_chunk_invariant() {
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet: &[&[u8]] = &[
            b"a",
            b"b",
            b"|",
            b"||",
            b"\r",
            b"\n",
            b"\r\n",
            b"\"",
            b"\\",
            b"\\N",
            b"\xc3\xa9",
            b"\xff",
        ];
        let configs = [
            (opts("||", "\\r\\n"), 3),
            (enclose_opts("||", "\\r\\n"), 3),
            (
                CsvOptions {
                    escape: Some(b'\\'),
                    trim_double_quotes: true,
                    ..enclose_opts("|", "\\n")
                },
                2,
            ),
        ];
        for (o, ncols) in &configs {
            for _ in 0..200 {
                let len = (next() % 40) as usize;
                let body: Vec<u8> = (0..len)
                    .flat_map(|_| {
                        alphabet[(next() % alphabet.len() as u64) as usize]
                            .iter()
                            .copied()
                    })
                    .collect();
                let whole = decode_chunks(o, *ncols, &[&body]);
                let mut chunks = Vec::new();
                let mut rest: &[u8] = &body;
                while !rest.is_empty() {
                    let n = ((next() % 5) as usize).min(rest.len());
                    chunks.push(&rest[..n]);
                    rest = &rest[n..];
                }
                let got = decode_chunks(o, *ncols, &chunks);
                assert_eq!(
                    got,
                    whole,
                    "{:?} in {chunks:?}",
                    String::from_utf8_lossy(&body)
                );
                let (rows, errors, _) = whole;
                let lines = rows.len() + errors.len();
                assert!(lines <= body.len() + 1);
            }
        }
    }

    /// Synthetic TPC-H lineitem-like rows: 16 '|'-separated fields.
    fn lineitem_body(target_bytes: usize) -> Vec<u8> {
        let mut body = Vec::with_capacity(target_bytes + 256);
        let mut i: u64 = 0;
        while body.len() < target_bytes {
            let line = format!(
                "{}|{}|{}|{}|{}.00|{}.{:02}|0.0{}|0.0{}|N|O|1996-03-{:02}|1996-02-{:02}|1996-03-{:02}|DELIVER IN PERSON|TRUCK|egular courts above the{}|\n",
                i / 4 + 1,
                (i * 7919) % 200_000,
                (i * 31) % 10_000,
                i % 7 + 1,
                i % 50 + 1,
                (i * 13) % 100_000,
                i % 100,
                i % 10,
                i % 9,
                i % 28 + 1,
                i % 28 + 1,
                i % 28 + 1,
                i % 1000,
            );
            body.extend_from_slice(line.as_bytes());
            i += 1;
        }
        body
    }

    #[test]
    #[ignore = "throughput measurement; run with --release --ignored --nocapture"]
    fn throughput_lineitem() {
        let body = lineitem_body(50 << 20);
        let o = opts("|", "\n");
        // The tbl format ends every line with a separator: 17 fields.
        let ncols = 17;
        let start = std::time::Instant::now();
        let mut dec = CsvDecoder::new(o, ncols);
        let mut out = BatchBuilder::new(ncols);
        let mut rows = 0;
        for chunk in body.chunks(64 << 10) {
            dec.decode(chunk, &mut out);
            if out.rows() >= 8192 {
                let batch = out.take();
                assert!(batch.errors.is_empty());
                rows += batch.num_rows;
            }
        }
        dec.finish(&mut out);
        rows += out.take().num_rows;
        let secs = start.elapsed().as_secs_f64();
        println!(
            "csv decode: {} rows, {:.1} MB in {:.3}s = {:.0} MB/s",
            rows,
            body.len() as f64 / 1e6,
            secs,
            body.len() as f64 / 1e6 / secs
        );
        assert!(rows > 0);
    }
}
