//! The daemon's one timerfd, armed for the earliest deadline it has.
//!
//! Debounce flushes, snapshot retries and the idle exit all share it: the
//! loop computes the earliest of its deadlines after every wake and arms the
//! timer for that one, or disarms it. With nothing pending nothing is armed,
//! so an idle daemon never wakes.

use super::tokens::TIMER;
use llm_bridge_core::error::{Context, Result};
use llm_bridge_core::log::log;
use mio::unix::SourceFd;
use mio::{Interest, Registry};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::{Duration, Instant};

pub struct Timer {
    fd: TimerFd,
    armed: Option<Instant>,
}

impl Timer {
    /// Creates the timerfd, disarmed, and registers it in the loop's poll.
    pub fn new(registry: &Registry) -> Result<Timer> {
        let fd = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )
        .context("cannot create the timerfd")?;
        let timer = Timer { fd, armed: None };
        registry
            .register(&mut SourceFd(&timer.raw_fd()), TIMER, Interest::READABLE)
            .context("cannot poll the timerfd")?;
        Ok(timer)
    }

    fn raw_fd(&self) -> RawFd {
        self.fd.as_fd().as_raw_fd()
    }

    /// Clears the readiness after the timer fired.
    pub fn clear(&mut self) {
        // A non-blocking read of the expiration count clears readiness.
        let mut count = [0u8; 8];
        // SAFETY: reading 8 bytes into an 8-byte buffer.
        let _ = unsafe { libc::read(self.raw_fd(), count.as_mut_ptr().cast(), 8) };
        self.armed = None;
    }

    /// Arms the timer for `at` (or disarms it for `None`); a no-op when it
    /// is already armed for exactly that instant.
    pub fn arm(&mut self, at: Option<Instant>, now: Instant) {
        if self.armed == at {
            return;
        }
        let result = match at {
            Some(at) => {
                // A zero expiration would disarm the timer: fire in 1 ns instead.
                let after = at
                    .saturating_duration_since(now)
                    .max(Duration::from_nanos(1));
                self.fd.set(
                    Expiration::OneShot(TimeSpec::from_duration(after)),
                    TimerSetTimeFlags::empty(),
                )
            }
            None => self.fd.unset(),
        };
        match result {
            Ok(()) => self.armed = at,
            Err(e) => log(format_args!("cannot arm the timer: {e}")),
        }
    }
}

/// The earliest of some optional deadlines.
pub fn earliest(deadlines: impl IntoIterator<Item = Option<Instant>>) -> Option<Instant> {
    deadlines.into_iter().flatten().min()
}
