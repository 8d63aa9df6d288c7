//! The Claude Code processes of the sessions: a pidfd for each, so that a
//! client that crashed, was killed or lost its terminal ends its session at
//! once (Claude Code fires no hook then).
//!
//! The hook names its client by PID and start time. A pidfd is opened for
//! the PID and the start time is read *after* it: if it matches, the pidfd
//! names that very process; if not, the PID was reused and the client is
//! gone. The pidfds are polled by the loop (`daemon/mod.rs` registers them:
//! this file only opens and closes them); a readable pidfd means the process
//! exited. Nothing here wakes on its own.

use llm_bridge_core::state::Process;
use llm_bridge_hooks::proc_stat;
use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// What [`Processes::set`] did, for the loop to register or deregister.
#[derive(Debug)]
pub enum Change {
    /// Poll this pidfd under this key.
    Added(RawFd, usize),
    /// Stop polling this pidfd; it closes when dropped.
    Removed(OwnedFd),
    /// The process is gone already: the session ended.
    Gone(Process),
}

struct Watched {
    process: Process,
    key: usize,
    pidfd: OwnedFd,
}

/// The pidfds of the sessions' clients, by session.
#[derive(Default)]
pub struct Processes {
    by_session: HashMap<String, Watched>,
    by_key: HashMap<usize, String>,
    next_key: usize,
}

impl Processes {
    /// Makes the watch of `session_id` match `process` (`None`: no watch).
    pub fn set(&mut self, session_id: &str, process: Option<Process>) -> Vec<Change> {
        let current = self.by_session.get(session_id).map(|w| w.process);
        if current == process {
            return Vec::new();
        }
        let mut changes = Vec::new();
        if let Some(old) = self.by_session.remove(session_id) {
            self.by_key.remove(&old.key);
            changes.push(Change::Removed(old.pidfd));
        }
        let Some(process) = process else {
            return changes;
        };
        match open_verified(process) {
            Some(pidfd) => {
                let key = self.next_key;
                self.next_key += 1;
                changes.push(Change::Added(pidfd.as_raw_fd(), key));
                self.by_key.insert(key, session_id.to_string());
                self.by_session.insert(
                    session_id.to_string(),
                    Watched {
                        process,
                        key,
                        pidfd,
                    },
                );
            }
            None => changes.push(Change::Gone(process)),
        }
        changes
    }

    /// The pidfd under `key` became readable: its process exited. Returns
    /// the session and the process; the watch is left for the core's
    /// effects to remove.
    pub fn exited(&self, key: usize) -> Option<(String, Process)> {
        let session_id = self.by_key.get(&key)?;
        let watched = self.by_session.get(session_id)?;
        Some((session_id.clone(), watched.process))
    }

    /// Removes the watch under `key` (its session is gone from the core).
    pub fn forget(&mut self, key: usize) -> Option<OwnedFd> {
        let session_id = self.by_key.remove(&key)?;
        self.by_session.remove(&session_id).map(|w| w.pidfd)
    }

    pub fn len(&self) -> usize {
        self.by_session.len()
    }
}

/// A pidfd for `process` if it still runs: opened first, then the start
/// time checked, so a PID reused in between is never taken for it.
fn open_verified(process: Process) -> Option<OwnedFd> {
    let pid = i32::try_from(process.pid).ok().filter(|p| *p > 1)?;
    let pidfd = llm_bridge_core::pidfd::open(pid).ok()?;
    let stat = proc_stat::read(process.pid)?;
    (stat.start_time == process.start).then_some(pidfd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    fn me() -> Process {
        let pid = std::process::id();
        Process {
            pid,
            start: proc_stat::read(pid).unwrap().start_time,
        }
    }

    #[test]
    fn a_live_process_is_watched_once_and_unwatched() {
        let mut p = Processes::default();
        let changes = p.set("s", Some(me()));
        assert!(matches!(changes[..], [Change::Added(_, 0)]), "{changes:?}");
        assert!(p.set("s", Some(me())).is_empty());
        assert_eq!(p.exited(0), Some(("s".to_string(), me())));
        let changes = p.set("s", None);
        assert!(matches!(changes[..], [Change::Removed(_)]), "{changes:?}");
        assert_eq!(p.len(), 0);
    }

    #[test]
    fn a_reused_pid_or_a_dead_process_is_gone() {
        let mut p = Processes::default();
        let reused = Process {
            start: me().start + 1,
            ..me()
        };
        assert!(matches!(p.set("s", Some(reused))[..], [Change::Gone(_)]));
        let mut child = Command::new("true").stdin(Stdio::null()).spawn().unwrap();
        let dead = Process {
            pid: child.id(),
            start: 0,
        };
        child.wait().unwrap();
        assert!(matches!(p.set("t", Some(dead))[..], [Change::Gone(_)]));
        assert_eq!(p.len(), 0);
    }
}
