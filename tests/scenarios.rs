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
    // The second run takes the lock and finds V2 started by the paused run with no
    // outcome recorded: some of its statements ran (markers), and they are not safe to
    // run twice (INSERT … now()). It runs nothing and says so.
    let second = p.project.run_with(&["deploy", "--lock-wait", "20s"], &env);
    assert_eq!(second.code, 1, "the second run stops: {}", second.all());
    assert!(
        second.stdout.contains("[STOP]    V2__cut.cql"),
        "{}",
        second.all()
    );
    assert!(
        second.stderr.contains("V2__cut.cql was interrupted: run "),
        "{}",
        second.stderr
    );
    assert!(
        second.stderr.contains("repair --script V2__cut.cql"),
        "{}",
        second.stderr
    );
    signal(first.id(), "-CONT");
    let (code, text) = finish(first);
    assert_eq!(code, 1, "the paused run reports the lost lock: {text}");
    assert!(text.contains("the deploy lock was lost"), "{text}");
    assert!(text.contains("stopped V2__cut.cql"), "{text}");
    let stamped = |since: i64| {
        let mut after: Vec<(i64, i32)> = markers()
            .iter()
            .filter_map(|r| match (&r[0], &r[1]) {
                (
                    Some(scylla::value::CqlValue::Timestamp(t)),
                    Some(scylla::value::CqlValue::Int(i)),
                ) => Some((t.0, *i)),
                _ => None,
            })
            .filter(|(t, _)| *t >= since)
            .collect();
        after.sort_unstable();
        after.into_iter().map(|(_, i)| i).collect::<Vec<i32>>()
    };
    // The one window the README names: a pause between the paused run's last lease check
    // and its send lets that statement (the last it ran: "after D of its …") reach the
    // server late. Nothing after it, and nothing of the second run's.
    let done: usize = text
        .split_once(" of its ")
        .and_then(|(before, _)| before.rsplit(' ').next())
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("the paused run says where it stopped: {text}"));
    let late = stamped(takeover);
    // Statement 2i is marker i's INSERT.
    let in_window = i32::try_from(done / 2).expect("small");
    assert!(
        late.is_empty() || (done % 2 == 0 && late == [in_window]),
        "after the takeover no statement ran but the paused run's last one (statement \
         {done}): not the paused run's next, not the second's: {late:?}\n{text}"
    );
    if !late.is_empty() {
        eprintln!(
            "pause: the paused run's statement {done} (marker {in_window}) reached the server \
             after the takeover: the documented window"
        );
    }
    // A dry run says the same and fails the same way; the JSON report names the step.
    let out = p.run(&["deploy", "--dry-run"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(out.stdout.contains("interrupted"), "{}", out.stdout);
    let out = p.run(&["deploy", "--format", "json"]);
    assert_eq!(out.code, 1, "{}", out.all());
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).expect("one JSON document");
    assert!(
        doc["steps"].as_array().is_some_and(|s| s
            .iter()
            .any(|st| st["action"] == "blocked" && st["script"] == "V2__cut.cql")),
        "{doc}"
    );
    // The operator looks, then lets V2 run again from its start.
    let out = p.run(&["repair", "--list"]);
    assert!(out.stdout.contains("V2__cut.cql"), "{}", out.stdout);
    assert!(out.stdout.contains("INTERRUPTED"), "{}", out.stdout);
    let out = p.run(&["repair", "--script", "V2__cut.cql"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let retried = crate::now_ms();
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("run 2 | skip 1 | errors 0"),
        "{}",
        out.stdout
    );
    assert_eq!(
        stamped(retried),
        (1..=n).collect::<Vec<i32>>(),
        "the retry ran each statement once"
    );
    let rows = p.history();
    assert!(
        rows.iter()
            .all(|r| (r.status == "SUCCESS" || r.status == "REPAIRED") && r.run_id.len() == 36),
        "the paused run recorded nothing after losing the lease: {rows:?}"
    );
    let out = p.run(&["status"]);
    assert!(out.stdout.contains("up to date"), "{}", out.stdout);
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("run 0 | skip 3"), "{}", out.stdout);
}
