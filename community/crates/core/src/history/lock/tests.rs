//! Unit tests of the lock protocol against a fake `deploy_lock` that expires rows
//! with the (paused) tokio clock and can time out, lose renewals or change hands.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::clock::TestClock;
use crate::history::store::{Cas, LockStore};

/// What the next call of one kind does instead of answering normally.
#[derive(Debug, Clone)]
enum Fault {
    /// Applies the operation, then times out (the outcome is unknown to the caller).
    AppliedThenTimeout,
    /// Fails with a transient error; nothing applied.
    Error,
    /// A read that misses the latest write (answers "no row").
    StaleRead,
    /// Before applying, another run takes the row.
    TakenBy(LockInfo),
    /// Not applied, and the row it found cannot be read (no run id came back).
    Unreadable,
}

#[derive(Debug, Default)]
struct State {
    row: Option<(LockInfo, Instant)>,
    faults: Vec<(&'static str, VecDeque<Fault>)>,
    calls: Vec<&'static str>,
}

#[derive(Debug, Default)]
struct FakeLock(Mutex<State>);

impl FakeLock {
    fn fault(&self, op: &'static str, f: Fault) {
        let mut s = self.0.lock().unwrap();
        if let Some((_, q)) = s.faults.iter_mut().find(|(o, _)| *o == op) {
            q.push_back(f);
        } else {
            s.faults.push((op, VecDeque::from([f])));
        }
    }

    /// Every call of `op` from now on fails with a transient error.
    fn always(&self, op: &'static str, f: &Fault) {
        for _ in 0..1000 {
            self.fault(op, f.clone());
        }
    }

    fn holder(&self) -> Option<LockInfo> {
        let s = self.0.lock().unwrap();
        s.row
            .as_ref()
            .filter(|(_, exp)| Instant::now() < *exp)
            .map(|(r, _)| r.clone())
    }

    fn put(&self, row: LockInfo, ttl: Duration) {
        self.0.lock().unwrap().row = Some((row, Instant::now() + ttl));
    }

    fn calls(&self, op: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|c| **c == op)
            .count()
    }

    /// Takes the next fault of `op` and records the call; expires the row.
    fn begin(&self, op: &'static str) -> Option<Fault> {
        let mut s = self.0.lock().unwrap();
        s.calls.push(op);
        if s.row
            .as_ref()
            .is_some_and(|(_, exp)| Instant::now() >= *exp)
        {
            s.row = None;
        }
        let f = s
            .faults
            .iter_mut()
            .find(|(o, _)| *o == op)
            .and_then(|(_, q)| q.pop_front());
        if let Some(Fault::TakenBy(other)) = &f {
            s.row = Some((other.clone(), Instant::now() + Duration::from_secs(60)));
        }
        f
    }

    fn answer(f: Option<&Fault>, cas: Cas) -> Result<Cas, DbError> {
        match f {
            Some(Fault::AppliedThenTimeout) => Err(uncertain()),
            _ => Ok(cas),
        }
    }
}

fn uncertain() -> DbError {
    DbError::Uncertain {
        what: "test".into(),
        reason: "write timeout".into(),
    }
}

fn transient() -> DbError {
    DbError::Statement {
        what: "test".into(),
        reason: "connection reset".into(),
    }
}

impl LockStore for FakeLock {
    async fn insert_if_absent(&self, row: &LockInfo, ttl: Duration) -> Result<Cas, DbError> {
        let f = self.begin("insert");
        if matches!(f, Some(Fault::Error)) {
            return Err(transient());
        }
        if matches!(f, Some(Fault::Unreadable)) {
            return Ok(Cas::NotApplied(None));
        }
        let cas = if let Some(h) = self.holder() {
            Cas::NotApplied(Some(h))
        } else {
            self.put(row.clone(), ttl);
            Cas::Applied
        };
        FakeLock::answer(f.as_ref(), cas)
    }

    async fn renew(&self, row: &LockInfo, ttl: Duration) -> Result<Cas, DbError> {
        let f = self.begin("renew");
        if matches!(f, Some(Fault::Error)) {
            return Err(transient());
        }
        let cas = match self.holder() {
            Some(h) if h.run_id == row.run_id => {
                self.put(row.clone(), ttl);
                Cas::Applied
            }
            other => Cas::NotApplied(other),
        };
        FakeLock::answer(f.as_ref(), cas)
    }

