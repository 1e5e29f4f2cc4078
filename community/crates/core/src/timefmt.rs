//! Defines the clock and the timestamp format of history rows: UTC, milliseconds,
//! strictly increasing within one process so two rows of a run never share a key.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static LAST: AtomicI64 = AtomicI64::new(0);

/// Milliseconds since the epoch, strictly greater than the previous call's.
pub fn now_ms() -> i64 {
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = wall.max(prev + 1);
        match LAST.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(p) => prev = p,
        }
    }
}

/// The timestamps of one run's history rows: strictly increasing, and above every
/// history row the run read under the lock, so the order of events never depends on
/// one client's clock (a row written by a machine whose clock runs fast cannot
/// outrank the rows of the runs after it).
#[derive(Debug)]
pub struct RunClock {
    last: AtomicI64,
}

impl RunClock {
    /// A clock whose first stamp is above `floor` (the newest row read).
    pub fn above(floor: i64) -> Self {
        RunClock {
            last: AtomicI64::new(floor),
        }
    }

    /// The next stamp: this machine's time, or one past the previous stamp if that is
    /// later.
    pub fn next(&self) -> i64 {
        let wall = now_ms();
        let mut prev = self.last.load(Ordering::Relaxed);
        loop {
            let next = wall.max(prev + 1);
            match self
                .last
                .compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return next,
                Err(p) => prev = p,
            }
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS` in UTC.
pub fn format_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc() {
        assert_eq!(format_ms(0), "1970-01-01 00:00:00");
        assert_eq!(format_ms(1_710_495_120_000), "2024-03-15 09:32:00");
        assert_eq!(format_ms(951_782_400_000), "2000-02-29 00:00:00");
    }

    #[test]
    fn run_clock_starts_above_the_newest_row() {
        let future = now_ms() + 600_000;
        let c = RunClock::above(future);
        let a = c.next();
        assert_eq!(a, future + 1, "a row from a fast clock is outranked");
        assert_eq!(c.next(), a + 1);
        let past = RunClock::above(0);
        assert!(past.next() >= now_ms() - 1000, "otherwise the wall clock");
    }

    #[test]
    fn strictly_increasing() {
        let a = now_ms();
        let b = now_ms();
        assert!(b > a);
    }
}
