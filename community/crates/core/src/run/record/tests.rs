//! Unit tests of how a run writes history, with a fake history table and a fake lock.

use std::time::Duration;

use super::*;
use crate::testing::{simple_lock as lock, FakeHistory, WriteFault};

fn row(script: &str, at: i64, status: &str) -> HistoryRow {
    HistoryRow {
        installed_on: at,
        script: script.into(),
        status: Some(status.into()),
        keyspace_name: Some("ks".into()),
        ..HistoryRow::default()
    }
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
    let read = h.read_all().await.unwrap();
    assert_eq!(read.len(), 1);
    let ahead = rec.set_clock(&read).expect("said: the newest row is ahead");
    assert!(ahead.by_ms > 590_000, "{ahead:?}");
    let (_, lock) = lock().await;
    rec.record(&lock, vec![row("V1__a.cql", 0, "SUCCESS")], Vec::new())
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
    rec.set_clock(&h.read_all().await.unwrap());
    let (_, lock) = lock().await;
    // The pair's write fails as a whole: neither row exists, so the version is not
    // left "applied though undone".
    h.faults
        .lock()
        .unwrap()
        .extend([Some(WriteFault::Unavailable); 6]);
    let pair = vec![
        row("U2__b.cql", 0, "SUCCESS"),
        row("ROLLBACK_V2", 0, "ROLLED_BACK"),
    ];
    assert!(rec.record(&lock, pair.clone(), Vec::new()).await.is_err());
    assert!(h.read_all().await.unwrap().is_empty());
    assert!(
        h.writes.lock().unwrap().iter().all(|n| *n == 2),
        "never one row of the pair alone"
    );
    h.faults.lock().unwrap().clear();
    rec.record(&lock, pair, Vec::new()).await.unwrap();
    let rows = h.read_all().await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows[0].installed_on != rows[1].installed_on);
}

#[tokio::test(start_paused = true)]
async fn a_write_with_an_unknown_outcome_is_retried_and_lands_once() {
    let h = FakeHistory::default();
    let mut rec = Recorder::new(&h);
    rec.set_clock(&h.read_all().await.unwrap());
    let (_, lock) = lock().await;
    h.faults.lock().unwrap().extend([
        Some(WriteFault::AppliedThenTimeout),
        Some(WriteFault::Unavailable),
    ]);
    rec.record(&lock, vec![row("V1__a.cql", 0, "SUCCESS")], Vec::new())
        .await
        .unwrap();
    assert_eq!(h.writes.lock().unwrap().len(), 3);
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
    rec.set_clock(&h.read_all().await.unwrap());
    let (store, lock) = lock().await;
    *store.lost.lock().unwrap() = true;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let err = rec
        .record(&lock, vec![row("V2__b.cql", 0, "FAILED")], Vec::new())
        .await
        .unwrap_err();
    assert!(err.message.contains("lost"), "{}", err.message);
    assert!(
        err.message.contains("V2__b.cql (FAILED) not recorded"),
        "{}",
        err.message
    );
    assert!(h.read_all().await.unwrap().is_empty());
    assert!(h.writes.lock().unwrap().is_empty(), "not even attempted");
}

#[tokio::test(start_paused = true)]
async fn an_intent_is_stamped_by_the_run_clock_and_never_written_without_the_lease() {
    let h = FakeHistory::default();
    h.rows.lock().unwrap().insert(
        ("V1__a.cql".into(), 5_000),
        row("V1__a.cql", 5_000, "SUCCESS"),
    );
    let mut rec = Recorder::new(&h);
    rec.set_clock(&h.read_all().await.unwrap());
    let (store, lock) = lock().await;
    let mut intent = row("V2__b.cql", 0, "");
    intent.keyspace_name = Some("ks".into());
    rec.record(&lock, Vec::new(), vec![intent.clone()])
        .await
        .unwrap();
    let stamped =
        h.intents.lock().unwrap()[&("ks".to_string(), "V2__b.cql".to_string())].installed_on;
    assert!(stamped > 5_000, "above every row read: {stamped}");
    *store.lost.lock().unwrap() = true;
    tokio::time::sleep(Duration::from_secs(10)).await;
    h.intents.lock().unwrap().clear();
    let err = rec
        .record(&lock, Vec::new(), vec![intent])
        .await
        .unwrap_err();
    assert!(err.message.contains("lost"), "{}", err.message);
    assert!(h.intents.lock().unwrap().is_empty(), "not written");
}
