//! JSON stream-load bodies: the format options ([`JsonOptions`]), Doris's jsonpaths subset
//! and the [`JsonDecoder`] that turns objects into rows of text fields.
//!
//! With `read_json_by_line` every line is a document, parsed as soon as it is complete;
//! otherwise the whole body is one document, parsed at [`JsonDecoder::finish`]. A document
//! (after `json_root`) is an object, i.e. one row, or with `strip_outer_array` an array of
//! objects. Values become text: strings their content, numbers their JSON text as written
//! (no digits lost, `1.50` stays `1.50`), `true`/`false` the words `true`/`false`, `null`
//! or a missing key NULL, objects and arrays their compact JSON text.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::BatchBuilder;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How a JSON body is laid out (the stream-load headers of the same names).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JsonOptions {
    /// One path per column (see [`JsonDecoder::new`]); `None`: look columns up by name.
    pub jsonpaths: Option<Vec<String>>,
    /// A path (e.g. `$.data`) selecting the part of each document that holds the rows.
    pub json_root: Option<String>,
    /// A document is an array whose elements (objects) are the rows.
    pub strip_outer_array: bool,
    /// Every line of the body is a document.
    pub read_json_by_line: bool,
    /// Accepted and ignored: a speed hint in Doris (all objects share one key order).
    pub fuzzy_parse: bool,
    /// Accepted; numbers always keep their JSON text, so this changes nothing.
    pub num_as_string: bool,
}

/// Parses the `jsonpaths` header value, a JSON array of path strings such as
/// `["$.id", "$.info.name"]`.
pub fn parse_jsonpaths(header: &str) -> Result<Vec<String>, String> {
    serde_json::from_str::<Vec<String>>(header)
        .map_err(|e| format!("Invalid jsonpaths {header:?}: {e}"))
}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Parses the supported jsonpath subset: `$`, `$.a`, `$.a.b`, `$."a.b"`, `$['a']`,
/// `$["a"]`, `$.a[0]`.
fn parse_path(path: &str) -> Result<Vec<Step>, String> {
    let err = |what: &str| format!("Invalid json path {path:?}: {what}");
    let trimmed = path.trim();
    let Some(rest) = trimmed.strip_prefix('$') else {
        return Err(err("must start with '$'"));
    };
    let b = rest.as_bytes();
    let mut steps = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' => {
                i += 1;
                if matches!(b.get(i), Some(b'"' | b'\'')) {
                    let (key, next) = quoted(rest, i).ok_or_else(|| err("unclosed quote"))?;
                    steps.push(Step::Key(key));
                    i = next;
                } else {
                    let end = b[i..]
                        .iter()
                        .position(|&c| c == b'.' || c == b'[')
                        .map_or(b.len(), |p| i + p);
                    let key = &rest[i..end];
                    if key.is_empty() || key == "*" {
                        return Err(err("empty or wildcard key"));
                    }
                    steps.push(Step::Key(key.to_string()));
                    i = end;
                }
            }
            b'[' => {
                i += 1;
                if matches!(b.get(i), Some(b'"' | b'\'')) {
                    let (key, next) = quoted(rest, i).ok_or_else(|| err("unclosed quote"))?;
                    steps.push(Step::Key(key));
                    i = next;
                } else {
                    let end = b[i..]
                        .iter()
                        .position(|&c| c == b']')
                        .map(|p| i + p)
                        .ok_or_else(|| err("unclosed '['"))?;
                    let index = rest[i..end]
                        .trim()
                        .parse::<usize>()
                        .map_err(|_| err("array index must be a number"))?;
                    steps.push(Step::Index(index));
                    i = end;
                }
                if b.get(i) != Some(&b']') {
                    return Err(err("expected ']'"));
                }
                i += 1;
            }
            _ => return Err(err("expected '.' or '['")),
        }
    }
    Ok(steps)
}

/// The text of a quoted key starting at `rest[i]` (the quote) and the index after it.
fn quoted(rest: &str, i: usize) -> Option<(String, usize)> {
    let quote = rest.as_bytes()[i];
    let len = rest.as_bytes()[i + 1..].iter().position(|&c| c == quote)?;
    Some((rest[i + 1..i + 1 + len].to_string(), i + 1 + len + 1))
}

