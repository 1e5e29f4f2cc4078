//! Defines the cluster health check of the pre-flight: which nodes are up, whether the
//! live ones agree on the schema, and whether the history keyspace's replication can
//! meet `history_consistency` and the lock's serial level with the nodes that are up.
//!
//! [`read`] asks the cluster (each node the driver is connected to for its own schema
//! version; a node it cannot reach is looked up in the gossip of one that answers, on
//! Cassandra 4.1 and later); [`assess`] is pure and decides. A `system.peers` row that
//! gossip does not know (a node removed long ago) is a stale row: noted, never a
//! reason to stop.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use scylla::client::execution_profile::ExecutionProfile;
use scylla::cluster::Node;
use scylla::policies::load_balancing::{NodeIdentifier, SingleTargetLoadBalancingPolicy};
use scylla::policies::retry::FallthroughRetryPolicy;
use scylla::statement::unprepared::Statement;
use uuid::Uuid;

use crate::config::HistoryConsistency;
use crate::db::{CqlValue, Db, DbError, Rows};

/// How long one node may take to answer for its schema version.
const NODE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a node the client cannot reach is watched for a gossip heartbeat.
const HEARTBEAT_WATCH: Duration = Duration::from_secs(4);

/// What the check knows of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeHealth {
    /// Its address (as the cluster reports it).
    pub address: String,
    /// Its datacenter.
    pub dc: String,
    /// Its state.
    pub state: NodeState,
    /// The schema version it reports (its own, or in gossip), when known.
    pub schema: Option<Uuid>,
}

/// The state of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeState {
    /// It answered this client.
    Up,
    /// This client cannot reach it, but its gossip heartbeat advances: it is up.
    UpGossipOnly,
    /// Down, with why the check thinks so.
    Down(String),
    /// A `system.peers` row gossip does not know: not a member.
    Stale,
}

/// A node that is up but out of this client's reach (its agreement is read from gossip).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GossipNode {
    /// Its address.
    pub address: String,
    /// Its datacenter.
    pub dc: String,
}

/// A keyspace's replication: the class and the factor per datacenter
/// (`NetworkTopologyStrategy`), or one factor for the whole ring (`SimpleStrategy`,
/// under the key `""`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replication {
    /// The strategy's class, short (`NetworkTopologyStrategy`).
    pub class: String,
    /// Replication factor per datacenter (`""`: the whole ring).
    pub factors: BTreeMap<String, u32>,
}

impl Replication {
    fn is_nts(&self) -> bool {
        self.class.ends_with("NetworkTopologyStrategy")
    }

    fn describe(&self) -> String {
        if self.is_nts() {
            let f: Vec<String> = self
                .factors
                .iter()
                .map(|(d, n)| format!("{d}: {n}"))
                .collect();
            format!("{{{}}}", f.join(", "))
        } else {
            format!(
                "{} {}",
                self.class,
                self.factors.values().next().copied().unwrap_or(0)
            )
        }
    }
}

/// What [`read`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// Every node the cluster reports.
    pub nodes: Vec<NodeHealth>,
    /// The client's datacenter (that of its contact points).
    pub local_dc: Option<String>,
    /// The history keyspace.
    pub history_keyspace: String,
    /// Its replication (`None`: it does not exist yet).
    pub replication: Option<Replication>,
    /// A managed cluster (AstraDB): nothing to check.
    pub managed: bool,
    /// Nodes out of the client's reach were counted down without watching their gossip
    /// heartbeat ([`Watch::No`]): a down node and an up one out of reach look alike.
    pub unwatched: bool,
}

/// Whether [`read`] watches the gossip heartbeat of nodes the client cannot reach (up
/// to 4 s) to tell a down node from one that is up but out of reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    /// Watch: the verdict depends on it (a run with schema changes).
    Yes,
    /// Count them down at once (a data-only run: either way only a warning, unless the
    /// replicas fall short, when the caller reads again with [`Watch::Yes`]).
    No,
}

/// One reason the cluster is not healthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Nodes are down.
    Down(Vec<NodeHealth>),
    /// The live nodes report different schema versions.
    Disagreement(BTreeMap<Uuid, Vec<NodeHealth>>),
    /// The history keyspace's replication cannot meet a consistency level with the
    /// nodes that are up.
    Consistency(String),
}

