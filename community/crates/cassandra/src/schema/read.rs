//! Defines how keyspaces' schemas are read from `system_schema`: one query per schema
//! table for any number of keyspaces, every value decoded by type, nothing assumed about which options exist (a
//! 4.1 and a 5.0 server have different ones).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{
    Aggregate, Column, Function, Index, KeyspaceSchema, Kind, OptionValue, Table, Trigger,
    UserType, View,
};
use crate::db::{CqlValue, Db, DbError, Rows};

/// Columns of `system_schema.tables`/`views` that are not table options.
const NOT_OPTIONS: &[&str] = &[
    "keyspace_name",
    "table_name",
    "view_name",
    "id",
    "flags",
    "base_table_id",
    "base_table_name",
    "include_all_columns",
    "where_clause",
    // Kept in system_schema for compatibility; a CREATE TABLE of 4.0+ refuses them.
    "read_repair_chance",
    "dclocal_read_repair_chance",
];

fn text(v: Option<&CqlValue>) -> Option<String> {
    match v {
        Some(CqlValue::Text(s) | CqlValue::Ascii(s)) => Some(s.clone()),
        _ => None,
    }
}

fn text_list(v: Option<&CqlValue>) -> Vec<String> {
    match v {
        Some(CqlValue::List(l) | CqlValue::Set(l)) => {
            l.iter().filter_map(|x| text(Some(x))).collect()
        }
        _ => Vec::new(),
    }
}

fn text_map(v: Option<&CqlValue>) -> BTreeMap<String, String> {
    match v {
        Some(CqlValue::Map(m)) => m
            .iter()
            .filter_map(|(k, v)| Some((text(Some(k))?, text(Some(v))?)))
            .collect(),
        _ => BTreeMap::new(),
    }
}

fn option(name: &str, v: &CqlValue) -> Option<OptionValue> {
    Some(match v {
        CqlValue::Text(s) | CqlValue::Ascii(s) => OptionValue::Text(s.clone()),
        CqlValue::Int(i) => OptionValue::Int(i64::from(*i)),
        CqlValue::BigInt(i) => OptionValue::Int(*i),
        CqlValue::Double(d) => OptionValue::Double(*d),
        CqlValue::Float(f) => OptionValue::Double(f64::from(*f)),
        CqlValue::Boolean(b) => OptionValue::Bool(*b),
        CqlValue::Map(m) => {
            if name == "extensions" || m.iter().any(|(_, v)| matches!(v, CqlValue::Blob(_))) {
                OptionValue::BlobMap(
                    m.iter()
                        .filter_map(|(k, v)| match v {
                            CqlValue::Blob(b) => Some((
                                text(Some(k))?,
                                b.iter().fold(String::new(), |mut s, x| {
                                    let _ = write!(s, "{x:02x}");
                                    s
                                }),
                            )),
                            _ => None,
                        })
                        .collect(),
                )
            } else {
                OptionValue::Map(text_map(Some(v)))
            }
        }
        _ => return None,
    })
}

/// Row `i` of `rows` as name → value.
fn row(rows: &Rows, i: usize) -> BTreeMap<&str, &CqlValue> {
    rows.columns
        .iter()
        .zip(&rows.rows[i])
        .filter_map(|(c, v)| Some((c.as_str(), v.as_ref()?)))
        .collect()
}

/// Rows of `system_schema.<table>` for `keyspaces`, in one query.
async fn select(db: &Db, table: &str, keyspaces: &[String]) -> Result<Rows, DbError> {
    db.query(
        &format!("reading system_schema.{table}"),
        &format!("SELECT * FROM system_schema.{table} WHERE keyspace_name IN ?"),
        vec![Some(CqlValue::List(
            keyspaces
                .iter()
                .map(|k| CqlValue::Text(k.clone()))
                .collect(),
        ))],
    )
    .await
}

/// Reads the whole schema of `keyspace` (its name as stored, lower case unless it
/// was created quoted).
pub async fn read_keyspace(db: &Db, keyspace: &str) -> Result<KeyspaceSchema, DbError> {
    let mut all = read_keyspaces(db, &[keyspace]).await?;
    Ok(all.pop().unwrap_or_default())
}

