//! When the daemon writes state.json: at most every [`INTERVAL`] while the
//! sessions are dirty, and, while writes fail (a full disk, a directory in
//! the way), exponentially less often, up to [`MAX_BACKOFF`] apart, with a
//! log line only for the 1st, 2nd, 4th, 8th... failure. A failing write
//! never keeps the daemon awake: it is retried on its own deadline and does
//! not hold back the idle exit.

use llm_bridge_core::error::one_line;
use llm_bridge_core::log::log;
use llm_bridge_core::snapshot;
use llm_bridge_core::state::State;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The shortest time between two writes of state.json.
pub const INTERVAL: Duration = Duration::from_millis(100);
/// The longest time between two attempts while writes fail.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

pub struct Persist {
    path: PathBuf,
    /// The sessions changed since state.json was last written.
    dirty: bool,
    /// When the next write may happen, while dirty.
    next_at: Option<Instant>,
    last_attempt: Option<Instant>,
    /// Writes that failed in a row.
    failures: u32,
}

/// What one attempt did, for the counters.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Written,
    Failed,
}

impl Persist {
    pub fn new(path: PathBuf) -> Persist {
        Persist {
            path,
            dirty: false,
            next_at: None,
            last_attempt: None,
            failures: 0,
        }
    }

    /// The sessions changed at `now`.
    pub fn mark_dirty(&mut self, now: Instant) {
        if self.dirty {
            return;
        }
        self.dirty = true;
        self.next_at = Some(match self.last_attempt {
            Some(last) => (last + self.delay()).max(now),
            None => now,
        });
    }

    /// When the next write is due, if one is.
    pub fn deadline(&self) -> Option<Instant> {
        self.next_at.filter(|_| self.dirty)
    }

    /// Whether an unwritten change should keep a socket-activated daemon
    /// alive: yes while writes succeed, no once they fail (the retry has
    /// its own deadline, and exiting flushes once more).
    pub fn holds_idle_exit(&self) -> bool {
        self.dirty && self.failures == 0
    }

    /// Writes state.json if a write is due at `now` (or `force`, at exit).
    pub fn save_if_due(&mut self, state: &State, now: Instant, force: bool) -> Option<Outcome> {
        let due = self.deadline().is_some_and(|at| at <= now);
        if !self.dirty || !(due || force) {
            return None;
        }
        self.last_attempt = Some(now);
        Some(match snapshot::save(&self.path, state) {
            Ok(()) => {
                self.dirty = false;
                self.next_at = None;
                if self.failures > 0 {
                    log(format_args!(
                        "{} written again after {} failed attempts",
                        self.path.display(),
                        self.failures
                    ));
                }
                self.failures = 0;
                Outcome::Written
            }
            Err(e) => {
                self.failed(now, &e);
                Outcome::Failed
            }
        })
    }

    fn failed(&mut self, now: Instant, e: &llm_bridge_core::error::Error) {
        self.failures = self.failures.saturating_add(1);
        self.next_at = Some(now + self.delay());
        if self.failures.is_power_of_two() {
            log(format_args!(
                "{} (failure {}; next attempt in {} ms)",
                one_line(e),
                self.failures,
                self.delay().as_millis()
            ));
        }
    }

    /// The wait before the next attempt: [`INTERVAL`], doubled per failure.
    fn delay(&self) -> Duration {
        let doublings = self.failures.min(20);
        INTERVAL.saturating_mul(1 << doublings).min(MAX_BACKOFF)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_at_most_every_interval_while_dirty() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = Persist::new(dir.path().join("state.json"));
        let t0 = Instant::now();
        let st = State::new();
        assert_eq!(p.deadline(), None, "clean: nothing due");
        p.mark_dirty(t0);
        assert_eq!(p.deadline(), Some(t0));
        assert_eq!(p.save_if_due(&st, t0, false), Some(Outcome::Written));
        assert_eq!(p.deadline(), None);
        p.mark_dirty(t0 + Duration::from_millis(10));
        assert_eq!(p.deadline(), Some(t0 + INTERVAL), "rate-limited");
        assert_eq!(
            p.save_if_due(&st, t0 + Duration::from_millis(50), false),
            None
        );
        assert!(p.holds_idle_exit());
    }

    #[test]
    fn failing_writes_back_off_and_do_not_hold_the_idle_exit() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where state.json should be: every write fails.
        let path = dir.path().join("state.json");
        std::fs::create_dir(&path).unwrap();
        let mut p = Persist::new(path.clone());
        let st = State::new();
        let mut now = Instant::now();
        p.mark_dirty(now);
        let mut gaps = Vec::new();
        for _ in 0..12 {
            now = p.deadline().expect("a retry is always scheduled");
            let before = now;
            assert_eq!(p.save_if_due(&st, now, false), Some(Outcome::Failed));
            gaps.push(p.deadline().unwrap() - before);
        }
        assert_eq!(gaps[0], INTERVAL * 2);
        assert!(gaps.windows(2).all(|w| w[1] >= w[0]), "{gaps:?}");
        assert_eq!(*gaps.last().unwrap(), MAX_BACKOFF);
        assert!(
            !p.holds_idle_exit(),
            "a failing write must not block idle exit"
        );
        // Once the obstacle is gone the next attempt succeeds and resets.
        std::fs::remove_dir(&path).unwrap();
        let at = p.deadline().unwrap();
        assert_eq!(p.save_if_due(&st, at, false), Some(Outcome::Written));
        p.mark_dirty(at + Duration::from_millis(1));
        assert_eq!(p.deadline(), Some(at + INTERVAL));
    }
}
