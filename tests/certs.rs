//! Defines the client certificates operators make, made the way they make them (the
//! `openssl` command line), signed by a test instance's CA: X.509 v1 and v3; PKCS#8,
//! PKCS#1 and SEC1 keys; RSA and EC; a chain through an intermediate CA; an expired
//! certificate; one from a CA the node does not trust; a key that belongs to another
//! certificate.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One client certificate and its key.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// What it is, in words.
    pub name: &'static str,
    /// The certificate file (PEM; with the intermediate after it for a chain).
    pub cert: PathBuf,
    /// The key file (PEM).
    pub key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write");
}

const V3_CLIENT: &str = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n";
const V3_CA: &str = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n";

/// A certificate request for a new key of `kind` (`rsa`: PKCS#8 as `openssl req`
/// writes it; `ec`: SEC1 as `openssl ecparam -genkey` writes it) in `dir/<stem>.key`.
fn request(dir: &Path, stem: &str, kind: &str) {
    let key = format!("{stem}.key");
    let csr = format!("{stem}.csr");
    if kind == "ec" {
        openssl(
            dir,
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                &key,
            ],
        );
        openssl(
            dir,
            &[
                "req",
                "-new",
                "-key",
                &key,
                "-out",
                &csr,
                "-subj",
                "/CN=cassachange-client",
            ],
        );
    } else {
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                "/CN=cassachange-client",
            ],
        );
    }
}

/// Signs `dir/<stem>.csr` with `ca` (`<ca>.pem`, `<ca>.key`) into `dir/<stem>.pem`: v1
/// without `ext`, v3 with it; `days` may be negative (already expired).
fn sign(dir: &Path, stem: &str, ca: &Path, ext: Option<&str>, days: i32) {
    let (ca_pem, ca_key) = (ca.with_extension("pem"), ca.with_extension("key"));
    let (csr, pem, days) = (
        format!("{stem}.csr"),
        format!("{stem}.pem"),
        days.to_string(),
    );
    let mut args = vec![
        "x509",
        "-req",
        "-sha256",
        "-days",
        &days,
        "-in",
        &csr,
        "-CA",
        ca_pem.to_str().expect("utf-8 path"),
        "-CAkey",
        ca_key.to_str().expect("utf-8 path"),
        "-CAcreateserial",
        "-out",
        &pem,
    ];
    let ext_file = format!("{stem}.ext");
    if let Some(e) = ext {
        write(dir, &ext_file, e);
        args.extend(["-extfile", &ext_file]);
    }
    openssl(dir, &args);
}

/// Every recipe, in `out`, signed by the CA whose files are `ca_dir/ca.pem` and
/// `ca_dir/ca.key` (the test instance's CA: the node trusts it).
pub fn client_recipes(ca_dir: &Path, out: &Path) -> Vec<Recipe> {
    std::fs::create_dir_all(out).expect("recipes dir");
    let ca = ca_dir.join("ca");
    let p = |f: &str| out.join(f);
    // v1 (no extensions), PKCS#8 key; and the same with the key as PKCS#1.
    request(out, "v1", "rsa");
    sign(out, "v1", &ca, None, 30);
    openssl(
        out,
        &[
            "rsa",
            "-in",
            "v1.key",
            "-traditional",
            "-out",
            "v1.pkcs1.key",
        ],
    );
    // v3, PKCS#8 and PKCS#1.
    request(out, "v3", "rsa");
    sign(out, "v3", &ca, Some(V3_CLIENT), 30);
    openssl(
        out,
        &[
            "rsa",
            "-in",
            "v3.key",
            "-traditional",
            "-out",
            "v3.pkcs1.key",
        ],
    );
    // v3, EC (SEC1).
    request(out, "ec", "ec");
    sign(out, "ec", &ca, Some(V3_CLIENT), 30);
    // A chain: root -> intermediate (v3 CA) -> client; the file holds client, then
    // intermediate.
    openssl(
        out,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "inter.key",
            "-out",
            "inter.csr",
            "-subj",
            "/CN=cassachange intermediate CA",
        ],
    );
    sign(out, "inter", &ca, Some(V3_CA), 30);
    request(out, "chained", "rsa");
    sign(out, "chained", &out.join("inter"), Some(V3_CLIENT), 30);
    let chain = std::fs::read_to_string(p("chained.pem")).expect("chained")
        + &std::fs::read_to_string(p("inter.pem")).expect("inter");
    write(out, "chain.pem", &chain);
    // Expired yesterday.
    request(out, "expired", "rsa");
    sign(out, "expired", &ca, Some(V3_CLIENT), -1);
    // From a CA the node does not trust.
    openssl(
        out,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-sha256",
            "-days",
            "30",
            "-keyout",
            "other-ca.key",
            "-out",
            "other-ca.pem",
            "-subj",
            "/CN=another CA",
        ],
    );
    request(out, "foreign", "rsa");
    sign(out, "foreign", &out.join("other-ca"), Some(V3_CLIENT), 30);
    vec![
        Recipe {
            name: "v1 certificate, PKCS#8 key",
            cert: p("v1.pem"),
            key: p("v1.key"),
        },
        Recipe {
            name: "v1 certificate, PKCS#1 key",
            cert: p("v1.pem"),
            key: p("v1.pkcs1.key"),
        },
        Recipe {
            name: "v3 certificate, PKCS#8 key",
            cert: p("v3.pem"),
            key: p("v3.key"),
        },
        Recipe {
            name: "v3 certificate, PKCS#1 key",
            cert: p("v3.pem"),
            key: p("v3.pkcs1.key"),
        },
        Recipe {
            name: "v3 certificate, EC key (SEC1)",
            cert: p("ec.pem"),
            key: p("ec.key"),
        },
        Recipe {
            name: "v3 certificate through an intermediate CA",
            cert: p("chain.pem"),
            key: p("chained.key"),
        },
        Recipe {
            name: "expired certificate",
            cert: p("expired.pem"),
            key: p("expired.key"),
        },
        Recipe {
            name: "certificate from another CA",
            cert: p("foreign.pem"),
            key: p("foreign.key"),
        },
        Recipe {
            name: "key of another certificate",
            cert: p("v3.pem"),
            key: p("v1.key"),
        },
    ]
}