impl Problem {
    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            Problem::Down(nodes) => {
                let n: Vec<String> = nodes
                    .iter()
                    .map(|n| {
                        let why = match &n.state {
                            NodeState::Down(w) => w.as_str(),
                            _ => "",
                        };
                        format!("{} ({}) {why}", n.address, n.dc)
                    })
                    .collect();
                format!("{} node(s) down: {}", nodes.len(), n.join("; "))
            }
            Problem::Disagreement(versions) => {
                let v: Vec<String> = versions
                    .iter()
                    .map(|(v, nodes)| {
                        let names: Vec<String> = nodes
                            .iter()
                            .map(|n| format!("{} ({})", n.address, n.dc))
                            .collect();
                        format!("{} on {}", short(v), names.join(", "))
                    })
                    .collect();
                format!(
                    "schema disagreement: {} versions among the live nodes: {}",
                    versions.len(),
                    v.join("; ")
                )
            }
            Problem::Consistency(m) => m.clone(),
        }
    }

    /// A short name, for JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Problem::Down(_) => "nodes_down",
            Problem::Disagreement(_) => "schema_disagreement",
            Problem::Consistency(_) => "consistency",
        }
    }
}

fn short(v: &Uuid) -> String {
    v.to_string()[..8].to_string()
}

/// The decision's inputs: what is wrong, and what is only worth a note.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assessment {
    /// What makes the cluster unhealthy.
    pub problems: Vec<Problem>,
    /// Remarks (stale `system.peers` rows, nodes reached only through gossip).
    pub notes: Vec<String>,
}

impl Assessment {
    /// No problem.
    pub fn healthy(&self) -> bool {
        self.problems.is_empty()
    }

    /// True when a problem stops even a run without schema changes: the history and
    /// lock cannot be written at their consistency levels.
    pub fn stops_any_run(&self) -> bool {
        self.problems
            .iter()
            .any(|p| matches!(p, Problem::Consistency(_)))
    }
}

fn quorum(rf: u32) -> u32 {
    rf / 2 + 1
}

/// The replicas of the history keyspace in `dc` (or the whole ring for `""`) that are
/// certainly up: each down node there may be one of them.
fn live_replicas(t: &Topology, dc: Option<&str>, rf: u32) -> (u32, u32, u32) {
    let members = t
        .nodes
        .iter()
        .filter(|n| n.state != NodeState::Stale && dc.is_none_or(|d| n.dc == d));
    let (mut total, mut down) = (0u32, 0u32);
    for n in members {
        total += 1;
        if matches!(n.state, NodeState::Down(_)) {
            down += 1;
        }
    }
    let replicas = rf.min(total);
    (replicas.saturating_sub(down), total - down, total)
}

/// Decides whether the cluster is healthy for a run with `consistency` (pure).
pub fn assess(t: &Topology, consistency: HistoryConsistency) -> Assessment {
    let mut out = Assessment::default();
    if t.managed {
        return out;
    }
    let stale: Vec<&NodeHealth> = t
        .nodes
        .iter()
        .filter(|n| n.state == NodeState::Stale)
        .collect();
    if !stale.is_empty() {
        let names: Vec<String> = stale.iter().map(|n| n.address.clone()).collect();
        out.notes.push(format!(
            "system.peers lists {} node(s) gossip does not know (removed long ago): {}; ignored",
            names.len(),
            names.join(", ")
        ));
    }
    let gossip_only: Vec<String> = t
        .nodes
        .iter()
        .filter(|n| n.state == NodeState::UpGossipOnly)
        .map(|n| format!("{} ({})", n.address, n.dc))
        .collect();
    if !gossip_only.is_empty() {
        out.notes.push(format!(
            "not reachable from this client but up (its gossip heartbeat advances): {}; their \
             schema agreement is read from gossip",
            gossip_only.join(", ")
        ));
    }
    // Under local_quorum (deploys from one datacenter), a node down in another
    // datacenter is a note: that datacenter takes the schema when it is back.
    let local_only = match (consistency, &t.local_dc) {
        (HistoryConsistency::LocalQuorum, Some(dc)) => Some(dc.as_str()),
        _ => None,
    };
    let (down, elsewhere): (Vec<NodeHealth>, Vec<NodeHealth>) = t
        .nodes
        .iter()
        .filter(|n| matches!(n.state, NodeState::Down(_)))
        .cloned()
        .partition(|n| local_only.is_none_or(|dc| n.dc == dc));
    if !elsewhere.is_empty() {
        out.notes.push(format!(
            "{} (history_consistency: local_quorum: only {} counts; the other datacenters \
             take the schema when they are back)",
            Problem::Down(elsewhere).describe(),
            local_only.unwrap_or_default()
        ));
    }
    if !down.is_empty() {
        out.problems.push(Problem::Down(down));
    }
    let mut versions: BTreeMap<Uuid, Vec<NodeHealth>> = BTreeMap::new();
    for n in &t.nodes {
        if matches!(n.state, NodeState::Up | NodeState::UpGossipOnly) {
            if let Some(v) = n.schema {
                versions.entry(v).or_default().push(n.clone());
            }
        }
    }
    if versions.len() > 1 {
        out.problems.push(Problem::Disagreement(versions));
    }
    if let Some(r) = &t.replication {
        out.problems.extend(
            consistency_problems(t, r, consistency)
                .into_iter()
                .map(Problem::Consistency),
        );
    }
    out
}

