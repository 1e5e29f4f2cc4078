//! Defines `deploy`, as the protocol table of spec §8 reads:
//! discover → connect and check keyspaces → lock → read history → plan → execute →
//! record → release. `--dry-run` stops after the plan (no lock, no writes); both use
//! the one pure `plan::deploy`, and a real deploy runs on the shared run driver.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::json;

use super::connect::{self, db_error};
use crate::check::check;
use crate::cli::DeployArgs;
use crate::config::{DriftPolicy, Settings};
use crate::cql::Target;
use crate::edition::Edition;
use crate::exit::ExitStatus;
use crate::history::state::{HistoryRow, KeyspaceHistory};
use crate::history::store::HistoryStore;
use crate::outln;
use crate::plan::{self, KeyspacePlan, Reason};
use crate::preflight;
use crate::run::{Action, Run, RunInfo, RunKind, Start};
use crate::scripts::{discover, Discovery};
use crate::ui::{self, UserError};

/// Runs `deploy`.
pub(crate) async fn run(
    args: &DeployArgs,
    settings: &Settings,
    edition: &dyn Edition,
) -> Result<ExitStatus> {
    let dry_run = args.dry_run || args.dry_run_output.is_some() || settings.dry_run;
    let found = discover_off_runtime(settings.root_folder.clone(), settings.target()).await?;
    if found.forward.is_empty() {
        ui::warn(format_args!(
            "no migration scripts found in {}",
            settings.root_folder.display()
        ));
        return Ok(ExitStatus::Success);
    }
    let phase = std::time::Instant::now();
    let (db, table, keyspaces) = connect::open_run(settings, edition).await?;
    tracing::debug!("connected in {:?}", phase.elapsed());

    // The pre-flight plans from history read now (a deploy plans again under the lock).
    let phase = std::time::Instant::now();
    let rows = table.read_all().await.map_err(|e| db_error(&e))?;
    tracing::debug!("history read in {:?}", phase.elapsed());
    let preflight = if args.no_preflight {
        None
    } else {
        let phase = std::time::Instant::now();
        let findings = preflight::check(&db, &plans(&found, &rows, &keyspaces))
            .await
            .map_err(|e| db_error(&e))?;
        tracing::debug!("pre-flight in {:?}", phase.elapsed());
        Some(findings)
    };

    if dry_run {
        let plans = plans(&found, &rows, &keyspaces);
        let drift_fatal = report_drift(&plans, settings.checksum_drift);
        print_dry_run(&plans, settings);
        if let Some(findings) = &preflight {
            print_preflight(findings);
        }
        if let Some(path) = &args.dry_run_output {
            let text = plan_json(&plans, settings, preflight.as_deref());
            let path = path.clone();
            let n = plans.iter().map(|p| p.steps.len()).sum::<usize>();
            tokio::task::spawn_blocking(move || write_plan_json(&path, &text, n))
                .await
                .map_err(|e| UserError::error(format!("writing the plan failed: {e}")))??;
        }
        let preflight_fatal = preflight.as_ref().is_some_and(|f| !f.is_empty());
        // A keyspace stopped at an interrupted script: the deploy would fail too.
        let blocked = plans
            .iter()
            .any(|p| p.steps.iter().any(|s| s.reason.blocks()));
        let status = if drift_fatal || preflight_fatal || blocked {
            ExitStatus::Failure
        } else {
            ExitStatus::Success
        };
        if crate::report::json() {
            crate::report::emit(
                status,
                crate::report::fields([
                    ("dry_run", true.into()),
                    ("plan", plan_value(&plans, settings, preflight.as_deref())),
                    ("drift", drift_value(&plans)),
                ]),
            );
        }
        return Ok(status);
    }

    if let Some(findings) = preflight.filter(|f| !f.is_empty()) {
        let err = preflight_failed(&findings);
        if crate::report::json() {
            crate::report::emit(
                err.status,
                crate::report::fields([
                    ("dry_run", false.into()),
                    ("preflight", findings_value(&findings)),
                    (
                        "error",
                        crate::report::error_value(&err.message, &err.hints),
                    ),
                ]),
            );
        }
        return Err(err.into());
    }
    let info = RunInfo::new(settings, settings.tag.as_ref());
    let start = Start {
        audit: format!("keyspaces={} tag={}", keyspaces.join(","), info.tag),
        notice: "deploy started".into(),
        keyspaces: keyspaces.join(","),
    };
    let mut run =
        match Run::begin(RunKind::Deploy, settings, edition, db, &table, info, start).await {
            Ok(run) => run,
            Err(done) => return done,
        };
    let result = deploy(&mut run, &found, &keyspaces).await;
    run.finish(result).await
}

