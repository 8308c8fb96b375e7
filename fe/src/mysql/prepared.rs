//! Server-side prepared statements (COM_STMT_PREPARE / COM_STMT_EXECUTE): the statement text
//! is kept, and each execution binds the parameters into it as SQL literals and runs it
//! like a query. Entry points: [`count_placeholders`], [`bind`], [`literal`].

use opensrv_mysql::ValueInner;

use crate::error::{FeError, Result};

/// Byte offsets of the `?` placeholders outside quotes and comments.
fn placeholders(sql: &str) -> Vec<usize> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            q @ (b'\'' | b'"' | b'`') => {
                i += 1;
                while i < bytes.len() && bytes[i] != q {
                    if bytes[i] == b'\\' && q != b'`' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            b'?' => out.push(i),
            _ => {}
        }
        i += 1;
    }
    out
}

pub fn count_placeholders(sql: &str) -> usize {
    placeholders(sql).len()
}

/// `sql` with each `?` replaced by the matching literal.
pub fn bind(sql: &str, literals: &[String]) -> Result<String> {
    let at = placeholders(sql);
    if at.len() != literals.len() {
        return Err(FeError::Analysis(format!(
            "statement has {} parameters, {} were sent",
            at.len(),
            literals.len()
        )));
    }
    let mut out =
        String::with_capacity(sql.len() + literals.iter().map(String::len).sum::<usize>());
    let mut last = 0;
    for (pos, lit) in at.iter().zip(literals) {
        out.push_str(&sql[last..*pos]);
        out.push_str(lit);
        last = pos + 1;
    }
    out.push_str(&sql[last..]);
    Ok(out)
}

fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('\'');
    for c in s.chars() {
        match c {
            '\'' => q.push_str("''"),
            '\\' => q.push_str("\\\\"),
            '\0' => q.push_str("\\0"),
            c => q.push(c),
        }
    }
    q.push('\'');
    q
}

/// A bound parameter as an SQL literal.
pub fn literal(v: ValueInner<'_>) -> Result<String> {
    Ok(match v {
        ValueInner::NULL => "NULL".to_string(),
        ValueInner::Int(i) => i.to_string(),
        ValueInner::UInt(u) => u.to_string(),
        ValueInner::Double(d) if d.is_finite() => format!("{d:?}"),
        ValueInner::Double(d) => {
            return Err(FeError::Analysis(format!("cannot bind {d} as a parameter")))
        }
        ValueInner::Bytes(b) => quote(&String::from_utf8_lossy(b)),
        ValueInner::Date(b) | ValueInner::Datetime(b) => {
            let num = |i: usize| b.get(i).copied().map_or(0, u32::from);
            let year = u32::from(u16::from_le_bytes([
                b.first().copied().unwrap_or(0),
                b.get(1).copied().unwrap_or(0),
            ]));
            let micros = if b.len() >= 11 {
                u32::from_le_bytes([b[7], b[8], b[9], b[10]])
            } else {
                0
            };
            let mut s = format!(
                "'{year:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                num(2),
                num(3),
                num(4),
                num(5),
                num(6)
            );
            if micros > 0 {
                s.push_str(&format!(".{micros:06}"));
            }
            s.push('\'');
            s
        }
        ValueInner::Time(_) => {
            return Err(FeError::NotSupported("TIME parameters".into()));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_outside_quotes_and_comments() {
        let sql = "SELECT '?', `a?`, ? -- ?\n, /* ? */ ?";
        assert_eq!(count_placeholders(sql), 2);
        let bound = bind(sql, &["1".into(), "'x'".into()]).expect("bind");
        assert_eq!(bound, "SELECT '?', `a?`, 1 -- ?\n, /* ? */ 'x'");
        assert!(bind(sql, &["1".into()]).is_err());
    }

    #[test]
    fn literals_are_escaped() {
        assert_eq!(
            literal(ValueInner::Bytes(b"it's \\ ok")).expect("lit"),
            "'it''s \\\\ ok'"
        );
        assert_eq!(literal(ValueInner::NULL).expect("lit"), "NULL");
        assert_eq!(literal(ValueInner::Double(2.5)).expect("lit"), "2.5");
        let date = [0xe8, 0x07, 3, 1];
        assert_eq!(
            literal(ValueInner::Date(&date)).expect("lit"),
            "'2024-03-01 00:00:00'"
        );
    }
}
