//! `llm-bridge start`, `stop` and `reload`.

use crate::control::{request, RequestError};
use llm_bridge_core::append_file;
use llm_bridge_core::error::{anyhow, one_line, Context, Result};
use llm_bridge_core::paths::Paths;
use llm_bridge_hooks::proc_stat;
use llm_bridge_protocol::reply::Reply;
use llm_bridge_protocol::wire::Message;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long `start` waits for the new daemon to answer, and `stop` for the old one to go.
const DEADLINE: Duration = Duration::from_secs(5);

/// The size past which `start` rotates daemon.log (to daemon.log.1). The
/// daemon logs little (repeated problems at the 1st, 2nd, 4th, 8th...).
pub const LOG_LIMIT: u64 = 1 << 20;

/// `$XDG_STATE_HOME/llm-bridge/daemon.log` (default `~/.local/state`).
pub fn log_path() -> Option<PathBuf> {
    llm_bridge_core::paths::state_home().map(|dir| dir.join("daemon.log"))
}

/// The PID of a daemon that answers a ping, if any.
fn running_pid(paths: &Paths) -> Option<u32> {
    match request(paths, &Message::Ping) {
        Ok(Reply::Pong) => Some(read_pid(&paths.pid_file).unwrap_or(0)),
        _ => None,
    }
}

/// The PID a daemon's pid file names, if it holds one.
pub fn read_pid(path: &Path) -> Option<u32> {
    use llm_bridge_hooks::bounded_read::{read_string, Links};
    // Ours: never through a link or a FIFO, a number and a newline.
    read_string(path, 64, Links::Refuse)
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// A daemon that runs and holds the state but does not answer on the
/// socket (its socket file was removed and it could not bind again, or a
/// socket from systemd was removed): its PID, from the pid file, if that
/// process runs, is an `llm-bridge` of this user and the state lock is held.
pub fn unreachable_daemon(paths: &Paths) -> Option<u32> {
    let pid = read_pid(&paths.pid_file)?;
    let stat = proc_stat::read(pid).filter(|s| s.runs())?;
    let ours = std::fs::metadata(format!("/proc/{pid}"))
        .is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == own_uid());
    let named = stat.comm.as_slice() == b"llm-bridge";
    let locked = matches!(
        llm_bridge_core::state_lock::StateLock::try_lock(&paths.lock),
        Ok(None)
    );
    (ours && named && locked).then_some(pid)
}

/// What to say of a daemon that runs but cannot be reached.
pub fn unreachable_text(paths: &Paths, pid: u32) -> String {
    format!(
        "the daemon (pid {pid}) runs and holds the state, but its socket {} does not answer \
         (removed?); `llm-bridge stop` ends it, then `llm-bridge start` (a socket from systemd: \
         `systemctl --user restart llm-bridge.socket llm-bridge.service`)",
        paths.socket.display()
    )
}

fn own_uid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// Whether `pid` runs; a zombie (exited, not yet reaped by its parent) does
/// not. Read from /proc: no signal is sent, not even signal 0.
fn process_alive(pid: u32) -> bool {
    pid != 0 && proc_stat::read(pid).is_some_and(|stat| stat.runs())
}

