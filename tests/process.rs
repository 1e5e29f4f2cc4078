//! Defines how the suite runs processes: every command within a time limit (a hang is
//! a failure with its output, never a stalled suite), one `Output` type, spawning a
//! run to act on it while it goes (signals, waits), and the clocks tests compare with.

use std::process::Command;
use std::time::Duration;

use crate::{DbProject, Project};

/// How long one command of a test may run before it is killed and the test fails with
/// what it printed so far: a hang is a failure with a reason, never a stalled suite.
/// `CASSACHANGE_TEST_COMMAND_LIMIT` (seconds) overrides the default of 600.
pub static COMMAND_LIMIT: std::sync::LazyLock<Duration> = std::sync::LazyLock::new(|| {
    Duration::from_secs(
        std::env::var("CASSACHANGE_TEST_COMMAND_LIMIT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(600),
    )
});

/// Runs `cmd` with piped output; kills it and panics with its output so far when it runs
/// longer than `limit`.
pub fn output_within(cmd: &mut Command, limit: Duration) -> std::process::Output {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let err = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the command") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let stdout = String::from_utf8_lossy(&out.join().unwrap_or_default()).into_owned();
            let stderr = String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned();
            panic!(
                "{cmd:?} was still running after {}s and was killed\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
                limit.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    std::process::Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// What a finished process printed.
#[derive(Debug)]
pub struct Output {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    fn from(out: &std::process::Output) -> Self {
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs `cmd` to the end (at most [`COMMAND_LIMIT`]) and keeps what it printed.
    pub fn of(cmd: &mut Command) -> Self {
        Self::from(&output_within(cmd, *COMMAND_LIMIT))
    }

    /// Like [`Output::of`] with a limit of its own (builds that may compile from cold).
    pub fn within(cmd: &mut Command, limit: Duration) -> Self {
        Self::from(&output_within(cmd, limit))
    }

    /// stdout and stderr together, for searching.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Starts `cassachange <args>` in the project with stdout and stderr piped.
pub fn spawn(p: &DbProject, args: &[&str], env: &[(&str, &str)]) -> std::process::Child {
    spawn_in(&p.project, args, env)
}

/// Starts `cassachange <args>` in `project` with stdout and stderr piped.
pub fn spawn_in(project: &Project, args: &[&str], env: &[(&str, &str)]) -> std::process::Child {
    let mut cmd = project.command(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn")
}

/// Waits for a child; its exit code (-1 when killed) and stdout + stderr.
pub fn finish(child: std::process::Child) -> (i32, String) {
    let out = child.wait_with_output().expect("wait");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// Waits until `cond` holds (or panics after `limit`).
pub fn wait_for(limit: std::time::Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Sends `signal` (e.g. `-HUP`) to a process.
pub fn signal(pid: u32, signal: &str) {
    let ok = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill {signal} {pid}");
}

/// Milliseconds since the epoch on this machine (the test node runs here too).
pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock");
    i64::try_from(d.as_millis()).expect("ms")
}

/// Starts `cassachange <args>` (which must pass `--lock-wait`) while the lock is held
/// elsewhere, and returns once it says it waits: the child (stdout piped) and the file
/// its stderr goes to.
pub fn spawn_waiting(p: &DbProject, args: &[&str]) -> (std::process::Child, std::path::PathBuf) {
    let err = p.project.path().join("waiting.err");
    let child = p
        .project
        .command(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .spawn()
        .expect("spawn");
    wait_for(
        Duration::from_secs(60),
        "the run to wait for the lock",
        || std::fs::read_to_string(&err).is_ok_and(|t| t.contains("; waiting up to ")),
    );
    (child, err)
}
