//! Defines the run state machine that deploy, rollback and repair share: take the lock,
//! read history under it, run one step at a time, and `finish` — the one place that
//! ends a run, releases the lock and says how it ended, so every exit path is written
//! once. It is generic over the session, the history store, the lock store and the
//! observers, so every stop path is unit-tested with fakes (see `tests.rs`).
//!
//! A run ends only on purpose: between statements, on a requested stop, a lost lease,
//! a failed write or a refused plan, with what happened recorded and the lock released.
//!
//! A script in which a statement that is not safe to repeat has run (or may have run)
//! is never run again from its start unasked: before such a script runs, the run
//! records that it starts it (an intent); when the run stops inside it or a statement
//! fails after such a statement, the FAILED row (the original's meaning) is written
//! together with the intent again, so the script reads as interrupted until
//! `repair --script` marks it. A run that dies leaves the intent open the same way.

mod drive;
mod error;
mod events;
pub mod execute;
mod record;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use drive::{deploy, mark_repaired, rollback};
pub use error::{ErrorKind, RunError};
pub use events::{Counts, Position, Recording, Release, RunEvent, RunObserver};
pub use record::Ahead;

use self::execute::{first_unsafe_run, run_script, Cut, ScriptFailure};
use self::record::Recorder;
use crate::clock::LeaseClock;
use crate::error::DbError;
use crate::history::lock::{self, Acquire, Lock, LockError};
use crate::history::state::{status, HistoryRow};
use crate::history::store::{HistoryStore, LockStore};
use crate::scripts::{Script, ScriptKind};
use crate::stop::Stop;
use crate::version::Version;

/// The statements a run sends to run scripts.
pub trait Session: Send + Sync {
    /// Makes `keyspace` the session's keyspace for unqualified names.
    fn use_keyspace(&self, keyspace: &str) -> impl Future<Output = Result<(), DbError>> + Send;

    /// Runs one statement of a script (`what` names it in errors); an `idempotent`
    /// statement may be sent again to another node when its coordinator fails.
    fn run_statement(
        &self,
        what: &str,
        text: &str,
        idempotent: bool,
        timeout: Option<Duration>,
    ) -> impl Future<Output = Result<(), DbError>> + Send;
}

/// The fields of a run that every row it writes shares.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// Run id (a UUID v4, like the original's).
    pub run_id: String,
    /// `installed_by`: the username when one is set, else the host name.
    pub operator: String,
    /// Release tag, or empty.
    pub tag: String,
}

/// What kind of run this is: it names the audit events and the messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    /// `deploy`.
    Deploy,
    /// `rollback`.
    Rollback,
    /// `repair` (marking scripts for retry).
    Repair,
    /// `drift --accept` (recording the live schema as the expected one).
    Accept,
}

impl RunKind {
    /// The command's name.
    pub fn command(self) -> &'static str {
        match self {
            RunKind::Deploy => "deploy",
            RunKind::Rollback => "rollback",
            RunKind::Repair => "repair",
            RunKind::Accept => "drift",
        }
    }
}

/// One step a run executes.
#[derive(Debug, Clone, Copy)]
pub enum Action<'s> {
    /// Run a forward script (V, R or A).
    Apply(&'s Script),
    /// Run the undo script of `version`; on success its history row and the original's
    /// `ROLLBACK_V<version>` sentinel are written together.
    Undo {
        /// The U script.
        script: &'s Script,
        /// The version it undoes.
        version: &'s Version,
    },
}

impl<'s> Action<'s> {
    /// The script it runs.
    pub fn script(self) -> &'s Script {
        match self {
            Action::Apply(s) | Action::Undo { script: s, .. } => s,
        }
    }
}

/// How a run behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Per-statement timeout (`None`: the driver's).
    pub timeout: Option<Duration>,
    /// The lock row's TTL.
    pub lock_ttl: Duration,
    /// How long to wait for a held lock.
    pub lock_wait: Duration,
    /// `hostname:run_id_prefix`, the lock's `locked_by`.
    pub identity: String,
}

