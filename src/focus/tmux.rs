//! A session inside tmux: its pane is the one whose shell is an ancestor
//! of the agent's process; that pane and its window are selected, and the
//! terminal to focus is the one running the tmux client attached to that
//! tmux session (the most recently active one). `tmux` is the one
//! subprocess `llm-bridge focus` runs: run directly, never through a shell,
//! on the server's own socket, its output read with a cap.

use llm_bridge_core::error::{bail, Context, Result};
use llm_bridge_hooks::bounded_read::{self, Links};
use llm_bridge_hooks::proc_stat;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The most of tmux's output read.
const OUTPUT_CAP: u64 = 1024 * 1024;

/// Where the session is in tmux, once selected.
#[derive(Debug, PartialEq, Eq)]
pub struct Selected {
    /// The tmux client process showing the pane's session: its terminal
    /// is the window to focus.
    pub client_pid: u32,
}

/// Where a tmux server is in `ancestors` (nearest first), if it is there.
pub fn server_in(ancestors: &[u32]) -> Option<usize> {
    ancestors
        .iter()
        .position(|&pid| proc_stat::read(pid).is_some_and(|s| s.comm.starts_with(b"tmux")))
}

/// Selects the pane and window of tmux server `server` that hold the
/// process whose ancestors below the server are `below` (nearest first),
/// and names the client to focus.
pub fn select(below: &[u32], server: u32) -> Result<Selected> {
    let socket = server_socket(server);
    let panes = run(
        &socket,
        &[
            "list-panes",
            "-a",
            "-F",
            "#{pane_pid} #{pane_id} #{window_id} #{session_id}",
        ],
    )?;
    // The pane's process is the nearest ancestor below the server.
    let pane = panes
        .lines()
        .filter_map(|line| {
            let mut words = line.split(' ');
            let pid: u32 = words.next()?.parse().ok()?;
            let position = below.iter().position(|&p| p == pid)?;
            Some((position, words.next()?, words.next()?, words.next()?))
        })
        .min_by_key(|(position, ..)| *position);
    let Some((_, pane, window, session)) = pane else {
        bail!("no tmux pane of server {server} holds the session's process");
    };
    run(
        &socket,
        &[
            "select-window",
            "-t",
            window,
            ";",
            "select-pane",
            "-t",
            pane,
        ],
    )?;
    let clients = run(
        &socket,
        &[
            "list-clients",
            "-F",
            "#{client_activity} #{client_pid} #{session_id} #{client_name}",
        ],
    )?;
    let mut clients: Vec<(u64, u32, &str, &str)> = clients
        .lines()
        .filter_map(|line| {
            let mut words = line.splitn(4, ' ');
            Some((
                words.next()?.parse().ok()?,
                words.next()?.parse().ok()?,
                words.next()?,
                words.next()?,
            ))
        })
        .collect();
    clients.sort_by_key(|(activity, ..)| std::cmp::Reverse(*activity));
    if let Some((_, pid, ..)) = clients.iter().find(|(_, _, s, _)| *s == session) {
        return Ok(Selected { client_pid: *pid });
    }
    // No client shows that session: the most recently active one switches to it.
    let Some((_, pid, _, name)) = clients.first() else {
        bail!("no tmux client is attached to server {server}: attach one to see the session");
    };
    run(&socket, &["switch-client", "-c", name, "-t", session])?;
    Ok(Selected { client_pid: *pid })
}

/// The server's socket, from the command line that started it (`-S PATH`,
/// `-L NAME`), else tmux's default.
fn server_socket(server: u32) -> PathBuf {
    let cmdline = bounded_read::read(
        &PathBuf::from(format!("/proc/{server}/cmdline")),
        64 * 1024,
        Links::Refuse,
    )
    .unwrap_or_default();
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    let mut name: &[u8] = b"default";
    for (i, arg) in args.iter().enumerate() {
        let value = |flag: &[u8]| -> Option<&[u8]> {
            let rest = arg.strip_prefix(flag)?;
            if rest.is_empty() {
                args.get(i + 1).copied()
            } else {
                Some(rest)
            }
        };
        if let Some(path) = value(b"-S") {
            return PathBuf::from(String::from_utf8_lossy(path).into_owned());
        }
        if let Some(n) = value(b"-L") {
            name = n;
        }
    }
    let dir = std::env::var_os("TMUX_TMPDIR").unwrap_or_else(|| "/tmp".into());
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    PathBuf::from(dir)
        .join(format!("tmux-{uid}"))
        .join(String::from_utf8_lossy(name).into_owned())
}

/// Runs `tmux -S SOCKET ARGS…` and returns its output (at most
/// [`OUTPUT_CAP`] bytes are read).
fn run(socket: &std::path::Path, args: &[&str]) -> Result<String> {
    let mut child = Command::new("tmux")
        .arg("-S")
        .arg(socket)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run tmux")?;
    let mut out = Vec::new();
    child
        .stdout
        .take()
        .expect("piped")
        .take(OUTPUT_CAP)
        .read_to_end(&mut out)?;
    if out.len() as u64 >= OUTPUT_CAP {
        let _ = child.kill();
        let _ = child.wait();
        bail!("tmux {} printed more than {OUTPUT_CAP} bytes", args[0]);
    }
    let mut err = Vec::new();
    child
        .stderr
        .take()
        .expect("piped")
        .take(4096)
        .read_to_end(&mut err)?;
    let status = child.wait()?;
    if !status.success() {
        let why = llm_bridge_core::state::printable(String::from_utf8_lossy(&err).trim());
        bail!("tmux {} failed: {why}", args[0]);
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}
