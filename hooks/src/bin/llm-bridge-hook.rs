//! `llm-bridge-hook`: what a coding agent runs for every hook event.
//!
//! A `#![no_main]` binary started by [`llm_bridge_hooks::entry`], which skips
//! std's runtime set-up (the hook lives for well under a millisecond).
//!
//! Its first argument names the agent (`llm-bridge-hook gemini BeforeTool`);
//! anything else (`llm-bridge-hook SessionStart`, or none) is Claude Code.
//! It reads the event JSON on stdin, sends one datagram to the daemon and
//! exits 0. Invariants: it prints on stdout only what the agent requires
//! (nothing but for Gemini CLI's `{}` ahead of a warning: see
//! [`llm_bridge_hooks::agent_answer`]; Claude Code injects a hook's stdout
//! into the conversation), never exits non-zero (exit 2 would block the
//! agent's action), and never blocks longer than the send timeout.
//! When no daemon is listening it executes `llm-bridge-apply`, which updates
//! the state files with the daemon's own logic.

#![no_main]

use llm_bridge_hooks::agent_answer;
use llm_bridge_hooks::hook_input::event_from_hook_reader;
use llm_bridge_hooks::proc_stat;
use llm_bridge_hooks::runtime_path::checked_socket_path;
use llm_bridge_hooks::send::{send_datagram, SendError, SEND_TIMEOUT};
use llm_bridge_hooks::spool;
use llm_bridge_protocol::agent::Agent;
use llm_bridge_protocol::wire::{EventKind, Message};
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The no-daemon fallback, installed beside this binary.
const FALLBACK: &str = "llm-bridge-apply";

llm_bridge_hooks::hot_main!(run, on_panic);

/// A panic must not become a failed hook (or a core dump): one line, exit 0.
fn on_panic(info: &std::panic::PanicHookInfo<'_>) {
    warn(
        agent(),
        format_args!(
            "internal error: {}",
            llm_bridge_hooks::entry::panic_line(info)
        ),
    );
}

/// The agent that runs this hook: its first argument, if that names one.
fn agent() -> Agent {
    std::env::args_os()
        .nth(1)
        .and_then(|arg| arg.to_str().and_then(Agent::parse))
        .unwrap_or_default()
}

fn run() {
    // How the tests check that a panic still ends here, with exit 0.
    if std::env::var_os("LLM_BRIDGE_HOOK_TEST_PANIC").is_some() {
        panic!("LLM_BRIDGE_HOOK_TEST_PANIC is set");
    }
    let now_ns = now_ns();
    let agent = agent();
    // SAFETY: getppid cannot fail.
    let parent = unsafe { libc::getppid() } as u32;

    // Read to the end in pieces: bounded memory for any payload.
    let event = match event_from_hook_reader(agent, std::io::stdin().lock(), Some(parent), now_ns) {
        Ok(mut event) => {
            // The agent's process, so that the daemon can see it exit.
            // Named here, past shells and wrappers that end with the hook,
            // only when a session or a turn starts: reading /proc costs
            // the hook 5% of its run (BENCHMARKS.md). The same walk finds
            // every agent's: Claude Code and Codex CLI run the hook
            // directly, Gemini CLI and Qwen Code (node) through a shell
            // that the walk steps past. For the frequent
            // events the receiver names it from `parent`, which is almost
            // always the process it already knows.
            if !agent.parent_is_client(event.kind) {
                // Run by a process other than the agent's: nothing to name.
                event.parent = None;
            } else if matches!(event.kind, EventKind::SessionStart | EventKind::Submit) {
                if let Some((pid, start)) = proc_stat::client_from(parent) {
                    event.ppid = Some(pid);
                    event.pstart = Some(start);
                }
            }
            event
        }
        Err(e) => {
            warn(agent, format_args!("ignored: {e}"));
            return;
        }
    };
    let datagram = Message::Event(event).encode();
    // Another user's /tmp/llm-bridge-$UID gets nothing (nor does the
    // fallback, which would write there).
    let socket = match checked_socket_path() {
        Ok(socket) => socket,
        Err(problem) => {
            warn(agent, format_args!("event dropped: {problem}"));
            return;
        }
    };
    match send_datagram(&socket, &datagram, SEND_TIMEOUT) {
        Ok(()) => {}
        Err(SendError::DaemonDown(_)) => run_fallback(agent, &datagram),
        // A daemon that is stopped or swamped: the event waits in the
        // spool, which the daemon replays as soon as it runs.
        Err(SendError::TimedOut) => match spool::put(&datagram, now_ns.unwrap_or(0)) {
            Ok(_) => warn(
                agent,
                format_args!(
                "the daemon took no event for {} ms: spooled (it replays the spool when it runs)",
                SEND_TIMEOUT.as_millis()
            ),
            ),
            Err(e) => warn(
                agent,
                format_args!(
                    "event dropped: the daemon took no event for {} ms and the spool failed: {e}",
                    SEND_TIMEOUT.as_millis()
                ),
            ),
        },
        Err(e) => warn(agent, format_args!("event dropped: {e}")),
    }
}

/// Replaces this process with `llm-bridge-apply` (small and static, like
/// this one), the message on its stdin: the binary installed beside this
/// one, else the one on PATH. Not in its arguments: those are readable by
/// every user in /proc/PID/cmdline.
fn run_fallback(agent: Agent, datagram: &[u8]) {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(FALLBACK)))
        .filter(|p| p.is_file());
    let program = beside.unwrap_or_else(|| PathBuf::from(FALLBACK));
    // The message (at most MAX_DATAGRAM bytes) fits a pipe's buffer, so
    // writing it all before the exec never blocks.
    let message = match message_pipe(datagram) {
        Ok(read_end) => read_end,
        Err(e) => {
            warn(
                agent,
                format_args!("daemon is down and the fallback's pipe failed: {e}; event dropped"),
            );
            return;
        }
    };
    // The fallback may warn on stderr too, after this process is gone.
    agent_answer::before_stderr(agent);
    let err = Command::new(&program)
        .stdin(Stdio::from(message))
        .stdout(Stdio::null())
        .exec();
    warn(
        agent,
        format_args!(
            "daemon is down and the fallback '{}' could not run: {err}; event dropped",
            program.display()
        ),
    );
}

/// A pipe holding `bytes`, its write end closed: the read end.
fn message_pipe(bytes: &[u8]) -> std::io::Result<OwnedFd> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array on success.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors are new and owned here.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    std::fs::File::from(write_end).write_all(bytes)?;
    Ok(read_end)
}

fn now_ns() -> Option<u64> {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    u64::try_from(d.as_nanos()).ok()
}

/// One line on stderr, after what `agent` needs on stdout first; a failure
/// to write it is ignored.
fn warn(agent: Agent, args: std::fmt::Arguments<'_>) {
    agent_answer::before_stderr(agent);
    let _ = writeln!(std::io::stderr(), "llm-bridge-hook: {args}");
}