/// Starts the daemon detached (new session, output in daemon.log), under a
/// supervisor that holds its socket, and returns once it answers. Exit 0 also when one is already running.
pub fn start(paths: &Paths) -> Result<i32> {
    paths.ensure_dirs()?;
    if let Some(pid) = running_pid(paths) {
        println!("llm-bridge daemon is already running{}", pid_text(pid));
        return Ok(0);
    }
    if let Some(pid) = unreachable_daemon(paths) {
        eprintln!("llm-bridge: {}", unreachable_text(paths, pid));
        return Ok(1);
    }
    // A PID file whose process is gone is stale (the daemon replaces a
    // stale socket itself).
    if read_pid(&paths.pid_file).is_some_and(|pid| !process_alive(pid)) {
        let _ = std::fs::remove_file(&paths.pid_file);
    }
    let log = log_path().ok_or_else(|| {
        anyhow!("neither XDG_STATE_HOME nor HOME is set: no place for daemon.log")
    })?;
    let out = append_file::open(&log, LOG_LIMIT)
        .with_context(|| format!("cannot open {}", log.display()))?;
    let exe = std::env::current_exe().context("cannot find the llm-bridge binary")?;
    let mut cmd = Command::new(exe);
    // The supervisor holds the socket and runs the daemon on it, starting
    // another if it is killed (src/supervisor.rs).
    cmd.arg("supervise")
        .arg("--pid-file")
        .arg(&paths.pid_file)
        .stdin(Stdio::null())
        .stdout(out.try_clone().context("cannot duplicate the log file")?)
        .stderr(out);
    // SAFETY: setsid is async-signal-safe; it detaches the daemon from the
    // terminal's session so closing the terminal does not end it.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn().context("cannot start the daemon")?;
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(pid) = running_pid(paths) {
            println!(
                "llm-bridge daemon started{}; log: {}",
                pid_text(pid),
                log.display()
            );
            return Ok(0);
        }
        if let Ok(Some(status)) = child.try_wait() {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            let last = tail
                .lines()
                .last()
                .unwrap_or("")
                .trim_start_matches("llm-bridge: ");
            return Err(anyhow!("the daemon exited ({status}): {last}"));
        }
        if Instant::now() >= deadline {
            return Err(anyhow!(
                "the daemon did not answer within {} s; see {}",
                DEADLINE.as_secs(),
                log.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn pid_text(pid: u32) -> String {
    if pid == 0 {
        String::new()
    } else {
        format!(" (pid {pid})")
    }
}

/// Asks the daemon to flush and exit, waits until it is gone, removes its
/// PID file and socket (never a socket systemd passed it). Exit 1 if none ran.
pub fn stop(paths: &Paths) -> Result<i32> {
    let status = match crate::commands::status::query(paths) {
        Ok(r) => r,
        Err(RequestError::NotRunning) if unreachable_daemon(paths).is_some() => {
            return stop_unreachable(paths);
        }
        Err(RequestError::NotRunning) => {
            clean_stale(paths);
            eprintln!("llm-bridge: the daemon is not running");
            return Ok(1);
        }
        Err(e) => return Err(e.into()),
    };
    let (pid, inherited) = (status.pid, status.socket_activated);
    match request(paths, &Message::Shutdown) {
        Ok(Reply::Ok) => {}
        Ok(r) => return Err(anyhow!("unexpected reply to SHUTDOWN: {r:?}")),
        Err(e) => return Err(e.into()),
    }
    wait_gone(pid)?;
    let _ = std::fs::remove_file(&paths.pid_file);
    if !inherited {
        // Only a socket nobody answers on; never another kind of file.
        if let Err(e) = crate::daemon::remove_stale_socket(&paths.socket) {
            eprintln!("llm-bridge: {}", one_line(&e));
        }
    }
    println!("llm-bridge daemon stopped{}", pid_text(pid));
    Ok(0)
}

/// Ends a daemon that cannot be reached on its socket: SIGTERM to the
/// process the pid file names, checked to be this user's `llm-bridge`
/// holding the state lock (it exits cleanly on SIGTERM, as on SHUTDOWN).
fn stop_unreachable(paths: &Paths) -> Result<i32> {
    let Some(pid) = unreachable_daemon(paths) else {
        eprintln!("llm-bridge: the daemon is not running");
        return Ok(1);
    };
    let pidfd = llm_bridge_core::pidfd::open(pid as i32)
        .with_context(|| format!("cannot open the daemon's process (pid {pid})"))?;
    // The pidfd pins the process: checked again, it is the same one.
    if unreachable_daemon(paths) != Some(pid) {
        return Err(anyhow!(
            "the daemon (pid {pid}) changed while it was being stopped"
        ));
    }
    // SAFETY: pidfd_send_signal on a pidfd we own, no siginfo.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            std::os::fd::AsRawFd::as_raw_fd(&pidfd),
            libc::SIGTERM,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("cannot stop the daemon (pid {pid})"));
    }
    wait_gone(pid)?;
    let _ = std::fs::remove_file(&paths.pid_file);
    println!(
        "llm-bridge daemon stopped (pid {pid}; its socket {} did not answer)",
        paths.socket.display()
    );
    Ok(0)
}

/// Waits (bounded) until the daemon `pid` has exited.
fn wait_gone(pid: u32) -> Result<()> {
    let deadline = Instant::now() + DEADLINE;
    while process_alive(pid) {
        if Instant::now() >= deadline {
            return Err(anyhow!(
                "the daemon (pid {pid}) is still running after {} s",
                DEADLINE.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// Removes a PID file whose process is gone.
fn clean_stale(paths: &Paths) {
    if read_pid(&paths.pid_file).is_some_and(|pid| !process_alive(pid)) {
        let _ = std::fs::remove_file(&paths.pid_file);
    }
}

/// Asks the daemon to reread its config. Exit 0 done, 1 not running, 2 invalid config.
pub fn reload(paths: &Paths) -> Result<i32> {
    match request(paths, &Message::Reload) {
        Ok(Reply::Ok) => {
            println!("config reloaded");
            Ok(0)
        }
        Ok(Reply::Error(reason)) => {
            eprintln!("llm-bridge: {reason}; the daemon keeps its running config");
            Ok(2)
        }
        Ok(r) => Err(anyhow!("unexpected reply to RELOAD: {r:?}")),
        Err(RequestError::NotRunning) => {
            eprintln!("llm-bridge: the daemon is not running");
            Ok(1)
        }
        Err(e) => Err(e.into()),
    }
}
