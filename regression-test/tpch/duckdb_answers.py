#!/usr/bin/env python3
"""Expected TPC-H answers from DuckDB, for tests/tpch.rs.

Loads the '|'-separated .tbl files (one per table, as dbgen/tpchgen write them, each line
ending with '|') into an in-memory DuckDB with the column names and types of ddl.sql, runs
every queries/qNN.sql and writes its result to OUT/qNN.tsv: one row per line, cells joined
by tabs, NULL as `NULL`, dates as YYYY-MM-DD, decimals in plain notation, floats as repr.

Usage: duckdb_answers.py --data DIR --out DIR [--ddl FILE] [--queries DIR]
Exit status 0 when every query ran; a query that fails in DuckDB is a bug in the query
file, so it is reported on stderr and the exit status is 1.
"""

import argparse
import datetime
import decimal
import pathlib
import re
import sys

import duckdb

HERE = pathlib.Path(__file__).resolve().parent

# Doris type -> DuckDB type for read_csv. CHAR is read as VARCHAR: Doris does not pad
# CHAR values when it returns them, and DuckDB's CHAR is VARCHAR anyway.
TYPE_MAP = [
    (re.compile(r"^BIGINT$", re.I), "BIGINT"),
    (re.compile(r"^INT$", re.I), "INTEGER"),
    (re.compile(r"^DECIMAL\(\s*(\d+)\s*,\s*(\d+)\s*\)$", re.I), "DECIMAL({0},{1})"),
    (re.compile(r"^DATE$", re.I), "DATE"),
    (re.compile(r"^(?:VAR)?CHAR\(\s*\d+\s*\)$", re.I), "VARCHAR"),
]

CREATE_RE = re.compile(r"CREATE\s+TABLE\s+(\w+)\s*\((.*?)\n\)", re.I | re.S)
COLUMN_RE = re.compile(r"^\s*(\w+)\s+(\w+(?:\([^)]*\))?)")


def duckdb_type(doris_type):
    for pattern, template in TYPE_MAP:
        m = pattern.match(doris_type)
        if m:
            return template.format(*m.groups())
    raise ValueError(f"no DuckDB type for Doris type {doris_type!r}")


def parse_ddl(text):
    """[(table, [(column, duckdb_type)])] from the CREATE TABLE statements of ddl.sql."""
    tables = []
    for m in CREATE_RE.finditer(text):
        columns = []
        for line in m.group(2).splitlines():
            c = COLUMN_RE.match(line)
            if c:
                columns.append((c.group(1), duckdb_type(c.group(2))))
        tables.append((m.group(1), columns))
    if not tables:
        raise ValueError("no CREATE TABLE statement found in the DDL")
    return tables


def cell(value):
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, datetime.date):
        return value.isoformat()
    text = str(value)
    if "\t" in text or "\n" in text:
        raise ValueError(f"a cell contains a tab or newline: {text!r}")
    return text


def load(con, data_dir, tables):
    for table, columns in tables:
        path = data_dir / f"{table}.tbl"
        # The trailing '|' of every line makes one more, empty, column.
        spec = ", ".join(f"'{name}': '{ty}'" for name, ty in columns)
        spec += ", '_trailing': 'VARCHAR'"
        names = ", ".join(name for name, _ in columns)
        con.execute(
            f"CREATE TABLE {table} AS SELECT {names} FROM read_csv('{path}', "
            f"delim = '|', header = false, quote = '', escape = '', "
            f"columns = {{{spec}}})"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=pathlib.Path)
    parser.add_argument("--out", required=True, type=pathlib.Path)
    parser.add_argument("--ddl", type=pathlib.Path, default=HERE / "ddl.sql")
    parser.add_argument("--queries", type=pathlib.Path, default=HERE / "queries")
    args = parser.parse_args()

    tables = parse_ddl(args.ddl.read_text())
    con = duckdb.connect()
    load(con, args.data, tables)
    args.out.mkdir(parents=True, exist_ok=True)
    failed = False
    for query_file in sorted(args.queries.glob("q*.sql")):
        try:
            rows = con.execute(query_file.read_text()).fetchall()
        except duckdb.Error as e:
            print(f"{query_file.name}: {e}", file=sys.stderr)
            failed = True
            continue
        lines = ["\t".join(cell(v) for v in row) for row in rows]
        out = args.out / (query_file.stem + ".tsv")
        out.write_text("".join(line + "\n" for line in lines))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
