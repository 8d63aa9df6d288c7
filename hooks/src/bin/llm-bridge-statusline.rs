//! `llm-bridge-statusline`: Claude Code's statusLine command, and Qwen
//! Code's (`llm-bridge-statusline qwen`, its `ui.statusLine` command: the
//! same JSON, fewer fields).
//!
//! Reads the statusLine JSON on stdin, prints the line (always a non-empty
//! line, always exit 0: an empty line or a failure blanks Claude's status
//! line), then sends the figures to the daemon without waiting, for the
//! session of the agent its first argument names (Claude Code without one). Never runs
//! a subprocess and never writes files. Like the hook it is `#![no_main]`
//! ([`llm_bridge_hooks::entry`]).

#![no_main]

use llm_bridge_hooks::runtime_path::checked_socket_path;
use llm_bridge_hooks::send::send_datagram_nonblocking;
use llm_bridge_hooks::statusline::git_branch;
use llm_bridge_hooks::statusline::render::{render, RenderOptions};
use llm_bridge_hooks::statusline::template::Segment;
use llm_bridge_hooks::statusline::{StatusInput, StatuslineConfig};
use llm_bridge_protocol::agent::Agent;
use llm_bridge_protocol::json_value::Json;
use llm_bridge_protocol::wire::Message;
use std::io::{Read, Write};
use std::path::Path;

/// Printed when there is nothing better: Claude Code blanks an empty line.
const MINIMAL_LINE: &str = "Claude Code";

llm_bridge_hooks::hot_main!(run, on_panic);

/// A panic still prints a line (an empty one blanks Claude's status line).
fn on_panic(info: &std::panic::PanicHookInfo<'_>) {
    let _ = writeln!(
        std::io::stderr(),
        "llm-bridge-statusline: internal error: {}",
        llm_bridge_hooks::entry::panic_line(info)
    );
    print_line(MINIMAL_LINE);
}

fn run() {
    if std::env::var_os("LLM_BRIDGE_STATUSLINE_TEST_PANIC").is_some() {
        panic!("LLM_BRIDGE_STATUSLINE_TEST_PANIC is set");
    }
    let (raw, whole) = read_bounded(std::io::stdin().lock(), INPUT_LIMIT);
    if !whole {
        warn(&format!(
            "stdin is larger than {} KiB: not a status",
            INPUT_LIMIT / 1024
        ));
        print_line(MINIMAL_LINE);
        return;
    }
    let Some(json) = Json::parse(&raw) else {
        warn(if raw.iter().all(u8::is_ascii_whitespace) {
            "stdin is empty"
        } else {
            "stdin is not JSON"
        });
        print_line(MINIMAL_LINE);
        return;
    };
    let input = StatusInput::from_json(&json);

    let (config, problem) = StatuslineConfig::load();
    if let Some(problem) = problem {
        warn(&problem);
    }
    let template = Segment::parse_format(&config.format).unwrap_or_else(|e| {
        warn(&format!("bad format template: {e}; using the default"));
        Segment::default_format()
    });
    let branch = input
        .current_dir
        .as_deref()
        .and_then(|d| git_branch::branch(Path::new(d)));
    let options = RenderOptions {
        color: config.color && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        columns: std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse().ok())
            .filter(|c| *c > 0),
        context_warn: config.context_warn,
        context_critical: config.context_critical,
    };
    let line = render(&template, &input, branch.as_deref(), &options);
    print_line(if line.trim().is_empty() {
        MINIMAL_LINE
    } else {
        &line
    });

    if let Some(status) = input.to_status(agent()) {
        // Fire and forget: no daemon, or a full queue, costs nothing here.
        // Never into another user's /tmp/llm-bridge-$UID.
        if let Ok(socket) = checked_socket_path() {
            let _ = send_datagram_nonblocking(&socket, &Message::Status(status).encode());
        }
    }
}

/// The agent whose status line runs this: its first argument, if that
/// names one.
fn agent() -> Agent {
    std::env::args_os()
        .nth(1)
        .and_then(|arg| arg.to_str().and_then(Agent::parse))
        .unwrap_or_default()
}

/// The largest status JSON read (Claude Code's is a few KiB; a few MiB of
/// junk in a field still render).
const INPUT_LIMIT: usize = 8 * 1024 * 1024;

/// Reads at most `limit` bytes, then drains the rest to the end (closing
/// the pipe early would give Claude Code an EPIPE): the bytes kept, and
/// whether they are all there was.
fn read_bounded(mut input: impl Read, limit: usize) -> (Vec<u8>, bool) {
    let mut kept = Vec::with_capacity(8 * 1024);
    let _ = (&mut input).take(limit as u64).read_to_end(&mut kept);
    let mut whole = true;
    let mut sink = [0u8; 16 * 1024];
    loop {
        match input.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => whole = false,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    (kept, whole)
}

fn print_line(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out
        .write_all(line.as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
}

fn warn(message: &str) {
    let _ = writeln!(std::io::stderr(), "llm-bridge-statusline: {message}");
}
