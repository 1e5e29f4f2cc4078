//! Unit tests for configuration precedence, profile merge and error messages.

use super::*;
use std::collections::HashMap;

struct Case {
    dir: tempfile::TempDir,
    env: HashMap<String, String>,
}

impl Case {
    fn new(yaml: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("c.yml"), yaml).unwrap();
        Case {
            dir,
            env: HashMap::new(),
        }
    }

    fn env(mut self, k: &str, v: &str) -> Self {
        self.env.insert(k.into(), v.into());
        self
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("c.yml")
    }

    fn load(
        &self,
        profile: Option<&str>,
        flags: Vec<(&'static str, Value, &'static str)>,
    ) -> Result<Settings, ConfigError> {
        let path = self.path();
        let env = |k: &str| self.env.get(k).cloned();
        load(&LoadOptions {
            config: Some(&path),
            profile,
            flags,
            env: &env,
        })
    }

    fn err(&self, profile: Option<&str>) -> String {
        self.load(profile, vec![])
            .unwrap_err()
            .to_string()
            .replace(&self.path().display().to_string(), "c.yml")
    }
}

const YAML: &str = "
hosts: [10.0.0.1, 10.0.0.2]
port: 9042
keyspace: app
history_keyspace: app_hist
timeout: 30
notifications:
  on_events: [deploy_failed]
  channels:
    - type: slack
      webhook_url_env: SLACK
profiles:
  dev:
    hosts: 127.0.0.1
    keyspaces: [a, b]
    timeout: null
    notifications:
      on_events: [deploy_success]
  prod:
    port: 9142
";

#[test]
fn defaults_without_a_file() {
    let env = |_: &str| None;
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.yml");
    // An absent *explicit* file is an error…
    let err = load(&LoadOptions {
        config: Some(&missing),
        profile: None,
        flags: vec![],
        env: &env,
    })
    .unwrap_err();
    assert!(matches!(err, ConfigError::NotFound(_)), "{err}");
}

#[test]
fn base_values_and_defaults() {
    let s = Case::new(YAML).load(None, vec![]).unwrap();
    assert_eq!(s.hosts, ["10.0.0.1", "10.0.0.2"]);
    assert_eq!(s.keyspaces, ["app"]);
    assert_eq!(s.history_table, "change_history");
    assert_eq!(s.root_folder, PathBuf::from("./migrations"));
    assert_eq!(s.timeout, Some(Duration::from_secs(30)));
    assert_eq!(s.lock_ttl, Duration::from_secs(1800));
    assert_eq!(s.profile, None);
}

#[test]
fn profile_deep_merges_over_base() {
    let s = Case::new(YAML).load(Some("dev"), vec![]).unwrap();
    assert_eq!(s.profile.as_deref(), Some("dev"));
    assert_eq!(s.hosts, ["127.0.0.1"]);
    assert_eq!(s.port, 9042, "untouched base key stays");
    assert_eq!(s.timeout, None, "null in a profile clears the base value");
    assert_eq!(
        s.keyspaces,
        ["a", "b"],
        "the profile's list beats the base keyspace"
    );
    let n = s.notifications.unwrap();
    assert_eq!(n.on_events, ["deploy_success"]);
    assert_eq!(
        n.channels.len(),
        1,
        "nested mapping merged: channels kept from base"
    );
    assert_eq!(n.channels[0].url_env.as_deref(), Some("SLACK"));
}

#[test]
fn precedence_cli_over_env_over_profile_over_base() {
    let case = Case::new(YAML)
        .env("CASSANDRA_PORT", "9300")
        .env("CASSACHANGE_TIMEOUT", "5");
    let s = case.load(Some("prod"), vec![]).unwrap();
    assert_eq!(s.port, 9300, "env beats profile");
    assert_eq!(s.origin("port"), Origin::Env("CASSANDRA_PORT"));
    assert_eq!(s.timeout, Some(Duration::from_secs(5)));
    let s = case
        .load(Some("prod"), vec![("port", Value::from(9400), "--port")])
        .unwrap();
    assert_eq!(s.port, 9400, "flag beats env");
    assert_eq!(s.origin("port"), Origin::Flag("--port"));
}

#[test]
fn keyspace_flag_narrows_a_profile_list() {
    let s = Case::new(YAML)
        .load(
            Some("dev"),
            vec![("keyspace", Value::from("b"), "--keyspace")],
        )
        .unwrap();
    assert_eq!(s.keyspaces, ["b"]);
}

