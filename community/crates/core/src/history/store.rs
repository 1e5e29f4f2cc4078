//! Defines the few database operations the lock and the history need, as two small
//! traits (their CQL implementations live in the `cassachange-cassandra` crate).
//!
//! Keeping them behind traits (the way refinery separates its runner from its drivers)
//! lets the lock and history logic be unit-tested with fakes that time out, answer
//! "not applied" with our own run id, or lose renewals; the real-node tests stay.

use std::future::Future;
use std::time::Duration;

use super::lock::LockInfo;
use super::state::HistoryRow;
use crate::error::DbError;

/// The outcome of a lightweight transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cas {
    /// The condition held and the write was applied.
    Applied,
    /// It was not applied; the current row, if there is one.
    NotApplied(Option<LockInfo>),
}

/// The operations on the `deploy_lock` row.
pub trait LockStore: Send + Sync + 'static {
    /// `INSERT … IF NOT EXISTS USING TTL`.
    fn insert_if_absent(
        &self,
        row: &LockInfo,
        ttl: Duration,
    ) -> impl Future<Output = Result<Cas, DbError>> + Send;

    /// `UPDATE … USING TTL … IF run_id = <row.run_id>`: rewrites every cell with a
    /// fresh TTL, so the row lives while renewals do.
    fn renew(
        &self,
        row: &LockInfo,
        ttl: Duration,
    ) -> impl Future<Output = Result<Cas, DbError>> + Send;

    /// `DELETE … IF run_id = ?` (an empty `run_id`: the row has none).
    fn delete_if(&self, run_id: &str) -> impl Future<Output = Result<Cas, DbError>> + Send;

    /// The current row, read at `SERIAL`.
    fn read(&self) -> impl Future<Output = Result<Option<LockInfo>, DbError>> + Send;
}

/// The operations on `change_history` a run needs.
pub trait HistoryStore: Send + Sync {
    /// Creates the history and lock tables when they do not exist yet.
    fn ensure(&self) -> impl Future<Output = Result<(), DbError>> + Send;

    /// Every row (empty when the table does not exist yet).
    fn read_all(&self) -> impl Future<Output = Result<Vec<HistoryRow>, DbError>> + Send;

    /// Writes `rows` (each with its own `installed_on`) to the history table and
    /// `intents` to the intent table, within `timeout`, as one write: one row as one
    /// insert, several as one logged batch, so they are recorded together or not at
    /// all. Writing the same rows again changes nothing.
    ///
    /// An intent (script, keyspace, run, start time in `installed_on`, type, version,
    /// and in `description` what a reader should know) replaces the script's earlier
    /// one; [`HistoryStore::read_all`] returns an open intent — no history row of the
    /// script at or after it — as an `INTERRUPTED` row.
    fn write(
        &self,
        rows: &[HistoryRow],
        intents: &[HistoryRow],
        timeout: Option<Duration>,
    ) -> impl Future<Output = Result<(), DbError>> + Send;
}
