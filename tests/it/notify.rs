//! Notifications against local HTTP receivers: the same JSON as the Python
//! `cassachange==1.0.0` for the same run, per channel and event; the event filter; dry
//! runs; endpoints that hang, fail or refuse; proxies from the environment.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cassachange_tests::db::plain;
use cassachange_tests::stub::{Request, Route, Stub};
use cassachange_tests::{DbProject, RUNTIME_FAILURE};
use serde_json::Value;

const OK: &str = "CREATE TABLE IF NOT EXISTS users (id int PRIMARY KEY, name text);\n";

fn receiver() -> Stub {
    Stub::start(vec![
        Route::ok("POST", "/slack", "ok"),
        Route::ok("POST", "/teams", "1"),
        Route::ok("*", "/hook", "{}"),
    ])
}

/// The three channels of the original's documentation, on `stub`.
fn channels(stub: &Stub, extra: &str) -> String {
    format!(
        "notifications:\n{extra}  channels:\n    - type: slack\n      webhook_url_env: NOTIFY_SLACK_URL\n    \
         - type: teams\n      webhook_url: {url}/teams/T0K3N-teams\n    \
         - type: webhook\n      url: {url}/hook\n      method: POST\n      timeout: 5\n      \
         headers:\n        Authorization: \"Bearer ${{NOTIFY_TOKEN}}\"\n        X-Static: plain\n",
        url = stub.url
    )
}

fn project(label: &str, stub: &Stub, extra: &str) -> DbProject {
    let yaml = format!(
        "{}profiles:\n  ci:\n    tag: rel-7\n",
        channels(stub, extra)
    );
    let mut p = DbProject::new(plain(), label, 1, &yaml);
    p.project
        .env(
            "NOTIFY_SLACK_URL",
            &format!("{}/slack/T0K3N-slack", stub.url),
        )
        .env("NOTIFY_TOKEN", "tok-9f8e7d6c")
        .env("CASSACHANGE_ENV", "staging")
        .env("NO_PROXY", "127.0.0.1,localhost");
    p
}

fn json(r: &Request) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.body))
}

/// The event a request is about: the webhook's `event`, or the card's title.
fn event_of(r: &Request) -> String {
    let v = json(r);
    if let Some(e) = v["event"].as_str() {
        return e.to_string();
    }
    let title = v["blocks"][0]["text"]["text"]
        .as_str()
        .or_else(|| v["attachments"][0]["content"]["body"][0]["text"].as_str())
        .unwrap_or_default();
    let words = title.rsplit("— ").next().unwrap_or_default();
    words.trim_end_matches('*').to_lowercase().replace(' ', "_")
}

/// Requests by (channel path, event), bodies normalized: the run id (whole and short),
/// timestamps, and the error text of `script_failed` (each tool words its own) are
/// replaced by placeholders. Our extension fields are checked and removed.
fn normalized(requests: &[Request]) -> BTreeMap<(String, String), Value> {
    let run_id = requests
        .iter()
        .find_map(|r| json(r)["run_id"].as_str().map(String::from))
        .expect("a webhook request carries the run id");
    let failure = requests
        .iter()
        .map(json)
        .find(|v| v["event"] == "script_failed")
        .and_then(|v| v["detail"].as_str().map(String::from));
    let mut out = BTreeMap::new();
    for r in requests {
        let mut v = json(r);
        if let Some(obj) = v.as_object_mut() {
            if obj.contains_key("event") {
                for k in [
                    "scripts_run",
                    "scripts_skipped",
                    "scripts_failed",
                    "elapsed_ms",
                ] {
                    obj.remove(k);
                }
            }
        }
        scrub(&mut v, &run_id, failure.as_deref());
        let channel = r.path.split('/').nth(1).unwrap_or_default().to_string();
        let prev = out.insert((channel, event_of(r)), v);
        assert!(
            prev.is_none(),
            "one request per channel and event: {}",
            r.body
        );
    }
    out
}

fn scrub(value: &mut Value, run_id: &str, failure: Option<&str>) {
    match value {
        Value::String(text) => {
            if Some(text.as_str()) == failure {
                *text = "<error text>".into();
                return;
            }
            let replaced = text
                .replace(run_id, "<run id>")
                .replace(&run_id[..8], "<run id>");
            *text = mask_timestamps(&replaced);
        }
        Value::Array(items) => items.iter_mut().for_each(|x| scrub(x, run_id, failure)),
        Value::Object(map) => map.values_mut().for_each(|x| scrub(x, run_id, failure)),
        _ => {}
    }
}

