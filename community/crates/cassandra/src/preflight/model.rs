//! Defines the schema the pre-flight simulates: what exists now (from `system_schema`)
//! and, statement by statement, what a deploy's earlier statements will have made of it.

use std::collections::{BTreeMap, BTreeSet};

use crate::db::{CqlValue, Db, DbError, Rows};

/// One table or view: its columns.
#[derive(Debug, Clone, Default)]
pub(crate) struct TableModel {
    /// Column names as stored.
    pub(crate) columns: BTreeSet<String>,
}

/// The schema as the simulation sees it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Model {
    /// Keyspaces.
    pub(crate) keyspaces: BTreeSet<String>,
    /// Tables and views by (keyspace, name).
    pub(crate) tables: BTreeMap<(String, String), TableModel>,
    /// User types by (keyspace, name).
    pub(crate) types: BTreeSet<(String, String)>,
    /// Indexes by (keyspace, name).
    pub(crate) indexes: BTreeSet<(String, String)>,
    /// Table options this server knows.
    pub(crate) options: BTreeSet<String>,
    /// Names (as stored) of everything an earlier statement of this deploy creates or
    /// alters: tables, types, functions, roles, keyspaces… A statement that mentions
    /// one cannot be checked against today's schema.
    pub(crate) made: BTreeSet<String>,
    /// The server's `release_version` (`4.1.10`, `5.0.6`); empty when unknown.
    pub(crate) release: String,
}

/// Columns of `system_schema.tables` that a `CREATE TABLE … WITH` cannot set.
const NOT_SETTABLE: &[&str] = &[
    "keyspace_name",
    "table_name",
    "flags",
    "read_repair_chance",
    "dclocal_read_repair_chance",
];

fn text(rows: &Rows, i: usize, c: &str) -> String {
    rows.text(i, c).unwrap_or_default()
}

async fn all(db: &Db, table: &str, columns: &str) -> Result<Rows, DbError> {
    db.query(
        &format!("reading system_schema.{table}"),
        &format!("SELECT {columns} FROM system_schema.{table}"),
        vec![],
    )
    .await
}

impl Model {
    /// The live schema of the whole cluster (system keyspaces included: scripts may
    /// read them).
    pub(crate) async fn load(db: &Db) -> Result<Model, DbError> {
        let mut m = Model::default();
        // Eight small reads, sent together (each is a prepare and an execute).
        // (Boxed: eight request futures side by side are large.)
        let (keyspaces, tables, views, columns, types, indexes, options, local) = Box::pin(async {
            tokio::try_join!(
            all(db, "keyspaces", "keyspace_name"),
            all(db, "tables", "keyspace_name, table_name"),
            all(db, "views", "keyspace_name, view_name"),
            all(db, "columns", "keyspace_name, table_name, column_name"),
            all(db, "types", "keyspace_name, type_name"),
            all(db, "indexes", "keyspace_name, index_name"),
            db.query(
                "reading the table options this server knows",
                "SELECT column_name FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?",
                vec![
                    Some(CqlValue::Text("system_schema".into())),
                    Some(CqlValue::Text("tables".into())),
                ],
            ),
            db.query(
                "reading the server version",
                "SELECT release_version FROM system.local",
                vec![],
            ),
        )
        })
        .await?;
        for i in 0..keyspaces.rows.len() {
            m.keyspaces.insert(text(&keyspaces, i, "keyspace_name"));
        }
        for (rows, name) in [(&tables, "table_name"), (&views, "view_name")] {
            for i in 0..rows.rows.len() {
                m.tables.insert(
                    (text(rows, i, "keyspace_name"), text(rows, i, name)),
                    TableModel::default(),
                );
            }
        }
        for i in 0..columns.rows.len() {
            let key = (
                text(&columns, i, "keyspace_name"),
                text(&columns, i, "table_name"),
            );
            m.tables
                .entry(key)
                .or_default()
                .columns
                .insert(text(&columns, i, "column_name"));
        }
        for i in 0..types.rows.len() {
            m.types.insert((
                text(&types, i, "keyspace_name"),
                text(&types, i, "type_name"),
            ));
        }
        for i in 0..indexes.rows.len() {
            m.indexes.insert((
                text(&indexes, i, "keyspace_name"),
                text(&indexes, i, "index_name"),
            ));
        }
        let rows = options;
        for i in 0..rows.rows.len() {
            let c = text(&rows, i, "column_name");
            if !NOT_SETTABLE.contains(&c.as_str()) {
                m.options.insert(c);
            }
        }
        m.release = text(&local, 0, "release_version");
        Ok(m)
    }
}
