//! Defines schema tracking for the commands: the drift check (`drift`, `status`, and
//! `deploy` before its lock) and the record a run leaves (`deploy` and `rollback` under
//! their lock, `drift --accept`).
//!
//! The expected schema of a keyspace is a record (`cassachange_schema`), not a replay of
//! its scripts: after a run, its before/after reads of `system_schema` (both under the
//! lock) are merged into the previous record, so what the run changed is taken and
//! drift it did not touch stays drift. A record carries the newest history row it
//! accounts for; a later row of a run that recorded nothing (the Python tool, an older
//! cassachange, a killed run) makes it stale: `drift` then says it cannot tell.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::db::{Db, DbError};
use crate::history::state::{status, HistoryRow};
use crate::schema::drift::{compare, merge, Finding, Side};
use crate::schema::record::{SchemaRecord, SchemaRecords};
use crate::schema::{read_keyspaces, KeyspaceSchema};
use crate::timefmt::format_ms;
use crate::{outln, ui};

/// What the check says about one keyspace.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    /// The live schema is the recorded one.
    Clean,
    /// The live schema differs from the recorded one.
    Drift(Vec<Finding>),
    /// Cannot tell: no record, a stale one (the differences from it, if any, may be
    /// the work of runs that recorded nothing), or no such keyspace.
    Unknown { why: String, findings: Vec<Finding> },
}

/// One keyspace's answer and the record it was measured against.
#[derive(Debug, Clone)]
pub(crate) struct KeyspaceDrift {
    pub(crate) keyspace: String,
    pub(crate) answer: Answer,
    pub(crate) record: Option<SchemaRecord>,
}

impl KeyspaceDrift {
    /// The findings, whatever the answer.
    pub(crate) fn findings(&self) -> &[Finding] {
        match &self.answer {
            Answer::Clean => &[],
            Answer::Drift(f) | Answer::Unknown { findings: f, .. } => f,
        }
    }
}

/// The history rows of `keyspace` that a record does not account for: newer than it,
/// of another run, and not a `repair` mark (which changes no schema).
fn unaccounted<'r>(
    rows: &'r [HistoryRow],
    keyspace: &str,
    record: &SchemaRecord,
) -> Vec<&'r HistoryRow> {
    rows.iter()
        .filter(|r| of(r, keyspace))
        .filter(|r| r.installed_on > record.through)
        .filter(|r| r.run_id.as_deref() != Some(record.run_id.as_str()))
        .filter(|r| r.status.as_deref() != Some(status::REPAIRED))
        .collect()
}

fn of(r: &HistoryRow, keyspace: &str) -> bool {
    r.keyspace_name
        .as_deref()
        .is_some_and(|k| k.eq_ignore_ascii_case(keyspace))
}

/// The newest history row of `keyspace` in `rows` (0 when none).
pub(crate) fn newest(rows: &[HistoryRow], keyspace: &str) -> i64 {
    rows.iter()
        .filter(|r| of(r, keyspace))
        .map(|r| r.installed_on)
        .max()
        .unwrap_or(0)
}

/// Compares the live schema of each of `keyspaces` with its record. With no record at
/// all the live schema is read only when `always_read` (`drift` reads it to say which
/// keyspaces exist; a deploy's check has nothing to compare it with).
pub(crate) async fn check(
    db: &Db,
    records: &SchemaRecords,
    rows: &[HistoryRow],
    keyspaces: &[&str],
    always_read: bool,
) -> Result<Vec<KeyspaceDrift>, DbError> {
    let names: Vec<String> = keyspaces.iter().map(|k| k.to_ascii_lowercase()).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let recorded = records.read_all().await?;
    // Nothing recorded (the Python tool's keyspaces, or before any run of ours): no
    // schema to read either.
    let live = if recorded.is_empty() && !always_read {
        names
            .iter()
            .map(|n| KeyspaceSchema {
                name: n.clone(),
                ..KeyspaceSchema::default()
            })
            .collect()
    } else {
        read_keyspaces(db, &refs).await?
    };
    Ok(names
        .into_iter()
        .zip(live)
        .map(|(keyspace, live)| {
            let record = recorded.get(&keyspace).cloned();
            let answer = if recorded.is_empty() && !always_read {
                no_record(rows, &keyspace)
            } else {
                answer(&keyspace, record.as_ref(), &live, rows)
            };
            KeyspaceDrift {
                keyspace,
                answer,
                record,
            }
        })
        .collect())
}

