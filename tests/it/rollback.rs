//! `rollback` end to end: latest, `--target-version`, `--tag`, dry run, a missing undo
//! script, and the redeploy that applies a rolled-back version again.

use std::fmt::Write;
use std::time::Duration;

use cassachange_tests::db::{plain, Instance};
use cassachange_tests::{finish, spawn, wait_for, DbProject};

fn project(db: &'static Instance, label: &str) -> DbProject {
    let p = DbProject::new(db, label, 1, "");
    p.script(
        "V1.0__a.cql",
        "CREATE TABLE IF NOT EXISTS a (k int PRIMARY KEY);\n",
    )
    .script(
        "V1.1__b.cql",
        "CREATE TABLE IF NOT EXISTS b (k int PRIMARY KEY);\n",
    )
    .script("U1.1__b.cql", "DROP TABLE IF EXISTS b;\n")
    .script(
        "V2.0__c.cql",
        "CREATE TABLE IF NOT EXISTS c (k int PRIMARY KEY);\n",
    )
    .script("U2.0__c.cql", "DROP TABLE IF EXISTS c;\n");
    p
}

fn rollback_latest_then_redeploy_applies_it_again(db: &'static Instance) {
    let p = project(db, "rbl");
    assert_eq!(p.run(&["deploy"]).code, 0);
    let out = p.run(&["rollback"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("[UNDO]    U2.0__c.cql")
            && out.stdout.contains("version 2.0 rolled back"),
        "{}",
        out.stdout
    );
    assert!(!p.table_exists(p.ks(), "c") && p.table_exists(p.ks(), "b"));
    let rows = p.history();
    let sentinel = rows
        .iter()
        .find(|r| r.script == "ROLLBACK_V2.0")
        .expect("sentinel row");
    assert_eq!(
        (
            sentinel.status.as_str(),
            sentinel.script_type.as_str(),
            sentinel.version.as_str()
        ),
        ("ROLLED_BACK", "undo", "2.0")
    );
    assert!(rows
        .iter()
        .any(|r| r.script == "U2.0__c.cql" && r.status == "SUCCESS" && r.script_type == "undo"));

    let out = p.run(&["status"]);
    assert!(
        out.stdout.contains("V2.0__c.cql") && out.stdout.contains(", will re-apply"),
        "{}",
        out.stdout
    );
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("[RUN]     V2.0__c.cql"),
        "the rolled-back version runs again: {}",
        out.stdout
    );
    assert!(p.table_exists(p.ks(), "c"));
}

