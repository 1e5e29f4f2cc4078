//! `cassachange drift`: the live schema against the one the applied scripts made, on the
//! real Cassandra 5.0 and 4.1 nodes and through the AstraDB stand-in. Each kind of
//! out-of-band change is made with a plain session, found as exactly one finding, and
//! undone by running the finding's own fix; `--accept`, a keyspace the Python tool
//! deployed, the findings in `status` and `deploy --dry-run`, `schema_drift: error`
//! refusing before the lock, and a deploy that keeps drift it did not touch.

use cassachange_tests::astra::{astra, AstraProject};
use cassachange_tests::db::{plain, Instance};
use cassachange_tests::{enterprise_bin, DbProject, Output};
use scylla::client::session_builder::SessionBuilder;
use serde_json::Value;

const SCHEMA: &str = "\
CREATE TYPE IF NOT EXISTS addr (street text, city text);
CREATE TABLE IF NOT EXISTS users (id int PRIMARY KEY, name text, nick text, home frozen<addr>)
    WITH comment = 'people' AND gc_grace_seconds = 3600;
CREATE INDEX IF NOT EXISTS users_name ON users (name);
CREATE TABLE IF NOT EXISTS extra (k int, c timestamp, v text, PRIMARY KEY (k, c))
    WITH CLUSTERING ORDER BY (c DESC) AND default_time_to_live = 600;
CREATE TABLE IF NOT EXISTS kv (k int PRIMARY KEY, v int);
CREATE FUNCTION IF NOT EXISTS plus(a int, b int) RETURNS NULL ON NULL INPUT RETURNS int
    LANGUAGE java AS $$ return a + b; $$;
CREATE AGGREGATE IF NOT EXISTS total(int) SFUNC plus STYPE int INITCOND 0;
";

/// The drift report as JSON: exit code and the first keyspace's entry.
fn report(p: &DbProject) -> (i32, Value, String) {
    report_of(&p.run(&["drift", "--format", "json"]))
}

fn report_of(out: &Output) -> (i32, Value, String) {
    let doc: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", out.all()));
    (out.code, doc["keyspaces"][0].clone(), out.all())
}

/// Runs `cql` (statements separated by `;` at line ends, `--` lines skipped) in
/// `keyspace`, on a session of its own (the shared one is not switched).
fn run_in(db: &Instance, keyspace: &str, cql: &str) {
    let mut b = SessionBuilder::new().known_nodes(
        db.hosts
            .iter()
            .map(|h| format!("{h}:{}", db.port))
            .collect::<Vec<_>>(),
    );
    if let Some((u, pw)) = &db.login {
        b = b.user(u, pw);
    }
    let session =
        cassachange_tests::db::block_on(b.use_keyspace(keyspace, false).build()).expect("session");
    let text: String = cql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    for stmt in text.split(";\n").map(str::trim).filter(|s| !s.is_empty()) {
        let stmt = stmt.trim_end_matches(';');
        cassachange_tests::db::block_on(session.query_unpaged(stmt, &[]))
            .unwrap_or_else(|e| panic!("{stmt}: {e}"));
    }
}

