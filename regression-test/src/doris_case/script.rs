//! Parsing of a `caseNN.sql` file into the [`Step`]s the runner executes.
//! [`split_sql`] cuts the text into statements and comments; [`parse_case`] reads the markers.
//!
//! Statements end at `;` outside quotes (`'…'`, `"…"`, `` `…` ``, with backslash escapes in the
//! first two) and outside comments (`-- ` and `#` to end of line, `/* … */`). Line comments are
//! removed from statement text (as the mysql client does); block comments are kept (they may
//! be optimizer hints).

use std::fmt;

/// A piece of a SQL script, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A line comment; `text` is what follows `--` or `#`, trimmed.
    Comment { line: usize, text: String },
    /// A statement without its terminating `;`, trimmed; `line` is where its code starts.
    Statement { line: usize, sql: String },
}

/// Splits a script into statements and line comments (see the module docs for the rules).
pub fn split_sql(text: &str) -> Vec<Item> {
    let chars: Vec<char> = text.chars().collect();
    let mut items = Vec::new();
    let mut sql = String::new();
    let mut has_code = false;
    let mut start_line = 1;
    let mut line = 1;
    let mut i = 0;

    let flush = |items: &mut Vec<Item>, sql: &mut String, has_code: &mut bool, start: usize| {
        if *has_code {
            items.push(Item::Statement {
                line: start,
                sql: sql.trim().to_string(),
            });
        }
        sql.clear();
        *has_code = false;
    };

    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let is_dash_comment =
            c == '-' && next == Some('-') && chars.get(i + 2).is_none_or(|c| c.is_whitespace());
        if is_dash_comment || c == '#' {
            let skip = if c == '#' { 1 } else { 2 };
            let mut j = i + skip;
            while j < chars.len() && chars[j] != '\n' {
                j += 1;
            }
            let comment: String = chars[i + skip..j].iter().collect();
            items.push(Item::Comment {
                line,
                text: comment.trim().to_string(),
            });
            i = j; // the newline itself is handled as ordinary whitespace
            continue;
        }
        if c == '/' && next == Some('*') {
            let mut j = i + 2;
            while j < chars.len() && !(chars[j] == '*' && chars.get(j + 1) == Some(&'/')) {
                j += 1;
            }
            let end = (j + 2).min(chars.len());
            for &ch in &chars[i..end] {
                if ch == '\n' {
                    line += 1;
                }
                sql.push(ch);
            }
            i = end;
            continue;
        }
        if c == '\'' || c == '"' || c == '`' {
            if !has_code {
                has_code = true;
                start_line = line;
            }
            sql.push(c);
            let mut j = i + 1;
            while j < chars.len() {
                let ch = chars[j];
                sql.push(ch);
                if ch == '\n' {
                    line += 1;
                }
                if ch == '\\' && c != '`' {
                    if let Some(&escaped) = chars.get(j + 1) {
                        sql.push(escaped);
                        if escaped == '\n' {
                            line += 1;
                        }
                        j += 2;
                        continue;
                    }
                }
                j += 1;
                if ch == c {
                    break;
                }
            }
            i = j;
            continue;
        }
        if c == ';' {
            flush(&mut items, &mut sql, &mut has_code, start_line);
            i += 1;
            continue;
        }
        if c == '\n' {
            line += 1;
        }
        if !c.is_whitespace() && !has_code {
            has_code = true;
            start_line = line;
        }
        // Whitespace before the first code is dropped unless a block comment precedes it.
        if has_code || !sql.is_empty() {
            sql.push(c);
        }
        i += 1;
    }
    flush(&mut items, &mut sql, &mut has_code, start_line);
    items
}

/// What a SQL statement is expected to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Setup: must simply succeed.
    Success,
    /// `-- @query <tag> ordered|sorted`: compare with the next `.expected` block.
    Query { tag: String, sorted: bool },
    /// `-- @expect_error <substring>`: must fail with a message containing the substring.
    Error(String),
}

