//! Secrets never leak: a password given through the environment is searched for in
//! everything a full session prints or writes (stdout, stderr with `--verbose`, the
//! dry-run plan, history and audit rows, error messages), and wrong passwords from the
//! environment, a flag and a misused `secrets` block are never echoed.

use std::fmt::Write;

use cassachange_tests::db::secure;
use cassachange_tests::{enterprise_bin, DbProject};

/// A login made for this test, with a password that appears nowhere else.
const USER: &str = "leak_check_user";
const PASSWORD: &str = "Leak-Check-Pw-8841x";
/// A wrong password, for the refused logins.
const WRONG: &str = "Zq9-NotTheRealPw-77";

#[test]
fn no_output_or_row_carries_a_password() {
    secure().exec(&format!(
        "CREATE ROLE IF NOT EXISTS {USER} WITH PASSWORD = '{PASSWORD}' AND LOGIN = true AND SUPERUSER = true"
    ));
    let mut p = DbProject::new(secure(), "leak", 1, "");
    p.project.use_bin(enterprise_bin());
    // This test's own login: the user in the file, the password from the environment.
    let yaml = std::fs::read_to_string(p.project.path().join("cassachange.yml")).unwrap();
    let mut file = String::new();
    for line in yaml
        .lines()
        .filter(|l| !l.starts_with("username:") && !l.starts_with("password:"))
    {
        let _ = writeln!(file, "{line}");
    }
    let _ = writeln!(file, "username: {USER}");
    p.project.write("cassachange.yml", file);
    p.project.env("CASSANDRA_PASSWORD", PASSWORD);
    p.script(
        "V1__t.cql",
        "CREATE TABLE IF NOT EXISTS t (k int PRIMARY KEY);\n",
    )
    .script("V2__bad.cql", cassachange_tests::RUNTIME_FAILURE);

    let mut all = String::new();
    for args in [
        &["-v", "validate"][..],
        &["-v", "deploy", "--dry-run-output", "plan.json"],
        &["-v", "deploy", "--tag", "t1"],
        &["-v", "status"],
        &["-v", "repair", "--list"],
        &["-v", "audit"],
        &["-v", "rollback", "--dry-run"],
    ] {
        all.push_str(&p.run(args).all());
    }
    all.push_str(&std::fs::read_to_string(p.project.path().join("plan.json")).unwrap());
    for r in p.history() {
        let _ = writeln!(all, "{r:?}");
    }
    for row in secure().rows(&format!("SELECT * FROM {}.audit_log", p.history.name)) {
        let _ = writeln!(all, "{row:?}");
    }
    assert!(
        all.contains("[RUN]     V1__t.cql"),
        "the session did run: {all}"
    );
    assert!(
        all.contains("SCRIPT_FAILED") && all.contains(USER),
        "audit rows were read"
    );
    assert!(!all.contains(PASSWORD), "the password leaked:\n{all}");

    let out = p
        .project
        .run_with(&["-v", "status"], &[("CASSANDRA_PASSWORD", WRONG)]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains(
            "check username (from cassachange.yml: username) and password (from environment variable CASSANDRA_PASSWORD)"
        ),
        "{}",
        out.stderr
    );
    assert!(!out.all().contains(WRONG), "{}", out.all());
    let out = p.project.run(&["-v", "deploy", "--password", WRONG]);
    assert_eq!(out.code, 2);
    assert!(!out.all().contains(WRONG), "{}", out.all());

    // A secret pasted into the secrets block by mistake is not echoed by the config check.
    p.project
        .write("bad.yml", format!("secrets:\n  password: {WRONG}\n"));
    let out = p.project.run(&["-c", "bad.yml", "status"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("secrets.password: expected a secret URI"),
        "{}",
        out.stderr
    );
    assert!(!out.all().contains(WRONG), "{}", out.all());
}
