//! Defines the pre-flight's simulation: each statement is read far enough to know what
//! it creates, changes or drops, checked against the schema as earlier statements left
//! it (a table that exists without `IF NOT EXISTS`, a column added twice or dropped
//! when missing, a missing keyspace, table or type, a table option this server does not
//! know), and applied to it. Statements it does not model pass through untouched.

use crate::cql::target::is_sai_class;
use crate::cql::{Statement, Target, Token, TokenKind};

use super::model::{Model, TableModel};

/// What one statement means for the pre-flight.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Predicted failures (reasons).
    pub(crate) problems: Vec<String>,
    /// Whether the server can check it against the live schema by preparing it (not
    /// a DML statement on a table an earlier statement creates or changes).
    pub(crate) preparable: bool,
    /// The keyspace a `USE` switches to.
    pub(crate) use_keyspace: Option<String>,
}

const BUILT_IN_TYPES: &[&str] = &[
    "ascii",
    "bigint",
    "blob",
    "boolean",
    "counter",
    "date",
    "decimal",
    "double",
    "duration",
    "float",
    "inet",
    "int",
    "smallint",
    "text",
    "time",
    "timestamp",
    "timeuuid",
    "tinyint",
    "uuid",
    "varchar",
    "varint",
    "vector",
    "list",
    "set",
    "map",
    "tuple",
    "frozen",
];

/// An identifier as the server stores it: unquoted ones lower-cased.
fn ident(t: &Token<'_>) -> Option<String> {
    match t.kind {
        TokenKind::Word => Some(t.text.to_ascii_lowercase()),
        TokenKind::QuotedIdent => Some(t.text[1..t.text.len() - 1].replace("\"\"", "\"")),
        _ => None,
    }
}

struct Cursor<'s, 'a> {
    t: &'s [Token<'a>],
    i: usize,
}

