//! Defines the deploy freeze: one row in `<history_keyspace>.cassachange_freeze` that,
//! while it exists, makes every `deploy` and `rollback` of this history keyspace stop
//! before the lock (and again under it) with its reason and who set it — for a topology
//! change, an incident, a release freeze. Ours alone: the Python tool does not read it.

use std::sync::Arc;

use cassachange_config::HistoryConsistency;

use crate::db::{Consistency, CqlValue, Db, DbError};
use crate::history::{levels, table_id};

/// The table's name in the history keyspace.
pub const FREEZE_TABLE: &str = "cassachange_freeze";

/// The one key: a freeze covers the history keyspace, like the lock.
const KEY: &str = "global";

/// A freeze in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freeze {
    /// Why.
    pub reason: String,
    /// Who set it (`installed_by` of the run that set it).
    pub frozen_by: String,
    /// When (ms).
    pub frozen_at: i64,
    /// The run that set it.
    pub run_id: String,
}

/// The freeze flag of one history keyspace.
pub struct FreezeFlag {
    db: Arc<Db>,
    keyspace: String,
    read_cl: Consistency,
    write_cl: Consistency,
}

impl FreezeFlag {
    /// The flag in `history_keyspace`, read and written at the history's levels.
    pub fn new(db: Arc<Db>, history_keyspace: &str, consistency: HistoryConsistency) -> Self {
        let (read_cl, write_cl) = levels(consistency);
        FreezeFlag {
            db,
            keyspace: history_keyspace.to_ascii_lowercase(),
            read_cl,
            write_cl,
        }
    }

    fn name(&self) -> String {
        format!("{}.{FREEZE_TABLE}", self.keyspace)
    }

    async fn exists(&self) -> Result<bool, DbError> {
        Ok(self
            .db
            .table_columns(&self.keyspace, FREEZE_TABLE)
            .await?
            .is_some())
    }

    /// The freeze in force, if any (no table: none).
    pub async fn read(&self) -> Result<Option<Freeze>, DbError> {
        if !self.exists().await? {
            return Ok(None);
        }
        let rows = self
            .db
            .query_at(
                &format!("reading {}", self.name()),
                &format!(
                    "SELECT reason, frozen_by, frozen_at, run_id FROM {} WHERE freeze_key = ?",
                    self.name()
                ),
                vec![Some(CqlValue::Text(KEY.into()))],
                self.read_cl,
            )
            .await?;
        Ok((!rows.rows.is_empty()).then(|| Freeze {
            reason: rows.text(0, "reason").unwrap_or_default(),
            frozen_by: rows.text(0, "frozen_by").unwrap_or_default(),
            frozen_at: rows.timestamp(0, "frozen_at").unwrap_or(0),
            run_id: rows.text(0, "run_id").unwrap_or_default(),
        }))
    }

    /// Sets (or replaces) the freeze, creating the table the first time.
    pub async fn set(&self, freeze: &Freeze) -> Result<(), DbError> {
        if !self.exists().await? {
            let create = format!(
                "CREATE TABLE IF NOT EXISTS {} (freeze_key text PRIMARY KEY, reason text, \
                 frozen_by text, frozen_at timestamp, run_id text) WITH id = {}",
                self.name(),
                table_id(&self.keyspace, FREEZE_TABLE)
            );
            self.db
                .run_script_statement(&format!("creating {}", self.name()), &create, true, None)
                .await?;
        }
        self.db
            .write_at(
                &format!("setting the freeze in {}", self.name()),
                &format!(
                    "INSERT INTO {} (freeze_key, reason, frozen_by, frozen_at, run_id) \
                     VALUES (?, ?, ?, ?, ?)",
                    self.name()
                ),
                vec![
                    Some(CqlValue::Text(KEY.into())),
                    Some(CqlValue::Text(freeze.reason.clone())),
                    Some(CqlValue::Text(freeze.frozen_by.clone())),
                    Some(CqlValue::Timestamp(scylla::value::CqlTimestamp(
                        freeze.frozen_at,
                    ))),
                    Some(CqlValue::Text(freeze.run_id.clone())),
                ],
                self.write_cl,
                None,
            )
            .await
    }

    /// Lifts the freeze (none: nothing to do).
    pub async fn clear(&self) -> Result<(), DbError> {
        if !self.exists().await? {
            return Ok(());
        }
        self.db
            .write_at(
                &format!("lifting the freeze in {}", self.name()),
                &format!("DELETE FROM {} WHERE freeze_key = ?", self.name()),
                vec![Some(CqlValue::Text(KEY.into()))],
                self.write_cl,
                None,
            )
            .await
    }
}
