//! `repair --freeze` / `--unfreeze` on the real node: a freeze stops every deploy and
//! rollback before the lock (dry runs say they would stop), and a run that was waiting
//! for the lock when the freeze was set stops under it; `status` and `repair --list` show
//! it; the plugin audits both; lifting it lets the next deploy run.

use cassachange_tests::db::plain;
use cassachange_tests::{enterprise_bin, finish, spawn_waiting, DbProject};
use serde_json::Value;

#[test]
fn a_freeze_stops_deploys_and_rollbacks_until_it_is_lifted() {
    let mut p = DbProject::new(plain(), "frz", 1, "");
    p.project.use_bin(enterprise_bin());
    p.script(
        "V1__t.cql",
        "CREATE TABLE IF NOT EXISTS t (k int PRIMARY KEY);\n",
    )
    .script("U1__t.cql", "DROP TABLE IF EXISTS t;\n");
    assert_eq!(p.run(&["deploy"]).code, 0);
    p.script(
        "V2__u.cql",
        "CREATE TABLE IF NOT EXISTS u (k int PRIMARY KEY);\n",
    );

    let out = p.run(&["repair", "--freeze", "  "]);
    assert_eq!(out.code, 2, "a reason is required: {}", out.all());
    let out = p.run(&["repair", "--freeze", "adding dc2; ask #db-ops"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("Deploy freeze: FROZEN by ")
            && out.stdout.contains(": adding dc2; ask #db-ops"),
        "{}",
        out.stdout
    );

    let frozen = "deploys are frozen (by ";
    for (args, line) in [
        (vec!["deploy"], "; the deploy did not start"),
        (vec!["rollback"], "; the rollback did not start"),
        (
            vec!["deploy", "--dry-run"],
            "; a deploy would stop before the lock",
        ),
        (
            vec!["rollback", "--dry-run"],
            "; a rollback would stop before the lock",
        ),
    ] {
        let out = p.run(&args);
        assert_eq!(out.code, 1, "{args:?}: {}", out.all());
        assert!(
            out.stderr.contains(frozen)
                && out
                    .stderr
                    .contains(&format!("adding dc2; ask #db-ops){line}")),
            "{args:?}: {}",
            out.stderr
        );
        assert!(!out.stdout.contains("[lock]"), "{args:?}: {}", out.stdout);
    }
    assert!(!p.table_exists(p.ks(), "u"), "nothing deployed");
    assert!(p.table_exists(p.ks(), "t"), "nothing rolled back");

    let out = p.run(&["repair", "--list"]);
    assert!(
        out.stdout.contains("Deploy freeze: FROZEN by "),
        "{}",
        out.stdout
    );
    let out = p.run(&["status", "--format", "json"]);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["freeze"]["reason"], "adding dc2; ask #db-ops");

    let out = p.run(&["repair", "--unfreeze"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.starts_with("Freeze lifted (set by "),
        "{}",
        out.stdout
    );
    let out = p.run(&["repair", "--unfreeze"]);
    assert!(out
        .stdout
        .contains("Deploys are not frozen; nothing to lift."));
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(p.table_exists(p.ks(), "u"));

    let out = p.run(&["audit", "--format", "json"]);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap();
    let kinds: Vec<&str> = doc["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .filter(|k| k.contains("FREEZE") || *k == "DEPLOY_FAILED" || *k == "ROLLBACK_FAILED")
        .collect();
    assert_eq!(
        kinds,
        ["UNFREEZE", "ROLLBACK_FAILED", "DEPLOY_FAILED", "FREEZE"],
        "newest first: {doc:#}"
    );
}

#[test]
fn a_run_waiting_for_the_lock_when_deploys_are_frozen_stops_under_it() {
    let p = DbProject::new(plain(), "frzw", 1, "");
    p.script(
        "V1__t.cql",
        "CREATE TABLE IF NOT EXISTS t (k int PRIMARY KEY);\n",
    );
    assert_eq!(p.run(&["deploy"]).code, 0);
    p.script(
        "V2__u.cql",
        "CREATE TABLE IF NOT EXISTS u (k int PRIMARY KEY);\n",
    );
    p.hold_lock();
    let (child, err) = spawn_waiting(&p, &["deploy", "--lock-wait", "60s"]);
    let out = p.run(&["repair", "--freeze", "incident 42"]);
    assert_eq!(out.code, 0, "{}", out.all());
    p.let_go_of_lock();
    let (code, out) = finish(child);
    let stderr = std::fs::read_to_string(&err).unwrap();
    assert_eq!(code, 1, "{out}{stderr}");
    assert!(
        stderr.contains("incident 42); the deploy stopped under the lock before its first script"),
        "{stderr}"
    );
    assert!(out.contains("[lock]    released"), "{out}");
    assert!(!p.table_exists(p.ks(), "u"));
    assert_eq!(p.run(&["repair", "--unfreeze"]).code, 0);
}
