//! The stop-path table: the run state machine driven by fakes through every way a run
//! can end — completing, a requested stop (SIGINT, SIGTERM, SIGHUP and a closed stdout
//! all arrive as one), a refused statement, an unknown outcome, a lease lost before,
//! inside or after a script, a suspend, a kill, an audit write failing, a release
//! failing — for each script kind (V, R, A, U), safe or not to repeat. Each row asserts
//! the history, the intent, the lock, and what the next run does with the script.
//! The README's "Every way a run ends" table is this file.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::clock::TestClock;
use crate::history::state::KeyspaceHistory;
use crate::plan::{self, Reason};
use crate::testing::{script, FakeHistory, SimpleLock};

/// What the fake session does at one statement (counted from 1 over the whole run).
enum Hook {
    /// The server refuses it: not applied.
    Refuse,
    /// Applied, then the client times out: the outcome is unknown to the run.
    Unknown,
    /// Applied, then `f` runs (a stop request, a takeover, a suspend).
    Then(Box<dyn FnOnce() + Send>),
    /// Applied, then `f` runs and the answer takes `d` to arrive (time in which the
    /// lease renewer runs).
    ThenSlow(Box<dyn FnOnce() + Send>, Duration),
    /// Applied, and the process dies before the answer arrives (SIGKILL).
    Die,
}

#[derive(Default)]
struct FakeSession {
    applied: Mutex<Vec<String>>,
    sent: Mutex<usize>,
    hooks: Mutex<Vec<(usize, Hook)>>,
}

impl FakeSession {
    fn at(&self, n: usize, hook: Hook) {
        self.hooks.lock().unwrap().push((n, hook));
    }

    fn applied(&self) -> Vec<String> {
        self.applied.lock().unwrap().clone()
    }
}

impl Session for FakeSession {
    async fn use_keyspace(&self, _keyspace: &str) -> Result<(), DbError> {
        Ok(())
    }

    async fn run_statement(
        &self,
        what: &str,
        text: &str,
        _idempotent: bool,
        _timeout: Option<Duration>,
    ) -> Result<(), DbError> {
        let n = {
            let mut sent = self.sent.lock().unwrap();
            *sent += 1;
            *sent
        };
        let hook = {
            let mut hooks = self.hooks.lock().unwrap();
            hooks
                .iter()
                .position(|(at, _)| *at == n)
                .map(|i| hooks.remove(i).1)
        };
        if matches!(hook, Some(Hook::Refuse)) {
            return Err(DbError::Statement {
                what: what.into(),
                reason: "Invalid: refused".into(),
            });
        }
        self.applied.lock().unwrap().push(text.to_string());
        match hook {
            Some(Hook::Unknown) => Err(DbError::Timeout {
                what: what.into(),
                secs: 10.0,
            }),
            Some(Hook::Then(f)) => {
                f();
                Ok(())
            }
            Some(Hook::ThenSlow(f, d)) => {
                f();
                tokio::time::sleep(d).await;
                Ok(())
            }
            Some(Hook::Die) => std::future::pending().await,
            _ => Ok(()),
        }
    }
}

/// An observer that records event names and fails on the first event whose name
/// starts with `fail_on` (an audit write that fails).
#[derive(Default)]
struct Obs {
    lines: Vec<String>,
    fail_on: Option<&'static str>,
}

impl RunObserver for Obs {
    fn event(&mut self, event: &RunEvent<'_>, counts: Counts) -> Result<(), RunError> {
        let mut rec = Recording::default();
        rec.event(event, counts)?;
        let line = rec.lines.remove(0);
        let fail = self.fail_on.is_some_and(|f| line.starts_with(f));
        self.lines.push(line);
        if fail {
            self.fail_on = None;
            return Err(RunError::failure("the audit log write failed"));
        }
        Ok(())
    }
}

/// Statements: `CREATE TABLE IF NOT EXISTS`, then (unsafe) a counter update or (safe) an
/// `ALTER … WITH`, then an `ALTER … WITH`.
fn body(unsafe_: bool) -> &'static str {
    if unsafe_ {
        "CREATE TABLE IF NOT EXISTS c (k int PRIMARY KEY, n counter);\n\
         UPDATE c SET n = n + 1 WHERE k = 1;\n\
         ALTER TABLE c WITH comment = 'x';\n"
    } else {
        "CREATE TABLE IF NOT EXISTS c (k int PRIMARY KEY, n counter);\n\
         ALTER TABLE c WITH comment = 'w';\n\
         ALTER TABLE c WITH comment = 'x';\n"
    }
}

