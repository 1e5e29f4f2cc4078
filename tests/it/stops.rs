//! The README's strongest promise, on a real node, for every way a run can end: a
//! script in which a statement that is not safe to repeat has run (or may have run) is
//! never run again from its start unasked. The script increments a counter, so a second
//! run shows as `n = 2`; what varies is how the run ends (SIGINT, SIGTERM, SIGHUP, a
//! closed stdout, SIGKILL) — the stop-path table of the README, end to end.

use std::fmt::Write as _;
use std::process::Stdio;
use std::time::Duration;

use cassachange_tests::db::{block_on, plain};
use cassachange_tests::{finish, signal, spawn, wait_for, DbProject};

/// `CREATE TABLE IF NOT EXISTS c …; UPDATE c SET n = n + 1 …;` then `alters` schema
/// changes that are safe to repeat: the counter moves once, early, and the script
/// lasts long enough (tens of ms per ALTER) to be cut after it.
pub(crate) fn counter_script(alters: usize) -> String {
    let mut s = String::from(
        "CREATE TABLE IF NOT EXISTS c (k int PRIMARY KEY, n counter);\n\
         UPDATE c SET n = n + 1 WHERE k = 1;\n",
    );
    for i in 0..alters {
        let _ = writeln!(s, "ALTER TABLE c WITH comment = 'step {i}';");
    }
    s
}

/// The counter's value (0 before the table exists or the row is written).
fn counter(p: &DbProject) -> i64 {
    plain().counter(p.ks(), "c")
}

