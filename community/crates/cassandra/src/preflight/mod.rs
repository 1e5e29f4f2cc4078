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
use cassachange_core::plan::KeyspacePlan;

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

/// How many statements are prepared at once.
const PREPARES_IN_FLIGHT: usize = 16;

/// A statement waiting for the server's parse, with the finding it makes if refused.
struct Prepare<'a> {
    /// Position among the findings (simulated and prepared), to keep them in order.
    seq: usize,
    text: &'a str,
    /// A DDL statement after DDL of this deploy: "invalid" may name what this deploy
    /// makes, so only syntax and option values count.
    tolerate_invalid: bool,
    finding: Finding,
}

/// The session keyspace the statements are prepared in, and the statements waiting for
/// it: `USE` is a session-wide setting, so the waiting ones are prepared (concurrently)
/// before it changes.
struct Preparer<'a> {
    db: &'a Db,
    session: Option<String>,
    waiting: Vec<Prepare<'a>>,
    findings: Vec<(usize, Finding)>,
}

impl Preparer<'_> {
    async fn use_keyspace(&mut self, keyspace: &str) -> Result<(), DbError> {
        if self.session.as_deref() != Some(keyspace) {
            self.flush().await;
            self.db.use_keyspace(keyspace).await?;
            self.session = Some(keyspace.to_string());
        }
        Ok(())
    }

    async fn flush(&mut self) {
        use futures_util::StreamExt;
        let db = self.db;
        let done: Vec<_> = futures_util::stream::iter(
            self.waiting
                .drain(..)
                .map(|p| async move { (db.prepare_check(p.text).await, p) }),
        )
        .buffered(PREPARES_IN_FLIGHT)
        .collect()
        .await;
        for (result, p) in done {
            match result {
                Ok(()) => {}
                Err(PrepareFailure::Invalid(_)) if p.tolerate_invalid => {}
                Err(f) => self.findings.push((
                    p.seq,
                    Finding {
                        reason: format!("the server refuses it: {}", f.message()),
                        ..p.finding
                    },
                )),
            }
        }
    }
}

/// Checks every statement of every script `plans` would run.
pub async fn check(db: &Db, plans: &[KeyspacePlan<'_>]) -> Result<Vec<Finding>, DbError> {
    // Nothing to run (a no-op deploy): nothing to read.
    if plans.iter().all(|p| p.to_run().next().is_none()) {
        return Ok(Vec::new());
    }
    let phase = std::time::Instant::now();
    let mut model = Model::load(db).await?;
    tracing::debug!("pre-flight: schema model read in {:?}", phase.elapsed());
    let mut prep = Preparer {
        db,
        session: None,
        waiting: Vec::new(),
        findings: Vec::new(),
    };
    let mut seq = 0;
    let mut changed_any = false;
    for plan in plans {
        let keyspace = plan.keyspace.to_ascii_lowercase();
        for step in plan.to_run() {
            let script = step.script;
            let mut current = keyspace.clone();
            prep.use_keyspace(&current).await?;
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
                for problem in &out.problems {
                    prep.findings.push((seq, found(problem.clone())));
                    seq += 1;
                }
                if let Some(ks) = out.use_keyspace {
                    if model.keyspaces.contains(&ks) {
                        prep.use_keyspace(&ks).await?;
                    }
                    current = ks;
                    continue;
                }
                if !out.preparable || !out.problems.is_empty() {
                    continue;
                }
                prep.waiting.push(Prepare {
                    seq,
                    text: st.text,
                    tolerate_invalid: ddl && changed_before,
                    finding: found(String::new()),
                });
                seq += 1;
            }
        }
    }
    prep.flush().await;
    let mut findings = prep.findings;
    findings.sort_by_key(|(seq, _)| *seq);
    Ok(findings.into_iter().map(|(_, f)| f).collect())
}
