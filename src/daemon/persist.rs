//! What the daemon keeps on disk: the journal of the events it takes
//! (written before they are applied, [`llm_bridge_core::journal`]), and
//! state.json, written at most every [`INTERVAL`] while the sessions are
//! dirty, after which the journal is emptied; and, while writes fail (a full disk, a directory in
//! the way), exponentially less often, up to [`MAX_BACKOFF`] apart, with a
//! log line only for the 1st, 2nd, 4th, 8th... failure. A failing write
//! never keeps the daemon awake: it is retried on its own deadline and does
//! not hold back the idle exit.

use llm_bridge_core::error::one_line;
use llm_bridge_core::journal::Journal;
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
    /// None if it could not be opened (said in the log): the daemon runs
    /// on, as before the journal, losing at most [`INTERVAL`] to a crash.
    journal: Option<Journal>,
    /// Records added since the last commit.
    journaled: usize,
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
    pub fn new(path: PathBuf, journal: Option<Journal>) -> Persist {
        Persist {
            path,
            journal,
            journaled: 0,
            dirty: false,
            next_at: None,
            last_attempt: None,
            failures: 0,
        }
    }

    /// Adds an event, as it came, to the journal's next write; its number,
    /// which the state takes once the event is applied
    /// ([`State::journal_applied`]).
    pub fn journal(&mut self, arrived_ms: u64, datagram: &[u8]) -> Option<u64> {
        let journal = self.journal.as_mut()?;
        self.journaled += 1;
        Some(journal.add(arrived_ms, datagram))
    }

    /// Writes the events added since the last commit, in one write, before
    /// they are applied; a snapshot soon after empties the journal again.
    /// How many were written, or the error (then they are applied anyway,
    /// but a crash before the snapshot loses them).
    pub fn commit_journal(&mut self) -> Option<std::io::Result<usize>> {
        let journal = self.journal.as_mut()?;
        if self.journaled == 0 {
            return None;
        }
        let added = std::mem::take(&mut self.journaled);
        let result = journal.commit().map(|()| added);
        self.mark_dirty(Instant::now());
        Some(result)
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

    /// Writes state.json if a write is due at `now` (or `force`, at exit);
    /// it says which journaled events it holds (the state's
    /// [`State::journal_seq`], the last one applied), and the journal is
    /// emptied if that is all of them.
    pub fn save_if_due(&mut self, state: &State, now: Instant, force: bool) -> Option<Outcome> {
        let due = self.deadline().is_some_and(|at| at <= now);
        if !self.dirty || !(due || force) {
            return None;
        }
        self.last_attempt = Some(now);
        Some(match snapshot::save(&self.path, state) {
            Ok(()) => {
                if let Some(journal) = &mut self.journal {
                    if let Err(e) = journal.held_up_to(state.journal_seq()) {
                        log(format_args!("cannot empty the journal: {e}"));
                    }
                }
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
        let mut p = Persist::new(dir.path().join("state.json"), None);
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
        let mut p = Persist::new(path.clone(), None);
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

    #[test]
    fn a_snapshot_says_which_journaled_events_it_holds_and_empties_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let journal_path = dir.path().join("journal");
        let (journal, _) = Journal::open(&journal_path, &State::new()).unwrap();
        let mut p = Persist::new(dir.path().join("state.json"), Some(journal));
        let t0 = Instant::now();
        assert_eq!(p.journal(1, b"first"), Some(1));
        assert_eq!(p.journal(2, b"second"), Some(2));
        assert_eq!(p.commit_journal().unwrap().unwrap(), 2);
        let due = p.deadline().expect("the journal asks for a snapshot");
        assert!(due >= t0 && due <= Instant::now());
        assert_eq!(
            llm_bridge_core::journal::read(&journal_path).unwrap().len(),
            2
        );
        // Only the first applied when a snapshot is written: the journal
        // keeps both.
        let mut st = State::new();
        st.set_journal_seq(1);
        assert_eq!(p.save_if_due(&st, due, false), Some(Outcome::Written));
        assert_eq!(
            llm_bridge_core::journal::read(&journal_path).unwrap().len(),
            2
        );
        st.set_journal_seq(2);
        p.mark_dirty(due);
        let due = p.deadline().unwrap();
        assert_eq!(p.save_if_due(&st, due, false), Some(Outcome::Written));
        assert_eq!(std::fs::metadata(&journal_path).unwrap().len(), 0);
        let (saved, _) = snapshot::load(&dir.path().join("state.json")).unwrap();
        assert_eq!(saved.journal_seq(), 2);
        assert!(p.commit_journal().is_none(), "nothing added");
    }
}
