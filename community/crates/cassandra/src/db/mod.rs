//! Defines the database connection: one `scylla` session built from `Settings`, and
//! the few operations the rest of cassachange needs (bound queries, lightweight
//! transactions, script statements with a timeout).
//!
//! Every failure becomes a [`DbError`] that names the host, keyspace or statement at
//! fault and never a bound value (values may be secrets or user data).

mod astra;
mod sticky;
pub(crate) mod tls;
mod x509;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::policies::load_balancing::DefaultPolicy;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::unprepared::Statement;
use scylla::statement::SerialConsistency;
use tokio::sync::Mutex;

pub use scylla::statement::Consistency;
pub use scylla::value::CqlValue;

use cassachange_config::{HistoryConsistency, Settings};
pub use cassachange_core::DbError;

/// How long a schema change waits for every live node to agree.
const AGREEMENT_LIMIT: Duration = Duration::from_secs(60);
/// Reads repeated after a replica refused them for not knowing the table yet.
const SCHEMA_READ_RETRIES: u32 = 3;

/// Bound values of a statement, in marker order; `None` is null.
pub type Values = Vec<Option<CqlValue>>;

/// Rows read from a query, with their column names.
#[derive(Debug, Clone, Default)]
pub struct Rows {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// Row values, in column order.
    pub rows: Vec<Vec<Option<CqlValue>>>,
}

impl Rows {
    /// Index of a column by name.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// A text column of a row (`text`/`ascii`), `None` when null or absent.
    pub fn text(&self, row: usize, name: &str) -> Option<String> {
        match self
            .index(name)
            .and_then(|i| self.rows.get(row)?.get(i)?.as_ref())
        {
            Some(CqlValue::Text(s) | CqlValue::Ascii(s)) => Some(s.clone()),
            _ => None,
        }
    }

    /// A timestamp column in milliseconds.
    pub fn timestamp(&self, row: usize, name: &str) -> Option<i64> {
        match self
            .index(name)
            .and_then(|i| self.rows.get(row)?.get(i)?.as_ref())
        {
            Some(CqlValue::Timestamp(t)) => Some(t.0),
            _ => None,
        }
    }

    /// An int column.
    pub fn int(&self, row: usize, name: &str) -> Option<i32> {
        match self
            .index(name)
            .and_then(|i| self.rows.get(row)?.get(i)?.as_ref())
        {
            Some(CqlValue::Int(v)) => Some(*v),
            _ => None,
        }
    }
}

/// Why the server would not prepare a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrepareFailure {
    /// A syntax error.
    Syntax(String),
    /// Invalid against the current schema (unknown table, column, type, …).
    Invalid(String),
    /// Refused by the server's configuration (unknown compaction class, disabled
    /// feature, …).
    Config(String),
    /// Anything else (unreachable, unauthorized, …).
    Other(String),
}

impl PrepareFailure {
    /// The server's message.
    pub fn message(&self) -> &str {
        match self {
            PrepareFailure::Syntax(m)
            | PrepareFailure::Invalid(m)
            | PrepareFailure::Config(m)
            | PrepareFailure::Other(m) => m,
        }
    }
}

/// How long to wait for a first connection before giving up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The outcome of a lightweight transaction.
#[derive(Debug, Clone)]
pub struct LwtResult {
    /// Whether the condition held and the write applied.
    pub applied: bool,
    /// The current row when it did not (column names without `[applied]`).
    pub current: Rows,
}

/// Reads a secure connect bundle held in memory and returns its metadata host and port:
/// the entry point of the bundle fuzz target (`fuzz/`), not an API.
#[doc(hidden)]
pub fn read_bundle_for_fuzzing(bytes: &[u8]) -> Result<(String, u16), String> {
    let material = crate::config::Material::Memory {
        key: "secure_connect_bundle",
        bytes: bytes.into(),
    };
    astra::read_bundle(&material).map(|b| (b.config.host, b.config.port))
}

