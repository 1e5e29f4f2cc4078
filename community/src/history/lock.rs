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

/// Retries `op` while it times out with an unknown outcome (Paxos contention), up to
/// ten times with a growing pause; other results pass through.
async fn retry_uncertain<T, F, Fut>(mut op: F) -> Result<T, DbError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, DbError>>,
{
    let mut tries: u64 = 0;
    loop {
        match op().await {
            Err(DbError::Uncertain { .. }) if tries < 10 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(50 * tries)).await;
            }
            other => return other,
        }
    }
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
        let cql = format!(
            "SELECT locked_by, locked_at, run_id FROM {} WHERE lock_key = ?",
            self.table
        );
        let rows = retry_uncertain(|| {
            db.serial_read("reading the deploy lock", &cql, vec![text(LOCK_KEY)])
        })
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
            let cql = format!("DELETE FROM {} WHERE lock_key = ? IF EXISTS", self.table);
            retry_uncertain(|| {
                db.lwt(
                    "force-releasing the deploy lock",
                    &cql,
                    vec![text(LOCK_KEY)],
                )
            })
            .await?;
        }
        Ok(held)
    }

    /// Takes the lock, waiting up to `wait` while another run holds it.
    ///
    /// Under Paxos contention an insert can time out with an unknown outcome; the row is
    /// then read serially: ours means taken, another run's means held.
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
        let mut uncertain: u64 = 0;
        let locked_at = timefmt::now_ms();
        let cql = format!(
            "INSERT INTO {} (lock_key, locked_by, locked_at, run_id) VALUES (?, ?, ?, ?) \
             IF NOT EXISTS USING TTL ?",
            self.table
        );
        loop {
            let values = vec![
                text(LOCK_KEY),
                text(identity),
                Some(CqlValue::Timestamp(scylla::value::CqlTimestamp(locked_at))),
                text(run_id),
                Some(CqlValue::Int(ttl_secs(ttl))),
            ];
            let holder = match db.lwt("taking the deploy lock", &cql, values).await {
                Ok(r) if r.applied => None,
                Ok(r) => Some(LockInfo {
                    locked_by: r.current.text(0, "locked_by").unwrap_or_default(),
                    locked_at: r.current.timestamp(0, "locked_at"),
                    run_id: r.current.text(0, "run_id").unwrap_or_default(),
                }),
                Err(DbError::Uncertain { .. }) if uncertain < 10 => {
                    uncertain += 1;
                    tokio::time::sleep(Duration::from_millis(50 * uncertain)).await;
                    match self.status(&db).await? {
                        Some(info) if info.run_id == run_id => None,
                        Some(info) => Some(info),
                        None => continue,
                    }
                }
                Err(e) => return Err(e.into()),
            };
            let Some(holder) = holder else {
                return Ok(Lock::start(
                    db,
                    LockTable {
                        table: self.table.clone(),
                    },
                    run_id,
                    identity,
                    locked_at,
                    ttl,
                ));
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
    table: LockTable,
    run_id: String,
    lost: Arc<AtomicBool>,
    renewer: tokio::task::JoinHandle<()>,
}

impl Lock {
    fn start(
        db: Arc<Db>,
        table: LockTable,
        run_id: &str,
        identity: &str,
        locked_at: i64,
        ttl: Duration,
    ) -> Lock {
        let lost = Arc::new(AtomicBool::new(false));
        // Every cell is rewritten with a fresh TTL, so the row lives while renewals do.
        let cql = format!(
            "UPDATE {} USING TTL ? SET locked_by = ?, locked_at = ?, run_id = ? WHERE lock_key = ? IF run_id = ?",
            table.table
        );
        let renewer = {
            let (db, run_id, identity, lost) = (
                db.clone(),
                run_id.to_string(),
                identity.to_string(),
                lost.clone(),
            );
            tokio::spawn(async move {
                // Cassandra expires TTLs at whole seconds: a row written with TTL n can
                // vanish after n-1 s. Renew three times within that, so two renewals
                // may fail before the lease is lost.
                let period = (ttl.saturating_sub(Duration::from_secs(1)) / 3)
                    .max(Duration::from_millis(200));
                loop {
                    tokio::time::sleep(period).await;
                    let values = vec![
                        Some(CqlValue::Int(ttl_secs(ttl))),
                        text(&identity),
                        Some(CqlValue::Timestamp(scylla::value::CqlTimestamp(locked_at))),
                        text(&run_id),
                        text(LOCK_KEY),
                        text(&run_id),
                    ];
                    match db.lwt("renewing the deploy lock", &cql, values).await {
                        Ok(r) if r.applied => tracing::debug!("lock lease renewed"),
                        Ok(_) => {
                            lost.store(true, Ordering::SeqCst);
                            tracing::warn!("the deploy lock is no longer ours");
                            return;
                        }
                        // Unknown outcome or a transient error: the next period retries,
                        // and the check before each script reads the truth.
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

    /// Confirms the lock is still ours (serial read); called before every script.
    pub async fn check(&self) -> Result<(), LockError> {
        if self.lost.load(Ordering::SeqCst) {
            return Err(LockError::Lost(
                "a lease renewal found another owner".into(),
            ));
        }
        match self.table.status(&self.db).await? {
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
        let cql = format!(
            "DELETE FROM {} WHERE lock_key = ? IF run_id = ?",
            self.table.table
        );
        let r = retry_uncertain(|| {
            self.db.lwt(
                "releasing the deploy lock",
                &cql,
                vec![text(LOCK_KEY), text(&self.run_id)],
            )
        })
        .await?;
        Ok(r.applied)
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}