#[test]
fn cassandra_keyspace_never_replaces_a_configured_list() {
    // The original: CASSANDRA_KEYSPACE sets `keyspace`, and a `keyspaces` list wins.
    let s = Case::new(YAML)
        .env("CASSANDRA_KEYSPACE", "x")
        .load(Some("dev"), vec![])
        .unwrap();
    assert_eq!(s.keyspaces, ["a", "b"]);
    // Without a list, it replaces the file's `keyspace`.
    let s = Case::new(YAML)
        .env("CASSANDRA_KEYSPACE", "x")
        .load(Some("prod"), vec![])
        .unwrap();
    assert_eq!(s.keyspaces, ["x"]);
    assert_eq!(s.origin("keyspace"), Origin::Env("CASSANDRA_KEYSPACE"));
    // A flag still narrows the list.
    let s = Case::new(YAML)
        .env("CASSANDRA_KEYSPACE", "x")
        .load(
            Some("dev"),
            vec![("keyspaces", Value::from("c,d"), "--keyspaces")],
        )
        .unwrap();
    assert_eq!(s.keyspaces, ["c", "d"]);
}

#[test]
fn a_keyspace_listed_twice_is_deployed_once_with_a_warning() {
    let s = Case::new("keyspaces: [a, b, a, B]\nhistory_keyspace: h\n")
        .load(None, vec![])
        .unwrap();
    assert_eq!(s.keyspaces, ["a", "b"]);
    assert_eq!(s.warnings.len(), 2, "{:?}", s.warnings);
    assert!(
        s.warnings[0].ends_with(
            "keyspaces: keyspace 'a' is listed more than once (as 'a'); it is deployed once"
        ),
        "{:?}",
        s.warnings
    );
    let s = Case::new("keyspace: a\nhistory_keyspace: h\n")
        .load(None, vec![("keyspaces", Value::from("a,a"), "--keyspaces")])
        .unwrap();
    assert_eq!(s.keyspaces, ["a"]);
    assert_eq!(
        s.warnings,
        ["flag --keyspaces: keyspace 'a' is listed more than once (as 'a'); it is deployed once"]
    );
}

#[test]
fn profile_selection_order() {
    let yaml = format!("default_profile: prod\n{YAML}");
    let case = Case::new(&yaml);
    assert_eq!(
        case.load(None, vec![]).unwrap().port,
        9142,
        "default_profile"
    );
    let case = case.env("CASSACHANGE_PROFILE", "dev");
    assert_eq!(
        case.load(None, vec![]).unwrap().profile.as_deref(),
        Some("dev"),
        "env beats default"
    );
    assert_eq!(
        case.load(Some("prod"), vec![]).unwrap().profile.as_deref(),
        Some("prod"),
        "flag beats env"
    );
}

#[test]
fn empty_env_vars_count_as_unset() {
    let s = Case::new(YAML)
        .env("CASSANDRA_PORT", "")
        .env("CASSANDRA_USERNAME", "")
        .load(None, vec![])
        .unwrap();
    assert_eq!(s.hosts, ["10.0.0.1", "10.0.0.2"]);
    assert_eq!(s.port, 9042);
}

#[test]
fn an_empty_cassandra_hosts_is_an_error_not_localhost() {
    let msg = Case::new(YAML).env("CASSANDRA_HOSTS", " ").err(None);
    assert!(
        msg.starts_with("environment variable CASSANDRA_HOSTS: set but empty"),
        "{msg}"
    );
}

#[test]
fn unknown_profile_lists_defined_ones() {
    assert_eq!(
        Case::new(YAML).err(Some("stage")),
        "profile 'stage' (from --profile) is not defined in c.yml; defined profiles: dev, prod"
    );
}

#[test]
fn yaml_syntax_error_has_line_and_column() {
    let msg = Case::new("port: 9042\nhosts: [a, b\nkeyspace: x\n").err(None);
    assert!(msg.starts_with("c.yml:"), "{msg}");
    assert!(msg.contains("invalid YAML"), "{msg}");
    let loc: Vec<&str> = msg.split(':').collect();
    assert!(
        loc[1].parse::<u32>().is_ok() && loc[2].parse::<u32>().is_ok(),
        "{msg}"
    );
}

#[test]
fn typos_and_types_are_one_line_each() {
    assert_eq!(
        Case::new("histroy_keyspace: h\nport: abc\n").err(None),
        "c.yml: histroy_keyspace: unknown key (did you mean 'history_keyspace'?)\n\
         c.yml: port: expected a port number between 1 and 65535, found 'abc'"
    );
    assert_eq!(
        Case::new("- a\n- b\n").err(None),
        "c.yml: (top level): expected a mapping of settings (key: value), found a list"
    );
}