fn up_summary(t: &Topology) -> String {
    let mut per_dc: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    for n in t.nodes.iter().filter(|n| n.state != NodeState::Stale) {
        let e = per_dc.entry(n.dc.as_str()).or_default();
        e.1 += 1;
        if !matches!(n.state, NodeState::Down(_)) {
            e.0 += 1;
        }
    }
    let parts: Vec<String> = per_dc
        .iter()
        .map(|(dc, (up, all))| format!("{dc} {up}/{all}"))
        .collect();
    format!("nodes up: {}", parts.join(", "))
}

fn consistency_problems(
    t: &Topology,
    r: &Replication,
    consistency: HistoryConsistency,
) -> Vec<String> {
    let ks = &t.history_keyspace;
    let mut out = Vec::new();
    let setting = match consistency {
        HistoryConsistency::Quorum => "quorum",
        HistoryConsistency::EachQuorum => "each_quorum",
        HistoryConsistency::LocalQuorum => "local_quorum",
    };
    // The whole ring's quorum (QUORUM, and SERIAL for the lock).
    let whole = |what: &str, out: &mut Vec<String>| {
        let (rf, live) = if r.is_nts() {
            r.factors.iter().fold((0, 0), |(rf, live), (dc, f)| {
                (rf + f, live + live_replicas(t, Some(dc), *f).0)
            })
        } else {
            let f = r.factors.values().next().copied().unwrap_or(0);
            (f, live_replicas(t, None, f).0)
        };
        if live < quorum(rf) {
            out.push(format!(
                "history_consistency: {setting} needs {what} — {} of the {rf} replicas of the \
                 history keyspace '{ks}' ({}) — but only {live} are certainly up ({})",
                quorum(rf),
                r.describe(),
                up_summary(t)
            ));
        }
    };
    // One datacenter's quorum.
    let in_dc = |dc: &str, what: &str, out: &mut Vec<String>| {
        let Some(&f) = r.factors.get(dc) else {
            out.push(format!(
                "history_consistency: {setting} needs {what} in datacenter {dc}, but the history \
                 keyspace '{ks}' ({}) has no replicas there",
                r.describe()
            ));
            return;
        };
        let (live, _, _) = live_replicas(t, Some(dc), f);
        if live < quorum(f) {
            out.push(format!(
                "history_consistency: {setting} needs {what} in {dc} — {} of its {f} replicas \
                 of the history keyspace '{ks}' — but only {live} are certainly up ({})",
                quorum(f),
                up_summary(t)
            ));
        }
    };
    match consistency {
        HistoryConsistency::Quorum => whole("QUORUM and the lock's SERIAL", &mut out),
        HistoryConsistency::EachQuorum => {
            if r.is_nts() {
                for dc in r.factors.iter().filter(|(_, f)| **f > 0).map(|(d, _)| d) {
                    in_dc(dc, "EACH_QUORUM", &mut out);
                }
            } else {
                out.push(format!(
                    "history_consistency: each_quorum needs the history keyspace '{ks}' to be \
                     replicated with NetworkTopologyStrategy; it uses {}",
                    r.class
                ));
            }
            whole("the lock's SERIAL", &mut out);
        }
        HistoryConsistency::LocalQuorum => {
            if r.is_nts() {
                match &t.local_dc {
                    Some(dc) => in_dc(dc, "LOCAL_QUORUM and the lock's LOCAL_SERIAL", &mut out),
                    None => whole("LOCAL_QUORUM", &mut out),
                }
            } else {
                // Without datacenters, LOCAL_QUORUM is the ring's quorum.
                whole("LOCAL_QUORUM and the lock's LOCAL_SERIAL", &mut out);
            }
        }
    }
    out
}

