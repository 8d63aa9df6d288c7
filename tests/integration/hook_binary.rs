//! The hook binary's contract: silent on stdout, always exit 0, one
//! datagram per event, never stuck.

use crate::support::*;
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn bad_input_sends_nothing_and_exits_0() {
    let env = Env::new();
    let daemon = env.daemon();
    let inputs: [&[u8]; 6] = [
        b"",
        b"   \n",
        b"not json at all",
        br#"{"session_id":"s","hook_event_name":"Stop""#,
        br#"[{"session_id":"s","hook_event_name":"Stop"}]"#,
        br#"{"hook_event_name":"Stop"}"#,
    ];
    for input in inputs {
        let out = env.hook(input);
        assert!(
            !out.stderr.is_empty(),
            "a one-line reason on stderr for {:?}",
            String::from_utf8_lossy(input)
        );
    }
    let log = daemon.stop();
    assert!(log.contains(" 0 datagrams received"), "{log}");
    assert!(
        !env.state_json().exists()
            || !std::fs::read_to_string(env.state_json())
                .unwrap()
                .contains("\"s\"")
    );
}

#[test]
fn a_megabyte_payload_is_scanned_and_nested_keys_are_ignored() {
    let env = Env::new();
    let _daemon = env.daemon();
    let big = "x\\\"{[".repeat(400_000);
    let payload = format!(
        r#"{{"tool_input":{{"session_id":"WRONG","content":"{big}"}},"session_id":"big","hook_event_name":"PreToolUse","cwd":"/src/big","tool_name":"Write","tool_use_id":"t1"}}"#
    );
    assert!(payload.len() > 2_000_000);
    env.hook(payload.as_bytes());
    env.wait_text("working: Write");
    assert!(env.module()["tooltip"]
        .as_str()
        .unwrap()
        .starts_with("big: working (Write)"));
}

#[test]
fn unknown_events_are_forwarded_without_effect() {
    let env = Env::new();
    let daemon = env.daemon();
    env.hook(&sample("UserPromptSubmit"));
    env.wait_text("working");
    let out = env.hook(
        br#"{"session_id":"8f3c2a4e-5b1d-4c7e-9a2f-1e6d0b7c3a91","hook_event_name":"Elicitation"}"#,
    );
    assert!(out.stderr.is_empty());
    env.hook(&sample("Stop"));
    env.wait_text("idle");
    let log = daemon.stop();
    assert!(log.contains("3 datagrams received, 0 rejected"), "{log}");
}

#[test]
fn a_stuck_daemon_costs_the_hook_at_most_the_send_timeout() {
    let env = Env::new();
    let daemon = env.daemon();
    // Freeze the daemon and fill its queue (net.unix.max_dgram_qlen).
    // SAFETY: signalling a process this program started.
    unsafe { libc::kill(daemon.child.id() as i32, libc::SIGSTOP) };
    let sock = std::os::unix::net::UnixDatagram::unbound().unwrap();
    sock.connect(env.socket()).unwrap();
    sock.set_nonblocking(true).unwrap();
    while sock.send(b"LLMB/1 PING").is_ok() {}
    let started = Instant::now();
    let out = env.hook(&sample("UserPromptSubmit"));
    let took = started.elapsed();
    // SAFETY: signalling a process this program started.
    unsafe { libc::kill(daemon.child.id() as i32, libc::SIGCONT) };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("spooled"), "{stderr}");
    assert!(
        took < Duration::from_secs(5),
        "the hook blocked for {took:?}"
    );
    // Nothing lost: the daemon replays the spool once it runs again.
    env.wait_text("working");
}

#[test]
fn without_the_fallback_binary_the_hook_still_exits_0() {
    let env = Env::new();
    let lonely = env.runtime().join("llm-bridge-hook");
    std::fs::copy(hook_bin(), &lonely).unwrap();
    let mut cmd = env.command(&lonely);
    cmd.env("PATH", "/nonexistent")
        .stdin(
            std::fs::File::open(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/samples/hook-Stop.json"),
            )
            .unwrap(),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = output_of_fresh_copy(cmd);
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("could not run"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_socket_path_can_be_overridden() {
    let env = Env::new();
    let custom = env.runtime().join("custom.sock");
    let mut daemon = env.command(&bridge_bin());
    daemon
        .env("LLM_BRIDGE_SOCKET", &custom)
        .arg("daemon")
        .arg("--no-keeper")
        .stderr(Stdio::null());
    let mut child = daemon.spawn().unwrap();
    wait_until("the custom socket", || custom.exists());
    let mut hook = env.command(&hook_bin());
    hook.env("LLM_BRIDGE_SOCKET", &custom)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut h = hook.spawn().unwrap();
    std::io::Write::write_all(&mut h.stdin.take().unwrap(), &sample("UserPromptSubmit")).unwrap();
    assert!(h.wait().unwrap().success());
    env.wait_text("working");
    assert!(!env.socket().exists());
    let _ = child.kill();
    let _ = child.wait();
}
