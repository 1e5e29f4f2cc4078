//! Unit tests of the deploy and rollback plans, without a database.

use super::*;
use crate::history::state::HistoryRow;
use crate::scripts::checksum;
use crate::testing::script;

fn row(t: i64, script: &Script, st: &str, tag: &str) -> HistoryRow {
    HistoryRow {
        installed_on: t,
        script: script.filename.as_str().into(),
        script_type: Some(script.kind.as_str().into()),
        version: script.version.as_ref().map(|v| v.to_string().into()),
        checksum: Some(script.checksum.as_str().into()),
        status: Some(st.into()),
        keyspace_name: Some("ks".into()),
        tag: Some(tag.into()),
        ..HistoryRow::default()
    }
}

fn reasons(plan: &KeyspacePlan<'_>) -> Vec<(String, &'static str)> {
    plan.steps
        .iter()
        .map(|s| (s.script.filename.clone(), s.reason.code()))
        .collect()
}

#[test]
fn fresh_keyspace_runs_everything() {
    let scripts = [
        script("V1__a.cql", "x"),
        script("V2__b.cql", "y"),
        script("R__r.cql", "r"),
        script("A__a.cql", "a"),
    ];
    let p = deploy(&scripts, &[], &KeyspaceHistory::default(), "ks");
    assert_eq!(
        reasons(&p),
        [
            ("V1__a.cql".into(), "pending"),
            ("V2__b.cql".into(), "pending"),
            ("R__r.cql".into(), "new"),
            ("A__a.cql".into(), "always")
        ]
    );
    assert_eq!(p.skipped(), 0);
}

#[test]
fn second_deploy_runs_only_always_and_changed() {
    let scripts = [
        script("V1__a.cql", "x"),
        script("R__r.cql", "r"),
        script("R__s.cql", "s2"),
        script("A__a.cql", "a"),
    ];
    let mut old_s = script("R__s.cql", "s1");
    old_s.checksum = checksum("s1");
    let rows = [
        row(1, &scripts[0], "SUCCESS", ""),
        row(2, &scripts[1], "SUCCESS", ""),
        row(3, &old_s, "SUCCESS", ""),
    ];
    let h = KeyspaceHistory::build(&rows, "ks");
    let p = deploy(&scripts, &[], &h, "ks");
    assert_eq!(
        reasons(&p),
        [
            ("V1__a.cql".into(), "already_applied"),
            ("R__r.cql".into(), "checksum_unchanged"),
            ("R__s.cql".into(), "checksum_changed"),
            ("A__a.cql".into(), "always")
        ]
    );
    assert!(p.drift.is_empty());
}

#[test]
fn out_of_order_failed_rolled_back_and_drift() {
    let v1 = script("V1__a.cql", "x");
    let v2 = script("V2__b.cql", "y");
    let v3 = script("V3__c.cql", "z");
    let v4 = script("V4__d.cql", "w");
    let mut v1_changed = v1.clone();
    v1_changed.content = "x changed".into();
    v1_changed.checksum = checksum("x changed");
    let sentinel = HistoryRow {
        installed_on: 5,
        script: "ROLLBACK_V3".into(),
        script_type: Some("undo".into()),
        version: Some("3".into()),
        status: Some("ROLLED_BACK".into()),
        keyspace_name: Some("ks".into()),
        ..HistoryRow::default()
    };
    let rows = [
        row(1, &v1, "SUCCESS", ""),
        row(2, &v3, "SUCCESS", ""),
        row(3, &v4, "SUCCESS", ""),
        sentinel,
    ];
    let h = KeyspaceHistory::build(&rows, "ks");
    let scripts = [v1_changed, v2, v3.clone(), v4];
    let p = deploy(&scripts, &[], &h, "ks");
    assert_eq!(
        reasons(&p),
        [
            ("V1__a.cql".into(), "already_applied"),
            ("V2__b.cql".into(), "pending_out_of_order"),
            ("V3__c.cql".into(), "rolled_back"),
            ("V4__d.cql".into(), "already_applied")
        ]
    );
    assert_eq!(
        p.steps[2].reason,
        Reason::ReapplyRolledBack {
            at: 5,
            above: Some("4".into())
        },
        "a rolled-back version says when, and that it runs after a newer one"
    );
    assert_eq!(
        p.steps[2].reason.text(),
        "rolled back 1970-01-01 00:00:00, will re-apply (after newer version 4)"
    );
    assert_eq!(p.drift.len(), 1);
    assert_eq!(p.drift[0].applied_checksum, checksum("x"));
    let failed = [row(1, &v3, "FAILED", "")];
    let p = deploy(
        std::slice::from_ref(&v3),
        &[],
        &KeyspaceHistory::build(&failed, "ks"),
        "ks",
    );
    assert_eq!(p.steps[0].reason, Reason::RetryFailed);
}