/// What a run works with: the session, the stores, the stop request and the clock.
pub struct Parts<'a, S, H, L> {
    /// Runs the scripts' statements.
    pub session: &'a S,
    /// `change_history` and the intent table.
    pub history: &'a H,
    /// `deploy_lock`.
    pub locks: Arc<L>,
    /// Asked before every statement.
    pub stop: &'a Stop,
    /// The lease's clock.
    pub clock: Arc<dyn LeaseClock>,
}

/// A run: from [`Run::new`] through [`Run::begin`] (or [`Run::begin_unlocked`]) and
/// its steps to [`Run::finish`].
pub struct Run<'a, S: Session, H: HistoryStore, L: LockStore, O: RunObserver> {
    kind: RunKind,
    parts: Parts<'a, S, H, L>,
    options: Options,
    info: RunInfo,
    observer: O,
    recorder: Recorder<'a, H>,
    lock: Option<Lock<L>>,
    history: Vec<HistoryRow>,
    errors: usize,
    counts: Counts,
    /// Ownership was just confirmed (the lock taken, or a fence together with the last
    /// history write): the next step starts without another.
    fenced: bool,
    /// Scripts this run will execute (see [`Run::expect`]).
    total: usize,
    /// The session's keyspace as this run last set it (`None`: unknown, e.g. after a
    /// script with a `USE`).
    session_keyspace: Option<String>,
}

impl<'a, S: Session, H: HistoryStore, L: LockStore, O: RunObserver> Run<'a, S, H, L, O> {
    /// A run that has not started: [`Run::begin`] takes the lock, or [`Run::finish`]
    /// ends it at once (a deploy refused before the lock is still a failed deploy).
    pub fn new(
        kind: RunKind,
        parts: Parts<'a, S, H, L>,
        info: RunInfo,
        options: Options,
        observer: O,
    ) -> Self {
        let recorder = Recorder::new(parts.history);
        Run {
            kind,
            parts,
            options,
            info,
            observer,
            recorder,
            lock: None,
            history: Vec::new(),
            errors: 0,
            counts: Counts::default(),
            fenced: false,
            total: 0,
            session_keyspace: None,
        }
    }

    fn emit(&mut self, event: &RunEvent<'_>) -> Result<(), RunError> {
        self.observer.event(event, self.counts)
    }

    /// Creates the history tables if needed, takes the lock (waiting up to
    /// `lock_wait`), says the run started, and reads history under the lock.
    pub async fn begin(&mut self) -> Result<(), RunError> {
        let phase = std::time::Instant::now();
        self.parts.history.ensure().await.map_err(RunError::from)?;
        tracing::debug!("history tables ready in {:?}", phase.elapsed());
        let phase = std::time::Instant::now();
        let observer = &mut self.observer;
        let counts = self.counts;
        let how = Acquire {
            run_id: &self.info.run_id,
            identity: &self.options.identity,
            ttl: self.options.lock_ttl,
            wait: self.options.lock_wait,
            stop: self.parts.stop,
            clock: self.parts.clock.clone(),
        };
        let mut waiting_error = None;
        let taken = lock::acquire(self.parts.locks.clone(), how, |holder, wait| {
            if let Err(e) = observer.event(&RunEvent::LockWaiting { holder, wait }, counts) {
                waiting_error = Some(e);
            }
        })
        .await;
        if let Some(e) = waiting_error {
            return Err(e);
        }
        let lock = taken.map_err(|e| lock_refused(&e))?;
        tracing::debug!("lock taken in {:?}", phase.elapsed());
        let identity = lock.info().locked_by.clone();
        self.lock = Some(lock);
        // The lock was taken a moment ago by a lightweight transaction: that is the
        // first script's ownership check.
        self.fenced = true;
        self.emit(&RunEvent::LockAcquired {
            identity: &identity,
        })?;
        self.emit(&RunEvent::Started)?;
        let phase = std::time::Instant::now();
        let rows = self
            .parts
            .history
            .read_all()
            .await
            .map_err(RunError::from)?;
        tracing::debug!("history read under the lock in {:?}", phase.elapsed());
        self.set_history(rows)
    }

