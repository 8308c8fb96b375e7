//! Parser for the statements the FE executes itself: Doris DDL (CREATE/DROP DATABASE and
//! TABLE, including the full Doris `CREATE TABLE` grammar with keys, partitions,
//! distribution, rollups and properties), SHOW/DESC, ALTER SYSTEM, users and passwords,
//! SET, KILL, transactions and EXPLAIN.
//!
//! Entry points: [`parse_statement`] turns one statement into a [`Statement`]; anything it
//! does not recognise (SELECT, WITH, INSERT, UPDATE, DELETE, VALUES, `(...)`, CREATE VIEW,
//! ...) comes back as [`Statement::Query`] holding the original text for DataFusion to plan.
//! [`split_statements`] splits a multi-statement string on top-level `;`.
//!
//! Tokens come from sqlparser's tokenizer in MySQL dialect (so `"x"` is a string literal and
//! `` `x` `` an identifier); the grammar is a small hand-written cursor over those tokens.
//! Keywords are matched case-insensitively on unquoted words, so a backquoted word is always
//! an identifier.

use datafusion::sql::sqlparser::dialect::MySqlDialect;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, Tokenizer, Word};
use doris_common::types::{ColumnType, MAX_DECIMAL_PRECISION};

use super::ast::{
    AggKind, AlterSystem, AlterTableOp, ColumnDef, ColumnPosition, CreateTable, DefaultValue,
    DistributionDesc, KeysDesc, KeysKind, LoadFilter, PartitionDef, PartitionDesc, PartitionKind,
    PartitionLiteral, PartitionValues, SetAssignment, SetValue, Statement, TableName, TypeDef,
    UserIdent, VarScope,
};

/// Why a statement could not be parsed; the message is meant to be shown to the client.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Malformed (or known but unsupported) syntax, e.g.
    /// `Syntax error near 'xyz': expected ...`.
    #[error("{0}")]
    Syntax(String),
}

type Result<T> = std::result::Result<T, ParseError>;

/// Longest CHAR column Doris allows.
const MAX_CHAR_LEN: u64 = 255;
/// Longest VARCHAR column Doris allows (also the length of a bare `VARCHAR`).
const MAX_VARCHAR_LEN: u64 = 65533;
/// Most fractional-second digits of DATETIME.
const MAX_DATETIME_PRECISION: u64 = 6;
/// Precision of a bare `DECIMAL`, as in Doris.
const DEFAULT_DECIMAL_PRECISION: u64 = 9;

/// First keywords of the statements this parser handles; anything else is a query.
const FE_KEYWORDS: &[&str] = &[
    "ALTER", "BEGIN", "COMMIT", "CREATE", "DESC", "DESCRIBE", "DROP", "EXPLAIN", "KILL",
    "ROLLBACK", "SET", "SHOW", "START", "TRUNCATE", "USE",
];

/// Keywords that start a statement DataFusion plans (what EXPLAIN / `DESC SELECT` wrap).
const QUERY_KEYWORDS: &[&str] = &["SELECT", "WITH", "INSERT", "VALUES", "UPDATE", "DELETE"];

/// Per-column aggregation keywords of AGGREGATE KEY tables.
const AGG_KINDS: &[(&str, AggKind)] = &[
    ("SUM", AggKind::Sum),
    ("MIN", AggKind::Min),
    ("MAX", AggKind::Max),
    ("REPLACE", AggKind::Replace),
    ("REPLACE_IF_NOT_NULL", AggKind::ReplaceIfNotNull),
    ("HLL_UNION", AggKind::HllUnion),
    ("BITMAP_UNION", AggKind::BitmapUnion),
    ("QUANTILE_UNION", AggKind::QuantileUnion),
    ("GENERIC", AggKind::Generic),
];

/// Parses one SQL statement (a trailing `;` and surrounding whitespace/comments are
/// ignored). Statements this module does not handle come back as [`Statement::Query`]
/// with the statement text, for DataFusion to plan.
pub fn parse_statement(sql: &str) -> Result<Statement> {
    let Some(body) = significant_text(sql) else {
        return Err(ParseError::Syntax("Query was empty".to_string()));
    };
    let first = leading_word(body);
    if !FE_KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(first)) {
        return Ok(Statement::Query(body.to_string()));
    }
    let mut parser = Parser::new(body)?;
    match parser.statement()? {
        Some(stmt) => {
            parser.expect_end()?;
            Ok(stmt)
        }
        None => Ok(Statement::Query(body.to_string())),
    }
}

/// Splits `sql` on top-level `;` (outside '…', "…" and `…` quotes and outside `-- `, `#`
/// and `/* */` comments). Each statement is returned without its `;` and without leading
/// and trailing whitespace/comments; statements that are empty or only comments are dropped.
pub fn split_statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    for piece in Pieces::new(sql) {
        match piece.kind {
            PieceKind::Semicolon => {
                if let Some((start, end)) = current.take() {
                    out.push(sql.get(start..end).unwrap_or_default().to_string());
                }
            }
            PieceKind::Code => {
                let start = current.map_or(piece.start, |(start, _)| start);
                current = Some((start, piece.end));
            }
        }
    }
    if let Some((start, end)) = current {
        out.push(sql.get(start..end).unwrap_or_default().to_string());
    }
    out
}

/// The statement without leading/trailing whitespace, comments and trailing `;`s, or `None`
/// when nothing is left.
fn significant_text(sql: &str) -> Option<&str> {
    let mut range: Option<(usize, usize)> = None;
    for piece in Pieces::new(sql) {
        if piece.kind == PieceKind::Code {
            let start = range.map_or(piece.start, |(start, _)| start);
            range = Some((start, piece.end));
        }
    }
    range.and_then(|(start, end)| sql.get(start..end))
}

/// The leading run of word characters (the statement keyword, if any).
fn leading_word(s: &str) -> &str {
    let end = s
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
        .map_or(s.len(), |(i, _)| i);
    s.get(..end).unwrap_or_default()
}

/// Shortens a token's text for an error message.
fn shorten(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", s.get(..i).unwrap_or_default()),
        None => s.to_string(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PieceKind {
    Semicolon,
    /// Anything significant: a run of code characters or one quoted string/identifier.
    Code,
}

#[derive(Debug, Clone, Copy)]
struct Piece {
    start: usize,
    end: usize,
    kind: PieceKind,
}

/// A MySQL-style lexical scan that skips whitespace and comments and yields quoted text,
/// other code and top-level `;` as byte ranges. Every range starts and ends on a char
/// boundary because it is delimited by ASCII bytes or the ends of the input.
struct Pieces<'a> {
    bytes: &'a [u8],
    i: usize,
}

impl<'a> Pieces<'a> {
    fn new(sql: &'a str) -> Self {
        Pieces {
            bytes: sql.as_bytes(),
            i: 0,
        }
    }

    fn byte(&self, i: usize) -> Option<u8> {
        self.bytes.get(i).copied()
    }

    /// `--` starts a comment only when followed by whitespace/control char or the end.
    fn dash_comment_at(&self, i: usize) -> bool {
        self.byte(i) == Some(b'-')
            && self.byte(i + 1) == Some(b'-')
            && self.byte(i + 2).is_none_or(|b| b <= b' ')
    }

    fn block_comment_at(&self, i: usize) -> bool {
        self.byte(i) == Some(b'/') && self.byte(i + 1) == Some(b'*')
    }

    fn starts_special(&self, i: usize) -> bool {
        match self.byte(i) {
            None => true,
            Some(b) if b.is_ascii_whitespace() => true,
            Some(b'#' | b';' | b'\'' | b'"' | b'`') => true,
            Some(_) => self.dash_comment_at(i) || self.block_comment_at(i),
        }
    }

    fn skip_line(&mut self) {
        while let Some(b) = self.byte(self.i) {
            self.i += 1;
            if b == b'\n' {
                break;
            }
        }
    }

    fn skip_quoted(&mut self, quote: u8) {
        let len = self.bytes.len();
        self.i += 1;
        while let Some(b) = self.byte(self.i) {
            if b == b'\\' && quote != b'`' {
                self.i = (self.i + 2).min(len);
            } else if b == quote {
                if self.byte(self.i + 1) == Some(quote) {
                    self.i += 2;
                } else {
                    self.i += 1;
                    return;
                }
            } else {
                self.i += 1;
            }
        }
    }
}

impl Iterator for Pieces<'_> {
    type Item = Piece;

    fn next(&mut self) -> Option<Piece> {
        loop {
            let start = self.i;
            let b = self.byte(start)?;
            if b.is_ascii_whitespace() {
                self.i += 1;
            } else if b == b'#' || self.dash_comment_at(start) {
                self.skip_line();
            } else if self.block_comment_at(start) {
                let rest = self.bytes.get(start + 2..).unwrap_or_default();
                self.i = rest
                    .windows(2)
                    .position(|w| w == b"*/")
                    .map_or(self.bytes.len(), |p| start + 2 + p + 2);
            } else if b == b';' {
                self.i += 1;
                return Some(Piece {
                    start,
                    end: self.i,
                    kind: PieceKind::Semicolon,
                });
            } else if matches!(b, b'\'' | b'"' | b'`') {
                self.skip_quoted(b);
                return Some(Piece {
                    start,
                    end: self.i,
                    kind: PieceKind::Code,
                });
            } else {
                self.i += 1;
                while !self.starts_special(self.i) {
                    self.i += 1;
                }
                return Some(Piece {
                    start,
                    end: self.i,
                    kind: PieceKind::Code,
                });
            }
        }
    }
}

/// Converts sqlparser's (line, column) locations (columns count chars) into byte offsets.
/// Locations must be asked for in non-decreasing order; the walk is linear overall.
struct OffsetMap<'a> {
    src: &'a str,
    line: u64,
    column: u64,
    byte: usize,
}

impl<'a> OffsetMap<'a> {
    fn new(src: &'a str) -> Self {
        OffsetMap {
            src,
            line: 1,
            column: 1,
            byte: 0,
        }
    }

    fn offset(&mut self, loc: Location) -> usize {
        while (self.line, self.column) < (loc.line, loc.column) {
            let Some(ch) = self.src.get(self.byte..).and_then(|s| s.chars().next()) else {
                break;
            };
            self.byte += ch.len_utf8();
            if ch == '\n' {
                self.line += 1;
                self.column = 1;
            } else {
                self.column += 1;
            }
        }
        self.byte
    }
}

/// A significant token with its byte range in the statement text.
#[derive(Debug, Clone)]
struct Tok {
    token: Token,
    start: usize,
    end: usize,
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Tok>,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Result<Self> {
        let dialect = MySqlDialect {};
        let raw = Tokenizer::new(&dialect, src)
            .tokenize_with_location()
            .map_err(|e| ParseError::Syntax(format!("Syntax error: {e}")))?;
        let mut map = OffsetMap::new(src);
        let mut toks = Vec::with_capacity(raw.len());
        for t in raw {
            if matches!(t.token, Token::Whitespace(_) | Token::EOF) {
                continue;
            }
            let start = map.offset(t.span.start);
            let end = map.offset(t.span.end).max(start);
            toks.push(Tok {
                token: t.token,
                start,
                end,
            });
        }
        Ok(Parser { src, toks, pos: 0 })
    }

    // ----- cursor -----

    fn peek_at(&self, n: usize) -> Option<&Token> {
        self.toks.get(self.pos + n).map(|t| &t.token)
    }

    fn peek(&self) -> Option<&Token> {
        self.peek_at(0)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    fn advance(&mut self) {
        if !self.at_end() {
            self.pos += 1;
        }
    }

    fn advance_by(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.toks.len());
    }

    /// The unquoted word `n` tokens ahead.
    fn word_at(&self, n: usize) -> Option<&Word> {
        match self.peek_at(n) {
            Some(Token::Word(w)) if w.quote_style.is_none() => Some(w),
            _ => None,
        }
    }

    /// The keyword `n` tokens ahead, upper-cased.
    fn keyword_at(&self, n: usize) -> Option<String> {
        self.word_at(n).map(|w| w.value.to_ascii_uppercase())
    }

    fn is_kw_at(&self, n: usize, kw: &str) -> bool {
        self.word_at(n)
            .is_some_and(|w| w.value.eq_ignore_ascii_case(kw))
    }

    fn peek_kw(&self, kw: &str) -> bool {
        self.is_kw_at(0, kw)
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        let found = self.peek_kw(kw);
        if found {
            self.advance();
        }
        found
    }

    /// Consumes the keyword sequence `kws` if all of it is next; otherwise consumes nothing.
    fn eat_kws(&mut self, kws: &[&str]) -> bool {
        let found = kws.iter().enumerate().all(|(i, kw)| self.is_kw_at(i, kw));
        if found {
            self.advance_by(kws.len());
        }
        found
    }

