//! Defines the statement splitter: `;` ends a statement, except inside strings,
//! identifiers, `$$` bodies, comments (the lexer hides those) and `BEGIN … APPLY BATCH`.

use super::lexer::{lex, LexError, Pos, Token, TokenKind};

/// One statement of a script.
#[derive(Debug, Clone)]
pub struct Statement<'a> {
    /// The source text from its first token to its last, without the `;`.
    /// Inner comments are kept; Cassandra accepts them.
    pub text: &'a str,
    /// Its tokens, without the terminating `;`.
    pub tokens: Vec<Token<'a>>,
    /// Where it starts.
    pub pos: Pos,
    /// Where it ends (the `;`, or just past the last token when there is none).
    pub end: Pos,
    /// Whether a `;` ends it.
    pub terminated: bool,
}

impl Statement<'_> {
    /// True for a `BEGIN … BATCH` statement.
    pub fn is_batch(&self) -> bool {
        self.tokens.first().is_some_and(|t| t.is_kw("BEGIN"))
    }

    /// True for a statement that changes the schema: `CREATE`, `ALTER` or `DROP` (of a
    /// keyspace, table, type, index, view, function, aggregate, trigger, role or user).
    pub fn changes_schema(&self) -> bool {
        self.tokens
            .first()
            .is_some_and(|t| t.is_kw("CREATE") || t.is_kw("ALTER") || t.is_kw("DROP"))
    }

    /// True when the statement may run again later, after the statements that follow it
    /// in its script ran, without harm: it is [idempotent](Statement::is_idempotent) and
    /// destroys nothing. A `DROP … IF EXISTS` is idempotent (sent twice at once it drops
    /// once) but not safe to repeat: run again after a later `CREATE`, it drops what was
    /// created and written since. A run records that it starts a script with any
    /// statement that is not safe to repeat, so that script is never run again unasked.
    pub fn is_safe_to_repeat(&self) -> bool {
        self.is_idempotent() && !self.destroys()
    }

    /// True for `DROP …`, `TRUNCATE`, `DELETE` and `ALTER … DROP`: statements that
    /// remove schema objects or data.
    fn destroys(&self) -> bool {
        let t = &self.tokens;
        let kw = |tok: Option<&Token<'_>>, k: &str| tok.is_some_and(|tok| tok.is_kw(k));
        if ["DROP", "TRUNCATE", "DELETE"]
            .iter()
            .any(|k| kw(t.first(), k))
        {
            return true;
        }
        kw(t.first(), "ALTER")
            && t.iter()
                .take_while(|tok| !tok.is_kw("WITH"))
                .any(|tok| tok.is_kw("DROP"))
    }

    /// True when running the statement twice leaves the schema as running it once:
    /// `CREATE … IF NOT EXISTS`, `CREATE OR REPLACE`, `DROP … IF EXISTS`, `ALTER …
    /// WITH` (options set to values), `ALTER … ADD IF NOT EXISTS` / `DROP IF EXISTS`,
    /// `GRANT` and `REVOKE`. Such a statement may be sent again to another node when
    /// its coordinator fails before answering; any other statement is not (a write that
    /// may have happened is never repeated behind the user's back).
    pub fn is_idempotent(&self) -> bool {
        let t = &self.tokens;
        let kw = |i: usize, k: &str| t.get(i).is_some_and(|tok| tok.is_kw(k));
        // The first `IF [NOT] EXISTS` before any `(`, `WITH` or `AS`.
        let guard_at = |not: bool| {
            let head = t
                .iter()
                .take_while(|tok| !tok.is_punct('(') && !tok.is_kw("WITH") && !tok.is_kw("AS"));
            let n = head.count();
            (0..n).find(|&i| {
                kw(i, "IF")
                    && if not {
                        kw(i + 1, "NOT") && kw(i + 2, "EXISTS")
                    } else {
                        kw(i + 1, "EXISTS")
                    }
            })
        };
        if kw(0, "CREATE") {
            return (kw(1, "OR") && kw(2, "REPLACE")) || guard_at(true).is_some();
        }
        if kw(0, "DROP") {
            return guard_at(false).is_some();
        }
        if kw(0, "GRANT") || kw(0, "REVOKE") {
            return true;
        }
        if !kw(0, "ALTER") {
            return false;
        }
        // ALTER TABLE | TYPE | KEYSPACE | MATERIALIZED VIEW [IF EXISTS] name[.name] <op>
        let mut i = match () {
            () if kw(1, "TABLE") || kw(1, "TYPE") || kw(1, "KEYSPACE") => 2,
            () if kw(1, "MATERIALIZED") && kw(2, "VIEW") => 3,
            () => return false,
        };
        if kw(i, "IF") && kw(i + 1, "EXISTS") {
            i += 2;
        }
        let name = |i: usize| {
            t.get(i)
                .is_some_and(|tok| matches!(tok.kind, TokenKind::Word | TokenKind::QuotedIdent))
        };
        if !name(i) {
            return false;
        }
        i += 1;
        if t.get(i).is_some_and(|tok| tok.is_punct('.')) && name(i + 1) {
            i += 2;
        }
        kw(i, "WITH")
            || ((kw(i, "ADD") && kw(i + 1, "IF") && kw(i + 2, "NOT") && kw(i + 3, "EXISTS"))
                || (kw(i, "DROP") && kw(i + 1, "IF") && kw(i + 2, "EXISTS")))
    }
}

