//! `deploy --plan FILE`: a deploy held to the plan a dry run saved. The real binary against
//! a real Cassandra 5.0 node: the plan applied as reviewed, and each way it can stop being
//! what would run — a file edited or added, another deploy since (before the lock and while
//! waiting for it), another tag, keyspace list, cluster or tool version — refused with exit
//! 1, a line per change, nothing deployed and the lock free.

use cassachange_tests::db::{plain, text};
use cassachange_tests::{finish, spawn_waiting, DbProject};
use serde_json::Value;

const V1: &str = "CREATE TABLE IF NOT EXISTS users (id int PRIMARY KEY, name text);\n";
const V2: &str = "ALTER TABLE users ADD email text;\n";
const R: &str = "CREATE TABLE IF NOT EXISTS r1 (k int PRIMARY KEY);\n";

fn plan(p: &DbProject, file: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p.project.path().join(file)).unwrap()).unwrap()
}

/// Asserts `deploy --plan` refused with `code` and every line of `expected`, deploying
/// nothing and leaving the lock free.
fn refused(p: &DbProject, args: &[&str], code: i32, expected: &[String]) {
    let before = p.history_summary();
    let out = p.run(args);
    assert_eq!(out.code, code, "{args:?}: {}", out.all());
    for line in expected {
        assert!(
            out.stderr.contains(line.as_str()),
            "{args:?}: expected {line:?} in:\n{}",
            out.stderr
        );
    }
    assert!(!out.stdout.contains("[lock]    acquired"), "{}", out.stdout);
    assert_eq!(p.history_summary(), before, "{args:?} deployed nothing");
    assert!(
        p.run(&["repair", "--list"])
            .stdout
            .contains("Deploy lock: free"),
        "{args:?} left the lock free"
    );
}

