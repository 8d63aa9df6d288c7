//! `llm-bridge-apply [MESSAGE]`: the hook's fallback when no daemon listens.
//! `llm-bridge-hook` executes it with the encoded message on stdin (a pipe:
//! a process's arguments are readable by every user in /proc/PID/cmdline);
//! it updates the state files with the daemon's own rules
//! ([`llm_bridge_core::apply`]).
//! Like the hook it never fails: problems are one line on stderr, exit 0.
//! (`llm-bridge apply` is the same for a person, with an exit status.)
//! Static and `#![no_main]` ([`llm_bridge_hooks::entry`]), like the hook.

#![no_main]

use llm_bridge_core::apply::{apply, read_message, Outcome};
use llm_bridge_core::config::Config;
use llm_bridge_core::error::one_line;
use llm_bridge_core::paths::Paths;
use std::os::unix::ffi::OsStrExt;

llm_bridge_hooks::hot_main!(run, on_panic);

fn on_panic(info: &std::panic::PanicHookInfo<'_>) {
    eprintln!(
        "llm-bridge-apply: internal error: {}",
        llm_bridge_hooks::entry::panic_line(info)
    );
}

fn run() {
    let message = match std::env::args_os().nth(1) {
        Some(m) => m.as_bytes().to_vec(),
        None => match read_message(std::io::stdin().lock()) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("llm-bridge-apply: {}", one_line(&e));
                return;
            }
        },
    };
    let config = Config::load().unwrap_or_else(|e| {
        eprintln!("llm-bridge-apply: {}; using the defaults", one_line(&e));
        Config::default()
    });
    match apply(&Paths::from_env(), &config, &message) {
        Ok(Outcome::Spooled) => eprintln!(
            "llm-bridge-apply: the state is held by a daemon that takes no event: \
             spooled (it replays the spool when it runs)"
        ),
        Ok(_) => {}
        Err(e) => eprintln!("llm-bridge-apply: {}", one_line(&e)),
    }
}
