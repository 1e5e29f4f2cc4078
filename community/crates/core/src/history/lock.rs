//! Defines the deploy lock: one row in `deploy_lock`, taken with an LWT
//! `INSERT … IF NOT EXISTS USING TTL`, kept alive by a lease renewed in the background
//! (`UPDATE … USING TTL … IF run_id = ?`), fenced before every script by the same
//! conditional write, and released only by its owner (`DELETE … IF run_id = ?`).
//!
//! The lease is also kept locally: a deadline set from the send time of the last
//! successful renewal, safely before the server can expire the row, measured on a clock
//! that counts suspend and checked against the wall clock too. A run checks it before
//! every statement and every history row, so once the lease may have ended — the
//! process was paused or suspended, renewals failed, another run took over — nothing
//! more is executed or recorded.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::store::{Cas, LockStore};
use crate::clock::LeaseClock;
use crate::error::DbError;
use crate::stop::Stop;
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
            if self.run_id.is_empty() {
                "(none: a row written by hand or by another tool)"
            } else {
                &self.run_id
            }
        )
    }

    /// A lock row that exists but could not be read as a holder (an insert that was not
    /// applied and returned no row): held by someone unknown.
    pub fn unreadable() -> Self {
        LockInfo {
            locked_by: "?".into(),
            locked_at: None,
            run_id: String::new(),
        }
    }
}

/// Why the lock is not ours any more, from the holder a conditional write found.
fn not_ours(holder: Option<&LockInfo>) -> String {
    match holder {
        Some(h) => format!("it is now held by another run ({})", h.describe()),
        None => "it expired or was released by `repair --release-lock`".into(),
    }
}

/// Why a lock operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Another run holds the lock.
    #[error("Deploy lock already held.\n{}", .0.describe())]
    Held(LockInfo),
    /// This run's lock expired or was taken away.
    #[error("the deploy lock was lost: {0}")]
    Lost(String),
    /// The run was interrupted while waiting for the lock.
    #[error("interrupted while waiting for the deploy lock")]
    Interrupted,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The longest a failed release is retried (bounded by the lease too).
pub const RELEASE_RETRY_FOR: Duration = Duration::from_secs(60);

/// Retries `op` while it times out with an unknown outcome (Paxos contention), up to
/// ten times with a growing pause; other results pass through. Returns whether any
/// attempt had an unknown outcome, so callers can tell "not applied" from "applied
/// by an earlier attempt".
async fn retry_uncertain<T, F, Fut>(mut op: F) -> (Result<T, DbError>, bool)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, DbError>>,
{
    let mut tries: u64 = 0;
    loop {
        match op().await {
            Err(e @ DbError::Uncertain { .. }) if tries < 10 => {
                tries += 1;
                tracing::debug!("{e}; trying again ({tries} of 10)");
                tokio::time::sleep(Duration::from_millis(50 * tries)).await;
            }
            other => return (other, tries > 0),
        }
    }
}

/// The current holder, read with serial consistency (retried while Paxos contention
/// leaves the outcome unknown).
pub async fn holder<S: LockStore>(store: &S) -> Result<Option<LockInfo>, DbError> {
    retry_uncertain(|| store.read()).await.0
}

/// What `repair --release-lock` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForceRelease {
    /// Nobody held the lock.
    Free,
    /// The lock held by this run was deleted.
    Released(LockInfo),
    /// Between reading the holder and deleting, the lock changed hands: nothing was
    /// deleted (the new holder keeps it).
    ChangedHands {
        /// The holder that was read.
        was: LockInfo,
        /// The holder now, if any.
        now: Option<LockInfo>,
    },
}