/// A parsed JSON value, one level deep: members and elements stay unparsed text.
enum Node<'a> {
    Object(Vec<(Cow<'a, str>, &'a RawValue)>),
    Array(Vec<&'a RawValue>),
    Scalar,
}

impl<'de> Deserialize<'de> for Node<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'de>, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some((key, value)) = map.next_entry::<Text<'de>, &'de RawValue>()? {
            entries.push((key.0, value));
        }
        Ok(Node::Object(entries))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(8));
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node<'de>, E> {
        Ok(Node::Scalar)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node<'de>, E> {
        Ok(Node::Scalar)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node<'de>, E> {
        Ok(Node::Scalar)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node<'de>, E> {
        Ok(Node::Scalar)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Node<'de>, E> {
        Ok(Node::Scalar)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node<'de>, E> {
        Ok(Node::Scalar)
    }
}

/// A JSON string, borrowed from the input when it has no escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Owned(v.to_string())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Owned(v)))
    }
}

/// The text a value loads as (see the module doc); `None` for `null`.
fn value_text(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'"') => match serde_json::from_str::<Text>(text) {
            Ok(t) => Some(t.0),
            // Unreachable for text serde_json already accepted; keep the raw text.
            Err(_) => Some(Cow::Borrowed(text)),
        },
        Some(b'n') => None,
        Some(b'{' | b'[') => Some(compact(text)),
        // Numbers as written, `true`, `false`.
        _ => Some(Cow::Borrowed(text)),
    }
}

/// Valid JSON text without the whitespace outside strings.
fn compact(text: &str) -> Cow<'_, str> {
    let is_ws = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r');
    if !text.bytes().any(is_ws) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else if c.is_ascii() && is_ws(c as u8) {
            continue;
        }
        out.push(c);
    }
    Cow::Owned(out)
}

/// The member or element `step` selects in `raw`, if `raw` is an object or array.
fn step_into<'a>(raw: &'a RawValue, step: &Step) -> Option<&'a RawValue> {
    let node: Node<'a> = serde_json::from_str(raw.get()).ok()?;
    match (node, step) {
        (Node::Object(entries), Step::Key(key)) => {
            entries.into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
        }
        (Node::Array(items), Step::Index(i)) => items.get(*i).copied(),
        _ => None,
    }
}

/// What `path` selects in the object `entries` (whose text is `text`): `None` if nothing,
/// `Some(None)` for a JSON null.
fn lookup_path<'a>(
    text: &'a str,
    entries: &[(Cow<'a, str>, &'a RawValue)],
    path: &[Step],
) -> Option<Option<Cow<'a, str>>> {
    let Some((first, rest)) = path.split_first() else {
        return Some(Some(compact(text)));
    };
    let Step::Key(key) = first else {
        return None;
    };
    let mut cur = entries.iter().find(|(k, _)| k == key)?.1;
    for step in rest {
        cur = step_into(cur, step)?;
    }
    Some(value_text(cur))
}

/// Streaming JSON parser: feed the body with [`decode`](Self::decode), end with
/// [`finish`](Self::finish).
#[derive(Debug)]
pub struct JsonDecoder {
    columns: Vec<String>,
    paths: Option<Vec<Vec<Step>>>,
    root: Option<Vec<Step>>,
    strip_outer_array: bool,
    by_line: bool,
    /// The incomplete last line (by line), or the whole body so far.
    buf: Vec<u8>,
    /// How far `buf` was already searched for a newline.
    scan_pos: usize,
    /// The next document is the first of the body (may start with a BOM).
    at_body_start: bool,
}

