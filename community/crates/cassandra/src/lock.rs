//! Defines the lock's operations on `deploy_lock` over a real session: the CQL of
//! [`LockStore`] (the lock algorithm itself is `cassachange_core::history::lock`).

use std::sync::Arc;
use std::time::Duration;

use cassachange_core::history::lock::{LockInfo, LOCK_KEY};
use cassachange_core::history::store::{Cas, LockStore};

use crate::db::{Consistency, CqlValue, Db, DbError, Values};

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

/// The row a lightweight transaction that was not applied found. A failed `IF run_id =
/// ?` on a missing row answers with `[applied]` alone; an existing row answers with its
/// columns — possibly without a run id (a row written by hand or by another tool),
/// which is a holder all the same.
fn lock_row(rows: &crate::db::Rows) -> Option<LockInfo> {
    if rows.columns.is_empty() || rows.rows.is_empty() {
        return None;
    }
    Some(LockInfo {
        locked_by: rows.text(0, "locked_by").unwrap_or_default(),
        locked_at: rows.timestamp(0, "locked_at"),
        run_id: rows.text(0, "run_id").unwrap_or_default(),
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
        // A row without a run id is deleted by `IF run_id = null`.
        let holder = if run_id.is_empty() {
            None
        } else {
            text(run_id)
        };
        self.cas(
            "releasing the deploy lock",
            &cql,
            vec![text(LOCK_KEY), holder],
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