fn each_kind_of_out_of_band_change_is_found_once_and_its_fix_undoes_it(db: &'static Instance) {
    let p = DbProject::new(db, "drk", 1, "");
    let ks = p.ks().to_string();
    p.script("V1__schema.cql", SCHEMA);
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let out = p.run(&["drift"]);
    assert_eq!(out.code, 0, "no drift right after a deploy: {}", out.all());
    assert!(
        out.stdout
            .starts_with(&format!("{ks}: schema as recorded (recorded ")),
        "{}",
        out.stdout
    );

    // (out-of-band CQL, kind, object, side); the finding's fix then undoes it.
    let cases: &[(&str, &str, &str, &str)] = &[
        ("CREATE TABLE {ks}.oob (k int PRIMARY KEY)", "table_added", "oob", "unrecorded"),
        ("DROP TABLE {ks}.extra", "table_dropped", "extra", "restore"),
        ("ALTER TABLE {ks}.users ADD oob text", "column_added", "users.oob", "unrecorded"),
        ("ALTER TABLE {ks}.users DROP nick", "column_dropped", "users.nick", "restore"),
        ("CREATE INDEX oob_idx ON {ks}.kv (v)", "index_added", "oob_idx", "unrecorded"),
        ("DROP INDEX {ks}.users_name", "index_dropped", "users_name", "restore"),
        (
            "ALTER TABLE {ks}.users WITH compaction = {'class': 'LeveledCompactionStrategy'}",
            "table_option_changed",
            "users WITH compaction",
            "restore",
        ),
        (
            "ALTER TABLE {ks}.extra WITH default_time_to_live = 60",
            "table_option_changed",
            "extra WITH default_time_to_live",
            "restore",
        ),
        (
            "ALTER TABLE {ks}.users WITH caching = {'keys': 'NONE', 'rows_per_partition': 'NONE'}",
            "table_option_changed",
            "users WITH caching",
            "restore",
        ),
        (
            "ALTER TABLE {ks}.users WITH comment = 'hot fix'",
            "table_option_changed",
            "users WITH comment",
            "restore",
        ),
        (
            "CREATE MATERIALIZED VIEW {ks}.kv_by_v AS SELECT * FROM {ks}.kv \
             WHERE v IS NOT NULL AND k IS NOT NULL PRIMARY KEY (v, k)",
            "view_added",
            "kv_by_v",
            "unrecorded",
        ),
        (
            "CREATE OR REPLACE FUNCTION {ks}.plus(a int, b int) RETURNS NULL ON NULL INPUT \
             RETURNS int LANGUAGE java AS $$ return a - b; $$",
            "function_changed",
            "plus(int, int)",
            "restore",
        ),
        (
            "CREATE OR REPLACE AGGREGATE {ks}.total(int) SFUNC plus STYPE int INITCOND 5",
            "aggregate_changed",
            "total(int)",
            "restore",
        ),
        (
            "ALTER KEYSPACE {ks} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 2}",
            "replication_changed",
            "{ks} replication",
            "restore",
        ),
    ];
    for (change, kind, object, side) in cases {
        db.exec(&change.replace("{ks}", &ks));
        let (code, entry, out) = report(&p);
        assert_eq!(code, 1, "{change}: {out}");
        assert_eq!(entry["state"], "drift", "{change}");
        let findings = entry["findings"].as_array().unwrap();
        assert_eq!(
            findings.len(),
            1,
            "{change}: exactly one finding: {findings:#?}"
        );
        let f = &findings[0];
        assert_eq!(f["kind"], *kind, "{change}: {f:#}");
        assert_eq!(f["object"], object.replace("{ks}", &ks), "{change}: {f:#}");
        assert_eq!(f["side"], *side, "{change}: {f:#}");
        // The text report carries the same line and the fix under `USE <ks>;`.
        let text = p.run(&["drift"]);
        assert!(
            text.stdout.contains(f["message"].as_str().unwrap())
                && text.stdout.contains(&format!("    USE {ks};")),
            "{}",
            text.stdout
        );
        run_in(db, &ks, f["fix"].as_str().unwrap());
        let (code, entry, out) = report(&p);
        assert_eq!(code, 0, "{change}: the fix undid it: {entry:#} {out}");
    }

    // What CQL cannot undo: the fix says what to do instead, and --accept takes it.
    db.exec(&format!("ALTER TYPE {ks}.addr ADD zip int"));
    db.exec(&format!("DROP TABLE {ks}.kv"));
    db.exec(&format!(
        "CREATE TABLE {ks}.kv (k int PRIMARY KEY, v bigint)"
    ));
    let (code, entry, _) = report(&p);
    assert_eq!(code, 1);
    let kinds: Vec<(&str, &str)> = entry["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["kind"].as_str().unwrap(), f["object"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("type_field_added", "addr.zip"),
            ("column_type_changed", "kv.v")
        ]
    );
    for f in entry["findings"].as_array().unwrap() {
        assert!(
            f["fix"]
                .as_str()
                .unwrap()
                .starts_with("-- Cassandra cannot"),
            "{f:#}"
        );
    }
    let out = p.run(&["drift", "--accept"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains(&format!(
            "{ks}: recorded the live schema as expected, accepting 2 change(s):"
        )) && out
            .stdout
            .contains("  field addr.zip: live, never made by a script"),
        "{}",
        out.stdout
    );
    let (code, entry, _) = report(&p);
    assert_eq!((code, entry["state"].as_str()), (0, Some("clean")));
    assert_eq!(entry["recorded_by"], "accept");
}

