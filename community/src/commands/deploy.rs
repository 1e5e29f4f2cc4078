//! Defines `deploy`, as the protocol table of spec §8 reads:
//! discover → connect and check keyspaces → plan → pre-flight → lock → read history →
//! plan again → execute → record → release. `--dry-run` stops after the plan (no lock,
//! no writes), and a deploy with nothing to run takes no lock; all use the one pure
//! `plan::deploy`, and a real deploy runs on the engine's run state machine.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Result;
use cassachange_core::run::{self as engine, Run, RunKind};

use super::health;
use super::{connect, plan_file, runs, tracking};
use crate::check::check;
use crate::cli::DeployArgs;
use crate::config::{DriftPolicy, SchemaDriftPolicy, Settings};
use crate::cql::Target;
use crate::edition::Edition;
use crate::exit::ExitStatus;
use crate::history::state::{HistoryRow, KeyspaceHistory};
use crate::history::store::HistoryStore;
use crate::observe::{Sinks, Start};
use crate::outln;
use crate::plan::{self, KeyspacePlan, Reason};
use crate::preflight;
use crate::schema::record::SchemaRecords;
use crate::scripts::{discover, Discovery};
use crate::ui::{self, UserError};

/// Runs `deploy`.
pub(crate) async fn run(
    args: &DeployArgs,
    settings: &Settings,
    edition: &dyn Edition,
) -> Result<ExitStatus> {
    let dry_run = args.dry_run || args.dry_run_output.is_some() || settings.dry_run;
    let gate_args = health::GateArgs::parse(args.allow_unhealthy, args.wait_healthy.as_deref())?;
    let saved = args.plan.as_deref().map(plan_file::read).transpose()?;
    let info = runs::info(settings, settings.tag.as_ref());
    let start = Start {
        audit: format!(
            "keyspaces={} tag={}",
            settings.keyspaces.join(","),
            info.tag
        ),
        notice: "deploy started".into(),
        keyspaces: settings.keyspaces.join(","),
    };
    let sinks = || Sinks::new(RunKind::Deploy, settings, edition, &info, start.clone());
    let found = match discover_off_runtime(settings.root_folder.clone(), settings.target()).await? {
        Ok(found) => found,
        // The validate gate: a refused deploy is a failed deploy, notified and audited.
        Err(refusal) if !dry_run => {
            if edition.audits() {
                if let Err(e) = connect::open_run(settings, edition).await {
                    ui::warn(format_args!(
                        "the refused deploy was not written to the audit log: {}",
                        e.message
                    ));
                }
            }
            return sinks().refuse(refusal).await;
        }
        Err(refusal) => return Err(refusal.into()),
    };
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
    // The freeze and history, read together; a freeze stops every deploy before the
    // lock (a dry run says it would).
    let flag = runs::freeze_flag(&db, settings, table.keyspace());
    let phase = std::time::Instant::now();
    let (frozen, rows) = tokio::join!(flag.read(), table.read_all());
    let frozen = frozen.map_err(UserError::from)?;
    if let Some(f) = frozen.as_ref().filter(|_| !dry_run) {
        return sinks()
            .refuse(UserError::failure(runs::frozen(f, "deploy")).hint(runs::FROZEN_HINT))
            .await;
    }
    // The pre-flight plans from history read now (a deploy plans again under the lock).
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            return Err(match health::explain_history_failure(
                &db,
                settings,
                table.keyspace(),
                &e,
                "deploy",
            )
            .await
            {
                Some(refusal) => refusal,
                None => UserError::from(e),
            }
            .into())
        }
    };
    tracing::debug!("freeze and history read in {:?}", phase.elapsed());

    // The health gate, for a deploy with something to run: nodes, schema agreement,
    // replicas for history_consistency (it may wait under --wait-healthy).
    let pending = plans(&found, &rows, &keyspaces);
    let mut health = if pending.iter().any(|p| p.to_run().next().is_some()) {
        let ddl = health::plans_change_schema(&pending);
        health::gate(
            &db,
            settings,
            table.keyspace(),
            gate_args,
            ddl,
            dry_run,
            "deploy",
        )
        .await
    } else {
        health::Verdict::unchecked()
    };
    if let Some(refusal) = health.refusal.take_if(|_| !dry_run) {
        let mut sinks = sinks();
        sinks.extra("health", health.value.clone());
        return sinks.refuse(refusal).await;
    }

    // The pre-flight, and schema drift (each keyspace's live schema against the one its
    // scripts made), side by side: both only read.
    let store = connect::schema_records(&db, settings, table.keyspace());
    let tracking = settings.schema_drift != SchemaDriftPolicy::Ignore;
    let phase = std::time::Instant::now();
    let (preflight, schema) = tokio::join!(
        async {
            if args.no_preflight {
                Ok(None)
            } else {
                preflight::check(&db, &pending).await.map(Some)
            }
        },
        async {
            if tracking {
                tracking::check(&db, &store, &rows, &keyspaces, false)
                    .await
                    .map(Some)
            } else {
                Ok(None)
            }
        }
    );
    let preflight = preflight.map_err(UserError::from)?;
    let schema = schema.map_err(UserError::from)?;
    tracing::debug!("pre-flight and schema drift in {:?}", phase.elapsed());
    let schema_value = schema
        .as_ref()
        .map(|a| serde_json::Value::Array(a.iter().map(tracking::value).collect()));
    let schema_fatal = settings.schema_drift == SchemaDriftPolicy::Error;

    // A saved plan (the document, with the cluster's name and history's fingerprints)
    // is made for a dry run that writes one, and for a deploy held to one.
    let cluster = if args.dry_run_output.is_some() || saved.is_some() {
        db.cluster_name().await.map_err(UserError::from)?
    } else {
        String::new()
    };
    let plan_doc = |plans: &[KeyspacePlan<'_>]| {
        plan_file::value(
            plans,
            &plan_file::Context {
                settings,
                cluster: &cluster,
                rows: &rows,
                preflight: preflight.as_deref(),
                schema_drift: schema_value.as_ref(),
            },
        )
    };

    if dry_run {
        let plans = plans(&found, &rows, &keyspaces);
        let drift_fatal = report_drift(&plans, settings.checksum_drift);
        print_dry_run(&plans, settings);
        if let Some(findings) = &preflight {
            print_preflight(findings);
        }
        let schema_refused = schema
            .as_deref()
            .and_then(|a| tracking::report_before_deploy(a, schema_fatal))
            .is_some();
        if let Some(path) = &args.dry_run_output {
            let text = plan_file::text(plan_doc(&plans));
            let path = path.clone();
            let n = plans.iter().map(|p| p.steps.len()).sum::<usize>();
            tokio::task::spawn_blocking(move || plan_file::write(&path, &text, n))
                .await
                .map_err(|e| UserError::error(format!("writing the plan failed: {e}")))??;
        }
        let preflight_fatal = preflight.as_ref().is_some_and(|f| !f.is_empty());
        // A keyspace stopped at an interrupted script: the deploy would fail too.
        let blocked = plans.iter().any(|p| p.blocked().is_some());
        if let Some(f) = &frozen {
            ui::err_line(format_args!(
                "error: {}",
                runs::frozen(f, "deploy").replace(
                    "; the deploy did not start",
                    "; a deploy would stop before the lock"
                )
            ));
        }
        if let Some(refusal) = &health.refusal {
            ui::err_line(format_args!("error: {}", refusal.message));
        }
        let status = if drift_fatal
            || preflight_fatal
            || blocked
            || schema_refused
            || frozen.is_some()
            || health.refusal.is_some()
        {
            ExitStatus::Failure
        } else {
            ExitStatus::Success
        };
        if crate::report::json() {
            crate::report::emit(
                status,
                crate::report::fields([
                    ("dry_run", true.into()),
                    ("plan", plan_doc(&plans)),
                    ("drift", plan_file::drift_value(&plans)),
                    (
                        "schema_drift",
                        schema_value.clone().unwrap_or(serde_json::Value::Null),
                    ),
                    ("health", health.value.clone()),
                ]),
            );
        }
        return Ok(status);
    }

    // Held to a saved plan: what would run now must be what was reviewed.
    let expected = match (&saved, &args.plan) {
        (Some(saved), Some(path)) => {
            let differences =
                plan_file::differences(saved, &plan_doc(&plans(&found, &rows, &keyspaces)));
            if !differences.is_empty() {
                return sinks().refuse(plan_refused(path, &differences)).await;
            }
            Some(plan_file::fingerprints(&rows, &keyspaces))
        }
        _ => None,
    };
    if let Some(findings) = preflight.as_deref().filter(|f| !f.is_empty()) {
        let mut sinks = sinks();
        sinks.extra("preflight", plan_file::findings_value(findings));
        return sinks.refuse(preflight_failed(findings)).await;
    }
    if let Some(message) = schema
        .as_deref()
        .and_then(|a| tracking::report_before_deploy(a, schema_fatal))
    {
        let mut sinks = sinks();
        if let Some(v) = &schema_value {
            sinks.extra("schema_drift", v.clone());
        }
        return sinks
            .refuse(UserError::failure(message).hint(
                "undo the changes (`cassachange drift` prints the CQL), record them as \
                 expected with `cassachange drift --accept`, or set schema_drift: warn",
            ))
            .await;
    }
    let mut run_sinks = sinks();
    if !health.value.is_null() {
        run_sinks.extra("health", health.value.clone());
    }
    let mut run = Run::new(
        RunKind::Deploy,
        runs::parts(&db, &table, settings),
        info.clone(),
        runs::options(settings, &info),
        run_sinks,
    );
    // Nothing to run in the history read a moment ago (no pending, blocked or always
    // script): the deploy writes nothing, so it takes no lock and reads no more.
    let noop = plans(&found, &rows, &keyspaces)
        .iter()
        .all(|p| p.blocked().is_none() && p.to_run().next().is_none());
    let begun = if noop {
        run.begin_unlocked(rows)
    } else {
        run.begin().await
    };
    let result = match begun {
        Ok(()) => {
            // Under the lock: not frozen meanwhile, and the history still the plan's.
            let moved = match frozen_under_lock(&flag, noop, "deploy").await {
                Some(refused) => Some(refused),
                None => expected.as_ref().and_then(|e| {
                    changed_under_lock(e, run.history(), &keyspaces, args.plan.as_deref())
                }),
            };
            if let Some(refused) = moved {
                Err(refused)
            } else {
                let tracker = tracking.then_some((db.as_ref(), &store));
                deploy(
                    &mut run,
                    &found,
                    &keyspaces,
                    settings.checksum_drift,
                    tracker,
                )
                .await
            }
        }
        Err(e) => Err(e),
    };
    let (outcome, sinks) = run.finish(result).await;
    sinks.close(outcome).await
}

