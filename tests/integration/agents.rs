//! Every agent on one bar: each agent's hook payloads (tests/samples/agents/)
//! through the real hook, with the agent as its first argument, into one
//! daemon. Each table's mapping shows on the bar; sessions of different
//! agents with the same id stay apart; the old argument form stays Claude
//! Code's.

use crate::support::*;
use std::process::Output;

/// One of the agents' sample payloads.
fn agent_sample(name: &str) -> Vec<u8> {
    sample_file(&format!("agents/{name}.json"))
}

/// Runs the real hook as `agent` runs it (`llm-bridge-hook AGENT EVENT`).
#[track_caller]
fn hook_as(env: &Env, args: &[&str], input: &[u8]) -> Output {
    let mut cmd = env.command(&hook_bin());
    cmd.args(args);
    let out = run_with_stdin(cmd, input);
    assert!(out.status.success(), "hook exited with {:?}", out.status);
    out
}

/// Runs the hook for `agent` with the sample `<agent>-<event>`; the client
/// gets nothing on stdout or stderr.
#[track_caller]
fn event(env: &Env, agent: &str, event: &str) {
    let hook_event = event.split('-').next().unwrap();
    let out = hook_as(
        env,
        &[agent, hook_event],
        &agent_sample(&format!("{agent}-{event}")),
    );
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "{agent} {event}: stdout {:?}, stderr {:?}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[track_caller]
fn tooltip(env: &Env) -> String {
    env.module()["tooltip"].as_str().unwrap_or("").to_string()
}

#[test]
fn gemini_events_move_the_bar_through_a_turn() {
    let env = Env::new();
    let _daemon = env.daemon();
    event(&env, "gemini", "SessionStart");
    env.wait_text("idle");
    event(&env, "gemini", "BeforeAgent");
    env.wait_text("working");
    // A model-level event is ignored.
    event(&env, "gemini", "BeforeModel");
    event(&env, "gemini", "BeforeTool");
    env.wait_text("working: run_shell_command");
    event(&env, "gemini", "Notification-ToolPermission");
    env.wait_text("waiting");
    event(&env, "gemini", "AfterTool");
    env.wait_text("working");
    event(&env, "gemini", "AfterAgent");
    env.wait_text("idle");
    event(&env, "gemini", "SessionEnd");
    wait_until("no session", || env.module()["alt"] == "none");
}

#[test]
fn codex_events_move_the_bar_and_its_interrupt_ends_the_turn() {
    let env = Env::new();
    let _daemon = env.daemon();
    event(&env, "codex", "SessionStart");
    env.wait_text("idle");
    event(&env, "codex", "UserPromptSubmit");
    env.wait_text("working");
    // The request to the model is not the bar's business.
    event(&env, "codex", "PreModelRequest");
    event(&env, "codex", "PreToolUse");
    env.wait_text("working: Bash");
    event(&env, "codex", "PermissionRequest");
    env.wait_text("waiting");
    event(&env, "codex", "PostToolUse");
    env.wait_text("working");
    event(&env, "codex", "Stop");
    env.wait_text("idle");
    event(&env, "codex", "UserPromptSubmit");
    env.wait_text("working");
    event(&env, "codex", "Interrupt");
    env.wait_text("idle");
    event(&env, "codex", "SessionEnd");
    wait_until("no session", || env.module()["alt"] == "none");
}

#[test]
fn qwen_events_move_the_bar_through_a_turn() {
    let env = Env::new();
    let _daemon = env.daemon();
    event(&env, "qwen", "UserPromptSubmit");
    event(&env, "qwen", "PreToolUse");
    env.wait_text("working: run_shell_command");
    event(&env, "qwen", "PermissionRequest");
    env.wait_text("waiting");
    event(&env, "qwen", "PostToolUse");
    env.wait_text("working");
    event(&env, "qwen", "Stop");
    env.wait_text("idle");
}

#[test]
fn four_agents_give_one_aggregate_and_a_tooltip_line_each_naming_its_agent() {
    let env = Env::new();
    let _daemon = env.daemon();
    // Claude Code, in the form settings written before agents existed use.
    let claude = hook_as(&env, &["UserPromptSubmit"], &sample("UserPromptSubmit"));
    assert!(claude.stdout.is_empty() && claude.stderr.is_empty());
    env.wait_text("working");
    event(&env, "gemini", "BeforeAgent");
    event(&env, "codex", "UserPromptSubmit");
    event(&env, "qwen", "UserPromptSubmit");
    event(&env, "codex", "PermissionRequest");
    env.wait_text("waiting 1 · 3 working");
    // One line per session, and the last one naming where a click goes.
    wait_until("four tooltip lines", || {
        let tip = tooltip(&env);
        tip.lines().count() == 5 && tip.lines().last().is_some_and(|l| l.starts_with("click: "))
    });
    let tip = tooltip(&env);
    for agent in ["claude", "gemini", "codex", "qwen"] {
        assert_eq!(
            tip.lines()
                .filter(|l| l.contains(&format!(" · {agent}")))
                .count(),
            1,
            "{agent} in {tip}"
        );
    }
    assert!(
        tip.lines().next().unwrap().contains("waiting"),
        "the waiting session first: {tip}"
    );
    let status = status_json(&env);
    assert_eq!(status["sessions"].as_array().unwrap().len(), 4);
}

#[test]
fn the_same_id_from_two_agents_is_two_sessions() {
    let env = Env::new();
    let _daemon = env.daemon();
    let payload = br#"{"session_id":"same","hook_event_name":"UserPromptSubmit","cwd":"/src/one"}"#;
    hook_as(&env, &["UserPromptSubmit"], payload);
    hook_as(&env, &["qwen", "UserPromptSubmit"], payload);
    env.wait_text("working 2");
    // Claude Code's Stop ends Claude Code's turn only.
    hook_as(
        &env,
        &[],
        br#"{"session_id":"same","hook_event_name":"Stop","cwd":"/src/one"}"#,
    );
    env.wait_text("working 1");
    wait_until("the snapshot", || {
        std::fs::read_to_string(env.state_json()).is_ok_and(|s| s.contains("\"qwen:same\""))
    });
}

#[test]
fn a_gemini_or_qwen_hook_that_must_warn_answers_with_an_empty_object_first() {
    let env = Env::new();
    let _daemon = env.daemon();
    // A payload the hook cannot read: a warning on stderr, which Gemini CLI
    // and Qwen Code would show the user if stdout were empty.
    for agent in ["gemini", "qwen"] {
        let out = hook_as(&env, &[agent, "BeforeTool"], b"not json");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "{}\n", "{agent}");
        assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
    }
    // The other agents get nothing on stdout, as before.
    for agent in ["codex", "SessionStart"] {
        let out = hook_as(&env, &[agent, "PreToolUse"], b"not json");
        assert!(out.stdout.is_empty(), "{agent}");
    }
}