on_both!(each_kind_of_out_of_band_change_is_found_once_and_its_fix_undoes_it);

#[test]
fn a_deploy_records_what_it_changed_and_keeps_drift_it_did_not_touch() {
    let p = DbProject::new(plain(), "drm", 1, "");
    let ks = p.ks().to_string();
    p.script(
        "V1__users.cql",
        "CREATE TABLE IF NOT EXISTS users (id int PRIMARY KEY);\n",
    );
    assert_eq!(p.run(&["deploy"]).code, 0);
    plain().exec(&format!("ALTER TABLE {ks}.users ADD oob text"));
    p.script(
        "V2__more.cql",
        "CREATE TABLE IF NOT EXISTS t2 (k int PRIMARY KEY);\nALTER TABLE users ADD email text;\n",
    )
    .script(
        "U2__more.cql",
        "DROP TABLE IF EXISTS t2;\nALTER TABLE users DROP email;\n",
    );
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "drift warns by default: {}", out.all());
    assert!(
        out.stderr.contains(&format!(
            "warning: schema drift in {ks}: 1 change(s) made outside the scripts"
        )) && out
            .stderr
            .contains("  column users.oob: live, never made by a script"),
        "{}",
        out.stderr
    );
    let only_oob = |p: &DbProject| {
        let (code, entry, out) = report(p);
        assert_eq!(code, 1, "{out}");
        let objects: Vec<&str> = entry["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["object"].as_str().unwrap())
            .collect();
        assert_eq!(objects, ["users.oob"], "{entry:#}");
    };
    only_oob(&p);
    let out = p.run(&["rollback"]);
    assert_eq!(out.code, 0, "{}", out.all());
    only_oob(&p);
}

#[test]
fn status_and_dry_run_show_it_and_schema_drift_error_refuses_before_the_lock() {
    let p = DbProject::new(plain(), "dre", 1, "");
    let ks = p.ks().to_string();
    p.script(
        "V1__users.cql",
        "CREATE TABLE IF NOT EXISTS users (id int PRIMARY KEY);\n",
    );
    assert_eq!(p.run(&["deploy"]).code, 0);
    let out = p.run(&["status"]);
    assert!(
        out.stdout.contains("  schema: as recorded (recorded "),
        "{}",
        out.stdout
    );
    plain().exec(&format!("ALTER TABLE {ks}.users WITH comment = 'x'"));
    p.script(
        "V2__t2.cql",
        "CREATE TABLE IF NOT EXISTS t2 (k int PRIMARY KEY);\n",
    );

    let out = p.run(&["status"]);
    assert!(
        out.stdout.contains(
            "  SCHEMA DRIFT: 1 change(s) made outside the scripts (`cassachange drift` shows the CQL to undo them)"
        ) && out
            .stdout
            .contains("    option users WITH comment: 'x' live, '' by the scripts"),
        "{}",
        out.stdout
    );
    let out = p.run(&["status", "--format", "json"]);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["keyspaces"][0]["schema_drift"]["state"], "drift");

    let out = p.run(&["deploy", "--dry-run-output", "plan.json"]);
    assert_eq!(out.code, 0, "warn: {}", out.all());
    assert!(
        out.stderr
            .contains(&format!("warning: schema drift in {ks}")),
        "{}",
        out.stderr
    );
    let plan: Value =
        serde_json::from_str(&std::fs::read_to_string(p.project.path().join("plan.json")).unwrap())
            .unwrap();
    assert_eq!(
        plan["schema_drift"][0]["findings"][0]["kind"],
        "table_option_changed"
    );

    p.project.write(
        "cassachange.yml",
        format!(
            "{}schema_drift: error\n",
            std::fs::read_to_string(p.project.path().join("cassachange.yml")).unwrap()
        ),
    );
    let out = p.run(&["deploy", "--dry-run"]);
    assert_eq!(
        out.code,
        1,
        "a dry run says the deploy would stop: {}",
        out.all()
    );
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stderr.contains(&format!(
            "error: schema drift in {ks}; nothing was deployed"
        )) && out.stderr.contains("cassachange drift --accept"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stdout.contains("[lock]"),
        "refused before the lock: {}",
        out.stdout
    );
    assert!(!p.table_exists(&ks, "t2"));

    // ignore: neither checked nor recorded; `drift` itself still answers.
    let yml = std::fs::read_to_string(p.project.path().join("cassachange.yml")).unwrap();
    p.project.write(
        "cassachange.yml",
        yml.replace("schema_drift: error", "schema_drift: ignore"),
    );
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(!out.stderr.contains("schema"), "{}", out.stderr);
    let (code, entry, _) = report(&p);
    assert_eq!(
        code, 2,
        "a run that recorded nothing leaves it unknown: {entry:#}"
    );
    assert!(
        entry["reason"]
            .as_str()
            .unwrap()
            .starts_with("1 history row(s) since the record (from V2__t2.cql at "),
        "{entry:#}"
    );
}