/// One HTTP call of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpCall {
    /// `-- @streamload db=.. table=.. file=.. [label=..]` plus `-- @header name: value` lines.
    StreamLoad {
        db: String,
        table: String,
        file: String,
        /// Request headers in file order (`label` first when given as an argument).
        headers: Vec<(String, String)>,
    },
    /// `-- @stream_load_2pc db=.. table=.. label=.. txn_operation=..`: every argument other
    /// than `db`/`table` becomes a header.
    StreamLoad2pc {
        db: String,
        table: String,
        headers: Vec<(String, String)>,
    },
}

/// A step of a case, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Sql {
        line: usize,
        sql: String,
        expect: Expect,
    },
    Http {
        line: usize,
        call: HttpCall,
        /// `-- @expect_json K=V ...` assertions on the JSON answer.
        expect_json: Vec<(String, String)>,
    },
    /// `-- @explain contains=".." not_contains=".."` with the (commented) EXPLAIN after it.
    Explain {
        line: usize,
        sql: String,
        contains: Vec<String>,
        not_contains: Vec<String>,
    },
}

/// A malformed case file: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

fn err<T>(line: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        line,
        message: message.into(),
    })
}

/// An `@explain` marker waiting for its EXPLAIN statement.
struct PendingExplain {
    line: usize,
    contains: Vec<String>,
    not_contains: Vec<String>,
    /// Text of a commented EXPLAIN collected so far (it may span several comment lines).
    sql: Option<String>,
}

/// Reads the markers of a case script and pairs them with the statements they describe.
pub fn parse_case(text: &str) -> Result<Vec<Step>, ParseError> {
    let mut parser = CaseParser::default();
    for item in split_sql(text) {
        match item {
            Item::Statement { line, sql } => parser.statement(line, sql)?,
            Item::Comment { line, text } => match text.strip_prefix('@') {
                Some(marker) => parser.marker(line, marker)?,
                None => parser.comment(&text),
            },
        }
    }
    parser.finish()
}

/// State of [`parse_case`] between items.
#[derive(Default)]
struct CaseParser {
    steps: Vec<Step>,
    /// `@query`/`@expect_error` waiting for its statement.
    pending: Option<(usize, Expect)>,
    explain: Option<PendingExplain>,
    /// True while `@header` lines may still extend the last `@streamload`.
    headers_open: bool,
}

impl CaseParser {
    fn statement(&mut self, line: usize, sql: String) -> Result<(), ParseError> {
        self.headers_open = false;
        if let Some(p) = self.explain.take() {
            if p.sql.is_some() {
                return err(p.line, "commented EXPLAIN after @explain has no final `;`");
            }
            if !starts_with_word(&sql, "explain") {
                return err(p.line, "@explain is not followed by an EXPLAIN statement");
            }
            self.steps.push(Step::Explain {
                line,
                sql,
                contains: p.contains,
                not_contains: p.not_contains,
            });
            return Ok(());
        }
        let expect = self.pending.take().map_or(Expect::Success, |(_, e)| e);
        self.steps.push(Step::Sql { line, sql, expect });
        Ok(())
    }

    /// A plain comment: only relevant as the text of a commented EXPLAIN after `@explain`
    /// (`-- explain select ...;`, possibly over several lines).
    fn comment(&mut self, text: &str) {
        let Some(p) = self.explain.as_mut() else {
            return;
        };
        if p.sql.is_none() && !starts_with_word(text, "explain") {
            return;
        }
        let sql = p.sql.get_or_insert_with(String::new);
        if !sql.is_empty() {
            sql.push('\n');
        }
        sql.push_str(text);
        let Some(done) = sql.strip_suffix(';').map(|s| s.trim().to_string()) else {
            return;
        };
        if let Some(p) = self.explain.take() {
            self.steps.push(Step::Explain {
                line: p.line,
                sql: done,
                contains: p.contains,
                not_contains: p.not_contains,
            });
        }
    }