/// The refusal of a run that took the lock after a freeze was set (read again under the
/// lock: it may have been set while the run waited). A run without the lock (a no-op
/// deploy) writes nothing and is not asked.
pub(super) async fn frozen_under_lock(
    flag: &cassachange_cassandra::freeze::FreezeFlag,
    unlocked: bool,
    command: &str,
) -> Option<engine::RunError> {
    if unlocked {
        return None;
    }
    match flag.read().await {
        Ok(None) => None,
        Ok(Some(f)) => Some(
            engine::RunError::failure(runs::frozen(&f, command).replace(
                &format!("; the {command} did not start"),
                &format!("; the {command} stopped under the lock before its first script"),
            ))
            .hint(runs::FROZEN_HINT),
        ),
        Err(e) => Some(engine::RunError::from(&e)),
    }
}

/// A deploy held to a saved plan that is not what would run now.
fn plan_refused(path: &Path, differences: &[String]) -> UserError {
    UserError::failure(format!(
        "the plan in '{}' is not what a deploy would run now; nothing was deployed:\n{}",
        path.display(),
        differences
            .iter()
            .map(|d| format!("  {d}"))
            .collect::<Vec<_>>()
            .join("\n")
    ))
    .hint("make a new plan with `cassachange deploy --dry-run-output <file>`, review it, and deploy that")
}

