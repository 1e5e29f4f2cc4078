//! Defines how a run is asked to stop: a [`Stop`] that a signal handler, an output
//! watcher or a test marks once, with the reason. Scripts stop between statements,
//! lock waits end at once, and the run records what it did before it ends.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use tokio::sync::Notify;

/// A request to stop, shared between whoever asks (signals, a closed stdout) and the run.
#[derive(Debug, Default)]
pub struct Stop {
    flag: AtomicBool,
    reason: OnceLock<String>,
    wake: Notify,
}

impl Stop {
    /// Not asked to stop.
    pub fn new() -> Self {
        Stop::default()
    }

    /// Asks the run to stop for `reason` (e.g. `SIGINT`, `standard output closed`);
    /// returns true when it had been asked already (the first reason is kept).
    pub fn request(&self, reason: &str) -> bool {
        let _ = self.reason.set(reason.to_string());
        let already = self.flag.swap(true, Ordering::SeqCst);
        self.wake.notify_waiters();
        already
    }

    /// True once a stop was requested.
    pub fn requested(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Why the stop was requested, once it was.
    pub fn reason(&self) -> Option<&str> {
        if self.requested() {
            self.reason.get().map(String::as_str)
        } else {
            None
        }
    }

    /// Completes when a stop is requested (at once if it already was).
    pub async fn wait(&self) {
        loop {
            let notified = self.wake.notified();
            if self.requested() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_reason_is_kept_and_waiters_wake() {
        let stop = std::sync::Arc::new(Stop::new());
        assert!(!stop.requested());
        assert_eq!(stop.reason(), None);
        let waiter = tokio::spawn({
            let stop = stop.clone();
            async move { stop.wait().await }
        });
        assert!(!stop.request("SIGINT"));
        assert!(stop.request("SIGTERM"));
        waiter.await.expect("woken");
        assert_eq!(stop.reason(), Some("SIGINT"));
        stop.wait().await;
    }
}
