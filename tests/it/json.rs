//! `--format json` for every command: one document on stdout with the shared envelope
//! (`schema_version`, `command`, `cassachange_version`, `ok`, `exit_code`), the human
//! lines on stderr, errors as documents with unchanged exit codes; and no terminal
//! escape codes when the output is not a terminal.

use cassachange_tests::db::plain;
use cassachange_tests::{enterprise_bin, DbProject, Output, Project, RUNTIME_FAILURE};
use serde_json::Value;

const USERS: &str = "CREATE TABLE IF NOT EXISTS users (id int PRIMARY KEY, name text);\n";

/// Parses stdout as one document and checks the envelope.
fn doc(out: &Output, command: &str) -> Value {
    let v: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", out.all()));
    assert_eq!(v["schema_version"], 1, "{v:#}");
    assert_eq!(v["command"], command, "{v:#}");
    assert_eq!(v["cassachange_version"], env!("CARGO_PKG_VERSION"), "{v:#}");
    assert_eq!(
        v["exit_code"], out.code,
        "the document's exit code is the process's: {v:#}"
    );
    assert_eq!(v["ok"], out.code == 0, "{v:#}");
    v
}

fn actions(v: &Value) -> Vec<String> {
    v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{} {}",
                s["action"].as_str().unwrap(),
                s["script"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn every_command_speaks_json_with_one_envelope() {
    // --version
    let out = Project::new().run(&["--version", "--format", "json"]);
    let v = doc(&out, "version");
    assert_eq!(v["edition"]["name"], "community");
    let out = Project::new()
        .with_bin(enterprise_bin())
        .run(&["--format", "json", "--version"]);
    let v = doc(&out, "version");
    assert_eq!(v["edition"]["plugin"]["interface_version"], "1.2.0");

    let mut p = DbProject::new(plain(), "json", 1, "");
    p.project.use_bin(enterprise_bin());
    p.script("V1__users.cql", USERS)
        .script(
            "V2__more.cql",
            "ALTER TABLE users ADD IF NOT EXISTS email text;\n",
        )
        .script("U2__more.cql", "ALTER TABLE users DROP IF EXISTS email;\n");

    // validate keeps its fields inside the envelope.
    let out = p.run(&["validate", "--format", "json"]);
    let v = doc(&out, "validate");
    assert_eq!(v["passed"], true);
    assert_eq!(v["summary"]["scripts"], 3);

    // A dry run: the plan in the original's shape.
    let out = p.run(&["deploy", "--dry-run", "--format", "json"]);
    let v = doc(&out, "deploy");
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["plan"]["total_actions"], 2);
    assert_eq!(v["plan"]["actions"][0]["action"], "run");

    // The deploy: every step, totals, the lock; human lines on stderr only.
    let out = p.run(&["deploy", "--format", "json", "--tag", "r1"]);
    let v = doc(&out, "deploy");
    assert_eq!(actions(&v), ["run V1__users.cql", "run V2__more.cql"]);
    assert_eq!(v["totals"]["ran"], 2);
    assert_eq!(v["tag"], "r1");
    assert_eq!(v["lock"], "released");
    assert!(v["run_id"].as_str().is_some_and(|r| r.len() == 36));
    assert!(v["steps"][0]["duration_ms"].is_u64());
    assert!(
        out.stderr.contains("[RUN]     V1__users.cql"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("[1/2]") && out.stderr.contains("[2/2]"),
        "{}",
        out.stderr
    );

    // status
    let out = p.run(&["status", "--format", "json"]);
    let v = doc(&out, "status");
    assert_eq!(v["history"].as_array().unwrap().len(), 2);
    assert_eq!(v["history"][0]["script"], "V2__more.cql");
    assert_eq!(v["keyspaces"][0]["up_to_date"], true);

    // rollback, dry and real
    let out = p.run(&["rollback", "--dry-run", "--format", "json"]);
    let v = doc(&out, "rollback");
    assert_eq!(v["steps"][0]["action"], "would_undo");
    let out = p.run(&["rollback", "--format", "json"]);
    let v = doc(&out, "rollback");
    assert_eq!(actions(&v), ["undo U2__more.cql"]);

    // A failed script: exit 1, the error in its step.
    p.script("V3__fails.cql", RUNTIME_FAILURE);
    let out = p.run(&["deploy", "--format", "json", "--no-preflight"]);
    assert_eq!(out.code, 1, "{}", out.all());
    let v = doc(&out, "deploy");
    let failed = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["action"] == "failed")
        .expect("a failed step");
    assert_eq!(failed["script"], "V3__fails.cql");
    assert!(failed["error"].as_str().is_some_and(|e| !e.is_empty()));

    // repair --list, then repair
    let out = p.run(&["repair", "--list", "--format", "json"]);
    let v = doc(&out, "repair");
    assert_eq!(v["failed"][0]["script"], "V3__fails.cql", "{v:#}");
    assert_eq!(v["lock"]["held"], false);
    let out = p.run(&["repair", "--format", "json"]);
    let v = doc(&out, "repair");
    assert_eq!(v["marked"][0]["script"], "V3__fails.cql");

    // audit (enterprise)
    let out = p.run(&["audit", "--format", "json", "--limit", "3"]);
    let v = doc(&out, "audit");
    let events = v["events"].as_array().unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(events.len(), 3, "{v:#}");
    assert!(events[0]["run_id"].as_str().is_some_and(|r| r.len() == 36));

    // An error is a document with the same exit code.
    let out = p.run(&["status", "--format", "json", "--hosts", ""]);
    assert_eq!(out.code, 2, "{}", out.all());
    let v = doc(&out, "status");
    assert!(v["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("--hosts")));

    // A pre-flight stop: the findings and the error.
    p.script("V4__bad.cql", "CREATE TABLE users (id int PRIMARY KEY);\n");
    std::fs::remove_file(p.project.path().join("migrations/V3__fails.cql")).unwrap();
    let out = p.run(&["deploy", "--format", "json"]);
    assert_eq!(out.code, 1, "{}", out.all());
    let v = doc(&out, "deploy");
    assert_eq!(v["preflight"][0]["script"], "V4__bad.cql");
    assert!(v["error"]["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("pre-flight")));
}

#[test]
fn output_that_is_not_a_terminal_has_no_escape_codes() {
    let p = DbProject::new(plain(), "noesc", 1, "");
    p.script("V1__users.cql", USERS)
        .script("V2__bad.cql", "SELCT 1;\n");
    for args in [
        &["--help"][..],
        &["deploy", "--help"],
        &["validate"],
        &["deploy"],
        &["status"],
        &["status", "--verbose"],
        &["deploy", "--verbose"],
        &["nonsense"],
    ] {
        for (k, v) in [("CLICOLOR_FORCE", "0"), ("TERM", "xterm-256color")] {
            // The harness sets NO_COLOR=1; an empty NO_COLOR does not count.
            let out = p.project.run_with(args, &[(k, v), ("NO_COLOR", "")]);
            assert!(
                !out.all().contains('\u{1b}'),
                "escape codes in `cassachange {}`:\n{}",
                args.join(" "),
                out.all()
            );
        }
    }
    // CLICOLOR_FORCE=1 asks for colour even without a terminal (clap's help honours it).
    let out = p
        .project
        .run_with(&["--help"], &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "")]);
    assert!(out.all().contains('\u{1b}'), "{}", out.all());
    let out = p
        .project
        .run_with(&["--help"], &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]);
    assert!(
        !out.all().contains('\u{1b}'),
        "NO_COLOR wins: {}",
        out.all()
    );
}
