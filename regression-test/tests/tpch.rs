//! TPC-H end to end: generates the eight tables with `tpchgen` (scale factor `TPCH_SF`,
//! default 0.01) as '|'-separated .tbl files, creates them with the Doris DDL of
//! `tpch/ddl.sql`, loads each file through stream load with real `curl`, checks the row
//! counts, then runs the 22 queries of `tpch/queries/` through the MySQL protocol and compares
//! every answer with DuckDB's (`tpch/duckdb_answers.py` on the same files), row by row.
//!
//! Queries that fail because of a known gap are listed in [`KNOWN_FAILING`] with the reason;
//! the test fails when any other query fails, and when a listed query starts passing.
//!
//! Run: `cargo build --bins && cargo test -p regression-test --test tpch -- --nocapture`.
//! Needs `curl`, `python3` and the `duckdb` Python package (`bin/install-deps.sh`).

use std::collections::BTreeMap;
use std::fmt::Display;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use mysql_async::consts::ColumnType;
use mysql_async::Conn;
use regression_test::{query, Cluster, QueryOutput};
use serde_json::Value;
use tpchgen::generators::{
    CustomerGenerator, LineItemGenerator, NationGenerator, OrderGenerator, PartGenerator,
    PartSuppGenerator, RegionGenerator, SupplierGenerator,
};

/// Backends in the test cluster (becomes 3 when queries run MPP).
const NUM_BE: usize = 3;
const DB: &str = "tpch";
/// Scale factor when `TPCH_SF` is not set: about 87,000 rows in all, seconds to load.
const DEFAULT_SF: f64 = 0.01;
const SF_ENV: &str = "TPCH_SF";

/// Queries expected to fail (wrong answer or error), each with the root cause. The test fails
/// if one of them passes, so that the list is shortened as the gaps are closed.
const KNOWN_FAILING: &[(&str, &str)] = &[];

/// Numbers are equal when they differ by at most this fraction of the larger one...
const REL_TOLERANCE: f64 = 1e-6;
/// ...or by at most one unit in the 6th decimal: Doris (and DataFusion) give AVG and the
/// division of DECIMAL(15, 2) values scale 6 and truncate, where DuckDB answers a DOUBLE.
const ABS_TOLERANCE: f64 = 1e-6;

/// `regression-test/tpch`, found from the working directory first (`cargo test` runs in the
/// package directory; a binary reused from another checkout's build still finds this one).
fn tpch_dir() -> PathBuf {
    match std::env::current_dir() {
        Ok(cwd) if cwd.join("tpch").is_dir() => cwd.join("tpch"),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("tpch"),
    }
}

fn scale_factor() -> f64 {
    match std::env::var(SF_ENV) {
        Ok(v) => match v.trim().parse::<f64>() {
            Ok(sf) if sf > 0.0 => sf,
            _ => panic!("{SF_ENV}={v:?} is not a positive number"),
        },
        Err(_) => DEFAULT_SF,
    }
}

/// One table of `ddl.sql`: its CREATE statement and its column names in order.
struct TableDef {
    name: String,
    create: String,
    columns: Vec<String>,
}

/// The CREATE TABLE statements of `ddl.sql` (one column per line, `--` comments).
fn parse_ddl(text: &str) -> Vec<TableDef> {
    let without_comments: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut tables = Vec::new();
    for stmt in without_comments.split(';') {
        let stmt = stmt.trim();
        if stmt.is_empty() {
            continue;
        }
        let name = stmt
            .strip_prefix("CREATE TABLE ")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("ddl.sql: not a CREATE TABLE statement: {stmt}"))
            .to_string();
        let columns = stmt
            .lines()
            .skip(1)
            .take_while(|l| !l.starts_with(')'))
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect();
        tables.push(TableDef {
            name,
            create: stmt.to_string(),
            columns,
        });
    }
    tables
}

/// Writes `rows` as lines of `path`; returns the number of rows.
fn write_tbl<T: Display>(path: &Path, rows: impl Iterator<Item = T>) -> u64 {
    let file = std::fs::File::create(path)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
    let mut out = BufWriter::new(file);
    let mut n = 0;
    for row in rows {
        writeln!(out, "{row}").unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        n += 1;
    }
    out.flush()
        .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    n
}

