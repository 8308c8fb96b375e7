//! Runner for the acceptance cases in `shared/doris-cases` (`caseNN.sql` + `caseNN.expected`).
//! [`run_doris_case`] runs one case against a [`Cluster`] and returns a [`CaseOutcome`].
//!
//! The marker language and the comparison rules are defined by that directory's README.md:
//! `@query <tag> ordered|sorted` statements are checked against the `.expected` blocks in order,
//! `@expect_error` statements must fail with the given substring, other statements must
//! succeed, `@streamload`/`@stream_load_2pc` are HTTP PUTs to the FE whose JSON answers are
//! checked by `@expect_json`, and `@explain` plan checks are optional (reported as warnings).
//! After a 2PC commit the next query is retried for up to 60 s, as publishing is asynchronous.

pub mod compare;
pub mod expected;
pub mod http;
pub mod script;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mysql_async::Conn;

use crate::cluster::Cluster;
use crate::mysql::{self, QueryOutput, SqlError};
use compare::{compare_rows, escape_actual};
use expected::{parse_expected, Block};
use script::{parse_case, Expect, HttpCall, Step};

/// Environment variable naming the cases directory.
pub const CASES_DIR_ENV: &str = "DORIS_CASES_DIR";
/// Limit for one statement; a server that hangs fails the case instead of the whole test.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a query after a 2PC commit is retried until it matches.
const PUBLISH_WAIT: Duration = Duration::from_secs(60);

/// `$DORIS_CASES_DIR`, else `<CARGO_MANIFEST_DIR>/../../shared/doris-cases`.
pub fn cases_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(CASES_DIR_ENV) {
        return PathBuf::from(dir);
    }
    // `cargo test` runs tests in the package directory; a binary reused from a build in
    // another checkout still finds the cases next to this one.
    let relative = Path::new("../../shared/doris-cases");
    match std::env::current_dir() {
        Ok(cwd) if cwd.join(relative).is_dir() => cwd.join(relative),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join(relative),
    }
}

/// Names (`case01`, ...) of every `*.sql` in `dir`, sorted.
pub fn list_cases(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let p = e.path();
            (p.extension()? == "sql").then(|| p.file_stem()?.to_str().map(str::to_string))?
        })
        .collect();
    names.sort();
    Ok(names)
}

/// The result of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseOutcome {
    pub case: String,
    /// Precise failure reports, in the order they happened; empty means the case passed.
    pub failures: Vec<String>,
    /// Optional checks (`@explain`) that did not hold; they do not fail the case.
    pub warnings: Vec<String>,
    /// `@query` blocks that matched / that exist.
    pub queries_passed: usize,
    pub queries_total: usize,
}

impl CaseOutcome {
    fn new(case: &str) -> Self {
        CaseOutcome {
            case: case.to_string(),
            failures: Vec::new(),
            warnings: Vec::new(),
            queries_passed: 0,
            queries_total: 0,
        }
    }

    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// One line: `pass (3/3 queries)` or `FAIL (1/3 queries): <first line of first failure>`.
    pub fn summary(&self) -> String {
        let counts = format!("{}/{} queries", self.queries_passed, self.queries_total);
        match self.failures.first() {
            None if self.warnings.is_empty() => format!("pass ({counts})"),
            None => format!("pass ({counts}; {} warning(s))", self.warnings.len()),
            Some(f) => format!("FAIL ({counts}): {}", f.lines().next().unwrap_or("")),
        }
    }

    fn fail(&mut self, msg: String) {
        self.failures.push(msg);
    }
}

impl fmt::Display for CaseOutcome {
    /// The summary line followed by every failure and warning in full.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: {}", self.case, self.summary())?;
        for (i, failure) in self.failures.iter().enumerate() {
            writeln!(f, "--- failure {} ---\n{}", i + 1, failure.trim_end())?;
        }
        for w in &self.warnings {
            writeln!(f, "--- warning ---\n{}", w.trim_end())?;
        }
        Ok(())
    }
}

/// Runs `case` (`case07`, or just `07`) from [`cases_dir`].
pub async fn run_doris_case(cluster: &Cluster, case: &str) -> CaseOutcome {
    run_doris_case_in(cluster, &cases_dir(), case).await
}

