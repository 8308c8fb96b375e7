//! Statements the FE handles itself (Doris DDL, admin and session statements).
//! [`Statement`] is produced by [`super::parser::parse_statement`]; anything it does not
//! recognise is passed through as [`Statement::Query`] for DataFusion to plan.

use doris_common::types::ColumnType;

/// `db.table` or `table`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    pub db: Option<String>,
    pub table: String,
}

/// The WHERE of `SHOW LOAD`: conditions on the label and the state, ANDed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadFilter {
    pub label: Option<String>,
    pub label_like: Option<String>,
    pub state: Option<String>,
}

/// `'user'@'host'` (host defaults to `%`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserIdent {
    pub user: String,
    pub host: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    CreateDatabase {
        name: String,
        if_not_exists: bool,
        properties: Vec<(String, String)>,
    },
    DropDatabase {
        name: String,
        if_exists: bool,
        force: bool,
    },
    ShowDatabases {
        like: Option<String>,
    },
    /// `SHOW [FULL] TABLES [FROM|IN db] [LIKE 'pat']`
    ShowTables {
        db: Option<String>,
        like: Option<String>,
        full: bool,
    },
    /// `USE db`
    Use {
        db: String,
    },
    /// `DESC t [ALL]`, `DESCRIBE t`, `SHOW [FULL] COLUMNS FROM t [FROM db]`
    Describe {
        table: TableName,
        all: bool,
    },
    ShowCreateTable {
        table: TableName,
    },
    /// `SHOW [TEMPORARY] PARTITIONS FROM t [WHERE PartitionName = 'x' | LIKE 'p'] [LIMIT n]`
    ShowPartitions {
        table: TableName,
        temporary: bool,
        name: Option<String>,
        name_like: Option<String>,
        limit: Option<u64>,
    },
    /// `SHOW CREATE DATABASE db`
    ShowCreateDatabase {
        name: String,
    },
    CreateTable(Box<CreateTable>),
    DropTable {
        table: TableName,
        if_exists: bool,
        force: bool,
    },
    AlterSystem(AlterSystem),
    ShowBackends,
    ShowFrontends,
    /// `SHOW QUERY PROFILE "/"` (the recent profiled queries) or `"/<query id>"`.
    ShowQueryProfile {
        path: String,
    },
    ShowProcesslist {
        full: bool,
    },
    /// `SHOW [GLOBAL|SESSION] VARIABLES [LIKE 'pat' | WHERE Variable_name = 'x']`
    ShowVariables {
        global: bool,
        like: Option<String>,
    },
    ShowWarnings,
    ShowErrors,
    /// `SHOW [FULL] PROCESSLIST` is above; `SHOW ENGINES`, `SHOW CHARSET`, `SHOW COLLATION`
    ShowEngines,
    ShowCharset,
    ShowCollation {
        like: Option<String>,
    },
    /// `SHOW TABLE STATUS [FROM db] [LIKE 'pat']`
    ShowTableStatus {
        db: Option<String>,
        like: Option<String>,
    },
    /// `SET ...` with one or more assignments.
    Set(Vec<SetAssignment>),
    /// `SET PASSWORD [FOR user] = PASSWORD('x')` or `= 'x'` (plain text).
    SetPassword {
        user: Option<UserIdent>,
        password: String,
    },
    CreateUser {
        user: UserIdent,
        if_not_exists: bool,
        password: Option<String>,
    },
    DropUser {
        user: UserIdent,
        if_exists: bool,
    },
    /// `EXPLAIN [VERBOSE] <statement>`; `DESC SELECT ...` is a synonym.
    Explain {
        verbose: bool,
        analyze: bool,
        statement: String,
    },
    /// `KILL [QUERY|CONNECTION] id`
    Kill {
        query_only: bool,
        id: u64,
    },
    /// `BEGIN [WITH LABEL l]`, `START TRANSACTION`.
    Begin {
        label: Option<String>,
    },
    /// `SHOW [STREAM] LOAD [FROM db] [WHERE LABEL = 'x' | LABEL LIKE 'p' [AND STATE = 's']]
    /// [ORDER BY ...] [LIMIT n]`
    ShowLoad {
        db: Option<String>,
        stream: bool,
        filter: LoadFilter,
        limit: Option<u64>,
    },
    /// `SHOW TRANSACTION [FROM db] WHERE ID = n | LABEL = 'x'`
    ShowTransaction {
        db: Option<String>,
        id: Option<i64>,
        label: Option<String>,
    },
    /// `ALTER TABLE [db.]t op [, op ...]`
    AlterTable {
        table: TableName,
        ops: Vec<AlterTableOp>,
    },
    /// `TRUNCATE TABLE [db.]t [PARTITION (p, ...)]`
    Truncate {
        table: TableName,
        partitions: Vec<String>,
    },
    /// `SHOW ALTER TABLE COLUMN [FROM db]`
    ShowAlterTableColumn {
        db: Option<String>,
    },
    /// `CREATE MATERIALIZED VIEW [IF NOT EXISTS] mv AS SELECT ...` (synchronous).
    CreateMaterializedView {
        name: String,
        if_not_exists: bool,
        query: String,
    },
    /// `DROP MATERIALIZED VIEW [IF EXISTS] mv ON [db.]t`
    DropMaterializedView {
        name: String,
        table: TableName,
        if_exists: bool,
    },
    /// `SHOW ALTER TABLE MATERIALIZED VIEW | ROLLUP [FROM db]`
    ShowAlterTableMv {
        db: Option<String>,
    },
    /// `SHOW TABLETS FROM [db.]t [PARTITION (p, ...)] [LIMIT n]`
    ShowTablets {
        table: TableName,
        partitions: Vec<String>,
        limit: Option<u64>,
    },
    /// `SHOW TABLET <id>`
    ShowTablet {
        id: i64,
    },
    /// `SHOW PROC '/path'`
    ShowProc {
        path: String,
    },
    Commit,
    Rollback,
    /// A query or DML for DataFusion (SELECT, WITH, INSERT, VALUES, ...): the original text.
    Query(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum VarScope {
    Session,
    Global,
    /// `SET @x = ...`
    User,
}

/// One `name = value` in a SET statement. `SET NAMES utf8mb4 [COLLATE x]` becomes
/// `names = 'utf8mb4'`; `SET CHARACTER SET x` becomes `character_set = 'x'`.
#[derive(Debug, Clone, PartialEq)]
pub struct SetAssignment {
    pub scope: VarScope,
    /// Lower-cased variable name without `@@session.` etc.
    pub name: String,
    pub value: SetValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SetValue {
    /// Quoted string, or an unquoted word such as `ON`, `utf8mb4`, `STRICT_TRANS_TABLES`.
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// `DEFAULT`
    Default,
    /// Anything else (e.g. `10*1024*1024`), as SQL text to evaluate as a constant.
    Expr(String),
}

/// Where `ADD COLUMN` / `MODIFY COLUMN` put the column.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnPosition {
    First,
    After(String),
}

/// One operation of `ALTER TABLE`.
#[derive(Debug, Clone, PartialEq)]
pub enum AlterTableOp {
    /// `ADD PARTITION [IF NOT EXISTS] p VALUES ... [DISTRIBUTED BY ... BUCKETS n]`
    AddPartition {
        def: PartitionDef,
        if_not_exists: bool,
        buckets: Option<u32>,
    },
    /// `DROP PARTITION [IF EXISTS] p [FORCE]`
    DropPartition { name: String, if_exists: bool },
    /// `RENAME PARTITION old new`
    RenamePartition { old: String, new: String },
    /// `RENAME new_name`
    Rename { new_name: String },
    /// `SET ("key" = "value", ...)`
    SetProperties(Vec<(String, String)>),
    /// `ADD COLUMN c ... [FIRST | AFTER c]` or `ADD COLUMN (c1 ..., c2 ...)`
    AddColumns {
        columns: Vec<ColumnDef>,
        position: Option<ColumnPosition>,
    },
    /// `DROP COLUMN c`
    DropColumn { name: String },
    /// `MODIFY COLUMN c type ... [FIRST | AFTER c]`
    ModifyColumn {
        column: ColumnDef,
        position: Option<ColumnPosition>,
    },
    /// `RENAME COLUMN old new`
    RenameColumn { old: String, new: String },
}

#[derive(Debug, Clone, PartialEq)]
pub enum AlterSystem {
    AddBackends(Vec<String>),
    DropBackends(Vec<String>),
    DecommissionBackends(Vec<String>),
    AddFollower(String),
    AddObserver(String),
    DropFollower(String),
    DropObserver(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeysKind {
    Duplicate,
    Aggregate,
    Unique,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggKind {
    Sum,
    Min,
    Max,
    Replace,
    ReplaceIfNotNull,
    HllUnion,
    BitmapUnion,
    QuantileUnion,
    Generic,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DefaultValue {
    Null,
    /// A literal as text (numbers and strings alike), e.g. `'1'`, `0`, `"abc"`.
    Literal(String),
    CurrentTimestamp,
    CurrentDate,
}

/// A column type as written, before the catalog validates it (e.g. HLL/BITMAP are parsed
/// so that the executor can reject them with a clear "not supported yet").
#[derive(Debug, Clone, PartialEq)]
pub enum TypeDef {
    Supported(ColumnType),
    /// A type Doris has that this build does not store yet, by name (e.g. `BITMAP`, `HLL`,
    /// `JSON`, `ARRAY<INT>`).
    Unsupported(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDef {
    pub name: String,
    pub data_type: TypeDef,
    pub agg: Option<AggKind>,
    /// `Some(true)` for `NULL`, `Some(false)` for `NOT NULL`, `None` when unspecified.
    pub nullable: Option<bool>,
    pub key: bool,
    pub auto_increment: bool,
    pub default: Option<DefaultValue>,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KeysDesc {
    pub kind: KeysKind,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DistributionDesc {
    /// `DISTRIBUTED BY HASH(cols) BUCKETS n|AUTO` (`None` = AUTO or omitted).
    Hash {
        columns: Vec<String>,
        buckets: Option<u32>,
    },
    Random {
        buckets: Option<u32>,
    },
}

/// One value of a partition bound or list, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionLiteral {
    /// A quoted string, a number or `TRUE`/`FALSE`, as text (quotes stripped).
    Value(String),
    /// The `MAXVALUE` keyword.
    MaxValue,
    /// The `NULL` keyword (a LIST partition holding NULL).
    Null,
}

/// A partition value bound: a list of literals (multi-column), or MAXVALUE.
#[derive(Debug, Clone, PartialEq)]
pub enum PartitionValues {
    LessThan(Vec<PartitionLiteral>),
    LessThanMaxValue,
    /// `[("a"), ("b"))`
    Range {
        lower: Vec<PartitionLiteral>,
        upper: Vec<PartitionLiteral>,
    },
    /// `VALUES IN ("a","b")` or `IN (("a",1),("b",2))`
    In(Vec<Vec<PartitionLiteral>>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct PartitionDef {
    pub name: String,
    pub values: PartitionValues,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PartitionKind {
    Range,
    List,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PartitionDesc {
    pub kind: PartitionKind,
    pub auto: bool,
    pub columns: Vec<String>,
    pub partitions: Vec<PartitionDef>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreateTable {
    pub name: TableName,
    pub if_not_exists: bool,
    pub columns: Vec<ColumnDef>,
    /// `INDEX idx (col) USING INVERTED ...`: names of declared indexes (kept, not built yet).
    pub indexes: Vec<String>,
    pub engine: Option<String>,
    pub keys: Option<KeysDesc>,
    pub comment: Option<String>,
    pub partition: Option<PartitionDesc>,
    pub distribution: Option<DistributionDesc>,
    pub rollups: Vec<String>,
    pub properties: Vec<(String, String)>,
    /// `CREATE TABLE t [(...)] AS SELECT ...` / `CREATE TABLE t LIKE t2`: not supported yet,
    /// kept so the executor can say so.
    pub as_select: Option<String>,
    pub like: Option<TableName>,
}
