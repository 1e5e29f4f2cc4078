//! The lock under pressure: eight deploys at once, a deploy killed mid-script, a lease
//! that outlives its TTL, and a run whose lock is taken away.

use std::fmt::Write;
use std::process::Child;
use std::thread::sleep;
use std::time::{Duration, Instant};

use cassachange_tests::db::{plain, Instance};
use cassachange_tests::{finish, signal, spawn, wait_for, DbProject};

/// A script of `n` CREATE TABLE statements (each waits for schema agreement).
fn slow_script(prefix: &str, n: usize) -> String {
    (0..n).fold(String::new(), |mut s, i| {
        let _ = writeln!(
            s,
            "CREATE TABLE IF NOT EXISTS {prefix}_{i} (k int PRIMARY KEY, v text);"
        );
        s
    })
}

use cassachange_tests::alter_script;

fn eight_deploys_at_once_exactly_one_runs(db: &'static Instance) {
    let p = DbProject::new(db, "race", 1, "");
    // Long enough (seconds of DDL) that all eight overlap the winner's run.
    p.script("V1__many.cql", &alter_script("a", 100))
        .script("V2__more.cql", &alter_script("b", 100));
    let children: Vec<Child> = (0..8).map(|_| spawn(&p, &["deploy"], &[])).collect();
    let results: Vec<(i32, String)> = children.into_iter().map(finish).collect();
    let summary: Vec<String> = results
        .iter()
        .map(|(c, t)| format!("exit {c}: {}", t.lines().last().unwrap_or("")))
        .collect();
    // Exactly one run applies the scripts. The others find the lock held (exit 3) —
    // or, on a machine so busy that one starts after the winner released the lock,
    // take it and find nothing left to run.
    let winners: Vec<&(i32, String)> = results
        .iter()
        .filter(|(c, t)| *c == 0 && t.contains("run 2 | skip 0 | errors 0"))
        .collect();
    let late = results
        .iter()
        .filter(|(c, t)| *c == 0 && t.contains("run 0 | skip 2 | errors 0"))
        .count();
    let held = results
        .iter()
        .filter(|(c, t)| *c == 3 && t.contains("Deploy lock already held."))
        .count();
    assert_eq!(winners.len(), 1, "{summary:#?}");
    assert_eq!(held + late, 7, "{summary:#?}");
    assert!(
        held >= 4,
        "most of them overlapped the winner: {summary:#?}"
    );
    let rows = p.history();
    for script in ["V1__many.cql", "V2__more.cql"] {
        let successes = rows
            .iter()
            .filter(|r| r.script == script && r.status == "SUCCESS")
            .count();
        assert_eq!(successes, 1, "{script} has exactly one SUCCESS row");
    }
}