/// Runs `case` from `dir` on a fresh connection.
pub async fn run_doris_case_in(cluster: &Cluster, dir: &Path, case: &str) -> CaseOutcome {
    let case = if case.chars().all(|c| c.is_ascii_digit()) {
        format!("case{case}")
    } else {
        case.to_string()
    };
    let mut out = CaseOutcome::new(&case);
    let sql_path = dir.join(format!("{case}.sql"));
    let expected_path = dir.join(format!("{case}.expected"));
    let (steps, blocks) = match load(&sql_path, &expected_path) {
        Ok(x) => x,
        Err(e) => {
            out.fail(e);
            return out;
        }
    };
    out.queries_total = blocks.len();
    let queries = steps
        .iter()
        .filter(|s| {
            matches!(
                s,
                Step::Sql {
                    expect: Expect::Query { .. },
                    ..
                }
            )
        })
        .count();
    if queries != blocks.len() {
        out.fail(format!(
            "case files disagree: {} has {queries} @query statements but {} has {} blocks",
            sql_path.display(),
            expected_path.display(),
            blocks.len()
        ));
        return out;
    }
    let mut conn = match cluster.try_connect(None).await {
        Ok(c) => c,
        Err(e) => {
            out.fail(format!("cannot connect to the FE: {e}"));
            return out;
        }
    };
    let mut runner = CaseRunner {
        cluster,
        dir,
        case: &case,
        conn: &mut conn,
        blocks: blocks.into_iter(),
        retry_next_query: false,
    };
    runner.run(&steps, &mut out).await;
    let _ = conn.disconnect().await;
    out
}

fn load(sql_path: &Path, expected_path: &Path) -> Result<(Vec<Step>, Vec<Block>), String> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
    };
    let steps = parse_case(&read(sql_path)?)
        .map_err(|e| format!("malformed {}: {e}", sql_path.display()))?;
    let blocks = parse_expected(&read(expected_path)?)
        .map_err(|e| format!("malformed {}: {e}", expected_path.display()))?;
    Ok((steps, blocks))
}

/// Whether the case can go on after a step.
enum Flow {
    Continue,
    Stop,
}

struct CaseRunner<'a> {
    cluster: &'a Cluster,
    dir: &'a Path,
    case: &'a str,
    conn: &'a mut Conn,
    blocks: std::vec::IntoIter<Block>,
    retry_next_query: bool,
}