fn no_record(rows: &[HistoryRow], keyspace: &str) -> Answer {
    let why = if newest(rows, keyspace) == 0 {
        "no schema recorded for it yet (no deploy has run a script in it)"
    } else {
        "no schema recorded for it yet (it was deployed before cassachange recorded schemas, \
         or by the Python tool)"
    };
    Answer::Unknown {
        why: why.into(),
        findings: Vec::new(),
    }
}

fn answer(
    keyspace: &str,
    record: Option<&SchemaRecord>,
    live: &KeyspaceSchema,
    rows: &[HistoryRow],
) -> Answer {
    if live.replication.is_empty() {
        return Answer::Unknown {
            why: format!("keyspace {keyspace} does not exist"),
            findings: Vec::new(),
        };
    }
    let Some(record) = record else {
        return no_record(rows, keyspace);
    };
    let findings = compare(&record.schema, live);
    let later = unaccounted(rows, keyspace, record);
    if let Some(first) = later.iter().min_by_key(|r| r.installed_on) {
        return Answer::Unknown {
            why: format!(
                "{} history row(s) since the record (from {} at {}) came from runs that recorded \
                 no schema (the Python tool, an older cassachange, or a run that was killed): \
                 differences may be theirs",
                later.len(),
                first.script,
                format_ms(first.installed_on)
            ),
            findings,
        };
    }
    if findings.is_empty() {
        Answer::Clean
    } else {
        Answer::Drift(findings)
    }
}

/// What to do next, for people.
pub(crate) const ACCEPT_HINT: &str = "review the live schema (`cassachange baseline` prints it \
     as CQL), then record it as the expected one with `cassachange drift --accept`";

/// Prints one keyspace's answer: a line, then each finding (with `fixes`, the CQL).
pub(crate) fn print(d: &KeyspaceDrift, fixes: bool) {
    let ks = &d.keyspace;
    match &d.answer {
        Answer::Clean => {
            let when = d.record.as_ref().map_or_else(String::new, |r| {
                format!(" (recorded {} by {})", format_ms(r.recorded_at), r.source)
            });
            outln!("{ks}: schema as recorded{when}");
        }
        Answer::Drift(findings) => {
            outln!(
                "{ks}: schema drift: {} change(s) made outside the scripts",
                findings.len()
            );
            print_findings(ks, findings, fixes);
        }
        Answer::Unknown { why, findings } => {
            outln!("{ks}: cannot tell: {why}");
            if !findings.is_empty() {
                outln!(
                    "  {} difference(s) from the record (the last one before those runs):",
                    findings.len()
                );
                print_findings(ks, findings, fixes);
            }
        }
    }
}

fn print_findings(ks: &str, findings: &[Finding], fixes: bool) {
    for f in findings {
        outln!("  {}", f.message);
    }
    if !fixes {
        return;
    }
    for (side, title) in [
        (
            Side::Restore,
            "To bring the live schema back to what the scripts made",
        ),
        (
            Side::Unrecorded,
            "To remove what the live schema has that no script made",
        ),
    ] {
        let cql: Vec<&str> = findings
            .iter()
            .filter(|f| f.side == side)
            .map(|f| f.fix.as_str())
            .collect();
        if cql.is_empty() {
            continue;
        }
        outln!("  {title}:");
        outln!("    USE {};", crate::schema::quote(ks));
        for text in cql {
            for line in text.lines() {
                outln!("    {line}");
            }
        }
    }
}

/// One keyspace's answer as JSON.
pub(crate) fn value(d: &KeyspaceDrift) -> Value {
    let (state, reason) = match &d.answer {
        Answer::Clean => ("clean", None),
        Answer::Drift(_) => ("drift", None),
        Answer::Unknown { why, .. } => ("unknown", Some(why.clone())),
    };
    json!({
        "keyspace": d.keyspace,
        "state": state,
        "reason": reason,
        "recorded_at": d.record.as_ref().map(|r| format_ms(r.recorded_at)),
        "recorded_by": d.record.as_ref().map(|r| r.source.clone()),
        "findings": d.findings(),
    })
}