/// A profile sending a request to `node` only, without retries elsewhere.
fn single(node: &Arc<Node>) -> scylla::client::execution_profile::ExecutionProfileHandle {
    ExecutionProfile::builder()
        .load_balancing_policy(SingleTargetLoadBalancingPolicy::new(
            NodeIdentifier::Node(Arc::clone(node)),
            None,
        ))
        .retry_policy(Arc::new(FallthroughRetryPolicy))
        .request_timeout(Some(NODE_TIMEOUT))
        .build()
        .into_handle()
}

async fn query_on(db: &Db, node: &Arc<Node>, cql: &str) -> Result<Rows, String> {
    let mut st = Statement::new(cql);
    st.set_execution_profile_handle(Some(single(node)));
    let r = db
        .session()
        .query_unpaged(st, &[])
        .await
        .map_err(|e| e.to_string())?;
    crate::db::all_rows("reading node health", r).map_err(|e| e.to_string())
}

fn uuid_col(rows: &Rows, i: usize, name: &str) -> Option<Uuid> {
    match rows
        .index(name)
        .and_then(|c| rows.rows.get(i)?.get(c)?.as_ref())
    {
        Some(CqlValue::Uuid(u)) => Some(*u),
        Some(CqlValue::Text(s)) => s.parse().ok(),
        _ => None,
    }
}

fn bigint_col(rows: &Rows, i: usize, name: &str) -> Option<i64> {
    match rows
        .index(name)
        .and_then(|c| rows.rows.get(i)?.get(c)?.as_ref())
    {
        Some(CqlValue::BigInt(v)) => Some(*v),
        Some(CqlValue::Int(v)) => Some(i64::from(*v)),
        _ => None,
    }
}

/// One node's gossip entry: status, heartbeat, schema.
#[derive(Debug, Clone)]
struct Gossip {
    status: String,
    heartbeat: Option<i64>,
    schema: Option<Uuid>,
}

async fn gossip(db: &Db, via: &Arc<Node>) -> Result<BTreeMap<String, Gossip>, String> {
    let rows = query_on(
        db,
        via,
        "SELECT address, status, heartbeat, \"schema\" FROM system_views.gossip_info",
    )
    .await
    .map_err(|e| {
        if e.contains("gossip_info") && (e.contains("unconfigured") || e.contains("does not exist"))
        {
            "this Cassandra (before 4.1) has no system_views.gossip_info to tell down from out \
             of reach"
                .to_string()
        } else {
            format!("gossip could not be read: {e}")
        }
    })?;
    let mut out = BTreeMap::new();
    for i in 0..rows.rows.len() {
        let address = match rows
            .index("address")
            .and_then(|c| rows.rows[i].get(c)?.as_ref())
        {
            Some(CqlValue::Inet(a)) => a.to_string(),
            _ => continue,
        };
        out.insert(
            address,
            Gossip {
                status: rows.text(i, "status").unwrap_or_default(),
                heartbeat: bigint_col(&rows, i, "heartbeat"),
                schema: uuid_col(&rows, i, "schema"),
            },
        );
    }
    Ok(out)
}

/// Every node the driver knows, and each connected one's own schema version
/// (`system.local`, asked of that node only, all in parallel): `None` for a node
/// without a connection, `Err` for one that did not answer.
async fn own_versions(db: &Db) -> (Vec<Arc<Node>>, Vec<Option<Result<Option<Uuid>, String>>>) {
    let state = db.session().get_cluster_state();
    let all: Vec<Arc<Node>> = state.get_nodes_info().to_vec();
    let answers = futures_util::future::join_all(all.iter().map(|n| async move {
        if !n.is_connected() {
            return None;
        }
        Some(
            query_on(db, n, "SELECT schema_version FROM system.local")
                .await
                .map(|rows| uuid_col(&rows, 0, "schema_version")),
        )
    }))
    .await;
    (all, answers)
}

