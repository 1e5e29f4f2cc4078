//! Defines the clocks a lease is measured on: one that keeps counting while the machine
//! is suspended (a laptop lid, a suspended VM, a checkpointed process), and the wall
//! clock as a second opinion. A lease checked on a clock that stops during suspend
//! would look valid after resume while the server's TTL has long expired.

use std::time::Duration;

/// The time source of a lease.
pub trait LeaseClock: Send + Sync + std::fmt::Debug + 'static {
    /// Time since an arbitrary origin, counting time spent suspended.
    fn now(&self) -> Duration;
    /// Milliseconds since the Unix epoch (the wall clock, which may jump).
    fn wall_ms(&self) -> i64;
}

/// The operating system's clocks: `CLOCK_BOOTTIME` on Linux and Android (counts
/// suspend), `CLOCK_MONOTONIC` elsewhere on Unix (on macOS it counts sleep too), and
/// the performance counter behind `Instant` on Windows. The lease also checks the wall
/// clock, which catches a suspend where the monotonic clock stops during it.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl LeaseClock for SystemClock {
    fn now(&self) -> Duration {
        system_now()
    }

    fn wall_ms(&self) -> i64 {
        crate::timefmt::now_ms()
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn system_now() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

#[cfg(all(unix, not(any(target_os = "linux", target_os = "android"))))]
fn system_now() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

#[cfg(not(unix))]
fn system_now() -> Duration {
    use std::sync::OnceLock;
    static ORIGIN: OnceLock<std::time::Instant> = OnceLock::new();
    ORIGIN.get_or_init(std::time::Instant::now).elapsed()
}

/// The tokio clock (paused and advanced in tests), plus a jump that a test adds to
/// stand for time spent suspended (which tokio's timers never see).
#[derive(Debug)]
pub struct TestClock {
    origin: tokio::time::Instant,
    suspended: std::sync::Mutex<Duration>,
    wall_jump: std::sync::Mutex<Duration>,
    wall_origin: i64,
}

impl Default for TestClock {
    fn default() -> Self {
        TestClock {
            origin: tokio::time::Instant::now(),
            suspended: std::sync::Mutex::new(Duration::ZERO),
            wall_jump: std::sync::Mutex::new(Duration::ZERO),
            wall_origin: 1_700_000_000_000,
        }
    }
}

impl TestClock {
    /// Adds `d` to the clock as if the machine had been suspended for that long.
    pub fn suspend(&self, d: Duration) {
        *self
            .suspended
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) += d;
    }

    /// Moves the wall clock alone forward by `d` (NTP, or a platform whose monotonic
    /// clock stopped during a suspend).
    pub fn jump_wall(&self, d: Duration) {
        *self
            .wall_jump
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) += d;
    }
}

impl LeaseClock for TestClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
            + *self
                .suspended
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn wall_ms(&self) -> i64 {
        let jump = *self
            .wall_jump
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.wall_origin + i64::try_from((self.now() + jump).as_millis()).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_moves_forward() {
        let a = SystemClock.now();
        std::thread::sleep(Duration::from_millis(5));
        assert!(SystemClock.now() > a);
    }
}
