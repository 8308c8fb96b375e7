//! A stream load's HTTP headers, read with Doris's names and defaults into a
//! [`LoadRequest`]; a bad header is an `[INVALID_ARGUMENT]` error before any data is read.

use axum::http::HeaderMap;
use doris_common::http::header;

use super::format::csv::{parse_separator, CsvHeader, CsvOptions};
use super::format::json::JsonOptions;

/// Body compression (`compress_type`; `format: csv_gz`-style names are not used by Doris).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Deflate,
    Zstd,
    Lz4Frame,
}

#[derive(Debug, Clone)]
pub enum BodyFormat {
    Csv(CsvOptions),
    Json(JsonOptions),
}

/// One item of the `columns` header: a source column (by position in the file), or a
/// derived column `name = expr`.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnItem {
    Source(String),
    Derived { name: String, expr: String },
}

/// `merge_type` (UNIQUE KEY tables): how loaded rows set the hidden delete sign.
#[derive(Debug, Clone, PartialEq)]
pub enum MergeType {
    /// Rows are written (the default).
    Append,
    /// Every row deletes its key.
    Delete,
    /// Rows matching the `delete` condition delete their key, the others are written.
    Merge(String),
}

#[derive(Debug, Clone)]
pub struct LoadRequest {
    pub merge_type: MergeType,
    /// `partial_columns: true`: a partial column update of a merge-on-write table.
    pub partial_columns: bool,
    pub label: Option<String>,
    pub format: BodyFormat,
    pub compression: Compression,
    pub columns: Vec<ColumnItem>,
    pub where_expr: Option<String>,
    pub max_filter_ratio: f64,
    pub strict_mode: bool,
    pub partitions: Vec<String>,
    pub timeout_s: Option<i64>,
    pub two_phase_commit: bool,
    pub timezone: Option<String>,
}

fn bool_header(headers: &HeaderMap, name: &str) -> Result<bool, String> {
    match header(headers, name).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(false),
        Some(v) if v == "true" => Ok(true),
        Some(v) if v == "false" || v.is_empty() => Ok(false),
        Some(v) => Err(format!("Invalid {name} value: {v}, must be true or false")),
    }
}

/// Splits on commas outside parentheses and quotes.
pub fn split_top_level(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut current = String::new();
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth -= 1,
            (None, ',') if depth == 0 => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.trim().is_empty() || !out.is_empty() {
        out.push(current);
    }
    out
}

fn parse_columns(text: &str) -> Result<Vec<ColumnItem>, String> {
    split_top_level(text)
        .into_iter()
        .map(|item| {
            let item = item.trim();
            let unquote = |s: &str| s.trim().trim_matches('`').to_string();
            match item.split_once('=') {
                Some((name, expr)) if !name.trim().is_empty() && !expr.trim().is_empty() => {
                    Ok(ColumnItem::Derived {
                        name: unquote(name),
                        expr: expr.trim().to_string(),
                    })
                }
                None if !item.is_empty() => Ok(ColumnItem::Source(unquote(item))),
                _ => Err(format!("Invalid columns header item: '{item}'")),
            }
        })
        .collect()
}

/// Headers that change what a load means and are not built: refusing them beats loading
/// something else than asked (a `merge_type: DELETE` appended would be a wrong answer).
/// Each entry: the header and the value that is the default behaviour (accepted).
const UNSUPPORTED: &[(&str, Option<&str>)] = &[
    ("function_column.sequence_col", None),
    ("sequence_col", None),
    ("unique_key_update_mode", Some("upsert")),
    ("hidden_columns", None),
    ("group_commit", Some("off_mode")),
    ("sql", None),
];