/// True when a statement of `src` [changes the schema](Statement::changes_schema).
pub fn changes_schema(src: &str) -> bool {
    split(src).0.iter().any(Statement::changes_schema)
}

/// Splits `src` into statements. Empty statements (`;;`) are dropped. On an
/// unterminated string, identifier, `$$` body or comment, returns the statements
/// before it and the error (the rest of the file cannot be split).
pub fn split(src: &str) -> (Vec<Statement<'_>>, Option<LexError>) {
    let (tokens, err) = lex(src);
    let mut out = Vec::new();
    // The current statement is tokens[start..i]; each becomes one exact allocation.
    let mut start = 0;
    let mut in_batch = false;
    for (i, tok) in tokens.iter().enumerate() {
        let empty = start == i;
        if tok.is_punct(';') && (empty || !in_batch) {
            if !empty {
                out.push(make(src, tokens[start..i].to_vec(), Some(*tok)));
            }
            start = i + 1;
            continue;
        }
        if empty {
            in_batch = tok.is_kw("BEGIN");
        } else if in_batch && tok.is_kw("BATCH") && tokens[i - 1].is_kw("APPLY") {
            in_batch = false;
        }
    }
    if start < tokens.len() {
        out.push(make(src, tokens[start..].to_vec(), None));
    }
    (out, err)
}

fn make<'a>(src: &'a str, tokens: Vec<Token<'a>>, semi: Option<Token<'a>>) -> Statement<'a> {
    let first = tokens[0];
    let last = tokens[tokens.len() - 1];
    let end = semi.map_or_else(|| pos_after(&last), |s| s.pos);
    Statement {
        text: &src[first.offset..last.end()],
        pos: first.pos,
        end,
        terminated: semi.is_some(),
        tokens,
    }
}

fn pos_after(tok: &Token<'_>) -> Pos {
    let mut pos = tok.pos;
    for c in tok.text.chars() {
        if c == '\n' {
            pos.line += 1;
            pos.col = 1;
        } else {
            pos.col += 1;
        }
    }
    pos
}