/// Generates `<table>.tbl` for the eight tables into `dir`; returns each table's row count.
fn generate(dir: &Path, sf: f64) -> BTreeMap<String, u64> {
    let f = |t: &str| dir.join(format!("{t}.tbl"));
    let counts = [
        (
            "region",
            write_tbl(&f("region"), RegionGenerator::new(sf, 1, 1).iter()),
        ),
        (
            "nation",
            write_tbl(&f("nation"), NationGenerator::new(sf, 1, 1).iter()),
        ),
        (
            "part",
            write_tbl(&f("part"), PartGenerator::new(sf, 1, 1).iter()),
        ),
        (
            "supplier",
            write_tbl(&f("supplier"), SupplierGenerator::new(sf, 1, 1).iter()),
        ),
        (
            "partsupp",
            write_tbl(&f("partsupp"), PartSuppGenerator::new(sf, 1, 1).iter()),
        ),
        (
            "customer",
            write_tbl(&f("customer"), CustomerGenerator::new(sf, 1, 1).iter()),
        ),
        (
            "orders",
            write_tbl(&f("orders"), OrderGenerator::new(sf, 1, 1).iter()),
        ),
        (
            "lineitem",
            write_tbl(&f("lineitem"), LineItemGenerator::new(sf, 1, 1).iter()),
        ),
    ];
    counts
        .into_iter()
        .map(|(t, n)| (t.to_string(), n))
        .collect()
}

/// Stream-loads `file` into `table` with `curl --location-trusted`; the `columns` header
/// names the table's columns plus a dummy for the empty field after each line's last '|'.
async fn stream_load(cluster: &Cluster, table: &TableDef, file: &Path) -> Value {
    let url = format!(
        "http://{}/api/{DB}/{}/_stream_load",
        cluster.fe_http_addr(),
        table.name
    );
    let columns = format!("{},tpch_trailing_dummy", table.columns.join(","));
    let label = format!("tpch_{}", table.name);
    let headers = [
        ("column_separator", "|"),
        ("columns", columns.as_str()),
        ("label", label.as_str()),
    ];
    let (_, reply) = regression_test::curl::put(&url, "root:", &headers, Some(file)).await;
    reply
}

/// Runs `duckdb_answers.py`, which writes `<out>/qNN.tsv`.
async fn duckdb_answers(tpch: &Path, data: &Path, out: &Path) -> Result<(), String> {
    let script = tpch.join("duckdb_answers.py");
    let result = tokio::process::Command::new("python3")
        .arg(&script)
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(out)
        .arg("--ddl")
        .arg(tpch.join("ddl.sql"))
        .arg("--queries")
        .arg(tpch.join("queries"))
        .output()
        .await
        .map_err(|e| format!("cannot run python3 {}: {e}", script.display()))?;
    if result.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed ({}); is the duckdb Python package installed (bin/install-deps.sh)?\n{}",
            script.display(),
            result.status,
            String::from_utf8_lossy(&result.stderr)
        ))
    }
}

/// Our answer: for each column whether it is exact (integer or DECIMAL), and the rows as
/// text (`NULL` for NULL).
struct Answer {
    exact: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Answer {
    fn from_output(out: &QueryOutput) -> Answer {
        let exact = match out {
            QueryOutput::Rows { columns, .. } => columns
                .iter()
                .map(|c| c.is_integer() || c.column_type == ColumnType::MYSQL_TYPE_NEWDECIMAL)
                .collect(),
            QueryOutput::Done { .. } => Vec::new(),
        };
        let rows = out
            .rows()
            .iter()
            .map(|r| {
                r.iter()
                    .map(|c| c.clone().unwrap_or_else(|| "NULL".to_string()))
                    .collect()
            })
            .collect();
        Answer { exact, rows }
    }
}

/// The number of fraction digits of a plain decimal literal (`-12.340` -> 3, `7` -> 0);
/// `None` for anything else (exponents, text).
fn decimal_scale(text: &str) -> Option<usize> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    (!int.is_empty() && all_digits(int) && all_digits(frac)).then_some(frac.len())
}

/// True when two cells hold the same value. An exact (integer or DECIMAL) cell of ours and a
/// DuckDB cell printed with the same number of decimals must be equal as text; other numbers
/// (DuckDB's DOUBLE against our DECIMAL of another scale) are compared within the tolerances;
/// anything else (text, dates) must be equal as text.
fn cell_eq(ours: &str, exact: bool, expected: &str) -> bool {
    if ours == expected {
        return true;
    }
    let scale = decimal_scale(ours);
    if exact && scale.is_some() && scale == decimal_scale(expected) {
        return false;
    }
    match (ours.parse::<f64>(), expected.parse::<f64>()) {
        (Ok(a), Ok(b)) if a.is_finite() && b.is_finite() => {
            let diff = (a - b).abs();
            diff <= ABS_TOLERANCE || diff <= REL_TOLERANCE * a.abs().max(b.abs())
        }
        _ => false,
    }
}

