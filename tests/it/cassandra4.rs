//! What differs on Cassandra 4.1 (the `c41` node): statements only 5.0 accepts are
//! found by `validate --target cassandra-4` offline and by the pre-flight against the
//! server before anything runs. (The core scenarios run on both versions through
//! `on_both!` in their own modules.)

use cassachange_tests::db::{c41, plain};
use cassachange_tests::DbProject;

const TABLE: &str = "CREATE TABLE IF NOT EXISTS t (k int PRIMARY KEY, v text);\n";
const FIVE_ONLY: &str =
    "CREATE CUSTOM INDEX IF NOT EXISTS t_v ON t (v) USING 'StorageAttachedIndex';\n\
                         CREATE TABLE IF NOT EXISTS e (k int PRIMARY KEY, v vector<float, 3>);\n";

#[test]
fn sai_and_vector_ddl_is_predicted_to_fail_on_4_1_before_anything_runs() {
    let p = DbProject::new(c41(), "c4pre", 1, "");
    p.script("V1__t.cql", TABLE)
        .script("V2__five.cql", FIVE_ONLY);

    // Offline, for a 4.x target.
    let out = p.run(&["validate", "--target", "cassandra-4"]);
    assert_eq!(out.code, 1, "{}", out.all());
    for expected in [
        "V2__five.cql:1:48: Cassandra 4.x does not support SAI indexes",
        "V2__five.cql:2:52: Cassandra 4.x does not support the vector type",
    ] {
        assert!(
            out.all().contains(expected),
            "expected {expected:?} in:\n{}",
            out.all()
        );
    }
    assert_eq!(
        p.run(&["validate"]).code,
        0,
        "fine for 5.0, the default target"
    );

    // Against the 4.1 server: nothing runs.
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 1, "{}", out.all());
    for expected in [
        "pre-flight: 2 statement(s) would fail; nothing was deployed:",
        "V2__five.cql:1: SAI indexes need Cassandra 5.0; this server runs 4.1",
        "V2__five.cql:2: the server refuses it: line 1:",
    ] {
        assert!(
            out.stderr.contains(expected),
            "expected {expected:?} in:\n{}",
            out.stderr
        );
    }
    assert!(!p.table_exists(p.ks(), "t"), "V1 did not run either");
    assert!(p.history().is_empty());

    // The same files pass the pre-flight on 5.0.
    let p5 = DbProject::new(plain(), "c4pre5", 1, "");
    p5.script("V1__t.cql", TABLE)
        .script("V2__five.cql", FIVE_ONLY);
    let out = p5.run(&["deploy", "--dry-run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout
            .contains("Pre-flight: the server accepts every pending statement"),
        "{}",
        out.stdout
    );
}
