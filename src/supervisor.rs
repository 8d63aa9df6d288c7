//! The supervisor `llm-bridge start` leaves behind: it holds the daemon's
//! socket across the daemon's deaths, as systemd's socket unit does.
//!
//! A datagram socket's queue dies with the last descriptor of it. Without
//! systemd, a daemon killed by `kill -9`, the OOM killer or a crash would
//! take the events queued for it along, and the hooks that run until a new
//! daemon binds would find no daemon. So `start` runs this small process:
//! it binds the socket once, passes it to each daemon it starts as
//! systemd would (`LISTEN_FDS`, fd 3), and starts a new daemon when one is
//! killed; the queue, and every event in it, waits for the next daemon.
//!
//! It does nothing else and never wakes by itself: it blocks in `poll` on
//! the daemon's pidfd and a signalfd. SIGTERM, SIGINT and SIGHUP are passed
//! to the daemon (which stops or reloads); a daemon that exits by itself
//! (`stop`, an idle exit, a fatal error) ends the supervisor too, and the
//! daemon, knowing it was supervised, unlinks the socket file as it exits.
//! A daemon that keeps dying before it serves is given up after a few
//! tries, with the reason in the log.

use crate::commands::lifecycle::read_pid;
use crate::daemon::bind_daemon_socket;
use anyhow::{anyhow, Context, Result};
use llm_bridge_core::log::log;
use llm_bridge_core::paths::Paths;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The variable that tells a daemon its socket came from this supervisor
/// (not systemd): it unlinks the socket file at a clean exit, never exits
/// when idle, and binds again itself if the file goes.
pub const SUPERVISED: &str = "LLM_BRIDGE_SUPERVISED";

/// Daemons in a row that may die before they serve before the supervisor
/// gives up.
const TRIES: u32 = 5;

/// Runs the supervisor until the daemon exits by itself; its exit code.
pub fn run(paths: &Paths, pid_file: &Path) -> Result<i32> {
    paths.ensure_dirs()?;
    let socket: OwnedFd = bind_daemon_socket(&paths.socket)?.into();
    let signals = [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP];
    let mut mask = SigSet::empty();
    for s in signals {
        mask.add(s);
    }
    mask.thread_block().context("cannot block signals")?;
    let signalfd =
        SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC).context("cannot create a signalfd")?;
    let exe = std::env::current_exe().context("cannot find the llm-bridge binary")?;
    // Set here, once, in this single-threaded process: each daemon inherits
    // the environment as it is at its exec, with its own LISTEN_PID.
    // SAFETY: no other thread runs in the supervisor.
    unsafe {
        std::env::set_var("LISTEN_FDS", "1");
        std::env::set_var(SUPERVISED, "1");
        std::env::remove_var("LISTEN_FDNAMES");
    }
    let mut failures = 0;
    loop {
        let mut daemon = spawn(&exe, pid_file, &socket)?;
        let pid = daemon.id();
        let pidfd = llm_bridge_core::pidfd::open(pid as i32)
            .with_context(|| format!("cannot open the daemon's process (pid {pid})"))?;
        let status = loop {
            let mut fds = [
                PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
                PollFd::new(signalfd.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e).context("cannot wait for the daemon"),
            }
            if fds[1].any().unwrap_or(false) {
                while let Ok(Some(info)) = signalfd.read_signal() {
                    pass_on(&pidfd, info.ssi_signo as i32);
                }
            }
            if fds[0].any().unwrap_or(false) {
                break daemon.wait().context("cannot reap the daemon")?;
            }
        };
        let served = read_pid(pid_file) == Some(pid);
        if let Some(code) = status.code() {
            if code == 0 || !served {
                // Stopped, idle or refused to start: nothing to keep.
                return Ok(code);
            }
        }
        let how = match status.signal() {
            Some(sig) => format!("was killed by signal {sig}"),
            None => format!("exited with {status}"),
        };
        if served {
            failures = 0;
            log(format_args!(
                "the daemon (pid {pid}) {how}; starting another on the same socket, \
                 whose queued events wait for it"
            ));
        } else {
            failures += 1;
            if failures >= TRIES {
                return Err(anyhow!(
                    "the daemon {how} before it served, {TRIES} times in a row: given up"
                ));
            }
            log(format_args!(
                "the daemon (pid {pid}) {how} before it served; trying again"
            ));
            // A daemon that dies at start-up is not started in a tight loop.
            std::thread::sleep(Duration::from_millis(200 * u64::from(failures)));
        }
    }
}

/// Starts one daemon with the socket on fd 3 and LISTEN_PID its own PID.
fn spawn(exe: &PathBuf, pid_file: &Path, socket: &OwnedFd) -> Result<Child> {
    let raw = socket.as_raw_fd();
    let mut cmd = Command::new(exe);
    // No `env` calls: the daemon gets this process's environment as it is
    // at the exec, which `pre_exec` completes with LISTEN_PID.
    cmd.arg("daemon")
        .arg("--pid-file")
        .arg(pid_file)
        .stdin(Stdio::null());
    // SAFETY: the supervisor is single-threaded, so the child may allocate
    // (setenv); the rest are plain system calls on descriptors it owns.
    unsafe {
        cmd.pre_exec(move || {
            let rc = if raw == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(raw, 3)
            };
            if rc < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Its own session, as `start` gave the daemon before.
            libc::setsid();
            let unblock = SigSet::all();
            unblock.thread_unblock().map_err(std::io::Error::from)?;
            // libc's setenv, not std's: `spawn` holds std's environment
            // lock across the fork, and the exec reads `environ` itself.
            let pid =
                std::ffi::CString::new(std::process::id().to_string()).expect("digits hold no NUL");
            if libc::setenv(c"LISTEN_PID".as_ptr(), pid.as_ptr(), 1) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().context("cannot start the daemon")
}

/// Passes a signal the supervisor received to the daemon.
fn pass_on(pidfd: &OwnedFd, signo: i32) {
    // SAFETY: pidfd_send_signal on a pidfd we own, no siginfo.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signo,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc != 0 {
        log(format_args!(
            "cannot pass signal {signo} to the daemon: {}",
            std::io::Error::last_os_error()
        ));
    }
}
