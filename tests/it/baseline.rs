//! `baseline` round trip on the real node: a keyspace with nested user types, every kind
//! of column, changed table options, secondary, SAI and custom indexes, a materialized
//! view, functions and an aggregate is written out, deployed into an empty keyspace by
//! `cassachange deploy`, and the two keyspaces' `system_schema` rows compared.

use std::collections::BTreeMap;

use cassachange_tests::db::{text, Instance};
use cassachange_tests::Project;
use scylla::value::CqlValue;

/// The rich schema, for keyspace `{ks}`.
const RICH: &[&str] = &[
    "CREATE TYPE {ks}.address (street text, city text)",
    "CREATE TYPE {ks}.person (name text, home frozen<address>, tags set<text>)",
    "CREATE TABLE {ks}.events (id uuid, day date, at timestamp, owner text static, \
     payload map<text, frozen<address>>, nums list<int>, pairs set<frozen<list<int>>>, \
     t tuple<int, text>, d duration, v vector<float, 3>, who frozen<person>, \"Mixed\" text, \
     PRIMARY KEY ((id, day), at)) WITH CLUSTERING ORDER BY (at DESC) \
     AND comment = 'events, it''s' AND gc_grace_seconds = 3600 \
     AND compaction = {'class': 'LeveledCompactionStrategy', 'sstable_size_in_mb': '64'} \
     AND default_time_to_live = 86400 AND caching = {'keys': 'NONE', 'rows_per_partition': '10'}",
    "CREATE TABLE {ks}.hits (page text PRIMARY KEY, n counter)",
    "CREATE TABLE {ks}.\"Users\" (id int PRIMARY KEY, name text, email text, tags set<text>, \
     attrs map<text, text>, \"select\" int) WITH speculative_retry = '50ms'",
    "CREATE INDEX users_email ON {ks}.\"Users\" (email)",
    "CREATE INDEX users_attr_keys ON {ks}.\"Users\" (keys(attrs))",
    "CREATE INDEX users_tags ON {ks}.\"Users\" (values(tags))",
    "CREATE CUSTOM INDEX users_name_sai ON {ks}.\"Users\" (name) USING 'StorageAttachedIndex' \
     WITH OPTIONS = {'case_sensitive': 'false', 'normalize': 'true'}",
    "CREATE INDEX events_v ON {ks}.events (v) USING 'sai' \
     WITH OPTIONS = {'similarity_function': 'DOT_PRODUCT'}",
    "CREATE MATERIALIZED VIEW {ks}.users_by_name AS SELECT id, name, email FROM {ks}.\"Users\" \
     WHERE name IS NOT NULL AND id IS NOT NULL PRIMARY KEY (name, id) \
     WITH CLUSTERING ORDER BY (id DESC) AND comment = 'by name'",
    "CREATE FUNCTION {ks}.plus(a int, b int) RETURNS NULL ON NULL INPUT RETURNS int \
     LANGUAGE java AS 'return a + b; /* $$ */'",
    "CREATE FUNCTION {ks}.state_sum(s int, v int) CALLED ON NULL INPUT RETURNS int \
     LANGUAGE java AS $$ if (v == null) return s; return s + v; $$",
    "CREATE FUNCTION {ks}.half(s int) RETURNS NULL ON NULL INPUT RETURNS double \
     LANGUAGE java AS $$ return s / 2.0; $$",
    "CREATE AGGREGATE {ks}.halfsum(int) SFUNC state_sum STYPE int FINALFUNC half INITCOND 0",
];

/// Every `system_schema` row of `ks`, per schema table, without keyspace names and
/// table ids (they differ by design), as sorted text.
fn schema_rows(db: &Instance, ks: &str) -> BTreeMap<&'static str, Vec<String>> {
    let mut out = BTreeMap::new();
    for table in [
        "types",
        "tables",
        "columns",
        "indexes",
        "views",
        "functions",
        "aggregates",
        "triggers",
    ] {
        let columns: Vec<String> = db
            .rows(&format!(
                "SELECT column_name FROM system_schema.columns WHERE keyspace_name = 'system_schema' AND table_name = '{table}'"
            ))
            .iter()
            .map(|r| text(&r[0]))
            .filter(|c| !matches!(c.as_str(), "keyspace_name" | "id" | "base_table_id" | "column_name_bytes"))
            .collect();
        let mut rows: Vec<String> = db
            .rows(&format!(
                "SELECT {} FROM system_schema.{table} WHERE keyspace_name = '{ks}'",
                columns.join(", ")
            ))
            .iter()
            .map(|r| {
                columns
                    .iter()
                    .zip(r)
                    .map(|(c, v)| format!("{c}={}", show(v.as_ref())))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        rows.sort();
        out.insert(table, rows);
    }
    out
}

fn show(v: Option<&CqlValue>) -> String {
    match v {
        Some(CqlValue::Map(m)) => {
            let mut items: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}:{}", show(Some(k)), show(Some(v))))
                .collect();
            items.sort();
            format!("{{{}}}", items.join(","))
        }
        Some(CqlValue::Set(s)) => {
            let mut items: Vec<String> = s.iter().map(|x| show(Some(x))).collect();
            items.sort();
            format!("{{{}}}", items.join(","))
        }
        other => text(&other.cloned()),
    }
}

