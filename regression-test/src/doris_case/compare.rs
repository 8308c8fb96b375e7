//! Comparison of actual result rows with a `.expected` block, using the normalisation rules of
//! the cases' README. [`compare_rows`] is the entry point; it returns a precise diff on mismatch.
//!
//! Rules: actual NULL becomes `\N` and TAB/newline/CR/backslash inside values are escaped
//! ([`escape_actual`]); Java's DATETIME rendering `2022-09-06T00:00` equals
//! `2022-09-06 00:00:00`, and trailing zeros of fractional seconds are ignored
//! ([`normalize_cell`]); numbers with a fraction or exponent compare with relative error 1e-8
//! (`23.0` = `23`), integers compare exactly; everything else compares byte-exact.
//! Sorted comparison sorts rows column by column, `\N` first, then by string value.

use std::cmp::Ordering;

/// Relative tolerance for non-integer numbers.
pub const REL_EPSILON: f64 = 1e-8;
/// How many rows of each side a diff lists in full.
const LIST_LIMIT: usize = 40;

/// Renders an actual cell the way a `.expected` file writes it.
pub fn escape_actual(cell: Option<&str>) -> String {
    let Some(s) = cell else {
        return "\\N".to_string();
    };
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            _ => out.push(c),
        }
    }
    out
}

