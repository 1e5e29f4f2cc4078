//! Defines how a schema is written back as CQL for `baseline`: every statement
//! idempotent (`IF NOT EXISTS`, `OR REPLACE`), names unqualified (the deploy sets the
//! keyspace) and quoted only where CQL needs it, table options only where they differ
//! from the server's defaults, objects in dependency order and otherwise by name, so
//! two baselines of the same keyspace are byte-identical.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::{Aggregate, Function, Index, KeyspaceSchema, Kind, OptionValue, Table, UserType};

/// CQL's reserved words: an identifier spelled like one must be quoted.
const RESERVED: &[&str] = &[
    "ADD",
    "ALLOW",
    "ALTER",
    "AND",
    "APPLY",
    "ASC",
    "AUTHORIZE",
    "BATCH",
    "BEGIN",
    "BY",
    "COLUMNFAMILY",
    "CREATE",
    "DEFAULT",
    "DELETE",
    "DESC",
    "DESCRIBE",
    "DROP",
    "ENTRIES",
    "EXECUTE",
    "FOR",
    "FROM",
    "FULL",
    "GRANT",
    "IF",
    "IN",
    "INDEX",
    "INFINITY",
    "INSERT",
    "INTO",
    "IS",
    "KEYSPACE",
    "LIMIT",
    "MATERIALIZED",
    "MBEAN",
    "MBEANS",
    "MODIFY",
    "NAN",
    "NORECURSIVE",
    "NOT",
    "NULL",
    "OF",
    "ON",
    "OR",
    "ORDER",
    "PRIMARY",
    "RENAME",
    "REPLACE",
    "RESTRICT",
    "REVOKE",
    "SCHEMA",
    "SELECT",
    "SET",
    "TABLE",
    "TO",
    "TOKEN",
    "TRUNCATE",
    "UNLOGGED",
    "UNRESTRICT",
    "UNSET",
    "UPDATE",
    "USE",
    "USING",
    "VIEW",
    "WHERE",
    "WITH",
];