/// Deletes the lock held by whoever holds it now (`repair --release-lock`), but only
/// that holder's: `DELETE … IF run_id = <the holder read>`, so a run that takes the
/// lock in between keeps it.
pub async fn force_release<S: LockStore>(store: &S) -> Result<ForceRelease, DbError> {
    let Some(was) = holder(store).await? else {
        return Ok(ForceRelease::Free);
    };
    let (result, uncertain) = retry_uncertain(|| store.delete_if(&was.run_id)).await;
    match result? {
        Cas::Applied => Ok(ForceRelease::Released(was)),
        // An earlier attempt with an unknown outcome may have deleted it.
        Cas::NotApplied(None) if uncertain => Ok(ForceRelease::Released(was)),
        Cas::NotApplied(now) => Ok(ForceRelease::ChangedHands { was, now }),
    }
}

/// How long a lease is certainly valid after the request that granted it was sent:
/// Cassandra expires TTLs at whole seconds (a row written with TTL n can vanish after
/// n-1 s), and a tenth of the TTL (at least 100 ms) is kept as a margin for clock
/// rates and scheduling.
fn validity(ttl: Duration) -> Duration {
    let margin = (ttl / 10).max(Duration::from_millis(100));
    ttl.saturating_sub(Duration::from_secs(1))
        .saturating_sub(margin)
}

/// When a lease granted by a request sent at `sent` (on the lease clock) ends.
fn lease_end(sent: Duration, ttl: Duration) -> Duration {
    sent + validity(ttl)
}

/// How often the lease is renewed: four times per certain validity, so three renewals
/// in a row may fail before it ends.
fn renew_period(ttl: Duration) -> Duration {
    (validity(ttl) / 4).max(Duration::from_millis(50))
}

/// A send time on both clocks.
#[derive(Debug, Clone, Copy)]
struct Sent {
    at: Duration,
    wall_ms: i64,
}

impl Sent {
    fn now(clock: &dyn LeaseClock) -> Self {
        Sent {
            at: clock.now(),
            wall_ms: clock.wall_ms(),
        }
    }
}

#[derive(Debug)]
struct LeaseState {
    /// Until when the lease is certainly ours, on the lease clock.
    until: Duration,
    /// The same end on the wall clock (ms): a second opinion that notices a suspend
    /// on platforms whose monotonic clock stops while suspended.
    wall_until: i64,
    /// Why it is not ours any more, once known.
    lost: Option<String>,
}

/// The local view of the lease, shared with the renewer.
#[derive(Debug)]
struct Lease {
    state: Mutex<LeaseState>,
    clock: Arc<dyn LeaseClock>,
}

