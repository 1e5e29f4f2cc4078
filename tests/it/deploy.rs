//! `deploy`, `status`, `repair` and dry runs end to end: the real binary against a real
//! Cassandra 5.0 node.

use cassachange_tests::db::{plain, Instance};
use cassachange_tests::DbProject;

const USERS: &str = "CREATE TABLE IF NOT EXISTS users (id int PRIMARY KEY, name text);\n";
const ORDERS: &str = "CREATE TABLE IF NOT EXISTS orders (id int PRIMARY KEY, total decimal);\nINSERT INTO orders (id, total) VALUES (1, 9.5);\n";

fn deploy_runs_pending_then_only_always_and_changed(db: &'static Instance) {
    let p = DbProject::new(db, "dep", 1, "");
    p.script("users/V1.0.0__users.cql", USERS)
        .script("orders/V1.1.0__orders.cql", ORDERS)
        .script(
            "R__view.cql",
            "CREATE TABLE IF NOT EXISTS r1 (k int PRIMARY KEY);\n",
        )
        .script(
            "A__always.cql",
            "INSERT INTO users (id, name) VALUES (0, 'always');\n",
        );
    let out = p.run(&["deploy", "--tag", "release-1"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let ks = p.ks();
    assert!(
        out.stdout.contains(&format!(
            "✓ {ks}: run 4 | skip 0 | errors 0 | tag release-1"
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.starts_with("[lock]    acquired global ("),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("[lock]    released"));
    assert!(p.table_exists(ks, "users") && p.table_exists(ks, "orders"));
    let rows = p.history();
    assert_eq!(
        p.history_summary(),
        [
            "V1.0.0__users.cql SUCCESS",
            "V1.1.0__orders.cql SUCCESS",
            "R__view.cql SUCCESS",
            "A__always.cql SUCCESS"
        ]
    );
    assert!(
        rows.iter()
            .all(|r| r.run_id == rows[0].run_id && r.run_id.len() == 36),
        "one run id"
    );
    assert!(rows
        .iter()
        .all(|r| r.tag == "release-1" && r.keyspace == ks));
    assert_eq!(rows[0].script_type, "versioned");
    assert_eq!(rows[0].version, "1.0.0");
    assert_eq!(rows[0].checksum.len(), 32);

    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout
            .contains(&format!("✓ {ks}: run 1 | skip 3 | errors 0")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("[RUN]     A__always.cql"));

    p.script(
        "R__view.cql",
        "CREATE TABLE IF NOT EXISTS r2 (k int PRIMARY KEY);\n",
    );
    let out = p.run(&["deploy"]);
    assert!(
        out.stdout
            .contains(&format!("✓ {ks}: run 2 | skip 2 | errors 0")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("R__view.cql") && out.stdout.contains("checksum changed"));
    assert!(p.table_exists(ks, "r2"));
}

fn a_failed_script_is_recorded_stops_the_keyspace_and_repair_retries_it(db: &'static Instance) {
    let p = DbProject::new(db, "fail", 1, "");
    p.script("V1__users.cql", USERS)
        .script("V2__broken.cql", "CREATE TABLE IF NOT EXISTS t2 (k int PRIMARY KEY);\nINSERT INTO no_such_table (k) VALUES (1);\n")
        .script("V3__after.cql", "CREATE TABLE IF NOT EXISTS t3 (k int PRIMARY KEY);\n");
    // The pre-flight would stop this deploy before anything runs; without it, the
    // failure happens at run time.
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stderr
            .contains("pre-flight: 1 statement(s) would fail; nothing was deployed"),
        "{}",
        out.stderr
    );
    assert!(p.history().is_empty(), "nothing ran");
    let out = p.run(&["deploy", "--no-preflight"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout.contains("[FAIL]    V2__broken.cql"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr
            .contains("V2__broken.cql failed at statement 2 of 2 (line 2)")
            && out
                .stderr
                .contains("1 earlier statement(s) of it were applied"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout
            .contains(&format!("✗ {}: run 1 | skip 0 | errors 1", p.ks())),
        "{}",
        out.stdout
    );
    assert_eq!(
        p.history_summary(),
        ["V1__users.cql SUCCESS", "V2__broken.cql FAILED"]
    );
    assert!(
        !p.table_exists(p.ks(), "t3"),
        "stopped at the first failure"
    );

    let out = p.run(&["repair", "--list"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout
            .contains(&format!("FAILED scripts in {}:", p.ks())),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("V2__broken.cql") && out.stdout.contains("Deploy lock: free"));
    assert_eq!(p.history().len(), 2, "--list changes nothing");

    let out = p.run(&["repair", "--script", "V2__broken.cql"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("Marked 1 script(s) as REPAIRED"),
        "{}",
        out.stdout
    );
    let out = p.run(&["repair", "--list"]);
    assert!(out.stdout.contains("No FAILED scripts"), "{}", out.stdout);

    p.script(
        "V2__broken.cql",
        "CREATE TABLE IF NOT EXISTS t2 (k int PRIMARY KEY);\n",
    );
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("V2__broken.cql") && out.stdout.contains("marked for retry by repair"),
        "{}",
        out.stdout
    );
    assert_eq!(
        p.history_summary(),
        [
            "V1__users.cql SUCCESS",
            "V2__broken.cql FAILED",
            "V2__broken.cql REPAIRED",
            "V2__broken.cql SUCCESS",
            "V3__after.cql SUCCESS"
        ],
        "the FAILED row stays"
    );
}

fn dry_run_takes_no_lock_writes_nothing_and_writes_the_plan(db: &'static Instance) {
    let p = DbProject::new(db, "dry", 1, "");
    p.script("V1.0__users.cql", USERS)
        .script("R__r.cql", "SELECT * FROM system.local;\n");
    let out = p.run(&[
        "deploy",
        "--dry-run-output",
        "plan.json",
        "--tag",
        "rel-9",
        "--profile-free-check",
    ]);
    assert_eq!(out.code, 2, "unknown flag is a usage error");
    let out = p.run(&["deploy", "--dry-run-output", "plan.json", "--tag", "rel-9"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout
            .starts_with("Dry run: no lock taken, nothing written."),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("[lock]"));
    assert!(
        !p.table_exists(&p.history.name, "change_history"),
        "nothing created"
    );
    assert!(!p.table_exists(p.ks(), "users"));
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.project.path().join("plan.json")).unwrap())
            .unwrap();
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["tag"], "rel-9");
    assert_eq!(plan["total_actions"], 2);
    let a = &plan["actions"][0];
    assert_eq!(a["action"], "run");
    assert_eq!(a["script"], "V1.0__users.cql");
    assert_eq!(a["version"], "1.0");
    assert_eq!(a["type"], "versioned");
    assert_eq!(a["keyspace"], p.ks());
    assert_eq!(a["reason"], "pending");
    assert_eq!(a["checksum"].as_str().unwrap().len(), 32);

    assert_eq!(p.run(&["deploy"]).code, 0);
    let out = p.run(&["deploy", "--dry-run-output", "plan.json"]);
    assert_eq!(out.code, 0);
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.project.path().join("plan.json")).unwrap())
            .unwrap();
    assert_eq!(plan["actions"][0]["action"], "skip");
    assert_eq!(plan["actions"][0]["reason"], "already_applied");
    assert_eq!(plan["actions"][1]["reason"], "checksum_unchanged");
}

#[test]
fn multi_keyspace_one_lock_rows_per_keyspace_and_narrowing() {
    let p = DbProject::new(plain(), "multi", 3, "");
    p.script("V1__users.cql", USERS)
        .script("V2__orders.cql", ORDERS);
    let (a, b, c) = (
        p.keyspaces[0].name.clone(),
        p.keyspaces[1].name.clone(),
        p.keyspaces[2].name.clone(),
    );
    let out = p.run(&["deploy", "--keyspace", &b]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        !p.table_exists(&a, "users") && p.table_exists(&b, "users"),
        "--keyspace narrows the list"
    );
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        out.stdout.matches("[lock]    acquired").count(),
        1,
        "one lock for the run"
    );
    for (ks, line) in [
        (&a, "run 2 | skip 0"),
        (&b, "run 0 | skip 2"),
        (&c, "run 2 | skip 0"),
    ] {
        assert!(
            out.stdout.contains(&format!("== {ks} ==")),
            "{}",
            out.stdout
        );
        assert!(
            out.stdout.contains(&format!("✓ {ks}: {line} | errors 0")),
            "{}",
            out.stdout
        );
        assert!(p.table_exists(ks, "orders"));
    }
    let rows = p.history();
    for ks in [&a, &b, &c] {
        assert_eq!(rows.iter().filter(|r| &r.keyspace == ks).count(), 2);
    }
    let out = p.run(&["status", "--keyspace", &c]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains(&c) && !out.stdout.contains(&a),
        "{}",
        out.stdout
    );
}

#[test]
fn missing_keyspace_stops_before_lock_or_script() {
    let p = DbProject::new(plain(), "miss", 1, "");
    p.script("V1__users.cql", USERS);
    let out = p.run(&[
        "deploy",
        "--keyspaces",
        &format!("{},it_does_not_exist_ks", p.ks()),
    ]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.starts_with(
            "error: Keyspace 'it_does_not_exist_ks' does not exist at 127.0.0.1:9042."
        ),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("CREATE KEYSPACE IF NOT EXISTS it_does_not_exist_ks"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("'datacenter1': 3"),
        "the local DC is named: {}",
        out.stderr
    );
    assert!(
        !p.table_exists(&p.history.name, "change_history"),
        "no table, no lock"
    );
    assert!(!p.table_exists(p.ks(), "users"));
}

#[test]
fn held_lock_gives_the_message_and_exit_3_and_lock_wait_waits() {
    let p = DbProject::new(plain(), "lock", 1, "");
    p.script("V1__users.cql", USERS);
    assert_eq!(p.run(&["deploy"]).code, 0);
    let h = &p.history.name;
    plain().exec(&format!(
        "INSERT INTO {h}.deploy_lock (lock_key, locked_by, locked_at, run_id) VALUES ('global', 'ci-runner:b9c2d4', toTimestamp(now()), 'b9c2d4e5-0000') USING TTL 60"
    ));
    // Nothing to run: the deploy writes nothing, so it takes no lock and succeeds.
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(!out.stdout.contains("[lock]"), "{}", out.stdout);
    p.script(
        "V2__more.cql",
        "CREATE TABLE IF NOT EXISTS more (id int PRIMARY KEY);\n",
    );
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 3, "{}", out.all());
    insta::assert_snapshot!(p.normalize(&out.stderr), @r"
    error: Deploy lock already held.
           locked_by=ci-runner:b9c2d4  locked_at=<time>  run_id=b9c2d4e5-0000
    hint: wait for the current deploy to finish (or pass --lock-wait 5m), or, if no deploy is running:
    hint:   cassachange repair --release-lock
    ");
    assert!(
        out.stderr.starts_with("error: Deploy lock already held.\n"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("locked_by=ci-runner:b9c2d4  locked_at=")
            && out.stderr.contains("run_id=b9c2d4e5-0000")
    );
    assert!(out.stderr.contains("cassachange repair --release-lock"));

    let out = p.run(&["repair", "--list"]);
    assert!(
        out.stdout.contains("Deploy lock: HELD")
            && out.stdout.contains("locked_by=ci-runner:b9c2d4"),
        "{}",
        out.stdout
    );

    let waiting = p
        .project
        .command(&["deploy", "--lock-wait", "20s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    let out = p.run(&["repair", "--release-lock"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout
            .contains("Deploy lock force-released (was held by ci-runner:b9c2d4)."),
        "{}",
        out.stdout
    );
    let waited = waiting.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&waited.stderr);
    assert_eq!(waited.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("held by ci-runner:b9c2d4; waiting up to 20s"),
        "{stderr}"
    );
}

#[test]
fn checksum_drift_warns_by_default_and_can_be_fatal() {
    let p = DbProject::new(plain(), "drift", 1, "");
    p.script("V1__users.cql", USERS);
    assert_eq!(p.run(&["deploy"]).code, 0);
    p.script(
        "V1__users.cql",
        "CREATE TABLE IF NOT EXISTS users (id int PRIMARY KEY, name text, x int);\n",
    );
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stderr.contains(&format!(
            "warning: {}: V1__users.cql changed since it was applied",
            p.ks()
        )),
        "{}",
        out.stderr
    );
    let out = p.run(&["status"]);
    assert!(out.stdout.contains("DRIFT V1__users.cql"), "{}", out.stdout);

    let mut yaml = std::fs::read_to_string(p.project.path().join("cassachange.yml")).unwrap();
    yaml.push_str("checksum_drift: error\n");
    p.project.write("cassachange.yml", yaml);
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stderr
            .contains("checksum drift in applied versioned scripts; nothing was deployed"),
        "{}",
        out.stderr
    );
}

fn status_lists_history_newest_first_with_pending_scripts(db: &'static Instance) {
    let p = DbProject::new(db, "stat", 1, "");
    p.script("V1__users.cql", USERS);
    let out = p.run(&["status"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.starts_with("No migrations found."),
        "{}",
        out.stdout
    );
    assert!(
        !p.table_exists(&p.history.name, "change_history"),
        "status is read-only"
    );
    assert_eq!(p.run(&["deploy", "--tag", "t1"]).code, 0);
    p.script("V2__orders.cql", ORDERS);
    let out = p.run(&["status"]);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        [
            "VERSION",
            "KEYSPACE",
            "TAG",
            "SCRIPT",
            "STATUS",
            "INSTALLED_BY",
            "INSTALLED_ON",
            "EXEC_MS"
        ]
    );
    assert!(
        lines[1].starts_with("1 ") && lines[1].contains("t1") && lines[1].contains("SUCCESS"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains(&format!("{}: 1 script(s) would run on deploy:", p.ks())),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("V2__orders.cql"));
    p.script("A__always.cql", "SELECT * FROM system.local;\n");
    assert_eq!(p.run(&["deploy"]).code, 0);
    let out = p.run(&["status"]);
    assert!(
        out.stdout.contains(&format!(
            "{}: up to date (3 script(s) on disk; 1 always-script(s) run on every deploy)",
            p.ks()
        )),
        "{}",
        out.stdout
    );
    let out = p.run(&["status", "--tag", "nope"]);
    assert!(
        out.stdout
            .starts_with("No migrations found for tag 'nope'."),
        "{}",
        out.stdout
    );
}

#[test]
fn broken_scripts_stop_deploy_before_connecting() {
    let p = DbProject::new(plain(), "lint", 1, "");
    p.script("V1__users.cql", USERS)
        .script("V2__bad.cql", "ALTER TABLE users MDDADD x int;\n");
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stderr
            .contains("1 script error(s) in ./migrations; nothing was deployed"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("V2__bad.cql:1:19: unknown ALTER TABLE sub-command 'MDDADD'"),
        "{}",
        out.stderr
    );
    assert!(!p.table_exists(&p.history.name, "change_history"));
}

#[test]
fn per_statement_timeout_fails_the_script_clearly() {
    let p = DbProject::new(plain(), "tmo", 1, "");
    // Twenty lightweight transactions (Paxos: several round trips each): a 1 ms budget
    // per statement cannot hold for all of them.
    let inserts: String = (0..20)
        .map(|i| format!("INSERT INTO big (k, v) VALUES ({i}, 'x') IF NOT EXISTS;\n"))
        .collect::<Vec<_>>()
        .concat();
    let body = format!("CREATE TABLE IF NOT EXISTS big (k int PRIMARY KEY, v text);\n{inserts}");
    p.script("V1__slow.cql", &body);
    let out = p.run(&["deploy", "--timeout", "0.001"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stderr.contains("V1__slow.cql failed at statement "),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("timed out after 0.0s"),
        "{}",
        out.stderr
    );
    assert_eq!(p.history_summary(), ["V1__slow.cql FAILED"]);
    let out = p.run(&["deploy", "--timeout=-3"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr
            .contains("flag --timeout: must be a number of seconds above 0 and at most 31536000 (365 days), found -3"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_pending_version_below_an_applied_one_runs_with_a_warning() {
    let p = DbProject::new(plain(), "ooo", 1, "");
    p.script("V2__orders.cql", ORDERS);
    assert_eq!(p.run(&["deploy"]).code, 0);
    p.script("V1__users.cql", USERS);
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stderr.contains(&format!(
            "warning: {}: V1__users.cql is below the applied version 2; it runs now, out of order",
            p.ks()
        )),
        "{}",
        out.stderr
    );
    assert!(p.table_exists(p.ks(), "users"));
}

/// The pre-flight: the server's parse of every pending statement and the simulation of
/// the live schema stop a deploy before its lock, with file, line and reason; a dry run
/// shows the same findings, also in its JSON plan.
fn the_pre_flight_stops_a_deploy_that_would_fail_before_anything_runs(db: &'static Instance) {
    let p = DbProject::new(db, "pre", 1, "");
    p.script(
        "V1__users.cql",
        &format!("{USERS}CREATE TYPE addr (a int);\nCREATE INDEX users_name ON users (name);\n"),
    );
    assert_eq!(p.run(&["deploy"]).code, 0);
    // The linter accepts these; the server or the live schema does not.
    p.script(
        "V2__syntax.cql",
        "CREATE TABLE IF NOT EXISTS fine (k int PRIMARY KEY);\n\
         CREATE TABLE bad (k int PRIMARY KEY, v text DEFAULT 'x');\n\
         INSERT INTO users (id, name) VALUES ('one', 'x');\n",
    )
    .script(
        "V3__schema.cql",
        "CREATE TABLE users (id int PRIMARY KEY);\n\
         ALTER TABLE users ADD name text;\n\
         ALTER TABLE users DROP nothing_here;\n\
         CREATE TABLE t (k int PRIMARY KEY) WITH dclocal_read_repair_chance = 0.1;\n\
         CREATE TABLE u (k int PRIMARY KEY, a frozen<no_such_type>);\n\
         CREATE TABLE other_ks.t (k int PRIMARY KEY);\n\
         CREATE TYPE addr (a int);\n\
         CREATE INDEX users_name ON users (name);\n\
         ALTER TABLE ghosts ADD x int;\n\
         ALTER TABLE users RENAME nothing TO something;\n",
    )
    // Statements on what this deploy itself creates are not false alarms.
    .script(
        "V4__new.cql",
        "CREATE TABLE IF NOT EXISTS fresh (k int PRIMARY KEY, v text);\n\
         INSERT INTO fresh (k, v) VALUES (1, 'a');\n\
         ALTER TABLE fresh ADD w int;\n\
         UPDATE fresh SET w = 2 WHERE k = 1;\n",
    );
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 1, "{}", out.all());
    let ks = p.ks();
    for expected in [
        "pre-flight: 12 statement(s) would fail; nothing was deployed:".to_string(),
        "V2__syntax.cql:2: the server refuses it: line 1:".to_string(),
        "no viable alternative at input 'DEFAULT'".to_string(),
        "V2__syntax.cql:3: the server refuses it: Invalid STRING constant (one) for \"id\" of type int".to_string(),
        format!("V3__schema.cql:1: table {ks}.users exists already; add IF NOT EXISTS or drop the statement (in {ks})"),
        format!("V3__schema.cql:2: column name of {ks}.users exists already"),
        format!("V3__schema.cql:3: column nothing_here of {ks}.users does not exist"),
        "V3__schema.cql:4: table option 'dclocal_read_repair_chance' is unknown to this server".to_string(),
        format!("V3__schema.cql:5: type {ks}.no_such_type does not exist (column a of {ks}.u)"),
        "V3__schema.cql:6: keyspace other_ks does not exist".to_string(),
        format!("V3__schema.cql:7: type {ks}.addr exists already"),
        format!("V3__schema.cql:8: index {ks}.users_name exists already"),
        format!("V3__schema.cql:9: table {ks}.ghosts does not exist"),
        format!("V3__schema.cql:10: column nothing of {ks}.users does not exist (RENAME)"),
    ] {
        assert!(out.stderr.contains(&expected), "expected {expected:?} in:\n{}", out.stderr);
    }
    assert!(!out.stderr.contains("V4__new.cql"), "{}", out.stderr);
    assert!(!p.table_exists(ks, "fine"), "the deploy applied nothing");
    assert_eq!(p.history().len(), 1);
    assert!(
        p.run(&["repair", "--list"])
            .stdout
            .contains("Deploy lock: free"),
        "it stopped before the lock"
    );

    let out = p.run(&["deploy", "--dry-run-output", "plan.json"]);
    assert_eq!(
        out.code,
        1,
        "a dry run with findings fails too: {}",
        out.all()
    );
    assert!(
        out.stdout
            .contains("Pre-flight: 12 statement(s) would fail"),
        "{}",
        out.stdout
    );
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.project.path().join("plan.json")).unwrap())
            .unwrap();
    let first = &plan["preflight"][0];
    assert_eq!(first["script"], "V2__syntax.cql");
    assert_eq!(first["line"], 2);
    assert_eq!(plan["preflight"].as_array().map(Vec::len), Some(12));

    // Without V2 and V3, the deploy runs, V4 included.
    std::fs::remove_file(p.project.path().join("migrations/V2__syntax.cql")).unwrap();
    std::fs::remove_file(p.project.path().join("migrations/V3__schema.cql")).unwrap();
    let out = p.run(&["deploy", "--dry-run"]);
    assert!(
        out.stdout
            .contains("Pre-flight: the server accepts every pending statement"),
        "{}",
        out.stdout
    );
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("run 1 | skip 1"), "{}", out.stdout);
}

on_both!(
    deploy_runs_pending_then_only_always_and_changed,
    a_failed_script_is_recorded_stops_the_keyspace_and_repair_retries_it,
    dry_run_takes_no_lock_writes_nothing_and_writes_the_plan,
    status_lists_history_newest_first_with_pending_scripts,
    the_pre_flight_stops_a_deploy_that_would_fail_before_anything_runs,
);

/// Unquoted CQL names are case-insensitive: `MyApp` and `myapp` are one keyspace, so a
/// run that spells it differently finds the history of the other (which keeps its
/// spelling, as the Python tool writes it). A keyspace that exists only under a quoted,
/// mixed-case name is refused before the lock, saying why.
#[test]
fn keyspace_names_follow_cql_case_rules() {
    let p = DbProject::new(plain(), "case", 1, "");
    p.script("V1__users.cql", USERS)
        .script("V2__orders.cql", ORDERS);
    let upper = p.ks().to_ascii_uppercase();
    let out = p.run(&["deploy", "--keyspace", &upper]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(p.table_exists(p.ks(), "orders"));
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        !out.stdout.contains("[RUN]"),
        "nothing reruns: {}",
        out.stdout
    );
    let out = p.run(&["status"]);
    assert!(out.stdout.contains("up to date"), "{}", out.stdout);

    let quoted = format!("Q{}", &p.ks()[1..]);
    plain().exec(&format!(
        "CREATE KEYSPACE \"{quoted}\" WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
    ));
    let out = p.run(&["deploy", "--keyspace", &quoted]);
    plain().exec(&format!("DROP KEYSPACE \"{quoted}\""));
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains(&format!(
            "a keyspace \"{quoted}\" exists, created with a quoted (case-sensitive) name"
        )),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("[lock]"), "refused before the lock");
}