/// `name` as a CQL identifier: bare when it is lower-case letters, digits and `_`
/// (starting with a letter) and not a reserved word; else double-quoted.
pub fn quote(name: &str) -> String {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !RESERVED.contains(&name.to_ascii_uppercase().as_str());
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// A CQL string literal.
pub(super) fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The defaults of a table option on Cassandra 4.1 and 5.0 (text form of the value).
pub(super) fn default_of(option: &str) -> Option<OptionValue> {
    let map = |pairs: &[(&str, &str)]| {
        OptionValue::Map(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
        )
    };
    Some(match option {
        "additional_write_policy" | "speculative_retry" => OptionValue::Text("99p".into()),
        "bloom_filter_fp_chance" => OptionValue::Double(0.01),
        "caching" => map(&[("keys", "ALL"), ("rows_per_partition", "NONE")]),
        "comment" => OptionValue::Text(String::new()),
        "compaction" => map(&[
            (
                "class",
                "org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy",
            ),
            ("max_threshold", "32"),
            ("min_threshold", "4"),
        ]),
        "compression" => map(&[
            ("chunk_length_in_kb", "16"),
            ("class", "org.apache.cassandra.io.compress.LZ4Compressor"),
        ]),
        "crc_check_chance" => OptionValue::Double(1.0),
        "default_time_to_live" | "memtable_flush_period_in_ms" => OptionValue::Int(0),
        "extensions" => OptionValue::BlobMap(BTreeMap::new()),
        "gc_grace_seconds" => OptionValue::Int(864_000),
        "max_index_interval" => OptionValue::Int(2048),
        "min_index_interval" => OptionValue::Int(128),
        "read_repair" => OptionValue::Text("BLOCKING".into()),
        "cdc" => OptionValue::Bool(false),
        "allow_auto_snapshot" | "incremental_backups" => OptionValue::Bool(true),
        "memtable" => OptionValue::Text("default".into()),
        _ => return None,
    })
}

pub(super) fn value(v: &OptionValue) -> String {
    match v {
        OptionValue::Text(s) => literal(s),
        OptionValue::Int(i) => i.to_string(),
        OptionValue::Double(d) => {
            let s = d.to_string();
            if s.contains(['.', 'e', 'E']) || !d.is_finite() {
                s
            } else {
                format!("{s}.0")
            }
        }
        OptionValue::Bool(b) => b.to_string(),
        OptionValue::Map(m) => {
            let items: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}: {}", literal(k), literal(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        OptionValue::BlobMap(m) => {
            let items: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}: 0x{v}", literal(k)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

/// `WITH …` options that differ from the defaults, one per line.
fn options(table: &Table) -> Vec<String> {
    table
        .options
        .iter()
        .filter(|(k, v)| default_of(k).as_ref() != Some(*v))
        .map(|(k, v)| format!("{k} = {}", value(v)))
        .collect()
}

/// The names of the user types `cql_type` mentions.
fn types_in(cql_type: &str, known: &BTreeSet<&str>) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in cql_type.chars().chain(std::iter::once(' ')) {
        match c {
            '"' => {
                if quoted {
                    out.push(std::mem::take(&mut word));
                }
                quoted = !quoted;
            }
            c if quoted => word.push(c),
            c if c.is_ascii_alphanumeric() || c == '_' => word.push(c.to_ascii_lowercase()),
            _ => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
        }
    }
    out.retain(|w| known.contains(w.as_str()));
    out
}

/// User types, each after the types it uses (then by name).
fn ordered_types(types: &[UserType]) -> Vec<&UserType> {
    let known: BTreeSet<&str> = types.iter().map(|t| t.name.as_str()).collect();
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut out = Vec::new();
    while out.len() < types.len() {
        let before = out.len();
        for t in types {
            if done.contains(t.name.as_str()) {
                continue;
            }
            let ready = t
                .fields
                .iter()
                .flat_map(|(_, ty)| types_in(ty, &known))
                .all(|d| d == t.name || done.contains(d.as_str()));
            if ready {
                done.insert(t.name.as_str());
                out.push(t);
            }
        }
        if out.len() == before {
            // A cycle cannot exist in Cassandra; keep going in name order anyway.
            for t in types {
                if done.insert(t.name.as_str()) {
                    out.push(t);
                }
            }
        }
    }
    out
}

pub(super) fn create_type(t: &UserType) -> String {
    let fields: Vec<String> = t
        .fields
        .iter()
        .map(|(n, ty)| format!("    {} {ty}", quote(n)))
        .collect();
    format!(
        "CREATE TYPE IF NOT EXISTS {} (\n{}\n);\n",
        quote(&t.name),
        fields.join(",\n")
    )
}

pub(super) fn primary_key(table: &Table) -> String {
    let pk: Vec<String> = table
        .columns
        .iter()
        .filter(|c| c.kind == Kind::PartitionKey)
        .map(|c| quote(&c.name))
        .collect();
    let ck: Vec<String> = table
        .columns
        .iter()
        .filter(|c| c.kind == Kind::Clustering)
        .map(|c| quote(&c.name))
        .collect();
    let partition = if pk.len() == 1 {
        pk[0].clone()
    } else {
        format!("({})", pk.join(", "))
    };
    if ck.is_empty() {
        format!("PRIMARY KEY ({partition})")
    } else {
        format!("PRIMARY KEY ({partition}, {})", ck.join(", "))
    }
}

/// `WITH CLUSTERING ORDER BY (…) AND option = …`, or nothing.
fn with_clause(table: &Table) -> String {
    let mut parts = Vec::new();
    let clustering: Vec<String> = table
        .columns
        .iter()
        .filter(|c| c.kind == Kind::Clustering)
        .map(|c| format!("{} {}", quote(&c.name), c.clustering_order))
        .collect();
    if !clustering.is_empty()
        && table
            .columns
            .iter()
            .any(|c| c.kind == Kind::Clustering && c.clustering_order == "DESC")
    {
        parts.push(format!("CLUSTERING ORDER BY ({})", clustering.join(", ")));
    }
    parts.extend(options(table));
    if parts.is_empty() {
        String::new()
    } else {
        format!(" WITH {}", parts.join("\n    AND "))
    }
}

pub(super) fn create_table(t: &Table) -> String {
    let mut cols: Vec<String> = t
        .columns
        .iter()
        .map(|c| {
            let stat = if c.kind == Kind::Static {
                " static"
            } else {
                ""
            };
            format!("    {} {}{stat}", quote(&c.name), c.cql_type)
        })
        .collect();
    cols.push(format!("    {}", primary_key(t)));
    format!(
        "CREATE TABLE IF NOT EXISTS {} (\n{}\n){};\n",
        quote(&t.name),
        cols.join(",\n"),
        with_clause(t)
    )
}

pub(super) fn create_view(v: &Table) -> String {
    let view = v.view.as_ref().expect("a view");
    let select = if view.include_all_columns {
        "*".to_string()
    } else {
        v.columns
            .iter()
            .map(|c| quote(&c.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {} AS\n    SELECT {select} FROM {}\n    WHERE {}\n    {}{};\n",
        quote(&v.name),
        quote(&view.base),
        view.where_clause,
        primary_key(v),
        with_clause(v)
    )
}

/// An index's target as CQL: `col`, `keys(col)`, … (stored with the column quoted
/// where it needs quotes).
pub(super) fn create_index(i: &Index) -> String {
    let target = i.options.get("target").cloned().unwrap_or_default();
    if i.kind == "CUSTOM" {
        let class = i.options.get("class_name").cloned().unwrap_or_default();
        let rest: BTreeMap<&String, &String> = i
            .options
            .iter()
            .filter(|(k, _)| *k != "target" && *k != "class_name")
            .collect();
        let with = if rest.is_empty() {
            String::new()
        } else {
            let items: Vec<String> = rest
                .iter()
                .map(|(k, v)| format!("{}: {}", literal(k), literal(v)))
                .collect();
            format!(" WITH OPTIONS = {{{}}}", items.join(", "))
        };
        format!(
            "CREATE CUSTOM INDEX IF NOT EXISTS {} ON {} ({target}) USING {}{with};\n",
            quote(&i.name),
            quote(&i.table),
            literal(&class)
        )
    } else {
        format!(
            "CREATE INDEX IF NOT EXISTS {} ON {} ({target});\n",
            quote(&i.name),
            quote(&i.table)
        )
    }
}

/// A function body: `$$…$$`, or a quoted string when the body holds `$$`.
fn body(text: &str) -> String {
    if text.contains("$$") {
        literal(text)
    } else {
        format!("$${text}$$")
    }
}

pub(super) fn create_function(f: &Function) -> String {
    let args: Vec<String> = f
        .arguments
        .iter()
        .map(|(n, t)| format!("{} {t}", quote(n)))
        .collect();
    let null = if f.called_on_null_input {
        "CALLED ON NULL INPUT"
    } else {
        "RETURNS NULL ON NULL INPUT"
    };
    format!(
        "CREATE OR REPLACE FUNCTION {}({})\n    {null}\n    RETURNS {}\n    LANGUAGE {}\n    AS {};\n",
        quote(&f.name),
        args.join(", "),
        f.return_type,
        f.language,
        body(&f.body)
    )
}

pub(super) fn create_aggregate(a: &Aggregate) -> String {
    let mut s = format!(
        "CREATE OR REPLACE AGGREGATE {}({})\n    SFUNC {}\n    STYPE {}",
        quote(&a.name),
        a.argument_types.join(", "),
        quote(&a.state_func),
        a.state_type
    );
    if let Some(f) = &a.final_func {
        let _ = write!(s, "\n    FINALFUNC {}", quote(f));
    }
    if let Some(c) = &a.initcond {
        let _ = write!(s, "\n    INITCOND {c}");
    }
    s.push_str(";\n");
    s
}

/// The whole keyspace as a baseline script (`version` names the cassachange that
/// wrote it; no time, so a second baseline is byte-identical).
pub fn render_keyspace(schema: &KeyspaceSchema, version: &str) -> String {
    let mut out = format!(
        "-- Baseline of keyspace {} written by cassachange {version} from system_schema.\n\
         -- Every statement is idempotent; names are unqualified: deploy it into the target keyspace.\n",
        schema.name
    );
    let mut section = |title: &str, items: Vec<String>| {
        if !items.is_empty() {
            let _ = write!(out, "\n-- {title}\n");
            for i in items {
                out.push('\n');
                out.push_str(&i);
            }
        }
    };
    section(
        "User-defined types",
        ordered_types(&schema.types)
            .into_iter()
            .map(create_type)
            .collect(),
    );
    section(
        "Functions",
        schema.functions.iter().map(create_function).collect(),
    );
    section(
        "Aggregates",
        schema.aggregates.iter().map(create_aggregate).collect(),
    );
    section("Tables", schema.tables.iter().map(create_table).collect());
    section("Indexes", schema.indexes.iter().map(create_index).collect());
    section(
        "Materialized views",
        schema.views.iter().map(create_view).collect(),
    );
    section(
        "Triggers",
        schema
            .triggers
            .iter()
            .map(|t| {
                format!(
                    "CREATE TRIGGER IF NOT EXISTS {} ON {} USING {};\n",
                    quote(&t.name),
                    quote(&t.table),
                    literal(&t.class)
                )
            })
            .collect(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Column, View};

    fn col(name: &str, ty: &str, kind: Kind, position: i32, order: &str) -> Column {
        Column {
            name: name.into(),
            cql_type: ty.into(),
            kind,
            position,
            clustering_order: order.into(),
        }
    }

    #[test]
    fn quotes_only_where_cql_needs_it() {
        assert_eq!(quote("users"), "users");
        assert_eq!(quote("user_2"), "user_2");
        assert_eq!(quote("Users"), "\"Users\"");
        assert_eq!(quote("select"), "\"select\"");
        assert_eq!(quote("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote("1abc"), "\"1abc\"");
    }

    #[test]
    fn types_come_after_the_types_they_use() {
        let types = vec![
            UserType {
                name: "a_outer".into(),
                fields: vec![("inner".into(), "frozen<z_inner>".into())],
            },
            UserType {
                name: "z_inner".into(),
                fields: vec![("x".into(), "int".into())],
            },
        ];
        let names: Vec<&str> = ordered_types(&types)
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(names, ["z_inner", "a_outer"]);
    }

    #[test]
    fn a_table_with_keys_order_statics_and_changed_options() {
        let mut options = BTreeMap::new();
        options.insert("comment".into(), OptionValue::Text("it's".into()));
        options.insert("gc_grace_seconds".into(), OptionValue::Int(864_000));
        options.insert("bloom_filter_fp_chance".into(), OptionValue::Double(0.1));
        let t = Table {
            name: "events".into(),
            columns: vec![
                col("id", "uuid", Kind::PartitionKey, 0, "NONE"),
                col("day", "date", Kind::PartitionKey, 1, "NONE"),
                col("at", "timestamp", Kind::Clustering, 0, "DESC"),
                col("owner", "text", Kind::Static, -1, "NONE"),
                col(
                    "Payload",
                    "frozen<map<text, int>>",
                    Kind::Regular,
                    -1,
                    "NONE",
                ),
            ],
            options,
            view: None,
        };
        assert_eq!(
            create_table(&t),
            "CREATE TABLE IF NOT EXISTS events (\n    id uuid,\n    day date,\n    at timestamp,\n    \
             owner text static,\n    \"Payload\" frozen<map<text, int>>,\n    \
             PRIMARY KEY ((id, day), at)\n) WITH CLUSTERING ORDER BY (at DESC)\n    \
             AND bloom_filter_fp_chance = 0.1\n    AND comment = 'it''s';\n"
        );
        let v = Table {
            name: "by_owner".into(),
            columns: vec![
                col("owner", "text", Kind::PartitionKey, 0, "NONE"),
                col("id", "uuid", Kind::Clustering, 0, "ASC"),
            ],
            options: BTreeMap::new(),
            view: Some(View {
                base: "events".into(),
                include_all_columns: true,
                where_clause: "owner IS NOT NULL AND id IS NOT NULL".into(),
            }),
        };
        assert_eq!(
            create_view(&v),
            "CREATE MATERIALIZED VIEW IF NOT EXISTS by_owner AS\n    SELECT * FROM events\n    \
             WHERE owner IS NOT NULL AND id IS NOT NULL\n    PRIMARY KEY (owner, id);\n"
        );
    }

    #[test]
    fn function_bodies_are_kept_exactly() {
        let f = Function {
            name: "f".into(),
            arguments: vec![("a".into(), "int".into())],
            return_type: "int".into(),
            language: "java".into(),
            body: "return a + 1; // $$ inside".into(),
            called_on_null_input: false,
        };
        assert!(create_function(&f).contains("AS 'return a + 1; // $$ inside';"));
        let g = Function {
            body: "return a;".into(),
            ..f
        };
        assert!(create_function(&g).contains("AS $$return a;$$;"));
    }
}