/// Says, before a deploy, what the check found: drift as warnings (or, under
/// `schema_drift: error`, as errors: the return value is then the refusal's message);
/// a stale record as a warning; no record says nothing (the run's end says it).
pub(crate) fn report_before_deploy(answers: &[KeyspaceDrift], fatal: bool) -> Option<String> {
    let mut drifted = Vec::new();
    for d in answers {
        match &d.answer {
            Answer::Drift(findings) => {
                drifted.push(d.keyspace.clone());
                let head = format!(
                    "schema drift in {}: {} change(s) made outside the scripts \
                     (`cassachange drift` shows the CQL to undo them):",
                    d.keyspace,
                    findings.len()
                );
                if fatal {
                    ui::err_line(format_args!("error: {head}"));
                } else {
                    ui::warn(head);
                }
                for f in findings {
                    ui::err_line(format_args!("  {}", f.message));
                }
            }
            Answer::Unknown { why, findings } if !findings.is_empty() || d.record.is_some() => {
                ui::warn(format_args!(
                    "schema of {}: cannot tell whether it drifted: {why}",
                    d.keyspace
                ));
            }
            _ => {}
        }
    }
    (fatal && !drifted.is_empty()).then(|| {
        format!(
            "schema drift in {}; nothing was deployed",
            drifted.join(", ")
        )
    })
}

/// The schemas read under a run's lock before its scripts, to merge after them.
pub(crate) struct Before {
    keyspaces: Vec<String>,
    schemas: Vec<KeyspaceSchema>,
    records: BTreeMap<String, SchemaRecord>,
}

/// Reads, under the lock, the records and the schemas of `keyspaces` (those the run
/// will run scripts in). `None` (with a warning) when they cannot be read: the run goes
/// on, recording nothing.
pub(crate) async fn before_run(
    db: &Db,
    records: &SchemaRecords,
    keyspaces: &[&str],
) -> Option<Before> {
    if keyspaces.is_empty() {
        return None;
    }
    let keyspaces: Vec<String> = keyspaces.iter().map(|k| k.to_ascii_lowercase()).collect();
    let refs: Vec<&str> = keyspaces.iter().map(String::as_str).collect();
    let read = async {
        let records = records.read_all().await?;
        let schemas = read_keyspaces(db, &refs).await?;
        Ok::<_, DbError>((records, schemas))
    };
    match read.await {
        Ok((records, schemas)) => Some(Before {
            keyspaces,
            schemas,
            records,
        }),
        Err(e) => {
            ui::warn(format_args!(
                "[schema]  the schema before the run could not be read ({e}); this run records \
                 none, and `cassachange drift` will say it cannot tell until `drift --accept`"
            ));
            None
        }
    }
}

