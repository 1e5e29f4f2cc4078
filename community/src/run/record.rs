//! Defines how a run writes history: rows stamped by the run's clock (above every row
//! read under the lock), written only while the lease is certainly ours, within the
//! lease, and retried while the outcome of a write is unknown (rows carry their own
//! key, so writing one again changes nothing).

use std::time::Duration;

use crate::commands::connect::db_error;
use crate::db::DbError;
use crate::exit::ExitStatus;
use crate::history::lock::{Lock, LockError};
use crate::history::state::HistoryRow;
use crate::history::store::{HistoryStore, LockStore};
use crate::timefmt::{self, RunClock};
use crate::ui::{self, UserError};

/// How many times a write with an unknown outcome is tried again.
const RETRIES: u32 = 5;

/// Writes one run's history rows.
pub(crate) struct Recorder<'a, H: HistoryStore> {
    store: &'a H,
    clock: RunClock,
}

impl<'a, H: HistoryStore> Recorder<'a, H> {
    /// A recorder on `store`; its clock is set by [`Recorder::read_history`].
    pub(crate) fn new(store: &'a H) -> Self {
        Recorder {
            store,
            clock: RunClock::above(0),
        }
    }

    /// Reads every history row and sets the clock above the newest, saying so when
    /// that row is dated ahead of this machine's clock.
    pub(crate) async fn read_history(&mut self) -> Result<Vec<HistoryRow>, DbError> {
        let rows = self.store.read_all().await?;
        let newest = rows.iter().map(|r| r.installed_on).max().unwrap_or(0);
        let ahead = newest - timefmt::now_ms();
        if ahead > 60_000 {
            ui::warn(format_args!(
                "the newest history row is dated {} UTC, {}s ahead of this machine's clock; \
                 this run's rows are dated after it to keep the order of events",
                timefmt::format_ms(newest),
                ahead / 1000
            ));
        }
        self.clock = RunClock::above(newest);
        Ok(rows)
    }

    /// Stamps `rows` in order and writes them together, while `lock`'s lease lasts.
    pub(crate) async fn record<S: LockStore>(
        &self,
        lock: &Lock<S>,
        mut rows: Vec<HistoryRow>,
    ) -> Result<(), UserError> {
        for row in &mut rows {
            row.installed_on = self.clock.next();
        }
        self.fenced(lock, &rows, |budget| self.store.insert(&rows, Some(budget)))
            .await
    }

    /// Records that this run starts `row.script` in `row.keyspace_name` (stamped now),
    /// while the lease lasts: until an outcome row of that script is written, the
    /// script reads as interrupted.
    pub(crate) async fn intend<S: LockStore>(
        &self,
        lock: &Lock<S>,
        mut row: HistoryRow,
    ) -> Result<(), UserError> {
        row.installed_on = self.clock.next();
        let rows = [row];
        self.fenced(lock, &rows, |budget| {
            self.store.insert_intent(&rows[0], Some(budget))
        })
        .await
    }

    /// Runs the write `op` (given the time it may take) while the lease lasts, again
    /// while its outcome is unknown (it writes the same keys: a repeat changes nothing).
    async fn fenced<S, F, Fut>(
        &self,
        lock: &Lock<S>,
        rows: &[HistoryRow],
        op: F,
    ) -> Result<(), UserError>
    where
        S: LockStore,
        F: Fn(Duration) -> Fut,
        Fut: std::future::Future<Output = Result<(), DbError>>,
    {
        let what = || {
            rows.iter()
                .map(|r| format!("{} ({})", r.script, r.status.as_deref().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut attempt = 0;
        loop {
            let left = lock.lease_left().map_err(|e| not_recorded(&e, &what()))?;
            match op(super::write_budget(left)).await {
                Ok(()) => return Ok(()),
                Err(DbError::Uncertain { .. }) if attempt < RETRIES => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                }
                Err(e) => {
                    return Err(db_error(&e)
                        .hint(format!(
                            "the history row(s) of {} may not have been written: run \
                             `cassachange status` before deploying again",
                            what()
                        ))
                        .status(ExitStatus::Failure))
                }
            }
        }
    }
}

fn not_recorded(e: &LockError, what: &str) -> UserError {
    UserError::failure(format!("{e}; {what} not recorded")).hint(
        "nothing more was run or recorded: another run may own the lock and the history now; \
         run `cassachange status`, then deploy again",
    )
}

#[cfg(test)]
mod tests;
