//! Starting, stopping and restarting the daemon; bad datagrams; permissions.

use crate::support::*;
use llm_bridge_protocol::wire::{EventKind, MAX_DATAGRAM};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::time::Duration;

#[test]
fn runtime_files_are_private() {
    let env = Env::new();
    let _daemon = env.daemon();
    env.hook(&sample("UserPromptSubmit"));
    env.wait_text("working");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&env.socket()), 0o600);
    assert_eq!(mode(&env.runtime().join("llm-bridge")), 0o700);
    assert_eq!(mode(&env.waybar_json()), 0o600);
}

#[test]
fn a_restart_keeps_every_session() {
    let env = Env::new();
    let daemon = env.daemon();
    env.send(event(EventKind::Submit, "a", "/src/alpha"));
    env.send(event(EventKind::Permission, "b", "/src/beta"));
    env.wait_text("waiting 1 · 1 working");
    daemon.stop();
    assert!(!env.socket().exists(), "a clean exit removes the socket");
    let _daemon = env.daemon();
    assert_eq!(env.module()["text"], "waiting 1 · 1 working");
    env.send(event(EventKind::Stop, "b", "/src/beta"));
    env.wait_text("working 1");
}

#[test]
fn after_kill_9_the_stale_socket_is_replaced_and_state_survives() {
    let env = Env::new();
    let daemon = env.daemon();
    env.send(event(EventKind::Submit, "a", "/src/alpha"));
    wait_until("the snapshot", || {
        std::fs::read_to_string(env.state_json()).is_ok_and(|s| s.contains("\"working\""))
    });
    daemon.kill9();
    assert!(
        std::fs::symlink_metadata(env.socket())
            .unwrap()
            .file_type()
            .is_socket(),
        "stale socket left behind"
    );
    let _daemon = env.daemon();
    env.wait_text("working");
    env.send(event(EventKind::Stop, "a", "/src/alpha"));
    env.wait_text("idle");
}

#[test]
fn a_second_daemon_refuses_and_leaves_the_first_serving() {
    let env = Env::new();
    let mut first = env.daemon();
    let out = env.command(&bridge_bin()).arg("daemon").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("already running"), "{stderr}");
    assert!(first.is_running());
    env.send(event(EventKind::Submit, "a", "/src/alpha"));
    env.wait_text("working");
}

#[test]
fn a_file_in_the_socket_path_is_never_removed() {
    let env = Env::new();
    std::fs::write(env.socket(), b"precious").unwrap();
    let out = env.command(&bridge_bin()).arg("daemon").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a socket"), "{stderr}");
    assert!(stderr.contains("move it away"), "says what to do: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(std::fs::read(env.socket()).unwrap(), b"precious");
}

#[test]
fn malformed_datagrams_are_counted_and_the_daemon_keeps_serving() {
    let env = Env::new();
    let mut daemon = env.daemon();
    env.send_raw(b"garbage");
    env.send_raw(&[0xff, 0xfe, 0x00]);
    env.send_raw(b"LLMB/9 EVENT:stop\nsid=a");
    env.send_raw(&vec![b'x'; MAX_DATAGRAM + 100]);
    env.send_raw(b"LLMB/1 EVENT:stop");
    env.send_raw(b"LLMB/1 EVENT:stop\nsid=a\nppid=notanumber");
    env.send(event(EventKind::Submit, "a", "/src/alpha"));
    env.wait_text("working");
    assert!(daemon.is_running());
    let log = daemon.stop();
    for what in [
        "not start with",
        "not UTF-8",
        "unsupported protocol version 'LLMB/9'",
        "exceeds 4096",
        "no session id",
        "'ppid' is not a number",
    ] {
        assert!(log.contains(what), "log lacks {what:?}:\n{log}");
    }
    assert!(log.contains("7 datagrams received, 6 rejected"), "{log}");
}

#[test]
fn sigint_also_exits_cleanly() {
    let env = Env::new();
    let mut daemon = env.daemon();
    // SAFETY: signalling a process this program started.
    unsafe { libc::kill(daemon.child.id() as i32, libc::SIGINT) };
    let status = daemon.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!env.socket().exists());
}

#[test]
fn an_idle_daemon_does_not_wake_up() {
    let env = Env::new();
    let daemon = env.daemon();
    env.send(event(EventKind::Submit, "a", "/src/alpha"));
    wait_until("the snapshot", || {
        std::fs::read_to_string(env.state_json()).is_ok_and(|s| s.contains("\"working\""))
    });
    let switches = || {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", daemon.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .unwrap()
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    // Let the wake that wrote the snapshot finish, then watch for half a second.
    std::thread::sleep(Duration::from_millis(200));
    let before = switches();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(switches(), before, "the idle daemon woke up");
}

#[test]
fn status_answers_with_many_sessions_and_the_tooltip_stays_bounded() {
    let env = Env::new();
    let _daemon = env.daemon();
    for i in 0..400 {
        env.send(event(
            EventKind::SessionStart,
            &format!("s{i}"),
            &format!("/src/p{i}"),
        ));
    }
    env.send(event(EventKind::Permission, "s7", "/src/p7"));
    wait_until("400 sessions", || status_json(&env)["session_count"] == 400);
    let v = status_json(&env);
    let sessions = v["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 100, "at most 100 listed");
    assert_eq!(sessions[0]["state"], "waiting", "most urgent first");
    env.wait_text("waiting 1");
    let tooltip = env.module()["tooltip"].as_str().unwrap().to_string();
    assert_eq!(tooltip.lines().count(), 22, "{tooltip}");
    assert!(tooltip.ends_with("… and 380 more\nclick: p7"), "{tooltip}");
}

#[test]
fn under_systemd_the_daemon_says_ready_once_its_socket_serves() {
    let env = Env::new();
    let notify = env.runtime().join("notify.sock");
    let systemd = std::os::unix::net::UnixDatagram::bind(&notify).unwrap();
    // Bounds a failure only: READY=1 comes as soon as the daemon serves.
    systemd
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let log = env.runtime().join("daemon.log");
    let child = env
        .command(&bridge_bin())
        .arg("daemon")
        .arg("--no-keeper")
        .env("NOTIFY_SOCKET", &notify)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let daemon = Daemon { child, log };
    let mut buf = [0u8; 512];
    let n = systemd.recv(&mut buf).expect("READY=1 from the daemon");
    let text = std::str::from_utf8(&buf[..n]).unwrap();
    assert!(text.starts_with("READY=1\nSTATUS="), "{text:?}");
    // Ready means serving: a request is answered at once.
    let status = env.bridge(&["status"]);
    assert!(status.status.success(), "{status:?}");
    // Once only.
    systemd
        .set_read_timeout(Some(Duration::from_millis(1)))
        .unwrap();
    assert!(systemd.recv(&mut buf).is_err(), "a second notification");
    daemon.stop();
}
