//! Unit tests of how a run writes history, with a fake history table and a fake lock.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::history::lock::{acquire, LockInfo};
use crate::history::store::Cas;

/// A history table keyed like the real one (script, installed_on), whose inserts can
/// be made to time out after applying, or to fail.
#[derive(Default)]
struct FakeHistory {
    rows: Mutex<BTreeMap<(String, i64), HistoryRow>>,
    inserts: Mutex<Vec<usize>>,
    /// Per insert call: `Some(true)` applies then times out, `Some(false)` fails
    /// without applying.
    faults: Mutex<Vec<Option<bool>>>,
    /// Intents, by (keyspace, script).
    intents: Mutex<BTreeMap<(String, String), HistoryRow>>,
}

impl HistoryStore for FakeHistory {
    async fn read_all(&self) -> Result<Vec<HistoryRow>, DbError> {
        Ok(self.rows.lock().unwrap().values().cloned().collect())
    }

    async fn insert(&self, rows: &[HistoryRow], _timeout: Option<Duration>) -> Result<(), DbError> {
        self.inserts.lock().unwrap().push(rows.len());
        let fault = {
            let mut f = self.faults.lock().unwrap();
            if f.is_empty() {
                None
            } else {
                f.remove(0)
            }
        };
        if fault == Some(false) {
            return Err(DbError::Uncertain {
                what: "recording".into(),
                reason: "unavailable".into(),
            });
        }
        // All of them or none: a logged batch.
        let mut map = self.rows.lock().unwrap();
        for r in rows {
            map.insert((r.script.to_string(), r.installed_on), r.clone());
        }
        if fault == Some(true) {
            return Err(DbError::Uncertain {
                what: "recording".into(),
                reason: "write timeout".into(),
            });
        }
        Ok(())
    }

    async fn insert_intent(
        &self,
        row: &HistoryRow,
        _timeout: Option<Duration>,
    ) -> Result<(), DbError> {
        let key = (
            row.keyspace_name.as_deref().unwrap_or("").to_string(),
            row.script.to_string(),
        );
        self.intents.lock().unwrap().insert(key, row.clone());
        Ok(())
    }
}

/// A lock store that always grants and renews, until `lost` is set.
#[derive(Default)]
struct SimpleLock {
    lost: Mutex<bool>,
}

impl LockStore for SimpleLock {
    async fn insert_if_absent(&self, _row: &LockInfo, _ttl: Duration) -> Result<Cas, DbError> {
        Ok(Cas::Applied)
    }
    async fn renew(&self, _row: &LockInfo, _ttl: Duration) -> Result<Cas, DbError> {
        Ok(if *self.lost.lock().unwrap() {
            Cas::NotApplied(None)
        } else {
            Cas::Applied
        })
    }
    async fn delete_if(&self, _run_id: &str) -> Result<Cas, DbError> {
        Ok(Cas::Applied)
    }
    async fn read(&self) -> Result<Option<LockInfo>, DbError> {
        Ok(None)
    }
}

fn row(script: &str, at: i64, status: &str) -> HistoryRow {
    HistoryRow {
        installed_on: at,
        script: script.into(),
        status: Some(status.into()),
        keyspace_name: Some("ks".into()),
        ..HistoryRow::default()
    }
}

async fn lock() -> (Arc<SimpleLock>, Lock<SimpleLock>) {
    let s = Arc::new(SimpleLock::default());
    let l = acquire(
        s.clone(),
        "run",
        "me:run",
        Duration::from_secs(10),
        Duration::ZERO,
    )
    .await
    .unwrap();
    (s, l)
}

#[tokio::test(start_paused = true)]
async fn rows_are_stamped_above_the_newest_row_read_even_from_a_fast_clock() {
    let h = FakeHistory::default();
    let future = timefmt::now_ms() + 600_000;
    h.rows.lock().unwrap().insert(
        ("V1__a.cql".into(), future),
        row("V1__a.cql", future, "FAILED"),
    );
    let mut rec = Recorder::new(&h);
    let read = rec.read_history().await.unwrap();
    assert_eq!(read.len(), 1);
    let (_, lock) = lock().await;
    rec.record(&lock, vec![row("V1__a.cql", 0, "SUCCESS")])
        .await
        .unwrap();
    let rows = h.read_all().await.unwrap();
    let success = rows
        .iter()
        .find(|r| r.status.as_deref() == Some("SUCCESS"))
        .unwrap();
    assert!(
        success.installed_on > future,
        "the retry outranks the failure written by a machine 10 minutes ahead"
    );
    let state = crate::history::state::KeyspaceHistory::build(&rows, "ks");
    assert_eq!(
        state.files["V1__a.cql"].state,
        crate::history::state::State::Applied
    );
}

