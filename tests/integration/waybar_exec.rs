//! `llm-bridge waybar`: one-shot and `--follow`.

use crate::support::*;
use llm_bridge_protocol::wire::EventKind;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

#[test]
fn without_any_daemon_it_prints_none_and_exits_0() {
    let env = Env::new();
    let out = env.command(&bridge_bin()).arg("waybar").output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["alt"], "none");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
}

#[test]
fn it_prints_what_the_daemon_published() {
    let env = Env::new();
    let _daemon = env.daemon();
    env.hook(&sample("PreToolUse-Bash"));
    env.wait_text("working: Bash");
    let out = env.command(&bridge_bin()).arg("waybar").output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["text"], "working: Bash");
}

#[test]
fn follow_streams_changes_across_restarts_and_fallback() {
    let env = Env::new();
    let follower = Streaming::start(&env, &["waybar", "--follow"]);
    follower.expect_text("none");
    let daemon = env.daemon();
    env.send(event(EventKind::Submit, "a", "/src/alpha"));
    follower.expect_text("working");
    env.send(event(EventKind::Permission, "a", "/src/alpha"));
    follower.expect_text("waiting");
    daemon.stop();
    // No daemon: the fallback's writes reach the follower too.
    env.hook(&sample("UserPromptSubmit"));
    follower.expect_text("waiting 1 · 1 working");
    // A new daemon: the follower re-subscribes by itself.
    let _daemon = env.daemon();
    env.send(event(EventKind::Stop, "a", "/src/alpha"));
    follower.expect_text("working 1");
    env.send(event(EventKind::SessionEnd, "a", "/src/alpha"));
    env.send(event(
        EventKind::SessionEnd,
        "8f3c2a4e-5b1d-4c7e-9a2f-1e6d0b7c3a91",
        "/x",
    ));
    follower.expect_text("none");
}

#[test]
fn follow_exits_when_waybar_goes_away() {
    let env = Env::new();
    let _daemon = env.daemon();
    let mut child = env
        .command(&bridge_bin())
        .args(["waybar", "--follow"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    drop(out);
    env.send(event(EventKind::Submit, "a", "/src/alpha"));
    wait_until("--follow to exit", || child.try_wait().unwrap().is_some());
    assert!(child.wait().unwrap().success());
}

#[test]
fn the_exec_log_records_every_printed_line() {
    let env = Env::new();
    let log = env.runtime().join("exec.log");
    let out = env
        .command(&bridge_bin())
        .arg("waybar")
        .env("LLM_BRIDGE_EXEC_LOG", &log)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    let (ns, line) = text.trim_end().split_once(' ').unwrap();
    assert!(ns.parse::<u128>().is_ok());
    assert_eq!(line, String::from_utf8_lossy(&out.stdout).trim_end());
}
