//! Fakes of the stores for unit tests: a history table with its intent table that
//! answers reads the way the real one does (an open intent reads as an INTERRUPTED
//! row), and a lock table that grants, renews and loses on command. The real ones are
//! tested against a real node in the end-to-end suite.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::TestClock;
use crate::error::DbError;
use crate::history::lock::{acquire, Acquire, Lock, LockInfo};
use crate::history::state::{status, HistoryRow, NO_OUTCOME};
use crate::history::store::{Cas, HistoryStore, LockStore};
use crate::stop::Stop;

/// What one write call does instead of succeeding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteFault {
    /// Applies, then times out (the outcome is unknown to the caller).
    AppliedThenTimeout,
    /// Fails with an unknown outcome, having applied nothing.
    Unavailable,
}

/// A history table keyed like the real one (script, installed_on), with the intent
/// table beside it; writes can be made to fail.
#[derive(Default)]
pub(crate) struct FakeHistory {
    pub(crate) rows: Mutex<BTreeMap<(String, i64), HistoryRow>>,
    /// Intents, by (keyspace, script).
    pub(crate) intents: Mutex<BTreeMap<(String, String), HistoryRow>>,
    /// The number of rows (history and intents) of each write call.
    pub(crate) writes: Mutex<Vec<usize>>,
    /// Per write call, in order: what it does (`None`: succeeds).
    pub(crate) faults: Mutex<Vec<Option<WriteFault>>>,
}

impl FakeHistory {
    /// The history rows, oldest first, as `script STATUS`.
    pub(crate) fn summary(&self) -> Vec<String> {
        let mut rows: Vec<HistoryRow> = self.rows.lock().unwrap().values().cloned().collect();
        rows.sort_by_key(|r| r.installed_on);
        rows.iter()
            .map(|r| format!("{} {}", r.script, r.status.as_deref().unwrap_or("")))
            .collect()
    }

    /// The open intents (no history row of their script at or after them), as
    /// `script detail`.
    pub(crate) fn open_intents(&self) -> Vec<String> {
        let rows = self.rows.lock().unwrap();
        self.intents
            .lock()
            .unwrap()
            .values()
            .filter(|i| {
                !rows
                    .values()
                    .any(|r| r.script == i.script && r.installed_on >= i.installed_on)
            })
            .map(|i| format!("{} {}", i.script, i.description.as_deref().unwrap_or("")))
            .collect()
    }
}

impl HistoryStore for FakeHistory {
    async fn ensure(&self) -> Result<(), DbError> {
        Ok(())
    }

    async fn read_all(&self) -> Result<Vec<HistoryRow>, DbError> {
        let mut out: Vec<HistoryRow> = self.rows.lock().unwrap().values().cloned().collect();
        let open: Vec<HistoryRow> = self
            .intents
            .lock()
            .unwrap()
            .values()
            .filter(|i| {
                !out.iter()
                    .any(|r| r.script == i.script && r.installed_on >= i.installed_on)
            })
            .map(|i| HistoryRow {
                status: Some(status::INTERRUPTED.into()),
                description: Some(
                    i.description
                        .clone()
                        .filter(|d| !d.is_empty())
                        .unwrap_or_else(|| NO_OUTCOME.into()),
                ),
                ..i.clone()
            })
            .collect();
        out.extend(open);
        Ok(out)
    }

    async fn write(
        &self,
        rows: &[HistoryRow],
        intents: &[HistoryRow],
        _timeout: Option<Duration>,
    ) -> Result<(), DbError> {
        self.writes.lock().unwrap().push(rows.len() + intents.len());
        let fault = {
            let mut f = self.faults.lock().unwrap();
            if f.is_empty() {
                None
            } else {
                f.remove(0)
            }
        };
        let unknown = |reason: &str| DbError::Uncertain {
            what: "recording".into(),
            reason: reason.into(),
        };
        if fault == Some(WriteFault::Unavailable) {
            return Err(unknown("unavailable"));
        }
        // All of them or none: a logged batch.
        {
            let mut map = self.rows.lock().unwrap();
            for r in rows {
                map.insert((r.script.to_string(), r.installed_on), r.clone());
            }
        }
        {
            let mut map = self.intents.lock().unwrap();
            for i in intents {
                let key = (
                    i.keyspace_name.as_deref().unwrap_or("").to_string(),
                    i.script.to_string(),
                );
                map.insert(key, i.clone());
            }
        }
        if fault == Some(WriteFault::AppliedThenTimeout) {
            return Err(unknown("write timeout"));
        }
        Ok(())
    }
}

/// A script named `name` with `body`, as discovery would make it.
pub(crate) fn script(name: &str, body: &str) -> crate::scripts::Script {
    let n = crate::scripts::parse_name(name).unwrap();
    crate::scripts::Script {
        filename: name.into(),
        path: name.into(),
        relative_path: name.into(),
        kind: n.kind,
        version: n.version,
        description: n.description,
        content: body.into(),
        checksum: crate::scripts::checksum(body),
    }
}

/// A lock store that grants and renews, until it is told the lock was lost (taken by
/// another run, or force-released).
#[derive(Default)]
pub(crate) struct SimpleLock {
    pub(crate) lost: Mutex<bool>,
    pub(crate) renewals: Mutex<usize>,
    pub(crate) deleted: Mutex<bool>,
}

impl LockStore for SimpleLock {
    async fn insert_if_absent(&self, _row: &LockInfo, _ttl: Duration) -> Result<Cas, DbError> {
        Ok(Cas::Applied)
    }

    async fn renew(&self, _row: &LockInfo, _ttl: Duration) -> Result<Cas, DbError> {
        *self.renewals.lock().unwrap() += 1;
        Ok(if *self.lost.lock().unwrap() {
            Cas::NotApplied(Some(LockInfo {
                locked_by: "elsewhere:abcdef01".into(),
                locked_at: Some(1),
                run_id: "other-run".into(),
            }))
        } else {
            Cas::Applied
        })
    }

    async fn delete_if(&self, _run_id: &str) -> Result<Cas, DbError> {
        if *self.lost.lock().unwrap() {
            return Ok(Cas::NotApplied(None));
        }
        *self.deleted.lock().unwrap() = true;
        Ok(Cas::Applied)
    }

    async fn read(&self) -> Result<Option<LockInfo>, DbError> {
        Ok(None)
    }
}

/// Takes a [`SimpleLock`] with a 10 s TTL on the tokio clock.
pub(crate) async fn simple_lock() -> (Arc<SimpleLock>, Lock<SimpleLock>) {
    static STOP: std::sync::LazyLock<Stop> = std::sync::LazyLock::new(Stop::new);
    let s = Arc::new(SimpleLock::default());
    let how = Acquire {
        run_id: "run",
        identity: "me:run",
        ttl: Duration::from_secs(10),
        wait: Duration::ZERO,
        stop: &STOP,
        clock: Arc::new(TestClock::default()),
    };
    let l = acquire(s.clone(), how, |_, _| {}).await.unwrap();
    (s, l)
}
