//! The linter's valid-CQL corpus, deployed for real: every statement, as split by our
//! splitter, runs on Cassandra 5.0 (the `secure` instance, for roles and grants).

use cassachange_tests::db::secure;
use cassachange_tests::DbProject;

#[test]
fn the_valid_corpus_runs_on_cassandra_5() {
    let p = DbProject::new(secure(), "corpus", 1, "");
    p.script(
        "V1__corpus.cql",
        include_str!("../../community/crates/cql/src/testdata/valid_cassandra5.cql"),
    );
    let out = p.run(&["validate"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("run 1 | skip 0 | errors 0"),
        "{}",
        out.stdout
    );
    assert!(p.table_exists(p.ks(), "everything") && p.table_exists(p.ks(), "MixedCase"));
    // The schema it made is recorded as it is: no false drift.
    let out = p.run(&["drift"]);
    assert_eq!(out.code, 0, "{}", out.all());
}
