//! The bar stays true when no hook fires: an Esc read from the transcript,
//! a Claude Code process that was killed, one that died while no daemon
//! ran. The client is a scripted process tree: a program named `claude`
//! that runs the real hook under a shell, as Claude Code does in shell form.

use crate::support::*;
use llm_bridge_protocol::wire::EventKind;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

/// The state of session `sid` as `status` reports it; `None` if it is gone.
fn state_of(env: &Env, sid: &str) -> Option<String> {
    let status = status_json(env);
    status["sessions"]
        .as_array()?
        .iter()
        .find(|s| s["id"] == sid)
        .map(|s| s["state"].as_str().unwrap_or("?").to_string())
}

fn counter(env: &Env, name: &str) -> u64 {
    status_json(env)["counters"][name].as_u64().unwrap_or(0)
}

fn watched(env: &Env, what: &str) -> u64 {
    status_json(env)[what].as_u64().unwrap_or(u64::MAX)
}

#[track_caller]
fn wait_state(env: &Env, sid: &str, state: Option<&str>) {
    wait_until(&format!("session {sid} to be {state:?}"), || {
        state_of(env, sid).as_deref() == state
    });
}

fn append(path: &Path, lines: &[&str]) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap();
    for line in lines {
        writeln!(f, "{line}").unwrap();
    }
}

/// Lines recorded from the real client (tests/samples/transcript-*.jsonl).
fn transcript_sample(name: &str) -> Vec<String> {
    let text = String::from_utf8(sample_file(&format!("transcript-{name}.jsonl"))).unwrap();
    text.lines().map(str::to_string).collect()
}

/// The interrupt entry of a recorded transcript.
fn interrupt_line(name: &str) -> String {
    transcript_sample(name)
        .into_iter()
        .rfind(|l| l.contains("[Request interrupted by user"))
        .expect("the sample holds an interrupt")
}

#[test]
fn an_esc_in_the_transcript_ends_the_turn_and_quoting_it_does_not() {
    let env = Env::new();
    let _daemon = env.daemon();
    let (a, b) = (env.runtime().join("a.jsonl"), env.runtime().join("b.jsonl"));
    for (sid, path) in [("sa", &a), ("sb", &b)] {
        append(path, &[]);
        let mut e = event(EventKind::Submit, sid, &format!("/p/{sid}"));
        e.transcript_path = Some(path.to_str().unwrap().to_string());
        env.send(e);
        wait_state(&env, sid, Some("working"));
    }
    wait_until("two transcripts watched", || {
        watched(&env, "watched_transcripts") == 2
    });
    // Session a's transcript gains lines that quote the marker; then b's
    // gains a real interrupt. The inotify events come in that order, so
    // once b is idle, a's lines have been read.
    let quoting = transcript_sample("quoted-marker");
    let quoting: Vec<&str> = quoting.iter().map(String::as_str).collect();
    append(&a, &quoting);
    append(&b, &[&interrupt_line("esc-tool")]);
    wait_state(&env, "sb", Some("idle"));
    assert_eq!(state_of(&env, "sa").as_deref(), Some("working"));
    assert_eq!(counter(&env, "interrupted"), 1);
    // The Esc while the model streams.
    append(&a, &[&interrupt_line("esc-streaming")]);
    wait_state(&env, "sa", Some("idle"));
    assert_eq!(counter(&env, "interrupted"), 2);
    // Idle sessions are not watched.
    assert_eq!(watched(&env, "watched_transcripts"), 0);
}

/// A fake Claude Code: a program named `claude` that runs the hook with
/// `payload` under `sh -c`, says `started`, and lives until killed.
struct Claude {
    child: Child,
}

