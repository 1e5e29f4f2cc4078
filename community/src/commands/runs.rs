//! Defines how a command starts a run of the engine: its id, operator and tag, its
//! options from the settings, and its parts on a real session (the history table, the
//! lock table, this process's stop request and the system's lease clock).

use std::sync::Arc;

use cassachange_cassandra::history::lock_commit;
use cassachange_cassandra::{CqlLockStore, Db, HistoryTable};
use cassachange_core::clock::SystemClock;
use cassachange_core::run::{Options, Parts, RunInfo};

use super::connect::{hostname, operator};
use crate::config::Settings;

/// A new run (fresh id) by the settings' operator, under `tag`.
pub(crate) fn info(settings: &Settings, tag: Option<&String>) -> RunInfo {
    RunInfo {
        run_id: uuid::Uuid::new_v4().to_string(),
        operator: operator(settings),
        tag: tag.cloned().unwrap_or_default(),
    }
}

/// The run's options: statement timeout, lock TTL and wait, and its lock identity.
pub(crate) fn options(settings: &Settings, info: &RunInfo) -> Options {
    Options {
        timeout: settings.timeout,
        lock_ttl: settings.lock_ttl,
        lock_wait: settings.lock_wait,
        identity: format!("{}:{}", hostname(), &info.run_id[..8]),
    }
}

/// What a run works with on `db`: `table`, the `deploy_lock` beside it, the process's
/// stop request and the system clock.
pub(crate) fn parts<'a>(
    db: &'a Arc<Db>,
    table: &'a HistoryTable,
    settings: &Settings,
) -> Parts<'a, Db, HistoryTable, CqlLockStore> {
    Parts {
        session: db.as_ref(),
        history: table,
        locks: Arc::new(CqlLockStore::new(
            db.clone(),
            table.keyspace(),
            lock_commit(settings.history_consistency),
        )),
        stop: crate::interrupt::stop(),
        clock: Arc::new(SystemClock),
    }
}

/// The deploy freeze of the history keyspace named by `settings`.
pub(crate) fn freeze_flag(
    db: &Arc<Db>,
    settings: &Settings,
    history_keyspace: &str,
) -> cassachange_cassandra::freeze::FreezeFlag {
    cassachange_cassandra::freeze::FreezeFlag::new(
        db.clone(),
        history_keyspace,
        settings.history_consistency,
    )
}

/// The refusal of a `command` (deploy, rollback) while deploys are frozen.
pub(crate) fn frozen(f: &cassachange_cassandra::freeze::Freeze, command: &str) -> String {
    format!(
        "deploys are frozen (by {} at {}: {}); the {command} did not start",
        f.frozen_by,
        crate::timefmt::format_ms(f.frozen_at),
        f.reason
    )
}

/// What to do about a freeze.
pub(crate) const FROZEN_HINT: &str =
    "wait until whoever froze them lifts it with `cassachange repair --unfreeze`";
