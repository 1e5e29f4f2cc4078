#![allow(clippy::unnecessary_wraps)] // helpers shaped like Topology's fields

use super::*;

const V1: Uuid = Uuid::from_u128(0x1111_1111_0000_0000_0000_0000_0000_0001);
const V2: Uuid = Uuid::from_u128(0x2222_2222_0000_0000_0000_0000_0000_0002);

fn node(address: &str, dc: &str, state: NodeState) -> NodeHealth {
    let schema = match state {
        NodeState::Down(_) | NodeState::Stale => None,
        _ => Some(V1),
    };
    NodeHealth {
        address: address.into(),
        dc: dc.into(),
        state,
        schema,
    }
}

fn down(address: &str, dc: &str) -> NodeHealth {
    node(address, dc, NodeState::Down("(killed)".into()))
}

fn up(address: &str, dc: &str) -> NodeHealth {
    node(address, dc, NodeState::Up)
}

fn nts(factors: &[(&str, u32)]) -> Option<Replication> {
    Some(Replication {
        class: "NetworkTopologyStrategy".into(),
        factors: factors
            .iter()
            .map(|(d, f)| ((*d).to_string(), *f))
            .collect(),
    })
}

fn simple(rf: u32) -> Option<Replication> {
    Some(Replication {
        class: "SimpleStrategy".into(),
        factors: [(String::new(), rf)].into(),
    })
}

fn topo(nodes: Vec<NodeHealth>, replication: Option<Replication>) -> Topology {
    Topology {
        nodes,
        local_dc: Some("dc1".into()),
        history_keyspace: "hist".into(),
        replication,
        managed: false,
        unwatched: false,
    }
}

fn kinds(a: &Assessment) -> Vec<&'static str> {
    a.problems.iter().map(Problem::kind).collect()
}

const ALL: [HistoryConsistency; 3] = [
    HistoryConsistency::Quorum,
    HistoryConsistency::EachQuorum,
    HistoryConsistency::LocalQuorum,
];

#[test]
fn a_healthy_two_dc_cluster_passes_every_level() {
    let t = topo(
        vec![up("10.0.0.1", "dc1"), up("10.0.1.1", "dc2")],
        nts(&[("dc1", 1), ("dc2", 1)]),
    );
    for c in ALL {
        assert!(assess(&t, c).healthy(), "{c:?}");
    }
}

#[test]
fn one_dc_down_stops_quorum_and_each_quorum_not_local_quorum() {
    let t = topo(
        vec![up("10.0.0.1", "dc1"), down("10.0.1.1", "dc2")],
        nts(&[("dc1", 1), ("dc2", 1)]),
    );
    let q = assess(&t, HistoryConsistency::Quorum);
    assert_eq!(kinds(&q), ["nodes_down", "consistency"]);
    assert!(q.stops_any_run());
    assert_eq!(
        q.problems[1].describe(),
        "history_consistency: quorum needs QUORUM and the lock's SERIAL — 2 of the 2 replicas \
         of the history keyspace 'hist' ({dc1: 1, dc2: 1}) — but only 1 are certainly up \
         (nodes up: dc1 1/1, dc2 0/1)"
    );
    let e = assess(&t, HistoryConsistency::EachQuorum);
    assert_eq!(kinds(&e), ["nodes_down", "consistency", "consistency"]);
    assert!(e.problems[1].describe().contains("EACH_QUORUM in dc2"));
    let l = assess(&t, HistoryConsistency::LocalQuorum);
    assert!(l.healthy(), "the live DC's quorum is enough: {l:?}");
    assert_eq!(
        l.notes,
        [
            "1 node(s) down: 10.0.1.1 (dc2) (killed) (history_consistency: local_quorum: only dc1 \
          counts; the other datacenters take the schema when they are back)"
        ]
    );
    // From the DC that is down, local_quorum cannot work either.
    let mut from_dc2 = t.clone();
    from_dc2.local_dc = Some("dc2".into());
    let l2 = assess(&from_dc2, HistoryConsistency::LocalQuorum);
    assert!(l2.stops_any_run());
    assert_eq!(kinds(&l2), ["nodes_down", "consistency"]);
    assert!(l2.problems[1]
        .describe()
        .contains("in dc2 — 1 of its 1 replicas"));
}

#[test]
fn one_node_down_of_three_per_dc_keeps_every_quorum() {
    let mut nodes = Vec::new();
    for dc in ["dc1", "dc2"] {
        for i in 1..=3 {
            nodes.push(up(&format!("{dc}.{i}"), dc));
        }
    }
    nodes[4] = down("dc2.2", "dc2");
    let t = topo(nodes, nts(&[("dc1", 3), ("dc2", 3)]));
    for c in [HistoryConsistency::Quorum, HistoryConsistency::EachQuorum] {
        let a = assess(&t, c);
        assert_eq!(kinds(&a), ["nodes_down"], "{c:?}");
        assert!(!a.stops_any_run());
        assert!(a.problems[0]
            .describe()
            .starts_with("1 node(s) down: dc2.2 (dc2) (killed)"));
    }
    // From dc1 under local_quorum, dc2's node is a note.
    let a = assess(&t, HistoryConsistency::LocalQuorum);
    assert!(a.healthy() && a.notes.len() == 1, "{a:?}");
    // From dc2 itself, its own node down stops a schema change.
    let mut own = t.clone();
    own.local_dc = Some("dc2".into());
    let a = assess(&own, HistoryConsistency::LocalQuorum);
    assert_eq!(kinds(&a), ["nodes_down"], "{a:?}");
}