impl CaseRunner<'_> {
    async fn run(&mut self, steps: &[Step], out: &mut CaseOutcome) {
        for step in steps {
            let flow = match step {
                Step::Sql { line, sql, expect } => match expect {
                    Expect::Success => self.setup(*line, sql, out).await,
                    Expect::Error(substring) => self.expect_error(*line, sql, substring, out).await,
                    Expect::Query { tag, sorted } => {
                        self.query(*line, sql, tag, *sorted, out).await
                    }
                },
                Step::Http {
                    line,
                    call,
                    expect_json,
                } => self.http(*line, call, expect_json, out).await,
                Step::Explain {
                    line,
                    sql,
                    contains,
                    not_contains,
                } => {
                    self.explain(*line, sql, contains, not_contains, out).await;
                    Flow::Continue
                }
            };
            if let Flow::Stop = flow {
                if let Some(last) = out.failures.last_mut() {
                    last.push_str("\n(case stopped here: later steps depend on this one)");
                }
                return;
            }
        }
    }

    fn at(&self, line: usize) -> String {
        format!("{}.sql line {line}", self.case)
    }

    async fn exec(&mut self, sql: &str) -> Result<QueryOutput, SqlError> {
        match tokio::time::timeout(STATEMENT_TIMEOUT, mysql::query(self.conn, sql)).await {
            Ok(r) => r,
            Err(_) => Err(SqlError::client(format!(
                "no answer within {} s",
                STATEMENT_TIMEOUT.as_secs()
            ))),
        }
    }

    async fn setup(&mut self, line: usize, sql: &str, out: &mut CaseOutcome) -> Flow {
        match self.exec(sql).await {
            Ok(_) => Flow::Continue,
            Err(e) => {
                out.fail(format!(
                    "{}: setup statement failed: {e}\nSQL:\n{}",
                    self.at(line),
                    indent(sql)
                ));
                Flow::Stop
            }
        }
    }

    async fn expect_error(
        &mut self,
        line: usize,
        sql: &str,
        substring: &str,
        out: &mut CaseOutcome,
    ) -> Flow {
        match self.exec(sql).await {
            Ok(result) => {
                out.fail(format!(
                    "{}: expected an error containing `{substring}`, but the statement succeeded \
                     ({} row(s))\nSQL:\n{}",
                    self.at(line),
                    result.rows().len(),
                    indent(sql)
                ));
                Flow::Continue
            }
            Err(e) if e.to_string().contains(substring) => Flow::Continue,
            Err(e) => {
                out.fail(format!(
                    "{}: expected an error containing `{substring}`, got: {e}\nSQL:\n{}",
                    self.at(line),
                    indent(sql)
                ));
                continue_if_server_error(&e)
            }
        }
    }

    async fn query(
        &mut self,
        line: usize,
        sql: &str,
        tag: &str,
        sorted: bool,
        out: &mut CaseOutcome,
    ) -> Flow {
        let Some(block) = self.blocks.next() else {
            out.fail(format!(
                "{}: no expected block left for @query {tag}",
                self.at(line)
            ));
            return Flow::Stop;
        };
        if block.tag != tag {
            out.fail(format!(
                "{}: @query tag `{tag}` but the next expected block (line {}) is `{}`",
                self.at(line),
                block.line,
                block.tag
            ));
            return Flow::Stop;
        }
        let mode = if sorted { "sorted" } else { "ordered" };
        let deadline = self.retry_next_query.then(|| Instant::now() + PUBLISH_WAIT);
        self.retry_next_query = false;
        loop {
            let (failure, flow) = match self.exec(sql).await {
                Err(e) => (format!("query failed: {e}"), continue_if_server_error(&e)),
                Ok(QueryOutput::Done { affected_rows }) => (
                    format!("expected a result set, got OK ({affected_rows} affected rows)"),
                    Flow::Continue,
                ),
                Ok(QueryOutput::Rows { rows, .. }) => {
                    let actual: Vec<Vec<String>> = rows
                        .iter()
                        .map(|r| r.iter().map(|c| escape_actual(c.as_deref())).collect())
                        .collect();
                    match compare_rows(&block.rows, &actual, sorted) {
                        Ok(()) => {
                            out.queries_passed += 1;
                            return Flow::Continue;
                        }
                        Err(diff) => (format!("wrong result\n{diff}"), Flow::Continue),
                    }
                }
            };
            if matches!(flow, Flow::Continue) && deadline.is_some_and(|d| Instant::now() < d) {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            let waited = if deadline.is_some() {
                format!(
                    " (retried for {} s after the 2PC commit)",
                    PUBLISH_WAIT.as_secs()
                )
            } else {
                String::new()
            };
            out.fail(format!(
                "{}: @query {tag} ({mode}, expected block at {}.expected line {}): {}{waited}\nSQL:\n{}",
                self.at(line),
                self.case,
                block.line,
                failure.trim_end(),
                indent(sql)
            ));
            return flow;
        }
    }

    async fn explain(
        &mut self,
        line: usize,
        sql: &str,
        contains: &[String],
        not_contains: &[String],
        out: &mut CaseOutcome,
    ) {
        let plan = match self.exec(sql).await {
            Ok(result) => result.lines().join("\n"),
            Err(e) => {
                out.warnings.push(format!(
                    "{}: optional @explain check could not run: {e}\nSQL:\n{}",
                    self.at(line),
                    indent(sql)
                ));
                return;
            }
        };
        let mut problems = Vec::new();
        for c in contains {
            if !plan.contains(c.as_str()) {
                problems.push(format!("plan does not contain `{c}`"));
            }
        }
        for c in not_contains {
            if plan.contains(c.as_str()) {
                problems.push(format!("plan contains `{c}`"));
            }
        }
        if !problems.is_empty() {
            out.warnings.push(format!(
                "{}: optional @explain check: {}\nSQL:\n{}\nplan:\n{}",
                self.at(line),
                problems.join("; "),
                indent(sql),
                indent(&plan)
            ));
        }
    }

    async fn http(
        &mut self,
        line: usize,
        call: &HttpCall,
        expect_json: &[(String, String)],
        out: &mut CaseOutcome,
    ) -> Flow {
        let host = self.cluster.fe_http_addr().to_string();
        let (path, headers, body, what) = match call {
            HttpCall::StreamLoad {
                db,
                table,
                file,
                headers,
            } => {
                let file_path = self.dir.join(file);
                let body = match std::fs::read(&file_path) {
                    Ok(b) => b,
                    Err(e) => {
                        out.fail(format!(
                            "{}: cannot read stream load file {}: {e}",
                            self.at(line),
                            file_path.display()
                        ));
                        return Flow::Stop;
                    }
                };
                (
                    format!("/api/{db}/{table}/_stream_load"),
                    headers,
                    body,
                    "stream load",
                )
            }
            HttpCall::StreamLoad2pc { db, table, headers } => (
                format!("/api/{db}/{table}/_stream_load_2pc"),
                headers,
                Vec::new(),
                "stream load 2PC",
            ),
        };
        let shown_headers: Vec<String> = headers
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.escape_debug()))
            .collect();
        let request = format!(
            "PUT http://{host}{path} [{}] ({} body bytes)",
            shown_headers.join(", "),
            body.len()
        );
        let resp = match http::put(&host, &path, headers, &body).await {
            Ok(r) => r,
            Err(e) => {
                out.fail(format!(
                    "{}: {what} failed: {e}\n  {request}",
                    self.at(line)
                ));
                return Flow::Stop;
            }
        };
        let text = resp.body_text();
        if !(200..300).contains(&resp.status) {
            out.fail(format!(
                "{}: {what} answered HTTP {} from {}\n  {request}\n  body: {text}",
                self.at(line),
                resp.status,
                resp.url
            ));
            return Flow::Stop;
        }
        if let Err(problems) = http::check_json(&text, expect_json) {
            out.fail(format!(
                "{}: {what} answer does not match @expect_json: {}\n  {request}\n  body: {text}",
                self.at(line),
                problems.join("; ")
            ));
            return Flow::Stop;
        }
        if let HttpCall::StreamLoad2pc { headers, .. } = call {
            self.retry_next_query = headers
                .iter()
                .any(|(k, v)| k == "txn_operation" && v.eq_ignore_ascii_case("commit"));
        }
        Flow::Continue
    }
}

