//! Defines schema drift: the differences between the schema a keyspace's applied scripts
//! made (recorded after each run, see [`merge`]) and its live schema, each as the CQL
//! that brings the live schema back — or, for what the live side has that no script
//! made, the CQL that removes it.
//!
//! Both sides are read by the same reader from `system_schema`, so server defaults,
//! option spelling and order and generated index names are the server's own on both;
//! an option at its default counts as absent, so a server upgrade that adds options at
//! their defaults is not drift. Names in the CQL are unqualified, as in `baseline`:
//! run it in the keyspace (`USE <keyspace>;`).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::render::{
    create_aggregate, create_function, create_index, create_table, create_type, create_view,
    default_of, literal, primary_key, quote, value,
};
use super::{KeyspaceSchema, Kind, Table};

/// Which way a finding goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The live schema lost or changed what the scripts made: `fix` brings it back.
    Restore,
    /// The live schema has what no script made: `fix` removes it.
    Unrecorded,
}

/// One difference between the recorded and the live schema of a keyspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What changed: `table_dropped`, `column_added`, `table_option_changed`, …
    pub kind: &'static str,
    /// The object: `users`, `users.email` (a column or a type's field), `users WITH
    /// compaction`, an index's name, `f(int, text)` for a function or an aggregate.
    pub object: String,
    /// What the scripts made (a type, a value, a statement), or `None`.
    pub expected: Option<String>,
    /// What is live, or `None`.
    pub live: Option<String>,
    /// Which way the fix goes.
    pub side: Side,
    /// The CQL that undoes the difference (unqualified names). A fix CQL cannot express
    /// (a type changed, a field to remove) is a `--` comment saying what to do.
    pub fix: String,
    /// One line for people.
    pub message: String,
}

/// One object or property of a schema, flattened for comparison.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Keyspace(&'static str),
    Type(String),
    Field(String, String),
    Table(String),
    Column(String, String),
    TableOption(String, String),
    View(String),
    ViewOption(String, String),
    Index(String),
    Function(String),
    Aggregate(String),
    Trigger(String, String),
}

impl Key {
    /// The object that holds this one (a type's field, a table's column or option).
    fn parent(&self) -> Option<Key> {
        match self {
            Key::Field(t, _) => Some(Key::Type(t.clone())),
            Key::Column(t, _) | Key::TableOption(t, _) => Some(Key::Table(t.clone())),
            Key::ViewOption(v, _) => Some(Key::View(v.clone())),
            _ => None,
        }
    }

    /// The report order: keyspace, types with their fields, tables with their columns
    /// and options, views, indexes, functions, aggregates, triggers.
    fn order(&self) -> (u8, &str, u8, &str) {
        match self {
            Key::Keyspace(k) => (0, k, 0, ""),
            Key::Type(t) => (1, t, 0, ""),
            Key::Field(t, f) => (1, t, 1, f),
            Key::Table(t) => (2, t, 0, ""),
            Key::Column(t, c) => (2, t, 1, c),
            Key::TableOption(t, o) => (2, t, 2, o),
            Key::View(v) => (3, v, 0, ""),
            Key::ViewOption(v, o) => (3, v, 2, o),
            Key::Index(i) => (4, i, 0, ""),
            Key::Function(f) => (5, f, 0, ""),
            Key::Aggregate(a) => (6, a, 0, ""),
            Key::Trigger(t, n) => (7, t, 0, n),
        }
    }
}

/// A map as CQL: `{'class': '…', 'replication_factor': '1'}`.
fn map_text(m: &BTreeMap<String, String>) -> String {
    let items: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{}: {}", literal(k), literal(v)))
        .collect();
    format!("{{{}}}", items.join(", "))
}

/// A table's or view's key: its primary key with the key columns' types and order.
fn key_text(t: &Table) -> String {
    let typed: Vec<String> = t
        .columns
        .iter()
        .filter(|c| matches!(c.kind, Kind::PartitionKey | Kind::Clustering))
        .map(|c| {
            let order = if c.kind == Kind::Clustering {
                format!(" {}", c.clustering_order)
            } else {
                String::new()
            };
            format!("{} {}{order}", quote(&c.name), c.cql_type)
        })
        .collect();
    format!("{} ({})", primary_key(t), typed.join(", "))
}