/// Reads the whole schema of each of `keyspaces` (names as stored), in their order, with
/// one query per `system_schema` table whatever their number. A keyspace that does not
/// exist reads as an empty schema with no replication. The nine queries are sent together.
pub async fn read_keyspaces(db: &Db, keyspaces: &[&str]) -> Result<Vec<KeyspaceSchema>, DbError> {
    let names: Vec<String> = keyspaces.iter().map(|k| (*k).to_string()).collect();
    let mut by_name: BTreeMap<String, KeyspaceSchema> = names
        .iter()
        .map(|n| {
            (
                n.clone(),
                KeyspaceSchema {
                    name: n.clone(),
                    durable_writes: true,
                    ..KeyspaceSchema::default()
                },
            )
        })
        .collect();
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let ks_of = |r: &BTreeMap<&str, &CqlValue>| text(r.get("keyspace_name").copied());

    // The nine reads go out together (one round trip's wait, not nine).
    let (
        keyspace_rows,
        type_rows,
        columns,
        table_rows,
        view_rows,
        index_rows,
        function_rows,
        aggregate_rows,
        trigger_rows,
    ) = Box::pin(async {
        futures_util::try_join!(
            select(db, "keyspaces", &names),
            select(db, "types", &names),
            select(db, "columns", &names),
            select(db, "tables", &names),
            select(db, "views", &names),
            select(db, "indexes", &names),
            select(db, "functions", &names),
            select(db, "aggregates", &names),
            select(db, "triggers", &names),
        )
    })
    .await?;

    let rows = keyspace_rows;
    for i in 0..rows.rows.len() {
        let r = row(&rows, i);
        if let Some(schema) = ks_of(&r).and_then(|k| by_name.get_mut(&k)) {
            schema.replication = text_map(r.get("replication").copied());
            schema.durable_writes =
                !matches!(r.get("durable_writes"), Some(CqlValue::Boolean(false)));
        }
    }

    let rows = type_rows;
    for i in 0..rows.rows.len() {
        let r = row(&rows, i);
        let Some(schema) = ks_of(&r).and_then(|k| by_name.get_mut(&k)) else {
            continue;
        };
        let field_names = text_list(r.get("field_names").copied());
        let types = text_list(r.get("field_types").copied());
        schema.types.push(UserType {
            name: text(r.get("type_name").copied()).unwrap_or_default(),
            fields: field_names.into_iter().zip(types).collect(),
        });
    }

    let mut by_table: BTreeMap<(String, String), Vec<Column>> = BTreeMap::new();
    for i in 0..columns.rows.len() {
        let r = row(&columns, i);
        let kind = match text(r.get("kind").copied()).as_deref() {
            Some("partition_key") => Kind::PartitionKey,
            Some("clustering") => Kind::Clustering,
            Some("static") => Kind::Static,
            _ => Kind::Regular,
        };
        by_table
            .entry((
                ks_of(&r).unwrap_or_default(),
                text(r.get("table_name").copied()).unwrap_or_default(),
            ))
            .or_default()
            .push(Column {
                name: text(r.get("column_name").copied()).unwrap_or_default(),
                cql_type: text(r.get("type").copied()).unwrap_or_default(),
                kind,
                position: match r.get("position") {
                    Some(CqlValue::Int(p)) => *p,
                    _ => -1,
                },
                clustering_order: text(r.get("clustering_order").copied())
                    .unwrap_or_default()
                    .to_ascii_uppercase(),
            });
    }
    for cols in by_table.values_mut() {
        cols.sort_by(|a, b| {
            (a.kind, a.position, a.name.as_str()).cmp(&(b.kind, b.position, b.name.as_str()))
        });
    }
    let table_of =
        |ks: &str, name: &str, r: &BTreeMap<&str, &CqlValue>, view: Option<View>| Table {
            name: name.to_string(),
            columns: by_table
                .get(&(ks.to_string(), name.to_string()))
                .cloned()
                .unwrap_or_default(),
            options: r
                .iter()
                .filter(|(k, _)| !NOT_OPTIONS.contains(k))
                .filter_map(|(k, v)| Some(((*k).to_string(), option(k, v)?)))
                .collect(),
            view,
        };

    let rows = table_rows;
    for i in 0..rows.rows.len() {
        let r = row(&rows, i);
        let Some(ks) = ks_of(&r) else { continue };
        let name = text(r.get("table_name").copied()).unwrap_or_default();
        let table = table_of(&ks, &name, &r, None);
        if let Some(schema) = by_name.get_mut(&ks) {
            schema.tables.push(table);
        }
    }
    let rows = view_rows;
    for i in 0..rows.rows.len() {
        let r = row(&rows, i);
        let Some(ks) = ks_of(&r) else { continue };
        let name = text(r.get("view_name").copied()).unwrap_or_default();
        let view = View {
            base: text(r.get("base_table_name").copied()).unwrap_or_default(),
            include_all_columns: matches!(
                r.get("include_all_columns"),
                Some(CqlValue::Boolean(true))
            ),
            where_clause: text(r.get("where_clause").copied()).unwrap_or_default(),
        };
        let table = table_of(&ks, &name, &r, Some(view));
        if let Some(schema) = by_name.get_mut(&ks) {
            schema.views.push(table);
        }
    }

    let rows = index_rows;
    for i in 0..rows.rows.len() {
        let r = row(&rows, i);
        let Some(schema) = ks_of(&r).and_then(|k| by_name.get_mut(&k)) else {
            continue;
        };
        schema.indexes.push(Index {
            name: text(r.get("index_name").copied()).unwrap_or_default(),
            table: text(r.get("table_name").copied()).unwrap_or_default(),
            kind: text(r.get("kind").copied()).unwrap_or_default(),
            options: text_map(r.get("options").copied()),
        });
    }

    let rows = function_rows;
    for i in 0..rows.rows.len() {
        let r = row(&rows, i);
        let Some(schema) = ks_of(&r).and_then(|k| by_name.get_mut(&k)) else {
            continue;
        };
        let arg_names = text_list(r.get("argument_names").copied());
        let types = text_list(r.get("argument_types").copied());
        schema.functions.push(Function {
            name: text(r.get("function_name").copied()).unwrap_or_default(),
            arguments: arg_names.into_iter().zip(types).collect(),
            return_type: text(r.get("return_type").copied()).unwrap_or_default(),
            language: text(r.get("language").copied()).unwrap_or_default(),
            body: text(r.get("body").copied()).unwrap_or_default(),
            called_on_null_input: matches!(
                r.get("called_on_null_input"),
                Some(CqlValue::Boolean(true))
            ),
        });
    }

    let rows = aggregate_rows;
    for i in 0..rows.rows.len() {
        let r = row(&rows, i);
        let Some(schema) = ks_of(&r).and_then(|k| by_name.get_mut(&k)) else {
            continue;
        };
        schema.aggregates.push(Aggregate {
            name: text(r.get("aggregate_name").copied()).unwrap_or_default(),
            argument_types: text_list(r.get("argument_types").copied()),
            state_func: text(r.get("state_func").copied()).unwrap_or_default(),
            state_type: text(r.get("state_type").copied()).unwrap_or_default(),
            final_func: text(r.get("final_func").copied()),
            initcond: text(r.get("initcond").copied()),
        });
    }

    let rows = trigger_rows;
    for i in 0..rows.rows.len() {
        let r = row(&rows, i);
        let Some(schema) = ks_of(&r).and_then(|k| by_name.get_mut(&k)) else {
            continue;
        };
        schema.triggers.push(Trigger {
            name: text(r.get("trigger_name").copied()).unwrap_or_default(),
            table: text(r.get("table_name").copied()).unwrap_or_default(),
            class: text_map(r.get("options").copied())
                .remove("class")
                .unwrap_or_default(),
        });
    }

    Ok(names
        .iter()
        .map(|n| {
            let mut schema = by_name.get(n).cloned().unwrap_or_default();
            sort(&mut schema);
            schema
        })
        .collect())
}

/// Puts every list of `schema` in its fixed order.
pub(super) fn sort(schema: &mut KeyspaceSchema) {
    schema.types.sort_by(|a, b| a.name.cmp(&b.name));
    schema.tables.sort_by(|a, b| a.name.cmp(&b.name));
    schema.views.sort_by(|a, b| a.name.cmp(&b.name));
    schema
        .indexes
        .sort_by(|a, b| (&a.table, &a.name).cmp(&(&b.table, &b.name)));
    schema
        .functions
        .sort_by(|a, b| (&a.name, &a.arguments).cmp(&(&b.name, &b.arguments)));
    schema
        .aggregates
        .sort_by(|a, b| (&a.name, &a.argument_types).cmp(&(&b.name, &b.argument_types)));
    schema
        .triggers
        .sort_by(|a, b| (&a.table, &a.name).cmp(&(&b.table, &b.name)));
}
