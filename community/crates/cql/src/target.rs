//! Defines what a deploy target refuses or ignores that the CQL grammar allows, so
//! `validate` reports it before a deploy finds out half-way.
//!
//! AstraDB Serverless (DataStax's "CQL for Astra DB" limits): keyspaces are made in the
//! Astra console, so `CREATE/ALTER/DROP KEYSPACE` fail; materialized views, user-defined
//! functions and aggregates are not supported; a trigger needs a class installed on the
//! servers and a SASI index the SASI engine, neither of which Astra offers (it indexes
//! with SAI). Those are errors. Table options Astra ignores (with a server warning) —
//! compaction, compression, caching, gc_grace_seconds and the like — are warnings.
//!
//! Apache Cassandra 4.0/4.1 (`cassandra-4`): what Cassandra 5.0 added to the language
//! and a 4.x server refuses — the vector type and vector search (`ANN OF`, similarity
//! functions), SAI indexes, dynamic data masking (`MASKED WITH`, the `UNMASK` and
//! `SELECT_MASKED` permissions, the `mask_*` functions) and the 5.0 math functions.
//! Errors, each checked against a real 4.1 node by the test suite.

use super::lexer::{Token, TokenKind};
use super::lint::{Finding, Rule};
use super::split::Statement;

/// Where scripts will run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Target {
    /// Apache Cassandra 5.0 (the default).
    #[default]
    Cassandra,
    /// Apache Cassandra 4.0 or 4.1.
    Cassandra4,
    /// DataStax AstraDB Serverless.
    Astra,
}

impl Target {
    /// Its name in `--target` and messages.
    pub fn name(self) -> &'static str {
        match self {
            Target::Cassandra => "cassandra",
            Target::Cassandra4 => "cassandra-4",
            Target::Astra => "astra",
        }
    }

    /// Reads a `target` value: `cassandra` (or `cassandra-5`), `cassandra-4` (or
    /// `cassandra-4.0`, `cassandra-4.1`), `astra`.
    pub fn parse(text: &str) -> Option<Target> {
        match text.trim().to_ascii_lowercase().as_str() {
            "cassandra" | "cassandra-5" | "cassandra-5.0" => Some(Target::Cassandra),
            "cassandra-4" | "cassandra-4.0" | "cassandra-4.1" => Some(Target::Cassandra4),
            "astra" => Some(Target::Astra),
            _ => None,
        }
    }

    /// The target a server of `release_version` (`4.1.10`, `5.0.6`) is.
    pub fn of_release(release_version: &str) -> Target {
        if release_version.starts_with("4.") || release_version.starts_with("3.") {
            Target::Cassandra4
        } else {
            Target::Cassandra
        }
    }
}

/// Functions Cassandra 5.0 added.
const CASSANDRA5_FUNCTIONS: &[&str] = &[
    "abs",
    "exp",
    "log",
    "log10",
    "round",
    "similarity_cosine",
    "similarity_euclidean",
    "similarity_dot_product",
    "mask_null",
    "mask_default",
    "mask_replace",
    "mask_inner",
    "mask_outer",
    "mask_hash",
];

/// Index classes of SAI.
pub fn is_sai_class(class: &str) -> bool {
    let c = class.trim_matches('\'').to_ascii_lowercase();
    c == "sai" || c == "storageattachedindex" || c.ends_with(".storageattachedindex")
}

/// Table options AstraDB ignores (its documented list).
const ASTRA_IGNORED_OPTIONS: &[&str] = &[
    "additional_write_policy",
    "bloom_filter_fp_chance",
    "caching",
    "cdc",
    "compaction",
    "compression",
    "crc_check_chance",
    "gc_grace_seconds",
    "max_index_interval",
    "memtable",
    "memtable_flush_period_in_ms",
    "min_index_interval",
    "nodesync",
    "read_repair",
    "speculative_retry",
];

fn word(t: Option<&Token<'_>>) -> String {
    t.filter(|t| t.kind == TokenKind::Word)
        .map(|t| t.text.to_ascii_uppercase())
        .unwrap_or_default()
}

/// The findings of `target` for one statement.
pub(crate) fn findings(target: Target, stmt: &Statement<'_>, out: &mut Vec<Finding>) {
    match target {
        Target::Astra => astra(stmt, out),
        Target::Cassandra4 => cassandra4(stmt, out),
        Target::Cassandra => {}
    }
}

fn refuse(out: &mut Vec<Finding>, at: &Token<'_>, what: &str, hint: &str) {
    refuse_on(out, at, "AstraDB", what, hint);
}

fn refuse_on(out: &mut Vec<Finding>, at: &Token<'_>, product: &str, what: &str, hint: &str) {
    out.push(Finding {
        rule: Rule::TargetUnsupported,
        pos: Some(at.pos),
        message: format!("{product} does not support {what}"),
        hint: Some(hint.to_string()),
    });
}

