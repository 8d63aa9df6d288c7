//! A session's process and its ancestors, from `/proc` (the one stat
//! parser, `llm_bridge_hooks::proc_stat`): the chain a window's PID is
//! looked for in. The process is taken only if its start time is the one
//! the hook recorded and it is the user's own, so a reused PID never is.

use llm_bridge_hooks::proc_stat;
use std::os::unix::fs::MetadataExt;

/// More hops than any real desktop nests (systemd, a compositor, a
/// terminal, a shell, tmux, an agent...), so a loop cannot spin.
const MAX_HOPS: usize = 64;

/// `pid` (started at `start`, in clock ticks after boot) and its ancestors,
/// nearest first, without PID 1. `None` if that process no longer runs or
/// is not this user's.
pub fn ancestors(pid: u32, start: u64) -> Option<Vec<u32>> {
    let stat = proc_stat::read(pid)?;
    if stat.start_time != start || !stat.runs() || !owned_by_me(pid) {
        return None;
    }
    let mut chain = vec![pid];
    let mut parent = stat.ppid;
    while parent > 1 && chain.len() < MAX_HOPS && !chain.contains(&parent) {
        chain.push(parent);
        match proc_stat::read(parent) {
            Some(stat) => parent = stat.ppid,
            None => break,
        }
    }
    Some(chain)
}

/// Whether process `pid` runs as this user.
pub fn owned_by_me(pid: u32) -> bool {
    // SAFETY: getuid cannot fail.
    let me = unsafe { libc::getuid() };
    std::fs::metadata(format!("/proc/{pid}")).is_ok_and(|m| m.uid() == me)
}
