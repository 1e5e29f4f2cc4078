//! Two datacenters for real (`twodc`: dc1 127.0.0.8, dc2 127.0.0.9, one node each; the
//! test keyspaces replicated once in each): deploys from a contact point in each
//! datacenter, two at once from different ones, one datacenter down under each
//! `history_consistency`, schema disagreement caught and waited for, a node up but out
//! of the client's reach, and the freeze. The scenarios stop nodes, so they run one
//! after another in one test (holding one test thread, not two), each putting the
//! cluster back as it found it, even when it fails.

use std::time::Duration;

use cassachange_tests::db::{node_sh_run, node_sh_try, twodc};
use cassachange_tests::{finish, signal, spawn, wait_for, DbProject};
use serde_json::Value;

const DC1: &str = "127.0.0.8";
const DC2: &str = "127.0.0.9";

/// A project on `twodc` whose only contact point is `host`, with `consistency`.
fn project(label: &str, host: &str, consistency: &str) -> DbProject {
    let p = DbProject::new(twodc(), label, 1, "");
    point_at(&p, host, consistency);
    p
}

/// Rewrites `p`'s cassachange.yml to contact `host` only, with `consistency`.
fn point_at(p: &DbProject, host: &str, consistency: &str) {
    p.project.write(
        "cassachange.yml",
        format!(
            "hosts: [{host}]\nport: {}\nkeyspace: {}\nhistory_keyspace: {}\n\
             history_consistency: {consistency}\n",
            twodc().port,
            p.ks(),
            p.history.name
        ),
    );
}

fn nodetool(node: &str, args: &[&str]) -> String {
    let mut all = vec!["nodetool", "--name", "twodc", "--node", node];
    all.extend_from_slice(args);
    node_sh_run(&all)
}

/// True when node 1 sees node 2 as `state` (`UN`/`DN`) in `nodetool status`.
fn node2_is(state: &str) -> bool {
    nodetool("1", &["status"])
        .lines()
        .any(|l| l.starts_with(state) && l.contains(DC2))
}

/// `nodetool` on node 2 when its JVM runs (`None` when it does not answer JMX).
fn try_nodetool2(args: &[&str]) -> Option<String> {
    let mut all = vec!["nodetool", "--name", "twodc", "--node", "2"];
    all.extend_from_slice(args);
    node_sh_try(&all)
}

/// Both nodes up, reachable, gossiping and agreeing on the schema.
fn restore() {
    // A running node 2 may have its CQL port or gossip switched off: on again first
    // (`node.sh start` waits for the CQL port).
    let _ = try_nodetool2(&["enablebinary"]);
    if try_nodetool2(&["statusgossip"]).is_some_and(|s| s.contains("not running")) {
        nodetool("2", &["enablegossip"]);
        nodetool("2", &["resetlocalschema"]);
    }
    node_sh_run(&["start", "--name", "twodc"]);
    wait_for(Duration::from_secs(90), "both datacenters up", || {
        node2_is("UN")
    });
    wait_for(Duration::from_secs(90), "schema agreement", || {
        schema_versions() == 1
    });
}

/// The number of schema versions `nodetool describecluster` lists.
fn schema_versions() -> usize {
    nodetool("1", &["describecluster"])
        .lines()
        .skip_while(|l| !l.contains("Schema versions:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .count()
}

/// Puts the cluster back when dropped (a failed assertion included).
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Already failing: restore what can be, without a second panic.
            let _ = std::panic::catch_unwind(restore);
        } else {
            restore();
        }
    }
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

const T: &str = "CREATE TABLE IF NOT EXISTS t (k int PRIMARY KEY, v text);\n";