/// The plan of every keyspace, from one read of history.
fn plans<'a>(
    found: &'a Discovery,
    rows: &[HistoryRow],
    keyspaces: &[&str],
) -> Vec<KeyspacePlan<'a>> {
    keyspaces
        .iter()
        .map(|ks| {
            let history = KeyspaceHistory::build(rows, ks);
            let mut plan = plan::deploy(&found.forward, &history, ks);
            // An undo script a rollback started and never recorded stops the keyspace
            // before anything runs: its version reads as applied, half undone maybe.
            let stops: Vec<plan::Step<'a>> = found
                .undo
                .iter()
                .filter_map(|script| {
                    plan::interrupted_reason(&history, &script.filename)
                        .map(|reason| plan::Step { script, reason })
                })
                .collect();
            plan.steps.splice(0..0, stops);
            plan
        })
        .collect()
}

/// Executes the plans under the lock: a failed script stops its keyspace; anything
/// that stops the run (`Err`) stops every keyspace.
async fn deploy(run: &mut Run<'_>, found: &Discovery, keyspaces: &[&str]) -> Result<(), UserError> {
    let plans = plans(found, run.history(), keyspaces);
    run.extra("drift", drift_value(&plans));
    if report_drift(&plans, run.settings().checksum_drift) {
        return Err(UserError::failure(
            "checksum drift in applied versioned scripts; nothing was deployed",
        )
        .hint("restore the applied files, or set checksum_drift: warn"));
    }
    announce(&plans);
    run.expect(plans.iter().map(|p| p.to_run().count()).sum());
    let tag_note = if run.info().tag.is_empty() {
        String::new()
    } else {
        format!(" | tag {}", run.info().tag)
    };
    for plan in &plans {
        let ks = plan.keyspace.as_str();
        if keyspaces.len() > 1 {
            outln!("== {ks} ==");
        }
        let errors_before = run.errors();
        let mut ran = 0usize;
        let result = run_keyspace(run, plan, &mut ran).await;
        let errors = run.errors() - errors_before;
        let mark = if errors == 0 && result.is_ok() {
            "✓"
        } else {
            "✗"
        };
        let stopped = if result.is_err() { " (stopped)" } else { "" };
        run.summary(format!(
            "{mark} {ks}: run {ran} | skip {} | errors {errors}{tag_note}{stopped}",
            plan.skipped()
        ));
        result?;
    }
    Ok(())
}

async fn run_keyspace(
    run: &mut Run<'_>,
    plan: &KeyspacePlan<'_>,
    ran: &mut usize,
) -> Result<(), UserError> {
    let ks = plan.keyspace.as_str();
    for step in &plan.steps {
        let script = step.script;
        if step.reason.blocks() {
            run.interrupted_script(ks, script, &step.reason.text())?;
            ui::note(format_args!(
                "stopping keyspace {ks} at a script an earlier run left unfinished"
            ));
            break;
        }
        if !step.reason.runs() {
            tracing::info!("[SKIP] {} {}", script.filename, step.reason.text());
            if run.settings().verbose {
                outln!("[SKIP]    {:<44} {}", script.filename, step.reason.text());
            }
            run.skip(ks, script, step.reason.text())?;
            continue;
        }
        if run
            .step(ks, Action::Apply(script), &step.reason.text())
            .await?
        {
            *ran += 1;
        } else {
            ui::note(format_args!(
                "stopping keyspace {ks} at its first failed script"
            ));
            break;
        }
    }
    Ok(())
}