#[test]
fn a_keyspace_the_python_tool_deployed_gets_a_first_answer_then_accept_starts_tracking() {
    let mut p = DbProject::new(plain(), "drpy", 1, "");
    p.project.use_bin(enterprise_bin());
    let ks = p.ks().to_string();
    p.script(
        "V1__users.cql",
        "CREATE TABLE IF NOT EXISTS users (id int PRIMARY KEY);\n",
    );
    let out = p.project.run_python(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());

    let out = p.run(&["drift"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stdout.contains(&format!(
            "{ks}: cannot tell: no schema recorded for it yet (it was deployed before cassachange \
             recorded schemas, or by the Python tool)"
        )) && out.stderr.contains("cassachange drift --accept"),
        "{}",
        out.all()
    );
    let out = p.run(&["drift", "--accept"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains(&format!(
            "{ks}: recorded the live schema as expected (its first record)"
        )),
        "{}",
        out.stdout
    );
    let out = p.run(&["audit", "--format", "json"]);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    let accepted: Vec<&Value> = doc["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == "SCHEMA_ACCEPT")
        .collect();
    assert_eq!(accepted.len(), 1, "{doc:#}");
    assert_eq!(accepted[0]["keyspace"], ks.as_str());

    plain().exec(&format!("ALTER TABLE {ks}.users ADD oob text"));
    assert_eq!(report(&p).0, 1);
    // The Python tool runs a script and records no schema: our answer is "cannot tell",
    // with the differences from the record listed.
    p.script("V2__email.cql", "ALTER TABLE users ADD email text;\n");
    assert_eq!(p.project.run_python(&["deploy"]).code, 0);
    let (code, entry, _) = report(&p);
    assert_eq!(code, 2, "{entry:#}");
    assert_eq!(entry["state"], "unknown");
    assert_eq!(entry["findings"].as_array().unwrap().len(), 2, "{entry:#}");
    // Python's status still reads our history as its own.
    let out = p.project.run_python(&["status"]);
    assert_eq!(out.code, 0, "{}", out.all());
}

#[test]
fn through_the_astra_stand_in() {
    let a = astra();
    let p = AstraProject::new(a, "drast", "ok", "");
    p.script(
        "V1__users.cql",
        "CREATE TABLE IF NOT EXISTS users (id int PRIMARY KEY, name text);\n",
    );
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let out = p.run(&["drift"]);
    assert_eq!(
        out.code,
        0,
        "no false positive through the proxy: {}",
        out.all()
    );
    let ks = p.ks.name.clone();
    for (change, kind) in [
        (
            format!("ALTER TABLE {ks}.users ADD oob text"),
            "column_added",
        ),
        (
            format!("CREATE INDEX oob_idx ON {ks}.users (name)"),
            "index_added",
        ),
        (
            format!("ALTER TABLE {ks}.users WITH default_time_to_live = 5"),
            "table_option_changed",
        ),
    ] {
        a.instance.exec(&change);
        let (code, entry, out) = report_of(&p.run(&["drift", "--format", "json"]));
        assert_eq!(code, 1, "{out}");
        let kinds: Vec<&str> = entry["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["kind"].as_str().unwrap())
            .collect();
        assert!(kinds.contains(&kind), "{change}: {entry:#}");
    }
    let out = p.run(&["drift", "--accept"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(p.run(&["drift"]).code, 0);
}