    /// Starts a run that takes no lock because it will write nothing to history (a
    /// deploy with nothing to run), from `rows` read just before.
    pub fn begin_unlocked(&mut self, rows: Vec<HistoryRow>) -> Result<(), RunError> {
        self.emit(&RunEvent::Started)?;
        self.set_history(rows)
    }

    fn set_history(&mut self, rows: Vec<HistoryRow>) -> Result<(), RunError> {
        if let Some(ahead) = self.recorder.set_clock(&rows) {
            self.emit(&RunEvent::ClockAhead {
                newest: ahead.newest,
                by_ms: ahead.by_ms,
            })?;
        }
        self.history = rows;
        Ok(())
    }

    /// The history read under the lock (or before it, for a run without one).
    pub fn history(&self) -> &[HistoryRow] {
        &self.history
    }

    /// The run's id, operator and tag.
    pub fn info(&self) -> &RunInfo {
        &self.info
    }

    /// The observer.
    pub fn observer(&mut self) -> &mut O {
        &mut self.observer
    }

    /// Number of failed scripts so far.
    pub fn errors(&self) -> usize {
        self.errors
    }

    /// Says how many scripts the run will execute, for the `[12/100]` on each line.
    pub fn expect(&mut self, total: usize) {
        self.total = total;
    }

    fn position(&self) -> Position {
        Position {
            n: self.counts.run + self.counts.failed + 1,
            total: self.total,
        }
    }

    /// Counts a skipped script and tells the observers.
    pub fn skip(
        &mut self,
        keyspace: &str,
        script: &Script,
        reason: &crate::plan::Reason,
    ) -> Result<(), RunError> {
        self.counts.skipped += 1;
        self.emit(&RunEvent::Skipped {
            keyspace,
            script,
            reason,
        })
    }

    /// Stops `keyspace` at a script an earlier run left unfinished (`why` says which
    /// run): counted as a failure (exit 1), written nowhere (the open intent stays until
    /// `repair` marks the script or a run records it).
    pub fn blocked(&mut self, keyspace: &str, script: &Script, why: &str) -> Result<(), RunError> {
        self.errors += 1;
        self.counts.failed += 1;
        self.emit(&RunEvent::Blocked {
            keyspace,
            script,
            why,
        })
    }

    fn lock(&self) -> Result<&Lock<L>, RunError> {
        self.lock.as_ref().ok_or_else(|| {
            RunError::failure(format!(
                "internal error: a {} without the deploy lock tried to write",
                self.kind.command()
            ))
        })
    }

    /// Records `rows` (stamped by the run's clock) while the lease is certainly ours.
    pub async fn record(&self, rows: Vec<HistoryRow>) -> Result<(), RunError> {
        self.recorder.record(self.lock()?, rows, Vec::new()).await
    }

    /// A time from the run's clock (above every history row it read and every stamp
    /// before), for a record written beside history.
    pub fn stamp(&self) -> i64 {
        self.recorder.stamp()
    }

    /// Runs `write` — a write beside history, such as the schema record — only once a
    /// fence confirms the lock is still ours, with a timeout within the lease. `what`
    /// names it for the error.
    pub async fn fenced<F, Fut>(&self, what: &str, write: F) -> Result<(), RunError>
    where
        F: FnOnce(Duration) -> Fut,
        Fut: Future<Output = Result<(), DbError>>,
    {
        let lock = self.lock()?;
        lock.fence()
            .await
            .map_err(|e| lock_lost(&e, &format!("{what} not written")))?;
        let left = lock
            .lease_left()
            .map_err(|e| lock_lost(&e, &format!("{what} not written")))?;
        write(record::write_budget(left))
            .await
            .map_err(|e| RunError::from(&e).kind(ErrorKind::Failure))
    }

