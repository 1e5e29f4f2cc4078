//! The Vault side of the fixture: the two OpenBao dev servers `tests/services/openbao.sh`
//! runs (started on first use when not running), and helpers that write secrets with the
//! real `bao` CLI under unique paths, so tests run in parallel safely.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use crate::tests_dir;

/// The OpenBao servers and what the tests need to reach them.
#[derive(Debug)]
pub struct OpenBao {
    /// The `bao` binary.
    pub bin: PathBuf,
    /// Plain HTTP address.
    pub addr: String,
    /// TLS address.
    pub tls_addr: String,
    /// The TLS server's CA (PEM).
    pub tls_ca: PathBuf,
    /// Root token of both dev servers.
    pub root_token: String,
    /// AppRole role id (policy: read `secret/data/*` and `kv1/*`).
    pub role_id: String,
    /// AppRole secret id.
    pub secret_id: String,
    /// A token that may only read `secret/data/limited/*`.
    pub limited_token: String,
}

fn script() -> PathBuf {
    tests_dir().join("services/openbao.sh")
}

/// The OpenBao servers, started if needed.
pub fn openbao() -> &'static OpenBao {
    static I: OnceLock<OpenBao> = OnceLock::new();
    I.get_or_init(|| {
        let up = Command::new(script())
            .arg("status")
            .status()
            .expect("openbao.sh status")
            .success();
        if !up {
            let out = Command::new(script())
                .arg("start")
                .output()
                .expect("openbao.sh start");
            assert!(
                out.status.success(),
                "could not start OpenBao:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let env = Command::new(script())
            .arg("env")
            .output()
            .expect("openbao.sh env");
        let text = String::from_utf8_lossy(&env.stdout).into_owned();
        let var = |k: &str| {
            let v = text
                .lines()
                .find_map(|l| l.strip_prefix(&format!("export {k}=")))
                .unwrap_or_else(|| panic!("{k} missing from openbao.sh env:\n{text}"));
            v.trim_matches('\'').trim_matches('"').to_string()
        };
        OpenBao {
            bin: PathBuf::from(var("OPENBAO_BIN")),
            addr: var("OPENBAO_ADDR"),
            tls_addr: var("OPENBAO_TLS_ADDR"),
            tls_ca: PathBuf::from(var("OPENBAO_TLS_CACERT")),
            root_token: var("OPENBAO_ROOT_TOKEN"),
            role_id: var("OPENBAO_ROLE_ID"),
            secret_id: var("OPENBAO_SECRET_ID"),
            limited_token: var("OPENBAO_LIMITED_TOKEN"),
        }
    })
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A path segment no other test uses.
pub fn unique(label: &str) -> String {
    format!(
        "{label}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

impl OpenBao {
    /// Runs the `bao` CLI as root against the plain server (`namespace` when given),
    /// or against the TLS server.
    fn bao(&self, tls: bool, namespace: Option<&str>, args: &[&str]) {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .env("BAO_TOKEN", &self.root_token)
            .env_remove("BAO_NAMESPACE")
            .env_remove("VAULT_NAMESPACE");
        if tls {
            cmd.env("BAO_ADDR", &self.tls_addr)
                .env("BAO_CACERT", &self.tls_ca);
        } else {
            cmd.env("BAO_ADDR", &self.addr);
        }
        if let Some(ns) = namespace {
            cmd.env("BAO_NAMESPACE", ns);
        }
        let out = cmd.output().expect("run bao");
        assert!(
            out.status.success(),
            "bao {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Writes a KV v2 secret at `secret/<path>` (plain server).
    pub fn put_kv2(&self, path: &str, fields: &[(&str, &str)]) {
        self.put(false, None, "secret", path, fields);
    }

    /// Writes a KV v1 secret at `kv1/<path>` (plain server).
    pub fn put_kv1(&self, path: &str, fields: &[(&str, &str)]) {
        self.put(false, None, "kv1", path, fields);
    }

    /// Writes a KV v2 secret at `secret/<path>` in namespace `ns` (plain server).
    pub fn put_in_namespace(&self, ns: &str, path: &str, fields: &[(&str, &str)]) {
        self.put(false, Some(ns), "secret", path, fields);
    }

    /// Writes a KV v2 secret at `secret/<path>` on the TLS server.
    pub fn put_tls(&self, path: &str, fields: &[(&str, &str)]) {
        self.put(true, None, "secret", path, fields);
    }

    fn put(&self, tls: bool, ns: Option<&str>, mount: &str, path: &str, fields: &[(&str, &str)]) {
        // Values go in files (`key=@file`), never on a command line.
        let dir = tempfile::tempdir().expect("temp dir");
        let mut args = vec![
            "kv".to_string(),
            "put".into(),
            format!("-mount={mount}"),
            path.into(),
        ];
        for (i, (k, v)) in fields.iter().enumerate() {
            let f = dir.path().join(format!("v{i}"));
            std::fs::write(&f, v).expect("write value");
            args.push(format!("{k}=@{}", f.display()));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.bao(tls, ns, &args);
    }

    /// The environment of a run that reads the plain server with `token`.
    pub fn env_token(&self, token: &str) -> Vec<(String, String)> {
        vec![
            ("VAULT_ADDR".into(), self.addr.clone()),
            ("VAULT_TOKEN".into(), token.into()),
        ]
    }
}