impl JsonDecoder {
    /// `columns`: source column names; with jsonpaths, the i-th path feeds the i-th column
    /// (an error if the counts differ). Without jsonpaths a column takes the member with
    /// its exact name, else one whose name matches ignoring ASCII case.
    pub fn new(options: JsonOptions, columns: Vec<String>) -> Result<Self, String> {
        let paths = match &options.jsonpaths {
            Some(paths) => {
                if paths.len() != columns.len() {
                    return Err(format!(
                        "jsonpaths has {} paths but there are {} columns",
                        paths.len(),
                        columns.len()
                    ));
                }
                Some(
                    paths
                        .iter()
                        .map(|p| parse_path(p))
                        .collect::<Result<Vec<_>, _>>()?,
                )
            }
            None => None,
        };
        let root = match options.json_root.as_deref().map(str::trim) {
            Some(r) if !r.is_empty() => Some(parse_path(r)?),
            _ => None,
        };
        Ok(JsonDecoder {
            columns,
            paths,
            root,
            strip_outer_array: options.strip_outer_array,
            by_line: options.read_json_by_line,
            buf: Vec::new(),
            scan_pos: 0,
            at_body_start: true,
        })
    }

    /// Feeds the next chunk of the body: by line, complete lines become rows (or row
    /// errors) in `out`; otherwise the chunk is kept until [`finish`](Self::finish).
    /// Bytes held for an incomplete line, or for the whole document when not by line.
    pub fn pending_bytes(&self) -> usize {
        self.buf.len()
    }

    pub fn decode(&mut self, chunk: &[u8], out: &mut BatchBuilder) {
        if !self.by_line {
            self.buf.extend_from_slice(chunk);
            return;
        }
        let pending = std::mem::take(&mut self.buf);
        self.buf = super::feed_lines(pending, chunk, |data| self.process_lines(data, out));
    }

    /// The body ended: parses the last line, or the whole body.
    pub fn finish(&mut self, out: &mut BatchBuilder) {
        let mut buf = std::mem::take(&mut self.buf);
        self.handle_document(&buf, out);
        buf.clear();
        self.buf = buf;
        self.scan_pos = 0;
    }

    /// Handles the complete lines of `data` (which starts at a line start); returns the
    /// bytes used.
    fn process_lines(&mut self, data: &[u8], out: &mut BatchBuilder) -> usize {
        let mut start = 0;
        loop {
            let from = start + self.scan_pos;
            let Some(i) = memchr::memchr(b'\n', &data[from..]) else {
                self.scan_pos = data.len() - start;
                return start;
            };
            self.scan_pos = 0;
            self.handle_document(&data[start..from + i], out);
            start = from + i + 1;
        }
    }

    /// One document: a line, or the whole body. Blank documents are skipped.
    fn handle_document(&mut self, doc: &[u8], out: &mut BatchBuilder) {
        let mut doc = doc;
        if self.at_body_start {
            self.at_body_start = false;
            doc = doc.strip_prefix(BOM).unwrap_or(doc);
        }
        let doc = doc.trim_ascii();
        if doc.is_empty() {
            return;
        }
        let Ok(text) = std::str::from_utf8(doc) else {
            out.push_error(doc, "Parse json data failed: invalid UTF-8");
            return;
        };
        let node: Node = match serde_json::from_str(text) {
            Ok(node) => node,
            Err(e) => {
                out.push_error(doc, format!("Parse json data failed: {e}"));
                return;
            }
        };
        let (text, node) = match &self.root {
            None => (text, node),
            Some(root) => match select_root(node, root) {
                Some(selected) => selected,
                None => {
                    out.push_error(doc, "JSON Root not found.");
                    return;
                }
            },
        };
        match node {
            Node::Object(entries) if !self.strip_outer_array => {
                self.emit_object(text, &entries, out);
            }
            Node::Object(_) => out.push_error(
                text.as_bytes(),
                "JSON data is not an array-object, `strip_outer_array` must be FALSE.",
            ),
            Node::Array(items) if self.strip_outer_array => {
                for item in items {
                    match serde_json::from_str::<Node>(item.get()) {
                        Ok(Node::Object(entries)) => self.emit_object(item.get(), &entries, out),
                        _ => out.push_error(
                            item.get().as_bytes(),
                            "JSON data is not an object: an element of the outer array must be an object",
                        ),
                    }
                }
            }
            Node::Array(_) => out.push_error(
                text.as_bytes(),
                "JSON data is array-object, `strip_outer_array` must be TRUE.",
            ),
            Node::Scalar => out.push_error(
                text.as_bytes(),
                "JSON data is not an object or an array-object",
            ),
        }
    }