    /// The history row for a new event of this run (stamped when recorded).
    pub fn row(&self, script: String, keyspace: &str, st: &str) -> HistoryRow {
        HistoryRow {
            installed_on: 0,
            script: script.into(),
            status: Some(st.into()),
            installed_by: Some(self.info.operator.as_str().into()),
            keyspace_name: Some(keyspace.into()),
            tag: Some(self.info.tag.as_str().into()),
            run_id: Some(self.info.run_id.as_str().into()),
            ..HistoryRow::default()
        }
    }

    /// Runs one step in `keyspace`: fences the lock, sets the keyspace (a `USE` in an
    /// earlier script never leaks into this one), records the start of a script that
    /// is not safe to repeat, runs the statements with the lease and the stop request
    /// checked between them, and records the outcome.
    ///
    /// `Ok(true)`: it ran. `Ok(false)`: it failed (recorded FAILED; the caller stops
    /// this keyspace). `Err`: the run stops here.
    pub async fn step(
        &mut self,
        keyspace: &str,
        action: Action<'_>,
        note: &str,
    ) -> Result<bool, RunError> {
        let script = action.script();
        if let Some(reason) = self.parts.stop.reason() {
            return Err(stopped(
                reason,
                &format!("stopped before {} in {keyspace}", script.filename),
                None,
            ));
        }
        if !std::mem::take(&mut self.fenced) {
            self.lock()?.fence().await.map_err(|e| {
                lock_lost(
                    &e,
                    &format!("stopped before {} in {keyspace}", script.filename),
                )
            })?;
        }
        // Every event so far is written before the script runs: no step runs after a
        // failed audit write.
        self.observer.flush()?;
        if self.session_keyspace.as_deref() != Some(keyspace) {
            self.parts
                .session
                .use_keyspace(keyspace)
                .await
                .map_err(|e| {
                    RunError::from(&e)
                        .hint(format!("stopped before {}", script.filename))
                        .kind(ErrorKind::Failure)
                })?;
            self.session_keyspace = Some(keyspace.to_string());
        }
        let (statements, lex_error) = cassachange_cql::split(&script.content);
        // A `USE` in the script leaves the session elsewhere: set it again next time.
        if statements
            .iter()
            .any(|s| s.tokens.first().is_some_and(|t| t.is_kw("USE")))
        {
            self.session_keyspace = None;
        }
        // A script with a statement that is not safe to repeat, and every undo script:
        // say first that it starts, so that if this run dies before its outcome is
        // recorded, no later run repeats it unasked (it reads as interrupted until
        // `repair` marks it).
        let needs_intent = script.kind == ScriptKind::Undo
            || lex_error.is_some()
            || statements.iter().any(|s| !s.is_safe_to_repeat());
        if needs_intent {
            let intent = self.intent(script, keyspace, crate::history::state::NO_OUTCOME);
            self.recorder
                .record(self.lock()?, Vec::new(), vec![intent])
                .await?;
            tracing::debug!("start of {} recorded", script.filename);
        }
        let lock = self.lock()?;
        let stop = self.parts.stop;
        let guard = || {
            if let Some(reason) = stop.reason() {
                Some(Cut::Stopped(reason.to_string()))
            } else {
                lock.lease_left().err().map(|e| {
                    Cut::LeaseLost(match e {
                        LockError::Lost(why) => why,
                        other => other.to_string(),
                    })
                })
            }
        };
        let (elapsed, result) = run_script(
            self.parts.session,
            script,
            &statements,
            lex_error.as_ref(),
            self.options.timeout,
            guard,
        )
        .await;
        let failure = match result {
            Ok(()) => {
                self.succeeded(keyspace, action, note, elapsed).await?;
                return Ok(true);
            }
            Err(f) => f,
        };
        // A statement not safe to repeat that ran (or may have): the script waits for
        // `repair --script` whatever ended it.
        let (ran, maybe) = failure.progress();
        let exposed = first_unsafe_run(&statements, ran, maybe);
        match failure {
            ScriptFailure::Failed(f) => {
                let mut message = f.describe(script);
                let mut hints = Vec::new();
                if let Some(h) = f.error.hint() {
                    hints.push(h);
                }
                if let Some((i, line)) = exposed {
                    let _ = std::fmt::Write::write_fmt(
                        &mut message,
                        format_args!("; statement {i} (line {line}) is not safe to repeat"),
                    );
                    hints.push(blocked_hint(script, "the next deploy"));
                }
                let position = self.position();
                self.emit(&RunEvent::ScriptFailed {
                    keyspace,
                    script,
                    elapsed,
                    position,
                    message: &message,
                    hints: &hints,
                })?;
                // A failure can be another run's doing (it took the lock and applied
                // the same statement): record it only while the lock is ours.
                self.lock()?.fence().await.map_err(|e| {
                    lock_lost(
                        &e,
                        &format!(
                            "{} failed in {keyspace} and was not recorded",
                            script.filename
                        ),
                    )
                })?;
                let stopped_how = exposed.map(|(i, line)| {
                    format!(
                        "statement {} of {} failed ({}) after statement {i} (line {line}), \
                         which is not safe to repeat, ran",
                        f.statement,
                        f.total,
                        first_line(&f.error.reason())
                    )
                });
                let detail = f.error.to_string();
                self.record_failure(keyspace, script, elapsed, &detail, stopped_how, false)
                    .await?;
                Ok(false)
            }
            ScriptFailure::Cut { cut, done, total } => {
                let place = format!(
                    "{} in {keyspace} after {done} of its {total} statement(s)",
                    script.filename
                );
                match cut {
                    Cut::Stopped(reason) => {
                        // The lease is still ours: record the cut script as FAILED (and,
                        // past a statement not safe to repeat, as interrupted) so
                        // `repair --list` shows it and the next deploy acts on it.
                        let stopped_how = exposed.map(|(i, line)| {
                            format!(
                                "{reason} after statement {done} of {total}; statement {i} \
                                 (line {line}) is not safe to repeat"
                            )
                        });
                        self.record_failure(
                            keyspace,
                            script,
                            elapsed,
                            "interrupted",
                            stopped_how,
                            true,
                        )
                        .await?;
                        let partial = if let Some((i, line)) = exposed {
                            Some(format!(
                                "statement {i} of {} (line {line}) is not safe to repeat and \
                                 ran: {}",
                                script.filename,
                                blocked_hint(script, "the next deploy")
                            ))
                        } else if done > 0 {
                            Some(
                                "the cut script's statements before the stop were applied \
                                 (all safe to repeat): a retry runs it from its start"
                                    .to_string(),
                            )
                        } else {
                            None
                        };
                        Err(stopped(&reason, &format!("stopped {place}"), partial))
                    }
                    Cut::LeaseLost(why) => Err(RunError::failure(format!(
                        "the deploy lock was lost: {why}; stopped {place}"
                    ))
                    .hint(
                        "no statement ran after that and nothing more was recorded: another \
                         run may own the lock and the history now",
                    )
                    .hint(if done > 0 {
                        "the statements before the cut were applied: check them, then run \
                         `cassachange status` and deploy again"
                    } else {
                        "run `cassachange status`, then deploy again"
                    })),
                }
            }
        }
    }

