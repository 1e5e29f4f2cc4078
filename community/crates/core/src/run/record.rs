//! Defines how a run writes history: rows stamped by the run's clock (above every row
//! read under the lock), written only while the lease is certainly ours, within the
//! lease, and retried while the outcome of a write is unknown (rows carry their own
//! key, so writing one again changes nothing).

use std::time::Duration;

use super::error::{ErrorKind, RunError};
use crate::error::DbError;
use crate::history::lock::{Lock, LockError};
use crate::history::state::HistoryRow;
use crate::history::store::{HistoryStore, LockStore};
use crate::timefmt::{self, RunClock};

/// How many times a write with an unknown outcome is tried again.
const RETRIES: u32 = 5;

/// How long one history write may take: within the lease, at most ten seconds.
pub(crate) fn write_budget(lease_left: Duration) -> Duration {
    lease_left.min(Duration::from_secs(10))
}

/// Writes one run's history rows.
pub(crate) struct Recorder<'a, H: HistoryStore> {
    store: &'a H,
    clock: RunClock,
}

/// A history row dated ahead of this machine's clock, found by [`Recorder::read_history`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ahead {
    /// The newest row's time (ms).
    pub newest: i64,
    /// How far ahead of this machine's clock it is (ms).
    pub by_ms: i64,
}

impl<'a, H: HistoryStore> Recorder<'a, H> {
    /// A recorder on `store`; its clock is set by [`Recorder::read_history`].
    pub(crate) fn new(store: &'a H) -> Self {
        Recorder {
            store,
            clock: RunClock::above(0),
        }
    }

    /// Sets the clock above every row of `rows` (read under the lock, or, for a run
    /// that takes no lock, before it); returns the newest row when it is dated more
    /// than a minute ahead of this machine's clock.
    pub(crate) fn set_clock(&mut self, rows: &[HistoryRow]) -> Option<Ahead> {
        let newest = rows.iter().map(|r| r.installed_on).max().unwrap_or(0);
        self.clock = RunClock::above(newest);
        let by_ms = newest - timefmt::now_ms();
        (by_ms > 60_000).then_some(Ahead { newest, by_ms })
    }

    /// The clock's next time.
    pub(crate) fn stamp(&self) -> i64 {
        self.clock.next()
    }

    /// Stamps `rows` and then `intents` in order and writes them together, while
    /// `lock`'s lease lasts.
    pub(crate) async fn record<S: LockStore>(
        &self,
        lock: &Lock<S>,
        mut rows: Vec<HistoryRow>,
        mut intents: Vec<HistoryRow>,
    ) -> Result<(), RunError> {
        for row in rows.iter_mut().chain(intents.iter_mut()) {
            row.installed_on = self.clock.next();
        }
        let what = || {
            rows.iter()
                .map(|r| format!("{} ({})", r.script, r.status.as_deref().unwrap_or("")))
                .chain(intents.iter().map(|r| format!("the start of {}", r.script)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut attempt = 0;
        loop {
            let left = lock.lease_left().map_err(|e| not_recorded(&e, &what()))?;
            match self
                .store
                .write(&rows, &intents, Some(write_budget(left)))
                .await
            {
                Ok(()) => return Ok(()),
                Err(DbError::Uncertain { .. }) if attempt < RETRIES => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                }
                Err(e) => {
                    return Err(RunError::from(&e)
                        .hint(format!(
                            "the history row(s) of {} may not have been written: run \
                             `cassachange status` before deploying again",
                            what()
                        ))
                        .kind(ErrorKind::Failure))
                }
            }
        }
    }
}

fn not_recorded(e: &LockError, what: &str) -> RunError {
    RunError::failure(format!("{e}; {what} not recorded")).hint(
        "nothing more was run or recorded: another run may own the lock and the history now; \
         run `cassachange status`, then deploy again",
    )
}

#[cfg(test)]
mod tests;
