//! When to flush: the debounce policy, as a pure state machine.
//!
//! Leading edge (the default): an event arriving `window` or more after the
//! last flush is flushed at once; later events inside the window push the
//! flush to `window` after the latest event, but never beyond `cap` after
//! the oldest unflushed one. Trailing: every change waits for the window
//! (same cap). The caller owns the timer and the clock; this module only
//! says "flush now", "flush at T" or "nothing to do".

use llm_bridge_core::config::{DebounceConfig, Mode};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    FlushNow,
    FlushAt(Instant),
    Idle,
}

#[derive(Debug)]
pub struct Debouncer {
    mode: Mode,
    window: Duration,
    cap: Duration,
    last_flush: Option<Instant>,
    /// When the oldest unflushed change arrived.
    oldest_pending: Option<Instant>,
    deadline: Option<Instant>,
}

impl Debouncer {
    pub fn new(mode: Mode, window: Duration, cap: Duration) -> Debouncer {
        Debouncer {
            mode,
            window,
            cap: cap.max(window),
            last_flush: None,
            oldest_pending: None,
            deadline: None,
        }
    }

    /// The debouncer the `[debounce]` section describes.
    pub fn from_config(c: &DebounceConfig) -> Debouncer {
        Debouncer::new(c.mode, c.window(), c.cap())
    }

    /// The state changed at `now`.
    pub fn on_change(&mut self, now: Instant) -> Decision {
        if self.oldest_pending.is_none() && self.mode == Mode::Leading {
            let quiet = self
                .last_flush
                .is_none_or(|t| now.saturating_duration_since(t) >= self.window);
            if quiet {
                return Decision::FlushNow;
            }
        }
        let oldest = *self.oldest_pending.get_or_insert(now);
        let deadline = (now + self.window).min(oldest + self.cap);
        self.deadline = Some(deadline);
        Decision::FlushAt(deadline)
    }

    /// The timer fired (or the loop woke) at `now`.
    pub fn on_timer(&mut self, now: Instant) -> Decision {
        match self.deadline {
            Some(deadline) if now >= deadline => Decision::FlushNow,
            Some(deadline) => Decision::FlushAt(deadline),
            None => Decision::Idle,
        }
    }

    /// The caller flushed at `now`.
    pub fn flushed(&mut self, now: Instant) {
        self.last_flush = Some(now);
        self.oldest_pending = None;
        self.deadline = None;
    }

    pub fn pending(&self) -> bool {
        self.deadline.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn leading() -> (Debouncer, Instant) {
        (
            Debouncer::new(Mode::Leading, 16 * MS, 50 * MS),
            Instant::now(),
        )
    }

    /// Feeds changes at the given millisecond offsets, flushing whenever the
    /// debouncer says so (timers fire exactly on time); returns flush times.
    fn simulate(mut d: Debouncer, t0: Instant, changes: &[u64], until: u64) -> Vec<u64> {
        let mut flushes = Vec::new();
        let mut timer: Option<Instant> = None;
        for ms in 0..=until {
            let now = t0 + Duration::from_millis(ms);
            if timer.is_some_and(|t| t <= now) {
                timer = None;
                match d.on_timer(now) {
                    Decision::FlushNow => {
                        d.flushed(now);
                        flushes.push(ms);
                    }
                    Decision::FlushAt(t) => timer = Some(t),
                    Decision::Idle => {}
                }
            }
            if changes.contains(&ms) {
                match d.on_change(now) {
                    Decision::FlushNow => {
                        d.flushed(now);
                        flushes.push(ms);
                    }
                    Decision::FlushAt(t) => timer = Some(t),
                    Decision::Idle => unreachable!(),
                }
            }
        }
        flushes
    }

    #[test]
    fn isolated_event_flushes_at_once() {
        let (d, t0) = leading();
        assert_eq!(simulate(d, t0, &[5], 100), vec![5]);
    }

    #[test]
    fn events_inside_the_window_are_coalesced_to_its_end() {
        let (d, t0) = leading();
        // 0 flushes at once; 4 and 10 are inside the window: flush at 10 + 16.
        assert_eq!(simulate(d, t0, &[0, 4, 10], 100), vec![0, 26]);
    }

    #[test]
    fn a_steady_burst_is_capped_at_50ms_after_the_oldest() {
        let (d, t0) = leading();
        let burst: Vec<u64> = (0..200).step_by(5).collect();
        let flushes = simulate(d, t0, &burst, 300);
        // Leading flush at 0, then the 5 ms event waits at most 50 ms.
        assert_eq!(&flushes[..3], &[0, 55, 105]);
        assert!(flushes.windows(2).all(|w| w[1] - w[0] <= 55), "{flushes:?}");
        // The last event (195) is flushed within one window, here by the cap (155 + 50).
        assert_eq!(*flushes.last().unwrap(), 205);
    }

    #[test]
    fn an_event_a_window_after_a_flush_is_leading_again() {
        let (d, t0) = leading();
        assert_eq!(simulate(d, t0, &[0, 16, 40], 100), vec![0, 16, 40]);
        let (d, t0) = leading();
        assert_eq!(simulate(d, t0, &[0, 16, 20], 100), vec![0, 16, 36]);
    }

    #[test]
    fn trailing_mode_always_waits() {
        let d = Debouncer::new(Mode::Trailing, 16 * MS, 50 * MS);
        let t0 = Instant::now();
        assert_eq!(simulate(d, t0, &[0], 100), vec![16]);
        let d = Debouncer::new(Mode::Trailing, 16 * MS, 50 * MS);
        assert_eq!(simulate(d, t0, &[0, 10, 20, 30, 40, 49], 200), vec![50]);
    }

    #[test]
    fn nothing_pending_means_no_timer() {
        let (mut d, t0) = leading();
        assert_eq!(d.on_timer(t0), Decision::Idle);
        assert!(!d.pending());
    }
}
