//! Statement execution: parses one statement and dispatches it to DDL, SHOW, session or
//! query handling. Entry point: [`execute`].

mod alter;
mod ddl;
pub mod dynamic_partition;
pub mod forward;
pub mod load;
pub mod materialized_view;
mod partition;
mod proc;
pub mod profile;
mod schema_change;
mod show;
mod variables;

use std::sync::Arc;

use crate::env::Env;
use crate::error::{FeError, Result};
use crate::mysql::result::QueryOutput;
use crate::mysql::session::Session;
use crate::planner;
use crate::sql::ast::Statement;
use crate::sql::parser::parse_statement;

pub use variables::session_var_provider;

/// Executes one statement for `session`.
pub async fn execute(env: &Arc<Env>, session: &mut Session, sql: &str) -> Result<QueryOutput> {
    let stmt = parse_statement(sql).map_err(|e| FeError::Syntax(e.to_string()))?;
    if !matches!(stmt, Statement::ShowWarnings | Statement::ShowErrors) {
        session.warnings.clear();
    }
    if let Some(out) = forward::check_txn_home(env, session, &stmt)? {
        return Ok(out);
    }
    if !session.forward.is_master_copy && !env.is_master() {
        if forward::needs_master(&stmt) {
            let out = forward::forward(env, session, sql).await?;
            if let Statement::Set(assignments) = stmt {
                // The session's own assignments of a SET that also set globals.
                let local: Vec<_> = assignments
                    .into_iter()
                    .filter(|a| a.scope != crate::sql::ast::VarScope::Global)
                    .collect();
                variables::set(env, session, local).await?;
            }
            return Ok(out);
        }
        check_metadata_fresh(env, &stmt)?;
    }
    match stmt {
        Statement::Query(text) => {
            let words: Vec<&str> = text.split_whitespace().take(3).collect();
            if words
                .first()
                .is_some_and(|w| w.eq_ignore_ascii_case("show"))
            {
                return Err(FeError::NotSupported(words.join(" ").to_uppercase()));
            }
            planner::run_query(env, session, &text).await
        }
        Statement::Explain {
            verbose,
            analyze,
            statement,
        } => planner::explain(env, session, &statement, verbose, analyze).await,
        Statement::Use { db } => {
            use_database(env, session, &db)?;
            Ok(QueryOutput::ok())
        }
        Statement::CreateDatabase {
            name,
            if_not_exists,
            ..
        } => ddl::create_database(env, &name, if_not_exists),
        Statement::DropDatabase {
            name, if_exists, ..
        } => ddl::drop_database(env, session, &name, if_exists).await,
        Statement::CreateTable(ct) => ddl::create_table(env, session, *ct).await,
        Statement::DropTable {
            table, if_exists, ..
        } => ddl::drop_table(env, session, &table, if_exists).await,
        Statement::AlterSystem(a) => ddl::alter_system(env, a).await,
        Statement::CreateUser {
            user,
            if_not_exists,
            password,
        } => ddl::create_user(env, &user, if_not_exists, password.as_deref()),
        Statement::DropUser { user, if_exists } => ddl::drop_user(env, &user, if_exists),
        Statement::SetPassword { user, password } => {
            ddl::set_password(env, session, user.as_ref(), &password)
        }
        Statement::Set(assignments) => variables::set(env, session, assignments).await,
        Statement::ShowVariables { global, like } => {
            variables::show_variables(env, session, global, like.as_deref())
        }
        Statement::ShowWarnings | Statement::ShowErrors => show::warnings(session),
        Statement::ShowDatabases { like } => show::databases(env, like.as_deref()),
        Statement::ShowTables { db, like, full } => {
            show::tables(env, session, db.as_deref(), like.as_deref(), full)
        }
        Statement::ShowTableStatus { db, like } => {
            show::table_status(env, session, db.as_deref(), like.as_deref())
        }
        Statement::Describe { table, .. } => show::describe(env, session, &table),
        Statement::ShowCreateTable { table } => show::create_table(env, session, &table),
        Statement::ShowPartitions {
            table,
            temporary,
            name,
            name_like,
            limit,
        } => show::partitions(
            env,
            session,
            &table,
            temporary,
            name.as_deref(),
            name_like.as_deref(),
            limit,
        ),
        Statement::ShowCreateDatabase { name } => show::create_database(env, &name),
        Statement::ShowBackends => show::backends(env),
        Statement::ShowFrontends => show::frontends(env),
        Statement::ShowProcesslist { full } => show::processlist(env, full),
        Statement::ShowQueryProfile { path } => show::query_profile(env, &path),
        Statement::ShowEngines => show::engines(),
        Statement::ShowCharset => show::charset(),
        Statement::ShowCollation { .. } => show::collation(),
        Statement::Kill { query_only, id } => kill(env, session, id, query_only),
        Statement::Begin { label } => load::begin(session, label),
        Statement::Commit => load::commit(env, session).await,
        Statement::Rollback => load::rollback(env, session).await,
        Statement::ShowLoad {
            db,
            stream,
            filter,
            limit,
        } => load::show_load(env, session, db.as_deref(), stream, &filter, limit),
        Statement::AlterTable { table, ops } => alter::alter_table(env, session, &table, ops).await,
        Statement::Truncate { table, partitions } => {
            alter::truncate(env, session, &table, &partitions).await
        }
        Statement::CreateMaterializedView {
            name,
            if_not_exists,
            query,
        } => materialized_view::create(env, session, &name, if_not_exists, &query).await,
        Statement::DropMaterializedView {
            name,
            table,
            if_exists,
        } => materialized_view::drop(env, session, &name, &table, if_exists).await,
        Statement::ShowAlterTableMv { db } => {
            materialized_view::show_jobs(env, session, db.as_deref())
        }
        Statement::ShowAlterTableColumn { db } => {
            alter::show_alter_table_column(env, session, db.as_deref())
        }
        Statement::ShowTablets {
            table,
            partitions,
            limit,
        } => proc::show_tablets(env, session, &table, &partitions, limit),
        Statement::ShowTablet { id } => proc::show_tablet(env, id),
        Statement::ShowProc { path } => proc::show_proc(env, &path),
        Statement::ShowTransaction { db, id, label } => {
            load::show_transaction(env, session, db.as_deref(), id, label.as_deref())
        }
    }
}