#[test]
fn rollback_latest_above_and_tag() {
    let (v1, v2, v3) = (
        script("V1.0__a.cql", "a"),
        script("V1.1__b.cql", "b"),
        script("V2.0__c.cql", "c"),
    );
    let (u2, u3) = (script("U1.1__b.cql", "ub"), script("U2.0__c.cql", "uc"));
    let rows = [
        row(1, &v1, "SUCCESS", "r1"),
        row(2, &v2, "SUCCESS", "r2"),
        row(3, &v3, "SUCCESS", "r2"),
    ];
    let h = KeyspaceHistory::build(&rows, "ks");
    let undo: BTreeMap<&Version, &Script> = [
        (u2.version.as_ref().unwrap(), &u2),
        (u3.version.as_ref().unwrap(), &u3),
    ]
    .into_iter()
    .collect();
    let versions = |t: &RollbackTarget| -> Vec<(String, String)> {
        rollback([], &undo, &h, t)
            .expect("every selected version has an undo script")
            .into_iter()
            .map(|s| (s.version.to_string(), s.undo.filename.clone()))
            .collect()
    };
    assert_eq!(
        versions(&RollbackTarget::Latest),
        [("2.0".into(), "U2.0__c.cql".into())]
    );
    assert_eq!(
        versions(&RollbackTarget::Tag("r2".into())),
        [
            ("2.0".into(), "U2.0__c.cql".into()),
            ("1.1".into(), "U1.1__b.cql".into())
        ]
    );
    assert_eq!(
        versions(&RollbackTarget::Above(Version::parse("1.0").unwrap())),
        [
            ("2.0".into(), "U2.0__c.cql".into()),
            ("1.1".into(), "U1.1__b.cql".into())
        ]
    );
    let missing = rollback(
        [&v1, &v2, &v3, &u2, &u3],
        &undo,
        &h,
        &RollbackTarget::Above(Version::parse("0").unwrap()),
    )
    .expect_err("1.0 has no undo script");
    assert!(
        matches!(&missing, RollbackRefusal::Missing(v) if *v == [Version::parse("1.0").unwrap()]),
        "{missing:?}"
    );
    assert!(versions(&RollbackTarget::Tag("nope".into())).is_empty());
}

