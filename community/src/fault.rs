//! Test-only (cargo feature `fault-points`, never in a release): a build that stops
//! itself (SIGSTOP) at a named point of a run when `CASSACHANGE_FAULT_PAUSE` names it,
//! after saying so on stdout. The fault suite sets up its moment on that announced
//! event — "the run is about to release its lock" — instead of racing a sleep against
//! microseconds.

/// Pauses the process at `name` when asked to.
pub(crate) fn point(name: &str) {
    if std::env::var("CASSACHANGE_FAULT_PAUSE").as_deref() == Ok(name) {
        crate::outln!("[fault]   paused before {name}");
        let _ = std::process::Command::new("kill")
            .args(["-STOP", &std::process::id().to_string()])
            .status();
    }
}
