//! Defines access to `change_history` (named by `history_table`) and `deploy_lock` in
//! the history keyspace: created with the original's schema, old tables upgraded with
//! `tag` and `run_id`, rows read and written with bound values only, at the
//! consistency levels of `history_consistency`.
//!
//! Tables are created with a table id derived from their name (`WITH id = …`), so two
//! first-ever runs creating them at once on different coordinators create the same
//! table, not two with divergent ids (whose Paxos state and data would split).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use cassachange_config::HistoryConsistency;
use cassachange_core::history::state::{status, HistoryRow, Text, NO_OUTCOME};
use cassachange_core::history::store::HistoryStore;

use crate::db::{Consistency, CqlValue, Db, DbError, Values};

/// The intent table in the history keyspace.
const INTENT_TABLE: &str = "cassachange_intent";

/// The columns, in the order they are read and written.
const COLUMNS: &[&str] = &[
    "installed_on",
    "script",
    "script_type",
    "version",
    "description",
    "checksum",
    "execution_time",
    "status",
    "installed_by",
    "keyspace_name",
    "tag",
    "run_id",
];

/// Validates a keyspace or table name for use in CQL text: the original builds CQL
/// with plain names, so names are unquoted identifiers (case-insensitive).
/// What [`check_identifier`] accepts, for messages.
pub const IDENTIFIER_RULE: &str =
    "use letters, digits and '_' (starting with a letter, at most 48)";

pub fn check_identifier(what: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 48
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} '{name}' is not a valid name: {IDENTIFIER_RULE}"
        ))
    }
}

/// The table id cassachange gives `keyspace.table` when it creates it: the same on
/// every machine and every run (a name-based UUID).
pub fn table_id(keyspace: &str, table: &str) -> uuid::Uuid {
    let name = format!(
        "cassachange:table:{}.{}",
        keyspace.to_ascii_lowercase(),
        table.to_ascii_lowercase()
    );
    uuid::Uuid::new_v3(&uuid::Uuid::NAMESPACE_URL, name.as_bytes())
}

/// The consistency levels for reading and writing history under `c`.
pub fn levels(c: HistoryConsistency) -> (Consistency, Consistency) {
    match c {
        HistoryConsistency::Quorum => (Consistency::Quorum, Consistency::Quorum),
        HistoryConsistency::EachQuorum => (Consistency::LocalQuorum, Consistency::EachQuorum),
        HistoryConsistency::LocalQuorum => (Consistency::LocalQuorum, Consistency::LocalQuorum),
    }
}

/// The commit consistency of the lock's lightweight transactions under `c` (the lock is
/// read at `SERIAL`, which sees every committed Paxos round in any topology).
pub fn lock_commit(c: HistoryConsistency) -> Consistency {
    match c {
        HistoryConsistency::Quorum | HistoryConsistency::EachQuorum => Consistency::Quorum,
        HistoryConsistency::LocalQuorum => Consistency::LocalQuorum,
    }
}

/// The history table of one history keyspace.
pub struct HistoryTable {
    db: Arc<Db>,
    keyspace: String,
    table: String,
    read_cl: Consistency,
    write_cl: Consistency,
    /// `cassachange_intent` is known to exist, with its `detail` column.
    intent_ready: std::sync::atomic::AtomicBool,
}

fn text(v: Option<&str>) -> Option<CqlValue> {
    v.map(|s| CqlValue::Text(s.to_string()))
}