/// What Cassandra 5.0 added, found anywhere in a statement.
fn cassandra4(stmt: &Statement<'_>, out: &mut Vec<Finding>) {
    const C4: &str = "Cassandra 4.x";
    let t = &stmt.tokens;
    let verb = word(t.first());
    let next_is = |i: usize, c: char| t.get(i + 1).is_some_and(|n| n.is_punct(c));
    for (i, tok) in t.iter().enumerate() {
        if tok.kind != TokenKind::Word {
            continue;
        }
        let w = tok.text.to_ascii_lowercase();
        let found = match w.as_str() {
            "vector" if next_is(i, '<') => Some((
                "the vector type (Cassandra 5.0)",
                "store the values in a list<float> or a blob, or deploy to Cassandra 5.0",
            )),
            "ann" if t.get(i + 1).is_some_and(|n| n.is_kw("OF")) => Some((
                "vector search, ORDER BY … ANN OF (Cassandra 5.0)",
                "deploy to Cassandra 5.0",
            )),
            "masked" if t.get(i + 1).is_some_and(|n| n.is_kw("WITH")) => Some((
                "dynamic data masking, MASKED WITH (Cassandra 5.0)",
                "drop the MASKED clause for 4.x",
            )),
            "unmask" | "select_masked" if matches!(verb.as_str(), "GRANT" | "REVOKE") => Some((
                "the UNMASK and SELECT_MASKED permissions (Cassandra 5.0)",
                "drop the grant for 4.x",
            )),
            f if next_is(i, '(') && CASSANDRA5_FUNCTIONS.contains(&f) => Some((
                "this function (added in Cassandra 5.0)",
                "compute it in the application, or deploy to Cassandra 5.0",
            )),
            "using"
                if verb == "CREATE"
                    && t.iter().any(|x| x.is_kw("INDEX"))
                    && t.get(i + 1)
                        .is_some_and(|n| n.kind == TokenKind::Str && is_sai_class(n.text)) =>
            {
                Some((
                    "SAI indexes, StorageAttachedIndex (Cassandra 5.0)",
                    "use a secondary index (or SASI, if enabled) on 4.x",
                ))
            }
            _ => None,
        };
        if let Some((what, hint)) = found {
            refuse_on(out, tok, C4, what, hint);
        }
    }
}

fn astra(stmt: &Statement<'_>, out: &mut Vec<Finding>) {
    let t = &stmt.tokens;
    let Some(first) = t.first() else { return };
    let verb = word(Some(first));
    if !matches!(verb.as_str(), "CREATE" | "ALTER" | "DROP") {
        return;
    }
    // CREATE OR REPLACE FUNCTION / AGGREGATE
    let mut i = 1;
    if verb == "CREATE" && word(t.get(1)) == "OR" && word(t.get(2)) == "REPLACE" {
        i = 3;
    }
    let object = word(t.get(i));
    match object.as_str() {
        "KEYSPACE" | "SCHEMA" => refuse(
            out,
            first,
            &format!("{verb} KEYSPACE"),
            "create, change and drop keyspaces in the Astra console or with the DevOps API",
        ),
        "MATERIALIZED" => refuse(
            out,
            first,
            "materialized views",
            "keep a second table written by the application, or use an SAI index",
        ),
        "FUNCTION" | "AGGREGATE" => refuse(
            out,
            first,
            "user-defined functions or aggregates",
            "compute it in the application",
        ),
        "TRIGGER" if verb == "CREATE" => refuse(
            out,
            first,
            "triggers",
            "a trigger needs a class installed on the servers; do it in the application",
        ),
        "CUSTOM" if verb == "CREATE" && is_sasi(t) => refuse(
            out,
            first,
            "SASI indexes",
            "use an SAI index: CREATE CUSTOM INDEX … USING 'StorageAttachedIndex'",
        ),
        "TABLE" | "COLUMNFAMILY" => ignored_options(t, out),
        _ => {}
    }
}