#[test]
fn bad_env_value_names_the_variable() {
    assert_eq!(
        Case::new(YAML).env("CASSACHANGE_TIMEOUT", "soon").err(None),
        "environment variable CASSACHANGE_TIMEOUT: expected a number of seconds or null, found 'soon'"
    );
}

#[test]
fn missing_required_settings() {
    let s = Case::new("port: 9042\n").load(None, vec![]).unwrap();
    assert_eq!(
        s.require_history_keyspace().unwrap_err().to_string(),
        "history_keyspace not supplied: use --history-keyspace, the CASSACHANGE_HISTORY_KEYSPACE \
         environment variable, or history_keyspace in cassachange.yml"
    );
    assert!(s.require_keyspaces().is_err());
}

#[test]
fn secrets_block_is_detected_after_merge_and_never_printed() {
    let yaml = "profiles:\n  prod:\n    secrets_provider: vault\n    secrets:\n      password: vault://secret/data/x#password\n";
    let case = Case::new(yaml);
    assert!(!case.load(None, vec![]).unwrap().has_secrets_block());
    assert!(case.load(Some("prod"), vec![]).unwrap().has_secrets_block());
    let s = Case::new("password: hunter2\n").load(None, vec![]).unwrap();
    assert!(!format!("{s:?}").contains("hunter2"));
}

#[test]
fn a_profiles_secrets_merge_over_the_base_key_by_key_like_the_original() {
    let yaml = "keyspace: k\nhistory_keyspace: h\nsecrets_provider: vault\nsecrets:\n  password: vault://secret/base#pw\n  username: vault://secret/base#user\nprofiles:\n  prod:\n    secrets_provider: azure-keyvault\n    secrets:\n      password: akv://prod-vault/cassandra-password\n";
    let s = Case::new(yaml).load(Some("prod"), vec![]).unwrap();
    assert_eq!(s.secrets_provider.as_deref(), Some("azure-keyvault"));
    assert_eq!(
        s.secrets.get("password").map(String::as_str),
        Some("akv://prod-vault/cassandra-password"),
        "the profile's URI wins"
    );
    assert_eq!(
        s.secrets.get("username").map(String::as_str),
        Some("vault://secret/base#user"),
        "a key the profile does not set keeps the base URI (the plugin then reports the \
         scheme that contradicts the provider)"
    );
}

/// The README's list of keys is generated from the one key table: a key, an
/// environment variable, a flag or a secret kind cannot be documented differently
/// from what the code does.
#[test]
fn the_readme_key_list_is_the_key_table() {
    let readme = include_str!("../../../../README.md");
    let begin = "<!-- keys:begin (generated from the key table; see config's tests) -->\n";
    let end = "<!-- keys:end -->";
    let from = readme.find(begin).expect("the README has the key list") + begin.len();
    let to = readme[from..].find(end).expect("the key list ends") + from;
    assert_eq!(
        &readme[from..to],
        crate::keys_markdown(),
        "regenerate the README's key list from config's KEYS (keys_markdown)"
    );
}

#[test]
fn secret_keys_come_from_the_table() {
    let text: Vec<&str> = crate::secret_keys().collect();
    assert_eq!(
        text,
        [
            "hosts",
            "username",
            "password",
            "astra_token",
            "secure_connect_bundle",
            "ssl_cafile",
            "ssl_certfile",
            "ssl_keyfile",
            "keyspace",
            "history_keyspace"
        ]
    );
    for k in [
        "secure_connect_bundle",
        "ssl_cafile",
        "ssl_certfile",
        "ssl_keyfile",
    ] {
        assert!(crate::is_file_secret(k), "{k}");
    }
    assert!(!crate::is_file_secret("password"));
}

/// `Settings`' Debug output goes through the redactor: a keyspace or user name that a
/// secret manager filled is a secret.
#[test]
fn settings_debug_never_shows_a_secret() {
    let c = Case::new("keyspace: app\nhistory_keyspace: hist\nusername: bob\n");
    let mut s = c.load(None, vec![]).unwrap();
    s.apply_secret("keyspace", "vault://kv/app#ks", "k-s3cr3t-name".into());
    s.apply_secret("password", "vault://kv/app#pw", "pw-s3cr3t-value".into());
    let text = format!("{s:?}");
    assert!(!text.contains("k-s3cr3t-name"), "{text}");
    assert!(!text.contains("pw-s3cr3t-value"), "{text}");
    assert!(text.contains("***"), "{text}");
}
