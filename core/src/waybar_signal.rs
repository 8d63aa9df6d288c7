//! Finding Waybar and telling it to re-run the module: the only code in
//! llm-bridge that sends a signal.
//!
//! A target is a process whose `comm` is exactly `waybar` or
//! `.waybar-wrapped` (NixOS), owned by this user, whose environment has the
//! same `XDG_RUNTIME_DIR` as ours (the same login session). It is found by
//! scanning /proc, never by running `pgrep`, and kept as a pidfd so a
//! recycled PID is never signalled. A signal that arrives before Waybar
//! installed its handler kills it, so before the first signal to a process
//! its `SigCgt` mask must show the handler.
//!
//! The PIDs a scan found are remembered in `waybar.pids` beside the state,
//! because the fallback is a new process for every event: it re-checks the
//! cached PIDs (microseconds) instead of scanning /proc (milliseconds on a
//! desktop), and scans only when none is valid and the last scan, by anyone,
//! is older than [`RESCAN_INTERVAL`].
//!
//! The signaller owns the pidfds but never polls them: a long-running owner
//! (the daemon) takes the new and the retired ones with
//! [`WaybarSignaller::take_pidfd_changes`] and registers or deregisters them
//! in its own poll before a retired one is closed.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Duration;

/// Process names Waybar runs under.
pub const WAYBAR_NAMES: [&[u8]; 2] = [b"waybar", b".waybar-wrapped"];
/// When no Waybar is known, a flush rescans /proc at most this often.
pub const RESCAN_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Target {
    pid: i32,
    pidfd: OwnedFd,
    /// Its SigCgt showed our handler; signals are safe from now on.
    handler_ready: bool,
    /// A change was published while its handler was not there yet: it is
    /// owed a signal as soon as the handler appears.
    owed: bool,
}

/// What one round of signalling did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SignalReport {
    pub sent: u32,
    /// Found but its handler is not installed yet (Waybar still starting).
    pub not_ready: u32,
}

#[derive(Debug)]
pub struct WaybarSignaller {
    /// The absolute signal number: SIGRTMIN + N.
    signal: i32,
    our_runtime_dir: Option<Vec<u8>>,
    uid: u32,
    targets: Vec<Target>,
    /// Wall-clock ms of the last /proc scan (ours or, via the cache, anyone's).
    last_scan_ms: Option<u64>,
    /// `waybar.pids`, and whether it was read already.
    cache: PathBuf,
    cache_loaded: bool,
    /// Targets added since the last call to `take_pidfd_changes`.
    added: Vec<(i32, RawFd)>,
    /// Pidfds of targets dropped since then, kept open until taken.
    retired: Vec<(i32, OwnedFd)>,
}

/// Pidfds that appeared and disappeared since the last look.
#[derive(Debug, Default)]
pub struct PidfdChanges {
    /// New targets: register these (they stay open while the target is known).
    pub added: Vec<(i32, RawFd)>,
    /// Dropped targets: deregister, then drop to close.
    pub retired: Vec<(i32, OwnedFd)>,
}

impl WaybarSignaller {
    /// `offset` is Waybar's `"signal"` value: the module listens on
    /// SIGRTMIN+offset. `cache` is where found PIDs are remembered.
    pub fn new(offset: u8, cache: PathBuf) -> WaybarSignaller {
        WaybarSignaller {
            signal: libc::SIGRTMIN() + i32::from(offset),
            our_runtime_dir: std::env::var_os("XDG_RUNTIME_DIR").map(OsString::into_vec),
            // SAFETY: getuid cannot fail.
            uid: unsafe { libc::getuid() },
            targets: Vec::new(),
            last_scan_ms: None,
            cache,
            cache_loaded: false,
            added: Vec::new(),
            retired: Vec::new(),
        }
    }

    /// Signals SIGRTMIN+`offset` from now on (a reloaded config). Each
    /// process's handler for the new signal is checked again first.
    pub fn set_offset(&mut self, offset: u8) {
        self.signal = libc::SIGRTMIN() + i32::from(offset);
        for t in &mut self.targets {
            t.handler_ready = false;
        }
    }

    /// PIDs currently known.
    pub fn known_pids(&self) -> Vec<i32> {
        self.targets.iter().map(|t| t.pid).collect()
    }

