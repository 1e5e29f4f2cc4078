//! Defines a keyspace's schema as `system_schema` describes it — user types, tables and
//! their columns and options, indexes, materialized views, functions, aggregates and
//! triggers — read in one pass, for `baseline` (rendered back to CQL), the pre-flight
//! (what a deploy's statements would meet) and schema drift (recorded after a run,
//! compared with the live schema later).

pub mod drift;
mod read;
pub mod record;
mod render;

pub use read::{read_keyspace, read_keyspaces};
pub use render::{quote, render_keyspace};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A table option's value, as `system_schema` holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptionValue {
    /// `text`.
    Text(String),
    /// `int`.
    Int(i64),
    /// `double`.
    Double(f64),
    /// `boolean`.
    Bool(bool),
    /// `map<text, text>`.
    Map(BTreeMap<String, String>),
    /// `map<text, blob>` (extensions), hex without `0x`.
    BlobMap(BTreeMap<String, String>),
}

/// A column's role in its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Partition key (by position).
    PartitionKey,
    /// Clustering column (by position).
    Clustering,
    /// Static column.
    Static,
    /// Regular column.
    Regular,
}

/// One column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    /// Its name (as stored: the case it was created with).
    pub name: String,
    /// Its CQL type (`frozen<list<int>>`, `vector<float, 3>`, …).
    pub cql_type: String,
    /// Its role.
    pub kind: Kind,
    /// Position among the partition key or clustering columns.
    pub position: i32,
    /// `ASC`/`DESC` for clustering columns.
    pub clustering_order: String,
}

/// A table or a materialized view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// Its name.
    pub name: String,
    /// Columns in schema order: partition key, clustering, then the others by name.
    pub columns: Vec<Column>,
    /// Options that are set (null ones are left out).
    pub options: BTreeMap<String, OptionValue>,
    /// For a view: its base table, `SELECT *` or not, and its where clause.
    pub view: Option<View>,
}

/// What makes a table a materialized view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct View {
    /// The base table.
    pub base: String,
    /// `SELECT *`.
    pub include_all_columns: bool,
    /// The `WHERE` clause, as stored.
    pub where_clause: String,
}

/// A user-defined type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserType {
    /// Its name.
    pub name: String,
    /// Fields: name and CQL type.
    pub fields: Vec<(String, String)>,
}

/// An index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    /// Its name.
    pub name: String,
    /// The indexed table.
    pub table: String,
    /// `COMPOSITES`, `KEYS` or `CUSTOM`.
    pub kind: String,
    /// Its options (`target`, `class_name`, …).
    pub options: BTreeMap<String, String>,
}

/// A user-defined function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Function {
    /// Its name.
    pub name: String,
    /// Argument names and types.
    pub arguments: Vec<(String, String)>,
    /// The return type.
    pub return_type: String,
    /// `java`, …
    pub language: String,
    /// The body, exactly.
    pub body: String,
    /// `CALLED ON NULL INPUT` (else `RETURNS NULL ON NULL INPUT`).
    pub called_on_null_input: bool,
}

/// A user-defined aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aggregate {
    /// Its name.
    pub name: String,
    /// Argument types.
    pub argument_types: Vec<String>,
    /// The state function.
    pub state_func: String,
    /// The state type.
    pub state_type: String,
    /// The final function, if any.
    pub final_func: Option<String>,
    /// The initial condition (a CQL literal), if any.
    pub initcond: Option<String>,
}

/// A trigger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    /// Its name.
    pub name: String,
    /// Its table.
    pub table: String,
    /// Its class.
    pub class: String,
}

/// Everything `system_schema` says about one keyspace, each list sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyspaceSchema {
    /// The keyspace.
    pub name: String,
    /// Its replication (`class` and the factors), as stored.
    #[serde(default)]
    pub replication: BTreeMap<String, String>,
    /// `durable_writes`.
    #[serde(default = "yes")]
    pub durable_writes: bool,
    /// User-defined types.
    pub types: Vec<UserType>,
    /// Tables (views are in `views`).
    pub tables: Vec<Table>,
    /// Materialized views.
    pub views: Vec<Table>,
    /// Indexes.
    pub indexes: Vec<Index>,
    /// Functions.
    pub functions: Vec<Function>,
    /// Aggregates.
    pub aggregates: Vec<Aggregate>,
    /// Triggers.
    pub triggers: Vec<Trigger>,
}

fn yes() -> bool {
    true
}

/// Keyspaces cassachange never baselines.
pub fn is_system_keyspace(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.starts_with("system") || n == "dse_system" || n == "solr_admin"
}
