//! Defines `drift`: each target keyspace's live schema against the one its applied
//! scripts made (the record, see `tracking`), every difference with the CQL that undoes
//! it; exit 0 (none), 1 (drift) or 2 (cannot tell). `--accept` records the live schema
//! as the expected one, under the deploy lock, audited by the plugin.

use anyhow::Result;
use cassachange_core::run::{self as engine, Run, RunKind};

use super::tracking::{self, Answer, KeyspaceDrift, ACCEPT_HINT};
use super::{connect, runs};
use crate::cli::DriftArgs;
use crate::config::Settings;
use crate::edition::{AuditEvent, Edition, EventType};
use crate::exit::ExitStatus;
use crate::history::store::HistoryStore;
use crate::observe::{Sinks, Start};
use crate::outln;
use crate::schema::drift::compare;
use crate::schema::read_keyspaces;
use crate::schema::record::{SchemaRecord, SchemaRecords};
use crate::ui::UserError;

/// Runs `drift`.
pub(crate) async fn run(
    args: &DriftArgs,
    settings: &Settings,
    edition: &dyn Edition,
) -> Result<ExitStatus> {
    let (db, table, keyspaces) = connect::open_run(settings, edition).await?;
    let store = connect::schema_records(&db, settings, table.keyspace());
    if args.accept {
        return accept(settings, edition, &db, &table, &store, &keyspaces).await;
    }
    let rows = table.read_all().await.map_err(UserError::from)?;
    let answers = tracking::check(&db, &store, &rows, &keyspaces, true)
        .await
        .map_err(UserError::from)?;
    for (i, d) in answers.iter().enumerate() {
        if i > 0 {
            outln!();
        }
        tracking::print(d, true);
    }
    let status = status(&answers);
    if status == ExitStatus::Error {
        crate::ui::note(format_args!("hint: {ACCEPT_HINT}"));
    }
    if crate::report::json() {
        crate::report::emit(
            status,
            crate::report::fields([(
                "keyspaces",
                answers
                    .iter()
                    .map(tracking::value)
                    .collect::<Vec<_>>()
                    .into(),
            )]),
        );
    }
    Ok(status)
}

/// 1 when any keyspace drifted, else 2 when any cannot be told, else 0.
fn status(answers: &[KeyspaceDrift]) -> ExitStatus {
    if answers.iter().any(|d| matches!(d.answer, Answer::Drift(_))) {
        ExitStatus::Failure
    } else if answers
        .iter()
        .any(|d| matches!(d.answer, Answer::Unknown { .. }))
    {
        ExitStatus::Error
    } else {
        ExitStatus::Success
    }
}

/// `drift --accept`: under the deploy lock, reads each keyspace's live schema and
/// records it as the expected one, saying what that accepts; one SCHEMA_ACCEPT audit
/// row per keyspace.
async fn accept(
    settings: &Settings,
    edition: &dyn Edition,
    db: &std::sync::Arc<crate::db::Db>,
    table: &cassachange_cassandra::HistoryTable,
    store: &SchemaRecords,
    keyspaces: &[&str],
) -> Result<ExitStatus> {
    let info = runs::info(settings, None);
    let sinks = Sinks::new(RunKind::Accept, settings, edition, &info, Start::default());
    let mut run = Run::new(
        RunKind::Accept,
        runs::parts(db, table, settings),
        info.clone(),
        runs::options(settings, &info),
        sinks,
    );
    let mut accepted = Vec::new();
    let result = match run.begin().await {
        Ok(()) => record(&run, db, store, keyspaces, edition, &mut accepted).await,
        Err(e) => Err(e),
    };
    let (outcome, mut sinks) = run.finish(result).await;
    sinks.extra("accepted", accepted.into());
    sinks.close(outcome).await
}

async fn record<S, H, L, O>(
    run: &Run<'_, S, H, L, O>,
    db: &crate::db::Db,
    store: &SchemaRecords,
    keyspaces: &[&str],
    edition: &dyn Edition,
    accepted: &mut Vec<serde_json::Value>,
) -> Result<(), engine::RunError>
where
    S: engine::Session,
    H: HistoryStore,
    L: crate::history::store::LockStore,
    O: engine::RunObserver,
{
    let names: Vec<String> = keyspaces.iter().map(|k| k.to_ascii_lowercase()).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let before = store
        .read_all()
        .await
        .map_err(|e| engine::RunError::from(&e))?;
    let live = read_keyspaces(db, &refs)
        .await
        .map_err(|e| engine::RunError::from(&e))?;
    if let Some(missing) = live.iter().find(|s| s.replication.is_empty()) {
        return Err(engine::RunError::failure(format!(
            "keyspace {} does not exist; nothing was recorded",
            missing.name
        ))
        .hint("create it, or leave it out with --keyspace/--keyspaces"));
    }
    let mut records = Vec::new();
    let mut said = Vec::new();
    for schema in live {
        let ks = schema.name.clone();
        let changes = before.get(&ks).map(|old| compare(&old.schema, &schema));
        let said_line = match &changes {
            None => format!("{ks}: recorded the live schema as expected (its first record)"),
            Some(c) if c.is_empty() => {
                format!("{ks}: recorded the live schema as expected (as it was recorded)")
            }
            Some(c) => {
                let mut text = format!(
                    "{ks}: recorded the live schema as expected, accepting {} change(s):",
                    c.len()
                );
                for f in c {
                    text.push_str("\n  ");
                    text.push_str(&f.message);
                }
                text
            }
        };
        let changes = changes.map_or(0, |c| c.len());
        accepted.push(serde_json::json!({ "keyspace": ks, "accepted_changes": changes }));
        said.push((ks.clone(), said_line, changes));
        records.push(SchemaRecord {
            keyspace: ks.clone(),
            through: tracking::newest(run.history(), &ks),
            schema,
            recorded_at: run.stamp(),
            run_id: run.info().run_id.clone(),
            source: "accept".into(),
            version: crate::VERSION.to_string(),
        });
    }
    run.fenced("the schema record", |budget| {
        store.write(&records, Some(budget))
    })
    .await?;
    for (ks, line, changes) in said {
        outln!("{line}");
        edition
            .audit(
                &AuditEvent::new(
                    EventType::SchemaAccept,
                    &run.info().run_id,
                    &run.info().operator,
                    format!("the live schema recorded as expected; {changes} change(s) accepted"),
                )
                .on(&ks, "", "ACCEPTED"),
            )
            .map_err(engine::RunError::from)?;
    }
    Ok(())
}
