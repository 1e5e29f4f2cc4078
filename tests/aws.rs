//! The AWS side of the fixture: the moto server `tests/services/moto.sh` runs (started
//! on first use when not running), helpers that create SSM parameters and Secrets
//! Manager secrets with boto3 (values passed on stdin, never on a command line), and
//! the environment of a run that reaches it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::tests_dir;

/// The moto server.
#[derive(Debug)]
pub struct Moto {
    /// `http://127.0.0.1:<port>`.
    pub addr: String,
    /// The venv's Python (with boto3).
    pub python: PathBuf,
}

fn script() -> PathBuf {
    tests_dir().join("services/moto.sh")
}

/// The moto server, started if needed.
pub fn moto() -> &'static Moto {
    static I: OnceLock<Moto> = OnceLock::new();
    I.get_or_init(|| {
        let up = Command::new(script())
            .arg("status")
            .status()
            .expect("moto.sh status")
            .success();
        if !up {
            let out = Command::new(script())
                .arg("start")
                .output()
                .expect("moto.sh start");
            assert!(
                out.status.success(),
                "could not start moto:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let env = Command::new(script())
            .arg("env")
            .output()
            .expect("moto.sh env");
        let text = String::from_utf8_lossy(&env.stdout).into_owned();
        let var = |k: &str| {
            let v = text
                .lines()
                .find_map(|l| l.strip_prefix(&format!("export {k}=")))
                .unwrap_or_else(|| panic!("{k} missing from moto.sh env:\n{text}"));
            v.trim_matches('\'').trim_matches('"').to_string()
        };
        Moto {
            addr: var("MOTO_ADDR"),
            python: PathBuf::from(var("MOTO_PYTHON")),
        }
    })
}

/// The region the tests use.
pub const REGION: &str = "eu-west-1";

impl Moto {
    /// Runs a boto3 snippet with `value` on stdin (`v` in the snippet).
    fn boto(&self, code: &str, value: &[u8]) {
        let program = format!(
            "import sys, boto3\nv = sys.stdin.buffer.read()\n\
             kw = dict(endpoint_url='{}', region_name='{REGION}', aws_access_key_id='test', \
             aws_secret_access_key='test')\n{code}\n",
            self.addr
        );
        let mut child = Command::new(&self.python)
            .arg("-c")
            .arg(program)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(value)
            .expect("write value");
        let out = child.wait_with_output().expect("python");
        assert!(
            out.status.success(),
            "boto3 failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Creates an SSM parameter (`String`, `StringList` or `SecureString`).
    pub fn put_parameter(&self, name: &str, value: &str, kind: &str) {
        self.boto(
            &format!(
                "boto3.client('ssm', **kw).put_parameter(Name='{name}', Value=v.decode(), \
                 Type='{kind}', Overwrite=True)"
            ),
            value.as_bytes(),
        );
    }

    /// Creates a Secrets Manager secret holding a string.
    pub fn put_secret_string(&self, name: &str, value: &str) {
        self.boto(
            &format!(
                "boto3.client('secretsmanager', **kw).create_secret(Name='{name}', SecretString=v.decode())"
            ),
            value.as_bytes(),
        );
    }

    /// Creates a Secrets Manager secret holding bytes.
    pub fn put_secret_binary(&self, name: &str, value: &[u8]) {
        self.boto(
            &format!(
                "boto3.client('secretsmanager', **kw).create_secret(Name='{name}', SecretBinary=v)"
            ),
            value,
        );
    }

    /// The environment of a run that reaches moto with no credentials yet: endpoint,
    /// region, no instance metadata, and shared files that do not exist under `home`
    /// (so the machine's own `~/.aws` is never read).
    pub fn env_without_credentials(&self, home: &Path) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.addr.clone()),
            ("AWS_REGION", REGION.to_string()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            (
                "AWS_CONFIG_FILE",
                home.join("aws-config-absent").display().to_string(),
            ),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                home.join("aws-credentials-absent").display().to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// The environment with access keys in it.
    pub fn env(&self, home: &Path) -> Vec<(String, String)> {
        let mut env = self.env_without_credentials(home);
        env.push(("AWS_ACCESS_KEY_ID".into(), "AKIAMOTOTEST".into()));
        env.push((
            "AWS_SECRET_ACCESS_KEY".into(),
            "moto-test-secret-key".into(),
        ));
        env
    }
}