#[test]
fn a_deploy_held_to_a_saved_plan_runs_it_or_says_what_changed() {
    let p = DbProject::new(plain(), "plan", 2, "");
    let (a, b) = (p.keyspaces[0].name.clone(), p.keyspaces[1].name.clone());
    p.script("V1__users.cql", V1);
    assert_eq!(p.run(&["deploy"]).code, 0);
    p.script("V2__email.cql", V2).script("R__r1.cql", R);
    let out = p.run(&["deploy", "--tag", "rel-2", "--dry-run-output", "plan.json"]);
    assert_eq!(out.code, 0, "{}", out.all());

    // What the plan carries besides the original's fields, readable by people.
    let saved = plan(&p, "plan.json");
    let version = p.run(&["--version"]).stdout;
    assert!(
        version.contains(saved["cassachange_version"].as_str().unwrap()),
        "{version} / {saved:#}"
    );
    let cluster = text(&plain().rows("SELECT cluster_name FROM system.local")[0][0]);
    assert_eq!(saved["cluster_name"], cluster.as_str());
    for ks in [&a, &b] {
        assert_eq!(
            saved["history"][ks].as_str().unwrap().len(),
            32,
            "{saved:#}"
        );
    }
    assert_eq!(saved["total_actions"], 6);
    let text_form = std::fs::read_to_string(p.project.path().join("plan.json")).unwrap();
    assert!(text_form.contains("\n  \"actions\": [\n"), "pretty-printed");

    // Each change is refused, saying what changed.
    let plan_ = ["deploy", "--tag", "rel-2", "--plan", "plan.json"];
    let first = "the plan in 'plan.json' is not what a deploy would run now; nothing was deployed:";
    refused(
        &p,
        &["deploy", "--tag", "other", "--plan", "plan.json"],
        1,
        &[
            first.into(),
            "  the tag is 'other' now; the plan was made with 'rel-2'".into(),
            "hint: make a new plan with `cassachange deploy --dry-run-output <file>`, review it, and deploy that".into(),
        ],
    );
    refused(
        &p,
        &[
            "deploy",
            "--tag",
            "rel-2",
            "--keyspace",
            &a,
            "--plan",
            "plan.json",
        ],
        1,
        &[format!(
            "  the keyspaces are [\"{a}\"] now; the plan is for [\"{a}\",\"{b}\"]"
        )],
    );
    p.script("V2__email.cql", "ALTER TABLE users ADD phone text;\n");
    let was = saved["actions"][1]["checksum"]
        .as_str()
        .unwrap()
        .to_string();
    let out = refused_text(&p, &plan_);
    assert!(
        out.contains(&format!(
            "  V2__email.cql ({a}): the file changed since the plan (checksum {was} then, "
        )) && out.contains(&format!(
            "  V2__email.cql ({b}): the file changed since the plan"
        )),
        "{out}"
    );
    p.script("V2__email.cql", V2);
    p.script("V3__more.cql", "ALTER TABLE users ADD more text;\n");
    refused(
        &p,
        &plan_,
        1,
        &[
            format!("  V3__more.cql ({a}): added since the plan"),
            format!("  V3__more.cql ({b}): added since the plan"),
        ],
    );
    std::fs::remove_file(p.project.path().join("migrations/V3__more.cql")).unwrap();

    // The plan file itself edited: another cluster, another tool.
    let mut edited = saved.clone();
    edited["cluster_name"] = "Other Cluster".into();
    edited["cassachange_version"] = "0.0.1".into();
    p.project.write(
        "edited.json",
        serde_json::to_string_pretty(&edited).unwrap(),
    );
    let version_now = saved["cassachange_version"].as_str().unwrap();
    refused(
        &p,
        &["deploy", "--tag", "rel-2", "--plan", "edited.json"],
        1,
        &[
            format!("  cassachange is '{version_now}' now; the plan was made with '0.0.1'"),
            format!("  the cluster is '{cluster}' now; the plan was made with 'Other Cluster'"),
        ],
    );
    // Plans a check cannot hold a deploy to: exit 2, nothing attempted.
    let mut old = saved.clone();
    old.as_object_mut().unwrap().remove("history");
    p.project
        .write("old.json", serde_json::to_string_pretty(&old).unwrap());
    refused(
        &p,
        &["deploy", "--plan", "old.json"],
        2,
        &[
            "error: --plan 'old.json': not a plan cassachange can hold a deploy to (no `history`)"
                .into(),
        ],
    );
    p.project.write("broken.json", "{ \"actions\": [");
    refused(
        &p,
        &["deploy", "--plan", "broken.json"],
        2,
        &["error: --plan 'broken.json': not JSON (".into()],
    );
    refused(
        &p,
        &["deploy", "--plan", "missing.json"],
        2,
        &["error: --plan 'missing.json': cannot read it (".into()],
    );
    let out = p.run(&["deploy", "--plan", "plan.json", "--dry-run"]);
    assert_eq!(out.code, 2, "--plan and --dry-run conflict: {}", out.all());

    // Another deploy since the plan: its history moved, and what would run changed.
    assert_eq!(p.run(&["deploy", "--keyspace", &b]).code, 0);
    refused(
        &p,
        &plan_,
        1,
        &[
            format!("  the history of {b} changed since the plan (another deploy, rollback or repair ran)"),
            format!("  V2__email.cql ({b}): would skip now; the plan says run"),
        ],
    );

    // A fresh plan, applied as reviewed; the same plan once more is stale.
    let out = p.run(&["deploy", "--tag", "rel-2", "--dry-run-output", "plan.json"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let out = p.run(&plan_);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout
            .contains(&format!("✓ {a}: run 2 | skip 1 | errors 0 | tag rel-2")),
        "{}",
        out.stdout
    );
    let summary = p.history_summary();
    assert_eq!(
        summary
            .iter()
            .filter(|s| s.starts_with("V2__email.cql SUCCESS"))
            .count(),
        2,
        "{summary:?}"
    );
    refused(
        &p,
        &plan_,
        1,
        &[format!(
            "  the history of {a} changed since the plan (another deploy, rollback or repair ran)"
        )],
    );
}

/// `refused`, returning stderr for assertions that need more than `contains`.
fn refused_text(p: &DbProject, args: &[&str]) -> String {
    let before = p.history_summary();
    let out = p.run(args);
    assert_eq!(out.code, 1, "{}", out.all());
    assert_eq!(p.history_summary(), before);
    out.stderr
}

#[test]
fn a_deploy_that_waited_for_the_lock_refuses_a_plan_another_run_made_stale_meanwhile() {
    let p = DbProject::new(plain(), "planw", 1, "");
    p.script("V1__users.cql", V1);
    assert_eq!(p.run(&["deploy"]).code, 0);
    p.script("V2__email.cql", V2);
    assert_eq!(p.run(&["deploy", "--dry-run-output", "plan.json"]).code, 0);
    p.hold_lock();
    let (child, err) = spawn_waiting(&p, &["deploy", "--plan", "plan.json", "--lock-wait", "60s"]);
    // What the other run recorded before it let go of the lock.
    plain().exec(&format!(
        "INSERT INTO {}.change_history (script, installed_on, script_type, checksum, \
         status, keyspace_name, run_id) VALUES ('V2__email.cql', toTimestamp(now()), \
         'versioned', 'elsewhere', 'FAILED', '{}', 'other')",
        p.history.name,
        p.ks()
    ));
    p.let_go_of_lock();
    let (code, out) = finish(child);
    let stderr = std::fs::read_to_string(&err).unwrap();
    assert_eq!(code, 1, "{out}{stderr}");
    assert!(
        stderr.contains(&format!(
            "the plan in 'plan.json' is not what a deploy would run now; nothing was deployed: \
             the history of {} changed while the lock was taken (another deploy ran in between)",
            p.ks()
        )),
        "{stderr}"
    );
    assert!(out.contains("[lock]    released"), "{out}");
    assert_eq!(
        p.history_summary(),
        ["V1__users.cql SUCCESS", "V2__email.cql FAILED"],
        "the refused deploy recorded nothing"
    );
}
