//! Defines `cassachange_schema` in the history keyspace: for each history table and
//! target keyspace, the schema its applied scripts made — recorded after each run that
//! ran scripts there, and by `drift --accept` — which `drift` compares with the live
//! schema. Ours alone: the original neither reads nor writes it, so it keeps working
//! beside it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use cassachange_config::HistoryConsistency;

use super::KeyspaceSchema;
use crate::db::{Consistency, CqlValue, Db, DbError};
use crate::history::{levels, table_id};

/// The table's name in the history keyspace.
pub const SCHEMA_TABLE: &str = "cassachange_schema";

/// The recorded schema of one keyspace.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaRecord {
    /// The target keyspace (lower case).
    pub keyspace: String,
    /// What its applied scripts made.
    pub schema: KeyspaceSchema,
    /// When it was recorded (the run's clock, ms).
    pub recorded_at: i64,
    /// The run that recorded it.
    pub run_id: String,
    /// The newest history row of the keyspace it accounts for (ms): a later row of
    /// another run means a run changed the keyspace without recording its schema.
    pub through: i64,
    /// `deploy`, `rollback` or `accept`.
    pub source: String,
    /// The cassachange that recorded it.
    pub version: String,
}

/// The records of one history table.
pub struct SchemaRecords {
    db: Arc<Db>,
    keyspace: String,
    history_table: String,
    read_cl: Consistency,
    write_cl: Consistency,
}

impl SchemaRecords {
    /// The records kept beside `history_keyspace.history_table`.
    pub fn new(
        db: Arc<Db>,
        history_keyspace: &str,
        history_table: &str,
        consistency: HistoryConsistency,
    ) -> Self {
        let (read_cl, write_cl) = levels(consistency);
        SchemaRecords {
            db,
            keyspace: history_keyspace.to_ascii_lowercase(),
            history_table: history_table.to_ascii_lowercase(),
            read_cl,
            write_cl,
        }
    }

    fn name(&self) -> String {
        format!("{}.{SCHEMA_TABLE}", self.keyspace)
    }

    async fn exists(&self) -> Result<bool, DbError> {
        Ok(self
            .db
            .table_columns(&self.keyspace, SCHEMA_TABLE)
            .await?
            .is_some())
    }

    /// Every record, by keyspace. A missing table is no records; a record this version
    /// cannot read (a newer one's) counts as none, with a warning in the log.
    pub async fn read_all(&self) -> Result<BTreeMap<String, SchemaRecord>, DbError> {
        if !self.exists().await? {
            return Ok(BTreeMap::new());
        }
        let rows = self
            .db
            .query_at(
                &format!("reading {}", self.name()),
                &format!(
                    "SELECT keyspace_name, definition, recorded_at, run_id, through, source, version \
                     FROM {} WHERE history_table = ?",
                    self.name()
                ),
                vec![Some(CqlValue::Text(self.history_table.clone()))],
                self.read_cl,
            )
            .await?;
        let mut out = BTreeMap::new();
        for i in 0..rows.rows.len() {
            let keyspace = rows.text(i, "keyspace_name").unwrap_or_default();
            let text = rows.text(i, "definition").unwrap_or_default();
            match serde_json::from_str::<KeyspaceSchema>(&text) {
                Ok(schema) => {
                    out.insert(
                        keyspace.clone(),
                        SchemaRecord {
                            keyspace,
                            schema,
                            recorded_at: rows.timestamp(i, "recorded_at").unwrap_or(0),
                            run_id: rows.text(i, "run_id").unwrap_or_default(),
                            through: rows.timestamp(i, "through").unwrap_or(0),
                            source: rows.text(i, "source").unwrap_or_default(),
                            version: rows.text(i, "version").unwrap_or_default(),
                        },
                    );
                }
                Err(e) => tracing::warn!(
                    "{}: the record of {keyspace} cannot be read ({e}); it counts as none",
                    self.name()
                ),
            }
        }
        Ok(out)
    }

    /// Writes `records` together (one partition: one batch, all or none), creating the
    /// table the first time, each dated by its `recorded_at` so a later run's record
    /// wins whatever the machines' clocks say.
    pub async fn write(
        &self,
        records: &[SchemaRecord],
        timeout: Option<Duration>,
    ) -> Result<(), DbError> {
        if records.is_empty() {
            return Ok(());
        }
        if !self.exists().await? {
            let create = format!(
                "CREATE TABLE IF NOT EXISTS {} (history_table text, keyspace_name text, \
                 definition text, recorded_at timestamp, run_id text, through timestamp, \
                 source text, version text, PRIMARY KEY ((history_table), keyspace_name)) \
                 WITH id = {}",
                self.name(),
                table_id(&self.keyspace, SCHEMA_TABLE)
            );
            self.db
                .run_script_statement(&format!("creating {}", self.name()), &create, true, None)
                .await?;
        }
        let cql = format!(
            "INSERT INTO {} (history_table, keyspace_name, definition, recorded_at, run_id, \
             through, source, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
            self.name()
        );
        let statements = records
            .iter()
            .map(|r| {
                let text = serde_json::to_string(&r.schema).unwrap_or_default();
                (
                    cql.clone(),
                    vec![
                        Some(CqlValue::Text(self.history_table.clone())),
                        Some(CqlValue::Text(r.keyspace.clone())),
                        Some(CqlValue::Text(text)),
                        Some(CqlValue::Timestamp(scylla::value::CqlTimestamp(
                            r.recorded_at,
                        ))),
                        Some(CqlValue::Text(r.run_id.clone())),
                        Some(CqlValue::Timestamp(scylla::value::CqlTimestamp(r.through))),
                        Some(CqlValue::Text(r.source.clone())),
                        Some(CqlValue::Text(r.version.clone())),
                        Some(CqlValue::BigInt(r.recorded_at.saturating_mul(1000))),
                    ],
                )
            })
            .collect();
        let what = format!(
            "recording the schema of {} in {}",
            records
                .iter()
                .map(|r| r.keyspace.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            self.name()
        );
        self.db
            .batch_at(&what, statements, self.write_cl, timeout)
            .await
    }
}