    /// `marker` is the comment text after `@`.
    fn marker(&mut self, line: usize, marker: &str) -> Result<(), ParseError> {
        let (name, rest) = marker
            .split_once(char::is_whitespace)
            .map_or((marker, ""), |(n, r)| (n, r.trim()));
        if name != "header" {
            self.headers_open = false;
        }
        if name != "query" && name != "expect_error" {
            if let Some((l, _)) = &self.pending {
                let msg = format!("marker is not followed by a statement (found @{name} first)");
                return err(*l, msg);
            }
        }
        match name {
            "query" => {
                let args: Vec<&str> = rest.split_whitespace().collect();
                let sorted = match args.as_slice() {
                    [_, "ordered"] => false,
                    [_, "sorted"] => true,
                    _ => {
                        let msg =
                            format!("expected `@query <tag> ordered|sorted`, got `@{marker}`");
                        return err(line, msg);
                    }
                };
                let tag = args[0].to_string();
                self.set_pending(line, Expect::Query { tag, sorted })
            }
            "expect_error" => {
                if rest.is_empty() {
                    return err(line, "@expect_error needs a message substring");
                }
                self.set_pending(line, Expect::Error(rest.to_string()))
            }
            "streamload" => self.streamload(line, rest),
            "header" => self.header(line, rest),
            "stream_load_2pc" => {
                let mut args = parse_kv(rest, line)?;
                let db = take_arg(&mut args, "db", line)?;
                let table = take_arg(&mut args, "table", line)?;
                if !args.iter().any(|(k, _)| k == "txn_operation") {
                    return err(line, "@stream_load_2pc needs txn_operation=commit|abort");
                }
                let call = HttpCall::StreamLoad2pc {
                    db,
                    table,
                    headers: args,
                };
                self.push_http(line, call);
                Ok(())
            }
            "expect_json" => {
                let Some(Step::Http { expect_json, .. }) = self.steps.last_mut() else {
                    return err(line, "@expect_json must follow an HTTP marker");
                };
                expect_json.extend(parse_kv(rest, line)?);
                Ok(())
            }
            "explain" => self.explain_marker(line, rest),
            _ => err(line, format!("unknown marker `@{name}`")),
        }
    }

    fn set_pending(&mut self, line: usize, expect: Expect) -> Result<(), ParseError> {
        if let Some((l, _)) = &self.pending {
            let msg = format!("two markers for one statement (the other is at line {l})");
            return err(line, msg);
        }
        self.pending = Some((line, expect));
        Ok(())
    }

    fn push_http(&mut self, line: usize, call: HttpCall) {
        self.steps.push(Step::Http {
            line,
            call,
            expect_json: Vec::new(),
        });
    }

    fn streamload(&mut self, line: usize, rest: &str) -> Result<(), ParseError> {
        let mut args = parse_kv(rest, line)?;
        let db = take_arg(&mut args, "db", line)?;
        let table = take_arg(&mut args, "table", line)?;
        let file = take_arg(&mut args, "file", line)?;
        let mut headers = Vec::new();
        if let Some(pos) = args.iter().position(|(k, _)| k == "label") {
            headers.push(args.remove(pos));
        }
        if let Some((k, _)) = args.first() {
            return err(line, format!("unknown @streamload argument `{k}`"));
        }
        let call = HttpCall::StreamLoad {
            db,
            table,
            file,
            headers,
        };
        self.push_http(line, call);
        self.headers_open = true;
        Ok(())
    }

    fn header(&mut self, line: usize, rest: &str) -> Result<(), ParseError> {
        let last = self.steps.last_mut().filter(|_| self.headers_open);
        let Some(Step::Http {
            call: HttpCall::StreamLoad { headers, .. },
            ..
        }) = last
        else {
            return err(line, "@header must follow @streamload or another @header");
        };
        let Some((k, v)) = rest.split_once(':') else {
            return err(
                line,
                format!("expected `@header name: value`, got `{rest}`"),
            );
        };
        headers.push((k.trim().to_string(), decode_hex_escapes(v.trim())));
        Ok(())
    }

    fn explain_marker(&mut self, line: usize, rest: &str) -> Result<(), ParseError> {
        let mut contains = Vec::new();
        let mut not_contains = Vec::new();
        for (k, v) in parse_kv(rest, line)? {
            match k.as_str() {
                "contains" => contains.push(v),
                "not_contains" => not_contains.push(v),
                _ => return err(line, format!("unknown @explain argument `{k}`")),
            }
        }
        if self.explain.is_some() {
            return err(line, "two @explain markers without an EXPLAIN between them");
        }
        self.explain = Some(PendingExplain {
            line,
            contains,
            not_contains,
            sql: None,
        });
        Ok(())
    }