/// Replaces each `2026-11-30T03:59:01Z` with `<time>`.
fn mask_timestamps(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut at = 0;
    let mut out = String::new();
    while at < text.len() {
        let stamp = at + 20 <= text.len()
            && bytes[at + 4] == b'-'
            && bytes[at + 10] == b'T'
            && bytes[at + 19] == b'Z'
            && bytes[at..at + 4].iter().all(u8::is_ascii_digit);
        if stamp {
            out.push_str("<time>");
            at += 20;
        } else {
            let ch = text[at..].chars().next().unwrap_or(' ');
            out.push(ch);
            at += ch.len_utf8();
        }
    }
    out
}

fn wait_for_requests(stub: &Stub, n: usize) -> Vec<Request> {
    let until = Instant::now() + Duration::from_secs(10);
    while stub.received().len() < n && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    stub.received()
}

#[test]
fn every_channel_sends_what_the_original_sends_for_the_same_run() {
    let py_stub = receiver();
    let mut p = project("ntfy", &py_stub, "");
    p.script("V1__users.cql", OK)
        .script("V2__fails.cql", RUNTIME_FAILURE);
    // The Python tool deploys first: V1 applies, V2 fails.
    let out = p.project.run_python(&["deploy", "--profile", "ci"]);
    assert_eq!(out.code, 1, "{}", out.all());
    let theirs = wait_for_requests(&py_stub, 9);

    // Ours, on the same keyspace and history: V1 is applied, V2 fails again.
    let stub = receiver();
    let yaml = std::fs::read_to_string(p.project.path().join("cassachange.yml")).unwrap();
    p.project
        .write("cassachange.yml", yaml.replace(&py_stub.url, &stub.url));
    p.project.env(
        "NOTIFY_SLACK_URL",
        &format!("{}/slack/T0K3N-slack", stub.url),
    );
    let out = p.run(&["deploy", "--profile", "ci"]);
    assert_eq!(out.code, 1, "{}", out.all());
    let ours = wait_for_requests(&stub, 9);
    assert_eq!(ours.len(), 9, "3 events x 3 channels: {ours:#?}");
    assert_eq!(theirs.len(), 9, "3 events x 3 channels: {theirs:#?}");

    // The generic webhook: the original's fields, plus ours.
    let last = ours
        .iter()
        .map(json)
        .find(|v| v["event"] == "deploy_failed")
        .expect("deploy_failed sent");
    assert_eq!(last["status"], "FAILED");
    assert_eq!(last["detail"], "errors=1 tag=rel-7");
    assert_eq!(last["environment"], "staging");
    assert_eq!(last["profile"], "ci");
    assert_eq!(last["keyspace"], p.ks());
    assert_eq!(
        (
            &last["scripts_run"],
            &last["scripts_skipped"],
            &last["scripts_failed"]
        ),
        (&Value::from(0), &Value::from(1), &Value::from(1))
    );
    assert!(last["elapsed_ms"].as_u64().is_some());
    for r in ours.iter().filter(|r| r.path.starts_with("/hook")) {
        let header = |k: &str| {
            r.headers
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(r.method, "POST");
        assert_eq!(header("authorization"), Some("Bearer tok-9f8e7d6c"));
        assert_eq!(header("x-static"), Some("plain"));
        assert_eq!(header("content-type"), Some("application/json"));
    }

    let (ours, theirs) = (normalized(&ours), normalized(&theirs));
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>()
    );
    for (key, theirs) in &theirs {
        assert_eq!(
            &ours[key], theirs,
            "{key:?}: ours\n{:#}\ntheirs\n{theirs:#}",
            ours[key]
        );
    }
    // No URL token is ever printed.
    assert!(!out.all().contains("T0K3N"), "{}", out.all());
}