#[test]
fn a_killed_deploy_is_explained_by_repair_and_the_next_deploy_completes() {
    let p = DbProject::new(plain(), "crash", 1, "");
    p.script(
        "V1__first.cql",
        "CREATE TABLE IF NOT EXISTS first (k int PRIMARY KEY);\n",
    )
    .script("V2__long.cql", &slow_script("long", 80))
    .script(
        "V3__last.cql",
        "CREATE TABLE IF NOT EXISTS last (k int PRIMARY KEY);\n",
    );
    let mut child = spawn(&p, &["deploy"], &[]);
    // Kill it while V2 runs: after V1 is recorded and some of V2's tables exist.
    wait_for(Duration::from_secs(60), "V1 to be recorded", || {
        p.history().iter().any(|r| r.script == "V1__first.cql")
    });
    wait_for(Duration::from_secs(60), "V2 to start", || {
        p.table_exists(p.ks(), "long_3")
    });
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert!(!p.table_exists(p.ks(), "long_79"), "killed mid-script");

    let out = p.run(&["repair", "--list"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("Deploy lock: HELD"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("that run recorded 1 script(s); the last: V1__first.cql SUCCESS"),
        "{}",
        out.stdout
    );
    let out = p.run(&["deploy"]);
    assert_eq!(
        out.code,
        3,
        "the crashed run's lock still blocks: {}",
        out.all()
    );
    let out = p.run(&["repair", "--release-lock"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("run 2 | skip 1 | errors 0"),
        "{}",
        out.stdout
    );
    for t in ["first", "long_0", "long_79", "last"] {
        assert!(
            p.table_exists(p.ks(), t),
            "{t} exists: the final schema is complete"
        );
    }
}

fn the_lease_outlives_the_ttl_while_the_run_lives(db: &'static Instance) {
    let p = DbProject::new(db, "lease", 1, "");
    for i in 1..=5 {
        p.script(
            &format!("V{i}__part.cql"),
            &alter_script("lease", if i == 1 { 0 } else { 100 }),
        );
    }
    let env = [("CASSACHANGE_LOCK_TTL", "2")];
    let mut long = spawn(&p, &["deploy"], &env);
    wait_for(Duration::from_secs(60), "the first script", || {
        p.history().iter().any(|r| r.script == "V1__part.cql")
    });
    let since = Instant::now();
    // Two TTLs later the run must still hold its (renewed) lock.
    sleep(Duration::from_secs(4));
    assert!(
        long.try_wait().unwrap().is_none(),
        "the deploy must outlive 2 TTLs for this test to mean anything"
    );
    let other = p.project.run_with(&["deploy"], &env);
    let still_running = long.try_wait().unwrap().is_none();
    let (code, text) = finish(long);
    assert!(
        still_running,
        "the other deploy ran while the first was still running"
    );
    assert!(since.elapsed() > Duration::from_secs(3));
    assert_eq!(
        other.code,
        3,
        "the renewed lock still blocks others: {}",
        other.all()
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("run 5 | skip 0 | errors 0"), "{text}");
}

#[test]
fn a_run_whose_lock_is_taken_away_stops_before_its_next_script() {
    let p = DbProject::new(plain(), "steal", 1, "");
    for i in 1..=5 {
        p.script(
            &format!("V{i}__part.cql"),
            &alter_script(&format!("s{i}"), 30),
        );
    }
    let long = spawn(&p, &["deploy"], &[]);
    wait_for(Duration::from_secs(60), "the first script", || {
        p.history().iter().any(|r| r.script == "V1__part.cql")
    });
    let out = p.run(&["repair", "--release-lock"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let (code, text) = finish(long);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("the deploy lock was lost"), "{text}");
    assert!(text.contains("no further script was run"), "{text}");
    let ran = p.history().iter().filter(|r| r.status == "SUCCESS").count();
    assert!(ran < 5, "stopped early, ran {ran}");
    assert!(
        !p.table_exists(p.ks(), "s5"),
        "the last script never started"
    );
}

/// Sends `sig` to a deploy in its second script: it must stop between statements,
/// record the cut script as FAILED, release the lock and exit 130.
fn stops_cleanly_on(sig: &str, said: &str) {
    let p = DbProject::new(plain(), &format!("sig{}", &sig[1..]), 1, "");
    for i in 1..=4 {
        p.script(
            &format!("V{i}__part.cql"),
            &alter_script(&format!("g{i}"), 40),
        );
    }
    let child = spawn(&p, &["deploy"], &[]);
    wait_for(Duration::from_secs(60), "the first script", || {
        p.history().iter().any(|r| r.script == "V1__part.cql")
    });
    signal(child.id(), sig);
    let (code, text) = finish(child);
    assert_eq!(code, 130, "{text}");
    assert!(
        text.contains(&format!("{said}: stopping after the current statement")),
        "{text}"
    );
    assert!(
        text.contains("[lock]    released"),
        "the lock is released: {text}"
    );
    let out = p.run(&["repair", "--list"]);
    assert!(out.stdout.contains("Deploy lock: free"), "{}", out.stdout);
    // Whatever ran is recorded: a script cut between statements is FAILED, so the next
    // deploy retries it; nothing is lost.
    let rows = p.history();
    assert!(
        rows.iter()
            .all(|r| r.status == "SUCCESS" || r.status == "FAILED"),
        "{rows:?}"
    );
    assert!(
        rows.len() < 4 || rows.iter().any(|r| r.status == "FAILED"),
        "stopped early: {rows:?}"
    );
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(p.table_exists(p.ks(), "g4"));
}

#[test]
fn ctrl_c_stops_between_statements_records_and_releases_the_lock() {
    stops_cleanly_on("-INT", "interrupted (SIGINT)");
}

#[test]
fn sigterm_stops_between_statements_records_and_releases_the_lock() {
    stops_cleanly_on("-TERM", "terminated (SIGTERM)");
}

#[test]
fn sighup_from_a_dropped_session_stops_cleanly_too() {
    stops_cleanly_on("-HUP", "hung up (SIGHUP)");
}

/// Item 6 of the engine review (the scenario is shared with the fault suite).
fn a_paused_run_that_lost_its_lease_runs_no_statement_after_the_takeover(db: &'static Instance) {
    cassachange_tests::scenarios::paused_run_loses_its_lease(db);
}

on_both!(
    eight_deploys_at_once_exactly_one_runs,
    a_paused_run_that_lost_its_lease_runs_no_statement_after_the_takeover,
    the_lease_outlives_the_ttl_while_the_run_lives,
);