    async fn delete_if(&self, run_id: &str) -> Result<Cas, DbError> {
        let f = self.begin("delete");
        if matches!(f, Some(Fault::Error)) {
            return Err(transient());
        }
        let cas = match self.holder() {
            Some(h) if h.run_id == run_id => {
                self.0.lock().unwrap().row = None;
                Cas::Applied
            }
            other => Cas::NotApplied(other),
        };
        FakeLock::answer(f.as_ref(), cas)
    }

    async fn read(&self) -> Result<Option<LockInfo>, DbError> {
        match self.begin("read") {
            Some(Fault::StaleRead) => Ok(None),
            Some(Fault::Error) => Err(transient()),
            Some(Fault::AppliedThenTimeout) => Err(uncertain()),
            _ => Ok(self.holder()),
        }
    }
}

fn other_run() -> LockInfo {
    LockInfo {
        locked_by: "elsewhere:abcdef01".into(),
        locked_at: Some(1),
        run_id: "other-run".into(),
    }
}

const TTL: Duration = Duration::from_secs(30);

async fn take(store: &Arc<FakeLock>) -> Result<Lock<FakeLock>, LockError> {
    take_with(store, Duration::ZERO, Arc::new(TestClock::default())).await
}

async fn take_with(
    store: &Arc<FakeLock>,
    wait: Duration,
    clock: Arc<TestClock>,
) -> Result<Lock<FakeLock>, LockError> {
    static STOP: std::sync::LazyLock<Stop> = std::sync::LazyLock::new(Stop::new);
    let how = Acquire {
        run_id: "my-run",
        identity: "me:12345678",
        ttl: TTL,
        wait,
        stop: &STOP,
        clock,
    };
    acquire(store.clone(), how, |_, _| {}).await
}

