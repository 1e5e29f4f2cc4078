//! Defines `rollback` (spec §9, §14): undo applied versions with their U scripts, newest
//! first: the latest, everything above `--target-version`, or everything of `--tag`.
//! Every selected version must have an undo script before anything runs.

use anyhow::Result;

use super::connect::{self, db_error};
use crate::cli::RollbackArgs;
use crate::config::Settings;
use crate::edition::{AuditEvent, Edition, EventType};
use crate::execute::{outcome_row, run_script, RunInfo};
use crate::exit::ExitStatus;
use crate::history::state::{status, HistoryRow, KeyspaceHistory};
use crate::history::table::HistoryTable;
use crate::outln;
use crate::plan::{self, RollbackTarget, UndoStep};
use crate::scripts::discover;
use crate::ui::{self, UserError};
use crate::version::Version;

/// Runs `rollback`.
pub(crate) async fn run(
    args: &RollbackArgs,
    settings: &Settings,
    edition: &dyn Edition,
) -> Result<ExitStatus> {
    let target = match (&args.target_version, &args.tag) {
        (Some(v), _) => RollbackTarget::Above(
            Version::parse(v).map_err(|e| UserError::error(format!("--target-version: {e}")))?,
        ),
        (None, Some(t)) => RollbackTarget::Tag(t.clone()),
        (None, None) => RollbackTarget::Latest,
    };
    let dry_run = args.dry_run || settings.dry_run;
    let found = discover(&settings.root_folder).map_err(|e| {
        UserError::error(e.to_string())
            .hint("set root_folder in cassachange.yml or pass --root-folder")
    })?;
    if found.undo.is_empty() {
        return Err(UserError::failure(format!(
            "no undo scripts (U<version>__*.cql) found in {}",
            settings.root_folder.display()
        ))
        .into());
    }
    let undo = found.undo_by_version();
    let (db, history_ks, keyspaces) = connect::open_run(settings, edition).await?;
    let table = HistoryTable::new(&db, history_ks, &settings.history_table);
    let run = RunInfo::new(settings, args.tag.as_ref().or(settings.tag.as_ref()));

    let lock = if dry_run {
        None
    } else {
        table.ensure().await.map_err(|e| db_error(&e))?;
        Some(connect::take_lock(&db, history_ks, &run, settings).await?)
    };

    let result = async {
        if let Some((_, identity)) = &lock {
            edition.audit(&AuditEvent::new(
                EventType::LockAcquire,
                &run.run_id,
                &run.operator,
                identity.clone(),
            ))?;
        }
        let rows = table.read_all().await.map_err(|e| db_error(&e))?;
        let plans: Vec<(&str, Vec<UndoStep<'_>>)> = keyspaces
            .iter()
            .map(|ks| {
                (
                    *ks,
                    plan::rollback(&undo, &KeyspaceHistory::build(&rows, ks), &target),
                )
            })
            .collect();
        let missing: Vec<String> = plans
            .iter()
            .flat_map(|(ks, steps)| {
                steps.iter().filter(|s| s.undo.is_none()).map(move |s| {
                    format!(
                        "{ks}: version {} has no undo script (expected U{}__*.cql)",
                        s.version, s.version
                    )
                })
            })
            .collect();
        if !missing.is_empty() {
            return Err(UserError::failure(format!(
                "cannot roll back; nothing was undone:\n{}",
                missing.join("\n")
            ))
            .hint("add the missing U scripts, or pick a narrower --target-version / --tag"));
        }
        if dry_run {
            outln!("Dry run: no lock taken, nothing written.");
        } else {
            edition.audit(&AuditEvent::new(
                EventType::RollbackStart,
                &run.run_id,
                &run.operator,
                format!(
                    "keyspaces={} target={} tag={}",
                    keyspaces.join(","),
                    describe(&target),
                    run.tag
                ),
            ))?;
        }
        let mut errors = 0;
        for (ks, steps) in &plans {
            outln!("ROLLBACK  keyspace={ks}  target={}", describe(&target));
            if steps.is_empty() {
                outln!("  nothing to roll back");
                continue;
            }
            if dry_run {
                for s in steps {
                    let u = s.undo.expect("checked above");
                    outln!("[UNDO]    {:<44} version {}", u.filename, s.version);
                }
                continue;
            }
            db.use_keyspace(ks).await.map_err(|e| db_error(&e))?;
            for s in steps {
                let u = s.undo.expect("checked above");
                if crate::execute::interrupted() {
                    return Err(UserError::failure(format!(
                        "interrupted; stopped before {}",
                        u.filename
                    ))
                    .hint("undo scripts that ran are recorded; run rollback again to continue")
                    .status(ExitStatus::Interrupted));
                }
                if let Some((l, _)) = &lock {
                    l.check().await.map_err(|e| {
                        UserError::failure(format!("{e}; stopped before {}", u.filename))
                    })?;
                }
                let (elapsed, r) = run_script(&db, u, settings.timeout).await;
                table
                    .insert(&outcome_row(u, ks, &run, r.is_ok(), elapsed))
                    .await
                    .map_err(|e| db_error(&e))?;
                let ms = elapsed.as_millis();
                match r {
                    Ok(()) => {
                        table
                            .insert(&sentinel(&s.version, ks, &run))
                            .await
                            .map_err(|e| db_error(&e))?;
                        outln!(
                            "[UNDO]    {:<44} {ms}ms  version {} rolled back",
                            u.filename,
                            s.version
                        );
                        edition.audit(
                            &AuditEvent::new(
                                EventType::ScriptRun,
                                &run.run_id,
                                &run.operator,
                                format!("{ms}ms rollback"),
                            )
                            .on(ks, &u.filename, status::SUCCESS),
                        )?;
                    }
                    Err(f) => {
                        errors += 1;
                        outln!("[FAIL]    {:<44} {ms}ms", u.filename);
                        ui::report(&anyhow::Error::new(UserError::failure(f.describe(u))));
                        edition.audit(
                            &AuditEvent::new(
                                EventType::ScriptFailed,
                                &run.run_id,
                                &run.operator,
                                f.error.to_string(),
                            )
                            .on(ks, &u.filename, status::FAILED),
                        )?;
                        break;
                    }
                }
            }
            outln!(
                "{} {ks}: rollback {}",
                if errors == 0 { "✓" } else { "✗" },
                if errors == 0 { "complete" } else { "FAILED" }
            );
        }
        Ok(errors)
    }
    .await;

    if let Some((l, _)) = lock {
        match l.release().await {
            Ok(true) => {
                outln!("[lock]    released");
                edition.audit(&AuditEvent::new(
                    EventType::LockRelease,
                    &run.run_id,
                    &run.operator,
                    "",
                ))?;
            }
            Ok(false) => ui::warn("the deploy lock was no longer ours at release"),
            Err(e) => ui::warn(format!(
                "could not release the deploy lock: {e}; it expires after its TTL"
            )),
        }
    }
    let errors = result?;
    if !dry_run {
        let ev = if errors == 0 {
            EventType::RollbackEnd
        } else {
            EventType::RollbackFailed
        };
        edition.audit(&AuditEvent::new(
            ev,
            &run.run_id,
            &run.operator,
            format!("total_errors={errors} tag={}", run.tag),
        ))?;
    }
    if crate::execute::interrupted() {
        return Ok(ExitStatus::Interrupted);
    }
    Ok(if errors == 0 {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    })
}

fn describe(t: &RollbackTarget) -> String {
    match t {
        RollbackTarget::Latest => "latest".into(),
        RollbackTarget::Above(v) => format!("above {v}"),
        RollbackTarget::Tag(t) => format!("tag={t}"),
    }
}

/// The original's rollback sentinel: `ROLLBACK_V<version>`, type undo, ROLLED_BACK.
fn sentinel(version: &Version, keyspace: &str, run: &RunInfo) -> HistoryRow {
    HistoryRow {
        installed_on: 0,
        script: format!("ROLLBACK_V{version}"),
        script_type: Some("undo".into()),
        version: Some(version.to_string()),
        description: Some(format!("Rollback of version {version}")),
        checksum: Some(String::new()),
        execution_time: Some(0),
        status: Some(status::ROLLED_BACK.into()),
        installed_by: Some(run.operator.clone()),
        keyspace_name: Some(keyspace.to_string()),
        tag: Some(run.tag.clone()),
        run_id: Some(run.run_id.clone()),
    }
}