/// Java/JDBC DATETIME text → MySQL text: `T` → space, `HH:MM` → `HH:MM:00`, and trailing
/// zeros of a fractional-seconds part dropped (on both sides, so `.120000` = `.12`).
/// Cells that do not look like a datetime are returned unchanged.
pub fn normalize_cell(cell: &str) -> String {
    let b = cell.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    let is_date = digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10);
    if !is_date || b.len() < 16 {
        return cell.to_string();
    }
    let sep = b[10];
    if !(sep == b'T' || sep == b' ') || !digits(11..13) || b[13] != b':' || !digits(14..16) {
        return cell.to_string();
    }
    let mut out = format!("{} {}", &cell[..10], &cell[11..16]);
    let rest = &cell[16..];
    if rest.is_empty() {
        out.push_str(":00");
        return out;
    }
    let rb = rest.as_bytes();
    if rb.len() < 3 || rb[0] != b':' || !rb[1].is_ascii_digit() || !rb[2].is_ascii_digit() {
        return cell.to_string();
    }
    out.push_str(&rest[..3]);
    let frac = &rest[3..];
    if frac.is_empty() {
        return out;
    }
    let Some(frac_digits) = frac.strip_prefix('.') else {
        return cell.to_string();
    };
    if frac_digits.is_empty() || !frac_digits.bytes().all(|c| c.is_ascii_digit()) {
        return cell.to_string();
    }
    let trimmed = frac_digits.trim_end_matches('0');
    if !trimmed.is_empty() {
        out.push('.');
        out.push_str(trimmed);
    }
    out
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`; returns whether it is an integer.
fn number_kind(s: &str) -> Option<bool> {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_len = i - int_start;
    if int_len == 0 || (int_len > 1 && b[int_start] == b'0') {
        return None;
    }
    let mut integer = true;
    if i < b.len() && b[i] == b'.' {
        integer = false;
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        integer = false;
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    (i == b.len()).then_some(integer)
}

/// Whether an expected cell and an actual cell (both already escaped) are equal under the rules.
pub fn cells_equal(expected: &str, actual: &str) -> bool {
    if expected == actual {
        return true;
    }
    if expected == "\\N" || actual == "\\N" {
        return false;
    }
    let (e, a) = (normalize_cell(expected), normalize_cell(actual));
    if e == a {
        return true;
    }
    match (number_kind(&e), number_kind(&a)) {
        (Some(true), Some(true)) | (None, _) | (_, None) => false,
        _ => match (e.parse::<f64>(), a.parse::<f64>()) {
            (Ok(x), Ok(y)) => x == y || (x - y).abs() <= REL_EPSILON * x.abs().max(y.abs()),
            _ => false,
        },
    }
}

fn rows_equal(expected: &[String], actual: &[String]) -> bool {
    expected.len() == actual.len() && expected.iter().zip(actual).all(|(e, a)| cells_equal(e, a))
}

/// The Doris `order_qt_` order: column by column, `\N` first, then by (normalised) string.
pub fn compare_for_sort(x: &[String], y: &[String]) -> Ordering {
    for (a, b) in x.iter().zip(y) {
        let ord = match (a == "\\N", b == "\\N") {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            (false, false) => normalize_cell(a).cmp(&normalize_cell(b)),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    x.len().cmp(&y.len())
}

/// Sorts rows with [`compare_for_sort`] (stable).
pub fn sort_rows(rows: &mut [Vec<String>]) {
    rows.sort_by(|a, b| compare_for_sort(a, b));
}

/// True if every expected row can be paired with a distinct equal actual row (used for sorted
/// comparison when string order and numeric equality disagree, e.g. `1.0` vs `1`).
fn multiset_equal(expected: &[Vec<String>], actual: &[Vec<String>]) -> bool {
    if expected.len() != actual.len() {
        return false;
    }
    let mut used = vec![false; actual.len()];
    expected.iter().all(|e| {
        match (0..actual.len()).find(|&i| !used[i] && rows_equal(e, &actual[i])) {
            Some(i) => {
                used[i] = true;
                true
            }
            None => false,
        }
    })
}

/// Compares actual rows (already escaped with [`escape_actual`]) with expected rows.
/// `Err` holds a human-readable diff: row counts, the first differing row and column, and
/// both row lists (sorted first when `sorted`).
pub fn compare_rows(
    expected: &[Vec<String>],
    actual: &[Vec<String>],
    sorted: bool,
) -> Result<(), String> {
    let (mut exp, mut act) = (expected.to_vec(), actual.to_vec());
    if sorted {
        sort_rows(&mut exp);
        sort_rows(&mut act);
    }
    let same = exp.len() == act.len() && exp.iter().zip(&act).all(|(e, a)| rows_equal(e, a));
    if same || (sorted && multiset_equal(&exp, &act)) {
        return Ok(());
    }
    let mut out = format!(
        "expected {} row(s), got {} row(s){}\n",
        exp.len(),
        act.len(),
        if sorted { " (both sorted)" } else { "" }
    );
    let first = (0..exp.len().max(act.len())).find(|&i| match (exp.get(i), act.get(i)) {
        (Some(e), Some(a)) => !rows_equal(e, a),
        _ => true,
    });
    if let Some(i) = first {
        out.push_str(&format!("first difference at row {}", i + 1));
        match (exp.get(i), act.get(i)) {
            (Some(e), Some(a)) if e.len() != a.len() => out.push_str(&format!(
                ": expected {} column(s), got {}",
                e.len(),
                a.len()
            )),
            (Some(e), Some(a)) => {
                if let Some(c) = (0..e.len()).find(|&c| !cells_equal(&e[c], &a[c])) {
                    out.push_str(&format!(
                        ", column {}: expected `{}`, actual `{}`",
                        c + 1,
                        e[c],
                        a[c]
                    ));
                }
            }
            (Some(_), None) => out.push_str(": missing from the actual rows"),
            (None, Some(_)) => out.push_str(": extra actual row"),
            (None, None) => {}
        }
        out.push('\n');
        out.push_str(&format!("  expected row: {}\n", show_row(exp.get(i))));
        out.push_str(&format!("  actual row:   {}\n", show_row(act.get(i))));
    }
    out.push_str(&list("expected", &exp));
    out.push_str(&list("actual", &act));
    Err(out)
}

fn show_row(row: Option<&Vec<String>>) -> String {
    match row {
        Some(r) => r.join("\t"),
        None => "(none)".to_string(),
    }
}

fn list(name: &str, rows: &[Vec<String>]) -> String {
    let mut out = format!("{name} ({} row(s)):\n", rows.len());
    for r in rows.iter().take(LIST_LIMIT) {
        out.push_str("  ");
        out.push_str(&r.join("\t"));
        out.push('\n');
    }
    if rows.len() > LIST_LIMIT {
        out.push_str(&format!("  ... {} more\n", rows.len() - LIST_LIMIT));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &[&str]) -> Vec<Vec<String>> {
        text.iter()
            .map(|r| r.split('\t').map(str::to_string).collect())
            .collect()
    }

    #[test]
    fn escapes_actual_cells() {
        assert_eq!(escape_actual(None), "\\N");
        assert_eq!(escape_actual(Some("a\tb\nc\\d")), "a\\tb\\nc\\\\d");
        assert_eq!(escape_actual(Some("")), "");
        assert_eq!(escape_actual(Some("2  ")), "2  ");
    }

    #[test]
    fn normalizes_java_datetimes() {
        assert_eq!(normalize_cell("2022-09-06T00:00"), "2022-09-06 00:00:00");
        assert_eq!(normalize_cell("2022-09-06T00:00:01"), "2022-09-06 00:00:01");
        assert_eq!(
            normalize_cell("2023-12-18T23:56:12.120"),
            "2023-12-18 23:56:12.12"
        );
        assert_eq!(
            normalize_cell("2023-12-18 23:56:12.000000"),
            "2023-12-18 23:56:12"
        );
        assert_eq!(normalize_cell("2022-09-06"), "2022-09-06");
        assert_eq!(normalize_cell("2022-09-06Tx"), "2022-09-06Tx");
        assert_eq!(normalize_cell("abc"), "abc");
        assert_eq!(normalize_cell("2022-09-06T00:00:0"), "2022-09-06T00:00:0");
    }

    #[test]
    fn compares_cells() {
        assert!(cells_equal("2022-09-06T00:00", "2022-09-06 00:00:00"));
        assert!(cells_equal("23.0", "23"));
        assert!(cells_equal("0.1", "0.1000000000001"));
        assert!(cells_equal("1.0E10", "10000000000"));
        assert!(!cells_equal("0.1", "0.11"));
        assert!(!cells_equal("01", "1.0"));
        assert!(!cells_equal("9223372036854775807", "9223372036854775806"));
        assert!(!cells_equal("\\N", ""));
        assert!(!cells_equal("", "\\N"));
        assert!(!cells_equal("1 ", "1"));
        assert!(cells_equal("", ""));
    }

    #[test]
    fn sorts_null_first_then_by_string() {
        let mut r = rows(&["b\t1", "\\N\t2", "a\t\\N", "a\t0", "10\tx", "9\tx"]);
        sort_rows(&mut r);
        assert_eq!(
            r,
            rows(&["\\N\t2", "10\tx", "9\tx", "a\t\\N", "a\t0", "b\t1"])
        );
    }

    #[test]
    fn ordered_comparison_reports_first_difference() {
        let exp = rows(&["1\ta", "2\tb", "3\tc"]);
        assert_eq!(
            compare_rows(&exp, &rows(&["1\ta", "2\tb", "3\tc"]), false),
            Ok(())
        );
        let diff =
            compare_rows(&exp, &rows(&["1\ta", "2\tB", "3\tc"]), false).expect_err("differs");
        assert!(diff.contains("first difference at row 2, column 2: expected `b`, actual `B`"));
        let diff = compare_rows(&exp, &rows(&["1\ta", "2\tb"]), false).expect_err("short");
        assert!(diff.starts_with("expected 3 row(s), got 2 row(s)"));
        assert!(diff.contains("row 3: missing"));
        let diff =
            compare_rows(&exp, &rows(&["2\tb", "1\ta", "3\tc"]), false).expect_err("order matters");
        assert!(diff.contains("row 1"));
    }

    #[test]
    fn sorted_comparison_ignores_order() {
        let exp = rows(&["3\t2022-09-06T00:00", "1\t\\N", "2\t23.0"]);
        let act = rows(&["1\t\\N", "2\t23", "3\t2022-09-06 00:00:00"]);
        assert_eq!(compare_rows(&exp, &act, true), Ok(()));
        assert!(compare_rows(&exp, &act, false).is_err());
        // String order of `-1.0`/`-1` differs from numeric equality: matched as a multiset.
        let exp = rows(&["-1.5", "-1.0"]);
        let act = rows(&["-1", "-1.5"]);
        assert_eq!(compare_rows(&exp, &act, true), Ok(()));
    }

    #[test]
    fn empty_blocks_compare_equal() {
        assert_eq!(compare_rows(&[], &[], false), Ok(()));
        let diff = compare_rows(&[], &rows(&["1"]), true).expect_err("extra row");
        assert!(diff.contains("extra actual row"));
    }
}
