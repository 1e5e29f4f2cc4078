//! Defines what every database command does first: open the session, check the
//! keyspaces exist (cassachange never creates them), and name the operator.

use std::sync::Arc;

use cassachange_cassandra::history::{check_identifier, HistoryTable, IDENTIFIER_RULE};

use crate::config::Settings;
use crate::db::Db;
pub(crate) use crate::host::{hostname, operator};
use crate::ui::UserError;

/// Checks names, opens the session, and verifies every keyspace in `keyspaces`
/// exists (spec §26), before any lock or script.
pub(crate) async fn open(settings: &Settings, keyspaces: &[&str]) -> Result<Arc<Db>, UserError> {
    for ks in keyspaces {
        check_identifier("keyspace", ks).map_err(|e| {
            let key = if settings.history_keyspace.as_deref() == Some(*ks) {
                "history_keyspace"
            } else if settings.origins.contains_key("keyspaces") {
                "keyspaces"
            } else {
                "keyspace"
            };
            let mut err = UserError::error(match settings.origins.get(key) {
                Some(origin) => {
                    format!("{origin}: '{ks}' is not a valid keyspace name: {IDENTIFIER_RULE}")
                }
                None => e,
            });
            if ks.starts_with('"') {
                err = err.hint(
                    "quoted (case-sensitive) keyspace names are not supported: cassachange \
                     writes names unquoted, which CQL reads in lower case",
                );
            }
            err
        })?;
    }
    check_identifier("history_table", &settings.history_table).map_err(|e| {
        UserError::error(match settings.origins.get("history_table") {
            Some(origin) => format!("{origin}: {e}"),
            None => e,
        })
    })?;
    if settings.astra_token.is_some() && settings.secure_connect_bundle.is_none() {
        crate::ui::warn(format_args!(
            "astra_token is set (from {}) but secure_connect_bundle is not: connecting to the \
             hosts as plain Cassandra, as the original does; the token is not used",
            settings.origin("astra_token")
        ));
    }
    let db = Db::connect(settings).await.map_err(UserError::from)?;
    let existing = db.keyspaces().await.map_err(UserError::from)?;
    let missing: Vec<&str> = keyspaces
        .iter()
        .copied()
        .filter(|k| !existing.contains(&k.to_ascii_lowercase()))
        .collect();
    if !missing.is_empty() {
        let dc = local_datacenter(&db)
            .await
            .unwrap_or_else(|| "datacenter1".into());
        let names = missing
            .iter()
            .map(|k| format!("'{k}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let verb = if missing.len() == 1 { "does" } else { "do" };
        let mut err = UserError::error(format!(
            "Keyspace {names} {verb} not exist at {}.",
            db.contact()
        ));
        // A keyspace created with a quoted, mixed-case name: CQL reads unquoted names
        // in lower case, and cassachange writes names unquoted.
        for k in &missing {
            if let Some(quoted) = existing.iter().find(|e| e.eq_ignore_ascii_case(k)) {
                err = err.hint(format!(
                    "a keyspace \"{quoted}\" exists, created with a quoted (case-sensitive) \
                     name; cassachange reads keyspace names as CQL reads unquoted ones, in \
                     lower case ('{k}' is {}), and does not deploy to quoted names",
                    k.to_ascii_lowercase()
                ));
            }
        }
        err = err.hint("cassachange never creates keyspaces. Create it via your admin UI, Terraform or cqlsh before running cassachange:");
        for k in missing {
            err = err.hint(format!(
                "  CREATE KEYSPACE IF NOT EXISTS {k}\n    WITH replication = {{'class': 'NetworkTopologyStrategy', '{dc}': 3}};"
            ));
        }
        return Err(err);
    }
    Ok(Arc::new(db))
}

async fn local_datacenter(db: &Db) -> Option<String> {
    let rows = db
        .query(
            "reading the local datacenter",
            "SELECT data_center FROM system.local",
            vec![],
        )
        .await
        .ok()?;
    rows.text(0, "data_center")
}

/// What `deploy` and `rollback` open: the session (after checking the history and
/// target keyspaces), attached to the edition for the audit log, and the history table.
pub(crate) async fn open_run<'s>(
    settings: &'s Settings,
    edition: &dyn crate::edition::Edition,
) -> Result<(Arc<Db>, HistoryTable, Vec<&'s str>), UserError> {
    let history_keyspace = settings
        .require_history_keyspace()
        .map_err(|e| UserError::error(e.to_string()))?;
    let keyspaces: Vec<&str> = settings.keyspaces.iter().map(String::as_str).collect();
    let mut all = vec![history_keyspace];
    all.extend(keyspaces.iter().copied());
    let db = open(settings, &all).await?;
    check_history_consistency(&db, settings, history_keyspace).await?;
    edition.attach(db.clone(), history_keyspace, settings.history_consistency);
    Ok((
        db.clone(),
        history_table(&db, settings, history_keyspace),
        keyspaces,
    ))
}

/// The history table named by `settings`, at its consistency levels.
pub(crate) fn history_table(
    db: &Arc<Db>,
    settings: &Settings,
    history_keyspace: &str,
) -> HistoryTable {
    HistoryTable::new(
        db.clone(),
        history_keyspace,
        &settings.history_table,
        settings.history_consistency,
    )
}

/// The schema records kept beside the history table named by `settings`.
pub(crate) fn schema_records(
    db: &Arc<Db>,
    settings: &Settings,
    history_keyspace: &str,
) -> crate::schema::record::SchemaRecords {
    crate::schema::record::SchemaRecords::new(
        db.clone(),
        history_keyspace,
        &settings.history_table,
        settings.history_consistency,
    )
}

/// `history_consistency: each_quorum` writes at `EACH_QUORUM`, which Cassandra only
/// accepts on a keyspace replicated with `NetworkTopologyStrategy`: say so before the
/// lock, not after the first script.
pub(crate) async fn check_history_consistency(
    db: &Db,
    settings: &Settings,
    history_keyspace: &str,
) -> Result<(), UserError> {
    use crate::db::CqlValue;
    if settings.history_consistency != crate::config::HistoryConsistency::EachQuorum {
        return Ok(());
    }
    let rows = db
        .query(
            "reading the history keyspace's replication",
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?",
            vec![Some(CqlValue::Text(history_keyspace.to_ascii_lowercase()))],
        )
        .await
        .map_err(UserError::from)?;
    let class = match rows.rows.first().and_then(|r| r.first()) {
        Some(Some(CqlValue::Map(entries))) => entries.iter().find_map(|(k, v)| match (k, v) {
            (CqlValue::Text(k), CqlValue::Text(v)) if k == "class" => Some(v.clone()),
            _ => None,
        }),
        _ => None,
    }
    .unwrap_or_default();
    if class.ends_with("NetworkTopologyStrategy") {
        return Ok(());
    }
    Err(UserError::error(format!(
        "history_consistency: each_quorum (from {}) needs the history keyspace '{history_keyspace}' \
         to be replicated with NetworkTopologyStrategy; it uses {}",
        settings.origin("history_consistency"),
        class.rsplit('.').next().unwrap_or("another strategy")
    ))
    .hint("use history_consistency: quorum (the default), or replicate the history keyspace per datacenter"))
}