    /// Signals every known Waybar, rescanning /proc first when none is
    /// known and the last scan is older than [`RESCAN_INTERVAL`].
    /// `now_ms` is wall-clock milliseconds (the cache outlives processes).
    pub fn signal_all(&mut self, now_ms: u64) -> SignalReport {
        let mut report = SignalReport::default();
        if self.targets.is_empty() && !self.cache_loaded {
            self.cache_loaded = true;
            self.load_cache();
        }
        let interval = RESCAN_INTERVAL.as_millis() as u64;
        let due = self
            .last_scan_ms
            .is_none_or(|t| now_ms < t || now_ms - t >= interval);
        if self.targets.is_empty() && due {
            self.rescan();
            self.last_scan_ms = Some(now_ms);
            self.save_cache(now_ms);
        }
        let signal = self.signal;
        let mut gone = Vec::new();
        for (i, t) in self.targets.iter_mut().enumerate() {
            if !t.handler_ready {
                match handler_installed(t.pid, signal) {
                    Some(true) => t.handler_ready = true,
                    Some(false) => {
                        report.not_ready += 1;
                        t.owed = true;
                        continue;
                    }
                    None => {
                        gone.push(i);
                        continue;
                    }
                }
            }
            match pidfd_send_signal(t.pidfd.as_raw_fd(), signal) {
                Ok(()) => report.sent += 1,
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => gone.push(i),
                Err(_) => {}
            }
        }
        for i in gone.into_iter().rev() {
            let t = self.targets.remove(i);
            self.retired.push((t.pid, t.pidfd));
        }
        report
    }

    /// Forgets a process whose pidfd became readable (it exited) and hands
    /// its pidfd back, so the caller deregisters it before it is closed.
    pub fn remove(&mut self, pid: i32) -> Option<OwnedFd> {
        let i = self.targets.iter().position(|t| t.pid == pid)?;
        Some(self.targets.remove(i).pidfd)
    }

    /// Pidfds added and retired since the last call, for the caller's poll.
    pub fn take_pidfd_changes(&mut self) -> PidfdChanges {
        PidfdChanges {
            added: std::mem::take(&mut self.added),
            retired: std::mem::take(&mut self.retired),
        }
    }

    fn rescan(&mut self) {
        let Ok(dir) = fs::read_dir("/proc") else {
            return;
        };
        for entry in dir.flatten() {
            if let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            {
                self.adopt(pid);
            }
        }
    }

    /// Makes `pid` a target if it is our Waybar.
    /// Makes `pid` a target if it is our Waybar; true if it was new.
    /// `llm-bridge waybar` names its Waybar this way, so a (re)started
    /// Waybar is signalled from its first change on; the checks are the
    /// same as for one found in /proc, so a forged PID gains nothing.
    pub fn adopt(&mut self, pid: i32) -> bool {
        if self.targets.iter().any(|t| t.pid == pid) || !self.is_our_waybar(pid) {
            return false;
        }
        let Ok(pidfd) = crate::pidfd::open(pid) else {
            return false;
        };
        // The pidfd pins the process: if it is still our Waybar now, the
        // pidfd refers to it and not to a recycled PID.
        if !self.is_our_waybar(pid) {
            return false;
        }
        self.added.push((pid, pidfd.as_raw_fd()));
        self.targets.push(Target {
            pid,
            pidfd,
            handler_ready: false,
            owed: false,
        });
        true
    }

    /// Marks `pid` as owed a signal: it shows an older module than the one
    /// published. [`WaybarSignaller::retry_owed`] delivers it once its
    /// handler is there.
    pub fn owe(&mut self, pid: i32) {
        if let Some(t) = self.targets.iter_mut().find(|t| t.pid == pid) {
            t.owed = true;
        }
    }

    /// Whether some Waybar is owed a signal (its handler was not there).
    pub fn owes(&self) -> bool {
        self.targets.iter().any(|t| t.owed)
    }

    /// Signals the owed Waybars whose handler is there now.
    pub fn retry_owed(&mut self) -> SignalReport {
        let mut report = SignalReport::default();
        let signal = self.signal;
        for t in self.targets.iter_mut().filter(|t| t.owed) {
            match handler_installed(t.pid, signal) {
                Some(true) => {
                    t.handler_ready = true;
                    t.owed = false;
                    if pidfd_send_signal(t.pidfd.as_raw_fd(), signal).is_ok() {
                        report.sent += 1;
                    }
                }
                Some(false) => report.not_ready += 1,
                None => t.owed = false,
            }
        }
        report
    }