/// A server error leaves the connection usable; a client error (I/O, timeout) does not.
fn continue_if_server_error(e: &SqlError) -> Flow {
    if e.is_server_error() {
        Flow::Continue
    } else {
        Flow::Stop
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_lines() {
        let mut o = CaseOutcome::new("case01");
        o.queries_total = 2;
        o.queries_passed = 2;
        assert_eq!(o.summary(), "pass (2/2 queries)");
        assert!(o.passed());
        o.queries_passed = 1;
        o.fail("case01.sql line 3: wrong result\nmore".to_string());
        assert!(!o.passed());
        assert_eq!(
            o.summary(),
            "FAIL (1/2 queries): case01.sql line 3: wrong result"
        );
        assert!(o
            .to_string()
            .contains("--- failure 1 ---\ncase01.sql line 3"));
    }

    #[test]
    fn shipped_cases_have_one_block_per_query() {
        let dir = cases_dir();
        let Ok(cases) = list_cases(&dir) else {
            return; // the shared cases are not checked out here
        };
        for case in cases {
            let (steps, blocks) = load(
                &dir.join(format!("{case}.sql")),
                &dir.join(format!("{case}.expected")),
            )
            .unwrap_or_else(|e| panic!("{e}"));
            let tags: Vec<&str> = steps
                .iter()
                .filter_map(|s| match s {
                    Step::Sql {
                        expect: Expect::Query { tag, .. },
                        ..
                    } => Some(tag.as_str()),
                    _ => None,
                })
                .collect();
            let block_tags: Vec<&str> = blocks.iter().map(|b| b.tag.as_str()).collect();
            assert_eq!(tags, block_tags, "{case}");
        }
    }
}