    /// Records the outcome of a script that ran, fencing the lock for the next step
    /// at the same time, and tells the observers.
    async fn succeeded(
        &mut self,
        keyspace: &str,
        action: Action<'_>,
        note: &str,
        elapsed: Duration,
    ) -> Result<(), RunError> {
        let script = action.script();
        let mut rows = vec![outcome_row(script, keyspace, &self.info, true, elapsed)];
        if let Action::Undo { version, .. } = action {
            rows.push(self.sentinel(version, keyspace));
        }
        // The history write overlaps the next step's fence (a failed fence is left to
        // the next step, which fences again).
        let closing = std::time::Instant::now();
        let lock = self.lock()?;
        let recorded = async {
            let r = self.recorder.record(lock, rows, Vec::new()).await;
            tracing::debug!(
                "history row of {} written in {:?}",
                script.filename,
                closing.elapsed()
            );
            r
        };
        let fence = async {
            let fenced = lock.fence().await;
            tracing::debug!("ownership fenced in {:?}", closing.elapsed());
            fenced
        };
        let (recorded, fenced) = tokio::join!(recorded, fence);
        tracing::debug!(
            "{} closed in {:?} (script: {elapsed:?})",
            script.filename,
            closing.elapsed()
        );
        recorded?;
        self.fenced = fenced.is_ok();
        let position = self.position();
        self.counts.run += 1;
        self.emit(&RunEvent::Ran {
            keyspace,
            action,
            elapsed,
            note,
            position,
        })?;
        // Its audit event is written at once (before the next step's flush anyway).
        self.observer.flush()
    }