#[test]
fn two_down_in_a_dc_of_three_break_each_quorum_only() {
    let mut nodes = Vec::new();
    for dc in ["dc1", "dc2"] {
        for i in 1..=3 {
            nodes.push(up(&format!("{dc}.{i}"), dc));
        }
    }
    nodes[4] = down("dc2.2", "dc2");
    nodes[5] = down("dc2.3", "dc2");
    let t = topo(nodes, nts(&[("dc1", 3), ("dc2", 3)]));
    // 4 of 6 replicas up: QUORUM (4) holds; dc2 has 1 of 3: EACH_QUORUM fails.
    assert!(!assess(&t, HistoryConsistency::Quorum).stops_any_run());
    assert!(assess(&t, HistoryConsistency::EachQuorum).stops_any_run());
    assert!(!assess(&t, HistoryConsistency::LocalQuorum).stops_any_run());
}

#[test]
fn more_nodes_than_replicas_counts_the_worst_case() {
    // RF 3 on 5 nodes, 2 down: a partition may have 2 of its 3 replicas down.
    let mut nodes: Vec<NodeHealth> = (1..=5).map(|i| up(&format!("n{i}"), "dc1")).collect();
    nodes[0] = down("n1", "dc1");
    nodes[1] = down("n2", "dc1");
    let t = topo(nodes, simple(3));
    let a = assess(&t, HistoryConsistency::Quorum);
    assert!(a.stops_any_run(), "{a:?}");
    // One down: 2 of 3 certainly up.
    let mut nodes: Vec<NodeHealth> = (1..=5).map(|i| up(&format!("n{i}"), "dc1")).collect();
    nodes[0] = down("n1", "dc1");
    assert!(!assess(&topo(nodes, simple(3)), HistoryConsistency::Quorum).stops_any_run());
}

#[test]
fn schema_disagreement_names_each_version_and_its_nodes() {
    let mut b = up("10.0.1.1", "dc2");
    b.schema = Some(V2);
    let t = topo(
        vec![up("10.0.0.1", "dc1"), up("10.0.0.2", "dc1"), b],
        nts(&[("dc1", 2), ("dc2", 1)]),
    );
    let a = assess(&t, HistoryConsistency::Quorum);
    assert_eq!(kinds(&a), ["schema_disagreement"]);
    assert!(!a.stops_any_run());
    assert_eq!(
        a.problems[0].describe(),
        "schema disagreement: 2 versions among the live nodes: 11111111 on 10.0.0.1 (dc1), \
         10.0.0.2 (dc1); 22222222 on 10.0.1.1 (dc2)"
    );
}

#[test]
fn a_stale_peers_row_is_a_note_not_a_problem() {
    let t = topo(
        vec![
            up("10.0.0.1", "dc1"),
            node("10.0.0.9", "dc1", NodeState::Stale),
        ],
        simple(1),
    );
    let a = assess(&t, HistoryConsistency::Quorum);
    assert!(a.healthy(), "{a:?}");
    assert_eq!(
        a.notes,
        ["system.peers lists 1 node(s) gossip does not know (removed long ago): 10.0.0.9; ignored"]
    );
}

#[test]
fn a_node_up_out_of_reach_counts_as_up_and_its_gossip_schema_counts() {
    let mut far = node("10.0.1.1", "dc2", NodeState::UpGossipOnly);
    let t = topo(
        vec![up("10.0.0.1", "dc1"), far.clone()],
        nts(&[("dc1", 1), ("dc2", 1)]),
    );
    let a = assess(&t, HistoryConsistency::EachQuorum);
    assert!(a.healthy(), "{a:?}");
    assert_eq!(a.notes.len(), 1);
    far.schema = Some(V2);
    let t = topo(
        vec![up("10.0.0.1", "dc1"), far],
        nts(&[("dc1", 1), ("dc2", 1)]),
    );
    assert_eq!(
        kinds(&assess(&t, HistoryConsistency::EachQuorum)),
        ["schema_disagreement"]
    );
}

#[test]
fn each_quorum_on_simple_strategy_is_refused_with_the_reason() {
    let t = topo(vec![up("10.0.0.1", "dc1")], simple(1));
    let a = assess(&t, HistoryConsistency::EachQuorum);
    assert_eq!(kinds(&a), ["consistency"]);
    assert!(a.problems[0].describe().contains(
        "needs the history keyspace 'hist' to be replicated with NetworkTopologyStrategy"
    ));
}

#[test]
fn local_quorum_without_replicas_in_the_local_dc_is_refused() {
    let mut t = topo(
        vec![up("10.0.0.1", "dc1"), up("10.0.1.1", "dc2")],
        nts(&[("dc2", 1)]),
    );
    t.local_dc = Some("dc1".into());
    let a = assess(&t, HistoryConsistency::LocalQuorum);
    assert!(
        a.problems[0].describe().contains("has no replicas there"),
        "{a:?}"
    );
}

#[test]
fn a_managed_cluster_and_a_missing_history_keyspace_have_nothing_to_check() {
    let mut t = topo(vec![down("10.0.0.1", "dc1")], None);
    t.managed = true;
    assert!(assess(&t, HistoryConsistency::Quorum).healthy());
    t.managed = false;
    // No history keyspace yet: the down node still counts, consistency is not judged.
    assert_eq!(
        kinds(&assess(&t, HistoryConsistency::Quorum)),
        ["nodes_down"]
    );
}
