//! `validate` through the real binary: the broken-fixture report, JSON output, the
//! valid corpora, and exit codes.

use cassachange_tests::{tests_dir, Project};

fn fixtures(name: &str) -> String {
    tests_dir()
        .join("fixtures")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn broken_fixture_report() {
    let p = Project::new();
    let out = p.run(&["validate", "--root-folder", &fixtures("migrations_broken")]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert_eq!(out.stderr, "");
    insta::assert_snapshot!(out.stdout, @r"
    WARNINGS:
      WARN  R__comments_only.cql: no executable statements: the file holds only comments
            it will be recorded as applied without running anything
      WARN  notes.cql: unrecognised file name; the file will be ignored
            name scripts V<version>__<desc>.cql, U<version>__<desc>.cql, R__<desc>.cql or A__<desc>.cql

    ERRORS:
      ERR   U9.9.9__orphan.cql: undo script has no matching versioned script V9.9.9__*.cql
            an undo script's version must equal its V script's version exactly
      ERR   V1.1.0__bad_verb.cql:1:1: unknown CQL statement verb 'SELCT' (did you mean 'SELECT'?)
            valid: SELECT, INSERT, UPDATE, DELETE, BEGIN, CREATE, ALTER, DROP, TRUNCATE, USE, GRANT, REVOKE, LIST, DESCRIBE, DESC, ADD
            → SELCT * FROM t;
      ERR   V1.10.0__insert.cql:1:8: expected INTO after INSERT, found 'INOT' (did you mean 'INTO'?)
            → INSERT INOT t (a) VALUES (1);
      ERR   V1.2.0__add_login.cql:3:19: unknown ALTER TABLE sub-command 'MDDADD' (did you mean 'ADD'?)
            valid: ADD, ALTER, DROP, RENAME, WITH
            → ALTER TABLE users MDDADD last_login timestamp;
      ERR   V1.3.0__bad_object.cql:1:8: unknown CREATE object type 'TABEL' (did you mean 'TABLE'?)
            valid: KEYSPACE, SCHEMA, TABLE, COLUMNFAMILY, INDEX, TYPE, FUNCTION, AGGREGATE, MATERIALIZED, TRIGGER, ROLE, USER
            → CREATE TABEL t (a int PRIMARY KEY);
      ERR   V1.4.0__parens.cql:1:15: unbalanced brackets: '(' is never closed (1 unclosed in this statement)
            add ')'
            → INSERT INTO t (a VALUES (1);
      ERR   V1.5.0__no_semicolon.cql:1:16: the last statement is missing its terminating ';'
            end every statement with ';'
            → SELECT * FROM t
      ERR   V1.6.0__empty.cql: empty script: the file has no content
            add the CQL statements to run, or delete the file
      ERR   V1.7.0__unterminated.cql:2:27: unterminated string literal starting here (a ' is never closed)
            close the string with ' (write '' for a quote inside it)
            → INSERT INTO t (a) VALUES ('oops);
      ERR   V1.8.0__latin1.cql: not UTF-8 text (invalid byte at offset 8); save the file as UTF-8
      ERR   V1.9.0__batch.cql:1:7: unknown batch type 'UNLOGED' (did you mean 'UNLOGGED'?)
            valid: BATCH, UNLOGGED, COUNTER
            → BEGIN UNLOGED BATCH
      ERR   orders/V1.1.0__duplicate.cql: duplicate version 1.1.0: V1.1.0__bad_verb.cql has the same version
            give every versioned script its own version

    Validated 13 script(s) | 2 warning(s) | 12 error(s)
    Validation FAILED.
    ");
}

#[test]
fn json_format_for_ci_tools() {
    let p = Project::new();
    let out = p.run(&[
        "validate",
        "-f",
        &fixtures("migrations_broken"),
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 1);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).expect("one JSON document");
    assert_eq!(doc["passed"], false);
    assert_eq!(doc["summary"]["errors"], 12);
    assert_eq!(doc["summary"]["warnings"], 2);
    let add_login = doc["scripts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["path"] == "V1.2.0__add_login.cql")
        .unwrap();
    assert_eq!(add_login["type"], "versioned");
    assert_eq!(add_login["version"], "1.2.0");
    assert_eq!(add_login["statements"], 1);
    assert_eq!(add_login["checksum"].as_str().unwrap().len(), 32);
    let f = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file"] == "V1.2.0__add_login.cql")
        .unwrap();
    assert_eq!(f["severity"], "error");
    assert_eq!(f["rule"], "unknown-subcommand");
    assert_eq!(
        (f["line"].as_u64(), f["column"].as_u64()),
        (Some(3), Some(19))
    );
    assert_eq!(
        f["source"],
        "ALTER TABLE users MDDADD last_login timestamp;"
    );
}

#[test]
fn valid_corpora_and_the_example_pass() {
    let p = Project::new();
    p.write(
        "m/V1__corpus.cql",
        include_str!("../../community/crates/cql/src/testdata/valid_cassandra5.cql"),
    );
    p.write(
        "m/V2__lint_only.cql",
        include_str!("../../community/crates/cql/src/testdata/valid_lint_only.cql"),
    );
    let out = p.run(&["validate", "-f", "m"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout
            .ends_with("Validated 2 script(s) | 1 warning(s) | 0 error(s)\nValidation PASSED.\n"),
        "{}",
        out.stdout
    );

    let example = tests_dir()
        .join("../examples/migrations")
        .display()
        .to_string();
    let out = p.run(&["validate", "-f", &example]);
    assert_eq!(out.code, 0, "{}", out.all());
}

#[test]
fn root_folder_from_config_profile_and_missing_folder() {
    let p = Project::new();
    p.write(
        "cassachange.yml",
        "profiles:\n  ci:\n    root_folder: db/migrations\n",
    );
    p.write("db/migrations/V1__a.cql", "SELECT * FROM t;\n");
    let out = p.run(&["validate", "--profile", "ci"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out.stdout.contains("Validated 1 script(s)"));

    let out = p.run(&["validate"]);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr,
        "error: root folder './migrations' does not exist\n\
         hint: set root_folder in cassachange.yml or pass --root-folder\n"
    );
}

#[test]
fn validate_needs_no_plugin_even_with_a_secrets_block() {
    let p = Project::new();
    p.write(
        "cassachange.yml",
        "secrets_provider: vault\nsecrets:\n  password: vault://secret/data/x#password\n",
    );
    p.write("migrations/V1__a.cql", "SELECT * FROM t;\n");
    let out = p.run(&["validate"]);
    assert_eq!(out.code, 0, "{}", out.all());
}

#[test]
fn unrecognised_names_warn_but_pass() {
    let p = Project::new();
    p.write("migrations/V1__a.cql", "SELECT * FROM t;\n");
    p.write("migrations/readme.cql", "-- x\n");
    let out = p.run(&["validate"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(out
        .stdout
        .contains("WARN  readme.cql: unrecognised file name"));
}