fn fake() -> (Arc<FakeLock>, Arc<FakeLock>) {
    let f = Arc::new(FakeLock::default());
    (f.clone(), f)
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_insert_that_applied_is_our_lock_not_another_runs() {
    let (f, store) = fake();
    f.fault("insert", Fault::AppliedThenTimeout);
    let lock = take(&store).await.expect("the row is ours: taken");
    assert_eq!(f.holder().unwrap().run_id, "my-run");
    assert!(lock.lease_left().is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_retried_insert_that_finds_our_own_row_has_the_lock() {
    let (f, store) = fake();
    // The first insert applies but times out; the serial read misses it, so the insert
    // is sent again and answers "not applied" with our own run id.
    f.fault("insert", Fault::AppliedThenTimeout);
    f.fault("read", Fault::StaleRead);
    let lock = take(&store)
        .await
        .expect("our own row is not 'held by another run'");
    assert_eq!(f.calls("insert"), 2);
    lock.release().await.unwrap();
    assert!(f.holder().is_none());
}

#[tokio::test(start_paused = true)]
async fn another_runs_row_is_held() {
    let (f, store) = fake();
    f.put(other_run(), TTL);
    match take(&store).await {
        Err(LockError::Held(h)) => assert_eq!(h, other_run()),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn renewals_keep_the_lease_for_many_ttls() {
    let (f, store) = fake();
    let lock = take(&store).await.unwrap();
    tokio::time::sleep(TTL * 5).await;
    assert!(lock.lease_left().is_ok(), "renewed in the background");
    assert!(lock.fence().await.is_ok());
    assert!(f.calls("renew") >= 15, "several renewals per TTL");
}

#[tokio::test(start_paused = true)]
async fn failing_renewals_end_the_lease_locally_before_the_row_expires() {
    let (f, store) = fake();
    let lock = take(&store).await.unwrap();
    f.always("renew", &Fault::Error);
    // The lease is certainly ours for TTL - 1 s - 10 %: 26 s.
    tokio::time::sleep(Duration::from_secs(25)).await;
    assert!(lock.lease_left().is_ok());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        f.holder().is_some(),
        "the server row has not expired yet: the local deadline comes first"
    );
    match lock.lease_left() {
        Err(LockError::Lost(why)) => assert!(why.contains("lease ran out"), "{why}"),
        other => panic!("{other:?}"),
    }
    // Running out is final, even once renewals work again.
    f.0.lock().unwrap().faults.clear();
    tokio::time::sleep(TTL).await;
    assert!(lock.lease_left().is_err());
}

#[tokio::test(start_paused = true)]
async fn a_renewal_that_finds_another_owner_loses_the_lease_at_once() {
    let (f, store) = fake();
    let lock = take(&store).await.unwrap();
    f.fault("renew", Fault::TakenBy(other_run()));
    tokio::time::sleep(Duration::from_secs(10)).await;
    match lock.lease_left() {
        Err(LockError::Lost(why)) => assert!(why.contains("other-run"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(!lock.release().await.unwrap(), "not ours to release");
    assert_eq!(f.holder().unwrap(), other_run(), "the other run keeps it");
}

#[tokio::test(start_paused = true)]
async fn the_fence_notices_a_forced_release() {
    let (f, store) = fake();
    let lock = take(&store).await.unwrap();
    assert!(lock.fence().await.is_ok());
    f.0.lock().unwrap().row = None;
    assert!(matches!(lock.fence().await, Err(LockError::Lost(_))));
    assert!(lock.lease_left().is_err(), "and the lease is over for good");
}

#[tokio::test(start_paused = true)]
async fn release_after_a_timed_out_delete_that_applied() {
    let (f, store) = fake();
    let lock = take(&store).await.unwrap();
    f.fault("delete", Fault::AppliedThenTimeout);
    assert!(
        lock.release().await.unwrap(),
        "the retry finds no row: released"
    );
    assert_eq!(f.calls("delete"), 2);
}

#[tokio::test(start_paused = true)]
async fn force_release_deletes_only_the_holder_it_read() {
    let (f, store) = fake();
    f.put(
        LockInfo {
            run_id: "crashed".into(),
            ..other_run()
        },
        TTL,
    );
    // Between the read and the delete, a new deploy takes the lock.
    f.fault("delete", Fault::TakenBy(other_run()));
    match force_release(store.as_ref()).await.unwrap() {
        ForceRelease::ChangedHands { was, now } => {
            assert_eq!(was.run_id, "crashed");
            assert_eq!(now.unwrap().run_id, "other-run");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(f.holder().unwrap(), other_run(), "the new holder keeps it");
    // Without interference, the holder read is the one deleted.
    match force_release(store.as_ref()).await.unwrap() {
        ForceRelease::Released(was) => assert_eq!(was, other_run()),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        force_release(store.as_ref()).await.unwrap(),
        ForceRelease::Free
    );
}

#[test]
fn the_local_lease_ends_before_the_server_can_expire_the_row() {
    for secs in [2, 3, 10, 30, 1800] {
        let ttl = Duration::from_secs(secs);
        let end = lease_end(Duration::ZERO, ttl);
        assert!(end + Duration::from_secs(1) < ttl, "ttl {secs}: {end:?}");
        assert!(
            renew_period(ttl) * 3 < end,
            "three renewals fit: ttl {secs}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_release_is_retried_until_it_succeeds() {
    let (f, store) = fake();
    let lock = take(&store).await.unwrap();
    for _ in 0..4 {
        f.fault("delete", Fault::Error);
    }
    let started = Instant::now();
    assert!(lock.release().await.unwrap(), "released on the fifth try");
    assert_eq!(f.calls("delete"), 5);
    assert!(f.holder().is_none());
    // 0.2 + 0.4 + 0.8 + 1.6 s of pauses.
    assert_eq!(started.elapsed(), Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn a_release_that_keeps_failing_gives_up_within_the_lease() {
    let (f, store) = fake();
    let lock = take(&store).await.unwrap();
    for _ in 0..1000 {
        f.fault("delete", Fault::Error);
    }
    let started = Instant::now();
    assert!(lock.release().await.is_err(), "the error is returned");
    let spent = started.elapsed();
    assert!(spent <= TTL && spent <= RELEASE_RETRY_FOR, "{spent:?}");
    assert!(spent >= Duration::from_secs(10), "it did retry: {spent:?}");
    assert!(f.holder().is_some(), "the row stays until its TTL");
}

#[tokio::test(start_paused = true)]
async fn a_suspended_machine_finds_its_lease_over_on_resume() {
    let (f, store) = fake();
    let clock = Arc::new(TestClock::default());
    let lock = take_with(&store, Duration::ZERO, clock.clone())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(lock.lease_left().is_ok());
    // Suspended longer than the TTL: tokio's timers (and the renewer) saw nothing, the
    // server's row expired, and another run took the lock.
    clock.suspend(TTL * 2);
    f.0.lock().unwrap().row = None;
    f.put(other_run(), TTL);
    match lock.lease_left() {
        Err(LockError::Lost(why)) => assert!(why.contains("suspended"), "{why}"),
        other => panic!("a suspend must end the lease: {other:?}"),
    }
    assert!(
        lock.fence().await.is_err(),
        "and no fence succeeds after it"
    );
    assert_eq!(f.holder().unwrap(), other_run());
}

#[tokio::test(start_paused = true)]
async fn a_wall_clock_past_the_lease_ends_it() {
    let (_, store) = fake();
    let clock = Arc::new(TestClock::default());
    let lock = take_with(&store, Duration::ZERO, clock.clone())
        .await
        .unwrap();
    clock.jump_wall(TTL * 2);
    match lock.lease_left() {
        Err(LockError::Lost(why)) => assert!(why.contains("wall clock"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn the_fence_is_a_conditional_write_that_fails_after_a_takeover() {
    let (f, store) = fake();
    let lock = take(&store).await.unwrap();
    let renewals = f.calls("renew");
    lock.fence().await.expect("ours");
    assert_eq!(
        f.calls("renew"),
        renewals + 1,
        "a conditional write, not a read"
    );
    assert_eq!(f.calls("read"), 0);
    f.fault("renew", Fault::TakenBy(other_run()));
    match lock.fence().await {
        Err(LockError::Lost(why)) => assert!(why.contains("other-run"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(lock.lease_left().is_err(), "over for good");
    assert_eq!(f.holder().unwrap(), other_run(), "the other run keeps it");
}

#[tokio::test(start_paused = true)]
async fn a_fence_whose_first_attempt_applied_unseen_holds() {
    let (f, store) = fake();
    let lock = take(&store).await.unwrap();
    f.fault("renew", Fault::AppliedThenTimeout);
    lock.fence().await.expect("the retry finds our own row");
}

#[tokio::test(start_paused = true)]
async fn a_row_that_cannot_be_read_as_a_holder_is_held_and_the_wait_ends() {
    let (f, store) = fake();
    for _ in 0..1000 {
        f.fault("insert", Fault::Unreadable);
    }
    let started = Instant::now();
    match take_with(
        &store,
        Duration::from_secs(2),
        Arc::new(TestClock::default()),
    )
    .await
    {
        Err(LockError::Held(h)) => {
            assert!(h.run_id.is_empty());
            assert!(h.describe().contains("written by hand"), "{}", h.describe());
        }
        other => panic!("{other:?}"),
    }
    let spent = started.elapsed();
    assert!(
        spent >= Duration::from_secs(2) && spent < Duration::from_secs(3),
        "--lock-wait honoured, then given up: {spent:?}"
    );
    assert!(
        f.calls("insert") <= 6,
        "no busy loop: {} inserts",
        f.calls("insert")
    );
}

#[tokio::test(start_paused = true)]
async fn a_stop_ends_the_wait_at_once() {
    let (f, store) = fake();
    f.put(other_run(), TTL);
    let stop = Stop::new();
    let how = Acquire {
        run_id: "my-run",
        identity: "me",
        ttl: TTL,
        wait: Duration::from_secs(600),
        stop: &stop,
        clock: Arc::new(TestClock::default()),
    };
    let mut told = 0;
    let waiting = acquire(store.clone(), how, |h, wait| {
        told += 1;
        assert_eq!(h.run_id, "other-run");
        assert_eq!(wait, Duration::from_secs(600));
    });
    let stopper = async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        stop.request("SIGTERM");
    };
    let (taken, ()) = tokio::join!(waiting, stopper);
    assert!(matches!(taken, Err(LockError::Interrupted)), "{taken:?}");
    assert_eq!(told, 1, "the wait is announced once");
}
