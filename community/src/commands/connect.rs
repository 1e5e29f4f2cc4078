//! Defines what every database command does first: open the session, check the
//! keyspaces exist (cassachange never creates them), and name the operator.

use std::sync::Arc;

use crate::config::Settings;
use crate::db::{Db, DbError};
use crate::execute::RunInfo;
use crate::exit::ExitStatus;
use crate::history::lock::{Lock, LockError, LockTable, LOCK_KEY};
use crate::history::table::check_identifier;
use crate::outln;
use crate::ui::UserError;

/// A database error as the person running the command should read it.
pub(crate) fn db_error(e: &DbError) -> UserError {
    let mut u = UserError::error(e.to_string());
    if let Some(h) = e.hint() {
        u = u.hint(h);
    }
    u
}

/// Checks names, opens the session, and verifies every keyspace in `keyspaces`
/// exists (spec §26), before any lock or script.
pub(crate) async fn open(settings: &Settings, keyspaces: &[&str]) -> Result<Arc<Db>, UserError> {
    for ks in keyspaces {
        check_identifier("keyspace", ks).map_err(UserError::error)?;
    }
    check_identifier("history_table", &settings.history_table).map_err(UserError::error)?;
    let db = Db::connect(settings).await.map_err(|e| db_error(&e))?;
    let existing = db.keyspaces().await.map_err(|e| db_error(&e))?;
    let missing: Vec<&str> = keyspaces
        .iter()
        .copied()
        .filter(|k| !existing.contains(&k.to_ascii_lowercase()))
        .collect();
    if !missing.is_empty() {
        let dc = local_datacenter(&db)
            .await
            .unwrap_or_else(|| "datacenter1".into());
        let names = missing
            .iter()
            .map(|k| format!("'{k}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let verb = if missing.len() == 1 { "does" } else { "do" };
        let mut err = UserError::error(format!(
            "Keyspace {names} {verb} not exist at {}.",
            db.contact()
        ))
        .hint("cassachange never creates keyspaces. Create it via your admin UI, Terraform or cqlsh before running cassachange:");
        for k in missing {
            err = err.hint(format!(
                "  CREATE KEYSPACE IF NOT EXISTS {k}\n    WITH replication = {{'class': 'NetworkTopologyStrategy', '{dc}': 3}};"
            ));
        }
        return Err(err);
    }
    Ok(Arc::new(db))
}

async fn local_datacenter(db: &Db) -> Option<String> {
    let rows = db
        .query(
            "reading the local datacenter",
            "SELECT data_center FROM system.local",
            vec![],
        )
        .await
        .ok()?;
    rows.text(0, "data_center")
}

/// The original's `installed_by`: the username when one is set, else the host name.
pub(crate) fn operator(settings: &Settings) -> String {
    settings.username.clone().unwrap_or_else(hostname)
}

/// This machine's host name.
pub(crate) fn hostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// A new run id (UUID v4, like the original's).
pub(crate) fn new_run_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Takes the deploy lock for `run` (waiting up to `lock_wait`), or returns the
/// original's "Deploy lock already held" message with exit status 3. Returns the lock
/// and the identity it was taken under.
pub(crate) async fn take_lock(
    db: &Arc<Db>,
    history_keyspace: &str,
    run: &RunInfo,
    settings: &Settings,
) -> Result<(Lock, String), UserError> {
    let identity = format!("{}:{}", hostname(), &run.run_id[..8]);
    match LockTable::new(history_keyspace)
        .acquire(db.clone(), &run.run_id, &identity, settings.lock_ttl, settings.lock_wait)
        .await
    {
        Ok(lock) => {
            outln!("[lock]    acquired {LOCK_KEY} ({identity})");
            Ok((lock, identity))
        }
        Err(LockError::Held(info)) => Err(UserError::error(format!("Deploy lock already held.\n{}", info.describe()))
            .hint("wait for the current deploy to finish (or pass --lock-wait 5m), or, if no deploy is running:")
            .hint("  cassachange repair --release-lock")
            .status(ExitStatus::LockHeld)),
        Err(LockError::Db(e)) => Err(db_error(&e)),
        Err(e @ LockError::Lost(_)) => Err(UserError::error(e.to_string())),
    }
}

/// What `deploy` and `rollback` open: the session (after checking the history and
/// target keyspaces), attached to the edition for the audit log.
pub(crate) async fn open_run<'s>(
    settings: &'s Settings,
    edition: &dyn crate::edition::Edition,
) -> Result<(Arc<Db>, &'s str, Vec<&'s str>), UserError> {
    let history_keyspace = settings
        .require_history_keyspace()
        .map_err(|e| UserError::error(e.to_string()))?;
    let keyspaces: Vec<&str> = settings.keyspaces.iter().map(String::as_str).collect();
    let mut all = vec![history_keyspace];
    all.extend(keyspaces.iter().copied());
    let db = open(settings, &all).await?;
    edition.attach(db.clone(), history_keyspace);
    Ok((db, history_keyspace, keyspaces))
}

impl RunInfo {
    /// A new run (fresh id) by this settings' operator, under `tag`.
    pub(crate) fn new(settings: &Settings, tag: Option<&String>) -> Self {
        RunInfo {
            run_id: new_run_id(),
            operator: operator(settings),
            tag: tag.cloned().unwrap_or_default(),
        }
    }
}
