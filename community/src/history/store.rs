//! Defines the few database operations the lock and the history need, as two small
//! traits, and the lock's CQL implementation on a [`Db`] session (the history's is
//! [`super::table::HistoryTable`]).
//!
//! Keeping them behind traits (the way refinery separates its runner from its drivers)
//! lets the lock and history logic be unit-tested with fakes that time out, answer
//! "not applied" with our own run id, or lose renewals; the real-node tests stay.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::lock::{LockInfo, LOCK_KEY};
use super::state::HistoryRow;
use crate::db::{Consistency, CqlValue, Db, DbError, Values};

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

    /// `DELETE … IF run_id = ?`.
    fn delete_if(&self, run_id: &str) -> impl Future<Output = Result<Cas, DbError>> + Send;

    /// The current row, read at `SERIAL`.
    fn read(&self) -> impl Future<Output = Result<Option<LockInfo>, DbError>> + Send;
}

/// The operations on `change_history` a run needs.
pub trait HistoryStore: Send + Sync {
    /// Every row (empty when the table does not exist yet).
    fn read_all(&self) -> impl Future<Output = Result<Vec<HistoryRow>, DbError>> + Send;

    /// Writes `rows` (each with its own `installed_on`) within `timeout`: one row as
    /// one insert, several as one logged batch, so they are recorded together or not
    /// at all. Writing the same rows again changes nothing.
    fn insert(
        &self,
        rows: &[HistoryRow],
        timeout: Option<Duration>,
    ) -> impl Future<Output = Result<(), DbError>> + Send;

    /// Writes the intent `row` (script, keyspace, run, start time, type, version) to the
    /// intent table, replacing the script's earlier intent. [`HistoryStore::read_all`]
    /// returns an open intent — no history row of the script since it — as an
    /// `INTERRUPTED` row.
    fn insert_intent(
        &self,
        row: &HistoryRow,
        timeout: Option<Duration>,
    ) -> impl Future<Output = Result<(), DbError>> + Send;
}

/// `deploy_lock` of a history keyspace, on a real session.
pub struct CqlLockStore {
    db: Arc<Db>,
    table: String,
    commit: Consistency,
}

#[allow(clippy::unnecessary_wraps)] // a bound value: `None` would be null
fn text(s: &str) -> Option<CqlValue> {
    Some(CqlValue::Text(s.to_string()))
}

fn ttl_secs(ttl: Duration) -> i32 {
    i32::try_from(ttl.as_secs().max(1)).unwrap_or(i32::MAX)
}

fn timestamp(ms: Option<i64>) -> Option<CqlValue> {
    ms.map(|t| CqlValue::Timestamp(scylla::value::CqlTimestamp(t)))
}

impl CqlLockStore {
    /// `keyspace.deploy_lock`, with LWT commits at `commit`.
    pub fn new(db: Arc<Db>, keyspace: &str, commit: Consistency) -> Self {
        CqlLockStore {
            db,
            table: format!("{}.deploy_lock", keyspace.to_ascii_lowercase()),
            commit,
        }
    }

    async fn cas(&self, what: &str, cql: &str, values: Values) -> Result<Cas, DbError> {
        let r = self.db.lwt(what, cql, values, self.commit).await?;
        Ok(if r.applied {
            Cas::Applied
        } else {
            Cas::NotApplied(lock_row(&r.current))
        })
    }
}

fn lock_row(rows: &crate::db::Rows) -> Option<LockInfo> {
    // A failed `IF run_id = ?` on a missing row answers with no current values.
    let run_id = rows.text(0, "run_id")?;
    Some(LockInfo {
        locked_by: rows.text(0, "locked_by").unwrap_or_default(),
        locked_at: rows.timestamp(0, "locked_at"),
        run_id,
    })
}

impl LockStore for CqlLockStore {
    async fn insert_if_absent(&self, row: &LockInfo, ttl: Duration) -> Result<Cas, DbError> {
        let cql = format!(
            "INSERT INTO {} (lock_key, locked_by, locked_at, run_id) VALUES (?, ?, ?, ?) \
             IF NOT EXISTS USING TTL ?",
            self.table
        );
        let values = vec![
            text(LOCK_KEY),
            text(&row.locked_by),
            timestamp(row.locked_at),
            text(&row.run_id),
            Some(CqlValue::Int(ttl_secs(ttl))),
        ];
        self.cas("taking the deploy lock", &cql, values).await
    }

    async fn renew(&self, row: &LockInfo, ttl: Duration) -> Result<Cas, DbError> {
        let cql = format!(
            "UPDATE {} USING TTL ? SET locked_by = ?, locked_at = ?, run_id = ? \
             WHERE lock_key = ? IF run_id = ?",
            self.table
        );
        let values = vec![
            Some(CqlValue::Int(ttl_secs(ttl))),
            text(&row.locked_by),
            timestamp(row.locked_at),
            text(&row.run_id),
            text(LOCK_KEY),
            text(&row.run_id),
        ];
        self.cas("renewing the deploy lock", &cql, values).await
    }

    async fn delete_if(&self, run_id: &str) -> Result<Cas, DbError> {
        let cql = format!(
            "DELETE FROM {} WHERE lock_key = ? IF run_id = ?",
            self.table
        );
        self.cas(
            "releasing the deploy lock",
            &cql,
            vec![text(LOCK_KEY), text(run_id)],
        )
        .await
    }

    async fn read(&self) -> Result<Option<LockInfo>, DbError> {
        let cql = format!(
            "SELECT locked_by, locked_at, run_id FROM {} WHERE lock_key = ?",
            self.table
        );
        let rows = self
            .db
            .serial_read("reading the deploy lock", &cql, vec![text(LOCK_KEY)])
            .await?;
        Ok(if rows.rows.is_empty() {
            None
        } else {
            Some(LockInfo {
                locked_by: rows.text(0, "locked_by").unwrap_or_default(),
                locked_at: rows.timestamp(0, "locked_at"),
                run_id: rows.text(0, "run_id").unwrap_or_default(),
            })
        })
    }
}
