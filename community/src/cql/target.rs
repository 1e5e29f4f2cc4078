//! Defines what a deploy target refuses or ignores that the CQL grammar allows, so
//! `validate` reports it before a deploy finds out half-way.
//!
//! AstraDB Serverless (DataStax's "CQL for Astra DB" limits): keyspaces are made in the
//! Astra console, so `CREATE/ALTER/DROP KEYSPACE` fail; materialized views, user-defined
//! functions and aggregates are not supported; a trigger needs a class installed on the
//! servers and a SASI index the SASI engine, neither of which Astra offers (it indexes
//! with SAI). Those are errors. Table options Astra ignores (with a server warning) —
//! compaction, compression, caching, gc_grace_seconds and the like — are warnings.

use super::lexer::{Token, TokenKind};
use super::lint::{Finding, Rule};
use super::split::Statement;

/// Where scripts will run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Target {
    /// Apache Cassandra (the default).
    #[default]
    Cassandra,
    /// DataStax AstraDB Serverless.
    Astra,
}

impl Target {
    /// Its name in `--target` and messages.
    pub fn name(self) -> &'static str {
        match self {
            Target::Cassandra => "cassandra",
            Target::Astra => "astra",
        }
    }
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
    if target == Target::Astra {
        astra(stmt, out);
    }
}

fn refuse(out: &mut Vec<Finding>, at: &Token<'_>, what: &str, hint: &str) {
    out.push(Finding {
        rule: Rule::TargetUnsupported,
        pos: Some(at.pos),
        message: format!("AstraDB does not support {what}"),
        hint: Some(hint.to_string()),
    });
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
    use crate::cql::lint::lint_script_for;

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