/// Records, under the lock after a run's scripts, the schema each keyspace's scripts
/// have now made: the previous record (or, for a keyspace with no history before the
/// run, its schema before the run) merged with what the run changed. A keyspace with
/// history but no usable record gets none (and a note). A failure to read or write is
/// a warning: the scripts' history is recorded, and `drift` will say it cannot tell.
pub(crate) async fn record_after<S, H, L, O>(
    run: &cassachange_core::run::Run<'_, S, H, L, O>,
    db: &Db,
    store: &SchemaRecords,
    before: Before,
    source: &str,
) where
    S: cassachange_core::run::Session,
    H: crate::history::store::HistoryStore,
    L: crate::history::store::LockStore,
    O: cassachange_core::run::RunObserver,
{
    let refs: Vec<&str> = before.keyspaces.iter().map(String::as_str).collect();
    let after = match read_keyspaces(db, &refs).await {
        Ok(a) => a,
        Err(e) => {
            ui::warn(format_args!(
                "[schema]  the schema after the run could not be read ({e}); nothing recorded: \
                 `cassachange drift` will say it cannot tell until `drift --accept`"
            ));
            return;
        }
    };
    let rows = run.history();
    let mut out = Vec::new();
    for ((ks, was), now) in before.keyspaces.iter().zip(&before.schemas).zip(after) {
        let base = match before.records.get(ks) {
            Some(r) if unaccounted(rows, ks, r).is_empty() => r.schema.clone(),
            _ if newest(rows, ks) == 0 => was.clone(),
            _ => {
                ui::note(format_args!(
                    "[schema]  {ks}: schema not recorded: {} ({ACCEPT_HINT})",
                    if before.records.contains_key(ks) {
                        "its record predates runs that recorded none"
                    } else {
                        "it has history but no record to carry forward"
                    }
                ));
                continue;
            }
        };
        out.push(SchemaRecord {
            keyspace: ks.clone(),
            schema: merge(&base, was, &now),
            recorded_at: run.stamp(),
            run_id: run.info().run_id.clone(),
            through: newest(rows, ks),
            source: source.to_string(),
            version: crate::VERSION.to_string(),
        });
    }
    if out.is_empty() {
        return;
    }
    let written = run
        .fenced("the schema record", |budget| {
            store.write(&out, Some(budget))
        })
        .await;
    match written {
        Ok(()) => tracing::info!(
            "[schema]  recorded {}",
            out.iter()
                .map(|r| r.keyspace.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Err(e) => ui::warn(format_args!(
            "[schema]  not recorded ({}); `cassachange drift` will say it cannot tell until \
             `drift --accept`",
            e.message
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(t: i64, script: &str, st: &str, run: &str) -> HistoryRow {
        HistoryRow {
            installed_on: t,
            script: script.into(),
            status: Some(st.into()),
            keyspace_name: Some("KS".into()),
            run_id: Some(run.into()),
            ..HistoryRow::default()
        }
    }

    fn schema(tables: &[&str]) -> KeyspaceSchema {
        KeyspaceSchema {
            name: "ks".into(),
            replication: [("class".to_string(), "SimpleStrategy".to_string())]
                .into_iter()
                .collect(),
            durable_writes: true,
            tables: tables
                .iter()
                .map(|t| crate::schema::Table {
                    name: (*t).into(),
                    columns: Vec::new(),
                    options: BTreeMap::new(),
                    view: None,
                })
                .collect(),
            ..KeyspaceSchema::default()
        }
    }

    fn record(tables: &[&str], through: i64, run: &str) -> SchemaRecord {
        SchemaRecord {
            keyspace: "ks".into(),
            schema: schema(tables),
            recorded_at: through + 1,
            run_id: run.into(),
            through,
            source: "deploy".into(),
            version: "0".into(),
        }
    }

    fn state(a: &Answer) -> (&'static str, usize) {
        match a {
            Answer::Clean => ("clean", 0),
            Answer::Drift(f) => ("drift", f.len()),
            Answer::Unknown { findings, .. } => ("unknown", findings.len()),
        }
    }

    #[test]
    fn answers_by_record_and_history() {
        let live = schema(&["a", "b"]);
        // Our own run's rows, after the record's mark: accounted for.
        let rows = vec![
            row(10, "V1__a.cql", "SUCCESS", "r1"),
            row(20, "V2__b.cql", "SUCCESS", "r2"),
        ];
        let rec = record(&["a", "b"], 10, "r2");
        assert_eq!(state(&answer("ks", Some(&rec), &live, &rows)), ("clean", 0));
        let rec_a = record(&["a"], 10, "r2");
        assert_eq!(
            state(&answer("ks", Some(&rec_a), &live, &rows)),
            ("drift", 1)
        );

        // A row of a run that recorded nothing (the Python tool): cannot tell, with the
        // differences listed; a repair mark does not count.
        let mut later = rows.clone();
        later.push(row(30, "V2__b.cql", "REPAIRED", "r3"));
        assert_eq!(
            state(&answer("ks", Some(&rec), &live, &later)),
            ("clean", 0)
        );
        later.push(row(40, "V3__c.cql", "SUCCESS", "python"));
        assert_eq!(
            state(&answer("ks", Some(&rec_a), &live, &later)),
            ("unknown", 1)
        );
        match answer("ks", Some(&rec_a), &live, &later) {
            Answer::Unknown { why, .. } => assert!(
                why.starts_with("1 history row(s) since the record (from V3__c.cql at "),
                "{why}"
            ),
            other => panic!("{other:?}"),
        }
        // Another keyspace's rows do not count.
        let mut other = rows.clone();
        let mut r = row(50, "V9__x.cql", "SUCCESS", "python");
        r.keyspace_name = Some("other".into());
        other.push(r);
        assert_eq!(
            state(&answer("ks", Some(&rec), &live, &other)),
            ("clean", 0)
        );

        // No record: why depends on whether anything was ever deployed.
        let why = |rows: &[HistoryRow]| match answer("ks", None, &live, rows) {
            Answer::Unknown { why, .. } => why,
            other => panic!("{other:?}"),
        };
        assert!(why(&[]).contains("no deploy has run a script in it"));
        assert!(why(&rows).contains("or by the Python tool"));
        // A keyspace that does not exist.
        let gone = KeyspaceSchema::default();
        assert_eq!(
            state(&answer("ks", Some(&rec), &gone, &rows)),
            ("unknown", 0)
        );
    }
}
