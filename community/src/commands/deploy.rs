//! Defines `deploy`, as the protocol table of spec §8 reads:
//! discover → connect and check keyspaces → lock → read history → plan → execute →
//! record → release. `--dry-run` stops after the plan (no lock, no writes).

use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use serde_json::json;

use super::connect::{self, db_error};
use crate::check::check;
use crate::cli::DeployArgs;
use crate::config::{DriftPolicy, Settings};
use crate::db::Db;
use crate::edition::{AuditEvent, Edition, EventType};
use crate::execute::{outcome_row, run_script, RunInfo};
use crate::exit::ExitStatus;
use crate::history::state::KeyspaceHistory;
use crate::history::table::HistoryTable;
use crate::outln;
use crate::plan::{self, KeyspacePlan, Reason};
use crate::scripts::{discover, Discovery};
use crate::ui::{self, UserError};

/// Runs `deploy`.
pub(crate) async fn run(
    args: &DeployArgs,
    settings: &Settings,
    edition: &dyn Edition,
) -> Result<ExitStatus> {
    let dry_run = args.dry_run || args.dry_run_output.is_some() || settings.dry_run;
    let found = discover_checked(&settings.root_folder)?;
    if found.forward.is_empty() {
        ui::warn(format!(
            "no migration scripts found in {}",
            settings.root_folder.display()
        ));
        return Ok(ExitStatus::Success);
    }
    let (db, history_ks, keyspaces) = connect::open_run(settings, edition).await?;
    let table = HistoryTable::new(&db, history_ks, &settings.history_table);
    let run = RunInfo::new(settings, settings.tag.as_ref());

    if dry_run {
        let rows = table.read_all().await.map_err(|e| db_error(&e))?;
        let plans: Vec<KeyspacePlan<'_>> = keyspaces
            .iter()
            .map(|ks| plan::deploy(&found.forward, &KeyspaceHistory::build(&rows, ks), ks))
            .collect();
        let drift_fatal = report_drift(&plans, settings.checksum_drift);
        print_dry_run(&plans, settings);
        if let Some(path) = &args.dry_run_output {
            write_plan_json(path, &plans, settings)?;
        }
        return Ok(if drift_fatal {
            ExitStatus::Failure
        } else {
            ExitStatus::Success
        });
    }

    table.ensure().await.map_err(|e| db_error(&e))?;
    let (lock, identity) = connect::take_lock(&db, history_ks, &run, settings).await?;
    let audit = |event: EventType, detail: String| {
        edition.audit(&AuditEvent::new(event, &run.run_id, &run.operator, detail))
    };
    // Everything between acquire and release runs here, so the lock is always released.
    let result = async {
        audit(EventType::LockAcquire, identity.clone())?;
        audit(
            EventType::DeployStart,
            format!("keyspaces={} tag={}", keyspaces.join(","), run.tag),
        )?;
        let outcome = execute(
            &db, &table, &found, &keyspaces, settings, &run, &lock, edition,
        )
        .await?;
        let end = if outcome.errors == 0 {
            EventType::DeployEnd
        } else {
            EventType::DeployFailed
        };
        audit(
            end,
            format!("total_errors={} tag={}", outcome.errors, run.tag),
        )?;
        Ok::<_, UserError>(outcome)
    }
    .await;
    if let Err(e) = &result {
        // Best effort: when the audit log itself is what failed, this fails too.
        let _ = audit(
            EventType::DeployFailed,
            format!("stopped: {}", e.message.lines().next().unwrap_or("")),
        );
    }

    let released = lock.release().await;
    match &released {
        Ok(true) => outln!("[lock]    released"),
        Ok(false) => {
            ui::warn("the deploy lock was no longer ours at release (expired or force-released)");
        }
        Err(e) => ui::warn(format!(
            "could not release the deploy lock: {e}; it expires after its TTL"
        )),
    }
    let outcome = result?;
    if matches!(released, Ok(true)) {
        audit(EventType::LockRelease, String::new())?;
    }
    for line in &outcome.summaries {
        outln!("{line}");
    }
    if let Some(stop) = outcome.stopped {
        return Err(stop.into());
    }
    if crate::execute::interrupted() {
        return Ok(ExitStatus::Interrupted);
    }
    Ok(if outcome.errors == 0 {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

/// Discovers scripts and refuses a tree that `validate` would fail.
fn discover_checked(root: &Path) -> Result<Discovery, UserError> {
    let found = discover(root).map_err(|e| {
        UserError::error(e.to_string())
            .hint("set root_folder in cassachange.yml or pass --root-folder")
    })?;
    let report = check(&found);
    if report.errors() > 0 {
        let first: Vec<String> = report
            .findings
            .iter()
            .filter(|f| f.severity() == crate::cql::Severity::Error)
            .take(5)
            .map(|f| {
                let place = f
                    .finding
                    .pos
                    .map_or_else(|| f.file.clone(), |p| format!("{}:{p}", f.file));
                format!("{place}: {}", f.finding.message)
            })
            .collect();
        return Err(UserError::failure(format!(
            "{} script error(s) in {}; nothing was deployed:\n{}",
            report.errors(),
            root.display(),
            first.join("\n")
        ))
        .hint("run `cassachange validate` for the full report"));
    }
    Ok(found)
}

struct Outcome {
    errors: usize,
    summaries: Vec<String>,
    stopped: Option<UserError>,
}

#[allow(clippy::too_many_arguments)]
async fn execute(
    db: &Arc<Db>,
    table: &HistoryTable<'_>,
    found: &Discovery,
    keyspaces: &[&str],
    settings: &Settings,
    run: &RunInfo,
    lock: &crate::history::lock::Lock,
    edition: &dyn Edition,
) -> Result<Outcome, UserError> {
    let rows = table.read_all().await.map_err(|e| db_error(&e))?;
    let plans: Vec<KeyspacePlan<'_>> = keyspaces
        .iter()
        .map(|ks| plan::deploy(&found.forward, &KeyspaceHistory::build(&rows, ks), ks))
        .collect();
    if report_drift(&plans, settings.checksum_drift) {
        return Err(UserError::failure(
            "checksum drift in applied versioned scripts; nothing was deployed",
        )
        .hint("restore the applied files, or set checksum_drift: warn"));
    }
    for plan in &plans {
        for step in &plan.steps {
            if let Reason::PendingOutOfOrder { highest } = &step.reason {
                ui::warn(format!(
                    "{}: {} is below the applied version {highest}; it runs now, out of order",
                    plan.keyspace, step.script.filename
                ));
            }
        }
    }
    let mut out = Outcome {
        errors: 0,
        summaries: Vec::new(),
        stopped: None,
    };
    let tag_note = if run.tag.is_empty() {
        String::new()
    } else {
        format!(" | tag {}", run.tag)
    };
    for plan in &plans {
        let ks = plan.keyspace.as_str();
        if keyspaces.len() > 1 {
            outln!("== {ks} ==");
        }
        db.use_keyspace(ks).await.map_err(|e| db_error(&e))?;
        let (mut ran, mut errors) = (0usize, 0usize);
        for step in &plan.steps {
            let script = step.script;
            if !step.reason.runs() {
                tracing::info!("[SKIP] {} {}", script.filename, step.reason.text());
                if settings.verbose {
                    outln!("[SKIP]    {:<44} {}", script.filename, step.reason.text());
                }
                edition.audit(
                    &AuditEvent::new(
                        EventType::ScriptSkip,
                        &run.run_id,
                        &run.operator,
                        step.reason.text(),
                    )
                    .on(ks, &script.filename, ""),
                )?;
                continue;
            }
            if crate::execute::interrupted() {
                out.summaries
                    .push(summary(ks, ran, plan.skipped(), errors, &tag_note));
                out.errors += errors + 1;
                out.stopped = Some(
                    UserError::failure(format!(
                        "interrupted; stopped before {} in {ks}",
                        script.filename
                    ))
                    .hint("scripts that ran are recorded; run deploy again to continue")
                    .status(ExitStatus::Interrupted),
                );
                return Ok(out);
            }
            if let Err(e) = lock.check().await {
                out.summaries
                    .push(summary(ks, ran, plan.skipped(), errors + 1, &tag_note));
                out.errors += errors + 1;
                out.stopped = Some(
                    UserError::failure(format!("{e}; stopped before {} in {ks}", script.filename))
                        .hint("no further script was run; run deploy again once no other deploy is running"),
                );
                return Ok(out);
            }
            let (elapsed, result) = run_script(db, script, settings.timeout).await;
            let ok = result.is_ok();
            table
                .insert(&outcome_row(script, ks, run, ok, elapsed))
                .await
                .map_err(|e| {
                    db_error(&e).hint(format!(
                        "{} ran ({}) but its history row was not written",
                        script.filename,
                        if ok { "SUCCESS" } else { "FAILED" }
                    ))
                })?;
            let ms = elapsed.as_millis();
            match result {
                Ok(()) => {
                    ran += 1;
                    outln!(
                        "[RUN]     {:<44} {ms}ms  {}",
                        script.filename,
                        step.reason.text()
                    );
                    edition.audit(
                        &AuditEvent::new(
                            EventType::ScriptRun,
                            &run.run_id,
                            &run.operator,
                            format!("{ms}ms"),
                        )
                        .on(ks, &script.filename, "SUCCESS"),
                    )?;
                }
                Err(failure) => {
                    errors += 1;
                    outln!("[FAIL]    {:<44} {ms}ms", script.filename);
                    ui::report(&anyhow::Error::new(UserError::failure(
                        failure.describe(script),
                    )));
                    edition.audit(
                        &AuditEvent::new(
                            EventType::ScriptFailed,
                            &run.run_id,
                            &run.operator,
                            failure.error.to_string(),
                        )
                        .on(ks, &script.filename, "FAILED"),
                    )?;
                    ui::note(format!("stopping keyspace {ks} at its first failed script"));
                    break;
                }
            }
        }
        out.summaries
            .push(summary(ks, ran, plan.skipped(), errors, &tag_note));
        out.errors += errors;
    }
    Ok(out)
}

fn summary(ks: &str, ran: usize, skipped: usize, errors: usize, tag_note: &str) -> String {
    let mark = if errors == 0 { "✓" } else { "✗" };
    format!("{mark} {ks}: run {ran} | skip {skipped} | errors {errors}{tag_note}")
}

/// Prints drift warnings; true when the policy makes them fatal.
fn report_drift(plans: &[KeyspacePlan<'_>], policy: DriftPolicy) -> bool {
    let mut any = false;
    for p in plans {
        for d in &p.drift {
            any = true;
            let msg = format!(
                "{}: {} changed since it was applied (applied checksum {}, file now {})",
                p.keyspace, d.script.relative_path, d.applied_checksum, d.script.checksum
            );
            if policy == DriftPolicy::Error {
                eprintln!("error: {msg}");
            } else {
                ui::warn(msg);
            }
        }
    }
    any && policy == DriftPolicy::Error
}

fn print_dry_run(plans: &[KeyspacePlan<'_>], settings: &Settings) {
    outln!("Dry run: no lock taken, nothing written.");
    for p in plans {
        if plans.len() > 1 {
            outln!("== {} ==", p.keyspace);
        }
        for step in &p.steps {
            if step.reason.runs() || settings.verbose {
                let tag = if step.reason.runs() {
                    "[RUN]"
                } else {
                    "[SKIP]"
                };
                outln!(
                    "{tag:<10}{:<44} {}",
                    step.script.filename,
                    step.reason.text()
                );
            }
        }
        let run = p.to_run().count();
        outln!("✓ {}: would run {run} | skip {}", p.keyspace, p.skipped());
    }
}

fn write_plan_json(
    path: &Path,
    plans: &[KeyspacePlan<'_>],
    settings: &Settings,
) -> Result<(), UserError> {
    let actions: Vec<_> = plans
        .iter()
        .flat_map(|p| {
            p.steps.iter().map(move |s| {
                json!({
                    "action": if s.reason.runs() { "run" } else { "skip" },
                    "script": s.script.filename,
                    "relative_path": s.script.relative_path,
                    "version": s.script.version.as_ref().map(ToString::to_string),
                    "type": s.script.kind.as_str(),
                    "keyspace": p.keyspace,
                    "checksum": s.script.checksum,
                    "reason": s.reason.code(),
                })
            })
        })
        .collect();
    let doc = json!({
        "generated_at": crate::timefmt::format_ms(crate::timefmt::now_ms()).replace(' ', "T") + "Z",
        "profile": settings.profile.clone().unwrap_or_default(),
        "tag": settings.tag.clone().unwrap_or_default(),
        "dry_run": true,
        "keyspaces": settings.keyspaces,
        "root_folder": settings.root_folder.display().to_string(),
        "total_actions": actions.len(),
        "actions": actions,
    });
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
    std::fs::write(path, text).map_err(|e| {
        UserError::error(format!(
            "cannot write the plan to '{}': {e}",
            path.display()
        ))
        .hint("pass a writable path to --dry-run-output")
    })?;
    ui::note(format!(
        "Dry-run plan written to {} ({} actions)",
        path.display(),
        plans.iter().map(|p| p.steps.len()).sum::<usize>()
    ));
    Ok(())
}
