//! The supervisor `llm-bridge start` leaves behind: it holds the daemon's
//! socket across the daemon's deaths, as systemd's socket unit does; and
//! the keeper a foreground `llm-bridge daemon` leaves beside itself, which
//! becomes such a supervisor if that daemon is killed.
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
//!
//! A daemon run by hand in the foreground binds its socket itself, and
//! stays the process the user started (Ctrl-C stops it, its log is on the
//! terminal). It passes a copy of its socket and a pidfd of itself to a
//! keeper ([`spawn_keeper`]): `llm-bridge supervise --adopt`, in a session
//! of its own, that blocks on that pidfd. When the daemon ends, the keeper
//! looks at the socket's path: a daemon that stopped cleanly removed it, and
//! the keeper ends too; one that was killed left it, and the keeper starts
//! a new daemon on the socket, whose queue still holds what was sent, and
//! supervises it from then on, as `start`'s supervisor would.

use crate::commands::lifecycle::read_pid;
use crate::daemon::bind_daemon_socket;
use anyhow::{anyhow, Context, Result};
use llm_bridge_core::log::log;
use llm_bridge_core::paths::Paths;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
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
    let signalfd = block_signals()?;
    supervise(pid_file, &socket, &signalfd)
}

/// SIGTERM, SIGINT and SIGHUP, blocked and read from a signalfd instead.
fn block_signals() -> Result<SignalFd> {
    let mut mask = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        mask.add(s);
    }
    mask.thread_block().context("cannot block signals")?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC).context("cannot create a signalfd")
}

