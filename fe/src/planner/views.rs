//! `CREATE [OR REPLACE] VIEW` and `DROP VIEW`: a view is stored as its query text and
//! planned where it is referenced (see [`super::catalog`]).

use std::sync::Arc;

use datafusion::sql::sqlparser::ast::{CreateView, ObjectName, Statement as SqlStatement};

use super::{build_context, logical_plan, PlanEnv};
use crate::catalog::{JournalEntry, View};
use crate::env::Env;
use crate::error::{FeError, Result};
use crate::mysql::result::QueryOutput;
use crate::mysql::session::Session;

fn split_name(session: &Session, name: &ObjectName) -> Result<(String, String)> {
    let parts: Vec<String> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident().map(|i| i.value.clone()))
        .collect();
    match parts.as_slice() {
        [v] => Ok((
            session
                .database
                .clone()
                .ok_or(FeError::NoDatabaseSelected)?,
            v.clone(),
        )),
        [d, v] | [_, d, v] => Ok((d.clone(), v.clone())),
        _ => Err(FeError::Analysis(format!("invalid view name {name}"))),
    }
}

pub async fn create_view(
    env: &Arc<Env>,
    session: &Session,
    cv: &CreateView,
) -> Result<QueryOutput> {
    if cv.materialized {
        return Err(FeError::NotSupported(
            "CREATE MATERIALIZED VIEW (comes with the storage engine work)".into(),
        ));
    }
    let (db_name, view_name) = split_name(session, &cv.name)?;
    let (db_id, existing) = {
        let catalog = env.catalog.read();
        let db = catalog
            .db_by_name(&db_name)
            .ok_or_else(|| FeError::UnknownDatabase(db_name.clone()))?;
        if db.table_by_name(&view_name).is_some() {
            return Err(FeError::TableExists(view_name));
        }
        (db.id, db.view_by_name(&view_name).map(|v| v.id))
    };
    if existing.is_some() && !cv.or_replace {
        if cv.if_not_exists {
            return Ok(QueryOutput::ok());
        }
        return Err(FeError::TableExists(view_name));
    }
    let query = cv.query.to_string();
    // Validate: the query must plan, with as many columns as the view declares.
    let s = session_for(session, &db_name);
    let ctx = build_context(env, &s, Arc::new(PlanEnv::default()));
    let plan = logical_plan(&ctx, SqlStatement::Query(cv.query.clone())).await?;
    let columns: Vec<String> = cv.columns.iter().map(|c| c.name.value.clone()).collect();
    if !columns.is_empty() && columns.len() != plan.schema().fields().len() {
        return Err(FeError::Analysis(format!(
            "The number of columns of view `{view_name}` ({}) does not match its query ({})",
            columns.len(),
            plan.schema().fields().len()
        )));
    }
    let id = match existing {
        Some(id) => id,
        None => env.allocate_id()?,
    };
    env.log_and_apply(JournalEntry::CreateView {
        db_id,
        view: View {
            id,
            name: view_name,
            columns,
            query,
            create_time_ms: chrono::Utc::now().timestamp_millis(),
        },
    })?;
    Ok(QueryOutput::ok())
}

/// A copy of the session's identity with another current database (for validation).
fn session_for(session: &Session, db: &str) -> Session {
    Session {
        connection_id: session.connection_id,
        user: session.user.clone(),
        client_host: session.client_host.clone(),
        database: Some(db.to_string()),
        variables: session.variables.clone(),
        user_variables: session.user_variables.clone(),
        warnings: Vec::new(),
        info: Arc::clone(&session.info),
        txn: None,
        forward: session.forward.clone(),
    }
}

pub fn drop_views(
    env: &Env,
    session: &Session,
    names: &[ObjectName],
    if_exists: bool,
) -> Result<QueryOutput> {
    for name in names {
        let (db_name, view_name) = split_name(session, name)?;
        let found = {
            let catalog = env.catalog.read();
            let db = catalog
                .db_by_name(&db_name)
                .ok_or_else(|| FeError::UnknownDatabase(db_name.clone()))?;
            db.view_by_name(&view_name).map(|v| (db.id, v.id))
        };
        match found {
            Some((db_id, view_id)) => {
                env.log_and_apply(JournalEntry::DropView { db_id, view_id })?;
            }
            None if if_exists => {}
            None => return Err(FeError::UnknownTable(view_name)),
        }
    }
    Ok(QueryOutput::ok())
}
