//! Defines the deploy lock: one row in `deploy_lock`, taken with an LWT
//! `INSERT … IF NOT EXISTS USING TTL`, kept alive by a lease renewed in the background
//! (`UPDATE … USING TTL … IF run_id = ?`), checked before every script, and released
//! only by its owner (`DELETE … IF run_id = ?`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::db::{CqlValue, Db, DbError};
use crate::timefmt;

/// The key of the one lock the original uses.
pub const LOCK_KEY: &str = "global";

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockInfo {
    /// `hostname:run_id_prefix`.
    pub locked_by: String,
    /// When it was taken (ms).
    pub locked_at: Option<i64>,
    /// The holder's run id.
    pub run_id: String,
}

impl LockInfo {
    /// `locked_by=…  locked_at=…  run_id=…`, as in the original's message.
    pub fn describe(&self) -> String {
        format!(
            "locked_by={}  locked_at={}  run_id={}",
            self.locked_by,
            self.locked_at
                .map_or_else(|| "?".into(), timefmt::format_ms),
            self.run_id
        )
    }
}

/// Why a lock operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another run holds the lock.
    #[error("Deploy lock already held.\n{}", .0.describe())]
    Held(LockInfo),
    /// This run's lock expired or was taken away.
    #[error("the deploy lock was lost: {0}")]
    Lost(String),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The lock table of a history keyspace.
pub struct LockTable {
    table: String,
}

#[allow(clippy::unnecessary_wraps)] // a bound value: `None` would be null
fn text(s: &str) -> Option<CqlValue> {
    Some(CqlValue::Text(s.to_string()))
}

fn ttl_secs(ttl: Duration) -> i32 {
    i32::try_from(ttl.as_secs().max(1)).unwrap_or(i32::MAX)
}

impl LockTable {
    /// `deploy_lock` in `keyspace`.
    pub fn new(keyspace: &str) -> Self {
        LockTable {
            table: format!("{}.deploy_lock", keyspace.to_ascii_lowercase()),
        }
    }

    /// The current holder, read with serial consistency.
    pub async fn status(&self, db: &Db) -> Result<Option<LockInfo>, DbError> {
        let rows = db
            .serial_read(
                "reading the deploy lock",
                &format!(
                    "SELECT locked_by, locked_at, run_id FROM {} WHERE lock_key = ?",
                    self.table
                ),
                vec![text(LOCK_KEY)],
            )
            .await?;
        Ok((!rows.rows.is_empty()).then(|| LockInfo {
            locked_by: rows.text(0, "locked_by").unwrap_or_default(),
            locked_at: rows.timestamp(0, "locked_at"),
            run_id: rows.text(0, "run_id").unwrap_or_default(),
        }))
    }

    /// Deletes the lock whoever holds it (`repair --release-lock`); returns who held it.
    pub async fn force_release(&self, db: &Db) -> Result<Option<LockInfo>, DbError> {
        let held = self.status(db).await?;
        if held.is_some() {
            db.lwt(
                "force-releasing the deploy lock",
                &format!("DELETE FROM {} WHERE lock_key = ? IF EXISTS", self.table),
                vec![text(LOCK_KEY)],
            )
            .await?;
        }
        Ok(held)
    }