/// Warns, before anything runs, about scripts that run out of order or re-apply a
/// rolled-back version (the original never re-applied those).
fn announce(plans: &[KeyspacePlan<'_>]) {
    for plan in plans {
        for step in &plan.steps {
            match &step.reason {
                Reason::PendingOutOfOrder { highest } => ui::warn(format_args!(
                    "{}: {} is below the applied version {highest}; it runs now, out of order",
                    plan.keyspace, step.script.filename
                )),
                Reason::ReapplyRolledBack { .. } => ui::warn(format_args!(
                    "{}: {} was {}: this deploy applies it again (the Python tool never did;                      delete or renumber the script to keep it undone)",
                    plan.keyspace,
                    step.script.filename,
                    step.reason.text()
                )),
                _ => {}
            }
        }
    }
}

async fn discover_off_runtime(root: PathBuf, target: Target) -> Result<Discovery, UserError> {
    tokio::task::spawn_blocking(move || discover_checked(&root, target))
        .await
        .map_err(|e| UserError::error(format!("discovering scripts failed: {e}")))?
}

/// Discovers scripts and refuses a tree that `validate` would fail (for `target`).
fn discover_checked(root: &Path, target: Target) -> Result<Discovery, UserError> {
    let found = discover(root).map_err(|e| {
        UserError::error(e.to_string())
            .hint("set root_folder in cassachange.yml or pass --root-folder")
    })?;
    let report = check(&found, target);
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
                ui::err_line(format_args!("error: {msg}"));
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
        let mut stop = None;
        for step in &p.steps {
            // Nothing after a script an earlier run left unfinished would run.
            if step.reason.blocks() {
                outln!(
                    "[STOP]    {:<44} {}",
                    step.script.filename,
                    step.reason.text()
                );
                stop = Some(&step.script.filename);
                break;
            }
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
        match stop {
            None => outln!("✓ {}: would run {run} | skip {}", p.keyspace, p.skipped()),
            Some(file) => outln!(
                "✗ {}: would run {run} | skip {} | stops at {file}",
                p.keyspace,
                p.skipped()
            ),
        }
    }
}

/// The pre-flight's findings, for the dry run.
fn print_preflight(findings: &[preflight::Finding]) {
    if findings.is_empty() {
        outln!(
            "Pre-flight: the server accepts every pending statement; none is predicted to fail."
        );
        return;
    }
    outln!(
        "Pre-flight: {} statement(s) would fail; a deploy would stop before taking the lock:",
        findings.len()
    );
    for f in findings {
        outln!("  {}", f.describe());
    }
}

fn preflight_failed(findings: &[preflight::Finding]) -> UserError {
    let shown: Vec<String> = findings
        .iter()
        .take(20)
        .map(preflight::Finding::describe)
        .collect();
    let more = findings.len().saturating_sub(shown.len());
    let mut message = format!(
        "pre-flight: {} statement(s) would fail; nothing was deployed:\n{}",
        findings.len(),
        shown.join("\n")
    );
    if more > 0 {
        let _ = write!(
            message,
            "\n… and {more} more (cassachange deploy --dry-run lists them all)"
        );
    }
    UserError::failure(message)
        .hint("fix the scripts, or deploy with --no-preflight to run them anyway")
}

fn plan_json(
    plans: &[KeyspacePlan<'_>],
    settings: &Settings,
    preflight: Option<&[preflight::Finding]>,
) -> String {
    let doc = plan_value(plans, settings, preflight);
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
    crate::redact::redact(&text).into_owned()
}

/// The pre-flight findings as JSON.
fn findings_value(findings: &[preflight::Finding]) -> serde_json::Value {
    serde_json::Value::Array(
        findings
            .iter()
            .map(|f| {
                json!({
                    "keyspace": f.keyspace,
                    "script": f.file,
                    "line": f.line,
                    "reason": f.reason,
                })
            })
            .collect(),
    )
}

/// Applied scripts whose files changed, as JSON.
fn drift_value(plans: &[KeyspacePlan<'_>]) -> serde_json::Value {
    serde_json::Value::Array(
        plans
            .iter()
            .flat_map(|p| {
                p.drift.iter().map(move |d| {
                    json!({
                        "keyspace": p.keyspace,
                        "script": d.script.filename,
                        "applied_checksum": d.applied_checksum,
                        "file_checksum": d.script.checksum,
                    })
                })
            })
            .collect(),
    )
}

/// The dry-run plan in the original's shape (plus `preflight`).
fn plan_value(
    plans: &[KeyspacePlan<'_>],
    settings: &Settings,
    preflight: Option<&[preflight::Finding]>,
) -> serde_json::Value {
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
    let mut doc = doc;
    if let Some(findings) = preflight {
        doc["preflight"] = findings_value(findings);
    }
    doc
}

fn write_plan_json(path: &Path, text: &str, actions: usize) -> Result<(), UserError> {
    std::fs::write(path, text).map_err(|e| {
        UserError::error(format!(
            "cannot write the plan to '{}': {e}",
            path.display()
        ))
        .hint("pass a writable path to --dry-run-output")
    })?;
    ui::note(format_args!(
        "Dry-run plan written to {} ({actions} actions)",
        path.display()
    ));
    Ok(())
}