/// `name(type, type)`.
fn signature<'a>(name: &str, types: impl Iterator<Item = &'a String>) -> String {
    format!(
        "{}({})",
        name,
        types.map(String::as_str).collect::<Vec<_>>().join(", ")
    )
}

/// The options of a table or view that are not at their defaults.
fn options(m: &mut BTreeMap<Key, String>, t: &Table, key: fn(String, String) -> Key) {
    for (o, v) in &t.options {
        if default_of(o).as_ref() != Some(v) {
            m.insert(key(t.name.clone(), o.clone()), value(v));
        }
    }
}

fn flatten(s: &KeyspaceSchema) -> BTreeMap<Key, String> {
    let mut m = BTreeMap::new();
    m.insert(Key::Keyspace("replication"), map_text(&s.replication));
    m.insert(
        Key::Keyspace("durable_writes"),
        s.durable_writes.to_string(),
    );
    for t in &s.types {
        m.insert(Key::Type(t.name.clone()), String::new());
        for (f, ty) in &t.fields {
            m.insert(Key::Field(t.name.clone(), f.clone()), ty.clone());
        }
    }
    for t in &s.tables {
        m.insert(Key::Table(t.name.clone()), key_text(t));
        for c in &t.columns {
            if matches!(c.kind, Kind::Regular | Kind::Static) {
                let stat = if c.kind == Kind::Static {
                    " static"
                } else {
                    ""
                };
                m.insert(
                    Key::Column(t.name.clone(), c.name.clone()),
                    format!("{}{stat}", c.cql_type),
                );
            }
        }
        options(&mut m, t, Key::TableOption);
    }
    for v in &s.views {
        m.insert(Key::View(v.name.clone()), create_view(&without_options(v)));
        options(&mut m, v, Key::ViewOption);
    }
    for i in &s.indexes {
        m.insert(Key::Index(i.name.clone()), create_index(i));
    }
    for f in &s.functions {
        m.insert(
            Key::Function(signature(&f.name, f.arguments.iter().map(|(_, t)| t))),
            create_function(f),
        );
    }
    for a in &s.aggregates {
        m.insert(
            Key::Aggregate(signature(&a.name, a.argument_types.iter())),
            create_aggregate(a),
        );
    }
    for t in &s.triggers {
        m.insert(
            Key::Trigger(t.table.clone(), t.name.clone()),
            t.class.clone(),
        );
    }
    m
}

/// A view's definition without its options (compared one by one).
fn without_options(v: &Table) -> Table {
    Table {
        options: BTreeMap::new(),
        ..v.clone()
    }
}