    /// Takes the lock, waiting up to `wait` while another run holds it.
    pub async fn acquire(
        &self,
        db: Arc<Db>,
        run_id: &str,
        identity: &str,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Lock, LockError> {
        let deadline = Instant::now() + wait;
        let mut announced = false;
        loop {
            let r = db
                .lwt(
                    "taking the deploy lock",
                    &format!(
                        "INSERT INTO {} (lock_key, locked_by, locked_at, run_id) VALUES (?, ?, ?, ?) \
                         IF NOT EXISTS USING TTL ?",
                        self.table
                    ),
                    vec![
                        text(LOCK_KEY),
                        text(identity),
                        Some(CqlValue::Timestamp(scylla::value::CqlTimestamp(timefmt::now_ms()))),
                        text(run_id),
                        Some(CqlValue::Int(ttl_secs(ttl))),
                    ],
                )
                .await?;
            if r.applied {
                return Ok(Lock::start(db, self.table.clone(), run_id, identity, ttl));
            }
            let holder = LockInfo {
                locked_by: r.current.text(0, "locked_by").unwrap_or_default(),
                locked_at: r.current.timestamp(0, "locked_at"),
                run_id: r.current.text(0, "run_id").unwrap_or_default(),
            };
            if Instant::now() >= deadline {
                return Err(LockError::Held(holder));
            }
            if !announced {
                crate::ui::note(format!(
                    "[lock]    held by {}; waiting up to {}s",
                    holder.locked_by,
                    wait.as_secs()
                ));
                announced = true;
            }
            tokio::time::sleep(Duration::from_millis(500).min(deadline - Instant::now())).await;
        }
    }
}

/// A held lock. Dropping it without [`Lock::release`] leaves the row to expire.
pub struct Lock {
    db: Arc<Db>,
    table: String,
    run_id: String,
    lost: Arc<AtomicBool>,
    renewer: tokio::task::JoinHandle<()>,
}

impl Lock {
    fn start(db: Arc<Db>, table: String, run_id: &str, identity: &str, ttl: Duration) -> Lock {
        let lost = Arc::new(AtomicBool::new(false));
        let renewer = {
            let (db, table, run_id, identity, lost) = (
                db.clone(),
                table.clone(),
                run_id.to_string(),
                identity.to_string(),
                lost.clone(),
            );
            tokio::spawn(async move {
                let period = (ttl / 3).max(Duration::from_millis(200));
                loop {
                    tokio::time::sleep(period).await;
                    let r = db
                        .lwt(
                            "renewing the deploy lock",
                            &format!(
                                "UPDATE {table} USING TTL ? SET locked_by = ?, run_id = ? WHERE lock_key = ? IF run_id = ?"
                            ),
                            vec![
                                Some(CqlValue::Int(ttl_secs(ttl))),
                                text(&identity),
                                text(&run_id),
                                text(LOCK_KEY),
                                text(&run_id),
                            ],
                        )
                        .await;
                    match r {
                        Ok(r) if r.applied => tracing::debug!("lock lease renewed"),
                        Ok(_) => {
                            lost.store(true, Ordering::SeqCst);
                            tracing::warn!("the deploy lock is no longer ours");
                            return;
                        }
                        Err(e) => {
                            tracing::warn!("renewing the deploy lock failed (will retry): {e}");
                        }
                    }
                }
            })
        };
        Lock {
            db,
            table,
            run_id: run_id.to_string(),
            lost,
            renewer,
        }
    }

    /// The run id that owns the lock.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Confirms the lock is still ours (serial read); called before every script.
    pub async fn check(&self) -> Result<(), LockError> {
        if self.lost.load(Ordering::SeqCst) {
            return Err(LockError::Lost(
                "a lease renewal found another owner".into(),
            ));
        }
        let table = LockTable {
            table: self.table.clone(),
        };
        match table.status(&self.db).await? {
            Some(info) if info.run_id == self.run_id => Ok(()),
            Some(info) => Err(LockError::Lost(format!(
                "it is now held by another run ({})",
                info.describe()
            ))),
            None => Err(LockError::Lost(
                "it expired or was released by `repair --release-lock`".into(),
            )),
        }
    }

    /// Stops renewing and deletes the lock if it is still ours; returns whether it was.
    pub async fn release(self) -> Result<bool, DbError> {
        self.renewer.abort();
        let r = self
            .db
            .lwt(
                "releasing the deploy lock",
                &format!(
                    "DELETE FROM {} WHERE lock_key = ? IF run_id = ?",
                    self.table
                ),
                vec![text(LOCK_KEY), text(&self.run_id)],
            )
            .await?;
        Ok(r.applied)
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}