fn a_baseline_re_creates_the_keyspace_exactly_and_deploys_idempotently(db: &'static Instance) {
    let a = db.keyspace("bla");
    let b = db.keyspace("blb");
    let h = db.keyspace("blh");
    // Cassandra 4.1 has no vector type and no SAI.
    let on_4 = db.is_cassandra_4();
    let rich: Vec<&str> = RICH
        .iter()
        .copied()
        .filter(|s| !(on_4 && (s.contains("'sai'") || s.contains("StorageAttachedIndex"))))
        .collect();
    for stmt in rich {
        let stmt = if on_4 {
            stmt.replace(" v vector<float, 3>,", "")
        } else {
            stmt.to_string()
        };
        db.exec(&stmt.replace("{ks}", &a.name));
    }
    let indexes = if on_4 { 3 } else { 5 };
    let p = Project::new();
    p.write(
        "cassachange.yml",
        format!(
            "{}keyspace: {}\nhistory_keyspace: {}\nroot_folder: migrations\n",
            db.yaml(),
            a.name,
            h.name
        ),
    );
    let out = p.run(&["baseline", "--baseline-version", "1.0.0"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let file = format!("migrations/V1.0.0__baseline_{}.cql", a.name);
    assert!(
        out.stdout.contains(&format!(
            "Wrote {file} (2 types, 3 tables, {indexes} indexes, 1 views, 3 functions, 1 aggregates, 0 triggers"
        )),
        "{}",
        out.stdout
    );
    let baseline = std::fs::read_to_string(p.path().join(&file)).unwrap();
    assert!(baseline.contains("CREATE MATERIALIZED VIEW IF NOT EXISTS users_by_name AS"));
    assert!(
        baseline.contains("AS 'return a + b; /* $$ */';"),
        "{baseline}"
    );
    let out = p.run(&["validate"]);
    assert_eq!(out.code, 0, "the baseline passes validate: {}", out.all());

    // A second baseline of the same keyspace is byte-identical.
    let out = p.run(&["baseline", "--baseline-version", "1.0.0"]);
    assert!(out.stdout.starts_with("Unchanged:"), "{}", out.stdout);
    let out = p.run(&[
        "baseline",
        "--baseline-version",
        "1.0.0",
        "--output",
        "again",
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    let again = std::fs::read_to_string(
        p.path()
            .join(format!("again/V1.0.0__baseline_{}.cql", a.name)),
    )
    .unwrap();
    assert_eq!(again, baseline, "deterministic");

    // Deployed into an empty keyspace, it makes the same schema.
    let out = p.run(&["deploy", "--keyspace", &b.name]);
    assert_eq!(out.code, 0, "{}", out.all());
    let (sa, sb) = (schema_rows(db, &a.name), schema_rows(db, &b.name));
    for table in sa.keys() {
        assert_eq!(
            sa[table], sb[table],
            "system_schema.{table} differs between {} and {}",
            a.name, b.name
        );
    }
    assert!(sa["views"].len() == 1 && sa["indexes"].len() == indexes && sa["functions"].len() == 3);
    // The recorded schema is the live one: no false drift on the rich schema.
    let out = p.run(&["drift", "--keyspace", &b.name]);
    assert_eq!(out.code, 0, "{}", out.all());
    // Deploying it again changes nothing.
    db.exec(&format!(
        "DELETE FROM {}.change_history WHERE script = 'V1.0.0__baseline_{}.cql'",
        h.name, a.name
    ));
    let out = p.run(&["deploy", "--keyspace", &b.name]);
    assert_eq!(out.code, 0, "re-running the file succeeds: {}", out.all());
    assert_eq!(schema_rows(db, &b.name), sb, "and changes nothing");
    let out = p.run(&["drift", "--keyspace", &b.name]);
    assert_eq!(
        out.code,
        0,
        "recorded again by the second deploy: {}",
        out.all()
    );

    // System keyspaces are refused.
    let out = p.run(&["baseline", "--keyspace", "system_schema"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains("'system_schema' is a system keyspace"),
        "{}",
        out.stderr
    );
}

on_both!(a_baseline_re_creates_the_keyspace_exactly_and_deploys_idempotently);