impl HistoryTable {
    /// The table `keyspace.table` (names already checked).
    pub fn new(db: Arc<Db>, keyspace: &str, table: &str, consistency: HistoryConsistency) -> Self {
        let (read_cl, write_cl) = levels(consistency);
        HistoryTable {
            db,
            keyspace: keyspace.to_ascii_lowercase(),
            table: table.to_ascii_lowercase(),
            read_cl,
            write_cl,
            intent_ready: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// `keyspace.table`.
    pub fn name(&self) -> String {
        format!("{}.{}", self.keyspace, self.table)
    }

    /// The history keyspace.
    pub fn keyspace(&self) -> &str {
        &self.keyspace
    }

    async fn ensure_history(&self) -> Result<(), DbError> {
        let create = format!(
            "CREATE TABLE IF NOT EXISTS {} (installed_on timestamp, script text, script_type text, \
             version text, description text, checksum text, execution_time int, status text, \
             installed_by text, keyspace_name text, tag text, run_id text, \
             PRIMARY KEY (script, installed_on)) WITH CLUSTERING ORDER BY (installed_on DESC) \
             AND id = {}",
            self.name(),
            table_id(&self.keyspace, &self.table)
        );
        let cols = if let Some(cols) = self.columns().await? {
            cols
        } else {
            let what = format!("creating {}", self.name());
            self.db
                .run_script_statement(&what, &create, true, None)
                .await?;
            COLUMNS.iter().map(|c| (*c).to_string()).collect()
        };
        for col in ["tag", "run_id"] {
            if !cols.iter().any(|c| c == col) {
                self.add_text_column(&self.table, col).await?;
            }
        }
        Ok(())
    }

    async fn ensure_lock_table(&self) -> Result<(), DbError> {
        if self
            .db
            .table_columns(&self.keyspace, "deploy_lock")
            .await?
            .is_some()
        {
            return Ok(());
        }
        let lock = format!(
            "CREATE TABLE IF NOT EXISTS {}.deploy_lock (lock_key text PRIMARY KEY, \
             locked_by text, locked_at timestamp, run_id text) WITH id = {}",
            self.keyspace,
            table_id(&self.keyspace, "deploy_lock")
        );
        self.db
            .run_script_statement(
                &format!("creating {}.deploy_lock", self.keyspace),
                &lock,
                true,
                None,
            )
            .await
    }

    /// Creates `cassachange_intent` when missing, the first time a run needs it (before
    /// its first script with a statement not safe to repeat): a deploy of safe
    /// statements only never pays for it, and a missing table reads as no intents. A
    /// table made by an earlier build gets its `detail` column.
    async fn ensure_intent_table(&self) -> Result<(), DbError> {
        match self.intent_columns().await? {
            Some(true) => return Ok(()),
            Some(false) => self.add_text_column(INTENT_TABLE, "detail").await?,
            None => {
                let intent = format!(
                    "CREATE TABLE IF NOT EXISTS {} (history_table text, keyspace_name text, \
                     script text, run_id text, started_on timestamp, script_type text, \
                     version text, detail text, PRIMARY KEY ((history_table), keyspace_name, \
                     script)) WITH id = {}",
                    self.intent_name(),
                    table_id(&self.keyspace, INTENT_TABLE)
                );
                self.db
                    .run_script_statement(
                        &format!("creating {}", self.intent_name()),
                        &intent,
                        true,
                        None,
                    )
                    .await?;
                // A table an earlier build created at the same moment lacks `detail`.
                if self.intent_columns().await? == Some(false) {
                    self.add_text_column(INTENT_TABLE, "detail").await?;
                }
            }
        }
        self.intent_ready
            .store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// Whether `cassachange_intent` exists (`None`: no) and has its `detail` column:
    /// asked of `system_schema` until the answer is "yes, with it" (a run's history
    /// reads and its intent writes then ask no more).
    async fn intent_columns(&self) -> Result<Option<bool>, DbError> {
        use std::sync::atomic::Ordering;
        if self.intent_ready.load(Ordering::SeqCst) {
            return Ok(Some(true));
        }
        let detail = self
            .db
            .table_columns(&self.keyspace, INTENT_TABLE)
            .await?
            .map(|cols| cols.iter().any(|c| c == "detail"));
        if detail == Some(true) {
            self.intent_ready.store(true, Ordering::SeqCst);
        }
        Ok(detail)
    }

    /// `keyspace.cassachange_intent`: which script each run started (ours alone; the
    /// original neither reads nor writes it).
    fn intent_name(&self) -> String {
        format!("{}.{INTENT_TABLE}", self.keyspace)
    }

    /// Intents of this history table with no history row of their script since:
    /// scripts a run started and ended without recording (killed, or its lease lost), or
    /// stopped inside after a statement not safe to repeat (the intent written again
    /// after the FAILED row, with how it stopped in `detail`), returned as
    /// `INTERRUPTED` rows (never written to the history table).
    async fn open_intents(&self, rows: &[HistoryRow]) -> Result<Vec<HistoryRow>, DbError> {
        let Some(has_detail) = self.intent_columns().await? else {
            return Ok(Vec::new());
        };
        let mut newest: std::collections::HashMap<(String, &str), i64> =
            std::collections::HashMap::new();
        for r in rows {
            let key = (
                r.keyspace_name
                    .as_deref()
                    .unwrap_or("")
                    .to_ascii_lowercase(),
                &*r.script,
            );
            let at = newest.entry(key).or_insert(i64::MIN);
            *at = (*at).max(r.installed_on);
        }
        self.for_each_settled(
            &self.intent_name(),
            &format!(
                "SELECT keyspace_name, script, run_id, started_on, script_type, version{} \
                 FROM {} WHERE history_table = ?",
                if has_detail { ", detail" } else { "" },
                self.intent_name()
            ),
            vec![Some(CqlValue::Text(self.table.clone()))],
            Vec::new,
            |open: &mut Vec<HistoryRow>, values| {
                let mut v = values.into_iter();
                let text = |v: Option<Option<CqlValue>>| match v.flatten() {
                    Some(CqlValue::Text(s) | CqlValue::Ascii(s)) => Some(s),
                    _ => None,
                };
                let (ks, script, run_id) = (text(v.next()), text(v.next()), text(v.next()));
                let started = match v.next().flatten() {
                    Some(CqlValue::Timestamp(t)) => t.0,
                    _ => 0,
                };
                let (script_type, version) = (text(v.next()), text(v.next()));
                let detail = text(v.next()).filter(|d| !d.is_empty());
                let (Some(ks), Some(script)) = (ks, script) else {
                    return;
                };
                let recorded = newest
                    .get(&(ks.to_ascii_lowercase(), script.as_str()))
                    .is_some_and(|at| *at >= started);
                if !recorded {
                    open.push(HistoryRow {
                        installed_on: started,
                        script: script.into(),
                        script_type: script_type.map(Into::into),
                        version: version.map(Into::into),
                        description: Some(detail.unwrap_or_else(|| NO_OUTCOME.into()).into()),
                        status: Some(status::INTERRUPTED.into()),
                        keyspace_name: Some(ks.into()),
                        run_id: run_id.map(Into::into),
                        ..HistoryRow::default()
                    });
                }
            },
        )
        .await
    }

    /// Streams the rows of `cql` into an accumulator made by `init`, and reads again
    /// from the start with a fresh one while the table is still settling: one that
    /// concurrent first runs have just created can be in the schema before the node has
    /// opened it (4.1: "Unknown CF <id>"); it is waited for, briefly.
    async fn for_each_settled<A>(
        &self,
        table: &str,
        cql: &str,
        values: Values,
        init: impl Fn() -> A,
        mut each: impl FnMut(&mut A, Vec<Option<CqlValue>>),
    ) -> Result<A, DbError> {
        let what = format!("reading {table}");
        let mut tries = 0u64;
        loop {
            let mut acc = init();
            let read = self
                .db
                .for_each_row(&what, cql, values.clone(), self.read_cl, |row| {
                    each(&mut acc, row);
                })
                .await;
            match read {
                Ok(()) => return Ok(acc),
                Err(e) if tries < 10 && schema_settling(&e) => {
                    tries += 1;
                    tracing::debug!("{e}; reading again");
                    tokio::time::sleep(Duration::from_millis(100 * tries)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `ALTER TABLE <table> ADD col text` in the history keyspace; another run adding it
    /// at the same moment is fine.
    async fn add_text_column(&self, table: &str, col: &str) -> Result<(), DbError> {
        let name = format!("{}.{table}", self.keyspace);
        let alter = format!("ALTER TABLE {name} ADD {col} text");
        let what = format!("adding column {col} to {name}");
        match self
            .db
            .run_script_statement(&what, &alter, false, None)
            .await
        {
            Ok(()) => Ok(()),
            Err(e) => {
                let added = self
                    .db
                    .table_columns(&self.keyspace, table)
                    .await?
                    .is_some_and(|cols| cols.iter().any(|c| c == col));
                if added {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }

    /// The table's columns, or `None` when it does not exist.
    pub async fn columns(&self) -> Result<Option<Vec<String>>, DbError> {
        self.db.table_columns(&self.keyspace, &self.table).await
    }
}

/// Moves one column's value into its field; text values are interned in `seen` (a
/// history repeats the same keyspaces, statuses, scripts and checksums thousands of
/// times: each is stored once).
fn set_column(
    row: &mut HistoryRow,
    column: &str,
    value: Option<CqlValue>,
    seen: &mut HashSet<Text>,
) {
    let mut text = |v: Option<CqlValue>| match v {
        Some(CqlValue::Text(s) | CqlValue::Ascii(s)) => {
            Some(if let Some(t) = seen.get(s.as_str()) {
                t.clone()
            } else {
                let t: Text = s.into();
                seen.insert(t.clone());
                t
            })
        }
        _ => None,
    };
    match column {
        "installed_on" => {
            if let Some(CqlValue::Timestamp(t)) = value {
                row.installed_on = t.0;
            }
        }
        "execution_time" => {
            if let Some(CqlValue::Int(v)) = value {
                row.execution_time = Some(v);
            }
        }
        "script" => row.script = text(value).unwrap_or_default(),
        "script_type" => row.script_type = text(value),
        "version" => row.version = text(value),
        "description" => row.description = text(value),
        "checksum" => row.checksum = text(value),
        "status" => row.status = text(value),
        "installed_by" => row.installed_by = text(value),
        "keyspace_name" => row.keyspace_name = text(value),
        "tag" => row.tag = text(value),
        "run_id" => row.run_id = text(value),
        _ => {}
    }
}

/// A server error that means "this table is still being set up on this node".
fn schema_settling(e: &DbError) -> bool {
    let text = e.to_string();
    text.contains("Unknown CF") || text.contains("unconfigured table")
}

impl HistoryStore for HistoryTable {
    async fn read_all(&self) -> Result<Vec<HistoryRow>, DbError> {
        let Some(cols) = self.columns().await? else {
            return Ok(Vec::new());
        };
        let select: Vec<&str> = COLUMNS
            .iter()
            .copied()
            .filter(|c| cols.iter().any(|x| x == c))
            .collect();
        // Rows are converted as they arrive (values moved, not copied): a history of
        // tens of thousands of rows is held once.
        let (mut out, _) = self
            .for_each_settled(
                &self.name(),
                &format!("SELECT {} FROM {}", select.join(", "), self.name()),
                vec![],
                || (Vec::new(), HashSet::new()),
                |(out, seen): &mut (Vec<HistoryRow>, HashSet<Text>), values| {
                    let mut row = HistoryRow::default();
                    for (col, value) in select.iter().zip(values) {
                        set_column(&mut row, col, value, seen);
                    }
                    out.push(row);
                },
            )
            .await?;
        let open = self.open_intents(&out).await?;
        out.extend(open);
        out.shrink_to_fit();
        Ok(out)
    }

    async fn ensure(&self) -> Result<(), DbError> {
        self.ensure_history().await?;
        self.ensure_lock_table().await
    }

    async fn write(
        &self,
        rows: &[HistoryRow],
        intents: &[HistoryRow],
        timeout: Option<Duration>,
    ) -> Result<(), DbError> {
        let markers = vec!["?"; COLUMNS.len()].join(", ");
        let insert = format!(
            "INSERT INTO {} ({}) VALUES ({markers})",
            self.name(),
            COLUMNS.join(", ")
        );
        let mut statements: Vec<(String, Values)> = rows
            .iter()
            .map(|row| (insert.clone(), values(row)))
            .collect();
        if !intents.is_empty() {
            self.ensure_intent_table().await?;
            // Dated by the run's clock (above every history row it read), not by a
            // coordinator's: an intent overwrites the script's earlier one in place,
            // and the later run's must win whatever the clocks of the machines say.
            let cql = format!(
                "INSERT INTO {} (history_table, keyspace_name, script, run_id, started_on, \
                 script_type, version, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
                self.intent_name()
            );
            for row in intents {
                statements.push((
                    cql.clone(),
                    vec![
                        Some(CqlValue::Text(self.table.clone())),
                        text(row.keyspace_name.as_deref()),
                        Some(CqlValue::Text(row.script.to_string())),
                        text(row.run_id.as_deref()),
                        Some(CqlValue::Timestamp(scylla::value::CqlTimestamp(
                            row.installed_on,
                        ))),
                        text(row.script_type.as_deref()),
                        text(row.version.as_deref()),
                        text(row.description.as_deref()),
                        Some(CqlValue::BigInt(row.installed_on.saturating_mul(1000))),
                    ],
                ));
            }
        }
        let what = format!(
            "recording {} in {}",
            rows.iter()
                .map(|r| r.script.to_string())
                .chain(intents.iter().map(|r| format!("the start of {}", r.script)))
                .collect::<Vec<_>>()
                .join(" and "),
            self.name()
        );
        if statements.len() == 1 {
            let (cql, values) = statements.remove(0);
            self.db
                .write_at(&what, &cql, values, self.write_cl, timeout)
                .await
        } else {
            self.db
                .batch_at(&what, statements, self.write_cl, timeout)
                .await
        }
    }
}

fn values(row: &HistoryRow) -> Values {
    vec![
        Some(CqlValue::Timestamp(scylla::value::CqlTimestamp(
            row.installed_on,
        ))),
        Some(CqlValue::Text(row.script.to_string())),
        text(row.script_type.as_deref()),
        text(row.version.as_deref()),
        text(row.description.as_deref()),
        text(row.checksum.as_deref()),
        row.execution_time.map(CqlValue::Int),
        text(row.status.as_deref()),
        text(row.installed_by.as_deref()),
        text(row.keyspace_name.as_deref()),
        text(row.tag.as_deref()),
        text(row.run_id.as_deref()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_ids_are_stable_and_distinct() {
        let a = table_id("Hist", "change_history");
        assert_eq!(
            a,
            table_id("hist", "CHANGE_HISTORY"),
            "names are case-insensitive"
        );
        assert_eq!(a, table_id("hist", "change_history"), "same on every run");
        assert_ne!(a, table_id("hist", "deploy_lock"));
        assert_ne!(a, table_id("hist2", "change_history"));
        assert_eq!(a.get_version_num(), 3);
    }

    /// The next lock holder must see every row the previous one wrote, wherever each
    /// ran: reads and writes overlap in a quorum of all replicas, or of each datacenter.
    #[test]
    fn history_reads_and_writes_overlap_in_any_topology_unless_told_otherwise() {
        use Consistency::{EachQuorum, LocalQuorum, Quorum};
        assert_eq!(levels(HistoryConsistency::default()), (Quorum, Quorum));
        assert_eq!(
            levels(HistoryConsistency::EachQuorum),
            (LocalQuorum, EachQuorum)
        );
        assert_eq!(
            levels(HistoryConsistency::LocalQuorum),
            (LocalQuorum, LocalQuorum),
            "documented as one-datacenter only"
        );
        assert_eq!(lock_commit(HistoryConsistency::default()), Quorum);
        assert_eq!(lock_commit(HistoryConsistency::EachQuorum), Quorum);
    }
}
