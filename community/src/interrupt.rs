//! Defines how a run learns it should stop: the first SIGINT, SIGTERM or SIGHUP, or a
//! closed stdout during a data-changing command, marks the process interrupted; scripts
//! stop between statements, waits for the lock end at once, and the run records what it
//! did, releases its lock and exits 130. A second signal quits at once (the lock then
//! expires after its TTL).

use std::sync::LazyLock;

use cassachange_core::stop::Stop;

use crate::exit::ExitStatus;

/// The process's one stop request, which every run of this process is given.
static STOP: LazyLock<Stop> = LazyLock::new(Stop::new);

/// The stop request runs watch.
pub fn stop() -> &'static Stop {
    &STOP
}

/// Interrupts the run for `reason` ("standard output closed (…)"), saying so on stderr
/// the first time only.
pub fn stop_because(reason: &str) {
    if !STOP.request(reason) {
        crate::ui::note(format_args!(
            "{reason}: stopping after the current statement"
        ));
    }
}

/// True once the run was interrupted.
pub fn interrupted() -> bool {
    STOP.requested()
}

/// Watches for SIGINT, SIGTERM and SIGHUP (Ctrl-C on other platforms): the first one
/// interrupts the run, the second exits at once.
pub async fn watch_signals() {
    let mut signals = Signals::new();
    let (name, what) = signals.next().await;
    let already = STOP.request(name);
    crate::ui::note(format_args!(
        "{what} ({name}): {}stopping after the current statement (again to quit at once)",
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
    const NAMES: [(&'static str, &'static str); 3] = [
        ("SIGINT", "interrupted"),
        ("SIGTERM", "terminated"),
        ("SIGHUP", "hung up"),
    ];

    fn new() -> Self {
        use tokio::signal::unix::{signal, SignalKind};
        Signals([
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::hangup()).ok(),
        ])
    }

    async fn next(&mut self) -> (&'static str, &'static str) {
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

/// Ctrl-C, Ctrl-Break, the console window closed, and logoff/shutdown: Windows' forms
/// of SIGINT, SIGTERM and SIGHUP.
#[cfg(windows)]
struct Signals {
    c: Option<tokio::signal::windows::CtrlC>,
    brk: Option<tokio::signal::windows::CtrlBreak>,
    close: Option<tokio::signal::windows::CtrlClose>,
    shutdown: Option<tokio::signal::windows::CtrlShutdown>,
}

#[cfg(windows)]
impl Signals {
    fn new() -> Self {
        use tokio::signal::windows::{ctrl_break, ctrl_c, ctrl_close, ctrl_shutdown};
        Signals {
            c: ctrl_c().ok(),
            brk: ctrl_break().ok(),
            close: ctrl_close().ok(),
            shutdown: ctrl_shutdown().ok(),
        }
    }

    async fn next(&mut self) -> (&'static str, &'static str) {
        macro_rules! recv {
            ($s:expr) => {
                async {
                    match $s.as_mut() {
                        Some(s) => {
                            s.recv().await;
                        }
                        None => std::future::pending::<()>().await,
                    }
                }
            };
        }
        tokio::select! {
            () = recv!(self.c) => ("Ctrl-C", "interrupted"),
            () = recv!(self.brk) => ("Ctrl-Break", "interrupted"),
            () = recv!(self.close) => ("console closed", "hung up"),
            () = recv!(self.shutdown) => ("shutdown", "terminated"),
        }
    }
}

#[cfg(not(any(unix, windows)))]
struct Signals;

#[cfg(not(any(unix, windows)))]
impl Signals {
    fn new() -> Self {
        Signals
    }

    async fn next(&mut self) -> (&'static str, &'static str) {
        let _ = tokio::signal::ctrl_c().await;
        ("Ctrl-C", "interrupted")
    }
}
