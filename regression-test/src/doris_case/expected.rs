//! Parsing of a `caseNN.expected` file (Doris `.out` format) into [`Block`]s.
//! [`parse_expected`] is the entry point.
//!
//! A block starts with `-- !tag --`; each following line is one row of TAB-separated cells
//! (`\N` = NULL, cells kept byte-exact including trailing spaces and empty trailing cells);
//! a blank line or the end of the file ends the block. Other lines starting with `--` outside
//! a block are comments.

use super::script::ParseError;

/// The expected rows of one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub tag: String,
    /// Line of the `-- !tag --` header.
    pub line: usize,
    pub rows: Vec<Vec<String>>,
}

fn header_tag(line: &str) -> Option<&str> {
    line.strip_prefix("-- !")?.strip_suffix(" --")
}

/// Reads all blocks, in file order.
pub fn parse_expected(text: &str) -> Result<Vec<Block>, ParseError> {
    let mut blocks: Vec<Block> = Vec::new();
    let mut in_block = false;
    for (idx, raw) in text.split('\n').enumerate() {
        let line_no = idx + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(tag) = header_tag(line) {
            blocks.push(Block {
                tag: tag.trim().to_string(),
                line: line_no,
                rows: Vec::new(),
            });
            in_block = true;
            continue;
        }
        if in_block {
            if line.is_empty() {
                in_block = false;
            } else if let Some(block) = blocks.last_mut() {
                block
                    .rows
                    .push(line.split('\t').map(str::to_string).collect());
            }
            continue;
        }
        if line.trim().is_empty() || line.starts_with("--") {
            continue;
        }
        return Err(ParseError {
            line: line_no,
            message: format!("row outside of a `-- !tag --` block: `{line}`"),
        });
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_blocks_rows_and_empty_blocks() {
        let text = "-- expected rows, copied from x.out\n\
                    -- format: ...\n\
                    -- !sql_2pc --\n\
                    \n\
                    -- !q --\n\
                    1 \ta\t\\N\n\
                    b\t\n\
                    \n\
                    -- !last --\n\
                    23.0";
        let blocks = parse_expected(text).expect("parses");
        assert_eq!(blocks.len(), 3);
        assert_eq!(blocks[0].tag, "sql_2pc");
        assert!(blocks[0].rows.is_empty());
        assert_eq!(blocks[1].line, 5);
        assert_eq!(
            blocks[1].rows,
            vec![
                vec!["1 ".to_string(), "a".into(), "\\N".into()],
                vec!["b".to_string(), String::new()]
            ]
        );
        assert_eq!(blocks[2].rows, vec![vec!["23.0".to_string()]]);
    }

    #[test]
    fn rejects_stray_rows() {
        let e = parse_expected("-- !a --\n1\n\nstray\n").expect_err("stray row");
        assert_eq!(e.line, 4);
    }

    #[test]
    fn parses_every_shipped_case_file() {
        let dir = super::super::cases_dir();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return; // the shared cases are not checked out here
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(ext) = path.extension() else {
                continue;
            };
            let text = std::fs::read_to_string(&path).expect("readable case file");
            if ext == "expected" {
                parse_expected(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            } else if ext == "sql" {
                super::super::script::parse_case(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
        }
    }
}