/// An open session.
pub struct Db {
    session: Session,
    contact: String,
    prepared: Mutex<std::collections::HashMap<String, PreparedStatement>>,
    /// The forwarders of an AstraDB session: they live as long as the session.
    astra: Option<Arc<astra::Proxy>>,
    /// The profile of migration statements: the node that ran the last one runs the next.
    scripts: scylla::client::execution_profile::ExecutionProfileHandle,
    /// The datacenter of the contact points (requests prefer it; `LOCAL_*` levels are
    /// its), `None` on AstraDB or when no contact point was found among the nodes.
    local_dc: Option<String>,
    /// The serial consistency of the lock: `SERIAL`, or `LOCAL_SERIAL` under
    /// `history_consistency: local_quorum` (deploys from one datacenter only).
    serial: SerialConsistency,
    /// Nodes that are up but that this client cannot reach (found by the health
    /// check): after a schema change, their agreement is read from gossip.
    gossip_only: std::sync::Mutex<Vec<crate::health::GossipNode>>,
}

impl Db {
    /// Opens a session for `settings` (plain, login, TLS), bounded in time.
    pub async fn connect(settings: &Settings) -> Result<Db, DbError> {
        let mut builder = SessionBuilder::new()
            .connection_timeout(Duration::from_secs(5))
            .schema_agreement_timeout(AGREEMENT_LIMIT)
            // Keyspaces and table names for routing, not columns and UDTs: schema
            // questions go to system_schema, and every DDL statement of a deploy would
            // otherwise refetch every column of the keyspace.
            .fetch_full_schema_metadata(false)
            .keyspaces_to_fetch(
                settings
                    .keyspaces
                    .iter()
                    .chain(&settings.history_keyspace)
                    .map(|k| k.to_ascii_lowercase()),
            );
        let mut routing: Arc<dyn scylla::policies::load_balancing::LoadBalancingPolicy> =
            DefaultPolicy::builder().build();
        let mut tls_config: Option<(String, Arc<rustls::ClientConfig>)> = None;
        let (contact, astra) = match (&settings.secure_connect_bundle, &settings.astra_token) {
            (Some(bundle), Some(token)) => {
                let a = astra::prepare(bundle)
                    .await
                    .map_err(|reason| DbError::Connect {
                        contact: "AstraDB".into(),
                        reason,
                        hint: format!(
                            "check secure_connect_bundle (from {}) and the network",
                            settings.origin("secure_connect_bundle")
                        ),
                    })?;
                let mut nodes = Vec::new();
                for id in &a.metadata.contact_points {
                    nodes.push(a.proxy.forwarder(*id).await.map_err(|e| DbError::Connect {
                        contact: "AstraDB".into(),
                        reason: format!("cannot open a local forwarder ({e})"),
                        hint: "check that this machine allows listening on 127.0.0.1".into(),
                    })?);
                }
                let (user, pass) = astra::login(token);
                builder = builder
                    .known_nodes_addr(nodes)
                    .address_translator(Arc::new(astra::Translator(a.proxy.clone())))
                    .user(user, pass);
                if let Some(dc) = a
                    .metadata
                    .local_dc
                    .clone()
                    .or(a.bundle.config.local_dc.clone())
                {
                    let policy = DefaultPolicy::builder()
                        .prefer_datacenter(dc)
                        .token_aware(true)
                        .permit_dc_failover(true)
                        .build();
                    routing = Arc::clone(&policy);
                    builder = builder.default_execution_profile_handle(
                        ExecutionProfile::builder()
                            .load_balancing_policy(policy)
                            .build()
                            .into_handle(),
                    );
                }
                let contact = format!(
                    "AstraDB {} (SNI proxy {})",
                    a.bundle.config.host, a.metadata.sni_proxy
                );
                (contact, Some(a.proxy))
            }
            (Some(_), None) => {
                return Err(DbError::Connect {
                    contact: "AstraDB".into(),
                    reason: format!(
                        "secure_connect_bundle is set (from {}) but astra_token is not: AstraDB \
                         needs both",
                        settings.origin("secure_connect_bundle")
                    ),
                    hint: "set astra_token (ASTRA_TOKEN, --astra-token, or astra_token in \
                           cassachange.yml)"
                        .into(),
                });
            }
            // A token without a bundle: the original connects to the hosts as plain
            // Cassandra and ignores the token; so does cassachange (the binary warns).
            (None, _) => {
                let contacts: Vec<String> = settings
                    .hosts
                    .iter()
                    .map(|h| host_port(h, settings.port))
                    .collect();
                builder = builder.known_nodes(&contacts);
                if let (Some(user), Some(pass)) = (&settings.username, &settings.password) {
                    builder = builder.user(user, pass.expose());
                }
                if settings.tls.enabled {
                    let config = Arc::new(tls::client_config(&settings.tls).map_err(DbError::Tls)?);
                    builder = builder.tls_context(Some(config.clone()));
                    tls_config = Some((contacts[0].clone(), config));
                }
                (contacts.join(", "), None)
            }
        };
        let session = match tokio::time::timeout(CONNECT_TIMEOUT, builder.build()).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                // With TLS, say what TLS found, from a handshake of our own.
                if let Some((first, config)) = tls_config {
                    if let Some((reason, hint)) =
                        tls::explain(&first, config, &settings.tls).await
                    {
                        return Err(DbError::Connect {
                            contact,
                            reason,
                            hint,
                        });
                    }
                }
                return Err(connect_error(&contact, &e.to_string(), settings));
            }
            Err(_) => {
                return Err(DbError::Connect {
                    contact,
                    reason: format!("no usable connection within {}s", CONNECT_TIMEOUT.as_secs()),
                    hint: "check hosts/port and that the nodes are up; with ssl: true the port must speak TLS".into(),
                })
            }
        };
        // Like the original's driver (DCAwareRoundRobinPolicy), requests stay in the
        // datacenter of the contact points: `LOCAL_QUORUM` means theirs, whichever
        // node coordinates. Under `local_quorum` they never leave it.
        let local_quorum = settings.history_consistency == HistoryConsistency::LocalQuorum;
        let mut local_dc = None;
        if astra.is_none() {
            local_dc = contact_datacenter(&session, &settings.hosts, settings.port).await;
            if let Some(dc) = &local_dc {
                let policy = DefaultPolicy::builder()
                    .prefer_datacenter(dc.clone())
                    .token_aware(true)
                    .permit_dc_failover(!local_quorum)
                    .build();
                let mut handle = session.get_default_execution_profile_handle().clone();
                handle.map_to_another_profile(
                    handle
                        .pointee_to_builder()
                        .load_balancing_policy(Arc::clone(&policy))
                        .build(),
                );
                routing = policy;
            }
        }
        Ok(Db {
            session,
            contact,
            prepared: Mutex::new(std::collections::HashMap::new()),
            astra,
            scripts: ExecutionProfile::builder()
                .load_balancing_policy(Arc::new(sticky::Sticky::new(routing)))
                .build()
                .into_handle(),
            local_dc,
            serial: if local_quorum {
                SerialConsistency::LocalSerial
            } else {
                SerialConsistency::Serial
            },
            gossip_only: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// The datacenter of the contact points (see [`Db::connect`]).
    pub fn local_dc(&self) -> Option<&str> {
        self.local_dc.as_deref()
    }

    /// True on AstraDB (a managed cluster: its topology is not the client's to check).
    pub fn is_astra(&self) -> bool {
        self.astra.is_some()
    }

    /// The driver's session (for the health check in this crate).
    pub(crate) fn session(&self) -> &Session {
        &self.session
    }

    /// Sets the nodes whose schema agreement is read from gossip after each schema change.
    pub(crate) fn set_gossip_only(&self, nodes: Vec<crate::health::GossipNode>) {
        *self
            .gossip_only
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = nodes;
    }

    fn gossip_only(&self) -> Vec<crate::health::GossipNode> {
        self.gossip_only
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The local forwarders of an AstraDB session (host id, address), for tests and
    /// `--verbose`.
    pub fn astra_forwarders(&self) -> Vec<(uuid::Uuid, std::net::SocketAddr)> {
        self.astra
            .as_ref()
            .map(|p| p.forwarders())
            .unwrap_or_default()
    }

    /// The contact points, for messages.
    pub fn contact(&self) -> &str {
        &self.contact
    }

    async fn prepare(&self, cql: &str, what: &str) -> Result<PreparedStatement, DbError> {
        if let Some(p) = self.prepared.lock().await.get(cql) {
            return Ok(p.clone());
        }
        // The cache is not locked while preparing: a slow prepare must never hold up
        // another task's statement (the lock lease's renewal above all).
        //
        // A table another client created a moment ago can be briefly unknown to the
        // coordinator that prepares (the server answers "invalid"): retry that kind
        // for a few seconds.
        let mut attempt = 0;
        let p = loop {
            match self.session.prepare(cql).await {
                Ok(p) => break p,
                Err(e) if attempt < 20 && is_invalid(&e) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => return Err(statement_error(what, &e.to_string())),
            }
        };
        self.prepared
            .lock()
            .await
            .insert(cql.to_string(), p.clone());
        Ok(p)
    }

    /// Asks the server to prepare `text` (parse and check it; nothing is executed).
    pub async fn prepare_check(&self, text: &str) -> Result<(), PrepareFailure> {
        use scylla::errors::{DbError as Server, PrepareError, RequestAttemptError};
        match self.session.prepare(text).await {
            Ok(_) => Ok(()),
            Err(PrepareError::AllAttemptsFailed {
                first_attempt: RequestAttemptError::DbError(kind, message),
            }) => Err(match kind {
                Server::SyntaxError => PrepareFailure::Syntax(message),
                Server::Invalid => PrepareFailure::Invalid(message),
                Server::ConfigError => PrepareFailure::Config(message),
                other => PrepareFailure::Other(format!("{other}: {message}")),
            }),
            Err(e) => Err(PrepareFailure::Other(first_line(&e.to_string()))),
        }
    }

    /// Runs a prepared statement with bound values at `LOCAL_QUORUM` and reads every
    /// page of its rows (schema tables, the plugin's statements).
    pub async fn query(&self, what: &str, cql: &str, values: Values) -> Result<Rows, DbError> {
        self.query_at(what, cql, values, Consistency::LocalQuorum)
            .await
    }

    /// Prepares `cql` and starts paging through its rows at `cl`.
    async fn pager(
        &self,
        what: &str,
        cql: &str,
        values: Values,
        cl: Consistency,
    ) -> Result<scylla::client::pager::QueryPager, DbError> {
        let mut p = self.prepare(cql, what).await?;
        p.set_consistency(cl);
        self.session
            .execute_iter(p, values)
            .await
            .map_err(|e| statement_error(what, &e.to_string()))
    }

    /// Runs a prepared statement at `cl` and reads every page of its rows. A read that a
    /// replica refused because it does not know the table yet is read again once the
    /// schema agrees (see [`Db::read_again_after_agreement`]).
    pub async fn query_at(
        &self,
        what: &str,
        cql: &str,
        values: Values,
        cl: Consistency,
    ) -> Result<Rows, DbError> {
        let mut attempt = 0;
        loop {
            match self.query_at_once(what, cql, values.clone(), cl).await {
                Err(e)
                    if self
                        .read_again_after_agreement(what, &e, &mut attempt)
                        .await => {}
                other => return other,
            }
        }
    }

    /// A replica that has not got a table yet (a node restarted and not yet caught up
    /// with schema changes made while it was down, or a table just created) fails a read
    /// with `INCOMPATIBLE_SCHEMA`. A read is safe to repeat: wait for the live nodes'
    /// schema to agree, then say to read again — at most [`SCHEMA_READ_RETRIES`] times.
    async fn read_again_after_agreement(&self, what: &str, e: &DbError, attempt: &mut u32) -> bool {
        if !replica_lacks_schema(e) || *attempt >= SCHEMA_READ_RETRIES {
            return false;
        }
        *attempt += 1;
        tracing::info!(
            "{what}: a replica does not know the table yet (its schema is behind); \
             waiting for schema agreement, then reading again ({attempt}/{SCHEMA_READ_RETRIES})"
        );
        if let Err(e) = self.session.await_schema_agreement().await {
            tracing::debug!("{what}: schema agreement: {e}");
        }
        tokio::time::sleep(Duration::from_millis(500 * u64::from(*attempt))).await;
        true
    }

    async fn query_at_once(
        &self,
        what: &str,
        cql: &str,
        values: Values,
        cl: Consistency,
    ) -> Result<Rows, DbError> {
        let pager = self.pager(what, cql, values, cl).await?;
        let columns: Vec<String> = pager
            .column_specs()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        let mut stream = pager
            .rows_stream::<scylla::value::Row>()
            .map_err(|e| statement_error(what, &e.to_string()))?;
        let mut rows = Vec::new();
        while let Some(row) = stream.next().await {
            let row = row.map_err(|e| statement_error(what, &e.to_string()))?;
            rows.push(row.columns);
        }
        Ok(Rows { columns, rows })
    }

    /// Runs a prepared statement at `cl` and hands each row to `each` as it arrives
    /// (column values in select order), so a large result is never held twice.
    pub async fn for_each_row(
        &self,
        what: &str,
        cql: &str,
        values: Values,
        cl: Consistency,
        mut each: impl FnMut(Vec<Option<CqlValue>>),
    ) -> Result<(), DbError> {
        // Read again (as `query_at` does) only while no row has been handed over.
        let mut attempt = 0;
        loop {
            let mut delivered = false;
            let result = self
                .for_each_row_once(what, cql, values.clone(), cl, |row| {
                    delivered = true;
                    each(row);
                })
                .await;
            match result {
                Err(e)
                    if !delivered
                        && self
                            .read_again_after_agreement(what, &e, &mut attempt)
                            .await => {}
                other => return other,
            }
        }
    }

    async fn for_each_row_once(
        &self,
        what: &str,
        cql: &str,
        values: Values,
        cl: Consistency,
        mut each: impl FnMut(Vec<Option<CqlValue>>),
    ) -> Result<(), DbError> {
        let mut stream = self
            .pager(what, cql, values, cl)
            .await?
            .rows_stream::<scylla::value::Row>()
            .map_err(|e| statement_error(what, &e.to_string()))?;
        while let Some(row) = stream.next().await {
            each(
                row.map_err(|e| statement_error(what, &e.to_string()))?
                    .columns,
            );
        }
        Ok(())
    }

    /// Runs a prepared write with bound values at `cl`, within `timeout` when given.
    /// A timeout or an unavailable replica set is [`DbError::Uncertain`]: the write
    /// may or may not have been applied.
    pub async fn write_at(
        &self,
        what: &str,
        cql: &str,
        values: Values,
        cl: Consistency,
        timeout: Option<Duration>,
    ) -> Result<(), DbError> {
        let mut p = self.prepare(cql, what).await?;
        p.set_consistency(cl);
        if timeout.is_some() {
            p.set_request_timeout(timeout);
        }
        self.session
            .execute_unpaged(&p, values)
            .await
            .map_err(|e| classify(what, &e))?;
        Ok(())
    }

    /// Runs one prepared write once per row of `rows`, as one unlogged batch at `cl`
    /// (one round trip; atomic when the rows share a partition).
    pub async fn write_many(
        &self,
        what: &str,
        cql: &str,
        rows: Vec<Values>,
        cl: Consistency,
    ) -> Result<(), DbError> {
        let p = self.prepare(cql, what).await?;
        if let [values] = rows.as_slice() {
            let mut p = p;
            p.set_consistency(cl);
            return self
                .session
                .execute_unpaged(&p, values)
                .await
                .map(drop)
                .map_err(|e| classify(what, &e));
        }
        let mut batch = Batch::new(BatchType::Unlogged);
        for _ in &rows {
            batch.append_statement(p.clone());
        }
        batch.set_consistency(cl);
        self.session
            .batch(&batch, rows)
            .await
            .map(drop)
            .map_err(|e| classify(what, &e))
    }

    /// Runs prepared writes as one logged batch at `cl`: all of them are applied or,
    /// after a failure, none or (the batch log replays it) all.
    pub async fn batch_at(
        &self,
        what: &str,
        statements: Vec<(String, Values)>,
        cl: Consistency,
        timeout: Option<Duration>,
    ) -> Result<(), DbError> {
        let mut batch = Batch::new(BatchType::Logged);
        let mut values = Vec::with_capacity(statements.len());
        for (cql, v) in statements {
            batch.append_statement(self.prepare(&cql, what).await?);
            values.push(v);
        }
        batch.set_consistency(cl);
        if timeout.is_some() {
            batch.set_request_timeout(timeout);
        }
        self.session
            .batch(&batch, values)
            .await
            .map_err(|e| classify(what, &e))?;
        Ok(())
    }

    /// Runs a lightweight transaction (serial consistency `SERIAL`, or `LOCAL_SERIAL`
    /// under `history_consistency: local_quorum`; commit at `cl`) and reads `[applied]`.
    pub async fn lwt(
        &self,
        what: &str,
        cql: &str,
        values: Values,
        cl: Consistency,
    ) -> Result<LwtResult, DbError> {
        let mut p = self.prepare(cql, what).await?;
        p.set_consistency(cl);
        p.set_serial_consistency(Some(self.serial));
        let result = self
            .session
            .execute_unpaged(&p, values)
            .await
            .map_err(|e| classify(what, &e))?;
        let mut rows = all_rows(what, result)?;
        let applied = matches!(
            rows.rows.first().and_then(|r| r.first()),
            Some(Some(CqlValue::Boolean(true)))
        );
        // The current row, without the leading `[applied]` column.
        rows.columns.drain(..rows.columns.len().min(1));
        for r in &mut rows.rows {
            r.drain(..r.len().min(1));
        }
        Ok(LwtResult {
            applied,
            current: rows,
        })
    }

    /// Reads with serial consistency (sees the latest Paxos state of a row).
    pub async fn serial_read(
        &self,
        what: &str,
        cql: &str,
        values: Values,
    ) -> Result<Rows, DbError> {
        let mut p = self.prepare(cql, what).await?;
        p.set_consistency(match self.serial {
            SerialConsistency::LocalSerial => Consistency::LocalSerial,
            SerialConsistency::Serial => Consistency::Serial,
        });
        let result = self
            .session
            .execute_unpaged(&p, values)
            .await
            .map_err(|e| classify(what, &e))?;
        all_rows(what, result)
    }

    /// Runs one statement of a migration script, unprepared, with an optional timeout.
    /// DDL waits for schema agreement (the driver does this after every schema change).
    /// An `idempotent` statement is sent again to the next node when its coordinator's
    /// connection breaks before the answer (a node killed or restarted mid-deploy); any
    /// other statement's unknown outcome is an error, never a silent second run.
    pub async fn run_script_statement(
        &self,
        what: &str,
        text: &str,
        idempotent: bool,
        timeout: Option<Duration>,
    ) -> Result<(), DbError> {
        let mut st = Statement::new(text);
        st.set_execution_profile_handle(Some(self.scripts.clone()));
        st.set_consistency(Consistency::LocalQuorum);
        st.set_is_idempotent(idempotent);
        if let Some(t) = timeout {
            st.set_request_timeout(Some(t));
        }
        match self.session.query_unpaged(st, &[]).await {
            Ok(_) => {
                // The driver waited for the nodes it is connected to; nodes up but out
                // of its reach are waited for in gossip.
                let gossip_only = self.gossip_only();
                if !gossip_only.is_empty() && crate::cql::changes_schema(text) {
                    crate::health::await_gossip_agreement(self, &gossip_only, AGREEMENT_LIMIT)
                        .await
                        .map_err(|reason| DbError::SchemaAgreement {
                            what: what.to_string(),
                            reason,
                        })?;
                }
                Ok(())
            }
            Err(e) => match script_error(what, &e) {
                DbError::SchemaAgreement { what, reason } => Err(DbError::SchemaAgreement {
                    reason: format!(
                        "{reason}; schema versions now: {}",
                        crate::health::versions_line(self).await
                    ),
                    what,
                }),
                other => Err(other),
            },
        }
    }

    /// Makes `keyspace` the session's keyspace for unqualified names in scripts (an
    /// unquoted name, so case-insensitive as CQL reads it).
    pub async fn use_keyspace(&self, keyspace: &str) -> Result<(), DbError> {
        self.session
            .use_keyspace(keyspace, false)
            .await
            .map_err(|e| statement_error(&format!("USE {keyspace}"), &e.to_string()))
    }

    /// Names of existing keyspaces.
    pub async fn keyspaces(&self) -> Result<HashSet<String>, DbError> {
        let rows = self
            .query(
                "listing keyspaces",
                "SELECT keyspace_name FROM system_schema.keyspaces",
                vec![],
            )
            .await?;
        Ok((0..rows.rows.len())
            .filter_map(|i| rows.text(i, "keyspace_name"))
            .collect())
    }

    /// The cluster's name (`system.local`), which a saved plan records.
    pub async fn cluster_name(&self) -> Result<String, DbError> {
        let rows = self
            .query(
                "reading the cluster name",
                "SELECT cluster_name FROM system.local",
                vec![],
            )
            .await?;
        Ok(rows.text(0, "cluster_name").unwrap_or_default())
    }

    /// Column names of a table, or `None` when the table does not exist.
    pub async fn table_columns(
        &self,
        keyspace: &str,
        table: &str,
    ) -> Result<Option<Vec<String>>, DbError> {
        let rows = self
            .query(
                &format!("reading the columns of {keyspace}.{table}"),
                "SELECT column_name FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?",
                vec![Some(CqlValue::Text(keyspace.into())), Some(CqlValue::Text(table.into()))],
            )
            .await?;
        let cols: Vec<String> = (0..rows.rows.len())
            .filter_map(|i| rows.text(i, "column_name"))
            .collect();
        Ok((!cols.is_empty()).then_some(cols))
    }
}

fn host_port(host: &str, port: u16) -> String {
    if host.starts_with('[') {
        // `[v6]` or `[v6]:port`
        return if host.contains("]:") {
            host.to_string()
        } else {
            format!("{host}:{port}")
        };
    }
    match host.matches(':').count() {
        0 => format!("{host}:{port}"),
        1 => host.to_string(),
        _ => format!("[{host}]:{port}"),
    }
}

/// Every row of an unpaged result, with its column names.
pub(crate) fn all_rows(
    what: &str,
    result: scylla::response::query_result::QueryResult,
) -> Result<Rows, DbError> {
    let fail = |e: &dyn std::fmt::Display| statement_error(what, &e.to_string());
    let rows = result.into_rows_result().map_err(|e| fail(&e))?;
    let columns = rows
        .column_specs()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    let mut out = Vec::new();
    for r in rows.rows::<scylla::value::Row>().map_err(|e| fail(&e))? {
        out.push(r.map_err(|e| fail(&e))?.columns);
    }
    Ok(Rows { columns, rows: out })
}

/// True when the server answered that the statement is invalid (for instance a table
/// it does not know yet).
fn is_invalid(e: &scylla::errors::PrepareError) -> bool {
    use scylla::errors::{DbError as Server, PrepareError, RequestAttemptError};
    matches!(
        e,
        PrepareError::AllAttemptsFailed {
            first_attempt: RequestAttemptError::DbError(Server::Invalid, _)
        }
    )
}

/// Maps the error of a script statement by what it says of the statement's outcome:
/// a client timeout ([`DbError::Timeout`]), a server-side write timeout or failure or a
/// connection that broke with the request in flight ([`DbError::Uncertain`]), a schema
/// change whose agreement was not reached ([`DbError::SchemaAgreement`]) — each of
/// which may have been applied — or a refusal ([`DbError::Statement`]: not applied).
fn script_error(what: &str, e: &scylla::errors::ExecutionError) -> DbError {
    use scylla::errors::{DbError as Server, ExecutionError, RequestAttemptError};
    match e {
        ExecutionError::RequestTimeout(d) => DbError::Timeout {
            what: what.to_string(),
            secs: d.as_secs_f64(),
        },
        ExecutionError::SchemaAgreementError(e) => DbError::SchemaAgreement {
            what: what.to_string(),
            reason: e.to_string(),
        },
        ExecutionError::MetadataError(e) => DbError::SchemaAgreement {
            what: what.to_string(),
            reason: e.to_string(),
        },
        ExecutionError::LastAttemptError(
            RequestAttemptError::DbError(
                Server::WriteTimeout { .. }
                | Server::ReadTimeout { .. }
                | Server::WriteFailure { .. }
                | Server::ReadFailure { .. },
                _,
            )
            | RequestAttemptError::BrokenConnectionError(_),
        ) => DbError::Uncertain {
            what: what.to_string(),
            reason: first_line(&e.to_string()),
        },
        _ => statement_error(what, &e.to_string()),
    }
}

/// Maps a driver error: timeouts, unavailable or overloaded replicas and connections
/// that broke with the request in flight become [`DbError::Uncertain`] (the write may
/// have been applied: a lightweight transaction's outcome is then read back),
/// everything else a statement error.
fn classify(what: &str, e: &scylla::errors::ExecutionError) -> DbError {
    use scylla::errors::{DbError as Server, ExecutionError, RequestAttemptError};
    match e {
        ExecutionError::LastAttemptError(
            RequestAttemptError::DbError(
                Server::WriteTimeout { .. }
                | Server::ReadTimeout { .. }
                | Server::Unavailable { .. }
                | Server::Overloaded,
                _,
            )
            | RequestAttemptError::BrokenConnectionError(_),
        )
        | ExecutionError::RequestTimeout(_) => DbError::Uncertain {
            what: what.to_string(),
            reason: first_line(&e.to_string()),
        },
        _ => statement_error(what, &e.to_string()),
    }
}

/// Whether a replica refused the request because its schema lacks the table
/// (`INCOMPATIBLE_SCHEMA` in a read failure's reasons; `UnknownTableException` in the
/// node's log).
fn replica_lacks_schema(e: &DbError) -> bool {
    matches!(e, DbError::Statement { reason, .. } if reason.contains("INCOMPATIBLE_SCHEMA"))
}

fn statement_error(what: &str, reason: &str) -> DbError {
    DbError::Statement {
        what: what.to_string(),
        reason: reason.to_string(),
    }
}

fn connect_error(contact: &str, reason: &str, settings: &Settings) -> DbError {
    let lower = reason.to_ascii_lowercase();
    let origin = |k: &str| settings.origin(k).to_string();
    let hint = if lower.contains("authentication")
        || lower.contains("credentials")
        || lower.contains("password")
    {
        if settings.astra_token.is_some() {
            format!(
                "AstraDB refused the application token (from {}): check astra_token / ASTRA_TOKEN \
                 (an AstraCS:… token with a role that can use this database)",
                origin("astra_token")
            )
        } else if settings.username.is_none() {
            "the cluster requires a login: set username and password (CASSANDRA_USERNAME / CASSANDRA_PASSWORD)".to_string()
        } else {
            format!(
                "check username (from {}) and password (from {})",
                origin("username"),
                origin("password")
            )
        }
    } else if lower.contains("certificate")
        || lower.contains("tls")
        || lower.contains("handshake")
        || lower.contains("ssl")
    {
        "check ssl_cafile (the CA that signed the server certificate); if the certificate does not name the \
         node's IP address, set ssl_verify_hostname: false"
            .to_string()
    } else if lower.contains("refused") {
        format!("nothing accepts connections there: is Cassandra running, and are hosts (from {}) and port (from {}) right?", origin("hosts"), origin("port"))
    } else {
        format!(
            "check hosts (from {}) and port (from {}), and that the nodes are up",
            origin("hosts"),
            origin("port")
        )
    };
    DbError::Connect {
        contact: contact.to_string(),
        reason: first_line(reason),
        hint,
    }
}

fn first_line(s: &str) -> String {
    let s = s.lines().next().unwrap_or(s);
    if s.chars().count() > 300 {
        format!("{}…", s.chars().take(300).collect::<String>())
    } else {
        s.to_string()
    }
}

/// The datacenter of the first contact point found among the cluster's nodes (the
/// addresses resolved as the driver resolves them).
async fn contact_datacenter(session: &Session, hosts: &[String], port: u16) -> Option<String> {
    let state = session.get_cluster_state();
    for host in hosts {
        let Ok(addrs) = tokio::net::lookup_host(host_port(host, port)).await else {
            continue;
        };
        for addr in addrs {
            if let Some(dc) = state
                .get_nodes_info()
                .iter()
                .find(|n| n.address.ip() == addr.ip() && n.address.port() == addr.port())
                .and_then(|n| n.datacenter.clone())
            {
                return Some(dc);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_without_the_table_is_told_apart() {
        // What a 5.0 node answered when a restarted replica had not pulled the schema yet.
        let lacking = statement_error(
            "reading h.cassachange_intent",
            "Database returned an error: A non-timeout error during a read request \
             (consistency: Quorum, received: 1, required: 2, numfailures: 1, data_present: \
             false), Error message: Operation failed - received 1 responses and 1 failures: \
             INCOMPATIBLE_SCHEMA from /127.0.11.3:7301",
        );
        assert!(replica_lacks_schema(&lacking));
        let other = statement_error(
            "reading h.change_history",
            "Database returned an error: Not enough nodes are alive to satisfy the request",
        );
        assert!(!replica_lacks_schema(&other));
    }

    #[test]
    fn host_port_forms() {
        assert_eq!(host_port("10.0.0.1", 9042), "10.0.0.1:9042");
        assert_eq!(host_port("db:9142", 9042), "db:9142");
        assert_eq!(host_port("::1", 9042), "[::1]:9042");
        assert_eq!(host_port("[::1]:9000", 9042), "[::1]:9000");
    }
}
