//! `llm-bridge waybar`: what Waybar's `exec` runs.
//!
//! Without `--follow` it prints the current module once (signal mode; the
//! `none` module if no daemon ever ran) and always exits 0, because a
//! non-zero exit hides the module. With `--follow` it is Waybar's
//! continuous mode: the current module at once, then one line per change,
//! through a [`Subscription`] (pushes from the daemon, and waybar.json for
//! the fallback's writes). It ends when Waybar closes its stdout or stops
//! it with a signal, and unsubscribes on the way out.

use crate::error::Result;
use crate::paths::Paths;
use crate::publish::current_module;
use crate::subscription::Subscription;
use crate::waybar_signal::WAYBAR_NAMES;
use llm_bridge_hooks::proc_stat;
use llm_bridge_hooks::send::send_datagram_nonblocking;
use llm_bridge_hooks::wire::Message;
use std::io::Write;

/// Prints the current module once, then names this process's Waybar to
/// the daemon, so a Waybar that (re)started after the daemon is signalled
/// from the next change on.
pub fn print_once(paths: &Paths) {
    let line = current_module(paths);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    drop(out);
    log_exec(&line);
    // Waybar runs its exec through `sh -c`: the parent or the grandparent.
    if let Some(pid) = proc_stat::find_ancestor(&WAYBAR_NAMES, 3) {
        let _ = send_datagram_nonblocking(&paths.socket, &Message::Waybar { pid }.encode());
    }
}

/// With `LLM_BRIDGE_EXEC_LOG=FILE`, every line printed for Waybar is also
/// appended to FILE as `<unix ns> <line>`: how the end-to-end tests see that
/// Waybar really ran the module, and when.
fn log_exec(line: &str) {
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

/// Prints the current module, then every change, until stdout closes or a
/// signal stops it.
pub fn follow(paths: &Paths) -> Result<()> {
    let mut subscription = Subscription::new(paths)?;
    let mut last: Option<String> = None;
    while let Some(line) = subscription.next_module()? {
        if last.as_deref() == Some(line.as_str()) {
            continue;
        }
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            return Ok(());
        }
        log_exec(&line);
        last = Some(line);
    }
    Ok(())
}