/// Reads the topology: every node's state and schema version, and the history
/// keyspace's replication.
pub async fn read(db: &Db, history_keyspace: &str) -> Result<Topology, DbError> {
    read_watching(db, history_keyspace, Watch::Yes).await
}

/// [`read`], watching the heartbeat of unreachable nodes only with [`Watch::Yes`].
pub async fn read_watching(
    db: &Db,
    history_keyspace: &str,
    watch: Watch,
) -> Result<Topology, DbError> {
    let history_keyspace = history_keyspace.to_ascii_lowercase();
    if db.is_astra() {
        return Ok(Topology {
            nodes: Vec::new(),
            local_dc: None,
            history_keyspace,
            replication: None,
            managed: true,
            unwatched: false,
        });
    }
    // A node killed a moment ago may still be picked (its pool not yet seen broken):
    // another attempt goes elsewhere.
    let mut attempt = 0;
    let replication = loop {
        match replication(db, &history_keyspace).await {
            Ok(r) => break r,
            Err(_) if attempt < 3 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) => return Err(e),
        }
    };
    let (all, answers) = own_versions(db).await;
    let mut nodes = Vec::new();
    let mut unreached = Vec::new();
    let mut via = None;
    for (n, answer) in all.iter().zip(answers) {
        let mut h = NodeHealth {
            address: n.address.ip().to_string(),
            dc: n.datacenter.clone().unwrap_or_default(),
            state: NodeState::Up,
            schema: None,
        };
        match answer {
            Some(Ok(version)) => {
                h.schema = version;
                via.get_or_insert_with(|| Arc::clone(n));
            }
            Some(Err(e)) => h.state = NodeState::Down(format!("(does not answer: {e})")),
            None => unreached.push(nodes.len()),
        }
        nodes.push(h);
    }
    let mut unwatched = false;
    if !unreached.is_empty() {
        unwatched = classify_unreached(db, via.as_ref(), &mut nodes, &unreached, watch).await;
    }
    let gossip_only = nodes
        .iter()
        .filter(|n| n.state == NodeState::UpGossipOnly)
        .map(|n| GossipNode {
            address: n.address.clone(),
            dc: n.dc.clone(),
        })
        .collect();
    db.set_gossip_only(gossip_only);
    Ok(Topology {
        nodes,
        local_dc: db.local_dc().map(str::to_string),
        history_keyspace,
        replication,
        managed: false,
        unwatched,
    })
}

/// Nodes the driver has no connection to: down, up out of reach, or stale rows —
/// told apart by the gossip of a node that answered (Cassandra 4.1+). Returns whether
/// some were counted down without their heartbeat watched ([`Watch::No`]).
async fn classify_unreached(
    db: &Db,
    via: Option<&Arc<Node>>,
    nodes: &mut [NodeHealth],
    unreached: &[usize],
    watch: Watch,
) -> bool {
    let Some(via) = via else {
        for &i in unreached {
            nodes[i].state = NodeState::Down("(no connection from this client)".into());
        }
        return false;
    };
    let first = match gossip(db, via).await {
        Ok(g) => g,
        Err(why) => {
            for &i in unreached {
                nodes[i].state =
                    NodeState::Down(format!("(no connection from this client; {why})"));
            }
            return false;
        }
    };
    let mut waiting = Vec::new();
    for &i in unreached {
        match first.get(&nodes[i].address) {
            None => nodes[i].state = NodeState::Stale,
            Some(g) if g.status.starts_with("LEFT") || g.status.starts_with("removed") => {
                nodes[i].state = NodeState::Stale;
            }
            Some(g) if g.status.starts_with("shutdown") => {
                nodes[i].state = NodeState::Down("(shut down, says gossip)".into());
            }
            Some(g) => {
                nodes[i].schema = g.schema;
                waiting.push((i, g.heartbeat));
            }
        }
    }
    if watch == Watch::No && !waiting.is_empty() {
        for (i, _) in waiting {
            nodes[i].state = NodeState::Down(
                "(no connection from this client; not told apart from up but out of reach: \
                 this run changes no schema)"
                    .into(),
            );
        }
        return true;
    }
    // Up when its heartbeat moves (each node beats every second).
    let deadline = tokio::time::Instant::now() + HEARTBEAT_WATCH;
    while !waiting.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Ok(now) = gossip(db, via).await else {
            break;
        };
        waiting.retain(|(i, beat)| {
            let moved = now
                .get(&nodes[*i].address)
                .is_some_and(|g| g.heartbeat != *beat);
            if moved {
                nodes[*i].state = NodeState::UpGossipOnly;
                nodes[*i].schema = now.get(&nodes[*i].address).and_then(|g| g.schema);
            }
            !moved
        });
    }
    for (i, _) in waiting {
        nodes[i].state = NodeState::Down(format!(
            "(no connection from this client, and its gossip heartbeat stood still for {}s)",
            HEARTBEAT_WATCH.as_secs()
        ));
    }
    false
}

