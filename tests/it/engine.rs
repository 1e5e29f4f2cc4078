//! The engine's promises, one test each, on a real node: what a script does cannot
//! leak into the next, an output stream never decides what a run does, keyspaces run
//! once, the order of events does not depend on clocks, and signals stop waits too.

use std::process::Stdio;
use std::time::{Duration, Instant};

use cassachange_tests::db::plain;
use cassachange_tests::{finish, now_ms, signal, spawn, DbProject};

const T1: &str = "CREATE TABLE IF NOT EXISTS t1 (k int PRIMARY KEY);\n";

#[test]
fn use_in_one_script_never_leaks_into_the_next() {
    let p = DbProject::new(plain(), "use", 1, "");
    let other = plain().keyspace("useother");
    p.script(
        "V1__a.cql",
        &format!(
            "USE {};\nCREATE TABLE t1 (k int PRIMARY KEY);\n",
            other.name
        ),
    )
    .script("V2__b.cql", "CREATE TABLE t2 (k int PRIMARY KEY);\n");
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(p.table_exists(&other.name, "t1"), "V1 ran where it said");
    assert!(
        p.table_exists(p.ks(), "t2"),
        "V2 ran in the target keyspace, not in the one V1 switched to"
    );
    assert!(!p.table_exists(&other.name, "t2"));
    let out = p.run(&["validate"]);
    assert_eq!(out.code, 0, "a warning, not an error: {}", out.all());
    assert!(
        out.stdout
            .contains("V1__a.cql:1:1: USE in a migration switches the keyspace"),
        "{}",
        out.stdout
    );
}

/// `cassachange deploy | head -2`: the reader quits after the first script's line. Whoever
/// watched the run is gone, so it stops like on SIGHUP: before the second script or
/// between two of its statements (noticed without waiting for the next line of output),
/// recorded, lock released, exit 130.
#[test]
fn a_closed_stdout_stops_a_deploy_between_statements() {
    let p = DbProject::new(plain(), "pipe", 1, "");
    for i in 1..=4 {
        p.script(
            &format!("V{i}__t.cql"),
            &cassachange_tests::alter_script(&format!("t{i}"), 15),
        );
    }
    let mut cmd = p.project.command(&["deploy"]);
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut child = child;
    let head = std::process::Command::new("head")
        .arg("-2")
        .stdin(child.stdout.take().expect("stdout"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("head");
    let first = head.wait_with_output().expect("head output");
    let (code, text) = finish(child);
    let first = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.starts_with("[lock]    acquired") && first.contains("V1__t.cql"),
        "{first}"
    );
    assert_eq!(code, 130, "stopped, not finished: {text}");
    assert!(text.contains("standard output closed"), "{text}");
    // Nothing is written to stdout between V1's line and V2's: the stop is seen by the
    // watcher, before V2 or between two of its statements, never after V2 completed.
    let history = p.history_summary();
    if text.contains("stopped before V2__t.cql") {
        assert_eq!(history, ["V1__t.cql SUCCESS"], "{text}");
    } else {
        assert!(
            text.contains("stopped V2__t.cql") && text.contains("of its 16 statement(s)"),
            "cut inside V2, not at its end: {text}"
        );
        assert_eq!(history, ["V1__t.cql SUCCESS", "V2__t.cql FAILED"], "{text}");
    }
    let out = p.run(&["repair", "--list"]);
    assert!(out.stdout.contains("Deploy lock: free"), "{}", out.stdout);
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "the next deploy continues: {}", out.all());
    assert!(p.table_exists(p.ks(), "t4"));
    // A read-only command just ends, successfully, like `rg … | head`.
    let mut status = p.project.command(&["status"]);
    let mut status = status.stdout(Stdio::piped()).spawn().expect("status");
    drop(status.stdout.take());
    assert_eq!(status.wait().expect("status").code(), Some(0));
}

#[test]
fn a_closed_stderr_never_panics_and_the_failure_is_still_recorded() {
    let p = DbProject::new(plain(), "stderr", 1, "");
    p.script("V1__ok.cql", T1)
        .script("V2__bad.cql", cassachange_tests::RUNTIME_FAILURE);
    let mut child = p
        .project
        .command(&["deploy"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stderr.take());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(1), "a failed script, not a crash");
    assert_eq!(
        p.history_summary(),
        ["V1__ok.cql SUCCESS", "V2__bad.cql FAILED"]
    );
    let out = p.run(&["repair", "--list"]);
    assert!(out.stdout.contains("Deploy lock: free"), "{}", out.stdout);
}

#[test]
fn a_keyspace_listed_twice_runs_each_script_once() {
    let p = DbProject::new(plain(), "twice", 1, "");
    p.script("V1__t.cql", T1);
    let ks = p.ks().to_string();
    let out = p.run(&["deploy", "--keyspaces", &format!("{ks},{ks}")]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stderr.contains(&format!(
            "warning: flag --keyspaces: keyspace '{ks}' is listed more than once"
        )),
        "{}",
        out.stderr
    );
    assert_eq!(p.history_summary(), ["V1__t.cql SUCCESS"]);
}