    fn expect_kw(&mut self, kw: &str) -> Result<()> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.expected(kw))
        }
    }

    fn expect_kws(&mut self, kws: &[&str]) -> Result<()> {
        for kw in kws {
            self.expect_kw(kw)?;
        }
        Ok(())
    }

    fn peek_tok(&self, t: &Token) -> bool {
        self.peek() == Some(t)
    }

    fn eat_tok(&mut self, t: &Token) -> bool {
        let found = self.peek_tok(t);
        if found {
            self.advance();
        }
        found
    }

    fn expect_tok(&mut self, t: &Token, what: &str) -> Result<()> {
        if self.eat_tok(t) {
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }

    fn expect_lparen(&mut self) -> Result<()> {
        self.expect_tok(&Token::LParen, "'('")
    }

    fn expect_rparen(&mut self) -> Result<()> {
        self.expect_tok(&Token::RParen, "')'")
    }

    fn expect_end(&self) -> Result<()> {
        if self.at_end() {
            Ok(())
        } else {
            Err(self.expected("end of statement"))
        }
    }

    /// Source text of tokens `from..to`.
    fn text_of(&self, from: usize, to: usize) -> &'a str {
        let (Some(first), Some(last)) = (
            self.toks.get(from),
            to.checked_sub(1).and_then(|i| self.toks.get(i)),
        ) else {
            return "";
        };
        self.src
            .get(first.start..last.end.max(first.start))
            .unwrap_or_default()
    }

    /// Source text from the current token to the end, consuming it all.
    fn take_rest(&mut self) -> String {
        let rest = self.text_of(self.pos, self.toks.len()).to_string();
        self.pos = self.toks.len();
        rest
    }

    fn expected(&self, what: &str) -> ParseError {
        match self.toks.get(self.pos) {
            Some(t) => ParseError::Syntax(format!(
                "Syntax error near '{}': expected {what}",
                shorten(self.src.get(t.start..t.end).unwrap_or_default())
            )),
            None => {
                ParseError::Syntax(format!("Syntax error at end of statement: expected {what}"))
            }
        }
    }

    // ----- terminals -----

    /// An identifier: a bare or backquoted word.
    fn ident(&mut self) -> Result<String> {
        match self.peek() {
            Some(Token::Word(w)) => {
                let value = w.value.clone();
                self.advance();
                Ok(value)
            }
            _ => Err(self.expected("identifier")),
        }
    }

    /// A '…' or "…" string literal's content.
    fn string_lit(&mut self) -> Result<String> {
        match self.peek() {
            Some(Token::SingleQuotedString(s) | Token::DoubleQuotedString(s)) => {
                let value = s.clone();
                self.advance();
                Ok(value)
            }
            _ => Err(self.expected("string literal")),
        }
    }

    /// A string literal or a (bare or backquoted) word.
    fn string_or_word(&mut self, what: &str) -> Result<String> {
        match self.peek() {
            Some(
                Token::SingleQuotedString(s)
                | Token::DoubleQuotedString(s)
                | Token::Word(Word { value: s, .. }),
            ) => {
                let value = s.clone();
                self.advance();
                Ok(value)
            }
            _ => Err(self.expected(what)),
        }
    }

    fn u64_lit(&mut self, what: &str) -> Result<u64> {
        if let Some(Token::Number(n, _)) = self.peek() {
            if let Ok(v) = n.parse::<u64>() {
                self.advance();
                return Ok(v);
            }
        }
        Err(self.expected(what))
    }

    /// `[-|+]number` as text, if next.
    fn signed_number(&mut self) -> Option<String> {
        let (sign, n) = match (self.peek(), self.peek_at(1)) {
            (Some(Token::Number(n, _)), _) => ("", n.clone()),
            (Some(Token::Minus), Some(Token::Number(n, _))) => ("-", n.clone()),
            (Some(Token::Plus), Some(Token::Number(n, _))) => ("", n.clone()),
            _ => return None,
        };
        self.advance_by(if matches!(self.peek(), Some(Token::Number(..))) {
            1
        } else {
            2
        });
        Some(format!("{sign}{n}"))
    }

    /// `( ident [, ident]* )`
    fn paren_ident_list(&mut self) -> Result<Vec<String>> {
        self.expect_lparen()?;
        let mut out = vec![self.ident()?];
        while self.eat_tok(&Token::Comma) {
            out.push(self.ident()?);
        }
        self.expect_tok(&Token::RParen, "',' or ')'")?;
        Ok(out)
    }

    /// Skips a balanced `( ... )` group starting at the current `(`.
    fn skip_parens(&mut self) -> Result<()> {
        self.expect_lparen()?;
        let mut depth = 1usize;
        while depth > 0 {
            match self.peek() {
                None => return Err(self.expected("')'")),
                Some(Token::LParen) => depth += 1,
                Some(Token::RParen) => depth -= 1,
                Some(_) => {}
            }
            self.advance();
        }
        Ok(())
    }

    /// `[db.]table`, also `internal.db.table`.
    fn table_name(&mut self) -> Result<TableName> {
        let first = self.ident()?;
        if !self.eat_tok(&Token::Period) {
            return Ok(TableName {
                db: None,
                table: first,
            });
        }
        let second = self.ident()?;
        if !self.eat_tok(&Token::Period) {
            return Ok(TableName {
                db: Some(first),
                table: second,
            });
        }
        let third = self.ident()?;
        check_catalog(&first)?;
        Ok(TableName {
            db: Some(second),
            table: third,
        })
    }

    /// `db` or `internal.db`.
    fn db_name(&mut self) -> Result<String> {
        let first = self.ident()?;
        if self.eat_tok(&Token::Period) {
            let db = self.ident()?;
            check_catalog(&first)?;
            return Ok(db);
        }
        Ok(first)
    }

    /// `'user'[@'host']`, `user@host`, `'user'@host`; host defaults to `%`.
    fn user_ident(&mut self) -> Result<UserIdent> {
        let (user, mut host) = match self.peek() {
            Some(Token::SingleQuotedString(s) | Token::DoubleQuotedString(s)) => (s.clone(), None),
            Some(Token::Word(w)) => match w.value.split_once('@') {
                Some((u, h)) if w.quote_style.is_none() => (u.to_string(), Some(h.to_string())),
                _ => (w.value.clone(), None),
            },
            _ => return Err(self.expected("user name")),
        };
        self.advance();
        if host.is_none() {
            match self.peek() {
                Some(Token::AtSign) => {
                    self.advance();
                    host = Some(String::new());
                }
                Some(Token::Word(w)) if w.quote_style.is_none() => {
                    if let Some(h) = w.value.strip_prefix('@') {
                        host = Some(h.to_string());
                        self.advance();
                    }
                }
                _ => {}
            }
        }
        let host = match host {
            Some(h) if h.is_empty() => self.string_or_word("host")?,
            Some(h) => h,
            None => "%".to_string(),
        };
        Ok(UserIdent { user, host })
    }

    /// `( "k" = "v" [, ...] )`
    fn properties(&mut self) -> Result<Vec<(String, String)>> {
        self.expect_lparen()?;
        let mut out = Vec::new();
        if self.eat_tok(&Token::RParen) {
            return Ok(out);
        }
        loop {
            let key = self.property_text("property name")?;
            self.expect_tok(&Token::Eq, "'='")?;
            let value = self.property_text("property value")?;
            out.push((key, value));
            if !self.eat_tok(&Token::Comma) {
                self.expect_tok(&Token::RParen, "',' or ')'")?;
                return Ok(out);
            }
        }
    }

    fn property_text(&mut self, what: &str) -> Result<String> {
        if let Some(n) = self.signed_number() {
            return Ok(n);
        }
        self.string_or_word(what)
    }

    fn opt_like(&mut self) -> Result<Option<String>> {
        if self.eat_kw("LIKE") {
            Ok(Some(self.string_lit()?))
        } else {
            Ok(None)
        }
    }

    /// `[FROM|IN db]`
    fn opt_from_db(&mut self) -> Result<Option<String>> {
        if self.eat_kw("FROM") || self.eat_kw("IN") {
            Ok(Some(self.db_name()?))
        } else {
            Ok(None)
        }
    }

    fn is_query_start(&self, n: usize) -> bool {
        matches!(self.peek_at(n), Some(Token::LParen))
            || QUERY_KEYWORDS.iter().any(|kw| self.is_kw_at(n, kw))
    }

    // ----- statements -----

    /// `None` means "not ours": the caller passes the text on as a query.
    fn statement(&mut self) -> Result<Option<Statement>> {
        let Some(first) = self.keyword_at(0) else {
            return Ok(None);
        };
        match first.as_str() {
            "CREATE" => self.create(),
            "DROP" => self.drop(),
            "SHOW" => self.show(),
            "USE" => {
                self.advance();
                Ok(Some(Statement::Use {
                    db: self.db_name()?,
                }))
            }
            "DESC" | "DESCRIBE" => self.describe().map(Some),
            "EXPLAIN" => self.explain().map(Some),
            "ALTER" => self.alter(),
            "TRUNCATE" => {
                self.advance();
                self.eat_kw("TABLE");
                let table = self.table_name()?;
                let partitions = self.opt_partition_names()?;
                Ok(Some(Statement::Truncate { table, partitions }))
            }
            "KILL" => self.kill().map(Some),
            "BEGIN" => {
                self.advance();
                self.eat_kw("WORK");
                let label = if self.eat_kws(&["WITH", "LABEL"]) {
                    Some(self.string_or_word("label")?)
                } else {
                    None
                };
                Ok(Some(Statement::Begin { label }))
            }
            "START" => {
                if !self.is_kw_at(1, "TRANSACTION") {
                    return Ok(None);
                }
                self.advance_by(2);
                loop {
                    let known = self.eat_kws(&["WITH", "CONSISTENT", "SNAPSHOT"])
                        || self.eat_kws(&["READ", "ONLY"])
                        || self.eat_kws(&["READ", "WRITE"]);
                    if !known || !self.eat_tok(&Token::Comma) {
                        break;
                    }
                }
                Ok(Some(Statement::Begin { label: None }))
            }
            "COMMIT" | "ROLLBACK" => {
                self.advance();
                self.eat_kw("WORK");
                Ok(Some(if first == "COMMIT" {
                    Statement::Commit
                } else {
                    Statement::Rollback
                }))
            }
            "SET" => self.set().map(Some),
            _ => Ok(None),
        }
    }

    fn create(&mut self) -> Result<Option<Statement>> {
        self.advance();
        if self.peek_kw("DATABASE") || self.peek_kw("SCHEMA") {
            self.advance();
            return self.create_database().map(Some);
        }
        if self.peek_kw("TABLE") || (self.peek_kw("EXTERNAL") && self.is_kw_at(1, "TABLE")) {
            return self.create_table().map(Some);
        }
        if self.eat_kws(&["MATERIALIZED", "VIEW"]) {
            let if_not_exists = self.eat_kws(&["IF", "NOT", "EXISTS"]);
            let name = self.ident()?;
            if self.peek_kw("BUILD")
                || self.peek_kw("REFRESH")
                || self.peek_kw("PARTITION")
                || self.peek_kw("DISTRIBUTED")
            {
                return Err(ParseError::Syntax(
                    "not supported yet: asynchronous materialized views (BUILD / REFRESH); a synchronous one is CREATE MATERIALIZED VIEW mv AS SELECT ... FROM t".to_string(),
                ));
            }
            if self.eat_kw("COMMENT") {
                self.string_lit()?;
            }
            self.expect_kw("AS")?;
            return Ok(Some(Statement::CreateMaterializedView {
                name,
                if_not_exists,
                query: self.take_rest(),
            }));
        }
        if self.eat_kw("USER") {
            let if_not_exists = self.eat_kws(&["IF", "NOT", "EXISTS"]);
            let user = self.user_ident()?;
            let mut password = None;
            if self.eat_kw("IDENTIFIED") {
                self.expect_kw("BY")?;
                if self.peek_kw("PASSWORD") {
                    return Err(ParseError::Syntax(
                        "not supported yet: IDENTIFIED BY PASSWORD with a hashed password; use IDENTIFIED BY 'plain text'".to_string(),
                    ));
                }
                password = Some(self.string_lit()?);
            }
            return Ok(Some(Statement::CreateUser {
                user,
                if_not_exists,
                password,
            }));
        }
        Ok(None)
    }

    fn create_database(&mut self) -> Result<Statement> {
        let if_not_exists = self.eat_kws(&["IF", "NOT", "EXISTS"]);
        let name = self.db_name()?;
        let mut properties = Vec::new();
        loop {
            if self.eat_kw("PROPERTIES") {
                properties = self.properties()?;
                continue;
            }
            // MySQL tools add charset options; they do not change anything here.
            self.eat_kw("DEFAULT");
            if self.eat_kws(&["CHARACTER", "SET"])
                || self.eat_kw("CHARSET")
                || self.eat_kw("COLLATE")
            {
                self.eat_tok(&Token::Eq);
                self.string_or_word("character set or collation name")?;
                continue;
            }
            break;
        }
        Ok(Statement::CreateDatabase {
            name,
            if_not_exists,
            properties,
        })
    }

    fn drop(&mut self) -> Result<Option<Statement>> {
        self.advance();
        if self.eat_kw("DATABASE") || self.eat_kw("SCHEMA") {
            let if_exists = self.eat_kws(&["IF", "EXISTS"]);
            let name = self.db_name()?;
            let force = self.eat_kw("FORCE");
            return Ok(Some(Statement::DropDatabase {
                name,
                if_exists,
                force,
            }));
        }
        if self.eat_kw("TABLE") {
            let if_exists = self.eat_kws(&["IF", "EXISTS"]);
            let table = self.table_name()?;
            let force = self.eat_kw("FORCE");
            return Ok(Some(Statement::DropTable {
                table,
                if_exists,
                force,
            }));
        }
        if self.eat_kw("USER") {
            let if_exists = self.eat_kws(&["IF", "EXISTS"]);
            let user = self.user_ident()?;
            return Ok(Some(Statement::DropUser { user, if_exists }));
        }
        if self.eat_kws(&["MATERIALIZED", "VIEW"]) {
            let if_exists = self.eat_kws(&["IF", "EXISTS"]);
            let name = self.ident()?;
            self.expect_kw("ON")?;
            let table = self.table_name()?;
            return Ok(Some(Statement::DropMaterializedView {
                name,
                table,
                if_exists,
            }));
        }
        Ok(None)
    }

    fn show(&mut self) -> Result<Option<Statement>> {
        self.advance();
        let full = self.eat_kw("FULL");
        let global = if self.eat_kw("GLOBAL") {
            Some(true)
        } else if self.eat_kw("SESSION") || self.eat_kw("LOCAL") {
            Some(false)
        } else {
            None
        };
        let Some(what) = self.keyword_at(0) else {
            return Ok(None);
        };
        let plain = !full && global.is_none();
        let stmt = match what.as_str() {
            "DATABASES" | "SCHEMAS" if plain => {
                self.advance();
                Statement::ShowDatabases {
                    like: self.opt_like()?,
                }
            }
            "TABLES" if global.is_none() => {
                self.advance();
                let db = self.opt_from_db()?;
                let like = self.opt_like()?;
                Statement::ShowTables { db, like, full }
            }
            "COLUMNS" | "FIELDS" if global.is_none() => {
                self.advance();
                if !(self.eat_kw("FROM") || self.eat_kw("IN")) {
                    return Err(self.expected("FROM or IN"));
                }
                let mut table = self.table_name()?;
                if let Some(db) = self.opt_from_db()? {
                    table.db = Some(db);
                }
                if self.eat_kw("LIKE") {
                    let pattern = self.string_lit()?;
                    if pattern != "%" {
                        return Err(ParseError::Syntax(
                            "not supported yet: SHOW COLUMNS ... LIKE with a pattern other than '%'"
                                .to_string(),
                        ));
                    }
                }
                Statement::Describe { table, all: false }
            }
            "CREATE" if plain => {
                if self.is_kw_at(1, "TABLE") {
                    self.advance_by(2);
                    Statement::ShowCreateTable {
                        table: self.table_name()?,
                    }
                } else if self.is_kw_at(1, "DATABASE") || self.is_kw_at(1, "SCHEMA") {
                    self.advance_by(2);
                    Statement::ShowCreateDatabase {
                        name: self.db_name()?,
                    }
                } else {
                    return Ok(None);
                }
            }
            "BACKENDS" if plain => {
                self.advance();
                Statement::ShowBackends
            }
            "FRONTENDS" if plain => {
                self.advance();
                Statement::ShowFrontends
            }
            "PROCESSLIST" if global.is_none() => {
                self.advance();
                Statement::ShowProcesslist { full }
            }
            "QUERY" if self.is_kw_at(1, "PROFILE") => {
                self.advance_by(2);
                // "/" lists the recent profiles; "/<query id>" shows one.
                let path = if self.at_end() {
                    "/".to_string()
                } else {
                    self.string_lit()?
                };
                Statement::ShowQueryProfile { path }
            }
            "VARIABLES" if !full => {
                self.advance();
                Statement::ShowVariables {
                    global: global == Some(true),
                    like: self.show_variables_filter()?,
                }
            }
            "WARNINGS" if plain => {
                self.advance();
                Statement::ShowWarnings
            }
            "ERRORS" if plain => {
                self.advance();
                Statement::ShowErrors
            }
            "ENGINES" if plain => {
                self.advance();
                Statement::ShowEngines
            }
            "CHARSET" if plain => {
                self.advance();
                Statement::ShowCharset
            }
            "CHARACTER" if plain && self.is_kw_at(1, "SET") => {
                self.advance_by(2);
                Statement::ShowCharset
            }
            "COLLATION" if plain => {
                self.advance();
                Statement::ShowCollation {
                    like: self.opt_like()?,
                }
            }
            "LOAD" if plain => {
                self.advance();
                self.show_load(false)?
            }
            "STREAM" if plain && self.is_kw_at(1, "LOAD") => {
                self.advance_by(2);
                self.show_load(true)?
            }
            "TRANSACTION" if plain => {
                self.advance();
                let db = self.opt_from_db()?;
                let (mut id, mut label) = (None, None);
                if self.eat_kw("WHERE") {
                    let column = self.string_or_word("ID or LABEL")?;
                    self.expect_tok(&Token::Eq, "'='")?;
                    if column.eq_ignore_ascii_case("id") {
                        let n = self.u64_lit("transaction id")?;
                        id = Some(i64::try_from(n).map_err(|_| self.expected("a transaction id"))?);
                    } else if column.eq_ignore_ascii_case("label") {
                        label = Some(self.string_or_word("label")?);
                    } else {
                        return Err(ParseError::Syntax(format!(
                            "Where clause should looks like one of them: id = 123 or label = 'label', got {column}"
                        )));
                    }
                }
                Statement::ShowTransaction { db, id, label }
            }
            "PARTITIONS" if plain => {
                self.advance();
                self.show_partitions(false)?
            }
            "TEMPORARY" if plain && self.is_kw_at(1, "PARTITIONS") => {
                self.advance_by(2);
                self.show_partitions(true)?
            }
            "ALTER"
                if plain
                    && self.is_kw_at(1, "TABLE")
                    && (self.is_kw_at(2, "ROLLUP")
                        || (self.is_kw_at(2, "MATERIALIZED") && self.is_kw_at(3, "VIEW"))) =>
            {
                let n = if self.is_kw_at(2, "ROLLUP") { 3 } else { 4 };
                self.advance_by(n);
                Statement::ShowAlterTableMv {
                    db: self.opt_from_db()?,
                }
            }
            "ALTER" if plain && self.is_kw_at(1, "TABLE") && self.is_kw_at(2, "COLUMN") => {
                self.advance_by(3);
                Statement::ShowAlterTableColumn {
                    db: self.opt_from_db()?,
                }
            }
            "TABLETS" if plain => {
                self.advance();
                if !(self.eat_kw("FROM") || self.eat_kw("IN")) {
                    return Err(self.expected("FROM or IN"));
                }
                let table = self.table_name()?;
                let partitions = self.opt_partition_names()?;
                let limit = if self.eat_kw("LIMIT") {
                    Some(self.u64_lit("a limit")?)
                } else {
                    None
                };
                Statement::ShowTablets {
                    table,
                    partitions,
                    limit,
                }
            }
            "TABLET" if plain => {
                self.advance();
                let n = self.u64_lit("a tablet id")?;
                Statement::ShowTablet {
                    id: i64::try_from(n).map_err(|_| self.expected("a tablet id"))?,
                }
            }
            "PROC" if plain => {
                self.advance();
                Statement::ShowProc {
                    path: self.string_lit()?,
                }
            }
            "TABLE" if plain && self.is_kw_at(1, "STATUS") => {
                self.advance_by(2);
                let db = self.opt_from_db()?;
                let like = self.opt_like()?;
                Statement::ShowTableStatus { db, like }
            }
            _ => return Ok(None),
        };
        Ok(Some(stmt))
    }

    /// After `SHOW [STREAM] LOAD`: `[FROM db] [WHERE cond [AND cond]] [ORDER BY ...]
    /// [LIMIT n]` where a cond is `LABEL = 'x'`, `LABEL LIKE 'p'` or `STATE|STATUS = 's'`.
    fn show_load(&mut self, stream: bool) -> Result<Statement> {
        let db = self.opt_from_db()?;
        let mut filter = LoadFilter::default();
        if self.eat_kw("WHERE") {
            loop {
                let column = self.string_or_word("LABEL or STATE")?.to_ascii_lowercase();
                let like = self.eat_kw("LIKE");
                if !like {
                    self.expect_tok(&Token::Eq, "'=' or LIKE")?;
                }
                let value = self.string_or_word("a value")?;
                match (column.as_str(), like) {
                    ("label", false) => filter.label = Some(value),
                    ("label", true) => filter.label_like = Some(value),
                    ("state" | "status", false) => filter.state = Some(value.to_uppercase()),
                    _ => {
                        return Err(ParseError::Syntax(format!(
                            "not supported yet: SHOW LOAD condition on `{column}`"
                        )))
                    }
                }
                if !self.eat_kw("AND") {
                    break;
                }
            }
        }
        if self.eat_kws(&["ORDER", "BY"]) {
            loop {
                self.string_or_word("a column")?;
                let _ = self.eat_kw("ASC") || self.eat_kw("DESC");
                if !self.eat_tok(&Token::Comma) {
                    break;
                }
            }
        }
        let limit = if self.eat_kw("LIMIT") {
            Some(self.u64_lit("a limit")?)
        } else {
            None
        };
        Ok(Statement::ShowLoad {
            db,
            stream,
            filter,
            limit,
        })
    }

    /// After `SHOW [TEMPORARY] PARTITIONS`: `FROM [db.]t [WHERE PartitionName = 'x' |
    /// PartitionName LIKE 'p'] [LIMIT n]`.
    fn show_partitions(&mut self, temporary: bool) -> Result<Statement> {
        if !(self.eat_kw("FROM") || self.eat_kw("IN")) {
            return Err(self.expected("FROM or IN"));
        }
        let table = self.table_name()?;
        let (mut name, mut name_like) = (None, None);
        if self.eat_kw("WHERE") {
            let column = self.string_or_word("PartitionName")?;
            if !column.eq_ignore_ascii_case("PartitionName") {
                return Err(ParseError::Syntax(format!(
                    "not supported yet: SHOW PARTITIONS condition on `{column}` (only PartitionName = or LIKE)"
                )));
            }
            if self.eat_kw("LIKE") {
                name_like = Some(self.string_lit()?);
            } else {
                self.expect_tok(&Token::Eq, "'=' or LIKE")?;
                name = Some(self.string_lit()?);
            }
        }
        if self.peek_kw("ORDER") {
            return Err(ParseError::Syntax(
                "not supported yet: SHOW PARTITIONS ... ORDER BY (partitions are listed in range order)"
                    .to_string(),
            ));
        }
        let limit = if self.eat_kw("LIMIT") {
            Some(self.u64_lit("a limit")?)
        } else {
            None
        };
        Ok(Statement::ShowPartitions {
            table,
            temporary,
            name,
            name_like,
            limit,
        })
    }

    /// `[LIKE 'p' | WHERE Variable_name = 'x' [OR Variable_name = 'y' ...] | WHERE
    /// Variable_name IN (...)]`. A single name becomes a LIKE pattern; several names list
    /// every variable (clients pick what they asked for from the full list).
    fn show_variables_filter(&mut self) -> Result<Option<String>> {
        if self.eat_kw("LIKE") {
            return Ok(Some(self.string_lit()?));
        }
        if !self.eat_kw("WHERE") {
            return Ok(None);
        }
        self.expect_variable_name_column()?;
        if self.eat_kw("IN") {
            self.expect_lparen()?;
            self.string_lit()?;
            while self.eat_tok(&Token::Comma) {
                self.string_lit()?;
            }
            self.expect_tok(&Token::RParen, "',' or ')'")?;
            return Ok(None);
        }
        self.expect_tok(&Token::Eq, "'=' or IN")?;
        let name = self.string_lit()?;
        if !self.peek_kw("OR") {
            return Ok(Some(name));
        }
        while self.eat_kw("OR") {
            self.expect_variable_name_column()?;
            self.expect_tok(&Token::Eq, "'='")?;
            self.string_lit()?;
        }
        Ok(None)
    }

    fn expect_variable_name_column(&mut self) -> Result<()> {
        match self.peek() {
            Some(Token::Word(w)) if w.value.eq_ignore_ascii_case("Variable_name") => {
                self.advance();
                Ok(())
            }
            _ => Err(self.expected("Variable_name")),
        }
    }

    fn describe(&mut self) -> Result<Statement> {
        self.advance();
        let mut n = 0;
        while self.is_kw_at(n, "VERBOSE") || self.is_kw_at(n, "ANALYZE") {
            n += 1;
        }
        if self.is_query_start(n) {
            return self.explain_body();
        }
        let table = self.table_name()?;
        let all = self.eat_kw("ALL");
        Ok(Statement::Describe { table, all })
    }

    fn explain(&mut self) -> Result<Statement> {
        self.advance();
        self.explain_body()
    }

    /// `[VERBOSE|ANALYZE]... statement` after EXPLAIN / DESC.
    fn explain_body(&mut self) -> Result<Statement> {
        let (mut verbose, mut analyze) = (false, false);
        loop {
            if self.eat_kw("VERBOSE") {
                verbose = true;
            } else if self.eat_kw("ANALYZE") {
                analyze = true;
            } else {
                break;
            }
        }
        if self.at_end() {
            return Err(self.expected("a statement to explain"));
        }
        Ok(Statement::Explain {
            verbose,
            analyze,
            statement: self.take_rest(),
        })
    }

    /// `[PARTITION p | PARTITION (p, ...) | PARTITIONS (p, ...)]`: the names, or none.
    fn opt_partition_names(&mut self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        if self.eat_kw("PARTITION") || self.eat_kw("PARTITIONS") {
            if self.eat_tok(&Token::LParen) {
                loop {
                    names.push(self.string_or_word("a partition name")?);
                    if !self.eat_tok(&Token::Comma) {
                        break;
                    }
                }
                self.expect_rparen()?;
            } else {
                names.push(self.string_or_word("a partition name")?);
            }
        }
        Ok(names)
    }

    /// After `ALTER TABLE t`: operations separated by commas.
    fn alter_table(&mut self) -> Result<Statement> {
        self.advance_by(2);
        let table = self.table_name()?;
        let mut ops = Vec::new();
        loop {
            ops.push(self.alter_table_op()?);
            if !self.eat_tok(&Token::Comma) {
                break;
            }
        }
        Ok(Statement::AlterTable { table, ops })
    }

    fn column_position(&mut self) -> Result<Option<ColumnPosition>> {
        Ok(if self.eat_kw("FIRST") {
            Some(ColumnPosition::First)
        } else if self.eat_kw("AFTER") {
            Some(ColumnPosition::After(self.ident()?))
        } else {
            None
        })
    }

    /// Rollup targets (`TO r` / `FROM r`) and per-operation properties are not built.
    fn no_rollup_target(&mut self) -> Result<()> {
        if self.peek_kw("TO") || (self.peek_kw("FROM") && !self.is_kw_at(1, "PARTITION")) {
            return Err(ParseError::Syntax(
                "not supported yet: schema change of a rollup (TO/FROM rollup)".to_string(),
            ));
        }
        if self.eat_kw("PROPERTIES") {
            self.properties()?;
        }
        Ok(())
    }

    fn alter_table_op(&mut self) -> Result<AlterTableOp> {
        if self.peek_kw("ADD") && self.is_kw_at(1, "PARTITION") {
            self.advance();
            // `partition_def` reads `PARTITION [IF NOT EXISTS] name VALUES ...`.
            let if_not_exists = self.is_kw_at(1, "IF");
            let def = self.partition_def()?;
            let mut buckets = None;
            if self.peek_kw("DISTRIBUTED") {
                buckets = match self.distribution_desc()? {
                    DistributionDesc::Hash { buckets, .. }
                    | DistributionDesc::Random { buckets } => buckets,
                };
            }
            return Ok(AlterTableOp::AddPartition {
                def,
                if_not_exists,
                buckets,
            });
        }
        if self.eat_kws(&["DROP", "PARTITION"]) {
            let if_exists = self.eat_kws(&["IF", "EXISTS"]);
            let name = self.ident()?;
            self.eat_kw("FORCE");
            return Ok(AlterTableOp::DropPartition { name, if_exists });
        }
        if self.eat_kws(&["RENAME", "PARTITION"]) {
            let old = self.ident()?;
            let new = self.ident()?;
            return Ok(AlterTableOp::RenamePartition { old, new });
        }
        if self.eat_kws(&["RENAME", "COLUMN"]) {
            let old = self.ident()?;
            let new = self.ident()?;
            return Ok(AlterTableOp::RenameColumn { old, new });
        }
        if self.eat_kw("RENAME") {
            return Ok(AlterTableOp::Rename {
                new_name: self.ident()?,
            });
        }
        if self.eat_kw("SET") {
            return Ok(AlterTableOp::SetProperties(self.properties()?));
        }
        if self.eat_kws(&["ADD", "COLUMN"]) {
            if self.eat_tok(&Token::LParen) {
                let mut columns = Vec::new();
                loop {
                    columns.push(self.column_def()?);
                    if !self.eat_tok(&Token::Comma) {
                        break;
                    }
                }
                self.expect_rparen()?;
                self.no_rollup_target()?;
                return Ok(AlterTableOp::AddColumns {
                    columns,
                    position: None,
                });
            }
            let column = self.column_def()?;
            let position = self.column_position()?;
            self.no_rollup_target()?;
            return Ok(AlterTableOp::AddColumns {
                columns: vec![column],
                position,
            });
        }
        if self.eat_kws(&["DROP", "COLUMN"]) {
            let name = self.ident()?;
            self.no_rollup_target()?;
            return Ok(AlterTableOp::DropColumn { name });
        }
        if self.eat_kws(&["MODIFY", "COLUMN"]) {
            let column = self.column_def()?;
            let position = self.column_position()?;
            self.no_rollup_target()?;
            return Ok(AlterTableOp::ModifyColumn { column, position });
        }
        Err(ParseError::Syntax(format!(
            "not supported yet: ALTER TABLE {}",
            self.take_rest()
        )))
    }

    fn alter(&mut self) -> Result<Option<Statement>> {
        if self.is_kw_at(1, "TABLE") {
            return self.alter_table().map(Some);
        }
        if !self.is_kw_at(1, "SYSTEM") {
            return Ok(None);
        }
        let (Some(op), Some(node)) = (self.keyword_at(2), self.keyword_at(3)) else {
            return Ok(None);
        };
        let known = matches!(
            (op.as_str(), node.as_str()),
            ("ADD" | "DROP" | "DROPP" | "DECOMMISSION", "BACKEND")
                | ("ADD" | "DROP", "FOLLOWER" | "OBSERVER")
        );
        if !known {
            return Ok(None);
        }
        self.advance_by(4);
        let alter = match (op.as_str(), node.as_str()) {
            ("ADD", "BACKEND") => AlterSystem::AddBackends(self.host_list()?),
            ("DROP" | "DROPP", "BACKEND") => AlterSystem::DropBackends(self.host_list()?),
            ("DECOMMISSION", _) => AlterSystem::DecommissionBackends(self.host_list()?),
            ("ADD", "FOLLOWER") => AlterSystem::AddFollower(self.string_lit()?),
            ("ADD", _) => AlterSystem::AddObserver(self.string_lit()?),
            (_, "FOLLOWER") => AlterSystem::DropFollower(self.string_lit()?),
            _ => AlterSystem::DropObserver(self.string_lit()?),
        };
        Ok(Some(Statement::AlterSystem(alter)))
    }

    fn host_list(&mut self) -> Result<Vec<String>> {
        let mut out = vec![self.string_lit()?];
        while self.eat_tok(&Token::Comma) {
            out.push(self.string_lit()?);
        }
        Ok(out)
    }

    fn kill(&mut self) -> Result<Statement> {
        self.advance();
        let query_only = self.eat_kw("QUERY");
        if !query_only {
            self.eat_kw("CONNECTION");
        }
        if matches!(
            self.peek(),
            Some(Token::SingleQuotedString(_) | Token::DoubleQuotedString(_))
        ) {
            return Err(ParseError::Syntax(
                "not supported yet: KILL by query id; use the connection id from SHOW PROCESSLIST"
                    .to_string(),
            ));
        }
        let id = self.u64_lit("connection id")?;
        Ok(Statement::Kill { query_only, id })
    }

    // ----- SET -----

    fn set(&mut self) -> Result<Statement> {
        self.advance();
        if self.peek_kw("PASSWORD")
            && (self.is_kw_at(1, "FOR") || matches!(self.peek_at(1), Some(Token::Eq)))
        {
            return self.set_password();
        }
        let mut scope = VarScope::Session;
        let mut out = Vec::new();
        loop {
            let is_assign = matches!(self.peek_at(1), Some(Token::Eq | Token::Assignment));
            if !is_assign {
                if self.eat_kw("GLOBAL") {
                    scope = VarScope::Global;
                } else if self.eat_kw("SESSION") || self.eat_kw("LOCAL") {
                    scope = VarScope::Session;
                }
            }
            if self.peek_kw("TRANSACTION") {
                self.set_transaction(&scope, &mut out)?;
            } else {
                out.push(self.set_assignment(&scope)?);
            }
            if !self.eat_tok(&Token::Comma) {
                break;
            }
        }
        Ok(Statement::Set(out))
    }

    fn set_assignment(&mut self, default_scope: &VarScope) -> Result<SetAssignment> {
        let not_assign = !matches!(self.peek_at(1), Some(Token::Eq | Token::Assignment));
        if not_assign && self.eat_kw("NAMES") {
            let value = self.charset_value()?;
            if self.eat_kw("COLLATE") {
                self.string_or_word("collation name")?;
            }
            return Ok(SetAssignment {
                scope: default_scope.clone(),
                name: "names".to_string(),
                value,
            });
        }
        if self.eat_kws(&["CHARACTER", "SET"]) || (not_assign && self.eat_kw("CHARSET")) {
            return Ok(SetAssignment {
                scope: default_scope.clone(),
                name: "character_set".to_string(),
                value: self.charset_value()?,
            });
        }
        let (scope, name) = self.set_variable_name(default_scope)?;
        if !(self.eat_tok(&Token::Eq) || self.eat_tok(&Token::Assignment)) {
            return Err(self.expected("'=' or ':='"));
        }
        let value = self.set_value()?;
        Ok(SetAssignment { scope, name, value })
    }

    /// `@@global.x`, `@@session.x`, `@@x`, `@x`, `@'x'` or a plain name (lower-cased).
    fn set_variable_name(&mut self, default_scope: &VarScope) -> Result<(VarScope, String)> {
        let system = self
            .word_at(0)
            .and_then(|w| w.value.strip_prefix("@@").map(str::to_ascii_lowercase));
        if let Some(rest) = system {
            self.advance();
            let explicit = match rest.as_str() {
                "global" => Some(VarScope::Global),
                "session" | "local" => Some(VarScope::Session),
                _ => None,
            };
            if let Some(scope) = explicit {
                if self.eat_tok(&Token::Period) {
                    return Ok((scope, self.ident()?.to_lowercase()));
                }
            }
            if rest.is_empty() {
                return Err(self.expected("variable name"));
            }
            return Ok((VarScope::Session, rest));
        }
        let user = self
            .word_at(0)
            .and_then(|w| w.value.strip_prefix('@').map(str::to_lowercase));
        if let Some(name) = user {
            self.advance();
            let name = if name.is_empty() {
                self.string_or_word("variable name")?.to_lowercase()
            } else {
                name
            };
            return Ok((VarScope::User, name));
        }
        if self.eat_tok(&Token::AtSign) {
            return Ok((
                VarScope::User,
                self.string_or_word("variable name")?.to_lowercase(),
            ));
        }
        match self.peek() {
            Some(Token::Word(_)) => Ok((default_scope.clone(), self.ident()?.to_lowercase())),
            _ => Err(self.expected("variable name")),
        }
    }

    /// The value of `SET NAMES` / `SET CHARACTER SET`.
    fn charset_value(&mut self) -> Result<SetValue> {
        if self.eat_kw("DEFAULT") {
            return Ok(SetValue::Default);
        }
        Ok(SetValue::Str(self.string_or_word("character set name")?))
    }

    /// The value of one assignment: everything up to the next top-level comma.
    fn set_value(&mut self) -> Result<SetValue> {
        let start = self.pos;
        let mut end = start;
        let mut depth = 0i64;
        while let Some(t) = self.toks.get(end) {
            match t.token {
                Token::LParen | Token::LBracket | Token::LBrace => depth += 1,
                Token::RParen | Token::RBracket | Token::RBrace => depth -= 1,
                Token::Comma if depth <= 0 => break,
                _ => {}
            }
            end += 1;
        }
        if end == start {
            return Err(self.expected("a value"));
        }
        self.pos = end;
        let toks = self.toks.get(start..end).unwrap_or_default();
        let simple = match toks {
            [one] => match &one.token {
                Token::SingleQuotedString(s)
                | Token::DoubleQuotedString(s)
                | Token::NationalStringLiteral(s) => Some(SetValue::Str(s.clone())),
                Token::Number(n, _) => number_value(n),
                Token::Word(w) if w.quote_style.is_some() => Some(SetValue::Str(w.value.clone())),
                Token::Word(w) => Some(match w.value.to_ascii_uppercase().as_str() {
                    "TRUE" => SetValue::Bool(true),
                    "FALSE" => SetValue::Bool(false),
                    "DEFAULT" => SetValue::Default,
                    _ => SetValue::Str(w.value.clone()),
                }),
                _ => None,
            },
            [sign, num] => match (&sign.token, &num.token) {
                (Token::Minus, Token::Number(n, _)) => number_value(&format!("-{n}")),
                (Token::Plus, Token::Number(n, _)) => number_value(n),
                _ => None,
            },
            _ => None,
        };
        Ok(simple.unwrap_or_else(|| SetValue::Expr(self.text_of(start, end).to_string())))
    }

    /// `TRANSACTION ISOLATION LEVEL ... | READ ONLY | READ WRITE [, ...]`, as the
    /// `transaction_isolation` / `transaction_read_only` variables.
    fn set_transaction(&mut self, scope: &VarScope, out: &mut Vec<SetAssignment>) -> Result<()> {
        self.expect_kw("TRANSACTION")?;
        loop {
            let (name, value) = if self.eat_kws(&["ISOLATION", "LEVEL"]) {
                let level = if self.eat_kws(&["READ", "UNCOMMITTED"]) {
                    "READ-UNCOMMITTED"
                } else if self.eat_kws(&["READ", "COMMITTED"]) {
                    "READ-COMMITTED"
                } else if self.eat_kws(&["REPEATABLE", "READ"]) {
                    "REPEATABLE-READ"
                } else if self.eat_kw("SERIALIZABLE") {
                    "SERIALIZABLE"
                } else {
                    return Err(self.expected("isolation level"));
                };
                ("transaction_isolation", SetValue::Str(level.to_string()))
            } else if self.eat_kws(&["READ", "ONLY"]) {
                ("transaction_read_only", SetValue::Bool(true))
            } else if self.eat_kws(&["READ", "WRITE"]) {
                ("transaction_read_only", SetValue::Bool(false))
            } else {
                return Err(self.expected("ISOLATION LEVEL, READ ONLY or READ WRITE"));
            };
            out.push(SetAssignment {
                scope: scope.clone(),
                name: name.to_string(),
                value,
            });
            let more = matches!(self.peek(), Some(Token::Comma))
                && (self.is_kw_at(1, "ISOLATION") || self.is_kw_at(1, "READ"));
            if !more {
                return Ok(());
            }
            self.advance();
        }
    }

    fn set_password(&mut self) -> Result<Statement> {
        self.expect_kw("PASSWORD")?;
        let user = if self.eat_kw("FOR") {
            Some(self.user_ident()?)
        } else {
            None
        };
        self.expect_tok(&Token::Eq, "'='")?;
        let password = if self.peek_kw("PASSWORD") && self.peek_at(1) == Some(&Token::LParen) {
            self.advance_by(2);
            let pw = self.string_lit()?;
            self.expect_rparen()?;
            pw
        } else {
            self.string_lit()?
        };
        Ok(Statement::SetPassword { user, password })
    }

    // ----- CREATE TABLE -----

    fn create_table(&mut self) -> Result<Statement> {
        self.eat_kw("EXTERNAL");
        self.expect_kw("TABLE")?;
        let if_not_exists = self.eat_kws(&["IF", "NOT", "EXISTS"]);
        let name = self.table_name()?;
        let mut ct = CreateTable {
            name,
            if_not_exists,
            columns: Vec::new(),
            indexes: Vec::new(),
            engine: None,
            keys: None,
            comment: None,
            partition: None,
            distribution: None,
            rollups: Vec::new(),
            properties: Vec::new(),
            as_select: None,
            like: None,
        };
        if self.eat_kw("LIKE") {
            ct.like = Some(self.table_name()?);
            if self.eat_kws(&["WITH", "ROLLUP"]) && self.peek_tok(&Token::LParen) {
                self.skip_parens()?;
            }
            return Ok(Statement::CreateTable(Box::new(ct)));
        }
        if self.peek_tok(&Token::LParen) {
            self.table_elements(&mut ct)?;
        }
        self.table_clauses(&mut ct)?;
        if ct.columns.is_empty() && ct.as_select.is_none() {
            return Err(self.expected("column definitions"));
        }
        Ok(Statement::CreateTable(Box::new(ct)))
    }

    /// `( column | INDEX ... [, ...] [,] )`
    fn table_elements(&mut self, ct: &mut CreateTable) -> Result<()> {
        self.expect_lparen()?;
        loop {
            if self.peek_kw("INDEX") {
                ct.indexes.push(self.index_def()?);
            } else {
                ct.columns.push(self.column_def()?);
            }
            if self.eat_tok(&Token::Comma) {
                // A trailing comma before `)` is accepted.
                if self.eat_tok(&Token::RParen) {
                    return Ok(());
                }
            } else {
                return self.expect_tok(&Token::RParen, "',' or ')'");
            }
        }
    }

    /// `INDEX [IF NOT EXISTS] name (cols) [USING kind] [PROPERTIES(...)] [COMMENT '...']`
    fn index_def(&mut self) -> Result<String> {
        self.expect_kw("INDEX")?;
        self.eat_kws(&["IF", "NOT", "EXISTS"]);
        let name = self.ident()?;
        self.paren_ident_list()?;
        if self.eat_kw("USING") {
            self.ident()?;
        }
        if self.eat_kw("PROPERTIES") {
            self.properties()?;
        }
        if self.eat_kw("COMMENT") {
            self.string_lit()?;
        }
        Ok(name)
    }

    fn column_def(&mut self) -> Result<ColumnDef> {
        let name = self.ident()?;
        let data_type = self.data_type()?;
        let mut col = ColumnDef {
            name,
            data_type,
            agg: None,
            nullable: None,
            key: false,
            auto_increment: false,
            default: None,
            comment: None,
        };
        loop {
            if self.eat_kw("KEY") {
                col.key = true;
            } else if let Some(agg) = col.agg.is_none().then(|| self.agg_kind()).flatten() {
                col.agg = Some(agg);
            } else if self.eat_kws(&["NOT", "NULL"]) {
                col.nullable = Some(false);
            } else if self.eat_kw("NULL") {
                col.nullable = Some(true);
            } else if self.eat_kw("AUTO_INCREMENT") {
                col.auto_increment = true;
                if self.eat_tok(&Token::LParen) {
                    self.u64_lit("auto increment start value")?;
                    self.expect_rparen()?;
                }
            } else if self.eat_kw("DEFAULT") {
                col.default = Some(self.default_value()?);
            } else if self.eat_kws(&["ON", "UPDATE"]) {
                // Accepted for compatibility; the FE does not maintain update timestamps.
                self.expect_kw("CURRENT_TIMESTAMP")?;
                self.opt_type_args()?;
            } else if self.eat_kw("COMMENT") {
                col.comment = Some(self.string_lit()?);
            } else {
                return Ok(col);
            }
        }
    }

    fn agg_kind(&mut self) -> Option<AggKind> {
        let kw = self.keyword_at(0)?;
        let agg = AGG_KINDS
            .iter()
            .find(|(name, _)| *name == kw)
            .map(|(_, agg)| *agg)?;
        self.advance();
        Some(agg)
    }

    fn default_value(&mut self) -> Result<DefaultValue> {
        match self.peek() {
            Some(Token::SingleQuotedString(_) | Token::DoubleQuotedString(_)) => {
                return Ok(DefaultValue::Literal(self.string_lit()?));
            }
            Some(Token::Number(..) | Token::Minus | Token::Plus) => {
                if let Some(n) = self.signed_number() {
                    return Ok(DefaultValue::Literal(n));
                }
            }
            _ => {}
        }
        let Some(kw) = self.keyword_at(0) else {
            return Err(self.expected("default value"));
        };
        let value = match kw.as_str() {
            "NULL" => DefaultValue::Null,
            "CURRENT_TIMESTAMP" | "NOW" | "LOCALTIMESTAMP" => {
                self.advance();
                self.opt_type_args()?;
                return Ok(DefaultValue::CurrentTimestamp);
            }
            "CURRENT_DATE" => {
                self.advance();
                self.opt_type_args()?;
                return Ok(DefaultValue::CurrentDate);
            }
            "TRUE" | "FALSE" => DefaultValue::Literal(kw.to_ascii_lowercase()),
            "PI" => DefaultValue::Literal(std::f64::consts::PI.to_string()),
            "E" => DefaultValue::Literal(std::f64::consts::E.to_string()),
            "BITMAP_EMPTY" => DefaultValue::Literal(kw),
            _ => return Err(self.expected("default value")),
        };
        self.advance();
        Ok(value)
    }

    /// `[( n [, n]* )]` or `()`: integer type arguments.
    fn opt_type_args(&mut self) -> Result<Vec<u64>> {
        let mut args = Vec::new();
        if !self.eat_tok(&Token::LParen) {
            return Ok(args);
        }
        if self.eat_tok(&Token::RParen) {
            return Ok(args);
        }
        loop {
            args.push(self.u64_lit("integer")?);
            if !self.eat_tok(&Token::Comma) {
                self.expect_tok(&Token::RParen, "',' or ')'")?;
                return Ok(args);
            }
        }
    }

    fn data_type(&mut self) -> Result<TypeDef> {
        let start = self.pos;
        let Some(name) = self.keyword_at(0) else {
            return Err(self.expected("column type"));
        };
        self.advance();
        let ty = match name.as_str() {
            "BOOLEAN" | "BOOL" => ColumnType::Boolean,
            "TINYINT" | "SMALLINT" | "INT" | "INTEGER" | "BIGINT" | "LARGEINT" => {
                // Display widths such as int(11) are accepted and ignored.
                self.opt_type_args()?;
                match name.as_str() {
                    "TINYINT" => ColumnType::TinyInt,
                    "SMALLINT" => ColumnType::SmallInt,
                    "BIGINT" => ColumnType::BigInt,
                    "LARGEINT" => ColumnType::LargeInt,
                    _ => ColumnType::Int,
                }
            }
            "FLOAT" => {
                self.opt_type_args()?;
                ColumnType::Float
            }
            "DOUBLE" => {
                self.opt_type_args()?;
                ColumnType::Double
            }
            "DECIMAL" | "DECIMALV3" | "DECIMALV2" | "NUMERIC" => {
                let args = self.opt_type_args()?;
                let (precision, scale) = match args.as_slice() {
                    [] => (DEFAULT_DECIMAL_PRECISION, 0),
                    [p] => (*p, 0),
                    [p, s] => (*p, *s),
                    _ => return Err(self.type_error(start, "DECIMAL takes at most 2 arguments")),
                };
                let max = u64::from(MAX_DECIMAL_PRECISION);
                if !(1..=max).contains(&precision) {
                    return Err(self.type_error(
                        start,
                        &format!("DECIMAL precision must be between 1 and {max}, got {precision}"),
                    ));
                }
                if scale > precision {
                    return Err(self.type_error(
                        start,
                        &format!(
                            "DECIMAL scale ({scale}) must not exceed its precision ({precision})"
                        ),
                    ));
                }
                ColumnType::Decimal {
                    precision: u8::try_from(precision).unwrap_or(MAX_DECIMAL_PRECISION),
                    scale: u8::try_from(scale).unwrap_or(MAX_DECIMAL_PRECISION),
                }
            }
            "DATE" | "DATEV2" => ColumnType::Date,
            "DATETIME" | "DATETIMEV2" => {
                let args = self.opt_type_args()?;
                let precision = match args.as_slice() {
                    [] => 0,
                    [p] if *p <= MAX_DATETIME_PRECISION => *p,
                    [p] => {
                        return Err(self.type_error(
                            start,
                            &format!("DATETIME precision must be between 0 and {MAX_DATETIME_PRECISION}, got {p}"),
                        ))
                    }
                    _ => return Err(self.type_error(start, "DATETIME takes at most 1 argument")),
                };
                ColumnType::DateTime {
                    precision: u8::try_from(precision).unwrap_or(0),
                }
            }
            "CHAR" => ColumnType::Char {
                len: self.string_len(start, "CHAR", 1, MAX_CHAR_LEN)?,
            },
            "VARCHAR" => ColumnType::Varchar {
                len: self.string_len(start, "VARCHAR", MAX_VARCHAR_LEN, MAX_VARCHAR_LEN)?,
            },
            "STRING" | "TEXT" => ColumnType::String,
            "HLL" | "BITMAP" | "QUANTILE_STATE" | "JSON" | "JSONB" | "VARIANT" | "IPV4"
            | "IPV6" | "TIME" | "TIMEV2" => {
                if self.peek_tok(&Token::Lt) {
                    self.skip_angles()?;
                }
                if self.peek_tok(&Token::LParen) {
                    self.skip_parens()?;
                }
                return Ok(TypeDef::Unsupported(self.unsupported_name(start, &name)));
            }
            "ARRAY" | "MAP" | "STRUCT" | "AGG_STATE" => {
                self.skip_angles()?;
                return Ok(TypeDef::Unsupported(self.unsupported_name(start, &name)));
            }
            _ => {
                self.pos = start;
                return Err(ParseError::Syntax(format!(
                    "Unknown column type '{}'",
                    shorten(self.text_of(start, start + 1))
                )));
            }
        };
        Ok(TypeDef::Supported(ty))
    }

    /// Length of CHAR/VARCHAR: `[(n)]`, and `(*)` for VARCHAR meaning the maximum.
    fn string_len(&mut self, start: usize, name: &str, default: u64, max: u64) -> Result<u32> {
        if name == "VARCHAR"
            && self.peek_tok(&Token::LParen)
            && self.peek_at(1) == Some(&Token::Mul)
            && self.peek_at(2) == Some(&Token::RParen)
        {
            self.advance_by(3);
            return Ok(u32::try_from(max).unwrap_or(u32::MAX));
        }
        let args = self.opt_type_args()?;
        let len = match args.as_slice() {
            [] => default,
            [n] => *n,
            _ => return Err(self.type_error(start, &format!("{name} takes at most 1 argument"))),
        };
        if !(1..=max).contains(&len) {
            return Err(self.type_error(
                start,
                &format!("{name} length must be between 1 and {max}, got {len}"),
            ));
        }
        Ok(u32::try_from(len).unwrap_or(u32::MAX))
    }

    /// Skips `< ... >` (nested; `>>` closes two levels).
    fn skip_angles(&mut self) -> Result<()> {
        self.expect_tok(&Token::Lt, "'<'")?;
        let mut depth = 1i64;
        while depth > 0 {
            match self.peek() {
                None => return Err(self.expected("'>'")),
                Some(Token::Lt) => depth += 1,
                Some(Token::ShiftLeft) => depth += 2,
                Some(Token::Gt) => depth -= 1,
                Some(Token::ShiftRight) => depth -= 2,
                Some(_) => {}
            }
            if depth < 0 {
                return Err(self.expected("'>'"));
            }
            self.advance();
        }
        Ok(())
    }

    /// `BITMAP`, `ARRAY<INT>`: the upper-cased type name plus its parameters as written.
    fn unsupported_name(&self, start: usize, name: &str) -> String {
        format!("{name}{}", self.text_of(start + 1, self.pos))
    }

    fn type_error(&self, start: usize, msg: &str) -> ParseError {
        ParseError::Syntax(format!(
            "Invalid type '{}': {msg}",
            shorten(self.text_of(start, self.pos.max(start + 1)))
        ))
    }

    /// Everything after the column list, in any order (each clause at most once).
    fn table_clauses(&mut self, ct: &mut CreateTable) -> Result<()> {
        loop {
            let Some(kw) = self.keyword_at(0) else {
                return Ok(());
            };
            match kw.as_str() {
                "ENGINE" => {
                    self.no_duplicate(ct.engine.is_some(), "ENGINE")?;
                    self.advance();
                    self.eat_tok(&Token::Eq);
                    ct.engine = Some(self.ident()?);
                }
                "DUPLICATE" | "AGGREGATE" | "UNIQUE" if self.is_kw_at(1, "KEY") => {
                    self.no_duplicate(ct.keys.is_some(), "KEY")?;
                    self.advance_by(2);
                    let kind = match kw.as_str() {
                        "DUPLICATE" => KeysKind::Duplicate,
                        "AGGREGATE" => KeysKind::Aggregate,
                        _ => KeysKind::Unique,
                    };
                    ct.keys = Some(KeysDesc {
                        kind,
                        columns: self.paren_ident_list()?,
                    });
                }
                "COMMENT" => {
                    self.no_duplicate(ct.comment.is_some(), "COMMENT")?;
                    self.advance();
                    self.eat_tok(&Token::Eq);
                    ct.comment = Some(self.string_lit()?);
                }
                "PARTITION" | "AUTO" => {
                    self.no_duplicate(ct.partition.is_some(), "PARTITION BY")?;
                    ct.partition = Some(self.partition_desc()?);
                }
                "DISTRIBUTED" => {
                    self.no_duplicate(ct.distribution.is_some(), "DISTRIBUTED BY")?;
                    ct.distribution = Some(self.distribution_desc()?);
                }
                "ROLLUP" => {
                    self.no_duplicate(!ct.rollups.is_empty(), "ROLLUP")?;
                    ct.rollups = self.rollups()?;
                }
                "PROPERTIES" => {
                    self.no_duplicate(!ct.properties.is_empty(), "PROPERTIES")?;
                    self.advance();
                    ct.properties = self.properties()?;
                }
                "AS" => {
                    self.advance();
                    if self.at_end() {
                        return Err(self.expected("a query after AS"));
                    }
                    ct.as_select = Some(self.take_rest());
                }
                "SELECT" | "WITH" => ct.as_select = Some(self.take_rest()),
                _ => return Ok(()),
            }
        }
    }

    fn no_duplicate(&self, seen: bool, clause: &str) -> Result<()> {
        if seen {
            let near = self
                .toks
                .get(self.pos)
                .and_then(|t| self.src.get(t.start..t.end))
                .unwrap_or_default();
            Err(ParseError::Syntax(format!(
                "Syntax error near '{}': duplicate {clause} clause",
                shorten(near)
            )))
        } else {
            Ok(())
        }
    }

    /// `[AUTO] PARTITION BY RANGE|LIST (cols | fn(col, ...)) [( partition, ... )]`
    fn partition_desc(&mut self) -> Result<PartitionDesc> {
        let auto = self.eat_kw("AUTO");
        self.expect_kws(&["PARTITION", "BY"])?;
        let kind = if self.eat_kw("RANGE") {
            PartitionKind::Range
        } else if self.eat_kw("LIST") {
            PartitionKind::List
        } else {
            return Err(self.expected("RANGE or LIST"));
        };
        self.expect_lparen()?;
        let mut columns = Vec::new();
        loop {
            if matches!(self.peek(), Some(Token::Word(_)))
                && self.peek_at(1) == Some(&Token::LParen)
            {
                // A partition function such as date_trunc(`k`, 'day'): keep its column.
                self.advance_by(2);
                columns.push(self.ident()?);
                while self.eat_tok(&Token::Comma) {
                    self.string_or_word("argument")?;
                }
                self.expect_rparen()?;
            } else {
                columns.push(self.ident()?);
            }
            if !self.eat_tok(&Token::Comma) {
                self.expect_tok(&Token::RParen, "',' or ')'")?;
                break;
            }
        }
        let mut partitions = Vec::new();
        if self.eat_tok(&Token::LParen) && !self.eat_tok(&Token::RParen) {
            loop {
                partitions.push(self.partition_def()?);
                if !self.eat_tok(&Token::Comma) {
                    self.expect_tok(&Token::RParen, "',' or ')'")?;
                    break;
                }
            }
        }
        Ok(PartitionDesc {
            kind,
            auto,
            columns,
            partitions,
        })
    }

    fn partition_def(&mut self) -> Result<PartitionDef> {
        if self.peek_kw("FROM") {
            return Err(ParseError::Syntax(
                "not supported yet: batch partition creation (FROM ... TO ... INTERVAL); list the partitions one by one".to_string(),
            ));
        }
        self.expect_kw("PARTITION")?;
        self.eat_kws(&["IF", "NOT", "EXISTS"]);
        let name = self.ident()?;
        self.expect_kw("VALUES")?;
        let values = if self.eat_kws(&["LESS", "THAN"]) {
            if self.eat_kw("MAXVALUE") {
                PartitionValues::LessThanMaxValue
            } else if self.peek_tok(&Token::LParen)
                && self.is_kw_at(1, "MAXVALUE")
                && self.peek_at(2) == Some(&Token::RParen)
            {
                self.advance_by(3);
                PartitionValues::LessThanMaxValue
            } else {
                PartitionValues::LessThan(self.value_tuple()?)
            }
        } else if self.eat_tok(&Token::LBracket) {
            let lower = self.value_tuple()?;
            self.expect_tok(&Token::Comma, "','")?;
            let upper = self.value_tuple()?;
            self.expect_rparen()?;
            PartitionValues::Range { lower, upper }
        } else if self.eat_kw("IN") {
            self.expect_lparen()?;
            let mut items = Vec::new();
            loop {
                if self.peek_tok(&Token::LParen) {
                    items.push(self.value_tuple()?);
                } else {
                    items.push(vec![self.partition_literal()?]);
                }
                if !self.eat_tok(&Token::Comma) {
                    self.expect_tok(&Token::RParen, "',' or ')'")?;
                    break;
                }
            }
            PartitionValues::In(items)
        } else {
            return Err(self.expected("LESS THAN, '[' or IN"));
        };
        if self.peek_tok(&Token::LParen) {
            // Per-partition properties: accepted and ignored.
            self.properties()?;
        }
        Ok(PartitionDef { name, values })
    }

    /// `( literal [, literal]* )`
    fn value_tuple(&mut self) -> Result<Vec<PartitionLiteral>> {
        self.expect_lparen()?;
        let mut out = vec![self.partition_literal()?];
        while self.eat_tok(&Token::Comma) {
            out.push(self.partition_literal()?);
        }
        self.expect_tok(&Token::RParen, "',' or ')'")?;
        Ok(out)
    }

    /// A partition bound literal (quotes stripped from strings).
    fn partition_literal(&mut self) -> Result<PartitionLiteral> {
        if let Some(n) = self.signed_number() {
            return Ok(PartitionLiteral::Value(n));
        }
        if let Some(kw) = self.keyword_at(0) {
            let lit = match kw.as_str() {
                "MAXVALUE" => Some(PartitionLiteral::MaxValue),
                "NULL" => Some(PartitionLiteral::Null),
                "TRUE" | "FALSE" => Some(PartitionLiteral::Value(kw)),
                _ => None,
            };
            if let Some(lit) = lit {
                self.advance();
                return Ok(lit);
            }
        }
        match self.peek() {
            Some(Token::SingleQuotedString(_) | Token::DoubleQuotedString(_)) => {
                Ok(PartitionLiteral::Value(self.string_lit()?))
            }
            _ => Err(self.expected("partition value")),
        }
    }

    /// `DISTRIBUTED BY HASH(cols) [BUCKETS n|AUTO] | DISTRIBUTED BY RANDOM [BUCKETS n|AUTO]`
    fn distribution_desc(&mut self) -> Result<DistributionDesc> {
        self.expect_kws(&["DISTRIBUTED", "BY"])?;
        if self.eat_kw("HASH") {
            let columns = self.paren_ident_list()?;
            let buckets = self.buckets()?;
            Ok(DistributionDesc::Hash { columns, buckets })
        } else if self.eat_kw("RANDOM") {
            Ok(DistributionDesc::Random {
                buckets: self.buckets()?,
            })
        } else {
            Err(self.expected("HASH or RANDOM"))
        }
    }

    fn buckets(&mut self) -> Result<Option<u32>> {
        if !self.eat_kw("BUCKETS") {
            return Ok(None);
        }
        if self.eat_kw("AUTO") {
            return Ok(None);
        }
        match self.u64_lit("bucket number or AUTO")? {
            0 => Err(ParseError::Syntax(
                "Number of hash distribution buckets should be greater than zero".to_string(),
            )),
            n => u32::try_from(n)
                .map(Some)
                .map_err(|_| ParseError::Syntax(format!("Number of buckets is too large: {n}"))),
        }
    }

    /// `ROLLUP (r1(c1, c2) [DUPLICATE KEY(..)] [PROPERTIES(..)], ...)`: the rollup names.
    fn rollups(&mut self) -> Result<Vec<String>> {
        self.expect_kw("ROLLUP")?;
        self.expect_lparen()?;
        let mut names = Vec::new();
        loop {
            names.push(self.ident()?);
            self.paren_ident_list()?;
            if self.eat_kws(&["DUPLICATE", "KEY"]) {
                self.paren_ident_list()?;
            }
            if self.eat_kw("PROPERTIES") {
                self.properties()?;
            }
            if !self.eat_tok(&Token::Comma) {
                self.expect_tok(&Token::RParen, "',' or ')'")?;
                return Ok(names);
            }
        }
    }
}

