//! `llm-bridge start`, `stop` and `reload`.

use crate::control::{request, RequestError};
use llm_bridge_core::append_file;
use llm_bridge_core::error::{anyhow, one_line, Context, Result};
use llm_bridge_core::paths::Paths;
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

fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Whether `pid` runs; a zombie (exited, not yet reaped by its parent) does
/// not. Read from /proc: no signal is sent, not even signal 0.
fn process_alive(pid: u32) -> bool {
    if pid == 0 {
        return false;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the parenthesised command name.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    state.is_some_and(|s| s != 'Z' && s != 'X')
}

/// Starts the daemon detached (new session, output in daemon.log) and
/// returns once it answers. Exit 0 also when one is already running.
pub fn start(paths: &Paths) -> Result<i32> {
    paths.ensure_dirs()?;
    if let Some(pid) = running_pid(paths) {
        println!("llm-bridge daemon is already running{}", pid_text(pid));
        return Ok(0);
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
    cmd.arg("daemon")
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
