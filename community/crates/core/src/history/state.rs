//! Defines what history rows mean: the state of every script in one keyspace, derived
//! from the latest event per version (versioned scripts) or per file (the others).
//!
//! SUCCESS means applied; FAILED and ROLLED_BACK mean pending again; REPAIRED marks a
//! FAILED script as retried-on-purpose and changes nothing else. Rows written by the
//! Python tool 1.0.0 read the same way (its rollback rows are `ROLLBACK_V<version>`).

use std::collections::HashMap;

/// Text of a history row: shared, since a history repeats the same keyspaces,
/// statuses, scripts and checksums thousands of times (see `table.rs`, which interns).
pub type Text = std::sync::Arc<str>;

/// One `change_history` row, as read (every column may be null in rows of old tools).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryRow {
    /// Milliseconds since the epoch (the table's `installed_on`).
    pub installed_on: i64,
    /// File name, or `ROLLBACK_V<version>` for a rollback sentinel.
    pub script: Text,
    /// `versioned`, `undo`, `repeatable`, `always`, or `repair`.
    pub script_type: Option<Text>,
    /// Version text, for versioned/undo rows and rollback sentinels.
    pub version: Option<Text>,
    /// Description.
    pub description: Option<Text>,
    /// MD5 of the script text.
    pub checksum: Option<Text>,
    /// Milliseconds the script took.
    pub execution_time: Option<i32>,
    /// `SUCCESS`, `FAILED`, `ROLLED_BACK` or `REPAIRED`.
    pub status: Option<Text>,
    /// Who ran it.
    pub installed_by: Option<Text>,
    /// Target keyspace.
    pub keyspace_name: Option<Text>,
    /// Release tag.
    pub tag: Option<Text>,
    /// Run id.
    pub run_id: Option<Text>,
}

/// The statuses a row can carry.
pub mod status {
    /// Ran and succeeded.
    pub const SUCCESS: &str = "SUCCESS";
    /// Ran and failed.
    pub const FAILED: &str = "FAILED";
    /// Undone by rollback.
    pub const ROLLED_BACK: &str = "ROLLED_BACK";
    /// A FAILED script marked for retry by `repair`.
    pub const REPAIRED: &str = "REPAIRED";
    /// Never written to the history table: the status of the row standing for an open
    /// intent (a run started the script and recorded no outcome; see `history::table`).
    pub const INTERRUPTED: &str = "INTERRUPTED";
}

/// The description of an open intent that says nothing more: the run that started the
/// script died (or lost its lease) before it recorded anything.
pub const NO_OUTCOME: &str = "started; no outcome recorded";

/// Where a versioned script (by version) or another script (by file) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Its latest event is a success.
    Applied,
    /// Its latest event is a failure.
    Failed,
    /// A failure marked for retry by `repair`.
    Repaired,
    /// Undone by rollback.
    RolledBack,
    /// Started by a run that ended without recording an outcome (killed, or its lease
    /// lost): some of its statements may have run. Deploy stops until `repair` marks it.
    Interrupted,
}

impl State {
    /// True when deploy should run it (for versioned scripts).
    pub fn is_pending(self) -> bool {
        self != State::Applied
    }
}

/// The state of one version or one file, with the rows that decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Current state.
    pub state: State,
    /// The row that set it.
    pub last: HistoryRow,
    /// The latest SUCCESS row, if any (its checksum is what was applied).
    pub last_success: Option<HistoryRow>,
}

/// The history of one keyspace.
#[derive(Debug, Clone, Default)]
pub struct KeyspaceHistory {
    /// By version text.
    pub versions: HashMap<String, Entry>,
    /// By file name, for repeatable, always and undo scripts and for any versioned
    /// file (so `repair` and `status` can speak in file names).
    pub files: HashMap<String, Entry>,
}

fn rank(status: &str) -> u8 {
    match status {
        status::SUCCESS => 0,
        status::FAILED => 1,
        status::REPAIRED => 2,
        status::INTERRUPTED => 3,
        _ => 4,
    }
}

