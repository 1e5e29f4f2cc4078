//! Defines the run driver that deploy, rollback and repair share: take the lock, read
//! history under it, run one step at a time, and `finish` — the one place that writes
//! the closing events, releases the lock and decides the exit status, so every exit
//! path is written once.
//!
//! A run ends only on purpose: between statements, on a signal, a lost lease, a
//! failed write or a refused plan, with what happened recorded and the lock released.

mod record;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;

pub(crate) use record::Recorder;

use crate::commands::connect::{db_error, hostname, operator};
use crate::config::Settings;
use crate::db::Db;
use crate::edition::{AuditEvent, Edition, EventType};
use crate::execute::{outcome_row, run_script, Cut, ScriptFailure};
use crate::exit::ExitStatus;
use crate::history::lock::{self, Lock, LockError, LOCK_KEY};
use crate::history::state::{status, HistoryRow};
use crate::history::store::CqlLockStore;
use crate::history::table::{lock_commit, HistoryTable};
use crate::notify::{Counts, Event, Notifier};
use crate::outln;
use crate::scripts::Script;
use crate::ui::{self, UserError};
use crate::version::Version;

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

impl RunInfo {
    /// A new run (fresh id) by this settings' operator, under `tag`.
    pub(crate) fn new(settings: &Settings, tag: Option<&String>) -> Self {
        RunInfo {
            run_id: uuid::Uuid::new_v4().to_string(),
            operator: operator(settings),
            tag: tag.cloned().unwrap_or_default(),
        }
    }
}

/// What kind of run this is: it names the audit events and the messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunKind {
    /// `deploy`.
    Deploy,
    /// `rollback`.
    Rollback,
    /// `repair` (marking FAILED scripts for retry).
    Repair,
}

impl RunKind {
    fn command(self) -> &'static str {
        match self {
            RunKind::Deploy => "deploy",
            RunKind::Rollback => "rollback",
            RunKind::Repair => "repair",
        }
    }

    /// Notification events: start, success, failure (repair sends `repair` itself).
    fn notices(self) -> Option<(&'static str, &'static str, &'static str)> {
        match self {
            RunKind::Deploy => Some(("deploy_start", "deploy_success", "deploy_failed")),
            RunKind::Rollback => Some(("rollback_start", "rollback_success", "rollback_failed")),
            RunKind::Repair => None,
        }
    }

    /// Start, success and failure events (repair has none: its REPAIR rows say it all).
    fn events(self) -> Option<(EventType, EventType, EventType)> {
        match self {
            RunKind::Deploy => Some((
                EventType::DeployStart,
                EventType::DeployEnd,
                EventType::DeployFailed,
            )),
            RunKind::Rollback => Some((
                EventType::RollbackStart,
                EventType::RollbackEnd,
                EventType::RollbackFailed,
            )),
            RunKind::Repair => None,
        }
    }
}

/// One step a run executes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Action<'s> {
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
    fn script(self) -> &'s Script {
        match self {
            Action::Apply(s) | Action::Undo { script: s, .. } => s,
        }
    }
}

/// How a run starts: the start event's audit detail, the start notification's detail
/// (the original's text), and the keyspaces it works on.
#[derive(Debug, Clone, Default)]
pub(crate) struct Start {
    /// Detail of the DEPLOY_START / ROLLBACK_START audit event.
    pub(crate) audit: String,
    /// Detail of the `deploy_start` / `rollback_start` notification.
    pub(crate) notice: String,
    /// The keyspaces, joined with `,` (the notifications' `keyspace`).
    pub(crate) keyspaces: String,
}

/// A run holding the deploy lock.
pub(crate) struct Run<'a> {
    kind: RunKind,
    settings: &'a Settings,
    edition: &'a dyn Edition,
    db: Arc<Db>,
    info: RunInfo,
    lock: Lock<CqlLockStore>,
    recorder: Recorder<'a, HistoryTable>,
    history: Vec<HistoryRow>,
    errors: usize,
    counts: Counts,
    keyspaces: String,
    notifier: Notifier,
    summaries: Vec<String>,
    /// Ownership was just confirmed (the lock taken, or a check together with the last
    /// history write, after the last script): the next step starts without another.
    checked: bool,
    /// Scripts this run will execute (see [`Run::expect`]).
    total: usize,
    /// What each step did, for `--format json`.
    steps: Vec<serde_json::Value>,
    /// More fields of the JSON document (drift, …).
    extra: serde_json::Map<String, serde_json::Value>,
    /// The session's keyspace as this run last set it (`None`: unknown, e.g. after a
    /// script with a `USE`).
    session_keyspace: Option<String>,
}