/// `None` when `ours` matches `expected` row by row, else a description of the first
/// difference.
fn compare(ours: &Answer, expected: &[Vec<String>]) -> Option<String> {
    if ours.rows.len() != expected.len() {
        return Some(format!(
            "{} rows, DuckDB has {}",
            ours.rows.len(),
            expected.len()
        ));
    }
    for (i, (a, b)) in ours.rows.iter().zip(expected).enumerate() {
        if a.len() != b.len() {
            return Some(format!(
                "row {i}: {} columns, DuckDB has {}",
                a.len(),
                b.len()
            ));
        }
        let exact = |j: usize| ours.exact.get(j).copied().unwrap_or(false);
        if let Some(j) = (0..a.len()).find(|&j| !cell_eq(&a[j], exact(j), &b[j])) {
            return Some(format!(
                "row {i} column {j}: ours {:?}, DuckDB {:?}",
                a[j], b[j]
            ));
        }
    }
    None
}

fn render(rows: &[Vec<String>]) -> String {
    const MAX_ROWS: usize = 30;
    let mut out: String = rows
        .iter()
        .take(MAX_ROWS)
        .map(|r| format!("    {}\n", r.join("\t")))
        .collect();
    if rows.len() > MAX_ROWS {
        out.push_str(&format!("    ... {} rows in all\n", rows.len()));
    }
    out
}

fn read_tsv(path: &Path) -> Result<Vec<Vec<String>>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read DuckDB's answer {}: {e}", path.display()))?;
    Ok(text
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect())
}

/// What one query did.
enum Outcome {
    /// Same answer as DuckDB's, with this many rows.
    Pass(usize),
    /// Our answer differs from DuckDB's (description, ours, DuckDB's).
    Mismatch(String, Vec<Vec<String>>, Vec<Vec<String>>),
    /// The query errored (ours) or DuckDB's answer is missing.
    Error(String),
}