impl KeyspaceHistory {
    /// Builds the state of `keyspace` from all rows of the history table. Rows match
    /// in any letter case: unquoted CQL names are case-insensitive, so `MyApp` and
    /// `myapp` are one keyspace (rows keep the spelling of the run that wrote them).
    pub fn build<'a>(rows: impl IntoIterator<Item = &'a HistoryRow>, keyspace: &str) -> Self {
        let mut mine: Vec<&HistoryRow> = rows
            .into_iter()
            .filter(|r| {
                r.keyspace_name
                    .as_deref()
                    .is_some_and(|k| k.eq_ignore_ascii_case(keyspace))
            })
            .collect();
        mine.sort_by_key(|r| (r.installed_on, rank(r.status.as_deref().unwrap_or(""))));
        let mut h = KeyspaceHistory::default();
        // A REPAIRED row names a file, not a version: map file → version via the
        // versioned rows seen for that file.
        let mut version_of_file: HashMap<&str, &str> = HashMap::new();
        for row in mine {
            let st = row.status.as_deref().unwrap_or("");
            let ty = row.script_type.as_deref().unwrap_or("");
            if ty == "versioned" {
                if let Some(v) = row.version.as_deref() {
                    version_of_file.insert(&row.script, v);
                    apply(h.versions.entry(v.to_string()), row, st);
                }
            } else if st == status::ROLLED_BACK {
                if let Some(v) = row.version.as_deref() {
                    apply(h.versions.entry(v.to_string()), row, st);
                }
                continue;
            } else if st == status::REPAIRED {
                if let Some(v) = version_of_file.get(&*row.script) {
                    apply(h.versions.entry((*v).to_string()), row, st);
                }
            }
            apply(h.files.entry(row.script.to_string()), row, st);
        }
        h
    }

    /// True when `version` is applied.
    pub fn is_applied(&self, version: &str) -> bool {
        self.versions
            .get(version)
            .is_some_and(|e| e.state == State::Applied)
    }

    /// Checksum of the latest successful run of file `name`.
    pub fn applied_checksum(&self, name: &str) -> Option<&str> {
        self.files
            .get(name)
            .and_then(|e| e.last_success.as_ref())
            .and_then(|r| r.checksum.as_deref())
    }
}

fn apply(slot: std::collections::hash_map::Entry<'_, String, Entry>, row: &HistoryRow, st: &str) {
    let new_state = match st {
        status::SUCCESS => State::Applied,
        status::FAILED => State::Failed,
        status::ROLLED_BACK => State::RolledBack,
        status::REPAIRED => State::Repaired,
        status::INTERRUPTED => State::Interrupted,
        _ => return,
    };
    let success = (new_state == State::Applied).then(|| row.clone());
    match slot {
        std::collections::hash_map::Entry::Vacant(v) => {
            if new_state == State::Repaired {
                return;
            }
            v.insert(Entry {
                state: new_state,
                last: row.clone(),
                last_success: success,
            });
        }
        std::collections::hash_map::Entry::Occupied(mut o) => {
            let e = o.get_mut();
            // REPAIRED only turns a failure (or an interruption) into a retry; it never
            // un-applies.
            if new_state == State::Repaired
                && !matches!(e.state, State::Failed | State::Interrupted)
            {
                return;
            }
            e.state = new_state;
            e.last = row.clone();
            if success.is_some() {
                e.last_success = success;
            }
        }
    }
}