#[test]
fn rollback_target_version_compares_numerically_like_the_original() {
    let v = script("V2024.1.5__a.cql", "a");
    let u = script("U2024.1.5__a.cql", "ua");
    let rows = [row(1, &v, "SUCCESS", "")];
    let h = KeyspaceHistory::build(&rows, "ks");
    let undo: BTreeMap<&Version, &Script> =
        [(u.version.as_ref().unwrap(), &u)].into_iter().collect();
    let target = |t: &str| RollbackTarget::Above(Version::parse(t).unwrap());
    assert!(
        rollback([&v, &u], &undo, &h, &target("2024.01.05"))
            .unwrap()
            .is_empty(),
        "2024.1.5 is not above 2024.01.05: the same number"
    );
    assert_eq!(
        rollback([&v, &u], &undo, &h, &target("2024.01.04"))
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn an_interrupted_script_blocks_until_repair_and_a_later_outcome_settles_it() {
    let (v1, r1, a1) = (
        script("V1__a.cql", "UPDATE c SET n = n + 1 WHERE k = 1;"),
        script("R__b.cql", "b"),
        script("A__c.cql", "c"),
    );
    let scripts = [v1.clone(), r1.clone(), a1.clone()];
    for s in [&v1, &r1, &a1] {
        let mut open = row(2, s, "INTERRUPTED", "");
        open.run_id = Some("run-1".into());
        let rows = [open.clone()];
        let p = deploy(
            std::slice::from_ref(s),
            &[],
            &KeyspaceHistory::build(&rows, "ks"),
            "ks",
        );
        assert_eq!(
            p.steps[0].reason,
            Reason::Interrupted {
                run_id: "run-1".into(),
                at: 2,
                stopped: None,
            },
            "{}",
            s.filename
        );
        assert!(p.steps[0].reason.blocks() && !p.steps[0].reason.runs());
        // repair marks it: it runs again
        let rows = [open.clone(), row(3, s, "REPAIRED", "")];
        let p = deploy(
            std::slice::from_ref(s),
            &[],
            &KeyspaceHistory::build(&rows, "ks"),
            "ks",
        );
        assert!(
            p.steps[0].reason.runs(),
            "{}: {:?}",
            s.filename,
            p.steps[0].reason
        );
    }
    // A later success (another run recorded it) settles it.
    let rows = [row(2, &v1, "INTERRUPTED", ""), row(3, &v1, "SUCCESS", "")];
    let p = deploy(
        &scripts[..1],
        &[],
        &KeyspaceHistory::build(&rows, "ks"),
        "ks",
    );
    assert_eq!(p.steps[0].reason, Reason::AlreadyApplied);
}

#[test]
fn an_interrupted_undo_keeps_its_version_applied_and_reads_interrupted_until_repair() {
    let (v2, u2) = (
        script("V2__b.cql", "CREATE TABLE b (k int PRIMARY KEY);"),
        script("U2__b.cql", "UPDATE c SET n = n - 1 WHERE k = 1;"),
    );
    let mut open = row(3, &u2, "INTERRUPTED", "");
    open.run_id = Some("run-9".into());
    let rows = [row(2, &v2, "SUCCESS", ""), open.clone()];
    let h = KeyspaceHistory::build(&rows, "ks");
    // The version still reads applied (so rollback would pick it again) ...
    assert!(h.is_applied("2"));
    // ... which is why the undo file's own state is asked.
    assert_eq!(
        interrupted_reason(&h, "U2__b.cql"),
        Some(Reason::Interrupted {
            run_id: "run-9".into(),
            at: 3,
            stopped: None,
        })
    );
    assert_eq!(interrupted_reason(&h, "V2__b.cql"), None);
    let rows = [
        row(2, &v2, "SUCCESS", ""),
        open,
        row(4, &u2, "REPAIRED", ""),
    ];
    let h = KeyspaceHistory::build(&rows, "ks");
    assert_eq!(interrupted_reason(&h, "U2__b.cql"), None);
}

/// One rule for every reader of state: a script a run left unfinished stops the deploy
/// plan at it (so `status` is not "up to date" even when it is the last script), and
/// refuses a rollback of that keyspace, whether it is a forward or an undo script.
#[test]
fn an_interrupted_script_blocks_status_deploy_and_rollback_alike() {
    let (v1, v2, u1, u2) = (
        script(
            "V1__a.cql",
            "CREATE TABLE IF NOT EXISTS a (k int PRIMARY KEY);",
        ),
        script("V2__b.cql", "UPDATE c SET n = n + 1 WHERE k = 1;"),
        script("U1__a.cql", "DROP TABLE IF EXISTS a;"),
        script("U2__b.cql", "UPDATE c SET n = n - 1 WHERE k = 1;"),
    );
    let mut cut = row(2, &v2, "INTERRUPTED", "");
    cut.run_id = Some("run-7".into());
    cut.description = Some("SIGINT after statement 1 of 1".into());
    let rows = [row(1, &v1, "SUCCESS", ""), cut];
    let h = KeyspaceHistory::build(&rows, "ks");
    let forward = [v1.clone(), v2.clone()];
    let undo = [u1.clone(), u2.clone()];
    let p = deploy(&forward, &undo, &h, "ks");
    let stop = p.blocked().expect("stopped at V2, the last script");
    assert_eq!(stop.script.filename, "V2__b.cql");
    assert_eq!(
        stop.reason.text(),
        "interrupted: run run-7 stopped in it at 1970-01-01 00:00:00: SIGINT after statement 1 of 1"
    );
    assert_eq!(
        p.to_run().count(),
        0,
        "nothing runs, and nothing is pending before it"
    );
    let by_version: BTreeMap<&Version, &Script> = undo
        .iter()
        .map(|u| (u.version.as_ref().unwrap(), u))
        .collect();
    match rollback(
        forward.iter().chain(&undo),
        &by_version,
        &h,
        &RollbackTarget::Latest,
    ) {
        Err(RollbackRefusal::Interrupted(steps)) => {
            assert_eq!(steps.len(), 1);
            assert_eq!(steps[0].script.filename, "V2__b.cql");
        }
        other => panic!("V1 must not be undone under a half-applied V2: {other:?}"),
    }
    // An undo script a rollback left unfinished stops the deploy before anything.
    let mut open = row(3, &u1, "INTERRUPTED", "");
    open.run_id = Some("run-8".into());
    let rows = [row(1, &v1, "SUCCESS", ""), open];
    let h = KeyspaceHistory::build(&rows, "ks");
    let p = deploy(&forward, &undo, &h, "ks");
    assert_eq!(p.steps[0].script.filename, "U1__a.cql");
    assert!(p.steps[0].reason.blocks());
    assert_eq!(p.to_run().count(), 0, "V2 waits behind it");
}
