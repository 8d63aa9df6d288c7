//! `llm-bridge waybar`: what Waybar's `exec` runs.
//!
//! Without `--follow` it is [`print_once`], the same code as the small
//! static `llm-bridge-waybar` that README's module runs. With `--follow` it
//! is Waybar's continuous mode: the current module at once, then one line per change,
//! through a [`Subscription`] (pushes from the daemon, and waybar.json for
//! the fallback's writes). It ends when Waybar closes its stdout or stops
//! it with a signal, and unsubscribes on the way out.

use crate::subscription::Subscription;
use llm_bridge_core::error::Result;
use llm_bridge_core::paths::Paths;
use llm_bridge_core::waybar_exec::log_exec;
pub use llm_bridge_core::waybar_exec::print_once;
use std::io::Write;

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
