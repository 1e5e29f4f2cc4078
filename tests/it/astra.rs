//! AstraDB through a local stand-in (`tests/services/astra.sh`): the real binary reads a
//! secure connect bundle, asks the metadata service over mutual TLS, and reaches the
//! node through the SNI router by way of one local forwarder per host id, logging in as
//! `token` with an AstraCS application token that the node's real authenticator checks.

use std::collections::BTreeSet;
use std::process::Child;

use cassachange_tests::astra::{astra, astra_cluster, AstraProject};
use cassachange_tests::vault::{openbao, unique};
use cassachange_tests::{enterprise_bin, finish, spawn_in};

const T1: &str = "CREATE TABLE IF NOT EXISTS t1 (k int PRIMARY KEY);\n";

#[test]
fn deploy_status_dry_run_rollback_repair_and_audit_through_the_sni_proxy() {
    let a = astra();
    let mut p = AstraProject::new(a, "astra", "ok", "");
    p.project.use_bin(enterprise_bin());
    p.script("V1__t1.cql", T1)
        .script(
            "V2__t2.cql",
            "CREATE TABLE IF NOT EXISTS t2 (k int PRIMARY KEY);\n",
        )
        .script("U2__t2.cql", "DROP TABLE IF EXISTS t2;\n")
        .script("V3__bad.cql", cassachange_tests::RUNTIME_FAILURE);
    let before = a.router_log().len();
    let out = p.run(&["deploy", "--dry-run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("would run 3 | skip 0"),
        "{}",
        out.stdout
    );
    let out = p.run(&["deploy", "--tag", "astra-1"]);
    assert_eq!(out.code, 1, "V3 fails on purpose: {}", out.all());
    assert!(
        out.stdout.contains("run 2 | skip 0 | errors 1"),
        "{}",
        out.stdout
    );
    let host = &a.host_ids()[0];
    let routed: Vec<String> = a.router_log().split_off(before);
    assert!(
        routed.iter().any(|l| l.starts_with(&format!("{host} -> "))),
        "connections went through the router with SNI = the host id: {routed:?}"
    );
    assert!(routed.iter().all(|l| !l.contains("refused")), "{routed:?}");
    let out = p.run(&["status"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("V2__t2.cql") && out.stdout.contains("astra-1"),
        "{}",
        out.stdout
    );
    let out = p.run(&["repair", "--list"]);
    assert!(out.stdout.contains("V3__bad.cql"), "{}", out.stdout);
    assert!(out.stdout.contains("Deploy lock: free"), "{}", out.stdout);
    let out = p.run(&["rollback", "--tag", "astra-1"]);
    assert_eq!(out.code, 1, "V1 has no undo script: {}", out.all());
    let out = p.run(&["rollback", "--target-version", "1"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("version 2 rolled back"),
        "{}",
        out.stdout
    );
    let out = p.run(&["audit", "--limit", "100"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("ROLLBACK_END") && out.stdout.contains("SCRIPT_FAILED"),
        "{}",
        out.stdout
    );
}

#[test]
fn eight_deploys_at_once_through_the_proxy_exactly_one_runs() {
    let a = astra();
    let p = AstraProject::new(a, "astrarace", "ok", "");
    p.script("V1__many.cql", &cassachange_tests::alter_script("a", 60))
        .script("V2__more.cql", &cassachange_tests::alter_script("b", 60));
    let children: Vec<Child> = (0..8)
        .map(|_| spawn_in(&p.project, &["deploy"], &[]))
        .collect();
    let results: Vec<(i32, String)> = children.into_iter().map(finish).collect();
    let summary: Vec<String> = results
        .iter()
        .map(|(c, t)| format!("exit {c}: {}", t.lines().last().unwrap_or("")))
        .collect();
    let winners = results
        .iter()
        .filter(|(c, t)| *c == 0 && t.contains("run 2 | skip 0 | errors 0"))
        .count();
    let late = results
        .iter()
        .filter(|(c, t)| *c == 0 && t.contains("run 0 | skip 2 | errors 0"))
        .count();
    let held = results
        .iter()
        .filter(|(c, t)| *c == 3 && t.contains("Deploy lock already held."))
        .count();
    assert_eq!(winners, 1, "{summary:#?}");
    assert_eq!(held + late, 7, "{summary:#?}");
    let rows = a.instance.rows(&format!(
        "SELECT script, status FROM {}.change_history",
        p.history.name
    ));
    assert_eq!(rows.len(), 2, "one SUCCESS row per script: {rows:?}");
}

#[test]
fn every_astra_failure_is_one_clear_line() {
    let a = astra();
    let cases = [
        (
            "ok",
            Some("AstraCS:not-the-token:0000"),
            "AstraDB refused the application token",
        ),
        (
            "otherca",
            None,
            "the bundle's CA did not sign the service's certificate",
        ),
        (
            "noproxy",
            None,
            "the AstraDB SNI proxy at localhost:1: cannot connect",
        ),
        (
            "500",
            None,
            "answered 500 Internal Server Error; check that the database is active",
        ),
        (
            "badjson",
            None,
            "answered something that is not Astra's metadata",
        ),
        (
            "corrupt",
            None,
            "not a secure connect bundle: it is not a readable zip",
        ),
    ];
    for (bundle, token, says) in cases {
        let mut p = AstraProject::new(a, "astrafail", bundle, "");
        if let Some(t) = token {
            p.project.env("ASTRA_TOKEN", t);
        }
        p.script("V1__t1.cql", T1);
        let out = p.run(&["status"]);
        assert_eq!(out.code, 2, "{bundle}: {}", out.all());
        let first = out.stderr.lines().next().unwrap_or("");
        assert!(
            first.starts_with("error: cannot connect to Cassandra at AstraDB"),
            "{bundle}: {first}"
        );
        assert!(
            out.stderr.contains(says),
            "{bundle}: expected '{says}' in:\n{}",
            out.stderr
        );
        assert!(!out.all().contains(&a.token), "the token never shows");
        assert!(
            !out.all().contains("AstraCS:not-the-token"),
            "the token never shows"
        );
    }
    // Half an Astra configuration says what is missing.
    let p = AstraProject::new(a, "astrahalf", "ok", "");
    let out = p.project.run_with(&["status"], &[("ASTRA_TOKEN", "")]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains("secure_connect_bundle is set (from environment variable ASTRA_SECURE_CONNECT_BUNDLE) but astra_token is not"),
        "{}",
        out.stderr
    );
}

#[test]
fn validate_reports_what_astra_refuses_before_a_deploy_tries_it() {
    let a = astra();
    let p = AstraProject::new(a, "astraval", "ok", "");
    p.script("V1__t1.cql", T1).script(
        "V2__view.cql",
        "CREATE MATERIALIZED VIEW v AS SELECT * FROM t1 WHERE k IS NOT NULL PRIMARY KEY (k);\n",
    );
    let out = p.run(&["validate"]);
    assert_eq!(out.code, 1, "Astra mode from the bundle: {}", out.all());
    assert!(
        out.stdout
            .contains("V2__view.cql:1:1: AstraDB does not support materialized views"),
        "{}",
        out.stdout
    );
    let out = p.run(&["validate", "--target", "cassandra"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stderr.contains("nothing was deployed"),
        "{}",
        out.stderr
    );
    assert!(
        a.instance
            .rows(&format!(
                "SELECT table_name FROM system_schema.tables WHERE keyspace_name = '{}'",
                p.ks.name
            ))
            .is_empty(),
        "nothing ran"
    );
}

/// The bundle and the token as secrets from Vault: the bundle arrives as bytes and
/// stays in memory.
#[test]
fn a_bundle_from_vault_is_used_from_memory() {
    let a = astra();
    let bao = openbao();
    let zip = std::fs::read(a.bundle("ok")).expect("bundle");
    let zip64 = cassachange_tests::base64(&zip);
    let path = unique("scb");
    bao.put_kv2(&path, &[("scb", &zip64), ("token", &a.token)]);
    let mut p = AstraProject::new(
        a,
        "astravault",
        "ok",
        &format!(
            "secrets_provider: vault\nsecrets:\n  secure_connect_bundle: vault://secret/data/{path}#scb\n  astra_token: vault://secret/data/{path}#token\n"
        ),
    );
    p.project.use_bin(enterprise_bin());
    p.script("V1__t1.cql", T1);
    let since = std::time::SystemTime::now() - std::time::Duration::from_secs(1);
    let env = bao.env_token(&bao.root_token);
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("ASTRA_SECURE_CONNECT_BUNDLE", ""));
    env.push(("ASTRA_TOKEN", ""));
    let out = p.project.run_with(&["deploy"], &env);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("run 1 | skip 0"), "{}", out.stdout);
    for dir in [std::env::temp_dir(), p.project.path().to_path_buf()] {
        let hits = cassachange_tests::files_containing(&dir, &zip, since);
        assert!(hits.is_empty(), "the bundle was written to disk: {hits:?}");
    }
    assert!(!out.all().contains(&a.token));
}

/// Three nodes behind the router, each reached through its own forwarder (SNI = that
/// node's host id).
#[test]
fn three_nodes_each_through_its_own_forwarder() {
    let a = astra_cluster();
    let p = AstraProject::new(a, "astra3", "ok", "");
    p.script("V1__t1.cql", T1);
    let before = a.router_log().len();
    let out = p.run(&["-v", "deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let routed: Vec<String> = a.router_log().split_off(before);
    let hosts: BTreeSet<String> = a.host_ids().into_iter().collect();
    assert_eq!(hosts.len(), 3, "three nodes behind the router");
    let reached: BTreeSet<String> = routed
        .iter()
        .filter_map(|l| l.split(" -> ").next().map(str::to_string))
        .filter(|h| hosts.contains(h))
        .collect();
    assert_eq!(reached, hosts, "every node through its own SNI: {routed:?}");
    let forwarders = out.stderr.matches("forwarder on 127.0.0.1:").count();
    assert!(forwarders >= 3, "one forwarder per node: {}", out.stderr);
}

/// The forwarders wrap what they accept in the bundle's client certificate: during a
/// run, another process on the machine that connects to one gets nothing — no TLS to
/// the proxy, no CQL — and the run says it refused it; the run's own connections work.
#[test]
fn a_forwarder_serves_this_run_only() {
    use std::io::{BufRead, Read, Write};
    let a = astra();
    let p = AstraProject::new(a, "astraown", "ok", "");
    p.script("V1__slow.cql", &cassachange_tests::alter_script("slow", 40));
    let mut child = p
        .project
        .command(&["-v", "deploy"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut err = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut seen = String::new();
    let port = loop {
        let mut line = String::new();
        assert!(
            err.read_line(&mut line).unwrap_or(0) > 0,
            "no forwarder: {seen}"
        );
        seen.push_str(&line);
        if let Some(rest) = line.split("forwarder on 127.0.0.1:").nth(1) {
            break rest.trim().parse::<u16>().expect("port");
        }
    };
    // A stranger (this test process) asks the node for OPTIONS through the forwarder.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let _ = s.write_all(&[0x04, 0, 0, 0, 0x05, 0, 0, 0, 0]);
    let mut buf = [0u8; 9];
    let got = s.read(&mut buf);
    assert!(
        matches!(got, Ok(0)) || got.is_err(),
        "the forwarder answered a stranger: {got:?} {buf:?}"
    );
    let mut rest = String::new();
    let _ = err.read_to_string(&mut rest);
    let status = child.wait().expect("wait");
    assert_eq!(
        status.code(),
        Some(0),
        "the run's own connections work: {seen}{rest}"
    );
    assert!(
        rest.contains("refused a connection from 127.0.0.1:"),
        "{seen}{rest}"
    );
}