/// Every difference between `expected` (what the scripts made) and `live`, in report
/// order. A missing or unrecorded type, table or view is one finding, not one more per
/// field, column or option.
pub fn compare(expected: &KeyspaceSchema, live: &KeyspaceSchema) -> Vec<Finding> {
    let (e, l) = (flatten(expected), flatten(live));
    let mut keys: Vec<&Key> = e
        .keys()
        .chain(l.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    keys.sort_by(|a, b| a.order().cmp(&b.order()));
    let mut out = Vec::new();
    for key in keys {
        let (ev, lv) = (e.get(key), l.get(key));
        if ev == lv {
            continue;
        }
        if let Some(parent) = key.parent() {
            if e.contains_key(&parent) != l.contains_key(&parent) {
                continue;
            }
        }
        out.push(finding(key, ev.cloned(), lv.cloned(), expected));
    }
    out
}

/// What a one-line message says about the two sides.
fn sides(expected: Option<&String>, live: Option<&String>) -> String {
    let short = |s: &String| s.len() <= 240 && !s.contains('\n');
    match (expected, live) {
        (Some(_), None) => "made by the scripts, missing live".into(),
        (None, Some(_)) => "live, never made by a script".into(),
        (Some(e), Some(l)) if short(e) && short(l) => {
            format!("{l} live, {e} by the scripts")
        }
        _ => "changed live; the scripts made it otherwise".into(),
    }
}

#[allow(clippy::too_many_lines)]
fn finding(
    key: &Key,
    expected: Option<String>,
    live: Option<String>,
    want: &KeyspaceSchema,
) -> Finding {
    let restore = expected.is_some();
    // An option is always the scripts' (set, or left at its default).
    let side = if restore || matches!(key, Key::TableOption(..) | Key::ViewOption(..)) {
        Side::Restore
    } else {
        Side::Unrecorded
    };
    let table = |s: &KeyspaceSchema, n: &str| s.tables.iter().find(|t| t.name == n).cloned();
    let (kind, noun, object, fix): (&'static str, &str, String, String) = match key {
        Key::Keyspace(what) => {
            let value = expected.clone().unwrap_or_default();
            (
                if *what == "replication" {
                    "replication_changed"
                } else {
                    "durable_writes_changed"
                },
                "keyspace",
                format!("{} {what}", want.name),
                format!(
                    "ALTER KEYSPACE {} WITH {what} = {value};",
                    quote(&want.name)
                ),
            )
        }
        Key::Type(t) => {
            let fix = if restore {
                want.types
                    .iter()
                    .find(|x| &x.name == t)
                    .map(create_type)
                    .unwrap_or_default()
            } else {
                format!("DROP TYPE IF EXISTS {};", quote(t))
            };
            (
                if restore {
                    "type_dropped"
                } else {
                    "type_added"
                },
                "type",
                t.clone(),
                fix,
            )
        }
        Key::Field(t, f) => {
            let (kind, fix) = match (&expected, &live) {
                (Some(ty), None) => (
                    "type_field_dropped",
                    format!("ALTER TYPE {} ADD {} {ty};", quote(t), quote(f)),
                ),
                (None, Some(_)) => (
                    "type_field_added",
                    format!(
                        "-- Cassandra cannot remove a field from a user type: to undo it, \
                         recreate type {t} (and what uses it) without {f}"
                    ),
                ),
                _ => (
                    "type_field_changed",
                    format!(
                        "-- Cassandra cannot change a field's type back: recreate type {t} \
                         (and what uses it) with {f} {}",
                        expected.clone().unwrap_or_default()
                    ),
                ),
            };
            (kind, "field", format!("{t}.{f}"), fix)
        }
        Key::Table(t) => match (&expected, &live) {
            (Some(_), None) => (
                "table_dropped",
                "table",
                t.clone(),
                table(want, t).map(|x| create_table(&x)).unwrap_or_default(),
            ),
            (None, _) => (
                "table_added",
                "table",
                t.clone(),
                format!("DROP TABLE IF EXISTS {};", quote(t)),
            ),
            _ => (
                "primary_key_changed",
                "table",
                t.clone(),
                format!(
                    "-- the table was made again with another primary key; to restore it \
                     (its data is lost): DROP TABLE {}; then\n-- {}",
                    quote(t),
                    table(want, t)
                        .map(|x| create_table(&x))
                        .unwrap_or_default()
                        .trim_end()
                        .replace('\n', "\n-- ")
                ),
            ),
        },
        Key::Column(t, c) => {
            let (kind, fix) = match (&expected, &live) {
                (Some(ty), None) => (
                    "column_dropped",
                    format!("ALTER TABLE {} ADD {} {ty};", quote(t), quote(c)),
                ),
                (None, Some(_)) => (
                    "column_added",
                    format!("ALTER TABLE {} DROP {};", quote(t), quote(c)),
                ),
                _ => (
                    "column_type_changed",
                    format!(
                        "-- Cassandra cannot change a column's type back in place: the column was \
                         dropped and added again; to restore it (its data is lost): ALTER TABLE \
                         {tq} DROP {cq}; then ALTER TABLE {tq} ADD {cq} {}; (Cassandra refuses to \
                         add a dropped column back with an incompatible type)",
                        expected.clone().unwrap_or_default(),
                        tq = quote(t),
                        cq = quote(c)
                    ),
                ),
            };
            (kind, "column", format!("{t}.{c}"), fix)
        }
        Key::TableOption(t, o) | Key::ViewOption(t, o) => {
            let view = matches!(key, Key::ViewOption(..));
            let target = expected
                .clone()
                .or_else(|| default_of(o).map(|d| value(&d)));
            let what = if view { "MATERIALIZED VIEW" } else { "TABLE" };
            let fix = match target {
                Some(v) => format!("ALTER {what} {} WITH {o} = {v};", quote(t)),
                None => format!(
                    "-- option {o} was set live; the scripts never set it (its default is \
                     unknown to cassachange): set it back with ALTER {what} {} WITH {o} = …",
                    quote(t)
                ),
            };
            (
                if view {
                    "view_option_changed"
                } else {
                    "table_option_changed"
                },
                "option",
                format!("{t} WITH {o}"),
                fix,
            )
        }
        Key::View(v) => {
            let create = want
                .views
                .iter()
                .find(|x| &x.name == v)
                .map(create_view)
                .unwrap_or_default();
            let drop = format!("DROP MATERIALIZED VIEW IF EXISTS {};", quote(v));
            match (&expected, &live) {
                (Some(_), None) => ("view_dropped", "view", v.clone(), create),
                (None, _) => ("view_added", "view", v.clone(), drop),
                _ => (
                    "view_changed",
                    "view",
                    v.clone(),
                    format!("{drop}\n{create}"),
                ),
            }
        }
        Key::Index(i) => {
            let create = want
                .indexes
                .iter()
                .find(|x| &x.name == i)
                .map(create_index)
                .unwrap_or_default();
            let drop = format!("DROP INDEX IF EXISTS {};", quote(i));
            match (&expected, &live) {
                (Some(_), None) => ("index_dropped", "index", i.clone(), create),
                (None, _) => ("index_added", "index", i.clone(), drop),
                _ => (
                    "index_changed",
                    "index",
                    i.clone(),
                    format!("{drop}\n{create}"),
                ),
            }
        }
        Key::Function(sig) | Key::Aggregate(sig) => {
            let function = matches!(key, Key::Function(_));
            let (name, args) = sig.split_once('(').unwrap_or((sig, ")"));
            let drop = format!(
                "DROP {} IF EXISTS {}({};",
                if function { "FUNCTION" } else { "AGGREGATE" },
                quote(name),
                args
            );
            let fix = expected.clone().unwrap_or(drop);
            let kind = match (function, &expected, &live) {
                (true, Some(_), None) => "function_dropped",
                (true, None, _) => "function_added",
                (true, _, _) => "function_changed",
                (false, Some(_), None) => "aggregate_dropped",
                (false, None, _) => "aggregate_added",
                (false, _, _) => "aggregate_changed",
            };
            (
                kind,
                if function { "function" } else { "aggregate" },
                sig.clone(),
                fix,
            )
        }
        Key::Trigger(t, n) => {
            let create = expected.as_ref().map(|class| {
                format!(
                    "CREATE TRIGGER IF NOT EXISTS {} ON {} USING {};",
                    quote(n),
                    quote(t),
                    literal(class)
                )
            });
            let drop = format!("DROP TRIGGER IF EXISTS {} ON {};", quote(n), quote(t));
            match (&create, &live) {
                (Some(c), None) => ("trigger_dropped", "trigger", format!("{t}.{n}"), c.clone()),
                (None, _) => ("trigger_added", "trigger", format!("{t}.{n}"), drop),
                (Some(c), Some(_)) => (
                    "trigger_changed",
                    "trigger",
                    format!("{t}.{n}"),
                    format!("{drop}\n{c}"),
                ),
            }
        }
    };
    // An option at its default is absent from both sides: say the default.
    let shown = |v: &Option<String>| match key {
        Key::TableOption(_, o) | Key::ViewOption(_, o) => v
            .clone()
            .or_else(|| default_of(o).map(|d| value(&d)))
            .or_else(|| Some("unset".into())),
        _ => v.clone(),
    };
    Finding {
        kind,
        message: format!(
            "{noun} {object}: {}",
            sides(shown(&expected).as_ref(), shown(&live).as_ref())
        ),
        object,
        expected,
        live,
        side,
        fix: fix.trim_end().to_string(),
    }
}

/// One list merged three ways by `key`: an item the run left as it was (`before` ==
/// `after`) is the recorded one (`s0`, which may differ: drift the run did not touch
/// stays drift); one the run changed is `after`'s, merged with `sub` where all three
/// have it. Order: `after`'s, then what only `s0` has.
fn merge_by<T: Clone + PartialEq, K: Ord + Clone>(
    s0: &[T],
    before: &[T],
    after: &[T],
    key: impl Fn(&T) -> K,
    sub: impl Fn(&T, &T, &T) -> T,
) -> Vec<T> {
    let find = |list: &[T], k: &K| list.iter().find(|x| key(x) == *k).cloned();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for k in after.iter().chain(s0).chain(before).map(&key) {
        if !seen.insert(k.clone()) {
            continue;
        }
        let (x0, xb, xa) = (find(s0, &k), find(before, &k), find(after, &k));
        let merged = if xb == xa {
            x0
        } else {
            match (&x0, &xb, &xa) {
                (Some(a), Some(b), Some(c)) => Some(sub(a, b, c)),
                _ => xa,
            }
        };
        out.extend(merged);
    }
    out
}

/// The same three-way rule for a map's entries.
fn merge_map<V: Clone + PartialEq>(
    s0: &BTreeMap<String, V>,
    before: &BTreeMap<String, V>,
    after: &BTreeMap<String, V>,
) -> BTreeMap<String, V> {
    let keys: BTreeSet<&String> = s0.keys().chain(before.keys()).chain(after.keys()).collect();
    keys.into_iter()
        .filter_map(|k| {
            let v = if before.get(k) == after.get(k) {
                s0.get(k)
            } else {
                after.get(k)
            };
            v.map(|v| (k.clone(), v.clone()))
        })
        .collect()
}

/// The run's version of an item all three sides have.
fn take_after<T: Clone>(_: &T, _: &T, after: &T) -> T {
    after.clone()
}

fn merge_table(s0: &Table, before: &Table, after: &Table) -> Table {
    let mut columns = merge_by(
        &s0.columns,
        &before.columns,
        &after.columns,
        |c| c.name.clone(),
        take_after,
    );
    columns.sort_by(|a, b| {
        (a.kind, a.position, a.name.as_str()).cmp(&(b.kind, b.position, b.name.as_str()))
    });
    Table {
        name: after.name.clone(),
        columns,
        options: merge_map(&s0.options, &before.options, &after.options),
        view: if before.view == after.view {
            s0.view.clone()
        } else {
            after.view.clone()
        },
    }
}

/// The schema to record after a run: `recorded` (what the scripts had made before it)
/// with what the run changed (from `before` to `after`, both read under its lock)
/// applied — so drift from before the run that the run did not touch is still drift.
pub fn merge(
    recorded: &KeyspaceSchema,
    before: &KeyspaceSchema,
    after: &KeyspaceSchema,
) -> KeyspaceSchema {
    let mut merged = KeyspaceSchema {
        name: after.name.clone(),
        replication: if before.replication == after.replication {
            recorded.replication.clone()
        } else {
            after.replication.clone()
        },
        durable_writes: if before.durable_writes == after.durable_writes {
            recorded.durable_writes
        } else {
            after.durable_writes
        },
        types: merge_by(
            &recorded.types,
            &before.types,
            &after.types,
            |t| t.name.clone(),
            |a, b, c| super::UserType {
                name: c.name.clone(),
                fields: merge_by(&a.fields, &b.fields, &c.fields, |f| f.0.clone(), take_after),
            },
        ),
        tables: merge_by(
            &recorded.tables,
            &before.tables,
            &after.tables,
            |t| t.name.clone(),
            merge_table,
        ),
        views: merge_by(
            &recorded.views,
            &before.views,
            &after.views,
            |t| t.name.clone(),
            merge_table,
        ),
        indexes: merge_by(
            &recorded.indexes,
            &before.indexes,
            &after.indexes,
            |i| i.name.clone(),
            take_after,
        ),
        functions: merge_by(
            &recorded.functions,
            &before.functions,
            &after.functions,
            |f| (f.name.clone(), f.arguments.clone()),
            take_after,
        ),
        aggregates: merge_by(
            &recorded.aggregates,
            &before.aggregates,
            &after.aggregates,
            |a| (a.name.clone(), a.argument_types.clone()),
            take_after,
        ),
        triggers: merge_by(
            &recorded.triggers,
            &before.triggers,
            &after.triggers,
            |t| (t.table.clone(), t.name.clone()),
            take_after,
        ),
    };
    super::read::sort(&mut merged);
    merged
}

#[cfg(test)]
mod tests;
