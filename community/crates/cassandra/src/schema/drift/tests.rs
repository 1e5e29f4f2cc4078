use super::*;
use crate::schema::{Aggregate, Column, Function, Index, OptionValue, UserType, View};

fn col(name: &str, ty: &str, kind: Kind, position: i32) -> Column {
    Column {
        name: name.into(),
        cql_type: ty.into(),
        kind,
        position,
        clustering_order: if kind == Kind::Clustering {
            "ASC".into()
        } else {
            "NONE".into()
        },
    }
}

fn users() -> Table {
    Table {
        name: "users".into(),
        columns: vec![
            col("id", "int", Kind::PartitionKey, 0),
            col("name", "text", Kind::Regular, -1),
        ],
        options: [
            ("comment".to_string(), OptionValue::Text(String::new())),
            ("default_time_to_live".to_string(), OptionValue::Int(0)),
            ("gc_grace_seconds".to_string(), OptionValue::Int(864_000)),
        ]
        .into_iter()
        .collect(),
        view: None,
    }
}

fn base() -> KeyspaceSchema {
    let view = Table {
        name: "users_by_name".into(),
        columns: vec![
            col("name", "text", Kind::PartitionKey, 0),
            col("id", "int", Kind::Clustering, 0),
        ],
        options: BTreeMap::new(),
        view: Some(View {
            base: "users".into(),
            include_all_columns: true,
            where_clause: "name IS NOT NULL AND id IS NOT NULL".into(),
        }),
    };
    KeyspaceSchema {
        name: "app".into(),
        replication: [
            (
                "class".to_string(),
                "org.apache.cassandra.locator.SimpleStrategy".to_string(),
            ),
            ("replication_factor".to_string(), "1".to_string()),
        ]
        .into_iter()
        .collect(),
        durable_writes: true,
        types: vec![UserType {
            name: "addr".into(),
            fields: vec![("street".into(), "text".into())],
        }],
        tables: vec![users()],
        views: vec![view],
        indexes: vec![Index {
            name: "users_name_idx".into(),
            table: "users".into(),
            kind: "COMPOSITES".into(),
            options: [("target".to_string(), "name".to_string())]
                .into_iter()
                .collect(),
        }],
        functions: vec![Function {
            name: "plus".into(),
            arguments: vec![("a".into(), "int".into()), ("b".into(), "int".into())],
            return_type: "int".into(),
            language: "java".into(),
            body: "return a + b;".into(),
            called_on_null_input: false,
        }],
        aggregates: vec![Aggregate {
            name: "total".into(),
            argument_types: vec!["int".into()],
            state_func: "plus".into(),
            state_type: "int".into(),
            final_func: None,
            initcond: Some("0".into()),
        }],
        triggers: Vec::new(),
    }
}

fn users_mut(s: &mut KeyspaceSchema) -> &mut Table {
    s.tables.iter_mut().find(|t| t.name == "users").unwrap()
}

/// `(kind, object, fix)` of each finding.
fn found(live: &KeyspaceSchema) -> Vec<(&'static str, String, String)> {
    compare(&base(), live)
        .into_iter()
        .map(|f| (f.kind, f.object, f.fix))
        .collect()
}

fn one(kind: &'static str, object: &str, fix: &str) -> Vec<(&'static str, String, String)> {
    vec![(kind, object.to_string(), fix.to_string())]
}

#[test]
fn the_same_schema_has_no_drift_and_options_at_their_defaults_count_as_absent() {
    assert!(compare(&base(), &base()).is_empty());
    let mut live = base();
    // A server upgrade that adds options at their defaults is not drift.
    let t = users_mut(&mut live);
    t.options.insert("cdc".into(), OptionValue::Bool(false));
    t.options.remove("comment");
    assert!(compare(&base(), &live).is_empty());
}

