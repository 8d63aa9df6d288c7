//! The Claude Code processes of the sessions: a pidfd for each, so that a
//! client that crashed, was killed or lost its terminal ends its session at
//! once (Claude Code fires no hook then).
//!
//! The hook names its client by PID and start time. A pidfd is opened for
//! the PID and the start time is read *after* it: if it matches, the pidfd
//! names that very process; if not, the PID was reused and the client is
//! gone. A descriptor that cannot be had (EMFILE, ENFILE) says nothing about
//! the process: the session stays, is counted as unwatched, and is watched
//! as soon as a pidfd of another session is closed. Each pidfd is registered in the loop's poll here, under its own
//! token, and deregistered here before it is closed; a readable pidfd means
//! the process exited. Nothing here wakes on its own.

use super::tokens::CLIENT_BASE;
use llm_bridge_core::log::log;
use llm_bridge_core::state::Process;
use llm_bridge_hooks::proc_stat;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use std::collections::{BTreeMap, HashMap};
use std::os::fd::{AsRawFd, OwnedFd};

struct Watched {
    process: Process,
    key: usize,
    pidfd: OwnedFd,
}

/// Descriptors left for everything else (the socket, waybar.json and its
/// next temporary file, state.json, the log, /proc reads, the speech
/// worker's files) when pidfds reach the limit on open files.
const RESERVE: usize = 64;

/// The pidfds of the sessions' clients, by session.
#[derive(Default)]
pub struct Processes {
    /// At most this many pidfds are open (the open-file limit less
    /// [`RESERVE`]); `0`: no cap but the kernel's.
    cap: usize,
    by_session: HashMap<String, Watched>,
    by_key: HashMap<usize, String>,
    next_key: usize,
    /// Sessions whose client runs but could not get a pidfd (no descriptor
    /// free): watched once one is.
    unwatched: BTreeMap<String, Process>,
}

impl Processes {
    /// A watcher that keeps [`RESERVE`] descriptors of this process's
    /// open-file limit free for the rest of the daemon.
    pub fn within_limit() -> Processes {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit with a valid struct.
        let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) } == 0;
        let cap = if ok && limit.rlim_cur != libc::RLIM_INFINITY {
            usize::try_from(limit.rlim_cur)
                .unwrap_or(usize::MAX)
                .saturating_sub(RESERVE)
                .max(1)
        } else {
            0
        };
        Processes {
            cap,
            ..Processes::default()
        }
    }

    /// Makes the watch of `session_id` match `process` (`None`: no watch).
    /// Returns the process if it is gone already (the session ended).
    pub fn set(
        &mut self,
        session_id: &str,
        process: Option<Process>,
        registry: &Registry,
    ) -> Option<Process> {
        let current = self.by_session.get(session_id).map(|w| w.process);
        if current == process && (process.is_some() || !self.unwatched.contains_key(session_id)) {
            return None;
        }
        self.unwatched.remove(session_id);
        if let Some(old) = self.by_session.remove(session_id) {
            self.by_key.remove(&old.key);
            let _ = registry.deregister(&mut SourceFd(&old.pidfd.as_raw_fd()));
        }
        let process = process?;
        self.watch(session_id, process, registry)
    }

    /// Opens, registers and keeps a pidfd for `process`; returns it if the
    /// process is gone.
    fn watch(
        &mut self,
        session_id: &str,
        process: Process,
        registry: &Registry,
    ) -> Option<Process> {
        let full = self.cap > 0 && self.by_session.len() >= self.cap;
        let opened = if full {
            Opened::NoDescriptor
        } else {
            open_verified(process)
        };
        match opened {
            Opened::Watched(pidfd) => {
                let key = self.next_key;
                self.next_key += 1;
                let token = Token(CLIENT_BASE + key);
                let fd = pidfd.as_raw_fd();
                if let Err(e) = registry.register(&mut SourceFd(&fd), token, Interest::READABLE) {
                    log(format_args!("cannot watch an agent's process: {e}"));
                }
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
            Opened::Gone => return Some(process),
            Opened::NoDescriptor => {
                if self.unwatched.is_empty() {
                    log(format_args!(
                        "no file descriptor free to watch an agent's process: \
                         its session stays and is watched once one is"
                    ));
                }
                self.unwatched.insert(session_id.to_string(), process);
            }
        }
        None
    }

    /// Watches the sessions that waited for a descriptor, now that one may
    /// be free; returns those whose client is gone meanwhile.
    pub fn retry(&mut self, registry: &Registry) -> Vec<(String, Process)> {
        let mut gone = Vec::new();
        while let Some((session_id, process)) = self.unwatched.pop_first() {
            if let Some(process) = self.watch(&session_id, process, registry) {
                gone.push((session_id, process));
            } else if self.unwatched.contains_key(&session_id) {
                // Still none free: the rest wait for the next one.
                break;
            }
        }
        gone
    }

    /// Sessions whose client could not be watched yet (no descriptor).
    pub fn unwatched(&self) -> usize {
        self.unwatched.len()
    }

    /// The pidfd under `key` became readable: its process exited. Returns
    /// the session and the process; the watch is left for the core's
    /// effects to remove.
    pub fn exited(&self, key: usize) -> Option<(String, Process)> {
        let session_id = self.by_key.get(&key)?;
        let watched = self.by_session.get(session_id)?;
        Some((session_id.clone(), watched.process))
    }

    /// Removes the watch under `key` (its pidfd has nothing more to say),
    /// deregistered before it is closed.
    pub fn forget(&mut self, key: usize, registry: &Registry) {
        let Some(session_id) = self.by_key.remove(&key) else {
            return;
        };
        if let Some(w) = self.by_session.remove(&session_id) {
            let _ = registry.deregister(&mut SourceFd(&w.pidfd.as_raw_fd()));
        }
    }

    pub fn len(&self) -> usize {
        self.by_session.len()
    }
}

