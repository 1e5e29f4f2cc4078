//! Compatibility both ways with the Python `cassachange==1.0.0` on the same node and
//! the same history tables.

use cassachange_tests::db::{plain, Instance};
use cassachange_tests::DbProject;

fn project(db: &'static Instance, label: &str) -> DbProject {
    let p = DbProject::new(db, label, 1, "");
    p.script(
        "users/V1.0.0__users.cql",
        "CREATE TABLE IF NOT EXISTS users (id int PRIMARY KEY, name text);\n",
    )
    .script(
        "users/V1_1_0__more.cql",
        "ALTER TABLE users ADD IF NOT EXISTS email text;\n",
    )
    .script(
        "orders/V1.2.0__orders.cql",
        "CREATE TABLE IF NOT EXISTS orders (id int PRIMARY KEY);\n",
    )
    .script("U1.2.0__orders.cql", "DROP TABLE IF EXISTS orders;\n")
    .script(
        "R__repeat.cql",
        "CREATE TABLE IF NOT EXISTS rep (id int PRIMARY KEY);\n",
    )
    .script(
        "A__always.cql",
        "INSERT INTO users (id, name) VALUES (0, 'x');\n",
    );
    p
}

fn python_deploys_then_ours_reruns_nothing(db: &'static Instance) {
    let p = project(db, "pyfirst");
    let py = p.project.run_python(&["deploy"]);
    assert_eq!(py.code, 0, "{}", py.all());
    assert_eq!(p.history().len(), 5, "the Python tool recorded its runs");
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout
            .contains(&format!("✓ {}: run 1 | skip 4 | errors 0", p.ks())),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("[RUN]     A__always.cql"),
        "only the always script: {}",
        out.stdout
    );
    let status = p.run(&["status"]);
    assert!(
        status.stdout.contains("1.2.0") && status.stdout.contains("V1_1_0__more.cql"),
        "{}",
        status.stdout
    );

    // A rollback by the Python tool (ROLLBACK_V… sentinel) reads as pending here: the
    // original promises re-application and we keep the promise.
    let py = p.project.run_python(&["rollback"]);
    assert_eq!(py.code, 0, "{}", py.all());
    let out = p.run(&["deploy"]);
    assert!(
        out.stdout.contains("[RUN]     V1.2.0__orders.cql"),
        "{}",
        out.stdout
    );
}

fn ours_deploys_then_python_status_lists_it_and_its_deploy_reruns_nothing(db: &'static Instance) {
    let p = project(db, "rsfirst");
    let out = p.run(&["deploy", "--tag", "rel-1"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let py = p.project.run_python(&["status"]);
    assert_eq!(py.code, 0, "{}", py.all());
    for script in [
        "V1.0.0__users.cql",
        "V1_1_0__more.cql",
        "V1.2.0__orders.cql",
        "R__repeat.cql",
        "A__always.cql",
    ] {
        assert!(
            py.stderr.contains(script),
            "python status lists {script}: {}",
            py.stderr
        );
    }
    assert!(py.stderr.contains("rel-1"));
    let before = p.history().len();
    let py = p.project.run_python(&["deploy"]);
    assert_eq!(py.code, 0, "{}", py.all());
    assert!(
        py.stderr
            .contains("Executed: 1  |  Skipped: 4  |  Errors: 0"),
        "{}",
        py.stderr
    );
    let after = p.history();
    assert_eq!(after.len(), before + 1);
    assert_eq!(after.last().unwrap().script, "A__always.cql");
}

#[test]
fn history_table_from_before_tag_and_run_id_is_upgraded() {
    let p = project(plain(), "oldtable");
    plain().exec(&format!(
        "CREATE TABLE {}.change_history (installed_on timestamp, script text, script_type text, version text, \
         description text, checksum text, execution_time int, status text, installed_by text, keyspace_name text, \
         PRIMARY KEY (script, installed_on)) WITH CLUSTERING ORDER BY (installed_on DESC)",
        p.history.name
    ));
    let out = p.run(&["deploy", "--tag", "t"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(p
        .history()
        .iter()
        .all(|r| r.tag == "t" && !r.run_id.is_empty()));
}

on_both!(
    python_deploys_then_ours_reruns_nothing,
    ours_deploys_then_python_status_lists_it_and_its_deploy_reruns_nothing,
);