#[test]
fn tables_and_columns() {
    let mut live = base();
    live.tables.push(Table {
        name: "tmp".into(),
        ..users()
    });
    assert_eq!(
        found(&live),
        one("table_added", "tmp", "DROP TABLE IF EXISTS tmp;")
    );

    let mut live = base();
    live.tables.clear();
    let f = compare(&base(), &live);
    assert_eq!(
        f.len(),
        1,
        "one finding for the table, none for its columns: {f:?}"
    );
    assert_eq!(f[0].kind, "table_dropped");
    assert_eq!(f[0].side, Side::Restore);
    assert_eq!(
        f[0].fix,
        "CREATE TABLE IF NOT EXISTS users (\n    id int,\n    name text,\n    PRIMARY KEY (id)\n);"
    );
    assert_eq!(
        f[0].message,
        "table users: made by the scripts, missing live"
    );

    let mut live = base();
    users_mut(&mut live)
        .columns
        .push(col("email", "text", Kind::Regular, -1));
    let f = compare(&base(), &live);
    assert_eq!(
        (
            f[0].kind,
            f[0].object.as_str(),
            f[0].fix.as_str(),
            f[0].side
        ),
        (
            "column_added",
            "users.email",
            "ALTER TABLE users DROP email;",
            Side::Unrecorded
        )
    );
    assert_eq!(
        f[0].message,
        "column users.email: live, never made by a script"
    );

    let mut live = base();
    users_mut(&mut live).columns.pop();
    assert_eq!(
        found(&live),
        one(
            "column_dropped",
            "users.name",
            "ALTER TABLE users ADD name text;"
        )
    );

    let mut live = base();
    users_mut(&mut live).columns[1].cql_type = "int".into();
    let f = compare(&base(), &live);
    assert_eq!(f[0].kind, "column_type_changed");
    assert_eq!(
        f[0].message,
        "column users.name: int live, text by the scripts"
    );
    assert!(f[0]
        .fix
        .starts_with("-- Cassandra cannot change a column's type back"));

    let mut live = base();
    users_mut(&mut live).columns[0].cql_type = "bigint".into();
    assert_eq!(compare(&base(), &live)[0].kind, "primary_key_changed");
}

#[test]
fn table_options() {
    for (option, live_value, fix) in [
        (
            "compaction",
            OptionValue::Map(
                [(
                    "class".to_string(),
                    "org.apache.cassandra.db.compaction.LeveledCompactionStrategy".to_string(),
                )]
                .into_iter()
                .collect(),
            ),
            "ALTER TABLE users WITH compaction = {'class': 'org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy', 'max_threshold': '32', 'min_threshold': '4'};",
        ),
        (
            "default_time_to_live",
            OptionValue::Int(60),
            "ALTER TABLE users WITH default_time_to_live = 0;",
        ),
        (
            "caching",
            OptionValue::Map(
                [
                    ("keys".to_string(), "NONE".to_string()),
                    ("rows_per_partition".to_string(), "NONE".to_string()),
                ]
                .into_iter()
                .collect(),
            ),
            "ALTER TABLE users WITH caching = {'keys': 'ALL', 'rows_per_partition': 'NONE'};",
        ),
        (
            "comment",
            OptionValue::Text("hot fix".into()),
            "ALTER TABLE users WITH comment = '';",
        ),
    ] {
        let mut live = base();
        users_mut(&mut live).options.insert(option.into(), live_value);
        assert_eq!(
            found(&live),
            one("table_option_changed", &format!("users WITH {option}"), fix),
            "{option}"
        );
    }
    // Set by the scripts, changed live: back to the scripts' value.
    let mut want = base();
    users_mut(&mut want)
        .options
        .insert("comment".into(), OptionValue::Text("users".into()));
    let f = compare(&want, &base());
    assert_eq!(f[0].fix, "ALTER TABLE users WITH comment = 'users';");
    assert_eq!(
        f[0].message,
        "option users WITH comment: '' live, 'users' by the scripts"
    );
}

