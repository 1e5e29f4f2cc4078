//! Defines the one redactor every output path goes through: stdout, stderr, `--verbose`
//! logs, dry-run plans, audit details and error messages. Secret values (passwords,
//! tokens, values resolved from a secret manager, file secrets in base64 and decoded,
//! and the secret-manager credentials in the environment) are registered once and
//! replaced by `***` wherever they would appear.

use std::borrow::Cow;
use std::sync::RwLock;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// What a registered value is replaced by.
pub const MASK: &str = "***";

/// Environment variables that hold secret-manager credentials: their values are
/// registered at start-up whatever the edition.
const SECRET_ENV: &[&str] = &[
    "VAULT_TOKEN",
    "BAO_TOKEN",
    "VAULT_SECRET_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AZURE_CLIENT_SECRET",
    "CASSANDRA_PASSWORD",
    "ASTRA_TOKEN",
];

/// The shortest value that is redacted: masking every `a` or `42` in every message
/// would make output unreadable, and a secret that short protects nothing anyway.
pub const MIN_LEN: usize = 4;

/// Registers a value to redact (values shorter than [`MIN_LEN`] are not), and its
/// escaped form when it has one: a value holding `"`, `\` or a control character shows
/// escaped in a driver's debug output or in JSON text (`\"`, `\\`), where the value
/// itself would not be found.
pub fn register(value: &str) {
    let value = value.trim_end_matches(['\r', '\n']);
    if value.chars().count() < MIN_LEN {
        return;
    }
    let debug = format!("{value:?}");
    let escaped = &debug[1..debug.len() - 1];
    let mut list = SECRETS
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for v in [value, escaped] {
        if !list.iter().any(|x| x == v) {
            list.push(v.to_string());
        }
    }
    // Longest first, so a secret that contains another is masked whole.
    list.sort_by_key(|v| std::cmp::Reverse(v.len()));
}

/// Registers a file secret: its base64 form, and its decoded text when it is text
/// (each non-trivial line too, so a PEM block quoted line by line is masked).
pub fn register_file(base64_text: &str, decoded: &[u8]) {
    register(base64_text.trim());
    if let Ok(text) = std::str::from_utf8(decoded) {
        register(text.trim());
        for line in text.lines().map(str::trim) {
            if line.len() >= 16 && !line.starts_with("-----") {
                register(line);
            }
        }
    }
}

/// Registers the credentials of secret managers found in the environment.
pub fn register_environment() {
    for var in SECRET_ENV {
        if let Ok(v) = std::env::var(var) {
            register(&v);
        }
    }
}

/// `text` with every registered value replaced by [`MASK`].
pub fn redact(text: &str) -> Cow<'_, str> {
    let list = SECRETS
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if list.is_empty() || !list.iter().any(|s| text.contains(s.as_str())) {
        return Cow::Borrowed(text);
    }
    let mut out = text.to_string();
    for s in list.iter() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), MASK);
        }
    }
    Cow::Owned(out)
}

/// A writer for log output that redacts each write before passing it on.
pub struct Writer<W: std::io::Write>(pub W);

impl<W: std::io::Write> std::io::Write for Writer<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_values_are_masked_longest_first() {
        register("hunter2-and-more");
        register("hunter2");
        assert_eq!(
            redact("password hunter2-and-more or hunter2."),
            "password *** or ***."
        );
        assert!(matches!(redact("nothing secret"), Cow::Borrowed(_)));
        register("");
        register("ab");
        assert_eq!(redact("a b ab"), "a b ab", "too short to mask");
    }

    #[test]
    fn a_value_with_quotes_is_masked_escaped_too() {
        register(r#"pw"with\slash"#);
        assert_eq!(redact(r#"plain pw"with\slash"#), "plain ***");
        assert_eq!(
            redact(r#"debug ["pw\"with\\slash"] json {"v":"pw\"with\\slash"}"#),
            r#"debug ["***"] json {"v":"***"}"#
        );
    }

    #[test]
    fn file_secrets_are_masked_encoded_decoded_and_by_line() {
        let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n";
        register_file(
            "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1JSUV2UUlC",
            pem.as_bytes(),
        );
        assert_eq!(
            redact("got LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1JSUV2UUlC"),
            "got ***"
        );
        assert_eq!(redact("line MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"), "line ***");
        assert_eq!(
            redact("-----BEGIN PRIVATE KEY-----"),
            "-----BEGIN PRIVATE KEY-----",
            "PEM armour alone is not a secret"
        );
    }
}
