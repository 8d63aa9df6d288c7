//! Naming a session's Claude Code process from the hook that reported it.
//!
//! Reading `/proc/PID/stat` to step past shells and wrappers and to learn
//! the start time costs the hook 5% of its run (BENCHMARKS.md). So the hook
//! names the process itself (`ppid`, `pstart`) only when a session or a turn
//! starts; for the frequent events (tools, permissions) it sends only its
//! parent's PID (`parent`), and the receiver (the daemon, or the fallback)
//! names the process before the core sees the event. That parent is almost
//! always the process already known (Claude Code runs the hook directly):
//! nothing is read. A wrapper shell that is already gone when the daemon
//! reads leaves the session's process as it was.

use crate::state::Process;
use llm_bridge_hooks::proc_stat;
use llm_bridge_protocol::wire::Event;

/// Sets the event's `ppid` and `pstart` from its `parent`, unless the
/// sender named the process itself. `known` is the session's process as
/// the core knows it: when the hook's parent is that process (Claude Code
/// runs the hook directly, the usual case), nothing is read; the daemon
/// watches that process, so its PID cannot have been reused meanwhile.
/// Returns whether /proc was read.
pub fn name_client(event: &mut Event, known: Option<Process>) -> bool {
    if event.pstart.is_some() {
        return false;
    }
    let Some(parent) = event.parent else {
        return false;
    };
    if let Some(known) = known.filter(|k| k.pid == parent) {
        event.ppid = Some(known.pid);
        event.pstart = Some(known.start);
        return false;
    }
    if let Some((pid, start)) = proc_stat::client_from(parent) {
        event.ppid = Some(pid);
        event.pstart = Some(start);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use llm_bridge_protocol::wire::EventKind;

    fn event(parent: Option<u32>) -> Event {
        let mut e = Event::new(EventKind::Submit, "s");
        e.parent = parent;
        e
    }

    #[test]
    fn a_named_process_is_left_alone() {
        let mut e = event(Some(1));
        e.ppid = Some(7);
        e.pstart = Some(70);
        assert!(!name_client(&mut e, None));
        assert_eq!((e.ppid, e.pstart), (Some(7), Some(70)));
    }

    #[test]
    fn a_known_parent_is_named_without_reading_proc() {
        let mut e = event(Some(7));
        let known = Process { pid: 7, start: 70 };
        assert!(!name_client(&mut e, Some(known)));
        assert_eq!((e.ppid, e.pstart), (Some(7), Some(70)));
    }

    #[test]
    fn an_unknown_parent_is_read_from_proc() {
        // This test's own process stands for the hook's parent: not a
        // shell, so it is the client, with its true start time.
        let me = std::process::id();
        let start = proc_stat::read(me).unwrap().start_time;
        let mut e = event(Some(me));
        let other = Process { pid: 1, start: 5 };
        assert!(name_client(&mut e, Some(other)));
        assert_eq!((e.ppid, e.pstart), (Some(me), Some(start)));
    }

    #[test]
    fn a_parent_that_is_gone_names_nothing() {
        // PIDs above pid_max (at most 2^22) never exist.
        let mut e = event(Some(u32::MAX - 1));
        assert!(name_client(&mut e, None));
        assert_eq!((e.ppid, e.pstart), (None, None));
        let mut e = event(None);
        assert!(!name_client(&mut e, None));
        assert_eq!(e.ppid, None);
    }
}