#[test]
fn qwens_status_line_feeds_its_session_not_a_claude_one() {
    let env = Env::new();
    let _daemon = env.daemon();
    event(&env, "qwen", "UserPromptSubmit");
    env.wait_text("working");
    let status = agent_sample("qwen-statusline");
    let statusline = |args: &[&str]| {
        let mut cmd = env.command(&statusline_bin());
        cmd.args(args);
        let out = run_with_stdin(cmd, &status);
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // As Claude Code's (no argument), the figures belong to no session:
    // the session of that id is Qwen's.
    assert!(statusline(&[]).contains("qwen3-coder-plus"));
    // Datagrams are handled in order: once this event shows, the STATUS was.
    event(&env, "qwen", "PreToolUse");
    env.wait_text("working: run_shell_command");
    assert!(
        !tooltip(&env).contains("qwen3-coder-plus"),
        "{}",
        tooltip(&env)
    );
    // As Qwen Code's status line: its session gets the model and context.
    let line = statusline(&["qwen"]);
    assert!(
        line.contains("qwen3-coder-plus") && line.contains("12%"),
        "{line}"
    );
    wait_until("the Qwen session's figures in the tooltip", || {
        tooltip(&env).contains("api-server: working (run_shell_command) since")
            && tooltip(&env).contains("· qwen3-coder-plus · 12% context")
    });
}