/// Whether a run writes an intent before the script: it has a statement that is not
/// safe to repeat, or it is an undo script. A run that dies inside leaves it blocked.
fn has_intent(name: &str, unsafe_: bool) -> bool {
    unsafe_ || name.starts_with('U')
}

/// The four script kinds, named so a plan treats them as pending.
const KINDS: [&str; 4] = ["V1__s.cql", "R__s.cql", "A__s.cql", "U1__s.cql"];

/// One run of one script, with its fakes.
struct Bench {
    session: FakeSession,
    history: FakeHistory,
    locks: Arc<SimpleLock>,
    stop: Arc<Stop>,
    clock: Arc<TestClock>,
    script: Script,
    version: Version,
}

/// How the run went: its outcome and its events.
struct Ended {
    outcome: Result<usize, RunError>,
    events: Vec<String>,
}

impl Bench {
    fn new(name: &str, unsafe_: bool) -> Self {
        Bench {
            session: FakeSession::default(),
            history: FakeHistory::default(),
            locks: Arc::new(SimpleLock::default()),
            stop: Arc::new(Stop::new()),
            clock: Arc::new(TestClock::default()),
            script: script(name, body(unsafe_)),
            version: Version::parse("1").unwrap(),
        }
    }

    fn run(&self, obs: Obs) -> Run<'_, FakeSession, FakeHistory, SimpleLock, Obs> {
        let parts = Parts {
            session: &self.session,
            history: &self.history,
            locks: self.locks.clone(),
            stop: &self.stop,
            clock: self.clock.clone(),
        };
        let info = RunInfo {
            run_id: "run-1".into(),
            operator: "me".into(),
            tag: String::new(),
        };
        let options = Options {
            timeout: None,
            lock_ttl: Duration::from_secs(30),
            lock_wait: Duration::ZERO,
            identity: "me:run-1".into(),
        };
        let kind = if self.script.kind == ScriptKind::Undo {
            RunKind::Rollback
        } else {
            RunKind::Deploy
        };
        Run::new(kind, parts, info, options, obs)
    }

    fn action(&self) -> Action<'_> {
        if self.script.kind == ScriptKind::Undo {
            Action::Undo {
                script: &self.script,
                version: &self.version,
            }
        } else {
            Action::Apply(&self.script)
        }
    }

    /// Begins a run, runs the script as one step and finishes (unless the process
    /// "dies" inside: then nothing more happens, as after SIGKILL).
    async fn go(&self, obs: Obs) -> Option<Ended> {
        self.go_with(obs, || {}).await
    }

    /// [`Bench::go`], calling `before` between taking the lock and the step.
    async fn go_with(&self, obs: Obs, before: impl FnOnce()) -> Option<Ended> {
        let mut run = self.run(obs);
        run.begin().await.expect("begun");
        before();
        let stepped =
            tokio::time::timeout(Duration::from_secs(3600), run.step("ks", self.action(), ""))
                .await;
        let result = match stepped {
            Err(_) => return None,
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e),
        };
        let (outcome, obs) = run.finish(result).await;
        Some(Ended {
            outcome,
            events: obs.lines,
        })
    }

    /// What the next run does with the script: `run` (from its start), `skip`, or
    /// `blocked` (until `repair --script`).
    async fn next(&self) -> &'static str {
        let rows = self.history.read_all().await.unwrap();
        let h = KeyspaceHistory::build(&rows, "ks");
        let s = std::slice::from_ref(&self.script);
        let reason = if self.script.kind == ScriptKind::Undo {
            plan::interrupted_reason(&h, &self.script.filename).unwrap_or(Reason::Pending)
        } else {
            plan::deploy(s, &[], &h, "ks").steps[0].reason.clone()
        };
        if reason.blocks() {
            "blocked"
        } else if reason.runs() {
            "run"
        } else {
            "skip"
        }
    }

    fn intents(&self) -> Vec<String> {
        self.history.open_intents()
    }

    fn released(&self) -> bool {
        *self.locks.deleted.lock().unwrap()
    }
}