/// The statements of a batch body: the tokens between `BEGIN … BATCH [USING …]` and
/// `APPLY BATCH`, split on `;`. Used by the linter to check each inner statement.
pub(super) fn batch_body<'s, 'a>(stmt: &'s Statement<'a>) -> Vec<&'s [Token<'a>]> {
    let toks = &stmt.tokens;
    let Some(start) = toks.iter().position(|t| t.is_kw("BATCH")).map(|i| i + 1) else {
        return Vec::new();
    };
    let end = if toks.len() >= 2
        && toks[toks.len() - 1].is_kw("BATCH")
        && toks[toks.len() - 2].is_kw("APPLY")
    {
        toks.len() - 2
    } else {
        toks.len()
    };
    if start > end {
        return Vec::new();
    }
    let mut body = &toks[start..end];
    // Skip `USING TIMESTAMP n` after BATCH.
    if body.first().is_some_and(|t| t.is_kw("USING")) {
        let skip = body
            .iter()
            .position(|t| {
                t.kind == TokenKind::Word
                    && ["INSERT", "UPDATE", "DELETE"].iter().any(|k| t.is_kw(k))
            })
            .unwrap_or(body.len());
        body = &body[skip..];
    }
    body.split(|t| t.is_punct(';'))
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_changes_are_told_from_other_statements() {
        assert!(changes_schema("create table t (k int primary key);"));
        assert!(changes_schema(
            "INSERT INTO t (k) VALUES (1);\n  ALTER TABLE t ADD v int;"
        ));
        assert!(changes_schema("-- a comment\nDROP TABLE IF EXISTS t;"));
        assert!(!changes_schema("INSERT INTO t (k) VALUES (1); TRUNCATE t;"));
        assert!(!changes_schema("UPDATE t SET v = 'CREATE' WHERE k = 1;"));
    }

    fn texts(src: &str) -> Vec<&str> {
        let (s, e) = split(src);
        assert_eq!(e, None);
        s.iter().map(|s| s.text).collect()
    }

    #[test]
    fn splits_on_semicolons_outside_literals() {
        assert_eq!(
            texts("CREATE TABLE t (a int PRIMARY KEY);\n\nINSERT INTO t (a) VALUES (1);"),
            [
                "CREATE TABLE t (a int PRIMARY KEY)",
                "INSERT INTO t (a) VALUES (1)"
            ]
        );
        assert_eq!(
            texts("INSERT INTO t (s) VALUES ('a;b'); SELECT \"x;y\" FROM t;"),
            ["INSERT INTO t (s) VALUES ('a;b')", "SELECT \"x;y\" FROM t"]
        );
        assert_eq!(texts(";; -- only a comment ;\n;"), Vec::<&str>::new());
    }

    #[test]
    fn keeps_function_bodies_whole() {
        let src = "CREATE FUNCTION f(a int) RETURNS NULL ON NULL INPUT RETURNS int \
                   LANGUAGE java AS $$ int b = a; return b; $$;\nSELECT 1;";
        let got = texts(src);
        assert_eq!(got.len(), 2);
        assert!(got[0].ends_with("return b; $$"));
        let src = "CREATE FUNCTION f(a int) RETURNS NULL ON NULL INPUT RETURNS int \
                   LANGUAGE java AS 'int b = a; return b;';";
        assert_eq!(texts(src).len(), 1);
    }

    #[test]
    fn batch_is_one_statement() {
        let src = "BEGIN UNLOGGED BATCH USING TIMESTAMP 5\n  INSERT INTO t (a) VALUES (1);\n  \
                   UPDATE t SET b = 2 WHERE a = 1;\nAPPLY BATCH;\nSELECT * FROM t;";
        let (stmts, _) = split(src);
        assert_eq!(stmts.len(), 2);
        assert!(stmts[0].is_batch() && stmts[0].text.ends_with("APPLY BATCH"));
        let body = batch_body(&stmts[0]);
        assert_eq!(body.len(), 2);
        assert!(body[0][0].is_kw("INSERT") && body[1][0].is_kw("UPDATE"));
    }

    #[test]
    fn reports_unterminated_last_statement_and_positions() {
        let (s, _) = split("SELECT 1;\n  SELECT 2");
        assert_eq!(s.len(), 2);
        assert!(s[0].terminated && !s[1].terminated);
        assert_eq!(s[1].pos.to_string(), "2:3");
        assert_eq!(s[1].end.to_string(), "2:11");
        assert_eq!(s[0].end.to_string(), "1:9");
    }

    #[test]
    fn comments_inside_statements_are_kept_for_the_server() {
        assert_eq!(
            texts("SELECT a -- first ; col\n, b FROM t; -- trailing"),
            ["SELECT a -- first ; col\n, b FROM t"]
        );
    }

    #[test]
    fn idempotent_statements_are_the_ones_safe_to_send_twice() {
        let idempotent = |src: &str| split(src).0[0].is_idempotent();
        for yes in [
            "CREATE TABLE IF NOT EXISTS t (k int PRIMARY KEY)",
            "create table if not exists ks.\"T\" (k int primary key)",
            "CREATE KEYSPACE IF NOT EXISTS k WITH replication = {'class': 'SimpleStrategy'}",
            "CREATE INDEX IF NOT EXISTS i ON t (v)",
            "CREATE CUSTOM INDEX IF NOT EXISTS i ON t (v) USING 'StorageAttachedIndex'",
            "CREATE MATERIALIZED VIEW IF NOT EXISTS v AS SELECT * FROM t WHERE k IS NOT NULL PRIMARY KEY (k)",
            "CREATE TYPE IF NOT EXISTS a (x int)",
            "CREATE OR REPLACE FUNCTION f (x int) CALLED ON NULL INPUT RETURNS int LANGUAGE java AS 'return x;'",
            "CREATE FUNCTION IF NOT EXISTS f (x int) CALLED ON NULL INPUT RETURNS int LANGUAGE java AS 'return x;'",
            "DROP TABLE IF EXISTS t",
            "DROP INDEX IF EXISTS ks.i",
            "ALTER TABLE t WITH comment = 'x'",
            "ALTER TABLE ks.t WITH gc_grace_seconds = 10",
            "ALTER TABLE IF EXISTS t WITH comment = 'x'",
            "ALTER MATERIALIZED VIEW v WITH comment = 'x'",
            "ALTER KEYSPACE k WITH durable_writes = true",
            "ALTER TABLE t ADD IF NOT EXISTS v int",
            "ALTER TABLE t DROP IF EXISTS v",
            "GRANT SELECT ON KEYSPACE k TO r",
            "REVOKE SELECT ON KEYSPACE k FROM r",
        ] {
            assert!(idempotent(yes), "{yes}");
        }
        for no in [
            "CREATE TABLE t (k int PRIMARY KEY)",
            "CREATE TABLE t (k int PRIMARY KEY, v text) WITH comment = 'IF NOT EXISTS'",
            "CREATE FUNCTION f (x int) CALLED ON NULL INPUT RETURNS int LANGUAGE java AS 'if not exists'",
            "DROP TABLE t",
            "ALTER TABLE t ADD v int",
            "ALTER TABLE t DROP v",
            "ALTER TABLE t RENAME a TO b",
            "ALTER TYPE a ADD y int",
            "INSERT INTO t (k) VALUES (1)",
            "UPDATE c SET n = n + 1 WHERE k = 1",
            "TRUNCATE t",
            "BEGIN BATCH INSERT INTO t (k) VALUES (1); APPLY BATCH",
            "USE ks",
        ] {
            assert!(!idempotent(no), "{no}");
        }
    }

    #[test]
    fn statements_that_destroy_are_never_safe_to_repeat() {
        let safe = |src: &str| split(src).0[0].is_safe_to_repeat();
        for yes in [
            "CREATE TABLE IF NOT EXISTS t (k int PRIMARY KEY)",
            "CREATE OR REPLACE FUNCTION f (x int) CALLED ON NULL INPUT RETURNS int LANGUAGE java AS 'return x;'",
            "ALTER TABLE t WITH comment = 'drop it'",
            "ALTER TABLE t ADD IF NOT EXISTS v int",
            "GRANT SELECT ON KEYSPACE k TO r",
        ] {
            assert!(safe(yes), "{yes}");
        }
        for no in [
            "DROP TABLE IF EXISTS t",
            "DROP INDEX IF EXISTS ks.i",
            "DROP TYPE IF EXISTS a",
            "drop materialized view if exists v",
            "ALTER TABLE t DROP IF EXISTS v",
            "ALTER TABLE IF EXISTS t DROP IF EXISTS v",
            "TRUNCATE t",
            "DELETE FROM t WHERE k = 1",
            "UPDATE c SET n = n + 1 WHERE k = 1",
            "CREATE TABLE t (k int PRIMARY KEY)",
        ] {
            assert!(!safe(no), "{no}");
        }
    }
}