fn deploys_from_each_datacenter_with_quorum_and_each_quorum() {
    let _restore = Restore;
    restore();
    let a = project("dcq", DC1, "quorum");
    a.script("V1__t.cql", T);
    let out = a.run(&["deploy", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let health = &json(&out.stdout)["health"];
    assert_eq!(health["healthy"], true, "{health}");
    // The same project from dc2, under each_quorum, runs the next version.
    point_at(&a, DC2, "each_quorum");
    a.script(
        "V2__u.cql",
        "CREATE TABLE IF NOT EXISTS u (k int PRIMARY KEY);\n",
    );
    let out = a.run(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("run 1 | skip 1 | errors 0"),
        "{}",
        out.stdout
    );
    // Both datacenters see both tables, and both contact points see the history.
    for host in [DC1, DC2] {
        point_at(&a, host, "quorum");
        let out = a.run(&["status"]);
        assert_eq!(out.code, 0, "{}", out.all());
        assert!(out.stdout.contains("up to date"), "{host}: {}", out.stdout);
    }
    for node in [DC1, DC2] {
        for table in ["t", "u"] {
            let rows = twodc()
                .rows_via(
                    node,
                    &format!(
                        "SELECT table_name FROM system_schema.tables WHERE keyspace_name = '{}' \
                         AND table_name = '{table}'",
                        a.ks()
                    ),
                    scylla::statement::Consistency::One,
                )
                .expect("read on one node");
            assert_eq!(rows.len(), 1, "{table} on {node}");
        }
    }
    // A freeze set from dc1 stops a deploy from dc2.
    point_at(&a, DC1, "quorum");
    assert_eq!(a.run(&["repair", "--freeze", "dc2 maintenance"]).code, 0);
    point_at(&a, DC2, "each_quorum");
    a.script(
        "V3__w.cql",
        "CREATE TABLE IF NOT EXISTS w (k int PRIMARY KEY);\n",
    );
    let out = a.run(&["deploy"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stderr.contains("dc2 maintenance"), "{}", out.stderr);
    assert_eq!(a.run(&["repair", "--unfreeze"]).code, 0);
    assert_eq!(a.run(&["deploy"]).code, 0);
}

fn two_deploys_at_once_from_different_datacenters_one_runs() {
    let _restore = Restore;
    restore();
    let a = project("dcrace", DC1, "quorum");
    // The history tables exist before the race (the first run creates them).
    a.script("V1__t.cql", T);
    assert_eq!(a.run(&["deploy"]).code, 0);
    let body = (0..30).fold(String::new(), |s, i| {
        s + &format!("CREATE TABLE IF NOT EXISTS r{i} (k int PRIMARY KEY);\n")
    });
    a.script("V2__many.cql", &body);
    // A second project folder on the same keyspaces, contacting dc2.
    let b = project("dcrace", DC2, "quorum");
    b.project.write(
        "cassachange.yml",
        format!(
            "hosts: [{DC2}]\nport: {}\nkeyspace: {}\nhistory_keyspace: {}\n",
            twodc().port,
            a.ks(),
            a.history.name
        ),
    );
    b.script("V1__t.cql", T).script("V2__many.cql", &body);
    let first = spawn(&a, &["deploy"], &[]);
    let second = spawn(&b, &["deploy"], &[]);
    let results = [finish(first), finish(second)];
    let ran = results
        .iter()
        .filter(|(c, t)| *c == 0 && t.contains("run 1 | skip 1 | errors 0"))
        .count();
    let held_or_late = results
        .iter()
        .filter(|(c, t)| {
            (*c == 3 && t.contains("Deploy lock already held."))
                || (*c == 0 && t.contains("run 0 | skip 2 | errors 0"))
        })
        .count();
    assert_eq!((ran, held_or_late), (1, 1), "{results:#?}");
    let successes = a
        .history()
        .iter()
        .filter(|r| r.script == "V2__many.cql" && r.status == "SUCCESS")
        .count();
    assert_eq!(successes, 1);
}

fn one_datacenter_down_stops_quorum_and_each_quorum_and_local_quorum_runs() {
    let _restore = Restore;
    restore();
    let p = project("dcdown", DC1, "quorum");
    p.script("V1__t.cql", T)
        .script("U1__t.cql", "DROP TABLE IF EXISTS t;\n");
    assert_eq!(p.run(&["deploy"]).code, 0);
    node_sh_run(&["stop", "--name", "twodc", "--node", "2", "--kill"]);
    wait_for(Duration::from_secs(60), "dc2 seen down", || node2_is("DN"));

    // status cannot read the history at QUORUM either, and says why (exit 2).
    let out = p.run(&["status"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr
            .contains("hint: the cluster: 1 node(s) down: 127.0.0.9 (dc2)"),
        "{}",
        out.stderr
    );
    // Nothing pending, under quorum: the history itself cannot be read at QUORUM, and
    // the error says why (exit 1); under local_quorum the no-op deploy succeeds.
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 1, "no-op: {}", out.all());
    assert!(
        out.stderr.contains(
            "error: the cluster is not healthy for the history and lock: 1 node(s) down: \
             127.0.0.9 (dc2)"
        ) && out.stderr.contains("hint: the history read failed: "),
        "{}",
        out.stderr
    );
    point_at(&p, DC1, "local_quorum");
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "no-op: {}", out.all());
    assert!(out.stdout.contains("run 0 | skip 1"), "{}", out.stdout);

    p.script(
        "V2__u.cql",
        "CREATE TABLE IF NOT EXISTS u (k int PRIMARY KEY);\n",
    );
    for (consistency, reason) in [
        (
            "quorum",
            "history_consistency: quorum needs QUORUM and the lock's SERIAL — 2 of the 2 replicas",
        ),
        (
            "each_quorum",
            "history_consistency: each_quorum needs EACH_QUORUM in dc2 — 1 of its 1 replicas",
        ),
    ] {
        point_at(&p, DC1, consistency);
        let out = p.run(&["deploy"]);
        assert_eq!(out.code, 1, "{consistency}: {}", out.all());
        assert!(
            out.stderr.contains(&format!("1 node(s) down: {DC2} (dc2)"))
                && out.stderr.contains(reason)
                && out.stderr.contains("; the deploy did not start"),
            "{consistency}: {}",
            out.stderr
        );
        assert!(!out.stdout.contains("[lock]"), "stopped before the lock");
        // The dry run says the deploy would stop (under each_quorum, whose history
        // reads are local, with the gate's findings in JSON).
        let out = p.run(&["deploy", "--dry-run", "--format", "json"]);
        assert_eq!(out.code, 1, "{}", out.all());
        if consistency == "each_quorum" {
            let doc = json(&out.stdout);
            let kinds: Vec<&str> = doc["health"]["problems"]
                .as_array()
                .expect("problems")
                .iter()
                .filter_map(|p| p["kind"].as_str())
                .collect();
            assert!(
                kinds.contains(&"nodes_down") && kinds.contains(&"consistency"),
                "{doc}"
            );
        }
        // A rollback stops the same way.
        let out = p.run(&["rollback", "--dry-run"]);
        assert_eq!(out.code, 1, "{}", out.all());
        assert!(
            out.stderr.contains("a rollback would stop before the lock"),
            "{}",
            out.stderr
        );
    }
    // local_quorum from the live datacenter: the down one is a note; the deploy runs
    // (the lock at LOCAL_SERIAL, history at LOCAL_QUORUM).
    point_at(&p, DC1, "local_quorum");
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stderr
            .contains(&format!("[health]  1 node(s) down: {DC2} (dc2)"))
            && out.stderr.contains("only dc1 counts"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains("run 1 | skip 1 | errors 0"),
        "{}",
        out.stdout
    );
    assert!(p.table_exists(p.ks(), "u"));
    // Back up, dc2 takes the schema, and a quorum status from dc2 is up to date.
    restore();
    point_at(&p, DC2, "quorum");
    let out = p.run(&["status"]);
    assert!(out.stdout.contains("up to date"), "{}", out.all());
}

fn schema_disagreement_is_caught_before_ddl_and_can_be_waited_for() {
    let _restore = Restore;
    restore();
    let p = project("dcagree", DC1, "quorum");
    p.script("V1__t.cql", T);
    assert_eq!(p.run(&["deploy"]).code, 0);
    // dc2 stops gossiping: dc1 marks it down and no longer pushes schema changes to it,
    // while its CQL port still answers with the old schema.
    nodetool("2", &["disablegossip"]);
    wait_for(Duration::from_secs(60), "dc2 seen down", || node2_is("DN"));
    node_sh_run(&[
        "cql",
        "--name",
        "twodc",
        &format!("CREATE TABLE {}.elsewhere (k int PRIMARY KEY)", p.ks()),
    ]);
    p.script(
        "V2__u.cql",
        "CREATE TABLE IF NOT EXISTS u (k int PRIMARY KEY);\n",
    );
    let out = p.run(&["deploy", "--allow-unhealthy", "--dry-run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stderr
            .contains("schema disagreement: 2 versions among the live nodes: ")
            && out.stderr.contains(&format!("on {DC1} (dc1)"))
            && out.stderr.contains(&format!("on {DC2} (dc2)")),
        "{}",
        out.stderr
    );
    assert!(!p.table_exists(p.ks(), "u"));
    // A data-only script is not stopped by disagreement (a warning says it).
    p.script(
        "V2__u.cql",
        &format!("INSERT INTO {}.t (k, v) VALUES (1, 'x');\n", p.ks()),
    );
    let out = p.run(&["deploy", "--dry-run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stderr.contains("(no schema change pending: going on)"),
        "{}",
        out.stderr
    );
    // --wait-healthy waits, says what for, and runs once the nodes agree again.
    p.script(
        "V2__u.cql",
        "CREATE TABLE IF NOT EXISTS u (k int PRIMARY KEY);\n",
    );
    let wait_healthy = |name: &str| {
        let err = p.project.path().join(name);
        let child = p
            .project
            .command(&["deploy", "--wait-healthy", "90s"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&err).expect("stderr file"))
            .spawn()
            .expect("spawn");
        wait_for(Duration::from_secs(60), "the deploy to wait", || {
            std::fs::read_to_string(&err).is_ok_and(|t| {
                t.contains("[health]  waiting up to ")
                    && t.contains("(--wait-healthy) for: schema disagreement")
            })
        });
        (child, err)
    };
    // Each way a run is stopped ends the wait at once: exit 130, nothing ran.
    for (end, said) in [
        ("-INT", "interrupted (SIGINT)"),
        ("-TERM", "terminated (SIGTERM)"),
        ("-HUP", "hung up (SIGHUP)"),
        ("stdout", "standard output closed"),
    ] {
        let (mut waiting, err) = wait_healthy(&format!("stopped{end}.err"));
        if end == "stdout" {
            drop(waiting.stdout.take());
        } else {
            signal(waiting.id(), end);
        }
        let (code, out) = finish(waiting);
        let text = format!("{out}{}", std::fs::read_to_string(&err).unwrap_or_default());
        assert_eq!(code, 130, "{end}: {text}");
        assert!(
            text.contains(said)
                && text.contains("interrupted while waiting for the cluster to become healthy"),
            "{end}: {text}"
        );
        assert!(!p.table_exists(p.ks(), "u"));
    }
    let (waiting, err) = wait_healthy("waiting.err");
    nodetool("2", &["enablegossip"]);
    nodetool("2", &["resetlocalschema"]);
    let (code, out) = finish(waiting);
    let text = format!("{out}{}", std::fs::read_to_string(&err).unwrap_or_default());
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("[health]  healthy after "), "{text}");
    assert!(p.table_exists(p.ks(), "u"));
}

fn a_node_up_but_out_of_reach_counts_as_up_and_is_waited_for_in_gossip() {
    let _restore = Restore;
    restore();
    let p = project("dcreach", DC1, "each_quorum");
    p.script("V1__t.cql", T);
    // dc2's CQL port closes; it still gossips and takes schema changes.
    nodetool("2", &["disablebinary"]);
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stderr.contains(&format!(
            "[health]  not reachable from this client but up (its gossip heartbeat advances): \
             {DC2} (dc2)"
        )),
        "{}",
        out.stderr
    );
    let rows = twodc()
        .rows_via(
            DC1,
            &format!("SELECT peer, schema_version FROM system.peers WHERE peer = '{DC2}'"),
            scylla::statement::Consistency::One,
        )
        .expect("peers");
    let local = twodc()
        .rows_via(
            DC1,
            "SELECT schema_version FROM system.local",
            scylla::statement::Consistency::One,
        )
        .expect("local");
    assert_eq!(
        rows[0][1], local[0][0],
        "dc2 agreed before the deploy ended"
    );
}

#[test]
fn two_datacenters() {
    deploys_from_each_datacenter_with_quorum_and_each_quorum();
    two_deploys_at_once_from_different_datacenters_one_runs();
    one_datacenter_down_stops_quorum_and_each_quorum_and_local_quorum_runs();
    schema_disagreement_is_caught_before_ddl_and_can_be_waited_for();
    a_node_up_but_out_of_reach_counts_as_up_and_is_waited_for_in_gossip();
}