#[test]
fn indexes_types_views_functions_aggregates_and_the_keyspace() {
    let mut live = base();
    live.indexes.clear();
    assert_eq!(
        found(&live),
        one(
            "index_dropped",
            "users_name_idx",
            "CREATE INDEX IF NOT EXISTS users_name_idx ON users (name);"
        )
    );
    let mut live = base();
    live.indexes.push(Index {
        name: "users_id_idx".into(),
        ..base().indexes[0].clone()
    });
    assert_eq!(
        found(&live),
        one(
            "index_added",
            "users_id_idx",
            "DROP INDEX IF EXISTS users_id_idx;"
        )
    );

    let mut live = base();
    live.types[0].fields.push(("zip".into(), "int".into()));
    let f = found(&live);
    assert_eq!((f[0].0, f[0].1.as_str()), ("type_field_added", "addr.zip"));
    assert!(f[0].2.starts_with("-- Cassandra cannot remove a field"));

    let mut live = base();
    live.views.push(Table {
        name: "by_id".into(),
        ..base().views[0].clone()
    });
    assert_eq!(
        found(&live),
        one(
            "view_added",
            "by_id",
            "DROP MATERIALIZED VIEW IF EXISTS by_id;"
        )
    );

    let mut live = base();
    live.functions[0].body = "return a - b;".into();
    let f = compare(&base(), &live);
    assert_eq!(
        (f[0].kind, f[0].object.as_str()),
        ("function_changed", "plus(int, int)")
    );
    assert!(f[0]
        .fix
        .starts_with("CREATE OR REPLACE FUNCTION plus(a int, b int)"));
    assert!(f[0].fix.contains("AS $$return a + b;$$;"), "{}", f[0].fix);

    let mut live = base();
    live.aggregates[0].initcond = Some("1".into());
    let f = compare(&base(), &live);
    assert_eq!(
        (f[0].kind, f[0].object.as_str()),
        ("aggregate_changed", "total(int)")
    );
    assert!(f[0].fix.contains("INITCOND 0;"), "{}", f[0].fix);

    let mut live = base();
    live.replication
        .insert("replication_factor".into(), "3".into());
    assert_eq!(
        found(&live),
        one(
            "replication_changed",
            "app replication",
            "ALTER KEYSPACE app WITH replication = {'class': 'org.apache.cassandra.locator.SimpleStrategy', 'replication_factor': '1'};"
        )
    );
}

#[test]
fn a_merge_takes_what_the_run_changed_and_keeps_drift_it_did_not_touch() {
    let recorded = base();
    // Out of band before the run: a column on users, a comment.
    let mut before = base();
    users_mut(&mut before)
        .columns
        .push(col("oob", "text", Kind::Regular, -1));
    users_mut(&mut before)
        .options
        .insert("comment".into(), OptionValue::Text("oob".into()));
    // The run: a new table, a column on users, an index dropped.
    let mut after = before.clone();
    after.tables.push(Table {
        name: "orders".into(),
        ..users()
    });
    users_mut(&mut after)
        .columns
        .push(col("email", "text", Kind::Regular, -1));
    after.indexes.clear();

    let merged = merge(&recorded, &before, &after);
    let names: Vec<&str> = merged.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["orders", "users"]);
    assert!(merged.indexes.is_empty());
    let f: Vec<(&str, String)> = compare(&merged, &after)
        .into_iter()
        .map(|f| (f.kind, f.object))
        .collect();
    assert_eq!(
        f,
        [
            ("column_added", "users.oob".to_string()),
            ("table_option_changed", "users WITH comment".to_string())
        ],
        "the out-of-band changes are still drift; the run's are not"
    );
    // A run that changed nothing records what was recorded.
    assert_eq!(merge(&recorded, &before, &before), recorded);
    // No record and a fresh keyspace: what the run made.
    let empty = KeyspaceSchema {
        name: "app".into(),
        ..KeyspaceSchema::default()
    };
    assert!(compare(&merge(&empty, &empty, &after), &after).is_empty());
}

#[test]
fn a_record_round_trips_through_json() {
    let s = base();
    let text = serde_json::to_string(&s).unwrap();
    let back: KeyspaceSchema = serde_json::from_str(&text).unwrap();
    assert_eq!(back, s);
}