impl LoadRequest {
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, String> {
        let get = |name: &str| {
            header(headers, name)
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        for (name, default) in UNSUPPORTED {
            if let Some(v) = get(name) {
                if default.is_none_or(|d| !v.eq_ignore_ascii_case(d)) {
                    return Err(format!("not supported yet: header `{name}: {v}`"));
                }
            }
        }
        let format_name = get("format").unwrap_or("csv").to_ascii_lowercase();
        let format = match format_name.as_str() {
            "csv" | "csv_with_names" | "csv_with_names_and_types" => {
                let mut o = CsvOptions {
                    header: match format_name.as_str() {
                        "csv_with_names" => CsvHeader::Names,
                        "csv_with_names_and_types" => CsvHeader::NamesAndTypes,
                        _ => CsvHeader::None,
                    },
                    ..CsvOptions::default()
                };
                // Separators are taken untrimmed: a space or tab is a valid separator.
                if let Some(sep) = header(headers, "column_separator").filter(|s| !s.is_empty()) {
                    o.column_separator = parse_separator(sep)?;
                }
                if let Some(d) = header(headers, "line_delimiter").filter(|s| !s.is_empty()) {
                    o.line_delimiter = parse_separator(d)?;
                }
                let single_byte = |name: &str| -> Result<Option<u8>, String> {
                    match get(name) {
                        None => Ok(None),
                        Some(v) if v.len() == 1 => Ok(Some(v.as_bytes()[0])),
                        Some(v) => Err(format!("{name} must be a single character, got '{v}'")),
                    }
                };
                o.enclose = single_byte("enclose")?;
                o.escape = single_byte("escape")?;
                o.trim_double_quotes = bool_header(headers, "trim_double_quotes")?;
                if let Some(n) = get("skip_lines") {
                    o.skip_lines = n
                        .parse()
                        .map_err(|_| format!("Invalid skip_lines value: {n}"))?;
                }
                BodyFormat::Csv(o)
            }
            "json" => BodyFormat::Json(JsonOptions {
                jsonpaths: match get("jsonpaths") {
                    None => None,
                    Some(p) => Some(
                        serde_json::from_str::<Vec<String>>(p)
                            .map_err(|e| format!("Invalid jsonpaths: {p}: {e}"))?,
                    ),
                },
                json_root: get("json_root").map(str::to_string),
                strip_outer_array: bool_header(headers, "strip_outer_array")?,
                read_json_by_line: bool_header(headers, "read_json_by_line")?,
                fuzzy_parse: bool_header(headers, "fuzzy_parse")?,
                num_as_string: bool_header(headers, "num_as_string")?,
            }),
            other => {
                return Err(format!(
                    "not supported yet: format '{other}' (csv, csv_with_names, csv_with_names_and_types and json are)"
                ))
            }
        };
        let compression = match get("compress_type").map(str::to_ascii_lowercase).as_deref() {
            None | Some("plain") => Compression::None,
            Some("gz" | "gzip") => Compression::Gzip,
            Some("deflate") => Compression::Deflate,
            Some("zstd" | "zst") => Compression::Zstd,
            Some("lz4" | "lz4frame") => Compression::Lz4Frame,
            Some(other) => {
                return Err(format!(
                    "not supported yet: compress_type '{other}' (gz, deflate, zstd and lz4 are)"
                ))
            }
        };
        if compression != Compression::None && matches!(format, BodyFormat::Json(_)) {
            // Doris only decompresses CSV; say so rather than misreading the body.
            return Err("compress_type is only supported with the csv formats".into());
        }
        let max_filter_ratio = match get("max_filter_ratio") {
            None => 0.0,
            Some(v) => match v.parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => r,
                _ => return Err(format!("Invalid max_filter_ratio: {v}, must be in [0, 1]")),
            },
        };
        let timeout_s = match get("timeout") {
            None => None,
            Some(v) => match v.parse::<i64>() {
                Ok(t) if t > 0 => Some(t),
                _ => return Err(format!("Invalid timeout: {v}")),
            },
        };
        let merge_type = match (
            get("merge_type").map(str::to_ascii_uppercase).as_deref(),
            get("delete"),
        ) {
            (None | Some("APPEND"), None) => MergeType::Append,
            (Some("DELETE"), None) => MergeType::Delete,
            (Some("MERGE"), Some(condition)) => MergeType::Merge(condition.to_string()),
            (Some("MERGE"), None) => {
                return Err("Excepted DELETE ON clause when merge type is MERGE.".into())
            }
            (Some("APPEND" | "DELETE"), Some(_)) | (None, Some(_)) => {
                return Err("not support DELETE ON clause when merge type is not MERGE.".into())
            }
            (Some(other), _) => {
                return Err(format!(
                    "Invalid merge_type: {other} (APPEND, DELETE or MERGE)"
                ))
            }
        };
        Ok(LoadRequest {
            merge_type,
            partial_columns: bool_header(headers, "partial_columns")?,
            label: get("label").map(str::to_string),
            format,
            compression,
            columns: get("columns")
                .map(parse_columns)
                .transpose()?
                .unwrap_or_default(),
            where_expr: get("where").map(str::to_string),
            max_filter_ratio,
            strict_mode: bool_header(headers, "strict_mode")?,
            partitions: get("partitions")
                .or_else(|| get("temporary_partitions"))
                .map(|p| {
                    p.split(',')
                        .map(|s| s.trim().trim_matches('`').to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            timeout_s,
            two_phase_commit: bool_header(headers, "two_phase_commit")?,
            timezone: get("timezone")
                .or_else(|| get("time_zone"))
                .map(str::to_string),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn columns_with_derived_expressions() {
        let r = LoadRequest::from_headers(&headers(&[(
            "columns",
            "k1, tmp, `v` = concat(tmp, ','), w=tmp * 2",
        )]))
        .unwrap();
        assert_eq!(
            r.columns,
            vec![
                ColumnItem::Source("k1".into()),
                ColumnItem::Source("tmp".into()),
                ColumnItem::Derived {
                    name: "v".into(),
                    expr: "concat(tmp, ',')".into()
                },
                ColumnItem::Derived {
                    name: "w".into(),
                    expr: "tmp * 2".into()
                },
            ]
        );
    }

    #[test]
    fn defaults_and_bad_values() {
        let r = LoadRequest::from_headers(&HeaderMap::new()).unwrap();
        assert_eq!(r.max_filter_ratio, 0.0);
        assert!(!r.strict_mode && !r.two_phase_commit);
        assert!(matches!(r.format, BodyFormat::Csv(_)));
        assert!(LoadRequest::from_headers(&headers(&[("max_filter_ratio", "2")])).is_err());
        assert!(LoadRequest::from_headers(&headers(&[("strict_mode", "yes")])).is_err());
        assert!(LoadRequest::from_headers(&headers(&[("format", "orc")])).is_err());
        assert!(LoadRequest::from_headers(&headers(&[("compress_type", "rar")])).is_err());
        let merge = |h: &[(&'static str, &'static str)]| {
            LoadRequest::from_headers(&headers(h)).map(|r| r.merge_type)
        };
        assert_eq!(merge(&[("merge_type", "delete")]), Ok(MergeType::Delete));
        assert_eq!(merge(&[("merge_type", "APPEND")]), Ok(MergeType::Append));
        assert_eq!(
            merge(&[("merge_type", "MERGE"), ("delete", "v = 1")]),
            Ok(MergeType::Merge("v = 1".into()))
        );
        assert!(merge(&[("merge_type", "MERGE")]).is_err());
        assert!(merge(&[("delete", "v = 1")]).is_err());
        assert!(merge(&[("merge_type", "UPSERT")]).is_err());
        let e = LoadRequest::from_headers(&headers(&[("hidden_columns", "x")])).unwrap_err();
        assert!(e.contains("not supported yet"), "{e}");
        assert!(
            LoadRequest::from_headers(&headers(&[("partial_columns", "true")]))
                .unwrap()
                .partial_columns
        );
        assert!(LoadRequest::from_headers(&headers(&[("group_commit", "async_mode")])).is_err());
        let r = LoadRequest::from_headers(&headers(&[
            ("compress_type", "GZ"),
            ("partitions", "p1, p2"),
            ("timeout", "30"),
        ]))
        .unwrap();
        assert_eq!(r.compression, Compression::Gzip);
        assert_eq!(r.partitions, vec!["p1", "p2"]);
        assert_eq!(r.timeout_s, Some(30));
    }
}