fn kind_of(e: &Result<usize, RunError>) -> Option<ErrorKind> {
    e.as_ref().err().map(|e| e.kind)
}

#[tokio::test(start_paused = true)]
async fn completing_records_success_and_closes_the_intent() {
    for name in KINDS {
        for unsafe_ in [false, true] {
            let b = Bench::new(name, unsafe_);
            let ended = b.go(Obs::default()).await.unwrap();
            assert_eq!(ended.outcome, Ok(0), "{name}");
            let mut expected = vec![format!("{name} SUCCESS")];
            if name.starts_with('U') {
                expected.push("ROLLBACK_V1 ROLLED_BACK".into());
            }
            assert_eq!(b.history.summary(), expected, "{name} unsafe={unsafe_}");
            assert!(b.intents().is_empty(), "{name}: {:?}", b.intents());
            // An intent was written first exactly when the script is not safe to
            // repeat, or undoes.
            let wrote_intent = b.history.intents.lock().unwrap().len() == 1;
            assert_eq!(wrote_intent, has_intent(name, unsafe_), "{name}");
            assert!(b.released());
            assert_eq!(b.session.applied().len(), 3);
        }
    }
}

/// SIGINT, SIGTERM, SIGHUP and a closed stdout are one request to stop; where it lands
/// decides whether the next run may repeat the script.
#[tokio::test(start_paused = true)]
async fn a_requested_stop_blocks_the_script_once_an_unsafe_statement_ran() {
    for reason in ["SIGINT", "SIGTERM", "SIGHUP", "standard output closed"] {
        for name in KINDS {
            for unsafe_ in [false, true] {
                // The stop lands after statement `after` (0: before the script).
                for after in 0..=2 {
                    let b = Bench::new(name, unsafe_);
                    if after > 0 {
                        let stop = b.stop.clone();
                        b.session.at(
                            after,
                            Hook::Then(Box::new(move || {
                                stop.request(reason);
                            })),
                        );
                    }
                    let ended = b
                        .go_with(Obs::default(), || {
                            if after == 0 {
                                b.stop.request(reason);
                            }
                        })
                        .await
                        .unwrap();
                    let case = format!("{reason} {name} unsafe={unsafe_} after={after}");
                    assert_eq!(
                        kind_of(&ended.outcome),
                        Some(ErrorKind::Interrupted),
                        "{case}"
                    );
                    let e = ended.outcome.as_ref().unwrap_err();
                    assert!(e.message.contains(reason), "{case}: {}", e.message);
                    assert_eq!(
                        b.session.applied().len(),
                        after,
                        "{case}: nothing after the stop"
                    );
                    assert!(b.released(), "{case}: lock released");
                    let unsafe_ran = unsafe_ && after >= 2;
                    if after == 0 {
                        assert!(b.history.summary().is_empty(), "{case}");
                        assert_eq!(b.next().await, "run", "{case}");
                        continue;
                    }
                    assert_eq!(
                        b.history.summary(),
                        [format!("{name} FAILED")],
                        "{case}: the original's meaning for the Python tool"
                    );
                    if unsafe_ran {
                        assert_eq!(b.next().await, "blocked", "{case}");
                        let open = b.intents();
                        assert_eq!(open.len(), 1, "{case}");
                        assert!(
                            open[0].contains(&format!("{reason} after statement 2 of 3"))
                                && open[0].contains("statement 2 (line 2) is not safe to repeat"),
                            "{case}: {open:?}"
                        );
                        assert!(
                            e.hints.iter().any(|h| h.contains("repair --script")),
                            "{case}: {:?}",
                            e.hints
                        );
                    } else {
                        assert_eq!(b.next().await, "run", "{case}: retried from its start");
                        assert!(b.intents().is_empty(), "{case}");
                    }
                }
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_refused_statement_blocks_only_after_an_unsafe_one_ran() {
    for name in KINDS {
        for unsafe_ in [false, true] {
            for at in 1..=3 {
                let b = Bench::new(name, unsafe_);
                b.session.at(at, Hook::Refuse);
                let ended = b.go(Obs::default()).await.unwrap();
                let case = format!("{name} unsafe={unsafe_} refused at {at}");
                assert_eq!(ended.outcome, Ok(1), "{case}: one failed script");
                assert_eq!(b.history.summary(), [format!("{name} FAILED")], "{case}");
                assert!(b.released(), "{case}");
                // Refused at the unsafe statement itself (2): nothing unsafe completed.
                let expect = if unsafe_ && at == 3 { "blocked" } else { "run" };
                assert_eq!(b.next().await, expect, "{case}");
                assert!(
                    ended.events.iter().any(|l| l.starts_with("failed ")),
                    "{case}"
                );
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_unknown_outcome_counts_as_run() {
    for name in KINDS {
        for unsafe_ in [false, true] {
            for at in 1..=3 {
                let b = Bench::new(name, unsafe_);
                b.session.at(at, Hook::Unknown);
                let ended = b.go(Obs::default()).await.unwrap();
                let case = format!("{name} unsafe={unsafe_} timed out at {at}");
                assert_eq!(ended.outcome, Ok(1), "{case}");
                assert_eq!(b.history.summary(), [format!("{name} FAILED")], "{case}");
                // The unsafe statement (2) may have run when it timed out.
                let expect = if unsafe_ && at >= 2 { "blocked" } else { "run" };
                assert_eq!(b.next().await, expect, "{case}");
            }
        }
    }
}

/// A run that dies (SIGKILL, a crash) inside a script writes nothing more: a script
/// with an intent (not safe to repeat, or an undo) blocks; a safe one runs again.
#[tokio::test(start_paused = true)]
async fn a_killed_run_leaves_scripts_with_an_intent_blocked() {
    for name in KINDS {
        for unsafe_ in [false, true] {
            for at in 1..=3 {
                let b = Bench::new(name, unsafe_);
                b.session.at(at, Hook::Die);
                assert!(b.go(Obs::default()).await.is_none(), "died");
                let case = format!("{name} unsafe={unsafe_} killed at {at}");
                assert!(b.history.summary().is_empty(), "{case}");
                assert!(!b.released(), "{case}: the lock is left to expire");
                let expect = if has_intent(name, unsafe_) {
                    "blocked"
                } else {
                    "run"
                };
                assert_eq!(b.next().await, expect, "{case}");
            }
        }
    }
}

/// The lease lost inside a script (a takeover the renewer sees, a suspend past the
/// TTL): nothing more runs or is recorded; the intent, if any, stays open.
#[tokio::test(start_paused = true)]
async fn a_lease_lost_inside_a_script_runs_and_records_nothing_more() {
    for how in ["takeover", "suspend"] {
        for name in KINDS {
            for unsafe_ in [false, true] {
                let b = Bench::new(name, unsafe_);
                let (locks, clock) = (b.locks.clone(), b.clock.clone());
                let lose = move || {
                    if how == "suspend" {
                        clock.suspend(Duration::from_secs(60));
                    }
                    *locks.lost.lock().unwrap() = true;
                };
                let hook = if how == "suspend" {
                    Hook::Then(Box::new(lose))
                } else {
                    // A slow answer: the renewer runs meanwhile and finds another owner.
                    Hook::ThenSlow(Box::new(lose), Duration::from_secs(8))
                };
                b.session.at(2, hook);
                let ended = b.go(Obs::default()).await.unwrap();
                let case = format!("{how} {name} unsafe={unsafe_}");
                assert_eq!(
                    b.session.applied().len(),
                    2,
                    "{case}: nothing after the loss"
                );
                let e = ended.outcome.unwrap_err();
                assert!(
                    e.message.contains("the deploy lock was lost"),
                    "{case}: {}",
                    e.message
                );
                assert_eq!(e.kind, ErrorKind::Failure, "{case}");
                assert!(b.history.summary().is_empty(), "{case}: nothing recorded");
                assert!(!b.released(), "{case}: not ours to release");
                let expect = if has_intent(name, unsafe_) {
                    "blocked"
                } else {
                    "run"
                };
                assert_eq!(b.next().await, expect, "{case}");
            }
        }
    }
}

/// The lease lost between scripts: the next step's fence (a conditional write on the
/// lock row) fails, and the script never starts.
#[tokio::test(start_paused = true)]
async fn a_lease_lost_before_a_script_starts_nothing() {
    for name in KINDS {
        let b = Bench::new(name, true);
        let mut run = b.run(Obs::default());
        run.begin().await.unwrap();
        // Not fenced since the lock was taken: take that away as a previous script would.
        run.fenced = false;
        *b.locks.lost.lock().unwrap() = true;
        let result = run.step("ks", b.action(), "").await;
        let e = result.unwrap_err();
        assert!(e.message.contains("other-run"), "{name}: {}", e.message);
        let renewals = *b.locks.renewals.lock().unwrap();
        assert!(renewals >= 1, "the fence is a conditional write");
        assert!(b.session.applied().is_empty(), "{name}");
        let (outcome, _) = run.finish(Err(e)).await;
        assert!(outcome.is_err());
        assert!(b.history.summary().is_empty());
        assert!(b.intents().is_empty(), "{name}: not even the intent");
        assert_eq!(b.next().await, "run", "{name}: nothing of it ran");
    }
}

/// The lease lost right after a script's outcome was recorded: the fence that overlaps
/// the history write fails, and the next script's step fences again and stops.
#[tokio::test(start_paused = true)]
async fn a_lease_lost_after_a_script_stops_the_next_one() {
    let b = Bench::new("V1__s.cql", true);
    let second = script("V2__t.cql", body(true));
    let locks = b.locks.clone();
    b.session.at(
        3,
        Hook::Then(Box::new(move || *locks.lost.lock().unwrap() = true)),
    );
    let mut run = b.run(Obs::default());
    run.begin().await.unwrap();
    assert!(run.step("ks", b.action(), "").await.unwrap(), "V1 ran");
    let e = run
        .step("ks", Action::Apply(&second), "")
        .await
        .unwrap_err();
    assert!(
        e.message.contains("stopped before V2__t.cql"),
        "{}",
        e.message
    );
    assert_eq!(b.session.applied().len(), 3, "nothing of V2");
    let (outcome, _) = run.finish(Err(e)).await;
    assert!(outcome.is_err());
    assert_eq!(b.history.summary(), ["V1__s.cql SUCCESS"]);
    assert!(b.intents().is_empty(), "V2's intent was never written");
}

/// A failed audit write stops the run before its next step; the lock is released.
#[tokio::test(start_paused = true)]
async fn a_failed_audit_write_stops_before_the_next_step() {
    let b = Bench::new("V1__s.cql", true);
    let second = script("V2__t.cql", body(true));
    let mut run = b.run(Obs {
        fail_on: Some("ran V1"),
        ..Obs::default()
    });
    run.begin().await.unwrap();
    let e = run.step("ks", b.action(), "").await.unwrap_err();
    assert_eq!(e.message, "the audit log write failed");
    let (outcome, obs) = run.finish(Err(e)).await;
    assert_eq!(kind_of(&outcome), Some(ErrorKind::Failure));
    assert_eq!(
        b.history.summary(),
        ["V1__s.cql SUCCESS"],
        "recorded before"
    );
    assert!(b.released());
    assert!(!obs.lines.iter().any(|l| l.contains("V2")));
    let _ = second;
}

/// A release that keeps failing fails the run (exit 1) with the way out, after the
/// work is recorded.
#[tokio::test(start_paused = true)]
async fn a_release_that_fails_fails_the_run_after_the_work_is_recorded() {
    let b = Bench::new("V1__s.cql", false);
    let mut run = b.run(Obs::default());
    run.begin().await.unwrap();
    assert!(run.step("ks", b.action(), "").await.unwrap());
    // Another run "owns" it now: the delete is not applied, the release says so.
    *b.locks.lost.lock().unwrap() = true;
    let (outcome, obs) = run.finish(Ok(())).await;
    assert_eq!(
        outcome,
        Ok(0),
        "not ours at release: a warning, not a failure"
    );
    assert!(
        obs.lines.iter().any(|l| l == "release NotOurs"),
        "{:?}",
        obs.lines
    );
    assert_eq!(b.history.summary(), ["V1__s.cql SUCCESS"]);
}

/// A run refused before its lock still ends through `finish`: observers hear how.
#[tokio::test(start_paused = true)]
async fn a_run_refused_before_the_lock_is_finished_like_any_other() {
    let b = Bench::new("V1__s.cql", true);
    let run = b.run(Obs::default());
    let (outcome, obs) = run
        .finish(Err(RunError::failure(
            "pre-flight: 1 statement(s) would fail",
        )))
        .await;
    assert_eq!(kind_of(&outcome), Some(ErrorKind::Failure));
    assert_eq!(obs.lines, ["finishing", "release NotTaken", "finished"]);
    assert!(b.history.summary().is_empty());
}

/// Repaired, the blocked script runs again once, from its first statement.
#[tokio::test(start_paused = true)]
async fn repair_lets_a_blocked_script_run_once_more() {
    let b = Bench::new("V1__s.cql", true);
    let stop = b.stop.clone();
    b.session.at(
        2,
        Hook::Then(Box::new(move || {
            stop.request("SIGINT");
        })),
    );
    b.go(Obs::default()).await.unwrap();
    assert_eq!(b.next().await, "blocked");
    let rows = b.history.read_all().await.unwrap();
    let h = KeyspaceHistory::build(&rows, "ks");
    let failed: Vec<(String, HistoryRow)> = h
        .files
        .values()
        .map(|e| ("ks".to_string(), e.last.clone()))
        .collect();
    let b2 = Bench {
        stop: Arc::new(Stop::new()),
        ..b
    };
    let mut run = b2.run(Obs::default());
    run.begin().await.unwrap();
    mark_repaired(&mut run, &failed).await.unwrap();
    let _ = run.finish(Ok(())).await;
    assert_eq!(b2.next().await, "run");
    assert_eq!(b2.go(Obs::default()).await.unwrap().outcome, Ok(0));
    assert_eq!(
        b2.session
            .applied()
            .iter()
            .filter(|s| s.starts_with("UPDATE"))
            .count(),
        2,
        "the counter ran once more, as asked"
    );
    assert_eq!(b2.next().await, "skip");
}

/// A stop requested while the run waits for the lock ends the wait: nothing changed.
#[tokio::test(start_paused = true)]
async fn a_stop_while_waiting_for_the_lock_changes_nothing() {
    let b = Bench::new("V1__s.cql", true);
    b.stop.request("SIGTERM");
    let mut run = b.run(Obs::default());
    let e = run.begin().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Interrupted);
    let (outcome, obs) = run.finish(Err(e)).await;
    assert_eq!(kind_of(&outcome), Some(ErrorKind::Interrupted));
    assert!(!obs.lines.iter().any(|l| l == "lock"), "{:?}", obs.lines);
    assert!(b.history.summary().is_empty());
    assert!(b.session.applied().is_empty());
}

/// A write beside history (the schema record) is made only after a fence confirms the
/// lock, and never once the lock was taken over.
#[tokio::test(start_paused = true)]
async fn a_fenced_write_runs_only_while_the_lock_is_ours() {
    let b = Bench::new("V1__t.cql", false);
    let mut run = b.run(Obs::default());
    run.begin().await.unwrap();
    let first = run.stamp();
    assert!(run.stamp() > first, "the run's clock moves on");
    let renewals = *b.locks.renewals.lock().unwrap();
    let written = std::sync::Mutex::new(Vec::new());
    run.fenced("the record", |budget| {
        written.lock().unwrap().push(budget);
        async { Ok(()) }
    })
    .await
    .unwrap();
    assert!(*b.locks.renewals.lock().unwrap() > renewals, "fenced first");
    let budget = written.lock().unwrap()[0];
    assert!(budget > Duration::ZERO && budget <= Duration::from_secs(10));

    *b.locks.lost.lock().unwrap() = true;
    let e = run
        .fenced("the record", |_| {
            written.lock().unwrap().push(Duration::ZERO);
            async { Ok(()) }
        })
        .await
        .unwrap_err();
    assert!(
        e.message.contains("the record not written"),
        "{}",
        e.message
    );
    assert_eq!(
        written.lock().unwrap().len(),
        1,
        "not written after a takeover"
    );
    let (outcome, _) = run.finish(Err(e)).await;
    assert!(outcome.is_err());

    // Without the lock there is nothing to fence with.
    let unlocked = b.run(Obs::default());
    assert!(unlocked
        .fenced("the record", |_| async { Ok(()) })
        .await
        .is_err());
}
