//! Scenarios shared by the end-to-end suite and the fault suite (`tests/faults`).

use std::fmt::Write;
use std::thread::sleep;
use std::time::Duration;

use crate::db::Instance;
use crate::{finish, signal, spawn, wait_for, DbProject};

/// Item 6 of the engine review: a run paused past its lease (SIGSTOP, a long GC, a
/// suspended VM) while another run takes the lock must not execute one more statement
/// after the takeover, nor write a row that changes the other run's outcome.
pub fn paused_run_loses_its_lease(db: &'static Instance) {
    let p = DbProject::new(db, "pause", 1, "");
    let n = 40;
    let v2 = (1..=n).fold(String::new(), |mut s, i| {
        let _ = writeln!(s, "ALTER TABLE slow WITH comment = 'step {i}';");
        let _ = writeln!(s, "INSERT INTO markers (id, stmt) VALUES (now(), {i});");
        s
    });
    p.script(
        "V1__markers.cql",
        "CREATE TABLE IF NOT EXISTS markers (id timeuuid PRIMARY KEY, stmt int);\n\
         CREATE TABLE IF NOT EXISTS slow (k int PRIMARY KEY);\n",
    )
    // Idempotent: the second run runs it again from its start.
    .script("V2__cut.cql", &v2)
    .script(
        "V3__after.cql",
        "CREATE TABLE IF NOT EXISTS after_v2 (k int PRIMARY KEY);\n",
    );
    let env = [("CASSACHANGE_LOCK_TTL", "3")];
    // A table created a moment ago can be briefly unknown to the fixture's queries:
    // no rows yet.
    let markers = || {
        db.try_rows(&format!(
            "SELECT toTimestamp(id), stmt FROM {}.markers",
            p.ks()
        ))
        .unwrap_or_default()
    };
    let first = spawn(&p, &["deploy"], &env);
    wait_for(
        Duration::from_secs(60),
        "the second script to be half-way",
        || p.table_exists(p.ks(), "markers") && markers().len() >= 5,
    );
    signal(first.id(), "-STOP");
    // Past the TTL: the lock row expires on the server.
    sleep(Duration::from_secs(5));
    let takeover = crate::now_ms();
    let second = p.project.run_with(&["deploy", "--lock-wait", "20s"], &env);
    assert_eq!(
        second.code,
        0,
        "the second run takes over: {}",
        second.all()
    );
    assert!(
        second.stdout.contains("run 2 | skip 1 | errors 0"),
        "{}",
        second.stdout
    );
    signal(first.id(), "-CONT");
    let (code, text) = finish(first);
    assert_eq!(code, 1, "the paused run reports the lost lock: {text}");
    assert!(text.contains("the deploy lock was lost"), "{text}");
    assert!(text.contains("stopped V2__cut.cql"), "{text}");

    let mut after: Vec<(i64, i32)> = markers()
        .iter()
        .filter_map(|r| match (&r[0], &r[1]) {
            (
                Some(scylla::value::CqlValue::Timestamp(t)),
                Some(scylla::value::CqlValue::Int(i)),
            ) => Some((t.0, *i)),
            _ => None,
        })
        .filter(|(t, _)| *t >= takeover)
        .collect();
    after.sort_unstable();
    let stmts: Vec<i32> = after.iter().map(|(_, i)| *i).collect();
    assert_eq!(
        stmts,
        (1..=n).collect::<Vec<i32>>(),
        "after the takeover only the second run's statements ran, each once"
    );
    let rows = p.history();
    assert!(
        rows.iter()
            .all(|r| r.status == "SUCCESS" && r.run_id.len() == 36),
        "the paused run recorded nothing after losing the lease: {rows:?}"
    );
    let out = p.run(&["status"]);
    assert!(out.stdout.contains("up to date"), "{}", out.stdout);
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("run 0 | skip 3"), "{}", out.stdout);
}
