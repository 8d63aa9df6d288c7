//! Reading a process's `/proc/PID/stat`: its name, parent and start time,
//! with one `read` and no allocation, for the hot-path binaries that look
//! at their ancestors (`llm-bridge waybar` finding the Waybar that runs it)
//! and for the receivers of a hook's event, which name the Claude Code
//! process from the hook's parent. The one parser of that line: the
//! commands that ask whether a daemon still runs use it too.

use std::io::Read;

/// What `/proc/PID/stat` says of a process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcStat {
    /// The command name (`comm`), at most 15 bytes.
    pub comm: Vec<u8>,
    /// The state letter (field 3): `R`, `S`, `D`, `Z` (zombie), `X` (dead)...
    pub state: u8,
    pub ppid: u32,
    /// Clock ticks after boot at which it started (field 22): with the PID,
    /// it names one process for good (a reused PID has another start time).
    pub start_time: u64,
}

impl ProcStat {
    /// Whether the process still runs: a zombie (exited, not yet reaped by
    /// its parent) or a dead one does not.
    pub fn runs(&self) -> bool {
        self.state != b'Z' && self.state != b'X'
    }
}

/// Reads `/proc/PID/stat`; `None` if the process is gone or the line is odd.
pub fn read(pid: u32) -> Option<ProcStat> {
    let mut buf = [0u8; 1024];
    let mut file = std::fs::File::open(format!("/proc/{pid}/stat")).ok()?;
    let n = file.read(&mut buf).ok()?;
    parse(&buf[..n])
}

/// Parses a stat line: `pid (comm) state ppid ... starttime ...`. The name
/// may hold spaces and parentheses, so it ends at the last `)`.
pub fn parse(line: &[u8]) -> Option<ProcStat> {
    let open = line.iter().position(|&b| b == b'(')?;
    let close = line.iter().rposition(|&b| b == b')')?;
    let comm = line.get(open + 1..close)?.to_vec();
    let rest = std::str::from_utf8(line.get(close + 1..)?).ok()?;
    // Fields after the name, counted from 3 (state).
    let mut fields = rest.split_ascii_whitespace();
    let state = *fields.next()?.as_bytes().first()?; // field 3
    let ppid = fields.next()?.parse().ok()?; // field 4
    let start_time = fields.nth(17)?.parse().ok()?; // field 22
    Some(ProcStat {
        comm,
        state,
        ppid,
        start_time,
    })
}

/// Shells and wrappers a hook command may run under (shell form, `timeout`,
/// `env`, a change of user...): Claude Code is the first ancestor that is
/// none of them. (A wrapper taken for the client would end the session
/// when the wrapper exits, right after the hook.)
const WRAPPERS: [&[u8]; 24] = [
    b"sh", b"bash", b"dash", b"zsh", b"fish", b"ksh", b"mksh", b"busybox", b"env", b"timeout",
    b"nice", b"ionice", b"nohup", b"stdbuf", b"setsid", b"chrt", b"taskset", b"flock", b"time",
    b"runuser", b"sudo", b"su", b"setpriv", b"doas",
];

/// How many wrappers deep the client may be.
const CLIENT_HOPS: usize = 4;

/// The process that ran a hook whose parent is `parent`: that process or
/// the first ancestor past shells and wrappers that still exist, with its
/// start time. `None` when it cannot be named for good (a wrapper already
/// gone or left by its parent, too many wrappers, no /proc).
pub fn client_from(parent: u32) -> Option<(u32, u64)> {
    let mut pid = parent;
    for _ in 0..CLIENT_HOPS {
        if pid <= 1 {
            return None;
        }
        let stat = read(pid)?;
        if !WRAPPERS.contains(&stat.comm.as_slice()) {
            return Some((pid, stat.start_time));
        }
        pid = stat.ppid;
    }
    None
}

/// The nearest ancestor of this process (its parent included, at most
/// `hops` up) whose name is one of `names`.
pub fn find_ancestor(names: &[&[u8]], hops: usize) -> Option<u32> {
    // SAFETY: getppid cannot fail.
    let mut pid = unsafe { libc::getppid() } as u32;
    for _ in 0..hops {
        if pid <= 1 {
            return None;
        }
        let stat = read(pid)?;
        if names.contains(&stat.comm.as_slice()) {
            return Some(pid);
        }
        pid = stat.ppid;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_with_spaces_and_parentheses() {
        let line = b"4242 (a) b (c)) S 17 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 50";
        let s = parse(line).unwrap();
        assert_eq!(s.comm, b"a) b (c)");
        assert_eq!(s.state, b'S');
        assert!(s.runs());
        assert_eq!(s.ppid, 17);
        assert_eq!(s.start_time, 987654);
        assert_eq!(parse(b"garbage"), None);
    }

    #[test]
    fn a_zombie_does_not_run() {
        let line = b"4242 (gone) Z 17 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 0 0";
        let s = parse(line).unwrap();
        assert_eq!(s.state, b'Z');
        assert!(!s.runs());
    }

    #[test]
    fn reads_this_process_and_finds_no_unnamed_ancestor() {
        let me = read(std::process::id()).unwrap();
        // SAFETY: getppid cannot fail.
        assert_eq!(me.ppid, unsafe { libc::getppid() } as u32);
        assert!(me.start_time > 0);
        assert_eq!(find_ancestor(&[b"no-such-name-xyz"], 8), None);
    }

    #[test]
    fn the_client_is_the_first_ancestor_that_is_not_a_wrapper() {
        // The test harness's parent is cargo (or a shell under it): either
        // way the answer is a live process with its true start time.
        // SAFETY: getppid cannot fail.
        let parent = unsafe { libc::getppid() } as u32;
        let (pid, start) = client_from(parent).expect("an ancestor");
        let stat = read(pid).unwrap();
        assert_eq!(stat.start_time, start);
        assert!(!WRAPPERS.contains(&stat.comm.as_slice()));
    }
}
