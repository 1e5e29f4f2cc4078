//! Defines who runs a command: this machine's host name, and the operator a run writes
//! to history and audit rows.

use crate::config::Settings;

/// The original's `installed_by`: the username when one is set, else the host name.
/// A username that came from a secret manager is a secret: it is never written to
/// history or audit rows, and the host name stands in.
pub(crate) fn operator(settings: &Settings) -> String {
    match &settings.username {
        Some(u) if !settings.from_secret("username") => u.clone(),
        _ => hostname(),
    }
}

/// This machine's host name.
pub(crate) fn hostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}
