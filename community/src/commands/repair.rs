//! Defines `repair` (spec §19): list FAILED scripts and the lock; mark FAILED scripts
//! for retry with REPAIRED rows (the FAILED rows stay); force-release the lock.

use std::collections::BTreeSet;

use anyhow::Result;

use super::connect::{self, db_error};
use crate::cli::RepairArgs;
use crate::config::Settings;
use crate::edition::{AuditEvent, Edition, EventType};
use crate::exit::ExitStatus;
use crate::history::lock::{LockInfo, LockTable};
use crate::history::state::{status, HistoryRow, KeyspaceHistory, State};
use crate::history::table::HistoryTable;
use crate::outln;
use crate::timefmt::format_ms;

/// Runs `repair`.
pub(crate) async fn run(
    args: &RepairArgs,
    settings: &Settings,
    edition: &dyn Edition,
) -> Result<ExitStatus> {
    let history_ks = settings.require_history_keyspace()?;
    let db = connect::open(settings, &[history_ks]).await?;
    edition.attach(db.clone(), history_ks);
    let table = HistoryTable::new(&db, history_ks, &settings.history_table);
    table.ensure().await.map_err(|e| db_error(&e))?;
    let locks = LockTable::new(history_ks);
    let operator = connect::operator(settings);
    let run_id = connect::new_run_id();

    let held = locks.status(&db).await.map_err(|e| db_error(&e))?;
    if args.release_lock {
        print_lock(held.as_ref());
        let released = locks.force_release(&db).await.map_err(|e| db_error(&e))?;
        match released {
            Some(info) => {
                outln!(
                    "Deploy lock force-released (was held by {}).",
                    info.locked_by
                );
                edition.audit(&AuditEvent::new(
                    EventType::LockForceRelease,
                    &run_id,
                    &operator,
                    format!(
                        "forced via cassachange repair --release-lock; was {}",
                        info.describe()
                    ),
                ))?;
            }
            None => outln!("No deploy lock to release."),
        }
        return Ok(ExitStatus::Success);
    }

    let rows = table.read_all().await.map_err(|e| db_error(&e))?;
    let scope: BTreeSet<String> = if settings.keyspaces.is_empty() {
        rows.iter()
            .filter_map(|r| r.keyspace_name.clone())
            .filter(|k| !k.is_empty())
            .collect()
    } else {
        settings.keyspaces.iter().cloned().collect()
    };
    let mut failed: Vec<(String, HistoryRow)> = Vec::new();
    for ks in &scope {
        let h = KeyspaceHistory::build(&rows, ks);
        let mut list: Vec<HistoryRow> = h
            .files
            .values()
            .filter(|e| e.state == State::Failed)
            .map(|e| e.last.clone())
            .filter(|r| args.script.as_ref().is_none_or(|s| &r.script == s))
            .collect();
        list.sort_by_key(|r| r.installed_on);
        failed.extend(list.into_iter().map(|r| (ks.clone(), r)));
    }

    if failed.is_empty() {
        let what = args
            .script
            .as_ref()
            .map(|s| format!(" for script '{s}'"))
            .unwrap_or_default();
        outln!("No FAILED scripts{what} in {}.", scope_text(&scope));
    } else {
        let mut current = String::new();
        for (ks, r) in &failed {
            if *ks != current {
                outln!("FAILED scripts in {ks}:");
                current.clone_from(ks);
            }
            outln!(
                "  {:<44} FAILED  {}  run_id={}",
                r.script,
                format_ms(r.installed_on),
                r.run_id.as_deref().unwrap_or("")
            );
        }
    }
    outln!();
    print_lock(held.as_ref());
    if let Some(info) = &held {
        explain_holder(info, &rows);
    }

    if args.list || failed.is_empty() {
        if !failed.is_empty() {
            outln!();
            outln!(
                "Run without --list to mark these scripts as REPAIRED (deploy then retries them)."
            );
        }
        return Ok(ExitStatus::Success);
    }
    for (ks, r) in &failed {
        let row = HistoryRow {
            installed_on: 0,
            script: r.script.clone(),
            script_type: Some("repair".into()),
            version: None,
            description: Some(format!("Repaired by {operator}")),
            checksum: Some(String::new()),
            execution_time: Some(0),
            status: Some(status::REPAIRED.into()),
            installed_by: Some(operator.clone()),
            keyspace_name: Some(ks.clone()),
            tag: Some(String::new()),
            run_id: Some(run_id.clone()),
        };
        table.insert(&row).await.map_err(|e| db_error(&e))?;
        edition.audit(
            &AuditEvent::new(
                EventType::Repair,
                &run_id,
                &operator,
                "marked for retry by repair command",
            )
            .on(ks, &r.script, status::REPAIRED),
        )?;
    }
    outln!();
    outln!(
        "Marked {} script(s) as REPAIRED. Run cassachange deploy to retry them.",
        failed.len()
    );
    Ok(ExitStatus::Success)
}

fn scope_text(scope: &BTreeSet<String>) -> String {
    if scope.is_empty() {
        "any keyspace".into()
    } else {
        scope.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

fn print_lock(held: Option<&LockInfo>) {
    match held {
        Some(info) => {
            outln!("Deploy lock: HELD");
            outln!("  {}", info.describe());
        }
        None => outln!("Deploy lock: free"),
    }
}

/// Says how far the lock holder's run got, from its history rows, so a crashed run can
/// be told from a running one.
fn explain_holder(info: &LockInfo, rows: &[HistoryRow]) {
    let mut mine: Vec<&HistoryRow> = rows
        .iter()
        .filter(|r| r.run_id.as_deref() == Some(info.run_id.as_str()))
        .collect();
    mine.sort_by_key(|r| r.installed_on);
    match mine.last() {
        Some(last) => outln!(
            "  that run recorded {} script(s); the last: {} {} in {} at {}",
            mine.len(),
            last.script,
            last.status.as_deref().unwrap_or(""),
            last.keyspace_name.as_deref().unwrap_or(""),
            format_ms(last.installed_on)
        ),
        None => outln!("  that run has recorded no script yet"),
    }
    outln!(
        "  if no deploy is running, it crashed: the script after its last recorded one may be \
         partly applied; release with `cassachange repair --release-lock`, then deploy again"
    );
}