/// Starts a daemon on `socket`, and another each time one is killed, until
/// one exits by itself; its exit code.
fn supervise(pid_file: &Path, socket: &OwnedFd, signalfd: &SignalFd) -> Result<i32> {
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
        let mut daemon = spawn(&exe, pid_file, socket)?;
        let pid = daemon.id();
        let pidfd = llm_bridge_core::pidfd::open(pid as i32)
            .with_context(|| format!("cannot open the daemon's process (pid {pid})"))?;
        let status = loop {
            let woke = wait(&pidfd, signalfd)?;
            if woke.signalled {
                while let Ok(Some(info)) = signalfd.read_signal() {
                    pass_on(&pidfd, info.ssi_signo as i32);
                }
            }
            if woke.exited {
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

/// What ended a [`wait`]: either or both.
struct Woke {
    exited: bool,
    signalled: bool,
}

/// Blocks until the process of `pidfd` ends or a signal is pending on
/// `signalfd`, without waking otherwise.
fn wait(pidfd: &OwnedFd, signalfd: &SignalFd) -> Result<Woke> {
    loop {
        let mut fds = [
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(signalfd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).context("cannot wait for the daemon"),
        }
        let woke = Woke {
            exited: fds[0].any().unwrap_or(false),
            signalled: fds[1].any().unwrap_or(false),
        };
        if woke.exited || woke.signalled {
            return Ok(woke);
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

/// How a foreground daemon's keeper was started: the id (dev, ino) of the
/// socket file the daemon bound, as `--adopt DEV:INO` says it.
pub fn parse_file_id(text: &str) -> Result<(u64, u64)> {
    text.split_once(':')
        .and_then(|(dev, ino)| Some((dev.parse().ok()?, ino.parse().ok()?)))
        .ok_or_else(|| anyhow!("--adopt takes DEV:INO, not {text:?}"))
}

/// Called by a foreground daemon that bound `socket` (its file's id
/// `file`): starts its keeper, which holds a copy of the socket and waits
/// for this process to end (see the module's doc). Returns the keeper's
/// PID once it waits, a few milliseconds later. The keeper's daemons, if
/// it ever starts one, write their PID to `pid_file`.
///
/// Safe to call with other threads running: what runs between fork and
/// exec is async-signal-safe.
pub fn spawn_keeper(socket: BorrowedFd<'_>, file: (u64, u64), pid_file: &Path) -> Result<u32> {
    let exe = std::env::current_exe().context("cannot find the llm-bridge binary")?;
    let me = llm_bridge_core::pidfd::open(std::process::id() as i32)
        .context("cannot open a pidfd of the daemon")?;
    // Copies above the descriptors the child is given (3 and 4), so that
    // neither dup2 below overwrites the other's source.
    let socket = fcntl_dup_above(socket, 10)?;
    let me = fcntl_dup_above(me.as_fd(), 10)?;
    let (socket_fd, me_fd) = (socket.as_raw_fd(), me.as_raw_fd());
    let mut cmd = Command::new(exe);
    cmd.arg("supervise")
        .arg("--pid-file")
        .arg(pid_file)
        .arg("--adopt")
        .arg(format!("{}:{}", file.0, file.1))
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    // SAFETY: dup2 and setsid are async-signal-safe, and touch only this
    // child's descriptors and session.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(socket_fd, 3) < 0 || libc::dup2(me_fd, 4) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn().context("cannot start the socket's keeper")?;
    drop((socket, me));
    // The keeper forks: the process started here prints its child's PID
    // and exits, so the keeper is nobody's child but init's (no zombie
    // here if it ends first).
    let mut line = String::new();
    let read = child
        .stdout
        .take()
        .map(|out| std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line));
    let status = child
        .wait()
        .context("cannot wait for the socket's keeper")?;
    match (read, line.trim().parse::<u32>()) {
        (Some(Ok(_)), Ok(pid)) if status.success() => Ok(pid),
        _ => Err(anyhow!("the socket's keeper did not start ({status})")),
    }
}

/// A close-on-exec copy of `fd` numbered `min` or above.
fn fcntl_dup_above(fd: BorrowedFd<'_>, min: RawFd) -> Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor or -1.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) };
    if new < 0 {
        return Err(std::io::Error::last_os_error()).context("cannot duplicate a descriptor");
    }
    // SAFETY: the kernel just gave us this descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// `llm-bridge supervise --adopt DEV:INO`: the keeper of a foreground
/// daemon's socket (fd 3), waiting on that daemon's pidfd (fd 4). Returns
/// when it has nothing left to do: the daemon ended cleanly, the keeper was
/// told to stop, or the daemons it started in its place ended.
pub fn adopt(paths: &Paths, pid_file: &Path, file: (u64, u64)) -> Result<i32> {
    let socket = inherited(3, "the daemon's socket")?;
    let is_socket =
        nix::sys::stat::fstat(&socket).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFSOCK);
    if !is_socket {
        return Err(anyhow!("descriptor 3 is not the daemon's socket"));
    }
    let daemon = inherited(4, "the daemon's pidfd")?;
    let daemon_pid = pidfd_pid(&daemon).ok_or_else(|| anyhow!("descriptor 4 is not a pidfd"))?;
    // SAFETY: single-threaded; the parent only prints and exits.
    match unsafe { nix::unistd::fork() }.context("cannot fork the keeper")? {
        nix::unistd::ForkResult::Parent { child } => {
            println!("{child}");
            return Ok(0);
        }
        nix::unistd::ForkResult::Child => {}
    }
    // Nothing of the pipe the daemon reads, nor of its working directory.
    // SAFETY: plain system calls on this process's own descriptors.
    unsafe { libc::dup2(2, 1) };
    let _ = std::env::set_current_dir("/");
    let signalfd = block_signals()?;
    let woke = wait(&daemon, &signalfd)?;
    // Told to stop: the daemon serves on without a keeper.
    if woke.signalled {
        return Ok(0);
    }
    drop(daemon);
    // A daemon that stopped cleanly removed its socket file; one that
    // bound again elsewhere has a keeper for that socket.
    if crate::daemon::socket_file_id(&paths.socket) != Some(file) {
        return Ok(0);
    }
    let pid = Some(daemon_pid)
        .filter(|p| *p > 0)
        .map_or_else(String::new, |p| format!(" (pid {p})"));
    let log_file = crate::commands::lifecycle::log_path();
    eprintln!(
        "llm-bridge: the daemon{pid} ended without removing its socket (killed?): its keeper \
         (pid {}) starts another on it, whose queued events wait for it{}",
        std::process::id(),
        log_file
            .as_ref()
            .map_or_else(String::new, |l| format!("; log: {}", l.display()))
    );
    // From now on this is `start`'s supervisor: its daemons log to daemon.log.
    if let Some(out) = log_file.and_then(|l| {
        llm_bridge_core::append_file::open(&l, crate::commands::lifecycle::LOG_LIMIT).ok()
    }) {
        // SAFETY: dup2 onto this process's own standard descriptors.
        unsafe {
            libc::dup2(out.as_raw_fd(), 1);
            libc::dup2(out.as_raw_fd(), 2);
        }
    }
    log(format_args!(
        "the daemon{pid} ended without removing its socket; starting another on it, \
         whose queued events wait for it"
    ));
    supervise(pid_file, &socket, &signalfd)
}

/// Takes descriptor `fd`, handed over by [`spawn_keeper`], close-on-exec
/// from now on.
fn inherited(fd: RawFd, what: &str) -> Result<OwnedFd> {
    // SAFETY: F_GETFD only asks whether the descriptor is open.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(anyhow!("{what} was not passed on descriptor {fd}"));
    }
    // SAFETY: open (checked above) and handed to this process alone.
    unsafe {
        libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// The PID a pidfd refers to, from /proc/self/fdinfo (-1 once that
/// process is gone); `None` if `fd` is not a pidfd.
fn pidfd_pid(fd: &OwnedFd) -> Option<i32> {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|p| p.trim().parse().ok())
}