#[test]
fn the_event_filter_is_respected_repair_is_an_event_and_dry_runs_send_nothing() {
    let stub = receiver();
    let p = project(
        "ntff",
        &stub,
        "  on_events: [deploy_success, repair, rollback_success]\n",
    );
    p.script("V1__users.cql", OK)
        .script("V2__fails.cql", RUNTIME_FAILURE)
        .script("U2__fails.cql", "DROP TABLE IF EXISTS fails_at_run;\n");
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 1, "{}", out.all());
    let out = p.run(&["deploy", "--dry-run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        stub.received().len(),
        0,
        "deploy_start, script_failed and deploy_failed are filtered out; a dry run sends nothing"
    );

    let out = p.run(&["repair"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let got = wait_for_requests(&stub, 3);
    assert_eq!(got.len(), 3, "{got:#?}");
    let hook = got.iter().find(|r| r.path == "/hook").map(json).unwrap();
    assert_eq!(hook["event"], "repair");
    assert_eq!(hook["script"], "V2__fails.cql");
    assert_eq!(hook["status"], "REPAIRED");
    assert_eq!(hook["keyspace"], p.ks());

    p.script(
        "V2__fails.cql",
        "CREATE TABLE IF NOT EXISTS fails_at_run (k int PRIMARY KEY);\n",
    );
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let got = wait_for_requests(&stub, 6);
    assert_eq!(got.len(), 6, "{got:#?}");
    let events: Vec<String> = got.iter().skip(3).map(event_of).collect();
    assert!(events.iter().all(|e| e == "deploy_success"), "{events:?}");
    let hook = got
        .iter()
        .skip(3)
        .find(|r| r.path == "/hook")
        .map(json)
        .unwrap();
    assert_eq!(hook["status"], "SUCCESS");
    assert_eq!(hook["scripts_run"], 1);
    assert_eq!(hook["scripts_skipped"], 1);

    let out = p.run(&["rollback", "--dry-run"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let out = p.run(&["rollback"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let got = wait_for_requests(&stub, 9);
    assert_eq!(got.len(), 9, "{got:#?}");
    let hook = got
        .iter()
        .skip(6)
        .find(|r| r.path == "/hook")
        .map(json)
        .unwrap();
    assert_eq!(hook["event"], "rollback_success");
    assert_eq!(hook["detail"], "errors=0 tag=");
}

#[test]
fn endpoints_that_hang_fail_or_refuse_never_change_the_result_or_stall_the_run() {
    // A port that refuses: bound, then closed.
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let hang = Stub::start(vec![
        Route::ok("POST", "/", "late").delay(Duration::from_secs(30))
    ]);
    let fail = Stub::start(vec![Route::ok("POST", "/", "boom").status(500)]);
    let yaml = format!(
        "notifications:\n  channels:\n    - type: webhook\n      url: {}/hang/S3CRET-hang\n      timeout: 2\n    \
         - type: slack\n      webhook_url: {}/services/S3CRET-fail\n      timeout: 2\n    \
         - type: teams\n      webhook_url: http://127.0.0.1:{refused}/S3CRET-refused\n      timeout: 2\n",
        hang.url, fail.url
    );
    let mut p = DbProject::new(plain(), "ntfh", 1, &yaml);
    p.project.env("NO_PROXY", "127.0.0.1,localhost");
    p.script("V1__users.cql", OK);

    let started = Instant::now();
    let out = p.run(&["deploy"]);
    let took = started.elapsed();
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains("run 1 | skip 0 | errors 0"),
        "{}",
        out.stdout
    );
    for expected in [
        format!("notification to webhook ({}/…) failed (deploy_start: no answer within 2s", hang.url),
        format!("notification to slack ({}/…) failed (deploy_start: HTTP 500; deploy_success: HTTP 500)", fail.url),
        format!("notification to teams (http://127.0.0.1:{refused}/…) failed (deploy_start: connection failed"),
    ] {
        assert!(out.stderr.contains(&expected), "expected {expected:?} in\n{}", out.stderr);
    }
    assert_eq!(
        out.stderr.matches("notification to").count(),
        3,
        "one warning per channel: {}",
        out.stderr
    );
    assert!(!out.all().contains("S3CRET"), "{}", out.all());
    // The hanging endpoint answers after 30 s; the run waited for it at most its 2 s
    // timeout (plus the deploy itself).
    assert!(took < Duration::from_secs(20), "the run stalled: {took:?}");
    eprintln!("deploy with a hanging, a failing and a refusing channel: {took:?}");

    // A failing deploy stays failing (exit 1), whatever the channels do.
    p.script("V2__fails.cql", RUNTIME_FAILURE);
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 1, "{}", out.all());
    assert!(
        out.stderr.contains("script_failed: HTTP 500"),
        "{}",
        out.stderr
    );
}

#[test]
fn webhooks_go_through_the_proxy_from_the_environment_and_bad_channels_are_one_warning() {
    let proxy = Stub::start(vec![Route::ok("*", "", "{}")]);
    let yaml = "notifications:\n  on_events: [deploy_success]\n  channels:\n    \
                - type: webhook\n      url: http://notify.invalid/hook/x\n    \
                - type: slack\n      webhook_url_env: NOTIFY_UNSET_URL\n    \
                - type: teams\n      webhook_url: not a url S3CRET\n";
    let p = DbProject::new(plain(), "ntfp", 1, yaml);
    p.script("V1__users.cql", OK);
    let out = p.project.run_with(
        &["deploy"],
        &[("HTTP_PROXY", &proxy.url), ("http_proxy", &proxy.url)],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let got = wait_for_requests(&proxy, 1);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(
        got[0].path, "http://notify.invalid/hook/x",
        "sent through the proxy"
    );
    assert_eq!(json(&got[0])["event"], "deploy_success");
    for expected in [
        "notifications: notifications.channels[1] (slack): webhook_url_env NOTIFY_UNSET_URL is not set; that channel is skipped",
        "notifications: notifications.channels[2] (teams): the URL is not an http(s) URL (the value is not shown); that channel is skipped",
    ] {
        assert!(out.stderr.contains(expected), "expected {expected:?} in\n{}", out.stderr);
    }
    assert!(!out.all().contains("S3CRET"), "{}", out.all());
}

#[test]
fn a_webhook_url_from_vault_is_used_and_never_shown() {
    let bao = cassachange_tests::vault::openbao();
    let role = cassachange_tests::db::secure().role("ntfv");
    let path = cassachange_tests::vault::unique("ntfv");
    let stub = receiver();
    let url = format!("{}/hook/V4ULT-T0KEN-{path}", stub.url);
    bao.put_kv2(
        &format!("{path}/db"),
        &[("password", &role.password), ("hook", &url)],
    );
    let secrets = format!(
        "  password: vault://secret/data/{path}/db#password\n  \
         notifications.channels[0].webhook_url: vault://secret/data/{path}/db#hook\n"
    );
    let p = cassachange_tests::SecretsProject::new(
        "vault",
        "ntfv",
        &role,
        &secrets,
        "notifications:\n  on_events: [deploy_success]\n  channels:\n    - type: webhook\n",
    );
    let mut env = bao.env_token(&bao.root_token);
    env.push(("NO_PROXY".into(), "127.0.0.1,localhost".into()));
    let out = p.run(&["deploy", "--verbose"], &env);
    assert_eq!(out.code, 0, "{}", out.all());
    let got = wait_for_requests(&stub, 1);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0].path, format!("/hook/V4ULT-T0KEN-{path}"));
    assert_eq!(json(&got[0])["event"], "deploy_success");
    assert!(!out.all().contains("V4ULT-T0KEN"), "{}", out.all());
    assert!(!out.all().contains(&role.password), "{}", out.all());
    // The spec's lines, as its example shows them.
    assert!(
        out.stdout
            .lines()
            .any(|l| l == "[secrets] resolved 2 keys via vault"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("[notify]  Webhook → deploy_success\n[lock]    released"),
        "{}",
        out.stdout
    );
}

/// A deploy refused before it runs anything is a failed deploy: the validate gate, the
/// pre-flight, the lock held past `--lock-wait`, a keyspace blocked by an unfinished
/// script — each sends `deploy_failed` with the reason.
#[test]
fn a_refused_deploy_sends_deploy_failed_with_the_reason() {
    let stub = receiver();
    let p = project("ntrefuse", &stub, "  on_events: [deploy_failed]\n");
    let hooks = |n: usize| -> Vec<Value> {
        wait_for_requests(&stub, n)
            .iter()
            .filter(|r| r.path == "/hook")
            .map(json)
            .collect()
    };
    // 1. The validate gate (a syntax error): no connection needed to say so.
    p.script("V1__bad.cql", "CREAT TABLE nope (k int PRIMARY KEY);\n");
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 1, "{}", out.all());
    let got = hooks(3);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0]["event"], "deploy_failed");
    assert_eq!(got[0]["status"], "FAILED");
    let detail = got[0]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.starts_with("errors=0 tag= stopped: 1 script error(s)"),
        "{detail}"
    );

    // 2. The pre-flight: a table that exists already.
    p.script("V1__bad.cql", OK);
    assert_eq!(p.run(&["deploy"]).code, 0);
    p.script(
        "V2__again.cql",
        "CREATE TABLE users (id int PRIMARY KEY, name text);\n",
    );
    let out = p.run(&["deploy"]);
    assert_eq!(out.code, 1, "{}", out.all());
    let got = hooks(6);
    assert_eq!(got.len(), 2, "{got:#?}");
    let detail = got[1]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("stopped: pre-flight: 1 statement(s) would fail"),
        "{detail}"
    );

    // 3. The lock held past --lock-wait.
    p.script(
        "V2__again.cql",
        "CREATE TABLE IF NOT EXISTS users2 (id int PRIMARY KEY);\n",
    );
    plain().exec(&format!(
        "INSERT INTO {}.deploy_lock (lock_key, locked_by, run_id) VALUES ('global', 'elsewhere', 'r-1') USING TTL 60",
        p.history.name
    ));
    let out = p.run(&["deploy", "--lock-wait", "1s"]);
    assert_eq!(out.code, 3, "{}", out.all());
    let got = hooks(9);
    assert_eq!(got.len(), 3, "{got:#?}");
    let detail = got[2]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("stopped: Deploy lock already held."),
        "{detail}"
    );
    assert_eq!(p.run(&["repair", "--release-lock"]).code, 0);
}

