//! Unit tests of the linter: the valid corpora pass clean; each rule has a valid and an
//! invalid example.

use super::*;

fn findings(src: &str) -> Vec<String> {
    lint_script(src)
        .findings
        .into_iter()
        .map(|f| {
            let pos = f.pos.map(|p| format!("{p} ")).unwrap_or_default();
            format!("{pos}{:?}: {}", f.rule, f.message)
        })
        .collect()
}

fn clean(src: &str) {
    assert_eq!(findings(src), Vec::<String>::new(), "\n{src}");
}

#[test]
fn cassandra5_corpus_has_no_findings() {
    let corpus = include_str!("testdata/valid_cassandra5.cql");
    let lint = lint_script(corpus);
    assert_eq!(lint.findings, vec![], "false errors on valid CQL");
    assert!(lint.statements > 80, "{}", lint.statements);
    let only = lint_script(include_str!("testdata/valid_lint_only.cql"));
    assert!(
        only.findings
            .iter()
            .all(|f| f.rule == Rule::UseStatement && f.rule.severity() == Severity::Warning),
        "{:?}",
        only.findings
    );
}

#[test]
fn use_in_a_migration_is_a_warning() {
    assert_eq!(
        findings("USE other_ks;\nCREATE TABLE t1 (k int PRIMARY KEY);\n"),
        ["1:1 UseStatement: USE in a migration switches the keyspace for the rest of this script only: cassachange sets the target keyspace before every script"]
    );
    assert_eq!(Rule::UseStatement.severity(), Severity::Warning);
}

#[test]
fn python_false_positives_are_gone() {
    // The 1.0.0 linter reports 2–9 errors on each of these.
    clean("INSERT INTO t (a, b) VALUES (1, 'x; y');\n");
    clean("CREATE TABLE \"My Table\" (\"Key;\" int PRIMARY KEY);\n");
    clean("CREATE FUNCTION f(a int) CALLED ON NULL INPUT RETURNS int LANGUAGE java AS $$ int b = a; if (b > 0) { return b; } return 0; $$;\n");
}

#[test]
fn unknown_verb() {
    clean("SELECT * FROM t;");
    assert_eq!(
        findings("SELCT * FROM t;"),
        ["1:1 UnknownVerb: unknown CQL statement verb 'SELCT' (did you mean 'SELECT'?)"]
    );
    assert_eq!(
        findings("'x';"),
        ["1:1 UnknownVerb: a statement cannot start with a string literal"]
    );
    assert_eq!(
        findings("FROBNICATE t;"),
        ["1:1 UnknownVerb: unknown CQL statement verb 'FROBNICATE'"]
    );
}

#[test]
fn alter_table_subcommand() {
    clean("ALTER TABLE users ADD last_login timestamp;");
    assert_eq!(
        findings("\nALTER TABLE users MDDADD last_login timestamp;"),
        ["2:19 UnknownSubcommand: unknown ALTER TABLE sub-command 'MDDADD' (did you mean 'ADD'?)"]
    );
    let f = &lint_script("ALTER TABLE ks.\"T\" MDDADD x int;").findings[0];
    assert_eq!(
        f.hint.as_deref(),
        Some("valid: ADD, ALTER, DROP, RENAME, WITH")
    );
    assert_eq!(
        findings("ALTER TABLE t;"),
        ["1:13 UnknownSubcommand: ALTER TABLE needs a sub-command after the name"]
    );
}

#[test]
fn alter_other_subcommands() {
    clean("ALTER TYPE t ADD f int; ALTER KEYSPACE k WITH durable_writes = true; ALTER MATERIALIZED VIEW v WITH comment = 'c';");
    assert_eq!(
        findings("ALTER TYPE t ADDD f int;"),
        ["1:14 UnknownSubcommand: unknown ALTER TYPE sub-command 'ADDD' (did you mean 'ADD'?)"]
    );
    assert_eq!(findings("ALTER KEYSPACE k WTIH x = 1;"), ["1:18 UnknownSubcommand: unknown ALTER KEYSPACE sub-command 'WTIH' (did you mean 'WITH'?)"]);
    assert_eq!(
        findings("ALTER MATERIALIZED VIEW v SET x = 1;"),
        ["1:27 UnknownSubcommand: unknown ALTER MATERIALIZED VIEW sub-command 'SET'"]
    );
}

#[test]
fn object_types() {
    clean("CREATE TABLE t (a int PRIMARY KEY); DROP TABLE t; ALTER TABLE t WITH comment = '';");
    assert_eq!(
        findings("CREATE TABEL t (a int PRIMARY KEY);"),
        ["1:8 UnknownObjectType: unknown CREATE object type 'TABEL' (did you mean 'TABLE'?)"]
    );
    assert_eq!(
        findings("DROP INDX i;"),
        ["1:6 UnknownObjectType: unknown DROP object type 'INDX' (did you mean 'INDEX'?)"]
    );
    assert_eq!(
        findings("ALTER FUNCTION f;"),
        ["1:7 UnknownObjectType: unknown ALTER object type 'FUNCTION'"]
    );
    assert_eq!(findings("CREATE MATERIALIZED VEIW v AS SELECT a FROM t;"), ["1:21 ExpectedKeyword: expected VIEW after MATERIALIZED, found 'VEIW' (did you mean 'VIEW'?)"]);
    assert_eq!(
        findings("CREATE CUSTOM TABLE t;"),
        ["1:15 ExpectedKeyword: expected INDEX after CREATE CUSTOM, found 'TABLE'"]
    );
    assert_eq!(
        findings("CREATE OR REPLACE TABLE t (a int PRIMARY KEY);"),
        ["1:19 UnknownObjectType: CREATE OR REPLACE does not apply to TABLE"]
    );
    assert_eq!(
        findings("CREATE;"),
        ["1:1 UnknownObjectType: CREATE needs an object type"]
    );
}