impl Claude {
    #[track_caller]
    fn start(env: &Env, dir: &Path, sid: &str) -> Claude {
        let bin = dir.join(sid);
        std::fs::create_dir_all(&bin).unwrap();
        let script = bin.join("claude");
        std::fs::write(
            &script,
            "#!/bin/sh\nsh -c '\"$LB_HOOK\" < \"$LB_PAYLOAD\"'\necho started\nexec sleep 600\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let payload = bin.join("payload.json");
        std::fs::write(
            &payload,
            format!(
                r#"{{"session_id":"{sid}","hook_event_name":"UserPromptSubmit","cwd":"/p/{sid}","prompt":"hi"}}"#
            ),
        )
        .unwrap();
        let mut child = env
            .command(&script)
            .env("LB_HOOK", hook_bin())
            .env("LB_PAYLOAD", &payload)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "started\n");
        Claude { child }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Claude {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn history(env: &Env) -> Vec<Value> {
    let path: PathBuf = env.runtime().join("state/llm-bridge/sessions.jsonl");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_killed_client_ends_its_session_and_spares_the_other() {
    let env = Env::new();
    let _daemon = env.daemon();
    let mut one = Claude::start(&env, env.runtime(), "k1");
    let two = Claude::start(&env, env.runtime(), "k2");
    wait_state(&env, "k1", Some("working"));
    wait_state(&env, "k2", Some("working"));
    // The hook named each client past its shell.
    assert_eq!(watched(&env, "watched_processes"), 2);
    one.kill9();
    wait_state(&env, "k1", None);
    assert_eq!(state_of(&env, "k2").as_deref(), Some("working"));
    assert_eq!(counter(&env, "exited"), 1);
    assert_eq!(watched(&env, "watched_processes"), 1);
    let ended = history(&env);
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(
        (&ended[0]["id"], &ended[0]["reason"]),
        (&"k1".into(), &"exited".into())
    );
    drop(two);
    wait_state(&env, "k2", None);
}

#[test]
fn a_client_that_died_while_no_daemon_ran_is_ended_when_it_starts() {
    let env = Env::new();
    // No daemon: the hook's fallback writes state.json, with the client.
    let mut gone = Claude::start(&env, env.runtime(), "d1");
    let alive = Claude::start(&env, env.runtime(), "d2");
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(env.state_json()).unwrap()).unwrap();
    let d1 = &state["sessions"]["d1"];
    assert_eq!(d1["pid"], gone.pid());
    assert!(d1["pid_start"].as_u64().is_some_and(|t| t > 0), "{d1}");
    gone.kill9();
    let _daemon = env.daemon();
    // Ended before the socket answered: the first status already shows it.
    assert_eq!(state_of(&env, "d1"), None);
    assert_eq!(state_of(&env, "d2").as_deref(), Some("working"));
    assert_eq!(watched(&env, "watched_processes"), 1);
    assert_eq!(history(&env)[0]["reason"], "exited");
    drop(alive);
    wait_state(&env, "d2", None);
}

#[test]
fn a_status_that_waited_for_the_start_already_sees_the_dead_client_ended() {
    let env = Env::new();
    let mut gone = Claude::start(&env, env.runtime(), "w1");
    gone.kill9();
    // systemd's socket: a `status` sent before the daemon runs waits in it.
    let listener = bind_like_systemd(&env);
    let status = env
        .command(&bridge_bin())
        .args(["status", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut queued = libc::pollfd {
        fd: std::os::fd::AsRawFd::as_raw_fd(&listener),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let ready = unsafe { libc::poll(&raw mut queued, 1, 10_000) };
    assert_eq!(ready, 1, "the status request never reached the socket");
    let mut daemon = socket_activated_daemon(&env, &listener);
    let out = status.wait_with_output().unwrap();
    let _ = daemon.kill();
    let _ = daemon.wait();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(report["session_count"], 0, "{report}");
    assert_eq!(report["counters"]["exited"], 1, "{report}");
}

/// A stand-in client: a live process the events name by PID and start time.
fn sleeper() -> (Child, u32, u64) {
    let child = std::process::Command::new("sleep")
        .arg("600")
        .spawn()
        .unwrap();
    let pid = child.id();
    let start = llm_bridge_hooks::proc_stat::read(pid).unwrap().start_time;
    (child, pid, start)
}

#[test]
fn an_answered_dialog_shows_at_once_and_an_open_one_stays_waiting() {
    let env = Env::new();
    let _daemon = env.daemon();
    // Claude Code's config directory: transcripts under projects/, the
    // clients' status files under sessions/ (docs/dialogs.md).
    let config = env.runtime().join("claude");
    std::fs::create_dir_all(config.join("projects/p")).unwrap();
    std::fs::create_dir_all(config.join("sessions")).unwrap();
    let status_file = |pid: u32| config.join(format!("sessions/{pid}.json"));
    let write_status = |pid: u32, sid: &str, status: &str| {
        std::fs::write(
            status_file(pid),
            format!(r#"{{"pid":{pid},"sessionId":"{sid}","status":"{status}"}}"#),
        )
        .unwrap();
    };
    let (mut a_proc, a_pid, a_start) = sleeper();
    let (mut b_proc, b_pid, b_start) = sleeper();
    write_status(a_pid, "da", "busy");
    write_status(b_pid, "db", "waiting");
    for (sid, pid, start) in [("da", a_pid, a_start), ("db", b_pid, b_start)] {
        for kind in [EventKind::ToolStart, EventKind::Permission] {
            let mut e = tool_event(kind, sid, "Bash", &format!("t-{sid}"));
            e.cwd = Some(format!("/p/{sid}"));
            e.ppid = Some(pid);
            e.pstart = Some(start);
            let transcript = config.join(format!("projects/p/{sid}.jsonl"));
            e.transcript_path = Some(transcript.to_str().unwrap().to_string());
            env.send(e);
        }
        wait_state(&env, sid, Some("waiting"));
    }
    wait_until("two dialogs watched", || {
        watched(&env, "watched_dialogs") == 2
    });
    // a's dialog appears; then b's is answered "Yes". Once b works, a's
    // `waiting` has been read (one inotify queue, in order).
    write_status(a_pid, "da", "waiting");
    write_status(b_pid, "db", "busy");
    wait_state(&env, "db", Some("working"));
    assert_eq!(state_of(&env, "da").as_deref(), Some("waiting"));
    // a's is answered "No".
    write_status(a_pid, "da", "idle");
    wait_state(&env, "da", Some("idle"));
    assert_eq!(counter(&env, "answered"), 2);
    assert_eq!(watched(&env, "watched_dialogs"), 0);
    for p in [&mut a_proc, &mut b_proc] {
        let _ = p.kill();
        let _ = p.wait();
    }
}
