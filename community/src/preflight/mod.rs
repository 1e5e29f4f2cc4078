//! Defines the pre-flight that runs before a deploy takes its lock (and in a dry run):
//! the server parses every pending statement (prepare: it checks syntax, DML against
//! the live schema, some option values, and executes nothing), and a simulation of the
//! live schema predicts what DDL would fail, statement by statement. Each finding names
//! the file, line and reason; a deploy with any stops before the lock.

mod model;
mod simulate;

use model::Model;
use simulate::simulate;

use crate::cql::split;
use crate::db::{Db, DbError, PrepareFailure};
use crate::plan::KeyspacePlan;

/// One predicted failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The keyspace the script deploys to.
    pub keyspace: String,
    /// The script, relative to the root folder.
    pub file: String,
    /// Line of the statement.
    pub line: u32,
    /// Why it would fail.
    pub reason: String,
}

impl Finding {
    /// `file:line: reason (keyspace)`.
    pub fn describe(&self) -> String {
        format!(
            "{}:{}: {} (in {})",
            self.file, self.line, self.reason, self.keyspace
        )
    }
}

/// Checks every statement of every script `plans` would run.
pub async fn check(db: &Db, plans: &[KeyspacePlan<'_>]) -> Result<Vec<Finding>, DbError> {
    // Nothing to run (a no-op deploy): nothing to read.
    if plans.iter().all(|p| p.to_run().next().is_none()) {
        return Ok(Vec::new());
    }
    let mut model = Model::load(db).await?;
    let mut findings = Vec::new();
    let mut changed_any = false;
    for plan in plans {
        let keyspace = plan.keyspace.to_ascii_lowercase();
        for step in plan.to_run() {
            let script = step.script;
            let mut current = keyspace.clone();
            db.use_keyspace(&current).await?;
            let (statements, _) = split(&script.content);
            for st in &statements {
                let found = |reason: String| Finding {
                    keyspace: plan.keyspace.clone(),
                    file: script.relative_path.clone(),
                    line: st.pos.line,
                    reason,
                };
                let out = simulate(&mut model, &current, st);
                let ddl = st
                    .tokens
                    .first()
                    .is_some_and(|t| t.is_kw("CREATE") || t.is_kw("ALTER") || t.is_kw("DROP"));
                let changed_before = changed_any;
                changed_any |= ddl;
                findings.extend(out.problems.iter().cloned().map(found));
                if let Some(ks) = out.use_keyspace {
                    if model.keyspaces.contains(&ks) {
                        db.use_keyspace(&ks).await?;
                    }
                    current = ks;
                    continue;
                }
                if !out.preparable || !out.problems.is_empty() {
                    continue;
                }
                match db.prepare_check(st.text).await {
                    Ok(()) => {}
                    // A DDL statement may name what an earlier statement of this deploy
                    // makes: only its syntax and option values are certain failures.
                    Err(PrepareFailure::Invalid(_)) if ddl && changed_before => {}
                    Err(f) => {
                        findings.push(found(format!("the server refuses it: {}", f.message())));
                    }
                }
            }
        }
    }
    Ok(findings)
}