    /// Appends one row from an object, or a row error if no column is found in it.
    fn emit_object(
        &self,
        text: &str,
        entries: &[(Cow<'_, str>, &RawValue)],
        out: &mut BatchBuilder,
    ) {
        let mut values: Vec<Option<Cow<'_, str>>> = Vec::with_capacity(self.columns.len());
        let mut found_any = false;
        match &self.paths {
            Some(paths) => {
                for path in paths {
                    let value = lookup_path(text, entries, path);
                    found_any |= value.is_some();
                    values.push(value.flatten());
                }
            }
            None => {
                for (i, name) in self.columns.iter().enumerate() {
                    // Members usually come in column order: try the same position first.
                    let member = entries
                        .get(i)
                        .filter(|(k, _)| k == name)
                        .or_else(|| entries.iter().find(|(k, _)| k == name))
                        .or_else(|| entries.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)));
                    found_any |= member.is_some();
                    values.push(member.and_then(|(_, raw)| value_text(raw)));
                }
            }
        }
        if !found_any && !self.columns.is_empty() {
            out.push_error(
                text.as_bytes(),
                "All fields is null, this is a invalid row.",
            );
            return;
        }
        out.push_row(values.iter().map(|v| v.as_deref()));
    }
}

/// The value `root` selects in a document, with its text; `None` if it selects nothing.
fn select_root<'a>(node: Node<'a>, root: &[Step]) -> Option<(&'a str, Node<'a>)> {
    let (first, rest) = root.split_first()?;
    let mut cur = match (node, first) {
        (Node::Object(entries), Step::Key(key)) => entries.into_iter().find(|(k, _)| k == key)?.1,
        (Node::Array(items), Step::Index(i)) => *items.get(*i)?,
        _ => return None,
    };
    for step in rest {
        cur = step_into(cur, step)?;
    }
    let node = serde_json::from_str(cur.get()).ok()?;
    Some((cur.get(), node))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::format::RowError;

    type Rows = Vec<Vec<Option<String>>>;

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    fn cols(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    fn decode_chunks(
        opts: &JsonOptions,
        columns: &[&str],
        chunks: &[&[u8]],
    ) -> (Rows, Vec<RowError>) {
        let mut dec = JsonDecoder::new(opts.clone(), cols(columns)).expect("decoder");
        let mut out = BatchBuilder::new(columns.len());
        for c in chunks {
            dec.decode(c, &mut out);
        }
        dec.finish(&mut out);
        crate::load::format::take_rows(&mut out)
    }

    /// Decodes whole, and checks every two-chunk split and byte-by-byte feeding agree.
    fn decode(opts: &JsonOptions, columns: &[&str], body: &str) -> (Rows, Vec<RowError>) {
        let body = body.as_bytes();
        let whole = decode_chunks(opts, columns, &[body]);
        for split in 0..=body.len() {
            let got = decode_chunks(opts, columns, &[&body[..split], &body[split..]]);
            assert_eq!(got, whole, "split at {split}");
        }
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(decode_chunks(opts, columns, &bytes), whole, "byte by byte");
        whole
    }

    fn by_line() -> JsonOptions {
        JsonOptions {
            read_json_by_line: true,
            ..JsonOptions::default()
        }
    }

    #[test]
    fn single_object_document() {
        let (rows, errors) = decode(
            &JsonOptions::default(),
            &["id", "name", "score"],
            "{\"id\": 1, \"name\": \"a\\\"b\", \"score\": 1.50}",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(rows, vec![vec![s("1"), s("a\"b"), s("1.50")]]);
    }

    #[test]
    fn array_needs_strip_outer_array() {
        let body = "[{\"id\": 1}, {\"id\": 2}, 3, {\"id\": null}]";
        let (rows, errors) = decode(&JsonOptions::default(), &["id"], body);
        assert!(rows.is_empty());
        assert_eq!(
            errors[0].reason,
            "JSON data is array-object, `strip_outer_array` must be TRUE."
        );
        let strip = JsonOptions {
            strip_outer_array: true,
            ..JsonOptions::default()
        };
        let (rows, errors) = decode(&strip, &["id"], body);
        assert_eq!(rows, vec![vec![s("1")], vec![s("2")], vec![None]]);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, "3");
        let (rows, errors) = decode(&strip, &["id"], "{\"id\": 1}");
        assert!(rows.is_empty());
        assert_eq!(
            errors[0].reason,
            "JSON data is not an array-object, `strip_outer_array` must be FALSE."
        );
    }

    #[test]
    fn by_line_loads_good_lines_and_counts_bad_ones() {
        let body = "{\"a\": 1, \"b\": \"x\"}\n{\"a\": 2, \"b\"\n\n  \r\n{\"a\": 3}\r\n[1]\n\"str\"\n{\"a\": 4, \"b\": \"y\"}";
        let (rows, errors) = decode(&by_line(), &["a", "b"], body);
        assert_eq!(
            rows,
            vec![
                vec![s("1"), s("x")],
                vec![s("3"), None],
                vec![s("4"), s("y")],
            ]
        );
        assert_eq!(errors.len(), 3);
        assert_eq!(errors[0].line, "{\"a\": 2, \"b\"");
        assert!(
            errors[0].reason.starts_with("Parse json data failed: "),
            "{}",
            errors[0].reason
        );
        assert_eq!(
            errors[1].reason,
            "JSON data is array-object, `strip_outer_array` must be TRUE."
        );
        assert_eq!(
            errors[2].reason,
            "JSON data is not an object or an array-object"
        );
    }

    #[test]
    fn by_line_with_arrays() {
        let opts = JsonOptions {
            strip_outer_array: true,
            ..by_line()
        };
        let body = "[{\"k\": 1}, {\"k\": 2}]\n[]\n[{\"k\": 3}]\n";
        let (rows, errors) = decode(&opts, &["k"], body);
        assert!(errors.is_empty());
        assert_eq!(rows, vec![vec![s("1")], vec![s("2")], vec![s("3")]]);
    }

    #[test]
    fn value_texts() {
        let body = r#"{"i": -12, "big": 123456789012345678901234567890, "dec": 12345678901234567.890123,
            "e": 1.5E+3, "t": true, "f": false, "n": null, "o": {"x": [1, 2.50, "a b"], "y": {}},
            "arr": [ 1 , { "z" : null } ], "u": "\u00e9\t", "empty": ""}"#;
        let columns = [
            "i", "big", "dec", "e", "t", "f", "n", "o", "arr", "u", "empty", "missing",
        ];
        let (rows, errors) = decode(&JsonOptions::default(), &columns, body);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            rows,
            vec![vec![
                s("-12"),
                s("123456789012345678901234567890"),
                s("12345678901234567.890123"),
                s("1.5E+3"),
                s("true"),
                s("false"),
                None,
                s(r#"{"x":[1,2.50,"a b"],"y":{}}"#),
                s(r#"[1,{"z":null}]"#),
                s("é\t"),
                s(""),
                None,
            ]]
        );
    }

    #[test]
    fn keys_exact_first_then_case_insensitive() {
        let (rows, _) = decode(
            &by_line(),
            &["Name", "id", "AGE"],
            "{\"name\": \"lower\", \"Name\": \"exact\", \"ID\": 7, \"age\": 3}\n{\"NAME\": \"upper\"}",
        );
        assert_eq!(
            rows,
            vec![
                vec![s("exact"), s("7"), s("3")],
                vec![s("upper"), None, None],
            ]
        );
    }

    #[test]
    fn no_column_found_is_a_row_error() {
        let (rows, errors) = decode(&by_line(), &["a", "b"], "{}\n{\"c\": 1}\n{\"b\": null}");
        assert_eq!(rows, vec![vec![None, None]]);
        assert_eq!(errors.len(), 2);
        assert_eq!(
            errors[0].reason,
            "All fields is null, this is a invalid row."
        );
        assert_eq!(errors[1].line, "{\"c\": 1}");
    }

    #[test]
    fn jsonpaths_select_values() {
        let opts = JsonOptions {
            jsonpaths: Some(
                parse_jsonpaths(
                    r#"["$.id", "$.info.name", "$['info']['tags'][1]", "$.info.tags[5]", "$", "$.info", "$.Id"]"#,
                )
                .expect("paths"),
            ),
            ..by_line()
        };
        let body = r#"{"id": 1, "info": {"name": "a", "tags": ["x", "y"]}}"#;
        let (rows, errors) = decode(&opts, &["c1", "c2", "c3", "c4", "c5", "c6", "c7"], body);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            rows,
            vec![vec![
                s("1"),
                s("a"),
                s("y"),
                None,
                s(r#"{"id":1,"info":{"name":"a","tags":["x","y"]}}"#),
                s(r#"{"name":"a","tags":["x","y"]}"#),
                None,
            ]]
        );
    }

    #[test]
    fn jsonpaths_errors() {
        let opts = |paths: &[&str]| JsonOptions {
            jsonpaths: Some(paths.iter().map(|p| p.to_string()).collect()),
            ..JsonOptions::default()
        };
        assert!(JsonDecoder::new(opts(&["$.a"]), cols(&["a", "b"])).is_err());
        assert!(JsonDecoder::new(opts(&["a"]), cols(&["a"])).is_err());
        assert!(JsonDecoder::new(opts(&["$.a[x]"]), cols(&["a"])).is_err());
        assert!(JsonDecoder::new(opts(&["$['a"]), cols(&["a"])).is_err());
        assert!(JsonDecoder::new(opts(&["$."]), cols(&["a"])).is_err());
        assert!(parse_jsonpaths("[\"$.a\",").is_err());
        assert_eq!(
            parse_path("$.\"a.b\"[2].c").expect("path"),
            vec![
                Step::Key("a.b".into()),
                Step::Index(2),
                Step::Key("c".into())
            ]
        );
        assert_eq!(parse_path(" $ ").expect("path"), vec![]);
    }

    #[test]
    fn json_root_selects_the_rows() {
        let opts = JsonOptions {
            json_root: Some("$.data".into()),
            strip_outer_array: true,
            ..JsonOptions::default()
        };
        let body = r#"{"meta": 1, "data": [{"k": "a"}, {"k": "b"}]}"#;
        let (rows, errors) = decode(&opts, &["k"], body);
        assert!(errors.is_empty());
        assert_eq!(rows, vec![vec![s("a")], vec![s("b")]]);

        let opts = JsonOptions {
            json_root: Some("$.payload.item".into()),
            ..by_line()
        };
        let body = "{\"payload\": {\"item\": {\"k\": 1}}}\n{\"other\": 2}\n";
        let (rows, errors) = decode(&opts, &["k"], body);
        assert_eq!(rows, vec![vec![s("1")]]);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].reason, "JSON Root not found.");
    }

    #[test]
    fn whole_body_errors_and_bom() {
        let (rows, errors) = decode(&JsonOptions::default(), &["a"], "{\"a\": 1} {\"a\": 2}");
        assert!(rows.is_empty());
        assert!(errors[0].reason.starts_with("Parse json data failed: "));
        let (rows, errors) = decode(&JsonOptions::default(), &["a"], "\u{feff}{\"a\": 1}\n");
        assert!(errors.is_empty());
        assert_eq!(rows, vec![vec![s("1")]]);
        let (rows, errors) = decode(&JsonOptions::default(), &["a"], "  \n");
        assert!(rows.is_empty() && errors.is_empty());
        let mut out = BatchBuilder::new(1);
        let mut dec = JsonDecoder::new(by_line(), cols(&["a"])).expect("decoder");
        dec.decode(b"{\"a\": \"\xff\"}\n{\"a\": 2}\n", &mut out);
        dec.finish(&mut out);
        let batch = out.take();
        assert_eq!(batch.num_rows, 1);
        assert_eq!(
            batch.errors[0].reason,
            "Parse json data failed: invalid UTF-8"
        );
    }
}
