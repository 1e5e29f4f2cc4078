//! `packaging/github-workflow-migrate.yml`: it parses, its jobs hang together, and every
//! `cassachange` command it runs works as written — each job's commands are run, in the
//! jobs' order, against the real node with the enterprise binary, with the workflow's
//! `${{ … }}` expressions replaced by what a push of tag `v1` (then a manual rollback of
//! it) would give. The `pip install` steps run verbatim against built wheels in the
//! packaging test.

use std::process::Command;

use cassachange_tests::db::plain;
use cassachange_tests::{enterprise_bin, tests_dir, DbProject, Output};
use serde_json::Value;
use serde_yaml_ng::Value as Yaml;

/// What the runner would put in place of a `${{ … }}` expression.
fn expand(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").expect("unclosed ${{") + start;
        let expr = &rest[start + 3..end];
        out.push_str(if expr.contains("profile") {
            "prod"
        } else if expr.contains("tag") {
            "v1"
        } else {
            "" // secrets and variables: not set here
        });
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

#[test]
fn the_workflow_parses_and_every_command_in_it_runs_as_written() {
    let text =
        std::fs::read_to_string(tests_dir().join("../packaging/github-workflow-migrate.yml"))
            .unwrap();
    let wf: Yaml = serde_yaml_ng::from_str(&text).expect("the workflow is YAML");
    let jobs = wf["jobs"].as_mapping().expect("jobs");
    let names: Vec<&str> = jobs.keys().map(|k| k.as_str().unwrap()).collect();
    assert_eq!(names, ["validate", "dry-run", "deploy", "rollback"]);
    for (name, job) in jobs {
        if let Some(need) = job["needs"].as_str() {
            assert!(names.contains(&need), "{name:?} needs unknown job {need}");
        }
    }
    // Rollback only by hand; the deploy never on a rollback request.
    let cond = |job: &str| jobs[job]["if"].as_str().unwrap_or_default().to_string();
    assert!(cond("rollback").contains("github.event_name == 'workflow_dispatch'"));
    assert!(cond("rollback").contains("inputs.rollback"));
    assert!(cond("deploy").contains("!inputs.rollback"));
    assert!(wf["on"]["workflow_dispatch"]["inputs"]["rollback"]["type"] == "boolean");
    // The deploy applies the plan the dry-run job uploaded, not a recomputed one.
    let uses = |job: &str, action: &str| {
        jobs[job]["steps"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with(action)))
            .map(|s| s["with"]["name"].as_str().unwrap_or_default().to_string())
    };
    let artifact = uses("dry-run", "actions/upload-artifact").expect("the plan is uploaded");
    assert_eq!(uses("deploy", "actions/download-artifact"), Some(artifact));
    assert!(text.contains("--dry-run-output plan.json") && text.contains("--plan plan.json"));
    // No address is made up: the artifact location is a repository variable.
    assert!(!text.contains("github.com/") && !text.contains("releases/download"));
    assert!(text.contains("${{ vars.CASSACHANGE_FIND_LINKS }}"));

    let mut p = DbProject::new(
        plain(),
        "wflow",
        1,
        "profiles:\n  prod:\n    timeout: 120\n",
    );
    p.project.use_bin(enterprise_bin());
    p.script(
        "V1__users.cql",
        "CREATE TABLE IF NOT EXISTS users (id int PRIMARY KEY);\n",
    )
    .script("U1__users.cql", "DROP TABLE IF EXISTS users;\n");
    let bin_dir = enterprise_bin().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let mut ran = Vec::new();
    for name in &names {
        for step in jobs[*name]["steps"].as_sequence().unwrap() {
            let Some(run) = step["run"].as_str() else {
                continue;
            };
            if run.starts_with("pip install ") {
                assert!(run.contains("--require-hashes"), "{name}: {run}");
                continue;
            }
            assert!(
                run.contains("cassachange "),
                "{name}: unexpected step {run}"
            );
            let script = expand(run);
            let mut cmd = Command::new("bash");
            cmd.args(["-euo", "pipefail", "-c", &script])
                .current_dir(p.project.path())
                .env("PATH", &path)
                .env("NO_COLOR", "1");
            if let Some(env) = step["env"].as_mapping() {
                for (k, v) in env {
                    cmd.env(k.as_str().unwrap(), expand(v.as_str().unwrap()));
                }
            }
            let out = Output::of(&mut cmd);
            assert_eq!(out.code, 0, "job {name}: `{script}`:\n{}", out.all());
            ran.push(format!("{name}: {script}"));
        }
    }
    assert_eq!(ran.len(), 4, "{ran:#?}");

    let report: Value =
        serde_json::from_slice(&std::fs::read(p.project.path().join("validate.json")).unwrap())
            .unwrap();
    assert_eq!(report["passed"], true);
    let plan: Value =
        serde_json::from_slice(&std::fs::read(p.project.path().join("plan.json")).unwrap())
            .unwrap();
    assert_eq!(plan["total_actions"], 1, "{plan:#}");
    // Deployed with tag v1, then rolled back by that tag.
    let history = p.history_summary();
    assert!(
        history.iter().any(|h| h.contains("V1__users.cql")),
        "{history:?}"
    );
    assert!(!p.table_exists(p.ks(), "users"), "the rollback dropped it");
}
