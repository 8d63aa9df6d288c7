//! What Waybar's `exec` runs in signal mode (`llm-bridge-waybar`, also
//! `llm-bridge waybar`): print the current module once, then name this
//! process's Waybar to the daemon, with a digest of the line printed: a
//! change published between the read and the naming is owed to it.
//!
//! It always prints one line and exits 0 (a non-zero exit hides the module).
//! The `none` module is printed when no daemon or fallback ever wrote one.

use crate::paths::Paths;
use crate::publish::current_module;
use crate::waybar_signal::WAYBAR_NAMES;
use llm_bridge_hooks::proc_stat;
use llm_bridge_hooks::send::send_datagram_nonblocking;
use llm_bridge_protocol::wire::{line_digest, Message};
use std::io::Write;

/// Prints the current module once, then names this process's Waybar to the
/// daemon, so a Waybar that (re)started after the daemon is signalled from
/// the next change on.
pub fn print_once(paths: &Paths) {
    // Another user's /tmp/llm-bridge-$UID could hold a forged module.
    let problem = llm_bridge_hooks::runtime_path::fallback_dir_problem();
    let line = match &problem {
        Some(problem) => {
            eprintln!("llm-bridge-waybar: {problem}");
            crate::module::render_empty()
        }
        None => current_module(paths),
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    drop(out);
    log_exec(&line);
    // Waybar runs its exec through `sh -c`: the parent or the grandparent.
    let found = problem
        .is_none()
        .then(|| proc_stat::find_ancestor(&WAYBAR_NAMES, 3));
    if let Some(pid) = found.flatten() {
        let message = Message::Waybar {
            pid,
            shown: Some(line_digest(&line)),
        };
        let _ = send_datagram_nonblocking(&paths.socket, &message.encode());
    }
}

/// With `LLM_BRIDGE_EXEC_LOG=FILE`, every line printed for Waybar is also
/// appended to FILE as `<unix ns> <line>`: how the end-to-end tests see that
/// Waybar really ran the module, and when.
pub fn log_exec(line: &str) {
    let Some(path) = std::env::var_os("LLM_BRIDGE_EXEC_LOG") else {
        return;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{now} {line}");
    }
}