    /// The intent row of `script` in `keyspace` (stamped when recorded), saying `how`.
    fn intent(&self, script: &Script, keyspace: &str, how: &str) -> HistoryRow {
        HistoryRow {
            script_type: Some(script.kind.as_str().into()),
            version: script.version.as_ref().map(|v| v.to_string().into()),
            description: Some(how.into()),
            ..self.row(script.filename.clone(), keyspace, "")
        }
    }

    /// Records `script` as FAILED in `keyspace` — with its intent written again after
    /// it when `stopped_how` says a statement not safe to repeat ran, so the script
    /// stays blocked — counts it, and tells the observers.
    async fn record_failure(
        &mut self,
        keyspace: &str,
        script: &Script,
        elapsed: Duration,
        detail: &str,
        stopped_how: Option<String>,
        cut: bool,
    ) -> Result<(), RunError> {
        let row = outcome_row(script, keyspace, &self.info, false, elapsed);
        let intents: Vec<HistoryRow> = stopped_how
            .iter()
            .map(|how| self.intent(script, keyspace, how))
            .collect();
        self.recorder
            .record(self.lock()?, vec![row], intents)
            .await?;
        self.errors += 1;
        self.counts.failed += 1;
        self.emit(&RunEvent::FailureRecorded {
            keyspace,
            script,
            detail,
            elapsed,
            cut,
        })
    }

    /// The original's rollback sentinel: `ROLLBACK_V<version>`, type undo, ROLLED_BACK.
    fn sentinel(&self, version: &Version, keyspace: &str) -> HistoryRow {
        HistoryRow {
            script_type: Some("undo".into()),
            version: Some(version.to_string().into()),
            description: Some(format!("Rollback of version {version}").into()),
            checksum: Some("".into()),
            execution_time: Some(0),
            ..self.row(
                format!("ROLLBACK_V{version}"),
                keyspace,
                status::ROLLED_BACK,
            )
        }
    }