    fn finish(self) -> Result<Vec<Step>, ParseError> {
        if let Some((line, _)) = self.pending {
            return err(
                line,
                "marker at the end of the file has no statement after it",
            );
        }
        if let Some(p) = self.explain {
            return err(p.line, "@explain is not followed by an EXPLAIN");
        }
        Ok(self.steps)
    }
}

fn starts_with_word(text: &str, word: &str) -> bool {
    let t = text.trim_start();
    t.len() >= word.len()
        && t[..word.len()].eq_ignore_ascii_case(word)
        && t[word.len()..]
            .chars()
            .next()
            .is_none_or(|c| c.is_whitespace())
}

fn take_arg(
    args: &mut Vec<(String, String)>,
    key: &str,
    line: usize,
) -> Result<String, ParseError> {
    match args.iter().position(|(k, _)| k == key) {
        Some(pos) => Ok(args.remove(pos).1),
        None => err(line, format!("missing argument `{key}=`")),
    }
}

/// `k=v k2="v with spaces"` → pairs in order. Values may be double-quoted.
pub fn parse_kv(text: &str, line: usize) -> Result<Vec<(String, String)>, ParseError> {
    let mut out = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else {
            return err(line, format!("expected `key=value`, found `{rest}`"));
        };
        let key = rest[..eq].trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return err(line, format!("bad key in `{rest}`"));
        }
        let after = &rest[eq + 1..];
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (quoted[..end].to_string(), &quoted[end + 1..]),
                None => return err(line, format!("unterminated quote in `{rest}`")),
            }
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (after[..end].to_string(), &after[end..])
        };
        out.push((key.to_string(), value));
        rest = remaining.trim_start();
    }
    Ok(out)
}