fn is_sasi(t: &[Token<'_>]) -> bool {
    t.iter().any(|tok| {
        tok.kind == TokenKind::Str && tok.text.to_ascii_lowercase().contains("sasiindex")
    })
}

/// Warns about each `WITH … option = …` that Astra ignores.
fn ignored_options(t: &[Token<'_>], out: &mut Vec<Finding>) {
    let Some(with) = t.iter().position(|tok| tok.is_kw("WITH")) else {
        return;
    };
    let mut depth = 0i32;
    for (k, tok) in t.iter().enumerate().skip(with + 1) {
        if tok.kind == TokenKind::Punct {
            match tok.text {
                "(" | "{" | "[" => depth += 1,
                ")" | "}" | "]" => depth -= 1,
                _ => {}
            }
            continue;
        }
        let next_is_eq = t.get(k + 1).is_some_and(|n| n.is_punct('='));
        if depth == 0 && tok.kind == TokenKind::Word && next_is_eq {
            let name = tok.text.to_ascii_lowercase();
            if ASTRA_IGNORED_OPTIONS.contains(&name.as_str()) {
                out.push(Finding {
                    rule: Rule::TargetIgnored,
                    pos: Some(tok.pos),
                    message: format!("AstraDB ignores the table option {name} (it keeps its own)"),
                    hint: Some("drop the option for Astra, or keep it for other clusters".into()),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::lint_script_for;

    fn astra(src: &str) -> Vec<String> {
        lint_script_for(src, Target::Astra)
            .findings
            .into_iter()
            .map(|f| format!("{} {:?}: {}", f.pos.unwrap(), f.rule, f.message))
            .collect()
    }

    #[test]
    fn what_astra_refuses_is_an_error() {
        assert_eq!(
            astra(
                "CREATE KEYSPACE k WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1};\n\
                 CREATE MATERIALIZED VIEW v AS SELECT * FROM t WHERE a IS NOT NULL PRIMARY KEY (a);\n\
                 CREATE OR REPLACE FUNCTION f(a int) CALLED ON NULL INPUT RETURNS int LANGUAGE java AS 'return a;';\n\
                 CREATE AGGREGATE g(int) SFUNC f STYPE int;\n\
                 CREATE TRIGGER tr ON t USING 'org.example.Trigger';\n\
                 CREATE CUSTOM INDEX i ON t (a) USING 'org.apache.cassandra.index.sasi.SASIIndex';\n\
                 DROP KEYSPACE k;\n"
            ),
            [
                "1:1 TargetUnsupported: AstraDB does not support CREATE KEYSPACE",
                "2:1 TargetUnsupported: AstraDB does not support materialized views",
                "3:1 TargetUnsupported: AstraDB does not support user-defined functions or aggregates",
                "4:1 TargetUnsupported: AstraDB does not support user-defined functions or aggregates",
                "5:1 TargetUnsupported: AstraDB does not support triggers",
                "6:1 TargetUnsupported: AstraDB does not support SASI indexes",
                "7:1 TargetUnsupported: AstraDB does not support DROP KEYSPACE",
            ]
        );
    }

    #[test]
    fn what_cassandra_5_added_is_an_error_for_a_4x_target() {
        let found = |src: &str| -> Vec<String> {
            lint_script_for(src, Target::Cassandra4)
                .findings
                .into_iter()
                .map(|f| format!("{} {}", f.pos.unwrap(), f.message))
                .collect()
        };
        assert_eq!(
            found(
                "CREATE TABLE t (k int PRIMARY KEY, v vector<float, 3>, m text MASKED WITH DEFAULT);\n\
                 CREATE CUSTOM INDEX i ON t (m) USING 'StorageAttachedIndex';\n\
                 CREATE INDEX j ON t (m) USING 'sai';\n\
                 SELECT k FROM t ORDER BY v ANN OF [1, 2, 3] LIMIT 1;\n\
                 GRANT UNMASK ON TABLE t TO r;\n\
                 SELECT abs(k), similarity_cosine(v, [1, 2, 3]) FROM t;\n\
                 CREATE CUSTOM INDEX s ON t (m) USING 'org.apache.cassandra.index.sasi.SASIIndex';\n\
                 ALTER TABLE t ADD IF NOT EXISTS w int;\n\
                 CREATE TABLE u (k int PRIMARY KEY, vector int, abs text);\n"
            ),
            [
                "1:38 Cassandra 4.x does not support the vector type (Cassandra 5.0)",
                "1:63 Cassandra 4.x does not support dynamic data masking, MASKED WITH (Cassandra 5.0)",
                "2:32 Cassandra 4.x does not support SAI indexes, StorageAttachedIndex (Cassandra 5.0)",
                "3:25 Cassandra 4.x does not support SAI indexes, StorageAttachedIndex (Cassandra 5.0)",
                "4:28 Cassandra 4.x does not support vector search, ORDER BY … ANN OF (Cassandra 5.0)",
                "5:7 Cassandra 4.x does not support the UNMASK and SELECT_MASKED permissions (Cassandra 5.0)",
                "6:8 Cassandra 4.x does not support this function (added in Cassandra 5.0)",
                "6:16 Cassandra 4.x does not support this function (added in Cassandra 5.0)",
            ]
        );
        assert_eq!(Target::parse("Cassandra-4.1"), Some(Target::Cassandra4));
        assert_eq!(Target::of_release("4.1.10"), Target::Cassandra4);
        assert_eq!(Target::of_release("5.0.6"), Target::Cassandra);
    }

    #[test]
    fn options_astra_ignores_are_warnings_and_the_rest_is_fine() {
        assert_eq!(
            astra(
                "CREATE TABLE t (k int PRIMARY KEY, v text) WITH compaction = {'class': 'LeveledCompactionStrategy'} \
                 AND comment = 'x' AND gc_grace_seconds = 10;\n\
                 CREATE CUSTOM INDEX i ON t (v) USING 'StorageAttachedIndex';\n\
                 CREATE TYPE a (x int);\n"
            ),
            [
                "1:49 TargetIgnored: AstraDB ignores the table option compaction (it keeps its own)",
                "1:123 TargetIgnored: AstraDB ignores the table option gc_grace_seconds (it keeps its own)",
            ]
        );
        assert_eq!(
            lint_script_for(
                "CREATE KEYSPACE k WITH replication = {'class': 'x'};",
                Target::Cassandra
            )
            .findings,
            vec![],
            "nothing of this for Cassandra"
        );
    }
}
