//! Defines how a run's events reach people and systems: the text lines on stdout and
//! stderr, the JSON report, the audit log (through the edition) and the notifications.
//! One observer reads the one event type of `cassachange_core::run`, so deploy,
//! rollback and repair tell every sink the same story.

use anyhow::Result;
use cassachange_core::history::lock::LOCK_KEY;
use cassachange_core::history::state::status;
use cassachange_core::run::{
    Action, Counts, Release, RunError, RunEvent, RunInfo, RunKind, RunObserver,
};
use cassachange_core::scripts::Script;

use crate::config::Settings;
use crate::edition::{AuditEvent, Edition, EventType};
use crate::exit::ExitStatus;
use crate::notify::{self, Event, Notifier};
use crate::outln;
use crate::ui::{self, UserError};

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

/// The sinks of one run.
pub(crate) struct Sinks<'a> {
    kind: RunKind,
    edition: &'a dyn Edition,
    notifier: Notifier,
    info: RunInfo,
    verbose: bool,
    /// The configured tag, for the notifications' detail (the original's).
    notice_tag: String,
    start: Start,
    /// Words for the rollback target (`latest`, `above 1.2`, `tag=x`).
    target: String,
    steps: Vec<serde_json::Value>,
    extra: serde_json::Map<String, serde_json::Value>,
    summaries: Vec<String>,
    counts: Counts,
    release: Release,
    /// The closing audit event was written: the lock release is audited too.
    closing_audited: bool,
    /// Scripts `repair` marked for retry: (keyspace, script).
    repaired: Vec<(String, String)>,
    /// The current keyspace's skipped scripts, by reason: audited as one SCRIPT_SKIP
    /// row per keyspace when the run is done with it.
    skips: std::collections::BTreeMap<String, usize>,
}

/// The audit events that start and end a run of `kind` (repair has none: its REPAIR
/// rows say it all).
fn audit_events(kind: RunKind) -> Option<(EventType, EventType, EventType)> {
    match kind {
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
        RunKind::Repair | RunKind::Accept => None,
    }
}

/// The notifications that start and end a run of `kind` (repair sends `repair` itself).
fn notices(kind: RunKind) -> Option<(&'static str, &'static str, &'static str)> {
    match kind {
        RunKind::Deploy => Some(("deploy_start", "deploy_success", "deploy_failed")),
        RunKind::Rollback => Some(("rollback_start", "rollback_success", "rollback_failed")),
        RunKind::Repair | RunKind::Accept => None,
    }
}

impl<'a> Sinks<'a> {
    /// The sinks of a run of `kind` by `info`, starting as `start` says.
    pub(crate) fn new(
        kind: RunKind,
        settings: &Settings,
        edition: &'a dyn Edition,
        info: &RunInfo,
        start: Start,
    ) -> Self {
        Sinks {
            kind,
            edition,
            notifier: Notifier::new(settings, &info.run_id),
            info: info.clone(),
            verbose: settings.verbose,
            notice_tag: settings.tag.clone().unwrap_or_default(),
            start,
            target: String::new(),
            steps: Vec::new(),
            extra: serde_json::Map::new(),
            summaries: Vec::new(),
            counts: Counts::default(),
            release: Release::NotTaken,
            closing_audited: true,
            repaired: Vec::new(),
            skips: std::collections::BTreeMap::new(),
        }
    }

    /// Names the rollback target for the keyspace headers.
    pub(crate) fn target(mut self, target: String) -> Self {
        self.target = target;
        self
    }

    /// Adds a field to the JSON document of the run.
    pub(crate) fn extra(&mut self, key: &str, value: serde_json::Value) {
        self.extra.insert(key.to_string(), value);
    }

    fn audit(&self, event: &AuditEvent) -> Result<(), RunError> {
        self.edition.audit(event).map_err(RunError::from)
    }

    fn audit_run(&self, event: EventType, detail: String) -> Result<(), RunError> {
        let e = AuditEvent::new(event, &self.info.run_id, &self.info.operator, detail);
        self.audit(&e)
    }

    fn audit_script(
        &self,
        event: EventType,
        detail: String,
        keyspace: &str,
        script: &str,
        st: &str,
    ) -> Result<(), RunError> {
        let e = AuditEvent::new(event, &self.info.run_id, &self.info.operator, detail)
            .on(keyspace, script, st);
        self.audit(&e)
    }