/// Replaces `\xNN` (two hex digits) by the character it codes; other text is unchanged.
pub fn decode_hex_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find("\\x") {
        out.push_str(&rest[..pos]);
        let hex = rest.get(pos + 2..pos + 4);
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(b) => {
                out.push(char::from(b));
                rest = &rest[pos + 4..];
            }
            None => {
                out.push_str("\\x");
                rest = &rest[pos + 2..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stmts(text: &str) -> Vec<String> {
        split_sql(text)
            .into_iter()
            .filter_map(|i| match i {
                Item::Statement { sql, .. } => Some(sql),
                Item::Comment { .. } => None,
            })
            .collect()
    }

    #[test]
    fn splits_on_semicolons_outside_quotes_and_comments() {
        let text = "select 'a;b', \"c;d\", `e;f`;\n-- x; y\nselect 1 # z;\n;/* p; q */ select 2;\nselect 'it\\'s;' ;";
        assert_eq!(
            stmts(text),
            vec![
                "select 'a;b', \"c;d\", `e;f`",
                "select 1",
                "/* p; q */ select 2",
                "select 'it\\'s;'"
            ]
        );
    }

    #[test]
    fn doubled_quotes_and_trailing_statement_without_semicolon() {
        assert_eq!(
            stmts("select 'a''b;c'; select 3"),
            vec!["select 'a''b;c'", "select 3"]
        );
    }

    #[test]
    fn dash_dash_needs_whitespace_and_lines_are_counted() {
        let items = split_sql("select 1--2;\n\n  select\n 2;\n-- c\n");
        assert_eq!(
            items,
            vec![
                Item::Statement {
                    line: 1,
                    sql: "select 1--2".into()
                },
                Item::Statement {
                    line: 3,
                    sql: "select\n 2".into()
                },
                Item::Comment {
                    line: 5,
                    text: "c".into()
                },
            ]
        );
    }

    #[test]
    fn line_comments_inside_statements_are_removed() {
        assert_eq!(
            stmts("select 1, -- one\n 2;"),
            vec!["select 1, \n 2".to_string()]
        );
    }

    #[test]
    fn hash_inside_strings_is_not_a_comment() {
        assert_eq!(
            stmts("insert into t values (1, \"name#1\");"),
            vec!["insert into t values (1, \"name#1\")"]
        );
    }

    #[test]
    fn parses_query_and_error_markers() {
        let text = "CREATE DATABASE d;\n-- @query q1 sorted\nselect 1;\n-- plain comment\n-- @expect_error must not exceed 2147483647\nselect 2;\n-- @query q2 ordered\nselect 3;";
        let steps = parse_case(text).expect("parses");
        assert_eq!(
            steps,
            vec![
                Step::Sql {
                    line: 1,
                    sql: "CREATE DATABASE d".into(),
                    expect: Expect::Success
                },
                Step::Sql {
                    line: 3,
                    sql: "select 1".into(),
                    expect: Expect::Query {
                        tag: "q1".into(),
                        sorted: true
                    }
                },
                Step::Sql {
                    line: 6,
                    sql: "select 2".into(),
                    expect: Expect::Error("must not exceed 2147483647".into())
                },
                Step::Sql {
                    line: 8,
                    sql: "select 3".into(),
                    expect: Expect::Query {
                        tag: "q2".into(),
                        sorted: false
                    }
                },
            ]
        );
    }

    #[test]
    fn parses_stream_load_markers() {
        let text = "-- Not SQL: comment\n\
            -- @streamload db=d table=t file=case22.csv label=l1\n\
            -- @header column_separator: \\x09\n\
            -- @header columns: k1, k2\n\
            -- @expect_json Status=Success NumberTotalRows=2\n\
            -- @stream_load_2pc db=d table=t label=l1 txn_operation=abort\n\
            -- @expect_json status=Success\n\
            -- @query sql ordered\n\
            select * from t;";
        let steps = parse_case(text).expect("parses");
        assert_eq!(steps.len(), 3);
        assert_eq!(
            steps[0],
            Step::Http {
                line: 2,
                call: HttpCall::StreamLoad {
                    db: "d".into(),
                    table: "t".into(),
                    file: "case22.csv".into(),
                    headers: vec![
                        ("label".into(), "l1".into()),
                        ("column_separator".into(), "\t".into()),
                        ("columns".into(), "k1, k2".into()),
                    ],
                },
                expect_json: vec![
                    ("Status".into(), "Success".into()),
                    ("NumberTotalRows".into(), "2".into())
                ],
            }
        );
        assert_eq!(
            steps[1],
            Step::Http {
                line: 6,
                call: HttpCall::StreamLoad2pc {
                    db: "d".into(),
                    table: "t".into(),
                    headers: vec![
                        ("label".into(), "l1".into()),
                        ("txn_operation".into(), "abort".into())
                    ],
                },
                expect_json: vec![("status".into(), "Success".into())],
            }
        );
    }

    #[test]
    fn parses_commented_explain() {
        let text = "-- @explain contains=\"LEFT SEMI JOIN\" not_contains=\"CROSS JOIN\"\n-- explain select * from t where (1 in (select a from u));\n";
        let steps = parse_case(text).expect("parses");
        assert_eq!(
            steps,
            vec![Step::Explain {
                line: 1,
                sql: "explain select * from t where (1 in (select a from u))".into(),
                contains: vec!["LEFT SEMI JOIN".into()],
                not_contains: vec!["CROSS JOIN".into()],
            }]
        );
    }

    #[test]
    fn reports_malformed_markers_with_lines() {
        let e = parse_case("select 1;\n-- @query only_tag\nselect 2;").expect_err("bad");
        assert_eq!(e.line, 2);
        let e = parse_case("-- @query a ordered\n").expect_err("dangling");
        assert_eq!(e.line, 1);
        let e = parse_case("-- @header a: b\n").expect_err("orphan header");
        assert!(e.message.contains("@header"));
        let e = parse_case("-- @frobnicate x=1\n").expect_err("unknown");
        assert!(e.message.contains("unknown marker"));
        let e = parse_case("-- @query a ordered\n-- @streamload db=a table=b file=c\n")
            .expect_err("marker order");
        assert_eq!(e.line, 1);
    }

    #[test]
    fn hex_escapes_decode() {
        assert_eq!(decode_hex_escapes("\\x09"), "\t");
        assert_eq!(decode_hex_escapes("a\\x2Cb\\xZZ"), "a,b\\xZZ");
        assert_eq!(decode_hex_escapes("|"), "|");
    }

    #[test]
    fn kv_arguments_accept_quotes() {
        assert_eq!(
            parse_kv("a=1 b=\"x y\"  c=", 1).expect("parses"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y".into()),
                ("c".into(), String::new())
            ]
        );
        assert!(parse_kv("novalue", 1).is_err());
    }
}