async fn replication(db: &Db, keyspace: &str) -> Result<Option<Replication>, DbError> {
    let rows = db
        .query(
            "reading the history keyspace's replication",
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?",
            vec![Some(CqlValue::Text(keyspace.to_string()))],
        )
        .await?;
    let Some(Some(CqlValue::Map(entries))) = rows.rows.first().and_then(|r| r.first()) else {
        return Ok(None);
    };
    let mut class = String::new();
    let mut factors = BTreeMap::new();
    for (k, v) in entries {
        if let (CqlValue::Text(k), CqlValue::Text(v)) = (k, v) {
            if k == "class" {
                class = v.rsplit('.').next().unwrap_or(v).to_string();
            } else if k == "replication_factor" {
                factors.insert(
                    String::new(),
                    v.split('/').next().unwrap_or(v).parse().unwrap_or(0),
                );
            } else {
                factors.insert(
                    k.clone(),
                    v.split('/').next().unwrap_or(v).parse().unwrap_or(0),
                );
            }
        }
    }
    if class.ends_with("NetworkTopologyStrategy") {
        factors.remove("");
    }
    Ok(Some(Replication { class, factors }))
}

/// After a schema change: waits until the nodes out of this client's reach that were
/// up (their versions in the coordinator's gossip) report `version`, for up to `limit`.
/// Names the nodes that do not.
pub(crate) async fn await_gossip_agreement(
    db: &Db,
    nodes: &[GossipNode],
    limit: Duration,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let local = db
            .query(
                "reading the schema version",
                "SELECT schema_version FROM system.local",
                vec![],
            )
            .await
            .map_err(|e| e.to_string())?;
        let peers = db
            .query(
                "reading the peers' schema versions",
                "SELECT peer, schema_version FROM system.peers",
                vec![],
            )
            .await
            .map_err(|e| e.to_string())?;
        let want = uuid_col(&local, 0, "schema_version");
        let mut behind = Vec::new();
        for n in nodes {
            let v = (0..peers.rows.len())
                .find(|&i| {
                    matches!(peers.rows[i].first(), Some(Some(CqlValue::Inet(a))) if a.to_string() == n.address)
                })
                .and_then(|i| uuid_col(&peers, i, "schema_version"));
            if v != want || want.is_none() {
                behind.push(format!(
                    "{} ({}) reports {}",
                    n.address,
                    n.dc,
                    v.map_or_else(|| "nothing".into(), |v| short(&v))
                ));
            }
        }
        if behind.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "after {}s, nodes out of this client's reach still disagree with {}: {}",
                limit.as_secs(),
                want.map_or_else(|| "the coordinator".into(), |v| short(&v)),
                behind.join("; ")
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The schema version of each node this client is connected to, for a message naming
/// the nodes that disagree.
pub(crate) async fn versions_line(db: &Db) -> String {
    let (all, answers) = own_versions(db).await;
    let parts: Vec<String> = all
        .iter()
        .zip(answers)
        .map(|(n, answer)| {
            let v = answer.and_then(Result::ok).flatten();
            format!(
                "{} ({}) {}",
                n.address.ip(),
                n.datacenter.as_deref().unwrap_or("?"),
                v.map_or_else(|| "no answer".into(), |v| short(&v))
            )
        })
        .collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests;