async fn run_query(conn: &mut Conn, sql: &str, answer: &Path) -> Outcome {
    let expected = match read_tsv(answer) {
        Ok(rows) => rows,
        Err(e) => return Outcome::Error(e),
    };
    let ours = match query(conn, sql).await {
        Ok(out) => Answer::from_output(&out),
        Err(e) => return Outcome::Error(e.to_string()),
    };
    match compare(&ours, &expected) {
        None => Outcome::Pass(expected.len()),
        Some(diff) => Outcome::Mismatch(diff, ours.rows, expected),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tpch_matches_duckdb() {
    let started = Instant::now();
    let sf = scale_factor();
    let tpch = tpch_dir();
    let ddl_path = tpch.join("ddl.sql");
    let ddl = std::fs::read_to_string(&ddl_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", ddl_path.display()));
    let tables = parse_ddl(&ddl);
    assert_eq!(tables.len(), 8, "ddl.sql must create the 8 TPC-H tables");

    let work = tempfile::Builder::new()
        .prefix("tpch-")
        .tempdir()
        .expect("temporary directory");
    let data = work.path().join("data");
    let answers = work.path().join("duckdb");
    std::fs::create_dir_all(&data).expect("data directory");
    let counts = generate(&data, sf);
    eprintln!("generated SF {sf} in {:.1?}: {counts:?}", started.elapsed());

    // DuckDB answers the queries while the cluster starts and loads.
    let duckdb = tokio::spawn({
        let (tpch, data, answers) = (tpch.clone(), data.clone(), answers.clone());
        async move { duckdb_answers(&tpch, &data, &answers).await }
    });

    let cluster = Cluster::start(NUM_BE).await;
    let mut conn = cluster.connect().await;
    cluster
        .exec(&mut conn, &format!("CREATE DATABASE {DB}"))
        .await;
    cluster.exec(&mut conn, &format!("USE {DB}")).await;
    for table in &tables {
        cluster.exec(&mut conn, &table.create).await;
    }
    let load_started = Instant::now();
    for table in &tables {
        let expected = counts
            .get(&table.name)
            .copied()
            .unwrap_or_else(|| panic!("no data generated for table {}", table.name));
        let file = data.join(format!("{}.tbl", table.name));
        let reply = stream_load(&cluster, table, &file).await;
        let n = |k: &str| reply.get(k).and_then(Value::as_u64);
        assert_eq!(
            (
                reply.get("Status").and_then(Value::as_str),
                n("NumberLoadedRows"),
                n("NumberFilteredRows")
            ),
            (Some("Success"), Some(expected), Some(0)),
            "stream load of {}: {reply}\n{}",
            table.name,
            cluster.logs()
        );
        let out = cluster
            .exec(&mut conn, &format!("SELECT count(*) FROM {}", table.name))
            .await;
        assert_eq!(
            out.rows(),
            [vec![Some(expected.to_string())]],
            "row count of {}",
            table.name
        );
    }
    eprintln!("loaded in {:.1?}", load_started.elapsed());

    match duckdb.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("{e}"),
        Err(e) => panic!("the DuckDB task failed: {e}"),
    }

    let mut query_files: Vec<PathBuf> = std::fs::read_dir(tpch.join("queries"))
        .expect("tpch/queries")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    query_files.sort();
    assert_eq!(query_files.len(), 22, "tpch/queries must hold q01..q22");

    let names: Vec<String> = query_files
        .iter()
        .map(|f| {
            f.file_stem()
                .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
        })
        .collect();
    for (q, _) in KNOWN_FAILING {
        assert!(
            names.iter().any(|n| n == q),
            "KNOWN_FAILING names {q}, which is not a query"
        );
    }

    let queries_started = Instant::now();
    let mut unexpected = Vec::new();
    let mut now_passing = Vec::new();
    for (file, name) in query_files.iter().zip(&names) {
        let sql = std::fs::read_to_string(file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        let q_started = Instant::now();
        let outcome = run_query(&mut conn, &sql, &answers.join(format!("{name}.tsv"))).await;
        let elapsed = q_started.elapsed();
        let known = KNOWN_FAILING.iter().find(|(q, _)| q == name);
        let failure = match outcome {
            Outcome::Pass(rows) => {
                eprintln!("ok    {name} ({rows} rows, {elapsed:.1?})");
                if known.is_some() {
                    eprintln!("      {name} passes but is listed in KNOWN_FAILING");
                    now_passing.push(name.clone());
                }
                continue;
            }
            Outcome::Error(e) => format!("{name}: error: {e}"),
            Outcome::Mismatch(diff, ours, expected) => format!(
                "{name}: wrong answer: {diff}\n  ours:\n{}  DuckDB:\n{}",
                render(&ours),
                render(&expected)
            ),
        };
        match known {
            Some((_, reason)) => eprintln!("known {name} ({elapsed:.1?}): {reason}\n{failure}"),
            None => {
                eprintln!("FAIL  {failure}");
                unexpected.push(failure);
            }
        }
    }
    eprintln!(
        "{} queries in {:.1?}; whole test {:.1?}",
        names.len(),
        queries_started.elapsed(),
        started.elapsed()
    );
    assert!(
        unexpected.is_empty() && now_passing.is_empty(),
        "{} TPC-H queries failed:\n{}\nqueries in KNOWN_FAILING that now pass (remove them): {:?}",
        unexpected.len(),
        unexpected.join("\n"),
        now_passing
    );
}

#[test]
fn numbers_compare_at_their_scale() {
    assert_eq!(decimal_scale("-12.340"), Some(3));
    assert_eq!(decimal_scale("7"), Some(0));
    assert_eq!(decimal_scale("1e5"), None);
    assert_eq!(decimal_scale("1995-03-15"), None);
    // Our truncated AVG against DuckDB's DOUBLE.
    assert!(cell_eq("0.047758", true, "0.047758620689655175"));
    assert!(!cell_eq("0.047756", true, "0.047758620689655175"));
    // Exact decimals and integers at the same scale must be equal.
    assert!(!cell_eq("526165934.000838", true, "526165934.000839"));
    assert!(!cell_eq("2000000", true, "2000001"));
    // Doubles of ours compare within the tolerance.
    assert!(cell_eq("16.38077862639554", false, "16.38077862639543"));
    assert!(!cell_eq("BRAZIL", false, "BRAZIL "));
}

#[test]
fn ddl_lists_every_column() {
    let tables =
        parse_ddl(&std::fs::read_to_string(tpch_dir().join("ddl.sql")).expect("tpch/ddl.sql"));
    let lineitem = tables
        .iter()
        .find(|t| t.name == "lineitem")
        .expect("lineitem");
    assert_eq!(lineitem.columns.len(), 16);
    assert_eq!(lineitem.columns[0], "l_orderkey");
    assert_eq!(lineitem.columns[15], "l_comment");
}