impl Cursor<'_, '_> {
    fn kw(&mut self, kw: &str) -> bool {
        if self.t.get(self.i).is_some_and(|t| t.is_kw(kw)) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn punct(&mut self, c: char) -> bool {
        if self.t.get(self.i).is_some_and(|t| t.is_punct(c)) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// `IF NOT EXISTS` (or `IF EXISTS` when `not` is false).
    fn if_exists(&mut self, not: bool) -> bool {
        let save = self.i;
        if self.kw("IF") && (!not || self.kw("NOT")) && self.kw("EXISTS") {
            return true;
        }
        self.i = save;
        false
    }

    fn name(&mut self) -> Option<String> {
        let n = self.t.get(self.i).and_then(ident)?;
        self.i += 1;
        Some(n)
    }

    /// `[ks.]name`, the keyspace defaulting to `current`.
    fn qualified(&mut self, current: &str) -> Option<(String, String)> {
        let first = self.name()?;
        if self.punct('.') {
            let second = self.name()?;
            Some((first, second))
        } else {
            Some((current.to_string(), first))
        }
    }

    /// Reads a column type: `name`, `ks.name`, or `name<…>` with nested brackets;
    /// returns its tokens.
    fn skip_type(&mut self) -> &[Token<'_>] {
        let start = self.i;
        if self.name().is_some() && self.punct('.') {
            self.name();
        }
        if self.punct('<') {
            let mut depth = 1;
            while depth > 0 {
                let Some(t) = self.t.get(self.i) else { break };
                if t.is_punct('<') {
                    depth += 1;
                } else if t.is_punct('>') {
                    depth -= 1;
                }
                self.i += 1;
            }
        }
        &self.t[start..self.i]
    }
}

/// The user types a column type mentions that do not exist in `ks`.
fn missing_types(model: &Model, ks: &str, ty: &[Token<'_>]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < ty.len() {
        let t = &ty[i];
        if let Some(name) = ident(t) {
            // `ks.type`
            let (tks, tname, step) = if ty.get(i + 1).is_some_and(|d| d.is_punct('.')) {
                match ty.get(i + 2).and_then(ident) {
                    Some(n) => (name.clone(), n, 3),
                    None => (ks.to_string(), name.clone(), 1),
                }
            } else {
                (ks.to_string(), name.clone(), 1)
            };
            let builtin = t.kind == TokenKind::Word && BUILT_IN_TYPES.contains(&name.as_str());
            if !builtin && !model.types.contains(&(tks.clone(), tname.clone())) {
                out.push(format!("{tks}.{tname}"));
            }
            i += step;
        } else {
            i += 1;
        }
    }
    out
}

fn table_name(ks: &str, t: &str) -> String {
    format!("{ks}.{t}")
}

/// Reads `WITH a = … AND b = …` options at depth 0 and reports the unknown ones.
fn check_options(model: &Model, toks: &[Token<'_>], problems: &mut Vec<String>) {
    if model.options.is_empty() {
        return;
    }
    let mut depth = 0i32;
    for (k, t) in toks.iter().enumerate() {
        if t.is_punct('(') || t.is_punct('{') || t.is_punct('[') {
            depth += 1;
        } else if t.is_punct(')') || t.is_punct('}') || t.is_punct(']') {
            depth -= 1;
        } else if depth == 0
            && t.kind == TokenKind::Word
            && toks.get(k + 1).is_some_and(|n| n.is_punct('='))
            && k > 0
            && (toks[k - 1].is_kw("WITH") || toks[k - 1].is_kw("AND"))
        {
            let name = t.text.to_ascii_lowercase();
            if !model.options.contains(&name) {
                problems.push(format!(
                    "table option '{name}' is unknown to this server (it was removed, or belongs to another product)"
                ));
            }
        }
    }
}

/// Simulates one statement run in keyspace `current`.
pub(crate) fn simulate(model: &mut Model, current: &str, stmt: &Statement<'_>) -> Outcome {
    let mut out = Outcome {
        preparable: true,
        ..Outcome::default()
    };
    let t = &stmt.tokens;
    let mut c = Cursor { t, i: 1 };
    let Some(verb) = t.first().filter(|f| f.kind == TokenKind::Word) else {
        return out;
    };
    let verb = verb.text.to_ascii_uppercase();
    match verb.as_str() {
        "USE" => {
            if let Some(ks) = c.name() {
                if !model.keyspaces.contains(&ks) {
                    out.problems.push(format!("keyspace {ks} does not exist"));
                }
                out.use_keyspace = Some(ks);
            }
        }
        "CREATE" | "ALTER" => {
            model.made.extend(made_names(t));
            if verb == "CREATE" {
                create(model, current, &mut c, &mut out);
            } else {
                alter(model, current, &mut c, &mut out);
            }
        }
        "DROP" => drop_stmt(model, current, &mut c, &mut out),
        // DML, batches, grants, listings: if the statement names anything an earlier
        // statement of this deploy makes (a table, a role, a function…), the server
        // cannot check it against today's schema. Role names may be string literals.
        _ => {
            let mentions = t.iter().any(|x| {
                let name = match x.kind {
                    TokenKind::Str => Some(x.text[1..x.text.len() - 1].replace("''", "'")),
                    _ => ident(x),
                };
                name.is_some_and(|n| model.made.contains(&n))
            });
            if mentions {
                out.preparable = false;
            }
        }
    }
    out
}

/// The names a `CREATE`/`ALTER` statement makes or changes (without keyspaces): the
/// object, and for an index or trigger the table it goes `ON` (a query may need it).
fn made_names(t: &[Token<'_>]) -> Vec<String> {
    let mut names: Vec<String> = object_name(t).into_iter().collect();
    if let Some(on) = t.iter().position(|x| x.is_kw("ON")) {
        let mut c = Cursor { t, i: on + 1 };
        if let Some((_, table)) = c.qualified("") {
            names.push(table);
        }
    }
    names
}

/// `CREATE [OR REPLACE] [CUSTOM] <kind> [VIEW] [IF NOT EXISTS] [ks.]name`: the name.
fn object_name(t: &[Token<'_>]) -> Option<String> {
    let mut c = Cursor { t, i: 1 };
    c.kw("OR");
    c.kw("REPLACE");
    c.kw("CUSTOM");
    c.t.get(c.i)?;
    c.i += 1;
    c.kw("VIEW");
    c.if_exists(true);
    c.if_exists(false);
    let first = match c.t.get(c.i)? {
        on if on.is_kw("ON") => return None,
        s if s.kind == TokenKind::Str => {
            c.i += 1;
            s.text[1..s.text.len() - 1].replace("''", "'")
        }
        _ => c.name()?,
    };
    if c.punct('.') {
        c.name()
    } else {
        Some(first)
    }
}

fn create(model: &mut Model, current: &str, c: &mut Cursor<'_, '_>, out: &mut Outcome) {
    c.kw("OR");
    c.kw("REPLACE");
    let custom = c.kw("CUSTOM");
    let Some(object) = c.t.get(c.i).map(|t| t.text.to_ascii_uppercase()) else {
        return;
    };
    c.i += 1;
    match object.as_str() {
        "TABLE" | "COLUMNFAMILY" => {
            let ine = c.if_exists(true);
            let Some((ks, name)) = c.qualified(current) else {
                return;
            };
            if !model.keyspaces.contains(&ks) {
                out.problems.push(format!("keyspace {ks} does not exist"));
                return;
            }
            let key = (ks.clone(), name.clone());
            if model.tables.contains_key(&key) && !ine {
                out.problems.push(format!(
                    "table {} exists already; add IF NOT EXISTS or drop the statement",
                    table_name(&ks, &name)
                ));
                return;
            }
            let mut columns = Vec::new();
            if c.punct('(') {
                loop {
                    if c.kw("PRIMARY") {
                        break;
                    }
                    let Some(col) = c.name() else { break };
                    let ty = c.skip_type().to_vec();
                    for missing in missing_types(model, &ks, &ty) {
                        out.problems.push(format!(
                            "type {missing} does not exist (column {col} of {})",
                            table_name(&ks, &name)
                        ));
                    }
                    columns.push(col);
                    c.kw("STATIC");
                    c.kw("PRIMARY");
                    c.kw("KEY");
                    if !c.punct(',') {
                        break;
                    }
                }
            }
            check_options(model, c.t, &mut out.problems);
            model.tables.entry(key).or_insert_with(|| TableModel {
                columns: columns.into_iter().collect(),
            });
        }
        "TYPE" => {
            let ine = c.if_exists(true);
            let Some((ks, name)) = c.qualified(current) else {
                return;
            };
            if !model.keyspaces.contains(&ks) {
                out.problems.push(format!("keyspace {ks} does not exist"));
                return;
            }
            if model.types.contains(&(ks.clone(), name.clone())) && !ine {
                out.problems.push(format!(
                    "type {ks}.{name} exists already; add IF NOT EXISTS or drop the statement"
                ));
            }
            model.types.insert((ks, name));
        }
        "INDEX" => {
            let ine = c.if_exists(true);
            let name = if c.t.get(c.i).is_some_and(|t| t.is_kw("ON")) {
                None
            } else {
                c.name()
            };
            if !c.kw("ON") {
                return;
            }
            let Some((ks, table)) = c.qualified(current) else {
                return;
            };
            let _ = custom;
            // SAI came with Cassandra 5.0; a 4.x server prepares the statement and fails it
            // when it runs ("Unable to find custom indexer class").
            let sai = c.t.windows(2).any(|w| {
                w[0].is_kw("USING") && w[1].kind == TokenKind::Str && is_sai_class(w[1].text)
            });
            if sai
                && !model.release.is_empty()
                && Target::of_release(&model.release) == Target::Cassandra4
            {
                out.problems.push(format!(
                    "SAI indexes need Cassandra 5.0; this server runs {}",
                    model.release
                ));
            }
            if !model.tables.contains_key(&(ks.clone(), table.clone())) {
                out.problems.push(format!(
                    "table {} does not exist (index {})",
                    table_name(&ks, &table),
                    name.as_deref().unwrap_or("without a name")
                ));
            }
            if let Some(n) = name {
                if model.indexes.contains(&(ks.clone(), n.clone())) && !ine {
                    out.problems.push(format!(
                        "index {ks}.{n} exists already; add IF NOT EXISTS or drop the statement"
                    ));
                }
                model.indexes.insert((ks, n));
            }
        }
        "MATERIALIZED" => {
            c.kw("VIEW");
            let ine = c.if_exists(true);
            let Some((ks, name)) = c.qualified(current) else {
                return;
            };
            let key = (ks.clone(), name.clone());
            if model.tables.contains_key(&key) && !ine {
                out.problems.push(format!(
                    "view {} exists already; add IF NOT EXISTS or drop the statement",
                    table_name(&ks, &name)
                ));
            }
            if let Some(f) = c.t.iter().position(|x| x.is_kw("FROM")) {
                let mut c2 = Cursor { t: c.t, i: f + 1 };
                if let Some(base) = c2.qualified(&ks) {
                    if !model.tables.contains_key(&base) {
                        out.problems.push(format!(
                            "table {} does not exist (base of view {name})",
                            table_name(&base.0, &base.1)
                        ));
                    }
                }
            }
            model.tables.entry(key).or_default();
        }
        _ => {}
    }
}

fn alter(model: &mut Model, current: &str, c: &mut Cursor<'_, '_>, out: &mut Outcome) {
    if c.kw("TYPE") {
        c.if_exists(false);
        if let Some(key) = c.qualified(current) {
            if !model.types.contains(&key) {
                out.problems
                    .push(format!("type {}.{} does not exist", key.0, key.1));
            }
        }
        return;
    }
    if !(c.kw("TABLE") || c.kw("COLUMNFAMILY")) {
        return;
    }
    let table_ie = c.if_exists(false);
    let Some(key) = c.qualified(current) else {
        return;
    };
    let name = table_name(&key.0, &key.1);
    let Some(table) = model.tables.get(&key).cloned() else {
        if !table_ie {
            out.problems.push(format!("table {name} does not exist"));
        }
        return;
    };
    let mut columns = table.columns;
    if c.kw("ADD") {
        let ine = c.if_exists(true);
        let list = c.punct('(');
        while let Some(col) = c.name() {
            let ty = c.skip_type().to_vec();
            for missing in missing_types(model, &key.0, &ty) {
                out.problems.push(format!(
                    "type {missing} does not exist (column {col} of {name})"
                ));
            }
            if columns.contains(&col) && !ine {
                out.problems.push(format!(
                    "column {col} of {name} exists already; use ADD IF NOT EXISTS or drop the statement"
                ));
            }
            columns.insert(col);
            c.kw("STATIC");
            if !(list && c.punct(',')) {
                break;
            }
        }
    } else if c.kw("DROP") {
        let ie = c.if_exists(false);
        let list = c.punct('(');
        while let Some(col) = c.name() {
            if !columns.remove(&col) && !ie {
                out.problems.push(format!(
                    "column {col} of {name} does not exist; use DROP IF EXISTS or drop the statement"
                ));
            }
            if !(list && c.punct(',')) {
                break;
            }
        }
    } else if c.kw("RENAME") {
        let ie = c.if_exists(false);
        while let Some(from) = c.name() {
            c.kw("TO");
            let Some(to) = c.name() else { break };
            if !columns.remove(&from) && !ie {
                out.problems
                    .push(format!("column {from} of {name} does not exist (RENAME)"));
            }
            columns.insert(to);
            if !c.kw("AND") {
                break;
            }
        }
    } else if c.t.get(c.i).is_some_and(|t| t.is_kw("WITH")) {
        check_options(model, c.t, &mut out.problems);
    }
    model.tables.insert(key, TableModel { columns });
}

fn drop_stmt(model: &mut Model, current: &str, c: &mut Cursor<'_, '_>, out: &mut Outcome) {
    let Some(object) = c.t.get(c.i).map(|t| t.text.to_ascii_uppercase()) else {
        return;
    };
    c.i += 1;
    if object == "MATERIALIZED" {
        c.kw("VIEW");
    }
    let ie = c.if_exists(false);
    let Some(key) = c.qualified(current) else {
        return;
    };
    let what = match object.as_str() {
        "TABLE" | "COLUMNFAMILY" | "MATERIALIZED" => {
            let gone = model.tables.remove(&key).is_none();
            gone.then_some("table")
        }
        "TYPE" => (!model.types.remove(&key)).then_some("type"),
        "INDEX" => (!model.indexes.remove(&key)).then_some("index"),
        "KEYSPACE" => {
            let ks = key.1.clone();
            (!model.keyspaces.remove(&ks)).then_some("keyspace")
        }
        _ => None,
    };
    if let Some(what) = what.filter(|_| !ie) {
        let full = if what == "keyspace" {
            key.1.clone()
        } else {
            format!("{}.{}", key.0, key.1)
        };
        out.problems.push(format!(
            "{what} {full} does not exist; use DROP … IF EXISTS or drop the statement"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cql::split;

    fn model() -> Model {
        let mut m = Model::default();
        m.keyspaces.insert("app".into());
        m.tables.insert(
            ("app".into(), "users".into()),
            TableModel {
                columns: ["id", "name"].into_iter().map(String::from).collect(),
            },
        );
        m.types.insert(("app".into(), "address".into()));
        m.indexes.insert(("app".into(), "users_name".into()));
        m.options = ["comment", "gc_grace_seconds", "compaction"]
            .into_iter()
            .map(String::from)
            .collect();
        m
    }

    fn run(src: &str) -> Vec<String> {
        let mut m = model();
        let (stmts, _) = split(src);
        stmts
            .iter()
            .flat_map(|s| simulate(&mut m, "app", s).problems)
            .collect()
    }

    #[test]
    fn what_exists_or_does_not_is_predicted_in_order() {
        assert_eq!(
            run("CREATE TABLE users (id int PRIMARY KEY);\n\
                 CREATE TABLE IF NOT EXISTS users (id int PRIMARY KEY);\n\
                 ALTER TABLE users ADD name text;\n\
                 ALTER TABLE users ADD IF NOT EXISTS name text;\n\
                 ALTER TABLE users DROP nope;\n\
                 ALTER TABLE users ADD email text;\n\
                 ALTER TABLE users DROP email;\n\
                 ALTER TABLE ghosts ADD x int;\n\
                 CREATE TABLE other.t (k int PRIMARY KEY);\n\
                 CREATE TABLE t2 (k int PRIMARY KEY, a frozen<address>, b frozen<nope>);\n\
                 CREATE TABLE t3 (k int PRIMARY KEY) WITH comment = 'x' AND dclocal_read_repair_chance = 0.1;\n\
                 CREATE INDEX users_name ON users (name);\n\
                 CREATE INDEX ON ghosts (x);\n\
                 DROP TABLE t3;\n\
                 DROP TABLE t3;\n\
                 DROP TABLE IF EXISTS t3;\n\
                 CREATE TYPE address (a int);\n"),
            [
                "table app.users exists already; add IF NOT EXISTS or drop the statement",
                "column name of app.users exists already; use ADD IF NOT EXISTS or drop the statement",
                "column nope of app.users does not exist; use DROP IF EXISTS or drop the statement",
                "table app.ghosts does not exist",
                "keyspace other does not exist",
                "type app.nope does not exist (column b of app.t2)",
                "table option 'dclocal_read_repair_chance' is unknown to this server (it was removed, or belongs to another product)",
                "index app.users_name exists already; add IF NOT EXISTS or drop the statement",
                "table app.ghosts does not exist (index without a name)",
                "table app.t3 does not exist; use DROP … IF EXISTS or drop the statement",
                "type app.address exists already; add IF NOT EXISTS or drop the statement",
            ]
        );
    }

    #[test]
    fn statements_on_what_this_deploy_makes_are_not_prepared() {
        let mut m = model();
        let (stmts, _) = split(
            "CREATE TABLE t (k int PRIMARY KEY);\nINSERT INTO t (k) VALUES (1);\nINSERT INTO users (id) VALUES (1);\nSELECT * FROM app.t;\n\
             BEGIN BATCH INSERT INTO users (id) VALUES (1); UPDATE \"T\" SET v = 1 WHERE k = 1; APPLY BATCH;\n\
             BEGIN BATCH INSERT INTO users (id) VALUES (1); UPDATE t SET v = 1 WHERE k = 1; APPLY BATCH;\n\
             CREATE ROLE IF NOT EXISTS 'Reader' WITH LOGIN = false;\n\
             GRANT SELECT ON TABLE users TO \"Reader\";\n\
             GRANT SELECT ON TABLE users TO other;\n\
             CREATE INDEX ON users (name);\n\
             SELECT * FROM users WHERE name = 'x';\n",
        );
        let out: Vec<bool> = stmts
            .iter()
            .map(|s| simulate(&mut m, "app", s).preparable)
            .collect();
        assert_eq!(
            out,
            [true, false, true, false, true, false, true, false, true, true, false],
            "DDL is always parsed by the server"
        );
    }

    #[test]
    fn quoted_names_keep_their_case() {
        let mut m = model();
        m.tables
            .insert(("app".into(), "Users".into()), TableModel::default());
        let (stmts, _) = split("CREATE TABLE \"Users\" (id int PRIMARY KEY);\nCREATE TABLE Users2 (id int PRIMARY KEY);");
        let problems: Vec<String> = stmts
            .iter()
            .flat_map(|s| simulate(&mut m, "app", s).problems)
            .collect();
        assert_eq!(
            problems,
            ["table app.Users exists already; add IF NOT EXISTS or drop the statement"]
        );
        assert!(m.tables.contains_key(&("app".into(), "users2".into())));
    }
}