#[tokio::test(start_paused = true)]
async fn an_undo_row_and_its_sentinel_are_one_write() {
    let h = FakeHistory::default();
    let mut rec = Recorder::new(&h);
    rec.read_history().await.unwrap();
    let (_, lock) = lock().await;
    // The pair's write fails as a whole: neither row exists, so the version is not
    // left "applied though undone".
    h.faults.lock().unwrap().extend([Some(false); 6]);
    let pair = vec![
        row("U2__b.cql", 0, "SUCCESS"),
        row("ROLLBACK_V2", 0, "ROLLED_BACK"),
    ];
    assert!(rec.record(&lock, pair.clone()).await.is_err());
    assert!(h.read_all().await.unwrap().is_empty());
    assert!(
        h.inserts.lock().unwrap().iter().all(|n| *n == 2),
        "never one row of the pair alone"
    );
    h.faults.lock().unwrap().clear();
    rec.record(&lock, pair).await.unwrap();
    let rows = h.read_all().await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows[0].installed_on != rows[1].installed_on);
}

#[tokio::test(start_paused = true)]
async fn a_write_with_an_unknown_outcome_is_retried_and_lands_once() {
    let h = FakeHistory::default();
    let mut rec = Recorder::new(&h);
    rec.read_history().await.unwrap();
    let (_, lock) = lock().await;
    h.faults.lock().unwrap().extend([Some(true), Some(false)]);
    rec.record(&lock, vec![row("V1__a.cql", 0, "SUCCESS")])
        .await
        .unwrap();
    assert_eq!(h.inserts.lock().unwrap().len(), 3);
    assert_eq!(
        h.read_all().await.unwrap().len(),
        1,
        "the same key: written once"
    );
}

#[tokio::test(start_paused = true)]
async fn nothing_is_recorded_once_the_lease_is_lost() {
    let h = FakeHistory::default();
    let mut rec = Recorder::new(&h);
    rec.read_history().await.unwrap();
    let (store, lock) = lock().await;
    *store.lost.lock().unwrap() = true;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let err = rec
        .record(&lock, vec![row("V2__b.cql", 0, "FAILED")])
        .await
        .unwrap_err();
    assert!(err.message.contains("lost"), "{}", err.message);
    assert!(
        err.message.contains("V2__b.cql (FAILED) not recorded"),
        "{}",
        err.message
    );
    assert!(h.read_all().await.unwrap().is_empty());
    assert!(h.inserts.lock().unwrap().is_empty(), "not even attempted");
}

#[tokio::test(start_paused = true)]
async fn an_intent_is_stamped_by_the_run_clock_and_never_written_without_the_lease() {
    let h = FakeHistory::default();
    h.rows.lock().unwrap().insert(
        ("V1__a.cql".into(), 5_000),
        row("V1__a.cql", 5_000, "SUCCESS"),
    );
    let mut rec = Recorder::new(&h);
    rec.read_history().await.unwrap();
    let (store, lock) = lock().await;
    let mut intent = row("V2__b.cql", 0, "");
    intent.keyspace_name = Some("ks".into());
    rec.intend(&lock, intent.clone()).await.unwrap();
    let stamped =
        h.intents.lock().unwrap()[&("ks".to_string(), "V2__b.cql".to_string())].installed_on;
    assert!(stamped > 5_000, "above every row read: {stamped}");
    *store.lost.lock().unwrap() = true;
    tokio::time::sleep(Duration::from_secs(10)).await;
    h.intents.lock().unwrap().clear();
    let err = rec.intend(&lock, intent).await.unwrap_err();
    assert!(err.message.contains("lost"), "{}", err.message);
    assert!(h.intents.lock().unwrap().is_empty(), "not written");
}
