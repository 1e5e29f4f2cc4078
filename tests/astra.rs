//! The AstraDB side of the fixture: the stand-in `tests/services/astra.sh` runs in
//! front of the `secure` instance (or the 3-node `cluster`), started on first use, and
//! projects that connect through it with a secure connect bundle and a token.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::db::{self, Instance, Keyspace};
use crate::{tests_dir, Output, Project};

/// One stand-in.
#[derive(Debug)]
pub struct Astra {
    /// Its folder: `bundle-<mode>.zip`, `router.log`, `hosts.json`.
    pub dir: PathBuf,
    /// The SNI router's address.
    pub router: String,
    /// The application token (`AstraCS:…`).
    pub token: String,
    /// The instance behind it.
    pub instance: &'static Instance,
}

fn script() -> PathBuf {
    tests_dir().join("services/astra.sh")
}

fn start(name: &str, instance: &'static Instance) -> Astra {
    let up = Command::new(script())
        .args(["status", "--name", name])
        .status()
        .expect("astra.sh status")
        .success();
    if !up {
        let out = Command::new(script())
            .args(["start", "--name", name])
            .output()
            .expect("astra.sh start");
        assert!(
            out.status.success(),
            "could not start the AstraDB stand-in for {name}:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let env = Command::new(script())
        .args(["env", "--name", name])
        .output()
        .expect("astra.sh env");
    let text = String::from_utf8_lossy(&env.stdout).into_owned();
    let var = |k: &str| {
        let v = text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("export {k}=")))
            .unwrap_or_else(|| panic!("{k} missing from astra.sh env:\n{text}"));
        v.trim_matches('\'').trim_matches('"').to_string()
    };
    Astra {
        dir: PathBuf::from(var("ASTRA_STANDIN_DIR")),
        router: var("ASTRA_STANDIN_ROUTER"),
        token: var("ASTRA_STANDIN_TOKEN"),
        instance,
    }
}

/// The stand-in in front of the `secure` instance.
pub fn astra() -> &'static Astra {
    static I: OnceLock<Astra> = OnceLock::new();
    I.get_or_init(|| start("secure", db::secure()))
}

/// The stand-in in front of the 3-node `cluster` instance.
pub fn astra_cluster() -> &'static Astra {
    static I: OnceLock<Astra> = OnceLock::new();
    I.get_or_init(|| start("cluster", db::cluster()))
}

impl Astra {
    /// A bundle: `ok`, `500`, `badjson`, `noproxy`, `otherca` or `corrupt`.
    pub fn bundle(&self, mode: &str) -> PathBuf {
        self.dir.join(format!("bundle-{mode}.zip"))
    }

    /// Lines the router logged (`<host id> -> <node>` or `<name> refused`).
    pub fn router_log(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("router.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The host ids of the nodes behind it.
    pub fn host_ids(&self) -> Vec<String> {
        let text = std::fs::read_to_string(self.dir.join("hosts.json")).expect("hosts.json");
        let doc: serde_json::Value = serde_json::from_str(&text).expect("json");
        doc.as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// A project that connects through an Astra stand-in.
pub struct AstraProject {
    /// The project.
    pub project: Project,
    /// Target keyspace.
    pub ks: Keyspace,
    /// History keyspace.
    pub history: Keyspace,
}

impl AstraProject {
    /// A project with `bundle` and the stand-in's token in the environment
    /// (`ASTRA_SECURE_CONNECT_BUNDLE`, `ASTRA_TOKEN`), and `extra` YAML.
    pub fn new(astra: &Astra, label: &str, bundle: &str, extra: &str) -> Self {
        let ks = astra.instance.keyspace(&format!("{label}k"));
        let history = astra.instance.keyspace(&format!("{label}h"));
        let mut project = Project::new();
        project.write(
            "cassachange.yml",
            format!(
                "keyspace: {}\nhistory_keyspace: {}\n{extra}",
                ks.name, history.name
            ),
        );
        project.env(
            "ASTRA_SECURE_CONNECT_BUNDLE",
            &astra.bundle(bundle).display().to_string(),
        );
        project.env("ASTRA_TOKEN", &astra.token);
        AstraProject {
            project,
            ks,
            history,
        }
    }

    /// Writes a migration.
    pub fn script(&self, rel: &str, body: &str) -> &Self {
        self.project.write(&format!("migrations/{rel}"), body);
        self
    }

    /// Runs the binary.
    pub fn run(&self, args: &[&str]) -> Output {
        self.project.run(args)
    }
}