#[derive(Clone, Copy, Debug)]
enum End {
    Signal(&'static str),
    ClosedStdout,
    Kill,
}

/// Deploys the counter script, ends the run `how` once the counter reads 1, and checks
/// the promise: the counter stays 1, the next deploy stops at the script (exit 1),
/// `status` and the dry run say so, and `repair --script` lets it run once more.
fn cut_counter_script(how: End, label: &str) {
    let p = DbProject::new(plain(), label, 1, "");
    p.script("V1__count.cql", &counter_script(60)).script(
        "V2__after.cql",
        "CREATE TABLE IF NOT EXISTS after (k int PRIMARY KEY);\n",
    );
    let mut child = match how {
        End::ClosedStdout => p
            .project
            .command(&["deploy"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn"),
        _ => spawn(&p, &["deploy"], &[]),
    };
    wait_for(Duration::from_secs(60), "the counter to move", || {
        counter(&p) >= 1
    });
    match how {
        End::Signal(name) => signal(child.id(), name),
        End::ClosedStdout => drop(child.stdout.take()),
        End::Kill => child.kill().expect("SIGKILL"),
    }
    let (code, text) = finish(child);
    if matches!(how, End::Kill) {
        assert_eq!(code, -1, "{text}");
    } else {
        assert_eq!(code, 130, "{how:?}: {text}");
        assert!(
            text.contains("stopped V1__count.cql") && text.contains("not safe to repeat"),
            "{how:?}: the stop names the script and why a retry waits: {text}"
        );
    }
    assert_eq!(counter(&p), 1, "{how:?}: {text}");
    if matches!(how, End::Kill) {
        assert_eq!(p.run(&["repair", "--release-lock"]).code, 0);
    } else {
        let out = p.run(&["repair", "--list"]);
        assert!(out.stdout.contains("Deploy lock: free"), "{}", out.all());
    }

    // status, the dry run and deploy agree: the keyspace stops at V1.
    let out = p.run(&["status"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        !out.stdout.contains("up to date") && out.stdout.contains("V1__count.cql"),
        "{how:?}: {}",
        out.stdout
    );
    let out = p.run(&["--format", "json", "status"]);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(doc["keyspaces"][0]["up_to_date"], false, "{}", out.stdout);
    assert_eq!(
        doc["keyspaces"][0]["blocked"]["script"], "V1__count.cql",
        "{}",
        out.stdout
    );
    let out = p.run(&["deploy", "--dry-run"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout.contains("[STOP]    V1__count.cql"),
        "{}",
        out.all()
    );
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 1, "{how:?}: {}", out.all());
    assert!(
        out.stdout.contains("[STOP]    V1__count.cql"),
        "{}",
        out.all()
    );
    assert!(
        out.stderr.contains("repair --script V1__count.cql"),
        "{}",
        out.all()
    );
    assert_eq!(counter(&p), 1, "{how:?}: not run again unasked");
    assert!(!p.table_exists(p.ks(), "after"), "nothing after it ran");
    // A rollback would undo older versions under a half-applied V1: refused too.
    p.script("U1__count.cql", "DROP TABLE IF EXISTS c;\n");
    let out = p.run(&["rollback"]);
    assert_eq!(out.code, 1, "{how:?}: {}", out.all());
    assert!(
        out.stderr.contains("V1__count.cql was interrupted"),
        "{}",
        out.all()
    );
    assert_eq!(counter(&p), 1);

    // The operator checked it: the retry runs it once, from its first statement.
    let out = p.run(&["repair", "--script", "V1__count.cql"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        counter(&p),
        2,
        "{how:?}: the retry the operator asked for ran once"
    );
    assert!(p.table_exists(p.ks(), "after"));
    let out = p.run(&["status"]);
    assert!(out.stdout.contains("up to date"), "{}", out.stdout);
}

#[test]
fn sigint_inside_a_counter_script_never_repeats_it_unasked() {
    cut_counter_script(End::Signal("-INT"), "stopint");
}

#[test]
fn sigterm_inside_a_counter_script_never_repeats_it_unasked() {
    cut_counter_script(End::Signal("-TERM"), "stopterm");
}

#[test]
fn sighup_inside_a_counter_script_never_repeats_it_unasked() {
    cut_counter_script(End::Signal("-HUP"), "stophup");
}

#[test]
fn a_closed_stdout_inside_a_counter_script_never_repeats_it_unasked() {
    cut_counter_script(End::ClosedStdout, "stoppipe");
}

#[test]
fn sigkill_inside_a_counter_script_never_repeats_it_unasked() {
    cut_counter_script(End::Kill, "stopkill");
}

/// A failure after a statement that is not safe to repeat (here: statement 3 of 3,
/// after the counter) blocks the script like a stop does; a failure at its first
/// unsafe statement (nothing unsafe completed) is retried as before.
#[test]
fn a_failure_after_an_unsafe_statement_blocks_the_retry() {
    let p = DbProject::new(plain(), "failafter", 1, "");
    p.script(
        "V1__count.cql",
        "CREATE TABLE IF NOT EXISTS c (k int PRIMARY KEY, n counter);\n\
         UPDATE c SET n = n + 1 WHERE k = 1;\n\
         ALTER TABLE c ADD n counter;\n",
    );
    let out = p.run(&["deploy", "--no-preflight"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert_eq!(counter(&p), 1);
    // The failure says why a retry waits.
    insta::assert_snapshot!(p.normalize(&out.all()), @r"
    [lock]    acquired global (<host>:<run8>)
    [FAIL]    V1__count.cql                                <n>ms  [1/1]
    [lock]    released
    ✗ <ks0>: run 0 | skip 0 | errors 1
    error: V1__count.cql failed at statement 3 of 3 (line 3): Database returned an error: The query is syntactically correct but invalid, Error message: Column with name 'n' already exists; 2 earlier statement(s) of it were applied: check them before retrying; statement 2 (line 2) is not safe to repeat
    hint: the next deploy stops at it until you check what it did and run `cassachange repair --script V1__count.cql`
    stopping keyspace <ks0> at its first failed script
    ");
    let out = p.run(&["deploy", "--no-preflight"]);
    assert_eq!(out.code, 1, "{}", out.all());
    insta::assert_snapshot!(p.normalize(&out.all()), @r"
    [lock]    acquired global (<host>:<run8>)
    [STOP]    V1__count.cql                                interrupted earlier
    [lock]    released
    ✗ <ks0>: run 0 | skip 0 | errors 1
    error: <ks0>: V1__count.cql was interrupted: run <run> stopped in it at <time>: statement 3 of 3 failed (Database returned an error: The query is syntactically correct but invalid, Error message: Column with name 'n' already exists) after statement 2 (line 2), which is not safe to repeat, ran
    hint: nothing ran in <ks0> from here: check what the script did, then run `cassachange repair --script V1__count.cql` to mark it for retry (deploy then runs it from its first statement)
    stopping keyspace <ks0> at a script an earlier run left unfinished
    ");
    assert_eq!(counter(&p), 1, "not run again unasked");
    // Fixed and marked: it runs once more, from its start.
    p.script(
        "V1__count.cql",
        "CREATE TABLE IF NOT EXISTS c (k int PRIMARY KEY, n counter);\n\
         UPDATE c SET n = n + 1 WHERE k = 1;\n",
    );
    assert_eq!(p.run(&["repair", "--script", "V1__count.cql"]).code, 0);
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(counter(&p), 2);

    // Failing at the first unsafe statement: nothing unsafe ran, so it is retried.
    let q = DbProject::new(plain(), "failfirst", 1, "");
    q.script(
        "V1__count.cql",
        "CREATE TABLE IF NOT EXISTS c (k int PRIMARY KEY, n counter);\n\
         UPDATE c SET n = n + 1 WHERE k = 1 AND nope = 2;\n",
    );
    assert_eq!(q.run(&["deploy", "--no-preflight"]).code, 1);
    let out = q.run(&["deploy", "--no-preflight"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout.contains("[FAIL]") && !out.stdout.contains("[STOP]"),
        "retried, failed again: {}",
        out.all()
    );
}

/// `DROP … IF EXISTS` destroys data: a script with one records that it starts, and a
/// kill after it leaves the script blocked instead of re-running the drop.
#[test]
fn a_drop_if_exists_script_killed_half_way_is_not_repeated() {
    let p = DbProject::new(plain(), "dropie", 1, "");
    let mut script = String::from(
        "DROP TABLE IF EXISTS t;\nCREATE TABLE IF NOT EXISTS t (k int PRIMARY KEY);\n",
    );
    for i in 0..60 {
        let _ = writeln!(script, "ALTER TABLE t WITH comment = 'step {i}';");
    }
    p.script("V1__t.cql", &script);
    let mut child = spawn(&p, &["deploy"], &[]);
    wait_for(Duration::from_secs(60), "the table to exist", || {
        p.table_exists(p.ks(), "t")
    });
    // The node lists the table in system_schema a moment before it accepts writes to
    // it ("table t does not exist"): write once it does.
    let insert = format!("INSERT INTO {}.t (k) VALUES (7)", p.ks());
    wait_for(Duration::from_secs(30), "the table to take writes", || {
        block_on(plain().session().query_unpaged(insert.as_str(), &[])).is_ok()
    });
    child.kill().expect("SIGKILL");
    let _ = finish(child);
    assert_eq!(p.run(&["repair", "--release-lock"]).code, 0);
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stdout.contains("[STOP]    V1__t.cql"), "{}", out.all());
    let rows = plain().rows(&format!("SELECT k FROM {}.t", p.ks()));
    assert_eq!(rows.len(), 1, "the row written in between is still there");
}

/// A `deploy_lock` row without a run id (written by hand or another tool) reads as
/// held: exit 3 naming it, `--lock-wait` honoured, and `repair --release-lock` frees it.
#[test]
fn a_lock_row_without_run_id_reads_as_held() {
    let p = DbProject::new(plain(), "norunid", 1, "");
    p.script(
        "V1__t.cql",
        "CREATE TABLE IF NOT EXISTS t (k int PRIMARY KEY);\n",
    );
    // The first deploy creates the tables.
    assert_eq!(p.run(&["deploy"]).code, 0);
    p.script(
        "V2__u.cql",
        "CREATE TABLE IF NOT EXISTS u (k int PRIMARY KEY);\n",
    );
    plain().exec(&format!(
        "INSERT INTO {}.deploy_lock (lock_key, locked_by) VALUES ('global', 'by-hand')",
        p.history.name
    ));
    let started = std::time::Instant::now();
    let out = p.run(&["deploy", "--lock-wait", "2s"]);
    let took = started.elapsed();
    assert_eq!(out.code, 3, "{}", out.all());
    assert!(
        out.stderr.contains("Deploy lock already held") && out.stderr.contains("by-hand"),
        "{}",
        out.stderr
    );
    assert!(
        took < Duration::from_secs(30),
        "--lock-wait honoured: {took:?}"
    );
    let out = p.run(&["repair", "--release-lock"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("force-released"), "{}", out.all());
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
}