/// A fingerprint of `keyspace`'s history: every row of it (and every open intent), in a
/// fixed order, hashed. Two reads give the same fingerprint exactly when nothing was
/// recorded for the keyspace in between: a saved plan carries it, and `deploy --plan`
/// refuses when the history moved since.
pub fn fingerprint(rows: &[HistoryRow], keyspace: &str) -> String {
    use md5::{Digest, Md5};
    let mut mine: Vec<&HistoryRow> = rows
        .iter()
        .filter(|r| {
            r.keyspace_name
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case(keyspace))
        })
        .collect();
    mine.sort_by(|a, b| {
        (a.installed_on, &*a.script, a.status.as_deref()).cmp(&(
            b.installed_on,
            &*b.script,
            b.status.as_deref(),
        ))
    });
    let mut h = Md5::new();
    for r in mine {
        for field in [
            r.installed_on.to_string().as_str(),
            &r.script,
            r.status.as_deref().unwrap_or(""),
            r.checksum.as_deref().unwrap_or(""),
            r.version.as_deref().unwrap_or(""),
            r.run_id.as_deref().unwrap_or(""),
        ] {
            h.update(field.as_bytes());
            h.update([0]);
        }
        h.update([1]);
    }
    crate::scripts::hex(&h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        t: i64,
        script: &str,
        ty: &str,
        version: Option<&str>,
        st: &str,
        sum: &str,
    ) -> HistoryRow {
        HistoryRow {
            installed_on: t,
            script: script.into(),
            script_type: Some(ty.into()),
            version: version.map(Into::into),
            checksum: Some(sum.into()),
            status: Some(st.into()),
            keyspace_name: Some("ks".into()),
            ..HistoryRow::default()
        }
    }

    #[test]
    fn a_fingerprint_moves_with_any_row_of_its_keyspace_only() {
        let rows = vec![row(1, "V1__a.cql", "versioned", Some("1"), "SUCCESS", "a")];
        let f = fingerprint(&rows, "ks");
        assert_eq!(f, fingerprint(&rows, "KS"), "names are case-insensitive");
        let mut more = rows.clone();
        let mut other = row(2, "V1__a.cql", "versioned", Some("1"), "SUCCESS", "a");
        other.keyspace_name = Some("other".into());
        more.push(other);
        assert_eq!(
            fingerprint(&more, "ks"),
            f,
            "another keyspace's rows do not count"
        );
        more.push(row(3, "V2__b.cql", "versioned", Some("2"), "FAILED", "b"));
        assert_ne!(fingerprint(&more, "ks"), f);
        assert_ne!(fingerprint(&[], "ks"), f);
    }

    #[test]
    fn latest_event_per_version_wins() {
        let rows = vec![
            row(1, "V1__a.cql", "versioned", Some("1"), "SUCCESS", "a"),
            row(2, "V2__b.cql", "versioned", Some("2"), "SUCCESS", "b"),
            // Python 1.0.0 rollback: the U run, then the sentinel.
            row(3, "U2__b.cql", "undo", Some("2"), "SUCCESS", "u"),
            row(4, "ROLLBACK_V2", "undo", Some("2"), "ROLLED_BACK", ""),
            row(5, "V3__c.cql", "versioned", Some("3"), "FAILED", "c"),
        ];
        let h = KeyspaceHistory::build(&rows, "ks");
        assert!(h.is_applied("1"));
        assert!(!h.is_applied("2"), "rolled back versions are pending again");
        assert_eq!(h.versions["2"].state, State::RolledBack);
        assert_eq!(h.versions["3"].state, State::Failed);
        assert!(!h.versions.contains_key("ROLLBACK_V2"));
        let mut redeploy = rows.clone();
        redeploy.push(row(6, "V2__b.cql", "versioned", Some("2"), "SUCCESS", "b"));
        assert!(KeyspaceHistory::build(&redeploy, "ks").is_applied("2"));
    }

    #[test]
    fn repaired_only_follows_a_failure() {
        let mut rows = vec![
            row(1, "V1__a.cql", "versioned", Some("1"), "FAILED", "a"),
            HistoryRow {
                status: Some("REPAIRED".into()),
                script_type: Some("repair".into()),
                version: None,
                ..row(2, "V1__a.cql", "", None, "", "")
            },
        ];
        let h = KeyspaceHistory::build(&rows, "ks");
        assert_eq!(h.versions["1"].state, State::Repaired);
        assert_eq!(h.files["V1__a.cql"].state, State::Repaired);
        // Python's repair may add REPAIRED after a later success: it must not un-apply.
        rows.insert(
            1,
            row(1, "V1__a.cql", "versioned", Some("1"), "SUCCESS", "a"),
        );
        rows[1].installed_on = 2;
        rows[2].installed_on = 3;
        let h = KeyspaceHistory::build(&rows, "ks");
        assert!(h.is_applied("1"));
    }

    #[test]
    fn other_keyspaces_and_checksums() {
        let mut other = row(9, "V1__a.cql", "versioned", Some("1"), "SUCCESS", "a");
        other.keyspace_name = Some("other".into());
        let rows = vec![
            other,
            row(1, "R__v.cql", "repeatable", None, "SUCCESS", "old"),
            row(2, "R__v.cql", "repeatable", None, "SUCCESS", "new"),
            row(3, "R__v.cql", "repeatable", None, "FAILED", "newer"),
        ];
        let h = KeyspaceHistory::build(&rows, "ks");
        assert!(!h.is_applied("1"));
        assert_eq!(h.applied_checksum("R__v.cql"), Some("new"));
        assert_eq!(h.files["R__v.cql"].state, State::Failed);
    }
}