impl<'a> Run<'a> {
    /// Creates the history tables if needed, takes the lock (waiting up to
    /// `lock_wait`), audits LOCK_ACQUIRE and the start event (`start_detail`), and reads
    /// history under the lock. On a failure after the lock was taken, the run is
    /// finished (lock released) and its exit status returned as `Err`.
    pub(crate) async fn begin(
        kind: RunKind,
        settings: &'a Settings,
        edition: &'a dyn Edition,
        db: Arc<Db>,
        table: &'a HistoryTable,
        info: RunInfo,
        start: Start,
    ) -> Result<Run<'a>, Result<ExitStatus>> {
        let history_ks = table.keyspace().to_string();
        let commit = lock_commit(settings.history_consistency);
        let taken = async {
            let phase = std::time::Instant::now();
            table.ensure().await.map_err(|e| db_error(&e))?;
            tracing::debug!("history tables ready in {:?}", phase.elapsed());
            let phase = std::time::Instant::now();
            let lock = take_lock(db.clone(), &history_ks, &info, settings, commit).await;
            tracing::debug!("lock taken in {:?}", phase.elapsed());
            lock
        }
        .await;
        let lock = match taken {
            Ok(lock) => lock,
            Err(e) => return Err(Err(e.into())),
        };
        let notifier = Notifier::new(settings, &info.run_id);
        let mut run = Run {
            kind,
            settings,
            edition,
            db,
            recorder: Recorder::new(table),
            info,
            lock,
            history: Vec::new(),
            errors: 0,
            counts: Counts::default(),
            keyspaces: start.keyspaces,
            notifier,
            summaries: Vec::new(),
            // The lock was taken a moment ago by a lightweight transaction: that is the
            // first script's ownership check.
            checked: true,
            total: 0,
            steps: Vec::new(),
            extra: serde_json::Map::new(),
            session_keyspace: None,
        };
        match run.open(start.audit, start.notice).await {
            Ok(()) => Ok(run),
            Err(e) => Err(run.finish(Err(e)).await),
        }
    }

    async fn open(&mut self, start_detail: String, notice: String) -> Result<(), UserError> {
        self.audit(EventType::LockAcquire, self.lock.info().locked_by.clone())?;
        if let Some((start, _, _)) = self.kind.events() {
            self.audit(start, start_detail)?;
        }
        if let Some((start, _, _)) = self.kind.notices() {
            self.notify(start, self.keyspaces.clone(), String::new(), "", notice);
        }
        let phase = std::time::Instant::now();
        self.history = self
            .recorder
            .read_history()
            .await
            .map_err(|e| db_error(&e))?;
        tracing::debug!("history read under the lock in {:?}", phase.elapsed());
        Ok(())
    }

    /// The history read under the lock.
    pub(crate) fn history(&self) -> &[HistoryRow] {
        &self.history
    }

    /// The run's id, operator and tag.
    pub(crate) fn info(&self) -> &RunInfo {
        &self.info
    }

    /// The settings.
    pub(crate) fn settings(&self) -> &Settings {
        self.settings
    }

    /// Keeps a summary line, printed by [`Run::finish`] after the lock is released.
    pub(crate) fn summary(&mut self, line: String) {
        self.summaries.push(line);
    }

    /// Number of failed scripts so far.
    pub(crate) fn errors(&self) -> usize {
        self.errors
    }

    /// Starts sending a notification (returns at once; [`Run::finish`] waits).
    pub(crate) fn notify(
        &self,
        name: &'static str,
        keyspace: String,
        script: String,
        status: &str,
        detail: String,
    ) {
        self.notifier.send(
            &Event {
                name,
                keyspace,
                script,
                status: status.to_string(),
                detail,
            },
            self.counts,
        );
    }

    /// Says how many scripts the run will execute, for the `[12/100]` on each line.
    pub(crate) fn expect(&mut self, total: usize) {
        self.total = total;
    }

    /// `[12/100]`: the place of the script being run among those the run executes.
    fn position(&self) -> String {
        let n = self.counts.run + self.counts.failed + 1;
        if self.total == 0 {
            format!("[{n}]")
        } else {
            format!("[{n}/{}]", self.total)
        }
    }

    /// Adds a field to the JSON document of the run.
    pub(crate) fn extra(&mut self, key: &str, value: serde_json::Value) {
        self.extra.insert(key.to_string(), value);
    }

    /// Keeps what a step did for the JSON document (`--format json` only).
    fn note_step(
        &mut self,
        keyspace: &str,
        script: &Script,
        action: &str,
        reason: &str,
        ms: Option<u128>,
        error: Option<&str>,
    ) {
        if crate::report::json() {
            self.steps.push(serde_json::json!({
                "keyspace": keyspace,
                "script": script.filename,
                "type": script.kind.as_str(),
                "version": script.version.as_ref().map(ToString::to_string),
                "action": action,
                "reason": reason,
                "duration_ms": ms.map(|m| u64::try_from(m).unwrap_or(u64::MAX)),
                "error": error,
            }));
        }
    }

    /// Counts a skipped script and audits it.
    pub(crate) fn skip(
        &mut self,
        keyspace: &str,
        script: &Script,
        reason: String,
    ) -> Result<(), UserError> {
        self.note_step(keyspace, script, "skip", &reason, None, None);
        let script = script.filename.as_str();
        self.counts.skipped += 1;
        self.audit_script(EventType::ScriptSkip, reason, keyspace, script, "")
    }

    /// Appends an audit event of this run (a no-op in the community edition); an
    /// error stops the run.
    pub(crate) fn audit(&self, event: EventType, detail: String) -> Result<(), UserError> {
        self.edition.audit(&AuditEvent::new(
            event,
            &self.info.run_id,
            &self.info.operator,
            detail,
        ))
    }

    /// Appends an audit event about one script.
    pub(crate) fn audit_script(
        &self,
        event: EventType,
        detail: String,
        keyspace: &str,
        script: &str,
        status: &str,
    ) -> Result<(), UserError> {
        self.edition.audit(
            &AuditEvent::new(event, &self.info.run_id, &self.info.operator, detail)
                .on(keyspace, script, status),
        )
    }

    /// Records `rows` (stamped by the run's clock) while the lease is certainly ours.
    pub(crate) async fn record(&self, rows: Vec<HistoryRow>) -> Result<(), UserError> {
        self.recorder.record(&self.lock, rows).await
    }

    /// The history row for a new event of this run (stamped when recorded).
    pub(crate) fn row(&self, script: String, keyspace: &str, st: &str) -> HistoryRow {
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

    /// Runs one step in `keyspace`: checks the lock, sets the keyspace (a `USE` in an
    /// earlier script never leaks into this one), runs the statements with the lease
    /// and interruption checked between them, records the outcome and audits it.
    ///
    /// `Ok(true)`: it ran. `Ok(false)`: it failed (recorded FAILED; the caller stops
    /// this keyspace). `Err`: the run stops here.
    pub(crate) async fn step(
        &mut self,
        keyspace: &str,
        action: Action<'_>,
        note: &str,
    ) -> Result<bool, UserError> {
        let script = action.script();
        if crate::interrupt::interrupted() {
            return Err(interrupted(
                &format!("stopped before {} in {keyspace}", script.filename),
                false,
            ));
        }
        // Ownership is read (serially) before every script: right after the previous
        // script's history write (overlapped with it), or here.
        if !std::mem::take(&mut self.checked) {
            self.lock.check().await.map_err(|e| {
                lock_lost(
                    &e,
                    &format!("stopped before {} in {keyspace}", script.filename),
                )
            })?;
        }
        // Every event so far is written before the script runs: no step runs after a
        // failed audit write.
        self.edition.flush_audit()?;
        if self.session_keyspace.as_deref() != Some(keyspace) {
            self.db.use_keyspace(keyspace).await.map_err(|e| {
                db_error(&e)
                    .hint(format!("stopped before {}", script.filename))
                    .status(ExitStatus::Failure)
            })?;
            self.session_keyspace = Some(keyspace.to_string());
        }
        let shape = Shape::of(&script.content);
        // A `USE` in the script leaves the session elsewhere: set it again next time.
        if shape.has_use {
            self.session_keyspace = None;
        }
        let lock = &self.lock;
        let guard = || {
            if crate::interrupt::interrupted() {
                Some(Cut::Interrupted)
            } else {
                lock.lease_left().err().map(|e| {
                    Cut::LeaseLost(match e {
                        LockError::Lost(why) => why,
                        other => other.to_string(),
                    })
                })
            }
        };
        // A script with a statement that is not safe to run twice: say first that it
        // starts, so that if this run dies before its outcome is recorded, no later run
        // repeats it unasked (it reads as interrupted until `repair` marks it).
        if !shape.all_idempotent {
            let intent = HistoryRow {
                script_type: Some(script.kind.as_str().into()),
                version: script.version.as_ref().map(|v| v.to_string().into()),
                ..self.row(script.filename.clone(), keyspace, "")
            };
            self.recorder.intend(&self.lock, intent).await?;
            tracing::debug!("start of {} recorded", script.filename);
        }
        let (elapsed, result) = run_script(&self.db, script, self.settings.timeout, guard).await;
        let ms = elapsed.as_millis();
        match result {
            Ok(()) => {
                let mut rows = vec![outcome_row(script, keyspace, &self.info, true, elapsed)];
                if let Action::Undo { version, .. } = action {
                    rows.push(self.sentinel(version, keyspace));
                }
                let (tag, event_detail, line) = match action {
                    Action::Apply(_) => ("[RUN]", format!("{ms}ms"), note.to_string()),
                    Action::Undo { version, .. } => (
                        "[UNDO]",
                        format!("{ms}ms rollback"),
                        format!("version {version} rolled back"),
                    ),
                };
                // The history write, then its audit event (written at once), overlap the
                // next step's ownership check (a failed check is left to the next step,
                // which checks again).
                let closing = std::time::Instant::now();
                let recorded = async {
                    self.record(rows).await?;
                    tracing::debug!(
                        "history row of {} written in {:?}",
                        script.filename,
                        closing.elapsed()
                    );
                    self.audit_script(
                        EventType::ScriptRun,
                        event_detail,
                        keyspace,
                        &script.filename,
                        status::SUCCESS,
                    )?;
                    self.edition.flush_audit()
                };
                let check = async {
                    let checked = self.lock.check().await;
                    tracing::debug!("ownership checked in {:?}", closing.elapsed());
                    checked
                };
                let (recorded, checked) = tokio::join!(recorded, check);
                tracing::debug!(
                    "{} closed in {:?} (script: {elapsed:?})",
                    script.filename,
                    closing.elapsed()
                );
                recorded?;
                self.checked = checked.is_ok();
                outln!(
                    "{tag:<10}{:<44} {ms}ms  {line}  {}",
                    script.filename,
                    self.position()
                );
                let action_name = if tag == "[RUN]" { "run" } else { "undo" };
                self.note_step(keyspace, script, action_name, &line, Some(ms), None);
                self.counts.run += 1;
                Ok(true)
            }
            Err(ScriptFailure::Failed(failure)) => {
                outln!(
                    "[FAIL]    {:<44} {ms}ms  {}",
                    script.filename,
                    self.position()
                );
                ui::print_user(&UserError::failure(failure.describe(script)));
                // A failure can be another run's doing (it took the lock and applied
                // the same statement): record it only while the lock is ours.
                self.lock.check().await.map_err(|e| {
                    lock_lost(
                        &e,
                        &format!(
                            "{} failed in {keyspace} and was not recorded",
                            script.filename
                        ),
                    )
                })?;
                let error = failure.error.to_string();
                self.note_step(keyspace, script, "failed", "", Some(ms), Some(&error));
                self.record_failure(keyspace, script, elapsed, error)
                    .await?;
                Ok(false)
            }
            Err(ScriptFailure::Cut { cut, done, total }) => {
                let place = format!(
                    "{} in {keyspace} after {done} of its {total} statement(s)",
                    script.filename
                );
                match cut {
                    Cut::Interrupted => {
                        // The lease is still ours: record the cut script as FAILED so the
                        // next deploy retries it and `repair --list` shows it.
                        self.record_failure(keyspace, script, elapsed, "interrupted".into())
                            .await?;
                        Err(interrupted(&format!("stopped {place}"), done > 0))
                    }
                    Cut::LeaseLost(why) => Err(UserError::failure(format!(
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

    /// Stops `keyspace` at a script an earlier run started and never recorded (`why`
    /// says which run): counted as a failure (exit 1), written nowhere (the open intent
    /// stays until `repair` marks the script or a run records it), audited as a skip.
    pub(crate) fn interrupted_script(
        &mut self,
        keyspace: &str,
        script: &Script,
        why: &str,
    ) -> Result<(), UserError> {
        outln!("[STOP]    {:<44} interrupted earlier", script.filename);
        let then = if script.kind == crate::scripts::ScriptKind::Undo {
            "roll back again to run it from its first statement"
        } else {
            "deploy then runs it from its first statement"
        };
        ui::print_user(
            &UserError::failure(format!("{keyspace}: {} was {why}", script.filename)).hint(
                format!(
                    "nothing ran in {keyspace} from here: check what the script did, then run \
                     `cassachange repair --script {}` to mark it for retry ({then})",
                    script.filename
                ),
            ),
        );
        self.note_step(keyspace, script, "blocked", why, None, Some(why));
        self.errors += 1;
        self.counts.failed += 1;
        self.audit_script(
            EventType::ScriptSkip,
            format!("not run: {why}"),
            keyspace,
            &script.filename,
            status::INTERRUPTED,
        )
    }

    /// Records `script` as FAILED in `keyspace`, counts it, and audits it.
    async fn record_failure(
        &mut self,
        keyspace: &str,
        script: &Script,
        elapsed: Duration,
        detail: String,
    ) -> Result<(), UserError> {
        self.record(vec![outcome_row(
            script, keyspace, &self.info, false, elapsed,
        )])
        .await?;
        self.errors += 1;
        self.counts.failed += 1;
        self.notify(
            "script_failed",
            keyspace.to_string(),
            script.filename.clone(),
            "",
            detail.clone(),
        );
        self.audit_script(
            EventType::ScriptFailed,
            detail,
            keyspace,
            &script.filename,
            status::FAILED,
        )
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

    /// Ends the run: writes the closing audit event, releases the lock, prints the
    /// summaries, and returns the exit status (or the error that stopped the run).
    pub(crate) async fn finish(self, result: Result<(), UserError>) -> Result<ExitStatus> {
        let failed = result.is_err() || self.errors > 0;
        let mut closing = Ok(());
        if let Some((_, end, fail)) = self.kind.events() {
            let (event, detail) = match &result {
                Err(e) => (
                    fail,
                    format!(
                        "stopped: {} total_errors={} tag={}",
                        e.message.lines().next().unwrap_or(""),
                        self.errors,
                        self.info.tag
                    ),
                ),
                Ok(()) if failed => (
                    fail,
                    format!("total_errors={} tag={}", self.errors, self.info.tag),
                ),
                Ok(()) => (end, format!("total_errors=0 tag={}", self.info.tag)),
            };
            closing = self.audit(event, detail);
        }
        if let Some((_, end, fail)) = self.kind.notices() {
            // The original's detail, with why the run stopped when it did.
            let tag = self.settings.tag.clone().unwrap_or_default();
            let mut detail = format!("errors={} tag={tag}", self.errors);
            if let Err(e) = &result {
                detail.push_str(" stopped: ");
                detail.push_str(e.message.lines().next().unwrap_or(""));
            }
            let (event, status) = if failed {
                (fail, status::FAILED)
            } else {
                (end, status::SUCCESS)
            };
            self.notify(event, self.keyspaces.clone(), String::new(), status, detail);
        }
        let Run {
            lock,
            summaries,
            edition,
            info,
            errors,
            kind,
            notifier,
            counts,
            steps,
            extra,
            ..
        } = self;
        let released = lock.release().await;
        match &released {
            Ok(true) => {
                outln!("[lock]    released");
                let ev = AuditEvent::new(EventType::LockRelease, &info.run_id, &info.operator, "");
                if closing.is_ok() {
                    closing = edition.audit(&ev);
                }
            }
            Ok(false) => {
                ui::warn("the deploy lock was no longer ours at release (expired, taken over or force-released)");
            }
            // Retried for as long as the lease lasted. A held lock fails the next
            // deploy (exit 3), so this run says so now: its own work is done and
            // recorded, but the run fails (exit 1) with the way out.
            Err(e) => {
                let failed = UserError::failure(format!(
                    "could not release the deploy lock (run {}): {e}",
                    info.run_id
                ))
                .hint(
                    "what this run applied is recorded; the lock expires after lock_ttl, or \
                     free it now with `cassachange repair --release-lock`",
                );
                if closing.is_ok() {
                    closing = Err(failed);
                } else {
                    ui::print_user(&failed);
                }
            }
        }
        let flushed = edition.flush_audit();
        if closing.is_ok() {
            closing = flushed;
        }
        for line in &summaries {
            outln!("{line}");
        }
        // Outstanding notifications, after the lock is released: bounded by their timeout.
        notifier.finish().await;
        let outcome = match (result, closing) {
            (Err(e), _) | (Ok(()), Err(e)) => Err(e),
            (Ok(()), Ok(())) if errors > 0 => Ok(ExitStatus::Failure),
            (Ok(()), Ok(())) => Ok(ExitStatus::Success),
        };
        if crate::report::json() {
            let status = match &outcome {
                Ok(s) => *s,
                Err(e) => e.status,
            };
            let lock_state = match &released {
                Ok(true) => "released".to_string(),
                Ok(false) => "no longer ours at release".to_string(),
                Err(e) => format!("release failed: {e}"),
            };
            let mut fields = crate::report::fields([
                ("run_id", info.run_id.as_str().into()),
                ("operator", info.operator.as_str().into()),
                ("tag", info.tag.as_str().into()),
                ("dry_run", false.into()),
                (
                    "totals",
                    serde_json::json!({
                        "ran": counts.run,
                        "skipped": counts.skipped,
                        "failed": counts.failed,
                    }),
                ),
                ("steps", steps.into()),
                ("lock", lock_state.into()),
                (
                    "error",
                    outcome.as_ref().err().map_or(serde_json::Value::Null, |e| {
                        crate::report::error_value(&e.message, &e.hints)
                    }),
                ),
            ]);
            fields.extend(extra);
            crate::report::emit(status, fields);
        }
        let status = outcome?;
        if status == ExitStatus::Success && crate::interrupt::interrupted() {
            ui::note(format_args!(
                "the stop came after the last step: the {} completed",
                kind.command()
            ));
        }
        Ok(status)
    }
}

/// Takes the deploy lock for `info` (waiting up to `lock_wait`), or returns the
/// original's "Deploy lock already held" message with exit status 3.
async fn take_lock(
    db: Arc<Db>,
    history_keyspace: &str,
    info: &RunInfo,
    settings: &Settings,
    commit: crate::db::Consistency,
) -> Result<Lock<CqlLockStore>, UserError> {
    let identity = format!("{}:{}", hostname(), &info.run_id[..8]);
    let store = Arc::new(CqlLockStore::new(db, history_keyspace, commit));
    match lock::acquire(store, &info.run_id, &identity, settings.lock_ttl, settings.lock_wait).await {
        Ok(lock) => {
            outln!("[lock]    acquired {LOCK_KEY} ({identity})");
            Ok(lock)
        }
        Err(LockError::Held(holder)) => Err(UserError::error(format!(
            "Deploy lock already held.\n{}",
            holder.describe()
        ))
        .hint("wait for the current deploy to finish (or pass --lock-wait 5m), or, if no deploy is running:")
        .hint("  cassachange repair --release-lock")
        .status(ExitStatus::LockHeld)),
        Err(LockError::Interrupted) => Err(UserError::failure(
            "interrupted while waiting for the deploy lock; nothing was changed",
        )
        .status(ExitStatus::Interrupted)),
        Err(LockError::Db(e)) => Err(db_error(&e)),
        Err(e @ LockError::Lost(_)) => Err(UserError::error(e.to_string())),
    }
}

fn interrupted(what: &str, partial: bool) -> UserError {
    let mut e = UserError::failure(format!("interrupted; {what}")).hint(
        "scripts that ran are recorded (a cut script as FAILED); run the command again to continue",
    );
    if partial {
        e = e.hint("the cut script's statements before the stop were applied: a retry runs it from its start");
    }
    e.status(ExitStatus::Interrupted)
}

fn lock_lost(e: &LockError, what: &str) -> UserError {
    match e {
        LockError::Db(db) => db_error(db)
            .hint(format!("{what}; the lock could not be confirmed"))
            .status(ExitStatus::Failure),
        other => UserError::failure(format!("{other}; {what}"))
            .hint("no further script was run; run deploy again once no other deploy is running"),
    }
}

/// What the run needs to know of a script's statements before running it, from one split.
struct Shape {
    /// It has a `USE` statement.
    has_use: bool,
    /// Every statement is safe to run twice (or it has none).
    all_idempotent: bool,
}

impl Shape {
    fn of(content: &str) -> Self {
        let (statements, err) = crate::cql::split(content);
        Shape {
            has_use: statements
                .iter()
                .any(|s| s.tokens.first().is_some_and(|t| t.is_kw("USE"))),
            all_idempotent: err.is_none()
                && statements.iter().all(crate::cql::Statement::is_idempotent),
        }
    }
}

/// How long one history write may take: within the lease, at most ten seconds.
pub(crate) fn write_budget(lease_left: Duration) -> Duration {
    lease_left.min(Duration::from_secs(10))
}
