//! Defines access to `change_history` (named by `history_table`) in the history
//! keyspace: created with the original's schema, old tables upgraded with `tag` and
//! `run_id`, rows read and written with bound values only.

use crate::db::{CqlValue, Db, DbError, Values};
use crate::history::state::HistoryRow;
use crate::timefmt;

/// The history table of one history keyspace.
pub struct HistoryTable<'a> {
    db: &'a Db,
    keyspace: String,
    table: String,
}

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
pub fn check_identifier(what: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 48
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} '{name}' is not a valid name: use letters, digits and '_' (starting with a letter, at most 48)"
        ))
    }
}

fn text(v: Option<&str>) -> Option<CqlValue> {
    v.map(|s| CqlValue::Text(s.to_string()))
}

impl<'a> HistoryTable<'a> {
    /// The table `keyspace.table` (names already checked).
    pub fn new(db: &'a Db, keyspace: &str, table: &str) -> Self {
        HistoryTable {
            db,
            keyspace: keyspace.to_ascii_lowercase(),
            table: table.to_ascii_lowercase(),
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

    /// Creates `change_history` and `deploy_lock` when missing, and adds `tag` and
    /// `run_id` to a table made by a tool that predates them.
    pub async fn ensure(&self) -> Result<(), DbError> {
        let what = format!("creating {}", self.name());
        let create = format!(
            "CREATE TABLE IF NOT EXISTS {} (installed_on timestamp, script text, script_type text, \
             version text, description text, checksum text, execution_time int, status text, \
             installed_by text, keyspace_name text, tag text, run_id text, \
             PRIMARY KEY (script, installed_on)) WITH CLUSTERING ORDER BY (installed_on DESC)",
            self.name()
        );
        let cols = if let Some(cols) = self.columns().await? {
            cols
        } else {
            self.db.run_script_statement(&what, &create, None).await?;
            COLUMNS.iter().map(|c| (*c).to_string()).collect()
        };
        for col in ["tag", "run_id"] {
            if !cols.iter().any(|c| c == col) {
                let alter = format!("ALTER TABLE {} ADD {col} text", self.name());
                self.db
                    .run_script_statement(
                        &format!("adding column {col} to {}", self.name()),
                        &alter,
                        None,
                    )
                    .await?;
            }
        }
        let lock = format!(
            "CREATE TABLE IF NOT EXISTS {}.deploy_lock (lock_key text PRIMARY KEY, locked_by text, \
             locked_at timestamp, run_id text)",
            self.keyspace
        );
        if self
            .db
            .table_columns(&self.keyspace, "deploy_lock")
            .await?
            .is_none()
        {
            self.db
                .run_script_statement(
                    &format!("creating {}.deploy_lock", self.keyspace),
                    &lock,
                    None,
                )
                .await?;
        }
        Ok(())
    }

    /// The table's columns, or `None` when it does not exist.
    pub async fn columns(&self) -> Result<Option<Vec<String>>, DbError> {
        self.db.table_columns(&self.keyspace, &self.table).await
    }

    /// Every row (empty when the table does not exist yet).
    pub async fn read_all(&self) -> Result<Vec<HistoryRow>, DbError> {
        let Some(cols) = self.columns().await? else {
            return Ok(Vec::new());
        };
        let select: Vec<&str> = COLUMNS
            .iter()
            .copied()
            .filter(|c| cols.iter().any(|x| x == c))
            .collect();
        let rows = self
            .db
            .query(
                &format!("reading {}", self.name()),
                &format!("SELECT {} FROM {}", select.join(", "), self.name()),
                vec![],
            )
            .await?;
        Ok((0..rows.rows.len())
            .map(|i| HistoryRow {
                installed_on: rows.timestamp(i, "installed_on").unwrap_or(0),
                script: rows.text(i, "script").unwrap_or_default(),
                script_type: rows.text(i, "script_type"),
                version: rows.text(i, "version"),
                description: rows.text(i, "description"),
                checksum: rows.text(i, "checksum"),
                execution_time: rows.int(i, "execution_time"),
                status: rows.text(i, "status"),
                installed_by: rows.text(i, "installed_by"),
                keyspace_name: rows.text(i, "keyspace_name"),
                tag: rows.text(i, "tag"),
                run_id: rows.text(i, "run_id"),
            })
            .collect())
    }

    /// Appends one row; `installed_on` 0 means "now".
    pub async fn insert(&self, row: &HistoryRow) -> Result<(), DbError> {
        let at = if row.installed_on == 0 {
            timefmt::now_ms()
        } else {
            row.installed_on
        };
        let markers = vec!["?"; COLUMNS.len()].join(", ");
        let cql = format!(
            "INSERT INTO {} ({}) VALUES ({markers})",
            self.name(),
            COLUMNS.join(", ")
        );
        let values: Values = vec![
            Some(CqlValue::Timestamp(scylla::value::CqlTimestamp(at))),
            Some(CqlValue::Text(row.script.clone())),
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
        ];
        self.db
            .write(
                &format!("recording {} in {}", row.script, self.name()),
                &cql,
                values,
            )
            .await
    }
}