impl Lease {
    fn new(clock: Arc<dyn LeaseClock>, sent: Sent, ttl: Duration) -> Self {
        Lease {
            state: Mutex::new(LeaseState {
                until: lease_end(sent.at, ttl),
                wall_until: sent.wall_ms + millis(validity(ttl)),
                lost: None,
            }),
            clock,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, LeaseState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn sent(&self) -> Sent {
        Sent::now(self.clock.as_ref())
    }

    fn extend(&self, sent: Sent, ttl: Duration) {
        let mut s = self.state();
        if s.lost.is_none() {
            s.until = s.until.max(lease_end(sent.at, ttl));
            s.wall_until = s.wall_until.max(sent.wall_ms + millis(validity(ttl)));
        }
    }

    fn lose(&self, why: String) {
        let mut s = self.state();
        if s.lost.is_none() {
            s.lost = Some(why);
        }
    }

    /// The time left, or why there is none. Running out is final: a lease that ran
    /// out is lost even if a late renewal succeeds.
    fn left(&self) -> Result<Duration, String> {
        let mut s = self.state();
        if let Some(why) = &s.lost {
            return Err(why.clone());
        }
        let now = self.clock.now();
        let wall = self.clock.wall_ms();
        let why = if now >= s.until {
            "its lease ran out (no renewal succeeded in time: the process was paused or \
             suspended, or the cluster did not answer)"
        } else if wall >= s.wall_until {
            "its lease ran out by the wall clock (the machine was suspended, or its clock \
             jumped forward)"
        } else {
            return Ok(s.until.saturating_sub(now));
        };
        s.lost = Some(why.to_string());
        Err(why.to_string())
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A held lock. Dropping it without [`Lock::release`] leaves the row to expire.
pub struct Lock<S: LockStore> {
    store: Arc<S>,
    info: LockInfo,
    ttl: Duration,
    lease: Arc<Lease>,
    renewer: tokio::task::JoinHandle<()>,
}

impl<S: LockStore> std::fmt::Debug for Lock<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lock")
            .field("info", &self.info)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

/// What [`acquire`] needs besides the store.
#[derive(Debug, Clone)]
pub struct Acquire<'a> {
    /// The run taking the lock.
    pub run_id: &'a str,
    /// `hostname:run_id_prefix`.
    pub identity: &'a str,
    /// The row's TTL (`lock_ttl`).
    pub ttl: Duration,
    /// How long to wait while another run holds it (`lock_wait`).
    pub wait: Duration,
    /// Ends the wait at once when requested.
    pub stop: &'a Stop,
    /// The clock the lease is measured on.
    pub clock: Arc<dyn LeaseClock>,
}

/// Takes the lock for `how.run_id`, waiting up to `how.wait` while another run holds it
/// (`waiting` is told the holder once, when the wait starts), and returning at once
/// when a stop is requested.
///
/// Under Paxos contention an insert can time out with an unknown outcome, and a retry
/// then finds a row: ours (same run id) means taken, another run's means held. A row
/// that cannot be read as a holder (no run id: written by hand or another tool) is held.
pub async fn acquire<S: LockStore>(
    store: Arc<S>,
    how: Acquire<'_>,
    mut waiting: impl FnMut(&LockInfo, Duration),
) -> Result<Lock<S>, LockError> {
    let deadline = tokio::time::Instant::now() + how.wait;
    let mut announced = false;
    let mut uncertain: u64 = 0;
    // The send time of the first attempt that may have applied: the lease counts from
    // there, whichever attempt wrote the row.
    let mut first_sent: Option<Sent> = None;
    let mine = LockInfo {
        locked_by: how.identity.to_string(),
        locked_at: Some(how.clock.wall_ms()),
        run_id: how.run_id.to_string(),
    };
    let start = |store, since| Lock::start(store, mine.clone(), how.clock.clone(), since, how.ttl);
    loop {
        if how.stop.requested() {
            return Err(LockError::Interrupted);
        }
        let sent = Sent::now(how.clock.as_ref());
        let since = *first_sent.get_or_insert(sent);
        let holder = match store.insert_if_absent(&mine, how.ttl).await {
            Ok(Cas::Applied) => return Ok(start(store, since)),
            // Our own row: an earlier attempt whose outcome was unknown applied.
            Ok(Cas::NotApplied(Some(h))) if h.run_id == how.run_id => {
                return Ok(start(store, since));
            }
            // Not applied: a row is there, whoever wrote it.
            Ok(Cas::NotApplied(h)) => h.unwrap_or_else(LockInfo::unreadable),
            Err(DbError::Uncertain { .. }) if uncertain < 10 => {
                uncertain += 1;
                tokio::time::sleep(Duration::from_millis(50 * uncertain)).await;
                match holder(store.as_ref()).await? {
                    Some(h) if h.run_id == how.run_id => return Ok(start(store, since)),
                    Some(h) => h,
                    None => continue,
                }
            }
            Err(e) => return Err(e.into()),
        };
        // Not ours: no attempt so far applied.
        first_sent = None;
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(LockError::Held(holder));
        }
        if !announced {
            waiting(&holder, how.wait);
            announced = true;
        }
        let pause = Duration::from_millis(500).min(deadline - now);
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = how.stop.wait() => return Err(LockError::Interrupted),
        }
    }
}

impl<S: LockStore> Lock<S> {
    fn start(
        store: Arc<S>,
        info: LockInfo,
        clock: Arc<dyn LeaseClock>,
        sent: Sent,
        ttl: Duration,
    ) -> Self {
        let lease = Arc::new(Lease::new(clock, sent, ttl));
        let renewer = {
            let (store, info, lease) = (store.clone(), info.clone(), lease.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(renew_period(ttl)).await;
                    if lease.left().is_err() {
                        return;
                    }
                    let sent = lease.sent();
                    match store.renew(&info, ttl).await {
                        Ok(Cas::Applied) => {
                            lease.extend(sent, ttl);
                            tracing::debug!("lock lease renewed");
                        }
                        Ok(Cas::NotApplied(holder)) => {
                            let why = not_ours(holder.as_ref());
                            tracing::warn!("the deploy lock is no longer ours: {why}");
                            lease.lose(why);
                            return;
                        }
                        // Unknown outcome or a transient error: the next period retries;
                        // the local deadline decides when the lease is over.
                        Err(e) => {
                            tracing::warn!("renewing the deploy lock failed (will retry): {e}");
                        }
                    }
                }
            })
        };
        Lock {
            store,
            info,
            ttl,
            lease,
            renewer,
        }
    }

    /// This run's lock row.
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// How long the lease is certainly still ours, or [`LockError::Lost`]. Local and
    /// cheap: checked before every statement and every history row.
    pub fn lease_left(&self) -> Result<Duration, LockError> {
        self.lease.left().map_err(LockError::Lost)
    }

    /// Fences the next step: a conditional write on the lock row (`UPDATE … IF run_id =
    /// <ours>`, the renewal itself) that succeeds only while the lock is ours, and
    /// extends the lease when it does. After another run took over, or the lock was
    /// force-released, it fails and the lease is over for good: a run that was paused
    /// can never start another script.
    pub async fn fence(&self) -> Result<(), LockError> {
        self.lease_left()?;
        let sent = self.lease.sent();
        let (result, uncertain) = retry_uncertain(|| self.store.renew(&self.info, self.ttl)).await;
        match result? {
            Cas::Applied => {
                self.lease.extend(sent, self.ttl);
                self.lease_left().map(drop)
            }
            // An earlier attempt with an unknown outcome may have applied: our own row
            // answers the same as "applied" (the condition holds on a re-send).
            Cas::NotApplied(Some(h)) if uncertain && h.run_id == self.info.run_id => {
                self.lease_left().map(drop)
            }
            Cas::NotApplied(holder) => {
                let why = not_ours(holder.as_ref());
                self.lease.lose(why.clone());
                Err(LockError::Lost(why))
            }
        }
    }

    /// Stops renewing and deletes the lock if it is still ours; returns whether it was.
    ///
    /// A failed delete (a coordinator restarting, a replica down) is retried with a
    /// growing pause — each attempt is a new request, which the driver may send to
    /// another coordinator — for as long as the lease would have lasted, at most
    /// [`RELEASE_RETRY_FOR`]: after that the row expires by itself sooner than an
    /// operator would free it.
    pub async fn release(self) -> Result<bool, DbError> {
        self.renewer.abort();
        let run_id = self.info.run_id.clone();
        let budget = self
            .lease_left()
            .map_or(Duration::ZERO, |left| left.min(RELEASE_RETRY_FOR));
        let deadline = tokio::time::Instant::now() + budget;
        let mut pause = Duration::from_millis(200);
        let mut uncertain = false;
        loop {
            let (result, was_uncertain) = retry_uncertain(|| self.store.delete_if(&run_id)).await;
            uncertain |= was_uncertain;
            match result {
                Ok(cas) => {
                    return Ok(match cas {
                        Cas::Applied => true,
                        // An earlier attempt with an unknown outcome deleted it.
                        Cas::NotApplied(None) => uncertain,
                        Cas::NotApplied(Some(_)) => false,
                    });
                }
                Err(e) if tokio::time::Instant::now() + pause <= deadline => {
                    tracing::debug!(
                        "releasing the deploy lock failed ({e}); retrying in {pause:?}"
                    );
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl<S: LockStore> Drop for Lock<S> {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

#[cfg(test)]
mod tests;
