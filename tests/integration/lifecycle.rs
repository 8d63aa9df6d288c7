//! start / stop / status / reload, socket activation, history.

use crate::support::*;
use llm_bridge_hooks::proc_stat;
use llm_bridge_protocol::wire::EventKind;
use std::process::Stdio;

fn text(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Whether `pid` runs; a zombie (exited, not reaped yet: who reaps an
/// orphan depends on the machine) does not.
fn pid_alive(pid: i32) -> bool {
    // SAFETY: signalling a process this program started.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return false;
    }
    proc_stat::read(pid as u32).map(|stat| stat.state) != Some(b'Z')
}

#[test]
fn start_status_stop_round_trip_leaves_no_runtime_files() {
    let env = Env::new();
    let _guard = StopOnDrop(&env);
    let out = env.bridge(&["status"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let out = env.bridge(&["start"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("started"), "{}", text(&out));
    assert!(env.pid_file().exists() && env.socket().exists());
    // It survives the command that started it, in its own session.
    let pid: i32 = std::fs::read_to_string(env.pid_file())
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        // SAFETY: getsid only reads.
        unsafe { libc::getsid(pid) },
        pid,
        "the daemon leads its own session"
    );

    env.hook(&sample("PreToolUse-Bash"));
    env.wait_text("working: Bash");
    let out = env.bridge(&["status"]);
    assert_eq!(out.status.code(), Some(0));
    let status = text(&out);
    for want in [
        "running (pid",
        "waybar-llm",
        "working",
        "Bash",
        " received, 0 rejected",
        "datagram → flushed: p50",
        "hook start → flushed: p50",
    ] {
        assert!(status.contains(want), "{want:?} missing in:\n{status}");
    }
    let out = env.bridge(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["sessions"][0]["tool"], "Bash");
    // The hook's event, start's pings and these queries are all datagrams.
    assert!(v["counters"]["received"].as_u64().unwrap() >= 3);
    let latency = &v["latency"];
    assert!(
        latency["arrival_to_flush_us"]["p99"].as_f64().is_some(),
        "{v}"
    );
    // The hook stamps its start; the daemon measures from it too.
    assert!(latency["hook_to_flush_ms"]["p50"].as_f64().is_some(), "{v}");
    assert!(latency["write_us"]["p50"].as_f64().is_some(), "{v}");

    let again = env.bridge(&["start"]);
    assert_eq!(again.status.code(), Some(0));
    assert!(text(&again).contains("already running"), "{}", text(&again));

    let out = env.bridge(&["stop"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!pid_alive(pid));
    assert!(!env.socket().exists(), "socket left behind");
    assert!(!env.pid_file().exists(), "PID file left behind");
    let out = env.bridge(&["stop"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stop with no daemon: {}",
        text(&out)
    );
    assert_eq!(env.bridge(&["status"]).status.code(), Some(1));
    // The daemon's output went to daemon.log, not to the terminal.
    let log = std::fs::read_to_string(env.runtime().join("state/llm-bridge/daemon.log")).unwrap();
    assert!(log.contains("daemon listening"), "{log}");
}

#[test]
fn start_after_kill_9_cleans_the_stale_files() {
    let env = Env::new();
    let _guard = StopOnDrop(&env);
    assert_eq!(env.bridge(&["start"]).status.code(), Some(0));
    let pid: i32 = std::fs::read_to_string(env.pid_file())
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Everything killed at once (`pkill -9 llm-bridge`): the supervisor
    // first, or it would start another daemon.
    let supervisor = supervisor_of(pid as u32).expect("start leaves a supervisor");
    // SAFETY: signalling processes this program started.
    unsafe { libc::kill(supervisor as i32, libc::SIGKILL) };
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    wait_until("the daemon to die", || !pid_alive(pid));
    assert!(
        env.socket().exists() && env.pid_file().exists(),
        "stale files are there"
    );
    assert_eq!(env.bridge(&["status"]).status.code(), Some(1));
    let out = env.bridge(&["start"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let new_pid: i32 = std::fs::read_to_string(env.pid_file())
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_ne!(new_pid, pid);
    env.hook(&sample("UserPromptSubmit"));
    env.wait_text("working");
    assert_eq!(env.bridge(&["stop"]).status.code(), Some(0));
}

#[test]
fn a_bad_config_on_reload_or_sighup_keeps_the_running_one() {
    let env = Env::new();
    env.write_config("[module]\nworking = \"busy\"\n");
    let daemon = env.daemon();
    env.send(event(EventKind::Submit, "a", "/src/a"));
    env.wait_text("busy");

    env.write_config("[module]\nworkin = \"typo\"\n");
    let out = env.bridge(&["reload"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("workin"), "the bad key is named: {stderr}");
    // SAFETY: signalling a process this program started.
    unsafe { libc::kill(daemon.child.id() as i32, libc::SIGHUP) };
    wait_until("the SIGHUP report in the log", || {
        daemon.log().contains("reload on SIGHUP failed")
    });
    env.send(event(EventKind::Stop, "a", "/src/a"));
    env.wait_text("idle");
    env.send(event(EventKind::Submit, "a", "/src/a"));
    env.wait_text("busy");

    env.write_config("[module]\nworking = \"BUSY\"\n");
    let out = env.bridge(&["reload"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    env.wait_text("BUSY");
    // SIGHUP does the same.
    env.write_config("[module]\nworking = \"hup\"\n");
    // SAFETY: signalling a process this program started.
    unsafe { libc::kill(daemon.child.id() as i32, libc::SIGHUP) };
    env.wait_text("hup");
}

#[test]
fn socket_activation_uses_the_inherited_socket_and_never_unlinks_it() {
    let env = Env::new();
    let listener = bind_like_systemd(&env);
    let mut child = socket_activated_daemon(&env, &listener);
    env.hook(&sample("UserPromptSubmit"));
    env.wait_text("working");
    let out = env.bridge(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["socket_activated"], true);
    assert_eq!(env.bridge(&["stop"]).status.code(), Some(0));
    assert!(child.wait().unwrap().success());
    assert!(
        env.socket().exists(),
        "the socket belongs to systemd: never unlinked"
    );
}

#[test]
fn socket_activated_daemon_exits_when_idle_and_loses_nothing() {
    let env = Env::new();
    env.write_config("idle_exit_secs = 1\n");
    let listener = bind_like_systemd(&env);
    let mut child = socket_activated_daemon(&env, &listener);
    wait_until("the idle exit", || child.try_wait().unwrap().is_some());
    assert!(child.wait().unwrap().success());
    let log = std::fs::read_to_string(env.runtime().join("activated.log")).unwrap();
    assert!(
        log.contains("no session, event or subscriber for 1 s"),
        "{log}"
    );
    // While it is gone, systemd's socket keeps the hook's datagram queued...
    env.hook(&sample("UserPromptSubmit"));
    assert_eq!(env.module()["alt"], "none", "nobody handled it yet");
    // ...and the next daemon (systemd starts one on traffic) handles it.
    let mut child = socket_activated_daemon(&env, &listener);
    env.wait_text("working");
    // With a session it stays up.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "exited although a session exists"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn finished_sessions_reach_the_history() {
    let env = Env::new();
    let _daemon = env.daemon();
    env.hook(&sample("SessionStart"));
    env.hook(&sample("UserPromptSubmit"));
    env.hook(&sample("PreToolUse-Bash"));
    // The bar showed none before the first event too: see the session
    // first, so that none below means it ended.
    env.wait_text("working: Bash");
    env.hook(&sample("SessionEnd"));
    env.wait_text("none");
    let out = env.bridge(&["history"]);
    let table = String::from_utf8_lossy(&out.stdout);
    let row = table
        .lines()
        .find(|l| l.starts_with("waybar-llm"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        row.split_whitespace().rev().nth(2) == Some("1"),
        "1 prompt: {row}"
    );
    assert!(table.contains("1 session(s)"), "{table}");
    let out = env.bridge(&["history", "--today"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("waybar-llm"));
}

#[test]
fn status_watch_streams_changes() {
    let env = Env::new();
    let _daemon = env.daemon();
    let watch = Streaming::start(&env, &["status", "--watch"]);
    watch.expect("none");
    env.send(event(EventKind::Permission, "a", "/src/alpha"));
    watch.expect("waiting");
    watch.expect("alpha: waiting");
}

#[test]
fn config_default_prints_a_valid_commented_config() {
    let env = Env::new();
    let out = env.bridge(&["config", "--default"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines().filter(|l| l.starts_with('#')).count() > 20,
        "commented"
    );
    // The printed config is what a daemon accepts.
    let _daemon = env.daemon();
    env.write_config(&text);
    let out = env.bridge(&["reload"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_failing_snapshot_is_counted_and_does_not_keep_an_activated_daemon_up() {
    let env = Env::new();
    env.write_config("idle_exit_secs = 1\n");
    let listener = bind_like_systemd(&env);
    let mut child = socket_activated_daemon(&env, &listener);
    env.wait_text("none");
    // A directory where state.json goes: every write of it fails.
    std::fs::create_dir(env.state_json()).unwrap();
    env.send(event(EventKind::Submit, "a", "/src/alpha"));
    env.wait_text("working");
    wait_until("a counted snapshot failure", || {
        status_json(&env)["counters"]["snapshot_failures"]
            .as_u64()
            .is_some_and(|n| n >= 1)
    });
    env.send(event(EventKind::SessionEnd, "a", "/src/alpha"));
    env.wait_text("none");
    wait_until("the idle exit", || child.try_wait().unwrap().is_some());
    assert!(child.wait().unwrap().success());
    let log = std::fs::read_to_string(env.runtime().join("activated.log")).unwrap();
    assert!(log.contains("state.json: Is a directory"), "{log}");
}

#[test]
fn every_command_ends_quietly_when_its_reader_goes_away() {
    use std::os::unix::process::ExitStatusExt;
    let env = Env::new();
    for args in [
        &["config", "--default"][..],
        &["install", "--bin-dir", "/nonexistent"][..],
        &["history"][..],
        &["status", "--json"][..],
        &["waybar"][..],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = env
            .command(&bridge_bin())
            .args(args)
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("panicked") && out.status.signal() != Some(libc::SIGABRT),
            "{args:?}: {:?} {stderr}",
            out.status
        );
        assert!(
            out.status.signal() == Some(libc::SIGPIPE) || out.status.code().is_some(),
            "{args:?}: {:?}",
            out.status
        );
    }
}