/// Only the internal catalog exists; `internal.db.t` is accepted, other catalogs are not.
fn check_catalog(catalog: &str) -> Result<()> {
    if catalog.eq_ignore_ascii_case("internal") {
        Ok(())
    } else {
        Err(ParseError::Syntax(format!(
            "Unknown catalog '{catalog}': only the internal catalog is supported"
        )))
    }
}

/// A SET number: `Int` if it fits an i64, else `Float`.
fn number_value(text: &str) -> Option<SetValue> {
    if let Ok(i) = text.parse::<i64>() {
        return Some(SetValue::Int(i));
    }
    text.parse::<f64>().ok().map(SetValue::Float)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(sql: &str) -> Statement {
        match parse_statement(sql) {
            Ok(stmt) => stmt,
            Err(e) => panic!("{sql}: {e}"),
        }
    }

    fn err(sql: &str) -> String {
        match parse_statement(sql) {
            Ok(stmt) => panic!("{sql}: expected an error, got {stmt:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn create_table(sql: &str) -> CreateTable {
        match parse(sql) {
            Statement::CreateTable(ct) => *ct,
            other => panic!("{sql}: expected CREATE TABLE, got {other:?}"),
        }
    }

    fn column_type(ty: &str) -> TypeDef {
        let ct = create_table(&format!("CREATE TABLE t (c {ty}) DISTRIBUTED BY HASH(c)"));
        match ct.columns.as_slice() {
            [col] => col.data_type.clone(),
            cols => panic!("{ty}: {cols:?}"),
        }
    }

    fn supported(ty: ColumnType) -> TypeDef {
        TypeDef::Supported(ty)
    }

    fn tn(db: Option<&str>, table: &str) -> TableName {
        TableName {
            db: db.map(str::to_string),
            table: table.to_string(),
        }
    }

    fn user(user: &str, host: &str) -> UserIdent {
        UserIdent {
            user: user.to_string(),
            host: host.to_string(),
        }
    }

    fn set_one(sql: &str) -> SetAssignment {
        match parse(sql) {
            Statement::Set(mut list) if list.len() == 1 => list.remove(0),
            other => panic!("{sql}: {other:?}"),
        }
    }

    fn assign(scope: VarScope, name: &str, value: SetValue) -> SetAssignment {
        SetAssignment {
            scope,
            name: name.to_string(),
            value,
        }
    }

    fn strs(values: &[&str]) -> Vec<String> {
        values.iter().map(|s| s.to_string()).collect()
    }

    /// Partition literals; the text `MAXVALUE` stands for the keyword.
    fn lits(values: &[&str]) -> Vec<PartitionLiteral> {
        values
            .iter()
            .map(|s| match *s {
                "MAXVALUE" => PartitionLiteral::MaxValue,
                v => PartitionLiteral::Value(v.to_string()),
            })
            .collect()
    }

    // ----- split_statements -----

    #[test]
    fn split_basic_and_drops_empty() {
        assert_eq!(
            split_statements("SELECT 1; SELECT 2;\n ; -- only a comment\n;"),
            strs(&["SELECT 1", "SELECT 2"])
        );
        assert_eq!(split_statements("SELECT 1"), strs(&["SELECT 1"]));
        assert!(split_statements("").is_empty());
        assert!(split_statements(" ;; /* x */ ; # y").is_empty());
    }

    #[test]
    fn split_respects_quotes() {
        let sql = r#"INSERT INTO t VALUES ('a;b', "c;d", 'it''s;', 'x\';y'); SELECT `a;b` FROM t"#;
        assert_eq!(
            split_statements(sql),
            strs(&[
                r#"INSERT INTO t VALUES ('a;b', "c;d", 'it''s;', 'x\';y')"#,
                "SELECT `a;b` FROM t"
            ])
        );
        assert_eq!(
            split_statements(r#"SELECT "a\";b"; SELECT 2"#),
            strs(&[r#"SELECT "a\";b""#, "SELECT 2"])
        );
    }

    #[test]
    fn split_respects_comments() {
        let sql = "SELECT 1 -- no split; here\n; SELECT 2 # nor; here\n; SELECT /* ; */ 3";
        assert_eq!(
            split_statements(sql),
            strs(&["SELECT 1", "SELECT 2", "SELECT /* ; */ 3"])
        );
        // `--` without a following space is not a comment in MySQL.
        assert_eq!(
            split_statements("SELECT 1--1; SELECT 2"),
            strs(&["SELECT 1--1", "SELECT 2"])
        );
        // Leading comments are dropped from each statement.
        assert_eq!(
            split_statements("/* header */ CREATE DATABASE d;\n-- c\nUSE d"),
            strs(&["CREATE DATABASE d", "USE d"])
        );
    }

    #[test]
    fn split_unterminated_input_does_not_panic() {
        assert_eq!(
            split_statements("SELECT 'abc; x"),
            strs(&["SELECT 'abc; x"])
        );
        assert_eq!(split_statements("SELECT 1 /* ; "), strs(&["SELECT 1"]));
        assert_eq!(split_statements("SELECT 'é;ü"), strs(&["SELECT 'é;ü"]));
        assert_eq!(
            split_statements("SELECT 'é'; SELECT 'ü'"),
            strs(&["SELECT 'é'", "SELECT 'ü'"])
        );
    }

    // ----- pass-through -----

    #[test]
    fn alter_table_and_truncate() {
        assert_eq!(
            parse("ALTER TABLE d.t ADD PARTITION IF NOT EXISTS p2 VALUES LESS THAN (\"20\") DISTRIBUTED BY HASH(k) BUCKETS 4, DROP PARTITION IF EXISTS p1 FORCE"),
            Statement::AlterTable {
                table: TableName {
                    db: Some("d".into()),
                    table: "t".into()
                },
                ops: vec![
                    AlterTableOp::AddPartition {
                        def: PartitionDef {
                            name: "p2".into(),
                            values: PartitionValues::LessThan(vec![PartitionLiteral::Value(
                                "20".into()
                            )])
                        },
                        if_not_exists: true,
                        buckets: Some(4)
                    },
                    AlterTableOp::DropPartition {
                        name: "p1".into(),
                        if_exists: true
                    }
                ]
            }
        );
        assert_eq!(
            parse("ALTER TABLE t RENAME PARTITION a b, RENAME t2, SET (\"k\" = \"v\")"),
            Statement::AlterTable {
                table: TableName {
                    db: None,
                    table: "t".into()
                },
                ops: vec![
                    AlterTableOp::RenamePartition {
                        old: "a".into(),
                        new: "b".into()
                    },
                    AlterTableOp::Rename {
                        new_name: "t2".into()
                    },
                    AlterTableOp::SetProperties(vec![("k".into(), "v".into())])
                ]
            }
        );
        assert!(matches!(
            parse("ALTER TABLE t ADD COLUMN c INT KEY DEFAULT \"1\" AFTER k"),
            Statement::AlterTable { ops, .. } if matches!(&ops[..], [AlterTableOp::AddColumns { columns, position: Some(ColumnPosition::After(a)) }] if columns[0].key && a == "k")
        ));
        assert_eq!(
            parse("TRUNCATE TABLE t PARTITION (p1, p2)"),
            Statement::Truncate {
                table: TableName {
                    db: None,
                    table: "t".into()
                },
                partitions: vec!["p1".into(), "p2".into()]
            }
        );
        assert_eq!(
            parse("SHOW ALTER TABLE COLUMN FROM d"),
            Statement::ShowAlterTableColumn {
                db: Some("d".into())
            }
        );
    }

    #[test]
    fn queries_pass_through_with_exact_text() {
        for sql in [
            "SELECT 1",
            "select a, \"x\" from t where b = 'y;z'",
            "WITH c AS (SELECT 1) SELECT * FROM c",
            "INSERT INTO t VALUES (1, 'a')",
            "VALUES (1), (2)",
            "UPDATE t SET a = 1",
            "DELETE FROM t WHERE a = 1",
            "(SELECT 1) UNION (SELECT 2)",
            "CREATE VIEW v AS SELECT 1",
            "SHOW STATUS",
            "SHOW GLOBAL STATUS",
            "START SLAVE",
            "DROP VIEW v",
            "SELECT /*+ SET_VAR(a=1) */ 1",
        ] {
            assert_eq!(parse(sql), Statement::Query(sql.to_string()), "{sql}");
        }
    }

    #[test]
    fn query_text_is_trimmed_of_semicolon_and_comments() {
        assert_eq!(
            parse("  -- lead\n /* c */ SELECT 1 ; -- trail\n"),
            Statement::Query("SELECT 1".to_string())
        );
        assert_eq!(
            parse("SELECT 1;;"),
            Statement::Query("SELECT 1".to_string())
        );
        // Unterminated quotes are DataFusion's to report.
        assert_eq!(
            parse("SELECT 'abc"),
            Statement::Query("SELECT 'abc".to_string())
        );
    }

    #[test]
    fn empty_statement_is_an_error() {
        assert_eq!(err(""), "Query was empty");
        assert_eq!(err(" ; -- x"), "Query was empty");
    }

    // ----- databases, tables, USE, DESC -----

    #[test]
    fn create_database() {
        assert_eq!(
            parse("CREATE DATABASE d"),
            Statement::CreateDatabase {
                name: "d".into(),
                if_not_exists: false,
                properties: vec![]
            }
        );
        assert_eq!(
            parse("create schema if not exists `my-db` PROPERTIES(\"replication_num\" = \"1\", 'k'='v');"),
            Statement::CreateDatabase {
                name: "my-db".into(),
                if_not_exists: true,
                properties: vec![("replication_num".into(), "1".into()), ("k".into(), "v".into())]
            }
        );
        assert_eq!(
            parse("CREATE DATABASE d DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"),
            Statement::CreateDatabase {
                name: "d".into(),
                if_not_exists: false,
                properties: vec![]
            }
        );
    }

    #[test]
    fn drop_database() {
        assert_eq!(
            parse("DROP DATABASE d"),
            Statement::DropDatabase {
                name: "d".into(),
                if_exists: false,
                force: false
            }
        );
        assert_eq!(
            parse("drop schema if exists d force"),
            Statement::DropDatabase {
                name: "d".into(),
                if_exists: true,
                force: true
            }
        );
    }

    #[test]
    fn show_databases_and_tables() {
        assert_eq!(
            parse("SHOW DATABASES"),
            Statement::ShowDatabases { like: None }
        );
        assert_eq!(
            parse("show schemas like 'd%'"),
            Statement::ShowDatabases {
                like: Some("d%".into())
            }
        );
        assert_eq!(
            parse("SHOW TABLES"),
            Statement::ShowTables {
                db: None,
                like: None,
                full: false
            }
        );
        assert_eq!(
            parse("SHOW FULL TABLES FROM `d` LIKE \"t%\""),
            Statement::ShowTables {
                db: Some("d".into()),
                like: Some("t%".into()),
                full: true
            }
        );
        assert_eq!(
            parse("show tables in internal.d"),
            Statement::ShowTables {
                db: Some("d".into()),
                like: None,
                full: false
            }
        );
    }

    #[test]
    fn use_db() {
        assert_eq!(parse("USE d"), Statement::Use { db: "d".into() });
        assert_eq!(parse("use `D b`;"), Statement::Use { db: "D b".into() });
        assert_eq!(parse("USE internal.d"), Statement::Use { db: "d".into() });
        assert!(err("USE hive.d").contains("Unknown catalog 'hive'"));
        assert!(err("USE").contains("expected identifier"));
    }

    #[test]
    fn describe_and_show_columns() {
        assert_eq!(
            parse("DESC t"),
            Statement::Describe {
                table: tn(None, "t"),
                all: false
            }
        );
        assert_eq!(
            parse("DESCRIBE d.t ALL"),
            Statement::Describe {
                table: tn(Some("d"), "t"),
                all: true
            }
        );
        assert_eq!(
            parse("SHOW COLUMNS FROM t"),
            Statement::Describe {
                table: tn(None, "t"),
                all: false
            }
        );
        assert_eq!(
            parse("SHOW FULL FIELDS IN t IN d LIKE '%'"),
            Statement::Describe {
                table: tn(Some("d"), "t"),
                all: false
            }
        );
        assert_eq!(
            parse("show full columns from `d`.`t`"),
            Statement::Describe {
                table: tn(Some("d"), "t"),
                all: false
            }
        );
        assert!(err("SHOW COLUMNS FROM t LIKE 'a%'").contains("not supported yet"));
        assert!(err("SHOW COLUMNS t").contains("expected FROM or IN"));
    }

    #[test]
    fn show_create() {
        assert_eq!(
            parse("SHOW CREATE TABLE d.t"),
            Statement::ShowCreateTable {
                table: tn(Some("d"), "t")
            }
        );
        assert_eq!(
            parse("show create database d"),
            Statement::ShowCreateDatabase { name: "d".into() }
        );
        assert_eq!(
            parse("SHOW CREATE SCHEMA d"),
            Statement::ShowCreateDatabase { name: "d".into() }
        );
        assert_eq!(
            parse("SHOW CREATE VIEW v"),
            Statement::Query("SHOW CREATE VIEW v".into())
        );
    }

    #[test]
    fn drop_table() {
        assert_eq!(
            parse("DROP TABLE t"),
            Statement::DropTable {
                table: tn(None, "t"),
                if_exists: false,
                force: false
            }
        );
        assert_eq!(
            parse("drop table if exists d.t force;"),
            Statement::DropTable {
                table: tn(Some("d"), "t"),
                if_exists: true,
                force: true
            }
        );
        assert_eq!(
            parse("DROP TABLE internal.d.t"),
            Statement::DropTable {
                table: tn(Some("d"), "t"),
                if_exists: false,
                force: false
            }
        );
        assert!(err("DROP TABLE a, b").contains("expected end of statement"));
    }

    #[test]
    fn show_partitions() {
        let t = |db: Option<&str>| TableName {
            db: db.map(str::to_string),
            table: "t".into(),
        };
        assert_eq!(
            parse("SHOW PARTITIONS FROM t"),
            Statement::ShowPartitions {
                table: t(None),
                temporary: false,
                name: None,
                name_like: None,
                limit: None
            }
        );
        assert_eq!(
            parse("show temporary partitions in d.t where PartitionName = 'p1' limit 2"),
            Statement::ShowPartitions {
                table: t(Some("d")),
                temporary: true,
                name: Some("p1".into()),
                name_like: None,
                limit: Some(2)
            }
        );
        assert_eq!(
            parse("SHOW PARTITIONS FROM t WHERE PartitionName LIKE 'p%'"),
            Statement::ShowPartitions {
                table: t(None),
                temporary: false,
                name: None,
                name_like: Some("p%".into()),
                limit: None
            }
        );
        assert!(err("SHOW PARTITIONS FROM t WHERE State = 'NORMAL'").contains("not supported yet"));
        assert!(err("SHOW PARTITIONS FROM t ORDER BY PartitionId").contains("not supported yet"));
        assert!(err("SHOW PARTITIONS t").contains("expected FROM or IN"));
    }

    #[test]
    fn partition_keywords_differ_from_quoted_text() {
        let ct = create_table(
            "CREATE TABLE t (s VARCHAR(10)) PARTITION BY LIST(s) (PARTITION p VALUES IN ('MAXVALUE', \"NULL\", NULL))",
        );
        let part = ct.partition.unwrap_or_else(|| panic!("no partition"));
        assert_eq!(
            part.partitions[0].values,
            PartitionValues::In(vec![
                vec![PartitionLiteral::Value("MAXVALUE".into())],
                vec![PartitionLiteral::Value("NULL".into())],
                vec![PartitionLiteral::Null],
            ])
        );
    }

    // ----- SHOW admin/session -----

    #[test]
    fn show_simple() {
        assert_eq!(parse("SHOW BACKENDS"), Statement::ShowBackends);
        assert_eq!(parse("show frontends;"), Statement::ShowFrontends);
        assert_eq!(
            parse("SHOW PROCESSLIST"),
            Statement::ShowProcesslist { full: false }
        );
        assert_eq!(
            parse("SHOW FULL PROCESSLIST"),
            Statement::ShowProcesslist { full: true }
        );
        assert_eq!(parse("SHOW WARNINGS"), Statement::ShowWarnings);
        assert_eq!(parse("SHOW ERRORS"), Statement::ShowErrors);
        assert_eq!(parse("SHOW ENGINES"), Statement::ShowEngines);
        assert_eq!(parse("SHOW CHARSET"), Statement::ShowCharset);
        assert_eq!(parse("SHOW CHARACTER SET"), Statement::ShowCharset);
        assert_eq!(
            parse("SHOW COLLATION"),
            Statement::ShowCollation { like: None }
        );
        assert_eq!(
            parse("SHOW COLLATION LIKE 'utf8%'"),
            Statement::ShowCollation {
                like: Some("utf8%".into())
            }
        );
        assert_eq!(
            parse("SHOW TABLE STATUS"),
            Statement::ShowTableStatus {
                db: None,
                like: None
            }
        );
        assert_eq!(
            parse("SHOW TABLE STATUS FROM d LIKE 't'"),
            Statement::ShowTableStatus {
                db: Some("d".into()),
                like: Some("t".into())
            }
        );
        assert!(err("SHOW WARNINGS extra").contains("near 'extra': expected end of statement"));
    }

    #[test]
    fn show_variables() {
        assert_eq!(
            parse("SHOW VARIABLES"),
            Statement::ShowVariables {
                global: false,
                like: None
            }
        );
        assert_eq!(
            parse("SHOW GLOBAL VARIABLES LIKE 'max%'"),
            Statement::ShowVariables {
                global: true,
                like: Some("max%".into())
            }
        );
        assert_eq!(
            parse("SHOW SESSION VARIABLES WHERE Variable_name = 'version_comment'"),
            Statement::ShowVariables {
                global: false,
                like: Some("version_comment".into())
            }
        );
        assert_eq!(
            parse("SHOW VARIABLES WHERE Variable_name ='language' OR Variable_name = 'net_write_timeout'"),
            Statement::ShowVariables {
                global: false,
                like: None
            }
        );
        assert_eq!(
            parse("SHOW VARIABLES WHERE `variable_name` IN ('a', 'b')"),
            Statement::ShowVariables {
                global: false,
                like: None
            }
        );
        assert!(err("SHOW VARIABLES WHERE Value = 'x'").contains("expected Variable_name"));
    }

    // ----- ALTER SYSTEM, KILL, transactions -----

    #[test]
    fn alter_system() {
        assert_eq!(
            parse("ALTER SYSTEM ADD BACKEND \"127.0.0.1:9050\""),
            Statement::AlterSystem(AlterSystem::AddBackends(strs(&["127.0.0.1:9050"])))
        );
        assert_eq!(
            parse("alter system add backend 'h1:9050', \"h2:9050\""),
            Statement::AlterSystem(AlterSystem::AddBackends(strs(&["h1:9050", "h2:9050"])))
        );
        assert_eq!(
            parse("ALTER SYSTEM DROP BACKEND 'h:1'"),
            Statement::AlterSystem(AlterSystem::DropBackends(strs(&["h:1"])))
        );
        assert_eq!(
            parse("ALTER SYSTEM DROPP BACKEND 'h:1'"),
            Statement::AlterSystem(AlterSystem::DropBackends(strs(&["h:1"])))
        );
        assert_eq!(
            parse("ALTER SYSTEM DECOMMISSION BACKEND 'h:1', 'h:2'"),
            Statement::AlterSystem(AlterSystem::DecommissionBackends(strs(&["h:1", "h:2"])))
        );
        assert_eq!(
            parse("ALTER SYSTEM ADD FOLLOWER 'h:9010'"),
            Statement::AlterSystem(AlterSystem::AddFollower("h:9010".into()))
        );
        assert_eq!(
            parse("ALTER SYSTEM ADD OBSERVER 'h:9010'"),
            Statement::AlterSystem(AlterSystem::AddObserver("h:9010".into()))
        );
        assert_eq!(
            parse("ALTER SYSTEM DROP FOLLOWER 'h:9010'"),
            Statement::AlterSystem(AlterSystem::DropFollower("h:9010".into()))
        );
        assert_eq!(
            parse("ALTER SYSTEM DROP OBSERVER 'h:9010'"),
            Statement::AlterSystem(AlterSystem::DropObserver("h:9010".into()))
        );
        assert!(err("ALTER SYSTEM ADD BACKEND")
            .contains("at end of statement: expected string literal"));
        assert!(err("ALTER SYSTEM ADD FOLLOWER 'a', 'b'").contains("expected end of statement"));
        assert_eq!(
            parse("ALTER SYSTEM MODIFY BACKEND 'h:1' SET ('tag.location' = 'a')"),
            Statement::Query("ALTER SYSTEM MODIFY BACKEND 'h:1' SET ('tag.location' = 'a')".into())
        );
    }

    #[test]
    fn kill() {
        assert_eq!(
            parse("KILL 42"),
            Statement::Kill {
                query_only: false,
                id: 42
            }
        );
        assert_eq!(
            parse("kill query 7"),
            Statement::Kill {
                query_only: true,
                id: 7
            }
        );
        assert_eq!(
            parse("KILL CONNECTION 8"),
            Statement::Kill {
                query_only: false,
                id: 8
            }
        );
        assert!(err("KILL QUERY 'abc'").contains("not supported yet"));
        assert!(err("KILL x").contains("expected connection id"));
    }

    #[test]
    fn transactions() {
        let begin = |label: Option<&str>| Statement::Begin {
            label: label.map(String::from),
        };
        assert_eq!(parse("BEGIN"), begin(None));
        assert_eq!(parse("begin work;"), begin(None));
        assert_eq!(parse("BEGIN WITH LABEL l1"), begin(Some("l1")));
        assert_eq!(parse("START TRANSACTION"), begin(None));
        assert_eq!(parse("START TRANSACTION READ ONLY"), begin(None));
        assert_eq!(
            parse("SHOW LOAD FROM d WHERE LABEL = 'x' AND STATE = 'finished' ORDER BY CreateTime DESC LIMIT 5"),
            Statement::ShowLoad {
                db: Some("d".into()),
                stream: false,
                filter: LoadFilter {
                    label: Some("x".into()),
                    label_like: None,
                    state: Some("FINISHED".into()),
                },
                limit: Some(5),
            }
        );
        assert_eq!(
            parse("show stream load where label like 'a%'"),
            Statement::ShowLoad {
                db: None,
                stream: true,
                filter: LoadFilter {
                    label: None,
                    label_like: Some("a%".into()),
                    state: None,
                },
                limit: None,
            }
        );
        assert_eq!(
            parse("SHOW TRANSACTION WHERE ID = 10005"),
            Statement::ShowTransaction {
                db: None,
                id: Some(10005),
                label: None,
            }
        );
        assert_eq!(parse("COMMIT"), Statement::Commit);
        assert_eq!(parse("commit work"), Statement::Commit);
        assert_eq!(parse("ROLLBACK"), Statement::Rollback);
        assert_eq!(parse("ROLLBACK WORK;"), Statement::Rollback);
    }

    // ----- EXPLAIN -----

    #[test]
    fn explain_keeps_exact_text() {
        assert_eq!(
            parse("EXPLAIN SELECT  a FROM t WHERE b = 'x' ;"),
            Statement::Explain {
                verbose: false,
                analyze: false,
                statement: "SELECT  a FROM t WHERE b = 'x'".into()
            }
        );
        assert_eq!(
            parse("explain verbose WITH c AS (SELECT 1)\nSELECT * FROM c"),
            Statement::Explain {
                verbose: true,
                analyze: false,
                statement: "WITH c AS (SELECT 1)\nSELECT * FROM c".into()
            }
        );
        assert_eq!(
            parse("EXPLAIN ANALYZE INSERT INTO t SELECT 1"),
            Statement::Explain {
                verbose: false,
                analyze: true,
                statement: "INSERT INTO t SELECT 1".into()
            }
        );
        assert_eq!(
            parse("DESC SELECT 1"),
            Statement::Explain {
                verbose: false,
                analyze: false,
                statement: "SELECT 1".into()
            }
        );
        assert_eq!(
            parse("describe verbose select 'é' from t"),
            Statement::Explain {
                verbose: true,
                analyze: false,
                statement: "select 'é' from t".into()
            }
        );
        assert_eq!(
            parse("DESC (SELECT 1)"),
            Statement::Explain {
                verbose: false,
                analyze: false,
                statement: "(SELECT 1)".into()
            }
        );
        // A table named like a modifier is still a table.
        assert_eq!(
            parse("DESC verbose"),
            Statement::Describe {
                table: tn(None, "verbose"),
                all: false
            }
        );
        assert!(err("EXPLAIN").contains("expected a statement to explain"));
    }

    // ----- users -----

    #[test]
    fn create_and_drop_user() {
        assert_eq!(
            parse("CREATE USER 'jack'"),
            Statement::CreateUser {
                user: user("jack", "%"),
                if_not_exists: false,
                password: None
            }
        );
        assert_eq!(
            parse("CREATE USER IF NOT EXISTS 'jack'@'192.168.%' IDENTIFIED BY '123456'"),
            Statement::CreateUser {
                user: user("jack", "192.168.%"),
                if_not_exists: true,
                password: Some("123456".into())
            }
        );
        assert_eq!(
            parse("create user jack@localhost identified by \"pw\""),
            Statement::CreateUser {
                user: user("jack", "localhost"),
                if_not_exists: false,
                password: Some("pw".into())
            }
        );
        assert_eq!(
            parse("CREATE USER 'jack'@localhost"),
            Statement::CreateUser {
                user: user("jack", "localhost"),
                if_not_exists: false,
                password: None
            }
        );
        assert_eq!(
            parse("DROP USER `jack`@`%`"),
            Statement::DropUser {
                user: user("jack", "%"),
                if_exists: false
            }
        );
        assert_eq!(
            parse("DROP USER IF EXISTS 'jack'@'h'"),
            Statement::DropUser {
                user: user("jack", "h"),
                if_exists: true
            }
        );
        assert!(err("CREATE USER 'u' IDENTIFIED BY PASSWORD '*AB'").contains("not supported yet"));
    }

    #[test]
    fn set_password() {
        assert_eq!(
            parse("SET PASSWORD = PASSWORD('x')"),
            Statement::SetPassword {
                user: None,
                password: "x".into()
            }
        );
        assert_eq!(
            parse("SET PASSWORD FOR 'jack'@'%' = 'y'"),
            Statement::SetPassword {
                user: Some(user("jack", "%")),
                password: "y".into()
            }
        );
        assert_eq!(
            parse("set password for jack = password(\"z\")"),
            Statement::SetPassword {
                user: Some(user("jack", "%")),
                password: "z".into()
            }
        );
    }

    // ----- SET -----

    #[test]
    fn set_scopes_and_names() {
        use VarScope::*;
        assert_eq!(set_one("SET a = 1"), assign(Session, "a", SetValue::Int(1)));
        assert_eq!(
            set_one("SET GLOBAL Exec_Mem_Limit = 1"),
            assign(Global, "exec_mem_limit", SetValue::Int(1))
        );
        assert_eq!(
            set_one("SET SESSION a = 1"),
            assign(Session, "a", SetValue::Int(1))
        );
        assert_eq!(
            set_one("SET LOCAL a = 1"),
            assign(Session, "a", SetValue::Int(1))
        );
        assert_eq!(
            set_one("SET @@global.x = 1"),
            assign(Global, "x", SetValue::Int(1))
        );
        assert_eq!(
            set_one("SET @@SESSION.X = 1"),
            assign(Session, "x", SetValue::Int(1))
        );
        assert_eq!(
            set_one("SET @@local.x = 1"),
            assign(Session, "x", SetValue::Int(1))
        );
        assert_eq!(
            set_one("SET @@x = 1"),
            assign(Session, "x", SetValue::Int(1))
        );
        assert_eq!(
            set_one("SET @MyVar = 1"),
            assign(User, "myvar", SetValue::Int(1))
        );
        assert_eq!(set_one("SET @'v' = 1"), assign(User, "v", SetValue::Int(1)));
        assert_eq!(
            set_one("SET x := 2"),
            assign(Session, "x", SetValue::Int(2))
        );
        assert_eq!(
            set_one("SET `global` = 3"),
            assign(Session, "global", SetValue::Int(3))
        );
        assert_eq!(
            set_one("SET global = 3"),
            assign(Session, "global", SetValue::Int(3))
        );
    }

    #[test]
    fn set_multiple_carries_scope() {
        use VarScope::*;
        assert_eq!(
            parse("SET GLOBAL a = 1, b = 'x', SESSION c = ON, @@global.d = 2, e = DEFAULT"),
            Statement::Set(vec![
                assign(Global, "a", SetValue::Int(1)),
                assign(Global, "b", SetValue::Str("x".into())),
                assign(Session, "c", SetValue::Str("ON".into())),
                assign(Global, "d", SetValue::Int(2)),
                assign(Session, "e", SetValue::Default),
            ])
        );
    }

    #[test]
    fn set_values() {
        use VarScope::Session;
        let v = |sql: &str| set_one(sql).value;
        assert_eq!(v("SET a = 'str'"), SetValue::Str("str".into()));
        assert_eq!(v("SET a = \"dq\""), SetValue::Str("dq".into()));
        assert_eq!(v("SET a = ON"), SetValue::Str("ON".into()));
        assert_eq!(v("SET a = off"), SetValue::Str("off".into()));
        assert_eq!(v("SET a = utf8mb4"), SetValue::Str("utf8mb4".into()));
        assert_eq!(v("SET a = TRUE"), SetValue::Bool(true));
        assert_eq!(v("SET a = false"), SetValue::Bool(false));
        assert_eq!(v("SET a = -5"), SetValue::Int(-5));
        assert_eq!(v("SET a = +5"), SetValue::Int(5));
        assert_eq!(v("SET a = -9223372036854775808"), SetValue::Int(i64::MIN));
        assert_eq!(v("SET a = 1.5"), SetValue::Float(1.5));
        assert_eq!(v("SET a = -2.5e3"), SetValue::Float(-2500.0));
        assert_eq!(v("SET a = DEFAULT"), SetValue::Default);
        assert_eq!(
            v("SET a = 10*1024*1024"),
            SetValue::Expr("10*1024*1024".into())
        );
        assert_eq!(
            v("SET a = concat('a', 'b')"),
            SetValue::Expr("concat('a', 'b')".into())
        );
        assert_eq!(v("SET a = NULL"), SetValue::Str("NULL".into()));
        assert_eq!(
            parse("SET a = f(1, 2), b = 1 + 1"),
            Statement::Set(vec![
                assign(Session, "a", SetValue::Expr("f(1, 2)".into())),
                assign(Session, "b", SetValue::Expr("1 + 1".into())),
            ])
        );
        assert!(err("SET a =").contains("at end of statement: expected a value"));
        assert!(err("SET a 1").contains("near '1': expected '=' or ':='"));
    }

    #[test]
    fn set_names_charset_transaction() {
        use VarScope::*;
        assert_eq!(
            set_one("SET NAMES utf8mb4"),
            assign(Session, "names", SetValue::Str("utf8mb4".into()))
        );
        assert_eq!(
            set_one("set names 'utf8mb4' collate 'utf8mb4_general_ci'"),
            assign(Session, "names", SetValue::Str("utf8mb4".into()))
        );
        assert_eq!(
            set_one("SET NAMES DEFAULT"),
            assign(Session, "names", SetValue::Default)
        );
        assert_eq!(
            set_one("SET CHARACTER SET utf8"),
            assign(Session, "character_set", SetValue::Str("utf8".into()))
        );
        assert_eq!(
            set_one("SET CHARSET 'gbk'"),
            assign(Session, "character_set", SetValue::Str("gbk".into()))
        );
        assert_eq!(
            parse("SET NAMES utf8mb4, autocommit = 1"),
            Statement::Set(vec![
                assign(Session, "names", SetValue::Str("utf8mb4".into())),
                assign(Session, "autocommit", SetValue::Int(1)),
            ])
        );
        assert_eq!(
            set_one("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"),
            assign(
                Session,
                "transaction_isolation",
                SetValue::Str("READ-COMMITTED".into())
            )
        );
        assert_eq!(
            parse("SET GLOBAL TRANSACTION READ ONLY, ISOLATION LEVEL SERIALIZABLE"),
            Statement::Set(vec![
                assign(Global, "transaction_read_only", SetValue::Bool(true)),
                assign(
                    Global,
                    "transaction_isolation",
                    SetValue::Str("SERIALIZABLE".into())
                ),
            ])
        );
    }

    // ----- CREATE TABLE -----

    #[test]
    fn create_table_aggregate_real_ddl() {
        let ct = create_table(
            "CREATE TABLE IF NOT EXISTS dws_scan_qrcode_user_ts ( dt DATE NOT NULL , hour_time INT NOT NULL , channel_id char(5) NOT NULL , station_name varchar(55) NULL , passenger_flow BIGINT SUM DEFAULT '1' , user_id bitmap BITMAP_UNION , price BIGINT SUM ) AGGREGATE KEY(dt,hour_time, channel_id,station_name) DISTRIBUTED BY HASH(dt,hour_time) BUCKETS 1 PROPERTIES(\"replication_num\" = \"1\");",
        );
        assert_eq!(ct.name, tn(None, "dws_scan_qrcode_user_ts"));
        assert!(ct.if_not_exists);
        let col = |name: &str,
                   ty: TypeDef,
                   agg: Option<AggKind>,
                   nullable: Option<bool>,
                   default: Option<DefaultValue>| ColumnDef {
            name: name.into(),
            data_type: ty,
            agg,
            nullable,
            key: false,
            auto_increment: false,
            default,
            comment: None,
        };
        assert_eq!(
            ct.columns,
            vec![
                col("dt", supported(ColumnType::Date), None, Some(false), None),
                col(
                    "hour_time",
                    supported(ColumnType::Int),
                    None,
                    Some(false),
                    None
                ),
                col(
                    "channel_id",
                    supported(ColumnType::Char { len: 5 }),
                    None,
                    Some(false),
                    None
                ),
                col(
                    "station_name",
                    supported(ColumnType::Varchar { len: 55 }),
                    None,
                    Some(true),
                    None
                ),
                col(
                    "passenger_flow",
                    supported(ColumnType::BigInt),
                    Some(AggKind::Sum),
                    None,
                    Some(DefaultValue::Literal("1".into()))
                ),
                col(
                    "user_id",
                    TypeDef::Unsupported("BITMAP".into()),
                    Some(AggKind::BitmapUnion),
                    None,
                    None
                ),
                col(
                    "price",
                    supported(ColumnType::BigInt),
                    Some(AggKind::Sum),
                    None,
                    None
                ),
            ]
        );
        assert_eq!(
            ct.keys,
            Some(KeysDesc {
                kind: KeysKind::Aggregate,
                columns: strs(&["dt", "hour_time", "channel_id", "station_name"])
            })
        );
        assert_eq!(
            ct.distribution,
            Some(DistributionDesc::Hash {
                columns: strs(&["dt", "hour_time"]),
                buckets: Some(1)
            })
        );
        assert_eq!(ct.properties, vec![("replication_num".into(), "1".into())]);
        assert_eq!(ct.partition, None);
        assert_eq!(ct.engine, None);
        assert_eq!(ct.as_select, None);
        assert_eq!(ct.like, None);
    }

    #[test]
    fn create_table_duplicate_partitioned_real_ddl() {
        let ct = create_table(
            "CREATE TABLE t (k1 tinyint(4) NULL COMMENT \"\", v1 decimalv3(27,9), v2 datetimev2(3) NOT NULL DEFAULT CURRENT_TIMESTAMP, v3 string,) ENGINE=OLAP DUPLICATE KEY(`k1`) COMMENT 'OLAP' PARTITION BY RANGE(`k1`) (PARTITION p1 VALUES LESS THAN (\"10\"), PARTITION p2 VALUES [(\"10\"), (\"20\")), PARTITION p3 VALUES LESS THAN MAXVALUE) DISTRIBUTED BY HASH(`k1`) BUCKETS AUTO PROPERTIES (\"replication_allocation\" = \"tag.location.default: 1\", \"in_memory\" = \"false\");",
        );
        assert!(!ct.if_not_exists);
        assert_eq!(ct.columns.len(), 4);
        assert_eq!(ct.columns[0].name, "k1");
        assert_eq!(ct.columns[0].data_type, supported(ColumnType::TinyInt));
        assert_eq!(ct.columns[0].nullable, Some(true));
        assert_eq!(ct.columns[0].comment, Some(String::new()));
        assert_eq!(
            ct.columns[1].data_type,
            supported(ColumnType::Decimal {
                precision: 27,
                scale: 9
            })
        );
        assert_eq!(ct.columns[1].nullable, None);
        assert_eq!(
            ct.columns[2].data_type,
            supported(ColumnType::DateTime { precision: 3 })
        );
        assert_eq!(ct.columns[2].nullable, Some(false));
        assert_eq!(ct.columns[2].default, Some(DefaultValue::CurrentTimestamp));
        assert_eq!(ct.columns[3].data_type, supported(ColumnType::String));
        assert_eq!(ct.engine.as_deref(), Some("OLAP"));
        assert_eq!(
            ct.keys,
            Some(KeysDesc {
                kind: KeysKind::Duplicate,
                columns: strs(&["k1"])
            })
        );
        assert_eq!(ct.comment.as_deref(), Some("OLAP"));
        assert_eq!(
            ct.partition,
            Some(PartitionDesc {
                kind: PartitionKind::Range,
                auto: false,
                columns: strs(&["k1"]),
                partitions: vec![
                    PartitionDef {
                        name: "p1".into(),
                        values: PartitionValues::LessThan(lits(&["10"]))
                    },
                    PartitionDef {
                        name: "p2".into(),
                        values: PartitionValues::Range {
                            lower: lits(&["10"]),
                            upper: lits(&["20"])
                        }
                    },
                    PartitionDef {
                        name: "p3".into(),
                        values: PartitionValues::LessThanMaxValue
                    },
                ]
            })
        );
        assert_eq!(
            ct.distribution,
            Some(DistributionDesc::Hash {
                columns: strs(&["k1"]),
                buckets: None
            })
        );
        assert_eq!(
            ct.properties,
            vec![
                (
                    "replication_allocation".into(),
                    "tag.location.default: 1".into()
                ),
                ("in_memory".into(), "false".into())
            ]
        );
    }

    #[test]
    fn create_table_column_options() {
        let ct = create_table(
            "CREATE TABLE d.t (
                id BIGINT KEY NOT NULL AUTO_INCREMENT(100) COMMENT 'pk',
                `v` INT REPLACE_IF_NOT_NULL NULL DEFAULT NULL,
                ts DATETIME(6) DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
                d DATE DEFAULT CURRENT_DATE,
                n INT DEFAULT -1,
                s VARCHAR(10) DEFAULT \"abc\",
                b BOOLEAN DEFAULT TRUE,
                x INT MAX, y INT MIN, z VARCHAR(3) REPLACE, h HLL HLL_UNION,
                q QUANTILE_STATE QUANTILE_UNION, g AGG_STATE<max_by(int not null, int)> GENERIC
            ) UNIQUE KEY(id) DISTRIBUTED BY RANDOM BUCKETS 8",
        );
        assert_eq!(ct.name, tn(Some("d"), "t"));
        let c = &ct.columns;
        assert!(c[0].key && c[0].auto_increment);
        assert_eq!(c[0].nullable, Some(false));
        assert_eq!(c[0].comment.as_deref(), Some("pk"));
        assert_eq!(c[1].name, "v");
        assert_eq!(c[1].agg, Some(AggKind::ReplaceIfNotNull));
        assert_eq!(c[1].nullable, Some(true));
        assert_eq!(c[1].default, Some(DefaultValue::Null));
        assert_eq!(
            c[2].data_type,
            supported(ColumnType::DateTime { precision: 6 })
        );
        assert_eq!(c[2].default, Some(DefaultValue::CurrentTimestamp));
        assert_eq!(c[3].default, Some(DefaultValue::CurrentDate));
        assert_eq!(c[4].default, Some(DefaultValue::Literal("-1".into())));
        assert_eq!(c[5].default, Some(DefaultValue::Literal("abc".into())));
        assert_eq!(c[6].default, Some(DefaultValue::Literal("true".into())));
        let aggs: Vec<_> = c[7..].iter().map(|c| c.agg).collect();
        assert_eq!(
            aggs,
            vec![
                Some(AggKind::Max),
                Some(AggKind::Min),
                Some(AggKind::Replace),
                Some(AggKind::HllUnion),
                Some(AggKind::QuantileUnion),
                Some(AggKind::Generic)
            ]
        );
        assert_eq!(
            c[12].data_type,
            TypeDef::Unsupported("AGG_STATE<max_by(int not null, int)>".into())
        );
        assert_eq!(
            ct.keys,
            Some(KeysDesc {
                kind: KeysKind::Unique,
                columns: strs(&["id"])
            })
        );
        assert_eq!(
            ct.distribution,
            Some(DistributionDesc::Random { buckets: Some(8) })
        );
    }

    #[test]
    fn create_table_indexes_rollups_and_engine() {
        let ct = create_table(
            "CREATE EXTERNAL TABLE IF NOT EXISTS t (
                k INT, v STRING,
                INDEX idx_v (v) USING INVERTED PROPERTIES(\"parser\" = \"english\") COMMENT 'inv',
                INDEX idx_k (`k`) USING BITMAP,
                INDEX idx_n (v) USING NGRAM_BF PROPERTIES(\"gram_size\"=\"3\", \"bf_size\"=\"256\"),
            ) ENGINE = olap DUPLICATE KEY(k)
            DISTRIBUTED BY HASH(k) BUCKETS 10
            ROLLUP (r1(k, v), r2(v) DUPLICATE KEY(v) PROPERTIES('a'='b'))
            PROPERTIES ('replication_num' = '1')",
        );
        assert!(ct.if_not_exists);
        assert_eq!(ct.columns.len(), 2);
        assert_eq!(ct.indexes, strs(&["idx_v", "idx_k", "idx_n"]));
        assert_eq!(ct.engine.as_deref(), Some("olap"));
        assert_eq!(ct.rollups, strs(&["r1", "r2"]));
        assert_eq!(ct.properties, vec![("replication_num".into(), "1".into())]);
    }

    #[test]
    fn create_table_list_and_auto_partitions() {
        let ct = create_table(
            "CREATE TABLE t (k VARCHAR(10), c INT) DUPLICATE KEY(k)
             PARTITION BY LIST(k, c) (
                PARTITION p1 VALUES IN ((\"a\", 1), ('b', -2)),
                PARTITION IF NOT EXISTS p2 VALUES IN (\"c\")
             ) DISTRIBUTED BY HASH(k)",
        );
        let part = ct.partition.unwrap_or_else(|| panic!("no partition"));
        assert_eq!(part.kind, PartitionKind::List);
        assert!(!part.auto);
        assert_eq!(part.columns, strs(&["k", "c"]));
        assert_eq!(
            part.partitions,
            vec![
                PartitionDef {
                    name: "p1".into(),
                    values: PartitionValues::In(vec![lits(&["a", "1"]), lits(&["b", "-2"])])
                },
                PartitionDef {
                    name: "p2".into(),
                    values: PartitionValues::In(vec![lits(&["c"])])
                },
            ]
        );

        let ct = create_table(
            "CREATE TABLE t (k DATETIME NOT NULL) AUTO PARTITION BY RANGE (date_trunc(`k`, 'month')) () DISTRIBUTED BY HASH(k)",
        );
        let part = ct.partition.unwrap_or_else(|| panic!("no partition"));
        assert!(part.auto);
        assert_eq!(part.kind, PartitionKind::Range);
        assert_eq!(part.columns, strs(&["k"]));
        assert!(part.partitions.is_empty());

        let ct = create_table(
            "CREATE TABLE t (a INT, b INT) PARTITION BY RANGE(a, b) (PARTITION p VALUES LESS THAN (\"1\", MAXVALUE) (\"replication_num\" = \"1\"), PARTITION q VALUES LESS THAN (MAXVALUE))",
        );
        let part = ct.partition.unwrap_or_else(|| panic!("no partition"));
        assert_eq!(
            part.partitions[0].values,
            PartitionValues::LessThan(lits(&["1", "MAXVALUE"]))
        );
        assert_eq!(part.partitions[1].values, PartitionValues::LessThanMaxValue);
    }

    #[test]
    fn create_table_batch_partitions_are_rejected_clearly() {
        let e = err(
            "CREATE TABLE t (k DATE) PARTITION BY RANGE(k) (FROM (\"2000-11-14\") TO (\"2021-11-14\") INTERVAL 1 YEAR) DISTRIBUTED BY HASH(k)",
        );
        assert!(
            e.contains("not supported yet: batch partition creation"),
            "{e}"
        );
    }

    #[test]
    fn create_table_like_and_as_select() {
        let ct = create_table("CREATE TABLE t2 LIKE d.t1");
        assert_eq!(ct.like, Some(tn(Some("d"), "t1")));
        assert!(ct.columns.is_empty());
        let ct = create_table("CREATE TABLE IF NOT EXISTS t2 LIKE t1 WITH ROLLUP (r1)");
        assert_eq!(ct.like, Some(tn(None, "t1")));

        let ct = create_table(
            "CREATE TABLE t DUPLICATE KEY(a) DISTRIBUTED BY HASH(a) PROPERTIES('replication_num'='1') AS SELECT a, 'x;y' FROM s;",
        );
        assert_eq!(ct.as_select.as_deref(), Some("SELECT a, 'x;y' FROM s"));
        assert!(ct.columns.is_empty());
        let ct = create_table("CREATE TABLE t (a INT) AS WITH c AS (SELECT 1 a) SELECT * FROM c");
        assert_eq!(
            ct.as_select.as_deref(),
            Some("WITH c AS (SELECT 1 a) SELECT * FROM c")
        );
        let ct = create_table("CREATE TABLE t SELECT 1");
        assert_eq!(ct.as_select.as_deref(), Some("SELECT 1"));
    }

    #[test]
    fn create_table_errors() {
        assert!(err("CREATE TABLE t").contains("expected column definitions"));
        assert!(err("CREATE TABLE t ()").contains("near ')': expected identifier"));
        assert!(err("CREATE TABLE t (a INT").contains("at end of statement: expected ',' or ')'"));
        assert!(err("CREATE TABLE t (a)").contains("near ')': expected column type"));
        assert!(
            err("CREATE TABLE t (a INT) DUPLICATE KEY(a) DUPLICATE KEY(a)")
                .contains("duplicate KEY clause")
        );
        assert!(
            err("CREATE TABLE t (a INT) DISTRIBUTED BY HASH(a) BUCKETS 0")
                .contains("greater than zero")
        );
        assert!(err("CREATE TABLE t (a INT) DISTRIBUTED BY LIST(a)")
            .contains("expected HASH or RANDOM"));
        assert!(err("CREATE TABLE t (a INT) PARTITION BY HASH(a) ()")
            .contains("expected RANGE or LIST"));
        assert!(
            err("CREATE TABLE t (a INT) PARTITION BY RANGE(a) (PARTITION p VALUES (1))")
                .contains("expected LESS THAN, '[' or IN")
        );
        assert!(err("CREATE TABLE t (a INT DEFAULT foo)")
            .contains("near 'foo': expected default value"));
        assert!(
            err("CREATE TABLE t (a INT) PROPERTIES ('a' 'b')").contains("near ''b'': expected '='")
        );
        assert!(err("CREATE TABLE t (a INT) xyz")
            .contains("Syntax error near 'xyz': expected end of statement"));
        assert!(err("CREATE TABLE hive.d.t (a INT)").contains("Unknown catalog"));
        assert!(err("CREATE TABLE t (a INT, b 'x')").contains("expected column type"));
    }

    // ----- types -----

    #[test]
    fn supported_types() {
        let cases: &[(&str, ColumnType)] = &[
            ("BOOLEAN", ColumnType::Boolean),
            ("bool", ColumnType::Boolean),
            ("TINYINT", ColumnType::TinyInt),
            ("tinyint(4)", ColumnType::TinyInt),
            ("SMALLINT(6)", ColumnType::SmallInt),
            ("INT", ColumnType::Int),
            ("int(11)", ColumnType::Int),
            ("INTEGER", ColumnType::Int),
            ("BIGINT(20)", ColumnType::BigInt),
            ("LARGEINT", ColumnType::LargeInt),
            ("FLOAT", ColumnType::Float),
            ("DOUBLE", ColumnType::Double),
            (
                "DECIMAL",
                ColumnType::Decimal {
                    precision: 9,
                    scale: 0,
                },
            ),
            (
                "DECIMAL(10)",
                ColumnType::Decimal {
                    precision: 10,
                    scale: 0,
                },
            ),
            (
                "decimal(38, 38)",
                ColumnType::Decimal {
                    precision: 38,
                    scale: 38,
                },
            ),
            (
                "DECIMALV2(27,9)",
                ColumnType::Decimal {
                    precision: 27,
                    scale: 9,
                },
            ),
            (
                "DECIMALV3(18,2)",
                ColumnType::Decimal {
                    precision: 18,
                    scale: 2,
                },
            ),
            (
                "NUMERIC(5,1)",
                ColumnType::Decimal {
                    precision: 5,
                    scale: 1,
                },
            ),
            ("DATE", ColumnType::Date),
            ("DATEV2", ColumnType::Date),
            ("DATETIME", ColumnType::DateTime { precision: 0 }),
            ("datetime(6)", ColumnType::DateTime { precision: 6 }),
            ("DATETIMEV2", ColumnType::DateTime { precision: 0 }),
            ("DATETIMEV2(0)", ColumnType::DateTime { precision: 0 }),
            ("CHAR", ColumnType::Char { len: 1 }),
            ("char(255)", ColumnType::Char { len: 255 }),
            ("VARCHAR", ColumnType::Varchar { len: 65533 }),
            ("VARCHAR(65533)", ColumnType::Varchar { len: 65533 }),
            ("varchar(*)", ColumnType::Varchar { len: 65533 }),
            ("STRING", ColumnType::String),
            ("text", ColumnType::String),
        ];
        for (sql, ty) in cases {
            assert_eq!(column_type(sql), supported(ty.clone()), "{sql}");
        }
    }

    #[test]
    fn unsupported_types_are_consumed_whole() {
        let cases: &[(&str, &str)] = &[
            ("HLL", "HLL"),
            ("bitmap", "BITMAP"),
            ("QUANTILE_STATE", "QUANTILE_STATE"),
            ("JSON", "JSON"),
            ("jsonb", "JSONB"),
            ("VARIANT", "VARIANT"),
            ("IPV4", "IPV4"),
            ("IPv6", "IPV6"),
            ("TIME", "TIME"),
            ("ARRAY<INT>", "ARRAY<INT>"),
            ("array<array<varchar(10)>>", "ARRAY<array<varchar(10)>>"),
            ("MAP<STRING, ARRAY<INT>>", "MAP<STRING, ARRAY<INT>>"),
            ("STRUCT<a:INT, b:VARCHAR(3)>", "STRUCT<a:INT, b:VARCHAR(3)>"),
            ("ARRAY<MAP<INT,ARRAY<INT>>>", "ARRAY<MAP<INT,ARRAY<INT>>>"),
        ];
        for (sql, name) in cases {
            assert_eq!(
                column_type(sql),
                TypeDef::Unsupported(name.to_string()),
                "{sql}"
            );
        }
        let ct = create_table("CREATE TABLE t (a ARRAY<INT> NOT NULL, b JSON NULL COMMENT 'j') DISTRIBUTED BY HASH(a)");
        assert_eq!(ct.columns[0].nullable, Some(false));
        assert_eq!(ct.columns[1].comment.as_deref(), Some("j"));
    }

    #[test]
    fn invalid_types() {
        let e = |ty: &str| err(&format!("CREATE TABLE t (c {ty})"));
        assert!(e("DECIMAL(39,2)").contains("DECIMAL precision must be between 1 and 38, got 39"));
        assert!(e("DECIMAL(0)").contains("precision must be between 1 and 38"));
        assert!(e("DECIMAL(5,6)").contains("scale (6) must not exceed its precision (5)"));
        assert!(e("DECIMAL(5,1,1)").contains("at most 2 arguments"));
        assert!(e("DATETIME(7)").contains("DATETIME precision must be between 0 and 6, got 7"));
        assert!(e("CHAR(256)").contains("CHAR length must be between 1 and 255, got 256"));
        assert!(e("CHAR(0)").contains("CHAR length"));
        assert!(e("VARCHAR(65534)").contains("VARCHAR length must be between 1 and 65533"));
        assert!(e("VARCHAR(99999999999999999999)").contains("expected integer"));
        assert_eq!(e("FOO(1)"), "Unknown column type 'FOO'");
        assert_eq!(
            e("`INT`"),
            "Syntax error near '`INT`': expected column type"
        );
        assert!(e("ARRAY").contains("expected '<'"));
        assert!(e("ARRAY<INT").contains("expected '>'"));
        let msg = e("decimal(40,2)");
        assert!(msg.starts_with("Invalid type 'decimal(40,2)'"), "{msg}");
    }

    // ----- robustness -----

    #[test]
    fn error_message_format() {
        assert_eq!(
            err("DROP DATABASE IF EXISTS"),
            "Syntax error at end of statement: expected identifier"
        );
        assert_eq!(
            err("SHOW TABLES LIKE 5"),
            "Syntax error near '5': expected string literal"
        );
        assert_eq!(
            err("SHOW DATABASES; SHOW TABLES"),
            "Syntax error near ';': expected end of statement"
        );
        assert!(
            err("SET a = 'unterminated").starts_with("Syntax error: Unterminated string literal")
        );
    }

    #[test]
    fn no_panic_on_any_prefix() {
        let statements = [
            "CREATE TABLE IF NOT EXISTS d.t (k1 tinyint(4) NULL COMMENT \"\", v ARRAY<MAP<INT,STRING>> , v1 decimalv3(27,9) SUM DEFAULT '1', INDEX i (k1) USING INVERTED PROPERTIES(\"a\"=\"b\") COMMENT 'x',) ENGINE=OLAP AGGREGATE KEY(`k1`) COMMENT 'c' AUTO PARTITION BY RANGE(date_trunc(`k1`, 'day')) (PARTITION p1 VALUES LESS THAN (\"10\"), PARTITION p2 VALUES [(\"10\"), (\"20\")), PARTITION p3 VALUES IN ((1, 'a'))) DISTRIBUTED BY HASH(`k1`) BUCKETS AUTO ROLLUP (r(k1)) PROPERTIES (\"k\" = \"v\") AS SELECT 'é'",
            "SET GLOBAL a = 1, @@session.b := 'x', @c = -1.5, NAMES utf8mb4 COLLATE 'x', CHARACTER SET DEFAULT",
            "SET PASSWORD FOR 'u'@'h' = PASSWORD('p')",
            "SHOW FULL COLUMNS FROM t FROM d LIKE '%'",
            "SHOW VARIABLES WHERE Variable_name = 'a' OR Variable_name = 'b'",
            "ALTER SYSTEM DECOMMISSION BACKEND 'a:1', 'b:2'",
            "CREATE USER IF NOT EXISTS 'ü'@'%' IDENTIFIED BY 'pw'",
            "DESC VERBOSE SELECT 1",
            "KILL QUERY 12",
        ];
        for sql in statements {
            for (i, _) in sql.char_indices() {
                let _ = parse_statement(&sql[..i]);
                let _ = parse_statement(&sql[i..]);
                let _ = split_statements(&sql[..i]);
            }
        }
        for garbage in [
            "SET",
            "SET @",
            "SET @@",
            "SET @@global.",
            "CREATE",
            "SHOW",
            "ALTER SYSTEM",
            "DESC",
            "CREATE TABLE t (a ARRAY<INT>>)",
            "SET a = (((",
            "DROP USER 'a'@",
            "\u{0}",
            "SHOW `TABLES`",
            "CREATE TABLE `t` (`a` INT,",
        ] {
            let _ = parse_statement(garbage);
        }
    }
}