fn rollback_by_target_version_and_by_tag_in_reverse_order(db: &'static Instance) {
    let p = project(db, "rbt");
    p.script(
        "V1.1__b.cql",
        "CREATE TABLE IF NOT EXISTS b (k int PRIMARY KEY);\n",
    );
    for f in ["V2.0__c.cql", "U2.0__c.cql"] {
        std::fs::remove_file(p.project.path().join("migrations").join(f)).unwrap();
    }
    let out = p.run(&["deploy", "--tag", "r1"]);
    assert_eq!(out.code, 0, "{}", out.all());
    p.script(
        "V2.0__c.cql",
        "CREATE TABLE IF NOT EXISTS c (k int PRIMARY KEY);\n",
    )
    .script("U2.0__c.cql", "DROP TABLE IF EXISTS c;\n");
    assert_eq!(p.run(&["deploy", "--tag", "r2"]).code, 0);

    let out = p.run(&["rollback", "--tag", "r2", "--dry-run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("[UNDO]    U2.0__c.cql") && !out.stdout.contains("U1.1"),
        "{}",
        out.stdout
    );
    assert!(p.table_exists(p.ks(), "c"), "dry run changes nothing");
    // r1 holds 1.0, which has no undo script: the whole rollback is refused.
    let out = p.run(&["rollback", "--tag", "r1"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stderr.contains("version 1.0 has no undo script"),
        "{}",
        out.stderr
    );
    assert!(p.table_exists(p.ks(), "b"), "nothing undone");

    let out = p.run(&["rollback", "--target-version", "1.0"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let u2 = out.stdout.find("U2.0__c.cql").unwrap();
    let u1 = out.stdout.find("U1.1__b.cql").unwrap();
    assert!(u2 < u1, "newest first: {}", out.stdout);
    assert!(
        !p.table_exists(p.ks(), "b") && !p.table_exists(p.ks(), "c") && p.table_exists(p.ks(), "a")
    );
    let out = p.run(&["rollback", "--target-version", "1.0"]);
    assert!(
        out.stdout.contains("nothing to roll back"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_version_without_undo_script_stops_before_anything_is_undone() {
    let p = project(plain(), "rbm");
    assert_eq!(p.run(&["deploy"]).code, 0);
    let out = p.run(&["rollback", "--target-version", "0"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stderr.contains("cannot roll back; nothing was undone")
            && out
                .stderr
                .contains("version 1.0 has no undo script (expected U1.0__*.cql)"),
        "{}",
        out.stderr
    );
    assert!(
        p.table_exists(p.ks(), "c") && p.table_exists(p.ks(), "b"),
        "nothing undone"
    );
    assert!(
        out.stdout.contains("[lock]    released"),
        "the lock is released on refusal"
    );
    let out = p.run(&["rollback", "--target-version", "x.y"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("--target-version: 'x.y' is not a version"),
        "{}",
        out.stderr
    );
}

/// A rollback killed inside an undo script with statements not safe to run twice: the
/// version still reads as applied, but the next rollback must not run the undo again
/// from its start, nor undo an older version, nor may a deploy build on it, until the
/// operator marks it with `repair --script`.
#[test]
fn a_killed_undo_blocks_rollback_and_deploy_until_repaired() {
    let p = DbProject::new(plain(), "rbkill", 1, "");
    let n = 40;
    let undo = (1..=n).fold(String::new(), |mut s, i| {
        let _ = writeln!(s, "ALTER TABLE b WITH comment = 'undo {i}';");
        let _ = writeln!(s, "INSERT INTO marks (id, stmt) VALUES (now(), {i});");
        s
    });
    p.script(
        "V1.0__a.cql",
        "CREATE TABLE IF NOT EXISTS marks (id timeuuid PRIMARY KEY, stmt int);\n",
    )
    .script("U1.0__a.cql", "DROP TABLE IF EXISTS marks;\n")
    .script(
        "V2.0__b.cql",
        "CREATE TABLE IF NOT EXISTS b (k int PRIMARY KEY);\n",
    )
    .script("U2.0__b.cql", &undo);
    assert_eq!(p.run(&["deploy"]).code, 0);
    let marks = || {
        plain()
            .try_rows(&format!("SELECT stmt FROM {}.marks", p.ks()))
            .map_or(0, |r| r.len())
    };
    let mut child = spawn(&p, &["rollback"], &[]);
    wait_for(Duration::from_secs(60), "the undo to be half-way", || {
        marks() >= 3
    });
    child.kill().expect("SIGKILL");
    let (_, text) = finish(child);
    let before = marks();
    assert!(before < n, "killed half-way: {before} {text}");
    assert_eq!(p.run(&["repair", "--release-lock"]).code, 0);

    let out = p.run(&["rollback"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stderr.contains("cannot roll back; nothing was undone")
            && out.stderr.contains("U2.0__b.cql was interrupted: run ")
            && out.stderr.contains("repair --script"),
        "{}",
        out.stderr
    );
    assert_eq!(marks(), before, "nothing ran again");
    assert!(
        p.table_exists(p.ks(), "marks"),
        "V1.0 was not undone instead"
    );
    let out = p.run(&["rollback", "--dry-run"]);
    assert_eq!(out.code, 1, "{}", out.all());
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stdout.contains("[STOP]    U2.0__b.cql"),
        "{}",
        out.all()
    );
    assert!(out.stderr.contains("roll back again"), "{}", out.stderr);

    let out = p.run(&["repair", "--script", "U2.0__b.cql"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let out = p.run(&["rollback"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        marks(),
        before + n,
        "the retry ran the undo once, from its start"
    );
    let out = p.run(&["status"]);
    assert!(out.stdout.contains("V2.0__b.cql"), "{}", out.stdout);
}

on_both!(
    rollback_latest_then_redeploy_applies_it_again,
    rollback_by_target_version_and_by_tag_in_reverse_order,
);