    /// Ends the run: tells the observers how it ended, releases the lock (if it was
    /// taken), flushes them, and returns the outcome (`Ok(errors)`: the number of failed
    /// scripts) and the observer.
    pub async fn finish(mut self, result: Result<(), RunError>) -> (Result<usize, RunError>, O) {
        let mut closing = self.emit(&RunEvent::Finishing {
            result: result.as_ref().copied(),
            errors: self.errors,
        });
        let release = match self.lock.take() {
            None => Release::NotTaken,
            Some(lock) => match lock.release().await {
                Ok(true) => Release::Released,
                Ok(false) => Release::NotOurs,
                Err(e) => Release::Failed(e.to_string()),
            },
        };
        let released = self.emit(&RunEvent::LockReleased(&release));
        if closing.is_ok() {
            closing = released;
        }
        // Retried for as long as the lease lasted. A held lock fails the next deploy
        // (exit 3), so this run says so now: its own work is done and recorded, but the
        // run fails (exit 1) with the way out.
        if let Release::Failed(e) = &release {
            let failed = RunError::failure(format!(
                "could not release the deploy lock (run {}): {e}",
                self.info.run_id
            ))
            .hint(
                "what this run applied is recorded; the lock expires after lock_ttl, or free \
                 it now with `cassachange repair --release-lock`",
            );
            if closing.is_ok() {
                closing = Err(failed);
            }
        }
        let flushed = self.observer.flush();
        if closing.is_ok() {
            closing = flushed;
        }
        let outcome = match (result, closing) {
            (Err(e), _) | (Ok(()), Err(e)) => Err(e),
            (Ok(()), Ok(())) => Ok(self.errors),
        };
        let finished = self.emit(&RunEvent::Finished {
            result: outcome.as_ref().map(|_| ()),
            errors: self.errors,
            lock: &release,
        });
        let outcome = match (outcome, finished) {
            (Ok(_), Err(e)) => Err(e),
            (o, _) => o,
        };
        (outcome, self.observer)
    }
}

/// The history row for one script outcome, in the original's format (stamped when
/// it is recorded).
pub fn outcome_row(
    script: &Script,
    keyspace: &str,
    run: &RunInfo,
    ok: bool,
    elapsed: Duration,
) -> HistoryRow {
    HistoryRow {
        installed_on: 0,
        script: script.filename.as_str().into(),
        script_type: Some(script.kind.as_str().into()),
        version: script.version.as_ref().map(|v| v.to_string().into()),
        description: Some(script.description.as_str().into()),
        checksum: Some(script.checksum.as_str().into()),
        execution_time: Some(i32::try_from(elapsed.as_millis()).unwrap_or(i32::MAX)),
        status: Some(if ok { status::SUCCESS } else { status::FAILED }.into()),
        installed_by: Some(run.operator.as_str().into()),
        keyspace_name: Some(keyspace.into()),
        tag: Some(run.tag.as_str().into()),
        run_id: Some(run.run_id.as_str().into()),
    }
}

/// What the person reads when a script waits for `repair --script`.
fn blocked_hint(script: &Script, who: &str) -> String {
    format!(
        "{who} stops at it until you check what it did and run `cassachange repair --script \
         {}`",
        script.filename
    )
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// The lock could not be taken: held by another run (exit 3), a stop while waiting
/// (exit 130), or the database.
fn lock_refused(e: &LockError) -> RunError {
    match e {
        LockError::Held(holder) => RunError::error(format!(
            "Deploy lock already held.\n{}",
            holder.describe()
        ))
        .hint("wait for the current deploy to finish (or pass --lock-wait 5m), or, if no deploy is running:")
        .hint("  cassachange repair --release-lock")
        .kind(ErrorKind::LockHeld),
        LockError::Interrupted => RunError::failure(
            "interrupted while waiting for the deploy lock; nothing was changed",
        )
        .kind(ErrorKind::Interrupted),
        LockError::Db(e) => RunError::from(e),
        other @ LockError::Lost(_) => RunError::error(other.to_string()),
    }
}

/// The run was asked to stop (`reason`) at `what`.
fn stopped(reason: &str, what: &str, partial: Option<String>) -> RunError {
    let mut e = RunError::failure(format!("interrupted ({reason}); {what}")).hint(
        "scripts that ran are recorded (a cut script as FAILED); run the command again to continue",
    );
    if let Some(p) = partial {
        e = e.hint(p);
    }
    e.kind(ErrorKind::Interrupted)
}

fn lock_lost(e: &LockError, what: &str) -> RunError {
    match e {
        LockError::Db(db) => RunError::from(db)
            .hint(format!("{what}; the lock could not be confirmed"))
            .kind(ErrorKind::Failure),
        other => RunError::failure(format!("{other}; {what}"))
            .hint("no further script was run; run deploy again once no other deploy is running"),
    }
}