/// Redaction at the edges: a keyspace that comes from a secret manager is a secret in
/// the notification payloads and the audit rows too (history must hold it: the tool
/// reads it back); and a secret holding `"` and `\` — escaped in JSON text, where the
/// redactor once ran — is masked in `--format json` output.
#[test]
fn a_keyspace_from_a_secret_and_a_secret_with_quotes_never_show() {
    let bao = cassachange_tests::vault::openbao();
    let role = cassachange_tests::db::secure().role("ntfks");
    let path = cassachange_tests::vault::unique("ntfks");
    let stub = receiver();
    let p = cassachange_tests::SecretsProject::new(
        "vault",
        "ntfks",
        &role,
        &format!(
            "  password: vault://secret/data/{path}/db#password\n  \
             keyspace: vault://secret/data/{path}/db#keyspace\n"
        ),
        &format!(
            "notifications:\n  on_events: [deploy_success]\n  channels:\n    - type: webhook\n      url: {}/hook\n",
            stub.url
        ),
    );
    bao.put_kv2(
        &format!("{path}/db"),
        &[("password", &role.password), ("keyspace", &p.ks)],
    );
    let mut env = bao.env_token(&bao.root_token);
    env.push(("NO_PROXY".into(), "127.0.0.1,localhost".into()));
    let out = p.run(&["deploy"], &env);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(!out.all().contains(&p.ks), "{}", out.all());
    let got = wait_for_requests(&stub, 1);
    assert_eq!(got.len(), 1, "{got:#?}");
    let hook = json(&got[0]);
    assert_eq!(hook["event"], "deploy_success");
    assert_eq!(hook["keyspace"], "***", "{hook}");
    assert!(!got[0].body.contains(&p.ks), "{}", got[0].body);
    let audit = cassachange_tests::db::secure().rows(&format!(
        "SELECT keyspace_name, detail FROM {}.audit_log",
        p.history
    ));
    assert!(!audit.is_empty());
    assert!(
        !format!("{audit:?}").contains(&p.ks),
        "the audit rows hold the keyspace: {audit:?}"
    );

    // A host name from a secret, with a quote and a backslash in it: the connection
    // error that names it is masked in the JSON document as in text.
    let weird = format!("no\"such\\host-{path}");
    bao.put_kv2(&format!("{path}/hosts"), &[("hosts", &weird)]);
    let yaml = std::fs::read_to_string(p.project.path().join("cassachange.yml")).unwrap();
    p.project.write(
        "cassachange.yml",
        yaml.replace(
            "secrets:\n",
            &format!("secrets:\n  hosts: vault://secret/data/{path}/hosts#hosts\n"),
        ),
    );
    let out = p.run(&["--format", "json", "status"], &env);
    assert_eq!(out.code, 2, "{}", out.all());
    let escaped = serde_json::to_string(&weird).unwrap();
    for shown in [weird.as_str(), escaped.trim_matches('"')] {
        assert!(!out.all().contains(shown), "{shown}: {}", out.all());
    }
    assert!(out.stdout.contains("***"), "{}", out.stdout);
}