    fn notify(
        &self,
        name: &'static str,
        keyspace: String,
        script: String,
        st: &str,
        detail: String,
    ) {
        self.notifier.send(
            &Event {
                name,
                keyspace,
                script,
                status: st.to_string(),
                detail,
            },
            notify::Counts {
                run: self.counts.run,
                skipped: self.counts.skipped,
                failed: self.counts.failed,
            },
        );
    }

    /// Keeps what a step did for the JSON document (`--format json` only).
    fn step(
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

    /// Ends a run refused before it started (the validate gate, the pre-flight): still
    /// a failed run, notified and audited with the reason; `err` is its error.
    pub(crate) async fn refuse(mut self, err: UserError) -> Result<ExitStatus> {
        let err = RunError::from(err);
        let counts = self.counts;
        let closing = self
            .event(
                &RunEvent::Finishing {
                    result: Err(&err),
                    errors: 0,
                },
                counts,
            )
            .and_then(|()| self.flush());
        if let Err(e) = closing {
            ui::print_user(&UserError::from(e));
        }
        self.close(Err(err)).await
    }

    /// After [`Run::finish`](cassachange_core::run::Run::finish): prints the summaries,
    /// waits for outstanding notifications (bounded by their timeout), writes the JSON
    /// report, and returns the exit status (or the error that stopped the run).
    pub(crate) async fn close(self, outcome: Result<usize, RunError>) -> Result<ExitStatus> {
        for line in &self.summaries {
            outln!("{line}");
        }
        self.notifier.finish().await;
        let outcome: Result<ExitStatus, UserError> = match outcome {
            Ok(0) => Ok(ExitStatus::Success),
            Ok(_) => Ok(ExitStatus::Failure),
            Err(e) => Err(e.into()),
        };
        if crate::report::json() {
            let status = match &outcome {
                Ok(s) => *s,
                Err(e) => e.status,
            };
            let lock_state = match &self.release {
                Release::Released => "released".to_string(),
                Release::NotOurs => "no longer ours at release".to_string(),
                Release::Failed(e) => format!("release failed: {e}"),
                Release::NotTaken => "not taken".to_string(),
            };
            let mut fields = crate::report::fields([
                ("run_id", self.info.run_id.as_str().into()),
                ("operator", self.info.operator.as_str().into()),
                ("tag", self.info.tag.as_str().into()),
                ("dry_run", false.into()),
                (
                    "totals",
                    serde_json::json!({
                        "ran": self.counts.run,
                        "skipped": self.counts.skipped,
                        "failed": self.counts.failed,
                    }),
                ),
                ("steps", self.steps.into()),
                ("lock", lock_state.into()),
                (
                    "error",
                    outcome.as_ref().err().map_or(serde_json::Value::Null, |e| {
                        crate::report::error_value(&e.message, &e.hints)
                    }),
                ),
            ]);
            if self.kind == RunKind::Repair {
                fields.insert(
                    "marked".into(),
                    self.repaired
                        .iter()
                        .map(|(ks, s)| serde_json::json!({ "keyspace": ks, "script": s }))
                        .collect::<Vec<_>>()
                        .into(),
                );
            }
            fields.extend(self.extra);
            crate::report::emit(status, fields);
        }
        let status = outcome?;
        if status == ExitStatus::Success && crate::interrupt::interrupted() {
            ui::note(format_args!(
                "the stop came after the last step: the {} completed",
                self.kind.command()
            ));
        }
        Ok(status)
    }
}

impl RunObserver for Sinks<'_> {
    #[allow(clippy::too_many_lines)]
    fn event(&mut self, event: &RunEvent<'_>, counts: Counts) -> Result<(), RunError> {
        self.counts = counts;
        match event {
            RunEvent::LockWaiting { holder, wait } => ui::note(format_args!(
                "[lock]    held by {}; waiting up to {}s",
                holder.locked_by,
                wait.as_secs()
            )),
            RunEvent::LockAcquired { identity } => {
                outln!("[lock]    acquired {LOCK_KEY} ({identity})");
                self.audit_run(EventType::LockAcquire, (*identity).to_string())?;
            }
            RunEvent::Started => {
                if let Some((start, _, _)) = audit_events(self.kind) {
                    self.audit_run(start, self.start.audit.clone())?;
                }
                if let Some((start, _, _)) = notices(self.kind) {
                    self.notify(
                        start,
                        self.start.keyspaces.clone(),
                        String::new(),
                        "",
                        self.start.notice.clone(),
                    );
                }
            }
            RunEvent::ClockAhead { newest, by_ms } => ui::warn(format_args!(
                "the newest history row is dated {} UTC, {}s ahead of this machine's clock; \
                 this run's rows are dated after it to keep the order of events",
                crate::timefmt::format_ms(*newest),
                by_ms / 1000
            )),
            RunEvent::Keyspace {
                keyspace,
                of,
                steps,
            } => match self.kind {
                RunKind::Rollback => {
                    outln!("ROLLBACK  keyspace={keyspace}  target={}", self.target);
                    if *steps == 0 {
                        outln!("  nothing to roll back");
                    }
                }
                _ if *of > 1 => outln!("== {keyspace} =="),
                _ => {}
            },
            RunEvent::Skipped {
                keyspace,
                script,
                reason,
            } => {
                let text = reason.text();
                tracing::info!("[SKIP] {} {text}", script.filename);
                if self.verbose {
                    outln!("[SKIP]    {:<44} {text}", script.filename);
                }
                self.step(keyspace, script, "skip", &text, None, None);
                *self.skips.entry(text).or_default() += 1;
            }
            RunEvent::Blocked {
                keyspace,
                script,
                why,
            } => {
                outln!("[STOP]    {:<44} interrupted earlier", script.filename);
                let then = if script.kind == crate::scripts::ScriptKind::Undo {
                    "roll back again to run it from its first statement"
                } else {
                    "deploy then runs it from its first statement"
                };
                ui::print_user(
                    &UserError::failure(format!("{keyspace}: {} was {why}", script.filename)).hint(
                        format!(
                            "nothing ran in {keyspace} from here: check what the script did, \
                             then run `cassachange repair --script {}` to mark it for retry \
                             ({then})",
                            script.filename
                        ),
                    ),
                );
                self.step(keyspace, script, "blocked", why, None, Some(why));
                self.audit_script(
                    EventType::ScriptSkip,
                    format!("not run: {why}"),
                    keyspace,
                    &script.filename,
                    status::INTERRUPTED,
                )?;
                ui::note(format_args!(
                    "stopping keyspace {keyspace} at a script an earlier run left unfinished"
                ));
            }
            RunEvent::Ran {
                keyspace,
                action,
                elapsed,
                note,
                position,
            } => {
                let script = action.script();
                let ms = elapsed.as_millis();
                let (tag, detail, line, name) = match action {
                    Action::Apply(_) => ("[RUN]", format!("{ms}ms"), (*note).to_string(), "run"),
                    Action::Undo { version, .. } => (
                        "[UNDO]",
                        format!("{ms}ms rollback"),
                        format!("version {version} rolled back"),
                        "undo",
                    ),
                };
                outln!(
                    "{tag:<10}{:<44} {ms}ms  {line}  {position}",
                    script.filename
                );
                self.step(keyspace, script, name, &line, Some(ms), None);
                self.audit_script(
                    EventType::ScriptRun,
                    detail,
                    keyspace,
                    &script.filename,
                    status::SUCCESS,
                )?;
            }
            RunEvent::ScriptFailed {
                script,
                elapsed,
                position,
                message,
                hints,
                ..
            } => {
                outln!(
                    "[FAIL]    {:<44} {}ms  {position}",
                    script.filename,
                    elapsed.as_millis()
                );
                let mut user = UserError::failure(*message);
                for h in *hints {
                    user = user.hint(h.clone());
                }
                ui::print_user(&user);
            }
            RunEvent::FailureRecorded {
                keyspace,
                script,
                detail,
                elapsed,
                cut,
            } => {
                if !cut {
                    self.step(
                        keyspace,
                        script,
                        "failed",
                        "",
                        Some(elapsed.as_millis()),
                        Some(detail),
                    );
                }
                self.notify(
                    "script_failed",
                    (*keyspace).to_string(),
                    script.filename.clone(),
                    "",
                    (*detail).to_string(),
                );
                self.audit_script(
                    EventType::ScriptFailed,
                    (*detail).to_string(),
                    keyspace,
                    &script.filename,
                    status::FAILED,
                )?;
                if !cut {
                    match self.kind {
                        RunKind::Rollback => {
                            ui::note(format_args!("stopping the rollback of {keyspace}"));
                        }
                        _ => ui::note(format_args!(
                            "stopping keyspace {keyspace} at its first failed script"
                        )),
                    }
                }
            }
            RunEvent::Repaired { keyspace, script } => {
                self.repaired
                    .push(((*keyspace).to_string(), (*script).to_string()));
                self.audit_script(
                    EventType::Repair,
                    "marked for retry by repair command".into(),
                    keyspace,
                    script,
                    status::REPAIRED,
                )?;
            }
            RunEvent::KeyspaceDone {
                keyspace,
                ran,
                skipped,
                errors,
                stopped,
            } => {
                // One row for what was skipped, not one per script: a no-op deploy of
                // 200 keyspaces of 100 scripts is 200 rows, not 20,000.
                let skips = std::mem::take(&mut self.skips);
                if !skips.is_empty() {
                    let n: usize = skips.values().sum();
                    let by: Vec<String> = skips.iter().map(|(r, c)| format!("{r}: {c}")).collect();
                    self.audit_script(
                        EventType::ScriptSkip,
                        format!("{n} script(s) skipped ({})", by.join(", ")),
                        keyspace,
                        "",
                        "",
                    )?;
                }
                let ok = *errors == 0 && !stopped;
                let line = if self.kind == RunKind::Rollback {
                    format!(
                        "{} {keyspace}: rollback {}",
                        if ok { "✓" } else { "✗" },
                        if ok { "complete" } else { "FAILED" }
                    )
                } else {
                    let tag_note = if self.info.tag.is_empty() {
                        String::new()
                    } else {
                        format!(" | tag {}", self.info.tag)
                    };
                    format!(
                        "{} {keyspace}: run {ran} | skip {skipped} | errors {errors}{tag_note}{}",
                        if ok { "✓" } else { "✗" },
                        if *stopped { " (stopped)" } else { "" }
                    )
                };
                self.summaries.push(line);
            }
            RunEvent::Finishing { result, errors } => {
                // The run releases its lock right after this event.
                #[cfg(feature = "fault-points")]
                crate::fault::point("release");
                let failed = result.is_err() || *errors > 0;
                if let Some((_, end, fail)) = audit_events(self.kind) {
                    let (event, detail) = match result {
                        Err(e) => (
                            fail,
                            format!(
                                "stopped: {} total_errors={errors} tag={}",
                                e.first_line(),
                                self.info.tag
                            ),
                        ),
                        Ok(()) if failed => {
                            (fail, format!("total_errors={errors} tag={}", self.info.tag))
                        }
                        Ok(()) => (end, format!("total_errors=0 tag={}", self.info.tag)),
                    };
                    // The closing event is tried even after an earlier audit failure:
                    // that one stopped the run, this one says how it ended.
                    let closing = self.audit_run(event, detail);
                    self.closing_audited = closing.is_ok();
                    if let Some((_, end, fail)) = notices(self.kind) {
                        self.notify_end(*result, *errors, failed, end, fail);
                    }
                    closing?;
                } else if !self.repaired.is_empty() {
                    // `repair` sends one `repair` notification for what it marked.
                    let mut keyspaces: Vec<&str> =
                        self.repaired.iter().map(|(ks, _)| ks.as_str()).collect();
                    keyspaces.dedup();
                    let scripts: Vec<&str> =
                        self.repaired.iter().map(|(_, s)| s.as_str()).collect();
                    self.notify(
                        "repair",
                        keyspaces.join(","),
                        scripts.join(","),
                        status::REPAIRED,
                        format!("marked {} script(s) for retry", self.repaired.len()),
                    );
                }
            }
            RunEvent::LockReleased(release) => {
                self.release = (*release).clone();
                match release {
                    Release::Released => {
                        outln!("[lock]    released");
                        if self.closing_audited {
                            self.audit_run(EventType::LockRelease, String::new())?;
                        }
                    }
                    Release::NotOurs => ui::warn(
                        "the deploy lock was no longer ours at release (expired, taken over or \
                         force-released)",
                    ),
                    Release::Failed(_) | Release::NotTaken => {}
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), RunError> {
        self.edition.flush_audit().map_err(RunError::from)
    }
}

impl Sinks<'_> {
    /// The closing notification: the original's detail, with why the run stopped.
    fn notify_end(
        &self,
        result: Result<(), &RunError>,
        errors: usize,
        failed: bool,
        end: &'static str,
        fail: &'static str,
    ) {
        let mut detail = format!("errors={errors} tag={}", self.notice_tag);
        if let Err(e) = result {
            detail.push_str(" stopped: ");
            detail.push_str(e.first_line());
        }
        let (event, st) = if failed {
            (fail, status::FAILED)
        } else {
            (end, status::SUCCESS)
        };
        self.notify(
            event,
            self.start.keyspaces.clone(),
            String::new(),
            st,
            detail,
        );
    }
}
