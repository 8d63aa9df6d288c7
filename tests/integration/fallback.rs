//! The hook with no daemon: `llm-bridge apply` updates the files itself.

use crate::support::*;

#[test]
fn without_a_daemon_the_hook_updates_the_files() {
    let env = Env::new();
    assert!(!env.socket().exists());
    env.hook(&sample("SessionStart"));
    env.wait_text("idle");
    env.hook(&sample("PreToolUse-Bash"));
    env.wait_text("working: Bash");
    env.hook(&sample("PermissionRequest"));
    env.wait_text("waiting");
    env.hook(&sample("SessionEnd"));
    env.wait_text("none");
    let state = std::fs::read_to_string(env.state_json()).unwrap();
    assert!(
        !state.contains("8f3c2a4e"),
        "the ended session is gone: {state}"
    );
}

#[test]
fn a_daemon_started_later_continues_from_the_fallback_state() {
    let env = Env::new();
    env.hook(&sample("PreToolUse-Bash"));
    env.wait_text("working: Bash");
    let _daemon = env.daemon();
    assert_eq!(env.module()["text"], "working: Bash");
    env.hook(&sample("PostToolUse-Bash"));
    env.wait_text("working");
}

#[test]
fn a_stale_socket_still_falls_back() {
    let env = Env::new();
    let daemon = env.daemon();
    daemon.kill9();
    env.hook(&sample("UserPromptSubmit"));
    env.wait_text("working");
}

#[test]
fn apply_rejects_a_bad_message_with_one_line() {
    let env = Env::new();
    let out = env
        .command(&bridge_bin())
        .args(["apply", "nonsense"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("invalid message"), "{stderr}");
    // From the hook it must never fail, and never print on stdout.
    let out = env
        .command(&bridge_bin())
        .args(["apply", "--from-hook", "nonsense"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
}

#[test]
fn concurrent_fallbacks_lose_no_event() {
    // Parallel hooks with no daemon: the flock serializes read-modify-write.
    let env = Env::new();
    std::thread::scope(|scope| {
        for i in 0..8 {
            let env = &env;
            scope.spawn(move || {
                let payload = format!(
                    r#"{{"session_id":"s{i}","hook_event_name":"UserPromptSubmit","cwd":"/src/p{i}","prompt":"x"}}"#
                );
                env.hook(payload.as_bytes());
            });
        }
    });
    env.wait_text("working 8");
}

#[test]
fn a_hook_never_waits_long_for_a_locked_state() {
    // The lock is held (a wedged process) and no daemon answers: the hook
    // must give up far below Claude Code's 2 s hook timeout.
    let env = Env::new();
    let state_dir = env.runtime().join("llm-bridge");
    std::fs::create_dir_all(&state_dir).unwrap();
    std::fs::set_permissions(
        &state_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let _held = llm_bridge_core::state_lock::StateLock::try_lock(&state_dir.join("lock"))
        .unwrap()
        .expect("the lock is free");
    let started = std::time::Instant::now();
    let out = env.hook(&sample("UserPromptSubmit"));
    let waited = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("spooled"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        waited < std::time::Duration::from_millis(1500),
        "the hook waited {waited:?} (Claude Code's hook timeout is 2 s)"
    );
    // Not lost: the event waits in the spool for whoever holds the state.
    let spooled: Vec<_> = std::fs::read_dir(state_dir.join("spool"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    assert_eq!(spooled.len(), 1, "{spooled:?}");
    assert!(spooled[0].ends_with(".evt"), "{spooled:?}");
}