/// A FAILED row written by a machine whose clock runs 10 minutes fast must not make
/// the script pending until that time passes.
#[test]
fn a_failure_stamped_by_a_fast_clock_is_outranked_by_the_next_success() {
    let p = DbProject::new(plain(), "clock", 1, "");
    p.script(
        "V0__first.cql",
        "CREATE TABLE IF NOT EXISTS t0 (k int PRIMARY KEY);\n",
    );
    assert_eq!(p.run(&["deploy"]).code, 0);
    // Not idempotent: running it twice fails.
    p.script("V1__t.cql", "CREATE TABLE t1 (k int PRIMARY KEY);\n");
    let future = now_ms() + 600_000;
    plain().exec(&format!(
        "INSERT INTO {}.change_history (script, installed_on, script_type, version, status, \
         keyspace_name, checksum, run_id) VALUES ('V1__t.cql', {future}, 'versioned', '1', \
         'FAILED', '{}', 'x', 'fast-clock-run')",
        p.history.name,
        p.ks()
    ));
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stderr.contains("ahead of this machine's clock"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains("run 1 | skip 1"), "{}", out.stdout);
    let success = p
        .history()
        .into_iter()
        .find(|r| r.script == "V1__t.cql" && r.status == "SUCCESS")
        .expect("V1 applied");
    assert!(success.at > future, "stamped after the fast clock's row");
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "applied DDL is not run again: {}", out.all());
    assert!(out.stdout.contains("run 0 | skip 2"), "{}", out.stdout);
}

#[test]
fn a_signal_during_lock_wait_stops_the_wait_at_once() {
    let p = DbProject::new(plain(), "waitsig", 1, "");
    p.script("V1__t.cql", T1);
    assert_eq!(p.run(&["deploy"]).code, 0);
    p.script(
        "V2__t.cql",
        "CREATE TABLE IF NOT EXISTS t2 (k int PRIMARY KEY);\n",
    );
    plain().exec(&format!(
        "INSERT INTO {}.deploy_lock (lock_key, locked_by, locked_at, run_id) \
         VALUES ('global', 'elsewhere:1', toTimestamp(now()), 'other') USING TTL 120",
        p.history.name
    ));
    let child = spawn(&p, &["deploy", "--lock-wait", "90s"], &[]);
    std::thread::sleep(Duration::from_secs(2));
    let asked = Instant::now();
    signal(child.id(), "-TERM");
    let (code, text) = finish(child);
    assert_eq!(code, 130, "{text}");
    assert!(
        asked.elapsed() < Duration::from_secs(60),
        "the wait ended with the signal, not at its 90 s deadline"
    );
    assert!(
        text.contains("interrupted while waiting for the deploy lock; nothing was changed"),
        "{text}"
    );
    assert_eq!(p.history_summary(), ["V1__t.cql SUCCESS"]);
    let out = p.run(&["repair", "--list"]);
    assert!(
        out.stdout.contains("locked_by=elsewhere:1"),
        "the other run's lock is untouched: {}",
        out.stdout
    );
}

#[test]
fn history_tables_get_ids_derived_from_their_names() {
    let p = DbProject::new(plain(), "tid", 1, "");
    p.script("V1__t.cql", T1);
    assert_eq!(p.run(&["deploy"]).code, 0);
    for table in ["change_history", "deploy_lock"] {
        let rows = plain().rows(&format!(
            "SELECT id FROM system_schema.tables WHERE keyspace_name = '{}' AND table_name = '{table}'",
            p.history.name
        ));
        let id = match &rows[0][0] {
            Some(scylla::value::CqlValue::Uuid(u)) => u.to_string(),
            other => panic!("{other:?}"),
        };
        let name = format!("cassachange:table:{}.{table}", p.history.name);
        let expected = uuid::Uuid::new_v3(&uuid::Uuid::NAMESPACE_URL, name.as_bytes());
        assert_eq!(
            id,
            expected.to_string(),
            "two first runs on different coordinators create the same {table}"
        );
    }
}

