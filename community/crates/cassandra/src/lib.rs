//! cassachange's Cassandra side: the driver session (plain, TLS, AstraDB), the history,
//! intent and lock tables behind the engine's store traits, schema reading for
//! `baseline`, and the pre-flight's model of the live schema.

pub mod db;
pub mod freeze;
pub mod health;
pub mod history;
pub mod lock;
pub mod preflight;
pub mod schema;

pub(crate) use cassachange_config as config;
pub(crate) use cassachange_cql as cql;

pub use db::Db;
pub use history::HistoryTable;
pub use lock::CqlLockStore;

impl cassachange_core::run::Session for Db {
    async fn use_keyspace(&self, keyspace: &str) -> Result<(), db::DbError> {
        Db::use_keyspace(self, keyspace).await
    }

    async fn run_statement(
        &self,
        what: &str,
        text: &str,
        idempotent: bool,
        timeout: Option<std::time::Duration>,
    ) -> Result<(), db::DbError> {
        self.run_script_statement(what, text, idempotent, timeout)
            .await
    }
}