/// The refusal when history moved between the check of the plan and the lock.
fn changed_under_lock(
    expected: &std::collections::BTreeMap<String, String>,
    rows: &[HistoryRow],
    keyspaces: &[&str],
    path: Option<&Path>,
) -> Option<engine::RunError> {
    let now = plan_file::fingerprints(rows, keyspaces);
    let moved: Vec<&str> = now
        .iter()
        .filter(|(ks, f)| expected.get(*ks) != Some(*f))
        .map(|(ks, _)| ks.as_str())
        .collect();
    (!moved.is_empty()).then(|| {
        engine::RunError::failure(format!(
            "the plan in '{}' is not what a deploy would run now; nothing was deployed: the \
             history of {} changed while the lock was taken (another deploy ran in between)",
            path.map_or_else(String::new, |p| p.display().to_string()),
            moved.join(", ")
        ))
        .hint("make a new plan with `cassachange deploy --dry-run-output <file>`, review it, and deploy that")
    })
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
            plan::deploy(
                &found.forward,
                &found.undo,
                &KeyspaceHistory::build(rows, ks),
                ks,
            )
        })
        .collect()
}

/// Plans from the history the run read, checks drift, and executes the plans.
async fn deploy<S, H, L>(
    run: &mut Run<'_, S, H, L, Sinks<'_>>,
    found: &Discovery,
    keyspaces: &[&str],
    drift: DriftPolicy,
    tracker: Option<(&crate::db::Db, &SchemaRecords)>,
) -> Result<(), engine::RunError>
where
    S: engine::Session,
    H: HistoryStore,
    L: crate::history::store::LockStore,
{
    let plans = plans(found, run.history(), keyspaces);
    run.observer()
        .extra("drift", plan_file::drift_value(&plans));
    if report_drift(&plans, drift) {
        return Err(engine::RunError::failure(
            "checksum drift in applied versioned scripts; nothing was deployed",
        )
        .hint("restore the applied files, or set checksum_drift: warn"));
    }
    announce(&plans);
    // The schema before the scripts (read under the lock), to record what they changed.
    let touched: Vec<&str> = plans
        .iter()
        .filter(|p| p.to_run().next().is_some())
        .map(|p| p.keyspace.as_str())
        .collect();
    let before = match tracker {
        Some((db, store)) if !touched.is_empty() => tracking::before_run(db, store, &touched)
            .await
            .map(|b| (db, store, b)),
        _ => None,
    };
    let result = engine::deploy(run, &plans).await;
    if let Some((db, store, before)) = before {
        tracking::record_after(run, db, store, before, "deploy").await;
    }
    result
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
                    "{}: {} was {}: this deploy applies it again (the Python tool never did; \
                     delete or renumber the script to keep it undone)",
                    plan.keyspace,
                    step.script.filename,
                    step.reason.text()
                )),
                _ => {}
            }
        }
    }
}

/// Discovers scripts off the runtime; the inner `Err` is the validate gate's refusal.
async fn discover_off_runtime(
    root: PathBuf,
    target: Target,
) -> Result<Result<Discovery, UserError>, UserError> {
    tokio::task::spawn_blocking(move || discover_checked(&root, target))
        .await
        .map_err(|e| UserError::error(format!("discovering scripts failed: {e}")))?
}

/// Discovers scripts (`Err`: the folder cannot be read) and refuses a tree that
/// `validate` would fail for `target` (the inner `Err`).
fn discover_checked(
    root: &Path,
    target: Target,
) -> Result<Result<Discovery, UserError>, UserError> {
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
        return Ok(Err(UserError::failure(format!(
            "{} script error(s) in {}; nothing was deployed:\n{}",
            report.errors(),
            root.display(),
            first.join("\n")
        ))
        .hint("run `cassachange validate` for the full report")));
    }
    Ok(Ok(found))
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