/// On a frontend that is not the master: refuses statements that read the catalog once the
/// master has been silent for `meta_delay_toleration_second` (its metadata may be stale).
fn check_metadata_fresh(env: &Env, stmt: &Statement) -> Result<()> {
    let reads_catalog = !matches!(
        stmt,
        Statement::ShowFrontends
            | Statement::ShowVariables { .. }
            | Statement::ShowWarnings
            | Statement::ShowErrors
            | Statement::ShowProcesslist { .. }
            | Statement::Set(_)
            | Statement::Kill { .. }
    );
    let last = env
        .last_leader_contact_ms
        .load(std::sync::atomic::Ordering::Relaxed);
    let silent_ms = chrono::Utc::now().timestamp_millis() - last;
    let limit_ms = i64::try_from(env.config.meta_delay_toleration_second)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000);
    if reads_catalog && silent_ms > limit_ms {
        return Err(FeError::NotMaster(if last == 0 {
            "this frontend has not heard from the master since it started; its metadata \
             may be stale, so it does not answer queries yet"
                .into()
        } else {
            format!(
                "this frontend has not heard from the master for {} s (more than \
                 meta_delay_toleration_second = {}); its metadata may be stale, so it does \
                 not answer queries until the master is back",
                silent_ms / 1000,
                env.config.meta_delay_toleration_second
            )
        }));
    }
    Ok(())
}

/// `USE db` / COM_INIT_DB.
pub fn use_database(env: &Env, session: &mut Session, db: &str) -> Result<()> {
    let db = db.trim().trim_matches('`');
    if db.eq_ignore_ascii_case("information_schema") {
        session.database = Some("information_schema".into());
        return Ok(());
    }
    if env.catalog.read().db_by_name(db).is_none() {
        return Err(FeError::UnknownDatabase(db.to_string()));
    }
    session.database = Some(db.to_string());
    session.info.lock().db = db.to_string();
    Ok(())
}

fn kill(env: &Env, session: &Session, id: u64, query_only: bool) -> Result<QueryOutput> {
    let id32 =
        u32::try_from(id).map_err(|_| FeError::Analysis(format!("Unknown thread id: {id}")))?;
    let info = env
        .sessions
        .get(id32)
        .ok_or_else(|| FeError::Analysis(format!("Unknown thread id: {id}")))?;
    if id32 == session.connection_id && !query_only {
        return Err(FeError::NotSupported("killing your own connection".into()));
    }
    let mut info = info.lock();
    info.killed = true;
    if let Some(kill) = &info.kill {
        kill.notify_one();
    }
    Ok(QueryOutput::ok())
}
