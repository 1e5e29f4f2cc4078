//! Defines how a run learns it should stop: the first SIGINT, SIGTERM or SIGHUP, or a
//! closed stdout during a data-changing command, marks the process interrupted; scripts
//! stop between statements, waits for the lock end at once, and the run records what it
//! did, releases its lock and exits 130. A second signal quits at once (the lock then
//! expires after its TTL).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::LazyLock;

use tokio::sync::Notify;

use crate::exit::ExitStatus;

static FLAG: AtomicBool = AtomicBool::new(false);
static WAKE: LazyLock<Notify> = LazyLock::new(Notify::new);

/// Marks the run as interrupted and wakes everything waiting in [`wait`]; true when it
/// already was.
fn mark() -> bool {
    let already = FLAG.swap(true, Ordering::SeqCst);
    WAKE.notify_waiters();
    already
}

/// Interrupts the run for `reason` ("standard output closed (…)"), saying so on stderr
/// the first time only.
pub fn stop_because(reason: &str) {
    if !mark() {
        crate::ui::note(format_args!(
            "{reason}: stopping after the current statement"
        ));
    }
}

/// True once the run was interrupted.
pub fn interrupted() -> bool {
    FLAG.load(Ordering::SeqCst)
}

/// Completes when the run is interrupted (at once if it already was).
pub async fn wait() {
    loop {
        let notified = WAKE.notified();
        if interrupted() {
            return;
        }
        notified.await;
    }
}

/// Watches for SIGINT, SIGTERM and SIGHUP (Ctrl-C on other platforms): the first one
/// interrupts the run, the second exits at once.
pub async fn watch_signals() {
    let mut signals = Signals::new();
    let name = signals.next().await;
    let already = mark();
    crate::ui::note(format_args!(
        "{name}: {}stopping after the current statement (again to quit at once)",
        if already { "already " } else { "" }
    ));
    signals.next().await;
    std::process::exit(i32::from(ExitStatus::Interrupted.code()));
}

/// Watches stdout of a data-changing command on a thread of its own: when its reader
/// goes away (a pipe whose reader quit, a closed socket, a hung-up terminal) the run
/// stops between statements, as for a signal, rather than on its next line of output.
#[cfg(unix)]
pub fn watch_stdout() {
    use rustix::event::{poll, PollFd, PollFlags};
    let spawned = std::thread::Builder::new()
        .name("stdout-watch".into())
        .spawn(|| {
            let stdout = std::io::stdout();
            loop {
                let mut fds = [PollFd::new(&stdout, PollFlags::empty())];
                match poll(&mut fds, None) {
                    Ok(_) => {
                        let got = fds[0].revents();
                        if got.intersects(PollFlags::ERR | PollFlags::HUP | PollFlags::NVAL) {
                            crate::ui::stdout_gone("its reader went away");
                            return;
                        }
                    }
                    Err(rustix::io::Errno::INTR) => {}
                    Err(_) => return,
                }
            }
        });
    // A thread that cannot be started leaves the check to the next line written.
    drop(spawned);
}

/// Without `poll`, a closed stdout is found at the next line written.
#[cfg(not(unix))]
pub fn watch_stdout() {}

#[cfg(unix)]
struct Signals([Option<tokio::signal::unix::Signal>; 3]);

#[cfg(unix)]
impl Signals {
    const NAMES: [&'static str; 3] = [
        "interrupted (SIGINT)",
        "terminated (SIGTERM)",
        "hung up (SIGHUP)",
    ];

    fn new() -> Self {
        use tokio::signal::unix::{signal, SignalKind};
        Signals([
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::hangup()).ok(),
        ])
    }

    async fn next(&mut self) -> &'static str {
        async fn recv(s: Option<&mut tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        let [int, term, hup] = &mut self.0;
        tokio::select! {
            () = recv(int.as_mut()) => Self::NAMES[0],
            () = recv(term.as_mut()) => Self::NAMES[1],
            () = recv(hup.as_mut()) => Self::NAMES[2],
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn new() -> Self {
        Signals
    }

    async fn next(&mut self) -> &'static str {
        let _ = tokio::signal::ctrl_c().await;
        "interrupted (Ctrl-C)"
    }
}