#[test]
fn rollback_target_version_compares_numbers_not_text() {
    let p = DbProject::new(plain(), "rbnum", 1, "");
    p.script("V2024.1.5__t.cql", T1)
        .script("U2024.1.5__t.cql", "DROP TABLE IF EXISTS t1;\n");
    assert_eq!(p.run(&["deploy"]).code, 0);
    let out = p.run(&["rollback", "--target-version", "2024.01.05"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("nothing to roll back"),
        "{}",
        out.stdout
    );
    assert!(p.table_exists(p.ks(), "t1"));
}

#[test]
fn a_rolled_back_version_is_re_applied_loudly() {
    let p = DbProject::new(plain(), "reapply", 1, "");
    p.script("V1__a.cql", T1)
        .script("U1__a.cql", "DROP TABLE IF EXISTS t1;\n")
        .script(
            "V2__b.cql",
            "CREATE TABLE IF NOT EXISTS t2 (k int PRIMARY KEY);\n",
        );
    assert_eq!(p.run(&["deploy"]).code, 0);
    // Undo V1 only (V2 has no undo script and stays).
    let out = p.run(&["rollback", "--target-version", "0"]);
    assert_eq!(out.code, 1, "V2 has no undo script: {}", out.all());
    plain().exec(&format!(
        "INSERT INTO {}.change_history (script, installed_on, script_type, version, status, \
         keyspace_name, run_id) VALUES ('ROLLBACK_V1', toTimestamp(now()), 'undo', '1', \
         'ROLLED_BACK', '{}', 'python-run')",
        p.history.name,
        p.ks()
    ));
    let label = "will re-apply (after newer version 2)";
    let out = p.run(&["status"]);
    assert!(out.stdout.contains(label), "status: {}", out.stdout);
    let out = p.run(&["deploy", "--dry-run"]);
    assert!(out.stdout.contains(label), "dry run: {}", out.stdout);
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
    // Warned before running, in one line a person can read. The hand-written
    // ROLLBACK_V1 row stands for a Python run, which records no schema: the drift
    // check says it cannot tell, and the run's end says why it recorded none.
    insta::assert_snapshot!(p.normalize(&out.stderr), @r"
    warning: schema of <ks0>: cannot tell whether it drifted: 1 history row(s) since the record (from ROLLBACK_V1 at <time>) came from runs that recorded no schema (the Python tool, an older cassachange, or a run that was killed): differences may be theirs
    warning: <ks0>: V1__a.cql was rolled back <time>, will re-apply (after newer version 2): this deploy applies it again (the Python tool never did; delete or renumber the script to keep it undone)
    [schema]  <ks0>: schema not recorded: its record predates runs that recorded none (review the live schema (`cassachange baseline` prints it as CQL), then record it as the expected one with `cassachange drift --accept`)
    ");
}

#[test]
fn cassandra_keyspace_does_not_replace_a_configured_list() {
    let p = DbProject::new(plain(), "envks", 2, "");
    p.script("V1__t.cql", T1);
    let out = p.project.run_with(
        &["deploy", "--dry-run"],
        &[("CASSANDRA_KEYSPACE", "elsewhere")],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    for ks in &p.keyspaces {
        assert!(
            out.stdout
                .contains(&format!("✓ {}: would run 1 | skip 0", ks.name)),
            "{}",
            out.stdout
        );
    }
    assert!(!out.stdout.contains("elsewhere"), "{}", out.stdout);
}

#[test]
fn every_history_consistency_works_on_one_node() {
    // EACH_QUORUM needs a keyspace replicated per datacenter.
    let nts = plain().keyspace("clnts");
    plain().exec(&format!(
        "ALTER KEYSPACE {} WITH replication = {{'class': 'NetworkTopologyStrategy', 'datacenter1': 1}}",
        nts.name
    ));
    for level in ["quorum", "each_quorum", "local_quorum"] {
        let p = DbProject::new(
            plain(),
            &format!("cl{}", &level[..4]),
            1,
            &format!("history_consistency: {level}\n"),
        );
        p.script("V1__t.cql", T1);
        let hist = ["--history-keyspace", &nts.name];
        let args: Vec<&str> = if level == "each_quorum" {
            ["deploy"].iter().chain(&hist).copied().collect()
        } else {
            vec!["deploy"]
        };
        let out = p.run(&args);
        assert_eq!(out.code, 0, "{level}: {}", out.all());
        let mut status = args.clone();
        status[0] = "status";
        let out = p.run(&status);
        assert!(out.stdout.contains("up to date"), "{level}: {}", out.stdout);
    }
    let p = DbProject::new(plain(), "cleach", 1, "history_consistency: each_quorum\n");
    p.script("V1__t.cql", T1);
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr
            .contains("history_consistency: each_quorum (from ")
            && out.stderr.contains("needs the history keyspace")
            && out.stderr.contains("it uses SimpleStrategy"),
        "{}",
        out.stderr
    );
    assert!(p.history().is_empty(), "refused before the lock");
    let p = DbProject::new(plain(), "clbad", 1, "history_consistency: one\n");
    let out = p.run(&["status"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(
            "history_consistency: expected 'quorum', 'each_quorum' or 'local_quorum', found 'one'"
        ),
        "{}",
        out.stderr
    );
}

#[test]
fn huge_durations_are_usage_errors() {
    let p = DbProject::new(plain(), "huge", 1, "");
    p.script("V1__t.cql", T1);
    let out = p.run(&["deploy", "--lock-wait", "99999999999999999999s"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert_eq!(
        out.stderr.lines().next().unwrap_or(""),
        "error: flag --lock-wait: must be at most 365 days (like 30s, 5m, 1h or 24h), found '99999999999999999999s'"
    );
    let out = p.run(&["deploy", "--timeout", "1e308"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr
            .contains("must be a number of seconds above 0 and at most 31536000 (365 days)"),
        "{}",
        out.stderr
    );
}