/// What opening a client's pidfd found.
enum Opened {
    Watched(OwnedFd),
    /// The process exited, or its PID is another process now.
    Gone,
    /// No descriptor could be had: nothing is known of the process.
    NoDescriptor,
}

/// A pidfd for `process` if it still runs: opened first, then the start
/// time checked, so a PID reused in between is never taken for it.
fn open_verified(process: Process) -> Opened {
    let Some(pid) = i32::try_from(process.pid).ok().filter(|p| *p > 1) else {
        return Opened::Gone;
    };
    let pidfd = match llm_bridge_core::pidfd::open(pid) {
        Ok(pidfd) => pidfd,
        Err(e) if out_of_descriptors(&e) => return Opened::NoDescriptor,
        Err(_) => return Opened::Gone,
    };
    match proc_stat::read(process.pid) {
        Some(stat) if stat.start_time == process.start => Opened::Watched(pidfd),
        Some(_) => Opened::Gone,
        // Unreadable: exited, or /proc could not be opened for want of a
        // descriptor. The pidfd tells which: readable once it exited.
        None if exited(&pidfd) => Opened::Gone,
        None => Opened::NoDescriptor,
    }
}

fn out_of_descriptors(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM)
    )
}

/// Whether the process behind `pidfd` has exited (its pidfd is readable).
fn exited(pidfd: &OwnedFd) -> bool {
    let mut poll = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, a zero timeout.
    let n = unsafe { libc::poll(&raw mut poll, 1, 0) };
    n > 0 && poll.revents & libc::POLLIN != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll};
    use std::process::{Command, Stdio};
    use std::time::Duration;

    fn me() -> Process {
        let pid = std::process::id();
        Process {
            pid,
            start: proc_stat::read(pid).unwrap().start_time,
        }
    }

    #[test]
    fn a_watched_process_that_exits_wakes_the_poll_under_its_token() {
        let mut poll = Poll::new().unwrap();
        let mut p = Processes::default();
        let mut child = Command::new("sleep").arg("60").spawn().unwrap();
        let start = proc_stat::read(child.id()).unwrap().start_time;
        let process = Process {
            pid: child.id(),
            start,
        };
        assert_eq!(p.set("s", Some(process), poll.registry()), None);
        assert_eq!(p.set("s", Some(process), poll.registry()), None, "once");
        assert_eq!(p.len(), 1);
        let mut events = Events::with_capacity(4);
        poll.poll(&mut events, Some(Duration::ZERO)).unwrap();
        assert!(events.is_empty(), "alive: nothing to say");
        child.kill().unwrap();
        // Blocks until the pidfd is readable; the timeout only bounds a failure.
        poll.poll(&mut events, Some(Duration::from_secs(10)))
            .unwrap();
        let token = events.iter().next().expect("woken").token();
        assert_eq!(token, Token(CLIENT_BASE));
        assert_eq!(p.exited(0), Some(("s".to_string(), process)));
        p.forget(0, poll.registry());
        assert_eq!(p.len(), 0);
        child.wait().unwrap();
    }

    #[test]
    fn a_live_process_is_watched_once_and_unwatched() {
        let poll = Poll::new().unwrap();
        let mut p = Processes::default();
        assert_eq!(p.set("s", Some(me()), poll.registry()), None);
        assert_eq!(p.len(), 1);
        assert_eq!(p.exited(0), Some(("s".to_string(), me())));
        assert_eq!(p.set("s", None, poll.registry()), None);
        assert_eq!(p.len(), 0);
    }

    #[test]
    fn a_reused_pid_or_a_dead_process_is_gone() {
        let poll = Poll::new().unwrap();
        let mut p = Processes::default();
        let reused = Process {
            start: me().start + 1,
            ..me()
        };
        assert_eq!(p.set("s", Some(reused), poll.registry()), Some(reused));
        let mut child = Command::new("true").stdin(Stdio::null()).spawn().unwrap();
        let dead = Process {
            pid: child.id(),
            start: 0,
        };
        child.wait().unwrap();
        assert_eq!(p.set("t", Some(dead), poll.registry()), Some(dead));
        assert_eq!(p.len(), 0);
    }
}