    /// Gives up on the owed signals (the retry schedule ran out); the next
    /// change tries again.
    pub fn forgive(&mut self) {
        for t in &mut self.targets {
            t.owed = false;
        }
    }

    /// Adopts the cached PIDs that are still our Waybar; remembers when the
    /// scan that found them ran.
    fn load_cache(&mut self) {
        use llm_bridge_hooks::bounded_read::{read_string, Links};
        // Ours: never through a link, never a FIFO, a few PIDs at most.
        let Ok(text) = read_string(&self.cache, 64 * 1024, Links::Refuse) else {
            return;
        };
        let mut lines = text.lines();
        self.last_scan_ms = lines.next().and_then(|l| l.parse().ok());
        let pids: Vec<i32> = lines.filter_map(|l| l.parse().ok()).collect();
        for pid in pids {
            self.adopt(pid);
        }
    }

    fn save_cache(&self, now_ms: u64) {
        let mut text = format!("{now_ms}\n");
        for t in &self.targets {
            text.push_str(&format!("{}\n", t.pid));
        }
        // A failed write only costs the next process a scan.
        let _ = crate::atomic_file::write_atomic(&self.cache, text.as_bytes());
    }

    fn is_our_waybar(&self, pid: i32) -> bool {
        // One read of at most 64 bytes: most processes are rejected here.
        let mut comm = [0u8; 64];
        let read = fs::File::open(format!("/proc/{pid}/comm"))
            .and_then(|mut f| io::Read::read(&mut f, &mut comm));
        let Ok(n) = read else { return false };
        let comm = comm[..n].strip_suffix(b"\n").unwrap_or(&comm[..n]);
        if !WAYBAR_NAMES.contains(&comm) {
            return false;
        }
        match fs::metadata(format!("/proc/{pid}")) {
            Ok(meta) if meta.uid() == self.uid => {}
            _ => return false,
        }
        let Ok(environ) = fs::read(format!("/proc/{pid}/environ")) else {
            return false;
        };
        let theirs = environ
            .split(|&b| b == 0)
            .find_map(|var| var.strip_prefix(b"XDG_RUNTIME_DIR="));
        theirs == self.our_runtime_dir.as_deref()
    }
}

/// The PIDs of this user's Waybar processes in this session (the same
/// test as for the processes signalled), by one scan of /proc, for
/// `llm-bridge doctor`. Nothing is cached and no pidfd is kept.
pub fn find_our_waybars() -> Vec<i32> {
    let mut finder = WaybarSignaller::new(0, PathBuf::new());
    finder.rescan();
    let mut pids = finder.known_pids();
    pids.sort_unstable();
    pids
}

/// Whether `pid`'s SigCgt mask has a handler for `signal`; `None` if the
/// process is gone.
pub fn handler_installed(pid: i32, signal: i32) -> Option<bool> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mask = status.lines().find_map(|l| l.strip_prefix("SigCgt:"))?;
    let mask = u64::from_str_radix(mask.trim(), 16).ok()?;
    Some(mask & (1u64 << (signal - 1)) != 0)
}

fn pidfd_send_signal(pidfd: RawFd, signal: i32) -> io::Result<()> {
    // SAFETY: a null siginfo and zero flags mean "like kill()".
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd,
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_handlers_are_visible_in_sigcgt() {
        // SIGRTMIN+20 is unused by the test harness; install a handler and look.
        let sig = libc::SIGRTMIN() + 20;
        let pid = std::process::id() as i32;
        assert_eq!(handler_installed(pid, sig), Some(false));
        // SAFETY: an empty handler is async-signal-safe.
        let id = unsafe { signal_hook::low_level::register(sig, || {}) }.unwrap();
        assert_eq!(handler_installed(pid, sig), Some(true));
        signal_hook::low_level::unregister(id);
    }

    #[test]
    fn a_gone_process_has_no_mask() {
        assert_eq!(handler_installed(i32::MAX, 42), None);
    }
}