#[test]
fn if_exists_clauses() {
    clean("CREATE TABLE IF NOT EXISTS t (a int PRIMARY KEY); DROP TABLE IF EXISTS t; ALTER TABLE IF EXISTS t ADD IF NOT EXISTS b int; ALTER TABLE t DROP IF EXISTS b;");
    assert_eq!(
        findings("CREATE TABLE IF NOT EXIST t (a int PRIMARY KEY);"),
        ["1:21 BadIfExists: malformed condition: expected IF NOT EXISTS"]
    );
    assert_eq!(
        findings("DROP TABLE IF NOT EXISTS t;"),
        ["1:15 BadIfExists: malformed condition: expected IF EXISTS"]
    );
    assert_eq!(
        findings("ALTER TABLE t ADD IF EXISTS b int;"),
        ["1:22 BadIfExists: malformed condition: expected IF NOT EXISTS"]
    );
    assert_eq!(findings("CREATE OR REPLACE FUNCTION IF NOT EXISTS f() CALLED ON NULL INPUT RETURNS int LANGUAGE java AS 'return 1;';"), ["1:28 BadIfExists: CREATE OR REPLACE cannot be combined with IF NOT EXISTS"]);
}

#[test]
fn insert_into() {
    clean("INSERT INTO t (a) VALUES (1);");
    assert_eq!(
        findings("INSERT INOT t (a) VALUES (1);"),
        ["1:8 ExpectedKeyword: expected INTO after INSERT, found 'INOT' (did you mean 'INTO'?)"]
    );
}

#[test]
fn batches() {
    clean("BEGIN BATCH INSERT INTO t (a) VALUES (1); DELETE FROM t WHERE a = 2; APPLY BATCH;");
    assert_eq!(
        findings("BEGIN UNLOGED BATCH INSERT INTO t (a) VALUES (1); APPLY BATCH;"),
        ["1:7 BadBatch: unknown batch type 'UNLOGED' (did you mean 'UNLOGGED'?)"]
    );
    assert_eq!(
        findings("BEGIN BATCH SELECT * FROM t; APPLY BATCH;"),
        ["1:13 BadBatch: unknown statement in a batch 'SELECT' (did you mean 'DELETE'?)"]
    );
    assert_eq!(
        findings("BEGIN BATCH INSERT INTO t (a) VALUES (1);\nSELECT 1;"),
        ["1:1 BadBatch: this batch is never closed with APPLY BATCH"]
    );
    assert_eq!(
        findings("APPLY BATCH;"),
        ["1:1 BadBatch: APPLY BATCH without a matching BEGIN BATCH"]
    );
}

#[test]
fn brackets() {
    clean("INSERT INTO t (a, m, l) VALUES (1, {'k': [1, (2)]}, [']', ')']);");
    assert_eq!(findings("INSERT INTO t (a VALUES (1);"), ["1:15 UnbalancedBrackets: unbalanced brackets: '(' is never closed (1 unclosed in this statement)"]);
    assert_eq!(
        findings("SELECT a) FROM t;"),
        ["1:9 UnbalancedBrackets: unbalanced brackets: unexpected ')' with nothing open"]
    );
    assert_eq!(
        findings("INSERT INTO t (m) VALUES ({'a': [1});"),
        ["1:35 UnbalancedBrackets: unbalanced brackets: '}' here closes the '[' opened at 1:33"]
    );
}

#[test]
fn missing_semicolon() {
    clean("SELECT * FROM t;\n-- trailing comment\n");
    assert_eq!(
        findings("SELECT 1 FROM t;\nSELECT 2 FROM t\n-- c"),
        ["2:16 MissingSemicolon: the last statement is missing its terminating ';'"]
    );
}

#[test]
fn empty_and_comment_only() {
    assert_eq!(
        findings("  \n\t\n"),
        ["EmptyScript: empty script: the file has no content"]
    );
    assert_eq!(
        findings("-- nothing\n/* here */"),
        ["NoStatements: no executable statements: the file holds only comments"]
    );
    assert_eq!(Rule::NoStatements.severity(), Severity::Warning);
}

#[test]
fn unterminated_constructs() {
    clean("SELECT 'a''b', \"c\"\"d\", $$e$$ FROM t; /* f */");
    assert_eq!(
        findings("SELECT 1 FROM t;\nINSERT INTO t (a) VALUES ('oops);\nSELECT 2 FROM t;"),
        ["2:27 Unterminated: unterminated string literal starting here (a ' is never closed)"]
    );
    assert_eq!(
        findings("SELECT \"col FROM t;"),
        ["1:8 Unterminated: unterminated quoted identifier starting here (a \" is never closed)"]
    );
    assert_eq!(
        findings("CREATE FUNCTION f() AS $$ return 1;"),
        ["1:24 Unterminated: unterminated $$ body starting here (no closing $$)"]
    );
    assert_eq!(
        findings("SELECT 1 FROM t; /* open"),
        ["1:18 Unterminated: unterminated block comment starting here (no closing */)"]
    );
}

#[test]
fn statements_before_an_unterminated_string_are_still_checked() {
    assert_eq!(
        findings("SELCT 1 FROM t;\nSELECT 'x FROM t;"),
        [
            "1:1 UnknownVerb: unknown CQL statement verb 'SELCT' (did you mean 'SELECT'?)",
            "2:8 Unterminated: unterminated string literal starting here (a ' is never closed)"
        ]
    );
}

#[test]
fn counts_statements() {
    assert_eq!(
        lint_script("SELECT 1 FROM t; SELECT 2 FROM t;").statements,
        2
    );
}
