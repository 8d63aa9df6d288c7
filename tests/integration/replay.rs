//! Replaying the Claude Code samples through the real hook into the daemon.

use crate::support::*;
use llm_bridge_protocol::wire::EventKind;
use std::collections::BTreeSet;

/// The samples in the order their README gives, with the module text each
/// step must produce.
const STEPS: [(&str, &str); 20] = [
    ("SessionStart", "idle"),
    ("UserPromptSubmit", "working"),
    ("PreToolUse-Bash", "working: Bash"),
    ("PermissionRequest", "waiting"),
    ("PostToolUse-Bash", "working"),
    ("PreToolUse-Edit", "working: Edit"),
    (
        "PreToolUse-mcp",
        "working: mcp__github__search_repositories",
    ),
    (
        "PostToolUse-Write",
        "working: mcp__github__search_repositories",
    ),
    (
        "PostToolUseFailure",
        "working: mcp__github__search_repositories",
    ),
    ("SubagentStart", "working: mcp__github__search_repositories"),
    ("SubagentStop", "working: mcp__github__search_repositories"),
    ("Notification-permission_prompt", "waiting"),
    ("Notification-idle_prompt", "idle"),
    ("SessionStart-resume", "idle"),
    ("Stop", "idle"),
    ("StopFailure", "error"),
    ("PreCompact", "working"),
    ("PostCompact", "error"),
    ("UserPromptSubmit", "working"),
    ("SessionEnd", "none"),
];

#[test]
fn samples_replayed_through_the_hook_drive_the_module() {
    let env = Env::new();
    let daemon = env.daemon();
    for (sample_name, text) in STEPS {
        env.hook(&sample(sample_name));
        env.wait_text(text);
        let module = env.module();
        let alt = module["alt"].as_str().unwrap().to_string();
        assert_eq!(module["class"], serde_json::json!([alt]));
        if text != "none" {
            assert!(
                module["tooltip"]
                    .as_str()
                    .unwrap()
                    .starts_with("waybar-llm: "),
                "{module}"
            );
        }
    }
    let log = daemon.stop();
    assert!(log.contains(" 0 rejected"), "{log}");
}

#[test]
fn all_samples_are_accepted_by_the_scanner() {
    let env = Env::new();
    let daemon = env.daemon();
    let names: BTreeSet<&str> = STEPS.iter().map(|s| s.0).collect();
    for name in names {
        let out = env.hook(&sample(name));
        assert!(
            out.stderr.is_empty(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    env.hook(&sample("SessionEnd"));
    env.wait_text("none");
    drop(daemon);
}

#[test]
fn out_of_order_tool_events_leave_no_phantom_tool() {
    let env = Env::new();
    let _daemon = env.daemon();
    env.send(event(EventKind::Submit, "s", "/src/p"));
    env.send(tool_event(EventKind::ToolEnd, "s", "Read", "t1"));
    env.send(tool_event(EventKind::ToolStart, "s", "Read", "t1"));
    env.send(tool_event(EventKind::ToolStart, "s", "Grep", "t2"));
    env.wait_text("working: Grep");
    env.send(tool_event(EventKind::ToolEnd, "s", "Grep", "t2"));
    env.wait_text("working");
}

#[test]
fn two_sessions_show_a_count_and_waiting_first() {
    let env = Env::new();
    let _daemon = env.daemon();
    let second = String::from_utf8(sample("PreToolUse-Bash"))
        .unwrap()
        .replace("8f3c2a4e-5b1d-4c7e-9a2f-1e6d0b7c3a91", "second-session")
        .replace("/home/user/src/waybar-llm", "/home/user/src/other-project");
    env.hook(&sample("UserPromptSubmit"));
    env.hook(second.as_bytes());
    env.wait_text("working 2");
    env.hook(&sample("PermissionRequest"));
    env.wait_text("waiting 1 · 1 working");
    let tooltip = env.module()["tooltip"].as_str().unwrap().to_string();
    let lines: Vec<&str> = tooltip.lines().collect();
    assert!(lines[0].starts_with("waybar-llm: waiting"), "{tooltip}");
    assert!(
        lines[1].starts_with("other-project: working (Bash)"),
        "{tooltip}"
    );
}

#[test]
fn parallel_senders_lose_nothing() {
    // 8 senders x 150 events into a 10-deep queue: the blocking send with
    // SO_SNDTIMEO waits for room instead of dropping.
    let env = Env::new();
    let _daemon = env.daemon();
    let socket = env.socket();
    const SENDERS: usize = 8;
    const EVENTS: usize = 150;
    std::thread::scope(|scope| {
        for s in 0..SENDERS {
            let socket = socket.clone();
            scope.spawn(move || {
                for i in 0..EVENTS {
                    let e = tool_event(
                        EventKind::ToolStart,
                        &format!("s{s}"),
                        "Read",
                        &format!("t{i}"),
                    );
                    let bytes = llm_bridge_protocol::wire::Message::Event(e).encode();
                    // Not the hook's 50 ms: on a loaded machine the
                    // daemon may not run for that long, and the hook
                    // spools then (tested in faults). What is tested here
                    // is that a full queue makes the sender wait.
                    llm_bridge_hooks::send::send_datagram(
                        &socket,
                        &bytes,
                        std::time::Duration::from_secs(5),
                    )
                    .expect("send within the timeout");
                }
            });
        }
    });
    wait_until("every event in state.json", || {
        let Ok(text) = std::fs::read_to_string(env.state_json()) else {
            return false;
        };
        let state: serde_json::Value = serde_json::from_str(&text).unwrap();
        (0..SENDERS).all(|s| state["sessions"][format!("s{s}")]["tool_uses"] == EVENTS)
    });
    env.wait_text(&format!("working {SENDERS}"));
}
